"""External validation of a registered predictor (issue 15, first step): msk1model.external."""

from __future__ import annotations

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
from msk1model.data.synthetic import make_synthetic_cohort
from msk1model.evaluation import uno_c
from msk1model.evaluation.timedep import brier_scores
from msk1model.external import (
    NET_BENEFIT_THRESHOLDS,
    external_intervals,
    external_scores,
    validate,
)
from msk1model.outcome import make_y
from msk1model.pipeline import run

from .conftest import DEFAULT_CONFIG, TINY, own_uris


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
