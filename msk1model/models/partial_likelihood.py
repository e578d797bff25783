"""The Cox partial log-likelihood (Breslow's handling of ties), in O(n log n)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from msk1model.outcome import as_y

__all__ = ["cox_partial_log_likelihood"]


def cox_partial_log_likelihood(eta: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """``sum over events i of [eta_i - log sum_{j: t_j >= t_i} exp(eta_j)]`` (Breslow ties).

    Parameters
    ----------
    eta
        Linear predictor, shape (n,).
    y
        Structured outcome of (event, time), shape (n,) (:func:`msk1model.outcome.make_y`).
    """
    outcome = as_y(y)
    eta = np.asarray(eta, dtype=float)
    event = outcome["event"].astype(bool)
    time = outcome["time"].astype(float)
    shift = float(eta.max())  # exp(eta - shift) <= 1: no overflow
    order = np.argsort(time, kind="stable")
    t_sorted = time[order]
    at_risk = np.cumsum(np.exp(eta - shift)[order][::-1])[::-1]  # sum over time >= t (sorted)
    first = np.searchsorted(t_sorted, time[event], side="left")  # ties share the whole risk set
    return float(np.sum(eta[event]) - np.sum(np.log(at_risk[first]) + shift))
