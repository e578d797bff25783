"""Runs of a store and their state; what killed processes left behind, and cleaning it up.

A ``train`` killed with SIGKILL (out of memory, a scheduler) ends nothing: its train and model
runs stay RUNNING, a trial run may stay RUNNING, and a predictor being logged stays PENDING.
Train and model runs carry the process that ran them (tag ``msk1model.process``:
``host:pid:start``); a RUNNING run whose process (or whose parent's) has ended on this host is
*stale*. :func:`clean_stale` ends stale runs as KILLED, fails their PENDING logged models and
deletes a version left without its lineage (registered by an older msk1model, which tagged
versions after creating them, from a run that never finished). Versions made now are created
with their tags in one step and are never incomplete. Runs of other hosts are left alone.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field

import mlflow
from mlflow.entities import LoggedModelStatus, Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from msk1model.errors import TrackingError
from msk1model.processes import is_dead
from msk1model.tracking import PROCESS_TAG

__all__ = ["CleanUp", "RunRow", "clean_stale", "list_runs"]

_PARENT = "mlflow.parentRunId"
_ROLE = "msk1model.role"
_SOURCE_RUN = "msk1model.source_run"


@dataclass(frozen=True)
class RunRow:
    """One run as ``msk1model runs`` lists it."""

    run_id: str
    experiment: str
    name: str
    role: str
    status: str
    started: str
    process: str
    stale: bool
    """RUNNING, and its process (or its parent run's) has ended on this host."""


@dataclass(frozen=True)
class CleanUp:
    """What :func:`clean_stale` changed."""

    runs_killed: tuple[str, ...] = ()
    models_failed: tuple[str, ...] = ()
    versions_deleted: tuple[str, ...] = field(default_factory=tuple)


def _experiments(client: MlflowClient, experiment: str | None) -> dict[str, str]:
    """Experiment ids by name: the one named, or all."""
    found = {e.experiment_id: e.name for e in client.search_experiments()}
    if experiment is None:
        return found
    chosen = {i: n for i, n in found.items() if n == experiment}
    if not chosen:
        raise TrackingError(
            f"no experiment named {experiment!r} in {mlflow.get_tracking_uri()}; experiments: "
            f"{sorted(found.values())}. Fix: check the name (--experiment) and the store"
        )
    return chosen


def _runs(client: MlflowClient, ids: Sequence[str]) -> list[Run]:
    return list(client.search_runs(list(ids), max_results=50_000, order_by=["start_time DESC"]))


def _stale_ids(runs: Sequence[Run]) -> set[str]:
    """RUNNING runs whose own process, or their nearest ancestor's, has ended on this host."""
    by_id = {r.info.run_id: r for r in runs}

    def process_of(run: Run) -> str:
        seen: set[str] = set()
        while run.info.run_id not in seen:
            seen.add(run.info.run_id)
            if PROCESS_TAG in run.data.tags:
                return run.data.tags[PROCESS_TAG]
            parent = by_id.get(run.data.tags.get(_PARENT, ""))
            if parent is None:
                break
            run = parent
        return ""

    return {
        r.info.run_id for r in runs if r.info.status == "RUNNING" and is_dead(process_of(r)) is True
    }


def list_runs(experiment: str | None = None, *, trials: bool = False) -> list[RunRow]:
    """The runs of one experiment (or all), newest first; trial runs only with ``trials``."""
    client = MlflowClient()
    names = _experiments(client, experiment)
    runs = _runs(client, list(names))
    stale = _stale_ids(runs)
    rows = []
    for r in runs:
        role = r.data.tags.get(_ROLE, "")
        if role == "trial" and not trials:
            continue
        started = datetime.datetime.fromtimestamp(r.info.start_time / 1000).strftime(
            "%Y-%m-%d %H:%M:%S"
        )
        rows.append(
            RunRow(
                r.info.run_id,
                names[r.info.experiment_id],
                r.info.run_name or "",
                role,
                r.info.status,
                started,
                r.data.tags.get(PROCESS_TAG, ""),
                r.info.run_id in stale,
            )
        )
    return rows


def clean_stale(experiment: str | None = None) -> CleanUp:
    """End stale runs as KILLED, fail their PENDING logged models, and delete versions that a
    stale or failed run left without their lineage tags (see the module)."""
    client = MlflowClient()
    ids = list(_experiments(client, experiment))
    runs = _runs(client, ids)
    stale = _stale_ids(runs)
    killed = []
    for run_id in sorted(stale):
        client.set_tag(
            run_id, "msk1model.cleaned", "ended as KILLED by msk1model runs --clean-stale"
        )
        client.set_terminated(run_id, "KILLED")
        killed.append(run_id)
    parents = {r.info.run_id: r.data.tags.get(_PARENT, "") for r in runs}

    def left_by_stale(run_id: str | None) -> bool:
        """The run, or one of its ancestors, is stale: a predictor logged for a model run
        (finished) by a train run that died."""
        seen: set[str] = set()
        while run_id and run_id not in seen:
            if run_id in stale:
                return True
            seen.add(run_id)
            run_id = parents.get(run_id)
        return False

    failed = []
    for model in mlflow.search_logged_models(experiment_ids=ids, output_format="list"):
        if model.status == LoggedModelStatus.PENDING and left_by_stale(model.source_run_id):
            client.finalize_logged_model(model.model_id, LoggedModelStatus.FAILED)
            failed.append(model.model_id)
    ended = {r.info.run_id for r in runs if r.info.status in ("FAILED", "KILLED")} | stale
    deleted = []
    try:
        versions = list(client.search_model_versions(max_results=10_000))
    except MlflowException:
        versions = []  # a store without a registry
    for version in versions:
        if version.run_id in ended and _SOURCE_RUN not in version.tags:
            client.delete_model_version(version.name, version.version)
            deleted.append(f"{version.name} version {version.version}")
    return CleanUp(tuple(killed), tuple(failed), tuple(deleted))
