"""What every run config shares: strict validation, the training section, the run-family registry of config classes,
and one-line errors.

A run config is a `RunConfigBase` subclass with a `family` literal and its sections. It is registered with
`register_run_config`, so that `parse_run_config` can read a `config.json` of any family (the family module does
this; see `superposition.families`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .. import __version__
from ..errors import ConfigError

# The run-directory format this library writes. It goes up when an older superposition would misread a run of the new
# format (a tensor renamed or laid out anew, a field whose meaning changed); a file or key that older versions ignore
# does not raise it. Runs of this format and older ones are read; a newer one is refused, naming both versions.
FORMAT_VERSION = 1
# Seeds are handed to torch.Generator.manual_seed, which takes a signed 64-bit integer.
MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class Extra:
    """A command-line parameter of a family's `train` that is not a config field (e.g. an SAE's source run)."""

    name: str  # the keyword the family's `prepare` hook receives
    flag: str  # "--sphere" for an option, "RUN_DIR" for a positional argument
    help: str
    kind: type = str  # str, bool (a flag) or int
    argument: bool = False


@dataclass(frozen=True)
class CommandLine:
    """How a family appears on the command line, declared on its config class (`command_line`) so that the command
    line is built, and `--help` answered, without importing torch. Every config field becomes a flag of `train`
    (named after the field, `--lr`, `--warmup-steps`; `flags` renames the ones users know by another name);
    `hidden` fields are set by the command itself; `exclusive` pairs are two forms of one setting, so a flag given
    for one clears the other from a config file."""

    command: str | None  # the sub-command group (`superposition modadd ...`); None: the top-level commands
    help: str
    flags: Mapping[str, str] = field(default_factory=dict)
    hidden: frozenset[str] = frozenset()
    exclusive: tuple[tuple[str, str], ...] = ()
    extras: tuple[Extra, ...] = ()


class Strict(BaseModel):
    # NaN and infinity are never a valid setting (a NaN importance or L1 would only surface as a diverged run).
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class TrainConfig(Strict):
    """One optimisation for every model. AdamW's weight decay defaults to 0.01 (the original notebook's, torch's
    default); Adam's to 0. `threads=None` trains on one CPU thread (toy-sized tensors run slower on two contended
    threads); `log_every` sets how often the per-instance loss history is recorded; `snapshots` keeps that many copies
    of the weights during training (see `superposition.snapshots`)."""

    steps: int = Field(10_000, gt=0, description="Optimisation steps.")
    batch_size: int = Field(1024, gt=0, description="Samples per step (full-batch families ignore it).")
    lr: float = Field(1e-3, gt=0, description="Learning rate (the schedule's peak).")
    optimizer: Literal["adam", "adamw"] = Field("adamw", description="Adam, or AdamW (decoupled weight decay).")
    weight_decay: float | None = Field(
        None, ge=0, description="Weight decay; unset: 0.01 for AdamW (the notebook's), 0 for Adam.")
    betas: tuple[float, float] = Field((0.9, 0.999), description="Adam's beta1,beta2.")
    schedule: Literal["constant", "linear", "cosine", "warmup_cosine"] = Field(
        "constant", description="Learning-rate schedule.")
    warmup_steps: int = Field(0, ge=0, description="Linear warm-up steps of the warmup_cosine schedule.")
    seed: int = Field(0, ge=0, le=MAX_SEED, description="Seed of the initialisation and of the batches.")
    device: str = Field("cpu", description="cpu, or cuda[:N].")
    threads: int | None = Field(None, gt=0, description="CPU threads (unset: one thread on the CPU).")
    log_every: int = Field(100, gt=0, description="Steps per window of the recorded loss history.")
    snapshots: int = Field(
        0, ge=0, description="Copies of the weights kept during training (snapshots.safetensors; 0: none); the last "
        "is the final step.")
    snapshot_spacing: Literal["log", "linear"] = Field(
        "log", description="Steps of the snapshots: log-spaced (dense early) or evenly spaced.")

    @model_validator(mode="after")
    def _check(self) -> "TrainConfig":
        if self.device != "cpu" and not self.device.startswith("cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda[:N]', got {self.device!r}")
        if not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must lie in [0, 1), got {self.betas}")
        if self.warmup_steps >= self.steps and self.schedule == "warmup_cosine":
            raise ValueError(f"warmup_steps ({self.warmup_steps}) must be smaller than steps ({self.steps})")
        if self.snapshots > self.steps:
            raise ValueError(f"snapshots ({self.snapshots}) cannot exceed steps ({self.steps}): one per step at most")
        return self

    @property
    def resolved_weight_decay(self) -> float:
        if self.weight_decay is not None:
            return self.weight_decay
        return 0.01 if self.optimizer == "adamw" else 0.0


class RunConfigBase(Strict):
    """What every run family shares: the format version, JSON output, and the family's training defaults
    (`TRAIN_DEFAULTS`: a partial `train` section keeps them for the keys it leaves out)."""

    TRAIN_DEFAULTS: ClassVar[dict[str, Any]] = {}
    command_line: ClassVar[CommandLine]  # declared by each family's config
    format_version: int = Field(
        FORMAT_VERSION, ge=0, description="The run-directory format the config was written in (older ones are read).")
    if TYPE_CHECKING:  # declared by each family's config, in its own field order (config.json's key order)
        family: str
        train: TrainConfig

    @model_validator(mode="before")
    @classmethod
    def _train_defaults(cls, data: Any) -> Any:
        if cls.TRAIN_DEFAULTS and isinstance(data, dict):
            train = data.get("train", {})
            if isinstance(train, dict):
                data = {**data, "train": {**cls.TRAIN_DEFAULTS, **train}}
        return data

    @model_validator(mode="after")
    def _check_version(self) -> "RunConfigBase":
        if self.format_version > FORMAT_VERSION:
            raise ValueError(newer_format(self.format_version))
        return self

    @property
    def n_instances(self) -> int:
        """Models trained side by side in this run."""
        raise NotImplementedError

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2)


C = TypeVar("C", bound=type[RunConfigBase])
RUN_CONFIGS: dict[str, type[RunConfigBase]] = {}


def register_run_config(cls: C) -> C:
    """Make `parse_run_config` read configs whose `family` is this class's (its `family` field's default)."""
    name = cls.model_fields["family"].default  # type: ignore[call-overload]
    if not isinstance(name, str) or not name:
        raise TypeError(f"{cls.__name__}.family needs a default naming the family")
    if RUN_CONFIGS.get(name, cls) is not cls:
        raise ValueError(f"family {name!r} is registered already ({RUN_CONFIGS[name].__name__})")
    RUN_CONFIGS[name] = cls
    return cls


def newer_format(version: int) -> str:
    """The one line for a config written by a newer superposition than this one."""
    return (f"format_version {version} was made by a newer superposition; this one ({__version__}) reads "
            f"format_version {FORMAT_VERSION} and older: upgrade superposition")


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


def parse_run_config(data: Any) -> Any:
    """The run config of the family `data["family"]` names (toy when absent); raises ConfigError."""
    if not isinstance(data, dict):
        raise ConfigError(f"invalid config: expected a JSON object, got {type(data).__name__}")
    version = data.get("format_version")
    if type(version) is int and version > FORMAT_VERSION:  # first: a newer format may name a family unknown here
        raise ConfigError(newer_format(version))
    family = data.get("family", "toy")
    if not isinstance(family, str) or family not in RUN_CONFIGS:
        raise ConfigError(f"invalid config: family must be one of {sorted(RUN_CONFIGS)}, got {family!r}")
    return validate(RUN_CONFIGS[family], data)


def read_json(path: str | Path, what: str = "config file", *, yaml: bool = False) -> Any:
    """The JSON content of `path` (YAML's with `yaml`); every way of failing (missing, a directory, not JSON or YAML,
    nested too deeply) is a ConfigError with one line."""
    path = Path(path)
    if yaml:
        import yaml as pyyaml

        parse: Any = pyyaml.safe_load
        errors: tuple[type[Exception], ...] = (pyyaml.YAMLError, UnicodeDecodeError)
    else:
        parse, errors = json.loads, (json.JSONDecodeError, UnicodeDecodeError)
    try:
        return parse(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"{what} {path} is a directory; give the file") from None
    except OSError as e:
        raise ConfigError(f"cannot read {what} {path}: {e.strerror or e}") from None
    except errors as e:
        raise ConfigError(f"{what} {path} is not valid {'YAML' if yaml else 'JSON'}: {' '.join(str(e).split())}") from None
    except RecursionError:
        raise ConfigError(f"{what} {path} is nested too deeply to be read") from None


def load_config(path: str | Path) -> Any:
    """Read a run config (of any family; see `parse_run_config`) from a JSON file."""
    return parse_run_config(read_json(path))
