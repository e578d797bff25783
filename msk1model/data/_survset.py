"""Read SurvSet tables and recode their factor columns (shared by the public cohort modules)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from msk1model.errors import DataError

__all__ = ["SURVSET_MISSING", "factor_as_float", "load_survset", "map_levels"]

#: Strings SurvSet (or the R package it copied) writes for a missing factor level.
SURVSET_MISSING = ("missing", "na", "x")


def load_survset(name: str) -> pd.DataFrame:
    """The SurvSet table ``name``: ``pid``, ``event``, ``time``, ``num_*`` and ``fac_*`` columns."""
    from SurvSet.data import SurvLoader  # imported on use: it reads its data files on import

    return SurvLoader().load_dataset(ds_name=name)["df"]


def factor_as_float(series: pd.Series) -> pd.Series:
    """A numeric SurvSet factor as float, with its missing levels (:data:`SURVSET_MISSING`) NaN."""
    text = series.astype(str).str.strip()
    return pd.to_numeric(text.where(~text.isin(SURVSET_MISSING)), errors="coerce").astype(float)


def map_levels(series: pd.Series, levels: Mapping[str, float], column: str) -> pd.Series:
    """Recode a text factor by ``levels``; unlisted levels are an error, not silently NaN.

    Values in :data:`SURVSET_MISSING` become NaN (a level mapped to NaN is missing too).

    Raises
    ------
    DataError
        When ``series`` holds a level that ``levels`` does not list (the upstream coding changed).
    """
    text = series.astype(str).str.strip()
    unknown = sorted(set(text) - set(levels) - set(SURVSET_MISSING))
    if unknown:
        raise DataError(
            f"column {column!r} holds level(s) {unknown} that the cohort loader does not know; "
            f"known levels: {sorted(levels)}. Fix: the upstream data changed, update the loader's "
            "level mapping"
        )
    mapped = text.map(dict(levels)).astype(float)
    return mapped.where(~text.isin(SURVSET_MISSING), np.nan)
