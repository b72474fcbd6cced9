"""The laboratory's front door: train a configured run (a sweep of toy models, modular-addition models, sparse
autoencoders, or any registered family), measure it, keep it on disk.

>>> from superposition import make_config, train_run
>>> cfg = make_config(data=dict(n_features=5, feature_probability=[1.0, 0.03], importance_decay=0.9),
...                   model=dict(kind="relu", n_hidden=2), train=dict(steps=200))
>>> run = train_run(cfg, progress=False)
>>> run.metrics.columns[:4].tolist()
['instance', 'feature', 'norm', 'superposition']
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from .errors import ConfigError
from .families import Training, family_of
from .hooks import Hook
from .memory import check_memory
from .provenance import collect
from .runs import Run, check_output, history_frame, save_run
from .train import train


def build_model(config: Any, generator: torch.Generator | None = None) -> nn.Module:
    """The model a run config describes, initialised from `generator`, on the config's device."""
    return family_of(config).build_model(config, generator)


def build_data(config: Any, device: str = "cpu", truth: Mapping[str, torch.Tensor] | None = None) -> Any:
    """The data source a run config describes; `truth` is a saved run's truth.safetensors, for families whose data
    is rebuilt from it (an SAE reads its toy source's W from there)."""
    return family_of(config).build_data(config, device, truth)


def analyze(run: Run) -> pd.DataFrame:
    """The metrics table of a run, computed from what the run directory holds (weights, config, truth): for toy
    models one row per instance x feature with each feature's geometric structure; for the other families one row
    per instance."""
    return family_of(run).analyze(run)


def train_run(
    config: Any,
    out: str | Path | None = None,
    *,
    overwrite: bool = False,
    progress: bool = True,
    hooks: list[Hook] | tuple[Hook, ...] = (),
    description: str | None = None,
) -> Run:
    """Train the sweep `config` describes, measure it, and save it to `out` (atomically) when given.

    `out` is validated before any training (see `runs.check_output`): an existing directory is replaced only with
    `overwrite=True` and only when it is a run directory. Sizes are checked against the device's free memory first.
    Initialisation and data are seeded from `config.train.seed`, so the same config gives the same weights on CPU.
    """
    family = family_of(config)
    device = config.train.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"train.device is {device!r} but CUDA is not available on this machine")
    if out is not None:
        check_output(out, overwrite=overwrite)
    check_memory(config)
    init = torch.Generator(device=device).manual_seed(config.train.seed)
    model = family.build_model(config, init)
    data = family.build_data(config, device, None)
    extra = family.training(config, model, data) if family.training else Training()
    history = train(model, data, config.train, hooks=[*extra.hooks, *hooks], progress=progress,
                    description=description or family.label(config))
    run = Run(config=config, model=model, history=history_frame(history), facts=extra.facts() or None,
              snapshots=history.snapshots, provenance=collect(device))
    if family.truth is not None:
        run.truth = family.truth(config, data)
    run.metrics = family.analyze(run)
    if out is not None:
        save_run(run, out, overwrite=overwrite)
    return run
