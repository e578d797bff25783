"""Optuna tuning of one model on the CV folds of the training part.

The objective of a trial is the mean over folds of the configured metric (Harrell's or Uno's C) of
the model fitted on the other folds; after each fold the running mean is reported, so a pruner
can stop a hopeless trial early. The test part is never seen here. Every fold score is kept on
the trial (``user_attrs``) so that the best trial's mean and SD can be reported. With
``tuning.n_jobs`` workers the folds are fitted side by side in batches and still reported in
order, so the trials equal those of a sequential study. Studies persist and are shared between
processes (:mod:`msk1model.studies`).
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
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
from msk1model.evaluation.horizons import clip_horizons
from msk1model.evaluation.timedep import integrated_brier_score, time_dependent_auc
from msk1model.models import DesignSpec, SurvivalModel, make_model
from msk1model.scores import CV_METRICS, DIRECTIONS, TUNING_METRICS, score_frame
from msk1model.studies import (
    StudySpec,
    describe_storage,
    finished_trials,
    open_storage,
    open_study,
    run_budget,
)

__all__ = [
    "CVScores",
    "TuningResult",
    "cross_validate",
    "run_study",
    "suggest_params",
    "tune",
]

Folds = Sequence[tuple[np.ndarray, np.ndarray]]
TrialCallback = Callable[[optuna.Study, optuna.trial.FrozenTrial], None]


@dataclass(frozen=True)
class CVScores:
    """Per-fold validation scores: Harrell's and Uno's C always; the integrated Brier score
    (``ibs``) and the AUC at ``horizon`` (``auc``) when they were asked for (else empty)."""

    harrell_c: tuple[float, ...]
    uno_c: tuple[float, ...]
    ibs: tuple[float, ...] = ()
    auc: tuple[float, ...] = ()
    horizon: float | None = None
    """Years: the AUC's horizon and the end of the Brier score's integral."""
    rounds: tuple[int, ...] = ()
    """Boosting rounds early stopping chose in each fold (XGBoost models that stop early)."""

    def folds(self, metric: str) -> tuple[float, ...]:
        return tuple(getattr(self, metric))

    def table(self) -> pd.DataFrame:
        """Score rows of stage ``cv``: each metric's ``mean`` and ``sd`` (ddof=1) over folds;
        the AUC's rows carry its horizon."""
        rows = []
        for name in TUNING_METRICS:
            values = np.asarray(self.folds(name))
            if not len(values):
                continue
            sd = float(values.std(ddof=1)) if len(values) > 1 else 0.0
            at = {"horizon": self.horizon} if name == "auc" else {}
            rows += [
                {"stage": "cv", "metric": name, "statistic": "mean", "value": float(values.mean()),
                 **at},
                {"stage": "cv", "metric": name, "statistic": "sd", "value": sd, **at},
            ]  # fmt: skip
        return score_frame(rows)


@dataclass(frozen=True)
class TuningResult:
    """The best hyperparameters of a study and what the study did."""

    best_params: dict[str, Any]
    """The refit's hyperparameters: the best trial's (see :func:`refit_params`)."""
    cv: CVScores
    n_trials: int
    """Finished trials: complete, pruned, or failed by the model."""
    n_failed: int
    """Failed trials: by the model, or by a worker that died (then tried again)."""
    n_pruned: int
    trials: pd.DataFrame
    study_name: str
    storage: str
    """Where the study lives, as ``optuna-dashboard`` takes it (any password hidden)."""
    frozen: tuple[optuna.trial.FrozenTrial, ...] = ()
    """Every trial of the study, from whichever process ran it."""

    def table(self) -> pd.DataFrame:
        """Score rows: the best trial's ``cv`` mean and SD, and the study's size (stage
        ``tuning``: ``n_trials``, ``n_failed_trials``, ``n_pruned_trials``, and
        ``n_estimators_refit`` where early stopping chose the refit's rounds)."""
        size = score_frame(
            [
                {"stage": "tuning", "metric": "n_trials", "value": float(self.n_trials)},
                {"stage": "tuning", "metric": "n_failed_trials", "value": float(self.n_failed)},
                {"stage": "tuning", "metric": "n_pruned_trials", "value": float(self.n_pruned)},
                *(
                    [{"stage": "tuning", "metric": "n_estimators_refit",
                      "value": float(np.median(self.cv.rounds))}]
                    if self.cv.rounds else []
                ),
            ]
        )  # fmt: skip
        return pd.concat([self.cv.table(), size], ignore_index=True)


