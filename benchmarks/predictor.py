"""Benchmark of the exported predictor: how long it takes to load and to score.

Fits a small model of each kind on a synthetic cohort, logs its predictor (as the pipeline
does, without the pipeline) into a temporary sqlite store, then measures:

- load: ``mlflow.pyfunc.load_model`` in a fresh subprocess (median of 3), timed inside around
  the call alone, and the subprocess's whole wall time (interpreter, imports, load); once for
  the ``models:/<id>`` URI (which opens the sqlite store) and once for a downloaded folder;
  then in this process, warm;
- predict, after load, for ``--patients`` synthetic patients (median of ``--repeats``): the
  input contract's check alone, the survival curves alone, ``score_frame`` on the fitted
  in-process model, ``loaded.predict`` through MLflow's pyfunc wrapper, and one patient.

It prints figures beside the targets (load under 1.5 s; 10,000 patients under 50 ms after
load) and asserts nothing. ``--profile`` adds cProfile's top 15 (cumulative) of
``loaded.predict`` and the packages a fresh ``load_model`` imports (``-X importtime``), per kind;
``--lean-python`` also loads each folder with another interpreter, e.g. a venv built from the
model's ``requirements.txt`` (mlflow-skinny reads no sqlite store, so the folder only). Run:
``.venv/bin/python benchmarks/predictor.py [--patients 10000] [--repeats 5]
[--kinds coxnet,coxph,xgb_cox] [--profile] [--lean-python PATH]`` (see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import logging
import math
import os
import platform
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from msk1model.config import load_config
from msk1model.contract import InputContract
from msk1model.data.rules import value_rules
from msk1model.data.synthetic import make_synthetic_cohort
from msk1model.export import follow_up_limit, log_predictor, risk_groups
from msk1model.models import DesignSpec, SurvivalModel, make_model
from msk1model.outcome import make_y
from msk1model.predictor import PredictorSpec, score_frame

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "configs" / "default.yaml"
FEATURES = ["age", "size", "grade", "nodes", "pr", "msk1"]
HORIZONS = (3.0, 5.0)
#: A small model of each kind (XGBoost with the default experiment's 150 trees).
PARAMS: dict[str, dict[str, Any]] = {
    "coxph": {},
    "coxnet": {"alpha": 0.05},
    "xgb_cox": {"n_estimators": 150, "max_depth": 3},
    "xgb_aft": {"n_estimators": 150, "max_depth": 3},
    "gbsa": {"n_estimators": 50},
    "gbsa_componentwise": {"n_estimators": 50},
    "rsf": {"n_estimators": 20},
}
TARGET_LOAD_S = 1.5
TARGET_PREDICT_S = 0.050
TARGET_PATIENTS = 10_000
PACKAGES = ("mlflow", "numpy", "pandas", "scipy", "scikit-learn", "xgboost-cpu", "xgboost")
FRESH_LOADS = 3

#: Run in a fresh interpreter: the import of mlflow and the load, timed inside; the markers on
#: stderr delimit the load in ``-X importtime``'s output.
LOAD_SCRIPT = """
import json, sys, time
start = time.perf_counter()
import mlflow
imported = time.perf_counter()
print("--load--", file=sys.stderr, flush=True)
mlflow.pyfunc.load_model(sys.argv[1])
loaded = time.perf_counter()
print("--loaded--", file=sys.stderr, flush=True)
print(json.dumps({"import": imported - start, "load": loaded - imported}))
"""
IMPORT_LINE = re.compile(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)")


@dataclass
class Figures:
    """One kind's timings in seconds, by name (medians)."""

    kind: str
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Exported:
    """A fitted model, its predictor spec and where its predictor was logged."""

    model: SurvivalModel
    spec: PredictorSpec
    uri: str
    folder: Path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=TARGET_PATIENTS, help="rows to score")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per figure")
    parser.add_argument("--kinds", default="coxnet,coxph,xgb_cox", help="model kinds, a,b,c")
    parser.add_argument("--train-patients", type=int, default=1000, help="rows to fit on")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile loaded.predict; the imports during a fresh load_model (-X importtime)",
    )
    parser.add_argument(
        "--lean-python",
        help="also load in fresh processes of this interpreter: a venv built from the model's "
        "requirements.txt (e.g. /tmp/lean/bin/python)",
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.kinds.split(",")) - set(PARAMS))
    if unknown:
        parser.error(f"unknown kinds {unknown}; known: {sorted(PARAMS)}")
    return args


def median_seconds(call: Callable[[], object], repeats: int) -> float:
    """The median wall time of ``repeats`` calls, after one untimed call (warm caches)."""
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# --- the predictors ----------------------------------------------------------------------------


@contextmanager
def temporary_store() -> Iterator[tuple[Path, str]]:
    """A fresh sqlite tracking and registry store whose artefacts live beside it."""
    with tempfile.TemporaryDirectory(prefix="msk1-bench-") as tmp:
        folder = Path(tmp)
        uri = f"sqlite:///{folder / 'mlflow.db'}"
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        experiment = mlflow.create_experiment("benchmark", (folder / "artifacts").as_uri())
        mlflow.set_experiment(experiment_id=experiment)
        yield folder, uri


