"""Cumulative incidence from cause-specific hazards (msk1model.models.competing_cif)."""

from __future__ import annotations

import numpy as np
import pytest

from msk1model.evaluation.competing import aalen_johansen
from msk1model.models.competing_cif import cause_specific_cif
from msk1model.models.cox_newton import breslow_cumulative_hazard


def _cohort(seed: int, n: int = 500) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    time = np.round(rng.exponential(4.0, n), 1) + 0.1  # tied times of every kind
    return time, rng.choice([0, 1, 2, 3], size=n, p=[0.3, 0.3, 0.25, 0.15])


def test_nelson_aalen_baselines_without_covariates_give_aalen_johansen() -> None:
    time, codes = _cohort(0)
    baselines = [
        breslow_cumulative_hazard(np.zeros(len(time)), time, codes == k) for k in (1, 2, 3)
    ]
    at = np.linspace(0.0, 12.0, 49)
    risk = cause_specific_cif(baselines, np.ones((1, 3)), 1, at)
    np.testing.assert_allclose(risk.cif[0], aalen_johansen(time, codes, 2).at(at), atol=1e-12)
    km = aalen_johansen(time, codes, 2)
    free = np.r_[1.0, km.event_free][np.searchsorted(km.time, at, side="right")]
    np.testing.assert_allclose(risk.event_free[0], free, atol=1e-12)


def test_each_patient_equals_the_sum_written_out() -> None:
    rng = np.random.default_rng(3)
    baselines = [
        (np.sort(rng.uniform(0, 10, m)), np.cumsum(rng.uniform(0.001, 0.02, m))) for m in (40, 25)
    ]
    r = np.exp(rng.normal(0, 0.7, size=(2500, 2)))  # more patients than one block
    at = np.array([0.0, 1.0, 2.5, 5.0, 9.0])
    ours = cause_specific_cif(baselines, r, 0, at)
    for i in (0, 1, 1500, 2499):
        grid = np.unique(np.concatenate([b[0] for b in baselines]))
        steps = [dict(zip(t, np.diff(np.r_[0.0, h]), strict=True)) for t, h in baselines]
        s, f, expected_f, expected_s = 1.0, 0.0, [], []
        for u in grid:
            d0, d1 = steps[0].get(u, 0.0) * r[i, 0], steps[1].get(u, 0.0) * r[i, 1]
            f += s * d0
            s *= 1.0 - d0 - d1
            expected_f.append(f)
            expected_s.append(s)
        index = np.searchsorted(grid, at, side="right") - 1
        np.testing.assert_allclose(
            ours.cif[i], np.where(index >= 0, np.array(expected_f)[index], 0.0), rtol=1e-12
        )
        np.testing.assert_allclose(
            ours.event_free[i], np.where(index >= 0, np.array(expected_s)[index], 1.0), rtol=1e-12
        )


def test_a_mismatched_number_of_causes_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="relative_hazards has 3 columns, but there are 2 causes"):
        cause_specific_cif([([1.0], [0.1]), ([2.0], [0.2])], np.ones((4, 3)), 0, [1.0])
