"""Benchmark of one bootstrap replicate of the test-set metrics: direct against presorted.

A run's bootstrap CIs (``report.n_bootstrap`` replicates) score every model's fixed test-set
predictions on each resample: Harrell's and Uno's C, the calibration slope, and the AUC, Brier
score and IPA at 3 and 5 years. On the synthetic cohort (a draw of ``n`` test patients and one of
``n`` training patients for the censoring estimate; the true linear predictor plus noise as the
risk, rounded to 3 decimals as boosted models' scores are; survival from the synthetic Weibull
baseline), at each ``--sizes`` n, in one process: the median over ``--repeats`` replicates of

- the direct computation on the replicate's rows (:func:`msk1model.evaluation.holdout.
  test_set_metrics`, what every replicate cost before), and
- :class:`msk1model.evaluation.presorted.PresortedMetrics`, which sorts the whole test set once
  and turns each replicate into index arithmetic on the patients' counts,

with the presorted set-up (once per model and run), the ratio, and the largest difference between
the two over the replicates (rounding: the tests hold them to 1e-12 on small sets). It asserts
nothing. Run
``.venv/bin/python benchmarks/bootstrap.py [--sizes 1000,10000,100000,250000] [--repeats 5]``;
250,000 is the test part of ``experiments/scale_1m.yaml``.
"""

from __future__ import annotations

import math
import statistics
import time
import warnings
from typing import Any

import numpy as np
from _timing import run

from msk1model.data.synthetic import (
    TRUE_LOG_HR,
    WEIBULL_SCALE,
    WEIBULL_SHAPE,
    design_matrix,
    make_synthetic_cohort,
)
from msk1model.evaluation import holdout
from msk1model.evaluation.presorted import PresortedMetrics
from msk1model.outcome import make_y

HORIZONS = (3.0, 5.0)


def _part(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    table = make_synthetic_cohort(n, seed=seed)
    lp = design_matrix(table).to_numpy() @ np.array(list(TRUE_LOG_HR.values()))
    return make_y(time=table["time"], event=table["event"]), lp


def measure(n: int, repeats: int, _: int, seed: int = 1) -> dict[str, Any]:
    """Seconds per replicate, direct and presorted, at ``n`` test patients."""
    y, lp = _part(n, seed)
    y_train, _ = _part(n, seed + 1)
    test = holdout.TestSet(y, y_train, HORIZONS, HORIZONS, tau=5.0)
    risk = np.round(lp + np.random.default_rng(seed).normal(0.0, 0.5, n), 3)
    cumulative = (np.asarray(HORIZONS) / WEIBULL_SCALE) ** WEIBULL_SHAPE
    survival = np.exp(-np.outer(np.exp(risk - risk.mean()), cumulative))
    start = time.perf_counter()
    presorted = PresortedMetrics(test, risk, survival)
    setup = time.perf_counter() - start
    rng = np.random.default_rng(seed + 2)
    direct_s, presorted_s, gap = [], [], 0.0
    for _ in range(repeats):
        rows = rng.integers(0, n, size=n)
        start = time.perf_counter()
        expected = holdout.test_set_metrics(test, risk, survival, rows)
        direct_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        got = presorted(rows)
        presorted_s.append(time.perf_counter() - start)
        gap = max([gap, *(abs(got[k] - v) for k, v in expected.items() if not math.isnan(v))])
    return {
        "n": n,
        "direct_s": statistics.median(direct_s),
        "presorted_s": statistics.median(presorted_s),
        "presorted_setup_s": setup,
        "max_abs_difference": gap,
    }


def _print(rows: list[dict[str, Any]]) -> None:
    head = ("n", 9), ("direct s", 10), ("presorted s", 12), ("set-up s", 9), ("ratio", 6)
    print(" ".join(f"{name:>{width}}" for name, width in head), f"{'max diff':>9}")
    for r in rows:
        print(
            f"{r['n']:>9} {r['direct_s']:>10.4f} {r['presorted_s']:>12.4f} "
            f"{r['presorted_setup_s']:>9.3f} {r['direct_s'] / r['presorted_s']:>5.1f}x "
            f"{r['max_abs_difference']:>9.1e}"
        )


def main(argv: list[str] | None = None) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the synthetic cohort's data warnings
        return run(
            __doc__ or "",
            measure,
            _print,
            peer_limit=0,
            out="benchmarks/results/bootstrap.json",
            argv=argv,
        )


if __name__ == "__main__":
    raise SystemExit(main())
