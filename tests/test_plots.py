"""Plots draw what they are given: curve data against lifelines, table text against numpy counts.

Counterparts: lifelines' ``KaplanMeierFitter`` (survival function and exponential Greenwood
interval), numpy counts of patients at risk, pandas quantile groups, and the PNG header.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from msk1model.data.synthetic import (
    TRUE_LOG_HR,
    WEIBULL_SCALE,
    WEIBULL_SHAPE,
    design_matrix,
    make_synthetic_cohort,
)
from msk1model.errors import EvaluationError
from msk1model.evaluation.calibration import calibration_groups
from msk1model.evaluation.plots import (
    auc_plot,
    calibration_plot,
    decision_curve_plot,
    forest_plot,
    km_plot,
    metrics_ci_plot,
    save_png,
)
from msk1model.outcome import make_y

HORIZON = 5.0


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    """500 synthetic patients; ``msk1_group`` splits them at the median MSK1."""
    data = make_synthetic_cohort(500, seed=1)
    data["msk1_group"] = np.where(data["msk1"] >= data["msk1"].median(), "high", "low")
    return data


@pytest.fixture(scope="module")
def y(cohort: pd.DataFrame) -> np.ndarray:
    """The cohort's outcome as a structured (event, time) array."""
    return make_y(time=cohort["time"], event=cohort["event"])


@pytest.fixture(scope="module")
def km_ax(cohort: pd.DataFrame, y: np.ndarray) -> Axes:
    return km_plot(y, cohort["msk1_group"], p_value=0.0123)


def by_gid(ax: Axes, gid: str) -> np.ndarray:
    """x and y data, shape (2, k), of the one line on ``ax`` tagged ``gid``."""
    (line,) = [line for line in ax.get_lines() if line.get_gid() == gid]
    return np.vstack([np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)])


def at_risk_table(ax: Axes) -> dict[tuple[str, float], int]:
    """``{(group, t): count}`` read back from the tagged table text."""
    table = {}
    for text in ax.texts:
        gid = text.get_gid() or ""
        if gid.startswith("at_risk|"):
            _, group, t = gid.split("|")
            table[group, float(t)] = int(text.get_text())
    return table


def png_size(path: Path) -> tuple[int, int]:
    raw = path.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n" and raw[12:16] == b"IHDR"
    width, height = struct.unpack(">II", raw[16:24])
    return width, height


# --------------------------------------------------------------------------- Kaplan-Meier


@pytest.mark.parametrize("group", ["low", "high"])
def test_km_curve_equals_lifelines(cohort: pd.DataFrame, km_ax: Axes, group: str) -> None:
    rows = cohort[cohort["msk1_group"] == group]
    kmf = KaplanMeierFitter().fit(rows["time"], rows["event"])
    sf = kmf.survival_function_.iloc[:, 0]
    x, y = by_gid(km_ax, f"km|{group}")
    event_times = np.unique(rows.loc[rows["event"] == 1, "time"])
    np.testing.assert_array_equal(x[1:-1], event_times)
    np.testing.assert_allclose(y[1:-1], sf.loc[event_times].to_numpy(), rtol=0, atol=1e-12)
    # as a right-continuous step function, the line equals lifelines on its whole timeline
    steps = y[np.searchsorted(x, sf.index.to_numpy(), side="right") - 1]
    np.testing.assert_allclose(steps, sf.to_numpy(), rtol=0, atol=1e-12)
    assert (x[0], y[0], x[-1]) == (0.0, 1.0, rows["time"].max())
    censored = np.unique(rows.loc[rows["event"] == 0, "time"])
    cx, cy = by_gid(km_ax, f"censor|{group}")
    np.testing.assert_array_equal(cx, censored)
    np.testing.assert_allclose(cy, kmf.predict(censored).to_numpy(), rtol=0, atol=1e-12)
    labels = [text.get_text() for text in km_ax.get_legend().get_texts()]
    assert f"{group} (n={len(rows)}, events={int(rows['event'].sum())})" in labels


