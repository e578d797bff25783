"""The figures of one model run, shown on the run's page in the MLflow UI.

For a fitted model on the held-out test part: calibration at each horizon (binned Kaplan-Meier
points with their intervals and the smoothed curve whose gaps give ICI, E50 and E90), the
time-dependent AUC over follow-up, and Kaplan-Meier curves of the test patients in the risk
groups cut at the training median of the risk score. Each is a matplotlib Figure; a figure the
data cannot support (too few events) is left out, never failing the run.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from msk1model.errors import Msk1ModelError
from msk1model.evaluation import plots
from msk1model.evaluation.horizons import clip_horizons
from msk1model.evaluation.km import logrank_test
from msk1model.evaluation.timedep import time_dependent_auc
from msk1model.models import SurvivalModel
from msk1model.report.figures import smoothed_calibration
from msk1model.scores import horizon_label

__all__ = ["model_run_figures"]


def model_run_figures(
    model: SurvivalModel,
    X_test: pd.DataFrame,
    y_test: np.ndarray,
    *,
    X_train: pd.DataFrame,
    y_train: np.ndarray,
    horizons: Sequence[float],
) -> dict[str, Figure]:
    """Figures by file name (``calibration_5y.png``, ``auc.png``, ``km_risk_groups.png``)."""
    out: dict[str, Figure] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # clipping and small-sample notes are in the metrics
        clipped = clip_horizons(horizons, y_test, y_train)
        surv = model.predict_survival_function(X_test, clipped)
        risk = model.predict(X_test)
        for j, (h, t) in enumerate(zip(horizons, clipped, strict=True)):
            name = f"calibration_{horizon_label(h)}.png"
            _attempt(out, name, partial(_calibration, y_test, surv[:, j], float(t)))
        _attempt(out, "auc.png", lambda: _auc(y_test, y_train, risk, clipped))
        cut = float(np.median(model.predict(X_train)))
        _attempt(out, "km_risk_groups.png", lambda: _km(y_test, risk, cut))
    return out


def _attempt(out: dict[str, Figure], name: str, draw: Callable[[], Figure]) -> None:
    try:
        out[name] = draw()
    except (Msk1ModelError, ArithmeticError, ValueError, np.linalg.LinAlgError):
        return


def _calibration(y: np.ndarray, surv_h: np.ndarray, horizon: float) -> Figure:
    ax = smoothed_calibration(y, surv_h, horizon)
    ax.set_title(f"Calibration at {horizon:g} years (test set)")
    return ax.get_figure(root=True)  # type: ignore[return-value]


def _auc(y: np.ndarray, y_train: np.ndarray, risk: np.ndarray, clipped: np.ndarray) -> Figure:
    times = np.quantile(y["time"][y["event"]], np.linspace(0.1, 0.9, 9))
    grid = np.unique(times[times <= max(clipped)])
    auc = time_dependent_auc(y_train, y, risk, grid)
    ax = plots.auc_plot(grid, auc.auc, mean_auc=auc.mean_auc, label="model")
    ax.set_title("Time-dependent AUC (test set)")
    return ax.get_figure(root=True)  # type: ignore[return-value]


def _km(y: np.ndarray, risk: np.ndarray, cut: float) -> Figure:
    groups = np.where(risk > cut, "high risk", "low risk")
    p = logrank_test(y, groups).p
    ax = plots.km_plot(
        y,
        groups,
        title="Test patients by risk group (training median of the risk score)",
        p_value=p,
        group_order=["low risk", "high risk"],
    )
    return ax.get_figure(root=True)  # type: ignore[return-value]
