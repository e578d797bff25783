"""The same config against a shared tracking server, for real (issue 12, item 5): ``mlflow
server`` with a PostgreSQL backend store and a proxied artefact root, both started here on
127.0.0.1, and ``msk1model train`` / ``report`` / the registry used through it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import psycopg2
import pytest
from mlflow.tracking import MlflowClient

from msk1model.data.synthetic import make_synthetic_cohort

from .conftest import DEFAULT_CONFIG, TINY
from .servers import free_port, postgres_cluster

pytestmark = pytest.mark.slow  # a database server and a tracking server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(tracking URL, backend database URL) of a running ``mlflow server``."""
    with postgres_cluster() as cluster:
        con = psycopg2.connect(cluster.replace("+psycopg2", ""))
        con.autocommit = True  # CREATE DATABASE runs outside a transaction
        con.cursor().execute("CREATE DATABASE mlflow")
        con.close()
        backend = cluster.rsplit("/", 1)[0] + "/mlflow"
        artifacts = tmp_path_factory.mktemp("artifact_root")
        port = free_port()
        log = (tmp_path_factory.mktemp("server") / "server.log").open("w")
        process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend,
             "--artifacts-destination", str(artifacts), "--host", "127.0.0.1",
             "--port", str(port), "--workers", "1"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                assert process.poll() is None, Path(log.name).read_text()[-3000:]
                try:
                    with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    time.sleep(0.5)
            else:
                pytest.fail(f"mlflow server did not start:\n{Path(log.name).read_text()[-3000:]}")
            yield url, backend
        finally:
            process.terminate()
            process.wait(timeout=30)
            log.close()


def _msk1model(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return subprocess.run(
        [sys.executable, "-m", "msk1model.cli", *args], cwd=cwd, env={**env, "COLUMNS": "200"},
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_train_report_and_registry_work_through_a_postgresql_backed_server(
    server: tuple[str, str], tmp_path: Path, own_mlflow_uris: pytest.MonkeyPatch
) -> None:
    url, backend = server
    sets = [arg for item in (*TINY, f"tracking.uri={url}") for arg in ("--set", item)]
    trained = _msk1model(tmp_path, "train", str(DEFAULT_CONFIG), *sets)
    assert trained.returncode == 0, trained.stderr[-4000:]
    assert f"MLflow: {url}" in " ".join(trained.stdout.split())
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()

    client = MlflowClient(tracking_uri=url, registry_uri=url)
    (experiment,) = [e for e in client.search_experiments() if e.name == "msk1-default"]
    assert experiment.artifact_location.startswith("mlflow-artifacts:")  # the server's root
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    train = [r for r in runs if r.data.tags.get("msk1model.role") == "train"]
    models = [r for r in runs if r.data.tags.get("msk1model.role") == "model"]
    assert len(train) == 1 and len(models) == 4
    assert {r.info.status for r in runs} == {"FINISHED"}
    # the rows live in PostgreSQL: read them there, without MLflow
    with psycopg2.connect(backend.replace("+psycopg2", "")) as con, con.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM runs WHERE status = 'FINISHED'")
        assert cur.fetchone()[0] == len(runs)
        cur.execute("SELECT COUNT(*) FROM model_versions WHERE name = 'msk1-prognostic'")
        assert cur.fetchone()[0] == 1

    # a downstream tool loads the champion through the server and scores patients
    mlflow.set_tracking_uri(url)  # undone after the test (own_mlflow_uris)
    mlflow.set_registry_uri(url)
    version = client.get_model_version_by_alias("msk1-prognostic", "champion")
    assert version.tags["msk1model.source_run"] in {r.info.run_id for r in models}
    predictor = mlflow.pyfunc.load_model("models:/msk1-prognostic@champion")
    patients = make_synthetic_cohort(200, seed=99)
    patients = patients[patients["er"] == 1].head(5)
    scores = predictor.predict(patients)
    assert len(scores) == 5 and np.isfinite(scores["risk_score"]).all()

    # the report's artefacts come back through the server's proxy
    rebuilt = _msk1model(tmp_path, "report", train[0].info.run_id, "--out", str(tmp_path / "r"),
                         "--tracking-uri", url)  # fmt: skip
    assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
    assert (tmp_path / "r" / train[0].info.run_id / "report.html").stat().st_size > 10_000
    listed = _msk1model(tmp_path, "runs", "--tracking-uri", url)
    assert listed.returncode == 0 and "FINISHED" in listed.stdout and "STALE" not in listed.stdout
