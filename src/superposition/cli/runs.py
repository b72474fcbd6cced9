"""The commands on one run: `train` and `analyze` of each family (generated from its config class by
`superposition.commands`), and `plot`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    from ..runs import load_run

    run = load_run(run_dir, device="cpu")
    family = family_of(run)
    if family.config is not config_class:
        raise ConfigError(f"{run_dir} is a {family.name} run; use `{family.command('analyze')}`")
    doc = family.cli.document(run)
    echo_json(doc) if as_json else print_tables(family.cli.tables(doc))


def plot(
    run_dir: Path = typer.Argument(..., help="A run directory of any family."),
    out: Path = typer.Option(..., "--out", help="HTML file to write (one offline file)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an HTML file written by superposition."),
) -> None:
    """Draw a run's figures into one offline HTML file."""
    from ..families import family_of
    from ..files import check_output_file
    from ..pages import write_html
    from ..runs import load_run

    if out.suffix.lower() not in (".html", ".htm"):
        raise ConfigError(f"--out must name an .html file, got {out}")
    check_output_file(out, overwrite=overwrite)
    run = load_run(run_dir, device="cpu")
    family = family_of(run)
    write_html(family.figures(run), out, title=family.title(run.config))
    typer.echo(f"wrote {out}")
