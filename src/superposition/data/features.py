"""Sparse synthetic features (Toy Models of Superposition, "the synthetic data").

Each feature x_i is zero with probability S_i (sparsity) and otherwise takes a magnitude; features carry an
importance I_i that weights their reconstruction error. One uniform draw per feature does both jobs: with
u ~ U[0, 1), the feature is active when u < p, and u / p is then again uniform on [0, 1). That halves the cost
of the usual "one draw for the mask, one for the magnitude".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

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
        self._full: dict[int, Tensor] = {}
        self._weight = self.importance[:, None, :]

    def _neg_inv_p(self, batch_size: int) -> Tensor:
        """-1/p materialised at `[inst, feat, batch]`: broadcasting along the innermost axis is several times
        slower than reading a contiguous tensor of the same size."""
        if batch_size not in self._full:
            p = self._p_draw
            neg_inv = torch.where(p > 0, -1 / p, 0.0)
            self._full = {batch_size: neg_inv[:, :, None].expand(-1, -1, batch_size).contiguous()}
        return self._full[batch_size]

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        return self._batch(self._uniform(batch_size, generator))

    def sampler(self, batch_size: int, generator: torch.Generator) -> Callable[[], Batch]:
        """A function that draws the next batch at each call, for a training loop: the batches of `sample`, from the
        same draws of `generator`, into buffers it reuses where it can (the batch it returns may be overwritten by
        the next call).

        >>> from superposition.config import DataConfig
        >>> data = FeatureData(DataConfig(n_features=5, feature_probability=[1.0, 0.1]))
        >>> draw = data.sampler(8, torch.Generator().manual_seed(0))
        >>> tuple(draw().x.shape), bool((draw().x[1] < 1).all())
        ((2, 8, 5), True)
        """
        cfg = self.config
        u = torch.empty((cfg.n_instances, cfg.n_features, batch_size), device=self.device)
        uniform = self._uniform_filler(u, generator)
        if cfg.magnitude != "uniform" or cfg.correlated_pairs or cfg.anticorrelated_pairs or cfg.target == "abs":
            return lambda: self._batch(uniform())
        p_inv_neg = self._neg_inv_p(batch_size)
        x = u.transpose(1, 2)
        batch = Batch(x=x, target=x, weight=self._weight)
        threshold_ = torch.threshold_  # in place: keep -u/p where it is above -1, else 0

        def draw() -> Batch:  # `features` in place, without three batch-sized allocations
            threshold_(uniform().mul_(p_inv_neg), -1.0, 0.0).neg_()
            return batch

        return draw

    def _uniform_filler(self, u: Tensor, generator: torch.Generator) -> Callable[[], Tensor]:
        """A function that refills `u` with `generator`'s uniforms on [0, 1) (the draws `sample` makes) and returns
        it."""
        return lambda: torch.rand(u.shape, generator=generator, out=u)

    def features(self, batch_size: int, generator: torch.Generator) -> Float[Tensor, "inst batch feat"]:
        return self._features(self._uniform(batch_size, generator))

    def _uniform(self, batch_size: int, generator: torch.Generator) -> Float[Tensor, "inst feat batch"]:
        cfg = self.config
        return torch.rand((cfg.n_instances, cfg.n_features, batch_size), generator=generator, device=self.device)

    def _batch(self, u: Float[Tensor, "inst feat batch"]) -> Batch:
        x = self._features(u)
        target = x.abs() if self.config.target == "abs" else x
        return Batch(x=x, target=target, weight=self._weight)

    def _features(self, u: Float[Tensor, "inst feat batch"]) -> Float[Tensor, "inst batch feat"]:
        """The features from one uniform per feature (`u` is only read)."""
        cfg = self.config
        p_inv_neg = self._neg_inv_p(u.shape[2])
        # Active when u < p, i.e. when u / p < 1; conditional on that, u / p is uniform on [0, 1), so the magnitude
        # costs no second draw. threshold(-u/p, -1, 0) keeps -u/p where u/p < 1: one pass, and no bool tensor
        # (comparisons into bool cost several times more than float ops here).
        s = torch.nn.functional.threshold(u * p_inv_neg, -1.0, 0.0).neg_()
        if cfg.magnitude == "uniform" and not (cfg.correlated_pairs or cfg.anticorrelated_pairs):
            return s.transpose(1, 2)
        active = s > 0
        if cfg.correlated_pairs or cfg.anticorrelated_pairs:
            self._pair_up(u, s, active)
        if cfg.magnitude == "uniform":
            x = s
        elif cfg.magnitude == "constant":
            x = active.to(u.dtype)
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
