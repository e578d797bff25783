"""External validation of a registered predictor (issue 15, first step): msk1model.external."""

from __future__ import annotations

import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from mlflow.tracking import MlflowClient
from sksurv.metrics import (
    brier_score,
    concordance_index_censored,
    concordance_index_ipcw,
    cumulative_dynamic_auc,
)
from sksurv.nonparametric import kaplan_meier_estimator

from msk1model.cli import main
from msk1model.config import load_config
from msk1model.data.synthetic import (
    TRUE_LOG_HR,
    WEIBULL_SCALE,
    WEIBULL_SHAPE,
    design_matrix,
    make_synthetic_cohort,
)
from msk1model.errors import InputError
from msk1model.evaluation import uno_c
from msk1model.evaluation.calibration import calibration_in_the_large
from msk1model.evaluation.timedep import brier_scores
from msk1model.external import (
    NET_BENEFIT_THRESHOLDS,
    added_value,
    external_intervals,
    external_scores,
    validate,
)
from msk1model.outcome import make_y
from msk1model.pipeline import run

from .conftest import DEFAULT_CONFIG, TINY, own_uris
from .test_evaluation_metrics import natural_spline_basis, sksurv_cox


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory):
    """The tiny default experiment trained and registered into a store of this module; its
    predictor scores (and flags) values beyond the training range, as a validation needs."""
    folder = tmp_path_factory.mktemp("external")
    store = f"sqlite:///{folder / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        own_uris(mp)  # undone when the context ends
        sets = [*TINY, "report.enabled=false", "export.outside_training_range=flag"]
        config = load_config(DEFAULT_CONFIG, [*sets, f"tracking.uri={store}"])
        result = run(config)
    return folder, store, result


def _validation_cohort(folder: Path) -> Path:
    """Another draw of the synthetic process, with much heavier censoring than development:
    60% of the patients are censored at a uniform time before their own."""
    table = make_synthetic_cohort(1200, seed=314)
    rng = np.random.default_rng(7)
    cut = rng.random(len(table)) < 0.6
    early = rng.uniform(0.1, 1.0, len(table)) * table["time"]
    table.loc[cut, "event"] = 0
    table.loc[cut, "time"] = np.round(early[cut], 4)
    path = folder / "validation.csv"
    table.to_csv(path, index=False)
    return path


def _config(store: str, path: Path):
    return load_config(
        DEFAULT_CONFIG, [f"tracking.uri={store}", f"data.source={path}", "data.time_unit=years"]
    )


