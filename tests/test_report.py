"""The report renders what it is given, escapes it, round-trips through files, and shows in a browser.

Counterparts: Python's ``html.parser`` (links, ids, attributes), ``base64`` (embedded PNGs), and a
headless Chromium that loads the page, decodes its figures (``data-figures``), logs its console,
and takes a screenshot whose pixels must contain the Kaplan-Meier line colours.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as MplFigure
from PIL import Image

from msk1model.data.synthetic import make_synthetic_cohort
from msk1model.errors import EvaluationError, ExportError
from msk1model.evaluation.plots import km_plot
from msk1model.outcome import make_y
from msk1model.report import (
    Figure,
    KeyValues,
    ReportDocument,
    Section,
    Table,
    Text,
    format_number,
    format_p,
    read_report,
    render_html,
    write_report,
)

#: Kaplan-Meier line colours, chosen to be found again in the screenshot, as hex and as RGB.
KM_COLOURS = ("#1f77b4", "#d62728")
KM_BLUE, KM_RED = ((0x1F, 0x77, 0xB4), (0xD6, 0x27, 0x28))
EVIL = "<script>alert('x')</script>"


# --------------------------------------------------------------------------- fixtures


def _png(draw: Callable[[Axes], object], size: tuple[float, float] = (6.4, 4.6)) -> bytes:
    fig = MplFigure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    draw(fig.add_subplot())
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)  # 640 x 460 px: shown unscaled, colours intact
    return buffer.getvalue()


def _draw_km(ax: Axes) -> None:
    cohort = make_synthetic_cohort(500, seed=1)
    groups = np.where(cohort["msk1"] > cohort["msk1"].median(), "high MSK1", "low MSK1")
    ax.set_prop_cycle(color=list(KM_COLOURS))
    y = make_y(time=cohort["time"], event=cohort["event"])
    km_plot(y, groups, ax=ax, title="Metastasis-free survival")
    for line in ax.get_lines():
        if str(line.get_gid()).startswith("km|"):
            line.set_linewidth(2.5)


def _draw_neutral(ax: Axes) -> None:
    """A figure of the same size in colours far from the KM ones (the control)."""
    x = np.linspace(0, 10, 50)
    ax.plot(x, np.exp(-x / 8), color="#2ca02c", linewidth=2.5)
    ax.plot(x, np.exp(-x / 5), color="0.2", linewidth=2.5)


@pytest.fixture(scope="module")
def km_png() -> bytes:
    return _png(_draw_km)


def _document(figure: Figure) -> ReportDocument:
    frame = pd.DataFrame(
        {
            "model": ["coxph", "rsf"],
            "c_index": [0.6812, 0.70349],
            "n": [500, 500],
            "p": [2e-5, 0.04],
        }
    )
    return ReportDocument(
        title="MSK1 model report",
        subtitle="run abc123",
        metadata={"run id": "abc123", "cohort": "synthetic, n = 500"},
        sections=(
            Section("survival", "Survival by MSK1", (figure,), guideline="REMARK 10"),
            Section(
                "performance",
                "Performance",
                (Text("Discrimination on the test set."), Table("Concordance", frame)),
                guideline="TRIPOD+AI 23a",
            ),
            Section("setup", "Setup", (KeyValues("Data", {"patients": "500"}),)),
        ),
    )


@pytest.fixture(scope="module")
def km_doc(km_png: bytes) -> ReportDocument:
    return _document(Figure("Kaplan-Meier curves by median MSK1", km_png, "km_median"))


def _table_doc(*tables: Table) -> ReportDocument:
    return ReportDocument("t", "", {}, (Section("s", "S", tables),))


# --------------------------------------------------------------------------- formats


@pytest.mark.parametrize(
    ("p", "text"),
    [(0.0, "<0.001"), (0.00049, "<0.001"), (0.001, "0.001"), (0.01234, "0.012"), (0.5, "0.500"),
     (1.0, "1.000"), (float("nan"), ""), (None, "")],
)  # fmt: skip
def test_format_p(p: float | None, text: str) -> None:
    assert format_p(p) == text


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_format_p_rejects_values_outside_unit_interval(p: float) -> None:
    with pytest.raises(EvaluationError, match=r"a p-value must lie in \[0, 1\], but got"):
        format_p(p)


@pytest.mark.parametrize(
    ("x", "text"),
    [(1.23456, "1.235"), (0.0, "0.000"), (-2.5, "-2.500"), (1.2e-5, "1.2e-05"),
     (1234567.0, "1.23e+06"), (float("nan"), "\u2014"), (float("inf"), "inf")],
)  # fmt: skip
def test_format_number(x: float, text: str) -> None:
    assert format_number(x) == text


def test_table_formats_numbers_p_values_and_missing_cells() -> None:
    frame = pd.DataFrame(
        {
            "hr": [0.48123, np.nan],
            "events": [12, 30],
            "lr_p": [0.0002, 0.3],
            "wald_p_value": [0.04567, 1.0],
            "label": ["a & b", None],
        }
    )
    page = render_html(_table_doc(Table("HR", frame, note="per SD", digits=2)))
    assert '<td class="num">0.48</td>' in page and '<td class="num">\u2014</td>' in page
    assert '<td class="num">12</td>' in page  # ints keep no decimals
    assert '<td class="num">&lt;0.001</td>' in page and '<td class="num">0.300</td>' in page
    assert '<td class="num">0.046</td>' in page  # p-values ignore digits: always 3 decimals
    assert "<td>a &amp; b</td>" in page and '<p class="note">per SD</p>' in page


def test_table_shows_the_index_only_when_named() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0]}, index=["first", "second"])
    hidden = render_html(_table_doc(Table("t", frame)))
    shown = render_html(_table_doc(Table("t", frame.rename_axis("term"))))
    assert "first" not in hidden
    assert '<th scope="col">term</th>' in shown and '<th scope="row">first</th>' in shown


# --------------------------------------------------------------------------- HTML structure


class _Parsed(HTMLParser):
    """Ids, in-page links, img sources and script count of a page."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.toc_links: list[str] = []
        self.sections: list[str] = []
        self.urls: list[tuple[str, str]] = []
        self.images: list[str] = []
        self.scripts = 0
        self._in_nav = False
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.ids += [a["id"]] if "id" in a else []
        self.sections += [a["id"]] if tag == "section" else []
        self._in_nav = self._in_nav or tag == "nav"
        self.toc_links += [a["href"]] if tag == "a" and self._in_nav else []
        self.urls += [(k, a[k]) for k in ("src", "href") if k in a]
        self.images += [a["src"]] if tag == "img" else []
        self.scripts += tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_nav = self._in_nav and tag != "nav"


