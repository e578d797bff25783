"""The contract every msk1model survival model keeps, and the parts they share.

A model is fitted on a DataFrame of features and a structured ``y`` of (event, time in years),
predicts a risk score (higher = higher risk; for Cox-type models the log relative hazard), and
gives survival curves through a Breslow baseline hazard fitted on the training data. Its whole
learned state is saved as data (JSON, plus library-native files such as XGBoost JSON), never
pickled, so that an exported predictor loads with pickle deserialisation disabled.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from msk1model.errors import ModelError
from msk1model.models._checks import warn_degenerate_columns
from msk1model.models.design import Design, DesignSpec

__all__ = ["BreslowBaseline", "Preprocessor", "SurvivalModel", "structured_y", "unpack_y"]

STATE_FILE = "model.json"


def structured_y(event: np.ndarray, time: np.ndarray) -> np.ndarray:
    """A scikit-survival style structured array with fields ``event`` (bool), ``time`` (float)."""
    y = np.empty(len(time), dtype=[("event", bool), ("time", float)])
    y["event"] = np.asarray(event, dtype=bool)
    y["time"] = np.asarray(time, dtype=float)
    return y


def unpack_y(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(event, time)`` from a structured ``y``."""
    names = y.dtype.names or ()
    if len(names) != 2:
        raise ModelError(
            f"y must be a structured array with fields (event, time), but got dtype {y.dtype}"
        )
    return y[names[0]].astype(bool), y[names[1]].astype(float)


