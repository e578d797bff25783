"""What scoring uses of scikit-learn, for where it is not installed.

An exported predictor scores in a lean environment without scikit-learn or SciPy (its
requirements: :data:`msk1model.export.RUNTIME_REQUIREMENTS`): restoring a model from its state
and predicting need only ``get_params``-free attribute access and a fitted check. Fitting,
cloning, ``GridSearchCV`` and scikit-learn's checks need scikit-learn itself, which msk1model
requires; :mod:`msk1model.models._base` uses this module only when the import fails.
"""

from __future__ import annotations

import inspect
from typing import Any

from msk1model.errors import ModelError

__all__ = ["BaseEstimator", "check_is_fitted"]


class BaseEstimator:
    """The parameter access of scikit-learn's ``BaseEstimator``, nothing else."""

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        names = [n for n in inspect.signature(type(self).__init__).parameters if n != "self"]
        return {name: getattr(self, name) for name in names}


def check_is_fitted(estimator: Any) -> None:
    """Raise unless ``estimator`` is fitted (its ``__sklearn_is_fitted__``)."""
    if not estimator.__sklearn_is_fitted__():
        raise ModelError(
            f"this {type(estimator).__name__} is not fitted yet. Fix: call fit, or restore a "
            "fitted state"
        )
