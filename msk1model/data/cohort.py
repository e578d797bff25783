"""Load the cohort a config describes: read, validate, filter, and record the patient flow."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from msk1model.config import TIME_UNITS, CompetingEndpoint, DataConfig, SplitConfig
from msk1model.data import validation
from msk1model.data.derived import administratively_censor, derive_columns, describe_bins
from msk1model.data.files import read_table
from msk1model.data.public import load_public
from msk1model.data.rules import check_value_rules, value_rules
from msk1model.data.synthetic import make_synthetic_cohort
from msk1model.errors import ConfigError, DataError
from msk1model.outcome import make_y

__all__ = [
    "Cohort",
    "FlowStep",
    "cohort_definition",
    "load_cohort",
    "require_single_event",
    "table_fingerprint",
]

#: Endpoint of the built-in synthetic cohort (see msk1model.data.synthetic).
SYNTHETIC_ENDPOINT = "metastasis-free survival (synthetic cohort)"


@dataclass(frozen=True)
class FlowStep:
    """One step of the patient flow: how many patients and events remain after it (with
    competing events: events of the cause, and the competing events apart)."""

    step: str
    patients: int
    events: int
    competing_events: int | None = None


@dataclass(frozen=True)
class Cohort:
    """The analysed cohort: validated, filtered, times in years, events 0/1.

    ``table`` holds the id, time, event, biomarker and covariate columns under their source names.
    """

    table: pd.DataFrame
    id_column: str
    biomarker: str
    covariates: tuple[str, ...]
    source: str
    flow: tuple[FlowStep, ...]
    endpoint: str = ""
    competing: CompetingEndpoint | None = None
    """The competing-events form of the endpoint, or None for a single event. With it,
    ``table["event"]`` is the cause of interest and ``table["event_type"]`` holds 0 (censored),
    1 (the cause) and 2 (a competing event)."""

    @property
    def time(self) -> np.ndarray:
        """Follow-up time in years, shape (n,)."""
        return self.table["time"].to_numpy(dtype=float)

    @property
    def event(self) -> np.ndarray:
        """Event indicator, bool, shape (n,)."""
        return self.table["event"].to_numpy(dtype=bool)

    @property
    def event_type(self) -> np.ndarray:
        """0 censored, 1 the cause of interest, 2 a competing event, shape (n,); without
        competing events, the event indicator."""
        if self.competing is None:
            return self.table["event"].to_numpy(dtype=int)
        return self.table["event_type"].to_numpy(dtype=int)

    @property
    def y(self) -> np.ndarray:
        """The outcome as one structured array (event, time in years), shape (n,)."""
        return make_y(time=self.time, event=self.event)

    def features(self, feature_set: str) -> list[str]:
        """Column names of a feature set: ``clinical``, ``clinical+msk1`` or ``msk1``."""
        sets = {
            "clinical": list(self.covariates),
            "clinical+msk1": [*self.covariates, self.biomarker],
            "msk1": [self.biomarker],
        }
        return sets[feature_set]

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the analysed table (values, column names and order)."""
        return table_fingerprint(self.table)

    def flow_table(self) -> pd.DataFrame:
        """One row per step; the ``competing_events`` column only with competing events."""
        table = pd.DataFrame([vars(step) for step in self.flow])
        return table if self.competing is not None else table.drop(columns="competing_events")