def cross_validate(
    estimator: SurvivalModel,
    X: pd.DataFrame,
    y: np.ndarray,
    folds: Folds,
    *,
    tau: float,
    metrics: Sequence[str] = (),
    horizon: float | None = None,
) -> CVScores:
    """Fit a clone of ``estimator`` on each fold's fit part and score its validation part.

    ``folds`` are ``(fit, validate)`` row positions into ``X`` and ``y``; ``tau`` truncates
    Uno's C (years). ``metrics`` may add ``ibs`` (integrated Brier score from the first
    validation time to ``horizon``) and ``auc`` (cumulative/dynamic AUC at ``horizon``), both
    weighted by the fit part's censoring and with ``horizon`` clipped into the fold's follow-up.
    """
    scores: dict[str, list[float]] = {name: [] for name in TUNING_METRICS}
    rounds: list[int] = []
    for fit_idx, val_idx in folds:
        model = clone(estimator).fit(X.iloc[fit_idx], y[fit_idx])
        if _stops_early(model):
            rounds.append(int(model.best_n_estimators_))
        X_val, y_fit, y_val = X.iloc[val_idx], y[fit_idx], y[val_idx]
        risk = model.predict(X_val)
        scores["harrell_c"].append(harrell_c(y_val, risk))
        scores["uno_c"].append(uno_c(y_fit, y_val, risk, tau=tau))
        if "ibs" in metrics or "auc" in metrics:
            if horizon is None:
                raise ModelError("the ibs and auc objectives need a horizon, but none was given")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the clipping of a short fold
                (h,) = clip_horizons([horizon], y_val, y_fit)
        if "auc" in metrics:
            scores["auc"].append(float(time_dependent_auc(y_fit, y_val, risk, [h]).auc[0]))
        if "ibs" in metrics:
            grid = np.linspace(float(np.min(y_val["time"])), float(h), 50)
            surv = model.predict_survival_function(X_val, grid)
            scores["ibs"].append(integrated_brier_score(y_fit, y_val, surv, grid))
    return CVScores(
        **{name: tuple(values) for name, values in scores.items()},
        horizon=horizon if ("auc" in metrics or "ibs" in metrics) else None,
        rounds=tuple(rounds),
    )


def _stops_early(model: SurvivalModel) -> bool:
    return bool(int(getattr(model, "early_stopping_rounds", 0) or 0))


def refit_params(params: dict[str, Any], rounds: Sequence[int]) -> dict[str, Any]:
    """The hyperparameters of the refit on the whole training part: those of the trial, and,
    where early stopping chose ``rounds`` in the folds, their median as ``n_estimators``
    without early stopping (the refit has no rows to spare for a validation part)."""
    if not rounds:
        return dict(params)
    return {
        **params,
        "n_estimators": int(np.round(np.median(rounds))),
        "early_stopping_rounds": 0,
    }


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
    study_name: str | None = None,
    horizon: float | None = None,
) -> TuningResult:
    """Run (or resume, or join) the Optuna study of one model and return its best trial.

    Each trial cross-validates ``model.kind`` on ``features`` of ``X`` (the training part, with
    outcome ``y``) over ``folds``, reporting the running mean of ``tuning.metric`` after each
    fold so the pruner can stop it; its value is the mean over the folds. The study is
    ``study_name`` in ``tuning.storage`` (see :mod:`msk1model.studies`; None names it after the
    data and folds); trials already finished there count against the budget, and this process
    waits for trials other processes are running.
    """
    study, _ = run_study(
        model, X, y, folds, features=features, tuning=tuning, tau=tau, seed=seed, design=design,
        callbacks=callbacks, study_name=study_name, wait=True, horizon=horizon,
    )  # fmt: skip
    return _result(study, describe_storage(tuning), horizon)


