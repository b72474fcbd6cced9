"""Run directories: a trained sweep on disk, saved atomically and loaded back without pickle.

    RUN_DIR/
      config.json           the full run config (with `family` and format_version)
      weights.safetensors   toy: W [n_instances, n_features, n_hidden], b [n_instances, n_features],
                            W_dec [n_instances, n_hidden, n_features] (untied models only);
                            the abs model stores W1 [n_instances, n_features, n_hidden],
                            W2 [n_instances, n_hidden, n_features] and b;
                            modadd: embed [n_instances, p, d_embed], L, R [n_instances, n_hidden, 2 d_embed]
                            (W for the ReLU variant), U [n_instances, p, n_hidden], biases when on
                            sae: W_enc [n_instances, d_in, d_sae], b_enc [n_instances, d_sae],
                            b_dec [n_instances, d_in], W_dec [n_instances, d_sae, d_in] (untied only)
      truth.safetensors     sae only: true_features [1, n_true, d_in] (unit rows), and for a toy source the toy
                            instance's W [1, n_features, n_hidden]
      history.csv           step, instance, loss (per-instance loss averaged over each logging window)
      training.json         facts only training knows, one value per instance (sae: dead_in_training, resampled)
      snapshots.safetensors only with train.snapshots = N > 0: each tensor of weights.safetensors with a leading
                            snapshot axis ([N, ...]) and steps (int64 [N], the last = train.steps; see snapshots.py)
      metrics.csv           toy: one row per instance x feature (norms, superposition, dimensionality, geometry ...);
                            modadd and sae: one row per instance
      provenance.json       which code made the run: versions, device, git commit (see provenance.py); absent in runs
                            saved before it was recorded, which load with `provenance` None

Saving writes a complete sibling directory first and then swaps it in, under a lock on the parent directory, so a
run killed while saving leaves the previous files intact and of two concurrent writers exactly one replaces the
other only when asked to (`overwrite`). `overwrite` replaces only a run directory (one whose config.json names a known
family and format); anything else is refused and left untouched. Loading validates every tensor (shape, float32,
finite) and table it reads. A config.json of an older format_version is read; a newer one is refused (config.base).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .config import FORMAT_VERSION, RUN_CONFIGS, parse_run_config
from .errors import ConfigError, OutputError, RunDirError
from .families import family_of
from . import provenance as prov
from .files import check_parent, creation_mode, dir_lock, fsync_dir, is_working_directory_or_parent
from .snapshots import Snapshots, read_snapshots, save_snapshots
from .train import History

FILES = ("config.json", "weights.safetensors", "history.csv", "metrics.csv", prov.FILE)


@dataclass
class Run:
    """A trained run: its config, model, loss history (long format), metrics table, and what its family keeps
    beside the weights (an SAE's ground truth; facts only training knew)."""

    config: Any
    model: Any  # an InstanceModel (a torch module with the family's attributes)
    history: pd.DataFrame
    metrics: pd.DataFrame | None = None
    path: Path | None = None
    truth: dict[str, torch.Tensor] | None = None  # truth.safetensors (an SAE's true features)
    facts: dict[str, list[Any]] | None = None  # training.json
    snapshots: Snapshots | None = None  # snapshots.safetensors (weights during training)
    provenance: dict[str, Any] | None = None  # provenance.json (None: a run saved before it was recorded)

    @property
    def W(self) -> torch.Tensor:
        """Feature directions in the hidden layer, `[n_instances, n_features, n_hidden]` (W1 for the abs model)."""
        features = family_of(self).features
        if features is None:
            raise RunDirError(f"{self.path or 'this run'} is a {self.config.family} run, which has no feature matrix W")
        return features(self)

    @property
    def table(self) -> pd.DataFrame:
        """The metrics table of an analysed run (one row per instance); an error for a run never analysed."""
        if self.metrics is None:
            raise RunDirError(f"{self.path or 'this run'} has no metrics: analyse it first (superposition analyze)")
        return self.metrics

    @property
    def b(self) -> torch.Tensor | None:
        b = getattr(self.model, "b", None)
        return None if b is None else b.detach()

    def final_loss(self, share: float | None = None) -> list[float]:
        """Per-instance loss in the last logged window, or averaged over the last `share` of the logged steps (a
        single window is too noisy to rank fits at high sparsity)."""
        steps = sorted(self.history.step.unique())
        kept = steps[-1:] if share is None else steps[-max(1, round(share * len(steps))):]
        last = self.history[self.history.step.isin(kept)]
        return last.groupby("instance").loss.mean().sort_index().tolist()


def history_frame(history: History) -> pd.DataFrame:
    rows = [
        (step, k, loss) for step, losses in zip(history.steps, history.loss) for k, loss in enumerate(losses)
    ]
    return pd.DataFrame(rows, columns=["step", "instance", "loss"])


def is_run_directory(path: str | Path) -> bool:
    """Whether `path` is a directory holding a config.json of a known run family and a format this library reads
    (the only kind of directory `overwrite` may replace; a newer format's layout is unknown, so it is not replaced)."""
    path = Path(path)
    try:
        data = json.loads((path / "config.json").read_text())
    except (OSError, ValueError, RecursionError):
        return False
    if not path.is_dir() or path.is_symlink() or not isinstance(data, dict):
        return False
    family, version = data.get("family", "toy"), data.get("format_version", FORMAT_VERSION)
    return isinstance(family, str) and family in RUN_CONFIGS and type(version) is int and 0 <= version <= FORMAT_VERSION


def check_output(path: str | Path, *, overwrite: bool = False) -> Path:
    """Validate a run directory about to be written, before any training: not the working directory or a parent of
    it, not a link or a file; an existing directory only with `overwrite`, and only if it is a run directory; the
    nearest existing parent a writable directory. Raises OutputError with a one-line message; touches nothing."""
    path = Path(path)
    if str(path) in ("", ".") or is_working_directory_or_parent(path):
        raise OutputError(f"refusing to write a run to {path}: it is the working directory or one of its parents")
    _recover(path)
    if path.is_symlink():
        raise OutputError(f"{path} is a symbolic link; give a new directory for the run")
    if path.exists():
        if not path.is_dir():
            raise OutputError(f"{path} exists and is not a directory")
        if not overwrite:
            raise OutputError(f"{path} already exists; pass --overwrite to replace it")
        if not is_run_directory(path):
            raise OutputError(f"{path} is not a run directory (no config.json of a known run family); "
                              "refusing to replace it")
    check_parent(path)
    return path


def save_run(run: Run, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write `run` to `path` atomically (a complete new directory is swapped in); returns the path.

    An existing `path` is replaced only with `overwrite=True`, and only when it is a run directory; the check is
    taken again at the moment of the swap, so of two writers without `overwrite` exactly one succeeds. Any OSError
    becomes a RunDirError saying the run was not saved."""
    path = check_output(path, overwrite=overwrite)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    except OSError as e:
        raise RunDirError(f"could not save the run to {path}: {e.strerror or e}; the trained run was not saved") from None
    try:
        with dir_lock(tmp):  # marks the temporary directory as in use, so no cleaner removes it
            os.chmod(tmp, creation_mode(directory=True))  # mkdtemp makes it private; runs are meant to be shared
            # Once read, a config of an older format is a config of this one, and is written as such.
            (tmp / "config.json").write_text(run.config.model_copy(update={"format_version": FORMAT_VERSION})
                                             .to_json() + "\n")
            run.provenance = run.provenance or prov.collect(run.config.train.device)  # a run loaded without one
            prov.write(run.provenance, tmp)
            tensors = {k: v.detach().cpu().contiguous() for k, v in run.model.weights().items()}
            save_file(tensors, str(tmp / "weights.safetensors"), metadata={"format_version": str(FORMAT_VERSION)})
            if run.truth:
                save_file({k: v.detach().cpu().contiguous() for k, v in run.truth.items()},
                          str(tmp / "truth.safetensors"))
            run.history.to_csv(tmp / "history.csv", index=False)
            if run.metrics is not None:
                run.metrics.to_csv(tmp / "metrics.csv", index=False)
            if run.snapshots is not None:
                save_snapshots(run.snapshots, tmp / "snapshots.safetensors")
            if run.facts:
                (tmp / "training.json").write_text(json.dumps(run.facts, indent=1) + "\n")
            for f in tmp.iterdir():
                os.chmod(f, creation_mode())  # safetensors writes 0600 whatever the umask
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
            fsync_dir(tmp)
            _swap_in(tmp, path, overwrite)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RunDirError(f"could not save the run to {path}: {e.strerror or e}; the trained run was not saved") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    run.path = path
    return path


def _old(path: Path) -> Path:
    return path.parent / f".{path.name}.old"


def _swap_in(new: Path, path: Path, overwrite: bool) -> None:
    """Rename `new` to `path` under the parent's lock, re-checking what `check_output` checked."""
    with dir_lock(path.parent):
        _recover_locked(path)
        if path.exists() or path.is_symlink():
            if not overwrite:
                raise OutputError(f"{path} already exists (written while this run trained); the trained run was "
                                  "not saved; pass --overwrite to replace it")
            if path.is_symlink() or not is_run_directory(path):
                raise OutputError(f"{path} is not a run directory; refusing to replace it (the trained run was not "
                                  "saved)")
            old = _old(path)
            if old.exists() and is_run_directory(old):  # a replaced run a killed save left behind
                shutil.rmtree(old)
            os.replace(path, old)
            os.replace(new, path)
            fsync_dir(path.parent)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(new, path)
            fsync_dir(path.parent)
        _clean_stale_temporaries(path, newer_than=path.stat().st_mtime)


def _clean_stale_temporaries(path: Path, newer_than: float) -> None:
    """Remove `.NAME.tmp-*` directories that killed saves left, older than this save and held by no live writer."""
    for stale in path.parent.glob(f".{path.name}.tmp-*"):
        try:
            if not stale.is_dir() or stale.is_symlink() or stale.stat().st_mtime >= newer_than:
                continue
        except OSError:
            continue
        with dir_lock(stale, blocking=False) as free:
            if free:
                shutil.rmtree(stale, ignore_errors=True)


def _recover_locked(path: Path) -> None:
    """A save killed between its two renames leaves only `.NAME.old`: put it back (caller holds the parent lock)."""
    old = _old(path)
    if not path.exists() and not path.is_symlink() and old.is_dir() and is_run_directory(old):
        os.replace(old, path)
        fsync_dir(path.parent)


def _recover(path: Path) -> None:
    """`_recover_locked` under the parent's lock, when there is anything to recover."""
    if path.exists() or not _old(path).is_dir():
        return
    try:
        with dir_lock(path.parent):
            _recover_locked(path)
    except OSError:
        pass  # a read-only parent: nothing can be moved back; loading reports the run as missing


def _read_tensors(file: Path, device: str) -> dict[str, torch.Tensor]:
    try:
        tensors = load_file(str(file), device=device)
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise RunDirError(f"{file} is corrupt: {e}") from None
    for name, t in tensors.items():
        if t.dtype != torch.float32:
            raise RunDirError(f"{file}: tensor {name!r} is {str(t.dtype).removeprefix('torch.')}, expected float32")
        if not bool(torch.isfinite(t).all()):
            raise RunDirError(f"{file}: tensor {name!r} holds NaN or infinity")
    return tensors


def _shapes(tensors: dict[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in tensors.items()}


def _read_table(file: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(file)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError, OSError) as e:
        raise RunDirError(f"{file} is corrupt: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None


def _check_history(file: Path, history: pd.DataFrame, n_instances: int) -> None:
    if list(history.columns) != ["step", "instance", "loss"]:
        raise RunDirError(f"{file} is corrupt: columns {list(history.columns)}, expected ['step', 'instance', 'loss']")
    if history.empty:
        raise RunDirError(f"{file} is corrupt: it holds no rows")
    if not all(pd.api.types.is_numeric_dtype(history[c]) for c in history.columns):
        raise RunDirError(f"{file} is corrupt: a column holds values that are not numbers")
    steps, inst = history.step.to_numpy(), history.instance.to_numpy()
    if not ((steps % 1 == 0).all() and (inst % 1 == 0).all() and (steps > 0).all()):
        raise RunDirError(f"{file} is corrupt: steps and instances must be positive whole numbers")
    if inst.min() < 0 or inst.max() >= n_instances:
        raise RunDirError(f"{file} is corrupt: instances must lie in 0..{n_instances - 1}")
    if len(history) != n_instances * history.step.nunique():
        raise RunDirError(f"{file} is corrupt: expected {n_instances} rows per logged step")


def _check_metrics(file: Path, metrics: pd.DataFrame, rows: int) -> None:
    if "instance" not in metrics.columns or len(metrics) != rows:
        raise RunDirError(f"{file} is corrupt: expected {rows} rows with an 'instance' column, got {len(metrics)} rows "
                          f"and columns {list(metrics.columns)[:6]}")


def _read_facts(file: Path, n_instances: int) -> dict[str, list[Any]]:
    try:
        facts = json.loads(file.read_text())
    except (OSError, ValueError, RecursionError) as e:
        raise RunDirError(f"{file} is corrupt: {e}") from None
    if not isinstance(facts, dict) or not all(isinstance(v, list) and len(v) == n_instances for v in facts.values()):
        raise RunDirError(f"{file} is corrupt: expected one list of {n_instances} values per fact")
    return facts


def load_run(path: str | Path, device: str | None = None) -> Run:
    """Load a run directory; raises RunDirError naming what is missing or corrupt.

    `device` places the model ("cpu", "cuda"); by default the device the run was trained on, or the CPU when that
    was a GPU this machine does not have."""
    path = Path(path)
    _recover(path)
    if not path.is_dir():
        raise RunDirError(f"run directory not found: {path}")
    with dir_lock(path.parent, shared=True):  # no writer swaps this directory while we read it
        return _load(path, device)


def _load(path: Path, device: str | None) -> Run:
    for name in FILES[:3]:
        if not (path / name).is_file():
            raise RunDirError(f"{path} is not a complete run directory: {name} is missing")
    try:
        raw = json.loads((path / "config.json").read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunDirError(f"{path / 'config.json'} is corrupt: {e}") from None
    except RecursionError:
        raise RunDirError(f"{path / 'config.json'} is corrupt: nested too deeply") from None
    except OSError as e:
        raise RunDirError(f"cannot read {path / 'config.json'}: {e.strerror or e}") from None
    try:
        config = parse_run_config(raw)
    except ConfigError as e:
        raise RunDirError(f"{path / 'config.json'}: {e}") from None
    if device is None and config.train.device.startswith("cuda") and not torch.cuda.is_available():
        device = "cpu"  # a run trained on a GPU, read on a machine without one
    if device is not None:
        config = config.model_copy(update={"train": config.train.model_copy(update={"device": device})})
    tensors = _read_tensors(path / "weights.safetensors", config.train.device)
    family = family_of(config)
    # Shapes first, on the meta device (nothing allocated), so a config.json claiming huge sizes fails here.
    meta = config.model_copy(update={"train": config.train.model_copy(update={"device": "meta"})})
    expected, got = _shapes(family.build_model(meta, None).weights()), _shapes(tensors)
    if expected != got:
        raise RunDirError(f"{path / 'weights.safetensors'} does not match config.json: expected {expected}, got {got}")
    model = family.build_model(config, None)
    with torch.no_grad():
        for name, value in tensors.items():
            getattr(model, name).copy_(value)
    truth = None
    if family.truth is None:
        if (path / "truth.safetensors").exists():
            raise RunDirError(f"{path / 'truth.safetensors'}: only sparse-autoencoder runs have a truth file")
    elif not (path / "truth.safetensors").is_file():
        raise RunDirError(f"{path} is not a complete {family.name} run directory: truth.safetensors is missing")
    else:
        truth = _read_tensors(path / "truth.safetensors", config.train.device)
        problem = family.check_truth(config, truth) if family.check_truth else None
        if problem:
            raise RunDirError(f"{path / 'truth.safetensors'}: {problem}")
    n_instances = config.n_instances
    history = _read_table(path / "history.csv")
    _check_history(path / "history.csv", history, n_instances)
    metrics = None
    if (path / "metrics.csv").is_file():
        metrics = _read_table(path / "metrics.csv")
        _check_metrics(path / "metrics.csv", metrics, family.metric_rows(config))
    facts = _read_facts(path / "training.json", n_instances) if (path / "training.json").is_file() else None
    return Run(config=config, model=model, history=history, metrics=metrics, path=path, truth=truth, facts=facts,
               snapshots=_load_snapshots(path, config, expected), provenance=prov.read(path))


def _load_snapshots(path: Path, config: Any, weights: dict[str, tuple[int, ...]]) -> Snapshots | None:
    """snapshots.safetensors, checked against config.json (how many) and the weights (shapes); None for a run
    trained without snapshots."""
    file, n = path / "snapshots.safetensors", config.train.snapshots
    if n == 0:
        if file.exists():
            raise RunDirError(f"{file}: config.json asks for no snapshots (train.snapshots = 0)")
        return None
    if not file.is_file():
        raise RunDirError(f"{path} is not a complete run directory: config.json asks for {n} snapshots and "
                          "snapshots.safetensors is missing")
    return read_snapshots(file, weights, n, config.train.steps, config.train.device)
