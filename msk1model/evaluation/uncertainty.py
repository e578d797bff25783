"""Test-set uncertainty of every model in a run: bootstrap CIs and paired added-value deltas.

One set of ``B`` seeded resamples of the test patients serves every model, so each model's
percentile CIs and the differences between models (clinical+biomarker minus clinical, per model
family) come from identical resamples: the deltas are paired. The predictions are fixed (the
models fitted on the training part); what varies is the test sample. Each model's test set is
sorted once, and each replicate scored from the counts of its patients
(:mod:`msk1model.evaluation.presorted`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from msk1model.evaluation.bootstrap import bootstrap_p_value, bootstrap_replicates, summarise
from msk1model.evaluation.holdout import MetricKey, TestSet, test_set_metrics
from msk1model.evaluation.presorted import PresortedMetrics
from msk1model.scores import metric_label

__all__ = ["ModelPredictions", "TestSet", "bootstrap_test_metrics", "test_set_metrics"]


@dataclass(frozen=True)
class ModelPredictions:
    """One fitted model's predictions for the test patients."""

    model: str
    feature_set: str
    risk: np.ndarray  # (n,), higher = higher risk
    survival: np.ndarray  # (n, n_horizons), S(h) at TestSet.horizons


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
    """Every model's metrics on one resample, from one sort of the test set per model
    (:mod:`msk1model.evaluation.presorted`); picklable for worker processes."""

    def __init__(self, test: TestSet, predictions: tuple[ModelPredictions, ...]) -> None:
        self.metrics = {_key(p): PresortedMetrics(test, p.risk, p.survival) for p in predictions}

    def __call__(self, rows: np.ndarray) -> Mapping[str, float]:
        out: dict[str, float] = {}
        for key, metrics in self.metrics.items():
            out.update({_name(key, metric): value for metric, value in metrics(rows).items()})
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
