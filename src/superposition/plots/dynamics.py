"""Figures of learning dynamics (Toy Models of Superposition, "Superposition and Learning Dynamics"): how the features
and their dimensionalities D_i move over training, drawn from a run's weight snapshots.

- `training_animation`: plotly frames with a step slider (and play/pause): the features as arrows in the 2-D hidden
  space (or W^T W when m != 2), one panel per instance, above each instance's D_i against step with a marker at the
  frame's step (ARENA's animated feature plots; the paper's dimensionality-over-training figure);
- `dimensionality_over_training`: D_i against step beside the loss, with the detected jumps and loss drops marked
  (the paper's figure of phenomenon 1: features jump between fractions as the loss drops).

Both take tensors and tables (the stacked snapshots `[snapshots, instances, features, hidden]`, their steps, the
dimensionalities, the loss history), the instance labels and the run's title; the numbers come from `analysis`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from jaxtyping import Float
from plotly.subplots import make_subplots
from torch import Tensor

from ..analysis.metrics import wtw
from .common import (
    DIVERGING_SCALE,
    PANEL,
    TEMPLATE,
    _colour,
    _equal_aspect,
    check_labels,
    chosen_instances,
    figure_title,
)

FEATURE_SCALE = "Turbo"
# The animation carries every frame's data in the page: at most this many frames and instances keep it light.
MAX_FRAMES = 60
MAX_INSTANCES = 4


def _frames(n: int, max_frames: int) -> list[int]:
    """Snapshot indices drawn as frames: all, or `max_frames` evenly spread, always the first and the last."""
    if n <= max_frames:
        return list(range(n))
    return sorted({round(k * (n - 1) / (max_frames - 1)) for k in range(max_frames)})


def _feature_colours(n: int) -> list[str]:
    return [_colour(FEATURE_SCALE, j, 0, n - 1) for j in range(n)]


def _fraction_ticks(fractions: Mapping[str, float] | None) -> dict:
    """Axis settings that put the D ticks (and grid lines) on the known fractions, labelled "2/5", "1/2", ..."""
    if not fractions:
        return {}
    return dict(tickvals=list(fractions.values()), ticktext=list(fractions), showticklabels=True)


def _arrows(w: np.ndarray) -> tuple[list[float | None], list[float | None]]:
    """One trace's x and y drawing a line from the origin to each row of `w` [feat, 2] (None breaks the line)."""
    xs: list[float | None] = []
    ys: list[float | None] = []
    for x, y in w:
        xs += [0.0, float(x), None]
        ys += [0.0, float(y), None]
    return xs, ys


