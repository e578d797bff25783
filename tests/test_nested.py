"""Nested cross-validation (msk1model.nested and evaluation.scheme: nested_cv)."""

from __future__ import annotations

import re

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from msk1model.config import ModelConfig, TuningConfig, load_config
from msk1model.errors import ConfigError
from msk1model.evaluation import harrell_c
from msk1model.evaluation.scorecard import score_test_set
from msk1model.models import make_model
from msk1model.models._registry import MODEL_KINDS
from msk1model.models.coxph import CoxPHModel
from msk1model.nested import outer_folds, run_nested_cv
from msk1model.outcome import make_y
from msk1model.pipeline import run
from msk1model.scores import score_value

from .conftest import DEFAULT_CONFIG

FEATURES = ["age", "size", "grade", "nodes", "pr", "msk1"]
RIDGE = {"penalizer": {"type": "float", "low": 1e-3, "high": 1.0, "log": True}}

#: What the audited model saw, in order: ("fit" | "predict", patient ids).
AUDIT: list[tuple[str, frozenset[str]]] = []


class AuditedCox(CoxPHModel):
    """The real Cox model, writing down the patient ids of every fit and prediction."""

    kind = "coxph_audited"

    def fit(self, X, y):
        AUDIT.append(("fit", frozenset(X["patient_id"])))
        return super().fit(X, y)

    def predict(self, X):
        AUDIT.append(("predict", frozenset(X["patient_id"])))
        return super().predict(X)

    def predict_survival_function(self, X, times):
        AUDIT.append(("predict", frozenset(X["patient_id"])))
        return super().predict_survival_function(X, times)


def _nested_cv(kind: str, table, y, plan, *, n_trials: int, seed: int):
    """Nested CV of a ridge-tuned Cox model with in-memory studies named by outer fold."""
    model = ModelConfig.model_validate({"kind": kind, "search_space": RIDGE})
    tuning = TuningConfig(n_trials=n_trials, storage="memory", pruner="none")
    return run_nested_cv(
        model, table, y, plan, features=FEATURES, tuning=tuning, tau=5.0, seed=seed,
        design=None, horizons=[3.0, 5.0], horizon=None, study_name=lambda f: f.label,
    )  # fmt: skip


@pytest.fixture()
def cohort(synthetic):
    table = synthetic.iloc[:600].reset_index(drop=True)
    return table, make_y(time=table["time"], event=table["event"])


def test_the_plan_keeps_every_outer_test_row_out_of_its_tuning(cohort) -> None:
    table, y = cohort
    ids = table["patient_id"].to_numpy()
    plan = outer_folds(y, outer=4, repeats=2, inner=3, seed=11)
    assert [(f.repeat, f.fold) for f in plan] == [(r, k) for r in range(2) for k in range(4)]
    for repeat in range(2):
        tests = [f.test for f in plan if f.repeat == repeat]
        assert sorted(np.concatenate(tests)) == list(range(len(y)))  # a partition of all rows
    for fold in plan:
        assert set(ids[fold.tuned_rows()]) == set(ids[fold.train])
        assert not set(ids[fold.tuned_rows()]) & set(ids[fold.test])
        rate = y["event"][fold.test].mean()
        assert rate == pytest.approx(y["event"].mean(), abs=0.02)  # event-stratified
    first, second = (set(plan[0].test), set(plan[4].test))
    assert first != second  # each repeat reshuffles


def test_no_tuned_model_is_scored_on_a_row_its_tuning_saw(cohort, monkeypatch) -> None:
    """The audit, on patient ids: each outer fold's study and refit see only its training
    part, and only its refit scores its test part."""
    table, y = cohort
    ids = table["patient_id"].to_numpy()
    monkeypatch.setitem(MODEL_KINDS, AuditedCox.kind, AuditedCox)
    AUDIT.clear()
    plan = outer_folds(y, outer=3, repeats=1, inner=3, seed=5)
    result = _nested_cv("coxph_audited", table, y, plan, n_trials=3, seed=5)

    log, pos = list(AUDIT), 0
    for fold in plan:  # the log in fold order: tuning, the refit, then its scoring
        train, test = frozenset(ids[fold.train]), frozenset(ids[fold.test])
        refit = next(i for i in range(pos, len(log)) if log[i] == ("fit", train))
        tuning = log[pos:refit]
        assert len(tuning) >= 3 * 3 * 2  # 3 trials x 3 inner folds: a fit and predictions each
        assert all(seen <= train for _, seen in tuning)  # the study saw training rows only
        first = next(i for i in range(refit, len(log)) if log[i][1] == test)
        assert all(seen <= train for _, seen in log[refit:first])
        last = first
        while last < len(log) and log[last][1] == test:
            last += 1
        assert last - first >= 2 and {what for what, _ in log[first:last]} == {"predict"}
        pos = last
    assert pos == len(log)  # nothing else was fitted or scored
    assert result.studies == ("outer-1-1", "outer-1-2", "outer-1-3")


