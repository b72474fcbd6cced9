"""Where a sweep stands, read from its directory alone (no spec file needed): each run is done (its directory loads
intact with the planned config), running (a live worker holds its marker), failed (its last attempt raised or its
worker died too often) or pending (never tried, or interrupted)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .store import read_plan, read_state, running_on

STATES = ("done", "running", "failed", "pending")


def _done(directory: Path, config: dict[str, Any]) -> bool:
    from ..config import parse_run_config
    from ..errors import SuperpositionError
    from ..runs import load_run

    if not directory.is_dir():
        return False
    try:
        return bool(load_run(directory).config == parse_run_config(config))
    except SuperpositionError:
        return False


def sweep_status(out: str | Path) -> dict[str, Any]:
    """Counts of points and runs in each state, and one row per run (its state, points, seconds, error)."""
    out = Path(out)
    plan = read_plan(out)
    runs: list[dict[str, Any]] = []
    for run in plan["runs"]:
        name = str(run["name"])
        state = read_state(out, name) or {}
        where = running_on(out, name)
        if _done(out / "points" / name, run["config"]):
            status = "done"
        elif where is not None:
            status = "running"
        elif state.get("status") == "failed":
            status = "failed"
        else:
            status = "pending"
        runs.append({"run": name, "status": status, "points": len(run["points"]),
                     "seconds": state.get("seconds") if status == "done" else None,
                     "attempts": state.get("attempts"), "where": where if status == "running" else None,
                     "error": state.get("error") if status == "failed" else None})
    points = {s: sum(r["points"] for r in runs if r["status"] == s) for s in STATES}
    return {"sweep": str(out), "name": plan.get("name"), "points": {"total": len(plan["points"]), **points},
            "runs": {"total": len(runs), **{s: sum(r["status"] == s for r in runs) for s in STATES}},
            "table": runs}


def summary_line(doc: dict[str, Any]) -> str:
    p, r = doc["points"], doc["runs"]
    return (f"{doc['sweep']}: {p['total']} points: " + ", ".join(f"{p[s]} {s}" for s in STATES)
            + " (runs: " + ", ".join(f"{r[s]} {s}" for s in STATES) + f" of {r['total']})")
