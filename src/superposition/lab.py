"""The laboratory's front door: train a configured sweep of toy models, measure it, keep it on disk.

>>> from superposition import make_config, train_run
>>> cfg = make_config(data=dict(n_features=5, feature_probability=[1.0, 0.03], importance_decay=0.9),
...                   model=dict(kind="relu", n_hidden=2), train=dict(steps=200))
>>> run = train_run(cfg, progress=False)
>>> run.metrics.columns[:4].tolist()
['instance', 'feature', 'norm', 'superposition']
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from .analysis.table import feature_table
from .config import RunConfig
from .data import FeatureData
from .models import build_model
from .runs import Run, history_frame, save_run
from .train import Hook, train


def analyze(run: Run) -> pd.DataFrame:
    """The metrics table of a run (one row per instance x feature) with each feature's geometric structure."""
    return feature_table(run.W, run.b, run.config.data)


def train_run(
    config: RunConfig,
    out: str | Path | None = None,
    *,
    progress: bool = True,
    hooks: list[Hook] | tuple[Hook, ...] = (),
    description: str | None = None,
) -> Run:
    """Train the sweep `config` describes, measure it, and save it to `out` (atomically) when given.

    Initialisation and data are seeded from `config.train.seed`, so the same config gives the same weights on CPU.
    """
    device = config.train.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        from .errors import ConfigError

        raise ConfigError(f"train.device is {device!r} but CUDA is not available on this machine")
    init = torch.Generator(device=device).manual_seed(config.train.seed)
    model = build_model(config, generator=init)
    data = FeatureData(config.data, device=device)
    label = description or f"{config.model.kind} n={config.data.n_features} m={config.model.n_hidden}"
    history = train(model, data, config.train, hooks=hooks, progress=progress, description=label)
    run = Run(config=config, model=model, history=history_frame(history))
    run.metrics = analyze(run)
    if out is not None:
        save_run(run, out)
    return run
