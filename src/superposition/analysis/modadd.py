"""Measures of a trained modular-addition model: how well it solves the task, which frequencies its embedding
carries and how they are mixed across columns, how sparse its bilinear weights are before and after unmixing, and
where AdamW's weight decay has put their magnitudes.

- `hoyer`: Hoyer's sparsity of a weight matrix, 0 for all entries of equal size, 1 for a single nonzero entry.
- `column_frequencies`: per embedding column, the frequencies carrying more than a threshold of its norm.
- `mixing_count`: mean number of such frequencies per column (1: each column pure; 2: two superposed).
- `top_frequencies`: the frequencies with the most embedding power, as many as the embedding has room for.
- `unmix`: the same function with each embedding column turned back into one pure cos or sin.
- `summarize`: one row per instance with all of the above (the run's `metrics.csv`).
"""

from __future__ import annotations

import math

import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor

from ..data.modadd import ModAddData
from ..errors import ConfigError
from ..models.bilinear import BilinearModAdd
from .fourier import frequency_share, restricted_loss
from .mixing import mix, round_weights, unmixing_matrix

SHARE_THRESHOLD = 0.1  # a frequency "is in" a column when it carries more than 10% of the column's squared norm


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


def mixing_count(embed: Float[Tensor, "inst p d"], threshold: float = SHARE_THRESHOLD) -> Float[Tensor, "inst"]:
    """Mean over embedding columns of the number of frequencies above `threshold` (1: no mixing)."""
    share = frequency_share(embed)[..., 1:]
    return (share > threshold).sum(-1).double().mean(-1)


def top_frequencies(embed: Float[Tensor, "inst p d"], n: int) -> list[list[int]]:
    """Per instance, the `n` frequencies k >= 1 with the most squared norm summed over the embedding's columns."""
    share = frequency_share(embed)[..., 1:] * embed.square().sum(-2)[..., None]  # back to absolute power
    return [sorted((torch.topk(inst.sum(0), n).indices + 1).tolist()) for inst in share]


def can_unmix(model: BilinearModAdd) -> bool:
    """Unmixing needs an even embedding with no more cos/sin pairs than Z_p has frequencies, and no layer norm
    (which does not commute with mixing)."""
    return model.d_embed % 2 == 0 and model.d_embed // 2 <= (model.p - 1) // 2 and not model.layer_norm


def unmix(model: BilinearModAdd) -> BilinearModAdd:
    """The model with each embedding column made one pure cos or sin of its top d/2 frequencies (the function is
    unchanged up to float precision; what the embedding held outside those frequencies is carried along)."""
    if model.d_embed % 2:
        raise ConfigError(f"unmixing pairs columns into cos/sin, so d_embed must be even, got {model.d_embed}")
    if model.d_embed // 2 > (model.p - 1) // 2:
        raise ConfigError(f"unmixing needs d_embed/2 = {model.d_embed // 2} frequencies, Z_{model.p} has only "
                          f"{(model.p - 1) // 2}")
    embed = model.embed.detach().double()
    freqs = top_frequencies(embed, model.d_embed // 2)
    return mix(_double(model), unmixing_matrix(embed, freqs))


def _double(model: BilinearModAdd) -> BilinearModAdd:
    w = {k: v.double() for k, v in model.weights().items()}
    return BilinearModAdd.from_weights(w, layer_norm=model.layer_norm, loss_kind=model.loss_kind)


@torch.no_grad()
def summarize(model: BilinearModAdd, data: ModAddData, weight_decay: float = 0.0) -> pd.DataFrame:
    """One row per instance: loss and accuracy on train and test, the embedding's frequencies and mixing, the
    bilinear weights' sparsity and magnitude (times the weight decay λ: 1 means |w| ≈ 1/λ), and, for bilinear
    models without layer norm, the same after unmixing and the loss change from rounding L and R."""
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
    rows["min_freqs_per_column"] = (frequency_share(embed)[..., 1:] > SHARE_THRESHOLD).sum(-1).amin(-1).tolist()
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
    if model.activation == "bilinear" and can_unmix(model):
        unmixed = unmix(model)
        u = unmixed.weights()
        rows["unmixed_freqs_per_column"] = mixing_count(u["embed"]).tolist()
        rows["unmixed_hidden_hoyer"] = hoyer(torch.cat([u["L"].flatten(1), u["R"].flatten(1)], 1)).tolist()
        rows["unmixed_train_loss"] = unmixed.loss(train).tolist()
        for levels in ("binary", "ternary"):
            _, delta = round_weights(model, train, levels)
            rows[f"rounded_{levels}_loss_change"] = delta.tolist()
    return pd.DataFrame(rows)
