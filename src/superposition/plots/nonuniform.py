"""Figures of non-uniform superposition (Toy Models of Superposition, "Non-Uniform Superposition"): one feature's
density or importance swept while the others stay alike.

- `sweep_features`: the features in the 2D hidden space at each swept value (small multiples), the varied feature
  in red, each panel titled with the value and the arrangement's class.
- `sweep_curves`: the expected loss of every fit against the swept value (coloured by class, the lowest-loss fit per
  value joined by a line), and the angle beside the varied feature, with the snaps marked.

Both take tensors, lists and labels (the numbers come from `analysis.nonuniform`); neither reads a run.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from jaxtyping import Float
from plotly.colors import qualitative
from plotly.subplots import make_subplots
from torch import Tensor

from .common import PANEL, TEMPLATE, _cell, _equal_aspect, _panels, figure_title

VARIED_COLOUR = "#c0392b"
OTHER_COLOUR = "#3b6fb6"
PENTAGON_GAP = 72.0  # degrees between neighbours of the regular pentagon


def _short(cls: str) -> str:
    """A class label that fits a panel title: its groups on one line, the dropped features on the next."""
    return "<br>".join(html.escape(part.strip()) for part in cls.split(";"))


def _canonical(w: np.ndarray, varied: int) -> np.ndarray:
    """Each panel rotated so that the varied feature (or, when it is dropped, the longest feature) points right, as
    the paper canonicalises its solutions: rotations do not change the geometry, only how it reads."""
    out = np.empty_like(w)
    for k, wk in enumerate(w):
        norms = np.hypot(wk[:, 0], wk[:, 1])
        lead = varied if norms[varied] > 0.5 * norms.max() else int(norms.argmax())
        t = -math.atan2(wk[lead, 1], wk[lead, 0])
        out[k] = wk @ np.array([[math.cos(t), math.sin(t)], [-math.sin(t), math.cos(t)]])
    return out


def sweep_features(
    W: Float[Tensor, "value feat 2"], values: Sequence[float], classes: Sequence[str], varied: int, label: str,
    title: str, max_cols: int = 7,
) -> go.Figure:
    """One panel per swept value (ascending): each feature W_i as a line from the origin, feature `varied` in red;
    `classes[k]` is the class of panel k, `label` names the swept quantity."""
    if W.ndim != 3 or W.shape[-1] != 2 or len(values) != W.shape[0] or len(classes) != W.shape[0]:
        raise ValueError(f"sweep_features needs W [values, features, 2] with one value and class per row, got "
                         f"{tuple(W.shape)}, {len(values)} values, {len(classes)} classes")
    w = _canonical(W.detach().double().cpu().numpy(), varied)
    reach = 1.1 * max(float(abs(w).max()), 1e-3)
    titles = [f"{v:.3g}<br><sup>{_short(c)}</sup>" for v, c in zip(values, classes)]
    fig, rows, cols = _panels(titles, max_cols, horizontal_spacing=0.03, vertical_spacing=0.16)
    for k in range(w.shape[0]):
        row, col = _cell(k, cols)
        for i in range(w.shape[1]):
            colour = VARIED_COLOUR if i == varied else OTHER_COLOUR
            x, y = float(w[k, i, 0]), float(w[k, i, 1])
            fig.add_trace(go.Scatter(
                x=[0.0, x], y=[0.0, y], mode="lines+markers", line=dict(color=colour, width=2.5),
                marker=dict(size=[0, 7], color=colour), showlegend=False, name=f"feature {i}",
                hovertemplate=f"{html.escape(label)} = {values[k]:.3g}<br>feature {i}<br>"
                              f"‖W<sub>i</sub>‖ = {math.hypot(x, y):.3f}<extra></extra>"), row=row, col=col)
        fig.update_xaxes(range=[-reach, reach], zeroline=True, showticklabels=False, row=row, col=col)
        fig.update_yaxes(range=[-reach, reach], zeroline=True, showticklabels=False, row=row, col=col)
        _equal_aspect(fig, row, col)
    fig.update_annotations(font_size=11)
    fig.update_layout(title=figure_title("Features in 2D along the sweep", title,
                                         f"{html.escape(label)}; feature {varied} in red, rotated to point right"),
                      template=TEMPLATE, width=int(PANEL * 0.7) * cols + 120, height=int(PANEL * 0.95) * rows + 190,
                      margin=dict(t=150))
    return fig


def sweep_curves(
    values: Sequence[float], loss: Sequence[float], slope: Sequence[float], fit_values: Sequence[float],
    fit_loss: Sequence[float], fit_classes: Sequence[str], beside: Sequence[float], snaps: Sequence[float], label: str,
    parameter: str, title: str,
) -> go.Figure:
    """Top: every fit's expected loss against the swept value, coloured by class, and the lowest-loss fit per value
    as a line. Middle: that fit's slope d loss / d `parameter` (a kink in the loss is a step here). Bottom: the mean
    angle between the varied feature and its two neighbours (NaN where it is dropped), beside the regular pentagon's
    72 degrees. Dashed lines mark the snaps."""
    if not (len(values) == len(loss) == len(slope) == len(beside)) or not (
            len(fit_values) == len(fit_loss) == len(fit_classes)):
        raise ValueError("sweep_curves needs one loss, slope and angle per value, and one value and class per fit")
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.07, row_heights=[0.45, 0.25, 0.3],
                        subplot_titles=["expected loss (every fit; line: the lowest per value)",
                                        f"slope d loss / d {html.escape(parameter)} of the lowest-loss fit",
                                        "angle between the varied feature and its neighbours (mean of the two)"])
    palette = qualitative.D3
    for c, cls in enumerate(dict.fromkeys(fit_classes)):
        at = [i for i, f in enumerate(fit_classes) if f == cls]
        fig.add_trace(go.Scatter(
            x=[fit_values[i] for i in at], y=[fit_loss[i] for i in at], mode="markers", name=html.escape(cls),
            marker=dict(size=7, color=palette[c % len(palette)], opacity=0.75),
            hovertemplate=f"{html.escape(cls)}<br>{html.escape(label)} = %{{x:.3g}}<br>loss %{{y:.4g}}<extra></extra>",
        ), row=1, col=1)
    fig.add_trace(go.Scatter(x=list(values), y=list(loss), mode="lines", name="lowest loss per value",
                             line=dict(color="black", width=1.5)), row=1, col=1)
    fig.add_trace(go.Scatter(
        x=list(values), y=list(slope), mode="lines+markers", line=dict(color="black", width=1.5), showlegend=False,
        hovertemplate=f"{html.escape(label)} = %{{x:.3g}}<br>slope %{{y:.4g}}<extra></extra>"), row=2, col=1)
    fig.add_trace(go.Scatter(
        x=list(values), y=[None if math.isnan(b) else b for b in beside], mode="lines+markers",
        name="angle beside the varied feature", line=dict(color=VARIED_COLOUR), showlegend=False,
        hovertemplate=f"{html.escape(label)} = %{{x:.3g}}<br>%{{y:.1f}}°<extra></extra>"), row=3, col=1)
    fig.add_hline(y=PENTAGON_GAP, line=dict(color="grey", dash="dot"), row=3, col=1,
                  annotation_text="regular pentagon (72°)", annotation_position="bottom right")
    for s in snaps:
        fig.add_vline(x=s, line=dict(color="grey", dash="dash"))
        fig.add_annotation(x=math.log10(s), y=1.0, xref="x", yref="y domain", text="snap", showarrow=False,
                           xanchor="left")
    fig.update_xaxes(type="log")
    fig.update_xaxes(title=html.escape(label), row=3, col=1)
    fig.update_yaxes(title="loss", row=1, col=1)
    fig.update_yaxes(title="slope", row=2, col=1)
    fig.update_yaxes(title="degrees", row=3, col=1)
    fig.update_layout(title=figure_title("Loss, its slope and the angles along the sweep", title), template=TEMPLATE,
                      width=860, height=780, legend=dict(font_size=10))
    return fig
