"""Feature encoding inside the model: categories, biomarker transforms, splines, interaction;
numerical-robustness warnings; coxnet's alpha along the regularisation path."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from sklearn.model_selection import StratifiedKFold
from sksurv.linear_model import CoxnetSurvivalAnalysis

from msk1model.data.synthetic import make_synthetic_cohort
from msk1model.errors import ModelError
from msk1model.models import (
    Design,
    DesignSpec,
    DesignWarning,
    NumericalWarning,
    load_model,
    make_model,
    save_model,
)
from msk1model.models.partial_likelihood import cox_partial_log_likelihood
from msk1model.outcome import make_y
from msk1model.splines import rcs_basis

CLINICAL = ["age", "size", "grade", "nodes", "pr"]


@pytest.fixture(scope="module")
def er_pos() -> pd.DataFrame:
    cohort = make_synthetic_cohort(2000, seed=7)
    return cohort[cohort["er"] == 1].reset_index(drop=True)


def _y(frame: pd.DataFrame) -> np.ndarray:
    return make_y(time=frame["time"].to_numpy(float), event=frame["event"].to_numpy(bool))


def _lifelines(frame: pd.DataFrame, design: pd.DataFrame) -> pd.DataFrame:
    data = design.assign(time=frame["time"], event=frame["event"].astype(int))
    return CoxPHFitter().fit(data, "time", "event").summary


def _assert_coxph_equals_lifelines(model, frame: pd.DataFrame, design: pd.DataFrame) -> None:
    ours, theirs = model.summary(), _lifelines(frame, design)
    assert list(ours.index) == list(design.columns)
    np.testing.assert_allclose(ours["coef"], theirs["coef"], atol=1e-4)
    np.testing.assert_allclose(ours["se"], theirs["se(coef)"], atol=1e-4)


def test_default_design_passes_features_through(er_pos) -> None:
    design = Design([*CLINICAL, "msk1"]).fit(er_pos)
    assert design.columns_ == [*CLINICAL, "msk1"]
    expected = er_pos[[*CLINICAL, "msk1"]].astype(float)
    pd.testing.assert_frame_equal(design.transform(er_pos), expected)


def test_categorical_grade_is_indicators_against_the_first_level(er_pos) -> None:
    spec = DesignSpec(categorical=("grade",))
    model = make_model("coxph", features=CLINICAL, design=spec).fit(er_pos, _y(er_pos))
    dummies = pd.get_dummies(er_pos["grade"].astype(int), prefix="grade", prefix_sep="=")
    expected = pd.concat(
        [er_pos[["age", "size"]], dummies[["grade=2", "grade=3"]].astype(float)], axis=1
    ).join(er_pos[["nodes", "pr"]])
    _assert_coxph_equals_lifelines(model, er_pos, expected)


def test_text_categories_missing_and_unseen_levels() -> None:
    train = pd.DataFrame({"stage": ["II", "I", "III", None, "II"], "age": [50.0, 60, 70, 55, 65]})
    design = Design(["stage", "age"], DesignSpec(categorical=("stage",))).fit(train)
    assert design.levels_ == {"stage": ["I", "II", "III"]}
    assert design.columns_ == ["stage=II", "stage=III", "age"]
    out = design.transform(train)
    np.testing.assert_array_equal(out["stage=II"], [1, 0, 0, np.nan, 1])
    np.testing.assert_array_equal(out["stage=III"], [0, 0, 1, np.nan, 0])
    with pytest.warns(DesignWarning, match=r"'stage' holds level\(s\) \['IV'\] not seen"):
        unseen = design.transform(pd.DataFrame({"stage": ["IV"], "age": [40.0]}))
    assert unseen[["stage=II", "stage=III"]].isna().all(axis=None)


def test_log2_transform_with_offset_matches_lifelines(er_pos) -> None:
    frame = er_pos.assign(marker=2.0 ** er_pos["msk1"] - 1.0)  # raw-scale values, some < 1
    spec = DesignSpec(biomarker="marker", transform="log2", offset=1.0)
    model = make_model("coxph", features=[*CLINICAL, "marker"], design=spec).fit(frame, _y(frame))
    expected = frame[CLINICAL].assign(**{"log2(marker+1)": np.log2(frame["marker"] + 1.0)})
    _assert_coxph_equals_lifelines(model, frame, expected)
    with pytest.raises(ModelError, match=r"log2 needs marker \+ offset > 0, but 1 value\(s\)"):
        make_model("coxph", features=["marker"], design=DesignSpec("marker", "log2")).fit(
            frame.assign(marker=frame["marker"].where(frame.index != 3, 0.0)), _y(frame)
        )


def test_zscore_gives_hazard_ratio_per_training_sd(er_pos) -> None:
    spec = DesignSpec(biomarker="msk1", transform="zscore")
    model = make_model("coxph", features=[*CLINICAL, "msk1"], design=spec).fit(er_pos, _y(er_pos))
    z = (er_pos["msk1"] - er_pos["msk1"].mean()) / er_pos["msk1"].std(ddof=0)
    _assert_coxph_equals_lifelines(model, er_pos, er_pos[CLINICAL].assign(**{"z(msk1)": z}))


def test_spline_knots_come_from_training_rows_only(er_pos) -> None:
    train, test = er_pos.iloc[:900], er_pos.iloc[900:]
    spec = DesignSpec(biomarker="msk1", spline_knots=4)
    model = make_model("coxph", features=[*CLINICAL, "msk1"], design=spec).fit(train, _y(train))
    knots = np.quantile(train["msk1"], [0.05, 0.35, 0.65, 0.95])
    np.testing.assert_allclose(model.design_.knots_, knots, rtol=1e-15)
    columns = ["msk1", "msk1'", "msk1''"]
    basis = pd.DataFrame(rcs_basis(train["msk1"].to_numpy(), knots), columns=columns)
    _assert_coxph_equals_lifelines(model, train, train[CLINICAL].join(basis))
    # test rows are encoded with the training knots
    expected = rcs_basis(test["msk1"].to_numpy(), knots)
    np.testing.assert_allclose(model.design_.transform(test)[columns], expected, rtol=1e-12)


def test_msk1_by_er_interaction_recovers_the_simulated_effect() -> None:
    cohort = make_synthetic_cohort(4000, seed=11)  # ER+ and ER-: MSK1 acts only in ER+
    features = [*CLINICAL, "er", "msk1"]
    spec = DesignSpec(biomarker="msk1", interaction="er")
    model = make_model("coxph", features=features, design=spec).fit(cohort, _y(cohort))
    expected = cohort[features].assign(**{"msk1:er": cohort["msk1"] * cohort["er"]})
    _assert_coxph_equals_lifelines(model, cohort, expected)
    summary = model.summary()
    # true log HR per unit: 0 in ER- (the main effect), -0.43 in ER+ (main + interaction)
    assert summary.loc["msk1", "hr_lower_95"] < 1 < summary.loc["msk1", "hr_upper_95"]
    assert summary.loc["msk1:er", "p"] < 1e-4
    assert summary.loc["msk1:er", "coef"] == pytest.approx(-0.43, abs=0.15)


def test_design_is_saved_with_the_model(er_pos, tmp_path: Path) -> None:
    frame = er_pos.assign(grade=er_pos["grade"].map({1: "G1", 2: "G2", 3: "G3"}))
    spec = DesignSpec("msk1", "zscore", spline_knots=3, interaction="pr", categorical=("grade",))
    model = make_model("xgb_cox", {"n_estimators": 20}, features=[*CLINICAL, "msk1"], design=spec)
    model.fit(frame, _y(frame))
    loaded = load_model(save_model(model, tmp_path / "m"))
    assert loaded.design == model.design == spec
    assert loaded.design_columns == model.design_columns
    assert "grade=G3" in loaded.design_columns and "z(msk1)':pr" in loaded.design_columns
    times = np.array([3.0, 5.0])
    np.testing.assert_array_equal(
        loaded.predict_survival_function(frame, times),
        model.predict_survival_function(frame, times),
    )


def test_constant_and_collinear_columns_are_named_for_every_family(er_pos) -> None:
    frame = er_pos.assign(one=1.0, size_cm=er_pos["size"] / 10.0)
    for kind, params in (("coxnet", {}), ("xgb_cox", {"n_estimators": 5})):
        model = make_model(kind, params, features=["age", "one", "size", "size_cm"])
        with pytest.warns(NumericalWarning) as record:
            model.fit(frame, _y(frame))
        messages = [str(w.message) for w in record]
        assert any(f"{kind}: feature column(s) ['one'] are constant" in m for m in messages)
        assert any("columns ['size', 'size_cm'] are collinear" in m for m in messages)


def test_separation_in_a_category_is_a_named_warning(er_pos) -> None:
    frame = er_pos.assign(sep=er_pos["event"].astype(float))  # events only where sep = 1
    with pytest.warns(NumericalWarning, match=r"coefficient\(s\) of \['sep'\] exceed 10 per SD"):
        make_model("coxph", features=["age", "sep"]).fit(frame, _y(frame))


def test_partial_log_likelihood_equals_lifelines_at_its_maximum(er_pos) -> None:
    data = er_pos[[*CLINICAL, "msk1", "time", "event"]]  # continuous times: no ties
    cph = CoxPHFitter().fit(data, "time", "event")
    eta = data[cph.params_.index].to_numpy() @ cph.params_.to_numpy()
    ours = cox_partial_log_likelihood(eta, _y(data))
    assert ours == pytest.approx(cph.log_likelihood_, abs=1e-8)


def test_coxnet_alpha_along_the_path_maximises_cross_validated_likelihood(er_pos) -> None:
    features = [*CLINICAL, "msk1"]
    params = {"alpha": "path", "l1_ratio": 0.5, "n_alphas": 20, "path_folds": 4}
    model = make_model("coxnet", params, features=features, random_state=5).fit(er_pos, _y(er_pos))
    Z = ((er_pos[features] - er_pos[features].mean()) / er_pos[features].std(ddof=0)).to_numpy()
    event, time = er_pos["event"].to_numpy(bool), er_pos["time"].to_numpy(float)
    tight = 1e-16  # scikit-survival's tolerance, tightened so that it reaches the optimum
    alphas = CoxnetSurvivalAnalysis(n_alphas=20, l1_ratio=0.5, tol=tight).fit(Z, _y(er_pos)).alphas_
    cvl = np.zeros(len(alphas))  # Verweij & van Houwelingen, with a direct O(n^2) likelihood
    reached = len(alphas)  # a fold's path may end early: candidates are what every fold reached
    for fit_idx, _ in StratifiedKFold(4, shuffle=True, random_state=5).split(Z, event):
        fold = CoxnetSurvivalAnalysis(alphas=alphas, l1_ratio=0.5, tol=tight).fit(
            Z[fit_idx], make_y(time=time[fit_idx], event=event[fit_idx])
        )
        reached = min(reached, fold.coef_.shape[1])
        for j in range(reached):
            eta = Z @ fold.coef_[:, j]
            cvl[j] += _naive_loglik(eta, event, time) - _naive_loglik(
                eta[fit_idx], event[fit_idx], time[fit_idx]
            )
    np.testing.assert_allclose(model.path_alphas_, alphas[:reached], rtol=1e-12)
    # the model's path solver is within a few 1e-6 of the optimum (tolerance 1e-9)
    np.testing.assert_allclose(model.path_cvl_, cvl[:reached], rtol=1e-7)
    assert model.alpha_ == pytest.approx(alphas[int(np.argmax(cvl[:reached]))], rel=1e-12)
    assert 0 < np.argmax(cvl[:reached]) < reached - 1  # an interior optimum, not a path end
    at_alpha = CoxnetSurvivalAnalysis(alphas=[model.alpha_], l1_ratio=0.5, tol=tight)
    np.testing.assert_allclose(model.coef_, at_alpha.fit(Z, _y(er_pos)).coef_[:, 0], atol=1e-5)


def _naive_loglik(eta: np.ndarray, event: np.ndarray, time: np.ndarray) -> float:
    return float(
        sum(eta[i] - np.log(np.exp(eta[time >= time[i]]).sum()) for i in np.flatnonzero(event))
    )


def test_coxnet_unpenalized_covers_every_indicator_of_a_category(er_pos) -> None:
    spec = DesignSpec(categorical=("grade",))
    params = {"alpha": 0.5, "l1_ratio": 1.0, "unpenalized": ["grade"]}
    model = make_model("coxnet", params, features=[*CLINICAL, "msk1"], design=spec)
    model.fit(er_pos, _y(er_pos))
    coef = dict(zip(model.design_columns, model.coef_, strict=True))
    assert coef["grade=2"] != 0 and coef["grade=3"] != 0
    assert all(coef[c] == 0 for c in ("age", "size", "nodes", "pr", "msk1"))


def test_bad_coxnet_alpha_is_a_clear_error(er_pos) -> None:
    model = make_model("coxnet", {"alpha": "auto"}, features=["age"])
    with pytest.raises(
        ModelError, match="coxnet alpha must be a number > 0 or 'path', but got 'auto'"
    ):
        model.fit(er_pos, _y(er_pos))


def test_design_without_warnings_on_clean_data(er_pos) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_model("coxph", features=[*CLINICAL, "msk1"]).fit(er_pos, _y(er_pos))