def test_km_at_risk_table_counts_follow_up_at_least_t(cohort: pd.DataFrame, km_ax: Axes) -> None:
    expected = {
        (group, t): int((cohort.loc[cohort["msk1_group"] == group, "time"] >= t).sum())
        for group in ("low", "high")
        for t in np.arange(0.0, 11.0)  # every whole year up to the 10-year follow-up
    }
    assert at_risk_table(km_ax) == expected
    assert expected["low", 0.0] == 250 and expected["high", 10.0] > 0


def test_km_custom_times_order_title_and_given_axes(cohort: pd.DataFrame, y: np.ndarray) -> None:
    ax = Figure().add_subplot()
    out = km_plot(
        y,
        cohort["msk1_group"],
        risk_table_times=[0.5, 2.5, 7.25],
        ax=ax,
        title="MFS by MSK1",
        group_order=["low", "high"],
    )
    assert out is ax
    assert [line.get_gid() for line in ax.get_lines()][::2] == ["km|low", "km|high"]
    counts = {
        (g, t): int((cohort.loc[cohort["msk1_group"] == g, "time"] >= t).sum())
        for g in ("low", "high")
        for t in (0.5, 2.5, 7.25)
    }
    assert at_risk_table(ax) == counts
    assert ax.get_title() == "MFS by MSK1"
    assert not any("log-rank" in text.get_text() for text in ax.texts)


def test_km_p_value_and_single_group(km_ax: Axes, y: np.ndarray) -> None:
    assert "log-rank p = 0.012" in [text.get_text() for text in km_ax.texts]
    ax = km_plot(y)
    assert [line.get_gid() for line in ax.get_lines()] == ["km|all", "censor|all"]
    assert at_risk_table(ax)["all", 0.0] == 500


def test_save_png_writes_dpi_times_figsize(tmp_path: Path, km_ax: Axes) -> None:
    width, height = km_ax.figure.get_size_inches()
    path = save_png(km_ax, tmp_path / "figures" / "km.png", dpi=80)
    assert path == tmp_path / "figures" / "km.png"
    assert png_size(path) == (round(width * 80), round(height * 80))
    assert path.stat().st_size > 20_000
    fig = Figure(figsize=(5.0, 3.0))
    decision_curve_plot(
        pd.DataFrame({"threshold": [0.1, 0.2], "model": "m", "net_benefit": [0.1, 0.05]}),
        ax=fig.add_subplot(),
    )
    assert png_size(save_png(fig, tmp_path / "dca.png")) == (600, 360)  # dpi 120 by default


# --------------------------------------------------------------------------- calibration


@pytest.fixture(scope="module")
def survival_at_horizon(cohort: pd.DataFrame) -> np.ndarray:
    """True S(5 years | x) of the synthetic cohort's Weibull model."""
    lp = design_matrix(cohort).to_numpy() @ np.array(list(TRUE_LOG_HR.values()))
    return np.exp(-((HORIZON / WEIBULL_SCALE) ** WEIBULL_SHAPE) * np.exp(lp))


def test_calibration_groups_equal_lifelines_km(
    cohort: pd.DataFrame, y: np.ndarray, survival_at_horizon: np.ndarray
) -> None:
    groups = calibration_groups(y, survival_at_horizon, HORIZON)
    risk = 1.0 - survival_at_horizon
    decile = pd.qcut(risk, 10, labels=False)  # continuous risks: 50 patients per decile
    assert groups["group"].tolist() == list(range(1, 11))
    assert groups["n"].tolist() == [50] * 10
    for k, row in groups.iterrows():
        mask = decile == k
        kmf = KaplanMeierFitter().fit(cohort["time"][mask], cohort["event"][mask])
        ci = kmf.confidence_interval_survival_function_.loc[:HORIZON].iloc[-1]
        expected = (
            risk[mask].mean(),
            1.0 - float(kmf.predict(HORIZON)),
            1.0 - ci.iloc[1],  # upper survival bound is the lower risk bound
            1.0 - ci.iloc[0],
        )
        found = row[["predicted", "observed", "observed_lower", "observed_upper"]]
        np.testing.assert_allclose(found.to_numpy(float), expected, rtol=0, atol=1e-12)
        assert row["events"] == int(cohort["event"][mask].sum())