def load_cohort(
    data: DataConfig, split: SplitConfig, seed: int, log2_offset: float | None = None
) -> Cohort:
    """Read ``data.source``, validate it and apply the subgroup and missing-value rules.

    Columns of ``data.derived`` are added to the source table before anything else; follow-up
    beyond ``data.administrative_censoring`` (years) is censored there, after the conversion to
    years. The patient flow records both.

    ``log2_offset``: the biomarker enters the models as ``log2(x + offset)``; its extreme-value
    check then looks at that scale.

    Raises
    ------
    DataError
        When the table breaks a rule in :mod:`msk1model.data.validation`.
    """
    raw, time_unit, source, endpoint = _read_source(data, seed)
    cols = data.columns
    competing = data.endpoint if isinstance(data.endpoint, CompetingEndpoint) else None
    event_column = cols.event if competing is None else competing.event_column
    raw = derive_columns(raw, data.derived, source, cols.id)
    required = [cols.id, cols.time, event_column, cols.biomarker, *data.covariates, *data.subgroup]
    validation.check_columns(raw, required, source)
    validation.check_unique_ids(raw, cols.id)
    validation.check_times(raw, cols.time, cols.id)
    if competing is None:
        validation.check_events(raw, cols.event, cols.id)
    else:
        validation.check_event_codes(raw, competing, cols.id)
    numeric = [c for c in data.covariates if c not in data.categorical]
    validation.check_numeric(raw, [cols.biomarker, *numeric], cols.id)

    table = pd.DataFrame(
        {
            cols.id: raw[cols.id].astype(str),
            "time": raw[cols.time].astype(float) * TIME_UNITS[time_unit] / TIME_UNITS["years"],
            **_outcome_columns(raw, event_column, competing),
            **{c: _covariate(raw[c], c in data.categorical) for c in data.covariates},
            cols.biomarker: raw[cols.biomarker].astype(float),
        }
    )
    flow = [_step(f"loaded from {source}", table)]
    if data.administrative_censoring is not None:
        table, step = administratively_censor(table, data.administrative_censoring)
        flow = [*flow, _step(step, table)]
    table, flow = _apply_subgroup(table, raw, data.subgroup, flow)
    validation.check_covariates_present(table, data.covariates, data.missing)
    table, flow = _drop_missing(table, [cols.biomarker], flow, "biomarker measured")
    if data.missing == "drop":
        table, flow = _drop_missing(table, data.covariates, flow, "complete cases")
    else:
        flow = _note_imputed(table, data.covariates, flow)
    check_value_rules(table, value_rules(data), cols.id)
    validation.check_biomarker(table, cols.biomarker)
    validation.check_events_for_cv(
        int(table["event"].sum()),
        len(data.covariates) + 1,
        split.cv_folds,
        split.test_size,
        event_column if competing is None else f"{event_column} (cause {competing.cause})",
    )
    if competing is None:
        validation.check_censoring(table["event"].to_numpy(), cols.event)
    validation.check_biomarker_extremes(table, cols.biomarker, cols.id, log2_offset)
    return Cohort(
        table=table.reset_index(drop=True),
        id_column=cols.id,
        biomarker=cols.biomarker,
        covariates=tuple(data.covariates),
        source=source,
        flow=tuple(flow),
        endpoint=_endpoint_text(data.endpoint, endpoint),
        competing=competing,
    )


def require_single_event(cohort: Cohort, verb: str) -> None:
    """Refuse a competing-risks cohort where only the single-event analysis exists yet.

    Raises
    ------
    ConfigError
        Naming the verb, what is missing and what to do meanwhile.
    """
    if cohort.competing is None:
        return
    raise ConfigError(
        f"data.endpoint is the competing form ({cohort.endpoint}), which `msk1model {verb}` "
        "does not analyse yet (issue 14); `msk1model train` with a held-out test part does. "
        "Fix: for the cause-specific hazard alone, set data.columns.event to a 0/1 column of "
        "the cause (the others censored)"
    )


def table_fingerprint(table: pd.DataFrame) -> str:
    """SHA-256 of a table's values, column names and row order (not its index labels)."""
    digest = hashlib.sha256(",".join(table.columns).encode())
    hashed = pd.util.hash_pandas_object(table.reset_index(drop=True), index=True)
    digest.update(hashed.to_numpy().tobytes())
    return digest.hexdigest()


def cohort_definition(data: DataConfig) -> str:
    """Who the cohort is, as a text: source, endpoint columns, subgroup and missing-value rule,
    and the derived columns and administrative censoring where set (not a synthetic seed or
    size: the definition, not the sample)."""
    cols = data.columns
    subgroup = ", ".join(f"{k}={v}" for k, v in sorted(data.subgroup.items())) or "all"
    event = (
        f"event {data.endpoint.describe()}"
        if isinstance(data.endpoint, CompetingEndpoint)
        else f"event {cols.event!r}"
    )
    text = (
        f"source {data.source}; time {cols.time!r}, {event}; subgroup {subgroup}; "
        f"missing covariates: {data.missing}"
    )
    if data.derived:
        bins = "; ".join(f"{k} = {describe_bins(v)}" for k, v in sorted(data.derived.items()))
        text += f"; derived {bins}"
    if data.administrative_censoring is not None:
        text += f"; administratively censored at {data.administrative_censoring:g} years"
    return text


