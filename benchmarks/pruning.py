"""Benchmark of the pruner: tuning time and best CV score with ``tuning.pruner`` median and none.

Tunes every model and feature set of a config (default: the default experiment) twice on the
same training part and folds, once with each pruner, in in-memory studies, and prints for each
study the wall time, the trials pruned and the best trial's CV mean of the tuning metric.
Asserts nothing. Run:
``.venv/bin/python benchmarks/pruning.py [--config configs/default.yaml] [--set KEY=VALUE ...]``
(see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import numpy as np

from msk1model.config import load_config
from msk1model.data.cohort import load_cohort
from msk1model.pipeline import design_spec, log2_offset
from msk1model.splitting import make_split
from msk1model.tuning import tune


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/default.yaml")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    args = parser.parse_args()
    config = load_config(args.config, args.overrides)
    cohort = load_cohort(config.data, config.split, config.seed, log2_offset(config))
    split = make_split(
        cohort.y, test_size=config.split.test_size, cv_folds=config.split.cv_folds, seed=config.seed
    )
    design = design_spec(config, cohort)
    X, y = cohort.table.iloc[split.train], cohort.y[split.train]
    print(f"{platform.processor() or platform.machine()}, {config.experiment}: "
          f"{len(X)} training patients, {config.split.cv_folds} folds, "
          f"{config.tuning.n_trials} trials, metric {config.tuning.metric}")  # fmt: skip
    print(f"{'study':32} {'pruner':>7} {'seconds':>8} {'pruned':>7} {'best CV':>8}")
    totals = {"median": [0.0, []], "none": [0.0, []]}
    for feature_set in config.feature_sets:
        for name, model in config.models.items():
            for pruner in ("none", "median"):
                tuning = config.tuning.model_copy(update={"pruner": pruner, "storage": "memory"})
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    result = tune(
                        model, X, y, split.folds, features=cohort.features(feature_set),
                        tuning=tuning, tau=config.evaluation.tau, seed=config.seed, design=design,
                    )  # fmt: skip
                seconds = time.perf_counter() - start
                best = float(np.mean(getattr(result.cv, config.tuning.metric)))
                totals[pruner][0] += seconds
                totals[pruner][1].append(best)
                label = f"{name} | {feature_set}"
                print(f"{label:32} {pruner:>7} {seconds:8.2f} {result.n_pruned:7d} {best:8.4f}")
    for pruner, (seconds, bests) in totals.items():
        print(f"total {pruner:>6}: {seconds:.1f} s, mean best CV {np.mean(bests):.4f}")


if __name__ == "__main__":
    main()
