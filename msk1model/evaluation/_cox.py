"""The one unpenalised Cox fit the statistics use (lifelines, Efron ties, tight tolerance)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from msk1model.errors import EvaluationError

if TYPE_CHECKING:
    from lifelines import CoxPHFitter

__all__ = ["fit_cox"]

#: lifelines' default stop (Newton decrement or step < 1e-7) can leave the coefficients ~1e-6 and
#: the log-likelihood short of the maximum; a few more steps cost little.
_OPTIONS = {"precision": 1e-14, "r_precision": 1e-14}


_FIX = "drop a covariate that is constant, collinear or separates the events"


def fit_cox(
    frame: pd.DataFrame,
    what: str,
    fix: str = _FIX,
    *,
    duration_col: str = "time",
    event_col: str = "event",
) -> CoxPHFitter:
    """Cox model of ``duration_col``/``event_col`` on every other column of ``frame``.

    ``what`` names the model and ``fix`` the remedy in the error raised when it does not converge.
    The column names follow lifelines' ``CoxPHFitter.fit``: follow-up in years and event 0/1.
    """
    # imported here: lifelines takes ~1.5 s to import and only these fits need it
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceError

    try:
        return CoxPHFitter().fit(frame, duration_col, event_col, fit_options=_OPTIONS)
    except ConvergenceError as exc:
        covariates = [c for c in frame.columns if c not in (duration_col, event_col)]
        raise EvaluationError(
            f"{what} did not converge on {covariates} ({str(exc).splitlines()[0]}). Fix: {fix}"
        ) from None
