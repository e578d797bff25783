"""Model families as scikit-learn estimators behind one contract (:class:`SurvivalModel`).

Each family is one module; :data:`MODEL_KINDS` maps a config ``kind`` to its class and
:func:`make_model` builds one. A fitted model's whole state is data
(:meth:`SurvivalModel.to_state` / :meth:`SurvivalModel.from_state`), written to and read from a
folder only by :func:`save_model` and :func:`load_model`.
"""

from __future__ import annotations

from msk1model.models._base import SurvivalModel, check_training_size
from msk1model.models._checks import NumericalWarning
from msk1model.models._io import load_model, save_model
from msk1model.models._registry import MODEL_KINDS, hyperparameters_of, make_model, model_class
from msk1model.models.competing import CompetingRisksModel
from msk1model.models.coxnet import CoxnetModel
from msk1model.models.coxph import CoxPHModel
from msk1model.models.design import Design, DesignSpec, DesignWarning
from msk1model.models.gbsa import ComponentwiseGBSAModel, GBSAModel
from msk1model.models.rsf import RandomSurvivalForestModel
from msk1model.models.xgb import XGBAFTModel, XGBCoxModel

__all__ = [
    "MODEL_KINDS",
    "CompetingRisksModel",
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
    "check_training_size",
    "hyperparameters_of",
    "load_model",
    "make_model",
    "model_class",
    "save_model",
]
