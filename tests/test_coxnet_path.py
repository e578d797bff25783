"""The elastic-net Cox path solver (msk1model.models.coxnet_path) against scikit-survival's
``CoxnetSurvivalAnalysis`` and against the optimality (KKT) conditions written out here."""

from __future__ import annotations

import numpy as np
import pytest
from sksurv.linear_model import CoxnetSurvivalAnalysis

from msk1model.errors import ModelError
from msk1model.models.coxnet_path import coxnet_path
from msk1model.outcome import make_y

#: scikit-survival's tolerance tightened so that its coordinate descent reaches the optimum
#: (within about 1e-8); ours at 1e-13 is within about 2e-8
_PEER_TOL, _OUR_TOL = 1e-16, 1e-13


def _cohort(seed: int, n: int = 800, p: int = 6, tied: bool = True):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    coef = np.r_[0.8, -0.5, 0.3, np.zeros(p - 3)]
    time = rng.exponential(np.exp(-X @ coef))
    time = np.round(time, 1) + 0.1 if tied else time  # many tied event times
    return (X - X.mean(0)) / X.std(0), time, rng.random(n) < 0.7


def _breslow_gradient(X: np.ndarray, time: np.ndarray, event: np.ndarray, b: np.ndarray):
    """The Breslow log-likelihood's gradient, the risk sets spelt out (O(n^2))."""
    w = np.exp(X @ b)
    at_risk = time[np.newaxis, :] >= time[event][:, np.newaxis]  # (events, n)
    means = (at_risk * w) @ X / (at_risk @ w)[:, np.newaxis]
    return (X[event] - means).sum(axis=0)


CASES = [
    (0, None, 0.5),
    (1, [0, 0, 1, 1, 1, 1], 1.0),
    (2, [1, 0, 2, 1, 1, 0.5], 0.3),
]


@pytest.mark.parametrize(("seed", "factor", "l1_ratio"), CASES)
def test_path_equals_scikit_survival(seed: int, factor, l1_ratio: float) -> None:
    X, time, event = _cohort(seed, tied=seed != 1)
    peer = CoxnetSurvivalAnalysis(
        n_alphas=40, l1_ratio=l1_ratio, penalty_factor=factor, tol=_PEER_TOL
    ).fit(X, make_y(time=time, event=event))
    ours = coxnet_path(
        X, time, event, l1_ratio=l1_ratio, penalty_factor=factor, n_alphas=40, tol=_OUR_TOL
    )
    assert ours.converged
    assert len(ours.alphas) == len(peer.alphas_)  # the same early end of the path
    np.testing.assert_allclose(ours.alphas, peer.alphas_, rtol=1e-7)
    np.testing.assert_allclose(ours.coef, peer.coef_, atol=1e-6)
    np.testing.assert_allclose(ours.deviance_ratio, peer.deviance_ratio_, atol=1e-8)


def test_given_alphas_equal_scikit_survival() -> None:
    X, time, event = _cohort(3)
    alphas = [0.2, 0.05, 0.01, 0.002]
    peer = CoxnetSurvivalAnalysis(alphas=alphas, l1_ratio=0.7, tol=_PEER_TOL)
    peer.fit(X, make_y(time=time, event=event))
    ours = coxnet_path(X, time, event, l1_ratio=0.7, alphas=alphas, tol=_OUR_TOL)
    np.testing.assert_array_equal(ours.alphas, alphas)
    np.testing.assert_allclose(ours.coef, peer.coef_, atol=1e-6)


