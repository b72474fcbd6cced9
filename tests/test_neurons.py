"""Neuron models (privileged basis, computation in superposition) and the neuron analysis."""

import pytest
import torch

from superposition.analysis.neurons import (
    DEAD,
    MONOSEMANTIC,
    POLYSEMANTIC,
    AsymmetricMotif,
    classify_neurons,
    computed_features,
    dead_neurons,
    describe_motif,
    find_asymmetric_inhibition,
    monosemanticity,
    neuron_order,
    neuron_weights,
    polysemantic_count,
    primary_feature,
    side_gains,
    summarize_neurons,
)
from superposition.config import DataConfig, ToyModelConfig, TrainConfig, make_config
from superposition.data import Batch, FeatureData
from superposition.errors import ConfigError
from superposition.models.neuron import ComputationModel, NeuronModel, abs_construction
from superposition.train import train


class AbsData:
    """Features uniform on [-1, 1) where active, target |x|: the paper's computation task."""

    def __init__(self, n_features: int, probabilities: list[float]):
        self.data = FeatureData(
            DataConfig(n_features=n_features, feature_probability=probabilities, magnitude="uniform_signed")
        )

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        b = self.data.sample(batch_size, generator)
        return Batch(x=b.x, target=b.x.abs(), weight=b.weight)


def _batch(n_inst: int, n_feat: int, p: float, signed: bool, seed: int = 0, batch: int = 256) -> Batch:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n_inst, n_feat, batch, generator=g).transpose(1, 2)  # feature-major, like FeatureData
    if signed:
        x = 2 * x - 1
    x = torch.where(torch.rand(n_inst, batch, n_feat, generator=g) < p, x, 0.0)
    return Batch(x=x, target=x.abs(), weight=torch.rand(n_inst, 1, n_feat, generator=g) + 0.1)


# --- models ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [1.0, 0.3, 0.02])
def test_abs_construction_is_exact_dense_and_sparse(p):
    model = abs_construction(5, n_instances=3)
    batch = _batch(3, 5, p, signed=True, batch=4096)
    assert torch.equal(model.loss(batch), torch.zeros(3))
    assert torch.equal(model(batch.x), batch.x.abs())


def test_abs_construction_layout():
    model = abs_construction(2)
    # Neuron 2i = ReLU(x_i), neuron 2i+1 = ReLU(-x_i); both write +1 into output i.
    assert model.W1[0].tolist() == [[1, -1, 0, 0], [0, 0, 1, -1]]
    assert model.W2[0].tolist() == [[1, 0], [1, 0], [0, 1], [0, 1]]
    assert model.b.abs().sum() == 0
    assert model.hidden(torch.tensor([[[0.5, -0.25]]])).tolist() == [[[0.5, 0.0, 0.0, 0.25]]]


@pytest.mark.parametrize("cls", [NeuronModel, ComputationModel])
@pytest.mark.parametrize("bias", [True, False])
def test_forward_shapes_and_weights(cls, bias):
    kind = "neuron" if cls is NeuronModel else "abs"
    model = cls(ToyModelConfig(kind=kind, n_hidden=3, bias=bias), n_features=5, n_instances=2,
                generator=torch.Generator().manual_seed(0))
    x = torch.rand(2, 7, 5)
    assert model(x).shape == (2, 7, 5)
    assert model.hidden(x).shape == (2, 7, 3)
    assert model.loss(_batch(2, 5, 0.5, signed=True)).shape == (2,)
    shapes = {k: tuple(v.shape) for k, v in model.weights().items()}
    expected = {"W": (2, 5, 3)} if cls is NeuronModel else {"W1": (2, 5, 3), "W2": (2, 3, 5)}
    if bias:
        expected["b"] = (2, 5)
    assert shapes == expected


def test_neuron_model_is_tied_relu_autoencoder():
    W = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [-1.0, 1.0]]])  # 3 features, 2 neurons
    b = torch.tensor([[0.0, -1.0, 0.5]])
    model = NeuronModel.from_weights(W, b)
    x = torch.tensor([[[1.0, 1.0, 1.0]]])
    h = torch.relu(x @ W[0])  # [0, 3]
    assert torch.allclose(model.hidden(x), h)
    assert torch.allclose(model(x), torch.relu(h @ W[0].T + b))


def test_same_seed_same_init_and_xavier_scale():
    a = ComputationModel(ToyModelConfig(kind="abs", n_hidden=60), n_features=40, n_instances=3,
                         generator=torch.Generator().manual_seed(1))
    b = ComputationModel(ToyModelConfig(kind="abs", n_hidden=60), n_features=40, n_instances=3,
                         generator=torch.Generator().manual_seed(1))
    assert torch.equal(a.W1, b.W1) and torch.equal(a.W2, b.W2)
    assert a.W1.std().item() == pytest.approx((2 / 100) ** 0.5, rel=0.05)


