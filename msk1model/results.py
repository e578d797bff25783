"""What a run produces, as data: fitted models with their scores, the trained run, the result.

These types flow downhill: the pipeline builds them, the report, tracking, export and the CLI
read them. Nothing here formats for display or knows MLflow's metric names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from msk1model.config import RunConfig
from msk1model.data.cohort import Cohort
from msk1model.models import CompetingRisksModel, DesignSpec, SurvivalModel
from msk1model.scores import score_value
from msk1model.splitting import Split

if TYPE_CHECKING:
    from msk1model.export import Registration  # the registry result; export imports mlflow

__all__ = ["ModelOutcome", "RunResult", "TrainedRun"]


@dataclass(frozen=True)
class ModelOutcome:
    """One model family fitted on one feature set: tuned, refitted on the training part, scored.

    ``scores`` holds its rows of stage ``cv`` (mean and SD over folds of the best trial),
    ``test`` (held-out part) or, under nested cross-validation, ``nested_cv`` (mean and SD over
    the outer folds), ``tuning`` (``n_trials``, ``n_failed_trials``) and, with competing events,
    ``competing`` (the predicted cumulative incidence on the test part), with ``model`` and
    ``feature_set`` filled in.
    """

    model_name: str
    kind: str
    feature_set: str
    run_id: str
    best_params: dict[str, Any]
    scores: pd.DataFrame
    model: SurvivalModel
    competing: CompetingRisksModel | None = None
    """With competing events: ``model`` (the cause's hazard) paired with the competing events'
    hazard model, which gives the cumulative incidence; the predictor exports it."""

    def score(
        self, stage: str, metric: str, horizon: float | None = None, statistic: str = "value"
    ) -> float:
        """One of this model's scores, e.g. ``score("cv", "harrell_c", statistic="mean")``."""
        return score_value(
            self.scores, stage=stage, metric=metric, horizon=horizon, statistic=statistic
        )

    @property
    def nested(self) -> bool:
        """Whether performance was estimated by nested cross-validation (no test part)."""
        return bool((self.scores["stage"] == "nested_cv").any())

    def estimate(self, metric: str, horizon: float | None = None, statistic: str = "mean") -> float:
        """The performance estimate of a test metric: its value on the held-out test part, or
        under nested cross-validation the outer folds' ``mean`` (or ``sd``; NaN on a test
        part, which has no SD)."""
        if self.nested:
            return self.score("nested_cv", metric, horizon, statistic=statistic)
        return self.score("test", metric, horizon) if statistic == "mean" else float("nan")

    def cv_mean(self, metric: str) -> float:
        """The CV mean of a tuning ``metric`` (``auc`` at whatever horizon it was tuned)."""
        rows = self.scores[(self.scores["stage"] == "cv") & (self.scores["metric"] == metric)]
        (value,) = rows.loc[rows["statistic"] == "mean", "value"]
        return float(value)


@dataclass(frozen=True)
class TrainedRun:
    """Everything a run trained, in one object: what the report analyses.

    ``subgroup_cohort`` is the source reloaded without the subgroup restriction on
    ``report.subgroup_column`` (an ER-positive run's subgroup section needs both ER groups):
    None when the report has no subgroup section, or the error that loading it raised (the
    report shows it as a note).
    """

    config: RunConfig
    cohort: Cohort
    split: Split
    design: DesignSpec
    outcomes: tuple[ModelOutcome, ...]
    selected: ModelOutcome
    subgroup_cohort: Cohort | Exception | None = None

    @property
    def scores(self) -> pd.DataFrame:
        """Every model's score rows, in fitting order."""
        return pd.concat([o.scores for o in self.outcomes], ignore_index=True)


@dataclass(frozen=True)
class RunResult:
    """What ``train`` did: the MLflow runs, the trained run, the report and the registered model.

    ``scores`` holds every score of the run: each model's rows, the deltas of the biomarker and
    the report's headline numbers (stages ``biomarker``, ``optimism_corrected`` and
    ``delta_test`` intervals).
    """

    run_id: str
    experiment_id: str
    trained: TrainedRun
    scores: pd.DataFrame
    model_uri: str
    registration: Registration | None
    report_path: Path | None  # the HTML report (None when report.enabled is false)

    @property
    def cohort(self) -> Cohort:
        return self.trained.cohort

    @property
    def split(self) -> Split:
        return self.trained.split

    @property
    def outcomes(self) -> tuple[ModelOutcome, ...]:
        return self.trained.outcomes

    @property
    def selected(self) -> ModelOutcome:
        return self.trained.selected

    @property
    def horizon(self) -> float:
        """The last evaluation horizon (years), the one the summary shows."""
        return max(self.trained.config.evaluation.horizons)

    def summary(self) -> pd.DataFrame:
        """One row per model and feature set: the headline numbers (floats), and ``selected``.

        Columns: ``model``, ``features``, ``cv_harrell_c`` and ``cv_harrell_c_sd``, ``cv_uno_c``
        and ``cv_uno_c_sd`` (mean and SD over folds), ``test_harrell_c``, ``test_uno_c``, and at
        the last horizon ``test_auc``, ``test_ipa`` and ``calibration_slope`` (the test part's
        values, or under nested cross-validation the outer folds' means); with competing events
        ``cif_auc``, ``cif_oe`` (at the last horizon) and ``wolbers_c``; ``selected`` (bool).
        """
        h = self.horizon
        rows = []
        for o in self.outcomes:
            rows.append(
                {
                    "model": o.model_name,
                    "features": o.feature_set,
                    "cv_harrell_c": o.score("cv", "harrell_c", statistic="mean"),
                    "cv_harrell_c_sd": o.score("cv", "harrell_c", statistic="sd"),
                    "cv_uno_c": o.score("cv", "uno_c", statistic="mean"),
                    "cv_uno_c_sd": o.score("cv", "uno_c", statistic="sd"),
                    "test_harrell_c": o.estimate("harrell_c"),
                    "test_uno_c": o.estimate("uno_c"),
                    "test_auc": o.estimate("auc", h),
                    "test_ipa": o.estimate("ipa", h),
                    "calibration_slope": o.estimate("calibration_slope", h),
                    **_competing_summary(o, h),
                    "selected": o is self.selected,
                }
            )
        return pd.DataFrame(rows)


def _competing_summary(outcome: ModelOutcome, horizon: float) -> dict[str, float]:
    """The predicted cumulative incidence's headline numbers (none without competing events)."""
    if outcome.competing is None:
        return {}
    return {
        "cif_auc": outcome.score("competing", "cif_auc", horizon),
        "cif_oe": outcome.score("competing", "cif_oe", horizon),
        "wolbers_c": outcome.score("competing", "wolbers_c"),
    }
