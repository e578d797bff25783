"""Added value of a biomarker: likelihood-ratio test of nested Cox models and decision curves.

Both answer "does MSK1 add to the clinical covariates?": the likelihood-ratio test on the
association scale (is the added coefficient zero?), the decision curve on the clinical-utility
scale (does acting on the model's risk at a threshold do more good than harm?). Times in years.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from msk1model.errors import DataError, EvaluationError
from msk1model.evaluation._checks import (
    check_columns_outcome,
    check_horizons,
    check_survival,
    check_y,
)
from msk1model.evaluation._cox import fit_cox
from msk1model.evaluation.km import km_curve
from msk1model.outcome import make_y

__all__ = ["LRT", "TREAT_ALL", "TREAT_NONE", "decision_curve", "likelihood_ratio_test"]

#: Names of the two reference strategies in :func:`decision_curve`.
TREAT_ALL, TREAT_NONE = "treat all", "treat none"


class LRT(NamedTuple):
    """Likelihood-ratio test of a base Cox model against the base plus added covariates."""

    statistic: float
    """``2 * (loglik_full - loglik_base)``, chi-square with ``df`` degrees of freedom under H0."""
    df: int
    """Number of added covariates."""
    p_value: float
    """Upper tail of the chi-square distribution at ``statistic``."""
    loglik_base: float
    """Maximised partial log-likelihood (Efron ties) of the base model."""
    loglik_full: float
    """Maximised partial log-likelihood of the base plus added covariates."""
    n: int
    """Patients used by both models: those with every column present."""
    n_events: int
    """Events among them."""


def likelihood_ratio_test(
    table: pd.DataFrame,
    base_covariates: Sequence[str],
    added: Sequence[str],
    *,
    duration_col: str = "time",
    event_col: str = "event",
) -> LRT:
    """Likelihood-ratio test of nested unpenalised Cox models (lifelines, Efron ties).

    Both models are fitted on the same rows: those with no missing value in any column used, so
    the two likelihoods are comparable. Covariates enter linearly, in the units of the table.

    Parameters
    ----------
    table : DataFrame
        One row per patient, numeric columns.
    base_covariates
        Covariates of the base model, e.g. ``["age", "size", "grade", "nodes", "pr"]``; may be
        empty (the null model).
    added
        Covariates the full model adds, e.g. ``["msk1"]``; at least one, none in the base.
    duration_col, event_col : str
        Follow-up (years) and event flag (0/1) columns, named as in lifelines.

    Returns
    -------
    LRT
        Statistic, degrees of freedom, p-value, both log-likelihoods and the rows used.
    """
    base, extra = list(base_covariates), list(added)
    _check_covariates(base, extra, duration_col, event_col)
    frame = _complete_rows(table, duration_col, event_col, base + extra)
    what = "a Cox model of the likelihood-ratio test"
    columns = {"duration_col": duration_col, "event_col": event_col}
    ll_base = fit_cox(frame[[*base, duration_col, event_col]], what, **columns)
    ll_full = fit_cox(frame, what, **columns)
    statistic = 2.0 * (float(ll_full.log_likelihood_) - float(ll_base.log_likelihood_))
    return LRT(
        statistic=statistic,
        df=len(extra),
        p_value=float(stats.chi2.sf(statistic, len(extra))),
        loglik_base=float(ll_base.log_likelihood_),
        loglik_full=float(ll_full.log_likelihood_),
        n=len(frame),
        n_events=int(frame[event_col].sum()),
    )


def _check_covariates(base: list[str], added: list[str], duration_col: str, event_col: str) -> None:
    if not added:
        raise EvaluationError(
            "added must name at least one covariate to test, but it is empty. Fix: e.g. ['msk1']"
        )
    covariates = base + added
    repeated = sorted({c for c in covariates if covariates.count(c) > 1})
    outcome = sorted({duration_col, event_col} & set(covariates))
    if repeated or outcome:
        raise EvaluationError(
            "each covariate must appear once, in base_covariates or added, and not be the time or "
            f"event column, but found {repeated + outcome} (base {base}, added {added}). "
            "Fix: list each covariate once and leave the outcome columns out"
        )


def _complete_rows(
    table: pd.DataFrame, duration_col: str, event_col: str, covariates: list[str]
) -> pd.DataFrame:
    """The used columns (covariates, time, event) of the rows with none missing; checked."""
    columns = [*covariates, duration_col, event_col]
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(
            f"the likelihood-ratio test needs columns {missing}, but the table lacks them "
            f"(it has {list(table.columns)[:20]}). Fix: derive or rename those columns"
        )
    frame = table[columns].dropna()
    numeric = frame.apply(pd.api.types.is_numeric_dtype)
    if not numeric.all():
        raise DataError(
            f"the likelihood-ratio test needs numeric columns, but {list(numeric.index[~numeric])} "
            "are not. Fix: encode them as numbers (e.g. 0/1 indicators)"
        )
    check_columns_outcome(frame, duration_col=duration_col, event_col=event_col)
    return frame.reset_index(drop=True)


def decision_curve(
    y: npt.ArrayLike,
    survival_at_horizon: Mapping[str, npt.ArrayLike],
    horizon: float,
    thresholds: npt.ArrayLike,
) -> pd.DataFrame:
    """Net benefit at ``horizon`` over risk thresholds, censoring-aware (Vickers et al. 2008).

    A patient is "positive" at threshold ``pt`` if the predicted risk ``1 - S(horizon|x)`` is
    ``>= pt``. With ``P(positive)`` the share of positives and ``r = 1 - KM(horizon)`` the
    Kaplan-Meier risk among them, ``net benefit = r * P(positive) - (1 - r) * P(positive) *
    pt / (1 - pt)`` (0 if none is positive): true positives minus false positives per patient,
    weighted by the odds at the threshold. "treat all" is ``1 - KM(horizon)`` of everyone minus
    ``KM(horizon) * pt / (1 - pt)``; "treat none" is 0. Without censoring before ``horizon`` this
    is the classical ``TP / n - FP / n * pt / (1 - pt)``.

    Parameters
    ----------
    y : structured array, shape (n,)
        Outcome, fields (event, time in years).
    survival_at_horizon : mapping of str to array-like, shape (n,)
        Per model, the predicted survival probability ``S(horizon|x_i)``.
    horizon
        Years. The Kaplan-Meier estimate is carried forward past the last follow-up of a group.
    thresholds : array-like, shape (n_thresholds,)
        Risk thresholds ``pt`` in [0, 1).

    Returns
    -------
    DataFrame
        Long format, columns ``threshold``, ``model``, ``net_benefit``: each model in the given
        order, then "treat all" and "treat none", for every threshold.
    """
    t, e, h, pt, surv = _check_decision_inputs(y, survival_at_horizon, horizon, thresholds)
    everyone = np.ones(len(t), dtype=bool)
    odds = pt / (1.0 - pt)
    curves = {
        name: np.array(
            [_net_benefit(t, e, 1.0 - s >= p, h, w) for p, w in zip(pt, odds, strict=True)]
        )
        for name, s in surv.items()
    }
    curves[TREAT_ALL] = np.array([_net_benefit(t, e, everyone, h, w) for w in odds])
    curves[TREAT_NONE] = np.zeros(len(pt))
    return pd.concat(
        [
            pd.DataFrame({"threshold": pt, "model": name, "net_benefit": nb})
            for name, nb in curves.items()
        ],
        ignore_index=True,
    )


def _net_benefit(
    time: np.ndarray, event: np.ndarray, positive: np.ndarray, horizon: float, odds: float
) -> float:
    """``r * P(pos) - (1 - r) * P(pos) * odds``, ``r`` the Kaplan-Meier risk of the positives."""
    share = float(positive.mean())
    if share == 0:
        return 0.0
    risk = 1.0 - _kaplan_meier_at(time[positive], event[positive], horizon)
    return risk * share - (1.0 - risk) * share * odds


def _kaplan_meier_at(time: np.ndarray, event: np.ndarray, horizon: float) -> float:
    """Kaplan-Meier survival at ``horizon`` (years), carried forward past the last follow-up."""
    curve = km_curve(make_y(time=time, event=event))
    return float(curve.survival[curve.step([horizon])[0]])


def _check_decision_inputs(
    y: npt.ArrayLike,
    survival_at_horizon: Mapping[str, npt.ArrayLike],
    horizon: float,
    thresholds: npt.ArrayLike,
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray, dict[str, np.ndarray]]:
    t, e = check_y(y)
    h = float(check_horizons(horizon, "horizon")[0])
    pt = np.atleast_1d(np.asarray(thresholds, dtype=float))
    if pt.ndim != 1 or len(pt) == 0 or not ((pt >= 0) & (pt < 1)).all():
        raise EvaluationError(
            f"thresholds must be a non-empty 1-D sequence of risk thresholds in [0, 1), but got "
            f"{np.round(pt, 4).tolist()[:10]}. Fix: e.g. np.linspace(0.01, 0.5, 50)"
        )
    clash = sorted({TREAT_ALL, TREAT_NONE} & set(survival_at_horizon))
    if clash or not survival_at_horizon:
        raise EvaluationError(
            f"survival_at_horizon must name at least one model, none called {TREAT_ALL!r} or "
            f"{TREAT_NONE!r} (the reference strategies), but got {list(survival_at_horizon)}. "
            "Fix: rename the model"
        )
    surv = {
        name: check_survival(s, (len(t), 1), f"survival_at_horizon[{name!r}]")[:, 0]
        for name, s in survival_at_horizon.items()
    }
    return t, e, h, pt, surv
