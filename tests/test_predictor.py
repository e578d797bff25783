"""The exported predictor without the pipeline: outputs, params, integrity, requirements, card,
registry versions and the predict and models CLI verbs, on real MLflow stores."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from msk1model import integrity
from msk1model.cli import main
from msk1model.contract import InputContract
from msk1model.data.rules import ValueRules
from msk1model.data.synthetic import make_synthetic_cohort
from msk1model.errors import ExportError, HorizonWarning, InputError
from msk1model.export import (
    RUNTIME_REQUIREMENTS,
    follow_up_limit,
    log_predictor,
    predictor_horizons,
    register_predictor,
    risk_groups,
    runtime_requirements,
    version_tags,
)
from msk1model.models import MODEL_KINDS, SurvivalModel, make_model
from msk1model.outcome import make_y
from msk1model.predictor import PREDICTOR_FORMAT, PredictorSpec, RiskGroups, score_frame

from .test_estimator_contract import SMALL

FEATURES = ["age", "size", "grade", "nodes", "pr", "msk1"]
SECRET_ID = "PATIENT-ID-4711-SECRET"


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return make_synthetic_cohort(400, seed=31)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh tracking and registry store, and an experiment whose artefacts live beside it."""
    folder = tmp_path_factory.mktemp("predictor_store")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment(
        experiment_id=mlflow.create_experiment("predictor", (folder / "a").as_uri())
    )
    return uri


def _export(model: SurvivalModel, cohort: pd.DataFrame, *, cut: str = "median") -> PredictorSpec:
    spec = PredictorSpec(
        horizons=(3.0, 5.0),
        max_horizon=follow_up_limit(make_y(time=cohort["time"], event=cohort["event"])),
        risk_groups=risk_groups(
            model, cohort, cut=cut, labels=None, biomarker="msk1", report_cutpoint="median"
        ),  # type: ignore[arg-type]
        contract=InputContract.from_training(model, cohort, rules=ValueRules()),
        meta={"kind": model.kind},
    )
    return spec


def _fit(kind: str, cohort: pd.DataFrame) -> SurvivalModel:
    model = make_model(kind, SMALL[kind], features=FEATURES, random_state=3)
    return model.fit(cohort, make_y(time=cohort["time"], event=cohort["event"]))


@pytest.fixture(scope="module")
def exported(store: str, cohort: pd.DataFrame) -> tuple[SurvivalModel, PredictorSpec, str]:
    """A coxph predictor, logged once for the module: (model, spec, model URI)."""
    model = _fit("coxph", cohort)
    spec = _export(model, cohort)
    with mlflow.start_run():
        uri = log_predictor(model, spec)
    return model, spec, uri


@pytest.fixture(scope="module")
def local(exported, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A downloaded copy of the exported model's folder."""
    target = tmp_path_factory.mktemp("downloaded")
    return Path(mlflow.artifacts.download_artifacts(exported[2], dst_path=str(target)))


# --- every kind ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def every_kind(
    store: str, cohort: pd.DataFrame
) -> dict[str, tuple[SurvivalModel, PredictorSpec, str]]:
    """A small predictor of every model kind, logged once: kind -> (model, spec, URI)."""
    out = {}
    for kind in sorted(MODEL_KINDS):
        model = _fit(kind, cohort)
        spec = _export(model, cohort)
        with mlflow.start_run():
            out[kind] = (model, spec, log_predictor(model, spec))
    return out


