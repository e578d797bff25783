"""The survival outcome, one representation everywhere: a structured ``y`` of (event, time).

As in scikit-survival, ``y`` is a NumPy record array with one row per patient and two fields, the
event indicator (bool) first and the follow-up time second; msk1model's own arrays name them
``event`` and ``time`` (years). Every model, metric and analysis takes this one ``y`` (and
``y_train`` where a censoring distribution is estimated), so follow-up times and event flags can
never be passed in the wrong order. Build one with :func:`make_y` (keyword-only, so the fields
cannot be swapped) and check a foreign one (e.g. from ``sksurv.datasets``) with :func:`as_y`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from msk1model.errors import OutcomeError

__all__ = ["OUTCOME_DTYPE", "as_y", "make_y"]

#: The dtype of msk1model's ``y``: ``event`` (bool), then ``time`` (float, years).
OUTCOME_DTYPE = np.dtype([("event", bool), ("time", float)])


def make_y(*, time: npt.ArrayLike, event: npt.ArrayLike) -> np.ndarray:
    """A structured ``y`` from follow-up ``time`` (years) and ``event`` flags, shape (n,).

    Raises
    ------
    OutcomeError
        If ``time`` and ``event`` are not 1-D of equal length, or ``event`` holds a value other
        than 0/1 (False/True).
    """
    t, e = np.asarray(time, dtype=float), np.asarray(event)
    if t.ndim != 1 or e.ndim != 1 or len(t) != len(e):
        raise OutcomeError(
            f"time and event must be 1-D with one value per patient, but got shapes {t.shape} "
            f"and {e.shape}. Fix: pass one follow-up time and one event flag per patient"
        )
    if e.dtype != bool and not np.isin(e, (0, 1)).all():
        bad = e[~np.isin(e, (0, 1))]
        raise OutcomeError(
            f"event must hold only 0/False (censored) or 1/True (event), but found "
            f"{sorted({str(v) for v in bad.tolist()})[:5]}. Fix: recode it (a competing event "
            "is not an event of this endpoint)"
        )
    y = np.empty(len(t), dtype=OUTCOME_DTYPE)
    y["event"] = e.astype(bool)
    y["time"] = t
    return y


def as_y(y: npt.ArrayLike, name: str = "y") -> np.ndarray:
    """``y`` with msk1model's field names: any 1-D structured array of (event, time) fields.

    The first field is read as the event indicator and the second as the time, the convention
    of ``sksurv.util.Surv`` (``sksurv.datasets`` name them e.g. ``cens`` and ``time``). An array
    that already has :data:`OUTCOME_DTYPE` is returned as it is.

    Raises
    ------
    OutcomeError
        If ``y`` is not a 1-D structured array with exactly two fields.
    """
    arr = np.asarray(y)
    if arr.dtype == OUTCOME_DTYPE and arr.ndim == 1:
        return arr
    names = arr.dtype.names or ()
    if len(names) != 2 or arr.ndim != 1:
        raise OutcomeError(
            f"{name} must be a 1-D structured array with fields (event, time), as from "
            f"msk1model.outcome.make_y or sksurv.util.Surv, but got dtype {arr.dtype} and shape "
            f"{arr.shape}. Fix: make_y(time=..., event=...)"
        )
    return make_y(time=arr[names[1]], event=arr[names[0]])
