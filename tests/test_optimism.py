"""Optimism correction against hand-drawn replicates and an independent validation cohort.

Counterparts: each replicate's optimism recomputed here from its own spawned generator
(``default_rng(SeedSequence(seed).spawn(B)[i]).integers(0, n, n)``), and a large independent
synthetic validation cohort for the optimism of a Cox model.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from msk1model.data.synthetic import make_synthetic_cohort
from msk1model.evaluation.calibration import calibration_slope
from msk1model.evaluation.metrics import harrell_c
from msk1model.evaluation.optimism import optimism_corrected, survival_scores
from msk1model.models import make_model
from msk1model.outcome import make_y


def test_optimism_matches_hand_drawn_replicates() -> None:
    x = np.random.default_rng(3).normal(size=30)

    def fit(rows: np.ndarray) -> float:
        return float(x[rows].mean())

    def score(centre: float, rows: np.ndarray) -> dict[str, float]:
        return {"neg_mse": -float(np.mean((x[rows] - centre) ** 2))}

    table = optimism_corrected(fit, score, 30, n_boot=50, seed=4)
    children = np.random.SeedSequence(4).spawn(50)
    drawn = [np.random.default_rng(child).integers(0, 30, size=30) for child in children]
    optimism = [
        score(fit(r), r)["neg_mse"] - score(fit(r), np.arange(30))["neg_mse"]
        for r in drawn  # each replicate's rows, drawn as the engine documents it
    ]
    row = table.iloc[0]
    assert row["apparent"] == pytest.approx(-np.var(x), abs=1e-12)
    assert row["optimism"] == pytest.approx(np.mean(optimism), abs=1e-12)
    assert row["corrected"] == pytest.approx(-np.var(x) - np.mean(optimism), abs=1e-12)
    assert row["optimism_mc_se"] == pytest.approx(np.std(optimism, ddof=1) / np.sqrt(50), abs=1e-12)
    assert row["optimism"] > 0  # the in-sample mean fits its own resample best


N_NOISE = 8
FEATURES = ["age", "size", "grade", "nodes", "pr", "msk1"] + [f"noise{j}" for j in range(N_NOISE)]


def er_positive(n: int, seed: int) -> pd.DataFrame:
    """``n`` ER-positive synthetic patients with ``N_NOISE`` standard-normal noise columns."""
    cohort = make_synthetic_cohort(int(n / 0.7), seed=seed)
    cohort = cohort[cohort["er"] == 1].iloc[:n].reset_index(drop=True)
    assert len(cohort) == n
    rng = np.random.default_rng([seed, 2])
    return cohort.assign(**{f"noise{j}": rng.normal(size=n) for j in range(N_NOISE)})


def coxph_scores(train: pd.DataFrame):
    """``fit`` and ``score`` of a coxph on ``train``, the Brier score and slope at 5 years."""
    return survival_scores(
        lambda: make_model("coxph", features=FEATURES, random_state=0),
        train,
        make_y(time=train["time"], event=train["event"]),
        horizon=5.0,
    )


@pytest.fixture(scope="module")
def coxph_optimism() -> tuple[pd.DataFrame, dict[str, float]]:
    """Optimism table of a coxph on 300 patients; its C and slope directly and on 20,000 others."""
    train = er_positive(300, seed=0)
    fit, score = coxph_scores(train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lifelines convergence chatter on some resamples
        table = optimism_corrected(fit, score, len(train), n_boot=20, seed=1, n_jobs=2)
    model = fit(np.arange(len(train)))
    val = er_positive(20_000, seed=99)
    y_val = make_y(time=val["time"], event=val["event"])
    return table.set_index("metric"), {
        "c_direct": harrell_c(
            make_y(time=train["time"], event=train["event"]), model.predict(train)
        ),
        "c_validation": harrell_c(y_val, model.predict(val)),
        "slope_validation": calibration_slope(
            y_val, model.predict_survival_function(val, np.array([5.0]))[:, 0]
        ),
    }


def test_coxph_apparent_scores_are_the_direct_ones(coxph_optimism) -> None:
    table, direct = coxph_optimism
    assert list(table.index) == ["harrell_c", "calibration_slope_5y", "brier_5y"]
    assert table.loc["harrell_c", "apparent"] == pytest.approx(direct["c_direct"], abs=1e-12)
    # a Cox model's own log-log predictions on its training data have slope 1 by its score
    # equation (up to lifelines' default convergence tolerance in the coxph fit)
    assert table.loc["calibration_slope_5y", "apparent"] == pytest.approx(1.0, abs=1e-4)
    assert (table["n_boot_valid"] == 20).all()


def test_coxph_optimism_moves_c_and_slope_towards_independent_validation(coxph_optimism) -> None:
    table, validation = coxph_optimism
    # measured: C apparent 0.702, optimism 0.046 (MC SE 0.006), corrected 0.656, validation 0.652;
    # slope apparent 1.000, corrected 0.749, validation 0.756; seeds 0-5 of the cohort all agree
    for metric, key in (
        ("harrell_c", "c_validation"),
        ("calibration_slope_5y", "slope_validation"),
    ):
        row = table.loc[metric]
        assert row["optimism"] > 3 * row["optimism_mc_se"]
        assert row["corrected"] < row["apparent"]
        gap = abs(row["apparent"] - validation[key])
        assert abs(row["corrected"] - validation[key]) < 0.5 * gap


def test_coxph_optimism_raises_brier(coxph_optimism) -> None:
    table, _ = coxph_optimism
    assert table.loc["brier_5y", "optimism"] < 0  # lower is better: apparent Brier too low
    assert table.loc["brier_5y", "corrected"] > table.loc["brier_5y", "apparent"]


def test_a_fitted_model_given_is_scored_for_the_apparent_performance() -> None:
    """``fitted`` replaces the refit on all patients (the run passes its final model): the
    apparent scores are those of the model given, the replicates are unchanged."""
    train = er_positive(300, seed=0)
    fit, score = coxph_scores(train)
    everyone = np.arange(len(train))
    same = fit(everyone)
    other = fit(np.arange(150))  # deliberately another model, to see which one is scored
    refit = optimism_corrected(fit, score, len(train), n_boot=5, seed=2)
    given = optimism_corrected(fit, score, len(train), n_boot=5, seed=2, fitted=same)
    pd.testing.assert_frame_equal(given, refit)
    shown = optimism_corrected(fit, score, len(train), n_boot=5, seed=2, fitted=other)
    assert shown["apparent"].tolist() == list(score(other, everyone).values())
    assert shown["optimism"].tolist() == refit["optimism"].tolist()
