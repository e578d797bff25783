"""Derived (binned) columns and administrative censoring (msk1model.data.derived), as applied by
load_cohort, on a tiny hand-made file cohort whose expected values are written out."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from msk1model.config import DataConfig, DerivedBins, SplitConfig, load_config
from msk1model.data.cohort import Cohort, cohort_definition, load_cohort
from msk1model.data.derived import administratively_censor, bin_codes
from msk1model.data.rules import feature_units, value_rules
from msk1model.data.validation import DataWarning
from msk1model.errors import ConfigError, DataError

from .conftest import DEFAULT_CONFIG

SPLIT = SplitConfig(test_size=0.25, cv_folds=2)  # needs 10 events: the tiny cohort has them
NAN = float("nan")
SIZE_MM = [5, 20, 20.5, 21, 35, 50, 50.1, 80, NAN, 0, 12, 49.9, 51, 20, 30, 60, 15, 45, 55, 25]
#: size with bins [20, 50]: 1 = <= 20, 2 = (20, 50], 3 = > 50 (P09's size is missing)
SIZE_CATEGORY = [1, 1, 2, 2, 2, 2, 3, 3, NAN, 1, 1, 2, 3, 1, 2, 3, 1, 2, 3, 2]
NODES = [0, 1, 3, 0, 2, 5, 1, 0, 4, 1, 2, 6, 0, 7, 1, 2, 3, 1, 8, 2]
MONTHS = [10, 70, 30, 80, 65, 12, 100, 55, 40, 61, 59, 60, 90, 24, 72, 6, 48, 120, 66, 33]
EVENT = [1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1]
NODE_POSITIVE = {"node_positive": {"source": "nodes", "bins": [0]}}
SIZE_BINS = {"size_category": {"source": "size", "bins": [20, 50]}}


def tiny_table() -> pd.DataFrame:
    n = len(SIZE_MM)
    return pd.DataFrame(
        {
            "pid": [f"P{i + 1:02d}" for i in range(n)],
            "months": MONTHS,
            "relapse": EVENT,
            "age": [40 + 2 * i for i in range(n)],
            "size": SIZE_MM,
            "nodes": NODES,
            "grade": [1 + i % 3 for i in range(n)],
            "marker": [0.1 * i - 0.7 * (i % 4) for i in range(n)],
        }
    )


def config(path: Path, **changes: object) -> DataConfig:
    settings: dict[str, object] = {
        "source": str(path),
        "time_unit": "months",
        "columns": {"id": "pid", "time": "months", "event": "relapse", "biomarker": "marker"},
        "covariates": ["age"],
    }
    return DataConfig.model_validate({**settings, **changes})


def write(tmp_path: Path, table: pd.DataFrame) -> Path:
    path = tmp_path / "tiny.csv"
    table.to_csv(path, index=False)
    return path


def load(data: DataConfig) -> Cohort:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # a tiny cohort: few events per variable
        return load_cohort(data, SPLIT, seed=0)


# --- binning --------------------------------------------------------------------------------------


def test_bin_codes_are_right_closed_and_keep_missing() -> None:
    found = bin_codes(pd.Series(SIZE_MM), [20, 50])
    np.testing.assert_array_equal(found.to_numpy(), SIZE_CATEGORY)  # NaN == NaN here
    np.testing.assert_array_equal(bin_codes(pd.Series([-1, 0, 0.5, 3]), [0]), [1, 1, 2, 2])
    np.testing.assert_array_equal(bin_codes(pd.Series([2, 2.5, 3]), [2]), [1, 2, 2])


@pytest.mark.parametrize("bins", [[20, 50], [0], [1.5, 2.5, 10, 40], [-5, 0, 5]])
def test_bin_codes_agree_with_numpy_digitize_and_pandas_cut(bins: list[float]) -> None:
    x = np.random.default_rng(3).normal(20, 25, 500).round(0)  # ties at the cut points
    x[::17] = np.nan
    x = np.concatenate([x, bins])  # every cut point itself: the closed right end
    found = bin_codes(pd.Series(x), bins).to_numpy()
    known = ~np.isnan(x)
    digitized = np.digitize(x[known], bins, right=True) + 1
    cut = pd.cut(x, [-np.inf, *bins, np.inf], right=True, labels=False) + 1
    np.testing.assert_array_equal(found[known], digitized)
    np.testing.assert_array_equal(found, cut)  # both NaN where x is
    assert np.isnan(found[~known]).all() and (~known).sum() == 30


# --- derived columns in load_cohort --------------------------------------------------------------


def test_derived_column_is_a_covariate_with_its_exact_codes(tmp_path: Path) -> None:
    data = config(
        write(tmp_path, tiny_table()),
        derived=SIZE_BINS,
        covariates=["age", "size_category"],
        categorical=["size_category"],
    )
    cohort = load(data)
    expected = pd.Series(SIZE_CATEGORY, index=[f"P{i + 1:02d}" for i in range(20)]).drop("P09")
    assert cohort.table["pid"].tolist() == expected.index.tolist()
    assert cohort.table["size_category"].tolist() == expected.tolist()
    assert cohort.features("clinical") == ["age", "size_category"]
    assert [(s.patients, s.events) for s in cohort.flow] == [(20, 16), (19, 15)]
    assert cohort.flow[-1].step == "complete cases (missing values dropped: size_category: 1)"


def test_subgroup_on_a_derived_column_keeps_node_positive_patients(tmp_path: Path) -> None:
    data = config(
        write(tmp_path, tiny_table()), derived=NODE_POSITIVE, subgroup={"node_positive": 2}
    )
    cohort = load(data)
    positive = [f"P{i + 1:02d}" for i, n in enumerate(NODES) if n > 0]
    assert cohort.table["pid"].tolist() == positive and len(positive) == 16
    assert cohort.flow[-1].step == "subgroup node_positive in [2]"
    assert cohort.flow[-1].events == sum(e for e, n in zip(EVENT, NODES, strict=True) if n > 0)
    assert cohort.flow[-1].events == 15


def test_cohort_definition_and_units_state_the_derived_columns(tmp_path: Path) -> None:
    data = config(
        write(tmp_path, tiny_table()),
        derived={**SIZE_BINS, **NODE_POSITIVE},
        covariates=["age", "size_category"],
        administrative_censoring=5,
    )
    assert cohort_definition(data).endswith(
        "; derived node_positive = nodes: 1 <= 0, 2 > 0; size_category = size: 1 <= 20, "
        "2 in (20, 50], 3 > 50; administratively censored at 5 years"
    )
    assert feature_units(data)["size_category"] == "bins of size: 1 <= 20, 2 in (20, 50], 3 > 50"
    plain = load_config(DEFAULT_CONFIG).data
    assert "derived" not in cohort_definition(plain) and "censored" not in cohort_definition(plain)


def test_a_numeric_derived_column_may_only_hold_its_codes(tmp_path: Path) -> None:
    path = write(tmp_path, tiny_table())
    both = {**SIZE_BINS, **NODE_POSITIVE}
    data = config(path, derived=both, covariates=["age", "size_category", "node_positive"])
    rules = value_rules(data)
    assert rules.ranges == {"size_category": (1.0, 3.0), "node_positive": (1.0, 2.0)}
    assert rules.integer == ("size_category", "node_positive")
    categorical = config(
        path, derived=both, covariates=["size_category"], categorical=["size_category"]
    )
    assert value_rules(categorical).ranges == {}  # a category keeps its training levels


def test_a_derived_name_that_is_a_raw_column_is_refused(tmp_path: Path) -> None:
    data = config(
        write(tmp_path, tiny_table()), derived={"grade": {"source": "size", "bins": [20]}}
    )
    with pytest.raises(
        DataError,
        match=r"data.derived names \['grade'\], but .*tiny.csv already has column\(s\) of that "
        r"name; a derived column must not replace a raw one. Fix: give the derived column another "
        r"name \(e.g. grade_category\)",
    ):
        load(data)


def test_a_missing_or_derived_source_is_named_with_a_fix(tmp_path: Path) -> None:
    path = write(tmp_path, tiny_table())
    with pytest.raises(
        DataError,
        match=r"data.derived.size_category.source is 'sise', which is not a column of .*tiny.csv "
        r"\(did you mean 'size'\?\); it has \['pid', .*Fix: name a raw column as the source",
    ):
        load(config(path, derived={"size_category": {"source": "sise", "bins": [20, 50]}}))
    chained = {"big": {"source": "size", "bins": [50]}, "bigger": {"source": "big", "bins": [1]}}
    with pytest.raises(DataError, match=r"source is 'big', .*\(it is another derived column; "):
        load(config(path, derived=chained))


def test_a_text_source_column_names_its_rows(tmp_path: Path) -> None:
    table = tiny_table().astype({"size": object})
    table.loc[4, "size"] = "large"
    with pytest.raises(DataError, match=r"column 'size' must be numeric, .*\['large'\].*P05"):
        load(config(write(tmp_path, table), derived=SIZE_BINS))


@pytest.mark.parametrize(
    ("bins", "message"),
    [
        ("[50, 20]", r"data.derived.x.bins': Value error, bins must be finite cut points in "
         r"strictly increasing order, but got \[50.0, 20.0\]. Fix: sort them and drop repeats, "
         r"e.g. \[20.0, 50.0\]"),
        ("[0, 0]", r"strictly increasing order, but got \[0.0, 0.0\]. Fix: .* e.g. \[0.0\]"),
        ("[1, .inf]", r"bins must be finite cut points"),
        ("[]", r"data.derived.x.bins': List should have at least 1 item"),
    ],
)  # fmt: skip
def test_bins_must_increase_strictly(bins: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(DEFAULT_CONFIG, [f"data.derived={{x: {{source: size, bins: {bins}}}}}"])
    assert DerivedBins(source="size", bins=[20, 50]).bins == [20.0, 50.0]


# --- administrative censoring --------------------------------------------------------------------


def test_administrative_censoring_matches_a_direct_computation(tmp_path: Path) -> None:
    cohort = load(config(write(tmp_path, tiny_table()), administrative_censoring=5))
    years, event = np.asarray(MONTHS) / 12.0, np.asarray(EVENT)
    np.testing.assert_allclose(cohort.time, np.minimum(years, 5.0), rtol=1e-12)
    np.testing.assert_array_equal(cohort.event, (event == 1) & (years <= 5.0))
    assert cohort.time.max() == 5.0 and cohort.event[MONTHS.index(60)]  # at 5 years: kept
    assert [(s.patients, s.events) for s in cohort.flow] == [(20, 16), (20, 10)]
    assert cohort.flow[1].step == (
        "administratively censored at 5 years (9 patients followed longer, 6 of their events "
        "after 5 years not counted)"
    )


def test_administrative_censoring_of_a_random_table_against_numpy() -> None:
    rng = np.random.default_rng(8)
    table = pd.DataFrame({"time": rng.exponential(4.0, 1000), "event": rng.integers(0, 2, 1000)})
    censored, step = administratively_censor(table, 3.5)
    later = table["time"].to_numpy() > 3.5
    np.testing.assert_array_equal(censored["time"], np.where(later, 3.5, table["time"]))
    np.testing.assert_array_equal(censored["event"], table["event"] * ~later)
    assert f"({later.sum()} patients followed longer, " in step
    assert f"{int(table['event'][later].sum())} of their events after 3.5 years" in step
    assert table["time"].max() > 3.5  # the input is left as it was


def test_administrative_censoring_must_be_positive() -> None:
    with pytest.raises(
        ConfigError, match=r"'data.administrative_censoring': Input should be greater than 0"
    ):
        load_config(DEFAULT_CONFIG, ["data.administrative_censoring=0"])
