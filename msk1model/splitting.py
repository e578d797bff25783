"""Seeded, event-stratified train/test split and K-fold CV on the training part (or, for
nested cross-validation, K-fold CV on every patient)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

from msk1model.outcome import as_y

__all__ = ["Split", "make_split", "whole_cohort_split"]


@dataclass(frozen=True)
class Split:
    """Row positions into the cohort table.

    ``folds`` index into ``train`` (positions within the training part), as ``(fit, validate)``.
    """

    train: np.ndarray
    test: np.ndarray
    folds: tuple[tuple[np.ndarray, np.ndarray], ...]


def make_split(y: np.ndarray, *, test_size: float, cv_folds: int, seed: int) -> Split:
    """Hold out ``test_size`` of patients and cut the rest into ``cv_folds`` folds.

    Both steps stratify on the event indicator of the outcome ``y`` (structured (event, time),
    see :mod:`msk1model.outcome`) so each part has the cohort's event rate.
    """
    event = as_y(y)["event"]
    positions = np.arange(len(event))
    train, test = train_test_split(
        positions, test_size=test_size, stratify=event, random_state=seed, shuffle=True
    )
    train, test = np.sort(train), np.sort(test)
    kfold = StratifiedKFold(n_splits=cv_folds, shuffle=True, random_state=seed)
    folds = tuple((fit, val) for fit, val in kfold.split(train, event[train]))
    return Split(train=train, test=test, folds=folds)


def whole_cohort_split(y: np.ndarray, *, cv_folds: int, seed: int) -> Split:
    """Every patient in the training part (no test part) cut into ``cv_folds`` folds: the
    final model of nested cross-validation is tuned and refitted on all patients."""
    event = as_y(y)["event"]
    train = np.arange(len(event))
    kfold = StratifiedKFold(n_splits=cv_folds, shuffle=True, random_state=seed)
    folds = tuple((fit, val) for fit, val in kfold.split(train, event))
    return Split(train=train, test=train[:0], folds=folds)
