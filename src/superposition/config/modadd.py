"""The modular-addition run: all pairs of Z_p with a seeded train/test split, the bilinear (or ReLU) embedded MLP,
and full-batch AdamW training."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from .base import MAX_SEED, CommandLine, RunConfigBase, Strict, TrainConfig, register_run_config


def n_train_pairs(p: int, train_fraction: float) -> int:
    """floor(train_fraction * p^2); the small epsilon keeps exact products (0.5 * 4) from rounding down."""
    return int(train_fraction * p * p + 1e-9)


class ModAddDataConfig(Strict):
    """All pairs (a, b) of Z_p labelled (a + b) mod p, split once into a training fraction and a test remainder
    (seeded by `split_seed`). p must be odd (the real Fourier basis used by the analysis); a prime p makes the
    frequency solution exact."""

    p: int = Field(113, ge=3, description="The modulus (odd).")
    train_fraction: float = Field(0.3, gt=0, le=1, description="Share of the p² pairs trained on; the rest test.")
    split_seed: int = Field(0, ge=0, le=MAX_SEED, description="Seed of the train/test split.")

    @model_validator(mode="after")
    def _check(self) -> "ModAddDataConfig":
        if self.p % 2 == 0:
            raise ValueError(f"p must be odd (the Fourier analysis uses the real basis of odd p), got {self.p}")
        if self.n_train == 0:
            raise ValueError(f"train_fraction {self.train_fraction} of the {self.p ** 2} pairs leaves no training pair")
        if self.n_train == self.p**2:
            raise ValueError(f"train_fraction {self.train_fraction} leaves no test pairs (all {self.p ** 2} pairs "
                             "train); give a fraction below 1")
        return self

    @property
    def n_train(self) -> int:
        """Training pairs: the first floor(fraction · p²) of the seeded permutation."""
        return n_train_pairs(self.p, self.train_fraction)


class ModAddModelConfig(Strict):
    """The embedded MLP for modular addition: embedding `d_embed`, a bilinear (or ReLU) hidden layer of `n_hidden`
    units, an unembedding to p logits. `n_instances` copies train together, each from its own initialisation
    (several seeds in one run). `loss` is cross-entropy or squared error to the one-hot label."""

    kind: Literal["bilinear", "relu"] = Field("bilinear", description="bilinear, or relu (the original embedded MLP).")
    d_embed: int = Field(4, gt=0, description="Embedding width.")
    n_hidden: int = Field(16, gt=0, description="Hidden units.")
    n_instances: int = Field(1, gt=0, description="Independent initialisations trained together.")
    bias: bool = Field(False, description="Biases on the hidden and output layers.")
    layer_norm: bool = Field(False, description="Layer norm (no parameters) over the concatenated embeddings.")
    loss: Literal["ce", "mse"] = Field("ce", description="Cross-entropy, or squared error to the one-hot label.")


# Full-batch AdamW with the grokking literature's betas; batch_size is unused (every step sees all pairs). Two
# threads: at p = 113 the [inits, pairs, p] logits are large enough that two threads ran 2x faster than one.
MODADD_TRAIN_DEFAULTS: dict[str, Any] = dict(
    steps=20_000, batch_size=1, lr=3e-3, optimizer="adamw", weight_decay=0.1, betas=(0.9, 0.98), threads=2
)


@register_run_config
class ModAddRunConfig(RunConfigBase):
    """Everything that determines a modular-addition run. Saved as `config.json` with `family: "modadd"`."""

    TRAIN_DEFAULTS: ClassVar[dict[str, Any]] = MODADD_TRAIN_DEFAULTS
    command_line: ClassVar[CommandLine] = CommandLine(
        command="modadd",
        help="Modular addition with a bilinear layer: train, then measure frequencies, mixing and sparsity.",
        flags={"model.kind": "--model", "model.n_instances": "--instances"},
    )
    family: Literal["modadd"] = "modadd"
    data: ModAddDataConfig = Field(default_factory=ModAddDataConfig)
    model: ModAddModelConfig = Field(default_factory=ModAddModelConfig)
    train: TrainConfig = Field(default_factory=lambda: TrainConfig(**MODADD_TRAIN_DEFAULTS))

    @property
    def n_instances(self) -> int:
        return self.model.n_instances
