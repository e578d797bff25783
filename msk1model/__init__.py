"""msk1model: prognostic survival models built on one biomarker (MSK1) plus clinical covariates."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
