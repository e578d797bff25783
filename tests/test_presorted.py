"""The presorted bootstrap metrics equal the direct computation on each replicate's rows.

(``holdout`` is imported as a module: pytest would collect ``test_set_metrics`` and ``TestSet``.)
"""

from __future__ import annotations

import math
import warnings
from collections import Counter

import numpy as np
import pytest

from msk1model.evaluation import holdout
from msk1model.evaluation.bootstrap import bootstrap_replicates
from msk1model.evaluation.horizons import HorizonWarning, clip_horizons
from msk1model.evaluation.presorted import PresortedMetrics
from msk1model.evaluation.uncertainty import ModelPredictions, bootstrap_test_metrics
from msk1model.outcome import make_y


def cohort(n: int, seed: int, *, step: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Outcome and linear predictor of a seeded exponential cohort; times rounded to ``step``
    years (ties in time) when it is positive."""
    rng = np.random.default_rng(seed)
    lp = rng.normal(size=n)
    event_time = rng.exponential(8.0 * np.exp(-0.7 * lp))
    censor_time = rng.uniform(1.0, 12.0, size=n)
    time = np.minimum(event_time, censor_time)
    if step:
        time = np.maximum(np.round(time / step) * step, step)
    return make_y(time=time, event=event_time <= censor_time), lp


def holdout_of(
    n: int, seed: int, horizons: tuple[float, ...], step: float = 0.0
) -> holdout.TestSet:
    y_train, _ = cohort(600, seed + 1, step=step)
    y, _ = cohort(n, seed, step=step)
    return holdout.TestSet(y, y_train, horizons, horizons, tau=10.0)


def predictions(test: holdout.TestSet, seed: int, *, digits: int | None = None):
    """Risk from the cohort's own linear predictor plus noise (rounded to ``digits`` for
    ties), survival ``exp(-0.1 t exp(risk))`` at the horizons."""
    _, lp = cohort(len(test.y), seed)
    risk = 0.7 * lp + np.random.default_rng(seed + 7).normal(scale=0.5, size=len(lp))
    if digits is not None:
        risk = np.round(risk, digits)
    survival = np.exp(-0.1 * np.outer(np.exp(risk), np.asarray(test.clipped)))
    return risk, survival


def assert_same(fast: dict, direct: dict) -> None:
    assert list(fast) == list(direct)
    for key, value in direct.items():
        if math.isnan(value):
            assert math.isnan(fast[key]), key
        else:
            assert fast[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key


def draws(n: int, n_boot: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, n, size=n) for _ in range(n_boot)]


@pytest.mark.parametrize(
    ("n", "step", "digits"),
    [(300, 0.0, None), (300, 0.25, 1), (120, 0.5, 0)],
    ids=["continuous", "tied-times-and-risks", "heavy-ties"],
)
def test_each_replicate_equals_the_direct_metrics(n: int, step: float, digits: int | None) -> None:
    test = holdout_of(n, 3, (3.0, 5.0), step=step)
    risk, survival = predictions(test, 3, digits=digits)
    metrics = PresortedMetrics(test, risk, survival)
    assert_same(metrics(np.arange(n)), holdout.test_set_metrics(test, risk, survival))
    for rows in draws(n, 25, 11):
        assert_same(metrics(rows), holdout.test_set_metrics(test, risk, survival, rows))


def test_small_replicates_undefined_or_clipped_elsewhere_match_too() -> None:
    """12 patients and a horizon near the end of follow-up: some replicates have no case at a
    horizon (NaN), and some a follow-up that ends before it (computed directly)."""
    test = holdout_of(12, 5, (2.0, 6.0), step=0.5)
    clipped = tuple(float(h) for h in clip_horizons([2.0, 6.0], test.y, test.y_train))
    test = holdout.TestSet(test.y, test.y_train, (2.0, 6.0), clipped, tau=10.0)
    risk, survival = predictions(test, 5, digits=1)
    metrics = PresortedMetrics(test, risk, survival)
    seen = Counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HorizonWarning)  # the direct replicates clip
        for rows in draws(12, 200, 13):
            direct = holdout.test_set_metrics(test, risk, survival, rows)
            assert_same(metrics(rows), direct)
            seen["undefined"] += any(math.isnan(v) for v in direct.values())
            seen[metrics._follow_up(np.bincount(rows, minlength=12), metrics._timed)] += 1
    assert seen["undefined"] > 0 and seen["moved"] > 0 and seen["same"] > 150, seen


def test_non_finite_risk_falls_back_to_the_direct_metrics() -> None:
    test = holdout_of(80, 8, (3.0,))
    risk, survival = predictions(test, 8)
    risk[4] = np.nan
    metrics = PresortedMetrics(test, risk, survival)
    for rows in draws(80, 10, 17):
        assert_same(metrics(rows), holdout.test_set_metrics(test, risk, survival, rows))


def test_bootstrap_intervals_equal_those_of_the_direct_statistic() -> None:
    test = holdout_of(200, 21, (3.0, 5.0), step=0.1)
    risk, survival = predictions(test, 21, digits=2)
    model = ModelPredictions("coxph", "clinical", risk, survival)
    intervals, _ = bootstrap_test_metrics(test, [model], n_boot=40, seed=4)

    def direct(rows: np.ndarray) -> dict[str, float]:
        values = holdout.test_set_metrics(test, risk, survival, rows)
        return {f"{k[0]}|{k[1]}": v for k, v in values.items()}

    replicates = bootstrap_replicates(direct, len(test.y), n_boot=40, seed=4)
    uno = replicates["uno_c|None"].to_numpy()
    row = intervals.set_index("metric").loc["uno_c"]
    assert row["lower"] == pytest.approx(np.quantile(uno, 0.025), rel=1e-12)
    assert row["upper"] == pytest.approx(np.quantile(uno, 0.975), rel=1e-12)
    assert row["se"] == pytest.approx(uno.std(ddof=1), rel=1e-9)
