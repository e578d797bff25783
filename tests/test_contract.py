"""The predictor's input contract: impossible and malformed inputs are refused by column, rule
and row position, and no input value ever appears in a message."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from msk1model.config import DataConfig
from msk1model.contract import InputContract
from msk1model.data.rules import value_rules
from msk1model.data.synthetic import make_synthetic_cohort
from msk1model.errors import InputError
from msk1model.models import DesignSpec, make_model
from msk1model.outcome import make_y

FEATURES = ["age", "size", "grade", "nodes", "pr", "msk1"]
SECRET_ID = "PATIENT-ID-4711-SECRET"


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return make_synthetic_cohort(800, seed=21)


def _contract(cohort: pd.DataFrame, **kwargs: object) -> InputContract:
    """A Cox model's contract: grade categorical, the synthetic cohort's canonical rules."""
    design = DesignSpec(biomarker="msk1", categorical=("grade",))
    model = make_model("coxph", features=FEATURES, design=design)
    model.fit(cohort, make_y(time=cohort["time"], event=cohort["event"]))
    rules = value_rules(DataConfig(categorical=["grade"]))
    return InputContract.from_training(model, cohort, rules=rules, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def contract(cohort: pd.DataFrame) -> InputContract:
    return _contract(cohort)


def _rows(cohort: pd.DataFrame) -> pd.DataFrame:
    return (
        cohort.head(6)[["patient_id", *FEATURES]]
        .assign(patient_id=SECRET_ID)
        .reset_index(drop=True)
    )


def test_valid_rows_pass_and_extra_columns_are_ignored(
    contract: InputContract, cohort: pd.DataFrame
) -> None:
    assert contract.check(_rows(cohort)).tolist() == [False] * 6


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("age", -42.5, r"column 'age' must lie in its possible range \[0, 120\] \(row 2\)"),
        ("size", -3.25, r"column 'size' must lie in its possible range \[0, open\] \(row 2\)"),
        ("nodes", -1, r"column 'nodes' must lie in its possible range \[0, open\] \(row 2\)"),
        ("nodes", 1.5, r"column 'nodes' must be a whole number \(row 2\)"),
        (
            "grade",
            7,
            r"column 'grade' must be one of the training levels \['1', '2', '3'\] \(row 2\)",
        ),
        (
            "msk1",
            987654.0,
            r"column 'msk1' must lie within the range the model was trained on, widened by 0.25 of it at each end \[3.5, 14\] \(row 2\)",
        ),
        ("age", "SECRET-TEXT-VALUE", r"column 'age' must be a number \(row 2\)"),
        ("pr", math.inf, r"column 'pr' must be finite \(not \+/-inf\) \(row 2\)"),
        (
            "size",
            math.nan,
            r"column 'size' must not be missing \(this model does not impute it\) \(row 2\)",
        ),
        ("pr", True, r"column 'pr' must be a number \(row 2\)"),
    ],
)
def test_an_impossible_value_is_refused_by_column_rule_and_row(
    contract: InputContract, cohort: pd.DataFrame, column: str, value: object, message: str
) -> None:
    rows = _rows(cohort).astype({column: object})
    rows.loc[2, column] = value
    with pytest.raises(InputError, match=message) as caught:
        contract.check(rows)
    text = str(caught.value)
    assert text.count("column ") == 1  # one value breaks one rule, named once
    assert SECRET_ID not in text
    if column in ("age", "size", "msk1") or value == 1.5:  # values no rule text holds
        assert str(value) not in text and f"{value}" not in text
    for cell in rows[["age", "size", "msk1"]].drop(index=2).to_numpy().ravel():
        assert f"{cell}" not in text and f"{cell:g}" not in text  # no other patient value


def test_a_missing_column_is_named_and_rows_are_never_echoed(
    contract: InputContract, cohort: pd.DataFrame
) -> None:
    with pytest.raises(
        InputError,
        match=r"lacks feature column\(s\) \['msk1', 'size'\]|lacks feature column\(s\) \['size', 'msk1'\]",
    ) as caught:
        contract.check(_rows(cohort).drop(columns=["size", "msk1"]))
    assert SECRET_ID not in str(caught.value)


def test_every_broken_rule_is_listed_with_its_rows(
    contract: InputContract, cohort: pd.DataFrame
) -> None:
    rows = pd.concat([_rows(cohort)] * 3, ignore_index=True)  # 18 rows
    rows["age"] = -1.0
    rows["nodes"] = rows["nodes"].astype(float)
    rows.loc[[0, 5], "nodes"] = 2.5
    with pytest.raises(InputError) as caught:
        contract.check(rows)
    text = str(caught.value)
    assert "in 2 way(s)" in text
    assert (
        "column 'age' must lie in its possible range [0, 120] (rows 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 and 8 more)"
        in text
    )
    assert "column 'nodes' must be a whole number (rows 0, 5)" in text


def test_flagging_scores_values_beyond_the_training_range(cohort: pd.DataFrame) -> None:
    flagging = _contract(cohort, outside_training_range="flag", margin=0.0)
    rows = _rows(cohort)
    top = cohort["msk1"].max()
    rows.loc[[1, 4], "msk1"] = top + 3.0  # possible, but beyond what the model saw
    assert flagging.check(rows).tolist() == [False, True, False, False, True, False]
    rows.loc[3, "age"] = -1.0  # an impossible value is refused even when flagging
    with pytest.raises(
        InputError, match=r"column 'age' must lie in its possible range .*\(row 3\)"
    ):
        flagging.check(rows)


def test_the_training_range_is_widened_by_the_margin_and_rounded_outward(
    cohort: pd.DataFrame,
) -> None:
    """msk1 spans about [3.9, 11.7] in training; widened by 0.1 of that, then rounded outward to
    two significant figures, so that the stored bounds are no patient's value."""
    strict = _contract(cohort, margin=0.1)
    rule = next(r for r in strict.rules if r.column == "msk1")
    low, high = cohort["msk1"].min(), cohort["msk1"].max()
    pad = 0.1 * (high - low)
    assert low - pad - 0.1 < rule.train_low <= low - pad  # type: ignore[operator]
    assert high + pad <= rule.train_high < high + pad + 1.0  # type: ignore[operator]
    assert (rule.train_low, rule.train_high) == (round(rule.train_low, 1), round(rule.train_high))  # type: ignore[arg-type]
    rows = _rows(cohort)
    rows.loc[0, "msk1"] = rule.train_high
    strict.check(rows)
    rows.loc[0, "msk1"] = np.nextafter(rule.train_high, np.inf)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"column 'msk1' must lie within the range the model"):
        strict.check(rows)


