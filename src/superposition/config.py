"""Validated configurations (pydantic v2, unknown keys rejected).

A toy-model run is described by one `RunConfig`: the synthetic features (`DataConfig`, the paper's sparsity
S = 1 - p and importance I_i), the model (`ToyModelConfig`) and the optimisation (`TrainConfig`). A modular-addition
run is a `ModAddRunConfig` (`ModAddDataConfig`, `ModAddModelConfig`, the same `TrainConfig`); a sparse-autoencoder
run is a `SAERunConfig` (`SAESourceConfig`, `SAEConfig`, the same `TrainConfig`). Each config names its
`family`, so a run directory's `config.json` says which kind of run it holds (`parse_run_config`). Every bad value
raises a `ConfigError` whose one-line message names the field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Literal, Optional, Union

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import ConfigError

FORMAT_VERSION = 1

Magnitude = Literal["uniform", "normal", "constant", "uniform_signed"]
PerInstance = list[Union[float, list[float]]]


# Seeds are handed to torch.Generator.manual_seed, which takes a signed 64-bit integer.
MAX_SEED = 2**63 - 1


class _Strict(BaseModel):
    # NaN and infinity are never a valid setting (a NaN importance or L1 would only surface as a diverged run).
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


def _per_instance_table(name: str, values: PerInstance, n_features: int) -> list[list[float]]:
    """Expand a per-instance list (each entry a scalar or one value per feature) to instances x features."""
    table = []
    for k, row in enumerate(values):
        if isinstance(row, list):
            if len(row) != n_features:
                raise ValueError(f"{name}[{k}] has {len(row)} values but n_features is {n_features}")
            table.append([float(v) for v in row])
        else:
            table.append([float(row)] * n_features)
    return table


class DataConfig(_Strict):
    """Sparse synthetic features: feature i of instance k is active with probability p[k, i] (sparsity S = 1 - p).

    `feature_probability` has one entry per instance (so a sweep is one batch); an entry is a number shared by all
    features or a list with one probability per feature. `importance` is one list for all instances or one list per
    instance; `importance_decay` d gives I_i = d**i instead. Active features take a magnitude from `magnitude`:
    uniform on [0, 1), normal(0, 1), constant 1, or uniform on [-1, 1) (computation tasks).
    The first `correlated_pairs` pairs of features are always active together; the next `anticorrelated_pairs`
    pairs are never active together; each keeps the marginal probability of its pair's first feature.
    `target` is what the model must output: the features themselves (an autoencoder) or their absolute values
    (computation in superposition, with `magnitude="uniform_signed"`).
    """

    n_features: int = Field(5, gt=0)
    feature_probability: PerInstance = Field(default_factory=lambda: [1.0], min_length=1)
    importance: Union[list[float], list[list[float]], None] = None
    importance_decay: float | None = Field(None, gt=0)
    magnitude: Magnitude = "uniform"
    target: Literal["identity", "abs"] = "identity"
    correlated_pairs: int = Field(0, ge=0)
    anticorrelated_pairs: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _check(self) -> "DataConfig":
        # Row by row, without expanding a shared probability to n_features values (n_features may be huge).
        for k, row in enumerate(self.feature_probability):
            values = row if isinstance(row, list) else [row]
            if isinstance(row, list) and len(row) != self.n_features:
                raise ValueError(f"feature_probability[{k}] has {len(row)} values but n_features is {self.n_features}")
            for i, p in enumerate(values):
                if not 0.0 <= p <= 1.0:
                    where = f" (feature {i})" if isinstance(row, list) else ""
                    raise ValueError(f"feature_probability[{k}] = {p}{where} is outside [0, 1]")
        if self.importance is not None and self.importance_decay is not None:
            raise ValueError("give importance or importance_decay, not both")
        if self.importance is not None:
            rows = self.importance if self.importance and isinstance(self.importance[0], list) else [self.importance]
            if len(rows) not in (1, self.n_instances):
                raise ValueError(
                    f"importance has {len(rows)} rows but there are {self.n_instances} instances "
                    "(give one row for all instances, or one per instance)"
                )
            for row in rows:
                if len(row) != self.n_features:
                    raise ValueError(f"importance has {len(row)} values but n_features is {self.n_features}")
                if any(v < 0 for v in row):
                    raise ValueError(f"importance must be >= 0, got {min(row)}")
        if 2 * (self.correlated_pairs + self.anticorrelated_pairs) > self.n_features:
            raise ValueError(
                f"{self.correlated_pairs} correlated + {self.anticorrelated_pairs} anticorrelated pairs need "
                f"{2 * (self.correlated_pairs + self.anticorrelated_pairs)} features, only {self.n_features} exist"
            )
        if self.anticorrelated_pairs:
            for k, row in enumerate(self.feature_probability):
                for pair in range(self.anticorrelated_pairs):
                    i = 2 * (self.correlated_pairs + pair)
                    p = row[i] if isinstance(row, list) else row
                    if p > 0.5:
                        raise ValueError(
                            f"feature_probability[{k}] = {p} for anticorrelated feature {i}: a pair that is "
                            "never active together needs p <= 0.5"
                        )
        return self

    @property
    def n_instances(self) -> int:
        return len(self.feature_probability)

    def probability(self) -> torch.Tensor:
        """Probability that each feature is active, `[n_instances, n_features]`."""
        return torch.tensor(_per_instance_table("feature_probability", self.feature_probability, self.n_features))

    def importance_table(self) -> torch.Tensor:
        """Importance I_i of each feature, `[n_instances, n_features]` (all ones when not given)."""
        if self.importance_decay is not None:
            row = self.importance_decay ** torch.arange(self.n_features, dtype=torch.float64)
            return row.float().expand(self.n_instances, -1).clone()
        if self.importance is None:
            return torch.ones(self.n_instances, self.n_features)
        rows = self.importance if isinstance(self.importance[0], list) else [self.importance]
        t = torch.tensor(rows, dtype=torch.float32)
        return t.expand(self.n_instances, -1).clone()


class ToyModelConfig(_Strict):
    """A toy model of the paper:

    - `linear`: h = W x, x' = W^T h + b;  `relu`: x' = ReLU(W^T W x + b) (the autoencoders);
    - `neuron`: h = ReLU(W x), x' = ReLU(W^T h + b) (a privileged basis: the hidden units are neurons);
    - `abs`: h = ReLU(W1 x), y = ReLU(W2 h + b) (computation in superposition; untied by nature).

    `tied=False` learns a separate decoder for the autoencoders; `bias=False` drops b; `init` is xavier-normal (as in
    the paper's code), `zeros`, or, for `abs` only, `kaiming_uniform` (ARENA's start for the computation model:
    torch's kaiming_uniform_ on the 3-D weight tensors). Given weights are passed from Python (`from_weights`), not
    through the config.
    """

    kind: Literal["linear", "relu", "neuron", "abs"] = "relu"
    n_hidden: int = Field(2, gt=0)
    tied: bool = True
    bias: bool = True
    init: Literal["xavier_normal", "kaiming_uniform", "zeros"] = "xavier_normal"

    @model_validator(mode="after")
    def _check_init(self) -> "ToyModelConfig":
        if self.init == "kaiming_uniform" and self.kind != "abs":
            raise ValueError(f"init 'kaiming_uniform' is the abs model's start; kind {self.kind!r} takes "
                             "'xavier_normal' or 'zeros'")
        return self


class TrainConfig(_Strict):
    """One optimisation for every model. AdamW's weight decay defaults to 0.01 (the original notebook's, torch's
    default); Adam's to 0. `threads=None` trains on one CPU thread (toy-sized tensors run slower on two contended
    threads); `log_every` sets how often the per-instance loss history is recorded."""

    steps: int = Field(10_000, gt=0)
    batch_size: int = Field(1024, gt=0)
    lr: float = Field(1e-3, gt=0)
    optimizer: Literal["adam", "adamw"] = "adamw"
    weight_decay: float | None = Field(None, ge=0)
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: Literal["constant", "linear", "cosine", "warmup_cosine"] = "constant"
    warmup_steps: int = Field(0, ge=0)
    seed: int = Field(0, ge=0, le=MAX_SEED)
    device: str = "cpu"
    threads: int | None = Field(None, gt=0)
    log_every: int = Field(100, gt=0)

    @model_validator(mode="after")
    def _check(self) -> "TrainConfig":
        if self.device != "cpu" and not self.device.startswith("cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda[:N]', got {self.device!r}")
        if not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must lie in [0, 1), got {self.betas}")
        if self.warmup_steps >= self.steps and self.schedule == "warmup_cosine":
            raise ValueError(f"warmup_steps ({self.warmup_steps}) must be smaller than steps ({self.steps})")
        return self

    @property
    def resolved_weight_decay(self) -> float:
        if self.weight_decay is not None:
            return self.weight_decay
        return 0.01 if self.optimizer == "adamw" else 0.0


class _RunBase(_Strict):
    """What every run family shares: the format version, JSON output, and the family's training defaults
    (`TRAIN_DEFAULTS`: a partial `train` section keeps them for the keys it leaves out)."""

    TRAIN_DEFAULTS: ClassVar[dict[str, Any]] = {}
    format_version: int = FORMAT_VERSION

    @model_validator(mode="before")
    @classmethod
    def _train_defaults(cls, data: Any) -> Any:
        if cls.TRAIN_DEFAULTS and isinstance(data, dict) and isinstance(data.get("train"), dict):
            data = {**data, "train": {**cls.TRAIN_DEFAULTS, **data["train"]}}
        return data

    @model_validator(mode="after")
    def _check_version(self) -> "_RunBase":
        if self.format_version != FORMAT_VERSION:
            raise ValueError(f"format_version {self.format_version} is not supported (this library reads {FORMAT_VERSION})")
        return self

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2)


class RunConfig(_RunBase):
    """Everything that determines a toy-model run: data, model and training. Saved as `config.json` in the run
    directory (a file without `family` is a toy run, as written before families existed)."""

    family: Literal["toy"] = "toy"
    data: DataConfig = Field(default_factory=DataConfig)
    model: ToyModelConfig = Field(default_factory=ToyModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)


class ModAddDataConfig(_Strict):
    """All pairs (a, b) of Z_p labelled (a + b) mod p, split once into a training fraction and a test remainder
    (seeded by `split_seed`). p must be odd (the real Fourier basis used by the analysis); a prime p makes the
    frequency solution exact."""

    p: int = Field(113, ge=3)
    train_fraction: float = Field(0.3, gt=0, le=1)
    split_seed: int = Field(0, ge=0, le=MAX_SEED)

    @model_validator(mode="after")
    def _check(self) -> "ModAddDataConfig":
        if self.p % 2 == 0:
            raise ValueError(f"p must be odd (the Fourier analysis uses the real basis of odd p), got {self.p}")
        n_train = self.n_train
        if n_train == 0:
            raise ValueError(f"train_fraction {self.train_fraction} of the {self.p ** 2} pairs leaves no training pair")
        if n_train == self.p**2:
            raise ValueError(f"train_fraction {self.train_fraction} leaves no test pairs (all {self.p ** 2} pairs "
                             "train); give a fraction below 1")
        return self

    @property
    def n_train(self) -> int:
        """Training pairs: the first floor(fraction · p²) of the seeded permutation."""
        from .data.modadd import n_train_pairs  # data imports config; this runs after both are loaded

        return n_train_pairs(self.p, self.train_fraction)


class ModAddModelConfig(_Strict):
    """The embedded MLP for modular addition: embedding `d_embed`, a bilinear (or ReLU) hidden layer of `n_hidden`
    units, an unembedding to p logits. `n_instances` copies train together, each from its own initialisation
    (several seeds in one run). `loss` is cross-entropy or squared error to the one-hot label."""

    kind: Literal["bilinear", "relu"] = "bilinear"
    d_embed: int = Field(4, gt=0)
    n_hidden: int = Field(16, gt=0)
    n_instances: int = Field(1, gt=0)
    bias: bool = False
    layer_norm: bool = False
    loss: Literal["ce", "mse"] = "ce"


# Full-batch AdamW with the grokking literature's betas; batch_size is unused (every step sees all pairs). Two
# threads: at p = 113 the [inits, pairs, p] logits are large enough that two threads ran 2x faster than one.
MODADD_TRAIN_DEFAULTS: dict[str, Any] = dict(
    steps=20_000, batch_size=1, lr=3e-3, optimizer="adamw", weight_decay=0.1, betas=(0.9, 0.98), threads=2
)


class ModAddRunConfig(_RunBase):
    """Everything that determines a modular-addition run. Saved as `config.json` with `family: "modadd"`."""

    TRAIN_DEFAULTS: ClassVar[dict[str, Any]] = MODADD_TRAIN_DEFAULTS
    family: Literal["modadd"] = "modadd"
    data: ModAddDataConfig = Field(default_factory=ModAddDataConfig)
    model: ModAddModelConfig = Field(default_factory=ModAddModelConfig)
    train: TrainConfig = Field(default_factory=lambda: TrainConfig(**MODADD_TRAIN_DEFAULTS))


DEFAULT_L1 = 0.2


class SAEConfig(_Strict):
    """A sparse autoencoder with `d_sae` latents.

    `activation`: `relu` (sparsity from the L1 penalty `l1`) or `topk` (exactly the `k` largest latents are kept;
    no L1 term, so giving `l1` with `topk` is an error). `l1` is one number, or one per instance (a sweep trained as
    one batch); unset means 0.2 for `relu` (see `resolved_l1`). `tied`: the decoder is the encoder's transpose.
    `dead_window`: a latent that has not fired for this many training steps is dead. `resample_every`: every this
    many steps (with `sae_hooks`), dead latents are re-initialised; 0 (the default) never resamples, since it
    changes the training dynamics and small problems rarely need it; a usual choice is a few times `dead_window`.
    """

    d_sae: int = Field(5, gt=0)
    activation: Literal["relu", "topk"] = "relu"
    l1: Union[float, list[float], None] = None
    k: int | None = Field(None, gt=0)
    tied: bool = False
    dead_window: int = Field(1000, gt=0)
    resample_every: int = Field(0, ge=0)

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


class SAESourceConfig(_Strict):
    """What an SAE is trained on (one data stream, shared by all its instances):

    - `kind="toy"`: the hidden activations h = x @ W of instance `instance` of the toy run that `toy` describes
      (`run` records the directory it was read from; with no directory the toy run is trained from `toy` first);
      the true features are that instance's rows W_i, scaled to unit norm.
    - `kind="sphere"`: `n_features` random unit directions in `d` dimensions (seeded by `seed`), each active with
      probability n_active / n_features with a magnitude uniform on [0, 1); `correlation` > 0 makes features
      co-occur within groups of `group_size`.
    """

    kind: Literal["toy", "sphere"] = "sphere"
    toy: Optional[RunConfig] = None
    run: Optional[str] = None
    instance: int = Field(0, ge=0)
    d: int = Field(256, gt=0)
    n_features: int = Field(512, gt=0)
    n_active: float = Field(5.0, gt=0)
    correlation: float = Field(0.0, ge=0, lt=1)
    group_size: int = Field(16, gt=0)
    seed: int = Field(0, ge=0, le=MAX_SEED)

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
    def d_in(self) -> int:
        return self.toy.model.n_hidden if self.kind == "toy" else self.d


# Adam without weight decay (decay would shrink the dictionary's encoder); the sources' batch and rate.
SAE_TRAIN_DEFAULTS: dict[str, Any] = dict(steps=20_000, batch_size=1024, lr=1e-3, optimizer="adam")


class SAERunConfig(_RunBase):
    """Everything that determines a sparse-autoencoder run. Saved as `config.json` with `family: "sae"`."""

    TRAIN_DEFAULTS: ClassVar[dict[str, Any]] = SAE_TRAIN_DEFAULTS
    family: Literal["sae"] = "sae"
    source: SAESourceConfig = Field(default_factory=SAESourceConfig)
    model: SAEConfig = Field(default_factory=SAEConfig)
    train: TrainConfig = Field(default_factory=lambda: TrainConfig(**SAE_TRAIN_DEFAULTS))


FAMILIES: dict[str, type[BaseModel]] = {"toy": RunConfig, "modadd": ModAddRunConfig, "sae": SAERunConfig}


def parse_run_config(data: Any) -> Any:
    """The run config of the family `data["family"]` names (toy when absent); raises ConfigError."""
    if not isinstance(data, dict):
        raise ConfigError(f"invalid config: expected a JSON object, got {type(data).__name__}")
    family = data.get("family", "toy")
    if not isinstance(family, str) or family not in FAMILIES:
        raise ConfigError(f"invalid config: family must be one of {sorted(FAMILIES)}, got {family!r}")
    return validate(FAMILIES[family], data)


def one_line(err: ValidationError) -> str:
    """Turn pydantic's multi-line report into one line naming the first bad field."""
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    msg = first["msg"].removeprefix("Value error, ")
    where = f"{loc}: " if loc else ""
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"invalid config: {where}{msg}{more}"


def validate(cls: type[BaseModel], data: Any) -> Any:
    """Build `cls` from `data`, raising ConfigError with a one-line message on failure."""
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        raise ConfigError(one_line(e)) from None


def make_config(**sections: Any) -> RunConfig:
    """Build a RunConfig from dicts (or models) for `data`, `model`, `train`; raises ConfigError on bad values."""
    return validate(RunConfig, {k: (v.model_dump() if isinstance(v, BaseModel) else v) for k, v in sections.items()})


def load_config(path: str | Path) -> Any:
    """Read a run config (of any family; see `parse_run_config`) from a JSON file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a directory; give the config.json file") from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror or e}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"config file {path} is not valid JSON: {e}") from None
    except RecursionError:
        raise ConfigError(f"config file {path} is nested too deeply to be a run config") from None
    return parse_run_config(data)
