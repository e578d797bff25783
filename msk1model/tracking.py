"""MLflow tracking: the only module that logs runs, params, metrics, tags and artefacts.

Layout of one ``msk1model train``:

* one MLflow experiment per config ``experiment`` name;
* one parent run (tag ``msk1model.role=train``) with the resolved config, the patient flow and
  the provenance tags;
* one child run per model and feature set (``msk1model.role=model``) with the best
  hyperparameters (``hp.*``), CV and test metrics, the tuning trials table and the model state;
* one grandchild run per Optuna trial (``msk1model.role=trial``) when ``tracking.log_trials``.

Scores arrive as tidy tables (:mod:`msk1model.scores`); :func:`mlflow_metrics` is the one place
where a score row becomes an MLflow metric name.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import subprocess
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import numpy.typing as npt
import optuna
import pandas as pd
import yaml
from matplotlib.figure import Figure
from mlflow.data.code_dataset_source import CodeDatasetSource
from mlflow.data.meta_dataset import MetaDataset
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from msk1model.config import RunConfig, TrackingConfig, config_hash
from msk1model.data.cohort import Cohort, table_fingerprint
from msk1model.errors import DataError, TrackingError
from msk1model.processes import this_process
from msk1model.scores import (
    CV_METRICS,
    DIRECTIONS,
    TEST_METRICS,
    TEST_METRICS_PER_HORIZON,
    TUNING_METRICS,
    horizon_label,
    score_frame,
)
from msk1model.store_lock import store_lock

__all__ = [
    "DEFAULT_TRACKING_URI",
    "TRACKED_PACKAGES",
    "champion_metric_name",
    "champion_metrics",
    "child_run",
    "download_report",
    "log_model_result",
    "log_parent_metrics",
    "log_report",
    "log_trials",
    "mlflow_metrics",
    "parent_run",
    "parent_scores",
    "provenance_tags",
    "resolve_tracking_uri",
    "setup_experiment",
    "tag_study",
]

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
#: Artefact folder of a run's report.
REPORT_ARTIFACTS = "report"
#: Other distributions of the same modules (xgboost without its CUDA libraries).
SAME_MODULES = {"xgboost": ("xgboost-cpu",)}
TRACKED_PACKAGES = (
    "msk1model",
    "numpy",
    "pandas",
    "scikit-learn",
    "scikit-survival",
    "xgboost",
    "optuna",
    "mlflow",
    "lifelines",
    "pydantic",
)


RunLevel = Literal["model", "train"]


#: Test metrics about calibration: logged under ``calibration/``, by these short names.
CALIBRATION_NAMES = {
    "calibration_slope": "slope",
    "calibration_oe": "oe",
    "ici": "ici",
    "e50": "e50",
    "e90": "e90",
    "d_calibration": "d_calibration",
}


#: Tag of a failed run: its error (type and message).
ERROR_TAG = "msk1model.error"
#: Tag of train and model runs: the process running them (``host:pid:start``), so that
#: ``msk1model runs --clean-stale`` can tell a run left RUNNING by a dead process.
PROCESS_TAG = "msk1model.process"


def mlflow_metrics(scores: pd.DataFrame, *, run: RunLevel) -> dict[str, float]:
    """Score rows as MLflow metrics ``{name: value}``, named for a ``model`` or ``train`` run.

    MLflow's chart view groups metrics by the part of the name before the first ``/``:

    - a model (child) run: ``cv/`` (``cv/harrell_c_mean``, ``cv/uno_c_sd``), ``test/``
      (``test/harrell_c``, ``test/auc_5y``, ``test/ibs``), ``calibration/`` (``slope_5y``,
      ``oe_5y``, ``ici_5y``, ``e50_5y``, ``e90_5y``, ``d_calibration_p``), ``tuning/``
      (``n_trials``, ``n_failed_trials``, a trial's ``objective``) and, with competing events,
      ``competing/`` (``cif_auc_5y``, ``cif_brier_5y``, ``cif_oe_5y``, ``wolbers_c``);
    - the train (parent) run: the exported model's numbers under ``selected/`` with its own
      run's names (``selected/test/harrell_c``), the added value of the biomarker per model
      family under ``added_value/`` (``added_value/coxnet.test_harrell_c``, with ``_lower``,
      ``_upper``, ``_p`` from the report), optimism-corrected values under ``optimism/``
      (``optimism/coxnet.harrell_c``) and the biomarker analyses under ``biomarker/``
      (``biomarker/hr_per_sd_multivariable_lower``, ``biomarker/lrt_p``).

    Rows of other models' cv and test scores are for their own runs: on a ``train`` run they
    must be the selected model's (the caller filters, :func:`parent_scores`).
    """
    out: dict[str, float] = {}
    for row in scores.itertuples(index=False):
        horizon = "" if _no_horizon(row.horizon) else f"_{horizon_label(row.horizon)}"
        statistic = "" if row.statistic == "value" else f"_{row.statistic}"
        stage, metric = str(row.stage), str(row.metric)
        if stage == "tuning":
            name = f"tuning/{metric}"
        elif stage == "biomarker":
            name = f"biomarker/{metric}{statistic}"
        elif stage in ("delta_cv", "delta_test", "delta_nested_cv", "delta_competing"):
            part = stage.removeprefix("delta_")
            name = f"added_value/{row.model}.{part}_{metric}{horizon}{statistic}"
        elif stage == "optimism_corrected":
            name = f"optimism/{row.model}.{metric}{horizon}{statistic}"
        else:
            group = "calibration" if stage == "test" and metric in CALIBRATION_NAMES else stage
            short = CALIBRATION_NAMES[metric] if group == "calibration" else metric
            own = f"{group}/{short}{horizon}{statistic}"
            name = own if run == "model" else f"selected/{own}"
        out[name] = float(row.value)
    return out


def parent_scores(scores: pd.DataFrame, model: str, feature_set: str) -> pd.DataFrame:
    """The rows of ``scores`` a train run logs: every row but the cv and test scores of models
    other than the selected ``model`` on ``feature_set`` (those are on their own runs)."""
    own = scores["stage"].isin(["cv", "test", "nested_cv", "competing"])
    chosen = (scores["model"] == model) & (scores["feature_set"] == feature_set)
    return scores[~own | chosen]


def _no_horizon(horizon: object) -> bool:
    return horizon is None or (isinstance(horizon, float) and math.isnan(horizon))


def _legacy_names(horizons: list[float]) -> dict[str, str]:
    """Old flat model-run metric name -> its ``group/`` name, for every champion metric."""
    frame = _champion_frame(horizons, "holdout")
    new = list(mlflow_metrics(frame, run="model"))
    old = [
        f"{r.stage}_{r.metric}"
        + ("" if _no_horizon(r.horizon) else f"_{horizon_label(r.horizon)}")
        + ("" if r.statistic == "value" else f"_{r.statistic}")
        for r in frame.itertuples(index=False)
    ]
    return dict(zip(old, new, strict=True))


def feature_set_key(feature_set: str) -> str:
    """MLflow-safe key of a feature set (``clinical+msk1`` -> ``clinical_msk1``)."""
    return feature_set.replace("+", "_")


def _champion_frame(horizons: list[float], scheme: str) -> pd.DataFrame:
    rows: list[dict[str, Any]] = [
        {"stage": "cv", "metric": m, "statistic": "mean", "value": 0.0} for m in CV_METRICS
    ]
    stage, statistic = ("nested_cv", "mean") if scheme == "nested_cv" else ("test", "value")
    rows += [{"stage": stage, "metric": m, "statistic": statistic} for m in TEST_METRICS]
    rows += [
        {"stage": stage, "metric": m, "horizon": h, "statistic": statistic}
        for m in TEST_METRICS_PER_HORIZON
        for h in horizons
    ]
    return score_frame({**r, "value": 0.0} for r in rows if r["metric"] in DIRECTIONS)


def champion_metrics(
    horizons: list[float], scheme: str = "holdout"
) -> dict[str, Literal["maximize", "minimize"]]:
    """Model-run metric names that can choose a champion, and which way is better: the test
    part's (``holdout``) or the outer folds' means (``nested_cv``), and the CV means."""
    frame = _champion_frame(horizons, scheme)
    names = mlflow_metrics(frame, run="model")
    return {name: DIRECTIONS[metric] for name, metric in zip(names, frame["metric"], strict=True)}


def champion_metric_name(name: str, horizons: list[float]) -> str:
    """``name`` as a current model-run metric name: an old flat name (``test_harrell_c``) is
    translated to its ``group/`` name (``test/harrell_c``); any other name is returned as is."""
    return _legacy_names(horizons).get(name, name)


def resolve_tracking_uri(tracking: TrackingConfig) -> str:
    """Config ``tracking.uri``, else ``$MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db``."""
    return tracking.uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def setup_experiment(tracking: TrackingConfig, experiment: str, description: str = "") -> str:
    """Point MLflow at the store and return the id of ``experiment`` (created if new), whose
    note (shown in the UI) becomes ``description`` when one is given."""
    uri = resolve_tracking_uri(tracking)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        # the first use creates (or migrates) an embedded store's tables, and the experiment:
        # one process at a time, so that runs started together all find one of each
        with store_lock(uri):
            MlflowClient().search_registered_models(max_results=1)  # both stores initialised
            found = mlflow.get_experiment_by_name(experiment)
            if found is None:
                location = tracking.artifact_location or _default_artifact_location(uri)
                mlflow.create_experiment(experiment, artifact_location=location)
        # nested (child and trial) runs go to the active experiment: make it this one
        experiment_id = str(mlflow.set_experiment(experiment).experiment_id)
        if description:
            MlflowClient().set_experiment_tag(experiment_id, "mlflow.note.content", description)
        return experiment_id
    except mlflow.exceptions.MlflowException as exc:
        raise TrackingError(f"MLflow store {uri} could not be used: {exc}") from None


def _default_artifact_location(uri: str) -> str | None:
    """``./mlruns`` for a local store; a server chooses its own."""
    if uri.startswith(("sqlite:", "file:")) or "://" not in uri:
        return (Path.cwd() / "mlruns").resolve().as_uri()
    return None


def provenance_tags(config: RunConfig, cohort: Cohort) -> dict[str, str]:
    """Data fingerprint, config hash, git commit and package versions of a run."""
    tags = {
        "msk1model.data_fingerprint": cohort.fingerprint,
        "msk1model.config_hash": config_hash(config),
        "msk1model.data_source": cohort.source,
        "version.python": platform.python_version(),
        **{f"version.{name}": _version(name) for name in TRACKED_PACKAGES},
    }
    commit, dirty = _git_state()
    if commit:
        tags["mlflow.source.git.commit"] = commit
        tags["msk1model.git_commit"] = commit
        tags["msk1model.git_dirty"] = str(dirty).lower()
    return tags


def _version(package: str) -> str:
    for distribution in (package, *SAME_MODULES.get(package, ())):
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"


def _git_state() -> tuple[str | None, bool]:
    """HEAD commit and dirty flag of the msk1model source tree, if it is a git checkout."""
    source = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=source,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None, False
    return commit, bool(status.strip())


@contextmanager
def parent_run(experiment_id: str, config: RunConfig, cohort: Cohort) -> Iterator[str]:
    """Start the parent run of a ``train``; see :func:`_ended` for how it ends."""
    with (
        mlflow.start_run(experiment_id=experiment_id, run_name=f"train-{config.experiment}") as run,
        _ended(),
    ):
        mlflow.set_tags(
            {
                "msk1model.role": "train",
                PROCESS_TAG: this_process(),
                **provenance_tags(config, cohort),
            }
        )
        if config.description:
            mlflow.set_tag("mlflow.note.content", config.description)
        mlflow.log_params(_run_params(config, cohort))
        mlflow.log_dict(config.model_dump(mode="json"), "config/resolved_config.yaml")
        mlflow.log_table(cohort.flow_table(), "data/patient_flow.json")
        yield run.info.run_id


@contextmanager
def _ended() -> Iterator[None]:
    """End the active run as KILLED when a signal or Ctrl-C stopped the body, as FAILED with
    the error in tag ``msk1model.error`` when it raised; MLflow ends it FINISHED otherwise."""
    try:
        yield
    except KeyboardInterrupt:  # interrupts.Interrupted: SIGTERM or Ctrl-C
        mlflow.end_run("KILLED")
        raise
    except Exception as exc:
        with suppress(Exception):  # the store may be what failed: the run still ends
            mlflow.set_tag(ERROR_TAG, _error_text(exc))
        mlflow.end_run("FAILED")
        raise


def _error_text(exc: Exception) -> str:
    """What a failed run keeps of its error: the type and message, except a data error's
    message, which may name patients (it stays in the analyst's terminal)."""
    if isinstance(exc, DataError):
        return "DataError (the message, which may name patients, is in the terminal only)"
    return f"{type(exc).__name__}: {exc}"[:5000]


def _run_params(config: RunConfig, cohort: Cohort) -> dict[str, Any]:
    return {
        "seed": config.seed,
        "data.source": cohort.source,
        "data.subgroup": yaml.safe_dump(config.data.subgroup, default_flow_style=True).strip(),
        "data.n_patients": len(cohort.table),
        "data.n_events": int(cohort.event.sum()),
        "data.covariates": ",".join(cohort.covariates),
        "data.biomarker": cohort.biomarker,
        "split.test_size": config.split.test_size,
        "split.cv_folds": config.split.cv_folds,
        "tuning.n_trials": config.tuning.n_trials,
        "tuning.sampler": config.tuning.sampler,
        "tuning.metric": config.tuning.metric,
        "evaluation.horizons": ",".join(f"{h:g}" for h in config.evaluation.horizons),
        "evaluation.uno_tau": config.evaluation.tau,
        **(
            {
                "evaluation.scheme": "nested_cv",
                "evaluation.outer_folds": config.evaluation.outer_folds,
                "evaluation.repeats": config.evaluation.repeats,
            }
            if config.evaluation.scheme == "nested_cv"
            else {}
        ),
    }


#: MLflow keeps at most 36 characters of a dataset digest: the fingerprint's first 32 hex digits.
DIGEST_LENGTH = 32


class CohortDataset(MetaDataset):
    """A part of the analysed cohort as MLflow sees it: name, source, digest, schema and a
    profile (patients and events), never its rows."""

    def __init__(
        self, source: CodeDatasetSource, *, name: str, digest: str, schema: Any, profile: Any
    ) -> None:
        super().__init__(source, name=name, digest=digest, schema=schema)
        self._profile = profile

    @property
    def profile(self) -> Any:
        return self._profile

    def to_dict(self) -> dict[str, str]:
        return {**super().to_dict(), "profile": json.dumps(self._profile)}


def _schema_sample(table: pd.DataFrame, rows: int = 10_000) -> pd.DataFrame:
    """The rows MLflow infers a schema from: the first ``rows`` and, per column with a missing
    value, its first such row (so optional columns stay optional). The types come from the
    dtypes; inferring on 10^6 rows took 8 s a part."""
    missing = table.isna()
    extra = [int(missing[c].to_numpy().argmax()) for c in table.columns if missing[c].any()]
    return pd.concat([table.iloc[:rows], table.iloc[extra]])


def log_datasets(cohort: Cohort, parts: Mapping[str, npt.ArrayLike | None]) -> None:
    """The analysed cohort's parts as MLflow datasets of the active run: name, source, digest
    (the part's fingerprint, its first 32 hex digits; the whole one as the input's tag
    ``msk1model.data_fingerprint``) and schema; never a row.

    ``parts`` maps an input context (``cohort``, ``training``, ``test``) to row positions, or
    None for the whole table.
    """
    source = CodeDatasetSource(tags={"msk1model.data_source": cohort.source})
    for context, rows in parts.items():
        table = cohort.table if rows is None else cohort.table.iloc[np.asarray(rows, dtype=int)]
        fingerprint = table_fingerprint(table)
        with warnings.catch_warnings():  # its hint on integer columns is about model inputs
            warnings.simplefilter("ignore", UserWarning)
            schema = infer_signature(_schema_sample(table)).inputs
        dataset = CohortDataset(
            source,
            name=f"{cohort.source} ({context})",
            digest=fingerprint[:DIGEST_LENGTH],
            schema=schema,
            profile={"patients": len(table), "events": int(table["event"].sum())},
        )
        mlflow.log_input(dataset, context=context, tags={"msk1model.data_fingerprint": fingerprint})


@contextmanager
def child_run(model_name: str, kind: str, feature_set: str, features: list[str]) -> Iterator[str]:
    """A nested run for one model on one feature set; see :func:`_ended` for how it ends."""
    with mlflow.start_run(run_name=f"{model_name} | {feature_set}", nested=True) as run, _ended():
        mlflow.set_tags(
            {
                "msk1model.role": "model",
                PROCESS_TAG: this_process(),
                "msk1model.model_name": model_name,
                "msk1model.feature_set": feature_set,
            }
        )
        mlflow.log_params(
            {"model.kind": kind, "feature_set": feature_set, "features": ",".join(features)}
        )
        yield run.info.run_id


def log_model_result(
    best_params: Mapping[str, Any],
    scores: pd.DataFrame,
    trials: pd.DataFrame,
    model_dir: Path,
) -> None:
    """Log the best hyperparameters, scores, trials table and model state to the active run."""
    mlflow.log_params({f"hp.{k}": v for k, v in best_params.items()})
    mlflow.log_metrics(mlflow_metrics(scores, run="model"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trials.csv"
        trials.to_csv(path, index=False)
        mlflow.log_artifact(str(path), "tuning")
    mlflow.log_artifacts(str(model_dir), "model_state")


def log_table(frame: pd.DataFrame, artifact_file: str) -> None:
    """Log a table (no patient rows: sizes, names and scores) as a CSV artefact of the active
    run."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(artifact_file).name
        frame.to_csv(path, index=False)
        mlflow.log_artifact(str(path), str(Path(artifact_file).parent))


def tag_study(study_name: str, storage: str) -> None:
    """Tag the active run with its Optuna study, so ``optuna-dashboard STORAGE`` finds it."""
    mlflow.set_tags({"optuna.study_name": study_name, "optuna.storage": storage})


def set_run_note(text: str) -> None:
    """The active run's note (its overview in the MLflow UI), Markdown."""
    mlflow.set_tag("mlflow.note.content", text)


def log_figures(figures: Mapping[str, Figure], folder: str = "figures") -> None:
    """Log matplotlib figures to the active run under ``folder/`` and close them."""
    for name, fig in figures.items():
        mlflow.log_figure(fig, f"{folder}/{name}")
        plt.close(fig)


def log_report(directory: Path) -> None:
    """Log a written report folder (report.html, document.json, figures/) as ``report/``."""
    mlflow.log_artifacts(str(directory), REPORT_ARTIFACTS)


def download_report(run_id: str, destination: Path) -> Path:
    """Download a run's ``report/`` artefacts into ``destination``; return the folder."""
    try:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=REPORT_ARTIFACTS, dst_path=str(destination)
        )
    except MlflowException as exc:
        raise TrackingError(
            f"run {run_id!r} has no report artefacts in {mlflow.get_tracking_uri()} "
            f"({str(exc).splitlines()[0]}). Fix: check the run id and MLFLOW_TRACKING_URI; runs "
            "with report.enabled false have no report"
        ) from None
    return Path(path)


def log_parent_metrics(scores: pd.DataFrame) -> None:
    """Scores of the whole run (per-model headlines, added value of MSK1, report headlines)."""
    mlflow.log_metrics(mlflow_metrics(scores, run="train"))


def log_trials(trials: Sequence[optuna.trial.FrozenTrial]) -> None:
    """Log the finished trials of a study as nested runs of the active (model) run.

    Each run is timed by Optuna (the UI's durations and timeline are real, whichever process
    ran the trial) and holds the trial's hyperparameters (``hp.<name>``), its state (tag
    ``optuna.state``: COMPLETE, PRUNED or FAIL), its objective, its per-fold scores as steps of
    ``cv/<metric>_fold`` and their mean, and a failed trial's error.
    """
    parent = mlflow.active_run()
    if parent is None:
        raise TrackingError("trials are logged as nested runs, but no MLflow run is active")
    client = MlflowClient()
    for trial in sorted(trials, key=lambda t: t.number):
        if trial.state.is_finished():
            _log_trial(client, parent.info, trial)


def _log_trial(client: MlflowClient, parent: Any, trial: optuna.trial.FrozenTrial) -> None:
    run = client.create_run(
        parent.experiment_id,
        start_time=_millis(trial.datetime_start),
        tags={
            "mlflow.parentRunId": parent.run_id,
            "mlflow.runName": f"trial-{trial.number:03d}",
            "msk1model.role": "trial",
            "optuna.state": trial.state.name,
            "optuna.trial_number": str(trial.number),
        },
        run_name=f"trial-{trial.number:03d}",
    )
    run_id, failed = run.info.run_id, True
    try:
        client.log_batch(
            run_id,
            params=[Param(f"hp.{k}", str(v)) for k, v in trial.params.items()],
            metrics=_trial_metrics(trial),
        )
        if "error" in trial.user_attrs:
            client.set_tag(run_id, ERROR_TAG, str(trial.user_attrs["error"])[:5000])
        failed = False
    finally:
        client.set_terminated(
            run_id, "FAILED" if failed else "FINISHED", end_time=_millis(trial.datetime_complete)
        )


def _millis(moment: datetime.datetime | None) -> int:
    """Milliseconds since the epoch of an Optuna time (naive local time), now when None."""
    return int((moment or datetime.datetime.now()).timestamp() * 1000)


def _trial_metrics(trial: optuna.trial.FrozenTrial) -> list[Metric]:
    """The objective (complete trials), each fold's score as a step and the folds' mean."""
    now = _millis(trial.datetime_complete)
    rows: list[dict[str, Any]] = []
    if trial.value is not None and trial.state == optuna.trial.TrialState.COMPLETE:
        rows.append({"stage": "tuning", "metric": "objective", "value": float(trial.value)})
    folds: dict[str, list[float]] = {}
    for name in TUNING_METRICS:
        folds[name] = list(trial.user_attrs.get(f"fold_{name}", []))
        if folds[name]:
            mean = float(sum(folds[name]) / len(folds[name]))
            rows.append({"stage": "cv", "metric": name, "statistic": "mean", "value": mean})
    metrics = [
        Metric(k, v, now, 0) for k, v in mlflow_metrics(score_frame(rows), run="model").items()
    ]
    for name, values in folds.items():
        metrics += [Metric(f"cv/{name}_fold", float(v), now, k) for k, v in enumerate(values)]
    return metrics


def runs_in_state(experiment_id: str, state: str) -> list[str]:
    """Run ids in ``state`` (e.g. RUNNING) of an experiment; used by tests and diagnostics."""
    runs = MlflowClient().search_runs(
        [experiment_id], filter_string=f"attributes.status = '{state}'"
    )
    return [r.info.run_id for r in runs]
