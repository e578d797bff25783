"""Public microarray cohorts with RPS6KA5 (MSK1) expression, from SurvSet (survJamda.data).

* ``gse1992``: GEO GSE1992 (Hu et al., BMC Genomics 2006). Endpoint: relapse-free survival
  (``RFS_event``: relapse at any site or death from disease), time ``RFS_months`` in **months**.
  SurvSet ships 124 samples with 35 events. Seven are not primary tumours (brain, lymph-node, lung
  and skin metastases, a recurrence, two post-chemotherapy samples) and are excluded here, leaving
  117. ``msk1`` is the centred log-ratio of RPS6KA5 (``num_HS_RPS6KA5``). ``size`` is a category
  (1 <= 2 cm, 2 > 2-5 cm, 3 > 5 cm, 4 chest wall or skin), so it is named ``size_category``;
  ``node_status`` is 0/1 (any positive node). No PR, no treatment.
"""

from __future__ import annotations

import pandas as pd

from msk1model.data.public import PUBLIC_COHORTS, PublicCohort

__all__ = ["GSE1992_NON_PRIMARY", "load_gse1992"]

GSE1992_NON_PRIMARY = (
    "030064-BC-Brain-Met", "PB120-LN-Met", "A4-LLL-Lung-Met", "A5-Skin#1-Right-Met",
    "BC00064-RECUR", "BC00052-post-chemo", "BC00057-post-chemo",
)
_SURVSET_MISSING = ("missing", "na", "x")


def _survset(name: str) -> pd.DataFrame:
    from SurvSet.data import SurvLoader  # imported on use: it reads its data files on import

    return SurvLoader().load_dataset(ds_name=name)["df"]


def _factor(series: pd.Series) -> pd.Series:
    """A SurvSet factor as float, with its 'missing' levels as NaN."""
    text = series.astype(str).str.strip()
    return pd.to_numeric(text.where(~text.isin(_SURVSET_MISSING)), errors="coerce").astype(float)


def load_gse1992() -> PublicCohort:
    raw = _survset("gse1992")
    raw = raw[~raw["pid"].isin(GSE1992_NON_PRIMARY)]
    table = pd.DataFrame(
        {
            "patient_id": raw["pid"].astype(str),
            "time": raw["time"].astype(float),
            "event": raw["event"].astype(int),
            "age": raw["num_age"].astype(float),
            "grade": _factor(raw["fac_grade"]),
            "size_category": _factor(raw["fac_size"]),
            "node_status": _factor(raw["fac_node_status"]),
            "er": _factor(raw["fac_er_positive"]),
            "msk1": raw["num_HS_RPS6KA5"].astype(float),
        }
    ).reset_index(drop=True)
    return PublicCohort(
        name="gse1992",
        table=table,
        time_unit="months",
        endpoint="relapse-free survival (relapse at any site or death from disease)",
        study="GEO GSE1992; Hu et al., BMC Genomics 7:96 (2006); via SurvSet (survJamda.data)",
    )


PUBLIC_COHORTS["gse1992"] = load_gse1992
