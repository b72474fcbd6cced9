"""superposition: a laboratory for superposition in neural networks.

Train sweeps of toy models in seconds, measure how they pack features (W^T W, norms, superposition,
dimensionality, geometry), draw them, and keep them on disk.
"""

from .config import DataConfig, RunConfig, ToyModelConfig, TrainConfig, load_config, make_config
from .errors import ConfigError, DivergenceError, RunDirError, SuperpositionError
from .lab import analyze, train_run
from .runs import Run, load_run, save_run

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataConfig",
    "DivergenceError",
    "Run",
    "RunConfig",
    "RunDirError",
    "SuperpositionError",
    "ToyModelConfig",
    "TrainConfig",
    "analyze",
    "load_config",
    "load_run",
    "make_config",
    "save_run",
    "train_run",
]
