"""A run's numbers and report are pinned: the same config and seed give the same metrics (to
1e-12) and a report that is byte-identical apart from provenance (run id, time, git commit,
package versions).

The golden files were written by msk1model before the restructuring of issue 9 (commit 8b4f25d)
with ``python -m tests.golden.capture NAME``; rewrite them only for an intended change of
numbers, and say so in the commit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import TINY, TinyRun
from .golden.capture import RUNS, capture, differences, golden_path, train


def _compare(name: str, found: dict[str, Any]) -> None:
    expected = json.loads(golden_path(name).read_text())
    diffs = differences(expected, found, tol=1e-12)
    assert not diffs, f"{len(diffs)} difference(s) from {golden_path(name).name}:\n" + "\n".join(
        diffs[:40]
    )


def test_tiny_run_matches_golden(tiny_run: TinyRun) -> None:
    """The session's tiny run (the golden "tiny" config, trained by ``pipeline.run``)."""
    found = capture(tiny_run.store, tiny_run.workdir / "reports")
    _compare("tiny", found)


@pytest.mark.slow
def test_default_experiment_matches_golden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default experiment as a user runs it: ``msk1model train configs/default.yaml``."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    store = train("default", tmp_path)
    _compare("default", capture(store, tmp_path / "reports"))


def test_the_golden_tiny_run_is_the_tests_tiny_config() -> None:
    assert RUNS["tiny"] == ("configs/default.yaml", TINY)
