"""The synthetic cohort's competing events and the data warnings (heavy censoring, extreme values)."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter

from msk1model.config import CompetingEndpoint, DataConfig, SplitConfig, load_config
from msk1model.data.cohort import load_cohort
from msk1model.data.synthetic import (
    EVENT_TYPES,
    TRUE_BONE_LOG_HR,
    TRUE_DEATH_LOG_HR_AGE_PER10,
    TRUE_LOG_HR,
    design_matrix,
    make_synthetic_cohort,
)
from msk1model.data.validation import (
    DataWarning,
    check_biomarker_extremes,
    check_censoring,
    extreme_z_limit,
)

from .conftest import ROOT

SPLIT = SplitConfig(test_size=0.25, cv_folds=5)
ORIGINAL_COLUMNS = [
    "patient_id",
    "time",
    "event",
    "age",
    "size",
    "grade",
    "nodes",
    "er",
    "pr",
    "msk1",
]
COMPETING_COLUMNS = [
    "relapse_free_time",
    "relapse_free_event",
    "event_type",
    "metastasis_event",
    "bone_event",
    "death_event",
]
#: SHA-256 of ``cohort[ORIGINAL_COLUMNS].to_csv(index=False)``, computed before the competing
#: events were added: the new draws must leave every earlier column unchanged.
FROZEN_CSV_SHA256 = {
    (300, 11): "0a62c34df735f1eb739108509474ff234a1e509d298c168999b87af9951879a1",
    (800, 4): "b31e6cc1ee65a8bee842851bd3db5ff902e979bce6628e44b2dc823db3baadd0",
    (2000, 20180515): "b80894990626fbbe03e9a992bd8c582ade56ae31382f02f826c3447e66eb4c99",
}


@pytest.fixture(scope="module")
def large() -> pd.DataFrame:
    return make_synthetic_cohort(60_000, seed=1)


def fit_cox(cohort: pd.DataFrame, terms: list[str], time: str, event: str) -> CoxPHFitter:
    design = design_matrix(cohort)[terms].assign(_time=cohort[time], _event=cohort[event])
    return CoxPHFitter().fit(design, duration_col="_time", event_col="_event")


# --- columns ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "seed"), sorted(FROZEN_CSV_SHA256))
def test_original_columns_are_unchanged(n: int, seed: int) -> None:
    cohort = make_synthetic_cohort(n, seed)
    text = cohort[ORIGINAL_COLUMNS].to_csv(index=False)
    assert hashlib.sha256(text.encode()).hexdigest() == FROZEN_CSV_SHA256[(n, seed)]


def test_first_patients_are_pinned_and_new_columns_follow_the_old_ones() -> None:
    cohort = make_synthetic_cohort(5, seed=0)
    assert list(cohort.columns) == ORIGINAL_COLUMNS + COMPETING_COLUMNS
    assert list(cohort["time"]) == [10.0, 10.0, 10.0, 5.3031, 3.3756]
    assert list(cohort["event"]) == [0, 0, 0, 0, 1]


def test_competing_columns_are_deterministic_and_depend_on_the_seed() -> None:
    a, b = make_synthetic_cohort(500, seed=3), make_synthetic_cohort(500, seed=3)
    pd.testing.assert_frame_equal(a, b)
    other = make_synthetic_cohort(500, seed=4)
    assert not a["relapse_free_time"].equals(other["relapse_free_time"])


def test_event_types_are_consistent(large: pd.DataFrame) -> None:
    c = large
    event_type, rft = c["event_type"], c["relapse_free_time"]
    assert set(event_type) == set(EVENT_TYPES)
    assert (c["relapse_free_event"] == (event_type > 0)).all()
    assert (c["metastasis_event"] == event_type.isin([1, 2])).all()
    assert (c["bone_event"] == (event_type == 2)).all()
    assert (c["death_event"] == (event_type == 3)).all()
    metastasis = c["metastasis_event"] == 1  # bone or not: the metastasis of `event`, seen first
    assert (c.loc[metastasis, "event"] == 1).all()
    assert (rft[metastasis] == c.loc[metastasis, "time"]).all()
    censored = event_type == 0  # censored before metastasis and death: as in `time`/`event`
    assert (c.loc[censored, "event"] == 0).all()
    assert (rft[censored] == c.loc[censored, "time"]).all()
    assert (rft > 0).all() and (rft <= c["time"]).all() and rft.max() <= 10.0


def test_death_pre_empts_metastasis_only_in_the_competing_columns(large: pd.DataFrame) -> None:
    """`time`/`event` ignore death (net endpoint); a death before a later metastasis is still a
    death in ``event_type``, so ``death_event == 1`` comes with ``event == 1`` in some patients."""
    deaths = large[large["death_event"] == 1]
    assert (deaths["relapse_free_time"] < deaths["time"]).any()
    assert 0.1 < deaths["event"].mean() < 0.4  # measured 0.24 in a 1,000,000-patient cohort


def test_bone_share_of_first_metastases_follows_er(large: pd.DataFrame) -> None:
    first = large[large["metastasis_event"] == 1]
    share = first.groupby("er")["bone_event"].mean()
    assert share[0] == pytest.approx(0.30, abs=0.02)
    assert share[1] == pytest.approx(0.52, abs=0.02)  # 0.50 at mean MSK1; more at low MSK1


# --- true hazards -----------------------------------------------------------------------------


def test_bone_cause_specific_hazard_recovers_its_log_hazard_ratios(large: pd.DataFrame) -> None:
    """Every term within 4 standard errors (n = 60,000, about 10,000 bone events; SEs 0.01-0.03).

    The MSK1 and ER terms are also shown to differ from those of metastasis at any site, so the
    test can tell the bone cause from the whole.
    """
    fit = fit_cox(large, list(TRUE_BONE_LOG_HR), "relapse_free_time", "bone_event")
    for term, truth in TRUE_BONE_LOG_HR.items():
        assert abs(fit.params_[term] - truth) < 4 * fit.standard_errors_[term], term
    for term in ("er", "msk1_in_er_pos"):
        assert abs(fit.params_[term] - TRUE_LOG_HR[term]) > 8 * fit.standard_errors_[term], term


def test_death_hazard_recovers_its_age_log_hazard_ratio() -> None:
    cohort = make_synthetic_cohort(20_000, seed=2)
    fit = fit_cox(cohort, ["age_per10"], "relapse_free_time", "death_event")
    estimate, se = fit.params_["age_per10"], fit.standard_errors_["age_per10"]
    assert abs(estimate - TRUE_DEATH_LOG_HR_AGE_PER10) < 4 * se  # se about 0.02


@pytest.mark.slow
@pytest.mark.parametrize(
    ("time", "event", "truth"),
    [
        ("time", "event", TRUE_LOG_HR),
        ("relapse_free_time", "metastasis_event", TRUE_LOG_HR),
        ("relapse_free_time", "bone_event", TRUE_BONE_LOG_HR),
    ],
    ids=["metastasis", "metastasis-death-competing", "bone"],
)
def test_every_true_log_hazard_ratio_within_0_05_at_200_000(
    time: str, event: str, truth: dict[str, float]
) -> None:
    cohort = make_synthetic_cohort(200_000, seed=2018)
    fit = fit_cox(cohort, list(truth), time, event)
    for term, value in truth.items():
        assert fit.params_[term] == pytest.approx(value, abs=0.05), term


# --- heavy censoring --------------------------------------------------------------------------


def events(n_events: int, n: int) -> np.ndarray:
    return np.arange(n) < n_events


def test_heavy_censoring_with_few_events_warns_with_share_and_counts() -> None:
    with pytest.warns(
        DataWarning,
        match=r"heavy censoring: 85% of patients are censored \(170 of 200\) and only 30 have an "
        r"event in column 'relapse'.*Try 1\) checking that 1 means event.*tuning\.metric: uno_c",
    ):
        check_censoring(events(30, 200), "relapse")


@pytest.mark.parametrize(
    ("n_events", "n"),
    [(40, 200), (100, 1000), (500, 5000)],
    ids=["80%-censored", "100-events", "many-events"],
)
def test_censoring_at_the_limits_does_not_warn(n_events: int, n: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        check_censoring(events(n_events, n), "relapse")


def test_heavy_censoring_is_checked_when_loading() -> None:
    """Deaths without metastasis in 582 ER-positive patients: 49 events (8%)."""
    data = DataConfig.model_validate(
        {
            "synthetic": {"n_patients": 800},
            "columns": {"time": "relapse_free_time", "event": "death_event"},
            "covariates": ["age"],  # 24 events per variable: no warning about those
            "subgroup": {"er": 1},
        }
    )
    with pytest.warns(
        DataWarning,
        match=r"heavy censoring: 92% of patients are censored \(533 of 582\) and only 49 .*'death_event'",
    ):
        load_cohort(data, SPLIT, seed=4)


# --- extreme biomarker values -----------------------------------------------------------------


def test_extreme_biomarker_values_are_named_by_patient_id() -> None:
    table = make_synthetic_cohort(500, seed=1)
    table.loc[[3, 10], "msk1"] = 2.0 ** table.loc[[3, 10], "msk1"]  # two values left unlogged
    with pytest.warns(
        DataWarning,
        match=r"biomarker column 'msk1' has 2 extreme value\(s\), more than 5 robust SDs from the "
        r"median \(7\.868, robust SD 0\.9335; patients SYN0000004, SYN0000011\)\..*log2 transform",
    ):
        check_biomarker_extremes(table, "msk1", "patient_id")


def test_unlogged_biomarker_warns_with_at_most_five_ids() -> None:
    table = make_synthetic_cohort(2000, seed=1).assign(msk1=lambda t: 2.0 ** t["msk1"])
    with pytest.warns(DataWarning, match=r"patients (SYN\d{7}, ){5}\.\.\.\)\. Such values"):
        check_biomarker_extremes(table, "msk1", "patient_id")


def test_normal_biomarker_does_not_warn_even_in_a_million_values() -> None:
    values = np.random.default_rng(0).normal(8.0, 1.0, size=1_000_000)
    table = pd.DataFrame({"pid": np.arange(len(values)), "x": values})
    assert extreme_z_limit(2000) == 5.0 and extreme_z_limit(1_000_000) == pytest.approx(
        5.73, abs=0.01
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        check_biomarker_extremes(table, "x", "pid")


def test_mostly_zero_biomarker_uses_the_mean_absolute_deviation() -> None:
    """MAD is 0 when most values are equal; the mean absolute deviation stands in for the SD."""
    values = np.zeros(200)
    values[:40] = 1.0
    values[0] = 50.0
    table = pd.DataFrame({"pid": [f"P{i}" for i in range(200)], "x": values})
    with pytest.warns(DataWarning, match=r"1 extreme value\(s\).*patients P0\)"):
        check_biomarker_extremes(table, "x", "pid")


def test_extreme_values_are_checked_when_loading(tmp_path: Path) -> None:
    table = make_synthetic_cohort(800, seed=4)
    table.loc[7, "msk1"] = 250.0
    path = tmp_path / "cohort.csv"
    table.to_csv(path, index=False)
    data = DataConfig.model_validate({"source": str(path), "time_unit": "years"})
    with pytest.warns(DataWarning, match=r"1 extreme value\(s\).*patients SYN0000008\)"):
        load_cohort(data, SPLIT, seed=0)


# --- shipped experiments ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["bone_relapse", "gse1992"])
def test_new_warnings_stay_quiet_on_shipped_experiments(name: str) -> None:
    config = load_config(ROOT / "experiments" / f"{name}.yaml")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        load_cohort(config.data, config.split, config.seed)
    texts = [str(w.message) for w in caught]
    assert not [t for t in texts if "heavy censoring" in t or "extreme value" in t], texts


def test_bone_relapse_experiment_is_the_competing_risks_analysis() -> None:
    config = load_config(ROOT / "experiments" / "bone_relapse.yaml")
    assert config.experiment == "msk1-bone-relapse"
    assert config.export.model_name == "msk1-prognostic-bone-relapse"
    assert config.data.columns.time == "relapse_free_time"
    assert isinstance(config.data.endpoint, CompetingEndpoint)
    assert (config.data.endpoint.cause, config.data.endpoint.competing) == (2, [1, 3])
    assert config.data.subgroup == {"er": 1}
    cohort = load_cohort(config.data, config.split, config.seed)
    assert (len(cohort.table), int(cohort.event.sum())) == (1516, 269)
    assert cohort.flow[-1].competing_events == int((cohort.event_type == 2).sum()) == 389


def test_a_million_patients_have_positive_times() -> None:
    """At 10^6 patients a few relapse within the first hour: recorded at 1e-4 years, not 0."""
    from msk1model.data.synthetic import TIME_RESOLUTION

    table = make_synthetic_cohort(1_000_000, seed=0)
    assert table["time"].min() == TIME_RESOLUTION and table["relapse_free_time"].min() > 0
    short = table["time"] <= TIME_RESOLUTION
    assert 0 < short.sum() < 50  # a handful, now kept at the resolution
    rounded = table.loc[~short, "time"]
    np.testing.assert_array_equal(rounded, np.round(rounded, 4))
