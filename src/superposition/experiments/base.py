"""What an experiment of the literature is here: configs to train, an analysis that draws figures and checks claims.

An `Experiment` is declarative: `configs(quick)` names the runs it needs (each a run config of any family),
`claims` declares the claims it checks (`ClaimSpec`: id, sentence, source, kind), and `analyze(runs, quick)` turns
the trained runs into `Findings` (figures, claims, notes). Training, caching and the report are the runner's
business (`experiments.runner`), so an experiment never trains by itself.

A claim is one sentence of the literature with the conditions it predicts and the values we measured. Each
condition is a `Check`: `check("Spearman rho", rho, ">=", 0.8)` writes the expected text ("Spearman rho >= 0.8")
and decides whether it held from the same threshold, so the two cannot drift. The verdict is reproduced when every
check holds. A claim's kind says where its verdict comes from: `measured` (trained runs) or `exact` (theory, or a
hand-built construction that no training touches).

>>> spec = ClaimSpec("demo.rho", "Counts rise with sparsity.", "a paper")
>>> claim = spec([check("Spearman rho", 0.79, ">=", 0.8)], measured="rho = 0.79")
>>> claim.expected, claim.verdict
('Spearman rho >= 0.8', 'not reproduced')
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import plotly.graph_objects as go

from ..config import ModAddRunConfig, RunConfig, SAERunConfig
from ..runs import Run

PAPER = "Elhage et al. 2022, Toy Models of Superposition"

Kind = Literal["measured", "exact"]
KINDS: tuple[Kind, ...] = ("measured", "exact")

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq,
}


@dataclass(frozen=True)
class Check:
    """One condition of a claim: the text the report shows as expected, and whether the measurement met it."""

    text: str
    holds: bool

    def __post_init__(self) -> None:
        object.__setattr__(self, "holds", bool(self.holds))  # verdicts often come out of numpy/torch comparisons


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def check(what: str, value: Any, op: str, threshold: Any, *, shown: str | None = None) -> Check:
    """The condition `what op threshold`, its text and its verdict from the one threshold. NaN (or None) never holds.

    `shown` replaces the threshold's printed form (e.g. "1/2" for 0.5).

    >>> check("accuracy", 0.97, ">=", 0.99)
    Check(text='accuracy >= 0.99', holds=False)
    >>> check("D*", float("nan"), "<", 0.45).holds
    False
    """
    if op not in _OPS:
        raise ValueError(f"unknown comparison {op!r}; use one of {', '.join(_OPS)}")
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    return Check(f"{what} {op} {shown or _number(threshold)}", not missing and _OPS[op](value, threshold))


def within(what: str, value: Any, target: float, tol: float, *, shown: str | None = None) -> Check:
    """The condition |what − target| <= tol, written "what = target ± tol".

    >>> within("D_i", 0.41, 0.4, 0.05)
    Check(text='D_i = 0.4 ± 0.05', holds=True)
    """
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    return Check(f"{what} = {shown or _number(target)} ± {tol:g}", not missing and abs(value - target) <= tol)


@dataclass
class Claim:
    """A checked claim: the declared sentence and kind, the checks (expected text and verdict), what was measured."""

    id: str
    sentence: str
    source: str
    kind: Kind
    checks: tuple[Check, ...]
    measured: str
    note: str = ""

    @property
    def expected(self) -> str:
        return "; ".join(c.text for c in self.checks)

    @property
    def reproduced(self) -> bool:
        return bool(self.checks) and all(c.holds for c in self.checks)

    @property
    def verdict(self) -> str:
        return "reproduced" if self.reproduced else "not reproduced"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "sentence": self.sentence, "kind": self.kind, "expected": self.expected,
            "source": self.source, "measured": self.measured, "reproduced": self.reproduced,
            "verdict": self.verdict, "note": self.note,
            "checks": [{"text": c.text, "holds": c.holds} for c in self.checks],
        }


@dataclass(frozen=True)
class ClaimSpec:
    """A claim as an experiment declares it, before any run: calling it with the checks and the measured text gives
    the `Claim`. `kind` is `measured` (the verdict reads trained runs) or `exact` (theory or a construction)."""

    id: str
    sentence: str
    source: str
    kind: Kind = "measured"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.id}: kind must be one of {KINDS}, got {self.kind!r}")

    def __call__(self, checks: Sequence[Check], measured: str, note: str = "") -> Claim:
        if not checks:
            raise ValueError(f"claim {self.id} needs at least one check")
        return Claim(self.id, self.sentence, self.source, self.kind, tuple(checks), measured, note)

    def missing(self, reason: str, expected: str = "") -> Claim:
        """The claim when its inputs are missing: not reproduced, saying why."""
        return self([Check(expected or "the claim's inputs exist", False)], f"not measured: {reason}")


@dataclass
class Findings:
    """What an experiment's analysis produced: figures in reading order, claims, and notes for the reader."""

    figures: list[go.Figure] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def by_id(self) -> dict[str, Claim]:
        return {c.id: c for c in self.claims}


@dataclass(frozen=True)
class Experiment:
    """One experiment of the literature: what to train, which claims it checks, and how to read the runs."""

    name: str
    title: str
    explanation: str
    configs: Callable[..., Mapping[str, RunConfig | ModAddRunConfig | SAERunConfig]]
    analyze: Callable[[Mapping[str, Run], bool], Findings]
    claims: tuple[ClaimSpec, ...] = ()

    def __post_init__(self) -> None:
        ids = [c.id for c in self.claims]
        if len(set(ids)) != len(ids):
            raise ValueError(f"experiment {self.name} declares a claim id twice")


def complete(experiment: Experiment, findings: Findings) -> Findings:
    """Findings with every declared claim present, in declaration order: a claim the analysis did not produce is
    reported as not reproduced (never dropped); a claim it produced without declaring it is a programming error."""
    got = findings.by_id()
    undeclared = sorted(set(got) - {c.id for c in experiment.claims})
    if undeclared:
        raise ValueError(f"experiment {experiment.name} produced undeclared claim(s): {', '.join(undeclared)}")
    findings.claims = [got.get(spec.id) or spec.missing("the analysis produced no verdict for this claim")
                       for spec in experiment.claims]
    return findings


def steps_of(runs: Mapping[str, Run], prefix: str) -> int:
    """Training steps of the first run whose name starts with `prefix` (for notes and figure titles)."""
    return next(run.config.train.steps for name, run in runs.items() if name.startswith(prefix))


def fmt(value: float | None, digits: int = 3) -> str:
    """A measured number for the report: a few significant digits, 'n/a' for NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}g}"
