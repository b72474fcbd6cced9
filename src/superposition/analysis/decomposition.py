"""Feature benefit against interference (Toy Models of Superposition, "the linear loss rewritten"; seed 002's
ReLU form): the toy autoencoders' loss split, per feature, into what representing a feature earns and what it costs
the other features.

Write M[i, j] = W_i . D_j for the coefficient of input x_i in output j (D_j the decoder column of j; M = W W^T for
the tied models), b for the output bias, f for the identity (linear model) or ReLU, I_j for the importance. Our loss
is the importance-weighted squared error averaged over features (and the batch), (1/n) sum_j I_j (x_j - x'_j)^2.

**1-sparse inputs** (exactly one feature active, x_i drawn from the magnitude law): every output is then a function
of one number, and the loss splits exactly as seed 002 writes it,

    L_1 = sum_i w_i / n * [ I_i E(x_i - f(M_ii x_i + b_i))^2  +  sum_{j != i} I_j E f(M_ij x_i + b_j)^2 ]
                             ------- feature term -------        ----- interference caused by i -----

where w_i is the probability that feature i is the active one (our data draws features independently, so given
that exactly one is active it is i with probability proportional to p_i / (1 - p_i)). The seed's L_1 is n^2 times
this for equal probabilities. The expectations are closed forms: f(a x + c) is affine on an interval of x, so each
term is a sum of partial moments E[x^k; x in (u, v)] of the magnitude law (uniform, uniform on [-1, 1], constant 1
and normal are supported). `benefit` is what representing feature i saves on its own output, I_i E x_i^2 minus
the feature term.

Interference is **free** where the ReLU cuts it off: negative interference, or positive interference that a
negative bias pushes below zero. `free` is the part of the linear interference I_j E(M_ij x_i)^2 that falls where
M_ij x_i + b_j <= 0, so free / raw is the share of the model's interference that costs nothing on 1-sparse inputs.

**The linear model on the whole data distribution** (independent features, mean mu_i and variance v_i, any
sparsity) splits exactly as the paper's rewrite, with the variance in place of E x^2 and one more term for the bias:

    L = (1/n) sum_j [ I_j (1 - M_jj)^2 v_j  +  sum_{i != j} I_j M_ij^2 v_i  +  I_j (sum_i (delta_ij - M_ij) mu_i - b_j)^2 ]
                       --- feature ---        -- interference --           ------------- offset -------------

The best bias makes the offset zero; without a bias it keeps the cross terms mu_i mu_k that the paper's "~" drops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor

from ..errors import ConfigError

MAGNITUDES = ("uniform", "uniform_signed", "constant", "normal")
_SUPPORT = {"uniform": (0.0, 1.0), "uniform_signed": (-1.0, 1.0)}


def _check_magnitude(magnitude: str) -> None:
    if magnitude not in MAGNITUDES:
        raise ConfigError(f"magnitude must be one of {', '.join(MAGNITUDES)} for the decomposition, got {magnitude!r}")


def moments(magnitude: str) -> tuple[float, float]:
    """E x and E x^2 of an active feature's magnitude.

    >>> moments("uniform")
    (0.5, 0.3333333333333333)
    """
    _check_magnitude(magnitude)
    if magnitude == "constant":
        return 1.0, 1.0
    if magnitude == "normal":
        return 0.0, 1.0
    lo, hi = _SUPPORT[magnitude]
    return (lo + hi) / 2, (hi**3 - lo**3) / (3 * (hi - lo))


def partial_moments(magnitude: str, u: Tensor, v: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """E[x^k; u < x < v] for k = 0, 1, 2 under the magnitude law (u, v may be infinite; empty when v <= u).

    >>> [round(float(t), 4) for t in partial_moments("uniform", torch.tensor(0.5), torch.tensor(math.inf))]
    [0.5, 0.375, 0.2917]
    """
    _check_magnitude(magnitude)
    if magnitude == "constant":  # a point mass at 1
        inside = ((u < 1) & (v > 1)).to(u.dtype)
        return inside, inside, inside
    if magnitude == "normal":
        def pdf(t: Tensor) -> Tensor:
            return torch.exp(-0.5 * t.square()) / math.sqrt(2 * math.pi)

        def t_pdf(t: Tensor) -> Tensor:  # t phi(t), 0 at +-inf
            return torch.where(torch.isfinite(t), t.nan_to_num() * pdf(t.nan_to_num()), torch.zeros_like(t))

        v = torch.maximum(u, v)
        m0 = torch.special.ndtr(v) - torch.special.ndtr(u)
        return m0, pdf(u) - pdf(v), m0 + t_pdf(u) - t_pdf(v)
    lo, hi = _SUPPORT[magnitude]
    a, z = u.clamp(lo, hi), v.clamp(lo, hi)
    z = torch.maximum(a, z)
    width = hi - lo
    return (z - a) / width, (z.square() - a.square()) / (2 * width), (z**3 - a**3) / (3 * width)


def _positive_region(a: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """The interval (u, v) of x on which a x + c > 0 (empty as (inf, inf))."""
    inf = torch.full_like(a, math.inf)
    root = -c / torch.where(a == 0, torch.ones_like(a), a)
    u = torch.where(a > 0, root, torch.where((a < 0) | (c > 0), -inf, inf))
    v = torch.where(a < 0, root, inf)
    return u, v


def _square_on(alpha: Tensor, beta: Tensor, m: tuple[Tensor, Tensor, Tensor]) -> Tensor:
    """E[(alpha x + beta)^2; region] from the region's partial moments."""
    m0, m1, m2 = m
    return alpha.square() * m2 + 2 * alpha * beta * m1 + beta.square() * m0


