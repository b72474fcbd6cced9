"""Both ways for the adversarial experiment. The robustness claims run the experiment's analysis on hand-built runs:
features with dimensions of their own, antipodal pairs and pentagons packed into m = 5 dimensions. The paper's
vulnerability claims take measured quantities (features per dimension and vulnerability per instance) through the
experiment's claim function."""

import math

import pandas as pd
import torch
from claim_cases import BothWays

from superposition.experiments.adversarial import (
    ADVERSARIAL,
    DENSITY,
    N_FEATURES,
    N_HIDDEN,
    adversarial_configs,
    vulnerability_claims,
)
from superposition.models import ToyModel
from superposition.runs import Run

CASES = BothWays()


def arrangement(pairs: int = 0, pentagons: int = 0) -> torch.Tensor:
    """One instance's W `[N_FEATURES, N_HIDDEN]`: `pentagons` pentagons (two dimensions each), then `pairs` antipodal
    pairs (one dimension each), then dedicated features in the dimensions left; the other features unrepresented."""
    W = torch.zeros(N_FEATURES, N_HIDDEN)
    feature, dim = 0, 0
    for _ in range(pentagons):
        for k in range(5):
            angle = 2 * math.pi * k / 5
            W[feature, dim], W[feature, dim + 1] = math.cos(angle), math.sin(angle)
            feature += 1
        dim += 2
    for _ in range(pairs):
        W[feature, dim], W[feature + 1, dim] = 1.0, -1.0
        feature, dim = feature + 2, dim + 1
    for d in range(dim, N_HIDDEN):
        W[feature, d] = 1.0
        feature += 1
    return W


# From no superposition (five dedicated features) to two pentagons and a pair; one instance per density, densest
# first, as the experiment trains them.
PACKINGS = [arrangement(), arrangement(), arrangement(pairs=1), arrangement(pairs=2), arrangement(pairs=3),
            arrangement(pairs=5), arrangement(pentagons=1, pairs=2), arrangement(pentagons=1, pairs=3),
            arrangement(pentagons=2), arrangement(pentagons=2, pairs=1)]


def analyze(Ws: list[torch.Tensor], biases: list[float] | None = None):
    """The experiment's analysis on a hand-built run: instance k has weights Ws[k] and bias biases[k] on every
    represented feature (0 by default)."""
    config = adversarial_configs(False)["sweep"]  # ten instances; analysed with the quick sample count
    W = torch.stack(Ws)
    rep = W.norm(dim=-1) > 0
    b = torch.tensor(biases or [0.0] * len(Ws))[:, None] * rep
    history = pd.DataFrame([(100, k, 0.1) for k in range(len(Ws))], columns=["step", "instance", "loss"])
    return ADVERSARIAL.analyze({"sweep": Run(config=config, model=ToyModel.from_weights(W, b), history=history)}, True)


def test_hand_built_runs_match_the_experiment():
    assert len(PACKINGS) == len(DENSITY)
    findings = analyze(PACKINGS)
    assert [c.id for c in findings.claims] == [spec.id for spec in ADVERSARIAL.claims]
    assert len(findings.figures) == 2


@CASES.case("adversarial.dedicated-features-need-their-norm", holds=True)
def dedicated_features_need_their_whole_input():
    return analyze(PACKINGS)


@CASES.case("adversarial.dedicated-features-need-their-norm", holds=False)
def dedicated_features_with_a_negative_bias_give_way_early():
    # The dense instances' dedicated features carry b = -0.3: erasing 70% of the input switches them off.
    return analyze(PACKINGS, [-0.3, -0.3] + [0.0] * 8)


@CASES.case("adversarial.robustness-falls-with-superposition", holds=True)
def packing_more_features_per_dimension_shortens_the_distance():
    return analyze(PACKINGS)


@CASES.case("adversarial.robustness-falls-with-superposition", holds=False)
def positive_biases_make_the_packed_features_robust():
    # Biases that grow with the packing push every superposed feature's distance past the dedicated ones' 1.
    return analyze(PACKINGS, [0.0, 0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2])


# Features per dimension and vulnerability of five instances, densest (no superposition) first.
FPD = [1.0, 1.2, 1.6, 2.0, 2.5]


@CASES.case("adversarial.vulnerability-tracks-superposition", holds=True)
def vulnerability_rises_with_features_per_dimension():
    return vulnerability_claims(FPD, [1.0, 1.3, 1.9, 2.6, 3.4])


@CASES.case("adversarial.vulnerability-tracks-superposition", holds=False)
def vulnerability_falls_as_features_per_dimension_rise():
    return vulnerability_claims(FPD, [1.0, 0.7, 0.5, 0.3, 0.2])


@CASES.case("adversarial.sharp-increase", holds=True)
def superposition_more_than_triples_vulnerability():
    return vulnerability_claims(FPD, [1.0, 1.3, 1.9, 2.6, 3.4])


@CASES.case("adversarial.sharp-increase", holds=False)
def superposition_doubles_vulnerability_at_most():
    return vulnerability_claims(FPD, [1.0, 1.2, 1.5, 1.8, 2.0])


test_verdict = CASES.test()
