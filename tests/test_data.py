from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, KaplanMeierFitter

from msk1model.config import DataConfig, SplitConfig
from msk1model.data.cohort import load_cohort
from msk1model.data.synthetic import TRUE_LOG_HR, design_matrix, make_synthetic_cohort
from msk1model.data.validation import DataWarning
from msk1model.errors import DataError

SPLIT = SplitConfig(test_size=0.25, cv_folds=5)


def csv_config(path: Path, **changes: object) -> DataConfig:
    settings: dict[str, object] = {
        "source": str(path),
        "time_unit": "months",
        "columns": {"id": "pid", "time": "rfs_months", "event": "relapse", "biomarker": "RPS6KA5"},
        "covariates": ["age", "grade"],
    }
    settings.update(changes)
    return DataConfig.model_validate(settings)


def cohort_table(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "pid": [f"P{i:03d}" for i in range(n)],
            "rfs_months": np.round(rng.uniform(1, 120, n), 1),
            "relapse": (rng.random(n) < 0.4).astype(int),
            "age": np.round(rng.normal(55, 10, n)),
            "grade": rng.integers(1, 4, n),
            "RPS6KA5": rng.normal(0, 1, n),
            "er": (rng.random(n) < 0.7).astype(int),
        }
    )


def write_csv(tmp_path: Path, table: pd.DataFrame, **kwargs: object) -> Path:
    path = tmp_path / "cohort.csv"
    table.to_csv(path, index=False, **kwargs)  # type: ignore[arg-type]
    return path


# --- synthetic cohort -------------------------------------------------------------------------


def test_synthetic_cohort_is_deterministic() -> None:
    a, b = make_synthetic_cohort(300, seed=11), make_synthetic_cohort(300, seed=11)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(make_synthetic_cohort(300, seed=12))


def test_synthetic_five_year_incidence_in_er_positive_is_about_20_percent() -> None:
    cohort = make_synthetic_cohort(40_000, seed=3)
    er_pos = cohort[cohort["er"] == 1]
    km = KaplanMeierFitter().fit(er_pos["time"], er_pos["event"])
    assert 1 - float(km.predict(5.0)) == pytest.approx(0.20, abs=0.015)
    assert cohort["time"].max() <= 10.0


def test_synthetic_cohort_recovers_true_log_hazard_ratios() -> None:
    cohort = make_synthetic_cohort(60_000, seed=5)
    design = design_matrix(cohort).assign(time=cohort["time"], event=cohort["event"])
    fit = CoxPHFitter().fit(design, duration_col="time", event_col="event")
    for term, truth in TRUE_LOG_HR.items():
        assert fit.params_[term] == pytest.approx(truth, abs=0.05), term


# --- loading a user's table -------------------------------------------------------------------


def test_csv_is_loaded_with_mapping_units_and_subgroup(tmp_path: Path) -> None:
    table = cohort_table()
    data = csv_config(write_csv(tmp_path, table), subgroup={"er": 1})
    cohort = load_cohort(data, SPLIT, seed=0)
    kept = table[table["er"] == 1].reset_index(drop=True)
    assert list(cohort.table["pid"]) == list(kept["pid"])
    np.testing.assert_allclose(cohort.time, kept["rfs_months"] / 12.0, rtol=1e-12)
    assert cohort.features("clinical+msk1") == ["age", "grade", "RPS6KA5"]
    assert [s.patients for s in cohort.flow] == [120, len(kept)]
    assert cohort.flow[-1].events == int(kept["relapse"].sum())


def test_parquet_gives_the_same_cohort_as_csv(tmp_path: Path) -> None:
    table = cohort_table()
    table.to_parquet(tmp_path / "cohort.parquet", index=False)
    from_parquet = load_cohort(csv_config(tmp_path / "cohort.parquet"), SPLIT, seed=0)
    from_csv = load_cohort(csv_config(write_csv(tmp_path, table)), SPLIT, seed=0)
    pd.testing.assert_frame_equal(from_parquet.table, from_csv.table)
    assert from_parquet.fingerprint == from_csv.fingerprint


