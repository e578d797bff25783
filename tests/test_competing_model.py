"""The competing-risks pair (msk1model.models.competing): CIF from its two models' hazards,
its state round trip, and its grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from msk1model.data.synthetic import make_synthetic_cohort
from msk1model.errors import ModelError
from msk1model.models import CompetingRisksModel, load_model, make_model, save_model
from msk1model.models.competing import event_grid
from msk1model.models.competing_cif import cause_specific_cif

FEATURES = ["age", "nodes", "er", "msk1"]


@pytest.fixture(scope="module")
def pair():
    table = make_synthetic_cohort(3000, seed=8)
    codes = np.select([table["event_type"] == 2, table["event_type"] > 0], [1, 2], 0)
    model = CompetingRisksModel.fit_pair(
        make_model("coxph", features=FEATURES),
        make_model("coxph", features=FEATURES),
        table,
        table["relapse_free_time"],
        codes,
    )
    return model, table, codes


def test_the_cif_combines_the_two_breslow_hazards(pair) -> None:
    model, table, codes = pair
    assert model.grid.size == np.unique(table["relapse_free_time"][codes > 0]).size  # no thinning
    at = [1.0, 3.0, 5.0, 9.5]
    baselines = [(m.baseline_.times_, m.baseline_.cumhaz_) for m in (model.cause, model.competing)]
    hazards = np.exp(np.column_stack([model.cause.predict(table), model.competing.predict(table)]))
    expected = cause_specific_cif(baselines, hazards, 0, at)
    np.testing.assert_allclose(model.predict_cif(table, at), expected.cif, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(model.predict_event_free(table, at), expected.event_free, rtol=1e-10)
    np.testing.assert_array_equal(model.predict(table), model.cause.predict(table))


def test_the_state_round_trip_predicts_the_same(pair, tmp_path: Path) -> None:
    model, table, _ = pair
    loaded = load_model(save_model(model, tmp_path / "m"))
    assert isinstance(loaded, CompetingRisksModel)
    at = [2.0, 5.0]
    np.testing.assert_array_equal(loaded.predict_cif(table, at), model.predict_cif(table, at))
    np.testing.assert_array_equal(loaded.predict(table), model.predict(table))


def test_the_grid_is_thinned_by_quantiles_above_its_limit() -> None:
    times = np.arange(1.0, 10_001.0)
    grid = event_grid(times, max_points=101)
    np.testing.assert_allclose(grid, np.linspace(1.0, 10_000.0, 101))
    np.testing.assert_array_equal(event_grid([3.0, 1.0, 3.0]), [1.0, 3.0])


def test_no_competing_event_is_a_clear_error(pair) -> None:
    _, table, codes = pair
    with pytest.raises(ModelError, match=r"needs competing events \(type 2\) in the training part"):
        CompetingRisksModel.fit_pair(
            make_model("coxph", features=FEATURES),
            make_model("coxph", features=FEATURES),
            table,
            table["relapse_free_time"],
            np.where(codes == 2, 0, codes),
        )
