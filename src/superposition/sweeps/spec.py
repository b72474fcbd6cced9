"""A sweep's spec: a base run config and axes over its fields, expanded into points, each point's config validated
before anything trains.

A spec file is JSON, or YAML when PyYAML is installed:

    name: lr-by-seed                 # optional; the spec file's name by default
    family: toy                      # a family's defaults ...
    config: runs/intro/config.json   # ... or a run's config.json (a path relative to the spec file)
    base: {model: {n_hidden: 2}, train: {steps: 2000}}      # overrides of either
    grid:                            # axes crossed with each other (a product, the first varying slowest)
      train.lr: [0.001, 0.003]
      data.feature_probability: {logspace: [0, -2, 5]}      # 10^0 ... 10^-2, five values
    zip:                             # axes walked together (equal lengths), crossed with the grid
      train.seed: [0, 1]
      model.n_hidden: [2, 3]
    merge: true                      # toy points that differ only per instance share one run (default)
    max_instances: 500               # at most this many instances in a merged run (default: no limit)
    plot: {x: data.feature_probability, y: train.lr, metrics: [superposition, loss]}

An axis is a dotted path into the config (`data.importance.1` is element 1 of the base's importance list) and a
list of values, or `{linspace: [a, b, n]}`, `{logspace: [a, b, n]}` (10^a ... 10^b) or `{range: [start, stop]}`
(`[start, stop, step]`). A number given for `data.feature_probability` is one instance at that probability.
"""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from pydantic import Field, model_validator

from ..config import RUN_CONFIGS, Strict, parse_run_config, read_json, validate
from ..errors import ConfigError

PER_INSTANCE = ("data.feature_probability", "data.importance")  # toy fields with a row per instance


class Generated(Strict):
    """Axis values computed from a rule instead of listed."""

    linspace: tuple[float, float, int] | None = None
    logspace: tuple[float, float, int] | None = None
    range: tuple[int, int] | tuple[int, int, int] | None = None

    @model_validator(mode="after")
    def _one(self) -> "Generated":
        given = [k for k in ("linspace", "logspace", "range") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of linspace, logspace, range")
        n = (self.linspace or self.logspace or (0, 0, 2))[2]
        if n < 1:
            raise ValueError(f"a linspace or logspace needs at least 1 value, got {n}")
        if self.logspace is not None and max(abs(self.logspace[0]), abs(self.logspace[1])) > 300:
            raise ValueError("logspace exponents must lie in [-300, 300]")
        if self.range is not None and len(self.range) == 3 and self.range[2] == 0:
            raise ValueError("a range's step cannot be 0")
        return self

    def values(self) -> list[Any]:
        if self.range is not None:
            return list(range(*self.range))
        rule = self.linspace if self.linspace is not None else self.logspace
        assert rule is not None  # exactly one rule is given (checked above)
        a, b, n = rule
        points = [a + (b - a) * k / (n - 1) if n > 1 else a for k in range(n)]
        return [float(10**x) for x in points] if self.logspace else points


AxisValues = Union[list[Any], Generated]


class PlotSpec(Strict):
    """What `superposition plot SWEEP_DIR` draws: metrics over axis x (and y: a heatmap), averaged over the rest."""

    x: str | None = None
    y: str | None = None
    metrics: list[str] | None = Field(None, min_length=1)


class SweepSpec(Strict):
    name: str | None = Field(None, min_length=1, max_length=80)
    family: str | None = None
    config: str | None = None
    base: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, AxisValues] = Field(default_factory=dict)
    zip: dict[str, AxisValues] = Field(default_factory=dict)
    merge: bool = True
    max_instances: int | None = Field(None, gt=0)
    plot: PlotSpec = Field(default_factory=PlotSpec)


@dataclass(frozen=True)
class Point:
    """One point of the sweep: its index, its axis values (as the validated config holds them) and its config."""

    index: int
    values: dict[str, Any]
    config: Any

    def describe(self) -> str:
        return ", ".join(f"{k}={json.dumps(v)}" for k, v in self.values.items())


@dataclass(frozen=True)
class Sweep:
    name: str
    spec: SweepSpec
    axes: dict[str, list[Any]]  # every axis's values, in the spec's order (grid, then zip)
    points: list[Point]


def read_spec(path: str | Path) -> tuple[SweepSpec, Path]:
    """Read and validate a spec file (.json, .yaml or .yml); returns it and its directory."""
    path = Path(path)
    if path.suffix.lower() in (".yaml", ".yml", ".json"):
        data = read_json(path, "sweep spec", yaml=path.suffix.lower() != ".json")
    else:
        raise ConfigError(f"sweep spec {path}: give a .json file (or .yaml/.yml)")
    if not isinstance(data, dict):
        raise ConfigError(f"sweep spec {path}: expected a mapping of keys (name, family or config, base, grid, zip), "
                          f"got {type(data).__name__}")
    try:
        spec = validate(SweepSpec, data)
    except ConfigError as e:
        raise ConfigError(f"sweep spec {path}: {str(e).replace('invalid config: ', '')}") from None
    return spec, path.parent


