"""Where our trainer's time goes, per part of a step, on the intro configuration and one thread.

    python benchmarks/profile_trainer.py [--steps 2000] [--repeats 5] [--json] [--ops]

It runs the real `superposition.train.train` (n=5, m=2, 10 instances, batch 1024, AdamW, one intra-op thread)
with a timer around each part of a step:

- data: drawing the batch (`FeatureData.sampler`), split into the uniform draw and the rest (mask and magnitude);
- the model's loss and hand-written gradients (`ToyModel.loss_and_grads`);
- handing the gradients to the parameters; the learning-rate update; the optimizer step (torch's fused AdamW
  kernel through `train.FunctionalAdam`, Python included);
- the rest of the step: the loop itself, the loss window and logging, the hook and snapshot checks.

A timer costs well under a microsecond; it is measured and subtracted. Rounds are repeated and the median of each
part is printed, in microseconds per step and as a share of the step. `--ops` adds torch.profiler's table of ATen
ops (self CPU time) for one extra round; the profiler slows every op, so only its shares are meaningful.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any, Callable

import torch

from superposition import train as trainer
from superposition.bench import intro_config
from superposition.data import FeatureData
from superposition.lab import build_model

PARTS = ["random draw", "rest of data", "model: loss and hand-written gradients", "gradient hand-over",
         "learning rate", "optimizer step", "loop, loss window, logging, hooks"]


class Clock:
    """Accumulates the seconds spent inside wrapped callables, per part."""

    def __init__(self) -> None:
        self.seconds = {name: 0.0 for name in PARTS}
        self.calls = 0

    def wrap(self, part: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        seconds, perf = self.seconds, time.perf_counter

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = perf()
            try:
                return fn(*args, **kwargs)
            finally:
                seconds[part] += perf() - start
                self.calls += 1

        return timed


def timer_cost(n: int = 20_000) -> float:
    """Seconds one wrapped call adds (two clock reads, the closure and the accounting)."""
    clock = Clock()
    bare, wrapped = (lambda: None), clock.wrap(PARTS[0], lambda: None)
    start = time.perf_counter()
    for _ in range(n):
        bare()
    mid = time.perf_counter()
    for _ in range(n):
        wrapped()
    return max(0.0, ((time.perf_counter() - mid) - (mid - start)) / n)


class Patched:
    """Replaces module attributes for the length of a block (the profiled names are looked up at call time)."""

    def __init__(self, changes: list[tuple[Any, str, Any]]):
        self.changes, self.saved = changes, []

    def __enter__(self) -> None:
        for owner, name, value in self.changes:
            self.saved.append((owner, name, getattr(owner, name)))
            setattr(owner, name, value)

    def __exit__(self, *exc: Any) -> None:
        for owner, name, value in reversed(self.saved):
            setattr(owner, name, value)


def profiled_round(steps: int, cost: float) -> dict[str, float]:
    """One training run of `steps` steps with every part timed; microseconds per step by part, and the total."""
    config = intro_config(steps)
    model = build_model(config, torch.Generator().manual_seed(0))
    data = FeatureData(config.data)
    clock = Clock()
    make_optimizer = trainer.make_optimizer

    def timed_optimizer(params: list[torch.nn.Parameter], cfg: Any) -> Any:
        opt = make_optimizer(params, cfg)
        opt.step = clock.wrap("optimizer step", opt.step)  # type: ignore[method-assign]
        return opt

    # The trainer looks `loss_and_grads` up on the instance, so wrapping it there times it inside the real step.
    model.loss_and_grads = clock.wrap(PARTS[2], model.loss_and_grads)  # type: ignore[method-assign]
    # The data part: the trainer's draw function from `FeatureData.sampler`, and inside it the uniform draw that
    # `_uniform_filler` returns.
    sampler, filler = data.sampler, data._unit_filler
    data.sampler = lambda *a: clock.wrap("rest of data", sampler(*a))  # type: ignore[method-assign]
    data._unit_filler = lambda *a: clock.wrap("random draw", filler(*a))  # type: ignore[method-assign]
    patches = [
        (trainer, "assign_grad", clock.wrap("gradient hand-over", trainer.assign_grad)),
        (trainer, "set_lr", clock.wrap("learning rate", trainer.set_lr)),
        (trainer, "make_optimizer", timed_optimizer),
    ]
    with Patched(patches):
        start = time.perf_counter()
        trainer.train(model, data, config.train, progress=False)
        total = time.perf_counter() - start
    seconds = dict(clock.seconds)
    seconds["rest of data"] -= seconds["random draw"]  # the draw runs inside the data part
    seconds["loop, loss window, logging, hooks"] = total - sum(seconds.values()) - clock.calls * cost
    us = {name: 1e6 * s / steps for name, s in seconds.items()}
    us["step"] = 1e6 * total / steps - 1e6 * clock.calls * cost / steps
    return us


def op_table(steps: int) -> str:
    from torch.profiler import ProfilerActivity, profile

    config = intro_config(steps)
    model = build_model(config, torch.Generator().manual_seed(0))
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        trainer.train(model, FeatureData(config.data), config.train, progress=False)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=30, max_name_column_width=36)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--ops", action="store_true", help="also print torch.profiler's op table")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cost = timer_cost()
    profiled_round(50, cost)  # warm up allocators and kernels
    rounds = [profiled_round(args.steps, cost) for _ in range(args.repeats)]
    median = {name: statistics.median(r[name] for r in rounds) for name in [*PARTS, "step"]}
    if args.json:
        print(json.dumps({"steps": args.steps, "repeats": args.repeats, "timer_cost_us": 1e6 * cost,
                          "median_us_per_step": median, "rounds": rounds}, indent=2))
    else:
        print(f"our trainer, intro configuration, 1 thread, {args.steps} steps x {args.repeats} rounds (median):")
        for name in PARTS:
            print(f"  {name:36s} {median[name]:7.1f} us  {100 * median[name] / median['step']:5.1f}%")
        print(f"  {'whole step':36s} {median['step']:7.1f} us")
    if args.ops:  # after JSON, on stderr, so that stdout stays one JSON document
        print(op_table(args.steps), file=sys.stderr if args.json else sys.stdout)


if __name__ == "__main__":
    main()
