"""Optuna studies that outlive the process: storage, names, resume checks, budgets, stale trials.

Every model's study lives in the storage ``tuning.storage`` names: by default Optuna's journal
file ``optuna.journal`` in the working folder (safe for several processes on one machine), or a
database (PostgreSQL for workers on several machines). A study is named after the experiment,
model, feature set and a digest of the training data and folds, so the same config resumes the
same study from any process, and other data start another one.

A study remembers what it optimises (its :class:`StudySpec`); resuming it with another search
space, metric or direction is refused. Its budget is the number of finished trials (complete,
pruned, or failed by the model itself); a process starts a trial only while finished plus running
trials are below the budget, then waits for the others' trials. A trial whose worker died is
failed and its parameters are tried again: databases by Optuna's heartbeat, the journal file by
checking that the worker's process on this machine is still alive.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import optuna
from optuna.storages import (
    BaseStorage,
    JournalStorage,
    RDBStorage,
    RetryHeartbeatStaleTrialCallback,
)
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from msk1model.config import ModelConfig, TuningConfig
from msk1model.errors import StudyError
from msk1model.processes import is_dead, this_process

__all__ = [
    "DEFAULT_JOURNAL",
    "StudySpec",
    "describe_storage",
    "finished_trials",
    "open_storage",
    "open_study",
    "run_budget",
    "study_name",
]

#: The embedded default storage: a journal file in the working folder.
DEFAULT_JOURNAL = "optuna.journal"
_SPEC_ATTR = "msk1model.spec"
_WORKER_ATTR = "msk1model.worker"
_POLL_S = 0.5
_CREATE_ATTEMPTS = 5
Direction = Literal["maximize", "minimize"]


@dataclass(frozen=True)
class StudySpec:
    """What a study optimises: resuming it with any of these changed is refused."""

    kind: str
    features: tuple[str, ...]
    params: dict[str, Any]
    """Fixed hyperparameters (``model.params``)."""
    search_space: dict[str, Any]
    metric: str
    direction: Direction
    design: dict[str, Any]

    def as_attr(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self), default=str))

    @classmethod
    def of(
        cls,
        model: ModelConfig,
        *,
        features: Sequence[str],
        metric: str,
        direction: Direction,
        design: dict[str, Any],
    ) -> StudySpec:
        space = {k: v.model_dump(mode="json") for k, v in model.search_space.items()}
        return cls(
            model.kind, tuple(features), dict(model.params), space, metric, direction, design
        )


def study_name(
    experiment: str,
    model: str,
    feature_set: str,
    *,
    data_fingerprint: str,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
) -> str:
    """``<experiment>.<model>.<feature set>.<digest>``; the digest is of the data and folds."""
    digest = hashlib.sha256(data_fingerprint.encode())
    for fit, validate in folds:
        digest.update(np.asarray(fit, dtype=np.int64).tobytes())
        digest.update(b"|")
        digest.update(np.asarray(validate, dtype=np.int64).tobytes())
    return f"{experiment}.{model}.{feature_set}.{digest.hexdigest()[:10]}"


def open_storage(tuning: TuningConfig) -> BaseStorage | None:
    """The configured storage; None for ``memory`` (Optuna's in-memory default)."""
    storage = tuning.storage
    if storage == "memory":
        return None
    if storage is None or "://" not in storage:
        path = Path(storage or DEFAULT_JOURNAL).resolve()  # the process may change directory
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    try:
        return _rdb_storage(storage, tuning.heartbeat_s)
    except Exception as exc:  # SQLAlchemy and drivers raise many types; say which and how to fix
        raise StudyError(
            f"the Optuna storage {describe_storage(tuning)} could not be opened "
            f"({type(exc).__name__}: {str(exc).splitlines()[0][:300]}). Fix: check that the "
            "database server runs and the URL's user, host, port and database are right; "
            "PostgreSQL needs `pip install 'msk1model[postgres]'`"
        ) from None


def _rdb_storage(url: str, heartbeat_s: int) -> RDBStorage:
    """Optuna's RDB storage with its heartbeat. Processes that start together on an empty
    database race to create its tables; the losers try again (the winner's tables then exist)."""
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    for attempt in range(_CREATE_ATTEMPTS):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeat
                return RDBStorage(
                    url,
                    heartbeat_interval=heartbeat_s,
                    grace_period=2 * heartbeat_s,
                    heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=3),
                )
        except (IntegrityError, ProgrammingError):
            if attempt == _CREATE_ATTEMPTS - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def describe_storage(tuning: TuningConfig) -> str:
    """The storage as a user passes it to ``optuna-dashboard``: an absolute journal path, or the
    database URL with any password hidden."""
    storage = tuning.storage
    if storage == "memory":
        return "memory"
    if storage is None or "://" not in storage:
        return str(Path(storage or DEFAULT_JOURNAL).resolve())
    from sqlalchemy.engine import make_url

    return make_url(storage).render_as_string(hide_password=True)