def _merge(into: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`into` with `over`'s keys set, sections merged key by key (lists are replaced whole)."""
    out = dict(into)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def base_config(spec: SweepSpec, root: Path) -> dict[str, Any]:
    """The base config's full dict (every field, defaults filled in): the family's defaults or a run's config.json,
    with `base` over it. Raises ConfigError naming the problem."""
    if spec.config is not None:
        file = root / spec.config
        file = file / "config.json" if file.is_dir() else file
        start = parse_run_config(read_json(file, "base config")).model_dump(mode="json")
        if spec.family is not None and spec.family != start.get("family"):
            raise ConfigError(f"sweep spec: family {spec.family!r} but {file} is a {start.get('family')!r} run")
    else:
        family = spec.family or "toy"
        if family not in RUN_CONFIGS:
            raise ConfigError(f"sweep spec: unknown family {family!r}; choose from {', '.join(sorted(RUN_CONFIGS))}")
        start = {"family": family}
    if "family" in spec.base and spec.base["family"] != start["family"]:
        raise ConfigError("sweep spec: base.family disagrees with the spec's family; name the family once")
    try:
        return parse_run_config(_merge(start, spec.base)).model_dump(mode="json")
    except ConfigError as e:
        raise ConfigError(f"sweep spec, base: {e}") from None


def set_path(config: dict[str, Any], path: str, value: Any) -> None:
    """Set `config[a][b]...` for the dotted `path` (an integer part indexes a list); the field must exist."""
    parts = path.split(".")
    if parts[0] in ("family", "format_version") or any(p == "" for p in parts):
        raise ConfigError(f"axis {path!r}: not a field a sweep can vary")
    node: Any = config
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        where = ".".join(parts[: depth + 1])
        if isinstance(node, dict) and part in node:
            key: Any = part
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            key = int(part)
        else:
            raise ConfigError(f"axis {path!r}: the {config['family']} config has no field {where!r}"
                              + (" (the base config has no list there, or a shorter one)" if part.isdigit() else ""))
        if last:
            node[key] = value
        else:
            node = node[key]


def get_path(config: dict[str, Any], path: str) -> Any:
    node: Any = config
    for part in path.split("."):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def expand(spec: SweepSpec, root: Path, name: str) -> Sweep:
    """Every point of the spec, each config validated: a bad one raises ConfigError naming the point's axis values,
    before anything trains."""
    axes = {path: values if isinstance(values, list) else values.values()
            for section in (spec.grid, spec.zip) for path, values in section.items()}
    both = set(spec.grid) & set(spec.zip)
    if both:
        raise ConfigError(f"sweep spec: axis {sorted(both)[0]!r} is in both grid and zip; give it once")
    if not axes:
        raise ConfigError("sweep spec: no axis to sweep; give grid or zip axes (a dotted field and its values)")
    for path, values in axes.items():
        if not values:
            raise ConfigError(f"sweep spec: axis {path!r} has no values")
    lengths = {len(axes[p]) for p in spec.zip}
    if len(lengths) > 1:
        raise ConfigError("sweep spec: zip axes must have equal lengths, got "
                          + ", ".join(f"{p} ({len(axes[p])})" for p in spec.zip))
    for flag, axis in (("x", spec.plot.x), ("y", spec.plot.y)):
        if axis is not None and axis not in axes:
            raise ConfigError(f"sweep spec: plot.{flag} {axis!r} is not an axis; axes: {', '.join(axes)}")
    base = base_config(spec, root)
    grid = list(itertools.product(*(axes[p] for p in spec.grid)))
    zipped = list(zip(*(axes[p] for p in spec.zip))) or [()]
    paths = [*spec.grid, *spec.zip]
    points: list[Point] = []
    seen: dict[str, int] = {}
    for index, (g, z) in enumerate(itertools.product(grid, zipped)):
        given = dict(zip(paths, (*g, *z)))
        data = copy.deepcopy(base)
        for path, value in given.items():
            if path == "data.feature_probability" and not isinstance(value, list):
                value = [value]  # one instance at this probability
            set_path(data, path, value)
        label = ", ".join(f"{k}={json.dumps(v)}" for k, v in given.items())
        try:
            config = parse_run_config(data)
        except ConfigError as e:
            raise ConfigError(f"sweep point {index} ({label}): {e}") from None
        dump = config.model_dump(mode="json")
        read_back = {p: _unwrap(p, get_path(dump, p)) for p in paths}
        key = config.to_json()
        if key in seen:
            raise ConfigError(f"sweep points {seen[key]} and {index} have the same config ({label}); "
                              "give each axis distinct values")
        seen[key] = index
        points.append(Point(index, read_back, config))
    distinct: dict[str, dict[str, Any]] = {p: {} for p in paths}  # each axis's values, in order, as validated
    for point in points:
        for p, v in point.values.items():
            distinct[p].setdefault(json.dumps(v), v)
    return Sweep(name, spec, {p: list(d.values()) for p, d in distinct.items()}, points)


def _unwrap(path: str, value: Any) -> Any:
    """An axis value as the table shows it: one instance's probability as a number."""
    if path == "data.feature_probability" and isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


def load_sweep(path: str | Path) -> Sweep:
    """Read, validate and expand a spec file."""
    spec, root = read_spec(path)
    return expand(spec, root, spec.name or Path(path).stem)
