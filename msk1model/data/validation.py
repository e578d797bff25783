"""Checks run on a cohort table before any fit.

Each check raises :class:`~msk1model.errors.DataError` naming the column, the rule, how many rows
break it and a few of their patient ids (never whole patient rows), or warns with
:class:`DataWarning` where the data are usable but weak.
"""

from __future__ import annotations

import difflib
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from statistics import NormalDist

import numpy as np
import pandas as pd

from msk1model.config import CompetingEndpoint
from msk1model.errors import DataError, DataWarning

__all__ = [
    "EXTREME_ROBUST_Z",
    "HEAVY_CENSORING_EVENTS",
    "HEAVY_CENSORING_SHARE",
    "DataWarning",
    "check_biomarker",
    "check_biomarker_extremes",
    "check_censoring",
    "check_columns",
    "check_events",
    "check_events_for_cv",
    "check_numeric",
    "check_times",
    "check_unique_ids",
    "extreme_z_limit",
    "minimum_events",
]

_SHOWN_IDS = 5

#: Censoring is heavy when more than this share of patients is censored ...
HEAVY_CENSORING_SHARE = 0.80
#: ... and fewer events than this remain: the usual minimum for validating a prognostic model
#: (Vergouwe et al. 2005; Collins et al. 2016). With more events a high censored share is harmless.
HEAVY_CENSORING_EVENTS = 100
#: Robust z (distance from the median in MAD-based SDs) beyond which a biomarker value is extreme;
#: raised in large cohorts (see :func:`extreme_z_limit`).
EXTREME_ROBUST_Z = 5.0
#: MAD (and mean absolute deviation) to SD for normal data.
_MAD_TO_SD = 1.4826
_MEAN_AD_TO_SD = 1.2533


def check_columns(table: pd.DataFrame, required: Iterable[str], source: str) -> None:
    """Every required column is present; suggest close names for missing ones."""
    present = [str(c) for c in table.columns]
    missing = [c for c in dict.fromkeys(required) if c not in present]
    if not missing:
        return
    hints = []
    for name in missing:
        close = difflib.get_close_matches(name, present, n=2, cutoff=0.6)
        hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
        hints.append(f"{name!r}{hint}")
    raise DataError(
        f"{source} lacks required column(s) {', '.join(hints)}; it has {present[:30]}. "
        "Fix: rename the column(s) or map them under data.columns / data.covariates"
    )


def check_unique_ids(table: pd.DataFrame, id_column: str) -> None:
    """Patient ids are present and unique."""
    ids = table[id_column]
    if ids.isna().any():
        raise DataError(
            f"column {id_column!r} (patient id) has {int(ids.isna().sum())} missing value(s); "
            "every patient needs an id"
        )
    duplicated = ids[ids.duplicated(keep=False)]
    if len(duplicated):
        raise DataError(
            f"column {id_column!r} (patient id) must be unique, but {duplicated.nunique()} id(s) "
            f"appear more than once, e.g. {_few(duplicated.unique())}. Fix: remove the duplicates"
        )


def check_numeric(table: pd.DataFrame, columns: Sequence[str], id_column: str) -> None:
    """Columns are numeric; text values are named with the rows that hold them."""
    for column in columns:
        values = table[column]
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            continue
        coerced = pd.to_numeric(values, errors="coerce")
        bad = values.notna() & coerced.isna()
        examples = sorted({str(v) for v in values[bad]})[:3]
        raise DataError(
            f"column {column!r} must be numeric, but {int(bad.sum())} row(s) hold text such as "
            f"{examples} (patients {_few(table.loc[bad, id_column])}). Fix: recode the column as "
            "numbers (e.g. grade 1/2/3, ER 0/1) or leave the cells empty for missing values"
        )


