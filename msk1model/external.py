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
from msk1model.errors import EvaluationError, ExportError, InputError
from msk1model.evaluation import harrell_c, uno_c
from msk1model.evaluation.added_value import decision_curve
from msk1model.evaluation.bootstrap import bootstrap_replicates, summarise
from msk1model.evaluation.calibration import (
    calibration_in_the_large,
    calibration_slope,
    integrated_calibration_index,
)
from msk1model.evaluation.horizons import clip_horizons
from msk1model.evaluation.timedep import brier_scores, ipa, time_dependent_auc
from msk1model.predictor import horizon_column
from msk1model.processes import this_process
from msk1model.scores import horizon_label, score_frame, score_value
from msk1model.store_lock import store_lock
from msk1model.tracking import PROCESS_TAG, resolve_tracking_uri, setup_experiment

__all__ = [
    "EXTERNAL_STAGE",
    "NET_BENEFIT_THRESHOLDS",
    "Validation",
    "external_intervals",
    "external_scores",
    "validate",
]

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

    def score(self, metric: str, horizon: float | None = None, statistic: str = "value") -> float:
        return score_value(
            self.scores, stage=EXTERNAL_STAGE, metric=metric, horizon=horizon, statistic=statistic
        )


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
) -> pd.DataFrame:
    """Percentile bootstrap CIs of every metric of :func:`external_scores`: the validation
    patients resampled (seeded: replicate i of B is the same for any number of workers), the
    predictions kept, and the censoring weights estimated again in each resample. Score rows
    with statistics ``lower`` and ``upper``."""

    def statistic(rows: np.ndarray) -> dict[str, float]:
        frame = external_scores(y[rows], risk[rows], surv[rows], horizons, tau=tau)
        return {_key(r.metric, r.horizon): float(r.value) for r in frame.itertuples()}

    reps = bootstrap_replicates(statistic, len(y), n_boot=n_boot, seed=seed)
    full = external_scores(y, risk, surv, horizons, tau=tau)
    out = []
    for r in full.itertuples():
        key = _key(r.metric, r.horizon)
        values = reps[key].to_numpy(dtype=float) if key in reps else np.full(len(reps), np.nan)
        ci = summarise(values, level)
        at = {} if np.isnan(r.horizon) else {"horizon": r.horizon}
        out += [
            {"metric": r.metric, "statistic": "lower", "value": ci["lower"], **at},
            {"metric": r.metric, "statistic": "upper", "value": ci["upper"], **at},
        ]
    return score_frame({"stage": EXTERNAL_STAGE, **row} for row in out)


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


def validate(model_uri: str, config: RunConfig, *, n_boot: int = 200) -> Validation:
    """Score the cohort ``config`` describes with the registered predictor ``model_uri``, compute
    every validation metric with its ``n_boot``-replicate bootstrap CI (seeded by the config's
    seed; 0 for none) and log them as a validation run (see the module)."""
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
    tau = config.evaluation.tau
    scores = external_scores(y, risk, surv, horizons, tau=tau)
    if n_boot:
        intervals = external_intervals(
            y, risk, surv, horizons, tau=tau, n_boot=n_boot, seed=config.seed
        )
        scores = pd.concat([scores, intervals], ignore_index=True)
    run_id, experiment_id = _log(client, name, version, config, cohort, horizons, scores, n_boot)
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
    n_boot: int,
) -> tuple[str, str]:
    experiment_id = setup_experiment(config.tracking, f"validate-{name}")
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
                "n_bootstrap": n_boot,
            }
        )
        mlflow.log_metrics(
            {
                _metric_name(r.metric, r.horizon)
                + ("" if r.statistic == "value" else f"_{r.statistic}"): float(r.value)
                for r in scores.itertuples()
                if np.isfinite(r.value)
            }
        )
        mlflow.log_table(cohort.flow_table(), "data/patient_flow.json")
    h = max(horizons)
    c = score_value(scores, stage=EXTERNAL_STAGE, metric="harrell_c")
    oe = score_value(scores, stage=EXTERNAL_STAGE, metric="calibration_oe", horizon=h)
    client.set_model_version_tag(
        name,
        version,
        VERSION_TAG_PREFIX + run.info.run_id,
        f"{cohort.source} ({len(cohort.table)} patients, {int(cohort.event.sum())} events): "
        f"Harrell's C {c:.3f}, O/E at {h:g} y {oe:.2f}",
    )
    return run.info.run_id, experiment_id
