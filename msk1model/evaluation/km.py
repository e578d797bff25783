"""Kaplan-Meier survival and the log-rank test, per group of patients.

Pure functions of a structured outcome ``y`` (fields event, time in years) and group labels,
matching lifelines' ``KaplanMeierFitter`` (exponential Greenwood "log-log" interval) and
``logrank_test`` / ``multivariate_logrank_test``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from msk1model.errors import EvaluationError
from msk1model.evaluation._checks import check_y, y_fields

__all__ = [
    "KMCurve",
    "LogRankResult",
    "kaplan_meier",
    "kaplan_meier_steps",
    "km_curve",
    "logrank_test",
]

#: Two-sided 95% normal quantile, as lifelines computes it.
_Z95 = float(stats.norm.ppf(0.975))


class LogRankResult(NamedTuple):
    """Log-rank test of equal hazards across groups."""

    statistic: float
    """Chi-square statistic."""
    df: int
    """Degrees of freedom: number of groups - 1."""
    p: float


def logrank_test(y: npt.ArrayLike, groups: npt.ArrayLike) -> LogRankResult:
    """Log-rank test of equal hazards across two or more groups.

    The statistic is ``(O - E)' V^- (O - E)`` over all but one group, with the hypergeometric
    covariance ``V`` summed over the distinct event times (as lifelines' ``logrank_test`` and
    ``multivariate_logrank_test``).

    Parameters
    ----------
    y : structured array, shape (n,)
        Outcome, fields (event, time in years), e.g. from :func:`msk1model.outcome.make_y`.
    groups : array-like, shape (n,)
        Group labels, no missing values; at least two distinct ones.

    Returns
    -------
    LogRankResult
        Chi-square statistic, its degrees of freedom and p-value.
    """
    t, e = check_y(y)
    _, codes = _group_codes(groups, len(t))
    n_groups = int(codes.max()) + 1
    if n_groups < 2:
        raise EvaluationError(
            "the log-rank test needs at least two groups, but all patients share one label. "
            "Fix: pass the grouping to compare"
        )
    event_times = np.unique(t[e])
    at_risk = np.stack([_at_risk(t[codes == k], event_times) for k in range(n_groups)])
    deaths = np.zeros_like(at_risk)
    np.add.at(deaths, (codes[e], np.searchsorted(event_times, t[e])), 1.0)
    n, d = at_risk.sum(0), deaths.sum(0)
    share = at_risk / n
    observed_minus_expected = (deaths - d * share).sum(1)
    weight = _hypergeometric_weight(n, d)
    covariance = np.diag(share @ weight) - (share * weight) @ share.T
    oe, cov = observed_minus_expected[:-1], covariance[:-1, :-1]
    try:
        statistic = float(oe @ np.linalg.solve(cov, oe))
    except np.linalg.LinAlgError:
        raise EvaluationError(
            "the log-rank covariance is singular: some group has nobody at risk at any event "
            "time. Fix: merge or drop that group"
        ) from None
    return LogRankResult(statistic, n_groups - 1, float(stats.chi2.sf(statistic, n_groups - 1)))


def kaplan_meier(
    y: npt.ArrayLike,
    groups: npt.ArrayLike | None,
    times: Sequence[float] | npt.ArrayLike,
) -> pd.DataFrame:
    """Kaplan-Meier survival per group at given times, with 95% CI, numbers at risk and medians.

    The CI is the exponential Greenwood ("log-log") interval of lifelines' ``KaplanMeierFitter``.
    Beyond the last follow-up of a group its last value is carried (as lifelines does): read
    ``at_risk == 0`` there as "no data".

    Parameters
    ----------
    y : structured array, shape (n,)
        Outcome, fields (event, time in years).
    groups : array-like, shape (n,), or None
        Group labels; None puts everyone in one group ``"all"``. Groups are listed in sorted
        order, or in category order for a ``pandas.Categorical``.
    times : array-like, shape (n_times,)
        Years, >= 0, increasing.

    Returns
    -------
    DataFrame, one row per group and time
        ``group``, ``time`` (years), ``survival``, ``lower``, ``upper``, ``at_risk`` (patients
        with follow-up >= time) and ``median`` (the group's median survival in years: the first
        time survival is <= 0.5, ``inf`` if never, as lifelines).
    """
    t, e = check_y(y)
    at = np.atleast_1d(np.asarray(times, dtype=float))
    if at.ndim != 1 or not (np.isfinite(at).all() and (at >= 0).all() and (np.diff(at) > 0).all()):
        raise EvaluationError(
            f"times must be finite, >= 0 and strictly increasing (years), but got "
            f"{np.round(at, 4).tolist()[:10]}. Fix: sort them and drop duplicates"
        )
    if groups is None:
        labels, codes = ["all"], np.zeros(len(t), dtype=int)
    else:
        labels, codes = _group_codes(groups, len(t))
    frames = [
        _km_table(t[codes == k], e[codes == k], at).assign(group=label)
        for k, label in enumerate(labels)
    ]
    table = pd.concat(frames, ignore_index=True)
    table["group"] = pd.Categorical(table["group"], categories=labels)
    return table[["group", "time", "survival", "lower", "upper", "at_risk", "median"]]


def kaplan_meier_steps(y: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The whole Kaplan-Meier step function, for drawing with ``where="post"``.

    Parameters
    ----------
    y : structured array, shape (n,)
        Outcome, fields (event, time in years).

    Returns
    -------
    times : ndarray, shape (n_steps,)
        0 and every distinct follow-up time (years), increasing (lifelines' ``timeline``).
    survival : ndarray, shape (n_steps,)
        Survival from each time until the next.
    """
    t, e = check_y(y)
    curve = _km_curve(t, e)
    return curve.timeline, curve.survival


