"""superposition: a laboratory for superposition in neural networks.

Train sweeps of toy models in seconds, measure how they pack features (W^T W, norms, superposition,
dimensionality, geometry), draw them, and keep them on disk; train bilinear modular-addition models and measure
their mixing; train sparse autoencoders and score them against the true features.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.3.0"

# Where each public name lives. They are imported on first use (PEP 562), so that `import superposition` (and the
# command line's `--help`) does not import torch.
_WHERE = {
    "ConfigError": "errors", "DivergenceError": "errors", "RunDirError": "errors", "SuperpositionError": "errors",
    "DataConfig": "config", "ModAddRunConfig": "config", "RunConfig": "config", "SAERunConfig": "config",
    "ToyModelConfig": "config", "TrainConfig": "config", "load_config": "config", "make_config": "config",
    "parse_run_config": "config",
    "analyze": "lab", "train_run": "lab",
    "Run": "runs", "load_run": "runs", "save_run": "runs",
}

if TYPE_CHECKING:
    from .config import (DataConfig, ModAddRunConfig, RunConfig, SAERunConfig, ToyModelConfig, TrainConfig,
                         load_config, make_config, parse_run_config)
    from .errors import ConfigError, DivergenceError, RunDirError, SuperpositionError
    from .lab import analyze, train_run
    from .runs import Run, load_run, save_run


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(import_module(f".{_WHERE[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'superposition' has no attribute {name!r}")


__all__ = [
    "ConfigError",
    "DataConfig",
    "DivergenceError",
    "ModAddRunConfig",
    "Run",
    "RunConfig",
    "RunDirError",
    "SAERunConfig",
    "SuperpositionError",
    "ToyModelConfig",
    "TrainConfig",
    "analyze",
    "load_config",
    "load_run",
    "make_config",
    "parse_run_config",
    "save_run",
    "train_run",
]
