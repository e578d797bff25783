"""The report's figures: matplotlib plots of the analyses, as PNG :class:`Figure` blocks."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from msk1model.evaluation import plots
from msk1model.evaluation.calibration import calibration_groups
from msk1model.evaluation.timedep import time_dependent_auc
from msk1model.report.analyses import Analyses
from msk1model.report.document import Figure
from msk1model.results import ModelOutcome
from msk1model.scores import horizon_label

__all__ = [
    "auc_figure",
    "binned_calibration",
    "calibration_figures",
    "figure",
    "optimism_figure",
]


def calibration_figures(a: Analyses, selected: ModelOutcome) -> list[Figure]:
    assert a.test_set is not None
    test = a.test_set
    pred = next(
        p
        for p in a.test_predictions
        if p.model == selected.model_name and p.feature_set == selected.feature_set
    )
    out = []
    for j, (h, clipped) in enumerate(zip(test.horizons, test.clipped, strict=True)):
        ax = binned_calibration(test.y, pred.survival[:, j], clipped, label=selected.model_name)
        label = horizon_label(h)
        out.append(figure(f"calibration_{label}", f"Calibration at {h:g} years", ax))
    return out


def binned_calibration(y: np.ndarray, surv_h: np.ndarray, horizon: float, *, label: str) -> Axes:
    """Observed (Kaplan-Meier, with intervals) against predicted risk by ``horizon`` in groups
    of predicted risk: one group per 10 events, 3 to 10 groups."""
    n_groups = int(np.clip(y["event"].sum() // 10, 3, 10))
    groups = calibration_groups(y, surv_h, horizon, n_groups=n_groups)
    return plots.calibration_plot(
        groups["predicted"],
        groups["observed"],
        lower=groups["observed_lower"],
        upper=groups["observed_upper"],
        horizon=horizon,
        label=label,
    )


def auc_figure(a: Analyses, selected: ModelOutcome) -> Figure:
    assert a.test_set is not None
    test = a.test_set
    grid = np.quantile(test.y["time"][test.y["event"]], np.linspace(0.1, 0.9, 9))
    grid = np.unique(grid[grid <= max(test.clipped)])
    curves = {}
    for p in a.test_predictions:
        if p.model == selected.model_name:
            auc = time_dependent_auc(test.y_train, test.y, p.risk, grid)
            curves[f"{p.model} {p.feature_set}"] = (grid, auc.auc)
    return figure("auc", "Time-dependent AUC on the test set", plots.auc_plot(curves))


def optimism_figure(a: Analyses, selected: ModelOutcome) -> Figure:
    """Apparent, optimism-corrected and test-set (with its 95% CI) value of each metric."""
    assert a.optimism is not None
    rows = []
    for r in a.optimism.itertuples():
        rows += [
            {"metric": r.metric, "model": "apparent (training)", "estimate": r.apparent},
            {"metric": r.metric, "model": "optimism-corrected", "estimate": r.corrected},
        ]
    if a.intervals is not None:
        mine = a.intervals[
            (a.intervals["model"] == selected.model_name)
            & (a.intervals["feature_set"] == selected.feature_set)
            & a.intervals["metric"].isin(set(a.optimism["metric"]))
        ]
        rows += [
            {
                "metric": r.metric,
                "model": "test set (95% CI)",
                "estimate": r.estimate,
                "lower": r.lower,
                "upper": r.upper,
            }
            for r in mine.itertuples()
        ]
    frame = pd.DataFrame(rows, columns=["metric", "model", "estimate", "lower", "upper"])
    caption = f"Selected model ({selected.model_name}): apparent, optimism-corrected and test set"
    return figure("optimism", caption, plots.metrics_ci_plot(frame))


def figure(name: str, caption: str, ax: Axes) -> Figure:
    buffer = io.BytesIO()
    ax.get_figure(root=True).savefig(buffer, format="png", dpi=110)  # type: ignore[union-attr]
    return Figure(caption=caption, png=buffer.getvalue(), name=name)
