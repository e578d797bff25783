"""Transport checks of an external validation (issue 15, item 3): msk1model.transport."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter

from msk1model.contract import FeatureRule, InputContract
from msk1model.errors import InputError
from msk1model.outcome import make_y
from msk1model.transport import (
    MAX_SCALE_SMD,
    PROFILE_PERCENTILES,
    case_mix,
    check_biomarker_scale,
    development_profile,
    harmonise,
    shift_table,
)

MARKER = {"column": "msk1", "transform": "none", "offset": 0.0,
          "platform": "array A", "unit": "centred log2 ratio"}  # fmt: skip


def _cohort(n: int = 400, seed: int = 3, *, msk1_mean: float = 0.0, msk1_sd: float = 0.5):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "age": rng.normal(58, 11, n),
            "grade": rng.choice(["1", "2", "3"], n, p=[0.2, 0.5, 0.3]),
            "msk1": rng.normal(msk1_mean, msk1_sd, n),
        }
    )
    X.loc[rng.random(n) < 0.05, "age"] = np.nan
    time = rng.exponential(6, n)
    censor = rng.uniform(0, 12, n)
    y = make_y(time=np.minimum(time, censor), event=(time <= censor).astype(int))
    return X, y


def _profile(X: pd.DataFrame, y: np.ndarray) -> dict:
    lp = 0.3 * X["msk1"].to_numpy()
    return development_profile(X, y, lp, [3.0, 5.0], categorical=["grade"], biomarker=MARKER)


def test_the_profile_holds_aggregates_equal_to_numpy_and_lifelines() -> None:
    X, y = _cohort()
    profile = _profile(X, y)
    age = X["age"].to_numpy()
    got = profile["features"]["age"]
    assert got["mean"] == pytest.approx(np.nanmean(age), rel=1e-3)  # 4 significant figures
    assert got["sd"] == pytest.approx(np.nanstd(age, ddof=1), rel=1e-3)
    assert got["missing"] == pytest.approx(np.isnan(age).mean(), rel=1e-3)
    assert got["percentiles"] == pytest.approx(np.nanpercentile(age, PROFILE_PERCENTILES), rel=1e-3)
    assert PROFILE_PERCENTILES[0] > 0 and PROFILE_PERCENTILES[-1] < 100  # no min, no max
    assert min(got["percentiles"]) > np.nanmin(age) and max(got["percentiles"]) < np.nanmax(age)
    shares = X["grade"].value_counts(normalize=True)
    assert profile["features"]["grade"]["levels"] == pytest.approx(shares.to_dict(), rel=1e-3)

    mix = profile["case_mix"]
    lp = 0.3 * X["msk1"].to_numpy()
    assert mix["lp_mean"] == pytest.approx(lp.mean(), rel=1e-3)
    assert mix["lp_sd"] == pytest.approx(lp.std(ddof=1), rel=1e-3)
    assert (mix["n_patients"], mix["n_events"]) == (len(y), int(y["event"].sum()))
    km = KaplanMeierFitter().fit(y["time"], y["event"])
    for h in (3.0, 5.0):
        assert mix["km"][f"{h:g}"] == pytest.approx(
            float(km.survival_function_at_times(h).iloc[0]), rel=1e-3
        )
    reverse = KaplanMeierFitter().fit(y["time"], 1 - y["event"])
    assert mix["median_follow_up"] == pytest.approx(reverse.median_survival_time_, rel=1e-3)


def test_the_shift_table_has_the_smd_and_the_share_outside_the_training_range() -> None:
    X, y = _cohort()
    profile = _profile(X, y)
    V, _ = _cohort(300, seed=9)
    V["age"] = V["age"] + 6.0
    V.loc[:4, "grade"] = "4"  # unseen in training
    contract = InputContract(
        (FeatureRule("age", "numeric", train_low=30.0, train_high=80.0),
         FeatureRule("grade", "categorical", levels=("1", "2", "3")),
         FeatureRule("msk1", "numeric", train_low=-2.0, train_high=2.0)),
    )  # fmt: skip
    table = shift_table(profile, V, contract).set_index("feature")
    dev = profile["features"]["age"]
    age = V["age"].to_numpy()
    pooled = np.sqrt((dev["sd"] ** 2 + np.nanstd(age, ddof=1) ** 2) / 2)
    expected = (np.nanmean(age) - dev["mean"]) / pooled
    assert table.loc["age", "smd"] == pytest.approx(expected, abs=1e-12)
    present = age[~np.isnan(age)]
    outside = np.mean((present < 30) | (present > 80))
    assert outside > 0 and table.loc["age", "outside_training"] == pytest.approx(outside)
    assert table.loc["age", "missing"] == pytest.approx(np.isnan(age).mean())
    assert table.loc["grade", "outside_training"] == pytest.approx(5 / len(V))


def test_a_biomarker_on_another_scale_is_refused_with_both_scales_and_the_fix() -> None:
    X, y = _cohort()
    profile = _profile(X, y)
    intensities = np.random.default_rng(5).normal(6.8, 0.7, 200)  # log intensities
    declared = {"platform": "array B", "unit": "log intensity"}
    with pytest.raises(InputError) as caught:
        check_biomarker_scale(profile, intensities, declared, "none")
    message = str(caught.value)
    assert "the biomarker msk1 is on another scale" in message
    assert "'centred log2 ratio' vs 'log intensity'" in message
    assert "pooled SDs apart" in message and "biomarker.harmonise" in message
    assert "platform 'array A'" in message and "platform 'array B'" in message

    # same distribution, declared units differ: still refused (the config says so)
    same = np.random.default_rng(6).normal(0.0, 0.5, 200)
    with pytest.raises(InputError, match="declared units differ"):
        check_biomarker_scale(profile, same, declared, "none")
    # same scale, units undeclared: passes
    check = check_biomarker_scale(profile, same, {"platform": None, "unit": None}, "none")
    assert not check.different and abs(check.smd) < MAX_SCALE_SMD
    assert check.statement().endswith("same scale")
    # declared harmonisation: no refusal, and it is stated
    harmonised = check_biomarker_scale(profile, intensities, declared, "zscore_within_cohort")
    assert harmonised.different and harmonised.statement().endswith(
        "harmonised by zscore_within_cohort"
    )


def test_harmonisation_maps_onto_the_development_scale() -> None:
    X, y = _cohort()
    profile = _profile(X, y)
    dev = profile["features"]["msk1"]
    x = np.random.default_rng(8).normal(6.8, 0.7, 301)
    x[[3, 50]] = np.nan
    z = harmonise(x, profile, "zscore_within_cohort")
    present = ~np.isnan(x)
    expected = dev["mean"] + dev["sd"] * (x[present] - x[present].mean()) / x[present].std(ddof=1)
    assert np.isnan(z[~present]).all()
    np.testing.assert_allclose(z[present], expected, atol=1e-12)

    q = harmonise(x, profile, "quantile")
    assert np.isnan(q[~present]).all()
    median = np.nanmedian(x)  # 299 values: the middle one has mid-rank percentile 50 exactly
    assert q[x == median][0] == pytest.approx(dev["percentiles"][PROFILE_PERCENTILES.index(50)])
    order = np.argsort(x[present])
    assert (np.diff(q[present][order]) >= 0).all()  # monotone
    assert harmonise(x, profile, "none") is x


def test_case_mix_counts_patients_and_events() -> None:
    X, y = _cohort(50)
    mix = case_mix(y, X["msk1"].to_numpy(), [2.0])
    assert mix["n_patients"] == 50 and mix["n_events"] == int(y["event"].sum())
