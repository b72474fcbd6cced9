"""Neurons (Elhage et al. 2022, "Superposition in a privileged basis" and "Computation in superposition").

A ReLU hidden layer makes the hidden basis privileged: its units are neurons, and a feature can have one to
itself (monosemantic) or share it (polysemantic). The neuron model shows features aligning with neurons when
dense; the computation model, trained to output |x|, shows polysemantic neurons appearing as sparsity grows and a
motif, "asymmetric superposition with inhibition", that lets two features share a neuron.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from .. import plots
from ..analysis.metrics import represented
from ..analysis.neurons import (
    ALIGNED,
    COMPUTED_GAIN,
    classify_neurons,
    describe_motif,
    feature_alignment,
    find_asymmetric_inhibition,
    primary_feature,
    side_gains,
)
from ..config import RunConfig, make_config
from ..data import Batch, FeatureData
from ..families.toy import figure_inputs
from ..models import ComputationModel, abs_construction
from ..models.base import InstanceModel
from ..runs import Run
from .base import PAPER, Check, ClaimSpec, Claim, Experiment, Findings, check, fmt

DENSITIES = [1.0, 0.3, 0.1, 0.03, 0.01]
# The paper shows, per sparsity, the lowest-loss of 1,000 neuron models ("these small models were harder to
# optimize"); we train a few seeds per density and read the lowest-loss one where the claim is about that solution.
PRIVILEGED_SEEDS = 5
SEEDS = 3  # seeds per density of the small n = 20, m = 10 computation model
EVAL_BATCHES = 16  # batches of 1024 in the fixed sample on which losses are compared
EVAL_SEED = 1234


ALIGNED_SHARE = 0.9  # share of the dense model's represented features that must lie along one neuron
MODERATE_POLY = 2  # polysemantic neurons allowed at 1-S = 0.3
MATCHES = 1.02  # trained / construction loss: "matches" the construction
BEATS = 0.95  # ... and "beats" it

ALIGN = ClaimSpec(
    "neurons.dense-features-align-with-neurons",
    "In a privileged basis, dense features align with neurons: each represented feature reads one neuron.", PAPER)
SPARSE_POLY = ClaimSpec(
    "neurons.sparse-polysemantic",
    "With sparse features the neuron model superposes, and its neurons become polysemantic.", PAPER)
DENSE_MONO = ClaimSpec(
    "neurons.computation-dense-monosemantic", "Computing |x| on dense features, every neuron is monosemantic.", PAPER)
MODERATE_MONO = ClaimSpec(
    "neurons.computation-moderate-monosemantic", "Neurons stay monosemantic to moderate sparsity.", PAPER)
POLY_GROWS = ClaimSpec(
    "neurons.computation-polysemantic-grows",
    "Polysemantic neurons appear at 1-S = 0.1 and grow in number at 0.03 and 0.01.", PAPER)
LESS_IMPORTANT = ClaimSpec(
    "neurons.polysemantic-serve-less-important",
    "The polysemantic neurons serve less important features than the monosemantic ones.", PAPER)
BEATS_CONSTRUCTION = ClaimSpec(
    "neurons.beats-construction",
    "The trained model matches the non-superposed construction (|x| = ReLU(x) + ReLU(-x) for the m/2 most important "
    "features) when dense, and beats it once it can compute more features in superposition.", PAPER)
MOTIF = ClaimSpec(
    "neurons.asymmetric-inhibition-motif",
    "Sparse computation models use asymmetric superposition with inhibition: two features share a neuron with "
    "unequal weights, and another neuron inhibits the leak into the wrong output.", PAPER)


def _schedule(quick: bool, steps: int) -> dict:
    return dict(steps=steps // 10, lr=3e-3) if quick else dict(steps=steps, lr=1e-3)


def neuron_configs(quick: bool) -> dict[str, RunConfig]:
    privileged = make_config(
        data=dict(n_features=10, feature_probability=[p for p in DENSITIES for _ in range(PRIVILEGED_SEEDS)],
                  importance_decay=0.75),
        model=dict(kind="neuron", n_hidden=5),
        train=dict(batch_size=1024, seed=0, **_schedule(quick, 10_000)),
    )
    computation = make_config(
        data=dict(n_features=100, feature_probability=DENSITIES, importance_decay=0.8,
                  magnitude="uniform_signed", target="abs"),
        model=dict(kind="abs", n_hidden=40, init="kaiming_uniform"),
        train=dict(batch_size=1024, seed=0, optimizer="adam", **_schedule(quick, 30_000)),
    )
    discrete = make_config(
        data=dict(n_features=20, feature_probability=[p for p in DENSITIES[2:] for _ in range(SEEDS)],
                  importance_decay=0.8, magnitude="uniform_signed", target="abs"),
        model=dict(kind="abs", n_hidden=10, init="kaiming_uniform"),
        train=dict(batch_size=1024, seed=0, optimizer="adam", **_schedule(quick, 10_000)),
    )
    return {"privileged": privileged, "computation": computation, "discrete": discrete}


def sample_losses(run: Run, models: list[InstanceModel], batches: int = EVAL_BATCHES,
                  common: bool = False) -> list[torch.Tensor]:
    """Per instance, the loss of each of `models` on one fixed sample of the run's data (1024 x `batches` draws).

    With `common`, every instance sees the inputs of the first instance with the same density and importance
    (common random numbers): seeds of one density then differ in loss by their weights only, not by their draws."""
    cfg = run.config.data
    data = FeatureData(cfg)
    gen = torch.Generator().manual_seed(EVAL_SEED)
    rows = torch.cat([cfg.probability(), cfg.importance_table()], dim=1)
    source = [next(j for j in range(len(rows)) if torch.equal(rows[j], rows[k])) for k in range(len(rows))]
    totals = [torch.zeros(cfg.n_instances) for _ in models]
    with torch.no_grad():
        for _ in range(batches):
            batch = data.sample(1024, gen)
            if common:
                batch = Batch(x=batch.x[source], target=batch.target[source], weight=batch.weight[source])
            for total, model in zip(totals, models):
                total += model.loss(batch).float() / batches
    return totals


def construction_loss(run: Run, batches: int = EVAL_BATCHES) -> tuple[list[float], list[float]]:
    """Per instance, the loss of the trained model and of the 2n-neuron construction given the same m neurons:
    the m/2 most important features computed exactly, every other feature answered by its mean |x| (its best
    constant), both on the same fixed sample."""
    cfg = run.config
    n, m = cfg.data.n_features, cfg.model.n_hidden
    keep = m // 2
    full = abs_construction(n, cfg.data.n_instances)
    b = torch.zeros(cfg.data.n_instances, n)
    b[:, keep:] = 0.5 * cfg.data.probability()[:, keep:]  # E|x| for x uniform on [-1, 1) when active
    built = ComputationModel.from_weights(full.W1[:, :, : 2 * keep], full.W2[:, : 2 * keep, :], b)
    trained, constructed = sample_losses(run, [run.model, built], batches)
    return trained.tolist(), constructed.tolist()


def aligned_share(W: torch.Tensor) -> list[float]:
    """Per instance, the share of represented features whose hidden direction lies along one neuron (NaN when the
    instance represents none)."""
    rep, align = represented(W), feature_alignment(W) >= ALIGNED
    return [float(align[k][rep[k]].float().mean()) if rep[k].any() else float("nan") for k in range(len(W))]


def alignment_claim(priv: Run) -> Claim:
    """Dense features along neurons, read on the lowest-loss dense instance (the paper's figure is the lowest-loss
    of 1,000 models) and reported over every dense instance."""
    probs = priv.config.data.probability()[:, 0].tolist()
    dense = [k for k, p in enumerate(probs) if p == 1.0]
    loss = sample_losses(priv, [priv.model], common=True)[0]
    best = min(dense, key=lambda k: float(loss[k]))
    shares = aligned_share(priv.W)
    n_rep = represented(priv.W)
    return ALIGN(
        [check(f"lowest-loss of the {len(dense)} instances at 1-S = 1: share of its represented features with "
               f"max_n |W_in| / ||W_i|| >= {ALIGNED:g}", shares[best], ">=", ALIGNED_SHARE)],
        f"lowest-loss instance: {fmt(100 * shares[best])}% of {int(n_rep[best].sum())} represented features; "
        f"instances with every represented feature along one neuron: "
        f"{sum(shares[k] == 1.0 for k in dense)} of {len(dense)} (shares "
        + ", ".join(fmt(shares[k], 2) for k in dense) + ")",
        note="The paper trained 1,000 models per sparsity and shows the lowest-loss one, so the claim reads our "
        "lowest-loss seed (on one common sample). With features always on, the model is nearly linear and "
        "rotating a block of features across neurons costs little: the other seeds stop in that local minimum, "
        "0.1-0.7% above the aligned solution's loss. Reading (a), which instance is read: with 10 seeds in "
        "ARENA's setting (Adam, lr 1e-3, 10,000 steps, batch 1024), 6 of 10 dense instances align every feature "
        "and all 6 have a lower loss than the other 4 (0.006011-0.006015 against 0.006027-0.006045); at ARENA's "
        "densest 1-S = 0.75, 10 of 10 align. Our AdamW and start give the same: 6 of 10, 0.006011-0.006014 "
        "against 0.006019-0.006056 (investigations/neurons_privileged_source.py).",
    )


def from_source_start(run: Run) -> bool:
    """Whether the computation model starts as ARENA's does (kaiming-uniform)."""
    return run.config.model.init == "kaiming_uniform"


