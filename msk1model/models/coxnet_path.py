"""Elastic-net Cox regression along a path of penalties: proximal Newton with warm starts.

The objective at penalty ``alpha`` is scikit-survival's (and glmnet's) for
``CoxnetSurvivalAnalysis``: minus the Breslow partial log-likelihood divided by ``n``, plus
``alpha * sum_j pf_j * (l1_ratio * |b_j| + (1 - l1_ratio) / 2 * b_j^2)``, with the penalty
factors ``pf`` rescaled to sum to the number of columns. The path's alphas, its first column (the
fit with every penalised coefficient at zero), the early end of the path (the deviance ratio
changing by less than 0.1% over five alphas) and the convergence tolerance are scikit-survival's,
so the two give the same alphas and, to their tolerance, the same coefficients.

How it is solved differs. The patients are sorted once by decreasing time. A pass over them gives
the log-likelihood and its gradient: a compiled loop (numba) turns the risk-set sums into one
weight per patient, and the gradient is a matrix product with those weights; a second compiled
loop gives the Hessian when asked. Between passes the penalised quadratic model (``p`` x ``p``) is
minimised by coordinate descent, which costs nothing next to a pass; its minimiser is the next
point (proximal Newton, with step halving should the objective rise). The Hessian is reused across
passes and alphas while the steps keep shrinking fast, and recomputed when they do not or when a
column joins. Each alpha starts from the previous solution (warm start); columns are screened by
the sequential strong rule and every screened-out column's KKT condition is checked before an
alpha is accepted.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numba
import numpy as np
import numpy.typing as npt

from msk1model.errors import ModelError
from msk1model.models._checks import NumericalWarning

__all__ = ["CoxnetPath", "coxnet_path"]

_BIG = 1e35  # scikit-survival's first "alpha" of a path: every penalised coefficient stays at 0
_MIN_ALPHAS = 5  # the path may end early once this many alphas are fitted
_HALVINGS = 40
_HUGE, _TINY = 2.0**500, 2.0**-500  # the range of _risk_weights' running product
_LOG_HUGE = 500 * np.log(2.0)


class CoxnetPath(NamedTuple):
    """Coefficients along a path of penalties."""

    alphas: np.ndarray
    """shape (k,): the penalties, decreasing (a path may end before the requested length)."""
    coef: np.ndarray
    """shape (p, k): the coefficients at each alpha."""
    deviance_ratio: np.ndarray
    """shape (k,): glmnet's fraction of the null deviance explained at each alpha."""
    passes: int
    """Passes over the data (one gradient, and sometimes Hessian, evaluation each)."""
    converged: bool


class _Data(NamedTuple):
    x: np.ndarray  # (n, p), rows by decreasing time
    starts: np.ndarray  # (blocks + 1,): first row of each block of tied times, then n
    deaths: np.ndarray  # (blocks,): events per block
    event_sum: np.ndarray  # (p,): sum of x over the events
    n_events: int
    null_deviance: float  # glmnet's, times n


