"""The report's model sections: specification, discrimination and calibration, added value."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from msk1model.config import RunConfig
from msk1model.evaluation import plots
from msk1model.report.analyses import Analyses
from msk1model.report.document import KeyValues, Section, Table, Text, format_p
from msk1model.report.figures import auc_figure, calibration_figures, figure, optimism_figure
from msk1model.results import ModelOutcome

__all__ = [
    "added_value_section",
    "describe_params",
    "model_section",
    "performance_section",
    "small_test_warning",
]


def model_section(outcomes: tuple[ModelOutcome, ...], selected: ModelOutcome) -> Section:
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


def performance_section(config: RunConfig, a: Analyses, selected: ModelOutcome) -> Section:
    items: list[Any] = [*small_test_warning(config, a)]
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
    if a.calibration is not None:
        items.append(
            Table(
                "Calibration on the test set per model and horizon",
                a.calibration,
                note="oe: observed (Kaplan-Meier) over mean predicted risk, 1 is ideal; slope: "
                "calibration slope of the linear predictor, 1 is ideal, below 1 predictions too "
                "extreme; ici, e50, e90: mean, median and 90th percentile of the absolute gap "
                "between the smoothed observed and the predicted risk (Austin et al. 2020)",
            )
        )
    if a.test_set is not None:
        items.extend(calibration_figures(a))
        items.append(auc_figure(a, selected))
    return Section(
        "performance", "Discrimination and calibration", tuple(items), "TRIPOD+AI 12, 16, 23"
    )


def added_value_section(a: Analyses, selected: ModelOutcome) -> Section:
    items: list[Any] = []
    if a.lrt is not None:
        items.append(
            KeyValues(
                "Likelihood-ratio test of nested Cox models (all analysed patients)",
                {
                    "chi-square": f"{a.lrt.statistic:.3f} on {a.lrt.df} df",
                    "p": format_p(a.lrt.p_value),
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


def describe_params(params: dict[str, Any]) -> str:
    """Hyperparameters as ``name=value`` text, floats to 4 significant digits."""
    return ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(params.items())
    )


def small_test_warning(config: RunConfig, a: Analyses) -> list[Text]:
    """A warning when the test part has fewer events than ``report.min_test_events``."""
    if a.parts is None:
        return []
    test = a.parts.set_index("part").loc["test"]
    events, minimum = int(test["events"]), config.report.min_test_events
    if events >= minimum:
        return []
    return [
        Text(
            f"The test part holds {int(test['patients'])} patients and only {events} events, "
            f"fewer than {minimum} (report.min_test_events). Its estimates (concordance, AUC, "
            "Brier score, calibration) are unstable: read them with their confidence intervals, "
            "prefer the optimism-corrected estimates, or use cross-validation of the whole "
            "cohort. Differences between models on so few events are not evidence.",
            warning=True,
        )
    ]
