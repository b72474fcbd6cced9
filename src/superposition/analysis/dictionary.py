"""How good is a learned dictionary? The standard measures for sparse autoencoders.

- L0: nonzero latents per sample (sparsity of the code);
- explained variance (fraction of variance unexplained, subtracted from 1) and shrinkage ||x_hat|| / ||x||
  (reconstruction; L1 penalties pull the reconstruction's norm below the input's);
- dead latents: latents that never fire over a sample;
- recovery of known features: the mean max cosine similarity (MMCS) of Sharkey, Braun & Millidge (2022), and a
  one-to-one version by Hungarian matching (`matched_score`, signed cosines), which a dictionary of duplicated
  latents cannot inflate;
- SAELens' synthetic-data evaluation (`sae_lens.synthetic.eval_sae_on_synthetic_data`), under its names: `mcc`, the
  mean correlation coefficient (Hungarian matching on |cos|, after O'Neill et al.), and `uniqueness`, the share of
  latents whose best-matching true feature differs from every other latent's.

Shapes: inputs and reconstructions `[n_instances, batch, d]`, latents `[n_instances, batch, d_sae]`, dictionaries
`[n_instances, d_sae, d]` (one direction per row); a leading 1 broadcasts to every instance. Every measure returns
one value per instance.

>>> true = torch.eye(3)[None]                      # three features along the axes of R^3
>>> mmcs(true[:, [2, 0, 1]], true), matched_score(true[:, [2, 0, 1]], true)
(tensor([1.]), tensor([1.]))
>>> matched_score(-true, true), mcc(-true, true)   # antipodal latents: worse than orthogonal ones, or perfect
(tensor([0.]), tensor([1.]))
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from jaxtyping import Bool, Float
from scipy.optimize import linear_sum_assignment
from torch import Tensor

EPS = 1e-12


def l0(f: Float[Tensor, "inst batch d_sae"]) -> Float[Tensor, "inst"]:
    """Mean number of nonzero latents per sample.

    >>> l0(torch.tensor([[[0., 2., 1.], [0., 0., 3.]]]))
    tensor([1.5000])
    """
    return (f != 0).sum(dim=-1).float().mean(dim=-1)


def explained_variance(x: Float[Tensor, "inst batch d"], x_hat: Float[Tensor, "inst batch d"]) -> Float[Tensor, "inst"]:
    """1 - sum ||x - x_hat||^2 / sum ||x - mean(x)||^2 (sums over the batch, mean over the batch): 1 for a perfect
    reconstruction, 0 for predicting the mean input, negative for worse.

    >>> x = torch.tensor([[[1., 0.], [3., 2.]]])
    >>> explained_variance(x, x), explained_variance(x, x.mean(dim=1, keepdim=True).expand_as(x))
    (tensor([1.]), tensor([0.]))
    """
    x, x_hat = torch.broadcast_tensors(x, x_hat)
    residual = (x - x_hat).square().sum(dim=(1, 2))
    total = (x - x.mean(dim=1, keepdim=True)).square().sum(dim=(1, 2))
    return 1 - residual / total


def dead_latents(f: Float[Tensor, "inst batch d_sae"]) -> Bool[Tensor, "inst d_sae"]:
    """Latents that are zero on every sample of `f`.

    >>> dead_latents(torch.tensor([[[0., 2., 0.], [0., 1., 0.]]]))
    tensor([[ True, False,  True]])
    """
    return (f == 0).all(dim=1)


def dead_fraction(f: Float[Tensor, "inst batch d_sae"]) -> Float[Tensor, "inst"]:
    """The fraction of latents that are zero on every sample of `f`.

    >>> dead_fraction(torch.tensor([[[0., 2., 0., 1.]]]))
    tensor([0.5000])
    """
    return dead_latents(f).float().mean(dim=-1)


def shrinkage(x: Float[Tensor, "inst batch d"], x_hat: Float[Tensor, "inst batch d"]) -> Float[Tensor, "inst"]:
    """Σ ||x_hat|| / Σ ||x|| over the samples with x != 0: the reconstruction's length relative to the input's, each
    sample weighted by its norm (a plain mean of per-sample ratios is dominated by near-zero inputs, which sparse
    data has many of, where the decoder bias alone makes the ratio huge). NaN when every x is 0. Below 1: the
    reconstruction is shrunk, as an L1 penalty does; 1 for a perfect reconstruction.

    >>> shrinkage(torch.tensor([[[3., 4.], [0., 0.], [1., 0.]]]), torch.tensor([[[1.5, 2.], [0., 1.], [1., 0.]]]))
    tensor([0.5833])
    """
    x, x_hat = torch.broadcast_tensors(x, x_hat)
    norm = x.norm(dim=-1)
    ok = norm > EPS
    return torch.where(ok, x_hat.norm(dim=-1), 0.0).sum(dim=-1) / torch.where(ok, norm, 0.0).sum(dim=-1)


def _unit(W: Tensor) -> Tensor:
    norm = W.norm(dim=-1, keepdim=True)
    return torch.where(norm > EPS, W / norm.clamp_min(EPS), 0.0)


def dictionary_cosines(
    learned: Float[Tensor, "inst d_sae d"], true: Float[Tensor, "inst n_true d"]
) -> Float[Tensor, "inst n_true d_sae"]:
    """Cosine similarity of every true feature with every learned direction (0 where either is the zero vector)."""
    return _unit(true) @ _unit(learned).transpose(-1, -2)


def mmcs(learned: Float[Tensor, "inst d_sae d"], true: Float[Tensor, "inst n_true d"]) -> Float[Tensor, "inst"]:
    """Mean max cosine similarity: the mean over true features of the best cosine any learned direction reaches.
    Several true features may pick the same learned direction (see `matched_score` for one-to-one).

    >>> true = torch.tensor([[[1., 0.], [0., 1.]]])
    >>> mmcs(torch.tensor([[[1., 1.]]]), true)          # one diagonal latent: cos 0.707 with each feature
    tensor([0.7071])
    """
    return dictionary_cosines(learned, true).amax(dim=-1).mean(dim=-1)


def matching(learned: Float[Tensor, "inst d_sae d"], true: Float[Tensor, "inst n_true d"]) -> Tensor:
    """The one-to-one assignment of learned directions to true features that maximises the total cosine
    (Hungarian algorithm), as `[inst, n_true]` latent indices; -1 for a true feature left unmatched (only when
    d_sae < n_true).

    >>> matching(torch.tensor([[[0., 1.], [1., 0.], [1., 1.]]]), torch.tensor([[[1., 0.], [0., 1.]]]))
    tensor([[1, 0]])
    """
    return _assign(dictionary_cosines(learned, true))


def _assign(score: Float[Tensor, "inst n_true d_sae"]) -> Tensor:
    """Per instance, the one-to-one assignment of latents to true features that maximises the summed `score`
    (Hungarian algorithm, scipy), as `[inst, n_true]` latent indices, -1 where a feature is left unmatched."""
    values = score.detach().cpu().double().numpy()
    out = np.full(values.shape[:2], -1, dtype=np.int64)
    for i, c in enumerate(values):
        rows, cols = linear_sum_assignment(c, maximize=True)
        out[i, rows] = cols
    return torch.from_numpy(out).to(score.device)


def _matched(score: Float[Tensor, "inst n_true d_sae"]) -> tuple[Tensor, Tensor]:
    """The score of each true feature's assigned latent (0 where unmatched), and which features were matched."""
    idx = _assign(score)
    picked = score.gather(-1, idx.clamp_min(0)[..., None])[..., 0]
    return torch.where(idx >= 0, picked, 0.0), idx >= 0


