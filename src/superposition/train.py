"""The one training loop for every model of the project.

Every model maps a batch to an output per instance; the loss is computed per instance (shape `[n_instances]`)
and their sum is minimised, which trains each instance independently (instances share no parameters). The loop
owns the optimizer (Adam or AdamW), the learning-rate schedule, hooks every N steps, a progress bar, the
per-instance loss history, the weight snapshots (`superposition.snapshots`) and the divergence guard.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Protocol, cast

import torch
from jaxtyping import Float
from torch import Tensor, nn

from .config import TrainConfig
from .errors import DivergenceError
from .hooks import Hook
from .models.base import AnalyticModel, InstanceModel
from .snapshots import Recorder, Snapshots

class DataSource(Protocol):
    """What the trainer draws batches from. A source may also offer `sampler(batch_size, generator)`: a function
    returning the next batch at each call, batches of `sample`'s distribution, allowed to reuse its buffers."""

    def sample(self, batch_size: int, generator: torch.Generator) -> Any: ...


def batch_sampler(data: DataSource, batch_size: int, generator: torch.Generator) -> Callable[[], Any]:
    """The data's own `sampler` where it has one (the trainer holds one batch at a time), else `sample`."""
    sampler = getattr(data, "sampler", None)
    if callable(sampler):
        return sampler(batch_size, generator)
    return functools.partial(data.sample, batch_size, generator)


LossFn = Callable[[Any, Any], Float[Tensor, "inst"]]


def model_loss(model: InstanceModel, batch: Any) -> Float[Tensor, "inst"]:
    """The model's own training objective, one value per instance (each model defines `loss(batch)`)."""
    return model.loss(batch)


@dataclass
class History:
    """Per-instance loss, averaged over each window of `log_every` steps; `steps[r]` is the window's last step.
    `snapshots`: the weights at the config's snapshot steps (None when it asks for none)."""

    steps: list[int] = field(default_factory=list)
    loss: list[list[float]] = field(default_factory=list)
    snapshots: Snapshots | None = None

    @property
    def final(self) -> list[float]:
        return self.loss[-1] if self.loss else []


def lr_factor(schedule: str, step: int, steps: int, warmup: int = 0) -> float:
    """Multiplier of the base learning rate at `step` (0-based) of `steps`."""
    if schedule == "constant":
        return 1.0
    if schedule == "linear":
        return 1.0 - step / steps
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * step / steps))
    if schedule == "warmup_cosine":
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / (steps - warmup)))
    raise ValueError(f"unknown schedule {schedule!r}")


def make_optimizer(params: list[nn.Parameter], config: TrainConfig, eps: float = 1e-8
                   ) -> FunctionalAdam | torch.optim.Optimizer:
    """Adam or AdamW (decoupled weight decay) over `params`: torch's fused kernel where this torch and device have it
    (CPU since torch 2.4), stepped through `FunctionalAdam`; else `torch.optim.Adam`/`AdamW` as torch defaults it.

    `benchmarks/bench_optimizer.py` times this against `torch.optim.AdamW(fused=True)` and torch's private kernel,
    and checks that all three give the same weights bit for bit.
    """
    decoupled = config.optimizer == "adamw"
    cls = torch.optim.AdamW if decoupled else torch.optim.Adam
    kwargs: dict[str, Any] = dict(lr=config.lr, betas=config.betas, eps=eps, weight_decay=config.resolved_weight_decay)
    try:
        cls(params, fused=True, **kwargs)  # torch refuses fused=True where it has no fused kernel
    except (RuntimeError, TypeError, ValueError):
        return cls(params, **kwargs)
    return FunctionalAdam(params, decoupled=decoupled, **kwargs)


class FunctionalAdam:
    """Adam or AdamW through torch's public functional form (`torch.optim.adam.adam`, `torch.optim.adamw.adamw`) with
    the fused kernel, the optimizer state held here: the arithmetic and the kernel of
    `torch.optim.Adam`/`AdamW(fused=True)`, so the same weights bit for bit, without the optimizer object's per-step
    bookkeeping (hooks, profiling, state dictionaries), which on toy-sized tensors costs more than the kernel (about
    35 µs a step against 18 µs on the intro model).

    Offers what the trainer uses of an optimizer: `param_groups[0]["lr"]`, `zero_grad()` and `step()`.
    """

    def __init__(self, params: list[nn.Parameter], *, decoupled: bool, lr: float, betas: tuple[float, float],
                 eps: float, weight_decay: float):
        from torch.optim.adam import adam
        from torch.optim.adamw import adamw

        self.params: list[Tensor] = list(params)
        self.param_groups: list[dict[str, Any]] = [{"lr": lr}]
        self._update = adamw if decoupled else adam
        self._exp_avgs = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self._exp_avg_sqs = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        # torch.optim keeps one float32 step count per parameter; the fused path increments them before the kernel
        self._steps = [torch.zeros((), dtype=torch.float32, device=p.device) for p in self.params]
        self._betas, self._eps, self._weight_decay = betas, eps, weight_decay

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        grads = cast(list[Tensor], [p.grad for p in self.params])  # every parameter has one at a step
        self._update(self.params, grads, self._exp_avgs, self._exp_avg_sqs, [], self._steps,
                     fused=True, amsgrad=False, maximize=False, lr=self.param_groups[0]["lr"], beta1=self._betas[0],
                     beta2=self._betas[1], eps=self._eps, weight_decay=self._weight_decay)


