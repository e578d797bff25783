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

from msk1model import interrupts
from msk1model.config import CategoricalParam, FloatParam, IntParam, ModelConfig, TuningConfig
from msk1model.errors import ModelError, Msk1ModelError
from msk1model.evaluation import harrell_c, uno_c
from msk1model.models import DesignSpec, make_model, structured_y

__all__ = ["CVScores", "TuningResult", "cross_validate", "suggest_params", "tune"]

Folds = Sequence[tuple[np.ndarray, np.ndarray]]
TrialCallback = Callable[[optuna.Study, optuna.trial.FrozenTrial], None]


@dataclass(frozen=True)
class CVScores:
    """Per-fold validation scores."""

    harrell_c: tuple[float, ...]
    uno_c: tuple[float, ...]

    def summary(self) -> dict[str, float]:
        """``cv_<metric>_mean`` and ``cv_<metric>_sd`` (SD with ddof=1 across folds)."""
        out: dict[str, float] = {}
        for name in ("harrell_c", "uno_c"):
            values = np.asarray(getattr(self, name))
            out[f"cv_{name}_mean"] = float(values.mean())
            out[f"cv_{name}_sd"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        return out


@dataclass(frozen=True)
class TuningResult:
    """The best hyperparameters of a study and what the study did."""

    best_params: dict[str, Any]
    cv: CVScores
    n_trials: int
    n_failed: int
    trials: pd.DataFrame


def cross_validate(
    kind: str,
    features: list[str],
    params: dict[str, Any],
    X: pd.DataFrame,
    event: np.ndarray,
    time: np.ndarray,
    folds: Folds,
    tau: float,
    seed: int,
    design: DesignSpec | None = None,
) -> CVScores:
    """Fit on each fold's fit part and score on its validation part."""
    harrell, uno = [], []
    for fit_idx, val_idx in folds:
        model = make_model(kind, features, params, seed, design)
        model.fit(X.iloc[fit_idx], structured_y(event[fit_idx], time[fit_idx]))
        risk = model.predict(X.iloc[val_idx])
        harrell.append(harrell_c(time[val_idx], event[val_idx], risk))
        uno.append(uno_c(time[fit_idx], event[fit_idx], time[val_idx], event[val_idx], risk, tau))
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
    features: list[str],
    X: pd.DataFrame,
    event: np.ndarray,
    time: np.ndarray,
    folds: Folds,
    tuning: TuningConfig,
    tau: float,
    seed: int,
    callbacks: Sequence[TrialCallback] = (),
    design: DesignSpec | None = None,
) -> TuningResult:
    """Run an Optuna study (seeded sampler, in-memory storage) and return the best trial."""
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
                scores = cross_validate(
                    model.kind, features, params, X, event, time, folds, tau, seed, design
                )
        except Msk1ModelError as exc:
            trial.set_user_attr("error", str(exc))
            return math.nan  # Optuna records the trial as failed and goes on
        for name in ("harrell_c", "uno_c"):
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
