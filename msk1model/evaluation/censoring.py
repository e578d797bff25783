"""Kaplan-Meier estimates as step functions, vectorised: of survival, S(t) = P(T > t), and of
the censoring distribution, G(t) = P(C > t).

G is behind every inverse-probability-of-censoring weight (Uno's C, the time-dependent AUC, the
Brier score). Both follow scikit-survival (``SurvivalFunctionEstimator``,
``CensoringDistributionEstimator``): right-continuous steps (``G(T_i)`` includes the censoring at
``T_i``), 1 before the first time; for G, the patients with an event at a time leave the risk set
before the censored ones are counted, and G is all ones when no patient is censored. One sort
(any order within tied times) and a few O(n) passes, where scikit-survival counts the ties in a
Python loop.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from msk1model.errors import EvaluationError

__all__ = ["StepKM", "censoring_km", "forget_estimates", "survival_km"]


class StepKM(NamedTuple):
    """A Kaplan-Meier estimate at each distinct time of the data it was fitted on."""

    times: np.ndarray
    """shape (m,): the distinct times, increasing."""
    survival: np.ndarray
    """shape (m,): the estimate at each of them (the value from that time on)."""

    def at(self, time: npt.ArrayLike) -> np.ndarray:
        """The estimate at ``time``: 1 before the first time, the last step value up to the last
        time.

        Raises
        ------
        EvaluationError
            If a time is past the last one while the estimate is still positive (undefined).
        """
        t = np.asarray(time, dtype=float)
        if self.survival[-1] > 0 and np.any(t > self.times[-1]):
            raise EvaluationError(
                f"the Kaplan-Meier estimate ends at {self.times[-1]:.6g} years, where it is "
                f"still positive, but is needed at {float(t.max()):.6g}"
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


def censoring_km(time: npt.ArrayLike, event: npt.ArrayLike) -> StepKM:
    """G, the censoring Kaplan-Meier estimate of outcome ``time``, ``event`` (see the module)."""
    return _remembered("censoring", time, event, _censoring_km)


def survival_km(time: npt.ArrayLike, event: npt.ArrayLike) -> StepKM:
    """S, the Kaplan-Meier estimate of event-free survival of ``time``, ``event``."""
    return _remembered("survival", time, event, _survival_km)


def _censoring_km(time: np.ndarray, event: np.ndarray) -> StepKM:
    times, total, events, at_risk = _counts(time, event)
    if events.sum() == len(event):
        return StepKM(times, np.ones(len(times)))
    censored = total - events
    at_risk = at_risk - events  # the events at a time leave before its censorings count
    ratio = np.divide(censored, at_risk, out=np.zeros(len(times)), where=censored != 0)
    return StepKM(times, np.cumprod(1.0 - ratio))


def _survival_km(time: np.ndarray, event: np.ndarray) -> StepKM:
    times, _, events, at_risk = _counts(time, event)
    return StepKM(times, np.cumprod(1.0 - events / at_risk))


#: Large samples whose estimates are remembered (by content), and how many are kept. Every
#: metric of every bootstrap replicate needs the same training G; at 10^6 patients a fit costs
#: about 0.1 s, and the hash of its data a tenth of that.
_REMEMBER_FROM, _REMEMBERED = 20_000, 4
_memory: OrderedDict[bytes, StepKM] = OrderedDict()


def forget_estimates() -> None:
    """Drop the remembered estimates (for timing a first call)."""
    _memory.clear()


def _remembered(
    kind: str,
    time: npt.ArrayLike,
    event: npt.ArrayLike,
    fit: Callable[[np.ndarray, np.ndarray], StepKM],
) -> StepKM:
    t = np.ascontiguousarray(time, dtype=float)
    e = np.ascontiguousarray(event, dtype=bool)
    if len(t) < _REMEMBER_FROM or t.shape != e.shape:
        return fit(t, e)
    digest = hashlib.blake2b(kind.encode(), digest_size=20)
    digest.update(t.data)
    digest.update(e.view(np.uint8).data)
    key = digest.digest()
    if key in _memory:
        _memory.move_to_end(key)
        return _memory[key]
    estimate = fit(t, e)
    for values in estimate:
        values.setflags(write=False)  # shared by every caller from now on
    _memory[key] = estimate
    while len(_memory) > _REMEMBERED:
        _memory.popitem(last=False)
    return estimate


def _counts(
    time: npt.ArrayLike, event: npt.ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct times (increasing) and, at each, the patients there, the events there and the
    patients still at risk (time >= it)."""
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    order = np.argsort(time)
    t = time[order]
    starts = np.flatnonzero(np.concatenate([[True], t[1:] != t[:-1]]))
    total = np.diff(np.append(starts, len(t)))
    events = np.add.reduceat(event[order].astype(np.int64), starts)
    at_risk = len(t) - np.concatenate([[0], np.cumsum(total)[:-1]])
    return t[starts], total, events, at_risk
