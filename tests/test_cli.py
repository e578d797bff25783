"""The console script: verbs, the summary, clear errors, and no run left RUNNING."""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from contextlib import closing
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from msk1model.cli import main

from .conftest import DEFAULT_CONFIG, TINY
from .test_report import CHROMIUM, needs_chromium

SCRIPT = [sys.executable, "-m", "msk1model.cli"]


def set_args(*overrides: str) -> list[str]:
    return [arg for o in overrides for arg in ("--set", o)]


def test_help_documents_every_verb(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for verb in ("train", "check", "ui"):
        assert verb in out


def test_train_prints_a_summary_that_fits_80_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("COLUMNS", "80")
    code = main(
        [
            "train",
            str(DEFAULT_CONFIG),
            *set_args(*TINY, "tuning.n_trials=1", "report.enabled=false"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80, "\n".join(lines)
    header = next(line for line in lines if line.lstrip().startswith("model"))
    for cell in ("CV C±SD", "test C", "Uno C", "AUC 5y", "slope 5y", "export"):
        assert cell in header  # no header cut
    rows, feature_set = [], None
    for line in lines:
        if line.startswith("features: "):
            feature_set = line.removeprefix("features: ").strip()
        elif line.split()[:1] in (["coxnet"], ["xgb_cox"]):
            rows.append((line.split()[0], feature_set, line.split()))
    assert sorted((model, fs) for model, fs, _ in rows) == [
        ("coxnet", "clinical"),
        ("coxnet", "clinical+msk1"),
        ("xgb_cox", "clinical"),
        ("xgb_cox", "clinical+msk1"),
    ]
    assert [fs for _, fs, cells in rows if cells[-1] == "yes"] == ["clinical+msk1"]  # exported
    assert all(re.fullmatch(r"0\.\d{3}±0\.\d{3}", cells[1]) for _, _, cells in rows)
    assert "MLflow: sqlite:///mlflow.db, experiment" in out
    assert "registered: msk1-prognostic version 1 (champion" in out
    # the default store is ./mlflow.db with artefacts in ./mlruns
    assert (tmp_path / "mlflow.db").is_file() and (tmp_path / "mlruns").is_dir()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("tuning.n_trail=3",), "tuning has no key 'n_trail'"),
        (("data.columns.biomarker=RPS6KA5",), "lacks required column(s) 'RPS6KA5'"),
        (
            ("models.coxnet.search_space.l1_ratio={type: float, low: 2, high: 5}",),
            "config key 'models.coxnet': Value error, search_space.l1_ratio.low is 2.0, outside "
            "what coxnet l1_ratio takes: (0, 1]. Fix: low and high in that range",
        ),
        (
            ("models.xgb_cox.params.n_estimators=0",),
            "params.n_estimators is 0, outside what xgb_cox n_estimators takes: whole numbers >= 1",
        ),
        (
            ("data.synthetic.n_patients=100", "split.cv_folds=5", "evaluation.uno_tau=1"),
            "CV validation fold 1 of 5 holds 1 event(s) up to 1 years (Uno's C truncation, "
            "evaluation.uno_tau), but every metric needs at least 2 in each validation fold and "
            "test part. Fix: fewer folds (split.cv_folds)",
        ),
        (
            ("data.synthetic.n_patients=36000", "models.forest={kind: rsf}"),
            "models.forest: model kind 'rsf' is refused for 20,221 training patients (limit "
            "20,000): scikit-survival's log-rank split search",
        ),
    ],
)
def test_bad_input_exits_non_zero_without_runs(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    overrides: tuple[str, ...],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    code = main(["train", str(DEFAULT_CONFIG), *set_args(*overrides)])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2
    assert message in err
    assert not (tmp_path / "mlflow.db").exists()


def test_unknown_config_key_in_file_exits_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(f"base: {DEFAULT_CONFIG}\ntunning:\n  n_trials: 2\n")
    assert main(["check", str(path)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "config key 'tunning' is not allowed (unknown key) (did you mean 'tuning'?)" in err


#: The first model's studies finish at once (their trial runs show the run reached tuning); the
#: next model's would take minutes, so the signal lands in its tuning.
LONG_TUNING = ("tuning.n_trials=500", "models.coxnet.n_trials=2")


def test_sigterm_leaves_no_run_running(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{db}", "PYTHONFAULTHANDLER": "1"}
    stderr = tmp_path / "stderr.txt"
    with stderr.open("w") as err:
        proc = subprocess.Popen(
            [*SCRIPT, "train", str(DEFAULT_CONFIG), *set_args(*TINY, *LONG_TUNING)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None and not _trial_runs(db):
            time.sleep(0.5)
        assert _trial_runs(db), f"the run never reached tuning:\n{stderr.read_text()[-4000:]}"
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)  # faulthandler dumps every thread's stack
            proc.wait(timeout=10)
            pytest.fail(
                f"train ignored SIGTERM for 60 s; its stacks:\n{stderr.read_text()[-8000:]}"
            )
    finally:
        proc.kill()
    assert code == 128 + signal.SIGTERM, stderr.read_text()[-4000:]
    assert "interrupted: stopped by SIGTERM" in stderr.read_text()
    store = f"sqlite:///{db}"  # the registry too: an earlier test may have set another one
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert runs and {r.info.status for r in runs if r.info.status != "FINISHED"} == {"KILLED"}
    assert "Traceback" not in stderr.read_text()  # neither ours nor Optuna's
    assert client.search_registered_models() == []  # stopped in tuning: nothing published


def _trial_runs(db: Path) -> int:
    """Trial runs in the store, read with plain read-only SQLite: the test must not initialise
    (create tables in) the store the running ``train`` is creating."""
    if not db.exists():
        return 0
    try:
        with closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=1)) as con:
            query = "SELECT COUNT(*) FROM tags WHERE key = 'msk1model.role' AND value = 'trial'"
            return int(con.execute(query).fetchone()[0])
    except sqlite3.Error:  # tables not created yet, or briefly locked
        return 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_health(port: int, proc: subprocess.Popen[bytes]) -> str:
    body, deadline = "", time.monotonic() + 120
    while time.monotonic() < deadline and not body and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply:
                body = reply.read().decode()
        except OSError:
            time.sleep(0.5)
    return body


@pytest.mark.slow  # a service: mlflow ui takes 20-50 s to answer on 2 cores
def test_ui_serves_the_store_on_localhost(tmp_path: Path) -> None:
    port = _free_port()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    proc = subprocess.Popen(
        [*SCRIPT, "ui", "--port", str(port), "--backend-store-uri", uri],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert _wait_for_health(port, proc).strip() == "OK"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@needs_chromium
@pytest.mark.slow  # a service and a browser
def test_the_model_card_is_shown_on_the_version_page_of_the_ui(tiny_run, tmp_path: Path) -> None:
    """The registered version's page in the MLflow UI, rendered by Chromium, shows its card."""
    port = _free_port()
    proc = subprocess.Popen(
        [*SCRIPT, "ui", "--port", str(port), "--backend-store-uri", tiny_run.config.tracking.uri],
        cwd=tiny_run.workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert _wait_for_health(port, proc).strip() == "OK"
        version = tiny_run.result.registration.version
        page = f"http://127.0.0.1:{port}/#/models/msk1-prognostic/versions/{version}"
        profile = tmp_path / "profile"
        done = subprocess.run(
            [
                str(CHROMIUM),
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                f"--user-data-dir={profile}",
                "--virtual-time-budget=30000",
                "--dump-dom",
                page,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        dom = done.stdout
        for shown in ("Model card: msk1-prognostic", "Intended use", "Research use only"):
            assert shown in dom, (shown, dom[-2000:], done.stderr[-2000:])
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_data_list_prints_every_public_cohort(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    listed = [("gse1992", 117, 28), ("gbsg2", 686, 299), ("rott2", 2982, 1272)]
    for name, n, events in [*listed, ("rotterdam", 2982, 1713)]:
        assert re.search(rf"│ {name}\s+│ {n}\s+│ {events}\s+│", out), name


def test_data_describe_prints_follow_up_er_split_and_biomarker(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["data", "describe", "gse1992"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "117 / 28" in out and "70 / 45 / 2" in out  # patients / events; ER + / - / missing
    assert "23.0 months (1.9 years)" in out  # reverse-KM median follow-up
    assert "n=117 missing=0 mean=0.262" in out


def test_data_describe_unknown_cohort_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "describe", "gse9999"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "unknown public cohort 'gse9999'; known cohorts: breast_cancer, gbsg2," in err
