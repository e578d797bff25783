"""One exception hierarchy for msk1model.

Every message says what is wrong, which rule it breaks, what was found and how to fix it.
Each child also subclasses the matching built-in so callers may catch ``ValueError`` etc.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "EvaluationError",
    "ExportError",
    "ModelError",
    "Msk1ModelError",
    "TrackingError",
]


class Msk1ModelError(Exception):
    """Root of every error msk1model raises on purpose."""


class ConfigError(Msk1ModelError, ValueError):
    """The run configuration is invalid (unknown key, wrong type, impossible value)."""


class DataError(Msk1ModelError, ValueError):
    """The cohort table breaks a data rule (missing column, bad times, bad events, ...)."""


class ModelError(Msk1ModelError, RuntimeError):
    """A model could not be built, fitted or used (unknown kind, failed fit, non-finite output)."""


class EvaluationError(Msk1ModelError, ValueError):
    """A metric is undefined for the data given (e.g. no comparable pairs before tau)."""


class TrackingError(Msk1ModelError, RuntimeError):
    """The MLflow tracking store or model registry could not be used."""


class ExportError(Msk1ModelError, RuntimeError):
    """An exported predictor could not be written, registered or loaded."""
