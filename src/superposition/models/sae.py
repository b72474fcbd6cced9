"""Sparse autoencoders (dictionary learning), with an instance dimension.

The model of "Towards Monosemanticity" (Bricken et al. 2023) and "Sparse Autoencoders Find Highly Interpretable
Features" (Cunningham et al. 2023), and the TopK variant of "Scaling and evaluating sparse autoencoders" (Gao et al.
2024). For each instance k, with D the decoder whose rows are unit vectors (the dictionary):

    f     = act((x - b_dec) @ W_enc + b_enc)          latents, [batch, d_sae]
    x_hat = f @ D + b_dec                              reconstruction, [batch, d_in]

- `relu`: act = ReLU; loss = mean over the batch of ||x - x_hat||^2 (summed over d_in) + l1 * ||f||_1 (summed over
  latents). With unit decoder rows the L1 term cannot be dodged by shrinking f and growing D.
- `topk`: act keeps the k largest ReLU'd pre-activations of each sample and zeroes the rest; loss = the
  reconstruction term only (sparsity is enforced by construction).

Weights (safetensors names): `W_enc` `[n_instances, d_in, d_sae]`, `b_enc` `[n_instances, d_sae]`,
`b_dec` `[n_instances, d_in]`, and, when untied, `W_dec` `[n_instances, d_sae, d_in]` (rows unit norm).
Tied (`tied=True`): only `W_enc` is stored and D = unit(W_enc)^T, so encoder and decoder are the same unit vectors.

Unit decoder rows: the forward pass divides each raw decoder row by its norm (so the constraint holds exactly at
every step, and its gradient is the projected one of Bricken et al.); `normalize_decoder()` also rescales the raw
parameter to unit norm after each optimiser step (via `sae_hooks`), so that Adam keeps working at that scale.

Input batches are plain tensors `[n_instances, batch, d_in]`; a leading 1 broadcasts to every instance (one data
stream shared by a sweep, e.g. of `l1`).

Dead latents: while training (training mode, gradients on), each `loss` call counts, per instance and latent, the
steps since the latent last fired (was nonzero on some sample of the batch). `dead_latents()` reads them and
`resample_dead()` re-initialises the dead ones from inputs the model reconstructs badly.
"""

from __future__ import annotations

from typing import Any

import torch
from jaxtyping import Bool, Float
from torch import Tensor, nn

from ..config import SAEConfig
from ..hooks import Hook
from ..errors import ConfigError

# Rows shorter than this are treated as zero when normalising (only reachable by hand-made weights).
EPS = 1e-12


def _unit_rows(W: Tensor, dim: int = -1) -> Tensor:
    return W / W.norm(dim=dim, keepdim=True).clamp_min(EPS)