def test_toc_links_every_section_by_id(km_doc: ReportDocument) -> None:
    parsed = _Parsed(render_html(km_doc))
    assert parsed.sections == ["survival", "performance", "setup"]
    assert parsed.toc_links == [f"#{s}" for s in parsed.sections]
    assert len(parsed.ids) == len(set(parsed.ids))


def test_page_embeds_figures_and_loads_nothing_from_outside(
    km_doc: ReportDocument, km_png: bytes
) -> None:
    page = render_html(km_doc)
    parsed = _Parsed(page)
    prefix = "data:image/png;base64,"
    assert [base64.b64decode(src.removeprefix(prefix)) for src in parsed.images] == [km_png]
    assert all(v.startswith(("#", prefix)) for _, v in parsed.urls)
    assert "http:" not in page and "https:" not in page and "@import" not in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert '<figure id="km_median">' in page


def test_user_text_is_escaped_everywhere(km_png: bytes) -> None:
    doc = ReportDocument(
        EVIL,
        EVIL,
        {EVIL: EVIL},
        (
            Section(
                "s",
                EVIL,
                (
                    Text(EVIL),
                    Table(EVIL, pd.DataFrame({EVIL: [EVIL]}), note=EVIL),
                    Figure(EVIL, km_png, "fig"),
                    KeyValues(EVIL, {EVIL: EVIL}),
                ),
                guideline=EVIL,
            ),
        ),
    )
    page = render_html(doc)
    assert "<script>alert" not in page and "alert('x')" not in page
    assert page.count("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;") == 18
    assert _Parsed(page).scripts == 1  # the page's own check of its figures