def export(kind: str, cohort: pd.DataFrame, folder: Path) -> Exported:
    """Fit ``kind`` on ``cohort``, log its predictor and download it into ``folder``."""
    y = make_y(time=cohort["time"], event=cohort["event"])
    design = DesignSpec(biomarker="msk1")
    model = make_model(kind, PARAMS[kind], features=FEATURES, design=design, random_state=3)
    model.fit(cohort, y)
    rules = value_rules(load_config(DEFAULT_CONFIG, []).data)
    spec = PredictorSpec(
        horizons=HORIZONS,
        max_horizon=follow_up_limit(y),
        risk_groups=risk_groups(
            model, cohort, cut="median", labels=None, biomarker="msk1", report_cutpoint="median"
        ),
        contract=InputContract.from_training(model, cohort, rules=rules),
        meta={"kind": kind},
    )
    with mlflow.start_run(run_name=kind):
        uri = log_predictor(model, spec)
    local = mlflow.artifacts.download_artifacts(uri, dst_path=str(folder / kind))
    return Exported(model, spec, uri, Path(local))


def patients(spec: PredictorSpec, n: int, seed: int = 2) -> pd.DataFrame:
    """``n`` synthetic patients (with ids and every cohort column) within the contract's
    widened training ranges, so that none is refused."""
    parts, found, draw = [], 0, 0
    while found < n:
        cohort = make_synthetic_cohort(max(2 * n, 100), seed=seed + draw)
        keep = np.ones(len(cohort), dtype=bool)
        for rule in spec.contract.rules:
            if rule.kind == "numeric":
                x = cohort[rule.column].to_numpy(dtype=float)
                low = -np.inf if rule.train_low is None else rule.train_low
                high = np.inf if rule.train_high is None else rule.train_high
                keep &= (x >= low) & (x <= high)
        parts.append(cohort[keep])
        found, draw = found + int(keep.sum()), draw + 1
    return pd.concat(parts, ignore_index=True).head(n)


# --- load --------------------------------------------------------------------------------------


def fresh_load(
    model: str,
    cwd: Path,
    *,
    python: str = sys.executable,
    tracking_uri: str | None = None,
    import_times: bool = False,
) -> tuple[dict[str, float], str]:
    """One load of ``model`` by ``python`` in a fresh process: the timings measured inside and
    its wall time, and its stderr (with ``-X importtime``'s report when ``import_times``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PYTHONPATH"))}
    env["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "false"
    if tracking_uri is not None:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    command = [python, *(["-X", "importtime"] if import_times else []), "-c", LOAD_SCRIPT, model]
    start = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, cwd=cwd, env=env, timeout=300, check=False
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"loading {model} in a fresh process failed:\n{done.stderr}")
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "wall": wall}, done.stderr


def fresh_loads(model: str, cwd: Path, **how: Any) -> dict[str, float]:
    """Medians over :data:`FRESH_LOADS` fresh processes: the load alone, the import of mlflow
    before it, and the process's wall time (interpreter start, imports, load)."""
    runs = [fresh_load(model, cwd, **how)[0] for _ in range(FRESH_LOADS)]
    return {name: statistics.median(r[name] for r in runs) for name in ("load", "import", "wall")}


def load_figures(
    exported: Exported, tracking_uri: str, cwd: Path, lean_python: str | None
) -> dict[str, float]:
    by_uri = fresh_loads(exported.uri, cwd, tracking_uri=tracking_uri)
    by_folder = fresh_loads(str(exported.folder), cwd)
    out = {
        "fresh load (models:/, sqlite)": by_uri["load"],
        "fresh import mlflow": by_uri["import"],
        "fresh process wall (models:/)": by_uri["wall"],
        "fresh load (folder)": by_folder["load"],
        "fresh process wall (folder)": by_folder["wall"],
    }
    if lean_python is not None:  # mlflow-skinny reads no sqlite store: the folder only
        try:
            lean = fresh_loads(str(exported.folder), cwd, python=lean_python)
        except RuntimeError as exc:  # e.g. a venv of another kind's requirements
            print(f"  lean load failed: {str(exc).strip().splitlines()[-1]}")
            lean = dict.fromkeys(("load", "import", "wall"), math.nan)
        out["lean fresh load (folder)"] = lean["load"]
        out["lean fresh import mlflow"] = lean["import"]
        out["lean fresh process wall (folder)"] = lean["wall"]
    out["warm load (models:/)"] = median_seconds(
        lambda: mlflow.pyfunc.load_model(exported.uri), FRESH_LOADS
    )
    return out


