"""Feature geometry (Toy Models of Superposition, "The Geometry of Superposition": uniform superposition and
feature dimensionality).

With many equally important, equally sparse features, the dimensions per feature D* = m / ||W||_F^2 fall from 1
(dense) as sparsity grows, but not smoothly: the paper finds the curve "sticky" at 1 and at 1/2, the 1/2 plateau
being made of antipodal pairs. Broken down per feature, the dimensionalities D_i cluster on a few fractions, each
the D of a uniform polytope: 3/4 (tetrahedron), 2/3 (triangle), 1/2 (antipodal pair), 2/5 (pentagon), 3/8
(square antiprism), and 0 (not learned).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from .. import plots
from ..analysis.geometry import FRACTION_TOL, FRACTIONS, NOT_REPRESENTED, classify, geometry_table
from ..analysis.metrics import REPRESENTED_NORM, dimensionality, dimensions_per_feature, represented
from ..config import RunConfig, make_config
from ..families.toy import figure_inputs
from ..runs import Run
from .base import PAPER, Claim, ClaimSpec, Experiment, Findings, check, fmt, within

# The Colab's sweep: n = 200 features in m = 20 dimensions, importance 1, 20 densities 1 - S = 20^(-k/19).
# (The paper's own figure uses n = 400, m = 30, and says the ratio is what matters as long as n >> m.)
# A quarter of the Colab's samples at 3x its rate fits the CPU budget (~1.5 min on 2 cores). Checked against the
# Colab's own schedule and init (investigations/geometry_source_setting.py): D* agrees within 0.024 at every density.
FULL = dict(n=200, m=20, instances=20, steps=5_000, batch=512, lr=3e-3)
QUICK = dict(n=100, m=10, instances=10, steps=2_000, batch=256, lr=1e-2)
SOURCE = dict(n=200, m=20, instances=20, steps=10_000, batch=1024, lr=1e-3)
LOWEST_DENSITY = 0.05

# Claim thresholds, fixed from the paper's wording before any run was measured.
DENSE_TOL = 0.05  # "sticky at 1": D* within this of 1 at S = 0
HALF_TOL = 0.05  # an instance sits on the 1/2 plateau when |D* - 1/2| <= this
MIN_PLATEAU = 3  # consecutive instances on the plateau
STICKINESS = 2.0  # the plateau must last this many times longer (in log 1/(1-S)) than a smooth fall would allow
RISE_TOL = 0.02  # D* may rise by at most this from one density to the next sparser one (training noise)
SPARSE_BELOW = 0.45  # the sparsest instance must end clearly below the 1/2 plateau
SUPERPOSING = 0.95  # instances with D* below this represent more features than dimensions
ON_FRACTION_SHARE = 0.5  # "cluster at certain fractions": more than half of the represented features
LINE_SHARE = 0.01  # a fraction's line counts as populated when it holds at least this share of them
LINES = ("3/4", "2/3", "1/2", "2/5", "3/8")

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


def longest_run(flags: list[bool]) -> tuple[int, int]:
    """(first, last) index of the longest stretch of consecutive True values; (0, -1) when there is none.

    >>> longest_run([False, True, True, False, True])
    (1, 2)
    """
    best, start = (0, -1), None
    for i, flag in enumerate(list(flags) + [False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            if i - 1 - start > best[1] - best[0]:
                best = (start, i - 1)
            start = None
    return best


def _schedule_text(s: dict) -> str:
    return f"{s['steps']:,} steps of batch {s['batch']} at lr {s['lr']:g}"


@dataclass
class Sweep:
    """The run's instances ordered densest first: x = 1/(1-S), D* = m/||W||_F^2, and W in the same order."""

    x: np.ndarray
    d_star: np.ndarray
    W: torch.Tensor

    @classmethod
    def of(cls, run: Run) -> "Sweep":
        W = run.W.float().cpu()
        p = run.config.data.probability()[:, 0]
        order = torch.argsort(-p, stable=True)
        W = W[order]
        return cls(x=(1 / p[order]).numpy(), d_star=dimensions_per_feature(W).numpy(), W=W)


def _dense_claim(sw: Sweep):
    dense = np.flatnonzero(sw.x == 1.0)
    d = float(sw.d_star[dense[0]]) if len(dense) else float("nan")
    return DENSE_ONE(
        [within("D* = m / ||W||_F^2 at 1 - S = 1", d, 1.0, DENSE_TOL)],
        f"D* = {fmt(d)} at 1 - S = 1" if len(dense) else "no instance at 1 - S = 1",
    )


