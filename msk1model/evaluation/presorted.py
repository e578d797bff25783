"""Bootstrap replicates of the test-set metrics from one sort of the whole test set.

For metrics of fixed predictions, a bootstrap replicate is the whole test set with a count per
patient (how often it was drawn: 0, 1, 2, ...). So what depends only on the patients, not on the
draw, is done once, here, and each replicate is index arithmetic on the counts:

- Harrell's and Uno's C: the patients' order by time, each model's dense risk ranks and each
  patient's Uno weight ``1 / G(T)^2`` (training G, fixed). A replicate's patients in time order are
  ``np.repeat(order, counts[order])``, with no sort, and the C-index pass
  (:func:`~msk1model.evaluation.concordance.sorted_concordance_sums`) runs on them.
- The cumulative/dynamic AUC at each horizon: the controls in order of risk and each case's place
  among them (found once by binary search). A replicate's count of controls below a case is a
  cumulative sum of the counts.
- The Brier score and IPA: each patient's Brier terms, for the model and for the null model. A
  replicate's score is their count-weighted mean.
- The calibration slope is a Cox fit: it is refitted on each replicate's patients, in time order.

The values are those of :func:`~msk1model.evaluation.holdout.test_set_metrics` on the replicate's
rows (tested to 1e-12), but for one difference by design. Risk scores within ``tied_tol`` (1e-8)
are ranked once, on the whole test set. This differs from ranking the replicate alone only where
three or more scores chain within ``tied_tol`` of each other without being pairwise tied.

The whole-set work is skipped where a metric is undefined on the whole test set, and a replicate
is computed directly where its follow-up would clip a horizon differently from the whole set's.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np

from msk1model.errors import EvaluationError
from msk1model.evaluation._checks import check_horizons, check_survival, check_y
from msk1model.evaluation.calibration import calibration_slope
from msk1model.evaluation.censoring import censoring_km, survival_km
from msk1model.evaluation.concordance import risk_ranks, sorted_concordance_sums
from msk1model.evaluation.holdout import (
    MetricKey,
    TestSet,
    per_horizon_keys,
    safe_metric,
    test_set_metrics,
)
from msk1model.evaluation.horizons import HorizonWarning, administratively_censor, clip_checked
from msk1model.evaluation.timedep import brier_terms
from msk1model.outcome import make_y

__all__ = ["PresortedMetrics"]

#: How a replicate's follow-up clips the horizons (see ``PresortedMetrics._follow_up``).
FollowUp = Literal["same", "moved", "none"]


@dataclass(frozen=True)
class _Concordance:
    """Whole-set parts of Harrell's and Uno's C."""

    ranks: np.ndarray  # (n,) dense risk ranks
    uno_weights: np.ndarray  # (n,) 1 / G(T)^2 for an event before tau, else 0


@dataclass(frozen=True)
class _AUCAt:
    """Whole-set parts of the cumulative/dynamic AUC at one horizon."""

    cases: np.ndarray  # (n_cases,) rows with an event by the horizon
    case_weights: np.ndarray  # (n_cases,) 1 / G(T) of each case
    controls: np.ndarray  # (n_controls,) rows event-free after the horizon, by increasing risk
    below: np.ndarray  # (n_cases,) controls with a lower risk than the case
    upto: np.ndarray  # (n_cases,) controls with a lower or equal risk


@dataclass(frozen=True)
class _Timed:
    """Whole-set parts of the time-dependent metrics at the (clipped) horizons."""

    horizons: np.ndarray  # (k,)
    last_training_time: float
    event: np.ndarray  # (n,) event flags after administrative censoring
    auc: tuple[_AUCAt, ...]
    brier: np.ndarray  # (n, k) each patient's Brier terms
    null_brier: np.ndarray  # (n, k) the same for the training Kaplan-Meier (IPA's null model)


class PresortedMetrics:
    """``rows -> test_set_metrics(test, risk, survival, rows)`` from one sort of the test set.

    Parameters
    ----------
    test
        The test patients, training outcome and horizons.
    risk : ndarray, shape (n,)
        One model's risk scores for the test patients.
    survival : ndarray, shape (n, n_horizons)
        Its survival probabilities at ``test.clipped``.
    """

    def __init__(self, test: TestSet, risk: np.ndarray, survival: np.ndarray) -> None:
        self.test, self.risk, self.survival = test, risk, survival
        time, _ = check_y(test.y)
        self._time, self._event = time, np.asarray(test.y["event"], dtype=bool)
        self._order = np.argsort(time, kind="stable")
        self._sorted_time = time[self._order]
        self._concordance = _concordance(test, risk)
        self._timed = _timed(test, risk, survival)

    def __call__(self, rows: np.ndarray) -> dict[MetricKey, float]:
        """The metrics of the patients at ``rows`` (bootstrap draws, with repeats)."""
        concordance, timed = self._concordance, self._timed
        counts = np.bincount(rows, minlength=len(self._time))
        follow_up = "moved" if timed is None else self._follow_up(counts, timed)
        if concordance is None or timed is None or follow_up == "moved":
            return test_set_metrics(self.test, self.risk, self.survival, rows)
        idx = np.repeat(self._order, counts[self._order])  # the draws, in time order
        time, event, ranks = self._time[idx], self._event[idx], concordance.ranks[idx]
        out: dict[MetricKey, float] = {
            ("harrell_c", None): safe_metric(lambda: _c_index(time, event, ranks)),
            ("uno_c", None): safe_metric(
                lambda: _c_index(time, event, ranks, concordance.uno_weights[idx])
            ),
            ("calibration_slope", self.test.horizons[-1]): safe_metric(
                lambda: calibration_slope(self.test.y[idx], self.survival[idx, -1])
            ),
        }
        defined = follow_up == "same" and bool(counts[timed.event].any())
        for name, values in _timed_metrics(timed, counts, defined).items():
            out.update(per_horizon_keys(self.test, name, values))
        return out

    def _follow_up(self, counts: np.ndarray, timed: _Timed) -> FollowUp:
        """How the replicate's follow-up clips the horizons, as the direct computation would:
        ``same`` (left as they are), ``moved`` (clipped elsewhere) or ``none`` (no time before
        the end of follow-up: every time-dependent metric is undefined)."""
        present = self._sorted_time[counts[self._order] > 0]
        end = min(float(present[-1]), timed.last_training_time)
        inside = present[present < end]
        if not len(inside):
            return "none"
        h = timed.horizons
        clipped = np.where(h >= end, inside[-1], np.maximum(h, inside[0]))
        return "same" if np.array_equal(clipped, h) else "moved"


def _c_index(
    time: np.ndarray, event: np.ndarray, ranks: np.ndarray, weights: np.ndarray | None = None
) -> float:
    numerator, denominator = sorted_concordance_sums(time, event, ranks, weights)
    return numerator / denominator


def _timed_metrics(timed: _Timed, counts: np.ndarray, defined: bool) -> dict[str, list[float]]:
    """AUC, Brier score and IPA at each horizon of the replicate with ``counts``; all NaN where
    not ``defined`` (no test event before the end of training follow-up, or no time inside)."""
    k = len(timed.horizons)
    if not defined:
        return {name: [math.nan] * k for name in ("auc", "brier", "ipa")}
    brier = counts @ timed.brier / counts.sum()
    null = counts @ timed.null_brier / counts.sum()
    ipa = [math.nan] * k if (null == 0).any() else list(1.0 - brier / null)
    return {
        "auc": _aucs(timed.auc, counts),
        "brier": [_finite(v) for v in brier],
        "ipa": [_finite(v) for v in ipa],
    }


def _aucs(parts: tuple[_AUCAt, ...], counts: np.ndarray) -> list[float]:
    """The AUC at each horizon; all NaN when a horizon has no case (the direct computation
    raises there), NaN at a horizon with no control."""
    out = []
    for at in parts:
        drawn = counts[at.cases]
        if not drawn.any():
            return [math.nan] * len(parts)
        cumulative = np.concatenate([[0], np.cumsum(counts[at.controls])])
        below = cumulative[at.below]
        tied = cumulative[at.upto] - below
        w = drawn * at.case_weights
        n_controls = cumulative[-1]
        out.append(
            float(np.sum(w * (below + 0.5 * tied)) / (np.sum(w) * n_controls))
            if n_controls
            else math.nan
        )
    return [_finite(v) for v in out]


def _finite(value: float) -> float:
    return float(value) if math.isfinite(value) else math.nan


def _concordance(test: TestSet, risk: np.ndarray) -> _Concordance | None:
    """The C-index parts, or None where the risk scores are not finite or Uno's weights are
    undefined on the whole test set (then each replicate is computed directly)."""
    r = np.asarray(risk, dtype=float)
    if r.shape != (len(test.y),) or not np.isfinite(r).all():
        return None
    train_time, train_event = check_y(test.y_train, "y_train")
    time, event = check_y(test.y)
    tau = min(test.tau, float(np.max(train_time)))
    try:
        weights = censoring_km(train_time, train_event).ipcw(time, event & (time < tau))
    except EvaluationError:
        return None
    return _Concordance(risk_ranks(r), np.square(weights))


def _timed(test: TestSet, risk: np.ndarray, survival: np.ndarray) -> _Timed | None:
    """The time-dependent metrics' parts, or None where they are undefined on the whole test
    set (then each replicate is computed directly)."""
    train_time, train_event = check_y(test.y_train, "y_train")
    time, event = check_y(test.y)
    r = np.asarray(risk, dtype=float)
    try:
        h = check_horizons(test.clipped)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", HorizonWarning)
            if not np.array_equal(clip_checked(h, time, train_time, stacklevel=2), h):
                return None
        train = make_y(time=train_time, event=train_event)
        y = administratively_censor(make_y(time=time, event=event), train)
        s = check_survival(survival, (len(y), len(h)), "survival")
        censoring = censoring_km(train_time, train_event)
        ipcw = censoring.ipcw(y["time"], y["event"])
        km = survival_km(train_time, train_event).at(h)
    except EvaluationError:
        return None
    if r.shape != (len(y),) or not np.isfinite(r).all() or not y["event"].any():
        return None
    return _Timed(
        horizons=h,
        last_training_time=float(np.max(train_time)),
        event=y["event"],
        auc=tuple(_auc_at(y, r, ipcw, t) for t in h),
        brier=brier_terms(censoring, y, s, h),
        null_brier=brier_terms(censoring, y, np.broadcast_to(km, s.shape), h),
    )


def _auc_at(y: np.ndarray, risk: np.ndarray, ipcw: np.ndarray, t: float) -> _AUCAt:
    cases = np.flatnonzero(y["event"] & (y["time"] <= t))
    controls = np.flatnonzero(y["time"] > t)
    controls = controls[np.argsort(risk[controls], kind="stable")]
    ordered = risk[controls]
    return _AUCAt(
        cases=cases,
        case_weights=ipcw[cases],
        controls=controls,
        below=np.searchsorted(ordered, risk[cases], side="left"),
        upto=np.searchsorted(ordered, risk[cases], side="right"),
    )
