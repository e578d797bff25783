"""REMARK analyses of a continuous biomarker (MSK1): distribution, hazard ratios, PH and ER checks.

Pure functions of a cohort table (one row per patient, follow-up in years, event 0/1). The Cox
models have Efron ties and no penalty, fitted to full convergence
(:mod:`msk1model.evaluation._cox`, equal to lifelines' ``CoxPHFitter``); confidence intervals
are 95% Wald intervals and p-values two-sided Wald tests unless stated.
Rows with a missing value in any column a function uses are dropped, with a
:class:`BiomarkerWarning` and the count left in the ``n`` column of the result.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from msk1model.errors import BiomarkerWarning, EvaluationError
from msk1model.evaluation._checks import check_columns_outcome
from msk1model.evaluation._cox import CoxResult, fit_cox
from msk1model.models.cox_newton import schoenfeld_residuals

__all__ = [
    "BiomarkerWarning",
    "ERInteraction",
    "biomarker_distribution",
    "er_interaction",
    "hazard_ratios",
    "node_groups",
    "proportional_hazards_test",
]

_Z95 = float(stats.norm.ppf(0.975))
_SUMMARY = ["n", "mean", "sd", "median", "q1", "q3", "min", "max"]
_FIT_COLUMNS = ["hr", "lower", "upper", "p", "n", "events", "coef", "se"]


@dataclass(frozen=True)
class ERInteraction:
    """The biomarker's HR per SD within ER-positive and ER-negative patients, and their contrast."""

    subgroups: pd.DataFrame
    """Rows ``ER-positive``, ``ER-negative``: hr, lower, upper, p, n, events, coef, se."""
    sd: float
    """SD of the biomarker over the whole analysed table (the unit of every HR here)."""
    coef: float
    """Log HR of the product ``biomarker/sd x er``: ER-positive minus ER-negative log HR per SD."""
    se: float
    p_wald: float
    """Wald p of the product term."""
    lr_statistic: float
    """Likelihood-ratio chi-square (1 df) of the model with the product against the one without."""
    p_lr: float
    n: int
    events: int


def node_groups(nodes: pd.Series) -> pd.Series:
    """Positive lymph nodes grouped as ``"0"``, ``"1-3"``, ``">=4"`` (ordered categorical).

    Missing counts stay missing; other values must be whole numbers >= 0.
    """
    values = pd.to_numeric(nodes, errors="coerce")
    bad = values.notna() & ((values < 0) | (values % 1 != 0))
    bad |= nodes.notna() & values.isna()
    if bad.any():
        raise EvaluationError(
            f"nodes must be whole counts >= 0, but {int(bad.sum())} value(s) are not, e.g. "
            f"{nodes[bad].iloc[0]!r}. Fix: correct them or set them missing"
        )
    labels = pd.cut(values, [-np.inf, 0, 3, np.inf], labels=["0", "1-3", ">=4"])
    return pd.Series(labels, index=nodes.index, name=nodes.name).cat.as_ordered()


def biomarker_distribution(
    table: pd.DataFrame, biomarker: str, by: Mapping[str, pd.Series] | None = None
) -> pd.DataFrame:
    """Summary of the biomarker overall and per level of each grouping, with a test across levels.

    Parameters
    ----------
    table : DataFrame
        One row per patient.
    biomarker : str
        Numeric column of ``table``; its missing values are left out of every summary.
    by : mapping of str to Series, optional
        Groupings by name, each aligned with ``table``'s index, e.g.
        ``{"ER": table["er"], "nodes": node_groups(table["nodes"])}``. Levels are sorted, or in
        category order for a categorical; patients with a missing level are left out of it.

    Returns
    -------
    DataFrame
        One row for ``variable="overall"`` (level ``"all"``) and one per level: ``n``, ``mean``,
        ``sd`` (ddof 1), ``median``, ``q1``, ``q3`` (linear quantiles), ``min``, ``max`` in the
        biomarker's units, and ``p``, repeated on each level of a grouping: two-sided
        Mann-Whitney U for two levels, Kruskal-Wallis for more (scipy defaults), NaN overall
        or with fewer than two non-empty levels.
    """
    _check_columns(table, [biomarker], "biomarker_distribution")
    values = _numeric(table, biomarker)
    rows = [_summary_row("overall", "all", values.dropna(), np.nan)]
    for name, groups in (by or {}).items():
        if not groups.index.equals(table.index):
            raise EvaluationError(
                f"grouping {name!r} must share the table's index (one label per patient), but its "
                f"index differs (length {len(groups)} vs {len(table)}). Fix: build it from table"
            )
        levels = _levels(groups)
        samples = [values[(groups == level).to_numpy()].dropna() for level in levels]
        p = _group_test([s.to_numpy() for s in samples if len(s)])
        rows += [_summary_row(name, str(lv), s, p) for lv, s in zip(levels, samples, strict=True)]
    return pd.DataFrame(rows, columns=["variable", "level", *_SUMMARY, "p"])


