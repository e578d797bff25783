"""D-calibration (Haider, Hoehn, Davis & Greiner, JMLR 2020) of predicted survival curves.

If the curves are right, ``S(T_i|x_i)`` at each patient's true event time is uniform on [0, 1]:
each of ``n_bins`` equal bins should hold ``1/n_bins`` of the patients. A censored patient only
tells that ``S(T_i|x_i) < S(C_i|x_i) = c``; as in the paper, their unit of mass is spread
uniformly over [0, c]: ``(c - lower)/c`` to the bin holding ``c`` and ``(1/n_bins)/c`` to each
bin below. A chi-square test with ``n_bins - 1`` degrees of freedom compares the bin totals with
``n/n_bins``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy.stats import chi2

from msk1model.errors import EvaluationError
from msk1model.evaluation._checks import check_horizons, check_survival, check_y
from msk1model.evaluation.horizons import HorizonWarning

__all__ = ["DCalibration", "SurvivalAtTimes", "d_calibration", "survival_at_own_times"]

#: ``f(times) -> S``: given each patient's time in years, shape (n,), return ``S_i(times_i)``, (n,).
SurvivalAtTimes = Callable[[np.ndarray], np.ndarray]


class DCalibration(NamedTuple):
    """The D-calibration histogram and its chi-square test of uniformity."""

    statistic: float
    """Pearson chi-square of the bin totals against ``n/n_bins`` each."""
    p_value: float
    """Chi-square upper tail, ``n_bins - 1`` degrees of freedom; small means miscalibrated."""
    proportions: np.ndarray
    """shape (n_bins,): share of the patients in each bin, from S in [0, 0.1) upward."""


def survival_at_own_times(
    surv: np.ndarray | SurvivalAtTimes, time: np.ndarray, grid: npt.ArrayLike | None = None
) -> np.ndarray:
    """Predicted survival of each patient at their own follow-up time, ``S_i(T_i)``.

    Parameters
    ----------
    surv : ndarray of shape (n, n_grid), or callable
        Survival curves on ``grid`` (non-increasing rows in [0, 1]), read by linear interpolation
        with ``S(0) = 1`` added before the first grid time; past the last grid time the last value
        is carried forward with a ``HorizonWarning`` (it overstates survival). Or a callable
        ``f(times) -> S`` returning ``S_i(times_i)`` for times of shape (n,), e.g. a closed form.
    time : ndarray, shape (n,)
        Follow-up times in years.
    grid : array-like, shape (n_grid,), optional
        Years, >= 0 and strictly increasing; required with an array ``surv``, unused with a
        callable.

    Returns
    -------
    ndarray, shape (n,)
    """
    if callable(surv):
        s = check_survival(np.asarray(surv(time), dtype=float), (len(time), 1), "surv(time)")
        return s[:, 0]
    if grid is None:
        raise EvaluationError(
            "surv given as an array needs the time grid of its columns, but grid is None. Fix: "
            "pass grid=<years of each column>, or pass surv as a callable"
        )
    g = check_horizons(grid, "grid", allow_zero=True)
    s = check_survival(surv, (len(time), len(g)), "surv")
    beyond = time > g[-1]
    if beyond.any():
        warnings.warn(
            f"{int(beyond.sum())} patient(s) were followed beyond the survival grid (ends "
            f"{g[-1]:.6g} years, latest follow-up {time.max():.6g}); their curves are carried "
            "forward flat, which overstates survival. Fix: extend the grid",
            HorizonWarning,
            stacklevel=3,
        )
    if g[0] > 0:
        g, s = np.r_[0.0, g], np.column_stack([np.ones(len(s)), s])
    if len(g) == 1:  # a grid of just t = 0
        return s[:, 0]
    # linear interpolation of each row at its own time: np.interp row by row, vectorised
    j = np.clip(np.searchsorted(g, time, side="right") - 1, 0, len(g) - 2)
    w = np.clip((time - g[j]) / (g[j + 1] - g[j]), 0.0, 1.0)
    rows = np.arange(len(time))
    return s[rows, j] * (1.0 - w) + s[rows, j + 1] * w


def d_calibration(
    y: npt.ArrayLike,
    surv: np.ndarray | SurvivalAtTimes,
    grid: npt.ArrayLike | None = None,
    *,
    n_bins: int = 10,
) -> DCalibration:
    """D-calibration of predicted survival curves on test data.

    Parameters
    ----------
    y : structured array, shape (n,)
        Test outcome, fields (event, time in years).
    surv : ndarray of shape (n, n_grid), or callable
        Predicted survival curves; see :func:`survival_at_own_times`.
    grid : array-like, shape (n_grid,), optional
        Years of the columns of an array ``surv``.
    n_bins : int
        Equal-width bins of [0, 1]; 10 as in the paper.

    Returns
    -------
    DCalibration
        Chi-square statistic, p-value and bin proportions (summing to 1).
    """
    if not (isinstance(n_bins, int) and n_bins >= 2):
        raise EvaluationError(f"n_bins must be an integer >= 2, but got {n_bins!r}")
    t, e = check_y(y)
    mass = bin_mass(survival_at_own_times(surv, t, grid), e, n_bins)
    totals = mass.sum(axis=0)
    expected = len(t) / n_bins
    statistic = float(((totals - expected) ** 2).sum() / expected)
    return DCalibration(statistic, float(chi2.sf(statistic, n_bins - 1)), totals / len(t))


def bin_mass(s: np.ndarray, event: np.ndarray, n_bins: int) -> np.ndarray:
    """Each patient's unit of mass over the bins of [0, 1], shape (n, n_bins).

    An event puts all of it in the bin holding ``s`` (``s = 1`` in the top bin); a censored
    patient spreads it uniformly over [0, s], or puts it in the bottom bin when ``s = 0``.
    """
    lower = np.arange(n_bins) / n_bins
    upper = np.arange(1, n_bins + 1) / n_bins
    mass = np.zeros((len(s), n_bins))
    at = np.minimum((s * n_bins).astype(int), n_bins - 1)
    mass[np.arange(len(s)), at] = 1.0
    spread = ~event & (s > 0)
    c = s[spread, np.newaxis]
    mass[spread] = np.clip(np.minimum(c, upper) - lower, 0.0, None) / c
    return mass
