"""A run report as data, rendered to one self-contained HTML page.

The document model (:class:`ReportDocument` of :class:`Section` s of blocks: :class:`Table`,
:class:`Figure`, :class:`Text`, :class:`KeyValues`) holds what a report says; :func:`render_html`
decides how it looks. The page needs nothing outside itself: CSS and one small script are inline
(allowed by a Content-Security-Policy that names their hashes and nothing else), figures are PNG
data URIs. Every user-provided string is HTML-escaped. :func:`write_report` stores the page with a
JSON copy of the document and the figures as PNG files; :func:`read_report` reads them back, so
``render_html(read_report(d))`` reproduces the page exactly.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from msk1model.errors import EvaluationError, ExportError

__all__ = [
    "Block",
    "Figure",
    "KeyValues",
    "ReportDocument",
    "Section",
    "Table",
    "Text",
    "format_number",
    "format_p",
    "read_report",
    "render_html",
    "write_report",
]

_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the empty IEND chunk every PNG ends with
_FORMAT, _VERSION = "msk1model-report", 1
_MISSING = "\u2014"  # an em dash marks a missing value in tables
_RESERVED_IDS = frozenset({"contents"})


def _check_id(value: str, what: str) -> None:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise EvaluationError(
            f"{what} must be a letter followed by up to 63 letters, digits, '_' or '-' (it is an "
            f"HTML id and a file name), but got {value!r}. Fix: use a slug such as 'km_median'"
        )


def _check_texts(items: dict[str, str], what: str) -> None:
    bad = {k: v for k, v in items.items() if not (isinstance(k, str) and isinstance(v, str))}
    if bad:
        raise EvaluationError(
            f"{what} must map text to text, but found non-text entries {bad!r}. Fix: format the "
            "values as strings first (e.g. f'{value:.3f}')"
        )


# --------------------------------------------------------------------------- document model


@dataclass(frozen=True, eq=False)
class Table:
    """A captioned table; numbers are formatted when rendered (see :func:`format_number`).

    Parameters
    ----------
    caption : str
    frame : DataFrame
        Shown as is; the index is shown only when it has a name. A column named ``p`` or ending
        in ``_p`` or ``p_value`` holds p-values (:func:`format_p`). Use the nullable ``Int64``
        dtype for counts with missing values.
    note : str, default ""
        A footnote under the table.
    digits : int, default 3
        Decimals of floats.
    """

    caption: str
    frame: pd.DataFrame
    note: str = ""
    digits: int = 3

    def __post_init__(self) -> None:
        if not isinstance(self.frame, pd.DataFrame):
            raise EvaluationError(
                f"Table.frame must be a pandas DataFrame, but got {type(self.frame).__name__}. "
                "Fix: wrap the data in pd.DataFrame"
            )
        if not 0 <= self.digits <= 12:
            raise EvaluationError(f"Table.digits must lie in [0, 12], but got {self.digits}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Table):
            return NotImplemented
        a, b = self.frame, other.frame
        return (
            (self.caption, self.note, self.digits) == (other.caption, other.note, other.digits)
            and a.columns.equals(b.columns)
            and a.index.equals(b.index)
            and a.dtypes.equals(b.dtypes)
            and a.equals(b)
        )

    __hash__ = None  # type: ignore[assignment]  # a DataFrame is mutable


@dataclass(frozen=True)
class Figure:
    """A PNG figure; ``name`` is its HTML id and its file name ``figures/<name>.png``."""

    caption: str
    png: bytes = field(repr=False)
    name: str

    def __post_init__(self) -> None:
        _check_id(self.name, "Figure.name")
        head, tail = bytes(self.png[:8]), bytes(self.png[-12:])
        if head != _PNG_SIGNATURE or tail != _PNG_END:
            raise EvaluationError(
                f"Figure {self.name!r} must hold whole PNG bytes (from the PNG signature to the "
                f"IEND chunk), but they start with {head!r} and end with {tail!r}. "
                "Fix: fig.savefig(buffer, format='png') and pass buffer.getvalue()"
            )


@dataclass(frozen=True)
class Text:
    """Prose; a blank line starts a new paragraph."""

    text: str


@dataclass(frozen=True)
class KeyValues:
    """A titled list of terms and their values (a definition list)."""

    title: str
    items: dict[str, str]

    def __post_init__(self) -> None:
        _check_texts(self.items, f"KeyValues {self.title!r} items")


Block = Table | Figure | Text | KeyValues


@dataclass(frozen=True)
class Section:
    """A titled part of the report; ``guideline`` names the reporting items it answers.

    Parameters
    ----------
    id : str
        HTML id, linked from the table of contents.
    title : str
    items : sequence of Block
        Stored as a tuple.
    guideline : str, default ""
        E.g. "TRIPOD+AI 5a, 8; REMARK 10"; shown small under the title.
    """

    id: str
    title: str
    items: tuple[Block, ...]
    guideline: str = ""

    def __post_init__(self) -> None:
        _check_id(self.id, "Section.id")
        object.__setattr__(self, "items", tuple(self.items))
        bad = [type(b).__name__ for b in self.items if not isinstance(b, Block)]
        if bad:
            raise EvaluationError(
                f"Section {self.id!r} items must be Table, Figure, Text or KeyValues blocks, but "
                f"found {bad}. Fix: wrap prose in Text(...)"
            )


@dataclass(frozen=True)
class ReportDocument:
    """The whole report: title, subtitle, run metadata (shown in the header) and sections."""

    title: str
    subtitle: str
    metadata: dict[str, str]
    sections: tuple[Section, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "sections", tuple(self.sections))
        _check_texts(self.metadata, "ReportDocument.metadata")
        ids = [s.id for s in self.sections] + [f.name for f in self.figures]
        clashes = sorted({i for i in ids if ids.count(i) > 1 or i in _RESERVED_IDS})
        if clashes:
            raise EvaluationError(
                "section ids and figure names must be unique across the report (they are HTML ids "
                f"and file names) and not {sorted(_RESERVED_IDS)}, but {clashes} repeat. "
                "Fix: rename them"
            )

    @property
    def figures(self) -> list[Figure]:
        """Every figure of every section, in order."""
        return [b for s in self.sections for b in s.items if isinstance(b, Figure)]


# --------------------------------------------------------------------------- number formats


def format_p(p: float | None) -> str:
    """A p-value as "<0.001" below 0.001, else with 3 decimals; "" when missing.

    Raises
    ------
    EvaluationError
        If ``p`` lies outside [0, 1].
    """
    if p is None or pd.isna(p):
        return ""
    if not -1e-12 <= p <= 1.0 + 1e-9:
        raise EvaluationError(f"a p-value must lie in [0, 1], but got {p!r}. Fix: check its test")
    return "<0.001" if p < 0.001 else f"{min(max(p, 0.0), 1.0):.3f}"


def format_number(x: float, digits: int = 3) -> str:
    """A float with ``digits`` decimals; scientific with ``digits`` significant digits if tiny.

    Scientific notation is used when a non-zero ``x`` would round to zero (``|x| < 10**-digits``)
    and from 1e6 on. NaN gives an em dash, infinities "inf" and "-inf".
    """
    if math.isnan(x):
        return _MISSING
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0 or 10.0**-digits <= abs(x) < 1e6:
        return f"{x:.{digits}f}"
    return f"{x:.{max(digits, 1)}g}"


def _is_p_column(name: Any) -> bool:
    label = str(name).lower()
    return label == "p" or label.endswith(("_p", "p_value"))


def _format_cell(value: Any, digits: int, p_column: bool) -> str:
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return _MISSING
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if p_column and isinstance(value, int | float | np.integer | np.floating):
        return format_p(float(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return format_number(float(value), digits)
    return str(value)


# --------------------------------------------------------------------------- HTML

_CSS = """
:root { --ink: #1d232b; --muted: #5c6672; --rule: #d5d9df; --zebra: #f3f5f8; --accent: #2b4a6b; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; }
main { max-width: 960px; margin: 0 auto; padding: 2rem 1.5rem 4rem; }
h1 { font-size: 1.8rem; margin: 0 0 .2rem; }
h2 { font-size: 1.3rem; margin: 2.5rem 0 .3rem; padding-bottom: .2rem;
  border-bottom: 2px solid var(--accent); }
h3 { font-size: 1.05rem; margin: 1.2rem 0 .4rem; }
a { color: var(--accent); }
.subtitle { color: var(--muted); margin: 0 0 1rem; font-size: 1.05rem; }
.guideline { color: var(--muted); font-size: .8rem; margin: 0 0 .8rem; }
.guideline span { font-weight: 600; text-transform: uppercase; letter-spacing: .04em; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: .5rem 0; }
dt { font-weight: 600; } dd { margin: 0; }
nav.toc { background: var(--zebra); padding: .6rem 1.2rem; border-radius: 4px; }
nav.toc h2 { border: 0; margin: .3rem 0; font-size: 1.05rem; }
nav.toc ol { margin: 0 0 .3rem; }
table { border-collapse: collapse; margin: 1rem 0 .3rem; font-size: .88rem; width: auto; }
caption { caption-side: top; text-align: left; font-weight: 600; padding-bottom: .3rem; }
th, td { padding: .25rem .6rem; border-bottom: 1px solid var(--rule); text-align: left; }
thead th { border-bottom: 2px solid var(--ink); vertical-align: bottom; }
tbody tr:nth-child(even) { background: var(--zebra); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.note { color: var(--muted); font-size: .8rem; margin: 0 0 1rem; }
figure { margin: 1.2rem 0; }
figure img { max-width: 100%; height: auto; display: block; }
figcaption { color: var(--muted); font-size: .88rem; margin-top: .3rem; }
@media print {
  body { font-size: 11pt; } main { max-width: none; padding: 0; }
  nav.toc { break-after: page; } section { break-before: auto; }
  figure, tr, dl { break-inside: avoid; } h2, h3, caption { break-after: avoid; }
  a { color: inherit; text-decoration: none; }
}
""".strip()

# Sets <body data-figures="ok"> once every image has decoded, else "broken:<figure ids>".
_SCRIPT = """
window.addEventListener("load", function () {
  var broken = [];
  document.querySelectorAll("img").forEach(function (img) {
    if (!(img.complete && img.naturalWidth > 0)) {
      var fig = img.closest("figure");
      broken.push(fig ? fig.id : img.alt);
    }
  });
  document.body.dataset.figures = broken.length ? "broken:" + broken.join(",") : "ok";
});
""".strip()


def _e(text: str) -> str:
    return html.escape(str(text), quote=True)


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _csp() -> str:
    """Nothing may load from outside; only this page's own style and script may run."""
    return (
        f"default-src 'none'; img-src data:; style-src {_sha256(_CSS)}; "
        f"script-src {_sha256(_SCRIPT)}; base-uri 'none'; form-action 'none'"
    )


def _dl(items: dict[str, str]) -> str:
    rows = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items.items())
    return f"<dl>{rows}</dl>"


def _header_label(name: Any) -> str:
    return " / ".join(map(str, name)) if isinstance(name, tuple) else str(name)


def _is_numeric(dtype: Any) -> bool:
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def _thead(frame: pd.DataFrame, show_index: bool) -> str:
    heads = [f'<th scope="col">{_e("" if n is None else n)}</th>' for n in frame.index.names]
    for name, dtype in zip(frame.columns, frame.dtypes, strict=True):
        cls = ' class="num"' if _is_numeric(dtype) else ""
        heads.append(f'<th scope="col"{cls}>{_e(_header_label(name))}</th>')
    return (
        "<thead><tr>" + "".join(heads[0 if show_index else frame.index.nlevels :]) + "</tr></thead>"
    )


def _column_cells(values: pd.Series, name: Any, digits: int) -> list[str]:
    cls = ' class="num"' if _is_numeric(values.dtype) else ""
    p_column = _is_p_column(name)
    return [f"<td{cls}>{_e(_format_cell(v, digits, p_column))}</td>" for v in values]


def _table_html(table: Table) -> str:
    frame, digits = table.frame, table.digits
    show_index = any(n is not None for n in frame.index.names)
    columns = [_column_cells(frame.iloc[:, j], c, digits) for j, c in enumerate(frame.columns)]
    rows = []
    for i, key in enumerate(frame.index):
        keys = (key if isinstance(key, tuple) else (key,)) if show_index else ()
        th = "".join(f'<th scope="row">{_e(_format_cell(k, digits, False))}</th>' for k in keys)
        rows.append("<tr>" + th + "".join(col[i] for col in columns) + "</tr>")
    note = f'<p class="note">{_e(table.note)}</p>' if table.note else ""
    body = "<tbody>" + "\n".join(rows) + "</tbody>"
    caption = f"<caption>{_e(table.caption)}</caption>"
    return f"<table>{caption}{_thead(frame, show_index)}\n{body}</table>{note}"


def _figure_html(fig: Figure) -> str:
    data = base64.b64encode(fig.png).decode("ascii")
    return (
        f'<figure id="{_e(fig.name)}"><img src="data:image/png;base64,{data}" '
        f'alt="{_e(fig.caption)}"><figcaption>{_e(fig.caption)}</figcaption></figure>'
    )


def _block_html(block: Block) -> str:
    if isinstance(block, Table):
        return _table_html(block)
    if isinstance(block, Figure):
        return _figure_html(block)
    if isinstance(block, KeyValues):
        return f'<div class="keyvalues"><h3>{_e(block.title)}</h3>{_dl(block.items)}</div>'
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", block.text) if p.strip()]
    return "\n".join(f"<p>{_e(p)}</p>" for p in paragraphs)


def _section_html(section: Section) -> str:
    guideline = (
        f'<p class="guideline"><span>Reporting items</span> {_e(section.guideline)}</p>'
        if section.guideline
        else ""
    )
    blocks = "\n".join(_block_html(b) for b in section.items)
    title = f"<h2>{_e(section.title)}</h2>{guideline}"
    return f'<section id="{_e(section.id)}">{title}\n{blocks}\n</section>'


def _toc_html(sections: Sequence[Section]) -> str:
    links = "".join(f'<li><a href="#{_e(s.id)}">{_e(s.title)}</a></li>' for s in sections)
    head = '<nav class="toc" id="contents" aria-label="Contents"><h2>Contents</h2>'
    return f"{head}<ol>{links}</ol></nav>"


def render_html(doc: ReportDocument) -> str:
    """One self-contained HTML5 page: inline CSS and script, figures as PNG data URIs.

    Parameters
    ----------
    doc : ReportDocument

    Returns
    -------
    str
        The page. It loads nothing from outside (a Content-Security-Policy forbids it) and, once
        loaded, sets ``<body data-figures="ok">`` if every figure decoded, else
        ``"broken:<figure names>"``.
    """
    subtitle = f'<p class="subtitle">{_e(doc.subtitle)}</p>' if doc.subtitle else ""
    metadata = _dl(doc.metadata) if doc.metadata else ""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_csp()}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(doc.title)}</title><style>{_CSS}</style></head>",
        "<body><main>",
        f"<header><h1>{_e(doc.title)}</h1>{subtitle}{metadata}</header>",
        _toc_html(doc.sections),
        *(_section_html(s) for s in doc.sections),
        f"</main><script>{_SCRIPT}</script></body></html>",
    ]
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------- JSON form


