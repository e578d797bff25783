"""A deterministic synthetic breast-cancer cohort calibrated to the MSK1 finding.

Gawrzak et al. (Nat Cell Biol 2018) report that in ER-positive patients low MSK1 (RPS6KA5)
expression marks early metastatic relapse (metastasis-free survival HR 0.48 for high vs low),
with no effect in ER-negative patients. This cohort reproduces that: time to metastasis follows a
Weibull proportional-hazards model whose log hazard is ``TRUE_LOG_HR @ design(x)``, with

=====================  =========================================  ============
term                   definition                                 log HR
=====================  =========================================  ============
``age_per10``          (age - 55) / 10, years                     -0.10
``size_per10mm``       (size - 20) / 10, tumour size in mm        +0.12
``grade``              histological grade - 2 (grade 1, 2, 3)     +0.40
``log1p_nodes``        log(1 + positive lymph nodes)              +0.45
``pr``                 progesterone receptor positive (0/1)       -0.25
``er``                 oestrogen receptor positive (0/1)          -0.20
``msk1_in_er_pos``     er * (msk1 - 8), msk1 in log2 units, SD 1  -0.43
=====================  =========================================  ============

MSK1 has no effect in ER-negative patients. A log HR of -0.43 per SD makes the HR of the lower vs
the upper half of MSK1 about 2.0 in ER-positive patients (0.5 for high vs low). The baseline is
Weibull with shape :data:`WEIBULL_SHAPE` and a scale chosen so that about 20% of ER-positive
patients relapse within 5 years. Follow-up ends at 10 years (administrative censoring) or earlier
by drop-out at rate :data:`DROPOUT_RATE` per year. Times are in years.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "DROPOUT_RATE",
    "FOLLOW_UP_YEARS",
    "TRUE_LOG_HR",
    "WEIBULL_SCALE",
    "WEIBULL_SHAPE",
    "design_matrix",
    "make_synthetic_cohort",
]

TRUE_LOG_HR: dict[str, float] = {
    "age_per10": -0.10,
    "size_per10mm": 0.12,
    "grade": 0.40,
    "log1p_nodes": 0.45,
    "pr": -0.25,
    "er": -0.20,
    "msk1_in_er_pos": -0.43,
}
WEIBULL_SHAPE = 1.3
#: Years; calibrated so that the ER-positive 5-year cumulative incidence is about 0.20.
WEIBULL_SCALE = 16.53
FOLLOW_UP_YEARS = 10.0
DROPOUT_RATE = 0.02
MSK1_MEAN = 8.0


def design_matrix(cohort: pd.DataFrame) -> pd.DataFrame:
    """The terms of the true model (columns named as in :data:`TRUE_LOG_HR`)."""
    return pd.DataFrame(
        {
            "age_per10": (cohort["age"] - 55.0) / 10.0,
            "size_per10mm": (cohort["size"] - 20.0) / 10.0,
            "grade": cohort["grade"] - 2.0,
            "log1p_nodes": np.log1p(cohort["nodes"]),
            "pr": cohort["pr"].astype(float),
            "er": cohort["er"].astype(float),
            "msk1_in_er_pos": cohort["er"] * (cohort["msk1"] - MSK1_MEAN),
        },
        index=cohort.index,
    )


def make_synthetic_cohort(n_patients: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Draw a synthetic cohort; the same ``(n_patients, seed)`` always gives the same table.

    Returns
    -------
    DataFrame with one row per patient: ``patient_id`` (str), ``time`` (years), ``event``
    (1 = metastatic relapse, 0 = censored), ``age`` (years), ``size`` (mm), ``grade`` (1-3),
    ``nodes`` (count), ``er``, ``pr`` (0/1) and ``msk1`` (log2 expression).
    """
    rng = np.random.default_rng(seed)
    covariates = _draw_covariates(n_patients, rng)
    log_hazard = design_matrix(covariates).to_numpy() @ np.array(list(TRUE_LOG_HR.values()))
    unit_exponential = rng.exponential(size=n_patients)
    relapse = WEIBULL_SCALE * (unit_exponential * np.exp(-log_hazard)) ** (1.0 / WEIBULL_SHAPE)
    dropout = rng.exponential(1.0 / DROPOUT_RATE, size=n_patients)
    censor = np.minimum(dropout, FOLLOW_UP_YEARS)
    ids = pd.Series(np.arange(1, n_patients + 1)).map("SYN{:07d}".format)
    return pd.DataFrame(
        {
            "patient_id": ids.to_numpy(),
            "time": np.round(np.minimum(relapse, censor), 4),
            "event": (relapse <= censor).astype(int),
            **{name: covariates[name].to_numpy() for name in covariates.columns},
        }
    )


def _draw_covariates(n: int, rng: np.random.Generator) -> pd.DataFrame:
    er = (rng.random(n) < 0.75).astype(int)
    pr = (rng.random(n) < np.where(er == 1, 0.80, 0.10)).astype(int)
    grade_probs = np.where(er[:, None] == 1, [0.25, 0.50, 0.25], [0.05, 0.30, 0.65])
    grade = 1 + (rng.random(n)[:, None] > np.cumsum(grade_probs, axis=1)).sum(axis=1)
    node_positive = rng.random(n) < 0.45
    nodes = np.where(node_positive, np.minimum(rng.geometric(0.25, size=n), 40), 0)
    size = np.clip(np.exp(rng.normal(np.log(20.0), 0.5, size=n)), 2.0, 150.0)
    age = np.clip(rng.normal(58.0, 12.0, size=n), 25.0, 90.0)
    msk1 = rng.normal(MSK1_MEAN, 1.0, size=n)
    return pd.DataFrame(
        {
            "age": np.round(age, 1),
            "size": np.round(size, 1),
            "grade": grade.astype(int),
            "nodes": nodes.astype(int),
            "er": er,
            "pr": pr,
            "msk1": np.round(msk1, 4),
        }
    )