def test_calibration_groups_degenerate_interval_is_the_estimate() -> None:
    time = np.array([1.0, 2.0, 6.0, 7.0, 0.5, 0.8, 3.0, 8.0])
    event = np.array([0, 0, 1, 0, 1, 1, 1, 0])
    surv = np.array([0.99, 0.98, 0.97, 0.96, 0.5, 0.4, 0.3, 0.2])
    groups = calibration_groups(make_y(time=time, event=event), surv, 5.0, n_groups=2)
    first = groups.iloc[0]  # no event before 5 years: KM(5) = 1
    assert first["observed"] == first["observed_lower"] == first["observed_upper"] == 0.0


def test_calibration_plot_draws_points_bars_and_diagonal() -> None:
    pred, obs = np.array([0.1, 0.2, 0.4]), np.array([0.12, 0.18, 0.45])
    lower, upper = obs - 0.05, obs + np.array([0.05, 0.06, 0.1])
    ax = calibration_plot(pred, obs, lower=lower, upper=upper, horizon=5.0, label="cox")
    np.testing.assert_array_equal(by_gid(ax, "calibration|cox"), [pred, obs])
    (bars,) = ax.collections
    segments = np.array(bars.get_segments())  # (k, 2 ends, xy)
    np.testing.assert_allclose(segments[:, :, 1], np.c_[lower, upper], atol=1e-15)
    np.testing.assert_allclose(by_gid(ax, "diagonal"), [[0, 0.605], [0, 0.605]])
    assert ax.get_xlabel() == "Predicted risk by 5 years"
    again = calibration_plot([0.7], [0.8], horizon=5.0, ax=ax, label="rsf")
    assert again is ax
    np.testing.assert_allclose(by_gid(ax, "diagonal"), [[0, 0.88], [0, 0.88]])


def test_smoothed_calibration_draws_the_curve_and_keeps_the_points_without_it(
    cohort: pd.DataFrame, y: np.ndarray
) -> None:
    """The curve is the ICI's smoothed observed risk; predictions of two values (a boosted model
    of one split) cannot carry its spline, so the figure keeps the binned points and says why."""
    from msk1model.evaluation.calibration import integrated_calibration_index
    from msk1model.report.figures import smoothed_calibration

    surv = np.exp(-((HORIZON / 8.0) ** 1.2) * np.exp(0.4 * (cohort["grade"].to_numpy() - 2)))
    ax = smoothed_calibration(y, surv, HORIZON)
    smooth = integrated_calibration_index(y, surv, HORIZON)
    order = np.argsort(smooth.predicted)
    np.testing.assert_allclose(
        by_gid(ax, "calibration|smoothed"),
        [smooth.predicted[order], smooth.observed[order]],
        atol=1e-15,
    )
    groups = calibration_groups(y, surv, HORIZON, n_groups=10)
    np.testing.assert_allclose(
        by_gid(ax, "calibration|binned (Kaplan-Meier)"), [groups["predicted"], groups["observed"]]
    )
    coarse = np.where(cohort["msk1"].to_numpy() > 0, 0.8, 0.6)
    with pytest.raises(EvaluationError, match="distinct spline knots"):
        integrated_calibration_index(y, coarse, HORIZON)
    bare = smoothed_calibration(y, coarse, HORIZON)
    assert not [line for line in bare.get_lines() if line.get_gid() == "calibration|smoothed"]
    assert by_gid(bare, "calibration|binned (Kaplan-Meier)").shape[1] == 10
    (note,) = [t for t in bare.texts if t.get_gid() == "calibration|no-smooth"]
    assert "too few values" in note.get_text()


