"""Transport checks: is a validation cohort on the development cohort's scales, and how far has
its case mix moved?

At training, :func:`development_profile` records in the predictor (``predictor.json``,
``development``) what a validation needs to know about the development cohort, aggregates only:

- per numeric feature the mean, SD, share missing and the 5th, 10th, ..., 95th percentiles
  (interpolated and rounded to four significant figures; no minimum or maximum, which would be
  one patient's value); per categorical feature the share of each level;
- the biomarker's column, its transform and offset, and the ``biomarker.platform`` and
  ``biomarker.unit`` the config declared;
- the case mix: patients, events, the linear predictor's mean and SD, Kaplan-Meier survival at
  each horizon and the median follow-up (reverse Kaplan-Meier).

Before scoring, ``msk1model validate`` compares the validation cohort with it:
:func:`shift_table` gives per feature the standardised mean difference (SMD, the difference of
means over the pooled SD ``sqrt((sd_dev^2 + sd_val^2) / 2)``) and the share of patients outside
the predictor's training range; :func:`check_biomarker_scale` refuses a biomarker whose scale is
clearly different (declared units that differ, or :data:`MAX_SCALE_SMD` / :data:`MAX_SD_RATIO`
broken, e.g. log2 intensities against centred log-ratios) unless the validation config declares
``biomarker.harmonise``, which :func:`harmonise` then applies to the validation values:

- ``zscore_within_cohort``: ``mean_dev + sd_dev * (x - mean_val) / sd_val``: the validation
  values standardised within their cohort and put on the development scale;
- ``quantile``: each value's mid-rank percentile in the validation cohort mapped through the
  development percentiles (linear between them, linear extension of the end segments beyond).

Either assumes the two cohorts have the same biomarker distribution, only on other scales: a
harmonised validation tests the model's ranking by the biomarker, not its absolute levels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from msk1model.contract import InputContract
from msk1model.data.describe import reverse_km_median_follow_up
from msk1model.errors import InputError
from msk1model.evaluation.km import km_curve

__all__ = [
    "MAX_SCALE_SMD",
    "MAX_SD_RATIO",
    "PROFILE_PERCENTILES",
    "Harmonise",
    "ScaleCheck",
    "case_mix",
    "case_mix_table",
    "check_biomarker_scale",
    "development_profile",
    "harmonise",
    "shift_table",
]

Harmonise = Literal["none", "zscore_within_cohort", "quantile"]

#: Percentiles of each numeric feature kept in the profile (no 0th or 100th: single patients).
PROFILE_PERCENTILES = tuple(range(5, 100, 5))
#: A biomarker whose validation mean lies more than this many pooled SDs from the development
#: mean is on another scale.
MAX_SCALE_SMD = 1.0
#: ... or whose SD differs by more than this factor either way.
MAX_SD_RATIO = 2.0


def _sig(value: float, digits: int = 4) -> float:
    """``value`` rounded to ``digits`` significant figures (0 and non-finite kept)."""
    if not math.isfinite(value) or value == 0:
        return float(value)
    return float(round(value, digits - 1 - math.floor(math.log10(abs(value)))))


def case_mix(y: np.ndarray, lp: np.ndarray, horizons: list[float]) -> dict[str, Any]:
    """Patients, events, linear-predictor mean and SD, KM survival at each horizon and the
    reverse-KM median follow-up (years) of outcome ``y`` and risk scores ``lp``."""
    curve = km_curve(y)
    at = curve.step(horizons)
    return {
        "n_patients": len(y),
        "n_events": int(np.sum(y["event"])),
        "lp_mean": _sig(float(np.mean(lp))),
        "lp_sd": _sig(float(np.std(lp, ddof=1))),
        "km": {f"{h:g}": _sig(float(curve.survival[i])) for h, i in zip(horizons, at, strict=True)},
        "median_follow_up": _sig(reverse_km_median_follow_up(y)),
    }


def development_profile(
    X: pd.DataFrame,
    y: np.ndarray,
    lp: np.ndarray,
    horizons: list[float],
    *,
    categorical: list[str],
    biomarker: dict[str, Any],
) -> dict[str, Any]:
    """The development cohort's aggregates (see the module) from its training rows ``X``, their
    outcome ``y`` and risk scores ``lp``; ``biomarker``: column, transform, offset, platform,
    unit."""
    features: dict[str, Any] = {}
    for column in X.columns:
        values = X[column]
        if column in categorical:
            shares = values.dropna().astype(str).value_counts(normalize=True).sort_index()
            features[column] = {
                "kind": "categorical",
                "levels": {str(k): _sig(float(v)) for k, v in shares.items()},
                "missing": _sig(float(values.isna().mean())),
            }
            continue
        x = values.to_numpy(dtype=float)
        features[column] = {
            "kind": "numeric",
            "mean": _sig(float(np.nanmean(x))),
            "sd": _sig(float(np.nanstd(x, ddof=1))),
            "missing": _sig(float(np.isnan(x).mean())),
            "percentiles": [_sig(float(q)) for q in np.nanpercentile(x, PROFILE_PERCENTILES)],
        }
    return {
        "features": features,
        "biomarker": biomarker,
        "case_mix": case_mix(y, lp, horizons),
    }


def case_mix_table(development: dict[str, Any], validation: dict[str, Any]) -> pd.DataFrame:
    """The two cohorts' case mix side by side: one row per quantity."""
    rows = [
        ("patients", "n_patients"),
        ("events", "n_events"),
        ("linear predictor mean", "lp_mean"),
        ("linear predictor SD", "lp_sd"),
        ("median follow-up (years, reverse KM)", "median_follow_up"),
    ]
    out = [
        {"quantity": label, "development": development.get(key), "validation": validation[key]}
        for label, key in rows
    ]
    for h, s in validation["km"].items():
        out.append(
            {
                "quantity": f"Kaplan-Meier survival at {h} y",
                "development": development.get("km", {}).get(h),
                "validation": s,
            }
        )
    return pd.DataFrame(out, dtype=object)


