"""Figures of modular-addition runs (mixing superposition): the embedding's frequencies per column and the bilinear
weights, before and after unmixing; the magnitudes of the bilinear weights against 1/λ; the construction under weight
budgets; the condition sweep.

A run's figures take its weights by their documented names (`embed` [p, d], `L` and `R` [hidden, 2d] for one
instance; with the instance dimension first for `weight_magnitudes`), the instance's label and the run's one-line
title; the comparisons across runs take a table and a plain-text title.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from torch import Tensor

from ..analysis.fourier import frequency_share
from ..errors import SuperpositionError
from .common import DIVERGING_SCALE, TEMPLATE, chosen_instances, figure_title, heading


def _title(name: str, title: str, note: str = "") -> str:
    return figure_title(html.escape(name), title, html.escape(note))


def frequency_shares(
    learned: Mapping[str, Tensor], unmixed: Mapping[str, Tensor] | None, how: str, label: str, title: str,
    min_share: float = 0.02,
) -> go.Figure:
    """Share of each embedding column's squared norm per frequency (columns as rows), for the learned embedding and,
    when `unmixed` is given, the embedding unmixed by `how` ("involution" or "inverse"). Only frequencies reaching
    `min_share` in some column are drawn."""
    panels = [("learned embedding", learned["embed"])]
    if unmixed is not None:
        panels.append((f"unmixed embedding ({how})", unmixed["embed"]))
    shares = [frequency_share(e).numpy() for _, e in panels]  # [d, n_freq]
    keep = sorted(set(np.nonzero(np.max([s.max(0) for s in shares], axis=0) >= min_share)[0].tolist()))
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[t for t, _ in panels], horizontal_spacing=0.12)
    for col, share in enumerate(shares, start=1):
        fig.add_trace(
            go.Heatmap(
                z=share[:, keep], x=[("const" if k == 0 else f"k={k}") for k in keep],
                y=[f"column {j}" for j in range(share.shape[0])], zmin=0, zmax=1, colorscale="Blues",
                showscale=col == len(panels), colorbar=dict(title="share"),
                hovertemplate="%{y}<br>%{x}<br>share %{z:.3f}<extra></extra>",
            ),
            row=1, col=col,
        )
        fig.update_yaxes(autorange="reversed", row=1, col=col)
        fig.update_xaxes(title="frequency", type="category", row=1, col=col)
    fig.update_layout(title=_title("Frequencies in each embedding column", title, label),
                      template=TEMPLATE, width=900, height=360)
    return fig


def bilinear_weights(
    learned: Mapping[str, Tensor], unmixed: Mapping[str, Tensor] | None, how: str, label: str, title: str
) -> go.Figure:
    """L and R as heatmaps (hidden unit × input column), learned and, when `unmixed` is given, after unmixing the
    embedding by `how`."""
    if "L" not in learned:
        raise SuperpositionError("bilinear_weights needs a bilinear model (L and R)")
    grids = [("L", learned), ("R", learned)]
    if unmixed is not None:
        grids += [("L", unmixed), ("R", unmixed)]
    titles = [f"{name} ({f'unmixed, {how}' if w is unmixed else 'learned'})" for name, w in grids]
    rows = 2 if unmixed is not None else 1
    fig = make_subplots(rows=rows, cols=2, subplot_titles=titles, horizontal_spacing=0.08, vertical_spacing=0.14)
    d = learned["embed"].shape[-1]
    inputs = [f"a·{j}" for j in range(d)] + [f"b·{j}" for j in range(d)]
    for i, (name, w) in enumerate(grids):
        z = w[name].numpy()
        lim = float(np.abs(z).max()) or 1.0
        fig.add_trace(
            go.Heatmap(
                z=z, x=inputs, y=[f"h{u}" for u in range(z.shape[0])], zmin=-lim, zmax=lim,
                colorscale=DIVERGING_SCALE, showscale=False,
                hovertemplate=f"{name}" + "[%{y}, %{x}] = %{z:.3f}<extra></extra>",
            ),
            row=i // 2 + 1, col=i % 2 + 1,
        )
        fig.update_yaxes(autorange="reversed", row=i // 2 + 1, col=i % 2 + 1)
    fig.update_layout(title=_title("Bilinear weights", title, f"{label} · blue +, red −"),
                      template=TEMPLATE, width=760, height=420 * rows)
    return fig


def weight_magnitudes(
    weights: Mapping[str, Tensor], weight_decay: float, title: str, instances: Sequence[int] | None = None
) -> go.Figure:
    """Histogram of |L| and |R| entries (|W| for the ReLU model) of the chosen instances times the weight decay λ
    (1 marks |w| = 1/λ)."""
    names = [n for n in ("L", "R", "W") if n in weights]
    if not names:
        raise SuperpositionError("weight_magnitudes needs the hidden layer's weights (L and R, or W)")
    chosen = chosen_instances(weights[names[0]].shape[0], instances)
    values = np.concatenate([weights[n][chosen].abs().flatten().numpy() for n in names])
    scaled = values * weight_decay if weight_decay > 0 else values
    fig = go.Figure(go.Histogram(x=scaled, nbinsx=60, marker_color="#3b6fb6",
                                 hovertemplate="%{x}<br>%{y} entries<extra></extra>"))
    if weight_decay > 0:
        fig.add_vline(x=1.0, line_dash="dash", line_color="#c0392b", annotation_text="|w| = 1/λ")
    axis = "|w| · λ" if weight_decay > 0 else "|w| (no weight decay)"
    fig.update_xaxes(title=f"{axis}, entries of {' and '.join(names)}")
    fig.update_yaxes(title="entries")
    fig.update_layout(title=_title("Bilinear weight magnitudes", title, f"inits {chosen}"), template=TEMPLATE,
                      width=760, height=400)
    return fig


def budget_comparison(table: pd.DataFrame, *, title: str) -> go.Figure:
    """Cross-entropy and mean logit margin of constructions under each weight budget.

    `table` has columns `model`, `budget`, `loss`, `margin` (one row per model × budget)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=["cross-entropy (lower is better)",
                                                        "mean logit margin (higher is better)"])
    colours = ["#3b6fb6", "#f5c211", "#8c8c8c", "#c0392b"]
    for i, (model, rows) in enumerate(table.groupby("model", sort=False)):
        for col, metric in enumerate(("loss", "margin"), start=1):
            fig.add_trace(go.Bar(x=rows.budget, y=rows[metric], name=model, marker_color=colours[i % len(colours)],
                                 showlegend=col == 1, hovertemplate=f"{model}<br>%{{x}}<br>{metric} %{{y:.4g}}<extra></extra>"),
                          row=1, col=col)
    fig.update_layout(title=heading(title), template=TEMPLATE, barmode="group", width=900, height=420)
    return fig