def test_text_blank_lines_make_paragraphs() -> None:
    page = render_html(ReportDocument("t", "", {}, (Section("s", "S", (Text("one\n\n two"),)),)))
    assert "<p>one</p>\n<p>two</p>" in page


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda png: Figure("c", png, "km median"), r"Figure.name must be a letter followed by"),
        (
            lambda png: Figure("c", b"GIF89a..", "km"),
            r"must hold whole PNG bytes .* start with b'GIF",
        ),
        (lambda png: Figure("c", png[:-1], "km"), r"whole PNG bytes .* IEND chunk"),
        (lambda png: Section("1st", "t", ()), r"Section.id must be a letter followed by"),
        (
            lambda png: Section("s", "t", ("prose",)),  # type: ignore[arg-type]
            r"must be Table, Figure, Text or KeyValues",
        ),
        (
            lambda png: KeyValues("k", {"n": 5}),  # type: ignore[dict-item]
            r"must map text to text, but found",
        ),
        (lambda png: Table("t", [1, 2]), r"Table.frame must be a pandas DataFrame, but got list"),
        (
            lambda png: ReportDocument(
                "t", "", {}, (Section("km", "a", ()), Section("b", "b", (Figure("c", png, "km"),)))
            ),
            r"must be unique across the report .* but \['km'\] repeat",
        ),
    ],
)
def test_invalid_blocks_are_refused(
    build: Callable[[bytes], object], message: str, km_png: bytes
) -> None:
    with pytest.raises(EvaluationError, match=message):
        build(km_png)


# --------------------------------------------------------------------------- files


def test_write_read_round_trip_reproduces_the_page(km_doc: ReportDocument, tmp_path: Path) -> None:
    html_path = write_report(km_doc, tmp_path)
    assert html_path == tmp_path / "report.html"
    page = html_path.read_text(encoding="utf-8")
    assert page == render_html(km_doc)
    back = read_report(tmp_path)
    assert back == km_doc
    assert render_html(back) == page
    stored = json.loads((tmp_path / "document.json").read_text(encoding="utf-8"))
    assert stored["sections"][0]["items"][0]["file"] == "figures/km_median.png"
    assert (tmp_path / "figures" / "km_median.png").read_bytes() == km_doc.figures[0].png
    assert (tmp_path / "document.json").stat().st_size < 20_000  # no PNG bytes inside


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame(
            {
                "f": [0.1 + 0.2, np.nan, np.inf],
                "i": [1, -2, 3],
                "s": ["a", None, "<c>"],
                "n": pd.array([1, None, 3], dtype="Int64"),
                "b": [True, False, True],
            }
        ),
        pd.DataFrame({"est": [1.5, 2.25]}, index=pd.Index(["age", "size"], name="term")),
        pd.DataFrame(
            [[1.0, 2.0]], columns=pd.MultiIndex.from_tuples([("c", "low"), ("c", "high")])
        ),
        pd.DataFrame({"x": pd.Series([], dtype=float)}),
    ],
    ids=["mixed-dtypes", "named-index", "multiindex-columns", "empty"],
)
def test_frames_round_trip_with_dtypes(frame: pd.DataFrame, tmp_path: Path) -> None:
    doc = _table_doc(Table("t", frame))
    write_report(doc, tmp_path)
    back = read_report(tmp_path).sections[0].items[0]
    assert isinstance(back, Table)
    pd.testing.assert_frame_equal(back.frame, frame, check_index_type=False)
    assert back == doc.sections[0].items[0]
    assert render_html(read_report(tmp_path)) == render_html(doc)


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*") if p.name.endswith(".tmp"))


def test_write_leaves_no_temporary_files(km_doc: ReportDocument, tmp_path: Path) -> None:
    write_report(km_doc, tmp_path)
    write_report(km_doc, tmp_path)  # overwriting too
    files = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert files == ["document.json", "figures", "figures/km_median.png", "report.html"]


def test_report_files_are_readable_like_any_other_file(
    km_doc: ReportDocument, tmp_path: Path
) -> None:
    previous = os.umask(0o022)
    try:
        write_report(km_doc, tmp_path)
    finally:
        os.umask(previous)
    for name in ("report.html", "document.json", "figures/km_median.png"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name  # was mkstemp's 0600


def test_interrupted_write_keeps_the_previous_page(
    km_doc: ReportDocument, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_report(_table_doc(Table("old", pd.DataFrame({"x": [1]}))), tmp_path)
    before = (tmp_path / "report.html").read_text(encoding="utf-8")
    real_replace = os.replace

    def failing_replace(src: str, dst: str | Path) -> None:
        if Path(dst).name == "report.html":
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr("msk1model.report.storage.os.replace", failing_replace)
    with pytest.raises(ExportError, match=r"could not be written to .*No space left on device"):
        write_report(km_doc, tmp_path)
    assert (tmp_path / "report.html").read_text(encoding="utf-8") == before
    assert _leftovers(tmp_path) == []


def test_read_report_explains_what_is_missing(km_doc: ReportDocument, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"could not be read: .*it needs document.json"):
        read_report(tmp_path)
    write_report(km_doc, tmp_path)
    (tmp_path / "figures" / "km_median.png").unlink()
    with pytest.raises(ExportError, match=r"every figures/<name>.png it names"):
        read_report(tmp_path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(version=99), r"must be a msk1model-report document of version 1"),
        (
            lambda d: d["sections"][0]["items"][0].update(name="../../secret"),
            r"a figure name in document.json must be a letter followed by",
        ),
    ],
)
def test_read_report_refuses_foreign_or_tampered_documents(
    edit: Callable[[dict[str, object]], None],
    message: str,
    km_doc: ReportDocument,
    tmp_path: Path,
) -> None:
    write_report(km_doc, tmp_path)
    path = tmp_path / "document.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ExportError, match=message):
        read_report(tmp_path)


