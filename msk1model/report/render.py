"""The report as one self-contained HTML page: inline CSS and script, figures as data URIs."""

from __future__ import annotations

import base64
import hashlib
import html
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from msk1model.report.document import (
    MISSING,
    Block,
    Figure,
    KeyValues,
    ReportDocument,
    Section,
    Table,
    format_number,
    format_p,
)

__all__ = ["render_html"]


def _is_p_column(name: Any) -> bool:
    label = str(name).lower()
    return label == "p" or label.endswith(("_p", "p_value"))


def _format_cell(value: Any, digits: int, p_column: bool) -> str:
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return MISSING
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if p_column and isinstance(value, int | float | np.integer | np.floating):
        return format_p(float(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return format_number(float(value), digits)
    return str(value)


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
.warning { border-left: 4px solid #b8860b; background: #fdf6e3; padding: .4rem .9rem;
  margin: .8rem 0; }
.warning p { margin: .2rem 0; }
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
    text = "\n".join(f"<p>{_e(p)}</p>" for p in paragraphs)
    if block.warning:
        return f'<div class="warning" role="note"><strong>Warning</strong>{text}</div>'
    return text


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
