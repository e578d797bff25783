"""Curves against predicted risk or time: calibration, time-dependent AUC and decision curves."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.axes import Axes

from msk1model.errors import EvaluationError
from msk1model.evaluation._checks import check_horizons
from msk1model.evaluation.plots._base import _axes, _check_frame, _check_interval

#: Models in a decision-curve frame drawn as grey references rather than as models.
_REFERENCE_STYLES: dict[str, dict[str, Any]] = {
    "treat all": {"color": "0.45", "linestyle": "--", "linewidth": 1.2},
    "treat none": {"color": "0.0", "linestyle": ":", "linewidth": 1.2},
}


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
        :func:`~msk1model.evaluation.calibration.calibration_groups`.
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
