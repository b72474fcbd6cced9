"""The modular-addition family (mixing superposition): the bilinear (or ReLU) embedded MLP trained full-batch on
(a + b) mod p."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch

from .. import plots
from ..analysis.modadd import can_involute, can_unmix, summarize, unmix
from ..config import ModAddRunConfig
from ..data.modadd import ModAddData
from ..errors import SuperpositionError
from ..models import BilinearModAdd
from . import CliSpec, Family, Table, register

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from ..runs import Run

LOSS_NAMES = {"ce": "cross-entropy", "mse": "squared error"}


def build_model(config: ModAddRunConfig, generator: torch.Generator | None = None) -> BilinearModAdd:
    return BilinearModAdd(config.model, p=config.data.p, generator=generator, device=config.train.device)


def build_data(config: ModAddRunConfig, device: str, truth=None) -> ModAddData:
    d = config.data
    return ModAddData(d.p, d.train_fraction, seed=d.split_seed, device=device)


def analyze(run: Run) -> pd.DataFrame:
    """One row per init: accuracy, loss, frequencies, mixing, sparsity, |w|·λ, rounding (`analysis.modadd`)."""
    data = build_data(run.config, str(run.model.embed.device))
    return summarize(run.model, data, run.config.train.resolved_weight_decay)


def title(config: ModAddRunConfig) -> str:
    """One line describing a run, e.g. 'bilinear MLP for (a + b) mod p · p=113, d=4, 16 hidden · 4 inits · ...'."""
    m, t = config.model, config.train
    n = m.n_instances
    parts = [
        f"{'bilinear' if m.kind == 'bilinear' else 'ReLU'} MLP for (a + b) mod p",
        f"p={config.data.p}, d={m.d_embed}, {m.n_hidden} hidden",
        f"{n} init{'s' if n != 1 else ''}",
        LOSS_NAMES[m.loss],
        f"{t.optimizer.replace('adamw', 'AdamW').replace('adam', 'Adam')} λ={t.resolved_weight_decay:g}",
        f"{t.steps} steps",
    ]
    if m.layer_norm:
        parts.append("layer norm")
    if m.bias:
        parts.append("biases")
    return " · ".join(parts)


def unmixed(run: Run, instance: int) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor] | None, str]:
    """(learned, unmixed, how) for one init, weights of that init alone (no instance dimension) as float64: unmixed by
    the note's involution where it applies (d = 4), else by the general inverse; None (and how "") where no unmixing
    applies (a ReLU model, an odd embedding, layer norm)."""
    m = run.config.model
    if not 0 <= instance < m.n_instances:
        raise SuperpositionError(f"instance must lie in 0..{m.n_instances - 1}, got {instance}")
    w = {k: v[instance : instance + 1].double() for k, v in run.model.weights().items()}
    model = BilinearModAdd.from_weights(w, layer_norm=m.layer_norm, loss_kind=m.loss)
    learned = {k: v[0] for k, v in w.items()}
    if m.kind != "bilinear" or not can_unmix(model):
        return learned, None, ""
    how: Literal["involution", "inverse"] = "involution" if can_involute(model) else "inverse"
    return learned, {k: v[0] for k, v in unmix(model, how).weights().items()}, how


@dataclass(frozen=True)
class FigureInputs:
    """What `plots.modadd` draws of a run: init `instance`'s weights learned and unmixed (`unmixed`), the weights of
    every init with the weight decay λ, the loss history, the instance labels and the run's title."""

    instance: int
    learned: dict[str, torch.Tensor]
    unmixed: dict[str, torch.Tensor] | None
    how: str
    weights: dict[str, torch.Tensor]
    weight_decay: float
    history: pd.DataFrame
    labels: list[str]
    title: str


def figure_inputs(run: Run, instance: int = 0) -> FigureInputs:
    """A modadd run's figure inputs, init `instance` for the per-init figures."""
    config = run.config
    learned, mixed, how = unmixed(run, instance)
    return FigureInputs(instance, learned, mixed, how, run.model.weights(), config.train.resolved_weight_decay,
                        run.history, [MODADD.instance_label(config, k) for k in range(config.model.n_instances)],
                        MODADD.title(config))


def figures(run: Run) -> list[go.Figure]:
    """Every figure of a modadd run, in reading order: init 0's frequencies (and bilinear weights), the weight
    magnitudes of every init, the loss history."""
    f = figure_inputs(run)
    label = f.labels[f.instance]
    figs = [plots.frequency_shares(f.learned, f.unmixed, f.how, label, f.title)]
    if run.config.model.kind == "bilinear":
        figs.append(plots.bilinear_weights(f.learned, f.unmixed, f.how, label, f.title))
    return figs + [plots.weight_magnitudes(f.weights, f.weight_decay, f.title),
                   plots.loss_history(f.history, f.labels, f.title)]


def document(run: Run) -> dict[str, Any]:
    rows = analyze(run).to_dict(orient="records")
    for row, loss in zip(rows, run.final_loss()):
        row["final_logged_loss"] = loss
    return {"run": str(run.path), "config": run.config.model_dump(mode="json"), "instances": rows}


def tables(doc: dict[str, Any]) -> list[Table]:
    c = doc["config"]
    m = c["model"]
    wd = ModAddRunConfig.model_validate(c).train.resolved_weight_decay
    heading = f"{doc['run']} ({m['kind']}, p={c['data']['p']}, d={m['d_embed']}, hidden={m['n_hidden']}, wd={wd:g})"
    return [Table(heading, doc["instances"], [
        ("instance", "instance", "{}"), ("test acc", "test_accuracy", "{:.4f}"), ("train loss", "train_loss", "{:.3g}"),
        ("test loss", "test_loss", "{:.3g}"), ("frequencies per column (share)", "column_frequencies", "{}"),
        ("freqs/col", "freqs_per_column", "{:.2f}"), ("L,R Hoyer", "hidden_hoyer", "{:.2f}"),
        ("involution Hoyer", "involution_hidden_hoyer", "{:.2f}"), ("unmixed Hoyer", "unmixed_hidden_hoyer", "{:.2f}"),
        ("median|L,R|·λ", "hidden_median_abs_x_wd", "{:.2f}"), ("rounding Δloss", "rounded_binary_loss_change",
                                                                "{:+.3g}")])]


def saved(run: Run) -> str:
    accs = ", ".join(f"{a:.3f}" for a in (run.metrics if run.metrics is not None else analyze(run)).test_accuracy)
    return f"saved {run.path} ({run.config.model.n_instances} instances, test accuracy per instance: {accs})"


def memory(config: ModAddRunConfig) -> tuple[int, int]:
    p, m, k = config.data.p, config.model, config.model.n_instances
    weights = p * m.d_embed + 2 * m.n_hidden * 2 * m.d_embed + p * m.n_hidden + 2 * m.n_hidden + p
    pairs = p * p  # full batch: [instances, pairs, p] logits with their softmax and gradient, and the pairs' indices
    return k * weights, k * pairs * (p + m.n_hidden + 2 * m.d_embed) * 3 + pairs * 6


MODADD = register(Family(
    name="modadd",
    config=ModAddRunConfig,
    build_model=build_model,
    build_data=build_data,
    analyze=analyze,
    figures=figures,
    title=title,
    instance_label=lambda config, k: f"init {k}",
    label=lambda c: f"{c.model.kind} p={c.data.p} d={c.model.d_embed} hidden={c.model.n_hidden}",
    metric_rows=lambda config: config.model.n_instances,
    memory=memory,
    cli=CliSpec(
        saved=saved,
        document=document,
        tables=tables,
    ),
))
