"""Nested cross-validation: an honest, stable performance estimate for small cohorts.

Every patient is cut into ``outer_folds`` event-stratified outer folds (``repeats`` times, each
repeat reshuffled from its own seed). For each outer fold, the model's Optuna study tunes on
inner CV folds of the outer training part only, the best trial is refitted on that part, and
the refit is scored on the outer test part with the same metrics as a held-out test set
(:func:`msk1model.evaluation.scorecard.score_test_set`). The estimate is the outer folds' mean
and SD of every metric (stage ``nested_cv``). No outer test row ever reaches the study or the
refit that scores it: :class:`OuterFold` holds the row positions each step was given, so a
test can check that on patient ids.

The final model is tuned and refitted on all patients by the caller, as in a holdout run.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from msk1model import interrupts
from msk1model.config import ModelConfig, TuningConfig
from msk1model.evaluation.scorecard import score_test_set
from msk1model.models import DesignSpec, make_model
from msk1model.outcome import as_y
from msk1model.scores import NESTED_STAGE, score_frame
from msk1model.tuning import Folds, TrialCallback, tune

__all__ = ["OUTER_SEED_STEP", "NestedResult", "OuterFold", "outer_folds", "run_nested_cv"]

#: Repeat r (from 0) of the outer folds is shuffled with seed + OUTER_SEED_STEP * (r + 1).
OUTER_SEED_STEP = 7919


@dataclass(frozen=True)
class OuterFold:
    """One outer fold: row positions into the cohort table.

    ``inner`` are the tuning folds as ``(fit, validate)`` positions into ``train`` (as
    :func:`msk1model.tuning.tune` takes them).
    """

    repeat: int
    fold: int
    train: np.ndarray
    test: np.ndarray
    inner: Folds

    @property
    def label(self) -> str:
        """``outer-1-3``: repeat 1, fold 3 (counting from 1)."""
        return f"outer-{self.repeat + 1}-{self.fold + 1}"

    def tuned_rows(self) -> np.ndarray:
        """Cohort positions of every row the fold's study saw (fit or validate)."""
        seen = np.concatenate([np.concatenate([fit, val]) for fit, val in self.inner])
        return np.unique(self.train[seen])


def outer_folds(
    y: np.ndarray, *, outer: int, repeats: int, inner: int, seed: int
) -> tuple[OuterFold, ...]:
    """The nested plan: ``repeats`` x ``outer`` event-stratified outer folds of all rows, each
    outer training part cut into ``inner`` event-stratified tuning folds."""
    event = as_y(y)["event"]
    positions = np.arange(len(event))
    plan = []
    for repeat in range(repeats):
        # each repeat its own stream, apart from the run's CV folds (seeded with ``seed``)
        outer_seed = seed + OUTER_SEED_STEP * (repeat + 1)
        split = StratifiedKFold(n_splits=outer, shuffle=True, random_state=outer_seed)
        for fold, (train, test) in enumerate(split.split(positions, event)):
            kfold = StratifiedKFold(n_splits=inner, shuffle=True, random_state=outer_seed)
            folds = tuple(kfold.split(train, event[train]))
            plan.append(OuterFold(repeat, fold, np.sort(train), np.sort(test), folds))
    return tuple(plan)


@dataclass(frozen=True)
class NestedResult:
    """What nested CV measured: each outer fold's scores and study, and their summary."""

    folds: tuple[OuterFold, ...]
    per_fold: pd.DataFrame
    """Score rows of stage ``test`` with columns ``repeat`` and ``fold`` added."""
    studies: tuple[str, ...]
    best_params: tuple[dict[str, object], ...]

    def table(self) -> pd.DataFrame:
        """Score rows of stage ``nested_cv``: every metric's ``mean`` and ``sd`` (ddof=1) over
        the outer folds, each at its horizon, with ``n_folds`` the number that gave a value."""
        rows = []
        keys = ["metric", "horizon", "statistic"]
        values = self.per_fold.assign(horizon=self.per_fold["horizon"].fillna(-1.0))
        for (metric, horizon, statistic), group in values.groupby(keys, sort=False):
            finite = group["value"].to_numpy(dtype=float)
            finite = finite[np.isfinite(finite)]
            suffix = "" if statistic == "value" else f"_{statistic}"
            at = {} if horizon == -1.0 else {"horizon": float(horizon)}
            mean = float(finite.mean()) if len(finite) else float("nan")
            sd = float(finite.std(ddof=1)) if len(finite) > 1 else float("nan")
            rows += [
                {"metric": f"{metric}{suffix}", "statistic": "mean", "value": mean, **at},
                {"metric": f"{metric}{suffix}", "statistic": "sd", "value": sd, **at},
            ]
        rows.append({"metric": "n_folds", "value": float(len(self.folds))})
        return score_frame({"stage": NESTED_STAGE, **row} for row in rows)

    def fold_table(self) -> pd.DataFrame:
        """One row per outer fold: its size, study and metrics (no patient data), for an
        artefact."""
        wide = self.per_fold.assign(
            name=[
                m if np.isnan(h) else f"{m}_{h:g}y" + ("" if s == "value" else f"_{s}")
                for m, h, s in zip(
                    self.per_fold["metric"],
                    self.per_fold["horizon"],
                    self.per_fold["statistic"],
                    strict=True,
                )
            ]
        ).pivot_table(index=["repeat", "fold"], columns="name", values="value", sort=False)
        wide.index = wide.index.set_levels([level + 1 for level in wide.index.levels])
        info = pd.DataFrame(
            {
                "repeat": [f.repeat + 1 for f in self.folds],
                "fold": [f.fold + 1 for f in self.folds],
                "train_patients": [len(f.train) for f in self.folds],
                "test_patients": [len(f.test) for f in self.folds],
                "study": list(self.studies),
            }
        )
        return info.merge(wide.reset_index(), on=["repeat", "fold"], how="left")


def run_nested_cv(
    model: ModelConfig,
    table: pd.DataFrame,
    y: np.ndarray,
    plan: Sequence[OuterFold],
    *,
    features: list[str],
    tuning: TuningConfig,
    tau: float,
    seed: int,
    design: DesignSpec | None,
    horizons: list[float],
    horizon: float | None,
    study_name: Callable[[OuterFold], str],
    callbacks: Sequence[TrialCallback] = (),
) -> NestedResult:
    """Tune, refit and score ``model`` in each outer fold of ``plan`` (see the module)."""
    scores, studies, params = [], [], []
    for fold in plan:
        X_train, y_train = table.iloc[fold.train], y[fold.train]
        result = tune(
            model, X_train, y_train, fold.inner, features=features, tuning=tuning, tau=tau,
            seed=seed, design=design, callbacks=callbacks, study_name=study_name(fold),
            horizon=horizon,
        )  # fmt: skip
        with interrupts.compute(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a short outer fold's horizon clipping
            refit = make_model(
                model.kind, result.best_params, features=features, design=design,
                random_state=seed,
            )  # fmt: skip
            refit.fit(X_train, y_train)
            fold_scores = score_test_set(
                refit, table.iloc[fold.test], y[fold.test], y_train=y_train,
                horizons=horizons, tau=tau,
            )  # fmt: skip
        scores.append(fold_scores.assign(repeat=fold.repeat, fold=fold.fold))
        studies.append(result.study_name)
        params.append(dict(result.best_params))
    return NestedResult(
        folds=tuple(plan),
        per_fold=pd.concat(scores, ignore_index=True),
        studies=tuple(studies),
        best_params=tuple(params),
    )
