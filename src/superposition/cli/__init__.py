"""The `superposition` command: its wiring. Each run family's `train` and `analyze` are generated from its config
class (`superposition.commands`); `plot` (`runs`), `reproduce` and `bench` (`report`) and `llc` work on any run.
Building the command line imports neither torch nor pandas: every command imports what it needs when it runs, so
`--help` answers at once.

Every failure the user can fix (a bad value, a missing file) is printed as one line and exits with status 2.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import typer

from .common import one_line_errors


# The commands beside the families' `train` and `analyze`: (group or None for the top level, name, "module:function").
# A command module imports its heavy dependencies inside the command, so building the command line stays light.
COMMANDS: list[tuple[str | None, str, str]] = [
    (None, "plot", "superposition.cli.runs:plot"),
    (None, "reproduce", "superposition.cli.report:reproduce"),
    (None, "bench", "superposition.cli.report:bench"),
    (None, "sweep", "superposition.cli.sweep:sweep"),  # a grid of runs, resumable; `sweep status DIR`
    (None, "llc", "superposition.llc_cli:llc"),  # devinterp's local learning coefficient
    ("sae", "export", "superposition.cli.sae_io:export"),  # SAELens directories
    ("sae", "import", "superposition.cli.sae_io:import_run"),
]


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"superposition {__version__}")
        raise typer.Exit()


def _load(target: str) -> Any:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def build_app() -> typer.Typer:
    """The command line of every registered family (its `train` and `analyze`, generated from its config class),
    with the `COMMANDS`. Built again after a family registers, to give it commands."""
    from ..commands import analyze_command, train_command
    from ..config import RUN_CONFIGS
    from .runs import show, train

    # Plain help (click's), not rich's: rendering help with rich would double `--help`'s time.
    root = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                       rich_markup_mode=None,
                       help="A laboratory for superposition: train toy models, measure and draw how they pack features.")

    @root.callback()
    def _root(version: bool = typer.Option(False, "--version", is_eager=True, callback=_version,
                                           help="Print the package's version and exit.")) -> None:
        pass

    def add(group: typer.Typer, config: Any) -> None:
        group.command("train")(one_line_errors(train_command(config, train)))
        group.command("analyze")(one_line_errors(analyze_command(config, show)))

    for config in RUN_CONFIGS.values():  # the top-level family's train and analyze come first
        if config.command_line.command is None:
            add(root, config)
    for group_name, name, target in COMMANDS:
        if group_name is None:
            root.command(name)(one_line_errors(_load(target)))
    for config in RUN_CONFIGS.values():
        spec = config.command_line
        if spec.command is not None:
            group = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help=spec.help)
            add(group, config)
            for group_name, name, target in COMMANDS:
                if group_name == spec.command:
                    group.command(name)(one_line_errors(_load(target)))
            root.add_typer(group, name=spec.command)
    return root


app = build_app()


def _usage_error(e: BaseException) -> bool:
    """A command-line parsing error of typer's click (vendored or not): it knows its message and exit code."""
    return hasattr(e, "format_message") and hasattr(e, "exit_code") and hasattr(e, "ctx")


def main(argv: list[str] | None = None) -> None:
    """The console script: every error a user can cause ends in one `error: ...` line and exit status 2."""
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="superposition", standalone_mode=False)
    except (KeyboardInterrupt, typer.Abort):
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - the last line of defence between a user and a traceback
        if _usage_error(e):
            if type(e).__name__ == "NoArgsIsHelpError":  # a bare group: typer has printed its help
                sys.exit(0)
            typer.echo(f"error: {' '.join(e.format_message().split())} (see --help)", err=True)  # type: ignore[attr-defined]
            sys.exit(2)
        if os.environ.get("SUPERPOSITION_DEBUG"):
            raise
        typer.echo(f"error: unexpected {type(e).__name__}: {' '.join(str(e).split())[:300]} (this is a bug; "
                   "SUPERPOSITION_DEBUG=1 shows the traceback)", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)

