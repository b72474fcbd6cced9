"""What an experiment of the literature is here: configs to train, an analysis that draws figures and checks claims.

An `Experiment` is declarative: `configs(quick)` names the runs it needs (each a run config of any family), and
`analyze(runs, quick)` turns the trained runs into `Findings` (figures, claims, notes). Training, caching and
the report are the runner's business (`experiments.runner`), so an experiment never trains by itself.

A `Claim` is one sentence of the literature with the value it predicts, the value we measured and the verdict,
computed from the runs, never written in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import plotly.graph_objects as go

from ..config import ModAddRunConfig, RunConfig, SAERunConfig
from ..runs import Run

PAPER = "Elhage et al. 2022, Toy Models of Superposition"


@dataclass
class Claim:
    """A checked claim. `measured` is what the runs gave; `reproduced` is decided from it by the experiment."""

    id: str
    sentence: str
    expected: str
    source: str
    measured: str
    reproduced: bool
    note: str = ""

    def __post_init__(self) -> None:
        self.reproduced = bool(self.reproduced)  # verdicts often come out of numpy/torch comparisons

    @property
    def verdict(self) -> str:
        return "reproduced" if self.reproduced else "not reproduced"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.verdict}


@dataclass
class Findings:
    """What an experiment's analysis produced: figures in reading order, claims, and notes for the reader."""

    figures: list[go.Figure] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Experiment:
    """One experiment of the literature: what to train, and how to read it."""

    name: str
    title: str
    explanation: str
    configs: Callable[[bool], dict[str, RunConfig | ModAddRunConfig | SAERunConfig]]
    analyze: Callable[[Mapping[str, Run], bool], Findings]


def steps_of(runs: Mapping[str, Run], prefix: str) -> int:
    """Training steps of the first run whose name starts with `prefix` (for notes and figure titles)."""
    return next(run.config.train.steps for name, run in runs.items() if name.startswith(prefix))


def fmt(value: float, digits: int = 3) -> str:
    """A measured number for the report: a few significant digits, 'n/a' for NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}g}"