def test_covariates_a_model_imputes_may_be_missing_but_not_the_biomarker(
    cohort: pd.DataFrame,
) -> None:
    imputing = _contract(cohort, imputable=["age", "size", "grade", "nodes", "pr"])
    rows = _rows(cohort)
    rows.loc[0, "size"] = np.nan
    rows.loc[1, "grade"] = None
    imputing.check(rows)
    rows.loc[2, "msk1"] = np.nan
    with pytest.raises(InputError, match=r"column 'msk1' must not be missing .* \(row 2\)"):
        imputing.check(rows)


def test_the_contract_round_trips_as_data(contract: InputContract) -> None:
    assert InputContract.from_state(contract.to_state()) == contract
    rule = {r.column: r for r in contract.rules}
    assert rule["grade"].kind == "categorical" and rule["grade"].levels == ("1", "2", "3")
    assert (rule["nodes"].low, rule["nodes"].high, rule["nodes"].integer) == (0.0, None, True)
    assert rule["msk1"].low is None and not rule["msk1"].integer


def test_the_example_is_synthetic_and_keeps_the_contract(
    contract: InputContract, cohort: pd.DataFrame
) -> None:
    example = contract.example()
    assert list(example.columns) == FEATURES and len(example) == 3
    contract.check(example)
    np.testing.assert_array_equal(
        example[["age", "size", "msk1"]].to_numpy(),
        np.quantile(cohort[["age", "size", "msk1"]], [0.25, 0.5, 0.75], axis=0),
    )
    nodes = np.round(np.quantile(cohort["nodes"], [0.25, 0.5, 0.75]))
    np.testing.assert_array_equal(example["nodes"], nodes)  # whole numbers stay whole
    patients = {tuple(r) for r in cohort[FEATURES].astype(str).to_numpy()}
    assert not {tuple(r) for r in example.astype(str).to_numpy()} & patients


def test_a_flagging_predictor_adds_the_flag_column(cohort: pd.DataFrame) -> None:
    from msk1model.predictor import (
        FLAG_COLUMN,
        PredictorSpec,
        RiskGroups,
        predict_frame,
        score_frame,
    )

    design = DesignSpec(biomarker="msk1", categorical=("grade",))
    model = make_model("coxph", features=FEATURES, design=design)
    model.fit(cohort, make_y(time=cohort["time"], event=cohort["event"]))
    rules = value_rules(DataConfig(categorical=["grade"]))
    flagging = InputContract.from_training(
        model, cohort, rules=rules, outside_training_range="flag", margin=0.0
    )
    rows = _rows(cohort)
    rows.loc[2, "msk1"] = cohort["msk1"].max() + 3.0
    groups = RiskGroups("risk_score", (0.0,), ("low", "high"))

    def spec(contract: InputContract) -> PredictorSpec:
        return PredictorSpec((5.0,), 10.0, groups, contract, meta={})

    out = score_frame(model, spec(flagging), rows, {})
    assert list(out.columns) == [
        "risk_score",
        "risk_group",
        "survival_5y",
        "event_prob_5y",
        FLAG_COLUMN,
    ]
    assert out[FLAG_COLUMN].tolist() == [False, False, True, False, False, False]
    expected = predict_frame(model, rows, [5.0], groups).reset_index(drop=True)
    pd.testing.assert_frame_equal(out.drop(columns=FLAG_COLUMN), expected, check_exact=True)
    refusing = InputContract.from_training(model, cohort, rules=rules)
    with pytest.raises(InputError, match=r"column 'msk1' must lie within .* \(row 2\)"):
        score_frame(model, spec(refusing), rows, {})
