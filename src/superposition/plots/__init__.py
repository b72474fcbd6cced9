"""Figures of Toy Models of Superposition (Elhage et al. 2022), drawn from a run with plotly.

- `features_2d`: the features as arrows in the 2D hidden space, one panel per instance (the paper's pentagons,
  antipodal pairs and "Superposition as a phase change" pictures; the course's `plot_features_in_2d`).
- `wtw_and_norms`: W^T W beside the bars of ||W_i|| coloured by superposition, one column per sparsity (the
  paper's "As sparsity increases, models superpose" figure).
- `bias`: the learned bias b per feature and instance (negative biases cut off interference under a ReLU).
- `interference`: sum_{j != i} W_i . W_j per feature and its positive part (the course's interference scores).
- `dimensionality_scatter`: feature dimensionality D_i against 1/(1-S) with the fractions 1, 3/4, 2/3, 1/2, 2/5,
  3/8 and the dimensions per feature m / ||W||_F^2 (the paper's "Feature dimensionality" figure).
- `loss_history`: per-instance loss against step.
- `all_figures` and `write_html`: every figure of a run in one offline HTML file (plotly.js embedded once).

Every title is built from the run's config (`run_title`, `instance_label`), never typed by hand. Numbers come from
`analysis.metrics`; this module only draws them.

>>> from superposition import make_config
>>> run_title(make_config(data=dict(n_features=5, importance_decay=0.9), model=dict(n_hidden=2)))
'ReLU output model · n=5 features, m=2 hidden · 1 instance · importance 0.9^i'
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from ..analysis.geometry import FRACTIONS
from ..analysis.metrics import wtw
from ..analysis.table import feature_table
from ..config import RunConfig
from ..errors import SuperpositionError
from ..runs import Run

# Most important features drawn darkest, so they stand out on the white background.
IMPORTANCE_SCALE = "Viridis_r"
# Diverging, centred on 0, for W^T W and the bias (red negative, blue positive).
DIVERGING_SCALE = "RdBu"
# Dedicated features (superposition 0) dark, superposed ones (1 or more) yellow, as in the paper.
SUPERPOSITION_SCALE = [[0.0, "#111111"], [0.5, "#8c5a1a"], [1.0, "#f5c211"]]
TEMPLATE = "plotly_white"
PANEL = 230  # pixels per panel side: five panels fit the report's width


# ---------------------------------------------------------------- titles from the config

def run_title(config) -> str:
    """One line describing a run (its family's title)."""
    from ..families import family_of

    return family_of(config).title(config)


def instance_label(config, instance: int) -> str:
    """What tells one instance from another (its family's label): '1−S = 0.2', 'init 3', 'L1 = 0.1'."""
    from ..families import family_of

    return family_of(config).instance_label(config, instance)


def _figure_title(name: str, config: RunConfig, note: str = "") -> str:
    """The figure's name in bold above the run's description (and an optional note)."""
    return f"<b>{name}</b>{' · ' + note if note else ''}<br><sup>{run_title(config)}</sup>"


# ---------------------------------------------------------------- shared helpers


def _check(run: Run) -> None:
    """Refuse a run whose weights disagree with its config: every title would then describe the wrong model."""
    if run.config.family != "toy":
        return  # load_run already checked every tensor's shape against the config
    want = (run.config.data.n_instances, run.config.data.n_features, run.config.model.n_hidden)
    got = tuple(run.W.shape)
    if got != want:
        raise SuperpositionError(
            f"cannot plot: W has shape {got} but the config describes [n_instances, n_features, n_hidden] = {want}"
        )


def _instances(run: Run, instances: Sequence[int] | None) -> list[int]:
    n = run.model.n_instances
    chosen = list(range(n)) if instances is None else [int(k) for k in instances]
    bad = [k for k in chosen if not 0 <= k < n]
    if bad or not chosen:
        raise SuperpositionError(f"instances must be a non-empty selection of 0..{n - 1}, got {list(instances or [])}")
    return chosen


def _table(run: Run) -> pd.DataFrame:
    """The per-feature table of the run's current weights (metrics and structure)."""
    return feature_table(run.W, run.b, run.config.data)


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


def _grid(n: int, max_cols: int) -> tuple[int, int]:
    cols = min(n, max_cols)
    return math.ceil(n / cols), cols


def _cell(i: int, cols: int) -> tuple[int, int]:
    return i // cols + 1, i % cols + 1


def _panels(
    run: Run, chosen: list[int], max_cols: int, **subplot_args
) -> tuple[go.Figure, int, int]:
    """A grid with one panel per chosen instance, each titled by its feature probability."""
    rows, cols = _grid(len(chosen), max_cols)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[instance_label(run.config, k) for k in chosen],
        **subplot_args,
    )
    return fig, rows, cols


