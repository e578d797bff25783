"""The HTML report of an external validation, drawn by the training report's renderer.

Sections: the two cohorts (endpoints, time unit, case mix side by side), transport (the
biomarker's scales and any harmonisation, the shift of every feature), performance (every
metric with its bootstrap CI), the added value of the biomarker (the model against its
clinical-only basic model, when the store has it), calibration and decision curves at each
horizon, and the recalibration comparison when one was asked for. Aggregates only: no
patient's value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as MplFigure

from msk1model.errors import Msk1ModelError
from msk1model.evaluation.added_value import decision_curve
from msk1model.evaluation.plots import decision_curve_plot
from msk1model.report.document import (
    Block,
    KeyValues,
    ReportDocument,
    Section,
    Table,
    Text,
    format_p,
)
from msk1model.report.figures import figure_of, smoothed_calibration
from msk1model.scores import horizon_label, metric_label

__all__ = ["ValidationFacts", "comparison_table", "validation_document"]

#: Thresholds of the decision curves drawn (risk by the horizon).
CURVE_THRESHOLDS = np.round(np.arange(0.02, 0.61, 0.02), 2)


@dataclass(frozen=True)
class ValidationFacts:
    """What the validation report states, gathered by :func:`msk1model.external.validate`."""

    model: str
    version: str
    run_id: str
    development_cohort: str
    development_endpoint: str
    validation_cohort: str
    validation_endpoint: str
    n_boot: int
    censoring_weights: str
    scale: str
    case_mix: pd.DataFrame
    shift: pd.DataFrame | None
    scores: pd.DataFrame
    updates: pd.DataFrame | None
    registered_update: str | None
    basic_model: str | None = None
    """The clinical-only model compared (``coxph | clinical``), or None."""
    basic_scores: pd.DataFrame | None = None
    added: pd.DataFrame | None = None


def validation_document(
    facts: ValidationFacts,
    y: np.ndarray,
    surv: np.ndarray,
    horizons: Sequence[float],
    *,
    basic_surv: np.ndarray | None = None,
) -> ReportDocument:
    """The report of a validation whose predictions at ``horizons`` are ``surv`` (n, horizons)
    against the validation outcome ``y``; ``basic_surv`` the basic model's, when compared."""
    curves = {"model": surv} | ({} if basic_surv is None else {"basic model": basic_surv})
    sections = [
        _cohorts(facts),
        _transport(facts),
        _performance(facts),
        *([] if facts.added is None else [_added_value(facts)]),
        Section("calibration", "Calibration", tuple(_calibration(y, surv, horizons)),
                "TRIPOD+AI 23a; Austin et al. 2020"),
        Section("decision", "Decision curves", tuple(_decision(y, curves, horizons)),
                "TRIPOD+AI 23b; Vickers et al. 2008"),
    ]  # fmt: skip
    if facts.updates is not None:
        sections.append(_updates(facts))
    return ReportDocument(
        title=f"External validation of {facts.model} version {facts.version}",
        subtitle=f"{facts.validation_cohort}; developed on {facts.development_cohort}",
        metadata={
            "validation run": facts.run_id,
            "model": f"models:/{facts.model}/{facts.version}",
            "bootstrap replicates": str(facts.n_boot),
            "censoring weights": facts.censoring_weights,
        },
        sections=tuple(sections),
    )


def _cohorts(facts: ValidationFacts) -> Section:
    same = facts.development_endpoint == facts.validation_endpoint
    items: list[Block] = [
        KeyValues(
            "Endpoints",
            {
                "development": facts.development_endpoint,
                "validation": facts.validation_endpoint,
            },
        ),
        Table("Case mix of the development (training rows) and validation cohorts",
              facts.case_mix.map(_cell), note="Linear predictor: the model's risk score."),
    ]  # fmt: skip
    if not same:
        items.insert(
            0,
            Text(
                "The validation endpoint differs from the development endpoint: the model's "
                "absolute risks are of the development endpoint, so calibration compares "
                "different events; discrimination is the more transportable measure.",
                warning=True,
            ),
        )
    return Section("cohorts", "Cohorts", tuple(items), "TRIPOD+AI 12, 24; REMARK 18")


def _transport(facts: ValidationFacts) -> Section:
    items: list[Block] = [Text(facts.scale[0].upper() + facts.scale[1:] + ".")]
    if facts.shift is None:
        items.append(
            Text(
                "This predictor was exported before msk1model recorded the development "
                "distributions, so no shift is shown. Fix: re-export the model",
                warning=True,
            )
        )
    else:
        items.append(
            Table(
                "Shift of each feature from development to validation",
                facts.shift.rename(columns=_SHIFT_COLUMNS),
                note="SMD: difference of means over the pooled SD. outside_training: share of "
                "validation patients beyond the predictor's training range (numeric) or at a "
                "level unseen in training (categorical).",
            )
        )
    return Section("transport", "Transport checks", tuple(items), "TRIPOD+AI 12c, 25")


#: Short headers of the shift table.
_SHIFT_COLUMNS = {
    "development_mean": "dev. mean",
    "development_sd": "dev. SD",
    "validation_mean": "val. mean",
    "validation_sd": "val. SD",
    "smd": "SMD",
    "outside_training": "outside training",
    "max_level_share_difference": "max level share diff.",
}


