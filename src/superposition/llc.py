"""The local learning coefficient (LLC) of a toy model, estimated with devinterp's SGLD sampler.

Singular learning theory measures the complexity of a solution w* by its local learning coefficient λ(w*): how
fast the volume of nearly-as-good parameters around w* shrinks (λ = d/2 for a regular minimum with d parameters,
less where the loss is degenerate). Lau et al. (2023) estimate it from a localized, tempered posterior sampled with
SGLD: λ̂ = nβ (E[L_n(w)] − L_n(w*)), with nβ the inverse temperature (n / log n for n samples) and a pull of strength
γ (`localization`) towards w*. Chen et al. (2023) use it to order the k-gon critical points of the toy model of
superposition; `experiments/llc.py` reproduces that.

Our models carry a leading instance dimension; devinterp samples one plain module. `instance_module` slices one
instance out of a run (or out of one of its snapshots) into an `InstanceModule` whose `forward` is that instance's
output and whose `loss` is that instance's loss (importance-weighted squared error), per sample. devinterp 2 samples
language models: its data are rows of token ids and its loss is per next token. `IndexedSamples` therefore holds
the feature vectors and hands devinterp each sample's index twice (one "next token"), and its `loss_fn` looks the
sample up, so the one per-token loss devinterp averages is that sample's loss and their mean is our loss.

devinterp is an optional extra (`pip install -e ".[devinterp]"`), imported only when an estimate is asked for.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import io
import json
import math
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor, nn

from .config import DataConfig
from .data import FeatureData
from .errors import ConfigError, OutputError, RunDirError, SuperpositionError
from .files import atomic_write_text, dir_lock
from .llc_cli import Settings
from .models import ToyModel
from .train import thread_count

RESULT_FILE = "llc.json"
FORMAT = 1
INSTALL = 'pip install -e ".[devinterp]"'


class MissingExtra(SuperpositionError):
    """devinterp is not installed (or cannot be imported)."""


@dataclass
class Estimate:
    """One LLC estimate: the mean and standard deviation over chains, each chain's estimate, the loss at w* and
    each chain's loss after every SGLD step (`loss_trace`, `[chains][steps]`)."""

    llc_mean: float
    llc_std: float
    llc_per_chain: list[float]
    init_loss: float
    loss_trace: list[list[float]]
    warnings: list[str] = field(default_factory=list)

    def line(self) -> str:
        chains = len(self.llc_per_chain)
        return (f"LLC = {self.llc_mean:.4g} ± {self.llc_std:.2g} (std over {chains} chain{'s' if chains != 1 else ''}; "
                f"loss at w* {self.init_loss:.4g})")


class InstanceModule(nn.Module):
    """One instance of a toy model as a plain module: `forward(x)` maps `[batch, n_features]` inputs to that
    instance's outputs, `loss(x)` is its importance-weighted squared error per sample (the mean over features of
    I_i (x'_i − target_i)²), whose mean over a batch is the instance's loss on it."""

    def __init__(self, model: nn.Module, importance: Float[Tensor, "feat"], abs_target: bool = False) -> None:
        super().__init__()
        if getattr(model, "n_instances", 1) != 1:
            raise ConfigError("InstanceModule wraps a model of one instance")
        self.model = model
        self.register_buffer("importance", importance.detach().clone())
        self.abs_target = abs_target

    def forward(self, x: Float[Tensor, "batch feat"]) -> Float[Tensor, "batch feat"]:
        return self.model(x[None])[0]

    def loss(self, x: Float[Tensor, "batch feat"]) -> Float[Tensor, "batch"]:
        target = x.abs() if self.abs_target else x
        return (self.importance * (self(x) - target).square()).mean(dim=-1)


def _one_instance(weights: Mapping[str, Tensor], kind: str, k: int) -> nn.Module:
    from .families.toy import MODELS

    sliced = {name: t[k : k + 1].detach().clone().float() for name, t in weights.items()}
    cls: Any = MODELS[kind]  # each family model rebuilds itself from its named tensors
    return cls.from_weights(**sliced, kind=kind) if cls is ToyModel else cls.from_weights(**sliced)


