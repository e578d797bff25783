"""Calibration at a horizon: in the large, slope, the smoothed ICI / E50 / E90, and risk groups.

Pure functions of the test outcome ``y`` (a structured array with fields event, time in years)
and predicted survival ``S(t|x)`` at one horizon ``t``; the predicted event probability is
``F(t|x) = 1 - S(t|x)``. The slope and the smoothed curve follow Austin, Harrell & van Klaveren
(Stat Med 2020): a Cox model of the test outcome, over the whole test follow-up, on the
complementary log-log ``log(-log S(t|x))`` of the prediction. The Cox fits are
:func:`msk1model.models.cox_newton.fit_cox_newton` (Efron ties, no penalty; equal to lifelines'
``CoxPHFitter`` to 1e-9); observed probabilities at ``t`` use the Breslow baseline cumulative
hazard read as a step function. :func:`calibration_groups` compares
predicted risk with the Kaplan-Meier observed risk in groups of predicted risk.
"""

from __future__ import annotations

import warnings
from statistics import NormalDist
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd

from msk1model.errors import CalibrationWarning, EvaluationError
from msk1model.evaluation._checks import check_horizons, check_survival, check_y
from msk1model.evaluation._cox import newton_fit
from msk1model.evaluation.censoring import survival_km
from msk1model.evaluation.horizons import clip_checked
from msk1model.evaluation.km import _km_interval, km_curve
from msk1model.models.cox_newton import CoxFit, breslow_cumulative_hazard
from msk1model.outcome import make_y
from msk1model.splines import KNOT_QUANTILES, rcs_basis

__all__ = [
    "CalibrationInTheLarge",
    "CalibrationWarning",
    "SmoothedCalibration",
    "calibration_groups",
    "calibration_in_the_large",
    "calibration_slope",
    "integrated_calibration_index",
]

#: Exact 0 and 1 (no finite log-log) become the nearest floats inside (0, 1).
_LOWEST, _HIGHEST = float(np.finfo(float).tiny), float(np.nextafter(1.0, 0.0))
#: Normal quantile of the 95% interval of the observed risk in :func:`calibration_groups`. It is
#: two ulp below lifelines' (scipy's) value used by :mod:`msk1model.evaluation.km`; kept so that
#: the reported intervals stay bit-for-bit what they were.
_Z95 = NormalDist().inv_cdf(0.975)
#: Knot quantiles of Harrell's restricted cubic splines, as in ``Hmisc::rcspline.eval``.


class CalibrationInTheLarge(NamedTuple):
    """Observed against expected event probability by the horizon, over the whole test set."""

    observed: float
    """1 - Kaplan-Meier survival of the test data at the horizon."""
    expected: float
    """Mean predicted event probability ``F(t|x)``."""
    oe_ratio: float
    """observed / expected; 1 is perfect, > 1 means the model under-predicts risk."""
    difference: float
    """observed - expected; 0 is perfect."""


class SmoothedCalibration(NamedTuple):
    """Absolute gaps between the smoothed observed and the predicted event probability."""

    ici: float
    """Integrated calibration index: mean absolute gap."""
    e50: float
    """Median absolute gap."""
    e90: float
    """90th percentile of the absolute gap."""
    predicted: np.ndarray
    """shape (n,): predicted event probability ``F(t|x_i)``."""
    observed: np.ndarray
    """shape (n,): smoothed observed event probability by ``t`` (the calibration curve)."""


