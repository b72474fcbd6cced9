"""Superposition as a phase change (Elhage et al. 2022): the "toy model of the toy model".

Two features share one hidden dimension. Feature 2's importance r and the density 1 - S are varied; the theory
(`analysis.phase`, exact expected losses of the three candidate solutions) says which solution is optimal in each
cell, and a grid of trained instances, several seeds each, says which one training finds.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .. import plots
from ..analysis.phase import PhaseDiagram, agreement, empirical_diagram, phase_configs, theoretical_diagram
from ..config import RunConfig
from ..runs import Run
from .base import PAPER, Check, ClaimSpec, Experiment, Findings, check, fmt

MATCH_BEST = 0.9  # share of cells where the best seed agrees with the theory
MATCH_MAJORITY = 0.8  # share of cells where the seeds' majority agrees

THEORY_MATCHES = ClaimSpec(
    "phase.theory-matches-training",
    "The solution with the lowest expected loss (theory) is the one training finds, cell by cell.", PAPER)
MOST_SEEDS = ClaimSpec("phase.most-seeds-find-it", "Most seeds find the optimal solution (no seed-picking).", PAPER)
GROWS = ClaimSpec(
    "phase.superposition-grows-with-sparsity",
    "Superposition is a phase of sparse features: none when dense, a region around r = 1 that widens as features "
    "get sparser.", PAPER, kind="exact")
DENSE_TRAINED = ClaimSpec(
    "phase.dense-no-superposition-trained",
    "Trained on dense features, the model never superposes: one feature gets the dimension.", PAPER)


def grid(quick: bool) -> tuple[np.ndarray, np.ndarray, tuple[int, ...], int]:
    """r values, densities, seeds, steps."""
    if quick:
        return np.logspace(-1, 1, 6), np.logspace(0, -2, 6), (0, 1, 2), 1500
    return np.logspace(-1, 1, 12), np.logspace(0, -2, 12), (0, 1, 2, 3, 4, 5), 3000


def phase_configs_named(quick: bool) -> dict[str, RunConfig]:
    r, p, seeds, steps = grid(quick)
    return {f"seed{s}": cfg for s, cfg in zip(seeds, phase_configs(r, p, seeds=seeds, steps=steps, lr=3e-3))}


def grows_claim(theory: PhaseDiagram):
    """The exact claim, read off the theoretical diagram (rows r, columns density from dense to sparse)."""
    r = theory.r_values
    sup = theory.labels == "superposition"
    share = sup.mean(axis=0)  # per density, dense to sparse
    centre = r[sup[:, -1]]
    spans_one = len(centre) > 0 and centre.min() <= 1 <= centre.max()
    return GROWS(
        [check("share of superposition cells at 1-S = 1", float(share[0]), "==", 0.0, shown="0"),
         Check("share of superposition cells non-decreasing with sparsity", bool(np.all(np.diff(share) >= 0))),
         Check("the sparsest column's superposition region contains r = 1", spans_one)],
        f"share per density (dense to sparse): {', '.join(fmt(x, 2) for x in share)}; sparsest column spans r = "
        + (f"{fmt(float(centre.min()))}..{fmt(float(centre.max()))}" if len(centre) else "none"),
    )


def phase_analyze(runs: Mapping[str, Run], quick: bool) -> Findings:
    r, p, seeds, steps = grid(quick)
    trained = [runs[f"seed{s}"] for s in seeds]
    theory = theoretical_diagram(r, p)
    best = empirical_diagram(trained, r, p, rule="lowest_loss")
    majority = empirical_diagram(trained, r, p, rule="majority")
    agree_best, agree_majority = agreement(theory, best), agreement(theory, majority)
    figure = plots.phase_diagrams(
        [theory, best, majority],
        ["theory (lowest expected loss)", f"trained: best of {len(seeds)} seeds", f"trained: majority of {len(seeds)} seeds"],
        title=f"Phase diagram: n = 2 features in m = 1 dimension, {len(r)} x {len(p)} cells",
    )
    cells = theory.labels.size
    claims = [
        THEORY_MATCHES(
            [check("share of cells where the seed with the lowest loss agrees", agree_best, ">=", MATCH_BEST)],
            f"{fmt(100 * agree_best)}% of {cells} cells",
        ),
        MOST_SEEDS(
            [check("share of cells where the seeds' majority agrees with the theory", agree_majority, ">=",
                   MATCH_MAJORITY)],
            f"{fmt(100 * agree_majority)}% of {cells} cells",
            note="Disagreements are seeds stuck in a one-feature solution inside the superposition region: "
            "a local minimum, several times worse in loss than the antipodal pair.",
        ),
        grows_claim(theory),
    ]
    dense_trained = sorted(set(best.labels[:, 0].tolist()))
    claims.append(DENSE_TRAINED(
        [Check("no trained cell at 1-S = 1 in superposition", "superposition" not in dense_trained)],
        f"labels at 1-S = 1: {dense_trained}",
    ))
    notes = [
        f"Grid: r from 0.1 to 10 and 1-S from 1 to 0.01, {len(r)} x {len(p)} cells, {len(seeds)} seeds, {steps} steps "
        "at lr 3e-3 (AdamW, batch 1024). The theory uses exact expected losses of the three candidates with their best "
        "bias and unit norms.",
        "The n = 3 features in m = 2 dimensions diagram of the paper is not computed.",
    ]
    if quick:
        notes.insert(0, "Quick mode: a 6 x 6 grid, 3 seeds and 1500 steps instead of 12 x 12, 6 seeds and 3000 steps.")
    return Findings([figure], claims, notes)


PHASE = Experiment(
    name="phase-diagram",
    title="Superposition as a phase change: two features in one dimension",
    explanation="""The paper's "toy model of the toy model": two features, one hidden dimension, a ReLU output. Feature 1
has importance 1, feature 2 importance r; both have density 1 - S. Three solutions compete: feature 2 is dropped
(grey), feature 2 takes the dimension alone (blue), or both are stored as an antipodal pair (gold). The left
panel labels each cell with the solution of lowest expected loss, computed exactly; the others show what training
finds. The boundaries are sharp, as in a phase change: superposition appears only once features are sparse.""",
    configs=phase_configs_named,
    analyze=phase_analyze,
    claims=(THEORY_MATCHES, MOST_SEEDS, GROWS, DENSE_TRAINED),
)
