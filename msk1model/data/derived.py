"""Two rules of the cohort definition: columns binned from raw ones, administrative censoring.

Both are set in the config (``data.derived``, ``data.administrative_censoring``) and applied by
:func:`msk1model.data.cohort.load_cohort`. Derived columns are computed on the raw table before
anything else, so ``data.covariates``, ``data.categorical`` and ``data.subgroup`` may name them
(and a validation cohort can rebuild a development cohort's coding, e.g. size in mm -> the size
categories of Rotterdam). Administrative censoring ends every patient's follow-up at one time,
in years, after the time-unit conversion.
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from msk1model.config import DerivedBins
from msk1model.data import validation
from msk1model.errors import DataError

__all__ = ["administratively_censor", "bin_codes", "derive_columns", "describe_bins"]


def bin_codes(values: pd.Series, bins: Sequence[float]) -> pd.Series:
    """1 + the number of cut points strictly below each value, as float; missing stays missing.

    The intervals are right-closed: ``(-inf, c1], (c1, c2], ..., (ck, inf)`` -> ``1, ..., k + 1``
    (``np.digitize(x, bins, right=True) + 1``). Size in mm with ``bins = [20, 50]`` gives
    1 = <= 20, 2 = 21-50, 3 = > 50.

    Parameters
    ----------
    values : Series, shape (n,)
        Numeric values, NaN where missing.
    bins : sequence of float, shape (k,)
        Strictly increasing cut points (the config checks this).
    """
    x = values.to_numpy(dtype=float)
    # side="left": the index of the first cut point >= x, i.e. the count of cut points below x.
    codes = np.searchsorted(np.asarray(bins, dtype=float), x, side="left") + 1.0
    return pd.Series(np.where(np.isnan(x), np.nan, codes), index=values.index, name=values.name)


def describe_bins(spec: DerivedBins) -> str:
    """The coding of a derived column in words, e.g. ``nodes: 1 <= 0, 2 > 0``."""
    cuts = [f"{c:g}" for c in spec.bins]
    parts = [f"1 <= {cuts[0]}"]
    parts += [
        f"{i + 2} in ({low}, {high}]" for i, (low, high) in enumerate(itertools.pairwise(cuts))
    ]
    parts.append(f"{len(cuts) + 1} > {cuts[-1]}")
    return f"{spec.source}: {', '.join(parts)}"


def derive_columns(
    raw: pd.DataFrame, derived: Mapping[str, DerivedBins], source: str, id_column: str
) -> pd.DataFrame:
    """``raw`` with one binned column per entry of ``derived`` (a new frame; ``raw`` is kept).

    Raises
    ------
    DataError
        When a derived name is already a column of ``raw``, a source column is missing (or is
        another derived column), or a source column holds text.
    """
    if not derived:
        return raw
    _check_names(raw, derived, source)
    validation.check_numeric(raw, sorted({spec.source for spec in derived.values()}), id_column)
    binned = {
        name: bin_codes(pd.to_numeric(raw[spec.source]), spec.bins)
        for name, spec in derived.items()
    }
    return raw.assign(**binned)


def _check_names(raw: pd.DataFrame, derived: Mapping[str, DerivedBins], source: str) -> None:
    present = [str(c) for c in raw.columns]
    taken = [name for name in derived if name in present]
    if taken:
        raise DataError(
            f"data.derived names {taken}, but {source} already has column(s) of that name; a "
            "derived column must not replace a raw one. Fix: give the derived column another "
            f"name (e.g. {taken[0]}_category)"
        )
    for name, spec in derived.items():
        if spec.source in present:
            continue
        close = difflib.get_close_matches(spec.source, present, n=2, cutoff=0.6)
        hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
        if spec.source in derived:
            hint = " (it is another derived column; sources are columns of the raw table only)"
        raise DataError(
            f"data.derived.{name}.source is {spec.source!r}, which is not a column of {source}"
            f"{hint}; it has {present[:30]}. Fix: name a raw column as the source"
        )


def administratively_censor(table: pd.DataFrame, years: float) -> tuple[pd.DataFrame, str]:
    """End every follow-up at ``years``: a later time becomes ``years`` with ``event`` 0 (and
    ``event_type`` 0, where the table has competing events).

    Parameters
    ----------
    table : DataFrame, shape (n, ...)
        With ``time`` (years) and ``event`` (0/1) columns, and optionally ``event_type``.
    years : float
        The administrative censoring time, > 0.

    Returns
    -------
    (DataFrame, str)
        The censored table (a new frame) and the name of its patient-flow step, which counts
        the patients censored and their events after ``years``, no longer counted.
    """
    later = table["time"].to_numpy(dtype=float) > years
    dropped = int(table["event"].to_numpy()[later].sum())
    censored = table.assign(
        time=np.where(later, years, table["time"].to_numpy(dtype=float)),
        event=np.where(later, 0, table["event"].to_numpy()).astype(int),
    )
    if "event_type" in table:
        censored["event_type"] = np.where(later, 0, table["event_type"].to_numpy()).astype(int)
    step = (
        f"administratively censored at {years:g} years ({int(later.sum())} patients followed "
        f"longer, {dropped} of their events after {years:g} years not counted)"
    )
    return censored, step
