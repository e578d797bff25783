"""The report's headline numbers as score rows of the run, comparable across runs in MLflow."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from msk1model.report.analyses import Analyses
from msk1model.report.competing_section import CompetingAnalyses
from msk1model.results import ModelOutcome
from msk1model.scores import score_frame

__all__ = ["report_scores"]


def report_scores(a: Analyses, selected: ModelOutcome) -> pd.DataFrame:
    """The report's headline numbers as score rows of the run (comparable in the MLflow UI).

    Stage ``biomarker``: the hazard ratio per SD (``hr_per_sd_<model>``: value, ``lower``,
    ``upper``, ``p``), the pre-specified groups' hazard ratio (``hr_high_vs_low_unadjusted``,
    ``hr_high_vs_low_adjusted``: the same statistics), the likelihood-ratio test (``lrt``:
    ``chi2``, ``p``), the pre-specified cut's log-rank ``p`` (``cutpoint_logrank``), the optimal
    cutpoint and its p-values, the interaction's ``p_lr``, with competing events Gray's test and
    the cause-specific and subdistribution hazard ratios; ``optimism_corrected`` values of the
    selected model; the paired bootstrap ``delta_test`` intervals (``lower``, ``upper``,
    ``p``). Only finite values.
    """
    rows: list[dict[str, Any]] = []

    def add(stage: str, metric: str, statistic: str, value: float, **where: Any) -> None:
        rows.append(
            {"stage": stage, "metric": metric, "statistic": statistic, "value": value, **where}
        )

    if a.hazard_ratios is not None:
        for row in a.hazard_ratios.itertuples():
            if row.scale == "per SD":
                metric = f"hr_per_sd_{row.model}"
                add("biomarker", metric, "value", row.hr)
                for statistic in ("lower", "upper", "p"):
                    add("biomarker", metric, statistic, getattr(row, statistic))
    if a.group_hr is not None:
        for row in a.group_hr.itertuples():
            metric = f"hr_{str(row.comparison).replace(' ', '_')}_{row.model}"
            add("biomarker", metric, "value", row.hr)
            for statistic in ("lower", "upper", "p"):
                add("biomarker", metric, statistic, getattr(row, statistic))
    if a.lrt is not None:
        add("biomarker", "lrt", "chi2", a.lrt.statistic)
        add("biomarker", "lrt", "p", a.lrt.p_value)
    if a.cut_logrank_p is not None:
        add("biomarker", "cutpoint_logrank", "p", a.cut_logrank_p)
    if a.optimal is not None:
        add("biomarker", "optimal_cutpoint", "value", a.optimal.cutpoint)
        add("biomarker", "optimal_cutpoint", "p_uncorrected", a.optimal.p_uncorrected)
        add("biomarker", "optimal_cutpoint", "p_lausen_schumacher", a.optimal.p_lausen_schumacher)
        add("biomarker", "optimal_cutpoint", "p_permutation", a.optimal.p_permutation)
    if a.interaction is not None:
        add("biomarker", "interaction", "p_lr", a.interaction.p_lr)
    if a.competing is not None:
        _competing_rows(a.competing, add)
    if a.optimism is not None:
        for row in a.optimism.itertuples():
            add("optimism_corrected", row.metric, "value", row.corrected, model=selected.model_name)
    if a.deltas is not None:
        for row in a.deltas.itertuples():
            where = {"model": row.model, "horizon": row.horizon}
            add("delta_test", row.measure, "lower", row.lower, **where)
            add("delta_test", row.measure, "upper", row.upper, **where)
            add("delta_test", row.measure, "p", row.p_value, **where)
    frame = score_frame(rows)
    return frame[np.isfinite(frame["value"])].reset_index(drop=True)


def _competing_rows(c: CompetingAnalyses, add: Callable[..., None]) -> None:
    """Gray's test (``gray``: ``chi2``, ``p``) and the biomarker's adjusted hazard ratios per SD
    for the cause, cause-specific (``cs_hr_per_sd_adjusted``) and subdistribution
    (``fg_shr_per_sd_adjusted``), with ``lower``, ``upper``, ``p``."""
    if c.gray is not None:
        add("biomarker", "gray", "chi2", c.gray.statistic)
        add("biomarker", "gray", "p", c.gray.p_value)
    names = {"cause-specific Cox": "cs_hr_per_sd_adjusted",
             "Fine-Gray (subdistribution)": "fg_shr_per_sd_adjusted"}  # fmt: skip
    hrs = c.hazard_ratios
    chosen = hrs[(hrs["adjusted"] == "yes") & hrs["comparison"].str.startswith("per SD")]
    for row in chosen.itertuples():
        add("biomarker", names[str(row.model)], "value", row.hr)
        for statistic in ("lower", "upper", "p"):
            add("biomarker", names[str(row.model)], statistic, getattr(row, statistic))
