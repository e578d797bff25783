"""Metrics against independent computations: lifelines, scikit-survival and an O(n^2) definition."""

from __future__ import annotations

import numpy as np
import pytest
from lifelines.utils import concordance_index
from sksurv.datasets import load_gbsg2
from sksurv.metrics import concordance_index_censored, concordance_index_ipcw
from sksurv.nonparametric import CensoringDistributionEstimator

from msk1model.errors import EvaluationError
from msk1model.evaluation import harrell_c, uno_c
from msk1model.outcome import make_y


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
    assert harrell_c(make_y(time=time, event=event), risk) == pytest.approx(
        concordance_index(time, -risk, event), abs=1e-9
    )


def test_harrell_c_perfect_and_reversed() -> None:
    time = np.arange(1.0, 11.0)
    y = make_y(time=time, event=np.ones(10, bool))
    assert harrell_c(y, -time) == 1.0
    assert harrell_c(y, time) == 0.0


def uno_direct(train_time, train_event, time, event, risk, tau):
    """Uno et al. (2011) by its definition, with the censoring KM G(t-) from the training data."""
    cens = CensoringDistributionEstimator().fit(make_y(time=train_time, event=train_event))
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
    y_train = make_y(time=train_time, event=train_event)
    assert uno_c(y_train, make_y(time=time, event=event), risk, tau=tau) == pytest.approx(
        expected, abs=1e-9
    )


def test_sksurv_datasets_y_goes_straight_in() -> None:
    """GBSG2's own y (fields ``cens``, ``time`` in days), not renamed: scikit-survival's values."""
    X, y = load_gbsg2()
    assert y.dtype.names == ("cens", "time")
    risk = X["pnodes"].to_numpy(float) - 0.01 * X["progrec"].to_numpy(float)
    expected_c = concordance_index_censored(y["cens"], y["time"], risk)[0]
    assert harrell_c(y, risk) == pytest.approx(expected_c, abs=1e-12)
    train, test = np.arange(len(y)) % 3 != 0, np.arange(len(y)) % 3 == 0
    tau = 1500.0  # days, before the last training follow-up
    expected = concordance_index_ipcw(y[train], y[test], risk[test], tau=tau)[0]
    assert uno_c(y[train], y[test], risk[test], tau=tau) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("y", "match"),
    [
        (
            np.column_stack([np.arange(1.0, 6.0), np.ones(5)]),
            r"y must be a 1-D structured array with fields \(event, time\), as from "
            r"msk1model.outcome.make_y or sksurv.util.Surv, but got dtype float64 and shape "
            r"\(5, 2\)",
        ),
        (
            np.array([(1.0, True)] * 5, dtype=[("time", float), ("event", bool)]),
            r"y must hold the event field first and the time field second .* but its fields "
            r"are \('time', 'event'\)",
        ),
        (
            np.array([(True, "1.0")] * 5, dtype=[("event", bool), ("time", "U3")]),
            r"y\['time'\] must be numeric or bool, but has dtype <U3",
        ),
    ],
)
def test_a_y_of_the_wrong_dtype_is_a_clear_error(y: np.ndarray, match: str) -> None:
    risk = np.arange(5.0)
    with pytest.raises(EvaluationError, match=match):
        harrell_c(y, risk)
    good = make_y(time=np.arange(1.0, 6.0), event=np.ones(5))
    with pytest.raises(EvaluationError, match=match.replace("y", "y_train", 1)):
        uno_c(y, good, risk, tau=3.0)
