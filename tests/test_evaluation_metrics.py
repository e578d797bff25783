"""Time-dependent and calibration metrics against independent computations.

Counterparts: direct formulas written here (IPCW Brier score, O(n^2) AUC, Haider's D-calibration
bins) with a hand-written Kaplan-Meier, lifelines' Kaplan-Meier, scikit-survival's Cox model and a
natural spline basis built from scipy, plus large Weibull cohorts whose true S(t|x) is known.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from lifelines import KaplanMeierFitter
from scipy.interpolate import CubicSpline
from scipy.stats import chisquare
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.metrics import brier_score, cumulative_dynamic_auc
from sksurv.metrics import integrated_brier_score as sksurv_ibs
from sksurv.nonparametric import SurvivalFunctionEstimator

from msk1model.errors import EvaluationError
from msk1model.evaluation import (
    CalibrationWarning,
    HorizonWarning,
    brier_scores,
    calibration_in_the_large,
    calibration_slope,
    clip_horizons,
    d_calibration,
    integrated_brier_score,
    integrated_calibration_index,
    ipa,
    survival_at_own_times,
    time_dependent_auc,
)
from msk1model.outcome import make_y
from msk1model.splines import rcs_basis

SHAPE, SCALE = 1.3, 8.0  # Weibull: S(t|x) = exp(-(t/SCALE)^SHAPE * exp(lp)), t in years
HORIZONS = np.array([1.0, 3.0, 5.0])


def true_surv(t: np.ndarray | float, lp: np.ndarray) -> np.ndarray:
    return np.exp(-((np.asarray(t) / SCALE) ** SHAPE) * np.exp(lp))


def weibull(n: int, seed: int, end: float = 10.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Continuous times (no ties), exponential censoring, administrative end of study at ``end``."""
    rng = np.random.default_rng(seed)
    lp = 0.8 * rng.normal(size=n)
    t_event = SCALE * (-np.log(rng.random(n)) / np.exp(lp)) ** (1 / SHAPE)
    t_cens = np.minimum(rng.exponential(12.0, n), end)
    return np.minimum(t_event, t_cens), t_event <= t_cens, lp


@pytest.fixture(scope="module")
def train() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return weibull(1500, 1, end=12.0)  # training follow-up outlasts the test's


@pytest.fixture(scope="module")
def holdout() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return weibull(800, 2)


@pytest.fixture(scope="module")
def large() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return weibull(5000, 3)


# --- independent reference computations -------------------------------------------------------


