"""Likelihood-ratio test and decision curves against independent computations.

Counterparts: lifelines' own Cox fits (``log_likelihood_``, ``log_likelihood_ratio_test``), the
classical net-benefit formula without censoring, and lifelines' Kaplan-Meier among the positives.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, KaplanMeierFitter
from scipy import stats

from msk1model.data.synthetic import make_synthetic_cohort
from msk1model.errors import DataError, EvaluationError
from msk1model.evaluation.added_value import decision_curve, likelihood_ratio_test
from msk1model.outcome import make_y

CLINICAL = ["age", "size", "grade", "nodes", "pr"]


@pytest.fixture(scope="module")
def er_positive() -> pd.DataFrame:
    """2,000 ER-positive synthetic patients (MSK1 acts only there)."""
    cohort = make_synthetic_cohort(2800, seed=3)
    cohort = cohort[cohort["er"] == 1].iloc[:2000].reset_index(drop=True)
    assert len(cohort) == 2000
    return cohort


def lifelines_loglik(frame: pd.DataFrame, covariates: list[str]) -> float:
    return float(
        CoxPHFitter().fit(frame[[*covariates, "time", "event"]], "time", "event").log_likelihood_
    )


# --- likelihood-ratio test ------------------------------------------------------------------


def test_lrt_matches_lifelines_log_likelihoods_and_finds_msk1(er_positive) -> None:
    result = likelihood_ratio_test(er_positive, CLINICAL, ["msk1"])
    ll_base = lifelines_loglik(er_positive, CLINICAL)
    ll_full = lifelines_loglik(er_positive, [*CLINICAL, "msk1"])
    assert result.loglik_base == pytest.approx(ll_base, abs=1e-8)
    assert result.loglik_full == pytest.approx(ll_full, abs=1e-8)
    assert result.statistic == pytest.approx(2 * (ll_full - ll_base), abs=1e-8)
    assert result.p_value == pytest.approx(stats.chi2.sf(2 * (ll_full - ll_base), 1), rel=1e-6)
    assert (result.df, result.n, result.n_events) == (1, 2000, int(er_positive["event"].sum()))
    assert result.p_value < 1e-3  # true log HR -0.43 per SD of MSK1


def test_lrt_reads_the_outcome_columns_it_is_given(er_positive) -> None:
    renamed = er_positive.rename(columns={"time": "rfs_years", "event": "relapse"})
    result = likelihood_ratio_test(
        renamed, CLINICAL, ["msk1"], duration_col="rfs_years", event_col="relapse"
    )
    assert result == likelihood_ratio_test(er_positive, CLINICAL, ["msk1"])


def test_lrt_fits_both_models_on_the_rows_complete_for_every_column(er_positive) -> None:
    table = er_positive.copy()
    table.loc[:99, "msk1"] = np.nan  # missing only in the added covariate
    table.loc[100:149, "grade"] = np.nan
    result = likelihood_ratio_test(table, CLINICAL, ["msk1"])
    complete = table.dropna(subset=[*CLINICAL, "msk1"])
    assert result.n == len(complete) == 1850
    assert result.loglik_base == pytest.approx(lifelines_loglik(complete, CLINICAL), abs=1e-8)
    assert result.loglik_full == pytest.approx(
        lifelines_loglik(complete, [*CLINICAL, "msk1"]), abs=1e-8
    )


def test_lrt_against_the_null_model_is_lifelines_own_test(er_positive) -> None:
    result = likelihood_ratio_test(er_positive, [], ["grade", "msk1"])
    frame = er_positive[["grade", "msk1", "time", "event"]]
    own = CoxPHFitter().fit(frame, "time", "event").log_likelihood_ratio_test()
    assert result.statistic == pytest.approx(own.test_statistic, abs=1e-8)
    assert result.df == own.degrees_freedom == 2
    assert result.p_value == pytest.approx(own.p_value, rel=1e-6)


@pytest.mark.parametrize(
    ("base", "added", "error", "match"),
    [
        (CLINICAL, [], EvaluationError, r"added must name at least one covariate to test"),
        (
            CLINICAL,
            ["grade"],
            EvaluationError,
            r"each covariate must appear once.* but found \['grade'\] \(base \['age'",
        ),
        (
            CLINICAL,
            ["time"],
            EvaluationError,
            r"not be the time or event column, but found \['time'\]",
        ),
        (CLINICAL, ["msk2"], DataError, r"needs columns \['msk2'\], but the table lacks them"),
    ],
)
def test_lrt_rejects_bad_covariate_lists(er_positive, base, added, error, match) -> None:
    with pytest.raises(error, match=match):
        likelihood_ratio_test(er_positive, base, added)


def test_lrt_rejects_non_numeric_columns(er_positive) -> None:
    table = er_positive.assign(grade=er_positive["grade"].map({1: "I", 2: "II", 3: "III"}))
    with pytest.raises(DataError, match=r"needs numeric columns, but \['grade'\] are not"):
        likelihood_ratio_test(table, CLINICAL, ["msk1"])


# --- decision curve -------------------------------------------------------------------------


def test_net_benefit_without_censoring_is_the_classical_formula() -> None:
    # 10 patients, all followed to their event; horizon 5 years: events by then are 1, 2, 4, 7, 8
    time = np.array([1.0, 2.0, 6.0, 3.0, 7.0, 9.0, 4.0, 2.5, 8.0, 5.5])
    event = np.ones(10)
    risk = np.array([0.9, 0.7, 0.6, 0.55, 0.4, 0.3, 0.35, 0.2, 0.1, 0.05])
    thresholds = np.array([0.0, 0.1, 0.25, 0.5, 0.8, 0.95])
    table = decision_curve(make_y(time=time, event=event), {"model": 1 - risk}, 5.0, thresholds)
    by_model = {name: group["net_benefit"].to_numpy() for name, group in table.groupby("model")}
    case = time <= 5.0
    for k, pt in enumerate(thresholds):
        positive = 1 - (1 - risk) >= pt  # the same floating-point comparison as the function
        tp, fp = (positive & case).sum(), (positive & ~case).sum()
        w = pt / (1 - pt)
        assert by_model["model"][k] == pytest.approx(tp / 10 - fp / 10 * w, abs=1e-12)
        assert by_model["treat all"][k] == pytest.approx(
            case.mean() - (1 - case.mean()) * w, abs=1e-12
        )
    assert by_model["model"][-1] == 0.0  # nobody at risk >= 0.95: no benefit, no harm
    assert (by_model["treat none"] == 0.0).all()


def test_net_benefit_with_censoring_uses_kaplan_meier_among_the_positives() -> None:
    rng = np.random.default_rng(5)
    n = 300
    risk = rng.uniform(0.02, 0.6, size=n)
    t_event = rng.exponential(5.0 / (0.2 + 2 * risk))
    t_cens = rng.exponential(8.0, size=n)
    time = np.round(np.minimum(t_event, t_cens), 1)  # ties between events and censorings
    event = t_event <= t_cens
    thresholds = np.linspace(0.05, 0.55, 11)
    y = make_y(time=time, event=event)
    table = decision_curve(y, {"a": 1 - risk, "b": 1 - risk[::-1]}, 3.0, thresholds)
    assert list(table.columns) == ["threshold", "model", "net_benefit"]
    assert list(table["model"].unique()) == ["a", "b", "treat all", "treat none"]
    for name, predicted in (("a", risk), ("b", risk[::-1]), ("treat all", np.ones(n))):
        got = table.loc[table["model"] == name, "net_benefit"].to_numpy()
        for k, pt in enumerate(thresholds):
            positive = predicted >= pt
            if not positive.any():
                assert got[k] == 0.0
                continue
            km = KaplanMeierFitter().fit(time[positive], event[positive]).predict(3.0)
            share = positive.mean()
            expected = (1 - km) * share - km * share * pt / (1 - pt)
            assert got[k] == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize(
    ("surv", "thresholds", "match"),
    [
        (
            {"m": np.full(4, 0.5)},
            [0.1, 1.0],
            r"thresholds must be .* in \[0, 1\), but got \[0.1, 1.0\]",
        ),
        ({"treat all": np.full(4, 0.5)}, [0.1], r"none called 'treat all' or 'treat none'"),
        ({"m": np.full(3, 0.5)}, [0.1], r"survival_at_horizon\['m'\] must have shape"),
    ],
)
def test_decision_curve_rejects_bad_inputs(surv, thresholds, match) -> None:
    with pytest.raises(EvaluationError, match=match):
        decision_curve(make_y(time=np.arange(1.0, 5.0), event=np.ones(4)), surv, 2.0, thresholds)
