"""How much memory a run needs, checked before anything is allocated.

A size typed by mistake (`--n-hidden 1000000000`, `--p 100001`) should be refused with the memory it would need,
not end in an allocation failure after minutes, or in the machine swapping. The estimate counts float32 tensors:
the parameters with their gradient and Adam's two moments, one batch with the few activations of its size the
forward and backward passes keep, and the data a family holds in memory (all modular-addition pairs, the SAE's true
features). It is rough, within a small factor; it is meant to catch sizes that are off by orders of magnitude.

Weight snapshots (`train.snapshots`) are counted exactly: snapshots x bytes of the saved tensors (`snapshot_size`),
and a request above `snapshots.MAX_SNAPSHOT_BYTES` (1 GiB) is refused whatever memory is free, since the same bytes
go to disk.

>>> from superposition import make_config
>>> estimate_bytes(make_config()) < 2**20    # the default toy run: under a megabyte
True
"""

from __future__ import annotations

import os
from typing import Any

from .errors import ConfigError
from .families import family_of
from .snapshots import MAX_SNAPSHOT_BYTES, snapshot_bytes

FLOAT = 4
# A parameter lives with its gradient and Adam's first and second moments.
PER_PARAMETER = 4 * FLOAT


def estimate_bytes(config: Any) -> int:
    """Bytes a training run of `config` needs at its peak, roughly (see the module's docstring), snapshots included."""
    weights, rest = family_of(config).memory(config)
    return weights * PER_PARAMETER + rest * FLOAT + snapshot_size(config)


def snapshot_size(config: Any) -> int:
    """Bytes of the run's weight snapshots: train.snapshots x the bytes of the tensors weights.safetensors holds
    (shapes read from the model built on the meta device, so nothing is allocated), plus 8 bytes a step."""
    n = config.train.snapshots
    if n == 0:
        return 0
    meta = config.model_copy(update={"train": config.train.model_copy(update={"device": "meta"})})
    return snapshot_bytes(family_of(config).build_model(meta, None).weights(), n)


def available_bytes(device: str = "cpu") -> int | None:
    """Memory free for a new run on `device`: MemAvailable on Linux, free GPU memory on CUDA; None when unknown."""
    if device.startswith("cuda"):
        import torch

        if torch.cuda.is_available():
            free, _ = torch.cuda.mem_get_info(torch.device(device))
            return int(free)
        return None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _gib(n: int) -> str:
    return f"{n / 2**30:.3g} GiB" if n >= 2**28 else f"{n / 2**20:.3g} MiB"


def check_memory(config: Any, available: int | None = None) -> int:
    """Refuse (ConfigError) a run that would need more memory than its device has free, or snapshots above
    MAX_SNAPSHOT_BYTES; returns the estimate."""
    snaps = snapshot_size(config)
    if snaps > MAX_SNAPSHOT_BYTES:
        raise ConfigError(
            f"train.snapshots = {config.train.snapshots} would keep {_gib(snaps)} of weight snapshots (snapshots x "
            f"{_gib(snaps // config.train.snapshots)} per copy), above the limit of {_gib(MAX_SNAPSHOT_BYTES)}; "
            "ask for fewer snapshots")
    need = estimate_bytes(config)
    have = available_bytes(config.train.device) if available is None else available
    if have is not None and need > have:
        raise ConfigError(
            f"this run would need about {_gib(need)} of memory (weights, optimizer state and one batch) and "
            f"{config.train.device} has {_gib(have)} free; reduce the sizes"
        )
    return need