def shift_table(
    profile: dict[str, Any], frame: pd.DataFrame, contract: InputContract
) -> pd.DataFrame:
    """Per feature of the profile: development and validation mean and SD, the SMD, the share
    of validation patients outside the predictor's training range (numeric) or at a level unseen
    in training (categorical), and the share missing. Aggregates only."""
    rules = {rule.column: rule for rule in contract.rules}
    rows = []
    for column, dev in profile["features"].items():
        values = frame[column]
        row: dict[str, Any] = {"feature": column, "kind": dev["kind"]}
        if dev["kind"] == "categorical":
            seen = set(dev["levels"])
            present = values.dropna().astype(str)
            shares = present.value_counts(normalize=True)
            gap = max(
                (abs(shares.get(level, 0.0) - dev["levels"].get(level, 0.0))
                 for level in seen | set(shares.index)),
                default=0.0,
            )  # fmt: skip
            row |= {
                "max_level_share_difference": float(gap),
                "outside_training": float((~present.isin(seen)).mean()) if len(present) else 0.0,
            }
        else:
            x = values.to_numpy(dtype=float)
            mean, sd = float(np.nanmean(x)), float(np.nanstd(x, ddof=1))
            pooled = math.sqrt((dev["sd"] ** 2 + sd**2) / 2)
            rule = rules.get(column)
            low = -np.inf if rule is None or rule.train_low is None else rule.train_low
            high = np.inf if rule is None or rule.train_high is None else rule.train_high
            present = x[~np.isnan(x)]
            row |= {
                "development_mean": dev["mean"],
                "development_sd": dev["sd"],
                "validation_mean": _sig(mean),
                "validation_sd": _sig(sd),
                "smd": (mean - dev["mean"]) / pooled if pooled > 0 else 0.0,
                "outside_training": float(np.mean((present < low) | (present > high)))
                if len(present)
                else 0.0,
            }
        row["missing"] = float(values.isna().mean())
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class ScaleCheck:
    """The biomarker's scales in both cohorts and what the validation does about them."""

    column: str
    development: str
    validation: str
    smd: float
    sd_ratio: float
    different: bool
    harmonise: Harmonise

    def statement(self) -> str:
        """One sentence for the run and the report."""
        compared = (
            f"biomarker {self.column}: development {self.development}; validation "
            f"{self.validation} (SMD {self.smd:.2f}, SD ratio {self.sd_ratio:.2f})"
        )
        if self.harmonise != "none":
            return f"{compared}; harmonised by {self.harmonise}"
        return compared + ("; scales differ" if self.different else "; same scale")


