"""superposition: a laboratory for superposition in neural networks.

Train sweeps of toy models in seconds, measure how they pack features (W^T W, norms, superposition,
dimensionality, geometry), draw them, and keep them on disk; train bilinear modular-addition models and measure
their mixing; train sparse autoencoders and score them against the true features.
"""

from .config import (
    DataConfig,
    ModAddRunConfig,
    RunConfig,
    SAERunConfig,
    ToyModelConfig,
    TrainConfig,
    load_config,
    make_config,
    parse_run_config,
)
from .errors import ConfigError, DivergenceError, RunDirError, SuperpositionError
from .lab import analyze, train_run
from .runs import Run, load_run, save_run

__version__ = "0.1.0"

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
