"""The toy-autoencoder experiments of Toy Models of Superposition: first look, intro figure, sparsity sweeps.

Where the paper shows one model per setting, we train several instances (each its own initialisation): a single
seed can settle in a local minimum, as the paper itself notes. The first look asks that most of them agree; the
intro figure reads the fit with the lowest loss at each density, as the paper does for its two-dimensional models
("fitting each model multiple times and taking the solution with the lowest loss").
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from .. import plots
from ..analysis.geometry import classify
from ..analysis.metrics import (
    cosines,
    dimensionality,
    feature_norms,
    positive_interference,
    represented,
    superposition,
)
from ..config import RunConfig, make_config
from ..families.toy import figure_inputs
from ..runs import Run
from .base import PAPER, Check, ClaimSpec, Experiment, Findings, check, fmt, within
from .stats import spearman

COURSE = "course material (slides, walk-through)"


def schedule(quick: bool, steps: int = 10_000, lr: float = 1e-3) -> dict:
    """The sources' optimisation (AdamW, lr 1e-3, batch 1024); quick mode trains half as long at 3x the rate."""
    return dict(steps=steps // 2, lr=3 * lr) if quick else dict(steps=steps, lr=lr)


def quick_note(quick: bool, steps: int = 10_000, lr: float = 1e-3) -> list[str]:
    s = schedule(quick, steps, lr)
    return [f"Quick mode: {s['steps']} steps at lr {s['lr']:g} instead of {steps} at {lr:g}."] if quick else []


def toy(
    kind: str, n: int, m: int, probs: list[float], quick: bool, steps: int = 10_000, lr: float = 1e-3, **data
) -> RunConfig:
    return make_config(
        data=dict(n_features=n, feature_probability=probs, **data),
        model=dict(kind=kind, n_hidden=m),
        train=dict(batch_size=1024, seed=0, **schedule(quick, steps, lr)),
    )


def n_represented(W: torch.Tensor) -> torch.Tensor:
    return represented(W).sum(-1)


LATE_SHARE = 0.1  # the last tenth of training: about a million samples per instance at batch 1024 and 10k steps


def late_loss(run: Run, share: float = LATE_SHARE) -> list[float]:
    """Per-instance training loss averaged over the last `share` of the logged steps: the "loss" by which the
    paper picks the best of several fits (a single logging window is too noisy to rank seeds at high sparsity)."""
    h = run.history
    late = h[h.step >= h.step.max() * (1 - share)]
    return late.groupby("instance").loss.mean().sort_index().tolist()


# ---------------------------------------------------------------------------------------------- 1. first look

FIRST_SPARSITY = (0.0, 0.5, 0.9)
FIRST_SEEDS = 4
MOST = FIRST_SEEDS // 2 + 1  # "most of the instances": a strict majority


def _first_probs() -> list[float]:
    return [1 - s for s in FIRST_SPARSITY for _ in range(FIRST_SEEDS)]


# The linear model's gradient vanishes with sparse features; at lr 1e-3 it is far from converged after 10k steps.
LINEAR_LR = 1e-2

LINEAR_TOP_TWO = ClaimSpec(
    "first-look.linear-top-two",
    "The linear model represents the two most important features, orthogonally, and drops the other three, "
    "at every sparsity.", PAPER)
RELU_DENSE_TWO = ClaimSpec(
    "first-look.relu-dense-two",
    "With dense features (S = 0) the ReLU output model also keeps only the two most important features.", PAPER)
RELU_SPARSE_FIVE = ClaimSpec(
    "first-look.relu-sparse-all-five",
    "Once features are sparse (S = 0.9) the ReLU output model represents all five features in two dimensions.", PAPER)
NEGATIVE_BIAS = ClaimSpec(
    "first-look.negative-bias",
    "Where a feature suffers positive interference, the ReLU model learns a negative bias that cuts it off.", COURSE)
POSITIVE_INTERFERENCE = 0.1  # sum of positive dot products above which a feature "suffers" interference
NEGATIVE_SHARE = 0.9


def first_look_configs(quick: bool) -> dict[str, RunConfig]:
    return {
        "linear": toy("linear", 5, 2, _first_probs(), quick, lr=LINEAR_LR, importance_decay=0.9),
        "relu": toy("relu", 5, 2, _first_probs(), quick, importance_decay=0.9),
    }


def first_look_analyze(runs: Mapping[str, Run], quick: bool) -> Findings:
    lin, relu = runs["linear"], runs["relu"]
    shown = [k * FIRST_SEEDS for k in range(len(FIRST_SPARSITY))]  # one instance per sparsity
    fl, fr = figure_inputs(lin), figure_inputs(relu)
    figures = [plots.features_2d(fl.W, fl.table, fl.labels, fl.title, shown),
               plots.features_2d(fr.W, fr.table, fr.labels, fr.title, shown),
               plots.bias(fr.b, fr.labels, fr.title, shown)]
    claims = []

    norms = feature_norms(lin.W)
    top_off = (norms[:, :2] - 1).abs().max().item()
    rest = norms[:, 2:].max().item()
    orth = cosines(lin.W)[:, 0, 1].abs().max().item()
    claims.append(LINEAR_TOP_TWO(
        [within("||W_0||, ||W_1||", 1 + top_off, 1.0, 0.1), check("other norms", rest, "<", 0.2),
         check("|cos(W_0, W_1)|", orth, "<", 0.1)],
        f"max | ||W_i|| - 1 | over the top two = {fmt(top_off)}; largest other norm = {fmt(rest)}; max |cos| = "
        f"{fmt(orth)} (all {lin.W.shape[0]} instances)",
    ))

    counts = n_represented(relu.W).view(len(FIRST_SPARSITY), FIRST_SEEDS)
    dense_top = represented(relu.W[:FIRST_SEEDS])[:, :2].all(-1) & (counts[0] == 2)
    claims.append(RELU_DENSE_TWO(
        [check(f"instances (of {FIRST_SEEDS}) representing exactly features 0 and 1", int(dense_top.sum()), ">=",
               MOST)],
        f"{int(dense_top.sum())} of {FIRST_SEEDS} instances (represented counts {counts[0].tolist()})",
    ))
    all_five = int((counts[-1] == 5).sum())
    claims.append(RELU_SPARSE_FIVE(
        [check(f"instances (of {FIRST_SEEDS}) representing all 5 features", all_five, ">=", MOST)],
        f"{all_five} of {FIRST_SEEDS} instances (represented counts {counts[-1].tolist()})",
    ))

    sparse = relu.W[FIRST_SEEDS:]
    b = relu.model.b.detach()[FIRST_SEEDS:]
    pos = positive_interference(sparse) > POSITIVE_INTERFERENCE
    frac = float((b[pos] < 0).float().mean()) if pos.any() else float("nan")
    claims.append(NEGATIVE_BIAS(
        [check(f"share of features with positive interference > {POSITIVE_INTERFERENCE:g} (S = 0.5 and 0.9) "
               "whose bias b_i < 0", frac, ">=", NEGATIVE_SHARE)],
        f"{fmt(100 * frac)}% of {int(pos.sum())} such features",
    ))
    notes = quick_note(quick) + [
        f"The linear model is trained at lr {LINEAR_LR:g} (the ReLU model at the sources' 1e-3): with sparse features "
        "its gradient is small and at 1e-3 it has not converged after 10,000 steps."
    ]
    return Findings(figures, claims, notes)


FIRST_LOOK = Experiment(
    name="first-look",
    title="First look: a linear and a ReLU output model, n = 5 features in m = 2 dimensions",
    explanation="""Five features of decreasing importance (I_i = 0.9^i) must pass through two hidden dimensions and be
reconstructed. A linear model can only do what PCA does: it gives the two most important features a dimension each
and ignores the rest, however sparse the features are. With a ReLU on the output the picture changes as features
become sparse: it starts storing more features than it has dimensions, and uses a negative bias to cut off the
interference that this causes.

Each sparsity (S = 0, 0.5, 0.9) is trained as four instances with different initialisations; the figures show the
first of each.""",
    configs=first_look_configs,
    analyze=first_look_analyze,
    claims=(LINEAR_TOP_TWO, RELU_DENSE_TWO, RELU_SPARSE_FIVE, NEGATIVE_BIAS),
)


# ---------------------------------------------------------------------------------------------- 2. intro figure

INTRO_MORE = ClaimSpec(
    "intro.more-features-when-sparse",
    "As features get sparser, the model represents more of them: two when dense, all five when sparse.", PAPER)
INTRO_PENTAGON = ClaimSpec(
    "intro.pentagon",
    "At the highest sparsity the five features form a regular pentagon, each with dimensionality 2/5.", PAPER)
INTRO_PAIRS = ClaimSpec(
    "intro.antipodal-pairs",
    "Between the dense and the sparse regime, the model stores four features as two antipodal pairs.", PAPER)
MIN_RHO = 0.8
INTRO_DENSITY = [float(20 ** (-k / 9)) for k in range(10)]  # the notebook's 20^-linspace(0, 1, 10)
# Fits per density. The paper, on m = 2 models: "Getting clean results required fitting each model multiple times
# and taking the solution with the lowest loss" (investigations/toy_intro_seeds.py).
INTRO_FITS = 6


def intro_configs(quick: bool, fits: int = INTRO_FITS) -> dict[str, RunConfig]:
    return {"relu": toy("relu", 5, 2, [p for p in INTRO_DENSITY for _ in range(fits)], quick, importance_decay=0.9)}


def fits_by_setting(run: Run) -> list[list[int]]:
    """Instances grouped by their feature probabilities (each group: the fits of one setting), in first-seen order."""
    groups: dict[tuple[float, ...], list[int]] = {}
    for k, row in enumerate(run.config.data.probability().tolist()):
        groups.setdefault(tuple(row), []).append(k)
    return list(groups.values())


def lowest_loss_fits(run: Run) -> list[int]:
    """The instance with the lowest late training loss in each setting (the paper's best of several fits)."""
    loss = late_loss(run)
    return [min(group, key=lambda k: loss[k]) for group in fits_by_setting(run)]


def _densest_first(run: Run, instances: list[int]) -> list[int]:
    p = run.config.data.probability()[:, 0]
    return sorted(instances, key=lambda k: -float(p[k]))


def _intro_counts(run: Run, instances: list[int]) -> tuple[list[int], float, bool]:
    """Represented counts of one instance per density from dense to sparse, their tie-aware Spearman rho with
    1/(1-S), and whether the claim's three conditions hold for them."""
    chosen = _densest_first(run, instances)
    counts = n_represented(run.W[chosen]).tolist()
    rho = spearman([1 / float(run.config.data.probability()[k, 0]) for k in chosen], counts)
    return counts, rho, counts[0] == 2 and counts[-1] == 5 and rho >= MIN_RHO


def intro_analyze(runs: Mapping[str, Run], quick: bool) -> Findings:
    run = runs["relu"]
    groups = fits_by_setting(run)
    fits = len(groups[0])
    chosen = _densest_first(run, lowest_loss_fits(run))
    f = figure_inputs(run)
    figures = [plots.features_2d(f.W, f.table, f.labels, f.title, chosen),
               plots.wtw_and_norms(f.W, f.table, f.labels, f.title, chosen)]
    counts, rho, _ = _intro_counts(run, chosen)
    shapes = {k: " + ".join(s.kind for s in inst if s.kind != "not represented")
              for k, inst in zip(chosen, classify(run.W[chosen]))}
    # The sweep of the f-th fit at every density: what a single fit per density (the notebook's way) would show.
    single = [_intro_counts(run, [g[f] for g in groups])[2] for f in range(fits)] if fits > 1 else []
    claims = [INTRO_MORE(
        [check("represented at the densest instance", counts[0], "==", 2),
         check("represented at the sparsest instance", counts[-1], "==", 5),
         check("Spearman rank correlation (ties averaged) of 1/(1-S) with the count", rho, ">=", MIN_RHO)],
        f"counts from dense to sparse (lowest-loss fit of {fits} per density): {counts}; Spearman rho = {fmt(rho)}",
        note=(f"Read, as the paper does for m = 2 models, from the lowest-loss of {fits} fits per density "
              "(investigations/toy_intro_seeds.py). Taken alone, the sweep of the i-th fit at every density meets "
              f"all three conditions for {sum(single)} of {fits} fits. The report's earlier single fit per density "
              "(the original notebook's setting) gave counts [2, 2, 3, 4, 3, 5, 5, 4, 4, 5], rho = 0.788 with ties "
              "averaged, and did not." if single else ""),
    )]
    sparsest = chosen[-1]
    pent = [s for s in classify(run.W[sparsest:sparsest + 1])[0] if s.kind == "pentagon"]
    D = dimensionality(run.W[sparsest:sparsest + 1])[0]
    worst = float((D - 0.4).abs().max())
    claims.append(INTRO_PENTAGON(
        [check("pentagons at the sparsest instance", len(pent), "==", 1),
         within("every D_i", 0.4 + worst, 0.4, 0.05, shown="2/5")],
        f"structure: {shapes[sparsest] or 'none'}; D_i = {', '.join(fmt(d, 2) for d in D.tolist())}",
    ))
    antipodal = [k for k in chosen if shapes[k].count("antipodal pair") == 2]
    claims.append(INTRO_PAIRS(
        [check("instances with two antipodal pairs (D = 1/2)", len(antipodal), ">=", 1)],
        f"{len(antipodal)} lowest-loss fit(s) with two antipodal pairs, at 1-S = "
        + (", ".join(fmt(float(run.config.data.probability()[k, 0]), 2) for k in antipodal) or "none"),
    ))
    return Findings(figures, claims, quick_note(quick))


INTRO = Experiment(
    name="intro",
    title="The intro figure: ten sparsities from 1 - S = 1 to 0.05",
    explanation="""The paper's opening figure: the same five features (I_i = 0.9^i) in two dimensions, trained at ten
densities 1 - S = 20^(-k/9). Dense features get dedicated dimensions; as sparsity grows the model first adds
antipodal pairs, then packs all five features into a pentagon, paying with interference it cuts off with its bias.

Models with a two-dimensional hidden space often settle in a worse arrangement, so, as the paper does for them, each
density is fitted six times and the figures and claims read the fit with the lowest loss.""",
    configs=intro_configs,
    analyze=intro_analyze,
    claims=(INTRO_MORE, INTRO_PENTAGON, INTRO_PAIRS),
)


# ---------------------------------------------------------------------------------------------- 3. sparsity sweep

SWEEP_DENSITY = [1.0, 0.3, 0.1, 0.03, 0.01]
SWEEP_MORE = {
    name: ClaimSpec(f"sweep.{name}.more-features-when-sparse",
                    f"With n = {n}, m = {m}: the number of represented features grows as sparsity grows.", PAPER)
    for name, n, m in (("n20", 20, 5), ("n100", 100, 20))
}
SWEEP_TOP_M = ClaimSpec(
    "sweep.n20.dense-top-m",
    "Dense (1-S = 1), the model represents exactly the m = 5 most important features, like PCA.", PAPER)
SWEEP_ORTHOGONAL = ClaimSpec(
    "sweep.n20.important-stay-orthogonal",
    "The most important features stay orthogonal longest: at intermediate sparsity they are untouched while less "
    "important features superpose.", PAPER)
OWN_DIMENSION = 0.1  # superposition below this: a feature has a dimension of its own
SHARED = 0.3  # mean superposition above this: the other represented features share theirs
ORTHOGONAL_READING = (
    "Reading (c), a real disagreement with the claim as we quantified it from the paper's figure (the paper gives n, "
    "m and the importance; the optimisation is the original notebook's: AdamW, lr 1e-3, batch 1024, 10,000 steps). "
    "In that setting with 8 fits per density (investigations/toy_sweep_orthogonal.py), 7 of 8 fits keep features 0 "
    "and 1 (and 2) in dimensions of their own at 1-S = 0.3, the lowest-loss fit among them. At 0.1 only 2 of 8 keep "
    "both, and the lowest-loss fit keeps feature 0 alone (loss 3.82e-4, against 4.11e-4 for the fits that keep "
    "both). At 0.03 no fit keeps any feature alone. 30,000 steps change nothing (at 0.1 the lowest-loss of 4 fits "
    "again keeps only feature 0; at 0.03 none), and reading the lowest-loss of several fits, as the intro figure "
    "does, would not reproduce the claim either. The order the paper describes holds: superposition starts with the "
    "less important features and reaches feature 0 last, but over a narrower range of sparsity than 0.3 to 0.03.")


def sweep_configs(quick: bool) -> dict[str, RunConfig]:
    n100 = [float(100 ** (-i / 99)) for i in range(100)]
    return {
        "n20": toy("relu", 20, 5, SWEEP_DENSITY, quick, importance_decay=0.7),
        "n100": toy("relu", 100, 20, SWEEP_DENSITY, quick, importance=n100),
    }


def sweep_analyze(runs: Mapping[str, Run], quick: bool) -> Findings:
    figures, claims = [], []
    for name, run in runs.items():
        m = run.config.model.n_hidden
        f = figure_inputs(run)
        figures.append(plots.wtw_and_norms(f.W, f.table, f.labels, f.title))
        counts = n_represented(run.W).tolist()
        rising = all(b >= a for a, b in zip(counts, counts[1:]))
        claims.append(SWEEP_MORE[name](
            [Check("represented count non-decreasing from 1-S = 1 to 0.01", rising),
             check("count at 1-S = 0.01 minus the dense count", counts[-1] - counts[0], ">", 0)],
            f"counts at 1-S = {', '.join(fmt(p) for p in SWEEP_DENSITY)}: {counts} (m = {m})",
        ))
    run = runs["n20"]
    dense = represented(run.W[0:1])[0]
    claims.append(SWEEP_TOP_M(
        [check("features 0-4 represented", int(dense[:5].sum()), "==", 5),
         check("features 5-19 represented", int(dense[5:].sum()), "==", 0)],
        f"represented: {dense.nonzero().flatten().tolist()}",
    ))
    # The most important features keep dedicated, orthogonal dimensions while less important ones superpose.
    sup = superposition(run.W)
    rep = represented(run.W)
    rows, dedicated, tops, others_mean = [], [], [], []
    for k, p in enumerate(SWEEP_DENSITY[1:4], start=1):
        top = float(sup[k, :2].max())
        others = sup[k, 2:][rep[k, 2:]]
        mean_other = float(others.mean()) if len(others) else float("nan")
        rows.append(f"1-S = {fmt(p)}: top two {fmt(top, 2)}, other represented mean {fmt(mean_other, 2)}")
        tops.append(top)
        others_mean.append(mean_other)
        own = ((sup[k] < OWN_DIMENSION) & rep[k]).nonzero().flatten().tolist()
        dedicated.append(f"{fmt(p)}: {own or 'none'}")
    checks = [check("superposition of features 0 and 1 at 1-S = 0.3, 0.1, 0.03", max(tops), "<", OWN_DIMENSION),
              check("mean superposition of the other represented features there", float(np.min(others_mean)), ">",
                    SHARED)]
    own_text = "Features with a dimension of their own (superposition < 0.1) at 1-S = " + "; ".join(dedicated) + "."
    reading = "" if all(c.holds for c in checks) else " " + ORTHOGONAL_READING
    claims.append(SWEEP_ORTHOGONAL(checks, "; ".join(rows), note=own_text + reading))
    return Findings(figures, claims, quick_note(quick))


SWEEP = Experiment(
    name="sparsity-sweep",
    title="Sparsity sweeps: n = 20 in m = 5, and n = 100 in m = 20",
    explanation="""The paper's W^T W figure: each column is one density (1 - S = 1, 0.3, 0.1, 0.03, 0.01). The heatmap shows
W^T W (off-diagonal entries are interference); the bars show each feature's norm, coloured by how much it
superposes with others (dark: a dimension of its own; yellow: shared). The n = 20 model has importance 0.7^i, as in
the paper; the n = 100 model has the original notebook's importance, falling from 1 to 0.01 as 100^(-i/99) (the
notebook trains it at twenty densities from 1 to 0.05; here it shares the n = 20 model's five).""",
    configs=sweep_configs,
    analyze=sweep_analyze,
    claims=(*SWEEP_MORE.values(), SWEEP_TOP_M, SWEEP_ORTHOGONAL),
)