def square_mean(alpha: Tensor, beta: Tensor, magnitude: str, relu: bool) -> Tensor:
    """E f(alpha x + beta)^2 over the magnitude law, f = ReLU or the identity (elementwise over the tensors).

    >>> round(float(square_mean(torch.tensor(1.0), torch.tensor(-0.5), "uniform", relu=True)), 6)  # 1/24
    0.041667
    """
    if not relu:
        mu, m2 = moments(magnitude)
        one = torch.ones_like(alpha)
        return _square_on(alpha, beta, (one, mu * one, m2 * one))
    return _square_on(alpha, beta, partial_moments(magnitude, *_positive_region(alpha, beta)))


@dataclass
class OneSparse:
    """The 1-sparse decomposition of each instance (float64). `feature`, `benefit`, `weight` are `[inst, feat]`;
    `interference`, `raw`, `free` are `[inst, i, j]` (feature i active, output j; zero on the diagonal)."""

    feature: Float[Tensor, "inst feat"]  # I_i E(x_i - f(M_ii x_i + b_i))^2: the loss left on i's own output
    benefit: Float[Tensor, "inst feat"]  # I_i E x_i^2 - feature: what representing i saves on its own output
    interference: Float[Tensor, "inst feat feat"]  # I_j E f(M_ij x_i + b_j)^2: what i costs output j
    raw: Float[Tensor, "inst feat feat"]  # I_j E(M_ij x_i)^2: the same interference without ReLU and bias
    free: Float[Tensor, "inst feat feat"]  # the part of raw where M_ij x_i + b_j <= 0 (ReLU models only)
    weight: Float[Tensor, "inst feat"]  # probability that feature i is the active one
    resting: Float[Tensor, "inst feat"]  # I_j f(b_j)^2: what output j costs when nothing reaches it (its bias)

    def caused(self) -> Float[Tensor, "inst feat"]:
        """Interference each feature causes when it is the active one: sum_{j != i} interference[i, j]."""
        return self.interference.sum(-1)

    def beyond_bias(self) -> Float[Tensor, "inst feat feat"]:
        """interference[i, j] less output j's resting cost: what the interference itself adds to the bias's cost
        (equal to the interference term where b_j <= 0 under a ReLU; negative where it lowers a positive bias's)."""
        off = 1 - torch.eye(self.resting.shape[-1], dtype=self.resting.dtype)
        return self.interference - self.resting[:, None, :] * off

    def loss(self) -> Float[Tensor, "inst"]:
        """The model's loss on 1-sparse inputs: sum_i w_i (feature_i + caused_i) / n."""
        return (self.weight * (self.feature + self.caused())).sum(-1) / self.feature.shape[-1]

    def free_share(self) -> Float[Tensor, "inst"]:
        """Share of the raw interference that is free (NaN where an instance has none)."""
        raw = self.raw.sum((-1, -2))
        return torch.where(raw > 0, self.free.sum((-1, -2)) / raw.clamp_min(1e-300), torch.full_like(raw, math.nan))


