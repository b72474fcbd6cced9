"""The toy-autoencoder experiments of Toy Models of Superposition: first look, intro figure, sparsity sweeps.

Where the paper shows one model per setting, we train several instances (each its own initialisation) and ask
that most of them agree: a single seed can settle in a local minimum, as the paper itself notes.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from .. import plots
from ..analysis.geometry import classify
from ..analysis.metrics import cosines, dimensionality, feature_norms, positive_interference, superposition
from ..config import RunConfig, make_config
from ..runs import Run
from .base import PAPER, Claim, Experiment, Findings, fmt

REPRESENTED = 0.5  # ||W_i|| above this counts as represented (trained norms sit near 0 or near 1)
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
    return (feature_norms(W) > REPRESENTED).sum(-1)


def spearman(a, b) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


# ---------------------------------------------------------------------------------------------- 1. first look

FIRST_SPARSITY = (0.0, 0.5, 0.9)
FIRST_SEEDS = 4


def _first_probs() -> list[float]:
    return [1 - s for s in FIRST_SPARSITY for _ in range(FIRST_SEEDS)]


# The linear model's gradient vanishes with sparse features; at lr 1e-3 it is far from converged after 10k steps.
LINEAR_LR = 1e-2


def first_look_configs(quick: bool) -> dict[str, RunConfig]:
    return {
        "linear": toy("linear", 5, 2, _first_probs(), quick, lr=LINEAR_LR, importance_decay=0.9),
        "relu": toy("relu", 5, 2, _first_probs(), quick, importance_decay=0.9),
    }


def first_look_analyze(runs: Mapping[str, Run], quick: bool) -> Findings:
    lin, relu = runs["linear"], runs["relu"]
    shown = [k * FIRST_SEEDS for k in range(len(FIRST_SPARSITY))]  # one instance per sparsity
    figures = [plots.features_2d(lin, shown), plots.features_2d(relu, shown), plots.bias(relu, shown)]
    claims = []

    norms = feature_norms(lin.W)
    top_ok = (norms[:, :2] - 1).abs().max().item()
    rest = norms[:, 2:].max().item()
    orth = cosines(lin.W)[:, 0, 1].abs().max().item()
    claims.append(Claim(
        "first-look.linear-top-two",
        "The linear model represents the two most important features, orthogonally, and drops the other three, "
        "at every sparsity.",
        "||W_0||, ||W_1|| = 1 ± 0.1; other norms < 0.2; |cos(W_0, W_1)| < 0.1 (all instances)", PAPER,
        f"max | ||W_i|| - 1 | over the top two = {fmt(top_ok)}; largest other norm = {fmt(rest)}; max |cos| = {fmt(orth)} "
        f"({lin.W.shape[0]} instances)",
        top_ok < 0.1 and rest < 0.2 and orth < 0.1,
    ))

    counts = n_represented(relu.W).view(len(FIRST_SPARSITY), FIRST_SEEDS)
    dense_top = (feature_norms(relu.W[:FIRST_SEEDS])[:, :2] > REPRESENTED).all(-1) & (counts[0] == 2)
    claims.append(Claim(
        "first-look.relu-dense-two",
        "With dense features (S = 0) the ReLU output model also keeps only the two most important features.",
        f"2 represented features, the two most important, in most of {FIRST_SEEDS} instances", PAPER,
        f"{int(dense_top.sum())} of {FIRST_SEEDS} instances (represented counts {counts[0].tolist()})",
        int(dense_top.sum()) > FIRST_SEEDS // 2,
    ))
    all_five = int((counts[-1] == 5).sum())
    claims.append(Claim(
        "first-look.relu-sparse-all-five",
        "Once features are sparse (S = 0.9) the ReLU output model represents all five features in two dimensions.",
        f"5 represented features in most of {FIRST_SEEDS} instances", PAPER,
        f"{all_five} of {FIRST_SEEDS} instances (represented counts {counts[-1].tolist()})",
        all_five > FIRST_SEEDS // 2,
    ))

    sparse = relu.W[FIRST_SEEDS:]
    b = relu.b[FIRST_SEEDS:]
    pos = positive_interference(sparse) > 0.1
    frac = float((b[pos] < 0).float().mean()) if pos.any() else float("nan")
    claims.append(Claim(
        "first-look.negative-bias",
        "Where a feature suffers positive interference, the ReLU model learns a negative bias that cuts it off.",
        "b_i < 0 for at least 90% of features whose positive interference exceeds 0.1 (S = 0.5 and 0.9)", COURSE,
        f"{fmt(100 * frac)}% of {int(pos.sum())} such features",
        bool(pos.any()) and frac >= 0.9,
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
)


# ---------------------------------------------------------------------------------------------- 2. intro figure

def intro_configs(quick: bool) -> dict[str, RunConfig]:
    probs = [float(20 ** (-k / 9)) for k in range(10)]
    return {"relu": toy("relu", 5, 2, probs, quick, importance_decay=0.9)}


def intro_analyze(runs: Mapping[str, Run], quick: bool) -> Findings:
    run = runs["relu"]
    figures = [plots.features_2d(run), plots.wtw_and_norms(run)]
    probs = run.config.data.probability()[:, 0].numpy()
    counts = n_represented(run.W).numpy()
    shapes = [" + ".join(s.kind for s in inst if s.kind != "not represented") for inst in classify(run.W)]
    rho = spearman(1 / probs, counts)
    claims = [Claim(
        "intro.more-features-when-sparse",
        "As features get sparser, the model represents more of them: two when dense, all five when sparse.",
        "2 features at 1-S = 1, 5 at 1-S = 0.05, and a rank correlation of at least 0.8 between 1/(1-S) and the count",
        PAPER,
        f"counts from dense to sparse: {counts.tolist()}; Spearman rho = {fmt(rho)}",
        counts[0] == 2 and counts[-1] == 5 and rho >= 0.8,
    )]
    sparsest = classify(run.W[-1:])[0]
    pent = [s for s in sparsest if s.kind == "pentagon"]
    D = dimensionality(run.W[-1:])[0]
    claims.append(Claim(
        "intro.pentagon",
        "At the highest sparsity the five features form a regular pentagon, each with dimensionality 2/5.",
        "a pentagon; every D_i = 0.4 ± 0.05", PAPER,
        f"structure: {shapes[-1] or 'none'}; D_i = {', '.join(fmt(d, 2) for d in D.tolist())}",
        bool(pent) and bool(((D - 0.4).abs() < 0.05).all()),
    ))
    antipodal = [k for k, s in enumerate(shapes) if s.count("antipodal pair") == 2]
    claims.append(Claim(
        "intro.antipodal-pairs",
        "Between the dense and the sparse regime, the model stores four features as two antipodal pairs.",
        "at least one instance with two antipodal pairs (D = 1/2)", PAPER,
        f"{len(antipodal)} instance(s) with two antipodal pairs, at 1-S = "
        + (", ".join(fmt(float(probs[k]), 2) for k in antipodal) or "none"),
        bool(antipodal),
    ))
    return Findings(figures, claims, quick_note(quick))


INTRO = Experiment(
    name="intro",
    title="The intro figure: ten sparsities from 1 - S = 1 to 0.05",
    explanation="""The paper's opening figure: the same five features (I_i = 0.9^i) in two dimensions, trained at ten
