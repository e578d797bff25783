"""The random survival forest reproduces scikit-survival and is saved as data, without pickle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sksurv.ensemble import RandomSurvivalForest

from msk1model.data.synthetic import make_synthetic_cohort
from msk1model.models import load_model, make_model, save_model
from msk1model.models._state import decode_array
from msk1model.models.rsf import RandomSurvivalForestModel, SurvivalForest
from msk1model.outcome import make_y

FEATURES = ["age", "size", "grade", "nodes", "pr", "msk1"]
PARAMS = {"n_estimators": 25}
SEED = 5


@pytest.fixture(scope="module")
def fitted() -> tuple[RandomSurvivalForestModel, RandomSurvivalForest, pd.DataFrame, np.ndarray]:
    """Our model and scikit-survival's forest fitted on the same ``Z`` and seed (n = 500)."""
    cohort = make_synthetic_cohort(500, seed=31)
    y = make_y(time=cohort["time"], event=cohort["event"])
    model = make_model("rsf", PARAMS, features=FEATURES, random_state=SEED).fit(cohort, y)
    assert isinstance(model, RandomSurvivalForestModel)
    Z = model._matrix(cohort)
    reference = RandomSurvivalForest(
        n_estimators=25,
        min_samples_leaf=15,
        min_samples_split=10,
        max_features="sqrt",
        max_depth=None,
        random_state=SEED,
    ).fit(Z, y)
    return model, reference, cohort, Z


def test_risk_is_scikit_survival_predict(fitted) -> None:
    model, reference, cohort, Z = fitted
    np.testing.assert_allclose(model.predict(cohort), reference.predict(Z), rtol=0, atol=1e-10)


def test_cumulative_hazard_is_scikit_survival_ensemble_chf(fitted) -> None:
    model, reference, cohort, Z = fitted
    times = reference.unique_times_
    expected = reference.predict_cumulative_hazard_function(Z, return_array=True)
    np.testing.assert_allclose(
        model.predict_cumulative_hazard(cohort, times), expected, rtol=0, atol=1e-10
    )


def test_cumulative_hazard_is_a_step_function_between_grid_times(fitted) -> None:
    model, reference, cohort, Z = fitted
    grid = reference.unique_times_
    expected = reference.predict_cumulative_hazard_function(Z, return_array=True)
    between = (grid[:-1] + grid[1:]) / 2  # holds the value of the time to its left
    np.testing.assert_allclose(
        model.predict_cumulative_hazard(cohort, between), expected[:, :-1], rtol=0, atol=1e-10
    )
    outside = model.predict_cumulative_hazard(cohort, [0.0, grid[0] / 2, grid[-1] + 5.0])
    np.testing.assert_array_equal(outside[:, :2], 0.0)  # before the first training time
    np.testing.assert_allclose(outside[:, 2], expected[:, -1], rtol=0, atol=1e-10)


def test_survival_is_exp_of_minus_ensemble_chf_close_to_mean_kaplan_meier(fitted) -> None:
    """S = exp(-H) by the package contract; scikit-survival's averaged per-tree Kaplan-Meier
    curves differ from it by a few hundredths at most (0.036 at 5 y here, measured; exp(-H) is 0.006
    lower on average)."""
    model, reference, cohort, Z = fitted
    times = reference.unique_times_
    chf = reference.predict_cumulative_hazard_function(Z, return_array=True)
    surv = model.predict_survival_function(cohort, times)
    np.testing.assert_allclose(surv, np.exp(-chf), rtol=0, atol=1e-10)
    five = np.searchsorted(times, 5.0, side="right") - 1
    mean_km = reference.predict_survival_function(Z, return_array=True)[:, five]
    assert np.abs(surv[:, five] - mean_km).max() < 0.05


def test_save_load_round_trip_is_exact_and_has_no_pickle(fitted, tmp_path: Path) -> None:
    model, reference, cohort, _ = fitted
    save_model(model, tmp_path)
    for path in tmp_path.iterdir():
        assert not path.read_bytes().startswith(b"\x80"), f"{path.name} is a pickle"
    assert [p.name for p in tmp_path.iterdir()] == ["model.json"]
    forest = json.loads((tmp_path / "model.json").read_text(encoding="utf-8"))["learned"]["forest"]
    assert sorted(forest) == sorted(model.forest_.arrays)
    for name, encoded in forest.items():  # dtype, shape and bytes come back exactly
        decoded, original = decode_array(encoded), model.forest_.arrays[name]
        assert decoded.dtype == original.dtype != object
        np.testing.assert_array_equal(decoded, original, strict=True)
    loaded = load_model(tmp_path)
    times = np.concatenate([[0.0, 2.5, 5.0], reference.unique_times_])
    np.testing.assert_array_equal(loaded.predict(cohort), model.predict(cohort))
    np.testing.assert_array_equal(
        loaded.predict_cumulative_hazard(cohort, times),
        model.predict_cumulative_hazard(cohort, times),
    )
    np.testing.assert_array_equal(
        loaded.predict_survival_function(cohort, times),
        model.predict_survival_function(cohort, times),
    )


def test_leaves_store_only_their_changes(fitted) -> None:
    """The saved forest holds far fewer CHF values than scikit-survival's dense node arrays
    (3,187 against 203,310 here, measured)."""
    model, reference, _, _ = fitted
    dense = sum(e.tree_.value[:, :, 0].size for e in reference.estimators_)
    assert model.forest_.arrays["chf_value"].size < dense / 20


def test_forest_state_round_trip_is_exact(fitted) -> None:
    model, _, _, Z = fitted
    again = SurvivalForest.from_state(json.loads(json.dumps(model.forest_.to_state())))
    times = np.array([0.0, 1.0, 2.5, 5.0, 10.0])
    np.testing.assert_array_equal(again.risk(Z), model.forest_.risk(Z))
    np.testing.assert_array_equal(
        again.cumulative_hazard(Z, times), model.forest_.cumulative_hazard(Z, times)
    )
