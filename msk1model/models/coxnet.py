"""Elastic-net penalised Cox regression (scikit-survival ``CoxnetSurvivalAnalysis``)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.model_selection import StratifiedKFold

from msk1model.errors import ModelError
from msk1model.models._base import SurvivalModel, structured_y
from msk1model.models._checks import NumericalWarning
from msk1model.models.partial_likelihood import cox_partial_log_likelihood

__all__ = ["CoxnetModel"]


class CoxnetModel(SurvivalModel):
    """Elastic-net Cox on standardised features.

    Hyperparameters: ``alpha`` (penalty strength, > 0) and ``l1_ratio`` (0 = ridge, 1 = lasso),
    as in scikit-survival, whose objective is the negative partial log-likelihood divided by n
    plus ``alpha * (l1_ratio * |b|_1 + (1 - l1_ratio) / 2 * |b|_2^2)``. ``unpenalized`` lists
    features left out of the penalty (penalty factor 0), e.g. the clinical covariates, so that
    only the biomarker is shrunk; every design column of such a feature (its category
    indicators) is unpenalised. A feature set whose features are all unpenalised (the clinical
    baseline under that setting) is the unpenalised Cox model, fitted by scikit-survival's
    ``CoxPHSurvivalAnalysis`` (Breslow ties, as coxnet); alpha then does not apply.

    ``alpha: "path"`` chooses alpha along the regularisation path instead: scikit-survival's path
    of ``n_alphas`` values on the training data, and the alpha that maximises the cross-validated
    partial log-likelihood of Verweij & van Houwelingen (1993) over ``path_folds`` inner folds
    (stratified by event, seeded) -- glmnet's criterion for Cox models. The inner folds use the
    training rows only. State: ``coef`` per standardised design column and the ``alpha`` used.
    """

    kind = "coxnet"
    hyperparameters: ClassVar[dict[str, Any]] = {
        "alpha": 0.01,
        "l1_ratio": 0.5,
        "max_iter": 100_000,
        "unpenalized": [],
        "n_alphas": 50,
        "path_folds": 5,
    }

    def __init__(self, *, features: list[str], seed: int = 0, **params: Any) -> None:
        super().__init__(features=features, seed=seed, **params)
        unknown = [f for f in self.params["unpenalized"] if f not in self.features]
        if unknown:
            raise ModelError(
                f"coxnet unpenalized names {unknown}, which are not features of this model "
                f"{self.features}. Fix: list clinical covariates present in every feature set"
            )
        alpha = self.params["alpha"]
        if alpha != "path" and not (isinstance(alpha, int | float) and alpha > 0):
            raise ModelError(f"coxnet alpha must be a number > 0 or 'path', but got {alpha!r}")

    def _fit_risk(self, Z: np.ndarray, event: np.ndarray, time: np.ndarray) -> None:
        if set(self.design_.sources_) <= set(self.params["unpenalized"]):
            self.alpha_ = 0.0
            self.coef_ = _unpenalized_cox(Z, event, time)
            return
        if self.params["alpha"] == "path":
            self.alpha_ = self._alpha_along_path(Z, event, time)
        else:
            self.alpha_ = float(self.params["alpha"])
        self.coef_ = self._fit_path(Z, event, time, [self.alpha_])[:, 0]

    def _fit_path(
        self, Z: np.ndarray, event: np.ndarray, time: np.ndarray, alphas: list[float] | None
    ) -> np.ndarray:
        """Coefficients (n_columns, n_alphas) at ``alphas`` (None: scikit-survival's own path)."""
        estimator = self._estimator(alphas)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                estimator.fit(Z, structured_y(event, time))
            except ArithmeticError as exc:
                raise ModelError(f"coxnet fit failed at alpha={alphas}: {exc}") from None
        for warning in caught:
            warnings.warn(f"coxnet: {warning.message}", category=warning.category, stacklevel=3)
        if alphas is None:
            self.path_alphas_ = np.asarray(estimator.alphas_, dtype=float)
        return np.asarray(estimator.coef_, dtype=float)

    def _estimator(self, alphas: list[float] | None) -> Any:
        from sksurv.linear_model import CoxnetSurvivalAnalysis  # fit-time only: keeps load light

        unpenalized = set(self.params["unpenalized"])
        return CoxnetSurvivalAnalysis(
            alphas=alphas,
            n_alphas=int(self.params["n_alphas"]),
            l1_ratio=float(self.params["l1_ratio"]),
            max_iter=int(self.params["max_iter"]),
            normalize=False,
            penalty_factor=[0.0 if s in unpenalized else 1.0 for s in self.design_.sources_],
        )

    def _alpha_along_path(self, Z: np.ndarray, event: np.ndarray, time: np.ndarray) -> float:
        """The path alpha with the largest cross-validated partial log-likelihood.

        scikit-survival ends a path early once the fit stops improving; the candidates are the
        alphas that every fold reached.
        """
        self._fit_path(Z, event, time, None)
        alphas = self.path_alphas_.tolist()
        folds = StratifiedKFold(
            int(self.params["path_folds"]), shuffle=True, random_state=self.seed
        )
        cvl = np.zeros(len(alphas))
        reached = len(alphas)
        for fit_idx, _ in folds.split(Z, event):
            coef = self._fit_path(Z[fit_idx], event[fit_idx], time[fit_idx], alphas)
            reached = min(reached, coef.shape[1])
            for j in range(reached):
                eta = Z @ coef[:, j]
                cvl[j] += cox_partial_log_likelihood(eta, event, time) - cox_partial_log_likelihood(
                    eta[fit_idx], event[fit_idx], time[fit_idx]
                )
        self.path_alphas_ = self.path_alphas_[:reached]
        self.path_cvl_ = cvl[:reached]
        return float(alphas[int(np.argmax(self.path_cvl_))])

    def _predict_risk(self, Z: np.ndarray) -> np.ndarray:
        return Z @ self.coef_

    def _save_extra(self, directory: Path) -> dict[str, Any]:
        return {"coef": self.coef_.tolist(), "alpha": self.alpha_}

    def _load_extra(self, directory: Path, extra: dict[str, Any]) -> None:
        self.coef_ = np.asarray(extra["coef"], dtype=float)
        self.alpha_ = float(extra.get("alpha", self.params["alpha"]))


def _unpenalized_cox(Z: np.ndarray, event: np.ndarray, time: np.ndarray) -> np.ndarray:
    from sksurv.linear_model import CoxPHSurvivalAnalysis

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            estimator = CoxPHSurvivalAnalysis(ties="breslow").fit(Z, structured_y(event, time))
        except (ArithmeticError, ValueError) as exc:
            raise ModelError(
                f"coxnet (every feature unpenalised: a plain Cox model) failed: {exc}. "
                "Fix: drop collinear or constant columns, or penalise some features"
            ) from None
    for warning in caught:
        warnings.warn(f"coxnet: {warning.message}", NumericalWarning, stacklevel=3)
    return np.asarray(estimator.coef_, dtype=float)