def _equal_aspect(fig: go.Figure, row: int, col: int) -> None:
    """Square data units; the panel shrinks to fit (constrain="domain") rather than the axis range growing."""
    sub = fig.get_subplot(row, col)
    sub.yaxis.scaleanchor = sub.xaxis.plotly_name.replace("axis", "")
    sub.yaxis.scaleratio = 1
    sub.xaxis.constrain = "domain"
    sub.yaxis.constrain = "domain"


def _colour(scale: str, value: float, lo: float, hi: float) -> str:
    return sample_colorscale(scale, [0.5 if hi <= lo else (value - lo) / (hi - lo)])[0]


def _message(config: RunConfig, name: str, note: str) -> go.Figure:
    """A figure with no data whose title says why (e.g. a model without bias)."""
    fig = go.Figure()
    fig.update_layout(title=_figure_title(name, config, note), template=TEMPLATE, height=220)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


# ---------------------------------------------------------------- figures


def features_2d(run: Run, instances: Sequence[int] | None = None, max_cols: int = 5) -> go.Figure:
    """Each feature W_i as a line from the origin in the hidden plane, one panel per instance, coloured by importance.

    With m != 2 hidden dimensions the panels show the projection onto hidden coordinates 0 and 1 (m = 1: a line).
    """
    _check(run)
    chosen = _instances(run, instances)
    table = _table(run)
    W = run.W.float().cpu().numpy()
    m = W.shape[-1]
    xy = W[..., :2] if m >= 2 else np.concatenate([W, np.zeros_like(W)], axis=-1)
    reach = 1.1 * max(float(np.abs(xy).max()), 1e-3)
    lo, hi = float(table.importance.min()), float(table.importance.max())
    lo = 0.0 if hi <= lo else lo  # equal importances: one colour from the scale, not an empty range

    fig, rows, cols = _panels(run, chosen, max_cols, horizontal_spacing=0.06, vertical_spacing=0.12)
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
        title=_figure_title("Features in the hidden space", run.config, note),
        coloraxis=dict(colorscale=IMPORTANCE_SCALE, cmin=lo, cmax=hi, colorbar=dict(title="importance")),
        template=TEMPLATE, width=PANEL * cols + 160, height=PANEL * rows + 140,
    )
    return fig


def wtw_and_norms(run: Run, instances: Sequence[int] | None = None, max_cols: int = 5) -> go.Figure:
    """Per instance (column): W^T W on a diverging scale in ±1 above bars of ||W_i|| coloured by superposition."""
    _check(run)
    chosen = _instances(run, instances)
    table = _table(run)
    G = wtw(run.W.float().cpu()).numpy()
    n_feat = run.config.data.n_features
    block_rows, cols = _grid(len(chosen), max_cols)
    titles = []
    for r in range(block_rows):
        block = chosen[r * cols:(r + 1) * cols]
        titles += [instance_label(run.config, k) for k in block] + [""] * (cols - len(block))
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
        block, col = _cell(i, cols)
        row = 2 * block - 1
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
        title=_figure_title("W<sup>T</sup>W and feature norms ‖W<sub>i</sub>‖", run.config,
                            "bars coloured by superposition"),
        coloraxis=dict(colorscale=DIVERGING_SCALE, cmin=-1, cmax=1, cmid=0,
                       colorbar=dict(title="W<sup>T</sup>W", len=0.45, y=1, yanchor="top")),
        coloraxis2=dict(colorscale=SUPERPOSITION_SCALE, cmin=0, cmax=1,
                        colorbar=dict(title="superposition", len=0.45, y=0, yanchor="bottom")),
        showlegend=False, template=TEMPLATE,
        width=max(heat_px * cols + 230, 500), height=height,
    )
    return fig


