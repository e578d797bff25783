"""Cumulative incidence from cause-specific hazards (the scoring side: numpy only, shipped).

With one proportional-hazards model per cause ``k`` (baseline cumulative hazard ``Lambda_k``,
relative hazard ``r_k(x) = exp(eta_k(x))``), a patient's hazard increments on the merged grid of
event times ``u`` are ``dLambda_k(u) r_k(x)``; being free of every cause is the product-limit
``S(u) = prod_{v <= u} (1 - sum_k dLambda_k(v) r_k(x))``, and the cumulative incidence of cause
``c`` is ``F_c(t) = sum_{u <= t} S(u-) dLambda_c(u) r_c(x)``. With Breslow (Nelson-Aalen)
baselines and no covariate effect this is the Aalen-Johansen estimate exactly. A product term is
floored at 0 (a patient whose increments sum past 1 has no one left at risk).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = ["CauseSpecificRisk", "cause_specific_cif", "cif_from_increments"]

#: Cells (patients x grid times) per block of the arrays: about 8 MB each.
_CELLS = 1 << 20


class CauseSpecificRisk(NamedTuple):
    """Per patient and time: the cause's cumulative incidence and freedom from every cause."""

    cif: np.ndarray
    """shape (n, len(at))."""
    event_free: np.ndarray
    """shape (n, len(at))."""


def cause_specific_cif(
    baselines: Sequence[tuple[npt.ArrayLike, npt.ArrayLike]],
    relative_hazards: npt.ArrayLike,
    cause: int,
    at: npt.ArrayLike,
) -> CauseSpecificRisk:
    """The cumulative incidence of ``baselines[cause]``'s cause at times ``at``.

    Parameters
    ----------
    baselines
        Per cause: (event times increasing, baseline cumulative hazard at them).
    relative_hazards : array-like, shape (n, K)
        ``exp(eta_k(x))`` of each patient under each cause's model, in ``baselines``' order.
    cause
        Index into ``baselines`` of the cause of interest.
    at : array-like, shape (m,)
        Times (the models' unit), >= 0.
    """
    r = np.atleast_2d(np.asarray(relative_hazards, dtype=float))
    at_ = np.atleast_1d(np.asarray(at, dtype=float))
    if r.shape[1] != len(baselines):
        raise ValueError(
            f"relative_hazards has {r.shape[1]} columns, but there are {len(baselines)} causes"
        )
    grid, increments = _increments(baselines, float(at_.max(initial=0.0)))
    read = np.searchsorted(grid, at_, side="right")  # grid points up to each time
    cif = np.zeros((len(r), len(at_)))
    free = np.ones((len(r), len(at_)))
    rows = max(1, _CELLS // max(len(grid), 1))
    for start in range(0, len(r), rows):
        part = slice(start, start + rows)
        cif[part], free[part] = _block(r[part], increments, cause, read)
    return CauseSpecificRisk(cif, free)


def _increments(
    baselines: Sequence[tuple[npt.ArrayLike, npt.ArrayLike]], until: float
) -> tuple[np.ndarray, np.ndarray]:
    """The merged grid of event times up to ``until`` and each cause's increment there (K, T)."""
    parts = [(np.asarray(t, dtype=float), np.asarray(h, dtype=float)) for t, h in baselines]
    grid = np.unique(np.concatenate([t[t <= until] for t, _ in parts]))
    increments = np.zeros((len(parts), len(grid)))
    for k, (t, h) in enumerate(parts):
        keep = t <= until
        steps = np.diff(np.r_[0.0, h])[keep]
        increments[k, np.searchsorted(grid, t[keep])] = steps
    return grid, increments


def _block(
    r: np.ndarray, increments: np.ndarray, cause: int, read: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    if increments.shape[1] == 0:
        return np.zeros((len(r), len(read))), np.ones((len(r), len(read)))
    total = r @ increments  # (n, T): every cause's hazard increment
    return cif_from_increments(np.outer(r[:, cause], increments[cause]), total, read)


def cif_from_increments(
    cause: np.ndarray, total: np.ndarray, read: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """CIF and freedom from every cause from per-patient hazard increments on a grid.

    ``cause`` and ``total``, shape (n, T): the cause's and all causes' cumulative hazard
    increments at each grid time; ``read``: for each output time, how many grid times lie at
    or before it. Returns two arrays of shape (n, len(read)).
    """
    n = len(cause)
    survival = np.cumprod(np.maximum(1.0 - total, 0.0), axis=1)
    before = np.hstack([np.ones((n, 1)), survival[:, :-1]])
    cif = np.cumsum(before * cause, axis=1)
    padded_cif = np.hstack([np.zeros((n, 1)), cif])
    padded_free = np.hstack([np.ones((n, 1)), survival])
    return padded_cif[:, read], padded_free[:, read]
