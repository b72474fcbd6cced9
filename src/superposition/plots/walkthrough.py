"""The walk-through's reading of the bias (seed 004): a negative bias b_i offsets the positive interference
sum_{j != i} W_i . W_j that feature i receives. One point per instance and feature, the interference against the
bias: that reading puts the features that share a direction in the lower-right quadrant; with symmetric inputs
the interference's sign is arbitrary and the points fall on both sides of 0.
"""

from __future__ import annotations

import plotly.graph_objects as go
from jaxtyping import Float
from torch import Tensor

from .common import IMPORTANCE_SCALE, TEMPLATE, _colour, figure_title


def bias_against_interference(
    interference: Float[Tensor, "inst feat"], b: Float[Tensor, "inst feat"], title: str
) -> go.Figure:
    """Each feature's bias b_i against its interference sum_{j != i} W_i . W_j, one marker per instance, coloured
    by feature (feature 0 darkest, as the importance scale draws the most important feature)."""
    x, y = interference.detach().float().cpu(), b.detach().float().cpu()
    if x.shape != y.shape:
        raise ValueError(f"interference {tuple(x.shape)} and b {tuple(y.shape)} must have the same shape")
    n_inst, n_feat = x.shape
    fig = go.Figure()
    for i in range(n_feat):
        fig.add_trace(go.Scatter(
            x=x[:, i].tolist(), y=y[:, i].tolist(), mode="markers", name=f"feature {i}",
            marker=dict(size=10, color=_colour(IMPORTANCE_SCALE, float(n_feat - 1 - i), 0.0, float(max(n_feat - 1, 1))),
                        line=dict(width=1, color="white")),
            customdata=list(range(n_inst)),
            hovertemplate=(f"feature {i}, instance %{{customdata}}<br>Σ<sub>j≠i</sub> W<sub>i</sub>·W<sub>j</sub> = "
                           "%{x:.3f}<br>b<sub>i</sub> = %{y:.3f}<extra></extra>"),
        ))
    fig.add_hline(y=0, line=dict(color="grey", width=1))
    fig.add_vline(x=0, line=dict(color="grey", width=1))
    fig.update_xaxes(title="interference Σ<sub>j≠i</sub> W<sub>i</sub>·W<sub>j</sub>", zeroline=False)
    fig.update_yaxes(title="bias b<sub>i</sub>", zeroline=False)
    fig.update_layout(
        title=figure_title("Bias against interference", title, "one marker per instance"),
        template=TEMPLATE, width=620, height=460,
    )
    return fig