class SparseAutoencoder(nn.Module):
    """A sparse autoencoder for `n_instances` independent copies, trained together as one batch.

    >>> sae = SparseAutoencoder(SAEConfig(d_sae=8), d_in=4, n_instances=2, generator=torch.Generator().manual_seed(0))
    >>> x = torch.randn(2, 16, 4)
    >>> sae.encode(x).shape, sae(x).shape, sae.loss(x).shape
    (torch.Size([2, 16, 8]), torch.Size([2, 16, 4]), torch.Size([2]))
    >>> sae.decoder.norm(dim=-1).allclose(torch.ones(2, 8))
    True
    """

    l1: Tensor  # buffers: the L1 coefficient per instance, and steps since each latent last fired
    steps_since_fired: Tensor

    def __init__(
        self,
        config: SAEConfig,
        *,
        d_in: int,
        n_instances: int = 1,
        generator: torch.Generator | None = None,
        device: str | torch.device = "cpu",
    ):
        super().__init__()
        if min(d_in, n_instances) <= 0:
            raise ConfigError(f"sizes must be positive, got d_in={d_in}, n_instances={n_instances}")
        self.config, self.d_in, self.n_instances, self.d_sae = config, d_in, n_instances, config.d_sae
        # Dictionary: random unit rows; the encoder starts as its transpose (Bricken et al.; Gao et al.).
        D = torch.randn((n_instances, config.d_sae, d_in), generator=generator, device=device)
        D = _unit_rows(D)
        self.W_enc = nn.Parameter(D.transpose(1, 2).contiguous())
        self.W_dec = None if config.tied else nn.Parameter(D.clone())
        self.b_enc = nn.Parameter(torch.zeros(n_instances, config.d_sae, device=device))
        self.b_dec = nn.Parameter(torch.zeros(n_instances, d_in, device=device))
        self.register_buffer("l1", torch.tensor(config.resolved_l1(n_instances), device=device), persistent=False)
        # Training steps since each latent last fired; int32 is plenty and halves the memory of int64.
        self.register_buffer(
            "steps_since_fired", torch.zeros(n_instances, config.d_sae, dtype=torch.int32, device=device),
            persistent=False,
        )

    @classmethod
    def from_weights(
        cls,
        W_enc: Float[Tensor, "inst d_in d_sae"],
        b_enc: Float[Tensor, "inst d_sae"],
        b_dec: Float[Tensor, "inst d_in"],
        W_dec: Float[Tensor, "inst d_sae d_in"] | None = None,
        *,
        config: SAEConfig | None = None,
    ) -> "SparseAutoencoder":
        """Build an autoencoder around given weights, e.g. `from_weights(**sae.weights(), config=sae.config)`; without
        a config, a ReLU autoencoder with the default L1, tied when no W_dec is given."""
        if W_enc.ndim != 3:
            raise ConfigError(f"W_enc must be [n_instances, d_in, d_sae], got shape {tuple(W_enc.shape)}")
        n_inst, d_in, d_sae = W_enc.shape
        if config is None:
            config = SAEConfig(d_sae=d_sae, tied=W_dec is None)
        if d_sae != config.d_sae:
            raise ConfigError(f"W_enc has {d_sae} latents but config.d_sae is {config.d_sae}")
        expected: dict[str, tuple[Tensor, tuple[int, ...]]] = {"b_enc": (b_enc, (n_inst, d_sae)),
                                                               "b_dec": (b_dec, (n_inst, d_in))}
        if W_dec is not None:
            expected["W_dec"] = (W_dec, (n_inst, d_sae, d_in))
        for name, (t, shape) in expected.items():
            if tuple(t.shape) != shape:
                raise ConfigError(f"{name} must be {list(shape)} to match W_enc, got shape {tuple(t.shape)}")
        if config.tied != (W_dec is None):
            raise ConfigError(f"config.tied is {config.tied} but W_dec was {'not ' if W_dec is None else ''}given")
        model = cls(config, d_in=d_in, n_instances=n_inst, device=W_enc.device)
        with torch.no_grad():
            model.W_enc.copy_(W_enc)
            model.b_enc.copy_(b_enc)
            model.b_dec.copy_(b_dec)
            if W_dec is not None and model.W_dec is not None:
                model.W_dec.copy_(W_dec)
        return model

    # -- the map -------------------------------------------------------------------------------------------------

    @property
    def decoder(self) -> Float[Tensor, "inst d_sae d_in"]:
        """The dictionary D: one unit row per latent (differentiable in the raw weights)."""
        raw = self.W_enc.transpose(1, 2) if self.W_dec is None else self.W_dec
        return _unit_rows(raw)

    @property
    def encoder(self) -> Float[Tensor, "inst d_in d_sae"]:
        return self.decoder.transpose(1, 2) if self.W_dec is None else self.W_enc

    def pre_activations(self, x: Float[Tensor, "inst batch d_in"]) -> Float[Tensor, "inst batch d_sae"]:
        return torch.baddbmm(self.b_enc[:, None, :], self._centred(x), self.encoder)

    def _centred(self, x: Tensor) -> Tensor:
        if x.ndim != 3 or x.shape[0] not in (1, self.n_instances) or x.shape[2] != self.d_in:
            raise ConfigError(
                f"input must be [{self.n_instances} (or 1), batch, {self.d_in}], got shape {tuple(x.shape)}"
            )
        return x - self.b_dec[:, None, :]

    def encode(self, x: Float[Tensor, "inst batch d_in"]) -> Float[Tensor, "inst batch d_sae"]:
        """The latents f (nonnegative; for topk at most k nonzero per sample)."""
        return self._activate(self.pre_activations(x))

    def _activate(self, pre: Tensor) -> Tensor:
        f = torch.relu(pre)
        if self.config.activation == "topk":
            values, indices = f.topk(int(self.config.k or 0), dim=-1, sorted=False)
            f = torch.zeros_like(f).scatter(-1, indices, values)
        return f

    def decode(self, f: Float[Tensor, "inst batch d_sae"]) -> Float[Tensor, "inst batch d_in"]:
        return torch.baddbmm(self.b_dec[:, None, :], f, self.decoder)

    def forward(self, x: Float[Tensor, "inst batch d_in"]) -> Float[Tensor, "inst batch d_in"]:
        return self.decode(self.encode(x))

    def loss(self, batch: Float[Tensor, "inst batch d_in"]) -> Float[Tensor, "inst"]:
        """Per instance: mean over the batch of ||x - x_hat||^2 (summed over d_in) + l1 * ||f||_1 (summed over
        latents; relu only). In training mode with gradients on, also counts a step for dead-latent tracking."""
        f = self.encode(batch)
        x_hat = self.decode(f)
        loss = (x_hat - batch).square().sum(dim=2).mean(dim=1)
        if self.config.activation == "relu":
            loss = loss + self.l1 * f.sum(dim=2).mean(dim=1)  # f >= 0, so its sum is its L1 norm
        if self.training and torch.is_grad_enabled():
            self._count_step(f)
        return loss

    # -- keeping the dictionary healthy ----------------------------------------------------------------------

    @torch.no_grad()
    def _count_step(self, f: Tensor) -> None:
        fired = f.detach().amax(dim=1) > 0  # [inst, d_sae]
        self.steps_since_fired.add_(1).masked_fill_(fired, 0)

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        """Rescale the raw decoder rows (encoder columns when tied) to unit norm; the map does not change."""
        if self.W_dec is None:
            self.W_enc.copy_(_unit_rows(self.W_enc, dim=1))
        else:
            self.W_dec.copy_(_unit_rows(self.W_dec))

    def dead_latents(self, window: int | None = None) -> Bool[Tensor, "inst d_sae"]:
        """Latents that have not fired in the last `window` training steps (default: the config's dead_window)."""
        return self.steps_since_fired >= (self.config.dead_window if window is None else window)

    @torch.no_grad()
    def resample_dead(
        self,
        x: Float[Tensor, "inst n d_in"],
        generator: torch.Generator | None = None,
        dead: Bool[Tensor, "inst d_sae"] | None = None,
    ) -> int:
        """Re-initialise dead latents from inputs `x` the model reconstructs badly; return how many.

        The scheme of "Towards Monosemanticity" (resampling appendix): for each dead latent, draw an input with
        probability proportional to its squared reconstruction loss (uniformly if all are perfect); the latent's
        decoder row becomes the unit vector along that input's residual x - x_hat, its encoder column that unit
        vector times 0.2 times the mean norm of the live encoder columns (1 when none is alive, and the unit vector
        itself when tied), and its encoder bias 0. Resampled latents start a fresh dead window. (The paper takes the
        direction of the input x itself; the residual is the part the dictionary misses, without the features it
        already has, and in a test with a missing feature it pointed along that feature where the input did not.)

        The optimiser's state for these rows cannot be reached from the model and is left as it is. That is mild:
        a dead latent gets zero gradient in its encoder column, decoder row and bias, so by the time it is
        declared dead (`dead_window` steps) Adam's first moment for it has decayed to ~0.9^window and the second
        moment only slows its first updates.
        """
        dead = self.dead_latents() if dead is None else dead
        n_dead = dead.sum(dim=1)
        total = int(n_dead.sum())
        if total == 0:
            return 0
        x = x.expand(self.n_instances, -1, -1) if x.shape[0] == 1 else x
        residual = x - self(x)  # no bookkeeping step: gradients are off here
        err = residual.square().sum(dim=2)  # [inst, n]
        weights = err.square()
        weights = torch.where(weights.sum(dim=1, keepdim=True) > 0, weights, torch.ones_like(weights))
        enc_norms = self.encoder.norm(dim=1)  # [inst, d_sae]
        for i in range(self.n_instances):
            idx = dead[i].nonzero()[:, 0]
            if len(idx) == 0:
                continue
            enough = len(idx) <= int((weights[i] > 0).sum())
            pick = torch.multinomial(weights[i], len(idx), replacement=not enough, generator=generator)
            direction = _unit_rows(residual[i, pick])  # [n_dead_i, d_in]
            alive = ~dead[i]
            scale = 0.2 * float(enc_norms[i, alive].mean()) if bool(alive.any()) else 1.0
            if self.W_dec is None:
                self.W_enc[i][:, idx] = direction.T
            else:
                self.W_dec[i][idx] = direction
                self.W_enc[i][:, idx] = direction.T * scale
            self.b_enc[i][idx] = 0.0
            self.steps_since_fired[i][idx] = 0
        return total

    def weights(self) -> dict[str, Tensor]:
        """Tensors to store, by their documented names (decoder rows at unit norm)."""
        out = {"W_enc": self.encoder.detach().clone(), "b_enc": self.b_enc.detach(), "b_dec": self.b_dec.detach()}
        if self.W_dec is not None:
            out["W_dec"] = self.decoder.detach()
        return out


