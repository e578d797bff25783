"""The default experiment's statistics done with the peer libraries' own calls, timed against
``msk1model train`` of the same config: the end-to-end ratio of issue 13.

The peer pipeline takes the same patients, split and folds (msk1model's loader and splitter,
untimed), and then, with scikit-survival, lifelines, XGBoost and Optuna called directly:

- per feature set (clinical, clinical+msk1) and model family (coxnet, xgb_cox): an Optuna TPE
  study of the config's trials, each a K-fold CV of Harrell's C
  (``CoxnetSurvivalAnalysis``; ``xgboost.train`` with ``survival:cox`` and early stopping on a
  20% held-out part) and a refit on the training part;
- test metrics: Harrell's and Uno's C, the cumulative/dynamic AUC and the Brier score at the
  horizons, the IBS (scikit-survival), the calibration slope (lifelines ``CoxPHFitter``);
- the report's intervals: ``report.n_bootstrap`` replicates of those metrics for every model
  (joblib, ``report.n_jobs`` workers), and Harrell's optimism of the selected model with as many
  refits.

It leaves out what msk1model does besides (MLflow runs, artefacts and registry, figures, the
HTML report, the biomarker analyses), so the ratio understates msk1model's advantage. Prints
both wall times and the ratio; asserts nothing. Target: msk1model at least 5x faster. Run
``.venv/bin/python benchmarks/peer_pipeline.py [--config configs/default.yaml] [--set K=V ...]``.
"""

from __future__ import annotations

import argparse
import functools
import os
import subprocess
import sys
import tempfile
import time
import warnings
from typing import Any

import numpy as np
import optuna
import pandas as pd
import xgboost as xgb
from joblib import Parallel, delayed
from lifelines import CoxPHFitter
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sksurv.linear_model import CoxnetSurvivalAnalysis
from sksurv.linear_model.coxph import BreslowEstimator
from sksurv.metrics import (
    brier_score,
    concordance_index_censored,
    concordance_index_ipcw,
    cumulative_dynamic_auc,
    integrated_brier_score,
)
from sksurv.nonparametric import SurvivalFunctionEstimator

from msk1model.config import load_config
from msk1model.data.cohort import load_cohort
from msk1model.pipeline import log2_offset
from msk1model.splitting import make_split


def _xgb_fit(params: dict[str, Any], X: np.ndarray, time_: np.ndarray, event: np.ndarray,
             rounds: int, seed: int) -> tuple[xgb.Booster, int]:  # fmt: skip
    label = np.where(event, time_, -time_)  # XGBoost's survival:cox label: negative = censored
    rng = np.random.default_rng(seed)
    held = rng.random(len(label)) < 0.2
    booster_params = {"objective": "survival:cox", "eval_metric": "cox-nloglik", "seed": seed,
                      "nthread": 1, **params}  # fmt: skip
    train = xgb.DMatrix(X[~held], label=label[~held])
    valid = xgb.DMatrix(X[held], label=label[held])
    booster = xgb.train(booster_params, train, rounds, evals=[(valid, "valid")],
                        early_stopping_rounds=20, verbose_eval=False)  # fmt: skip
    return booster, booster.best_iteration + 1


def _model(kind: str, params: dict[str, Any], X: np.ndarray, y: np.ndarray, seed: int) -> Any:
    """A fitted model: a function from features to risk and to survival at given times."""
    if kind == "coxnet":
        est = make_pipeline(
            StandardScaler(),
            CoxnetSurvivalAnalysis(
                alphas=[params["alpha"]], l1_ratio=params["l1_ratio"], fit_baseline_model=True
            ),
        )
        est.fit(X, y)  # fmt: skip
        return (lambda Z: est.predict(Z)), (
            lambda Z, t: np.array([f(t) for f in est.predict_survival_function(Z)])
        )
    booster, _ = _xgb_fit(params, X, y["time"], y["event"], 500, seed)

    def risk(Z: np.ndarray) -> np.ndarray:
        return np.log(booster.predict(xgb.DMatrix(Z)))

    breslow = BreslowEstimator().fit(risk(X), y["event"], y["time"])

    def survival(Z: np.ndarray, t: np.ndarray) -> np.ndarray:
        return np.array([f(t) for f in breslow.get_survival_function(risk(Z))])

    return risk, survival


