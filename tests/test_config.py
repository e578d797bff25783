from __future__ import annotations

from pathlib import Path

import pytest

from msk1model.config import RunConfig, config_hash, load_config
from msk1model.errors import ConfigError

from .conftest import DEFAULT_CONFIG, ROOT


def write(tmp_path: Path, text: str, name: str = "run.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_default_config_resolves_to_documented_values() -> None:
    config = load_config(DEFAULT_CONFIG)
    assert config.experiment == "msk1-default"
    assert config.data.source == "synthetic"
    assert config.data.subgroup == {"er": 1}
    assert config.feature_sets == ["clinical", "clinical+msk1"]
    assert set(config.models) == {"coxnet", "xgb_cox"}
    assert config.evaluation.horizons == [3.0, 5.0]
    assert config.evaluation.tau == 5.0
    assert config.export.model_name == "msk1-prognostic"


@pytest.mark.parametrize(
    "path", sorted((ROOT / "experiments").glob("*.yaml")), ids=lambda p: p.name
)
def test_every_experiment_file_validates(path: Path) -> None:
    assert isinstance(load_config(path), RunConfig)


def test_unknown_key_is_named_with_a_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, f"base: {DEFAULT_CONFIG}\nsplit:\n  cv_fold: 3\n")
    with pytest.raises(
        ConfigError, match=r"'split\.cv_fold' is not allowed .*did you mean 'cv_folds'"
    ):
        load_config(path)


def test_unknown_key_inside_a_model_lists_allowed_keys(tmp_path: Path) -> None:
    path = write(tmp_path, f"base: {DEFAULT_CONFIG}\nmodels:\n  coxnet:\n    knd: coxnet\n")
    with pytest.raises(
        ConfigError, match=r"models\.coxnet\.knd' is not allowed.*allowed keys here: kind, n_trials"
    ):
        load_config(path)


