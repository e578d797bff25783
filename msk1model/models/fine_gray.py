"""Fine-Gray proportional subdistribution hazards, by Newton's method in O(n p^2) per step.

For the cause of interest (``event_type == cause``) the subdistribution hazard's risk set at an
event time ``t`` holds everyone still event-free (``T_j >= t``, weight 1) and everyone who had a
competing event before ``t``, weighted by the chance of still being uncensored:
``w_j(t) = G(t-) / G(T_j-)`` (Fine & Gray 1999), with ``G`` the Kaplan-Meier estimate of the
censoring distribution (censoring counted after events at a tied time, so ``G(t-)`` is the chance
of being uncensored just before ``t``). Tied event times take Breslow's form. The weighted partial
likelihood is maximised as the Cox model is (:func:`~msk1model.models.cox_newton.newton_maximise`).

All risk-set sums come from one sort: going down in time, the event-free part is a running sum;
the competing part at ``t`` is ``G(t-)`` times the sum of ``exp(eta_j) / G(T_j-)`` over competing
events before ``t``, its total less its running sum. The cumulative incidence of the cause for
covariates ``x`` is ``1 - exp(-Lambda_0(t) exp(x'b))``, with Breslow's baseline
``Lambda_0(t) = sum_{t_k <= t} d_k / S0(t_k)``.

Standard errors: ``cox.se`` from the inverse information of the weighted likelihood, as a
weighted Cox fit on the expanded data gives them, and ``robust_se`` from the sandwich over the
patients' score residuals (Fine & Gray's recommendation, here with the censoring weights taken
as known, as R's ``finegray`` with a clustered ``coxph`` gives them).
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np
import numpy.typing as npt

from msk1model.errors import ModelError
from msk1model.models.cox_newton import CoxFit, newton_maximise

__all__ = ["FineGrayFit", "censoring_left_limits", "fit_fine_gray"]


class FineGrayFit(NamedTuple):
    """A fitted Fine-Gray model."""

    cox: CoxFit
    """Coefficients (log subdistribution hazard ratios), information, log-likelihood."""
    times: np.ndarray
    """shape (k,): the distinct event times of the cause, increasing."""
    cumulative_hazard: np.ndarray
    """shape (k,): Breslow's baseline cumulative subdistribution hazard at ``times``."""
    robust_covariance: np.ndarray
    """shape (p, p): the sandwich ``I^-1 (sum_i U_i U_i') I^-1`` over the patients' score
    residuals ``U_i`` (each patient's rows of the expanded data together)."""

    @property
    def coef(self) -> np.ndarray:
        return self.cox.coef

    @property
    def robust_se(self) -> np.ndarray:
        """Robust (sandwich) standard errors, the censoring weights taken as known."""
        return np.sqrt(np.diag(self.robust_covariance))

    def cumulative_incidence(self, X: npt.ArrayLike, at: npt.ArrayLike) -> np.ndarray:
        """CIF of the cause, shape (n, len(at)), for covariate rows ``X`` at times ``at``."""
        eta = np.asarray(X, dtype=float) @ self.coef
        index = np.searchsorted(self.times, np.atleast_1d(np.asarray(at, float)), side="right")
        base = np.r_[0.0, self.cumulative_hazard][index]
        return 1.0 - np.exp(-np.outer(np.exp(eta), base))


class _Sorted(NamedTuple):
    x: np.ndarray  # (n, p), rows by increasing time
    starts: np.ndarray  # (blocks + 1,)
    deaths: np.ndarray  # (blocks,): events of the cause per block of tied times
    g_left: np.ndarray  # (blocks,): G(t-) at each block's time
    cause: np.ndarray  # (n,) bool
    competing: np.ndarray  # (n,) bool
    times: np.ndarray  # (blocks,)


