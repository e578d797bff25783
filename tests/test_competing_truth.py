"""Known truth: competing risks on the synthetic cohort, whose cause-specific hazards are known
(msk1model.data.synthetic). Slow: 200,000 patients."""

from __future__ import annotations

import numpy as np
import pytest

from msk1model.data.synthetic import TRUE_BONE_LOG_HR, design_matrix, make_synthetic_cohort
from msk1model.evaluation.competing import aalen_johansen
from msk1model.models.competing_cif import cause_specific_cif
from msk1model.models.cox_newton import breslow_cumulative_hazard, fit_cox_newton

pytestmark = pytest.mark.slow

BONE, OTHER, DEATH = 2, 1, 3


@pytest.fixture(scope="module")
def cohort():
    table = make_synthetic_cohort(200_000, seed=11)
    X = design_matrix(table).to_numpy(dtype=float)
    return X, table["relapse_free_time"].to_numpy(float), table["event_type"].to_numpy(int)


def test_the_cause_specific_msk1_log_hr_for_bone_is_recovered(cohort) -> None:
    X, time, codes = cohort
    fit = fit_cox_newton(X, time, codes == BONE, ties="breslow")
    msk1 = list(TRUE_BONE_LOG_HR).index("msk1_in_er_pos")
    assert fit.coef[msk1] == pytest.approx(TRUE_BONE_LOG_HR["msk1_in_er_pos"], abs=0.05)


def test_the_cause_specific_bone_cif_is_calibrated_where_one_minus_km_overstates_it(
    cohort, record_property
) -> None:
    """Three cause-specific Cox models combined into the 5-year bone CIF: its mean over the
    patients against the Aalen-Johansen estimate (O/E within 1 +/- 0.05), and 1 - KM of bone
    with the competing events censored above both."""
    X, time, codes = cohort
    baselines, hazards = [], []
    for cause in (BONE, OTHER, DEATH):
        fit = fit_cox_newton(X, time, codes == cause, ties="breslow")
        eta = X @ fit.coef
        baselines.append(breslow_cumulative_hazard(eta, time, codes == cause))
        hazards.append(np.exp(eta))
    sample = np.random.default_rng(0).choice(len(time), 5000, replace=False)
    risk = cause_specific_cif(baselines, np.column_stack(hazards)[sample], 0, [5.0])
    observed = float(aalen_johansen(time, codes, BONE).at([5.0])[0])
    expected = float(risk.cif[:, 0].mean())
    bone = codes == BONE
    km = aalen_johansen(time, np.where(bone, 1, 0), 1)  # the others counted as censored
    naive = float(km.at([5.0])[0])
    record_property("bone_cif_5y_observed", observed)
    record_property("bone_cif_5y_expected", expected)
    record_property("bone_one_minus_km_5y", naive)
    assert observed / expected == pytest.approx(1.0, abs=0.05)
    assert naive > observed * 1.02  # 1 - KM overstates the incidence


def test_held_out_bone_cif_is_calibrated_and_discriminates(cohort, record_property) -> None:
    """Cause-specific Cox models fitted on 180,000 patients predict the 5-year bone CIF of
    20,000 others: O/E and the Fine-Gray calibration slope near 1, a small ICI; the AUC and
    Wolbers' C above chance. The same models read as if bone were the only event (1 - S of the
    bone model alone) overstate the risk: O/E below 1."""
    from msk1model.evaluation.competing_metrics import cif_auc, cif_calibration, wolbers_c

    X, time, codes = cohort
    held = np.zeros(len(time), bool)
    held[np.random.default_rng(1).choice(len(time), 20_000, replace=False)] = True
    baselines, hazards = [], []
    for cause in (BONE, OTHER, DEATH):
        fit = fit_cox_newton(X[~held], time[~held], codes[~held] == cause, ties="breslow")
        eta = X[~held] @ fit.coef
        baselines.append(breslow_cumulative_hazard(eta, time[~held], codes[~held] == cause))
        hazards.append(np.exp(X[held] @ fit.coef))
    risk = np.column_stack(hazards)
    cif = cause_specific_cif(baselines, risk, 0, [5.0]).cif[:, 0]
    event_type = np.select([codes[held] == BONE, codes[held] > 0], [1, 2], 0)
    calibration = cif_calibration(time[held], event_type, cif, 5.0)
    auc = cif_auc(time[held], event_type, cif, 5.0)
    c = wolbers_c(time[held], event_type, cif, 5.0)
    t_bone, h_bone = baselines[0]
    alone = 1 - np.exp(-h_bone[np.searchsorted(t_bone, 5.0, side="right") - 1] * risk[:, 0])
    naive_oe = calibration.observed / alone.mean()
    for name, value in [*calibration._asdict().items(), ("auc", auc), ("wolbers_c", c),
                        ("oe_of_one_minus_s", naive_oe)]:  # fmt: skip
        record_property(name, value)
    assert calibration.oe == pytest.approx(1.0, abs=0.05)
    assert calibration.slope == pytest.approx(1.0, abs=0.1)
    assert calibration.ici < 0.01
    assert auc > 0.65 and c > 0.65
    assert naive_oe < 0.97
