"""The model card of an exported predictor: what it is for, what it takes, how well it does.

A :class:`ModelCard` is data (sections of paragraphs and tables); :meth:`ModelCard.markdown`
and :meth:`ModelCard.html` display it. The Markdown is the registered version's description
(shown on its page in the MLflow UI); both files travel with the model, inside its manifest.
The card holds summary statistics only, never a patient's row.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from msk1model.data.cohort import cohort_definition
from msk1model.data.rules import feature_units
from msk1model.predictor import FLAG_COLUMN
from msk1model.scores import metric_label

if TYPE_CHECKING:
    from msk1model.predictor import PredictorSpec
    from msk1model.report import Analyses
    from msk1model.results import ModelOutcome, TrainedRun

__all__ = ["CardSection", "CardTable", "ModelCard", "model_card"]

#: Test-set metrics the card lists, in order (metric, horizon-dependent).
CARD_METRICS = (
    ("harrell_c", False),
    ("uno_c", False),
    ("auc", True),
    ("brier", True),
    ("ipa", True),
    ("ibs", False),
    ("calibration_slope", True),
    ("ici", True),
)
METRIC_NAMES = {
    "harrell_c": "Harrell's C",
    "uno_c": "Uno's C",
    "auc": "time-dependent AUC",
    "brier": "Brier score",
    "ipa": "IPA (scaled Brier)",
    "ibs": "integrated Brier score",
    "calibration_slope": "calibration slope",
    "ici": "ICI (integrated calibration index)",
}


@dataclass(frozen=True)
class CardTable:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class CardSection:
    heading: str
    blocks: tuple[str | CardTable, ...]


@dataclass(frozen=True)
class ModelCard:
    title: str
    sections: tuple[CardSection, ...] = field(default_factory=tuple)

    def markdown(self) -> str:
        lines = [f"# {self.title}", ""]
        for section in self.sections:
            lines += [f"## {section.heading}", ""]
            for block in section.blocks:
                if isinstance(block, CardTable):
                    lines.append("| " + " | ".join(map(_md_cell, block.header)) + " |")
                    lines.append("|" + "---|" * len(block.header))
                    lines += ["| " + " | ".join(map(_md_cell, r)) + " |" for r in block.rows]
                else:
                    lines.append(block)
                lines.append("")
        return "\n".join(lines)

    def html(self) -> str:
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{html.escape(self.title)}</title>",
            "<style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto;}"
            "table{border-collapse:collapse;}td,th{border:1px solid #bbb;padding:.25rem .5rem;}"
            "pre{background:#f4f4f4;padding:.5rem;}</style></head><body>",
            f"<h1>{html.escape(self.title)}</h1>",
        ]
        for section in self.sections:
            parts.append(f"<h2>{html.escape(section.heading)}</h2>")
            for block in section.blocks:
                if isinstance(block, CardTable):
                    head = "".join(f"<th>{html.escape(h)}</th>" for h in block.header)
                    body = "".join(
                        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                        for row in block.rows
                    )
                    parts.append(f"<table><tr>{head}</tr>{body}</table>")
                elif block.startswith("```"):
                    code = block.strip("`").removeprefix("python").strip("\n")
                    parts.append(f"<pre><code>{html.escape(code)}</code></pre>")
                elif block.startswith("- "):
                    items = "".join(
                        f"<li>{html.escape(line[2:])}</li>" for line in block.splitlines()
                    )
                    parts.append(f"<ul>{items}</ul>")
                else:
                    parts.append(f"<p>{html.escape(block)}</p>")
        parts.append("</body></html>")
        return "\n".join(parts)


def model_card(trained: TrainedRun, spec: PredictorSpec, analyses: Analyses | None) -> ModelCard:
    """The card of the predictor ``spec`` describes, built from the run that trained it
    (``analyses``: the report's, for confidence intervals and the biomarker's effect; None when
    the report was off)."""
    config, cohort, selected = trained.config, trained.cohort, trained.selected
    name = config.export.model_name
    family = dict.fromkeys([selected.model_name, selected.kind, selected.feature_set])
    return ModelCard(
        title=f"Model card: {name} ({', '.join(family)})",
        sections=(
            CardSection(
                "Intended use",
                (
                    f"Research use only: estimates the risk of {cohort.endpoint} from "
                    f"{', '.join(selected.model.features_)}, to study whether {cohort.biomarker} "
                    "adds prognostic value over clinical covariates. Not for clinical decisions: "
                    "it is not a medical device and has not been validated externally.",
                ),
            ),
            _data_section(trained, spec),
            _inputs_section(trained, spec),
            _outputs_section(spec, trained),
            _performance_section(trained, analyses),
            _biomarker_section(trained, analyses),
            _limitations_section(trained, spec),
            _usage_section(name, config.export.alias, spec),
        ),
    )


def _data_section(trained: TrainedRun, spec: PredictorSpec) -> CardSection:
    cohort = trained.cohort
    events = cohort.event
    return CardSection(
        "Cohort and endpoint",
        (
            CardTable(
                ("item", "value"),
                (
                    ("endpoint", cohort.endpoint),
                    ("cohort", cohort_definition(trained.config.data)),
                    ("source", cohort.source),
                    ("patients (events)", f"{len(events)} ({int(events.sum())})"),
                    _parts_row(trained),
                    ("time unit", "years"),
                    ("horizons", ", ".join(f"{h:g}" for h in spec.horizons) + " years"),
                    ("training follow-up", f"up to {spec.max_horizon:g} years"),
                    ("data fingerprint (SHA-256)", cohort.fingerprint),
                ),
            ),
        ),
    )


def _parts_row(trained: TrainedRun) -> tuple[str, str]:
    split, evaluation = trained.split, trained.config.evaluation
    if trained.selected.nested:
        return (
            "training patients",
            f"all {len(split.train)}; performance by nested cross-validation "
            f"({evaluation.outer_folds} event-stratified outer folds x {evaluation.repeats})",
        )
    return (
        "training / test patients",
        f"{len(split.train)} / {len(split.test)} (event-stratified split)",
    )


def _inputs_section(trained: TrainedRun, spec: PredictorSpec) -> CardSection:
    units = feature_units(trained.config.data)
    rows = []
    for rule in spec.contract.rules:
        if rule.kind == "categorical":
            accepted, training = "one of " + ", ".join(rule.levels), "-"
        else:
            accepted = f"[{_end(rule.low)}, {_end(rule.high)}]" + (
                ", whole numbers" if rule.integer else ""
            )
            low = _clip(rule.train_low, rule.low, max)
            high = _clip(rule.train_high, rule.high, min)
            training = f"[{_end(low)}, {_end(high)}]"
        rows.append(
            (
                rule.column,
                units.get(rule.column, "as in the source"),
                accepted,
                training,
                "imputed (training median)" if rule.imputable else "refused",
            )
        )
    beyond = (
        "refused"
        if spec.contract.outside_training_range == "refuse"
        else f"scored and flagged in {FLAG_COLUMN}"
    )
    return CardSection(
        "Inputs",
        (
            "One row per patient with these columns (other columns are ignored). Every input "
            "is checked before scoring; an error names the column, the rule and the row "
            "positions, never a value.",
            CardTable(
                ("column", "measures", "possible values", "accepted range", "missing"),
                tuple(rows),
            ),
            f"The accepted range is the training range widened by {spec.contract.margin:g} of "
            f"it at each end, rounded outward and kept within the possible values; a value "
            f"beyond it is {beyond}.",
        ),
    )


def _outputs_section(spec: PredictorSpec, trained: TrainedRun) -> CardSection:
    groups = spec.risk_groups
    scale = "the risk score" if groups.on == "risk_score" else groups.on
    cuts = ", ".join(f"{c:.4g}" for c in groups.cuts)
    group_row = (
        "risk_group",
        f"{' / '.join(groups.labels)}: {scale} cut at {cuts} (frozen at "
        "training; a value on a cut goes to the lower group)",
    )
    if trained.selected.competing is None:
        rows: tuple[tuple[str, str], ...] = (
            ("risk_score", "higher = higher risk (log relative hazard for Cox models)"),
            group_row,
            ("survival_<h>y", "probability of no event by h years"),
            ("event_prob_<h>y", "1 - survival_<h>y"),
        )
        curve = "row, time, survival, event_prob"
    else:
        rows = (
            (
                "risk_score",
                "higher = higher hazard of the event of interest (its cause-specific log "
                "relative hazard for Cox models)",
            ),
            group_row,
            (
                "cif_<h>y",
                f"cumulative incidence of {trained.cohort.endpoint} by h years: the probability "
                "of that event before any competing one (the product-limit of two "
                "cause-specific hazard models, one for the event and one for the competing "
                "events)",
            ),
            ("event_free_<h>y", "probability of no event of any kind by h years"),
        )
        curve = "row, time, cif, event_free"
    return CardSection(
        "Outputs",
        (
            CardTable(("column", "meaning"), rows),
            f"params: horizons (extra years, up to {spec.max_horizon:g}), output "
            f"('table' or 'curve': long format {curve}) and curve_step (years).",
        ),
    )


def _performance_section(trained: TrainedRun, analyses: Analyses | None) -> CardSection:
    selected = trained.selected
    intervals = None if analyses is None else analyses.intervals
    rows = []
    horizons = list(trained.config.evaluation.horizons)
    for metric, timed in CARD_METRICS:
        for horizon in horizons if timed else [None]:
            value = selected.estimate(metric, horizon)
            if not math.isfinite(value):
                continue
            label = METRIC_NAMES[metric] + (f" at {horizon:g} y" if horizon else "")
            spread = (
                f"SD {selected.estimate(metric, horizon, 'sd'):.3f} over outer folds"
                if selected.nested
                else _interval(intervals, selected, metric, horizon)
            )
            rows.append((label, f"{value:.3f}", spread))
    if selected.competing is not None:
        rows += _competing_rows(selected, horizons)
    metric = trained.config.tuning.metric
    cv_rows = selected.scores[
        (selected.scores["stage"] == "cv") & (selected.scores["metric"] == metric)
    ]
    cv = float(cv_rows.loc[cv_rows["statistic"] == "mean", "value"].iloc[0])
    nested = selected.nested
    return CardSection(
        "Performance (nested cross-validation)" if nested else "Performance (held-out test set)",
        (
            CardTable(
                (
                    "measure",
                    "mean over outer folds" if nested else "estimate",
                    "spread" if nested else "95% CI (bootstrap)",
                ),
                tuple(rows),
            ),
            f"Cross-validated {METRIC_NAMES.get(trained.config.tuning.metric, 'score')} on "
            f"{'all patients' if nested else 'the training part'}: {cv:.3f}. Calibration: a "
            "slope near 1 and a small ICI mean predicted and observed risks agree.",
        ),
    )


#: The competing-risk metrics the card shows: (metric, at each horizon, label).
CARD_COMPETING = (
    ("cif_auc", True, "AUC of the cumulative incidence"),
    ("cif_brier", True, "Brier score of the cumulative incidence"),
    ("cif_oe", True, "cumulative incidence observed / expected"),
    ("cif_slope", True, "cumulative incidence calibration slope"),
    ("wolbers_c", False, "Wolbers' concordance"),
)


def _competing_rows(selected: ModelOutcome, horizons: list[float]) -> list[tuple[str, str, str]]:
    """The predicted cumulative incidence's test metrics (no bootstrap interval yet)."""
    rows = []
    for metric, timed, label in CARD_COMPETING:
        for horizon in horizons if timed else [None]:
            value = selected.score("competing", metric, horizon)
            if math.isfinite(value):
                at = f" at {horizon:g} y" if horizon else ""
                rows.append((f"{label}{at}", f"{value:.3f}", "-"))
    return rows


