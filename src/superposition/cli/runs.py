"""The commands on one run: `train` and `analyze` of each family (generated from its config class by
`superposition.commands`), and `plot`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from ..errors import ConfigError
from .common import echo_json, print_tables


def train(config: Any, out: Path, overwrite: bool, quiet: bool, as_json: bool) -> None:
    from ..families import family_of
    from ..lab import train_run

    run = train_run(config, out, overwrite=overwrite, progress=not quiet and not as_json)
    family = family_of(config)
    if as_json:
        echo_json({"run": str(out), "final_loss": run.final_loss(),
                    "instances": family.cli.document(run)["instances"]})
    else:
        typer.echo(family.cli.saved(run))


def show(config_class: Any, run_dir: Path, as_json: bool) -> None:
    from ..families import family_of
    from ..provenance import describe
    from ..runs import load_run

    run = load_run(run_dir, device="cpu")
    family = family_of(run)
    if family.config is not config_class:
        raise ConfigError(f"{run_dir} is a {family.name} run; use `{family.command('analyze')}`")
    doc = family.cli.document(run)
    if as_json:
        echo_json({**doc, "provenance": run.provenance})  # null for a run saved before provenance was recorded
    else:
        print_tables(family.cli.tables(doc))
        typer.echo(describe(run.provenance))


def plot(
    run_dir: Path = typer.Argument(..., help="A run directory of any family, or a sweep directory."),
    out: Path = typer.Option(..., "--out", help="File to write: an .html page of every figure (offline), or an "
                             ".svg/.png image per figure (several: the name's stem + -1, -2, ...)."),
    fmt: Optional[str] = typer.Option(None, "--format", help="html, svg or png (default: --out's suffix tells)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace files written by superposition."),
) -> None:
    """Draw a run's figures (or a sweep's results over its axes) into one offline HTML file, or SVG or PNG images."""
    from ..families import family_of
    from ..figure_files import prepare_output, write_figures
    from ..runs import load_run
    from ..sweeps.store import is_sweep_directory

    fmt = prepare_output(out, fmt, overwrite=overwrite)  # before loading: the format, the paths, the browser
    if is_sweep_directory(run_dir):  # a sweep's results over its axes (superposition.sweeps.figures)
        from ..sweeps.figures import sweep_figures

        figures, title = sweep_figures(run_dir)
    else:
        run = load_run(run_dir, device="cpu")
        family = family_of(run)
        figures, title = family.figures(run), family.title(run.config)
    written = write_figures(figures, out, fmt, title=title, overwrite=overwrite)
    typer.echo(f"wrote {', '.join(map(str, written))}")
