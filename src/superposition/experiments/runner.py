"""Run experiments: train (or reuse) their runs, analyze them, time them.

Trained runs are cached under `OUT/runs/<experiment>/<run>-<hash>`, the hash being that of the run's full config,
so re-running a report after a change in analysis or figures reuses every run whose config did not change (and
measures it again with the current analysis).
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, SuperpositionError
from ..executors import run_all
from ..families import family_of
from ..runs import Run, load_run
from ..train import thread_count
from ..workers import Job, cached_run, train_job
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


def run_directory(out: Path, experiment: Experiment, name: str, config: Any) -> Path:
    """Where the report caches one run: `OUT/runs/<experiment>/<run>-<config hash>`."""
    return out / "runs" / experiment.name / f"{name}-{config_hash(config)}"


def run_experiment(
    experiment: Experiment, out: Path, quick: bool, *, progress: bool = True, say: Callable[[str], None] = print,
    trained_before: tuple[float, int] | None = None,
) -> Section:
    """Train (or reuse) the experiment's runs, analyse them, and time it. `trained_before` is (seconds, runs) spent
    training its runs elsewhere beforehand (`train_all`): they are counted as trained and their time added."""
    start = time.perf_counter()
    configs = experiment.configs(quick)
    runs: dict[str, Run] = {}
    reused = 0
    for name, config in configs.items():
        resolve = family_of(config).resolve
        if resolve is not None:  # a run that reads another (an SAE on a toy run): point it at that run's directory
            config = resolve(config, runs)
        directory = run_directory(out, experiment, name, config)
        run, was_cached = cached_run(config, directory, progress=progress, description=f"{experiment.name}/{name}")
        runs[name] = run
        reused += was_cached
        if was_cached and trained_before is None:
            say(f"  {experiment.name}/{name}: reused {directory}")
    with thread_count(1):  # the analyses' toy-sized tensors run several times faster on one thread than on two
        findings = complete(experiment, experiment.analyze(runs, quick))
    seconds, trained = trained_before or (0.0, 0)
    return Section(experiment, findings, time.perf_counter() - start + seconds,
                   trained=len(configs) - reused + trained, reused=reused - trained)


def _jobs(experiments: Sequence[Experiment], out: Path, quick: bool, wave: int) -> list[Job]:
    """The runs of `experiments` that read no other run (wave 0), or those that do (wave 1: an SAE on a toy run,
    resolved against the wave-0 runs of its experiment, which are saved by then)."""
    jobs = []
    for e in experiments:
        configs = e.configs(quick)
        first = {n: c for n, c in configs.items() if family_of(c).resolve is None}
        if wave == 0:
            jobs += [Job(e.name, n, c, run_directory(out, e, n, c)) for n, c in first.items()]
            continue
        saved: dict[str, Run] = {}
        for name, config in configs.items():
            resolve = family_of(config).resolve
            if resolve is None:
                continue
            saved = saved or {n: load_run(run_directory(out, e, n, c)) for n, c in first.items()}
            config = resolve(config, saved)
            jobs.append(Job(e.name, name, config, run_directory(out, e, name, config)))
    return sorted(jobs, key=lambda j: -j.cost)


def train_all(experiments: Sequence[Experiment], out: Path, quick: bool, workers: int | None,
              say: Callable[[str], None] = print, ray: str | None = None) -> dict[str, tuple[float, int]]:
    """Train (or reuse) every run of `experiments` through `executors.run_all`: in `workers` local processes, or on
    the Ray cluster at `ray` (see `executors_ray`), one intra-op thread each, the longest first. Returns per
    experiment the seconds its runs took to train (summed over workers) and how many were trained. The weights are
    those a single process gives: each run is seeded by its config alone. A failed run fails the report with its
    error, and the runs not yet finished are stopped."""
    spent: dict[str, tuple[float, int]] = {e.name: (0.0, 0) for e in experiments}
    with contextlib.ExitStack() as stack:
        if ray is not None:  # one Ray for both waves, not one per wave
            from ..executors_ray import connected

            stack.enter_context(connected(ray))
        for wave in (0, 1):
            jobs = _jobs(experiments, out, quick, wave)
            if not jobs:
                continue
            outcomes = run_all(train_job, jobs, workers=workers, ray=ray, threads=1)
            try:
                for outcome in outcomes:
                    if outcome.result is None:
                        job = outcome.item
                        raise SuperpositionError(f"training {job.experiment}/{job.name} failed: {outcome.error}")
                    job, seconds, reused = outcome.result
                    if not reused:
                        total, count = spent[job.experiment]
                        spent[job.experiment] = (total + seconds, count + 1)
                        say(f"  trained {job.experiment}/{job.name} ({seconds:.1f} s)")
            finally:  # stopped at a failure: the executor stops the runs not yet finished
                getattr(outcomes, "close", lambda: None)()
    return spent