@pytest.mark.parametrize(("seed", "factor", "l1_ratio"), CASES)
def test_every_alpha_meets_the_optimality_conditions(seed: int, factor, l1_ratio: float) -> None:
    """Zero coefficients: |gradient / n| <= alpha * l1_ratio * pf; the others: the gradient of
    the penalised objective is 0 (all to 1e-7, with pf rescaled to sum to p)."""
    X, time, event = _cohort(seed, tied=seed != 1)
    n, p = X.shape
    path = coxnet_path(X, time, event, l1_ratio=l1_ratio, penalty_factor=factor, tol=_OUR_TOL)
    pf = np.ones(p) if factor is None else np.asarray(factor, float) * p / np.sum(factor)
    for j, alpha in enumerate(path.alphas[1:], start=1):  # column 0 is alpha_max's
        b = path.coef[:, j]
        g = _breslow_gradient(X, time, event, b) / n
        zero = b == 0
        assert np.all(np.abs(g[zero]) <= alpha * l1_ratio * pf[zero] + 1e-7)
        stationary = -g + alpha * pf * (l1_ratio * np.sign(b) + (1 - l1_ratio) * b)
        np.testing.assert_allclose(stationary[~zero], 0.0, atol=1e-7)
    # the first alpha is the smallest that keeps every penalised coefficient at zero
    assert np.all(path.coef[pf > 0, 0] == 0) and np.any(path.coef[pf > 0, 1] != 0)


def test_bad_arguments_are_clear_errors() -> None:
    X, time, event = _cohort(0, n=50)
    with pytest.raises(ModelError, match=r"l1_ratio must be in \(0, 1\], but got 0.0"):
        coxnet_path(X, time, event, l1_ratio=0.0)
    with pytest.raises(ModelError, match=r"one value per column \(6\), but got 5"):
        coxnet_path(X, time, event, penalty_factor=[1, 1, 1, 1, 1])
    with pytest.raises(ModelError, match=r"penalty_factor must be >= 0 and not all 0"):
        coxnet_path(X, time, event, penalty_factor=[0] * 6)
    with pytest.raises(ModelError, match=r"alphas must be finite and > 0, but got \[0.1, -1.0\]"):
        coxnet_path(X, time, event, alphas=[0.1, -1])
    with pytest.raises(ModelError, match="needs at least one event, but there is none"):
        coxnet_path(X, time, np.zeros(len(time), bool))


def test_running_out_of_passes_warns_and_says_so() -> None:
    X, time, event = _cohort(0)
    with pytest.warns(UserWarning, match=r"did not converge in max_iter=3 passes.*raise max_iter"):
        path = coxnet_path(X, time, event, max_iter=3)
    assert not path.converged


@pytest.mark.parametrize("spread", [1.0, 300.0, 740.0])
def test_a_pass_equals_the_risk_sets_written_out(spread: float) -> None:
    """Log-likelihood, gradient and information of one pass against the Breslow formulas
    written out (O(n^2)), 1e-9 relative, with risk weights from 1 down to ``exp(-spread)``: the
    running product behind the log-likelihood rescales and, below 2^-500, falls back to logs."""
    from msk1model.models.coxnet_path import _PathSolver, _sorted_data

    X, time, event = _cohort(5, n=300, p=3)
    b = np.array([spread / (X[:, 0].max() - X[:, 0].min()), 0.0, 0.0])
    solver = _PathSolver(_sorted_data(X, time, event), np.ones(3), 0.5, 1e-7, 100)
    solver.coef = b
    solver._evaluate(hessian=True)
    eta = X @ b
    at_risk = time[np.newaxis, :] >= time[event][:, np.newaxis]  # (events, n)
    shift = eta.max()
    s0 = at_risk @ np.exp(eta - shift)
    means = (at_risk * np.exp(eta - shift)) @ X / s0[:, np.newaxis]
    loglik = float(np.sum(eta[event] - shift - np.log(s0)))
    info = sum(
        np.einsum("i,ij,ik->jk", at_risk[k] * np.exp(eta - shift), X, X) / s0[k]
        - np.outer(means[k], means[k])
        for k in range(len(s0))
    )
    np.testing.assert_allclose(solver.loglik, loglik, rtol=1e-9)
    np.testing.assert_allclose(solver.grad, (X[event] - means).sum(axis=0), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(solver.hess, info, rtol=1e-9, atol=1e-9)
    assert np.exp(eta - shift).min() < np.exp(-0.9 * spread)  # the weights do span the range