# --- internals ---------------------------------------------------------------------------------


class KMCurve(NamedTuple):
    """Product-limit estimate of one group at 0 and every distinct follow-up time (years)."""

    timeline: np.ndarray
    at_risk: np.ndarray
    deaths: np.ndarray
    survival: np.ndarray
    greenwood: np.ndarray
    """Cumulative Greenwood sum ``sum d / (n (n - d))``; a step down to S = 0 adds 0."""

    def step(self, at: npt.ArrayLike) -> np.ndarray:
        """Position on the timeline of each of ``at`` (years >= 0), as a right-continuous step."""
        return np.searchsorted(self.timeline, np.asarray(at, dtype=float), side="right") - 1


def km_curve(y: npt.ArrayLike) -> KMCurve:
    """The Kaplan-Meier estimate of one group of patients, as a step function.

    A building block for other modules (calibration groups, decision curves, plots). Unlike
    :func:`kaplan_meier`, only the dtype of ``y`` is checked, not its values, and a group
    without events is allowed: its curve stays at 1.

    Parameters
    ----------
    y : structured array, shape (n,)
        Outcome, fields (event, time in years); times finite and >= 0, events 0/1.

    Returns
    -------
    KMCurve
        The estimate at 0 and every distinct follow-up time.
    """
    t, e = y_fields(y)
    return _km_curve(t, e.astype(bool))


def _km_curve(t: np.ndarray, e: np.ndarray) -> KMCurve:
    """Kaplan-Meier of checked follow-up and event flags; a group without events stays at 1."""
    timeline = np.unique(np.r_[0.0, t])
    at_risk = _at_risk(t, timeline).astype(float)
    deaths = np.bincount(np.searchsorted(timeline, t[e]), minlength=len(timeline)).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        survival = np.cumprod(1.0 - deaths / np.where(at_risk > 0, at_risk, 1.0))
        greenwood = deaths / (at_risk * (at_risk - deaths))
    # n == d (survival drops to 0) adds 0, as lifelines
    greenwood = np.cumsum(np.where(np.isfinite(greenwood), greenwood, 0.0))
    return KMCurve(timeline, at_risk, deaths, survival, greenwood)


def _km_interval(
    curve: KMCurve, at: np.ndarray, z: float = _Z95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Survival at ``at`` (years >= 0) with its exponential Greenwood ("log-log") interval.

    ``z`` is the normal quantile of the interval. Where survival is 1 or 0 the interval collapses
    to it, as lifelines'.
    """
    idx = curve.step(at)  # at >= 0 = timeline[0]
    s, g = curve.survival[idx], curve.greenwood[idx]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_s = np.log(s)
        half = z * np.sqrt(g) / log_s
        lower = np.exp(-np.exp(np.log(-log_s) - half))
        upper = np.exp(-np.exp(np.log(-log_s) + half))
    # S = 1: no interval (NaN), as lifelines
    return s, np.where(np.isnan(lower), 1.0, lower), np.where(np.isnan(upper), 1.0, upper)


def _km_table(t: np.ndarray, e: np.ndarray, at: np.ndarray) -> pd.DataFrame:
    curve = _km_curve(t, e)
    s, lower, upper = _km_interval(curve, at)
    below = np.flatnonzero(curve.survival <= 0.5)
    return pd.DataFrame(
        {
            "time": at,
            "survival": s,
            "lower": lower,
            "upper": upper,
            "at_risk": _at_risk(t, at),
            "median": curve.timeline[below[0]] if len(below) else math.inf,
        }
    )


def _at_risk(t: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Patients with follow-up >= each of ``at``; shape (len(at),)."""
    return len(t) - np.searchsorted(np.sort(t), at, side="left")


def _hypergeometric_weight(n: np.ndarray, d: np.ndarray) -> np.ndarray:
    """``d (n - d) / (n - 1)`` per event time; 0 where only one patient is at risk."""
    n, d = np.asarray(n, float), np.asarray(d, float)
    return np.where(n > 1, d * (n - d) / np.where(n > 1, n - 1.0, 1.0), 0.0)


def _group_codes(groups: npt.ArrayLike, n: int) -> tuple[list[str], np.ndarray]:
    """Group labels (sorted, or category order) and each patient's code, shape (n,)."""
    g = pd.Series(groups) if not isinstance(groups, pd.Series) else groups.reset_index(drop=True)
    if len(g) != n or g.isna().any():
        raise EvaluationError(
            f"groups must hold one label per patient ({n}) and none missing, but got {len(g)} "
            f"with {int(g.isna().sum())} missing. Fix: drop or label those patients"
        )
    categorical = pd.Categorical(g)
    used = [c for c in categorical.categories if (categorical == c).any()]
    codes = pd.Categorical(g, categories=used).codes.astype(int)
    return [str(c) for c in used], codes
