"""Figures for superposition and adversarial vulnerability (Toy Models of Superposition, "Relationship to Adversarial
Robustness"): the paper's vulnerability and features-per-dimension curves against sparsity, vulnerability against
features per dimension, and each feature's exact robustness against its dimensionality."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .common import TEMPLATE, check_labels, figure_title


def vulnerability_curves(
    density: Sequence[float], vulnerability: Sequence[float], features_per_dim: Sequence[float],
    labels: Sequence[str], title: str, *, bound: Sequence[float] | None = None,
) -> go.Figure:
    """Three panels, one point per instance: vulnerability (L' − L)/(L'_0 − L_0) against 1/(1−S), features per
    dimension ||W||_F²/m against 1/(1−S) (the paper's pair of curves), and vulnerability against features per
    dimension. `bound` (optional) draws the exact upper bound on any attack of the same norm, relative to the same
    baseline, beside the analytic attack's vulnerability."""
    check_labels(len(density), labels)
    inv = 1 / np.asarray(density, dtype=float)
    vul, fpd = np.asarray(vulnerability, dtype=float), np.asarray(features_per_dim, dtype=float)
    order = np.argsort(inv)
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.08, subplot_titles=[
        "vulnerability (L′ − L)/(L′<sub>0</sub> − L<sub>0</sub>)", "features per dimension ‖W‖<sub>F</sub>²/m",
        "vulnerability against features per dimension"])
    text = [labels[k] for k in order]
    line = dict(mode="lines+markers", customdata=text)
    fig.add_trace(go.Scatter(x=inv[order], y=vul[order], name="worst analytic attack", line=dict(color="#c0392b"),
                             hovertemplate="%{customdata}<br>vulnerability %{y:.3g}<extra></extra>", **line), 1, 1)
    if bound is not None:
        fig.add_trace(go.Scatter(x=inv[order], y=np.asarray(bound, dtype=float)[order], name="upper bound, any attack",
                                 line=dict(color="#c0392b", dash="dot"),
                                 hovertemplate="%{customdata}<br>bound %{y:.3g}<extra></extra>", **line), 1, 1)
    fig.add_trace(go.Scatter(x=inv[order], y=fpd[order], name="features per dimension", line=dict(color="black"),
                             hovertemplate="%{customdata}<br>‖W‖<sub>F</sub>²/m = %{y:.3g}<extra></extra>", **line),
                  1, 2)
    fig.add_trace(go.Scatter(x=fpd, y=vul, mode="markers", name="instances", customdata=list(labels),
                             marker=dict(size=9, color=np.log10(inv), colorscale="Viridis", showscale=False),
                             hovertemplate="%{customdata}<br>‖W‖<sub>F</sub>²/m = %{x:.3g}<br>vulnerability %{y:.3g}"
                                           "<extra></extra>"), 1, 3)
    for col in (1, 2):
        fig.update_xaxes(type="log", title="1 / (1 − S)", row=1, col=col)
    fig.add_hline(y=1, line=dict(dash="dash", color="grey", width=1), row=1, col=1)
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_yaxes(type="log", row=1, col=3)
    fig.update_xaxes(title="‖W‖<sub>F</sub>²/m", row=1, col=3)
    fig.update_layout(title=figure_title("Adversarial vulnerability and superposition", title),
                      legend=dict(orientation="h", y=-0.25), template=TEMPLATE, width=1100, height=440)
    return fig


def robustness_scatter(
    dimensionality: Sequence[float], distance: Sequence[float], density: Sequence[float], hover: Sequence[str],
    title: str,
) -> go.Figure:
    """Each represented feature's smallest silencing perturbation (from its one-hot input) against its
    dimensionality D_i, coloured by 1/(1−S), with the curve sqrt(D) that a feature of norm 1 and bias 0 would
    follow (a negative bias pulls a feature below it)."""
    d = np.asarray(dimensionality, dtype=float)
    inv = 1 / np.asarray(density, dtype=float)
    fig = go.Figure()
    grid = np.linspace(0, 1, 101)
    fig.add_trace(go.Scatter(x=grid, y=np.sqrt(grid), mode="lines", name="√D (norm 1, bias 0)",
                             line=dict(color="grey", dash="dash"), hoverinfo="skip"))
    fig.add_trace(go.Scatter(
        x=d, y=np.asarray(distance, dtype=float), mode="markers", name="features", customdata=list(hover),
        marker=dict(size=8, color=np.log10(inv), colorscale="Viridis", line=dict(width=0.5, color="white"),
                    colorbar=dict(title="1/(1−S)", tickvals=np.log10([1, 3, 10, 30, 100]),
                                  ticktext=["1", "3", "10", "30", "100"])),
        hovertemplate="%{customdata}<br>D = %{x:.3f}<br>distance %{y:.3f}<extra></extra>"))
    fig.update_xaxes(title="feature dimensionality D<sub>i</sub>", range=[0, 1.05])
    fig.update_yaxes(title="smallest L2 perturbation that silences it", rangemode="tozero")
    fig.update_layout(title=figure_title("How far each feature is from being switched off", title),
                      legend=dict(orientation="h", y=-0.2), template=TEMPLATE, width=760, height=480)
    return fig


__all__ = ["robustness_scatter", "vulnerability_curves"]