def test_missing_covariates_are_dropped_and_counted(tmp_path: Path) -> None:
    table = cohort_table()
    table.loc[[3, 8, 9], "age"] = np.nan
    cohort = load_cohort(csv_config(write_csv(tmp_path, table)), SPLIT, seed=0)
    assert len(cohort.table) == 117
    assert "age: 3" in cohort.flow[-1].step


def test_impute_policy_keeps_patients_and_counts_the_gaps(tmp_path: Path) -> None:
    table = cohort_table()
    table.loc[[3, 8, 9], "age"] = np.nan
    table.loc[[5], "grade"] = np.nan
    table.loc[[7], "RPS6KA5"] = np.nan  # never imputed: the biomarker is the question
    config = csv_config(write_csv(tmp_path, table), missing="impute")
    cohort = load_cohort(config, SPLIT, seed=0)
    assert len(cohort.table) == 119
    assert cohort.table["age"].isna().sum() == 3 and cohort.table["grade"].isna().sum() == 1
    steps = [s.step for s in cohort.flow]
    assert steps[1] == "biomarker measured (missing values dropped: RPS6KA5: 1)"
    assert steps[2] == "kept, covariates imputed within each training fit (age: 3, grade: 1)"


def test_imputation_never_sees_test_rows(tmp_path: Path) -> None:
    """Medians come from the training part only: test rows with huge values do not move them."""
    from msk1model.models import make_model
    from msk1model.outcome import make_y
    from msk1model.splitting import make_split

    table = cohort_table(200, seed=5)
    table.loc[::7, "age"] = np.nan
    config = csv_config(write_csv(tmp_path, table), missing="impute")
    cohort = load_cohort(config, SPLIT, seed=0)
    split = make_split(cohort.y, test_size=0.25, cv_folds=5, seed=0)
    poisoned = cohort.table.copy()
    poisoned.loc[split.test, "age"] = 1e6  # if a test row leaked, the median would jump
    train = poisoned.iloc[split.train]
    model = make_model("coxnet", features=["age", "grade"], random_state=0)
    model.fit(train, make_y(time=cohort.time[split.train], event=cohort.event[split.train]))
    assert model.preprocessor_.medians_[0] == np.nanmedian(cohort.table["age"].iloc[split.train])
    assert model.preprocessor_.medians_[0] < 200


def test_fingerprint_changes_with_any_value(tmp_path: Path) -> None:
    table = cohort_table()
    first = load_cohort(csv_config(write_csv(tmp_path, table)), SPLIT, seed=0).fingerprint
    again = load_cohort(csv_config(write_csv(tmp_path, table)), SPLIT, seed=0).fingerprint
    table.loc[0, "RPS6KA5"] += 0.001
    changed = load_cohort(csv_config(write_csv(tmp_path, table)), SPLIT, seed=0).fingerprint
    assert first == again != changed
    assert len(first) == 64


def test_bom_and_blank_lines_are_accepted(tmp_path: Path) -> None:
    table = cohort_table()
    path = tmp_path / "cohort.csv"
    text = table.to_csv(index=False).replace("\n", "\n\n", 3)
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert len(load_cohort(csv_config(path), SPLIT, seed=0).table) == 120


# --- rejections -------------------------------------------------------------------------------


def test_semicolon_delimited_file_is_rejected(tmp_path: Path) -> None:
    path = write_csv(tmp_path, cohort_table(), sep=";")
    with pytest.raises(DataError, match="looks semicolon-delimited"):
        load_cohort(csv_config(path), SPLIT, seed=0)


def test_missing_column_suggests_close_name(tmp_path: Path) -> None:
    table = cohort_table().rename(columns={"RPS6KA5": "RPS6KA5_expr"})
    with pytest.raises(
        DataError, match=r"lacks required column\(s\) 'RPS6KA5' \(did you mean 'RPS6KA5_expr'\?\)"
    ):
        load_cohort(csv_config(write_csv(tmp_path, table)), SPLIT, seed=0)