def fit_fine_gray(
    X: npt.ArrayLike,
    time: npt.ArrayLike,
    event_type: npt.ArrayLike,
    cause: int,
    *,
    penalizer: float = 0.0,
    tol: float = 1e-10,
    max_iter: int = 50,
) -> FineGrayFit:
    """Fit the Fine-Gray model of ``cause`` (every other non-zero ``event_type`` competes).

    Parameters
    ----------
    X : array-like, shape (n, p)
        Covariates, finite.
    time : array-like, shape (n,)
        Time to the first event or censoring.
    event_type : array-like of int, shape (n,)
        0 censored, else the cause of the first event.
    cause
        The cause of interest.
    penalizer
        Ridge penalty ``penalizer / 2 * |b|^2`` times ``n`` (lifelines' scale).

    Raises
    ------
    ModelError
        If the cause has no event, or the information matrix is singular.
    """
    data = _sort(X, time, event_type, cause)
    cox = newton_maximise(
        lambda coef: _derivatives(
            data.x, data.starts, data.deaths, data.g_left, data.cause, data.competing, coef
        ),
        data.x.shape[1],
        ridge=penalizer * len(data.cause),
        tol=tol,
        max_iter=max_iter,
    )
    s0 = _risk_sums(data.x @ cox.coef, data.starts, data.g_left, data.competing)
    has = data.deaths > 0
    robust = _robust_covariance(data, cox)
    return FineGrayFit(cox, data.times[has], np.cumsum(data.deaths[has] / s0[has]), robust)


def _robust_covariance(data: _Sorted, cox: CoxFit) -> np.ndarray:
    """The sandwich over the patients' score residuals, each ``U_i = int w_i(t) (x_i -
    xbar(t)) dM_i(t)`` summed over the event times by running sums (O(n p))."""
    x, starts, g = data.x, data.starts, data.g_left
    eta = x @ cox.coef
    w = np.exp(eta - eta.max())
    block = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
    v = np.where(data.competing, w / g[block], 0.0)
    wx, vx = w[:, None] * x, v[:, None] * x
    # event-free at t (rows at or after the block's first row) and competing before t
    free0 = np.cumsum(w[::-1])[::-1][starts[:-1]]
    free1 = np.cumsum(wx[::-1], axis=0)[::-1][starts[:-1]]
    before0 = np.r_[0.0, np.cumsum(v)][starts[:-1]]
    before1 = np.vstack([np.zeros((1, x.shape[1])), np.cumsum(vx, axis=0)])[starts[:-1]]
    s0 = free0 + g * before0
    xbar = (free1 + g[:, None] * before1) / s0[:, None]
    d_lambda = data.deaths / s0  # 0 where the block has no event of the cause
    upto0, upto1 = np.cumsum(d_lambda), np.cumsum(xbar * d_lambda[:, None], axis=0)
    after0 = np.cumsum((g * d_lambda)[::-1])[::-1] - g * d_lambda  # blocks strictly later
    after1 = np.cumsum((xbar * (g * d_lambda)[:, None])[::-1], axis=0)[::-1]
    after1 = after1 - xbar * (g * d_lambda)[:, None]
    own = block
    residual = data.cause[:, None] * (x - xbar[own])
    residual -= w[:, None] * (x * upto0[own][:, None] - upto1[own])
    weight = np.where(data.competing, w / g[own], 0.0)
    residual -= weight[:, None] * (x * after0[own][:, None] - after1[own])
    inverse = np.linalg.inv(cox.information)
    return inverse @ (residual.T @ residual) @ inverse


