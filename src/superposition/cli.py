"""The `superposition` command: wiring and printing. Each run family's `train` and `analyze` are generated from its
config (`commands`); `plot`, `reproduce` and `bench` work on any run.

Every failure the user can fix (a bad value, a missing file) is printed as one line and exits with status 2.
"""

from __future__ import annotations

import functools
import json
import math
import os
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from .errors import ConfigError, SuperpositionError

def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _one_line_errors(command: Callable[..., None]) -> Callable[..., None]:
    """Turn the errors a user can fix (bad values, missing or unwritable files) into one line and exit status 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
        except SuperpositionError as e:
            _fail(str(e))
        except OSError as e:
            _fail(f"{e.strerror or e}{f': {e.filename}' if e.filename else ''}")
        except MemoryError:
            _fail("out of memory: the run does not fit on this machine; reduce the sizes")

    return wrapper


def _json_safe(value: Any) -> Any:
    """NaN and infinity are not JSON: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _echo_json(value: Any) -> None:
    typer.echo(json.dumps(_json_safe(value), indent=2))


def _print_tables(tables: list) -> None:
    """Rich tables of rows; columns whose key the rows lack are left out."""
    from rich.console import Console
    from rich.table import Table as RichTable

    console = Console()
    if not console.is_terminal:
        console = Console(width=200)  # piped output: wide enough that each row stays on one line
    for t in tables:
        columns = [c for c in t.columns if t.rows and c[1] in t.rows[0]]
        table = RichTable(title=t.title)
        for heading, _, _ in columns:
            table.add_column(heading)
        for row in t.rows:
            table.add_row(*("" if row[key] is None else fmt.format(row[key]) for _, key, fmt in columns))
        console.print(table)


def _train(config: Any, out: Path, overwrite: bool, quiet: bool, as_json: bool) -> None:
    from .families import family_of
    from .lab import train_run

    run = train_run(config, out, overwrite=overwrite, progress=not quiet and not as_json)
    family = family_of(config)
    if as_json:
        _echo_json({"run": str(out), "final_loss": run.final_loss(),
                    "instances": family.cli.document(run)["instances"]})
    else:
        typer.echo(family.cli.saved(run))


def _show(family: Any, run_dir: Path, as_json: bool) -> None:
    from .families import family_of
    from .runs import load_run

    run = load_run(run_dir, device="cpu")
    actual = family_of(run)
    if actual is not family:
        raise ConfigError(f"{run_dir} is a {actual.name} run; use `{actual.command('analyze')}`")
    doc = family.cli.document(run)
    _echo_json(doc) if as_json else _print_tables(family.cli.tables(doc))


@_one_line_errors
def plot(
    run_dir: Path = typer.Argument(..., help="A run directory of any family."),
    out: Path = typer.Option(..., "--out", help="HTML file to write (one offline file)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an HTML file written by superposition."),
) -> None:
    """Draw a run's figures into one offline HTML file."""
    from .families import family_of
    from .files import check_output_file
    from .pages import write_html
    from .runs import load_run

    if out.suffix.lower() not in (".html", ".htm"):
        raise ConfigError(f"--out must name an .html file, got {out}")
    check_output_file(out, overwrite=overwrite)
    run = load_run(run_dir, device="cpu")
    family = family_of(run)
    write_html(family.figures(run), out, title=family.title(run.config))
    typer.echo(f"wrote {out}")