def hazard_ratios(
    table: pd.DataFrame,
    biomarker: str,
    covariates: Sequence[str] = (),
    *,
    duration_col: str = "time",
    event_col: str = "event",
) -> pd.DataFrame:
    """Cox hazard ratio of the biomarker per SD and per IQR, unadjusted and adjusted.

    Both models use the same patients: those with every used column present. SD (ddof 1) and
    IQR (linear quantiles) are of the biomarker over those patients; a Cox fit on ``x`` gives the
    HR per unit ``u`` as ``exp(u * coef)``, with the SE scaled by ``u`` and the same p.

    Parameters
    ----------
    table : DataFrame
        One row per patient.
    biomarker : str
        Numeric biomarker column.
    covariates : sequence of str
        Numeric adjustment columns; empty gives only the univariable rows.
    duration_col, event_col : str
        Follow-up (years) and event flag (0/1) columns, named as in lifelines.

    Returns
    -------
    DataFrame
        Rows ``model`` (``"univariable"``, ``"multivariable"``) x ``scale`` (``"per SD"``,
        ``"per IQR"``) with ``unit`` (the SD or IQR, biomarker units), ``hr``, ``lower``,
        ``upper`` (95% Wald CI), ``p`` (Wald), ``n``, ``events``, ``coef`` and ``se`` (log HR
        per unit and its standard error).
    """
    covariates = list(covariates)
    if biomarker in covariates:
        raise EvaluationError(
            f"covariates must not include the biomarker {biomarker!r}, but they do: {covariates}. "
            "Fix: list only the adjustment variables"
        )
    data = _complete(table, [duration_col, event_col, biomarker, *covariates], "hazard_ratios")
    x = data[biomarker]
    units = {"per SD": float(x.std()), "per IQR": float(x.quantile(0.75) - x.quantile(0.25))}
    for scale, unit in units.items():
        if not unit > 0:
            raise EvaluationError(
                f"the biomarker {biomarker!r} must vary to give an HR {scale}, but its "
                f"{scale[4:]} is {unit:.6g}. Fix: check the column"
            )
    models = {"univariable": [biomarker], "multivariable": [biomarker, *covariates]}
    rows = []
    for model, columns in models.items():
        if model == "multivariable" and not covariates:
            continue
        cox = _fit_cox(data, (duration_col, event_col), columns, f"the {model} Cox model")
        for scale, unit in units.items():
            rows.append({"model": model, "scale": scale, "unit": unit, **_hr(cox, biomarker, unit)})
    return pd.DataFrame(rows, columns=["model", "scale", "unit", *_FIT_COLUMNS])


