"""External validation of a registered predictor on another cohort (TRIPOD 12, 23-25; REMARK 18).

The predictor is loaded from the registry and called on the validation cohort exactly as a
downstream tool calls it (``mlflow.pyfunc.load_model(...).predict(frame, params)``); the cohort
goes through the same data layer as a training run (column mapping, subgroup, missing-data
rules, value checks). Every metric is of those predictions against the validation outcome:

- discrimination: Harrell's C, Uno's C (truncated at ``evaluation.uno_tau``) and the
  cumulative/dynamic AUC at each horizon;
- calibration at each horizon: O/E (Kaplan-Meier observed over mean predicted risk), the
  calibration slope, and ICI, E50 and E90 of the smoothed calibration curve;
- overall accuracy at each horizon: the Brier score and IPA.

Censoring weights are the validation cohort's own: the inverse probability of censoring weights
of Uno's C, the AUC and the Brier score, and IPA's null model (the Kaplan-Meier of the validation
patients), are estimated on the validation outcome, not taken from the development data (right
for a random split of one cohort, biased across cohorts whose follow-up differs). Weights are
``1 / G(T_i)`` at an event's observed time, scikit-survival's convention (R's riskRegression
uses ``G(T_i-)``; they differ only where an event time equals a censoring time).

The biomarker's added value is validated too: the clinical-only model of the same family,
fitted in the same training run on the same patients (the ``clinical`` feature set beside every
biomarker model), is loaded from its run's ``model_state`` and scored on the same validation
patients; every metric gets the difference, model minus basic model, with a paired bootstrap CI
and p (the same resamples). A recalibrated or refitted version has no such basic model.

A validation is an MLflow run (``msk1model.role`` = ``validation``) in the experiment
``validate-<registered name>``, tagged with the model's name, version and the cohort's
fingerprint; its metrics are named ``external/<metric>[_<h>y]`` (the basic model's
``external_basic/...``, the differences ``external_added_value/...``), and the model version gets a
tag ``msk1model.validation.<run id>`` with the cohort and headline numbers, so that the UI shows
each version's external performance.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from msk1model.config import RunConfig, config_hash, log2_offset
from msk1model.contract import InputContract
from msk1model.data.cohort import (
    Cohort,
    cohort_definition,
    load_cohort,
    require_single_event,
)
from msk1model.data.rules import value_rules
from msk1model.errors import ConfigError, EvaluationError, ExportError, InputError
from msk1model.evaluation import harrell_c, uno_c
from msk1model.evaluation.added_value import decision_curve
from msk1model.evaluation.bootstrap import bootstrap_p_value, bootstrap_replicates, summarise
from msk1model.evaluation.calibration import (
    calibration_in_the_large,
    calibration_slope,
    integrated_calibration_index,
)
from msk1model.evaluation.horizons import clip_horizons
from msk1model.evaluation.timedep import brier_scores, ipa, time_dependent_auc
from msk1model.export import follow_up_limit, log_predictor, predictor_horizons, risk_groups
from msk1model.models import CompetingRisksModel, SurvivalModel, load_model
from msk1model.predictor import PredictorSpec, horizon_column, predict_frame
from msk1model.processes import this_process
from msk1model.recalibration import Update, compare_updates
from msk1model.report.storage import write_report
from msk1model.report.validation_report import ValidationFacts, validation_document
from msk1model.scores import (
    BASELINE_FEATURE_SET,
    horizon_label,
    score_frame,
    score_value,
)
from msk1model.store_lock import store_lock
from msk1model.tracking import PROCESS_TAG, log_report, resolve_tracking_uri, setup_experiment
from msk1model.transport import (
    ScaleCheck,
    case_mix,
    case_mix_table,
    check_biomarker_scale,
    harmonise,
    shift_table,
)

__all__ = [
    "ADDED_PREFIX",
    "BASIC_PREFIX",
    "DELTA_STAGE",
    "EXTERNAL_STAGE",
    "NET_BENEFIT_THRESHOLDS",
    "BasicModel",
    "Validation",
    "added_value",
    "external_intervals",
    "external_scores",
    "validate",
]

#: Stage of the validation metrics (MLflow names ``external/<metric>``).
EXTERNAL_STAGE = "external"
#: Stage of the differences, model minus its clinical-only basic model, on the validation cohort.
DELTA_STAGE = "delta_external"
#: The censoring-weight convention, as logged and reported.
CENSORING_WEIGHTS = "validation cohort, 1/G(T) at an event time (scikit-survival's convention)"
#: Prefix of the model version's tags that point to its validation runs.
VERSION_TAG_PREFIX = "msk1model.validation."


@dataclass(frozen=True)
class Validation:
    """What ``msk1model validate`` did."""

    run_id: str
    experiment_id: str
    model_name: str
    version: str
    cohort: Cohort
    horizons: tuple[float, ...]
    scores: pd.DataFrame
    """Score rows of stage ``external``."""
    scale: ScaleCheck | None = None
    shift: pd.DataFrame | None = None
    case_mix: pd.DataFrame | None = None
    updates: pd.DataFrame | None = None
    """Calibration of the parent and each update (when recalibration was asked for)."""
    updated_version: str | None = None
    report: Path | None = None
    development_endpoint: str = ""
    basic: BasicModel | None = None
    """The clinical-only model developed beside the validated one, when the store has it."""
    basic_scores: pd.DataFrame | None = None
    """The basic model's score rows (stage ``external``, feature set ``clinical``)."""
    added: pd.DataFrame | None = None
    """Model minus basic model (stage ``delta_external``; ``lower``, ``upper``, ``p``)."""

    def score(self, metric: str, horizon: float | None = None, statistic: str = "value") -> float:
        return score_value(
            self.scores, stage=EXTERNAL_STAGE, metric=metric, horizon=horizon, statistic=statistic
        )

    def basic_score(
        self, metric: str, horizon: float | None = None, statistic: str = "value"
    ) -> float:
        """A score of the basic model (KeyError when there is none)."""
        if self.basic_scores is None:
            raise KeyError(f"{self.model_name} version {self.version} has no basic model here")
        return score_value(
            self.basic_scores, stage=EXTERNAL_STAGE, metric=metric, horizon=horizon,
            statistic=statistic,
        )  # fmt: skip

    def difference(
        self, metric: str, horizon: float | None = None, statistic: str = "value"
    ) -> float:
        """Model minus basic model (KeyError when there is no basic model)."""
        if self.added is None:
            raise KeyError(f"{self.model_name} version {self.version} has no basic model here")
        return score_value(
            self.added, stage=DELTA_STAGE, metric=metric, horizon=horizon, statistic=statistic
        )


