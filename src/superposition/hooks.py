"""Training hooks: a function the trainer calls every N steps. Kept apart from `train.py` so that models can hand
the trainer the hooks they need (an SAE renormalising its dictionary) without importing the trainer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import Tensor, nn


@dataclass
class Hook:
    """Call `fn(step, model, loss)` every `every` steps; `loss` is the last step's per-instance loss."""

    every: int
    fn: Callable[[int, nn.Module, Tensor], None]
