"""Both ways for the n = 3, m = 2 phase diagram: hand-made seeds, each cell holding one of the five candidate solutions
at its best bias, fed to the experiment's analysis on the quick grid (5 x 5 cells, 3 seeds); and hand-made diagrams
fed to the exact claims."""

from functools import cache

import numpy as np
import pandas as pd
import pytest
import torch
from claim_cases import BothWays

from superposition.analysis.phase import PhaseDiagram
from superposition.analysis.phase3 import LABELS3, PAPER_LABELS, best_solution3, theoretical_diagram3
from superposition.experiments.phase3 import (
    PHASE3,
    dense_claim,
    fine_grid,
    grid,
    pairings_claim,
    phase3_configs,
    triangle_claim,
)
from superposition.models import ToyModel
from superposition.runs import Run

CASES = BothWays()
N, D, E, O, T = LABELS3
R, P, SEEDS, _ = grid(True)


@cache
def theory() -> PhaseDiagram:
    return theoretical_diagram3(R, P)


@cache
def fine() -> tuple[PhaseDiagram, PhaseDiagram]:
    ours = theoretical_diagram3(*fine_grid(True))
    return ours, theoretical_diagram3(*fine_grid(True), PAPER_LABELS, losses=ours.losses)


@cache
def solution(label: str, i: int, j: int):
    s = best_solution3(label, float(R[i]), float(P[j]))
    return torch.tensor(s.W, dtype=torch.float32), torch.tensor(s.b, dtype=torch.float32)


def stuck_in(label: str, i: int) -> str:
    """The local minimum a seed gets stuck in instead of `label`: the wrong pairing, or a feature dropped."""
    return {E: O, O: E, T: E, N: D, D: N}[label] if R[i] != 1 else {E: N, N: E, T: N}[label]


def seed_run(seed: int, labels: np.ndarray) -> Run:
    """A run of the quick grid whose instance for cell (i, j) is the candidate labels[i, j] at its best bias."""
    cells = [solution(labels[i, j], i, j) for i in range(len(R)) for j in range(len(P))]  # r-major
    W, b = torch.stack([w for w, _ in cells]), torch.stack([bb for _, bb in cells])
    history = pd.DataFrame([(100, k, 0.1) for k in range(len(cells))], columns=["step", "instance", "loss"])
    return Run(config=phase3_configs(True)[f"seed{seed}"], model=ToyModel.from_weights(W, b), history=history)


def analyze(*per_seed: np.ndarray):
    assert len(per_seed) == len(SEEDS)
    return PHASE3.analyze({f"seed{s}": seed_run(s, labels) for s, labels in zip(SEEDS, per_seed)}, True)


@cache
def stuck() -> np.ndarray:
    """The theory's labels with every cell replaced by a worse candidate."""
    labels = theory().labels.copy()
    for i, j in np.ndindex(labels.shape):
        labels[i, j] = stuck_in(labels[i, j], i)
    return labels


@cache
def optimum_everywhere():
    return analyze(*[theory().labels] * len(SEEDS))


@cache
def one_seed_stuck():
    return analyze(theory().labels, stuck(), theory().labels)


@cache
def two_seeds_stuck():
    return analyze(stuck(), theory().labels, stuck())


@CASES.case("phase3.theory-matches-training", holds=True)
def best_seed_is_the_optimum_even_when_most_are_stuck():
    return two_seeds_stuck()


@CASES.case("phase3.theory-matches-training", holds=False)
def every_seed_stuck():
    return analyze(stuck(), stuck(), stuck())


@CASES.case("phase3.most-seeds-find-it", holds=True)
def two_of_three_seeds_find_the_optimum():
    return one_seed_stuck()


@CASES.case("phase3.most-seeds-find-it", holds=False)
def two_of_three_seeds_stuck():
    return two_seeds_stuck()


@CASES.case("phase3.paper-reading-matches", holds=True)
def the_discarded_seed_is_the_stuck_one():
    return one_seed_stuck()


@CASES.case("phase3.paper-reading-matches", holds=False)
def every_seed_stuck_so_none_is_left_after_discarding_the_worst():
    return every_seed_stuck()