class Preprocessor:
    """Median imputation then standardisation of the (numeric) design matrix, fitted on
    training rows only.

    State: per-column ``medians``, ``means`` and ``scales`` (a constant column keeps scale 1).
    """

    def __init__(self, columns: list[str]) -> None:
        self.columns = list(columns)

    def fit(self, X: pd.DataFrame) -> Self:
        values = self._select(X)
        self.medians_ = np.nanmedian(values, axis=0)
        filled = np.where(np.isnan(values), self.medians_, values)
        self.means_ = filled.mean(axis=0)
        scales = filled.std(axis=0)
        self.scales_ = np.where(scales > 0, scales, 1.0)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        values = self._select(X)
        filled = np.where(np.isnan(values), self.medians_, values)
        return (filled - self.means_) / self.scales_

    def to_state(self) -> dict[str, Any]:
        return {
            "columns": self.columns,
            "medians": self.medians_.tolist(),
            "means": self.means_.tolist(),
            "scales": self.scales_.tolist(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Preprocessor:
        pre = cls(state["columns"])
        pre.medians_ = np.asarray(state["medians"], dtype=float)
        pre.means_ = np.asarray(state["means"], dtype=float)
        pre.scales_ = np.asarray(state["scales"], dtype=float)
        return pre

    def _select(self, X: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.columns if c not in X.columns]
        if missing:
            raise ModelError(
                f"input lacks design column(s) {missing}; the model needs {self.columns}"
            )
        return X[self.columns].to_numpy(dtype=float)


class BreslowBaseline:
    """Breslow estimator of the cumulative baseline hazard H0(t) at the training event times."""

    def fit(self, risk: np.ndarray, event: np.ndarray, time: np.ndarray) -> Self:
        shift = float(np.max(risk))  # exp(risk - shift) cannot overflow; H0 is rescaled below
        order = np.argsort(time, kind="stable")
        sorted_time = time[order]
        at_risk = np.cumsum(np.exp(risk - shift)[order][::-1])[::-1]  # sum over time >= t
        event_times, deaths = np.unique(time[event], return_counts=True)
        risk_set = at_risk[np.searchsorted(sorted_time, event_times, side="left")]
        self.times_ = event_times
        self.cumhaz_ = np.cumsum(deaths / risk_set) * np.exp(-shift)
        return self

    def cumulative_hazard(self, risk: np.ndarray, times: np.ndarray) -> np.ndarray:
        """H(t | x) = H0(t) exp(risk), shape (n_patients, n_times)."""
        idx = np.searchsorted(self.times_, np.asarray(times, dtype=float), side="right") - 1
        h0 = np.where(idx >= 0, self.cumhaz_[np.clip(idx, 0, None)], 0.0)
        return np.exp(np.asarray(risk, dtype=float))[:, None] * h0[None, :]

    def to_state(self) -> dict[str, Any]:
        return {"times": self.times_.tolist(), "cumhaz": self.cumhaz_.tolist()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> BreslowBaseline:
        base = cls()
        base.times_ = np.asarray(state["times"], dtype=float)
        base.cumhaz_ = np.asarray(state["cumhaz"], dtype=float)
        return base


class SurvivalModel(ABC):
    """Base class: a risk model with survival curves, saved as data.

    Subclasses set :attr:`kind` and :attr:`hyperparameters` (name -> default) and implement
    :meth:`_fit_risk`, :meth:`_predict_risk`, :meth:`_save_extra` and :meth:`_load_extra`.
    Cox-type models (``breslow = True``) get their curves from a Breslow baseline hazard on the
    training data; other models set ``breslow = False`` and override :meth:`_cumulative_hazard`.
    """

    kind: ClassVar[str]
    hyperparameters: ClassVar[dict[str, Any]]
    breslow: ClassVar[bool] = True
    baseline_: BreslowBaseline | None

    def __init__(
        self,
        *,
        features: list[str],
        seed: int = 0,
        design: DesignSpec | None = None,
        **params: Any,
    ) -> None:
        unknown = sorted(set(params) - set(self.hyperparameters))
        if unknown:
            raise ModelError(
                f"unknown hyperparameter(s) {unknown} for kind {self.kind!r}; "
                f"allowed: {sorted(self.hyperparameters)}"
            )
        self.features = list(features)
        self.seed = seed
        self.design = design or DesignSpec()
        self.params = {**self.hyperparameters, **params}

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> Self:
        """Fit on features ``X`` (n, p) and structured ``y`` (event, time in years)."""
        event, time = unpack_y(y)
        if not event.any():
            raise ModelError("cannot fit a survival model on data with no events")
        self.design_ = Design(self.features, self.design).fit(X)
        D = self.design_.transform(X)
        self.preprocessor_ = Preprocessor(self.design_.columns_).fit(D)
        Z = self.preprocessor_.transform(D)
        warn_degenerate_columns(D, self.design_.columns_, self.kind)
        self._fit_risk(Z, event, time)
        risk = self._checked_risk(Z)
        self.baseline_ = BreslowBaseline().fit(risk, event, time) if self.breslow else None
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Risk score, shape (n,): the log relative hazard (higher = higher risk)."""
        return self._checked_risk(self._matrix(X))

    def predict_cumulative_hazard(self, X: pd.DataFrame, times: np.ndarray) -> np.ndarray:
        """Cumulative hazard at ``times`` (years), shape (n, len(times))."""
        return self._cumulative_hazard(self._matrix(X), np.asarray(times, dtype=float))

    def predict_survival_function(self, X: pd.DataFrame, times: np.ndarray) -> np.ndarray:
        """Survival probability at ``times`` (years), shape (n, len(times))."""
        return np.exp(-self.predict_cumulative_hazard(X, times))

    def save(self, directory: str | Path) -> Path:
        """Write the fitted state as JSON (plus library-native files) into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {
            "kind": self.kind,
            "features": self.features,
            "seed": self.seed,
            "params": self.params,
            "design": self.design_.to_state(),
            "preprocessor": self.preprocessor_.to_state(),
            "baseline": None if self.baseline_ is None else self.baseline_.to_state(),
            "extra": self._save_extra(directory),
        }
        (directory / STATE_FILE).write_text(json.dumps(state, indent=1), encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: str | Path, state: dict[str, Any]) -> Self:
        design = Design.from_state(state["design"])
        model = cls(
            features=state["features"], seed=state["seed"], design=design.spec, **state["params"]
        )
        model.design_ = design
        model.preprocessor_ = Preprocessor.from_state(state["preprocessor"])
        base = state["baseline"]
        model.baseline_ = None if base is None else BreslowBaseline.from_state(base)
        model._load_extra(Path(directory), state["extra"])
        return model

    @property
    def design_columns(self) -> list[str]:
        """Names of the fitted design columns (after encoding, transforms and interaction)."""
        return list(self.design_.columns_)

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        """Raw features -> design matrix -> imputed, standardised ``Z`` (n, n_design_columns)."""
        return self.preprocessor_.transform(self.design_.transform(X))

    def _checked_risk(self, Z: np.ndarray) -> np.ndarray:
        risk = np.asarray(self._predict_risk(Z), dtype=float)
        if not np.all(np.isfinite(risk)):
            raise ModelError(
                f"{self.kind} produced {int((~np.isfinite(risk)).sum())} non-finite risk score(s); "
                "the fit diverged. Fix: stronger regularisation or fewer features"
            )
        return risk

    def _cumulative_hazard(self, Z: np.ndarray, times: np.ndarray) -> np.ndarray:
        """H(t | x) for preprocessed ``Z``: Breslow H0(t) times the relative hazard."""
        assert self.baseline_ is not None, "a model with breslow = False overrides this"
        return self.baseline_.cumulative_hazard(self._checked_risk(Z), times)

    @abstractmethod
    def _fit_risk(self, Z: np.ndarray, event: np.ndarray, time: np.ndarray) -> None:
        """Fit on preprocessed features ``Z`` (n, p)."""

    @abstractmethod
    def _predict_risk(self, Z: np.ndarray) -> np.ndarray:
        """Log relative hazard for preprocessed features ``Z``."""

    @abstractmethod
    def _save_extra(self, directory: Path) -> dict[str, Any]:
        """Save model-specific state; return its JSON part."""

    @abstractmethod
    def _load_extra(self, directory: Path, extra: dict[str, Any]) -> None:
        """Restore model-specific state written by :meth:`_save_extra`."""