# --------------------------------------------------------------------------- AUC, decision


def test_auc_plot_draws_each_model() -> None:
    curves = {"cox": ([1.0, 3.0, 5.0], [0.7, 0.68, 0.66]), "rsf": ([2.0, 4.0], [0.6, 0.65])}
    ax = auc_plot(curves, mean_auc={"cox": 0.68})
    for name, (t, a) in curves.items():
        np.testing.assert_array_equal(by_gid(ax, f"auc|{name}"), [t, a])
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["cox (mean AUC 0.680)", "rsf"]
    single = auc_plot([1.0, 2.0], [0.3, 0.9], mean_auc=0.6, label="xgb")
    np.testing.assert_array_equal(by_gid(single, "auc|xgb"), [[1, 2], [0.3, 0.9]])
    assert single.get_ylim() == pytest.approx((0.25, 1.0))


def test_decision_curve_plot_draws_each_model_sorted() -> None:
    th = np.array([0.3, 0.1, 0.2])
    frame = pd.concat(
        [
            pd.DataFrame({"threshold": th, "model": "cox", "net_benefit": [0.05, 0.15, 0.1]}),
            pd.DataFrame({"threshold": th, "model": "treat_all", "net_benefit": [-0.4, 0.1, 0]}),
            pd.DataFrame({"threshold": th, "model": "treat none", "net_benefit": 0.0}),
        ]
    )
    ax = decision_curve_plot(frame)
    np.testing.assert_array_equal(
        by_gid(ax, "net_benefit|cox"), [[0.1, 0.2, 0.3], [0.15, 0.1, 0.05]]
    )
    np.testing.assert_array_equal(
        by_gid(ax, "net_benefit|treat_all"), [[0.1, 0.2, 0.3], [0.1, 0, -0.4]]
    )
    styles = {line.get_gid(): line.get_linestyle() for line in ax.get_lines()}
    assert styles == {
        "net_benefit|cox": "-",
        "net_benefit|treat_all": "--",
        "net_benefit|treat none": ":",
    }
    assert ax.get_ylim() == pytest.approx((-0.05, 0.165))


# --------------------------------------------------------------------------- interval plots


def test_forest_plot_log_axis_points_and_text() -> None:
    frame = pd.DataFrame(
        {
            "label": ["MSK1 high vs low", "grade", "nodes"],
            "hr": [0.5, 1.4, 1.6],
            "lower": [0.35, 1.1, 1.3],
            "upper": [0.72, 1.8, 2.0],
            "p": [0.0002, 0.01, np.nan],
        }
    )
    ax = forest_plot(frame)
    assert ax.get_xscale() == "log"
    np.testing.assert_array_equal(by_gid(ax, "hr"), [[0.5, 1.4, 1.6], [2, 1, 0]])
    texts = {text.get_gid(): text.get_text() for text in ax.texts}
    assert texts["hr_text|MSK1 high vs low"] == "0.50 (0.35-0.72)  p < 0.001"
    assert texts["hr_text|grade"] == "1.40 (1.10-1.80)  p = 0.010"
    assert texts["hr_text|nodes"] == "1.60 (1.30-2.00)"
    assert [t.get_text() for t in ax.get_yticklabels()] == frame["label"].tolist()
    assert any(line.get_xdata()[0] == 1.0 for line in ax.get_lines() if line.get_gid() is None)