def _read_source(data: DataConfig, seed: int) -> tuple[pd.DataFrame, str, str, str]:
    """Return the raw table, its time unit, a description of the source and its endpoint."""
    if data.source == "synthetic":
        n, synth_seed = data.synthetic.n_patients, data.synthetic.seed
        synth_seed = seed if synth_seed is None else synth_seed
        table = make_synthetic_cohort(n, synth_seed)
        return table, "years", f"synthetic(n_patients={n}, seed={synth_seed})", SYNTHETIC_ENDPOINT
    if data.source.startswith("public:"):
        public = load_public(data.source.removeprefix("public:"))
        if data.time_unit is not None and data.time_unit != public.time_unit:
            raise DataError(
                f"data.time_unit is {data.time_unit!r}, but {data.source} records time in "
                f"{public.time_unit!r}; remove data.time_unit for public cohorts"
            )
        return public.table, public.time_unit, data.source, public.endpoint
    if data.time_unit is None:
        raise DataError(
            f"data.time_unit is required for file sources ({data.source}); set it to one of "
            f"{sorted(TIME_UNITS)}"
        )
    endpoint = f"event column {data.columns.event!r} of {data.source}"
    return read_table(data.source), data.time_unit, data.source, endpoint


def _apply_subgroup(
    table: pd.DataFrame, raw: pd.DataFrame, subgroup: dict[str, Any], flow: list[FlowStep]
) -> tuple[pd.DataFrame, list[FlowStep]]:
    for column, wanted in subgroup.items():
        allowed = wanted if isinstance(wanted, list) else [wanted]
        keep = raw.loc[table.index, column].isin(allowed)
        table = table[keep.to_numpy()]
        flow = [*flow, _step(f"subgroup {column} in {allowed}", table)]
        if table.empty:
            found = sorted(map(str, raw[column].dropna().unique()))[:10]
            raise DataError(
                f"data.subgroup {column}={wanted!r} keeps no patient; column {column!r} holds "
                f"{found}. Fix: use one of those values"
            )
    return table, flow


def _drop_missing(
    table: pd.DataFrame, columns: list[str], flow: list[FlowStep], label: str
) -> tuple[pd.DataFrame, list[FlowStep]]:
    complete = table[columns].notna().all(axis=1)
    if complete.all():
        return table, flow
    counts = table[columns].isna().sum()
    detail = ", ".join(f"{c}: {int(n)}" for c, n in counts.items() if n)
    table = table[complete]
    return table, [*flow, _step(f"{label} (missing values dropped: {detail})", table)]


def _note_imputed(table: pd.DataFrame, columns: list[str], flow: list[FlowStep]) -> list[FlowStep]:
    """A flow step that counts the values to impute (inside each fit, from training rows)."""
    gaps = table[columns].isna()
    if not gaps.any().any():
        return flow
    detail = ", ".join(f"{c}: {int(n)}" for c, n in gaps.sum().items() if n)
    return [*flow, _step(f"kept, covariates imputed within each training fit ({detail})", table)]


def _covariate(values: pd.Series, categorical: bool) -> pd.Series:
    """Numeric covariates as float; a categorical one as numbers if it is coded so, else text."""
    if not categorical or pd.api.types.is_numeric_dtype(values):
        return values.astype(float)
    return values.astype(object).where(values.notna(), np.nan)


def _endpoint_text(configured: str | CompetingEndpoint | None, documented: str) -> str:
    """The config's endpoint as a text, else the source's documented one."""
    if isinstance(configured, CompetingEndpoint):
        return configured.describe()
    return configured or documented


def _outcome_columns(
    raw: pd.DataFrame, column: str, competing: CompetingEndpoint | None
) -> dict[str, pd.Series]:
    """``event`` (0/1), and with competing events ``event_type`` (0, 1 the cause, 2 competing)."""
    if competing is None:
        return {"event": raw[column].astype(int)}
    codes = pd.to_numeric(raw[column]).astype(int)
    is_cause = codes == competing.cause
    return {
        "event": is_cause.astype(int),
        "event_type": pd.Series(np.where(is_cause, 1, np.where(codes > 0, 2, 0)), raw.index),
    }


def _step(name: str, table: pd.DataFrame) -> FlowStep:
    competing = int((table["event_type"] == 2).sum()) if "event_type" in table else None
    return FlowStep(
        step=name,
        patients=len(table),
        events=int(table["event"].sum()),
        competing_events=competing,
    )
