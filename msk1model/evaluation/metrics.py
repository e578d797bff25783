"""Discrimination metrics as pure functions of a structured outcome ``y`` and risk scores."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from sksurv.metrics import concordance_index_censored, concordance_index_ipcw

from msk1model.errors import EvaluationError
from msk1model.evaluation._checks import y_fields
from msk1model.outcome import make_y

__all__ = ["harrell_c", "uno_c"]


def harrell_c(y: npt.ArrayLike, risk: np.ndarray) -> float:
    """Harrell's concordance index: share of comparable pairs ordered correctly by ``risk``.

    Ties in risk count one half. Higher risk must mean shorter survival.

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
    try:
        value = concordance_index_censored(np.asarray(event, bool), time, risk)[0]
    except ValueError as exc:  # e.g. no events, or no comparable pairs
        raise EvaluationError(f"Harrell's C is undefined here: {exc}") from None
    return float(value)


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
    tau = min(tau, float(np.max(train_time)))
    try:
        value = concordance_index_ipcw(
            make_y(time=train_time, event=train_event),
            make_y(time=time, event=event),
            risk,
            tau=tau,
        )[0]
    except ValueError as exc:  # e.g. no comparable pairs before tau
        raise EvaluationError(f"Uno's C is undefined here (tau={tau:.3g} years): {exc}") from None
    return float(value)
