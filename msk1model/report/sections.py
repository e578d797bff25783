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
from msk1model.report.analyses import Analyses
from msk1model.report.cohort_analyses import EPV_FLEXIBLE, EPV_MINIMUM, EventsPerParameter
from msk1model.report.competing_section import competing_section
from msk1model.report.document import (
    KeyValues,
    ReportDocument,
    Section,
    Table,
    Text,
    format_number,
    format_p,
)
from msk1model.report.figures import figure
from msk1model.report.model_sections import (
    added_value_section,
    model_section,
    performance_section,
    small_test_warning,
)
from msk1model.results import TrainedRun

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
        _characteristics_section(config, cohort, a),
        _biomarker_section(cohort, a),
        _cutpoint_section(config, cohort, a),
        *([] if a.competing is None else [competing_section(trained, a, a.competing)]),
        _subgroup_section(config, a),
        model_section(outcomes, selected),
        performance_section(config, a, selected),
        added_value_section(a, selected),
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
        "endpoint": _endpoint_text(config, cohort),
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
            *_parts(config, a),
            Table(
                "Missing values among analysed patients",
                pd.DataFrame({"column": missing.index, "missing": missing.to_numpy()}),
                note="drop: analysed patients are complete cases; impute: training-part medians "
                "inside every fit",
            ),
        ),
        "TRIPOD+AI 5, 6, 13, 20; REMARK 2-4, 12",
    )


def _endpoint_text(config: RunConfig, cohort: Cohort) -> str:
    columns = config.data.columns
    if cohort.competing is None:
        return f"time {columns.time!r}, event {columns.event!r} (times in years)"
    return (
        f"time {columns.time!r} to the first event; {cohort.endpoint}, competing events "
        "counted as censored in the cause-specific analyses (times in years)"
    )


def _parts(config: RunConfig, a: Analyses) -> list[Any]:
    items: list[Any] = []
    if a.parts is not None:
        items.append(
            Table(
                "Patients and events in the training and test parts",
                a.parts,
                note="models are tuned and fitted on the training part and evaluated on the "
                "test part; median follow-up by the reverse Kaplan-Meier method",
            )
        )
    items += small_test_warning(config, a)
    if a.epv is not None:
        items += _epv(a.epv)
    return items


def _epv(epv: EventsPerParameter) -> list[Any]:
    value = epv.value
    items: list[Any] = [
        KeyValues(
            "Events per candidate predictor parameter (training part)",
            {
                "training events": str(epv.events),
                "candidate parameters": f"{epv.parameters} ({', '.join(epv.columns)})",
                "events per parameter": f"{value:.1f}",
            },
        )
    ]
    if value < EPV_MINIMUM:
        items.append(
            Text(
                f"Only {value:.1f} events per candidate predictor parameter, below {EPV_MINIMUM}: "
                "the fitted models are likely overfitted and their coefficients and calibration "
                "unreliable. Use fewer candidate parameters (fewer covariates, no spline) or more "
                "patients, and check the optimism-corrected estimates.",
                warning=True,
            )
        )
    elif value < EPV_FLEXIBLE:
        items.append(
            Text(
                f"{value:.1f} events per candidate predictor parameter, below {EPV_FLEXIBLE}: "
                "enough for an unpenalised Cox model by the usual rule of 10, but penalised and "
                "boosted models tuned on these data may be poorly calibrated in new patients.",
                warning=True,
            )
        )
    return items


def _characteristics_section(config: RunConfig, cohort: Cohort, a: Analyses) -> Section:
    rule = config.report.cutpoint
    if a.table_one is None:
        text = "No characteristics by group (the pre-specified cut failed; see Notes)."
        return Section("characteristics", "Patient characteristics", (Text(text),), "REMARK 12")
    table = _wide_table_one(a.table_one)
    caption = f"Characteristics of the analysed patients by {cohort.biomarker} group ({rule} cut)"
    note = (
        "n (%) of the patients with a value, or median [IQR]; p: Mann-Whitney U or Kruskal-"
        "Wallis test (continuous), Pearson chi-square or Fisher's exact test (categories); "
        "missing values are left out of the test"
    )
    return Section(
        "characteristics",
        f"Patient characteristics by {cohort.biomarker} group",
        (Table(caption, table, note=note),),
        "REMARK 12; TRIPOD+AI 20b",
    )


