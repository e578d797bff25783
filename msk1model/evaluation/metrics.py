"""Discrimination metrics as pure functions of times (years), events and risk scores."""

from __future__ import annotations

import numpy as np
from sksurv.metrics import concordance_index_censored, concordance_index_ipcw

from msk1model.errors import EvaluationError
from msk1model.models import structured_y

__all__ = ["harrell_c", "uno_c"]


def harrell_c(time: np.ndarray, event: np.ndarray, risk: np.ndarray) -> float:
    """Harrell's concordance index: share of comparable pairs ordered correctly by ``risk``.

    Ties in risk count one half. Higher risk must mean shorter survival.
    """
    try:
        value = concordance_index_censored(np.asarray(event, bool), time, risk)[0]
    except ValueError as exc:  # e.g. no events, or no comparable pairs
        raise EvaluationError(f"Harrell's C is undefined here: {exc}") from None
    return float(value)


def uno_c(
    train_time: np.ndarray,
    train_event: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    risk: np.ndarray,
    tau: float,
) -> float:
    """Uno's inverse-probability-of-censoring weighted C-index, truncated at ``tau`` years.

    The censoring distribution is the Kaplan-Meier estimate on the training data. ``tau`` is
    clipped to the last training follow-up time, where that censoring estimate ends.
    """
    tau = min(tau, float(np.max(train_time)))
    try:
        value = concordance_index_ipcw(
            structured_y(train_event, train_time), structured_y(event, time), risk, tau=tau
        )[0]
    except ValueError as exc:  # e.g. no comparable pairs before tau
        raise EvaluationError(f"Uno's C is undefined here (tau={tau:.3g} years): {exc}") from None
    return float(value)
