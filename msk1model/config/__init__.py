"""The run config: its schema (:mod:`.schema`) and how it is loaded (:mod:`.loading`)."""

from __future__ import annotations

from msk1model.config.loading import load_config, parse_set_option, validate_config
from msk1model.config.schema import (
    TIME_UNITS,
    BiomarkerConfig,
    CategoricalParam,
    ColumnMap,
    DataConfig,
    EvaluationConfig,
    ExportConfig,
    FloatParam,
    IntParam,
    ModelConfig,
    ReportConfig,
    RiskGroupConfig,
    RunConfig,
    SplitConfig,
    SyntheticConfig,
    TrackingConfig,
    TuningConfig,
    config_hash,
    log2_offset,
    tuning_horizon,
)

__all__ = [
    "TIME_UNITS",
    "BiomarkerConfig",
    "CategoricalParam",
    "ColumnMap",
    "DataConfig",
    "EvaluationConfig",
    "ExportConfig",
    "FloatParam",
    "IntParam",
    "ModelConfig",
    "ReportConfig",
    "RiskGroupConfig",
    "RunConfig",
    "SplitConfig",
    "SyntheticConfig",
    "TrackingConfig",
    "TuningConfig",
    "config_hash",
    "load_config",
    "log2_offset",
    "parse_set_option",
    "tuning_horizon",
    "validate_config",
]
