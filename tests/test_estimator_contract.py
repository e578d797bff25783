"""The scikit-learn estimator contract, run over every registered model family.

scikit-learn's own checks run where they apply to an estimator whose ``y`` is a structured
(event, time) array; the checks that feed scikit-learn's generated classification/regression ``y``
are replaced by survival versions of the same property (fit returns self, is idempotent, leaves
the parameters alone, predicts the same on subsets and permutations, pickles). A Pipeline under
GridSearchCV is checked against a hand-written loop over the same folds and grid.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, ParameterGrid
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import estimator_checks as checks
from sklearn.utils.validation import check_is_fitted

from msk1model.data.synthetic import make_synthetic_cohort
from msk1model.errors import DataError, ModelError
from msk1model.models import (
    MODEL_KINDS,
    CoxnetModel,
    DesignSpec,
    SurvivalModel,
    hyperparameters_of,
    make_model,
)
from msk1model.models.partial_likelihood import cox_partial_log_likelihood
from msk1model.outcome import make_y

KINDS = sorted(MODEL_KINDS)
FEATURES = ["age", "size", "grade", "nodes", "pr", "msk1"]
COMMON = {"features", "design", "random_state"}
#: Small fits, so that the contract over seven families stays fast.
SMALL: dict[str, dict[str, Any]] = {
    "coxph": {},
    "coxnet": {"alpha": 0.05},
    "xgb_cox": {"n_estimators": 10},
    "xgb_aft": {"n_estimators": 10},
    "gbsa": {"n_estimators": 10},
    "gbsa_componentwise": {"n_estimators": 10},
    "rsf": {"n_estimators": 5},
}

#: scikit-learn checks that apply: they need no target, or fail on X before a target is read.
SKLEARN_CHECKS: tuple[Callable[[str, Any], None], ...] = (
    checks.check_no_attributes_set_in_init,
    checks.check_parameters_default_constructible,
    checks.check_get_params_invariance,
    checks.check_set_params,
    checks.check_estimator_cloneable,
    checks.check_estimator_repr,
    checks.check_do_not_raise_errors_in_init_or_set_params,
    checks.check_estimator_tags_renamed,
    checks.check_valid_tag_types,
    checks.check_mixin_order,
    checks.check_estimators_unfitted,
    checks.check_requires_y_none,
    checks.check_fit1d,
    checks.check_complex_data,
    checks.check_estimator_sparse_array,
    checks.check_estimator_sparse_matrix,
    checks.check_estimator_sparse_tag,
    checks.check_estimators_empty_data_messages,
)
# Checks of sklearn.utils.estimator_checks that do not apply (found by running check_estimator
# with on_fail=None on every kind): each fits on a target scikit-learn generates itself, a 1-D
# class label or regression value, which is not a structured (event, time) array, so fit stops
# with OutcomeError before the property checked is reached:
#   check_dict_unchanged, check_dont_overwrite_parameters, check_dtype_object,
#   check_estimators_dtypes, check_estimators_fit_returns_self, check_estimators_overwrite_params,
#   check_estimators_pickle (twice: plain and readonly memmap), check_f_contiguous_array_estimator,
#   check_fit2d_1feature and check_fit2d_1sample (they accept only their own texts, such as
#   "1 sample", not the outcome error), check_fit2d_predict1d, check_fit_check_is_fitted,
#   check_fit_idempotent, check_fit_score_takes_y, check_methods_sample_order_invariance,
#   check_methods_subset_invariance, check_n_features_in, check_n_features_in_after_fitting,
#   check_pipeline_consistency, check_positive_only_tag_during_fit, check_readonly_memmap_input.
# The tests below check the same properties with a survival y. check_array_api_input is skipped
# by scikit-learn itself unless SCIPY_ARRAY_API is set, and does not apply: the models take
# NumPy or pandas input, not other array namespaces.


@pytest.fixture(scope="module")
def cohort() -> tuple[pd.DataFrame, np.ndarray]:
    frame = make_synthetic_cohort(300, seed=23)
    return frame, make_y(time=frame["time"], event=frame["event"])


def _model(kind: str, **common: Any) -> SurvivalModel:
    return make_model(kind, SMALL[kind], features=FEATURES, random_state=3, **common)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("check", SKLEARN_CHECKS, ids=lambda c: c.__name__)
def test_scikit_learn_checks(kind: str, check: Callable[[str, Any], None]) -> None:
    estimator = MODEL_KINDS[kind]()
    check(type(estimator).__name__, estimator)


@pytest.mark.parametrize("kind", KINDS)
def test_init_signature_is_the_hyperparameters(kind: str) -> None:
    cls = MODEL_KINDS[kind]
    params = cls().get_params()
    assert set(params) == set(hyperparameters_of(kind)) | COMMON
    assert {k: v for k, v in params.items() if k not in COMMON} == hyperparameters_of(kind)
    assert (params["features"], params["design"], params["random_state"]) == (None, None, 0)
    with pytest.raises(TypeError):
        cls(0.1)  # every parameter is keyword-only


@pytest.mark.parametrize("kind", KINDS)
def test_clone_gives_equal_params_and_an_unfitted_copy(kind: str, cohort) -> None:
    X, y = cohort
    spec = DesignSpec(biomarker="msk1", transform="zscore", categorical=("grade",))
    model = _model(kind, design=spec).fit(X, y)
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    assert copy.design == spec and copy.features == FEATURES and copy.random_state == 3
    with pytest.raises(NotFittedError):
        check_is_fitted(copy)
    with pytest.raises(NotFittedError):
        copy.predict(X)
    np.testing.assert_array_equal(copy.fit(X, y).predict(X), model.predict(X))


@pytest.mark.parametrize("kind", KINDS)
def test_set_params_round_trip(kind: str) -> None:
    model = MODEL_KINDS[kind]()
    original = model.get_params()
    name, default = next(iter(hyperparameters_of(kind).items()))
    changed = {name: "changed", "features": ["age"], "random_state": 9}
    assert model.set_params(**changed) is model
    assert model.get_params() == {**original, **changed}
    assert getattr(model, name) == "changed"  # stored unchanged, validated only in fit
    model.set_params(**original)
    assert model.get_params() == original and getattr(model, name) == default
    with pytest.raises(ValueError, match="Invalid parameter 'depth'"):
        model.set_params(depth=3)


@pytest.mark.parametrize("kind", KINDS)
def test_fit_returns_self_leaves_params_and_sets_learned_state(kind: str, cohort) -> None:
    """check_estimators_fit_returns_self, check_dont_overwrite_parameters and
    check_n_features_in with a survival y."""
    X, y = cohort
    model = _model(kind)
    before = {k: json.dumps(v, default=repr) for k, v in model.get_params().items()}
    assert model.fit(X, y) is model
    assert {k: json.dumps(v, default=repr) for k, v in model.get_params().items()} == before
    added = set(vars(model)) - set(model.get_params())
    assert added and all(a.endswith("_") for a in added), added
    check_is_fitted(model)
    assert model.features_ == FEATURES
    assert model.n_features_in_ == X.shape[1]
    np.testing.assert_array_equal(model.feature_names_in_, np.asarray(X.columns, dtype=object))


@pytest.mark.parametrize("kind", KINDS)
def test_refit_is_idempotent_and_pickles(kind: str, cohort) -> None:
    """check_fit_idempotent and check_estimators_pickle with a survival y."""
    X, y = cohort
    model = _model(kind).fit(X, y)
    first = model.predict(X), model.predict_survival_function(X, [1.0, 5.0])
    model.fit(X.iloc[:150], y[:150]).fit(X, y)
    np.testing.assert_array_equal(model.predict(X), first[0])
    np.testing.assert_array_equal(model.predict_survival_function(X, [1.0, 5.0]), first[1])
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict(X), first[0])


@pytest.mark.parametrize("kind", KINDS)
def test_predictions_do_not_depend_on_batch_or_row_order(kind: str, cohort) -> None:
    """check_methods_subset_invariance and check_methods_sample_order_invariance, to 1e-12:
    a matrix product rounds differently with the batch size (BLAS blocking), by 1 ulp."""
    X, y = cohort
    model = _model(kind).fit(X, y)
    times = np.array([0.5, 2.0, 5.0])
    risk, surv = model.predict(X), model.predict_survival_function(X, times)
    exact = {"rtol": 0, "atol": 1e-12}
    batches = np.array_split(np.arange(len(X)), 7)
    batched = np.concatenate([model.predict(X.iloc[b]) for b in batches])
    np.testing.assert_allclose(batched, risk, **exact)
    order = np.random.default_rng(0).permutation(len(X))
    np.testing.assert_allclose(model.predict(X.iloc[order]), risk[order], **exact)
    np.testing.assert_allclose(
        model.predict_survival_function(X.iloc[order], times), surv[order], **exact
    )


@pytest.mark.parametrize("kind", KINDS)
def test_risk_and_survival_together_equal_the_two_predictions(kind: str, cohort) -> None:
    X, y = cohort
    model = _model(kind).fit(X, y)
    times = np.array([0.5, 2.0, 5.0])
    risk, surv = model.predict_risk_and_survival(X, times)
    np.testing.assert_array_equal(risk, model.predict(X))
    np.testing.assert_array_equal(surv, model.predict_survival_function(X, times))


@pytest.mark.parametrize("kind", KINDS)
def test_an_array_x_is_columns_x0_x1_and_checked_for_width(kind: str, cohort) -> None:
    """An array X behaves as a DataFrame with columns x0, x1, ... (check_n_features_in_after_fitting
    with a survival y)."""
    X, y = cohort
    values = X[FEATURES].to_numpy(dtype=float)
    named = pd.DataFrame(values, columns=[f"x{j}" for j in range(len(FEATURES))])
    model = make_model(kind, SMALL[kind], random_state=3).fit(values, y)
    assert model.features_ == list(named.columns) and model.n_features_in_ == len(FEATURES)
    assert not hasattr(model, "feature_names_in_")
    reference = make_model(kind, SMALL[kind], random_state=3).fit(named, y)
    np.testing.assert_array_equal(model.predict(values), reference.predict(named))
    with pytest.raises(DataError, match=r"X has 5 features, but \w+ is expecting 6 features"):
        model.predict(values[:, :5])


@pytest.mark.parametrize("kind", KINDS)
def test_fit_takes_scikit_survival_y(kind: str, gbsg2) -> None:
    """``y`` as sksurv.datasets give it (fields ``cens``, ``time`` in days) is msk1model's ``y``."""
    from sksurv.datasets import load_gbsg2

    X, _, _ = gbsg2
    _, sksurv_y = load_gbsg2()
    assert sksurv_y.dtype.names == ("cens", "time")
    ours = make_y(time=sksurv_y["time"], event=sksurv_y["cens"])
    model = make_model(kind, SMALL[kind], random_state=3).fit(X, sksurv_y)
    reference = make_model(kind, SMALL[kind], random_state=3).fit(X, ours)
    np.testing.assert_array_equal(model.predict(X), reference.predict(X))
    assert model.score(X, sksurv_y) == reference.score(X, ours) > 0.5