def setting(run: Run) -> str:
    """The computation model's start and optimiser, in words, for the notes."""
    t = run.config.train
    start = "ARENA's kaiming-uniform start" if from_source_start(run) else "a per-matrix xavier-normal start"
    return f"{start}, {'AdamW' if t.optimizer == 'adamw' else 'Adam'} at lr {t.lr:g}, {t.steps:,} steps"


# What decides the computation model's solution (investigations/neurons_computation_source.py).
START_READING = (
    "The start decides this claim (reading (a), the initialisation, where it fails). ARENA, the one source with "
    "code for this model, starts W1 and W2 from kaiming_uniform on its 3-D weight tensors: weights within +-0.039, "
    "five times smaller than a per-matrix xavier-normal start (std 0.12). From ARENA's start, with Adam at lr 1e-3, "
    "batch 1024 and 30,000 steps, two seeds per density have 4 and 4, 13 and 12, 34 and 31 polysemantic neurons at "
    "1-S = 0.1, 0.03, 0.01 (a few, then more, as the paper says), and 0 at 1 and 0.3. From the xavier start with "
    "AdamW the model settles where its most important features are computed on one side of 0 only, and the counts "
    "were 26, 22, 34. ARENA's default 5,000 steps leave the model unconverged (7.5x the construction's loss when "
    "dense)."
)


