"""Symmetric mixtures: superposition by mixing in a bilinear modular-addition model (the "Expanding the Scope of
Superposition" note, on the bilinear embedded MLP).

A trained bilinear model was seen to superpose its frequencies across all embedding columns even with room to keep
them apart, and its bilinear weights sat near {-1, +1}. Multiplying the embedding by an involutory matrix M (M² = I)
and the bilinear weights' input columns by blockdiag(M, M) inserts a net identity, so the function is unchanged;
with a Hadamard M this turns a sparse solution dense (mixing) or a dense one sparse (unmixing).

- `sparse_construction`: the exact, sparse angle-addition solution for chosen frequencies and scale α.
- `hadamard`: Sylvester Hadamard matrices normalised to H / sqrt(n), symmetric and orthogonal, hence involutory.
- `mix`: apply a mixing matrix to embedding columns and bilinear (or ReLU) input columns.
- `involutory_unmixer`: the note's way to unmix a trained 4-column embedding, a constructed involutory M (M² = I)
  that swaps the columns with pure-frequency combinations of them (`involution_between`).
- `unmixing_matrix`: the general tool, the inverse of the fitted change of basis (any even d; not an involution),
  which turns each column into exactly one cos or sin.
- `round_weights`: round L and R to {-c, +c} (c their mean size, or a given value such as ±1/λ) or {-c, 0, +c}
  and report the change in loss.
"""

from __future__ import annotations

import math
from typing import Literal, Sequence

import torch
from jaxtyping import Float
from torch import Tensor

from ..errors import ConfigError
from ..models.bilinear import BilinearModAdd


def sparse_construction(
    p: int,
    freqs: Sequence[int],
    alpha: float = 1.0,
    n_instances: int = 1,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device = "cpu",
) -> BilinearModAdd:
    """The sparse bilinear solution of (a + b) mod p with K = len(freqs) frequencies: d = 2K, n_hidden = 4K.

    Embedding columns 2j, 2j+1 are cos(2πk_j a/p), sin(2πk_j a/p). Frequency j owns four hidden units whose L and
    R rows are one-hot (picking an a-column and a b-column of x = [E[a], E[b]]):
        4j: cos_a cos_b,  4j+1: sin_a sin_b,  4j+2: sin_a cos_b,  4j+3: cos_a sin_b
    and U reads them with cos/sin(2πk_j c/p), so by angle addition
        logit_c = α Σ_j [cos(k(a+b)) cos(kc) + sin(k(a+b)) sin(kc)] = α Σ_j cos(2πk_j (a + b − c)/p).
    Each term peaks only at c = a + b (p prime, k ≠ 0 mod p), so accuracy is 1 for any α > 0.

    >>> model = sparse_construction(7, [1, 3])
    >>> float(model.accuracy(__import__("superposition.data.modadd", fromlist=["x"]).all_pairs(7))[0])
    1.0
    """
    K = len(freqs)
    if K == 0:
        raise ConfigError("freqs must name at least one frequency")
    if any(not 1 <= k < p for k in freqs):
        raise ConfigError(f"frequencies must lie in 1..{p - 1}, got {list(freqs)}")
    d, n_hidden = 2 * K, 4 * K
    x = torch.arange(p, dtype=torch.float64)
    embed = torch.zeros(p, d, dtype=torch.float64)
    L = torch.zeros(n_hidden, 2 * d, dtype=torch.float64)
    R = torch.zeros_like(L)
    U = torch.zeros(p, n_hidden, dtype=torch.float64)
    for j, k in enumerate(freqs):
        angle = 2 * math.pi * k * x / p
        cos, sin = torch.cos(angle), torch.sin(angle)
        embed[:, 2 * j], embed[:, 2 * j + 1] = cos, sin
        ca, sa, cb, sb = 2 * j, 2 * j + 1, d + 2 * j, d + 2 * j + 1  # columns of x = [E[a], E[b]]
        for unit, (left, right) in enumerate([(ca, cb), (sa, sb), (sa, cb), (ca, sb)]):
            L[4 * j + unit, left] = 1.0
            R[4 * j + unit, right] = 1.0
        # cos(k(a+b)) = cacb - sasb;  sin(k(a+b)) = sacb + casb
        U[:, 4 * j], U[:, 4 * j + 1] = alpha * cos, -alpha * cos
        U[:, 4 * j + 2], U[:, 4 * j + 3] = alpha * sin, alpha * sin

    def inst(t: Tensor) -> Tensor:
        return t.to(dtype=dtype, device=device).expand(n_instances, *t.shape).clone()

    return BilinearModAdd.from_weights(embed=inst(embed), L=inst(L), R=inst(R), U=inst(U))


