"""Recalibration of a validated model (issue 15, item 2): msk1model.recalibration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sksurv.linear_model import CoxPHSurvivalAnalysis

from msk1model.data.synthetic import (
    TRUE_LOG_HR,
    WEIBULL_SCALE,
    WEIBULL_SHAPE,
    design_matrix,
    make_synthetic_cohort,
)
from msk1model.evaluation.calibration import calibration_in_the_large
from msk1model.outcome import make_y
from msk1model.predictor import (
    RECALIBRATION_GRID,
    PredictorSpec,
    RecalibratedModel,
    Recalibration,
)
from msk1model.recalibration import cox_slope, fit_recalibration


def _true(n: int, seed: int, ratio: float = 1.0):
    """A synthetic cohort, its true linear predictor and true 5-year survival (ratio 1)."""
    table = make_synthetic_cohort(n, seed=seed, baseline_hazard_ratio=ratio)
    lp = design_matrix(table).to_numpy() @ np.array(list(TRUE_LOG_HR.values()))
    y = make_y(time=table["time"], event=table["event"])
    s5 = np.exp(-((5.0 / WEIBULL_SCALE) ** WEIBULL_SHAPE) * np.exp(lp))
    return y, lp, s5


def test_the_slope_is_the_breslow_cox_coefficient_of_scikit_survival() -> None:
    y, lp, _ = _true(1500, seed=4)
    score = 0.6 * lp + 0.2  # a too modest score: its slope is about 1 / 0.6
    fitted = CoxPHSurvivalAnalysis(ties="breslow").fit(score[:, None], y_sk(y)).coef_[0]
    assert cox_slope(y, score) == pytest.approx(fitted, abs=1e-6)
    assert cox_slope(y, score) == pytest.approx(1 / 0.6, abs=0.15)


def y_sk(y: np.ndarray) -> np.ndarray:
    out = np.empty(len(y), dtype=[("event", bool), ("time", float)])
    out["event"], out["time"] = y["event"].astype(bool), y["time"]
    return out


def test_the_baseline_is_breslow_written_out_and_read_on_the_grid() -> None:
    y, lp, _ = _true(400, seed=5)
    rec = fit_recalibration(y, lp, "baseline", parent="m/1", cohort="abc")
    assert rec.slope == 1.0 and (rec.parent, rec.cohort) == ("m/1", "abc")
    t, e = y["time"], y["event"].astype(bool)
    for at in (1.0, 2.5, 5.0):
        expected = sum(
            1.0 / np.exp(lp[t >= ti]).sum() for ti in t[e] if ti <= at
        )  # Breslow, one term per event (ties share their risk set)
        assert rec.baseline(np.array([at]))[0] == pytest.approx(expected, rel=1e-10)
    # between grid points H0 is that of the grid point below: no patient's own time is stored
    assert all(abs(x / RECALIBRATION_GRID - round(x / RECALIBRATION_GRID)) < 1e-6
               for x in rec.times)  # fmt: skip
    model = RecalibratedModel(_Fixed(lp), rec)
    surv = model.predict_survival_function(pd.DataFrame({"lp": lp}), np.array([5.0]))
    np.testing.assert_allclose(surv[:, 0], np.exp(-rec.baseline(np.array([5.0]))[0] * np.exp(lp)))


class _Fixed:
    """A 'model' whose risk score is a given column."""

    def __init__(self, lp: np.ndarray) -> None:
        self.lp = lp
        self.features_ = ["lp"]

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return X["lp"].to_numpy()


def test_a_new_baseline_restores_calibration_in_the_large_after_a_baseline_shift() -> None:
    y, lp, s5 = _true(4000, seed=6, ratio=2.0)  # the truth's baseline hazard doubled
    before = calibration_in_the_large(y, s5, 5.0).oe_ratio
    expected = np.mean(1 - s5**2) / np.mean(1 - s5)  # what the doubled hazard does to O/E
    assert before == pytest.approx(expected, rel=0.05)
    rec = fit_recalibration(y, lp, "baseline", parent="m/1", cohort="abc")
    after = RecalibratedModel(_Fixed(lp), rec).predict_survival_function(
        pd.DataFrame({"lp": lp}), np.array([5.0])
    )[:, 0]
    assert calibration_in_the_large(y, after, 5.0).oe_ratio == pytest.approx(1.0, abs=0.02)


def test_a_recalibration_survives_the_predictor_state() -> None:
    rec = Recalibration("slope", 0.8, (0.0, 0.5, 1.0), (0.0, 0.01, 0.03), "m/2", "f00")
    state = {"format": 1, "horizons": [5.0], "max_horizon": 8.0,
             "risk_groups": {"on": "risk_score", "cuts": [0.0], "labels": ["low", "high"]},
             "contract": {"rules": [], "margin": 0.25, "outside_training_range": "refuse"},
             "meta": {}, "recalibration": rec.to_state()}  # fmt: skip
    spec = PredictorSpec.from_state(state)
    assert spec.recalibration == rec and spec.development is None
    assert PredictorSpec.from_state(spec.to_state()) == spec
    del state["recalibration"]  # a predictor exported before recalibration existed
    assert PredictorSpec.from_state(state).recalibration is None
