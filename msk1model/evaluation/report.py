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

from msk1model.evaluation._report_doc import (
    Block,
    Figure,
    KeyValues,
    ReportDocument,
    Section,
    Table,
    Text,
    format_number,
    format_p,
)
from msk1model.evaluation._report_html import render_html
from msk1model.evaluation._report_io import read_report, write_report

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
