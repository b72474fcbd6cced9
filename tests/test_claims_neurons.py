"""Both ways for the neurons experiment: hand-made weights for the neuron model (dedicated neurons, a block rotated
across neurons, the paper's "features are pairs of neurons" code), the abs computation model (the 2n-neuron
construction given m neurons, with chosen neurons made polysemantic) and the small model (the paper's asymmetric
superposition with inhibition), fed to the experiment's analysis."""

import pytest
import torch
from claim_cases import BothWays

from superposition.experiments.neurons import (
    DENSITIES,
    NEURONS,
    PRIVILEGED_SEEDS,
    SEEDS,
    construction_claim,
    neuron_configs,
)
from superposition.models import ComputationModel, NeuronModel, abs_construction
from superposition.runs import Run, history_frame
from superposition.train import History

CASES = BothWays()
CONFIGS = neuron_configs(False)


def run_of(config, model) -> Run:
    n = config.data.n_instances
    return Run(config=config, model=model, history=history_frame(History(steps=[1], loss=[[0.0] * n])))


# --- the neuron model (n = 10, m = 5) ----------------------------------------------------------------------------

N, M = 10, 5


def dedicated() -> torch.Tensor:
    """The paper's dense solution: features 0-4 each on a neuron of their own, the rest not represented."""
    W = torch.zeros(N, M)
    W[range(M), range(M)] = 1.0
    return W


def rotated() -> torch.Tensor:
    """The local minimum seen at 1-S = 1: features 1, 3, 4 spread over neurons 1, 3, 4 by an orthogonal matrix with
    negative entries (each feature 2/3 along its largest neuron); its ReLU clips, so its loss is higher."""
    W = dedicated()
    block = torch.tensor([[2.0, -1.0, 2.0], [2.0, 2.0, -1.0], [-1.0, 2.0, 2.0]]) / 3
    idx = torch.tensor([1, 3, 4])
    W[idx[:, None], idx] = block
    return W


def pairs() -> torch.Tensor:
    """The paper's sparsest code, "features are pairs of neurons": each of the 10 features on its own pair of the
    5 neurons, so every neuron reads four features."""
    W = torch.zeros(N, M)
    for i, (a, b) in enumerate((a, b) for a in range(M) for b in range(a + 1, M)):
        W[i, a] = W[i, b] = 2**-0.5
    return W


def privileged(dense: list[torch.Tensor], sparse: torch.Tensor | None = None) -> Run:
    """One W per instance: `dense` for the seeds at 1-S = 1, `sparse` (default: pairs) at the sparsest density,
    dedicated neurons in between. Unrepresented features get their mean as bias."""
    Ws = []
    for p in DENSITIES:
        for s in range(PRIVILEGED_SEEDS):
            Ws.append(dense[s] if p == 1.0 else (sparse if sparse is not None else pairs()) if p == DENSITIES[-1]
                      else dedicated())
    W = torch.stack(Ws)
    b = torch.zeros(len(Ws), N)
    b[:, M:] = 0.5
    return run_of(CONFIGS["privileged"], NeuronModel.from_weights(W, b))


# --- the computation model (n = 100, m = 40) and the small one (n = 20, m = 10) -----------------------------------