def matched_score(
    learned: Float[Tensor, "inst d_sae d"], true: Float[Tensor, "inst n_true d"]
) -> Float[Tensor, "inst"]:
    """Mean over true features of the cosine with the learned direction assigned to them one-to-one (`matching`);
    a true feature left unmatched (d_sae < n_true) counts 0. At most `mmcs`; equal when the best matches are
    distinct.

    >>> true = torch.eye(3)[None]
    >>> learned = torch.tensor([[[1., 0., 0.], [1., 0., 0.], [0., 1., 1.]]])  # e0 twice, one latent for e1 + e2
    >>> mmcs(learned, true), matched_score(learned, true)                    # (1 + .71 + .71) / 3, (1 + .71 + 0) / 3
    (tensor([0.8047]), tensor([0.5690]))
    >>> matched_score(torch.tensor([[[1., 0.1, 0.]]]), true)   # one latent for three features: two count 0
    tensor([0.3317])
    """
    picked, _ = _matched(dictionary_cosines(learned, true))
    return picked.mean(dim=-1)


def mcc(learned: Float[Tensor, "inst d_sae d"], true: Float[Tensor, "inst n_true d"]) -> Float[Tensor, "inst"]:
    """SAELens' mean correlation coefficient, MCC (`sae_lens.synthetic.mean_correlation_coefficient`, reported as
    `mcc` by `eval_sae_on_synthetic_data`; after O'Neill et al.): latents and true features paired one-to-one by the
    Hungarian algorithm on the absolute cosines, the matched |cos| averaged over the min(d_sae, n_true) pairs.

    It differs from `matched_score` twice: the sign is dropped (a latent pointing against a feature counts as
    recovering it), and with fewer latents than features only the matched pairs are averaged (`matched_score`
    counts each unmatched feature 0).

    >>> true, learned = torch.eye(3)[None], torch.tensor([[[-1., 0., 0.], [0., 0.8, 0.6]]])
    >>> mcc(learned, true), matched_score(learned, true)     # (1 + .8) / 2 pairs; (.8 + 0 + 0) / 3 features
    (tensor([0.9000]), tensor([0.2667]))
    """
    picked, matched = _matched(dictionary_cosines(learned, true).abs())
    return picked.sum(dim=-1) / matched.sum(dim=-1)


