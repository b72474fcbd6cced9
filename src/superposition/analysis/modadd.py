"""Measures of a trained modular-addition model: how well it solves the task, which frequencies its embedding
carries and how they are mixed across columns, how sparse its bilinear weights are before and after unmixing, and
where AdamW's weight decay has put their magnitudes.

- `hoyer`: Hoyer's sparsity of a weight matrix, 0 for all entries of equal size, 1 for a single nonzero entry.
- `column_frequencies`: per embedding column, the frequencies carrying more than a threshold of its norm.
- `frequency_counts`, `mixing_count`: the number of such frequencies per column, and its mean (1: each column
  pure; 2: two superposed).
- `top_frequencies`: the frequencies with the most embedding power, as many as the embedding has room for.
- `unmix`: the same function with each embedding column turned back into one pure frequency, by the note's
  constructed involution (M² = I, for d = 4) or by the general inverse of the fitted change of basis.
- `summarize`: one row per instance with all of the above (the run's `metrics.csv`).
"""

from __future__ import annotations

import math
from typing import Literal

import pandas as pd
import torch
from jaxtyping import Float, Int
from torch import Tensor

from ..data.modadd import ModAddData
from ..errors import ConfigError
from ..models.bilinear import BilinearModAdd
from .fourier import frequency_share, restricted_loss
from .mixing import involutory_unmixer, mix, round_weights, unmixing_matrix

SHARE_THRESHOLD = 0.1  # a frequency "is in" a column when it carries more than 10% of the column's squared norm
NEAR_BOUND = 0.25  # |w|·λ within 25% of 1 counts as sitting at AdamW's bound ±1/λ


def hoyer(w: Float[Tensor, "inst ..."]) -> Float[Tensor, "inst"]:
    """Hoyer sparsity (sqrt(n) - |w|_1 / |w|_2) / (sqrt(n) - 1) of each instance's entries.

    >>> hoyer(torch.tensor([[1.0, 0, 0, 0], [1.0, -1, 1, -1]])).tolist()
    [1.0, 0.0]
    """
    flat = w.flatten(1)
    n = flat.shape[1]
    if n < 2:
        raise ConfigError("Hoyer sparsity needs at least two entries")
    ratio = flat.abs().sum(1) / flat.norm(dim=1).clamp_min(torch.finfo(flat.dtype).tiny)
    return (math.sqrt(n) - ratio) / (math.sqrt(n) - 1)


def column_frequencies(
    embed: Float[Tensor, "inst p d"], threshold: float = SHARE_THRESHOLD
) -> list[list[list[tuple[int, float]]]]:
    """Per instance, per embedding column: the (frequency, share) pairs above `threshold`, largest share first.

    >>> p = 7; a = torch.arange(p, dtype=torch.float64)
    >>> col = torch.cos(2 * math.pi * a / p) + torch.sin(2 * math.pi * 3 * a / p)
    >>> [(k, round(s, 3)) for k, s in column_frequencies(col[None, :, None])[0][0]]
    [(1, 0.5), (3, 0.5)]
    """
    share = frequency_share(embed)[..., 1:]  # constant dropped; index j is frequency j + 1
    out = []
    for inst in share:
        cols = []
        for col in inst:
            ks = (col > threshold).nonzero()[:, 0].tolist()
            cols.append(sorted(((k + 1, float(col[k])) for k in ks), key=lambda t: -t[1]))
        out.append(cols)
    return out


def frequency_counts(embed: Float[Tensor, "inst p d"], threshold: float = SHARE_THRESHOLD) -> Int[Tensor, "inst d"]:
    """Per embedding column, the number of frequencies k >= 1 above `threshold` (1: a pure column)."""
    return (frequency_share(embed)[..., 1:] > threshold).sum(-1)


def mixing_count(embed: Float[Tensor, "inst p d"], threshold: float = SHARE_THRESHOLD) -> Float[Tensor, "inst"]:
    """Mean over embedding columns of the number of frequencies above `threshold` (1: no mixing)."""
    return frequency_counts(embed, threshold).double().mean(-1)


def top_frequencies(embed: Float[Tensor, "inst p d"], n: int) -> list[list[int]]:
    """Per instance, the `n` frequencies k >= 1 with the most squared norm summed over the embedding's columns."""
    share = frequency_share(embed)[..., 1:] * embed.square().sum(-2)[..., None]  # back to absolute power
    return [sorted((torch.topk(inst.sum(0), n).indices + 1).tolist()) for inst in share]


def can_unmix(model: BilinearModAdd) -> bool:
    """Unmixing needs an even embedding with no more cos/sin pairs than Z_p has frequencies, and no layer norm
    (which does not commute with mixing)."""
    return model.d_embed % 2 == 0 and model.d_embed // 2 <= (model.p - 1) // 2 and not model.layer_norm


def can_involute(model: BilinearModAdd) -> bool:
    """The involutory unmixer pairs 4 embedding columns with 2 frequencies (the note's setting)."""
    return model.d_embed == 4 and can_unmix(model)