def proportional_hazards_test(
    table: pd.DataFrame,
    columns: Sequence[str],
    *,
    duration_col: str = "time",
    event_col: str = "event",
) -> pd.DataFrame:
    """Schoenfeld-residual tests of proportional hazards in the Cox model on ``columns``.

    Per covariate, lifelines' ``proportional_hazard_test`` with ``time_transform="rank"`` (the
    event's rank among the ``d`` events, 1..d; ties in row order, as lifelines), computed in
    O(n p^2) (:func:`msk1model.models.cox_newton.schoenfeld_residuals`; lifelines' residuals
    take time that grows as n^2). The global test
    is Grambsch & Therneau's (1994), as R ``survival::cox.zph`` computed it before version 3
    (lifelines gives none): with ``r_k`` the scaled Schoenfeld residuals (lifelines', without the
    coefficients), ``g_k`` the centred ranks, ``V`` the model's covariance and
    ``U = sum_k g_k r_k``, ``T = U' V^-1 U / (d sum_k g_k**2)`` on ``len(columns)`` df. The
    per-covariate statistic is ``U_j**2 / (d sum_k g_k**2 V_jj)``; R >= 3 uses an exact score test
    instead, so its values differ somewhat.

    Parameters
    ----------
    table : DataFrame
        One row per patient.
    columns : sequence of str
        Numeric covariates of the Cox model.
    duration_col, event_col : str
        Follow-up (years) and event flag (0/1) columns, named as in lifelines.

    Returns
    -------
    DataFrame
        Rows per covariate then ``"global"``: ``covariate``, ``statistic`` (chi-square), ``df``,
        ``p``; ``n`` and ``events`` of the fit.
    """
    columns = list(columns)
    data = _complete(table, [duration_col, event_col, *columns], "proportional_hazards_test")
    cox = _fit_cox(data, (duration_col, event_col), columns, "the Cox model to test")
    x = data[columns].to_numpy(dtype=float)
    time, event = data[duration_col].to_numpy(float), data[event_col].to_numpy(bool)
    covariance = cox.variance_matrix_.to_numpy()
    residuals = int(event.sum()) * schoenfeld_residuals(x, time, event, cox.params_.to_numpy())
    residuals = residuals @ covariance  # scaled, without the coefficients (as lifelines)
    d = len(residuals)
    ranks = np.arange(1.0, d + 1.0)  # residuals come in lifelines' sorted event order
    g = ranks - ranks.mean()
    u = g @ residuals
    scale = d * float(g @ g)
    per = u**2 / (scale * np.diag(covariance))
    overall = float(u @ np.linalg.solve(covariance, u)) / scale
    out = pd.DataFrame(
        {
            "covariate": [*columns, "global"],
            "statistic": [*per, overall],
            "df": [1] * len(columns) + [len(columns)],
        }
    )
    out["p"] = stats.chi2.sf(out["statistic"], out["df"])
    return out.assign(n=len(data), events=int(data[event_col].sum()))


def er_interaction(
    table: pd.DataFrame,
    biomarker: str,
    er_col: str,
    covariates: Sequence[str] = (),
    *,
    duration_col: str = "time",
    event_col: str = "event",
) -> ERInteraction:
    """The biomarker's HR per SD by ER status, and the test that the two differ.

    Within ER-positive (``er == 1``) and ER-negative (``er == 0``) patients: Cox models of
    ``biomarker / sd`` adjusted for ``covariates`` (``er_col`` dropped from them), ``sd`` over the
    whole analysed table. Interaction: the Cox model of ``biomarker/sd + er + biomarker/sd x er +
    covariates`` gives the product's coefficient and Wald p; the likelihood-ratio test compares
    it with the same model without the product.

    Parameters
    ----------
    table : DataFrame
        One row per patient.
    biomarker : str
        Numeric biomarker column.
    er_col : str
        ER status column, 0 (negative) / 1 (positive).
    covariates : sequence of str
        Numeric adjustment columns (``er_col`` and ``biomarker`` are dropped from them).
    duration_col, event_col : str
        Follow-up (years) and event flag (0/1) columns, named as in lifelines.

    Returns
    -------
    ERInteraction
    """
    adjust = [c for c in covariates if c not in (er_col, biomarker)]
    outcome = (duration_col, event_col)
    data = _complete(table, [*outcome, biomarker, er_col, *adjust], "er_interaction")
    if not data[er_col].isin((0, 1)).all() or data[er_col].nunique() < 2:
        raise EvaluationError(
            f"{er_col!r} must hold ER status as 0 (negative) and 1 (positive), both present, but "
            f"found {sorted(data[er_col].unique().tolist())[:5]}. Fix: recode it"
        )
    sd = float(data[biomarker].std())
    product = f"{biomarker}:{er_col}"
    data = data.assign(**{biomarker: data[biomarker] / sd})
    data[product] = data[biomarker] * data[er_col]
    subgroups = pd.DataFrame(
        [
            _hr(_fit_cox(part, outcome, [biomarker, *adjust], label), biomarker, 1.0)
            for label, part in (
                ("the ER-positive Cox model", data[data[er_col] == 1]),
                ("the ER-negative Cox model", data[data[er_col] == 0]),
            )
        ],
        index=pd.Index(["ER-positive", "ER-negative"], name="er"),
        columns=_FIT_COLUMNS,
    )
    main = [biomarker, er_col, *adjust]
    full = _fit_cox(data, outcome, [*main, product], "the interaction Cox model")
    reduced = _fit_cox(data, outcome, main, "the Cox model without interaction")
    lr = max(2.0 * (full.log_likelihood_ - reduced.log_likelihood_), 0.0)
    return ERInteraction(
        subgroups=subgroups,
        sd=sd,
        coef=float(full.params_[product]),
        se=float(full.standard_errors_[product]),
        p_wald=float(full.summary.loc[product, "p"]),
        lr_statistic=float(lr),
        p_lr=float(stats.chi2.sf(lr, 1)),
        n=len(data),
        events=int(data[event_col].sum()),
    )


