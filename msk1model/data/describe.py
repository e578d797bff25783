"""Describe the public cohorts: size, events, follow-up, ER split and the biomarker.

Results are data (:class:`CohortDescription`, a DataFrame from :func:`list_public`); printing
them is the caller's job (the CLI's ``data list`` / ``data describe NAME``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from msk1model.config import TIME_UNITS
from msk1model.data.public import PublicCohort, load_public, public_cohort_names
from msk1model.data.validation import check_columns
from msk1model.outcome import as_y, make_y

__all__ = [
    "BiomarkerSummary",
    "CohortDescription",
    "ErSplit",
    "describe_cohort",
    "describe_public",
    "list_public",
    "reverse_km_median_follow_up",
]


@dataclass(frozen=True)
class ErSplit:
    """Patients by ``er``: 1 (positive), 0 (negative) and missing."""

    positive: int
    negative: int
    missing: int


@dataclass(frozen=True)
class BiomarkerSummary:
    """Distribution of the biomarker column over the patients who have a value.

    ``n`` counts non-missing values and ``missing`` the rest; ``sd`` is the sample SD (ddof=1).
    Statistics are NaN when ``n`` is 0 (``sd`` also when ``n`` is 1). Units are the column's own.
    """

    column: str
    n: int
    missing: int
    mean: float
    sd: float
    min: float
    median: float
    max: float


@dataclass(frozen=True)
class CohortDescription:
    """Headline facts about one public cohort.

    ``median_follow_up`` is in ``time_unit`` and ``median_follow_up_years`` in years (a year is
    365.25 days); both are NaN when the reverse Kaplan-Meier curve never falls to 0.5. ``er`` is
    None when the cohort has no ``er`` column.
    """

    name: str
    study: str
    endpoint: str
    time_unit: str
    n_patients: int
    n_events: int
    median_follow_up: float
    median_follow_up_years: float
    er: ErSplit | None
    has_msk1: bool
    biomarker: BiomarkerSummary
    default_covariates: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """A plain nested dict (for JSON or a table); ``er`` None stays None."""
        return dataclasses.asdict(self)


def reverse_km_median_follow_up(y: npt.ArrayLike) -> float:
    """Median follow-up by the reverse Kaplan-Meier method (Schemper and Smith, 1996).

    Censoring is treated as the event and events as censored; the result is the smallest time
    at which that curve is <= 0.5, in the unit of the times.

    Parameters
    ----------
    y : structured array, shape (n,)
        Outcome, fields (event, time): event indicators (True = event) and follow-up times > 0
        in the cohort's unit, e.g. from :func:`msk1model.outcome.make_y`.

    Returns
    -------
    float
        The median potential follow-up, or NaN when the curve never reaches 0.5 (every patient
        had the event, or too few were censored).

    Raises
    ------
    OutcomeError
        If ``y`` is not a 1-D structured array of two fields.
    """
    outcome = as_y(y)
    time = np.array(outcome["time"], dtype=float)
    censored = ~np.array(outcome["event"], dtype=bool)
    distinct, ended = np.unique(time[censored], return_counts=True)
    if distinct.size == 0:
        return math.nan
    at_risk = time.size - np.searchsorted(np.sort(time), distinct, side="left")
    curve = np.cumprod(1.0 - ended / at_risk)
    reached = np.flatnonzero(curve <= 0.5)
    return float(distinct[reached[0]]) if reached.size else math.nan


def describe_cohort(cohort: PublicCohort, biomarker: str | None = None) -> CohortDescription:
    """Describe a loaded cohort; ``biomarker`` None means its ``default_biomarker``."""
    table = cohort.table
    follow_up = reverse_km_median_follow_up(
        make_y(time=table["time"].to_numpy(dtype=float), event=table["event"].to_numpy(dtype=bool))
    )
    return CohortDescription(
        name=cohort.name,
        study=cohort.study,
        endpoint=cohort.endpoint,
        time_unit=cohort.time_unit,
        n_patients=len(table),
        n_events=int(table["event"].sum()),
        median_follow_up=follow_up,
        median_follow_up_years=follow_up * TIME_UNITS[cohort.time_unit] / TIME_UNITS["years"],
        er=_er_split(table),
        has_msk1=cohort.has_msk1,
        biomarker=_summarise(table, biomarker or cohort.default_biomarker),
        default_covariates=cohort.default_covariates,
    )


def describe_public(name: str, biomarker: str | None = None) -> CohortDescription:
    """Load the public cohort ``name`` and describe it (see :func:`describe_cohort`).

    Raises
    ------
    DataError
        When ``name`` is not a registered cohort.
    """
    return describe_cohort(load_public(name), biomarker)


def list_public() -> pd.DataFrame:
    """One row per registered public cohort, sorted by name.

    Columns: ``name``, ``n``, ``events``, ``time_unit``, ``endpoint``, ``has_msk1`` and
    ``default_biomarker``. Loads every cohort (a few seconds).
    """
    rows = []
    for name in public_cohort_names():
        cohort = load_public(name)
        rows.append(
            {
                "name": name,
                "n": len(cohort.table),
                "events": int(cohort.table["event"].sum()),
                "time_unit": cohort.time_unit,
                "endpoint": cohort.endpoint,
                "has_msk1": cohort.has_msk1,
                "default_biomarker": cohort.default_biomarker,
            }
        )
    return pd.DataFrame(rows)


def _er_split(table: pd.DataFrame) -> ErSplit | None:
    if "er" not in table.columns:
        return None
    er = table["er"]
    return ErSplit(
        positive=int((er == 1).sum()), negative=int((er == 0).sum()), missing=int(er.isna().sum())
    )


def _summarise(table: pd.DataFrame, column: str) -> BiomarkerSummary:
    check_columns(table, [column], "the cohort table")
    values = pd.to_numeric(table[column], errors="coerce").dropna().to_numpy(dtype=float)
    n = values.size
    return BiomarkerSummary(
        column=column,
        n=n,
        missing=len(table) - n,
        mean=float(values.mean()) if n else math.nan,
        sd=float(values.std(ddof=1)) if n > 1 else math.nan,
        min=float(values.min()) if n else math.nan,
        median=float(np.median(values)) if n else math.nan,
        max=float(values.max()) if n else math.nan,
    )
