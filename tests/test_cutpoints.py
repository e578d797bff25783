"""Cut-point analyses against lifelines' log-rank tests at every cut, and null cohorts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from lifelines.statistics import logrank_test as lifelines_logrank

from msk1model.data.synthetic import make_synthetic_cohort
from msk1model.errors import EvaluationError
from msk1model.evaluation.cutpoints import (
    bootstrap_cutpoint_ci,
    cutpoint_groups,
    lausen_schumacher_p,
    optimal_cutpoint,
)
from msk1model.evaluation.km import logrank_test
from msk1model.outcome import make_y

Outcome = tuple[np.ndarray, np.ndarray, np.ndarray]


def er_positive(n: int, seed: int, **kwargs: float) -> Outcome:
    """time (years), event, msk1 of the ER-positive patients of a synthetic cohort."""
    cohort = make_synthetic_cohort(n, seed, **kwargs)
    pos = cohort[cohort["er"] == 1]
    return pos["time"].to_numpy(), pos["event"].to_numpy(), pos["msk1"].to_numpy()


@pytest.fixture(scope="module")
def small() -> Outcome:
    return er_positive(300, 11)


@pytest.fixture(scope="module")
def tied(small: Outcome) -> Outcome:
    """Times on a 0.5-year grid and values on a 0.25 grid: many ties in both."""
    t, e, x = small
    return np.ceil(t * 2) / 2, e, np.round(x * 4) / 4


@pytest.fixture(scope="module")
def tiny() -> Outcome:
    """About 90 patients: few enough to run lifelines' log-rank test at every cut."""
    return er_positive(120, 11)


@pytest.fixture(scope="module")
def tiny_tied(tiny: Outcome) -> Outcome:
    t, e, x = tiny
    return np.ceil(t * 2) / 2, e, np.round(x * 8) / 8


def lifelines_chi2(t: np.ndarray, e: np.ndarray, low: np.ndarray) -> float:
    return float(lifelines_logrank(t[low], t[~low], e[low], e[~low]).test_statistic)


# --- groups -----------------------------------------------------------------------------------


def test_median_and_tertile_groups_put_values_on_a_cut_in_the_lower_group() -> None:
    x = np.array([1.0, 2.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    assert cutpoint_groups(x, "median").tolist() == ["low"] * 4 + ["high"] * 3  # median 3
    q1, q2 = np.quantile(x, [1 / 3, 2 / 3])
    expected = np.where(x <= q1, "low", np.where(x <= q2, "mid", "high"))
    assert cutpoint_groups(x, "tertiles").tolist() == expected.tolist()
    assert cutpoint_groups(x, 2.0).tolist() == ["low"] * 3 + ["high"] * 4


@pytest.mark.parametrize(
    ("rule", "match"),
    [
        ("quartiles", r"rule must be 'median', 'tertiles' or a finite number .* got 'quartiles'"),
        (math.nan, r"rule must be .* but got nan"),
        (9.0, r"every group of a cut must hold patients, but rule 9.0 .* \{'low': 3, 'high': 0\}"),
    ],
)
def test_bad_rules_are_rejected(rule: str | float, match: str) -> None:
    with pytest.raises(EvaluationError, match=match):
        cutpoint_groups([1.0, 2.0, 3.0], rule)


# --- optimal cutpoint -------------------------------------------------------------------------


@pytest.mark.parametrize("data", ["tiny", "tiny_tied"])
def test_every_candidate_cut_is_lifelines_logrank(
    data: str, request: pytest.FixtureRequest
) -> None:
    """z**2 equals lifelines' chi-square at each cut; candidates keep >= 10% on each side."""
    t, e, x = request.getfixturevalue(data)
    result = optimal_cutpoint(make_y(time=t, event=e), x, n_permutations=0)
    n = len(x)
    expected_cuts = [v for v in np.unique(x)[:-1] if 0.1 * n <= (x <= v).sum() <= 0.9 * n]
    np.testing.assert_array_equal(result.cuts, expected_cuts)
    chi2 = [lifelines_chi2(t, e, x <= cut) for cut in result.cuts]
    np.testing.assert_allclose(result.statistics**2, chi2, rtol=0, atol=1e-8)
    best = int(np.argmax(chi2))
    assert result.cutpoint == result.cuts[best]
    assert result.statistic == pytest.approx(math.sqrt(chi2[best]), abs=1e-8)
    assert result.n_low == (x <= result.cutpoint).sum()
    assert result.p_uncorrected == pytest.approx(math.erfc(result.statistic / math.sqrt(2)))
    assert result.p_lausen_schumacher == lausen_schumacher_p(result.statistic, 0.1)
    assert math.isnan(result.p_permutation)


def test_lausen_schumacher_equals_the_hand_computed_value() -> None:
    """c = 3, eps = 0.1 (R maxstat's pLausen92 formula): phi(3) = exp(-4.5) / sqrt(2 pi) =
    0.00443184841193801; 4 phi / 3 = 0.00590913121591734; phi (3 - 1/3) log(0.9 * 0.9 /
    (0.1 * 0.1)) = phi * 8/3 * log(81) = 0.01181826243183469 * 4.39444915467244 =
    0.05193475335327298; sum 0.05784388456919032."""
    assert lausen_schumacher_p(3.0, 0.1) == pytest.approx(0.05784388456919032, rel=1e-12)
    # below its peak (c = 1.0801, p = 0.9754 at eps = 0.1; d/dc = 0) the tail formula falls towards 0
    assert lausen_schumacher_p(1.081, 0.1) == pytest.approx(0.9754, abs=1e-4)
    assert lausen_schumacher_p(1.079, 0.1) == 1.0
    assert lausen_schumacher_p(0.3, 0.1) == 1.0  # the raw formula gives 0.0013
    assert lausen_schumacher_p(0.0, 0.1) == 1.0
    # with min_prop = 0.25 it has no peak: it exceeds 1 for small c and is capped
    assert lausen_schumacher_p(0.5, 0.25) == 1.0


def test_permutation_p_is_deterministic_and_follows_its_definition() -> None:
    """p = (1 + #{max|z| of permuted values >= observed}) / (1 + B), recomputed cut by cut with
    ``logrank_test`` (checked against lifelines above; 20x faster). Permutation b puts the
    patients in the order ``rng.permutation(n)`` along the sorted values."""
    t, e, x = er_positive(80, 5)
    n_perm = 10
    y = make_y(time=t, event=e)
    result = optimal_cutpoint(y, x, n_permutations=n_perm, seed=42)
    rng = np.random.default_rng(42)
    permuted = []
    for _ in range(n_perm):
        xp = np.empty(len(x))
        xp[rng.permutation(len(x))] = np.sort(x)  # patient order[j] gets the j-th smallest value
        permuted.append(max(logrank_test(y, xp <= cut).statistic for cut in result.cuts))
    exceed = sum(np.sqrt(permuted) >= result.statistic - 1e-9)
    assert result.p_permutation == (1 + exceed) / (1 + n_perm)
    again = optimal_cutpoint(y, x, n_permutations=n_perm, seed=42)
    assert again.p_permutation == result.p_permutation


def test_optimal_cutpoint_finds_the_msk1_effect(small: Outcome) -> None:
    """ER-positive synthetic patients: low MSK1 relapses more, so the best cut has z > 0."""
    t, e, x = er_positive(2000, 0)
    result = optimal_cutpoint(make_y(time=t, event=e), x, n_permutations=99)
    assert result.z > 0
    assert result.p_lausen_schumacher < 1e-6
    assert result.p_permutation == 1 / 100


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_prop": 0.5}, r"min_prop must lie in \(0, 0.5\), but got 0.5"),
        ({"n_permutations": -1}, "n_permutations must be >= 0, but got -1"),
    ],
)
def test_optimal_cutpoint_rejects_bad_settings(
    small: Outcome, kwargs: dict[str, float], match: str
) -> None:
    t, e, x = small
    with pytest.raises(EvaluationError, match=match):
        optimal_cutpoint(make_y(time=t, event=e), x, **kwargs)  # type: ignore[arg-type]


