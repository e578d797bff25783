"""The score table (msk1model.scores) and its one flattening into MLflow names (tracking)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from msk1model.config import load_config
from msk1model.errors import ConfigError
from msk1model.scores import (
    SCORE_COLUMNS,
    delta_scores,
    headline_scores,
    metric_label,
    score_frame,
    score_value,
)
from msk1model.tracking import champion_metrics, mlflow_metrics

from .conftest import DEFAULT_CONFIG


def _scores() -> pd.DataFrame:
    rows = []
    for fs, shift in (("clinical", 0.0), ("clinical+msk1", 0.05)):
        own = [
            {"stage": "cv", "metric": metric, "statistic": stat, "value": value + shift}
            for stat, value in (("mean", 0.65), ("sd", 0.02))
            for metric in ("harrell_c", "uno_c")
        ]
        own += [
            {"stage": "test", "metric": "harrell_c", "value": 0.70 + shift},
            {"stage": "test", "metric": "auc", "horizon": 5.0, "value": 0.72 + shift},
            {"stage": "test", "metric": "calibration_slope", "horizon": 5.0, "value": 1.1},
            {"stage": "test", "metric": "d_calibration", "statistic": "p", "value": 0.4},
            {"stage": "tuning", "metric": "n_trials", "value": 15.0},
        ]
        rows += [{**r, "model": "coxnet", "feature_set": fs} for r in own]
    return score_frame(rows)


def test_score_frame_fills_defaults_in_column_order() -> None:
    frame = score_frame([{"stage": "test", "metric": "ibs", "value": 0.1}])
    assert tuple(frame.columns) == SCORE_COLUMNS
    row = frame.iloc[0]
    assert row["model"] is None and math.isnan(row["horizon"]) and row["statistic"] == "value"


def test_score_value_finds_exactly_one_row() -> None:
    scores = _scores()
    assert (
        score_value(scores[scores.feature_set == "clinical"], stage="test", metric="auc", horizon=5)
        == 0.72
    )
    with pytest.raises(KeyError, match=r"stage='test', metric='auc', horizon=5.0.*found 2"):
        score_value(scores, stage="test", metric="auc", horizon=5.0)


def test_deltas_are_biomarker_minus_clinical_per_model() -> None:
    deltas = delta_scores(_scores())
    auc = deltas[(deltas.stage == "delta_test") & (deltas.metric == "auc")]
    assert auc["value"].tolist() == pytest.approx([0.05], abs=1e-15)
    assert set(deltas["stage"]) == {"delta_cv", "delta_test"}
    assert deltas["feature_set"].isna().all()


def test_model_run_names_are_the_logged_metric_names() -> None:
    own = _scores()
    own = own[own.feature_set == "clinical+msk1"]
    names = mlflow_metrics(own, run="model")
    assert names == pytest.approx(
        {
            "cv/harrell_c_mean": 0.70,
            "cv/uno_c_mean": 0.70,
            "cv/harrell_c_sd": 0.07,
            "cv/uno_c_sd": 0.07,
            "test/harrell_c": 0.75,
            "test/auc_5y": 0.77,
            "calibration/slope_5y": 1.1,
            "calibration/d_calibration_p": 0.4,
            "tuning/n_trials": 15.0,
        }
    )


def test_train_run_names_keep_the_selected_model_and_the_added_value() -> None:
    from msk1model.tracking import parent_scores

    names = mlflow_metrics(
        parent_scores(headline_scores(_scores()), "coxnet", "clinical+msk1"), run="train"
    )
    assert names["selected/test/auc_5y"] == pytest.approx(0.77)
    assert names["selected/cv/harrell_c_mean"] == pytest.approx(0.70)
    assert names["added_value/coxnet.test_auc_5y"] == pytest.approx(0.05)
    assert names["added_value/coxnet.cv_harrell_c_mean"] == pytest.approx(0.05)
    # other models' scores stay on their own runs; calibration and the tuning counts too;
    # the delta of the CV Uno's C is not shown
    assert not [n for n in names if "clinical" in n or "calibration" in n or "n_trials" in n]
    assert "added_value/coxnet.cv_uno_c_mean" not in names
    assert {n.split("/")[0] for n in names} == {"selected", "added_value"}


def test_report_rows_get_their_parent_names() -> None:
    rows = score_frame(
        [
            {
                "stage": "biomarker",
                "metric": "hr_per_sd_multivariable",
                "statistic": "lower",
                "value": 0.6,
            },
            {"stage": "biomarker", "metric": "lrt", "statistic": "chi2", "value": 98.0},
            {"stage": "biomarker", "metric": "optimal_cutpoint", "value": 7.9},
            {
                "stage": "optimism_corrected",
                "model": "xgb_cox",
                "metric": "harrell_c",
                "value": 0.69,
            },
            {
                "stage": "delta_test",
                "model": "coxnet",
                "metric": "auc",
                "horizon": 5.0,
                "statistic": "p",
                "value": 0.02,
            },
        ]
    )
    assert list(mlflow_metrics(rows, run="train")) == [
        "biomarker/hr_per_sd_multivariable_lower",
        "biomarker/lrt_chi2",
        "biomarker/optimal_cutpoint",
        "optimism/xgb_cox.harrell_c",
        "added_value/coxnet.test_auc_5y_p",
    ]


def test_metric_label_names_the_horizon() -> None:
    assert metric_label("auc", 5.0) == "auc_5y" and metric_label("harrell_c") == "harrell_c"
    assert metric_label("brier", 2.5) == "brier_2.5y" and metric_label("uno_c", math.nan) == "uno_c"


def test_champion_metrics_know_their_direction() -> None:
    allowed = champion_metrics([3.0, 5.0])
    assert allowed["test/harrell_c"] == allowed["cv/uno_c_mean"] == "maximize"
    assert allowed["test/brier_5y"] == allowed["test/ibs"] == allowed["calibration/ici_5y"]
    assert allowed["test/ibs"] == "minimize"
    assert "calibration/slope_5y" not in allowed  # aims at 1: no direction
    assert "test/auc_10y" not in allowed


def test_config_checks_the_champion_metric_name() -> None:
    config = load_config(DEFAULT_CONFIG, ["export.champion_metric=test/auc_5y"])
    assert config.export.champion_metric == "test/auc_5y"
    # the flat names of earlier configs are read as the grouped ones
    for old, new in (("test_auc_5y", "test/auc_5y"), ("test_ici_5y", "calibration/ici_5y")):
        config = load_config(DEFAULT_CONFIG, [f"export.champion_metric={old}"])
        assert config.export.champion_metric == new
    with pytest.raises(
        ConfigError,
        match=r"champion_metric .* but got 'test/harell_c' \(did you mean 'test/harrell_c'\?\)",
    ):
        load_config(DEFAULT_CONFIG, ["export.champion_metric=test/harell_c"])
    with pytest.raises(ConfigError, match=r"'test/auc_10y'.*allowed with horizons \[3.0, 5.0\]"):
        load_config(DEFAULT_CONFIG, ["export.champion_metric=test/auc_10y"])


def test_flat_metric_names_of_earlier_versions() -> None:
    from msk1model.export import flat_metric_name
    from msk1model.tracking import champion_metric_name

    for new, old in (
        ("test/harrell_c", "test_harrell_c"),
        ("cv/uno_c_mean", "cv_uno_c_mean"),
        ("calibration/ici_5y", "test_ici_5y"),
        ("calibration/slope_5y", "test_calibration_slope_5y"),
        ("calibration/d_calibration_p", "test_d_calibration_p"),
    ):
        assert flat_metric_name(new) == old
    for name in champion_metrics([3.0, 5.0]):  # the config's translation is its inverse
        assert champion_metric_name(flat_metric_name(name), [3.0, 5.0]) == name