def test_wrong_type_names_key_and_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'tuning\.n_trials'.*found: 'many'"):
        load_config(DEFAULT_CONFIG, ["tuning.n_trials=many"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("split.test_size=1.5", r"split\.test_size.*less than 0\.9"),
        ("split.cv_folds=1", r"split\.cv_folds.*greater than or equal to 2"),
        ("evaluation.horizons=[-1, 5]", r"horizons must be > 0 years"),
        ("feature_sets=[clinical]", r"must include 'clinical\+msk1'"),
        ("data.source=cohort.xlsx", r"must be 'synthetic', 'public:NAME' or a path"),
        ("data.synthetic.n_patients=10", r"n_patients.*greater than or equal to 100"),
        (
            "models.coxnet.kind=coxnett",
            r"unknown model kind 'coxnett'; known kinds: coxnet, coxph, gbsa, gbsa_componentwise, rsf, xgb_aft, xgb_cox",
        ),
        (
            "models.coxnet.params.depth=3",
            r"unknown hyperparameter\(s\) \['depth'\] for kind 'coxnet'",
        ),
        (
            "data.categorical=[stage]",
            r"data.categorical names \['stage'\], which are not in data.covariates",
        ),
        (
            "biomarker.interaction=er",
            r"biomarker.interaction is 'er', which is not in data.covariates .* needs its main effect",
        ),
        (
            "biomarker.transform=log",
            r"'biomarker.transform': Input should be 'none', 'log2' or 'zscore' \(found: 'log'\)",
        ),
        ("biomarker.spline_knots=9", r"biomarker.spline_knots.*less than or equal to 7"),
    ],
)
def test_impossible_values_are_rejected(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(DEFAULT_CONFIG, [override])


def test_interaction_needs_both_levels_of_its_covariate() -> None:
    overrides = ["data.covariates=[age, size, grade, nodes, pr, er]", "biomarker.interaction=er"]
    with pytest.raises(
        ConfigError,
        match=r"interaction with 'er' needs patients at more than one level of it, but "
        r"data.subgroup keeps er=1 only",
    ):
        load_config(DEFAULT_CONFIG, overrides)
    config = load_config(DEFAULT_CONFIG, [*overrides, "data.subgroup=null"])
    assert config.biomarker.interaction == "er" and config.data.subgroup == {}


def test_search_space_bounds_are_checked() -> None:
    bad = "models.coxnet.search_space.alpha={type: float, low: 1.0, high: 0.1}"
    with pytest.raises(
        ConfigError, match=r"`low <= high` must hold, but got \(low=1\.0, high=0\.1\)"
    ):
        load_config(DEFAULT_CONFIG, [bad])
    with pytest.raises(ConfigError, match=r"log-scale range needs `low > 0`"):
        load_config(
            DEFAULT_CONFIG,
            ["models.coxnet.search_space.alpha={type: float, low: 0, high: 1, log: true}"],
        )


def test_set_overrides_parse_yaml_values() -> None:
    config = load_config(
        DEFAULT_CONFIG, ["tuning.n_trials=3", "evaluation.horizons=[2, 4]", "data.subgroup.er=0"]
    )
    assert config.tuning.n_trials == 3
    assert config.evaluation.horizons == [2.0, 4.0]
    assert config.data.subgroup == {"er": 0}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("tuning.n_trial=3", r"tuning has no key 'n_trial' \(did you mean 'n_trials'\?\)"),
        ("trainer.epochs=3", r"the top level has no key 'trainer'"),
        ("tuning.n_trials", r"--set expects KEY\.SUB=VALUE"),
    ],
)
def test_set_to_unknown_key_is_rejected(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(DEFAULT_CONFIG, [override])


def test_experiment_overrides_base_and_null_restores_default(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"base: {DEFAULT_CONFIG}\nexperiment: small\ndata:\n  subgroup: null\nmodels:\n  xgb_cox: null\n",
    )
    config = load_config(path)
    assert config.experiment == "small"
    assert config.data.subgroup == {}
    assert list(config.models) == ["coxnet"]
    assert config.models["coxnet"].search_space["alpha"].high == 0.5  # inherited


def test_base_cycle_and_missing_file_are_reported(tmp_path: Path) -> None:
    write(tmp_path, "base: b.yaml\n", "a.yaml")
    write(tmp_path, "base: a.yaml\n", "b.yaml")
    with pytest.raises(ConfigError, match="form a cycle"):
        load_config(tmp_path / "a.yaml")
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_config_hash_is_stable_and_sensitive() -> None:
    a = load_config(DEFAULT_CONFIG)
    assert config_hash(a) == config_hash(load_config(DEFAULT_CONFIG))
    assert config_hash(a) != config_hash(load_config(DEFAULT_CONFIG, ["seed=1"]))


def test_value_rules_name_numeric_features_and_keep_low_below_high() -> None:
    config = load_config(DEFAULT_CONFIG, ["data.ranges={age: [18, 100], msk1: [null, 20]}"])
    assert config.data.ranges == {"age": (18.0, 100.0), "msk1": (None, 20.0)}
    with pytest.raises(
        ConfigError, match=r"a range needs `low <= high`, but age has \(low=100.0, high=18.0\)"
    ):
        load_config(DEFAULT_CONFIG, ["data.ranges={age: [100, 18]}"])
    with pytest.raises(
        ConfigError, match=r"data.integer names \['stage'\], which are not numeric features"
    ):
        load_config(DEFAULT_CONFIG, ["data.integer=[stage]"])
    with pytest.raises(ConfigError, match=r"data.ranges names \['grade'\], which are not numeric"):
        load_config(DEFAULT_CONFIG, ["data.categorical=[grade]", "data.ranges={grade: [1, 3]}"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("models.xgb_cox.params.reg_alpha=-1", r"params.reg_alpha is -1, outside what xgb_cox "
         r"reg_alpha takes: >= 0"),
        ("models.ridge={kind: coxnet, params: {alpha: fast, l1_ratio: 0}}",
         r"params.alpha is 'fast', outside what coxnet alpha takes: > 0 or 'path'"),
        ("models.aft={kind: xgb_aft, params: {distribution: gumbel}}",
         r"params.distribution is 'gumbel', outside what xgb_aft distribution takes: one of "
         r"'normal', 'logistic', 'extreme'"),
        ("models.xgb_cox.search_space.max_depth={type: float, low: 1, high: 4}",
         r"search_space.max_depth is a float range, but xgb_cox max_depth takes whole numbers "
         r">= 1. Fix: type: int"),
        ("models.xgb_cox.search_space.subsample={type: float, low: 0.0, high: 1.0}",
         r"search_space.subsample.low is 0.0, outside what xgb_cox subsample takes: \(0, 1\]"),
        ("models.xgb_cox.params.validation_fraction=1",
         r"validation_fraction is 1, outside what xgb_cox validation_fraction takes: \(0, 1\)"),
    ],
)  # fmt: skip
def test_hyperparameter_domains_are_checked_before_any_run(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(DEFAULT_CONFIG, [override])


def test_every_declared_domain_admits_the_models_defaults() -> None:
    """The domains and the models agree: each default value lies in its domain."""
    from msk1model.models import MODEL_KINDS, hyperparameters_of
    from msk1model.models.domains import DOMAINS

    for kind in MODEL_KINDS:
        defaults = hyperparameters_of(kind)
        assert set(DOMAINS[kind]) <= set(defaults), kind
        for name, domain in DOMAINS[kind].items():
            assert domain.admits(defaults[name]), (kind, name, defaults[name])
