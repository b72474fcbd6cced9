"""The cost of weight snapshots: the same run with and without `train.snapshots`, in one process.

    python benchmarks/bench_snapshots.py [--steps 2000] [--repeats 5] [--snapshots 20]

On the intro configuration (n = 5, m = 2, 10 instances, batch 1024, one thread) it trains and saves the run with
`superposition.train_run` (training, analysis and the atomic save to a temporary directory, snapshots.safetensors
included), alternating rounds without and with snapshots, and prints ms per step of each, the ratio with/without
(the goal is at most 1.10), and whether the last snapshot equals the saved final weights bit for bit. Each time is
taken two ways: wall-clock, and the process's CPU time (steadier on a shared machine, where other jobs stretch the
wall clock of one round and not the next). For scale it also times one round with a snapshot after every step.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from superposition import train_run
from superposition.bench import intro_config
from superposition.runs import load_run

GOAL = 1.10


def timed(steps: int, snapshots: int, out: Path) -> tuple[float, float]:
    """(wall, CPU) ms per step of training, analysing and saving the intro run with `snapshots` snapshots to `out`."""
    config = intro_config(steps)
    config = config.model_copy(update={"train": config.train.model_copy(update={"snapshots": snapshots})})
    wall, cpu = time.perf_counter(), time.process_time()
    train_run(config, out, overwrite=True, progress=False)
    return 1e3 * (time.perf_counter() - wall) / steps, 1e3 * (time.process_time() - cpu) / steps


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--snapshots", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        timed(50, 0, out), timed(50, 5, out)  # warm-up
        times: dict[int, list[tuple[float, float]]] = {0: [], args.snapshots: []}
        for r in range(args.repeats):
            for n in times:
                times[n].append(timed(args.steps, n, out))
            print(f"round {r + 1}/{args.repeats}: without {times[0][-1][0]:.3f} (CPU {times[0][-1][1]:.3f}), with "
                  f"{args.snapshots} snapshots {times[args.snapshots][-1][0]:.3f} (CPU {times[args.snapshots][-1][1]:.3f})"
                  " ms/step")
        run = load_run(out)
        assert run.snapshots is not None
        same = all(torch.equal(run.snapshots.tensors[k][-1], v) for k, v in run.model.weights().items())
        every = timed(args.steps, args.steps, out)
    for i, clock in enumerate(("wall-clock", "CPU time")):
        without = statistics.median(t[i] for t in times[0])
        with_ = statistics.median(t[i] for t in times[args.snapshots])
        print(f"{clock}: median ms per step (train, analyse, save; torch {torch.__version__}, 1 thread): without "
              f"snapshots {without:.3f}, with {args.snapshots} {with_:.3f}; with / without {with_ / without:.3f} "
              f"(goal <= {GOAL:.2f}); a snapshot after every step {every[i] / without:.2f}x")
    print(f"last snapshot equals the saved final weights bit for bit: {same}")


if __name__ == "__main__":
    main()
