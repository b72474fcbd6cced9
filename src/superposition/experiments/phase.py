"""Superposition as a phase change (Elhage et al. 2022): the "toy model of the toy model".

Two features share one hidden dimension. Feature 2's importance r and the density 1 - S are varied; the theory
(`analysis.phase`, exact expected losses of the three candidate solutions) says which solution is optimal in each
cell, and a grid of trained instances, several seeds each, says which one training finds.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .. import plots
from ..analysis.phase import PhaseDiagram, agreement, theoretical_diagram
from ..analysis.phase_trained import Seeds, phase_configs
from ..config import RunConfig
from ..runs import Run
from .base import PAPER, Check, ClaimSpec, Experiment, Findings, check, fmt

MATCH_BEST = 0.9  # share of cells where the best seed agrees with the theory
MATCH_MAJORITY = 0.8  # share of cells where the seeds' majority (or the paper's reading of them) agrees

# What running the source's settings showed (investigations/phase_source_setting.py, the 12 x 12 grid).
SEEDS_READING = (
    "Reading (b), too few seeds: the paper trains ten models per point. With six (this experiment's former setting) "
    "the majority agreed in 77.1% of cells, a 3-3 tie counting as a miss; with ten it agrees in 81.9%, at this "
    "schedule and at the notebook's (10,000 steps of batch 1024 at lr 1e-3): 81.9%, or 78.5% with the notebook's "
    "init of W (xavier-normal over all 144 cells at once, std 0.12). The verdict sits near its threshold in every "
    "setting: inside the theory's superposition region 71-76% of the seeds find the pair, the others stay in a "
    "one-feature local minimum; the best of ten seeds agrees in 100% of cells."
)

THEORY_MATCHES = ClaimSpec(
    "phase.theory-matches-training",
    "The solution with the lowest expected loss (theory) is the one training finds, cell by cell.", PAPER)
MOST_SEEDS = ClaimSpec("phase.most-seeds-find-it", "Most seeds find the optimal solution (no seed-picking).", PAPER)
PAPER_READING = ClaimSpec(
    "phase.paper-reading-matches",
    "Read as the paper reads its models (ten per point, averaged, the one with the highest loss discarded), the "
    "trained diagram matches the theory.", PAPER)
GROWS = ClaimSpec(
    "phase.superposition-grows-with-sparsity",
    "Superposition is a phase of sparse features: none when dense, a region around r = 1 that widens as features "
    "get sparser.", PAPER, kind="exact")
DENSE_TRAINED = ClaimSpec(
    "phase.dense-no-superposition-trained",
    "Trained on dense features, the model never superposes: one feature gets the dimension.", PAPER)


def grid(quick: bool) -> tuple[np.ndarray, np.ndarray, tuple[int, ...], int]:
    """r values, densities, seeds, steps. Full mode trains the paper's ten models per cell ("we train ten models for
    each point"); six left the majority tied in many cells of the superposition region."""
    if quick:
        return np.logspace(-1, 1, 6), np.logspace(0, -2, 6), (0, 1, 2), 1500
    return np.logspace(-1, 1, 12), np.logspace(0, -2, 12), tuple(range(10)), 3000


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


def _stuck_note(theory: PhaseDiagram, seeds: Seeds, majority: PhaseDiagram) -> str:
    """Where the majority misses: which solutions the seeds found there, and how much worse the stuck ones are."""
    missed = majority.labels != theory.labels
    if not missed.any():
        return ""
    in_sup = missed & (theory.labels == "superposition")
    one_feature = np.isin(majority.labels, ("not represented", "dedicated"))
    text = (f"The majority misses in {int(missed.sum())} cells, {int(in_sup.sum())} of them in the theory's "
            f"superposition region, where the majority is a one-feature solution in "
            f"{int((in_sup & one_feature).sum())}.")
    if seeds.losses is not None and in_sup.any():
        # loss of each seed stuck outside the pair, over the best seed's loss in the same cell
        ratios = [seeds.losses[s, i, j] / seeds.losses[:, i, j].min()
                  for i, j in np.argwhere(in_sup) for s in range(seeds.n_seeds)
                  if seeds.labels[s, i, j] != "superposition"]
        text += (f" Stuck seeds there sit in a one-feature local minimum whose exact loss is a median "
                 f"{fmt(float(np.median(ratios)), 2)}x the best seed's.")
    return text