def test_text_in_numeric_column_names_rows(tmp_path: Path) -> None:
    table = cohort_table().astype({"grade": object})
    table.loc[[4, 7], "grade"] = "high"
    with pytest.raises(
        DataError,
        match=r"'grade' must be numeric, but 2 row\(s\) hold text such as \['high'\] \(patients P004, P007\)",
    ):
        load_cohort(csv_config(write_csv(tmp_path, table)), SPLIT, seed=0)


@pytest.mark.parametrize("bad_time", [0.0, -3.0, np.nan, np.inf])
def test_bad_times_are_rejected(tmp_path: Path, bad_time: float) -> None:
    table = cohort_table()
    table.loc[5, "rfs_months"] = bad_time
    with pytest.raises(
        DataError,
        match=r"'rfs_months' \(follow-up time\) must be finite and > 0, but 1 row\(s\).*P005",
    ):
        load_cohort(csv_config(write_csv(tmp_path, table)), SPLIT, seed=0)


def test_event_two_is_never_read_as_true(tmp_path: Path) -> None:
    table = cohort_table()
    table.loc[[1, 2], "relapse"] = 2
    with pytest.raises(
        DataError,
        match=r"'relapse' \(event\) must hold only 0 .* or 1 .*2 row\(s\) hold \['2'\] \(patients P001, P002\)",
    ):
        load_cohort(csv_config(write_csv(tmp_path, table)), SPLIT, seed=0)


def test_duplicated_ids_are_rejected(tmp_path: Path) -> None:
    table = cohort_table()
    table.loc[10, "pid"] = "P011"
    with pytest.raises(
        DataError,
        match=r"'pid' \(patient id\) must be unique, but 1 id\(s\) appear more than once, e.g. P011",
    ):
        load_cohort(csv_config(write_csv(tmp_path, table)), SPLIT, seed=0)


def test_constant_biomarker_is_rejected(tmp_path: Path) -> None:
    table = cohort_table().assign(RPS6KA5=1.5)
    with pytest.raises(DataError, match=r"biomarker column 'RPS6KA5' is constant"):
        load_cohort(csv_config(write_csv(tmp_path, table)), SPLIT, seed=0)


def test_too_few_events_for_cv_states_the_minimum(tmp_path: Path) -> None:
    table = cohort_table()
    table["relapse"] = 0
    table.loc[:8, "relapse"] = 1
    with pytest.raises(
        DataError,
        match=r"has 9 event\(s\) after filtering, but a 5-fold CV with test_size=0.25 needs at least 14",
    ):
        load_cohort(csv_config(write_csv(tmp_path, table)), SPLIT, seed=0)


def test_low_events_per_variable_warns(tmp_path: Path) -> None:
    table = cohort_table()
    table["relapse"] = 0
    table.loc[:19, "relapse"] = 1  # 20 events, 3 variables
    with pytest.warns(DataWarning, match=r"6\.7 events per variable"):
        load_cohort(csv_config(write_csv(tmp_path, table)), SPLIT, seed=0)


def test_file_source_needs_a_time_unit(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"data.time_unit is required for file sources"):
        load_cohort(csv_config(write_csv(tmp_path, cohort_table()), time_unit=None), SPLIT, seed=0)


def test_empty_subgroup_lists_values_found(tmp_path: Path) -> None:
    with pytest.raises(
        DataError, match=r"data.subgroup er=5 keeps no patient; column 'er' holds \['0', '1'\]"
    ):
        load_cohort(
            csv_config(write_csv(tmp_path, cohort_table()), subgroup={"er": 5}), SPLIT, seed=0
        )


