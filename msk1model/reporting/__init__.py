"""A run's report: the analyses (REMARK, TRIPOD+AI) and the document that shows them."""

from __future__ import annotations

from msk1model.reporting.analyses import Analyses, report_metrics, run_analyses
from msk1model.reporting.document import report_document

__all__ = ["Analyses", "report_document", "report_metrics", "run_analyses"]
