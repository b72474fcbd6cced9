"""Running a sweep: plan its runs, train them through an executor (local processes or Ray), record each outcome as
it comes, and gather one tidy results table.

A run that raises is recorded with its error and the others finish. Re-running the same spec into the same
directory resumes it: a run whose directory is intact with the same config is reused, never retrained.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..executors import Outcome, run_all
from .plan import RunPlan, plan_runs
from .spec import Sweep
from .store import Task, Trained, check_sweep_dir, tasks, train_task, write_plan, write_results, write_state

if TYPE_CHECKING:
    import pandas as pd

LEAD = ["point", "run", "run_instance", "instance"]


@dataclass
class SweepResult:
    """A finished sweep: its results table, and per run how it ended."""

    table: pd.DataFrame
    files: list[Path]
    trained: int
    reused: int
    failed: dict[str, str]  # run name -> error
    seconds: float

    @property
    def failed_points(self) -> int:
        return int(self.table.loc[self.table.status == "failed", "point"].nunique())


def run_sweep(sweep: Sweep, out: str | Path, *, workers: int | None = None, ray: str | None = None,
              retries: int = 2, say: Callable[[str], None] = lambda _: None) -> SweepResult:
    """Train (or reuse) every run of `sweep` into `out` and write its results table."""
    import time

    out = check_sweep_dir(out)
    plans = plan_runs(sweep)
    start = time.perf_counter()
    work = tasks(out, plans)
    # The executor checks its arguments (and that Ray is installed) now; nothing runs before the first outcome.
    results = run_all(train_task, work, workers=workers, ray=ray, retries=retries)
    write_plan(out, sweep, plans)
    say(f"sweep {sweep.name}: {len(sweep.points)} points in {len(plans)} runs -> {out}")
    outcomes: dict[str, Outcome[Task, Trained]] = {}
    members = {p.name: len(p.members) for p in plans}
    for k, outcome in enumerate(results, start=1):
        name = outcome.item.name
        outcomes[name] = outcome
        n = members[name]
        what = f"{n} point{'s' if n != 1 else ''}"
        again = f" after {outcome.attempts} attempts" if outcome.attempts > 1 else ""
        if outcome.result is not None:
            r = outcome.result
            write_state(out, name, {"status": "done", "error": None, "seconds": r.seconds, "reused": r.reused,
                                    "attempts": outcome.attempts})
            say(f"[{k}/{len(work)}] {name}: {'reused' if r.reused else 'trained'} {what}{again} ({r.seconds:.1f} s)")
        else:
            write_state(out, name, {"status": "failed", "error": outcome.error, "attempts": outcome.attempts})
            say(f"[{k}/{len(work)}] {name}: FAILED {what}{again}: {outcome.error}")
    table = results_table(sweep, plans, outcomes)
    files = write_results(out, table)
    done = [o.result for o in outcomes.values() if o.result is not None]
    return SweepResult(table, files, trained=sum(not r.reused for r in done), reused=sum(r.reused for r in done),
                       failed={n: o.error or "" for n, o in outcomes.items() if o.result is None},
                       seconds=time.perf_counter() - start)


def _cell(value: Any) -> Any:
    """An axis value in a table cell: lists as JSON text (CSV and parquet want one type per column)."""
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def results_table(sweep: Sweep, plans: list[RunPlan], outcomes: dict[str, Outcome[Task, Trained]]) -> pd.DataFrame:
    """One row per point x row of its run's analysis (toy: instance x feature), with the point's axis values,
    status ("done", "failed" or "pending") and error, the instance's final loss and every metric; `run` and
    `run_instance` say where in which run the point was trained."""
    import numpy as np
    import pandas as pd

    frames = []
    for plan in plans:
        outcome = outcomes.get(plan.name)
        result = outcome.result if outcome is not None else None
        where = [(m.point, m.start + j, j) for m in plan.members for j in range(m.count)]
        part = pd.DataFrame(where, columns=["point", "run_instance", "instance"])
        part.insert(1, "run", plan.name)
        points = [sweep.points[p] for p in part.point]
        for axis in sweep.points[plan.members[0].point].values:
            part[axis] = [_cell(pt.values[axis]) for pt in points]
        part["status"] = "done" if result is not None else ("failed" if outcome is not None else "pending")
        part["error"] = "" if result is not None or outcome is None else outcome.error
        if result is not None:
            part["loss"] = np.asarray(result.loss, dtype=float)[part.run_instance.to_numpy()]
            metrics = result.metrics.rename(columns={"instance": "run_instance"})
            part = part.merge(metrics, on="run_instance", how="left", sort=False)
        else:
            part["loss"] = float("nan")
        frames.append(part)
    table = pd.concat(frames, ignore_index=True)
    return table.sort_values(["point", "run_instance"], kind="stable").reset_index(drop=True)