def _plateau_claim(sw: Sweep) -> tuple[Claim, int]:
    """The 1/2 plateau claim, and the instance (in sweep order) in the middle of the plateau."""
    log_x, d = np.log(sw.x), sw.d_star
    first, last = longest_run([abs(v - 0.5) <= HALF_TOL for v in d])
    length = last - first + 1
    span = float(log_x[last] - log_x[first]) if length > 0 else 0.0
    fall = float(d[0] - d[-1])
    rate = fall / float(log_x[-1] - log_x[0]) if fall > 0 else 0.0  # mean fall of D* per e-fold of 1/(1-S)
    band = 2 * HALF_TOL / rate if rate > 0 else math.inf  # log-span a smooth fall spends in the 1/2 band
    checks = [
        check(f"consecutive instances with |D* - 1/2| <= {HALF_TOL:g}", length, ">=", MIN_PLATEAU),
        check(f"their span in log(1/(1-S)) over the span a {2 * HALF_TOL:g}-wide band takes when D* falls at its "
              "mean rate over the sweep", span / band if math.isfinite(band) and band > 0 else float("nan"), ">=",
              STICKINESS),
    ]
    ok = all(c.holds for c in checks)
    if length == 0:
        return HALF_PLATEAU(checks, "no instance within the band", "No instance sits near 1/2 on this grid."), 0

    plateau = sw.W[first:last + 1]
    rep = int(represented(plateau).sum())
    pairs = sum(len(s.features) for inst in classify(plateau) for s in inst if s.kind == "antipodal pair")
    measured = (
        f"{length} consecutive instance{'s' if length > 1 else ''} at 1/(1-S) = {fmt(float(sw.x[first]))}"
        f"-{fmt(float(sw.x[last]))} (D* = {', '.join(fmt(float(v), 2) for v in d[first:last + 1])}); span "
        f"{fmt(span, 2)} e-folds, {fmt(span / band, 2) if math.isfinite(band) else 'n/a'}x the {fmt(band, 2)} that a "
        f"smooth fall at the mean rate spends in the band; {pairs} of {rep} represented features there are in "
        "antipodal pairs"
    )
    note = ""
    if not ok and length >= 2:
        inside = float(d[first] - d[last]) / span
        slower = f"{fmt(rate / inside, 2)} times slower than" if inside > 0 else "unlike"
        step = float(np.diff(log_x).mean())
        flat = inside <= 0 or rate / inside >= STICKINESS
        note = (
            f"Inside the stretch D* falls by {fmt(inside, 2)} per e-fold of 1/(1-S), {slower} its mean fall "
            f"({fmt(rate, 2)} per e-fold): "
            + ("the curve does flatten at 1/2, but over a shorter range of sparsity than the pre-set factor asks. "
               if flat else "the curve slows at 1/2 by less than the pre-set factor, so this is no clear plateau. ")
            + f"The span is measured between the outermost grid points on the stretch (grid step {fmt(step, 2)} "
            "e-folds), so it can fall short of the true stretch by up to one step on each side."
        )
    elif not ok:
        note = "Only one instance sits near 1/2: the grid is too coarse to tell a plateau from a crossing."
    return HALF_PLATEAU(checks, measured, note), (first + last) // 2


def _falls_claim(sw: Sweep):
    d = sw.d_star
    worst = float(np.diff(d).max()) if len(d) > 1 else 0.0
    return FALLS(
        [check("D* at the dense end", float(d[0]), ">=", 1 - DENSE_TOL),
         check("D* at the sparsest instance", float(d[-1]), "<", SPARSE_BELOW),
         check("largest rise of D* towards sparser instances", worst, "<=", RISE_TOL)],
        f"D* from {fmt(float(d[0]))} (1 - S = {fmt(float(1 / sw.x[0]))}) to {fmt(float(d[-1]))} "
        f"(1 - S = {fmt(float(1 / sw.x[-1]))}); largest rise {fmt(max(worst, 0.0), 2)}",
    )


