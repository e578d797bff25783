"""Bootstrap engine, CIs and paired deltas against hand-drawn replicates.

Counterparts: each replicate recomputed here from its own spawned generator
(``default_rng(SeedSequence(seed).spawn(B)[i]).integers(0, n, n)``) and the closed-form standard
error of a mean.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from msk1model.data.synthetic import (
    TRUE_LOG_HR,
    WEIBULL_SCALE,
    WEIBULL_SHAPE,
    design_matrix,
    make_synthetic_cohort,
)
from msk1model.errors import EvaluationError
from msk1model.evaluation.bootstrap import (
    BootstrapWarning,
    bootstrap_metrics,
    bootstrap_replicates,
    paired_bootstrap_deltas,
)
from msk1model.evaluation.metrics import harrell_c
from msk1model.evaluation.timedep import brier_scores
from msk1model.outcome import make_y

HORIZONS = np.array([3.0, 5.0])


def drawn_rows(n: int, n_boot: int, seed: int) -> list[np.ndarray]:
    """The rows of every replicate, drawn here as the engine documents it."""
    children = np.random.SeedSequence(seed).spawn(n_boot)
    return [np.random.default_rng(child).integers(0, n, size=n) for child in children]


def percentile_summary(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    alpha = (1 - level) / 2
    lower, upper = np.quantile(values, [alpha, 1 - alpha])
    return float(lower), float(upper), float(np.std(values, ddof=1))


@pytest.fixture(scope="module")
def test_set() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A synthetic test set with the true risk and the true survival at 3 and 5 years."""
    cohort = make_synthetic_cohort(1000, seed=11)
    lp = design_matrix(cohort).to_numpy() @ np.array(list(TRUE_LOG_HR.values()))
    surv = np.exp(-((HORIZONS / WEIBULL_SCALE) ** WEIBULL_SHAPE)[None, :] * np.exp(lp)[:, None])
    y = make_y(time=cohort["time"].to_numpy(), event=cohort["event"].to_numpy())
    return y, {"risk": lp, "surv": surv}


def c_of(y: np.ndarray, pred: dict[str, np.ndarray]) -> float:
    return harrell_c(y, pred["risk"])


def brier_5y(y: np.ndarray, pred: dict[str, np.ndarray]) -> float:
    return float(brier_scores(y, y, pred["surv"], HORIZONS)[1])


# --- engine ---------------------------------------------------------------------------------


def test_same_seed_same_replicates_and_another_seed_differs() -> None:
    x = np.random.default_rng(0).normal(size=50)

    def mean(rows: np.ndarray) -> dict[str, float]:
        return {"mean": float(x[rows].mean())}

    first = bootstrap_replicates(mean, 50, n_boot=40, seed=5)
    pd.testing.assert_frame_equal(first, bootstrap_replicates(mean, 50, n_boot=40, seed=5))
    assert not first.equals(bootstrap_replicates(mean, 50, n_boot=40, seed=6))
    assert first.shape == (40, 1)


def test_replicates_do_not_depend_on_the_number_of_workers() -> None:
    x = np.random.default_rng(1).normal(size=80)
    statistic = lambda rows: {"mean": x[rows].mean(), "max": x[rows].max()}  # noqa: E731
    alone = bootstrap_replicates(statistic, 80, n_boot=25, seed=3, n_jobs=1)
    pd.testing.assert_frame_equal(
        alone, bootstrap_replicates(statistic, 80, n_boot=25, seed=3, n_jobs=2)
    )
    expected = [x[rows].mean() for rows in drawn_rows(80, 25, 3)]
    np.testing.assert_allclose(alone["mean"], expected, rtol=0, atol=1e-12)


def test_bootstrap_se_of_a_mean_matches_the_closed_form() -> None:
    x = np.random.default_rng(2).normal(3.0, 2.0, size=400)
    reps = bootstrap_replicates(lambda rows: {"mean": x[rows].mean()}, 400, n_boot=2000, seed=0)
    closed_form = x.std(ddof=1) / np.sqrt(len(x))
    assert reps["mean"].std(ddof=1) == pytest.approx(closed_form, rel=0.10)


def test_undefined_replicates_are_counted_left_out_and_warned() -> None:
    time = np.arange(1.0, 41.0)
    event = np.ones(40, dtype=bool)
    flag = (np.arange(40) < 4).astype(float)

    def share(y: np.ndarray, p: np.ndarray) -> float:
        if p.sum() == 0:
            raise EvaluationError("no flagged patient in this resample")
        return float(p.mean()) if p.sum() > 1 else float("inf")

    with pytest.warns(BootstrapWarning, match=r"left out \(metric: count of 300\): \{'share': "):
        table = bootstrap_metrics(
            make_y(time=time, event=event), flag, {"share": share}, n_boot=300, seed=4
        )
    sums = np.array([flag[rows].sum() for rows in drawn_rows(40, 300, 4)])
    valid = np.array([flag[rows].mean() for rows in drawn_rows(40, 300, 4)])[sums > 1]
    assert 0 < (sums <= 1).sum() < 300  # both kinds of undefined replicate occur and are dropped
    assert table.loc[0, "n_boot_valid"] == len(valid)
    assert table.loc[0, "se"] == pytest.approx(np.std(valid, ddof=1), abs=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_boot": 0}, r"n_boot must be an integer >= 1, but got 0"),
        ({"n_jobs": 0}, r"n_jobs must be a non-zero integer .* but got 0"),
        ({"level": 1.5}, r"level must be a confidence level in \(0, 1\), but got 1.5"),
    ],
)
def test_bad_settings_raise(kwargs: dict[str, float], match: str) -> None:
    time = np.arange(1.0, 11.0)
    y = make_y(time=time, event=np.ones(10))
    with pytest.raises(EvaluationError, match=match):
        bootstrap_metrics(y, time, {"c": harrell_c}, **kwargs)  # type: ignore[arg-type]


