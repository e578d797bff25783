"""Gradient-boosted Cox model (XGBoost ``survival:cox``) with a Breslow baseline hazard."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import xgboost as xgb

from msk1model.models._base import SurvivalModel

__all__ = ["XGBCoxModel"]

BOOSTER_FILE = "booster.json"


class XGBCoxModel(SurvivalModel):
    """XGBoost ``survival:cox``: the risk score is the boosted log relative hazard (margin).

    State: the booster in XGBoost's JSON format (``booster.json``).
    """

    kind = "xgb_cox"
    hyperparameters: ClassVar[dict[str, Any]] = {
        "n_estimators": 200,
        "learning_rate": 0.05,
        "max_depth": 3,
        "min_child_weight": 1.0,
        "subsample": 0.8,
        "colsample_bytree": 1.0,
        "reg_lambda": 1.0,
        "reg_alpha": 0.0,
        "n_jobs": 1,
    }

    def _fit_risk(self, Z: np.ndarray, event: np.ndarray, time: np.ndarray) -> None:
        label = np.where(event, time, -time)  # XGBoost's convention: negative = right-censored
        params = {k: v for k, v in self.params.items() if k not in {"n_estimators", "n_jobs"}}
        self.booster_ = xgb.train(
            {
                **params,
                "objective": "survival:cox",
                "eval_metric": "cox-nloglik",
                "tree_method": "hist",
                "nthread": int(self.params["n_jobs"]),
                "seed": self.seed,
            },
            xgb.DMatrix(Z, label=label),
            num_boost_round=int(self.params["n_estimators"]),
        )

    def _predict_risk(self, Z: np.ndarray) -> np.ndarray:
        return self.booster_.predict(xgb.DMatrix(Z), output_margin=True).astype(float)

    def _save_extra(self, directory: Path) -> dict[str, Any]:
        self.booster_.save_model(directory / BOOSTER_FILE)
        return {"booster": BOOSTER_FILE}

    def _load_extra(self, directory: Path, extra: dict[str, Any]) -> None:
        self.booster_ = xgb.Booster()
        self.booster_.load_model(directory / extra["booster"])
