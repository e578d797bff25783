"""Figures for a run: Kaplan-Meier, calibration, time-dependent AUC, decision curves, forests.

Every plot takes plain arrays or DataFrames (no fitted models) and follows lifelines' habit:
``ax=None`` draws on a new headless figure (``matplotlib.figure.Figure`` on an Agg canvas, never
pyplot's global state, so plotting is thread-safe) and the Axes drawn on is returned. Times are
in years. :func:`save_png` writes the figure of an Axes to disk. The artists carry ``gid`` tags
(``"km|<group>"``, ``"at_risk|<group>|<t>"``, ``"calibration|<label>"``, ...) so callers and tests
can find what was drawn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from statistics import NormalDist
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure, SubFigure
from matplotlib.ticker import FormatStrFormatter, NullFormatter

from msk1model.errors import EvaluationError
from msk1model.evaluation._checks import check_horizons, check_outcome, check_survival

__all__ = [
    "auc_plot",
    "calibration_groups",
    "calibration_plot",
    "decision_curve_plot",
    "forest_plot",
    "km_plot",
    "metrics_ci_plot",
    "save_png",
]

_Z95 = NormalDist().inv_cdf(0.975)
#: Models in a decision-curve frame drawn as grey references rather than as models.
_REFERENCE_STYLES: dict[str, dict[str, Any]] = {
    "treat all": {"color": "0.45", "linestyle": "--", "linewidth": 1.2},
    "treat none": {"color": "0.0", "linestyle": ":", "linewidth": 1.2},
}
#: Candidate major ticks of the log hazard-ratio axis.
_HR_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)
#: Points between the bottom of the Axes and the first row of the at-risk table (clears the
#: tick labels and the x label), and between rows.
_TABLE_TOP_PT, _TABLE_ROW_PT = 46.0, 13.0


# --------------------------------------------------------------------------- shared helpers


def _axes(ax: Axes | None, figsize: tuple[float, float] = (6.4, 4.8)) -> Axes:
    """``ax`` itself, or the single Axes of a new constrained-layout figure on an Agg canvas."""
    if ax is not None:
        return ax
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig.add_subplot()


def _check_frame(frame: pd.DataFrame, columns: Sequence[str], name: str) -> pd.DataFrame:
    """``frame`` has rows and the required columns; returns it with a fresh 0..n-1 index."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise EvaluationError(
            f"{name} must have the columns {list(columns)}, but {missing} are missing (found "
            f"{list(frame.columns)}). Fix: rename or add those columns"
        )
    if frame.empty:
        raise EvaluationError(f"{name} must have at least one row, but it is empty")
    return frame.reset_index(drop=True)


