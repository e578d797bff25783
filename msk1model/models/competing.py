"""A competing-risks model: two cause-specific hazard models of one family, combined into the
cumulative incidence of the cause of interest (the scoring side: numpy only, shipped).

The ``cause`` model is fitted with the cause's events (the competing ones censored), the
``competing`` model with the competing events (the cause censored), both with the same family and
hyperparameters. Each gives a patient's cumulative hazard ``H_k(t|x)``; on a grid of the training
event times their increments combine by the product-limit (:mod:`msk1model.models.competing_cif`)
into the CIF of the cause, ``F(t|x) = sum_{u <= t} S(u-|x) dH_cause(u|x)``, and the probability of
being free of every event, ``S(t|x) = prod_{u <= t} (1 - dH_cause(u|x) - dH_competing(u|x))``.
The risk score is the cause model's (the cause-specific log relative hazard for Cox-type models).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from msk1model.errors import ModelError
from msk1model.models._base import STATE_FORMAT, SurvivalModel
from msk1model.models.competing_cif import cif_from_increments
from msk1model.outcome import make_y

__all__ = ["COMPETING_KIND", "CompetingRisksModel"]

#: ``kind`` of a competing-risks model's saved state.
COMPETING_KIND = "competing"
#: Most grid times the CIF is summed over (the training event times, thinned by quantiles above
#: it): the product-limit over a coarser grid differs by the square of each step's hazard.
MAX_GRID = 2000
#: Cells (patients x grid times) per block of the arrays: about 8 MB each.
_CELLS = 1 << 20


class CompetingRisksModel:
    """The cause's and the competing events' hazard models, and the grid that combines them.

    Build it with :meth:`fit_pair` or from saved state (:meth:`from_state`).
    """

    kind = COMPETING_KIND

    def __init__(self, cause: SurvivalModel, competing: SurvivalModel, grid: npt.ArrayLike):
        self.cause = cause
        self.competing = competing
        self.grid = np.asarray(grid, dtype=float)
        self.features_ = list(cause.features_)

    @classmethod
    def fit_pair(
        cls,
        cause: SurvivalModel,
        competing: SurvivalModel,
        X: pd.DataFrame,
        time: npt.ArrayLike,
        event_type: npt.ArrayLike,
    ) -> CompetingRisksModel:
        """Fit ``cause`` on event type 1 and ``competing`` on event type 2 (both unfitted
        estimators of one family), on features ``X`` and the time to the first event."""
        t = np.asarray(time, dtype=float)
        codes = np.asarray(event_type)
        _check_competing(codes)
        cause.fit(X, make_y(time=t, event=codes == 1))
        return cls.complete(cause, competing, X, t, codes)

    @classmethod
    def complete(
        cls,
        cause: SurvivalModel,
        competing: SurvivalModel,
        X: pd.DataFrame,
        time: npt.ArrayLike,
        event_type: npt.ArrayLike,
    ) -> CompetingRisksModel:
        """Pair an already fitted ``cause`` model with ``competing`` (unfitted), fitted here on
        the competing events of the same patients."""
        t = np.asarray(time, dtype=float)
        codes = np.asarray(event_type)
        _check_competing(codes)
        competing.fit(X, make_y(time=t, event=codes == 2))
        return cls(cause, competing, event_grid(t[codes > 0]))

    def predict(self, X: pd.DataFrame | npt.ArrayLike) -> np.ndarray:
        """Risk score of the cause, shape (n,)."""
        return self.cause.predict(X)

    def predict_cif(self, X: pd.DataFrame, times: npt.ArrayLike) -> np.ndarray:
        """Cumulative incidence of the cause at ``times`` (years), shape (n, len(times))."""
        return self._combined(X, times)[0]

    def predict_event_free(self, X: pd.DataFrame, times: npt.ArrayLike) -> np.ndarray:
        """Probability of no event of any kind by ``times`` (years), shape (n, len(times))."""
        return self._combined(X, times)[1]

    def _combined(self, X: pd.DataFrame, times: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        at = np.atleast_1d(np.asarray(times, dtype=float))
        grid = self.grid[self.grid <= at.max(initial=0.0)]
        read = np.searchsorted(grid, at, side="right")
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
        cif = np.zeros((len(frame), len(at)))
        free = np.ones((len(frame), len(at)))
        if grid.size == 0:
            return cif, free
        rows = max(1, _CELLS // grid.size)
        for start in range(0, len(frame), rows):
            part = frame.iloc[start : start + rows]
            cause = _increments(self.cause.predict_cumulative_hazard(part, grid))
            other = _increments(self.competing.predict_cumulative_hazard(part, grid))
            block = slice(start, start + rows)
            cif[block], free[block] = cif_from_increments(cause, cause + other, read)
        return cif, free

    def to_state(self) -> dict[str, Any]:
        """Both models' states and the grid, as JSON-compatible data."""
        return {
            "format": STATE_FORMAT,
            "kind": COMPETING_KIND,
            "cause": self.cause.to_state(),
            "competing": self.competing.to_state(),
            "grid": self.grid.tolist(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> CompetingRisksModel:
        if state.get("kind") != COMPETING_KIND:
            raise ModelError(f"state of kind {state.get('kind')!r} is not a competing-risks model")
        cause = SurvivalModel.from_state(state["cause"])
        competing = SurvivalModel.from_state(state["competing"])
        return cls(cause, competing, state["grid"])


def event_grid(event_times: npt.ArrayLike, max_points: int = MAX_GRID) -> np.ndarray:
    """The distinct event times, or ``max_points`` quantiles of them when there are more."""
    distinct = np.unique(np.asarray(event_times, dtype=float))
    if distinct.size <= max_points:
        return distinct
    return np.unique(np.quantile(distinct, np.linspace(0.0, 1.0, max_points)))


def _check_competing(codes: np.ndarray) -> None:
    if not np.any(codes == 2):
        raise ModelError(
            "the competing-risks model needs competing events (type 2) in the training part, "
            "but there are none. Fix: check data.endpoint.competing"
        )


def _increments(cumulative: np.ndarray) -> np.ndarray:
    """Steps of cumulative hazards on a grid (n, T), from 0 before the first time."""
    return np.diff(cumulative, axis=1, prepend=0.0)
