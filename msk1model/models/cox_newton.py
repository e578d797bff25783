"""Cox proportional hazards by Newton's method on the partial likelihood, in O(n p^2) per step.

The patients are sorted once by decreasing time; each Newton step is then one compiled pass
(numba) that grows the risk-set sums ``S0 = sum w``, ``S1 = sum w x`` and ``S2 = sum w x x'``
(``w = exp(x'b)``) a block of tied times at a time and takes the log-likelihood, gradient and
Hessian from them, with Breslow's or Efron's handling of tied event times: for the ``l``-th of
``d`` tied events Efron's risk set removes the share ``l / d`` of the tied events' own sums. The
exponent is shifted by its maximum, so no ``exp`` overflows. Steps are halved until the
penalised log-likelihood does not decrease; the fit stops when the next step would move no
coefficient by ``tol`` (1e-10) or more.

The ridge penalty is lifelines' and scikit-survival's ``penalizer / 2 * |b|^2`` times the number
of patients (lifelines' scale) or not (``penalty_per_patient=False``, scikit-survival's
``alpha``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, NamedTuple

import numba
import numpy as np
import numpy.typing as npt

from msk1model.errors import ModelError

__all__ = [
    "CoxFit",
    "breslow_cumulative_hazard",
    "fit_cox_newton",
    "newton_maximise",
    "schoenfeld_residuals",
]

Ties = Literal["breslow", "efron"]


class CoxFit(NamedTuple):
    """A fitted Cox model."""

    coef: np.ndarray
    """shape (p,): log hazard ratio per unit of each column."""
    information: np.ndarray
    """shape (p, p): observed information (minus the Hessian of the penalised log-likelihood)."""
    log_likelihood: float
    """Partial log-likelihood at ``coef`` (without the penalty)."""
    iterations: int
    converged: bool

    @property
    def se(self) -> np.ndarray:
        """Standard errors: square roots of the diagonal of the inverse information."""
        return np.sqrt(np.diag(np.linalg.inv(self.information)))


def fit_cox_newton(
    X: npt.ArrayLike,
    time: npt.ArrayLike,
    event: npt.ArrayLike,
    *,
    ties: Ties = "efron",
    penalizer: float = 0.0,
    penalty_per_patient: bool = True,
    tol: float = 1e-10,
    max_iter: int = 50,
) -> CoxFit:
    """Maximise the (ridge-penalised) Cox partial likelihood of ``time``, ``event`` on ``X``.

    Parameters
    ----------
    X : array-like, shape (n, p)
        Covariates, finite.
    time, event : array-like, shape (n,)
        Follow-up and event indicator.
    ties
        ``"efron"`` (lifelines, R's default) or ``"breslow"`` (scikit-survival's default).
    penalizer
        Ridge penalty ``penalizer / 2 * |b|^2``, times ``n`` when ``penalty_per_patient``.
    tol
        Stop when no coefficient would move by ``tol`` or more in the next Newton step.
    max_iter
        At most this many Newton steps; ``converged`` is False when they run out.

    Raises
    ------
    ModelError
        If there is no event, or the information matrix is singular (collinear or constant
        columns without a penalty).
    """
    x = np.ascontiguousarray(X, dtype=float)
    if x.ndim == 1:
        x = x[:, np.newaxis]
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=bool)
    if not e.any():
        raise ModelError("the Cox model needs at least one event, but there is none")
    order = np.argsort(-t)  # decreasing time; any order within tied times
    x, t, e = x[order], t[order], e[order]
    ridge = penalizer * (len(t) if penalty_per_patient else 1.0)
    efron = ties == "efron"
    return newton_maximise(
        lambda coef: _derivatives(x, t, e, coef, efron),
        x.shape[1],
        ridge=ridge,
        tol=tol,
        max_iter=max_iter,
    )


Derivatives = Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray]]


def newton_maximise(
    derivatives: Derivatives, p: int, *, ridge: float = 0.0, tol: float = 1e-10, max_iter: int = 50
) -> CoxFit:
    """Maximise a concave log-likelihood minus ``ridge / 2 * |b|^2`` by Newton's method from 0.

    ``derivatives(coef)`` gives the log-likelihood, its gradient and its Hessian. Steps are
    halved until the penalised log-likelihood does not decrease; the fit stops when the next step
    would move no coefficient by ``tol`` or more.
    """
    coef = np.zeros(p)
    loglik, grad, hess = derivatives(coef)
    objective = loglik - 0.5 * ridge * coef @ coef
    converged = False
    iterations = 0  # Newton steps taken
    while iterations < max_iter:
        information = -hess + ridge * np.eye(len(coef))
        score = grad - ridge * coef
        try:
            step = np.linalg.solve(information, score)
        except np.linalg.LinAlgError:
            raise ModelError(
                "the Cox information matrix is singular: a column is constant or a linear "
                "combination of the others"
            ) from None
        if not np.all(np.isfinite(step)):
            raise ModelError("the Cox Newton step is not finite: the columns are ill-conditioned")
        if np.max(np.abs(step), initial=0.0) < tol:
            converged = True  # quadratic convergence: the remaining error is about the step
            break
        for _ in range(60):  # step halving keeps the penalised log-likelihood from falling
            trial = coef + step
            t_loglik, t_grad, t_hess = derivatives(trial)
            t_objective = t_loglik - 0.5 * ridge * trial @ trial
            if t_objective >= objective - 1e-12 * abs(objective):
                break
            step = step / 2
        coef, loglik, grad, hess, objective = trial, t_loglik, t_grad, t_hess, t_objective
        iterations += 1
    information = -hess + ridge * np.eye(len(coef))
    return CoxFit(coef, information, float(loglik), iterations, converged)


def breslow_cumulative_hazard(
    eta: npt.ArrayLike, time: npt.ArrayLike, event: npt.ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Breslow's baseline cumulative hazard for linear predictor ``eta``: at each distinct event
    time (increasing), the sum over event times up to it of ``d_k / sum_{T_j >= t_k} exp(eta_j)``.
    """
    eta = np.asarray(eta, dtype=float)
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=bool)
    shift = float(eta.max())
    order = np.argsort(t)
    ts, es, ws = t[order], e[order], np.exp(eta[order] - shift)
    at_risk = np.cumsum(ws[::-1])[::-1]  # sum over positions >= k
    first = np.concatenate([[True], ts[1:] != ts[:-1]])
    starts = np.flatnonzero(first)
    deaths = np.add.reduceat(es.astype(float), starts)
    has = deaths > 0
    hazard = deaths[has] / at_risk[starts][has] * np.exp(-shift)
    return ts[starts][has], np.cumsum(hazard)


