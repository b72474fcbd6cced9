"""Mixing superposition ("symmetric mixtures", the "Expanding the Scope of Superposition" note): a bilinear
modular-addition model superposes frequencies across its embedding columns although it has room to keep them apart.

The experiment trains the bilinear embedded MLP on (a + b) mod 113, reads the frequencies of its embedding, unmixes
it, rounds its bilinear weights, compares the sparse construction with its Hadamard-mixed twin under an L2 and a
max-|weight| budget, and sweeps the suspected conditions (cross-entropy vs squared error, weight decay, layer norm).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import pandas as pd
import torch

from ..analysis.mixing import (
    hadamard,
    logit_margin,
    mix,
    random_orthogonal,
    rescale,
    sparse_construction,
    weight_sizes,
)
from ..analysis.modadd import top_frequencies
from ..config import ModAddRunConfig, validate
from ..data.modadd import all_pairs
from ..plots import loss_history
from ..plots.modadd import bilinear_weights, budget_comparison, condition_sweep, frequency_shares, weight_magnitudes
from ..runs import Run
from .base import Check, ClaimSpec, Experiment, Findings, check, fmt, steps_of

SOURCE = "Expanding the Scope of Superposition (symmetric mixtures)"
P, QUICK_P = 113, 31
MAIN_WD = 0.1
MAIN_LR = 3e-3
MAIN_STEPS = 10_000
MAIN_INITS = 6
NARROW_HIDDEN = 8
SWEEP_STEPS = 3_000
SWEEP_INITS = 2
SWEEP_WDS = (0.0, 0.1, 0.3, 1.0)
SOLVED = 0.999  # test accuracy that counts as solving the task (all but 1 in 1,000 held-out pairs)
LEARNED = 0.99  # test accuracy for a sweep instance to count in the mixing comparison
MIN_GROUP = 2  # learned inits needed on each side of the comparison for it to say anything
N_RANDOM_MIXERS = 50
PURE_LOSS_CHANGE = 1e-6  # relative loss change that counts as "the function is unchanged"
NEAR_INVERSE = (0.75, 1.25)  # median |w| · λ counted as "near 1/λ"
MORE_MIXING = 0.25  # frequencies per column the suspected conditions must add

SOLVES = ClaimSpec("mixing.reaches-full-accuracy",
                   "The bilinear embedded MLP learns modular addition: held-out pairs are answered correctly.", SOURCE)
TWO_PER_COLUMN = ClaimSpec("mixing.two-frequencies-per-column",
                           "The learned embedding superposes two frequencies in each of its columns.", SOURCE)
UNMIXING = ClaimSpec("mixing.unmixing-keeps-loss-sparsifies",
                     "Unmixing the embedding with an involutory matrix (and the bilinear weights with its inverse) "
                     "leaves the function unchanged and makes the bilinear weights sparse.", SOURCE)
NEAR_INVERSE_DECAY = ClaimSpec("mixing.weights-near-inverse-decay",
                               "Under AdamW the bilinear weights settle near ±1/λ.", SOURCE)
ROUNDING = ClaimSpec("mixing.rounding-improves-loss", "Rounding the bilinear weights to {−c, +c} improves the loss.",
                     SOURCE)
NO_GAIN_L2 = ClaimSpec("mixing.no-gain-at-fixed-l2",
                       "Mixing a sparse solution does not lower its loss when the weights' L2 norms are held fixed.",
                       SOURCE, kind="exact")
GAIN_MAX = ClaimSpec("mixing.gain-under-max-budget",
                     "Under a max-|weight| budget (what AdamW's decay imposes) mixing lowers the cross-entropy: a "
                     "larger logit margin at the same bound.", SOURCE, kind="exact")
HADAMARD_BEST = ClaimSpec("mixing.hadamard-best-mixer",
                          "Hadamard matrices are the natural mixers: dense, orthogonal, with entries ±1/√d.", SOURCE,
                          kind="exact")
CONDITIONS = ClaimSpec("mixing.conditions",
                       "Cross-entropy with weight decay (or layer norm) are the conditions under which mixing appears.",
                       SOURCE)


def _cfg(quick: bool, *, n_hidden: int = 16, inits: int, steps: int, wd: float, loss: str = "ce",
         layer_norm: bool = False, lr: float = MAIN_LR) -> ModAddRunConfig:
    return validate(ModAddRunConfig, dict(
        data=dict(p=QUICK_P if quick else P, train_fraction=0.3, split_seed=0),
        model=dict(kind="bilinear", d_embed=4, n_hidden=n_hidden, n_instances=inits, loss=loss, layer_norm=layer_norm),
        train=dict(steps=steps, lr=lr, weight_decay=wd, seed=0, log_every=100),
    ))


def mixing_configs(quick: bool) -> dict[str, ModAddRunConfig]:
    main_steps = 1_500 if quick else MAIN_STEPS
    sweep_steps = 300 if quick else SWEEP_STEPS
    configs = {"main": _cfg(quick, inits=2 if quick else MAIN_INITS, steps=main_steps, wd=MAIN_WD)}
    if not quick:
        configs["narrow"] = _cfg(quick, n_hidden=NARROW_HIDDEN, inits=4, steps=main_steps, wd=MAIN_WD)
    wds = (0.0, 1.0) if quick else SWEEP_WDS
    for loss, wd, ln in itertools.product(("ce", "mse"), wds, (False, True)):
        configs[f"sweep-{loss}-wd{wd:g}-{'ln' if ln else 'noln'}"] = _cfg(
            quick, inits=1 if quick else SWEEP_INITS, steps=sweep_steps, wd=wd, loss=loss, layer_norm=ln
        )
    return configs


def _solved(run: Run) -> list[int]:
    return [int(k) for k in run.metrics.index[run.metrics.test_accuracy >= SOLVED]]


@torch.no_grad()
def budget_table(p: int, freqs: list[int], seed: int = 0) -> tuple[pd.DataFrame, list[float], list[float]]:
    """The sparse construction, its Hadamard-mixed twin and random orthogonal mixings, each scaled to the sparse
    construction's per-matrix L2 norms and to a max-|weight| budget of 1. Returns the table (model, budget, loss,
    margin), the random orthogonal mixers' margins under the max budget, and the losses of random invertible
    mixings rescaled to the sparse construction's L2 norms."""
    batch = all_pairs(p)
    sparse = sparse_construction(p, freqs)
    d = 2 * len(freqs)
    mixed = mix(sparse, hadamard(d))
    l2 = {k: float(v[0]) for k, v in weight_sizes(sparse, "l2").items()}
    rows = []
    for name, model in (("sparse construction", sparse), ("Hadamard-mixed", mixed)):
        for budget, target in (("same L2 norms", l2), ("max |w| = 1", 1.0)):
            scaled = rescale(model, "l2" if budget.startswith("same") else "max", target)
            rows.append(dict(model=name, budget=budget, loss=float(scaled.loss(batch)[0]),
                             margin=float(logit_margin(scaled, batch)[0])))
    g = torch.Generator().manual_seed(seed)
    # Any invertible mixing, rescaled to the sparse construction's L2 norms (an orthogonal one keeps them anyway).
    invertible_l2 = [float(rescale(mix(sparse, torch.randn(d, d, generator=g, dtype=torch.float64)), "l2", l2)
                           .loss(batch)[0]) for _ in range(N_RANDOM_MIXERS)]
    random_margins, random_losses = [], []
    for _ in range(N_RANDOM_MIXERS):
        scaled = rescale(mix(sparse, random_orthogonal(d, g)), "max", 1.0)
        random_margins.append(float(logit_margin(scaled, batch)[0]))
        random_losses.append(float(scaled.loss(batch)[0]))
    median = sorted(range(N_RANDOM_MIXERS), key=lambda i: random_margins[i])[N_RANDOM_MIXERS // 2]
    rows.append(dict(model="random orthogonal (median)", budget="max |w| = 1", loss=random_losses[median],
                     margin=random_margins[median]))
    return pd.DataFrame(rows), random_margins, invertible_l2


def budget_claims(budget: pd.DataFrame, random_margins: list[float], invertible_l2: list[float],
                  freqs: list[int]) -> list:
    """The exact claims, read off `budget_table`'s output for the construction with frequencies `freqs`."""
    b = budget.set_index(["model", "budget"])
    sparse_l2, mixed_l2 = b.loc[("sparse construction", "same L2 norms")], b.loc[("Hadamard-mixed", "same L2 norms")]
    sparse_max, mixed_max = b.loc[("sparse construction", "max |w| = 1")], b.loc[("Hadamard-mixed", "max |w| = 1")]
    beats_l2 = sum(v < sparse_l2.loss - 1e-9 for v in invertible_l2)
    beaten = sum(m >= mixed_max.margin for m in random_margins)
    n_inv, n_orth = len(invertible_l2), len(random_margins)
    return [
        NO_GAIN_L2(
            [check("|Hadamard-mixed − sparse loss| at the sparse construction's per-matrix L2 norms",
                   abs(float(sparse_l2.loss - mixed_l2.loss)), "<", 1e-9),
             check(f"random invertible mixings (of {n_inv}) below the sparse loss at those norms", beats_l2, "==", 0)],
            f"construction with frequencies {freqs}: loss {sparse_l2.loss:.6g} (sparse) vs {mixed_l2.loss:.6g} "
            f"(Hadamard); random invertible mixings: best {min(invertible_l2):.4g}, median "
            f"{sorted(invertible_l2)[n_inv // 2]:.4g} ({beats_l2} below the sparse loss)",
            note="An orthogonal mixing keeps every norm and the function, so the Hadamard half is a consistency "
            "check; the random invertible mixings are the test.",
        ),
        GAIN_MAX(
            [check("mixed − sparse mean logit margin with every |w| <= 1", float(mixed_max.margin - sparse_max.margin),
                   ">", 0),
             check("mixed − sparse loss with every |w| <= 1", float(mixed_max.loss - sparse_max.loss), "<", 0)],
            f"margin {sparse_max.margin:.4g} → {mixed_max.margin:.4g}, loss {sparse_max.loss:.4g} → "
            f"{mixed_max.loss:.4g}",
        ),
        HADAMARD_BEST(
            [check(f"random orthogonal mixings (of {n_orth}) whose margin under the max budget reaches the "
                   "Hadamard mixing's", beaten, "==", 0)],
            f"Hadamard {mixed_max.margin:.4g}; random orthogonal: median {sorted(random_margins)[n_orth // 2]:.4g}, "
            f"best {max(random_margins):.4g} ({beaten} at or above Hadamard)",
        ),
    ]


def sweep_table(runs: Mapping[str, Run]) -> pd.DataFrame:
    rows = []
    for name, run in runs.items():
        if not name.startswith("sweep-"):
            continue
        m, wd = run.config.model, run.config.train.resolved_weight_decay
        for _, r in run.metrics.iterrows():
            rows.append(dict(loss=m.loss, weight_decay=wd, layer_norm=m.layer_norm, instance=int(r.instance),
                             freqs_per_column=float(r.freqs_per_column), test_accuracy=float(r.test_accuracy),
                             hidden_hoyer=float(r.hidden_hoyer), median_abs_x_wd=float(r.hidden_median_abs_x_wd)))
    return pd.DataFrame(rows)


def mixing_analyze(runs: Mapping[str, Run], quick: bool) -> Findings:
    claims = []
    main = runs["main"]
    table = main.metrics
    n_inits = len(table)
    solved = _solved(main)
    cfg = main.config
    setting = (f"p = {cfg.data.p}, d = {cfg.model.d_embed}, {cfg.model.n_hidden} hidden, AdamW λ = {MAIN_WD:g}, "
               f"lr {cfg.train.lr:g}, {cfg.train.steps} full-batch steps")
    accs = ", ".join(f"{a:.4f}" for a in table.test_accuracy)
    measured = f"{len(solved)} of {n_inits} inits (test accuracy {accs})"
    if "narrow" in runs:
        narrow = runs["narrow"]
        measured += (f"; with {NARROW_HIDDEN} hidden units: {len(_solved(narrow))} of {len(narrow.metrics)} "
                     f"({', '.join(f'{a:.3f}' for a in narrow.metrics.test_accuracy)})")
    claims.append(SOLVES(
        [check(f"share of inits with test accuracy >= {SOLVED} ({setting})", len(solved) / n_inits, ">=", 0.5)],
        measured,
    ))
    shown = solved[0] if solved else 0
    rows = table.iloc[solved] if solved else table.iloc[[]]
    every_column = [bool(r.min_freqs_per_column >= 2) for _, r in rows.iterrows()]
    none = "no solved init"
    claims.append(TWO_PER_COLUMN(
        [check("solved inits", len(rows), ">=", 1),
         check("share of solved inits whose every embedding column carries at least two frequencies (each > 10% of "
               "its squared norm)", sum(every_column) / len(every_column) if every_column else float("nan"), ">",
               0.5)],
        "; ".join(f"init {int(r.instance)}: {r.column_frequencies}" for _, r in rows.iterrows()) or none,
        note="Each column is listed as frequency:share pairs, columns separated by |.",
    ))
    rel = [abs(r.unmixed_train_loss - r.train_loss) / max(r.train_loss, 1e-30) for _, r in rows.iterrows()]
    sparser = [bool(r.unmixed_hidden_hoyer > r.hidden_hoyer) for _, r in rows.iterrows()]
    unmixed_text = "; ".join(
        f"init {int(r.instance)}: Hoyer {r.hidden_hoyer:.2f} → {r.unmixed_hidden_hoyer:.2f}, "
        f"freqs/column {r.freqs_per_column:.2f} → {r.unmixed_freqs_per_column:.2f}" for _, r in rows.iterrows())
    claims.append(UNMIXING(
        [check("solved inits", len(rows), ">=", 1),
         check("largest relative loss change from unmixing", max(rel) if rel else float("nan"), "<",
               PURE_LOSS_CHANGE),
         Check("higher Hoyer sparsity of L and R after unmixing, in every solved init", bool(sparser) and all(sparser))],
        f"largest relative loss change {max(rel):.1e}; {unmixed_text}" if rel else none,
        note="Hoyer sparsity is 0 for entries all of one size and 1 for a single nonzero; the exact sparse "
        "construction (one-hot rows) scores 0.71 at d = 4.",
    ))
    near = [float(r.hidden_median_abs_x_wd) for _, r in rows.iterrows()]
    sweep_all = sweep_table(runs)
    ce = sweep_all[(sweep_all.loss == "ce") & ~sweep_all.layer_norm & (sweep_all.weight_decay > 0)]
    by_wd = ce.groupby("weight_decay").median_abs_x_wd.median()
    sweep_text = ", ".join(f"λ = {wd:g}: {v:.2f}" for wd, v in by_wd.items())
    lo, hi = NEAR_INVERSE
    claims.append(NEAR_INVERSE_DECAY(
        [check("solved inits", len(rows), ">=", 1),
         check("smallest median |L, R| · λ over the solved inits", min(near) if near else float("nan"), ">=", lo),
         check("largest median |L, R| · λ over the solved inits", max(near) if near else float("nan"), "<=", hi)],
        ("median |w| · λ per solved init: " + ", ".join(f"{v:.2f}" for v in near)
         + "; |w| spread (std/mean): " + ", ".join(f"{r.hidden_abs_spread:.2f}" for _, r in rows.iterrows()))
        if near else none,
        note=f"AdamW moves a weight whose gradient keeps its sign towards ∓1/λ with time constant 1/(lr·λ) = "
        f"{1 / (cfg.train.lr * MAIN_WD):.0f} steps. In the condition sweep (cross-entropy, no layer norm, "
        f"{steps_of(runs, 'sweep-')} steps) the median |w| · λ was {sweep_text}.",
    ))
    deltas = [float(r.rounded_binary_loss_change) for _, r in rows.iterrows()]
    ternary = [float(r.rounded_ternary_loss_change) for _, r in rows.iterrows()]
    claims.append(ROUNDING(
        [check("solved inits", len(rows), ">=", 1),
         check("share of solved inits whose training loss falls when L and R are rounded to ±c",
               sum(v < 0 for v in deltas) / len(deltas) if deltas else float("nan"), ">", 0.5)],
        ("loss change from rounding to ±c: " + ", ".join(f"{v:+.3g}" for v in deltas)
         + "; to {−c, 0, +c}: " + ", ".join(f"{v:+.3g}" for v in ternary)) if deltas else none,
        note="c is the mean |w| of each matrix; the trained loss is " + (", ".join(
            f"{r.train_loss:.2g}" for _, r in rows.iterrows()) or "n/a") + ".",
    ))

    # The construction under weight budgets.
    freqs = top_frequencies(main.model.embed.detach().double(), 2)[shown]
    budget, random_margins, invertible_l2 = budget_table(cfg.data.p, freqs)
    claims.extend(budget_claims(budget, random_margins, invertible_l2, freqs))

    # The condition sweep.
    sweep = sweep_table(runs)
    learned = sweep[sweep.test_accuracy >= LEARNED]
    suspected = learned[(learned.loss == "ce") & ((learned.weight_decay > 0) | learned.layer_norm)]
    control = learned[(learned.loss == "mse") | ((learned.weight_decay == 0) & ~learned.layer_norm)]
    by_condition = sweep.groupby(["loss", "weight_decay", "layer_norm"]).agg(
        mixing=("freqs_per_column", "mean"), accuracy=("test_accuracy", "mean")).reset_index()
    cond_text = "; ".join(
        f"{r.loss} λ={r.weight_decay:g}{' LN' if r.layer_norm else ''}: {r.mixing:.2f} (acc {r.accuracy:.2f})"
        for _, r in by_condition.iterrows())
    gap = float(suspected.freqs_per_column.mean() - control.freqs_per_column.mean()) if len(suspected) and len(
        control) else float("nan")
    claims.append(CONDITIONS(
        [check(f"learned inits (test accuracy >= {LEARNED}) on the smaller side", min(len(suspected), len(control)),
               ">=", MIN_GROUP),
         check("extra frequencies per column under cross-entropy with λ > 0 or layer norm, against squared error "
               "or unregularised cross-entropy", gap, ">=", MORE_MIXING)],
        f"mean frequencies per column: {fmt(float(suspected.freqs_per_column.mean()))} ({len(suspected)} inits) vs "
        f"{fmt(float(control.freqs_per_column.mean()))} ({len(control)} inits); by condition: {cond_text}",
        note="Accuracy in brackets is the mean test accuracy of the condition's inits. Under squared error "
        f"{int((sweep[sweep.loss == 'mse'].test_accuracy >= LEARNED).sum())} of {int((sweep.loss == 'mse').sum())} "
        f"inits learned the task ({steps_of(runs, 'sweep-')} steps); a condition whose inits did not learn says "
        "nothing about mixing, since an unlearned embedding spreads its norm over many frequencies.",
    ))

    figures = [frequency_shares(main, shown), bilinear_weights(main, shown), weight_magnitudes(main, solved or None),
               budget_comparison(budget, title=f"Sparse construction (p = {cfg.data.p}, frequencies {freqs}) against "
                                               "its mixed twins under two weight budgets"),
               condition_sweep(sweep, title=f"Mixing under each training condition ({steps_of(runs, 'sweep-')} steps, "
                                            f"p = {cfg.data.p})"),
               loss_history(main)]
    notes = [
        f"Training: {setting}; weights initialised xavier-normal; the split (30% of the p² pairs) is the same for "
        "every init. An init counts as solved at test accuracy ≥ 0.999.",
        "Frequencies per column counts the frequencies carrying more than 10% of an embedding column's squared norm "
        "(1: pure, 2: two superposed). Unmixing fits, per init, the matrix that turns the columns into the cos and "
        "sin of the embedding's two strongest frequencies, and applies its inverse to L and R.",
    ]
    if quick:
        notes.append(f"Quick mode: p = {QUICK_P}, fewer steps and inits, and a reduced sweep; the verdicts are not "
                     "meaningful at this size.")
    return Findings(figures, claims, notes)


MIXING = Experiment(
    name="mixing",
    title="Mixing superposition: symmetric mixtures in a bilinear modular-addition model",
    explanation="""A network can superpose features even with more neurons than features. The bilinear embedded MLP
(x = [E[a], E[b]], h = (L x) ⊙ (R x), logits = U h) learns (a + b) mod p with a few Fourier frequencies; with a
4-dimensional embedding it needs only two, and could give each its own pair of columns. The source found it instead
spreads both frequencies over all four columns, with bilinear weights near ±1, and that an involutory change of
basis (applied to the embedding and, inverted, to L and R) unmixes the frequencies and makes L and R sparse without
changing the function. The proposed reason: cross-entropy rewards ever larger logits, weight decay bounds each weight,
and under a bound on the largest weight a dense (Hadamard-mixed) basis gives larger logits than a sparse one.""",
    configs=mixing_configs,
    analyze=mixing_analyze,
    claims=(SOLVES, TWO_PER_COLUMN, UNMIXING, NEAR_INVERSE_DECAY, ROUNDING, NO_GAIN_L2, GAIN_MAX, HADAMARD_BEST,
            CONDITIONS),
)