def _coefficients(W: Tensor, decoder: Tensor | None) -> Tensor:
    """M[k, i, j] = W_i . D_j: the coefficient of input i in output j (decoder `[inst, hidden, feat]`; tied: W^T)."""
    W = W.detach().double()
    D = W.transpose(1, 2) if decoder is None else decoder.detach().double()
    return torch.bmm(W, D)


def active_weights(probability: Float[Tensor, "inst feat"]) -> Float[Tensor, "inst feat"]:
    """P(feature i is the active one | exactly one is), for independent features: proportional to p_i / (1 - p_i).

    >>> active_weights(torch.tensor([[0.1, 0.1, 0.1, 0.1]]))
    tensor([[0.2500, 0.2500, 0.2500, 0.2500]], dtype=torch.float64)
    """
    p = probability.detach().double().clamp(0.0, 1 - 1e-12)
    odds = p / (1 - p)
    total = odds.sum(-1, keepdim=True)
    if bool((total <= 0).any()):
        raise ConfigError("an instance has no feature that is ever active: 1-sparse inputs do not exist")
    return odds / total


def one_sparse(
    W: Float[Tensor, "inst feat hidden"],
    b: Float[Tensor, "inst feat"] | None,
    importance: Float[Tensor, "inst feat"],
    probability: Float[Tensor, "inst feat"],
    *,
    kind: str = "relu",
    magnitude: str = "uniform",
    decoder: Float[Tensor, "inst hidden feat"] | None = None,
) -> OneSparse:
    """Feature terms and interference of a linear or ReLU-output toy model on 1-sparse inputs (exact closed forms).

    >>> W = torch.tensor([[[1.0], [-1.0]]])  # an antipodal pair in one dimension: its interference is free
    >>> d = one_sparse(W, None, torch.ones(1, 2), torch.full((1, 2), 0.1))
    >>> d.interference.sum().item(), d.free_share().item()
    (0.0, 1.0)
    """
    if kind not in ("linear", "relu"):
        raise ConfigError(f"the decomposition is for the linear and ReLU-output models, got kind {kind!r}")
    relu = kind == "relu"
    M = _coefficients(W, decoder)
    n = M.shape[-1]
    I = importance.detach().double()
    bias = torch.zeros(M.shape[:2], dtype=M.dtype) if b is None else b.detach().double()
    diag = M.diagonal(dim1=-2, dim2=-1)
    _, m2 = moments(magnitude)
    # Own output: (x - f(a x + c))^2 is ((1 - a) x - c)^2 where a x + c > 0 and x^2 elsewhere (the identity: always).
    if relu:
        region = partial_moments(magnitude, *_positive_region(diag, bias))
        own = m2 - region[2] + _square_on(1 - diag, -bias, region)
    else:
        own = square_mean(1 - diag, -bias, magnitude, relu=False)
    feature = I * own
    off = 1 - torch.eye(n, dtype=M.dtype)
    Ij, bj = I[:, None, :], bias[:, None, :].expand_as(M)  # output j along the last axis
    interference = Ij * square_mean(M, bj, magnitude, relu) * off
    raw = Ij * M.square() * m2 * off
    if relu:
        below = partial_moments(magnitude, *_positive_region(M, bj))
        free = (raw - Ij * M.square() * below[2] * off).clamp_min(0.0)
    else:
        free = torch.zeros_like(raw)
    resting = I * (bias.clamp_min(0.0) if relu else bias).square()
    return OneSparse(feature, I * m2 - feature, interference, raw, free, active_weights(probability), resting)


