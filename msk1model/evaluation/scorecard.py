"""Every test-set metric of one fitted model, as a flat ``{name: value}`` dict for MLflow.

Names (``H`` is a configured horizon written as ``5y``): ``test_harrell_c``, ``test_uno_c``,
``test_auc_H``, ``test_brier_H``, ``test_ipa_H``, ``test_calibration_oe_H``,
``test_calibration_slope_H``, ``test_ici_H``, ``test_e50_H``, ``test_e90_H``, ``test_ibs``,
``test_d_calibration_stat`` and ``test_d_calibration_p``. A metric that is undefined on this test
set (say, no event before a horizon) is NaN with a :class:`ScorecardWarning`, so one gap never
loses a run.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TypeVar

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

__all__ = ["ScorecardWarning", "horizon_label", "score_test_set"]

T = TypeVar("T")
IBS_GRID_POINTS = 100
DCAL_GRID_POINTS = 200


def horizon_label(horizon: float) -> str:
    """``5.0`` -> ``'5y'``: the suffix of per-horizon metric names."""
    return f"{horizon:g}y"


def score_test_set(
    model: SurvivalModel,
    X_test: pd.DataFrame,
    train_time: np.ndarray,
    train_event: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    horizons: list[float],
    tau: float,
) -> dict[str, float]:
    """Discrimination, overall accuracy and calibration of ``model`` on the test part.

    Parameters
    ----------
    model
        A fitted model; ``X_test`` its features for the test patients.
    train_time, train_event
        Training follow-up (years) and events: the censoring distribution for the IPCW metrics.
    time, event
        Test follow-up (years) and events, shape (n,).
    horizons
        Evaluation horizons in years; any beyond follow-up is clipped (``HorizonWarning``) and
        the metric keeps the configured horizon's name.
    tau
        Truncation time of Uno's C, years.
    """
    risk = model.predict(X_test)
    out = {
        "test_harrell_c": harrell_c(time, event, risk),
        "test_uno_c": _safe(
            "test_uno_c", lambda: uno_c(train_time, train_event, time, event, risk, tau)
        ),
    }
    clipped = clip_horizons(horizons, time, train_time)
    surv = model.predict_survival_function(X_test, clipped)
    args = (train_time, train_event, time, event)
    per_horizon: dict[str, Callable[[], np.ndarray]] = {
        "auc": lambda: time_dependent_auc(*args, risk, clipped).auc,
        "brier": lambda: brier_scores(*args, surv, clipped),
        "ipa": lambda: ipa(*args, surv, clipped),
    }
    for name, compute in per_horizon.items():
        values = _safe_array(f"test_{name}", compute, len(horizons))
        out.update(
            {
                f"test_{name}_{horizon_label(h)}": float(v)
                for h, v in zip(horizons, values, strict=True)
            }
        )
    for j, (h, t) in enumerate(zip(horizons, clipped, strict=True)):
        out.update(_calibration(time, event, surv[:, j], float(t), horizon_label(h)))
    out["test_ibs"] = _safe("test_ibs", lambda: _ibs(model, X_test, *args, clipped))
    out.update(_d_calibration(model, X_test, time, event))
    return out


def _calibration(
    time: np.ndarray, event: np.ndarray, surv: np.ndarray, horizon: float, label: str
) -> dict[str, float]:
    large = calibration_in_the_large(time, event, surv, horizon)
    smooth = _safe_call(
        lambda: integrated_calibration_index(time, event, surv, horizon), f"test_ici_{label}"
    )
    nan = float("nan")
    return {
        f"test_calibration_oe_{label}": float(large.oe_ratio),
        f"test_calibration_slope_{label}": _safe(
            f"test_calibration_slope_{label}", lambda: calibration_slope(time, event, surv)
        ),
        f"test_ici_{label}": nan if smooth is None else float(smooth.ici),
        f"test_e50_{label}": nan if smooth is None else float(smooth.e50),
        f"test_e90_{label}": nan if smooth is None else float(smooth.e90),
    }


def _ibs(
    model: SurvivalModel,
    X_test: pd.DataFrame,
    train_time: np.ndarray,
    train_event: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    clipped: np.ndarray,
) -> float:
    """IBS from the first test time to the last horizon."""
    grid = np.linspace(float(np.min(time)), float(np.max(clipped)), IBS_GRID_POINTS)
    surv = model.predict_survival_function(X_test, grid)
    return integrated_brier_score(train_time, train_event, time, event, surv, grid)


def _d_calibration(
    model: SurvivalModel, X_test: pd.DataFrame, time: np.ndarray, event: np.ndarray
) -> dict[str, float]:
    grid = np.linspace(0.0, float(np.max(time)), DCAL_GRID_POINTS)
    result = _safe_call(
        lambda: d_calibration(time, event, model.predict_survival_function(X_test, grid), grid),
        "test_d_calibration",
    )
    if result is None:
        return {"test_d_calibration_stat": float("nan"), "test_d_calibration_p": float("nan")}
    return {
        "test_d_calibration_stat": float(result.statistic),
        "test_d_calibration_p": float(result.p_value),
    }


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
        warnings.warn(f"{name} is undefined on this test set: {exc}", ScorecardWarning, 3)
        return None
