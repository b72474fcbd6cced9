"""Why `correlated.correlated-orthogonal` does not reproduce: two correlated pairs in m = 2, many seeds, in the
sources' settings.

- ARENA's exercise (part 3.1, "superposition with correlation"): n = 4 features as 2 correlated pairs, m = 2,
  importance 1, one instance at each of five densities 1-S = 400^-linspace(0.5, 1, 5) (0.05 down to 0.0025),
  Adam, lr 1e-3, batch 1024, 10,000 steps, constant learning rate.
- The paper ("Models prefer to represent correlated features in orthogonal dimensions") trains "several models"
  and, for m = 2, notes that "getting clean results required fitting each model multiple times and taking the
  solution with the lowest loss"; a collapsed correlated set is called "an optimization failure".

Every density gets SEEDS initialisations. Per seed we record whether all four features are represented with both
pairs orthogonal (|cos| < 0.1), whether a pair collapsed (cos > 0.95) or a feature was dropped, and the loss over
the last tenth of training; then whether the lowest-loss seed of each density is orthogonal.

    python investigations/toy_correlated_orthogonal.py [--seeds 8] [--optimizer adam|adamw] [--density 0.05 ...]

(`--optimizer adamw --seeds 24 --density 0.05` is the report's earlier setting: one density, AdamW.)
"""

import argparse

from superposition import make_config, train_run
from superposition.analysis.metrics import cosines, feature_norms, represented
from superposition.experiments.correlated import COLLAPSE_COS, CORRELATED_DENSITY, FITS, ORTHOGONAL_COS
from superposition.experiments.toy import late_loss

parser = argparse.ArgumentParser()
parser.add_argument("--seeds", type=int, default=FITS)
parser.add_argument("--optimizer", default="adam", choices=["adam", "adamw"])
parser.add_argument("--steps", type=int, default=10_000)
parser.add_argument("--density", type=float, nargs="*", default=CORRELATED_DENSITY)
args = parser.parse_args()
S = args.seeds

cfg = make_config(
    data=dict(n_features=4, feature_probability=[p for p in args.density for _ in range(S)], correlated_pairs=2),
    model=dict(kind="relu", n_hidden=2),
    train=dict(steps=args.steps, lr=1e-3, batch_size=1024, seed=0, optimizer=args.optimizer),
)
run = train_run(cfg, progress=False)
C, rep, norms, loss = cosines(run.W), represented(run.W), feature_norms(run.W), late_loss(run)


def kind(k: int) -> str:
    if not rep[k].all():
        return "dropped " + str((~rep[k]).nonzero().flatten().tolist())
    pairs = [float(C[k, 0, 1]), float(C[k, 2, 3])]
    if all(abs(c) < ORTHOGONAL_COS for c in pairs):
        return "orthogonal"
    if any(c > COLLAPSE_COS for c in pairs):
        return "collapsed"
    return "other"


print(f"n=4 (2 correlated pairs) m=2, {args.optimizer}, lr 1e-3, batch 1024, {args.steps} steps, {S} seeds each")
total_orth, best_orth = 0, 0
for d, p in enumerate(args.density):
    rows = list(range(d * S, (d + 1) * S))
    best = min(rows, key=lambda k: loss[k])
    kinds = [kind(k) for k in rows]
    total_orth += kinds.count("orthogonal")
    best_orth += kind(best) == "orthogonal"
    print(f"1-S = {p:.4f}: {kinds.count('orthogonal')} of {S} orthogonal; lowest-loss seed {best - d * S}: "
          f"{kind(best)}")
    for k in rows:
        print(f"   seed {k - d * S}: {kind(k):12s} loss {loss[k]:.3e}  cos pairs {float(C[k, 0, 1]):+.2f} "
              f"{float(C[k, 2, 3]):+.2f}  norms {[round(v, 2) for v in norms[k].tolist()]}")
print(f"orthogonal: {total_orth} of {S * len(args.density)} seeds; lowest-loss seed orthogonal at {best_orth} of "
      f"{len(args.density)} densities")
