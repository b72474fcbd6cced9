"""The sparse-autoencoder run: what the SAE reads (a toy run's hidden layer, or synthetic data with known features),
the autoencoder, and its training."""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Optional, Union

from pydantic import Field, model_validator

from ..errors import ConfigError
from .base import MAX_SEED, CommandLine, Extra, RunConfigBase, Strict, TrainConfig, register_run_config
from .toy import RunConfig

DEFAULT_L1 = 0.2


class SAEConfig(Strict):
    """A sparse autoencoder with `d_sae` latents.

    `activation`: `relu` (sparsity from the L1 penalty `l1`) or `topk` (exactly the `k` largest latents are kept;
    no L1 term, so giving `l1` with `topk` is an error). `l1` is one number, or one per instance (a sweep trained as
    one batch); unset means 0.2 for `relu` (see `resolved_l1`). `tied`: the decoder is the encoder's transpose.
    `dead_window`: a latent that has not fired for this many training steps is dead. `resample_every`: every this
    many steps (with `sae_hooks`), dead latents are re-initialised; 0 (the default) never resamples, since it
    changes the training dynamics and small problems rarely need it; a usual choice is a few times `dead_window`.
    """

    d_sae: int = Field(5, gt=0, description="Dictionary size (latents).")
    activation: Literal["relu", "topk"] = Field("relu", description="relu (with an L1 penalty) or topk.")
    l1: Union[float, list[float], None] = Field(
        None, description=f"L1 coefficient; several values: one SAE each (unset: {DEFAULT_L1} for relu).")
    k: int | None = Field(None, gt=0, description="Latents kept per sample (topk).")
    tied: bool = Field(False, description="Decoder = the encoder's unit columns, transposed.")
    dead_window: int = Field(1000, gt=0, description="Silent training steps after which a latent counts as dead.")
    resample_every: int = Field(0, ge=0, description="Resample dead latents every N steps (0: never).")

    @model_validator(mode="after")
    def _check(self) -> "SAEConfig":
        values = self.l1 if isinstance(self.l1, list) else [] if self.l1 is None else [self.l1]
        if isinstance(self.l1, list) and not values:
            raise ValueError("l1 is an empty list (give a number, or one number per instance)")
        if any(v < 0 for v in values):
            raise ValueError(f"l1 must be >= 0, got {min(values)}")
        if self.activation == "topk":
            if self.k is None:
                raise ValueError("k is required when activation='topk' (the number of latents kept per sample)")
            if self.k > self.d_sae:
                raise ValueError(f"k ({self.k}) must not exceed d_sae ({self.d_sae})")
            if self.l1 is not None:
                raise ValueError("l1 applies to activation='relu' only (topk has no L1 term)")
        elif self.k is not None:
            raise ValueError("k applies to activation='topk' only")
        return self

    @property
    def n_instances(self) -> int:
        """One autoencoder per L1 value when `l1` is a list, else one."""
        return len(self.l1) if isinstance(self.l1, list) else 1

    def resolved_l1(self, n_instances: int) -> list[float]:
        """The L1 coefficient of each instance: the config's (0.2 when unset, 0 for topk)."""
        if self.activation == "topk":
            return [0.0] * n_instances
        if isinstance(self.l1, list):
            if len(self.l1) != n_instances:
                raise ConfigError(f"l1 has {len(self.l1)} values but the autoencoder has {n_instances} instances")
            return [float(v) for v in self.l1]
        return [DEFAULT_L1 if self.l1 is None else float(self.l1)] * n_instances


class SAESourceConfig(Strict):
    """What an SAE is trained on (one data stream, shared by all its instances):

    - `kind="toy"`: the hidden activations h = x @ W of instance `instance` of the toy run in directory `run`,
      whose config is `toy`; the true features are that instance's rows W_i, scaled to unit norm.
    - `kind="sphere"`: `n_features` random unit directions in `d` dimensions (seeded by `seed`), each active with
      probability n_active / n_features with a magnitude uniform on [0, 1); `correlation` > 0 makes features
      co-occur within groups of `group_size`.
    """

    kind: Literal["toy", "sphere"] = Field("sphere", description="A toy run's hidden layer, or synthetic data.")
    toy: Optional[RunConfig] = Field(None, description="The toy run's config (toy sources).")
    run: Optional[str] = Field(None, description="The toy run's directory (toy sources).")
    instance: int = Field(0, ge=0, description="Which instance of the toy run to read.")
    d: int = Field(256, gt=0, description="Synthetic data: dimensions.")
    n_features: int = Field(512, gt=0, description="Synthetic data: true features.")
    n_active: float = Field(5.0, gt=0, description="Synthetic data: mean active features per sample.")
    correlation: float = Field(0.0, ge=0, lt=1, description="Synthetic data: co-occurrence within groups.")
    group_size: int = Field(16, gt=0, description="Synthetic data: features per co-occurring group.")
    seed: int = Field(0, ge=0, le=MAX_SEED, description="Synthetic data: seed of the true features.")

    @model_validator(mode="after")
    def _check(self) -> "SAESourceConfig":
        if self.kind == "toy":
            if self.toy is None:
                raise ValueError("a toy source needs the toy run's config (`toy`)")
            if self.instance >= self.toy.data.n_instances:
                raise ValueError(f"instance {self.instance} does not exist: the toy run has "
                                 f"{self.toy.data.n_instances} instance(s)")
            if self.toy.model.kind not in ("linear", "relu"):
                raise ValueError(f"SAEs read the hidden layer of linear or relu toy models, not {self.toy.model.kind!r}")
        elif self.n_active > self.n_features:
            raise ValueError(f"n_active ({self.n_active}) exceeds n_features ({self.n_features})")
        return self

    @property
    def toy_config(self) -> RunConfig:
        """The toy run's config of a toy source (validation guarantees one)."""
        if self.toy is None:
            raise ConfigError("this SAE source has no toy run config (it reads synthetic data)")
        return self.toy

    @property
    def d_in(self) -> int:
        return self.toy_config.model.n_hidden if self.kind == "toy" else self.d


# Adam without weight decay (decay would shrink the dictionary's encoder); the sources' batch and rate.
SAE_TRAIN_DEFAULTS: dict[str, Any] = dict(steps=20_000, batch_size=1024, lr=1e-3, optimizer="adam")


@register_run_config
class SAERunConfig(RunConfigBase):
    """Everything that determines a sparse-autoencoder run. Saved as `config.json` with `family: "sae"`."""

    TRAIN_DEFAULTS: ClassVar[dict[str, Any]] = SAE_TRAIN_DEFAULTS
    command_line: ClassVar[CommandLine] = CommandLine(
        command="sae",
        help="Sparse autoencoders: take features back out of superposition, scored against the true features.",
        flags={"source.seed": "--data-seed", "model.tied": "--tied/--untied"},
        hidden=frozenset({"source.kind", "source.toy", "source.run"}),
        extras=(Extra("run_dir", "RUN_DIR", "A toy run directory whose hidden layer the SAE reads.", argument=True),
                Extra("sphere", "--sphere", "Synthetic data with known features instead of a toy run.", kind=bool)),
    )
    family: Literal["sae"] = "sae"
    source: SAESourceConfig = Field(default_factory=SAESourceConfig)
    model: SAEConfig = Field(default_factory=SAEConfig)
    train: TrainConfig = Field(default_factory=lambda: TrainConfig(**SAE_TRAIN_DEFAULTS))

    @property
    def n_instances(self) -> int:
        return self.model.n_instances