def _assert_same(loaded: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(loaded.columns) == list(expected.columns)
    assert loaded["risk_group"].tolist() == expected["risk_group"].tolist()
    numbers = expected.columns.drop("risk_group")
    np.testing.assert_allclose(
        loaded[numbers].to_numpy(float), expected[numbers].to_numpy(float), rtol=0, atol=1e-9
    )


@pytest.mark.parametrize("kind", sorted(MODEL_KINDS))
def test_every_kind_loads_without_pickle_and_predicts_as_in_process(
    kind: str, every_kind, cohort: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, spec, uri = every_kind[kind]
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    rows = cohort.head(40).assign(patient_id=SECRET_ID)
    _assert_same(mlflow.pyfunc.load_model(uri).predict(rows), score_frame(model, spec, rows, {}))


LEAN_SCRIPT = """
import json, sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None  # importing them now fails, as in the lean environment
import mlflow, pandas as pd
rows = pd.read_csv(sys.argv[2])
out = {}
for folder in sys.argv[3:]:
    out[folder] = mlflow.pyfunc.load_model(folder).predict(rows).to_dict(orient="list")
assert "msk1model.models.coxph" in sys.modules and "sklearn.base" not in sys.modules
print(json.dumps(out))
"""
#: What no predictor imports, and what only the xgb_* kinds import (XGBoost imports SciPy).
FIT_TIME_ONLY = ("sklearn", "sksurv", "lifelines", "optuna")
XGB_ONLY = ("xgboost", "scipy")


def test_every_kind_scores_without_scikit_learn_or_scipy(
    every_kind, cohort: pd.DataFrame, tmp_path: Path
) -> None:
    """The shipped code in a process where scikit-learn, SciPy and the fit-time libraries
    cannot be imported (the lean environment's situation), one load per kind."""
    rows = cohort.head(30).assign(patient_id=SECRET_ID)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    folders = {
        kind: mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp_path / kind))
        for kind, (_, _, uri) in every_kind.items()
    }
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    got: dict[str, Any] = {}
    for xgb_kinds in (False, True):
        blocked = FIT_TIME_ONLY if xgb_kinds else FIT_TIME_ONLY + XGB_ONLY
        chosen = [f for kind, f in folders.items() if kind.startswith("xgb_") == xgb_kinds]
        script = [sys.executable, "-c", LEAN_SCRIPT, ",".join(blocked)]
        done = subprocess.run(
            [*script, str(tmp_path / "rows.csv"), *chosen],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        got.update(json.loads(done.stdout.strip().splitlines()[-1]))
    for kind, (model, spec, _) in every_kind.items():
        _assert_same(pd.DataFrame(got[folders[kind]]), score_frame(model, spec, rows, {}))


# --- outputs and params ------------------------------------------------------------------------


def test_outputs_event_probability_risk_group_and_extra_horizons(exported, cohort) -> None:
    model, spec, uri = exported
    predictor = mlflow.pyfunc.load_model(uri)
    out = predictor.predict(cohort, params={"horizons": [7.0, 3.0]})
    assert list(out.columns) == [
        "risk_score",
        "risk_group",
        "survival_3y",
        "survival_5y",
        "survival_7y",
        "event_prob_3y",
        "event_prob_5y",
        "event_prob_7y",
    ]
    for h in ("3y", "5y", "7y"):
        np.testing.assert_allclose(out[f"event_prob_{h}"], 1.0 - out[f"survival_{h}"], atol=1e-15)
    direct = model.predict_survival_function(cohort, np.array([7.0]))[:, 0]
    np.testing.assert_allclose(out["survival_7y"], direct, rtol=0, atol=1e-12)
    # the cut is the training median of the risk score: half the training rows are "high"
    risk = model.predict(cohort)
    assert spec.risk_groups.cuts == (pytest.approx(float(np.median(risk)), abs=1e-12),)
    high = (out["risk_group"] == "high").to_numpy()
    np.testing.assert_array_equal(high, risk > np.median(risk))
    assert abs(high.mean() - 0.5) <= 1 / len(cohort)


def test_curve_output_is_long_format_on_a_time_grid(exported, cohort) -> None:
    model, spec, uri = exported
    predictor = mlflow.pyfunc.load_model(uri)
    rows = cohort.head(3)
    curve = predictor.predict(rows, params={"output": "curve", "curve_step": 0.5})
    grid = np.arange(0.0, spec.max_horizon + 1e-9, 0.5)
    assert list(curve.columns) == ["row", "time", "survival", "event_prob"]
    assert len(curve) == 3 * len(grid)
    np.testing.assert_allclose(curve["time"].to_numpy()[: len(grid)], grid, atol=1e-12)
    expected = model.predict_survival_function(rows, grid).ravel()
    np.testing.assert_allclose(curve["survival"], expected, rtol=0, atol=1e-12)
    assert curve["survival"].iloc[0] == 1.0  # S(0) = 1


def test_horizons_beyond_the_training_follow_up_are_refused(exported, cohort) -> None:
    _, spec, uri = exported
    predictor = mlflow.pyfunc.load_model(uri)
    limit = f"{spec.max_horizon:g}"
    with pytest.raises(InputError, match=rf"params 'horizons' \[40.0\] lie outside \(0, {limit}\]"):
        predictor.predict(cohort.head(2), params={"horizons": [40.0]})
    with pytest.raises(InputError, match="params 'output' must be 'table' or 'curve'"):
        predictor.predict(cohort.head(2), params={"output": "plot"})


def test_follow_up_limit_is_floored_to_two_significant_figures() -> None:
    y = make_y(time=[1.0, 9.87, 3.0], event=[1, 0, 1])
    assert follow_up_limit(y) == 9.8
    assert follow_up_limit(make_y(time=[12.34, 2.0], event=[1, 1])) == 12.0


def test_configured_horizons_beyond_follow_up_are_dropped_with_a_warning() -> None:
    with pytest.warns(HorizonWarning, match=r"horizon\(s\) \[15.0\] lie beyond .* \(9.8 years\)"):
        assert predictor_horizons([3.0, 5.0, 15.0], 9.8) == [3.0, 5.0]
    with pytest.raises(ExportError, match="every horizon"):
        predictor_horizons([15.0], 9.8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert predictor_horizons([3.0, 5.0], 9.8) == [3.0, 5.0]


def test_report_cut_groups_by_msk1_and_labels_low_msk1_high_risk(cohort) -> None:
    """On the synthetic cohort low MSK1 means early relapse (Gawrzak et al. 2018)."""
    model = _fit("coxph", cohort)
    groups = risk_groups(
        model, cohort, cut="report", labels=None, biomarker="msk1", report_cutpoint="median"
    )
    assert groups.on == "msk1"
    assert groups.cuts == (pytest.approx(float(np.median(cohort["msk1"])), abs=1e-12),)
    assert groups.labels == ("high", "low")  # msk1 <= median: high risk
    tertiles = risk_groups(
        model,
        cohort,
        cut="tertiles",
        labels=["a", "b", "c"],
        biomarker="msk1",
        report_cutpoint="median",
    )
    counts = pd.Series(tertiles.assign(model.predict(cohort))).value_counts()
    assert counts.to_dict() == pytest.approx({"a": 134, "b": 133, "c": 133}, abs=1)
    with pytest.raises(ExportError, match="needs 2 labels for cut 'median'"):
        risk_groups(
            model, cohort, cut="median", labels=["x"], biomarker="msk1", report_cutpoint="median"
        )


def test_a_predictor_format_of_another_version_is_refused_clearly(exported) -> None:
    state = exported[1].to_state()
    with pytest.raises(ExportError, match=rf"format {PREDICTOR_FORMAT + 1}, newer than"):
        PredictorSpec.from_state({**state, "format": PREDICTOR_FORMAT + 1})
    with pytest.raises(ExportError, match="format None, older than"):
        PredictorSpec.from_state({k: v for k, v in state.items() if k != "format"})
    assert RiskGroups.from_state(state["risk_groups"]) == exported[1].risk_groups


# --- integrity ---------------------------------------------------------------------------------


def _change_one_byte(path: Path) -> None:
    """Change the last digit (else the last letter's case) of a file: it stays parseable."""
    data = bytearray(path.read_bytes())
    for i in range(len(data) - 1, -1, -1):
        if chr(data[i]).isdigit():
            data[i] = ord(str((int(chr(data[i])) + 1) % 10))
            break
    else:
        i = max(j for j, b in enumerate(data) if chr(b).isalpha())
        data[i] = ord(chr(data[i]).swapcase())
    path.write_bytes(bytes(data))


def _refusal(folder: Path) -> str:
    with pytest.raises(MlflowException) as caught:
        mlflow.pyfunc.load_model(str(folder))
    return str(caught.value)


def test_one_changed_byte_in_any_file_refuses_the_load_naming_the_file(
    local: Path, tmp_path: Path
) -> None:
    files = sorted(
        p.relative_to(local).as_posix()
        for p in local.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.name != "registered_model_meta"
    )
    assert {"MLmodel", "manifest.json", "predictor_entry.py", "requirements.txt"} <= set(files)
    assert {"artifacts/model_state/model.json", "code/msk1model/predictor.py"} <= set(files)
    for i, name in enumerate(files):
        copy = tmp_path / f"copy{i}"
        shutil.copytree(local, copy)
        _change_one_byte(copy / name)
        text = _refusal(copy)
        assert "loading refused" in text, (name, text)
        if name != integrity.MANIFEST:
            assert f"changed: ['{name}']" in text, (name, text)
    # an untouched copy loads
    assert len(mlflow.pyfunc.load_model(str(local)).predict(_example(local))) == 3


def _example(folder: Path) -> pd.DataFrame:
    return PredictorSpec.read(folder / "artifacts" / "predictor.json").contract.example()


def test_missing_extra_and_cached_files(local: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    shutil.copytree(local, missing)
    (missing / "code" / "msk1model" / "splines.py").unlink()
    assert "missing: ['code/msk1model/splines.py']" in _refusal(missing)
    extra = tmp_path / "extra"
    shutil.copytree(local, extra)
    (extra / "code" / "msk1model" / "sitecustomize.py").write_text("print('hi')\n")
    assert "extra: ['code/msk1model/sitecustomize.py']" in _refusal(extra)
    no_manifest = tmp_path / "no_manifest"
    shutil.copytree(local, no_manifest)
    (no_manifest / "manifest.json").unlink()
    assert "has no readable manifest.json" in _refusal(no_manifest)
    cached = tmp_path / "cached"
    shutil.copytree(local, cached)
    planted = cached / "code" / "msk1model" / "__pycache__" / "predictor.cpython-311.pyc"
    planted.parent.mkdir()
    planted.write_bytes(b"not byte code")
    assert len(mlflow.pyfunc.load_model(str(cached)).predict(_example(cached))) == 3
    assert not planted.exists()  # caches are removed before the check, never run


# --- requirements ------------------------------------------------------------------------------


def _module_level_imports(path: Path) -> set[str]:
    """Modules a file imports when it is imported (not those inside functions)."""
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_the_shipped_code_imports_only_its_requirements(local: Path, every_kind) -> None:
    """Module-level imports of every shipped file are the standard library, msk1model's shipped
    modules or the requirements (an optional ``try: import sklearn`` is not at module level);
    the kinds' requirements files list exactly what :func:`runtime_requirements` says."""
    lines = (local / "requirements.txt").read_text().split()
    assert lines == runtime_requirements("coxph")
    assert [line.split("==")[0] for line in lines] == ["mlflow-skinny", "numpy", "pandas"]
    xgb = Path(mlflow.artifacts.download_artifacts(every_kind["xgb_cox"][2]))
    assert (xgb / "requirements.txt").read_text().split() == [
        *lines,
        f"xgboost-cpu=={metadata.version('xgboost-cpu')}",
    ]
    allowed = {module for module, _ in RUNTIME_REQUIREMENTS} | set(sys.stdlib_module_names)
    code = local / "code"
    shipped = [*sorted(code.rglob("*.py")), local / "predictor_entry.py"]
    for path in shipped:
        for module in _module_level_imports(path):
            top = module.split(".")[0]
            if top == "msk1model":
                as_file = code / Path(*module.split("."))
                assert (
                    as_file.with_suffix(".py").is_file() or (as_file / "__init__.py").is_file()
                ), f"{path.name} imports {module}, which is not shipped"
            else:
                assert top in allowed, f"{path.relative_to(local)} imports {module}"
    assert not (code / "msk1model" / "config").exists()  # training code stays at home


def test_no_patient_id_or_row_in_any_file_of_the_model(local: Path, cohort: pd.DataFrame) -> None:
    text = "\n".join(p.read_text(errors="replace") for p in local.rglob("*") if p.is_file())
    assert "SYN0" not in text
    for row in cohort[["age", "size", "msk1"]].head(50).itertuples(index=False):
        assert f"{row.age}, {row.size}" not in text


# --- registry, card and CLI --------------------------------------------------------------------


def test_the_champion_moves_only_within_endpoint_and_cohort(exported, capsys) -> None:
    uri = exported[2]
    same = {"endpoint": "mfs", "cohort": "A"}

    def register(c: float, **where: str) -> Any:
        tags = version_tags(
            **{**same, **where}, data_fingerprint="f", config_hash="h", git_commit=None
        )
        return register_predictor(
            uri,
            "versions",
            "champion",
            {"test_harrell_c": c},
            champion_metric="test_harrell_c",
            tags=tags,
            description=f"card {c}",
        )

    assert register(0.60).promoted
    other = register(0.90, endpoint="os")
    assert not other.promoted and "another endpoint ('mfs', this version: 'os')" in other.reason
    assert not register(0.95, cohort="B").promoted
    better = register(0.70)
    assert better.promoted and better.previous_champion == "1"
    client = MlflowClient()
    champion = client.get_model_version_by_alias("versions", "champion")
    assert str(champion.version) == "4" and champion.description == "card 0.7"
    assert champion.tags["msk1model.git_commit"].startswith("unknown")
    assert main(["models", "list", "versions", "--tracking-uri", mlflow.get_tracking_uri()]) == 0
    listed = capsys.readouterr().out
    assert "champion" in listed and "0.9500" in listed and "os" in listed
    assert main(["promote", "versions", "2", "--tracking-uri", mlflow.get_tracking_uri()]) == 0
    assert "versions@champion -> version 2 (was version 4)" in capsys.readouterr().out
    assert str(client.get_model_version_by_alias("versions", "champion").version) == "2"
    assert main(["promote", "versions", "9", "--tracking-uri", mlflow.get_tracking_uri()]) == 2
    assert "has no version '9'; its versions: [1, 2, 3, 4]" in capsys.readouterr().err


def test_predict_cli_scores_csv_and_parquet_in_chunks(exported, cohort, tmp_path: Path) -> None:
    model, spec, uri = exported
    rows = cohort.head(25).assign(patient_id=SECRET_ID)
    rows.to_csv(tmp_path / "in.csv", index=False)
    rows.to_parquet(tmp_path / "in.parquet", index=False)
    expected = score_frame(model, spec, rows, {})
    store = ["--tracking-uri", mlflow.get_tracking_uri()]
    for source, target in (("in.csv", "out.csv"), ("in.parquet", "out.parquet")):
        argv = ["predict", "--model", uri, "--input", str(tmp_path / source)]
        code = main([*argv, "--output", str(tmp_path / target), "--chunk-size", "10", *store])
        assert code == 0
        read = pd.read_csv if target.endswith(".csv") else pd.read_parquet
        got = read(tmp_path / target)
        assert got["risk_group"].tolist() == expected["risk_group"].tolist()
        np.testing.assert_allclose(got["survival_5y"], expected["survival_5y"], atol=1e-9)


def test_predict_cli_refusal_counts_rows_over_the_file_and_writes_nothing(
    exported, cohort, tmp_path: Path, capsys
) -> None:
    rows = cohort.head(25).assign(patient_id=SECRET_ID).astype({"age": object})
    rows.loc[3, "age"] = "SECRET-TEXT-VALUE"
    rows.loc[17, "age"] = -42.5
    rows.to_csv(tmp_path / "in.csv", index=False)
    argv = ["predict", "--model", exported[2], "--input", str(tmp_path / "in.csv")]
    argv += ["--output", str(tmp_path / "out.csv"), "--chunk-size", "10"]
    assert main([*argv, "--tracking-uri", mlflow.get_tracking_uri()]) == 2
    err = capsys.readouterr().err
    assert "column 'age' must be a number (row 3)" in err
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "out.csv.partial").exists()
    for secret in (SECRET_ID, "SECRET-TEXT-VALUE"):
        assert secret not in err
    rows.loc[3, "age"] = 50.0
    rows.to_csv(tmp_path / "in.csv", index=False)
    assert main([*argv, "--tracking-uri", mlflow.get_tracking_uri()]) == 2
    err = capsys.readouterr().err
    assert "column 'age' must lie in its possible range" not in err  # ValueRules(): no range
    assert "(row 17)" in err and "-42.5" not in err


def test_loading_warns_when_this_process_scores_with_other_code(
    local: Path, tmp_path: Path
) -> None:
    """In-process, the msk1model already imported scores; a shipped copy that differs warns."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the shipped code equals this checkout's: no warning
        mlflow.pyfunc.load_model(str(local))
    older = tmp_path / "older"
    shutil.copytree(local, older)
    shipped = older / "code" / "msk1model" / "splines.py"
    shipped.write_text(shipped.read_text() + "# an older version\n")
    integrity.write_manifest(older)  # a consistent model whose code differs from ours
    with pytest.warns(
        UserWarning, match=r"differs from the code shipped .* \['code/msk1model/splines.py'\]"
    ):
        mlflow.pyfunc.load_model(str(older))
