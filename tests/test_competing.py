"""Competing risks without a model (msk1model.evaluation.competing) against scikit-survival's
``cumulative_incidence_competing_risks`` and lifelines' ``AalenJohansenFitter``."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from lifelines import AalenJohansenFitter
from sksurv.nonparametric import cumulative_incidence_competing_risks

from msk1model.data.synthetic import make_synthetic_cohort
from msk1model.errors import DataError
from msk1model.evaluation.competing import aalen_johansen


def _cohort(seed: int, n: int = 400, tied: bool = True) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    time = rng.exponential(5.0, n)
    time = np.round(time, 1) + 0.1 if tied else time  # tied times of every kind
    codes = rng.choice([0, 1, 2, 3], size=n, p=[0.3, 0.3, 0.25, 0.15])
    return time, codes


@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("cause", [1, 2, 3])
def test_cif_and_aalen_variance_equal_scikit_survival(cause: int, tied: bool) -> None:
    time, codes = _cohort(cause, tied=tied)
    times, cif, band = cumulative_incidence_competing_risks(codes, time, conf_type="log-log")
    ours = aalen_johansen(time, codes, cause)
    np.testing.assert_array_equal(ours.time, times)
    np.testing.assert_allclose(ours.cif, cif[cause], atol=1e-12)
    np.testing.assert_allclose(ours.event_free, 1.0 - cif[0], atol=1e-12)
    np.testing.assert_allclose(ours.lower, band[cause, 0], atol=1e-8)
    np.testing.assert_allclose(ours.upper, band[cause, 1], atol=1e-8)


def test_aalen_variance_equals_pintilie_written_out() -> None:
    """Pintilie (2006) eq. 4.5, the double sums spelt out, at every time."""
    time, codes = _cohort(7, n=150)
    ours = aalen_johansen(time, codes, 2)
    n, d, dr = ours.at_risk, _all_events(time, codes, ours.time), ours.events
    s_lag = np.r_[1.0, ours.event_free[:-1]]
    F = ours.cif
    expected = []
    for j in range(len(F)):
        total = 0.0
        for k in range(j + 1):
            if n[k] > 1 and n[k] > d[k]:
                total += (F[j] - F[k]) ** 2 * d[k] / ((n[k] - 1) * (n[k] - d[k]))
                total -= (
                    2 * (F[j] - F[k]) * s_lag[k] * dr[k] * (n[k] - dr[k])
                    / (n[k] * (n[k] - d[k]) * (n[k] - 1))
                )  # fmt: skip
            if n[k] > 1:
                total += s_lag[k] ** 2 * dr[k] * (n[k] - dr[k]) / (n[k] ** 2 * (n[k] - 1))
        expected.append(total)
    np.testing.assert_allclose(ours.variance, expected, rtol=1e-9, atol=1e-15)


def _all_events(time: np.ndarray, codes: np.ndarray, times: np.ndarray) -> np.ndarray:
    return np.array([np.sum((time == t) & (codes > 0)) for t in times], dtype=float)


@pytest.mark.parametrize("cause", [1, 2])
def test_cif_and_greenwood_variance_equal_lifelines(cause: int) -> None:
    """lifelines jitters tied event times, so the cohort has none; its first row is time 0."""
    time, codes = _cohort(11, tied=False)
    fitter = AalenJohansenFitter(calculate_variance=True).fit(time, codes, event_of_interest=cause)
    ours = aalen_johansen(time, codes, cause, variance="greenwood")
    theirs = fitter.cumulative_density_.iloc[1:, 0].to_numpy()
    np.testing.assert_array_equal(fitter.cumulative_density_.index[1:], ours.time)
    np.testing.assert_allclose(ours.cif, theirs, atol=1e-12)
    variance = fitter.variance_.iloc[1:].to_numpy()
    finite = np.isfinite(variance)  # lifelines divides by 0 where everyone at risk fails
    np.testing.assert_allclose(ours.variance[finite], variance[finite], rtol=1e-8, atol=1e-14)
    band = fitter.confidence_interval_.iloc[1:]  # lifelines' "upper" column is the lower bound
    ok = finite & (ours.cif > 0)
    np.testing.assert_allclose(ours.lower[ok], band.iloc[:, 0].to_numpy()[ok], atol=1e-8)
    np.testing.assert_allclose(ours.upper[ok], band.iloc[:, 1].to_numpy()[ok], atol=1e-8)
    assert np.all(ours.lower[ok] <= ours.cif[ok]) and np.all(ours.cif[ok] <= ours.upper[ok])


def test_the_cif_of_the_synthetic_cohort_is_below_one_minus_km() -> None:
    """Bone relapse: 1 - KM with the competing events censored overstates the incidence; the
    causes' CIFs add up to 1 - KM of any event."""
    cohort = make_synthetic_cohort(3000, seed=4)
    time, codes = cohort["relapse_free_time"].to_numpy(), cohort["event_type"].to_numpy()
    cifs = [aalen_johansen(time, codes, cause) for cause in (1, 2, 3)]
    total = sum(c.cif for c in cifs)
    np.testing.assert_allclose(total, 1.0 - cifs[0].event_free, atol=1e-12)
    naive = 1.0 - np.cumprod(1.0 - cifs[1].events / cifs[1].at_risk)  # KM, the others censored
    assert np.all(naive >= cifs[1].cif - 1e-12)
    assert naive[-1] - cifs[1].cif[-1] > 0.005  # death and other relapse compete


def test_at_reads_the_step_function() -> None:
    ours = aalen_johansen([1.0, 2.0, 3.0, 4.0], [1, 0, 1, 2], 1)
    np.testing.assert_allclose(ours.at([0.5, 1.0, 2.5, 3.0, 9.0]), [0, 0.25, 0.25, 0.625, 0.625])


def test_bad_codes_are_clear_errors() -> None:
    with pytest.raises(DataError, match=r"must hold 0 \(censored\) or a positive integer cause"):
        aalen_johansen([1.0, 2.0], [0, -1], 1)
    with pytest.raises(DataError, match=r"one length, but got \(2,\) and \(3,\)"):
        aalen_johansen([1.0, 2.0], [0, 1, 1], 1)


def test_lifelines_jitter_warning_is_why_the_ties_test_uses_scikit_survival() -> None:
    time, codes = _cohort(3, tied=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        AalenJohansenFitter(seed=0).fit(pd.Series(time), pd.Series(codes), event_of_interest=1)
    assert any("jitter" in str(w.message) for w in caught)
