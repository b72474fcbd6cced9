"""Superposition as a phase change, the second diagram (Elhage et al. 2022): three features in two dimensions.

Features 1 and 2 have importance 1, the extra feature 3 importance r; r and the density 1 - S are varied. The theory
(`analysis.phase3`: exact expected losses of the paper's four solutions and of the triangle it leaves out) says which
solution is optimal in each cell; a grid of trained instances, several seeds each, says which one training finds.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

import numpy as np

from .. import plots
from ..analysis.phase import PhaseDiagram, agreement
from ..analysis.phase3 import PAPER_LABELS, seeds3, theoretical_diagram3
from ..analysis.phase_trained import Seeds, phase_configs
from ..config import RunConfig
from ..plots.phase import PHASE3_COLOURS
from ..runs import Run
from .base import PAPER, Check, ClaimSpec, Experiment, Findings, check, fmt
from .phase import MATCH_BEST, MATCH_MAJORITY  # the n = 2 diagram's thresholds, fixed before either grid was trained

# Half the n = 2 diagram's batch: it halves the time of ten seeds, and the best seed agrees as well (97.5% of cells at
# 512 and at 1024, ten seeds, 3,000 steps).
BATCH = 512
SEED_001 = "seed 001 (notes on Elhage et al. 2022), on the paper's n = 3, m = 2 diagram"
# Where the triangle wins (the exact claim's sentence): r and 1 - S ranges that hold every triangle cell of the fine
# grid. The sparse end (1 - S <= 0.1) lies outside: there the 1-sparse terms vanish for both, and with two features
# active an output with interference g loses g^2/3 - |g|^3/6, so a pair's two outputs lose 1/6 each (1/3 in all) and
# the triangle's three lose 2 x 1/16 each (3/8 in all).
TRIANGLE_R = (0.7, 1.4)
TRIANGLE_DENSITY = (0.5, 0.75)

# What free norms do (investigations/phase3_source_setting.py norms): exact losses, mean over features.
FREE_NORMS_NOTE = (
    "With unit norms, as the paper's solutions are written. Letting each candidate's norms move too (best_solution3 "
    "with norm='best'; the pairs' two norms, the triangle's three at fixed 120-degree directions) widens the "
    "triangle's region along r = 1: a shrunken triangle (norms 0.92 at 1 − S = 0.6, 0.88 at 0.7, 0.82 at 1) beats "
    "every other candidate from 1 − S = 0.6 up to 1 (at 0.7: 0.0341 against 0.0360 for the best pair and 0.0369 "
    "for a dropped feature), while at r = 0.8 and r = 1.3 (1 − S = 0.7) it still loses, to a dropped feature and "
    "to the others' pair. Trained seeds find such shrunken triangles: the best seed at r = 1, 1 − S = 0.56 is a "
    "triangle with norms 0.94, exact loss 0.02959 against 0.03022 at unit norms.")
DENSE_NOTE = (
    "Exact with unit norms. With free norms the statement fails at r = 1, and barely: a triangle with norms 0.82 "
    "has an exact loss of 0.02770 against 0.02778 for a dropped feature at 1 − S = 1; the best trained seed there "
    "does as well (0.02770) in a configuration none of the five describes, a fan: two features 115 degrees apart "
    "(cos -0.43) and the third between them (cos 0.50 and 0.57, positive interference) behind a negative bias "
    "(-0.16), norms 0.78-0.86.")

# What running the source's settings showed (investigations/phase3_source_setting.py, the 9 x 9 grid, ten seeds).
SEEDS_READING = (
    "Reading (c), a real disagreement that the source's setting does not remove: once the extra feature matters more "
    "than the others (r > 1), about half the seeds end in a local minimum, most often the extra feature paired with "
    "another instead of given its own dimension. This experiment's setting (3,000 steps of batch 512 at lr 3e-3): "
    "the majority agrees in 71.6% of cells, the paper's reading in 77.8% (with 0.2.0's random stream, in which the "
    "comparisons here were run: 70.4% and 76.5%, 47.8% of the seeds in the r > 1 rows in the theory's solution). "
    "The notebook's schedule (10,000 steps of batch 1024 at lr 1e-3): 74.1% and 79.0%, "
    "51.1%. With the notebook's init as well (xavier-normal over all 81 cells at once, std 0.11): 55.6% and 65.4%, "
    "38.6%. The best of ten seeds agrees in 97.5% of cells in all three settings: the optimum is there to be found, "
    "most seeds do not find it.")

THEORY_MATCHES = ClaimSpec(
    "phase3.theory-matches-training",
    "Three features in two dimensions: the solution with the lowest expected loss (theory, with the triangle) is the "
    "one training finds, cell by cell.", PAPER)
MOST_SEEDS = ClaimSpec(
    "phase3.most-seeds-find-it", "Most seeds find the optimal solution (no seed-picking), for n = 3 in m = 2.", PAPER)
PAPER_READING = ClaimSpec(
    "phase3.paper-reading-matches",
    "Read as the paper reads its models (ten per point, averaged, the one with the highest loss discarded), the "
    "trained n = 3 diagram matches the theory.", PAPER)
TRIANGLE_WINS = ClaimSpec(
    "phase3.triangle-wins",
    "The triangle the paper leaves out (W⊥ = [1, 1, 1]) does win, with every solution at unit norms as the paper "
    "writes them and at its best biases: in a small region around r = 1 "
    f"(r within {TRIANGLE_R[0]:g}..{TRIANGLE_R[1]:g}) at intermediate density (1 − S within "
    f"{TRIANGLE_DENSITY[0]:g}..{TRIANGLE_DENSITY[1]:g}), between the phases that drop a feature and those with an "
    "antipodal pair; everywhere else the paper's four-solution diagram is the optimal one.", SEED_001, kind="exact")
TWO_PAIRINGS = ClaimSpec(
    "phase3.two-pairings",
    "There are two ways to use superposition to make antipodal pairs: the extra feature in a pair with one of the "
    "others, or the other two in a pair and the extra feature given its own dimension; when features are sparse the "
    "first wins for a less important extra feature (r < 1), the second for a more important one (r > 1).",
    PAPER, kind="exact")
DENSE = ClaimSpec(
    "phase3.dense-no-superposition",
    "Sparsity is necessary for superposition: with dense features the optimum keeps two features on dedicated "
    "dimensions and drops the third (no pair, no triangle).", PAPER, kind="exact")
TRIANGLE_TRAINED = ClaimSpec(
    "phase3.triangle-trained",
    "Where the theory's optimum is the triangle, training finds the triangle (the lowest-loss seed).", SEED_001)


def grid(quick: bool) -> tuple[np.ndarray, np.ndarray, tuple[int, ...], int]:
    """r values, densities, seeds, steps of the trained grid. An odd count of r values puts r = 1 on the grid (the
    triangle's row); 1 - S = 10^-0.25 = 0.56 lies in the triangle's region. Full mode trains the paper's ten seeds."""
    p = np.logspace(0, -2, 9)
    if quick:
        return np.logspace(-1, 1, 5), p[[0, 1, 2, 4, 8]], (0, 1, 2), 1000
    return np.logspace(-1, 1, 9), p, tuple(range(10)), 3000


def fine_grid(quick: bool) -> tuple[np.ndarray, np.ndarray]:
    """The theory's own grid, for the exact claims and the figure of the two theories (no training: finer)."""
    n = 9 if quick else 41  # both hold the trained grid's cells; 9 still has a triangle cell (r = 1, 1 - S = 0.56)
    return np.logspace(-1, 1, n), np.logspace(0, -2, n)


def phase3_configs(quick: bool) -> dict[str, RunConfig]:
    r, p, seeds, steps = grid(quick)
    configs = phase_configs(r, p, seeds=seeds, steps=steps, lr=3e-3, batch_size=BATCH, n_features=3, n_hidden=2)
    return {f"seed{s}": cfg for s, cfg in zip(seeds, configs)}


def _span(values: np.ndarray) -> str:
    return f"{fmt(float(values.min()))}..{fmt(float(values.max()))}" if len(values) else "none"


def triangle_claim(ours: PhaseDiagram, paper: PhaseDiagram):
    """The exact claim on the fine grid: where the two theories differ, the triangle wins, and where that is."""
    tri = ours.labels == "triangle"
    rr, pp = np.meshgrid(ours.r_values, ours.p_values, indexing="ij")
    differ = ours.labels != paper.labels
    r_in = bool(np.all((rr[tri] >= TRIANGLE_R[0]) & (rr[tri] <= TRIANGLE_R[1])))
    p_in = bool(np.all((pp[tri] >= TRIANGLE_DENSITY[0]) & (pp[tri] <= TRIANGLE_DENSITY[1])))
    replaced = sorted(set(paper.labels[tri].tolist()))
    margin = float((ours.losses[4] / ours.losses[:4].min(axis=0)).min()) if ours.losses is not None else float("nan")
    return TRIANGLE_WINS(
        [check("cells of the fine grid where the triangle wins", int(tri.sum()), ">=", 1),
         Check(f"every triangle cell has r within {TRIANGLE_R[0]:g}..{TRIANGLE_R[1]:g}", bool(tri.any()) and r_in),
         Check(f"every triangle cell has 1 − S within {TRIANGLE_DENSITY[0]:g}..{TRIANGLE_DENSITY[1]:g}",
               bool(tri.any()) and p_in),
         Check("the paper's four-solution diagram differs from ours only where the triangle wins",
               bool(np.array_equal(differ, tri)))],
        f"the triangle wins in {int(tri.sum())} of {tri.size} cells of a {len(ours.r_values)} x "
        f"{len(ours.p_values)} grid: r = {_span(rr[tri])}, 1 − S = {_span(pp[tri])}, where the paper's diagram has "
        f"{', '.join(replaced) or 'nothing'}; at best its loss is {fmt(100 * (1 - margin), 2)}% below the best of "
        "the four",
        note=FREE_NORMS_NOTE,
    )


def pairings_claim(theory: PhaseDiagram):
    """Both antipodal pairings win at the sparsest density of the fine grid, on either side of r = 1."""
    r, sparse = theory.r_values, theory.labels[:, -1]
    below, above = sparse[r < 1], sparse[r > 1]
    return TWO_PAIRINGS(
        [Check("at the sparsest density every r < 1 cell pairs the extra feature with another",
               len(below) > 0 and bool(np.all(below == "extra in pair"))),
         Check("at the sparsest density every r > 1 cell pairs the other two",
               len(above) > 0 and bool(np.all(above == "others in pair")))],
        f"at 1 − S = {fmt(float(theory.p_values[-1]))}: r < 1 {sorted(set(below.tolist()))}, "
        f"r > 1 {sorted(set(above.tolist()))}",
    )


def dense_claim(theory: PhaseDiagram):
    dense = sorted(set(theory.labels[:, 0].tolist()))
    one_dropped = {"not represented", "dedicated"}
    return DENSE([Check("every cell at 1 − S = 1 drops one feature", set(dense) <= one_dropped)],
                 f"labels at 1 − S = {fmt(float(theory.p_values[0]))}: {dense}", note=DENSE_NOTE)


def _misses_note(theory: PhaseDiagram, seeds: Seeds, best: PhaseDiagram) -> str:
    """Where the best seed misses: what it found, and whether its exact loss beats the theory's optimum."""
    missed = np.argwhere(best.labels != theory.labels)
    if not len(missed) or seeds.losses is None or theory.losses is None:
        return ""
    parts = []
    for i, j in missed:
        optimum = float(theory.losses[:, i, j].min())
        found = float(seeds.losses[:, i, j].min())
        parts.append(f"r = {fmt(float(theory.r_values[i]))}, 1 − S = {fmt(float(theory.p_values[j]))}: "
                     f"{best.labels[i, j]}, exact loss {fmt(100 * (found / optimum - 1), 2)}% from the theory's "
                     f"{theory.labels[i, j]}")
    below = sum(float(seeds.losses[:, i, j].min()) < float(theory.losses[:, i, j].min()) for i, j in missed)
    text = "Where the best seed misses: " + "; ".join(parts) + "."
    if below:
        text += (f" In {below} of them the trained seed's exact loss is below the theory's optimum: the theory's "
                 "candidates have unit norms, the trained weights do not (see the notes of phase3.triangle-wins and "
                 "phase3.dense-no-superposition).")
    return text


@cache
def theories(quick: bool) -> tuple[PhaseDiagram, PhaseDiagram, PhaseDiagram]:
    """The exact diagrams, computed once per mode: (ours, the paper's four) on the fine grid, ours on the trained grid
    (whose cells are cells of the fine grid, so their losses are read off it)."""
    fr, fp = fine_grid(quick)
    ours = theoretical_diagram3(fr, fp)
    r, p, _, _ = grid(quick)
    rows, cols = [[int(np.argmin(np.abs(np.log(fine / v)))) for v in values] for fine, values in ((fr, r), (fp, p))]
    assert np.allclose(fr[rows], r) and np.allclose(fp[cols], p), "the trained grid must lie on the fine grid"
    assert ours.losses is not None
    trained = theoretical_diagram3(r, p, losses=ours.losses[:, rows][:, :, cols])
    return ours, theoretical_diagram3(fr, fp, PAPER_LABELS, losses=ours.losses), trained


def _stuck_note(theory: PhaseDiagram, seeds: Seeds) -> str:
    """Where the seeds leave the theory's solution: the rows r > 1, where the extra feature gets paired instead."""
    share = seeds.share_in(theory)
    above = theory.r_values > 1
    text = (f"{fmt(100 * float(share[above].mean()))}% of the seeds in the r > 1 rows land in the theory's solution, "
            f"{fmt(100 * float(share[~above].mean()))}% elsewhere.")
    others = theory.labels == "others in pair"
    stuck = (seeds.labels == "extra in pair") & others[None]
    if others.any() and stuck.any() and seeds.losses is not None:
        ratio = seeds.losses / seeds.losses.min(axis=0, keepdims=True)
        paired = float(stuck.sum() / (others.sum() * seeds.n_seeds))
        text += (f" Where the theory pairs the other two, {fmt(100 * paired)}% of the seeds pair the extra feature "
                 f"with one of them instead, a local minimum at a median {fmt(float(np.median(ratio[stuck])), 2)}x "
                 "the best seed's exact loss.")
    return text


def phase3_analyze(runs: Mapping[str, Run], quick: bool) -> Findings:
    r, p, seed_ids, steps = grid(quick)
    fr, fp = fine_grid(quick)
    ours, paper, theory = theories(quick)
    claims = [triangle_claim(ours, paper), pairings_claim(ours), dense_claim(ours)]
    figures = [plots.phase_diagrams(
        [paper, ours], ["theory, the paper's four solutions", "theory with the triangle"],
        title=f"Phase diagram: n = 3 features in m = 2 dimensions, theory on {len(fr)} x {len(fp)} cells",
        colours=PHASE3_COLOURS, r_title="importance of feature 3 (r)")]
    names = [f"seed{s}" for s in seed_ids]
    if not all(name in runs for name in names):
        reason = "the trained grid's runs are missing"
        claims += [spec.missing(reason) for spec in (THEORY_MATCHES, MOST_SEEDS, PAPER_READING, TRIANGLE_TRAINED)]
        return Findings(figures, claims, [])
    seeds = seeds3([runs[name] for name in names], r, p)
    best, majority, drop_worst = (seeds.diagram(rule) for rule in ("lowest_loss", "majority", "drop_worst"))
    agree = {rule: agreement(theory, d) for rule, d in
             (("lowest_loss", best), ("majority", majority), ("drop_worst", drop_worst))}
    share = seeds.share_in(theory)
    n, cells = seeds.n_seeds, theory.labels.size
    figures.append(plots.phase_diagrams(
        [theory, best, majority],
        ["theory (lowest expected loss)", f"trained: best of {n} seeds", f"trained: majority of {n} seeds"],
        title=f"Phase diagram: n = 3 features in m = 2 dimensions, {len(r)} x {len(p)} trained cells",
        share=share, share_title=f"seeds (of {n}) in the theory's solution", colours=PHASE3_COLOURS,
        r_title="importance of feature 3 (r)"))
    tri = theory.labels == "triangle"
    found_tri = float((best.labels[tri] == "triangle").mean()) if tri.any() else float("nan")
    claims += [
        THEORY_MATCHES(
            [check("share of cells where the seed with the lowest loss agrees", agree["lowest_loss"], ">=",
                   MATCH_BEST)],
            f"{fmt(100 * agree['lowest_loss'])}% of {cells} cells", note=_misses_note(theory, seeds, best)),
        MOST_SEEDS(
            [check("share of cells where the seeds' majority agrees with the theory", agree["majority"], ">=",
                   MATCH_MAJORITY)],
            f"{fmt(100 * agree['majority'])}% of {cells} cells; {fmt(100 * float(share.mean()))}% of the {n} x "
            f"{cells} trained (seed, cell) pairs land in the theory's solution",
            note=" ".join([_stuck_note(theory, seeds), SEEDS_READING])),
        PAPER_READING(
            [check(f"share of cells where the majority of the {n - 1} seeds left after discarding the highest-loss "
                   "one agrees with the theory", agree["drop_worst"], ">=", MATCH_MAJORITY)],
            f"{fmt(100 * agree['drop_worst'])}% of {cells} cells", note=SEEDS_READING),
        TRIANGLE_TRAINED(
            [check("the theory's triangle cells on the trained grid", int(tri.sum()), ">=", 1),
             check("share of them where the lowest-loss seed is a triangle", found_tri, ">=", MATCH_BEST)],
            f"{int(tri.sum())} triangle cell(s) ("
            + ", ".join(f"r = {fmt(float(r[i]))}, 1 − S = {fmt(float(p[j]))}" for i, j in np.argwhere(tri))
            + f"); the best seed is a triangle in {fmt(100 * found_tri)}% of them; "
            f"{fmt(100 * float(share[tri].mean()) if tri.any() else float('nan'))}% of the seeds there"),
    ]
    notes = [
        f"Trained grid: r from 0.1 to 10 and 1 − S from 1 to 0.01, {len(r)} x {len(p)} cells, {n} seeds, {steps} "
        f"steps at lr 3e-3 (AdamW, batch {BATCH}). The theory uses exact expected losses of the five candidates with "
        "their best biases and unit norms. At r = 1 the extra feature is a copy of the others: dropping feature 1 is "
        "dropping feature 3 renamed, so trained labels there are renamed to the theory's (not represented, extra in "
        "pair).",
    ]
    if quick:
        notes.insert(0, "Quick mode: a 5 x 5 grid, 3 seeds and 1000 steps, and a 9 x 9 theory grid, instead of "
                        "9 x 9, 10 seeds and 3000 steps, and 41 x 41.")
    return Findings(figures, claims, notes)


PHASE3 = Experiment(
    name="phase-diagram-n3",
    title="Superposition as a phase change: three features in two dimensions",
    explanation="""The paper's second phase diagram: three features, two hidden dimensions, a ReLU output. Features 1
and 2 have importance 1, the extra feature 3 importance r; all have density 1 - S. The paper compares four solutions,
named by the direction W ignores: the extra feature dropped (grey), a first feature dropped so the extra one gets its
dimension (blue), the extra feature antipodal to another (gold), the other two antipodal and the extra feature on its
own dimension (green). It leaves out the fifth, all three in a triangle (purple), and seed 001 asks why. The first
figure draws the exact theory with the paper's four and with all five; the second compares the theory with what
training finds on a coarser grid, read from the seed with the lowest loss and from the majority of seeds, and counts
the seeds that land in the theory's solution.""",
    configs=phase3_configs,
    analyze=phase3_analyze,
    claims=(THEORY_MATCHES, MOST_SEEDS, PAPER_READING, TRIANGLE_WINS, TWO_PAIRINGS, DENSE, TRIANGLE_TRAINED),
)
