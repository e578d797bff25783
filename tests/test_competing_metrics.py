"""Competing-risk metrics (msk1model.evaluation.competing_metrics) against their definitions
written out here as double sums over patients, with the censoring Kaplan-Meier of
scikit-survival's CensoringDistributionEstimator."""

from __future__ import annotations

import numpy as np
import pytest
from sksurv.nonparametric import CensoringDistributionEstimator

from msk1model.errors import EvaluationError
from msk1model.evaluation.competing import aalen_johansen
from msk1model.evaluation.competing_metrics import (
    cif_auc,
    cif_brier,
    cif_calibration,
    cif_ipa,
    wolbers_c,
)
from msk1model.models.fine_gray import fit_fine_gray
from msk1model.outcome import make_y


def _cohort(seed: int, n: int = 300, tied: bool = True):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t1 = rng.exponential(np.exp(-0.8 * x) * 4.0)
    t2 = rng.exponential(np.full(n, 6.0))
    c = rng.uniform(0.5, 8.0, n)
    time = np.minimum.reduce([t1, t2, c])
    codes = np.select([time == t1, time == t2], [1, 2], 0)
    if tied:
        time = np.round(time, 1) + 0.1
    cif = 1 - np.exp(-0.15 * time.mean() * np.exp(0.8 * x))  # a risk score in (0, 1)
    marker = np.round(cif, 2) if tied else cif  # tied markers too
    return time, codes, marker


def _g(time: np.ndarray, codes: np.ndarray):
    """G(t) and G(t-) from scikit-survival's censoring Kaplan-Meier."""
    est = CensoringDistributionEstimator().fit(make_y(time=time, event=codes > 0))

    def at(t):
        return est.predict_proba(np.atleast_1d(t))

    times = est.unique_time_[np.isfinite(est.unique_time_)]  # it starts with -inf

    def left(t):  # G just before t: its value at the last time before t
        before = [times[times < u] for u in np.atleast_1d(t)]
        return np.array([at(b.max())[0] if b.size else 1.0 for b in before])

    return at, left


def _weight(i, time, codes, h, at, g_left):
    if time[i] <= h and codes[i] > 0:
        return 1 / g_left[i]
    if time[i] > h:
        return 1 / at(h)[0]
    return 0.0


@pytest.mark.parametrize("tied", [True, False])
def test_auc_and_brier_equal_their_double_sums(tied: bool) -> None:
    time, codes, f = _cohort(1, tied=tied)
    at, left = _g(time, codes)
    g_left = left(time)
    for h in (1.0, 3.0):
        w = np.array([_weight(i, time, codes, h, at, g_left) for i in range(len(time))])
        cases = [i for i in range(len(time)) if time[i] <= h and codes[i] == 1]
        controls = [j for j in range(len(time)) if w[j] > 0 and j not in cases]
        num = sum(w[i] * w[j] * ((f[i] > f[j]) + 0.5 * (f[i] == f[j]))
                  for i in cases for j in controls)  # fmt: skip
        den = sum(w[i] for i in cases) * sum(w[j] for j in controls)
        assert cif_auc(time, codes, f, h) == pytest.approx(num / den, rel=1e-12)
        status = [(time[i] <= h) and codes[i] == 1 for i in range(len(time))]
        brier = np.mean([w[i] * (status[i] - f[i]) ** 2 for i in range(len(time))])
        assert cif_brier(time, codes, f, h) == pytest.approx(brier, rel=1e-12)
        null = float(aalen_johansen(time, codes, 1).at([h])[0])
        brier0 = np.mean([w[i] * (status[i] - null) ** 2 for i in range(len(time))])
        assert cif_ipa(time, codes, f, null, h) == pytest.approx(1 - brier / brier0, rel=1e-12)


@pytest.mark.parametrize("tied", [True, False])
def test_wolbers_concordance_equals_its_double_sum(tied: bool) -> None:
    time, codes, f = _cohort(2, tied=tied)
    at, left = _g(time, codes)
    g_at, g_left = at(time), left(time)
    tau = 5.0
    num = den = 0.0
    for i in range(len(time)):
        if codes[i] != 1 or time[i] > tau:
            continue
        for j in range(len(time)):
            if time[j] > time[i]:
                w = 1 / (g_left[i] * g_at[i])
            elif codes[j] == 2:
                w = 1 / (g_left[i] * g_left[j])
            else:
                continue
            num += w * ((f[i] > f[j]) + 0.5 * (f[i] == f[j]))
            den += w
    assert wolbers_c(time, codes, f, tau) == pytest.approx(num / den, rel=1e-10)


def test_calibration_reads_aalen_johansen_and_fine_gray() -> None:
    time, codes, f = _cohort(3, n=2000, tied=False)
    result = cif_calibration(time, codes, f, 3.0)
    observed = float(aalen_johansen(time, codes, 1).at([3.0])[0])
    assert result.observed == pytest.approx(observed, rel=1e-12)
    assert result.oe == pytest.approx(observed / f.mean(), rel=1e-12)
    x = np.log(-np.log(1 - f))
    ended = np.where(time > 3.0, 0, codes)  # follow-up ends at the horizon
    slope = fit_fine_gray(x[:, None], np.minimum(time, 3.0), ended, 1).coef[0]
    assert result.slope == pytest.approx(slope, rel=1e-12)
    assert 0 <= result.e50 <= result.e90 and result.ici > 0


def test_codes_beyond_two_are_refused() -> None:
    with pytest.raises(EvaluationError, match=r"got codes \[3\]. Fix: recode the competing"):
        cif_brier([1.0, 2.0], [1, 3], [0.1, 0.2], 1.5)
