"""Optuna's plots of a study, as logged on each model run (msk1model.report.study_figures)."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from msk1model.report.study_figures import STUDY_FIGURES, study_figures


def _study(direction: str, n_trials: int = 12) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction=direction, sampler=optuna.samplers.RandomSampler(3))

    def objective(trial: optuna.Trial) -> float:
        alpha = trial.suggest_float("alpha", 0.0, 1.0)
        depth = trial.suggest_int("max_depth", 1, 6)
        if trial.number == 4:
            raise optuna.TrialPruned()  # a pruned trial is drawn as such, not as a value
        return (alpha - 0.3) ** 2 + 0.01 * depth

    study.optimize(objective, n_trials=n_trials)
    return study


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_the_history_draws_every_complete_value_and_the_best_so_far(direction: str) -> None:
    study = _study(direction)
    figures = study_figures(study.trials, direction=direction, target="CV ibs", seed=0)
    assert list(figures) == list(STUDY_FIGURES)

    ax = figures["optimization_history.png"].axes[0]
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    values = np.array([t.value for t in complete])
    better = max if direction == "maximize" else min
    best, so_far = [], None  # over trial numbers: a pruned trial carries the best before it
    for trial in study.trials:
        if trial.state == optuna.trial.TrialState.COMPLETE:
            so_far = trial.value if so_far is None else better(so_far, trial.value)
        best.append(so_far)
    (best_line,) = [line for line in ax.get_lines() if line.get_label() == "Best Value"]
    np.testing.assert_allclose(best_line.get_ydata(), best, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(best_line.get_xdata(), [t.number for t in study.trials])
    points = np.concatenate([c.get_offsets()[:, 1] for c in ax.collections])
    np.testing.assert_allclose(np.sort(points), np.sort(values), atol=1e-12)
    assert ax.get_ylabel() == "CV ibs"


def test_the_importances_are_optunas_seeded_fanova_values() -> None:
    study = _study("minimize")
    figures = study_figures(study.trials, direction="minimize", target="CV ibs", seed=7)
    ax = figures["param_importances.png"].axes[0]
    drawn = {
        label.get_text(): bar.get_width()
        for label, bar in zip(ax.get_yticklabels(), ax.patches, strict=True)
    }
    expected = optuna.importance.get_param_importances(
        study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=7)
    )
    assert set(drawn) == {"alpha", "max_depth"}
    for name, value in expected.items():
        assert drawn[name] == pytest.approx(value, abs=1e-9), name
    assert expected["alpha"] > expected["max_depth"]  # the objective is mostly alpha


def test_nothing_is_drawn_without_a_search_space_or_a_history() -> None:
    fixed = optuna.create_study(direction="maximize")
    fixed.optimize(lambda t: 0.7, n_trials=3)
    assert study_figures(fixed.trials, direction="maximize", target="CV", seed=0) == {}
    one = _study("maximize", n_trials=1)
    assert study_figures(one.trials, direction="maximize", target="CV", seed=0) == {}


def test_drawing_leaves_matplotlibs_style_as_it_was() -> None:
    import matplotlib

    before = dict(matplotlib.rcParams)
    study = _study("maximize")
    assert study_figures(study.trials, direction="maximize", target="CV", seed=0)
    after = dict(matplotlib.rcParams)
    assert {k for k in before if before[k] != after[k]} == set()  # Optuna uses ggplot's style
