"""How the paper's loss-level vulnerability behaves beyond the report's setting, and in the source's own.

The report's `adversarial` experiment trains the paper's n = 20, m = 5 sweep (importance 0.7^i) at ten densities
from 1 - S = 1 to 0.01 and measures the paper's vulnerability (L' - L)/(L'_0 - L_0): the worst of the analytic
attacks +-eps (W^T W)_i / ||(W^T W)_i|| with eps = 0.1 x the average input norm, relative to the densest instance
attacked on the same inputs. This script runs the same measurement (`experiments.adversarial.measure`) on other
settings and prints, per instance, what the notes of the claims quote:

    python investigations/adversarial_source_setting.py                                    # the report's setting
    python investigations/adversarial_source_setting.py --decay 0.9                        # more features packed
    python investigations/adversarial_source_setting.py --density-min 0.001                # sparser
    python investigations/adversarial_source_setting.py --n 400 --m 30 --decay 0 --density-min 0.003 --densities 8

The last is the source's own setting for its features-per-dimension curve (n = 400, m = 30, equal importance, the
uniform-superposition section; the adversarial section plots the same 1/D* = ||W||_F^2/m). `--steps 4000 --lr 3e-3`
keeps it affordable on two shared cores. Columns: 1-S, features per dimension, represented count, eps, vulnerability,
PGD's gain over the analytic attack, the bound over the analytic attack, the median silencing distance and the
median bias of the represented features (against eps times their median gain ||(W^T W)_j||: an attack that moves a
silent output by less than its negative bias changes nothing).
"""

import argparse
from pathlib import Path

import torch

from superposition import make_config, train_run
from superposition.analysis.adversarial import gain
from superposition.experiments.adversarial import DECAY, N_FEATURES, N_HIDDEN, SAMPLES, measure
from superposition.experiments.stats import spearman
from superposition.runs import load_run

parser = argparse.ArgumentParser()
parser.add_argument("--n", type=int, default=N_FEATURES)
parser.add_argument("--m", type=int, default=N_HIDDEN)
parser.add_argument("--decay", type=float, default=DECAY, help="importance decay; 0 for equal importance")
parser.add_argument("--density-min", type=float, default=0.01)
parser.add_argument("--densities", type=int, default=10)
parser.add_argument("--steps", type=int, default=10_000)
parser.add_argument("--lr", type=float, default=1e-3)
parser.add_argument("--samples", type=int, default=SAMPLES[False])
parser.add_argument("--out", type=Path, default=None, help="run directory: reused when it holds this config")
args = parser.parse_args()

K = args.densities
density = [float(args.density_min ** (k / (K - 1))) for k in range(K)]
importance = dict(importance_decay=args.decay) if args.decay > 0 else {}
cfg = make_config(data=dict(n_features=args.n, feature_probability=density, **importance),
                  model=dict(kind="relu", n_hidden=args.m),
                  train=dict(steps=args.steps, lr=args.lr, batch_size=1024, seed=0))
run = load_run(args.out) if args.out is not None and (args.out / "config.json").exists() else None
if run is None or run.config != cfg:
    run = train_run(cfg, out=args.out, overwrite=args.out is not None, progress=False)
W, b = run.W.detach().float(), run.b.detach().float()
got = measure(W, b, cfg.data, args.samples)
print(f"n={args.n} m={args.m} importance {'equal' if args.decay == 0 else f'{args.decay}^i'}, {args.steps} steps at "
      f"lr {args.lr:g}, {args.samples} inputs")
g = gain(W)


def median(values: torch.Tensor) -> float:
    return float(values.median()) if values.numel() else float("nan")


for k in range(K):
    rep = got["represented"][k]
    print(f"1-S = {density[k]:.4f}: features/dim {float(got['fpd'][k]):.2f}, represented {int(rep.sum())}, "
          f"eps {float(got['eps'][k]):.4f}, vulnerability {float(got['ratio'][k]):.2f}, "
          f"PGD/analytic {float(got['pgd'][k] / got['increase'][k]):.2f}, "
          f"bound/analytic {float(got['bound'][k] / got['increase'][k]):.1f}, "
          f"median distance {median(got['distance'][k][rep]):.2f}, median bias {median(b[k][rep]):.3f}, "
          f"eps x median gain {float(got['eps'][k]) * median(g[k][rep]):.4f}")
fpd = got["fpd"].tolist()
kept = [k for k in range(K) if got["represented"][k].any()]  # an instance that represents nothing has no distance
medians = [median(got["distance"][k][got["represented"][k]]) for k in kept]
print(f"Spearman rho, vulnerability with features per dimension: {spearman(fpd, got['ratio'].tolist()):.3f}; "
      f"median distance with features per dimension: {spearman([fpd[k] for k in kept], medians):.3f}; "
      f"largest vulnerability {float(got['ratio'].max()):.2f}")