def km_curve(time: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Product-limit estimate: distinct times and S just after each."""
    times = np.unique(time)
    at_risk = np.array([(time >= u).sum() for u in times])
    events = np.array([(event & (time == u)).sum() for u in times])
    return times, np.cumprod(1.0 - events / at_risk)


def step(curve: tuple[np.ndarray, np.ndarray], t: np.ndarray, left: bool = False) -> np.ndarray:
    """Right-continuous step function at t, or its left limit (value at t-)."""
    times, values = curve
    i = np.searchsorted(times, t, side="left" if left else "right") - 1
    return np.where(i >= 0, values[np.maximum(i, 0)], 1.0)


def brier_direct(tr_t, tr_e, t, e, s, horizon) -> float:
    """Graf et al. (1999) with G(T_i-) for the cases and G(t) for the controls."""
    cens = km_curve(tr_t, ~tr_e)
    case = e & (t <= horizon)
    control = t > horizon
    g_case = step(cens, t, left=True)
    g_t = step(cens, np.array([horizon]))[0]
    return float(
        np.mean(np.where(case, s**2 / g_case, 0) + np.where(control, (1 - s) ** 2 / g_t, 0))
    )


def auc_direct(tr_t, tr_e, t, e, risk, horizon) -> float:
    """Uno/Hung-Chiang AUC(t) by its definition: weighted share of concordant case-control pairs."""
    cens = km_curve(tr_t, ~tr_e)
    case = e & (t <= horizon)
    w = np.where(case, 1.0 / step(cens, t, left=True), 0.0)
    control = t > horizon
    pair = (risk[:, None] > risk[None, :]) + 0.5 * (risk[:, None] == risk[None, :])
    return float((w[:, None] * control[None, :] * pair).sum() / (w.sum() * control.sum()))


def dcal_direct(s: np.ndarray, e: np.ndarray, n_bins: int = 10) -> np.ndarray:
    """Haider et al. (2020) bin totals, one patient at a time."""
    totals = np.zeros(n_bins)
    for si, ei in zip(s, e, strict=True):
        b = min(int(si * n_bins), n_bins - 1)
        if ei or si == 0:
            totals[b] += 1.0
            continue
        totals[b] += (si - b / n_bins) / si
        totals[:b] += (1.0 / n_bins) / si
    return totals


def natural_spline_basis(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Natural cubic splines via scipy's cardinal interpolants, extended linearly beyond the ends.

    Spans the same functions as Harrell's restricted cubic splines (plus the constant, dropped).
    """
    cols = []
    for j in range(len(knots)):
        cs = CubicSpline(knots, np.eye(len(knots))[j], bc_type="natural")
        v = cs(np.clip(x, knots[0], knots[-1]))
        v += np.where(x < knots[0], cs(knots[0], 1) * (x - knots[0]), 0.0)
        v += np.where(x > knots[-1], cs(knots[-1], 1) * (x - knots[-1]), 0.0)
        cols.append(v)
    return np.column_stack(cols)[:, 1:]


def sksurv_cox(x: np.ndarray, t: np.ndarray, e: np.ndarray) -> CoxPHSurvivalAnalysis:
    return CoxPHSurvivalAnalysis(ties="efron", tol=1e-12, n_iter=200).fit(
        x, make_y(time=t, event=e)
    )


# --- time-dependent AUC -------------------------------------------------------------------------


def test_auc_matches_direct_definition_with_tied_risks(train, holdout) -> None:
    tr_t, tr_e, _ = train
    y_tr = make_y(time=tr_t, event=tr_e)
    t, e, lp = holdout
    y_te = make_y(time=t, event=e)
    risk = np.round(lp + np.random.default_rng(4).normal(scale=0.5, size=len(lp)), 1)
    expected = auc_direct(tr_t, tr_e, t, e, risk, 3.0)
    result = time_dependent_auc(y_tr, y_te, risk, [3.0])
    assert result.auc[0] == pytest.approx(expected, abs=1e-10)
    assert result.mean_auc == result.auc[0]


def test_auc_per_horizon_and_mean_match_sksurv(train, holdout) -> None:
    tr_t, tr_e, _ = train
    y_tr = make_y(time=tr_t, event=tr_e)
    t, e, lp = holdout
    y_te = make_y(time=t, event=e)
    risk = np.column_stack([lp, lp + 0.1, lp**2])  # time-dependent risk: one column per horizon
    auc, mean_auc = cumulative_dynamic_auc(
        make_y(time=tr_t, event=tr_e), make_y(time=t, event=e), risk, HORIZONS
    )
    result = time_dependent_auc(y_tr, y_te, risk, HORIZONS)
    np.testing.assert_allclose(result.auc, auc, atol=1e-12)
    assert result.mean_auc == pytest.approx(mean_auc, abs=1e-12)
    for k, h in enumerate(HORIZONS):
        assert result.auc[k] == pytest.approx(
            auc_direct(tr_t, tr_e, t, e, risk[:, k], h), abs=1e-10
        )


# --- Brier score, IBS, IPA ----------------------------------------------------------------------


def test_brier_matches_direct_ipcw_formula(train, holdout) -> None:
    tr_t, tr_e, _ = train
    y_tr = make_y(time=tr_t, event=tr_e)
    t, e, lp = holdout
    y_te = make_y(time=t, event=e)
    surv = true_surv(HORIZONS[None, :], lp[:, None])
    expected = [brier_direct(tr_t, tr_e, t, e, surv[:, k], h) for k, h in enumerate(HORIZONS)]
    np.testing.assert_allclose(brier_scores(y_tr, y_te, surv, HORIZONS), expected, atol=1e-10)


def test_brier_and_ibs_match_sksurv_on_gbsg2(gbsg2) -> None:
    """A real cohort with tied times (days / 365.25); a crude model S = KM^exp(lp)."""
    X, event, time = gbsg2
    idx = np.random.default_rng(0).permutation(len(time))
    tr, te = idx[:450], idx[450:]
    lp = (
        0.1 * (X["nodes"] - X["nodes"].mean()).to_numpy()
        - 0.2 * (X["pr"] - X["pr"].mean()).to_numpy()
    )
    grid = np.linspace(0.5, 4.5, 9)
    km = SurvivalFunctionEstimator().fit(make_y(time=time[tr], event=event[tr])).predict_proba(grid)
    surv = km[None, :] ** np.exp(lp[te])[:, None]
    y_tr, y_te = make_y(time=time[tr], event=event[tr]), make_y(time=time[te], event=event[te])
    np.testing.assert_allclose(
        brier_scores(y_tr, y_te, surv, grid),
        brier_score(y_tr, y_te, surv, grid)[1],
        atol=1e-12,
    )
    assert integrated_brier_score(y_tr, y_te, surv, grid) == pytest.approx(
        sksurv_ibs(y_tr, y_te, surv, grid), abs=1e-12
    )


def test_ibs_is_trapezoid_of_direct_brier(train, holdout) -> None:
    tr_t, tr_e, _ = train
    y_tr = make_y(time=tr_t, event=tr_e)
    t, e, lp = holdout
    y_te = make_y(time=t, event=e)
    grid = np.linspace(0.5, 9.0, 18)
    surv = true_surv(grid[None, :], lp[:, None])
    bs = [brier_direct(tr_t, tr_e, t, e, surv[:, k], h) for k, h in enumerate(grid)]
    expected = np.trapezoid(bs, grid) / (grid[-1] - grid[0])
    assert integrated_brier_score(y_tr, y_te, surv, grid) == pytest.approx(expected, abs=1e-10)


def test_ipa_of_the_km_null_model_is_zero(train, holdout) -> None:
    tr_t, tr_e, _ = train
    y_tr = make_y(time=tr_t, event=tr_e)
    t, e, _ = holdout
    y_te = make_y(time=t, event=e)
    n = len(t)
    km = SurvivalFunctionEstimator().fit(make_y(time=tr_t, event=tr_e)).predict_proba(HORIZONS)
    assert (ipa(y_tr, y_te, np.tile(km, (n, 1)), HORIZONS) == 0.0).all()
    km_lifelines = KaplanMeierFitter().fit(tr_t, tr_e).predict(HORIZONS, interpolate=False)
    np.testing.assert_allclose(
        ipa(y_tr, y_te, np.tile(km_lifelines.to_numpy(), (n, 1)), HORIZONS), 0.0, atol=1e-12
    )


def test_ipa_matches_direct_brier_ratio(train, holdout) -> None:
    tr_t, tr_e, _ = train
    y_tr = make_y(time=tr_t, event=tr_e)
    t, e, lp = holdout
    y_te = make_y(time=t, event=e)
    surv = true_surv(HORIZONS[None, :], lp[:, None])
    km = step(km_curve(tr_t, tr_e), HORIZONS)
    expected = [
        1 - brier_direct(tr_t, tr_e, t, e, surv[:, k], h) / brier_direct(tr_t, tr_e, t, e, km[k], h)
        for k, h in enumerate(HORIZONS)
    ]
    result = ipa(y_tr, y_te, surv, HORIZONS)
    np.testing.assert_allclose(result, expected, atol=1e-10)
    assert (result > 0).all()  # the true model beats the null model


# --- calibration --------------------------------------------------------------------------------


def test_calibration_in_the_large_matches_lifelines_km(holdout) -> None:
    t, e, lp = holdout
    y_te = make_y(time=t, event=e)
    s = true_surv(3.0, lp + 0.3)  # risk over-predicted
    observed = 1 - KaplanMeierFitter().fit(t, e).predict(3.0, interpolate=False)
    result = calibration_in_the_large(y_te, s, 3.0)
    assert result.observed == pytest.approx(observed, abs=1e-12)
    assert result.expected == pytest.approx(np.mean(1 - s), abs=1e-15)
    assert result.oe_ratio == pytest.approx(observed / np.mean(1 - s), abs=1e-12)
    assert result.difference == pytest.approx(observed - np.mean(1 - s), abs=1e-12)
    assert result.oe_ratio < 1


def test_slope_matches_sksurv_cox_with_ties(holdout) -> None:
    """Efron ties in both fits: times rounded to months."""
    t, e, lp = holdout
    t = np.maximum(np.round(t * 12) / 12, 1 / 12)
    y_te = make_y(time=t, event=e)
    s = true_surv(3.0, 1.5 * lp)
    expected = sksurv_cox(np.log(-np.log(s))[:, None], t, e).coef_[0]
    assert calibration_slope(y_te, s) == pytest.approx(expected, abs=1e-8)


def test_ici_matches_an_independent_spline_and_cox_fit(holdout) -> None:
    t, e, lp = holdout
    y_te = make_y(time=t, event=e)
    s = true_surv(3.0, 1.5 * lp - 0.2)
    x = np.log(-np.log(s))
    for n_knots, q in ((3, [0.1, 0.5, 0.9]), (4, [0.05, 0.35, 0.65, 0.95])):
        cox = sksurv_cox(natural_spline_basis(x, np.quantile(x, q)), t, e)
        curves = cox.predict_survival_function(natural_spline_basis(x, np.quantile(x, q)), True)
        at = np.searchsorted(cox.unique_times_, 3.0, side="right") - 1
        gap = np.abs(1 - curves[:, at] - (1 - s))
        result = integrated_calibration_index(y_te, s, 3.0, n_knots=n_knots)
        assert result.ici == pytest.approx(gap.mean(), abs=1e-8)
        assert result.e50 == pytest.approx(np.median(gap), abs=1e-8)
        assert result.e90 == pytest.approx(np.quantile(gap, 0.9), abs=1e-8)
        np.testing.assert_allclose(result.observed, 1 - curves[:, at], atol=1e-8)


def test_rcs_basis_is_linear_beyond_the_outer_knots() -> None:
    knots = np.array([-1.0, 0.0, 0.5, 2.0])
    x = np.array([-5.0, -4.0, -3.0, 3.0, 4.0, 5.0])
    basis = rcs_basis(x, knots)
    assert basis.shape == (6, 3)
    np.testing.assert_allclose(np.diff(basis[:3], 2, axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(np.diff(basis[3:], 2, axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(basis[:3, 1:], 0.0)  # the nonlinear terms vanish left of knot 1


@pytest.fixture(scope="module")
def calibration_of_true_and_overdispersed(large):
    t, e, lp = large
    y_te = make_y(time=t, event=e)
    return {
        name: (
            calibration_in_the_large(y_te, s, 3.0),
            calibration_slope(y_te, s),
            integrated_calibration_index(y_te, s, 3.0),
        )
        for name, s in (("true", true_surv(3.0, lp)), ("over", true_surv(3.0, 2 * lp)))
    }


def test_true_predictions_are_calibrated(calibration_of_true_and_overdispersed) -> None:
    """n = 5000, predictions are the true S(3 years | x)."""
    large_, slope, smooth = calibration_of_true_and_overdispersed["true"]
    assert large_.oe_ratio == pytest.approx(1.0, abs=0.05)
    assert large_.difference == pytest.approx(0.0, abs=0.02)
    assert slope == pytest.approx(1.0, abs=0.1)
    assert smooth.ici < 0.02
    assert smooth.e90 < 0.03


def test_overdispersed_predictions_have_slope_below_one(
    calibration_of_true_and_overdispersed,
) -> None:
    """Predictions from twice the true log-hazard: the slope is near 1/2."""
    _, slope, smooth = calibration_of_true_and_overdispersed["over"]
    assert slope == pytest.approx(0.5, abs=0.1)
    assert smooth.ici > 0.05


def test_exact_zero_or_one_predictions_warn(holdout) -> None:
    t, e, lp = holdout
    y_te = make_y(time=t, event=e)
    s = true_surv(3.0, lp)
    s[:3] = 1.0
    with pytest.warns(
        CalibrationWarning, match="3 predicted survival probabilities of exactly 0 or 1"
    ):
        calibration_slope(y_te, s)


# --- D-calibration ------------------------------------------------------------------------------


def test_d_calibration_matches_direct_bins_and_chisquare(holdout) -> None:
    t, e, lp = holdout
    y_te = make_y(time=t, event=e)
    curves = lambda times: true_surv(times, 1.2 * lp)  # noqa: E731
    s = curves(t)
    totals = dcal_direct(s, e)
    stat, p = chisquare(totals)
    result = d_calibration(y_te, curves)
    np.testing.assert_allclose(result.proportions, totals / len(t), atol=1e-12)
    assert result.proportions.sum() == pytest.approx(1.0, abs=1e-12)
    assert result.statistic == pytest.approx(stat, abs=1e-9)
    assert result.p_value == pytest.approx(p, abs=1e-12)


def test_d_calibration_true_curves_pass_and_wrong_curves_fail(large) -> None:
    t, e, lp = large
    y_te = make_y(time=t, event=e)
    assert d_calibration(y_te, lambda times: true_surv(times, lp)).p_value > 0.05
    assert d_calibration(y_te, lambda times: true_surv(times, 2 * lp + 1)).p_value < 1e-6


def test_survival_on_a_grid_is_interpolated_linearly(holdout) -> None:
    t, e, lp = holdout
    y_te = make_y(time=t, event=e)
    grid = np.linspace(0.25, 12.0, 48)
    surv = true_surv(grid[None, :], lp[:, None])
    expected = [
        np.interp(ti, np.r_[0, grid], np.r_[1, row]) for ti, row in zip(t, surv, strict=True)
    ]
    np.testing.assert_allclose(survival_at_own_times(surv, t, grid), expected, atol=1e-12)
    on_grid = d_calibration(y_te, surv, grid)
    exact = d_calibration(y_te, lambda times: true_surv(times, lp))
    np.testing.assert_allclose(on_grid.proportions, exact.proportions, atol=0.01)


def test_survival_grid_ending_early_warns(holdout) -> None:
    t, e, lp = holdout
    y_te = make_y(time=t, event=e)
    grid = np.linspace(0.0, 5.0, 11)  # a grid may start at t = 0
    with pytest.warns(HorizonWarning, match=r"patient\(s\) were followed beyond the survival grid"):
        d_calibration(y_te, true_surv(grid[None, :], lp[:, None]), grid)


# --- horizons beyond follow-up ------------------------------------------------------------------


def test_horizons_beyond_follow_up_are_clipped_with_a_warning(train, holdout) -> None:
    tr_t, tr_e, _ = train
    y_tr = make_y(time=tr_t, event=tr_e)
    t, e, lp = holdout
    y_te = make_y(time=t, event=e)
    last = np.max(t[t < t.max()])
    with pytest.warns(HorizonWarning, match=rf"clipped \(years\): 50 -> {last:.6g}"):
        clipped = clip_horizons([3.0, 50.0], y_te, y_tr)
    np.testing.assert_array_equal(clipped, [3.0, last])
    surv = true_surv(np.array([3.0, 50.0])[None, :], lp[:, None])
    with pytest.warns(HorizonWarning, match="50 -> "):
        clipped_bs = brier_scores(y_tr, y_te, surv, [3.0, 50.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exact_bs = brier_scores(y_tr, y_te, surv, clipped)
    np.testing.assert_array_equal(clipped_bs, exact_bs)
    with pytest.warns(HorizonWarning, match="50 -> "):
        auc = time_dependent_auc(y_tr, y_te, lp, [3.0, 50.0, 60.0])
    assert auc.auc[1] == auc.auc[2]
    exact_auc = time_dependent_auc(y_tr, y_te, lp, clipped)
    np.testing.assert_array_equal(auc.auc[:2], exact_auc.auc)
    assert auc.mean_auc == pytest.approx(exact_auc.mean_auc, abs=1e-15)  # equal horizons weigh 0
    with pytest.warns(HorizonWarning, match="50 -> "):
        calibration_in_the_large(y_te, surv[:, 1], 50.0)


def test_horizon_before_first_test_time_is_clipped_up(train, holdout) -> None:
    y_tr, t = make_y(time=train[0], event=train[1]), holdout[0]
    with pytest.warns(HorizonWarning, match=rf"1e-05 -> {t.min():.6g}"):
        assert clip_horizons([1e-5, 3.0], make_y(time=t, event=holdout[1]), y_tr)[0] == t.min()


def test_short_training_follow_up_clips_to_it_and_censors_the_test(holdout) -> None:
    """Censoring KM from training data ending at 4 years: test events after 4 years are ignored."""
    t, e, lp = holdout
    y_te = make_y(time=t, event=e)
    tr_t, tr_e, _ = weibull(1500, 5, end=4.0)
    y_tr = make_y(time=tr_t, event=tr_e)
    last = np.max(t[t < tr_t.max()])
    surv = true_surv(np.array([2.0, 6.0])[None, :], lp[:, None])
    with pytest.warns(HorizonWarning, match=rf"6 -> {last:.6g}"):
        bs = brier_scores(y_tr, y_te, surv, [2.0, 6.0])
    assert bs[1] == pytest.approx(brier_direct(tr_t, tr_e, t, e, surv[:, 1], last), abs=1e-10)
    with pytest.warns(HorizonWarning, match=rf"6 -> {last:.6g}"):
        auc = time_dependent_auc(y_tr, y_te, lp, [2.0, 6.0])
    assert auc.auc[1] == pytest.approx(auc_direct(tr_t, tr_e, t, e, lp, last), abs=1e-10)


def test_ibs_drops_grid_points_beyond_follow_up(train, holdout) -> None:
    tr_t, tr_e, _ = train
    y_tr = make_y(time=tr_t, event=tr_e)
    t, e, lp = holdout
    y_te = make_y(time=t, event=e)
    grid = np.array([1.0, 2.0, 4.0, 8.0, 20.0, 30.0])
    surv = true_surv(grid[None, :], lp[:, None])
    with pytest.warns(
        HorizonWarning, match=r"2 grid point\(s\) outside the follow-up were dropped"
    ):
        value = integrated_brier_score(y_tr, y_te, surv, grid)
    assert value == integrated_brier_score(y_tr, y_te, surv[:, :4], grid[:4])


# --- bad inputs ---------------------------------------------------------------------------------


def test_bad_inputs_raise_evaluation_errors(train, holdout) -> None:
    tr_t, tr_e, _ = train
    y_tr = make_y(time=tr_t, event=tr_e)
    t, e, lp = holdout
    y_te = make_y(time=t, event=e)
    n = len(t)
    surv = true_surv(HORIZONS[None, :], lp[:, None])
    y_int = np.empty(n, dtype=[("event", int), ("time", float)])  # not cast to bool, as make_y does
    y_int["event"], y_int["time"] = 2, t
    cases = [
        (
            lambda: brier_scores(y_tr, np.column_stack([t, e]), surv, HORIZONS),
            r"y must be a 1-D structured array with fields \(event, time\), .* but got dtype "
            r"float64 and shape \(800, 2\)",
        ),
        (
            lambda: ipa(y_tr[:, None], y_te, surv, HORIZONS),
            r"y_train must be a 1-D structured array with fields \(event, time\), .* shape "
            r"\(1500, 1\)",
        ),
        (
            lambda: ipa(make_y(time=tr_t, event=np.zeros(len(tr_t))), y_te, surv, HORIZONS),
            r"y_train\['event'\] must contain at least one event, but all 1500 patients are censored",
        ),
        (
            lambda: brier_scores(y_tr, y_te, surv * 1.5, HORIZONS),
            r"surv_at_horizons must hold survival probabilities in \[0, 1\], but \d+ value\(s\) do not",
        ),
        (
            lambda: brier_scores(y_tr, y_te, surv[:, ::-1], HORIZONS),
            r"surv_at_horizons must be non-increasing in time \(along axis 1\), but patient 0 rises",
        ),
        (
            lambda: ipa(y_tr, y_te, surv[:, :2], HORIZONS),
            r"surv_at_horizons must have shape \(n_patients, n_times\) = \(800, 3\), but got \(800, 2\)",
        ),
        (
            lambda: brier_scores(y_tr, y_te, surv, [3.0, 1.0, 5.0]),
            r"horizons must be finite, > 0 and strictly increasing \(years\), but got \[3.0, 1.0, 5.0\]",
        ),
        (
            lambda: time_dependent_auc(y_tr, make_y(time=t, event=np.zeros(n)), lp, HORIZONS),
            "event must contain at least one event, but all 800 patients are censored",
        ),
        (
            lambda: time_dependent_auc(y_tr, y_int, lp, HORIZONS),
            r"event must hold only 0/False \(censored\) or 1/True \(event\), but found \[2\]",
        ),
        (
            lambda: time_dependent_auc(y_tr, make_y(time=-t, event=e), lp, HORIZONS),
            r"time must hold finite follow-up times >= 0 \(years\), but 800 value\(s\) do not",
        ),
        (
            lambda: time_dependent_auc(y_tr, y_te, lp[:, None], HORIZONS),
            r"risk must have shape \(800,\) or \(800, 3\) \(patients x horizons\), but got \(800, 1\)",
        ),
        (
            lambda: time_dependent_auc(y_tr, y_te, lp, [t.min()]),
            "time-dependent AUC at .* years needs at least one test event by then",
        ),
        (
            lambda: integrated_brier_score(y_tr, y_te, surv[:, [0, 2]], [1.0, 50.0]),
            "needs at least 2 grid points inside the follow-up, but 1 of 2 are",
        ),
        (
            lambda: calibration_slope(y_te, np.full(n, 0.7)),
            "needs predictions that vary between patients, but all 800 are S = 0.7",
        ),
        (
            lambda: integrated_calibration_index(y_te, surv[:, 1], 3.0, n_knots=8),
            r"n_knots must be one of \[3, 4, 5, 6, 7\], but got 8",
        ),
        (
            lambda: brier_scores(
                make_y(time=np.minimum(tr_t, 4.0), event=tr_e),
                make_y(time=t, event=e & (t > 5)),
                surv[:, :2],
                [1, 3],
            ),
            r"need a test event before the end of training follow-up \(4 years",
        ),
        (
            lambda: clip_horizons(HORIZONS, make_y(time=np.full(n, 2.0), event=e)),
            r"need test follow-up times before the end of follow-up \(2 years\), but there are none",
        ),
        (lambda: d_calibration(y_te, surv), "surv given as an array needs the time grid"),
        (
            lambda: d_calibration(y_te, lambda times: 1.0 + times),
            r"surv\(time\) must hold survival probabilities in \[0, 1\]",
        ),
        (lambda: d_calibration(y_te, surv, HORIZONS, n_bins=1), "n_bins must be an integer >= 2"),
    ]
    for call, message in cases:
        with pytest.raises(EvaluationError, match=message):
            call()


def test_evaluation_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="horizons must be finite"):
        clip_horizons([np.nan], make_y(time=np.arange(1.0, 5.0), event=np.ones(4)))


@pytest.mark.parametrize("seed", range(8))
def test_auc_brier_and_ibs_equal_sksurv_with_ties_everywhere(seed: int) -> None:
    """Tied times (test events at training censoring times), tied risks, several horizons."""
    rng = np.random.default_rng(seed)
    n_train, n = int(rng.integers(40, 300)), int(rng.integers(30, 200))
    y_tr = make_y(time=rng.integers(1, 25, n_train) / 2, event=rng.random(n_train) < 0.5)
    time = rng.integers(1, 24, n) / 2
    y_te = make_y(time=time, event=rng.random(n) < 0.6)
    risk = np.round(rng.normal(size=n) - 0.1 * time, 1)
    h = np.array([2.0, 4.5, 7.0])
    surv = np.exp(-np.outer(np.exp(risk), h) / 8)
    if not all(((y_te["time"] <= t) & y_te["event"]).any() for t in h):
        pytest.skip("a horizon without a test event")
    auc, mean_auc = cumulative_dynamic_auc(y_tr, y_te, risk, h)
    result = time_dependent_auc(y_tr, y_te, risk, h)
    np.testing.assert_allclose(result.auc, auc, rtol=0, atol=1e-12)
    assert result.mean_auc == pytest.approx(mean_auc, abs=1e-12)
    np.testing.assert_allclose(
        brier_scores(y_tr, y_te, surv, h), brier_score(y_tr, y_te, surv, h)[1], rtol=0, atol=1e-12
    )
    assert integrated_brier_score(y_tr, y_te, surv, h) == pytest.approx(
        sksurv_ibs(y_tr, y_te, surv, h), abs=1e-12
    )
