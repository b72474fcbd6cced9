"""The sparse-autoencoder family (sparse coding): SAEs trained on a toy run's hidden activations or on synthetic data
with known features, scored against the true features."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from .. import plots
from ..analysis.dictionary import evaluate
from ..config import SAERunConfig
from ..data import FeatureData
from ..data.sphere import HiddenActivations, SphereFeatures
from ..errors import ConfigError
from ..models import SparseAutoencoder
from ..models.sae import sae_hooks
from . import CliSpec, Family, Table, Training, register

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from ..runs import Run

# Salts for the evaluation and resampling draws, so that neither repeats the trainer's batches (which come from a
# generator seeded with train.seed).
HELD_OUT_SALT = 0x0E7A1
RESAMPLE_SALT = 0x2E5A3
# Resampling stops at this share of training, so that resampled latents are trained before the end.
RESAMPLE_UNTIL = 0.8


def build_model(config: SAERunConfig, generator: torch.Generator | None = None) -> SparseAutoencoder:
    return SparseAutoencoder(config.model, d_in=config.source.d_in, n_instances=config.model.n_instances,
                             generator=generator, device=config.train.device)


def one_instance(data, k: int):
    """The toy data config of instance k alone (its probabilities and importance)."""
    return data.model_copy(update=dict(
        feature_probability=[data.feature_probability[k]], importance=data.importance_table()[k].tolist(),
        importance_decay=None))


def _toy_weights(config: SAERunConfig) -> torch.Tensor:
    """W of the toy instance the source names, read from the toy run directory `source.run`."""
    from ..runs import load_run

    src = config.source
    if src.run is None:
        raise ConfigError("an SAE on a toy source reads a trained toy run: set source.run to its directory (train "
                          "the toy run first and save it)")
    run = load_run(src.run, device="cpu")
    if run.config != src.toy:
        raise ConfigError(f"source.run {src.run} does not hold the toy run source.toy describes")
    return run.W[src.instance : src.instance + 1]


def build_data(config: SAERunConfig, device: str, truth: Mapping[str, torch.Tensor] | None = None):
    """The SAE's data. A saved run's truth file holds what the data was built from (the toy instance's W, the true
    features), so a saved SAE is analysed without its source."""
    src = config.source
    if src.kind == "sphere":
        data = SphereFeatures(src.d, src.n_features, src.n_active, n_instances=1, seed=src.seed,
                              correlation=src.correlation, group_size=src.group_size, device=device)
        if truth is not None:  # the features trained on (CPU and CUDA draw different ones from one seed)
            data.true_features = truth["true_features"].to(device)
        return data
    W = truth["W"] if truth is not None else _toy_weights(config)
    return HiddenActivations(W.to(device), FeatureData(one_instance(src.toy_config.data, src.instance), device=device))


def truth(config: SAERunConfig, data) -> dict[str, torch.Tensor]:
    out = {"true_features": data.true_features}
    if config.source.kind == "toy":
        out["W"] = data.W
    return out


def check_truth(config: SAERunConfig, tensors: Mapping[str, torch.Tensor]) -> str | None:
    """What is wrong with a truth file for this config, or None."""
    src = config.source
    features = tensors.get("true_features")
    if features is None or features.ndim != 3 or features.shape[0] != 1 or features.shape[2] != src.d_in:
        return (f"true_features must be [1, n_true, {src.d_in}], got "
                f"{None if features is None else tuple(features.shape)}")
    if src.kind == "sphere" and features.shape[1] != src.n_features:
        return f"true_features holds {features.shape[1]} features, config.json says {src.n_features}"
    if src.kind == "toy":
        expected = (1, src.toy_config.data.n_features, src.toy_config.model.n_hidden)
        if "W" not in tensors or tuple(tensors["W"].shape) != expected:
            return f"W must be {list(expected)} for this toy source, got {tuple(tensors['W'].shape) if 'W' in tensors else 'nothing'}"
    extra = sorted(set(tensors) - {"true_features", "W"})
    return f"unexpected tensor {extra[0]!r}" if extra else None


def training(config: SAERunConfig, model: SparseAutoencoder, data: Any) -> Training:
    """Decoder renormalisation and resampling hooks, and the facts only training sees: latents silent over the last
    `dead_window` steps, and how many were resampled."""
    resampled: list[tuple[int, list[int]]] = []
    hooks = sae_hooks(model, data, seed=config.train.seed + RESAMPLE_SALT,
                      until=int(RESAMPLE_UNTIL * config.train.steps), log=resampled)

    def facts() -> dict[str, list[Any]]:
        return {"dead_in_training": model.dead_latents().sum(-1).tolist(),
                "resampled": [sum(counts[k] for _, counts in resampled) for k in range(model.n_instances)]}

    return Training(hooks=hooks, facts=facts)


def analyze(run: Run) -> pd.DataFrame:
    """One row per autoencoder: L0, explained variance, shrinkage, dead latents and recovery of the true features,
    on held-out samples (`analysis.dictionary.evaluate`)."""
    data = build_data(run.config, str(run.model.b_dec.device), truth=run.truth)
    if run.truth is None:
        raise ConfigError("an SAE run is analysed against its truth (truth.safetensors), which this run lacks")
    table = evaluate(run.model, data, true_features=run.truth["true_features"],
                     seed=run.config.train.seed + HELD_OUT_SALT)
    table.insert(1, "d_sae", run.config.model.d_sae)
    table.insert(2, "l1", run.config.model.resolved_l1(run.config.model.n_instances))
    return table


def resolve(config: SAERunConfig, trained: Mapping[str, Run]) -> SAERunConfig:
    """A toy source without a directory reads the trained run (among `trained`) whose config is source.toy."""
    src = config.source
    if src.kind != "toy" or src.run is not None:
        return config
    for run in trained.values():
        if run.config == src.toy and run.path is not None:
            return config.model_copy(update={"source": src.model_copy(update={"run": str(run.path)})})
    raise ConfigError("the SAE's toy source is not among the runs trained before it")


def title(config: SAERunConfig) -> str:
    """One line describing an SAE run, e.g. 'SAE (ReLU + L1), 5 latents, untied · on the hidden layer of ...'."""
    m, src = config.model, config.source
    kind = "TopK, k=" + str(m.k) if m.activation == "topk" else "ReLU + L1"
    parts = [f"SAE ({kind}), {m.d_sae} latents, {'tied' if m.tied else 'untied'}"]
    if src.kind == "toy":
        p = src.toy_config.data.probability()[src.instance]
        parts.append(f"on the hidden layer of a {src.toy_config.model.kind} toy model, n={src.toy_config.data.n_features}, "
                     f"m={src.toy_config.model.n_hidden}, 1−S = {float(p.mean()):.3g}")
    else:
        parts.append(f"on {src.n_features} random unit features in {src.d} dimensions, {src.n_active:g} active "
                     "on average" + (f", correlation {src.correlation:g}" if src.correlation else ""))
    parts.append(f"{config.train.steps} steps")
    return " · ".join(parts)


def instance_label(config: SAERunConfig, instance: int) -> str:
    l1 = config.model.resolved_l1(config.model.n_instances)[instance]
    return f"L1 = {l1:g}" if config.model.activation == "relu" else f"instance {instance}"


@dataclass(frozen=True)
class FigureInputs:
    """What `plots.dictionary` draws of an SAE run: the true features `[n_true, d]` (None without a truth file), the
    decoder rows `[n_instances, d_sae, d]`, each autoencoder's mean max cosine once measured, the loss history, the
    instance labels and the run's title."""

    true_features: torch.Tensor | None
    decoder: torch.Tensor
    mmcs: list[float] | None
    history: pd.DataFrame
    labels: list[str]
    title: str


