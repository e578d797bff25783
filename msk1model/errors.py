"""One exception hierarchy and one warning hierarchy for msk1model.

Every message says what is wrong, which rule it breaks, what was found and how to fix it.
Each error also subclasses the matching built-in so callers may catch ``ValueError`` etc.; every
warning is a :class:`Msk1ModelWarning`, so ``warnings.simplefilter("error", Msk1ModelWarning)``
turns all of them into errors at once.
"""

from __future__ import annotations

__all__ = [
    "BiomarkerWarning",
    "BootstrapWarning",
    "CalibrationWarning",
    "ConfigError",
    "DataError",
    "DataWarning",
    "DesignWarning",
    "EvaluationError",
    "ExportError",
    "HorizonWarning",
    "InputError",
    "ModelError",
    "Msk1ModelError",
    "Msk1ModelWarning",
    "NumericalWarning",
    "OutcomeError",
    "ScorecardWarning",
    "StudyError",
    "TrackingError",
]


class Msk1ModelError(Exception):
    """Root of every error msk1model raises on purpose."""


class ConfigError(Msk1ModelError, ValueError):
    """The run configuration is invalid (unknown key, wrong type, impossible value)."""


class DataError(Msk1ModelError, ValueError):
    """The cohort table breaks a data rule (missing column, bad times, bad events, ...)."""


class OutcomeError(Msk1ModelError, ValueError):
    """A survival outcome ``y`` is malformed (not a structured (event, time) array)."""


class InputError(Msk1ModelError, ValueError):
    """An exported predictor's input breaks its contract (missing column, impossible value, ...).

    Its message names columns, rules and row positions only, never an input value.
    """


class ModelError(Msk1ModelError, RuntimeError):
    """A model could not be built, fitted or used (unknown kind, failed fit, non-finite output)."""


class EvaluationError(Msk1ModelError, ValueError):
    """A metric is undefined for the data given (e.g. no comparable pairs before tau)."""


class TrackingError(Msk1ModelError, RuntimeError):
    """The MLflow tracking store or model registry could not be used."""


class ExportError(Msk1ModelError, RuntimeError):
    """An exported predictor could not be written, registered or loaded."""


class StudyError(Msk1ModelError, RuntimeError):
    """An Optuna study cannot be opened or resumed (storage unreachable, changed search space)."""


class Msk1ModelWarning(UserWarning):
    """Root of every warning msk1model issues: the run goes on, but something needs a look."""


class DataWarning(Msk1ModelWarning):
    """The cohort is usable but weak (few events per variable, heavy censoring, ...)."""


class DesignWarning(Msk1ModelWarning):
    """A feature could not be encoded as asked for some rows (e.g. an unseen category)."""


class NumericalWarning(Msk1ModelWarning):
    """A fit is numerically fragile: constant or collinear columns, separation, non-convergence."""


class HorizonWarning(Msk1ModelWarning):
    """A horizon lies outside the follow-up; it was clipped to the nearest time it is defined."""


class CalibrationWarning(Msk1ModelWarning):
    """Predicted survival of exactly 0 or 1 was moved inside (0, 1) for the log-log transform."""


class BiomarkerWarning(Msk1ModelWarning):
    """Patients were left out of a biomarker analysis for missing values."""


class BootstrapWarning(Msk1ModelWarning):
    """Some bootstrap replicates were undefined and left out of a summary."""


class ScorecardWarning(Msk1ModelWarning):
    """A test-set metric could not be computed and is reported as NaN."""
