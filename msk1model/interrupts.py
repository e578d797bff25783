"""Stopping a run on SIGTERM or Ctrl-C without damaging the MLflow store.

A signal handler that raises at an arbitrary point can land inside MLflow's store code: half way
through a SQL transaction (the SQLite file stays locked while the run is being ended) or after a run
row was written but before MLflow tracks it (the run stays RUNNING forever). So the handler raises
only while the run is inside a :func:`compute` section (model fitting and scoring, which hold no
store resources); anywhere else it records the request, and :class:`Interrupted` is raised when the
run next enters a compute section. The open MLflow runs then end as KILLED as the exception
unwinds. A second signal exits at once (``os._exit``), for a run that must not wait.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["Interrupted", "checkpoint", "compute", "graceful_signals", "pending_exit_code"]

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Interrupted(KeyboardInterrupt):
    """A run stopped by a signal; ``exit_code`` is ``128 + signal number``.

    A ``KeyboardInterrupt`` so that Optuna records the interrupted trial as FAIL before re-raising.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.exit_code = 128 + signum


class _State:
    depth = 0  # nesting depth of compute sections
    signum: int | None = None  # the signal received, once one arrived


def _handle(signum: int, frame: FrameType | None) -> None:
    if _State.signum is not None:  # a second signal: the user wants out now
        os.write(2, b"\nsecond signal: exiting without cleaning up\n")
        os._exit(128 + signum)
    _State.signum = signum
    if _State.depth:
        raise Interrupted(signum)


def checkpoint() -> None:
    """Raise :class:`Interrupted` if a signal arrived and is waiting for a safe point."""
    if _State.signum is not None:
        raise Interrupted(_State.signum)


@contextmanager
def compute() -> Iterator[None]:
    """A section a signal may interrupt at once (it touches no store or shared resource).

    Entering it raises :class:`Interrupted` when a signal arrived earlier.
    """
    checkpoint()
    _State.depth += 1
    try:
        yield
    finally:
        _State.depth -= 1


def pending_exit_code() -> int | None:
    """``128 + signal`` if a signal arrived and has not yet stopped the run, else ``None``."""
    return None if _State.signum is None else 128 + _State.signum


@contextmanager
def graceful_signals() -> Iterator[None]:
    """Install the deferring handler for SIGTERM and SIGINT; restore the old handlers on exit."""
    previous = {sig: signal.signal(sig, _handle) for sig in _SIGNALS}
    _State.signum = None
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _State.signum = None
