"""Feature benefit against interference: the decomposition's terms add up to the model's own loss.

The measured side is `ToyModel.loss` (in float64) on a batch that integrates the same expectation by quadrature,
never by sampling, so the 1e-4 relative agreement is not Monte Carlo luck:

- 1-sparse inputs: each feature active alone at the nodes of a rule for its magnitude law. The midpoint rule with
  N nodes on a piecewise quadratic integrand is off by about 1/(4 N^2) relative (6e-9 at N = 4000); two-point
  Gauss-Legendre is exact for the linear model's quadratic integrand; a constant magnitude is one node.
- The linear model on the whole distribution (any sparsity): every feature off or at one of two Gauss-Legendre
  nodes, 3^n patterns weighted by their probability: exact for its quadratic loss.
"""

import itertools
import math

import pytest
import torch

from superposition import make_config, train_run
from superposition.analysis.decomposition import (
    active_weights,
    linear_split,
    moments,
    one_sparse,
    positive_interference_cost,
)
from superposition.data.features import Batch
from superposition.errors import ConfigError
from superposition.models import ToyModel

RTOL = 1e-4  # the bound on |terms - measured| / measured
GL = [0.5 - 0.5 / math.sqrt(3), 0.5 + 0.5 / math.sqrt(3)]  # two-point Gauss-Legendre on [0, 1], weights 1/2


def midpoints(lo: float, hi: float, n: int) -> torch.Tensor:
    return lo + (hi - lo) * (torch.arange(n, dtype=torch.float64) + 0.5) / n


NODES = {"uniform": midpoints(0, 1, 4000), "uniform_signed": midpoints(-1, 1, 8000),
         "constant": torch.ones(1, dtype=torch.float64)}


def one_sparse_batch(importance: torch.Tensor, nodes: torch.Tensor) -> Batch:
    """Every feature active alone at every node, for each instance (equal weight per row)."""
    n_inst, n = importance.shape
    rows = torch.zeros(n * len(nodes), n, dtype=torch.float64)
    for i in range(n):
        rows[i * len(nodes):(i + 1) * len(nodes), i] = nodes
    x = rows.expand(n_inst, -1, -1)
    return Batch(x=x, target=x, weight=importance.double()[:, None, :])


def measured_one_sparse(W, b, importance, kind, nodes, decoder=None) -> torch.Tensor:
    model = ToyModel.from_weights(W, b, kind=kind, W_dec=decoder).double()
    with torch.no_grad():
        return model.loss(one_sparse_batch(importance, nodes))


def assert_close(terms: torch.Tensor, measured: torch.Tensor) -> None:
    rel = ((terms - measured).abs() / measured.abs()).max().item()
    assert rel < RTOL, f"terms {terms.tolist()} against measured {measured.tolist()}: relative gap {rel:.2e}"


