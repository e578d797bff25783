"""Input checks shared by the evaluation metrics.

Each check raises :class:`~msk1model.errors.EvaluationError` naming the argument, the rule it
breaks, what was found and how to fix it; each returns the input as a clean ``numpy`` array.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from msk1model.errors import EvaluationError

__all__ = ["check_horizons", "check_outcome", "check_risk", "check_survival"]

#: Rises in a survival curve smaller than this are floating-point noise, not a broken curve.
MONOTONE_TOL = 1e-9


def check_outcome(
    time: npt.ArrayLike, event: npt.ArrayLike, names: tuple[str, str] = ("time", "event")
) -> tuple[np.ndarray, np.ndarray]:
    """Follow-up times (years, finite, >= 0) and event indicators (0/1) of equal length.

    Returns
    -------
    time : ndarray of float, shape (n,)
    event : ndarray of bool, shape (n,)
    """
    t = np.asarray(time, dtype=float)
    e = np.asarray(event)
    if t.ndim != 1 or e.ndim != 1 or len(t) != len(e):
        raise EvaluationError(
            f"{names[0]} and {names[1]} must be 1-D with one value per patient, but got shapes "
            f"{t.shape} and {e.shape}. Fix: pass one follow-up time and one event flag per patient"
        )
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
