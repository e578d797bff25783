"""Runs that survive faults (issue 12): real ``msk1model train`` processes started together."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import mlflow
import pytest
from mlflow.entities import LoggedModelStatus
from mlflow.tracking import MlflowClient

from .conftest import DEFAULT_CONFIG, TINY

pytestmark = pytest.mark.slow  # several real train processes

#: Shrunk further than the tiny run: every process only has to reach the store.
QUICK = (*TINY, "report.enabled=false", "models.xgb_cox=null", "tracking.log_figures=false")
#: The tiny run with its report (4 model runs): every stage a kill may hit.
WHOLE = TINY


def _train(folder: Path, *extra: str, preset: tuple[str, ...] = QUICK) -> subprocess.Popen[str]:
    args = [arg for item in (*preset, *extra) for arg in ("--set", item)]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return subprocess.Popen(
        [sys.executable, "-m", "msk1model.cli", "train", str(DEFAULT_CONFIG), *args],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_four_trains_started_together_in_a_fresh_folder_all_complete(tmp_path: Path) -> None:
    """Without the store lock 3 of 4 died in SQLite migrations ('duplicate column name: step')."""
    processes = [_train(tmp_path) for _ in range(4)]
    outputs = [p.communicate(timeout=600)[0] for p in processes]
    for process, out in zip(processes, outputs, strict=True):
        assert process.returncode == 0, out[-3000:]
        assert "Traceback" not in out and "alembic" not in out

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    experiments = [e for e in client.search_experiments() if e.name == "msk1-default"]
    assert len(experiments) == 1  # one experiment per name, not one per process
    runs = client.search_runs([experiments[0].experiment_id], "tags.`msk1model.role` = 'train'")
    assert len(runs) == 4 and {r.info.status for r in runs} == {"FINISHED"}
    versions = client.search_model_versions("name = 'msk1-prognostic'")
    assert sorted(int(v.version) for v in versions) == [1, 2, 3, 4]
    sources = {v.tags["msk1model.source_run"] for v in versions}
    assert len(sources) == 4  # each version points at its own model run


def _count(db: Path, query: str) -> int:
    """A count read with plain read-only SQLite, so that the test never writes the store."""
    try:
        with closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=1)) as con:
            return int(con.execute(query).fetchone()[0])
    except sqlite3.Error:
        return -1  # briefly locked


_MODEL_RUNS = "SELECT COUNT(*) FROM tags WHERE key = 'msk1model.role' AND value = 'model'"
_FINISHED_MODEL_RUNS = (
    "SELECT COUNT(*) FROM runs JOIN tags ON tags.run_uuid = runs.run_uuid "
    "WHERE tags.key = 'msk1model.role' AND tags.value = 'model' AND runs.status = 'FINISHED'"
)
#: Where a train is killed: (name, query, how much above its count before the train).
KILL_POINTS = (
    ("tuning", _MODEL_RUNS, 1),  # the first model run has started tuning
    ("report", _FINISHED_MODEL_RUNS, 4),  # every model is done: the report is being made
    ("log_model", "SELECT COUNT(*) FROM logged_models", 1),  # the predictor is being logged
    ("registration", "SELECT COUNT(*) FROM model_versions", 1),  # the version exists
)


def _kill_when(folder: Path, query: str, above: int) -> str:
    """Start a train and SIGKILL it as soon as ``query`` counts ``above`` more rows than
    before; return its output. Fails when the train ended first (the point was missed)."""
    db = folder / "mlflow.db"
    before = _count(db, query)
    process = _train(folder, preset=WHOLE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if _count(db, query) >= before + above:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    out = process.communicate(timeout=60)[0]
    assert process.returncode == -signal.SIGKILL, f"the train ended before the kill:\n{out[-3000:]}"
    return out


def test_sigkill_at_each_point_leaves_earlier_work_intact_and_clean_stale_ends_the_rest(
    tmp_path: Path, own_mlflow_uris: pytest.MonkeyPatch
) -> None:
    first = _train(tmp_path, preset=WHOLE)
    assert first.wait(timeout=600) == 0, first.communicate()[0][-3000:]
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    # for load_model and search_logged_models below (undone after the test)
    mlflow.set_tracking_uri(store)
    mlflow.set_registry_uri(store)
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    (champion,) = client.search_model_versions("name = 'msk1-prognostic'")
    finished = {r.info.run_id for r in client.search_runs(
        [e.experiment_id for e in client.search_experiments()], max_results=5000
    )}  # fmt: skip

    for point, query, above in KILL_POINTS:
        _kill_when(tmp_path, query, above)
        # the store reads; the first run, its version and the alias are as they were
        runs = client.search_runs([e.experiment_id for e in client.search_experiments()],
                                  max_results=5000)  # fmt: skip
        assert all(r.info.status == "FINISHED" for r in runs if r.info.run_id in finished), point
        assert str(client.get_model_version_by_alias("msk1-prognostic", "champion").version) == "1"
        again = client.get_model_version("msk1-prognostic", "1")
        assert again.tags == champion.tags and again.description == champion.description
        for version in client.search_model_versions("name = 'msk1-prognostic'"):
            # none without its lineage: a version is created with its tags in one step
            assert version.tags.get("msk1model.source_run"), (point, version.version)
        latest = mlflow.pyfunc.load_model("models:/msk1-prognostic/latest")
        assert latest.metadata is not None  # 'latest' loads as a whole predictor
        left = [r for r in runs if r.info.status == "RUNNING"]
        assert left, point  # the killed train's runs: RUNNING until cleaned

        listed = _cli(tmp_path, "runs")
        assert "RUNNING (STALE)" in listed, (point, listed)
        cleaned = _cli(tmp_path, "runs", "--clean-stale")
        assert f"ended {len(left)} stale run(s) as KILLED" in cleaned, (point, cleaned)
        for run in left:
            assert client.get_run(run.info.run_id).info.status == "KILLED", (
                point,
                run.info.run_name,
            )
        pending = [
            m
            for m in mlflow.search_logged_models(output_format="list")
            if m.status == LoggedModelStatus.PENDING
        ]
        assert pending == [], point
        finished |= {r.info.run_id for r in runs if r.info.status == "FINISHED"}

    rerun = _train(tmp_path, preset=WHOLE)
    out = rerun.communicate(timeout=600)[0]
    assert rerun.returncode == 0, out[-3000:]
    assert "registered: msk1-prognostic version" in out


def _cli(folder: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    done = subprocess.run(
        [sys.executable, "-m", "msk1model.cli", *args],
        cwd=folder, env={**env, "COLUMNS": "250"}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return " ".join(done.stdout.split())