def test_predictions_of_the_wrong_length_raise() -> None:
    time = np.arange(1.0, 11.0)
    y = make_y(time=time, event=np.ones(10))
    with pytest.raises(
        EvaluationError,
        match=r"predictions\['surv'\] must have one row per patient \(axis 0 of length 10\), but has shape \(9, 2\)",
    ):
        bootstrap_metrics(y, {"risk": time, "surv": np.ones((9, 2))}, {"c": c_of})


# --- bootstrap_metrics ----------------------------------------------------------------------


def test_metric_cis_match_hand_drawn_replicates(test_set) -> None:
    y, pred = test_set
    table = bootstrap_metrics(y, pred, {"c": c_of, "brier_5y": brier_5y}, n_boot=30, seed=8)
    assert list(table.columns) == ["metric", "estimate", "lower", "upper", "se", "n_boot_valid"]
    rows = drawn_rows(len(y), 30, 8)
    by_hand = {
        "c": np.array([c_of(y[r], {"risk": pred["risk"][r]}) for r in rows]),
        "brier_5y": np.array([brier_5y(y[r], {"surv": pred["surv"][r]}) for r in rows]),
    }
    for _, row in table.iterrows():
        np.testing.assert_allclose(
            [row["lower"], row["upper"], row["se"]],
            percentile_summary(by_hand[row["metric"]]),
            rtol=0,
            atol=1e-12,
        )
        assert row["n_boot_valid"] == 30
    c = table.set_index("metric").loc["c"]
    assert c["estimate"] == pytest.approx(harrell_c(y, pred["risk"]), abs=1e-15)
    assert c["lower"] < c["estimate"] < c["upper"]
    assert 0.005 < c["se"] < 0.03  # about sqrt(C(1-C)/events) for a few hundred events


def test_one_replicate_of_harrell_c_recomputed_by_hand(test_set) -> None:
    y, pred = test_set
    reps = bootstrap_replicates(
        lambda r: {"c": harrell_c(y[r], pred["risk"][r])},
        len(y),
        n_boot=10,
        seed=21,
    )
    child = np.random.SeedSequence(21).spawn(10)[7]
    rows = np.random.default_rng(child).integers(0, len(y), size=len(y))
    assert reps.loc[7, "c"] == pytest.approx(harrell_c(y[rows], pred["risk"][rows]), abs=1e-12)


# --- paired deltas --------------------------------------------------------------------------


def test_paired_deltas_use_identical_rows_for_both_models(test_set) -> None:
    y, pred = test_set
    n = len(y)
    noisy = pred["risk"] + np.random.default_rng(0).normal(scale=1.0, size=n)
    seen: list[tuple[float, np.ndarray]] = []

    def c_recording(y: np.ndarray, p: dict[str, np.ndarray]) -> float:
        seen.append((float(p["model"][0]), p["row"].copy()))
        return harrell_c(y, p["risk"])

    base = {"risk": noisy, "row": np.arange(n), "model": np.zeros(n)}
    new = {"risk": pred["risk"], "row": np.arange(n), "model": np.ones(n)}
    table = paired_bootstrap_deltas(y, base, new, {"c": c_recording}, n_boot=12, seed=9)
    resampled = [(m, r) for m, r in seen if not np.array_equal(r, np.arange(n))]
    drawn = drawn_rows(n, 12, 9)
    for model in (0.0, 1.0):
        rows = [r for m, r in resampled if m == model]
        assert len(rows) == 12
        assert all(np.array_equal(a, b) for a, b in zip(rows, drawn, strict=True))
    deltas = np.array([harrell_c(y[r], pred["risk"][r]) - harrell_c(y[r], noisy[r]) for r in drawn])
    row = table.iloc[0]
    np.testing.assert_allclose(
        [row["lower"], row["upper"], row["se"]], percentile_summary(deltas), rtol=0, atol=1e-12
    )
    assert row["delta"] == pytest.approx(row["estimate_new"] - row["estimate_base"], abs=1e-15)
    assert (deltas > 0).all()  # the true risk beats the noisy one in every resample ...
    assert row["p_value"] == pytest.approx(1 / 13, abs=1e-15)  # ... so p is floored at 1/(B+1)


def test_delta_of_a_model_with_itself_is_exactly_zero(test_set) -> None:
    y, pred = test_set
    table = paired_bootstrap_deltas(
        y, pred, pred, {"c": c_of, "brier_5y": brier_5y}, n_boot=15, seed=2
    )
    assert (table[["delta", "lower", "upper", "se"]].to_numpy() == 0.0).all()
    assert (table["p_value"] == 1.0).all()
    assert (table["n_boot_valid"] == 15).all()
