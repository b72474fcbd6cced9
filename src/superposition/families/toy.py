"""The toy-model family (Toy Models of Superposition): linear and ReLU-output autoencoders, the neuron model and the
abs computation model, all trained on sparse synthetic features."""

from __future__ import annotations

from functools import cached_property
import json
from typing import TYPE_CHECKING, Any

import torch

from .. import plots
from ..analysis.dynamics import known_fractions
from ..analysis.geometry import NOT_REPRESENTED, classify, describe
from ..analysis.metrics import dimensionality
from ..analysis.neurons import summarize_neurons
from ..analysis.table import feature_table
from ..config import RunConfig, parse_run_config
from ..data import FeatureData
from ..errors import SuperpositionError
from ..models import ComputationModel, NeuronModel, ToyModel
from ..plots.dynamics import training_animation
from . import Batching, CliSpec, Family, Table, register

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from ..runs import Run

MODEL_NAMES = {
    "linear": "linear model",
    "relu": "ReLU output model",
    "neuron": "ReLU hidden layer (neuron model)",
    "abs": "computation model",
}
MODELS = {"linear": ToyModel, "relu": ToyModel, "neuron": NeuronModel, "abs": ComputationModel}


def build_model(config: RunConfig, generator: torch.Generator | None = None):
    cls = MODELS[config.model.kind]
    return cls(config.model, n_features=config.data.n_features, n_instances=config.data.n_instances,
               generator=generator, device=config.train.device)


def build_data(config: RunConfig, device: str, truth=None) -> FeatureData:
    return FeatureData(config.data, device=device)


def feature_matrix(run: Run) -> torch.Tensor:
    """Feature directions in the hidden layer, `[n_instances, n_features, n_hidden]` (W1 for the abs model)."""
    weights = run.model.weights()
    return weights["W"] if "W" in weights else weights["W1"]


def analyze(run: Run) -> pd.DataFrame:
    """One row per instance x feature: every measure of superposition and each feature's geometric structure."""
    return feature_table(feature_matrix(run), run.b, run.config.data)


def _importance_text(config: RunConfig) -> str:
    data = config.data
    if data.importance_decay is not None:
        return f"importance {data.importance_decay:g}^i"
    table = data.importance_table()
    if bool((table == table[0, 0]).all()):
        return "equal importance"
    return "importance given per feature"


def title(config: RunConfig) -> str:
    """One line describing a run, e.g. 'ReLU output model · n=5 features, m=2 hidden · 10 instances · importance 0.9^i'.

    >>> from superposition import make_config
    >>> title(make_config(data=dict(n_features=5, importance_decay=0.9), model=dict(n_hidden=2)))
    'ReLU output model · n=5 features, m=2 hidden · 1 instance · importance 0.9^i'
    """
    data, model = config.data, config.model
    n_inst = data.n_instances
    parts = [
        MODEL_NAMES[model.kind],
        f"n={data.n_features} features, m={model.n_hidden} hidden",
        f"{n_inst} instance{'s' if n_inst != 1 else ''}",
        _importance_text(config),
    ]
    if not model.tied and model.kind in ("linear", "relu"):
        parts.append("untied decoder")
    if not model.bias:
        parts.append("no bias")
    if data.target == "abs":
        parts.append("target |x|")
    if data.magnitude != "uniform":
        parts.append(f"{data.magnitude} magnitudes")
    for n, kind in ((data.correlated_pairs, "correlated"), (data.anticorrelated_pairs, "anticorrelated")):
        if n:
            parts.append(f"{n} {kind} pair{'s' if n != 1 else ''}")
    return " · ".join(parts)


def instance_label(config: RunConfig, instance: int) -> str:
    """The feature probability of one instance, e.g. '1−S = 0.2' (or 'mean 1−S = 0.2' when features differ)."""
    p = config.data.probability()[instance]
    if bool((p == p[0]).all()):
        return f"1−S = {float(p[0]):.3g}"
    return f"mean 1−S = {float(p.mean()):.3g}"


def nonnegative_inputs(config: RunConfig) -> bool:
    """Whether the model's inputs are never negative (the neuron model's features lie in [0, 1])."""
    return config.data.magnitude in ("uniform", "constant")


