"""Gray's K-sample test of equal cumulative incidence of one cause (Gray 1988, rho = 0).

With groups ``k``, ``Y_k(t)`` at risk, ``S_k`` the Kaplan-Meier estimate of being free of every
event and ``F_1k``, ``F_2k`` the Aalen-Johansen cumulative incidences of the cause and of the
competing events in group ``k``, the subdistribution risk set is
``R_k(t) = Y_k(t) (1 - F_1k(t-)) / S_k(t-)`` and the pooled subdistribution hazard
``dG(t) = d_1(t) / R(t)`` (``R = sum_k R_k``, ``d_1`` the cause's events). The score of group
``k`` is observed minus expected on that risk set::

    z_k = sum_t d_1k(t) - R_k(t) d_1(t) / R(t)

Its variance comes from the score's martingale representation, derived here by the delta method
from the Aalen-Johansen estimator's (Andersen et al. 1993): ``z_k = sum_l int a_kl dM_1l +
int b_kl dM_2l`` over each group's cause and competing-event martingales, with
``A_kl = R_k (1{k = l} - R_l / R)``, ``D_kl(u) = sum_{t > u} A_kl(t) dG(t) / (1 - F(t))`` (``F``
the pooled subdistribution CIF under the null) and::

    a_kl(u) = A_kl(u) / R_l(u) - D_kl(u) F_2l(u-) / Y_l(u)
    b_kl(u) = -D_kl(u) (1 - F(u)) / Y_l(u)

``Cov(z_k, z_k') = sum_l sum_t a_kl a_k'l R_l dG (R - d_1) / (R - 1) + b_kl b_k'l
d_2l (Y_l - d_2l) / Y_l``: the cause's events at their null expectation (with the
hypergeometric correction for ties, as the log-rank test), the competing events as observed.
Without competing events ``F_2l = 0`` and ``R_k = Y_k``, and the test is the log-rank test
exactly. The statistic ``z' V^-1 z`` over the first ``K - 1`` groups is chi-square with ``K - 1``
degrees of freedom under the null.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import stats

from msk1model.errors import EvaluationError

__all__ = ["GrayTest", "gray_test"]


class GrayTest(NamedTuple):
    """Gray's test of equal cumulative incidence across groups."""

    statistic: float
    df: int
    p_value: float
    groups: tuple[str, ...]
    """The group labels, sorted; the score is of all but the last."""
    score: np.ndarray
    """shape (K - 1,): observed minus expected events of the cause per group."""
    variance: np.ndarray
    """shape (K - 1, K - 1)."""


def gray_test(
    time: npt.ArrayLike, event_type: npt.ArrayLike, groups: npt.ArrayLike, *, cause: int = 1
) -> GrayTest:
    """Gray's test that the cumulative incidence of ``cause`` is the same in every group.

    Parameters
    ----------
    time : array-like, shape (n,)
        Time to the first event or censoring.
    event_type : array-like of int, shape (n,)
        0 censored, ``cause`` the event of interest, any other positive code competing.
    groups : array-like, shape (n,)
        Group label of each patient; at least two groups.

    Raises
    ------
    EvaluationError
        If there are fewer than two groups or no event of the cause.
    """
    t = np.asarray(time, dtype=float)
    codes = np.asarray(event_type)
    labels, group = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    if len(labels) < 2:
        raise EvaluationError(f"Gray's test needs at least two groups, but got {labels.tolist()}")
    if not np.any(codes == cause):
        raise EvaluationError(f"Gray's test needs events of cause {cause}, but there are none")
    counts = _counts(t, codes, group, len(labels), cause)
    score, variance = _score_and_variance(*counts)
    statistic = float(score @ np.linalg.solve(variance, score))
    df = len(labels) - 1
    return GrayTest(
        statistic, df, float(stats.chi2.sf(statistic, df)), tuple(labels), score, variance
    )


def _counts(
    t: np.ndarray, codes: np.ndarray, group: np.ndarray, k: int, cause: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At risk, cause events and competing events per distinct time and group, (T, K) each."""
    times = np.unique(t)
    index = np.searchsorted(times, t)
    d1 = np.zeros((len(times), k))
    d2 = np.zeros((len(times), k))
    np.add.at(d1, (index, group), (codes == cause).astype(float))
    np.add.at(d2, (index, group), ((codes > 0) & (codes != cause)).astype(float))
    leaving = np.zeros((len(times), k))
    np.add.at(leaving, (index, group), 1.0)
    at_risk = leaving[::-1].cumsum(axis=0)[::-1]  # T >= t
    return at_risk, d1, d2


def _score_and_variance(
    y: np.ndarray, d1: np.ndarray, d2: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard1 = np.where(y > 0, d1 / y, 0.0)
        hazard2 = np.where(y > 0, d2 / y, 0.0)
        free = np.cumprod(1.0 - hazard1 - hazard2, axis=0)  # S_k(t)
        free_before = np.vstack([np.ones((1, y.shape[1])), free[:-1]])  # S_k(t-)
        f1_before = _lagged(np.cumsum(free_before * hazard1, axis=0))  # F_1k(t-)
        f2_before = _lagged(np.cumsum(free_before * hazard2, axis=0))  # F_2k(t-)
        r = np.where(
            y > 0, y * (1.0 - f1_before) / np.where(free_before > 0, free_before, 1.0), 0.0
        )
        r_total = r.sum(axis=1)
        d1_total = d1.sum(axis=1)
        d_gamma = np.where(r_total > 0, d1_total / r_total, 0.0)
        f_pooled = 1.0 - np.cumprod(1.0 - d_gamma)  # F(t), the null's subdistribution CIF
        share = np.where(r_total[:, None] > 0, r / r_total[:, None], 0.0)
    k = y.shape[1]
    score = (d1 - r * d_gamma[:, None]).sum(axis=0)[: k - 1]
    # A[t, i, l] = R_i (1{i = l} - R_l / R) for the first K - 1 groups i
    a_big = r[:, : k - 1, None] * (np.eye(k)[None, : k - 1, :] - share[:, None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.where(f_pooled < 1.0, d_gamma / (1.0 - f_pooled), 0.0)
    c = a_big * step[:, None, None]
    later = c[::-1].cumsum(axis=0)[::-1] - c  # D[t]: sum over times strictly after t
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_r = np.where(r > 0, 1.0 / r, 0.0)
        inv_y = np.where(y > 0, 1.0 / y, 0.0)
        a = a_big * inv_r[:, None, :] - later * (f2_before * inv_y)[:, None, :]
        b = -later * ((1.0 - f_pooled)[:, None] * inv_y)[:, None, :]
        ties = np.where(r_total > 1, (r_total - d1_total) / (r_total - 1.0), 1.0)
        w1 = r * d_gamma[:, None] * ties[:, None]
        w2 = np.where(y > 0, d2 * (y - d2) * inv_y, 0.0)
    variance = np.einsum("til,tjl,tl->ij", a, a, w1) + np.einsum("til,tjl,tl->ij", b, b, w2)
    return score, variance


def _lagged(values: np.ndarray) -> np.ndarray:
    """Each row's value just before: the previous row, 0 before the first."""
    return np.vstack([np.zeros((1, values.shape[1])), values[:-1]])
