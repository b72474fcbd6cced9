"""Why `sweep.n20.important-stay-orthogonal` does not reproduce: the paper's n = 20, m = 5 sweep, many seeds.

The source setting: the paper's text (n = 20 features, m = 5 dimensions, importance I_i = 0.7^i, features uniform
on [0, 1] when active) trained with the original notebook's `optimize` defaults (AdamW, lr 1e-3, batch 1024,
10,000 steps, constant learning rate, xavier-normal init). Neither the notebook nor ARENA trains this model, so the
optimisation is the notebook's default. The paper shows one model per sparsity; here every density gets SEEDS
initialisations and we ask, per seed and for the seed with the lowest loss, whether features 0 and 1 keep a
dimension of their own (superposition < 0.1) at 1-S = 0.3, 0.1, 0.03.

    python investigations/toy_sweep_orthogonal.py [--seeds 8] [--steps 10000] [--density 1 0.3 0.1 0.03 0.01]

(`--steps 30000 --density 0.1 0.03` asks whether longer training changes the picture.)
"""

import argparse

import torch

from superposition import make_config, train_run
from superposition.analysis.metrics import represented, superposition
from superposition.experiments.toy import OWN_DIMENSION, SHARED, SWEEP_DENSITY, late_loss

parser = argparse.ArgumentParser()
parser.add_argument("--seeds", type=int, default=8)
parser.add_argument("--steps", type=int, default=10_000)
parser.add_argument("--density", type=float, nargs="*", default=SWEEP_DENSITY)
args = parser.parse_args()
S, densities = args.seeds, args.density

cfg = make_config(
    data=dict(n_features=20, feature_probability=[p for p in densities for _ in range(S)], importance_decay=0.7),
    model=dict(kind="relu", n_hidden=5),
    train=dict(steps=args.steps, lr=1e-3, batch_size=1024, seed=0),
)
run = train_run(cfg, progress=False)
sup, rep, loss = superposition(run.W), represented(run.W), late_loss(run)
print(f"n=20 m=5 I=0.7^i, {args.steps} steps, lr 1e-3, batch 1024, {S} seeds per density")
holds_all = torch.ones(S, dtype=torch.bool)
for d, p in enumerate(densities):
    rows = range(d * S, (d + 1) * S)
    best = min(rows, key=lambda k: loss[k])
    print(f"1-S = {p:g}: represented counts {[int(rep[k].sum()) for k in rows]}")
    for k in rows:
        top = float(sup[k, :2].max())
        others = sup[k, 2:][rep[k, 2:]]
        own = ((sup[k] < OWN_DIMENSION) & rep[k]).nonzero().flatten().tolist()
        ok = top < OWN_DIMENSION and (len(others) == 0 or float(others.mean()) > SHARED)
        if p in (0.3, 0.1, 0.03):
            holds_all[k - d * S] &= ok
        print(f"   seed {k - d * S}: loss {loss[k]:.6f}{' (lowest)' if k == best else ''}  sup(0), sup(1) = "
              f"{float(sup[k, 0]):.2f}, {float(sup[k, 1]):.2f}; own dimension: {own}")
if {0.3, 0.1, 0.03} <= set(densities):
    print(f"seed indices for which the claim holds at all three densities: {int(holds_all.sum())} of {S}")