def coxnet_path(
    X: npt.ArrayLike,
    time: npt.ArrayLike,
    event: npt.ArrayLike,
    *,
    l1_ratio: float = 0.5,
    penalty_factor: npt.ArrayLike | None = None,
    alphas: npt.ArrayLike | None = None,
    n_alphas: int = 100,
    alpha_min_ratio: float | None = None,
    tol: float = 1e-7,
    max_iter: int = 10_000,
) -> CoxnetPath:
    """Fit the elastic-net Cox model at each alpha of a path.

    Parameters
    ----------
    X : array-like, shape (n, p)
        Covariates, finite (standardise them first: the penalty is on their scale).
    time, event : array-like, shape (n,)
        Follow-up and event indicator.
    l1_ratio
        Elastic-net mixing in (0, 1]: 1 = lasso.
    penalty_factor : array-like, shape (p,), optional
        Relative penalty per column (0 = unpenalised), rescaled to sum to ``p``.
    alphas : array-like, optional
        The penalties to fit, in the order given; ``None`` makes scikit-survival's path of
        ``n_alphas`` values from the smallest alpha that zeroes every penalised coefficient down to
        ``alpha_min_ratio`` times it (default 1e-4 when ``n > p``, else 0.01), log-spaced.
    tol
        scikit-survival's tolerance: an alpha is fitted when no coefficient's Newton step ``s_j``
        has ``H_jj / n * s_j^2`` of ``tol`` times the null deviance or more.
    max_iter
        At most this many passes over the data in all; ``converged`` is False when they run out.

    Raises
    ------
    ModelError
        On a bad ``l1_ratio``, ``penalty_factor`` or ``alphas``, or when there is no event.
    """
    x = np.asarray(X, dtype=float)
    if x.ndim != 2:
        raise ModelError(f"coxnet_path needs X of shape (n, p), but got shape {x.shape}")
    p = x.shape[1]
    pf = _penalty_factor(penalty_factor, p)
    if not 0.0 < l1_ratio <= 1.0:
        raise ModelError(f"l1_ratio must be in (0, 1], but got {l1_ratio}")
    data = _sorted_data(x, np.asarray(time, dtype=float), np.asarray(event, dtype=bool))
    solver = _PathSolver(data, pf, float(l1_ratio), tol, max_iter)
    if alphas is None:
        ratio = alpha_min_ratio if alpha_min_ratio is not None else (1e-4 if len(x) > p else 0.01)
        return solver.run(None, int(n_alphas), float(ratio))
    grid = np.atleast_1d(np.asarray(alphas, dtype=float))
    if grid.size == 0 or not np.all(np.isfinite(grid)) or np.any(grid <= 0):
        raise ModelError(f"alphas must be finite and > 0, but got {grid.tolist()}")
    return solver.run(grid, len(grid), 0.0)


def _penalty_factor(penalty_factor: npt.ArrayLike | None, p: int) -> np.ndarray:
    if penalty_factor is None:
        return np.ones(p)
    pf = np.asarray(penalty_factor, dtype=float).ravel()
    if pf.shape[0] != p:
        raise ModelError(f"penalty_factor must have one value per column ({p}), but got {len(pf)}")
    if not np.all(np.isfinite(pf)) or np.any(pf < 0) or pf.sum() <= 0:
        raise ModelError(f"penalty_factor must be >= 0 and not all 0, but got {pf.tolist()}")
    return pf * p / pf.sum()


def _sorted_data(x: np.ndarray, time: np.ndarray, event: np.ndarray) -> _Data:
    if not event.any():
        raise ModelError("the Cox model needs at least one event, but there is none")
    order = np.argsort(-time, kind="mergesort")  # scikit-survival's order, ties kept stable
    xs, ts, es = np.ascontiguousarray(x[order]), time[order], event[order]
    first = np.concatenate([[True], ts[1:] != ts[:-1]])
    starts = np.append(np.flatnonzero(first), len(ts)).astype(np.int64)
    deaths = np.add.reduceat(es.astype(np.int64), starts[:-1])
    # glmnet's null deviance: every event's risk set counted as its position in the sort
    null_deviance = float(np.log(np.flatnonzero(es) + 1.0).sum())
    return _Data(xs, starts, deaths, xs[es].sum(axis=0), int(es.sum()), null_deviance)