def instance_module(weights: Mapping[str, Tensor], config: Any, k: int) -> InstanceModule:
    """Instance `k` of a toy run's tensors (`run.model.weights()`, or a snapshot's) as an `InstanceModule` on the
    CPU, with that instance's importance and the run's target."""
    if getattr(config, "family", None) != "toy":
        raise ConfigError(f"the LLC is estimated for toy runs; this is a {getattr(config, 'family', '?')} run")
    n = config.data.n_instances
    if not 0 <= k < n:
        raise ConfigError(f"--instance {k} is out of range: the run has {n} instance{'s' if n != 1 else ''}")
    importance = config.data.importance_table()[k]
    return InstanceModule(_one_instance(weights, config.model.kind, k), importance, config.data.target == "abs")


def run_samples(data: DataConfig, k: int, n: int, seed: int) -> Float[Tensor, "n feat"]:
    """`n` samples of instance `k`'s features, drawn from the run's data generator with a seeded generator."""
    return FeatureData(data).sample(n, torch.Generator().manual_seed(seed)).x[k].contiguous()


class IndexedSamples(torch.utils.data.Dataset):
    """Feature vectors as devinterp 2 wants its data: item i is {"input_ids": [i, i]}, and `loss_fn` turns a batch of
    such rows into each sample's loss (shape `[batch, 1]`, one "next token" per sample)."""

    def __init__(self, samples: Float[Tensor, "n feat"]) -> None:
        self.samples = samples.detach().float().contiguous()
        self.ids = torch.arange(len(samples))[:, None].expand(-1, 2).contiguous()  # row i: [i, i]

    def __len__(self) -> int:
        return self.samples.shape[0]

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {"input_ids": self.ids[i]}

    def loss_fn(self, model: nn.Module, input_ids: Tensor) -> Tensor:
        return model.loss(self.samples[input_ids[:, 0].to(self.samples.device)])[:, None]  # type: ignore[operator]


def require_devinterp(load: bool = True) -> Any:
    """devinterp's `llc` function, or a one-line MissingExtra saying how to install it. `load=False` only checks that
    the package is there (importing it takes seconds: it imports transformers)."""
    message = f"the LLC needs the devinterp extra; install it with: {INSTALL}"
    if importlib.util.find_spec("devinterp") is None:
        raise MissingExtra(message)
    if not load:
        return None
    try:
        from devinterp.slt.llc import llc
    except ImportError as e:
        raise MissingExtra(f"{message} ({e})") from None
    return llc


@contextlib.contextmanager
def _quiet_sampling(progress: bool) -> Iterator[list[warnings.WarningMessage]]:
    """Around devinterp's sampler: record its warnings (a failed chain is one), hide its progress bars unless asked,
    give back the global random states it reseeds, and freeze the objects alive now so that the `gc.collect()` it
    calls per chain does not rescan them (after importing transformers that took about a second per call here)."""
    import random

    import numpy as np

    freeze = gc.get_freeze_count() == 0  # someone else's freeze is theirs to undo
    states = random.getstate(), np.random.get_state()
    if freeze:
        gc.freeze()
    try:
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with contextlib.nullcontext() if progress else contextlib.redirect_stderr(io.StringIO()):
                yield caught
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        if freeze:
            gc.unfreeze()