def figure_inputs(run: Run) -> FigureInputs:
    """An SAE run's figure inputs."""
    config, metrics = run.config, run.metrics
    return FigureInputs(
        None if run.truth is None else run.truth["true_features"][0], run.model.decoder.detach(),
        metrics.mmcs.tolist() if metrics is not None and "mmcs" in metrics else None, run.history,
        [SAE.instance_label(config, k) for k in range(config.model.n_instances)], SAE.title(config),
    )


def figures(run: Run) -> list[go.Figure]:
    """Every figure of an SAE run, in reading order: the learned dictionary over the true features (2-dimensional
    inputs only), the loss history."""
    f = figure_inputs(run)
    figs = []
    if f.true_features is not None and f.true_features.shape[-1] == 2:
        figs.append(plots.decoder_directions(f.true_features, f.decoder, f.labels, f.title, mmcs=f.mmcs))
    return figs + [plots.loss_history(f.history, f.labels, f.title)]


def prepare(config: dict[str, Any], extras: dict[str, Any]) -> dict[str, Any]:
    """`sae train RUN_DIR` reads a toy run's hidden layer; `sae train --sphere` synthetic data."""
    from ..runs import load_run

    run_dir, sphere = extras.get("run_dir"), extras.get("sphere")
    if (run_dir is None) == (not sphere):
        raise ConfigError("give a toy RUN_DIR or --sphere (one of them)")
    source = dict(config.get("source") or {})
    synthetic = ("d", "n_features", "n_active", "correlation", "group_size", "seed")
    if sphere:
        if "instance" in source:
            raise ConfigError("--instance applies to a toy RUN_DIR only")
        source["kind"] = "sphere"
    else:
        given = [k for k in synthetic if k in source]
        if given:
            raise ConfigError(f"--{SAERunConfig.command_line.flags.get('source.' + given[0], given[0]).lstrip('-').replace('_', '-')} applies "
                              "to --sphere data only")
        toy = load_run(str(run_dir), device="cpu")
        if toy.config.family != "toy":
            raise ConfigError(f"{run_dir} is a {toy.config.family} run; SAEs read toy runs")
        source.update(kind="toy", toy=toy.config.model_dump(), run=str(run_dir))
    return {**config, "source": source}


