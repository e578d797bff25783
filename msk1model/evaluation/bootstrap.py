"""Bootstrap uncertainty: percentile CIs and paired model comparisons of fixed predictions.

One seeded engine, :func:`bootstrap_replicates`, serves both and the optimism correction of
:mod:`msk1model.evaluation.optimism`. Replicate ``i`` of ``B`` draws its ``n`` rows with
replacement as ``rng.integers(0, n, size=n)`` from its own generator
``rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(B)[i])``, so a replicate is the
same whatever the number of workers and can be recomputed on its own. A replicate whose statistic is
undefined (an :class:`~msk1model.errors.EvaluationError` or
:class:`~msk1model.errors.ModelError`, or a non-finite value) is NaN for that metric; the
summaries exclude it, report how many replicates remain (``n_boot_valid``) and warn with a
:class:`BootstrapWarning`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from msk1model.errors import BootstrapWarning, EvaluationError, ModelError
from msk1model.evaluation._checks import check_y
from msk1model.outcome import make_y

__all__ = [
    "BootstrapWarning",
    "MetricFn",
    "Predictions",
    "bootstrap_metrics",
    "bootstrap_p_value",
    "bootstrap_replicates",
    "paired_bootstrap_deltas",
    "summarise",
]

#: Predictions of one model: one array, or named arrays (say ``risk`` (n,), ``surv`` (n, h)),
#: each with one row per patient along axis 0.
Predictions: TypeAlias = np.ndarray | Mapping[str, np.ndarray]
#: ``metric(y, predictions) -> value`` on one (resampled) test set; ``y`` is a structured
#: (event, time) array with :data:`~msk1model.outcome.OUTCOME_DTYPE`, shape (n,).
MetricFn: TypeAlias = Callable[[np.ndarray, Any], float]
#: ``statistic(rows) -> {metric: value}`` for the patients at ``rows`` (indices, shape (n,)).
Statistic: TypeAlias = Callable[[np.ndarray], Mapping[str, float]]
#: Errors that make a replicate undefined rather than the whole bootstrap fail.
UNDEFINED = (EvaluationError, ModelError)
#: Replicates per worker task: enough to amortise the task overhead, few enough to balance.
_CHUNKS_PER_WORKER = 4


def bootstrap_replicates(
    statistic: Statistic, n: int, *, n_boot: int = 200, seed: int = 0, n_jobs: int = 1
) -> pd.DataFrame:
    """Evaluate ``statistic`` on ``n_boot`` seeded resamples of ``n`` rows.

    Parameters
    ----------
    statistic
        ``statistic(rows) -> {metric: value}``; ``rows`` are the resampled row indices, shape
        (n,). It must be picklable by cloudpickle when ``n_jobs != 1`` (closures and lambdas are).
    n
        Number of patients (rows) to resample.
    n_boot
        Number of replicates ``B``.
    seed
        Root of the ``SeedSequence``; replicate ``i`` uses child ``i`` of ``spawn(B)``.
    n_jobs
        Worker processes (joblib, loky backend; -1 for all cores); 1 runs in this process. The
        result does not depend on it.

    Returns
    -------
    DataFrame, shape (n_boot, n_metrics)
        One row per replicate (index 0..B-1), one column per metric; NaN where undefined.
    """
    _check_int("n", n, 1)
    _check_int("n_boot", n_boot, 1)
    if not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0:
        raise EvaluationError(
            f"n_jobs must be a non-zero integer (1: this process, -1: all cores), but got "
            f"{n_jobs!r}. Fix: e.g. n_jobs=1"
        )
    children = list(enumerate(np.random.SeedSequence(seed).spawn(n_boot)))
    rows = (
        _run_chunk(statistic, children, n)
        if n_jobs == 1
        else _run_parallel(statistic, children, n, n_jobs)
    )
    table = pd.DataFrame.from_records(rows, index=pd.RangeIndex(n_boot, name="replicate"))
    return table.astype(float)


def _run_parallel(
    statistic: Statistic,
    children: list[tuple[int, np.random.SeedSequence]],
    n: int,
    n_jobs: int,
) -> list[dict[str, float]]:
    """:func:`_run_chunk` over chunks in loky worker processes, results in replicate order."""
    from joblib import Parallel, delayed, effective_n_jobs  # only parallel runs need it

    size = -(-len(children) // (effective_n_jobs(n_jobs) * _CHUNKS_PER_WORKER))
    chunks = [children[i : i + size] for i in range(0, len(children), size)]
    parts = Parallel(n_jobs=n_jobs, backend="loky")(
        delayed(_run_chunk)(statistic, chunk, n) for chunk in chunks
    )
    return [row for part in parts for row in part]


def _run_chunk(
    statistic: Statistic, children: list[tuple[int, np.random.SeedSequence]], n: int
) -> list[dict[str, float]]:
    """Replicates ``children`` (index, seed sequence) in order; undefined values become NaN."""
    out = []
    for _, child in children:
        rows = np.random.default_rng(child).integers(0, n, size=n)
        try:
            values = {k: float(v) for k, v in statistic(rows).items()}
        except UNDEFINED:
            values = {}
        out.append({k: (v if np.isfinite(v) else np.nan) for k, v in values.items()})
    return out


def bootstrap_metrics(
    y: npt.ArrayLike,
    predictions: Predictions,
    metric_fns: Mapping[str, MetricFn],
    *,
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Percentile bootstrap CIs of test-set metrics of fixed predictions (patients resampled).

    The model is not refitted: this is the uncertainty of the test-set estimate given the model.

    Parameters
    ----------
    y : structured array, shape (n,)
        Test outcome, fields (event, time in years).
    predictions : ndarray or mapping of str to ndarray
        One array or named arrays, each with one row per patient along axis 0 (e.g. risk (n,)
        and survival at the horizons (n, n_times)); resampled rows are passed on in the same form.
    metric_fns : mapping of str to callable
        ``name -> metric(y, predictions) -> float``, ``y`` the (resampled) outcome as
        :func:`msk1model.outcome.make_y` builds it. A metric raising
        ``EvaluationError`` on the full sample raises; on a replicate, that replicate is left out.
    n_boot, seed, n_jobs
        As in :func:`bootstrap_replicates`.
    level
        Confidence level of the percentile interval, in (0, 1).

    Returns
    -------
    DataFrame
        One row per metric: ``metric``, ``estimate`` (full sample), ``lower``, ``upper``
        (percentile CI), ``se`` (SD of the replicates, ddof 1) and ``n_boot_valid``.
    """
    _check_level(level)
    y_checked, preds = _check_inputs(y, {"predictions": predictions})
    fns = dict(metric_fns)
    estimate = {name: float(fn(y_checked, preds["predictions"])) for name, fn in fns.items()}
    reps = bootstrap_replicates(
        _MetricStatistic(y_checked, preds["predictions"], fns),
        len(y_checked),
        n_boot=n_boot,
        seed=seed,
        n_jobs=n_jobs,
    )
    rows = [
        {"metric": k, "estimate": v, **summarise(_column(reps, k), level)}
        for k, v in estimate.items()
    ]
    _warn_invalid(rows, n_boot)
    return pd.DataFrame(
        rows, columns=["metric", "estimate", "lower", "upper", "se", "n_boot_valid"]
    )


