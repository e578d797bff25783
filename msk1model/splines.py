"""Harrell's restricted cubic splines: knot placement and basis (shared by models and metrics)."""

from __future__ import annotations

import numpy as np

__all__ = ["KNOT_QUANTILES", "rcs_basis", "rcs_knots"]

#: Harrell's default knot quantiles (Regression Modeling Strategies, table 2.3), by knot count.
KNOT_QUANTILES: dict[int, tuple[float, ...]] = {
    3: (0.10, 0.50, 0.90),
    4: (0.05, 0.35, 0.65, 0.95),
    5: (0.05, 0.275, 0.5, 0.725, 0.95),
    6: (0.05, 0.23, 0.41, 0.59, 0.77, 0.95),
    7: (0.025, 0.1833, 0.3417, 0.5, 0.6583, 0.8167, 0.975),
}


def rcs_knots(x: np.ndarray, n_knots: int) -> np.ndarray:
    """Knots at Harrell's quantiles of ``x`` (shape ``(n_knots,)``); may repeat for coarse ``x``."""
    return np.quantile(np.asarray(x, dtype=float), KNOT_QUANTILES[n_knots])


def rcs_basis(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Harrell's restricted cubic spline basis: ``x`` then ``len(knots) - 2`` nonlinear terms.

    Cubic between the knots, linear beyond the outer ones; each nonlinear term is scaled by
    ``(knots[-1] - knots[0])**2`` as in ``Hmisc::rcspline.eval``.

    Returns
    -------
    ndarray, shape (n, len(knots) - 1)
    """
    k = np.asarray(knots, dtype=float)
    span = k[-1] - k[-2]
    terms = [
        np.maximum(x - k[j], 0) ** 3
        - np.maximum(x - k[-2], 0) ** 3 * (k[-1] - k[j]) / span
        + np.maximum(x - k[-1], 0) ** 3 * (k[-2] - k[j]) / span
        for j in range(len(k) - 2)
    ]
    return np.column_stack([x, *terms]) / np.r_[1.0, np.full(len(terms), (k[-1] - k[0]) ** 2)]