class _PathSolver:
    """Proximal Newton along the alphas, one object per path."""

    def __init__(self, data: _Data, pf: np.ndarray, l1_ratio: float, tol: float, max_iter: int):
        self.data, self.pf, self.l1, self.max_iter = data, pf, l1_ratio, max_iter
        self.n, self.p = data.x.shape
        self.eps = tol * data.null_deviance / self.n  # scikit-survival's eps, per patient
        self.passes = 0
        self.coef = np.zeros(self.p)
        self.strong = pf == 0.0
        self._evaluate(hessian=True)

    def run(self, grid: np.ndarray | None, length: int, ratio: float) -> CoxnetPath:
        alphas: list[float] = []
        coefs, ratios = [], []
        alpha = alpha_old = 0.0
        factor = ratio ** (1.0 / (length - 1)) if length > 1 else 1.0
        for i in range(length):
            if grid is not None:
                alpha = float(grid[i])
            elif i == 0:
                alpha = _BIG
            elif i == 1:
                alphas[0] = alpha_old = self._alpha_max()
                alpha = alpha_old * factor
            else:
                alpha *= factor
            self._screen(alpha, alpha_old)
            coef, loglik = self._fit_alpha(alpha)
            if grid is None and i == 0:
                self._move_to(coef)  # alpha_max needs the gradient at this exact point
            alphas.append(alpha)
            coefs.append(coef)
            ratios.append(1.0 + loglik / self.data.null_deviance)
            alpha_old = alpha
            if self.passes >= self.max_iter:
                break
            if i >= _MIN_ALPHAS and ratios[i - _MIN_ALPHAS + 1] / ratios[i] > 0.999:
                break
        converged = self.passes < self.max_iter
        if not converged:
            warnings.warn(
                f"coxnet did not converge in max_iter={self.max_iter} passes over the data "
                f"(stopped at alpha={alpha:.4g}). Fix: raise max_iter",
                NumericalWarning,
                stacklevel=3,
            )
        return CoxnetPath(
            np.array(alphas), np.column_stack(coefs), np.array(ratios), self.passes, converged
        )

    def _alpha_max(self) -> float:
        """The smallest alpha at which every penalised coefficient is 0 (scikit-survival's)."""
        penalised = self.pf > 0
        scaled = np.abs(self.grad[penalised]) / self.n / self.pf[penalised]
        return float(scaled.max(initial=0.0)) / self.l1

    def _screen(self, alpha: float, alpha_old: float) -> None:
        """Sequential strong rule: columns that may be active at ``alpha``."""
        threshold = self.l1 * (2.0 * alpha - alpha_old) * self.pf
        self.strong |= np.abs(self.grad) / self.n > threshold

    def _fit_alpha(self, alpha: float) -> tuple[np.ndarray, float]:
        """The solution at ``alpha`` and its partial log-likelihood."""
        l1_pen = alpha * self.l1 * self.pf
        l2_pen = alpha * (1.0 - self.l1) * self.pf
        last_size = np.inf
        while True:
            a = self.hess / self.n
            c = self.grad / self.n + a @ self.coef
            target = _cd_solve(a, c, self.coef.copy(), l1_pen, l2_pen, self.strong)
            step = target - self.coef
            size = float(np.max(np.diag(a) * step**2, initial=0.0))
            if size < self.eps:
                violators = ~self.strong & (np.abs(self.grad) / self.n > l1_pen)
                if not violators.any():
                    predicted = self.loglik + self.grad @ step - 0.5 * step @ self.hess @ step
                    return target, float(predicted)
                self.strong |= violators
                continue
            if self.passes >= self.max_iter:
                return target, self.loglik
            self._step_to(target, alpha, refresh=size > 1e-3 * last_size)
            last_size = size

    def _step_to(self, target: np.ndarray, alpha: float, *, refresh: bool) -> None:
        """Move towards ``target``, halving the step while the penalised objective rises."""
        start, before = self.coef, self._objective(alpha)
        step = target - start
        for _ in range(_HALVINGS):
            self._move_to(start + step, hessian=refresh)
            if self._objective(alpha) <= before + 1e-12 * abs(before):
                return
            step = step / 2
            refresh = True

    def _objective(self, alpha: float) -> float:
        b = self.coef
        penalty = self.pf * (self.l1 * np.abs(b) + 0.5 * (1.0 - self.l1) * b * b)
        return -self.loglik / self.n + alpha * float(penalty.sum())

    def _move_to(self, coef: np.ndarray, *, hessian: bool = False) -> None:
        self.coef = coef
        self._evaluate(hessian=hessian)

    def _evaluate(self, *, hessian: bool) -> None:
        data = self.data
        eta = data.x @ self.coef
        shift = float(eta.max())
        w = np.exp(eta - shift)
        v = np.empty_like(w)
        log_s0 = _risk_weights(w, data.starts, data.deaths, v)
        self.loglik = float(data.event_sum @ self.coef) - log_s0 - data.n_events * shift
        self.grad = data.event_sum - v @ data.x
        self.passes += 1
        if hessian:
            self.hess = _information(data.x, w, v, data.starts, data.deaths)


