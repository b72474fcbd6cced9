"""Learning dynamics in the source's own setting: do features jump between dimensionalities as the loss drops?

The report's `learning-dynamics` experiment trains n = 6 equal features in m = 2 dimensions at 1 - S = 0.3 (where
they end in digons) with log-spaced weight snapshots. The paper's phenomenon 1 ("discrete energy level jumps") is
stated for "toy models with large numbers of features", in the uniform-superposition setup of its geometry section:
n = 400 features of importance 1 in m = 30 dimensions, a model "where all the features converge into digons"
(D* = 1/2, the plateau at 1/(1-S) of about 2 to 3.5). This script trains that setting with the same snapshots and
reads it with the same analysis (`experiments.dynamics.measure`, `dynamics_claims`), printing what the claims'
notes quote:

    python investigations/dynamics_source_setting.py                          # n = 400, m = 30, 1-S = 0.4 and 0.3
    python investigations/dynamics_source_setting.py --n 6 --m 2 --densities 0.3 --instances 8   # the report's
    python investigations/dynamics_source_setting.py --notebook-init     # W drawn with the original notebook's std

`--notebook-init` scales the initial W to the std the original notebook's xavier_normal_ on the stacked
[instances, n, m] tensor gives, sqrt(2 / (m (n + instances))) (5x smaller than ours for n = 400, m = 30): a small
initialisation is where saddle-to-saddle ("jumpy") dynamics are expected.

Per density: the final D*, how many features move between levels, how many moves are jumps, how many jumps meet a
loss drop (and the chance share), how many come with an opposite move, and the four verdicts.
"""

import argparse
import time

import torch

from superposition import make_config, train_run
from superposition.analysis.dynamics import trajectory_table
from superposition.lab import build_data, build_model
from superposition.runs import Run, history_frame
from superposition.train import train
from superposition.experiments.dynamics import SNAPSHOTS, STEPS, dynamics_claims, measure


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--m", type=int, default=30)
    parser.add_argument("--densities", type=float, nargs="+", default=[0.4, 0.3])
    parser.add_argument("--instances", type=int, default=1, help="instances per density")
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--notebook-init", action="store_true")
    args = parser.parse_args()
    probs = [p for p in args.densities for _ in range(args.instances)]
    config = make_config(data=dict(n_features=args.n, feature_probability=probs),
                         model=dict(kind="relu", n_hidden=args.m),
                         train=dict(steps=args.steps, lr=args.lr, batch_size=1024, snapshots=SNAPSHOTS[False],
                                    log_every=10, seed=args.seed))
    start = time.time()
    if args.notebook_init:
        model = build_model(config, torch.Generator().manual_seed(args.seed))
        with torch.no_grad():  # ours: std sqrt(2 / (n + m)) per instance; the notebook's: sqrt(2 / (m (n + inst)))
            model.W.mul_((2 / (args.m * (args.n + len(probs)))) ** 0.5 / (2 / (args.n + args.m)) ** 0.5)
        history = train(model, build_data(config), config.train, progress=False)
        run = Run(config=config, model=model, history=history_frame(history), snapshots=history.snapshots)
    else:
        run = train_run(config, progress=False)
    assert run.snapshots is not None
    print(f"trained n={args.n}, m={args.m}, 1-S={args.densities} x {args.instances}, {args.steps} steps at lr "
          f"{args.lr:g}, seed {args.seed}{', notebook init' if args.notebook_init else ''}, in {time.time() - start:.0f} s")
    table = trajectory_table(run.snapshots.tensors["W"], run.snapshots.tensors["b"], run.snapshots.steps.tolist(),
                             config.data, geometry=False)
    for p in args.densities:
        chosen = [k for k, q in enumerate(probs) if q == p]
        sub = table[table.instance.isin(chosen)]
        d = measure(sub, run.history[run.history.instance.isin(chosen)], args.m)
        last = sub[sub.snapshot == sub.snapshot.max()]
        print(f"1-S = {p:g}: final D* {[round(float(x), 3) for x in last.groupby('instance').dims_per_feature.first()]}"
              f"; features moving between levels {len(d.levels)}; moves {len(d.moves)}, jumps "
              f"{int(d.moves.jump.sum()) if len(d.moves) else 0}; jumps meeting a loss drop "
              f"{int(d.jumps.loss_drop.sum()) if len(d.jumps) else 0} of {len(d.jumps)} (chance {d.chance:.3g}); "
              f"with an opposite move {int(d.jumps.swap.sum()) if len(d.jumps) else 0}; loss drops {len(d.drops)}")
        for claim in dynamics_claims(d):
            print(f"    {claim.id}: {claim.verdict} | {claim.measured[:200]}")
        if len(d.moves):
            print("    moves by levels:", d.moves.groupby(["from_level", "to_level"]).size().to_dict())


if __name__ == "__main__":
    main()
