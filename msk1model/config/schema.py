"""The run schema: every key a run config may hold, its type, default and rules.

:class:`RunConfig` is the whole run; each section (``data``, ``split``, ``models``, ``tuning``,
``evaluation``, ``tracking``, ``export``, ``report``) is a frozen pydantic model that forbids
unknown keys. Loading a file, merging ``base`` links and ``--set`` overrides, and turning
pydantic's errors into messages lives in :mod:`msk1model.config.loading`.

All times in a run are in **years**: ``evaluation.horizons`` and ``evaluation.uno_tau`` are years,
and input times are converted from ``data.time_unit`` when the cohort is loaded.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from msk1model.errors import ModelError
from msk1model.scores import TuningMetric

__all__ = [
    "TIME_UNITS",
    "BiomarkerConfig",
    "CategoricalParam",
    "ColumnMap",
    "CompetingEndpoint",
    "CovariateTransform",
    "DataConfig",
    "DerivedBins",
    "EvaluationConfig",
    "ExportConfig",
    "FloatParam",
    "IntParam",
    "ModelConfig",
    "ReportConfig",
    "RiskGroupConfig",
    "RunConfig",
    "SplitConfig",
    "SyntheticConfig",
    "TrackingConfig",
    "TuningConfig",
    "config_hash",
    "log2_offset",
]

#: Days per unit; times are converted to years with ``time * TIME_UNITS[unit] / 365.25``.
TIME_UNITS: dict[str, float] = {"days": 1.0, "weeks": 7.0, "months": 365.25 / 12, "years": 365.25}

FeatureSet = Literal["clinical", "clinical+msk1", "msk1"]
Scalar = bool | int | float | str
DEFAULT_FEATURE_SETS: tuple[FeatureSet, ...] = ("clinical", "clinical+msk1")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SyntheticConfig(_Strict):
    """Size and seed of the built-in synthetic MSK1 cohort (``data.source: synthetic``)."""

    n_patients: int = Field(2000, ge=100, le=1_000_000)
    seed: int | None = Field(None, description="None: use the run's seed")


class ColumnMap(_Strict):
    """Names, in the source table, of the columns with a fixed role."""

    id: str = "patient_id"
    time: str = "time"
    event: str = "event"
    biomarker: str = "msk1"


class DerivedBins(_Strict):
    """A column binned from a raw one: 1 + the number of cut points strictly below the value.

    Right-closed intervals ``(-inf, c1], (c1, c2], ..., (ck, inf)`` -> ``1, ..., k + 1``; a
    missing value stays missing. E.g. size (mm) with ``bins: [20, 50]``: 1 <= 20, 2 = 21-50,
    3 > 50; nodes with ``bins: [0]``: 2 for node-positive.
    """

    source: str = Field(min_length=1, description="a column of the raw source table")
    bins: list[float] = Field(min_length=1, description="strictly increasing cut points")

    @field_validator("bins")
    @classmethod
    def _increasing(cls, value: list[float]) -> list[float]:
        finite = all(abs(c) < float("inf") for c in value)
        if not finite or sorted(set(value)) != value:
            raise ValueError(
                f"bins must be finite cut points in strictly increasing order, but got {value}. "
                f"Fix: sort them and drop repeats, e.g. {sorted(set(value))}"
            )
        return value


class CompetingEndpoint(_Strict):
    """An endpoint with competing events: one column of event codes, a cause of interest and the
    causes that compete with it (e.g. bone relapse, with relapse elsewhere and death competing).

    The codes are integers: 0 is censored, ``cause`` the event of interest, ``competing`` the
    events that preclude it ("all other": every other non-zero code). The time column
    (``data.columns.time``) is then the time to the first event of any kind.
    """

    type: Literal["competing"] = Field(description="'competing' (the single-event form is a text)")
    event_column: str = Field("event_type", min_length=1, description="the column of codes")
    cause: int = Field(gt=0, description="code of the event of interest, e.g. 2 (bone)")
    competing: list[int] | Literal["all other"] = Field(
        "all other", description="codes of the competing events, or 'all other'"
    )
    name: str | None = Field(
        None, description="what the event of interest is, e.g. 'bone relapse' (shown in reports)"
    )

    @model_validator(mode="after")
    def _codes(self) -> CompetingEndpoint:
        if isinstance(self.competing, list):
            if not self.competing or any(c <= 0 for c in self.competing):
                raise ValueError(
                    f"competing codes must be positive integers (0 is censored), but got "
                    f"{self.competing}; or write 'all other'"
                )
            if self.cause in self.competing:
                raise ValueError(
                    f"cause {self.cause} is also listed as competing {self.competing}; an event "
                    "is either the cause of interest or a competing one"
                )
        return self

    def describe(self) -> str:
        """The endpoint as a text, e.g. ``"cause 2 of event_type (competing: 1, 3)"``."""
        competing = (
            self.competing
            if isinstance(self.competing, str)
            else ", ".join(map(str, self.competing))
        )
        what = self.name or f"cause {self.cause} of {self.event_column}"
        return f"{what} (competing: {competing})"


def _endpoint_form(value: Any) -> str:
    return "tagged-competing" if isinstance(value, dict | CompetingEndpoint) else "tagged-text"


#: A text names a single-event endpoint; a mapping is the competing form. Errors then come from
#: the one form the value has (the tags drop out of the config key in the messages).
Endpoint = Annotated[
    Annotated[str, Tag("tagged-text")] | Annotated[CompetingEndpoint, Tag("tagged-competing")],
    Discriminator(_endpoint_form),
]


class DataConfig(_Strict):
    """Where the cohort comes from and which of its columns and rows the run uses."""

    source: str = Field(
        "synthetic", description="'synthetic', 'public:NAME', or a .csv/.parquet path"
    )
    synthetic: SyntheticConfig = SyntheticConfig()
    columns: ColumnMap = ColumnMap()
    covariates: list[str] = Field(default_factory=lambda: ["age", "size", "grade", "nodes", "pr"])
    time_unit: Literal["days", "weeks", "months", "years"] | None = None
    subgroup: dict[str, Scalar | list[Scalar]] = Field(default_factory=dict)
    derived: dict[str, DerivedBins] = Field(
        default_factory=dict,
        description="name -> {source, bins}: columns binned from raw ones before anything else, "
        "so covariates, categorical and subgroup may name them (e.g. node_positive: {source: "
        "nodes, bins: [0]}, then subgroup: {node_positive: 2})",
    )
    administrative_censoring: float | None = Field(
        None,
        gt=0,
        description="years: follow-up beyond it ends there, censored (time = this value, "
        "event = 0); None: none",
    )
    categorical: list[str] = Field(
        default_factory=list,
        description="covariates that are categories (text or codes): one indicator per level "
        "except the first (the reference), learned on training rows inside every fit",
    )
    missing: Literal["drop", "impute"] = Field(
        "drop",
        description="'drop': analyse complete cases; 'impute': keep patients with missing "
        "covariates and impute training-part medians inside every fit (never from test rows). "
        "Patients without a biomarker value are always excluded.",
    )
    ranges: dict[str, tuple[float | None, float | None]] = Field(
        default_factory=dict,
        description="column -> [low, high] of possible values (null: open), e.g. age: [18, 100]; "
        "checked on the training data and on every input of the exported predictor. Built-in "
        "cohorts add defaults (msk1model.data.rules)",
    )
    integer: list[str] = Field(
        default_factory=list,
        description="numeric columns that hold whole numbers (counts, codes), e.g. [nodes]",
    )
    endpoint: Endpoint | None = Field(
        None,
        description="what an event is, e.g. 'metastasis-free survival' (None: the built-in "
        "cohort's documented endpoint; for a file, the event column); or, for competing events, "
        "{type: competing, event_column, cause, competing: [codes] | 'all other', name}. A "
        "champion is only replaced by a model of the same endpoint and cohort definition",
    )
    units: dict[str, str] = Field(
        default_factory=dict,
        description="column -> unit shown in the model card, e.g. size: mm (built-in cohorts "
        "have defaults)",
    )

    @field_validator("ranges")
    @classmethod
    def _ordered_ranges(
        cls, value: dict[str, tuple[float | None, float | None]]
    ) -> dict[str, tuple[float | None, float | None]]:
        for column, (low, high) in value.items():
            if low is not None and high is not None and not low <= high:
                raise ValueError(
                    f"a range needs `low <= high`, but {column} has (low={low}, high={high})"
                )
        return value

    @field_validator("source")
    @classmethod
    def _known_source(cls, value: str) -> str:
        if value == "synthetic" or value.startswith("public:"):
            return value
        if Path(value).suffix.lower() in {".csv", ".parquet", ".pq"}:
            return value
        raise ValueError(
            f"data source must be 'synthetic', 'public:NAME' or a path ending in .csv or .parquet, "
            f"but got {value!r}"
        )

    @field_validator("covariates")
    @classmethod
    def _unique_covariates(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one clinical covariate is needed for the baseline model")
        duplicated = sorted({c for c in value if value.count(c) > 1})
        if duplicated:
            raise ValueError(f"covariates must be unique, but {duplicated} appear more than once")
        return value

    @model_validator(mode="after")
    def _categorical_are_covariates(self) -> DataConfig:
        stray = [c for c in self.categorical if c not in self.covariates]
        if stray:
            raise ValueError(
                f"data.categorical names {stray}, which are not in data.covariates "
                f"{self.covariates}; add them to covariates or remove them from categorical"
            )
        features = [*self.covariates, self.columns.biomarker]
        for key in ("ranges", "integer"):
            named = list(getattr(self, key))
            stray = [c for c in named if c not in features or c in self.categorical]
            if stray:
                raise ValueError(
                    f"data.{key} names {stray}, which are not numeric features of the model "
                    f"{[c for c in features if c not in self.categorical]}; rules apply to numeric "
                    "covariates and the biomarker (categorical ones keep their training levels)"
                )
        return self


class BiomarkerConfig(_Strict):
    """How the biomarker enters every model that uses it (learned on training rows only)."""

    transform: Literal["none", "log2", "zscore"] = Field(
        "none", description="'log2': log2(value + offset); 'zscore': training mean 0, SD 1"
    )
    offset: float = Field(0.0, ge=0.0, description="added before log2 (e.g. 1 for counts)")
    spline_knots: int | None = Field(
        None, ge=3, le=7, description="restricted cubic spline with this many knots; None: linear"
    )
    interaction: str | None = Field(
        None, description="a covariate (e.g. er) whose product with the biomarker is added"
    )
    platform: str | None = Field(
        None,
        description="the assay the biomarker was measured on, e.g. 'Agilent two-colour array'; "
        "recorded in the predictor and compared by msk1model validate",
    )
    unit: str | None = Field(
        None,
        description="the biomarker's scale, e.g. 'centred log2 ratio' or 'log2 intensity'; a "
        "validation cohort whose declared unit differs is refused unless harmonised",
    )
    harmonise: Literal["none", "zscore_within_cohort", "quantile"] = Field(
        "none",
        description="validation only: map a biomarker on another scale onto the development "
        "scale: 'zscore_within_cohort' (standardise within the cohort, then the development "
        "mean and SD) or 'quantile' (validation percentile -> development percentile)",
    )


class CovariateTransform(_Strict):
    """How one numeric covariate enters every model (learned on training rows only): capped at
    training quantiles, then optionally a restricted cubic spline (columns ``age``, ``age'``...)."""

    cap: tuple[float | None, float | None] | None = Field(
        None,
        description="[low, high] quantiles of the training values to winsorise at (null: that "
        "end open), e.g. [null, 0.99] caps at the training 99th percentile",
    )
    spline_knots: int | list[float] | None = Field(
        None,
        description="restricted cubic spline (Harrell's basis) after the cap: a knot count 3..7 "
        "at Harrell's training quantiles, or the knot values (>= 3, increasing, covariate units)",
    )

    @field_validator("cap")
    @classmethod
    def _quantiles(
        cls, value: tuple[float | None, float | None] | None
    ) -> tuple[float | None, float | None] | None:
        if value is None:
            return value
        low, high = value
        if low is None and high is None:
            raise ValueError(
                "a cap needs at least one quantile, but got [null, null]. Fix: [null, 0.99] "
                "(upper), [0.01, null] (lower), [0.01, 0.99] (both), or remove cap"
            )
        outside = [q for q in value if q is not None and not 0 < q < 1]
        if outside:
            raise ValueError(
                f"cap quantiles must lie strictly between 0 and 1, but got {outside}. Fix: give "
                "fractions, e.g. [null, 0.99] for the 99th percentile"
            )
        if low is not None and high is not None and not low < high:
            raise ValueError(f"a cap needs `low < high`, but got (low={low}, high={high})")
        return value

    @field_validator("spline_knots")
    @classmethod
    def _knots(cls, value: int | list[float] | None) -> int | list[float] | None:
        if isinstance(value, int) and not 3 <= value <= 7:
            raise ValueError(
                f"spline_knots as a count must be 3..7 (knots at Harrell's quantiles), but got "
                f"{value}. Fix: a count in 3..7, or list the knot values"
            )
        if isinstance(value, list) and (len(value) < 3 or sorted(set(value)) != value):
            raise ValueError(
                f"spline_knots as values must be at least 3 strictly increasing knots, but got "
                f"{value}. Fix: e.g. [40, 55, 70] (covariate units), or a knot count 3..7"
            )
        return value

    @model_validator(mode="after")
    def _does_something(self) -> CovariateTransform:
        if self.cap is None and self.spline_knots is None:
            raise ValueError(
                "a covariate transform needs cap or spline_knots, but has neither. Fix: add "
                "one (e.g. cap: [null, 0.99]) or remove the entry"
            )
        return self


class SplitConfig(_Strict):
    """Event-stratified train/test split and K-fold CV on the training part."""

    test_size: float = Field(0.25, gt=0.0, lt=0.9)
    cv_folds: int = Field(5, ge=2, le=20)


class FloatParam(_Strict):
    type: Literal["float"]
    low: float
    high: float
    log: bool = False

    @model_validator(mode="after")
    def _bounds(self) -> FloatParam:
        _check_bounds(self.low, self.high, self.log)
        return self


class IntParam(_Strict):
    type: Literal["int"]
    low: int
    high: int
    log: bool = False

    @model_validator(mode="after")
    def _bounds(self) -> IntParam:
        _check_bounds(self.low, self.high, self.log)
        return self


class CategoricalParam(_Strict):
    type: Literal["categorical"]
    choices: list[Scalar] = Field(min_length=1)


def _workers(value: int) -> int:
    if value == 0:
        raise ValueError("n_jobs must be 1 (this process), N > 1 workers or -1 (all cores)")
    return value


#: A count of worker processes: 1 (this process), N > 1, or -1 (all cores).
Workers = Annotated[int, AfterValidator(_workers)]

ParamSpec = Annotated[FloatParam | IntParam | CategoricalParam, Field(discriminator="type")]


def _check_bounds(low: float, high: float, log: bool) -> None:
    if not low <= high:
        raise ValueError(f"`low <= high` must hold, but got (low={low}, high={high})")
    if log and low <= 0:
        raise ValueError(f"a log-scale range needs `low > 0`, but got low={low}")


class ModelConfig(_Strict):
    """One model family: fixed hyperparameters and an Optuna search space over the others."""

    kind: str
    params: dict[str, Scalar | list[str]] = Field(default_factory=dict)
    search_space: dict[str, ParamSpec] = Field(default_factory=dict)
    n_trials: int | None = Field(None, ge=1, description="None: tuning.n_trials")

    @model_validator(mode="after")
    def _known_kind_and_params(self) -> ModelConfig:
        from msk1model.models import hyperparameters_of  # the registry knows each kind's params

        try:
            allowed = hyperparameters_of(self.kind)
        except ModelError as exc:
            raise ValueError(str(exc)) from None
        for where, names in (("params", self.params), ("search_space", self.search_space)):
            unknown = sorted(set(names) - set(allowed))
            if unknown:
                raise ValueError(
                    f"{where} has unknown hyperparameter(s) {unknown} for kind {self.kind!r}; "
                    f"allowed: {sorted(allowed)}"
                )
        both = sorted(set(self.params) & set(self.search_space))
        if both:
            raise ValueError(f"{both} are both fixed in params and tuned in search_space; keep one")
        self._within_domains()
        return self

    def _within_domains(self) -> None:
        """Fixed values and search-space bounds and choices inside each hyperparameter's domain
        (:mod:`msk1model.models.domains`), so that a bad one stops the config, not a trial."""
        from msk1model.models.domains import domain_of

        for name, value in self.params.items():
            domain = domain_of(self.kind, name)
            if domain is not None and not isinstance(value, list) and not domain.admits(value):
                raise ValueError(
                    f"params.{name} is {value!r}, outside what {self.kind} {name} takes: "
                    f"{domain.describe()}. Fix: a value in that range"
                )
        for name, spec in self.search_space.items():
            domain = domain_of(self.kind, name)
            if domain is None:
                continue
            where = f"search_space.{name}"
            if isinstance(spec, CategoricalParam):
                bad = [c for c in spec.choices if not domain.admits(c)]
                if bad:
                    raise ValueError(
                        f"{where} has choices {bad} outside what {self.kind} {name} takes: "
                        f"{domain.describe()}. Fix: choices in that range"
                    )
                continue
            if domain.integer and isinstance(spec, FloatParam):
                raise ValueError(
                    f"{where} is a float range, but {self.kind} {name} takes "
                    f"{domain.describe()}. Fix: type: int"
                )
            for end in ("low", "high"):
                value = getattr(spec, end)
                if not domain.admits(value):
                    raise ValueError(
                        f"{where}.{end} is {value!r}, outside what {self.kind} {name} takes: "
                        f"{domain.describe()}. Fix: low and high in that range"
                    )


class TuningConfig(_Strict):
    """Optuna study settings shared by every model (a model may override ``n_trials``)."""

    n_trials: int = Field(20, ge=1, le=10_000)
    sampler: Literal["tpe", "random"] = "tpe"
    metric: TuningMetric = Field(
        "harrell_c",
        description="the CV mean a trial optimises: harrell_c, uno_c, auc (at tuning.horizon; "
        "maximised) or ibs (integrated Brier score up to tuning.horizon; minimised)",
    )
    horizon: float | None = Field(
        None, gt=0, description="years, for auc and ibs (None: the largest evaluation horizon)"
    )
    timeout_s: float | None = Field(None, gt=0, description="seconds this process tunes each model")
    storage: str | None = Field(
        None,
        description="Optuna storage of the studies: a journal file (default optuna.journal in "
        "the working folder; several processes on one machine), a database URL "
        "(postgresql://user@host/db for workers on several machines, sqlite:///file.db), or "
        "'memory' (kept by no one: nothing resumes)",
    )
    pruner: Literal["median", "none"] = Field(
        "median", description="stops a trial whose running fold mean is below the median"
    )
    heartbeat_s: int = Field(
        60,
        ge=1,
        le=3600,
        description="database storages: a trial with no heartbeat for twice this long is failed "
        "and retried",
    )
    n_jobs: Workers = Field(
        1,
        description="worker processes that fit a trial's CV folds side by side (-1: all cores); "
        "the folds are reported to the pruner in order, so the results equal those of 1",
    )

    @field_validator("storage")
    @classmethod
    def _storage(cls, value: str | None) -> str | None:
        if value is None or value == "memory" or "://" not in value:
            if value is not None and not value.strip():
                raise ValueError("storage must be a journal file path, a database URL or 'memory'")
            return value
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        try:
            make_url(value).get_dialect()
        except (ArgumentError, NoSuchModuleError):
            raise ValueError(
                "storage must be a journal file path, 'memory' or a database URL such as "
                "postgresql://user@host:5432/optuna, but it is a URL SQLAlchemy cannot read "
                "(an unknown database or a malformed URL)"
            ) from None
        return value


class EvaluationConfig(_Strict):
    """Horizons (years) for survival probabilities, the truncation time of Uno's C, and how
    performance is estimated: on the held-out test part (``holdout``), or by nested
    cross-validation over every patient (``nested_cv``)."""

    horizons: list[float] = Field(default_factory=lambda: [3.0, 5.0], min_length=1)
    uno_tau: float | None = Field(None, gt=0, description="years; None: the largest horizon")
    scheme: Literal["holdout", "nested_cv"] = Field(
        "holdout",
        description="holdout: tune on the training part, score the test part (split.test_size)."
        " nested_cv: tune inside each outer training part, score its outer test part, report "
        "the outer folds' mean and SD; the final model is tuned and refitted on all patients",
    )
    outer_folds: int = Field(5, ge=2, le=20, description="nested_cv: outer folds per repeat")
    repeats: int = Field(1, ge=1, le=20, description="nested_cv: repeats of the outer folds")

    @field_validator("horizons")
    @classmethod
    def _positive_sorted(cls, value: list[float]) -> list[float]:
        if any(h <= 0 for h in value):
            raise ValueError(f"horizons must be > 0 years, but got {value}")
        return sorted(set(value))

    @property
    def tau(self) -> float:
        return self.uno_tau if self.uno_tau is not None else max(self.horizons)


class TrackingConfig(_Strict):
    """MLflow store. ``uri`` None: ``$MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db``."""

    uri: str | None = None
    artifact_location: str | None = Field(None, description="None: ./mlruns for a local store")
    log_trials: bool = True
    log_figures: bool = Field(
        True,
        description="calibration, AUC and risk-group KM figures on each model run, and "
        "Optuna's plots of its study under figures/tuning/",
    )


class RiskGroupConfig(_Strict):
    """How the predictor's ``risk_group`` column is cut (frozen on the training rows)."""

    cut: Literal["median", "tertiles", "report"] = Field(
        "median",
        description="'median' or 'tertiles' of the training risk scores; 'report': the biomarker "
        "at report.cutpoint (groups labelled by their mean training risk)",
    )
    labels: list[str] | None = Field(
        None,
        description="one label per group, lowest risk first (None: low/high or "
        "low/intermediate/high)",
    )


class ExportConfig(_Strict):
    """Registration of the best clinical+msk1 model in the MLflow model registry."""

    register_model: bool = True
    model_name: str = Field("msk1-prognostic", min_length=1, pattern=r"^[A-Za-z0-9][\w.\-]*$")
    alias: str = Field("champion", min_length=1, pattern=r"^[A-Za-z][\w\-]*$")
    champion_metric: str = Field(
        "test/harrell_c",
        description="a model-run metric with a direction (e.g. test/harrell_c, cv/uno_c_mean, "
        "test/auc_5y, test/brier_5y, calibration/ici_5y); checked against the run's metric "
        "names. The flat names of earlier versions (test_harrell_c) are read as these",
    )
    outside_training_range: Literal["refuse", "flag"] = Field(
        "refuse",
        description="an input value beyond the training range (plus the margin) is refused, "
        "or scored with outside_training_range = true",
    )
    training_range_margin: float = Field(
        0.25, ge=0.0, le=10.0, description="share of the training range allowed beyond each end"
    )
    risk_groups: RiskGroupConfig = RiskGroupConfig()


class ReportConfig(_Strict):
    """The run's HTML report: biomarker analyses (REMARK), performance with CIs, added value."""

    enabled: bool = True
    n_bootstrap: int = Field(200, ge=1, le=100_000, description="bootstrap replicates per CI")
    n_jobs: Workers = Field(-1, description="worker processes for the bootstrap (-1: all cores)")
    cutpoint: Literal["median", "tertiles"] | float = Field(
        "median", description="pre-specified biomarker cutpoint: median, tertiles or a value"
    )
    min_group: float = Field(
        0.1, gt=0.0, lt=0.5, description="smallest group share an optimal cutpoint may leave"
    )
    n_permutations: int = Field(1000, ge=0, le=100_000)
    subgroup_column: str | None = Field(
        "er", description="0/1 column for the subgroup analysis and interaction test (None: none)"
    )
    min_test_events: int = Field(
        50,
        ge=0,
        description="fewer events in the test part give a warning that its estimates are unstable",
    )
    output_dir: str = Field("reports", description="reports go to OUTPUT_DIR/<run id>/")


class RunConfig(_Strict):
    """Everything one ``msk1model train`` run needs."""

    experiment: str = Field(min_length=1)
    description: str = ""
    seed: int = Field(20180515, ge=0, le=2**32 - 1)
    data: DataConfig = DataConfig()
    split: SplitConfig = SplitConfig()
    feature_sets: list[FeatureSet] = Field(default_factory=lambda: [*DEFAULT_FEATURE_SETS])
    biomarker: BiomarkerConfig = BiomarkerConfig()
    covariate_transforms: dict[str, CovariateTransform] = Field(
        default_factory=dict,
        description="numeric covariate -> {cap, spline_knots}, learned on training rows inside "
        "every fit, e.g. nodes: {cap: [null, 0.99]}, age: {spline_knots: 4}",
    )
    models: dict[str, ModelConfig] = Field(min_length=1)
    tuning: TuningConfig = TuningConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    tracking: TrackingConfig = TrackingConfig()
    export: ExportConfig = ExportConfig()
    report: ReportConfig = ReportConfig()

    @field_validator("feature_sets")
    @classmethod
    def _needs_msk1_model(cls, value: list[FeatureSet]) -> list[FeatureSet]:
        if "clinical+msk1" not in value:
            raise ValueError(
                f"feature_sets must include 'clinical+msk1' (the exported model), but got {value}"
            )
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _transforms_are_numeric_covariates(self) -> RunConfig:
        data = self.data
        for column in self.covariate_transforms:
            if column == data.columns.biomarker:
                raise ValueError(
                    f"covariate_transforms names the biomarker {column!r}; its form is set "
                    "under biomarker: (transform, spline_knots). Fix: move it there"
                )
            if column not in data.covariates:
                hint = difflib.get_close_matches(column, data.covariates, n=1)
                raise ValueError(
                    f"covariate_transforms names {column!r}, which is not in data.covariates "
                    f"{data.covariates}"
                    + (f" (did you mean {hint[0]!r}?)" if hint else "")
                    + ". Fix: add it to data.covariates or remove the entry"
                )
            if column in data.categorical:
                raise ValueError(
                    f"covariate_transforms names {column!r}, which is in data.categorical; caps "
                    "and splines apply to numeric covariates (a categorical one enters as level "
                    f"indicators). Fix: remove the entry, or {column!r} from data.categorical"
                )
        return self

    @model_validator(mode="after")
    def _interaction_is_estimable(self) -> RunConfig:
        column = self.biomarker.interaction
        if column is None:
            return self
        if column not in self.data.covariates:
            raise ValueError(
                f"biomarker.interaction is {column!r}, which is not in data.covariates "
                f"{self.data.covariates}; the interaction needs its main effect. Fix: add it "
                "to data.covariates"
            )
        kept = self.data.subgroup.get(column)
        if kept is not None and (not isinstance(kept, list) or len(kept) == 1):
            raise ValueError(
                f"biomarker.interaction with {column!r} needs patients at more than one level "
                f"of it, but data.subgroup keeps {column}={kept!r} only. Fix: remove "
                f"{column} from data.subgroup or drop the interaction"
            )
        return self

    @model_validator(mode="before")
    @classmethod
    def _current_metric_names(cls, data: Any) -> Any:
        """An old flat champion metric name (``test_harrell_c``) becomes its ``group/`` name."""
        from msk1model.tracking import champion_metric_name

        export = data.get("export") if isinstance(data, dict) else None
        if not (isinstance(export, dict) and isinstance(export.get("champion_metric"), str)):
            return data
        evaluation = data.get("evaluation")
        horizons = evaluation.get("horizons") if isinstance(evaluation, dict) else None
        try:
            known = [float(h) for h in (horizons or EvaluationConfig().horizons)]
        except (TypeError, ValueError):
            return data  # the horizons' own validation reports it
        name = champion_metric_name(export["champion_metric"], known)
        return {**data, "export": {**export, "champion_metric": name}}

    @model_validator(mode="after")
    def _nested_cv_has_no_test_part(self) -> RunConfig:
        if self.evaluation.scheme != "nested_cv":
            return self
        if self.report.enabled:
            raise ValueError(
                "report.enabled is true, but evaluation.scheme nested_cv keeps no held-out test "
                "part, and the report's analyses are of that part. Fix: set report.enabled: "
                "false (the model runs log the nested estimates under nested_cv/), or "
                "evaluation.scheme: holdout"
            )
        return self

    @model_validator(mode="before")
    @classmethod
    def _nested_cv_champion(cls, data: Any) -> Any:
        """Under nested_cv the default champion metric is the nested Harrell's C (the default
        test/harrell_c is not logged there); a metric the config names is kept and checked."""
        if not isinstance(data, dict):
            return data
        evaluation, export = data.get("evaluation"), data.get("export", {})
        nested = isinstance(evaluation, dict) and evaluation.get("scheme") == "nested_cv"
        if not nested or not isinstance(export, dict) or "champion_metric" in export:
            return data
        return {**data, "export": {**export, "champion_metric": "nested_cv/harrell_c_mean"}}

    @model_validator(mode="after")
    def _champion_metric_is_logged(self) -> RunConfig:
        from msk1model.tracking import champion_metrics  # the one place metric names are made

        allowed = champion_metrics(self.evaluation.horizons, self.evaluation.scheme)
        name = self.export.champion_metric
        if name not in allowed:
            hint = difflib.get_close_matches(name, list(allowed), n=1)
            raise ValueError(
                f"export.champion_metric must name a metric every model run logs and that has a "
                f"direction, but got {name!r}"
                + (f" (did you mean {hint[0]!r}?)" if hint else "")
                + f"; allowed with horizons {self.evaluation.horizons}: {sorted(allowed)}"
                + (
                    ". Under evaluation.scheme nested_cv no test/ metric is logged: the outer "
                    "folds' mean of test/<name> is nested_cv/<name>_mean"
                    if self.evaluation.scheme == "nested_cv" and name.startswith("test/")
                    else ""
                )
            )
        return self

    @model_validator(mode="after")
    def _risk_group_labels_fit_the_cut(self) -> RunConfig:
        groups = self.export.risk_groups
        if groups.labels is None:
            return self
        cut = self.report.cutpoint if groups.cut == "report" else groups.cut
        n = 3 if cut == "tertiles" else 2
        if len(groups.labels) != n or len(set(groups.labels)) != n:
            raise ValueError(
                f"export.risk_groups.labels must be {n} distinct labels (lowest risk first) for "
                f"cut {groups.cut!r}"
                + (f" (report.cutpoint {self.report.cutpoint!r})" if groups.cut == "report" else "")
                + f", but got {groups.labels}"
            )
        return self

    @field_validator("models")
    @classmethod
    def _model_names(cls, value: dict[str, ModelConfig]) -> dict[str, ModelConfig]:
        bad = [name for name in value if not name.replace("_", "").replace("-", "").isalnum()]
        if bad:
            raise ValueError(f"model names may hold letters, digits, '_' and '-', but got {bad}")
        return value


def tuning_horizon(config: RunConfig) -> float:
    """Years: the horizon of the auc objective and the end of the ibs objective's integral."""
    return config.tuning.horizon or max(config.evaluation.horizons)


def log2_offset(config: RunConfig) -> float | None:
    """The offset of the biomarker's log2 transform, or None when it is not log2-transformed."""
    return config.biomarker.offset if config.biomarker.transform == "log2" else None


def config_hash(config: RunConfig) -> str:
    """SHA-256 of the resolved config as canonical JSON (stable across key order)."""
    payload = json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()