def phase_analyze(runs: Mapping[str, Run], quick: bool) -> Findings:
    r, p, seed_ids, steps = grid(quick)
    seeds = Seeds.of([runs[f"seed{s}"] for s in seed_ids], r, p)
    theory = theoretical_diagram(r, p)
    best, majority, paper = (seeds.diagram(rule) for rule in ("lowest_loss", "majority", "drop_worst"))
    agree_best, agree_majority, agree_paper = (agreement(theory, d) for d in (best, majority, paper))
    share = seeds.share_in(theory)
    sup = theory.labels == "superposition"
    n = seeds.n_seeds
    figure = plots.phase_diagrams(
        [theory, best, majority],
        ["theory (lowest expected loss)", f"trained: best of {n} seeds", f"trained: majority of {n} seeds"],
        title=f"Phase diagram: n = 2 features in m = 1 dimension, {len(r)} x {len(p)} cells",
        share=share, share_title=f"seeds (of {n}) in the theory's solution",
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
            f"{fmt(100 * agree_majority)}% of {cells} cells; {fmt(100 * float(share.mean()))}% of the {n} x {cells} "
            f"trained (seed, cell) pairs land in the theory's solution: "
            + (f"{fmt(100 * float(share[sup].mean()))}% in its {int(sup.sum())} superposition cells, "
               if sup.any() else "")
            + f"{fmt(100 * float(share[~sup].mean()))}% elsewhere; all the seeds do in {int((share == 1).sum())} "
            f"cells, at most half of them in {int((share <= 0.5).sum())} cells",
            note=" ".join(filter(None, [_stuck_note(theory, seeds, majority), SEEDS_READING])),
        ),
        PAPER_READING(
            [check(f"share of cells where the majority of the {n - 1} seeds left after discarding the highest-loss "
                   "one agrees with the theory", agree_paper, ">=", MATCH_MAJORITY)],
            f"{fmt(100 * agree_paper)}% of {cells} cells",
        ),
        grows_claim(theory),
    ]
    dense_trained = sorted(set(best.labels[:, 0].tolist()))
    claims.append(DENSE_TRAINED(
        [Check("no trained cell at 1-S = 1 in superposition", "superposition" not in dense_trained)],
        f"labels at 1-S = 1: {dense_trained}",
    ))
    notes = [
        f"Grid: r from 0.1 to 10 and 1-S from 1 to 0.01, {len(r)} x {len(p)} cells, {n} seeds, {steps} steps "
        "at lr 3e-3 (AdamW, batch 1024). The theory uses exact expected losses of the three candidates with their best "
        "bias and unit norms.",
        "Three readings of the seeds: the seed with the lowest exact loss (an estimate of the optimum the theory "
        "predicts), the majority (which solution training usually reaches), and the paper's (\"we train ten models "
        "for each point and average over the results, discarding the model with the highest loss\"). The right "
        "panel counts, cell by cell, the seeds that land in the theory's solution.",
        "The paper's second diagram, n = 3 features in m = 2 dimensions, is the phase-diagram-n3 experiment.",
    ]
    if quick:
        notes.insert(0, "Quick mode: a 6 x 6 grid, 3 seeds and 1500 steps instead of 12 x 12, 10 seeds and 3000 steps.")
    return Findings([figure], claims, notes)


PHASE = Experiment(
    name="phase-diagram",
    title="Superposition as a phase change: two features in one dimension",
    explanation="""The paper's "toy model of the toy model": two features, one hidden dimension, a ReLU output. Feature 1
has importance 1, feature 2 importance r; both have density 1 - S. Three solutions compete: feature 2 is dropped
(grey), feature 2 takes the dimension alone (blue), or both are stored as an antipodal pair (gold). The left
panel labels each cell with the solution of lowest expected loss, computed exactly; the next two show what training
finds, read from the seed with the lowest loss and from the majority of seeds; the right panel counts the seeds that
land in the theory's solution, cell by cell. The boundaries are sharp, as in a phase change: superposition appears
only once features are sparse.""",
    configs=phase_configs_named,
    analyze=phase_analyze,
    claims=(THEORY_MATCHES, MOST_SEEDS, PAPER_READING, GROWS, DENSE_TRAINED),
)