def test_optimal_cutpoint_needs_a_candidate_cut(small: Outcome) -> None:
    t, e, _ = small
    values = np.r_[np.zeros(len(t) - 5), np.ones(5)]  # the only cut leaves 5 patients high
    with pytest.raises(EvaluationError, match=r"no candidate cut leaves at least 0\.1 of the"):
        optimal_cutpoint(make_y(time=t, event=e), values)


# --- bootstrap --------------------------------------------------------------------------------


def test_bootstrap_replicates_are_the_optimal_cuts_of_seeded_resamples(small: Outcome) -> None:
    t, e, x = small
    ci = bootstrap_cutpoint_ci(make_y(time=t, event=e), x, n_boot=12, seed=3)
    streams = np.random.SeedSequence(3).spawn(12)
    for b, stream in enumerate(streams):
        idx = np.random.default_rng(stream).integers(0, len(t), size=len(t))
        best = optimal_cutpoint(make_y(time=t[idx], event=e[idx]), x[idx], n_permutations=0)
        assert ci.cutpoints[b] == best.cutpoint
    assert (ci.lower, ci.upper) == tuple(np.quantile(ci.cutpoints, [0.025, 0.975]))


@pytest.mark.slow
def test_bootstrap_does_not_depend_on_n_jobs(small: Outcome) -> None:
    """Slow only for starting joblib's worker processes (a few seconds)."""
    t, e, x = small
    y = make_y(time=t, event=e)
    one = bootstrap_cutpoint_ci(y, x, n_boot=10, seed=1, n_jobs=1)
    two = bootstrap_cutpoint_ci(y, x, n_boot=10, seed=1, n_jobs=2)
    np.testing.assert_array_equal(one.cutpoints, two.cutpoints)


# --- null cohorts -----------------------------------------------------------------------------


@pytest.mark.slow
def test_corrected_p_values_hold_their_level_in_null_cohorts() -> None:
    """200 null cohorts (MSK1 log HR 0; ER-positive patients of 2000: about 1500, 530 events).

    Measured: the minimum uncorrected p < 0.05 in 43.5% of them, Lausen-Schumacher in 4.0%,
    permutation (199 permutations) in 5.0%; the two corrected p-values correlate 0.994. About
    1 minute.
    """
    uncorrected, lausen, permutation = [], [], []
    for seed in range(200):
        t, e, x = er_positive(2000, seed, msk1_log_hr=0.0)
        result = optimal_cutpoint(make_y(time=t, event=e), x, n_permutations=199, seed=seed)
        uncorrected.append(result.p_uncorrected)
        lausen.append(result.p_lausen_schumacher)
        permutation.append(result.p_permutation)
    rates = pd.DataFrame({"u": uncorrected, "ls": lausen, "perm": permutation}).lt(0.05).mean()
    assert rates["ls"] <= 0.09
    assert rates["perm"] <= 0.09
    assert rates["u"] >= 0.30
    assert np.corrcoef(lausen, permutation)[0, 1] > 0.95  # two routes to the same tail
