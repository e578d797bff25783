"""The report on disk: ``report.html``, ``document.json`` and ``figures/<name>.png``.

The JSON copy of the document keeps every table's dtypes, index and column names, so
``render_html(read_report(d))`` reproduces the page exactly. Files are written atomically.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from msk1model.errors import ExportError
from msk1model.report.document import (
    Block,
    Figure,
    KeyValues,
    ReportDocument,
    Section,
    Table,
    Text,
    check_id,
)
from msk1model.report.render import render_html

__all__ = ["read_report", "write_report"]

_FORMAT, _VERSION = "msk1model-report", 1


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
    if block.warning:
        return {"type": "text", "text": block.text, "warning": True}
    return {"type": "text", "text": block.text}


def _decode_block(spec: dict[str, Any], root: Path) -> Block:
    kind = spec["type"]
    if kind == "table":
        frame = _decode_frame(spec["frame"])
        return Table(spec["caption"], frame, spec["note"], spec["digits"])
    if kind == "figure":  # the file name follows from the checked name, never from the JSON
        check_id(spec["name"], "a figure name in document.json")
        png = (root / "figures" / f"{spec['name']}.png").read_bytes()
        return Figure(spec["caption"], png, spec["name"])
    if kind == "keyvalues":
        return KeyValues(spec["title"], dict(spec["items"]))
    if kind == "text":
        return Text(spec["text"], warning=spec.get("warning") is True)
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
    """Write to a temporary file beside ``path``, then rename it over ``path``; the file is
    readable as any other file the user writes (mode 0666 less the umask, not mkstemp's 0600)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


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
