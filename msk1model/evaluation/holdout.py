"""The headline metrics of one model's fixed predictions on the test patients.

Harrell's and Uno's C, and at each horizon the cumulative/dynamic AUC, Brier score and IPA; the
calibration slope at the last horizon. :func:`test_set_metrics` computes them for the whole test
set or for a bootstrap replicate's rows; :mod:`msk1model.evaluation.presorted` computes the same
values for many replicates from one sort of the whole test set.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from msk1model.errors import EvaluationError, ModelError
from msk1model.evaluation.calibration import calibration_slope
from msk1model.evaluation.metrics import harrell_c, uno_c
from msk1model.evaluation.timedep import brier_scores, ipa, time_dependent_auc

__all__ = [
    "MetricKey",
    "TestSet",
    "per_horizon_keys",
    "safe_metric",
    "safe_metrics",
    "test_set_metrics",
]


@dataclass(frozen=True)
class TestSet:
    """Test outcome ``y``, the training outcome ``y_train`` (censoring distribution) and the
    horizons, years."""

    y: np.ndarray  # structured (event, time), see msk1model.outcome
    y_train: np.ndarray
    horizons: tuple[float, ...]  # as configured (names); ``clipped`` are the ones evaluated
    clipped: tuple[float, ...]
    tau: float


#: A test-set metric: its name and its horizon in years (None: no horizon).
MetricKey = tuple[str, float | None]


def test_set_metrics(
    test: TestSet, risk: np.ndarray, survival: np.ndarray, rows: np.ndarray | None = None
) -> dict[MetricKey, float]:
    """Headline metrics of one model on the test patients ``rows`` (all when None).

    Harrell's and Uno's C, and at each horizon the cumulative/dynamic AUC, Brier score and IPA;
    the calibration slope at the last horizon. An undefined metric is NaN. Keys are
    ``(metric, configured horizon or None)``.
    """
    rows = np.arange(len(test.y)) if rows is None else rows
    y, r, s = test.y[rows], risk[rows], survival[rows]
    h = list(test.clipped)
    out: dict[MetricKey, float] = {
        ("harrell_c", None): safe_metric(lambda: harrell_c(y, r)),
        ("uno_c", None): safe_metric(lambda: uno_c(test.y_train, y, r, tau=test.tau)),
        ("calibration_slope", test.horizons[-1]): safe_metric(
            lambda: calibration_slope(y, s[:, -1])
        ),
    }
    per_horizon: dict[str, Callable[[], np.ndarray]] = {
        "auc": lambda: time_dependent_auc(test.y_train, y, r, h).auc,
        "brier": lambda: brier_scores(test.y_train, y, s, h),
        "ipa": lambda: ipa(test.y_train, y, s, h),
    }
    for name, compute in per_horizon.items():
        out.update(per_horizon_keys(test, name, safe_metrics(compute, len(h))))
    return out


def per_horizon_keys(test: TestSet, name: str, values: list[float]) -> dict[MetricKey, float]:
    """``{(name, configured horizon): value}`` for one value per horizon."""
    return {(name, hz): v for hz, v in zip(test.horizons, values, strict=True)}


def safe_metric(compute: Callable[[], float]) -> float:
    """``compute()``, or NaN where the metric is undefined (an evaluation or model error, or a
    non-finite value)."""
    try:
        value = float(compute())
    except (EvaluationError, ModelError):
        return math.nan
    return value if math.isfinite(value) else math.nan


def safe_metrics(compute: Callable[[], np.ndarray], n: int) -> list[float]:
    """:func:`safe_metric` of a metric with ``n`` values (one per horizon): all NaN when it
    raises, and each non-finite value NaN."""
    try:
        values = np.asarray(compute(), dtype=float)
    except (EvaluationError, ModelError):
        return [math.nan] * n
    return [float(v) if np.isfinite(v) else math.nan for v in values]
