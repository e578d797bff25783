"""One training run, top to bottom.

config -> data -> split -> tune/fit -> evaluate -> track -> export.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from msk1model import interrupts, tracking
from msk1model.config import ModelConfig, RunConfig, config_hash, log2_offset
from msk1model.data.cohort import Cohort, load_cohort
from msk1model.evaluation.report import write_report
from msk1model.evaluation.scorecard import horizon_label, score_test_set
from msk1model.export import Registration, log_predictor, register_predictor
from msk1model.models import Design, DesignSpec, SurvivalModel, make_model, structured_y
from msk1model.reporting import report_document, report_metrics, run_analyses
from msk1model.splitting import Split, make_split
from msk1model.tuning import tune

__all__ = [
    "ModelOutcome",
    "Progress",
    "RunResult",
    "design_spec",
    "feature_set_key",
    "planned_steps",
    "run",
]

#: ``progress(steps_done, description)``: called as the run advances (for a progress bar).
Progress = Callable[[int, str], None]


@dataclass(frozen=True)
class ModelOutcome:
    """One model family fitted on one feature set."""

    model_name: str
    kind: str
    feature_set: str
    run_id: str
    best_params: dict[str, Any]
    metrics: dict[str, float]
    model: SurvivalModel


@dataclass(frozen=True)
class RunResult:
    """What ``train`` did: the MLflow run, every model's metrics and the registered version."""

    run_id: str
    experiment_id: str
    cohort: Cohort
    split: Split
    outcomes: tuple[ModelOutcome, ...]
    selected: ModelOutcome
    model_uri: str
    registration: Registration | None
    horizon: float  # the last evaluation horizon (years), shown in the summary
    report_path: Path | None  # the HTML report (None when report.enabled is false)

    def summary(self) -> pd.DataFrame:
        """One row per model and feature set with the headline metrics."""
        rows = []
        h = horizon_label(self.horizon)
        for o in self.outcomes:
            m = o.metrics
            rows.append(
                {
                    "model": o.model_name,
                    "features": o.feature_set,
                    "cv_harrell_c": f"{m['cv_harrell_c_mean']:.3f}±{m['cv_harrell_c_sd']:.3f}",
                    "cv_uno_c": f"{m['cv_uno_c_mean']:.3f}±{m['cv_uno_c_sd']:.3f}",
                    "test_harrell_c": round(m["test_harrell_c"], 3),
                    "test_uno_c": round(m["test_uno_c"], 3),
                    f"test_auc_{h}": round(m[f"test_auc_{h}"], 3),
                    f"test_ipa_{h}": round(m[f"test_ipa_{h}"], 3),
                    f"cal_slope_{h}": round(m[f"test_calibration_slope_{h}"], 2),
                    "selected": "yes" if o is self.selected else "",
                }
            )
        return pd.DataFrame(rows)


def feature_set_key(feature_set: str) -> str:
    """MLflow-safe key of a feature set (``clinical+msk1`` -> ``clinical_msk1``)."""
    return feature_set.replace("+", "_")


def design_spec(config: RunConfig, cohort: Cohort) -> DesignSpec:
    """How the features enter every model: categorical covariates and the biomarker's form."""
    marker = config.biomarker
    return DesignSpec(
        biomarker=cohort.biomarker,
        transform=marker.transform,
        offset=marker.offset,
        spline_knots=marker.spline_knots,
        interaction=marker.interaction,
        categorical=tuple(config.data.categorical),
    )


def planned_steps(config: RunConfig) -> int:
    """Progress steps of a run: one per trial and one per final fit, per model and feature set."""
    per_set = sum(_n_trials(config, m) + 1 for m in config.models.values())
    return per_set * len(config.feature_sets)


def _n_trials(config: RunConfig, model: ModelConfig) -> int:
    return (model.n_trials or config.tuning.n_trials) if model.search_space else 1


def run(config: RunConfig, progress: Progress | None = None) -> RunResult:
    """Train, evaluate, track and export every model the config names.

    Data and config problems raise before any MLflow run starts; a failure after that ends the
    runs as FAILED, leaving earlier runs and registered versions untouched.
    """
    notify = progress or (lambda _n, _d: None)
    cohort = load_cohort(config.data, config.split, config.seed, log2_offset(config))
    split = make_split(cohort.event, config.split.test_size, config.split.cv_folds, config.seed)
    design = design_spec(config, cohort)
    for feature_set in config.feature_sets:  # a transform the data cannot take fails here, early
        Design(cohort.features(feature_set), design).fit(cohort.table.iloc[split.train])
    experiment_id = tracking.setup_experiment(config.tracking, config.experiment)
    with tracking.parent_run(experiment_id, config, cohort) as run_id:
        outcomes = tuple(
            _fit_one(config, cohort, split, design, name, model_cfg, feature_set, notify)
            for feature_set in config.feature_sets
            for name, model_cfg in config.models.items()
        )
        tracking.log_parent_metrics(_parent_metrics(outcomes))
        selected = _select(outcomes, f"cv_{config.tuning.metric}_mean")
        report_path = (
            _report(config, cohort, split, design, outcomes, selected, run_id)
            if config.report.enabled
            else None
        )
        interrupts.checkpoint()  # a signal that came while logging stops the run before export
        model_uri, registration = _export(config, cohort, selected)
    return RunResult(
        run_id,
        experiment_id,
        cohort,
        split,
        outcomes,
        selected,
        model_uri,
        registration,
        max(config.evaluation.horizons),
        report_path,
    )