@pytest.mark.slow  # trains and registers a model first
def test_every_metric_equals_a_direct_computation_with_the_validation_censoring(
    registered, own_mlflow_uris
) -> None:
    monkeypatch = own_mlflow_uris
    folder, store, trained = registered
    monkeypatch.chdir(folder)
    path = _validation_cohort(folder)
    result = validate("models:/msk1-prognostic@champion", _config(store, path), n_boot=0)
    assert (result.model_name, result.version) == ("msk1-prognostic", "1")

    # the predictions, as any downstream tool gets them
    mlflow.set_tracking_uri(store)
    table = result.cohort.table
    predictor = mlflow.pyfunc.load_model("models:/msk1-prognostic/1")
    h = list(result.horizons)
    out = predictor.predict(table, params={"horizons": h})
    risk = out["risk_score"].to_numpy()
    surv = np.column_stack([out[f"survival_{x:g}y"].to_numpy() for x in h])
    y = make_y(time=table["time"], event=table["event"])
    tau = 5.0

    def got(metric, horizon=None):
        return result.score(metric, horizon)

    assert got("harrell_c") == pytest.approx(
        concordance_index_censored(y["event"], y["time"], risk)[0], abs=1e-9
    )
    assert got("uno_c") == pytest.approx(concordance_index_ipcw(y, y, risk, tau=tau)[0], abs=1e-9)
    km_t, km_s = kaplan_meier_estimator(y["event"], y["time"])
    km = KaplanMeierFitter().fit(y["time"], y["event"])
    for j, horizon in enumerate(h):
        auc = cumulative_dynamic_auc(y, y, risk, [horizon])[0][0]
        assert got("auc", horizon) == pytest.approx(auc, abs=1e-9)
        bs = brier_score(y, y, surv[:, [j]], [horizon])[1][0]
        assert got("brier", horizon) == pytest.approx(bs, abs=1e-9)
        null_s = km_s[np.searchsorted(km_t, horizon, side="right") - 1]  # the validation KM
        null = brier_score(y, y, np.full((len(y), 1), null_s), [horizon])[1][0]
        assert got("ipa", horizon) == pytest.approx(1 - bs / null, abs=1e-9)
        observed = 1 - float(km.survival_function_at_times(horizon).iloc[0])
        assert got("calibration_oe", horizon) == pytest.approx(
            observed / np.mean(1 - surv[:, j]), abs=1e-6
        )
        # slope and ICI/E50/E90: Cox models of log(-log S) fitted by scikit-survival
        x = np.log(-np.log(surv[:, j]))
        slope = sksurv_cox(x[:, None], y["time"], y["event"]).coef_[0]
        assert got("calibration_slope", horizon) == pytest.approx(slope, abs=1e-6)
        basis = natural_spline_basis(x, np.quantile(x, [0.1, 0.5, 0.9]))
        cox = sksurv_cox(basis, y["time"], y["event"])
        curves = cox.predict_survival_function(basis, True)
        at = np.searchsorted(cox.unique_times_, horizon, side="right") - 1
        gap = np.abs(curves[:, at] - surv[:, j])
        assert got("ici", horizon) == pytest.approx(gap.mean(), abs=1e-6)
        assert got("e50", horizon) == pytest.approx(np.median(gap), abs=1e-6)
        assert got("e90", horizon) == pytest.approx(np.quantile(gap, 0.9), abs=1e-6)

    # development-cohort weights would give other numbers: the censoring differs
    y_dev = trained.cohort.y[trained.split.train]
    assert abs(uno_c(y_dev, y, risk, tau=tau) - got("uno_c")) > 1e-3
    dev_brier = brier_scores(y_dev, y, surv[:, [0]], [h[0]])[0]
    assert abs(dev_brier - got("brier", h[0])) > 1e-3


@pytest.mark.slow  # trains and registers a model first
def test_a_validation_is_a_run_of_its_own_experiment_and_tagged_on_the_version(
    registered, own_mlflow_uris, capsys
) -> None:
    monkeypatch = own_mlflow_uris
    folder, store, _ = registered
    monkeypatch.chdir(folder)
    path = _validation_cohort(folder)
    code = main(["validate", "--model", "models:/msk1-prognostic/1", "--bootstrap", "20", "--config",
                 str(DEFAULT_CONFIG), "--set", f"tracking.uri={store}",
                 "--set", f"data.source={path}", "--set", "data.time_unit=years"])  # fmt: skip
    out = " ".join(capsys.readouterr().out.split())
    assert code == 0 and "msk1-prognostic version 1 on" in out and "harrell_c" in out
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    experiment = client.get_experiment_by_name("validate-msk1-prognostic")
    (latest, *_) = client.search_runs([experiment.experiment_id], order_by=["start_time DESC"])
    tags = latest.data.tags
    assert tags["msk1model.role"] == "validation" and tags["msk1model.validated_version"] == "1"
    assert tags["msk1model.data_fingerprint"] and latest.info.status == "FINISHED"
    assert {"external/harrell_c", "external/uno_c", "external/auc_5y", "external/brier_5y",
            "external/ipa_5y", "external/calibration_oe_5y", "external/calibration_slope_5y",
            "external/ici_5y"} <= set(latest.data.metrics)  # fmt: skip
    version = client.get_model_version("msk1-prognostic", "1")
    note = version.tags[f"msk1model.validation.{latest.info.run_id}"]
    assert note.startswith(f"{path} (") and "Harrell's C" in note
    c = latest.data.metrics["external/harrell_c"]
    assert f"Harrell's C {c:.3f}" in note
    low, high = (latest.data.metrics[f"external/harrell_c_{s}"] for s in ("lower", "upper"))
    assert low < c < high and latest.data.params["n_bootstrap"] == "20"
    assert "against the basic model" in out and "difference" in out
    delta = latest.data.metrics["external_added_value/harrell_c"]
    low, high = (latest.data.metrics[f"external_added_value/harrell_c_{s}"]
                 for s in ("lower", "upper"))  # fmt: skip
    assert low <= delta <= high and 0 < latest.data.metrics["external_added_value/harrell_c_p"] <= 1


