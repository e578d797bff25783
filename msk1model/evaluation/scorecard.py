"""Every test-set metric of one fitted model, as rows of a score table.

Metrics (:mod:`msk1model.scores` names; ``H`` a configured horizon): ``harrell_c``, ``uno_c``,
at each ``H`` ``auc``, ``brier``, ``ipa``, ``calibration_oe``, ``calibration_slope``, ``ici``,
``e50`` and ``e90``; ``ibs``, and ``d_calibration`` (statistics ``stat`` and ``p``). A metric that
is undefined on this test set (say, no event before a horizon) is NaN with a
:class:`~msk1model.errors.ScorecardWarning`, so one gap never loses a run. A clipped horizon keeps
its configured value in the table.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from msk1model.errors import EvaluationError, ScorecardWarning
from msk1model.evaluation.calibration import (
    calibration_in_the_large,
    calibration_slope,
    integrated_calibration_index,
)
from msk1model.evaluation.dcal import d_calibration
from msk1model.evaluation.horizons import clip_horizons
from msk1model.evaluation.metrics import harrell_c, uno_c
from msk1model.evaluation.timedep import (
    brier_scores,
    integrated_brier_score,
    ipa,
    time_dependent_auc,
)
from msk1model.models import SurvivalModel
from msk1model.scores import horizon_label, score_frame

__all__ = ["score_test_set"]

T = TypeVar("T")
IBS_GRID_POINTS = 100
DCAL_GRID_POINTS = 200


def score_test_set(
    model: SurvivalModel,
    X_test: pd.DataFrame,
    y_test: np.ndarray,
    *,
    y_train: np.ndarray,
    horizons: list[float],
    tau: float,
) -> pd.DataFrame:
    """Discrimination, overall accuracy and calibration of ``model`` on the test part.

    Parameters
    ----------
    model
        A fitted model; ``X_test`` its features for the test patients.
    y_test : structured array, shape (n,)
        Test outcome (event, time in years), see :mod:`msk1model.outcome`.
    y_train : structured array, shape (n_train,)
        Training outcome: the censoring distribution of the IPCW metrics.
    horizons
        Evaluation horizons in years; any beyond follow-up is clipped (``HorizonWarning``) and
        keeps its configured value in the table.
    tau
        Truncation time of Uno's C, years.

    Returns
    -------
    DataFrame
        Score rows (:func:`msk1model.scores.score_frame`) of stage ``test``.
    """
    risk = model.predict(X_test)
    rows: list[dict[str, Any]] = [
        {"metric": "harrell_c", "value": harrell_c(y_test, risk)},
        {
            "metric": "uno_c",
            "value": _safe("uno_c", lambda: uno_c(y_train, y_test, risk, tau=tau)),
        },
    ]
    clipped = clip_horizons(horizons, y_test, y_train)
    surv = model.predict_survival_function(X_test, clipped)
    per_horizon: dict[str, Callable[[], np.ndarray]] = {
        "auc": lambda: time_dependent_auc(y_train, y_test, risk, clipped).auc,
        "brier": lambda: brier_scores(y_train, y_test, surv, clipped),
        "ipa": lambda: ipa(y_train, y_test, surv, clipped),
    }
    for name, compute in per_horizon.items():
        values = _safe_array(name, compute, len(horizons))
        rows += [
            {"metric": name, "horizon": h, "value": float(v)}
            for h, v in zip(horizons, values, strict=True)
        ]
    for j, (h, t) in enumerate(zip(horizons, clipped, strict=True)):
        rows += _calibration(y_test, surv[:, j], float(t), h)
    rows.append(
        {
            "metric": "ibs",
            "value": _safe("ibs", lambda: _ibs(model, X_test, y_test, y_train, clipped)),
        }
    )
    rows += _d_calibration(model, X_test, y_test)
    return score_frame({"stage": "test", **row} for row in rows)


def _calibration(
    y: np.ndarray, surv: np.ndarray, horizon: float, configured: float
) -> list[dict[str, Any]]:
    label = horizon_label(configured)
    large = calibration_in_the_large(y, surv, horizon)
    smooth = _safe_call(lambda: integrated_calibration_index(y, surv, horizon), f"ici at {label}")
    nan = float("nan")
    values = {
        "calibration_oe": float(large.oe_ratio),
        "calibration_slope": _safe(
            f"calibration_slope at {label}", lambda: calibration_slope(y, surv)
        ),
        "ici": nan if smooth is None else float(smooth.ici),
        "e50": nan if smooth is None else float(smooth.e50),
        "e90": nan if smooth is None else float(smooth.e90),
    }
    return [{"metric": k, "horizon": configured, "value": v} for k, v in values.items()]


def _ibs(
    model: SurvivalModel,
    X_test: pd.DataFrame,
    y_test: np.ndarray,
    y_train: np.ndarray,
    clipped: np.ndarray,
) -> float:
    """IBS from the first test time to the last horizon."""
    grid = np.linspace(float(np.min(y_test["time"])), float(np.max(clipped)), IBS_GRID_POINTS)
    surv = model.predict_survival_function(X_test, grid)
    return integrated_brier_score(y_train, y_test, surv, grid)


def _d_calibration(
    model: SurvivalModel, X_test: pd.DataFrame, y_test: np.ndarray
) -> list[dict[str, Any]]:
    grid = np.linspace(0.0, float(np.max(y_test["time"])), DCAL_GRID_POINTS)
    result = _safe_call(
        lambda: d_calibration(y_test, model.predict_survival_function(X_test, grid), grid),
        "d_calibration",
    )
    stat, p = (float("nan"),) * 2 if result is None else (result.statistic, result.p_value)
    return [
        {"metric": "d_calibration", "statistic": "stat", "value": float(stat)},
        {"metric": "d_calibration", "statistic": "p", "value": float(p)},
    ]


def _safe(name: str, compute: Callable[[], float]) -> float:
    value = _safe_call(compute, name)
    return float("nan") if value is None else float(value)


def _safe_array(name: str, compute: Callable[[], np.ndarray], n: int) -> np.ndarray:
    value = _safe_call(compute, name)
    return np.full(n, np.nan) if value is None else np.asarray(value, dtype=float)


def _safe_call(compute: Callable[[], T], name: str) -> T | None:
    try:
        return compute()
    except EvaluationError as exc:
        warnings.warn(f"test-set {name} is undefined on this test set: {exc}", ScorecardWarning, 3)
        return None
