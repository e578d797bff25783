"""The Fine-Gray model (msk1model.models.fine_gray) against a weighted Cox fit of lifelines on the
Fine-Gray expanded data, and its cumulative incidence against the Aalen-Johansen estimate."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxTimeVaryingFitter

from msk1model.errors import ModelError
from msk1model.evaluation.competing import aalen_johansen
from msk1model.models.fine_gray import censoring_left_limits, fit_fine_gray


def _cohort(seed: int, n: int = 300, p: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Continuous times (no ties); causes 1 and 2 depend on the covariates, censoring does not."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    t1 = rng.exponential(np.exp(-X @ np.r_[0.7, -0.4, np.zeros(p - 2)]) * 3.0)
    t2 = rng.exponential(np.exp(-X @ np.r_[-0.3, 0.0, 0.5, np.zeros(p - 3)]) * 4.0)
    c = rng.uniform(0.5, 6.0, n)
    time = np.minimum.reduce([t1, t2, c])
    codes = np.select([time == t1, time == t2], [1, 2], 0)
    return X, time, codes


def _expanded(X: np.ndarray, time: np.ndarray, codes: np.ndarray, cause: int) -> pd.DataFrame:
    """Fine & Gray's weighted counting-process data, written out: every patient is at risk up to
    her own time; a patient with a competing event stays at risk afterwards, in one interval up
    to each later event time ``u`` of the cause, weighted ``G(u-) / G(T-)``."""
    times, g_left = censoring_left_limits(time, codes)
    g_at = dict(zip(times, g_left, strict=True))
    event_times = np.sort(time[codes == cause])
    rows = []
    for i in range(len(time)):
        rows.append((i, 0.0, time[i], int(codes[i] == cause), 1.0))
        if codes[i] not in (0, cause):
            start = time[i]
            for u in event_times[event_times > time[i]]:
                rows.append((i, start, u, 0, g_at[u] / g_at[time[i]]))
                start = u
    frame = pd.DataFrame(rows, columns=["id", "start", "stop", "event", "w"])
    covariates = pd.DataFrame(X[frame["id"]], columns=[f"x{j}" for j in range(X.shape[1])])
    return pd.concat([frame, covariates], axis=1)


@pytest.mark.parametrize(("seed", "cause"), [(0, 1), (1, 2), (2, 1)])
def test_coefficients_equal_a_weighted_cox_fit_on_the_expanded_data(seed: int, cause: int) -> None:
    X, time, codes = _cohort(seed)
    fit = fit_fine_gray(X, time, codes, cause)
    assert fit.cox.converged
    data = _expanded(X, time, codes, cause)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lifelines' advice on non-integer weights
        peer = CoxTimeVaryingFitter().fit(
            data.drop(columns="id"), event_col="event", start_col="start", stop_col="stop",
            weights_col="w", fit_options={"precision": 1e-14}
        )  # fmt: skip
    np.testing.assert_allclose(fit.coef, peer.params_.to_numpy(), atol=1e-8)
    np.testing.assert_allclose(fit.cox.se, peer.standard_errors_.to_numpy(), rtol=1e-8)
    assert fit.cox.log_likelihood == pytest.approx(peer.log_likelihood_, rel=1e-8)


def test_without_covariate_effects_the_cif_is_the_aalen_johansen_estimate() -> None:
    """With a constant covariate (coefficient 0), Breslow's baseline gives ``1 - exp(-Lambda)``:
    the CIF of a one-group Fine-Gray model, which is close to (not equal to) Aalen-Johansen."""
    _, time, codes = _cohort(5, n=2000)
    X = np.zeros((len(time), 1))
    fit = fit_fine_gray(X, time, codes, 1, penalizer=1e-3)
    assert fit.coef[0] == pytest.approx(0.0, abs=1e-12)
    at = np.array([0.5, 1.0, 2.0, 4.0])
    ours = fit.cumulative_incidence(np.zeros((1, 1)), at)[0]
    aj = aalen_johansen(time, codes, 1).at(at)
    # -log(1 - F) summed as a hazard, against the product form: equal to first order
    np.testing.assert_allclose(ours, aj, atol=5e-3)
    # the baseline equals the subdistribution Nelson-Aalen estimate written out
    times, g_left = censoring_left_limits(time, codes)
    g = dict(zip(times, g_left, strict=True))
    expected = []
    for u in fit.times:
        free = np.sum(time >= u)
        earlier = (time < u) & (codes == 2)
        weighted = np.sum(g[u] / np.array([g[t] for t in time[earlier]]))
        expected.append(np.sum((time == u) & (codes == 1)) / (free + weighted))
    np.testing.assert_allclose(fit.cumulative_hazard, np.cumsum(expected), rtol=1e-10)


def test_censoring_left_limits_are_the_kaplan_meier_of_censoring_before_each_time() -> None:
    times, g = censoring_left_limits([1.0, 2.0, 2.0, 3.0, 4.0], [1, 0, 2, 0, 1])
    np.testing.assert_array_equal(times, [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(g, [1.0, 1.0, 1.0 - 1 / 4, (1 - 1 / 4) * (1 - 1 / 2)])


def test_a_cause_without_events_is_a_clear_error() -> None:
    X, time, codes = _cohort(0, n=50)
    with pytest.raises(ModelError, match="cause 3 needs an event of it, but has none"):
        fit_fine_gray(X, time, codes, 3)


@pytest.mark.parametrize("seed", [0, 4])
def test_robust_covariance_equals_the_expanded_data_score_residuals(seed: int) -> None:
    """The sandwich over each patient's score residual, summed over her rows of the expanded
    data: ``w_r [event_r (x_i - xbar(stop)) - sum_{t in (start, stop]} exp(eta_i) (x_i -
    xbar(t)) dLambda(t)]``, with the weighted risk sets of those rows spelt out."""
    X, time, codes = _cohort(seed, n=120)
    fit = fit_fine_gray(X, time, codes, 1)
    data = _expanded(X, time, codes, 1)
    x = data[[f"x{j}" for j in range(X.shape[1])]].to_numpy()
    risk = data["w"].to_numpy() * np.exp(x @ fit.coef)
    start, stop = data["start"].to_numpy(), data["stop"].to_numpy()
    event_times = np.unique(stop[data["event"].to_numpy() == 1])
    xbar, d_lambda = {}, {}
    for t in event_times:
        at_risk = (start < t) & (t <= stop)
        xbar[t] = (risk[at_risk, None] * x[at_risk]).sum(axis=0) / risk[at_risk].sum()
        d_lambda[t] = np.sum((stop == t) & (data["event"].to_numpy() == 1)) / risk[at_risk].sum()
    residual = np.zeros((len(time), X.shape[1]))
    for r, row in enumerate(data.itertuples(index=False)):
        u = row.event * (x[r] - xbar[row.stop]) if row.event else np.zeros(X.shape[1])
        for t in event_times[(event_times > row.start) & (event_times <= row.stop)]:
            u = u - np.exp(x[r] @ fit.coef) * (x[r] - xbar[t]) * d_lambda[t]
        residual[row.id] += row.w * u
    np.testing.assert_allclose(residual.sum(axis=0), 0.0, atol=1e-8)  # the score at the MLE
    inverse = np.linalg.inv(fit.cox.information)
    expected = inverse @ residual.T @ residual @ inverse
    np.testing.assert_allclose(fit.robust_covariance, expected, rtol=1e-9)
    assert np.all(fit.robust_se > 0)
