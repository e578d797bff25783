"""The Optuna studies of a config, from any process: their status, and a worker that joins them.

``msk1model tune CONFIG`` prints :func:`study_status`; ``msk1model tune CONFIG --worker`` runs
:func:`work`: it loads the same cohort, split and folds as ``train`` (so it opens the same
studies, see :func:`msk1model.pipeline.model_study_name`) and runs trials in each study, in the
config's order, until that study's budget is finished (it waits for trials other processes are
running, and fails and retries those whose worker died), then exits.
Workers log nothing to MLflow; ``train`` logs every trial of a study under its model run. A
worker's sampler takes a fresh random seed (workers started together would otherwise suggest the
same parameters), so a study several processes ran is valid but not reproducible trial by trial.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import optuna
from optuna.trial import TrialState

from msk1model.config import RunConfig, log2_offset, tuning_horizon
from msk1model.data.cohort import Cohort, load_cohort
from msk1model.errors import StudyError
from msk1model.pipeline import design_spec, model_study_name, run_split
from msk1model.splitting import Split
from msk1model.studies import describe_storage, finished_trials, open_storage
from msk1model.tuning import run_study

__all__ = ["StudyStatus", "study_status", "work"]


@dataclass(frozen=True)
class StudyStatus:
    """One study of a config: its name, budget and what its storage holds now."""

    model: str
    feature_set: str
    name: str
    planned: int
    finished: int
    running: int
    pruned: int
    best: float | None


def _plan(config: RunConfig) -> tuple[Cohort, Split, list[tuple[str, str, str, int]]]:
    cohort = load_cohort(config.data, config.split, config.seed, log2_offset(config))
    split = run_split(config, cohort.y)
    plan: list[tuple[str, str, str, int]] = []
    for feature_set in config.feature_sets:
        for name, model in config.models.items():
            planned = 1 if not model.search_space else model.n_trials or config.tuning.n_trials
            study = model_study_name(config, cohort, split, name, feature_set)
            plan.append((name, feature_set, study, planned))
    return cohort, split, plan


def study_status(config: RunConfig) -> tuple[str, list[StudyStatus]]:
    """The storage (as ``optuna-dashboard`` takes it) and the status of each study."""
    _, _, plan = _plan(config)
    storage = open_storage(config.tuning)
    out = []
    for model, feature_set, name, planned in plan:
        try:
            study = optuna.load_study(study_name=name, storage=storage)  # type: ignore[arg-type]
        except (KeyError, ValueError):  # not created yet (or nothing is persisted)
            out.append(StudyStatus(model, feature_set, name, planned, 0, 0, 0, None))
            continue
        trials = study.get_trials(deepcopy=False)
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        out.append(
            StudyStatus(
                model,
                feature_set,
                name,
                planned,
                finished_trials(study),
                sum(t.state == TrialState.RUNNING for t in trials),
                sum(t.state == TrialState.PRUNED for t in trials),
                study.best_value if complete else None,
            )
        )
    return describe_storage(config.tuning), out


def work(config: RunConfig, progress: Callable[[str], None] = lambda _m: None) -> int:
    """Join every study of ``config`` until each budget is finished or taken; the trials run."""
    if config.tuning.storage == "memory":
        raise StudyError(
            "a worker shares studies through their storage, but tuning.storage is 'memory'. "
            "Fix: use the default journal file or a database URL (tuning.storage)"
        )
    cohort, split, plan = _plan(config)
    design = design_spec(config, cohort)
    table, y = cohort.table.iloc[split.train], cohort.y[split.train]
    ran = 0
    for model_name, feature_set, name, _planned in plan:
        progress(f"{model_name} | {feature_set}: study {name}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the fits' convergence chatter
            _, here = run_study(
                config.models[model_name],
                table,
                y,
                split.folds,
                features=cohort.features(feature_set),
                tuning=config.tuning,
                tau=config.evaluation.tau,
                seed=config.seed,
                design=design,
                study_name=name,
                sampler_seed=None,  # workers started together must not suggest the same trials
                horizon=tuning_horizon(config),
            )
        ran += here
        progress(f"{model_name} | {feature_set}: {here} trial(s) run here")
    return ran
