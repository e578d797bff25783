"""The contract every msk1model survival model keeps, and the parts they share.

A model is a scikit-learn estimator: keyword-only hyperparameters stored unchanged by
``__init__``, validated in :meth:`~SurvivalModel.fit`, learned state in attributes ending in
``_``. It is fitted on features ``X`` (a DataFrame, or a 2-D array whose columns are named
``x0, x1, ...``) and a structured ``y`` of (event, time in years) (:mod:`msk1model.outcome`),
predicts a risk score (higher = higher risk; for Cox-type models the log relative hazard), and
gives survival curves through a Breslow baseline hazard fitted on the training data. Its whole
learned state is data (:meth:`~SurvivalModel.to_state`, JSON-compatible), never pickled, so
that an exported predictor loads with pickle deserialisation disabled.
"""

from __future__ import annotations

import inspect
import sys
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
import pandas as pd

try:  # scikit-learn fits and checks the models; an exported predictor scores without it
    from sklearn.base import BaseEstimator
    from sklearn.utils.validation import check_is_fitted
except ImportError:  # the predictor's lean environment (tests/test_fresh_environment.py)
    from msk1model.models._lean import (
        BaseEstimator,
        check_is_fitted,
    )

from msk1model.errors import DataError, ModelError, OutcomeError
from msk1model.models._checks import warn_degenerate_columns
from msk1model.models._parts import BreslowBaseline, Preprocessor, event_time
from msk1model.models._state import plain
from msk1model.models.design import Design, DesignSpec
from msk1model.outcome import as_y

if TYPE_CHECKING:
    from sklearn.utils import Tags

__all__ = ["COMMON_PARAMS", "STATE_FORMAT", "SurvivalModel", "check_training_size"]

#: ``__init__`` keywords every family shares; all its other keywords are hyperparameters.
COMMON_PARAMS = ("features", "design", "random_state")

#: Version of :meth:`SurvivalModel.to_state`'s layout (1 was a folder of files with ``seed``).
STATE_FORMAT = 2