def test_synthetic_source_loads_without_warnings() -> None:
    data = DataConfig.model_validate({"source": "synthetic", "synthetic": {"n_patients": 800}})
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        cohort = load_cohort(data, SPLIT, seed=4)
    pd.testing.assert_frame_equal(
        cohort.table[["patient_id", "time", "event"]],
        make_synthetic_cohort(800, seed=4)[["patient_id", "time", "event"]].astype({"time": float}),
    )


# --- public cohorts ---------------------------------------------------------------------------


def test_gse1992_has_documented_size_events_and_msk1() -> None:
    from msk1model.data.public import load_public
    from msk1model.data.public_gse import GSE1992_NON_PRIMARY

    cohort = load_public("gse1992")
    table = cohort.table
    assert (len(table), int(table["event"].sum())) == (117, 28)  # 124 shipped, 7 non-primary out
    assert not set(GSE1992_NON_PRIMARY) & set(table["patient_id"])
    assert cohort.time_unit == "months" and "relapse-free" in cohort.endpoint
    assert table["msk1"].notna().all() and table["msk1"].std() > 0
    assert table["er"].isna().sum() == 2 and set(table["er"].dropna()) == {0.0, 1.0}
    assert table["time"].between(1, 118).all()


def test_unknown_public_cohort_lists_known_ones() -> None:
    from msk1model.data.public import load_public

    with pytest.raises(
        DataError,
        match=r"unknown public cohort 'gse9999'; known cohorts: breast_cancer, gbsg2, gse1992, "
        r"gse3143, gse4335, nki70, rott2, rotterdam$",
    ):
        load_public("gse9999")


# --- value rules ------------------------------------------------------------------------------


def test_a_value_outside_the_configured_range_stops_the_load_naming_the_patients(
    tmp_path: Path,
) -> None:
    table = cohort_table()
    table.loc[[3, 7], "age"] = -42.5
    table.loc[5, "grade"] = 2.5
    config = csv_config(write_csv(tmp_path, table), ranges={"age": [0, 120]}, integer=["grade"])
    with pytest.raises(
        DataError,
        match=r"column 'age' must lie in \[0, 120\], but 2 patient\(s\) do not \(ids \['P003', "
        r"'P007'\]\); column 'grade' must be a whole number, but 1 patient\(s\) do not \(ids "
        r"\['P005'\]\)\. Fix: correct those values, or set data.ranges",
    ):
        load_cohort(config, SPLIT, seed=0)


def test_file_sources_get_only_their_configured_rules(tmp_path: Path) -> None:
    table = cohort_table()
    table.loc[3, "age"] = (
        130.0  # impossible for the canonical age, but a file's columns are its own
    )
    load_cohort(csv_config(write_csv(tmp_path, table)), SPLIT, seed=0)


def test_built_in_cohorts_get_the_canonical_rules() -> None:
    from msk1model.data.rules import value_rules

    rules = value_rules(DataConfig())  # synthetic: age size grade nodes pr, biomarker msk1
    assert rules.ranges == {
        "age": (0.0, 120.0),
        "size": (0.0, None),
        "grade": (1.0, 3.0),
        "nodes": (0.0, None),
        "pr": (0.0, 1.0),
    }
    assert rules.integer == ("grade", "nodes", "pr")
    tuned = value_rules(DataConfig(categorical=["grade"], ranges={"age": (18, 100)}))
    assert tuned.ranges["age"] == (18.0, 100.0) and "grade" not in tuned.ranges


@pytest.mark.parametrize("missing", ["drop", "impute"])
def test_an_all_missing_covariate_has_its_own_message_in_both_modes(
    tmp_path: Path, missing: str
) -> None:
    table = cohort_table()
    table["age"] = np.nan
    config = csv_config(write_csv(tmp_path, table), missing=missing)
    consequence = "drop every patient" if missing == "drop" else "no training median"
    with pytest.raises(
        DataError,
        match=rf"covariate column 'age' is entirely missing \(all 120 patients after the "
        rf"subgroup\); data.missing: {missing} .*{consequence}.*Fix: remove 'age' from "
        r"data.covariates",
    ):
        load_cohort(config, SPLIT, seed=0)