@CASES.case("phase3.triangle-trained", holds=True)
def one_seed_finds_the_triangle():
    return two_seeds_stuck()


@CASES.case("phase3.triangle-trained", holds=False)
def no_seed_finds_the_triangle():
    no_triangle = theory().labels.copy()
    no_triangle[no_triangle == T] = E
    return analyze(no_triangle, stuck(), no_triangle)


@CASES.case("phase3.triangle-wins", holds=True)
def the_exact_theory():
    return triangle_claim(*fine())


@CASES.case("phase3.triangle-wins", holds=False)
def a_theory_where_the_triangle_never_wins():
    ours, paper = fine()
    return triangle_claim(PhaseDiagram(ours.r_values, ours.p_values, paper.labels, losses=ours.losses), paper)


@CASES.case("phase3.two-pairings", holds=True)
def the_exact_theory_of_pairs():
    return pairings_claim(fine()[0])


@CASES.case("phase3.two-pairings", holds=False)
def the_extra_feature_paired_even_when_it_matters_most():
    ours = fine()[0]
    labels = ours.labels.copy()
    labels[ours.r_values > 1, -1] = E
    return pairings_claim(PhaseDiagram(ours.r_values, ours.p_values, labels))


@CASES.case("phase3.dense-no-superposition", holds=True)
def the_exact_dense_column():
    return dense_claim(fine()[0])


@CASES.case("phase3.dense-no-superposition", holds=False)
def a_triangle_at_the_dense_end():
    ours = fine()[0]
    labels = ours.labels.copy()
    labels[len(ours.r_values) // 2, 0] = T
    return dense_claim(PhaseDiagram(ours.r_values, ours.p_values, labels))


test_verdict = CASES.test()


def moved(where: str) -> tuple[PhaseDiagram, PhaseDiagram]:
    """(ours, paper) from the fine theory, with the triangle cells moved to the sparsest densities of their rows, or
    to r = 10 at their densities, or left in place with the paper's diagram differing from ours elsewhere too."""
    ours, paper = fine()
    labels = paper.labels.copy()
    cells = np.argwhere(ours.labels == T)
    last = len(ours.p_values) - 1
    for k, (i, j) in enumerate(cells):
        i, j = {"sparse": (i, last - k), "important": (len(ours.r_values) - 1, j), "elsewhere": (i, j)}[where]
        labels[i, j] = T
    other = labels.copy()
    other[other == T] = E
    if where == "elsewhere":
        other[0, 0] = O
    return PhaseDiagram(ours.r_values, ours.p_values, labels, losses=ours.losses), \
        PhaseDiagram(ours.r_values, ours.p_values, other)


@pytest.mark.parametrize("where,failing", [
    ("sparse", "every triangle cell has 1 − S within 0.5..0.75"),
    ("important", "every triangle cell has r within 0.7..1.4"),
    ("elsewhere", "the paper's four-solution diagram differs from ours only where the triangle wins"),
])
def test_each_condition_of_the_triangle_claim_can_fail_alone(where, failing):
    claim = triangle_claim(*moved(where))
    assert [c.text for c in claim.checks if not c.holds] == [failing]


def test_the_claims_name_the_triangle_region_and_the_misses():
    claims = two_seeds_stuck().by_id()
    tri = claims["phase3.triangle-wins"]
    assert "r = 1..1" in tri.measured and "1 − S = 0.562..0.562" in tri.measured
    assert "1 triangle cell(s) (r = 1, 1 − S = 0.562)" in claims["phase3.triangle-trained"].measured
    assert claims["phase3.theory-matches-training"].note == ""  # the best seed never misses here
    note = every_seed_stuck().by_id()["phase3.theory-matches-training"].note
    assert note.startswith("Where the best seed misses:") and "from the theory's triangle" in note


def test_the_figures_show_both_theories_then_the_trained_grid():
    figures = two_seeds_stuck().figures
    assert [a.text for a in figures[0].layout.annotations][:2] == [
        "theory, the paper's four solutions", "theory with the triangle"]
    assert [a.text for a in figures[1].layout.annotations][-1] == "seeds (of 3) in the theory's solution"
    share = np.asarray(figures[1].data[3].z)
    assert share.shape == (len(R), len(P)) and np.allclose(share, 1 / 3)