# --------------------------------------------------------------------------- browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed: the browser tests of the HTML report need it "
    "(`make test` installs it as root with apt-get; else `apt-get install chromium`)",
)
#: Lines in which Chromium reports a page's console output or an uncaught exception.
_CONSOLE = re.compile(r":CONSOLE(?:\(\d+\))?:|Uncaught")


def _chromium(page: Path, workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium on ``page`` with a fresh profile, logging the console to stderr."""
    assert CHROMIUM is not None
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=workdir)
    command = [
        CHROMIUM,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        *args,
        page.as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _console_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if _CONSOLE.search(line)]


def _screenshot(page: Path, workdir: Path) -> np.ndarray:
    """RGB pixels, shape (1600, 1200, 3), of ``page`` at device scale 1."""
    shot = workdir / f"{page.parent.name}.png"
    window = ["--hide-scrollbars", "--force-device-scale-factor=1", "--window-size=1200,1600"]
    result = _chromium(page, workdir, *window, f"--screenshot={shot}")
    assert _console_lines(result) == []
    with Image.open(shot) as image:
        return np.asarray(image.convert("RGB")).astype(int)


def _count_colour(pixels: np.ndarray, rgb: tuple[int, int, int], tolerance: int = 8) -> int:
    """Pixels within ``tolerance`` of ``rgb`` in every channel."""
    return int((np.abs(pixels - np.array(rgb)).max(axis=2) <= tolerance).sum())


@pytest.fixture(scope="module")
def browser_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("browser")


@needs_chromium
def test_browser_decodes_every_figure_without_console_errors(
    km_doc: ReportDocument, browser_dir: Path
) -> None:
    page = write_report(km_doc, browser_dir / "km")
    result = _chromium(page, browser_dir, "--dump-dom")
    assert re.search(r'<body[^>]*\sdata-figures="ok"', result.stdout), result.stdout[:500]
    assert '<figure id="km_median">' in result.stdout
    assert _console_lines(result) == []


@needs_chromium
def test_browser_check_catches_broken_figures_and_script_errors(
    km_png: bytes, browser_dir: Path
) -> None:
    """The two checks above can fail: an undecodable PNG is reported, and so is an uncaught error."""
    corrupt = Figure("corrupt", km_png[:8] + b"not image data" + km_png[-12:], "km_corrupt")
    page = write_report(_document(corrupt), browser_dir / "broken")
    dom = _chromium(page, browser_dir, "--dump-dom").stdout
    assert re.search(r'<body[^>]*\sdata-figures="broken:km_corrupt"', dom), dom[:500]

    faulty = browser_dir / "faulty.html"
    faulty.write_text("<!DOCTYPE html><title>x</title><script>undefinedCall();</script>")
    lines = _console_lines(_chromium(faulty, browser_dir, "--dump-dom"))
    assert any("Uncaught ReferenceError: undefinedCall is not defined" in ln for ln in lines)


@needs_chromium
def test_screenshot_shows_the_kaplan_meier_curves(
    km_doc: ReportDocument, browser_dir: Path
) -> None:
    shown = _screenshot(write_report(km_doc, browser_dir / "shot_km"), browser_dir)
    neutral = Figure("Control figure", _png(_draw_neutral), "km_median")
    control = _screenshot(write_report(_document(neutral), browser_dir / "shot_ctl"), browser_dir)
    counts = {
        name: (_count_colour(shown, rgb), _count_colour(control, rgb))
        for name, rgb in (("blue", KM_BLUE), ("red", KM_RED))
    }
    print("pixels of each KM colour (with the KM figure, with the control):", counts)
    # Each 2.5 pt curve over 10 years of steps covers well over a thousand pixels at 100 dpi.
    for with_km, with_control in counts.values():
        assert with_km > 1000, counts
        assert with_control < 20, counts