def _check_interval(
    estimate: npt.ArrayLike, lower: npt.ArrayLike, upper: npt.ArrayLike, name: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Finite estimates inside their bounds; a NaN pair of bounds means no interval."""
    est, lo, up = (np.asarray(a, dtype=float) for a in (estimate, lower, upper))
    if not (est.shape == lo.shape == up.shape) or est.ndim != 1:
        raise EvaluationError(
            f"{name}: estimate, lower and upper must be 1-D of equal length, but got shapes "
            f"{est.shape}, {lo.shape} and {up.shape}. Fix: one bound pair per estimate"
        )
    none = np.isnan(lo) & np.isnan(up)
    inside = (lo <= est + 1e-12) & (est <= up + 1e-12)
    if not np.isfinite(est).all() or not (inside | none).all():
        row = int(np.argmin(np.isfinite(est) & (inside | none)))
        raise EvaluationError(
            f"{name}: every estimate must be finite and lie within [lower, upper], but row {row} "
            f"has {est[row]:.4g} in [{lo[row]:.4g}, {up[row]:.4g}]. Fix: check the interval columns"
        )
    return est, lo, up


def _format_p(p: float) -> str:
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


# --------------------------------------------------------------------------- Kaplan-Meier


class _KaplanMeier(NamedTuple):
    times: np.ndarray
    """shape (k,): distinct event times, years, increasing."""
    survival: np.ndarray
    """shape (k,): S(t) just after each event time."""
    greenwood: np.ndarray
    """shape (k,): cumulative Greenwood sum ``sum d / (n (n - d))`` (inf where S drops to 0)."""


def _kaplan_meier(time: np.ndarray, event: np.ndarray) -> _KaplanMeier:
    """Product-limit estimate at the distinct event times of one group."""
    times, deaths = np.unique(time[event], return_counts=True)
    at_risk = len(time) - np.searchsorted(np.sort(time), times, side="left")
    with np.errstate(divide="ignore"):
        greenwood = np.cumsum(deaths / (at_risk * (at_risk - deaths)))
    return _KaplanMeier(times, np.cumprod(1.0 - deaths / at_risk), greenwood)


def _step_at(km: _KaplanMeier, values: np.ndarray, at: npt.ArrayLike, start: float) -> np.ndarray:
    """Right-continuous step function through ``values`` at ``km.times``; ``start`` before."""
    idx = np.searchsorted(km.times, np.asarray(at, dtype=float), side="right") - 1
    return np.where(idx >= 0, values[np.maximum(idx, 0)], start)


def _group_labels(
    groups: npt.ArrayLike | None, n: int, group_order: Sequence[Any] | None
) -> tuple[np.ndarray, list[Any]]:
    """Per-patient labels and the order to draw them in; every listed group is non-empty."""
    g = np.full(n, "all", dtype=object) if groups is None else np.asarray(groups, dtype=object)
    if g.shape != (n,) or pd.isna(g).any():
        raise EvaluationError(
            f"groups must hold one non-missing label per patient ({n}), but got shape {g.shape} "
            f"with {int(pd.isna(g).sum()) if g.ndim == 1 else '?'} missing. Fix: align groups "
            "with time and event and drop unlabelled patients"
        )
    present = list(pd.unique(g))
    if group_order is None:
        try:
            return g, sorted(present)
        except TypeError:
            return g, present
    order = list(group_order)
    empty = [x for x in order if x not in present]
    unlisted = [x for x in present if x not in order]
    if empty or unlisted or len(set(order)) != len(order):
        raise EvaluationError(
            "group_order must list every group in groups exactly once, but "
            f"{empty} have no patients (empty groups) and {unlisted} are not listed. "
            f"Fix: use the labels found: {present}"
        )
    return g, order


def _draw_km(ax: Axes, time: np.ndarray, event: np.ndarray, name: Any) -> str:
    """One group's step curve, with '+' ticks at its censoring times; returns its colour."""
    km = _kaplan_meier(time, event)
    x = np.concatenate([[0.0], km.times, [time.max()]])
    y = np.concatenate([[1.0], km.survival, km.survival[-1:] if len(km.times) else [1.0]])
    label = f"{name} (n={len(time)}, events={int(event.sum())})"
    (line,) = ax.plot(x, y, drawstyle="steps-post", label=label, gid=f"km|{name}")
    censored = np.unique(time[~event])
    ax.plot(
        censored,
        _step_at(km, km.survival, censored, 1.0),
        linestyle="none",
        marker="+",
        markersize=6,
        color=line.get_color(),
        gid=f"censor|{name}",
    )
    return to_hex(line.get_color())


def _below(ax: Axes, text: str, x: float, dx: float, dy: float, **kw: Any) -> None:
    """``text`` ``dy`` points below the Axes at ``x`` (data units) shifted ``dx`` points."""
    ax.annotate(
        text,
        (x, 0),
        xycoords=("data", "axes fraction"),
        xytext=(dx, dy),
        textcoords="offset points",
        annotation_clip=False,
        fontsize=8,
        va="top",
        **kw,
    )


def _draw_risk_table(
    ax: Axes, time: np.ndarray, labels: np.ndarray, colors: dict[Any, str], at: np.ndarray
) -> None:
    """Numbers at risk (follow-up >= t) as text rows beneath the x axis of ``ax``."""
    _below(ax, "Number at risk", 0.0, -16.0, -_TABLE_TOP_PT, ha="right", weight="bold")
    for row, (name, color) in enumerate(colors.items(), start=1):
        dy = -_TABLE_TOP_PT - row * _TABLE_ROW_PT
        _below(ax, str(name), 0.0, -16.0, dy, ha="right", color=color)
        t_group = time[labels == name]
        for t in at:
            count = str(int((t_group >= t).sum()))
            _below(ax, count, float(t), 0.0, dy, ha="center", gid=f"at_risk|{name}|{t:g}")


def km_plot(
    time: npt.ArrayLike,
    event: npt.ArrayLike,
    groups: npt.ArrayLike | None = None,
    *,
    risk_table_times: npt.ArrayLike | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    p_value: float | None = None,
    group_order: Sequence[Any] | None = None,
) -> Axes:
    """Kaplan-Meier curves per group with a numbers-at-risk table beneath.

    Parameters
    ----------
    time, event : array-like, shape (n,)
        Follow-up (years) and event flags (1 = event, 0 = censored).
    groups : array-like, shape (n,), optional
        Group label per patient (e.g. "low"/"high" MSK1); ``None`` draws one curve, "all".
    risk_table_times : array-like, optional
        Years at which to count patients at risk (``time >= t``); default every whole year from 0
        to the longest follow-up.
    ax : Axes, optional
        Drawn on if given, else a new figure is made (taller by one text row per group).
    title : str, optional
    p_value : float, optional
        Annotated as "log-rank p = ..." in the lower left.
    group_order : sequence, optional
        Groups in drawing (and table) order; must list each group once. Default: sorted labels.

    Returns
    -------
    Axes
        Step curves tagged ``gid="km|<group>"`` (censoring ticks ``"censor|<group>"``); the
        at-risk counts are text artists tagged ``"at_risk|<group>|<t>"``.
    """
    t, e = check_outcome(time, event)
    labels, order = _group_labels(groups, len(t), group_order)
    if p_value is not None and not 0.0 <= p_value <= 1.0:
        raise EvaluationError(f"p_value must lie in [0, 1], but got {p_value!r}")
    at = (
        np.arange(0.0, np.floor(t.max()) + 1.0)
        if risk_table_times is None
        else check_horizons(risk_table_times, "risk_table_times", allow_zero=True)
    )
    ax = _axes(ax, (6.4, 4.2 + 0.2 * len(order)))
    colors = {name: _draw_km(ax, t[labels == name], e[labels == name], name) for name in order}
    _draw_risk_table(ax, t, labels, colors, at)
    ax.set(xlim=(0.0, max(t.max(), at.max()) * 1.02), ylim=(0.0, 1.02))
    ax.set(xlabel="Years", ylabel="Survival probability", xticks=at)
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    if p_value is not None:
        ax.text(0.03, 0.05, f"log-rank p = {_format_p(p_value)}", transform=ax.transAxes)
    if title is not None:
        ax.set_title(title)
    return ax


# --------------------------------------------------------------------------- calibration


def _km_risk(time: np.ndarray, event: np.ndarray, horizon: float) -> tuple[float, float, float]:
    """1 - KM(horizon) with its 95% log-log (exponential Greenwood) interval, as lifelines."""
    km = _kaplan_meier(time, event)
    s = float(_step_at(km, km.survival, horizon, 1.0))
    var = float(_step_at(km, km.greenwood, horizon, 0.0))
    if not 0.0 < s < 1.0 or not np.isfinite(var):
        return 1.0 - s, 1.0 - s, 1.0 - s  # the interval is degenerate at S = 0 or 1
    shift = _Z95 * np.sqrt(var) / np.log(s)
    s_lower = np.exp(-np.exp(np.log(-np.log(s)) - shift))
    s_upper = np.exp(-np.exp(np.log(-np.log(s)) + shift))
    return 1.0 - s, 1.0 - float(s_upper), 1.0 - float(s_lower)


def calibration_groups(
    survival_at_h: npt.ArrayLike,
    time: npt.ArrayLike,
    event: npt.ArrayLike,
    horizon: float,
    n_groups: int = 10,
) -> pd.DataFrame:
    """Predicted against Kaplan-Meier observed risk by ``horizon`` in groups of predicted risk.

    Patients are sorted by predicted risk ``1 - S(h)`` and split into ``n_groups`` groups of
    (near) equal size; ties may straddle a boundary so that sizes never differ by more than one.

    Parameters
    ----------
    survival_at_h : array-like, shape (n,)
        Predicted survival probability ``S(horizon | x_i)``.
    time, event : array-like, shape (n,)
        Follow-up (years) and event flags.
    horizon : float
        Years, > 0 and no later than the longest follow-up.
    n_groups : int, default 10
        Number of risk groups (deciles by default), 1 <= n_groups <= n.

    Returns
    -------
    DataFrame, one row per group from lowest to highest risk
        ``group`` (1..n_groups), ``n``, ``events`` (all events in follow-up), ``predicted`` (mean
        ``1 - S(h)``), ``observed`` (``1 - KM(h)``) and its 95% interval ``observed_lower``,
        ``observed_upper`` (exponential Greenwood; collapses to the estimate when KM(h) is 0 or 1).
    """
    t, e = check_outcome(time, event)
    risk = 1.0 - check_survival(survival_at_h, (len(t), 1), "survival_at_h")[:, 0]
    h = float(check_horizons(horizon, "horizon")[0])
    if h > t.max():
        raise EvaluationError(
            f"horizon must lie within follow-up (<= {t.max():.4g} years), but got {h:.4g}. "
            "Fix: choose an earlier horizon"
        )
    if not 1 <= n_groups <= len(t):
        raise EvaluationError(
            f"n_groups must be between 1 and the number of patients ({len(t)}) so that no group "
            f"is empty, but got {n_groups}. Fix: use fewer groups"
        )
    rows = []
    for k, idx in enumerate(np.array_split(np.argsort(risk, kind="stable"), n_groups), start=1):
        observed = _km_risk(t[idx], e[idx], h)
        rows.append((k, len(idx), int(e[idx].sum()), float(risk[idx].mean()), *observed))
    columns = ["group", "n", "events", "predicted", "observed", "observed_lower", "observed_upper"]
    return pd.DataFrame(rows, columns=columns)


def _diagonal(ax: Axes, top: float) -> None:
    """The line of perfect calibration from 0 to ``top``, grown if already drawn."""
    for line in ax.get_lines():
        if line.get_gid() == "diagonal":
            top = max(top, float(np.max(np.asarray(line.get_xdata()))))
            line.set_data([0.0, top], [0.0, top])
            break
    else:
        ax.plot([0.0, top], [0.0, top], color="0.5", linestyle="--", linewidth=1, gid="diagonal")
    ax.set(xlim=(0.0, top), ylim=(0.0, top))


def calibration_plot(
    predicted: npt.ArrayLike,
    observed: npt.ArrayLike,
    *,
    lower: npt.ArrayLike | None = None,
    upper: npt.ArrayLike | None = None,
    horizon: float,
    ax: Axes | None = None,
    label: str | None = None,
) -> Axes:
    """Observed against predicted event probability by ``horizon``, one point per risk group.

    Parameters
    ----------
    predicted, observed : array-like, shape (k,)
        Mean predicted and observed risk per group, e.g. the columns of
        :func:`calibration_groups`.
    lower, upper : array-like, shape (k,), optional
        Interval of ``observed`` (both or neither); drawn as vertical bars.
    horizon : float
        Years; names the axes.
    ax : Axes, optional
        Drawn on if given (call again with another ``label`` to overlay models).
    label : str, optional
        Legend entry.

    Returns
    -------
    Axes
        Points tagged ``gid="calibration|<label>"`` and the diagonal ``"diagonal"``.
    """
    if (lower is None) != (upper is None):
        raise EvaluationError("lower and upper must be given together, but only one was given")
    obs = np.asarray(observed, dtype=float)
    lo, up = (
        (np.full(obs.shape, np.nan), np.full(obs.shape, np.nan))
        if lower is None
        else (np.asarray(lower, dtype=float), np.asarray(upper, dtype=float))
    )
    obs, lo, up = _check_interval(obs, lo, up, "observed")
    pred = np.asarray(predicted, dtype=float)
    if pred.shape != obs.shape or not np.isfinite(pred).all():
        raise EvaluationError(
            f"predicted must be finite with one value per group ({obs.shape}), but got shape "
            f"{pred.shape}. Fix: pass the predicted and observed risk of the same groups"
        )
    ax = _axes(ax, (4.8, 4.8))
    yerr = None if lower is None else np.vstack([obs - lo, up - obs])
    bars = ax.errorbar(pred, obs, yerr=yerr, fmt="o", capsize=2, label=label, markersize=4)
    bars.lines[0].set_gid(f"calibration|{label}")
    highest = float(np.nanmax(np.concatenate([pred, obs, up])))
    _diagonal(ax, min(1.0, 1.1 * highest) if highest > 0 else 1.0)
    ax.set(xlabel=f"Predicted risk by {horizon:g} years", ylabel="Observed risk (Kaplan-Meier)")
    if label is not None:
        ax.legend(loc="upper left", fontsize=8, frameon=False)
    return ax


# --------------------------------------------------------------------------- AUC, decision


def _auc_curves(
    times: npt.ArrayLike | Mapping[str, tuple[npt.ArrayLike, npt.ArrayLike]],
    auc: npt.ArrayLike | None,
    label: str,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Validated ``{model: (times, auc)}`` from either call form of :func:`auc_plot`."""
    if isinstance(times, Mapping):
        if auc is not None:
            raise EvaluationError("auc must be None when times maps models to (times, auc)")
        curves = dict(times)
    elif auc is None:
        raise EvaluationError("auc is required when times is an array of horizons")
    else:
        curves = {label: (times, auc)}
    checked = {}
    for name, (t, a) in curves.items():
        h = check_horizons(t, f"times of {name!r}")
        values = np.asarray(a, dtype=float)
        if values.shape != h.shape or ((values < 0) | (values > 1)).any():
            raise EvaluationError(
                f"auc of {name!r} must hold one AUC in [0, 1] (or NaN) per time ({len(h)}), but "
                f"got shape {values.shape}. Fix: pass the AUC evaluated at those times"
            )
        checked[name] = (h, values)
    return checked


def auc_plot(
    times: npt.ArrayLike | Mapping[str, tuple[npt.ArrayLike, npt.ArrayLike]],
    auc: npt.ArrayLike | None = None,
    *,
    mean_auc: float | Mapping[str, float] | None = None,
    ax: Axes | None = None,
    label: str = "model",
) -> Axes:
    """Cumulative/dynamic AUC against time for one model or several.

    Parameters
    ----------
    times : array-like of shape (k,), or Mapping[str, (times, auc)]
        Horizons in years (increasing), or one ``(times, auc)`` pair per model name.
    auc : array-like, shape (k,), optional
        AUC at each horizon; only with an array ``times``.
    mean_auc : float or Mapping[str, float], optional
        Mean AUC per model, shown in the legend.
    ax : Axes, optional
    label : str, default "model"
        Name of the single curve (ignored for a Mapping).

    Returns
    -------
    Axes
        One line per model tagged ``gid="auc|<model>"``, and the chance line at 0.5.
    """
    curves = _auc_curves(times, auc, label)
    means = {label: mean_auc} if isinstance(mean_auc, float | int) else dict(mean_auc or {})
    ax = _axes(ax)
    for name, (t, a) in curves.items():
        text = name if name not in means else f"{name} (mean AUC {means[name]:.3f})"
        ax.plot(t, a, marker="o", markersize=3, label=text, gid=f"auc|{name}")
    ax.axhline(0.5, color="0.5", linestyle=":", linewidth=1)
    lowest = np.nanmin([np.nanmin(np.append(a, 0.5)) for _, a in curves.values()])
    ax.set(xlabel="Years", ylabel="Time-dependent AUC", ylim=(max(0.0, lowest - 0.05), 1.0))
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    return ax


def decision_curve_plot(frame: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Net benefit against threshold probability, one line per model and reference strategy.

    Parameters
    ----------
    frame : DataFrame
        Columns ``threshold`` (risk threshold in (0, 1)), ``model`` and ``net_benefit``; models
        named "treat all" / "treat none" (any case, ``_`` for space) are drawn as references.
    ax : Axes, optional

    Returns
    -------
    Axes
        Lines tagged ``gid="net_benefit|<model>"`` in the order models first appear, each sorted
        by threshold. The y axis runs from -0.05 (clipping treat-all's fall) to just above the
        highest net benefit.
    """
    f = _check_frame(frame, ["threshold", "model", "net_benefit"], "frame")
    thr, nb = f["threshold"].to_numpy(float), f["net_benefit"].to_numpy(float)
    if not ((thr > 0) & (thr < 1)).all() or not np.isfinite(nb).all() or f["model"].isna().any():
        raise EvaluationError(
            "frame must have thresholds in (0, 1), finite net_benefit and a model per row, but "
            f"found thresholds in [{thr.min():.4g}, {thr.max():.4g}] and "
            f"{int((~np.isfinite(nb)).sum())} non-finite net benefit(s). Fix: drop those rows"
        )
    ax = _axes(ax)
    for name, rows in f.groupby("model", sort=False):
        rows = rows.sort_values("threshold", kind="stable")
        style = _REFERENCE_STYLES.get(str(name).lower().replace("_", " "), {})
        ax.plot(
            rows["threshold"],
            rows["net_benefit"],
            label=str(name),
            gid=f"net_benefit|{name}",
            **style,
        )
    top = float(nb.max())
    ax.set(xlabel="Threshold probability", ylabel="Net benefit")
    if thr.min() < thr.max():
        ax.set_xlim(thr.min(), thr.max())
    ax.set_ylim(-0.05, top + 0.1 * abs(top) if top > 0 else 0.05)
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    return ax


# --------------------------------------------------------------------------- interval plots


def forest_plot(frame: pd.DataFrame, *, ax: Axes | None = None, ref: float = 1.0) -> Axes:
    """Hazard ratios with 95% intervals on a log axis, first row on top.

    Parameters
    ----------
    frame : DataFrame
        Columns ``label``, ``hr``, ``lower``, ``upper`` (all > 0) and optionally ``p``.
    ax : Axes, optional
    ref : float, default 1.0
        Reference hazard ratio, drawn as a vertical dashed line.

    Returns
    -------
    Axes
        Points tagged ``gid="hr"`` at ``(hr, y)`` with y = n-1 .. 0, and "HR (lower-upper)" text
        (with "p = ..." if given) at the right of each row, tagged ``"hr_text|<label>"``.
    """
    f = _check_frame(frame, ["label", "hr", "lower", "upper"], "frame")
    hr, lo, up = _check_interval(f["hr"], f["lower"], f["upper"], "frame")
    if not (lo > 0).all() or not ref > 0:
        raise EvaluationError(
            "forest_plot needs hazard ratios and bounds > 0 (log axis) and ref > 0, but found "
            f"min(lower) = {lo.min():.4g} and ref = {ref:.4g}. Fix: pass hazard ratios, not log HRs"
        )
    y = np.arange(len(f))[::-1].astype(float)
    ax = _axes(ax, (6.4, 1.0 + 0.35 * len(f)))
    bars = ax.errorbar(
        hr, y, xerr=np.vstack([hr - lo, up - hr]), fmt="s", color="0.1", capsize=2, markersize=4
    )
    bars.lines[0].set_gid("hr")
    ax.axvline(ref, color="0.5", linestyle="--", linewidth=1)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    left, right = min(lo.min(), ref) / 1.15, max(up.max(), ref) * 1.15
    ax.set_xlim(left, right)
    ax.set_xticks([x for x in _HR_TICKS if left <= x <= right] or [ref])
    ax.set(yticks=y, yticklabels=f["label"].astype(str), ylim=(-0.7, len(f) - 0.3))
    ax.set_xlabel("Hazard ratio (log scale)")
    trans = ax.get_yaxis_transform()  # x in axes fraction, y in data
    ax.text(1.03, len(f) - 0.3, "HR (95% CI)", transform=trans, va="bottom", fontsize=8)
    p = f["p"].to_numpy(float) if "p" in f else np.full(len(f), np.nan)
    for i, row in f.iterrows():
        text = f"{row['hr']:.2f} ({row['lower']:.2f}-{row['upper']:.2f})"
        text += "" if np.isnan(p[i]) else f"  p = {_format_p(p[i])}"
        ax.text(
            1.03,
            y[i],
            text,
            transform=trans,
            va="center",
            fontsize=8,
            gid=f"hr_text|{row['label']}",
        )
    return ax


def metrics_ci_plot(frame: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Point estimates with intervals, one row per metric, models side by side within a row.

    Parameters
    ----------
    frame : DataFrame
        Columns ``metric``, ``estimate``, ``lower``, ``upper`` (NaN bounds: no bar) and
        optionally ``model`` (or ``group``) to compare several models per metric.
    ax : Axes, optional

    Returns
    -------
    Axes
        One point series per model tagged ``gid="metric|<model>"``, metrics top to bottom in
        the order they first appear, models offset vertically within a metric's row.
    """
    f = _check_frame(frame, ["metric", "estimate", "lower", "upper"], "frame")
    est, lo, up = _check_interval(f["estimate"], f["lower"], f["upper"], "frame")
    hue = next((c for c in ("model", "group") if c in f), None)
    models = list(pd.unique(f[hue])) if hue else [None]
    metrics = list(pd.unique(f["metric"]))
    ax = _axes(ax, (6.4, 1.0 + 0.4 * len(metrics) * max(1, len(models) / 2)))
    offsets = np.linspace(0.25, -0.25, len(models)) if len(models) > 1 else np.zeros(1)
    row_of = {m: len(metrics) - 1 - i for i, m in enumerate(metrics)}
    for model, offset in zip(models, offsets, strict=True):
        sel = np.ones(len(f), bool) if hue is None else (f[hue] == model).to_numpy()
        y = f.loc[sel, "metric"].map(row_of).to_numpy(float) + offset
        err = np.nan_to_num(np.vstack([est[sel] - lo[sel], up[sel] - est[sel]]))
        bars = ax.errorbar(
            est[sel],
            y,
            xerr=err,
            fmt="o",
            capsize=2,
            markersize=4,
            label=None if model is None else str(model),
        )
        bars.lines[0].set_gid(f"metric|{model}")
    ax.set(yticks=list(row_of.values()), yticklabels=[str(m) for m in metrics])
    ax.set(ylim=(-0.6, len(metrics) - 0.4), xlabel="Estimate (95% CI)")
    if hue is not None:
        ax.legend(loc="best", fontsize=8, frameon=False)
    return ax


# --------------------------------------------------------------------------- output


def save_png(fig_or_ax: Figure | SubFigure | Axes, path: str | Path, dpi: int = 120) -> Path:
    """Write the whole figure as a PNG of ``dpi * figsize`` pixels; parent folders are made.

    Parameters
    ----------
    fig_or_ax : Figure or Axes
        The figure, or any Axes on it.
    path : str or Path
    dpi : int, default 120

    Returns
    -------
    Path
        ``path``, written.
    """
    fig = fig_or_ax if isinstance(fig_or_ax, Figure) else fig_or_ax.get_figure(root=True)
    if not isinstance(fig, Figure):
        raise EvaluationError("fig_or_ax must be a Figure or an Axes placed on a figure")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi, format="png")
    return out
