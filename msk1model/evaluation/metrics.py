"""Discrimination metrics as pure functions of a structured outcome ``y`` and risk scores."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from msk1model.errors import EvaluationError
from msk1model.evaluation._checks import y_fields
from msk1model.evaluation.censoring import censoring_km
from msk1model.evaluation.concordance import concordance_sums, risk_ranks, sorted_concordance_sums

__all__ = ["harrell_c", "uno_c"]


def harrell_c(y: npt.ArrayLike, risk: np.ndarray) -> float:
    """Harrell's concordance index: share of comparable pairs ordered correctly by ``risk``.

    Ties in risk (within 1e-8) count one half. Higher risk must mean shorter survival. The
    pairs are scikit-survival's (``concordance_index_censored``), counted in O(n log n)
    (:mod:`msk1model.evaluation.concordance`).

    Parameters
    ----------
    y : structured array, shape (n,)
        Fields (event, time): event flags and follow-up in years, e.g. from
        :func:`msk1model.outcome.make_y` or ``sksurv.datasets``.
    risk : ndarray, shape (n,)
        Risk scores.

    Returns
    -------
    float
        The C-index, in [0, 1].
    """
    time, event = y_fields(y)
    risk = _risk(risk, len(time))
    try:
        numerator, denominator = concordance_sums(time, event, risk)
    except EvaluationError as exc:  # e.g. no events, or no comparable pairs
        raise EvaluationError(f"Harrell's C is undefined here: {exc}") from None
    return numerator / denominator


def _risk(risk: np.ndarray, n: int) -> np.ndarray:
    """``risk`` as n finite floats."""
    values = np.asarray(risk, dtype=float).ravel()
    if len(values) != n:
        raise EvaluationError(f"risk has {len(values)} values for {n} patients")
    if not np.all(np.isfinite(values)):
        raise EvaluationError("risk has NaN or infinite values; the C-index needs finite scores")
    return values


def uno_c(y_train: npt.ArrayLike, y: npt.ArrayLike, risk: np.ndarray, *, tau: float) -> float:
    """Uno's inverse-probability-of-censoring weighted C-index, truncated at ``tau`` years.

    The censoring distribution is the Kaplan-Meier estimate on the training data. ``tau`` is
    clipped to the last training follow-up time, where that censoring estimate ends.

    Parameters
    ----------
    y_train : structured array, shape (n_train,)
        Training outcome, fields (event, time in years); gives the censoring distribution.
    y : structured array, shape (n,)
        Test outcome, fields (event, time in years).
    risk : ndarray, shape (n,)
        Risk scores of the test patients.
    tau : float
        Truncation time in years.

    Returns
    -------
    float
        The C-index, in [0, 1].
    """
    train_time, train_event = y_fields(y_train, "y_train")
    time, event = y_fields(y)
    risk = _risk(risk, len(time))
    tau = min(tau, float(np.max(train_time)))
    before = time < tau
    try:
        censoring = censoring_km(train_time, train_event)
        order = np.argsort(time)  # one sort: sorted look-ups of G, then the concordance pass
        t, e = time[order], event[order]
        weights = np.square(censoring.ipcw(t, e & before[order]))
        numerator, denominator = sorted_concordance_sums(t, e, risk_ranks(risk)[order], weights)
    except EvaluationError as exc:  # e.g. no comparable pairs before tau
        raise EvaluationError(f"Uno's C is undefined here (tau={tau:.3g} years): {exc}") from None
    return numerator / denominator
