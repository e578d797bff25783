"""The registry: config ``kind`` -> estimator class, and the factory that builds one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from msk1model.errors import ModelError
from msk1model.models._base import SurvivalModel
from msk1model.models.coxnet import CoxnetModel
from msk1model.models.coxph import CoxPHModel
from msk1model.models.design import DesignSpec
from msk1model.models.gbsa import ComponentwiseGBSAModel, GBSAModel
from msk1model.models.rsf import RandomSurvivalForestModel
from msk1model.models.xgb import XGBAFTModel, XGBCoxModel

__all__ = ["MODEL_KINDS", "hyperparameters_of", "make_model", "model_class"]

#: Every model family by its config ``kind``.
MODEL_KINDS: dict[str, type[SurvivalModel]] = {
    model.kind: model
    for model in (
        CoxPHModel,
        CoxnetModel,
        XGBCoxModel,
        XGBAFTModel,
        GBSAModel,
        ComponentwiseGBSAModel,
        RandomSurvivalForestModel,
    )
}


def model_class(kind: str) -> type[SurvivalModel]:
    """The estimator class of ``kind``.

    Raises
    ------
    ModelError
        If ``kind`` is not registered (the message lists the known kinds).
    """
    if kind not in MODEL_KINDS:
        raise ModelError(
            f"unknown model kind {kind!r}; known kinds: {', '.join(sorted(MODEL_KINDS))}"
        )
    return MODEL_KINDS[kind]


def hyperparameters_of(kind: str) -> dict[str, Any]:
    """Hyperparameter names and defaults of a model kind, from its ``__init__`` signature."""
    return model_class(kind)._hyperparameter_defaults()


def make_model(
    kind: str,
    params: Mapping[str, Any] | None = None,
    *,
    features: list[str] | None = None,
    design: DesignSpec | None = None,
    random_state: int = 0,
) -> SurvivalModel:
    """An unfitted model of ``kind`` with hyperparameters ``params`` (the rest at defaults).

    Parameters
    ----------
    kind
        A key of :data:`MODEL_KINDS`, e.g. ``"coxnet"``.
    params
        Hyperparameter values by name; None or empty keeps every default.
    features
        Raw feature columns the model uses; None uses every column of ``X``.
    design
        How the features are encoded; None passes them through unchanged.
    random_state
        Seed of the fit's random choices.

    Raises
    ------
    ModelError
        If ``kind`` or a name in ``params`` is unknown.
    """
    cls = model_class(kind)
    params = dict(params or {})
    allowed = cls._hyperparameter_defaults()
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ModelError(
            f"unknown hyperparameter(s) {unknown} for kind {kind!r}; allowed: {sorted(allowed)}"
        )
    return cls(**params, features=features, design=design, random_state=random_state)
