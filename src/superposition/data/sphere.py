"""Data with known features, for testing dictionary learning (sparse autoencoders).

`SphereFeatures` is the synthetic benchmark of Sharkey, Braun & Millidge, "Taking features out of superposition
with sparse autoencoders" (2022): n_features ground-truth directions, random unit vectors in d dimensions (more
features than dimensions), each sample a sparse nonnegative combination of them. `HiddenActivations` feeds a
trained toy model's hidden layer to an SAE: there the ground-truth features are the toy model's rows W_i.

Both return batches as tensors `[n_instances, batch, d]` and expose the truth as `true_features`
`[n_instances, n_features, d]` (unit rows), the input `superposition.analysis.dictionary` compares a learned
dictionary against.
"""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor

from ..errors import ConfigError
from .features import FeatureData


SEED_SALT = 0x5F3E_2024


class SphereFeatures:
    """x = sum_i c_i F_i with F_i random unit vectors in R^d and sparse coefficients c_i >= 0.

    Each feature is active independently with probability p = n_active / n_features (so about `n_active` per
    sample) and then takes a magnitude uniform on [0, 1) (one uniform draw u does both: active when u < p, magnitude
    u / p). Every instance has its own features, drawn from `seed` (salted with `SEED_SALT`); batches come from
    the generator given to `sample`.

    `correlation` rho > 0 makes features co-occur within consecutive groups of `group_size` (a Gaussian copula):
    feature i is active when z_i = sqrt(rho) g + sqrt(1 - rho) e_i falls below the normal p-quantile, with g shared
    by the group and e_i its own; each feature stays active with probability exactly p, and the magnitude is then a
    separate uniform draw.

    >>> data = SphereFeatures(d=16, n_features=32, n_active=3, n_instances=2)
    >>> x = data.sample(1000, torch.Generator().manual_seed(0))
    >>> tuple(x.shape), tuple(data.true_features.shape)
    ((2, 1000, 16), (2, 32, 16))
    """

    def __init__(
        self,
        d: int = 256,
        n_features: int = 512,
        n_active: float = 5.0,
        *,
        n_instances: int = 1,
        seed: int = 0,
        correlation: float = 0.0,
        group_size: int = 16,
        device: str | torch.device = "cpu",
    ):
        if min(d, n_features, n_instances, group_size) <= 0:
            raise ConfigError(
                f"sizes must be positive, got d={d}, n_features={n_features}, n_instances={n_instances}, "
                f"group_size={group_size}"
            )
        if not 0 < n_active <= n_features:
            raise ConfigError(f"n_active must lie in (0, n_features={n_features}], got {n_active}")
        if not 0 <= correlation < 1:
            raise ConfigError(f"correlation must lie in [0, 1), got {correlation}")
        self.d, self.n_features, self.n_instances = d, n_features, n_instances
        self.p = n_active / n_features
        self.correlation, self.group_size = correlation, group_size
        self.device = torch.device(device)
        # Salted: an SAE initialised from the same seed draws the same randn shape, and would start at the answer.
        init = torch.Generator(device=self.device).manual_seed(SEED_SALT + seed)
        F = torch.randn((n_instances, n_features, d), generator=init, device=self.device)
        self.true_features: Float[Tensor, "inst feat d"] = F / F.norm(dim=-1, keepdim=True)

    def coefficients(self, batch_size: int, generator: torch.Generator) -> Float[Tensor, "inst batch feat"]:
        """The sparse coefficients c of a batch (the ground-truth latents)."""
        shape = (self.n_instances, batch_size, self.n_features)
        u = torch.rand(shape, generator=generator, device=self.device)
        if self.correlation == 0:
            # Keep u / p where it is below 1, in one pass and without a bool tensor (as FeatureData does).
            return torch.nn.functional.threshold(u.mul_(-1 / self.p), -1.0, 0.0).neg_()
        n_groups = -(-self.n_features // self.group_size)
        g = torch.randn((self.n_instances, batch_size, n_groups), generator=generator, device=self.device)
        g = g.repeat_interleave(self.group_size, dim=2)[:, :, : self.n_features]
        e = torch.randn(shape, generator=generator, device=self.device)
        z = self.correlation**0.5 * g + (1 - self.correlation) ** 0.5 * e
        threshold = torch.special.ndtri(torch.tensor(self.p, dtype=torch.float64)).item()
        return torch.where(z < threshold, u, 0.0)

    def sample(self, batch_size: int, generator: torch.Generator) -> Float[Tensor, "inst batch d"]:
        return torch.bmm(self.coefficients(batch_size, generator), self.true_features)


class HiddenActivations:
    """The hidden activations h = x @ W of a trained toy autoencoder (`W` `[n_instances, n_features, n_hidden]`),
    with x drawn from the run's feature distribution `feature_data`: the input of an SAE on a toy model.

    The ground truth is `true_features`: the rows W_i scaled to unit norm. A feature the toy model dropped keeps a
    small nonzero row, which becomes a unit vector all the same (only an exactly zero row stays 0): check the norms
    of W before reading recovery scores, as the sparse-coding experiment does.

    >>> from superposition.config import DataConfig
    >>> W = torch.randn(1, 5, 2)
    >>> data = HiddenActivations(W, FeatureData(DataConfig(n_features=5, feature_probability=[0.1])))
    >>> data.sample(64, torch.Generator().manual_seed(0)).shape
    torch.Size([1, 64, 2])
    """

    def __init__(self, W: Float[Tensor, "inst feat hidden"], feature_data: FeatureData):
        n_inst, n_feat = feature_data.config.n_instances, feature_data.config.n_features
        if W.ndim != 3 or W.shape[:2] != (n_inst, n_feat):
            raise ConfigError(
                f"W must be [{n_inst}, {n_feat}, n_hidden] to match the feature data, got shape {tuple(W.shape)}"
            )
        self.W = W.detach().to(feature_data.device)
        self.feature_data = feature_data
        self.n_instances, self.d = n_inst, W.shape[2]
        norms = self.W.norm(dim=-1, keepdim=True)
        self.true_features: Float[Tensor, "inst feat hidden"] = torch.where(
            norms > 0, self.W / norms.clamp_min(1e-12), 0.0
        )

    def sample(self, batch_size: int, generator: torch.Generator) -> Float[Tensor, "inst batch hidden"]:
        return torch.bmm(self.feature_data.features(batch_size, generator), self.W)
