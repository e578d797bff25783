"""The statistics behind a run's report, each computed once and kept as data.

The biomarker analyses (REMARK) use the whole analysed cohort, as a marker study would; the
performance analyses use the test part with the models fitted on the training part; the optimism
correction refits the selected pipeline in bootstrap samples of the training part. An analysis
the data cannot support (too few events, a constant column) becomes a note, not a failed run.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import pandas as pd

from msk1model.config import RunConfig
from msk1model.data.cohort import Cohort
from msk1model.data.describe import reverse_km_median_follow_up
from msk1model.errors import Msk1ModelError
from msk1model.evaluation.added_value import LRT, decision_curve, likelihood_ratio_test
from msk1model.evaluation.biomarker import (
    ERInteraction,
    biomarker_distribution,
    er_interaction,
    hazard_ratios,
    node_groups,
    proportional_hazards_test,
)
from msk1model.evaluation.cutpoints import (
    CutpointInterval,
    OptimalCutpoint,
    bootstrap_cutpoint_ci,
    cutpoint_groups,
    optimal_cutpoint,
)
from msk1model.evaluation.groups import group_hazard_ratios
from msk1model.evaluation.horizons import clip_horizons
from msk1model.evaluation.km import kaplan_meier, logrank_test
from msk1model.evaluation.optimism import optimism_corrected, survival_scores
from msk1model.evaluation.uncertainty import ModelPredictions, TestSet, bootstrap_test_metrics
from msk1model.models import Design, DesignSpec, make_model
from msk1model.models.design import Transform
from msk1model.outcome import make_y
from msk1model.report.cohort_analyses import (
    EventsPerParameter,
    calibration_summary,
    events_per_parameter,
    part_counts,
    table_one,
)
from msk1model.results import ModelOutcome, TrainedRun

if TYPE_CHECKING:
    from msk1model.report.competing_section import CompetingAnalyses

__all__ = ["Analyses", "run_analyses"]

T = TypeVar("T")


@dataclass
class Analyses:
    """Everything the report shows; None where an analysis was not possible (see ``notes``)."""

    marker: str  # the biomarker as analysed, e.g. "msk1" or "log2(pr_fmol+1)"
    follow_up_years: float
    distribution: pd.DataFrame | None = None
    hazard_ratios: pd.DataFrame | None = None
    ph_test: pd.DataFrame | None = None
    cut_groups: np.ndarray | None = None
    cut_km: pd.DataFrame | None = None
    cut_logrank_p: float | None = None
    optimal: OptimalCutpoint | None = None
    optimal_ci: CutpointInterval | None = None
    optimal_groups: np.ndarray | None = None
    interaction: ERInteraction | None = None
    intervals: pd.DataFrame | None = None
    deltas: pd.DataFrame | None = None
    optimism: pd.DataFrame | None = None
    lrt: LRT | None = None
    decision: pd.DataFrame | None = None
    parts: pd.DataFrame | None = None
    epv: EventsPerParameter | None = None
    table_one: pd.DataFrame | None = None
    group_hr: pd.DataFrame | None = None
    calibration: pd.DataFrame | None = None
    test_predictions: list[ModelPredictions] = field(default_factory=list)
    test_set: TestSet | None = None
    competing: CompetingAnalyses | None = None
    notes: list[str] = field(default_factory=list)

    def attempt(self, what: str, compute: Callable[[], T]) -> T | None:
        """``compute()``, or None with a note when the data cannot support it."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # convergence chatter; failures are noted
                return compute()
        except (Msk1ModelError, ArithmeticError, ValueError, np.linalg.LinAlgError) as exc:
            self.notes.append(f"{what}: not available ({type(exc).__name__}: {exc})")
            return None


def run_analyses(trained: TrainedRun) -> Analyses:
    """Every analysis of the report, in the order the report presents them."""
    config, cohort, design = trained.config, trained.cohort, trained.design
    table = _analysis_table(cohort, design)
    marker = str(table.columns[-1])
    a = Analyses(marker, reverse_km_median_follow_up(cohort.y))
    clinical = [c for c in table.columns if c not in ("time", "event", marker)]
    _biomarker(a, cohort, table, marker, clinical)
    _cutpoints(a, config, cohort)
    _groups(a, table, clinical, cohort)
    a.interaction = a.attempt(
        f"{config.report.subgroup_column} subgroup analysis",
        lambda: _subgroups(config, trained.subgroup_cohort, design),
    )
    _performance(a, trained)
    if cohort.competing is not None:
        from msk1model.report.competing_section import competing_analyses  # it reads Analyses

        a.competing = a.attempt("competing risks", lambda: competing_analyses(trained, a, table))
    return a


