"""Both ways for the correlated-features experiment: hand-made weights of the arrangements the paper names
(antipodal pairs, orthogonal pairs, a pair collapsed onto its principal component), fed to its analysis."""

import pandas as pd
import torch
from claim_cases import BothWays

from superposition.experiments.correlated import CORRELATED, CORRELATED_DENSITY, SEEDS, correlated_configs
from superposition.models import ToyModel
from superposition.runs import Run

CASES = BothWays()
R = 2**-0.5


def run_of(config, Ws: list[torch.Tensor], losses: list[float] | None = None) -> Run:
    W = torch.stack(Ws)
    losses = losses or [0.1] * len(Ws)
    history = pd.DataFrame([(100, k, loss) for k, loss in enumerate(losses)], columns=["step", "instance", "loss"])
    return Run(config=config, model=ToyModel.from_weights(W, torch.zeros(W.shape[:2])), history=history)


def plane(*rows: tuple[float, float]) -> torch.Tensor:
    return torch.tensor(rows)


ANTIPODAL_PAIRS = plane((1, 0), (-1, 0), (0, 1), (0, -1))  # pair (0, 1) and pair (2, 3) each antipodal
ORTHOGONAL_PAIRS = plane((1, 0), (0, 1), (-1, 0), (0, -1))  # within each pair orthogonal; the pairs antipodal
COLLAPSED_PAIR = plane((R, R), (R, R), (-1, 0), (1, 0))  # pair (0, 1) on its shared direction, norms 1/sqrt(2)
DROPPED_FEATURE = plane((1, 0), (0, 0), (-1, 0), (0, -1))
SHARED_DIRECTION = torch.tensor([[R], [R]])  # two correlated features in one dimension, both at 1/sqrt(2)
ONE_KEPT = torch.tensor([[1.0], [0.0]])


def correlated(anti=None, indep=None, corr=None, no_room=None):
    """The experiment's four runs; by default the paper's picture in every instance. The correlated run has two fits
    per density: `corr` gives (fit, loss) pairs, by default an orthogonal fit (loss 0.1) beside a collapsed one
    (loss 0.2) at every density."""
    configs = correlated_configs(False, fits=2)
    corr = corr or [(ORTHOGONAL_PAIRS, 0.1), (COLLAPSED_PAIR, 0.2)] * len(CORRELATED_DENSITY)
    runs = {"anticorrelated": run_of(configs["anticorrelated"], anti or [ANTIPODAL_PAIRS] * SEEDS),
            "independent": run_of(configs["independent"], indep or [ORTHOGONAL_PAIRS] * SEEDS),
            "correlated": run_of(configs["correlated"], [W for W, _ in corr], [loss for _, loss in corr]),
            "correlated-no-room": run_of(configs["correlated-no-room"], no_room or [SHARED_DIRECTION] * SEEDS)}
    return CORRELATED.analyze(runs, False)


@CASES.case("correlated.anticorrelated-antipodal", holds=True)
def anticorrelated_pairs_antipodal_independent_ones_not():
    return correlated()


@CASES.case("correlated.anticorrelated-antipodal", holds=False)
def anticorrelated_pairs_orthogonal_in_two_instances():
    return correlated(anti=[ANTIPODAL_PAIRS] * (SEEDS - 2) + [ORTHOGONAL_PAIRS] * 2)


def test_anticorrelated_claim_fails_when_independent_features_are_antipodal_too():
    # the pairing must be what makes them antipodal: at the same density independent features should not be
    claim = correlated(indep=[ANTIPODAL_PAIRS] * SEEDS).by_id()["correlated.anticorrelated-antipodal"]
    assert not claim.reproduced, claim.measured


@CASES.case("correlated.correlated-orthogonal", holds=True)
def lowest_loss_fit_orthogonal_at_every_density():
    return correlated()


@CASES.case("correlated.correlated-orthogonal", holds=False)
def lowest_loss_fit_collapsed_at_one_density_and_dropping_a_feature_at_another():
    others = [(ORTHOGONAL_PAIRS, 0.1), (COLLAPSED_PAIR, 0.2)] * (len(CORRELATED_DENSITY) - 2)
    return correlated(corr=[(ORTHOGONAL_PAIRS, 0.2), (COLLAPSED_PAIR, 0.1), (DROPPED_FEATURE, 0.1),
                            (ORTHOGONAL_PAIRS, 0.2)] + others)


@CASES.case("correlated.collapse", holds=True)
def two_correlated_features_share_one_direction():
    return correlated()


@CASES.case("correlated.collapse", holds=False)
def one_correlated_feature_kept_the_other_dropped():
    half = SEEDS // 2
    return correlated(no_room=[SHARED_DIRECTION] * half + [ONE_KEPT] * (SEEDS - half))


test_verdict = CASES.test()
