"""The n = 3, m = 2 phase diagram (Toy Models of Superposition, "Superposition as a Phase Change"): where the seeds
land under our setting and the source's, and what free norms do to the theory.

The paper trains "ten models for each point" and discards the one with the highest loss (stated for the n = 2
diagram; the n = 3 one is drawn the same way). It gives no steps, rate or batch; the paper's notebook trains with its
optimize() defaults (10,000 steps of batch 1024 at lr 1e-3, AdamW) from `nn.init.xavier_normal_` on the whole
[instances, 3, 2] tensor (std sqrt(2 / (2 (3 + 81))) = 0.109 for our 81 cells, against sqrt(2/5) = 0.63 for our
per-instance init).

Settings (all on the report's 9 x 9 grid of r in 0.1..10 and 1-S in 1..0.01, ten seeds):
- `ours`: the report's (3,000 steps, lr 3e-3, batch 512, our init);
- `source`: 10,000 steps, lr 1e-3, batch 1024, our init;
- `source-init`: the same with the notebook's init.
For each it prints the agreement with the theory under three readings (best seed, majority, the paper's
drop-the-worst average), the share of (cell, seed) pairs in the theory's solution, the cells where the majority
misses with the seeds' labels, and the best seed of each r = 1 cell (its label, norms, cosines, biases, exact loss).

`norms` prints, at a few cells around r = 1, each candidate's exact loss with unit norms (the report's theory) and
with free norms and biases (`best_solution3(..., norm="best")`), and which one wins under each.

Usage: python investigations/phase3_source_setting.py [ours|source|source-init|norms ...]   (a source setting takes
about 4 minutes of one free core; `norms` about a minute)
"""

from __future__ import annotations

import sys
import time
from collections import Counter

import numpy as np

from geometry_source_setting import notebook_init_run
from superposition import train_run
from superposition.analysis.phase import agreement
from superposition.analysis.phase3 import LABELS3, best_solution3, seeds3
from superposition.analysis.phase_trained import phase_configs
from superposition.experiments.phase3 import grid, theories

SETTINGS = {
    "ours": dict(steps=3000, lr=3e-3, batch=512, init="ours"),
    "source": dict(steps=10_000, lr=1e-3, batch=1024, init="ours"),
    "source-init": dict(steps=10_000, lr=1e-3, batch=1024, init="notebook"),
}
NORM_CELLS = [(1.0, 1.0), (1.0, 0.9), (1.0, 0.8), (1.0, 0.7), (1.0, 0.6), (1.0, 0.5), (0.8, 0.7), (1.3, 0.7),
              (0.1, 0.178)]


def trained(name: str) -> None:
    s = SETTINGS[name]
    r, p, seed_ids, _ = grid(False)
    theory = theories(False)[2]
    start = time.time()
    configs = phase_configs(r, p, seeds=seed_ids, steps=s["steps"], lr=s["lr"], batch_size=s["batch"], n_features=3,
                            n_hidden=2, threads=1)
    runs = [notebook_init_run(c) if s["init"] == "notebook" else train_run(c, progress=False) for c in configs]
    seeds = seeds3(runs, r, p)
    share = seeds.share_in(theory)
    print(f"== {name}: {len(seed_ids)} seeds, {s['steps']} steps of batch {s['batch']}, lr {s['lr']:g}, "
          f"{s['init']} init; trained in {time.time() - start:.0f} s")
    for rule in ("lowest_loss", "majority", "drop_worst"):
        print(f"  agreement with the theory, {rule}: {100 * agreement(theory, seeds.diagram(rule)):.1f}% of "
              f"{share.size} cells")
    above = r > 1
    print(f"  seeds in the theory's solution: {100 * share.mean():.1f}% of all (cell, seed) pairs; "
          f"{100 * share[above].mean():.1f}% in the r > 1 rows, {100 * share[~above].mean():.1f}% elsewhere")
    for i, j in np.argwhere(seeds.diagram("majority").labels != theory.labels):
        found = Counter(seeds.labels[:, i, j].tolist())
        ratio = np.sort(seeds.losses[:, i, j] / seeds.losses[:, i, j].min()) if seeds.losses is not None else []
        print(f"    r = {r[i]:.3g}, 1-S = {p[j]:.3g}: theory {theory.labels[i, j]}; seeds {dict(found)}; "
              f"loss / best seed's: {' '.join(f'{x:.3g}' for x in ratio)}")
    others = theory.labels == "others in pair"
    stuck = (seeds.labels == "extra in pair") & others[None]
    print(f"  where the theory pairs the other two: {100 * stuck.sum() / (others.sum() * len(runs)):.1f}% of the seeds "
          "pair the extra feature instead")
    i = int(np.argmin(np.abs(r - 1)))
    for j in range(len(p)):
        s_best = int(np.argmin(seeds.losses[:, i, j])) if seeds.losses is not None else 0
        W = runs[s_best].W[i * len(p) + j].detach().double().numpy()
        b = runs[s_best].b[i * len(p) + j].detach().double().numpy()
        norms = np.linalg.norm(W, axis=1)
        cos = (W / norms[:, None]) @ (W / norms[:, None]).T
        loss = seeds.losses[s_best, i, j] if seeds.losses is not None else float("nan")
        print(f"    r = 1, 1-S = {p[j]:.3g}: best seed {s_best} {seeds.labels[s_best, i, j]}, norms "
              f"{' '.join(f'{x:.2f}' for x in norms)}, cos_12 cos_13 cos_23 {cos[0, 1]:.2f} {cos[0, 2]:.2f} "
              f"{cos[1, 2]:.2f}, b {' '.join(f'{x:.3f}' for x in b)}, exact loss {loss:.5f} (theory "
              f"{theory.losses[:, i, j].min():.5f}, {theory.labels[i, j]})")
    print(flush=True)


def norms() -> None:
    print("== unit norms against free norms (exact losses, mean over features)")
    for r, p in NORM_CELLS:
        unit = {label: best_solution3(label, r, p).loss for label in LABELS3}
        free = {label: best_solution3(label, r, p, norm="best") for label in LABELS3}
        tri = np.linalg.norm(free["triangle"].W, axis=1)
        print(f"  r = {r:g}, 1-S = {p:g}: unit -> {min(unit, key=unit.__getitem__)}, free -> "
              f"{min(free, key=lambda k: free[k].loss)}; losses unit / free: "
              + "; ".join(f"{k} {unit[k]:.5f} / {free[k].loss:.5f}" for k in LABELS3)
              + f"; free triangle norms {' '.join(f'{x:.2f}' for x in tri)}", flush=True)


if __name__ == "__main__":
    for arg in sys.argv[1:] or ["ours", "source", "source-init", "norms"]:
        norms() if arg == "norms" else trained(arg)
