"""Seed 004's walk-through of superposition, in its own setting: Gaussian features, a cosine learning-rate schedule.

The walk-through (Pramodith B., "Mechanistic Interpretability: What's Superposition?", 2024) trains the paper's toy
autoencoder, n = 5 features in m = 2 dimensions with importance 0.9^i, on inputs drawn from a standard normal and
zeroed with probability S ("feature_sparsity_prob"), with AdamW at lr 1e-3 annealed by a cosine schedule over
10,000 steps of batch 1024. It then reads the models feature by feature: the linear model keeps the two most
important features (PCA); at S = 0.5 the ReLU model puts all five features on two directions, and the feature that
shares feature 0's direction interferes with it, which a negative bias b_0 offsets; at S = 0.9 every feature gets a
direction of its own, and the ReLU cuts off feature 2's negative interference with features 0 and 1.

Its inputs are symmetric, which the paper's are not: flipping the sign of any W_j leaves the expected loss unchanged
(x_j and -x_j have the same law), so the sign of a dot product W_i . W_j is set by the initialisation, not by the
loss. Readings that rest on such a sign are checked here as the walk-through states them.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from .. import plots
from ..analysis.geometry import NOT_REPRESENTED, classify_instance
from ..analysis.metrics import cosines, feature_norms, interference, wtw
from ..config import DataConfig, RunConfig, make_config
from ..data import FeatureData
from ..families.toy import figure_inputs
from ..plots.walkthrough import bias_against_interference
from ..runs import Run
from .base import Claim, ClaimSpec, Experiment, Findings, check, fmt, within
from .toy import quick_note, schedule

SOURCE = "Pramodith B. 2024, Mechanistic Interpretability: What's Superposition? (a walk-through)"

N_FEATURES, N_HIDDEN = 5, 2
IMPORTANCE_DECAY = 0.9  # "0.9 ** torch.arange(num_features)"
STEPS, LR, BATCH = 10_000, 1e-3, 1024  # the walk-through's num_steps, learning_rate, batch_size
HALF, SPARSE = 0.5, 0.9  # its feature_sparsity_prob S for the ReLU models (a feature is zero with probability S)
SEEDS = 12  # ReLU instances per sparsity (the walk-through trains one model, torch.manual_seed(42))
LINEAR_SEEDS = 3  # the linear model is a PCA: every seed finds it
QUICK_SEEDS = 2
PANELS_PER_ROW = 6  # figures show the instances of one sparsity in rows of six

# Thresholds, from the walk-through's wording and the weights it prints (not from our runs).
NEAR = 0.05  # "almost 0": the linear model's other norms (~1e-3), biases and interference; ||W_0||, ||W_1|| ~ 1
WEIGHT = 0.05  # a feature "has weight" above this norm: the walk-through calls 0.13-0.23 represented, 1e-3 not
SHARED_COS = 0.99  # two features share a direction when |cos| exceeds this
ORTHOGONAL_COS = 0.1  # |cos| below this: orthogonal
NOTABLE = 0.1  # a "notable" dot product W_i . W_j (feature 2's negative interference at S = 0.9)
RATE = 1 - SPARSE * SPARSE  # "1 - (0.9 * 0.9) = 0.19": inputs on which feature 0 or 1 is active at S = 0.9
RATE_SAMPLES = 1 << 16
RATE_SIGMAS = 4.0  # the sampled share may miss the closed form by this many standard errors

LINEAR_PCA = ClaimSpec(
    "walkthrough.linear-top-two",
    "With dense Gaussian features (S = 0) the linear model learns the two most important features, orthogonal with "
    "norm about 1, leaves the other three at about 0, and its bias and interference are almost 0 (a PCA).",
    SOURCE)
FIVE_ON_TWO = ClaimSpec(
    "walkthrough.five-on-two",
    "At S = 0.5 the ReLU model gives all five features weight but uses just two directions, orthogonal to each "
    "other: two features on one, three on the other.", SOURCE)
NORM_ORDER = ClaimSpec(
    "walkthrough.norms-follow-importance",
    "At S = 0.5 the ranked order of the norms ||W_i|| follows the feature importances.", SOURCE)
NEGATIVE_BIAS = ClaimSpec(
    "walkthrough.negative-bias",
    "At S = 0.5 feature 0 shares its direction with a less important feature and learns a negative bias b_0.",
    SOURCE)
POSITIVE_INTERFERENCE = ClaimSpec(
    "walkthrough.positive-interference",
    "At S = 0.5 the interference feature 0 receives, sum_{j != 0} W_0 . W_j, is positive, and the negative bias "
    "b_0 is there to offset it (negative interference the ReLU cuts off by itself).", SOURCE)
DISTINCT = ClaimSpec(
    "walkthrough.sparse-distinct-directions",
    "At S = 0.9 all five features are represented in directions of their own, and the features are less "
    "orthogonal than at S = 0.5.", SOURCE)
NEGATIVE_CUT = ClaimSpec(
    "walkthrough.negative-interference",
    "At S = 0.9 feature 2 has notable negative interference with both feature 0 and feature 1 (which the ReLU "
    "cuts off).", SOURCE)
INTERFERENCE_RATE = ClaimSpec(
    "walkthrough.interference-rate",
    "At S = 0.9 features 0 and 1 are both zero about 80% of the time: one of them is active on "
    "1 - 0.9 * 0.9 = 0.19 of the inputs.", SOURCE, kind="exact")

# Numbers from investigations/walkthrough_sign_symmetry.py (24 seeds per sparsity, the full setting).
SIGN_READING = (
    "With the walk-through's symmetric (Gaussian) inputs the expected loss is unchanged when any W_j changes sign "
    "(x_j and -x_j have the same law), so the sign of each W_i . W_j is drawn by the initialisation, not chosen by "
    "the loss; flipping feature 0's partner moves the estimated loss of each of 24 instances by under 2 standard "
    "errors (at most 1.6e-4 of 0.315). The paper's reading (positive interference offset by a bias, negative "
    "interference cut off by the ReLU for free) assumes non-negative inputs; the walk-through's one model drew its "
    "signs.")
READINGS = {
    "walkthrough.positive-interference": (
        "Reading (c): over 24 seeds feature 0's interference is positive in 11 and negative in 13, while b_0 < 0 in "
        "all 24: the bias cuts off the interference x_j W_0 . W_j, which is positive for half the inputs whatever "
        "the sign of W_0 . W_j. " + SIGN_READING),
    "walkthrough.negative-interference": (
        "Reading (c): over 24 seeds W_2 . W_0 and W_2 . W_1 are both below -0.1 in 7, about the quarter that two "
        "coin flips give (other sign pairs: ++ 2, +- 4, -+ 3; one of them near 0 in 8). " + SIGN_READING),
}
# Always shown with the norm-order claim: its verdict depends on which arrangement most seeds fall into.
ARRANGEMENT_NOTE = (
    "The order of the top two norms is set by which weak features share their direction, and seeds settle in "
    "several such arrangements, nearly equal in loss (investigations/walkthrough_sign_symmetry.py, 24 seeds, losses "
    "on 16.8 million common inputs): the most common, [0, 2]; [1, 3, 4] (8 of 24), has ||W_1|| above ||W_0|| by "
    "about 0.001 in all 8, and a loss higher by 1.9e-5 ± 0.8e-5 than the walk-through's own [0, 3]; [1, 2, 4] (5 of "
    "24), which with [0, 3, 4]; [1, 2] (3 of 24, equal loss) has the lowest loss and ||W_0|| > ||W_1|| (by about "
    "0.009) in all 8. The weak features' norms fall in the order of importance in 23 of 24.")


def _cfg(kind: str, probs: list[float], quick: bool) -> RunConfig:
    return make_config(
        data=dict(n_features=N_FEATURES, feature_probability=probs, importance_decay=IMPORTANCE_DECAY,
                  magnitude="normal"),  # active features ~ N(0, 1): the walk-through's torch.randn
        model=dict(kind=kind, n_hidden=N_HIDDEN),
        train=dict(batch_size=BATCH, seed=0, schedule="cosine", **schedule(quick, STEPS, LR)),
    )


def walkthrough_configs(quick: bool) -> dict[str, RunConfig]:
    seeds, linear = (QUICK_SEEDS, QUICK_SEEDS) if quick else (SEEDS, LINEAR_SEEDS)
    return {
        "linear": _cfg("linear", [1.0] * linear, quick),
        "relu": _cfg("relu", [1 - s for s in (HALF, SPARSE) for _ in range(seeds)], quick),
    }


def _most(n: int) -> int:
    return n // 2 + 1


def _rounded(t: torch.Tensor, digits: int = 2) -> list:
    return [[round(v, digits) for v in row] for row in t.tolist()]


def groups(W_k: torch.Tensor) -> list[list[int]]:
    """The features of one instance that share a direction (|cos| > SHARED_COS), among those with weight; a feature
    without weight is left out."""
    return [s.features for s in classify_instance(W_k, norm_threshold=WEIGHT, cos_tol=SHARED_COS)
            if s.kind != NOT_REPRESENTED]


def linear_claim(W: torch.Tensor, b: torch.Tensor) -> Claim:
    norms = feature_norms(W)
    top = float((norms[:, :2] - 1).abs().max())
    rest, cos = float(norms[:, 2:].max()), float(cosines(W)[:, 0, 1].abs().max())
    bias, interf = float(b.abs().max()), float(interference(W).abs().max())
    return LINEAR_PCA(
        [within("||W_0||, ||W_1||", 1 + top, 1.0, NEAR), check("other norms", rest, "<", NEAR),
         check("|cos(W_0, W_1)|", cos, "<", ORTHOGONAL_COS), check("|b_i|", bias, "<", NEAR),
         check("|sum_{j != i} W_i . W_j|", interf, "<", NEAR)],
        f"over all {W.shape[0]} instances: max | ||W_i|| - 1 | of the top two = {fmt(top)}, largest other norm = "
        f"{fmt(rest)}, max |cos(W_0, W_1)| = {fmt(cos)}, max |b_i| = {fmt(bias)}, max |interference| = {fmt(interf)}")


def five_on_two_claim(W: torch.Tensor) -> Claim:
    n, found = W.shape[0], []
    for k in range(n):
        g = groups(W[k])
        flat = sorted(i for grp in g for i in grp)
        ok = flat == list(range(W.shape[1])) and sorted(map(len, g)) == [2, 3]
        if ok:  # the two directions must be orthogonal
            ok = float(cosines(W[k:k + 1])[0, g[0][0], g[1][0]].abs()) < ORTHOGONAL_COS
        found.append((ok, g))
    hits = sum(ok for ok, _ in found)
    return FIVE_ON_TWO(
        [check(f"instances (of {n}) whose five features all have norm > {WEIGHT:g} and lie on two orthogonal "
               f"directions, 2 + 3 (|cos| > {SHARED_COS:g} within, < {ORTHOGONAL_COS:g} between)", hits, ">=",
               _most(n))],
        f"{hits} of {n} instances; features sharing a direction: {'; '.join(str(g) for _, g in found)}; norms "
        f"{_rounded(feature_norms(W))}")


def norm_order_claim(W: torch.Tensor) -> Claim:
    norms = feature_norms(W)
    ordered = (norms[:, :-1] > norms[:, 1:]).all(-1)
    hits = int(ordered.sum())
    return NORM_ORDER(
        [check(f"instances (of {W.shape[0]}) with ||W_0|| > ||W_1|| > ... > ||W_4||", hits, ">=", _most(W.shape[0]))],
        f"{hits} of {W.shape[0]} instances; norms {_rounded(norms, 3)}")


def _partner(C_k: torch.Tensor) -> list[int]:
    return [j for j in range(1, C_k.shape[0]) if abs(float(C_k[0, j])) > SHARED_COS]


def negative_bias_claim(W: torch.Tensor, b: torch.Tensor) -> Claim:
    n, C = W.shape[0], cosines(W)
    shares = [bool(_partner(C[k])) and float(feature_norms(W)[k, 0]) > WEIGHT for k in range(n)]
    hits = sum(s and float(b[k, 0]) < 0 for k, s in enumerate(shares))
    return NEGATIVE_BIAS(
        [check(f"instances (of {n}) where feature 0 shares its direction (|cos| > {SHARED_COS:g}) and b_0 < 0",
               hits, ">=", _most(n))],
        f"{hits} of {n} instances; feature 0's partners {[_partner(C[k]) for k in range(n)]}; b_0 = "
        f"{[round(float(v), 3) for v in b[:, 0]]}; other biases {_rounded(b[:, 1:], 3)}")


def positive_interference_claim(W: torch.Tensor, b: torch.Tensor) -> Claim:
    n, interf, b0 = W.shape[0], interference(W)[:, 0], b[:, 0]
    hits = int(((interf > 0) & (b0 < 0)).sum())
    # The reading's mechanism: the bias offsets positive interference; negative interference the ReLU cuts off free.
    unexplained = int(((interf < 0) & (b0 < 0)).sum())
    return POSITIVE_INTERFERENCE(
        [check(f"instances (of {n}) with sum_{{j != 0}} W_0 . W_j > 0 and b_0 < 0", hits, ">=", _most(n)),
         check("instances with b_0 < 0 although sum_{j != 0} W_0 . W_j < 0", unexplained, "==", 0)],
        f"{hits} of {n} instances; interference on feature 0 {[round(float(v), 3) for v in interf]}: "
        f"{int((interf > 0).sum())} positive, {int((interf < 0).sum())} negative; b_0 < 0 in {int((b0 < 0).sum())} "
        f"of {n}, {int(((interf < 0) & (b0 < 0)).sum())} of them with negative interference")


def distinct_claim(W_sparse: torch.Tensor, W_half: torch.Tensor) -> Claim:
    n = W_sparse.shape[0]
    g = [groups(W_sparse[k]) for k in range(n)]
    own = sum(len(gk) == W_sparse.shape[1] for gk in g)  # five groups of one: every feature has weight, alone
    cos_sparse, cos_half = cosines(W_sparse)[:, 0, 1].abs(), cosines(W_half)[:, 0, 1].abs()
    tilted = int((cos_sparse > ORTHOGONAL_COS).sum())
    straight = int((cos_half < ORTHOGONAL_COS).sum())
    return DISTINCT(
        [check(f"S = 0.9 instances (of {n}) whose five features all have norm > {WEIGHT:g} and no two share a "
               f"direction (|cos| > {SHARED_COS:g})", own, ">=", _most(n)),
         check(f"S = 0.9 instances (of {n}) with |cos(W_0, W_1)| > {ORTHOGONAL_COS:g}", tilted, ">=", _most(n)),
         check(f"S = 0.5 instances (of {W_half.shape[0]}) with |cos(W_0, W_1)| < {ORTHOGONAL_COS:g}", straight, ">=",
               _most(W_half.shape[0]))],
        f"S = 0.9: {own} of {n} with five directions (groups {'; '.join(map(str, g))}), |cos(W_0, W_1)| = "
        f"{[round(float(v), 2) for v in cos_sparse]}; S = 0.5: |cos(W_0, W_1)| = "
        f"{[round(float(v), 2) for v in cos_half]}; norms at S = 0.9 {_rounded(feature_norms(W_sparse))}")


def negative_cut_claim(W: torch.Tensor) -> Claim:
    n, G = W.shape[0], wtw(W)
    hits = int(((G[:, 2, 0] < -NOTABLE) & (G[:, 2, 1] < -NOTABLE)).sum())
    return NEGATIVE_CUT(
        [check(f"instances (of {n}) with W_2 . W_0 < -{NOTABLE:g} and W_2 . W_1 < -{NOTABLE:g}", hits, ">=",
               _most(n))],
        f"{hits} of {n} instances; (W_2 . W_0, W_2 . W_1) = "
        f"{[(round(float(G[k, 2, 0]), 2), round(float(G[k, 2, 1]), 2)) for k in range(n)]}")


def active_share(data: DataConfig, instance: int, samples: int = RATE_SAMPLES, seed: int = 0) -> float:
    """Share of sampled inputs of `instance` on which feature 0 or feature 1 is non-zero."""
    x = FeatureData(data).sample(samples, torch.Generator().manual_seed(seed)).x[instance]
    return float(((x[:, 0] != 0) | (x[:, 1] != 0)).float().mean())


def interference_rate_claim(data: DataConfig, instance: int) -> Claim:
    p = data.probability()[instance]
    closed = 1 - float((1 - p[0]) * (1 - p[1]))
    share = active_share(data, instance)
    tol = float(f"{RATE_SIGMAS * (closed * (1 - closed) / RATE_SAMPLES) ** 0.5:.2g}")  # shown as, e.g., 0.0061
    return INTERFERENCE_RATE(
        [within("1 - (1 - p_0)(1 - p_1) of the data's probabilities", closed, RATE, 1e-6, shown=f"{RATE:.2f}"),
         within(f"share of {RATE_SAMPLES} sampled inputs with x_0 or x_1 non-zero", share, closed, tol,
                shown=f"{closed:.3g}")],
        f"p_0 = {float(p[0]):.3g}, p_1 = {float(p[1]):.3g}: closed form {closed:.4f}; sampled {share:.4f}")


def _instances(run: Run, sparsity: float) -> list[int]:
    probs = run.config.data.probability()[:, 0].tolist()
    return [k for k, p in enumerate(probs) if abs(p - (1 - sparsity)) < 1e-6]


def _bias(run: Run) -> torch.Tensor:
    """The run's bias b, zeros for a model without one (whose bias claims then fail: b_0 = 0 is not negative)."""
    return run.b if run.b is not None else torch.zeros(run.W.shape[:2])