def condition_sweep(table: pd.DataFrame, *, title: str, loss_names: Mapping[str, str]) -> go.Figure:
    """Mixing (frequencies per embedding column) for each training condition, one marker per init.

    `table` has columns `loss`, `weight_decay`, `layer_norm`, `instance`, `freqs_per_column`, `test_accuracy`;
    `loss_names` names each loss in the legend ("ce": "cross-entropy")."""
    fig = go.Figure()
    groups = [("ce", False, "#3b6fb6", "circle"), ("ce", True, "#3b6fb6", "diamond-open"),
              ("mse", False, "#c0392b", "square"), ("mse", True, "#c0392b", "x")]
    offsets = np.linspace(-0.3, 0.3, len(groups))
    wds = sorted(table.weight_decay.unique())
    for (loss, ln, colour, symbol), off in zip(groups, offsets):
        rows = table[(table.loss == loss) & (table.layer_norm == ln)]
        if rows.empty:
            continue
        x = [wds.index(v) + off for v in rows.weight_decay]
        fig.add_trace(go.Scatter(
            x=x, y=rows.freqs_per_column, mode="markers", name=f"{loss_names[loss]}{', layer norm' if ln else ''}",
            marker=dict(color=colour, symbol=symbol, size=10, line=dict(width=1, color=colour)),
            customdata=np.stack([rows.weight_decay, rows.instance, rows.test_accuracy], axis=1),
            hovertemplate="λ = %{customdata[0]}<br>init %{customdata[1]}<br>test accuracy %{customdata[2]:.3f}"
                          "<br>%{y:.2f} frequencies per column<extra></extra>",
        ))
    fig.add_hline(y=1.0, line_dash="dot", line_color="#8c8c8c", annotation_text="no mixing")
    fig.update_xaxes(title="weight decay λ", tickvals=list(range(len(wds))), ticktext=[f"{v:g}" for v in wds])
    fig.update_yaxes(title="frequencies per embedding column (>10% share)")
    fig.update_layout(title=heading(title), template=TEMPLATE, width=900, height=460)
    return fig


__all__ = ["bilinear_weights", "budget_comparison", "condition_sweep", "frequency_shares", "weight_magnitudes"]