def bias(run: Run, instances: Sequence[int] | None = None) -> go.Figure:
    """The bias b_i of every feature (columns) and instance (rows), on a diverging scale centred on 0."""
    _check(run)
    name = "Bias b"
    if run.b is None:
        return _message(run.config, name, "no bias: the model has no b")
    chosen = _instances(run, instances)
    b = run.b.float().cpu().numpy()[chosen]
    reach = max(float(np.abs(b).max()), 1e-6)
    fig = go.Figure(
        go.Heatmap(
            z=b, x=list(range(b.shape[1])), y=list(range(len(chosen))),
            colorscale=DIVERGING_SCALE, zmin=-reach, zmax=reach, zmid=0, colorbar=dict(title="b"),
            texttemplate="%{z:.2f}", hovertemplate="feature %{x}<br>b = %{z:.4f}<extra></extra>",
        )
    )
    fig.update_yaxes(
        tickvals=list(range(len(chosen))), autorange="reversed",
        ticktext=[f"{k}: {instance_label(run.config, k)}" for k in chosen],
    )
    fig.update_xaxes(title="feature", dtick=1)
    fig.update_layout(
        title=_figure_title(name, run.config), template=TEMPLATE,
        width=max(500, 45 * b.shape[1] + 300), height=max(300, 32 * len(chosen) + 160),
    )
    return fig


def interference(run: Run, instances: Sequence[int] | None = None, max_cols: int = 5) -> go.Figure:
    """Per instance: sum_{j != i} W_i . W_j for every feature i, and its positive part (what a ReLU cannot cut off)."""
    _check(run)
    chosen = _instances(run, instances)
    table = _table(run)
    fig, rows, cols = _panels(run, chosen, max_cols, shared_yaxes=True, horizontal_spacing=0.04, vertical_spacing=0.14)
    series = (("interference", "Σ<sub>j≠i</sub> W<sub>i</sub>·W<sub>j</sub>", "#4c78a8"), ("positive_interference", "positive part", "#e45756"))
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
        title=_figure_title("Interference per feature", run.config), barmode="group", template=TEMPLATE,
        width=PANEL * cols + 120, height=PANEL * rows + 160,
    )
    return fig


def dimensionality_scatter(run: Run, instances: Sequence[int] | None = None) -> go.Figure:
    """D_i of every feature against 1/(1-S) (log x), guides at 1, 3/4, 2/3, 1/2, 2/5, 3/8, 0 and m/||W||_F^2."""
    _check(run)
    chosen = _instances(run, instances)
    table = _table(run)
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
    fig.update_yaxes(title="dimensionality D<sub>i</sub>", range=[-0.05, max(1.1, float(feats.dimensionality.max()) + 0.05)])
    fig.update_layout(
        title=_figure_title("Feature dimensionality", run.config),
        coloraxis=dict(colorscale=IMPORTANCE_SCALE, cmin=0.0 if hi <= lo else lo, cmax=hi,
                       colorbar=dict(title="importance", x=1.12)),
        legend=dict(orientation="h", y=-0.2), template=TEMPLATE, width=760, height=520,
    )
    return fig


def loss_history(run: Run, instances: Sequence[int] | None = None) -> go.Figure:
    """Loss of each instance against training step, on a log axis."""
    _check(run)
    chosen = _instances(run, instances)
    name = "Loss"
    history = run.history[run.history.instance.isin(chosen)]
    if history.empty:
        return _message(run.config, name, "no loss history recorded")
    fig = go.Figure()
    for i, k in enumerate(chosen):
        h = history[history.instance == k].sort_values("step")
        fig.add_trace(
            go.Scatter(
                x=h.step, y=h.loss, mode="lines", name=f"{k}: {instance_label(run.config, k)}",
                line=dict(color=_colour("Viridis", i, 0, len(chosen) - 1), width=1.5),
                hovertemplate=f"instance {k}<br>step %{{x}}<br>loss %{{y:.3g}}<extra></extra>",
            )
        )
    fig.update_xaxes(title="step")
    fig.update_yaxes(type="log", title="loss")
    fig.update_layout(title=_figure_title(name, run.config), template=TEMPLATE, width=760, height=460)
    return fig


def _neuron_inputs(run: Run) -> bool:
    """Whether the run's inputs are non-negative (the neuron model's features lie in [0, 1])."""
    return run.config.data.magnitude in ("uniform", "constant")