def training_animation(
    W: Float[Tensor, "snap inst feat hidden"], steps: Sequence[int], D: Float[Tensor, "snap inst feat"],
    labels: Sequence[str], title: str, instances: Sequence[int] | None = None,
    fractions: Mapping[str, float] | None = None, max_frames: int = MAX_FRAMES,
) -> go.Figure:
    """Features over training, one column per instance (the first `MAX_INSTANCES` unless `instances` says): on top
    the features in the 2-D hidden space (m = 2) or W^T W (otherwise) at the frame's snapshot; below, each feature's
    D_i against step (log axis) with a marker at the frame's step and dotted lines at `fractions`."""
    if W.ndim != 4 or D.shape != W.shape[:3] or len(steps) != W.shape[0]:
        raise ValueError(f"W [snap, inst, feat, hidden], D [snap, inst, feat] and one step per snapshot expected, got "
                         f"{tuple(W.shape)}, {tuple(D.shape)}, {len(steps)} steps")
    check_labels(W.shape[1], labels)
    chosen = chosen_instances(W.shape[1], instances)[:MAX_INSTANCES] if instances is None else \
        chosen_instances(W.shape[1], instances)
    w = W.detach().float().cpu().numpy()
    d = D.detach().float().cpu().numpy()
    n_feat, m = w.shape[2], w.shape[3]
    plane = m == 2
    G = None if plane else wtw(W.detach().float().cpu()).numpy()  # [snap, inst, feat, feat]
    frames = _frames(len(steps), max_frames)
    colours = _feature_colours(n_feat)
    step_list = [int(s) for s in steps]
    reach = 1.1 * max(float(np.abs(w).max()), 1e-3)

    fig = make_subplots(rows=2, cols=len(chosen), subplot_titles=[labels[k] for k in chosen] + [""] * len(chosen),
                        row_heights=[0.55, 0.45], vertical_spacing=0.12, horizontal_spacing=0.05)
    animated: list[int] = []

    def top_traces(k: int, s: int) -> list[go.Scatter | go.Heatmap]:
        if plane:
            xs, ys = _arrows(w[s, k])
            return [go.Scatter(x=xs, y=ys, mode="lines", line=dict(color="#888", width=1.5), hoverinfo="skip",
                               showlegend=False),
                    go.Scatter(x=w[s, k, :, 0], y=w[s, k, :, 1], mode="markers", showlegend=False,
                               marker=dict(color=colours, size=9), customdata=np.stack([np.arange(n_feat), d[s, k]], 1),
                               hovertemplate="feature %{customdata[0]}<br>D = %{customdata[1]:.3f}<extra></extra>")]
        assert G is not None
        return [go.Heatmap(z=G[s, k], coloraxis="coloraxis", hovertemplate="W_%{y} · W_%{x} = %{z:.3f}"
                           "<extra></extra>")]

    def marker_trace(k: int, s: int) -> go.Scatter:
        return go.Scatter(x=[step_list[s]] * n_feat, y=d[s, k], mode="markers", showlegend=False,
                          marker=dict(color=colours, size=8, line=dict(color="black", width=1)), hoverinfo="skip")

    first = frames[0]
    for col, k in enumerate(chosen, start=1):
        for trace in top_traces(k, first):
            animated.append(len(fig.data))
            fig.add_trace(trace, row=1, col=col)
        if plane:
            fig.update_xaxes(range=[-reach, reach], showticklabels=False, row=1, col=col)
            fig.update_yaxes(range=[-reach, reach], showticklabels=False, row=1, col=col)
            _equal_aspect(fig, 1, col)
        else:
            fig.update_yaxes(autorange="reversed", row=1, col=col)
        for j in range(n_feat):
            fig.add_trace(go.Scatter(x=step_list, y=d[:, k, j], mode="lines", line=dict(color=colours[j], width=1.5),
                                     name=f"feature {j}", legendgroup=f"f{j}", showlegend=col == 1,
                                     hovertemplate=f"feature {j}<br>step %{{x}}<br>D = %{{y:.3f}}<extra></extra>"),
                          row=2, col=col)
        animated.append(len(fig.data))
        fig.add_trace(marker_trace(k, first), row=2, col=col)
        fig.update_xaxes(type="log", title="step", row=2, col=col)
        fig.update_yaxes(range=[-0.05, 1.1], title="D<sub>i</sub>" if col == 1 else None, row=2, col=col,
                         **_fraction_ticks(fractions))

    fig.frames = [go.Frame(name=str(step_list[s]), traces=animated,
                           data=[t for k in chosen for t in (*top_traces(k, s), marker_trace(k, s))])
                  for s in frames]
    play = dict(frame=dict(duration=120, redraw=not plane), mode="immediate", fromcurrent=True,
                transition=dict(duration=0))
    fig.update_layout(
        title=figure_title("Features over training", title, f"{len(frames)} of {len(steps)} snapshots" if
                           len(frames) < len(steps) else f"{len(steps)} snapshots"),
        template=TEMPLATE, width=max(PANEL * len(chosen) + 200, 620), height=2 * PANEL + 300,
        coloraxis=dict(colorscale=DIVERGING_SCALE, cmin=-1, cmax=1, cmid=0, colorbar=dict(title="W<sup>T</sup>W")),
        updatemenus=[dict(type="buttons", direction="left", x=0, y=-0.1, xanchor="left", yanchor="top",
                         pad=dict(t=30), buttons=[
            dict(label="play", method="animate", args=[None, play]),
            dict(label="pause", method="animate", args=[[None], dict(mode="immediate", frame=dict(duration=0))]),
        ])],
        sliders=[dict(active=0, x=0.16, y=-0.1, len=0.84, yanchor="top", currentvalue=dict(prefix="step "), steps=[
            dict(label=str(step_list[s]), method="animate",
                 args=[[str(step_list[s])], dict(mode="immediate", frame=dict(duration=0, redraw=not plane),
                                                  transition=dict(duration=0))]) for s in frames])],
    )
    return fig


