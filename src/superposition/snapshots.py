"""Weight snapshots: copies of a run's saved tensors taken during training, for learning dynamics (the paper's
"Superposition and Learning Dynamics": features jump between dimensionalities as the loss drops).

A run trained with `train.snapshots = N` keeps N copies of every tensor of weights.safetensors, at N distinct steps
(log-spaced by default, so the fast early changes are seen; evenly spaced on request), the last always the final
step, so the last snapshot equals the final weights bit for bit. On disk, `snapshots.safetensors` holds each tensor
with a leading snapshot axis (`W`: `[N, n_instances, n_features, n_hidden]`) and `steps` (int64 `[N]`).

Size: N x (bytes of the saved tensors) + 8 N bytes for the steps, held in memory during training and written once;
a request above `MAX_SNAPSHOT_BYTES` is refused before training (`memory.check_memory`).

>>> snapshot_steps(1000, 5, "log")
[1, 6, 32, 178, 1000]
>>> snapshot_steps(1000, 4, "linear")
[250, 500, 750, 1000]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor

from .errors import RunDirError

# The most snapshot data a run may keep (in memory during training, then on disk): large enough for hundreds of
# snapshots of any model in the report, small enough that a typo (`--snapshots 100000`) cannot fill a disk.
MAX_SNAPSHOT_BYTES = 2**30
STEPS = "steps"
FORMAT = "1"

Spacing = Literal["log", "linear"]


def snapshot_steps(total: int, n: int, spacing: Spacing = "log") -> list[int]:
    """The `n` distinct steps (1..total, the last `total`) after which a snapshot is taken.

    Log spacing rounds geomspace(1, total, n) and pushes colliding early steps apart (the first steps are whole
    numbers, so a log grid denser than one per step is shifted up); linear spacing rounds total·k/n."""
    if not 0 <= n <= total:
        raise ValueError(f"cannot take {n} snapshots in {total} steps")
    if n == 0:
        return []
    if spacing == "linear":
        return [round(total * (k + 1) / n) for k in range(n)]
    if spacing != "log":
        raise ValueError(f"unknown snapshot spacing {spacing!r}")
    grid = [round(math.exp(math.log(total) * k / (n - 1))) if n > 1 else total for k in range(n)]
    steps: list[int] = []
    for k, s in enumerate(grid):
        low = steps[-1] + 1 if steps else 1
        steps.append(min(max(s, low), total - (n - 1 - k)))  # distinct, and room left for the later ones
    return steps


def snapshot_bytes(tensors: Mapping[str, Tensor], n: int) -> int:
    """Bytes of `n` snapshots of `tensors` (their element counts times element sizes) plus the int64 steps."""
    per = sum(t.numel() * t.element_size() for t in tensors.values())
    return n * (per + 8)


@dataclass
class Snapshots:
    """Snapshots of a run: `steps` (int64 `[N]`) and, per saved tensor, its N copies stacked on a leading axis."""

    steps: Tensor
    tensors: dict[str, Tensor]
    spacing: str = "log"

    def __len__(self) -> int:
        return int(self.steps.numel())

    def at(self, k: int) -> dict[str, Tensor]:
        """The saved tensors of snapshot `k` (negative counts from the end), as `model.weights()` names them."""
        return {name: t[k] for name, t in self.tensors.items()}

    def model(self, config: Any, k: int, device: str = "cpu") -> Any:
        """A fresh model of `config`'s family holding snapshot `k` (its weights copied in), on `device`."""
        from .families import family_of

        config = config.model_copy(update={"train": config.train.model_copy(update={"device": device})})
        model = family_of(config).build_model(config, None)
        with torch.no_grad():
            for name, value in self.at(k).items():
                getattr(model, name).copy_(value)
        return model


class Recorder:
    """What the trainer uses: `take(step, weights)` copies the tensors when `step` is a snapshot step, into buffers
    allocated once (so memory is the size formula, not a growing list); `result()` gives the Snapshots."""

    def __init__(self, total: int, n: int, spacing: Spacing = "log") -> None:
        self.steps = snapshot_steps(total, n, spacing)
        self.wanted = set(self.steps)
        self.spacing = spacing
        self.buffers: dict[str, Tensor] = {}
        self.taken = 0

    def take(self, step: int, weights: Mapping[str, Tensor]) -> None:
        if step not in self.wanted:
            return
        if not self.buffers:
            n = len(self.steps)
            self.buffers = {k: torch.empty((n, *v.shape), dtype=v.dtype) for k, v in weights.items()}
        for name, value in weights.items():
            self.buffers[name][self.taken].copy_(value.detach())
        self.taken += 1

    def result(self) -> Snapshots | None:
        if not self.steps:
            return None
        if self.taken != len(self.steps):
            raise RuntimeError(f"took {self.taken} of {len(self.steps)} snapshots")  # a trainer bug, not user input
        return Snapshots(torch.tensor(self.steps, dtype=torch.int64), self.buffers, self.spacing)


def save_snapshots(snapshots: Snapshots, file: Path) -> None:
    """Write `snapshots` to `file` (safetensors: the stacked tensors and `steps`)."""
    tensors = {name: t.detach().cpu().contiguous() for name, t in snapshots.tensors.items()}
    tensors[STEPS] = snapshots.steps.detach().cpu().to(torch.int64).contiguous()
    save_file(tensors, str(file), metadata={"format_version": FORMAT, "spacing": snapshots.spacing})


def read_snapshots(file: Path, weights: Mapping[str, tuple[int, ...]], n: int, total: int, device: str = "cpu") -> Snapshots:
    """Read and validate `file` against the run: one float32, finite tensor per saved tensor (`weights`: name ->
    shape) with `n` snapshots on a leading axis, and `n` int64 steps, strictly increasing in 1..total, ending at
    `total`. Raises RunDirError with one line."""
    try:
        with safe_open(str(file), framework="pt", device=device) as f:
            spacing = (f.metadata() or {}).get("spacing", "log")
            raw = {name: f.get_tensor(name) for name in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise RunDirError(f"{file} is corrupt: {e}") from None
    steps = raw.pop(STEPS, None)
    if steps is None or steps.dtype != torch.int64 or tuple(steps.shape) != (n,):
        what = "missing" if steps is None else f"{str(steps.dtype).removeprefix('torch.')} {tuple(steps.shape)}"
        raise RunDirError(f"{file}: tensor 'steps' is {what}, expected int64 ({n},) (config.json asks {n} snapshots)")
    s = steps.cpu().tolist()
    if s[0] < 1 or s[-1] != total or any(a >= b for a, b in zip(s, s[1:])):
        raise RunDirError(f"{file}: steps must increase strictly from 1 or more to the last step {total}, got {s}")
    expected = {name: (n, *shape) for name, shape in weights.items()}
    got = {name: tuple(t.shape) for name, t in raw.items()}
    if expected != got:
        raise RunDirError(f"{file} does not match weights.safetensors: expected {expected}, got {got}")
    for name, t in raw.items():
        if t.dtype != torch.float32:
            raise RunDirError(f"{file}: tensor {name!r} is {str(t.dtype).removeprefix('torch.')}, expected float32")
        if not bool(torch.isfinite(t).all()):
            raise RunDirError(f"{file}: tensor {name!r} holds NaN or infinity")
    return Snapshots(steps, raw, spacing)
