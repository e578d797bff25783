"""The O(n log n) concordance core (msk1model.evaluation.concordance) against scikit-survival
and the pair definition written out."""

from __future__ import annotations

import numpy as np
import pytest
from sksurv.metrics import concordance_index_censored, concordance_index_ipcw

from msk1model.errors import EvaluationError
from msk1model.evaluation import harrell_c, uno_c
from msk1model.evaluation.concordance import concordance_sums, risk_ranks
from msk1model.outcome import make_y


def _pairs_written_out(time, event, risk, weights):
    """The weighted C-index by its definition, looping over every pair."""
    numerator = denominator = 0.0
    for i in np.flatnonzero(event):
        later = (time > time[i]) | ((time == time[i]) & ~event)
        numerator += weights[i] * (np.sum(later & (risk < risk[i])) + 0.5 * np.sum(
            later & (risk == risk[i])))  # fmt: skip
        denominator += weights[i] * np.sum(later)
    return numerator / denominator


@pytest.mark.parametrize("seed", range(40))
def test_harrell_c_equals_scikit_survival_with_tied_times_and_risks(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 80))
    tied = seed % 2 == 0
    time = rng.integers(1, 9, n).astype(float) if tied else rng.exponential(size=n)
    event = rng.random(n) < 0.6
    event[0] = True
    risk = rng.integers(0, 4, n).astype(float) if seed % 3 == 0 else rng.normal(size=n)
    expected = concordance_index_censored(event, time, risk)[0]
    assert harrell_c(make_y(time=time, event=event), risk) == pytest.approx(expected, abs=1e-12)
    weights = rng.uniform(0.5, 3.0, n)
    numerator, denominator = concordance_sums(time, event, risk, weights)
    assert numerator / denominator == pytest.approx(
        _pairs_written_out(time, event, risk, weights), abs=1e-12
    )


def test_uno_c_equals_scikit_survival_ipcw() -> None:
    rng = np.random.default_rng(3)
    n = 3000
    time = np.round(rng.exponential(4.0, n), 2)  # ties in time
    event = rng.random(n) < 0.5
    risk = np.round(rng.normal(size=n) - 0.1 * time, 1)  # ties in risk
    y = make_y(time=time, event=event)
    train = make_y(time=np.round(rng.exponential(4.0, n), 2), event=rng.random(n) < 0.4)
    for tau in (2.0, 5.0):
        expected = concordance_index_ipcw(train, y, risk, tau=tau)[0]
        assert uno_c(train, y, risk, tau=tau) == pytest.approx(expected, abs=1e-12)


def test_a_large_cohort_agrees_with_scikit_survival() -> None:
    rng = np.random.default_rng(11)
    n = 20_000
    time = rng.weibull(1.3, n)
    event = rng.random(n) < 0.3
    risk = -np.log(time) + rng.normal(0, 1.0, n)
    expected = concordance_index_censored(event, time, risk)[0]
    assert harrell_c(make_y(time=time, event=event), risk) == pytest.approx(expected, abs=1e-12)


def test_scores_within_the_tolerance_are_ties() -> None:
    ranks = risk_ranks(np.array([0.3, 0.3 + 1e-10, 0.1, 0.5, 0.1 - 5e-9]))
    np.testing.assert_array_equal(ranks, [1, 1, 0, 2, 0])
    time = np.array([1.0, 2.0, 3.0])
    event = np.array([True, True, False])
    risk = np.array([1.0, 1.0 + 1e-10, 0.0])
    expected = concordance_index_censored(event, time, risk)[0]  # 2.5 of 3 pairs
    assert harrell_c(make_y(time=time, event=event), risk) == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(2.5 / 3)


def test_no_event_or_no_comparable_pair_is_an_evaluation_error() -> None:
    with pytest.raises(EvaluationError, match="no patient has an event"):
        harrell_c(make_y(time=[1.0, 2.0], event=[False, False]), np.array([0.1, 0.2]))
    with pytest.raises(EvaluationError, match="no comparable pair"):  # one event, last of all
        harrell_c(make_y(time=[1.0, 2.0], event=[False, True]), np.array([0.1, 0.2]))
    with pytest.raises(EvaluationError, match="NaN"):
        harrell_c(make_y(time=[1.0, 2.0], event=[True, True]), np.array([np.nan, 0.2]))
