"""Fitted parts every family shares: the preprocessor of the design matrix and the Breslow
baseline hazard. Both keep their state as data (:meth:`to_state` / :meth:`from_state`)."""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import pandas as pd

from msk1model.errors import ModelError

__all__ = ["BreslowBaseline", "Preprocessor", "event_time"]


def event_time(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Contiguous copies of the ``event`` (bool) and ``time`` (float) fields of msk1model's ``y``.

    For the libraries that take the two columns apart; the copies keep their inputs as they
    were before ``y`` became one array.
    """
    return y["event"].astype(bool), y["time"].astype(float)


class Preprocessor:
    """Median imputation then standardisation of the (numeric) design matrix, fitted on
    training rows only.

    State: per-column ``medians``, ``means`` and ``scales`` (a constant column keeps scale 1).
    """

    def __init__(self, columns: list[str]) -> None:
        self.columns = list(columns)

    def fit(self, X: pd.DataFrame) -> Self:
        """Learn medians, means and scales of the design matrix ``X`` (training rows)."""
        values = self._select(X)
        self.medians_ = np.nanmedian(values, axis=0)
        filled = np.where(np.isnan(values), self.medians_, values)
        self.means_ = filled.mean(axis=0)
        scales = filled.std(axis=0)
        self.scales_ = np.where(scales > 0, scales, 1.0)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Imputed, standardised ``Z``, shape (n, len(columns))."""
        values = self._select(X)
        filled = np.where(np.isnan(values), self.medians_, values)
        return (filled - self.means_) / self.scales_

    def to_state(self) -> dict[str, Any]:
        """The fitted state as JSON-compatible data."""
        return {
            "columns": self.columns,
            "medians": self.medians_.tolist(),
            "means": self.means_.tolist(),
            "scales": self.scales_.tolist(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Preprocessor:
        """The preprocessor :meth:`to_state` described."""
        pre = cls(state["columns"])
        pre.medians_ = np.asarray(state["medians"], dtype=float)
        pre.means_ = np.asarray(state["means"], dtype=float)
        pre.scales_ = np.asarray(state["scales"], dtype=float)
        return pre

    def _select(self, X: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.columns if c not in X.columns]
        if missing:
            raise ModelError(
                f"input lacks design column(s) {missing}; the model needs {self.columns}"
            )
        return X[self.columns].to_numpy(dtype=float)


class BreslowBaseline:
    """Breslow estimator of the cumulative baseline hazard H0(t) at the training event times."""

    def fit(self, risk: np.ndarray, y: np.ndarray) -> Self:
        """Fit on training risk scores (n,) and msk1model's structured ``y`` (n,)."""
        event, time = event_time(y)
        shift = float(np.max(risk))  # exp(risk - shift) cannot overflow; H0 is rescaled below
        order = np.argsort(time, kind="stable")
        sorted_time = time[order]
        at_risk = np.cumsum(np.exp(risk - shift)[order][::-1])[::-1]  # sum over time >= t
        event_times, deaths = np.unique(time[event], return_counts=True)
        risk_set = at_risk[np.searchsorted(sorted_time, event_times, side="left")]
        self.times_ = event_times
        self.cumhaz_ = np.cumsum(deaths / risk_set) * np.exp(-shift)
        return self

    def cumulative_hazard(self, risk: np.ndarray, times: np.ndarray) -> np.ndarray:
        """H(t | x) = H0(t) exp(risk), shape (n_patients, n_times)."""
        idx = np.searchsorted(self.times_, np.asarray(times, dtype=float), side="right") - 1
        h0 = np.where(idx >= 0, self.cumhaz_[np.clip(idx, 0, None)], 0.0)
        return np.exp(np.asarray(risk, dtype=float))[:, None] * h0[None, :]

    def to_state(self) -> dict[str, Any]:
        """The fitted state (event times in years, H0 there) as JSON-compatible data."""
        return {"times": self.times_.tolist(), "cumhaz": self.cumhaz_.tolist()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> BreslowBaseline:
        """The baseline :meth:`to_state` described."""
        base = cls()
        base.times_ = np.asarray(state["times"], dtype=float)
        base.cumhaz_ = np.asarray(state["cumhaz"], dtype=float)
        return base
