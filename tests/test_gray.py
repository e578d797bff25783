"""Gray's test (msk1model.evaluation.gray): the log-rank test without competing events, its own
formulas written out as loops over times and groups, and its size under the null."""

from __future__ import annotations

import numpy as np
import pytest
from lifelines.statistics import logrank_test, multivariate_logrank_test

from msk1model.errors import EvaluationError
from msk1model.evaluation.gray import gray_test


def _competing(seed: int, n: int = 200, k: int = 2, tied: bool = True):
    rng = np.random.default_rng(seed)
    group = rng.integers(0, k, n)
    t1 = rng.exponential(np.where(group == 1, 4.0, 5.0))
    t2 = rng.exponential(np.where(group == 0, 3.0, 6.0))
    c = rng.uniform(0.5, 10.0, n)
    time = np.minimum.reduce([t1, t2, c])
    codes = np.select([time == t1, time == t2], [1, 2], 0)
    return (np.round(time, 1) + 0.1 if tied else time), codes, group


@pytest.mark.parametrize("k", [2, 3])
def test_without_competing_events_it_is_the_log_rank_test(k: int) -> None:
    time, codes, group = _competing(k, n=300, k=k)
    event = codes == 1  # the competing events become censorings: no competing event is left
    ours = gray_test(time, event.astype(int), group)
    if k == 2:
        peer = logrank_test(
            time[group == 0], time[group == 1], event[group == 0], event[group == 1]
        )
    else:
        peer = multivariate_logrank_test(time, group, event)
    assert ours.statistic == pytest.approx(peer.test_statistic, rel=1e-10)
    assert ours.p_value == pytest.approx(peer.p_value, rel=1e-8)
    assert ours.df == k - 1


def _written_out(time, codes, group):
    """The module's formulas, one time and one group at a time."""
    times = np.unique(time)
    labels = np.unique(group)
    k = len(labels)
    y = np.array([[np.sum((time >= t) & (group == g)) for g in labels] for t in times], float)
    d1 = np.array([[np.sum((time == t) & (group == g) & (codes == 1)) for g in labels]
                   for t in times], float)  # fmt: skip
    d2 = np.array([[np.sum((time == t) & (group == g) & (codes == 2)) for g in labels]
                   for t in times], float)  # fmt: skip
    n_t = len(times)
    s_before, f1_before, f2_before = np.ones((n_t, k)), np.zeros((n_t, k)), np.zeros((n_t, k))
    for g in range(k):
        s, f1, f2 = 1.0, 0.0, 0.0
        for j in range(n_t):
            s_before[j, g], f1_before[j, g], f2_before[j, g] = s, f1, f2
            if y[j, g] > 0:
                f1 += s * d1[j, g] / y[j, g]
                f2 += s * d2[j, g] / y[j, g]
                s *= 1 - (d1[j, g] + d2[j, g]) / y[j, g]
    r = np.zeros((n_t, k))
    for j in range(n_t):
        for g in range(k):
            if y[j, g] > 0:
                r[j, g] = y[j, g] * (1 - f1_before[j, g]) / s_before[j, g]
    gamma = np.array([d1[j].sum() / r[j].sum() if r[j].sum() > 0 else 0.0 for j in range(n_t)])
    f = 1 - np.cumprod(1 - gamma)
    score = np.array([sum(d1[j, i] - r[j, i] * gamma[j] for j in range(n_t)) for i in range(k - 1)])

    def big_a(j, i, g):
        return r[j, i] * ((i == g) - r[j, g] / r[j].sum()) if r[j].sum() > 0 else 0.0

    var = np.zeros((k - 1, k - 1))
    for i in range(k - 1):
        for i2 in range(k - 1):
            total = 0.0
            for j in range(n_t):
                rt, dt = r[j].sum(), d1[j].sum()
                for g in range(k):
                    d_i = sum(big_a(m, i, g) * gamma[m] / (1 - f[m]) for m in range(j + 1, n_t))
                    d_i2 = sum(big_a(m, i2, g) * gamma[m] / (1 - f[m]) for m in range(j + 1, n_t))
                    a_i = a_i2 = b_i = b_i2 = 0.0
                    if r[j, g] > 0:
                        a_i = big_a(j, i, g) / r[j, g] - d_i * f2_before[j, g] / y[j, g]
                        a_i2 = big_a(j, i2, g) / r[j, g] - d_i2 * f2_before[j, g] / y[j, g]
                    if y[j, g] > 0:
                        b_i, b_i2 = -d_i * (1 - f[j]) / y[j, g], -d_i2 * (1 - f[j]) / y[j, g]
                    ties = (rt - dt) / (rt - 1) if rt > 1 else 1.0
                    total += a_i * a_i2 * r[j, g] * gamma[j] * ties
                    if y[j, g] > 0:
                        total += b_i * b_i2 * d2[j, g] * (y[j, g] - d2[j, g]) / y[j, g]
            var[i, i2] = total
    return score, var


@pytest.mark.parametrize(("seed", "k", "tied"), [(0, 2, True), (1, 3, False)])
def test_score_and_variance_equal_the_formulas_written_out(seed: int, k: int, tied: bool) -> None:
    time, codes, group = _competing(seed, n=60, k=k, tied=tied)
    ours = gray_test(time, codes, group)
    score, variance = _written_out(time, codes, group)
    np.testing.assert_allclose(ours.score, score, rtol=1e-10)
    np.testing.assert_allclose(ours.variance, variance, rtol=1e-10)


def test_its_size_under_the_null_is_nominal() -> None:
    """Equal cumulative incidence in both groups, unequal censoring: about 5% of 400 tests
    reject at 5% (binomial 99% range 2.4% to 8.1%), and the score's variance is estimated."""
    p_values = []
    for seed in range(400):
        rng = np.random.default_rng(seed + 3000)
        group = rng.integers(0, 2, 150)
        t1, t2 = rng.exponential(5.0, 150), rng.exponential(4.0, 150)
        c = rng.uniform(0.5, np.where(group == 1, 4.0, 12.0))
        time = np.minimum.reduce([t1, t2, c])
        codes = np.select([time == t1, time == t2], [1, 2], 0)
        p_values.append(gray_test(time, codes, group).p_value)
    assert 0.024 <= np.mean(np.array(p_values) < 0.05) <= 0.081


def test_unequal_incidence_is_detected() -> None:
    time, codes, group = _competing(9, n=2000)  # group 0: more competing events, less cause 1
    assert gray_test(time, codes, group).p_value < 1e-6


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(EvaluationError, match=r"at least two groups, but got \['a'\]"):
        gray_test([1.0, 2.0], [1, 0], ["a", "a"])
    with pytest.raises(EvaluationError, match="events of cause 1, but there are none"):
        gray_test([1.0, 2.0], [2, 0], ["a", "b"])