def hadamard(n: int, dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu") -> Float[Tensor, "n n"]:
    """Sylvester Hadamard matrix of size n (a power of 2) divided by sqrt(n): symmetric and orthogonal, so M² = I.

    >>> M = hadamard(4)
    >>> torch.allclose(M @ M, torch.eye(4, dtype=M.dtype)), sorted(set((M * 2).flatten().tolist()))
    (True, [-1.0, 1.0])
    """
    if n < 1 or n & (n - 1):
        raise ConfigError(f"Sylvester Hadamard sizes are powers of 2, got {n}")
    H = torch.ones(1, 1, dtype=torch.float64)
    while H.shape[0] < n:
        H = torch.cat([torch.cat([H, H], 1), torch.cat([H, -H], 1)], 0)
    return (H / math.sqrt(n)).to(dtype=dtype, device=device)


def embedding_mixer(d: int, blocks: Sequence[Tensor]) -> Float[Tensor, "d d"]:
    """blockdiag of the given mixing blocks, padded with identity up to size d (mix only the leading columns)."""
    M = torch.block_diag(*blocks)
    if M.shape[0] > d:
        raise ConfigError(f"mixing blocks cover {M.shape[0]} columns, the embedding has {d}")
    return torch.block_diag(M, torch.eye(d - M.shape[0], dtype=M.dtype, device=M.device))


def _pair_blocks(M: Tensor) -> Tensor:
    """blockdiag(M, M) for M `[..., d, d]` (batched over the leading dimensions)."""
    d = M.shape[-1]
    B = M.new_zeros(*M.shape[:-2], 2 * d, 2 * d)
    B[..., :d, :d] = M
    B[..., d:, d:] = M
    return B


@torch.no_grad()
def mix(model: BilinearModAdd, M: Float[Tensor, "*inst d d"]) -> BilinearModAdd:
    """A new model computing the same function with mixed embedding columns: E' = E M, and the input columns of
    L, R (or W) multiplied by blockdiag(M, M)^{-T}, so that L' x' = L x for x' = x blockdiag(M, M).

    M is `[d, d]` (all instances) or `[n_instances, d, d]`, and must be invertible. For an orthogonal, symmetric M
    (the normalised Hadamard) blockdiag(M, M)^{-T} = blockdiag(M, M): the note's "insert an involutory matrix".
    Refused for layer-normed models (layer norm does not commute with mixing).
    """
    if model.layer_norm:
        raise ConfigError("mix needs a model without layer norm: normalising x does not commute with mixing")
    d, n_inst = model.d_embed, model.n_instances
    if tuple(M.shape) not in ((d, d), (n_inst, d, d)):
        raise ConfigError(f"mixing matrix must be [d_embed, d_embed] = [{d}, {d}] or [{n_inst}, {d}, {d}], "
                          f"got {tuple(M.shape)}")
    w = dict(model.weights())
    M = M.to(dtype=w["embed"].dtype, device=w["embed"].device)
    B_inv_T = torch.linalg.inv(_pair_blocks(M)).transpose(-1, -2)
    w["embed"] = w["embed"] @ M
    for name in ("L", "R", "W"):
        if name in w:
            w[name] = w[name] @ B_inv_T
    return BilinearModAdd.from_weights(w, layer_norm=False, loss_kind=model.loss_kind)


@torch.no_grad()
def unmixing_matrix(
    embed: Float[Tensor, "inst p d"], freqs: Sequence[Sequence[int]]
) -> Float[Tensor, "inst d d"]:
    """Per instance, the M that turns the embedding columns into pure Fourier components: with E ≈ Fᵀ C (F the
    key frequencies' orthonormal cos/sin rows, C `[2K, d]` the coefficients), M = C⁻¹ scaled so that column j
    of E M is sqrt(p/2)·F_j, i.e. exactly cos(2πka/p) or sin(2πka/p) plus whatever lay outside the key
    frequencies. Needs 2K = d (as many key directions as embedding columns); use with `mix`.
    """
    n_inst, p, d = embed.shape
    if len(freqs) != n_inst:
        raise ConfigError(f"need one frequency list per instance ({n_inst}), got {len(freqs)}")
    out = []
    for i, fk in enumerate(freqs):
        if 2 * len(fk) != d:
            raise ConfigError(f"instance {i}: {len(fk)} key frequencies give {2 * len(fk)} directions, need d = {d}")
        out.append(torch.linalg.inv(_key_coefficients(embed[i], fk)) * math.sqrt(p / 2))
    return torch.stack(out)


def _key_coefficients(embed: Float[Tensor, "p d"], freqs: Sequence[int]) -> Float[Tensor, "k d"]:
    """C with E ≈ Fᵀ C: each embedding column's coordinates on the key frequencies' orthonormal cos/sin rows F.
    Refused (ConfigError) when C is square but singular: no change of basis can then unmix the embedding."""
    from .fourier import fourier_basis  # analysis may use analysis; kept local to keep imports light

    F = fourier_basis(embed.shape[0], dtype=embed.dtype, device=embed.device)
    C = F[[r for k in freqs for r in (2 * k - 1, 2 * k)]] @ embed
    if C.shape[0] == C.shape[1] and (rank := int(torch.linalg.matrix_rank(C))) < C.shape[0]:
        raise ConfigError(f"the embedding is degenerate: its key frequencies {list(freqs)} span {rank} of "
                          f"{C.shape[0]} directions, so it cannot be unmixed")
    return C


def involution_between(A: Float[Tensor, "n n"], B: Float[Tensor, "n n"]) -> Float[Tensor, "n n"]:
    """For two involutions A and B (A² = B² = I) whose ±1 eigenspaces have equal dimensions, the involution
    M = (B A)^(1/2) A: M² = I and M A M = B, so M carries A's +1 (−1) eigenspace onto B's +1 (−1) eigenspace and
    back. (With K = B A, A K A = K⁻¹, and the principal square root keeps it: A K^(1/2) A = K^(−1/2).) For two
    reflections through orthogonal planes it is the reflection through their bisector. Needs B A without eigenvalues
    on the negative real axis; raises ConfigError otherwise.

    >>> A = torch.diag(torch.tensor([1.0, 1.0, -1.0, -1.0], dtype=torch.float64))
    >>> H = hadamard(4); M = involution_between(A, H @ A @ H)
    >>> torch.allclose(M @ M, torch.eye(4, dtype=M.dtype)), torch.allclose(M @ A @ M, H @ A @ H)
    (True, True)
    """
    vals, vecs = torch.linalg.eig(B @ A)
    root = vecs @ torch.diag_embed(vals.sqrt()) @ torch.linalg.inv(vecs)  # principal square root of B A
    M = root.real @ A
    eye = torch.eye(A.shape[-1], dtype=A.dtype, device=A.device)
    if not (torch.allclose(M @ M, eye, atol=1e-8) and torch.allclose(M @ A @ M, B, atol=1e-8)):
        raise ConfigError("no real involution between these two: B A has an eigenvalue on the negative real axis")
    return M


@torch.no_grad()
def involutory_unmixer(
    embed: Float[Tensor, "inst p d"], freqs: Sequence[Sequence[int]]
) -> Float[Tensor, "inst d d"]:
    """Per instance, an involutory M (M² = I) that unmixes a 4-column embedding carrying two frequencies, built the
    way the note describes ("multiplying by a constructed involutory matrix"):

    With E ≈ Fᵀ C (C `[4, 4]`: the columns' coordinates on cos/sin of the two key frequencies), let R_S be the
    reflection that keeps two chosen columns and negates the other two, and R_W = C⁻¹ diag(1, 1, −1, −1) C the
    reflection whose +1 eigenspace holds the column combinations that carry only the first frequency. The
    involution M = (R_W R_S)^(1/2) R_S (`involution_between`) maps the chosen columns into the first frequency's
    plane and the other two into the second's: each column of E M is one pure frequency, up to what E holds outside
    the two. Of the six ways to pair the columns with the frequencies, the purest is kept. Unlike
    `unmixing_matrix` (the general inverse, not an involution), each column keeps the phase the involution gives it.
    Use with `mix`.
    """
    from .fourier import frequency_share  # analysis may use analysis; kept local to keep imports light

    n_inst, p, d = embed.shape
    if d != 4:
        raise ConfigError(f"the involutory unmixer pairs 4 embedding columns with 2 frequencies, got d_embed = {d}")
    if len(freqs) != n_inst or any(len(fk) != 2 for fk in freqs):
        raise ConfigError(f"need two key frequencies per instance ({n_inst}), got {[list(f) for f in freqs]}")
    out = []
    for i, fk in enumerate(freqs):
        C = _key_coefficients(embed[i], fk)
        first = torch.linalg.solve(C, torch.diag(C.new_tensor([1.0, 1.0, -1.0, -1.0])) @ C)  # R_W
        best, best_purity = None, -1.0
        for pair in ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)):
            R_S = torch.diag(C.new_tensor([1.0 if j in pair else -1.0 for j in range(4)]))
            for R_W in (first, -first):  # the pair goes to the first frequency's plane, or to the second's
                try:
                    M = involution_between(R_S, R_W)
                except ConfigError:
                    continue
                purity = float(frequency_share(embed[i] @ M).amax(-1).amin())
                if purity > best_purity:
                    best, best_purity = M, purity
        if best is None:
            raise ConfigError(f"instance {i}: no real involution unmixes this embedding")
        out.append(best)
    return torch.stack(out)


