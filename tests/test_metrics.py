"""Metrics against independent computations: lifelines and a direct O(n^2) definition."""

from __future__ import annotations

import numpy as np
import pytest
from lifelines.utils import concordance_index
from sksurv.nonparametric import CensoringDistributionEstimator

from msk1model.evaluation import harrell_c, uno_c
from msk1model.models import structured_y


def cohort(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    risk = rng.normal(size=n)
    time = rng.exponential(np.exp(-risk)) * 5 + 0.01  # continuous: no tied times
    event = rng.random(n) < 0.7
    return time, event, risk + rng.normal(scale=0.8, size=n)


def test_harrell_c_matches_lifelines() -> None:
    time, event, risk = cohort(300, 1)
    time = np.round(time, 1)  # with tied times and tied risks
    risk = np.round(risk, 1)
    assert harrell_c(time, event, risk) == pytest.approx(
        concordance_index(time, -risk, event), abs=1e-9
    )


def test_harrell_c_perfect_and_reversed() -> None:
    time = np.arange(1.0, 11.0)
    event = np.ones(10, bool)
    assert harrell_c(time, event, -time) == 1.0
    assert harrell_c(time, event, time) == 0.0


def uno_direct(train_time, train_event, time, event, risk, tau):
    """Uno et al. (2011) by its definition, with the censoring KM G(t-) from the training data."""
    cens = CensoringDistributionEstimator().fit(structured_y(train_event, train_time))
    num = den = 0.0
    for i in range(len(time)):
        if not event[i] or time[i] >= tau:
            continue
        g = float(cens.predict_proba(np.array([time[i]]))[0])
        w = 1.0 / g**2
        for j in range(len(time)):
            if time[j] > time[i]:
                den += w
                num += w * (1.0 if risk[i] > risk[j] else 0.5 if risk[i] == risk[j] else 0.0)
    return num / den


def test_uno_c_matches_its_definition() -> None:
    train_time, train_event, _ = cohort(400, 2)
    time, event, risk = cohort(150, 3)
    tau = 4.0
    expected = uno_direct(train_time, train_event, time, event, risk, tau)
    assert uno_c(train_time, train_event, time, event, risk, tau) == pytest.approx(
        expected, abs=1e-9
    )
