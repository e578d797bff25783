"""Updating a registered model on a validation cohort (Van Houwelingen, Stat Med 19:3401, 2000;
Steyerberg, *Clinical Prediction Models*, 2nd ed., ch. 20), only when asked for.

The updating hierarchy, from the least to the most fitted on the validation patients:

- ``baseline``: a new Breslow baseline hazard for the model's risk score as it is (its
  coefficients kept): fixes calibration in the large when the cohorts' baseline risks differ;
- ``slope``: the risk score's slope as well (a Cox model of the validation outcome on the risk
  score), then the baseline for the rescaled score: fixes too extreme or too modest predictions;
- ``refit``: the same model (kind, features, design, hyperparameters) fitted again on the
  validation cohort alone.

:func:`compare_updates` scores the parent and each update on the validation cohort (O/E,
calibration slope and ICI at each horizon). The updates are fitted on those very patients, so
their numbers are apparent, not validated: a check that the update does what it should, not an
estimate of its performance elsewhere. ``msk1model validate --recalibrate METHOD`` registers the
chosen update as a new version of the model with lineage tags (parent version, validation cohort
fingerprint, validation run); the champion alias does not move.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from sklearn.base import clone

from msk1model.evaluation.calibration import (
    calibration_in_the_large,
    calibration_slope,
    integrated_calibration_index,
)
from msk1model.models import SurvivalModel
from msk1model.models._parts import BreslowBaseline
from msk1model.models.partial_likelihood import cox_partial_log_likelihood
from msk1model.predictor import RECALIBRATION_GRID, RecalibratedModel, Recalibration

__all__ = ["UPDATES", "Update", "compare_updates", "fit_recalibration", "refit"]

Update = Literal["baseline", "slope", "refit"]
#: The updating methods, least fitted first.
UPDATES: tuple[Update, ...] = ("baseline", "slope", "refit")


def cox_slope(y: np.ndarray, lp: np.ndarray) -> float:
    """The coefficient of a Cox model (Breslow ties) of outcome ``y`` on the single covariate
    ``lp``: the maximiser of the partial likelihood of ``b * lp``."""
    sd = float(np.std(lp))
    if sd == 0:
        return 1.0
    result = minimize_scalar(
        lambda b: -cox_partial_log_likelihood(b * lp / sd, y),
        bounds=(-20.0, 20.0),
        method="bounded",
        options={"xatol": 1e-10},
    )
    return float(result.x) / sd


def fit_recalibration(
    y: np.ndarray,
    lp: np.ndarray,
    method: Literal["baseline", "slope"],
    *,
    parent: str,
    cohort: str,
) -> Recalibration:
    """The ``baseline`` or ``slope`` update of risk scores ``lp`` on validation outcome ``y``,
    its baseline hazard read on the grid up to the validation follow-up."""
    slope = 1.0 if method == "baseline" else cox_slope(y, lp)
    baseline = BreslowBaseline().fit(slope * lp, y)
    end = math.floor(float(np.max(y["time"])) / RECALIBRATION_GRID) * RECALIBRATION_GRID
    grid = np.round(np.arange(0.0, end + RECALIBRATION_GRID / 2, RECALIBRATION_GRID), 10)
    h0 = baseline.cumulative_hazard(np.zeros(1), grid)[0]
    keep = np.r_[True, np.diff(h0) != 0]  # the grid points where H0 steps
    return Recalibration(
        method=method,
        slope=slope,
        times=tuple(float(t) for t in grid[keep]),
        cumhaz=tuple(float(h) for h in h0[keep]),
        parent=parent,
        cohort=cohort,
    )


def refit(model: SurvivalModel, X: pd.DataFrame, y: np.ndarray) -> SurvivalModel:
    """``model``'s kind, features, design and hyperparameters fitted on ``X`` and ``y``."""
    fresh: SurvivalModel = clone(model)
    return fresh.fit(X[list(model.features_)], y)


def compare_updates(
    model: SurvivalModel,
    X: pd.DataFrame,
    y: np.ndarray,
    horizons: list[float],
    *,
    parent: str,
    cohort: str,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Calibration of the parent and of each update on the validation cohort (apparent, see the
    module): rows ``update``, ``horizon``, ``calibration_oe``, ``calibration_slope``, ``ici``;
    and the fitted updates by name (a :class:`Recalibration` or a refitted model)."""
    lp = model.predict(X)
    fitted: dict[str, Any] = {
        "baseline": fit_recalibration(y, lp, "baseline", parent=parent, cohort=cohort),
        "slope": fit_recalibration(y, lp, "slope", parent=parent, cohort=cohort),
        "refit": refit(model, X, y),
    }
    scorers: dict[str, Any] = {
        "none (parent)": model,
        "baseline": RecalibratedModel(model, fitted["baseline"]),
        "slope": RecalibratedModel(model, fitted["slope"]),
        "refit": fitted["refit"],
    }
    rows = []
    for name, scorer in scorers.items():
        surv = scorer.predict_survival_function(X, np.asarray(horizons, dtype=float))
        for j, horizon in enumerate(horizons):
            s = surv[:, j]
            rows.append(
                {
                    "update": name,
                    "horizon": horizon,
                    "calibration_oe": calibration_in_the_large(y, s, horizon).oe_ratio,
                    "calibration_slope": calibration_slope(y, s),
                    "ici": integrated_calibration_index(y, s, horizon).ici,
                }
            )
    return pd.DataFrame(rows), fitted
