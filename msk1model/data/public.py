"""Public breast-cancer cohorts shipped inside installed packages, in one canonical schema.

Canonical columns: ``patient_id``, ``time``, ``event`` (1 = the endpoint's event), ``age`` (years),
``size`` (tumour size, mm), ``grade`` (1-3), ``nodes`` (positive lymph nodes), ``er``, ``pr`` (0/1),
and ``msk1`` (RPS6KA5 expression) where the cohort has it. Columns a cohort lacks are absent;
cohorts with other codings use honest names (``size_category``, ``node_status``, ``er_level``,
``er_fmol``, ...). ``time`` stays in the cohort's native unit, stated by
:attr:`PublicCohort.time_unit`; :func:`msk1model.data.cohort.load_cohort` converts it to years.

The cohorts live in :mod:`msk1model.data.public_gse` (microarray cohorts with RPS6KA5) and
:mod:`msk1model.data.public_clinical` (GBSG2, Rotterdam, NKI-70, TRANSBIG); each module registers
its loaders in :data:`PUBLIC_COHORTS` when imported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from msk1model.config import TIME_UNITS
from msk1model.errors import DataError

__all__ = ["PUBLIC_COHORTS", "PublicCohort", "load_public", "public_cohort_names"]

_SURVIVAL_COLUMNS = ("patient_id", "time", "event")


@dataclass(frozen=True)
class PublicCohort:
    """A loaded public cohort with its documented endpoint, time unit and default model inputs.

    Attributes
    ----------
    name
        Registry name, as in ``data.source: public:NAME``.
    table
        One row per patient in the canonical schema (see the module docstring).
    time_unit
        Unit of ``table["time"]``: ``'days'``, ``'weeks'``, ``'months'`` or ``'years'``.
    endpoint
        What ``event == 1`` means, in words.
    study
        The original study and where the table comes from.
    default_biomarker
        Column to model as the biomarker: ``msk1`` where the cohort has RPS6KA5, otherwise a
        documented stand-in (the cohort module says why).
    default_covariates
        Clinical covariates an experiment on this cohort uses unless it names others.
    """

    name: str
    table: pd.DataFrame
    time_unit: str
    endpoint: str
    study: str
    default_biomarker: str = "msk1"
    default_covariates: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.time_unit not in TIME_UNITS:
            raise DataError(
                f"public cohort {self.name!r} has time_unit {self.time_unit!r}, but it must be "
                f"one of {sorted(TIME_UNITS)}. Fix: the cohort loader"
            )
        needed = [*_SURVIVAL_COLUMNS, self.default_biomarker, *self.default_covariates]
        missing = [c for c in dict.fromkeys(needed) if c not in self.table.columns]
        if missing:
            raise DataError(
                f"public cohort {self.name!r} lacks column(s) {missing} that its survival columns, "
                f"default biomarker or default covariates name; it has "
                f"{list(self.table.columns)[:20]}. Fix: the cohort loader"
            )

    @property
    def has_msk1(self) -> bool:
        """Whether the table holds RPS6KA5 (MSK1) expression as ``msk1``."""
        return "msk1" in self.table.columns


#: name -> loader; filled by the cohort modules when :func:`_register_all` imports them.
PUBLIC_COHORTS: dict[str, Callable[[], PublicCohort]] = {}


def _register_all() -> None:
    # Imported for their side effect: each module adds its loaders to PUBLIC_COHORTS.
    from msk1model.data import public_clinical, public_gse  # noqa: F401


def public_cohort_names() -> list[str]:
    """Names of every registered public cohort, sorted."""
    _register_all()
    return sorted(PUBLIC_COHORTS)


def load_public(name: str) -> PublicCohort:
    """Load the public cohort ``name`` (one of :func:`public_cohort_names`).

    Raises
    ------
    DataError
        When ``name`` is not a registered cohort; the message lists the known ones.
    """
    _register_all()
    if name not in PUBLIC_COHORTS:
        known = ", ".join(sorted(PUBLIC_COHORTS)) or "none yet"
        raise DataError(f"unknown public cohort {name!r}; known cohorts: {known}")
    return PUBLIC_COHORTS[name]()
