"""SAELens interop: our sparse autoencoders as SAELens directories, and SAELens directories as our SAE runs.

A SAELens directory holds `cfg.json` (the architecture and its flags) and `sae_weights.safetensors` with
`W_enc [d_in, d_sae]`, `W_dec [d_sae, d_in]`, `b_enc [d_sae]`, `b_dec [d_in]`. Its "standard" SAE computes
f = ReLU((x - b_dec) @ W_enc + b_enc) (the b_dec subtraction is `apply_b_dec_to_input`) and x_hat = f @ W_dec +
b_dec; its "topk" SAE keeps the k largest pre-activations and ReLUs them, which is our TopK (ReLU, then the k
largest) up to ties. Our decoder rows are unit vectors by construction, so the exported W_dec is the stored
dictionary, with no activation normalisation or decoder-norm rescaling. A tied SAE is exported with
W_dec = W_enc^T. Neither direction needs SAELens installed: both read and write the files themselves.

Every exported `cfg.json` carries `metadata.superposition` (our version, the run's config and the instance), which
marks the directory as ours (only such directories are ever replaced) and lets `import` restore the run's source.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import ConfigError, RunDirError, SuperpositionError
from ..files import check_output_dir, creation_mode, dir_lock, fsync_dir

CFG, WEIGHTS = "cfg.json", "sae_weights.safetensors"
MARKER = "superposition"  # the metadata key that marks an export of ours
# The SAELens config format written (6.x); SAELens reads configs without a version as pre-6.0 ones.
SAELENS_FORMAT = "6.0.0"
SUPPORTED = ("standard", "topk")
# A decoder row within this of unit norm is used as it is (our forward pass renormalises it; the map moves by at
# most this relative amount). Rows further off are folded into the encoder (ReLU) or refused (TopK).
UNIT_TOLERANCE = 1e-5
INSTANCE_DIR = re.compile(r"instance-\d+")
LOSS_SAMPLES = 1024  # samples of the recorded source on which an imported run's one history row is measured
LOSS_SALT = 0x5AE1E


# -- export ------------------------------------------------------------------------------------------------------


def saelens_tensors(model: Any, k: int) -> dict[str, torch.Tensor]:
    """Instance `k` of a `SparseAutoencoder` in SAELens' layout. The stored tensors are exported as they are (their
    decoder rows are unit vectors up to rounding, so a round trip is bit-exact); rows a hand-made model left off
    unit norm are exported renormalised, as our forward pass uses them."""
    enc = model.W_enc[k].detach()
    if model.W_dec is None:  # tied: the decoder is the encoder's unit columns, transposed
        enc = enc if _unit(enc.T) else model.encoder[k].detach()
        dec = enc.T
    else:
        dec = model.W_dec[k].detach()
        dec = dec if _unit(dec) else model.decoder[k].detach()
    return {"W_enc": enc.contiguous().clone(), "W_dec": dec.contiguous().clone(),
            "b_enc": model.b_enc[k].detach().clone(), "b_dec": model.b_dec[k].detach().clone()}


def _unit(rows: torch.Tensor, tolerance: float = 1e-6) -> bool:
    return bool(((rows.norm(dim=-1) - 1).abs() <= tolerance).all())


def saelens_config(config: Any, k: int) -> dict[str, Any]:
    """The SAELens `cfg.json` of instance `k` of an SAE run config."""
    from .. import __version__

    m = config.model
    cfg: dict[str, Any] = {
        "architecture": "topk" if m.activation == "topk" else "standard",
        "d_in": config.source.d_in, "d_sae": m.d_sae, "dtype": "float32", "device": "cpu",
        "apply_b_dec_to_input": True,  # ours encodes x - b_dec
        "normalize_activations": "none", "reshape_activations": "none",
    }
    if m.activation == "topk":
        cfg.update(k=m.k, rescale_acts_by_decoder_norm=False)  # our decoder rows are unit: nothing to rescale
    cfg["metadata"] = {"sae_lens_version": SAELENS_FORMAT, MARKER: {
        "version": __version__, "instance": k, "tied": m.tied, "run_config": config.model_dump(mode="json")}}
    return cfg


def _ours(cfg_file: Path) -> bool:
    try:
        cfg = json.loads(cfg_file.read_text())
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(cfg, dict) and isinstance(cfg.get("metadata"), dict) and isinstance(cfg["metadata"].get(MARKER),
                                                                                          dict)


def _one_export(path: Path) -> bool:
    if path.is_symlink() or not path.is_dir():
        return False
    entries = list(path.iterdir())
    names = {e.name for e in entries}
    return (CFG in names and names <= {CFG, WEIGHTS} and not any(e.is_symlink() or not e.is_file() for e in entries)
            and _ours(path / CFG))


def is_export_directory(path: str | Path) -> bool:
    """Whether `path` is a SAELens export this project wrote: one directory of ours, or only `instance-K`
    directories of ours (the only kind `--overwrite` replaces)."""
    path = Path(path)
    if _one_export(path):
        return True
    if path.is_symlink() or not path.is_dir():
        return False
    entries = list(path.iterdir())
    return bool(entries) and all(INSTANCE_DIR.fullmatch(e.name) and _one_export(e) for e in entries)


def check_export_output(out: str | Path, *, overwrite: bool) -> Path:
    """Validate an export directory before any work: not the working directory or a parent, not a link or a file;
    an existing non-empty directory only with `overwrite`, and only when it is an export of ours."""
    return check_output_dir(out, what="a SAELens export written by superposition", ours=is_export_directory,
                            overwrite=overwrite)


def export_saelens(run_dir: str | Path, out: str | Path, *, instance: int | None = None,
                   overwrite: bool = False) -> list[Path]:
    """Write each autoencoder of SAE run `run_dir` as a SAELens directory: `out` itself for a run of one instance
    or with `instance`, else `out/instance-K` for each K. Returns the directories written. The whole export is
    built beside `out` and swapped in, so a reader never sees half of it."""
    from ..runs import load_run

    out = check_export_output(out, overwrite=overwrite)
    run = load_run(run_dir, device="cpu")
    if run.config.family != "sae":
        raise ConfigError(f"{run_dir} is a {run.config.family} run; `sae export` reads sparse-autoencoder runs")
    n = run.config.model.n_instances
    if instance is not None and not 0 <= instance < n:
        raise ConfigError(f"--instance {instance} does not exist: the run has {n} autoencoder(s), 0..{n - 1}")
    chosen = [instance] if instance is not None else list(range(n))
    parts = [("" if len(chosen) == 1 else f"instance-{k}", saelens_config(run.config, k), saelens_tensors(run.model, k))
             for k in chosen]
    _write_export(out, parts, overwrite)
    return [out / sub if sub else out for sub, _, _ in parts]


def _write_export(out: Path, parts: list[tuple[str, dict[str, Any], dict[str, torch.Tensor]]],
                  overwrite: bool) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        os.chmod(tmp, creation_mode(directory=True))  # mkdtemp makes it private; exports are meant to be shared
        for sub, cfg, tensors in parts:
            d = tmp / sub if sub else tmp
            d.mkdir(mode=creation_mode(directory=True), exist_ok=True)
            (d / CFG).write_text(json.dumps(cfg, indent=2) + "\n")
            save_file(tensors, str(d / WEIGHTS))
            for f in (d / CFG, d / WEIGHTS):
                os.chmod(f, creation_mode())  # safetensors writes 0600 whatever the umask
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
        with dir_lock(out.parent):
            check_export_output(out, overwrite=overwrite)  # again, at the moment of writing
            if out.exists():  # an empty directory, or (with overwrite) an export of ours
                old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
                os.replace(out, old)
                os.replace(tmp, out)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.rename(tmp, out)
            fsync_dir(out.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# -- import ------------------------------------------------------------------------------------------------------


def read_saelens(path: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """A SAELens directory's config and tensors (float32, on the CPU); one-line errors for what is missing."""
    path = Path(path)
    if not path.is_dir():
        raise RunDirError(f"SAELens directory not found: {path}")
    if not (path / CFG).is_file():
        if any(INSTANCE_DIR.fullmatch(e.name) for e in path.iterdir()):
            raise ConfigError(f"{path} holds several exported autoencoders; give one of its instance-K directories")
        raise RunDirError(f"{path} is not a SAELens directory: {CFG} is missing")
    if not (path / WEIGHTS).is_file():
        raise RunDirError(f"{path} is not a complete SAELens directory: {WEIGHTS} is missing")
    try:
        cfg = json.loads((path / CFG).read_text())
    except (ValueError, RecursionError) as e:
        raise RunDirError(f"{path / CFG} is corrupt: {' '.join(str(e).split())}") from None
    if not isinstance(cfg, dict):
        raise RunDirError(f"{path / CFG} is corrupt: expected a JSON object")
    try:
        tensors = load_file(str(path / WEIGHTS), device="cpu")
    except (SafetensorError, ValueError, RuntimeError) as e:
        raise RunDirError(f"{path / WEIGHTS} is corrupt: {' '.join(str(e).split())}") from None
    if any(not t.is_floating_point() for t in tensors.values()):
        raise RunDirError(f"{path / WEIGHTS}: every tensor must hold floating-point numbers")
    return cfg, {k: v.float() for k, v in tensors.items()}


