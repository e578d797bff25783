from __future__ import annotations

import numpy as np
import pytest

from msk1model.config import ModelConfig, TuningConfig
from msk1model.models import make_model
from msk1model.outcome import make_y
from msk1model.scores import score_value
from msk1model.splitting import make_split
from msk1model.tuning import cross_validate, tune

FEATURES = ["age", "size", "grade", "nodes", "pr", "msk1"]


def test_tuning_searches_the_space_and_reports_best_trial(synthetic) -> None:
    y = make_y(time=synthetic["time"], event=synthetic["event"])
    split = make_split(y, test_size=0.25, cv_folds=3, seed=1)
    model = ModelConfig.model_validate(
        {
            "kind": "coxnet",
            "search_space": {"alpha": {"type": "float", "low": 1e-3, "high": 0.3, "log": True}},
        }
    )
    train = split.train
    result = tune(
        model,
        synthetic.iloc[train],
        y[train],
        split.folds,
        features=FEATURES,
        tuning=TuningConfig(n_trials=4, storage="memory"),
        tau=5.0,
        seed=3,
    )
    assert result.n_trials == 4 and result.n_failed == 0
    assert 1e-3 <= result.best_params["alpha"] <= 0.3
    best_value = result.trials["value"].max()
    assert np.mean(result.cv.harrell_c) == pytest.approx(best_value, abs=1e-12)
    # the reported CV scores are reproducible from the best parameters alone
    estimator = make_model("coxnet", result.best_params, features=FEATURES, random_state=3)
    again = cross_validate(estimator, synthetic.iloc[train], y[train], split.folds, tau=5.0)
    assert again == result.cv
    table = result.cv.table()
    sd = score_value(table, stage="cv", metric="harrell_c", statistic="sd")
    assert sd == pytest.approx(np.std(result.cv.harrell_c, ddof=1))
    assert 0.6 < score_value(table, stage="cv", metric="harrell_c", statistic="mean") < 0.8


def test_fixed_parameters_run_one_cv(synthetic) -> None:
    y = make_y(time=synthetic["time"], event=synthetic["event"])
    split = make_split(y, test_size=0.25, cv_folds=3, seed=1)
    model = ModelConfig.model_validate({"kind": "xgb_cox", "params": {"n_estimators": 10}})
    result = tune(
        model,
        synthetic.iloc[split.train],
        y[split.train],
        split.folds,
        features=FEATURES,
        tuning=TuningConfig(n_trials=50, storage="memory"),
        tau=5.0,
        seed=0,
    )
    assert result.n_trials == 1
    assert result.best_params == {"n_estimators": 10}
