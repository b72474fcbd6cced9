"""Non-uniform superposition (Toy Models of Superposition, "Non-Uniform Superposition: perturbing a single feature").

Five features of equal importance at density 1 - S = 0.05 in m = 2 dimensions form a pentagon. The paper varies one
feature's density: made denser, the others "repel from it, giving it more space"; made sparser, it "takes less
space"; made sparse enough ("~2.5x less than others") the pentagon "collapses ... to a pair of digons with the
sparser point at zero", a first-order phase change where the loss curves of the two geometries cross. Its summary
covers importance as well: imbalance "causes smooth deformation of polytopes ..., up until a critical breaking point
at which they snap to another polytope". We sweep feature 0's density, and separately its importance, from 1/8 to 8
times the others', each value fitted several times, and read the lowest-loss fit per value as the paper does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from ..analysis.geometry import classify_instance, describe
from ..analysis.metrics import feature_norms
from ..analysis.nonuniform import LossModel, arrangement, kink, neighbour_gaps, snap_points, stretch
from ..config import RunConfig, make_config
from ..families.toy import title as run_title
from ..plots.nonuniform import sweep_curves, sweep_features
from ..runs import Run
from .base import PAPER, Claim, ClaimSpec, Experiment, Findings, check, fmt

N, M, VARIED = 5, 2, 0
BASE_DENSITY = 0.05  # the paper's 1 - S for the features left alone
# The varied feature's density (or importance) relative to the others': 1/8 to 8 in steps of sqrt(2); quick mode
# steps by 2. The uniform point (1) is in both.
RATIOS = [2 ** (k / 2) for k in range(-6, 7)]
QUICK_RATIOS = [2.0 ** k for k in range(-3, 4)]
# Fits per value: the paper's "fitting each model multiple times and taking the solution with the lowest loss". A
# first probe with 4 fits (both sweeps in one run, under the notebook's optimisation and a shorter one) read digons
# at I_0 = 2 and 8 that the pentagon fitted at the neighbouring value beats there: optimisation failures (the notes
# flag such values); 8 fits guard against them. This schedule's lowest losses match the notebook's optimisation (SOURCE: 10,000
# steps of batch 1024 at lr 1e-3, constant) within 0.2% at every value (investigations/nonuniform_source_setting.py).
FULL = dict(fits=8, steps=2_000, lr=1e-2, batch=512)
QUICK = dict(fits=4, steps=600, lr=2e-2, batch=512)
SOURCE = dict(steps=10_000, lr=1e-3, batch=1024)  # the original notebook's optimisation, for the readings

# Claim thresholds, from the paper's wording and the measures' own noise, fixed before the report's runs were read
# (a first probe had been looked at: see KINK_RATIO).
DEFORM_SPAN = 2.0  # the uniform point's class holds from at most 1/sqrt(2) to at least sqrt(2) (a factor 2)
MONOTONE_TOL = 1.0  # degrees the gap beside the varied feature may fall between neighbouring values (fit noise)
MIN_DEFORM = 2.0  # degrees it must move over that stretch ("the pentagon stretches") ...
NOISE_FACTOR = 3.0  # ... and at least this many times its left/right asymmetry (zero by symmetry: fit noise)
MIN_AFTER = 2  # a new class must hold on this many consecutive values to count as a snap (not a one-off fit)
NORM_KEPT, NORM_GONE = 0.8, 0.2  # "collapses ... with the sparser point at zero": ||W_0|| from >= 0.8 to <= 0.2
PAPER_SNAP = 1 / 2.5  # "~2.5x less than others"
SNAP_FACTOR = 2.0  # the measured snap within this factor of the paper's
# The slope jump at the snap over the slope's largest one-step change beside it. Slopes are taken against the
# parameter itself (p_0, I_0), in which each geometry's loss is linear for fixed weights, so a branch's slope moves
# only as it deforms. (Against log p_0 the dropped feature's slope p_0/15 grows by 41% per sqrt(2) step, as much as
# the jump: a first probe measured that way gave ratios 1.8-2.8.)
KINK_RATIO = 3.0
ENVELOPE_POINTS = 400  # fine grid of the swept value on which every fit's loss line is evaluated
DIGONS = "antipodal pair + antipodal pair; feature 0 dropped"
PENTAGON = "pentagon"


def _spec(sweep: str, what: str, sentence: str) -> ClaimSpec:
    return ClaimSpec(f"nonuniform.{sweep}.{what}", sentence, PAPER)


DENSITY_DEFORMS = _spec("density", "deforms", "Made denser or sparser than the others, one feature deforms the "
                        "pentagon continuously: the arrangement keeps its class around the uniform point while the "
                        "angles beside the varied feature grow with its density.")
DENSITY_SNAPS = _spec("density", "snaps", "Made sufficiently sparse, the varied feature drops to zero and the "
                      "pentagon snaps to a pair of digons (two antipodal pairs): a discrete change of structure.")
DENSITY_WHERE = _spec("density", "snap-location", "The pentagon-digon snap happens when the varied feature is about "
                      "2.5 times sparser than the others.")
DENSITY_KINK = _spec("density", "loss-kink", "The snap is a first-order phase change: the loss against the varied "
                     "feature's density has a kink there (its slope jumps down).")
IMPORTANCE_DEFORMS = _spec("importance", "deforms", "Made more or less important than the others, one feature "
                           "deforms the pentagon continuously: the arrangement keeps its class around the uniform "
                           "point while the angles beside the varied feature grow with its importance.")
IMPORTANCE_SNAPS = _spec("importance", "snaps", "Past a critical importance the deformed pentagon snaps to another "
                         "polytope: a discrete change of structure.")
IMPORTANCE_KINK = _spec("importance", "loss-kink", "Where the structure snaps, the loss against the varied feature's "
                        "importance has a kink (its slope jumps down).")
CLAIMS = {
    "density": (DENSITY_DEFORMS, DENSITY_SNAPS, DENSITY_WHERE, DENSITY_KINK),
    "importance": (IMPORTANCE_DEFORMS, IMPORTANCE_SNAPS, IMPORTANCE_KINK),
}


def settings(quick: bool) -> dict:
    return QUICK if quick else FULL


def ratios(quick: bool) -> list[float]:
    return QUICK_RATIOS if quick else RATIOS


def nonuniform_configs(quick: bool, fits: int | None = None, **train) -> dict[str, RunConfig]:
    """Two runs: feature 0's density, then its importance, times each ratio; `fits` instances per ratio
    (value-major); keyword arguments override the training settings (the investigations' source setting)."""
    s = settings(quick)
    fits = fits or s["fits"]
    rs = [r for r in ratios(quick) for _ in range(fits)]
    opt = dict(steps=s["steps"], lr=s["lr"], batch_size=s["batch"], schedule="cosine", seed=0, threads=1) | train
    model = dict(kind="relu", n_hidden=M)
    return {
        "density": make_config(model=model, train=opt, data=dict(
            n_features=N, feature_probability=[[BASE_DENSITY * r] + [BASE_DENSITY] * (N - 1) for r in rs])),
        "importance": make_config(model=model, train=opt, data=dict(
            n_features=N, feature_probability=[BASE_DENSITY] * len(rs),
            importance=[[r] + [1.0] * (N - 1) for r in rs])),
    }


@dataclass
class Sweep:
    """One sweep read from its run: per swept value (ascending), the lowest-loss fit and what it looks like."""

    name: str  # "density" or "importance"
    values: list[float]  # the varied feature's density or importance over the others'
    chosen: list[int]  # instance read at each value: the lowest expected loss among its fits
    loss: np.ndarray  # expected loss of every instance
    slope: np.ndarray  # d loss / d parameter of every instance, at its weights (the envelope theorem)
    classes: list[str]  # arrangement of every instance
    kinds: list[str]  # geometry.describe of every instance
    norm: np.ndarray  # ||W_0|| of every instance
    gaps: list[list[float]]  # neighbour_gaps from feature 0, every instance
    fits: list[list[int]]  # the instances of each value
    beaten: list[tuple[int, int, float, float]]  # (value, other value, chosen loss, the other's fit evaluated here)
    envelope: list[tuple[float, str]]  # (value, class) where the lower envelope of every fit's loss line changes class
    W: torch.Tensor
    reference: int  # index of the uniform point

    @classmethod
    def of(cls, name: str, run: Run) -> "Sweep":
        data = run.config.data
        p, I = data.probability(), data.importance_table()
        par = (p if name == "density" else I)[:, VARIED]
        rel = (par / (p if name == "density" else I)[:, 1]).tolist()
        values = sorted(set(round(r, 9) for r in rel))
        fits = [[k for k, r in enumerate(rel) if round(r, 9) == v] for v in values]
        W = run.W.detach().float().cpu()
        lm = LossModel.of(W, run.b)
        loss = lm.loss(p, I).numpy()
        slope = (lm.slope_density if name == "density" else lm.slope_importance)(p, I, VARIED)
        chosen = [min(group, key=lambda k: loss[k]) for group in fits]
        # Every fit's weights at every value (exact: the loss is linear in p_0 and I_0 for fixed weights).
        at = lm.cross(p[[g[0] for g in fits]], I[[g[0] for g in fits]]).numpy()
        beaten = []
        for v, group in enumerate(fits):
            best = int(at[:, v].argmin())
            if best not in group and at[best, v] < loss[chosen[v]] * (1 - 1e-3):
                beaten.append((v, next(u for u, g in enumerate(fits) if best in g), float(loss[chosen[v]]),
                               float(at[best, v])))
        structures = [classify_instance(w) for w in W]
        classes = [arrangement(s) for s in structures]
        # The lower envelope of every fit's loss line on a fine grid: where the best geometry found changes.
        fine = np.exp(np.linspace(math.log(values[0]), math.log(values[-1]), ENVELOPE_POINTS))
        p_fine, I_fine = p[fits[0][:1]].repeat(len(fine), 1), I[fits[0][:1]].repeat(len(fine), 1)
        (p_fine if name == "density" else I_fine)[:, VARIED] = torch.tensor(fine) * float(
            (p if name == "density" else I)[0, 1])
        lowest = [classes[k] for k in lm.cross(p_fine, I_fine).argmin(0).tolist()]
        envelope = [(float(fine[j]), c) for j, c in enumerate(lowest) if j == 0 or c != lowest[j - 1]]
        return cls(name, values, chosen, loss, slope.numpy(), classes, [describe(s) for s in structures],
                   feature_norms(W)[:, VARIED].numpy(), [neighbour_gaps(w, VARIED) for w in W], fits, beaten,
                   envelope, W, values.index(1.0))

    def chosen_classes(self) -> list[str]:
        return [self.classes[k] for k in self.chosen]

    def beside(self, k: int) -> float:
        """Mean angle from feature 0 to its two neighbours (NaN when it is not represented)."""
        g = self.gaps[k]
        return (g[0] + g[-1]) / 2 if g else math.nan

    def snaps(self) -> list[tuple[int, int]]:
        """Class changes going out from the uniform point whose new class holds on MIN_AFTER consecutive values."""
        cl = self.chosen_classes()
        held = {s: stretch(cl, s[1]) for s in snap_points(cl, self.reference)}
        return [s for s, (lo, hi) in held.items() if hi - lo + 1 >= MIN_AFTER]

    def where(self, snap: tuple[int, int]) -> float:
        """The snap's value: the geometric mean of the two values around it."""
        return math.sqrt(self.values[snap[0]] * self.values[snap[1]])


def deforms_claim(sw: Sweep) -> Claim:
    spec = CLAIMS[sw.name][0]
    cl = sw.chosen_classes()
    lo, hi = stretch(cl, sw.reference)
    ks = sw.chosen[lo:hi + 1]
    beside = [sw.beside(k) for k in ks]
    falls = [a - b for a, b in zip(beside, beside[1:])]
    largest_fall = math.nan if any(map(math.isnan, beside)) else max(falls, default=0.0)
    asym = max((abs(sw.gaps[k][0] - sw.gaps[k][-1]) for k in ks if sw.gaps[k]), default=math.nan)
    moved = beside[-1] - beside[0]
    noise_ratio = moved / asym if asym > 0 else (math.inf if moved > 0 else math.nan)  # symmetric fits: no noise
    return spec(
        [check("class at the uniform point", cl[sw.reference], "==", PENTAGON),
         check("values below the uniform point in its class", sw.reference - lo, ">=", 1),
         check("values above it", hi - sw.reference, ">=", 1),
         check("span of that stretch (largest / smallest value)", sw.values[hi] / sw.values[lo], ">=", DEFORM_SPAN),
         check("largest fall (degrees) of the angle beside feature 0 as the value rises", largest_fall, "<=",
               MONOTONE_TOL),
         check("its rise over the stretch (degrees)", moved, ">=", MIN_DEFORM),
         check("that rise over the largest left/right asymmetry of the two angles beside feature 0", noise_ratio, ">=",
               NOISE_FACTOR)],
        f"class {cl[sw.reference]!r} from {fmt(sw.values[lo])} to {fmt(sw.values[hi])} times the others' "
        f"{sw.name}; mean angle beside feature 0: " + ", ".join(fmt(b, 3) for b in beside)
        + f" degrees; largest asymmetry {fmt(asym, 2)} degrees",
    )


def _snap_text(sw: Sweep, snap: tuple[int, int]) -> str:
    before, past = snap
    a, b = sw.chosen[before], sw.chosen[past]
    return (f"{fmt(sw.values[before])} -> {fmt(sw.values[past])}: {sw.kinds[a]} "
            f"(||W_0|| = {fmt(float(sw.norm[a]), 2)}) -> {sw.kinds[b]} (||W_0|| = {fmt(float(sw.norm[b]), 2)})")


def density_snap_claims(sw: Sweep) -> list[Claim]:
    """The pentagon-digon snap on the sparse side, and where it happens."""
    low = [s for s in sw.snaps() if s[1] < s[0]]
    if not low:
        reason = ("no class change that holds on the sparse side (classes from sparse to dense: "
                  + ", ".join(sw.chosen_classes()) + ")")
        return [DENSITY_SNAPS.missing(reason, "a snap on the sparse side"), DENSITY_WHERE.missing(reason)]
    snap = low[0]
    before, past = (sw.chosen[i] for i in snap)
    where = sw.where(snap)
    return [
        DENSITY_SNAPS([check("class past the snap", sw.classes[past], "==", DIGONS),
                       check("||W_0|| on the last value before the snap", float(sw.norm[before]), ">=", NORM_KEPT),
                       check("||W_0|| on the first value past it", float(sw.norm[past]), "<=", NORM_GONE)],
                      _snap_text(sw, snap)),
        DENSITY_WHERE([check("factor between the snap (geometric mean of the values around it) and the paper's "
                             "1/2.5, either way", max(where / PAPER_SNAP, PAPER_SNAP / where), "<=", SNAP_FACTOR)],
                      f"snap at {fmt(where)} (between {fmt(sw.values[snap[1]])} and {fmt(sw.values[snap[0]])}) "
                      f"times the others' density, i.e. {fmt(1 / where, 2)} times sparser", _envelope_note(sw)),
    ]


def _envelope_note(sw: Sweep) -> str:
    changes = "; ".join(f"to {c} at {fmt(v)}" for v, c in sw.envelope[1:]) or "none"
    return (f"Each fit's loss is linear in the swept parameter, so every fit (all values, all seeds) gives a line; the "
            f"lowest of these lines starts as {sw.envelope[0][1]} and changes {changes}. Where a fit's line falls "
            "below the others', the optimum is at least that good there, so if the fits of the geometry it replaces "
            "are optimal, the optimum changes geometry at that value or further from the uniform point.")


def importance_snap_claim(sw: Sweep) -> Claim:
    snaps = sw.snaps()
    if not snaps:
        return IMPORTANCE_SNAPS.missing("no class change holds on MIN_AFTER values on either side (classes: "
                                        + ", ".join(sw.chosen_classes()) + ")", "a snap on either side")
    polytope = [s for s in snaps if "other" not in sw.kinds[sw.chosen[s[1]]]]
    return IMPORTANCE_SNAPS(
        [check(f"snaps (a class change holding on >= {MIN_AFTER} values) to known polytopes (no 'other' group)",
               len(polytope), ">=", 1)],
        "; ".join(_snap_text(sw, s) for s in snaps), _envelope_note(sw),
    )


def kink_claim(sw: Sweep) -> Claim:
    spec = CLAIMS[sw.name][-1]
    snaps = sw.snaps()
    if not snaps:
        return spec.missing("no snap to measure a kink at", f"slope jump >= {KINK_RATIO:g} x the changes beside it")
    slopes, cl = [float(sw.slope[k]) for k in sw.chosen], sw.chosen_classes()
    kinks = [kink(slopes, cl, s) for s in snaps]
    return spec(
        [check("smallest ratio over the snaps of the slope jump to the largest one-step slope change beside it",
               min(k.ratio for k in kinks), ">=", KINK_RATIO),
         check("snaps where the slope falls as the value rises (a lower envelope of crossing curves)",
               sum(k.drops for k in kinks), "==", len(kinks))],
        "; ".join(f"at {fmt(sw.where(s))}: slope {fmt(slopes[s[0]])} -> {fmt(slopes[s[1]])} (d loss / d "
                  f"{'p_0' if sw.name == 'density' else 'I_0'}), ratio {fmt(k.ratio)}" for s, k in zip(snaps, kinks)),
        note="Said plainly: the slope is taken against the parameter itself because each geometry's loss is linear "
        "in it, but that choice was made after a probe run had been read, in which slopes against log p_0 gave "
        "ratios of 1.8-2.8, under the bar of 3. Read this verdict with that in mind.",
    )


def _beaten_note(sw: Sweep) -> str:
    if not sw.beaten:
        return ""
    return (f"{sw.name.capitalize()} sweep: at " + "; ".join(
        f"{fmt(sw.values[v])} the lowest-loss fit ({fmt(a)}) is beaten by the fit trained at {fmt(sw.values[u])} "
        f"evaluated there ({fmt(b)})" for v, u, a, b in sw.beaten)
        + ": those values' fits did not reach the optimum (each geometry's loss is linear in the swept parameter, so "
        "a fit can be evaluated exactly at any value).")


def nonuniform_analyze(runs: Mapping[str, Run], quick: bool) -> Findings:
    figures, claims, notes = [], [], []
    for name in ("density", "importance"):
        run = runs[name]
        sw = Sweep.of(name, run)
        claims.append(deforms_claim(sw))
        claims.extend(density_snap_claims(sw) if name == "density" else [importance_snap_claim(sw)])
        claims.append(kink_claim(sw))
        label = f"feature 0's {name} / the others'"
        title = run_title(run.config)
        figures.append(sweep_features(sw.W[sw.chosen], sw.values, sw.chosen_classes(), VARIED, label, title))
        everyone = [k for group in sw.fits for k in group]
        value_of = {k: v for v, group in enumerate(sw.fits) for k in group}
        figures.append(sweep_curves(
            sw.values, [float(sw.loss[k]) for k in sw.chosen], [float(sw.slope[k]) for k in sw.chosen],
            [sw.values[value_of[k]] for k in everyone], [float(sw.loss[k]) for k in everyone],
            [sw.classes[k] for k in everyone], [sw.beside(k) for k in sw.chosen], [sw.where(s) for s in sw.snaps()],
            label, "p_0" if name == "density" else "I_0", title))
        notes.append(_beaten_note(sw))
    s = settings(quick)
    s, rs = settings(quick), ratios(quick)
    notes.insert(0, (
        f"Here: n = {N}, m = {M}, the other features at 1 - S = {BASE_DENSITY:g} and importance 1; {len(rs)} values "
        f"of feature 0's density (and, in a second run, importance) from {fmt(rs[0])} to {fmt(rs[-1])} times the "
        f"others'; {s['fits']} fits per value, AdamW, {s['steps']:,} steps of batch {s['batch']}, lr {s['lr']:g} with "
        "cosine decay. Each value is read from its fit with the lowest expected loss, computed exactly over the 2^5 "
        "sets of active features (midpoint rule over their magnitudes): the paper's 'fitting each model multiple "
        "times and taking the solution with the lowest loss'. A structure's class is its groups' polytopes by "
        "(features, dims), regular or not, and the features dropped; the slopes are d loss / d (swept parameter) at "
        "the fitted weights, exact by the envelope theorem."))
    return Findings(figures, claims, [n for n in notes if n])


NONUNIFORM = Experiment(
    name="non-uniform",
    title="Non-uniform superposition: one feature denser, sparser, more or less important than the others",
    explanation="""Five features in two dimensions at 1 - S = 0.05 form a pentagon when they are alike. Here one of
them (feature 0, drawn in red) is made denser or sparser than the other four (first run), or more or less important
(second run), from 1/8 to 8 times the others'. The paper sees the pentagon deform smoothly as the imbalance grows (a
denser feature gets more room; its neighbours move away) until, past a critical value, it snaps to another
structure: a sparse enough feature is dropped and the other four pair up antipodally. Such a snap is a first-order
phase change: each geometry has its own loss curve, the optimum follows the lowest, and where two cross the loss
curve has a kink. The panels show the lowest-loss fit at each value; the curves show every fit's loss (coloured by
structure) and the angle beside the varied feature, with each snap marked.""",
    configs=nonuniform_configs,
    analyze=nonuniform_analyze,
    claims=CLAIMS["density"] + CLAIMS["importance"],
)
