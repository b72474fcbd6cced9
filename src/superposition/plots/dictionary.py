"""Figures of sparse-autoencoder runs: learned decoder directions over the true features, and recovery of the true
features against dictionary size and L1 coefficient. Titles are built from the run config."""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..config import SAERunConfig
from ..errors import SuperpositionError
from ..runs import Run
from . import PANEL, TEMPLATE, _cell, _colour, _equal_aspect, _grid, instance_label, run_title


def _sae(run: Run) -> None:
    if run.config.family != "sae" or run.truth is None:
        raise SuperpositionError(f"this figure needs an SAE run with its truth, got a {run.config.family} run")


def decoder_directions(run: Run, instances: Sequence[int] | None = None, max_cols: int = 3) -> go.Figure:
    """The learned dictionary (coloured arrows) over the true features (grey), one panel per autoencoder; for a
    2-dimensional input (an SAE on a toy model with m = 2)."""
    _sae(run)
    true = run.truth["true_features"][0].cpu().numpy()
    if true.shape[1] != 2:
        raise SuperpositionError(f"decoder_directions draws 2-dimensional inputs, this SAE reads {true.shape[1]}")
    decoder = run.model.decoder.detach().cpu().numpy()
    chosen = list(range(run.model.n_instances)) if instances is None else list(instances)
    rows, cols = _grid(len(chosen), max_cols)
    metrics = run.metrics
    titles = []
    for k in chosen:
        note = f", MMCS {metrics.mmcs.iloc[k]:.3f}" if metrics is not None and "mmcs" in metrics else ""
        titles.append(instance_label(run.config, k) + note)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.06, vertical_spacing=0.12)
    for i, k in enumerate(chosen):
        r, c = _cell(i, cols)
        for j, (x, y) in enumerate(true):
            fig.add_trace(go.Scatter(x=[0, x], y=[0, y], mode="lines", line=dict(color="#bdbdbd", width=7),
                                     name="true feature", legendgroup="true", showlegend=i == 0 and j == 0,
                                     hovertemplate=f"true feature {j}<extra></extra>"), row=r, col=c)
        for j, (x, y) in enumerate(decoder[k]):
            fig.add_trace(go.Scatter(x=[0, x], y=[0, y], mode="lines+markers",
                                     line=dict(color=_colour("Viridis", j, 0, len(decoder[k]) - 1), width=2),
                                     marker=dict(size=[0, 7]), name="learned latent", legendgroup="learned",
                                     showlegend=i == 0 and j == 0,
                                     hovertemplate=f"latent {j}<br>(%{{x:.3f}}, %{{y:.3f}})<extra></extra>"),
                          row=r, col=c)
        fig.update_xaxes(range=[-1.15, 1.15], showticklabels=False, row=r, col=c)
        fig.update_yaxes(range=[-1.15, 1.15], showticklabels=False, row=r, col=c)
        _equal_aspect(fig, r, c)
    fig.update_layout(title=f"<b>Learned dictionary over the true features</b><br><sup>{run_title(run.config)}</sup>",
                      template=TEMPLATE, width=max(cols * PANEL + 120, 520), height=rows * PANEL + 160,
                      legend=dict(orientation="h", y=-0.05))
    return fig


def recovery_heatmap(table: pd.DataFrame, *, title: str, value: str = "mmcs") -> go.Figure:
    """A heatmap of `value` (default: mean max cosine) over dictionary size × L1 coefficient.

    `table` has columns `d_sae`, `l1` and the value (one row per autoencoder)."""
    grid = table.pivot_table(index="l1", columns="d_sae", values=value, aggfunc="mean").sort_index()
    text = np.vectorize(lambda v: f"{v:.3f}")(grid.to_numpy())
    fig = go.Figure(go.Heatmap(
        z=grid.to_numpy(), x=[str(c) for c in grid.columns], y=[f"{v:g}" for v in grid.index], zmin=0, zmax=1,
        colorscale="Viridis", text=text, texttemplate="%{text}", colorbar=dict(title=value),
        hovertemplate="d_sae %{x}<br>L1 %{y}<br>" + value + " %{z:.4f}<extra></extra>",
    ))
    fig.update_xaxes(title="dictionary size d_sae", type="category")
    fig.update_yaxes(title="L1 coefficient", type="category")
    fig.update_layout(title=f"<b>{html.escape(title)}</b>", template=TEMPLATE, width=620, height=440)
    return fig


# The panels of `recovery_curves`: a metric column of `analysis.dictionary.evaluate` and its panel title.
CURVES = (
    ("mmcs", "mean max cosine"),
    ("matched_score", "matched score (signed cos, one-to-one)"),
    ("mcc", "SAELens mcc (|cos|, one-to-one)"),
    ("uniqueness", "SAELens uniqueness"),
    ("dead_fraction", "dead latents (share, on held-out samples)"),
)


def recovery_curves(table: pd.DataFrame, *, title: str, n_true: int | None = None) -> go.Figure:
    """Recovery scores (mean max cosine, matched score, SAELens' mcc and uniqueness) and the share of dead latents
    against dictionary size, one line per L1; a panel for each of those columns the table has."""
    panels = [(metric, name) for metric, name in CURVES if metric in table]
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[name for _, name in panels], vertical_spacing=0.18)
    l1s = sorted(table.l1.unique())
    for i, l1 in enumerate(l1s):
        rows_l1 = table[table.l1 == l1].sort_values("d_sae")
        colour = _colour("Viridis", i, 0, len(l1s) - 1)
        for j, (metric, _) in enumerate(panels):
            r, c = _cell(j, cols)
            fig.add_trace(go.Scatter(x=rows_l1.d_sae, y=rows_l1[metric], mode="lines+markers", name=f"L1 = {l1:g}",
                                     line=dict(color=colour), showlegend=j == 0, legendgroup=str(l1),
                                     hovertemplate=f"L1 {l1:g}<br>d_sae %{{x}}<br>{metric} %{{y:.4f}}<extra></extra>"),
                          row=r, col=c)
            fig.update_xaxes(type="log", title="d_sae", row=r, col=c)
            if n_true is not None:
                fig.add_vline(x=n_true, line_dash="dot", line_color="#8c8c8c", row=r, col=c)
    fig.update_layout(title=f"<b>{html.escape(title)}</b>", template=TEMPLATE, width=1000, height=380 * rows + 60)
    return fig


def sae_figures(run: Run) -> list[go.Figure]:
    """Every figure of one SAE run, in reading order."""
    from . import loss_history

    figs = []
    if run.truth is not None and run.truth["true_features"].shape[-1] == 2:
        figs.append(decoder_directions(run))
    return figs + [loss_history(run)]


__all__ = ["decoder_directions", "recovery_curves", "recovery_heatmap", "sae_figures"]
