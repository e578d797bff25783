"""The one unpenalised Cox fit the statistics use: Efron ties, fitted to full convergence.

:func:`fit_cox` takes a frame as lifelines' ``CoxPHFitter.fit`` does and returns the parts of a
fitted lifelines model the analyses read (``params_``, ``standard_errors_``, ``variance_matrix_``,
``log_likelihood_``, ``summary``, ``event_observed``), computed by
:func:`msk1model.models.cox_newton.fit_cox_newton`: equal to lifelines to 1e-9, in O(n p^2) per
Newton step (lifelines takes about 10x longer, and its import 1.5 s).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import stats

from msk1model.errors import EvaluationError, ModelError
from msk1model.models.cox_newton import CoxFit, fit_cox_newton

__all__ = ["CoxResult", "fit_cox", "newton_fit"]

_FIX = "drop a covariate that is constant, collinear or separates the events"


@dataclass(frozen=True)
class CoxResult:
    """A fitted Cox model, with lifelines' attribute names."""

    params_: pd.Series
    """Log hazard ratio per covariate."""
    variance_matrix_: pd.DataFrame
    """Inverse of the observed information."""
    log_likelihood_: float
    """Partial log-likelihood at ``params_`` (Efron)."""
    event_observed: np.ndarray
    """The fit's event flags, one per patient."""

    @cached_property
    def standard_errors_(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.variance_matrix_)), index=self.params_.index)

    @cached_property
    def summary(self) -> pd.DataFrame:
        """Per covariate: ``coef``, ``se(coef)``, ``z`` and the two-sided Wald ``p``."""
        z = self.params_ / self.standard_errors_
        return pd.DataFrame(
            {
                "coef": self.params_,
                "se(coef)": self.standard_errors_,
                "z": z,
                "p": 2 * stats.norm.sf(np.abs(z)),
            }
        )


def newton_fit(
    x: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    what: str,
    fix: str = _FIX,
    covariates: list[str] | None = None,
) -> CoxFit:
    """The Efron-ties fit of ``time``, ``event`` on the columns of ``x`` (n, p), converged, or an
    :class:`EvaluationError` naming ``what``, the ``covariates`` and the ``fix``."""
    names = covariates if covariates is not None else [f"x{j}" for j in range(x.shape[1])]
    try:
        fit = fit_cox_newton(x, time, event, ties="efron")
    except ModelError as exc:
        raise EvaluationError(f"{what} cannot be fitted on {names} ({exc}). Fix: {fix}") from None
    if not fit.converged:
        raise EvaluationError(
            f"{what} did not converge on {names} in {fit.iterations} Newton steps "
            f"(coefficients {np.round(fit.coef, 3).tolist()}: the likelihood keeps rising). "
            f"Fix: {fix}"
        )
    return fit


def fit_cox(
    frame: pd.DataFrame,
    what: str,
    fix: str = _FIX,
    *,
    duration_col: str = "time",
    event_col: str = "event",
) -> CoxResult:
    """Cox model of ``duration_col``/``event_col`` on every other column of ``frame``.

    ``what`` names the model and ``fix`` the remedy in the error raised when it cannot be fitted
    or does not converge. Follow-up in years and event 0/1, no missing values.
    """
    covariates = [c for c in frame.columns if c not in (duration_col, event_col)]
    event = frame[event_col].to_numpy(dtype=bool)
    x = frame[covariates].to_numpy(dtype=float)
    fit = newton_fit(x, frame[duration_col].to_numpy(dtype=float), event, what, fix, covariates)
    covariance = np.linalg.inv(fit.information)
    return CoxResult(
        params_=pd.Series(fit.coef, index=pd.Index(covariates, name="covariate")),
        variance_matrix_=pd.DataFrame(covariance, index=covariates, columns=covariates),
        log_likelihood_=fit.log_likelihood,
        event_observed=event,
    )
