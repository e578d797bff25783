"""The censoring Kaplan-Meier estimate (msk1model.evaluation.censoring) against
scikit-survival's CensoringDistributionEstimator and the product-limit formula."""

from __future__ import annotations

import numpy as np
import pytest
from sksurv.nonparametric import CensoringDistributionEstimator, SurvivalFunctionEstimator

from msk1model.errors import EvaluationError
from msk1model.evaluation.censoring import censoring_km, survival_km
from msk1model.outcome import make_y


@pytest.mark.parametrize("seed", range(12))
def test_g_and_the_weights_equal_scikit_survival(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 400))
    time = rng.integers(1, 30, n) / 4 if seed % 2 == 0 else rng.exponential(3.0, n)  # ties or not
    event = rng.random(n) < 0.5
    peer = CensoringDistributionEstimator().fit(make_y(time=time, event=event))
    km = censoring_km(time, event)
    grid = np.concatenate([time, np.linspace(0, time.max(), 50), [-1.0]])  # steps, between, before
    np.testing.assert_allclose(km.at(grid), peer.predict_proba(grid), rtol=0, atol=1e-12)
    later = rng.exponential(3.0, n)
    test_time = np.minimum(later, time.max())
    test_event = rng.random(n) < 0.6
    keep = km.at(test_time[test_event]) > 0
    if keep.all():
        y_test = make_y(time=test_time, event=test_event)
        np.testing.assert_allclose(
            km.ipcw(test_time, test_event), peer.predict_ipcw(y_test), rtol=1e-12, atol=0
        )


def test_g_is_the_product_limit_over_censorings_with_events_leaving_first() -> None:
    # times 1 1 2 2 3: at 1 an event and a censoring (5 at risk, the event leaves first: 4),
    # at 2 two censorings (3 at risk), at 3 an event
    time = np.array([1.0, 1.0, 2.0, 2.0, 3.0])
    event = np.array([True, False, False, False, True])
    km = censoring_km(time, event)
    np.testing.assert_allclose(km.times, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(km.survival, [3 / 4, 3 / 4 * (1 - 2 / 3), 1 / 4], atol=1e-15)
    assert km.at(np.array([0.5]))[0] == 1.0
    np.testing.assert_array_equal(censoring_km(time, np.ones(5, bool)).survival, np.ones(3))


def test_beyond_the_last_time_and_zero_g_are_errors() -> None:
    km = censoring_km(np.array([1.0, 2.0, 3.0]), np.array([True, False, True]))
    with pytest.raises(
        EvaluationError, match=r"ends at 3 years, where it is still positive, but is needed at 4"
    ):
        km.at(np.array([4.0]))
    ends_censored = censoring_km(np.array([1.0, 2.0]), np.array([True, False]))
    assert ends_censored.at(np.array([5.0]))[0] == 0.0  # G reached 0: zero from then on
    with pytest.raises(EvaluationError, match="zero at one or more time points"):
        ends_censored.ipcw(np.array([2.0]), np.array([True]))


@pytest.mark.parametrize("seed", range(6))
def test_survival_km_equals_scikit_survival(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 300))
    time = rng.integers(1, 20, n) / 2 if seed % 2 == 0 else rng.exponential(2.0, n)
    event = rng.random(n) < 0.6
    peer = SurvivalFunctionEstimator().fit(make_y(time=time, event=event))
    grid = np.concatenate([time, np.linspace(0, time.max(), 40)])
    km = survival_km(time, event)
    np.testing.assert_allclose(km.at(grid), peer.predict_proba(grid), rtol=0, atol=1e-12)


def test_large_samples_are_remembered_by_content_and_read_only() -> None:
    """From 20,000 patients an estimate is kept (by its data's content): the same data gives the
    same, unwritable arrays; one changed value gives a fresh estimate, equal to a direct fit."""
    from msk1model.evaluation import censoring

    rng = np.random.default_rng(11)
    time = np.round(rng.exponential(5.0, 30_000), 2)
    event = rng.random(30_000) < 0.4
    first = censoring_km(time, event)
    assert censoring_km(time.copy(), event.copy()) is first
    assert not first.survival.flags.writeable
    assert survival_km(time, event) is not first  # kept apart from G
    changed = event.copy()
    changed[123] = not changed[123]
    fresh = censoring_km(time, changed)
    assert fresh is not first
    direct = censoring._censoring_km(time, changed)
    np.testing.assert_array_equal(fresh.times, direct.times)
    np.testing.assert_array_equal(fresh.survival, direct.survival)
