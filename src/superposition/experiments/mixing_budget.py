"""The mixing note's exact claims: the sparse modular-addition construction against its mixed twins under two weight
budgets (the same per-matrix L2 norms, and a bound on the largest |weight|, which AdamW's decay imposes). Nothing here
reads a trained run except the two frequencies the construction uses."""

from __future__ import annotations

import pandas as pd
import torch

from ..analysis.mixing import hadamard, logit_margin, mix, random_orthogonal, rescale, sparse_construction, weight_sizes
from ..data.modadd import all_pairs
from .base import Claim, ClaimSpec, check

SOURCE = "Expanding the Scope of Superposition (symmetric mixtures)"
N_RANDOM_MIXERS = 50

NO_GAIN_L2 = ClaimSpec("mixing.no-gain-at-fixed-l2",
                       "Mixing a sparse solution does not lower its loss when the weights' L2 norms are held fixed.",
                       SOURCE, kind="exact")
GAIN_MAX = ClaimSpec("mixing.gain-under-max-budget",
                     "Under a max-|weight| budget (what AdamW's decay imposes) mixing lowers the cross-entropy: a "
                     "larger logit margin at the same bound.", SOURCE, kind="exact")
HADAMARD_BEST = ClaimSpec("mixing.hadamard-best-mixer",
                          "Hadamard matrices are the natural mixers: dense, orthogonal, with entries ±1/√d.", SOURCE,
                          kind="exact")

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
                  freqs: list[int]) -> list[Claim]:
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


