"""Point estimates with intervals: hazard-ratio forests and metric CIs."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import FormatStrFormatter, NullFormatter

from msk1model.errors import EvaluationError
from msk1model.evaluation.plots._base import _axes, _check_frame, _check_interval, _format_p

#: Candidate major ticks of the log hazard-ratio axis.
_HR_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)


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
        text += "" if np.isnan(p[i]) else f"  {_format_p(p[i])}"
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
        optionally ``model`` (or ``group``) to compare several models per metric. The bars are
        drawn from ``lower`` to ``upper``; a bootstrap percentile interval may leave out its
        estimate, and is drawn as it is.
    ax : Axes, optional

    Returns
    -------
    Axes
        One point series per model tagged ``gid="metric|<model>"``, metrics top to bottom in
        the order they first appear, models offset vertically within a metric's row.
    """
    f = _check_frame(frame, ["metric", "estimate", "lower", "upper"], "frame")
    est, lo, up = _check_interval(f["estimate"], f["lower"], f["upper"], "frame", contains=False)
    hue = next((c for c in ("model", "group") if c in f), None)
    models = list(pd.unique(f[hue])) if hue else [None]
    metrics = list(pd.unique(f["metric"]))
    ax = _axes(ax, (6.4, 1.0 + 0.4 * len(metrics) * max(1, len(models) / 2)))
    offsets = np.linspace(0.25, -0.25, len(models)) if len(models) > 1 else np.zeros(1)
    row_of = {m: len(metrics) - 1 - i for i, m in enumerate(metrics)}
    for model, offset in zip(models, offsets, strict=True):
        sel = np.ones(len(f), bool) if hue is None else (f[hue] == model).to_numpy()
        y = f.loc[sel, "metric"].map(row_of).to_numpy(float) + offset
        (points,) = ax.plot(est[sel], y, "o", markersize=4,
                            label=None if model is None else str(model))  # fmt: skip
        points.set_gid(f"metric|{model}")
        bar = ~np.isnan(lo[sel])
        ax.hlines(y[bar], lo[sel][bar], up[sel][bar], color=points.get_color(),
                  gid=f"interval|{model}")  # fmt: skip
    ax.set(yticks=list(row_of.values()), yticklabels=[str(m) for m in metrics])
    ax.set(ylim=(-0.6, len(metrics) - 0.4), xlabel="Estimate (95% CI)")
    if hue is not None:
        ax.legend(loc="best", fontsize=8, frameon=False)
    return ax