def hand_built() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Three instances of five features in two dimensions: a pentagon with a negative bias (interference partly
    cut off), antipodal pairs with a small positive bias, and uneven weights whose kinks fall inside [0, 1]."""
    angle = torch.arange(5, dtype=torch.float64) * 2 * math.pi / 5
    pentagon = torch.stack([angle.cos(), angle.sin()], -1)
    pairs = torch.tensor([[1.0, 0], [-1, 0], [0, 1], [0, -1], [0.1, 0.05]], dtype=torch.float64)
    uneven = torch.tensor([[1.1, 0.2], [0.7, -0.6], [-0.4, 0.9], [0.3, 0.3], [-0.8, -0.5]], dtype=torch.float64)
    W = torch.stack([pentagon, pairs, uneven])
    b = torch.tensor([[-0.2] * 5, [0.05] * 5, [-0.3, 0.1, -0.05, 0.2, -0.6]], dtype=torch.float64)
    importance = torch.stack([0.9 ** torch.arange(5.0)] * 3).double()
    return W, b, importance


@pytest.mark.parametrize("kind", ["relu", "linear"])
@pytest.mark.parametrize("with_bias", [True, False])
def test_one_sparse_terms_add_up_to_the_loss_on_hand_built_weights(kind, with_bias):
    W, b, importance = hand_built()
    b = b if with_bias else None
    d = one_sparse(W, b, importance, torch.full((3, 5), 0.05), kind=kind)
    # Linear: two Gauss-Legendre nodes of weight 1/2 are exact for the quadratic integrand.
    nodes = torch.tensor(GL, dtype=torch.float64) if kind == "linear" else NODES["uniform"]
    assert_close(d.loss(), measured_one_sparse(W, b, importance, kind, nodes))


@pytest.mark.parametrize("magnitude", ["constant", "uniform_signed"])
def test_one_sparse_terms_hold_for_other_magnitude_laws(magnitude):
    W, b, importance = hand_built()
    d = one_sparse(W, b, importance, torch.full((3, 5), 0.05), magnitude=magnitude)
    assert_close(d.loss(), measured_one_sparse(W, b, importance, "relu", NODES[magnitude]))


def test_normal_magnitudes_match_gauss_hermite_for_the_linear_model():
    W, b, importance = hand_built()
    d = one_sparse(W, b, importance, torch.full((3, 5), 0.05), kind="linear", magnitude="normal")
    # Three-point Gauss-Hermite (probabilists'): nodes 0, +-sqrt(3), weights 2/3, 1/6, 1/6: exact for degree <= 5.
    nodes = torch.tensor([0.0, 0.0, 0.0, 0.0, math.sqrt(3), -math.sqrt(3)], dtype=torch.float64)
    assert_close(d.loss(), measured_one_sparse(W, b, importance, "linear", nodes))


def test_untied_decoder_terms_add_up():
    W, b, importance = hand_built()
    decoder = W.transpose(1, 2).flip(-1) * 0.8  # output j reads the direction of feature 4 - j
    d = one_sparse(W, b, importance, torch.full((3, 5), 0.05), decoder=decoder)
    assert_close(d.loss(), measured_one_sparse(W, b, importance, "relu", NODES["uniform"], decoder=decoder))


def trained(kind: str):
    cfg = make_config(data=dict(n_features=6, feature_probability=[0.3, 0.05], importance_decay=0.8),
                      model=dict(kind=kind, n_hidden=2), train=dict(steps=300, lr=1e-2, seed=3))
    return cfg, train_run(cfg, progress=False)


@pytest.mark.parametrize("kind", ["relu", "linear"])
def test_one_sparse_terms_add_up_on_a_briefly_trained_model(kind):
    cfg, run = trained(kind)
    importance, probability = cfg.data.importance_table(), cfg.data.probability()
    d = one_sparse(run.W, run.b, importance, probability, kind=kind)
    nodes = torch.tensor(GL, dtype=torch.float64) if kind == "linear" else NODES["uniform"]
    assert run.b is not None and run.b.abs().max() > 1e-3  # the bias took part
    assert_close(d.loss(), measured_one_sparse(run.W.double(), run.b.double(), importance, kind, nodes))


def full_distribution_batch(importance: torch.Tensor, probability: torch.Tensor) -> Batch:
    """Every pattern of off / Gauss-Legendre node per feature, its probability folded into the loss weight."""
    n_inst, n = importance.shape
    states = list(itertools.product(range(3), repeat=n))
    x = torch.tensor([[0.0 if s == 0 else GL[s - 1] for s in row] for row in states], dtype=torch.float64)
    on = torch.tensor(states) > 0  # [rows, feat]
    p = probability.double()[:, None, :]
    prob = torch.where(on, p / 2, 1 - p).prod(-1)  # [inst, rows]
    weight = importance.double()[:, None, :] * prob[:, :, None] * len(states)  # loss averages over rows
    return Batch(x=x.expand(n_inst, -1, -1), target=x.expand(n_inst, -1, -1), weight=weight)


@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_split_is_the_exact_loss_at_any_sparsity(with_bias):
    W, b, importance = hand_built()
    b = b if with_bias else None
    probability = torch.tensor([[1.0] * 5, [0.3] * 5, [0.9, 0.5, 0.2, 0.05, 0.6]], dtype=torch.float64)
    split = linear_split(W, b, importance, probability)
    model = ToyModel.from_weights(W, b, kind="linear").double()
    with torch.no_grad():
        assert_close(split.loss(), model.loss(full_distribution_batch(importance, probability)))


def test_linear_split_on_a_briefly_trained_model():
    cfg, run = trained("linear")
    importance, probability = cfg.data.importance_table(), cfg.data.probability()
    split = linear_split(run.W, run.b, importance, probability)
    model = ToyModel.from_weights(run.W.double(), run.b.double(), kind="linear").double()
    with torch.no_grad():
        assert_close(split.loss(), model.loss(full_distribution_batch(importance, probability)))


def test_the_best_bias_leaves_no_offset():
    W, _, importance = hand_built()
    probability = torch.full((3, 5), 0.2, dtype=torch.float64)
    mean = probability * moments("uniform")[0]
    M = W @ W.transpose(1, 2)
    best = torch.einsum("ki,kij->kj", mean, torch.eye(5, dtype=torch.float64) - M)
    assert linear_split(W, best, importance, probability).offset.abs().max() < 1e-12


def test_pca_has_no_interference_and_drops_the_variance_of_the_rest():
    W = torch.zeros(1, 4, 2, dtype=torch.float64)
    W[0, 0, 0] = W[0, 1, 1] = 1.0
    split = linear_split(W, None, torch.ones(1, 4), torch.full((1, 4), 0.5))
    var = 0.5 / 3 - 0.25**2
    assert split.interference.abs().max() == 0
    assert split.feature[0].tolist() == pytest.approx([0, 0, var, var])


def test_antipodal_interference_is_free_and_a_bias_frees_positive_interference():
    W = torch.tensor([[[1.0], [-1.0]], [[1.0], [0.5]], [[1.0], [0.5]]], dtype=torch.float64)
    b = torch.tensor([[0.0, 0.0], [0.0, 0.0], [-0.6, -0.6]], dtype=torch.float64)
    d = one_sparse(W, b, torch.ones(3, 2), torch.full((3, 2), 0.1))
    assert d.free_share().tolist() == pytest.approx([1.0, 0.0, 1.0])
    # Positive interference 0.5 (and 1 * 0.5) pushed under zero by b = -0.6 over all of [0, 1]: it costs nothing.
    assert d.interference[2].abs().max() == 0
    d0 = one_sparse(W, torch.zeros_like(b), torch.ones(3, 2), torch.full((3, 2), 0.1))
    cost, without = positive_interference_cost(d, d0)
    assert cost[2] == 0 and without[2] == pytest.approx(2 * 0.25 / 3)


def test_active_weights_follow_the_odds_and_refuse_instances_with_no_active_feature():
    w = active_weights(torch.tensor([[0.5, 0.25, 0.25]]))
    assert w[0].tolist() == pytest.approx([0.6, 0.2, 0.2])  # odds 1, 1/3, 1/3
    with pytest.raises(ConfigError):
        active_weights(torch.zeros(1, 3))
    with pytest.raises(ConfigError):
        one_sparse(torch.ones(1, 2, 1), None, torch.ones(1, 2), torch.ones(1, 2), magnitude="cauchy")