def open_study(
    name: str,
    spec: StudySpec,
    *,
    storage: BaseStorage | None,
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
) -> optuna.Study:
    """Create the study or load it, refusing one that optimises something else."""
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        sampler=sampler,
        pruner=pruner,
        direction=spec.direction,
        load_if_exists=True,
    )
    wanted = spec.as_attr()
    found = study.user_attrs.get(_SPEC_ATTR)
    if found is None:
        study.set_user_attr(_SPEC_ATTR, wanted)
        return study
    changed = {k: (found.get(k), v) for k, v in wanted.items() if found.get(k) != v}
    if changed:
        what = "; ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changed.items())
        raise StudyError(
            f"study {name!r} was run with another {', '.join(changed)} ({what}); resuming it "
            "would mix trials of two different searches. Fix: restore the earlier settings to "
            "resume it, rename the experiment to start new studies, or delete this one: "
            f"optuna delete-study --study-name '{name}' --storage STORAGE"
        )
    return study


def finished_trials(study: optuna.Study) -> int:
    """Trials that count against the budget: complete, pruned, or failed by the model itself
    (``user_attrs["error"]``); a trial failed because its worker died does not count."""
    return sum(
        1
        for t in study.get_trials(deepcopy=False)
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
        or (t.state == TrialState.FAIL and "error" in t.user_attrs)
    )


def run_budget(
    study: optuna.Study,
    objective: Callable[[optuna.Trial], float],
    *,
    n_trials: int,
    storage: BaseStorage | None,
    timeout_s: float | None = None,
    callbacks: Sequence[Callable[[optuna.Study, FrozenTrial], None]] = (),
    wait: bool = True,
) -> int:
    """Run trials until ``n_trials`` have finished, sharing the work with other processes.

    A trial starts only while finished plus running trials stay below ``n_trials``; then, with
    ``wait``, this process waits for the other processes' running trials (failing and retrying
    those whose worker died). Returns the number of trials this process ran.
    """
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    ran = 0
    while deadline is None or time.monotonic() < deadline:
        _fail_stale(study, storage)
        running = len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
        done = finished_trials(study)
        if done >= n_trials:
            break
        if done + running < n_trials:
            study.optimize(_marked(objective), n_trials=1, callbacks=list(callbacks), catch=())
            ran += 1
        elif not wait:
            break
        else:
            time.sleep(_POLL_S)
    return ran


def _marked(objective: Callable[[optuna.Trial], float]) -> Callable[[optuna.Trial], float]:
    """The objective, with the trial marked by the worker running it (host and process id)."""

    def marked(trial: optuna.Trial) -> float:
        trial.set_user_attr(_WORKER_ATTR, this_process())
        return objective(trial)

    return marked


def _fail_stale(study: optuna.Study, storage: BaseStorage | None) -> None:
    """Fail the running trials whose worker died, and enqueue their parameters again."""
    if isinstance(storage, RDBStorage):
        optuna.storages.fail_stale_trials(study)  # the heartbeat's rule; retries via its callback
        return
    if not isinstance(storage, JournalStorage):
        return
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not is_dead(str(trial.user_attrs.get(_WORKER_ATTR, ""))):
            continue  # alive, or on another host (whose processes this one cannot see)
        trial_id = storage.get_trial_id_from_study_id_trial_number(
            storage.get_study_id_from_name(study.study_name), trial.number
        )
        if storage.set_trial_state_values(trial_id, TrialState.FAIL):
            study.enqueue_trial(trial.params, user_attrs={"msk1model.retry_of": trial.number})
