"""Elastic-net penalised Cox regression (scikit-survival's ``CoxnetSurvivalAnalysis`` objective,
solved by :func:`msk1model.models.coxnet_path.coxnet_path`)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from msk1model.errors import ModelError
from msk1model.models._base import SurvivalModel
from msk1model.models._checks import NumericalWarning
from msk1model.models._parts import event_time
from msk1model.models.design import DesignSpec
from msk1model.models.partial_likelihood import cox_partial_log_likelihood

__all__ = ["CoxnetModel"]

# scikit-survival's tolerance is 1e-7: its coefficients are then within about 3e-4 of the
# optimum, the path solver's within about 5e-5. 1e-9 brings them within about 3e-6 for 40% more
# passes over the data.
_TOL = 1e-9


class CoxnetModel(SurvivalModel):
    """Elastic-net Cox on standardised features.

    scikit-survival's objective: the negative partial log-likelihood (Breslow ties) divided by n
    plus ``alpha * (l1_ratio * |b|_1 + (1 - l1_ratio) / 2 * |b|_2^2)``, with scikit-survival's
    penalty factors (rescaled to sum to the number of columns), path and tolerance; msk1model's
    own path solver (:func:`~msk1model.models.coxnet_path.coxnet_path`, proximal Newton with warm
    starts and strong rules) solves it, and agrees with scikit-survival's
    ``CoxnetSurvivalAnalysis`` to its tolerance. A feature set whose features are all
    unpenalised (the clinical baseline under that setting) is the unpenalised Cox model (Breslow
    ties, as scikit-survival's ``CoxPHSurvivalAnalysis``); alpha then does not apply.

    ``alpha="path"`` chooses alpha along the regularisation path instead: scikit-survival's path
    of ``n_alphas`` values on the training data, and the alpha that maximises the cross-validated
    partial log-likelihood of Verweij & van Houwelingen (1993) over ``path_folds`` inner folds
    (stratified by event, seeded by ``random_state``) -- glmnet's criterion for Cox models. The
    inner folds use the training rows only.

    Parameters
    ----------
    alpha
        Penalty strength (> 0), or ``"path"``.
    l1_ratio
        Elastic-net mixing: 0 = ridge, 1 = lasso.
    max_iter
        Passes over the data at most (a gradient evaluation each), over the whole path.
    unpenalized
        Features left out of the penalty (penalty factor 0), e.g. the clinical covariates, so
        that only the biomarker is shrunk; every design column of such a feature (its category
        indicators) is unpenalised.
    n_alphas, path_folds
        Length of the path and number of inner folds (``alpha="path"`` only).
    features, design, random_state
        As for every :class:`SurvivalModel`.

    Attributes
    ----------
    coef_
        Coefficient per standardised design column, shape (p,).
    alpha_
        The alpha used (0 when every feature is unpenalised).
    path_alphas_, path_cvl_
        The candidate alphas and their cross-validated log-likelihood (``alpha="path"``).
    """

    kind = "coxnet"

    def __init__(
        self,
        *,
        alpha: float | str = 0.01,
        l1_ratio: float = 0.5,
        max_iter: int = 100_000,
        unpenalized: Sequence[str] = (),
        n_alphas: int = 50,
        path_folds: int = 5,
        features: list[str] | None = None,
        design: DesignSpec | None = None,
        random_state: int = 0,
    ) -> None:
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.max_iter = max_iter
        self.unpenalized = unpenalized
        self.n_alphas = n_alphas
        self.path_folds = path_folds
        self.features = features
        self.design = design
        self.random_state = random_state

    def _validate_hyperparameters(self, features: list[str]) -> None:
        unknown = [f for f in self.unpenalized if f not in features]
        if unknown:
            raise ModelError(
                f"coxnet unpenalized names {unknown}, which are not features of this model "
                f"{features}. Fix: list clinical covariates present in every feature set"
            )
        alpha = self.alpha
        if alpha != "path" and not (isinstance(alpha, int | float) and alpha > 0):
            raise ModelError(f"coxnet alpha must be a number > 0 or 'path', but got {alpha!r}")

    def _fit_risk(self, Z: np.ndarray, y: np.ndarray) -> None:
        if set(self.design_.sources_) <= set(self.unpenalized):
            self.alpha_ = 0.0
            self.coef_ = _unpenalized_cox(Z, y)
            return
        if self.alpha == "path":
            self.alpha_ = self._alpha_along_path(Z, y)
        else:
            self.alpha_ = float(self.alpha)
        self.coef_ = self._fit_path(Z, y, [self.alpha_])[:, 0]

    def _fit_path(self, Z: np.ndarray, y: np.ndarray, alphas: list[float] | None) -> np.ndarray:
        """Coefficients (n_columns, n_alphas) at ``alphas`` (None: scikit-survival's own path)."""
        from msk1model.models.coxnet_path import coxnet_path  # fit-time only: numba stays home

        event, time = event_time(y)
        unpenalized = set(self.unpenalized)
        path = coxnet_path(
            Z,
            time,
            event,
            l1_ratio=float(self.l1_ratio),
            penalty_factor=[0.0 if s in unpenalized else 1.0 for s in self.design_.sources_],
            alphas=alphas,
            n_alphas=int(self.n_alphas),
            tol=_TOL,
            max_iter=int(self.max_iter),
        )
        if alphas is not None and np.all(np.abs(path.coef) < np.finfo(float).eps):
            warnings.warn(
                f"coxnet: all coefficients are zero at alpha={alphas}. Fix: decrease alpha",
                NumericalWarning,
                stacklevel=3,
            )
        if alphas is None:
            self.path_alphas_ = path.alphas
        return path.coef

    def _alpha_along_path(self, Z: np.ndarray, y: np.ndarray) -> float:
        """The path alpha with the largest cross-validated partial log-likelihood.

        scikit-survival ends a path early once the fit stops improving; the candidates are the
        alphas that every fold reached.
        """
        self._fit_path(Z, y, None)
        alphas = self.path_alphas_.tolist()
        from sklearn.model_selection import StratifiedKFold  # fit-time only

        folds = StratifiedKFold(int(self.path_folds), shuffle=True, random_state=self.random_state)
        cvl = np.zeros(len(alphas))
        reached = len(alphas)
        for fit_idx, _ in folds.split(Z, y["event"].astype(bool)):
            coef = self._fit_path(Z[fit_idx], y[fit_idx], alphas)
            reached = min(reached, coef.shape[1])
            for j in range(reached):
                eta = Z @ coef[:, j]
                cvl[j] += cox_partial_log_likelihood(eta, y) - cox_partial_log_likelihood(
                    eta[fit_idx], y[fit_idx]
                )
        self.path_alphas_ = self.path_alphas_[:reached]
        self.path_cvl_ = cvl[:reached]
        return float(alphas[int(np.argmax(self.path_cvl_))])

    def _predict_risk(self, Z: np.ndarray) -> np.ndarray:
        return Z @ self.coef_

    def _learned_state(self) -> dict[str, Any]:
        return {"coef": self.coef_.tolist(), "alpha": self.alpha_}

    def _restore_learned(self, state: dict[str, Any]) -> None:
        self.coef_ = np.asarray(state["coef"], dtype=float)
        self.alpha_ = float(state["alpha"])


def _unpenalized_cox(Z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A plain Cox model (Breslow ties, as scikit-survival's ``CoxPHSurvivalAnalysis``)."""
    from msk1model.models.cox_newton import fit_cox_newton  # fit-time only: numba stays home

    event, time = event_time(y)
    try:
        fit = fit_cox_newton(Z, time, event, ties="breslow")
    except ModelError as exc:
        raise ModelError(
            f"coxnet (every feature unpenalised: a plain Cox model) failed: {exc}. "
            "Fix: drop collinear or constant columns, or penalise some features"
        ) from None
    if not fit.converged:
        warnings.warn(
            f"coxnet (every feature unpenalised: a plain Cox model) did not converge in "
            f"{fit.iterations} Newton steps: a coefficient grows without bound, typically because "
            "a column separates patients with and without events. Fix: penalise some features",
            NumericalWarning,
            stacklevel=3,
        )
    return fit.coef
