"""How a model's raw feature columns become its design matrix, learned on training rows only.

In order:

* a **categorical** covariate becomes one 0/1 indicator per level except the reference (the
  first level in sorted order, e.g. grade 1), named ``grade=2``, ``grade=3``;
* a numeric covariate with a :class:`CovariateSpec` is **capped** (winsorised at quantiles of
  its training values, e.g. nodes at the training 99th percentile) and then optionally enters
  as a **restricted cubic spline** (knots at training quantiles of the capped values, or given
  values), columns ``age``, ``age'``, ``age''``, ...;
* the **biomarker** is transformed: ``none``, ``log2`` (``log2(x + offset)``) or ``zscore``
  (centred and scaled by the training mean and SD, so that a Cox coefficient is per SD);
  optionally it then enters as a **restricted cubic spline** (Harrell's basis, knots at training
  quantiles of the transformed value), columns ``msk1``, ``msk1'``, ``msk1''``, ...;
* an optional **interaction**: every biomarker column times another feature (e.g. ER status),
  named ``msk1:er`` (a capped covariate takes part capped; a spline one by its linear column);
  the main effects stay in the model.

Every other feature passes through unchanged. Missing values stay NaN (the model's preprocessor
imputes them). The fitted state is plain data (levels, centre, scale, knots, cap values) in the
model's state.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Self

import numpy as np
import pandas as pd

from msk1model.errors import DesignWarning, ModelError
from msk1model.models._covariates import Cap, CovariateSpec, cap_values, capped, observed_values
from msk1model.splines import KNOT_QUANTILES, rcs_basis, rcs_knots

__all__ = ["CovariateSpec", "Design", "DesignSpec", "DesignWarning", "Transform", "category_level"]

Transform = Literal["none", "log2", "zscore"]


@dataclass(frozen=True)
class DesignSpec:
    """How the features enter a model; the default passes every feature through unchanged.

    ``biomarker`` names the biomarker column (None: no biomarker among the features, so the
    transform, spline and interaction do not apply); ``covariate_transforms`` caps and splines
    numeric covariates (one :class:`CovariateSpec` per column).
    """

    biomarker: str | None = None
    transform: Transform = "none"
    offset: float = 0.0
    spline_knots: int | None = None
    interaction: str | None = None
    categorical: tuple[str, ...] = field(default_factory=tuple)
    covariate_transforms: tuple[CovariateSpec, ...] = field(default_factory=tuple)

    def to_state(self) -> dict[str, Any]:
        """The spec as JSON-compatible data; ``covariate_transforms`` (column -> cap and knots)
        only when there are some, so that a spec without them has its earlier state (tuning
        studies compare it, older versions load it)."""
        state = {**asdict(self), "categorical": list(self.categorical)}
        del state["covariate_transforms"]
        if self.covariate_transforms:
            state["covariate_transforms"] = {
                form.column: form.to_state() for form in self.covariate_transforms
            }
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> DesignSpec:
        """The spec :meth:`to_state` described (a state without covariate transforms has none)."""
        forms = state.get("covariate_transforms") or {}
        return cls(
            **{
                **state,
                "categorical": tuple(state["categorical"]),
                "covariate_transforms": tuple(
                    CovariateSpec.from_state(column, form) for column, form in forms.items()
                ),
            }
        )


class Design:
    """The fitted encoding of ``features`` under a :class:`DesignSpec`.

    State after :meth:`fit`: ``levels_`` (categorical levels, reference first), ``center_`` and
    ``scale_`` (z-score), ``knots_`` (biomarker spline), ``caps_`` (covariate -> the (low, high)
    values it is capped at, None for an open end), ``covariate_knots_`` (covariate -> its spline
    knots), ``columns_`` (design column names) and ``sources_`` (the raw feature each design
    column comes from, e.g. ``age`` for ``age''``).
    """

    def __init__(self, features: list[str], spec: DesignSpec | None = None) -> None:
        self.features = list(features)
        spec = spec or DesignSpec()
        has_biomarker = spec.biomarker in self.features
        self.spec = DesignSpec(
            biomarker=spec.biomarker if has_biomarker else None,
            transform=spec.transform,
            offset=spec.offset,
            spline_knots=spec.spline_knots,
            interaction=spec.interaction
            if has_biomarker and spec.interaction in self.features
            else None,
            categorical=tuple(c for c in spec.categorical if c in self.features),
            covariate_transforms=_numeric_forms(spec, self.features),
        )

    def fit(self, X: pd.DataFrame) -> Self:
        """Learn levels, caps, centre/scale and knots from the training rows ``X``."""
        _require_columns(X, self.features)
        self.levels_ = {c: _levels(X[c]) for c in self.spec.categorical}
        self.caps_, self.covariate_knots_ = {}, {}
        for form in self.spec.covariate_transforms:
            x = _numeric(X[form.column], form.column)
            if form.cap is not None:
                self.caps_[form.column] = cap_values(x, form.cap, form.column)
                x = capped(x, self.caps_[form.column])
            if form.spline_knots is not None:
                self.covariate_knots_[form.column] = _covariate_knots(x, form)
        self.center_, self.scale_, self.knots_ = 0.0, 1.0, None
        marker = self.spec.biomarker
        if marker is not None:
            value = self._transformed(X[marker], marker)
            if self.spec.transform == "zscore":
                self.center_, self.scale_ = _center_scale(value, marker)
                value = (value - self.center_) / self.scale_
            if self.spec.spline_knots is not None:
                self.knots_ = _knots(value, self.spec.spline_knots, marker)
        self.columns_, self.sources_ = self._names()
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """The design matrix (n, len(columns_)), float, NaN where an input was missing."""
        _require_columns(X, self.features)
        parts: dict[str, np.ndarray] = {}
        for feature in self.features:
            if feature in self.levels_:
                parts.update(self._indicators(X[feature], feature))
            elif feature == self.spec.biomarker:
                parts.update(self._biomarker(X[feature], feature))
            else:
                parts.update(self._covariate(X[feature], feature))
        if self.spec.interaction is not None:
            other = parts[self.spec.interaction]
            for name in self._biomarker_columns():
                parts[f"{name}:{self.spec.interaction}"] = parts[name] * other
        return pd.DataFrame(parts, index=X.index)[self.columns_]

    def to_state(self) -> dict[str, Any]:
        """The fitted encoding (levels, centre, scale, knots, caps) as JSON-compatible data;
        ``covariates`` (column -> cap values and knots) only when the spec transforms some."""
        state = {
            "features": self.features,
            "spec": self.spec.to_state(),
            "levels": self.levels_,
            "center": self.center_,
            "scale": self.scale_,
            "knots": None if self.knots_ is None else self.knots_.tolist(),
        }
        if self.spec.covariate_transforms:
            state["covariates"] = {
                form.column: {
                    "cap": _listed(self.caps_.get(form.column)),
                    "knots": _listed(self.covariate_knots_.get(form.column)),
                }
                for form in self.spec.covariate_transforms
            }
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Design:
        """The fitted design :meth:`to_state` described."""
        design = cls(state["features"], DesignSpec.from_state(state["spec"]))
        design.levels_ = {k: list(v) for k, v in state["levels"].items()}
        design.center_, design.scale_ = float(state["center"]), float(state["scale"])
        knots = state["knots"]
        design.knots_ = None if knots is None else np.asarray(knots, dtype=float)
        fitted = state.get("covariates") or {}  # absent from states without covariate transforms
        design.caps_ = {c: _cap_state(f["cap"]) for c, f in fitted.items() if f["cap"] is not None}
        design.covariate_knots_ = {
            c: np.asarray(f["knots"], dtype=float)
            for c, f in fitted.items()
            if f["knots"] is not None
        }
        design.columns_, design.sources_ = design._names()
        return design

    # -- parts ------------------------------------------------------------------------------

    def _names(self) -> tuple[list[str], list[str]]:
        columns: list[str] = []
        sources: list[str] = []
        for feature in self.features:
            if feature in self.levels_:
                names = [f"{feature}={level}" for level in self.levels_[feature][1:]]
            elif feature == self.spec.biomarker:
                names = self._biomarker_columns()
            elif feature in self.covariate_knots_:
                names = _spline_names(feature, len(self.covariate_knots_[feature]) - 1)
            else:
                names = [feature]
            columns += names
            sources += [feature] * len(names)
        if self.spec.interaction is not None:
            products = [f"{name}:{self.spec.interaction}" for name in self._biomarker_columns()]
            columns += products
            sources += [self.spec.biomarker or ""] * len(products)
        return columns, sources

    def _biomarker_columns(self) -> list[str]:
        marker = str(self.spec.biomarker)
        base = {
            "none": marker,
            "log2": f"log2({marker})"
            if self.spec.offset == 0
            else f"log2({marker}+{self.spec.offset:g})",
            "zscore": f"z({marker})",
        }[self.spec.transform]
        n_terms = 1 if self.spec.spline_knots is None else self.spec.spline_knots - 1
        return _spline_names(base, n_terms)

    def _transformed(self, values: pd.Series, column: str) -> np.ndarray:
        x = _numeric(values, column)
        if self.spec.transform != "log2":
            return x
        shifted = x + self.spec.offset
        bad = shifted <= 0
        if bad.any():
            raise ModelError(
                f"biomarker transform log2 needs {column} + offset > 0, but {int(bad.sum())} "
                f"value(s) give {float(np.nanmin(shifted)):g} (offset {self.spec.offset:g}). Fix: "
                "set biomarker.offset so that every value + offset > 0, or use transform none"
            )
        return np.log2(shifted)

    def _biomarker(self, values: pd.Series, column: str) -> dict[str, np.ndarray]:
        x = (self._transformed(values, column) - self.center_) / self.scale_
        names = self._biomarker_columns()
        if self.knots_ is None:
            return {names[0]: x}
        basis = rcs_basis(x, self.knots_)
        return {name: basis[:, j] for j, name in enumerate(names)}

    def _covariate(self, values: pd.Series, column: str) -> dict[str, np.ndarray]:
        """A numeric covariate: as it is, capped, and/or as its spline columns (NaN stays NaN)."""
        x = _numeric(values, column)
        if column in self.caps_:
            x = capped(x, self.caps_[column])
        knots = self.covariate_knots_.get(column)
        if knots is None:
            return {column: x}
        basis = rcs_basis(x, knots)
        return {name: basis[:, j] for j, name in enumerate(_spline_names(column, basis.shape[1]))}

    def _indicators(self, values: pd.Series, column: str) -> dict[str, np.ndarray]:
        levels = self.levels_[column]
        found = values.map(category_level)
        unseen = found.notna() & ~found.isin(levels)
        if unseen.any():
            warnings.warn(
                f"categorical column {column!r} holds level(s) {sorted(set(found[unseen]))[:5]} "
                f"not seen in the training data (levels {levels}); those rows are treated as "
                "missing and imputed. Fix: recode them to a known level",
                DesignWarning,
                stacklevel=3,
            )
        missing = found.isna() | unseen
        return {
            f"{column}={level}": np.where(missing, np.nan, (found == level).astype(float))
            for level in levels[1:]
        }


def _require_columns(X: pd.DataFrame, columns: list[str]) -> None:
    missing = [c for c in columns if c not in X.columns]
    if missing:
        raise ModelError(f"input lacks feature column(s) {missing}; the model needs {columns}")


def _numeric(values: pd.Series, column: str) -> np.ndarray:
    """The column as float; text is an error that names the column and a value found."""
    numeric = pd.to_numeric(values, errors="coerce")
    bad = numeric.isna() & values.notna()
    if bad.any():
        raise ModelError(
            f"feature column(s) {[column]} must be numeric (NaN for missing), "
            f"but {column!r} holds {values[bad].iloc[0]!r}. Fix: declare it in "
            "data.categorical or recode it as numbers"
        )
    return numeric.to_numpy(dtype=float)


def category_level(value: Any) -> str | None:
    """A category as text: ``2``, ``2.0`` and ``"2"`` are one level; NaN is no level."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _levels(values: pd.Series) -> list[str]:
    """Observed levels, numerically sorted when they are all numbers (reference first)."""
    found = sorted({lv for lv in values.map(category_level) if lv is not None})
    try:
        return sorted(found, key=float)
    except ValueError:
        return found


