"""Sparse coding: sparse autoencoders take features back out of superposition (Sharkey et al. 2022, "Taking features
out of superposition with sparse autoencoders"; Bricken et al. 2023, "Towards Monosemanticity"). Toy models give what
real networks never do, the true feature directions, so recovery is measured, not guessed.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from ..analysis.metrics import REPRESENTED_NORM, represented
from ..config import SAERunConfig, make_config, validate
from ..families.sae import figure_inputs
from ..plots import loss_history
from ..plots.dictionary import decoder_directions, recovery_curves, recovery_heatmap
from ..errors import RunDirError
from ..runs import Run
from .base import Check, ClaimSpec, Experiment, Findings, check, steps_of

SOURCE = "Sharkey et al. 2022; Bricken et al. 2023 (sparse dictionary learning)"
TOY_L1 = [0.03, 0.1, 0.2, 0.3, 0.5, 1.0]
SWEEP_L1 = [0.03, 0.1, 0.3]
SPHERE = dict(d=256, n_features=512, n_active=5.0)
QUICK_SPHERE = dict(d=32, n_features=64, n_active=3.0)
SIZES = (256, 512, 1024)
QUICK_SIZES = (32, 64, 128)
RECOVERED = 0.95  # mean max cosine that counts as recovering the features (the bar)

TOY_RECOVERS = ClaimSpec(
    "sae.toy-recovers-features",
    "On a toy model with n = 5 features in m = 2 dimensions, an SAE with as many latents as features recovers the "
    "represented features.", SOURCE)
SPHERE_RECOVERS = ClaimSpec(
    "sae.sphere-recovery-once-dictionary-covers",
    "On synthetic data (many true features in fewer dimensions, a few active at a time), recovery is near 1 once the "
    "dictionary has at least as many latents as there are true features.", SOURCE)
DEAD_GROW = ClaimSpec(
    "sae.dead-latents-past-dictionary-size",
    "Past the number of true features, the extra latents die: the share of dead latents grows with the dictionary.",
    SOURCE)
# Why the dead-latent claim fails at the smallest L1 (investigations/sae_dead_latents_source.py and
# sae_dead_latents_steps.py print these numbers).
DEAD_READING = (
    "Reading (b): too few steps. In the source's own setting (Sharkey et al. 2022, from the report's replication "
    "script: 512 features in 256 dimensions, probabilities decaying as 0.99^i and correlated, Adam lr 1e-3, batch "
    "256, 20,000 steps, the L1 term divided by d_sae) at alpha = 0.056, the grid value nearest our smallest L1 (l1 "
    "0.028 at 512 latents), no latent of 512 dies on 8,192 held-out samples and 18.5% of 1,024 do (13.2% at 15,000 "
    "steps, 0.5% at 5,000). Our own configuration at L1 = 0.03 does the same with twice the steps: at 2,400 steps 0% "
    "of 512 and 15.0% of 1,024 latents are dead (19.2% at 4,800), and the 512-latent code is no longer dense (L0 "
    "48.4 → 9.3, MMCS 0.846 → 0.999). Neither fits the report's time budget (the source's setting takes about 20 "
    "minutes per dictionary size on one core; doubling the sweep's steps roughly doubles this experiment), so the "
    "sweep keeps 1,200 steps and the verdict stands."
)
L1_TRADEOFF = ClaimSpec(
    "sae.l1-tradeoff",
    "A larger L1 coefficient buys sparsity (lower L0) at the price of shrinkage (reconstructions shorter than the "
    "inputs).", SOURCE)


def toy_source(quick: bool):
    """n = 5 features in m = 2 at 1-S = 0.05: the ReLU toy model stores all five as a pentagon."""
    return make_config(data=dict(n_features=5, feature_probability=[0.05]), model=dict(kind="relu", n_hidden=2),
                       train=dict(steps=2_000 if quick else 10_000, lr=3e-3 if quick else 1e-3, seed=0))


def sparse_coding_configs(quick: bool) -> dict:
    toy = toy_source(quick)
    # The toy model is a run of its own (trained, saved and cached first); the SAE reads its directory.
    configs = {"toy-source": toy, "toy": validate(SAERunConfig, dict(
        source={"kind": "toy", "toy": toy.model_dump()}, model=dict(d_sae=5, l1=TOY_L1),
        train=dict(steps=2_000 if quick else 10_000, lr=3e-3 if quick else 1e-3),
    ))}
    sphere = QUICK_SPHERE if quick else SPHERE
    for size in QUICK_SIZES if quick else SIZES:
        configs[f"sphere-{size}"] = validate(SAERunConfig, dict(
            source=dict(kind="sphere", seed=0, **sphere), model=dict(d_sae=size, l1=SWEEP_L1),
            train=dict(steps=600 if quick else 1_200, lr=3e-3, batch_size=1024),
        ))
    return configs


def _recovery_scores(row: pd.Series) -> str:
    """The one-to-one recovery scores of one autoencoder's row: ours (signed) and SAELens' (|cos|, uniqueness)."""
    return f"matched {row.matched_score:.3f}, SAELens mcc {row.mcc:.3f}, uniqueness {row.uniqueness:.3f}"


def sweep_table(runs: Mapping[str, Run]) -> pd.DataFrame:
    return pd.concat([run.table for name, run in runs.items() if name.startswith("sphere-")], ignore_index=True)


def sparse_coding_analyze(runs: Mapping[str, Run], quick: bool) -> Findings:
    claims = []
    toy = runs["toy"]
    if toy.truth is None or "W" not in toy.truth:
        raise RunDirError(f"{toy.path or 'the toy SAE run'} has no toy weights W in its truth.safetensors")
    W = toy.truth["W"]
    n_rep = int(represented(W)[0].sum())
    t = toy.table
    best = t.loc[t.mmcs.idxmax()]
    per_l1 = ", ".join(f"{r.l1:g}: {r.mmcs:.3f}" for _, r in t.iterrows())
    claims.append(TOY_RECOVERS(
        [check("features the toy model represents", n_rep, "==", W.shape[1]),
         check("mean max cosine at the best L1", float(best.mmcs), ">=", RECOVERED)],
        f"{n_rep} of {W.shape[1]} features represented (‖W_i‖ > {REPRESENTED_NORM:g}); mean max cosine by L1: "
        f"{per_l1}; best {best.mmcs:.3f} at L1 = {best.l1:g} ({_recovery_scores(best)})",
        note="With small L1 the SAE can reconstruct the 2-dimensional activations almost perfectly without "
        "aligning its latents with the features; large L1 kills latents.",
    ))

    sweep = sweep_table(runs)
    src = next(run for name, run in runs.items() if name.startswith("sphere-")).config.source
    n_true = src.n_features
    best_by_size = sweep.groupby("d_sae").mmcs.max()
    at_or_above = best_by_size[best_by_size.index >= n_true]
    below = best_by_size[best_by_size.index < n_true]
    size_text = ", ".join(f"{size}: {v:.3f}" for size, v in best_by_size.items())
    at_best = "; ".join(f"{int(r.d_sae)} at L1 = {r.l1:g}: {_recovery_scores(r)}"
                        for _, r in sweep.loc[sweep.groupby("d_sae").mmcs.idxmax()].iterrows())
    claims.append(SPHERE_RECOVERS(
        [check(f"smallest best mean max cosine at d_sae >= {n_true}",
               float(at_or_above.min()) if len(at_or_above) else float("nan"), ">=", RECOVERED),
         Check(f"every d_sae below {n_true} recovers less than the smallest of those",
               bool(len(below) == 0 or (below < at_or_above.min()).all()))],
        f"{src.n_features} true features in {src.d} dimensions, {src.n_active:g} active on average; best mean max "
        f"cosine by d_sae: {size_text} ({at_best})",
    ))
    dead = sweep.pivot_table(index="l1", columns="d_sae", values="dead_fraction")
    sizes = sorted(s for s in dead.columns if s >= n_true)
    grows = all(dead.loc[l1, sizes[i]] < dead.loc[l1, sizes[i + 1]] for l1 in dead.index for i in range(len(sizes) - 1))
    claims.append(DEAD_GROW(
        [check(f"dictionary sizes at or above {n_true}", len(sizes), ">=", 2),
         Check(f"at every L1, a larger share of latents never fires on held-out samples at each d_sae step above "
               f"{n_true}", grows)],
        "dead share by L1 and d_sae: " + "; ".join(
            f"L1 {l1:g}: " + ", ".join(f"{s}: {dead.loc[l1, s]:.1%}" for s in dead.columns) for l1 in dead.index),
        note="Dead means never nonzero on 8,192 held-out samples; resampling is off in this sweep, so the count "
        "shows what the L1 penalty alone does. " + DEAD_READING,
    ))
    l0 = sweep.pivot_table(index="d_sae", columns="l1", values="l0")
    shrink = sweep.pivot_table(index="d_sae", columns="l1", values="shrinkage")
    l1s = sorted(l0.columns)
    falls = all(l0.loc[s, l1s[i]] > l0.loc[s, l1s[i + 1]] and shrink.loc[s, l1s[i]] > shrink.loc[s, l1s[i + 1]]
                for s in l0.index for i in range(len(l1s) - 1))
    claims.append(L1_TRADEOFF(
        [check("L1 values compared", len(l1s), ">=", 2),
         Check("at every d_sae, L0 and ||x̂|| / ||x|| both fall as L1 grows", falls)],
        "; ".join(f"d_sae {s}: L0 " + " → ".join(f"{l0.loc[s, v]:.2f}" for v in l1s) + ", ||x̂||/||x|| "
                  + " → ".join(f"{shrink.loc[s, v]:.3f}" for v in l1s) for s in l0.index)
        + f" (true L0 {src.n_active:g})",
    ))

    f = figure_inputs(toy)
    figures = [
        decoder_directions(f.true_features, f.decoder, f.labels, f.title, mmcs=f.mmcs),
        recovery_heatmap(sweep, title=f"Mean max cosine with the {n_true} true features, by dictionary size and L1"),
        recovery_curves(sweep, title="Recovery and dead latents against dictionary size", n_true=n_true),
        loss_history(f.history, f.labels, f.title),
    ]
    notes = [
        "Metrics: L0 is the mean number of nonzero latents per sample; explained variance 1 − Σ‖x − x̂‖² / "
        "Σ‖x − mean x‖²; shrinkage Σ‖x̂‖ / Σ‖x‖ over nonzero inputs; mean max cosine (MMCS) is, for each true "
        "feature, the best cosine any decoder row reaches, averaged; the matched score pairs latents with "
        "features one-to-one (Hungarian algorithm, scipy) on the signed cosines and averages over the true "
        "features, an unmatched one counting 0. All on 8,192 held-out samples.",
        "SAELens' synthetic-data evaluation (sae_lens.synthetic.eval_sae_on_synthetic_data), under its names: mcc, "
        "the mean correlation coefficient, pairs latents with features one-to-one (Hungarian) on the absolute "
        "cosines and averages the matched |cos| over the min(d_sae, n_true) pairs, so a latent pointing against "
        "its feature counts as recovering it; uniqueness is the number of distinct true features that the latents "
        "pick as their best |cos| match, divided by d_sae (at most n_true / d_sae: 0.5 at twice the features). "
        "The verdicts read the signed scores: a ReLU latent is never negative, so a decoder row opposite a feature "
        "cannot rebuild it (a pentagon turned by 36° is its own negative: MMCS 0.809, mcc 1).",
        "SAEs: ReLU latents with an L1 penalty, decoder rows kept at unit norm, untied, Adam. The toy SAE trains "
        f"{runs['toy'].config.train.steps} steps at lr {runs['toy'].config.train.lr:g}; the synthetic sweep "
        f"{steps_of(runs, 'sphere-')} steps at lr 3e-3, batch 1024.",
    ]
    if quick:
        notes.append(f"Quick mode: synthetic data shrunk to {QUICK_SPHERE['n_features']} features in "
                     f"{QUICK_SPHERE['d']} dimensions and fewer steps; verdicts are not meaningful at this size.")
    return Findings(figures, claims, notes)


SPARSE_CODING = Experiment(
    name="sparse-coding",
    title="Sparse coding: sparse autoencoders recover features from superposition",
    explanation="""A sparse autoencoder learns an overcomplete dictionary: latents f = ReLU(W_enc (x − b_dec) + b_enc),
reconstruction x̂ = f D + b_dec with unit-norm rows D, trained on reconstruction error plus an L1 penalty on f. If the
data are sparse combinations of feature directions, the dictionary should find them. Toy models tell us the answer: an
SAE on the 2-dimensional hidden layer of a toy model storing five features as a pentagon should learn the pentagon,
and on synthetic data of 512 random directions in 256 dimensions it should find all of them once it has enough
latents, with the rest dying.""",
    configs=sparse_coding_configs,
    analyze=sparse_coding_analyze,
    claims=(TOY_RECOVERS, SPHERE_RECOVERS, DEAD_GROW, L1_TRADEOFF),
)