@pytest.mark.slow  # trains and registers a model first
def test_the_basic_model_of_the_same_run_is_validated_beside_it(
    registered, own_mlflow_uris
) -> None:
    monkeypatch = own_mlflow_uris
    folder, store, trained = registered
    monkeypatch.chdir(folder)
    path = _validation_cohort(folder)
    result = validate("models:/msk1-prognostic/1", _config(store, path), n_boot=0)
    family = trained.selected.model_name
    assert result.basic is not None and result.basic.label == f"{family} | clinical"
    # the clinical model of the selected family, as the training run logged it
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    run = client.get_run(result.basic.run_id)
    assert run.data.tags["msk1model.feature_set"] == "clinical"
    assert run.data.tags["msk1model.model_name"] == family
    assert run.data.tags["mlflow.parentRunId"] == trained.run_id
    fitted = next(
        o for o in trained.outcomes if (o.model_name, o.feature_set) == (family, "clinical")
    )
    assert fitted.run_id == result.basic.run_id
    table = result.cohort.table
    risk = fitted.model.predict(table[list(fitted.model.features_)])
    y = make_y(time=table["time"], event=table["event"])
    c = concordance_index_censored(y["event"], y["time"], risk)[0]
    assert result.basic_score("harrell_c") == pytest.approx(c, abs=1e-9)
    assert "msk1" not in fitted.model.features_
    for metric, horizon in (("harrell_c", None), ("uno_c", None), ("ipa", 5.0), ("brier", 5.0)):
        assert result.difference(metric, horizon) == pytest.approx(
            result.score(metric, horizon) - result.basic_score(metric, horizon), abs=1e-12
        )
    metrics = client.get_run(result.run_id).data.metrics
    assert metrics["external_basic/harrell_c"] == pytest.approx(c, abs=1e-9)
    assert metrics["external_added_value/harrell_c"] == pytest.approx(
        result.difference("harrell_c"), abs=1e-12
    )
    # an update has no basic model: the clinical model was not updated alike
    update = validate("models:/msk1-prognostic/1", _config(store, path), n_boot=0,
                      recalibrate="baseline")  # fmt: skip
    again = validate(f"models:/msk1-prognostic/{update.updated_version}", _config(store, path),
                     n_boot=0)  # fmt: skip
    assert again.basic is None and again.added is None
    with pytest.raises(KeyError, match="has no basic model"):
        again.difference("harrell_c")


@pytest.mark.slow  # trains and registers a model first
def test_bootstrap_workers_started_after_loading_the_predictor_run(
    registered, own_mlflow_uris
) -> None:
    """Loading the predictor puts its shipped code (part of msk1model) first on sys.path;
    validate takes it off again, so the bootstrap's new worker processes import this msk1model.
    Before the fix they failed to unpickle their task (no module msk1model.models.cox_newton)."""
    from joblib.externals.loky import get_reusable_executor

    folder, store, _ = registered
    own_mlflow_uris.chdir(folder)
    get_reusable_executor().shutdown(wait=True)  # workers of earlier tests would hide it
    path = list(sys.path)
    config = _config(store, _validation_cohort(folder))
    config = config.model_copy(update={"report": config.report.model_copy(update={"n_jobs": 2})})
    result = validate("models:/msk1-prognostic/1", config, n_boot=8)
    assert sys.path == path
    lower, upper = (result.score("harrell_c", statistic=b) for b in ("lower", "upper"))
    assert 0.5 < lower < result.score("harrell_c") < upper < 1.0