CONSTRUCTION_READING = (
    "Reading (b), too few steps when dense. From ARENA's start (Adam, lr 1e-3, batch 1024) the model no longer "
    "falls into the one-sided minimum and mostly beats the construction when sparse (two seeds at 30,000 steps, "
    "with 0.2.0's random stream: 0.88 and 0.88 at 1-S = 0.1, 0.72 and 0.69 at 0.03, 0.69 and 1.00 at 0.01; at 0.01 "
    "Adam at a constant lr on features active once in a hundred samples can also lose a low loss again: with 0.3.0's "
    "stream the report's instance rose from 1e-5 to 4e-5 after about 600 steps and ended at 16.8x), but it "
    "approaches it only "
    "slowly when dense: its loss there is 7.5x the construction's after ARENA's 5,000 steps, 3.8x and 4.4x after "
    "30,000 and 2.05x after 90,000, computing 11, 14 and 17 of the 20 features on both sides (the last ones weigh "
    "1-2% of the first in the loss); at 1-S = 0.3 it stays 5-9% above it (1.05 after 90,000 steps)."
)


# Prefixed to the reading above when a run starts elsewhere than ARENA does.
OTHER_START_READING = (
    "Reading (a), the initialisation, for this run (see neurons.computation-polysemantic-grows): from its start "
    "training settles in the one-sided minimum. "
)


