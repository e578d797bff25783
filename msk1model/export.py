"""The exported predictor: build, log, register, promote and load.

The predictor is an MLflow pyfunc "model from code": its Python entry point
(``msk1model/_predictor_entry.py``) and the msk1model source travel as code, and the fitted
model travels as data (JSON state and XGBoost JSON), so nothing is pickled. Downstream tools call::

    model = mlflow.pyfunc.load_model("models:/msk1-prognostic@champion")
    model.predict(patients)  # DataFrame with the feature columns

and get one row per patient: ``risk_score`` (log relative hazard, higher = higher risk) and
``survival_<h>y``, the event-free probability at each horizon ``h`` in years (plus
``outside_training_range`` when the input contract flags rather than refuses). Every input is
first checked against the model's :class:`~msk1model.contract.InputContract`, ahead of MLflow's
own schema enforcement (every input column is optional to MLflow), so that no error shows a
patient's values. The logged input example is synthetic: training quartiles, never a patient.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature, infer_signature
from mlflow.pyfunc import PythonModel, PythonModelContext
from mlflow.tracking import MlflowClient
from mlflow.types.schema import AnyType, ColSpec, Schema

from msk1model.contract import InputContract
from msk1model.errors import ExportError
from msk1model.models import SurvivalModel, load_model

__all__ = [
    "FLAG_COLUMN",
    "Msk1Predictor",
    "Registration",
    "horizon_column",
    "log_predictor",
    "predict_frame",
    "register_predictor",
]

ENTRY_POINT = Path(__file__).with_name("_predictor_entry.py")
PREDICTOR_META = "predictor.json"
RUNTIME_PACKAGES = ("mlflow", "numpy", "pandas", "scipy", "scikit-learn", "xgboost")
METRIC_TAG_PREFIX = "metric."
#: Output column of a contract that flags values beyond the training range.
FLAG_COLUMN = "outside_training_range"


def horizon_column(horizon: float) -> str:
    """Output column of the survival probability at ``horizon`` years, e.g. ``survival_5y``."""
    return f"survival_{horizon:g}y"


def predict_frame(model: SurvivalModel, X: pd.DataFrame, horizons: list[float]) -> pd.DataFrame:
    """Risk score and survival at each horizon, one row per patient (index kept)."""
    survival = model.predict_survival_function(X, np.asarray(horizons, dtype=float))
    out = pd.DataFrame({"risk_score": model.predict(X)}, index=X.index)
    for j, horizon in enumerate(horizons):
        out[horizon_column(horizon)] = survival[:, j]
    return out


def contract_frame(
    model: SurvivalModel, contract: InputContract, X: pd.DataFrame, horizons: list[float]
) -> pd.DataFrame:
    """:func:`predict_frame` of the rows of ``X`` that keep ``contract`` (checked first; an
    :class:`~msk1model.errors.InputError` otherwise), with the flag column when it flags."""
    outside = contract.check(X)
    out = predict_frame(model, X[model.features_], horizons).reset_index(drop=True)
    if contract.outside_training_range == "flag":
        out[FLAG_COLUMN] = outside
    return out


class Msk1Predictor(PythonModel):
    """pyfunc wrapper around a saved msk1model model (loaded from JSON state)."""

    def load_context(self, context: PythonModelContext) -> None:
        self._model = load_model(context.artifacts["model_state"])
        meta = json.loads(Path(context.artifacts["predictor_meta"]).read_text(encoding="utf-8"))
        self._horizons = [float(h) for h in meta["horizons"]]
        self._contract = InputContract.from_state(meta["contract"])

    def predict(
        self,
        context: PythonModelContext,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        frame = pd.DataFrame(model_input).reset_index(drop=True)
        return contract_frame(self._model, self._contract, frame, self._horizons)


def log_predictor(
    model: SurvivalModel,
    model_dir: Path,
    contract: InputContract,
    horizons: list[float],
    meta: dict[str, Any],
) -> str:
    """Log the predictor in the active run; return its model URI.

    The input example is :meth:`InputContract.example` (training quartiles), not patients.
    """
    example = contract.example()
    output = infer_signature(example, contract_frame(model, contract, example, horizons)).outputs
    # Feature types are "any" and every column optional to MLflow: the input contract checks
    # them first, with messages that name columns and row positions but never a patient's value
    # (MLflow's own schema errors print the input rows).
    inputs = Schema([ColSpec(AnyType(), name, required=False) for name in model.features_])
    signature = ModelSignature(inputs=inputs, outputs=output)
    with tempfile.TemporaryDirectory() as tmp:
        meta_path = Path(tmp) / PREDICTOR_META
        state = {**meta, "horizons": horizons, "contract": contract.to_state()}
        meta_path.write_text(json.dumps(state, indent=1), encoding="utf-8")
        code = _clean_package_copy(Path(tmp) / "msk1model")
        info = mlflow.pyfunc.log_model(
            name="predictor",
            python_model=str(ENTRY_POINT),
            artifacts={"model_state": str(model_dir), "predictor_meta": str(meta_path)},
            code_paths=[str(code)],
            signature=signature,
            input_example=example,
            pip_requirements=[f"{p}=={metadata.version(p)}" for p in RUNTIME_PACKAGES],
        )
    return str(info.model_uri)


def _clean_package_copy(target: Path) -> Path:
    source = Path(__file__).resolve().parent
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


@dataclass(frozen=True)
class Registration:
    """Outcome of registering a predictor version."""

    name: str
    version: str
    promoted: bool
    previous_champion: str | None
    reason: str


def register_predictor(
    model_uri: str,
    name: str,
    alias: str,
    metrics: dict[str, float],
    *,
    champion_metric: str,
    higher_is_better: bool = True,
    tags: dict[str, str],
) -> Registration:
    """Register ``model_uri`` as a new version of ``name``; move ``alias`` if it is better.

    The version carries every metric (MLflow names, from :func:`msk1model.tracking.mlflow_metrics`)
    as a ``metric.<name>`` tag; it becomes the champion when no champion exists or its
    ``champion_metric`` beats the champion's (higher, or lower when not ``higher_is_better``).
    """
    client = MlflowClient()
    try:
        version = mlflow.register_model(model_uri, name, await_registration_for=60).version
        for key, value in {
            **tags,
            **{METRIC_TAG_PREFIX + k: repr(v) for k, v in metrics.items()},
        }.items():
            client.set_model_version_tag(name, version, key, value)
        previous = _current_alias(client, name, alias)
        promoted, reason = _is_better(
            client, name, previous, metrics[champion_metric], champion_metric, higher_is_better
        )
        if promoted:
            client.set_registered_model_alias(name, alias, version)
    except MlflowException as exc:
        raise ExportError(f"registering {model_uri} as {name!r} failed: {exc}") from None
    return Registration(name, str(version), promoted, previous, reason)


def _current_alias(client: MlflowClient, name: str, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def _is_better(
    client: MlflowClient,
    name: str,
    previous: str | None,
    new: float,
    metric: str,
    higher_is_better: bool,
) -> tuple[bool, str]:
    if previous is None:
        return True, f"no previous champion; {metric}={new:.4f}"
    tags = client.get_model_version(name, previous).tags
    old_text = tags.get(METRIC_TAG_PREFIX + metric)
    if old_text is None:
        return True, f"champion v{previous} has no {metric}; replaced"
    old = float(old_text)
    better, worse = (">", "<=") if higher_is_better else ("<", ">=")
    if (new > old) if higher_is_better else (new < old):
        return True, f"{metric} {new:.4f} {better} champion v{previous} {old:.4f}"
    return False, f"{metric} {new:.4f} {worse} champion v{previous} {old:.4f}; champion kept"