def dimensionality_over_training(
    table: pd.DataFrame, history: pd.DataFrame, labels: Sequence[str], title: str,
    instances: Sequence[int] | None = None, jumps: pd.DataFrame | None = None, drops: pd.DataFrame | None = None,
    fractions: Mapping[str, float] | None = None,
) -> go.Figure:
    """Per instance (column): D_i of every feature against step (log axis; `table`: step, instance, feature,
    dimensionality) above the loss (`history`: step, instance, loss), with the windows of `jumps` (start, end) shaded
    on the D panel and of loss `drops` on the loss panel; dotted lines at `fractions`."""
    check_labels(len(labels), labels)
    chosen = chosen_instances(len(labels), instances)[:MAX_INSTANCES] if instances is None else \
        chosen_instances(len(labels), instances)
    n_feat = int(table.feature.max()) + 1
    colours = _feature_colours(n_feat)
    fig = make_subplots(rows=2, cols=len(chosen), subplot_titles=[labels[k] for k in chosen] + [""] * len(chosen),
                        shared_xaxes=True, row_heights=[0.6, 0.4], vertical_spacing=0.08, horizontal_spacing=0.05)
    for col, k in enumerate(chosen, start=1):
        rows = table[table.instance == k]
        for j in range(n_feat):
            f = rows[rows.feature == j].sort_values("step")
            fig.add_trace(go.Scatter(x=f.step, y=f.dimensionality, mode="lines", line=dict(color=colours[j], width=1.5),
                                     name=f"feature {j}", legendgroup=f"f{j}", showlegend=col == 1,
                                     hovertemplate=f"feature {j}<br>step %{{x}}<br>D = %{{y:.3f}}<extra></extra>"),
                          row=1, col=col)
        h = history[history.instance == k].sort_values("step")
        fig.add_trace(go.Scatter(x=h.step, y=h.loss, mode="lines", line=dict(color="#333", width=1), showlegend=False,
                                 hovertemplate="step %{x}<br>loss %{y:.4g}<extra></extra>"), row=2, col=col)
        for frame, row, colour in ((jumps, 1, "rgba(230,120,0,0.18)"), (drops, 2, "rgba(0,110,220,0.18)")):
            if frame is not None:
                for r in frame[frame.instance == k].itertuples():
                    fig.add_vrect(x0=r.start, x1=r.end, fillcolor=colour, line_width=0, row=row, col=col)
        fig.update_xaxes(type="log", row=1, col=col)
        fig.update_xaxes(type="log", title="step", row=2, col=col)
        fig.update_yaxes(range=[-0.05, 1.1], title="D<sub>i</sub>" if col == 1 else None, row=1, col=col,
                         **_fraction_ticks(fractions))
        fig.update_yaxes(type="log", title="loss" if col == 1 else None, row=2, col=col)
    fig.update_layout(
        title=figure_title("Feature dimensionality and loss over training", title,
                           "orange: jumps between fractions; blue: loss drops"),
        template=TEMPLATE, width=max(PANEL * len(chosen) + 200, 620), height=2 * PANEL + 260,
    )
    return fig
