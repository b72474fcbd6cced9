"""Figures of sparse-autoencoder runs (sparse coding): learned decoder directions over the true features, and
recovery of the true features against dictionary size and L1 coefficient.

`decoder_directions` takes one run's tensors, its instance labels and its one-line title; the sweeps take a table of
`analysis.dictionary.evaluate` rows and a plain-text title.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from jaxtyping import Float
from plotly.subplots import make_subplots
from torch import Tensor

from ..errors import SuperpositionError
from .common import (
    PANEL,
    TEMPLATE,
    _cell,
    _colour,
    _equal_aspect,
    _grid,
    check_labels,
    chosen_instances,
    figure_title,
    heading,
)


def decoder_directions(
    true_features: Float[Tensor, "n_true d"] | None, decoder: Float[Tensor, "inst d_sae d"], labels: Sequence[str],
    title: str, mmcs: Sequence[float] | None = None, instances: Sequence[int] | None = None, max_cols: int = 3,
) -> go.Figure:
    """The learned dictionary (coloured arrows) over the true features (grey), one panel per autoencoder; for a
    2-dimensional input (an SAE on a toy model with m = 2). `mmcs` (one per autoencoder, when measured) joins each
    panel's title. A run without its true features (None) is refused."""
    if true_features is None:
        raise SuperpositionError("decoder_directions needs the SAE's true features (its truth file)")
    if true_features.shape[1] != 2:
        raise SuperpositionError(
            f"decoder_directions draws 2-dimensional inputs, this SAE reads {true_features.shape[1]}"
        )
    check_labels(decoder.shape[0], labels)
    true = true_features.detach().cpu().numpy()
    learned = decoder.detach().cpu().numpy()
    chosen = chosen_instances(decoder.shape[0], instances)
    rows, cols = _grid(len(chosen), max_cols)
    titles = [labels[k] + (f", MMCS {mmcs[k]:.3f}" if mmcs is not None else "") for k in chosen]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.06, vertical_spacing=0.12)
    for i, k in enumerate(chosen):
        r, c = _cell(i, cols)
        for j, (x, y) in enumerate(true):
            fig.add_trace(go.Scatter(x=[0, x], y=[0, y], mode="lines", line=dict(color="#bdbdbd", width=7),
                                     name="true feature", legendgroup="true", showlegend=i == 0 and j == 0,
                                     hovertemplate=f"true feature {j}<extra></extra>"), row=r, col=c)
        for j, (x, y) in enumerate(learned[k]):
            fig.add_trace(go.Scatter(x=[0, x], y=[0, y], mode="lines+markers",
                                     line=dict(color=_colour("Viridis", j, 0, len(learned[k]) - 1), width=2),
                                     marker=dict(size=[0, 7]), name="learned latent", legendgroup="learned",
                                     showlegend=i == 0 and j == 0,
                                     hovertemplate=f"latent {j}<br>(%{{x:.3f}}, %{{y:.3f}})<extra></extra>"),
                          row=r, col=c)
        fig.update_xaxes(range=[-1.15, 1.15], showticklabels=False, row=r, col=c)
        fig.update_yaxes(range=[-1.15, 1.15], showticklabels=False, row=r, col=c)
        _equal_aspect(fig, r, c)
    fig.update_layout(title=figure_title("Learned dictionary over the true features", title),
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
    fig.update_layout(title=heading(title), template=TEMPLATE, width=620, height=440)
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
    fig.update_layout(title=heading(title), template=TEMPLATE, width=1000, height=380 * rows + 60)
    return fig


__all__ = ["CURVES", "decoder_directions", "recovery_curves", "recovery_heatmap"]
