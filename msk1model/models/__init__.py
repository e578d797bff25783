"""Model families behind one contract (:class:`SurvivalModel`); a registry maps config kinds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from msk1model.errors import ModelError
from msk1model.models._base import STATE_FILE, SurvivalModel, structured_y, unpack_y
from msk1model.models._checks import NumericalWarning
from msk1model.models.coxnet import CoxnetModel
from msk1model.models.coxph import CoxPHModel
from msk1model.models.design import Design, DesignSpec, DesignWarning
from msk1model.models.gbsa import ComponentwiseGBSAModel, GBSAModel
from msk1model.models.rsf import RandomSurvivalForestModel
from msk1model.models.xgb import XGBAFTModel, XGBCoxModel

__all__ = [
    "MODEL_KINDS",
    "ComponentwiseGBSAModel",
    "CoxPHModel",
    "CoxnetModel",
    "Design",
    "DesignSpec",
    "DesignWarning",
    "GBSAModel",
    "NumericalWarning",
    "RandomSurvivalForestModel",
    "SurvivalModel",
    "XGBAFTModel",
    "XGBCoxModel",
    "hyperparameters_of",
    "load_model",
    "make_model",
    "structured_y",
    "unpack_y",
]

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


def _model_class(kind: str) -> type[SurvivalModel]:
    if kind not in MODEL_KINDS:
        raise ModelError(
            f"unknown model kind {kind!r}; known kinds: {', '.join(sorted(MODEL_KINDS))}"
        )
    return MODEL_KINDS[kind]


def hyperparameters_of(kind: str) -> dict[str, Any]:
    """Hyperparameter names and defaults of a model kind."""
    return dict(_model_class(kind).hyperparameters)


def make_model(
    kind: str,
    features: list[str],
    params: dict[str, Any],
    seed: int,
    design: DesignSpec | None = None,
) -> SurvivalModel:
    """An unfitted model of ``kind`` on ``features`` (raw columns), encoded by ``design``."""
    return _model_class(kind)(features=features, seed=seed, design=design, **params)


def load_model(directory: str | Path) -> SurvivalModel:
    """Load a model saved by :meth:`SurvivalModel.save` (JSON state, no pickle)."""
    path = Path(directory) / STATE_FILE
    if not path.is_file():
        raise ModelError(f"no saved model at {directory}: {STATE_FILE} is missing")
    state = json.loads(path.read_text(encoding="utf-8"))
    return _model_class(state["kind"]).load(directory, state)
