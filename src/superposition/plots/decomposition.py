"""Figures of feature benefit against interference (Toy Models of Superposition, the loss rewritten as a benefit and
an interference part; seed 002's ReLU form on 1-sparse inputs).

- `benefit_and_interference`: per instance, each feature's benefit (what representing it saves on its own output)
  above zero, and what it costs the other outputs below zero, in parts (the interference the model pays, the part
  the ReLU makes free, the bias alone).
- `interference_across_sparsity`: amounts of interference and the shares that are free (or present at all) against
  1/(1-S), one line per series.

Both take tensors or plain lists from `analysis.decomposition`, the instance labels and the run's one-line title.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from jaxtyping import Float
from plotly.subplots import make_subplots
from torch import Tensor

from ..errors import SuperpositionError
from .common import PANEL, TEMPLATE, _cell, _colour, _panels, check_labels, chosen_instances, figure_title, heading

BENEFIT = "#54a24b"
COSTS = ("#e45756", "#bab0ac", "#4c78a8", "#f58518")  # the downward parts, in the order given


def benefit_and_interference(
    benefit: Float[Tensor, "inst feat"], costs: Mapping[str, Float[Tensor, "inst feat"]], labels: Sequence[str],
    title: str, *, name: str = "Feature benefit against interference", instances: Sequence[int] | None = None,
    max_cols: int = 4, shared_y: bool = True,
) -> go.Figure:
    """Bars per feature, one panel per instance: the benefit of representing the feature up, and below zero each
    part of what it costs the other outputs when it is active (e.g. interference paid, interference the ReLU makes
    free, the bias alone), stacked."""
    check_labels(benefit.shape[0], labels)
    bad = [label for label, values in costs.items() if values.shape != benefit.shape]
    if bad or len(costs) > len(COSTS):
        raise SuperpositionError(f"cannot plot: benefit and at most {len(COSTS)} cost parts, each [n_instances, "
                                 f"n_features] = {tuple(benefit.shape)}; got {', '.join(bad) or len(costs)}")
    chosen = chosen_instances(benefit.shape[0], instances)
    fig, rows, cols = _panels([labels[k] for k in chosen], max_cols, shared_yaxes=shared_y,
                              horizontal_spacing=0.04 if shared_y else 0.07, vertical_spacing=0.16)
    series = [("benefit", benefit, 1.0, BENEFIT)]
    series += [(label, values, -1.0, colour) for (label, values), colour in zip(costs.items(), COSTS)]
    features = list(range(benefit.shape[1]))
    for i, k in enumerate(chosen):
        row, col = _cell(i, cols)
        for label, values, sign, colour in series:
            fig.add_trace(go.Bar(
                x=features, y=(sign * values[k].detach().double()).tolist(), name=label, marker_color=colour,
                legendgroup=label, showlegend=i == 0,
                hovertemplate=f"feature %{{x}}<br>{label} = %{{y:.4g}}<extra>{labels[k]}</extra>"), row=row, col=col)
        fig.update_xaxes(title="feature" if row == rows else None, row=row, col=col)
    fig.update_layout(title=figure_title(name, title), barmode="relative", template=TEMPLATE,
                      width=PANEL * cols + 160, height=PANEL * rows + 200, legend=dict(orientation="h", y=-0.2))
    return fig


def interference_across_sparsity(
    density: Sequence[float], amounts: Mapping[str, Sequence[float]], shares: Mapping[str, Sequence[float]],
    title: str, *, densities: Mapping[str, Sequence[float]] | None = None,
) -> go.Figure:
    """Two panels against 1/(1-S) (log): amounts of interference (log y; values <= 0 and NaN leave a gap), and
    shares in [0, 1] (NaN leaves a gap). Each series is one value per density; `densities` gives a series its own
    densities when it was measured at others."""
    own = dict(densities or {})
    fig = make_subplots(rows=1, cols=2, subplot_titles=["interference (1-sparse loss units)", "shares"],
                        horizontal_spacing=0.12)
    named = [*amounts, *shares]
    for col, group in ((1, amounts), (2, shares)):
        for name, values in group.items():
            x = own.get(name, density)
            if len(x) != len(values):
                raise SuperpositionError(f"cannot plot {name!r}: {len(values)} values for {len(x)} densities")
            colour = _colour("Turbo", named.index(name), 0, max(len(named) - 1, 1))
            y = [v if col == 2 or v > 0 else None for v in values]  # a log axis has no place for v <= 0
            fig.add_trace(go.Scatter(
                x=[1 / p for p in x], y=y, mode="lines+markers", name=name, line=dict(color=colour),
                hovertemplate=f"{name}<br>1/(1−S) = %{{x:.3g}}<br>%{{y:.4g}}<extra></extra>"), row=1, col=col)
        fig.update_xaxes(type="log", title="1/(1−S)", row=1, col=col)
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_yaxes(range=[-0.05, 1.05], row=1, col=2)
    fig.update_layout(title=heading(title), template=TEMPLATE, width=1000, height=460,
                      legend=dict(orientation="h", y=-0.2))
    return fig


__all__ = ["benefit_and_interference", "interference_across_sparsity"]
