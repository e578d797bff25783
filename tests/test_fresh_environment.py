"""The exported predictor in a fresh virtual environment built only from its recorded
requirements, in a folder without the msk1model source tree: it loads from a downloaded folder
and as ``models:/<name>@champion`` through a real MLflow tracking server, predicts what the
training process predicts, and still refuses a tampered copy.

Slow (about a minute): one ``pip install -r requirements.txt`` (pip's cache helps) and one
``mlflow server``, started while pip installs.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest

from msk1model.results import RunResult

from .conftest import ROOT, TinyRun

pytestmark = pytest.mark.slow

#: The distributions a predictor may require: the lean ones (no tracking server, no CUDA).
LEAN = {"mlflow-skinny", "numpy", "pandas", "scipy", "scikit-learn", "xgboost-cpu"}
TAMPERED = "artifacts/model_state/model.json"
N_ROWS = 20

#: Run in the fresh environment: load argv[1], predict the CSV argv[2], print JSON (exact floats).
SCORE_SCRIPT = """
import importlib.util, json, sys
assert importlib.util.find_spec("msk1model") is None, "msk1model is importable before loading"
import mlflow, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
out = model.predict(pd.read_csv(sys.argv[2]))
print(json.dumps({"code": sys.modules["msk1model"].__file__, "out": out.to_dict(orient="list")}))
"""
#: The installed distributions of the fresh environment, normalised names.
LIST_SCRIPT = """
import importlib.metadata as m, json
print(json.dumps(sorted({d.metadata["Name"].lower().replace("_", "-") for d in m.distributions()})))
"""


@dataclass(frozen=True)
class LeanEnv:
    """A fresh virtual environment with a predictor's requirements, and a folder to run in."""

    python: Path
    folder: Path  # the cwd of every run: outside the checkout, holds the downloaded model
    model: Path  # the downloaded model folder
    rows: Path  # a CSV of patient rows, with their ids

    def run(self, *args: str, tracking_uri: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``python args`` there: no PYTHONPATH, no pickles, MLflow at ``tracking_uri``."""
        env = _environ_without_mlflow()
        env.pop("PYTHONPATH", None)
        env.pop("VIRTUAL_ENV", None)
        env["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "false"
        if tracking_uri is not None:
            env["MLFLOW_TRACKING_URI"] = tracking_uri
        return subprocess.run(
            [str(self.python), *args],
            capture_output=True,
            text=True,
            cwd=self.folder,
            env=env,
            timeout=300,
            check=False,
        )

    def score(self, model_uri: str, *, tracking_uri: str | None = None) -> dict[str, Any]:
        done = self.run("-c", SCORE_SCRIPT, model_uri, str(self.rows), tracking_uri=tracking_uri)
        assert done.returncode == 0, done.stderr[-4000:]
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))

    def score_fails(
        self, model_uri: str, *, tracking_uri: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        done = self.run("-c", SCORE_SCRIPT, model_uri, str(self.rows), tracking_uri=tracking_uri)
        assert done.returncode != 0, done.stdout[-2000:]
        return done


@dataclass(frozen=True)
class Server:
    """A running ``mlflow server`` on the tiny run's store."""

    uri: str
    proc: subprocess.Popen[bytes]
    log: Path


def _environ_without_mlflow() -> dict[str, str]:
    """This process's environment less MLflow's settings (``mlflow.set_tracking_uri`` and
    ``set_registry_uri`` export theirs to child processes)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _store(tiny_run: TinyRun) -> str:
    """The tiny run's sqlite tracking and registry URI."""
    uri = tiny_run.config.tracking.uri
    assert uri is not None and uri.startswith("sqlite:")
    return uri


def _rows(tiny_run: TinyRun) -> pd.DataFrame:
    """Training patients (within the contract's ranges), with their ids and outcomes."""
    result = tiny_run.result
    return result.cohort.table.iloc[result.split.train[:N_ROWS]].reset_index(drop=True)


@pytest.fixture(scope="module")
def tracking_server(
    tiny_run: TinyRun, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """``mlflow server`` on the tiny run's sqlite store, from the project's environment.

    Started, not awaited: it starts while pip installs (:func:`lean_env`); :func:`_ready`
    waits. No ``--serve-artifacts``: the experiment's artefact root was recorded as an absolute
    ``file://`` URI when the run created it, so the server hands out ``file://`` locations and
    the client reads them directly; proxying (``mlflow-artifacts:/``) only concerns experiments
    created through a server. The store is only read.
    """
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri"]
    command += [_store(tiny_run), "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", "1", "--no-serve-artifacts"]
    env = _environ_without_mlflow()
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            command, cwd=tiny_run.workdir, stdout=sink, stderr=subprocess.STDOUT, env=env
        )
    try:
        yield Server(f"http://127.0.0.1:{port}", proc, log)
    finally:
        proc.terminate()  # mlflow server stops its uvicorn worker with it
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


def _ready(server: Server) -> str:
    """Wait for ``/health``, then ask for the registered model once (the server opens its
    store at the first API call, which can take seconds on two cores)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and server.proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{server.uri}/health", timeout=2) as reply:
                if reply.read().decode().strip() == "OK":
                    break
        except OSError:
            time.sleep(0.25)
    else:
        tail = server.log.read_text(errors="replace")[-3000:]
        pytest.fail(f"mlflow server did not answer /health within 120 s:\n{tail}")
    query = f"{server.uri}/api/2.0/mlflow/registered-models/get?name=msk1-prognostic"
    with urllib.request.urlopen(query, timeout=60) as reply:
        assert reply.status == 200
    return server.uri


def _interpreter() -> str:
    """The project's Python (3.11), whose ``venv`` module builds the fresh environment."""
    for candidate in (getattr(sys, "_base_executable", None), shutil.which("python3.11")):
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.skip("no python3.11 interpreter found to build a fresh virtual environment")


@pytest.fixture(scope="module")
def lean_env(
    tiny_run: TinyRun, tracking_server: Server, tmp_path_factory: pytest.TempPathFactory
) -> LeanEnv:
    """The tiny run's model downloaded outside the checkout, and a fresh venv built from its
    ``requirements.txt`` alone (install time and size printed, not asserted)."""
    folder = tmp_path_factory.mktemp("fresh_env")
    assert ROOT not in folder.parents  # no msk1model source tree above the cwd
    model = Path(
        mlflow.artifacts.download_artifacts(
            tiny_run.result.model_uri,
            dst_path=str(folder / "model"),
            tracking_uri=_store(tiny_run),
        )
    )
    _rows(tiny_run).to_csv(folder / "rows.csv", index=False)
    venv = folder / "venv"
    made = subprocess.run(
        [_interpreter(), "-m", "venv", str(venv)], capture_output=True, text=True, check=False
    )
    if made.returncode != 0:
        pytest.skip(f"python3.11 -m venv is unavailable here: {made.stderr.strip()[-500:]}")
    python = venv / "bin" / "python"
    start = time.monotonic()
    pip = [str(python), "-m", "pip", "install", "--quiet", "-r", str(model / "requirements.txt")]
    try:
        done = subprocess.run(pip, capture_output=True, text=True, cwd=folder, timeout=600)
    except subprocess.TimeoutExpired as exc:  # its output may be bytes, even with text=True
        output = [
            o.decode(errors="replace") if isinstance(o, bytes) else o or ""
            for o in (exc.stdout, exc.stderr)
        ]
        pytest.fail("pip install ran past 600 s:\n" + "\n".join(output))
    if done.returncode != 0:
        pytest.fail(f"pip install -r requirements.txt failed:\n{done.stdout}\n{done.stderr}")
    seconds = time.monotonic() - start
    size = sum(p.stat().st_size for p in venv.rglob("*") if p.is_file() and not p.is_symlink())
    print(f"\nfresh venv: pip install {seconds:.1f} s, {size / 2**20:.0f} MB installed")
    return LeanEnv(python, folder, model, folder / "rows.csv")


def _requirements(model: Path) -> dict[str, str]:
    lines = (model / "requirements.txt").read_text(encoding="utf-8").split()
    return dict(line.split("==", 1) for line in lines)


@pytest.fixture()
def expected(tiny_result: RunResult, tiny_run: TinyRun) -> pd.DataFrame:
    """The in-process prediction of the same rows (the training process's environment)."""
    return mlflow.pyfunc.load_model(tiny_result.model_uri).predict(_rows(tiny_run))


def _assert_same(got: dict[str, list[Any]], expected: pd.DataFrame) -> None:
    loaded = pd.DataFrame(got)
    assert list(loaded.columns) == list(expected.columns)
    numbers = [c for c in expected.columns if c.startswith(("survival_", "event_prob_"))]
    assert numbers and "risk_score" in expected.columns
    assert loaded["risk_group"].tolist() == expected["risk_group"].tolist()
    np.testing.assert_allclose(
        loaded[["risk_score", *numbers]].to_numpy(float),
        expected[["risk_score", *numbers]].to_numpy(float),
        rtol=0,
        atol=1e-9,
    )


def test_the_fresh_environment_holds_only_the_lean_requirements(lean_env: LeanEnv) -> None:
    required = _requirements(lean_env.model)
    assert {"mlflow-skinny", "numpy", "pandas"} <= set(required) <= LEAN
    done = lean_env.run("-c", LIST_SCRIPT)
    assert done.returncode == 0, done.stderr
    installed = set(json.loads(done.stdout))
    assert set(required) <= installed
    assert "mlflow" not in installed  # the full distribution: tracking server, UI, SQLAlchemy
    assert "sqlalchemy" not in installed
    assert "xgboost" not in installed  # the CUDA build; xgboost-cpu is the same module
    assert not [d for d in installed if d.startswith("nvidia-")]
    probe = "import importlib.util as u; print(u.find_spec('msk1model'))"
    assert lean_env.run("-c", probe).stdout.strip() == "None"


def test_the_downloaded_folder_predicts_as_in_process(
    lean_env: LeanEnv, expected: pd.DataFrame
) -> None:
    assert "patient_id" in pd.read_csv(lean_env.rows).columns  # extra columns are ignored
    got = lean_env.score(str(lean_env.model))
    assert Path(got["code"]).is_relative_to(lean_env.model / "code")  # the shipped copy scored
    _assert_same(got["out"], expected)


def test_the_champion_loads_through_a_tracking_server(
    lean_env: LeanEnv, tracking_server: Server, expected: pd.DataFrame
) -> None:
    """``models:/msk1-prognostic@champion`` over HTTP. The lean environment cannot open the
    sqlite store itself: mlflow-skinny has no SQLAlchemy, so a database store is reached through
    a tracking server (``mlflow server`` from the full ``mlflow``)."""
    uri = _ready(tracking_server)
    got = lean_env.score("models:/msk1-prognostic@champion", tracking_uri=uri)
    _assert_same(got["out"], expected)


def test_the_lean_environment_cannot_open_the_sqlite_store_itself(
    lean_env: LeanEnv, tiny_run: TinyRun
) -> None:
    """mlflow-skinny registers no database store (it has no SQLAlchemy): a ``sqlite:`` URI is
    refused before the store is opened, so a lean client needs a tracking server."""
    store = _store(tiny_run)
    done = lean_env.score_fails("models:/msk1-prognostic@champion", tracking_uri=store)
    assert f"unsupported URI '{store}'" in done.stderr


def _change_one_digit(path: Path) -> None:
    data = bytearray(path.read_bytes())
    i = max(j for j, b in enumerate(data) if chr(b).isdigit())
    data[i] = ord(str((int(chr(data[i])) + 1) % 10))
    path.write_bytes(bytes(data))


def test_a_tampered_copy_is_refused_in_the_fresh_environment(lean_env: LeanEnv) -> None:
    copy = lean_env.folder / "tampered"
    shutil.copytree(lean_env.model, copy)
    _change_one_digit(copy / TAMPERED)
    done = lean_env.score_fails(str(copy))
    assert f"changed: ['{TAMPERED}']" in done.stderr and "loading refused" in done.stderr
