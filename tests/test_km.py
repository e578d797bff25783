"""Kaplan-Meier and log-rank tests against lifelines' ``KaplanMeierFitter`` and log-rank tests."""

from __future__ import annotations

import numpy as np
import pytest
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test as lifelines_logrank
from lifelines.statistics import multivariate_logrank_test

from msk1model.data.synthetic import make_synthetic_cohort
from msk1model.errors import EvaluationError
from msk1model.evaluation.cutpoints import cutpoint_groups
from msk1model.evaluation.km import kaplan_meier, kaplan_meier_steps, logrank_test
from msk1model.outcome import make_y

Outcome = tuple[np.ndarray, np.ndarray, np.ndarray]


@pytest.fixture(scope="module")
def small() -> Outcome:
    """time (years), event, msk1 of the ER-positive patients of a 300-patient synthetic cohort."""
    cohort = make_synthetic_cohort(300, 11)
    pos = cohort[cohort["er"] == 1]
    return pos["time"].to_numpy(), pos["event"].to_numpy(), pos["msk1"].to_numpy()


@pytest.fixture(scope="module")
def tied(small: Outcome) -> Outcome:
    """Times on a 0.5-year grid and values on a 0.25 grid: many ties in both."""
    t, e, x = small
    return np.ceil(t * 2) / 2, e, np.round(x * 4) / 4


# --- log-rank ---------------------------------------------------------------------------------


@pytest.mark.parametrize("data", ["small", "tied"])
def test_logrank_matches_lifelines_for_two_and_three_groups(
    data: str, request: pytest.FixtureRequest
) -> None:
    t, e, x = request.getfixturevalue(data)
    two = cutpoint_groups(x, "median")
    y = make_y(time=t, event=e)
    ours = logrank_test(y, two)
    theirs = lifelines_logrank(t[two == "low"], t[two == "high"], e[two == "low"], e[two == "high"])
    assert ours.df == 1
    assert ours.statistic == pytest.approx(theirs.test_statistic, abs=1e-8)
    assert ours.p == pytest.approx(theirs.p_value, abs=1e-8)
    three = cutpoint_groups(x, "tertiles")
    ours = logrank_test(y, three)
    theirs = multivariate_logrank_test(t, three, e)
    assert ours.df == 2
    assert ours.statistic == pytest.approx(theirs.test_statistic, abs=1e-8)
    assert ours.p == pytest.approx(theirs.p_value, abs=1e-8)


def test_logrank_needs_two_groups_and_no_missing_labels(small: Outcome) -> None:
    t, e, _ = small
    y = make_y(time=t, event=e)
    with pytest.raises(EvaluationError, match="needs at least two groups"):
        logrank_test(y, np.zeros(len(t)))
    labels = np.array(["a", "b"] * (len(t) // 2) + ["a"] * (len(t) % 2), dtype=object)
    labels[0] = None
    with pytest.raises(
        EvaluationError, match=r"groups must hold one label per patient .* 1 missing"
    ):
        logrank_test(y, labels)


# --- Kaplan-Meier -----------------------------------------------------------------------------


def test_kaplan_meier_matches_lifelines_at_given_times(gbsg2) -> None:
    """GBSG2 (recurrence-free survival, years) by grade: two groups pass their median."""
    X, event, time = gbsg2
    groups = X["grade"].map({1.0: "I", 2.0: "II", 3.0: "III"}).to_numpy()
    at = [0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 7.0, 9.0]
    table = kaplan_meier(make_y(time=time, event=event), groups, at)
    assert list(table.columns) == [
        "group",
        "time",
        "survival",
        "lower",
        "upper",
        "at_risk",
        "median",
    ]
    assert list(table["group"].cat.categories) == ["I", "II", "III"]
    medians = []
    for label, rows in table.groupby("group", observed=True):
        mask = groups == label
        km = KaplanMeierFitter().fit(time[mask], event[mask])
        ci = km.confidence_interval_survival_function_
        expected_ci = np.array([ci.loc[:t].iloc[-1].to_numpy() for t in at])
        np.testing.assert_allclose(rows["survival"], km.survival_function_at_times(at), atol=1e-8)
        np.testing.assert_allclose(rows[["lower", "upper"]], expected_ci, atol=1e-8)
        assert rows["at_risk"].tolist() == [int((time[mask] >= t).sum()) for t in at]
        assert (rows["median"] == km.median_survival_time_).all()
        medians.append(km.median_survival_time_)
    assert sum(np.isfinite(medians)) == 2  # the test covers a reached and an unreached median


def test_kaplan_meier_down_to_zero_and_steps_match_lifelines() -> None:
    time = np.array([0.5, 1.0, 1.0, 2.0, 2.5, 3.0, 4.0])
    event = np.array([1, 1, 0, 1, 0, 1, 1])  # the last patient has the event: S drops to 0
    y = make_y(time=time, event=event)
    table = kaplan_meier(y, None, [0.0, 1.0, 3.5, 4.0, 6.0])
    km = KaplanMeierFitter().fit(time, event)
    ci = km.confidence_interval_survival_function_
    expected_ci = np.array([ci.loc[:t].iloc[-1].to_numpy() for t in table["time"]])
    np.testing.assert_allclose(table["survival"], km.survival_function_at_times(table["time"]))
    np.testing.assert_allclose(table[["lower", "upper"]], expected_ci, atol=1e-8)
    assert table["at_risk"].tolist() == [7, 6, 1, 1, 0]
    assert table["median"].iloc[0] == km.median_survival_time_ == 3.0  # S(3) = 0.268
    steps, survival = kaplan_meier_steps(y)
    np.testing.assert_array_equal(steps, km.timeline)
    np.testing.assert_allclose(survival, km.survival_function_["KM_estimate"], atol=1e-12)


def test_kaplan_meier_rejects_unsorted_times(small: Outcome) -> None:
    t, e, _ = small
    with pytest.raises(
        EvaluationError, match=r"times must be finite, >= 0 and strictly increasing"
    ):
        kaplan_meier(make_y(time=t, event=e), None, [5.0, 1.0])
