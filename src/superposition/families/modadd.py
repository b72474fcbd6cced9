"""The modular-addition family (mixing superposition): the bilinear (or ReLU) embedded MLP trained full-batch on
(a + b) mod p."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from ..analysis.modadd import summarize
from ..config import ModAddRunConfig
from ..data.modadd import ModAddData
from ..models import BilinearModAdd
from . import CliSpec, Family, Table, register

if TYPE_CHECKING:
    import pandas as pd

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


def figures(run: Run) -> list:
    from ..plots.modadd import modadd_figures

    return modadd_figures(run)


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
    accs = ", ".join(f"{a:.3f}" for a in run.metrics.test_accuracy)
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
        command="modadd",
        help="Modular addition with a bilinear layer: train, then measure frequencies, mixing and sparsity.",
        saved=saved,
        document=document,
        tables=tables,
        flags={"model.kind": "--model", "model.n_instances": "--instances"},
    ),
))
