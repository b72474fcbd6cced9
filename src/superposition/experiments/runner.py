"""Run experiments: train (or reuse) their runs, analyze them, time them.

Trained runs are cached under `OUT/runs/<experiment>/<run>-<hash>`, the hash being that of the run's full config,
so re-running a report after a change in analysis or figures reuses every run whose config did not change (and
measures it again with the current analysis).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, SuperpositionError
from ..families import family_of
from ..lab import analyze, train_run
from ..runs import Run, load_run
from .base import Experiment, Findings, complete


def config_hash(config: Any) -> str:
    """A short, stable digest of everything that determines a run."""
    return hashlib.sha256(config.to_json().encode()).hexdigest()[:12]


@dataclass
class Section:
    """One experiment's outcome: its findings, how long it took, and how many runs were trained or reused."""

    experiment: Experiment
    findings: Findings
    seconds: float
    trained: int
    reused: int


def select(experiments: Sequence[Experiment], only: Sequence[str] | None) -> list[Experiment]:
    """The experiments named in `only` (all when None), in registry order; unknown names are an error."""
    if not only:
        return list(experiments)
    names = [e.name for e in experiments]
    unknown = [n for n in only if n not in names]
    if unknown:
        raise ConfigError(f"unknown experiment {unknown[0]!r}; choose from {', '.join(names)}")
    return [e for e in experiments if e.name in only]


def cached_run(config: Any, directory: Path, *, progress: bool, description: str) -> tuple[Run, bool]:
    """Load the run of `config` from `directory` if it is there and intact, else train and save it.
    Returns the run and whether it was reused."""
    if directory.exists():
        try:
            run = load_run(directory)
            if run.config == config:
                run.metrics = analyze(run)  # the stored table may predate a change in the analysis
                return run, True
        except SuperpositionError:
            pass  # corrupt or stale: train it again, replacing it atomically
    # A stale or corrupt cached run is one of ours (named by its config hash): replace it.
    return train_run(config, directory, overwrite=True, progress=progress, description=description), False


def run_experiment(
    experiment: Experiment, out: Path, quick: bool, *, progress: bool = True, say: Callable[[str], None] = print
) -> Section:
    start = time.perf_counter()
    configs = experiment.configs(quick)
    runs: dict[str, Run] = {}
    reused = 0
    for name, config in configs.items():
        resolve = family_of(config).resolve
        if resolve is not None:  # a run that reads another (an SAE on a toy run): point it at that run's directory
            config = resolve(config, runs)
        directory = out / "runs" / experiment.name / f"{name}-{config_hash(config)}"
        run, was_cached = cached_run(config, directory, progress=progress, description=f"{experiment.name}/{name}")
        runs[name] = run
        reused += was_cached
        if was_cached:
            say(f"  {experiment.name}/{name}: reused {directory}")
    findings = complete(experiment, experiment.analyze(runs, quick))
    return Section(experiment, findings, time.perf_counter() - start, trained=len(configs) - reused, reused=reused)