@pytest.mark.parametrize("kind", KINDS)
def test_state_is_json_and_restores_the_model_exactly(kind: str, cohort) -> None:
    X, y = cohort
    spec = DesignSpec(biomarker="msk1", spline_knots=3, interaction="pr", categorical=("grade",))
    model = _model(kind, design=spec).fit(X, y)
    state = json.loads(json.dumps(model.to_state()))
    loaded = SurvivalModel.from_state(state)
    assert type(loaded) is type(model) and loaded.get_params() == model.get_params()
    assert type(MODEL_KINDS[kind].from_state(state)) is type(model)
    times = np.array([0.0, 1.0, 3.0, 5.0, 12.0])
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(
        loaded.predict_cumulative_hazard(X, times), model.predict_cumulative_hazard(X, times)
    )
    other = CoxnetModel if kind != "coxnet" else MODEL_KINDS["coxph"]
    with pytest.raises(
        ModelError, match=f"model state is of kind '{kind}', not a {other.__name__}"
    ):
        other.from_state(state)
    with pytest.raises(ModelError, match="model state has format 1, but this msk1model reads"):
        SurvivalModel.from_state({**state, "format": 1})


@pytest.mark.parametrize("kind", KINDS)
def test_a_failed_refit_leaves_the_model_unfitted(kind: str, cohort) -> None:
    X, y = cohort
    model = _model(kind).fit(X, y)
    no_events = make_y(time=y["time"], event=np.zeros(len(y), bool))
    with pytest.raises(ModelError, match="cannot fit a survival model on data with no events"):
        model.fit(X, no_events)
    with pytest.raises(NotFittedError):
        model.predict(X)


