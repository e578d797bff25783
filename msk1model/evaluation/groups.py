"""Biomarker groups compared: patient characteristics by group (Table 1) and their hazard ratio.

Pure functions of a cohort table (one row per patient, follow-up in years, event 0/1) and one
group label per patient, such as the low and high groups of a pre-specified biomarker cut.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from msk1model.errors import EvaluationError
from msk1model.evaluation._cox import fit_cox

__all__ = ["characteristics_by_group", "group_hazard_ratios"]

_Z95 = float(stats.norm.ppf(0.975))
#: Table 1's columns, one row per (variable, level, group); see characteristics_by_group.
_CHARACTERISTICS = [
    "variable",
    "level",
    "group",
    "n",
    "of",
    "percent",
    "median",
    "q1",
    "q3",
    "missing",
    "p",
    "test",
]


def characteristics_by_group(
    table: pd.DataFrame,
    groups: npt.ArrayLike,
    variables: Sequence[str],
    *,
    categorical: Sequence[str] = (),
) -> pd.DataFrame:
    """Patient characteristics in each group, with a test of difference between the groups.

    Parameters
    ----------
    table : DataFrame
        One row per patient.
    groups : array-like, shape (n,)
        Group label per patient (no missing labels), in ``table``'s row order. Groups are listed
        in sorted order, or in category order for a ``pandas.Categorical``.
    variables : sequence of str
        Columns to describe: continuous ones numeric, categorical ones of any type.
    categorical : sequence of str
        The variables described by level (count and percent); the others by median and IQR.

    Returns
    -------
    DataFrame
        One row per variable, level (``""`` for a continuous variable) and group, the groups
        followed by ``"all"``: ``n`` patients with the value (or level), ``of`` patients with a
        value, ``percent`` = 100 n / of (categorical), ``median``, ``q1``, ``q3`` (linear
        quantiles; continuous), ``missing`` patients without a value, and per variable ``p`` and
        ``test``: two-sided Mann-Whitney U for two groups or Kruskal-Wallis for more
        (continuous); Pearson's chi-square without continuity correction (categorical), or
        Fisher's exact test for a 2 x 2 table with an expected count below 5. Patients with a
        missing value are left out of the test. ``p`` is NaN when a test is undefined.
    """
    labels, codes = _group_codes(groups, len(table))
    absent = [v for v in variables if v not in table.columns]
    unknown = [c for c in categorical if c not in variables]
    if absent or unknown:
        raise EvaluationError(
            f"characteristics_by_group describes columns of the table, but {absent or unknown} "
            f"are {'not in the table' if absent else 'categorical but not among variables'}. "
            "Fix: pass existing columns and list each categorical one among the variables"
        )
    rows: list[dict[str, object]] = []
    for name in variables:
        column = table[name].reset_index(drop=True)
        describe = _categorical_rows if name in categorical else _continuous_rows
        rows += describe(name, column, labels, codes)
    return pd.DataFrame(rows, columns=_CHARACTERISTICS)


def _group_codes(groups: npt.ArrayLike, n: int) -> tuple[list[str], np.ndarray]:
    series = pd.Series(groups)
    if len(series) != n or series.isna().any():
        raise EvaluationError(
            f"groups must give one label per patient ({n}) and none missing, but got "
            f"{len(series)} labels with {int(series.isna().sum())} missing. Fix: label every row"
        )
    if isinstance(series.dtype, pd.CategoricalDtype):
        levels = [c for c in series.cat.categories if (series == c).any()]
    else:
        levels = sorted(series.unique().tolist())
    codes = series.map({level: k for k, level in enumerate(levels)}).to_numpy(dtype=int)
    return [str(level) for level in levels], codes


def _continuous_rows(
    name: str, column: pd.Series, labels: list[str], codes: np.ndarray
) -> list[dict[str, object]]:
    if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        raise EvaluationError(
            f"continuous variable {name!r} must be numeric, but has dtype {column.dtype}. Fix: "
            "list it among the categorical variables"
        )
    values = column.to_numpy(dtype=float)
    samples = [values[codes == k] for k in range(len(labels))]
    present = [s[~np.isnan(s)] for s in samples]
    test, p = _rank_test(present)
    rows = []
    for label, sample in [*zip(labels, samples, strict=True), ("all", values)]:
        kept = sample[~np.isnan(sample)]
        q1, median, q3 = np.quantile(kept, [0.25, 0.5, 0.75]) if len(kept) else (np.nan,) * 3
        rows.append(
            {
                "variable": name,
                "level": "",
                "group": label,
                "n": len(kept),
                "of": len(kept),
                "percent": np.nan,
                "median": float(median),
                "q1": float(q1),
                "q3": float(q3),
                "missing": len(sample) - len(kept),
                "p": p,
                "test": test,
            }
        )
    return rows


def _rank_test(samples: list[np.ndarray]) -> tuple[str, float]:
    samples = [s for s in samples if len(s)]
    if len(samples) < 2:
        return "", np.nan
    if len(samples) == 2:
        return "Mann-Whitney U", float(stats.mannwhitneyu(*samples, alternative="two-sided").pvalue)
    if len(np.unique(np.concatenate(samples))) < 2:
        return "Kruskal-Wallis", np.nan
    return "Kruskal-Wallis", float(stats.kruskal(*samples).pvalue)


def _categorical_rows(
    name: str, column: pd.Series, labels: list[str], codes: np.ndarray
) -> list[dict[str, object]]:
    present = column.notna().to_numpy()
    if isinstance(column.dtype, pd.CategoricalDtype):
        levels = [lv for lv in column.cat.categories if (column == lv).any()]
    else:
        levels = sorted(column.dropna().unique().tolist())
    counts = np.array([[int(((codes == k) & (column == lv)).sum()) for k in range(len(labels))]
                       for lv in levels])  # fmt: skip
    test, p = _contingency_test(counts)
    rows = []
    for level, row in zip(levels, counts, strict=True):
        for k, label in enumerate([*labels, "all"]):
            in_group = np.ones(len(codes), bool) if label == "all" else codes == k
            of = int((in_group & present).sum())
            n = int(row.sum()) if label == "all" else int(row[k])
            rows.append(
                {
                    "variable": name,
                    "level": _level_text(level),
                    "group": label,
                    "n": n,
                    "of": of,
                    "percent": 100.0 * n / of if of else np.nan,
                    "median": np.nan,
                    "q1": np.nan,
                    "q3": np.nan,
                    "missing": int((in_group & ~present).sum()),
                    "p": p,
                    "test": test,
                }
            )
    return rows


def _level_text(level: object) -> str:
    if isinstance(level, float) and level.is_integer():
        return str(int(level))
    return str(level)


def _contingency_test(counts: np.ndarray) -> tuple[str, float]:
    """Pearson chi-square (no continuity correction); Fisher's exact for a sparse 2 x 2 table."""
    counts = counts[counts.sum(axis=1) > 0][:, counts.sum(axis=0) > 0]
    if counts.ndim != 2 or min(counts.shape) < 2:
        return "", np.nan
    expected = stats.contingency.expected_freq(counts)
    if counts.shape == (2, 2) and expected.min() < 5:
        return "Fisher's exact", float(stats.fisher_exact(counts).pvalue)
    result = stats.chi2_contingency(counts, correction=False)
    return "chi-square", float(result.pvalue)