def construction(n: int, m: int, probs: list[float]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The m-neuron part of the abs construction: features 0..m/2-1 computed exactly, the rest answered by E|x|."""
    full = abs_construction(n, len(probs))
    b = 0.5 * torch.tensor(probs)[:, None].expand(-1, n).clone()
    b[:, : m // 2] = 0.0
    return full.W1[:, :, :m].clone(), full.W2[:, :m, :].clone(), b


def computation(poly: dict[float, list[int]] | None = None) -> Run:
    """The construction at every density, with the neurons `poly[p]` made polysemantic at density p: each also
    reads feature m/2 + its index (an uncomputed feature) with half the weight of its own."""
    cfg = CONFIGS["computation"]
    n, m = cfg.data.n_features, cfg.model.n_hidden
    W1, W2, b = construction(n, m, DENSITIES)
    for k, p in enumerate(DENSITIES):
        for neuron in (poly or {}).get(p, []):
            W1[k, m // 2 + neuron % (n - m // 2), neuron] = 0.5
    return run_of(cfg, ComputationModel.from_weights(W1, W2, b))


def motif_weights() -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's motif on features 0 (strong) and 1 (weak), neurons 0-3 (as in test_neurons.py): neuron 0 stores
    both (in 2 and -1/2, out 1/2 and 2), neuron 1 = ReLU(x0) inhibits output 1; neurons 2, 3 the other sides."""
    W1 = torch.zeros(20, 4)
    W1[0] = torch.tensor([2.0, 1.0, -1.0, 0.0])
    W1[1] = torch.tensor([-0.5, 0.0, 0.0, 1.0])
    W2 = torch.zeros(4, 20)
    W2[:, :2] = torch.tensor([[0.5, 2.0], [0.0, -5.0], [1.0, 0.0], [0.0, 1.0]])
    return W1, W2


def discrete(motif_at: int | None) -> Run:
    """The small model: the construction at every instance (features 0-4), the motif replacing features 0, 1 in
    instance `motif_at`."""
    cfg = CONFIGS["discrete"]
    probs = cfg.data.probability()[:, 0].tolist()
    W1, W2, b = construction(cfg.data.n_features, cfg.model.n_hidden, probs)
    if motif_at is not None:
        W1[motif_at, :, :4], W2[motif_at, :4, :] = motif_weights()
    return run_of(cfg, ComputationModel.from_weights(W1, W2, b))


def analyze(priv: Run | None = None, comp: Run | None = None, disc: Run | None = None):
    runs = {"privileged": priv or privileged([dedicated()] * PRIVILEGED_SEEDS),
            "computation": comp or computation({0.1: [38], 0.03: [36, 38], 0.01: [34, 36, 38]}),
            "discrete": disc or discrete(motif_at=0)}
    return NEURONS.analyze(runs, False)


# --- the neuron model's claims ------------------------------------------------------------------------------------


@CASES.case("neurons.dense-features-align-with-neurons", holds=True)
def the_lowest_loss_dense_seed_gives_each_feature_a_neuron():
    # Only one seed found the dedicated solution; it has the lowest loss, so it is the one read (as in the paper).
    return analyze(priv=privileged([rotated()] * (PRIVILEGED_SEEDS - 1) + [dedicated()]))


@CASES.case("neurons.dense-features-align-with-neurons", holds=False)
def every_dense_seed_spreads_features_over_neurons():
    return analyze(priv=privileged([rotated()] * PRIVILEGED_SEEDS))


@CASES.case("neurons.sparse-polysemantic", holds=True)
def sparse_features_become_pairs_of_neurons():
    return analyze()


@CASES.case("neurons.sparse-polysemantic", holds=False)
def sparse_features_keep_dedicated_neurons():
    return analyze(priv=privileged([dedicated()] * PRIVILEGED_SEEDS, sparse=dedicated()))


# --- the computation model's claims ---------------------------------------------------------------------------


@CASES.case("neurons.computation-dense-monosemantic", holds=True)
def dense_construction_is_monosemantic():
    return analyze()


@CASES.case("neurons.computation-dense-monosemantic", holds=False)
def one_dense_neuron_reads_a_second_feature():
    return analyze(comp=computation({1.0: [10], 0.1: [38], 0.03: [36, 38], 0.01: [34, 36, 38]}))


@CASES.case("neurons.computation-moderate-monosemantic", holds=True)
def two_polysemantic_neurons_at_moderate_sparsity():
    return analyze(comp=computation({0.3: [30, 32], 0.1: [38], 0.03: [36, 38], 0.01: [34, 36, 38]}))


@CASES.case("neurons.computation-moderate-monosemantic", holds=False)
def three_polysemantic_neurons_at_moderate_sparsity():
    return analyze(comp=computation({0.3: [30, 32, 34], 0.1: [38], 0.03: [36, 38], 0.01: [34, 36, 38]}))


@CASES.case("neurons.computation-polysemantic-grows", holds=True)
def polysemantic_neurons_appear_then_grow():
    return analyze()


@CASES.case("neurons.computation-polysemantic-grows", holds=False)
def polysemantic_count_falls_between_sparsities():
    return analyze(comp=computation({0.1: [34, 36, 38], 0.03: [38], 0.01: [34, 36, 38]}))


def no_polysemantic_neuron_at_one_in_ten():
    return analyze(comp=computation({0.03: [38], 0.01: [36, 38]}))


@CASES.case("neurons.polysemantic-serve-less-important", holds=True)
def polysemantic_neurons_carry_the_least_important_computed_features():
    return analyze()  # neurons 34-39 compute features 17-19


@CASES.case("neurons.polysemantic-serve-less-important", holds=False)
def polysemantic_neurons_carry_the_most_important_features():
    return analyze(comp=computation({0.1: [0], 0.03: [0, 2], 0.01: [0, 2, 4]}))


@CASES.case("neurons.beats-construction", holds=True)
def matches_when_dense_and_beats_when_sparse():
    return construction_claim(DENSITIES, [1.0, 1.01, 0.97, 0.9, 0.8], [20, 20, 22, 25, 30], [0, 0, 2, 4, 6])


@CASES.case("neurons.beats-construction", holds=False)
def the_construction_itself_does_not_beat_the_construction():
    return analyze(comp=computation())  # ratio 1 at every density: matches, never beats


def one_sided_local_minimum():
    # Each of the 40 neurons computes ReLU(x_i) of its own feature and nothing else: half of each feature is lost.
    cfg = CONFIGS["computation"]
    n, m = cfg.data.n_features, cfg.model.n_hidden
    W1 = torch.zeros(len(DENSITIES), n, m)
    W1[:, range(m), range(m)] = 1.0
    W2 = W1.transpose(1, 2).clone()
    b = 0.5 * torch.tensor(DENSITIES)[:, None].expand(-1, n).clone()
    b[:, :m] = 0.0
    return analyze(comp=run_of(cfg, ComputationModel.from_weights(W1, W2, b)))


@CASES.case("neurons.asymmetric-inhibition-motif", holds=True)
def one_instance_with_asymmetric_superposition_and_inhibition():
    return analyze()


@CASES.case("neurons.asymmetric-inhibition-motif", holds=False)
def plain_construction_everywhere():
    return analyze(disc=discrete(motif_at=None))


test_verdict = CASES.test()


def test_second_failing_inputs():
    # Growth needs the polysemantic neurons to appear at 1-S = 0.1 already; the one-sided model loses half of every
    # feature, far above the construction at every density.
    assert not no_polysemantic_neuron_at_one_in_ten().by_id()["neurons.computation-polysemantic-grows"].reproduced
    beats = one_sided_local_minimum().by_id()["neurons.beats-construction"]
    assert not beats.checks[0].holds and not beats.reproduced


def test_the_hand_made_inputs_are_what_they_claim():
    # The rotated block costs loss (its ReLU clips), so the dedicated seed is the lowest-loss one.
    from superposition.experiments.neurons import aligned_share, sample_losses

    run = privileged([rotated(), dedicated()] + [rotated()] * (PRIVILEGED_SEEDS - 2))
    loss = sample_losses(run, [run.model], common=True)[0]
    assert loss[1] < loss[0] and torch.equal(loss[0], loss[2])  # common inputs: equal weights, equal loss
    assert aligned_share(run.W)[:2] == pytest.approx([0.4, 1.0])
    assert len(SEEDS * DENSITIES[2:]) == CONFIGS["discrete"].data.n_instances