def _analysis_table(cohort: Cohort, design: DesignSpec) -> pd.DataFrame:
    """time, event, the clinical covariates as numeric design columns, then the biomarker on the
    scale the models use (log2 when configured; a z-score or spline does not change HR per SD)."""
    clinical = Design(list(cohort.covariates), design).fit(cohort.table)
    # log2 as the models see it; a z-score is left out: HRs are per SD of the measured values
    transform: Transform = "log2" if design.transform == "log2" else "none"
    marker = Design([cohort.biomarker], DesignSpec(cohort.biomarker, transform, design.offset))
    parts = [clinical.transform(cohort.table), marker.fit(cohort.table).transform(cohort.table)]
    return pd.concat([cohort.table[["time", "event"]], *parts], axis=1)


def _biomarker(
    a: Analyses,
    cohort: Cohort,
    table: pd.DataFrame,
    marker: str,
    clinical: list[str],
) -> None:
    by: dict[str, pd.Series] = {}
    if "grade" in cohort.table:
        by["grade"] = cohort.table["grade"]
    if "nodes" in cohort.table:
        by["nodes"] = node_groups(cohort.table["nodes"])
    a.distribution = a.attempt(
        "biomarker distribution", lambda: biomarker_distribution(table, marker, by)
    )
    a.hazard_ratios = a.attempt(
        "biomarker hazard ratios",
        lambda: hazard_ratios(table, marker, clinical),
    )
    a.ph_test = a.attempt(
        "proportional-hazards test",
        lambda: proportional_hazards_test(table, [*clinical, marker]),
    )


def _cutpoints(a: Analyses, config: RunConfig, cohort: Cohort) -> None:
    y = cohort.y
    values = cohort.table[cohort.biomarker].to_numpy(dtype=float)
    horizons = list(config.evaluation.horizons)
    rule = config.report.cutpoint
    groups = a.attempt("pre-specified cutpoint", lambda: cutpoint_groups(values, rule))
    if groups is not None:
        a.cut_groups = groups
        a.cut_km = a.attempt("Kaplan-Meier by group", lambda: kaplan_meier(y, groups, horizons))
        test = a.attempt("log-rank test", lambda: logrank_test(y, groups))
        a.cut_logrank_p = None if test is None else test.p
    report = config.report
    a.optimal = a.attempt(
        "optimal cutpoint",
        lambda: optimal_cutpoint(
            y,
            values,
            min_prop=report.min_group,
            n_permutations=report.n_permutations,
            seed=config.seed,
        ),
    )
    if a.optimal is not None:
        cut = a.optimal.cutpoint
        a.optimal_groups = np.where(values <= cut, "low", "high")
        a.optimal_ci = a.attempt(
            "bootstrap interval of the optimal cutpoint",
            lambda: bootstrap_cutpoint_ci(
                y,
                values,
                n_boot=report.n_bootstrap,
                seed=config.seed,
                min_prop=report.min_group,
                n_jobs=report.n_jobs,
            ),
        )


def _groups(a: Analyses, table: pd.DataFrame, clinical: list[str], cohort: Cohort) -> None:
    """Table 1 and the hazard ratio of high against low, by the pre-specified cut."""
    groups = a.cut_groups
    if groups is None:
        return
    a.table_one = a.attempt("characteristics by group", lambda: table_one(cohort, groups))
    a.group_hr = a.attempt(
        "hazard ratio between the groups",
        lambda: group_hazard_ratios(table, groups, clinical, reference="low"),
    )


def _subgroups(
    config: RunConfig, broad: Cohort | Exception | None, design: DesignSpec
) -> ERInteraction | None:
    """The biomarker within each level of the subgroup column and the interaction test.

    ``broad`` is the source without the run's restriction on that column (loaded by the
    pipeline): a run restricted to one level (``data.subgroup: {er: 1}``) cannot show this, so
    the analysis covers every patient of the source. An error loading it becomes the note.
    """
    column = config.report.subgroup_column
    if column is None or broad is None:
        return None
    if isinstance(broad, Exception):
        raise broad
    covariates = [c for c in config.data.covariates if c != column]
    without_column = dataclasses.replace(broad, covariates=tuple(covariates))
    frame = _analysis_table(without_column, design).assign(
        **{column: broad.table[column].astype(float)}
    )
    marker = str(frame.columns[-2])
    clinical = [c for c in frame.columns if c not in ("time", "event", marker, column)]
    return er_interaction(frame, marker, column, clinical)