class SurvivalModel(BaseEstimator, ABC):
    """Base class: a risk model with survival curves, its learned state kept as data.

    Subclasses set :attr:`kind`, declare every hyperparameter as a keyword of an ``__init__``
    that only stores its arguments (``features=None``, ``design=None`` and ``random_state=0``
    last), and implement :meth:`_fit_risk`, :meth:`_predict_risk`, :meth:`_learned_state` and
    :meth:`_restore_learned`; :meth:`_validate_hyperparameters` checks values at fit time.
    Cox-type models (``breslow = True``) get their curves from a Breslow baseline hazard on the
    training data; other models set ``breslow = False`` and override :meth:`_cumulative_hazard`.

    Common parameters
    -----------------
    features
        Raw feature columns of ``X`` the model uses, in order; None uses every column.
    design
        How the features are encoded (:class:`DesignSpec`); None passes them through.
    random_state
        Seed of every random choice of the fit (subsampling, folds, bootstrap samples).
    """

    kind: ClassVar[str]
    breslow: ClassVar[bool] = True
    #: Training patients above which the family is refused (its fit time grows as n^2), and why.
    max_train_patients: ClassVar[int | None] = None
    size_reason: ClassVar[str] = ""
    features: list[str] | None
    design: DesignSpec | None
    random_state: int
    baseline_: BreslowBaseline | None

    def fit(self, X: pd.DataFrame | npt.ArrayLike, y: npt.ArrayLike) -> Self:
        """Fit on features ``X`` (n, p) and a structured ``y`` of (event, time in years).

        Raises
        ------
        DataError
            If an array ``X`` is not a dense, real, non-empty 2-D array.
        OutcomeError
            If ``y`` is missing or not a structured (event, time) array.
        ModelError
            If a hyperparameter is invalid, ``y`` holds no event or the fit fails.
        """
        if hasattr(self, "baseline_"):
            del self.baseline_  # a refit that fails leaves the model unfitted
        frame = self._frame(X, reset=True)
        features = list(frame.columns) if self.features is None else list(self.features)
        self._validate_hyperparameters(features)
        y = _outcome(y, self.kind)
        check_training_size(type(self), len(y))
        design = Design(features, self.design).fit(frame)
        D = design.transform(frame)
        preprocessor = Preprocessor(design.columns_).fit(D)
        Z = preprocessor.transform(D)
        warn_degenerate_columns(D, design.columns_, self.kind)
        self.features_, self.design_, self.preprocessor_ = features, design, preprocessor
        self._fit_risk(Z, y)
        risk = self._checked_risk(Z)
        self.baseline_ = BreslowBaseline().fit(risk, y) if self.breslow else None
        return self

    def predict(self, X: pd.DataFrame | npt.ArrayLike) -> np.ndarray:
        """Risk score, shape (n,): the log relative hazard (higher = higher risk)."""
        return self._checked_risk(self._matrix(X))

    def predict_cumulative_hazard(
        self, X: pd.DataFrame | npt.ArrayLike, times: npt.ArrayLike
    ) -> np.ndarray:
        """Cumulative hazard at ``times`` (years), shape (n, len(times))."""
        return self._cumulative_hazard(self._matrix(X), np.asarray(times, dtype=float))

    def predict_survival_function(
        self, X: pd.DataFrame | npt.ArrayLike, times: npt.ArrayLike
    ) -> np.ndarray:
        """Survival probability at ``times`` (years), shape (n, len(times))."""
        return np.exp(-self.predict_cumulative_hazard(X, times))

    def predict_risk_and_survival(
        self, X: pd.DataFrame | npt.ArrayLike, times: npt.ArrayLike
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`predict` and :meth:`predict_survival_function` of the same patients, from one
        design matrix and, for Cox-type models, one risk prediction: shapes (n,) and
        (n, len(times)). (At 750,000 patients one XGBoost prediction takes about 0.75 s.)"""
        Z = self._matrix(X)
        risk = self._checked_risk(Z)
        t = np.asarray(times, dtype=float)
        hazard = self._breslow_hazard(risk, t) if self.breslow else self._cumulative_hazard(Z, t)
        return risk, np.exp(-hazard)

    def score(self, X: pd.DataFrame | npt.ArrayLike, y: npt.ArrayLike) -> float:
        """Harrell's concordance index of :meth:`predict` on ``X`` against ``y`` (as sksurv)."""
        from sksurv.metrics import concordance_index_censored  # keeps the exported predictor light

        event, time = event_time(as_y(y))
        return float(concordance_index_censored(event, time, self.predict(X))[0])

    @property
    def design_columns(self) -> list[str]:
        """Names of the fitted design columns (after encoding, transforms and interaction)."""
        return list(self.design_.columns_)

    # -- state as data ----------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """The parameters and whole learned state as JSON-compatible data (no pickle)."""
        check_is_fitted(self)
        params = self.get_params(deep=False)
        design = params.pop("design")
        names = getattr(self, "feature_names_in_", None)
        return {
            "format": STATE_FORMAT,
            "kind": self.kind,
            "params": {**plain(params), "design": None if design is None else design.to_state()},
            "features": list(self.features_),
            "n_features_in": int(self.n_features_in_),
            "feature_names_in": None if names is None else [str(n) for n in names],
            "design": self.design_.to_state(),
            "preprocessor": self.preprocessor_.to_state(),
            "baseline": None if self.baseline_ is None else self.baseline_.to_state(),
            "learned": self._learned_state(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> SurvivalModel:
        """The fitted model :meth:`to_state` described, of the class its ``kind`` names.

        Raises
        ------
        ModelError
            If the state has another layout version, an unknown kind, or a kind that is not
            this class.
        """
        from msk1model.models._registry import model_class  # the registry imports this module

        if state.get("format") != STATE_FORMAT:
            raise ModelError(
                f"model state has format {state.get('format')!r}, but this msk1model reads "
                f"format {STATE_FORMAT}. Fix: refit and save the model with this version"
            )
        model_cls = model_class(state["kind"])
        if not issubclass(model_cls, cls):
            raise ModelError(
                f"model state is of kind {state['kind']!r}, not a {cls.__name__}. "
                "Fix: load it with msk1model.models.load_model or SurvivalModel.from_state"
            )
        model = model_cls(**model_cls._params_from_state(state["params"]))
        model.features_ = list(state["features"])
        model.n_features_in_ = int(state["n_features_in"])
        if state["feature_names_in"] is not None:
            model.feature_names_in_ = np.asarray(state["feature_names_in"], dtype=object)
        model.design_ = Design.from_state(state["design"])
        model.preprocessor_ = Preprocessor.from_state(state["preprocessor"])
        model._restore_learned(state["learned"])
        base = state["baseline"]
        model.baseline_ = None if base is None else BreslowBaseline.from_state(base)
        return model

    @classmethod
    def _params_from_state(cls, params: dict[str, Any]) -> dict[str, Any]:
        """``__init__`` keywords from saved JSON: tuples where the default is one, a DesignSpec."""
        defaults = cls._hyperparameter_defaults()
        out = {
            k: tuple(v) if isinstance(defaults.get(k), tuple) and v is not None else v
            for k, v in params.items()
        }
        design = params.get("design")
        out["design"] = None if design is None else DesignSpec.from_state(design)
        return out

    # -- scikit-learn -----------------------------------------------------------------------

    @classmethod
    def _hyperparameter_defaults(cls) -> dict[str, Any]:
        """Hyperparameter names and defaults, in ``__init__`` order (all but COMMON_PARAMS)."""
        parameters = inspect.signature(cls.__init__).parameters.values()
        return {
            p.name: p.default
            for p in parameters
            if p.kind is p.KEYWORD_ONLY and p.name not in COMMON_PARAMS
        }

    def _hyperparameters(self) -> dict[str, Any]:
        """This model's hyperparameter values, in ``__init__`` order."""
        return {name: getattr(self, name) for name in self._hyperparameter_defaults()}

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True  # y is a structured (event, time) array
        tags.input_tags.allow_nan = True  # missing values are imputed by training medians
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "baseline_")  # set last by fit and from_state

    def _frame(self, X: pd.DataFrame | npt.ArrayLike, *, reset: bool) -> pd.DataFrame:
        """``X`` as a DataFrame: columns are taken by name, an array's by position.

        An array's columns are named as the fit's (``feature_names_in_``), else ``x0, x1, ...``.
        ``reset`` (in fit) records ``n_features_in_`` and ``feature_names_in_`` as scikit-learn
        does; a DataFrame may later hold other columns as long as it has the features.
        """
        if not reset:
            check_is_fitted(self)
        if isinstance(X, pd.DataFrame):
            if reset:
                self._record_inputs(X.shape[1], list(X.columns))
            return X
        values = _array(X)
        if reset:
            self._record_inputs(values.shape[1], None)
        elif values.shape[1] != self.n_features_in_:
            raise DataError(
                f"X has {values.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input. Fix: pass the fit's columns in order"
            )
        names = getattr(self, "feature_names_in_", None)
        columns = [f"x{j}" for j in range(values.shape[1])] if names is None else list(names)
        return pd.DataFrame(values, columns=columns)

    def _record_inputs(self, n_features: int, names: list[Any] | None) -> None:
        self.n_features_in_ = n_features
        if names is not None and all(isinstance(n, str) for n in names):
            self.feature_names_in_ = np.asarray(names, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    # -- shared parts -----------------------------------------------------------------------

    def _matrix(self, X: pd.DataFrame | npt.ArrayLike) -> np.ndarray:
        """Raw features -> design matrix -> imputed, standardised ``Z`` (n, n_design_columns)."""
        frame = self._frame(X, reset=False)
        return self.preprocessor_.transform(self.design_.transform(frame))

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
        return self._breslow_hazard(self._checked_risk(Z), times)

    def _breslow_hazard(self, risk: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Breslow H0(t) times ``exp(risk)``, shape (n, len(times))."""
        assert self.baseline_ is not None, "a model with breslow = False overrides this"
        return self.baseline_.cumulative_hazard(risk, times)

    def _validate_hyperparameters(self, features: list[str]) -> None:
        """Raise ModelError for an invalid hyperparameter (``features``: the resolved list)."""

    @abstractmethod
    def _fit_risk(self, Z: np.ndarray, y: np.ndarray) -> None:
        """Fit on preprocessed features ``Z`` (n, p) and the structured ``y``."""

    @abstractmethod
    def _predict_risk(self, Z: np.ndarray) -> np.ndarray:
        """Log relative hazard for preprocessed features ``Z``."""

    @abstractmethod
    def _learned_state(self) -> dict[str, Any]:
        """Model-specific learned state as JSON-compatible data."""

    @abstractmethod
    def _restore_learned(self, state: dict[str, Any]) -> None:
        """Restore the learned state :meth:`_learned_state` returned."""


def _array(X: npt.ArrayLike) -> np.ndarray:
    """A dense, real, non-empty 2-D array of ``X``, as scikit-learn's ``check_array`` requires."""
    sparse = sys.modules.get("scipy.sparse")  # X cannot be a SciPy matrix unless it is loaded
    if sparse is not None and sparse.issparse(X):
        raise DataError(
            "sparse input is not supported: the design needs dense columns (missing values are "
            "NaN). Fix: X.toarray(), or pass a DataFrame"
        )
    values = np.asarray(X)
    if values.ndim != 2:
        raise DataError(
            f"X must be a DataFrame or a 2-D array (n_patients, n_features), but got shape "
            f"{values.shape}. Fix: pass a DataFrame, or X.reshape(-1, 1) for one feature"
        )
    if np.iscomplexobj(values):
        raise DataError("Complex data not supported: features must be real numbers")
    for axis, what in ((0, "sample"), (1, "feature")):
        if values.shape[axis] == 0:
            raise DataError(
                f"Found array with 0 {what}(s) (shape={values.shape}) while a minimum of 1 is "
                "required. Fix: pass at least one patient and one feature"
            )
    return values


def _outcome(y: npt.ArrayLike | None, kind: str) -> np.ndarray:
    """``y`` as msk1model's structured outcome, with at least one event."""
    if y is None:
        raise OutcomeError(
            f"{kind} requires y to be passed, but the target y is None. "
            "Fix: fit(X, make_y(time=..., event=...))"
        )
    y = as_y(y)
    if not y["event"].any():
        raise ModelError("cannot fit a survival model on data with no events")
    return y


def check_training_size(model: type[SurvivalModel], n_train: int) -> None:
    """Refuse a family whose fit would not finish at ``n_train`` training patients.

    Raises
    ------
    ModelError
        If ``n_train`` exceeds the family's ``max_train_patients``; the message gives the
        reason, the size and the families to use instead.
    """
    limit = model.max_train_patients
    if limit is not None and n_train > limit:
        raise ModelError(
            f"model kind {model.kind!r} is refused for {n_train:,} training patients (limit "
            f"{limit:,}): {model.size_reason}. Fix: use kind xgb_cox (or xgb_aft, coxnet, coxph) "
            "for a cohort this large, or restrict the cohort (data.subgroup)"
        )
