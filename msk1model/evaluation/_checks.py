"""Input checks shared by the evaluation metrics.

Each check raises :class:`~msk1model.errors.EvaluationError` naming the argument, the rule it
breaks, what was found and how to fix it; each returns the input as clean ``numpy`` arrays.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from msk1model.errors import EvaluationError

__all__ = [
    "check_columns_outcome",
    "check_horizons",
    "check_risk",
    "check_survival",
    "check_y",
    "y_fields",
]

#: Rises in a survival curve smaller than this are floating-point noise, not a broken curve.
MONOTONE_TOL = 1e-9


def y_fields(y: npt.ArrayLike, name: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """The (time, event) fields of a structured ``y``, checked for shape and dtype only.

    ``y`` is any 1-D structured array of two fields, the event indicator first and the time
    second (:func:`msk1model.outcome.make_y`, or scikit-survival's ``Surv`` and datasets, whose
    fields may be named e.g. ``cens`` and ``time``).

    Returns
    -------
    time : ndarray of float, shape (n,)
        Contiguous copy of the time field (years).
    event : ndarray, shape (n,)
        Contiguous copy of the event field, in its own dtype (bool or a number).
    """
    arr = np.asarray(y)
    names = arr.dtype.names or ()
    if arr.ndim != 1 or len(names) != 2:
        raise EvaluationError(
            f"{name} must be a 1-D structured array with fields (event, time), as from "
            f"msk1model.outcome.make_y or sksurv.util.Surv, but got dtype {arr.dtype} and shape "
            f"{arr.shape}. Fix: make_y(time=..., event=...)"
        )
    if names == ("time", "event"):
        raise EvaluationError(
            f"{name} must hold the event field first and the time field second (scikit-survival's "
            f"order), but its fields are {names}. Fix: make_y(time=..., event=...)"
        )
    for field in names:
        kind = arr.dtype[field].kind
        if kind not in "biuf":
            raise EvaluationError(
                f"{name}[{field!r}] must be numeric or bool, but has dtype {arr.dtype[field]}. "
                "Fix: make_y(time=..., event=...) from numeric follow-up times and 0/1 flags"
            )
    # contiguous copies: a strided field view could take other (SIMD) code paths in numpy
    return np.array(arr[names[1]], dtype=float), np.array(arr[names[0]])


def check_y(y: npt.ArrayLike, name: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """Follow-up times (years, finite, >= 0) and event indicators (0/1) of a structured ``y``.

    Parameters
    ----------
    y : structured array, shape (n,)
        Fields (event, time), see :func:`y_fields`; at least one event.
    name : str
        The argument's name in error messages (``"y"``, ``"y_train"``).

    Returns
    -------
    time : ndarray of float, shape (n,)
    event : ndarray of bool, shape (n,)
    """
    time, event = y_fields(y, name)
    fields = ("time", "event") if name == "y" else (f"{name}['time']", f"{name}['event']")
    return _check_values(time, event, fields)


def check_columns_outcome(
    frame: pd.DataFrame, *, duration_col: str, event_col: str
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`check_y` for a lifelines-style frame: its duration and event columns by name."""
    time = frame[duration_col].to_numpy(dtype=float)
    return _check_values(time, frame[event_col].to_numpy(), (duration_col, event_col))


def _check_values(
    t: np.ndarray, e: np.ndarray, names: tuple[str, str]
) -> tuple[np.ndarray, np.ndarray]:
    bad = ~np.isfinite(t) | (t < 0)
    if bad.any():
        raise EvaluationError(
            f"{names[0]} must hold finite follow-up times >= 0 (years), but {int(bad.sum())} "
            f"value(s) do not, e.g. {t[bad][0]!r}. Fix: correct or exclude those patients"
        )
    if not np.isin(e, (0, 1)).all():
        raise EvaluationError(
            f"{names[1]} must hold only 0/False (censored) or 1/True (event), but found "
            f"{sorted(set(np.unique(e).tolist()) - {0, 1})[:5]}. Fix: recode it"
        )
    e = e.astype(bool)
    if not e.any():
        raise EvaluationError(
            f"{names[1]} must contain at least one event, but all {len(e)} patients are "
            "censored. Fix: evaluate on a cohort with events"
        )
    return t, e


def check_horizons(
    horizons: npt.ArrayLike, name: str = "horizons", *, allow_zero: bool = False
) -> np.ndarray:
    """Horizons in years: 1-D, finite, > 0 (>= 0 if allowed), strictly increasing; (n_times,)."""
    h = np.atleast_1d(np.asarray(horizons, dtype=float))
    if h.ndim != 1 or len(h) == 0:
        raise EvaluationError(
            f"{name} must be a non-empty 1-D sequence of times (years), but got shape {h.shape}"
        )
    positive = (h >= 0) if allow_zero else (h > 0)
    if not (np.isfinite(h).all() and positive.all() and (np.diff(h) > 0).all()):
        raise EvaluationError(
            f"{name} must be finite, {'>=' if allow_zero else '>'} 0 and strictly increasing "
            f"(years), but got {np.round(h, 4).tolist()[:10]}. Fix: sort them and drop duplicates"
        )
    return h


def check_survival(surv: npt.ArrayLike, shape: tuple[int, int], name: str) -> np.ndarray:
    """Survival probabilities, shape ``(n_patients, n_times)``, in [0, 1], non-increasing."""
    s = np.asarray(surv, dtype=float)
    if s.ndim == 1 and shape[1] == 1:
        s = s[:, np.newaxis]
    if s.shape != shape:
        raise EvaluationError(
            f"{name} must have shape (n_patients, n_times) = {shape}, but got {s.shape}. Fix: "
            "one row per test patient and one column per time point"
        )
    bad = ~np.isfinite(s) | (s < 0) | (s > 1)
    if bad.any():
        raise EvaluationError(
            f"{name} must hold survival probabilities in [0, 1], but {int(bad.sum())} value(s) "
            f"do not, e.g. {s[bad][0]!r}. Fix: pass S(t|x), not risk scores or cumulative hazards"
        )
    rises = np.diff(s, axis=1) > MONOTONE_TOL
    if rises.any():
        row, col = (int(i[0]) for i in np.nonzero(rises))
        raise EvaluationError(
            f"{name} must be non-increasing in time (along axis 1), but patient {row} rises from "
            f"{s[row, col]:.6g} to {s[row, col + 1]:.6g} between columns {col} and {col + 1}. "
            "Fix: check that the columns follow the increasing time points"
        )
    return s


def check_risk(risk: npt.ArrayLike, n: int, n_times: int) -> np.ndarray:
    """Finite risk scores, shape ``(n,)`` or ``(n, n_times)``; higher means shorter survival."""
    r = np.asarray(risk, dtype=float)
    if r.shape not in ((n,), (n, n_times)):
        raise EvaluationError(
            f"risk must have shape ({n},) or ({n}, {n_times}) (patients x horizons), but got "
            f"{r.shape}. Fix: one score per test patient, or one column per horizon"
        )
    if not np.isfinite(r).all():
        raise EvaluationError(
            f"risk must be finite, but {int((~np.isfinite(r)).sum())} value(s) are NaN or "
            "infinite. Fix: check the model's predictions"
        )
    return r