def test_unfitted_model_has_no_state() -> None:
    with pytest.raises(NotFittedError):
        CoxnetModel().to_state()


# --- Pipeline and GridSearchCV ------------------------------------------------------------------

GRID = {"cox__alpha": [0.003, 0.02, 0.1], "cox__l1_ratio": [0.5, 1.0]}


def _partial_likelihood_scorer(estimator: Any, X: pd.DataFrame, y: np.ndarray) -> float:
    """Held-out Cox partial log-likelihood per patient: a survival scorer other than the default."""
    return cox_partial_log_likelihood(estimator.predict(X), y) / len(y)


def _scaler() -> StandardScaler:
    return StandardScaler().set_output(transform="pandas")


@pytest.mark.parametrize(
    "scoring", [None, _partial_likelihood_scorer], ids=["harrell_c", "partial_likelihood"]
)
def test_grid_search_over_a_pipeline_equals_a_hand_written_loop(gbsg2, scoring) -> None:
    X, event, time = gbsg2
    y = make_y(time=time, event=event)
    pipeline = Pipeline([("scale", _scaler()), ("cox", CoxnetModel())])
    folds = KFold(4, shuffle=True, random_state=17)
    search = GridSearchCV(pipeline, GRID, scoring=scoring, cv=folds, error_score="raise")
    search.fit(X, y)

    candidates = list(ParameterGrid(GRID))
    means = []
    for params in candidates:
        scores = []
        for train, test in folds.split(X):
            scaler = _scaler().fit(X.iloc[train])
            model = CoxnetModel(alpha=params["cox__alpha"], l1_ratio=params["cox__l1_ratio"])
            model.fit(scaler.transform(X.iloc[train]), y[train])
            Xt = scaler.transform(X.iloc[test])
            scores.append(
                model.score(Xt, y[test]) if scoring is None else scoring(model, Xt, y[test])
            )
        means.append(float(np.mean(scores)))
    best = int(np.argmax(means))
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], means, rtol=0, atol=1e-12)
    assert search.best_params_ == candidates[best]
    assert search.best_score_ == pytest.approx(means[best], rel=0, abs=1e-12)

    scaler = _scaler().fit(X)
    direct = CoxnetModel(
        alpha=candidates[best]["cox__alpha"], l1_ratio=candidates[best]["cox__l1_ratio"]
    ).fit(scaler.transform(X), y)
    np.testing.assert_array_equal(search.predict(X), direct.predict(scaler.transform(X)))
    fitted = search.best_estimator_.named_steps["cox"]
    assert fitted.features_ == list(X.columns)
    np.testing.assert_array_equal(fitted.coef_, direct.coef_)
