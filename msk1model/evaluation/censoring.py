"""The Kaplan-Meier estimate of the censoring distribution, G(t) = P(C > t), vectorised.

Behind every inverse-probability-of-censoring weight (Uno's C, the time-dependent AUC, the Brier
score). It follows scikit-survival's ``CensoringDistributionEstimator``: at each distinct time the
patients with an event there leave the risk set before the censored ones are counted, ``G`` is a
right-continuous step function (``G(T_i)`` includes the censoring at ``T_i``), 1 before the first
time, and all ones when no patient is censored. One sort (any order within tied times) and a
few O(n) passes, where scikit-survival counts the ties in a Python loop.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from msk1model.errors import EvaluationError

__all__ = ["CensoringKM", "censoring_km"]


class CensoringKM(NamedTuple):
    """G at each distinct time of the data it was fitted on."""

    times: np.ndarray
    """shape (m,): the distinct times, increasing."""
    survival: np.ndarray
    """shape (m,): G at each of them (the value from that time on)."""

    def at(self, time: np.ndarray) -> np.ndarray:
        """G at ``time``: 1 before the first time, the last step value up to the last time.

        Raises
        ------
        EvaluationError
            If a time is past the last one while G is still positive there (undefined).
        """
        t = np.asarray(time, dtype=float)
        if self.survival[-1] > 0 and np.any(t > self.times[-1]):
            raise EvaluationError(
                f"the censoring distribution is estimated up to {self.times[-1]:.6g} years only, "
                f"but is needed at {float(t.max()):.6g}"
            )
        index = np.searchsorted(self.times, t, side="right") - 1
        return np.where(index >= 0, self.survival[np.maximum(index, 0)], 1.0)

    def ipcw(self, time: np.ndarray, event: np.ndarray) -> np.ndarray:
        """``event_i / G(T_i)``: 0 for a censored patient.

        Raises
        ------
        EvaluationError
            If G is 0 at an event time (a weight would be infinite).
        """
        event = np.asarray(event, dtype=bool)
        g = self.at(np.asarray(time, dtype=float)[event])
        if np.any(g == 0):
            raise EvaluationError("censoring survival function is zero at one or more time points")
        weights = np.zeros(len(event))
        weights[event] = 1.0 / g
        return weights


def censoring_km(time: np.ndarray, event: np.ndarray) -> CensoringKM:
    """The censoring Kaplan-Meier estimate of outcome ``time``, ``event`` (see the module)."""
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    order = np.argsort(time)
    t = time[order]
    first = np.concatenate([[True], t[1:] != t[:-1]])
    starts = np.flatnonzero(first)
    times = t[starts]
    if event.all():
        return CensoringKM(times, np.ones(len(times)))
    total = np.diff(np.append(starts, len(t)))
    events = np.add.reduceat(event[order].astype(np.int64), starts)
    censored = total - events
    at_risk = len(t) - np.concatenate([[0], np.cumsum(total)[:-1]]) - events
    ratio = np.divide(censored, at_risk, out=np.zeros(len(times)), where=censored != 0)
    return CensoringKM(times, np.cumprod(1.0 - ratio))