def _cell(value: object) -> str:
    """A case-mix value as shown: counts whole, other numbers to three decimals."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "not recorded"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return f"{float(value):.3f}"
    return str(value)


def _performance(facts: ValidationFacts) -> Section:
    s = facts.scores
    values = s[s["statistic"] == "value"]
    rows = []
    for r in values.itertuples():
        horizon = None if np.isnan(r.horizon) else r.horizon
        row = {"metric": metric_label(r.metric, horizon), "value": r.value}
        for bound in ("lower", "upper"):
            match = s[(s["metric"] == r.metric) & (s["statistic"] == bound)]
            if horizon is not None:
                match = match[match["horizon"] == horizon]
            row[bound] = float(match["value"].iloc[0]) if len(match) else np.nan
        rows.append(row)
    table = Table(
        "Discrimination, calibration and overall accuracy on the validation cohort",
        pd.DataFrame(rows),
        note=f"95% percentile bootstrap CIs from {facts.n_boot} resamples of the validation "
        f"patients (seeded). Censoring weights: {facts.censoring_weights}.",
    )
    return Section("performance", "Performance", (table,), "TRIPOD+AI 23a; REMARK 18")


def comparison_table(
    scores: pd.DataFrame, basic: pd.DataFrame, added: pd.DataFrame
) -> pd.DataFrame:
    """Per metric: the model, the basic model and the difference with their 95% CIs (text
    cells; no CI columns without bootstrap rows) and the bootstrap p of no difference."""
    rows = []
    for r in scores[scores["statistic"] == "value"].itertuples():
        horizon = None if np.isnan(r.horizon) else float(r.horizon)
        row = {"metric": metric_label(r.metric, horizon)}
        for label, frame in (("model", scores), ("basic model", basic), ("difference", added)):
            value, lower, upper, p = (
                _statistic(frame, r.metric, horizon, s) for s in ("value", "lower", "upper", "p")
            )
            row[label] = f"{value:.3f}" + ("" if np.isnan(lower) else
                                            f" ({lower:.3f} to {upper:.3f})")  # fmt: skip
            if label == "difference" and not np.isnan(p):
                row["p"] = format_p(p)
        rows.append(row)
    return pd.DataFrame(rows)


def _statistic(frame: pd.DataFrame, metric: str, horizon: float | None, statistic: str) -> float:
    match = frame[(frame["metric"] == metric) & (frame["statistic"] == statistic)]
    match = match[match["horizon"].isna() if horizon is None else match["horizon"] == horizon]
    return float(match["value"].iloc[0]) if len(match) else np.nan


def _added_value(facts: ValidationFacts) -> Section:
    assert facts.basic_scores is not None and facts.added is not None
    table = Table(
        f"The model against its basic model ({facts.basic_model}) on the validation cohort",
        comparison_table(facts.scores, facts.basic_scores, facts.added),
        note="Basic model: the clinical-only model of the same family, fitted in the same "
        "training run on the same patients, scored on the same validation patients. "
        "Difference: model minus basic model, with its paired percentile bootstrap 95% CI and "
        f"two-sided bootstrap p on the same {facts.n_boot} resamples.",
    )
    return Section("added_value", "Added value of the biomarker", (table,), "REMARK 18; "
                   "TRIPOD+AI 23a")  # fmt: skip


def _calibration(y: np.ndarray, surv: np.ndarray, horizons: Sequence[float]) -> list[Block]:
    out: list[Block] = []
    for j, h in enumerate(horizons):
        fig = MplFigure(figsize=(4.6, 4.3), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        try:
            smoothed_calibration(y, surv[:, j], h, ax=ax)
        except (Msk1ModelError, ArithmeticError, ValueError, np.linalg.LinAlgError):
            out.append(Text(f"Too few events for a calibration curve at {h:g} years."))
            continue
        caption = (
            f"Calibration at {h:g} years on the validation cohort: Kaplan-Meier observed risk in "
            "groups of predicted risk (95% CI) and the smoothed curve (ICI, E50, E90)"
        )
        out.append(figure_of(f"validation_calibration_{horizon_label(h)}", caption, fig))
    return out


def _decision(
    y: np.ndarray, curves: dict[str, np.ndarray], horizons: Sequence[float]
) -> list[Block]:
    out: list[Block] = []
    for j, h in enumerate(horizons):
        at = {label: surv[:, j] for label, surv in curves.items()}
        frame = decision_curve(y, at, h, CURVE_THRESHOLDS)
        fig = MplFigure(figsize=(5.2, 3.8), layout="constrained")
        FigureCanvasAgg(fig)
        decision_curve_plot(frame, ax=fig.add_subplot())
        caption = f"Net benefit of treating by predicted risk by {h:g} years (decision curve)"
        out.append(figure_of(f"validation_decision_{horizon_label(h)}", caption, fig))
    return out


def _updates(facts: ValidationFacts) -> Section:
    assert facts.updates is not None
    items: list[Block] = [
        Table(
            "Calibration of the model and of its updates on the validation cohort",
            facts.updates,
            note="Apparent: each update is fitted on these patients (baseline: new baseline "
            "hazard; slope: slope of the risk score and baseline; refit: the model refitted).",
        )
    ]
    if facts.registered_update:
        items.append(Text(f"Registered: {facts.registered_update} (the champion alias did not "
                          "move; msk1model promote chooses it)."))  # fmt: skip
    return Section("recalibration", "Recalibration", tuple(items), "TRIPOD+AI 23c")
