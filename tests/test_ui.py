"""The MLflow UI shows the session's tiny run as a user compares its runs: pages rendered by Chromium.

One ``msk1model ui`` server is started for the module on the tiny run's store; headless Chromium
loads each page once, dumping its DOM and taking a screenshot in the same call (1600x2000, device
scale 1). What is checked, against the store read back with ``MlflowClient``:

* **chart view** (``#/experiments/<id>/runs?compareRunsMode=CHART``): its grouped metric sections,
  one per metric-name prefix (``calibration``, ``cv``, ``test``, ``tuning`` for the model runs;
  ``added_value``, ``biomarker``, ``optimism``, ``selected/cv``, ``selected/test`` for the train
  run), each with its number of charts (``calibration (12)``: one per ``calibration/...`` metric),
  the runs listed, their order, and bars drawn (coloured pixels, not loading spinners).
  By default MLflow nests child runs under their parent, collapsed, and then charts only the
  parent's metrics; it nests only when runs are sorted by creation time, so these URLs sort by
  another key (``orderByKey``) and filter on the ``msk1model.role`` tag (``searchFilter``);
* **a model run's page** (the selected model): its name, parent run, tags and metrics with values;
* **the artifact browser** on that run's calibration figure: an ``<img>`` of it, and its pixels,
  found unchanged in the screenshot.

Screenshots go to the test's temporary folder and, when ``MSK1MODEL_SCREENSHOT_DIR`` is set, are
copied there too for a developer to look at. Slow: the server takes 20-50 s to start on 2 cores.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from mlflow.entities import Run
from mlflow.tracking import MlflowClient
from PIL import Image

from msk1model.scores import horizon_label

from .conftest import TinyRun
from .test_cli import SCRIPT, _free_port, _wait_for_health
from .test_report import CHROMIUM, needs_chromium

pytestmark = [needs_chromium, pytest.mark.slow]  # a service and a browser

#: Virtual-time budgets (ms) Chromium is given to render a page, tried in turn until it is ready.
BUDGETS = (60_000, 120_000)
#: Wall-clock limit (s) of one Chromium call: a headless Chromium can hang instead of exiting.
CHROMIUM_TIMEOUT = 120
WINDOW = (1600, 2000)
ROLE = "msk1model.role"
#: Section headers of the chart view: ``<prefix>`` then ``(<number of charts>)``.
_SECTION = re.compile(
    r'data-testid="experiment-view-compare-runs-section-header".*?'
    r'white-space: pre;">([^<]*)</div><div[^>]*>\((\d+)\)</div>',
    re.S,
)
#: Sections MLflow adds for metrics without a prefix, empty for our runs.
_UNGROUPED = {"Model metrics", "System metrics"}


@dataclass(frozen=True)
class Ui:
    """The running server, its store read by a client, and a folder for pages and screenshots."""

    base: str
    experiment_id: str
    client: MlflowClient
    folder: Path


@dataclass(frozen=True)
class Page:
    dom: str
    pixels: np.ndarray  # RGB, shape (2000, 1600, 3)
    shot: Path


@pytest.fixture(scope="module")
def ui(tiny_run: TinyRun, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ui]:
    """``msk1model ui`` on the tiny run's store, started once for the module."""
    folder = tmp_path_factory.mktemp("ui")
    uri = tiny_run.config.tracking.uri
    assert uri is not None
    log_path = folder / "server.log"
    port = _free_port()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*SCRIPT, "ui", "--port", str(port), "--backend-store-uri", uri],
            cwd=tiny_run.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        health = _wait_for_health(port, proc).strip()
        if health != "OK":
            pytest.fail(
                f"mlflow ui did not answer /health with OK (got {health!r}, exit code "
                f"{proc.poll()}); its log ends:\n{_tail(log_path.read_text(errors='replace'))}"
            )
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        yield Ui(f"http://127.0.0.1:{port}", tiny_run.result.experiment_id, client, folder)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