@numba.njit(cache=True, nogil=True)
def _risk_weights(w: np.ndarray, starts: np.ndarray, deaths: np.ndarray, v: np.ndarray) -> float:
    """Writes ``v_i = w_i * sum_{k >= block(i)} d_k / S0_k`` and returns ``sum_k d_k log S0_k``.

    Rows are by decreasing time, so block ``k``'s risk set is the rows of blocks ``0..k`` and
    ``S0_k`` their running sum of ``w``. Through ``v`` the gradient of the log-likelihood is
    ``sum over events of x - X'v``. The sum of logs is the log of a running product, kept
    within ``2^-500 .. 2^500`` by exact powers of 2 (a log per event time would cost as much
    as the rest of the pass).
    """
    blocks = len(starts) - 1
    share = np.empty(blocks)
    s0 = 0.0
    total = 0.0
    product = 1.0
    for block in range(blocks):
        for k in range(starts[block], starts[block + 1]):
            s0 += w[k]
        d = deaths[block]
        share[block] = d / s0
        if d == 0:
            continue
        if not _TINY < s0 < _HUGE:  # the product could leave the floating-point range
            total += d * np.log(s0)
            continue
        for _ in range(d):
            product *= s0
            if product > _HUGE:
                product *= _TINY
                total += _LOG_HUGE
            elif product < _TINY:
                product *= _HUGE
                total -= _LOG_HUGE
    later = 0.0
    for block in range(blocks - 1, -1, -1):
        later += share[block]
        for k in range(starts[block], starts[block + 1]):
            v[k] = w[k] * later
    return total + np.log(product)


@numba.njit(cache=True, nogil=True)
def _information(
    x: np.ndarray, w: np.ndarray, v: np.ndarray, starts: np.ndarray, deaths: np.ndarray
) -> np.ndarray:
    """Minus the Hessian of the log-likelihood, ``sum_k d_k (S2_k / S0_k - a_k a_k')`` with
    ``a_k = S1_k / S0_k``, as ``X' diag(v) X - sum_k d_k a_k a_k'`` (``v`` of
    :func:`_risk_weights`): one pass, no matrix of running sums."""
    n, p = x.shape
    info = np.zeros((p, p))
    s0 = 0.0
    s1 = np.zeros(p)
    mean = np.zeros(p)
    for block in range(len(starts) - 1):
        for k in range(starts[block], starts[block + 1]):
            s0 += w[k]
            for a in range(p):
                s1[a] += w[k] * x[k, a]
        d = deaths[block]
        if d > 0:
            for a in range(p):
                mean[a] = s1[a] / s0
            for a in range(p):
                for b in range(a, p):
                    info[a, b] -= d * mean[a] * mean[b]
    for k in range(n):
        for a in range(p):
            va = v[k] * x[k, a]
            for b in range(a, p):
                info[a, b] += va * x[k, b]
    for a in range(p):
        for b in range(a):
            info[a, b] = info[b, a]
    return info


@numba.njit(cache=True, nogil=True)
def _cd_solve(
    a: np.ndarray,
    c: np.ndarray,
    b: np.ndarray,
    l1_pen: np.ndarray,
    l2_pen: np.ndarray,
    active: np.ndarray,
) -> np.ndarray:
    """Minimise ``b'a b / 2 - c'b + sum l1_pen |b| + sum l2_pen b^2 / 2`` over the active
    coordinates (the others stay at 0) by cyclic coordinate descent, from ``b``."""
    p = len(c)
    for j in range(p):
        if not active[j]:
            b[j] = 0.0
    for _ in range(10_000):
        largest = 0.0
        for j in range(p):
            if not active[j]:
                continue
            r = c[j]
            for k in range(p):
                if k != j:
                    r -= a[j, k] * b[k]
            if r > l1_pen[j]:
                new = (r - l1_pen[j]) / (a[j, j] + l2_pen[j])
            elif r < -l1_pen[j]:
                new = (r + l1_pen[j]) / (a[j, j] + l2_pen[j])
            else:
                new = 0.0
            change = abs(new - b[j]) * np.sqrt(a[j, j])
            if change > largest:
                largest = change
            b[j] = new
        if largest < 1e-13:
            break
    return b
