"""Where the time-dependent metrics are defined: horizons inside the follow-up, and clipping.

A metric at horizon ``t`` (years) needs test patients still under follow-up after ``t`` and, for the
inverse-probability-of-censoring weights, a censoring Kaplan-Meier estimate ``G`` from the
training data that is positive at ``t``. Both hold for ``first test time <= t < end`` where
``end`` is the last test follow-up time, or the last training follow-up time if that comes first
(``G`` is positive before the last training time: it can only reach 0 when everyone still at risk
is censored, which empties the risk set). Horizons outside are clipped into the window with a
:class:`HorizonWarning` instead of failing.
"""

from __future__ import annotations

import warnings

import numpy as np
import numpy.typing as npt

from msk1model.errors import EvaluationError, HorizonWarning
from msk1model.evaluation._checks import check_horizons, y_fields
from msk1model.outcome import make_y

__all__ = ["HorizonWarning", "clip_horizons"]


def administratively_censor(y: npt.ArrayLike, y_train: npt.ArrayLike | None) -> np.ndarray:
    """Censor test follow-up at the last training time, where the censoring estimate ends.

    This leaves every metric at horizons before that time unchanged (such patients are controls
    at every horizon either way) and keeps scikit-survival from evaluating ``G`` past its end.

    Parameters
    ----------
    y : structured array, shape (n,)
        Test outcome, fields (event, time in years).
    y_train : structured array, shape (n_train,), or None
        Training outcome; ``None`` leaves the times as they are.

    Returns
    -------
    structured array, shape (n,)
        :data:`~msk1model.outcome.OUTCOME_DTYPE`, times at most the last training time.
    """
    time, event = y_fields(y)
    if y_train is None:
        return make_y(time=time, event=event)
    end = float(np.max(y_fields(y_train, "y_train")[0]))
    return make_y(time=np.minimum(time, end), event=event.astype(bool) & (time < end))


def clip_horizons(
    horizons: npt.ArrayLike, y: npt.ArrayLike, y_train: npt.ArrayLike | None = None
) -> np.ndarray:
    """Clip horizons into the window where the metrics are defined, warning for each one moved.

    Parameters
    ----------
    horizons : array-like, shape (n_times,)
        Horizons in years, > 0 and strictly increasing.
    y : structured array, shape (n,)
        Test outcome, fields (event, time in years); only the times are used.
    y_train : structured array, shape (n_train,), optional
        Training outcome, where the censoring distribution is estimated; ``None`` for metrics
        that use only the test data (calibration).

    Returns
    -------
    ndarray, shape (n_times,)
        The horizons, with those at or beyond the end of follow-up set to the last observed test
        time before the end, and those before the first test time set to that time. Clipping can
        make several horizons equal.

    Warns
    -----
    HorizonWarning
        Naming each clipped horizon and the value used instead.
    """
    h = check_horizons(horizons)
    t = y_fields(y)[0]
    if not np.isfinite(t).all():
        raise EvaluationError(
            f"time must be 1-D finite follow-up times (years), but got shape {t.shape} with "
            f"{int((~np.isfinite(t)).sum())} non-finite value(s)"
        )
    end_train = None if y_train is None else y_fields(y_train, "y_train")[0]
    return clip_checked(h, t, end_train, stacklevel=3)


def clip_checked(
    h: np.ndarray, time: np.ndarray, train_time: np.ndarray | None, stacklevel: int
) -> np.ndarray:
    """:func:`clip_horizons` on checked arrays; ``stacklevel`` points the warning at the user."""
    end = float(np.max(time)) if train_time is None else min(np.max(time), np.max(train_time))
    inside = np.unique(time[time < end])
    if len(inside) == 0:
        raise EvaluationError(
            f"the metrics need test follow-up times before the end of follow-up ({end:.4g} "
            "years), but there are none. Fix: evaluate on a test set with longer, varied follow-up"
        )
    clipped = np.where(h >= end, inside[-1], np.maximum(h, inside[0]))
    moved = clipped != h
    if moved.any():
        pairs = ", ".join(
            f"{a:.6g} -> {b:.6g}" for a, b in zip(h[moved], clipped[moved], strict=True)
        )
        warnings.warn(
            f"horizon(s) outside the follow-up were clipped (years): {pairs}. A horizon must lie "
            f"in [{inside[0]:.6g}, {end:.6g}): from the first test time to before the end of "
            "test (and training) follow-up. Predictions given for a clipped horizon are scored at "
            "the clipped time; pass horizons from clip_horizons() and predict there to avoid it",
            HorizonWarning,
            stacklevel=stacklevel,
        )
    return clipped
