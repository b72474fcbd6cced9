"""Both ways for the toy-autoencoder experiments (first look, intro figure, sparsity sweeps): hand-made weights
whose structure is known exactly, fed to each experiment's analysis."""

import math

import pandas as pd
import torch
from claim_cases import BothWays

from superposition.experiments.toy import (
    FIRST_LOOK,
    FIRST_SEEDS,
    INTRO,
    SWEEP,
    first_look_configs,
    intro_configs,
    sweep_configs,
)
from superposition.models import ToyModel
from superposition.runs import Run

CASES = BothWays()
N, M = 5, 2


def pentagon() -> torch.Tensor:
    t = torch.arange(N) * 2 * math.pi / N
    return torch.stack([t.cos(), t.sin()], dim=-1)


def dedicated(k: int) -> torch.Tensor:
    """Features 0..k-1 in the plane, as many as fit without superposition (k <= 2) or as antipodal pairs (k = 4)."""
    W = torch.zeros(N, M)
    if k <= 2:
        for i in range(k):
            W[i, i] = 1.0
    elif k == 3:  # two antipodal features on one axis, one dedicated on the other
        W[0, 0], W[1, 1], W[2, 0] = 1.0, 1.0, -1.0
    else:  # two antipodal pairs
        W[0, 0], W[1, 1], W[2, 0], W[3, 1] = 1.0, 1.0, -1.0, -1.0
    return W


def toy_run(config, Ws: list[torch.Tensor], bias: float = 0.0, losses: list[float] | None = None) -> Run:
    W = torch.stack(Ws)
    losses = losses or [0.1] * len(Ws)
    history = pd.DataFrame([(100, k, loss) for k, loss in enumerate(losses)], columns=["step", "instance", "loss"])
    return Run(config=config, model=ToyModel.from_weights(W, torch.full(W.shape[:2], bias)), history=history)


def first_look(linear: list[torch.Tensor] | None = None, dense: list[torch.Tensor] | None = None,
               sparse: list[torch.Tensor] | None = None, bias: float = -0.1):
    """The first look's two runs, FIRST_SEEDS instances at each of S = 0, 0.5, 0.9: by default the paper's picture
    (the linear model keeps features 0 and 1; the ReLU model too when dense, a pentagon when sparse)."""
    configs = first_look_configs(False)
    linear = linear or [dedicated(2)] * 3 * FIRST_SEEDS
    relu = (dense or [dedicated(2)] * FIRST_SEEDS) + [pentagon()] * FIRST_SEEDS + (sparse or [pentagon()] * FIRST_SEEDS)
    return FIRST_LOOK.analyze({"linear": toy_run(configs["linear"], linear),
                               "relu": toy_run(configs["relu"], relu, bias)}, False)


def swap_second_for_third() -> torch.Tensor:
    """Features 0 and 2 on the axes, feature 1 dropped."""
    W = torch.zeros(N, M)
    W[0, 0], W[2, 1] = 1.0, 1.0
    return W


@CASES.case("first-look.linear-top-two", holds=True)
def linear_model_with_the_top_two_on_the_axes():
    return first_look()


@CASES.case("first-look.linear-top-two", holds=False)
def linear_model_that_keeps_feature_2_in_one_instance():
    return first_look(linear=[dedicated(2)] * (3 * FIRST_SEEDS - 1) + [swap_second_for_third()])


@CASES.case("first-look.relu-dense-two", holds=True)
def dense_relu_model_with_the_top_two():
    return first_look()


@CASES.case("first-look.relu-dense-two", holds=False)
def dense_relu_model_that_keeps_features_0_and_2_in_half_the_instances():
    half = FIRST_SEEDS // 2
    return first_look(dense=[dedicated(2)] * half + [swap_second_for_third()] * (FIRST_SEEDS - half))


@CASES.case("first-look.relu-sparse-all-five", holds=True)
def sparse_relu_model_with_pentagons():
    return first_look()


@CASES.case("first-look.relu-sparse-all-five", holds=False)
def sparse_relu_model_with_two_antipodal_pairs_in_half_the_instances():
    half = FIRST_SEEDS // 2
    return first_look(sparse=[pentagon()] * half + [dedicated(4)] * (FIRST_SEEDS - half))


@CASES.case("first-look.negative-bias", holds=True)
def pentagons_with_a_negative_bias():
    # neighbours in a pentagon sit at 72 degrees: positive interference 2 cos 72 = 0.62 per feature
    return first_look(bias=-0.1)


@CASES.case("first-look.negative-bias", holds=False)
def pentagons_with_a_positive_bias():
    return first_look(bias=0.05)


def intro(counts: list[int], sparsest: torch.Tensor | None = None, decoy_loss: float = 0.2):
    """The intro run with two fits per density: the picture given by `counts` (loss 0.1) and a decoy that keeps
    only two features everywhere (loss `decoy_loss`); the analysis must read the fit with the lower loss."""
    shapes = {2: dedicated(2), 3: dedicated(3), 4: dedicated(4), 5: pentagon()}
    Ws = [shapes[c] for c in counts]
    if sparsest is not None:
        Ws[-1] = sparsest
    fits = [w for W in Ws for w in (W, dedicated(2))]
    losses = [loss for _ in Ws for loss in (0.1, decoy_loss)]
    return INTRO.analyze({"relu": toy_run(intro_configs(False, fits=2)["relu"], fits, losses=losses)}, False)


