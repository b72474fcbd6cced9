"""What every family's figures share: colour scales, the template, panel grids, titles, the figure that says why it
has no data, and the loss history.

Figures take tensors or tables, the instance labels and the run's one-line title (as ARENA's plotting helpers take
tensors and titles); the families build those from a run (`family.title(config)`, `family.instance_label(config, k)`).

>>> figure_title("Loss", "ReLU output model · n=5 features, m=2 hidden", "no loss history recorded")
'<b>Loss</b> · no loss history recorded<br><sup>ReLU output model · n=5 features, m=2 hidden</sup>'
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from ..errors import SuperpositionError

# Most important features drawn darkest, so they stand out on the white background.
IMPORTANCE_SCALE = "Viridis_r"
# Diverging, centred on 0, for W^T W and the bias (red negative, blue positive).
DIVERGING_SCALE = "RdBu"
# Dedicated features (superposition 0) dark, superposed ones (1 or more) yellow, as in the paper.
SUPERPOSITION_SCALE = [[0.0, "#111111"], [0.5, "#8c5a1a"], [1.0, "#f5c211"]]
TEMPLATE = "plotly_white"
PANEL = 230  # pixels per panel side: five panels fit the report's width


def figure_title(name: str, title: str, note: str = "") -> str:
    """The figure's name in bold above the run's one-line title (and an optional note); name and note may hold
    HTML (`W<sup>T</sup>W`), so escape them first where they are plain text."""
    return f"<b>{name}</b>{' · ' + note if note else ''}<br><sup>{title}</sup>"


def heading(text: str) -> str:
    """A plain-text title in bold, for figures that compare several runs (no single run's title below it)."""
    return f"<b>{html.escape(text)}</b>"


def chosen_instances(n: int, instances: Sequence[int] | None) -> list[int]:
    """The instances to draw, out of `n`: all of them by default; a bad selection is refused by name."""
    chosen = list(range(n)) if instances is None else [int(k) for k in instances]
    bad = [k for k in chosen if not 0 <= k < n]
    if bad or not chosen:
        raise SuperpositionError(f"instances must be a non-empty selection of 0..{n - 1}, got {list(instances or [])}")
    return chosen


def check_labels(n: int, labels: Sequence[str]) -> None:
    """Refuse labels that do not name each of the `n` instances once (every panel would be titled wrongly)."""
    if len(labels) != n:
        raise SuperpositionError(f"cannot plot: {len(labels)} instance labels for {n} instances")


def _grid(n: int, max_cols: int) -> tuple[int, int]:
    """(rows, cols) of a grid holding `n` panels, at most `max_cols` a row."""
    cols = min(n, max_cols)
    return math.ceil(n / cols), cols


def _cell(i: int, cols: int) -> tuple[int, int]:
    """(row, col), from 1, of the i-th panel of a grid `cols` wide."""
    return i // cols + 1, i % cols + 1


def _panels(titles: Sequence[str], max_cols: int, **subplot_args: Any) -> tuple[go.Figure, int, int]:
    """A grid with one panel per title (one per instance drawn), and its (rows, cols)."""
    rows, cols = _grid(len(titles), max_cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=list(titles), **subplot_args)
    return fig, rows, cols


def _equal_aspect(fig: go.Figure, row: int, col: int) -> None:
    """Square data units; the panel shrinks to fit (constrain="domain") rather than the axis range growing."""
    sub = fig.get_subplot(row, col)
    sub.yaxis.scaleanchor = sub.xaxis.plotly_name.replace("axis", "")
    sub.yaxis.scaleratio = 1
    sub.xaxis.constrain = "domain"
    sub.yaxis.constrain = "domain"


def _colour(scale: str, value: float, lo: float, hi: float) -> str:
    """The colour of `value` on `scale` spread over [lo, hi] (the middle one when the range is empty)."""
    colour: str = sample_colorscale(scale, [0.5 if hi <= lo else (value - lo) / (hi - lo)])[0]
    return colour


def message(name: str, title: str, note: str) -> go.Figure:
    """A figure with no data whose title says why (e.g. a model without bias)."""
    fig = go.Figure()
    fig.update_layout(title=figure_title(name, title, note), template=TEMPLATE, height=220)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def loss_history(
    history: pd.DataFrame, labels: Sequence[str], title: str, instances: Sequence[int] | None = None
) -> go.Figure:
    """Loss of each instance against training step, on a log axis.

    `history` is long: columns `step`, `instance`, `loss`; `labels[k]` names instance k (one label per instance);
    `instances` picks the instances drawn (all by default).
    """
    drawn = chosen_instances(len(labels), instances)  # labels name every instance of the run
    name = "Loss"
    history = history[history.instance.isin(drawn)]
    if history.empty:
        return message(name, title, "no loss history recorded")
    fig = go.Figure()
    for i, k in enumerate(drawn):
        h = history[history.instance == k].sort_values("step")
        fig.add_trace(
            go.Scatter(
                x=h.step, y=h.loss, mode="lines", name=f"{k}: {labels[k]}",
                line=dict(color=_colour("Viridis", i, 0, len(drawn) - 1), width=1.5),
                hovertemplate=f"instance {k}<br>step %{{x}}<br>loss %{{y:.3g}}<extra></extra>",
            )
        )
    fig.update_xaxes(title="step")
    fig.update_yaxes(type="log", title="loss")
    fig.update_layout(title=figure_title(name, title), template=TEMPLATE, width=760, height=460)
    return fig


__all__ = [
    "DIVERGING_SCALE",
    "IMPORTANCE_SCALE",
    "PANEL",
    "SUPERPOSITION_SCALE",
    "TEMPLATE",
    "check_labels",
    "chosen_instances",
    "figure_title",
    "heading",
    "loss_history",
    "message",
]