def construction_claim(densities: list[float], ratio: list[float], both: list[int], one: list[int],
                       reading: str = CONSTRUCTION_READING) -> Claim:
    """The trained abs model against the non-superposed construction with the same neurons, from the measured loss
    ratios (trained / construction) at each density, most to least dense, and the features computed on both
    sides of 0 / on one side only; `reading` is the note's explanation."""
    return BEATS_CONSTRUCTION(
        [check("trained / construction loss at every density", max(ratio), "<=", MATCHES),
         check(f"trained / construction loss at 1-S = {fmt(densities[-1])}", ratio[-1], "<", BEATS)],
        "loss ratio at 1-S = " + ", ".join(f"{fmt(p)}: {fmt(r)}" for p, r in zip(densities, ratio)),
        note="Features computed on both sides of 0 / on one side only, at 1-S = "
        + ", ".join(f"{fmt(p)}: {b} / {o}" for p, b, o in zip(densities, both, one))
        + ". A model computing only ReLU(x) or ReLU(-x) of a feature loses half of it: where the ratio is far "
        "above 1, training settled in that one-sided local minimum (from a per-matrix xavier start the ratios were "
        "2.45, 1.11, 41.1, 4.34, 37.4). " + reading,
    )


def neuron_analyze(runs: Mapping[str, Run], quick: bool) -> Findings:
    claims = []
    priv, comp, disc = runs["privileged"], runs["computation"], runs["discrete"]

    # Privileged basis: a represented feature's direction in the hidden layer lies along one neuron.
    claims.append(alignment_claim(priv))
    probs = priv.config.data.probability()[:, 0].tolist()
    dense = [k for k, p in enumerate(probs) if p == max(probs)]
    sparse = [k for k, p in enumerate(probs) if p == min(probs)]
    priv_labels = classify_neurons(priv.W, nonnegative_inputs=True)
    poly_dense = [priv_labels[k].count("polysemantic") for k in dense]
    poly_sparse = [priv_labels[k].count("polysemantic") for k in sparse]
    more = sum(s > d for s, d in zip(poly_sparse, poly_dense))
    claims.append(SPARSE_POLY(
        [check(f"instances (of {len(sparse)}) with more polysemantic neurons at 1-S = {fmt(min(probs))} than at "
               f"1-S = {fmt(max(probs))}", more, ">=", len(sparse) // 2 + 1)],
        f"polysemantic neurons (of {priv.W.shape[-1]}): dense {poly_dense}, sparse {poly_sparse}",
    ))

    # Computation in superposition.
    labels = classify_neurons(comp.W)
    counts = [inst.count("polysemantic") for inst in labels]
    by_p = dict(zip(DENSITIES, counts))
    m = comp.W.shape[-1]
    claims.append(DENSE_MONO(
        [check(f"polysemantic neurons (of {m}) at 1-S = 1", by_p[1.0], "==", 0)], f"{by_p[1.0]} polysemantic"))
    claims.append(MODERATE_MONO(
        [check(f"polysemantic neurons (of {m}) at 1-S = 0.3", by_p[0.3], "<=", MODERATE_POLY)],
        f"{by_p[0.3]} polysemantic"))
    claims.append(POLY_GROWS(
        [check("polysemantic neurons at 1-S = 0.1", by_p[0.1], ">", 0),
         Check("count(0.1) <= count(0.03) <= count(0.01)", by_p[0.1] <= by_p[0.03] <= by_p[0.01])],
        "polysemantic neurons at 1-S = " + ", ".join(f"{fmt(p)}: {c}" for p, c in by_p.items()),
        note=f"This run: {setting(comp)}. " + START_READING,
    ))
    importance = comp.config.data.importance_table()
    primary = primary_feature(comp.W)
    rows, ok = [], True
    for k, p in enumerate(DENSITIES):
        if p > 0.03:
            continue
        mono = [int(primary[k, n]) for n, lab in enumerate(labels[k]) if lab == "monosemantic"]
        poly = [int(primary[k, n]) for n, lab in enumerate(labels[k]) if lab == "polysemantic"]
        if not mono or not poly:
            ok = False
            rows.append(f"1-S = {fmt(p)}: {len(mono)} monosemantic, {len(poly)} polysemantic")
            continue
        mi, pi = float(importance[k, mono].mean()), float(importance[k, poly].mean())
        rows.append(f"1-S = {fmt(p)}: mean importance {fmt(mi)} (monosemantic) vs {fmt(pi)} (polysemantic)")
        ok &= pi < mi
    claims.append(LESS_IMPORTANT(
        [Check("at 1-S = 0.03 and 0.01, both kinds of neuron present and the mean importance of the polysemantic "
               "neurons' largest features lower", ok)],
        "; ".join(rows),
    ))
    trained, constructed = construction_loss(comp)
    # How many features the model computes on both sides of 0 (|x|) and on one side only (ReLU(x) or ReLU(-x)).
    sides = side_gains(comp.W, comp.model.W2.detach()) >= COMPUTED_GAIN
    claims.append(construction_claim(
        DENSITIES, [t / c for t, c in zip(trained, constructed)],
        sides.all(dim=1).sum(-1).tolist(), (sides.sum(dim=1) == 1).sum(-1).tolist(),
        CONSTRUCTION_READING if from_source_start(comp) else OTHER_START_READING + CONSTRUCTION_READING))

    motifs = find_asymmetric_inhibition(disc.W, disc.model.W2.detach(), disc.b)
    disc_probs = disc.config.data.probability()[:, 0]
    claims.append(MOTIF(
        [check("instances of the n = 20, m = 10 model with the motif", len({mo.instance for mo in motifs}), ">=", 1)],
        f"{len(motifs)} motif(s): " + ("; ".join(f"1-S = {fmt(float(disc_probs[mo.instance]))}: {describe_motif(mo)}"
                                                for mo in motifs[:4]) or "none"),
    ))

    loss = sample_losses(priv, [priv.model], common=True)[0]
    shown_priv = [min(dense, key=lambda k: float(loss[k])), min(sparse, key=lambda k: float(loss[k]))]
    shown = sorted({mo.instance for mo in motifs})[:2] or [len(disc_probs) - 1]
    fp, fc, fd = figure_inputs(priv), figure_inputs(comp), figure_inputs(disc)
    figures = [
        plots.neurons(fp.W, fp.importance, fp.labels, fp.title, nonnegative_inputs=fp.nonnegative,
                      instances=shown_priv),
        plots.neurons(fc.W, fc.importance, fc.labels, fc.title, nonnegative_inputs=fc.nonnegative),
        plots.polysemantic_neurons(fc.W, fc.probability, fc.title, nonnegative_inputs=fc.nonnegative),
        plots.neurons(fd.W, fd.importance, fd.labels, fd.title, nonnegative_inputs=fd.nonnegative, instances=shown),
    ]
    notes = [
        f"Neurons are classified by max|w| / ||w|| of their input weights: monosemantic at {ALIGNED:g} or more (the "
        "largest feature carries at least 96% of the squared weight), dead below a norm of 0.01. A feature aligns "
        "with a neuron by the same measure of its hidden direction.",
        f"Neuron model: {PRIVILEGED_SEEDS} seeds per density; the figure shows the lowest-loss seed at the densest "
        "and the sparsest density, as the paper does.",
        f"Computation model: {setting(comp)}, batch 1024 (ARENA's default 5,000 steps leave it unconverged)."
        if not quick else "Quick mode: a tenth of the steps (3,000 for the computation model) at lr 3e-3.",
    ]
    return Findings(figures, claims, notes)


NEURONS = Experiment(
    name="neurons",
    title="Neurons: a privileged basis, polysemanticity and computation in superposition",
    explanation="""With a ReLU on the hidden layer, the hidden units are neurons and their basis is privileged. The neuron
model (h = ReLU(W x), x' = ReLU(W^T h + b); n = 10 features, m = 5 neurons, importance 0.75^i) gives dense
features a neuron each; sparse features share neurons.

The computation model (h = ReLU(W1 x), y = ReLU(W2 h + b)) must output |x| for inputs uniform on [-1, 1). Without
superposition it needs two neurons per feature (|x| = ReLU(x) + ReLU(-x)). With n = 100 features, m = 40 neurons and
importance 0.8^i, the paper finds every neuron monosemantic when dense, a few polysemantic ones at 1-S = 0.1, and
more as sparsity grows, serving the less important features. We train it as ARENA does, from small kaiming-uniform
weights with Adam: from a larger xavier start it settles where features are computed on one side of 0 only. The
bars show each neuron's input weights, neurons sorted by the importance of their main feature. A small model (n = 20, m = 10) shows the motif by which two
features share a neuron: unequal weights in, sizes flipped out, and a second neuron inhibiting the leak.""",
    configs=neuron_configs,
    analyze=neuron_analyze,
    claims=(ALIGN, SPARSE_POLY, DENSE_MONO, MODERATE_MONO, POLY_GROWS, LESS_IMPORTANT, BEATS_CONSTRUCTION, MOTIF),
)