def paired_bootstrap_deltas(
    y: npt.ArrayLike,
    predictions_base: Predictions,
    predictions_new: Predictions,
    metric_fns: Mapping[str, MetricFn],
    *,
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Bootstrap the difference ``new - base`` of each metric on the same resampled patients.

    Both models are scored on identical resamples, so the CI reflects the paired comparison
    (e.g. clinical vs clinical + MSK1 on one test set). Arguments as in :func:`bootstrap_metrics`.

    Returns
    -------
    DataFrame
        One row per metric: ``metric``, ``estimate_base``, ``estimate_new``, ``delta`` (full
        sample, new - base), ``lower``, ``upper`` (percentile CI of the delta), ``se``,
        ``p_value`` and ``n_boot_valid`` (replicates where both models' metric is defined). The
        two-sided bootstrap p-value is ``2 * min(share of deltas <= 0, share >= 0)``, capped at 1
        and floored at ``1 / (n_boot_valid + 1)``, the smallest a bootstrap of that size can
        resolve. Whether higher is better depends on the metric (C: yes, Brier: no).
    """
    _check_level(level)
    y_checked, preds = _check_inputs(
        y, {"predictions_base": predictions_base, "predictions_new": predictions_new}
    )
    fns = dict(metric_fns)
    base = _MetricStatistic(y_checked, preds["predictions_base"], fns)
    new = _MetricStatistic(y_checked, preds["predictions_new"], fns)
    reps = bootstrap_replicates(
        _DeltaStatistic(base, new), len(y_checked), n_boot=n_boot, seed=seed, n_jobs=n_jobs
    )
    rows = []
    for name, fn in fns.items():
        est_base = float(fn(y_checked, base.predictions))
        est_new = float(fn(y_checked, new.predictions))
        deltas = _column(reps, name)
        rows.append(
            {
                "metric": name,
                "estimate_base": est_base,
                "estimate_new": est_new,
                "delta": est_new - est_base,
                **summarise(deltas, level),
                "p_value": bootstrap_p_value(deltas),
            }
        )
    _warn_invalid(rows, n_boot)
    columns = [
        "metric",
        "estimate_base",
        "estimate_new",
        "delta",
        "lower",
        "upper",
        "se",
        "p_value",
        "n_boot_valid",
    ]
    return pd.DataFrame(rows, columns=columns)


def _or_nan(compute: Callable[..., float], *args: Any) -> float:
    """``compute(*args)``, or NaN where the metric is undefined (``EvaluationError``)."""
    try:
        return float(compute(*args))
    except EvaluationError:
        return np.nan


class _MetricStatistic:
    """``rows -> {metric: value}`` of fixed predictions; a metric's ``EvaluationError`` is NaN."""

    def __init__(self, y: np.ndarray, predictions: Predictions, fns: dict[str, MetricFn]) -> None:
        self.y, self.predictions, self.fns = y, predictions, fns

    def __call__(self, rows: np.ndarray) -> dict[str, float]:
        y, p = self.y[rows], _take(self.predictions, rows)
        return {name: _or_nan(fn, y, p) for name, fn in self.fns.items()}


class _DeltaStatistic:
    """``rows -> {metric: new - base}`` on the same rows for both models."""

    def __init__(self, base: _MetricStatistic, new: _MetricStatistic) -> None:
        self.base, self.new = base, new

    def __call__(self, rows: np.ndarray) -> dict[str, float]:
        base, new = self.base(rows), self.new(rows)
        return {name: new[name] - base[name] for name in base}


def _take(predictions: Predictions, rows: np.ndarray) -> Predictions:
    if isinstance(predictions, Mapping):
        return {name: values[rows] for name, values in predictions.items()}
    return predictions[rows]


def _check_inputs(
    y: npt.ArrayLike, predictions: dict[str, Predictions]
) -> tuple[np.ndarray, dict[str, Predictions]]:
    """Checked outcome (as ``make_y`` builds it), and every prediction array as ndarray with
    one row per patient."""
    t, e = check_y(y)
    checked = {name: _check_predictions(p, len(t), name) for name, p in predictions.items()}
    return make_y(time=t, event=e), checked


def _check_predictions(predictions: Predictions, n: int, name: str) -> Predictions:
    arrays = predictions if isinstance(predictions, Mapping) else {"": predictions}
    checked = {key: np.asarray(values) for key, values in arrays.items()}
    for key, values in checked.items():
        if values.ndim == 0 or len(values) != n:
            label = f"{name}[{key!r}]" if key else name
            raise EvaluationError(
                f"{label} must have one row per patient (axis 0 of length {n}), but has shape "
                f"{values.shape}. Fix: predict for exactly the test patients, in their order"
            )
    return checked if isinstance(predictions, Mapping) else checked[""]


def _column(reps: pd.DataFrame, name: str) -> np.ndarray:
    """Replicates of one metric; all NaN if no replicate defined it."""
    if name in reps.columns:
        return reps[name].to_numpy(dtype=float)
    return np.full(len(reps), np.nan)


def summarise(values: np.ndarray, level: float) -> dict[str, Any]:
    """Percentile CI, bootstrap SE (ddof 1) and count of the finite replicates."""
    valid = values[np.isfinite(values)]
    alpha = (1.0 - level) / 2.0
    lower, upper = np.quantile(valid, [alpha, 1.0 - alpha]) if len(valid) else (np.nan, np.nan)
    se = float(valid.std(ddof=1)) if len(valid) > 1 else np.nan
    return {"lower": float(lower), "upper": float(upper), "se": se, "n_boot_valid": len(valid)}


def bootstrap_p_value(deltas: np.ndarray) -> float:
    """Two-sided bootstrap p-value of ``delta = 0``, floored at ``1 / (B_valid + 1)``."""
    valid = deltas[np.isfinite(deltas)]
    if not len(valid):
        return np.nan
    share = min(float(np.mean(valid <= 0)), float(np.mean(valid >= 0)))
    return max(min(1.0, 2.0 * share), 1.0 / (len(valid) + 1))


def _warn_invalid(rows: Sequence[Mapping[str, Any]], n_boot: int) -> None:
    short = {
        row["metric"]: n_boot - row["n_boot_valid"] for row in rows if row["n_boot_valid"] < n_boot
    }
    if short:
        warnings.warn(
            f"bootstrap replicates with an undefined metric were left out (metric: count of "
            f"{n_boot}): {short}; the summaries use the rest (column n_boot_valid)",
            BootstrapWarning,
            stacklevel=3,
        )


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise EvaluationError(
            f"level must be a confidence level in (0, 1), but got {level!r}. Fix: e.g. 0.95"
        )


def _check_int(name: str, value: int, minimum: int) -> None:
    if not isinstance(value, (int, np.integer)) or value < minimum:
        raise EvaluationError(
            f"{name} must be an integer >= {minimum}, but got {value!r}. Fix: pass a count"
        )