def test_kaiming_uniform_start_has_arenas_scale():
    # ARENA: kaiming_uniform_ on [inst, 40, 100] and [inst, 100, 40] tensors, fan_in 4,000 either way.
    model = ComputationModel(ToyModelConfig(kind="abs", n_hidden=40, init="kaiming_uniform"), n_features=100,
                             n_instances=2, generator=torch.Generator().manual_seed(0))
    bound = (6 / 4000) ** 0.5
    for w in (model.W1, model.W2):
        assert w.abs().max() <= bound and w.std().item() == pytest.approx(bound / 3**0.5, rel=0.05)
    with pytest.raises(ConfigError, match="init"):
        make_config(model=dict(kind="abs", init="orthogonal"))
    with pytest.raises(ConfigError, match="NeuronModel implements kind 'neuron', not 'abs'"):
        NeuronModel(ToyModelConfig(kind="abs"), n_features=4, n_instances=1)


def test_from_weights_round_trip():
    src = ComputationModel(ToyModelConfig(kind="abs", n_hidden=6), n_features=4, n_instances=2,
                           generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        src.b.normal_(generator=torch.Generator().manual_seed(1))
    copy = ComputationModel.from_weights(**src.weights())
    assert all(torch.equal(copy.weights()[k], v) for k, v in src.weights().items())
    x = torch.rand(2, 9, 4) * 2 - 1
    assert torch.equal(copy(x), src(x))

    nsrc = NeuronModel(ToyModelConfig(kind="neuron", n_hidden=3, bias=False), n_features=4, n_instances=2,
                       generator=torch.Generator().manual_seed(0))
    ncopy = NeuronModel.from_weights(**nsrc.weights())
    assert ncopy.b is None and torch.equal(ncopy.W, nsrc.W)


def test_from_weights_rejects_wrong_shapes():
    with pytest.raises(ConfigError, match="W2"):
        ComputationModel.from_weights(torch.zeros(1, 4, 6), torch.zeros(1, 4, 6))
    with pytest.raises(ConfigError, match="b"):
        NeuronModel.from_weights(torch.zeros(1, 4, 6), torch.zeros(1, 6))
    with pytest.raises(ConfigError, match="W1"):
        ComputationModel.from_weights(torch.zeros(4, 6), torch.zeros(6, 4))


@pytest.mark.parametrize("cls", [NeuronModel, ComputationModel])
@pytest.mark.parametrize("bias", [True, False])
def test_loss_and_grads_match_autograd(cls, bias):
    kind = "neuron" if cls is NeuronModel else "abs"
    model = cls(ToyModelConfig(kind=kind, n_hidden=4, bias=bias), n_features=6, n_instances=3,
                generator=torch.Generator().manual_seed(2))
    if bias:
        with torch.no_grad():
            model.b.uniform_(-0.3, 0.3, generator=torch.Generator().manual_seed(3))
    batch = _batch(3, 6, 0.4, signed=cls is ComputationModel, seed=4)
    loss = model.loss(batch)
    loss.sum().backward()
    hand_loss, grads = model.loss_and_grads(batch)
    assert torch.allclose(hand_loss, loss.detach(), rtol=1e-5, atol=1e-7)
    params = list(model.parameters())
    assert len(grads) == len(params)
    for p, g in zip(params, grads):
        assert g.shape == p.shape
        assert torch.allclose(g, p.grad, rtol=1e-4, atol=1e-7)


# --- neuron analysis --------------------------------------------------------------------------------------------


def _W1_from_neurons(rows: list[list[float]]) -> torch.Tensor:
    """One instance whose neuron n has input weights rows[n] (so W1 = rows^T)."""
    return torch.tensor(rows).T[None]


def test_classifier_labels_hand_built_neurons():
    W1 = _W1_from_neurons(
        [
            [0.0, 1.3, 0.0],  # one-hot: monosemantic
            [0.0, 0.0, -0.7],  # one-hot, negative side: monosemantic
            [0.5, 0.5, 0.0],  # two equal weights: polysemantic (0.71)
            [2.0, -0.5, 0.0],  # the paper's asymmetric pair (0.97): polysemantic
            [1.0, 0.05, 0.0],  # a faint leftover weight (0.999): monosemantic
            [0.0, 0.0, 0.0],  # no weight: dead
            [0.004, 0.0, 0.003],  # almost none: dead
        ]
    )
    assert neuron_weights(W1)[0, 2].tolist() == [0.5, 0.5, 0.0]
    assert classify_neurons(W1) == [[MONOSEMANTIC, MONOSEMANTIC, POLYSEMANTIC, POLYSEMANTIC, MONOSEMANTIC, DEAD, DEAD]]
    assert polysemantic_count(W1).tolist() == [2]
    mono = monosemanticity(W1)[0]
    assert mono[0] == 1 and mono[2].item() == pytest.approx(2**-0.5) and mono[5] == 0
    # A looser threshold accepts the asymmetric pair as one feature.
    assert classify_neurons(W1, threshold=0.9)[0][3] == MONOSEMANTIC
    assert primary_feature(W1)[0, :5].tolist() == [1, 2, 0, 0, 0]


def test_nonnegative_inputs_mark_never_firing_neurons_dead():
    W1 = _W1_from_neurons([[-1.0, 0.0], [1.0, -0.1]])  # neuron 0 only fires for x0 < 0
    assert classify_neurons(W1)[0][0] == MONOSEMANTIC
    assert classify_neurons(W1, nonnegative_inputs=True)[0][0] == DEAD
    assert dead_neurons(W1, nonnegative_inputs=True).tolist() == [[True, False]]


def test_neuron_order_by_importance_of_primary_feature_dead_last():
    # Importance falls with the feature index, so the order follows each neuron's primary feature.
    W1 = _W1_from_neurons([[0.0, 0.0, 1.0], [0.0, 0.0, 0.0], [0.2, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.3]])
    importance = torch.tensor([1.0, 0.8, 0.64])
    assert neuron_order(W1, importance).tolist() == [[3, 2, 4, 0, 1]]
    # Per-instance importance, reversed: feature 2 now leads.
    assert neuron_order(W1, importance.flip(0)[None]).tolist() == [[0, 2, 4, 3, 1]]


def test_abs_construction_analysis():
    model = abs_construction(4, n_instances=2)
    W1, W2, b = model.W1, model.W2, model.b
    assert classify_neurons(W1) == [[MONOSEMANTIC] * 8] * 2
    assert computed_features(W1, W2).all()
    assert find_asymmetric_inhibition(W1, W2, b) == []
    summary = summarize_neurons(W1, W2, b)
    assert [(s.monosemantic, s.polysemantic, s.dead, s.features_computed, s.motifs) for s in summary] == [
        (8, 0, 0, [0, 1, 2, 3], [])
    ] * 2
    assert summary[0].as_dict()["n_features_computed"] == 4


def test_side_gains_and_computed_features():
    construction = abs_construction(3)
    assert torch.equal(side_gains(construction.W1, construction.W2), torch.ones(1, 2, 3))
    # Feature 0: positive side split over two neurons (0.3 each, computed together); feature 1: a faint neuron only;
    # feature 2: negative side only.
    W1 = _W1_from_neurons([[1.0, 0.0, 0.0], [0.6, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, -1.0]])
    W2 = torch.tensor([[[0.3, 0.0, 0.0], [0.5, 0.0, 0.0], [0.0, 0.2, 0.0], [0.0, 0.0, 0.9]]])
    assert torch.allclose(side_gains(W1, W2), torch.tensor([[[0.6, 0.1, 0.0], [0.0, 0.0, 0.9]]]))
    assert computed_features(W1, W2).tolist() == [[True, False, True]]
    # The tied neuron model reads W^T: the gain of a positive weight w is w^2, of a negative one -w^2.
    W = _W1_from_neurons([[0.9, -0.8], [0.0, 0.6]])
    assert torch.allclose(side_gains(W), torch.tensor([[[0.81, 0.36], [0.0, -0.64]]]))
    assert computed_features(W).tolist() == [[True, False]]


def _motif_model(inhibitor_out: float = -5.0) -> ComputationModel:
    """Two features; the paper's motif on feature 0 (strong) and feature 1 (weak).

    neuron 0 (shared): ReLU(2 x0 - x1 / 2), out 1/2 to y0 and 2 to y1 (positive side of x0, negative side of x1);
    neuron 1 (inhibitor): ReLU(x0), out `inhibitor_out` to y1; neuron 2: ReLU(-x0) -> y0; neuron 3: ReLU(x1) -> y1.
    """
    W1 = _W1_from_neurons([[2.0, -0.5], [1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]])
    W2 = torch.tensor([[[0.5, 2.0], [0.0, inhibitor_out], [1.0, 0.0], [0.0, 1.0]]])
    return ComputationModel.from_weights(W1, W2, torch.zeros(1, 2))


def test_hand_built_motif_computes_abs_thanks_to_the_inhibitor():
    x0 = torch.linspace(-1, 1, 21)
    x = torch.stack([x0, torch.zeros_like(x0)], dim=-1)[None]  # only the strong feature active
    assert torch.allclose(_motif_model()(x), x.abs())
    # Without the inhibitor the strong feature leaks 2 x 2 = 4 times itself into the weak feature's output.
    leaky = _motif_model(inhibitor_out=0.0)(x)
    assert torch.allclose(leaky[0, :, 1], 4 * torch.relu(x0))
    # The weak feature alone is computed on both sides, with only a small leak (1/2 x 1/2) into y0.
    x1 = torch.linspace(-1, 1, 21)
    y = _motif_model()(torch.stack([torch.zeros_like(x1), x1], dim=-1)[None])
    assert torch.allclose(y[0, :, 1], x1.abs()) and torch.allclose(y[0, :, 0], 0.25 * torch.relu(-x1))


def test_motif_detector_finds_hand_built_motif():
    model = _motif_model()
    motifs = find_asymmetric_inhibition(model.W1, model.W2, model.b)
    assert len(motifs) == 1
    m = motifs[0]
    assert isinstance(m, AsymmetricMotif)
    assert (m.instance, m.neuron, m.features, m.inhibitor) == (0, 0, (0, 1), 1)
    assert (m.w_in_strong, m.w_in_weak, m.w_out_strong, m.w_out_weak) == (2.0, -0.5, 0.5, 2.0)
    assert (m.inhibitor_in, m.inhibitor_out, m.leak, m.inhibition, m.residual) == (1.0, -5.0, 4.0, -5.0, 0.0)
    line = describe_motif(m)
    assert "neuron 0 stores feature 0" in line and "neuron 1 inhibits output 1" in line
    # The shared neuron carries two features: polysemantic; the summary reports the motif on its instance.
    summary = summarize_neurons(model.W1, model.W2, model.b)[0]
    assert (summary.polysemantic, summary.motifs) == (1, motifs)


def test_motif_detector_needs_each_part_of_the_motif():
    # No inhibitor (or one too weak to cancel half of the leak): no motif.
    assert find_asymmetric_inhibition(*_motif_model(inhibitor_out=0.0).weights().values()) == []
    assert find_asymmetric_inhibition(*_motif_model(inhibitor_out=-1.9).weights().values()) == []
    # An inhibitor on the wrong side of the strong feature (active when x0 < 0, when the shared neuron is off).
    m = _motif_model()
    with torch.no_grad():
        m.W1[0, 0, 1] = -1.0
    assert find_asymmetric_inhibition(m.W1, m.W2, m.b) == []
    # Symmetric superposition (equal weights in, equal weights out) with the same inhibitor: not asymmetric.
    sym = _motif_model()
    with torch.no_grad():
        sym.W1[0, :, 0] = torch.tensor([1.0, -1.0])
        sym.W2[0, 0] = torch.tensor([1.0, 1.0])
    assert find_asymmetric_inhibition(sym.W1, sym.W2, sym.b) == []
    # Asymmetric input but the output sizes not flipped: the neuron does not compute the weak feature as the motif.
    same = _motif_model()
    with torch.no_grad():
        same.W2[0, 0] = torch.tensor([2.0, 0.5])
    assert find_asymmetric_inhibition(same.W1, same.W2, same.b) == []


# --- training: the paper's dense regime --------------------------------------------------------------------------


def test_dense_abs_model_learns_monosemantic_neurons():
    """Dense features (every feature always active): "all neurons are monosemantic". With exactly 2n neurons the
    only exact solution is the construction, one neuron per side of each feature; most instances find it, some
    stop in a local minimum (an output ReLU or one side of a feature left dead), still monosemantic."""
    n, m, inst = 4, 8, 8
    model = ComputationModel(ToyModelConfig(kind="abs", n_hidden=m), n_features=n, n_instances=inst,
                             generator=torch.Generator().manual_seed(0))
    history = train(model, AbsData(n, [1.0] * inst), TrainConfig(steps=2000, lr=1e-2, seed=0), progress=False)
    loss = torch.tensor(history.final)
    labels = classify_neurons(model.W1)
    assert all(label in (MONOSEMANTIC, DEAD) for row in labels for label in row), labels
    converged = (loss < 1e-5).nonzero().flatten().tolist()
    assert len(converged) >= inst // 2, loss  # the construction's loss is 0
    signs = torch.sign(torch.gather(neuron_weights(model.W1), 2, primary_feature(model.W1)[..., None]))[..., 0]
    for k in converged:
        # One neuron per side of every feature: ReLU(x_i) and ReLU(-x_i), as in the construction.
        sides = sorted(zip(primary_feature(model.W1)[k].tolist(), signs[k].tolist()))
        assert sides == [(i, s) for i in range(n) for s in (-1.0, 1.0)]
        assert summarize_neurons(model.W1, model.W2, model.b)[k].features_computed == list(range(n))
    assert find_asymmetric_inhibition(model.W1, model.W2, model.b) == []