def unmixer(model: BilinearModAdd, how: Literal["inverse", "involution"] = "inverse") -> Float[Tensor, "inst d d"]:
    """The matrix M that `unmix` applies (E -> E M), per instance, from the embedding's top d/2 frequencies:
    `inverse` is the general inverse of the fitted change of basis (any even d; each column becomes exactly one cos
    or sin); `involution` is the note's constructed involutory matrix (d = 4; M² = I, each column one frequency
    at the phase the involution gives it, see `superposition.analysis.mixing.involutory_unmixer`)."""
    if how not in ("inverse", "involution"):
        raise ConfigError(f"how must be 'inverse' or 'involution', got {how!r}")
    if model.d_embed % 2:
        raise ConfigError(f"unmixing pairs columns into cos/sin, so d_embed must be even, got {model.d_embed}")
    if model.d_embed // 2 > (model.p - 1) // 2:
        raise ConfigError(f"unmixing needs d_embed/2 = {model.d_embed // 2} frequencies, Z_{model.p} has only "
                          f"{(model.p - 1) // 2}")
    embed = model.embed.detach().double()
    freqs = top_frequencies(embed, model.d_embed // 2)
    return involutory_unmixer(embed, freqs) if how == "involution" else unmixing_matrix(embed, freqs)


def unmix(model: BilinearModAdd, how: Literal["inverse", "involution"] = "inverse") -> BilinearModAdd:
    """The model with each embedding column turned into one pure frequency of its top d/2 (the function is
    unchanged up to float precision; what the embedding held outside those frequencies is carried along)."""
    return mix(_double(model), unmixer(model, how))


def _double(model: BilinearModAdd) -> BilinearModAdd:
    w = {k: v.double() for k, v in model.weights().items()}
    return BilinearModAdd.from_weights(w, layer_norm=model.layer_norm, loss_kind=model.loss_kind)


@torch.no_grad()
def summarize(model: BilinearModAdd, data: ModAddData, weight_decay: float = 0.0) -> pd.DataFrame:
    """One row per instance: loss and accuracy on train and test, the embedding's frequencies and mixing, the
    bilinear weights' sparsity and magnitude (times the weight decay λ: 1 means |w| ≈ 1/λ, and the share of
    entries within NEAR_BOUND of it), and, for bilinear models without layer norm, the same after unmixing
    (`unmixed_*`: the general inverse; `involution_*` at d = 4: the note's involution, with max |M² − I|) and the
    loss change from rounding L and R (to ±c, to {−c, 0, +c}, and to ±1/λ when λ > 0)."""
    model = _double(model)
    train, test = data.train, data.test
    embed = model.embed.detach()
    n = model.n_instances
    rows: dict[str, list] = {
        "instance": list(range(n)),
        "train_loss": model.loss(train).tolist(),
        "test_loss": model.loss(test).tolist() if len(test) else [float("nan")] * n,
        "train_accuracy": model.accuracy(train).tolist(),
        "test_accuracy": model.accuracy(test).tolist() if len(test) else [float("nan")] * n,
    }
    cols = column_frequencies(embed)
    rows["column_frequencies"] = [
        " | ".join(" ".join(f"{k}:{s:.2f}" for k, s in col) or "-" for col in inst) for inst in cols
    ]
    rows["key_frequencies"] = [" ".join(str(k) for k in sorted({k for col in inst for k, _ in col})) for inst in cols]
    rows["freqs_per_column"] = mixing_count(embed).tolist()
    rows["min_freqs_per_column"] = frequency_counts(embed).amin(-1).tolist()
    if model.d_embed % 2 == 0 and model.d_embed // 2 <= (model.p - 1) // 2:  # restricted loss needs the same
        top = top_frequencies(embed, model.d_embed // 2)
        rows["restricted_loss"] = restricted_loss(model, train, top).tolist()
    weights = model.weights()
    hidden = ("L", "R") if model.activation == "bilinear" else ("W",)
    stacked = torch.cat([weights[name].flatten(1) for name in hidden], dim=1)
    rows["hidden_hoyer"] = hoyer(stacked).tolist()
    absw = stacked.abs()
    rows["hidden_median_abs"] = absw.median(dim=1).values.tolist()
    rows["hidden_median_abs_x_wd"] = (absw.median(dim=1).values * weight_decay).tolist()
    rows["hidden_abs_spread"] = (absw.std(dim=1) / absw.mean(dim=1)).tolist()
    if weight_decay > 0:
        # "values in roughly {-1, 1}": the share of entries within NEAR_BOUND of AdamW's bound 1/λ
        rows["hidden_near_bound_share"] = ((absw * weight_decay - 1).abs() <= NEAR_BOUND).double().mean(1).tolist()
    if model.activation == "bilinear" and can_unmix(model):
        ways: list[tuple[str, Literal["inverse", "involution"]]] = [("unmixed", "inverse")]
        if can_involute(model):
            ways.append(("involution", "involution"))
        for prefix, how in ways:
            M = unmixer(model, how)
            unmixed = mix(model, M)
            u = unmixed.weights()
            counts = frequency_counts(u["embed"])
            rows[f"{prefix}_freqs_per_column"] = counts.double().mean(-1).tolist()
            rows[f"{prefix}_max_freqs_per_column"] = counts.amax(-1).tolist()
            rows[f"{prefix}_hidden_hoyer"] = hoyer(torch.cat([u["L"].flatten(1), u["R"].flatten(1)], 1)).tolist()
            rows[f"{prefix}_train_loss"] = unmixed.loss(train).tolist()
            if how == "involution":
                eye = torch.eye(model.d_embed, dtype=M.dtype)
                rows["involution_error"] = (M @ M - eye).abs().flatten(1).amax(1).tolist()  # max |M² − I|
        for levels in ("binary", "ternary"):
            _, delta = round_weights(model, train, levels)
            rows[f"rounded_{levels}_loss_change"] = delta.tolist()
        if weight_decay > 0:
            _, delta = round_weights(model, train, "binary", value=1 / weight_decay)
            rows["rounded_bound_loss_change"] = delta.tolist()
    return pd.DataFrame(rows)
