"""Evaluation: discrimination metrics (pure functions)."""

from __future__ import annotations

from msk1model.evaluation.metrics import harrell_c, uno_c

__all__ = ["harrell_c", "uno_c"]