@_one_line_errors
def reproduce(
    quick: bool = typer.Option(False, "--quick", help="Fewer steps and smaller sweeps (CI-sized)."),
    only: Optional[str] = typer.Option(None, "--only", help="Comma-separated experiment names."),
    out: Path = typer.Option(Path("reports/superposition"), "--out", help="Report directory."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 if any claim is not reproduced."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress display."),
    as_json: bool = typer.Option(False, "--json", help="Print claims.json's content instead of a summary line."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1,
                                          help="Processes that train the runs (default: the machine's cores)."),
) -> None:
    """Train the literature's experiments, check their claims, write OUT/index.html and OUT/claims.json."""
    import time

    from .experiments import EXPERIMENTS
    from .experiments.runner import run_experiment, select, train_all
    from .report import check_report_dir, write_report

    names = None if only is None else [n.strip() for n in only.split(",") if n.strip()]
    if names == []:
        raise ConfigError(f"--only {only!r} names no experiment")
    chosen = select(EXPERIMENTS, names)
    check_report_dir(out)
    quiet = quiet or as_json
    say = (lambda msg: None) if quiet else (lambda msg: typer.echo(msg, err=True))
    start = time.perf_counter()
    workers = workers or os.cpu_count() or 1
    spent = None
    if workers > 1:  # train every run first, in parallel; then analyse in order (all runs are cached by then)
        say(f"training the runs of {len(chosen)} experiment(s) in {workers} worker processes")
        spent = train_all(chosen, out, quick, workers, say=say)
    sections = []
    for i, experiment in enumerate(chosen, start=1):
        say(f"[{i}/{len(chosen)}] {experiment.name}: {experiment.title}")
        section = run_experiment(experiment, out, quick, progress=not quiet, say=say,
                                 trained_before=None if spent is None else spent[experiment.name])
        sections.append(section)
        verdicts = [c.reproduced for c in section.findings.claims]
        say(f"  {sum(verdicts)} of {len(verdicts)} claims reproduced ({section.seconds:.1f} s)")
    doc = write_report(out, sections, quick, time.perf_counter() - start)
    s = doc["summary"]
    if as_json:
        _echo_json(doc)
    else:
        m, x = s["by_kind"]["measured"], s["by_kind"]["exact"]
        typer.echo(f"wrote {out / 'index.html'} and {out / 'claims.json'}: {s['reproduced']} of {s['claims']} claims "
                   f"reproduced ({m['reproduced']} of {m['claims']} measured, {x['reproduced']} of {x['claims']} exact)")
    if strict and s["not_reproduced"]:
        raise typer.Exit(1)


@_one_line_errors
def bench(
    steps: int = typer.Option(2000, "--steps", min=10, help="Steps per timed round."),
    repeats: int = typer.Option(3, "--repeats", min=1, help="Timed rounds per trainer (the median is reported)."),
    loss_steps: int = typer.Option(10_000, "--loss-steps", min=100, help="Steps for the final-loss comparison."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Time our trainer against a plain notebook-style loop on the intro configuration, in the same run."""
    from .bench import format_report, run_benchmark

    result = run_benchmark(steps=steps, repeats=repeats, loss_steps=loss_steps, progress=not as_json)
    _echo_json(result) if as_json else typer.echo(format_report(result))



def build_app() -> typer.Typer:
    """The command line of every registered family (its `train` and `analyze`, generated from its config), with
    `plot`, `reproduce` and `bench`. Built again after a family registers, to give it commands."""
    from .commands import analyze_command, train_command
    from .families import REGISTRY

    root = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                       help="A laboratory for superposition: train toy models, measure and draw how they pack features.")
    def add(group: typer.Typer, family: Any) -> None:
        group.command("train")(_one_line_errors(train_command(family, _train)))
        group.command("analyze")(_one_line_errors(analyze_command(family, _show)))

    for family in REGISTRY.values():  # the top-level family's train and analyze come first
        if family.cli.command is None:
            add(root, family)
    for command in (plot, reproduce, bench):
        root.command()(command)
    root.command("llc")(_one_line_errors(__import__("superposition.llc_cli", fromlist=["llc"]).llc))  # devinterp's LLC
    for family in REGISTRY.values():
        if family.cli.command is not None:
            group = typer.Typer(no_args_is_help=True, help=family.cli.help)
            add(group, family)
            root.add_typer(group, name=family.cli.command)
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


if __name__ == "__main__":
    main()
