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
      metrics.csv           toy: one row per instance x feature (norms, superposition, dimensionality, geometry ...);
                            modadd and sae: one row per instance

Saving writes a complete sibling directory first and then swaps it in, so a run killed while saving leaves the
previous files intact.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .config import FORMAT_VERSION, ModAddRunConfig, RunConfig, SAERunConfig, parse_run_config
from .errors import RunDirError
from torch import nn

from .models import build_model
from .train import History

FILES = ("config.json", "weights.safetensors", "history.csv", "metrics.csv")


@dataclass
class Run:
    """A trained run: its config, model, loss history (long format) and metrics table."""

    config: RunConfig | ModAddRunConfig | SAERunConfig
    model: nn.Module
    history: pd.DataFrame
    metrics: pd.DataFrame | None = None
    path: Path | None = None
    truth: dict[str, torch.Tensor] | None = None  # an SAE's ground truth (truth.safetensors)

    @property
    def W(self) -> torch.Tensor:
        """Feature directions in the hidden layer, `[n_instances, n_features, n_hidden]` (W1 for the abs model)."""
        if self.config.family != "toy":
            raise RunDirError(f"{self.path or 'this run'} is a {self.config.family} run, which has no feature matrix W")
        weights = self.model.weights()
        return weights["W"] if "W" in weights else weights["W1"]

    @property
    def b(self) -> torch.Tensor | None:
        b = getattr(self.model, "b", None)
        return None if b is None else b.detach()

    def final_loss(self) -> list[float]:
        """Per-instance loss in the last logged window."""
        last = self.history[self.history.step == self.history.step.max()].sort_values("instance")
        return last.loss.tolist()


def history_frame(history: History) -> pd.DataFrame:
    rows = [
        (step, k, loss) for step, losses in zip(history.steps, history.loss) for k, loss in enumerate(losses)
    ]
    return pd.DataFrame(rows, columns=["step", "instance", "loss"])


def save_run(run: Run, path: str | Path) -> Path:
    """Write `run` to `path` atomically (a complete new directory is swapped in); returns the path."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunDirError(f"cannot save run: {path} exists and is not a directory")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        (tmp / "config.json").write_text(run.config.to_json() + "\n")
        tensors = {k: v.detach().cpu().contiguous() for k, v in run.model.weights().items()}
        save_file(tensors, str(tmp / "weights.safetensors"), metadata={"format_version": str(FORMAT_VERSION)})
        if run.truth:
            save_file({k: v.detach().cpu().contiguous() for k, v in run.truth.items()}, str(tmp / "truth.safetensors"))
        run.history.to_csv(tmp / "history.csv", index=False)
        if run.metrics is not None:
            run.metrics.to_csv(tmp / "metrics.csv", index=False)
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        _swap_in(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    run.path = path
    return path


def _swap_in(new: Path, path: Path) -> None:
    old = path.parent / f".{path.name}.old"
    if old.exists():
        shutil.rmtree(old)
    if path.exists():
        os.replace(path, old)
    os.replace(new, path)
    shutil.rmtree(old, ignore_errors=True)


def _recover(path: Path) -> None:
    """A save killed between its two renames leaves only `.NAME.old`: put it back."""
    old = path.parent / f".{path.name}.old"
    if not path.exists() and old.is_dir():
        os.replace(old, path)


def load_run(path: str | Path, device: str | None = None) -> Run:
    """Load a run directory; raises RunDirError naming what is missing or corrupt."""
    path = Path(path)
    _recover(path)
    if not path.is_dir():
        raise RunDirError(f"run directory not found: {path}")
    for name in FILES[:3]:
        if not (path / name).is_file():
            raise RunDirError(f"{path} is not a complete run directory: {name} is missing")
    try:
        raw = json.loads((path / "config.json").read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunDirError(f"{path / 'config.json'} is corrupt: {e}") from None
    config = parse_run_config(raw)
    if device is not None:
        config = config.model_copy(update={"train": config.train.model_copy(update={"device": device})})
    try:
        tensors = load_file(str(path / "weights.safetensors"), device=config.train.device)
    except (SafetensorError, OSError, ValueError) as e:
        raise RunDirError(f"{path / 'weights.safetensors'} is corrupt: {e}") from None
    model = build_model(config)
    expected = {k: tuple(v.shape) for k, v in model.weights().items()}
    got = {k: tuple(v.shape) for k, v in tensors.items()}
    if expected != got:
        raise RunDirError(f"{path / 'weights.safetensors'} does not match config.json: expected {expected}, got {got}")
    with torch.no_grad():
        for name, value in tensors.items():
            getattr(model, name).copy_(value)
    truth = None
    if (path / "truth.safetensors").is_file():
        try:
            truth = load_file(str(path / "truth.safetensors"), device=config.train.device)
        except (SafetensorError, OSError, ValueError) as e:
            raise RunDirError(f"{path / 'truth.safetensors'} is corrupt: {e}") from None
    elif isinstance(config, SAERunConfig):
        raise RunDirError(f"{path} is not a complete SAE run directory: truth.safetensors is missing")
    try:
        history = pd.read_csv(path / "history.csv")
        metrics = pd.read_csv(path / "metrics.csv") if (path / "metrics.csv").is_file() else None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise RunDirError(f"a table in {path} is corrupt: {e}") from None
    if list(history.columns) != ["step", "instance", "loss"]:
        raise RunDirError(f"{path / 'history.csv'} is corrupt: columns {list(history.columns)}")
    return Run(config=config, model=model, history=history, metrics=metrics, path=path, truth=truth)
