"""Measures of superposition from Toy Models of Superposition (Elhage et al. 2022) and the course material.

All functions take the stored weight `W` `[n_instances, n_features, n_hidden]`, whose rows W_i are the feature
directions (the paper's columns of its m x n matrix). In the paper's notation:

- W^T W: the n x n matrix of dot products W_i . W_j (here `W @ W.T`, per instance);
- ||W_i||: whether feature i is represented (about 1) or not (about 0);
- superposition of feature i: sum_{j != i} (W^_i . W_j)^2, with W^_i = W_i / ||W_i||;
- feature dimensionality D_i = ||W_i||^2 / sum_j (W^_i . W_j)^2 (the fraction of a dimension feature i gets);
- dimensions per feature: m / ||W||_F^2;
- interference: sum_{j != i} W_i . W_j (signed, as in the walk-through) and its positive part, the
  interference a ReLU output cannot cut off.

>>> import torch
>>> W = torch.tensor([[[1., 0.], [0., 1.], [-1., 0.], [0., -1.]]])  # two antipodal pairs in 2D
>>> dimensionality(W)
tensor([[0.5000, 0.5000, 0.5000, 0.5000]])
"""

from __future__ import annotations

import math

import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor

# A feature whose norm is below this carries (almost) nothing: its dimensionality and angles are undefined.
EPS = 1e-8
# What "represented" means everywhere in the project: trained norms sit near 0 (ignored) or near 1 (represented),
# and halfway splits them.
REPRESENTED_NORM = 0.5


def wtw(W: Float[Tensor, "inst feat hidden"]) -> Float[Tensor, "inst feat feat"]:
    """The paper's W^T W: dot products between feature directions."""
    return W @ W.transpose(-1, -2)


def feature_norms(W: Float[Tensor, "inst feat hidden"]) -> Float[Tensor, "inst feat"]:
    """||W_i||: about 1 for a represented feature, about 0 for one the model ignores."""
    return W.norm(dim=-1)


def represented(W: Float[Tensor, "inst feat hidden"]) -> Tensor:
    """Whether each feature is represented: ||W_i|| > REPRESENTED_NORM (bool `[inst, feat]`)."""
    return feature_norms(W) > REPRESENTED_NORM


def _unit(W: Tensor) -> Tensor:
    norms = feature_norms(W)[..., None]
    return torch.where(norms > EPS, W / norms.clamp_min(EPS), torch.zeros_like(W))


def superposition(W: Float[Tensor, "inst feat hidden"]) -> Float[Tensor, "inst feat"]:
    """sum_{j != i} (W^_i . W_j)^2: how much of other features' weight lies along feature i's direction."""
    proj = _unit(W) @ W.transpose(-1, -2)  # [inst, i, j] = W^_i . W_j
    sq = proj.square()
    return sq.sum(-1) - sq.diagonal(dim1=-2, dim2=-1)


def dimensionality(W: Float[Tensor, "inst feat hidden"]) -> Float[Tensor, "inst feat"]:
    """D_i = ||W_i||^2 / sum_j (W^_i . W_j)^2; 0 for a feature that is not represented."""
    proj = _unit(W) @ W.transpose(-1, -2)
    denom = proj.square().sum(-1)
    norms2 = feature_norms(W).square()
    return torch.where(denom > EPS, norms2 / denom.clamp_min(EPS), torch.zeros_like(norms2))


def dimensions_per_feature(W: Float[Tensor, "inst feat hidden"]) -> Float[Tensor, "inst"]:
    """m / ||W||_F^2: hidden dimensions the model spends per (norm-weighted) feature it represents."""
    frob2 = W.square().sum(dim=(-1, -2))
    return torch.where(frob2 > EPS, W.shape[-1] / frob2.clamp_min(EPS), torch.full_like(frob2, math.inf))


def cosines(W: Float[Tensor, "inst feat hidden"]) -> Float[Tensor, "inst feat feat"]:
    """Cosine similarity between feature directions (0 where either feature has no weight)."""
    U = _unit(W)
    return U @ U.transpose(-1, -2)


def angles(W: Float[Tensor, "inst feat hidden"]) -> Float[Tensor, "inst feat feat"]:
    """Angle in degrees between feature directions (NaN where either feature has no weight)."""
    norms = feature_norms(W)
    ok = (norms[..., :, None] > EPS) & (norms[..., None, :] > EPS)
    deg = torch.rad2deg(torch.arccos(cosines(W).clamp(-1.0, 1.0)))
    return torch.where(ok, deg, torch.full_like(deg, math.nan))


def interference(W: Float[Tensor, "inst feat hidden"]) -> Float[Tensor, "inst feat"]:
    """sum_{j != i} W_i . W_j: the signed interference feature i receives when every feature is active."""
    G = wtw(W)
    return G.sum(-1) - G.diagonal(dim1=-2, dim2=-1)


def positive_interference(W: Float[Tensor, "inst feat hidden"]) -> Float[Tensor, "inst feat"]:
    """sum_{j != i} max(W_i . W_j, 0): the part of the interference that a ReLU output cannot cut off."""
    G = wtw(W).clamp_min(0.0)
    return G.sum(-1) - G.diagonal(dim1=-2, dim2=-1)


def metrics_table(
    W: Float[Tensor, "inst feat hidden"],
    b: Float[Tensor, "inst feat"] | None = None,
    importance: Float[Tensor, "inst feat"] | None = None,
    probability: Float[Tensor, "inst feat"] | None = None,
) -> pd.DataFrame:
    """One row per instance x feature: norm, superposition, dimensionality, interference, bias, and the
    instance's dimensions per feature. Importance and probability columns are added when given."""
    W = W.detach().float().cpu()
    n_inst, n_feat, _ = W.shape
    cols: dict[str, Tensor] = {
        "instance": torch.arange(n_inst).repeat_interleave(n_feat),
        "feature": torch.arange(n_feat).repeat(n_inst),
        "norm": feature_norms(W),
        "superposition": superposition(W),
        "dimensionality": dimensionality(W),
        "interference": interference(W),
        "positive_interference": positive_interference(W),
        "dims_per_feature": dimensions_per_feature(W)[:, None].expand(n_inst, n_feat),
    }
    if b is not None:
        cols["bias"] = b.detach().float().cpu()
    if importance is not None:
        cols["importance"] = importance.detach().float().cpu()
    if probability is not None:
        cols["probability"] = probability.detach().float().cpu()
    return pd.DataFrame({k: v.reshape(-1).numpy() for k, v in cols.items()})
