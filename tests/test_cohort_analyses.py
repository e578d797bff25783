"""The report's reviewer sections on the session's tiny run: Table 1, the high-vs-low hazard
ratio, the training and test parts, events per parameter, calibration per model and horizon,
and the warnings and number formats a reviewer reads. Numbers are checked against scipy,
lifelines and the run's own MLflow metrics."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image
from scipy import stats

from msk1model.config import RunConfig
from msk1model.report import (
    Figure,
    KeyValues,
    ReportDocument,
    Section,
    Table,
    Text,
    read_report,
    write_report,
)
from msk1model.report.analyses import Analyses
from msk1model.report.model_sections import small_test_warning
from msk1model.report.sections import _ph_comment
from msk1model.results import RunResult

from .conftest import TinyRun
from .test_report import _chromium, _console_lines, _count_colour, needs_chromium

#: The warning box's fill (report CSS #fdf6e3) and matplotlib's tab:red of the smoothed curve.
WARNING_FILL = (0xFD, 0xF6, 0xE3)
SMOOTH_RED = (0xD6, 0x27, 0x28)


@pytest.fixture(scope="module")
def document(tiny_run: TinyRun) -> ReportDocument:
    assert tiny_run.result.report_path is not None
    return read_report(tiny_run.workdir / tiny_run.result.report_path.parent)


def _section(doc: ReportDocument, id: str) -> Section:
    return next(s for s in doc.sections if s.id == id)


def _block(section: Section, kind: type, starts: str) -> object:
    for block in section.items:
        title = getattr(block, "caption", getattr(block, "title", getattr(block, "text", "")))
        if isinstance(block, kind) and title.startswith(starts):
            return block
    raise AssertionError(f"no {kind.__name__} starting {starts!r} in {section.id}")


def _groups(result: RunResult) -> np.ndarray:
    msk1 = result.cohort.table["msk1"].to_numpy()
    return np.where(msk1 <= np.median(msk1), "low", "high")


def test_table_one_describes_the_median_groups_with_their_tests(
    document: ReportDocument, tiny_run: TinyRun
) -> None:
    table = _block(_section(document, "characteristics"), Table, "Characteristics")
    frame = table.frame
    groups, cohort = _groups(tiny_run.result), tiny_run.result.cohort
    n_low, n_high = int((groups == "low").sum()), int((groups == "high").sum())
    heads = [f"low (n={n_low})", f"high (n={n_high})", f"all (n={len(groups)})"]
    assert [c for c in frame.columns if "(n=" in c] == heads
    age = frame[frame["variable"] == "age"].iloc[0]
    ages = cohort.table["age"].to_numpy()
    q1, median, q3 = np.quantile(ages[groups == "low"], [0.25, 0.5, 0.75])
    assert age[heads[0]] == f"{median:#.3g} [{q1:#.3g}-{q3:#.3g}]"
    p = stats.mannwhitneyu(ages[groups == "low"], ages[groups == "high"]).pvalue
    assert age["p"] == pytest.approx(p, abs=1e-12) and age["test"] == "Mann-Whitney U"
    grade = frame.iloc[frame.index[frame["variable"] == "grade"][0] :][:3]
    assert list(grade["level"]) == ["1", "2", "3"]
    counts = pd.crosstab(cohort.table["grade"], groups)[["low", "high"]]
    assert grade[heads[0]].iloc[0] == (
        f"{counts.iloc[0, 0]} ({100 * counts.iloc[0, 0] / n_low:.1f}%)"
    )
    chi2 = stats.chi2_contingency(counts.to_numpy(), correction=False).pvalue
    assert grade["p"].iloc[0] == pytest.approx(chi2, abs=1e-12)
    assert {"nodes", "pr", "msk1", "event"} <= set(frame["variable"])


def test_high_vs_low_hazard_ratio_equals_lifelines_and_is_logged(tiny_run: TinyRun) -> None:
    from lifelines import CoxPHFitter

    result = tiny_run.result
    table = result.cohort.table
    frame = table[["time", "event"]].assign(high=(_groups(result) == "high").astype(float))
    cph = CoxPHFitter().fit(frame, "time", "event", fit_options={"precision": 1e-14})
    metrics = MlflowClient(tiny_run.config.tracking.uri).get_run(result.run_id).data.metrics
    key = "biomarker/hr_high_vs_low_unadjusted"
    assert metrics[key] == pytest.approx(np.exp(cph.params_["high"]), rel=1e-6)
    lower, upper = np.exp(cph.confidence_intervals_.loc["high"])
    assert (metrics[f"{key}_lower"], metrics[f"{key}_upper"]) == pytest.approx((lower, upper))
    assert metrics[f"{key}_p"] == pytest.approx(cph.summary.loc["high", "p"], rel=1e-5)
    # the synthetic cohort's MSK1 protects, as in Gawrzak et al.: high vs low below 1
    assert metrics["biomarker/hr_high_vs_low_adjusted_upper"] < 1


def test_parts_epv_and_the_small_test_warning(document: ReportDocument, tiny_run: TinyRun) -> None:
    section = _section(document, "data")
    parts = _block(section, Table, "Patients and events in the training").frame.set_index("part")
    split, event = tiny_run.result.split, tiny_run.result.cohort.event
    assert parts.loc["training", "patients"] == len(split.train)
    assert parts.loc["test", "events"] == int(event[split.test].sum())
    assert parts.loc["all", "patients"] == len(event)
    epv = _block(section, KeyValues, "Events per candidate").items
    events = int(event[split.train].sum())
    assert epv["training events"] == str(events)
    assert epv["candidate parameters"] == "6 (age, size, grade, nodes, pr, msk1)"
    assert epv["events per parameter"] == f"{events / 6:.1f}"
    warning = _block(section, Text, "The test part holds")
    assert warning.warning and f"only {int(event[split.test].sum())} events" in warning.text
    assert tiny_run.result.report_path is not None
    html = (tiny_run.workdir / tiny_run.result.report_path).read_text(encoding="utf-8")
    assert html.count('<div class="warning" role="note"><strong>Warning</strong>') >= 2


def test_the_small_test_warning_follows_the_configured_minimum(tiny_run: TinyRun) -> None:
    result = tiny_run.result
    events = int(result.cohort.event[result.split.test].sum())
    a = Analyses(
        "msk1", 5.0, parts=pd.DataFrame({"part": ["test"], "patients": [9], "events": [events]})
    )

    def config(minimum: int) -> RunConfig:
        report = tiny_run.config.report.model_copy(update={"min_test_events": minimum})
        return tiny_run.config.model_copy(update={"report": report})

    assert small_test_warning(config(events), a) == []
    stricter = config(events + 1)
    (warning,) = small_test_warning(stricter, a)
    assert f"fewer than {events + 1} (report.min_test_events)" in warning.text


def test_calibration_table_holds_every_model_and_horizon_as_logged(
    document: ReportDocument, tiny_run: TinyRun
) -> None:
    table = _block(_section(document, "performance"), Table, "Calibration on the test set").frame
    client = MlflowClient(tiny_run.config.tracking.uri)
    assert len(table) == len(tiny_run.result.outcomes) * 2
    for o in tiny_run.result.outcomes:
        logged = client.get_run(o.run_id).data.metrics
        for h in (3.0, 5.0):
            row = table[(table["model"] == o.model_name) & (table["features"] == o.feature_set)]
            row = row[row["horizon"] == h].iloc[0]
            label = f"{h:g}y"
            assert row["oe"] == pytest.approx(logged[f"calibration/oe_{label}"], abs=1e-12)
            assert row["slope"] == pytest.approx(logged[f"calibration/slope_{label}"], abs=1e-12)
            ici = logged[f"calibration/ici_{label}"]  # NaN where the spline cannot be fitted
            assert row["ici"] == pytest.approx(ici, abs=1e-12, nan_ok=True)
    names = [f.name for f in document.figures]
    assert {"calibration_3y", "calibration_5y"} <= set(names)


def test_medians_not_reached_and_p_values_read_as_journals_print_them(
    document: ReportDocument,
) -> None:
    km = _block(_section(document, "cutpoints"), Table, "Kaplan-Meier estimates").frame
    assert set(km["median"]) - {"not reached"}, "some group reaches its median"
    assert all(m == "not reached" or re.fullmatch(r"\d+\.\d\d", m) for m in km["median"])
    assert "not reached" in set(km["median"])  # high MSK1 keeps most patients event-free
    p_values = [
        value
        for section in document.sections
        for block in section.items
        if isinstance(block, KeyValues)
        for key, value in block.items.items()
        if re.search(r"\bp\b", key)
    ]
    assert len(p_values) >= 5
    assert all(re.fullmatch(r"<0\.001|[01]\.\d{3}", p) for p in p_values), p_values


def test_the_ph_comment_names_what_the_test_rejects() -> None:
    ph = pd.DataFrame({"covariate": ["age", "grade", "global"], "p": [0.4, 0.0004, 0.017]})
    comment = _ph_comment(ph)
    assert comment.warning
    assert "doubtful for grade (p < 0.001) and globally (p = 0.017)" in comment.text
    fine = _ph_comment(ph.assign(p=[0.4, 0.3, 0.5]))
    assert not fine.warning and "No evidence against proportional hazards (global p = 0.500)" in (
        fine.text
    )


@needs_chromium
def test_chromium_shows_the_new_sections_their_warnings_and_calibration_panels(
    document: ReportDocument, tmp_path: Path
) -> None:
    """A screenshot of the reviewer sections: the warning boxes and the smoothed curves drawn."""
    shown = ("data", "characteristics", "performance")
    parts = dataclasses.replace(document, sections=[_section(document, s) for s in shown])
    quiet = dataclasses.replace(
        parts,
        sections=[
            dataclasses.replace(
                s,
                items=[
                    Text(b.text) if isinstance(b, Text) else b
                    for b in s.items
                    if not isinstance(b, Figure) or not b.name.startswith("calibration_")
                ],
            )
            for s in parts.sections
        ],
    )
    counts = {}
    for name, doc in (("sections", parts), ("control", quiet)):
        page = write_report(doc, tmp_path / name)
        dom = _chromium(page, tmp_path, "--dump-dom").stdout
        assert 'data-figures="ok"' in dom
        shot = tmp_path / f"{name}.png"
        window = ["--hide-scrollbars", "--force-device-scale-factor=1", "--window-size=1100,9000"]
        assert _console_lines(_chromium(page, tmp_path, *window, f"--screenshot={shot}")) == []
        if os.environ.get("MSK1MODEL_SCREENSHOT_DIR"):
            keep = Path(os.environ["MSK1MODEL_SCREENSHOT_DIR"])
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, keep / f"report_{name}.png")
        with Image.open(shot) as image:
            pixels = np.asarray(image.convert("RGB")).astype(int)
        counts[name] = (_count_colour(pixels, WARNING_FILL, 2), _count_colour(pixels, SMOOTH_RED))
        if name == "sections":
            assert '<section id="characteristics">' in dom
            assert dom.count('<div class="warning" role="note">') == 3  # test part, EPV, twice
            assert '<figure id="calibration_3y">' in dom and '<figure id="calibration_5y">' in dom
    print("warning-box and smoothed-curve pixels (sections, control):", counts)
    (box, red), (box_control, red_control) = counts["sections"], counts["control"]
    assert box > 3 * 40_000 and box_control == 0, counts  # three boxes of ~900 x 60 px
    assert red - red_control > 4 * 2 * 200, counts  # a curve in each of 4 panels, 2 horizons
