"""The report's figures: matplotlib plots of the analyses, as PNG :class:`Figure` blocks."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as MplFigure

from msk1model.errors import Msk1ModelError
from msk1model.evaluation import plots
from msk1model.evaluation.calibration import calibration_groups, integrated_calibration_index
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
    "figure_of",
    "optimism_figure",
    "smoothed_calibration",
]


def calibration_figures(a: Analyses) -> list[Figure]:
    """One figure per horizon: a panel per model with its binned and smoothed calibration and
    its O/E and calibration slope (from ``a.calibration``)."""
    assert a.test_set is not None
    test = a.test_set
    n = len(a.test_predictions)
    columns = min(3, int(np.ceil(np.sqrt(n))))
    rows = -(-n // columns)
    out = []
    for j, (h, clipped) in enumerate(zip(test.horizons, test.clipped, strict=True)):
        fig = MplFigure(figsize=(3.9 * columns, 3.9 * rows), layout="constrained")
        FigureCanvasAgg(fig)
        for k, p in enumerate(a.test_predictions):
            ax = fig.add_subplot(rows, columns, k + 1)
            try:
                smoothed_calibration(test.y, p.survival[:, j], clipped, ax=ax)
            except (Msk1ModelError, ArithmeticError, ValueError, np.linalg.LinAlgError):
                ax.text(0.5, 0.5, "too few events", ha="center", transform=ax.transAxes)
            ax.set_title(f"{p.model} | {p.feature_set}", fontsize=9)
            ax.text(0.97, 0.03, _large(a, p.model, p.feature_set, h), ha="right", fontsize=7,
                    transform=ax.transAxes)  # fmt: skip
        caption = (
            f"Calibration at {h:g} years on the test set: Kaplan-Meier observed risk in groups "
            "of predicted risk (points, 95% CI) and the smoothed curve (ICI, E50, E90)"
        )
        out.append(figure_of(f"calibration_{horizon_label(h)}", caption, fig))
    return out


def _large(a: Analyses, model: str, feature_set: str, horizon: float) -> str:
    """``O/E 1.02, slope 0.95`` of one model at one horizon, from the calibration table."""
    if a.calibration is None:
        return ""
    c = a.calibration
    row = c[(c["model"] == model) & (c["features"] == feature_set) & (c["horizon"] == horizon)]
    if row.empty:
        return ""
    return f"O/E {row['oe'].iloc[0]:.2f}, slope {row['slope'].iloc[0]:.2f}"


def smoothed_calibration(
    y: np.ndarray, surv_h: np.ndarray, horizon: float, *, ax: Axes | None = None
) -> Axes:
    """Binned points (Kaplan-Meier, with intervals) and the smoothed calibration curve of
    Austin et al. (2020), whose gaps from the diagonal give ICI, E50 and E90 (in the legend).

    Predictions with too few distinct values for the curve's spline (a boosted model of a few
    shallow trees) keep the binned points, with a note in place of the curve.
    """
    ax = binned_calibration(y, surv_h, horizon, label="binned (Kaplan-Meier)", ax=ax)
    try:
        smooth = integrated_calibration_index(y, surv_h, horizon)
    except (Msk1ModelError, ArithmeticError, ValueError, np.linalg.LinAlgError):
        ax.text(0.97, 0.12, "no smoothed curve:\npredictions take too few values", ha="right",
                fontsize=7, transform=ax.transAxes, gid="calibration|no-smooth")  # fmt: skip
        ax.legend(loc="upper left", fontsize=7, frameon=False)
        return ax
    order = np.argsort(smooth.predicted)
    ax.plot(
        smooth.predicted[order],
        smooth.observed[order],
        color="tab:red",
        label=f"smoothed: ICI {smooth.ici:.3f}\nE50 {smooth.e50:.3f}, E90 {smooth.e90:.3f}",
        gid="calibration|smoothed",
    )
    top = min(1.0, 1.08 * max(ax.get_ylim()[1], float(np.max(smooth.observed)), ax.get_xlim()[1]))
    ax.set(xlim=(0.0, top), ylim=(0.0, top))
    ax.legend(loc="upper left", fontsize=7, frameon=False)
    return ax


def binned_calibration(
    y: np.ndarray,
    surv_h: np.ndarray,
    horizon: float,
    *,
    label: str,
    ax: Axes | None = None,
) -> Axes:
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
        ax=ax,
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
    """The figure ``ax`` is drawn on, as a report :class:`Figure` block."""
    return figure_of(name, caption, ax.get_figure(root=True))  # type: ignore[arg-type]


def figure_of(name: str, caption: str, fig: MplFigure) -> Figure:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return Figure(caption=caption, png=buffer.getvalue(), name=name)
