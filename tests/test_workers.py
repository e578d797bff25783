"""Several processes on one study, for real: ``msk1model tune --worker`` processes on the journal
file and on a PostgreSQL server this module starts (Debian's postgresql; `make test-slow`
installs it as root where missing), a worker killed with SIGKILL mid-trial, and ``train``
using the studies the workers finished."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from msk1model.config import load_config
from msk1model.studies import open_storage

from .conftest import DEFAULT_CONFIG
from .servers import postgres_cluster

pytestmark = pytest.mark.slow  # real worker processes and a database server

N_TRIALS = 16
#: One study (coxnet, clinical+msk1) of trials of about 0.2-0.5 s on 2 cores.
WORKLOAD = (
    "experiment=workers",
    "data.synthetic.n_patients=1600",
    "split.cv_folds=5",
    f"tuning.n_trials={N_TRIALS}",
    "models.xgb_cox=null",
    "feature_sets=[clinical+msk1]",
    "report.enabled=false",
)


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on 127.0.0.1 (trust authentication), stopped at the end."""
    with postgres_cluster() as url:
        yield url


def _args(storage: str, *extra: str) -> list[str]:
    sets = [*WORKLOAD, f"tuning.storage={storage}", *extra]
    return [str(DEFAULT_CONFIG), *(f"--set={s}" for s in sets)]


def _worker(storage: str, cwd: Path, *extra: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "msk1model.cli", "tune", *_args(storage, *extra), "--worker"]
    return subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)  # fmt: skip


def _study(storage: str, cwd: Path, *extra: str) -> optuna.Study:
    config = load_config(DEFAULT_CONFIG, [*WORKLOAD, f"tuning.storage={storage}", *extra])
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        storage = open_storage(config.tuning)
        summaries = optuna.get_all_study_summaries(storage)  # type: ignore[arg-type]
        (name,) = [s.study_name for s in summaries if s.study_name.startswith(config.experiment)]
        return optuna.load_study(study_name=name, storage=storage)  # type: ignore[arg-type]
    finally:
        os.chdir(previous)


def _finish(proc: subprocess.Popen[str], timeout: float = 240) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-3000:]
    return out


def _assert_complete(
    study: optuna.Study, planned: int, *, exact: bool
) -> list[optuna.trial.FrozenTrial]:
    trials = study.get_trials()
    states = {t.state for t in trials}
    assert TrialState.RUNNING not in states and TrialState.WAITING not in states, states
    done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(done) == planned if exact else planned <= len(done) <= planned + 1, len(done)
    assert len({t.number for t in trials}) == len(trials)
    assert len({tuple(sorted(t.params.items())) for t in done}) == len(done)  # no trial twice
    return done


@pytest.mark.parametrize("backend", ["journal", "postgres"])
def test_two_workers_finish_one_study_with_every_trial_complete_and_unique(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    storage = "optuna.journal" if backend == "journal" else request.getfixturevalue("postgres_url")
    workers = [_worker(storage, tmp_path) for _ in range(2)]
    outputs = [_finish(w) for w in workers]
    done = _assert_complete(_study(storage, tmp_path), N_TRIALS, exact=False)
    by_worker = {t.user_attrs["msk1model.worker"] for t in done}
    print(
        backend,
        "trials per worker:",
        {w: sum(t.user_attrs["msk1model.worker"] == w for t in done) for w in by_worker},
    )
    assert len(by_worker) == 2, outputs  # both processes ran trials of the one study
    for out in outputs:
        assert "worker done:" in out


@pytest.mark.parametrize("backend", ["journal", "postgres"])
def test_a_worker_killed_mid_trial_leaves_a_study_that_still_completes(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    storage = "optuna.journal" if backend == "journal" else request.getfixturevalue("postgres_url")
    extra = ("tuning.heartbeat_s=1", "experiment=killed")  # a database fails it after 2 s
    victim = _worker(storage, tmp_path, *extra)
    killed: optuna.trial.FrozenTrial | None = None
    study: optuna.Study | None = None
    deadline = time.monotonic() + 120
    while killed is None and time.monotonic() < deadline and victim.poll() is None:
        time.sleep(0.1)
        if study is None:
            try:
                study = _study(storage, tmp_path, *extra)
            except (ValueError, KeyError, RuntimeError):
                continue  # no study yet
        trials = study.get_trials()
        finished = [t for t in trials if t.state.is_finished()]
        # a trial with its parameters drawn: one killed before that has nothing to retry
        running = [t for t in trials if t.state == TrialState.RUNNING and t.params]
        if len(finished) >= 2 and running:
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=30)
            killed = running[0]
    assert killed is not None, (
        "the worker never had a trial running",
        victim.poll(),
        victim.stdout.read()[-2000:] if victim.poll() is not None and victim.stdout else "",
    )
    _finish(_worker(storage, tmp_path, *extra))  # a fresh worker after the crash
    study = _study(storage, tmp_path, *extra)
    _assert_complete(study, N_TRIALS, exact=True)
    stale = study.trials[killed.number]
    assert stale.state == TrialState.FAIL
    retried = [t for t in study.trials if t.number > killed.number and t.params == stale.params]
    assert retried and retried[0].state in (TrialState.COMPLETE, TrialState.PRUNED)


def test_train_uses_the_study_the_workers_finished_and_logs_every_trial(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    _finish(_worker("optuna.journal", tmp_path))
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    command = [sys.executable, "-m", "msk1model.cli", "train",
               *_args("optuna.journal", f"tracking.uri={store}")]  # fmt: skip
    out = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    client = MlflowClient(store)
    (experiment,) = [e for e in client.search_experiments() if e.name == "workers"]
    (model_run,) = client.search_runs([experiment.experiment_id], "tags.`msk1model.role` = 'model'")
    study = _study("optuna.journal", tmp_path)
    assert model_run.data.tags["optuna.study_name"] == study.study_name
    assert model_run.data.tags["optuna.storage"] == str(tmp_path / "optuna.journal")
    trials = client.search_runs(
        [experiment.experiment_id], f"tags.`mlflow.parentRunId` = '{model_run.info.run_id}'"
    )
    assert len(trials) == len(study.trials) == N_TRIALS  # train ran none: the study was done
    assert model_run.data.metrics["tuning/n_trials"] == N_TRIALS
    best = study.best_trial
    assert model_run.data.params == {
        **model_run.data.params,
        **{f"hp.{k}": str(v) for k, v in best.params.items()},
    }