def test_the_outer_scores_are_the_refits_and_the_summary_their_mean_and_sd(cohort) -> None:
    table, y = cohort
    plan = outer_folds(y, outer=3, repeats=1, inner=3, seed=2)
    result = _nested_cv("coxph", table, y, plan, n_trials=2, seed=2)
    by_hand = []
    for fold, params in zip(plan, result.best_params, strict=True):
        refit = make_model("coxph", params, features=FEATURES, random_state=2)
        refit.fit(table.iloc[fold.train], y[fold.train])
        risk = refit.predict(table.iloc[fold.test])
        by_hand.append(harrell_c(y[fold.test], risk))
        expected = score_test_set(refit, table.iloc[fold.test], y[fold.test],
                                  y_train=y[fold.train], horizons=[3.0, 5.0], tau=5.0)  # fmt: skip
        got = result.per_fold[result.per_fold["fold"] == fold.fold]
        pd.testing.assert_frame_equal(
            got.drop(columns=["repeat", "fold"]).reset_index(drop=True), expected
        )
    summary = result.table()

    def nested(metric, statistic, horizon=None):
        return score_value(summary, stage="nested_cv", metric=metric, horizon=horizon,
                           statistic=statistic)  # fmt: skip

    assert nested("harrell_c", "mean") == pytest.approx(np.mean(by_hand), abs=1e-12)
    assert nested("harrell_c", "sd") == pytest.approx(np.std(by_hand, ddof=1), abs=1e-12)
    per_fold = result.per_fold
    auc5 = per_fold[(per_fold["metric"] == "auc") & (per_fold["horizon"] == 5.0)]["value"]
    assert len(auc5) == 3 and nested("auc", "mean", 5.0) == pytest.approx(auc5.mean(), abs=1e-12)
    assert nested("n_folds", "value") == 3.0
    folds = result.fold_table()
    assert folds["harrell_c"].tolist() == pytest.approx(by_hand, abs=1e-12)
    assert folds["test_patients"].sum() == len(y) and "patient_id" not in folds.columns


def test_nested_cv_is_checked_in_the_config_with_the_fix() -> None:
    with pytest.raises(ConfigError, match=r"report.enabled is true, but evaluation.scheme "
                       r"nested_cv keeps no held-out test part.*Fix: set report.enabled: false"):  # fmt: skip
        load_config(DEFAULT_CONFIG, ["evaluation.scheme=nested_cv"])
    with pytest.raises(ConfigError, match=r"got 'test/harrell_c' \(did you mean "
                       r"'nested_cv/harrell_c_mean'\?\).*nested_cv/<name>_mean"):  # fmt: skip
        load_config(DEFAULT_CONFIG, ["evaluation.scheme=nested_cv", "report.enabled=false"])
    with pytest.raises(ConfigError, match="outer_folds"):
        load_config(DEFAULT_CONFIG, ["evaluation.outer_folds=1"])


def test_a_nested_run_logs_the_outer_estimates_and_exports_the_model_tuned_on_everyone(
    tiny_config,
) -> None:
    config = tiny_config.model_copy(
        update={
            "evaluation": tiny_config.evaluation.model_copy(
                update={"scheme": "nested_cv", "outer_folds": 3}
            ),
            "report": tiny_config.report.model_copy(update={"enabled": False}),
            "export": tiny_config.export.model_copy(
                update={"champion_metric": "nested_cv/harrell_c_mean"}
            ),
        }
    )
    result = run(config)
    client = MlflowClient()
    assert len(result.split.train) == len(result.cohort.y) and len(result.split.test) == 0
    for outcome in result.outcomes:
        run_data = client.get_run(outcome.run_id).data
        local = mlflow.artifacts.download_artifacts(
            run_id=outcome.run_id, artifact_path="nested_cv/outer_folds.csv"
        )
        folds = pd.read_csv(local)
        assert len(folds) == 3 and folds["test_patients"].sum() == len(result.cohort.y)
        for column, name in (("harrell_c", "harrell_c"), ("auc_5y", "auc_5y"), ("ibs", "ibs")):
            assert run_data.metrics[f"nested_cv/{name}_mean"] == pytest.approx(
                folds[column].mean(), abs=1e-9
            )
            assert run_data.metrics[f"nested_cv/{name}_sd"] == pytest.approx(
                folds[column].std(ddof=1), abs=1e-9
            )
        assert not any(k.startswith("test/") for k in run_data.metrics)
        label = re.escape(f".{outcome.model_name}.{outcome.feature_set}.outer-1-")
        assert folds["study"].str.contains(label + r"\d\.").all()
    selected = result.selected
    parent = client.get_run(result.run_id).data
    assert parent.metrics["selected/nested_cv/harrell_c_mean"] == pytest.approx(
        selected.estimate("harrell_c"), abs=1e-12
    )
    assert "nested cross-validation (3 outer folds x 1" in parent.tags["mlflow.note.content"]
    version = client.get_model_version(result.registration.name, result.registration.version)
    assert "Performance (nested cross-validation)" in version.description
    assert "all patients" in version.description
    # the exported model is the refit on every patient
    loaded = mlflow.pyfunc.load_model(result.model_uri)
    table = result.cohort.table
    out = loaded.predict(table[selected.model.features_].iloc[:5])
    np.testing.assert_allclose(
        out["risk_score"].to_numpy(), selected.model.predict(table.iloc[:5]), rtol=1e-12
    )
