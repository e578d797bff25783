"""Which values a feature can take: ranges and whole-number rules, from the config and defaults.

The rules say what is possible, not what is typical: an age of -42.5 years, a tumour of -3 mm,
-1 positive nodes or grade 7 are impossible in any cohort. They are checked twice: on the
training data when the cohort is loaded (an error there names the patients: it is the analyst's
own terminal), and on every input of the exported predictor (:mod:`msk1model.contract`, whose
errors name only columns, rules and row positions).

Built-in cohorts (``synthetic`` and ``public:NAME``) use the canonical schema of
:mod:`msk1model.data.public`, so its columns get :data:`CANONICAL_RANGES` and
:data:`CANONICAL_INTEGER` by default; ``data.ranges`` and ``data.integer`` add to or override
them, and are the only rules for a file source, whose column meanings msk1model cannot know.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from msk1model.config import DataConfig
from msk1model.data.derived import describe_bins
from msk1model.errors import DataError

__all__ = [
    "CANONICAL_INTEGER",
    "CANONICAL_RANGES",
    "CANONICAL_UNITS",
    "ValueRules",
    "check_value_rules",
    "feature_units",
    "value_rules",
]

#: Possible values of the canonical columns (years, mm, counts, grade 1-3, 0/1 receptor status).
CANONICAL_RANGES: dict[str, tuple[float | None, float | None]] = {
    "age": (0.0, 120.0),
    "size": (0.0, None),
    "nodes": (0.0, None),
    "grade": (1.0, 3.0),
    "er": (0.0, 1.0),
    "pr": (0.0, 1.0),
}
#: Canonical columns that hold whole numbers.
CANONICAL_INTEGER = ("nodes", "grade", "er", "pr")
#: What the canonical columns measure, for the model card.
CANONICAL_UNITS: dict[str, str] = {
    "age": "years at diagnosis",
    "size": "tumour size, mm",
    "nodes": "positive lymph nodes, count",
    "grade": "histological grade, 1-3",
    "er": "oestrogen receptor status, 0/1",
    "pr": "progesterone receptor status, 0/1",
    "msk1": "MSK1 (RPS6KA5) expression, as measured in the source",
}


@dataclass(frozen=True)
class ValueRules:
    """Per numeric feature: its possible range (``None`` ends are open) and whole-number rule."""

    ranges: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    integer: tuple[str, ...] = ()


def value_rules(data: DataConfig) -> ValueRules:
    """The rules of the numeric features ``data`` names: canonical defaults for a built-in
    source, the codes 1 to k + 1 of a ``data.derived`` column with k cut points, then
    ``data.ranges`` and ``data.integer``."""
    numeric = [c for c in (*data.covariates, data.columns.biomarker) if c not in data.categorical]
    built_in = data.source == "synthetic" or data.source.startswith("public:")
    ranges = {c: CANONICAL_RANGES[c] for c in numeric if built_in and c in CANONICAL_RANGES}
    derived = [c for c in numeric if c in data.derived]
    ranges.update({c: (1.0, len(data.derived[c].bins) + 1.0) for c in derived})
    ranges.update(data.ranges)
    integer = [c for c in numeric if (built_in and c in CANONICAL_INTEGER) or c in derived]
    integer += [c for c in data.integer if c not in integer]
    return ValueRules(ranges=ranges, integer=tuple(integer))


def feature_units(data: DataConfig) -> dict[str, str]:
    """What each feature measures: canonical defaults for a built-in source, the coding of a
    ``data.derived`` column, then ``data.units``; a feature without any maps to
    ``"as in the source"``."""
    built_in = data.source == "synthetic" or data.source.startswith("public:")
    features = [*data.covariates, data.columns.biomarker]
    units = {c: CANONICAL_UNITS[c] for c in features if built_in and c in CANONICAL_UNITS}
    units.update({c: f"bins of {describe_bins(v)}" for c, v in data.derived.items()})
    units.update(data.units)
    return {c: units.get(c, "as in the source") for c in features}


def check_value_rules(table: pd.DataFrame, rules: ValueRules, id_column: str) -> None:
    """Every non-missing value of the training ``table`` keeps ``rules``.

    Raises
    ------
    DataError
        Naming the column, the rule, how many patients break it and up to 5 of their ids.
    """
    problems = []
    for column, (low, high) in rules.ranges.items():
        values = table[column].to_numpy(dtype=float)
        bad = (values < (-np.inf if low is None else low)) | (
            values > (np.inf if high is None else high)
        )
        if bad.any():
            problems.append((column, f"lie in [{_end(low)}, {_end(high)}]", bad))
    for column in rules.integer:
        values = table[column].to_numpy(dtype=float)
        bad = np.isfinite(values) & (values != np.round(values))
        if bad.any():
            problems.append((column, "be a whole number", bad))
    if problems:
        lines = [
            f"column {column!r} must {rule}, but {int(bad.sum())} patient(s) do not "
            f"(ids {table.loc[bad, id_column].astype(str).tolist()[:5]})"
            for column, rule, bad in problems
        ]
        raise DataError(
            "the cohort breaks the value rules of its features: "
            + "; ".join(lines)
            + ". Fix: correct those values, or set data.ranges / data.integer if the rule is wrong "
            "for this cohort (e.g. data.ranges: {age: [0, 120]})"
        )


def _end(value: float | None) -> str:
    return "open" if value is None else f"{value:g}"
