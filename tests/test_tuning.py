from __future__ import annotations

import numpy as np
import pytest

from msk1model.config import ModelConfig, TuningConfig
from msk1model.splitting import make_split
from msk1model.tuning import cross_validate, tune

FEATURES = ["age", "size", "grade", "nodes", "pr", "msk1"]


def test_tuning_searches_the_space_and_reports_best_trial(synthetic) -> None:
    event, time = synthetic["event"].to_numpy(bool), synthetic["time"].to_numpy(float)
    split = make_split(event, 0.25, 3, seed=1)
    model = ModelConfig.model_validate(
        {
            "kind": "coxnet",
            "search_space": {"alpha": {"type": "float", "low": 1e-3, "high": 0.3, "log": True}},
        }
    )
    train = split.train
    result = tune(
        model,
        FEATURES,
        synthetic.iloc[train],
        event[train],
        time[train],
        split.folds,
        TuningConfig(n_trials=4),
        tau=5.0,
        seed=3,
    )
    assert result.n_trials == 4 and result.n_failed == 0
    assert 1e-3 <= result.best_params["alpha"] <= 0.3
    best_value = result.trials["value"].max()
    assert np.mean(result.cv.harrell_c) == pytest.approx(best_value, abs=1e-12)
    # the reported CV scores are reproducible from the best parameters alone
    again = cross_validate(
        "coxnet",
        FEATURES,
        result.best_params,
        synthetic.iloc[train],
        event[train],
        time[train],
        split.folds,
        5.0,
        3,
    )
    assert again == result.cv
    summary = result.cv.summary()
    assert summary["cv_harrell_c_sd"] == pytest.approx(np.std(result.cv.harrell_c, ddof=1))
    assert 0.6 < summary["cv_harrell_c_mean"] < 0.8


def test_fixed_parameters_run_one_cv(synthetic) -> None:
    event, time = synthetic["event"].to_numpy(bool), synthetic["time"].to_numpy(float)
    split = make_split(event, 0.25, 3, seed=1)
    model = ModelConfig.model_validate({"kind": "xgb_cox", "params": {"n_estimators": 10}})
    result = tune(
        model,
        FEATURES,
        synthetic.iloc[split.train],
        event[split.train],
        time[split.train],
        split.folds,
        TuningConfig(n_trials=50),
        tau=5.0,
        seed=0,
    )
    assert result.n_trials == 1
    assert result.best_params == {"n_estimators": 10}