def _tail(text: str | bytes | None, n: int = 3000) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return (text or "")[-n:]


def _chromium(url: str, shot: Path, folder: Path, budget: int) -> tuple[int | None, str, str]:
    """One headless Chromium call on ``url``: (exit code or None if it hung, DOM, stderr)."""
    assert CHROMIUM is not None
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=folder)
    command = [
        CHROMIUM,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={profile}",
        f"--virtual-time-budget={budget}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--dump-dom",
        f"--screenshot={shot}",
        url,
    ]
    # its own process group, so that a hung browser is ended with its renderer and GPU processes
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        dom, err = proc.communicate(timeout=CHROMIUM_TIMEOUT)
        return proc.returncode, dom, err
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        dom, err = proc.communicate()
        return None, dom or "", err or ""


def _browse(ui: Ui, url: str, name: str, ready: Callable[[str], bool]) -> Page:
    """``url`` rendered until ``ready(dom)``: its DOM and screenshot, kept as ``<name>.png``."""
    shot = ui.folder / f"{name}.png"
    attempts = []
    for budget in BUDGETS:
        shot.unlink(missing_ok=True)
        start = time.monotonic()
        code, dom, err = _chromium(url, shot, ui.folder, budget)
        done = code == 0 and shot.is_file() and ready(dom)
        with (ui.folder / "chromium.log").open("a") as log:  # how long each page took
            print(
                f"{name} budget={budget} exit={code} ready={done} {time.monotonic() - start:.1f}s",
                file=log,
            )
        if done:
            _keep(shot)
            with Image.open(shot) as image:
                pixels = np.asarray(image.convert("RGB")).astype(int)
            assert pixels.shape == (WINDOW[1], WINDOW[0], 3), pixels.shape
            return Page(dom, pixels, shot)
        state = "hung (killed)" if code is None else f"exit code {code}"
        attempts.append(
            f"--- budget {budget} ms: {state}, screenshot {'taken' if shot.is_file() else 'missing'}"
            f"\nDOM ends: {_tail(dom, 2000)}\nstderr ends: {_tail(err, 2000)}"
        )
    if shot.is_file():
        _keep(shot)
    pytest.fail(f"{url} was not rendered as expected:\n" + "\n".join(attempts), pytrace=False)