densities 1 - S = 20^(-k/9). Dense features get dedicated dimensions; as sparsity grows the model first adds
antipodal pairs, then packs all five features into a pentagon, paying with interference it cuts off with its bias.""",
    configs=intro_configs,
    analyze=intro_analyze,
)


# ---------------------------------------------------------------------------------------------- 3. sparsity sweep

SWEEP_DENSITY = [1.0, 0.3, 0.1, 0.03, 0.01]


def sweep_configs(quick: bool) -> dict[str, RunConfig]:
    n100 = [float(100 ** (-i / 99)) for i in range(100)]
    return {
        "n20": toy("relu", 20, 5, SWEEP_DENSITY, quick, importance_decay=0.7),
        "n100": toy("relu", 100, 20, SWEEP_DENSITY, quick, importance=n100),
    }


def sweep_analyze(runs: Mapping[str, Run], quick: bool) -> Findings:
    figures, claims = [], []
    for name, run in runs.items():
        n, m = run.config.data.n_features, run.config.model.n_hidden
        figures.append(plots.wtw_and_norms(run))
        counts = n_represented(run.W).tolist()
        grows = all(b >= a for a, b in zip(counts, counts[1:])) and counts[-1] > counts[0]
        claims.append(Claim(
            f"sweep.{name}.more-features-when-sparse",
            f"With n = {n}, m = {m}: the number of represented features grows as sparsity grows.",
            f"non-decreasing counts from 1-S = 1 to 0.01, ending above the dense count ({m} when dense)", PAPER,
            f"counts at 1-S = {', '.join(fmt(p) for p in SWEEP_DENSITY)}: {counts}",
            grows,
        ))
    run = runs["n20"]
    dense = feature_norms(run.W[0])
    top_m = bool((dense[:5] > REPRESENTED).all() and (dense[5:] < REPRESENTED).all())
    claims.append(Claim(
        "sweep.n20.dense-top-m",
        "Dense (1-S = 1), the model represents exactly the m = 5 most important features, like PCA.",
        "features 0-4 represented, 5-19 not", PAPER,
        f"represented: {(dense > REPRESENTED).nonzero().flatten().tolist()}",
        top_m,
    ))
    # The most important features keep dedicated, orthogonal dimensions while less important ones superpose.
    sup = superposition(run.W)
    norms = feature_norms(run.W)
    rows, dedicated = [], []
    ok = True
    for k, p in enumerate(SWEEP_DENSITY[1:4], start=1):
        rep = norms[k] > REPRESENTED
        top = sup[k, :2]
        others = sup[k, 2:][rep[2:]]
        mean_other = float(others.mean()) if len(others) else float("nan")
        rows.append(f"1-S = {fmt(p)}: top two {fmt(float(top.max()), 2)}, other represented mean {fmt(mean_other, 2)}")
        ok &= bool(top.max() < 0.1) and len(others) > 0 and mean_other > 0.3
        own = ((sup[k] < 0.1) & rep).nonzero().flatten().tolist()
        dedicated.append(f"{fmt(p)}: {own or 'none'}")
    claims.append(Claim(
        "sweep.n20.important-stay-orthogonal",
        "The most important features stay orthogonal longest: at intermediate sparsity they are untouched while "
        "less important features superpose.",
        "superposition of features 0 and 1 below 0.1, and above 0.3 on average for the other represented features, "
        "at 1-S = 0.3, 0.1 and 0.03",
        PAPER,
        "; ".join(rows),
        ok,
        note="Features with a dimension of their own (superposition < 0.1) at 1-S = " + "; ".join(dedicated) + ".",
    ))
    return Findings(figures, claims, quick_note(quick))


SWEEP = Experiment(
    name="sparsity-sweep",
    title="Sparsity sweeps: n = 20 in m = 5, and n = 100 in m = 20",
    explanation="""The paper's W^T W figure: each column is one density (1 - S = 1, 0.3, 0.1, 0.03, 0.01). The heatmap shows
W^T W (off-diagonal entries are interference); the bars show each feature's norm, coloured by how much it
superposes with others (dark: a dimension of its own; yellow: shared). The n = 20 model has importance 0.7^i; the
n = 100 model has importance falling from 1 to 0.01 as 100^(-i/99).""",
    configs=sweep_configs,
    analyze=sweep_analyze,
)
