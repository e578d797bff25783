"""The Cox partial log-likelihood (Breslow's handling of ties), in O(n log n)."""

from __future__ import annotations

import numpy as np

__all__ = ["cox_partial_log_likelihood"]


def cox_partial_log_likelihood(eta: np.ndarray, event: np.ndarray, time: np.ndarray) -> float:
    """``sum over events i of [eta_i - log sum_{j: t_j >= t_i} exp(eta_j)]`` (Breslow ties).

    Parameters
    ----------
    eta
        Linear predictor, shape (n,).
    event, time
        Event indicator (bool) and follow-up time, shape (n,).
    """
    eta = np.asarray(eta, dtype=float)
    event = np.asarray(event, dtype=bool)
    time = np.asarray(time, dtype=float)
    shift = float(eta.max())  # exp(eta - shift) <= 1: no overflow
    order = np.argsort(time, kind="stable")
    t_sorted = time[order]
    at_risk = np.cumsum(np.exp(eta - shift)[order][::-1])[::-1]  # sum over time >= t (sorted)
    first = np.searchsorted(t_sorted, time[event], side="left")  # ties share the whole risk set
    return float(np.sum(eta[event]) - np.sum(np.log(at_risk[first]) + shift))