def _fit_one(
    config: RunConfig,
    cohort: Cohort,
    split: Split,
    design: DesignSpec,
    name: str,
    model_cfg: ModelConfig,
    feature_set: str,
    notify: Progress,
) -> ModelOutcome:
    features = cohort.features(feature_set)
    table, time, event = cohort.table, cohort.time, cohort.event
    train, test = split.train, split.test
    label = f"{name} | {feature_set}"
    tau = config.evaluation.tau
    with tracking.child_run(name, model_cfg.kind, feature_set, features) as run_id:
        result = tune(
            model_cfg,
            features,
            table.iloc[train],
            event[train],
            time[train],
            split.folds,
            config.tuning,
            tau,
            config.seed,
            callbacks=[
                *tracking.trial_logger(config.tracking.log_trials),
                lambda _s, t: notify(1, f"{label}: trial {t.number + 1}"),
            ],
            design=design,
        )
        with interrupts.compute():
            model = make_model(model_cfg.kind, features, result.best_params, config.seed, design)
            model.fit(table.iloc[train], structured_y(event[train], time[train]))
            test_metrics = score_test_set(
                model,
                table.iloc[test],
                time[train],
                event[train],
                time[test],
                event[test],
                list(config.evaluation.horizons),
                tau,
            )
            metrics = {
                **result.cv.summary(),
                **test_metrics,
                "n_trials": float(result.n_trials),
                "n_failed_trials": float(result.n_failed),
            }
        with tempfile.TemporaryDirectory() as tmp:
            tracking.log_model_result(result.best_params, metrics, result.trials, model.save(tmp))
        notify(1, f"{label}: final fit")
    return ModelOutcome(
        name, model_cfg.kind, feature_set, run_id, result.best_params, metrics, model
    )


def _report(
    config: RunConfig,
    cohort: Cohort,
    split: Split,
    design: DesignSpec,
    outcomes: tuple[ModelOutcome, ...],
    selected: ModelOutcome,
    run_id: str,
) -> Path:
    """Run the report's analyses, write it to ``report.output_dir/<run id>/`` and log it."""
    with interrupts.compute():
        analyses = run_analyses(config, cohort, split, design, outcomes, selected)
        provenance = tracking.provenance_tags(config, cohort)
        shown = {k: v for k, v in provenance.items() if k.startswith(("msk1model.git", "version."))}
        document = report_document(config, cohort, outcomes, selected, analyses, run_id, shown)
    out_dir = Path(config.report.output_dir) / run_id
    html = write_report(document, out_dir)
    tracking.log_report(out_dir)
    tracking.log_parent_metrics(report_metrics(analyses, selected))
    return html


def _parent_metrics(outcomes: tuple[ModelOutcome, ...]) -> dict[str, float]:
    """Per-model headline metrics and the added value of MSK1 (clinical+msk1 minus clinical)."""
    out: dict[str, float] = {}
    by_key = {(o.model_name, o.feature_set): o for o in outcomes}
    for o in outcomes:
        headline = [m for m in o.metrics if m in _SUMMARY_METRICS or m.startswith(_DELTA_PREFIXES)]
        for metric in headline:
            out[f"{o.model_name}.{feature_set_key(o.feature_set)}.{metric}"] = o.metrics[metric]
        baseline = by_key.get((o.model_name, "clinical"))
        if o.feature_set == "clinical+msk1" and baseline is not None:
            for metric in headline:
                if metric != "cv_uno_c_mean":
                    out[f"{o.model_name}.delta_{metric}"] = (
                        o.metrics[metric] - baseline.metrics[metric]
                    )
    return out


_SUMMARY_METRICS = (
    "cv_harrell_c_mean",
    "cv_uno_c_mean",
    "test_harrell_c",
    "test_uno_c",
    "test_ibs",
)
_DELTA_PREFIXES = ("test_auc_", "test_brier_", "test_ipa_")


def _select(outcomes: tuple[ModelOutcome, ...], metric: str) -> ModelOutcome:
    """The clinical+msk1 model with the best CV metric (the test set plays no part)."""
    candidates = [o for o in outcomes if o.feature_set == "clinical+msk1"]
    return max(candidates, key=lambda o: o.metrics[metric])


def _export(
    config: RunConfig, cohort: Cohort, selected: ModelOutcome
) -> tuple[str, Registration | None]:
    meta = {
        "model_name": selected.model_name,
        "kind": selected.kind,
        "feature_set": selected.feature_set,
        "features": selected.model.features,
        "time_unit": "years",
        "data_fingerprint": cohort.fingerprint,
        "config_hash": config_hash(config),
    }
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = selected.model.save(Path(tmp) / "model_state")
        example = cohort.table.head(5)
        model_uri = log_predictor(
            selected.model, model_dir, example, list(config.evaluation.horizons), meta
        )
    if not config.export.register_model:
        return model_uri, None
    tags = {
        "msk1model.model_name": selected.model_name,
        "msk1model.kind": selected.kind,
        "msk1model.data_fingerprint": cohort.fingerprint,
        "msk1model.source_run": selected.run_id,
    }
    registration = register_predictor(
        model_uri,
        config.export.model_name,
        config.export.alias,
        {k: float(v) for k, v in selected.metrics.items() if np.isfinite(v)},
        config.export.champion_metric,
        tags,
    )
    return model_uri, registration
