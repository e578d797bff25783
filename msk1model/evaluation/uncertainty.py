"""Test-set uncertainty of every model in a run: bootstrap CIs and paired added-value deltas.

One set of ``B`` seeded resamples of the test patients serves every model, so each model's
percentile CIs and the differences between models (clinical+biomarker minus clinical, per model
family) come from identical resamples: the deltas are paired. The predictions are fixed (the
models fitted on the training part); what varies is the test sample.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from msk1model.errors import EvaluationError, ModelError
from msk1model.evaluation.bootstrap import bootstrap_p_value, bootstrap_replicates, summarise
from msk1model.evaluation.calibration import calibration_slope
from msk1model.evaluation.metrics import harrell_c, uno_c
from msk1model.evaluation.timedep import brier_scores, ipa, time_dependent_auc
from msk1model.scores import metric_label

__all__ = ["ModelPredictions", "TestSet", "bootstrap_test_metrics", "test_set_metrics"]


@dataclass(frozen=True)
class ModelPredictions:
    """One fitted model's predictions for the test patients."""

    model: str
    feature_set: str
    risk: np.ndarray  # (n,), higher = higher risk
    survival: np.ndarray  # (n, n_horizons), S(h) at TestSet.horizons


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
        ("harrell_c", None): _safe(lambda: harrell_c(y, r)),
        ("uno_c", None): _safe(lambda: uno_c(test.y_train, y, r, tau=test.tau)),
        ("calibration_slope", test.horizons[-1]): _safe(lambda: calibration_slope(y, s[:, -1])),
    }
    per_horizon: dict[str, Callable[[], np.ndarray]] = {
        "auc": lambda: time_dependent_auc(test.y_train, y, r, h).auc,
        "brier": lambda: brier_scores(test.y_train, y, s, h),
        "ipa": lambda: ipa(test.y_train, y, s, h),
    }
    for name, compute in per_horizon.items():
        values = _safe_array(compute, len(h))
        out.update({(name, hz): v for hz, v in zip(test.horizons, values, strict=True)})
    return out


def bootstrap_test_metrics(
    test: TestSet,
    predictions: Sequence[ModelPredictions],
    *,
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
    n_jobs: int = 1,
    baseline: str = "clinical",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Percentile CIs of every model's metrics and paired deltas against ``baseline``.

    Returns
    -------
    intervals : DataFrame
        ``model``, ``feature_set``, ``metric`` (label, e.g. ``auc_5y``), ``estimate`` (full test
        set), ``lower``, ``upper``, ``se``, ``n_boot_valid``, then ``measure`` (``auc``) and
        ``horizon`` (years, NaN for none).
    deltas : DataFrame
        Per model family and metric, the feature set compared with ``baseline``: ``model``,
        ``feature_set``, ``metric``, ``baseline``, ``estimate``, ``delta``, ``lower``,
        ``upper``, ``p_value`` (two-sided bootstrap), ``n_boot_valid``, ``measure``,
        ``horizon``.
    """
    keys = {_key(p): p for p in predictions}
    replicates = bootstrap_replicates(
        _Statistic(test, tuple(predictions)),
        len(test.y),
        n_boot=n_boot,
        seed=seed,
        n_jobs=n_jobs,
    )
    full = {k: test_set_metrics(test, p.risk, p.survival) for k, p in keys.items()}
    intervals = [
        {
            "model": p.model,
            "feature_set": p.feature_set,
            "metric": metric_label(*metric),
            "estimate": value,
            **summarise(_column(replicates, _name(key, metric)), level),
            **_measure(metric),
        }
        for key, p in keys.items()
        for metric, value in full[key].items()
    ]
    deltas = []
    for key, p in keys.items():
        base_key = f"{p.model}|{baseline}"
        if p.feature_set == baseline or base_key not in keys:
            continue
        for metric, value in full[key].items():
            diff = _column(replicates, _name(key, metric)) - _column(
                replicates, _name(base_key, metric)
            )
            summary = summarise(diff, level)
            deltas.append(
                {
                    "model": p.model,
                    "feature_set": p.feature_set,
                    "metric": metric_label(*metric),
                    "baseline": full[base_key][metric],
                    "estimate": value,
                    "delta": value - full[base_key][metric],
                    "lower": summary["lower"],
                    "upper": summary["upper"],
                    "p_value": bootstrap_p_value(diff),
                    "n_boot_valid": summary["n_boot_valid"],
                    **_measure(metric),
                }
            )
    return pd.DataFrame(intervals), pd.DataFrame(deltas)


class _Statistic:
    """Every model's metrics on one resample (picklable for worker processes)."""

    def __init__(self, test: TestSet, predictions: tuple[ModelPredictions, ...]) -> None:
        self.test, self.predictions = test, predictions

    def __call__(self, rows: np.ndarray) -> Mapping[str, float]:
        out: dict[str, float] = {}
        for p in self.predictions:
            metrics = test_set_metrics(self.test, p.risk, p.survival, rows)
            out.update({_name(_key(p), metric): value for metric, value in metrics.items()})
        return out


def _key(p: ModelPredictions) -> str:
    return f"{p.model}|{p.feature_set}"


def _name(key: str, metric: MetricKey) -> str:
    """Column of one model's metric in the replicates table."""
    return f"{key}|{metric_label(*metric)}"


def _measure(metric: MetricKey) -> dict[str, object]:
    name, horizon = metric
    return {"measure": name, "horizon": math.nan if horizon is None else float(horizon)}


def _column(replicates: pd.DataFrame, name: str) -> np.ndarray:
    if name in replicates.columns:
        return replicates[name].to_numpy(dtype=float)
    return np.full(len(replicates), np.nan)


def _safe(compute: Callable[[], float]) -> float:
    try:
        value = float(compute())
    except (EvaluationError, ModelError):
        return math.nan
    return value if math.isfinite(value) else math.nan


def _safe_array(compute: Callable[[], np.ndarray], n: int) -> list[float]:
    try:
        values = np.asarray(compute(), dtype=float)
    except (EvaluationError, ModelError):
        return [math.nan] * n
    return [float(v) if np.isfinite(v) else math.nan for v in values]