def neurons(run: Run, instances: Sequence[int] | None = None, max_cols: int = 1) -> go.Figure:
    """The paper's neuron figure: each neuron's input weight from every feature as stacked bars (positive up,
    negative down), neurons sorted by the importance of their largest feature, features coloured by importance.
    Titles give the count of polysemantic neurons."""
    from ..analysis.neurons import classify_neurons, neuron_order

    _check(run)
    chosen = _instances(run, instances)
    W1 = run.W.float().cpu()
    importance = run.config.data.importance_table()
    nonneg = _neuron_inputs(run)
    order = neuron_order(W1, importance, nonnegative_inputs=nonneg)
    labels = classify_neurons(W1, nonnegative_inputs=nonneg)
    n_feat, n_hidden = W1.shape[1], W1.shape[2]
    rows, cols = _grid(len(chosen), max_cols)
    titles = [
        f"{instance_label(run.config, k)} · {labels[k].count('polysemantic')} of {n_hidden} neurons polysemantic"
        for k in chosen
    ]
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
                    customdata=[[f, imp, labels[k][n]] for n in ordered],
                    hovertemplate="%{x}: %{customdata[2]}<br>feature %{customdata[0]} (importance %{customdata[1]:.3g})"
                    "<br>weight %{y:.3f}<extra></extra>",
                ),
                row=row, col=col,
            )
        fig.update_yaxes(title="input weight" if col == 1 else None, row=row, col=col)
    fig.update_layout(
        barmode="relative", template=TEMPLATE,
        title=_figure_title("Neurons, sorted by their largest feature's importance", run.config,
                            "input weights, coloured by importance"),
        width=max(700, 18 * n_hidden * cols + 200), height=height,
    )
    return fig


def polysemantic_neurons(run: Run) -> go.Figure:
    """The number of polysemantic neurons in each instance against 1/(1-S)."""
    from ..analysis.neurons import ALIGNED, classify_neurons

    _check(run)
    labels = classify_neurons(run.W.float().cpu(), nonnegative_inputs=_neuron_inputs(run))
    p = run.config.data.probability().mean(dim=1).numpy()
    counts = [inst.count("polysemantic") for inst in labels]
    fig = go.Figure(go.Scatter(
        x=1 / p, y=counts, mode="lines+markers", name="polysemantic",
        hovertemplate="1/(1−S) = %{x:.3g}<br>%{y} polysemantic neurons<extra></extra>",
    ))
    fig.update_xaxes(type="log", title="1 / (1 − S)")
    fig.update_yaxes(title=f"polysemantic neurons (max|w| / ‖w‖ < {ALIGNED})", rangemode="tozero")
    fig.update_layout(title=_figure_title("Polysemantic neurons against sparsity", run.config), template=TEMPLATE,
                      width=700, height=420)
    return fig


# ---------------------------------------------------------------- one offline HTML file


# Phase colours: feature 2 dropped (grey), feature 2 alone (blue), both superposed (gold), anything else (red).
PHASE_COLOURS = {"not represented": "#bdbdbd", "dedicated": "#3b6fb6", "superposition": "#f5c211", "other": "#c0392b"}


def phase_diagrams(
    diagrams: Sequence, titles: Sequence[str], *, title: str, share: np.ndarray | None = None,
    share_title: str = "share of seeds in the theory's solution",
) -> go.Figure:
    """Phase diagrams side by side: the winning solution per (density 1-S, relative importance r) cell.

    `diagrams` are `analysis.phase.PhaseDiagram`s on the same grid (theory, then trained models); a trained one's
    hover says how many of its seeds found the label. `share` ([n_r, n_p] in [0, 1], e.g. the share of seeds in the
    theory's solution) adds a last panel that shows it per cell, as a number and a shade.
    """
    labels = list(PHASE_COLOURS)
    n = len(labels)
    # A stepped colour scale: value k (0..n-1) maps to the k-th colour, with no blending between phases.
    scale = [[edge / n, colour] for k, colour in enumerate(PHASE_COLOURS.values()) for edge in (k, k + 1)]
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
        fig.update_yaxes(title="importance of feature 2 (r)" if col == 1 else None, row=1, col=col)
    for label, colour in PHASE_COLOURS.items():  # a legend of the phases
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=label,
                                 marker=dict(size=12, color=colour, symbol="square")))
    fig.update_layout(title=f"<b>{html.escape(title)}</b>", template=TEMPLATE, width=400 * panels + 120,
                      height=520, legend=dict(orientation="h", y=-0.25))
    return fig


__all__ = [
    "bias",
    "dimensionality_scatter",
    "features_2d",
    "instance_label",
    "interference",
    "loss_history",
    "neurons",
    "phase_diagrams",
    "polysemantic_neurons",
    "run_title",
    "wtw_and_norms",
]
