"""The exported predictor's input contract: what it accepts, checked before anything is scored.

For each feature of the model the contract records whether it is numeric or categorical, its
possible range and whole-number rule (:mod:`msk1model.data.rules`), the levels seen in training
(categorical), the training range (numeric) and whether a missing value may be imputed (only
covariates of a model trained with ``data.missing: impute``; never the biomarker). The contract
is stored with the model, so it holds no single patient's value: the training range is widened
by ``margin`` (a share of it at each end) and rounded outward to two significant figures, and
the example rows are interpolated quartiles.

:meth:`InputContract.check` looks at every row before the model does and refuses the input with
an :class:`~msk1model.errors.InputError` listing every broken rule by column, rule and row
positions (0-based, in the order given). **No message ever holds a value from the input**: a
patient id, a measurement or a text cell could identify a patient, so only column names, the
contract's own rules and positions are shown. Values beyond the widened training range are
refused, or flagged per row when the contract says ``flag``. Extra columns are ignored.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from msk1model.errors import InputError
from msk1model.models.design import category_level

if TYPE_CHECKING:
    from msk1model.data.rules import ValueRules
    from msk1model.models import SurvivalModel

__all__ = ["FeatureRule", "InputContract"]

#: At most this many row positions are listed per broken rule.
MAX_POSITIONS = 10


@dataclass(frozen=True)
class FeatureRule:
    """What one feature column may hold.

    ``low``/``high``: possible range (None: open); ``integer``: whole numbers only; ``levels``:
    the categories seen in training (categorical features); ``train_low``/``train_high``: the
    training range widened by the contract's margin and rounded outward to two significant
    figures (numeric features); ``imputable``: a missing value is imputed by the model;
    ``quartiles``: the training 25th, 50th and 75th percentiles (interpolated; rounded for whole
    numbers), from which the synthetic input example is made.
    """

    column: str
    kind: Literal["numeric", "categorical"]
    low: float | None = None
    high: float | None = None
    integer: bool = False
    levels: tuple[str, ...] = ()
    train_low: float | None = None
    train_high: float | None = None
    imputable: bool = False
    quartiles: tuple[float, ...] = ()

    def to_state(self) -> dict[str, Any]:
        return {**asdict(self), "levels": list(self.levels), "quartiles": list(self.quartiles)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> FeatureRule:
        return cls(
            **{**state, "levels": tuple(state["levels"]), "quartiles": tuple(state["quartiles"])}
        )


@dataclass(frozen=True)
class InputContract:
    """The rules of every feature, the training-range margin and what lies beyond it does."""

    rules: tuple[FeatureRule, ...]
    margin: float = 0.25
    outside_training_range: Literal["refuse", "flag"] = "refuse"

    @classmethod
    def from_training(
        cls,
        model: SurvivalModel,
        X_train: pd.DataFrame,
        *,
        rules: ValueRules,
        imputable: Iterable[str] = (),
        margin: float = 0.25,
        outside_training_range: Literal["refuse", "flag"] = "refuse",
    ) -> InputContract:
        """The contract of a fitted ``model``: its features, their ``rules``, the levels its
        design learned and the ranges of ``X_train`` (the rows it was fitted on).

        ``imputable`` names the features whose missing values the model may impute.
        """
        may_impute = set(imputable)
        out = []
        for column in model.features_:
            if column in model.design_.levels_:
                out.append(
                    FeatureRule(
                        column,
                        "categorical",
                        levels=tuple(model.design_.levels_[column]),
                        imputable=column in may_impute,
                    )
                )
                continue
            x = X_train[column].to_numpy(dtype=float)
            low, high = rules.ranges.get(column, (None, None))
            integer = column in rules.integer
            pad = margin * float(np.nanmax(x) - np.nanmin(x))
            quartiles = np.nanquantile(x, [0.25, 0.5, 0.75])
            out.append(
                FeatureRule(
                    column,
                    "numeric",
                    low=low,
                    high=high,
                    integer=integer,
                    train_low=_round_out(float(np.nanmin(x)) - pad, down=True),
                    train_high=_round_out(float(np.nanmax(x)) + pad, down=False),
                    imputable=column in may_impute,
                    quartiles=tuple(
                        float(q) for q in (np.round(quartiles) if integer else quartiles)
                    ),
                )
            )
        return cls(tuple(out), margin=margin, outside_training_range=outside_training_range)

    def example(self) -> pd.DataFrame:
        """Three synthetic rows that keep the contract: no patient's data.

        Row ``i`` holds the ``i``-th training quartile of every numeric feature (each an observed
        value of that column alone) and the ``i``-th training level (cycling) of every
        categorical one; the combination is not a patient's.
        """
        return pd.DataFrame(
            {
                r.column: list(r.quartiles)
                if r.kind == "numeric"
                else [r.levels[i % len(r.levels)] for i in range(3)]
                for r in self.rules
            }
        )

    @property
    def columns(self) -> list[str]:
        return [r.column for r in self.rules]

    def check(self, frame: pd.DataFrame) -> np.ndarray:
        """Check ``frame`` against every rule; return, per row, whether a value lies beyond the
        training range (all False unless the contract flags rather than refuses).

        Raises
        ------
        InputError
            Naming every missing column, and every broken rule with its column and the row
            positions; never a value of ``frame``.
        """
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise InputError(
                f"the input lacks feature column(s) {missing}; the model needs {self.columns} "
                "(other columns are ignored). Fix: add them, named exactly so"
            )
        problems: list[str] = []
        outside = np.zeros(len(frame), dtype=bool)
        for rule in self.rules:
            values = frame[rule.column]
            found = _categorical(rule, values) if rule.kind == "categorical" else []
            if rule.kind == "numeric":
                found, beyond = _numeric(rule, values)
                if self.outside_training_range == "flag":
                    outside |= beyond
                elif beyond.any():
                    found.append((self._training_rule(rule), beyond))
            problems += [f"column {rule.column!r} {text} {_rows(bad)}" for text, bad in found]
        if problems:
            raise InputError(
                f"the input breaks the model's input contract in {len(problems)} way(s): "
                + "; ".join(problems)
                + ". Fix: correct or leave out those rows (positions count from 0)"
            )
        return outside

    def _training_rule(self, rule: FeatureRule) -> str:
        return (
            f"must lie within the range the model was trained on, widened by {self.margin:g} of "
            f"it at each end [{_end(rule.train_low)}, {_end(rule.train_high)}]"
        )

    def to_state(self) -> dict[str, Any]:
        return {
            "rules": [r.to_state() for r in self.rules],
            "margin": self.margin,
            "outside_training_range": self.outside_training_range,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> InputContract:
        return cls(
            rules=tuple(FeatureRule.from_state(r) for r in state["rules"]),
            margin=float(state["margin"]),
            outside_training_range=state["outside_training_range"],
        )


def _numeric(
    rule: FeatureRule, values: pd.Series
) -> tuple[list[tuple[str, np.ndarray]], np.ndarray]:
    """Broken rules (text, rows) of a numeric column, and the rows beyond the training range."""
    numbers = pd.to_numeric(values, errors="coerce")
    text = (numbers.isna() & values.notna()).to_numpy() | _is_bool(values)
    x = numbers.to_numpy(dtype=float)
    found: list[tuple[str, np.ndarray]] = [("must be a number", text)]
    missing = np.isnan(x) & ~text
    if not rule.imputable:
        found.append(("must not be missing (this model does not impute it)", missing))
    found.append(("must be finite (not +/-inf)", np.isinf(x)))
    finite = np.isfinite(x)
    if rule.integer:
        found.append(("must be a whole number", finite & (x != np.round(x))))
    low = -math.inf if rule.low is None else rule.low
    high = math.inf if rule.high is None else rule.high
    if rule.low is not None or rule.high is not None:
        span = f"[{_end(rule.low)}, {_end(rule.high)}]"
        found.append((f"must lie in its possible range {span}", finite & ((x < low) | (x > high))))
    wide_low = -math.inf if rule.train_low is None else rule.train_low
    wide_high = math.inf if rule.train_high is None else rule.train_high
    broken = np.logical_or.reduce([bad for _, bad in found])
    beyond = finite & ~broken & ((x < wide_low) | (x > wide_high))  # one rule per value
    return [(t, bad) for t, bad in found if bad.any()], beyond


def _categorical(rule: FeatureRule, values: pd.Series) -> list[tuple[str, np.ndarray]]:
    levels = values.map(category_level)
    missing = levels.isna().to_numpy()
    unseen = (levels.notna() & ~levels.isin(rule.levels)).to_numpy()
    found = [(f"must be one of the training levels {list(rule.levels)}", unseen)]
    if not rule.imputable:
        found.append(("must not be missing (this model does not impute it)", missing))
    return [(t, bad) for t, bad in found if bad.any()]


def _round_out(value: float, *, down: bool) -> float:
    """``value`` rounded away from the data to two significant figures (floor or ceiling)."""
    if value == 0 or not math.isfinite(value):
        return value
    digits = 1 - math.floor(math.log10(abs(value)))  # decimals that keep two figures
    scaled = (math.floor if down else math.ceil)(value * 10.0**digits)
    return scaled / 10.0**digits if digits >= 0 else float(scaled * 10 ** (-digits))


def _is_bool(values: pd.Series) -> np.ndarray:
    """True/False cells: flags, not measurements (only an object column can mix them in)."""
    if pd.api.types.is_bool_dtype(values):
        return np.ones(len(values), dtype=bool)
    if values.dtype != object:
        return np.zeros(len(values), dtype=bool)
    return values.map(lambda v: isinstance(v, bool | np.bool_)).to_numpy(dtype=bool)


def _rows(bad: np.ndarray) -> str:
    positions = np.flatnonzero(bad).tolist()
    shown = ", ".join(map(str, positions[:MAX_POSITIONS]))
    more = f" and {len(positions) - MAX_POSITIONS} more" if len(positions) > MAX_POSITIONS else ""
    return f"(row {shown}{more})" if len(positions) == 1 else f"(rows {shown}{more})"


def _end(value: float | None) -> str:
    return "open" if value is None else f"{value:g}"
