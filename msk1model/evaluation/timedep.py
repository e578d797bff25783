"""Time-dependent metrics: cumulative/dynamic AUC, Brier score, integrated Brier score and IPA.

Pure functions of the training outcome ``y_train`` (for the censoring distribution), the test
outcome ``y`` (structured arrays with fields event, time; scikit-survival's argument order) and
predictions, all times in years. They compute what :mod:`sksurv.metrics` does (tested to 1e-12),
vectorised over patients and horizons: the inverse probability of censoring weights come from the
Kaplan-Meier estimate ``G`` of the censoring distribution on the training data
(:mod:`msk1model.evaluation.censoring`), evaluated at the observed time ``G(T_i)`` as
scikit-survival does (not ``G(T_i-)``; the two differ only where a test event time equals a
training censoring time). Test follow-up
past the last training time is administratively censored there, and horizons outside the
follow-up are clipped with a :class:`~msk1model.evaluation.horizons.HorizonWarning`.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from msk1model.errors import EvaluationError
from msk1model.evaluation._checks import check_horizons, check_risk, check_survival, check_y
from msk1model.evaluation.censoring import StepKM, censoring_km, survival_km
from msk1model.evaluation.horizons import HorizonWarning, administratively_censor, clip_checked
from msk1model.outcome import make_y

__all__ = [
    "TimeDependentAUC",
    "brier_scores",
    "integrated_brier_score",
    "ipa",
    "time_dependent_auc",
]


class TimeDependentAUC(NamedTuple):
    """Cumulative/dynamic AUC at each horizon and its mean weighted over the test event density."""

    auc: np.ndarray
    """shape (n_times,): AUC at each (clipped) horizon."""
    mean_auc: float
    """AUC averaged over the horizons, weighted by the drop in test Kaplan-Meier survival."""


def _prepare(
    y_train: npt.ArrayLike, y: npt.ArrayLike, horizons: npt.ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Checked structured ``y`` for training and (censored) test data, and clipped horizons."""
    tr_t, tr_e = check_y(y_train, "y_train")
    t, e = check_y(y)
    h = clip_checked(check_horizons(horizons), t, tr_t, stacklevel=4)
    train = make_y(time=tr_t, event=tr_e)
    test = administratively_censor(make_y(time=t, event=e), train)
    if not test["event"].any():
        raise EvaluationError(
            f"the metrics need a test event before the end of training follow-up "
            f"({tr_t.max():.6g} years, where the censoring estimate ends), but there is none. "
            "Fix: evaluate on a test set within the training follow-up"
        )
    return train, test, h


def time_dependent_auc(
    y_train: npt.ArrayLike,
    y: npt.ArrayLike,
    risk: npt.ArrayLike,
    horizons: npt.ArrayLike,
) -> TimeDependentAUC:
    """Cumulative/dynamic AUC (Uno et al. 2007; Hung & Chiang 2010) at each horizon.

    At horizon ``t`` the cases are patients with an event by ``t`` (weighted by ``1/G(T_i)``) and
    the controls those still event-free after ``t``; the AUC is the weighted share of case-control
    pairs where the case has the higher risk, ties counting one half: the value of
    :func:`sksurv.metrics.cumulative_dynamic_auc` (the area under its ROC steps), one horizon at a
    time so clipped (equal) horizons keep their own risk column.

    Parameters
    ----------
    y_train : structured array, shape (n_train,)
        Training outcome, fields (event, time in years); gives the censoring distribution.
    y : structured array, shape (n,)
        Test outcome, fields (event, time in years).
    risk : array-like, shape (n,) or (n, n_times)
        Risk scores (higher means shorter survival), or one column per horizon.
    horizons : array-like, shape (n_times,)
        Horizons in years, strictly increasing.

    Returns
    -------
    TimeDependentAUC
        ``auc`` of shape (n_times,) and ``mean_auc``, weighted as in scikit-survival by the drop
        in the test Kaplan-Meier survival over each horizon's interval.
    """
    y_train, y_test, h = _prepare(y_train, y, horizons)
    r = check_risk(risk, len(y_test), len(h))
    if r.ndim == 1:
        r = np.broadcast_to(r[:, np.newaxis], (len(r), len(h)))
    time, event = y_test["time"], y_test["event"]
    weights = _censoring(y_train).ipcw(time, event)
    auc = np.empty(len(h))
    for k, t in enumerate(h):
        case = event & (time <= t)
        if not case.any():
            raise EvaluationError(
                f"the time-dependent AUC at {t:.4g} years needs at least one test event by then, "
                "but there is none. Fix: use a later horizon"
            )
        controls = np.sort(r[time > t, k])
        below = np.searchsorted(controls, r[case, k], side="left")
        tied = np.searchsorted(controls, r[case, k], side="right") - below
        w = weights[case]
        with np.errstate(invalid="ignore", divide="ignore"):  # no control: NaN, as sksurv
            auc[k] = np.sum(w * (below + 0.5 * tied)) / (np.sum(w) * len(controls))
    return TimeDependentAUC(auc, _mean_auc(auc, y_test, h))


