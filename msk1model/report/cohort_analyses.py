"""What a reviewer checks before the results: who the patients are, how they were split, what the
data can support (events per candidate parameter) and how the models calibrate.

Each function returns data; :mod:`msk1model.report.sections` lays it out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from msk1model.data.cohort import Cohort
from msk1model.data.describe import reverse_km_median_follow_up
from msk1model.evaluation.biomarker import node_groups
from msk1model.evaluation.groups import characteristics_by_group
from msk1model.models import Design, DesignSpec
from msk1model.results import ModelOutcome
from msk1model.splitting import Split

__all__ = [
    "EPV_FLEXIBLE",
    "EPV_MINIMUM",
    "EventsPerParameter",
    "calibration_summary",
    "events_per_parameter",
    "part_counts",
    "table_one",
]

#: Events per candidate predictor parameter below which a Cox model is likely overfitted
#: (Peduzzi et al. 1995), and below which flexible or penalised models are (Ogundimu et al. 2016
#: found 20 or more needed for stable calibration).
EPV_MINIMUM = 10
EPV_FLEXIBLE = 20
#: A numeric covariate with at most this many distinct values is described by level in Table 1.
_MAX_LEVELS = 5
_CALIBRATION = {
    "calibration_oe": "oe",
    "calibration_slope": "slope",
    "ici": "ici",
    "e50": "e50",
    "e90": "e90",
}


@dataclass(frozen=True)
class EventsPerParameter:
    """Training events per candidate predictor parameter of the largest model considered."""

    events: int
    parameters: int
    columns: tuple[str, ...]
    """The design columns counted (a category's indicators and a spline's terms each count)."""

    @property
    def value(self) -> float:
        return self.events / self.parameters if self.parameters else float("inf")


def part_counts(cohort: Cohort, split: Split) -> pd.DataFrame:
    """Patients, events, censored patients and reverse-KM median follow-up of each part."""
    y = cohort.y
    rows = []
    for part, positions in (("training", split.train), ("test", split.test), ("all", None)):
        yy = y if positions is None else y[positions]
        events = int(yy["event"].sum())
        rows.append(
            {
                "part": part,
                "patients": len(yy),
                "events": events,
                "censored": len(yy) - events,
                "median_follow_up_years": reverse_km_median_follow_up(yy),
            }
        )
    return pd.DataFrame(rows)


def events_per_parameter(cohort: Cohort, design: DesignSpec, split: Split) -> EventsPerParameter:
    """Training events over the design columns of the clinical covariates and the biomarker."""
    fitted = Design([*cohort.covariates, cohort.biomarker], design).fit(
        cohort.table.iloc[split.train]
    )
    events = int(cohort.event[split.train].sum())
    return EventsPerParameter(events, len(fitted.columns_), tuple(fitted.columns_))


def table_one(cohort: Cohort, groups: np.ndarray) -> pd.DataFrame:
    """Characteristics of the analysed patients by biomarker group (see
    :func:`~msk1model.evaluation.groups.characteristics_by_group`).

    Covariates that are text, or numeric with at most 5 distinct values, are described by level;
    ``nodes`` as the groups 0, 1-3 and >=4; the others, and the biomarker, by median and IQR.
    The endpoint's event (1) or censoring (0) is the last variable. Groups named ``low``,
    ``mid`` and ``high`` are listed in that order.
    """
    table = cohort.table
    frame = pd.DataFrame(index=table.index)
    categorical = []
    for name in [*cohort.covariates, cohort.biomarker]:
        column = table[name]
        if name == "nodes" and pd.api.types.is_numeric_dtype(column):
            frame[name] = node_groups(column)
            categorical.append(name)
            continue
        frame[name] = column
        numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
        if name != cohort.biomarker and (not numeric or column.nunique() <= _MAX_LEVELS):
            categorical.append(name)
    frame["event"] = table["event"].astype(int)
    order = [g for g in ("low", "mid", "high") if g in set(groups)]
    labels = pd.Categorical(groups, categories=order) if len(order) == len(set(groups)) else groups
    return characteristics_by_group(
        frame, labels, [*frame.columns], categorical=[*categorical, "event"]
    )


def calibration_summary(outcomes: tuple[ModelOutcome, ...], horizons: list[float]) -> pd.DataFrame:
    """Each model's test-set calibration at each horizon: O/E, slope, ICI, E50, E90."""
    rows = []
    for o in outcomes:
        for h in horizons:
            row: dict[str, object] = {"model": o.model_name, "features": o.feature_set}
            row["horizon"] = float(h)
            for metric, column in _CALIBRATION.items():
                try:
                    row[column] = o.score("test", metric, horizon=h)
                except KeyError:
                    row[column] = np.nan
            rows.append(row)
    return pd.DataFrame(rows)
