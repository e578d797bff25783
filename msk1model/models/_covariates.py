"""Per-covariate transforms learned on training rows: caps (winsorising at training quantiles)
and the spec of a covariate's restricted cubic spline. :class:`~msk1model.models.design.Design`
applies them; this module holds the spec and the statistics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np

from msk1model.errors import ModelError
from msk1model.splines import KNOT_QUANTILES

__all__ = ["Cap", "CovariateSpec", "cap_values", "capped", "observed_values"]

#: (low, high) of a cap: quantiles in a spec, values once fitted; None for an open end.
Cap = tuple[float | None, float | None]


@dataclass(frozen=True)
class CovariateSpec:
    """How one numeric covariate enters: capped at training quantiles, then maybe a spline.

    ``cap`` holds the (low, high) quantiles in (0, 1) to winsorise at, None for an open end
    (``(None, 0.99)``: at most the training 99th percentile); ``spline_knots`` a knot count
    3..7 (at Harrell's quantiles of the capped training values) or the knot values themselves
    (at least 3, increasing, in the covariate's units; kept as a tuple).
    """

    column: str
    cap: Cap | None = None
    spline_knots: int | Sequence[float] | None = None

    def __post_init__(self) -> None:  # plain values, so that equal specs compare and hash equal
        knots: Any = self.spline_knots  # an int, a numpy integer or any sequence of numbers
        if isinstance(knots, Integral):
            object.__setattr__(self, "spline_knots", int(knots))
        elif knots is not None:
            object.__setattr__(self, "spline_knots", tuple(float(k) for k in knots))
        if self.cap is not None:
            cap = tuple(None if q is None else float(q) for q in self.cap)
            object.__setattr__(self, "cap", cap)
        check_covariate_spec(self)

    def to_state(self) -> dict[str, Any]:
        """The cap and knots as JSON-compatible data (the column is the key it is stored under)."""
        knots = self.spline_knots
        return {
            "cap": None if self.cap is None else list(self.cap),
            "spline_knots": knots if knots is None or isinstance(knots, int) else list(knots),
        }

    @classmethod
    def from_state(cls, column: str, state: dict[str, Any]) -> CovariateSpec:
        """The spec of ``column`` :meth:`to_state` described."""
        cap = state.get("cap")
        return cls(column, None if cap is None else (cap[0], cap[1]), state.get("spline_knots"))


def check_covariate_spec(form: CovariateSpec) -> None:
    """Quantiles in (0, 1), low < high; a knot count of Harrell's table or >= 3 increasing knots."""
    key = f"covariate_transforms.{form.column}"
    if form.cap is not None:
        quantiles = [q for q in form.cap if q is not None]
        if (
            len(form.cap) != 2
            or not quantiles
            or not all(0 < q < 1 for q in quantiles)
            or not all(np.diff(quantiles) > 0)
        ):
            raise ModelError(
                f"{key}.cap must be (low, high) quantiles in (0, 1), low < high, None for an "
                f"open end (not both), but got {form.cap}. Fix: e.g. (None, 0.99) or (0.01, 0.99)"
            )
    knots = form.spline_knots
    if isinstance(knots, int) and knots not in KNOT_QUANTILES:
        raise ModelError(
            f"{key}.spline_knots must be one of {sorted(KNOT_QUANTILES)} (a knot count) or the "
            f"knot values, but got {knots}"
        )
    if isinstance(knots, Sequence) and (len(knots) < 3 or not all(np.diff(knots) > 0)):
        raise ModelError(
            f"{key}.spline_knots as values must be at least 3 increasing knots, but got "
            f"{list(knots)}. Fix: list them in increasing order, or give a knot count (3..7)"
        )


def observed_values(x: np.ndarray, column: str, key: str) -> np.ndarray:
    """The training values of ``column`` that are not missing; an error when there are none."""
    observed = x[~np.isnan(x)]
    if observed.size == 0:
        raise ModelError(
            f"covariate_transforms.{column}.{key} is learned on the training values of "
            f"{column}, but every one is missing. Fix: check the column or remove the {key}"
        )
    return observed


def cap_values(x: np.ndarray, cap: Cap, column: str) -> Cap:
    """The values at training quantiles ``cap`` of ``x`` (NaN ignored), None for an open end."""
    observed = observed_values(x, column, "cap")
    low, high = (None if q is None else float(np.quantile(observed, q)) for q in cap)
    return low, high


def capped(x: np.ndarray, values: Cap) -> np.ndarray:
    """``x`` winsorised at ``values`` (None: that end open); NaN stays NaN."""
    low, high = values
    return np.clip(x, -np.inf if low is None else low, np.inf if high is None else high)
