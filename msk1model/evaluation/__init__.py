"""Evaluation: discrimination, time-dependent and calibration metrics (pure functions)."""

from __future__ import annotations

from msk1model.evaluation.calibration import (
    CalibrationInTheLarge,
    CalibrationWarning,
    SmoothedCalibration,
    calibration_in_the_large,
    calibration_slope,
    integrated_calibration_index,
)
from msk1model.evaluation.dcal import (
    DCalibration,
    SurvivalAtTimes,
    d_calibration,
    survival_at_own_times,
)
from msk1model.evaluation.horizons import HorizonWarning, clip_horizons
from msk1model.evaluation.metrics import harrell_c, uno_c
from msk1model.evaluation.scorecard import ScorecardWarning, score_test_set
from msk1model.evaluation.timedep import (
    TimeDependentAUC,
    brier_scores,
    integrated_brier_score,
    ipa,
    time_dependent_auc,
)

__all__ = [
    "CalibrationInTheLarge",
    "CalibrationWarning",
    "DCalibration",
    "HorizonWarning",
    "ScorecardWarning",
    "SmoothedCalibration",
    "SurvivalAtTimes",
    "TimeDependentAUC",
    "brier_scores",
    "calibration_in_the_large",
    "calibration_slope",
    "clip_horizons",
    "d_calibration",
    "harrell_c",
    "integrated_brier_score",
    "integrated_calibration_index",
    "ipa",
    "score_test_set",
    "survival_at_own_times",
    "time_dependent_auc",
    "uno_c",
]