def _mean_auc(auc: np.ndarray, y_test: np.ndarray, h: np.ndarray) -> float:
    """scikit-survival's summary: AUCs weighted by the test Kaplan-Meier drop over each interval."""
    if len(h) == 1:
        return float(auc[0])
    surv = survival_km(y_test["time"], y_test["event"]).at(h)
    drop = -np.diff(np.r_[1.0, surv])  # zero weight for horizons made equal by clipping
    return float((auc * drop).sum() / (1.0 - surv[-1]))


def brier_scores(
    y_train: npt.ArrayLike,
    y: npt.ArrayLike,
    surv_at_horizons: npt.ArrayLike,
    horizons: npt.ArrayLike,
) -> np.ndarray:
    """Inverse-probability-of-censoring weighted Brier score at each horizon (Graf et al. 1999).

    ``BS(t) = mean_i[ S_i(t)^2 1{T_i <= t, event} / G(T_i) + (1 - S_i(t))^2 1{T_i > t} / G(t) ]``;
    lower is better, 0.25 is the score of predicting 0.5 for everyone; the value of
    :func:`sksurv.metrics.brier_score`, a weight ``1 / G`` where ``G`` is 0 counting 0.

    Parameters
    ----------
    y_train : structured array, shape (n_train,)
        Training outcome, fields (event, time in years); gives the censoring distribution.
    y : structured array, shape (n,)
        Test outcome, fields (event, time in years).
    surv_at_horizons : array-like, shape (n, n_times)
        Predicted survival probabilities ``S(t|x_i)`` at each horizon, non-increasing along rows.
    horizons : array-like, shape (n_times,)
        Horizons in years, strictly increasing.

    Returns
    -------
    ndarray, shape (n_times,)
        The Brier score at each (clipped) horizon.
    """
    y_train, y_test, h = _prepare(y_train, y, horizons)
    s = check_survival(surv_at_horizons, (len(y_test), len(h)), "surv_at_horizons")
    return _brier(y_train, y_test, s, h)