def _keep(shot: Path) -> None:
    """Copy a screenshot to ``$MSK1MODEL_SCREENSHOT_DIR`` when it is set."""
    target = os.environ.get("MSK1MODEL_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy2(shot, Path(target) / shot.name)


def _chart_url(ui: Ui, search: str, order_by: str, ascending: bool) -> str:
    query = urllib.parse.urlencode(
        {
            "compareRunsMode": "CHART",
            "searchFilter": search,
            "orderByKey": order_by,
            "orderByAsc": str(ascending).lower(),
        },
        quote_via=urllib.parse.quote,
    )
    return f"{ui.base}/#/experiments/{ui.experiment_id}/runs?{query}"


def _sections(dom: str) -> dict[str, int]:
    """The chart view's sections: name -> number of charts."""
    return {name: int(n) for name, n in _SECTION.findall(dom)}


def _expected_sections(runs: list[Run]) -> dict[str, int]:
    """MLflow groups metrics by the part of their name before the last ``/``."""
    keys = {key for run in runs for key in run.data.metrics}
    assert all("/" in key for key in keys), sorted(keys)
    return dict(Counter(key.rsplit("/", 1)[0] for key in keys))


def _charts_drawn(dom: str) -> int:
    """Plotly charts rendered (the others are still spinners, or outside the window)."""
    return dom.count('class="plot-container plotly"')


def _row_order(dom: str, names: list[str]) -> list[str]:
    """``names`` in the order of the runs table's rows (ag-grid ``row-index``)."""
    index = {}
    for name in names:
        at = dom.find(f">{name}<")
        assert at >= 0, f"run {name!r} is not in the runs table"
        rows = re.findall(r'row-index="(\d+)"', dom[:at])
        assert rows, f"run {name!r} is not in a table row"
        index[name] = int(rows[-1])
    return sorted(names, key=index.__getitem__)


def _chart_ink(pixels: np.ndarray) -> int:
    """Drawn pixels in the charts' column (right of the runs table, left of the assistant panel).

    Bars in the runs' colours, whatever the colours, and axes: a column of loading spinners on
    white cards has under a thousand.
    """
    charts = pixels[300:1950, 530:1180]
    return int((charts.min(axis=2) < 215).sum())


def _runs(ui: Ui, role_filter: str) -> list[Run]:
    return ui.client.search_runs([ui.experiment_id], role_filter, max_results=1000)


def _matching(dom: str) -> int:
    found = re.search(r"<strong>(\d+)</strong> matching runs", dom)
    assert found, _tail(dom)
    return int(found.group(1))


# --------------------------------------------------------------------------- chart view


def test_chart_view_groups_the_model_runs_metrics_by_prefix(ui: Ui, tiny_run: TinyRun) -> None:
    """The four model runs side by side, best test Harrell C first, in one section per prefix."""
    search = f"tags.`{ROLE}` = 'model'"
    models = _runs(ui, search)
    assert {run.info.run_id for run in models} == {o.run_id for o in tiny_run.result.outcomes}
    expected = _expected_sections(models)
    assert {"calibration", "cv", "test", "tuning"} <= expected.keys(), expected

    url = _chart_url(ui, search, "metrics.`test/harrell_c`", ascending=False)
    page = _browse(
        ui,
        url,
        "chart_view_models",
        lambda dom: expected.items() <= _sections(dom).items() and _charts_drawn(dom) >= 9,
    )

    shown = _sections(page.dom)
    assert {k: v for k, v in shown.items() if k not in _UNGROUPED} == expected, shown
    assert all(shown.get(name, 0) == 0 for name in _UNGROUPED), shown
    assert list(shown) == sorted(expected) + [n for n in shown if n in _UNGROUPED], shown
    assert _matching(page.dom) == len(models) == 4
    by_c = sorted(models, key=lambda run: run.data.metrics["test/harrell_c"], reverse=True)
    names = [run.info.run_name for run in by_c]
    assert _row_order(page.dom, names) == names
    assert "trial-000" not in page.dom  # trials are filtered out
    assert "Sort: test/harrell_c" in page.dom
    assert _chart_ink(page.pixels) > 100_000, _chart_ink(page.pixels)  # bars, not spinners


def test_chart_view_of_the_experiment_adds_the_train_run_sections(
    ui: Ui, tiny_run: TinyRun
) -> None:
    """The train run and its model runs (no tuning trials), flat: every prefix has a section."""
    search = f"tags.`{ROLE}` != 'trial'"
    runs = _runs(ui, search)
    ids = {run.info.run_id for run in runs}
    assert ids == {tiny_run.result.run_id, *(o.run_id for o in tiny_run.result.outcomes)}
    expected = _expected_sections(runs)
    train_sections = {"added_value", "biomarker", "optimism", "selected/cv", "selected/test"}
    assert train_sections | {"calibration", "cv", "test", "tuning"} <= expected.keys(), expected

    url = _chart_url(ui, search, "tags.`mlflow.runName`", ascending=True)
    page = _browse(
        ui,
        url,
        "chart_view_experiment",
        lambda dom: expected.items() <= _sections(dom).items() and _charts_drawn(dom) >= 9,
    )

    shown = _sections(page.dom)
    assert {k: v for k, v in shown.items() if k not in _UNGROUPED} == expected, shown
    assert _matching(page.dom) == len(runs) == 5
    names = sorted(run.info.run_name for run in runs)
    assert _row_order(page.dom, names) == names
    assert "Sort: Run Name" in page.dom
    assert _chart_ink(page.pixels) > 100_000, _chart_ink(page.pixels)


# --------------------------------------------------------------------------- a model run


def _js_number(value: float) -> str:
    """How the UI writes a metric value: JavaScript's shortest round-trip form, as ``repr``."""
    return str(int(value)) if value.is_integer() else repr(value)


def test_run_page_shows_the_selected_model_run_and_its_metrics(ui: Ui, tiny_run: TinyRun) -> None:
    selected = tiny_run.result.selected
    run = ui.client.get_run(selected.run_id)
    parent = ui.client.get_run(tiny_run.result.run_id)
    metrics = run.data.metrics
    url = f"{ui.base}/#/experiments/{ui.experiment_id}/runs/{selected.run_id}"
    page = _browse(
        ui, url, "run_page_selected_model", lambda dom: f"Metrics ({len(metrics)})" in dom
    )

    dom = page.dom
    assert f">{run.info.run_name}<" in dom
    assert run.info.run_name == f"{selected.model_name} | {selected.feature_set}"
    assert f">{parent.info.run_name}<" in dom  # the "Parent run" link
    assert selected.run_id in dom
    for key in ("msk1model.model_name", "msk1model.feature_set"):
        assert f">{key}<" in dom and f"{run.data.tags[key]}<" in dom, key
    for key in ("cv/harrell_c_mean", "test/harrell_c", "test/uno_c", "test/ibs"):
        assert f">{key}<" in dom, key
        assert f">{_js_number(metrics[key])}<" in dom, (key, metrics[key])
    # a page of text, not a spinner: many dark (text) pixels in the main column
    assert int((page.pixels[:, 200:1180].max(axis=2) < 100).sum()) > 10_000


def test_artifact_browser_shows_the_calibration_figure(ui: Ui, tiny_run: TinyRun) -> None:
    """The run's figures are artifacts; the calibration figure opens as an image, pixel for pixel."""
    run_id = tiny_run.result.selected.run_id
    figures = {a.path for a in ui.client.list_artifacts(run_id, "figures")}
    horizons = tiny_run.config.evaluation.horizons
    calibration = [f"figures/calibration_{horizon_label(h)}.png" for h in horizons]
    assert {"figures/auc.png", "figures/km_risk_groups.png", *calibration} <= figures, figures

    path = calibration[-1]
    url = f"{ui.base}/#/experiments/{ui.experiment_id}/runs/{run_id}/artifacts/{path}"
    img = re.compile(rf'<img alt="{re.escape(path)}" src="blob:{re.escape(ui.base)}/[^"]+"')
    page = _browse(ui, url, "run_artifact_calibration", lambda dom: img.search(dom) is not None)

    local = ui.client.download_artifacts(run_id, path, str(ui.folder))
    with Image.open(local) as image:
        figure = np.asarray(image.convert("RGB")).astype(int)
    offset = _find(figure, page.pixels)
    assert offset is not None, f"the figure {path} ({figure.shape}) is not in {page.shot}"


def _find(template: np.ndarray, pixels: np.ndarray) -> tuple[int, int] | None:
    """Where ``template`` appears unchanged in ``pixels`` (top-left corner), if anywhere."""
    h, w = template.shape[:2]
    rows, cols = pixels.shape[0] - h + 1, pixels.shape[1] - w + 1
    if rows <= 0 or cols <= 0:
        return None
    # candidate corners: where 25 of the template's non-white pixels all match, then the whole
    ys, xs = np.nonzero(template.min(axis=2) < 250)
    picks = np.linspace(0, len(ys) - 1, 25).astype(int)
    candidates = np.ones((rows, cols), dtype=bool)
    for y, x in zip(ys[picks], xs[picks], strict=True):
        window = pixels[y : y + rows, x : x + cols]
        candidates &= (window == template[y, x]).all(axis=2)
    for dy, dx in zip(*np.nonzero(candidates), strict=True):
        if np.abs(pixels[dy : dy + h, dx : dx + w] - template).max() <= 2:
            return int(dy), int(dx)
    return None