def group_hazard_ratios(
    table: pd.DataFrame,
    groups: npt.ArrayLike,
    covariates: Sequence[str] = (),
    *,
    reference: str,
    duration_col: str = "time",
    event_col: str = "event",
) -> pd.DataFrame:
    """Cox hazard ratio of each group against ``reference``, unadjusted and adjusted.

    Each non-reference group enters as a 0/1 indicator; the adjusted model adds ``covariates``.
    Both models use the same patients: those with every covariate present.

    Parameters
    ----------
    table : DataFrame
        One row per patient; ``duration_col`` (years), ``event_col`` (0/1) and the numeric
        ``covariates``.
    groups : array-like, shape (n,)
        Group label per patient, in ``table``'s row order, e.g. ``"low"``/``"high"``.
    covariates : sequence of str
        Adjustment columns; empty gives only the unadjusted rows.
    reference : str
        The group every other is compared with.

    Returns
    -------
    DataFrame
        Rows ``model`` (``"unadjusted"``, ``"adjusted"``) x ``comparison`` (``"high vs low"``)
        with ``hr``, ``lower``, ``upper`` (95% Wald CI), ``p`` (Wald), ``n``, ``events``,
        ``coef`` and ``se`` (the log HR and its standard error).
    """
    labels, codes = _group_codes(groups, len(table))
    if reference not in labels or len(labels) < 2:
        raise EvaluationError(
            f"reference must be one of at least two groups, but got {reference!r} with groups "
            f"{labels}. Fix: pass the label of the comparison group"
        )
    others = [g for g in labels if g != reference]
    indicators = {f"{g} vs {reference}": (codes == labels.index(g)).astype(float) for g in others}
    columns = [duration_col, event_col, *covariates]
    data = table[columns].reset_index(drop=True).assign(**indicators)
    data = data[data[list(covariates)].notna().all(axis=1)].astype(float)
    rows = []
    for model, adjust in (("unadjusted", []), ("adjusted", list(covariates))):
        if model == "adjusted" and not adjust:
            continue
        frame = data[[*indicators, *adjust, duration_col, event_col]]
        cox = fit_cox(
            frame,
            f"the {model} Cox model of the groups",
            duration_col=duration_col,
            event_col=event_col,
        )
        for comparison in indicators:
            coef = float(cox.params_[comparison])
            se = float(cox.standard_errors_[comparison])
            rows.append(
                {
                    "model": model,
                    "comparison": comparison,
                    "hr": float(np.exp(coef)),
                    "lower": float(np.exp(coef - _Z95 * se)),
                    "upper": float(np.exp(coef + _Z95 * se)),
                    "p": float(cox.summary.loc[comparison, "p"]),
                    "n": len(frame),
                    "events": int(frame[event_col].sum()),
                    "coef": coef,
                    "se": se,
                }
            )
    return pd.DataFrame(rows)