def _scale(declared: dict[str, Any], mean: float, sd: float) -> str:
    named = ", ".join(
        f"{key} {declared[key]!r}" for key in ("platform", "unit") if declared.get(key)
    )
    return f"{named + ', ' if named else ''}mean {mean:.3g}, SD {sd:.3g}"


def check_biomarker_scale(
    profile: dict[str, Any], values: np.ndarray, declared: dict[str, Any], harmonise: Harmonise
) -> ScaleCheck:
    """Compare the validation cohort's biomarker ``values`` (and its config's ``declared``
    platform and unit) with the development profile; refuse clearly different scales unless
    ``harmonise`` is set (see the module).

    Raises
    ------
    InputError
        Naming the biomarker, both scales and ``biomarker.harmonise``, the key that fixes it.
    """
    marker = profile["biomarker"]
    column = marker["column"]
    dev = profile["features"][column]
    x = values[~np.isnan(values)]
    mean, sd = float(np.mean(x)), float(np.std(x, ddof=1))
    pooled = math.sqrt((dev["sd"] ** 2 + sd**2) / 2)
    smd = (mean - dev["mean"]) / pooled if pooled > 0 else 0.0
    ratio = sd / dev["sd"] if dev["sd"] > 0 else math.inf
    units = (marker.get("unit"), declared.get("unit"))
    reasons = []
    if all(units) and units[0] != units[1]:
        reasons.append(f"the declared units differ ({units[0]!r} vs {units[1]!r})")
    if abs(smd) > MAX_SCALE_SMD:
        reasons.append(f"the means are {abs(smd):.1f} pooled SDs apart (limit {MAX_SCALE_SMD:g})")
    if not 1 / MAX_SD_RATIO <= ratio <= MAX_SD_RATIO:
        reasons.append(f"the SDs differ by a factor {max(ratio, 1 / ratio):.2f} (limit "
                       f"{MAX_SD_RATIO:g})")  # fmt: skip
    check = ScaleCheck(
        column=column,
        development=_scale(marker, dev["mean"], dev["sd"]),
        validation=_scale(declared, mean, sd),
        smd=smd,
        sd_ratio=ratio,
        different=bool(reasons),
        harmonise=harmonise,
    )
    if reasons and harmonise == "none":
        raise InputError(
            f"the biomarker {column} is on another scale in the validation cohort: "
            f"{'; '.join(reasons)}. Development: {check.development}; validation: "
            f"{check.validation}. Scoring it as is would read one scale as the other. Fix: set "
            "biomarker.harmonise: zscore_within_cohort (or quantile) in the validation config "
            "to map it onto the development scale, stated in the validation report"
        )
    return check


def harmonise(values: np.ndarray, profile: dict[str, Any], method: Harmonise) -> np.ndarray:
    """The validation biomarker ``values`` mapped onto the development scale (see the
    module); NaN stays NaN."""
    if method == "none":
        return values
    dev = profile["features"][profile["biomarker"]["column"]]
    out = np.full(len(values), np.nan)
    present = ~np.isnan(values)
    x = values[present]
    if method == "zscore_within_cohort":
        out[present] = dev["mean"] + dev["sd"] * (x - x.mean()) / x.std(ddof=1)
        return out
    ranks = pd.Series(x).rank(method="average").to_numpy()
    percentile = 100.0 * (ranks - 0.5) / len(x)
    p = np.asarray(PROFILE_PERCENTILES, dtype=float)
    q = np.asarray(dev["percentiles"], dtype=float)
    mapped = np.interp(percentile, p, q)
    low, high = percentile < p[0], percentile > p[-1]
    mapped[low] = q[0] + (percentile[low] - p[0]) * (q[1] - q[0]) / (p[1] - p[0])
    mapped[high] = q[-1] + (percentile[high] - p[-1]) * (q[-1] - q[-2]) / (p[-1] - p[-2])
    out[present] = mapped
    return out
