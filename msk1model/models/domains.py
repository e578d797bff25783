"""Where each hyperparameter may lie: checked on the config, before any run starts.

A model refuses a bad value only when it is fitted, by then inside a trial of a run; the config
schema checks fixed values and search-space bounds and choices against these domains first, so
that ``l1_ratio: {low: 2, high: 5}`` is a config error naming the key, the allowed range and
the value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["DOMAINS", "Domain", "domain_of"]


@dataclass(frozen=True)
class Domain:
    """Numbers in ``low``-``high`` (each end open or closed; none when not ``numbers``), whole
    numbers when ``integer``, and the ``words`` (strings, or None as ``"null"``) a
    hyperparameter also takes."""

    numbers: bool = True
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    integer: bool = False
    words: tuple[str, ...] = ()

    def describe(self) -> str:
        """``(0, 1]``, ``whole numbers >= 1``, ``> 0 or 'path'``."""
        words = " or ".join(repr(w) for w in self.words)
        if not self.numbers:
            return "one of " + ", ".join(repr(w) for w in self.words)
        if self.low == -math.inf and self.high == math.inf:
            numbers = "any number"
        elif self.high == math.inf:
            numbers = f"{'>' if self.low_open else '>='} {self.low:g}"
        elif self.low == -math.inf:
            numbers = f"{'<' if self.high_open else '<='} {self.high:g}"
        else:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            numbers = f"{left}{self.low:g}, {self.high:g}{right}"
        if self.integer:
            numbers = f"whole numbers {numbers}"
        return f"{numbers} or {words}" if words else numbers

    def admits(self, value: object) -> bool:
        """Whether ``value`` (a number, a word, or None for ``"null"``) lies in the domain."""
        if value is None:
            return "null" in self.words
        if isinstance(value, str):
            return value in self.words
        if not self.numbers or isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.integer and not float(value).is_integer():
            return False
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return bool(above and below)


_POSITIVE = Domain(low=0.0, low_open=True)
_NON_NEGATIVE = Domain(low=0.0)
_FRACTION = Domain(low=0.0, high=1.0, low_open=True)  # (0, 1]
_ROUNDS = Domain(low=1, integer=True)
_SHARE = Domain(low=0.0, high=1.0, high_open=True)  # [0, 1)

_XGB = {
    "n_estimators": _ROUNDS,
    "learning_rate": _FRACTION,
    "max_depth": Domain(low=1, integer=True),
    "min_child_weight": _NON_NEGATIVE,
    "subsample": _FRACTION,
    "colsample_bytree": _FRACTION,
    "reg_lambda": _NON_NEGATIVE,
    "reg_alpha": _NON_NEGATIVE,
    "n_jobs": Domain(low=0, integer=True),  # 0: every thread OpenMP gives the process
    "early_stopping_rounds": Domain(low=0, integer=True),
    "validation_fraction": Domain(low=0.0, high=1.0, low_open=True, high_open=True),
}

#: Domains by model kind and hyperparameter; a hyperparameter not listed is not checked here.
DOMAINS: Mapping[str, Mapping[str, Domain]] = {
    "coxph": {"penalizer": _NON_NEGATIVE},
    "coxnet": {
        "alpha": Domain(low=0.0, low_open=True, words=("path",)),
        "l1_ratio": _FRACTION,
        "max_iter": _ROUNDS,
        "n_alphas": _ROUNDS,
        "path_folds": Domain(low=2, integer=True),
    },
    "xgb_cox": _XGB,
    "xgb_aft": {
        **_XGB,
        "distribution": Domain(numbers=False, words=("normal", "logistic", "extreme")),
        "sigma": _POSITIVE,
    },
    "gbsa": {
        "n_estimators": _ROUNDS,
        "learning_rate": _POSITIVE,
        "max_depth": Domain(low=1, integer=True),
        "min_samples_leaf": Domain(low=1, integer=True),
        "subsample": _FRACTION,
        "max_features": Domain(low=0.0, low_open=True, words=("sqrt", "log2", "null")),
        "dropout_rate": _SHARE,
    },
    "gbsa_componentwise": {
        "n_estimators": _ROUNDS,
        "learning_rate": _POSITIVE,
        "subsample": _FRACTION,
        "dropout_rate": _SHARE,
    },
    "rsf": {
        "n_estimators": _ROUNDS,
        "min_samples_leaf": _POSITIVE,
        "min_samples_split": _POSITIVE,
        "max_features": Domain(low=0.0, low_open=True, words=("sqrt", "log2", "null")),
        "max_depth": Domain(low=1, integer=True, words=("null",)),
        "n_jobs": Domain(low=1, integer=True, words=("null",)),
    },
}


def domain_of(kind: str, name: str) -> Domain | None:
    """The domain of hyperparameter ``name`` of model ``kind``, None where none is declared."""
    return DOMAINS.get(kind, {}).get(name)
