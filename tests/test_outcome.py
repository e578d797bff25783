"""The one survival outcome type: make_y and as_y."""

from __future__ import annotations

import numpy as np
import pytest
from sksurv.datasets import load_gbsg2

from msk1model.errors import OutcomeError
from msk1model.outcome import OUTCOME_DTYPE, as_y, make_y


def test_make_y_holds_event_then_time() -> None:
    y = make_y(time=[2.5, 1.0], event=[1, 0])
    assert y.dtype == OUTCOME_DTYPE and y.dtype.names == ("event", "time")
    assert y["event"].tolist() == [True, False] and y["time"].tolist() == [2.5, 1.0]


def test_make_y_refuses_other_event_codes_and_lengths() -> None:
    with pytest.raises(OutcomeError, match=r"event must hold only 0/False .* found \['2'\]"):
        make_y(time=[1.0, 2.0], event=[1, 2])
    with pytest.raises(OutcomeError, match=r"found \['nan'\]"):
        make_y(time=[1.0, 2.0], event=[1.0, np.nan])
    with pytest.raises(OutcomeError, match=r"shapes \(2,\) and \(3,\)"):
        make_y(time=[1.0, 2.0], event=[1, 0, 1])


def test_as_y_takes_scikit_survival_arrays_by_position() -> None:
    _, y_sksurv = load_gbsg2()
    assert y_sksurv.dtype.names == ("cens", "time")
    y = as_y(y_sksurv)
    np.testing.assert_array_equal(y["event"], y_sksurv["cens"])
    np.testing.assert_array_equal(y["time"], y_sksurv["time"])
    same = make_y(time=[1.0], event=[True])
    assert as_y(same) is same


def test_as_y_refuses_a_plain_array() -> None:
    with pytest.raises(OutcomeError, match=r"y_train must be a 1-D structured array"):
        as_y(np.ones((3, 2)), "y_train")