def assign_grad(p: nn.Parameter, g: Tensor) -> None:
    """Give `p` the gradient `g`, laid out like `p`: the fused kernel reads a gradient with its parameter's strides,
    so a transposed view (as autograd.grad may return) would silently corrupt the update."""
    p.grad = g if g.stride() == p.stride() else torch.empty_like(p).copy_(g)


def set_lr(optimizer: FunctionalAdam | torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


# Set by `reproduce --workers` in each worker process: the most intra-op threads a run there may take, so that N
# workers on N cores do not contend (the modular-addition runs ask for two).
MAX_THREADS_ENV = "SUPERPOSITION_MAX_THREADS"


@contextlib.contextmanager
def thread_count(n: int | None) -> Iterator[None]:
    """Run the block with `n` intra-op threads (None: leave as is), restoring the previous count after."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def choose_threads(config: TrainConfig) -> int | None:
    """The intra-op thread count for a run: the config's; else one thread on CPU (measured on 2 shared cores: the
    intro model runs ~1.2x faster on one thread, an n=200/m=20 sweep of 20 instances 4x faster); else torch's."""
    cap = os.environ.get(MAX_THREADS_ENV)
    if cap is not None and config.device == "cpu":  # a worker among several: never more threads than it was given
        return min(config.threads or 1, int(cap))
    if config.threads is not None:
        return config.threads
    return 1 if config.device == "cpu" else None


def saved_tensors(model: nn.Module) -> dict[str, Tensor]:
    """What a run directory stores of `model`: its `weights()`, or its parameters for a plain module."""
    if isinstance(model, InstanceModel):
        return model.weights()
    return {name: p.detach() for name, p in model.named_parameters()}


def train(
    model: nn.Module,
    data: DataSource,
    config: TrainConfig,
    *,
    loss_fn: LossFn = model_loss,
    hooks: list[Hook] | tuple[Hook, ...] = (),
    progress: bool = True,
    description: str = "training",
) -> History:
    """Train `model` in place on batches from `data`; return the per-instance loss history.

    The loss is `loss_fn(model, batch)` (default: the model's own `loss`), one value per instance; their sum is
    minimised. An `AnalyticModel` (one with `loss_and_grads(batch)`: the loss and the gradients of its sum, in
    `parameters()` order) is trained without building an autograd graph.

    With `config.snapshots = N`, the saved tensors are copied after N of the steps (after the hooks; the last after
    the final step) into `History.snapshots`; copying reads the weights and never changes them.

    Raises DivergenceError (naming the instance and step) as soon as a logged window has a non-finite loss.
    The same model initialisation, config and seed give bit-identical weights on CPU.
    """
    analytic = model.loss_and_grads if loss_fn is model_loss and isinstance(model, AnalyticModel) else None
    device = torch.device(config.device)
    generator = torch.Generator(device=device).manual_seed(config.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, config)
    history = History()
    window_sum: Tensor | None = None
    window_start = 0
    threads = choose_threads(config)
    recorder = Recorder(config.steps, config.snapshots, config.snapshot_spacing) if config.snapshots else None

    draw = batch_sampler(data, config.batch_size, generator)
    steps, log_every, hooks = config.steps, config.log_every, tuple(hooks)
    scheduled = config.schedule != "constant"  # a constant schedule keeps the optimizer's own lr: no per-step update
    bar = _progress_bar(progress, description, steps)
    with thread_count(threads), bar as live:
        task = live.add_task(description, total=steps, loss="") if live else None
        for step in range(steps):
            batch = draw()
            if analytic is not None:
                loss, grads = analytic(batch)
                for p, g in zip(params, grads):
                    assign_grad(p, g)
            else:
                loss = loss_fn(model, batch)
                optimizer.zero_grad(set_to_none=True)
                loss.sum().backward()
            if scheduled:
                set_lr(optimizer, config.lr * lr_factor(config.schedule, step, steps, config.warmup_steps))
            optimizer.step()

            detached = loss.detach() if loss.requires_grad else loss
            window_sum = detached.clone() if window_sum is None else window_sum.add_(detached)
            done = step + 1
            if done % log_every == 0 or done == steps:
                mean = (window_sum / (done - window_start)).cpu()
                bad = (~torch.isfinite(mean)).nonzero()
                if len(bad):
                    k = int(bad[0, 0])
                    raise DivergenceError(instance=k, step=done, first_step=window_start + 1, value=float(mean[k]))
                history.steps.append(done)
                history.loss.append(mean.tolist())
                window_sum, window_start = None, done
                if live:
                    live.update(task, completed=done, loss=f"loss {float(mean.mean()):.4g}")
            for hook in hooks:
                if done % hook.every == 0:
                    hook.fn(done, model, detached)
            if recorder is not None and done in recorder.wanted:
                recorder.take(done, saved_tensors(model))
    history.snapshots = recorder.result() if recorder is not None else None
    return history


def _progress_bar(enabled: bool, description: str, total: int):
    if not enabled:
        return contextlib.nullcontext(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[loss]}"),
        TimeRemainingColumn(),
        transient=False,
    )