def import_breakdown(stderr: str, *, over_ms: float = 50.0) -> str:
    """Where the load's imports go, from ``-X importtime``'s report: each package first imported
    during the load from another package (e.g. scikit-learn by msk1model), with its cumulative
    import time, when over ``over_ms``."""
    during = stderr.split("--load--", 1)[-1].split("--loaded--", 1)[0]
    found = [
        (int(m.group(1)) / 1000, len(m.group(2)) // 2, m.group(3))
        for m in map(IMPORT_LINE.match, during.splitlines())
        if m
    ]
    parents: dict[int, str] = {}
    lines = []
    for ms, depth, name in reversed(found):  # importtime reports a module after its imports
        parent = parents.get(depth - 1)
        parents[depth] = name
        if ms >= over_ms and (parent is None or parent.split(".")[0] != name.split(".")[0]):
            by = f"  (imported by {parent})" if parent else ""
            lines.append(f"{ms:8.0f} ms  {name}{by}")
    return "\n".join(lines)


# --- predict -----------------------------------------------------------------------------------


def predict_figures(exported: Exported, frame: pd.DataFrame, repeats: int) -> dict[str, float]:
    """Median times of the steps of a prediction of ``frame`` after load."""
    loaded = mlflow.pyfunc.load_model(exported.uri)
    model, spec = exported.model, exported.spec
    X = frame[model.features_]
    times = np.asarray(spec.horizons, dtype=float)
    one = frame.head(1)
    return {
        "contract.check": median_seconds(lambda: spec.contract.check(frame), repeats),
        "survival function": median_seconds(
            lambda: model.predict_survival_function(X, times), repeats
        ),
        "score_frame": median_seconds(lambda: score_frame(model, spec, frame, {}), repeats),
        "loaded.predict": median_seconds(lambda: loaded.predict(frame), repeats),
        "loaded.predict 1 patient": median_seconds(lambda: loaded.predict(one), max(repeats, 20)),
    }


def profile(exported: Exported, frame: pd.DataFrame, top: int = 15) -> str:
    """cProfile's ``top`` functions by cumulative time of one ``loaded.predict(frame)``."""
    loaded = mlflow.pyfunc.load_model(exported.uri)
    loaded.predict(frame)  # warm: first-call caches are not what a service pays per request
    profiler = cProfile.Profile()
    profiler.runcall(loaded.predict, frame)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("cumulative").print_stats(top)
    return out.getvalue()


# --- report ------------------------------------------------------------------------------------


def machine() -> str:
    versions = []
    for dist in PACKAGES:
        try:
            versions.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            continue
    return (
        f"machine: {os.cpu_count()} CPUs ({platform.machine()}, {platform.system()}), "
        f"Python {platform.python_version()}\npackages: {', '.join(versions)}"
    )


def table(figures: list[Figures], n_patients: int) -> str:
    """Figures in ms, one column per kind, and the targets."""
    names = list(figures[0].seconds)
    width = max(len(n) for n in names) + 2
    lines = [f"{'':<{width}}" + "".join(f"{f.kind:>12}" for f in figures) + "   target"]
    for name in names:
        cells = "".join(f"{f.seconds[name] * 1000:>10.1f}ms" for f in figures)
        lines.append(f"{name:<{width}}{cells}   {_target(name, n_patients)}")
    return "\n".join(lines)


def _target(name: str, n_patients: int) -> str:
    if "fresh load" in name:
        return f"< {TARGET_LOAD_S * 1000:.0f} ms"
    if name == "loaded.predict":
        scaled = TARGET_PREDICT_S * n_patients / TARGET_PATIENTS
        note = "" if n_patients == TARGET_PATIENTS else f" ({n_patients:,} patients, scaled)"
        return f"< {scaled * 1000:.0f} ms{note}"
    return ""


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    warnings.simplefilter("ignore")  # fitting and logging warnings are not what is measured
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    kinds = args.kinds.split(",")
    print(machine())
    print(f"scoring {args.patients:,} synthetic patients; medians of {args.repeats} calls\n")
    cohort = make_synthetic_cohort(args.train_patients, seed=1)
    results: list[Figures] = []
    profiles: dict[str, str] = {}
    imports: dict[str, str] = {}
    with temporary_store() as (folder, uri):
        for kind in kinds:
            start = time.perf_counter()
            exported = export(kind, cohort, folder)
            print(f"{kind}: fitted and logged in {time.perf_counter() - start:.1f} s", flush=True)
            frame = patients(exported.spec, args.patients)
            figures = Figures(kind)
            figures.seconds.update(load_figures(exported, uri, folder, args.lean_python))
            figures.seconds.update(predict_figures(exported, frame, args.repeats))
            results.append(figures)
            if args.profile:
                profiles[f"loaded.predict, {kind}, {args.patients:,} patients"] = profile(
                    exported, frame
                )
                stderr = fresh_load(exported.uri, folder, tracking_uri=uri, import_times=True)[1]
                imports[kind] = import_breakdown(stderr)
    print("\n" + table(results, args.patients))
    for title, text in profiles.items():
        print(f"\n--- cProfile of {title} ---\n{text.strip()}")
    for kind, text in imports.items():
        print(f"\n--- imports over 50 ms during load_model(models:/, sqlite), {kind} ---")
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
