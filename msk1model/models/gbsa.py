"""Gradient-boosted Cox models from scikit-survival, stored as data rather than pickles.

* ``gbsa``: ``GradientBoostingSurvivalAnalysis(loss="coxph")``, regression trees as base learners;
* ``gbsa_componentwise``: ``ComponentwiseGradientBoostingSurvivalAnalysis(loss="coxph")``,
  one-feature least-squares base learners, so the fitted model is linear (a sparse Cox model).

Both give the boosted log relative hazard; survival curves come from the shared Breslow baseline.
The tree ensemble is kept as its node arrays (JSON) and evaluated here with numpy, exactly as
scikit-learn evaluates it, so loading never unpickles an estimator.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from msk1model.models._base import SurvivalModel
from msk1model.models.design import DesignSpec

__all__ = ["ComponentwiseGBSAModel", "GBSAModel", "TreeEnsemble", "leaf_index"]


def leaf_index(
    X32: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    feature: np.ndarray,
    threshold: np.ndarray,
) -> np.ndarray:
    """Leaf of one scikit-learn tree for every row of float32 ``X32`` (left when x <= threshold)."""
    rows = np.arange(X32.shape[0])
    node = np.zeros(X32.shape[0], dtype=np.intp)
    while True:
        internal = left[node] != -1
        if not internal.any():
            return node
        go_left = X32[rows, np.maximum(feature[node], 0)] <= threshold[node]
        node = np.where(internal, np.where(go_left, left[node], right[node]), node)


#: Why scikit-survival's gradient boosting is refused above 20,000 training patients.
GBSA_SIZE_REASON = (
    "scikit-survival's Cox loss compares every pair of patients, so each boosting iteration "
    "takes time that grows as n^2 (10 iterations: 2.7 s at 5,000 patients, 46 s at 20,000 on "
    "2 cores)"
)


class TreeEnsemble:
    """A sum of regression trees: ``init + sum_k weight_k * tree_k(X)``.

    Each tree is scikit-learn's node arrays: ``left``/``right`` children (-1 at a leaf),
    split ``feature`` and ``threshold`` (go left when ``x <= threshold``, with ``x`` cast to
    float32 as scikit-learn does), and the leaf ``value``.
    """

    def __init__(self, init: float, weights: list[float], trees: list[dict[str, list[Any]]]):
        self.init = float(init)
        self.weights = [float(w) for w in weights]
        self.trees = trees
        self._arrays = [
            tuple(np.asarray(t[k]) for k in ("left", "right", "feature", "threshold", "value"))
            for t in trees
        ]

    @classmethod
    def from_sklearn(cls, init: float, weights: list[float], estimators: list[Any]) -> TreeEnsemble:
        """From fitted scikit-learn regression trees (``DecisionTreeRegressor``)."""
        trees = [
            {
                "left": e.tree_.children_left.tolist(),
                "right": e.tree_.children_right.tolist(),
                "feature": e.tree_.feature.tolist(),
                "threshold": e.tree_.threshold.tolist(),
                "value": e.tree_.value[:, 0, 0].tolist(),
            }
            for e in estimators
        ]
        return cls(init, weights, trees)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Ensemble output, shape (n,), for ``X`` of shape (n, n_features)."""
        X32 = np.asarray(X, dtype=np.float32)
        out = np.full(X32.shape[0], self.init)
        for weight, (left, right, feature, threshold, value) in zip(
            self.weights, self._arrays, strict=True
        ):
            out += weight * value[leaf_index(X32, left, right, feature, threshold)]
        return out

    def to_state(self) -> dict[str, Any]:
        """The trees' node arrays, weights and initial value as JSON data (exact floats)."""
        return {"init": self.init, "weights": self.weights, "trees": self.trees}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TreeEnsemble:
        """The ensemble :meth:`to_state` described."""
        return cls(state["init"], state["weights"], state["trees"])


