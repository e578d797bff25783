"""The exported predictor's scoring side: what ``mlflow.pyfunc.load_model`` runs.

Downstream tools call::

    model = mlflow.pyfunc.load_model("models:/msk1-prognostic@champion")
    model.predict(patients)                           # one row per patient
    model.predict(patients, params={"horizons": [7]})  # and at 7 years
    model.predict(patients, params={"output": "curve"})  # survival curves, long format

and get, per patient: ``risk_score`` (higher = higher risk; log relative hazard for Cox-type
models), ``risk_group`` (the cut frozen at training, :class:`RiskGroups`), and at each horizon
``h`` (years) ``survival_<h>y``, the event-free probability, and ``event_prob_<h>y`` = 1 - it;
plus ``outside_training_range`` when the input contract flags rather than refuses. Horizons
beyond the training follow-up are refused: the model knows nothing there. A competing-risks
predictor (:class:`~msk1model.models.CompetingRisksModel`) returns ``cif_<h>y``, the cumulative
incidence of the event of interest, and ``event_free_<h>y``, no event of any kind, instead of
the survival columns.

Every input is first checked against the model's :class:`~msk1model.contract.InputContract`,
ahead of MLflow's own schema enforcement, so that no error shows a patient's values.

This module, :mod:`msk1model.contract` and :mod:`msk1model.models` are the code the predictor
ships (:data:`SHIPPED_MODULES`); they import only numpy, pandas, xgboost and MLflow at load
(scikit-learn when it is installed; fit-time libraries are imported inside ``fit``).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel, PythonModelContext

from msk1model.contract import InputContract
from msk1model.errors import ExportError, InputError
from msk1model.models import CompetingRisksModel, SurvivalModel, load_model

__all__ = [
    "FLAG_COLUMN",
    "PREDICTOR_FORMAT",
    "PREDICTOR_META",
    "SHIPPED_MODULES",
    "Msk1Predictor",
    "PredictorSpec",
    "RecalibratedModel",
    "Recalibration",
    "RiskGroups",
    "cif_column",
    "curve_frame",
    "event_free_column",
    "event_prob_column",
    "horizon_column",
    "predict_frame",
    "score_frame",
]

#: Version of ``predictor.json``'s layout; a predictor of another version is refused at load.
PREDICTOR_FORMAT = 1
#: The predictor's metadata file (an MLflow artefact): :meth:`PredictorSpec.to_state`.
PREDICTOR_META = "predictor.json"
#: Output column of a contract that flags values beyond the training range.
FLAG_COLUMN = "outside_training_range"
#: The package files the predictor ships as code (paths inside ``msk1model/``; a folder: all of
#: its ``.py`` files). Nothing else of msk1model is needed to load and score.
SHIPPED_MODULES = (
    "__init__.py",
    "errors.py",
    "outcome.py",
    "splines.py",
    "contract.py",
    "predictor.py",
    "models",
)
#: Default spacing (years) of the time grid of ``output: curve``.
CURVE_STEP = 0.25


def horizon_column(horizon: float) -> str:
    """Output column of the survival probability at ``horizon`` years, e.g. ``survival_5y``."""
    return f"survival_{horizon:g}y"


def event_prob_column(horizon: float) -> str:
    """Output column of the event probability by ``horizon`` years, e.g. ``event_prob_5y``."""
    return f"event_prob_{horizon:g}y"


def cif_column(horizon: float) -> str:
    """Output column of a competing-risks predictor's cumulative incidence of the cause by
    ``horizon`` years, e.g. ``cif_5y``."""
    return f"cif_{horizon:g}y"


def event_free_column(horizon: float) -> str:
    """Output column of a competing-risks predictor's probability of no event of any kind by
    ``horizon`` years, e.g. ``event_free_5y``."""
    return f"event_free_{horizon:g}y"


@dataclass(frozen=True)
class RiskGroups:
    """Risk groups cut on a frozen scale: values ``<= cuts[0]`` get ``labels[0]``, values in
    ``(cuts[i-1], cuts[i]]`` get ``labels[i]``, values above the last cut the last label.

    ``on`` is ``"risk_score"`` (cuts at training quantiles of the model's risk score) or a
    feature column (the biomarker at the report's pre-specified cutpoint; its ``labels`` then
    follow the groups' mean training risk, so low MSK1 may read "high").
    """

    on: str
    cuts: tuple[float, ...]
    labels: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.labels) != len(self.cuts) + 1 or list(self.cuts) != sorted(self.cuts):
            raise ExportError(
                f"risk groups need increasing cuts and one label more than cuts, but got cuts "
                f"{list(self.cuts)} and labels {list(self.labels)}"
            )

    def assign(self, values: np.ndarray) -> np.ndarray:
        """The label of each value (object array)."""
        index = np.searchsorted(np.asarray(self.cuts, dtype=float), values, side="left")
        return np.asarray(self.labels, dtype=object)[index]

    def to_state(self) -> dict[str, Any]:
        return {"on": self.on, "cuts": list(self.cuts), "labels": list(self.labels)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RiskGroups:
        return cls(state["on"], tuple(map(float, state["cuts"])), tuple(state["labels"]))


@dataclass(frozen=True)
class Recalibration:
    """An update of the model's absolute risks fitted on a validation cohort (Van Houwelingen,
    Stat Med 19:3401, 2000; Steyerberg's updating hierarchy): the survival becomes
    ``S(t | x) = exp(-H0(t) exp(slope * risk_score(x)))``.

    ``method``: ``"baseline"`` (slope 1: a new baseline hazard for the same linear predictor) or
    ``"slope"`` (the linear predictor's slope refitted too); ``times``/``cumhaz``: the Breslow
    cumulative baseline hazard H0 as a right-continuous step function, read on a grid of
    :data:`RECALIBRATION_GRID` years (so that no patient's own time is stored); ``parent``: the
    registered version it updates (``NAME/VERSION``); ``cohort``: the validation cohort's
    fingerprint. The risk score, and so the ranking and risk groups, stay the parent's.
    """

    method: Literal["baseline", "slope"]
    slope: float
    times: tuple[float, ...]
    cumhaz: tuple[float, ...]
    parent: str
    cohort: str

    def baseline(self, times: np.ndarray) -> np.ndarray:
        """H0 at ``times`` (years)."""
        at = np.searchsorted(np.asarray(self.times), np.asarray(times, dtype=float), "right") - 1
        return np.where(at >= 0, np.asarray(self.cumhaz)[np.clip(at, 0, None)], 0.0)

    def to_state(self) -> dict[str, Any]:
        return {**asdict(self), "times": list(self.times), "cumhaz": list(self.cumhaz)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Recalibration:
        return cls(**{**state, "times": tuple(state["times"]), "cumhaz": tuple(state["cumhaz"])})


#: Spacing (years) of the grid a recalibrated baseline hazard is stored on.
RECALIBRATION_GRID = 0.01


class RecalibratedModel:
    """A fitted model whose survival predictions a :class:`Recalibration` replaces."""

    def __init__(self, model: SurvivalModel, recalibration: Recalibration) -> None:
        self.model = model
        self.recalibration = recalibration
        self.features_ = model.features_

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.model.predict(X)

    def predict_survival_function(self, X: pd.DataFrame, times: np.ndarray) -> np.ndarray:
        lp = self.recalibration.slope * self.model.predict(X)
        h0 = self.recalibration.baseline(times)
        return np.exp(-np.exp(lp)[:, None] * h0[None, :])


@dataclass(frozen=True)
class PredictorSpec:
    """What the predictor outputs and accepts, stored beside the model state.

    ``horizons``: the default output horizons (years); ``max_horizon``: the training follow-up,
    floored to two significant figures, beyond which no horizon is accepted; ``meta``: the
    model's description (name, kind, feature set, endpoint, cohort, ...), informative only;
    ``development``: the development cohort's aggregates for transport checks
    (:func:`msk1model.transport.development_profile`; None in predictors exported before it);
    ``recalibration``: the update a validation cohort fitted, if any.
    """

    horizons: tuple[float, ...]
    max_horizon: float
    risk_groups: RiskGroups
    contract: InputContract
    meta: dict[str, Any]
    development: dict[str, Any] | None = None
    recalibration: Recalibration | None = None

    def scoring(self, model: SurvivalModel) -> SurvivalModel | RecalibratedModel:
        """What scores: ``model``, or it under this spec's recalibration."""
        return model if self.recalibration is None else RecalibratedModel(model, self.recalibration)

    def to_state(self) -> dict[str, Any]:
        return {
            "format": PREDICTOR_FORMAT,
            "horizons": list(self.horizons),
            "max_horizon": self.max_horizon,
            "risk_groups": self.risk_groups.to_state(),
            "contract": self.contract.to_state(),
            "meta": self.meta,
            "development": self.development,
            "recalibration": None if self.recalibration is None else self.recalibration.to_state(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PredictorSpec:
        found = state.get("format")
        if found != PREDICTOR_FORMAT:
            age = "newer" if isinstance(found, int) and found > PREDICTOR_FORMAT else "older"
            raise ExportError(
                f"this predictor's {PREDICTOR_META} has format {found!r}, {age} than the format "
                f"{PREDICTOR_FORMAT} this msk1model reads. Fix: load it with the msk1model "
                "version that exported it (its requirements.txt pins it), or re-export the model"
            )
        return cls(
            horizons=tuple(float(h) for h in state["horizons"]),
            max_horizon=float(state["max_horizon"]),
            risk_groups=RiskGroups.from_state(state["risk_groups"]),
            contract=InputContract.from_state(state["contract"]),
            meta=dict(state["meta"]),
            development=state.get("development"),
            recalibration=None
            if state.get("recalibration") is None
            else Recalibration.from_state(state["recalibration"]),
        )

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(self.to_state(), indent=1), encoding="utf-8")
        return path

    @classmethod
    def read(cls, path: str | Path) -> PredictorSpec:
        return cls.from_state(json.loads(Path(path).read_text(encoding="utf-8")))

    def check_horizons(self, horizons: Any) -> list[float]:
        """Requested extra horizons as floats; each must be > 0 and within the follow-up."""
        values = [horizons] if isinstance(horizons, int | float) else list(horizons)
        try:
            numbers = [float(h) for h in values]
        except (TypeError, ValueError):
            raise InputError(
                "params 'horizons' must be numbers of years, e.g. [7.5]. Fix: pass a list of "
                "numbers"
            ) from None
        bad = [h for h in numbers if not (0 < h <= self.max_horizon)]
        if bad:
            raise InputError(
                f"params 'horizons' {bad} lie outside (0, {self.max_horizon:g}] years, the "
                "training follow-up: the model cannot predict there. Fix: ask for horizons "
                f"up to {self.max_horizon:g} years"
            )
        return numbers


def predict_frame(
    model: SurvivalModel | RecalibratedModel,
    X: pd.DataFrame,
    horizons: list[float] | tuple[float, ...],
    risk_groups: RiskGroups | None = None,
) -> pd.DataFrame:
    """Risk score, risk group (when given) and survival and event probability at each
    horizon, one row per patient (index kept)."""
    risk = model.predict(X)
    out = pd.DataFrame({"risk_score": risk}, index=X.index)
    if risk_groups is not None:
        on = risk if risk_groups.on == "risk_score" else X[risk_groups.on].to_numpy(dtype=float)
        out["risk_group"] = risk_groups.assign(on)
    survival = model.predict_survival_function(X, np.asarray(horizons, dtype=float))
    for j, horizon in enumerate(horizons):
        out[horizon_column(horizon)] = survival[:, j]
    for j, horizon in enumerate(horizons):
        out[event_prob_column(horizon)] = 1.0 - survival[:, j]
    return out


def curve_frame(
    model: SurvivalModel | RecalibratedModel, X: pd.DataFrame, times: np.ndarray
) -> pd.DataFrame:
    """Survival curves in long format: ``row`` (input position), ``time`` (years),
    ``survival`` and ``event_prob``, one row per patient and time."""
    survival = model.predict_survival_function(X, times)
    n = len(X)
    return pd.DataFrame(
        {
            "row": np.repeat(np.arange(n), len(times)),
            "time": np.tile(times, n),
            "survival": survival.ravel(),
            "event_prob": 1.0 - survival.ravel(),
        }
    )


def competing_frame(
    model: CompetingRisksModel,
    X: pd.DataFrame,
    horizons: list[float] | tuple[float, ...],
    risk_groups: RiskGroups | None = None,
) -> pd.DataFrame:
    """A competing-risks predictor's table: risk score and group, then the cause's cumulative
    incidence and the probability of no event of any kind at each horizon."""
    risk = model.predict(X)
    out = pd.DataFrame({"risk_score": risk}, index=X.index)
    if risk_groups is not None:
        on = risk if risk_groups.on == "risk_score" else X[risk_groups.on].to_numpy(dtype=float)
        out["risk_group"] = risk_groups.assign(on)
    at = np.asarray(horizons, dtype=float)
    cif, free = model.predict_cif(X, at), model.predict_event_free(X, at)
    for j, horizon in enumerate(horizons):
        out[cif_column(horizon)] = cif[:, j]
    for j, horizon in enumerate(horizons):
        out[event_free_column(horizon)] = free[:, j]
    return out


def competing_curve_frame(
    model: CompetingRisksModel, X: pd.DataFrame, times: np.ndarray
) -> pd.DataFrame:
    """Curves in long format: ``row``, ``time`` (years), ``cif`` and ``event_free``."""
    cif, free = model.predict_cif(X, times), model.predict_event_free(X, times)
    n = len(X)
    return pd.DataFrame(
        {
            "row": np.repeat(np.arange(n), len(times)),
            "time": np.tile(times, n),
            "cif": cif.ravel(),
            "event_free": free.ravel(),
        }
    )


def score_frame(
    model: SurvivalModel | CompetingRisksModel,
    spec: PredictorSpec,
    frame: pd.DataFrame,
    params: dict[str, Any],
) -> pd.DataFrame:
    """What the predictor returns for ``frame`` (checked against the contract first)."""
    unknown = sorted(set(params) - {"horizons", "output", "curve_step"})
    if unknown:
        raise InputError(
            f"unknown params {unknown}; the predictor takes 'horizons' (extra years), 'output' "
            "('table' or 'curve') and 'curve_step' (years)"
        )
    output = params.get("output") or "table"
    if output not in ("table", "curve"):
        raise InputError(
            f"params 'output' must be 'table' or 'curve', but got {output!r}. Fix: leave it out "
            "for the table"
        )
    extra = params.get("horizons")
    asked = [] if extra is None else spec.check_horizons(extra)
    outside = spec.contract.check(frame)
    X = frame[model.features_]
    if isinstance(model, CompetingRisksModel):
        return _score_competing(model, spec, X, output, params, asked, outside)
    scorer = spec.scoring(model)
    if output == "curve":
        return curve_frame(scorer, X, _curve_times(spec, params.get("curve_step"), asked))
    horizons = list(dict.fromkeys([*spec.horizons, *asked]))  # configured first, no repeats
    out = predict_frame(scorer, X, horizons, spec.risk_groups).reset_index(drop=True)
    if spec.contract.outside_training_range == "flag":
        out[FLAG_COLUMN] = outside
    return out


def _score_competing(
    model: CompetingRisksModel,
    spec: PredictorSpec,
    X: pd.DataFrame,
    output: str,
    params: dict[str, Any],
    asked: list[float],
    outside: np.ndarray,
) -> pd.DataFrame:
    if spec.recalibration is not None:
        raise ExportError("a competing-risks predictor has no recalibration; re-export it")
    if output == "curve":
        return competing_curve_frame(model, X, _curve_times(spec, params.get("curve_step"), asked))
    horizons = list(dict.fromkeys([*spec.horizons, *asked]))
    out = competing_frame(model, X, horizons, spec.risk_groups).reset_index(drop=True)
    if spec.contract.outside_training_range == "flag":
        out[FLAG_COLUMN] = outside
    return out


def _curve_times(spec: PredictorSpec, step: Any, asked: list[float]) -> np.ndarray:
    if asked:
        return np.asarray(sorted(set(asked)), dtype=float)
    step = CURVE_STEP if step is None else float(step)
    if not (math.isfinite(step) and 0 < step <= spec.max_horizon):
        raise InputError(
            f"params 'curve_step' must lie in (0, {spec.max_horizon:g}] years, but got {step:g}"
        )
    n = math.floor(spec.max_horizon / step + 1e-9)
    return np.round(step * np.arange(n + 1), 10)


class Msk1Predictor(PythonModel):
    """pyfunc wrapper around a saved msk1model model (loaded from JSON state)."""

    def load_context(self, context: PythonModelContext) -> None:
        self._spec = PredictorSpec.read(context.artifacts["predictor_meta"])
        self._model = load_model(context.artifacts["model_state"])

    @property
    def spec(self) -> PredictorSpec:
        """What the loaded predictor outputs and accepts (``predictor.json``)."""
        return self._spec

    @property
    def model(self) -> SurvivalModel | CompetingRisksModel:
        """The loaded model (before any recalibration of the spec)."""
        return self._model

    def predict(
        self,
        context: PythonModelContext,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        frame = pd.DataFrame(model_input).reset_index(drop=True)
        given = {k: v for k, v in (params or {}).items() if v is not None}
        return score_frame(self._model, self._spec, frame, given)
