"""`superposition sweep SPEC --out DIR` (train a grid of run configs, resumably) and `superposition sweep status DIR`
(where it stands)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from ..errors import ConfigError
from .common import echo_json, print_tables


def sweep(
    spec: str = typer.Argument(..., help="The sweep's spec file (.yaml or .json), or the word "
                               "`status` followed by a sweep directory."),
    directory: Optional[Path] = typer.Argument(None, metavar="DIR", help="With `status`: the sweep directory."),
    out: Optional[Path] = typer.Option(None, "--out", help="The sweep directory: new, empty, or a sweep to resume."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1,
                                          help="Local worker processes, one thread each (default: the machine's "
                                          "cores; 1 trains in this process)."),
    ray: Optional[str] = typer.Option(None, "--ray", metavar="auto|ADDRESS|local",
                                      help="Train on a Ray cluster instead (pip install -e \".[ray]\"); every node "
                                      "must see DIR on a shared file system."),
    retries: int = typer.Option(2, "--retries", min=0, help="Retries of a run whose worker process died."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress lines."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary (or the status) as JSON."),
) -> None:
    """Train every point of a sweep spec into DIR/points, write DIR/results.csv, and resume when run again.

    `superposition sweep SPEC --out DIR` runs the sweep (exit 1 if any point failed; its error is in the results);
    `superposition sweep status DIR` counts its points done, running, failed and pending.
    """
    if spec == "status":
        if directory is None:
            raise ConfigError("sweep status needs the sweep directory: superposition sweep status DIR")
        if out is not None or workers is not None or ray is not None:
            raise ConfigError("sweep status takes only the sweep directory (and --json)")
        status(directory, as_json)
        return
    if directory is not None:
        raise ConfigError(f"unexpected argument {str(directory)!r}; give the sweep directory with --out "
                          "(superposition sweep SPEC --out DIR)")
    if out is None:
        raise ConfigError("--out is required: the directory the sweep writes (superposition sweep SPEC --out DIR)")
    if workers is not None and ray is not None:
        raise ConfigError("give --workers (local processes) or --ray (a Ray cluster), not both")
    run(Path(spec), out, workers, ray, retries, quiet or as_json, as_json)


def run(spec: Path, out: Path, workers: int | None, ray: str | None, retries: int, quiet: bool,
        as_json: bool) -> None:
    from ..sweeps import check_sweep_dir, load_sweep, run_sweep

    check_sweep_dir(out)  # before the spec's hundreds of points are validated, and again before training
    sweep = load_sweep(spec)
    say = (lambda msg: None) if quiet else (lambda msg: typer.echo(msg, err=True))
    result = run_sweep(sweep, out, workers=workers, ray=ray, retries=retries, say=say)
    points = len(sweep.points)
    failed = result.failed_points
    doc: dict[str, Any] = {
        "sweep": str(out), "name": sweep.name, "points": points, "failed_points": failed,
        "runs": {"trained": result.trained, "reused": result.reused, "failed": len(result.failed)},
        "errors": result.failed, "results": [str(f) for f in result.files], "seconds": round(result.seconds, 3),
    }
    if as_json:
        echo_json(doc)
    else:
        typer.echo(f"wrote {', '.join(map(str, result.files))}: {points - failed} of {points} points done "
                   f"({result.trained} runs trained, {result.reused} reused, {len(result.failed)} failed) in "
                   f"{result.seconds:.1f} s")
    if failed:
        raise typer.Exit(1)


def status(directory: Path, as_json: bool) -> None:
    from ..families import Table
    from ..sweeps import sweep_status
    from ..sweeps.status import summary_line

    doc = sweep_status(directory)
    if as_json:
        echo_json(doc)
        return
    typer.echo(summary_line(doc))
    print_tables([Table(f"sweep {doc['name']}", doc["table"], [
        ("run", "run", "{}"), ("status", "status", "{}"), ("points", "points", "{}"), ("seconds", "seconds", "{:.1f}"),
        ("attempts", "attempts", "{}"), ("where", "where", "{}"), ("error", "error", "{}")])])
