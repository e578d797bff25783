"""The exported predictor, training side: freeze, log, seal and register it.

The predictor is an MLflow pyfunc "model from code". Its entry point is the integrity verifier
(:func:`msk1model.integrity.entry_source`) followed by the load of :mod:`msk1model.predictor`;
the scoring code (:data:`~msk1model.predictor.SHIPPED_MODULES`) travels as code and the fitted
model as data (JSON state and XGBoost JSON), so nothing is pickled. After logging, a SHA-256
manifest of every file is added (:func:`msk1model.integrity.write_manifest`); the entry point
checks it before any shipped code runs. What a downstream tool gets is described in
:mod:`msk1model.predictor`.

The logged input example is synthetic (training quartiles, never a patient). The signature has
outputs and params but no input schema: the input contract is the schema, checked first, with
messages that name columns and row positions but never a patient's value (MLflow's own schema
errors print input rows); the features are listed in the model's metadata and card. The recorded
requirements are what loading and scoring import, in their lean distributions
(``mlflow-skinny``, ``xgboost-cpu``).
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Literal

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import LoggedModelOutput, LoggedModelStatus, Metric
from mlflow.exceptions import MlflowException
from mlflow.models import Model, ModelSignature, infer_signature
from mlflow.tracking import MlflowClient
from mlflow.types.schema import ParamSchema, ParamSpec

from msk1model import __version__, integrity
from msk1model.card import ModelCard
from msk1model.errors import ExportError, HorizonWarning
from msk1model.evaluation.cutpoints import cutpoint_values
from msk1model.models import CompetingRisksModel, SurvivalModel, save_model
from msk1model.outcome import as_y
from msk1model.predictor import (
    CURVE_STEP,
    PREDICTOR_META,
    SHIPPED_MODULES,
    PredictorSpec,
    RiskGroups,
    score_frame,
)

__all__ = [
    "CARD_HTML",
    "CARD_MARKDOWN",
    "COHORT_TAG",
    "ENDPOINT_TAG",
    "KIND_REQUIREMENTS",
    "RUNTIME_REQUIREMENTS",
    "Registration",
    "flat_metric_name",
    "follow_up_limit",
    "log_predictor",
    "predictor_horizons",
    "register_predictor",
    "risk_groups",
    "runtime_requirements",
    "version_tags",
]

#: What loading and scoring import: (import name, distribution the predictor requires). The
#: lean distributions give the same modules: mlflow-skinny has no tracking server or UI,
#: xgboost-cpu no CUDA libraries. scikit-learn and SciPy (about 200 MB) are needed to fit,
#: not to score (:mod:`msk1model.models._lean`); XGBoost (which imports SciPy) only by the
#: kinds in :data:`KIND_REQUIREMENTS`.
RUNTIME_REQUIREMENTS = (
    ("mlflow", "mlflow-skinny"),
    ("numpy", "numpy"),
    ("pandas", "pandas"),
)
KIND_REQUIREMENTS = {
    "xgb_cox": (("xgboost", "xgboost-cpu"),),
    "xgb_aft": (("xgboost", "xgboost-cpu"),),
}
#: Distributions that give the same modules, so pin a requirement's version when it is absent.
_SAME_MODULES = {"mlflow-skinny": "mlflow", "xgboost-cpu": "xgboost"}
METRIC_TAG_PREFIX = "metric."
#: Version tags that say what a model predicts and for whom; a champion is replaced only by a
#: version with the same values.
ENDPOINT_TAG = "msk1model.endpoint"
COHORT_TAG = "msk1model.cohort"
#: The model card's files, beside the model's files (and its Markdown as the version's
#: description).
CARD_MARKDOWN = "model_card.md"
CARD_HTML = "model_card.html"
DEFAULT_LABELS = {2: ("low", "high"), 3: ("low", "intermediate", "high")}


def runtime_requirements(kind: str) -> list[str]:
    """The pip requirements of a predictor of model ``kind``, pinned to the versions here."""
    needed = (*RUNTIME_REQUIREMENTS, *KIND_REQUIREMENTS.get(kind, ()))
    return [f"{dist}=={_installed_version(dist)}" for _, dist in needed]


def _installed_version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return metadata.version(_SAME_MODULES[dist])


def follow_up_limit(y_train: np.ndarray) -> float:
    """The training follow-up in years (largest observed time), floored to two significant
    figures so that no patient's exact time is stored: the predictor's longest horizon."""
    t = float(np.max(as_y(y_train)["time"]))
    digits = 1 - math.floor(math.log10(t))
    return math.floor(t * 10.0**digits) / 10.0**digits


def predictor_horizons(horizons: Sequence[float], limit: float) -> list[float]:
    """The configured horizons the predictor outputs: those within the training follow-up
    ``limit``; the others are dropped with a :class:`HorizonWarning`.

    Raises
    ------
    ExportError
        If no horizon lies within the follow-up.
    """
    kept = [float(h) for h in horizons if h <= limit]
    dropped = [float(h) for h in horizons if h > limit]
    if not kept:
        raise ExportError(
            f"every horizon {dropped} lies beyond the training follow-up ({limit:g} years), so "
            "the predictor could output none. Fix: set evaluation.horizons within it"
        )
    if dropped:
        warnings.warn(
            f"horizon(s) {dropped} lie beyond the training follow-up ({limit:g} years); the "
            f"predictor outputs {kept} only (the metrics there were clipped)",
            HorizonWarning,
            stacklevel=2,
        )
    return kept


def risk_groups(
    model: SurvivalModel,
    X_train: pd.DataFrame,
    *,
    cut: Literal["median", "tertiles", "report"],
    labels: Sequence[str] | None,
    biomarker: str,
    report_cutpoint: str | float,
) -> RiskGroups:
    """The predictor's risk groups, frozen on the training rows.

    ``median``/``tertiles``: of the model's training risk scores, ``labels`` lowest risk first;
    ``report``: the biomarker at the report's pre-specified cutpoint, each group labelled by
    the rank of its mean training risk score (so low MSK1 reads "high" when it is riskier).
    """
    risk = model.predict(X_train)
    if cut == "report":
        on, values = biomarker, X_train[biomarker].to_numpy(dtype=float)
        cuts = cutpoint_values(values, report_cutpoint)
    else:
        on, values = "risk_score", risk
        cuts = cutpoint_values(values, cut)
    names = tuple(labels) if labels else DEFAULT_LABELS[len(cuts) + 1]
    if len(names) != len(cuts) + 1:
        raise ExportError(
            f"export.risk_groups.labels needs {len(cuts) + 1} labels for cut {cut!r}, but got "
            f"{list(names)}. Fix: give one label per group, lowest risk first"
        )
    if on != "risk_score":
        group = np.searchsorted(cuts, values, side="left")
        mean_risk = [float(np.mean(risk[group == g])) for g in range(len(cuts) + 1)]
        names = tuple(names[rank] for rank in np.argsort(np.argsort(mean_risk)))
    return RiskGroups(on, tuple(float(c) for c in cuts), names)


def log_predictor(
    model: SurvivalModel | CompetingRisksModel,
    spec: PredictorSpec,
    card: ModelCard | None = None,
    *,
    source_run_id: str | None = None,
) -> str:
    """Log the predictor of ``model`` as a logged model and return its URI.

    Its source run is ``source_run_id`` (the run that trained and scored the model; default:
    the active run), and it carries that run's metrics only (as ``mlflow.log_model`` links a
    run's metrics to the model it logs).

    The model is saved locally, its ``card`` (Markdown and HTML) added beside its files, the
    manifest of every file written, and only then uploaded: what is stored is sealed. (MLflow's
    ``log_model`` would upload before the manifest exists and try to load the unsealed model.)
    """
    example = spec.contract.example()
    output = infer_signature(example, score_frame(model, spec, example, {})).outputs
    params = ParamSchema(
        [
            ParamSpec("horizons", "double", [], (-1,)),
            ParamSpec("output", "string", "table"),
            ParamSpec("curve_step", "double", CURVE_STEP),
        ]
    )
    # No input schema: the input contract is the predictor's schema, checked by its own code
    # with messages that never hold a value (MLflow's enforcement error prints the input rows,
    # and checking "any"-typed columns value by value took 150 ms for 10,000 patients).
    signature = ModelSignature(inputs=None, outputs=output, params=params)
    active = mlflow.active_run()
    run_id = source_run_id or (None if active is None else active.info.run_id)
    logged = mlflow.initialize_logged_model(name="predictor", source_run_id=run_id)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            entry = folder / "entry" / "predictor_entry.py"
            entry.parent.mkdir()
            entry.write_text(integrity.entry_source(), encoding="utf-8")
            local = folder / "predictor"
            mlflow.pyfunc.save_model(
                path=str(local),
                mlflow_model=Model(
                    artifact_path=logged.artifact_location,
                    run_id=run_id,
                    model_uuid=logged.model_id,
                    model_id=logged.model_id,
                ),
                python_model=str(entry),
                artifacts={
                    "model_state": str(save_model(model, folder / "model_state")),
                    "predictor_meta": str(spec.write(folder / PREDICTOR_META)),
                },
                code_paths=[str(_shipped_code(folder / "code" / "msk1model"))],
                signature=signature,
                input_example=example,
                pip_requirements=runtime_requirements(_family(model)),
                metadata={"features": list(model.features_), **spec.meta},
            )
            _seal(local, card)
            client = MlflowClient()
            client.log_model_artifacts(logged.model_id, str(local))
            if run_id is not None:
                client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, step=0)])
                _link_metrics(client, run_id, logged.model_id)
    except BaseException:
        mlflow.finalize_logged_model(logged.model_id, LoggedModelStatus.FAILED)
        raise
    mlflow.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
    return f"models:/{logged.model_id}"


def _family(model: SurvivalModel | CompetingRisksModel) -> str:
    """The model family whose requirements the predictor needs (a pair: its models')."""
    return model.cause.kind if isinstance(model, CompetingRisksModel) else model.kind


def _link_metrics(client: MlflowClient, run_id: str, model_id: str) -> None:
    """The run's latest metrics, logged again with the model's id (shown on the model's page)."""
    run = client.get_run(run_id)
    now = int(time.time() * 1000)
    metrics = [
        Metric(key, value, now, 0, model_id=model_id, run_id=run_id)
        for key, value in run.data.metrics.items()
    ]
    for start in range(0, len(metrics), 1000):  # MLflow's batch limit
        client.log_batch(run_id, metrics=metrics[start : start + 1000])


def _seal(folder: Path, card: ModelCard | None) -> None:
    """Add the model card to the saved model ``folder``, then the manifest of every file."""
    if card is not None:
        (folder / CARD_MARKDOWN).write_text(card.markdown(), encoding="utf-8")
        (folder / CARD_HTML).write_text(card.html(), encoding="utf-8")
    integrity.write_manifest(folder)


#: Left out of the shipped folders: caches, and the fit-time solvers (they need numba).
_NOT_SHIPPED = ("__pycache__", "*.pyc", "cox_newton.py", "coxnet_path.py", "fine_gray.py")


def _shipped_code(target: Path) -> Path:
    """A copy of the package files the predictor needs to load and score."""
    source = Path(__file__).resolve().parent
    target.mkdir(parents=True)
    for name in SHIPPED_MODULES:
        if (source / name).is_dir():
            shutil.copytree(
                source / name, target / name, ignore=shutil.ignore_patterns(*_NOT_SHIPPED)
            )
        else:
            shutil.copy2(source / name, target / name)
    return target


@dataclass(frozen=True)
class Registration:
    """Outcome of registering a predictor version."""

    name: str
    version: str
    promoted: bool
    previous_champion: str | None
    reason: str


def version_tags(
    *,
    endpoint: str,
    cohort: str,
    data_fingerprint: str,
    config_hash: str,
    git_commit: str | None,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The provenance tags of a registered version; ``endpoint`` and ``cohort`` (definition)
    decide whether it may replace the champion."""
    return {
        ENDPOINT_TAG: endpoint,
        COHORT_TAG: cohort,
        "msk1model.data_fingerprint": data_fingerprint,
        "msk1model.config_hash": config_hash,
        "msk1model.git_commit": git_commit or "unknown (not a git checkout)",
        "msk1model.version": __version__,
        **(extra or {}),
    }


def register_predictor(
    model_uri: str,
    name: str,
    alias: str,
    metrics: dict[str, float],
    *,
    champion_metric: str,
    higher_is_better: bool = True,
    tags: dict[str, str],
    description: str | None = None,
) -> Registration:
    """Register ``model_uri`` as a new version of ``name``; move ``alias`` if it is better.

    The version is created with ``tags``, every metric (MLflow names, from
    :func:`msk1model.tracking.mlflow_metrics`) as a ``metric.<name>`` tag and ``description``
    (the model card). It becomes the champion when no champion exists, or when the champion was
    trained on the same endpoint and cohort definition (``tags``' :data:`ENDPOINT_TAG` and
    :data:`COHORT_TAG`) and ``champion_metric`` beats it (higher, or lower when not
    ``higher_is_better``); otherwise the champion stays and :attr:`Registration.reason` says why.
    """
    client = MlflowClient()
    every_tag = {**tags, **{METRIC_TAG_PREFIX + k: repr(v) for k, v in metrics.items()}}
    try:
        # the version is created with its tags in one step: a process killed at any point
        # leaves either no version or one with its lineage and metrics (never a bare one)
        version = mlflow.register_model(
            model_uri, name, await_registration_for=60, tags=every_tag
        ).version
        if description:
            client.update_model_version(name, version, description=description)
        previous = _current_alias(client, name, alias)
        promoted, reason = _is_better(
            client,
            name,
            previous,
            tags,
            metrics[champion_metric],
            champion_metric,
            higher_is_better,
        )
        if promoted:
            client.set_registered_model_alias(name, alias, version)
    except MlflowException as exc:
        raise ExportError(f"registering {model_uri} as {name!r} failed: {exc}") from None
    return Registration(name, str(version), promoted, previous, reason)


def flat_metric_name(metric: str) -> str:
    """``test/harrell_c`` -> ``test_harrell_c``, ``calibration/ici_5y`` -> ``test_ici_5y``: the
    name a model-run metric had before the ``group/`` names."""
    group, _, rest = metric.partition("/")
    if group == "calibration":
        short = {"slope": "calibration_slope", "oe": "calibration_oe"}
        head, sep, tail = rest.partition("_")
        return "test_" + (short[head] + sep + tail if head in short else rest)
    return f"{group}_{rest}"


def _current_alias(client: MlflowClient, name: str, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def _is_better(
    client: MlflowClient,
    name: str,
    previous: str | None,
    tags: dict[str, str],
    new: float,
    metric: str,
    higher_is_better: bool,
) -> tuple[bool, str]:
    if previous is None:
        return True, f"no previous champion; {metric}={new:.4f}"
    old_tags = client.get_model_version(name, previous).tags
    for tag, what in ((ENDPOINT_TAG, "endpoint"), (COHORT_TAG, "cohort definition")):
        if old_tags.get(tag) != tags.get(tag):
            return False, (
                f"champion v{previous} was trained on another {what} "
                f"({old_tags.get(tag, 'not recorded')!r}, this version: "
                f"{tags.get(tag, 'not recorded')!r}), so the two are not comparable; champion "
                f"kept. Fix: msk1model promote {name} VERSION to choose by hand"
            )
    old_text = old_tags.get(METRIC_TAG_PREFIX + metric)
    if old_text is None and "/" in metric:  # a champion registered with the flat names
        old_text = old_tags.get(METRIC_TAG_PREFIX + flat_metric_name(metric))
    if old_text is None:
        return True, f"champion v{previous} has no {metric}; replaced"
    old = float(old_text)
    better, worse = (">", "<=") if higher_is_better else ("<", ">=")
    if (new > old) if higher_is_better else (new < old):
        return True, f"{metric} {new:.4f} {better} champion v{previous} {old:.4f}"
    return False, f"{metric} {new:.4f} {worse} champion v{previous} {old:.4f}; champion kept"