def _center_scale(x: np.ndarray, column: str) -> tuple[float, float]:
    center, scale = float(np.nanmean(x)), float(np.nanstd(x))
    if not scale > 0:
        raise ModelError(
            f"biomarker transform zscore needs {column} to vary, but every training value is "
            f"{center:g}. Fix: check the biomarker column"
        )
    return center, scale


def _knots(
    x: np.ndarray,
    n_knots: int,
    column: str,
    key: str = "biomarker.spline_knots",
    fix: str = "fewer spline_knots",
) -> np.ndarray:
    if n_knots not in KNOT_QUANTILES:
        raise ModelError(f"{key} must be one of {sorted(KNOT_QUANTILES)}, but got {n_knots}")
    knots = rcs_knots(x[~np.isnan(x)], n_knots)
    if not (np.diff(knots) > 0).all():
        raise ModelError(
            f"a {n_knots}-knot spline of {column} needs distinct knots (quantiles of the "
            f"training values), but got {np.round(knots, 6).tolist()}. Fix: {fix}"
        )
    return knots


def _spline_names(base: str, n_terms: int) -> list[str]:
    """``base``, ``base'``, ``base''``, ...: the linear term, then the spline's nonlinear terms."""
    return [base + "'" * j for j in range(n_terms)]


def _numeric_forms(spec: DesignSpec, features: list[str]) -> tuple[CovariateSpec, ...]:
    """The covariate transforms of ``features``; one of a category or the biomarker is an error."""
    forms = tuple(f for f in spec.covariate_transforms if f.column in features)
    columns = [f.column for f in forms]
    wrong = [c for c in columns if c in spec.categorical or c == spec.biomarker]
    if wrong:
        raise ModelError(
            f"covariate transforms (cap, spline_knots) apply to numeric covariates, but {wrong} "
            "is categorical or the biomarker. Fix: remove it from covariate_transforms (the "
            "biomarker's form is set by the spec's transform and spline_knots)"
        )
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise ModelError(f"covariate transforms must name each column once, but got {repeated}")
    return forms


def _covariate_knots(x: np.ndarray, form: CovariateSpec) -> np.ndarray:
    """The given knots, or that many at Harrell's quantiles of the (capped) training values."""
    if not isinstance(form.spline_knots, int):
        return np.asarray(form.spline_knots, dtype=float)
    observed = observed_values(x, form.column, "spline_knots")
    key = f"covariate_transforms.{form.column}.spline_knots"
    fix = "fewer spline_knots, or list the knot values"
    return _knots(observed, form.spline_knots, form.column, key, fix)


def _cap_state(state: list[float | None]) -> Cap:
    low, high = state
    return None if low is None else float(low), None if high is None else float(high)


def _listed(value: Cap | np.ndarray | None) -> list[Any] | None:
    if value is None:
        return None
    return value.tolist() if isinstance(value, np.ndarray) else list(value)
