"""A tiny run with a competing-events endpoint, end to end: the model pairs, their metrics, the
report's competing-risks section, the card and the registered predictor that returns
``cif_<h>y``."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from mlflow.tracking import MlflowClient

from msk1model.config import load_config
from msk1model.evaluation.competing_metrics import cif_auc, cif_brier, wolbers_c
from msk1model.models import CompetingRisksModel
from msk1model.pipeline import run
from msk1model.results import RunResult

from .conftest import DEFAULT_CONFIG, TINY, own_uris

BONE = (
    "data.columns.time=relapse_free_time",
    "data.endpoint={type: competing, event_column: event_type, cause: 2, competing: [1, 3], "
    "name: bone relapse}",
    "data.synthetic.n_patients=700",
    "models.xgb_cox=null",  # one family is enough to follow the pair through every stage
)


@pytest.fixture(scope="module")
def bone(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    workdir = tmp_path_factory.mktemp("competing_run")
    store = workdir / "mlflow.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(workdir)
        own_uris(mp)
        config = load_config(DEFAULT_CONFIG, [*TINY, *BONE, f"tracking.uri=sqlite:///{store}"])
        result = run(config)
        mlflow.set_tracking_uri(f"sqlite:///{store}")
        mlflow.set_registry_uri(f"sqlite:///{store}")
        yield result


def test_every_model_is_a_pair_scored_on_the_predicted_incidence(bone: RunResult) -> None:
    cohort, split = bone.cohort, bone.trained.split
    test = split.test
    for o in bone.trained.outcomes:
        assert isinstance(o.competing, CompetingRisksModel) and o.competing.cause is o.model
        cif = o.competing.predict_cif(cohort.table.iloc[test], [5.0])[:, 0]
        time, codes = cohort.time[test], cohort.event_type[test]
        censoring = (cohort.time[split.train], cohort.event_type[split.train])
        expected = {
            "cif_auc": cif_auc(time, codes, cif, 5.0, censoring=censoring),
            "cif_brier": cif_brier(time, codes, cif, 5.0, censoring=censoring),
        }
        for metric, value in expected.items():
            assert o.score("competing", metric, 5.0) == pytest.approx(value, rel=1e-12)
        assert o.score("competing", "wolbers_c") == pytest.approx(
            wolbers_c(time, codes, cif, bone.trained.config.evaluation.tau, censoring=censoring),
            rel=1e-12,
        )
    client = MlflowClient()
    metrics = client.get_run(bone.trained.selected.run_id).data.metrics
    assert metrics["competing/cif_auc_5y"] == bone.trained.selected.score(
        "competing", "cif_auc", 5.0
    )
    parent = client.get_run(bone.run_id).data.metrics
    assert "selected/competing/wolbers_c" in parent
    assert 0.0 <= parent["biomarker/gray_p"] <= 1.0 and parent["biomarker/gray_chi2"] > 0
    assert parent["biomarker/cs_hr_per_sd_adjusted"] < 1  # higher MSK1, less bone relapse
    assert any(name.startswith("added_value/coxnet.competing_cif_auc") for name in parent)


def test_the_registered_predictor_returns_the_cumulative_incidence(bone: RunResult) -> None:
    model = mlflow.pyfunc.load_model("models:/msk1-prognostic@champion")
    rows = bone.cohort.table.head(8).reset_index(drop=True)
    out = model.predict(rows)
    assert list(out.columns) == [
        "risk_score", "risk_group", "cif_3y", "cif_5y", "event_free_3y", "event_free_5y"
    ]  # fmt: skip
    pair = bone.trained.selected.competing
    assert pair is not None
    np.testing.assert_allclose(out[["cif_3y", "cif_5y"]], pair.predict_cif(rows, [3.0, 5.0]))
    assert (out["cif_5y"] >= out["cif_3y"]).all()
    assert (out["cif_5y"] <= 1.0 - out["event_free_5y"] + 1e-12).all()  # one cause of several
    curve = model.predict(rows.head(2), params={"output": "curve", "curve_step": 2.5})
    assert list(curve.columns) == ["row", "time", "cif", "event_free"]
    local = Path(mlflow.artifacts.download_artifacts(bone.model_uri))
    text = (local / "model_card.md").read_text()
    assert "cif_<h>y" in text and "event_free_<h>y" in text and "Wolbers' concordance" in text


def test_the_report_shows_the_incidence_and_both_hazard_ratios(bone: RunResult) -> None:
    assert bone.report_path is not None
    document = json.loads((bone.report_path.parent / "document.json").read_text())
    (section,) = [s for s in document["sections"] if s["id"] == "competing"]
    names = {item.get("name") for item in section["items"]}
    assert {"cif_stacked", "cif_groups"} <= names
    texts = [item["text"] for item in section["items"] if item["type"] == "text"]
    assert any(t.startswith("Gray's test of equal cumulative incidence") for t in texts)
    tables = {
        item["caption"]: item["frame"] for item in section["items"] if item["type"] == "table"
    }
    (hr,) = [frame for caption, frame in tables.items() if caption.startswith("Hazard ratios")]
    columns = {c["name"]: c["values"] for c in hr["columns"]}
    frame = pd.DataFrame(columns)
    row = frame[
        (frame["model"] == "cause-specific Cox")
        & (frame["adjusted"] == "no")
        & frame["comparison"].str.startswith("per SD")
    ].iloc[0]
    cohort = bone.cohort
    msk1 = cohort.table["msk1"].to_numpy(float)
    data = pd.DataFrame(
        {"x": msk1 / msk1.std(ddof=1), "T": cohort.time, "E": (cohort.event_type == 1).astype(int)}
    )
    peer = CoxPHFitter().fit(data, "T", "E", fit_options={"precision": 1e-12})
    assert row["hr"] == pytest.approx(float(np.exp(peer.params_["x"])), rel=1e-6)
    assert row["hr"] < 1  # higher MSK1, less bone relapse


@pytest.mark.slow
def test_the_bone_relapse_experiment_trains_as_a_user_runs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``msk1model train experiments/bone_relapse.yaml`` in a fresh folder: the competing-risks
    report and a registered predictor that returns ``cif_5y``."""
    from msk1model.cli import main

    monkeypatch.chdir(tmp_path)
    own_uris(monkeypatch)
    root = Path(__file__).resolve().parents[1]
    assert main(["train", str(root / "experiments" / "bone_relapse.yaml")]) == 0
    (report,) = tmp_path.glob("reports/*/report.html")
    assert "Competing risks: cumulative incidence of bone relapse" in report.read_text()
    mlflow.set_tracking_uri("sqlite:///mlflow.db")
    mlflow.set_registry_uri("sqlite:///mlflow.db")
    model = mlflow.pyfunc.load_model("models:/msk1-prognostic-bone-relapse@champion")
    from msk1model.data.synthetic import make_synthetic_cohort

    out = model.predict(make_synthetic_cohort(20, seed=5))
    assert {"cif_5y", "event_free_5y"} <= set(out.columns)
    assert out["cif_5y"].between(0.0, 1.0).all() and out["cif_5y"].nunique() > 1
