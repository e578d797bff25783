"""Every test-set metric of a competing-risks model, as rows of a score table (stage
``competing``).

Metrics (:mod:`msk1model.scores` names; ``H`` a configured horizon): at each ``H`` the
cause-specific ``cif_auc``, the Brier score ``cif_brier`` and ``cif_ipa`` of the predicted
cumulative incidence (the null model: the training part's Aalen-Johansen CIF), its calibration
``cif_observed`` (Aalen-Johansen on the test part), ``cif_expected`` (mean prediction),
``cif_oe``, ``cif_slope``, ``cif_ici``, ``cif_e50`` and ``cif_e90``; and ``wolbers_c``, Wolbers'
concordance of the predicted CIF at the last horizon, truncated at ``tau``. The censoring
distribution is the training part's, as for the single-event metrics. An undefined metric is NaN
with a :class:`~msk1model.errors.ScorecardWarning`; a horizon beyond the follow-up is clipped and
keeps its configured value in the table.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from msk1model.evaluation.competing import aalen_johansen
from msk1model.evaluation.competing_metrics import (
    cif_auc,
    cif_brier,
    cif_calibration,
    cif_ipa,
    wolbers_c,
)
from msk1model.evaluation.horizons import clip_horizons
from msk1model.evaluation.scorecard import _safe, _safe_call
from msk1model.models import CompetingRisksModel
from msk1model.outcome import make_y
from msk1model.scores import horizon_label, score_frame

__all__ = ["COMPETING_STAGE", "score_competing"]

#: The stage of the competing-risk metrics of the test part.
COMPETING_STAGE = "competing"


def score_competing(
    model: CompetingRisksModel,
    X_test: pd.DataFrame,
    time_test: np.ndarray,
    type_test: np.ndarray,
    *,
    time_train: np.ndarray,
    type_train: np.ndarray,
    horizons: list[float],
    tau: float,
) -> pd.DataFrame:
    """Discrimination, accuracy and calibration of the predicted CIF on the test part.

    ``type_*``: 0 censored, 1 the cause, 2 competing (:attr:`Cohort.event_type`).
    """
    y_test = make_y(time=time_test, event=type_test > 0)
    y_train = make_y(time=time_train, event=type_train > 0)
    clipped = [float(h) for h in clip_horizons(horizons, y_test, y_train)]
    cif = model.predict_cif(X_test, clipped)
    censoring = (time_train, type_train)
    null = aalen_johansen(time_train, type_train, 1).at(clipped)
    rows: list[dict[str, Any]] = []
    for j, (configured, h) in enumerate(zip(horizons, clipped, strict=True)):
        label = horizon_label(configured)
        f = cif[:, j]
        values = {
            "cif_auc": _safe(
                f"cif_auc at {label}",
                partial(cif_auc, time_test, type_test, f, h, censoring=censoring),
            ),
            "cif_brier": _safe(
                f"cif_brier at {label}",
                partial(cif_brier, time_test, type_test, f, h, censoring=censoring),
            ),
            "cif_ipa": _safe(
                f"cif_ipa at {label}",
                partial(cif_ipa, time_test, type_test, f, float(null[j]), h, censoring=censoring),
            ),
        }
        calibration = _safe_call(
            partial(cif_calibration, time_test, type_test, f, h), f"cif calibration {label}"
        )
        for name in ("observed", "expected", "oe", "slope", "ici", "e50", "e90"):
            value = float("nan") if calibration is None else getattr(calibration, name)
            values[f"cif_{name}"] = float(value)
        rows += [{"metric": k, "horizon": configured, "value": v} for k, v in values.items()]
    last = cif[:, int(np.argmax(clipped))]
    concordance = partial(wolbers_c, time_test, type_test, last, tau, censoring=censoring)
    rows.append({"metric": "wolbers_c", "value": _safe("wolbers_c", concordance)})
    return score_frame({"stage": COMPETING_STAGE, **row} for row in rows)
