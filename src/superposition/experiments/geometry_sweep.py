"""Measuring a sweep of uniform superposition (Toy Models of Superposition, "The Geometry of Superposition"): the
dimensions per feature D* = m / ||W||_F^2 against 1/(1-S), the plateaus where D* is "sticky" (at 1 and at 1/2), and
which known fractions (each the D of a uniform polytope) the features of the superposing instances sit on.

Shared by the feature-geometry experiments (n = 200 in m = 20, and the paper's n = 400 in m = 30), so both measure a
plateau and a fraction line the same way.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch

from ..analysis.geometry import FRACTIONS, geometry_table
from ..analysis.metrics import dimensions_per_feature, represented
from ..runs import Run
from .base import Check, Claim, ClaimSpec, check, fmt

# Claim thresholds, fixed from the paper's wording before any run was measured.
MIN_PLATEAU = 3  # consecutive instances on a plateau
STICKINESS = 2.0  # a plateau must last this many times longer (in log 1/(1-S)) than a smooth fall would allow
SUPERPOSING = 0.95  # instances with D* below this represent more features than dimensions
LINE_SHARE = 0.01  # a fraction's line counts as populated when it holds at least this share of them
LINES = ("3/4", "2/3", "1/2", "2/5", "3/8")


def longest_run(flags: list[bool]) -> tuple[int, int]:
    """(first, last) index of the longest stretch of consecutive True values; (0, -1) when there is none.

    >>> longest_run([False, True, True, False, True])
    (1, 2)
    """
    best, start = (0, -1), None
    for i, flag in enumerate(list(flags) + [False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            if i - 1 - start > best[1] - best[0]:
                best = (start, i - 1)
            start = None
    return best


@dataclass
class Sweep:
    """The run's instances ordered densest first: x = 1/(1-S), D* = m/||W||_F^2, and W in the same order."""

    x: np.ndarray
    d_star: np.ndarray
    W: torch.Tensor

    @classmethod
    def of(cls, run: Run) -> "Sweep":
        W = run.W.float().cpu()
        p = run.config.data.probability()[:, 0]
        order = torch.argsort(-p, stable=True)
        W = W[order]
        return cls(x=(1 / p[order]).numpy(), d_star=dimensions_per_feature(W).numpy(), W=W)


