"""Kaplan-Meier curves with a numbers-at-risk table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import to_hex

from msk1model.errors import EvaluationError
from msk1model.evaluation._checks import check_horizons, check_y
from msk1model.evaluation.km import km_curve
from msk1model.evaluation.plots._base import _axes, _format_p
from msk1model.outcome import make_y

#: Points between the bottom of the Axes and the first row of the at-risk table (clears the
#: tick labels and the x label), and between rows.
_TABLE_TOP_PT, _TABLE_ROW_PT = 46.0, 13.0


def _group_labels(
    groups: npt.ArrayLike | None, n: int, group_order: Sequence[Any] | None
) -> tuple[np.ndarray, list[Any]]:
    """Per-patient labels and the order to draw them in; every listed group is non-empty."""
    g = np.full(n, "all", dtype=object) if groups is None else np.asarray(groups, dtype=object)
    if g.shape != (n,) or pd.isna(g).any():
        raise EvaluationError(
            f"groups must hold one non-missing label per patient ({n}), but got shape {g.shape} "
            f"with {int(pd.isna(g).sum()) if g.ndim == 1 else '?'} missing. Fix: align groups "
            "with y and drop unlabelled patients"
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
    km = km_curve(make_y(time=time, event=event))
    drops = km.deaths > 0  # the curve steps at the event times only
    x = np.concatenate([[0.0], km.timeline[drops], [time.max()]])
    y = np.concatenate(
        [[1.0], km.survival[drops], km.survival[drops][-1:] if drops.any() else [1.0]]
    )
    label = f"{name} (n={len(time)}, events={int(event.sum())})"
    (line,) = ax.plot(x, y, drawstyle="steps-post", label=label, gid=f"km|{name}")
    censored = np.unique(time[~event])
    ax.plot(
        censored,
        km.survival[km.step(censored)],
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
    y: npt.ArrayLike,
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
    y : structured array, shape (n,)
        Outcome, fields (event, time in years), e.g. from :func:`msk1model.outcome.make_y`.
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
    t, e = check_y(y)
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
        ax.text(0.03, 0.05, f"log-rank {_format_p(p_value)}", transform=ax.transAxes)
    if title is not None:
        ax.set_title(title)
    return ax