def _wide_table_one(tidy: pd.DataFrame) -> pd.DataFrame:
    """One row per variable (and level), a column per group: ``n (%)`` or ``median [IQR]``."""
    first = tidy[tidy["variable"] == tidy["variable"].iloc[0]].drop_duplicates("group")
    sizes = dict(zip(first["group"], first["of"] + first["missing"], strict=True))
    heads = {g: f"{g} (n={n})" for g, n in sizes.items()}
    rows = []
    for (variable, level), block in tidy.groupby(["variable", "level"], sort=False):
        row = {"variable": variable, "level": level}
        row["summary"] = "median [IQR]" if level == "" else "n (%)"
        row.update({heads[r.group]: _cell(r) for r in block.itertuples()})
        rows.append({**row, "p": block["p"].iloc[0], "test": block["test"].iloc[0]})
        missing = block.set_index("group")["missing"]
        if missing.any() and (level == "" or _last_level(tidy, variable, level)):
            cells = {heads[g]: str(int(m)) for g, m in missing.items()}
            rows.append({"variable": variable, "level": "missing", "summary": "n", **cells})
    frame = pd.DataFrame(rows)
    repeat = frame["variable"].eq(frame["variable"].shift())
    frame.loc[repeat, ["variable", "test"]] = ""
    frame.loc[repeat, "p"] = np.nan
    return frame.fillna({"test": ""})


def _last_level(tidy: pd.DataFrame, variable: str, level: str) -> bool:
    return bool(tidy.loc[tidy["variable"] == variable, "level"].iloc[-1] == level)


def _cell(row: Any) -> str:
    if row.level == "":
        return f"{_short(row.median)} [{_short(row.q1)}-{_short(row.q3)}]"
    return f"{row.n} ({row.percent:.1f}%)"


def _short(x: float) -> str:
    """Three significant digits, trailing zeros kept, without scientific notation."""
    return format_number(x, 0) if abs(x) >= 100 else f"{x:#.3g}".rstrip(".")


def _median_text(median: float) -> str:
    return "not reached" if np.isinf(median) else format_number(median, 2)


def _ph_comment(ph: pd.DataFrame) -> Text:
    rejected = ph[(ph["covariate"] != "global") & (ph["p"] < 0.05)]
    overall = float(ph.loc[ph["covariate"] == "global", "p"].iloc[0])
    if rejected.empty and overall >= 0.05:
        return Text(
            f"No evidence against proportional hazards (global {_p_text(overall)}): the "
            "hazard ratios can be read as constant over follow-up."
        )
    named = ", ".join(f"{r.covariate} ({_p_text(r.p)})" for r in rejected.itertuples())
    which = f"for {named} and " if named else ""
    return Text(
        f"The proportional-hazards assumption is doubtful {which}globally "
        f"({_p_text(overall)}): the hazard ratios above are averages over follow-up, and "
        "the effect of these covariates may grow or fade with time. Read them with care; a "
        "model stratified on such a covariate, a time-varying coefficient, or hazard ratios "
        "within a restricted window (e.g. the first 5 years, where early relapse happens) "
        "would show how the effect changes.",
        warning=True,
    )


def _p_text(p: float) -> str:
    """``p = 0.012`` or ``p < 0.001``."""
    text = format_p(p)
    return f"p {text[0]} {text[1:]}" if text.startswith("<") else f"p = {text}"


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
        items.append(_ph_comment(a.ph_test))
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
        items.append(
            Table(
                f"Kaplan-Meier estimates at {horizons} years by group",
                a.cut_km.assign(median=[_median_text(m) for m in a.cut_km["median"]]),
                note="median: the group's median survival in years, 'not reached' while its "
                "survival stays above 0.5",
            )
        )
    if a.group_hr is not None:
        covariates = ", ".join(cohort.covariates)
        items.append(
            Table(
                f"Cox hazard ratio of the {cohort.biomarker} groups ({rule}), unadjusted and "
                f"adjusted for {covariates}",
                a.group_hr[["model", "comparison", "hr", "lower", "upper", "p", "n", "events"]],
                note="hr below 1: the first group named has the lower hazard of the event",
            )
        )
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
                    "minimum p (uncorrected, misleading)": format_p(opt.p_uncorrected),
                    "p corrected (Lausen-Schumacher)": format_p(opt.p_lausen_schumacher),
                    "p corrected (permutation)": format_p(opt.p_permutation),
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
                "Wald p": format_p(it.p_wald),
                "likelihood-ratio chi-square (1 df)": f"{it.lr_statistic:.3f}",
                "likelihood-ratio p": format_p(it.p_lr),
            },
        ),
    )
    return Section("subgroups", f"Subgroups by {column}", items, "REMARK 17; TRIPOD+AI 23a")