def check_times(table: pd.DataFrame, time_column: str, id_column: str) -> None:
    """Follow-up times are finite and strictly positive."""
    times = pd.to_numeric(table[time_column], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(times) | (times <= 0)
    if bad.any():
        raise DataError(
            f"column {time_column!r} (follow-up time) must be finite and > 0, but {int(bad.sum())} "
            f"row(s) are missing, infinite, zero or negative (patients "
            f"{_few(table.loc[bad, id_column])}). Fix: correct or exclude those patients"
        )


def check_events(table: pd.DataFrame, event_column: str, id_column: str) -> None:
    """Event indicators are exactly 0 or 1 (booleans accepted); 2 is never read as True."""
    values = table[event_column]
    if pd.api.types.is_bool_dtype(values):
        return
    numeric = pd.to_numeric(values, errors="coerce")
    bad = ~numeric.isin([0, 1])
    if bad.any():
        found = sorted({str(v) for v in values[bad]})[:5]
        raise DataError(
            f"column {event_column!r} (event) must hold only 0 (censored) or 1 (event), but "
            f"{int(bad.sum())} row(s) hold {found} (patients {_few(table.loc[bad, id_column])}). "
            "Fix: recode it; for competing or multi-state outcomes, pick one event type as 1"
        )


def check_event_codes(table: pd.DataFrame, endpoint: CompetingEndpoint, id_column: str) -> None:
    """Competing events: the codes are 0 or positive integers, the cause and every listed
    competing code occur, and no code is left unassigned."""
    column = endpoint.event_column
    values = pd.to_numeric(table[column], errors="coerce")
    bad = values.isna() | (values < 0) | (values != values.round())
    if bad.any():
        found = sorted({str(v) for v in table.loc[bad, column]})[:5]
        raise DataError(
            f"column {column!r} (event codes) must hold 0 (censored) or a positive integer cause "
            f"code, but {int(bad.sum())} row(s) hold {found} (patients "
            f"{_few(table.loc[bad, id_column])}). Fix: recode it"
        )
    codes = sorted(int(c) for c in values.unique())
    if endpoint.cause not in codes:
        raise DataError(
            f"column {column!r} holds no event of cause {endpoint.cause} (data.endpoint.cause); "
            f"its codes are {codes}. Fix: set data.endpoint.cause to one of "
            f"{[c for c in codes if c > 0]}"
        )
    if isinstance(endpoint.competing, str):
        return
    absent = [c for c in endpoint.competing if c not in codes]
    if absent:
        raise DataError(
            f"data.endpoint.competing lists {absent}, which column {column!r} does not hold (its "
            f"codes are {codes}). Fix: list only codes that occur"
        )
    unassigned = [c for c in codes if c not in (0, endpoint.cause, *endpoint.competing)]
    if unassigned:
        raise DataError(
            f"column {column!r} holds code(s) {unassigned} that are neither censored (0), the "
            f"cause ({endpoint.cause}) nor competing {endpoint.competing}. Fix: add them to "
            "data.endpoint.competing, or write competing: all other"
        )


def check_biomarker(table: pd.DataFrame, column: str) -> None:
    """The biomarker varies and is not all missing."""
    values = pd.to_numeric(table[column], errors="coerce")
    if values.notna().sum() == 0:
        raise DataError(f"biomarker column {column!r} is entirely missing; nothing to model")
    if values.nunique(dropna=True) < 2:
        raise DataError(
            f"biomarker column {column!r} is constant ({values.dropna().iloc[0]!r} in every row); "
            "it cannot carry prognostic information. Fix: check the column mapping"
        )


def check_covariates_present(table: pd.DataFrame, covariates: Sequence[str], missing: str) -> None:
    """No covariate is missing in every patient (after the subgroup): with ``missing: drop`` it
    would drop them all, with ``impute`` it has no training median to impute."""
    for column in covariates:
        if len(table) and table[column].isna().all():
            consequence = (
                "data.missing: drop would drop every patient"
                if missing == "drop"
                else "data.missing: impute has no training median to fill it with"
            )
            raise DataError(
                f"covariate column {column!r} is entirely missing (all {len(table)} patients "
                f"after the subgroup); {consequence}. Fix: remove {column!r} from "
                "data.covariates, or check the column mapping and the source"
            )


#: Fewest events before Uno's truncation time a validation fold or test part must hold: with
#: fewer, Harrell's and Uno's C and the AUC are undefined or rest on one patient.
MIN_EVENTS_PER_PART = 2


def check_events_per_part(
    y: np.ndarray, parts: Mapping[str, np.ndarray], *, tau: float, fix: str
) -> None:
    """Every named part (row positions: a CV validation fold, the test part, an outer fold)
    holds at least :data:`MIN_EVENTS_PER_PART` events at or before ``tau`` years."""
    event, time = np.asarray(y["event"], dtype=bool), np.asarray(y["time"], dtype=float)
    for name, rows in parts.items():
        found = int(np.sum(event[rows] & (time[rows] <= tau)))
        if found < MIN_EVENTS_PER_PART:
            raise DataError(
                f"{name} holds {found} event(s) up to {tau:g} years (Uno's C truncation, "
                f"evaluation.uno_tau), but every metric needs at least {MIN_EVENTS_PER_PART} "
                f"in each validation fold and test part. Fix: {fix}"
            )


def minimum_events(cv_folds: int, test_size: float) -> int:
    """Fewest events a run needs: two per CV fold in the training part, and at least 10."""
    return max(10, math.ceil(2 * cv_folds / (1.0 - test_size)))


def check_events_for_cv(
    n_events: int, n_variables: int, cv_folds: int, test_size: float, event_column: str
) -> None:
    """Enough events for the split and CV; warn on fewer than 10 events per variable."""
    needed = minimum_events(cv_folds, test_size)
    if n_events < needed:
        raise DataError(
            f"column {event_column!r} has {n_events} event(s) after filtering, but a "
            f"{cv_folds}-fold CV with test_size={test_size} needs at least {needed}. Fix: use "
            "fewer folds (split.cv_folds), a smaller test_size or a larger cohort"
        )
    if n_events < 10 * n_variables:
        warnings.warn(
            f"only {n_events / n_variables:.1f} events per variable ({n_events} events, "
            f"{n_variables} variables); fewer than 10 risks overfitting",
            DataWarning,
            stacklevel=2,
        )


def check_censoring(event: np.ndarray, event_column: str) -> None:
    """Warn when most patients are censored and few events remain.

    Censoring that does not depend on risk does not bias a Cox fit, whose information lies in the
    events, so a high censored share alone is no problem (a cause-specific endpoint such as bone
    relapse censors every other event). The warning fires when more than
    :data:`HEAVY_CENSORING_SHARE` of the patients are censored *and* fewer than
    :data:`HEAVY_CENSORING_EVENTS` events remain: then test metrics rest on a few dozen events and
    Harrell's C depends on the follow-up pattern (Uno et al. 2011).
    """
    n, n_events = len(event), int(np.sum(event))
    censored = n - n_events
    if n == 0 or censored / n <= HEAVY_CENSORING_SHARE or n_events >= HEAVY_CENSORING_EVENTS:
        return
    warnings.warn(
        f"heavy censoring: {censored / n:.0%} of patients are censored ({censored} of {n}) and "
        f"only {n_events} have an event in column {event_column!r} (more than "
        f"{HEAVY_CENSORING_SHARE:.0%} censored with fewer than {HEAVY_CENSORING_EVENTS} events). "
        "Try 1) checking that 1 means event in that column (some sources code 1 = censored); "
        "2) tuning on Uno's C (tuning.metric: uno_c, export.champion_metric: test/uno_c); "
        "3) horizons well inside the follow-up; 4) a larger or longer-followed cohort",
        DataWarning,
        stacklevel=2,
    )


def extreme_z_limit(n: int) -> float:
    """The |robust z| beyond which one of ``n`` biomarker values counts as extreme.

    :data:`EXTREME_ROBUST_Z`, or where larger (from about 17,000 values) the |z| that some value of
    a normal sample of ``n`` exceeds with probability about 1%: 5.73 for 1,000,000 values.
    """
    tail = 0.01 / (2 * max(n, 1))
    return max(EXTREME_ROBUST_Z, NormalDist().inv_cdf(1.0 - tail))


def check_biomarker_extremes(
    table: pd.DataFrame, column: str, id_column: str, log2_offset: float | None = None
) -> None:
    """Warn about biomarker values far from the rest, in robust z = (x - median) / (1.4826 MAD).

    Unlogged expression (intensities, counts, fmol) is skewed enough to give such values; on the
    log2 scale a normal-looking biomarker almost never does (:func:`extreme_z_limit`). Where more
    than half the values are equal (MAD 0), 1.2533 times the mean absolute deviation is the SD.
    With ``log2_offset`` (the run's ``biomarker.transform: log2``) the values are checked as the
    models see them, ``log2(x + offset)``; values that cannot be logged are left to the model.
    """
    values = pd.to_numeric(table[column], errors="coerce")
    if log2_offset is not None:
        shifted = values + log2_offset
        values = np.log2(shifted.where(shifted > 0))
    measured = values.dropna().to_numpy(dtype=float)
    median = float(np.median(measured))
    deviation = np.abs(measured - median)
    spread = _MAD_TO_SD * float(np.median(deviation))
    if spread == 0:
        spread = _MEAN_AD_TO_SD * float(deviation.mean())
    if spread == 0:  # constant: check_biomarker rejects it
        return
    limit = extreme_z_limit(len(measured))
    extreme = ((values - median).abs() / spread > limit).to_numpy()
    if not extreme.any():
        return
    warnings.warn(
        f"biomarker column {column!r} has {int(extreme.sum())} extreme value(s), more than "
        f"{limit:.3g} robust SDs from the median ({median:.4g}, robust SD {spread:.4g}; patients "
        f"{_few(table.loc[extreme, id_column])}). Such values dominate a linear model. Try 1) a "
        "log2 transform (log2(1 + x) with zeros) if the column holds raw intensities, counts or "
        "concentrations; 2) checking the units and the values of those patients",
        DataWarning,
        stacklevel=2,
    )


def _few(ids: Iterable[object]) -> str:
    listed = [str(i) for i in ids]
    return ", ".join(listed[:_SHOWN_IDS]) + (", ..." if len(listed) > _SHOWN_IDS else "")