class GBSAModel(SurvivalModel):
    """scikit-survival gradient boosting with the Cox partial likelihood loss and tree learners.

    Parameters
    ----------
    n_estimators, learning_rate, max_depth, min_samples_leaf, subsample, max_features, dropout_rate
        As in scikit-survival's ``GradientBoostingSurvivalAnalysis``.
    features, design, random_state
        As for every :class:`SurvivalModel`.

    Attributes
    ----------
    ensemble_
        The fitted trees as a :class:`TreeEnsemble` (node arrays, JSON).
    """

    kind = "gbsa"
    max_train_patients = 20_000
    size_reason = GBSA_SIZE_REASON

    def __init__(
        self,
        *,
        n_estimators: int = 100,
        learning_rate: float = 0.1,
        max_depth: int = 3,
        min_samples_leaf: int = 10,
        subsample: float = 1.0,
        max_features: int | float | str | None = None,
        dropout_rate: float = 0.0,
        features: list[str] | None = None,
        design: DesignSpec | None = None,
        random_state: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.subsample = subsample
        self.max_features = max_features
        self.dropout_rate = dropout_rate
        self.features = features
        self.design = design
        self.random_state = random_state

    def _fit_risk(self, Z: np.ndarray, y: np.ndarray) -> None:
        from sksurv.ensemble import GradientBoostingSurvivalAnalysis

        estimator = GradientBoostingSurvivalAnalysis(
            loss="coxph", random_state=self.random_state, **self._hyperparameters()
        ).fit(Z, y)
        stages = estimator.estimators_[:, 0]
        scale = getattr(estimator, "_scale", np.ones(len(stages)))  # set when dropout_rate > 0
        init = float(estimator._raw_predict_init(Z[:1].astype(np.float32)).ravel()[0])
        weights = (estimator.learning_rate * np.asarray(scale)[: len(stages)]).tolist()
        self.ensemble_ = TreeEnsemble.from_sklearn(init, weights, list(stages))

    def _predict_risk(self, Z: np.ndarray) -> np.ndarray:
        return self.ensemble_.predict(Z)

    def _learned_state(self) -> dict[str, Any]:
        return {"ensemble": self.ensemble_.to_state()}

    def _restore_learned(self, state: dict[str, Any]) -> None:
        self.ensemble_ = TreeEnsemble.from_state(state["ensemble"])


class ComponentwiseGBSAModel(SurvivalModel):
    """Componentwise least-squares boosting of the Cox partial likelihood: a linear model.

    Parameters
    ----------
    n_estimators, learning_rate, subsample, dropout_rate
        As in scikit-survival's ``ComponentwiseGradientBoostingSurvivalAnalysis``.
    features, design, random_state
        As for every :class:`SurvivalModel`.

    Attributes
    ----------
    intercept_, coef_
        The boosted linear model: intercept and coefficient per standardised design column
        (the sum of the selected components' updates), shape (p,).
    """

    kind = "gbsa_componentwise"
    max_train_patients = 20_000
    size_reason = GBSA_SIZE_REASON

    def __init__(
        self,
        *,
        n_estimators: int = 100,
        learning_rate: float = 0.1,
        subsample: float = 1.0,
        dropout_rate: float = 0.0,
        features: list[str] | None = None,
        design: DesignSpec | None = None,
        random_state: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.dropout_rate = dropout_rate
        self.features = features
        self.design = design
        self.random_state = random_state

    def _fit_risk(self, Z: np.ndarray, y: np.ndarray) -> None:
        from sksurv.ensemble import ComponentwiseGradientBoostingSurvivalAnalysis

        estimator = ComponentwiseGradientBoostingSurvivalAnalysis(
            loss="coxph", random_state=self.random_state, **self._hyperparameters()
        ).fit(Z, y)
        coef = np.asarray(estimator.coef_, dtype=float)
        self.intercept_, self.coef_ = float(coef[0]), coef[1:]

    def _predict_risk(self, Z: np.ndarray) -> np.ndarray:
        return self.intercept_ + Z @ self.coef_

    def _learned_state(self) -> dict[str, Any]:
        return {"intercept": self.intercept_, "coef": self.coef_.tolist()}

    def _restore_learned(self, state: dict[str, Any]) -> None:
        self.intercept_ = float(state["intercept"])
        self.coef_ = np.asarray(state["coef"], dtype=float)