@dataclass
class Plateau:
    """The longest stretch of consecutive instances with |D* - level| <= tol, against a smooth fall.

    `band` is the log-span (in e-folds of 1/(1-S)) that D* falling at its mean rate over the sweep spends crossing
    `width` of D*: the whole band (2 tol) for 1/2; only its lower half (tol) for 1, where a sweep that starts dense
    already sits, so a fall from there crosses no more."""

    level: str
    tol: float
    width: float
    first: int
    last: int
    span: float
    rate: float
    band: float

    @classmethod
    def of(cls, sw: Sweep, level: str, tol: float, width: float) -> "Plateau":
        log_x, d = np.log(sw.x), sw.d_star
        first, last = longest_run([abs(v - FRACTIONS[level]) <= tol for v in d])
        span = float(log_x[last] - log_x[first]) if last >= first else 0.0
        fall = float(d[0] - d[-1])
        rate = fall / float(log_x[-1] - log_x[0]) if fall > 0 else 0.0  # mean fall of D* per e-fold of 1/(1-S)
        return cls(level, tol, width, first, last, span, rate, width / rate if rate > 0 else math.inf)

    @property
    def length(self) -> int:
        return self.last - self.first + 1

    @property
    def stickiness(self) -> float:
        return self.span / self.band if math.isfinite(self.band) and self.band > 0 else float("nan")

    def checks(self) -> list[Check]:
        return [
            check(f"consecutive instances with |D* - {self.level}| <= {self.tol:g}", self.length, ">=", MIN_PLATEAU),
            check(f"their span in log(1/(1-S)) over the span a {self.width:g}-wide band takes when D* falls at its "
                  "mean rate over the sweep", self.stickiness, ">=", STICKINESS),
        ]

    def measured(self, sw: Sweep) -> str:
        if self.length <= 0:
            return "no instance within the band"
        values = ", ".join(fmt(float(v), 2) for v in sw.d_star[self.first:self.last + 1])
        return (
            f"{self.length} consecutive instance{'s' if self.length > 1 else ''} at 1/(1-S) = "
            f"{fmt(float(sw.x[self.first]))}-{fmt(float(sw.x[self.last]))} (D* = {values}); span "
            f"{fmt(self.span, 2)} e-folds, {fmt(self.stickiness, 2)}x the {fmt(self.band, 2)} that a smooth fall at the "
            "mean rate spends in the band"
        )

    def note(self, sw: Sweep) -> str:
        """Why a stretch that did not pass falls short: too short a range, or no real slowing of the fall."""
        if all(c.holds for c in self.checks()):
            return ""
        if self.length <= 0:
            return f"No instance sits near {self.level} on this grid."
        if self.length == 1:
            return (f"Only one instance sits near {self.level}: the grid is too coarse to tell a plateau from a "
                    "crossing.")
        inside = float(sw.d_star[self.first] - sw.d_star[self.last]) / self.span
        slower = f"{fmt(self.rate / inside, 2)} times slower than" if inside > 0 else "unlike"
        log_x = np.log(sw.x)
        # The true stretch may reach up to one grid step beyond each end (none before the densest instance).
        steps = [float(log_x[self.first] - log_x[self.first - 1]) if self.first > 0 else 0.0,
                 float(log_x[self.last + 1] - log_x[self.last]) if self.last + 1 < len(log_x) else 0.0]
        flat = inside <= 0 or self.rate / inside >= STICKINESS
        return (
            f"Inside the stretch D* falls by {fmt(inside, 2)} per e-fold of 1/(1-S), {slower} its mean fall "
            f"({fmt(self.rate, 2)} per e-fold): "
            + (f"the curve does flatten at {self.level}, but over a shorter range of sparsity than the pre-set factor "
               f"asks. " if flat else
               f"the curve slows at {self.level} by less than the pre-set factor, so this is no clear plateau. ")
            + "The span is measured between the outermost grid points on the stretch, so it can fall short of the "
            f"true stretch by up to the grid step on each side ({fmt(steps[0], 2)} and {fmt(steps[1], 2)} e-folds)."
        )


@dataclass
class OnFractions:
    """The represented features of the superposing instances (D* < SUPERPOSING), each with its nearest known
    fraction ("" when none lies within FRACTION_TOL): the pooled counts behind the fraction claims."""

    superposing: list[int]
    fracs: dict[int, np.ndarray]

    @classmethod
    def of(cls, sw: Sweep) -> "OnFractions":
        rep, table = represented(sw.W), geometry_table(sw.W)
        superposing = [k for k, v in enumerate(sw.d_star) if v < SUPERPOSING]
        return cls(superposing, {
            k: table[table.instance == k].sort_values("feature").fraction.to_numpy()[rep[k].numpy()]
            for k in superposing
        })

    @property
    def pooled(self) -> np.ndarray:
        return np.concatenate(list(self.fracs.values())) if self.fracs else np.array([], dtype=object)

    @property
    def counts(self) -> Counter:
        return Counter(self.pooled[self.pooled != ""])

    def shares(self, labels: tuple[str, ...]) -> dict[str, float]:
        total, counts = len(self.pooled), self.counts
        return {label: counts.get(label, 0) / total if total else 0.0 for label in labels}


def lines_claim(sw: Sweep, on: OnFractions, spec: ClaimSpec, labels: tuple[str, ...] = LINES) -> Claim:
    """Each of `labels` holds at least LINE_SHARE of the features the superposing instances represent."""
    shares = on.shares(labels)
    missing = [label for label in labels if shares[label] < LINE_SHARE]
    step = float(np.diff(np.log(sw.x)).mean()) if len(sw.x) > 1 else float("nan")
    note = "" if not missing else (
        f"Missing or thin: {', '.join(missing)}. Each polytope holds over a narrow range of sparsity, which this "
        f"grid (a factor {fmt(math.exp(step), 3)} in 1/(1-S) between neighbouring instances on average) can step over."
    )
    return spec(
        [check(f"share of those features at each of {', '.join(labels)} (the smallest)",
               min(shares.values()) if len(on.pooled) else float("nan"), ">=", LINE_SHARE)],
        "; ".join(f"{label}: {fmt(100 * shares[label], 2)}%" for label in labels), note,
    )


