"""Benchmark: our trainer against a plain reference loop, in the same process, reported as ratios.

The reference is written the way the original Toy Models notebook trains: batch-first tensors, einsum, autograd,
AdamW with weight decay 0.01, two random draws per batch, torch's default thread count. Both train the intro
configuration (n=5 features, m=2 hidden, 10 instances, importance 0.9^i, p = 20^-linspace(0, 1, 10), batch 1024).
Timing rounds alternate between the two so that machine noise hits both; the median round is reported.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch

from .config import RunConfig, make_config
from .data import FeatureData
from .lab import build_model
from .train import thread_count, train


def intro_config(steps: int, seed: int = 0) -> RunConfig:
    n = 10
    return make_config(
        data=dict(n_features=5, feature_probability=[20 ** (-k / (n - 1)) for k in range(n)], importance_decay=0.9),
        model=dict(kind="relu", n_hidden=2),
        train=dict(steps=steps, batch_size=1024, lr=1e-3, optimizer="adamw", seed=seed, log_every=max(1, steps // 20)),
    )


def reference_loop(config: RunConfig, record: bool = False) -> list[float]:
    """The notebook's loop. Returns per-instance loss averaged over the last 10% of steps when `record`."""
    d, t = config.data, config.train
    torch.manual_seed(t.seed)
    W = torch.nn.Parameter(torch.nn.init.xavier_normal_(torch.empty(d.n_instances, d.n_features, config.model.n_hidden)))
    b_final = torch.nn.Parameter(torch.zeros(d.n_instances, d.n_features))
    importance = d.importance_table()[None]  # [1, inst, feat]
    probability = d.probability()[None]
    opt = torch.optim.AdamW([W, b_final], lr=t.lr)
    tail = max(1, t.steps // 10)
    acc = torch.zeros(d.n_instances)
    for step in range(t.steps):
        opt.zero_grad(set_to_none=True)
        feat = torch.rand((t.batch_size, d.n_instances, d.n_features))
        batch = torch.where(torch.rand((t.batch_size, d.n_instances, d.n_features)) <= probability, feat, torch.zeros(()))
        hidden = torch.einsum("bif,ifh->bih", batch, W)
        out = torch.relu(torch.einsum("bih,ifh->bif", hidden, W) + b_final)
        per_instance = (importance * (batch - out) ** 2).mean(dim=(0, 2))
        per_instance.sum().backward()
        opt.step()
        if record and step >= t.steps - tail:
            acc += per_instance.detach()
    return (acc / tail).tolist()


def ours(config: RunConfig, record: bool = False) -> list[float]:
    """Our trainer on the same configuration; per-instance loss over the last 10% of steps when `record`."""
    model = build_model(config, torch.Generator().manual_seed(config.train.seed))
    history = train(model, FeatureData(config.data), config.train, progress=False)
    tail = [row for step, row in zip(history.steps, history.loss) if step > config.train.steps * 0.9]
    return [sum(col) / len(col) for col in zip(*tail)] if record else []


def _time(fn, config: RunConfig, threads: int | None = None) -> float:
    with thread_count(threads):
        start = time.perf_counter()
        fn(config)
        return 1e3 * (time.perf_counter() - start) / config.train.steps


def run_benchmark(steps: int = 2000, repeats: int = 3, loss_steps: int = 10_000, progress: bool = True) -> dict[str, Any]:
    """Time both loops (alternating rounds) and compare their final loss after `loss_steps` steps."""
    say = print if progress else (lambda *a, **k: None)
    config = intro_config(steps)
    default_threads = torch.get_num_threads()
    _time(reference_loop, intro_config(50)), _time(ours, intro_config(50))  # warm up allocators and kernels
    times: dict[str, list[float]] = {"reference": [], "reference_1_thread": [], "ours": []}
    for r in range(repeats):
        times["reference"].append(_time(reference_loop, config))
        times["reference_1_thread"].append(_time(reference_loop, config, threads=1))
        times["ours"].append(_time(ours, config))
        say(f"round {r + 1}/{repeats}: " + ", ".join(f"{k} {v[-1]:.3f} ms/step" for k, v in times.items()))
    median = {k: statistics.median(v) for k, v in times.items()}
    say(f"final-loss comparison: {loss_steps} steps each ...")
    loss_config = intro_config(loss_steps)
    ref_loss = reference_loop(loss_config, record=True)
    our_loss = ours(loss_config, record=True)
    # The noise floor: the same reference loop with another seed (instances may settle in other local minima).
    ref_other = reference_loop(intro_config(loss_steps, seed=1), record=True)
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    ref_mean, our_mean, other_mean = mean(ref_loss), mean(our_loss), mean(ref_other)
    return {
        "config": "n=5, m=2, 10 instances, batch 1024, importance 0.9^i, p = 20^-linspace(0,1,10)",
        "torch": torch.__version__,
        "default_threads": default_threads,
        "steps_per_round": steps,
        "repeats": repeats,
        "ms_per_step": median,
        "all_rounds_ms_per_step": times,
        "speedup_vs_reference": median["reference"] / median["ours"],
        "speedup_vs_reference_1_thread": median["reference_1_thread"] / median["ours"],
        # Each round's own ratio (the two loops ran back to back), then their median: steadier on a shared machine.
        "speedup_vs_reference_1_thread_per_round": statistics.median(
            ref / our for ref, our in zip(times["reference_1_thread"], times["ours"])),
        "loss_steps": loss_steps,
        "final_loss_reference": ref_loss,
        "final_loss_ours": our_loss,
        "final_loss_reference_seed_1": ref_other,
        "final_loss_mean": {"reference": ref_mean, "ours": our_mean, "reference_seed_1": other_mean},
        "final_loss_relative_difference": (our_mean - ref_mean) / ref_mean,
        "seed_noise_relative_difference": (other_mean - ref_mean) / ref_mean,
    }


def format_report(result: dict[str, Any]) -> str:
    ms = result["ms_per_step"]
    lines = [
        f"intro configuration: {result['config']} (torch {result['torch']}, {result['default_threads']} default threads)",
        f"  reference loop (default threads): {ms['reference']:.3f} ms/step",
        f"  reference loop (1 thread):        {ms['reference_1_thread']:.3f} ms/step",
        f"  our trainer:                      {ms['ours']:.3f} ms/step",
        f"  speed-up: {result['speedup_vs_reference']:.2f}x vs the reference, "
        f"{result['speedup_vs_reference_1_thread']:.2f}x vs the reference on 1 thread "
        f"(median of the rounds' own ratios: {result['speedup_vs_reference_1_thread_per_round']:.2f}x)",
        f"  final loss after {result['loss_steps']} steps (mean over instances, last 10% of steps): "
        f"reference {result['final_loss_mean']['reference']:.5f}, ours {result['final_loss_mean']['ours']:.5f} "
        f"({100 * result['final_loss_relative_difference']:+.1f}%)",
        f"  noise floor: the reference with seed 1 gives {result['final_loss_mean']['reference_seed_1']:.5f} "
        f"({100 * result['seed_noise_relative_difference']:+.1f}%)",
    ]
    return "\n".join(lines)