def positive_interference_cost(d_with: OneSparse, d_without: OneSparse) -> tuple[Tensor, Tensor]:
    """Per instance, what the pairs with positive interference cost beyond the bias alone, with the learned bias
    (`d_with`) and with the bias set to zero (`d_without`, the same weights): what the bias saves on them."""
    # At b = 0 a positive pair's interference term is its whole cost, and a negative pair costs nothing.
    positive = d_without.interference > 0
    return (d_with.beyond_bias() * positive).sum((-1, -2)), d_without.interference.sum((-1, -2))


@dataclass
class LinearSplit:
    """The linear model's exact loss on the whole data distribution, split (float64): `feature` and `offset` are
    `[inst, feat]` (output j), as is `benefit`; `interference` is `[inst, i, j]` (input i into output j)."""

    feature: Float[Tensor, "inst feat"]  # I_j (1 - M_jj)^2 v_j
    benefit: Float[Tensor, "inst feat"]  # I_j v_j - feature: what representing j saves of its variance
    interference: Float[Tensor, "inst feat feat"]  # I_j M_ij^2 v_i, i != j
    offset: Float[Tensor, "inst feat"]  # I_j (sum_i (delta_ij - M_ij) mu_i - b_j)^2: zero at the best bias

    def loss(self) -> Float[Tensor, "inst"]:
        n = self.feature.shape[-1]
        return (self.feature.sum(-1) + self.interference.sum((-1, -2)) + self.offset.sum(-1)) / n

    def interference_share(self) -> Float[Tensor, "inst"]:
        """Interference as a share of the whole loss."""
        return self.interference.sum((-1, -2)) / (self.loss() * self.feature.shape[-1]).clamp_min(1e-300)


def linear_split(
    W: Float[Tensor, "inst feat hidden"],
    b: Float[Tensor, "inst feat"] | None,
    importance: Float[Tensor, "inst feat"],
    probability: Float[Tensor, "inst feat"],
    *,
    magnitude: str = "uniform",
    decoder: Float[Tensor, "inst hidden feat"] | None = None,
) -> LinearSplit:
    """The paper's rewrite of the linear model's loss, exact for independent features at any sparsity.

    >>> W = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]])  # PCA: two features kept, one dropped
    >>> s = linear_split(W, None, torch.ones(1, 3), torch.ones(1, 3))
    >>> s.interference.abs().sum().item(), round(s.feature[0, 2].item(), 4)  # dropped: its variance, 1/12
    (0.0, 0.0833)
    """
    M = _coefficients(W, decoder)
    n = M.shape[-1]
    I = importance.detach().double()
    p = probability.detach().double()
    mu1, m2 = moments(magnitude)
    mean, var = p * mu1, p * m2 - (p * mu1) ** 2
    bias = torch.zeros(M.shape[:2], dtype=M.dtype) if b is None else b.detach().double()
    A = torch.eye(n, dtype=M.dtype) - M  # error of output j: sum_i A_ij x_i - b_j
    feature = I * A.diagonal(dim1=-2, dim2=-1).square() * var
    interference = I[:, None, :] * M.square() * var[:, :, None] * (1 - torch.eye(n, dtype=M.dtype))
    offset = I * (torch.einsum("ki,kij->kj", mean, A) - bias).square()
    return LinearSplit(feature, I * var - feature, interference, offset)
