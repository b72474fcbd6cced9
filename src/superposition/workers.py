"""Training runs in worker processes (`reproduce --workers`): what a worker needs and nothing more, so that a
spawned worker imports the models and the trainer but not the experiments.

A run is cached in its directory: `cached_run` reuses an intact run of the same config, else trains and saves it
atomically, so a worker killed midway leaves no run that passes for finished.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import SuperpositionError
from .families import family_of
from .lab import analyze, train_run
from .runs import Run, load_run


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


@dataclass(frozen=True)
class Job:
    """One run an experiment needs, for a worker process: its config and the directory that caches it."""

    experiment: str
    name: str
    config: Any
    directory: Path

    @property
    def cost(self) -> int:
        """A rough size of the training (steps x the values alive in a step), to start the longest first."""
        parameters, other = family_of(self.config).memory(self.config)
        return self.config.train.steps * (parameters + other)


def train_job(job: Job) -> tuple[Job, float, bool]:
    start = time.perf_counter()
    _, reused = cached_run(job.config, job.directory, progress=False, description=f"{job.experiment}/{job.name}")
    return job, time.perf_counter() - start, reused
