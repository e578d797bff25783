"""Evaluation: metrics, biomarker analyses, cutpoints, bootstrap uncertainty and added value
(pure functions). Plots live in :mod:`msk1model.evaluation.plots`, the report in
:mod:`msk1model.report`.

Every function takes the survival outcome as one structured ``y`` (fields event, time in years;
see :mod:`msk1model.outcome`), and ``y_train`` first where a censoring distribution is estimated
from the training data, in scikit-survival's argument order. The Cox analyses of a cohort table
(:func:`hazard_ratios`, :func:`proportional_hazards_test`, :func:`er_interaction`,
:func:`likelihood_ratio_test`) take the frame with lifelines-style ``duration_col``/``event_col``.
"""

from __future__ import annotations

from msk1model.evaluation.added_value import LRT, decision_curve, likelihood_ratio_test
from msk1model.evaluation.biomarker import (
    BiomarkerWarning,
    ERInteraction,
    biomarker_distribution,
    er_interaction,
    hazard_ratios,
    node_groups,
    proportional_hazards_test,
)
from msk1model.evaluation.bootstrap import (
    BootstrapWarning,
    bootstrap_metrics,
    bootstrap_replicates,
    paired_bootstrap_deltas,
)
from msk1model.evaluation.calibration import (
    CalibrationInTheLarge,
    CalibrationWarning,
    SmoothedCalibration,
    calibration_groups,
    calibration_in_the_large,
    calibration_slope,
    integrated_calibration_index,
)
from msk1model.evaluation.cutpoints import (
    CutpointInterval,
    OptimalCutpoint,
    bootstrap_cutpoint_ci,
    cutpoint_groups,
    lausen_schumacher_p,
    optimal_cutpoint,
)
from msk1model.evaluation.dcal import (
    DCalibration,
    SurvivalAtTimes,
    d_calibration,
    survival_at_own_times,
)
from msk1model.evaluation.horizons import HorizonWarning, clip_horizons
from msk1model.evaluation.km import (
    KMCurve,
    LogRankResult,
    kaplan_meier,
    kaplan_meier_steps,
    km_curve,
    logrank_test,
)
from msk1model.evaluation.metrics import harrell_c, uno_c
from msk1model.evaluation.optimism import optimism_corrected, survival_scores
from msk1model.evaluation.timedep import (
    TimeDependentAUC,
    brier_scores,
    integrated_brier_score,
    ipa,
    time_dependent_auc,
)

__all__ = [
    "LRT",
    "BiomarkerWarning",
    "BootstrapWarning",
    "CalibrationInTheLarge",
    "CalibrationWarning",
    "CutpointInterval",
    "DCalibration",
    "ERInteraction",
    "HorizonWarning",
    "KMCurve",
    "LogRankResult",
    "OptimalCutpoint",
    "SmoothedCalibration",
    "SurvivalAtTimes",
    "TimeDependentAUC",
    "biomarker_distribution",
    "bootstrap_cutpoint_ci",
    "bootstrap_metrics",
    "bootstrap_replicates",
    "brier_scores",
    "calibration_groups",
    "calibration_in_the_large",
    "calibration_slope",
    "clip_horizons",
    "cutpoint_groups",
    "d_calibration",
    "decision_curve",
    "er_interaction",
    "harrell_c",
    "hazard_ratios",
    "integrated_brier_score",
    "integrated_calibration_index",
    "ipa",
    "kaplan_meier",
    "kaplan_meier_steps",
    "km_curve",
    "lausen_schumacher_p",
    "likelihood_ratio_test",
    "logrank_test",
    "node_groups",
    "optimal_cutpoint",
    "optimism_corrected",
    "paired_bootstrap_deltas",
    "proportional_hazards_test",
    "survival_at_own_times",
    "survival_scores",
    "time_dependent_auc",
    "uno_c",
]
