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

A validation is an MLflow run (``msk1model.role`` = ``validation``) in the experiment
``validate-<registered name>``, tagged with the model's name, version and the cohort's
fingerprint; its metrics are named ``external/<metric>[_<h>y]``, and the model version gets a
tag ``msk1model.validation.<run id>`` with the cohort and headline numbers, so that the UI shows
each version's external performance.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from msk1model.config import RunConfig, config_hash, log2_offset
from msk1model.data.cohort import Cohort, cohort_definition, load_cohort
from msk1model.errors import ExportError, InputError
from msk1model.evaluation import harrell_c, uno_c
from msk1model.evaluation.calibration import (
    calibration_in_the_large,
    calibration_slope,
    integrated_calibration_index,
)
from msk1model.evaluation.horizons import clip_horizons
from msk1model.evaluation.timedep import brier_scores, ipa, time_dependent_auc
from msk1model.predictor import horizon_column
from msk1model.processes import this_process
from msk1model.scores import horizon_label, score_frame
from msk1model.store_lock import store_lock
from msk1model.tracking import PROCESS_TAG, resolve_tracking_uri

__all__ = ["EXTERNAL_STAGE", "Validation", "external_scores", "validate"]

#: Stage of the validation metrics (MLflow names ``external/<metric>``).
EXTERNAL_STAGE = "external"
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

    def score(self, metric: str, horizon: float | None = None) -> float:
        rows = self.scores[self.scores["metric"] == metric]
        rows = rows[rows["horizon"].isna()] if horizon is None else rows[rows["horizon"] == horizon]
        (value,) = rows["value"]
        return float(value)


def external_scores(
    y: np.ndarray, risk: np.ndarray, surv: np.ndarray, horizons: list[float], *, tau: float
) -> pd.DataFrame:
    """Every validation metric of predictions ``risk`` and ``surv`` (n, horizons) against the
    validation outcome ``y``, with its own censoring weights (see the module)."""
    rows: list[dict[str, Any]] = [
        {"metric": "harrell_c", "value": harrell_c(y, risk)},
        {"metric": "uno_c", "value": uno_c(y, y, risk, tau=tau)},
    ]
    h = np.asarray(horizons, dtype=float)
    per_horizon = {
        "auc": time_dependent_auc(y, y, risk, h).auc,
        "brier": brier_scores(y, y, surv, h),
        "ipa": ipa(y, y, surv, h),
    }
    for j, horizon in enumerate(horizons):
        at = {"horizon": horizon}
        rows += [{"metric": name, "value": float(v[j]), **at} for name, v in per_horizon.items()]
        s = surv[:, j]
        smooth = integrated_calibration_index(y, s, horizon)
        large = calibration_in_the_large(y, s, horizon)
        rows += [
            {"metric": "calibration_oe", "value": float(large.oe_ratio), **at},
            {"metric": "calibration_slope", "value": calibration_slope(y, s), **at},
            {"metric": "ici", "value": float(smooth.ici), **at},
            {"metric": "e50", "value": float(smooth.e50), **at},
            {"metric": "e90", "value": float(smooth.e90), **at},
        ]  # fmt: skip
    return score_frame({"stage": EXTERNAL_STAGE, **row} for row in rows)


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


def validate(model_uri: str, config: RunConfig) -> Validation:
    """Score the cohort ``config`` describes with the registered predictor ``model_uri``, compute
    every validation metric and log them as a validation run (see the module)."""
    uri = resolve_tracking_uri(config.tracking)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient()
    with store_lock(uri):
        name, version = _version(client, model_uri)
    cohort = load_cohort(config.data, config.split, config.seed, log2_offset(config))
    pinned = f"models:/{name}/{version}"
    predictor = mlflow.pyfunc.load_model(pinned)
    meta = (predictor.metadata.metadata or {}) if predictor.metadata else {}
    features = list(meta.get("features", []))
    missing = [f for f in features if f not in cohort.table.columns]
    if missing:
        raise ExportError(
            f"the validation cohort lacks the predictor's input column(s) {missing} (it takes "
            f"{features}). Fix: map them in data.columns / data.covariates of the config"
        )
    y = cohort.y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # clipping is stated in the run's horizon params
        horizons = [float(h) for h in clip_horizons(list(config.evaluation.horizons), y, y)]
    try:
        out = predictor.predict(cohort.table[features], params={"horizons": horizons})
    except InputError as exc:
        raise InputError(
            f"the predictor refused the validation cohort: {exc}. A validation scores every "
            "patient: train the model with export.outside_training_range: flag to score and "
            "flag values beyond the training range, or restrict the cohort (data.subgroup, "
            "data.ranges)"
        ) from None
    risk = out["risk_score"].to_numpy(dtype=float)
    surv = np.column_stack([out[horizon_column(h)].to_numpy(dtype=float) for h in horizons])
    scores = external_scores(y, risk, surv, horizons, tau=config.evaluation.tau)
    run_id, experiment_id = _log(client, name, version, config, cohort, horizons, scores)
    return Validation(run_id, experiment_id, name, version, cohort, tuple(horizons), scores)


def _metric_name(metric: str, horizon: float) -> str:
    at = "" if np.isnan(horizon) else f"_{horizon_label(horizon)}"
    return f"{EXTERNAL_STAGE}/{metric}{at}"


def _log(
    client: MlflowClient,
    name: str,
    version: str,
    config: RunConfig,
    cohort: Cohort,
    horizons: list[float],
    scores: pd.DataFrame,
) -> tuple[str, str]:
    experiment = f"validate-{name}"
    with store_lock(mlflow.get_tracking_uri()):
        found = mlflow.get_experiment_by_name(experiment)
        experiment_id = (
            found.experiment_id if found is not None else mlflow.create_experiment(experiment)
        )
    tags = {
        "msk1model.role": "validation",
        "msk1model.validated_model": name,
        "msk1model.validated_version": version,
        "msk1model.data_fingerprint": cohort.fingerprint,
        "msk1model.cohort": cohort_definition(config.data),
        "msk1model.endpoint": cohort.endpoint,
        "msk1model.config_hash": config_hash(config),
        PROCESS_TAG: this_process(),
    }
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"{name} v{version}") as run:
        mlflow.set_tags(tags)
        mlflow.log_params(
            {
                "data.source": cohort.source,
                "data.n_patients": len(cohort.table),
                "data.n_events": int(cohort.event.sum()),
                "evaluation.horizons": ",".join(f"{h:g}" for h in horizons),
                "evaluation.uno_tau": config.evaluation.tau,
                "censoring_weights": "validation cohort (1/G(T), scikit-survival)",
            }
        )
        mlflow.log_metrics(
            {_metric_name(r.metric, r.horizon): float(r.value) for r in scores.itertuples()}
        )
        mlflow.log_table(cohort.flow_table(), "data/patient_flow.json")
    h = max(horizons)
    c = scores[(scores["metric"] == "harrell_c")]["value"].iloc[0]
    oe = scores[(scores["metric"] == "calibration_oe") & (scores["horizon"] == h)]["value"].iloc[0]
    client.set_model_version_tag(
        name,
        version,
        VERSION_TAG_PREFIX + run.info.run_id,
        f"{cohort.source} ({len(cohort.table)} patients, {int(cohort.event.sum())} events): "
        f"Harrell's C {c:.3f}, O/E at {h:g} y {oe:.2f}",
    )
    return run.info.run_id, experiment_id
