"""Runs that survive faults (issue 12): real ``msk1model train`` processes started together."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from .conftest import DEFAULT_CONFIG, TINY

pytestmark = pytest.mark.slow  # several real train processes

#: Shrunk further than the tiny run: every process only has to reach the store.
QUICK = (*TINY, "report.enabled=false", "models.xgb_cox=null", "tracking.log_figures=false")


def _train(folder: Path, *extra: str) -> subprocess.Popen[str]:
    args = [arg for item in (*QUICK, *extra) for arg in ("--set", item)]
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

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    client = MlflowClient()
    experiments = [e for e in client.search_experiments() if e.name == "msk1-default"]
    assert len(experiments) == 1  # one experiment per name, not one per process
    runs = client.search_runs([experiments[0].experiment_id], "tags.`msk1model.role` = 'train'")
    assert len(runs) == 4 and {r.info.status for r in runs} == {"FINISHED"}
    versions = client.search_model_versions("name = 'msk1-prognostic'")
    assert sorted(int(v.version) for v in versions) == [1, 2, 3, 4]
    sources = {v.tags["msk1model.source_run"] for v in versions}
    assert len(sources) == 4  # each version points at its own model run