@dataclass(frozen=True)
class BasicModel:
    """The clinical-only model of the validated model's family, fitted in the same training
    run on the same patients (the ``clinical`` feature set): the baseline of the biomarker's
    added value on the validation cohort."""

    model: SurvivalModel
    run_id: str
    label: str


#: Risk thresholds of the net benefit (decision curve) at each horizon.
NET_BENEFIT_THRESHOLDS = (0.1, 0.2, 0.3)


def external_scores(
    y: np.ndarray, risk: np.ndarray, surv: np.ndarray, horizons: list[float], *, tau: float
) -> pd.DataFrame:
    """Every validation metric of predictions ``risk`` and ``surv`` (n, horizons) against the
    validation outcome ``y``, with its own censoring weights (see the module); the net benefit
    of treating the patients whose predicted risk reaches each of
    :data:`NET_BENEFIT_THRESHOLDS` is ``net_benefit_pt10`` etc. A metric undefined on these
    patients (say, no event before a horizon in a bootstrap sample) is NaN."""
    rows: list[dict[str, Any]] = [
        {"metric": "harrell_c", "value": _defined(lambda: harrell_c(y, risk))},
        {"metric": "uno_c", "value": _defined(lambda: uno_c(y, y, risk, tau=tau))},
    ]
    h = np.asarray(horizons, dtype=float)
    nan = np.full(len(h), np.nan)
    per_horizon = {
        "auc": _defined(lambda: time_dependent_auc(y, y, risk, h).auc, nan),
        "brier": _defined(lambda: brier_scores(y, y, surv, h), nan),
        "ipa": _defined(lambda: ipa(y, y, surv, h), nan),
    }
    for j, horizon in enumerate(horizons):
        at = {"horizon": horizon}
        rows += [{"metric": name, "value": float(v[j]), **at} for name, v in per_horizon.items()]
        rows += [{**row, **at} for row in _at_horizon(y, surv[:, j], horizon)]
    return score_frame({"stage": EXTERNAL_STAGE, **row} for row in rows)