def _brier(y_train: np.ndarray, y_test: np.ndarray, s: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Brier score of survival ``s`` (n, k) at each of the ``h`` (k,), all horizons at once."""
    return np.asarray(brier_terms(_censoring(y_train), y_test, s, h).mean(axis=0), dtype=float)


def brier_terms(censoring: StepKM, y_test: np.ndarray, s: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Each patient's term of the Brier score, shape (n, k): the score at ``h[j]`` is the mean of
    column ``j``. ``censoring`` is G, ``y_test`` the (administratively censored) test outcome,
    ``s`` the survival at the (clipped) horizons ``h``."""
    time, event = y_test["time"][:, np.newaxis], y_test["event"][:, np.newaxis]
    at_time, at_horizon = _inverse(censoring.at(y_test["time"])), _inverse(censoring.at(h))
    case = event & (time <= h)
    control = time > h
    return np.square(s) * case * at_time[:, np.newaxis] + np.square(1.0 - s) * control * at_horizon


def _censoring(y_train: np.ndarray) -> StepKM:
    return censoring_km(y_train["time"], y_train["event"])


def _inverse(g: np.ndarray) -> np.ndarray:
    """``1 / G``, 0 where ``G`` is 0 (scikit-survival's ``1 / inf``)."""
    return np.divide(1.0, g, out=np.zeros(len(g)), where=g != 0)


def integrated_brier_score(
    y_train: npt.ArrayLike,
    y: npt.ArrayLike,
    surv_on_grid: npt.ArrayLike,
    grid: npt.ArrayLike,
) -> float:
    """Brier score integrated over a time grid (trapezoid rule) and divided by its length.

    As :func:`sksurv.metrics.integrated_brier_score`. Grid points outside the follow-up are
    dropped, not clipped (the integral simply ends earlier), with a ``HorizonWarning``.

    Parameters
    ----------
    y_train : structured array, shape (n_train,)
        Training outcome, fields (event, time in years); gives the censoring distribution.
    y : structured array, shape (n,)
        Test outcome, fields (event, time in years).
    surv_on_grid : array-like, shape (n, n_grid)
        Predicted survival probabilities ``S(t|x_i)`` on the grid, non-increasing along rows.
    grid : array-like, shape (n_grid,)
        Time points in years, strictly increasing, at least two inside the follow-up.

    Returns
    -------
    float
        The integrated Brier score (dimensionless, between 0 and 1).
    """
    g = check_horizons(grid, "grid")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HorizonWarning)  # replaced by the warning below
        y_train, y_test, clipped = _prepare(y_train, y, g)
    s = check_survival(surv_on_grid, (len(y_test), len(g)), "surv_on_grid")
    keep = clipped == g
    if keep.sum() < 2:
        raise EvaluationError(
            f"the integrated Brier score needs at least 2 grid points inside the follow-up, but "
            f"{int(keep.sum())} of {len(g)} are. Fix: use a grid within the test follow-up"
        )
    if not keep.all():
        warnings.warn(
            f"{int((~keep).sum())} grid point(s) outside the follow-up were dropped, e.g. "
            f"{g[~keep][0]:.4g} years; the integrated Brier score covers "
            f"[{g[keep][0]:.4g}, {g[keep][-1]:.4g}] years",
            HorizonWarning,
            stacklevel=2,
        )
    kept = g[keep]
    scores = _brier(y_train, y_test, s[:, keep], kept)
    return float(np.trapezoid(scores, kept) / (kept[-1] - kept[0]))


def ipa(
    y_train: npt.ArrayLike,
    y: npt.ArrayLike,
    surv_at_horizons: npt.ArrayLike,
    horizons: npt.ArrayLike,
) -> np.ndarray:
    """Index of prediction accuracy (Kattan & Gerds 2018) at each horizon.

    ``IPA(t) = 1 - BS_model(t) / BS_null(t)``, where the null model predicts the training
    Kaplan-Meier survival at ``t`` for everyone. 1 is perfect, 0 no better than the null model,
    negative worse. Inputs as in :func:`brier_scores`.

    Returns
    -------
    ndarray, shape (n_times,)
        IPA at each (clipped) horizon.
    """
    y_train, y_test, h = _prepare(y_train, y, horizons)
    s = check_survival(surv_at_horizons, (len(y_test), len(h)), "surv_at_horizons")
    km = survival_km(y_train["time"], y_train["event"]).at(h)
    null = _brier(y_train, y_test, np.broadcast_to(km, s.shape), h)
    if (null == 0).any():
        t = h[np.argmax(null == 0)]
        raise EvaluationError(
            f"IPA at {t:.4g} years divides by the null model's Brier score, but it is 0 there "
            "(no uncertainty to improve on). Fix: use a later horizon"
        )
    return 1.0 - _brier(y_train, y_test, s, h) / null