def censoring_left_limits(
    time: npt.ArrayLike, event_type: npt.ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct times (increasing) and the censoring Kaplan-Meier ``G(t-)`` at each: the product
    over earlier times ``s`` of ``1 - c_s / n_s`` (``c_s`` censored at ``s``, ``n_s`` at risk)."""
    t = np.asarray(time, dtype=float)
    censored = np.asarray(event_type) == 0
    order = np.argsort(t, kind="mergesort")
    ts = t[order]
    uniq, first = np.unique(ts, return_index=True)
    at_risk = len(ts) - first
    c = np.add.reduceat(censored[order].astype(float), first)
    after = np.cumprod(1.0 - c / at_risk)
    return uniq, np.r_[1.0, after[:-1]]


def _sort(X: npt.ArrayLike, time: npt.ArrayLike, event_type: npt.ArrayLike, cause: int) -> _Sorted:
    x = np.asarray(X, dtype=float)
    if x.ndim == 1:
        x = x[:, np.newaxis]
    t = np.asarray(time, dtype=float)
    codes = np.asarray(event_type).astype(np.int64)
    if not np.any(codes == cause):
        raise ModelError(f"the Fine-Gray model of cause {cause} needs an event of it, but has none")
    order = np.argsort(t, kind="mergesort")
    xs, ts, cs = np.ascontiguousarray(x[order]), t[order], codes[order]
    uniq, first = np.unique(ts, return_index=True)
    starts = np.append(first, len(ts)).astype(np.int64)
    is_cause = cs == cause
    deaths = np.add.reduceat(is_cause.astype(np.int64), first)
    _, g_left = censoring_left_limits(ts, cs)
    return _Sorted(xs, starts, deaths, g_left, is_cause, (cs > 0) & ~is_cause, uniq)


@numba.njit(cache=True, nogil=True)
def _risk_sums(
    eta: np.ndarray, starts: np.ndarray, g_left: np.ndarray, competing: np.ndarray
) -> np.ndarray:
    """``S0`` of each block (not shifted): event-free ``exp(eta)`` plus the weighted competing."""
    blocks = len(starts) - 1
    total_competing = 0.0
    for b in range(blocks):
        for k in range(starts[b], starts[b + 1]):
            if competing[k]:
                total_competing += np.exp(eta[k]) / g_left[b]
    out = np.empty(blocks)
    free = 0.0
    later_competing = 0.0
    for b in range(blocks - 1, -1, -1):
        for k in range(starts[b], starts[b + 1]):
            w = np.exp(eta[k])
            free += w
            if competing[k]:
                later_competing += w / g_left[b]
        out[b] = free + g_left[b] * (total_competing - later_competing)
    return out


@numba.njit(cache=True, nogil=True)
def _derivatives(
    x: np.ndarray,
    starts: np.ndarray,
    deaths: np.ndarray,
    g_left: np.ndarray,
    cause: np.ndarray,
    competing: np.ndarray,
    coef: np.ndarray,
) -> tuple[float, np.ndarray, np.ndarray]:
    """Weighted log partial likelihood, gradient and Hessian; rows by increasing time."""
    p = x.shape[1]
    eta = x @ coef
    shift = eta.max()
    blocks = len(starts) - 1
    # totals of the competing events' weighted sums, for "before t" = total - "at or after t"
    c0 = 0.0
    c1 = np.zeros(p)
    c2 = np.zeros((p, p))
    for b in range(blocks):
        for k in range(starts[b], starts[b + 1]):
            if competing[k]:
                v = np.exp(eta[k] - shift) / g_left[b]
                c0 += v
                for a in range(p):
                    c1[a] += v * x[k, a]
                    for c in range(a, p):
                        c2[a, c] += v * x[k, a] * x[k, c]
    f0 = 0.0  # event-free: T >= t
    f1 = np.zeros(p)
    f2 = np.zeros((p, p))
    l0 = 0.0  # competing events at or after t, weighted
    l1 = np.zeros(p)
    l2 = np.zeros((p, p))
    loglik = 0.0
    grad = np.zeros(p)
    hess = np.zeros((p, p))
    mean = np.zeros(p)
    for b in range(blocks - 1, -1, -1):
        for k in range(starts[b], starts[b + 1]):
            w = np.exp(eta[k] - shift)
            f0 += w
            for a in range(p):
                f1[a] += w * x[k, a]
                for c in range(a, p):
                    f2[a, c] += w * x[k, a] * x[k, c]
            if competing[k]:
                v = w / g_left[b]
                l0 += v
                for a in range(p):
                    l1[a] += v * x[k, a]
                    for c in range(a, p):
                        l2[a, c] += v * x[k, a] * x[k, c]
            if cause[k]:
                loglik += eta[k]
                for a in range(p):
                    grad[a] += x[k, a]
        d = deaths[b]
        if d == 0:
            continue
        g = g_left[b]
        s0 = f0 + g * (c0 - l0)
        loglik -= d * (np.log(s0) + shift)
        for a in range(p):
            mean[a] = (f1[a] + g * (c1[a] - l1[a])) / s0
            grad[a] -= d * mean[a]
        for a in range(p):
            for c in range(a, p):
                s2 = f2[a, c] + g * (c2[a, c] - l2[a, c])
                hess[a, c] -= d * (s2 / s0 - mean[a] * mean[c])
    for a in range(p):
        for c in range(a):
            hess[a, c] = hess[c, a]
    return loglik, grad, hess
