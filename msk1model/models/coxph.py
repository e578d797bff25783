"""Unpenalised (or ridge-penalised) Cox proportional hazards model by Newton's method.

The model a REMARK-style biomarker report quotes: hazard ratios per unit of each covariate with
standard errors, 95% Wald confidence intervals and p-values (:meth:`CoxPHModel.summary`).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from msk1model.errors import ModelError
from msk1model.models._base import SurvivalModel
from msk1model.models._checks import NumericalWarning
from msk1model.models._parts import event_time
from msk1model.models.design import DesignSpec

__all__ = ["CoxPHModel"]


class CoxPHModel(SurvivalModel):
    """Cox model by partial likelihood, Efron ties (as lifelines' ``CoxPHFitter``), fitted by
    :func:`~msk1model.models.cox_newton.fit_cox_newton` (one sort, a compiled pass per Newton step).

    Fitted on standardised features (better conditioned); the coefficients and standard errors
    are mapped back to the original units, so with ``penalizer`` 0 and no missing values they
    equal a lifelines fit on the raw columns (lifelines' penalty is on its standardised columns
    too).

    Parameters
    ----------
    penalizer
        lifelines' ridge penalty ``penalizer / 2 * |b|^2`` on the standardised scale
        (0 = plain Cox).
    features, design, random_state
        As for every :class:`SurvivalModel` (the fit is deterministic: ``random_state`` unused).

    Attributes
    ----------
    coef_, se_
        Coefficient and standard error per standardised design column, shape (p,).
    """

    kind = "coxph"

    def __init__(
        self,
        *,
        penalizer: float = 0.0,
        features: list[str] | None = None,
        design: DesignSpec | None = None,
        random_state: int = 0,
    ) -> None:
        self.penalizer = penalizer
        self.features = features
        self.design = design
        self.random_state = random_state

    def _fit_risk(self, Z: np.ndarray, y: np.ndarray) -> None:
        from msk1model.models.cox_newton import fit_cox_newton  # fit-time only: numba stays home

        event, time = event_time(y)
        n = len(time)
        # lifelines puts its penalty on columns it scales by their SD with ddof 1; Z's have ddof 0
        penalizer = float(self.penalizer) * n / max(n - 1, 1)
        try:
            fit = fit_cox_newton(Z, time, event, ties="efron", penalizer=penalizer)
        except ModelError as exc:
            raise ModelError(
                f"coxph did not converge on features {self.design_columns}: {exc}. "
                "Fix: drop collinear or constant columns, or set params.penalizer > 0"
            ) from None
        self.coef_ = fit.coef
        self.se_ = fit.se
        if not fit.converged:
            warnings.warn(
                f"coxph: the Newton steps did not converge in {fit.iterations} iterations on "
                f"features {self.design_columns}",
                NumericalWarning,
                stacklevel=2,
            )
        self._warn_separation()

    def _warn_separation(self) -> None:
        """Monotone likelihood (a column that separates events) shows as a runaway coefficient."""
        runaway = [c for c, b in zip(self.design_columns, self.coef_, strict=True) if abs(b) > 10]
        if runaway:
            warnings.warn(
                f"coxph: coefficient(s) of {runaway} exceed 10 per SD (hazard ratio > 22,000): "
                "the likelihood is monotone in them, typically because a column separates "
                "patients with and without events (e.g. no events in one category). Fix: merge "
                "sparse categories or set params.penalizer > 0",
                NumericalWarning,
                stacklevel=3,
            )

    def _predict_risk(self, Z: np.ndarray) -> np.ndarray:
        return Z @ self.coef_

    def summary(self) -> pd.DataFrame:
        """Per feature, in its original unit: coef (log HR), SE, HR with 95% CI, z and p.

        Index: design column names (the features, after categorical encoding and the biomarker
        transform: ``grade=2``, ``log2(msk1)``, ``msk1:er``). Columns: ``coef``, ``se``,
        ``hazard_ratio``, ``hr_lower_95``, ``hr_upper_95``, ``z``, ``p`` (two-sided Wald).
        """
        from scipy import stats  # reporting only: an exported predictor scores without scipy

        scales = self.preprocessor_.scales_
        coef, se = self.coef_ / scales, self.se_ / scales
        z = coef / se
        half_width = stats.norm.ppf(0.975) * se
        return pd.DataFrame(
            {
                "coef": coef,
                "se": se,
                "hazard_ratio": np.exp(coef),
                "hr_lower_95": np.exp(coef - half_width),
                "hr_upper_95": np.exp(coef + half_width),
                "z": z,
                "p": 2 * stats.norm.sf(np.abs(z)),
            },
            index=pd.Index(self.design_columns, name="feature"),
        )

    def _learned_state(self) -> dict[str, Any]:
        return {"coef": self.coef_.tolist(), "se": self.se_.tolist()}

    def _restore_learned(self, state: dict[str, Any]) -> None:
        self.coef_ = np.asarray(state["coef"], dtype=float)
        self.se_ = np.asarray(state["se"], dtype=float)
