"""Typed run configs: the run config (`RunConfig`) composes the sections of their owners
(ponder.data.config, ponder.models, ponder.eval.config, ponder.objectives) with its own
`train` section (ponder.config.train); ponder.config.loading reads YAML presets with dotted
overrides and refuses unknown keys and bad values with one line.

The config room sits above the rooms whose sections it composes and below the engine, which
reads a whole run config; no section's owner imports it back.
"""

from ponder.config.loading import (
    MODEL_CLASSES,
    PLACE_KEYS,
    config_differences,
    config_from_dict,
    dump_config,
    load_config,
    valid_keys,
)
from ponder.config.run import RunConfig
from ponder.config.train import CurriculumConfig, EarlyStopConfig, FailFastRule, TrainConfig
from ponder.data.config import DataConfig
from ponder.eval.config import EvalConfig

__all__ = [
    "MODEL_CLASSES",
    "PLACE_KEYS",
    "CurriculumConfig",
    "DataConfig",
    "EarlyStopConfig",
    "EvalConfig",
    "FailFastRule",
    "RunConfig",
    "TrainConfig",
    "config_differences",
    "config_from_dict",
    "dump_config",
    "load_config",
    "valid_keys",
]
