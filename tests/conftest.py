"""Shared fixtures: one real public cohort (GBSG2), one seeded synthetic cohort, a tiny run config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from msk1model.config import RunConfig, load_config
from msk1model.data.synthetic import make_synthetic_cohort

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "configs" / "default.yaml"

#: Overrides that shrink the default experiment to a few seconds.
TINY = (
    "data.synthetic.n_patients=500",
    "split.cv_folds=3",
    "tuning.n_trials=2",
    "models.xgb_cox.params.n_estimators=20",
    "report.n_bootstrap=20",
    "report.n_permutations=99",
    "report.n_jobs=1",
)


@pytest.fixture(scope="session")
def gbsg2() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """German Breast Cancer Study Group 2 (scikit-survival): X numeric, event, time in years."""
    from sksurv.datasets import load_gbsg2

    X, y = load_gbsg2()
    features = pd.DataFrame(
        {
            "age": X["age"].astype(float),
            "size": X["tsize"].astype(float),
            "nodes": X["pnodes"].astype(float),
            "grade": X["tgrade"].map({"I": 1.0, "II": 2.0, "III": 3.0}).astype(float),
            "er": np.log1p(X["estrec"].astype(float)),
            "pr": np.log1p(X["progrec"].astype(float)),
        }
    )
    return features, y["cens"].astype(bool), y["time"].astype(float) / 365.25


@pytest.fixture(scope="session")
def synthetic() -> pd.DataFrame:
    return make_synthetic_cohort(1500, seed=7)


@pytest.fixture()
def tiny_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunConfig:
    """The default experiment shrunk, tracking into a fresh store under ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return load_config(
        DEFAULT_CONFIG,
        [*TINY, f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}"],
    )