def _at_horizon(y: np.ndarray, s: np.ndarray, horizon: float) -> list[dict[str, Any]]:
    """Calibration and net benefit of survival predictions ``s`` at ``horizon``."""
    smooth = _defined(lambda: integrated_calibration_index(y, s, horizon), None)
    rows: list[dict[str, Any]] = [
        {"metric": "calibration_oe",
         "value": float(_defined(lambda: calibration_in_the_large(y, s, horizon).oe_ratio))},
        {"metric": "calibration_slope", "value": float(_defined(lambda: calibration_slope(y, s)))},
        *({"metric": name, "value": float(getattr(smooth, name)) if smooth else np.nan}
          for name in ("ici", "e50", "e90")),
    ]  # fmt: skip
    curve = decision_curve(y, {"model": s}, horizon, list(NET_BENEFIT_THRESHOLDS))
    for row in curve[curve["model"] == "model"].itertuples():
        name = f"net_benefit_pt{round(float(row.threshold) * 100)}"
        rows.append({"metric": name, "value": float(row.net_benefit)})
    return rows


def _defined(compute: Any, undefined: Any = np.nan) -> Any:
    """``compute()``, or ``undefined`` where the metric is not defined on these patients."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # horizon clipping inside a resample
            return compute()
    except (EvaluationError, ArithmeticError, ValueError, np.linalg.LinAlgError):
        return undefined


def external_intervals(
    y: np.ndarray,
    risk: np.ndarray,
    surv: np.ndarray,
    horizons: list[float],
    *,
    tau: float,
    n_boot: int,
    seed: int,
    level: float = 0.95,
    basic: tuple[np.ndarray, np.ndarray] | None = None,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Percentile bootstrap CIs of every metric of :func:`external_scores`: the validation
    patients resampled (seeded: replicate i of B is the same for any number of workers), the
    predictions kept, and the censoring weights estimated again in each resample. Score rows
    with statistics ``lower`` and ``upper``.

    ``basic``: the (risk, surv) of the clinical-only model on the same patients. Its metrics
    are computed on the same resamples (rows with feature set ``clinical``), and so are the
    differences, model minus basic (stage ``delta_external``, statistics ``lower``, ``upper``
    and the two-sided bootstrap ``p`` of no difference)."""
    sets = {"model": (risk, surv), **({} if basic is None else {"basic": basic})}

    def statistic(rows: np.ndarray) -> dict[str, float]:
        out: dict[str, float] = {}
        for label, (r, s) in sets.items():
            frame = external_scores(y[rows], r[rows], s[rows], horizons, tau=tau)
            out |= {f"{label}|{_key(m.metric, m.horizon)}": float(m.value)
                    for m in frame.itertuples()}  # fmt: skip
        return out

    reps = bootstrap_replicates(statistic, len(y), n_boot=n_boot, seed=seed, n_jobs=n_jobs)
    full = external_scores(y, risk, surv, horizons, tau=tau)
    out = []
    for r in full.itertuples():
        key = _key(r.metric, r.horizon)
        at = {"metric": r.metric} | ({} if np.isnan(r.horizon) else {"horizon": r.horizon})
        draws = {label: _column(reps, f"{label}|{key}") for label in sets}
        out += _bounds(draws["model"], level, at)
        if basic is not None:
            out += _bounds(draws["basic"], level, at | {"feature_set": BASELINE_FEATURE_SET})
            delta = draws["model"] - draws["basic"]
            at |= {"stage": DELTA_STAGE}
            out += [*_bounds(delta, level, at), {"statistic": "p", **at,
                                                 "value": bootstrap_p_value(delta)}]  # fmt: skip
    return score_frame({"stage": EXTERNAL_STAGE, **row} for row in out)


