"""A deterministic synthetic breast-cancer cohort calibrated to the MSK1 finding.

Gawrzak et al. (Nat Cell Biol 2018) report that in ER-positive patients low MSK1 (RPS6KA5)
expression marks early metastatic relapse (metastasis-free survival HR 0.48 for high vs low),
with no effect in ER-negative patients. This cohort reproduces that: time to metastasis follows a
Weibull proportional-hazards model whose log hazard is ``TRUE_LOG_HR @ design(x)``, with

=====================  =========================================  ============  ============
term                   definition                                 log HR        bone log HR
=====================  =========================================  ============  ============
``age_per10``          (age - 55) / 10, years                     -0.10         -0.10
``size_per10mm``       (size - 20) / 10, tumour size in mm        +0.12         +0.12
``grade``              histological grade - 2 (grade 1, 2, 3)     +0.40         +0.40
``log1p_nodes``        log(1 + positive lymph nodes)              +0.45         +0.45
``pr``                 progesterone receptor positive (0/1)       -0.25         -0.25
``er``                 oestrogen receptor positive (0/1)          -0.20         +0.31
``msk1_in_er_pos``     er * (msk1 - 8), msk1 in log2 units, SD 1  -0.43         -0.56
=====================  =========================================  ============  ============

MSK1 has no effect in ER-negative patients. A log HR of -0.43 per SD makes the HR of the lower vs
the upper half of MSK1 about 2.0 in ER-positive patients (0.5 for high vs low). The baseline is
Weibull with shape :data:`WEIBULL_SHAPE` and a scale chosen so that about 20% of ER-positive
patients relapse within 5 years. Follow-up ends at 10 years (administrative censoring) or earlier
by drop-out at rate :data:`DROPOUT_RATE` per year. Times are in years.

Competing events. Each metastasis has a first site: it involves bone with probability
``BONE_SHARE_ER_NEG * exp(BONE_SHARE_LOG_RATIO @ design(x))`` (0.30 in ER-negative patients, 0.50
in ER-positive ones at mean MSK1, higher for low MSK1; capped at 1, reached only below -5.3 SD of
MSK1). Splitting a proportional hazard by a log-linear share keeps it proportional, so the
cause-specific hazard of bone metastasis is Weibull with the log HRs :data:`TRUE_BONE_LOG_HR`
(the "bone" column above): in ER-positive patients high vs low MSK1 gives HR 0.41 for bone relapse,
as Gawrzak et al. report, against 0.5 for metastasis at any site. Independently of the tumour,
patients die of other causes with a Gompertz background hazard ``DEATH_RATE_AT_55 *
exp(DEATH_RATE_GROWTH * (age + t - 55))`` per year at ``t`` years after diagnosis: a Cox model
in ``age_per10`` with log HR :data:`TRUE_DEATH_LOG_HR_AGE_PER10`. These draws come from a second
random stream, so the metastasis columns ``time`` and ``event`` are the same as without them.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = [
    "BONE_SHARE_ER_NEG",
    "BONE_SHARE_LOG_RATIO",
    "DEATH_RATE_AT_55",
    "DEATH_RATE_GROWTH",
    "DROPOUT_RATE",
    "EVENT_TYPES",
    "FOLLOW_UP_YEARS",
    "TRUE_BONE_LOG_HR",
    "TRUE_DEATH_LOG_HR_AGE_PER10",
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

#: Share of first metastases that involve bone in ER-negative patients.
BONE_SHARE_ER_NEG = 0.30
#: Log ratio of the bone share per design term: ER-positive 0.50 at mean MSK1; the MSK1 term makes
#: the bone HR of high vs low MSK1 halves (1.6 SD apart) exp(-0.56 * 1.6) = 0.41 in ER-positive.
BONE_SHARE_LOG_RATIO: dict[str, float] = {"er": math.log(0.50 / 0.30), "msk1_in_er_pos": -0.13}
#: Cause-specific log HRs of bone metastasis (first site involves bone), per design term.
TRUE_BONE_LOG_HR: dict[str, float] = {
    term: coef + BONE_SHARE_LOG_RATIO.get(term, 0.0) for term, coef in TRUE_LOG_HR.items()
}
#: Background mortality per year at age 55 (women in high-income countries: about 0.004).
DEATH_RATE_AT_55 = 0.004
#: Gompertz growth of mortality per year of age: it doubles every log(2) / 0.09 = 7.7 years.
DEATH_RATE_GROWTH = 0.09
#: Cause-specific log HR of death without metastasis per 10 years of age (its only term).
TRUE_DEATH_LOG_HR_AGE_PER10 = 10.0 * DEATH_RATE_GROWTH
#: Codes of the ``event_type`` column.
EVENT_TYPES: dict[int, str] = {
    0: "censored",
    1: "metastasis, first site not bone",
    2: "metastasis, first site involves bone",
    3: "death without metastasis",
}


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


def make_synthetic_cohort(
    n_patients: int = 2000,
    seed: int = 0,
    *,
    msk1_log_hr: float | None = None,
    baseline_hazard_ratio: float = 1.0,
) -> pd.DataFrame:
    """Draw a synthetic cohort; the same ``(n_patients, seed)`` always gives the same table.

    Parameters
    ----------
    n_patients : int
        Rows to draw.
    seed : int
        Seed of the random streams.
    msk1_log_hr : float, optional
        Log HR of metastasis per SD (log2 unit) of MSK1 in ER-positive patients; None means
        ``TRUE_LOG_HR["msk1_in_er_pos"]`` (-0.43) and leaves the table as without it. 0.0 gives a
        null cohort for MSK1. Only the metastasis hazard changes: the random draws, every other
        column's distribution and the bone share of metastases (:data:`BONE_SHARE_LOG_RATIO`)
        stay as they are, so the bone cause-specific log HR of MSK1 becomes ``msk1_log_hr - 0.13``.
    baseline_hazard_ratio : float
        The metastasis baseline hazard times this factor (1: as documented): another
        population's baseline risk with the same covariate effects, for tests of external
        validation and recalibration. Every random draw stays the same, so each patient's
        metastasis time is divided by ``baseline_hazard_ratio ** (1 / WEIBULL_SHAPE)``.

    Returns
    -------
    DataFrame with one row per patient (times in years, indicators 0/1):

    - ``patient_id`` (str); ``time``, ``event``: metastasis at any site (1) or censoring by
      drop-out or at 10 years (0). Death is not applied here: a patient who dies first keeps the
      metastasis time she would have had (the net endpoint; unchanged from earlier versions).
    - ``age`` (years), ``size`` (mm), ``grade`` (1-3), ``nodes`` (count), ``er``, ``pr`` (0/1) and
      ``msk1`` (log2 expression).
    - Competing-risk columns, all on ``relapse_free_time``, the time to the first of metastasis,
      death without metastasis and censoring: ``event_type`` (see :data:`EVENT_TYPES`),
      ``relapse_free_event`` (metastasis or death), and the cause-specific indicators
      ``metastasis_event`` (any site), ``bone_event`` (first site involves bone) and
      ``death_event`` (death without metastasis); each counts the other events as censored.
    """
    rng = np.random.default_rng(seed)
    covariates = _draw_covariates(n_patients, rng)
    design = design_matrix(covariates)
    coefficients = dict(TRUE_LOG_HR)
    if msk1_log_hr is not None:
        coefficients["msk1_in_er_pos"] = float(msk1_log_hr)
    if not baseline_hazard_ratio > 0:
        raise ValueError(f"baseline_hazard_ratio must be > 0, but got {baseline_hazard_ratio}")
    log_hazard = design.to_numpy() @ np.array(list(coefficients.values()))
    log_hazard = log_hazard + math.log(baseline_hazard_ratio)
    unit_exponential = rng.exponential(size=n_patients)
    relapse = WEIBULL_SCALE * (unit_exponential * np.exp(-log_hazard)) ** (1.0 / WEIBULL_SHAPE)
    dropout = rng.exponential(1.0 / DROPOUT_RATE, size=n_patients)
    censor = np.minimum(dropout, FOLLOW_UP_YEARS)
    ids = pd.Series(np.arange(1, n_patients + 1)).map("SYN{:07d}".format)
    competing = _competing_outcomes(design, relapse, censor, np.random.default_rng([seed, 1]))
    return pd.DataFrame(
        {
            "patient_id": ids.to_numpy(),
            "time": _recorded_time(np.minimum(relapse, censor)),
            "event": (relapse <= censor).astype(int),
            **{name: covariates[name].to_numpy() for name in covariates.columns},
            **competing,
        }
    )


#: Times are recorded to this many years (about an hour), and never below it.
TIME_RESOLUTION = 1e-4


def _recorded_time(years: np.ndarray) -> np.ndarray:
    """Times rounded to :data:`TIME_RESOLUTION`, the shortest one at it (never 0: a cohort's
    times must be positive, and among 10^6 patients a few relapse within the first hour)."""
    return np.maximum(np.round(years, 4), TIME_RESOLUTION)


def _competing_outcomes(
    design: pd.DataFrame, relapse: np.ndarray, censor: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """First site of each metastasis, background death, and the first event of the three."""
    share_terms = design[list(BONE_SHARE_LOG_RATIO)].to_numpy()
    share = BONE_SHARE_ER_NEG * np.exp(share_terms @ np.array(list(BONE_SHARE_LOG_RATIO.values())))
    bone_site = rng.random(len(design)) < np.minimum(share, 1.0)
    death = _background_death(design["age_per10"].to_numpy(), rng)
    metastasis_first = (relapse <= censor) & (relapse < death)
    death_first = ~metastasis_first & (death < censor)
    event_type = np.where(metastasis_first, 1 + bone_site, np.where(death_first, 3, 0))
    return {
        "relapse_free_time": _recorded_time(np.minimum.reduce([relapse, death, censor])),
        "relapse_free_event": (event_type > 0).astype(int),
        "event_type": event_type.astype(int),
        "metastasis_event": metastasis_first.astype(int),
        "bone_event": (event_type == 2).astype(int),
        "death_event": death_first.astype(int),
    }


def _background_death(age_per10: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Years from diagnosis to death by the Gompertz hazard, by inverting its cumulative hazard."""
    rate_at_diagnosis = DEATH_RATE_AT_55 * np.exp(TRUE_DEATH_LOG_HR_AGE_PER10 * age_per10)
    unit_exponential = rng.exponential(size=len(age_per10))
    return np.log1p(unit_exponential * DEATH_RATE_GROWTH / rate_at_diagnosis) / DEATH_RATE_GROWTH


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
