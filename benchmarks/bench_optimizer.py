"""The optimizer: the trainer's `FunctionalAdam` against torch.optim's fused AdamW and torch's private kernel, per
whole training step.

    python benchmarks/bench_optimizer.py [--steps 2000] [--repeats 5]

On the intro configuration (n = 5, m = 2, 10 instances, batch 1024) it trains with our trainer four ways, timing
rounds that alternate between them on one thread:

- functional: `train.FunctionalAdam`, what the trainer uses (torch's public functional AdamW, fused kernel);
- optim:      `torch.optim.AdamW(fused=True)`, the optimizer object (what the trainer used before 0.3.0);
- private:    `torch._fused_adamw_` called directly with the optimizer state kept by hand;
- default:    `torch.optim.AdamW()` with torch's default implementation.

It prints ms per step and the ratios (a private API is only worth its risk at 1.2x or more over the public one), and
checks that functional, optim and private give the same weights bit for bit.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from superposition import train as trainer
from superposition.bench import intro_config
from superposition.data import FeatureData
from superposition.lab import build_model


class PrivateAdamW:
    """AdamW stepped by calling torch's private fused kernel directly, as the trainer once did."""

    def __init__(self, params, lr, betas, eps, weight_decay, **_):
        self.params = list(params)
        self.param_groups = [{"lr": lr}]
        self.hyper = dict(beta1=betas[0], beta2=betas[1], weight_decay=weight_decay, eps=eps)
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.step_count = torch.zeros(())

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.step_count += 1
        torch._fused_adamw_(self.params, [p.grad for p in self.params], self.exp_avg, self.exp_avg_sq, [],
                            [self.step_count] * len(self.params), lr=self.param_groups[0]["lr"], amsgrad=False,
                            maximize=False, **self.hyper)


def train_with(kind: str, steps: int) -> tuple[float, dict[str, torch.Tensor]]:
    """ms per training step and the final weights, training the intro configuration with optimizer `kind`."""
    config = intro_config(steps)
    model = build_model(config, torch.Generator().manual_seed(0))
    data = FeatureData(config.data)
    original = trainer.make_optimizer
    if kind == "optim":
        trainer.make_optimizer = lambda params, cfg: torch.optim.AdamW(
            params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.resolved_weight_decay, fused=True)
    elif kind == "private":
        trainer.make_optimizer = lambda params, cfg: PrivateAdamW(
            params, lr=cfg.lr, betas=cfg.betas, eps=1e-8, weight_decay=cfg.resolved_weight_decay)
    elif kind == "default":
        trainer.make_optimizer = lambda params, cfg: torch.optim.AdamW(
            params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.resolved_weight_decay)
    try:
        start = time.perf_counter()
        trainer.train(model, data, config.train, progress=False)
        ms = 1e3 * (time.perf_counter() - start) / steps
    finally:
        trainer.make_optimizer = original
    return ms, {k: v.clone() for k, v in model.weights().items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if not hasattr(torch, "_fused_adamw_"):
        raise SystemExit("this torch has no private fused AdamW kernel; nothing to compare")
    times: dict[str, list[float]] = {"functional": [], "optim": [], "private": [], "default": []}
    weights = {}
    for kind in times:  # warm-up
        train_with(kind, 50)
    for r in range(args.repeats):
        for kind in times:
            ms, weights[kind] = train_with(kind, args.steps)
            times[kind].append(ms)
        print(f"round {r + 1}/{args.repeats}: " + ", ".join(f"{k} {v[-1]:.3f}" for k, v in times.items()) + " ms/step")
    median = {k: statistics.median(v) for k, v in times.items()}
    same = {k: all(torch.equal(weights["functional"][n], weights[k][n]) for n in weights["functional"])
            for k in ("optim", "private")}
    print(f"median ms per whole training step (torch {torch.__version__}, 1 thread): "
          + ", ".join(f"{k} {v:.3f}" for k, v in median.items()))
    print(f"functional against torch.optim fused: {median['optim'] / median['functional']:.2f}x faster; "
          f"private kernel against functional: {median['functional'] / median['private']:.2f}x faster "
          f"(worth a private API only at >= 1.2x); default: {median['default'] / median['functional']:.2f}x slower")
    print("bit-identical weights to functional: " + ", ".join(f"{k} {v}" for k, v in same.items()))

if __name__ == "__main__":
    main()