class FigureInputs:
    """What the toy figures draw, read from a run once: the feature matrix `W` and bias `b`, the per-feature table
    (computed when first asked for), the instance labels and the run's title, and what its data says (importance,
    feature probabilities, whether inputs are non-negative)."""

    def __init__(self, run: Run) -> None:
        config = run.config
        self.W = feature_matrix(run)
        want = (config.data.n_instances, config.data.n_features, config.model.n_hidden)
        if tuple(self.W.shape) != want:  # every title would describe the wrong model
            raise SuperpositionError(f"cannot plot: W has shape {tuple(self.W.shape)} but the config describes "
                                     f"[n_instances, n_features, n_hidden] = {want}")
        self.b = run.b
        self.data = config.data
        self.labels = [TOY.instance_label(config, k) for k in range(config.data.n_instances)]
        self.title = TOY.title(config)
        self.importance = config.data.importance_table()
        self.probability = config.data.probability()
        self.nonnegative = nonnegative_inputs(config)
        self.history = run.history

    @cached_property
    def table(self) -> pd.DataFrame:
        """The per-feature table (`analysis.table.feature_table`) of the run's weights."""
        return feature_table(self.W, self.b, self.data)


def figure_inputs(run: Run) -> FigureInputs:
    """A toy run's figure inputs (its weights, table, labels and title), for `plots.toy` and `plots.neurons`."""
    return FigureInputs(run)


def figures(run: Run) -> list[go.Figure]:
    """Every figure of a toy run: the neuron figures for the neuron and abs models, the feature figures otherwise;
    the loss history, then (for a run with snapshots) the animation of the features over training."""
    f = figure_inputs(run)
    loss = plots.loss_history(f.history, f.labels, f.title)
    if run.config.model.kind in ("neuron", "abs"):
        out = [plots.neurons(f.W, f.importance, f.labels, f.title, nonnegative_inputs=f.nonnegative),
               plots.polysemantic_neurons(f.W, f.probability, f.title, nonnegative_inputs=f.nonnegative), loss]
    else:
        out = [plots.features_2d(f.W, f.table, f.labels, f.title), plots.wtw_and_norms(f.W, f.table, f.labels, f.title),
               plots.dimensionality_scatter(f.table, f.title), plots.interference(f.table, f.labels, f.title),
               plots.bias(f.b, f.labels, f.title), loss]
    return out + ([animation(run)] if run.snapshots is not None else [])


def snapshot_features(run: Run) -> torch.Tensor:
    """The feature matrix at every snapshot, `[snapshots, n_instances, n_features, n_hidden]` (W1 for the abs model)."""
    if run.snapshots is None:
        raise SuperpositionError(f"{run.path or 'this run'} has no snapshots (train with --snapshots N)")
    tensors = run.snapshots.tensors
    return (tensors["W"] if "W" in tensors else tensors["W1"]).detach().float().cpu()


def animation(run: Run, instances: list[int] | None = None) -> go.Figure:
    """The features and their dimensionalities D_i over training, from the run's snapshots (`plots.dynamics`)."""
    W = snapshot_features(run)
    assert run.snapshots is not None  # snapshot_features refused a run without them
    S, k, n, m = W.shape
    D = dimensionality(W.reshape(S * k, n, m)).reshape(S, k, n)
    labels = [TOY.instance_label(run.config, i) for i in range(k)]
    return training_animation(W, run.snapshots.steps.tolist(), D, labels, TOY.title(run.config), instances,
                              fractions=known_fractions(m))


def document(run: Run) -> dict[str, Any]:
    """What `superposition analyze --json` prints: per instance its loss, dimensions per feature, geometry (and
    neurons for the neuron and abs models), and every per-feature metric."""
    table = analyze(run)
    W = feature_matrix(run)
    structures = classify(W)
    probs = run.config.data.probability()
    final = run.final_loss()
    instances = []
    for k in range(run.config.data.n_instances):
        rows = table[table.instance == k]
        instances.append({
            "instance": k,
            "feature_probability": probs[k].tolist(),
            "final_loss": final[k] if k < len(final) else None,
            "dims_per_feature": float(rows.dims_per_feature.iloc[0]),
            "n_represented": int((rows.structure != NOT_REPRESENTED).sum()),
            "structures": [
                {"kind": s.kind, "features": s.features, "n_dims": s.n_dims, "dimensionality": s.dimensionality}
                for s in structures[k]
            ],
            "features": rows.drop(columns=["instance"]).to_dict(orient="records"),
        })
    if run.config.model.kind in ("neuron", "abs"):
        summaries = summarize_neurons(W, run.model.weights().get("W2"), run.b,
                                      nonnegative_inputs=nonnegative_inputs(run.config))
        for inst, summary in zip(instances, summaries):
            inst["neurons"] = summary.as_dict()
    return {"run": str(run.path), "model": run.config.model.kind, "instances": instances}


