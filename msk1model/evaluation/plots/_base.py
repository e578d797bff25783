"""Helpers every plot shares: a headless Axes, frame and interval checks, p formats, PNG output."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure, SubFigure

from msk1model.errors import EvaluationError


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
    estimate: npt.ArrayLike,
    lower: npt.ArrayLike,
    upper: npt.ArrayLike,
    name: str,
    *,
    contains: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Finite estimates inside their bounds; a NaN pair of bounds means no interval.

    ``contains=False`` only asks ``lower <= upper``: a bootstrap percentile interval need not
    hold the estimate of the full sample.
    """
    est, lo, up = (np.asarray(a, dtype=float) for a in (estimate, lower, upper))
    if not (est.shape == lo.shape == up.shape) or est.ndim != 1:
        raise EvaluationError(
            f"{name}: estimate, lower and upper must be 1-D of equal length, but got shapes "
            f"{est.shape}, {lo.shape} and {up.shape}. Fix: one bound pair per estimate"
        )
    none = np.isnan(lo) & np.isnan(up)
    inside = (lo <= est + 1e-12) & (est <= up + 1e-12) if contains else lo <= up
    rule = "lie within [lower, upper]" if contains else "have lower <= upper"
    if not np.isfinite(est).all() or not (inside | none).all():
        row = int(np.argmin(np.isfinite(est) & (inside | none)))
        raise EvaluationError(
            f"{name}: every estimate must be finite and {rule}, but row {row} has "
            f"{est[row]:.4g} in [{lo[row]:.4g}, {up[row]:.4g}]. Fix: check the interval columns"
        )
    return est, lo, up


def _format_p(p: float) -> str:
    """``p = 0.012`` or, as journals print it, ``p < 0.001``."""
    return f"p = {p:.3f}" if p >= 0.001 else "p < 0.001"


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