@torch.no_grad()
def round_weights(
    model: BilinearModAdd,
    batch,
    levels: Literal["binary", "ternary"] = "binary",
    zero_below: float = 0.5,
    value: float | None = None,
) -> tuple[BilinearModAdd, Float[Tensor, "inst"]]:
    """Round the bilinear weights L and R; return the rounded model and its change in loss (rounded − original).

    binary:  w -> c · sign(w), c = mean |w| of the matrix (per instance, L and R separately).
    ternary: entries with |w| < zero_below · max |w| become 0; the rest become c · sign(w), c = their mean |w|.
    `value` fixes c instead (the source rounds to ±1; under AdamW the natural value is 1/λ).
    """
    if model.activation != "bilinear":
        raise ConfigError("round_weights needs a bilinear model (L and R)")
    if levels not in ("binary", "ternary"):
        raise ConfigError(f"levels must be 'binary' or 'ternary', got {levels!r}")
    w = dict(model.weights())
    for name in ("L", "R"):
        t = w[name]
        flat = t.abs().flatten(1)  # [inst, n_hidden * 2d]
        if levels == "binary":
            keep = torch.ones_like(flat, dtype=torch.bool)
        else:
            keep = flat >= zero_below * flat.amax(dim=1, keepdim=True)
        c = (flat * keep).sum(1) / keep.sum(1).clamp_min(1) if value is None else torch.full_like(flat[:, 0], value)
        w[name] = torch.sign(t) * keep.view_as(t) * c[:, None, None]
    rounded = BilinearModAdd.from_weights(w, layer_norm=model.layer_norm, loss_kind=model.loss_kind)
    return rounded, rounded.loss(batch) - model.loss(batch)


