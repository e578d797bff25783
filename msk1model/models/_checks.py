"""Pre-fit checks of a design matrix: constant and collinear columns are named in a warning."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from msk1model.errors import NumericalWarning

__all__ = ["NumericalWarning", "warn_degenerate_columns"]

#: Smallest singular value, relative to the largest, below which columns count as collinear.
COLLINEAR_RTOL = 1e-7


def warn_degenerate_columns(D: pd.DataFrame, columns: list[str], kind: str) -> None:
    """Warn, naming the columns, when training columns are constant or linearly dependent.

    Tree models tolerate both, linear ones cannot identify the coefficients; every family is
    told so the user can fix the feature list rather than trust an arbitrary split of effects.
    """
    values = D[columns].to_numpy(dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: reported below
        medians = np.nanmedian(values, axis=0)
    filled = np.where(np.isnan(values), medians, values)
    sd = filled.std(axis=0)
    constant = [c for c, s in zip(columns, sd, strict=True) if not s > 0]
    if constant:
        warnings.warn(
            f"{kind}: feature column(s) {constant} are constant in the training data and carry "
            "no information. Fix: drop them from data.covariates (e.g. a column the subgroup "
            "fixes) or check the data",
            NumericalWarning,
            stacklevel=3,
        )
    varying = [j for j, s in enumerate(sd) if s > 0]
    collinear = _dependent_columns(filled[:, varying], [columns[j] for j in varying])
    if collinear:
        warnings.warn(
            f"{kind}: feature columns {collinear} are collinear in the training data (one is a "
            "linear combination of the others), so their separate effects are not identifiable. "
            "Fix: drop one of them from data.covariates",
            NumericalWarning,
            stacklevel=3,
        )


def _dependent_columns(X: np.ndarray, names: list[str]) -> list[str]:
    """Columns involved in a (near) linear dependence among standardised columns, else []."""
    if X.shape[1] < 2 or X.shape[0] <= X.shape[1]:
        return []
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    _, s, vt = np.linalg.svd(Z, full_matrices=False)
    small = s < COLLINEAR_RTOL * s[0]
    if not small.any():
        return []
    involved = (np.abs(vt[small]) > 1e-3).any(axis=0)
    return [n for n, hit in zip(names, involved, strict=True) if hit]
