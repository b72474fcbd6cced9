"""The exact adversarial measures of analysis.adversarial against brute-force and gradient searches, on hand-built
weights whose geometry the paper names (orthogonal features, an antipodal pair, a pentagon)."""

import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from superposition.analysis import adversarial as A
from superposition.analysis.metrics import dimensionality, feature_norms
from superposition.data.features import Batch
from superposition.models import ToyModel


def polygon(n: int, radius: float = 1.0) -> torch.Tensor:
    """n unit features evenly spread on a circle in 2D, as one instance `[1, n, 2]`."""
    angles = torch.arange(n, dtype=torch.float64) * 2 * math.pi / n
    return radius * torch.stack([angles.cos(), angles.sin()], dim=-1)[None]


ORTHOGONAL = torch.eye(3, dtype=torch.float64)[None]  # three features, three dimensions of their own
ANTIPODAL = torch.tensor([[[1.0], [-1.0]]], dtype=torch.float64)  # two features sharing one dimension
PENTAGON = polygon(5)
CASES = {"orthogonal": ORTHOGONAL, "antipodal": ANTIPODAL, "pentagon": PENTAGON}
BIASES = (0.0, -0.1, 0.2)


def output(W: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The ReLU output model on inputs x `[batch, feat]` of a single instance, as the model computes it."""
    return torch.relu(x @ W[0] @ W[0].T + b[0])


def unit_directions(n: int, count: int, seed: int = 0) -> torch.Tensor:
    u = torch.randn(count, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return u / u.norm(dim=1, keepdim=True)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("bias", BIASES)
def test_silencing_distance_matches_brute_force_and_constrained_search(name, bias):
    W = CASES[name]
    n = W.shape[1]
    b = torch.full((1, n), bias, dtype=torch.float64)
    exact = A.silencing_distance(W, b)[0]
    U = unit_directions(n, 200_000)
    G = W[0] @ W[0].T
    for j in range(n):
        z = float(G[j, j] + bias)
        # Brute force: along each direction u, the output z + t G_j.u reaches 0 at t = z / (-G_j.u).
        slope = U @ G[j]
        t = torch.where(slope < 0, z / (-slope), torch.full_like(slope, math.inf))
        assert float(t.min()) >= float(exact[j]) - 1e-9  # no direction does better than the closed form
        assert float(t.min()) <= float(exact[j]) * 1.02  # and sampling gets within 2% of it
        # A constrained minimisation of ||delta|| subject to out_j(e_j + delta) = 0.
        e = np.eye(n)[j]
        res = minimize(lambda d: d @ d, np.full(n, 0.01), method="SLSQP", constraints=[
            {"type": "ineq", "fun": lambda d, j=j: -(G[j].numpy() @ (e + d) + bias)}])
        assert res.success
        assert math.sqrt(res.fun) == pytest.approx(float(exact[j]), rel=1e-4)
        # The perturbation -distance G_j/||G_j|| does silence it (up to rounding).
        delta = -exact[j] * G[j] / G[j].norm()
        assert float(output(W, b, (torch.eye(n, dtype=torch.float64)[j] + delta)[None])[0, j]) < 1e-9


def test_silencing_distance_is_sqrt_dimensionality_for_unit_features_without_bias():
    W = torch.cat([PENTAGON, polygon(5, 0.8)])  # a pentagon, and one of norm 0.8
    b = torch.tensor([[0.0] * 5, [-0.1] * 5], dtype=torch.float64)
    D, norm2 = dimensionality(W), feature_norms(W).square()
    # max(||W_j||^2 + b_j, 0) / ||G_j|| = sqrt(D_j) (1 + b_j / ||W_j||^2)
    assert torch.allclose(A.silencing_distance(W, b), D.sqrt() * (1 + b / norm2), atol=1e-12)
    assert torch.allclose(A.gain(W), norm2 / D.sqrt(), atol=1e-12)
    assert torch.allclose(A.silencing_distance(PENTAGON, torch.zeros(1, 5, dtype=torch.float64)),
                          torch.full((1, 5), math.sqrt(2 / 5), dtype=torch.float64))


def test_orthogonal_features_are_the_most_robust():
    # Unit features, no bias: the silencing distance is sqrt(D_j) <= 1, equal to 1 (the input's own norm) only for
    # a feature orthogonal to every other.
    distances = {name: float(A.silencing_distance(W, torch.zeros(W.shape[:2], dtype=W.dtype)).max())
                 for name, W in CASES.items()}
    assert distances["orthogonal"] == pytest.approx(1.0)
    assert distances["orthogonal"] > distances["antipodal"] > distances["pentagon"]
    assert distances["antipodal"] == pytest.approx(2**-0.5)
    random = torch.randn(50, 6, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    random = random / random.norm(dim=-1, keepdim=True)
    assert float(A.silencing_distance(random, torch.zeros(50, 6, dtype=torch.float64)).max()) < 1.0


def test_features_without_weight_are_silent_or_unreachable():
    W = torch.tensor([[[1.0], [0.0], [0.0]]])
    d = A.silencing_distance(W, torch.tensor([[0.0, -0.2, 0.3]]))[0]
    assert d.tolist() == [1.0, 0.0, math.inf]  # a bias alone: already off, or on whatever the input


@pytest.mark.parametrize("name", CASES)
def test_largest_change_matches_brute_force(name):
    W = CASES[name]
    n = W.shape[1]
    b = torch.full((1, n), -0.1, dtype=torch.float64)
    x = torch.cat([torch.eye(n, dtype=torch.float64), torch.zeros(1, n, dtype=torch.float64)])  # one-hots, and 0
    eps = 0.3
    exact = A.largest_change(W, b, x[None], eps)[0]
    U = unit_directions(n, 100_000, seed=2)
    base = output(W, b, x)
    for i in range(x.shape[0]):
        moved = (output(W, b, x[i] + eps * U) - base[i]).abs().max(dim=0).values  # per output, over directions
        assert torch.all(moved <= exact[i] + 1e-9)
        assert torch.allclose(moved, exact[i], rtol=0.02, atol=1e-6)


def _data(n: int, p: float, batch: int = 4096, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    active = torch.rand(1, batch, n, generator=g, dtype=torch.float64) < p
    return torch.where(active, torch.rand(1, batch, n, generator=g, dtype=torch.float64), 0.0)


def test_attacked_loss_is_the_models_loss():
    W, b = PENTAGON.float(), torch.full((1, 5), -0.1)
    x = _data(5, 0.2).float()
    importance = torch.linspace(1, 0.5, 5)[None]
    model = ToyModel.from_weights(W, b)
    batch = Batch(x=x, target=x, weight=importance[:, None, :])
    assert torch.allclose(A.attacked_loss(W, b, x, importance), model.loss(batch), rtol=1e-5)
    delta = torch.tensor([[0.05, -0.02, 0.0, 0.01, 0.03]])
    shifted = Batch(x=x + delta[:, None, :], target=x, weight=importance[:, None, :])
    assert torch.allclose(A.attacked_loss(W, b, x, importance, delta), model.loss(shifted), rtol=1e-5)


@pytest.mark.parametrize("name", CASES)
def test_attacks_stay_below_the_bound(name):
    W = CASES[name]
    n = W.shape[1]
    b = torch.full((1, n), -0.05, dtype=torch.float64)
    x, importance = _data(n, 0.3), torch.ones(1, n, dtype=torch.float64)
    eps = A.attack_budget(x)
    analytic, start = A.worst_attack(W, b, x, importance, eps)
    assert float(start.norm()) == pytest.approx(float(eps))
    pgd = A.pgd_attack(W, b, x, importance, eps, start, steps=50)
    bound = A.attack_bound(W, b, x, importance, eps)
    clean = A.attacked_loss(W, b, x, importance)
    random = max(float(A.attacked_loss(W, b, x, importance, eps * u[None]) - clean) for u in unit_directions(n, 300))
    # The analytic attacks are a lower bound on the best universal attack (a spread-out one can do better), PGD only
    # climbs from there, and nothing of norm eps passes the bound.
    assert float(analytic) <= float(pgd) + 1e-12 <= float(bound) + 1e-12
    assert random <= float(bound)


@pytest.mark.parametrize("p", (1.0, 0.2, 0.01))
def test_the_model_without_superposition_loses_exactly_max_importance_eps_squared_over_n(p):
    # The three most important of four features on dimensions of their own (bias 0; the ignored one outputs its
    # bias), on non-negative data: the worst analytic attack is +eps on the most important feature.
    W = torch.cat([ORTHOGONAL, torch.zeros(1, 1, 3, dtype=torch.float64)], dim=1)
    b = torch.tensor([[0.0, 0.0, 0.0, 0.3]], dtype=torch.float64)
    x = _data(4, p, seed=5)
    importance = torch.tensor([[0.5, 1.0, 0.7, 0.2]], dtype=torch.float64)
    eps = A.attack_budget(x)
    increase, delta = A.worst_attack(W, b, x, importance, eps)
    assert float(increase) == pytest.approx(float(A.dedicated_increase(importance, eps)), rel=1e-9)
    assert float(A.dedicated_increase(importance, eps)) == pytest.approx(float(eps) ** 2 / 4)
    assert torch.allclose(delta, torch.tensor([[0.0, 1.0, 0.0, 0.0]], dtype=torch.float64) * eps)  # +eps e_1


def test_vulnerability_is_the_increase_over_the_dedicated_models():
    tri = torch.cat([polygon(3), torch.zeros(1, 3, 1, dtype=torch.float64)], dim=-1)  # [1, 3, 3], rank 2
    W = torch.cat([ORTHOGONAL, tri])
    b = torch.full((2, 3), -0.1, dtype=torch.float64)
    x = torch.cat([_data(3, 0.2, seed=3), _data(3, 0.05, seed=4)])
    importance = torch.ones(2, 3, dtype=torch.float64)
    ratio, increase, increase0 = A.vulnerability(W, b, x, importance)
    eps = A.attack_budget(x)
    dedicated, _ = A.worst_attack(ORTHOGONAL.expand(2, -1, -1), torch.zeros(2, 3, dtype=torch.float64), x,
                                  importance, eps)
    assert torch.allclose(increase0, dedicated, rtol=1e-9)
    assert torch.allclose(ratio, increase / dedicated, rtol=1e-9)


def test_features_per_dimension_is_the_papers_one_over_d_star():
    # ||W||_F^2 / m: 1 without superposition, 2 for an antipodal pair in one dimension, 5/2 for a pentagon.
    expected = {"orthogonal": 1.0, "antipodal": 2.0, "pentagon": 2.5}
    for name, W in CASES.items():
        assert A.features_per_dimension(W).tolist() == pytest.approx([expected[name]])