WEIGHT_NAMES = ("embed", "L", "R", "W", "U")


@torch.no_grad()
def rescale(model: BilinearModAdd, budget: Literal["max", "l2"], targets: float | dict[str, float]) -> BilinearModAdd:
    """The model with each weight matrix (embed, L, R or W, U; biases untouched) scaled, per instance, so that its
    largest |entry| (`budget="max"`, the bound AdamW's decay imposes: |θ| ≲ 1/λ) or its Frobenius norm (`"l2"`,
    the quantity L2 weight decay penalises) equals the target: one number for all matrices, or one per name."""
    w = dict(model.weights())
    for name, size in weight_sizes(model, budget).items():
        if isinstance(targets, (int, float)):
            target = targets
        elif name in targets:
            target = targets[name]
        else:
            raise ConfigError(f"no {budget} target for {name!r}: targets name {sorted(targets)}")
        w[name] = w[name] * (target / size)[:, None, None]
    return BilinearModAdd.from_weights(w, layer_norm=model.layer_norm, loss_kind=model.loss_kind)


def weight_sizes(model: BilinearModAdd, budget: Literal["max", "l2"]) -> dict[str, Float[Tensor, "inst"]]:
    """Largest |entry| or Frobenius norm of each weight matrix (embed, L, R or W, U), per instance."""
    if budget not in ("max", "l2"):
        raise ConfigError(f"budget must be 'max' or 'l2', got {budget!r}")
    out = {}
    for name, t in model.weights().items():
        if name in WEIGHT_NAMES:
            out[name] = t.abs().flatten(1).amax(1) if budget == "max" else t.flatten(1).norm(dim=1)
    return out


@torch.no_grad()
def logit_margin(model: BilinearModAdd, batch) -> Float[Tensor, "inst"]:
    """Mean over the batch's pairs of (correct logit − largest other logit); positive means correct."""
    logits = model.logits(batch.a, batch.b)
    idx = batch.labels.expand(logits.shape[0], -1)[..., None]
    correct = logits.gather(-1, idx)[..., 0]
    others = logits.scatter(-1, idx, float("-inf")).amax(-1)
    return (correct - others).mean(-1)


def random_orthogonal(d: int, generator: torch.Generator, dtype: torch.dtype = torch.float64) -> Float[Tensor, "d d"]:
    """A Haar-random orthogonal matrix (QR of a Gaussian matrix with the signs of R's diagonal fixed)."""
    Q, R = torch.linalg.qr(torch.randn(d, d, generator=generator, dtype=torch.float64))
    return (Q * torch.sign(torch.diagonal(R))).to(dtype)