def uniqueness(learned: Float[Tensor, "inst d_sae d"], true: Float[Tensor, "inst n_true d"]) -> Float[Tensor, "inst"]:
    """SAELens' uniqueness score (`sae_lens.synthetic.feature_uniqueness`, reported as `uniqueness` by
    `eval_sae_on_synthetic_data`): each latent picks the true feature of largest |cos| (the first on ties), and the
    number of distinct features picked is divided by d_sae. 1 when no two latents pick the same feature; never above
    n_true / d_sae, so a dictionary larger than the truth cannot reach 1.

    >>> uniqueness(torch.tensor([[[1., 0., 0.], [0.9, 0.1, 0.], [0., -0.8, 0.6]]]), torch.eye(3)[None])  # e0, e0, e1
    tensor([0.6667])
    """
    cos = dictionary_cosines(learned, true).abs()
    best = cos.argmax(dim=-2)  # [inst, d_sae]: the feature each latent picks
    picked = torch.zeros(cos.shape[:2], device=cos.device).scatter_(-1, best, 1.0)
    return picked.sum(dim=-1) / cos.shape[-1]


@torch.no_grad()
def evaluate(
    sae: Any,
    data: Any,
    n_samples: int = 8192,
    true_features: Float[Tensor, "inst n_true d"] | None = None,
    *,
    seed: int = 0,
    batch_size: int = 4096,
) -> pd.DataFrame:
    """A table with one row per instance of an SAE (anything with `encode`, `decode`, `decoder`) over `n_samples`
    inputs from `data` (drawn from a generator seeded with `seed`): `l0`, `explained_variance`, `mse` (mean over
    samples of ||x - x_hat||^2), `shrinkage`, `dead_fraction`, and, against `true_features` (default: the data's
    `true_features`, if it has them), `mmcs`, `matched_score` (signed) and SAELens' `mcc` (|cos|) and
    `uniqueness`.
    """
    generator = torch.Generator(device=sae.decoder.device).manual_seed(seed)
    xs, fs, x_hats = [], [], []
    for start in range(0, n_samples, batch_size):
        x = data.sample(min(batch_size, n_samples - start), generator)
        f = sae.encode(x)
        xs.append(x.expand(f.shape[0], -1, -1))
        fs.append(f)
        x_hats.append(sae.decode(f))
    x, f, x_hat = torch.cat(xs, dim=1), torch.cat(fs, dim=1), torch.cat(x_hats, dim=1)
    table = {
        "instance": list(range(f.shape[0])),
        "l0": l0(f),
        "explained_variance": explained_variance(x, x_hat),
        "mse": (x - x_hat).square().sum(dim=-1).mean(dim=-1),
        "shrinkage": shrinkage(x, x_hat),
        "dead_fraction": dead_fraction(f),
    }
    true = getattr(data, "true_features", None) if true_features is None else true_features
    if true is not None:
        table["mmcs"] = mmcs(sae.decoder, true)
        table["matched_score"] = matched_score(sae.decoder, true)
        table["mcc"] = mcc(sae.decoder, true)
        table["uniqueness"] = uniqueness(sae.decoder, true)
    return pd.DataFrame({k: v if isinstance(v, list) else v.cpu().tolist() for k, v in table.items()})  # type: ignore[attr-defined]
