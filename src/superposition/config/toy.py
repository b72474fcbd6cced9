"""The toy-model run: sparse synthetic features (the paper's sparsity S = 1 - p and importance I_i), a toy model
(linear or ReLU-output autoencoder, neuron model, abs computation model) and its training."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal, Union, cast

from pydantic import BaseModel, Field, model_validator

from .base import CommandLine, RunConfigBase, Strict, TrainConfig, register_run_config, validate

if TYPE_CHECKING:  # torch is imported where a tensor is made, so the command line starts without it
    import torch

Magnitude = Literal["uniform", "normal", "constant", "uniform_signed"]
PerInstance = list[Union[float, list[float]]]


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


class DataConfig(Strict):
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

    n_features: int = Field(5, gt=0, description="Features n.")
    feature_probability: PerInstance = Field(
        default_factory=lambda: cast(PerInstance, [1.0]), min_length=1,
        description="Probability 1-S that a feature is active; one instance per value (per-feature lists in a "
        "config file).")
    importance: Union[list[float], list[list[float]], None] = Field(
        None, description="Importance I_i, one value per feature (one row per instance in a config file).")
    importance_decay: float | None = Field(None, gt=0, description="Importance I_i = decay**i (instead of importance).")
    magnitude: Magnitude = Field(
        "uniform", description="Law of an active feature's value (uniform_signed: the abs task's default).")
    target: Literal["identity", "abs"] = Field(
        "identity", description="What the model outputs: the features, or their absolute values (the abs task's default).")
    correlated_pairs: int = Field(0, ge=0, description="Leading feature pairs that are always active together.")
    anticorrelated_pairs: int = Field(0, ge=0, description="Next feature pairs that are never active together.")

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
            rows = cast(list[list[float]], self.importance if self.importance and isinstance(self.importance[0], list)
                        else [self.importance])
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
        import torch

        return torch.tensor(_per_instance_table("feature_probability", self.feature_probability, self.n_features))

    def importance_table(self) -> torch.Tensor:
        """Importance I_i of each feature, `[n_instances, n_features]` (all ones when not given)."""
        import torch

        if self.importance_decay is not None:
            row = self.importance_decay ** torch.arange(self.n_features, dtype=torch.float64)
            return row.float().expand(self.n_instances, -1).clone()
        if self.importance is None:
            return torch.ones(self.n_instances, self.n_features)
        rows = self.importance if isinstance(self.importance[0], list) else [self.importance]
        t = torch.tensor(rows, dtype=torch.float32)
        return t.expand(self.n_instances, -1).clone()


ToyKind = Literal["linear", "relu", "neuron", "abs"]


class ToyModelConfig(Strict):
    """A toy model of the paper:

    - `linear`: h = W x, x' = W^T h + b;  `relu`: x' = ReLU(W^T W x + b) (the autoencoders);
    - `neuron`: h = ReLU(W x), x' = ReLU(W^T h + b) (a privileged basis: the hidden units are neurons);
    - `abs`: h = ReLU(W1 x), y = ReLU(W2 h + b) (computation in superposition; untied by nature).

    `tied=False` learns a separate decoder for the autoencoders; `bias=False` drops b; `init` is xavier-normal per
    instance, `zeros`, or, for `abs` only, `kaiming_uniform` (ARENA's start for the computation model: torch's
    kaiming_uniform_ on the 3-D weight tensors). Given weights are passed from Python (`from_weights`), not through
    the config.
    """

    kind: ToyKind = Field("relu", description="linear, relu (output), neuron (ReLU hidden layer) or abs (learn |x|).")
    n_hidden: int = Field(2, gt=0, description="Hidden dimensions m (neurons for the neuron and abs models).")
    tied: bool = Field(True, description="Decoder tied to W (autoencoders), or learned.")
    bias: bool = Field(True, description="A learned output bias b.")
    init: Literal["xavier_normal", "kaiming_uniform", "zeros"] = Field(
        "xavier_normal", description="Initialisation (kaiming_uniform: ARENA's start, abs model only).")

    @model_validator(mode="after")
    def _check_init(self) -> "ToyModelConfig":
        if self.init == "kaiming_uniform" and self.kind != "abs":
            raise ValueError(f"init 'kaiming_uniform' is the abs model's start; kind {self.kind!r} takes "
                             "'xavier_normal' or 'zeros'")
        return self


# The computation task of the paper: signed inputs and absolute values out, unless a config says otherwise.
ABS_TASK = {"magnitude": "uniform_signed", "target": "abs"}


@register_run_config
class RunConfig(RunConfigBase):
    """Everything that determines a toy-model run: data, model and training. Saved as `config.json` in the run
    directory (a file without `family` is a toy run, as written before families existed). A model of kind `abs`
    trains on the computation task by default: signed inputs (`uniform_signed`) and |x| as the target."""

    command_line: ClassVar[CommandLine] = CommandLine(
        command=None,
        help="Toy models: linear and ReLU-output autoencoders, the neuron model and the abs computation model.",
        flags={"model.kind": "--model", "model.tied": "--tied/--untied"},
        exclusive=(("data.importance", "data.importance_decay"),),
    )
    family: Literal["toy"] = "toy"
    data: DataConfig = Field(default_factory=DataConfig)
    model: ToyModelConfig = Field(default_factory=ToyModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)

    @model_validator(mode="before")
    @classmethod
    def _abs_task(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        model = data.get("model")
        kind = model.get("kind") if isinstance(model, dict) else getattr(model, "kind", None)
        section = data.get("data", {})
        if kind == "abs" and isinstance(section, dict):
            data = {**data, "data": {**ABS_TASK, **section}}
        return data

    @property
    def n_instances(self) -> int:
        return self.data.n_instances


def make_config(**sections: Any) -> RunConfig:
    """Build a toy RunConfig from dicts (or models) for `data`, `model`, `train`; raises ConfigError on bad values."""
    return validate(RunConfig, {k: (v.model_dump() if isinstance(v, BaseModel) else v) for k, v in sections.items()})
