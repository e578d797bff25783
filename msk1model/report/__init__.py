"""A run's report: REMARK and TRIPOD+AI analyses, the document that shows them, one HTML page.

In the order a run uses them:

* :func:`run_analyses` computes every statistic of the report from a
  :class:`~msk1model.results.TrainedRun` (:mod:`.analyses`); :func:`report_scores` gives its
  headline numbers as score rows for tracking;
* :func:`report_document` lays them out as a :class:`ReportDocument` of :class:`Section` s of
  blocks: :class:`Table`, :class:`Figure`, :class:`Text`, :class:`KeyValues` (:mod:`.sections`,
  :mod:`.figures`, :mod:`.document`);
* :func:`render_html` renders one self-contained page (:mod:`.render`): CSS and one small script
  inline (allowed by a Content-Security-Policy that names their hashes and nothing else), figures
  as PNG data URIs, every user-provided string HTML-escaped;
* :func:`write_report` stores the page with a JSON copy of the document and the figures as PNG
  files, :func:`read_report` reads them back (:mod:`.storage`), so
  ``render_html(read_report(d))`` reproduces the page exactly.
"""

from __future__ import annotations

from msk1model.report.analyses import Analyses, run_analyses
from msk1model.report.document import (
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
from msk1model.report.headline import report_scores
from msk1model.report.render import render_html
from msk1model.report.sections import report_document
from msk1model.report.storage import read_report, write_report

__all__ = [
    "Analyses",
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
    "report_document",
    "report_scores",
    "run_analyses",
    "write_report",
]
