"""Gradient-boosted survival models on XGBoost: ``survival:cox`` and ``survival:aft``."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from msk1model.errors import ModelError
from msk1model.models._base import SurvivalModel
from msk1model.models._parts import event_time
from msk1model.models.design import DesignSpec

if TYPE_CHECKING:
    import xgboost as xgb

__all__ = ["AFT_DISTRIBUTIONS", "XGBAFTModel", "XGBCoxModel"]

#: Hyperparameters that are not XGBoost booster parameters (passed otherwise, or not at all).
_NOT_BOOSTER_PARAMS = {"n_estimators", "n_jobs", "distribution", "sigma"}


class _XGBModel(SurvivalModel):
    """Shared parts: training with a seeded, single-objective booster kept as XGBoost JSON."""

    n_estimators: int
    n_jobs: int

    def _train(self, dmatrix: xgb.DMatrix, extra: dict[str, Any]) -> None:
        booster_params = {
            k: v for k, v in self._hyperparameters().items() if k not in _NOT_BOOSTER_PARAMS
        }
        import xgboost as xgb  # only the xgb_* models need XGBoost (and the SciPy it imports)

        self.booster_ = xgb.train(
            {
                **booster_params,
                **extra,
                "tree_method": "hist",
                "nthread": int(self.n_jobs),
                "seed": self.random_state,
            },
            dmatrix,
            num_boost_round=int(self.n_estimators),
        )

    def _margin(self, Z: np.ndarray) -> np.ndarray:
        import xgboost as xgb

        return self.booster_.predict(xgb.DMatrix(Z), output_margin=True).astype(float)

    def _learned_state(self) -> dict[str, Any]:
        return {"booster": bytes(self.booster_.save_raw("json")).decode()}

    def _restore_learned(self, state: dict[str, Any]) -> None:
        import xgboost as xgb

        self.booster_ = xgb.Booster()
        self.booster_.load_model(bytearray(state["booster"].encode()))


class XGBCoxModel(_XGBModel):
    """XGBoost ``survival:cox``: the risk score is the boosted log relative hazard (margin).

    Survival curves come from a Breslow baseline hazard on the training data.

    Parameters
    ----------
    n_estimators
        Boosting rounds.
    learning_rate, max_depth, min_child_weight, subsample, colsample_bytree, reg_lambda, reg_alpha
        XGBoost's tree-booster parameters of the same names.
    n_jobs
        XGBoost threads (``nthread``).
    features, design, random_state
        As for every :class:`SurvivalModel`; ``random_state`` is XGBoost's ``seed``.

    Attributes
    ----------
    booster_
        The fitted ``xgboost.Booster`` (kept in the state as XGBoost's JSON text).
    """

    kind = "xgb_cox"

    def __init__(
        self,
        *,
        n_estimators: int = 200,
        learning_rate: float = 0.05,
        max_depth: int = 3,
        min_child_weight: float = 1.0,
        subsample: float = 0.8,
        colsample_bytree: float = 1.0,
        reg_lambda: float = 1.0,
        reg_alpha: float = 0.0,
        n_jobs: int = 1,
        features: list[str] | None = None,
        design: DesignSpec | None = None,
        random_state: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.reg_alpha = reg_alpha
        self.n_jobs = n_jobs
        self.features = features
        self.design = design
        self.random_state = random_state

    def _fit_risk(self, Z: np.ndarray, y: np.ndarray) -> None:
        event, time = event_time(y)
        label = np.where(event, time, -time)  # XGBoost's convention: negative = right-censored
        import xgboost as xgb

        self._train(
            xgb.DMatrix(Z, label=label),
            {"objective": "survival:cox", "eval_metric": "cox-nloglik"},
        )

    def _predict_risk(self, Z: np.ndarray) -> np.ndarray:
        return self._margin(Z)


_ERFC = np.frompyfunc(math.erfc, 1, 1)


def _normal_cumulative_hazard(z: np.ndarray) -> np.ndarray:
    """-log(1 - Phi(z)) = -log(erfc(z / sqrt 2) / 2), accurate in the upper tail (inf where
    the survival underflows, beyond z = 37). The standard library's erfc: no scipy at scoring."""
    survival = 0.5 * np.asarray(_ERFC(np.asarray(z, dtype=float) / math.sqrt(2.0)), dtype=float)
    with np.errstate(divide="ignore"):
        return np.asarray(-np.log(survival), dtype=float)


#: ``survival:aft`` error distributions: name -> cumulative hazard of the standardised log time z.
AFT_DISTRIBUTIONS = {
    "normal": _normal_cumulative_hazard,  # S = 1 - Phi(z): log-normal times
    "logistic": lambda z: np.logaddexp(0.0, z),  # S = 1 / (1 + e^z): log-logistic times
    "extreme": lambda z: np.exp(z),  # S = exp(-e^z): Weibull times
}


class XGBAFTModel(_XGBModel):
    """XGBoost ``survival:aft``: log T = f(x) + sigma * W, W normal, logistic or extreme.

    The margin f(x) is the boosted location of log survival time (years); the risk score is
    ``-f(x)`` (shorter predicted time = higher risk). Survival is parametric:
    ``S(t | x) = S_W((log t - f(x)) / sigma)``, so no Breslow baseline is needed.

    Parameters
    ----------
    distribution
        The distribution of W: ``normal``, ``logistic`` or ``extreme``.
    sigma
        Its scale (> 0), XGBoost's ``aft_loss_distribution_scale``.
    n_estimators
        Boosting rounds.
    learning_rate, max_depth, min_child_weight, subsample, colsample_bytree, reg_lambda, reg_alpha
        XGBoost's tree-booster parameters of the same names.
    n_jobs
        XGBoost threads (``nthread``).
    features, design, random_state
        As for every :class:`SurvivalModel`; ``random_state`` is XGBoost's ``seed``.

    Attributes
    ----------
    booster_
        The fitted ``xgboost.Booster`` (kept in the state as XGBoost's JSON text).
    """

    kind = "xgb_aft"
    breslow = False

    def __init__(
        self,
        *,
        n_estimators: int = 200,
        learning_rate: float = 0.05,
        max_depth: int = 3,
        min_child_weight: float = 1.0,
        subsample: float = 0.8,
        colsample_bytree: float = 1.0,
        reg_lambda: float = 1.0,
        reg_alpha: float = 0.0,
        n_jobs: int = 1,
        distribution: str = "normal",
        sigma: float = 1.0,
        features: list[str] | None = None,
        design: DesignSpec | None = None,
        random_state: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.reg_alpha = reg_alpha
        self.n_jobs = n_jobs
        self.distribution = distribution
        self.sigma = sigma
        self.features = features
        self.design = design
        self.random_state = random_state

    def _validate_hyperparameters(self, features: list[str]) -> None:
        if self.distribution not in AFT_DISTRIBUTIONS:
            raise ModelError(
                f"xgb_aft distribution must be one of {sorted(AFT_DISTRIBUTIONS)}, "
                f"but got {self.distribution!r}"
            )
        if not float(self.sigma) > 0:
            raise ModelError(f"xgb_aft sigma must be > 0, but got {self.sigma!r}")

    def _fit_risk(self, Z: np.ndarray, y: np.ndarray) -> None:
        import xgboost as xgb

        event, time = event_time(y)
        dmatrix = xgb.DMatrix(Z)
        dmatrix.set_float_info("label_lower_bound", time)
        dmatrix.set_float_info("label_upper_bound", np.where(event, time, np.inf))
        self._train(
            dmatrix,
            {
                "objective": "survival:aft",
                "eval_metric": "aft-nloglik",
                "aft_loss_distribution": self.distribution,
                "aft_loss_distribution_scale": float(self.sigma),
            },
        )

    def _predict_risk(self, Z: np.ndarray) -> np.ndarray:
        return -self._margin(Z)

    def _cumulative_hazard(self, Z: np.ndarray, times: np.ndarray) -> np.ndarray:
        location = self._margin(Z)
        with np.errstate(divide="ignore"):  # log(0) = -inf: H(0) = 0
            log_t = np.log(np.asarray(times, dtype=float))
        z = (log_t[None, :] - location[:, None]) / float(self.sigma)
        return np.asarray(AFT_DISTRIBUTIONS[self.distribution](z), dtype=float)
