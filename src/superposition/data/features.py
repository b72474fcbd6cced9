"""Sparse synthetic features (Toy Models of Superposition, "the synthetic data").

Each feature x_i is zero with probability S_i (sparsity) and otherwise takes a magnitude; features carry an
importance I_i that weights their reconstruction error. One uniform draw per feature does both jobs: with
u ~ U[0, 1), the feature is active when u > 1 - p, and (u - 1 + p) / p is then again uniform on [0, 1). That
halves the cost of the usual "one draw for the mask, one for the magnitude". (The draws are held as f = 1 + u,
uniform on [1, 2), which random bits fill directly.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from ..config import DataConfig


@dataclass
class Batch:
    """One training batch: `x` and `target` are `[n_instances, batch, n_features]`; `weight` (the importance)
    is `[n_instances, 1, n_features]` and broadcasts to them.

    The generator stores `x` feature-major in memory (a transposed view of an `[inst, feat, batch]` buffer): on a
    CPU, batched matmuls whose output runs along the batch are several times faster that way.
    """

    x: Float[Tensor, "inst batch feat"]
    target: Float[Tensor, "inst batch feat"]
    weight: Float[Tensor, "inst 1 feat"]


class FeatureData:
    """Draws batches of sparse features for every instance at once, on `device`, from an explicit generator.

    >>> from superposition.config import DataConfig
    >>> data = FeatureData(DataConfig(n_features=5, feature_probability=[1.0, 0.1]))
    >>> batch = data.sample(8, torch.Generator().manual_seed(0))
    >>> tuple(batch.x.shape)
    (2, 8, 5)
    """

    def __init__(self, config: DataConfig, device: str | torch.device = "cpu"):
        self.config = config
        self.device = torch.device(device)
        self.probability = config.probability().to(self.device)  # [inst, feat]
        self.importance = config.importance_table().to(self.device)  # [inst, feat]
        # An anticorrelated pair is active with probability 2p, then one of its two features is chosen.
        p_draw = self.probability.clone()
        first = 2 * config.correlated_pairs
        p_draw[:, first : first + 2 * config.anticorrelated_pairs : 2] *= 2
        self._p_draw = p_draw
        self._full: dict[int, tuple[Tensor, Tensor]] = {}
        self._weight = self.importance[:, None, :]

    def _affine(self, batch_size: int) -> tuple[Tensor, Tensor]:
        """(a, c) = (1/p, 1 - 2/p) materialised at `[inst, feat, batch]` (a = 0, c = -1 where p = 0): for f uniform
        on [1, 2), v = a f + c is above 0 exactly when f > 2 - p (probability p), and is then uniform on [0, 1).
        Materialised because broadcasting along the innermost axis is several times slower than reading a
        contiguous tensor of the same size."""
        if batch_size not in self._full:
            p = self._p_draw
            a, c = torch.where(p > 0, 1 / p, 0.0), torch.where(p > 0, 1 - 2 / p, -1.0)
            full = [t[:, :, None].expand(-1, -1, batch_size).contiguous() for t in (a, c)]
            self._full = {batch_size: (full[0], full[1])}
        return self._full[batch_size]

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        """One batch: the first one `sampler(batch_size, generator)` would draw (each call takes one draw of
        `generator`, which seeds the batch's random bits)."""
        return self._batch(self._unit(batch_size, generator))

    def sampler(self, batch_size: int, generator: torch.Generator) -> Callable[[], Batch]:
        """A function that draws the next batch at each call, for a training loop: batches of `sample`'s
        distribution from one random stream seeded by one draw of `generator` (the first batch is `sample`'s),
        into buffers it reuses where it can (the batch it returns may be overwritten by the next call).

        >>> from superposition.config import DataConfig
        >>> data = FeatureData(DataConfig(n_features=5, feature_probability=[1.0, 0.1]))
        >>> draw = data.sampler(8, torch.Generator().manual_seed(0))
        >>> tuple(draw().x.shape), bool((draw().x[1] < 1).all())
        ((2, 8, 5), True)
        """
        cfg = self.config
        f = torch.empty((cfg.n_instances, cfg.n_features, batch_size), device=self.device)
        unit = self._unit_filler(f, generator)
        if cfg.magnitude != "uniform" or cfg.correlated_pairs or cfg.anticorrelated_pairs or cfg.target == "abs":
            return lambda: self._batch(unit())
        a, c = self._affine(batch_size)
        x = f.transpose(1, 2)
        batch = Batch(x=x, target=x, weight=self._weight)
        addcmul, threshold_ = torch.addcmul, torch.threshold_

        def draw() -> Batch:  # `_features` in place: two passes, no batch-sized allocation
            threshold_(addcmul(c, unit(), a, out=f), 0.0, 0.0)
            return batch

        return draw

    def _unit_filler(self, f: Tensor, generator: torch.Generator) -> Callable[[], Tensor]:
        """A function that refills the contiguous float32 `f` with uniforms on [1, 2) at each call and returns it.

        On CPU each value is 23 random bits of numpy's SFC64 (seeded by one draw of `generator`, so fixed by its
        seed) as the mantissa of a float in [1, 2): the generator's raw 64-bit words and two integer passes, which
        together take under half the time of torch's (mt19937) uniforms, and about 75% of numpy's own float32
        uniforms from PCG64 (`benchmarks/profile_trainer.py`; the draw is a quarter of a toy training step).
        SFC64 is one of numpy's bit generators (a small fast chaotic generator that passes BigCrush and PractRand).
        On other devices, 1 + `generator`'s own uniforms."""
        if f.device.type != "cpu":
            return lambda: torch.rand(f.shape, generator=generator, out=f).add_(1.0)
        seed = int(torch.randint(2**63 - 1, (), generator=generator))
        raw, count, bits = np.random.SFC64(seed).random_raw, f.numel(), f.view(torch.int32).view(-1)
        words, from_numpy, bitwise_and = (count + 1) // 2, torch.from_numpy, torch.bitwise_and

        def refill() -> Tensor:
            drawn = from_numpy(raw(words).view(np.int32)[:count])
            bitwise_and(drawn, 0x7FFFFF, out=bits).bitwise_or_(0x3F800000)  # mantissa bits, the exponent of 1.0
            return f

        return refill

    def features(self, batch_size: int, generator: torch.Generator) -> Float[Tensor, "inst batch feat"]:
        return self._features(self._unit(batch_size, generator))

    def _unit(self, batch_size: int, generator: torch.Generator) -> Float[Tensor, "inst feat batch"]:
        """One batch of uniforms on [1, 2): the first batch a `sampler` with this generator would draw."""
        cfg = self.config
        f = torch.empty((cfg.n_instances, cfg.n_features, batch_size), device=self.device)
        return self._unit_filler(f, generator)()

    def _batch(self, f: Float[Tensor, "inst feat batch"]) -> Batch:
        x = self._features(f)
        target = x.abs() if self.config.target == "abs" else x
        return Batch(x=x, target=target, weight=self._weight)

    def _features(self, f: Float[Tensor, "inst feat batch"]) -> Float[Tensor, "inst batch feat"]:
        """The features from one uniform on [1, 2) per feature (`f` is only read)."""
        cfg = self.config
        a, c = self._affine(f.shape[2])
        # Active when f > 2 - p, i.e. when v = f/p + 1 - 2/p > 0; conditional on that, v is uniform on [0, 1), so the
        # magnitude costs no second draw. threshold(v, 0, 0) keeps v where it is above 0: one pass, and no bool
        # tensor (comparisons into bool cost several times more than float ops here).
        s = torch.nn.functional.threshold(torch.addcmul(c, f, a), 0.0, 0.0)
        if cfg.magnitude == "uniform" and not (cfg.correlated_pairs or cfg.anticorrelated_pairs):
            return s.transpose(1, 2)
        active = s > 0
        if cfg.correlated_pairs or cfg.anticorrelated_pairs:
            self._pair_up(f - 1, s, active)
        if cfg.magnitude == "uniform":
            x = s
        elif cfg.magnitude == "constant":
            x = active.to(f.dtype)
        elif cfg.magnitude == "uniform_signed":
            x = torch.where(active, 2 * s - 1, 0.0)
        else:  # normal: push the uniform magnitude through the inverse normal CDF.
            z = torch.special.erfinv((2 * s - 1).clamp(-1 + 1e-7, 1 - 1e-7)) * 2**0.5
            x = torch.where(active, z, 0.0)
        return x.transpose(1, 2)

    def _pair_up(self, u: Tensor, s: Tensor, active: Tensor) -> None:
        """Apply correlated and anticorrelated pairs in place to magnitudes `s` and the mask `active`
        (both `[inst, feat, batch]`)."""
        cfg = self.config
        for pair in range(cfg.correlated_pairs):
            i, j = 2 * pair, 2 * pair + 1
            # Both on when the first is on; the second keeps its own uniform u_j as magnitude.
            active[:, j] = active[:, i]
            s[:, j] = torch.where(active[:, i], u[:, j], 0.0)
        for pair in range(cfg.anticorrelated_pairs):
            i = 2 * (cfg.correlated_pairs + pair)
            j = i + 1
            on, v = active[:, i].clone(), s[:, i].clone()  # v is uniform on [0, 1) when the pair is on
            active[:, i], active[:, j] = on & (v < 0.5), on & (v >= 0.5)
            s[:, i] = torch.where(active[:, i], 2 * v, 0.0)
            s[:, j] = torch.where(active[:, j], 2 * v - 1, 0.0)
