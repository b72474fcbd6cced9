"""Both ways for the phase diagram (n = 2 features in m = 1 dimension): hand-made seeds, each cell holding one of the
three candidate solutions at its best bias, fed to the experiment's analysis on the quick grid (6 x 6 cells, 3 seeds);
and hand-made diagrams fed to the exact claim `grows_claim`."""

from functools import cache

import numpy as np
import pandas as pd
import pytest
import torch
from claim_cases import BothWays

from superposition.analysis.phase import LABELS, PhaseDiagram, best_solution, theoretical_diagram
from superposition.experiments.phase import PHASE, grid, grows_claim, phase_configs_named
from superposition.models import ToyModel
from superposition.runs import Run

CASES = BothWays()
N, D, S = LABELS  # "not represented", "dedicated", "superposition"
R, P, SEEDS, _ = grid(True)


@cache
def theory() -> PhaseDiagram:
    return theoretical_diagram(R, P)


@cache
def solution(label: str, i: int, j: int):
    s = best_solution(label, float(R[i]), float(P[j]))
    return torch.tensor(s.W, dtype=torch.float32), torch.tensor(s.b, dtype=torch.float32)


def one_feature(i: int) -> str:
    """The one-feature solution a seed gets stuck in: the more important feature keeps the dimension."""
    return N if R[i] <= 1 else D


def seed_run(seed: int, labels: np.ndarray) -> Run:
    """A run of the quick grid whose instance for cell (i, j) is the candidate labels[i, j] at its best bias."""
    cells = [solution(labels[i, j], i, j) for i in range(len(R)) for j in range(len(P))]  # r-major, as phase_configs
    W, b = torch.stack([w for w, _ in cells]), torch.stack([bb for _, bb in cells])
    history = pd.DataFrame([(100, k, 0.1) for k in range(len(cells))], columns=["step", "instance", "loss"])
    return Run(config=phase_configs_named(True)[f"seed{seed}"], model=ToyModel.from_weights(W, b), history=history)


def analyze(*per_seed: np.ndarray):
    assert len(per_seed) == len(SEEDS)
    return PHASE.analyze({f"seed{s}": seed_run(s, labels) for s, labels in zip(SEEDS, per_seed)}, True)


def stuck() -> np.ndarray:
    """The theory's labels, with every superposition cell replaced by its one-feature local minimum."""
    labels = theory().labels.copy()
    for i, j in np.argwhere(labels == S):
        labels[i, j] = one_feature(i)
    return labels


def superposed_when_dense() -> np.ndarray:
    labels = theory().labels.copy()
    labels[:, 0] = S
    return labels


def one_dense_pair() -> np.ndarray:
    """The theory's diagram with one dense cell superposed, next to a sparser pair (so the region still grows)."""
    labels = theory().labels.copy()
    labels[2, 0] = S
    return labels


@cache
def every_seed_finds_the_optimum():
    return analyze(*[theory().labels] * len(SEEDS))


@cache
def one_seed_finds_the_pair_and_two_stay_stuck():
    return analyze(theory().labels, stuck(), stuck())


@cache
def one_seed_stuck():
    return analyze(theory().labels, stuck(), theory().labels)


@CASES.case("phase.theory-matches-training", holds=True)
def best_seed_is_the_optimum_even_when_most_are_stuck():
    return one_seed_finds_the_pair_and_two_stay_stuck()


@CASES.case("phase.theory-matches-training", holds=False)
def every_seed_stuck_in_a_one_feature_solution():
    return analyze(stuck(), stuck(), stuck())


@CASES.case("phase.most-seeds-find-it", holds=True)
def two_of_three_seeds_find_the_optimum():
    return one_seed_stuck()


@CASES.case("phase.most-seeds-find-it", holds=False)
def two_of_three_seeds_stuck_in_the_superposition_region():
    return one_seed_finds_the_pair_and_two_stay_stuck()


@CASES.case("phase.paper-reading-matches", holds=True)
def the_discarded_seed_is_the_stuck_one():
    return one_seed_stuck()


@CASES.case("phase.paper-reading-matches", holds=False)
def after_discarding_the_worst_seed_no_majority_finds_the_pair():
    return one_seed_finds_the_pair_and_two_stay_stuck()


@CASES.case("phase.dense-no-superposition-trained", holds=True)
def dense_cells_keep_one_feature():
    return every_seed_finds_the_optimum()


@CASES.case("phase.dense-no-superposition-trained", holds=False)
def dense_cells_superposed():
    return analyze(*[superposed_when_dense()] * len(SEEDS))


@CASES.case("phase.superposition-grows-with-sparsity", holds=True)
def the_exact_theory():
    return grows_claim(theory())


@CASES.case("phase.superposition-grows-with-sparsity", holds=False)
def a_diagram_with_superposition_at_the_dense_end():
    return grows_claim(PhaseDiagram(R, P, one_dense_pair()))


test_verdict = CASES.test()


def region(mask: np.ndarray) -> np.ndarray:
    """Labels with the pair where `mask` [n_r, n_p] holds and the more important feature alone elsewhere."""
    return np.where(mask, S, np.where(R[:, None] <= 1, N, D)).astype(object)


def shrinking_region() -> np.ndarray:
    mask = theory().labels == S
    mask[[0, -1], 3] = False  # one column's region narrower than its denser neighbour's
    return region(mask)


def off_centre() -> np.ndarray:
    mask = np.zeros((len(R), len(P)), dtype=bool)
    mask[R < 1, 2:] = True  # the pair only for r < 1, at every density from the third on
    mask[(R > 0.5) & (R < 1), 1] = True
    return region(mask)


@pytest.mark.parametrize("labels,failing", [
    (one_dense_pair, "share of superposition cells at 1-S = 1 == 0"),
    (shrinking_region, "share of superposition cells non-decreasing with sparsity"),
    (off_centre, "the sparsest column's superposition region contains r = 1"),
])
def test_each_condition_of_the_exact_claim_can_fail_alone(labels, failing):
    claim = grows_claim(PhaseDiagram(R, P, labels()))
    assert [c.text for c in claim.checks if not c.holds] == [failing]


def test_the_seeds_claim_counts_the_seeds_in_the_theory_solution_and_the_loss_of_the_stuck_ones():
    claims = one_seed_finds_the_pair_and_two_stay_stuck().by_id()
    sup = int((theory().labels == S).sum())
    most = claims["phase.most-seeds-find-it"]
    # the pair cells hold 1 of 3 seeds in the theory's solution, the others 3 of 3
    share = (sup / 3 + (R.size * P.size - sup)) / (R.size * P.size)
    assert f"{100 * share:.3g}% of the 3 x 36 trained (seed, cell) pairs" in most.measured
    assert f"33.3% in its {sup} superposition cells, 100% elsewhere" in most.measured
    assert f"The majority misses in {sup} cells, {sup} of them in the theory's superposition region" in most.note
    assert "one-feature local minimum" in most.note
    assert "The majority misses" not in every_seed_finds_the_optimum().by_id()["phase.most-seeds-find-it"].note


def test_the_figure_adds_a_panel_with_the_share_of_seeds_in_the_theory_solution():
    figure = one_seed_finds_the_pair_and_two_stay_stuck().figures[0]
    assert [a.text for a in figure.layout.annotations][-1] == "seeds (of 3) in the theory's solution"
    share = np.asarray(figure.data[3].z)
    assert share.shape == (len(R), len(P))
    assert np.allclose(share[theory().labels == S], 1 / 3) and np.allclose(share[theory().labels != S], 1.0)
