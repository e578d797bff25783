"""Metrics as data: the tidy score table every layer passes on, and the catalogue of metrics.

A score is one row: which ``model`` and ``feature_set`` (or none, for run-level analyses), the
``stage`` it comes from, the ``metric``, its ``horizon`` in years (NaN when it has none), the
``statistic`` (``value``, or ``mean``/``sd`` over CV folds, ``lower``/``upper``/``p`` of an
interval, ...) and the ``value``. The evaluation layer produces such rows, the report reads them,
and :func:`msk1model.tracking.mlflow_metrics` is the one place where a row becomes an MLflow
metric name (``test/auc_5y``, ``calibration/ici_5y``, ``added_value/coxnet.test_harrell_c``).

Stages: ``cv`` (validation folds of the training part), ``test`` (the held-out part),
``nested_cv`` (nested cross-validation: mean and SD over the outer folds of every test metric),
``tuning`` (the Optuna study: ``n_trials``, ``n_failed_trials``), ``delta_cv``/``delta_test``
(clinical+biomarker minus clinical, per model family), ``optimism_corrected`` (Harrell's bootstrap
of the selected model), ``biomarker`` (the report's REMARK analyses) and, with competing events,
``competing`` (the predicted cumulative incidence on the test part,
:mod:`msk1model.evaluation.competing_scorecard`) and its ``delta_competing``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

__all__ = [
    "BASELINE_FEATURE_SET",
    "BIOMARKER_FEATURE_SET",
    "CV_METRICS",
    "DIRECTIONS",
    "NESTED_STAGE",
    "SCORE_COLUMNS",
    "TEST_METRICS",
    "TEST_METRICS_PER_HORIZON",
    "TUNING_METRICS",
    "CVMetric",
    "Stage",
    "TuningMetric",
    "delta_scores",
    "headline_scores",
    "horizon_label",
    "metric_label",
    "score_frame",
    "score_value",
]

Stage = Literal[
    "cv",
    "test",
    "nested_cv",
    "tuning",
    "delta_cv",
    "delta_test",
    "delta_nested_cv",
    "optimism_corrected",
    "biomarker",
    "competing",
    "delta_competing",
]

SCORE_COLUMNS = ("model", "feature_set", "stage", "metric", "horizon", "statistic", "value")

#: Feature sets compared for the added value of the biomarker (``delta_*`` stages).
BASELINE_FEATURE_SET = "clinical"
BIOMARKER_FEATURE_SET = "clinical+msk1"

#: Metrics of every CV fold (each with statistics ``mean`` and ``sd``).
CVMetric = Literal["harrell_c", "uno_c"]
CV_METRICS: tuple[str, ...] = get_args(CVMetric)
#: The tuning objectives: the CV metrics, the integrated Brier score (minimised) and the
#: time-dependent AUC at the tuning horizon; the last two are computed on the folds only when
#: they are the objective.
TuningMetric = Literal["harrell_c", "uno_c", "ibs", "auc"]
TUNING_METRICS: tuple[str, ...] = get_args(TuningMetric)
#: Test-set metrics without a horizon (``d_calibration`` has statistics ``stat`` and ``p``).
TEST_METRICS = ("harrell_c", "uno_c", "ibs", "d_calibration")
#: Test-set metrics at each evaluation horizon.
TEST_METRICS_PER_HORIZON = (
    "auc",
    "brier",
    "ipa",
    "calibration_oe",
    "calibration_slope",
    "ici",
    "e50",
    "e90",
)
#: Which way is better, for the metrics that have one (calibration O/E and slope aim at 1).
DIRECTIONS: dict[str, Literal["maximize", "minimize"]] = {
    "harrell_c": "maximize",
    "uno_c": "maximize",
    "auc": "maximize",
    "ipa": "maximize",
    "brier": "minimize",
    "ibs": "minimize",
    "ici": "minimize",
    "e50": "minimize",
    "e90": "minimize",
    "cif_auc": "maximize",
    "cif_brier": "minimize",
    "cif_ipa": "maximize",
    "cif_ici": "minimize",
    "wolbers_c": "maximize",
}


def horizon_label(horizon: float) -> str:
    """``5.0`` -> ``'5y'``: how a horizon (years) is written in metric names and labels."""
    return f"{horizon:g}y"


def metric_label(metric: str, horizon: float | None = None) -> str:
    """A metric as shown in report tables: ``harrell_c``, or ``auc_5y`` at a horizon."""
    if horizon is None or (isinstance(horizon, float) and math.isnan(horizon)):
        return metric
    return f"{metric}_{horizon_label(horizon)}"


def score_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows as a score table: the :data:`SCORE_COLUMNS` in order, missing ones filled.

    ``model`` and ``feature_set`` default to None, ``horizon`` to NaN (no horizon),
    ``statistic`` to ``"value"``; ``stage``, ``metric`` and ``value`` are required.
    """
    defaults = {"model": None, "feature_set": None, "horizon": math.nan, "statistic": "value"}
    records = [{**defaults, **row} for row in rows]
    frame = pd.DataFrame.from_records(records, columns=list(SCORE_COLUMNS))
    return frame.astype({"horizon": float, "value": float})