def test_metrics_ci_plot_rows_per_metric_and_model() -> None:
    frame = pd.DataFrame(
        {
            "metric": ["C", "C", "IBS", "IBS"],
            "model": ["cox", "rsf", "cox", "rsf"],
            "estimate": [0.70, 0.72, 0.15, 0.14],
            "lower": [0.65, 0.66, 0.13, np.nan],
            "upper": [0.75, 0.77, 0.17, np.nan],
        }
    )
    ax = metrics_ci_plot(frame)
    np.testing.assert_allclose(by_gid(ax, "metric|cox"), [[0.70, 0.15], [1.25, 0.25]])
    np.testing.assert_allclose(by_gid(ax, "metric|rsf"), [[0.72, 0.14], [0.75, -0.25]])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["C", "IBS"]
    (bars,) = [c for c in ax.collections if c.get_gid() == "interval|cox"]
    np.testing.assert_allclose(
        np.array(bars.get_segments()), [[[0.65, 1.25], [0.75, 1.25]], [[0.13, 0.25], [0.17, 0.25]]]
    )
    (bars,) = [c for c in ax.collections if c.get_gid() == "interval|rsf"]
    assert len(bars.get_segments()) == 1  # IBS has no interval
    single = metrics_ci_plot(frame[frame["model"] == "cox"].drop(columns="model"))
    np.testing.assert_allclose(by_gid(single, "metric|None"), [[0.70, 0.15], [1, 0]])


def test_metrics_ci_plot_draws_a_percentile_interval_that_leaves_out_its_estimate() -> None:
    """A bootstrap percentile interval (here of 5 replicates) may miss the full-sample
    estimate; it is drawn from its bounds, not refused (a run's report used to fail on it)."""
    frame = pd.DataFrame({"metric": ["C"], "estimate": [0.7079], "lower": [0.6644],
                          "upper": [0.7075]})  # fmt: skip
    ax = metrics_ci_plot(frame)
    np.testing.assert_allclose(by_gid(ax, "metric|None"), [[0.7079], [0.0]])
    (bars,) = [c for c in ax.collections if c.get_gid() == "interval|None"]
    np.testing.assert_allclose(np.array(bars.get_segments()), [[[0.6644, 0.0], [0.7075, 0.0]]])


# --------------------------------------------------------------------------- bad input


BAD_INPUT = [
    pytest.param(
        lambda y, g: km_plot(np.column_stack([y["time"], y["event"]]), g),
        r"y must be a 1-D structured array with fields \(event, time\)",
        id="y-dtype",
    ),
    pytest.param(
        lambda y, g: km_plot(y, g[:-1]),
        r"groups must hold one non-missing label per patient \(500\)",
        id="groups-length",
    ),
    pytest.param(
        lambda y, g: km_plot(y, g, group_order=["low", "high", "mid"]),
        r"group_order must list every group.*\['mid'\] have no patients \(empty groups\)",
        id="empty-group",
    ),
    pytest.param(
        lambda y, g: km_plot(y, g, group_order=["low"]),
        r"\['high'\] are not listed",
        id="unlisted-group",
    ),
    pytest.param(
        lambda y, g: km_plot(y, p_value=1.5), r"p_value must lie in \[0, 1\]", id="p-value"
    ),
    pytest.param(
        lambda y, g: calibration_groups(y, np.full(499, 0.9), 5.0),
        r"survival_at_h must have shape \(n_patients, n_times\) = \(500, 1\)",
        id="survival-length",
    ),
    pytest.param(
        lambda y, g: calibration_groups(y, np.full(500, 0.9), 5.0, n_groups=501),
        "n_groups must be between 1 and the number of patients",
        id="n-groups",
    ),
    pytest.param(
        lambda y, g: calibration_groups(y, np.full(500, 0.9), 12.0),
        "horizon must lie within follow-up",
        id="horizon",
    ),
    pytest.param(
        lambda y, g: calibration_plot([0.1, 0.2], [0.1], horizon=5.0),
        r"predicted must be finite with one value per group \(\(1,\)\)",
        id="predicted-length",
    ),
    pytest.param(
        lambda y, g: calibration_plot([0.1], [0.1], lower=[0.0], horizon=5.0),
        "lower and upper must be given together",
        id="lower-only",
    ),
    pytest.param(
        lambda y, g: auc_plot([1.0, 2.0], [0.7]),
        r"auc of 'model' must hold one AUC in \[0, 1\]",
        id="auc-length",
    ),
    pytest.param(
        lambda y, g: decision_curve_plot(
            pd.DataFrame({"threshold": [1.2], "model": ["m"], "net_benefit": [0.0]})
        ),
        r"thresholds in \(0, 1\)",
        id="threshold",
    ),
    pytest.param(
        lambda y, g: forest_plot(pd.DataFrame({"label": ["a"], "hr": [1.0], "lower": [0.5]})),
        r"frame must have the columns .* \['upper'\] are missing",
        id="missing-column",
    ),
    pytest.param(
        lambda y, g: forest_plot(
            pd.DataFrame({"label": ["a"], "hr": [1.0], "lower": [1.2], "upper": [2.0]})
        ),
        r"row 0 has 1 in \[1.2, 2\]",
        id="hr-outside-ci",
    ),
    pytest.param(
        lambda y, g: metrics_ci_plot(
            pd.DataFrame({"metric": ["C"], "estimate": [0.7], "lower": [0.8], "upper": [0.6]})
        ),
        r"every estimate must be finite and have lower <= upper, but row 0 has 0.7 in \[0.8, 0.6\]",
        id="metric-bounds-reversed",
    ),
    pytest.param(
        lambda y, g: metrics_ci_plot(
            pd.DataFrame(columns=["metric", "estimate", "lower", "upper"])
        ),
        "frame must have at least one row",
        id="empty-frame",
    ),
]