def run_study(
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
    study_name: str | None = None,
    wait: bool = True,
    sampler_seed: int | None = -1,
    horizon: float | None = None,
) -> tuple[optuna.Study, int]:
    """The study of :func:`tune` after this process's share of its budget, and that share (the
    number of trials run here). Without ``wait`` it returns as soon as the budget is finished or
    taken by running trials.

    The sampler is seeded with ``seed`` (the default ``sampler_seed=-1``), so one process
    reproduces its trials exactly; a worker passes ``sampler_seed=None`` (a fresh random seed)
    so that workers started together do not suggest the same parameters.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    timed = tuning.metric in ("auc", "ibs")
    if timed and horizon is None:
        raise ModelError(
            f"the {tuning.metric} objective needs a horizon (years), but none was given"
        )
    spec = StudySpec.of(
        model,
        features=features,
        metric=f"{tuning.metric} at {horizon:g} years" if timed else tuning.metric,
        direction=DIRECTIONS[tuning.metric],
        design=(design or DesignSpec()).to_state(),
    )
    storage = open_storage(tuning)
    name = study_name or f"tune.{model.kind}.{_data_digest(X, y, folds)}"
    sampler = _sampler(tuning, seed if sampler_seed == -1 else sampler_seed)
    study = open_study(name, spec, storage=storage, sampler=sampler,
                       pruner=_pruner(tuning))  # fmt: skip
    objective = _objective(model, X, y, folds, features=features, design=design, tuning=tuning,
                           tau=tau, seed=seed, horizon=horizon)  # fmt: skip
    n_trials = model.n_trials or tuning.n_trials
    if not model.search_space:
        n_trials = 1  # nothing to tune: one CV of the fixed parameters
    ran = run_budget(
        study,
        objective,
        n_trials=n_trials,
        storage=storage,
        timeout_s=tuning.timeout_s,
        callbacks=callbacks,
        wait=wait,
    )
    return study, ran


def _sampler(tuning: TuningConfig, seed: int | None) -> optuna.samplers.BaseSampler:
    if tuning.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


def _pruner(tuning: TuningConfig) -> optuna.pruners.BasePruner:
    """Median: a trial whose running fold mean falls below the median of earlier trials at the
    same fold is stopped, once 5 trials have finished; ``none`` never stops one."""
    if tuning.pruner == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)


def _objective(
    model: ModelConfig,
    X: pd.DataFrame,
    y: np.ndarray,
    folds: Folds,
    *,
    features: list[str],
    design: DesignSpec | None,
    tuning: TuningConfig,
    tau: float,
    seed: int,
    horizon: float | None,
) -> Callable[[optuna.Trial], float]:
    def objective(trial: optuna.Trial) -> float:
        params = suggest_params(trial, model)
        trial.set_user_attr("params", params)
        metric = tuning.metric
        scores: dict[str, list[float]] = {name: [] for name in (*CV_METRICS, metric)}
        rounds: list[int] = []
        score = _FoldScorer(model.kind, params, features, design, seed, X, y, tau, metric, horizon)
        try:  # a signal may stop the fits at once; the storage is written outside them
            for step, fold_scores in enumerate(_scored_folds(score, folds, tuning.n_jobs)):
                for name in scores:
                    scores[name] += fold_scores.folds(name)
                    trial.set_user_attr(f"fold_{name}", scores[name])
                if fold_scores.rounds:
                    rounds += fold_scores.rounds
                    trial.set_user_attr("fold_rounds", rounds)
                trial.report(float(np.mean(scores[metric])), step)
                if step < len(folds) - 1 and trial.should_prune():
                    raise optuna.TrialPruned(f"pruned after fold {step + 1} of {len(folds)}")
        except Msk1ModelError as exc:
            trial.set_user_attr("error", str(exc))
            return math.nan  # Optuna records the trial as failed and goes on
        return float(np.mean(scores[metric]))

    return objective


@dataclass(frozen=True)
class _FoldScorer:
    """``fold -> CVScores`` of one trial's hyperparameters on one fold (picklable for the
    worker processes of ``tuning.n_jobs``)."""

    kind: str
    params: dict[str, Any]
    features: list[str]
    design: DesignSpec | None
    seed: int
    X: pd.DataFrame
    y: np.ndarray
    tau: float
    metric: str
    horizon: float | None

    def __call__(self, fold: tuple[np.ndarray, np.ndarray]) -> CVScores:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter; failures are caught
            estimator = make_model(
                self.kind, self.params, features=self.features, design=self.design,
                random_state=self.seed,
            )  # fmt: skip
            return cross_validate(
                estimator, self.X, self.y, [fold], tau=self.tau, metrics=[self.metric],
                horizon=self.horizon,
            )  # fmt: skip


def _scored_folds(score: _FoldScorer, folds: Folds, n_jobs: int) -> Iterator[CVScores]:
    """Each fold's scores, in fold order. With ``n_jobs`` workers the folds are fitted side by
    side in batches of that size (joblib, loky), so a trial the pruner stops after a fold wastes
    at most the rest of its batch, and every reported value is the one of a sequential run."""
    if n_jobs == 1:
        for fold in folds:
            with interrupts.compute():
                scores = score(fold)
            yield scores  # outside the compute section: the caller writes to the storage
        return
    from joblib import Parallel, delayed, effective_n_jobs  # only parallel folds need it

    size = max(1, min(effective_n_jobs(n_jobs), len(folds)))
    with Parallel(n_jobs=size, backend="loky") as parallel:
        for start in range(0, len(folds), size):
            with interrupts.compute():
                batch = parallel(delayed(score)(fold) for fold in folds[start : start + size])
            yield from batch


def _data_digest(X: pd.DataFrame, y: np.ndarray, folds: Folds) -> str:
    digest = hashlib.sha256(pd.util.hash_pandas_object(X, index=False).to_numpy().tobytes())
    digest.update(np.ascontiguousarray(y).tobytes())
    for fit, validate in folds:
        digest.update(np.asarray(fit, dtype=np.int64).tobytes() + b"|")
        digest.update(np.asarray(validate, dtype=np.int64).tobytes() + b"/")
    return digest.hexdigest()[:12]


def _result(study: optuna.Study, storage: str, horizon: float | None) -> TuningResult:
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        errors = {t.user_attrs.get("error", "unknown error") for t in trials}
        raise ModelError(f"every tuning trial failed; errors: {sorted(errors)[:3]}")
    best = study.best_trial
    folds = {name: tuple(best.user_attrs.get(f"fold_{name}", ())) for name in TUNING_METRICS}
    timed = bool(folds["ibs"] or folds["auc"])
    rounds = tuple(int(r) for r in best.user_attrs.get("fold_rounds", ()))
    cv = CVScores(**folds, horizon=horizon if timed else None, rounds=rounds)
    finished = finished_trials(study)
    return TuningResult(
        best_params=refit_params(best.user_attrs["params"], rounds),
        cv=cv,
        n_trials=finished,
        n_failed=sum(1 for t in trials if t.state == optuna.trial.TrialState.FAIL),
        n_pruned=sum(1 for t in trials if t.state == optuna.trial.TrialState.PRUNED),
        trials=study.trials_dataframe(attrs=("number", "value", "params", "state", "duration")),
        study_name=study.study_name,
        storage=storage,
        frozen=tuple(trials),
    )
