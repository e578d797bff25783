"""Early stopping of the XGBoost models on an inner validation split, and the refit's rounds."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb
from sklearn.model_selection import train_test_split

from msk1model.config import ModelConfig, TuningConfig
from msk1model.errors import ModelError
from msk1model.models import load_model, make_model, save_model
from msk1model.outcome import make_y
from msk1model.splitting import make_split
from msk1model.tuning import refit_params, tune

FEATURES = ["age", "size", "grade", "nodes", "pr", "msk1"]
FAST = {"n_estimators": 400, "learning_rate": 0.15, "max_depth": 2, "early_stopping_rounds": 15}


@pytest.fixture()
def data(synthetic):
    y = make_y(time=synthetic["time"], event=synthetic["event"])
    return synthetic, y


def test_xgb_cox_stops_where_plain_xgboost_stops_on_the_same_inner_split(data) -> None:
    X, y = data
    model = make_model("xgb_cox", FAST, features=FEATURES, random_state=4).fit(X, y)

    # the same fit with XGBoost's own calls: standardised features, event-stratified 80/20,
    # each part's rows in increasing time (stable)
    Z = model.preprocessor_.transform(model.design_.transform(X))
    fit, validate = train_test_split(
        np.arange(len(y)), test_size=0.2, stratify=y["event"], random_state=4, shuffle=True
    )
    in_time = lambda rows: rows[np.argsort(y["time"][rows], kind="stable")]  # noqa: E731
    fit, validate = in_time(np.sort(fit)), in_time(np.sort(validate))
    label = np.where(y["event"], y["time"], -y["time"])
    params = {"objective": "survival:cox", "eval_metric": "cox-nloglik", "tree_method": "hist",
              "learning_rate": 0.15, "max_depth": 2, "min_child_weight": 1.0, "subsample": 0.8,
              "colsample_bytree": 1.0, "reg_lambda": 1.0, "reg_alpha": 0.0, "nthread": 1,
              "seed": 4}  # fmt: skip
    history: dict = {}
    booster = xgb.train(
        params,
        xgb.DMatrix(Z[fit], label=label[fit]),
        num_boost_round=400,
        evals=[(xgb.DMatrix(Z[validate], label=label[validate]), "validation")],
        early_stopping_rounds=15,
        evals_result=history,
        verbose_eval=False,
    )
    losses = np.array(history["validation"]["cox-nloglik"])
    best = int(np.argmin(losses)) + 1
    assert 1 < best < 400 and len(losses) == best + 15  # it stopped 15 rounds after the best
    assert model.best_n_estimators_ == best == booster.best_iteration + 1
    assert model.booster_.num_boosted_rounds() == best
    expected = booster.predict(xgb.DMatrix(Z), output_margin=True, iteration_range=(0, best))
    np.testing.assert_allclose(model.predict(X), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("kind", ["xgb_cox", "xgb_aft"])
def test_the_fit_does_not_depend_on_the_threads(data, kind: str) -> None:
    """n_jobs 1 (default) and 0 (every thread) stop at the same round with the same trees."""
    X, y = data
    one = make_model(kind, FAST, features=FEATURES, random_state=2).fit(X, y)
    every = make_model(kind, {**FAST, "n_jobs": 0}, features=FEATURES, random_state=2).fit(X, y)
    assert one.booster_.num_boosted_rounds() == every.booster_.num_boosted_rounds() > 1
    np.testing.assert_allclose(every.predict(X), one.predict(X), rtol=0, atol=1e-9)


@pytest.mark.parametrize("kind", ["xgb_cox", "xgb_aft"])
def test_a_stopped_model_keeps_its_rounds_and_predictions_through_its_state(
    data, kind: str, tmp_path
) -> None:
    X, y = data
    model = make_model(kind, FAST, features=FEATURES).fit(X, y)
    assert model.best_n_estimators_ < 400
    loaded = load_model(save_model(model, tmp_path))
    assert loaded.best_n_estimators_ == model.best_n_estimators_
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    full = make_model(kind, {**FAST, "early_stopping_rounds": 0}, features=FEATURES).fit(X, y)
    assert full.best_n_estimators_ == 400 == full.booster_.num_boosted_rounds()


def test_early_stopping_settings_are_checked_with_the_fix(data) -> None:
    X, y = data
    with pytest.raises(ModelError, match=r"early_stopping_rounds must be >= 0.*got -1"):
        make_model("xgb_cox", {"early_stopping_rounds": -1}, features=FEATURES).fit(X, y)
    with pytest.raises(ModelError, match=r"validation_fraction must be in \(0, 1\).*got 1.5"):
        make_model("xgb_aft", {"early_stopping_rounds": 5, "validation_fraction": 1.5},
                   features=FEATURES).fit(X, y)  # fmt: skip
    few = X.iloc[:60]
    with pytest.raises(ModelError, match=r"inner validation part would hold about \d events.*"
                       r"Fix: set early_stopping_rounds: 0"):  # fmt: skip
        make_model("xgb_cox", {"early_stopping_rounds": 5}, features=FEATURES).fit(few, y[:60])


def test_tuning_refits_with_the_median_of_the_rounds_each_fold_chose(data) -> None:
    X, y = data
    split = make_split(y, test_size=0.25, cv_folds=3, seed=1)
    X_train, y_train = X.iloc[split.train], y[split.train]
    model = ModelConfig.model_validate(
        {"kind": "xgb_cox", "params": {k: v for k, v in FAST.items() if k != "max_depth"},
         "search_space": {"max_depth": {"type": "int", "low": 1, "high": 3}}}
    )  # fmt: skip
    tuning = TuningConfig(n_trials=3, storage="memory", pruner="none")
    result = tune(model, X_train, y_train, split.folds, features=FEATURES, tuning=tuning,
                  tau=5.0, seed=2, study_name="es")  # fmt: skip

    best = result.frozen[
        [t.value for t in result.frozen].index(max(t.value for t in result.frozen))
    ]
    direct = []  # each fold refitted by hand with the best trial's parameters
    for fit, _ in split.folds:
        fold_model = make_model("xgb_cox", best.user_attrs["params"], features=FEATURES,
                                random_state=2).fit(X_train.iloc[fit], y_train[fit])  # fmt: skip
        direct.append(fold_model.best_n_estimators_)
    assert list(result.cv.rounds) == direct
    assert result.best_params["n_estimators"] == int(np.round(np.median(direct)))
    assert result.best_params["early_stopping_rounds"] == 0
    assert result.best_params["max_depth"] == best.params["max_depth"]
    table = result.table()
    refit = table[table["metric"] == "n_estimators_refit"]["value"]
    assert refit.tolist() == [float(np.median(direct))]
    assert refit_params({"alpha": 0.1}, ()) == {"alpha": 0.1}  # no early stopping: unchanged
