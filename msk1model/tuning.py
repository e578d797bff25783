"""Optuna tuning of one model on the CV folds of the training part.

The objective of a trial is the mean over folds of the configured metric (Harrell's or Uno's C) of
the model fitted on the other folds. The test part is never seen here. Every fold score is kept on
the trial (``user_attrs``) so that the best trial's mean and SD can be reported.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
import pandas as pd
from sklearn.base import clone

from msk1model import interrupts
from msk1model.config import CategoricalParam, FloatParam, IntParam, ModelConfig, TuningConfig
from msk1model.errors import ModelError, Msk1ModelError
from msk1model.evaluation import harrell_c, uno_c
from msk1model.models import DesignSpec, SurvivalModel, make_model
from msk1model.scores import CV_METRICS, score_frame

__all__ = ["CVScores", "TuningResult", "cross_validate", "suggest_params", "tune"]

Folds = Sequence[tuple[np.ndarray, np.ndarray]]
TrialCallback = Callable[[optuna.Study, optuna.trial.FrozenTrial], None]


@dataclass(frozen=True)
class CVScores:
    """Per-fold validation scores."""

    harrell_c: tuple[float, ...]
    uno_c: tuple[float, ...]

    def table(self) -> pd.DataFrame:
        """Score rows of stage ``cv``: each metric's ``mean`` and ``sd`` (ddof=1) over folds."""
        rows = []
        for name in CV_METRICS:
            values = np.asarray(getattr(self, name))
            sd = float(values.std(ddof=1)) if len(values) > 1 else 0.0
            rows += [
                {"stage": "cv", "metric": name, "statistic": "mean", "value": float(values.mean())},
                {"stage": "cv", "metric": name, "statistic": "sd", "value": sd},
            ]
        return score_frame(rows)


@dataclass(frozen=True)
class TuningResult:
    """The best hyperparameters of a study and what the study did."""

    best_params: dict[str, Any]
    cv: CVScores
    n_trials: int
    n_failed: int
    trials: pd.DataFrame

    def table(self) -> pd.DataFrame:
        """Score rows: the best trial's ``cv`` mean and SD, and the study's size (stage
        ``tuning``: ``n_trials``, ``n_failed_trials``)."""
        size = score_frame(
            [
                {"stage": "tuning", "metric": "n_trials", "value": float(self.n_trials)},
                {"stage": "tuning", "metric": "n_failed_trials", "value": float(self.n_failed)},
            ]
        )
        return pd.concat([self.cv.table(), size], ignore_index=True)


def cross_validate(
    estimator: SurvivalModel, X: pd.DataFrame, y: np.ndarray, folds: Folds, *, tau: float
) -> CVScores:
    """Fit a clone of ``estimator`` on each fold's fit part and score its validation part.

    ``folds`` are ``(fit, validate)`` row positions into ``X`` and ``y``; ``tau`` truncates
    Uno's C (years).
    """
    harrell, uno = [], []
    for fit_idx, val_idx in folds:
        model = clone(estimator).fit(X.iloc[fit_idx], y[fit_idx])
        risk = model.predict(X.iloc[val_idx])
        harrell.append(harrell_c(y[val_idx], risk))
        uno.append(uno_c(y[fit_idx], y[val_idx], risk, tau=tau))
    return CVScores(harrell_c=tuple(harrell), uno_c=tuple(uno))


def suggest_params(trial: optuna.Trial, model: ModelConfig) -> dict[str, Any]:
    """Fixed ``params`` plus one suggestion per ``search_space`` entry."""
    params: dict[str, Any] = dict(model.params)
    for name, spec in model.search_space.items():
        if isinstance(spec, FloatParam):
            params[name] = trial.suggest_float(name, spec.low, spec.high, log=spec.log)
        elif isinstance(spec, IntParam):
            params[name] = trial.suggest_int(name, spec.low, spec.high, log=spec.log)
        elif isinstance(spec, CategoricalParam):
            params[name] = trial.suggest_categorical(name, spec.choices)
    return params


def tune(
    model: ModelConfig,
    X: pd.DataFrame,
    y: np.ndarray,
    folds: Folds,
    *,
    features: list[str],
    tuning: TuningConfig,
    tau: float,
    seed: int,
    design: DesignSpec | None = None,
    callbacks: Sequence[TrialCallback] = (),
) -> TuningResult:
    """Run an Optuna study (seeded sampler, in-memory storage) and return the best trial.

    Each trial cross-validates ``model.kind`` on ``features`` of ``X`` (the training part, with
    outcome ``y``) over ``folds``; its value is the mean of ``tuning.metric`` over the folds.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler: optuna.samplers.BaseSampler = (
        optuna.samplers.TPESampler(seed=seed)
        if tuning.sampler == "tpe"
        else optuna.samplers.RandomSampler(seed=seed)
    )
    study = optuna.create_study(direction="maximize", sampler=sampler)

    def objective(trial: optuna.Trial) -> float:
        params = suggest_params(trial, model)
        try:
            with interrupts.compute(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # per-fold convergence chatter; failures are caught
                estimator = make_model(
                    model.kind, params, features=features, design=design, random_state=seed
                )
                scores = cross_validate(estimator, X, y, folds, tau=tau)
        except Msk1ModelError as exc:
            trial.set_user_attr("error", str(exc))
            return math.nan  # Optuna records the trial as failed and goes on
        for name in CV_METRICS:
            trial.set_user_attr(f"fold_{name}", list(getattr(scores, name)))
        trial.set_user_attr("params", params)
        return float(np.mean(getattr(scores, tuning.metric)))

    n_trials = model.n_trials or tuning.n_trials
    if not model.search_space:
        n_trials = 1  # nothing to tune: one CV of the fixed parameters
    study.optimize(
        objective, n_trials=n_trials, timeout=tuning.timeout_s, callbacks=list(callbacks)
    )
    return _result(study)


def _result(study: optuna.Study) -> TuningResult:
    complete = study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.COMPLETE])
    if not complete:
        errors = {t.user_attrs.get("error", "unknown error") for t in study.trials}
        raise ModelError(f"every tuning trial failed; errors: {sorted(errors)[:3]}")
    best = study.best_trial
    cv = CVScores(
        harrell_c=tuple(best.user_attrs["fold_harrell_c"]),
        uno_c=tuple(best.user_attrs["fold_uno_c"]),
    )
    return TuningResult(
        best_params=dict(best.user_attrs["params"]),
        cv=cv,
        n_trials=len(study.trials),
        n_failed=len(study.trials) - len(complete),
        trials=study.trials_dataframe(attrs=("number", "value", "params", "state", "duration")),
    )
