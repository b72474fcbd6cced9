"""Figures of Toy Models of Superposition (Elhage et al. 2022), drawn with plotly from a toy run's tensors.

- `features_2d`: the features as arrows in the 2D hidden space, one panel per instance (the paper's pentagons,
  antipodal pairs and "Superposition as a phase change" pictures; the course's `plot_features_in_2d`).
- `wtw_and_norms`: W^T W beside the bars of ||W_i|| coloured by superposition, one column per sparsity (the
  paper's "As sparsity increases, models superpose" figure).
- `bias`: the learned bias b per feature and instance (negative biases cut off interference under a ReLU).
- `interference`: sum_{j != i} W_i . W_j per feature and its positive part (the course's interference scores).
- `dimensionality_scatter`: feature dimensionality D_i against 1/(1-S) with the fractions 1, 3/4, 2/3, 1/2, 2/5,
  3/8 and the dimensions per feature m / ||W||_F^2 (the paper's "Feature dimensionality" figure).

Each takes the weights `W` `[n_instances, n_features, n_hidden]` and/or the per-feature table of
`analysis.table.feature_table`, the instance labels (`labels[k]` names instance k) and the run's one-line title.
Numbers come from `analysis`; this module only draws them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from jaxtyping import Float
from plotly.subplots import make_subplots
from torch import Tensor

from ..analysis.geometry import FRACTIONS
from ..analysis.metrics import wtw
from .common import (
    DIVERGING_SCALE,
    IMPORTANCE_SCALE,
    PANEL,
    SUPERPOSITION_SCALE,
    TEMPLATE,
    _cell,
    _colour,
    _equal_aspect,
    _grid,
    _panels,
    check_labels,
    chosen_instances,
    figure_title,
    message,
)


def _hover(rows: pd.DataFrame) -> tuple[np.ndarray, str]:
    """customdata and hovertemplate describing features: the same hover text in every figure."""
    fields = [
        ("instance", "instance %{customdata[0]}"),
        ("feature", "feature %{customdata[1]}"),
        ("norm", "‖W<sub>i</sub>‖ = %{customdata[2]:.3f}"),
        ("superposition", "superposition = %{customdata[3]:.3f}"),
        ("dimensionality", "D<sub>i</sub> = %{customdata[4]:.3f}"),
        ("importance", "importance = %{customdata[5]:.3g}"),
        ("probability", "1−S = %{customdata[6]:.3g}"),
    ]
    if "structure" in rows.columns:
        fields.append(("structure", "%{customdata[7]}"))
    data = rows[[name for name, _ in fields]].astype(object).to_numpy()
    return data, "<br>".join(text for _, text in fields) + "<extra></extra>"


def _n_instances(table: pd.DataFrame) -> int:
    return int(table.instance.max()) + 1


def features_2d(
    W: Float[Tensor, "inst feat hidden"], table: pd.DataFrame, labels: Sequence[str], title: str,
    instances: Sequence[int] | None = None, max_cols: int = 5,
) -> go.Figure:
    """Each feature W_i as a line from the origin in the hidden plane, one panel per instance, coloured by importance.

    With m != 2 hidden dimensions the panels show the projection onto hidden coordinates 0 and 1 (m = 1: a line).
    """
    check_labels(W.shape[0], labels)
    chosen = chosen_instances(W.shape[0], instances)
    w = W.detach().float().cpu().numpy()
    m = w.shape[-1]
    xy = w[..., :2] if m >= 2 else np.concatenate([w, np.zeros_like(w)], axis=-1)
    reach = 1.1 * max(float(np.abs(xy).max()), 1e-3)
    lo, hi = float(table.importance.min()), float(table.importance.max())
    lo = 0.0 if hi <= lo else lo  # equal importances: one colour from the scale, not an empty range

    fig, rows, cols = _panels([labels[k] for k in chosen], max_cols, horizontal_spacing=0.06, vertical_spacing=0.12)
    for i, k in enumerate(chosen):
        row, col = _cell(i, cols)
        feats = table[table.instance == k]
        custom, template = _hover(feats)
        for j, (_, f) in enumerate(feats.iterrows()):
            x, y = xy[k, int(f.feature)]
            fig.add_trace(
                go.Scatter(
                    x=[0.0, float(x)], y=[0.0, float(y)], mode="lines+markers",
                    line=dict(color=_colour(IMPORTANCE_SCALE, float(f.importance), lo, hi), width=2.5),
                    marker=dict(size=[0, 8], color=[f.importance] * 2, coloraxis="coloraxis"),
                    customdata=[custom[j]] * 2, hovertemplate=template,
                    name=f"feature {int(f.feature)}", showlegend=False,
                ),
                row=row, col=col,
            )
        fig.update_xaxes(range=[-reach, reach], zeroline=True, showticklabels=False, row=row, col=col)
        fig.update_yaxes(range=[-reach, reach], zeroline=True, showticklabels=False, row=row, col=col)
        _equal_aspect(fig, row, col)
    note = "" if m == 2 else (
        "features on the single hidden axis" if m == 1 else f"projection onto hidden coordinates 0 and 1 of m={m}"
    )
    fig.update_layout(
        title=figure_title("Features in the hidden space", title, note),
        coloraxis=dict(colorscale=IMPORTANCE_SCALE, cmin=lo, cmax=hi, colorbar=dict(title="importance")),
        template=TEMPLATE, width=PANEL * cols + 160, height=PANEL * rows + 140,
    )
    return fig


def wtw_and_norms(
    W: Float[Tensor, "inst feat hidden"], table: pd.DataFrame, labels: Sequence[str], title: str,
    instances: Sequence[int] | None = None, max_cols: int = 5,
) -> go.Figure:
    """Per instance (column): W^T W on a diverging scale in ±1 above bars of ||W_i|| coloured by superposition."""
    check_labels(W.shape[0], labels)
    chosen = chosen_instances(W.shape[0], instances)
    G = wtw(W.detach().float().cpu()).numpy()
    n_feat = W.shape[1]
    block_rows, cols = _grid(len(chosen), max_cols)
    titles: list[str] = []
    for r in range(block_rows):
        block = chosen[r * cols:(r + 1) * cols]
        titles += [labels[k] for k in block] + [""] * (cols - len(block))
        titles += [""] * cols
    # Rows sized in pixels: a square heatmap as wide as a column, then the bars, then room for the next titles.
    heat_px, bar_px, gap_px = 170, max(120, min(14 * n_feat, 480)), 60
    height = (heat_px + bar_px + 2 * gap_px) * block_rows + 120
    fig = make_subplots(
        rows=2 * block_rows, cols=cols, subplot_titles=titles,
        row_heights=[heat_px, bar_px] * block_rows, vertical_spacing=gap_px / height, horizontal_spacing=0.03,
    )
    top = max(1.0, float(table.norm.max()) * 1.05)
    features = list(range(n_feat))
    for i, k in enumerate(chosen):
        block_row, col = _cell(i, cols)
        row = 2 * block_row - 1
        feats = table[table.instance == k]
        custom, template = _hover(feats)
        fig.add_trace(
            go.Heatmap(
                z=G[k], x=features, y=features, coloraxis="coloraxis", name="W^T W",
                hovertemplate="W_%{y} · W_%{x} = %{z:.3f}<extra></extra>",
            ),
            row=row, col=col,
        )
        fig.update_yaxes(autorange="reversed", showticklabels=col == 1, row=row, col=col)
        fig.update_xaxes(showticklabels=False, row=row, col=col)
        _equal_aspect(fig, row, col)
        fig.add_trace(
            go.Bar(
                x=feats.norm, y=feats.feature, orientation="h", name="‖W<sub>i</sub>‖",
                marker=dict(color=feats.superposition, coloraxis="coloraxis2"),
                customdata=custom, hovertemplate=template,
            ),
            row=row + 1, col=col,
        )
        # Features top to bottom, as in the heatmap above.
        fig.update_yaxes(autorange="reversed", showticklabels=col == 1, row=row + 1, col=col)
        fig.update_xaxes(range=[0, top], row=row + 1, col=col)
    fig.update_layout(
        title=figure_title("W<sup>T</sup>W and feature norms ‖W<sub>i</sub>‖", title, "bars coloured by superposition"),
        coloraxis=dict(colorscale=DIVERGING_SCALE, cmin=-1, cmax=1, cmid=0,
                       colorbar=dict(title="W<sup>T</sup>W", len=0.45, y=1, yanchor="top")),
        coloraxis2=dict(colorscale=SUPERPOSITION_SCALE, cmin=0, cmax=1,
                        colorbar=dict(title="superposition", len=0.45, y=0, yanchor="bottom")),
        showlegend=False, template=TEMPLATE,
        width=max(heat_px * cols + 230, 500), height=height,
    )
    return fig


def bias(
    b: Float[Tensor, "inst feat"] | None, labels: Sequence[str], title: str, instances: Sequence[int] | None = None
) -> go.Figure:
    """The bias b_i of every feature (columns) and instance (rows), on a diverging scale centred on 0; `b` None (a
    model without bias) gives a figure that says so."""
    name = "Bias b"
    if b is None:
        return message(name, title, "no bias: the model has no b")
    check_labels(b.shape[0], labels)
    chosen = chosen_instances(b.shape[0], instances)
    z = b.detach().float().cpu().numpy()[chosen]
    reach = max(float(np.abs(z).max()), 1e-6)
    fig = go.Figure(
        go.Heatmap(
            z=z, x=list(range(z.shape[1])), y=list(range(len(chosen))),
            colorscale=DIVERGING_SCALE, zmin=-reach, zmax=reach, zmid=0, colorbar=dict(title="b"),
            texttemplate="%{z:.2f}", hovertemplate="feature %{x}<br>b = %{z:.4f}<extra></extra>",
        )
    )
    fig.update_yaxes(
        tickvals=list(range(len(chosen))), autorange="reversed", ticktext=[f"{k}: {labels[k]}" for k in chosen],
    )
    fig.update_xaxes(title="feature", dtick=1)
    fig.update_layout(
        title=figure_title(name, title), template=TEMPLATE,
        width=max(500, 45 * z.shape[1] + 300), height=max(300, 32 * len(chosen) + 160),
    )
    return fig


def interference(
    table: pd.DataFrame, labels: Sequence[str], title: str, instances: Sequence[int] | None = None, max_cols: int = 5
) -> go.Figure:
    """Per instance: sum_{j != i} W_i . W_j for every feature i, and its positive part (what a ReLU cannot cut off)."""
    check_labels(_n_instances(table), labels)
    chosen = chosen_instances(len(labels), instances)
    fig, rows, cols = _panels([labels[k] for k in chosen], max_cols, shared_yaxes=True, horizontal_spacing=0.04,
                              vertical_spacing=0.14)
    series = (("interference", "Σ<sub>j≠i</sub> W<sub>i</sub>·W<sub>j</sub>", "#4c78a8"),
              ("positive_interference", "positive part", "#e45756"))
    for i, k in enumerate(chosen):
        row, col = _cell(i, cols)
        feats = table[table.instance == k]
        custom, template = _hover(feats)
        for column, label, colour in series:
            fig.add_trace(
                go.Bar(
                    x=feats.feature, y=feats[column], name=label, marker_color=colour,
                    legendgroup=column, showlegend=i == 0, customdata=custom,
                    hovertemplate=f"{label} = %{{y:.3f}}<br>" + template,
                ),
                row=row, col=col,
            )
        fig.update_xaxes(title="feature" if row == rows else None, dtick=1, row=row, col=col)
    fig.update_layout(
        title=figure_title("Interference per feature", title), barmode="group", template=TEMPLATE,
        width=PANEL * cols + 120, height=PANEL * rows + 160,
    )
    return fig


def dimensionality_scatter(table: pd.DataFrame, title: str, instances: Sequence[int] | None = None) -> go.Figure:
    """D_i of every feature against 1/(1-S) (log x), guides at 1, 3/4, 2/3, 1/2, 2/5, 3/8, 0 and m/||W||_F^2.

    Points are told apart by their 1-S and hover text, so the figure needs no instance labels."""
    chosen = chosen_instances(_n_instances(table), instances)
    # A feature that is never active (1 - S = 0) has no place on a 1/(1-S) axis.
    feats = table[table.instance.isin(chosen) & (table.probability > 0)]
    custom, template = _hover(feats)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=1 / feats.probability, y=feats.dimensionality, mode="markers", name="feature D<sub>i</sub>",
            marker=dict(color=feats.importance, coloraxis="coloraxis", size=9, line=dict(width=0.5, color="white")),
            customdata=custom, hovertemplate=template,
        )
    )
    per_inst = (
        feats.groupby("instance")
        .agg(probability=("probability", "mean"), dims_per_feature=("dims_per_feature", "first"))
        .reset_index()
    )
    per_inst = per_inst[np.isfinite(per_inst.dims_per_feature)].assign(x=lambda d: 1 / d.probability).sort_values("x")
    fig.add_trace(
        go.Scatter(
            x=per_inst.x, y=per_inst.dims_per_feature, mode="lines+markers", name="m / ‖W‖<sub>F</sub>²",
            line=dict(color="black", width=1.5), marker=dict(symbol="diamond", size=8, color="black"),
            customdata=per_inst.instance,
            hovertemplate="instance %{customdata}<br>m / ‖W‖<sub>F</sub>² = %{y:.3f}<extra></extra>",
        )
    )
    for label, y in FRACTIONS.items():
        fig.add_hline(
            y=y, line=dict(dash="dash", color="grey", width=1), annotation_text=label,
            annotation_position="right", annotation_font_color="grey",
        )
    lo, hi = float(table.importance.min()), float(table.importance.max())
    fig.update_xaxes(type="log", title="1 / (1 − S)")
    fig.update_yaxes(title="dimensionality D<sub>i</sub>",
                     range=[-0.05, max(1.1, float(feats.dimensionality.max()) + 0.05)])
    fig.update_layout(
        title=figure_title("Feature dimensionality", title),
        coloraxis=dict(colorscale=IMPORTANCE_SCALE, cmin=0.0 if hi <= lo else lo, cmax=hi,
                       colorbar=dict(title="importance", x=1.12)),
        legend=dict(orientation="h", y=-0.2), template=TEMPLATE, width=760, height=520,
    )
    return fig


__all__ = ["bias", "dimensionality_scatter", "features_2d", "interference", "wtw_and_norms"]
