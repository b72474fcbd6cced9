"""The commands on the literature's experiments: `reproduce` (the report) and `bench` (the trainer's speed)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from ..errors import ConfigError
from .common import echo_json


def reproduce(
    quick: bool = typer.Option(False, "--quick", help="Fewer steps and smaller sweeps (CI-sized)."),
    only: Optional[str] = typer.Option(None, "--only", help="Comma-separated experiment names."),
    out: Path = typer.Option(Path("reports/superposition"), "--out", help="Report directory."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 if any claim is not reproduced."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress display."),
    as_json: bool = typer.Option(False, "--json", help="Print claims.json's content instead of a summary line."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1,
                                          help="Processes that train the runs (default: the machine's cores)."),
    ray: Optional[str] = typer.Option(None, "--ray", metavar="auto|ADDRESS|local",
                                      help="Train the runs as Ray tasks: 'auto' (this machine's cluster), "
                                           "HOST:PORT or ray://HOST:PORT, or 'local' (start one here). Needs .[ray]."),
) -> None:
    """Train the literature's experiments, check their claims, write OUT/index.html and OUT/claims.json."""
    import time

    from ..experiments import EXPERIMENTS
    from ..experiments.runner import run_experiment, select, train_all
    from ..report import check_report_dir, write_report

    names = None if only is None else [n.strip() for n in only.split(",") if n.strip()]
    if names == []:
        raise ConfigError(f"--only {only!r} names no experiment")
    chosen = select(EXPERIMENTS, names)
    check_report_dir(out)
    quiet = quiet or as_json
    say = (lambda msg: None) if quiet else (lambda msg: typer.echo(msg, err=True))
    start = time.perf_counter()
    if ray is not None and workers is not None:
        raise ConfigError("--ray and --workers exclude each other: Ray decides where the runs train")
    workers = workers or os.cpu_count() or 1
    spent = None
    if ray is not None:  # every run as a Ray task first; then analyse here, in order (all runs are saved by then)
        say(f"training the runs of {len(chosen)} experiment(s) on Ray ({ray})")
        spent = train_all(chosen, out, quick, None, say=say, ray=ray)
    elif workers > 1:  # train every run first, in parallel; then analyse in order (all runs are cached by then)
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
        echo_json(doc)
    else:
        m, x = s["by_kind"]["measured"], s["by_kind"]["exact"]
        typer.echo(f"wrote {out / 'index.html'} and {out / 'claims.json'}: {s['reproduced']} of {s['claims']} claims "
                   f"reproduced ({m['reproduced']} of {m['claims']} measured, {x['reproduced']} of {x['claims']} exact)")
    if strict and s["not_reproduced"]:
        raise typer.Exit(1)


def bench(
    steps: int = typer.Option(2000, "--steps", min=10, help="Steps per timed round."),
    repeats: int = typer.Option(3, "--repeats", min=1, help="Timed rounds per trainer (the median is reported)."),
    loss_steps: int = typer.Option(10_000, "--loss-steps", min=100, help="Steps for the final-loss comparison."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Time our trainer against a plain notebook-style loop on the intro configuration, in the same run."""
    from ..bench import format_report, run_benchmark

    result = run_benchmark(steps=steps, repeats=repeats, loss_steps=loss_steps, progress=not as_json)
    echo_json(result) if as_json else typer.echo(format_report(result))
