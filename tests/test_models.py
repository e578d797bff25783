"""One contract over every registered model, plus checks against independent fits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from sksurv.linear_model import CoxnetSurvivalAnalysis

from msk1model.errors import ModelError
from msk1model.models import MODEL_KINDS, load_model, make_model, structured_y
from msk1model.models._base import BreslowBaseline, Preprocessor

FEATURES = ["age", "size", "nodes", "grade", "er", "pr"]
SMALL = {"coxnet": {"alpha": 0.01}, "xgb_cox": {"n_estimators": 50}}


@pytest.fixture(scope="module", params=sorted(MODEL_KINDS))
def fitted(request: pytest.FixtureRequest, gbsg2: tuple[pd.DataFrame, np.ndarray, np.ndarray]):
    X, event, time = gbsg2
    model = make_model(request.param, FEATURES, SMALL[request.param], seed=0)
    return model.fit(X, structured_y(event, time)), X, event, time


def test_predict_is_finite_and_informative(fitted) -> None:
    model, X, _, _ = fitted
    risk = model.predict(X)
    assert risk.shape == (len(X),)
    assert np.all(np.isfinite(risk))
    assert risk.std() > 0


def test_survival_curves_are_proper(fitted) -> None:
    model, X, _, _ = fitted
    times = np.array([0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 7.0])
    surv = model.predict_survival_function(X, times)
    assert surv.shape == (len(X), len(times))
    np.testing.assert_array_equal(surv[:, 0], 1.0)
    assert np.all((surv >= 0) & (surv <= 1))
    assert np.all(np.diff(surv, axis=1) <= 0)
    chaz = model.predict_cumulative_hazard(X, times)
    np.testing.assert_allclose(surv, np.exp(-chaz), rtol=1e-12)


def test_higher_risk_means_lower_survival_at_horizon(fitted) -> None:
    model, X, _, _ = fitted
    risk = model.predict(X)
    s5 = model.predict_survival_function(X, [5.0])[:, 0]
    order = np.argsort(risk)
    assert np.all(np.diff(s5[order]) <= 1e-12)


def test_round_trip_through_json_state_is_exact(fitted, tmp_path: Path) -> None:
    model, X, _, _ = fitted
    model.save(tmp_path)
    assert not list(tmp_path.glob("*.pkl"))
    loaded = load_model(tmp_path)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(
        loaded.predict_survival_function(X, [3.0, 5.0]),
        model.predict_survival_function(X, [3.0, 5.0]),
    )


def test_breslow_survival_matches_lifelines(gbsg2) -> None:
    X, event, time = gbsg2
    frame = X.assign(time=time, event=event.astype(int))
    cph = CoxPHFitter().fit(frame, duration_col="time", event_col="event")
    risk = cph.predict_log_partial_hazard(X).to_numpy()
    times = np.array([1.0, 2.5, 5.0])
    ours = np.exp(-BreslowBaseline().fit(risk, event, time).cumulative_hazard(risk, times))
    theirs = cph.predict_survival_function(X, times=times).to_numpy().T
    np.testing.assert_allclose(ours, theirs, atol=1e-8)


def test_coxnet_matches_scikit_survival_at_fixed_alpha(gbsg2) -> None:
    X, event, time = gbsg2
    model = make_model("coxnet", FEATURES, {"alpha": 0.02, "l1_ratio": 0.7}, seed=0)
    model.fit(X, structured_y(event, time))
    Z = (X[FEATURES] - X[FEATURES].mean()) / X[FEATURES].std(ddof=0)
    direct = CoxnetSurvivalAnalysis(alphas=[0.02], l1_ratio=0.7).fit(
        Z.to_numpy(), structured_y(event, time)
    )
    np.testing.assert_allclose(model.coef_, direct.coef_[:, 0], atol=1e-10)
    np.testing.assert_allclose(model.predict(X), direct.predict(Z.to_numpy()), atol=1e-10)


def test_preprocessor_imputes_training_medians() -> None:
    train = pd.DataFrame({"a": [1.0, 2.0, np.nan, 10.0], "b": [5.0, 5.0, 5.0, 5.0]})
    pre = Preprocessor(["a", "b"]).fit(train)
    assert pre.medians_.tolist() == [2.0, 5.0]
    Z = pre.transform(pd.DataFrame({"a": [np.nan], "b": [5.0]}))
    filled = np.array([1.0, 2.0, 2.0, 10.0])
    assert Z[0, 0] == pytest.approx((2.0 - filled.mean()) / filled.std())
    assert Z[0, 1] == 0.0  # constant column keeps scale 1


def test_bad_inputs_give_clear_errors(gbsg2) -> None:
    X, event, time = gbsg2
    with pytest.raises(ModelError, match=r"unknown model kind 'rsf'; known kinds: coxnet, xgb_cox"):
        make_model("rsf", FEATURES, {}, seed=0)
    with pytest.raises(ModelError, match=r"unknown hyperparameter\(s\) \['depth'\]"):
        make_model("xgb_cox", FEATURES, {"depth": 2}, seed=0)
    model = make_model("coxnet", FEATURES, {}, seed=0).fit(X, structured_y(event, time))
    with pytest.raises(ModelError, match=r"input lacks feature column\(s\) \['pr'\]"):
        model.predict(X.drop(columns="pr"))
    with pytest.raises(ModelError, match=r"'grade' holds 'III'"):
        model.predict(X.astype({"grade": object}).assign(grade="III"))
    with pytest.raises(ModelError, match="no events"):
        make_model("coxnet", FEATURES, {}, seed=0).fit(
            X, structured_y(np.zeros(len(X), bool), time)
        )