# --- internals --------------------------------------------------------------------------------


def _hr(cox: CoxResult, column: str, unit: float) -> dict[str, float]:
    """HR of ``column`` per ``unit`` from a fit on ``column``: hr, CI, p, n, events, coef, se."""
    coef = float(cox.params_[column]) * unit
    se = float(cox.standard_errors_[column]) * unit
    return {
        "hr": float(np.exp(coef)),
        "lower": float(np.exp(coef - _Z95 * se)),
        "upper": float(np.exp(coef + _Z95 * se)),
        "p": float(cox.summary.loc[column, "p"]),
        "n": int(cox.event_observed.shape[0]),
        "events": int(cox.event_observed.sum()),
        "coef": coef,
        "se": se,
    }


def _fit_cox(
    data: pd.DataFrame, outcome: tuple[str, str], columns: list[str], what: str
) -> CoxResult:
    """Unpenalised Cox model (lifelines, Efron ties) of the ``(duration, event)`` columns
    ``outcome`` on ``columns``."""
    duration_col, event_col = outcome
    if not data[event_col].any():
        raise EvaluationError(
            f"{what} needs at least one event, but its {len(data)} patients have none. Fix: "
            "analyse a larger group"
        )
    fix = "check for a covariate that is constant or separates the events in this group"
    frame = data[[*columns, duration_col, event_col]]
    return fit_cox(frame, what, fix, duration_col=duration_col, event_col=event_col)


def _complete(table: pd.DataFrame, columns: list[str], caller: str) -> pd.DataFrame:
    """Numeric copies of ``columns`` without rows that miss any; warns with the count dropped."""
    _check_columns(table, columns, caller)
    data = pd.DataFrame({c: _numeric(table, c) for c in dict.fromkeys(columns)})
    missing = data.isna().any(axis=1)
    if missing.any():
        counts = data.isna().sum()
        warnings.warn(
            f"{caller}: {int(missing.sum())} of {len(data)} patients were left out for missing "
            f"values (per column: {counts[counts > 0].to_dict()}); the results use the other "
            f"{len(data) - int(missing.sum())}. Fix: impute or exclude them first to silence this",
            BiomarkerWarning,
            stacklevel=3,
        )
        data = data[~missing]
    check_columns_outcome(data, duration_col=columns[0], event_col=columns[1])
    return data


def _check_columns(table: pd.DataFrame, columns: list[str], caller: str) -> None:
    absent = [c for c in columns if c not in table.columns]
    if absent:
        raise EvaluationError(
            f"{caller} needs the columns {absent}, but the table lacks them (it has "
            f"{list(table.columns)[:20]}). Fix: pass existing column names"
        )


def _numeric(table: pd.DataFrame, column: str) -> pd.Series:
    values = table[column]
    if isinstance(values.dtype, pd.CategoricalDtype) or not (
        pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)
    ):
        raise EvaluationError(
            f"column {column!r} must be numeric, but has dtype {values.dtype}. Fix: encode it "
            "as numbers (e.g. grade 1-3, ER 0/1)"
        )
    return values.astype(float)


def _levels(groups: pd.Series) -> list[object]:
    if isinstance(groups.dtype, pd.CategoricalDtype):
        return list(groups.cat.categories)
    return sorted(groups.dropna().unique().tolist())


def _group_test(samples: list[np.ndarray]) -> float:
    """Mann-Whitney U (2 samples) or Kruskal-Wallis (more); NaN for fewer than 2."""
    if len(samples) < 2:
        return np.nan
    if len(samples) == 2:
        return float(stats.mannwhitneyu(*samples, alternative="two-sided").pvalue)
    return float(stats.kruskal(*samples).pvalue)


def _summary_row(variable: str, level: str, x: pd.Series, p: float) -> dict[str, object]:
    v = x.to_numpy(dtype=float)
    if len(v) == 0:
        return {"variable": variable, "level": level, "n": 0, "p": p}
    q1, median, q3 = np.quantile(v, [0.25, 0.5, 0.75])
    sd = float(np.std(v, ddof=1)) if len(v) > 1 else np.nan
    moments = (v.mean(), sd, median, q1, q3, v.min(), v.max())
    summary = dict(zip(_SUMMARY, (len(v), *map(float, moments)), strict=True))
    return {"variable": variable, "level": level, **summary, "p": p}
