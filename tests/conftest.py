"""Shared fixtures: one real public cohort (GBSG2), one seeded synthetic cohort, a tiny run config."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from msk1model.config import RunConfig, load_config
from msk1model.data.synthetic import make_synthetic_cohort
from msk1model.results import RunResult

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "configs" / "default.yaml"

#: Overrides that shrink the default experiment to a few seconds (the golden "tiny" run).
TINY = (
    "data.synthetic.n_patients=500",
    "split.cv_folds=3",
    "tuning.n_trials=2",
    "models.xgb_cox.params.n_estimators=20",
    "report.n_bootstrap=20",
    "report.n_permutations=99",
    "report.n_jobs=1",
)


@pytest.fixture(autouse=True)
def _sys_path_restored() -> Iterator[None]:
    """Undo a test's additions to ``sys.path``: ``mlflow.pyfunc.load_model`` puts a model's
    shipped code (part of msk1model) first there, and worker processes that later tests start
    would import that partial copy. A user's process starts with a clean path."""
    path = list(sys.path)
    yield
    sys.path[:] = path


@pytest.fixture(scope="session")
def gbsg2() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """German Breast Cancer Study Group 2 (scikit-survival): X numeric, event, time in years."""
    from sksurv.datasets import load_gbsg2

    X, y = load_gbsg2()
    features = pd.DataFrame(
        {
            "age": X["age"].astype(float),
            "size": X["tsize"].astype(float),
            "nodes": X["pnodes"].astype(float),
            "grade": X["tgrade"].map({"I": 1.0, "II": 2.0, "III": 3.0}).astype(float),
            "er": np.log1p(X["estrec"].astype(float)),
            "pr": np.log1p(X["progrec"].astype(float)),
        }
    )
    return features, y["cens"].astype(bool), y["time"].astype(float) / 365.25


@pytest.fixture(scope="session")
def synthetic() -> pd.DataFrame:
    return make_synthetic_cohort(1500, seed=7)


@pytest.fixture()
def tiny_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunConfig:
    """The default experiment shrunk, tracking into a fresh store under ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return load_config(
        DEFAULT_CONFIG,
        [*TINY, f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}"],
    )


@dataclass(frozen=True)
class TinyRun:
    """One tiny run of the default experiment, trained once per test session (read-only)."""

    workdir: Path
    store: Path
    config: RunConfig
    result: RunResult


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> TinyRun:
    """The shrunk default experiment, trained once into its own store and report folder.

    Tests must only read it; a test that adds runs or versions uses ``tiny_config`` instead.
    """
    from msk1model.pipeline import run

    workdir = tmp_path_factory.mktemp("tiny_run")
    store = workdir / "mlflow.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(workdir)  # reports/ and mlruns/ go here
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        config = load_config(DEFAULT_CONFIG, [*TINY, f"tracking.uri=sqlite:///{store}"])
        result = run(config)
    return TinyRun(workdir, store, config, result)


@pytest.fixture()
def tiny_result(tiny_run: TinyRun, monkeypatch: pytest.MonkeyPatch) -> RunResult:
    """The session's tiny run, with MLflow pointed at its store and the cwd at its folder."""
    import mlflow

    monkeypatch.chdir(tiny_run.workdir)
    uri = tiny_run.config.tracking.uri
    assert uri is not None
    # set_tracking_uri and set_registry_uri write these variables: restored after the test
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return tiny_run.result


def own_uris(mp: pytest.MonkeyPatch) -> None:
    """Undo, when ``mp`` is undone, whatever MLflow tracking and registry URIs are set: the
    variables and the module-level values that ``mlflow.set_tracking_uri`` and
    ``set_registry_uri`` write, so that later tests of the process read their own stores."""
    import mlflow.tracking._model_registry.utils as registry
    import mlflow.tracking._tracking_service.utils as tracking

    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        mp.delenv(name, raising=False)
    mp.setattr(tracking, "_tracking_uri", tracking._tracking_uri)
    mp.setattr(registry, "_registry_uri", registry._registry_uri)


@pytest.fixture()
def own_mlflow_uris(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """``monkeypatch``, with the MLflow URIs the test sets undone after it (:func:`own_uris`)."""
    own_uris(monkeypatch)
    return monkeypatch