def _biomarker_section(trained: TrainedRun, analyses: Analyses | None) -> CardSection:
    blocks: list[str | CardTable] = []
    hrs = None if analyses is None else analyses.hazard_ratios
    if hrs is not None:
        rows = tuple(
            (
                str(r.model),
                f"{r.hr:.2f} ({r.lower:.2f}-{r.upper:.2f})",
                f"{r.p:.2g}",
            )
            for r in hrs.itertuples()
            if r.scale == "per SD"
        )
        blocks.append(CardTable(("Cox model", "HR per SD (95% CI)", "p"), rows))
    else:
        blocks.append("Hazard ratios: not computed (the run's report was off).")
    clinical = [
        o
        for o in trained.outcomes
        if o.model_name == trained.selected.model_name and o.feature_set == "clinical"
    ]
    if clinical:
        ours = trained.selected.estimate("harrell_c")
        base = clinical[0].estimate("harrell_c")
        part = "Nested-CV" if trained.selected.nested else "Test"
        blocks.append(
            f"{part} Harrell's C with {trained.cohort.biomarker}: {ours:.3f}; clinical covariates "
            f"only ({clinical[0].model_name}): {base:.3f} (difference {ours - base:+.3f})."
        )
    return CardSection(f"The biomarker's effect ({trained.cohort.biomarker})", tuple(blocks))


