"""Persistent Optuna studies on a real journal file: resume, refusal of a changed search, seeds,
stale trials of dead workers, pruning and the storage setting."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from msk1model.config import ModelConfig, TuningConfig, load_config
from msk1model.errors import ConfigError, StudyError
from msk1model.outcome import make_y
from msk1model.splitting import make_split
from msk1model.studies import describe_storage, finished_trials, open_storage
from msk1model.tuning import run_study, tune

from .conftest import DEFAULT_CONFIG

FEATURES = ["age", "size", "grade", "nodes", "pr", "msk1"]
ALPHA = {"alpha": {"type": "float", "low": 1e-3, "high": 0.3, "log": True}}


class Stop(Exception):
    """Raised by a callback to interrupt a study, as a crash would."""


@pytest.fixture()
def data(synthetic):
    y = make_y(time=synthetic["time"], event=synthetic["event"])
    split = make_split(y, test_size=0.25, cv_folds=3, seed=1)
    return synthetic.iloc[split.train], y[split.train], split.folds


def _model(space=ALPHA, **extra) -> ModelConfig:
    return ModelConfig.model_validate({"kind": "coxnet", "search_space": space, **extra})


def _tune(data, tuning: TuningConfig, model: ModelConfig | None = None, **kw):
    X, y, folds = data
    return tune(model or _model(), X, y, folds, features=FEATURES, tuning=tuning, tau=5.0,
                seed=3, study_name="s", **kw)  # fmt: skip


def test_an_interrupted_study_resumes_with_its_trials_and_runs_only_the_missing_ones(
    data, tmp_path: Path
) -> None:
    tuning = TuningConfig(n_trials=6, storage=str(tmp_path / "studies.journal"), pruner="none")

    def stop_after_two(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.number == 1:
            raise Stop

    with pytest.raises(Stop):
        _tune(data, tuning, callbacks=[stop_after_two])
    storage = open_storage(tuning)
    before = optuna.load_study(study_name="s", storage=storage).get_trials()
    assert [t.state for t in before] == [TrialState.COMPLETE] * 2
    X, y, folds = data
    study, ran = run_study(_model(), X, y, folds, features=FEATURES, tuning=tuning, tau=5.0,
                           seed=3, study_name="s")  # fmt: skip
    assert ran == 4 and finished_trials(study) == 6
    after = study.get_trials()
    for old, new in zip(before, after[:2], strict=True):
        assert (new.params, new.value, new.datetime_start) == (
            old.params,
            old.value,
            old.datetime_start,
        )
    # a complete study runs nothing more and gives the same best trial from any process
    again, ran_again = run_study(_model(), X, y, folds, features=FEATURES, tuning=tuning,
                                 tau=5.0, seed=3, study_name="s")  # fmt: skip
    assert ran_again == 0 and again.best_trial.number == study.best_trial.number


@pytest.mark.parametrize(
    ("changed", "named"),
    [
        ({"model": _model({"alpha": {"type": "float", "low": 1e-2, "high": 0.3}})}, "search_space"),
        ({"metric": "uno_c"}, "metric"),
        ({"model": _model(params={"l1_ratio": 0.9})}, "params"),
    ],
)
def test_resuming_with_another_search_is_refused_naming_what_changed(
    data, tmp_path: Path, changed: dict, named: str
) -> None:
    tuning = TuningConfig(n_trials=2, storage=str(tmp_path / "s.journal"))
    _tune(data, tuning)
    other = tuning.model_copy(update={"metric": changed.get("metric", "harrell_c")})
    with pytest.raises(StudyError, match=rf"study 's' was run with another {named} \(") as info:
        _tune(data, other, changed.get("model"))
    assert "optuna delete-study --study-name 's'" in str(info.value)
    # the refused attempt left the study as it was
    study = optuna.load_study(study_name="s", storage=open_storage(tuning))
    assert finished_trials(study) == 2


def test_the_same_seed_gives_identical_trials_and_best_parameters(data, tmp_path: Path) -> None:
    results = [
        _tune(data, TuningConfig(n_trials=8, storage=str(tmp_path / f"{k}.journal")))
        for k in range(2)
    ]
    first, second = results
    assert first.best_params == second.best_params and first.cv == second.cv
    values = [[(t.params, t.value, t.state) for t in r.frozen] for r in results]
    assert values[0] == values[1]


def test_a_trial_of_a_dead_worker_is_failed_and_its_parameters_tried_again(
    data, tmp_path: Path
) -> None:
    tuning = TuningConfig(n_trials=3, storage=str(tmp_path / "s.journal"), pruner="none")
    _tune(data, tuning.model_copy(update={"n_trials": 1}))
    storage = open_storage(tuning)
    study = optuna.load_study(study_name="s", storage=storage)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    # a trial asked and never told, as its worker died mid-trial
    orphan = study.ask({"alpha": optuna.distributions.FloatDistribution(1e-3, 0.3, log=True)})
    orphan.set_user_attr("msk1model.worker", f"{socket.gethostname()}:{dead.stdout.strip()}")
    result = _tune(data, tuning)
    states = [t.state for t in result.frozen]
    assert TrialState.RUNNING not in states
    assert result.frozen[orphan.number].state == TrialState.FAIL
    retry = [t for t in result.frozen if t.user_attrs.get("msk1model.retry_of") == orphan.number]
    assert len(retry) == 1 and retry[0].params == orphan.params
    assert retry[0].state == TrialState.COMPLETE and result.n_trials == 3


def test_the_median_pruner_stops_trials_below_the_running_median(data) -> None:
    space = {"alpha": {"type": "float", "low": 1e-3, "high": 50.0, "log": True}}
    pruned = _tune(data, TuningConfig(n_trials=24, storage="memory"), _model(space))
    kept = _tune(data, TuningConfig(n_trials=24, storage="memory", pruner="none"), _model(space))
    assert pruned.n_pruned >= 2 and kept.n_pruned == 0
    for t in pruned.frozen:
        if t.state == TrialState.PRUNED:  # stopped before its last fold, its folds so far kept
            assert 1 <= len(t.user_attrs["fold_harrell_c"]) < 3
            assert t.intermediate_values[len(t.intermediate_values) - 1] == pytest.approx(
                np.mean(t.user_attrs["fold_harrell_c"])
            )
    assert np.mean(pruned.cv.harrell_c) >= np.mean(kept.cv.harrell_c) - 0.01


def test_folds_fitted_side_by_side_give_the_trials_of_a_sequential_study(data) -> None:
    """tuning.n_jobs = 2: the folds are fitted in worker processes, two at a time, and reported
    in order; every trial (state, value, fold scores, pruned step) equals the sequential one."""
    space = {"alpha": {"type": "float", "low": 1e-3, "high": 50.0, "log": True}}
    sequential = _tune(data, TuningConfig(n_trials=24, storage="memory"), _model(space))
    parallel = _tune(data, TuningConfig(n_trials=24, storage="memory", n_jobs=2), _model(space))
    assert sequential.n_pruned >= 1  # a pruned trial stops inside a batch of two folds
    assert len(parallel.frozen) == len(sequential.frozen) == 24
    for a, b in zip(sequential.frozen, parallel.frozen, strict=True):
        assert (a.state, a.params, a.intermediate_values) == (
            b.state,
            b.params,
            b.intermediate_values,
        )
        assert a.value == b.value
        assert a.user_attrs["fold_harrell_c"] == b.user_attrs["fold_harrell_c"]
    assert parallel.best_params == sequential.best_params and parallel.cv == sequential.cv


def test_the_storage_setting_is_checked_and_shown_without_a_password(tmp_path: Path) -> None:
    config = load_config(
        DEFAULT_CONFIG, ["tuning.storage=postgresql://ana:s3cret@db.example:5432/optuna"]
    )
    assert describe_storage(config.tuning) == "postgresql://ana:***@db.example:5432/optuna"
    with pytest.raises(ConfigError, match="a URL SQLAlchemy cannot read"):
        load_config(DEFAULT_CONFIG, ["tuning.storage=nodialect://x"])
    relative = TuningConfig(storage="studies/x.journal")
    assert describe_storage(relative) == str(Path("studies/x.journal").resolve())
    with pytest.raises(StudyError, match=r"could not be opened .* Fix: check that the database"):
        open_storage(TuningConfig(storage="postgresql://nobody@127.0.0.1:9/none"))


def test_the_tune_verb_works_as_a_worker_then_shows_the_finished_study(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from msk1model.cli import main

    monkeypatch.chdir(tmp_path)
    sets = [
        "data.synthetic.n_patients=400",
        "split.cv_folds=3",
        "tuning.n_trials=3",
        "models.xgb_cox=null",
        "feature_sets=[clinical+msk1]",
    ]
    argv = ["tune", str(DEFAULT_CONFIG), *(f"--set={s}" for s in sets)]
    assert main(argv) == 0
    assert re.search(r"coxnet\s+clinical\+msk1\s+0/3\s+0\s+0", capsys.readouterr().out)
    assert main([*argv, "--worker"]) == 0
    out = capsys.readouterr().out
    assert "worker done: 3 trial(s) run in this process" in out
    assert f"Optuna studies in {tmp_path / 'optuna.journal'}\n" in out
    assert re.search(r"coxnet\s+clinical\+msk1\s+3/3\s+0\s+0\s+0\.\d{4}", out)
    assert re.search(r"study msk1-default\.coxnet\.clinical\+msk1\.[0-9a-f]{10}", out)
    # a second worker finds nothing left to do
    assert main([*argv, "--worker"]) == 0
    assert "worker done: 0 trial(s)" in capsys.readouterr().out


@pytest.mark.parametrize("metric", ["ibs", "auc"])
def test_the_ibs_and_auc_objectives_follow_their_direction_and_match_the_metrics(
    data, metric: str
) -> None:
    from msk1model.evaluation.timedep import integrated_brier_score, time_dependent_auc
    from msk1model.models import make_model

    X, y, folds = data
    tuning = TuningConfig(n_trials=5, storage="memory", metric=metric, pruner="none")
    result = _tune(data, tuning, horizon=4.0)
    values = [t.value for t in result.frozen]
    best = min(values) if metric == "ibs" else max(values)
    assert np.mean(result.cv.folds(metric)) == pytest.approx(best, abs=1e-12)
    assert result.cv.horizon == 4.0 and len(result.cv.folds(metric)) == 3
    fit, validate = folds[0]  # the first fold again, computed directly
    model = make_model("coxnet", result.best_params, features=FEATURES, random_state=3)
    model.fit(X.iloc[fit], y[fit])
    if metric == "auc":
        risk = model.predict(X.iloc[validate])
        expected = time_dependent_auc(y[fit], y[validate], risk, [4.0]).auc[0]
    else:
        grid = np.linspace(float(np.min(y[validate]["time"])), 4.0, 50)
        surv = model.predict_survival_function(X.iloc[validate], grid)
        expected = integrated_brier_score(y[fit], y[validate], surv, grid)
    assert result.cv.folds(metric)[0] == pytest.approx(expected, abs=1e-12)
    table = result.cv.table()
    row = table[(table["metric"] == metric) & (table["statistic"] == "mean")]
    assert row["value"].iloc[0] == pytest.approx(best, abs=1e-12)
    # the study is a minimisation for ibs: resuming it for the C-index is refused
    with pytest.raises(Exception, match="needs a horizon"):
        _tune(data, tuning)