def _suggest(trial: optuna.Trial, kind: str) -> dict[str, Any]:
    if kind == "coxnet":
        return {"alpha": trial.suggest_float("alpha", 1e-4, 0.5, log=True),
                "l1_ratio": trial.suggest_float("l1_ratio", 0.05, 1.0)}  # fmt: skip
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
        "max_depth": trial.suggest_int("max_depth", 1, 4),
        "min_child_weight": trial.suggest_float("min_child_weight", 1.0, 20.0, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 0.01, 10.0, log=True),
    }


def _metrics(y_train: np.ndarray, y: np.ndarray, risk: np.ndarray, surv: np.ndarray,
             horizons: np.ndarray, tau: float) -> list[float]:  # fmt: skip
    """What every bootstrap replicate computes: C, Uno's C, and per horizon the AUC, Brier and
    IPA (against the training Kaplan-Meier), and the calibration slope at the last horizon."""
    out = [concordance_index_censored(y["event"], y["time"], risk)[0],
           concordance_index_ipcw(y_train, y, risk, tau=tau)[0]]  # fmt: skip
    out += list(cumulative_dynamic_auc(y_train, y, risk, horizons)[0])
    brier = brier_score(y_train, y, surv, horizons)[1]
    km = SurvivalFunctionEstimator().fit(y_train).predict_proba(horizons)
    null = brier_score(y_train, y, np.tile(km, (len(y), 1)), horizons)[1]
    out += [*brier, *(1 - brier / null)]
    cloglog = np.log(-np.log(np.clip(surv[:, -1], 1e-12, 1 - 1e-12)))
    frame = pd.DataFrame({"x": cloglog, "T": y["time"], "E": y["event"].astype(int)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out.append(float(CoxPHFitter().fit(frame, "T", "E").params_.iloc[0]))
    return out


def _cv_c(trial: optuna.Trial, kind: str, X: np.ndarray, y: np.ndarray,
          folds: list[tuple[np.ndarray, np.ndarray]], seed: int) -> float:  # fmt: skip
    """One Optuna trial: the mean Harrell's C over the CV folds."""
    params, scores = _suggest(trial, kind), []
    for fit_rows, val_rows in folds:
        risk, _ = _model(kind, params, X[fit_rows], y[fit_rows], seed)
        yv = y[val_rows]
        scores.append(concordance_index_censored(yv["event"], yv["time"], risk(X[val_rows]))[0])
    return float(np.mean(scores))


def _replicate(seed: int, y_train, y, risk, surv, horizons, tau) -> list[float]:
    rows = np.random.default_rng(seed).integers(0, len(y), len(y))
    try:
        return _metrics(y_train, y[rows], risk[rows], surv[rows], horizons, tau)
    except ValueError:
        return []


def peer_pipeline(config_path: str, overrides: list[str]) -> float:
    """Wall seconds of the peer pipeline (after loading and splitting, which are untimed)."""
    config = load_config(config_path, overrides)
    cohort = load_cohort(config.data, config.split, config.seed, log2_offset(config))
    split = make_split(cohort.y, test_size=config.split.test_size,
                       cv_folds=config.split.cv_folds, seed=config.seed)  # fmt: skip
    horizons = np.asarray(config.evaluation.horizons, dtype=float)
    tau, seed, report = config.evaluation.tau, config.seed, config.report
    n_jobs = os.cpu_count() if report.n_jobs == -1 else report.n_jobs
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    start = time.perf_counter()
    y_train, y_test = cohort.y[split.train], cohort.y[split.test]
    fitted = []
    for feature_set in config.feature_sets:
        columns = cohort.features(feature_set)
        table = cohort.table[columns].to_numpy(float)
        X_train, X_test = table[split.train], table[split.test]
        for model in config.models.values():
            objective = functools.partial(
                _cv_c, kind=model.kind, X=X_train, y=y_train, folds=split.folds, seed=seed
            )
            study = optuna.create_study(direction="maximize",
                                        sampler=optuna.samplers.TPESampler(seed=seed))  # fmt: skip
            study.optimize(objective, n_trials=model.n_trials or config.tuning.n_trials)
            risk, survival = _model(model.kind, study.best_params, X_train, y_train, seed)
            fitted.append(
                {
                    "kind": model.kind,
                    "params": study.best_params,
                    "cv": study.best_value,
                    "X_train": X_train,
                    "risk": risk(X_test),
                    "surv": survival(X_test, horizons),
                    "grid": survival(X_test, np.linspace(horizons[0], horizons[-1], 100)),
                }
            )
    grid = np.linspace(horizons[0], horizons[-1], 100)
    for f in fitted:  # the test metrics, then the report's bootstrap intervals
        _metrics(y_train, y_test, f["risk"], f["surv"], horizons, tau)
        integrated_brier_score(y_train, y_test, f["grid"], grid)
        Parallel(n_jobs=n_jobs)(
            delayed(_replicate)(b, y_train, y_test, f["risk"], f["surv"], horizons, tau)
            for b in range(report.n_bootstrap)
        )
    best = max(fitted, key=lambda f: f["cv"])  # the selected model: best CV Harrell's C
    _optimism(best["kind"], best["params"], best["X_train"], y_train, report.n_bootstrap, seed,
              n_jobs)  # fmt: skip
    return time.perf_counter() - start


def _optimism(kind, params, X, y, n_boot, seed, n_jobs) -> None:
    def one(b: int) -> float:
        rows = np.random.default_rng(seed + b).integers(0, len(y), len(y))
        risk, _ = _model(kind, params, X[rows], y[rows], seed)
        boot = concordance_index_censored(y["event"][rows], y["time"][rows], risk(X[rows]))[0]
        return boot - concordance_index_censored(y["event"], y["time"], risk(X))[0]

    Parallel(n_jobs=n_jobs)(delayed(one)(b) for b in range(n_boot))


def ours(config_path: str, overrides: list[str]) -> tuple[float, dict[str, float]]:
    """Wall seconds of ``msk1model train`` in a fresh folder (its own MLflow store), and where
    they went, from the start and end times of the runs it logged."""
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
    script = os.path.join(os.path.dirname(sys.executable), "msk1model")
    sets = [a for o in overrides for a in ("--set", o)]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    with tempfile.TemporaryDirectory() as work:
        start = time.time()
        subprocess.run([script, "train", os.path.join(root, config_path), *sets], cwd=work,
                       env=env, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        end = time.time()
        return end - start, _stages(f"sqlite:///{work}/mlflow.db", start, end)


def _stages(store: str, start: float, end: float) -> dict[str, float]:
    """Seconds before the train run opened (imports, store set-up), in the model runs (tuning,
    refit, test metrics, figures, trial logging), after the last of them (report, export) and
    in the train run's other parts."""
    from mlflow import MlflowClient

    client = MlflowClient(store)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    role = {r.info.run_id: r.data.tags.get("msk1model.role") for r in runs}
    train = next(r for r in runs if role[r.info.run_id] == "train")
    models = [r for r in runs if role[r.info.run_id] == "model"]
    opened, closed = train.info.start_time / 1e3, train.info.end_time / 1e3
    in_models = sum((r.info.end_time - r.info.start_time) / 1e3 for r in models)
    last_model = max(r.info.end_time for r in models) / 1e3
    return {
        "before the train run (imports, MLflow store)": opened - start,
        "model runs (tuning, refit, test metrics, figures, trials)": in_models,
        "after the model runs (report, export)": closed - last_model,
        "rest of the train run (data, splits, parent logging)": (last_model - opened) - in_models,
        "after the train run (exit)": end - closed,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/default.yaml")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer = peer_pipeline(args.config, args.overrides)
    print(f"peer pipeline (statistics only): {peer:.1f} s")
    mine, stages = ours(args.config, args.overrides)
    print(f"msk1model train (everything, report included): {mine:.1f} s")
    for stage, seconds in stages.items():
        print(f"  {stage}: {seconds:.1f} s")
    print(f"peer/msk1model: {peer / mine:.1f}x (target at least 5x; msk1model under 60 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
