"""The competing-events endpoint: its config form, the cohort it loads, the patient flow per
cause, `msk1model check`'s cumulative incidence, and the verbs that refuse it for now."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from msk1model.cli import main
from msk1model.config import CompetingEndpoint, load_config
from msk1model.data.cohort import cohort_definition, load_cohort
from msk1model.data.synthetic import make_synthetic_cohort
from msk1model.errors import ConfigError, DataError
from msk1model.evaluation.competing import aalen_johansen, incidence_table

from .conftest import DEFAULT_CONFIG

BONE = [
    "data.columns.time=relapse_free_time",
    "data.endpoint={type: competing, event_column: event_type, cause: 2, competing: [1, 3], "
    "name: bone relapse}",
]


def _cohort(overrides: list[str]):
    config = load_config(DEFAULT_CONFIG, overrides)
    return config, load_cohort(config.data, config.split, config.seed)


def test_the_competing_form_is_read_and_checked() -> None:
    config = load_config(DEFAULT_CONFIG, BONE)
    assert config.data.endpoint == CompetingEndpoint(
        type="competing", event_column="event_type", cause=2, competing=[1, 3], name="bone relapse"
    )
    assert load_config(DEFAULT_CONFIG, ["data.endpoint=relapse"]).data.endpoint == "relapse"
    with pytest.raises(ConfigError, match=r"cause 2 is also listed as competing \[2, 3\]"):
        load_config(
            DEFAULT_CONFIG, ["data.endpoint={type: competing, cause: 2, competing: [2, 3]}"]
        )
    with pytest.raises(ConfigError) as caught:
        load_config(DEFAULT_CONFIG, ["data.endpoint={type: competing, cause: 2, compete: [1]}"])
    message = str(caught.value)
    assert "1 problem(s)" in message  # the text form's error stays out of it
    assert "'data.endpoint.compete' is not allowed (unknown key) (did you mean 'competing'?)" in (
        message
    )
    with pytest.raises(ConfigError, match=r"competing codes must be positive integers"):
        load_config(DEFAULT_CONFIG, ["data.endpoint={type: competing, cause: 2, competing: [0]}"])


def test_the_cohort_has_the_cause_as_event_and_counts_each_cause_in_the_flow() -> None:
    config, cohort = _cohort(BONE)
    assert cohort.endpoint == "bone relapse (competing: 1, 3)"
    drawn = config.data.synthetic
    synthetic = make_synthetic_cohort(drawn.n_patients, drawn.seed or config.seed)
    er_pos = synthetic[synthetic["er"] == 1]  # the default experiment's subgroup
    np.testing.assert_allclose(cohort.time, er_pos["relapse_free_time"], rtol=1e-15)  # years
    np.testing.assert_array_equal(cohort.event, er_pos["event_type"] == 2)
    expected = np.select([er_pos["event_type"] == 2, er_pos["event_type"] > 0], [1, 2], 0)
    np.testing.assert_array_equal(cohort.event_type, expected)
    loaded, subgroup = cohort.flow
    assert (loaded.patients, loaded.events, loaded.competing_events) == (
        len(synthetic),
        int((synthetic["event_type"] == 2).sum()),
        int(synthetic["event_type"].isin([1, 3]).sum()),
    )
    assert (subgroup.events, subgroup.competing_events) == (
        int((er_pos["event_type"] == 2).sum()),
        int(er_pos["event_type"].isin([1, 3]).sum()),
    )
    assert list(cohort.flow_table().columns) == ["step", "patients", "events", "competing_events"]
    assert "event bone relapse (competing: 1, 3)" in cohort_definition(config.data)
    _, other = _cohort([*BONE[:1], "data.endpoint={type: competing, cause: 2}"])
    np.testing.assert_array_equal(other.event_type, expected)  # "all other": codes 1 and 3


def test_a_single_event_flow_has_no_competing_column() -> None:
    _, cohort = _cohort([])
    assert list(cohort.flow_table().columns) == ["step", "patients", "events"]
    assert cohort.competing is None


def _file(tmp_path: Path, codes: list[int]) -> list[str]:
    rng = np.random.default_rng(0)
    n = len(codes)
    frame = pd.DataFrame(
        {
            "patient_id": [f"P{i:03d}" for i in range(n)],
            "time": rng.uniform(0.5, 10.0, n),
            "event_type": codes,
            "msk1": rng.normal(8.0, 1.0, n),
            **{c: rng.normal(50.0, 10.0, n) for c in ("age", "size", "grade", "nodes", "pr")},
            "er": 1,
        }
    )
    path = tmp_path / "cohort.csv"
    frame.to_csv(path, index=False)
    return [f"data.source={path}", "data.time_unit=years"]


def test_bad_codes_are_clear_errors(tmp_path: Path) -> None:
    codes = [0, 1, 2, 3] * 30
    endpoint = "data.endpoint={type: competing, cause: %s, competing: %s}"
    with pytest.raises(DataError, match=r"holds no event of cause 5 .*codes are \[0, 1, 2, 3\]"):
        _cohort([*_file(tmp_path, codes), endpoint % (5, "[1]")])
    with pytest.raises(DataError, match=r"code\(s\) \[3\] that are neither censored \(0\), the "):
        _cohort([*_file(tmp_path, codes), endpoint % (2, "[1]")])
    with pytest.raises(DataError, match=r"competing lists \[4\], which column 'event_type' does"):
        _cohort([*_file(tmp_path, codes), endpoint % (2, "[1, 3, 4]")])
    with pytest.raises(DataError, match=r"must hold 0 .* 1 row\(s\) hold \['-1'\] .*P003"):
        _cohort([*_file(tmp_path, [0, 1, 2, -1, *codes]), endpoint % (2, "[1, 3]")])


def test_incidence_table_reads_aalen_johansen_and_one_minus_km(synthetic) -> None:
    time, codes = synthetic["relapse_free_time"], synthetic["event_type"]
    table = incidence_table(time, codes, 2, [3.0, 5.0])
    estimate = aalen_johansen(time, codes, 2)
    np.testing.assert_allclose(table["cif"], estimate.at([3.0, 5.0]), atol=1e-15)
    only_bone = np.where(codes == 2, 1, 0)
    km = np.cumprod(1 - aalen_johansen(time, only_bone, 1).events / estimate.at_risk)
    index = np.searchsorted(estimate.time, [3.0, 5.0], side="right") - 1
    np.testing.assert_allclose(table["one_minus_km"], 1 - km[index], atol=1e-12)
    assert (table["lower"] < table["cif"]).all() and (table["cif"] < table["upper"]).all()
    assert (table["one_minus_km"] > table["cif"]).all()


def test_check_shows_the_cumulative_incidence_and_nested_cv_is_refused_for_now(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    sets = [arg for s in BONE for arg in ("--set", s)]
    assert main(["check", str(DEFAULT_CONFIG), *sets]) == 0
    out = capsys.readouterr().out
    _, cohort = _cohort(BONE)
    row = incidence_table(cohort.time, cohort.event_type, 1, [5.0]).iloc[0]
    assert "endpoint: bone relapse (competing: 1, 3)" in out
    assert f"cumulative incidence at 5 years: {row.cif:.3f}" in out
    assert f"competing events censored: {row.one_minus_km:.3f}" in out
    nested = [
        *("--set", "evaluation.scheme=nested_cv", "--set", "report.enabled=false"),
        *("--set", "export.champion_metric=nested_cv/harrell_c_mean"),
    ]
    assert main(["train", str(DEFAULT_CONFIG), *sets, *nested]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "`msk1model train with evaluation.scheme nested_cv` does not analyse yet" in err
    assert not (tmp_path / "mlruns").exists() and not (tmp_path / "mlflow.db").exists()