def _encode_values(values: pd.Index | pd.Series) -> dict[str, Any]:
    """One column (or index level) as its dtype and JSON values; NaN -> null, inf -> "inf"."""
    out = []
    for v in values.tolist():
        if isinstance(v, float) and not math.isfinite(v):
            out.append(None if math.isnan(v) else str(v))
        elif pd.api.types.is_scalar(v) and pd.isna(v):
            out.append(None)
        else:
            out.append(v)
    return {"name": values.name, "dtype": str(values.dtype), "values": out}


def _decode_values(spec: dict[str, Any]) -> pd.Series:
    values = spec["values"]
    if spec["dtype"].startswith("float"):
        values = [np.nan if v is None else float(v) for v in values]
    try:
        return pd.Series(values, dtype=spec["dtype"])
    except (TypeError, ValueError):  # a dtype pandas cannot rebuild from JSON: keep the values
        return pd.Series(values, dtype=object)


def _name(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _encode_frame(frame: pd.DataFrame) -> dict[str, Any]:
    index = frame.index
    levels = [index.get_level_values(i) for i in range(index.nlevels)]
    return {
        "columns": [_encode_values(frame.iloc[:, j]) | {"name": c} for j, c in enumerate(frame)],
        "column_names": list(frame.columns.names),
        "index": [_encode_values(level) for level in levels],
    }


def _decode_frame(spec: dict[str, Any]) -> pd.DataFrame:
    levels = [_decode_values(s).rename(s["name"]) for s in spec["index"]]
    index = (
        pd.Index(levels[0], name=levels[0].name)
        if len(levels) == 1
        else pd.MultiIndex.from_arrays(levels, names=[lv.name for lv in levels])
    )
    columns = [_decode_values(c) for c in spec["columns"]]
    frame = pd.concat(columns, axis=1, keys=range(len(columns))) if columns else pd.DataFrame()
    frame = frame.set_axis(index, axis=0) if columns else pd.DataFrame(index=index)
    names = [_name(c["name"]) for c in spec["columns"]]
    if len(spec["column_names"]) > 1:
        frame.columns = pd.MultiIndex.from_tuples(names, names=spec["column_names"])
    else:
        frame.columns = pd.Index(names, name=spec["column_names"][0])
    return frame


def _encode_block(block: Block) -> dict[str, Any]:
    if isinstance(block, Table):
        return {
            "type": "table",
            "caption": block.caption,
            "note": block.note,
            "digits": block.digits,
            "frame": _encode_frame(block.frame),
        }
    if isinstance(block, Figure):
        return {
            "type": "figure",
            "caption": block.caption,
            "name": block.name,
            "file": f"figures/{block.name}.png",
        }
    if isinstance(block, KeyValues):
        return {"type": "keyvalues", "title": block.title, "items": list(block.items.items())}
    return {"type": "text", "text": block.text}


def _decode_block(spec: dict[str, Any], root: Path) -> Block:
    kind = spec["type"]
    if kind == "table":
        frame = _decode_frame(spec["frame"])
        return Table(spec["caption"], frame, spec["note"], spec["digits"])
    if kind == "figure":  # the file name follows from the checked name, never from the JSON
        _check_id(spec["name"], "a figure name in document.json")
        png = (root / "figures" / f"{spec['name']}.png").read_bytes()
        return Figure(spec["caption"], png, spec["name"])
    if kind == "keyvalues":
        return KeyValues(spec["title"], dict(spec["items"]))
    if kind == "text":
        return Text(spec["text"])
    raise ExportError(
        f"document.json blocks must be of type table, figure, keyvalues or text, but found "
        f"{kind!r}. Fix: write the report again with this msk1model"
    )


def _document_json(doc: ReportDocument) -> str:
    sections = [
        {
            "id": s.id,
            "title": s.title,
            "guideline": s.guideline,
            "items": [_encode_block(b) for b in s.items],
        }
        for s in doc.sections
    ]
    data = {
        "format": _FORMAT,
        "version": _VERSION,
        "title": doc.title,
        "subtitle": doc.subtitle,
        "metadata": list(doc.metadata.items()),
        "sections": sections,
    }
    return json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False, default=str)