def _performance(a: Analyses, trained: TrainedRun) -> None:
    config, cohort, split = trained.config, trained.cohort, trained.split
    y, table = cohort.y, cohort.table
    train, test = split.train, split.test
    horizons = tuple(config.evaluation.horizons)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the scorecard already warned about clipping
        clipped = tuple(float(h) for h in clip_horizons(list(horizons), y[test], y[train]))
    test_set = TestSet(y[test], y[train], horizons, clipped, config.evaluation.tau)
    a.test_set = test_set
    a.parts = part_counts(cohort, split)
    a.epv = a.attempt(
        "events per parameter", lambda: events_per_parameter(cohort, trained.design, split)
    )
    a.calibration = calibration_summary(trained.outcomes, list(horizons))
    X_test = table.iloc[test]
    a.test_predictions = [
        ModelPredictions(
            o.model_name,
            o.feature_set,
            *o.model.predict_risk_and_survival(X_test, np.asarray(clipped)),
        )
        for o in trained.outcomes
    ]
    report = config.report
    result = a.attempt(
        "bootstrap confidence intervals",
        lambda: bootstrap_test_metrics(
            test_set,
            a.test_predictions,
            n_boot=report.n_bootstrap,
            seed=config.seed,
            n_jobs=report.n_jobs,
        ),
    )
    if result is not None:
        a.intervals, a.deltas = result
    a.optimism = a.attempt("optimism correction", lambda: _optimism(trained))
    a.lrt = a.attempt("likelihood-ratio test", lambda: _lrt(cohort, trained.design))
    a.decision = a.attempt("decision curve", lambda: _decision(a, trained.selected, clipped[-1]))


def _optimism(trained: TrainedRun) -> pd.DataFrame:
    """Harrell's optimism of the selected pipeline (its tuned hyperparameters held fixed)."""
    config, selected = trained.config, trained.selected
    rows = trained.cohort.table.iloc[trained.split.train].reset_index(drop=True)
    kind, features, params = selected.kind, selected.model.features_, selected.best_params
    seed, design = config.seed, trained.design
    fit, score = survival_scores(
        lambda: make_model(kind, params, features=features, design=design, random_state=seed),
        rows,
        make_y(time=rows["time"], event=rows["event"]),
        horizon=float(max(config.evaluation.horizons)),
    )
    report = config.report
    return optimism_corrected(
        fit, score, len(rows), n_boot=report.n_bootstrap, seed=seed, n_jobs=report.n_jobs,
        fitted=selected.model,  # the run's refit: the same factory on the same training rows
    )  # fmt: skip


def _lrt(cohort: Cohort, design: DesignSpec) -> LRT:
    """Nested Cox models: clinical design columns, then plus the biomarker's design columns."""
    fitted = Design([*cohort.covariates, cohort.biomarker], design).fit(cohort.table)
    frame = fitted.transform(cohort.table).assign(time=cohort.time, event=cohort.event)
    base = [
        c for c, s in zip(fitted.columns_, fitted.sources_, strict=True) if s != cohort.biomarker
    ]
    added = [c for c in fitted.columns_ if c not in base]
    return likelihood_ratio_test(frame, base, added)


def _decision(a: Analyses, selected: ModelOutcome, horizon: float) -> pd.DataFrame:
    """Net benefit at the last horizon: the selected family, clinical and with the biomarker."""
    assert a.test_set is not None
    survival: dict[str, np.ndarray] = {
        f"{p.model} {p.feature_set}": p.survival[:, -1]
        for p in a.test_predictions
        if p.model == selected.model_name
    }
    risk = 1.0 - np.concatenate(list(survival.values()))
    top = float(min(0.95, np.quantile(risk, 0.99)))
    thresholds = np.round(np.linspace(0.01, max(top, 0.05), 40), 4)
    return decision_curve(a.test_set.y, survival, horizon, thresholds)