def estimate(module: InstanceModule, samples: Float[Tensor, "n feat"], settings: Settings = Settings(),
             progress: bool = False) -> Estimate:
    """devinterp's LLC estimate (`devinterp.slt.llc.llc`, its SGLD sampler) for `module` at its current weights, on
    `samples` (`settings.samples` of them are used), on the CPU with one thread."""
    llc = require_devinterp()
    if samples.shape[0] < settings.samples:
        raise ConfigError(f"{settings.samples} samples asked for, {samples.shape[0]} given")
    data = IndexedSamples(samples[: settings.samples])
    with tempfile.TemporaryDirectory(prefix="superposition-llc-") as tmp, thread_count(1), \
            _quiet_sampling(progress) as caught:
        result = llc(
            module, data, {}, lr=settings.lr, n_beta=settings.beta_n, localization=settings.localization,
            num_chains=settings.chains, num_draws=settings.draws, num_burnin_steps=settings.burnin,
            batch_size=settings.batch_size, num_init_loss_batches=settings.init_batches, init_seed=settings.seed,
            device="cpu", output_path=str(Path(tmp) / "samples.zarr"), loss_fn=data.loss_fn,
        ).load()  # read everything before the temporary store goes
    return Estimate(
        llc_mean=float(result.llc_mean), llc_std=float(result.llc_std),
        llc_per_chain=[float(v) for v in result.llc_per_chain.values],
        init_loss=float(result.init_loss), loss_trace=result.loss_trace.values.astype(float).tolist(),
        warnings=sorted({str(w.message) for w in caught}),
    )


def estimate_run(run: Any, instances: Sequence[int] | None = None, settings: Settings = Settings(),
                 snapshots: bool = False, progress: bool = False,
                 report: Any = None) -> list[dict[str, Any]]:
    """Estimates for the given instances of a toy run (all by default), at its final weights or, with `snapshots`,
    at each saved snapshot. Each is a dict: instance, step, and the `Estimate`'s fields. `report(entry)` is called
    as each one is done."""
    config = run.config
    if getattr(config, "family", None) != "toy":
        raise ConfigError(f"the LLC is estimated for toy runs; {run.path or 'this run'} is a {config.family} run")
    chosen = list(range(config.data.n_instances)) if instances is None else list(instances)
    for k in chosen:  # every instance checked before the first estimate
        instance_module(run.model.weights(), config, k)
    points: list[tuple[int, Mapping[str, Tensor]]]
    if snapshots:
        snaps = getattr(run, "snapshots", None)
        if snaps is None:
            raise RunDirError(f"{run.path or 'this run'} has no snapshots; train it with --snapshots N")
        points = [(int(snaps.steps[i]), snaps.at(i)) for i in range(len(snaps))]
    else:
        points = [(config.train.steps, run.model.weights())]
    out = []
    for k in chosen:
        module_points = [(step, instance_module(weights, config, k)) for step, weights in points]
        samples = run_samples(config.data, k, settings.samples, settings.seed)
        for step, module in module_points:
            entry = {"instance": k, "step": step, **asdict(estimate(module, samples, settings, progress))}
            out.append(entry)
            if report is not None:
                report(entry)
    return out


def read_results(path: Path) -> dict[str, Any] | None:
    """The llc.json already in a run directory (None when there is none); refuses a file this project did not
    write."""
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        doc = None
    if not (isinstance(doc, dict) and doc.get("format") == "superposition-llc" and isinstance(doc.get("estimates"),
                                                                                               list)):
        raise OutputError(f"{path} was not written by superposition llc; refusing to replace it")
    return doc


def save_results(run_dir: str | Path, settings: Settings, estimates: list[dict[str, Any]]) -> Path:
    """Write (or update) RUN_DIR/llc.json atomically. Estimates made earlier with the same settings for other
    (instance, step) pairs are kept; a change of settings starts the file afresh."""
    from importlib.metadata import version

    run_dir = Path(run_dir)
    path = run_dir / RESULT_FILE
    with dir_lock(run_dir):  # two estimates finishing at once must not drop each other's entries
        old = read_results(path)
        kept = []
        if old is not None and old.get("settings") == settings.to_dict():
            done = {(e["instance"], e["step"]) for e in estimates}
            kept = [e for e in old["estimates"] if (e.get("instance"), e.get("step")) not in done]
        doc = {"format": "superposition-llc", "format_version": FORMAT, "estimator": "devinterp.slt.llc.llc",
               "devinterp": version("devinterp"), "settings": settings.to_dict(),
               "estimates": sorted(kept + estimates, key=lambda e: (e["instance"], e["step"]))}
        return atomic_write_text(path, json.dumps(_finite(doc), allow_nan=False) + "\n")


def _finite(value: Any) -> Any:
    """NaN and infinity (a chain that failed) are not JSON: written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
