"""Signals stop a run only at safe points: at once inside compute sections, else deferred."""

from __future__ import annotations

import os
import signal

import pytest

from msk1model import interrupts


def test_signal_inside_compute_raises_at_once() -> None:
    with (
        interrupts.graceful_signals(),
        pytest.raises(interrupts.Interrupted, match="stopped by SIGTERM") as caught,
        interrupts.compute(),
    ):
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(10**7):  # the handler runs between bytecodes, well before the end
            pass
        pytest.fail("the signal did not interrupt the compute section")
    assert caught.value.exit_code == 143


def test_signal_outside_compute_waits_for_the_next_safe_point() -> None:
    with interrupts.graceful_signals():
        os.kill(os.getpid(), signal.SIGINT)
        assert interrupts.pending_exit_code() == 130  # recorded, nothing raised here
        with pytest.raises(interrupts.Interrupted, match="stopped by SIGINT"), interrupts.compute():
            pytest.fail("entered a compute section after a signal")
        with pytest.raises(interrupts.Interrupted):
            interrupts.checkpoint()


def test_handlers_are_restored_and_state_cleared() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with interrupts.graceful_signals():
        os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is before
    assert interrupts.pending_exit_code() is None
    with interrupts.compute():  # no signal pending: enters normally
        pass
