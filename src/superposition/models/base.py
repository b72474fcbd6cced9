"""What every model of the project is: a batch of independent instances with a per-instance loss and named tensors.

`InstanceModel` is the interface the trainer, the run directories and the analyses rely on. Every model is built
the same way, `Model(config, *, <sizes>, generator=None, device="cpu")` with `config` its section of the run config,
and rebuilt from its saved tensors with `Model.from_weights(**model.weights())` (plus the options its config holds).
A model that supplies hand-written gradients is an `AnalyticModel`; the trainer then skips autograd.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch
from jaxtyping import Float
from torch import Tensor

from ..errors import ConfigError


@runtime_checkable
class InstanceModel(Protocol):
    """`n_instances` models trained side by side: `loss(batch)` gives one value per instance (their sum is
    minimised, so instances train independently); `weights()` names the tensors a run directory stores."""

    n_instances: int

    def loss(self, batch: Any) -> Float[Tensor, "inst"]: ...

    def weights(self) -> dict[str, Tensor]: ...


@runtime_checkable
class AnalyticModel(InstanceModel, Protocol):
    """A model that computes its loss and the gradient of its sum for each of `parameters()` by hand."""

    def loss_and_grads(self, batch: Any) -> tuple[Float[Tensor, "inst"], list[Tensor]]: ...


def check_kind(cls: type, kind: str, kinds: tuple[str, ...]) -> None:
    """Refuse a config kind the class does not implement (rather than silently building another model)."""
    if kind not in kinds:
        raise ConfigError(f"{cls.__name__} implements kind {' or '.join(map(repr, kinds))}, not {kind!r}")


def check_sizes(**sizes: int) -> None:
    bad = {name: n for name, n in sizes.items() if n <= 0}
    if bad:
        raise ConfigError("sizes must be positive, got " + ", ".join(f"{k}={v}" for k, v in sizes.items()))


def xavier_normal(
    shape: tuple[int, int, int], generator: torch.Generator | None, device: str | torch.device
) -> Float[Tensor, "inst a b"]:
    """Xavier-normal per instance: std = sqrt(2 / (fan_in + fan_out)) of each [a, b] matrix, so an instance starts the
    same whatever the sweep's size. (The original notebook calls torch's xavier_normal_ on the stacked [inst, a, b]
    tensor, whose fans are a·b and inst·b: std sqrt(2 / (b (a + inst))), smaller and dependent on the instance
    count. The investigations under investigations/ that ran the notebook's own setting used its init.)"""
    std = (2.0 / (shape[1] + shape[2])) ** 0.5
    return torch.empty(shape, device=device).normal_(0.0, std, generator=generator)


def weighted_mse(
    pred: Float[Tensor, "inst batch feat"], target: Float[Tensor, "inst batch feat"], weight: Tensor
) -> Float[Tensor, "inst"]:
    """Importance-weighted squared error averaged over batch and features, per instance (the paper's code)."""
    return (weight * (pred - target).square()).mean(dim=(1, 2))