def _column(reps: pd.DataFrame, key: str) -> np.ndarray:
    return reps[key].to_numpy(dtype=float) if key in reps else np.full(len(reps), np.nan)


def _bounds(values: np.ndarray, level: float, at: dict[str, Any]) -> list[dict[str, Any]]:
    ci = summarise(values, level)
    return [{"statistic": bound, "value": ci[bound], **at} for bound in ("lower", "upper")]


def added_value(model: pd.DataFrame, basic: pd.DataFrame) -> pd.DataFrame:
    """The validation metrics of ``model`` minus those of ``basic`` (value rows of
    :func:`external_scores` of each; stage ``delta_external``)."""
    keys = ["metric", "horizon"]
    merged = model[model["statistic"] == "value"].merge(
        basic[basic["statistic"] == "value"], on=keys, suffixes=("", "_basic"), sort=False
    )
    return score_frame(
        {"stage": DELTA_STAGE, "metric": r.metric, "horizon": r.horizon,
         "value": r.value - r.value_basic}
        for r in merged.itertuples()
    )  # fmt: skip


def _key(metric: str, horizon: float) -> str:
    return metric if np.isnan(horizon) else f"{metric}@{horizon:g}"


def _version(client: MlflowClient, model_uri: str) -> tuple[str, str]:
    """(name, version) of ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``."""
    if not model_uri.startswith("models:/"):
        raise ExportError(
            f"--model must name a registered version, models:/NAME@ALIAS or models:/NAME/VERSION, "
            f"but got {model_uri!r}"
        )
    rest = model_uri.removeprefix("models:/")
    try:
        if "@" in rest:
            name, alias = rest.split("@", 1)
            return name, str(client.get_model_version_by_alias(name, alias).version)
        name, _, version = rest.partition("/")
        return name, str(client.get_model_version(name, version).version)
    except mlflow.exceptions.MlflowException as exc:
        raise ExportError(
            f"{model_uri} is not in the registry at {mlflow.get_registry_uri()}: "
            f"{str(exc).splitlines()[0]}. Fix: check the name, alias or version (msk1model "
            "models list NAME) and MLFLOW_TRACKING_URI"
        ) from None


def _load_predictor(uri: str) -> Any:
    """``mlflow.pyfunc.load_model(uri)``, with ``sys.path`` left as it was.

    MLflow puts the model's shipped code (a part of msk1model: what the predictor needs) first
    on ``sys.path``. This process keeps the msk1model it already imported, but worker processes
    started later (the bootstrap's) inherit the path and would import the partial copy, and fail.
    """
    path = list(sys.path)
    try:
        return mlflow.pyfunc.load_model(uri)
    finally:
        sys.path[:] = path