def walkthrough_analyze(runs: Mapping[str, Run], quick: bool) -> Findings:
    lin, relu = runs["linear"], runs["relu"]
    half, sparse = _instances(relu, HALF), _instances(relu, SPARSE)
    W, b = relu.W.detach(), _bias(relu)
    Wh, bh, Ws = W[half], b[half], W[sparse]
    claims = [linear_claim(lin.W.detach(), _bias(lin)), five_on_two_claim(Wh), norm_order_claim(Wh),
              negative_bias_claim(Wh, bh), positive_interference_claim(Wh, bh), distinct_claim(Ws, Wh),
              negative_cut_claim(Ws), interference_rate_claim(relu.config.data, sparse[0])]
    if not quick:  # the readings were measured on the full setting
        for claim in claims:
            if not claim.reproduced and claim.id in READINGS:
                claim.note = " ".join(filter(None, [claim.note, READINGS[claim.id]]))
            if claim.id == NORM_ORDER.id:
                claim.note = " ".join(filter(None, [claim.note, ("Reading (c). " if not claim.reproduced else "")
                                                    + ARRANGEMENT_NOTE]))

    fl, fr = figure_inputs(lin), figure_inputs(relu)
    cols = min(len(half), PANELS_PER_ROW)
    some = half[:cols] + sparse[:cols]  # W^T W of one row of instances per sparsity
    figures = [
        plots.features_2d(fl.W, fl.table, fl.labels, fl.title),
        plots.features_2d(fr.W, fr.table, fr.labels, fr.title, half + sparse, max_cols=cols),
        plots.wtw_and_norms(fr.W, fr.table, fr.labels, fr.title, some, max_cols=cols),
        plots.bias(fr.b, fr.labels, fr.title, half + sparse),
        plots.interference(fr.table, fr.labels, fr.title, half, max_cols=cols),
        bias_against_interference(interference(Wh), bh, f"{fr.title} · its {len(half)} instances at S = {HALF:g}"),
    ]
    notes = quick_note(quick, STEPS, LR) + [
        "The walk-through's setting: n = 5, m = 2, importance 0.9^i, active features ~ N(0, 1), AdamW (weight decay "
        "0.01) at lr 1e-3 with a cosine schedule to 0 over 10,000 steps of batch 1024, xavier-normal W, zero bias. "
        "Where it differs: it trains one model (torch.manual_seed(42)), we train "
        f"{len(half)} instances per sparsity and {lin.W.shape[0]} linear ones, each its own seed; its loss sums "
        "the weighted errors over features, ours averages them (a factor of 5, which Adam's normalised steps do not "
        "see)."]
    return Findings(figures, claims, notes)


