"""Feature geometry (Toy Models of Superposition, "The Geometry of Superposition": uniform superposition and
feature dimensionality).

With many equally important, equally sparse features, the dimensions per feature D* = m / ||W||_F^2 fall from 1
(dense) as sparsity grows, but not smoothly: the paper finds the curve "sticky" at 1 and at 1/2, the 1/2 plateau
being made of antipodal pairs. Broken down per feature, the dimensionalities D_i cluster on a few fractions, each
the D of a uniform polytope: 3/4 (tetrahedron), 2/3 (triangle), 1/2 (antipodal pair), 2/5 (pentagon), 3/8
(square antiprism), and 0 (not learned).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from .. import plots
from ..analysis.geometry import FRACTION_TOL, FRACTIONS, NOT_REPRESENTED, classify
from ..analysis.metrics import REPRESENTED_NORM, dimensionality, represented
from ..config import RunConfig, make_config
from ..families.toy import figure_inputs
from ..runs import Run
from .base import PAPER, Claim, ClaimSpec, Experiment, Findings, check, fmt, within
from .geometry_sweep import SUPERPOSING, OnFractions, Plateau, Sweep, lines_claim, longest_run

# The Colab's sweep: n = 200 features in m = 20 dimensions, importance 1, 20 densities 1 - S = 20^(-k/19).
# (The paper's own figure uses n = 400, m = 30, and says the ratio is what matters as long as n >> m.)
# A quarter of the Colab's samples at 3x its rate fits the CPU budget (~1.5 min on 2 cores). Checked against the
# Colab's own schedule and init (investigations/geometry_source_setting.py): D* agrees within 0.024 at every density.
FULL = dict(n=200, m=20, instances=20, steps=5_000, batch=512, lr=3e-3)
QUICK = dict(n=100, m=10, instances=10, steps=2_000, batch=256, lr=1e-2)
SOURCE = dict(n=200, m=20, instances=20, steps=10_000, batch=1024, lr=1e-3)
LOWEST_DENSITY = 0.05

# Claim thresholds, fixed from the paper's wording before any run was measured (those shared with the n = 400
# experiment, for plateaus and fraction lines, are in geometry_sweep).
DENSE_TOL = 0.05  # "sticky at 1": D* within this of 1 at S = 0
HALF_TOL = 0.05  # an instance sits on the 1/2 plateau when |D* - 1/2| <= this
RISE_TOL = 0.02  # D* may rise by at most this from one density to the next sparser one (training noise)
SPARSE_BELOW = 0.45  # the sparsest instance must end clearly below the 1/2 plateau
ON_FRACTION_SHARE = 0.5  # "cluster at certain fractions": more than half of the represented features

# What running the source's settings showed (investigations/geometry_source_setting.py), for the claims that do not
# reproduce in the full report: added to the claim's note when it fails there.
READINGS = {
    "geometry.half-plateau": (
        "Reading (c), at the margin: the plateau is real (D* falls about 3 times slower on it and its features are "
        "antipodal pairs), and it lasts about twice a smooth fall's band, right at the pre-set bar, without clearing "
        "it on the grid: 1.4x here; 1.8x with the notebook's setting (10,000 steps of batch 1024 at lr 1e-3 and its "
        "init of W: a fifth instance, at 1/(1-S) = 4.13, has D* = 0.455, just inside the band, where ours has 0.437); "
        "1.4x with the paper's n = 400, m = 30 under that setting. Placing the stretch's ends where D* crosses the "
        "band's edges, interpolated between grid points, gives 1.8x, 2.0x and 1.8x: one seed each, within the "
        "difference one instance makes."
    ),
    "geometry.on-fractions": (
        "Reading (c): on and around the 1/2 plateau every feature sits on a fraction (100% at 1/(1-S) = 1.9-3.5), "
        "but the sparser half of the sweep, which holds most of the features, does not split into small polytopes "
        "under any setting we ran: 22% "
        "here, 27% with the notebook's setting (10,000 steps of batch 1024 at lr 1e-3 and its init), 25% with the "
        "paper's n = 400, m = 30 under that setting."
    ),
    "geometry.fraction-lines": (
        "Reading (a), the sparsity grid: the 3/4 line exists but only over 1/(1-S) = 1.41-1.58. A fine sweep of 20 "
        "densities from 1/(1-S) = 1.3 to 2.2 (this schedule) puts 21 features on 3/4 there, and 52 on 2/3 at "
        "1.54-1.76; the notebook's 20-density grid, which this sweep uses, has its instances at 1.37 and 1.60, on "
        "either side. The notebook's own setting leaves 3/4 as empty (0%; 0.12% with n = 400, m = 30): the paper's "
        "figure must sample sparsity more finely than its notebook."
    ),
}

DENSE_ONE = ClaimSpec("geometry.dense-one",
                      "Dense features (S = 0) get one dimension per feature: m / ||W||_F^2 = 1.", PAPER)
HALF_PLATEAU = ClaimSpec("geometry.half-plateau",
                         "The dimensions per feature 'stick' at 1/2 (antipodal pairs) over a range of sparsity.", PAPER)
FALLS = ClaimSpec("geometry.falls-with-sparsity",
                  "As features get sparser, the model spends fewer dimensions per feature: D* falls from 1 to below "
                  "1/2.", PAPER)
ON_FRACTIONS = ClaimSpec("geometry.on-fractions",
                         "Feature dimensionalities cluster at a few fractions (3/4, 2/3, 1/2, 2/5, 3/8), each a uniform "
                         "polytope.", PAPER)
FRACTION_LINES = ClaimSpec("geometry.fraction-lines",
                           "Distinct lines appear at 3/4 (tetrahedron), 2/3 (triangle), 1/2 (antipodal pair), 2/5 "
                           "(pentagon) and 3/8 (square antiprism).", PAPER)


def densities(instances: int) -> list[float]:
    """1 - S from 1 down to LOWEST_DENSITY, log-spaced (the Colab's 20^(-k/(K-1)))."""
    return [float(LOWEST_DENSITY ** (k / (instances - 1))) for k in range(instances)]


def settings(quick: bool) -> dict:
    return QUICK if quick else FULL


def geometry_configs(quick: bool) -> dict[str, RunConfig]:
    s = settings(quick)
    return {
        "uniform": make_config(
            data=dict(n_features=s["n"], feature_probability=densities(s["instances"])),
            model=dict(kind="relu", n_hidden=s["m"]),
            # One thread: on two shared cores this [instances, 200, batch] loop ran 4x slower on two threads.
            train=dict(steps=s["steps"], batch_size=s["batch"], lr=s["lr"], seed=0, threads=1),
        )
    }


def schedule_text(s: dict) -> str:
    return f"{s['steps']:,} steps of batch {s['batch']} at lr {s['lr']:g}"


def _dense_claim(sw: Sweep):
    dense = np.flatnonzero(sw.x == 1.0)
    d = float(sw.d_star[dense[0]]) if len(dense) else float("nan")
    return DENSE_ONE(
        [within("D* = m / ||W||_F^2 at 1 - S = 1", d, 1.0, DENSE_TOL)],
        f"D* = {fmt(d)} at 1 - S = 1" if len(dense) else "no instance at 1 - S = 1",
    )


def half_plateau_claim(sw: Sweep, spec: ClaimSpec = HALF_PLATEAU) -> tuple[Claim, int]:
    """The 1/2 plateau claim, and the instance (in sweep order) in the middle of the plateau."""
    p = Plateau.of(sw, "1/2", HALF_TOL, 2 * HALF_TOL)
    if p.length <= 0:
        return spec(p.checks(), p.measured(sw), p.note(sw)), 0
    plateau = sw.W[p.first:p.last + 1]
    rep = int(represented(plateau).sum())
    pairs = sum(len(s.features) for inst in classify(plateau) for s in inst if s.kind == "antipodal pair")
    measured = f"{p.measured(sw)}; {pairs} of {rep} represented features there are in antipodal pairs"
    return spec(p.checks(), measured, p.note(sw)), (p.first + p.last) // 2


def falls_claim(sw: Sweep, spec: ClaimSpec = FALLS) -> Claim:
    d = sw.d_star
    worst = float(np.diff(d).max()) if len(d) > 1 else 0.0
    return spec(
        [check("D* at the dense end", float(d[0]), ">=", 1 - DENSE_TOL),
         check("D* at the sparsest instance", float(d[-1]), "<", SPARSE_BELOW),
         check("largest rise of D* towards sparser instances", worst, "<=", RISE_TOL)],
        f"D* from {fmt(float(d[0]))} (1 - S = {fmt(float(1 / sw.x[0]))}) to {fmt(float(d[-1]))} "
        f"(1 - S = {fmt(float(1 / sw.x[-1]))}); largest rise {fmt(max(worst, 0.0), 2)}",
    )


def on_fractions_claim(sw: Sweep, on: OnFractions, spec: ClaimSpec = ON_FRACTIONS) -> Claim:
    pooled, fracs, superposing = on.pooled, on.fracs, on.superposing
    total, on_count = len(pooled), int((pooled != "").sum())
    share = on_count / total if total else float("nan")
    counts = on.counts
    note = ""
    if not share > ON_FRACTION_SHARE:
        by_instance = "; ".join(
            f"{fmt(float(sw.x[k]))}: {fmt(100 * float((f != '').mean()) if len(f) else float('nan'), 3)}%"
            for k, f in fracs.items()
        )
        low = [k for k in superposing if sw.d_star[k] < FRACTIONS["3/8"] - FRACTION_TOL]
        note = f"Share on a fraction by instance (1/(1-S): share): {by_instance}."
        if low:
            rep = represented(sw.W)
            # D_i among the represented features only (as geometry_table computes it), for the spread.
            D = dimensionality(torch.where(rep[..., None], sw.W, torch.zeros_like(sw.W)))
            spread = float(np.median(np.concatenate(
                [(D[k][rep[k]] - float(sw.d_star[k])).abs().numpy() for k in low]
            )))
            groups = [[st for st in inst if st.kind != NOT_REPRESENTED] for inst in classify(sw.W[low])]
            largest = max((st for inst in groups for st in inst), key=lambda st: len(st.features))
            note += (
                f" {len(low)} of the {len(superposing)} superposing instances (1/(1-S) >= {fmt(float(sw.x[low[0]]))}) "
                f"have D* below the smallest listed fraction, 3/8, and hold "
                f"{sum(len(fracs[k]) for k in low)} of the {total} features. In them the features no longer split "
                f"into small polytopes in orthogonal subspaces: they form {fmt(float(np.mean([len(g) for g in groups])), 2)} "
                f"interfering group(s) per instance on average (the largest: {len(largest.features)} features in "
                f"{largest.n_dims} dims), and each feature's D_i sits close to its instance's D* (median distance "
                f"{fmt(spread, 2)}): an even spread over the group's dimensions, below every listed fraction."
            )
    return spec(
        [check(f"share of represented features (||W_i|| > {REPRESENTED_NORM:g}) in the superposing instances "
               f"(D* < {SUPERPOSING:g}) within {FRACTION_TOL:g} of a known fraction", share, ">", ON_FRACTION_SHARE)],
        f"{on_count} of {total} features ({fmt(100 * share, 3)}%) in {len(superposing)} instances; "
        + ", ".join(f"{label}: {counts.get(label, 0)}" for label in FRACTIONS if label != "0"),
        note,
    )


def geometry_analyze(runs: Mapping[str, Run], quick: bool) -> Findings:
    run = runs["uniform"]
    sw = Sweep.of(run)
    plateau, middle = half_plateau_claim(sw)
    on = OnFractions.of(sw)
    claims = [_dense_claim(sw), plateau, falls_claim(sw), on_fractions_claim(sw, on),
              lines_claim(sw, on, FRACTION_LINES)]
    if not quick:  # the readings were measured on the full setting
        for claim in claims:
            if not claim.reproduced and claim.id in READINGS:
                claim.note = " ".join(filter(None, [claim.note, READINGS[claim.id]]))

    # W^T W of the densest instance, one on the 1/2 plateau and the sparsest (instance numbers of the run).
    order = torch.argsort(-run.config.data.probability()[:, 0], stable=True).tolist()
    shown = sorted({order[0], order[middle], order[-1]})
    f = figure_inputs(run)
    figures = [plots.dimensionality_scatter(f.table, f.title),
               plots.wtw_and_norms(f.W, f.table, f.labels, f.title, shown)]

    used = settings(quick)
    samples = SOURCE["steps"] * SOURCE["batch"] / (used["steps"] * used["batch"])
    notes = [
        f"Source settings (the paper's Colab): n = {SOURCE['n']} features, m = {SOURCE['m']} hidden, "
        f"{SOURCE['instances']} densities 1 - S = 20^(-k/19), importance 1, AdamW, {schedule_text(SOURCE)} (a constant "
        "rate), W initialised xavier-normal over the whole [instances, features, hidden] tensor (std 0.021, against "
        "0.095 here, per instance). The paper's own figure uses n = 400, m = 30 and says only the ratio matters while "
        "n >> m.",
        f"Here: n = {used['n']}, m = {used['m']}, {used['instances']} densities 1 - S = 20^(-k/{used['instances'] - 1}) "
        f"(from 1 to {LOWEST_DENSITY:g}), importance 1, AdamW, {schedule_text(used)}: {fmt(samples, 2)}x fewer "
        "samples than the source, at a higher learning rate, to fit the CPU budget."
        + (" Quick mode: half the features and dimensions, and half the densities." if quick else ""),
        f"D_i for the fractions is computed among the represented features (||W_i|| > {REPRESENTED_NORM:g}), so weight "
        f"left on ignored features does not blur the fractions; a feature counts as on a fraction within {FRACTION_TOL}.",
    ]
    return Findings(figures, claims, notes)


GEOMETRY = Experiment(
    name="feature-geometry",
    title="Feature geometry: dimensions per feature and the fractions features sit on",
    explanation="""All features are equally important and equally sparse ("uniform superposition"); only the sparsity
changes from one instance to the next. The black line is the number of hidden dimensions the model spends per
feature, m / ||W||_F^2: 1 when dense, falling as features get sparser. The paper finds it "sticky" at 1/2, where
features pair up antipodally (W_j = -W_i), and at 1 (tested on a finer grid in the next section). The dots split it
per feature: D_i = ||W_i||^2 / sum_j (W^_i . W_j)^2 is the fraction of a dimension feature i gets, and the dashed
lines mark the fractions the paper reports, each the D of a uniform polytope in its own orthogonal subspace: 3/4
tetrahedron, 2/3 triangle, 1/2 antipodal pair, 2/5 pentagon, 3/8 square antiprism. The heatmaps show W^T W for the
densest instance, one on the 1/2 plateau, and the sparsest.""",
    configs=geometry_configs,
    analyze=geometry_analyze,
    claims=(DENSE_ONE, HALF_PLATEAU, FALLS, ON_FRACTIONS, FRACTION_LINES),
)

__all__ = ["GEOMETRY", "Sweep", "densities", "falls_claim", "half_plateau_claim", "longest_run", "on_fractions_claim",
           "schedule_text"]