def validate(
    model_uri: str,
    config: RunConfig,
    *,
    n_boot: int = 200,
    recalibrate: Update | None = None,
    report_dir: str | Path | None = None,
) -> Validation:
    """Score the cohort ``config`` describes with the registered predictor ``model_uri``, after
    the transport checks (:mod:`msk1model.transport`), compute every validation metric with its
    ``n_boot``-replicate bootstrap CI (seeded by the config's seed; 0 for none), and log them
    with the case mix, the shift table and the validation report as a validation run (see the
    module). ``recalibrate``: also compare the updates of :mod:`msk1model.recalibration` and
    register the named one as a new version. ``report_dir``: where the report is written
    (default ``config.report.output_dir``/``<run id>``)."""
    uri = resolve_tracking_uri(config.tracking)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient()
    with store_lock(uri):
        name, version = _version(client, model_uri)
    cohort = load_cohort(config.data, config.split, config.seed, log2_offset(config))
    require_single_event(cohort, "validate")
    predictor = _load_predictor(f"models:/{name}/{version}")
    loaded = predictor.unwrap_python_model()
    spec, model = loaded.spec, loaded.model
    if isinstance(model, CompetingRisksModel):
        raise ConfigError(
            f"{name} version {version} is a competing-risks predictor (it returns cif_<h>y), "
            "which `msk1model validate` does not validate yet (issue 14). Fix: validate a "
            "single-event predictor"
        )
    features = list(model.features_)
    frame, scale, shift = _transported(spec, cohort, config, features)
    y = cohort.y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # clipping is stated in the run's horizon params
        horizons = [float(h) for h in clip_horizons(list(config.evaluation.horizons), y, y)]
    try:
        out = predictor.predict(frame[features], params={"horizons": horizons})
    except InputError as exc:
        raise InputError(
            f"the predictor refused the validation cohort: {exc}. A validation scores every "
            "patient: train the model with export.outside_training_range: flag to score and "
            "flag values beyond the training range, or restrict the cohort (data.subgroup, "
            "data.ranges)"
        ) from None
    risk, surv = _predictions(out, horizons)
    basic = _basic_model(client, name, version)
    basic_pred = None
    if basic is not None:
        X = frame[list(basic.model.features_)]
        basic_pred = _predictions(predict_frame(basic.model, X, horizons), horizons)
    tau = config.evaluation.tau
    scores = external_scores(y, risk, surv, horizons, tau=tau)
    basic_scores = added = None
    if basic_pred is not None:
        basic_scores = external_scores(y, *basic_pred, horizons, tau=tau)
        added = added_value(scores, basic_scores)
        basic_scores = basic_scores.assign(feature_set=BASELINE_FEATURE_SET)
    if n_boot:
        intervals = external_intervals(
            y, risk, surv, horizons, tau=tau, n_boot=n_boot, seed=config.seed, basic=basic_pred,
            n_jobs=config.report.n_jobs,
        )  # fmt: skip
        own = (intervals["stage"] == EXTERNAL_STAGE) & intervals["feature_set"].isna()
        scores = pd.concat([scores, intervals[own]], ignore_index=True)
        if basic_scores is not None and added is not None:
            of_basic = intervals["feature_set"] == BASELINE_FEATURE_SET
            basic_scores = pd.concat([basic_scores, intervals[of_basic]], ignore_index=True)
            delta = intervals["stage"] == DELTA_STAGE
            added = pd.concat([added, intervals[delta]], ignore_index=True)
    development = (spec.development or {}).get("case_mix", {})
    mix = case_mix_table(development, case_mix(y, risk, horizons))
    updates = fitted = None
    if recalibrate is not None:
        updates, fitted = compare_updates(
            model, frame[features], y, horizons, parent=f"{name}/{version}",
            cohort=cohort.fingerprint,
        )  # fmt: skip
    parts = _Parts(name, version, spec, model, cohort, frame, y, horizons, scores, n_boot)
    facts = _Facts(
        scale=scale, shift=shift, case_mix=mix, updates=updates, basic=basic,
        basic_scores=basic_scores, added=added,
        basic_surv=None if basic_pred is None else basic_pred[1],
    )  # fmt: skip
    run_id, experiment_id, report, updated = _log(
        client, config, parts, facts, surv, recalibrate, fitted, report_dir
    )
    return Validation(
        run_id, experiment_id, name, version, cohort, tuple(horizons), scores,
        scale=scale, shift=shift, case_mix=mix, updates=updates, updated_version=updated,
        report=report, development_endpoint=str(spec.meta.get("endpoint", "not recorded")),
        basic=basic, basic_scores=basic_scores, added=added,
    )  # fmt: skip


