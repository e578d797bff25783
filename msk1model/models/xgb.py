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
_NOT_BOOSTER_PARAMS = {
    "n_estimators",
    "n_jobs",
    "distribution",
    "sigma",
    "early_stopping_rounds",
    "validation_fraction",
}

#: Fewest events the inner validation part of early stopping may hold.
MIN_VALIDATION_EVENTS = 5


class _XGBModel(SurvivalModel):
    """Shared parts: training with a seeded, single-objective booster kept as XGBoost JSON,
    optionally stopped early on an inner validation split of the training rows."""

    n_estimators: int
    n_jobs: int
    early_stopping_rounds: int
    validation_fraction: float

    def _validate_hyperparameters(self, features: list[str]) -> None:
        if int(self.early_stopping_rounds) < 0:
            raise ModelError(
                f"{self.kind} early_stopping_rounds must be >= 0 (0: no early stopping), "
                f"but got {self.early_stopping_rounds!r}"
            )
        if int(self.early_stopping_rounds) and not 0.0 < float(self.validation_fraction) < 1.0:
            raise ModelError(
                f"{self.kind} validation_fraction must be in (0, 1), "
                f"but got {self.validation_fraction!r}"
            )

    def _labelled(self, Z: np.ndarray, y: np.ndarray) -> xgb.DMatrix:
        """The DMatrix of rows ``Z`` with their outcome in this objective's labels."""
        raise NotImplementedError

    def _train(self, Z: np.ndarray, y: np.ndarray, extra: dict[str, Any]) -> None:
        """Boost ``n_estimators`` rounds on all rows, or, with ``early_stopping_rounds``, on a
        seeded event-stratified ``1 - validation_fraction`` of them, stopping when the
        objective's loss on the rest has not improved for that many rounds; the booster keeps
        the best round's trees and ``best_n_estimators_`` their number."""
        booster_params = {
            k: v for k, v in self._hyperparameters().items() if k not in _NOT_BOOSTER_PARAMS
        }
        import xgboost as xgb  # only the xgb_* models need XGBoost (and the SciPy it imports)

        params = {
            **booster_params,
            **extra,
            "tree_method": "hist",
            "nthread": int(self.n_jobs),
            "seed": self.random_state,
        }
        rounds = int(self.n_estimators)
        patience = int(self.early_stopping_rounds)
        if not patience:
            self.booster_ = xgb.train(params, self._labelled(Z, y), num_boost_round=rounds)
            self.best_n_estimators_ = rounds
            return
        fit, validate = self._inner_split(y)
        booster = xgb.train(
            params,
            self._labelled(Z[fit], y[fit]),
            num_boost_round=rounds,
            evals=[(self._labelled(Z[validate], y[validate]), "validation")],
            early_stopping_rounds=patience,
            verbose_eval=False,
        )
        best = int(booster.best_iteration) + 1
        self.booster_ = booster[:best]
        self.best_n_estimators_ = best

    def _inner_split(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.model_selection import train_test_split

        event, _ = event_time(y)
        n_validation_events = round(float(event.sum()) * float(self.validation_fraction))
        if n_validation_events < MIN_VALIDATION_EVENTS:
            raise ModelError(
                f"{self.kind} early stopping: the inner validation part would hold about "
                f"{n_validation_events} events (validation_fraction {self.validation_fraction} "
                f"of {int(event.sum())}), fewer than {MIN_VALIDATION_EVENTS}. Fix: set "
                "early_stopping_rounds: 0 and tune n_estimators, or raise validation_fraction"
            )
        fit, validate = train_test_split(
            np.arange(len(y)),
            test_size=float(self.validation_fraction),
            stratify=event,
            random_state=self.random_state,
            shuffle=True,
        )
        return np.sort(fit), np.sort(validate)

    def _margin(self, Z: np.ndarray) -> np.ndarray:
        import xgboost as xgb

        return self.booster_.predict(xgb.DMatrix(Z), output_margin=True).astype(float)

    def _learned_state(self) -> dict[str, Any]:
        return {
            "booster": bytes(self.booster_.save_raw("json")).decode(),
            "best_n_estimators": int(self.best_n_estimators_),
        }

    def _restore_learned(self, state: dict[str, Any]) -> None:
        import xgboost as xgb

        self.booster_ = xgb.Booster()
        self.booster_.load_model(bytearray(state["booster"].encode()))
        self.best_n_estimators_ = int(
            state.get("best_n_estimators", self.booster_.num_boosted_rounds())
        )


class XGBCoxModel(_XGBModel):
    """XGBoost ``survival:cox``: the risk score is the boosted log relative hazard (margin).

    Survival curves come from a Breslow baseline hazard on the training data.

    Parameters
    ----------
    n_estimators
        Boosting rounds; with early stopping, the most rounds.
    learning_rate, max_depth, min_child_weight, subsample, colsample_bytree, reg_lambda, reg_alpha
        XGBoost's tree-booster parameters of the same names.
    n_jobs
        XGBoost threads (``nthread``); 0: as many as OpenMP gives this process (every core, or
        the share joblib leaves each worker process of a bootstrap). The fit does not depend on
        it. 1 (default) suits cohorts of thousands, where the threads' waits between the many
        small fits cost more than they gain (the default experiment: 38 s at 1, 52 s at 0 on 2
        cores); 0 suits 10^5 rows and more (``experiments/scale_1m.yaml``).
    early_stopping_rounds
        0: boost ``n_estimators`` rounds. Else stop when the objective's loss (negative log
        partial likelihood, or the AFT negative log likelihood) on an inner validation part has
        not improved for this many rounds, and keep the best round's trees.
    validation_fraction
        Share of the training rows held out (event-stratified, seeded) for early stopping.
    features, design, random_state
        As for every :class:`SurvivalModel`; ``random_state`` is XGBoost's ``seed``.

    Attributes
    ----------
    booster_
        The fitted ``xgboost.Booster`` (kept in the state as XGBoost's JSON text).
    best_n_estimators_
        Its number of rounds (``n_estimators``, or the best round of early stopping).
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
        early_stopping_rounds: int = 0,
        validation_fraction: float = 0.2,
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
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.features = features
        self.design = design
        self.random_state = random_state

    def _labelled(self, Z: np.ndarray, y: np.ndarray) -> xgb.DMatrix:
        import xgboost as xgb

        event, time = event_time(y)
        label = np.where(event, time, -time)  # XGBoost's convention: negative = right-censored
        # Rows in increasing time (stable: tied times keep their order): XGBoost's Cox gradient
        # walks the rows in that order, which is then the memory order (about 2x per round at
        # 10^5 rows and more); the loss does not depend on the order of the rows.
        order = np.argsort(time, kind="stable")
        return xgb.DMatrix(Z[order], label=label[order])

    def _fit_risk(self, Z: np.ndarray, y: np.ndarray) -> None:
        self._train(Z, y, {"objective": "survival:cox", "eval_metric": "cox-nloglik"})

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
        Boosting rounds; with early stopping, the most rounds.
    learning_rate, max_depth, min_child_weight, subsample, colsample_bytree, reg_lambda, reg_alpha
        XGBoost's tree-booster parameters of the same names.
    n_jobs
        XGBoost threads (``nthread``); 0: as many as OpenMP gives this process (every core, or
        the share joblib leaves each worker process of a bootstrap). The fit does not depend on
        it. 1 (default) suits cohorts of thousands, where the threads' waits between the many
        small fits cost more than they gain (the default experiment: 38 s at 1, 52 s at 0 on 2
        cores); 0 suits 10^5 rows and more (``experiments/scale_1m.yaml``).
    early_stopping_rounds
        0: boost ``n_estimators`` rounds. Else stop when the objective's loss (negative log
        partial likelihood, or the AFT negative log likelihood) on an inner validation part has
        not improved for this many rounds, and keep the best round's trees.
    validation_fraction
        Share of the training rows held out (event-stratified, seeded) for early stopping.
    features, design, random_state
        As for every :class:`SurvivalModel`; ``random_state`` is XGBoost's ``seed``.

    Attributes
    ----------
    booster_
        The fitted ``xgboost.Booster`` (kept in the state as XGBoost's JSON text).
    best_n_estimators_
        Its number of rounds (``n_estimators``, or the best round of early stopping).
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
        early_stopping_rounds: int = 0,
        validation_fraction: float = 0.2,
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
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.distribution = distribution
        self.sigma = sigma
        self.features = features
        self.design = design
        self.random_state = random_state

    def _validate_hyperparameters(self, features: list[str]) -> None:
        super()._validate_hyperparameters(features)
        if self.distribution not in AFT_DISTRIBUTIONS:
            raise ModelError(
                f"xgb_aft distribution must be one of {sorted(AFT_DISTRIBUTIONS)}, "
                f"but got {self.distribution!r}"
            )
        if not float(self.sigma) > 0:
            raise ModelError(f"xgb_aft sigma must be > 0, but got {self.sigma!r}")

    def _labelled(self, Z: np.ndarray, y: np.ndarray) -> xgb.DMatrix:
        import xgboost as xgb

        event, time = event_time(y)
        dmatrix = xgb.DMatrix(Z)
        dmatrix.set_float_info("label_lower_bound", time)
        dmatrix.set_float_info("label_upper_bound", np.where(event, time, np.inf))
        return dmatrix

    def _fit_risk(self, Z: np.ndarray, y: np.ndarray) -> None:
        self._train(
            Z,
            y,
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
