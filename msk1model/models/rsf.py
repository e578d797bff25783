"""Random survival forest (scikit-survival), stored compactly as data rather than a pickle.

``rsf`` fits scikit-survival's ``RandomSurvivalForest`` (log-rank splits, bootstrap samples).
Each tree's leaf holds a Nelson-Aalen cumulative hazard (CHF) on the grid of unique training
times; the ensemble CHF ``H(t | x)`` is the mean over trees of the CHF of the leaf ``x`` falls in
(Ishwaran et al. 2008). From it, exactly as scikit-survival computes them:

* the risk score is ``sum_j H(T_j | x)`` over the unique training event times ``T_j`` (the
  expected number of events; scikit-survival's ``predict``), higher = higher risk;
* ``predict_cumulative_hazard`` is the step function ``H(t | x)``: 0 before the first training
  time, the last value beyond the last.

Survival is ``S(t | x) = exp(-H(t | x))``, the package-wide contract, not scikit-survival's
``predict_survival_function`` (the mean over trees of each leaf's Kaplan-Meier curve). Both are
consistent estimators of the same curve and differ little (mean per-tree Kaplan-Meier is slightly
higher); ``exp(-H)`` is kept because it is a proper survival function derived from the very
estimator that ranks patients, so risk scores, curves, Brier scores and calibration at the
horizon all come from one ensemble CHF, as for every other family.

State. scikit-survival keeps an (n_nodes, n_unique_times, 2) value array per tree: hundreds of MB
as JSON. A leaf's CHF changes only at the event times among its own (bootstrap) samples, so each
leaf stores just the grid positions where its CHF changes and the CHF from there on (float64, so
the step function is rebuilt exactly). With the node arrays (children, split feature, float32
split threshold rule as in scikit-learn) the whole forest is a few flat arrays, kept in the model
state as exact encoded bytes (``_state.encode_array``: dtype, shape, zlib + base64, no pickle)
and evaluated here with numpy.
Fitting needs scikit-survival's ``low_memory=False`` trees, about ``16 * n_nodes * n_times`` bytes
per tree while fitting (some 600 MB for 100 trees at n = 2,800); the fitted model is small.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from msk1model.models._base import SurvivalModel
from msk1model.models._state import decode_array, encode_array
from msk1model.models.design import DesignSpec
from msk1model.models.gbsa import leaf_index

__all__ = ["RandomSurvivalForestModel", "SurvivalForest"]

_TREE_KEYS = ("left", "right", "feature", "threshold")


class SurvivalForest:
    """Survival trees whose leaves hold step-function cumulative hazards on one time grid.

    Parameters
    ----------
    arrays
        ``times`` (n_times,) unique training times in years and ``is_event_time`` (n_times,)
        whether any training event happened then; per node, concatenated over trees, ``left``,
        ``right`` (local child ids, -1 at a leaf), ``feature``, ``threshold`` (go left when the
        float32-cast value is ``<= threshold``) with tree ``b`` at ``tree_ptr[b]:tree_ptr[b+1]``;
        per node, its CHF changes ``chf_index`` (grid positions, ascending) and ``chf_value``
        (CHF from that position on) at ``chf_ptr[node]:chf_ptr[node+1]`` (empty when internal).
    """

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays
        self.times = arrays["times"]
        self.is_event_time = arrays["is_event_time"]
        tree_ptr, chf_ptr = arrays["tree_ptr"], arrays["chf_ptr"]
        self._trees = [
            (
                tuple(arrays[k][tree_ptr[b] : tree_ptr[b + 1]] for k in _TREE_KEYS),
                chf_ptr[tree_ptr[b] : tree_ptr[b + 1] + 1],
            )
            for b in range(len(tree_ptr) - 1)
        ]
        self._node_risk: list[np.ndarray] | None = None

    @classmethod
    def from_sksurv(cls, forest: Any) -> SurvivalForest:
        """From a fitted ``RandomSurvivalForest`` with ``low_memory=False``."""
        trees = [e.tree_ for e in forest.estimators_]
        nodes = [_sparse_chf(t) for t in trees]
        counts = np.concatenate([n for n, _, _ in nodes])
        return cls(
            {
                "times": np.asarray(forest.unique_times_, dtype=float),
                "is_event_time": np.asarray(forest.is_event_time_, dtype=bool),
                "tree_ptr": np.cumsum([0] + [t.node_count for t in trees]),
                "left": np.concatenate([t.children_left for t in trees]).astype(np.int32),
                "right": np.concatenate([t.children_right for t in trees]).astype(np.int32),
                "feature": np.concatenate([t.feature for t in trees]).astype(np.int32),
                "threshold": np.concatenate([t.threshold for t in trees]).astype(float),
                "chf_ptr": np.concatenate([[0], np.cumsum(counts)]),
                "chf_index": np.concatenate([i for _, i, _ in nodes]).astype(np.int32),
                "chf_value": np.concatenate([v for _, _, v in nodes]),
            }
        )

    def cumulative_hazard(self, X: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Ensemble CHF at ``times`` (years), shape (n, len(times)), for ``X`` (n, n_features)."""
        positions = np.searchsorted(self.times, np.asarray(times, dtype=float), side="right") - 1
        out = np.zeros((len(X), len(positions)))
        for (_, chf_ptr), leaves in zip(self._trees, self._apply(X), strict=True):
            out += self._node_chf(chf_ptr, positions)[leaves]
        out /= len(self._trees)
        return out

    def risk(self, X: np.ndarray) -> np.ndarray:
        """Sum of the ensemble CHF over the unique training event times, shape (n,)."""
        if self._node_risk is None:
            every = np.arange(len(self.times))
            self._node_risk = [
                self._node_chf(chf_ptr, every)[:, self.is_event_time].sum(1)
                for _, chf_ptr in self._trees
            ]
        out = np.zeros(len(X))
        for node_risk, leaves in zip(self._node_risk, self._apply(X), strict=True):
            out += node_risk[leaves]
        out /= len(self._trees)
        return out

    def _apply(self, X: np.ndarray) -> list[np.ndarray]:
        """Leaf id in each tree for every row of ``X``, with scikit-learn's float32 split rule."""
        X32 = np.asarray(X, dtype=np.float32)
        return [leaf_index(X32, *nodes) for nodes, _ in self._trees]

    def _node_chf(self, chf_ptr: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """CHF of every node of one tree at grid ``positions`` (-1: before the grid, CHF 0)."""
        start, stop = int(chf_ptr[0]), int(chf_ptr[-1])
        counts = np.diff(chf_ptr)
        node_of_entry = np.repeat(np.arange(len(counts)), counts)
        # entries sorted by (node, position): find each node's last change at or before a position
        width = len(self.times) + 1
        keys = node_of_entry * width + self.arrays["chf_index"][start:stop]
        queries = np.arange(len(counts))[:, None] * width + positions[None, :]
        last = np.searchsorted(keys, queries, side="right") - 1
        found = last >= (chf_ptr[:-1] - start)[:, None]
        values = self.arrays["chf_value"][start:stop]
        return np.where(found, values[np.clip(last, 0, None)], 0.0)

    def to_state(self) -> dict[str, Any]:
        """Every array, encoded exactly (dtype, shape, compressed bytes): JSON, no pickle."""
        return {name: encode_array(values) for name, values in self.arrays.items()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> SurvivalForest:
        """The forest :meth:`to_state` described, its arrays bit for bit."""
        return cls({name: decode_array(encoded) for name, encoded in state.items()})


def _sparse_chf(tree: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per node of a scikit-learn tree with dense (n_nodes, n_times) CHF values: its number of
    CHF changes, their grid positions and values, node-major. Internal nodes keep none: a
    prediction only reads leaves."""
    chf = tree.value[:, :, 0]
    previous = np.concatenate([np.zeros((len(chf), 1)), chf[:, :-1]], axis=1)
    changed = (chf != previous) & (tree.children_left == -1)[:, None]
    return changed.sum(1), np.nonzero(changed)[1], chf[changed]


class RandomSurvivalForestModel(SurvivalModel):
    """scikit-survival ``RandomSurvivalForest``; curves from its ensemble cumulative hazard.

    Parameters
    ----------
    n_estimators, min_samples_leaf, min_samples_split, max_features, max_depth, n_jobs
        As in scikit-survival (``bootstrap`` and ``max_samples`` at its defaults).
    features, design, random_state
        As for every :class:`SurvivalModel`.

    Attributes
    ----------
    forest_
        The forest as node arrays and sparse leaf CHFs (:class:`SurvivalForest`).
    """

    kind = "rsf"
    max_train_patients = 20_000
    size_reason = (
        "scikit-survival's log-rank split search and per-leaf survival curves grow as n^2 in "
        "time and memory (10 trees: 2.1 s at 5,000 patients, 30 s at 20,000 on 2 cores)"
    )
    breslow = False

    def __init__(
        self,
        *,
        n_estimators: int = 100,
        min_samples_leaf: int | float = 15,
        min_samples_split: int | float = 10,
        max_features: int | float | str | None = "sqrt",
        max_depth: int | None = None,
        n_jobs: int | None = 1,
        features: list[str] | None = None,
        design: DesignSpec | None = None,
        random_state: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.min_samples_leaf = min_samples_leaf
        self.min_samples_split = min_samples_split
        self.max_features = max_features
        self.max_depth = max_depth
        self.n_jobs = n_jobs
        self.features = features
        self.design = design
        self.random_state = random_state

    def _fit_risk(self, Z: np.ndarray, y: np.ndarray) -> None:
        self.forest_ = SurvivalForest.from_sksurv(self._fit_sksurv(Z, y))

    def _fit_sksurv(self, Z: np.ndarray, y: np.ndarray) -> Any:
        """The scikit-survival forest this model stores (fitted afresh, not kept)."""
        from sksurv.ensemble import RandomSurvivalForest

        return RandomSurvivalForest(
            **self._hyperparameters(), low_memory=False, random_state=self.random_state
        ).fit(Z, y)

    def _predict_risk(self, Z: np.ndarray) -> np.ndarray:
        return self.forest_.risk(Z)

    def _cumulative_hazard(self, Z: np.ndarray, times: np.ndarray) -> np.ndarray:
        return self.forest_.cumulative_hazard(Z, times)

    def _learned_state(self) -> dict[str, Any]:
        return {"forest": self.forest_.to_state()}

    def _restore_learned(self, state: dict[str, Any]) -> None:
        self.forest_ = SurvivalForest.from_state(state["forest"])