def architecture(cfg: dict[str, Any]) -> tuple[str, int | None]:
    """The SAELens architecture ("standard" or "topk") and k of a config, read as SAELens reads it (configs before
    6.0 name the activation instead); a one-line error for every other architecture."""
    arch = cfg.get("architecture")
    if arch is None:  # pre-6.0: "standard" unless the activation is topk with its k
        act = cfg.get("activation_fn", cfg.get("activation_fn_str", "relu"))
        kwargs = cfg.get("activation_fn_kwargs") or {}
        if act == "topk" and isinstance(kwargs, dict) and kwargs.get("k") is not None:
            arch, cfg = "topk", {**cfg, "k": kwargs["k"]}
        elif act == "relu":
            arch = "standard"
        else:
            raise ConfigError(f"SAELens activation {act!r} is not supported: import reads ReLU ('standard') and "
                              "TopK ('topk') SAEs")
    if arch not in SUPPORTED:
        raise ConfigError(f"SAELens architecture {arch!r} is not supported: import reads 'standard' (ReLU) and "
                          "'topk' SAEs")
    if arch == "standard":
        return arch, None
    k = cfg.get("k")
    if type(k) is not int or k <= 0:
        raise ConfigError(f"a SAELens topk config needs a positive integer k, got {k!r}")
    return arch, k