def _limitations_section(trained: TrainedRun, spec: PredictorSpec) -> CardSection:
    how = (
        "nested cross-validation of one cohort"
        if trained.selected.nested
        else "one held-out split of one cohort"
    )
    items = [
        f"Internal validation only ({how}); validate externally before any other use.",
        f"No prediction beyond {spec.max_horizon:g} years (the training follow-up) or outside "
        "the accepted values.",
    ]
    if trained.config.data.source == "synthetic":
        items.insert(0, "Trained on SYNTHETIC data: its numbers describe no real patients.")
    return CardSection("Limitations", ("\n".join(f"- {item}" for item in items),))


def _usage_section(name: str, alias: str, spec: PredictorSpec) -> CardSection:
    columns = ", ".join(spec.contract.columns)
    return CardSection(
        "How to load and call it",
        (
            "```python\n"
            "import mlflow, pandas as pd\n"
            f'model = mlflow.pyfunc.load_model("models:/{name}@{alias}")\n'
            f"scores = model.predict(patients)  # DataFrame with {columns}\n"
            "```",
            f"Command line: `msk1model predict --model models:/{name}@{alias} --input "
            "patients.csv --output scores.csv`; REST: `msk1model serve --model "
            f"models:/{name}@{alias}`.",
        ),
    )


def _interval(
    intervals: pd.DataFrame | None, selected: ModelOutcome, metric: str, horizon: float | None
) -> str:
    if intervals is None:
        return "not computed (report off)"
    rows = intervals[
        (intervals["model"] == selected.model_name)
        & (intervals["feature_set"] == selected.feature_set)
        & (intervals["metric"] == metric_label(metric, horizon))
    ]
    if rows.empty or not np.isfinite(rows["lower"].iloc[0]):
        return "-"
    return f"{rows['lower'].iloc[0]:.3f}-{rows['upper'].iloc[0]:.3f}"


def _clip(value: float | None, bound: float | None, pick: Callable[..., float]) -> float | None:
    """``value`` kept within ``bound`` (``pick``: max for a lower bound, min for an upper)."""
    if value is None or bound is None:
        return bound if value is None else value
    return float(pick(value, bound))


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _end(value: float | None) -> str:
    return "open" if value is None else f"{value:g}"