def _fraction_claims(sw: Sweep) -> list[Claim]:
    rep = represented(sw.W)
    # D_i among the represented features only (as geometry_table computes it), for the spread shown in the note.
    D = dimensionality(torch.where(rep[..., None], sw.W, torch.zeros_like(sw.W)))
    table = geometry_table(sw.W)
    superposing = [k for k, v in enumerate(sw.d_star) if v < SUPERPOSING]
    fracs = {k: table[table.instance == k].sort_values("feature").fraction.to_numpy()[rep[k].numpy()] for k in superposing}
    pooled = np.concatenate(list(fracs.values())) if fracs else np.array([], dtype=object)
    total, on = len(pooled), int((pooled != "").sum())
    share = on / total if total else float("nan")
    counts = Counter(pooled[pooled != ""])

    note = ""
    if not share > ON_FRACTION_SHARE:
        by_instance = "; ".join(
            f"{fmt(float(sw.x[k]))}: {fmt(100 * float((f != '').mean()) if len(f) else float('nan'), 3)}%"
            for k, f in fracs.items()
        )
        low = [k for k in superposing if sw.d_star[k] < FRACTIONS["3/8"] - FRACTION_TOL]
        note = f"Share on a fraction by instance (1/(1-S): share): {by_instance}."
        if low:
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

    shares = {label: counts.get(label, 0) / total if total else 0.0 for label in LINES}
    missing = [label for label in LINES if shares[label] < LINE_SHARE]
    step = float(np.diff(np.log(sw.x)).mean()) if len(sw.x) > 1 else float("nan")
    lines_note = "" if not missing else (
        f"Missing or thin: {', '.join(missing)}. Each polytope holds over a narrow range of sparsity, which this "
        f"grid (a factor {fmt(math.exp(step), 3)} in 1/(1-S) between neighbouring instances) can step over."
    )
    return [
        ON_FRACTIONS(
            [check(f"share of represented features (||W_i|| > {REPRESENTED_NORM:g}) in the superposing instances "
                   f"(D* < {SUPERPOSING:g}) within {FRACTION_TOL:g} of a known fraction", share, ">",
                   ON_FRACTION_SHARE)],
            f"{on} of {total} features ({fmt(100 * share, 3)}%) in {len(superposing)} instances; "
            + ", ".join(f"{label}: {counts.get(label, 0)}" for label in FRACTIONS if label != "0"),
            note,
        ),
        FRACTION_LINES(
            [check(f"share of those features at each of {', '.join(LINES)} (the smallest)",
                   min(shares.values()) if total else float("nan"), ">=", LINE_SHARE)],
            "; ".join(f"{label}: {fmt(100 * shares[label], 2)}%" for label in LINES),
            lines_note,
        ),
    ]


def geometry_analyze(runs: Mapping[str, Run], quick: bool) -> Findings:
    run = runs["uniform"]
    sw = Sweep.of(run)
    plateau, middle = _plateau_claim(sw)
    claims = [_dense_claim(sw), plateau, _falls_claim(sw), *_fraction_claims(sw)]
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
        f"{SOURCE['instances']} densities 1 - S = 20^(-k/19), importance 1, AdamW, {_schedule_text(SOURCE)} (a constant "
        "rate), W initialised xavier-normal over the whole [instances, features, hidden] tensor (std 0.021, against "
        "0.095 here, per instance). The paper's own figure uses n = 400, m = 30 and says only the ratio matters while "
        "n >> m.",
        f"Here: n = {used['n']}, m = {used['m']}, {used['instances']} densities 1 - S = 20^(-k/{used['instances'] - 1}) "
        f"(from 1 to {LOWEST_DENSITY:g}), importance 1, AdamW, {_schedule_text(used)}: {fmt(samples, 2)}x fewer "
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
features pair up antipodally (W_j = -W_i). The dots split it per feature: D_i = ||W_i||^2 / sum_j (W^_i . W_j)^2 is the
fraction of a dimension feature i gets, and the dashed lines mark the fractions the paper reports, each the D of a
uniform polytope in its own orthogonal subspace: 3/4 tetrahedron, 2/3 triangle, 1/2 antipodal pair, 2/5 pentagon,
3/8 square antiprism. The heatmaps show W^T W for the densest instance, one on the 1/2 plateau, and the sparsest.""",
    configs=geometry_configs,
    analyze=geometry_analyze,
    claims=(DENSE_ONE, HALF_PLATEAU, FALLS, ON_FRACTIONS, FRACTION_LINES),
)
