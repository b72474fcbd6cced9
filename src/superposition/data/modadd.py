"""Modular-addition data (Nanda et al. 2023; Chughtai et al. 2023): every pair (a, b) of Z_p labelled (a + b) mod p.

The p^2 pairs are split once, by a seeded permutation, into a training fraction and a test remainder. Grokking
setups train full-batch on the training pairs, so the data source here hands back the whole training set at
every step. The training set has floor(fraction * p^2) pairs: p = 113 with 30% gives 3,830 of 12,769.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Int
from torch import Tensor

from ..config.modadd import n_train_pairs
from ..errors import ConfigError


@dataclass
class ModAddBatch:
    """Pairs and their labels, each a `[n_pairs]` int64 tensor; the same pairs serve every instance."""

    a: Int[Tensor, "n"]
    b: Int[Tensor, "n"]
    labels: Int[Tensor, "n"]

    def __len__(self) -> int:
        return int(self.a.shape[0])

    def to(self, device: str | torch.device) -> "ModAddBatch":
        return ModAddBatch(self.a.to(device), self.b.to(device), self.labels.to(device))


def all_pairs(p: int, device: str | torch.device = "cpu") -> ModAddBatch:
    """All p^2 pairs in row-major order (pair index = a * p + b), labelled (a + b) mod p.

    >>> batch = all_pairs(3)
    >>> batch.a.tolist(), batch.b.tolist(), batch.labels.tolist()
    ([0, 0, 0, 1, 1, 1, 2, 2, 2], [0, 1, 2, 0, 1, 2, 0, 1, 2], [0, 1, 2, 1, 2, 0, 2, 0, 1])
    """
    if p < 2:
        raise ConfigError(f"p must be at least 2, got {p}")
    idx = torch.arange(p * p, device=device)
    a, b = idx // p, idx % p
    return ModAddBatch(a, b, (a + b) % p)


def train_test_split(
    p: int, train_fraction: float, generator: torch.Generator | None = None, device: str | torch.device = "cpu"
) -> tuple[ModAddBatch, ModAddBatch]:
    """Split all pairs by a seeded permutation: the first floor(fraction * p^2) go to training, the rest to test.

    >>> train, test = train_test_split(113, 0.3, torch.Generator().manual_seed(0))
    >>> len(train), len(test)
    (3830, 8939)
    """
    if not 0.0 < train_fraction <= 1.0:
        raise ConfigError(f"train_fraction must lie in (0, 1], got {train_fraction}")
    n_train = n_train_pairs(p, train_fraction)
    if n_train == 0:
        raise ConfigError(f"train_fraction={train_fraction} leaves no training pair for p={p}")
    pairs = all_pairs(p)
    perm = torch.randperm(p * p, generator=generator)
    parts = []
    for idx in (perm[:n_train], perm[n_train:]):
        parts.append(ModAddBatch(pairs.a[idx], pairs.b[idx], pairs.labels[idx]).to(device))
    return parts[0], parts[1]


class ModAddData:
    """Full-batch data source for `superposition.train.train`: `sample` returns the whole training set each step.

    `batch_size` and `generator` are accepted for the trainer's protocol and ignored (set batch_size=1 in the
    TrainConfig): full-batch gradient descent is the grokking setup.

    >>> data = ModAddData(p=23, train_fraction=0.3, seed=0)
    >>> len(data.sample(1, torch.Generator())), len(data.train) + len(data.test)
    (158, 529)
    """

    def __init__(self, p: int, train_fraction: float = 0.3, seed: int = 0, device: str | torch.device = "cpu"):
        self.p, self.train_fraction, self.seed = p, train_fraction, seed
        self.train, self.test = train_test_split(p, train_fraction, torch.Generator().manual_seed(seed), device)

    def sample(self, batch_size: int, generator: torch.Generator) -> ModAddBatch:
        return self.train
