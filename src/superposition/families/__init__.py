"""Run families: each kind of run (toy models, modular addition, sparse autoencoders) declared once, as one object.

A `Family` holds everything the layers above the models need to know about a kind of run: its config class, how to
build its model and data, its analysis, its figures, its titles and labels, what its run directory holds beyond the
weights, and how the command line presents it. `lab`, `runs`, `plots`, `cli`, `report` and the experiment runner
look the family up (`family_of`) instead of branching on which kind a run is.

Adding a family is one module that builds a `Family` and calls `register` (SAELens registers SAE architectures the
same way); the built-in families are registered by importing their modules at the end of this one.

>>> sorted(REGISTRY)
['modadd', 'sae', 'toy']
>>> family_of("toy").config.command_line.command is None    # the toy family owns the top-level `train`
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..config import RunConfigBase, register_run_config
from ..errors import ConfigError

if TYPE_CHECKING:  # annotations only: runs imports this module
    import pandas as pd
    import plotly.graph_objects as go
    import torch

    from ..hooks import Hook
    from ..runs import Run


@dataclass(frozen=True)
class Table:
    """A table for the terminal: rows of a document and (heading, key, format) columns; missing keys are skipped."""

    title: str
    rows: Sequence[Mapping[str, Any]]
    columns: Sequence[tuple[str, str, str]]


@dataclass(frozen=True)
class CliSpec:
    """What a family's commands print. How the family appears on the command line (its group, flags and extra
    arguments) is declared on its config class (`superposition.config.CommandLine`), so `--help` needs no torch."""

    saved: Callable[[Run], str]  # the line `train` prints
    document: Callable[[Run], dict[str, Any]]  # what `analyze --json` prints
    tables: Callable[[dict[str, Any]], list[Table]]  # what `analyze` prints
    # (config dict so far, extras given) -> config dict: where a family turns its extras into config fields
    prepare: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] | None = None


@dataclass(frozen=True)
class Batching:
    """How a family trains several configs as the instances of one run (a sweep merges its points so): configs with
    equal `key` can be merged, and `merge` gives the one config whose instances are theirs, in order."""

    key: Callable[[Any], str]
    merge: Callable[[list[Any]], Any]


@dataclass
class Training:
    """What a family adds to a training run: hooks, and the facts only training knows (saved as training.json)."""

    hooks: list[Hook] = field(default_factory=list)
    facts: Callable[[], dict[str, list[Any]]] = dict


@dataclass(frozen=True)
class Family:
    """One kind of run. Callables take the family's run config (`config`) or a loaded `Run`."""

    name: str
    config: type[RunConfigBase]
    build_model: Callable[[Any, torch.Generator | None], Any]  # an InstanceModel
    # (config, device, truth tensors of a saved run or None) -> an object with `sample(batch_size, generator)`
    build_data: Callable[[Any, str, Mapping[str, torch.Tensor] | None], Any]
    analyze: Callable[[Run], pd.DataFrame]
    figures: Callable[[Run], list[go.Figure]]
    title: Callable[[Any], str]
    instance_label: Callable[[Any, int], str]
    label: Callable[[Any], str]  # the progress bar's description
    metric_rows: Callable[[Any], int]  # rows of metrics.csv
    memory: Callable[[Any], tuple[int, int]]  # (parameters, other float32 values alive in a training step)
    cli: CliSpec
    training: Callable[[Any, Any, Any], Training] | None = None  # (config, model, data)
    # the tensors saved as truth.safetensors (the data's ground truth), and their check on loading
    truth: Callable[[Any, Any], dict[str, torch.Tensor]] | None = None
    check_truth: Callable[[Any, Mapping[str, torch.Tensor]], str | None] | None = None
    # a config with its dependencies on other runs filled in from runs already trained (an SAE's toy source)
    resolve: Callable[[Any, Mapping[str, Run]], Any] | None = None
    # the feature directions in the hidden layer, [n_instances, n_features, n_hidden] (`Run.W`), where they exist
    features: Callable[[Run], torch.Tensor] | None = None
    # how configs of this family are merged into one multi-instance run (a sweep's points); None: never merged
    batching: Batching | None = None

    def command(self, verb: str) -> str:
        """The shell command that does `verb` for this family, e.g. 'superposition modadd train'."""
        from ..commands import shell_command

        return shell_command(self.config, verb)


REGISTRY: dict[str, Family] = {}


def register(family: Family) -> Family:
    """Add `family` to the registry (its config class too, so config.json files of it can be read)."""
    if family.name != family.config.model_fields["family"].default:
        raise ValueError(f"family {family.name!r} does not match its config's family field")
    if REGISTRY.get(family.name, family) is not family:
        raise ValueError(f"a family named {family.name!r} is registered already")
    register_run_config(family.config)
    REGISTRY[family.name] = family
    return family


def family_of(what: Any) -> Family:
    """The family of a run config, a run, or a family name."""
    name = what if isinstance(what, str) else getattr(getattr(what, "config", what), "family", None)
    if name not in REGISTRY:
        raise ConfigError(f"unknown run family {name!r}; known: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


from . import modadd, sae, toy  # noqa: E402,F401  (the built-in families register themselves)

__all__ = ["Batching", "CliSpec", "Family", "REGISTRY", "Table", "Training", "family_of", "register"]
