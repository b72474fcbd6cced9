"""Superposition and adversarial vulnerability (Toy Models of Superposition, "Relationship to Adversarial Robustness").

In the tied ReLU output model, feature j's output for input x is out_j(x) = ReLU(G_j . x + b_j), where G = W W^T
(the paper's W^T W; `metrics.wtw`) and its row G_j holds feature j's end-to-end weights. Without superposition
G_j = (0, .., ||W_j||^2, .., 0); with it, G_j = (.., eps, ||W_j||^2, -eps, ..), and the eps entries are what an
adversary uses. Inside the ReLU the output is linear in x, so for an L2 perturbation delta (unconstrained: x + delta
may leave the data's non-negative orthant, as in the paper's attacks) everything below is exact:

- `gain`: G_j . delta changes by at most ||G_j|| ||delta||, reached along +-G_j / ||G_j||, the paper's "optimal L2
  attack for feature j". Since ||G_j||^2 = sum_k (W_j . W_k)^2 = ||W_j||^4 / D_j (D_j the feature dimensionality),
  ||G_j|| = ||W_j||^2 / sqrt(D_j): 1 for a unit feature with a dimension of its own, more the more it shares.
- `silencing_distance`: from feature j's one-hot input a e_j, the smallest ||delta|| that sets out_j to 0 is the
  distance to the half-space {G_j . x + b_j <= 0}: max(a G_jj + b_j, 0) / ||G_j||, which for a represented feature
  is sqrt(D_j) (a + b_j / ||W_j||^2). An orthogonal unit feature with b_j = 0 needs ||delta|| = a, the input's own
  norm (delta = -a e_j, erasing the input); a feature in a pentagon (D_j = 2/5) needs 0.63 a, less with its bias.
- `largest_change`: from input x, max over ||delta|| <= eps of |out_j(x + delta) - out_j(x)| is
  ReLU(z_j + eps ||G_j||) - ReLU(z_j), z_j = G_j . x + b_j (raising the pre-activation always moves the output at
  least as far as lowering it, since the ReLU is monotone and flat below zero).

The paper's instance-level measure attacks the loss: every input is shifted by one perturbation of norm
eps = 0.1 x the average input norm, chosen among the 2n attacks +-eps G_i / ||G_i|| as the one that raises the
importance-weighted loss most, and vulnerability is (L' - L) / (L'_0 - L_0), relative to a model without
superposition attacked the same way (`paper_attacks`, `worst_attack`, `vulnerability`). For that model (unit features
with dimensions of their own, bias 0) the increase is exactly max_i I_i eps^2 / n (`dedicated_increase`), whatever
the data: a fixed yardstick, where a trained dense model attacked on sparse data would add the first-order effect of
its own reconstruction errors there. That choice is a lower bound
on the best universal attack; `attack_bound` is an exact upper bound on any attack of that norm (each output moves by
at most eps ||G_j||), and `pgd_attack` climbs from the best analytic attack by projected gradient ascent.

>>> W = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [-1.0, 0.0]]])  # orthogonal pair; antipodal pair
>>> silencing_distance(W, torch.zeros(2, 2))
tensor([[1.0000, 1.0000],
        [0.7071, 0.7071]])
"""

from __future__ import annotations

import math

import torch
from jaxtyping import Float
from torch import Tensor

from .metrics import EPS, dimensions_per_feature, wtw

# The paper's attack budget: "a max L2 attack norm of 0.1 of the average input norm".
ATTACK_SHARE = 0.1


def gain(W: Float[Tensor, "inst feat hidden"]) -> Float[Tensor, "inst feat"]:
    """||G_j||: the largest change of feature j's pre-activation per unit of L2 perturbation (= ||W_j||^2 / sqrt(D_j))."""
    return wtw(W).norm(dim=-1)


def silencing_distance(
    W: Float[Tensor, "inst feat hidden"], b: Float[Tensor, "inst feat"], magnitude: float = 1.0
) -> Float[Tensor, "inst feat"]:
    """The smallest L2 perturbation of the one-hot input `magnitude` e_j that sets feature j's output to zero:
    max(magnitude G_jj + b_j, 0) / ||G_j||. A feature without weight (G_j = 0) outputs ReLU(b_j) whatever the input:
    0 when that is already zero, infinite when no perturbation can silence it."""
    G = wtw(W)
    g = G.norm(dim=-1)
    z = magnitude * G.diagonal(dim1=-2, dim2=-1) + b
    return torch.where(g > EPS, z.clamp_min(0.0) / g.clamp_min(EPS),
                       torch.where(z > 0, torch.full_like(z, math.inf), torch.zeros_like(z)))


