"""The figures of a sweep directory (`superposition plot SWEEP_DIR`): its results drawn over its axes.

The axes drawn are the spec's `plot.x` and `plot.y`, else the first two axes with more than one value, seeds last
(a seed axis is averaged over unless it is the only one); the metrics are the spec's `plot.metrics`, else the
family's headline metric and the loss.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import SuperpositionError
from .store import read_plan

if TYPE_CHECKING:
    import plotly.graph_objects as go

# The metric that tells a family's runs apart at a glance, drawn beside the loss by default.
HEADLINE = {"toy": "dims_per_feature", "modadd": "test_accuracy", "sae": "explained_variance"}


def choose_axes(axes: dict[str, list[Any]], x: str | None, y: str | None) -> tuple[str, str | None]:
    for name, flag in ((x, "x"), (y, "y")):
        if name is not None and name not in axes:
            raise SuperpositionError(f"plot.{flag} {name!r} is not an axis of the sweep; axes: {', '.join(axes)}")
    if x is not None:
        return x, y
    varied = [a for a, values in axes.items() if len(values) > 1] or list(axes)
    varied = sorted(varied, key=lambda a: a == "train.seed")  # replicates last: averaged over when others vary
    if y is not None:
        varied = [a for a in varied if a != y]
        return varied[0], y
    drawn = [a for a in varied if a != "train.seed"] or varied
    return drawn[0], (drawn[1] if len(drawn) > 1 else None)


def sweep_figures(directory: str | Path) -> tuple[list[go.Figure], str]:
    """The figures of a sweep directory and the page's title; an error when it has no results yet."""
    import pandas as pd

    from ..plots.sweep import sweep_heatmaps, sweep_lines

    directory = Path(directory)
    plan = read_plan(directory)
    if not (directory / "results.csv").is_file():
        raise SuperpositionError(f"{directory} has no results.csv yet; run the sweep first (superposition sweep)")
    try:
        table = pd.read_csv(directory / "results.csv", keep_default_na=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as e:
        raise SuperpositionError(f"{directory / 'results.csv'} is corrupt: {str(e).splitlines()[0]}") from None
    spec = plan.get("spec", {}).get("plot", {}) or {}
    axes = {str(a): list(v) for a, v in plan["axes"].items()}
    x, y = choose_axes(axes, spec.get("x"), spec.get("y"))
    headline = HEADLINE.get(str(plan.get("family")))
    metrics = spec.get("metrics") or [m for m in (headline, "loss") if m is not None and m in table.columns]
    rest = [a for a in axes if a not in (x, y)]
    note = f"mean over {', '.join(rest)}" if rest else ""
    name = str(plan.get("name") or directory.name)
    n, runs = len(plan["points"]), len(plan["runs"])
    title = f"sweep {name}: {n} point{'s' if n != 1 else ''} in {runs} run{'s' if runs != 1 else ''}"
    fig = (sweep_heatmaps(table, x, y, metrics, title, note) if y is not None
           else sweep_lines(table, x, metrics, title, note))
    return [fig], title