@dataclass
class Converted:
    """A SAELens SAE in our terms: the activation and k, whether it is tied, our tensors (one instance), and what
    the conversion changed."""

    activation: str
    k: int | None
    tied: bool
    tensors: dict[str, torch.Tensor]
    notes: list[str] = field(default_factory=list)


def convert(cfg: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Converted:
    """SAELens config and tensors -> our SAE's. Flags our forward pass lacks are folded into the weights where that
    is exact: apply_b_dec_to_input = false into b_enc, decoder row norms into the encoder (ReLU, or TopK with
    rescale_acts_by_decoder_norm); anything else is refused with one line."""
    arch, k = architecture(cfg)
    names = {"W_enc", "W_dec", "b_enc", "b_dec"}
    for extra in sorted(set(tensors) - names):
        if extra in ("scaling_factor", "finetuning_scaling_factor") and bool((tensors[extra] == 1).all()):
            continue  # SAELens drops an all-ones scaling factor too
        raise ConfigError(f"unexpected tensor {extra!r} in the SAELens weights (supported: {', '.join(sorted(names))})")
    if names - set(tensors):
        raise ConfigError(f"the SAELens weights lack {', '.join(sorted(names - set(tensors)))}")
    W_enc, W_dec, b_enc, b_dec = (tensors[n] for n in ("W_enc", "W_dec", "b_enc", "b_dec"))
    if W_enc.ndim != 2:
        raise ConfigError(f"W_enc must be [d_in, d_sae], got shape {tuple(W_enc.shape)}")
    d_in, d_sae = W_enc.shape
    for name, t, shape in (("W_dec", W_dec, (d_sae, d_in)), ("b_enc", b_enc, (d_sae,)), ("b_dec", b_dec, (d_in,))):
        if tuple(t.shape) != shape:
            raise ConfigError(f"{name} must be {list(shape)} to match W_enc, got shape {tuple(t.shape)}")
    for key, value in (("d_in", d_in), ("d_sae", d_sae)):
        if key in cfg and cfg[key] != value:
            raise ConfigError(f"cfg.json says {key} = {cfg[key]!r} but the weights have {value}")
    if not all(bool(torch.isfinite(t).all()) for t in (W_enc, W_dec, b_enc, b_dec)):
        raise ConfigError("the SAELens weights hold NaN or infinity")
    if k is not None and k > d_sae:
        raise ConfigError(f"k ({k}) exceeds d_sae ({d_sae})")
    norm = cfg.get("normalize_activations", "none")
    if norm not in ("none", None):
        raise ConfigError(f"normalize_activations = {norm!r} is not supported (our SAEs read activations as they "
                          "are); fold the scaling into the weights first")
    if cfg.get("reshape_activations", "none") not in ("none", "hook_z", None):
        raise ConfigError(f"reshape_activations = {cfg['reshape_activations']!r} is not supported")
    notes: list[str] = []
    if cfg.get("apply_b_dec_to_input", True) is False:  # x @ W_enc + b_enc = (x - b_dec) @ W_enc + (b_enc + b_dec @ W_enc)
        b_enc = b_enc + b_dec @ W_enc
        notes.append("apply_b_dec_to_input was false: b_dec @ W_enc folded into b_enc")
    norms = W_dec.norm(dim=1)
    unit = bool(((norms - 1).abs() <= UNIT_TOLERANCE).all())
    rescale = arch == "topk" and bool(cfg.get("rescale_acts_by_decoder_norm", False))
    if rescale or not unit:
        if arch == "topk" and not rescale:
            raise ConfigError("this TopK SAE's decoder rows are not unit norm (and rescale_acts_by_decoder_norm is "
                              "false): our TopK ranks latents of a unit-norm dictionary, so it would pick others")
        # f' = f * |d| and d' = d / |d| give the same reconstruction, and the same ranking with rescaling.
        W_enc, b_enc, W_dec = W_enc * norms, b_enc * norms, W_dec / norms.clamp_min(1e-12)[:, None]
        if not unit:
            notes.append("decoder rows were not unit norm: folded into the encoder (latents scale by the row norms)")
    tied = bool(torch.equal(W_dec, W_enc.T))
    ours = {"W_enc": W_enc.contiguous(), "b_enc": b_enc.contiguous(), "b_dec": b_dec.contiguous()}
    if not tied:
        ours["W_dec"] = W_dec.contiguous()
    return Converted("topk" if arch == "topk" else "relu", k, tied, ours, notes)


def recorded_config(cfg: dict[str, Any], converted: Converted) -> tuple[Any | None, str | None]:
    """The run config an export of ours recorded, made one instance, when it still describes these weights; else
    None and why (None when nothing was recorded)."""
    from ..config import SAERunConfig

    meta = (cfg.get("metadata") or {}).get(MARKER) if isinstance(cfg.get("metadata"), dict) else None
    if not isinstance(meta, dict) or "run_config" not in meta:
        return None, None
    try:
        config = SAERunConfig.model_validate(meta["run_config"])
        k = int(meta.get("instance", 0))
        if k < 0:
            raise IndexError(f"instance {k}")
        l1 = config.model.resolved_l1(config.model.n_instances)[k] if config.model.activation == "relu" else None
    except (ValueError, TypeError, IndexError, SuperpositionError) as e:
        return None, f"the recorded run config is not valid ({' '.join(str(e).split())[:120]})"
    m, d_in, d_sae = config.model, converted.tensors["W_enc"].shape[0], converted.tensors["W_enc"].shape[1]
    if (config.source.d_in, m.d_sae, m.activation, m.k) != (d_in, d_sae, converted.activation, converted.k):
        return None, "the recorded run config no longer matches the weights"
    model = m.model_copy(update=dict(l1=l1, tied=converted.tied))
    train = config.train.model_copy(update=dict(device="cpu", snapshots=0))  # no snapshots come with the weights
    return config.model_copy(update=dict(model=model, train=train)), None


class _Stored:
    """The tensors `save_run` stores, exactly as given: the model would store its decoder renormalised, and
    renormalising unit rows can move their last bit, which would break a bit-exact round trip."""

    def __init__(self, tensors: dict[str, torch.Tensor]):
        self.tensors = tensors

    def weights(self) -> dict[str, torch.Tensor]:
        return self.tensors


def import_saelens(path: str | Path, out: str | Path, *, overwrite: bool = False,
                   synthetic_source: bool = False) -> tuple[Any, list[str]]:
    """Read SAELens directory `path` and save it as one of our SAE runs at `out` (one instance). Returns the run
    (loaded back) and notes on what the conversion decided."""
    import pandas as pd

    from ..config import SAERunConfig, SAESourceConfig
    from ..config.sae import SAEConfig
    from . import family_of
    from ..models import SparseAutoencoder
    from ..runs import Run, check_output, load_run, save_run

    check_output(out, overwrite=overwrite)
    cfg, tensors = read_saelens(path)
    converted = convert(cfg, tensors)
    d_in, d_sae = converted.tensors["W_enc"].shape
    config, why = (None, None) if synthetic_source else recorded_config(cfg, converted)
    notes = list(converted.notes) + ([f"{why}; recording a synthetic source"] if why else [])
    if config is None:
        model_config = SAEConfig(d_sae=d_sae, activation=converted.activation, k=converted.k, tied=converted.tied)
        config = SAERunConfig(source=SAESourceConfig(kind="sphere", d=d_in), model=model_config)
        notes.append(f"source unknown: recorded synthetic data in {d_in} dimensions (sphere, {config.source.n_features} "
                     "features); the training settings are the defaults")
    else:
        notes.append(f"source: the {config.source.kind} source recorded at export")
    family = family_of(config)
    try:
        data = family.build_data(config, "cpu", None)
    except SuperpositionError as e:
        raise ConfigError(f"the recorded source cannot be read ({e}); pass --synthetic-source to import without it") from None
    model = SparseAutoencoder.from_weights(**{k: v[None] for k, v in converted.tensors.items()}, config=config.model)
    model.eval()
    with torch.no_grad():  # the one history row: the loss on a batch of the recorded source
        batch = data.sample(LOSS_SAMPLES, torch.Generator().manual_seed(config.train.seed + LOSS_SALT))
        loss = float(model.loss(batch)[0])
    history = pd.DataFrame({"step": [config.train.steps], "instance": [0], "loss": [loss]})
    stored = _Stored({k: v[None].contiguous() for k, v in converted.tensors.items()})
    truth = family.truth(config, data) if family.truth is not None else None
    save_run(Run(config=config, model=stored, history=history, truth=truth), out, overwrite=overwrite)
    return load_run(out, device="cpu"), notes