def tables(doc: dict[str, Any]) -> list[Table]:
    from ..analysis.geometry import Structure

    rows = [{
        "instance": inst["instance"],
        "p": sum(inst["feature_probability"]) / len(inst["feature_probability"]),
        "final_loss": inst["final_loss"],
        "dims_per_feature": inst["dims_per_feature"],
        "n_represented": inst["n_represented"],
        "geometry": describe([Structure(**s) for s in inst["structures"]]),
    } for inst in doc["instances"]]
    out = [Table(f"{doc['run']} ({doc['model']} model)", rows, [
        ("instance", "instance", "{}"), ("1-S (mean)", "p", "{:.3g}"), ("final loss", "final_loss", "{:.4g}"),
        ("dims/feature", "dims_per_feature", "{:.3g}"), ("represented", "n_represented", "{}"),
        ("geometry", "geometry", "{}")])]
    if any("neurons" in inst for inst in doc["instances"]):
        neurons = [{"instance": inst["instance"], **{k: inst["neurons"][k] for k in ("monosemantic", "polysemantic",
                                                                                      "dead")},
                    "computed": len(inst["neurons"]["features_computed"]), "motifs": len(inst["neurons"]["motifs"])}
                   for inst in doc["instances"]]
        out.append(Table("neurons", neurons, [
            ("instance", "instance", "{}"), ("monosemantic", "monosemantic", "{}"),
            ("polysemantic", "polysemantic", "{}"), ("dead", "dead", "{}"),
            ("features computed", "computed", "{}"), ("motifs", "motifs", "{}")]))
    return out


def saved(run: Run) -> str:
    losses = ", ".join(f"{v:.4g}" for v in run.final_loss())
    return f"saved {run.path} ({run.config.data.n_instances} instances, final loss per instance: {losses})"


def memory(config: RunConfig) -> tuple[int, int]:
    d, m = config.data, config.model
    n, h, k = d.n_features, m.n_hidden, d.n_instances
    weights = n * h * (1 if m.kind in ("linear", "relu", "neuron") and m.tied else 2) + n
    # a batch's inputs, targets and outputs, and its hidden activations, a few copies each
    return k * weights, k * config.train.batch_size * (n + h) * 8


def batch_key(config: RunConfig) -> str:
    """What must agree for two toy configs to share a run: everything but the per-instance fields (and whether
    importance is given at all)."""
    dump = config.model_dump(mode="json")
    importance = dump["data"].pop("importance")
    dump["data"].pop("feature_probability")
    return json.dumps([dump, importance is None], sort_keys=True)


def batch(configs: list[RunConfig]) -> RunConfig:
    """One toy run config whose instances are the configs' instances, in order."""
    dump = configs[0].model_dump(mode="json")
    dump["data"]["feature_probability"] = [p for c in configs for p in c.data.feature_probability]
    given: list[Any] = [c.model_dump(mode="json")["data"]["importance"] for c in configs]
    if given[0] is not None:
        if all(g == given[0] for g in given) and not isinstance(given[0][0], list):
            dump["data"]["importance"] = given[0]  # one row for every instance, as each config gives it
        else:  # a row per instance
            dump["data"]["importance"] = [row for c, g in zip(configs, given)
                                          for row in (g if isinstance(g[0], list) else [g] * c.n_instances)]
    return parse_run_config(dump)


TOY = register(Family(
    name="toy",
    config=RunConfig,
    build_model=build_model,
    build_data=build_data,
    analyze=analyze,
    figures=figures,
    title=title,
    instance_label=instance_label,
    label=lambda config: f"{config.model.kind} n={config.data.n_features} m={config.model.n_hidden}",
    metric_rows=lambda config: config.data.n_instances * config.data.n_features,
    memory=memory,
    features=feature_matrix,
    cli=CliSpec(
        saved=saved,
        document=document,
        tables=tables,
    ),
    batching=Batching(key=batch_key, merge=batch),
))
