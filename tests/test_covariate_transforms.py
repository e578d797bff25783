"""Covariate transforms learned on training rows: caps at training quantiles and restricted cubic
splines of numeric covariates, checked against independent formulas and lifelines."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter

from msk1model.config import load_config
from msk1model.data.synthetic import make_synthetic_cohort
from msk1model.errors import ConfigError, ModelError
from msk1model.models import Design, DesignSpec, make_model
from msk1model.models.design import CovariateSpec
from msk1model.outcome import make_y
from msk1model.pipeline import design_spec

from .conftest import DEFAULT_CONFIG

FEATURES = ["age", "size", "grade", "nodes", "pr", "msk1"]
#: Harrell's default quantiles for 4 knots (Regression Modeling Strategies, table 2.3).
FOUR_KNOT_QUANTILES = [0.05, 0.35, 0.65, 0.95]


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    """1500 synthetic patients; nodes and size have a few missing values among the training rows."""
    frame = make_synthetic_cohort(1500, seed=7).astype({"nodes": float, "grade": float})
    frame.loc[[3, 40, 77], "nodes"] = np.nan
    frame.loc[[5, 41], "size"] = np.nan
    return frame


@pytest.fixture(scope="module")
def train(cohort: pd.DataFrame) -> pd.DataFrame:
    return cohort.iloc[:1000]


@pytest.fixture(scope="module")
def test(cohort: pd.DataFrame) -> pd.DataFrame:
    return cohort.iloc[1000:]


def harrell_rcs(x: np.ndarray, knots: list[float]) -> np.ndarray:
    """Harrell's restricted cubic spline (``Hmisc::rcspline.eval``, ``inclx=TRUE``, ``norm=2``)
    written out term by term: x, then for j = 1..k-2
    ``[(x-t_j)+^3 - (x-t_{k-1})+^3 (t_k-t_j)/(t_k-t_{k-1}) + (x-t_k)+^3 (t_{k-1}-t_j)/(t_k-t_{k-1})]
    / (t_k - t_1)^2``."""
    t = [float(v) for v in knots]
    k = len(t)

    def plus_cubed(u: np.ndarray) -> np.ndarray:
        return np.where(u > 0, u, 0.0) ** 3

    columns = [x]
    for j in range(k - 2):
        term = (
            plus_cubed(x - t[j])
            - plus_cubed(x - t[k - 2]) * (t[k - 1] - t[j]) / (t[k - 1] - t[k - 2])
            + plus_cubed(x - t[k - 1]) * (t[k - 2] - t[j]) / (t[k - 1] - t[k - 2])
        )
        columns.append(np.where(np.isnan(x), np.nan, term) / (t[k - 1] - t[0]) ** 2)
    return np.column_stack(columns)


def cox_log_partial_likelihood(eta: np.ndarray, time: np.ndarray, event: np.ndarray) -> float:
    """sum over events i of eta_i - log sum_{t_j >= t_i} exp(eta_j) (no tied event times)."""
    return float(
        sum(eta[i] - np.log(np.exp(eta[time >= time[i]]).sum()) for i in np.flatnonzero(event))
    )


def spec(**forms: dict[str, Any]) -> DesignSpec:
    covariates = tuple(CovariateSpec(column, **form) for column, form in forms.items())
    return DesignSpec("msk1", categorical=("grade",), covariate_transforms=covariates)


# -- caps -------------------------------------------------------------------------------------


def test_cap_is_np_clip_at_the_training_nanquantiles(train, test) -> None:
    design = Design(FEATURES, spec(nodes={"cap": (None, 0.99)}, size={"cap": (0.01, 0.99)}))
    out = design.fit(train).transform(test)
    high = np.nanquantile(train["nodes"].to_numpy(), 0.99)
    low_s, high_s = np.nanquantile(train["size"].to_numpy(), [0.01, 0.99])
    np.testing.assert_array_equal(out["nodes"], np.clip(test["nodes"].to_numpy(), None, high))
    np.testing.assert_array_equal(out["size"], np.clip(test["size"].to_numpy(), low_s, high_s))
    assert design.caps_ == {"nodes": (None, high), "size": (low_s, high_s)}
    assert design.columns_ == ["age", "size", "grade=2", "grade=3", "nodes", "pr", "msk1"]


def test_cap_is_learned_on_training_rows_only(train) -> None:
    design = Design(FEATURES, spec(nodes={"cap": (0.01, 0.99)})).fit(train)
    low, high = np.nanquantile(train["nodes"].to_numpy(), [0.01, 0.99])
    rows = train.iloc[:3].assign(nodes=[1000.0, -5.0, np.nan])
    out = design.transform(rows)["nodes"].to_numpy()
    assert out[0] == high < 1000.0  # the training 99th percentile, not this row's value
    assert out[1] == low
    assert np.isnan(out[2])  # missing stays missing (the preprocessor imputes it)


def test_missing_training_values_are_ignored_and_stay_nan(train) -> None:
    design = Design(FEATURES, spec(size={"cap": (None, 0.9), "spline_knots": 3})).fit(train)
    out = design.transform(train)
    missing = train["size"].isna().to_numpy()
    assert missing.sum() == 2
    assert out.loc[missing, ["size", "size'"]].isna().all().all()
    assert out.loc[~missing, ["size", "size'"]].notna().all().all()


# -- splines ----------------------------------------------------------------------------------


def test_spline_at_given_knots_is_harrells_formula(train, test) -> None:
    knots = [45.0, 55.0, 62.0, 70.0]
    design = Design(FEATURES, spec(age={"spline_knots": knots})).fit(train)
    out = design.transform(test)
    expected = harrell_rcs(test["age"].to_numpy(), knots)
    np.testing.assert_allclose(out[["age", "age'", "age''"]], expected, rtol=0, atol=1e-12)
    assert design.columns_[:3] == ["age", "age'", "age''"]
    assert design.sources_[:3] == ["age", "age", "age"]


def test_knot_count_places_knots_at_harrells_quantiles_of_capped_training_values(
    train, test
) -> None:
    form = {"cap": (0.01, 0.99), "spline_knots": 4}
    design = Design(FEATURES, spec(age=form)).fit(train)
    age = train["age"].to_numpy()
    capped = np.clip(age, *np.nanquantile(age, [0.01, 0.99]))
    knots = np.quantile(capped, FOUR_KNOT_QUANTILES)
    np.testing.assert_allclose(design.covariate_knots_["age"], knots, rtol=0, atol=1e-12)
    test_age = np.clip(test["age"].to_numpy(), *np.nanquantile(age, [0.01, 0.99]))
    expected = harrell_rcs(test_age, list(knots))
    out = design.transform(test)[["age", "age'", "age''"]]
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-12)


def test_coxph_with_an_age_spline_matches_lifelines_log_partial_likelihood(train) -> None:
    rows = train.dropna(subset=["size", "nodes"]).reset_index(drop=True)
    features = ["age", "size", "nodes", "msk1"]
    model = make_model("coxph", features=features, design=spec(age={"spline_knots": 4}))
    time, event = rows["time"].to_numpy(float), rows["event"].to_numpy(bool)
    model.fit(rows, make_y(time=time, event=event))
    assert not pd.Series(time[event]).duplicated().any()  # Breslow = Efron: no tied events

    knots = list(np.quantile(rows["age"].to_numpy(), FOUR_KNOT_QUANTILES))
    columns = ["age", "age'", "age''"]
    explicit = pd.DataFrame(harrell_rcs(rows["age"].to_numpy(), knots), columns=columns)
    explicit[["size", "nodes", "msk1"]] = rows[["size", "nodes", "msk1"]]
    fitter = CoxPHFitter().fit(explicit.assign(time=time, event=event.astype(int)), "time", "event")

    ours = cox_log_partial_likelihood(model.predict(rows), time, event)
    assert ours == pytest.approx(fitter.log_likelihood_, abs=1e-6)
    summary = model.summary()  # type: ignore[attr-defined]
    assert list(summary.index) == list(explicit.columns)
    np.testing.assert_allclose(summary["coef"], fitter.params_[summary.index], atol=1e-5)


def test_coxnet_leaves_every_spline_column_of_an_unpenalized_covariate_unpenalized(train) -> None:
    rows = train.dropna(subset=["size", "nodes"]).reset_index(drop=True)
    y = make_y(time=rows["time"].to_numpy(float), event=rows["event"].to_numpy(bool))
    model = make_model(
        "coxnet",
        {"alpha": 0.05, "unpenalized": ["age"]},
        features=["age", "size", "nodes", "msk1"],
        design=spec(age={"spline_knots": 3}),
    ).fit(rows, y)
    assert model.design_columns[:2] == ["age", "age'"]
    assert model.design_.sources_[:2] == ["age", "age"]


# -- state ------------------------------------------------------------------------------------


def test_fitted_state_round_trips_through_json_with_identical_output(train, test) -> None:
    forms = {
        "age": {"cap": (0.01, None), "spline_knots": 5},
        "nodes": {"cap": (None, 0.99)},
        "size": {"spline_knots": [10.0, 20.0, 35.0]},
    }
    design = Design(FEATURES, spec(**forms)).fit(train)
    restored = Design.from_state(json.loads(json.dumps(design.to_state())))
    pd.testing.assert_frame_equal(restored.transform(test), design.transform(test), rtol=0)
    assert restored.spec == design.spec
    assert (restored.columns_, restored.sources_) == (design.columns_, design.sources_)
    assert DesignSpec.from_state(json.loads(json.dumps(design.spec.to_state()))) == design.spec


def test_model_state_round_trips_with_covariate_transforms(train, test) -> None:
    rows = train.dropna(subset=["size", "nodes"]).reset_index(drop=True)
    y = make_y(time=rows["time"].to_numpy(float), event=rows["event"].to_numpy(bool))
    design = spec(age={"spline_knots": 3}, nodes={"cap": (None, 0.95)})
    model = make_model("coxph", features=FEATURES, design=design).fit(rows, y)
    restored = type(model).from_state(json.loads(json.dumps(model.to_state())))
    np.testing.assert_array_equal(restored.predict(test), model.predict(test))


def test_states_without_covariate_transforms_keep_their_old_layout(train) -> None:
    plain = DesignSpec("msk1", spline_knots=3, categorical=("grade",))
    state = plain.to_state()
    assert "covariate_transforms" not in state  # tuning studies compare this state
    assert DesignSpec.from_state(state) == plain
    design = Design(FEATURES, plain).fit(train)
    old = design.to_state()
    assert "covariates" not in old
    restored = Design.from_state(old)
    assert (restored.caps_, restored.covariate_knots_) == ({}, {})
    pd.testing.assert_frame_equal(restored.transform(train), design.transform(train))


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"cap": (0.0, 0.99)}, r"covariate_transforms\.age\.cap must be \(low, high\) quantiles"),
        ({"cap": (0.9, 0.1)}, r"low < high"),
        ({"cap": (None, None)}, r"not both"),
        ({"spline_knots": 8}, r"covariate_transforms\.age\.spline_knots must be one of"),
        ({"spline_knots": [50.0, 40.0, 60.0]}, r"at least 3 increasing knots"),
        ({"spline_knots": [40.0, 50.0]}, r"at least 3 increasing knots"),
    ],
)
def test_invalid_covariate_spec_is_a_model_error(form: dict[str, Any], message: str) -> None:
    with pytest.raises(ModelError, match=message):
        CovariateSpec("age", **form)


@pytest.mark.parametrize("column", ["grade", "msk1"])
def test_design_refuses_transforms_of_categories_and_the_biomarker(column: str) -> None:
    with pytest.raises(ModelError, match=rf"apply to numeric covariates, but \['{column}'\]"):
        Design(FEATURES, spec(**{column: {"cap": (None, 0.99)}}))


def test_tied_quantile_knots_name_the_fix(train) -> None:
    with pytest.raises(ModelError, match=r"distinct knots.*Fix: fewer spline_knots, or list"):
        Design(FEATURES, spec(nodes={"spline_knots": 3})).fit(train)  # mostly 0 nodes


def test_config_section_reaches_the_design_spec() -> None:
    config = load_config(
        DEFAULT_CONFIG,
        [
            "covariate_transforms.nodes.cap=[null, 0.99]",
            "covariate_transforms.age.spline_knots=4",
            "covariate_transforms.size={cap: [0.01, 0.99], spline_knots: [10, 20, 40]}",
        ],
    )
    design = design_spec(config, SimpleNamespace(biomarker="msk1"))  # type: ignore[arg-type]
    assert design.covariate_transforms == (
        CovariateSpec("nodes", cap=(None, 0.99)),
        CovariateSpec("age", spline_knots=4),
        CovariateSpec("size", cap=(0.01, 0.99), spline_knots=(10.0, 20.0, 40.0)),
    )
    assert load_config(DEFAULT_CONFIG).covariate_transforms == {}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "covariate_transforms.msk1.cap=[null, 0.99]",
            r"names the biomarker 'msk1'; its form is set under biomarker:",
        ),
        (
            "covariate_transforms.agee.spline_knots=4",
            r"'agee', which is not in data.covariates .*did you mean 'age'.*Fix: add it",
        ),
        (
            "covariate_transforms.age.spline_knot=4",
            r"'covariate_transforms\.age\.spline_knot' is not allowed.*did you mean 'spline_knots'",
        ),
        (
            "covariate_transforms.nodes.cap=[0, 0.99]",
            r"covariate_transforms\.nodes\.cap'.*strictly between 0 and 1, but got \[0\.0\]",
        ),
        ("covariate_transforms.nodes.cap=[0.9, 0.1]", r"`low < high`.*\(low=0\.9, high=0\.1\)"),
        ("covariate_transforms.nodes.cap=[null, null]", r"at least one quantile"),
        ("covariate_transforms.age.spline_knots=8", r"as a count must be 3\.\.7.*got 8"),
        (
            "covariate_transforms.age.spline_knots=[50, 40, 60]",
            r"at least 3 strictly increasing knots, but got \[50\.0, 40\.0, 60\.0\]",
        ),
        ("covariate_transforms.age={}", r"needs cap or spline_knots, but has neither"),
    ],
)
def test_config_errors_name_key_rule_value_and_fix(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(DEFAULT_CONFIG, [override])


def test_config_refuses_a_transform_of_a_categorical_covariate() -> None:
    with pytest.raises(ConfigError, match=r"'grade', which is in data\.categorical.*Fix: remove"):
        load_config(
            DEFAULT_CONFIG,
            ["data.categorical=[grade]", "covariate_transforms.grade.cap=[null, 0.99]"],
        )