@pytest.mark.slow  # trains and registers a model first
def test_a_model_that_is_not_registered_is_a_clear_error(
    registered, own_mlflow_uris, capsys
) -> None:
    monkeypatch = own_mlflow_uris
    folder, store, _ = registered
    monkeypatch.chdir(folder)
    code = main(["validate", "--model", "models:/msk1-prognostic@nobody", "--config",
                 str(DEFAULT_CONFIG), "--set", f"tracking.uri={store}"])  # fmt: skip
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2 and "models:/msk1-prognostic@nobody is not in the registry" in err


def _predictions(n: int = 500, seed: int = 21):
    """A cohort and fixed predictions of a known Cox-shaped model (no fitting needed)."""
    table = make_synthetic_cohort(n, seed=seed)
    y = make_y(time=table["time"], event=table["event"])
    lp = -0.4 * table["msk1"].to_numpy() + 0.03 * (table["age"].to_numpy() - 55)
    horizons = [3.0, 5.0]
    surv = np.exp(-0.05 * np.outer(np.exp(lp), horizons))
    return y, lp, surv, horizons


def test_the_cis_are_seeded_percentiles_of_the_metric_on_resampled_patients() -> None:
    y, risk, surv, horizons = _predictions()
    first = external_intervals(y, risk, surv, horizons, tau=5.0, n_boot=12, seed=3)
    again = external_intervals(y, risk, surv, horizons, tau=5.0, n_boot=12, seed=3)
    pd.testing.assert_frame_equal(first, again)  # reproducible
    # replicate i draws its rows from its own spawned generator (msk1model.evaluation.bootstrap)
    children = np.random.SeedSequence(3).spawn(12)
    by_hand = []
    for child in children:
        rows = np.random.default_rng(child).integers(0, len(y), size=len(y))
        by_hand.append(concordance_index_censored(y["event"][rows], y["time"][rows], risk[rows])[0])
    low, high = np.quantile(by_hand, [0.025, 0.975])
    c = first[first["metric"] == "harrell_c"].set_index("statistic")["value"]
    assert c["lower"] == pytest.approx(low, abs=1e-12) and c["upper"] == pytest.approx(
        high, abs=1e-12
    )
    estimate = external_scores(y, risk, surv, horizons, tau=5.0)
    point = estimate[estimate["metric"] == "harrell_c"]["value"].iloc[0]
    assert c["lower"] < point < c["upper"]
    other = external_intervals(y, risk, surv, horizons, tau=5.0, n_boot=12, seed=4)
    assert not first["value"].equals(other["value"])  # the seed matters


def test_the_added_value_cis_are_paired_on_the_same_resamples() -> None:
    y, _, _, horizons = _predictions()
    table = make_synthetic_cohort(500, seed=21)  # the patients of _predictions
    risk = design_matrix(table).to_numpy() @ np.array(list(TRUE_LOG_HR.values()))  # the truth
    surv = np.exp(-0.05 * np.outer(np.exp(risk), horizons))
    rng = np.random.default_rng(5)
    basic_risk = risk + rng.normal(0, 1.0, len(risk))  # a weaker ranking of the same patients
    basic = (basic_risk, np.exp(-0.05 * np.outer(np.exp(basic_risk), horizons)))
    both = external_intervals(y, risk, surv, horizons, tau=5.0, n_boot=12, seed=3, basic=basic)
    alone = external_intervals(y, risk, surv, horizons, tau=5.0, n_boot=12, seed=3)
    own = both[both["feature_set"].isna() & (both["stage"] == "external")].reset_index(drop=True)
    pd.testing.assert_frame_equal(own, alone)  # the model's own CIs do not change
    deltas = []
    for child in np.random.SeedSequence(3).spawn(12):
        rows = np.random.default_rng(child).integers(0, len(y), size=len(y))
        e, t = y["event"][rows], y["time"][rows]
        c = concordance_index_censored(e, t, risk[rows])[0]
        deltas.append(c - concordance_index_censored(e, t, basic_risk[rows])[0])
    delta = both[(both["stage"] == "delta_external") & (both["metric"] == "harrell_c")]
    delta = delta.set_index("statistic")["value"]
    low, high = np.quantile(deltas, [0.025, 0.975])
    assert delta["lower"] == pytest.approx(low, abs=1e-12)
    assert delta["upper"] == pytest.approx(high, abs=1e-12)
    d = np.asarray(deltas)
    p = max(min(1.0, 2 * min(np.mean(d <= 0), np.mean(d >= 0))), 1 / 13)
    assert delta["p"] == pytest.approx(p, abs=1e-12)
    model = external_scores(y, risk, surv, horizons, tau=5.0)
    of_basic = external_scores(y, *basic, horizons, tau=5.0)
    added = added_value(model, of_basic).set_index(["metric", "horizon"])["value"]
    assert added[("harrell_c", np.nan)] == pytest.approx(
        concordance_index_censored(y["event"], y["time"], risk)[0]
        - concordance_index_censored(y["event"], y["time"], basic_risk)[0],
        abs=1e-12,
    )
    assert added[("harrell_c", np.nan)] > 0  # the noisier ranking discriminates less