def largest_change(
    W: Float[Tensor, "inst feat hidden"], b: Float[Tensor, "inst feat"], x: Float[Tensor, "inst batch feat"],
    eps: float | Float[Tensor, "inst"],
) -> Float[Tensor, "inst batch feat"]:
    """max over ||delta|| <= eps of |out_j(x + delta) - out_j(x)|, per input and feature (each feature attacked on
    its own): ReLU(z_j + eps ||G_j||) - ReLU(z_j) with z_j = G_j . x + b_j."""
    z = x @ wtw(W) + b[:, None, :]
    step = torch.as_tensor(eps, dtype=W.dtype).reshape(-1, 1, 1) * gain(W)[:, None, :]
    return torch.relu(z + step) - torch.relu(z)


def features_per_dimension(W: Float[Tensor, "inst feat hidden"]) -> Float[Tensor, "inst"]:
    """The paper's 1/D* = ||W||_F^2 / m, the reciprocal of `metrics.dimensions_per_feature`."""
    return 1.0 / dimensions_per_feature(W)


def attack_budget(x: Float[Tensor, "inst batch feat"], share: float = ATTACK_SHARE) -> Float[Tensor, "inst"]:
    """The paper's budget per instance: `share` x the average L2 norm of its inputs `x`."""
    return share * x.norm(dim=-1).mean(dim=-1)


def paper_attacks(W: Float[Tensor, "inst feat hidden"], eps: Float[Tensor, "inst"]) -> Float[Tensor, "inst attack feat"]:
    """The 2n analytic attacks +-eps G_i / ||G_i|| (attack 2i raises feature i, 2i + 1 lowers it); a feature without
    weight gives a zero attack."""
    G = wtw(W)
    g = G.norm(dim=-1, keepdim=True)
    unit = torch.where(g > EPS, G / g.clamp_min(EPS), torch.zeros_like(G))
    signed = torch.stack([unit, -unit], dim=2).flatten(1, 2)  # [inst, 2n, feat], rows +G_0, -G_0, +G_1, ...
    return eps[:, None, None] * signed


def _pre(W: Tensor, b: Tensor, x: Tensor) -> Tensor:
    """Every output's pre-activation G_j . x + b_j, `[inst, batch, feat]` (as the model computes it)."""
    return x @ W @ W.transpose(1, 2) + b[:, None, :]


def _shift(delta: Tensor, G: Tensor) -> Tensor:
    """delta @ G per instance (`[inst, feat]`): how a perturbation moves every pre-activation."""
    return torch.bmm(delta[:, None, :], G)[:, 0]


def _loss(pre: Tensor, x: Tensor, importance: Tensor, shift: Tensor | None = None) -> Tensor:
    """The importance-weighted loss with every pre-activation moved by `shift` (delta @ G, `[inst, feat]`)."""
    z = pre if shift is None else pre + shift[:, None, :]
    return (importance[:, None, :] * (torch.relu(z) - x).square()).mean(dim=(1, 2))


def attacked_loss(
    W: Float[Tensor, "inst feat hidden"], b: Float[Tensor, "inst feat"], x: Float[Tensor, "inst batch feat"],
    importance: Float[Tensor, "inst feat"], delta: Float[Tensor, "inst feat"] | None = None,
) -> Float[Tensor, "inst"]:
    """The model's loss (importance-weighted squared error, mean over inputs and features, as in training) with
    every input shifted by `delta` (one perturbation per instance; none when None); the target stays x."""
    return _loss(_pre(W, b, x), x, importance, None if delta is None else _shift(delta, wtw(W)))


def worst_attack(
    W: Float[Tensor, "inst feat hidden"], b: Float[Tensor, "inst feat"], x: Float[Tensor, "inst batch feat"],
    importance: Float[Tensor, "inst feat"], eps: Float[Tensor, "inst"],
) -> tuple[Float[Tensor, "inst"], Float[Tensor, "inst feat"]]:
    """The paper's attack: of the 2n analytic attacks, the one that raises the loss most. Returns L' - L per
    instance and the perturbation chosen."""
    pre = _pre(W, b, x)
    clean = _loss(pre, x, importance)
    attacks = paper_attacks(W, eps)
    shifts = attacks @ wtw(W)  # [inst, attack, feat]: how each attack moves every pre-activation
    losses = torch.stack([_loss(pre, x, importance, shifts[:, a]) for a in range(attacks.shape[1])], dim=1)
    best = losses.argmax(dim=1)
    return losses.max(dim=1).values - clean, attacks[torch.arange(W.shape[0]), best]


