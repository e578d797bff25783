"""Public microarray cohorts with RPS6KA5 (MSK1) expression, from SurvSet (survJamda.data).

All three are the R package survJamda.data 1.0.2 (Yasrebi et al., PLoS ONE 4:e7431, 2009) as
SurvSet ships it. ``msk1`` is SurvSet's ``num_HS_RPS6KA5``; its scale differs between cohorts
(platforms), so compare it within a cohort only.

* ``gse1992``: GEO GSE1992 (Hu et al., BMC Genomics 2006). Endpoint: relapse-free survival
  (``RFS_event``: relapse at any site or death from disease), time ``RFS_months`` in **months**.
  SurvSet ships 124 samples with 35 events. Seven are not primary tumours (brain, lymph-node, lung
  and skin metastases, a recurrence, two post-chemotherapy samples) and are excluded here, leaving
  117 (28 events). ``msk1`` is the centred log-ratio of RPS6KA5. ``size`` is a category (1 <= 2
  cm, 2 > 2-5 cm, 3 > 5 cm, 4 chest wall or skin), so it is named ``size_category``;
  ``node_status`` is 0/1 (any positive node). No PR, no treatment.

* ``gse4335``: GEO GSE4335; its 115 tumours match the 115 malignant tumours of Sorlie et al., PNAS
  100:8418 (2003). Time: ``Overall_survival_(months)``, **months** (integers, 3-120). Event: the
  survJamda column is named ``Status (0=A, 1=AWD, 2=DOD, 3=DOC)`` (alive, alive with disease, dead
  of disease, dead of other causes), yet the shipped values are only 0 and 1 (38 ones), and both
  survJamda's vignette and SurvSet use it as the overall-survival event. So the endpoint is
  **overall survival**, event = death; which original codes were folded into 1 is undocumented.
  115 patients, 38 events. The clinical columns are TNM categories: ``size_category`` = T (1-4,
  the gse1992 coding), ``n_stage`` = N (0, 1, 2; ``x`` = not assessed, read as missing),
  ``node_status`` = N >= 1, ``m_stage`` = M (0/1; the 13 patients with distant metastases at
  diagnosis are kept). ``er`` is 0/1 and ``grade`` 1-3. ``na`` and ``x`` are missing: 2 patients
  lack ER, 2 grade, 2 T and 2 N; 110 are complete on the five default covariates and hold all 38
  events. ``histology`` is text (101 ductal). ``msk1`` is a centred log-ratio, never missing.

* ``gse3143``: GEO GSE3143; survJamda.data cites only the GEO page (GEO attributes the series to
  Bild et al., Nature 439:353, 2006; not re-checked offline). Time: ``SurvivalTime(months)``,
  **months** (5.7-120; 6 patients sit at exactly 120.000, one with an event, which suggests an
  upstream 10-year cap). Event: ``Status(0=alive or 1=dead)``, so the endpoint is **overall
  survival**. 158 patients, 50 events. The only clinical column is ``ERlev``, documented just as
  "a numeric vector" with values 0-3; it is kept as ``er_level``. No ``er`` 0/1 is derived: the
  docs give no scale or threshold. ``msk1`` is a log intensity (5.0-8.7), not a log-ratio.
"""

from __future__ import annotations

import pandas as pd

from msk1model.data._survset import factor_as_float, load_survset
from msk1model.data.public import PUBLIC_COHORTS, PublicCohort

__all__ = ["GSE1992_NON_PRIMARY", "load_gse1992", "load_gse3143", "load_gse4335"]

GSE1992_NON_PRIMARY = (
    "030064-BC-Brain-Met", "PB120-LN-Met", "A4-LLL-Lung-Met", "A5-Skin#1-Right-Met",
    "BC00064-RECUR", "BC00052-post-chemo", "BC00057-post-chemo",
)  # fmt: skip
_SURVJAMDA = "Yasrebi et al., PLoS ONE 4:e7431 (2009); via SurvSet (survJamda.data 1.0.2)"


def _survival(raw: pd.DataFrame) -> dict[str, pd.Series]:
    return {
        "patient_id": raw["pid"].astype(str),
        "time": raw["time"].astype(float),
        "event": raw["event"].astype(int),
    }


def load_gse1992() -> PublicCohort:
    """GSE1992 primary tumours: relapse-free survival in months, 117 patients, 28 events."""
    raw = load_survset("gse1992")
    raw = raw[~raw["pid"].isin(GSE1992_NON_PRIMARY)]
    table = pd.DataFrame(
        {
            **_survival(raw),
            "age": raw["num_age"].astype(float),
            "grade": factor_as_float(raw["fac_grade"]),
            "size_category": factor_as_float(raw["fac_size"]),
            "node_status": factor_as_float(raw["fac_node_status"]),
            "er": factor_as_float(raw["fac_er_positive"]),
            "msk1": raw["num_HS_RPS6KA5"].astype(float),
        }
    ).reset_index(drop=True)
    return PublicCohort(
        name="gse1992",
        table=table,
        time_unit="months",
        endpoint="relapse-free survival (relapse at any site or death from disease)",
        study=f"GEO GSE1992; Hu et al., BMC Genomics 7:96 (2006); {_SURVJAMDA}",
        default_covariates=("age", "grade", "size_category", "node_status", "er"),
    )


def load_gse4335() -> PublicCohort:
    """GSE4335: overall survival in months, 115 patients, 38 deaths."""
    raw = load_survset("gse4335")
    n_stage = factor_as_float(raw["fac_node_status"])
    table = pd.DataFrame(
        {
            **_survival(raw),
            "age": raw["num_age"].astype(float),
            "grade": factor_as_float(raw["fac_grade"]),
            "size_category": factor_as_float(raw["fac_tumor_size"]),
            "node_status": (n_stage >= 1).astype(float).where(n_stage.notna()),
            "n_stage": n_stage,
            "m_stage": factor_as_float(raw["fac_metastasis"]),
            "er": factor_as_float(raw["fac_er_status"]),
            "histology": raw["fac_histology"].astype(str),
            "msk1": raw["num_HS_RPS6KA5"].astype(float),
        }
    ).reset_index(drop=True)
    return PublicCohort(
        name="gse4335",
        table=table,
        time_unit="months",
        endpoint="overall survival (death; survJamda's 0/1 status, see module docstring)",
        study=f"GEO GSE4335; Sorlie et al., PNAS 100:8418 (2003); {_SURVJAMDA}",
        default_covariates=("age", "grade", "size_category", "node_status", "er"),
    )


def load_gse3143() -> PublicCohort:
    """GSE3143: overall survival in months, 158 patients, 50 deaths; ER only as a 0-3 level."""
    raw = load_survset("gse3143")
    table = pd.DataFrame(
        {
            **_survival(raw),
            "er_level": raw["num_erlev"].astype(float),
            "msk1": raw["num_HS_RPS6KA5"].astype(float),
        }
    ).reset_index(drop=True)
    return PublicCohort(
        name="gse3143",
        table=table,
        time_unit="months",
        endpoint="overall survival (death from any cause)",
        study=f"GEO GSE3143; Bild et al., Nature 439:353 (2006); {_SURVJAMDA}",
        default_covariates=("er_level",),
    )


PUBLIC_COHORTS["gse1992"] = load_gse1992
PUBLIC_COHORTS["gse4335"] = load_gse4335
PUBLIC_COHORTS["gse3143"] = load_gse3143
