"""The Cox Newton solver (msk1model.models.cox_newton) against scikit-survival and lifelines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from sksurv.linear_model import CoxPHSurvivalAnalysis

from msk1model.errors import ModelError
from msk1model.models.cox_newton import (
    _derivatives,
    breslow_cumulative_hazard,
    fit_cox_newton,
    schoenfeld_residuals,
)
from msk1model.outcome import make_y

#: the peers' own stopping rules, tightened so that they reach the maximum too
_LIFELINES = {"precision": 1e-14, "r_precision": 1e-14}


def _cohort(seed: int, n: int = 1500, p: int = 4, tied: bool = True):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) * rng.uniform(0.5, 3.0, p) + rng.normal(0, 2, p)
    coef = rng.normal(0, 0.4, p) / X.std(axis=0)
    time = rng.exponential(np.exp(-X @ coef))
    time = np.round(time, 1) + 0.1 if tied else time  # many tied event times
    return X, time, rng.random(n) < 0.7


@pytest.mark.parametrize("ties", ["breslow", "efron"])
@pytest.mark.parametrize("seed", range(3))
def test_coefficients_equal_scikit_survival(ties: str, seed: int) -> None:
    X, time, event = _cohort(seed, tied=seed != 2)
    peer = CoxPHSurvivalAnalysis(ties=ties, tol=1e-13, n_iter=200)
    peer.fit(X, make_y(time=time, event=event))
    fit = fit_cox_newton(X, time, event, ties=ties)  # type: ignore[arg-type]
    assert fit.converged
    np.testing.assert_allclose(fit.coef, peer.coef_, rtol=0, atol=1e-9)


def test_efron_fit_equals_lifelines_coefficients_errors_and_log_likelihood() -> None:
    X, time, event = _cohort(5)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"]).assign(T=time, E=event.astype(int))
    peer = CoxPHFitter().fit(frame, "T", "E", fit_options=_LIFELINES)
    fit = fit_cox_newton(X, time, event)
    np.testing.assert_allclose(fit.coef, peer.params_.to_numpy(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(fit.se, peer.standard_errors_.to_numpy(), rtol=1e-8)
    assert fit.log_likelihood == pytest.approx(peer.log_likelihood_, abs=1e-7)


def test_ridge_penalties_on_the_lifelines_and_scikit_survival_scales() -> None:
    X, time, event = _cohort(6)
    standardised = (X - X.mean(axis=0)) / X.std(axis=0, ddof=1)  # lifelines penalises this scale
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"]).assign(T=time, E=event.astype(int))
    peer = CoxPHFitter(penalizer=0.1).fit(frame, "T", "E", fit_options=_LIFELINES)
    fit = fit_cox_newton(standardised, time, event, penalizer=0.1)
    np.testing.assert_allclose(
        fit.coef / X.std(axis=0, ddof=1), peer.params_.to_numpy(), rtol=0, atol=1e-9
    )
    sk = CoxPHSurvivalAnalysis(alpha=20.0, ties="efron", tol=1e-13, n_iter=200)
    sk.fit(X, make_y(time=time, event=event))
    per_fit = fit_cox_newton(X, time, event, penalizer=20.0, penalty_per_patient=False)
    np.testing.assert_allclose(per_fit.coef, sk.coef_, rtol=0, atol=1e-9)
    assert np.all(np.abs(per_fit.coef) < np.abs(fit_cox_newton(X, time, event).coef))  # shrunk


def test_the_score_at_zero_is_the_log_rank_observed_minus_expected() -> None:
    """One binary covariate, no tied times: the partial-likelihood score at b = 0 is the
    log-rank statistic's O - E of group 1 (sum over events of x_i - share of group 1 at risk)."""
    rng = np.random.default_rng(8)
    group = (rng.random(400) < 0.5).astype(float)
    time = rng.exponential(np.where(group == 1, 0.7, 1.0))
    event = rng.random(400) < 0.8
    order = np.argsort(time)
    at_risk = np.arange(len(time), 0, -1)
    in_group = np.cumsum(group[order][::-1])[::-1]
    o_minus_e = float(np.sum(event[order] * (group[order] - in_group / at_risk)))
    down = np.argsort(-time)  # the pass takes patients in decreasing time
    _, score, _ = _derivatives(
        group[down][:, np.newaxis], time[down], event[down], np.zeros(1), False
    )
    assert score[0] == pytest.approx(o_minus_e, abs=1e-9)


def test_breslow_cumulative_hazard_equals_lifelines() -> None:
    X, time, event = _cohort(7)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"]).assign(T=time, E=event.astype(int))
    peer = CoxPHFitter().fit(frame, "T", "E", fit_options=_LIFELINES)
    coef = peer.params_.to_numpy()
    times, cumhaz = breslow_cumulative_hazard(X @ coef, time, event)
    theirs = peer.baseline_cumulative_hazard_.iloc[:, 0]  # at the covariate means
    at = np.searchsorted(theirs.index.to_numpy(), times)
    np.testing.assert_allclose(
        cumhaz, theirs.to_numpy()[at] * np.exp(-X.mean(axis=0) @ coef), rtol=1e-10
    )
    assert np.all(np.diff(times) > 0) and set(times) == set(time[event])


def test_no_event_and_collinear_columns_are_errors() -> None:
    X, time, event = _cohort(9, n=200)
    with pytest.raises(ModelError, match="at least one event"):
        fit_cox_newton(X, time, np.zeros(len(time), dtype=bool))
    collinear = np.column_stack([X[:, 0], 2 * X[:, 0] + 1])
    with pytest.raises(ModelError, match="singular"):
        fit_cox_newton(collinear, time, event)
    assert fit_cox_newton(collinear, time, event, penalizer=0.1).converged  # ridge resolves it


def test_separation_does_not_converge() -> None:
    time = np.arange(1.0, 21.0)
    event = np.ones(20, dtype=bool)
    x = (time <= 10).astype(float)  # the first ten to fail are exactly group 1
    fit = fit_cox_newton(x, time, event, max_iter=30)
    assert not fit.converged and fit.coef[0] > 5  # the likelihood grows without bound


def test_schoenfeld_residuals_equal_lifelines_with_tied_times() -> None:
    X, time, event = _cohort(10, n=600, p=3)
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(T=time, E=event.astype(int))
    peer = CoxPHFitter().fit(frame, "T", "E", fit_options=_LIFELINES)
    theirs = peer.compute_residuals(frame, kind="schoenfeld").to_numpy()
    ours = schoenfeld_residuals(X, time, event, peer.params_.to_numpy())
    assert ours.shape == theirs.shape == (event.sum(), 3)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.sum(axis=0), 0.0, atol=1e-8)  # the score at the maximum