def test_net_benefit_is_the_censoring_aware_formula_written_out() -> None:
    y, risk, surv, horizons = _predictions()
    scores = external_scores(y, risk, surv, horizons, tau=5.0)
    for j, horizon in enumerate(horizons):
        for pt in NET_BENEFIT_THRESHOLDS:
            positive = 1 - surv[:, j] >= pt
            share = positive.mean()
            expected = 0.0  # nobody treated
            if share:
                km = KaplanMeierFitter().fit(y["time"][positive], y["event"][positive])
                r = 1 - float(km.survival_function_at_times(horizon).iloc[0])
                expected = r * share - (1 - r) * share * pt / (1 - pt)
            row = scores[(scores["metric"] == f"net_benefit_pt{round(pt * 100)}")
                         & (scores["horizon"] == horizon)]  # fmt: skip
            assert row["value"].iloc[0] == pytest.approx(expected, abs=1e-9), (horizon, pt)


# --- known truth: the synthetic process, its baseline shifted, and recalibration ---------------

#: A correctly specified Cox model of the synthetic process but for log1p(nodes) (linear here):
#: 20,000 patients, so that the model's own error is small beside a validation's CIs.
TRUTH_CONFIG = """
experiment: truth-dev
seed: 11
data:
  source: synthetic
  synthetic: {n_patients: 20000}
  covariates: [age, size, grade, nodes, pr, er]
biomarker: {interaction: er}
split: {cv_folds: 2}
tuning: {n_trials: 1}
models:
  coxph: {kind: coxph}
evaluation: {horizons: [5]}
report: {enabled: false}
export: {model_name: truth, outside_training_range: flag}
"""


