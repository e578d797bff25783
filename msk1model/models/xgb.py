"""Gradient-boosted survival models on XGBoost: ``survival:cox`` and ``survival:aft``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import xgboost as xgb
from scipy import stats

from msk1model.errors import ModelError
from msk1model.models._base import SurvivalModel

__all__ = ["AFT_DISTRIBUTIONS", "XGBAFTModel", "XGBCoxModel"]

BOOSTER_FILE = "booster.json"

#: Tree-booster hyperparameters both objectives share (name -> default).
_TREE_PARAMS: dict[str, Any] = {
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
_NOT_BOOSTER_PARAMS = {"n_estimators", "n_jobs", "distribution", "sigma"}


class _XGBModel(SurvivalModel):
    """Shared parts: training with a seeded, single-objective booster saved as XGBoost JSON."""

    objective: ClassVar[dict[str, Any]]

    def _train(self, dmatrix: xgb.DMatrix, extra: dict[str, Any]) -> None:
        booster_params = {k: v for k, v in self.params.items() if k not in _NOT_BOOSTER_PARAMS}
        self.booster_ = xgb.train(
            {
                **booster_params,
                **extra,
                "tree_method": "hist",
                "nthread": int(self.params["n_jobs"]),
                "seed": self.seed,
            },
            dmatrix,
            num_boost_round=int(self.params["n_estimators"]),
        )

    def _margin(self, Z: np.ndarray) -> np.ndarray:
        return self.booster_.predict(xgb.DMatrix(Z), output_margin=True).astype(float)

    def _save_extra(self, directory: Path) -> dict[str, Any]:
        self.booster_.save_model(directory / BOOSTER_FILE)
        return {"booster": BOOSTER_FILE}

    def _load_extra(self, directory: Path, extra: dict[str, Any]) -> None:
        self.booster_ = xgb.Booster()
        self.booster_.load_model(directory / extra["booster"])


class XGBCoxModel(_XGBModel):
    """XGBoost ``survival:cox``: the risk score is the boosted log relative hazard (margin).

    Survival curves come from a Breslow baseline hazard on the training data.
    State: the booster in XGBoost's JSON format (``booster.json``).
    """

    kind = "xgb_cox"
    hyperparameters: ClassVar[dict[str, Any]] = dict(_TREE_PARAMS)

    def _fit_risk(self, Z: np.ndarray, event: np.ndarray, time: np.ndarray) -> None:
        label = np.where(event, time, -time)  # XGBoost's convention: negative = right-censored
        self._train(
            xgb.DMatrix(Z, label=label),
            {"objective": "survival:cox", "eval_metric": "cox-nloglik"},
        )

    def _predict_risk(self, Z: np.ndarray) -> np.ndarray:
        return self._margin(Z)


#: ``survival:aft`` error distributions: name -> cumulative hazard of the standardised log time z.
AFT_DISTRIBUTIONS = {
    "normal": lambda z: -stats.norm.logsf(z),  # S = 1 - Phi(z): log-normal times
    "logistic": lambda z: np.logaddexp(0.0, z),  # S = 1 / (1 + e^z): log-logistic times
    "extreme": lambda z: np.exp(z),  # S = exp(-e^z): Weibull times
}


class XGBAFTModel(_XGBModel):
    """XGBoost ``survival:aft``: log T = f(x) + sigma * W, W normal, logistic or extreme.

    The margin f(x) is the boosted location of log survival time (years); the risk score is
    ``-f(x)`` (shorter predicted time = higher risk). Survival is parametric:
    ``S(t | x) = S_W((log t - f(x)) / sigma)``, so no Breslow baseline is needed.
    Hyperparameters add ``distribution`` and ``sigma`` (``aft_loss_distribution_scale``).
    State: the booster in XGBoost's JSON format (``booster.json``).
    """

    kind = "xgb_aft"
    hyperparameters: ClassVar[dict[str, Any]] = {
        **_TREE_PARAMS,
        "distribution": "normal",
        "sigma": 1.0,
    }
    breslow = False

    def __init__(self, *, features: list[str], seed: int = 0, **params: Any) -> None:
        super().__init__(features=features, seed=seed, **params)
        if self.params["distribution"] not in AFT_DISTRIBUTIONS:
            raise ModelError(
                f"xgb_aft distribution must be one of {sorted(AFT_DISTRIBUTIONS)}, "
                f"but got {self.params['distribution']!r}"
            )
        if not float(self.params["sigma"]) > 0:
            raise ModelError(f"xgb_aft sigma must be > 0, but got {self.params['sigma']!r}")

    def _fit_risk(self, Z: np.ndarray, event: np.ndarray, time: np.ndarray) -> None:
        dmatrix = xgb.DMatrix(Z)
        dmatrix.set_float_info("label_lower_bound", time)
        dmatrix.set_float_info("label_upper_bound", np.where(event, time, np.inf))
        self._train(
            dmatrix,
            {
                "objective": "survival:aft",
                "eval_metric": "aft-nloglik",
                "aft_loss_distribution": self.params["distribution"],
                "aft_loss_distribution_scale": float(self.params["sigma"]),
            },
        )

    def _predict_risk(self, Z: np.ndarray) -> np.ndarray:
        return -self._margin(Z)

    def _cumulative_hazard(self, Z: np.ndarray, times: np.ndarray) -> np.ndarray:
        location = self._margin(Z)
        with np.errstate(divide="ignore"):  # log(0) = -inf: H(0) = 0
            log_t = np.log(np.asarray(times, dtype=float))
        z = (log_t[None, :] - location[:, None]) / float(self.params["sigma"])
        return np.asarray(AFT_DISTRIBUTIONS[self.params["distribution"]](z), dtype=float)
