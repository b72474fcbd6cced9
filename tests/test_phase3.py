"""The n = 3, m = 2 phase diagram: exact losses against Monte Carlo draws of the package's data and model, the five
candidates' closed forms, the classifier on hand-made weights, the theory's limits, and the trained side's table."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import monte_carlo_loss

from superposition.analysis.phase import OTHER, dropped_variance, output_loss
from superposition.analysis.phase3 import (
    LABELS3,
    PAPER_LABELS,
    best_solution3,
    candidate_losses,
    canonical,
    classify_solution3,
    output_loss3,
    seeds3,
    solution_loss3,
    solution_losses3,
    theoretical_diagram3,
)
from superposition.analysis.phase_trained import cell_instance, phase_configs
from superposition.config import make_config

N, D, E, O, T = LABELS3  # not represented, dedicated, extra in pair, others in pair, triangle


def triangle(norms=(1.0, 1.0, 1.0)) -> np.ndarray:
    return np.array([[a * math.cos(2 * math.pi * k / 3), a * math.sin(2 * math.pi * k / 3)] for k, a in enumerate(norms)])


def test_output_loss3_reduces_to_the_two_feature_loss():
    # No interference from the third feature: exactly the n = 2 output loss.
    for u, g, b, p in [(1.0, -1.0, 0.1, 0.3), (0.8, 0.4, -0.2, 0.9), (1.2, -0.5, 0.0, 1.0)]:
        assert float(output_loss3(u, g, 0.0, b, p)) == pytest.approx(float(output_loss(u, g, b, p)), abs=1e-14)
    # The two other features enter symmetrically, and arrays (p included) broadcast.
    a = output_loss3(1.0, -0.3, 0.6, [0.0, 0.1], np.array([0.2, 0.7]))
    b = output_loss3(1.0, 0.6, -0.3, [0.0, 0.1], np.array([0.2, 0.7]))
    assert np.allclose(a, b, atol=1e-14) and a.shape == (2,)
    # No weights, bias 0: the error is E[x^2] = p/3.
    assert float(output_loss3(0.0, 0.0, 0.0, 0.0, 0.6)) == pytest.approx(0.2, abs=1e-12)


def test_exact_loss_matches_monte_carlo_with_the_package_data_and_model():
    fan = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.6]])  # positive interference, cut by a negative bias
    points = [  # (r, p, W, b): the five candidates at their best, plus weights with kinks inside [0, 1]
        (0.5, 0.3, *_best(E, 0.5, 0.3)),
        (2.0, 0.1, *_best(O, 2.0, 0.1)),
        (1.0, 0.6, *_best(T, 1.0, 0.6)),
        (0.3, 0.7, *_best(N, 0.3, 0.7)),
        (3.0, 1.0, *_best(D, 3.0, 1.0)),
        (1.5, 0.5, triangle((0.9, 1.1, 0.7)), np.array([0.2, -0.1, 0.05])),
        (0.8, 0.8, fan, np.array([0.05, 0.0, -0.3])),
        (1.2, 0.4, np.array([[0.9, 0.3], [-1.1, 0.2], [0.1, -0.8]]), np.array([-0.1, 0.15, 0.3])),
    ]
    cfg = make_config(
        data=dict(n_features=3, importance=[[1.0, 1.0, r] for r, *_ in points],
                  feature_probability=[p for _, p, *_ in points]),
        model=dict(kind="relu", n_hidden=2),
    )
    W = torch.tensor(np.stack([w for *_, w, _ in points]), dtype=torch.float64)
    b = torch.tensor(np.stack([bb for *_, bb in points]), dtype=torch.float64)
    mc, se = monte_carlo_loss(W, b, cfg.data)
    exact = solution_losses3(W.numpy(), b.numpy(), np.array([r for r, *_ in points]), np.array([p for _, p, *_ in points]))
    for k, (r, p, w, bb) in enumerate(points):
        assert exact[k] == pytest.approx(solution_loss3(w, bb, r, p), abs=1e-14)
        assert abs(exact[k] - mc[k].item()) < 4 * se[k].item() + 1e-9, (k, exact[k], mc[k].item(), se[k].item())


def _best(label, r, p):
    s = best_solution3(label, r, p)
    return s.W, s.b


def test_candidates_losses_closed_forms_and_weights_agree():
    r, p = 1.7, 0.4
    losses = candidate_losses([r], [p])[:, 0, 0]
    var = dropped_variance(p)
    assert losses[0] == pytest.approx(r * var / 3) and losses[1] == pytest.approx(var / 3)
    assert losses[2] / losses[3] == pytest.approx((1 + r) / 2)  # the same pair, weighted by the features it holds
    for k, label in enumerate(LABELS3):
        s = best_solution3(label, r, p)
        assert s.loss == pytest.approx(losses[k], rel=1e-12)
        assert solution_loss3(s.W, s.b, r, p) == pytest.approx(s.loss, rel=1e-9)  # the weights give that loss
        assert classify_solution3(s.W) == label
    with pytest.raises(ValueError, match="candidate"):
        best_solution3("pentagon", r, p)


def test_the_triangle_loses_when_sparse_because_two_interferences_cost_more_than_one():
    # Two active features, bias 0: an output with interference g loses g^2/3 - |g|^3/6; the 1-sparse terms vanish.
    p = 1e-3
    pair = (2 * float(output_loss3(1.0, -1.0, 0.0, 0.0, p))) / p**2
    tri = (3 * float(output_loss3(1.0, -0.5, -0.5, 0.0, p))) / p**2
    assert pair == pytest.approx(2 * (1 / 3 - 1 / 6), rel=1e-2) and tri == pytest.approx(6 * (1 / 12 - 1 / 48), rel=1e-2)
    assert tri > pair


def test_classify_solution3_on_hand_made_weights():
    assert classify_solution3(triangle((0.9, 1.0, 0.8))) == T
    assert classify_solution3(np.array([[1.0, 0.0], [0.0, 1.0], [-0.95, 0.1]])) == E  # the extra one paired with 1
    assert classify_solution3(torch.tensor([[0.0, 1.0], [0.05, -1.0], [1.0, 0.0]])) == O
    assert classify_solution3(np.array([[0.1, 0.0], [1.0, 0.1], [0.0, 1.0]])) == D
    assert classify_solution3(np.array([[1.0, 0.0], [0.0, 1.0], [0.3, 0.0]])) == N
    assert classify_solution3(np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])) == OTHER  # the fan: positive cosines
    assert classify_solution3(np.array([[1.0, 0.0], [0.7, 0.7], [0.0, 0.1]])) == OTHER  # two kept, not orthogonal
    assert classify_solution3(np.zeros((3, 2))) == OTHER
    # The norm threshold decides a half-kept feature.
    half = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, -0.4]])
    assert classify_solution3(half) == N and classify_solution3(half, norm_threshold=0.3) == E
    with pytest.raises(ValueError, match="shape"):
        classify_solution3(np.zeros((2, 2)))


def test_theory_limits_of_importance_and_sparsity():
    d = theoretical_diagram3([1e-3, 1.0, 1e3], [1.0, 0.01])
    assert d.labels[:, 0].tolist() == [N, N, D]  # dense: a feature dropped, the extra one unless it matters most
    assert d.labels[0, 1] == N  # too unimportant to keep, even when sparse
    assert d.labels[2, 1] == O  # so important that it gets its own dimension, the others paired rather than dropped
    assert d.labels[1, 1] == E  # equal importance and sparse: a pair (E and O tie at r = 1; the first label wins)
    paper = theoretical_diagram3([1.0], [0.6], PAPER_LABELS)
    assert theoretical_diagram3([1.0], [0.6]).labels[0, 0] == T and paper.labels[0, 0] != T
    with pytest.raises(ValueError, match="candidates"):
        theoretical_diagram3([1.0], [0.6], ["pentagon"])


def test_labels_at_r_one_are_renamed_to_the_theory_ties():
    labels = np.array([[[D, O, T]], [[N, E, OTHER]]], dtype=object)  # [seeds, r, p], r = 1
    assert canonical(labels, np.array([1.0])).tolist() == [[[N, E, T]], [[N, E, OTHER]]]
    assert canonical(labels, np.array([2.0])).tolist() == labels.tolist()


def test_phase_configs_for_three_features_and_the_seed_table():
    r, p = [0.5, 1.0], [1.0, 0.1]
    cfg = phase_configs(r, p, seeds=(3,), steps=10, n_features=3, n_hidden=2)[0]
    assert (cfg.data.n_features, cfg.model.n_hidden) == (3, 2)
    assert cfg.data.importance_table()[cell_instance(1, 0, 2)].tolist() == [1.0, 1.0, 1.0]
    assert cfg.data.importance_table()[cell_instance(0, 1, 2)].tolist() == [1.0, 1.0, 0.5]
    # Hand-made seeds: seed 0 holds (D, E, T, O) by cell, seed 1 the others' pair everywhere.
    cells = [(0.5, 1.0, D), (0.5, 0.1, E), (1.0, 1.0, T), (1.0, 0.1, O)]
    sols = [best_solution3(label, rr, pp) for rr, pp, label in cells]
    pair = [best_solution3(O, rr, pp) for rr, pp, _ in cells]
    runs = [SimpleNamespace(W=torch.tensor(np.stack([s.W for s in ss])), b=torch.tensor(np.stack([s.b for s in ss])))
            for ss in (sols, pair)]
    seeds = seeds3(runs, r, p)
    assert seeds.labels[0].tolist() == [[D, E], [T, E]]  # O at r = 1 is E renamed
    assert seeds.labels[1].tolist() == [[O, O], [E, E]]
    expected = np.array([[s.loss for s in ss] for ss in (sols, pair)]).reshape(2, 2, 2)
    assert np.allclose(seeds.losses, expected, rtol=1e-9)  # the vectorised scoring matches each candidate's loss
    assert seeds.diagram("lowest_loss").labels.tolist() == [
        [D if expected[0, 0, 0] < expected[1, 0, 0] else O, E if expected[0, 0, 1] < expected[1, 0, 1] else O],
        [T if expected[0, 1, 0] < expected[1, 1, 0] else E, E]]


def test_free_norms_never_lose_to_unit_norms_and_widen_the_triangle():
    r, p = 1.0, 0.8  # unit norms: a feature dropped; a shrunken triangle does better
    unit = {label: best_solution3(label, r, p) for label in LABELS3}
    free = {label: best_solution3(label, r, p, norm="best") for label in LABELS3}
    for label in LABELS3:
        assert free[label].loss <= unit[label].loss + 1e-15
        assert solution_loss3(free[label].W, free[label].b, r, p) == pytest.approx(free[label].loss, rel=1e-9)
        assert classify_solution3(free[label].W) == label  # the structure is kept, only the norms move
    assert min(unit, key=lambda k: unit[k].loss) == N and min(free, key=lambda k: free[k].loss) == T
    assert np.linalg.norm(free[T].W, axis=1).max() < 0.95
    with pytest.raises(ValueError, match="norm"):
        best_solution3(T, r, p, norm="free")
