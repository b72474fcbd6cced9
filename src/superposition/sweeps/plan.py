"""From points to runs: points whose family can batch them (`Family.batching`: toy points that differ only in
per-instance fields, feature probability and importance) are trained as the instances of one run, the way the paper
trains a sparsity sweep as one batch; every other point is a run of its own. A run is cached in `DIR/points/<name>-<config hash>`.

A merged run's instances are its points' instances in point order, so the results table can say which run and
which instance each point came from. Merging changes a point's random draws (a run draws its batch and its initial
weights for all its instances at once), so a point's numbers depend on the points it shares a run with; with
`merge: false` each point is trained alone.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ..families import family_of
from .spec import Point, Sweep

NAME_LENGTH = 60


@dataclass(frozen=True)
class Member:
    """A point's place in its run: instances start .. start + count - 1."""

    point: int
    start: int
    count: int


@dataclass(frozen=True)
class RunPlan:
    """One run to train: its directory name, its config and the points it holds."""

    name: str
    config: Any
    members: tuple[Member, ...]


def _label(values: dict[str, Any]) -> str:
    """A readable, file-name-safe label from the axis values a run's points share."""
    parts = []
    for path, v in values.items():
        short = ".".join(path.split(".")[1:]) or path
        text = f"{v:g}" if isinstance(v, float) else json.dumps(v, separators=(",", ":"))
        parts.append(f"{short}={text}")
    label = re.sub(r"[^A-Za-z0-9.=_+-]+", "-", "_".join(parts)).strip("-.")[:NAME_LENGTH].strip("-.")
    return label or "run"


def plan_runs(sweep: Sweep) -> list[RunPlan]:
    """The runs that train the sweep's points (merged where the toy family can batch them), in point order."""
    from ..experiments.runner import config_hash

    groups: dict[str, list[Point]] = {}
    for point in sweep.points:
        batching = family_of(point.config).batching
        key = batching.key(point.config) if sweep.spec.merge and batching is not None else f"point {point.index}"
        groups.setdefault(key, []).append(point)
    limit = sweep.spec.max_instances
    chunks: list[list[Point]] = []
    for group in groups.values():
        chunk: list[Point] = []
        for point in group:
            size = sum(p.config.n_instances for p in chunk) + point.config.n_instances
            if chunk and limit is not None and size > limit:
                chunks.append(chunk)
                chunk = []
            chunk.append(point)
        chunks.append(chunk)
    plans = []
    for chunk in chunks:
        batching = family_of(chunk[0].config).batching
        config = chunk[0].config if len(chunk) == 1 or batching is None else batching.merge([p.config for p in chunk])
        shared = {path: v for path, v in chunk[0].values.items()
                  if all(json.dumps(p.values[path]) == json.dumps(v) for p in chunk)}
        members, start = [], 0
        for p in chunk:
            members.append(Member(p.index, start, p.config.n_instances))
            start += p.config.n_instances
        plans.append(RunPlan(f"{_label(shared)}-{config_hash(config)}", config, tuple(members)))
    return plans

