"""The laboratory's front door: train a configured run (a sweep of toy models, modular-addition models, or sparse
autoencoders), measure it, keep it on disk.

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
from .config import ModAddRunConfig, RunConfig, SAERunConfig
from .data import FeatureData
from .data.modadd import ModAddData
from .data.sphere import HiddenActivations, SphereFeatures
from .models import build_model
from .errors import ConfigError
from .memory import check_memory
from .runs import Run, check_output, history_frame, save_run
from .train import Hook, train


# Salts for the SAE's evaluation and resampling draws, so that neither repeats the trainer's batches (which come from
# a generator seeded with train.seed).
HELD_OUT_SALT = 0x0E7A1
RESAMPLE_SALT = 0x2E5A3


def build_data(config, device: str = "cpu", truth: dict[str, torch.Tensor] | None = None):
    """The data source a run config describes (modular-addition splits are seeded by `data.split_seed`).

    An SAE on a toy source reads the toy instance's W from `truth` (a saved SAE run's `truth.safetensors`); without
    it, W comes from the toy run directory `source.run`, or the toy run is trained from `source.toy`."""
    if isinstance(config, ModAddRunConfig):
        d = config.data
        return ModAddData(d.p, d.train_fraction, seed=d.split_seed, device=device)
    if isinstance(config, SAERunConfig):
        src = config.source
        if src.kind == "sphere":
            data = SphereFeatures(src.d, src.n_features, src.n_active, n_instances=1, seed=src.seed,
                                  correlation=src.correlation, group_size=src.group_size, device=device)
            if truth is not None:  # the features trained on (CPU and CUDA draw different ones from one seed)
                data.true_features = truth["true_features"].to(device)
            return data
        W = truth["W"] if truth is not None else _toy_weights(src)[src.instance : src.instance + 1]
        return HiddenActivations(W.to(device), FeatureData(one_instance(src.toy.data, src.instance), device=device))
    return FeatureData(config.data, device=device)


def one_instance(data, k: int):
    """The toy data config of instance k alone (its probabilities and importance)."""
    return data.model_copy(update=dict(
        feature_probability=[data.feature_probability[k]], importance=data.importance_table()[k].tolist(),
        importance_decay=None))


def _toy_weights(source) -> torch.Tensor:
    """W of the toy run an SAE source names: read from `source.run`, or trained from `source.toy`."""
    from .runs import load_run

    if source.run is None:
        return train_run(source.toy, progress=False).W
    run = load_run(source.run, device="cpu")
    if run.config != source.toy:
        raise ConfigError(f"source.run {source.run} does not hold the toy run source.toy describes")
    return run.W


def analyze(run: Run) -> pd.DataFrame:
    """The metrics table of a run: for toy models one row per instance x feature with each feature's geometric
    structure; for modular addition one row per instance (`superposition.analysis.modadd.summarize`)."""
    if isinstance(run.config, ModAddRunConfig):
        from .analysis.modadd import summarize

        data = build_data(run.config, device=str(run.model.embed.device))
        return summarize(run.model, data, run.config.train.resolved_weight_decay)
    if isinstance(run.config, SAERunConfig):
        from .analysis.dictionary import evaluate

        data = build_data(run.config, device=str(run.model.b_dec.device), truth=run.truth)
        table = evaluate(run.model, data, true_features=run.truth["true_features"],
                         seed=run.config.train.seed + HELD_OUT_SALT)
        table.insert(1, "d_sae", run.config.model.d_sae)
        table.insert(2, "l1", run.config.model.resolved_l1(run.config.model.n_instances))
        return table
    return feature_table(run.W, run.b, run.config.data)


def train_run(
    config: RunConfig | ModAddRunConfig | SAERunConfig,
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
    device = config.train.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"train.device is {device!r} but CUDA is not available on this machine")
    if out is not None:
        check_output(out, overwrite=overwrite)
    check_memory(config)
    init = torch.Generator(device=device).manual_seed(config.train.seed)
    model = build_model(config, generator=init)
    data = build_data(config, device=device)
    if description:
        label = description
    elif isinstance(config, ModAddRunConfig):
        label = f"{config.model.kind} p={config.data.p} d={config.model.d_embed} hidden={config.model.n_hidden}"
    elif isinstance(config, SAERunConfig):
        label = f"SAE d_sae={config.model.d_sae} on {config.source.kind}"
    else:
        label = f"{config.model.kind} n={config.data.n_features} m={config.model.n_hidden}"
    resampled: list[tuple[int, list[int]]] = []
    if isinstance(config, SAERunConfig):
        from .models.sae import sae_hooks

        # Resampling stops at 80% of training, so that resampled latents are trained before the end.
        hooks = [*sae_hooks(model, data, seed=config.train.seed + RESAMPLE_SALT, until=int(0.8 * config.train.steps),
                            log=resampled), *hooks]
    history = train(model, data, config.train, hooks=hooks, progress=progress, description=label)
    run = Run(config=config, model=model, history=history_frame(history))
    if isinstance(config, SAERunConfig):
        run.truth = {"true_features": data.true_features}
        if config.source.kind == "toy":
            run.truth["W"] = data.W
    run.metrics = analyze(run)
    if isinstance(config, SAERunConfig):
        # What training saw: latents silent over the last `dead_window` steps, and how many were resampled.
        run.metrics["dead_in_training"] = model.dead_latents().sum(-1).tolist()
        run.metrics["resampled"] = [sum(counts[k] for _, counts in resampled) for k in range(model.n_instances)]
    if out is not None:
        save_run(run, out, overwrite=overwrite)
    return run