def schoenfeld_residuals(
    X: npt.ArrayLike, time: npt.ArrayLike, event: npt.ArrayLike, coef: npt.ArrayLike
) -> np.ndarray:
    """Schoenfeld residuals of the events, shape (d, p), in lifelines' order (increasing time,
    then row order among tied events): ``x_i`` minus the risk-set mean of ``x`` weighted by
    ``exp(x'b)``, with Efron's handling of ties (the mean over the ``l``-th of ``d`` tied events'
    risk sets, each without the share ``l / d`` of the tied events), as lifelines'
    ``compute_residuals(kind="schoenfeld")``."""
    x = np.ascontiguousarray(X, dtype=float)
    if x.ndim == 1:
        x = x[:, np.newaxis]
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=bool)
    order = np.lexsort((e, t))  # lifelines sorts by (duration, event), stably
    x, t, e = x[order], t[order], e[order]
    eta = x @ np.asarray(coef, dtype=float)
    return _schoenfeld(x, t, e, np.exp(eta - eta.max()))[e]


@numba.njit(cache=True, nogil=True)
def _schoenfeld(x: np.ndarray, time: np.ndarray, event: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Residual of every patient (0 when censored), patients in increasing ``time``."""
    n, p = x.shape
    out = np.zeros((n, p))
    s0 = 0.0
    s1 = np.zeros(p)
    mean = np.zeros(p)
    stop = n
    while stop > 0:
        start = stop - 1
        while start > 0 and time[start - 1] == time[stop - 1]:
            start -= 1
        deaths = 0
        d0 = 0.0
        d1 = np.zeros(p)
        for k in range(start, stop):
            s0 += w[k]
            for a in range(p):
                s1[a] += w[k] * x[k, a]
            if event[k]:
                deaths += 1
                d0 += w[k]
                for a in range(p):
                    d1[a] += w[k] * x[k, a]
        if deaths > 0:
            mean[:] = 0.0
            for m in range(deaths):
                share = m / deaths
                a0 = s0 - share * d0
                for a in range(p):
                    mean[a] += (s1[a] - share * d1[a]) / (a0 * deaths)
            for k in range(start, stop):
                if event[k]:
                    for a in range(p):
                        out[k, a] = x[k, a] - mean[a]
        stop = start
    return out


@numba.njit(cache=True, nogil=True)
def _derivatives(
    x: np.ndarray, time: np.ndarray, event: np.ndarray, coef: np.ndarray, efron: bool
) -> tuple[float, np.ndarray, np.ndarray]:
    """Log-likelihood, gradient and Hessian at ``coef`` of patients in decreasing ``time``."""
    n, p = x.shape
    eta = x @ coef
    shift = eta.max()
    s0 = 0.0
    s1 = np.zeros(p)
    s2 = np.zeros((p, p))
    d1 = np.zeros(p)
    d2 = np.zeros((p, p))
    a1 = np.zeros(p)
    loglik = 0.0
    grad = np.zeros(p)
    hess = np.zeros((p, p))
    start = 0
    while start < n:
        stop = start + 1
        while stop < n and time[stop] == time[start]:
            stop += 1
        deaths = 0
        d0 = 0.0
        d1[:] = 0.0
        d2[:, :] = 0.0
        for k in range(start, stop):  # the block joins the risk set
            w = np.exp(eta[k] - shift)
            s0 += w
            for a in range(p):
                wa = w * x[k, a]
                s1[a] += wa
                for b in range(a, p):
                    s2[a, b] += wa * x[k, b]
            if event[k]:
                deaths += 1
                loglik += eta[k]
                d0 += w
                for a in range(p):
                    wa = w * x[k, a]
                    grad[a] += x[k, a]
                    d1[a] += wa
                    for b in range(a, p):
                        d2[a, b] += wa * x[k, b]
        for m in range(deaths):
            share = m / deaths if efron else 0.0
            a0 = s0 - share * d0
            loglik -= np.log(a0) + shift
            for a in range(p):
                a1[a] = (s1[a] - share * d1[a]) / a0
                grad[a] -= a1[a]
            for a in range(p):
                for b in range(a, p):
                    hess[a, b] -= (s2[a, b] - share * d2[a, b]) / a0 - a1[a] * a1[b]
        start = stop
    for a in range(p):
        for b in range(a):
            hess[a, b] = hess[b, a]
    return loglik, grad, hess
