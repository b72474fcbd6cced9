"""Fourier analysis of modular-addition models (Nanda et al. 2023, "Progress measures for grokking").

Networks trained on (a + b) mod p embed residues with a few "key frequencies" k: embedding columns are mixtures of
cos(2πka/p) and sin(2πka/p). This module gives the real Fourier basis of Z_p, the share of each embedding column's
squared norm carried by each frequency, the key frequencies, and the restricted and excluded losses that test
whether those frequencies carry the computation.

Real Fourier basis of Z_p (p odd), orthonormal rows of a `[p, p]` matrix, in this order:
    row 0          constant    1 / sqrt(p)
    row 2k - 1     cos_k(x)    sqrt(2/p) cos(2πkx/p)     k = 1 .. (p-1)/2
    row 2k         sin_k(x)    sqrt(2/p) sin(2πkx/p)
Frequency 0 is the constant; frequency k is the pair (cos_k, sin_k).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from jaxtyping import Float, Int
from torch import Tensor

from ..errors import ConfigError


def fourier_basis(
    p: int, dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu"
) -> Float[Tensor, "p p"]:
    """The orthonormal real Fourier basis of Z_p as rows (order in the module docstring).

    >>> F = fourier_basis(5)
    >>> torch.allclose(F @ F.T, torch.eye(5, dtype=F.dtype))
    True
    """
    if p < 3 or p % 2 == 0:
        raise ConfigError(f"p must be odd and at least 3 for the real Fourier basis used here, got {p}")
    x = torch.arange(p, dtype=torch.float64)
    rows = [torch.full((p,), 1.0 / math.sqrt(p), dtype=torch.float64)]
    for k in range(1, (p - 1) // 2 + 1):
        angle = 2 * math.pi * k * x / p
        rows += [math.sqrt(2.0 / p) * torch.cos(angle), math.sqrt(2.0 / p) * torch.sin(angle)]
    return torch.stack(rows).to(dtype=dtype, device=device)


def frequency_of_row(p: int) -> Int[Tensor, "p"]:
    """Frequency k of each basis row (0 for the constant)."""
    return torch.tensor([0] + [k for k in range(1, (p - 1) // 2 + 1) for _ in range(2)])


def frequency_share(embed: Float[Tensor, "... p d"]) -> Float[Tensor, "... d n_freq"]:
    """Share of each embedding column's squared norm carried by each frequency k = 0 .. (p-1)/2.

    Column j of `embed` (a function of the residue) is expanded in the Fourier basis; cos_k and sin_k coefficients
    are pooled. Each column's shares sum to 1 (a zero column gets zeros).

    >>> p = 7; a = torch.arange(p, dtype=torch.float64)
    >>> share = frequency_share(torch.cos(2 * math.pi * 3 * a / p)[:, None])
    >>> [round(s, 6) for s in share[0].tolist()]
    [0.0, 0.0, 0.0, 1.0]
    """
    p = embed.shape[-2]
    F = fourier_basis(p, dtype=embed.dtype, device=embed.device)
    coef = torch.einsum("fx,...xd->...df", F, embed).square()  # [..., d, p]
    freq = frequency_of_row(p).to(embed.device)
    power = torch.zeros(*coef.shape[:-1], (p - 1) // 2 + 1, dtype=coef.dtype, device=coef.device)
    power.index_add_(-1, freq, coef)
    total = power.sum(-1, keepdim=True)
    return torch.where(total > 0, power / total.clamp_min(torch.finfo(coef.dtype).tiny), 0.0)


def key_frequencies(embed: Float[Tensor, "inst p d"], threshold: float = 0.1) -> list[list[int]]:
    """Per instance, the frequencies k >= 1 carrying more than `threshold` of some embedding column's squared norm."""
    share = frequency_share(embed)[..., 1:]  # drop the constant
    above = (share > threshold).any(dim=1)  # [inst, n_freq - 1]
    return [[int(k) + 1 for k in row.nonzero()[:, 0]] for row in above]


def frequency_projector(
    p: int, freqs: Sequence[int], dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu"
) -> Float[Tensor, "p p"]:
    """Orthogonal projector onto span{cos_k, sin_k : k in freqs} in the label space R^p (no constant)."""
    if any(not 1 <= k <= (p - 1) // 2 for k in freqs):
        raise ConfigError(f"frequencies must lie in 1..{(p - 1) // 2}, got {list(freqs)}")
    F = fourier_basis(p, dtype=dtype, device=device)
    rows = [r for k in freqs for r in (2 * k - 1, 2 * k)]
    B = F[rows]
    return B.T @ B


def _per_instance(freqs: Sequence[int] | Sequence[Sequence[int]], n_inst: int) -> list[list[int]]:
    if len(freqs) and not isinstance(freqs[0], int):
        if len(freqs) != n_inst:
            raise ConfigError(f"need one frequency list per instance ({n_inst}), got {len(freqs)}")
        return [list(f) for f in freqs]  # type: ignore[arg-type]
    return [list(freqs)] * n_inst  # type: ignore[arg-type]


def restricted_logits(
    logits: Float[Tensor, "inst n p"], freqs: Sequence[int] | Sequence[Sequence[int]], exclude: bool = False
) -> Float[Tensor, "inst n p"]:
    """Each pair's logit vector (a function of the label c) projected onto the key frequencies' cos/sin directions
    in label space, or (`exclude=True`) with those directions removed. `freqs` is one list for all instances or
    one list per instance."""
    n_inst, _, p = logits.shape
    out = []
    for k, fk in enumerate(_per_instance(freqs, n_inst)):
        P = frequency_projector(p, fk, dtype=logits.dtype, device=logits.device)
        out.append(logits[k] - logits[k] @ P if exclude else logits[k] @ P)
    return torch.stack(out)


@torch.no_grad()
def restricted_loss(model, batch, freqs: Sequence[int] | Sequence[Sequence[int]]) -> Float[Tensor, "inst"]:
    """Cross-entropy when only the key frequencies survive in the logits.

    For each pair (a, b) the model's logit vector ℓ(a, b) ∈ R^p (indexed by the label c) is replaced by P ℓ,
    where P projects onto span{cos(2πkc/p), sin(2πkc/p) : k key}. The constant direction is dropped too, which
    softmax ignores anyway. Low restricted loss: the key frequencies alone solve the task (Nanda et al.'s measure).
    `model` needs `logits(a, b) -> [inst, n, p]`; `batch` has `a`, `b`, `labels`.
    """
    logits = model.logits(batch.a, batch.b)
    return _ce(restricted_logits(logits, freqs), batch.labels)


@torch.no_grad()
def excluded_loss(model, batch, freqs: Sequence[int] | Sequence[Sequence[int]]) -> Float[Tensor, "inst"]:
    """Cross-entropy with the key frequencies' label-space directions removed from the logits: ℓ - P ℓ (P as in
    `restricted_loss`). High excluded loss on the training set after grokking: the model relies on them."""
    logits = model.logits(batch.a, batch.b)
    return _ce(restricted_logits(logits, freqs, exclude=True), batch.labels)


def _ce(logits: Tensor, labels: Tensor) -> Tensor:
    logp = torch.log_softmax(logits, dim=-1)
    return -logp.gather(-1, labels.expand(logits.shape[0], -1)[..., None])[..., 0].mean(-1)
