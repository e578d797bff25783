"""Elastic-net penalised Cox regression (scikit-survival ``CoxnetSurvivalAnalysis``)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from msk1model.errors import ModelError
from msk1model.models._base import SurvivalModel, structured_y

__all__ = ["CoxnetModel"]


class CoxnetModel(SurvivalModel):
    """Elastic-net Cox on standardised features.

    Hyperparameters: ``alpha`` (penalty strength, > 0) and ``l1_ratio`` (0 = ridge, 1 = lasso),
    as in scikit-survival, whose objective is the negative partial log-likelihood divided by n
    plus ``alpha * (l1_ratio * |b|_1 + (1 - l1_ratio) / 2 * |b|_2^2)``. ``unpenalized`` lists
    features left out of the penalty (penalty factor 0), e.g. the clinical covariates, so that
    only the biomarker is shrunk. State: ``coef`` per standardised feature.
    """

    kind = "coxnet"
    hyperparameters: ClassVar[dict[str, Any]] = {
        "alpha": 0.01,
        "l1_ratio": 0.5,
        "max_iter": 100_000,
        "unpenalized": [],
    }

    def __init__(self, *, features: list[str], seed: int = 0, **params: Any) -> None:
        super().__init__(features=features, seed=seed, **params)
        unknown = [f for f in self.params["unpenalized"] if f not in self.features]
        if unknown:
            raise ModelError(
                f"coxnet unpenalized names {unknown}, which are not features of this model "
                f"{self.features}. Fix: list clinical covariates present in every feature set"
            )
        if set(self.features) <= set(self.params["unpenalized"]):
            raise ModelError(
                f"coxnet unpenalized lists every feature {self.features}; at least one must be "
                "penalised. Fix: use kind coxph for an unpenalised Cox model"
            )

    def _fit_risk(self, Z: np.ndarray, event: np.ndarray, time: np.ndarray) -> None:
        from sksurv.linear_model import CoxnetSurvivalAnalysis  # fit-time only: keeps load light

        estimator = CoxnetSurvivalAnalysis(
            alphas=[float(self.params["alpha"])],
            l1_ratio=float(self.params["l1_ratio"]),
            max_iter=int(self.params["max_iter"]),
            normalize=False,
            penalty_factor=[0.0 if f in self.params["unpenalized"] else 1.0 for f in self.features],
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                estimator.fit(Z, structured_y(event, time))
            except ArithmeticError as exc:
                raise ModelError(
                    f"coxnet fit failed at alpha={self.params['alpha']}: {exc}"
                ) from None
        for warning in caught:
            warnings.warn(f"coxnet: {warning.message}", category=warning.category, stacklevel=2)
        self.coef_ = np.asarray(estimator.coef_, dtype=float)[:, 0]

    def _predict_risk(self, Z: np.ndarray) -> np.ndarray:
        return Z @ self.coef_

    def _save_extra(self, directory: Path) -> dict[str, Any]:
        return {"coef": self.coef_.tolist()}

    def _load_extra(self, directory: Path, extra: dict[str, Any]) -> None:
        self.coef_ = np.asarray(extra["coef"], dtype=float)