def _predictions(out: pd.DataFrame, horizons: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """(risk score (n,), survival at the horizons (n, horizons)) of a predictor's output."""
    risk = out["risk_score"].to_numpy(dtype=float)
    surv = np.column_stack([out[horizon_column(h)].to_numpy(dtype=float) for h in horizons])
    return risk, surv


def _basic_model(client: MlflowClient, name: str, version: str) -> BasicModel | None:
    """The clinical-only model trained beside version ``version`` of ``name`` (its child run's
    ``model_state``), or None: for an update (recalibrated or refitted on another cohort,
    which its basic model was not), or where the training run is not in this store."""
    tags = client.get_model_version(name, version).tags
    source = tags.get("msk1model.source_run")
    if source is None or "msk1model.update" in tags:
        return None
    try:
        run = client.get_run(source)
    except mlflow.exceptions.MlflowException:
        return None
    parent = run.data.tags.get("mlflow.parentRunId")
    family = run.data.tags.get("msk1model.model_name")
    if parent is None or family is None:
        return None
    query = (
        f"tags.mlflow.parentRunId = '{parent}' and tags.`msk1model.model_name` = '{family}' "
        f"and tags.`msk1model.feature_set` = '{BASELINE_FEATURE_SET}'"
    )
    found = client.search_runs([run.info.experiment_id], query, max_results=2)
    if len(found) != 1:
        return None
    basic_run = found[0].info.run_id
    with tempfile.TemporaryDirectory() as tmp:
        try:
            folder = client.download_artifacts(basic_run, "model_state", tmp)
        except (mlflow.exceptions.MlflowException, OSError):
            return None
        basic = load_model(folder)
        if isinstance(basic, CompetingRisksModel):
            return None
        return BasicModel(basic, basic_run, f"{family} | {BASELINE_FEATURE_SET}")


@dataclass(frozen=True)
class _Parts:
    """What a validation scored: model, cohort, predictions' horizons and scores."""

    name: str
    version: str
    spec: PredictorSpec
    model: SurvivalModel
    cohort: Cohort
    frame: pd.DataFrame
    y: np.ndarray
    horizons: list[float]
    scores: pd.DataFrame
    n_boot: int


@dataclass(frozen=True)
class _Facts:
    scale: ScaleCheck | None
    shift: pd.DataFrame | None
    case_mix: pd.DataFrame
    updates: pd.DataFrame | None
    basic: BasicModel | None = None
    basic_scores: pd.DataFrame | None = None
    added: pd.DataFrame | None = None
    basic_surv: np.ndarray | None = None


def _transported(
    spec: PredictorSpec, cohort: Cohort, config: RunConfig, features: list[str]
) -> tuple[pd.DataFrame, ScaleCheck | None, pd.DataFrame | None]:
    """The validation table (its biomarker harmonised when the config asks), the biomarker's
    scale check and the shift table; None for both in a predictor without a profile. The
    biomarker's scale is checked first, then that every feature is there."""
    profile = spec.development
    table = cohort.table
    scale = None
    if profile is not None:
        marker = config.biomarker
        column = profile["biomarker"]["column"]
        values = table[column].to_numpy(dtype=float) if column in table else None
        if values is not None:
            declared = {"platform": marker.platform, "unit": marker.unit}
            scale = check_biomarker_scale(profile, values, declared, marker.harmonise)
            if marker.harmonise != "none":
                table = table.assign(**{column: harmonise(values, profile, marker.harmonise)})
    missing = [f for f in features if f not in table.columns]
    if missing:
        raise ExportError(
            f"the validation cohort lacks the predictor's input column(s) {missing} (it takes "
            f"{features}). Fix: map them in data.columns / data.covariates of the config"
        )
    if profile is None:
        return table, None, None
    shift = shift_table(profile, table, spec.contract)
    return table, scale, shift


def _metric_name(metric: str, horizon: float, prefix: str = EXTERNAL_STAGE) -> str:
    at = "" if np.isnan(horizon) else f"_{horizon_label(horizon)}"
    return f"{prefix}/{metric}{at}"


#: MLflow prefixes of the basic model's metrics and of the differences.
BASIC_PREFIX = "external_basic"
ADDED_PREFIX = "external_added_value"


def _metrics(scores: pd.DataFrame, prefix: str) -> dict[str, float]:
    """MLflow metrics of score rows: ``PREFIX/<metric>[_<h>y][_<statistic>]``."""
    return {
        _metric_name(r.metric, r.horizon, prefix)
        + ("" if r.statistic == "value" else f"_{r.statistic}"): float(r.value)
        for r in scores.itertuples()
        if np.isfinite(r.value)
    }


def _log(
    client: MlflowClient,
    config: RunConfig,
    parts: _Parts,
    facts: _Facts,
    surv: np.ndarray,
    recalibrate: Update | None,
    fitted: dict[str, Any] | None,
    report_dir: str | Path | None,
) -> tuple[str, str, Path, str | None]:
    """Log the validation run (and register the update asked for); return the run id, the
    experiment id, the report's path and the updated version (or None)."""
    name, version, cohort, scores = parts.name, parts.version, parts.cohort, parts.scores
    experiment_id = setup_experiment(config.tracking, f"validate-{name}")
    development_endpoint = str(parts.spec.meta.get("endpoint", "not recorded"))
    tags = {
        "msk1model.role": "validation",
        "msk1model.validated_model": name,
        "msk1model.validated_version": version,
        "msk1model.data_fingerprint": cohort.fingerprint,
        "msk1model.cohort": cohort_definition(config.data),
        "msk1model.endpoint": cohort.endpoint,
        "msk1model.development_endpoint": development_endpoint,
        "msk1model.biomarker_scale": _scale_statement(facts.scale),
        "msk1model.config_hash": config_hash(config),
        PROCESS_TAG: this_process(),
    }
    updated = None
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"{name} v{version}") as run:
        run_id = run.info.run_id
        mlflow.set_tags(tags)
        mlflow.log_params(
            {
                "data.source": cohort.source,
                "data.n_patients": len(cohort.table),
                "data.n_events": int(cohort.event.sum()),
                "evaluation.horizons": ",".join(f"{h:g}" for h in parts.horizons),
                "evaluation.uno_tau": config.evaluation.tau,
                "censoring_weights": CENSORING_WEIGHTS,
                "n_bootstrap": parts.n_boot,
                "biomarker.harmonise": config.biomarker.harmonise,
                "recalibrate": recalibrate or "none",
            }
        )
        metrics = _metrics(scores, EXTERNAL_STAGE)
        if facts.basic is not None and facts.basic_scores is not None and facts.added is not None:
            mlflow.set_tags({"msk1model.basic_model": facts.basic.label,
                             "msk1model.basic_model_run": facts.basic.run_id})  # fmt: skip
            metrics |= _metrics(facts.basic_scores, BASIC_PREFIX)
            metrics |= _metrics(facts.added, ADDED_PREFIX)
        mlflow.log_metrics(metrics)
        mlflow.log_table(cohort.flow_table(), "data/patient_flow.json")
        mlflow.log_table(facts.case_mix, "data/case_mix.json")
        if facts.shift is not None:
            mlflow.log_table(facts.shift, "data/shift.json")
        if facts.updates is not None:
            mlflow.log_table(facts.updates, "recalibration/comparison.json")
        if recalibrate is not None and fitted is not None:
            updated = _register_update(client, config, parts, recalibrate, fitted, run_id)
        document = validation_document(
            ValidationFacts(
                model=name,
                version=version,
                run_id=run_id,
                development_cohort=str(parts.spec.meta.get("cohort", "not recorded")),
                development_endpoint=development_endpoint,
                validation_cohort=f"{cohort.source} ({len(cohort.table)} patients, "
                f"{int(cohort.event.sum())} events)",
                validation_endpoint=cohort.endpoint,
                n_boot=parts.n_boot,
                censoring_weights=CENSORING_WEIGHTS,
                scale=_scale_statement(facts.scale),
                case_mix=facts.case_mix,
                shift=facts.shift,
                scores=scores,
                updates=facts.updates,
                registered_update=None if updated is None else f"{name} version {updated}",
                basic_model=None if facts.basic is None else facts.basic.label,
                basic_scores=facts.basic_scores,
                added=facts.added,
            ),
            parts.y,
            surv,
            parts.horizons,
            basic_surv=facts.basic_surv,
        )
        out_dir = Path(report_dir or Path(config.report.output_dir) / run_id)
        report = write_report(document, out_dir)
        log_report(out_dir)
    h = max(parts.horizons)
    c = score_value(scores, stage=EXTERNAL_STAGE, metric="harrell_c")
    oe = score_value(scores, stage=EXTERNAL_STAGE, metric="calibration_oe", horizon=h)
    client.set_model_version_tag(
        name,
        version,
        VERSION_TAG_PREFIX + run_id,
        f"{cohort.source} ({len(cohort.table)} patients, {int(cohort.event.sum())} events): "
        f"Harrell's C {c:.3f}, O/E at {h:g} y {oe:.2f}",
    )
    return run_id, experiment_id, report, updated