def sae_hooks(
    model: SparseAutoencoder,
    data: Any = None,
    *,
    n_samples: int = 4096,
    seed: int = 0,
    until: int | None = None,
    log: list[tuple[int, list[int]]] | None = None,
) -> list[Hook]:
    """The hooks an SAE trains with: renormalise the decoder after every step, and, when the config's
    `resample_every` > 0, resample dead latents from `n_samples` fresh inputs of `data` (drawn from a generator
    seeded with `seed`, so the run stays deterministic) at steps up to `until` (default: all; stop well before the
    last step so that resampled latents get trained). Each resampling appends `(step, per-instance counts)` to `log`
    if given.
    """
    hooks = [Hook(1, lambda step, m, loss: model.normalize_decoder())]
    every = model.config.resample_every
    if every:
        if data is None:
            raise ConfigError("resample_every > 0 needs the data source to draw inputs for resampling")
        device = model.b_dec.device
        generator = torch.Generator(device=device).manual_seed(seed)

        def resample(step: int, m: nn.Module, loss: Tensor) -> None:
            if until is not None and step > until:
                return
            dead = model.dead_latents()
            model.resample_dead(data.sample(n_samples, generator), generator=generator, dead=dead)
            if log is not None:
                log.append((step, dead.sum(dim=1).tolist()))

        hooks.append(Hook(every, resample))
    return hooks
