"""The run report as a document: sections along TRIPOD+AI and REMARK, tables and figures.

Numbers come from :mod:`msk1model.report.analyses`; this module only lays them out, with the
figures drawn in :mod:`msk1model.report.figures`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from msk1model.config import RunConfig, config_hash
from msk1model.data.cohort import Cohort
from msk1model.evaluation import plots
from msk1model.report.analyses import Analyses, describe_params
from msk1model.report.document import KeyValues, ReportDocument, Section, Table, Text
from msk1model.report.figures import auc_figure, calibration_figures, figure, optimism_figure
from msk1model.results import ModelOutcome, TrainedRun

__all__ = ["report_document"]


def report_document(
    trained: TrainedRun, a: Analyses, *, run_id: str, provenance: dict[str, str]
) -> ReportDocument:
    """The report of one run: ``a`` from :func:`~msk1model.report.analyses.run_analyses`,
    ``provenance`` the header entries that say where it ran (git commit, package versions)."""
    config, cohort = trained.config, trained.cohort
    outcomes, selected = trained.outcomes, trained.selected
    sections = [
        _data_section(config, cohort, a),
        _biomarker_section(cohort, a),
        _cutpoint_section(config, cohort, a),
        _subgroup_section(config, a),
        _model_section(outcomes, selected),
        _performance_section(config, a, selected),
        _added_value_section(a, selected),
    ]
    if a.notes:
        sections.append(Section("notes", "Notes", tuple(Text(n) for n in a.notes)))
    metadata = {
        "run id": run_id,
        "experiment": config.experiment,
        "created": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "data fingerprint": cohort.fingerprint[:16],
        "config hash": config_hash(config)[:16],
        **provenance,
    }
    return ReportDocument(
        title=f"msk1model report: {config.experiment}",
        subtitle=config.description or f"biomarker {cohort.biomarker}, source {cohort.source}",
        metadata=metadata,
        sections=tuple(sections),
    )


# -- sections ------------------------------------------------------------------------------


def _data_section(config: RunConfig, cohort: Cohort, a: Analyses) -> Section:
    data = config.data
    facts = {
        "source": cohort.source,
        "endpoint": f"time {data.columns.time!r}, event {data.columns.event!r} (times in years)",
        "subgroup": ", ".join(f"{k}={v}" for k, v in data.subgroup.items()) or "all patients",
        "patients analysed": str(len(cohort.table)),
        "events": str(int(cohort.event.sum())),
        "median follow-up (reverse Kaplan-Meier)": f"{a.follow_up_years:.2f} years",
        "biomarker": f"{cohort.biomarker} (analysed as {a.marker})",
        "clinical covariates": ", ".join(cohort.covariates),
        "missing covariates": data.missing,
        "horizons": ", ".join(f"{h:g} years" for h in config.evaluation.horizons),
    }
    missing = cohort.table[[*cohort.covariates, cohort.biomarker]].isna().sum()
    return Section(
        "data",
        "Patients, events and missing data",
        (
            KeyValues("Study data", facts),
            Table("Patient flow", cohort.flow_table()),
            Table(
                "Missing values among analysed patients",
                pd.DataFrame({"column": missing.index, "missing": missing.to_numpy()}),
                note="drop: analysed patients are complete cases; impute: training-part medians "
                "inside every fit",
            ),
        ),
        "TRIPOD+AI 5, 6, 13, 20; REMARK 2-4, 12",
    )


def _biomarker_section(cohort: Cohort, a: Analyses) -> Section:
    items: list[Any] = []
    if a.distribution is not None:
        items.append(Table(f"Distribution of {a.marker}", a.distribution))
    if a.hazard_ratios is not None:
        hr = a.hazard_ratios
        items.append(
            Table(
                f"Cox hazard ratio of {a.marker}, unadjusted and adjusted for "
                f"{', '.join(cohort.covariates)}",
                hr,
            )
        )
        forest = pd.DataFrame(
            {
                "label": hr["model"] + ", " + hr["scale"],
                "hr": hr["hr"],
                "lower": hr["lower"],
                "upper": hr["upper"],
                "p": hr["p"],
            }
        )
        items.append(figure("forest", f"Hazard ratio of {a.marker}", plots.forest_plot(forest)))
    if a.ph_test is not None:
        items.append(
            Table(
                "Proportional-hazards test (scaled Schoenfeld residuals, rank of time)", a.ph_test
            )
        )
    return Section(
        "biomarker",
        "The biomarker: distribution and hazard ratios",
        tuple(items),
        "REMARK 11, 13, 15, 16",
    )


def _cutpoint_section(config: RunConfig, cohort: Cohort, a: Analyses) -> Section:
    items: list[Any] = []
    rule = config.report.cutpoint
    horizons = list(config.evaluation.horizons)
    if a.cut_groups is not None:
        ax = plots.km_plot(
            cohort.y,
            a.cut_groups,
            group_order=[g for g in ("low", "mid", "high") if g in set(a.cut_groups)],
            p_value=a.cut_logrank_p,
            title=f"{cohort.biomarker} by pre-specified cutpoint ({rule})",
        )
        items.append(figure("km_prespecified", f"Kaplan-Meier by {cohort.biomarker} ({rule})", ax))
    if a.cut_km is not None:
        items.append(Table(f"Kaplan-Meier estimates at {horizons} years by group", a.cut_km))
    if a.optimal is not None:
        opt = a.optimal
        ci = a.optimal_ci
        items.append(
            KeyValues(
                "Data-driven (maximally selected log-rank) cutpoint",
                {
                    "cutpoint": f"{opt.cutpoint:.4g}",
                    "bootstrap 95% interval": "n/a"
                    if ci is None
                    else f"{ci.lower:.4g} to {ci.upper:.4g}",
                    "patients low / high": f"{opt.n_low} / {len(cohort.table) - opt.n_low}",
                    "standardised log-rank statistic": f"{opt.statistic:.3f}",
                    "minimum p (uncorrected, misleading)": f"{opt.p_uncorrected:.3g}",
                    "p corrected (Lausen-Schumacher)": f"{opt.p_lausen_schumacher:.3g}",
                    "p corrected (permutation)": f"{opt.p_permutation:.3g}",
                },
            )
        )
        if a.optimal_groups is not None:
            ax = plots.km_plot(
                cohort.y,
                a.optimal_groups,
                group_order=["low", "high"],
                p_value=opt.p_lausen_schumacher,
                title=f"{cohort.biomarker} at the optimal cutpoint {opt.cutpoint:.4g}"
                " (corrected p)",
            )
            items.append(figure("km_optimal", "Kaplan-Meier at the data-driven cutpoint", ax))
        items.append(
            Text(
                "The data-driven cutpoint is chosen to make the groups differ most; its minimum "
                "p-value is biased low. Quote the corrected p-values and validate the cutpoint "
                "in another cohort before using it."
            )
        )
    return Section(
        "cutpoints",
        "High and low groups: cutpoints and Kaplan-Meier",
        tuple(items),
        "REMARK 12, 15",
    )


def _subgroup_section(config: RunConfig, a: Analyses) -> Section:
    column = config.report.subgroup_column
    if a.interaction is None:
        text = "No subgroup analysis (report.subgroup_column is unset or see Notes)."
        return Section("subgroups", "Subgroups", (Text(text),), "REMARK 17")
    it = a.interaction
    items = (
        Table(f"Hazard ratio of the biomarker per SD ({it.sd:.3g}) by {column}", it.subgroups),
        KeyValues(
            f"Biomarker x {column} interaction (all patients of the source, n={it.n}, "
            f"{it.events} events)",
            {
                "log HR difference per SD": f"{it.coef:.3f} (SE {it.se:.3f})",
                "Wald p": f"{it.p_wald:.3g}",
                "likelihood-ratio chi-square (1 df)": f"{it.lr_statistic:.3f}",
                "likelihood-ratio p": f"{it.p_lr:.3g}",
            },
        ),
    )
    return Section("subgroups", f"Subgroups by {column}", items, "REMARK 17; TRIPOD+AI 23a")


def _model_section(outcomes: tuple[ModelOutcome, ...], selected: ModelOutcome) -> Section:
    specs = pd.DataFrame(
        [
            {
                "model": o.model_name,
                "kind": o.kind,
                "features": o.feature_set,
                "hyperparameters": describe_params(o.best_params),
                "selected": "yes" if o is selected else "",
            }
            for o in outcomes
        ]
    )
    items: list[Any] = [Table("Models fitted (hyperparameters tuned by cross-validation)", specs)]
    model = selected.model
    coef = getattr(model, "coef_", None)
    if coef is not None and len(coef) == len(model.design_columns):
        per_unit = np.asarray(coef) / model.preprocessor_.scales_
        items.append(
            Table(
                f"Selected model ({selected.model_name}): coefficients per unit of each column",
                pd.DataFrame(
                    {
                        "column": model.design_columns,
                        "log_hr": per_unit,
                        "hr": np.exp(per_unit),
                        "mean": model.preprocessor_.means_,
                    }
                ),
                note="The linear predictor is sum(log_hr * (x - mean)); missing x take the "
                "training median.",
            )
        )
    if model.baseline_ is not None:
        times = np.array(sorted({1.0, 3.0, 5.0, 10.0}))
        base = np.exp(-model.baseline_.cumulative_hazard(np.zeros(1), times))[0]
        items.append(
            Table(
                "Baseline survival S0(t) (a patient at the training means)",
                pd.DataFrame({"years": times, "baseline_survival": base}),
            )
        )
    return Section("models", "Model specification", tuple(items), "TRIPOD+AI 10, 15")


def _performance_section(config: RunConfig, a: Analyses, selected: ModelOutcome) -> Section:
    items: list[Any] = []
    if a.intervals is not None:
        items.append(
            Table(
                f"Test-set performance with bootstrap 95% CIs ({config.report.n_bootstrap} "
                "replicates of the test patients)",
                a.intervals[["model", "feature_set", "metric", "estimate", "lower", "upper"]],
            )
        )
        headline = a.intervals[a.intervals["metric"].isin(["harrell_c", "uno_c"])]
        frame = headline.assign(model=headline["model"] + " " + headline["feature_set"])
        items.append(
            figure(
                "metrics",
                "Concordance with 95% CIs",
                plots.metrics_ci_plot(frame[["metric", "estimate", "lower", "upper", "model"]]),
            )
        )
    if a.optimism is not None:
        items.append(
            Table(
                f"Optimism-corrected performance of the selected model ({selected.model_name}, "
                "Harrell's bootstrap on the training part, hyperparameters fixed)",
                a.optimism,
            )
        )
        items.append(optimism_figure(a, selected))
    if a.test_set is not None:
        items.extend(calibration_figures(a, selected))
        items.append(auc_figure(a, selected))
    return Section(
        "performance", "Discrimination and calibration", tuple(items), "TRIPOD+AI 12, 16, 23"
    )


def _added_value_section(a: Analyses, selected: ModelOutcome) -> Section:
    items: list[Any] = []
    if a.lrt is not None:
        items.append(
            KeyValues(
                "Likelihood-ratio test of nested Cox models (all analysed patients)",
                {
                    "chi-square": f"{a.lrt.statistic:.3f} on {a.lrt.df} df",
                    "p": f"{a.lrt.p_value:.3g}",
                    "patients / events": f"{a.lrt.n} / {a.lrt.n_events}",
                },
            )
        )
    if a.deltas is not None and len(a.deltas):
        items.append(
            Table(
                "Added value on the test set: biomarker model minus clinical model (paired "
                "bootstrap)",
                a.deltas[
                    [
                        "model",
                        "metric",
                        "baseline",
                        "estimate",
                        "delta",
                        "lower",
                        "upper",
                        "p_value",
                    ]
                ],
            )
        )
    if a.decision is not None:
        items.append(
            figure("decision_curve", "Decision curve", plots.decision_curve_plot(a.decision))
        )
    return Section(
        "added-value",
        "Added value over the clinical model",
        tuple(items),
        "TRIPOD+AI 23b; REMARK 16",
    )
