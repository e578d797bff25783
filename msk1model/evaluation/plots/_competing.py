"""Cumulative incidence plots for competing risks (Aalen-Johansen), with numbers at risk."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.colors import to_hex

from msk1model.evaluation.competing import aalen_johansen
from msk1model.evaluation.plots._base import _axes, _format_p
from msk1model.evaluation.plots._survival import _draw_risk_table, _group_labels

__all__ = ["cif_plot", "stacked_cif_plot"]


def cif_plot(
    time: npt.ArrayLike,
    event_type: npt.ArrayLike,
    groups: npt.ArrayLike | None = None,
    *,
    cause: int = 1,
    ax: Axes | None = None,
    title: str | None = None,
    group_order: Sequence[Any] | None = None,
    ylabel: str = "Cumulative incidence",
    p_value: float | None = None,
) -> Axes:
    """Aalen-Johansen cumulative incidence of ``cause`` per group, with its 95% band (Aalen's
    variance, log(-log)) and a numbers-at-risk table beneath.

    Returns the Axes; curves are tagged ``gid="cif|<group>"``. ``p_value`` (Gray's test) is
    annotated in the upper right.
    """
    t = np.asarray(time, dtype=float)
    codes = np.asarray(event_type)
    labels, order = _group_labels(groups, len(t), group_order)
    at = np.arange(0.0, np.floor(t.max()) + 1.0)
    ax = _axes(ax, (6.4, 4.2 + 0.2 * len(order)))
    colors: dict[Any, str] = {}
    top = 0.0
    for name in order:
        mine = labels == name
        estimate = aalen_johansen(t[mine], codes[mine], cause)
        x = np.r_[0.0, estimate.time]
        label = f"{name} (n={int(mine.sum())}, events={int((codes[mine] == cause).sum())})"
        (line,) = ax.plot(x, np.r_[0.0, estimate.cif], drawstyle="steps-post", label=label,
                          gid=f"cif|{name}")  # fmt: skip
        ax.fill_between(x, np.r_[0.0, estimate.lower], np.r_[0.0, estimate.upper], step="post",
                        alpha=0.15, color=line.get_color(), linewidth=0)  # fmt: skip
        colors[name] = to_hex(line.get_color())
        top = max(top, float(np.max(estimate.upper, initial=0.0)))
    _draw_risk_table(ax, t, labels, colors, at)
    ax.set(xlim=(0.0, t.max() * 1.02), ylim=(0.0, min(1.0, top * 1.15 + 0.01)))
    ax.set(xlabel="Years", ylabel=ylabel, xticks=at)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    if p_value is not None:
        ax.text(0.97, 0.05, f"Gray's test {_format_p(p_value)}", ha="right",
                transform=ax.transAxes)  # fmt: skip
    if title is not None:
        ax.set_title(title)
    return ax


def stacked_cif_plot(
    time: npt.ArrayLike,
    event_type: npt.ArrayLike,
    names: Mapping[int, str],
    *,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """The causes' Aalen-Johansen cumulative incidences stacked (in ``names`` order), so that
    the top edge is 1 - KM of any event, with the numbers at risk beneath; areas tagged
    ``gid="stack|<name>"``."""
    t = np.asarray(time, dtype=float)
    codes = np.asarray(event_type)
    ax = _axes(ax, (6.4, 4.4))
    below: np.ndarray | None = None
    grid: np.ndarray | None = None
    for cause, name in names.items():
        estimate = aalen_johansen(t, codes, cause)
        grid = np.r_[0.0, estimate.time]
        level = np.r_[0.0, estimate.cif]
        base = np.zeros_like(level) if below is None else below
        ax.fill_between(grid, base, base + level, step="post", alpha=0.6, label=name,
                        gid=f"stack|{name}")  # fmt: skip
        below = base + level
    if grid is not None and below is not None:
        ax.plot(grid, below, drawstyle="steps-post", color="black", linewidth=0.8,
                label="any event (1 - Kaplan-Meier)")  # fmt: skip
    at = np.arange(0.0, np.floor(t.max()) + 1.0)
    _draw_risk_table(ax, t, np.full(len(t), "all", dtype=object), {"all": "#000000"}, at)
    ax.set(xlim=(0.0, t.max() * 1.02), ylim=(0.0, 1.0), xlabel="Years", xticks=at,
           ylabel="Cumulative incidence (stacked)")  # fmt: skip
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    if title is not None:
        ax.set_title(title)
    return ax