# --------------------------------------------------------------------------- files


def _write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, then rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report(doc: ReportDocument, out_dir: str | Path) -> Path:
    """Write ``report.html``, ``document.json`` and ``figures/<name>.png`` under ``out_dir``.

    Each file is written to a temporary file and renamed into place, figures first and the page
    last, so an interrupted write leaves no partial file and never a page without its figures.

    Returns
    -------
    Path
        ``out_dir / "report.html"``.

    Raises
    ------
    ExportError
        If a file cannot be written.
    """
    root = Path(out_dir)
    page = render_html(doc)
    try:
        (root / "figures").mkdir(parents=True, exist_ok=True)
        for fig in doc.figures:
            _write_atomic(root / "figures" / f"{fig.name}.png", fig.png)
        _write_atomic(root / "document.json", _document_json(doc).encode("utf-8"))
        _write_atomic(root / "report.html", page.encode("utf-8"))
    except OSError as exc:
        raise ExportError(
            f"the report could not be written to {root}: {exc}. Rule: the report folder must be "
            "writable. Fix: choose another folder or free disk space"
        ) from exc
    return root / "report.html"


def read_report(out_dir: str | Path) -> ReportDocument:
    """The :class:`ReportDocument` that :func:`write_report` wrote under ``out_dir``.

    Raises
    ------
    ExportError
        If ``document.json`` or a figure is missing, or the file is not a report of this version.
    """
    root = Path(out_dir)
    try:
        data = json.loads((root / "document.json").read_text(encoding="utf-8"))
        found = (data.get("format"), data.get("version"))
        if found != (_FORMAT, _VERSION):
            raise ExportError(
                f"{root / 'document.json'} must be a {_FORMAT} document of version {_VERSION}, "
                f"but found format and version {found}. Fix: write the report again"
            )
        sections = tuple(_decode_section(s, root) for s in data["sections"])
        return ReportDocument(data["title"], data["subtitle"], dict(data["metadata"]), sections)
    except (OSError, KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ExportError(
            f"the report under {root} could not be read: {exc!r}. Rule: it needs document.json "
            "and every figures/<name>.png it names. Fix: write it again with write_report"
        ) from exc


def _decode_section(spec: dict[str, Any], root: Path) -> Section:
    items: Iterable[Block] = (_decode_block(b, root) for b in spec["items"])
    return Section(spec["id"], spec["title"], tuple(items), spec["guideline"])
