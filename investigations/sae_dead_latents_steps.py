"""Is the report's sweep too short for the extra latents to die at the smallest L1?

In the full report, at L1 = 0.03 no latent of the synthetic sweep (512 features in 256 dimensions, 1,200 steps at
lr 3e-3, batch 1024) dies at any dictionary size, while at L1 = 0.1 and 0.3 the dead share grows past 512 latents.
This trains the report's own configuration at L1 = 0.03 only (instance 0 of the sweep: same data stream, same
initialisation), for longer, and measures it on the report's 8,192 held-out samples at checkpoints, so the first
checkpoint repeats the report's number.

Run:  python investigations/sae_dead_latents_steps.py [--sizes 512,1024] [--steps 4800] [--every 1200]
"""

from __future__ import annotations

import argparse
import time

from superposition.analysis.dictionary import evaluate
from superposition.config import SAERunConfig, validate
from superposition.experiments.sparse_coding import SPHERE, SWEEP_L1
from superposition.hooks import Hook
from superposition.lab import HELD_OUT_SALT, build_data, train_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="512,1024")
    parser.add_argument("--l1", type=float, default=min(SWEEP_L1))
    parser.add_argument("--steps", type=int, default=4800)
    parser.add_argument("--every", type=int, default=1200)
    args = parser.parse_args()
    for d_sae in (int(s) for s in args.sizes.split(",")):
        # The report's sphere config (experiments/sparse_coding.py), one L1, more steps.
        config = validate(SAERunConfig, dict(
            source=dict(kind="sphere", seed=0, **SPHERE), model=dict(d_sae=d_sae, l1=[args.l1]),
            train=dict(steps=args.steps, lr=3e-3, batch_size=1024),
        ))
        data = build_data(config)
        t0 = time.perf_counter()

        def report(step, model, loss, d_sae=d_sae, data=data, t0=t0):
            row = evaluate(model, data, 8192, seed=config.train.seed + HELD_OUT_SALT).iloc[0]
            print(f"step {step:>5}  d_sae {d_sae:>5}  L1 {args.l1:g}  dead {row.dead_fraction:6.1%}  "
                  f"L0 {row.l0:6.2f}  MMCS {row.mmcs:.3f}  [{time.perf_counter() - t0:.0f} s]", flush=True)

        train_run(config, progress=False, hooks=[Hook(args.every, report)])


if __name__ == "__main__":
    main()
