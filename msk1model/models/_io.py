"""The only file I/O of a model: its state (:meth:`SurvivalModel.to_state`) as one JSON file."""

from __future__ import annotations

import json
from pathlib import Path

from msk1model.errors import ModelError
from msk1model.models._base import SurvivalModel
from msk1model.models.competing import COMPETING_KIND, CompetingRisksModel

__all__ = ["STATE_FILE", "load_model", "save_model"]

#: The file in a model folder that holds the whole state.
STATE_FILE = "model.json"


def save_model(model: SurvivalModel | CompetingRisksModel, directory: str | Path) -> Path:
    """Write the fitted ``model``'s state to ``directory/model.json``; return the folder.

    The folder is created when missing. The file is JSON (no pickle): :func:`load_model`
    restores a model whose predictions equal this one's bit for bit.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(model.to_state(), indent=1)
    (directory / STATE_FILE).write_text(text, encoding="utf-8")
    return directory


def load_model(directory: str | Path) -> SurvivalModel | CompetingRisksModel:
    """Load a model :func:`save_model` wrote into ``directory`` (JSON state, no pickle): a
    survival model, or a competing-risks pair.

    Raises
    ------
    ModelError
        If ``directory`` holds no ``model.json``, or its state cannot be read.
    """
    path = Path(directory) / STATE_FILE
    if not path.is_file():
        raise ModelError(f"no saved model at {directory}: {STATE_FILE} is missing")
    state = json.loads(path.read_text(encoding="utf-8"))
    if state.get("kind") == COMPETING_KIND:
        return CompetingRisksModel.from_state(state)
    return SurvivalModel.from_state(state)