def _prepare(
    y: npt.ArrayLike, surv_at_horizon: npt.ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Checked test times (years), event flags and ``S(horizon|x)``, each of shape (n,)."""
    t, e = check_y(y)
    s = check_survival(surv_at_horizon, (len(t), 1), "surv_at_horizon")[:, 0]
    return t, e, s


def calibration_in_the_large(
    y: npt.ArrayLike, surv_at_horizon: npt.ArrayLike, horizon: float
) -> CalibrationInTheLarge:
    """Calibration in the large at ``horizon``: test Kaplan-Meier risk against mean predicted risk.

    Parameters
    ----------
    y : structured array, shape (n,)
        Test outcome, fields (event, time in years).
    surv_at_horizon : array-like, shape (n,)
        Predicted survival probability ``S(horizon|x_i)``.
    horizon : float
        Years; clipped into the test follow-up with a ``HorizonWarning``.

    Returns
    -------
    CalibrationInTheLarge
        Observed and expected event probability by ``horizon``, their ratio and difference.
    """
    t, e, s = _prepare(y, surv_at_horizon)
    h = clip_checked(check_horizons(horizon, "horizon"), t, None, stacklevel=3)
    observed = 1.0 - float(survival_km(t, e).at(h)[0])
    expected = float(np.mean(1.0 - s))
    if expected == 0:
        raise EvaluationError(
            "the observed/expected ratio needs a mean predicted event probability > 0, but every "
            "prediction is S = 1. Fix: check the horizon and the predictions"
        )
    return CalibrationInTheLarge(observed, expected, observed / expected, observed - expected)


def calibration_slope(y: npt.ArrayLike, surv_at_horizon: npt.ArrayLike) -> float:
    """Calibration slope: Cox coefficient of ``log(-log S(t|x))`` for the test outcome.

    1 is perfect; below 1 the predictions are too extreme (over-fitted), above 1 too modest.
    The horizon enters only through the predictions; the Cox model uses all test follow-up.

    Parameters
    ----------
    y : structured array, shape (n,)
        Test outcome, fields (event, time in years).
    surv_at_horizon : array-like, shape (n,)
        Predicted survival probability ``S(t|x_i)`` at one horizon.

    Returns
    -------
    float
        The slope; with predictions from a well-specified proportional-hazards model, 1.
    """
    t, e, s = _prepare(y, surv_at_horizon)
    x = _cloglog(s)
    if np.ptp(x) == 0:
        raise EvaluationError(
            "the calibration slope needs predictions that vary between patients, but all "
            f"{len(s)} are S = {s[0]:.6g}. Fix: evaluate a model with patient-specific predictions"
        )
    return float(_fit_cox(x[:, np.newaxis], t, e).coef[0])


def integrated_calibration_index(
    y: npt.ArrayLike,
    surv_at_horizon: npt.ArrayLike,
    horizon: float,
    *,
    n_knots: int = 3,
) -> SmoothedCalibration:
    """ICI, E50 and E90 at ``horizon`` (Austin, Harrell & van Klaveren, Stat Med 2020).

    The observed event probability by ``horizon`` is smoothed by a Cox model of the test outcome
    on a restricted cubic spline of ``log(-log S(horizon|x))`` with ``n_knots`` knots at Harrell's
    quantiles; the gaps are ``|observed_i - predicted_i|``.

    Parameters
    ----------
    y : structured array, shape (n,)
        Test outcome, fields (event, time in years).
    surv_at_horizon : array-like, shape (n,)
        Predicted survival probability ``S(horizon|x_i)``.
    horizon : float
        Years; clipped into the test follow-up with a ``HorizonWarning``.
    n_knots : {3, 4, 5}
        Spline knots; 3 as in the paper, 4 for large cohorts.

    Returns
    -------
    SmoothedCalibration
        ICI, E50, E90 (absolute differences in probability) and the curve, shape (n,) each.
    """
    if n_knots not in KNOT_QUANTILES:
        raise EvaluationError(
            f"n_knots must be one of {sorted(KNOT_QUANTILES)}, but got {n_knots!r}"
        )
    t, e, s = _prepare(y, surv_at_horizon)
    h = float(clip_checked(check_horizons(horizon, "horizon"), t, None, stacklevel=3)[0])
    observed = _smoothed_observed(_cloglog(s), t, e, h, n_knots)
    gap = np.abs(observed - (1.0 - s))
    return SmoothedCalibration(
        float(gap.mean()), float(np.median(gap)), float(np.quantile(gap, 0.9)), 1.0 - s, observed
    )


def calibration_groups(
    y: npt.ArrayLike,
    survival_at_h: npt.ArrayLike,
    horizon: float,
    *,
    n_groups: int = 10,
) -> pd.DataFrame:
    """Predicted against Kaplan-Meier observed risk by ``horizon`` in groups of predicted risk.

    Patients are sorted by predicted risk ``1 - S(h)`` and split into ``n_groups`` groups of
    (near) equal size; ties may straddle a boundary so that sizes never differ by more than one.

    Parameters
    ----------
    y : structured array, shape (n,)
        Outcome, fields (event, time in years).
    survival_at_h : array-like, shape (n,)
        Predicted survival probability ``S(horizon | x_i)``.
    horizon : float
        Years, > 0 and no later than the longest follow-up.
    n_groups : int, default 10
        Number of risk groups (deciles by default), 1 <= n_groups <= n.

    Returns
    -------
    DataFrame, one row per group from lowest to highest risk
        ``group`` (1..n_groups), ``n``, ``events`` (all events in follow-up), ``predicted`` (mean
        ``1 - S(h)``), ``observed`` (``1 - KM(h)``) and its 95% interval ``observed_lower``,
        ``observed_upper`` (exponential Greenwood; collapses to the estimate when KM(h) is 0 or 1).
    """
    t, e = check_y(y)
    risk = 1.0 - check_survival(survival_at_h, (len(t), 1), "survival_at_h")[:, 0]
    h = float(check_horizons(horizon, "horizon")[0])
    if h > t.max():
        raise EvaluationError(
            f"horizon must lie within follow-up (<= {t.max():.4g} years), but got {h:.4g}. "
            "Fix: choose an earlier horizon"
        )
    if not 1 <= n_groups <= len(t):
        raise EvaluationError(
            f"n_groups must be between 1 and the number of patients ({len(t)}) so that no group "
            f"is empty, but got {n_groups}. Fix: use fewer groups"
        )
    rows = []
    for k, idx in enumerate(np.array_split(np.argsort(risk, kind="stable"), n_groups), start=1):
        s, lower, upper = _km_interval(
            km_curve(make_y(time=t[idx], event=e[idx])), np.array([h]), _Z95
        )
        observed = (1.0 - float(s[0]), 1.0 - float(upper[0]), 1.0 - float(lower[0]))
        rows.append((k, len(idx), int(e[idx].sum()), float(risk[idx].mean()), *observed))
    columns = ["group", "n", "events", "predicted", "observed", "observed_lower", "observed_upper"]
    return pd.DataFrame(rows, columns=columns)


def _smoothed_observed(
    x: np.ndarray, time: np.ndarray, event: np.ndarray, horizon: float, n_knots: int
) -> np.ndarray:
    """Observed event probability by ``horizon`` from a Cox model on a spline of ``x``; (n,)."""
    knots = np.quantile(x, KNOT_QUANTILES[n_knots])
    if not (np.diff(knots) > 0).all():
        raise EvaluationError(
            f"the smoothed calibration curve needs {n_knots} distinct spline knots (quantiles of "
            f"log(-log S)), but the predictions take too few values: knots {knots.round(6)}. Fix: "
            "use fewer knots or a model with patient-specific predictions"
        )
    basis = rcs_basis(x, knots)
    eta = basis @ _fit_cox(basis, time, event).coef
    times, cumhaz = breslow_cumulative_hazard(eta, time, event)
    at = np.searchsorted(times, horizon, side="right") - 1  # a step function
    h0 = float(cumhaz[at]) if at >= 0 else 0.0
    return 1.0 - np.exp(-h0 * np.exp(eta))


def _cloglog(s: np.ndarray) -> np.ndarray:
    """``log(-log S)``, the complementary log-log of ``F = 1 - S``; exact 0 and 1 moved inside."""
    edge = (s < _LOWEST) | (s > _HIGHEST)
    if edge.any():
        warnings.warn(
            f"{int(edge.sum())} predicted survival probabilities of exactly 0 or 1 have no finite "
            f"log(-log S); they were moved to {_LOWEST:.3g} or 1 - {1 - _HIGHEST:.3g}, where they "
            "weigh heavily in the calibration fit. Check the horizon and the predictions",
            CalibrationWarning,
            stacklevel=3,
        )
    return np.log(-np.log(np.clip(s, _LOWEST, _HIGHEST)))


def _fit_cox(x: np.ndarray, time: np.ndarray, event: np.ndarray) -> CoxFit:
    """Unpenalised Cox model (Efron ties) of the outcome on the columns of ``x``, (n, p)."""
    fix = "check for predictions that separate events perfectly or take very few values"
    return newton_fit(x, time, event, "the calibration Cox model", fix)