WALKTHROUGH = Experiment(
    name="walkthrough",
    title="A walk-through's own setting: Gaussian features, cosine schedule",
    explanation="""The walk-through of seed 004 trains the paper's five features in two dimensions (importance
0.9^i) on Gaussian inputs, a feature being zero with probability S and otherwise drawn from N(0, 1), with AdamW and
a cosine learning-rate schedule, and reads its models feature by feature. We train its setting as it states it:
three linear models at S = 0, and twelve ReLU models each at S = 0.5 and S = 0.9. The linear model does PCA: the
two most important features, orthogonal, the rest at zero. At S = 0.5 the ReLU model gives all five features weight
on just two orthogonal directions: the two important features at norm 1.02, the three weak ones (norms 0.1 to 0.3)
riding on their directions, and the important features carry a negative bias. At S = 0.9 every feature has a
direction of its own (two of them with norms near 0.2), and features 0 and 1 are no longer orthogonal. Signed inputs
make the sign of every W_i . W_j arbitrary: flipping a feature's direction leaves the expected loss unchanged, so
the walk-through's readings that rest on a sign (positive interference offset by the bias, negative interference
cut off by the ReLU) hold only in the instances whose initialisation drew that sign. The last figure shows it:
each feature's bias against its interference, one marker per instance.""",
    configs=walkthrough_configs,
    analyze=walkthrough_analyze,
    claims=(LINEAR_PCA, FIVE_ON_TWO, NORM_ORDER, NEGATIVE_BIAS, POSITIVE_INTERFERENCE, DISTINCT, NEGATIVE_CUT,
            INTERFERENCE_RATE),
)