def score_value(
    scores: pd.DataFrame,
    *,
    stage: str,
    metric: str,
    horizon: float | None = None,
    statistic: str = "value",
) -> float:
    """The one value of ``scores`` at (stage, metric, horizon, statistic).

    Raises
    ------
    KeyError
        If no row or more than one row matches, naming what was asked for.
    """
    rows = (
        (scores["stage"] == stage)
        & (scores["metric"] == metric)
        & (scores["statistic"] == statistic)
    )
    rows &= scores["horizon"].isna() if horizon is None else np.isclose(scores["horizon"], horizon)
    found = scores.loc[rows, "value"]
    if len(found) != 1:
        raise KeyError(
            f"expected one score with stage={stage!r}, metric={metric!r}, horizon={horizon!r}, "
            f"statistic={statistic!r}, but found {len(found)}"
        )
    return float(found.iloc[0])


def delta_scores(
    scores: pd.DataFrame,
    *,
    baseline: str = BASELINE_FEATURE_SET,
    compared: str = BIOMARKER_FEATURE_SET,
) -> pd.DataFrame:
    """Per model, ``compared`` minus ``baseline`` for every cv/test/nested_cv/competing score
    both have.

    The rows keep model, metric, horizon and statistic; their stage is ``delta_<stage>`` and
    their feature set None.
    """
    keys = ["model", "stage", "metric", "horizon", "statistic"]
    own = scores[scores["stage"].isin(["cv", "test", NESTED_STAGE, "competing"])]
    new = own[own["feature_set"] == compared]
    base = own[own["feature_set"] == baseline]
    merged = new.merge(base, on=keys, suffixes=("", "_base"), sort=False)
    return score_frame(
        {
            "model": r.model,
            "stage": f"delta_{r.stage}",
            "metric": r.metric,
            "horizon": r.horizon,
            "statistic": r.statistic,
            "value": r.value - r.value_base,
        }
        for r in merged.itertuples()
    )


#: The stage of nested cross-validation's estimates (outer folds' mean and SD).
NESTED_STAGE = "nested_cv"

#: The cv/test scores a run's parent shows per model and feature set (and their deltas, except
#: the CV Uno's C): (stage, metric, statistic), every horizon of the per-horizon ones.
_HEADLINE = {
    ("cv", "harrell_c", "mean"),
    ("cv", "uno_c", "mean"),
    ("test", "harrell_c", "value"),
    ("test", "uno_c", "value"),
    ("test", "ibs", "value"),
    ("test", "auc", "value"),
    ("test", "brier", "value"),
    ("test", "ipa", "value"),
    *(
        (NESTED_STAGE, metric, "mean")
        for metric in ("harrell_c", "uno_c", "ibs", "auc", "brier", "ipa")
    ),
    *(
        ("competing", metric, "value")
        for metric in ("cif_auc", "cif_brier", "cif_ipa", "wolbers_c")
    ),
}


def headline_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """The headline cv/test scores of every model and their biomarker deltas (for the run)."""
    key = list(zip(scores["stage"], scores["metric"], scores["statistic"], strict=True))
    headline = scores[[k in _HEADLINE for k in key]]
    deltas = delta_scores(headline)
    deltas = deltas[~((deltas["stage"] == "delta_cv") & (deltas["metric"] == "uno_c"))]
    return pd.concat([headline, deltas], ignore_index=True)