def attack_bound(
    W: Float[Tensor, "inst feat hidden"], b: Float[Tensor, "inst feat"], x: Float[Tensor, "inst batch feat"],
    importance: Float[Tensor, "inst feat"], eps: Float[Tensor, "inst"],
) -> Float[Tensor, "inst"]:
    """An upper bound on L' - L for any perturbation of norm <= eps (even one chosen per input): output j moves by at
    most eps ||G_j||, so |out'_j - x_j| <= |out_j - x_j| + eps ||G_j||."""
    r = (torch.relu(_pre(W, b, x)) - x).abs()
    worst = r + eps[:, None, None] * gain(W)[:, None, :]
    return (importance[:, None, :] * (worst.square() - r.square())).mean(dim=(1, 2))


def pgd_attack(
    W: Float[Tensor, "inst feat hidden"], b: Float[Tensor, "inst feat"], x: Float[Tensor, "inst batch feat"],
    importance: Float[Tensor, "inst feat"], eps: Float[Tensor, "inst"], start: Float[Tensor, "inst feat"],
    steps: int = 20, rate: float = 0.1,
) -> Float[Tensor, "inst"]:
    """L' - L of the best universal perturbation found by projected gradient ascent on the loss from `start`
    (steps of `rate` x eps along the normalised gradient, projected back onto the ball of radius eps); never below
    `start`'s. The gradient is written out: d L / d delta = G (2/(batch n)) sum over inputs of I (out - x) [z > 0]."""
    G = wtw(W)
    pre = _pre(W, b, x)
    clean = _loss(pre, x, importance)
    delta = start.clone()
    best = _loss(pre, x, importance, _shift(delta, G))
    radius = eps[:, None]
    scale = 2.0 / (x.shape[1] * x.shape[2])
    for _ in range(steps):
        z = pre + _shift(delta, G)[:, None, :]
        residual = (torch.relu(z) - x) * (z > 0)
        grad = _shift(scale * importance * residual.sum(dim=1), G)
        delta = delta + rate * radius * grad / grad.norm(dim=-1, keepdim=True).clamp_min(1e-30)
        delta = delta * (radius / delta.norm(dim=-1, keepdim=True).clamp_min(1e-30)).clamp(max=1.0)
        best = torch.maximum(best, _loss(pre, x, importance, _shift(delta, G)))
    return best - clean


def dedicated_increase(importance: Float[Tensor, "inst feat"], eps: Float[Tensor, "inst"]) -> Float[Tensor, "inst"]:
    """L'_0 - L_0: the loss increase of the paper's worst analytic attack on the model without superposition (unit
    features on dimensions of their own, the most important one among them, bias 0), on any non-negative inputs.
    Attack +eps e_i raises output i = ReLU(x_i) by exactly eps on every input and moves no other output; -eps e_i
    moves it by min(x_i, eps) <= eps. So the worst attack raises the loss by max_i I_i eps^2 / n."""
    return importance.max(dim=-1).values * eps.square() / importance.shape[-1]


def vulnerability(
    W: Float[Tensor, "inst feat hidden"], b: Float[Tensor, "inst feat"], x: Float[Tensor, "inst batch feat"],
    importance: Float[Tensor, "inst feat"], eps: Float[Tensor, "inst"] | None = None,
) -> tuple[Float[Tensor, "inst"], Float[Tensor, "inst"], Float[Tensor, "inst"]]:
    """The paper's (L' - L) / (L'_0 - L_0) per instance: the loss increase of its worst analytic attack on inputs x
    (budget `attack_budget(x)` by default) over that of the model without superposition under the same budget
    (`dedicated_increase`). Returns the ratio, L' - L and L'_0 - L_0."""
    eps = attack_budget(x) if eps is None else eps
    increase, _ = worst_attack(W, b, x, importance, eps)
    increase0 = dedicated_increase(importance, eps)
    return increase / increase0.clamp_min(1e-30), increase, increase0
