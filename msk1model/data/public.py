"""Public breast-cancer cohorts shipped inside installed packages, in one canonical schema.

Canonical columns: ``patient_id``, ``time``, ``event`` (1 = the endpoint's event), ``age`` (years),
``size`` (tumour size, mm), ``grade`` (1-3), ``nodes`` (positive lymph nodes), ``er``, ``pr`` (0/1),
and ``msk1`` (RPS6KA5 expression) where the cohort has it. Columns a cohort lacks are absent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from msk1model.errors import DataError

__all__ = ["PUBLIC_COHORTS", "PublicCohort", "load_public"]


@dataclass(frozen=True)
class PublicCohort:
    """A loaded public cohort with its documented endpoint and time unit."""

    name: str
    table: pd.DataFrame
    time_unit: str
    endpoint: str
    study: str


#: name -> loader; filled by the cohort modules below.
PUBLIC_COHORTS: dict[str, Callable[[], PublicCohort]] = {}


def load_public(name: str) -> PublicCohort:
    """Load the public cohort ``name`` (one of :data:`PUBLIC_COHORTS`)."""
    from msk1model.data import public_gse  # noqa: F401  (registers its cohorts)

    if name not in PUBLIC_COHORTS:
        known = ", ".join(sorted(PUBLIC_COHORTS)) or "none yet"
        raise DataError(f"unknown public cohort {name!r}; known cohorts: {known}")
    return PUBLIC_COHORTS[name]()
