"""Figures for a run: Kaplan-Meier, calibration, time-dependent AUC, decision curves, forests.

Every plot takes plain arrays or DataFrames (no fitted models) and follows lifelines' habit:
``ax=None`` draws on a new headless figure (``matplotlib.figure.Figure`` on an Agg canvas, never
pyplot's global state, so plotting is thread-safe) and the Axes drawn on is returned. Times are
in years. :func:`save_png` writes the figure of an Axes to disk. The artists carry ``gid`` tags
(``"km|<group>"``, ``"at_risk|<group>|<t>"``, ``"calibration|<label>"``, ...) so callers and tests
can find what was drawn.
"""

from __future__ import annotations

from msk1model.evaluation.plots._base import save_png
from msk1model.evaluation.plots._competing import cif_plot, stacked_cif_plot
from msk1model.evaluation.plots._curves import auc_plot, calibration_plot, decision_curve_plot
from msk1model.evaluation.plots._intervals import forest_plot, metrics_ci_plot
from msk1model.evaluation.plots._survival import km_plot

__all__ = [
    "auc_plot",
    "calibration_plot",
    "cif_plot",
    "decision_curve_plot",
    "forest_plot",
    "km_plot",
    "metrics_ci_plot",
    "save_png",
    "stacked_cif_plot",
]
