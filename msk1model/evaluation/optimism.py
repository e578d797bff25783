"""Harrell's bootstrap optimism correction of apparent performance, and a survival pipeline for it.

Each replicate refits the whole modelling pipeline on a resample drawn by the seeded engine
:func:`~msk1model.evaluation.bootstrap.bootstrap_replicates`; an undefined replicate is NaN, left
out of the mean optimism and warned about with a
:class:`~msk1model.evaluation.bootstrap.BootstrapWarning`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from msk1model.errors import EvaluationError
from msk1model.evaluation._checks import check_horizons, check_y
from msk1model.evaluation.bootstrap import _column, _or_nan, _warn_invalid, bootstrap_replicates
from msk1model.evaluation.calibration import calibration_slope
from msk1model.evaluation.metrics import harrell_c
from msk1model.evaluation.timedep import brier_scores
from msk1model.models import SurvivalModel
from msk1model.outcome import make_y
from msk1model.scores import horizon_label

__all__ = ["optimism_corrected", "survival_scores"]


def optimism_corrected(
    fit: Callable[[np.ndarray], Any],
    score: Callable[[Any, np.ndarray], Mapping[str, float]],
    n: int,
    *,
    n_boot: int = 200,
    seed: int = 0,
    n_jobs: int = 1,
    fitted: Any | None = None,
) -> pd.DataFrame:
    """Harrell's bootstrap optimism correction of apparent performance (Harrell et al. 1996).

    The apparent performance is ``score(fit(all), all)``. Each replicate refits the whole
    pipeline on a resample ``b`` and measures its optimism
    ``score(fit(b), b) - score(fit(b), all)``; the corrected estimate is
    ``apparent - mean optimism``. Every modelling step that looks at the outcome (selection,
    tuning) must happen inside ``fit``, or its optimism is missed.

    No confidence interval is given: the spread of the optimism replicates is the variability of
    the optimism, not the sampling variability of the corrected estimate, and an interval with
    known coverage needs a nested (double) bootstrap (Noma et al., Stat Med 2021), ``B^2`` refits.
    ``optimism_mc_se`` is only the Monte Carlo error of the mean optimism (does ``n_boot``
    suffice?).

    Parameters
    ----------
    fit
        ``fit(rows) -> model``: fits the pipeline on the patients at ``rows`` (indices, shape
        (n,), with repeats). A ``ModelError`` or ``EvaluationError`` leaves the replicate out.
    score
        ``score(model, rows) -> {metric: value}`` on the patients at ``rows``; NaN or an error
        marks a metric undefined.
    n
        Number of patients.
    n_boot, seed, n_jobs
        As in :func:`bootstrap_replicates`; ``fit`` and ``score`` must be picklable by
        cloudpickle when ``n_jobs != 1``.
    fitted
        ``fit(all rows)``, when the caller has already fitted it (the run's final model): the
        apparent performance is then scored on it instead of a refit (at 10^6 patients an
        XGBoost fit is tens of seconds). It must be what ``fit`` would return.

    Returns
    -------
    DataFrame
        One row per metric: ``metric``, ``apparent``, ``optimism`` (mean over valid replicates),
        ``corrected``, ``optimism_mc_se`` (SD of the optimism replicates / sqrt(n_boot_valid))
        and ``n_boot_valid``. For "lower is better" metrics (Brier) the optimism is negative.
    """
    everyone = np.arange(n)
    model = fit(everyone) if fitted is None else fitted
    apparent = {k: float(v) for k, v in score(model, everyone).items()}
    reps = bootstrap_replicates(
        _OptimismStatistic(fit, score, n), n, n_boot=n_boot, seed=seed, n_jobs=n_jobs
    )
    rows = [_corrected_row(name, value, _column(reps, name)) for name, value in apparent.items()]
    _warn_invalid(rows, n_boot)
    columns = ["metric", "apparent", "optimism", "corrected", "optimism_mc_se", "n_boot_valid"]
    return pd.DataFrame(rows, columns=columns)


def _corrected_row(name: str, apparent: float, optimism: np.ndarray) -> dict[str, Any]:
    valid = optimism[np.isfinite(optimism)]
    mean = float(valid.mean()) if len(valid) else np.nan
    mc_se = float(valid.std(ddof=1) / np.sqrt(len(valid))) if len(valid) > 1 else np.nan
    return {
        "metric": name,
        "apparent": apparent,
        "optimism": mean,
        "corrected": apparent - mean,
        "optimism_mc_se": mc_se,
        "n_boot_valid": len(valid),
    }


def survival_scores(
    model_factory: Callable[[], SurvivalModel],
    X: pd.DataFrame,
    y: npt.ArrayLike,
    *,
    horizon: float,
) -> tuple[
    Callable[[np.ndarray], SurvivalModel], Callable[[SurvivalModel, np.ndarray], dict[str, float]]
]:
    """``fit`` and ``score`` for :func:`optimism_corrected` of a survival model.

    Parameters
    ----------
    model_factory
        Returns a fresh unfitted model, e.g.
        ``lambda: make_model("coxph", features=features, random_state=seed)``.
    X : DataFrame, shape (n, p)
        Features of all patients (rows addressed by position).
    y : structured array, shape (n,)
        Outcome of the same patients, fields (event, time in years).
    horizon
        Years, for the calibration slope and the Brier score.

    Returns
    -------
    fit, score
        ``fit(rows)`` fits ``model_factory()`` on those rows; ``score(model, rows)`` gives
        ``harrell_c``, ``calibration_slope_<h>y`` (of ``S(horizon|x)``) and ``brier_<h>y``, NaN
        where undefined. The Brier score's censoring distribution is the Kaplan-Meier estimate
        on all ``n`` patients, the same for every replicate.
    """
    t, e = check_y(y)
    if len(X) != len(t):
        raise EvaluationError(
            f"X must have one row per patient ({len(t)} follow-up times), but has {len(X)} rows. "
            "Fix: pass the features and the outcome of the same patients, in the same order"
        )
    h = float(check_horizons(horizon, "horizon")[0])
    pipeline = _SurvivalPipeline(
        model_factory, X.reset_index(drop=True), make_y(time=t, event=e), h
    )
    return pipeline.fit, pipeline.score


class _SurvivalPipeline:
    """Data and model factory behind :func:`survival_scores` (picklable, unlike a lambda)."""

    def __init__(
        self,
        model_factory: Callable[[], SurvivalModel],
        X: pd.DataFrame,
        y: np.ndarray,
        horizon: float,
    ) -> None:
        self.model_factory, self.X, self.y = model_factory, X, y
        self.horizon, self.label = horizon, horizon_label(horizon)

    def fit(self, rows: np.ndarray) -> SurvivalModel:
        return self.model_factory().fit(self.X.iloc[rows], self.y[rows])

    def score(self, model: SurvivalModel, rows: np.ndarray) -> dict[str, float]:
        X, y = self.X.iloc[rows], self.y[rows]
        risk, surv = model.predict_risk_and_survival(X, np.array([self.horizon]))
        metrics: dict[str, Callable[[], float]] = {
            "harrell_c": lambda: harrell_c(y, risk),
            f"calibration_slope_{self.label}": lambda: calibration_slope(y, surv[:, 0]),
            f"brier_{self.label}": lambda: float(brier_scores(self.y, y, surv, [self.horizon])[0]),
        }
        return {name: _or_nan(compute) for name, compute in metrics.items()}


class _OptimismStatistic:
    """``rows -> {metric: score(fit(rows), rows) - score(fit(rows), all)}``."""

    def __init__(
        self,
        fit: Callable[[np.ndarray], Any],
        score: Callable[[Any, np.ndarray], Mapping[str, float]],
        n: int,
    ) -> None:
        self.fit, self.score, self.n = fit, score, n

    def __call__(self, rows: np.ndarray) -> dict[str, float]:
        model = self.fit(rows)
        boot, test = self.score(model, rows), self.score(model, np.arange(self.n))
        return {name: float(boot[name]) - float(test[name]) for name in boot}
