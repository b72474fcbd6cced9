"""Phase diagrams of Toy Models of Superposition ("Superposition as a phase change"): which solution wins in each
(density 1-S, relative importance r) cell, for the theory and for trained models side by side."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .common import TEMPLATE, heading

if TYPE_CHECKING:  # annotations only: analysis.phase brings scipy's optimisers, which drawing does not need
    from ..analysis.phase import PhaseDiagram

# Phase colours: feature 2 dropped (grey), feature 2 alone (blue), both superposed (gold), anything else (red).
PHASE_COLOURS = {"not represented": "#bdbdbd", "dedicated": "#3b6fb6", "superposition": "#f5c211", "other": "#c0392b"}
# The n = 3, m = 2 diagram's five solutions, from the extra feature's side: dropped (grey), given the dimension of a
# dropped feature (blue), antipodal to another (gold), given its own dimension beside the others' pair (green), all
# three in a triangle (purple); anything else (red).
PHASE3_COLOURS = {"not represented": "#bdbdbd", "dedicated": "#3b6fb6", "extra in pair": "#f5c211",
                  "others in pair": "#5aa469", "triangle": "#8e44ad", "other": "#c0392b"}


def phase_diagrams(
    diagrams: Sequence[PhaseDiagram], titles: Sequence[str], *, title: str, share: np.ndarray | None = None,
    share_title: str = "share of seeds in the theory's solution", colours: Mapping[str, str] = PHASE_COLOURS,
    r_title: str = "importance of feature 2 (r)",
) -> go.Figure:
    """Phase diagrams side by side: the winning solution per (density 1-S, relative importance r) cell.

    `diagrams` are `analysis.phase.PhaseDiagram`s on the same grid (theory, then trained models), `titles` their
    panel titles; a trained one's hover says how many of its seeds found the label. `share` ([n_r, n_p] in [0, 1],
    e.g. the share of seeds in the theory's solution) adds a last panel that shows it per cell, as a number and a
    shade. `title` is plain text (escaped here). `colours` maps every label to its colour (PHASE_COLOURS for the
    n = 2 diagram, PHASE3_COLOURS for n = 3) and `r_title` names the r axis.
    """
    labels = list(colours)
    n = len(labels)
    # A stepped colour scale: value k (0..n-1) maps to the k-th colour, with no blending between phases.
    scale = [[edge / n, colour] for k, colour in enumerate(colours.values()) for edge in (k, k + 1)]
    panels = len(diagrams) + (share is not None)
    fig = make_subplots(rows=1, cols=panels, subplot_titles=[*titles, *([share_title] if share is not None else [])],
                        horizontal_spacing=0.06)
    with_votes = np.vectorize(lambda label, vote: f"{label} ({vote:.0%} of seeds)")
    for col, d in enumerate(diagrams, start=1):
        codes = np.vectorize(labels.index)(d.labels)
        text = d.labels if d.votes is None else with_votes(d.labels, d.votes)
        fig.add_trace(
            go.Heatmap(
                z=codes, x=[f"{p:.3g}" for p in d.p_values], y=[f"{r:.3g}" for r in d.r_values],
                zmin=-0.5, zmax=n - 0.5, colorscale=scale, showscale=False, customdata=text,
                hovertemplate="1−S = %{x}<br>r = %{y}<br>%{customdata}<extra></extra>",
            ),
            row=1, col=col,
        )
    if share is not None:
        d = diagrams[0]
        fig.add_trace(
            go.Heatmap(
                z=share, x=[f"{p:.3g}" for p in d.p_values], y=[f"{r:.3g}" for r in d.r_values], zmin=0, zmax=1,
                colorscale="Greens", showscale=False, text=np.vectorize(lambda v: f"{v:.0%}")(share),
                texttemplate="%{text}", textfont=dict(size=8),
                hovertemplate="1−S = %{x}<br>r = %{y}<br>%{text} of seeds<extra></extra>",
            ),
            row=1, col=panels,
        )
    for col in range(1, panels + 1):
        fig.update_xaxes(title="density 1 − S", row=1, col=col)
        fig.update_yaxes(title=r_title if col == 1 else None, row=1, col=col)
    for label, colour in colours.items():  # a legend of the phases
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=label,
                                 marker=dict(size=12, color=colour, symbol="square")))
    fig.update_layout(title=heading(title), template=TEMPLATE, width=400 * panels + 120,
                      height=520, legend=dict(orientation="h", y=-0.25))
    return fig


__all__ = ["PHASE3_COLOURS", "PHASE_COLOURS", "phase_diagrams"]