@pytest.mark.parametrize(("call", "message"), BAD_INPUT)
def test_bad_input_names_the_argument(
    cohort: pd.DataFrame, y: np.ndarray, call: Callable[..., object], message: str
) -> None:
    with pytest.raises(EvaluationError, match=message):
        call(y, cohort["msk1_group"])


# --- competing risks ----------------------------------------------------------------------------


def test_cif_plot_draws_aalen_johansen_per_group_with_numbers_at_risk() -> None:
    from msk1model.evaluation.competing import aalen_johansen
    from msk1model.evaluation.plots import cif_plot

    cohort = make_synthetic_cohort(600, seed=2)
    time, codes = cohort["relapse_free_time"].to_numpy(), cohort["event_type"].to_numpy()
    groups = np.where(cohort["msk1"] > cohort["msk1"].median(), "high", "low")
    ax = cif_plot(time, codes, groups, cause=2, group_order=["low", "high"], p_value=0.012)
    for name in ("low", "high"):
        (line,) = [li for li in ax.lines if li.get_gid() == f"cif|{name}"]
        mine = groups == name
        expected = aalen_johansen(time[mine], codes[mine], 2)
        np.testing.assert_allclose(line.get_ydata()[1:], expected.cif, atol=1e-15)
    counts = at_risk_table(ax)
    assert counts["low", 0.0] == int((groups == "low").sum())
    assert counts["high", 5.0] == int(((groups == "high") & (time >= 5.0)).sum())
    assert any("Gray's test p = 0.012" in t.get_text() for t in ax.texts)


def test_stacked_cif_plot_tops_out_at_one_minus_kaplan_meier() -> None:
    from msk1model.evaluation.plots import stacked_cif_plot

    cohort = make_synthetic_cohort(600, seed=2)
    time, codes = cohort["relapse_free_time"].to_numpy(), cohort["event_type"].to_numpy()
    ax = stacked_cif_plot(time, np.where(codes == 2, 1, np.where(codes > 0, 2, 0)),
                          {1: "bone", 2: "other"})  # fmt: skip
    top = ax.lines[0].get_ydata()
    km = KaplanMeierFitter().fit(time, codes > 0)
    expected = 1 - km.survival_function_at_times(np.unique(time)).to_numpy()
    np.testing.assert_allclose(top[1:], expected, atol=1e-12)
    assert at_risk_table(ax)["all", 0.0] == len(time)
