"""Tiny end-to-end runs into a temporary MLflow store, the registry and a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient
from PIL import Image

from msk1model.config import RunConfig, config_hash, load_config
from msk1model.errors import DataError, ModelError
from msk1model.export import register_predictor
from msk1model.outcome import make_y
from msk1model.pipeline import run
from msk1model.predictor import predict_frame
from msk1model.report.study_figures import STUDY_FIGURES
from msk1model.results import RunResult

from .conftest import DEFAULT_CONFIG, TINY
from .test_report import needs_chromium

#: Runs of tests that are not about the report skip it (it is most of a tiny run's time).
NO_REPORT = "report.enabled=false"


@pytest.fixture()
def result(tiny_result: RunResult) -> RunResult:
    """The session's tiny run (read-only): MLflow points at its store."""
    return tiny_result


def test_run_logs_parent_children_and_trials(result: RunResult, tiny_run) -> None:
    tiny_config = tiny_run.config
    client = MlflowClient()
    parent = client.get_run(result.run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["msk1model.data_fingerprint"] == result.cohort.fingerprint
    assert parent.data.tags["msk1model.config_hash"] == config_hash(tiny_config)
    assert parent.data.tags["version.xgboost"] == __import__("xgboost").__version__
    assert parent.data.params["data.n_patients"] == str(len(result.cohort.table))
    children = client.search_runs(
        [result.experiment_id], f"tags.`mlflow.parentRunId` = '{result.run_id}'"
    )
    assert sorted(r.info.run_name for r in children) == [
        "coxnet | clinical",
        "coxnet | clinical+msk1",
        "xgb_cox | clinical",
        "xgb_cox | clinical+msk1",
    ]
    for child in children:
        outcome = next(o for o in result.outcomes if o.run_id == child.info.run_id)
        assert child.data.metrics["test/harrell_c"] == outcome.score("test", "harrell_c")
        assert set(child.data.metrics) >= {
            "cv/harrell_c_mean",
            "cv/harrell_c_sd",
            "cv/uno_c_mean",
            "cv/uno_c_sd",
            "test/uno_c",
        }
        trials = client.search_runs(
            [result.experiment_id], f"tags.`mlflow.parentRunId` = '{child.info.run_id}'"
        )
        assert len(trials) == 2 and all(t.data.tags["msk1model.role"] == "trial" for t in trials)
        # each trial run is timed by Optuna: its duration is the trial's, and trials run in turn
        table = pd.read_csv(
            mlflow.artifacts.download_artifacts(
                run_id=child.info.run_id, artifact_path="tuning/trials.csv"
            )
        )
        optuna_ms = (pd.to_timedelta(table["duration"]).dt.total_seconds() * 1000).tolist()
        spans = sorted((t.info.start_time, t.info.end_time) for t in trials)
        for (start, end), expected in zip(spans, optuna_ms, strict=True):
            assert abs((end - start) - expected) <= 2, (start, end, expected)
        assert spans[1][0] >= spans[0][1] - 1
        assert all(t.info.status == "FINISHED" for t in trials)
        assert child.data.params["features"].endswith("msk1") == (
            child.data.tags["msk1model.feature_set"] == "clinical+msk1"
        )
    resolved = yaml.safe_load(
        Path(
            mlflow.artifacts.download_artifacts(
                run_id=result.run_id, artifact_path="config/resolved_config.yaml"
            )
        ).read_text()
    )
    assert resolved == tiny_config.model_dump(mode="json")
    delta = parent.data.metrics["added_value/coxnet.test_harrell_c"]
    by = {(o.model_name, o.feature_set): o.score("test", "harrell_c") for o in result.outcomes}
    assert delta == pytest.approx(by["coxnet", "clinical+msk1"] - by["coxnet", "clinical"])


def test_test_set_metrics_match_scikit_survival(result: RunResult) -> None:
    """The logged time-dependent AUC and Brier score at 5 years, recomputed with sksurv directly."""
    from sksurv.metrics import brier_score, cumulative_dynamic_auc

    cohort, split = result.cohort, result.split
    y_train = make_y(time=cohort.time[split.train], event=cohort.event[split.train])
    y_test = make_y(time=cohort.time[split.test], event=cohort.event[split.test])
    X_test = cohort.table.iloc[split.test]
    logged = MlflowClient().get_run(result.selected.run_id).data.metrics
    model = result.selected.model
    auc = cumulative_dynamic_auc(y_train, y_test, model.predict(X_test), [5.0])[0][0]
    s5 = model.predict_survival_function(X_test, [5.0])
    brier = brier_score(y_train, y_test, s5, [5.0])[1][0]
    assert logged["test/auc_5y"] == pytest.approx(auc, abs=1e-9)
    assert logged["test/brier_5y"] == pytest.approx(brier, abs=1e-9)
    assert 0.0 < logged["test/ipa_5y"] < 0.5 and 0.0 < logged["test/ibs"] < 0.25
    assert 0.5 < logged["calibration/slope_5y"] < 2.0
    assert 0.0 <= logged["calibration/ici_5y"] <= logged["calibration/e90_5y"] < 0.2
    assert 0.0 < logged["calibration/d_calibration_p"] <= 1.0
    parent = MlflowClient().get_run(result.run_id).data.metrics
    name = result.selected.model_name
    clinical = next(
        o for o in result.outcomes if o.model_name == name and o.feature_set == "clinical"
    )
    assert parent[f"added_value/{name}.test_auc_5y"] == pytest.approx(
        logged["test/auc_5y"] - clinical.score("test", "auc", 5.0)
    )
    assert parent["selected/test/auc_5y"] == logged["test/auc_5y"]
    assert not [k for k in parent if ".clinical" in k]  # other models stay on their runs


def test_msk1_adds_discrimination_on_the_synthetic_cohort(result: RunResult) -> None:
    by = {(o.model_name, o.feature_set): o for o in result.outcomes}
    cv = {
        fs: by["coxnet", fs].score("cv", "harrell_c", statistic="mean")
        for fs in ("clinical", "clinical+msk1")
    }
    assert cv["clinical+msk1"] > cv["clinical"]
    assert 0.6 < by["coxnet", "clinical+msk1"].score("test", "harrell_c") < 0.85
    assert result.selected.feature_set == "clinical+msk1"


def test_registered_champion_loads_in_a_new_process(result: RunResult, tmp_path: Path) -> None:
    assert result.registration is not None
    assert result.registration.version == "1" and result.registration.promoted
    rows = result.cohort.table.head(5)
    expected = predict_frame(result.selected.model, rows, [3.0, 5.0])
    rows.to_csv(tmp_path / "rows.csv", index=False)
    script = textwrap.dedent(
        """
        import json, sys, mlflow, pandas as pd
        model = mlflow.pyfunc.load_model("models:/msk1-prognostic@champion")
        out = model.predict(pd.read_csv(sys.argv[1]))
        print(json.dumps(out.to_dict(orient="list")))
        """
    )
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": mlflow.get_tracking_uri(),
        "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false",
    }
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "rows.csv")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    )
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert list(got) == [
        "risk_score",
        "risk_group",
        "survival_3y",
        "survival_5y",
        "event_prob_3y",
        "event_prob_5y",
    ]
    assert len(got["risk_score"]) == 5 and np.all(np.isfinite(got["risk_score"]))
    np.testing.assert_allclose(got["risk_score"], expected["risk_score"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(got["survival_5y"], expected["survival_5y"], rtol=0, atol=1e-12)


def test_exported_model_holds_no_pickle(result: RunResult) -> None:
    local = Path(mlflow.artifacts.download_artifacts(result.model_uri))
    files = [p.name for p in local.rglob("*") if p.is_file()]
    assert "python_model.pkl" not in files and not [
        f for f in files if f.endswith((".pkl", ".pickle"))
    ]
    assert {"model.json", "predictor.json"} <= set(files)


def test_later_runs_add_versions_and_move_the_alias_only_when_better(
    tiny_config: RunConfig,
) -> None:
    uri = f"tracking.uri={tiny_config.tracking.uri}"
    config = load_config(DEFAULT_CONFIG, [*TINY, uri, NO_REPORT])
    first = run(config)
    same = run(config)  # identical config and seed: equal metric, so the champion stays
    assert same.registration is not None and same.registration.version == "2"
    assert not same.registration.promoted
    c_first, c_same = (r.selected.score("test", "harrell_c") for r in (first, same))
    assert c_same == c_first
    assert "champion kept" in same.registration.reason
    other = run(load_config(DEFAULT_CONFIG, [*TINY, uri, NO_REPORT, "seed=99"]))
    assert other.registration is not None and other.registration.version == "3"
    c_other = other.selected.score("test", "harrell_c")
    better = c_other > c_first
    assert other.registration.promoted == better
    champion = MlflowClient().get_model_version_by_alias("msk1-prognostic", "champion")
    assert str(champion.version) == ("3" if better else "1")
    assert float(champion.tags["metric.test/harrell_c"]) == max(c_first, c_other)


def test_a_champion_metric_where_lower_is_better_promotes_the_lower(
    tiny_config: RunConfig,
) -> None:
    """Versions of one logged predictor, registered with Brier scores 0.20, 0.25 then 0.15; the
    first as a version of the flat metric names (``test_brier_5y``) is still compared."""
    uri = f"tracking.uri={tiny_config.tracking.uri}"
    done = run(load_config(DEFAULT_CONFIG, [*TINY, uri, NO_REPORT, "tuning.n_trials=1"]))
    promoted, reasons = [], []
    for brier, name in ((0.20, "test_brier_5y"), (0.25, "test/brier_5y"), (0.15, "test/brier_5y")):
        registration = register_predictor(
            done.model_uri,
            "brier-champion",
            "champion",
            {name: brier},
            champion_metric=name,
            higher_is_better=False,
            tags={},
        )
        promoted.append(registration.promoted)
        reasons.append(registration.reason)
    assert promoted == [True, False, True]
    assert reasons[1:] == [
        "test/brier_5y 0.2500 >= champion v1 0.2000; champion kept",
        "test/brier_5y 0.1500 < champion v1 0.2000",
    ]
    champion = MlflowClient().get_model_version_by_alias("brier-champion", "champion")
    assert str(champion.version) == "3" and float(champion.tags["metric.test/brier_5y"]) == 0.15


def test_bad_data_fails_before_any_run(tiny_config: RunConfig, tmp_path: Path) -> None:
    table = tmp_path / "bad.csv"
    table.write_text("patient_id,time,event,age,size,grade,nodes,pr\nA,1.0,1,50,20,2,0,1\n")
    config = load_config(
        DEFAULT_CONFIG,
        [
            *TINY,
            f"tracking.uri={tiny_config.tracking.uri}",
            f"data.source={table}",
            "data.time_unit=years",
        ],
    )
    with pytest.raises(DataError, match=r"lacks required column\(s\) 'msk1'"):
        run(config)
    mlflow.set_tracking_uri(tiny_config.tracking.uri)
    assert MlflowClient().search_experiments(filter_string="name = 'msk1-default'") == []


def test_imputation_inside_the_pipeline_uses_training_rows_only(
    tiny_config: RunConfig, tmp_path: Path
) -> None:
    from msk1model.data.synthetic import make_synthetic_cohort

    cohort = make_synthetic_cohort(500, seed=3)
    cohort.loc[cohort.index % 6 == 0, "size"] = np.nan
    path = tmp_path / "gaps.csv"
    cohort.to_csv(path, index=False)
    overrides = [f"data.source={path}", "data.time_unit=years", "data.missing=impute", NO_REPORT]
    config = load_config(
        DEFAULT_CONFIG, [*TINY, f"tracking.uri={tiny_config.tracking.uri}", *overrides]
    )
    result = run(config)
    train_rows = result.cohort.table.iloc[result.split.train]
    expected = np.nanmedian(train_rows["size"])
    assert expected != np.nanmedian(result.cohort.table["size"])  # the test part would move it
    for outcome in result.outcomes:
        medians = dict(
            zip(outcome.model.features_, outcome.model.preprocessor_.medians_, strict=True)
        )
        assert medians["size"] == expected, outcome.model_name


def test_text_categories_and_biomarker_form_travel_with_the_exported_model(
    tiny_config: RunConfig, tmp_path: Path
) -> None:
    from msk1model.data.synthetic import make_synthetic_cohort

    cohort = make_synthetic_cohort(500, seed=5)
    cohort["grade"] = cohort["grade"].map({1: "G1", 2: "G2", 3: "G3"})
    path = tmp_path / "text_grade.csv"
    cohort.to_csv(path, index=False)
    overrides = [
        f"data.source={path}",
        "data.time_unit=years",
        "data.categorical=[grade]",
        "biomarker.transform=zscore",
        "biomarker.spline_knots=3",
        NO_REPORT,
    ]
    config = load_config(
        DEFAULT_CONFIG, [*TINY, f"tracking.uri={tiny_config.tracking.uri}", *overrides]
    )
    result = run(config)
    model = result.selected.model
    assert model.design_columns == [
        "age",
        "size",
        "grade=G2",
        "grade=G3",
        "nodes",
        "pr",
        "z(msk1)",
        "z(msk1)'",
    ]
    rows = result.cohort.table.head(20)
    loaded = mlflow.pyfunc.load_model(result.model_uri).predict(rows[model.features_])
    expected = predict_frame(model, rows, [3.0, 5.0]).reset_index(drop=True)
    numbers = expected.columns  # predict_frame without risk groups: the numeric columns
    np.testing.assert_allclose(
        loaded[numbers].to_numpy(float), expected[numbers].to_numpy(float), rtol=0, atol=1e-12
    )


def test_a_biomarker_transform_the_data_cannot_take_fails_before_any_run(
    tiny_config: RunConfig,
) -> None:
    overrides = ["biomarker.transform=log2", "biomarker.offset=0"]
    from msk1model.data.synthetic import make_synthetic_cohort

    negative = make_synthetic_cohort(500, seed=5).assign(msk1=lambda f: f["msk1"] - 8.0)
    path = Path(tiny_config.tracking.uri.removeprefix("sqlite:///")).parent / "centred.csv"
    negative.to_csv(path, index=False)
    config = load_config(
        DEFAULT_CONFIG,
        [
            *TINY,
            f"tracking.uri={tiny_config.tracking.uri}",
            *overrides,
            f"data.source={path}",
            "data.time_unit=years",
        ],
    )
    with pytest.raises(ModelError, match=r"log2 needs msk1 \+ offset > 0"):
        run(config)
    mlflow.set_tracking_uri(tiny_config.tracking.uri)
    assert MlflowClient().search_experiments(filter_string="name = 'msk1-default'") == []


def test_report_is_written_logged_and_rebuilt_by_the_cli(result: RunResult, tmp_path: Path) -> None:
    from msk1model.cli import main

    assert result.report_path is not None and result.report_path.is_file()
    html = result.report_path.read_text(encoding="utf-8")
    for section in ("Patients, events and missing data", "Kaplan-Meier", "Added value"):
        assert section in html
    logged = mlflow.artifacts.download_artifacts(run_id=result.run_id, artifact_path="report")
    assert (Path(logged) / "report.html").read_text(encoding="utf-8") == html
    assert main(["report", result.run_id, "--out", str(tmp_path / "rebuilt")]) == 0
    rebuilt = tmp_path / "rebuilt" / result.run_id / "report.html"
    assert rebuilt.read_text(encoding="utf-8") == html
    assert main(["report", "0" * 32, "--out", str(tmp_path)]) == 2  # unknown run: a clear error
    metrics = MlflowClient().get_run(result.run_id).data.metrics
    for model in ("coxnet", "xgb_cox"):  # the paired bootstrap CI brackets the logged delta
        key = f"added_value/{model}.test_harrell_c"
        assert metrics[f"{key}_lower"] <= metrics[key] <= metrics[f"{key}_upper"]


def test_report_hazard_ratio_equals_a_lifelines_fit(result: RunResult) -> None:
    from lifelines import CoxPHFitter

    table = result.cohort.table
    covariates = list(result.cohort.covariates)
    sd = table["msk1"].std()
    frame = table[[*covariates, "time", "event"]].assign(msk1_per_sd=table["msk1"] / sd)
    cph = CoxPHFitter().fit(frame, "time", "event", fit_options={"precision": 1e-14})
    metrics = MlflowClient().get_run(result.run_id).data.metrics
    key = "biomarker/hr_per_sd_multivariable"
    assert metrics[key] == pytest.approx(np.exp(cph.params_["msk1_per_sd"]), rel=1e-6)
    lower, upper = np.exp(cph.confidence_intervals_.loc["msk1_per_sd"])
    assert metrics[f"{key}_lower"] == pytest.approx(lower, rel=1e-6)
    assert metrics[f"{key}_upper"] == pytest.approx(upper, rel=1e-6)


@pytest.mark.slow
def test_report_recovers_the_simulated_msk1_effect_and_its_added_value(
    tiny_config: RunConfig,
) -> None:
    from msk1model.data.synthetic import TRUE_LOG_HR

    # ~2,000 ER-positive patients; 100 bootstrap replicates on both cores
    overrides = ["data.synthetic.n_patients=2700", "report.n_bootstrap=100", "report.n_jobs=2"]
    config = load_config(
        DEFAULT_CONFIG, [*TINY, f"tracking.uri={tiny_config.tracking.uri}", *overrides]
    )
    result = run(config)
    assert 1900 <= len(result.cohort.table) <= 2100
    metrics = MlflowClient().get_run(result.run_id).data.metrics
    sd = result.cohort.table["msk1"].std()
    true_hr = np.exp(TRUE_LOG_HR["msk1_in_er_pos"] * sd)
    key = "biomarker/hr_per_sd_multivariable"
    assert metrics[f"{key}_lower"] < true_hr < metrics[f"{key}_upper"]
    assert metrics["biomarker/lrt_p"] < 1e-6
    assert metrics["biomarker/optimal_cutpoint_p_lausen_schumacher"] < 0.01
    # significance comes from the likelihood-ratio test on all patients (chi-square ~130); the test
    # quarter (~500 patients) is too small for a paired-bootstrap delta C to reach p < 0.05
    # (measured: coxnet +0.027, p 0.11; xgb_cox +0.011, p 0.54), but every family gains C
    for model in tiny_config.models:
        assert metrics[f"added_value/{model}.test_harrell_c"] > 0.01


@needs_chromium
def test_run_report_opens_in_chromium_and_shows_its_kaplan_meier_plots(
    result: RunResult, tmp_path: Path
) -> None:
    import dataclasses

    from msk1model.report import Figure, read_report, write_report

    from .test_report import _chromium, _console_lines, _count_colour, _png

    assert result.report_path is not None
    report = result.report_path.resolve()
    dom = _chromium(report, tmp_path, "--dump-dom")
    assert 'data-figures="ok"' in dom.stdout and _console_lines(dom) == []
    document = read_report(report.parent)
    blank = _png(lambda ax: ax.set_axis_off())
    without_km = dataclasses.replace(
        document,
        sections=tuple(
            dataclasses.replace(
                s,
                items=tuple(
                    Figure(b.caption, blank, b.name)
                    if isinstance(b, Figure) and b.name.startswith("km_")
                    else b
                    for b in s.items
                ),
            )
            for s in document.sections
        ),
    )
    orange = (0xFF, 0x7F, 0x0E)  # matplotlib C1: the "high" group's curve and risk-table label
    counts = []
    for name, doc in (("report", document), ("without_km", without_km)):
        page = write_report(doc, tmp_path / name) if name != "report" else report
        shot = tmp_path / f"{name}.png"
        window = ["--hide-scrollbars", "--force-device-scale-factor=1", "--window-size=1200,9000"]
        done = _chromium(page, tmp_path, *window, f"--screenshot={shot}")
        assert _console_lines(done) == []
        with Image.open(shot) as image:
            counts.append(_count_colour(np.asarray(image.convert("RGB")).astype(int), orange))
    shown, control = counts
    print("orange pixels with and without the KM figures:", counts)
    assert shown - control > 1000, counts  # two KM plots' curves drawn in the page


SECRET_ID = "PATIENT-ID-4711-SECRET"


def test_the_registered_predictor_refuses_impossible_inputs_and_echoes_no_value(
    result: RunResult, capfd: pytest.CaptureFixture[str]
) -> None:
    """The issue's inputs (age -42.5, size -3.25, nodes -1, grade 7, msk1 987654, text, a missing
    column) through ``mlflow.pyfunc.load_model``: refused by column, rule and row position; no id
    and no value in the error or in anything MLflow logs."""
    from msk1model.errors import InputError

    model = mlflow.pyfunc.load_model("models:/msk1-prognostic@champion")
    rows = result.cohort.table.head(5).reset_index(drop=True).assign(patient_id=SECRET_ID)
    impossible = rows.astype({"age": object}).assign(size=-3.25, nodes=-1.0, grade=7.0)
    impossible.loc[1, "age"] = -42.5
    impossible.loc[3, "age"] = "SECRET-TEXT-VALUE"
    impossible.loc[4, "msk1"] = 987654.0
    with pytest.raises(InputError) as caught:
        model.predict(impossible)
    text = str(caught.value)
    for expected in (
        "column 'age' must lie in its possible range [0, 120] (row 1)",
        "column 'age' must be a number (row 3)",
        "column 'size' must lie in its possible range [0, open] (rows 0, 1, 2, 3, 4)",
        "column 'nodes' must lie in its possible range [0, open] (rows 0, 1, 2, 3, 4)",
        "column 'grade' must lie in its possible range [1, 3] (rows 0, 1, 2, 3, 4)",
        "column 'msk1' must lie within the range the model was trained on",
    ):
        assert expected in text
    with pytest.raises(InputError, match=r"lacks feature column\(s\) \['age'\]") as missing:
        model.predict(rows.drop(columns=["age"]))
    output = capfd.readouterr()
    for secret in (SECRET_ID, "SECRET-TEXT-VALUE", "-42.5", "987654", "-3.25"):
        for where in (text, str(missing.value), output.out, output.err):
            assert secret not in where


def test_the_input_example_is_synthetic(result: RunResult) -> None:
    local = Path(mlflow.artifacts.download_artifacts(result.model_uri))
    example = json.loads((local / "input_example.json").read_text())
    features = result.selected.model.features_
    assert example["columns"] == features and len(example["data"]) == 3
    patients = {tuple(r) for r in result.cohort.table[features].astype(float).to_numpy()}
    assert not {tuple(map(float, r)) for r in example["data"]} & patients
    train = result.cohort.table.iloc[result.split.train]
    np.testing.assert_allclose(
        [r[features.index("age")] for r in example["data"]],
        np.quantile(train["age"], [0.25, 0.5, 0.75]),
        rtol=0,
        atol=1e-12,
    )
    assert "SYN" not in (local / "input_example.json").read_text()  # no patient id either


def test_the_registered_version_carries_provenance_and_its_model_card(
    result: RunResult, tiny_run
) -> None:
    version = MlflowClient().get_model_version("msk1-prognostic", result.registration.version)
    tags = version.tags
    assert tags["msk1model.endpoint"] == "metastasis-free survival (synthetic cohort)"
    assert tags["msk1model.cohort"] == (
        "source synthetic; time 'time', event 'event'; subgroup er=1; missing covariates: drop"
    )
    assert tags["msk1model.config_hash"] == config_hash(tiny_run.config)
    assert tags["msk1model.data_fingerprint"] == result.cohort.fingerprint
    assert tags["msk1model.version"] == __import__("msk1model").__version__
    assert len(tags["msk1model.git_commit"]) in (40, len("unknown (not a git checkout)"))
    card = version.description
    assert card.startswith("# Model card: msk1-prognostic (coxnet, clinical+msk1)")
    for section in (
        "## Intended use",
        "Research use only",
        "## Cohort and endpoint",
        "## Inputs",
        "| age | years at diagnosis | [0, 120] | [8.7, 110] | refused |",
        "| size | tumour size, mm | [0, open] | [0, 86] | refused |",
        "## Performance (held-out test set)",
        "## The biomarker's effect (msk1)",
        "## Limitations",
        "Trained on SYNTHETIC data",
        'mlflow.pyfunc.load_model("models:/msk1-prognostic@champion")',
    ):
        assert section in card, section
    c = result.selected.score("test", "harrell_c")
    assert f"| Harrell's C | {c:.3f} |" in card
    local = Path(mlflow.artifacts.download_artifacts(result.model_uri))
    assert (local / "model_card.md").read_text() == card
    page = (local / "model_card.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<h2>Intended use</h2>" in page


def test_the_version_and_its_logged_model_trace_back_to_the_model_run(
    result: RunResult, tiny_run
) -> None:
    client = MlflowClient()
    version = client.get_model_version("msk1-prognostic", result.registration.version)
    assert version.run_id == result.selected.run_id  # the model run, not the parent
    logged = client.get_logged_model(result.model_uri.removeprefix("models:/"))
    assert logged.source_run_id == result.selected.run_id
    model_run = client.get_run(result.selected.run_id).data.metrics
    on_model = {m.key: m.value for m in logged.metrics}
    assert on_model == model_run  # that model's metrics only, not the parent's
    assert not [k for k in on_model if "." in k]  # no "coxnet.clinical.*" parent metrics
    experiment = client.get_experiment(result.experiment_id)
    assert experiment.tags["mlflow.note.content"] == tiny_run.config.description


def test_the_cohort_and_its_parts_are_logged_as_datasets_without_rows(result: RunResult) -> None:
    from msk1model.data.cohort import table_fingerprint

    client = MlflowClient()
    parts = {
        "cohort": result.cohort.table,
        "training": result.cohort.table.iloc[result.split.train],
        "test": result.cohort.table.iloc[result.split.test],
    }
    for run_id, contexts in [
        (result.run_id, ["cohort", "training", "test"]),
        (result.selected.run_id, ["training", "test"]),
    ]:
        inputs = client.get_run(run_id).inputs.dataset_inputs
        by_context = {
            next(t.value for t in i.tags if t.key == "mlflow.data.context"): i for i in inputs
        }
        assert sorted(by_context) == sorted(contexts)
        for context in contexts:
            entry, table = by_context[context], parts[context]
            fingerprint = table_fingerprint(table)
            assert entry.dataset.digest == fingerprint[:32]
            tags = {t.key: t.value for t in entry.tags}
            assert tags["msk1model.data_fingerprint"] == fingerprint
            assert json.loads(entry.dataset.profile) == {
                "patients": len(table),
                "events": int(table["event"].sum()),
            }
            assert "patient_id" in entry.dataset.schema  # column names only
            assert "SYN0" not in str(entry.dataset)  # no patient id, no row
    assert table_fingerprint(result.cohort.table) == result.cohort.fingerprint


def test_each_model_run_shows_its_calibration_auc_and_risk_group_figures(
    result: RunResult,
) -> None:
    client = MlflowClient()
    for outcome in result.outcomes:
        files = {a.path for a in client.list_artifacts(outcome.run_id, "figures") if not a.is_dir}
        assert files == {
            "figures/calibration_3y.png",
            "figures/calibration_5y.png",
            "figures/auc.png",
            "figures/km_risk_groups.png",
        }, outcome.model_name
        # Optuna's plots of the study: the tiny run's 2 trials, when both completed
        study = {a.path for a in client.list_artifacts(outcome.run_id, "figures/tuning")}
        trials = client.search_runs(
            [result.experiment_id],
            f"tags.mlflow.parentRunId = '{outcome.run_id}' and tags.`optuna.state` = 'COMPLETE'",
        )
        expected = {f"figures/tuning/{name}" for name in STUDY_FIGURES}
        assert study == (expected if len(trials) >= 2 else set()), outcome.model_name
    assert any(
        client.list_artifacts(o.run_id, "figures/tuning") for o in result.outcomes
    )  # at least one model drew them
    local = mlflow.artifacts.download_artifacts(
        run_id=result.selected.run_id, artifact_path="figures/calibration_5y.png"
    )
    image = np.asarray(Image.open(local).convert("RGB")).astype(int)
    red = np.array([214, 39, 40])  # tab:red, the smoothed calibration curve
    assert (np.abs(image - red).sum(axis=2) < 60).sum() > 200


def test_the_parent_run_note_states_the_choice_the_report_and_the_version(
    result: RunResult, tiny_run
) -> None:
    note = MlflowClient().get_run(result.run_id).data.tags["mlflow.note.content"]
    assert note.startswith(tiny_run.config.description)
    c = result.selected.score("test", "harrell_c")
    assert "**Selected model:** coxnet (coxnet, clinical+msk1)" in note
    assert f"Harrell's C {c:.3f}" in note
    assert "**Report:** artefact `report/report.html`" in note
    assert "**Registered:** `msk1-prognostic` version 1 (champion" in note