def document(run: Run) -> dict[str, Any]:
    rows = analyze(run).to_dict(orient="records")
    for k, row in enumerate(rows):
        row.update({name: values[k] for name, values in (run.facts or {}).items()})
    return {"run": str(run.path), "config": run.config.model_dump(mode="json"), "instances": rows}


def tables(doc: dict[str, Any]) -> list[Table]:
    config = SAERunConfig.model_validate(doc["config"])
    src = config.source
    what = (f"toy run {src.run or ''} instance {src.instance}" if src.kind == "toy"
            else f"sphere d={src.d}, {src.n_features} features, {src.n_active:g} active")
    heading = f"{doc['run']} (SAE, {config.model.activation}, d_sae={config.model.d_sae}, on {what})"
    return [Table(heading, doc["instances"], [
        ("instance", "instance", "{}"), ("l1", "l1", "{:g}"), ("L0", "l0", "{:.3g}"),
        ("explained var.", "explained_variance", "{:.4f}"), ("shrinkage", "shrinkage", "{:.3f}"),
        ("dead (eval)", "dead_fraction", "{:.1%}"), ("dead (training)", "dead_in_training", "{}"),
        ("MMCS", "mmcs", "{:.4f}"), ("matched", "matched_score", "{:.4f}"), ("mcc", "mcc", "{:.4f}"),
        ("uniqueness", "uniqueness", "{:.3f}")])]


def saved(run: Run) -> str:
    n = run.config.model.n_instances
    return (f"saved {run.path} ({n} autoencoder{'s' if n != 1 else ''}; mean max cosine with the true features: "
            + ", ".join(f"{v:.3f}" for v in (run.metrics if run.metrics is not None else analyze(run)).mmcs) + ")")


def memory(config: SAERunConfig) -> tuple[int, int]:
    src, m, k = config.source, config.model, config.model.n_instances
    d_in = src.d_in
    weights = d_in * m.d_sae * (1 if m.tied else 2) + m.d_sae + d_in
    n_true = src.n_features if src.kind == "sphere" else src.toy_config.data.n_features
    return k * weights, k * config.train.batch_size * (m.d_sae + d_in + n_true) * 8 + n_true * d_in



SAE = register(Family(
    name="sae",
    config=SAERunConfig,
    build_model=build_model,
    build_data=build_data,
    analyze=analyze,
    figures=figures,
    title=title,
    instance_label=instance_label,
    label=lambda c: f"SAE d_sae={c.model.d_sae} on {c.source.kind}",
    metric_rows=lambda config: config.model.n_instances,
    memory=memory,
    training=training,
    truth=truth,
    check_truth=check_truth,
    resolve=resolve,
    cli=CliSpec(
        saved=saved,
        document=document,
        tables=tables,
        prepare=prepare,
    ),
))
