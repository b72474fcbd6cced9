"""The laboratory's front door: train a configured run (a sweep of toy models, or modular-addition models),
measure it, keep it on disk.

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
from .config import ModAddRunConfig, RunConfig
from .data import FeatureData
from .data.modadd import ModAddData
from .models import build_model
from .runs import Run, history_frame, save_run
from .train import Hook, train


def build_data(config: RunConfig | ModAddRunConfig, device: str = "cpu") -> FeatureData | ModAddData:
    """The data source a run config describes (modular-addition splits are seeded by `data.split_seed`)."""
    if isinstance(config, ModAddRunConfig):
        d = config.data
        return ModAddData(d.p, d.train_fraction, seed=d.split_seed, device=device)
    return FeatureData(config.data, device=device)


def analyze(run: Run) -> pd.DataFrame:
    """The metrics table of a run: for toy models one row per instance x feature with each feature's geometric
    structure; for modular addition one row per instance (`superposition.analysis.modadd.summarize`)."""
    if isinstance(run.config, ModAddRunConfig):
        from .analysis.modadd import summarize

        data = build_data(run.config, device=str(run.model.embed.device))
        return summarize(run.model, data, run.config.train.resolved_weight_decay)
    return feature_table(run.W, run.b, run.config.data)


def train_run(
    config: RunConfig | ModAddRunConfig,
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
    data = build_data(config, device=device)
    if description:
        label = description
    elif isinstance(config, ModAddRunConfig):
        label = f"{config.model.kind} p={config.data.p} d={config.model.d_embed} hidden={config.model.n_hidden}"
    else:
        label = f"{config.model.kind} n={config.data.n_features} m={config.model.n_hidden}"
    history = train(model, data, config.train, hooks=hooks, progress=progress, description=label)
    run = Run(config=config, model=model, history=history_frame(history))
    run.metrics = analyze(run)
    if out is not None:
        save_run(run, out)
    return run
