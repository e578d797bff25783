"""What a ``msk1model train`` left behind, as comparable data: every logged number and the report.

Reads only the MLflow store and the report folder (never msk1model's own objects), so the same
capture works on the output of any msk1model version: that is how ``tests/test_golden.py`` checks
that a refactoring changed no metric and no byte of the report.

Regenerate a golden file (only when a change of numbers is intended, and say so in the commit)::

    python -m tests.golden.capture tiny      # the fast test's run (about 20 s)
    python -m tests.golden.capture default   # the slow test's run (about 3 min)
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
GOLDEN_DIR = Path(__file__).resolve().parent

#: The runs that have a golden file: config and --set overrides (the store is added per run).
RUNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "tiny": (
        "configs/default.yaml",
        (
            "data.synthetic.n_patients=500",
            "split.cv_folds=3",
            "tuning.n_trials=2",
            "models.xgb_cox.params.n_estimators=20",
            "report.n_bootstrap=20",
            "report.n_permutations=99",
            "report.n_jobs=1",
        ),
    ),
    "default": ("configs/default.yaml", ()),
}

#: Report header entries that describe where and when a run happened, not what it found.
PROVENANCE = ("run id", "created", "config hash", "msk1model.git_commit", "msk1model.git_dirty")
#: Tags that hold run ids or provenance; every other tag is part of the result.
_VOLATILE_TAG_PREFIXES = ("mlflow.", "version.", "msk1model.git", "msk1model.config_hash")
_VOLATILE_TAGS = (
    "msk1model.source_run",
    "msk1model.version",
    "optuna.storage",
    "msk1model.process",
)


def train(name: str, workdir: Path) -> Path:
    """Run ``msk1model train`` for golden run ``name`` in ``workdir``; return the store path."""
    from msk1model.cli import main

    config, overrides = RUNS[name]
    store = workdir / "mlflow.db"
    argv = ["train", str(ROOT / config), *(f"--set={o}" for o in overrides)]
    argv.append(f"--set=tracking.uri=sqlite:///{store}")
    previous = Path.cwd()
    os.chdir(workdir)
    try:
        code = main(argv)
    finally:
        os.chdir(previous)
    if code != 0:
        raise RuntimeError(f"msk1model train exited with {code}")
    return store


def capture(store: Path, reports: Path) -> dict[str, Any]:
    """Metrics, params and result tags of every run, the registry tags and the report."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{store}"  # the registry too: a test may have set another one globally
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    (experiment,) = [e for e in client.search_experiments() if e.name != "Default"]
    runs = client.search_runs([experiment.experiment_id], max_results=10_000)
    names = {r.info.run_id: r.info.run_name for r in runs}
    parents = {r.info.run_id: r.data.tags.get("mlflow.parentRunId") for r in runs}
    out: dict[str, Any] = {"runs": {}, "registry": {}}
    for run in runs:
        path = _run_path(run.info.run_id, names, parents)
        out["runs"][path] = {
            "metrics": dict(sorted(run.data.metrics.items())),
            "params": dict(sorted(run.data.params.items())),
            "tags": {
                k: v
                for k, v in sorted(run.data.tags.items())
                if not k.startswith(_VOLATILE_TAG_PREFIXES) and k not in _VOLATILE_TAGS
            },
        }
    for model in client.search_registered_models():
        for version in client.search_model_versions(f"name = '{model.name}'"):
            out["registry"][f"{model.name}/{version.version}"] = {
                k: float(v) if k.startswith("metric.") else v
                for k, v in sorted(version.tags.items())
                if not k.startswith(_VOLATILE_TAG_PREFIXES) and k not in _VOLATILE_TAGS
            }
    (parent,) = [r for r in runs if r.data.tags.get("msk1model.role") == "train"]
    report_dir = reports / parent.info.run_id
    if report_dir.is_dir():
        out["report"] = capture_report(report_dir)
    return out


def _run_path(run_id: str, names: dict[str, str], parents: dict[str, str | None]) -> str:
    """``train-x/coxnet | clinical/trial-000``: a run's name under its ancestors' names."""
    parts: list[str] = []
    current: str | None = run_id
    while current is not None:
        parts.append(names[current])
        current = parents[current]
    return "/".join(reversed(parts))


def capture_report(report_dir: Path) -> dict[str, Any]:
    """The report's document (provenance blanked), figure hashes and the page's hash."""
    document = json.loads((report_dir / "document.json").read_text(encoding="utf-8"))
    page = (report_dir / "report.html").read_text(encoding="utf-8")
    blanked = []
    for key, value in document["metadata"]:
        if key in PROVENANCE or key.startswith("version."):
            page = page.replace(html.escape(value), f"[{key}]")
            value = f"[{key}]"
        blanked.append([key, value])
    document["metadata"] = blanked
    figures = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((report_dir / "figures").glob("*.png"))
    }
    return {
        "document": document,
        "figures_sha256": figures,
        "html_sha256": hashlib.sha256(page.encode("utf-8")).hexdigest(),
    }


def differences(expected: Any, found: Any, where: str = "", tol: float = 1e-12) -> list[str]:
    """Every place where ``found`` differs from ``expected`` (numbers within ``tol``, relative
    and absolute)."""
    if isinstance(expected, dict) and isinstance(found, dict):
        out = [f"{where}/{k}: missing" for k in expected if k not in found]
        out += [f"{where}/{k}: unexpected" for k in found if k not in expected]
        for k in expected:
            if k in found:
                out += differences(expected[k], found[k], f"{where}/{k}", tol)
        return out
    if isinstance(expected, list) and isinstance(found, list):
        if len(expected) != len(found):
            return [f"{where}: {len(found)} items, expected {len(expected)}"]
        return [
            d
            for i, (a, b) in enumerate(zip(expected, found, strict=True))
            for d in differences(a, b, f"{where}[{i}]", tol)
        ]
    if isinstance(expected, float) and isinstance(found, float):
        if math.isnan(expected) and math.isnan(found):
            return []
        if math.isclose(expected, found, rel_tol=tol, abs_tol=tol):
            return []
    elif expected == found:
        return []
    return [f"{where}: found {found!r}, expected {expected!r}"]


def golden_path(name: str) -> Path:
    return GOLDEN_DIR / f"{name}_run.json"


def main(argv: list[str]) -> int:
    (name,) = argv
    with tempfile.TemporaryDirectory() as tmp:
        store = train(name, Path(tmp))
        result = capture(store, Path(tmp) / "reports")
    golden_path(name).write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(f"wrote {golden_path(name)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