def _scale_statement(scale: ScaleCheck | None) -> str:
    if scale is None:
        return "not checked (the predictor records no development distribution)"
    return scale.statement()


def _register_update(
    client: MlflowClient,
    config: RunConfig,
    parts: _Parts,
    method: Update,
    fitted: dict[str, Any],
    run_id: str,
) -> str:
    """Log the ``method`` update of the validated model as a predictor of run ``run_id`` and
    register it as a new version with its lineage; the champion alias stays."""
    name, version, spec, cohort = parts.name, parts.version, parts.spec, parts.cohort
    limit = follow_up_limit(parts.y)
    horizons = tuple(predictor_horizons(spec.horizons, limit))
    if method == "refit":
        model: SurvivalModel = fitted["refit"]
        X = parts.frame[list(model.features_)]
        updated_spec = PredictorSpec(
            horizons=horizons,
            max_horizon=limit,
            risk_groups=spec.risk_groups
            if spec.risk_groups.on != "risk_score"
            else risk_groups(
                model, X, cut=config.export.risk_groups.cut, labels=spec.risk_groups.labels,
                biomarker=cohort.biomarker, report_cutpoint=config.report.cutpoint,
            ),
            contract=InputContract.from_training(
                model, X, rules=value_rules(config.data),
                margin=spec.contract.margin,
                outside_training_range=spec.contract.outside_training_range,
            ),
            meta={**spec.meta, "cohort": cohort_definition(config.data),
                  "data_fingerprint": cohort.fingerprint, "endpoint": cohort.endpoint},
            development=None,
        )  # fmt: skip
    else:
        model = parts.model
        updated_spec = dataclasses.replace(
            spec, horizons=horizons, max_horizon=limit, recalibration=fitted[method]
        )
    uri = log_predictor(model, updated_spec, None, source_run_id=run_id)
    parent_tags = client.get_model_version(name, version).tags
    lineage = {
        k: v
        for k, v in parent_tags.items()
        if k.startswith("msk1model.") and not k.startswith(VERSION_TAG_PREFIX)
    }
    lineage |= {
        "msk1model.parent_version": version,
        "msk1model.update": method,
        "msk1model.update_cohort": cohort_definition(config.data),
        "msk1model.update_data_fingerprint": cohort.fingerprint,
        "msk1model.update_run": run_id,
    }
    if method == "refit":
        lineage |= {
            "msk1model.cohort": cohort_definition(config.data),
            "msk1model.data_fingerprint": cohort.fingerprint,
            "msk1model.endpoint": cohort.endpoint,
        }
    with store_lock(resolve_tracking_uri(config.tracking)):
        registered = mlflow.register_model(uri, name, await_registration_for=60, tags=lineage)
    client.update_model_version(
        name,
        registered.version,
        description=f"Version {version} of {name} updated by {_UPDATE_TEXT[method]} on "
        f"{cohort.source} ({len(cohort.table)} patients, {int(cohort.event.sum())} events; "
        f"fingerprint {cohort.fingerprint}), validation run {run_id}. Not the champion unless "
        "promoted (msk1model promote).",
    )
    return str(registered.version)


_UPDATE_TEXT = {
    "baseline": "a new baseline hazard",
    "slope": "a new slope of the risk score and baseline hazard",
    "refit": "refitting the model",
}
