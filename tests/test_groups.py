"""Table 1 and the group hazard ratio, against scipy and lifelines computed directly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from scipy import stats
from sksurv.datasets import load_gbsg2

from msk1model.errors import EvaluationError
from msk1model.evaluation.groups import characteristics_by_group, group_hazard_ratios


@pytest.fixture(scope="module")
def gbsg2() -> pd.DataFrame:
    X, y = load_gbsg2()
    frame = pd.DataFrame(
        {
            "age": X["age"].to_numpy(float),
            "size": X["tsize"].to_numpy(float),
            "grade": X["tgrade"].astype(str).to_numpy(),
            "nodes": X["pnodes"].to_numpy(float),
            "pgr": X["progrec"].to_numpy(float),
            "time": y["time"] / 365.25,
            "event": y["cens"].astype(float),
        }
    )
    frame.loc[[3, 10, 200], "size"] = np.nan  # a few missing values, counted and left out
    return frame


def _groups(frame: pd.DataFrame) -> np.ndarray:
    return np.where(frame["pgr"] <= frame["pgr"].median(), "low", "high")


def test_continuous_rows_give_median_iqr_and_the_mann_whitney_p(gbsg2: pd.DataFrame) -> None:
    groups = _groups(gbsg2)
    out = characteristics_by_group(gbsg2, groups, ["size"])
    assert list(out["group"]) == ["high", "low", "all"]
    size = gbsg2["size"].to_numpy()
    for row in out.itertuples():
        values = size if row.group == "all" else size[groups == row.group]
        kept = values[~np.isnan(values)]
        assert row.n == len(kept) and row.missing == len(values) - len(kept)
        assert row.median == pytest.approx(np.median(kept), abs=1e-12)
        assert (row.q1, row.q3) == pytest.approx(tuple(np.quantile(kept, [0.25, 0.75])))
    low, high = (size[(groups == g) & ~np.isnan(size)] for g in ("low", "high"))
    p = stats.mannwhitneyu(high, low, alternative="two-sided").pvalue
    assert out["p"].to_numpy() == pytest.approx([p] * 3, abs=1e-12)
    assert set(out["test"]) == {"Mann-Whitney U"}
    assert out.loc[2, "missing"] == 3


def test_three_groups_use_kruskal_wallis(gbsg2: pd.DataFrame) -> None:
    groups = pd.qcut(gbsg2["pgr"].rank(method="first"), 3, labels=["low", "mid", "high"])
    out = characteristics_by_group(gbsg2, groups, ["age"])
    assert list(out["group"]) == ["low", "mid", "high", "all"]  # category order
    samples = [gbsg2["age"][groups == g] for g in ("low", "mid", "high")]
    assert out["p"].iloc[0] == pytest.approx(stats.kruskal(*samples).pvalue, abs=1e-12)


def test_categorical_rows_count_levels_and_give_pearsons_chi_square(gbsg2: pd.DataFrame) -> None:
    groups = _groups(gbsg2)
    out = characteristics_by_group(gbsg2, groups, ["grade"], categorical=["grade"])
    crosstab = pd.crosstab(gbsg2["grade"], groups)
    assert sorted(set(out["level"])) == sorted(crosstab.index)
    for row in out.itertuples():
        n = (
            crosstab.loc[row.level].sum()
            if row.group == "all"
            else crosstab.loc[row.level, row.group]
        )
        of = len(gbsg2) if row.group == "all" else int((groups == row.group).sum())
        assert (row.n, row.of) == (n, of)
        assert row.percent == pytest.approx(100 * n / of, abs=1e-12)
    expected = stats.chi2_contingency(crosstab.to_numpy(), correction=False).pvalue
    assert out["p"].iloc[0] == pytest.approx(expected, abs=1e-12)
    assert set(out["test"]) == {"chi-square"}


def test_a_sparse_two_by_two_table_uses_fishers_exact_test() -> None:
    frame = pd.DataFrame({"er": [1] * 9 + [0] * 1 + [1] * 5 + [0] * 5})
    groups = ["a"] * 10 + ["b"] * 10
    out = characteristics_by_group(frame, groups, ["er"], categorical=["er"])
    expected = stats.fisher_exact([[1, 5], [9, 5]]).pvalue
    assert out["p"].iloc[0] == pytest.approx(expected, abs=1e-12)
    assert out["test"].iloc[0] == "Fisher's exact"
    assert list(out["level"].unique()) == ["0", "1"]  # whole floats and ints read as integers


def test_unknown_columns_and_missing_labels_are_refused(gbsg2: pd.DataFrame) -> None:
    with pytest.raises(EvaluationError, match=r"\['ki67'\] are not in the table"):
        characteristics_by_group(gbsg2, _groups(gbsg2), ["ki67"])
    labels = pd.Series(_groups(gbsg2)).where(lambda s: s.index != 5)
    with pytest.raises(EvaluationError, match="with 1 missing"):
        characteristics_by_group(gbsg2, labels, ["age"])
    with pytest.raises(EvaluationError, match="'grade' must be numeric"):
        characteristics_by_group(gbsg2, _groups(gbsg2), ["grade"])


def test_group_hazard_ratio_equals_lifelines_on_an_indicator(gbsg2: pd.DataFrame) -> None:
    groups = _groups(gbsg2)
    out = group_hazard_ratios(gbsg2, groups, ["age", "size", "nodes"], reference="low")
    assert list(zip(out["model"], out["comparison"], strict=True)) == [
        ("unadjusted", "high vs low"),
        ("adjusted", "high vs low"),
    ]
    frame = gbsg2.assign(high=(groups == "high").astype(float)).dropna(subset=["size"])
    for row, columns in zip(
        out.itertuples(), (["high"], ["high", "age", "size", "nodes"]), strict=True
    ):
        cox = CoxPHFitter().fit(frame[[*columns, "time", "event"]], "time", "event")
        summary = cox.summary.loc["high"]
        assert row.hr == pytest.approx(summary["exp(coef)"], rel=1e-6)
        assert row.lower == pytest.approx(summary["exp(coef) lower 95%"], rel=1e-6)
        assert row.upper == pytest.approx(summary["exp(coef) upper 95%"], rel=1e-6)
        assert row.p == pytest.approx(summary["p"], rel=1e-5)
        assert (row.n, row.events) == (len(frame), int(frame["event"].sum()))
    assert out["hr"].iloc[0] < 1  # a high progesterone receptor marks the lower hazard


def test_group_hazard_ratio_needs_a_known_reference(gbsg2: pd.DataFrame) -> None:
    with pytest.raises(EvaluationError, match="reference must be one of at least two groups"):
        group_hazard_ratios(gbsg2, _groups(gbsg2), reference="mid")