@pytest.fixture(scope="module")
def truth(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("truth")
    store = f"sqlite:///{folder / 'mlflow.db'}"
    path = folder / "truth.yaml"
    path.write_text(TRUTH_CONFIG + f"tracking: {{uri: '{store}'}}\n", encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        own_uris(mp)
        run(load_config(path))
    return folder, store, path


def _draw(folder: Path, name: str, seed: int, ratio: float = 1.0, n: int = 3000) -> Path:
    out = folder / f"{name}.csv"
    make_synthetic_cohort(n, seed=seed, baseline_hazard_ratio=ratio).to_csv(out, index=False)
    return out


def _true_oe_ratio(path: Path, ratio: float) -> float:
    """What multiplying the baseline hazard by ``ratio`` does to a calibrated model's O/E at 5
    years: E[1 - S^ratio] / E[1 - S], S the true 5-year survival of these patients."""
    table = pd.read_csv(path)
    lp = design_matrix(table).to_numpy() @ np.array(list(TRUE_LOG_HR.values()))
    s = np.exp(-((5.0 / WEIBULL_SCALE) ** WEIBULL_SHAPE) * np.exp(lp))
    return float(np.mean(1 - s**ratio) / np.mean(1 - s))


@pytest.mark.slow  # trains on 20,000 patients, validates three cohorts, bootstraps one
def test_known_truth_same_process_is_calibrated_and_a_shifted_baseline_is_restored(
    truth, own_mlflow_uris
) -> None:
    monkeypatch = own_mlflow_uris
    folder, store, config_path = truth
    monkeypatch.chdir(folder)

    def config(path: Path):
        return load_config(config_path, [f"data.source={path}", "data.time_unit=years"])

    same = _draw(folder, "same", seed=99, n=5000)
    calibrated = validate("models:/truth@champion", config(same), n_boot=40)
    for metric in ("calibration_oe", "calibration_slope"):
        low, high = (calibrated.score(metric, 5.0, s) for s in ("lower", "upper"))
        assert low < 1.0 < high, (metric, low, high)
    # the model is about as calibrated as the truth itself on these patients: what is left of
    # O/E - 1 is the validation sample's chance (the true model's O/E on 10 draws of 3000
    # patients ran 0.92-1.06), not the model's error
    table = pd.read_csv(same)
    lp = design_matrix(table).to_numpy() @ np.array(list(TRUE_LOG_HR.values()))
    s_true = np.exp(-((5.0 / WEIBULL_SCALE) ** WEIBULL_SHAPE) * np.exp(lp))
    y_same = make_y(time=table["time"], event=table["event"])
    true_oe = calibration_in_the_large(y_same, s_true, 5.0).oe_ratio
    assert calibrated.score("calibration_oe", 5.0) == pytest.approx(true_oe, abs=0.04)

    shifted = _draw(folder, "shifted", seed=99, ratio=2.0)  # same patients, hazard doubled
    moved = validate("models:/truth@champion", config(shifted), n_boot=0, recalibrate="baseline")
    ratio = moved.score("calibration_oe", 5.0) / calibrated.score("calibration_oe", 5.0)
    assert ratio == pytest.approx(_true_oe_ratio(shifted, 2.0), rel=0.03)
    assert moved.score("harrell_c") == pytest.approx(calibrated.score("harrell_c"), abs=0.02)
    updates = moved.updates.set_index("update")
    assert updates.loc["none (parent)", "calibration_oe"] == pytest.approx(
        moved.score("calibration_oe", 5.0)
    )
    for update in ("baseline", "slope", "refit"):
        assert updates.loc[update, "calibration_oe"] == pytest.approx(1.0, abs=0.02)

    # the baseline update is a new version with its lineage; the champion stays
    assert moved.updated_version == "2"
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    version = client.get_model_version("truth", "2")
    assert version.tags["msk1model.parent_version"] == "1"
    assert version.tags["msk1model.update"] == "baseline"
    assert version.tags["msk1model.update_data_fingerprint"] == moved.cohort.fingerprint
    assert version.tags["msk1model.update_run"] == moved.run_id
    assert str(client.get_model_version_by_alias("truth", "champion").version) == "1"

    # on another draw of the shifted population, the updated version is calibrated
    fresh = _draw(folder, "fresh", seed=123, ratio=2.0, n=2000)
    updated = validate("models:/truth/2", config(fresh), n_boot=30)
    low, high = (updated.score("calibration_oe", 5.0, s) for s in ("lower", "upper"))
    assert low < 1.0 < high
    parent = validate("models:/truth/1", config(fresh), n_boot=0)
    assert parent.score("harrell_c") == pytest.approx(updated.score("harrell_c"), abs=1e-12)


@pytest.mark.slow  # trains the model first
def test_a_rescaled_biomarker_is_refused_unless_harmonised(truth, own_mlflow_uris) -> None:
    monkeypatch = own_mlflow_uris
    folder, store, config_path = truth
    monkeypatch.chdir(folder)
    table = make_synthetic_cohort(1500, seed=77)
    table["msk1"] = 0.4 * (table["msk1"] - 8.0)  # centred ratios instead of log2 intensities
    path = folder / "rescaled.csv"
    table.to_csv(path, index=False)
    sets = [f"data.source={path}", "data.time_unit=years"]
    with pytest.raises(
        InputError, match=r"biomarker msk1 is on another scale.*biomarker\.harmonise"
    ):
        validate("models:/truth/1", load_config(config_path, sets), n_boot=0)
    harmonised = validate(
        "models:/truth/1",
        load_config(config_path, [*sets, "biomarker.harmonise=zscore_within_cohort"]),
        n_boot=0,
    )
    assert harmonised.scale is not None and harmonised.scale.harmonise == "zscore_within_cohort"
    shift = harmonised.shift.set_index("feature")
    assert abs(shift.loc["msk1", "smd"]) < 1e-9  # harmonised: the development mean and SD
    tags = MlflowClient(tracking_uri=store).get_run(harmonised.run_id).data.tags
    assert tags["msk1model.biomarker_scale"].endswith("harmonised by zscore_within_cohort")
    # z-scoring within the cohort forgets the affine rescaling: the same patients on the
    # development scale, harmonised alike, score identically, and close to no harmonisation
    original = make_synthetic_cohort(1500, seed=77)
    plain = folder / "plain.csv"
    original.to_csv(plain, index=False)
    plain_sets = [f"data.source={plain}", "data.time_unit=years"]
    same = validate(
        "models:/truth/1",
        load_config(config_path, [*plain_sets, "biomarker.harmonise=zscore_within_cohort"]),
        n_boot=0,
    )
    assert harmonised.score("harrell_c") == pytest.approx(same.score("harrell_c"), abs=1e-12)
    base = validate("models:/truth/1", load_config(config_path, plain_sets), n_boot=0)
    assert harmonised.score("harrell_c") == pytest.approx(base.score("harrell_c"), abs=0.005)


@pytest.mark.slow  # trains on GSE1992 first
def test_msk1_across_array_cohorts_states_endpoints_and_refuses_another_scale(
    tmp_path, own_mlflow_uris, capsys
) -> None:
    monkeypatch = own_mlflow_uris
    monkeypatch.chdir(tmp_path)
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiments = DEFAULT_CONFIG.parent.parent / "experiments"
    sets = ["--set", f"tracking.uri={store}"]
    assert main(["train", str(experiments / "gse1992.yaml"), *sets,
                 "--set", "report.enabled=false"]) == 0  # fmt: skip
    capsys.readouterr()
    model = "models:/msk1-prognostic-gse1992@champion"

    # GSE3143 holds log intensities, GSE1992 centred log-ratios: refused, with the fix
    code = main(["validate", "--model", model, "--config", str(experiments / "gse3143.yaml"),
                 "--bootstrap", "0", *sets])  # fmt: skip
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2
    assert "the biomarker msk1 is on another scale" in err
    assert "'centred log2 ratio' vs 'log intensity'" in err and "biomarker.harmonise" in err

    # GSE4335: the same scale (centred log-ratios), another endpoint (overall survival)
    code = main(["validate", "--model", model, "--config", str(experiments / "gse4335.yaml"),
                 "--bootstrap", "0", *sets])  # fmt: skip
    out = " ".join(capsys.readouterr().out.split())
    assert code == 0 and "endpoints differ" in out and "same scale" in out
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    experiment = client.get_experiment_by_name("validate-msk1-prognostic-gse1992")
    (latest,) = client.search_runs([experiment.experiment_id])
    tags = latest.data.tags
    assert tags["msk1model.endpoint"].startswith("overall survival")
    assert tags["msk1model.development_endpoint"].startswith("relapse-free survival")
    report = tmp_path / "reports" / latest.info.run_id / "report.html"
    html = report.read_text(encoding="utf-8")
    assert "Transport checks" in html and "The validation endpoint differs" in html
    assert "Stanford two-colour cDNA array" in html and "Case mix" in html
    artefacts = {a.path for a in client.list_artifacts(latest.info.run_id, "data")}
    assert {"data/case_mix.json", "data/shift.json"} <= artefacts