def test_intro_reads_the_lowest_loss_fit_of_each_density():
    # the same fits, but now the decoy (two features at every density) has the lower loss
    claims = intro([2, 2, 3, 4, 4, 4, 5, 5, 5, 5], decoy_loss=0.05).by_id()
    assert not claims["intro.more-features-when-sparse"].reproduced
    assert "[2, 2, 2, 2, 2, 2, 2, 2, 2, 2]" in claims["intro.more-features-when-sparse"].measured


@CASES.case("intro.more-features-when-sparse", holds=True)
def counts_rise_with_sparsity():
    return intro([2, 2, 3, 4, 4, 4, 5, 5, 5, 5])


@CASES.case("intro.more-features-when-sparse", holds=False)
def counts_with_ties_that_rank_correlate_below_the_bar():
    # argsort-of-argsort ranks gave 0.891 here; with ties averaged the correlation is 0.788 < 0.8
    return intro([2, 2, 3, 4, 3, 5, 5, 4, 4, 5])


@CASES.case("intro.pentagon", holds=True)
def a_regular_pentagon_at_the_sparsest_density():
    return intro([2, 2, 3, 4, 4, 4, 5, 5, 5, 5])


@CASES.case("intro.pentagon", holds=False)
def a_squashed_pentagon_at_the_sparsest_density():
    squashed = pentagon() * torch.tensor([1.0, 0.5])
    return intro([2, 2, 3, 4, 4, 4, 5, 5, 5, 5], sparsest=squashed)


@CASES.case("intro.antipodal-pairs", holds=True)
def two_antipodal_pairs_in_between():
    return intro([2, 2, 3, 4, 4, 4, 5, 5, 5, 5])


@CASES.case("intro.antipodal-pairs", holds=False)
def no_instance_with_two_pairs():
    return intro([2, 2, 2, 3, 3, 3, 5, 5, 5, 5])


# ---------------------------------------------------------------------------------------------- sparsity sweeps


def spread(n: int, m: int, k: int) -> torch.Tensor:
    """k of n features represented: the first m on the basis (dedicated), the rest at fixed random unit directions."""
    W = torch.zeros(n, m)
    W[: min(k, m)] = torch.eye(m)[: min(k, m)]
    if k > m:
        extra = torch.randn(k - m, m, generator=torch.Generator().manual_seed(k))
        W[m:k] = extra / extra.norm(dim=-1, keepdim=True)
    return W


def layout(n: int, m: int, dedicated: list[int], pairs: list[tuple[int, int]]) -> torch.Tensor:
    """Features with a dimension of their own, then antipodal pairs, each pair on the next dimension."""
    W = torch.zeros(n, m)
    for d, i in enumerate(dedicated):
        W[i, d] = 1.0
    for d, (i, j) in enumerate(pairs, start=len(dedicated)):
        W[i, d], W[j, d] = 1.0, -1.0
    return W


TOP_TWO_ALONE = layout(20, 5, [0, 1], [(2, 3), (4, 5), (6, 7)])  # features 0, 1 dedicated; 2-7 share dimensions
SECOND_PAIRED = layout(20, 5, [0], [(1, 2), (3, 4), (5, 6), (7, 8)])  # feature 1 in an antipodal pair with 2


def sweep(n20: list[int] | None = None, n100: list[int] | None = None, middle: list[torch.Tensor] | None = None,
          dense: torch.Tensor | None = None):
    """The sweep's two runs at 1-S = 1, 0.3, 0.1, 0.03, 0.01, by represented count; `middle` replaces the n = 20
    instances at 0.3, 0.1, 0.03 and `dense` the one at 1."""
    configs = sweep_configs(False)
    small = [spread(20, 5, k) for k in n20 or [5, 8, 8, 8, 12]]
    if middle is not None:
        small[1:4] = middle
    if dense is not None:
        small[0] = dense
    large = [spread(100, 20, k) for k in n100 or [20, 34, 43, 59, 77]]
    return SWEEP.analyze({"n20": toy_run(configs["n20"], small), "n100": toy_run(configs["n100"], large)}, False)


@CASES.case("sweep.n20.more-features-when-sparse", holds=True)
def n20_counts_rise():
    return sweep(n20=[5, 8, 9, 11, 12])


@CASES.case("sweep.n20.more-features-when-sparse", holds=False)
def n20_count_drops_at_one_density():
    return sweep(n20=[5, 8, 7, 11, 12])


@CASES.case("sweep.n100.more-features-when-sparse", holds=True)
def n100_counts_rise():
    return sweep(n100=[20, 34, 43, 59, 77])


@CASES.case("sweep.n100.more-features-when-sparse", holds=False)
def n100_counts_flat():
    return sweep(n100=[20, 20, 20, 20, 20])


@CASES.case("sweep.n20.dense-top-m", holds=True)
def dense_model_keeps_the_top_five():
    return sweep()


@CASES.case("sweep.n20.dense-top-m", holds=False)
def dense_model_keeps_feature_5_instead_of_4():
    W = spread(20, 5, 5)
    W[[4, 5]] = W[[5, 4]]
    return sweep(dense=W)


@CASES.case("sweep.n20.important-stay-orthogonal", holds=True)
def top_two_keep_their_dimensions_while_the_rest_pair_up():
    return sweep(middle=[TOP_TWO_ALONE] * 3)


@CASES.case("sweep.n20.important-stay-orthogonal", holds=False)
def second_feature_pairs_up_at_the_first_sparse_density():
    # what the source's setting gives at 1-S = 0.3 in one of eight fits: feature 1 antipodal with feature 2
    return sweep(middle=[SECOND_PAIRED, TOP_TWO_ALONE, TOP_TWO_ALONE])


test_verdict = CASES.test()
