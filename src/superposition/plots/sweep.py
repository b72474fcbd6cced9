"""A sweep's results over its axes: one heatmap per metric over two axes (a phase diagram when the metric tells the
phases apart, e.g. the toy models' superposition over importance and density), or one line per metric over one
axis; each cell is the mean over the sweep's rows there (other axes such as seeds, instances and features).

The figures take the sweep's tidy results table (`superposition.sweeps`: one row per point x analysis row, an axis
per column) and the names of the columns to draw.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..errors import SuperpositionError
from .common import TEMPLATE, figure_title


def _order(values: pd.Series) -> list[Any]:
    """An axis's distinct values, numbers in increasing order, anything else as first seen."""
    distinct = list(dict.fromkeys(values.tolist()))
    if all(isinstance(v, (int, float, np.integer, np.floating)) for v in distinct):
        return sorted(distinct)
    return distinct


def _tick(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{value:.3g}"
    return value if isinstance(value, str) else json.dumps(value)


def _check(table: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise SuperpositionError(f"cannot plot: the results have no column {missing[0]!r}; columns: "
                                 f"{', '.join(map(str, table.columns))}")
    done = table[table.status == "done"] if "status" in table.columns else table
    if done.empty:
        raise SuperpositionError("cannot plot: the sweep has no finished points yet")
    return done


def sweep_heatmaps(table: pd.DataFrame, x: str, y: str, metrics: Sequence[str], title: str,
                   note: str = "") -> go.Figure:
    """One heatmap per metric: its mean over the rows in each (x, y) cell, the cell's value printed in it."""
    done = _check(table, [x, y, *metrics])
    xs, ys = _order(done[x]), _order(done[y])
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=list(metrics), horizontal_spacing=0.16)
    for col, metric in enumerate(metrics, start=1):
        means = pd.to_numeric(done[metric], errors="coerce").groupby([done[x], done[y]]).mean()
        z = np.array([[means.get((xv, yv), np.nan) for xv in xs] for yv in ys], dtype=float)
        right = fig.get_subplot(1, col).xaxis.domain[1]  # each panel's colour bar just right of it
        fig.add_trace(go.Heatmap(
            z=z, x=[_tick(v) for v in xs], y=[_tick(v) for v in ys], colorscale="Viridis",
            colorbar=dict(x=right + 0.01, xanchor="left", len=0.9, thickness=12),
            hovertemplate=f"{x} = %{{x}}<br>{y} = %{{y}}<br>{metric} = %{{z:.4g}}<extra></extra>",
        ), row=1, col=col)
        fig.update_xaxes(title=x, type="category", row=1, col=col)
        fig.update_yaxes(title=y if col == 1 else None, type="category", row=1, col=col)
    fig.update_layout(title=figure_title("Sweep", title, note), template=TEMPLATE,
                      width=max(520, 470 * len(metrics)), height=520)
    return fig


def sweep_lines(table: pd.DataFrame, x: str, metrics: Sequence[str], title: str, note: str = "") -> go.Figure:
    """One panel per metric against x: the mean over the rows at each x (a line), and every point's own mean
    (dots: seeds and other replicates)."""
    done = _check(table, [x, "point", *metrics])
    xs = _order(done[x])
    numeric = all(isinstance(v, (int, float, np.integer, np.floating)) for v in xs)
    log = numeric and min(xs) > 0 and max(xs) / min(xs) >= 100
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=list(metrics), horizontal_spacing=0.1)
    for col, metric in enumerate(metrics, start=1):
        values = pd.to_numeric(done[metric], errors="coerce")
        mean = values.groupby(done[x]).mean()
        ticks = xs if numeric else [_tick(v) for v in xs]
        by_point = values.groupby([done[x], done["point"]]).mean()
        fig.add_trace(go.Scatter(
            x=[v if numeric else _tick(v) for v, _ in by_point.index],
            y=by_point.to_numpy(), mode="markers", marker=dict(size=5, color="#999999"), name="point",
            showlegend=col == 1, hovertemplate=f"{x} = %{{x}}<br>{metric} = %{{y:.4g}}<extra>point</extra>",
        ), row=1, col=col)
        fig.add_trace(go.Scatter(
            x=ticks, y=[mean.get(v, np.nan) for v in xs], mode="lines+markers", line=dict(color="#3b6fb6"),
            name="mean", showlegend=col == 1,
            hovertemplate=f"{x} = %{{x}}<br>mean {metric} = %{{y:.4g}}<extra></extra>",
        ), row=1, col=col)
        fig.update_xaxes(title=x, type="log" if log else None, row=1, col=col)
    fig.update_layout(title=figure_title("Sweep", title, note), template=TEMPLATE,
                      width=max(560, 430 * len(metrics)), height=460)
    return fig
