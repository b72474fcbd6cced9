"""Validated configurations (pydantic v2, unknown keys and non-finite numbers rejected).

Each run family has its run config, saved as the run directory's `config.json`:

- toy models (`toy`): `RunConfig` = `DataConfig` + `ToyModelConfig` + `TrainConfig`;
- modular addition (`modadd`): `ModAddRunConfig` = `ModAddDataConfig` + `ModAddModelConfig` + `TrainConfig`;
- sparse autoencoders (`sae`): `SAERunConfig` = `SAESourceConfig` + `SAEConfig` + `TrainConfig`.

Each config names its `family`, so `parse_run_config` reads a `config.json` of any registered family. Every bad
value raises a `ConfigError` whose one-line message names the field.
"""

from .base import (
    FORMAT_VERSION,
    MAX_SEED,
    RUN_CONFIGS,
    CommandLine,
    Extra,
    RunConfigBase,
    Strict,
    TrainConfig,
    load_config,
    one_line,
    parse_run_config,
    read_json,
    register_run_config,
    validate,
)
from .modadd import MODADD_TRAIN_DEFAULTS, ModAddDataConfig, ModAddModelConfig, ModAddRunConfig, n_train_pairs
from .sae import DEFAULT_L1, SAE_TRAIN_DEFAULTS, SAEConfig, SAERunConfig, SAESourceConfig
from .toy import ABS_TASK, DataConfig, Magnitude, PerInstance, RunConfig, ToyModelConfig, make_config

__all__ = [
    "ABS_TASK", "DEFAULT_L1", "FORMAT_VERSION", "MAX_SEED", "MODADD_TRAIN_DEFAULTS", "RUN_CONFIGS", "SAE_TRAIN_DEFAULTS",
    "CommandLine", "DataConfig", "Extra", "Magnitude", "ModAddDataConfig", "ModAddModelConfig", "ModAddRunConfig", "PerInstance",
    "RunConfig", "RunConfigBase", "SAEConfig", "SAERunConfig", "SAESourceConfig", "Strict", "ToyModelConfig",
    "TrainConfig", "load_config", "make_config", "n_train_pairs", "one_line", "parse_run_config", "read_json",
    "register_run_config", "validate",
]
