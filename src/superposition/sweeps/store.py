"""A sweep directory on disk, and what a worker does for one of its runs.

    DIR/sweep.json           the plan: the spec, its axes, every point (its axis values, run and instances) and
                             every run (its name and full config); written before anything trains
    DIR/points/<run>/        each run, a run directory (see `superposition.runs`), saved atomically when trained
    DIR/state/<run>.running  while a worker trains the run: its process id and host (left behind if it is killed)
    DIR/state/<run>.json     the outcome of the run's last attempt: done or failed (with the error), seconds, attempts
    DIR/results.csv          one row per point x analysis row (toy: instance x feature), with the axis values, the
                             status and error, the loss and every metric of the family's analysis
    DIR/results.parquet      the same table, where pyarrow is installed

A run counts as finished only when its directory loads intact with the planned config (`workers.cached_run`), so a
run killed mid-training or mid-save is trained again, and a finished one never is.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import SuperpositionError
from ..files import atomic_write_text, check_output_dir

if TYPE_CHECKING:
    import pandas as pd

    from .plan import RunPlan
    from .spec import Sweep

FORMAT = "superposition-sweep"
PLAN = "sweep.json"


@dataclass(frozen=True)
class Task:
    """One run for a worker: its name, config, run directory and running marker (all it needs, picklable)."""

    name: str
    config: Any
    directory: Path
    marker: Path


@dataclass(frozen=True)
class Trained:
    """What a worker sends back for a run: its metrics table, final loss per instance, seconds, and whether an
    intact run of the same config was reused instead of trained."""

    metrics: pd.DataFrame
    loss: list[float]
    seconds: float
    reused: bool


def train_task(task: Task) -> Trained:
    """Train (or reuse) one run of a sweep; the executors call this in their workers."""
    from ..workers import cached_run

    start = time.perf_counter()
    atomic_write_text(task.marker, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                               "started": time.time()}) + "\n")
    try:
        run, reused = cached_run(task.config, task.directory, progress=False, description=task.name)
        return Trained(run.table, run.final_loss(), time.perf_counter() - start, reused)
    finally:
        task.marker.unlink(missing_ok=True)


def tasks(out: Path, plans: list[RunPlan]) -> list[Task]:
    return [Task(p.name, p.config, out / "points" / p.name, out / "state" / f"{p.name}.running") for p in plans]


def is_sweep_directory(path: str | Path) -> bool:
    """Whether `path` holds a sweep.json that this library wrote."""
    try:
        return json.loads((Path(path) / PLAN).read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError, RecursionError):
        return False


def check_sweep_dir(out: str | Path) -> Path:
    """Validate a sweep directory before any training: new, empty, or a sweep written before (its runs are
    reused); never the working directory or a parent, a link, a file, or a directory holding other files."""
    return check_output_dir(out, what="a superposition sweep", ours=is_sweep_directory)


def write_plan(out: Path, sweep: Sweep, plans: list[RunPlan]) -> None:
    where = {m.point: (p.name, m.start, m.count) for p in plans for m in p.members}
    doc = {
        "format": FORMAT, "version": 1, "name": sweep.name, "family": sweep.points[0].config.family,
        "spec": sweep.spec.model_dump(mode="json"), "axes": sweep.axes,
        "points": [{"point": pt.index, "values": pt.values, "run": where[pt.index][0],
                    "instance": where[pt.index][1], "instances": where[pt.index][2]} for pt in sweep.points],
        "runs": [{"name": p.name, "points": [m.point for m in p.members], "config": p.config.model_dump(mode="json")}
                 for p in plans],
    }
    (out / "points").mkdir(parents=True, exist_ok=True)
    (out / "state").mkdir(exist_ok=True)
    atomic_write_text(out / PLAN, json.dumps(doc, indent=1) + "\n")


def read_plan(out: str | Path) -> dict[str, Any]:
    """sweep.json of a sweep directory; a one-line error for anything else."""
    out = Path(out)
    if not out.is_dir():
        raise SuperpositionError(f"sweep directory not found: {out}")
    if not is_sweep_directory(out):
        raise SuperpositionError(f"{out} is not a sweep directory (no sweep.json written by `superposition sweep`)")
    doc = json.loads((out / PLAN).read_text())
    if not all(isinstance(doc.get(k), t) for k, t in (("points", list), ("runs", list), ("axes", dict))):
        raise SuperpositionError(f"{out / PLAN} is corrupt: expected its points, runs and axes")
    return doc


def write_state(out: Path, name: str, state: dict[str, Any]) -> None:
    atomic_write_text(out / "state" / f"{name}.json", json.dumps({**state, "finished": time.time()}) + "\n")


def read_state(out: Path, name: str) -> dict[str, Any] | None:
    try:
        state = json.loads((out / "state" / f"{name}.json").read_text())
    except (OSError, ValueError, RecursionError):
        return None
    return state if isinstance(state, dict) else None


def running_on(out: Path, name: str) -> str | None:
    """Where a live worker trains the run now ("pid N on HOST"), or None: no marker, or its process is gone."""
    try:
        marker = json.loads((out / "state" / f"{name}.running").read_text())
        pid, host = int(marker["pid"]), str(marker["host"])
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None
    if host == socket.gethostname():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None  # a worker killed mid-run left its marker
        except PermissionError:
            pass
    return f"pid {pid} on {host}"


def write_results(out: Path, table: pd.DataFrame) -> list[Path]:
    """results.csv, and results.parquet where pyarrow is installed, each replaced atomically."""
    import importlib.util

    written = [atomic_write_text(out / "results.csv", table.to_csv(index=False))]
    if importlib.util.find_spec("pyarrow") is not None:
        tmp = out / ".results.parquet.tmp"
        table.to_parquet(tmp, index=False)
        os.replace(tmp, out / "results.parquet")
        written.append(out / "results.parquet")
    return written
