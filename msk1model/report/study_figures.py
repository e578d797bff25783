"""Optuna's own plots of one model's study, for the model run's artefacts in the MLflow UI.

The optimisation history (objective per trial and the best so far), the parallel coordinates of
the hyperparameters against the objective, and the hyperparameter importances (fANOVA, seeded).
They are drawn from the study's finished trials, whichever process or machine ran them, copied
into an in-memory study so that drawing never touches the study's storage. A plot the study
cannot support (no search space, fewer than two complete trials) is left out, never failing
the run.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Literal

import matplotlib
import optuna
from matplotlib.figure import Figure
from optuna.importance import FanovaImportanceEvaluator
from optuna.trial import FrozenTrial, TrialState
from optuna.visualization import matplotlib as optuna_plots

__all__ = ["STUDY_FIGURES", "study_figures"]

#: File names of the plots, under the model run's ``figures/tuning/``.
STUDY_FIGURES = (
    "optimization_history.png",
    "parallel_coordinate.png",
    "param_importances.png",
)


def study_figures(
    trials: Sequence[FrozenTrial],
    *,
    direction: Literal["maximize", "minimize"],
    target: str,
    seed: int,
) -> dict[str, Figure]:
    """Optuna's figures of a study's ``trials`` by file name (see :data:`STUDY_FIGURES`).

    ``direction`` is the study's (``maximize`` or ``minimize``), ``target`` names its objective
    on the axes (``CV harrell_c``); ``seed`` seeds the fANOVA
    forest of the importances, so that the figure is the same on every rebuild.
    """
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    tuned = {name for t in complete for name in t.params}
    if len(complete) < 2 or not tuned:
        return {}  # nothing was tuned, or no history to draw
    study = optuna.create_study(direction=direction)
    study.add_trials([t for t in trials if t.state.is_finished()])
    out: dict[str, Figure] = {}
    draws: dict[str, Callable[[], object]] = {
        "optimization_history.png": lambda: optuna_plots.plot_optimization_history(
            study, target_name=target
        ),
        "parallel_coordinate.png": lambda: optuna_plots.plot_parallel_coordinate(
            study, target_name=target
        ),
        "param_importances.png": lambda: optuna_plots.plot_param_importances(
            study, evaluator=FanovaImportanceEvaluator(seed=seed), target_name=target
        ),
    }
    # Optuna's plots call plt.style.use("ggplot"), which would restyle every later figure of
    # the process (the report's colours among them): rc_context restores the settings.
    with warnings.catch_warnings(), matplotlib.rc_context():
        warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
        for name, draw in draws.items():
            try:
                axes = draw()
            except (ValueError, RuntimeError, ZeroDivisionError):
                continue  # e.g. importances of a parameter that never varied
            figure = _figure_of(axes)
            if figure is not None:
                figure.set_size_inches(8, 5)
                figure.tight_layout()
                out[name] = figure
    return out


def _figure_of(axes: object) -> Figure | None:
    """The Figure behind Optuna's return value (one Axes, or an array of them)."""
    first = getattr(axes, "flat", [axes])
    for ax in first:
        figure = getattr(ax, "figure", None)
        if isinstance(figure, Figure):
            return figure
    return None
