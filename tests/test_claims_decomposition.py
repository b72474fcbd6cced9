"""Both ways for the decomposition experiment: hand-made weights of the arrangements the claims name (PCA, antipodal
pairs whose interference is all negative, a pentagon whose positive interference a negative bias cuts off or not),
fed to the claims' functions through the exact decomposition, and the whole analysis on hand-made runs."""

import math

import pandas as pd
import torch
from claim_cases import BothWays

from superposition.analysis.decomposition import linear_split, one_sparse
from superposition.experiments.decomposition import (
    DECOMPOSITION,
    bias_claim,
    decomposition_configs,
    free_share_claim,
    linear_claim,
    more_free_claim,
)
from superposition.models import ToyModel
from superposition.runs import Run

CASES = BothWays()
DENSITY = [0.5, 0.1, 0.01]
ANGLE = torch.arange(5) * 2 * math.pi / 5
PENTAGON = torch.stack([ANGLE.cos(), ANGLE.sin()], -1)  # neighbours at cos 72° > 0: positive interference
NONE = torch.tensor([[1.0, 0], [0, 1], [0, 0], [0, 0], [0, 0]])  # two dedicated dimensions, no interference
ONE_PAIR = torch.tensor([[1.0, 0], [-1, 0], [0, 1], [0, 0], [0, 0]])  # an antipodal pair: negative only
TWO_PAIRS = torch.tensor([[1.0, 0], [-1, 0], [0, 1], [0, -1], [0, 0]])
SHARED = torch.tensor([[1.0, 0], [0.8, 0.6], [0, 1], [0, 0], [0, 0]])  # features 0 and 1 at cos 0.8: positive
MIXED = torch.tensor([[1.0, 0], [-1, 0], [0.8, 0.6], [0, 0], [0, 0]])  # an antipodal pair and a positive overlap


def relu_terms(Ws, biases):
    W = torch.stack(Ws)
    b = torch.tensor(biases, dtype=torch.float32)[:, None].expand(W.shape[:2])
    importance = (0.9 ** torch.arange(5.0)).expand(W.shape[:2])
    probability = torch.tensor(DENSITY[:len(Ws)])[:, None].expand(W.shape[:2])
    return (one_sparse(W, b, importance, probability),
            one_sparse(W, torch.zeros_like(b), importance, probability))


def linear(Ws):
    W = torch.stack(Ws)
    importance = (0.9 ** torch.arange(5.0)).expand(W.shape[:2])
    probability = torch.tensor(DENSITY)[:, None].expand(W.shape[:2])
    return linear_claim(linear_split(W, None, importance, probability), W, importance, DENSITY)


@CASES.case("decomposition.linear-no-interference", holds=True)
def linear_pca_at_every_density():
    return linear([NONE] * 3)


@CASES.case("decomposition.linear-no-interference", holds=False)
def linear_with_two_features_sharing_a_direction():
    return linear([NONE, SHARED, NONE])


@CASES.case("decomposition.free-share-grows", holds=True)
def positive_overlap_then_mixed_then_antipodal():
    d, _ = relu_terms([SHARED, MIXED, TWO_PAIRS], [0.0, 0.0, 0.0])
    return free_share_claim(d, DENSITY)


@CASES.case("decomposition.free-share-grows", holds=False)
def antipodal_then_mixed_then_positive_overlap():
    d, _ = relu_terms([TWO_PAIRS, MIXED, SHARED], [0.0, 0.0, 0.0])
    return free_share_claim(d, DENSITY)


@CASES.case("decomposition.more-interference-all-free", holds=True)
def more_antipodal_pairs_as_sparsity_grows():
    d, _ = relu_terms([NONE, ONE_PAIR, TWO_PAIRS], [0.0, 0.0, 0.0])
    return more_free_claim(d, DENSITY)


@CASES.case("decomposition.more-interference-all-free", holds=False)
def a_pentagon_whose_positive_interference_is_not_cut():
    d, _ = relu_terms([NONE, ONE_PAIR, PENTAGON], [0.0, 0.0, 0.0])
    return more_free_claim(d, DENSITY)


@CASES.case("decomposition.bias-cheapens-positive-interference", holds=True)
def pentagon_with_a_negative_bias():
    d, d0 = relu_terms([NONE, ONE_PAIR, PENTAGON], [0.0, 0.0, -0.3])
    return bias_claim(d, d0, DENSITY)


@CASES.case("decomposition.bias-cheapens-positive-interference", holds=False)
def pentagon_with_a_bias_too_small_to_cut_it():
    d, d0 = relu_terms([NONE, ONE_PAIR, PENTAGON], [0.0, 0.0, -0.02])
    return bias_claim(d, d0, DENSITY)


def test_bias_claim_fails_when_no_instance_carries_positive_interference():
    d, d0 = relu_terms([NONE, ONE_PAIR, TWO_PAIRS], [0.0, 0.0, -0.3])
    claim = bias_claim(d, d0, DENSITY)
    assert not claim.reproduced and "no instance" in claim.measured


def test_the_whole_analysis_reads_hand_made_runs():
    configs = decomposition_configs(quick=True)

    def run_of(config, build):
        n_inst, n = config.data.n_instances, config.data.n_features
        W = torch.zeros(n_inst, n, config.model.n_hidden)
        b = torch.zeros(n_inst, n)
        for k in range(n_inst):
            build(k, W[k], b[k])
        history = pd.DataFrame([(10, k, 0.1) for k in range(n_inst)], columns=["step", "instance", "loss"])
        return Run(config=config, model=ToyModel.from_weights(W, b, kind=config.model.kind), history=history)

    def pca(k, W, b):
        W[:5] = torch.eye(5)

    def superposed(k, W, b):  # dense: PCA; sparser: antipodal pairs; sparsest: a pentagon in a plane, cut off
        W[:5] = torch.eye(5)
        if k >= 1:
            W[5:10] = -torch.eye(5)
        if k == 3:
            W[10:15, :2] = PENTAGON
            b[:] = -0.3

    runs = {"relu": run_of(configs["relu"], superposed), "linear": run_of(configs["linear"], pca)}
    findings = DECOMPOSITION.analyze(runs, True)
    claims = findings.by_id()
    assert len(findings.figures) == 3 and set(claims) == {spec.id for spec in DECOMPOSITION.claims}
    assert claims["decomposition.linear-no-interference"].reproduced
    assert claims["decomposition.bias-cheapens-positive-interference"].reproduced


test_verdict = CASES.test()
