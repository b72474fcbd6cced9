"""`superposition sae export RUN --format saelens --out DIR` and `superposition sae import DIR --out RUN`: our sparse
autoencoders to and from SAELens directories (the conversion lives in `superposition.families.saelens`).

Neither command needs SAELens installed; the `[interop]` extra installs it to load the exports with its own code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import ConfigError
from .common import echo_json

FORMATS = ("saelens",)


def export(
    run_dir: Path = typer.Argument(..., help="A sparse-autoencoder run directory."),
    fmt: str = typer.Option("saelens", "--format", help="The format to write (saelens)."),
    out: Path = typer.Option(..., "--out", help="Directory to write: DIR itself for one autoencoder, else "
                                                "DIR/instance-K for each."),
    instance: Optional[int] = typer.Option(None, "--instance", min=0,
                                           help="Export this autoencoder only, into DIR itself."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an export written by superposition."),
    as_json: bool = typer.Option(False, "--json", help="Print the directories written as JSON."),
) -> None:
    """Write a sparse-autoencoder run as SAELens directories (cfg.json + sae_weights.safetensors), which
    SAELens' SAE.load_from_disk reads."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    from ..families.saelens import export_saelens

    written = export_saelens(run_dir, out, instance=instance, overwrite=overwrite)
    if as_json:
        echo_json({"run": str(run_dir), "format": fmt, "directories": [str(p) for p in written]})
    else:
        typer.echo(f"wrote {len(written)} SAELens director{'y' if len(written) == 1 else 'ies'}: "
                   + ", ".join(str(p) for p in written))


def import_run(
    saelens_dir: Path = typer.Argument(..., help="A SAELens directory (cfg.json + sae_weights.safetensors)."),
    out: Path = typer.Option(..., "--out", help="The run directory to write."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run directory."),
    synthetic_source: bool = typer.Option(
        False, "--synthetic-source", help="Record a synthetic source even when the directory names the run it came "
                                          "from."),
    as_json: bool = typer.Option(False, "--json", help="Print the imported run's summary as JSON."),
) -> None:
    """Turn a SAELens SAE (standard/ReLU or topk) into a sparse-autoencoder run directory."""
    from ..families.saelens import import_saelens

    run, notes = import_saelens(saelens_dir, out, overwrite=overwrite, synthetic_source=synthetic_source)
    m = run.config.model
    summary = {"run": str(out), "activation": m.activation, "k": m.k, "tied": m.tied, "d_in": run.config.source.d_in,
               "d_sae": m.d_sae, "source": run.config.source.kind, "notes": notes}
    if as_json:
        echo_json(summary)
        return
    kind = f"topk, k={m.k}" if m.activation == "topk" else "relu"
    typer.echo(f"saved {out} (SAE {kind}, d_in={summary['d_in']}, d_sae={m.d_sae}, {'tied' if m.tied else 'untied'})")
    for note in notes:
        typer.echo(f"  {note}")
