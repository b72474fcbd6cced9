"""Figures of the neuron models of Toy Models of Superposition (a ReLU hidden layer, and the abs computation model):
each neuron's input weights from every feature, and how many neurons are polysemantic against sparsity.

Each takes the input weights `W` `[n_instances, n_features, n_hidden]` (W1 of the abs model) and what the run's data
says (importance, feature probabilities, whether inputs are non-negative), the instance labels and the run's title.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from jaxtyping import Float
from plotly.subplots import make_subplots
from torch import Tensor

from ..analysis.neurons import ALIGNED, classify_neurons, neuron_order
from .common import IMPORTANCE_SCALE, TEMPLATE, _cell, _colour, _grid, check_labels, chosen_instances, figure_title


def neurons(
    W: Float[Tensor, "inst feat hidden"], importance: Float[Tensor, "inst feat"], labels: Sequence[str], title: str,
    *, nonnegative_inputs: bool, instances: Sequence[int] | None = None, max_cols: int = 1,
) -> go.Figure:
    """The paper's neuron figure: each neuron's input weight from every feature as stacked bars (positive up,
    negative down), neurons sorted by the importance of their largest feature, features coloured by importance.
    Panel titles give the count of polysemantic neurons (`nonnegative_inputs`: the features lie in [0, 1], so a
    negative weight reads nothing)."""
    check_labels(W.shape[0], labels)
    chosen = chosen_instances(W.shape[0], instances)
    W1 = W.detach().float().cpu()
    order = neuron_order(W1, importance, nonnegative_inputs=nonnegative_inputs)
    kinds = classify_neurons(W1, nonnegative_inputs=nonnegative_inputs)
    n_feat, n_hidden = W1.shape[1], W1.shape[2]
    rows, cols = _grid(len(chosen), max_cols)
    titles = [f"{labels[k]} · {kinds[k].count('polysemantic')} of {n_hidden} neurons polysemantic" for k in chosen]
    # Gaps in pixels: room for the rotated neuron labels and the next panel's title.
    panel_px, gap_px = 300, 110
    height = (panel_px + gap_px) * rows + 120
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, vertical_spacing=gap_px / height)
    lo, hi = float(importance.min()), float(importance.max())
    for i, k in enumerate(chosen):
        row, col = _cell(i, cols)
        ordered = order[k].tolist()
        x = [f"n{n}" for n in ordered]
        for f in range(n_feat):
            w = W1[k, f, ordered].numpy()
            if np.abs(w).max() < 1e-3:
                continue  # a feature no neuron reads adds nothing to the bars
            imp = float(importance[k, f])
            fig.add_trace(
                go.Bar(
                    x=x, y=w, name=f"feature {f}", showlegend=False,
                    marker=dict(color=_colour(IMPORTANCE_SCALE, imp, lo, hi)),
                    customdata=[[f, imp, kinds[k][n]] for n in ordered],
                    hovertemplate="%{x}: %{customdata[2]}<br>feature %{customdata[0]} (importance %{customdata[1]:.3g})"
                    "<br>weight %{y:.3f}<extra></extra>",
                ),
                row=row, col=col,
            )
        fig.update_yaxes(title="input weight" if col == 1 else None, row=row, col=col)
    fig.update_layout(
        barmode="relative", template=TEMPLATE,
        title=figure_title("Neurons, sorted by their largest feature's importance", title,
                           "input weights, coloured by importance"),
        width=max(700, 18 * n_hidden * cols + 200), height=height,
    )
    return fig


def polysemantic_neurons(
    W: Float[Tensor, "inst feat hidden"], probability: Float[Tensor, "inst feat"], title: str, *,
    nonnegative_inputs: bool,
) -> go.Figure:
    """The number of polysemantic neurons in each instance against 1/(1-S) (the mean of the instance's feature
    probabilities); one line through every instance, so no instance labels."""
    kinds = classify_neurons(W.detach().float().cpu(), nonnegative_inputs=nonnegative_inputs)
    p = probability.mean(dim=1).numpy()
    counts = [inst.count("polysemantic") for inst in kinds]
    fig = go.Figure(go.Scatter(
        x=1 / p, y=counts, mode="lines+markers", name="polysemantic",
        hovertemplate="1/(1−S) = %{x:.3g}<br>%{y} polysemantic neurons<extra></extra>",
    ))
    fig.update_xaxes(type="log", title="1 / (1 − S)")
    fig.update_yaxes(title=f"polysemantic neurons (max|w| / ‖w‖ < {ALIGNED})", rangemode="tozero")
    fig.update_layout(title=figure_title("Polysemantic neurons against sparsity", title), template=TEMPLATE,
                      width=700, height=420)
    return fig


__all__ = ["neurons", "polysemantic_neurons"]
