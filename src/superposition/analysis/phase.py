"""Phase diagrams of superposition (Elhage et al. 2022, "Superposition as a Phase Change": the toy model of the
toy model, n = 2 features in m = 1 hidden dimension).

Feature 1 has importance 1, feature 2 importance r; each is active with probability p (sparsity S = 1 - p) and
then uniform on [0, 1). The ReLU-output model x' = ReLU(W^T W x + b) has three candidate solutions, named from
feature 2's point of view as in the paper's figure:

| label             | W (feature rows) | what happens                                                        |
|-------------------|------------------|---------------------------------------------------------------------|
| "not represented" | [1, 0]           | feature 1 gets the dimension, feature 2 is dropped (output b_2)      |
| "dedicated"       | [0, 1]           | feature 2 gets the dimension, feature 1 is dropped                   |
| "superposition"   | [1, -1]          | both stored antipodally; the ReLU cuts off the (negative) interference |

`theoretical_diagram` labels every (r, p) cell with the candidate of lowest *expected* loss, each with its best
bias (and, with ``norm="best"``, its best weight norms); `agreement` compares two diagrams. The trained side (what
each seed finds, read three ways) is in `analysis.phase_trained`.

Two facts the exact losses show. Magnitudes are non-negative, so antipodal interference is always negative and
the ReLU alone removes it: the best bias of the pair is small and *positive* (it offsets the shortfall when both
features are active), not negative. And the one-feature solutions stay local minima inside the superposition
region: many seeds end there, so the best seed (rule "lowest_loss") tracks the theory, which is about the global
optimum, far better than the majority vote (the report's 12 x 12 grid, 6 seeds: 0.99 against 0.77; the paper's
reading, the majority once the highest-loss seed is discarded, 0.85).

How the expected loss is computed (no sampling, no training). Output i of the model is
ReLU(u x_i + g x_j + b) with u = ||W_i||^2 and g = W_i . W_j. Conditioned on which features are active, the
squared error is a piecewise polynomial of degree <= 3 in the magnitudes s = x_i and t = x_j:

- the integral over t in [0, 1] is done in closed form (the ReLU is on for t in one interval [lo, hi]);
- the remaining integrand in s is a polynomial between the kinks s = -b/u and s = -(b + g)/u, so Gauss-Legendre
  quadrature with 8 nodes on each piece (exact up to degree 15) gives the integral exactly, up to rounding.

The expectation then mixes the four activity patterns with weights (1-p)^2, p(1-p), p(1-p), p^2. The result is
exact (float64), and `tests/test_phase.py` checks it against Monte Carlo draws of the package's own data.

Loss convention: as in training, the loss is the mean over the 2 features of I_i E[(x_i - x'_i)^2], so
`expected_loss` is directly comparable with a run's `final_loss()`.

>>> d = theoretical_diagram([0.001, 1.0, 1000.0], [1.0, 0.01])
>>> d.labels.tolist()
[['not represented', 'not represented'], ['not represented', 'superposition'], ['dedicated', 'dedicated']]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, Sequence

import numpy as np
import pandas as pd
from jaxtyping import Float
from scipy.optimize import minimize, minimize_scalar
from torch import Tensor

from .geometry import NORM_THRESHOLD

Grid = Sequence[float] | np.ndarray  # the r values or densities of a phase diagram

Label = Literal["not represented", "dedicated", "superposition"]
# Order matters: it is the order of `PhaseDiagram.losses` and the tie-break (first wins) between equal losses.
LABELS: tuple[Label, ...] = ("not represented", "dedicated", "superposition")
# What classify_solution returns for a W that is none of the three (both dropped, or both kept on the same side).
OTHER = "other"

# 8-point Gauss-Legendre: exact for the degree-3 pieces of the integrand, with room to spare.
_GL_X, _GL_W = np.polynomial.legendre.leggauss(8)


# ---------------------------------------------------------------------------------------------------------------
# Exact expected loss of one ReLU output


def _error_over_t(s: np.ndarray, u: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    """E_t[(s - ReLU(u s + g t + b))^2] for t ~ U[0, 1), in closed form (arrays broadcast)."""
    c = u * s + b
    safe_g = np.where(g != 0, g, 1.0)
    root = np.clip(-c / safe_g, 0.0, 1.0)  # where c + g t crosses zero
    # The ReLU is on for t in [lo, hi]: above the root when g > 0, below it when g < 0, everywhere or nowhere at g = 0.
    lo = np.where(g > 0, root, 0.0)
    hi = np.where(g < 0, root, 1.0)
    off = (g == 0) & (c <= 0)
    lo, hi = np.where(off, 0.0, lo), np.where(off, 0.0, hi)
    a = s - c
    l1, l2, l3 = hi - lo, hi**2 - lo**2, hi**3 - lo**3
    # Expanded integral of (a - g t)^2 over [lo, hi]: stable as g -> 0, unlike the cubic antiderivative / g.
    return a * a * l1 - a * g * l2 + g * g * l3 / 3 + s * s * (1.0 - l1)


def _error_over_s_t(u: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    """E_{s,t}[(s - ReLU(u s + g t + b))^2] for independent s, t ~ U[0, 1): exact piecewise quadrature in s."""
    u, g, b = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (u, g, b)))
    safe_u = np.where(u != 0, u, 1.0)
    # Kinks in s: where the ReLU's argument is zero at t = 0 and at t = 1 (none when u = 0).
    k1 = np.where(u != 0, -b / safe_u, 0.0)
    k2 = np.where(u != 0, -(b + g) / safe_u, 0.0)
    edges = [np.zeros_like(u), np.clip(np.minimum(k1, k2), 0, 1), np.clip(np.maximum(k1, k2), 0, 1), np.ones_like(u)]
    total = np.zeros_like(u)
    for a0, a1 in zip(edges[:-1], edges[1:]):
        half, mid = (a1 - a0) / 2, (a1 + a0) / 2
        for x, w in zip(_GL_X, _GL_W):
            total = total + w * half * _error_over_t(mid + half * x, u, g, b)
    return total


def output_loss(u: float | np.ndarray, g: float | np.ndarray, b: float | np.ndarray, p: float) -> np.ndarray:
    """Exact E[(x_i - ReLU(u x_i + g x_j + b))^2] for independent x_i, x_j, each active with probability p and
    then uniform on [0, 1) (0 otherwise). u = ||W_i||^2, g = W_i . W_j, b = b_i; arrays broadcast.

    >>> round(float(output_loss(0.0, 0.0, 0.25, 0.5)), 12)  # constant output p/2: the variance p/3 - p^2/4
    0.104166666667
    """
    u, g, b = (np.asarray(v, dtype=np.float64) for v in (u, g, b))
    zero = np.zeros(())
    q = 1.0 - p
    # x_i inactive: the target is 0; x_j inactive too (q^2) or active (q p).
    inactive = q * _error_over_t(zero, u, zero, b) + p * _error_over_t(zero, u, g, b)
    # x_i active: x_j inactive (p q) leaves only the t-free part; x_j active (p^2) the full double integral.
    active = q * _error_over_s_t(u, zero, b) + p * _error_over_s_t(u, g, b)
    return q * inactive + p * active


def solution_loss(
    W: Float[Tensor, "2 1"] | np.ndarray, b: Float[Tensor, " 2"] | np.ndarray, r: float, p: float
) -> float:
    """Exact expected loss (mean over features of I_i E[(x_i - x'_i)^2], I = [1, r]) of a given n=2, m=1 model;
    usable on trained weights to compare them with the candidates."""
    return float(solution_losses(_numpy(W).reshape(1, 2, -1), _numpy(b).reshape(1, 2), r, p)[0])


def solution_losses(W: Float[np.ndarray, "k 2 h"], b: Float[np.ndarray, "k 2"], r: float, p: float) -> np.ndarray:
    """solution_loss of k models at once (e.g. every seed's instance of one cell), in one vectorised evaluation."""
    W, b = _numpy(W), _numpy(b)
    G = W @ W.transpose(0, 2, 1)
    l1 = output_loss(G[:, 0, 0], G[:, 0, 1], b[:, 0], p)
    l2 = output_loss(G[:, 1, 1], G[:, 0, 1], b[:, 1], p)
    return (l1 + r * l2) / 2


def _numpy(x: Tensor | np.ndarray) -> np.ndarray:
    return np.asarray(x.detach().cpu() if isinstance(x, Tensor) else x, dtype=np.float64)


def best_bias(u: float, g: float, p: float) -> tuple[float, float]:
    """(loss, b): the bias minimising output_loss(u, g, b, p), by a grid then bounded Brent refinement."""
    # The optimum lies where the output can switch on somewhere: b in [-(u + |g|), 1]; pad the range a little.
    grid = np.linspace(-(u + abs(g)) - 0.1, 1.0, 241)
    losses = output_loss(u, g, grid, p)
    k = int(np.argmin(losses))
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    res = minimize_scalar(lambda v: float(output_loss(u, g, v, p)), bounds=(lo, hi), method="bounded",
                          options={"xatol": 1e-12})
    if res.fun <= losses[k]:
        return float(res.fun), float(res.x)
    return float(losses[k]), float(grid[k])


# ---------------------------------------------------------------------------------------------------------------
# The three candidates


@dataclass
class Solution:
    """One candidate at its best: weights W [n, m] (here [2, 1]), bias b [n], and its exact expected loss."""

    label: str
    W: np.ndarray
    b: np.ndarray
    loss: float


def dropped_variance(p: float) -> float:
    """Var[x] = p/3 - p^2/4: the loss of a dropped feature whose output is the best constant, E[x] = p/2."""
    return p / 3 - p * p / 4


def best_solution(
    candidate: Label, r: float, p: float, norm: Literal["unit", "best"] = "unit",
    norm_threshold: float = NORM_THRESHOLD,
) -> Solution:
    """The candidate with its best bias; with norm="best" the antipodal pair's two norms are optimised too (each
    kept >= norm_threshold, so the pair stays a pair and cannot slide into a one-feature solution)."""
    _check(r, p)
    if candidate == "not represented":  # feature 1 reconstructed exactly; feature 2's output is the constant p/2
        return Solution(candidate, np.array([[1.0], [0.0]]), np.array([0.0, p / 2]), r * dropped_variance(p) / 2)
    if candidate == "dedicated":
        return Solution(candidate, np.array([[0.0], [1.0]]), np.array([p / 2, 0.0]), dropped_variance(p) / 2)
    if candidate != "superposition":
        raise ValueError(f"candidate must be one of {LABELS}, got {candidate!r}")
    # Unit norms: both outputs see u = 1, g = -1, so they share one best bias.
    loss, b = best_bias(1.0, -1.0, p)
    best = Solution(candidate, np.array([[1.0], [-1.0]]), np.array([b, b]), (1 + r) * loss / 2)
    if norm == "unit":
        return best
    if norm != "best":
        raise ValueError(f"norm must be 'unit' or 'best', got {norm!r}")

    def total(v: np.ndarray) -> float:
        a, c, b1, b2 = v
        # Relative to the unit-norm loss, so L-BFGS-B's absolute gradient tolerance means the same at every p.
        return float((output_loss(a * a, -a * c, b1, p) + r * output_loss(c * c, -a * c, b2, p)) / 2) / best.loss

    # Default tolerances: tighter ones made the finite-difference line search stop early on the ReLU's kinks.
    res = minimize(total, np.array([1.0, 1.0, b, b]), method="L-BFGS-B",
                   bounds=[(norm_threshold, 3.0), (norm_threshold, 3.0), (-4.0, 1.0), (-4.0, 1.0)])
    if res.fun < 1.0:
        a, c, b1, b2 = res.x
        best = Solution(candidate, np.array([[a], [-c]]), np.array([b1, b2]), float(res.fun) * best.loss)
    return best


def expected_loss(candidate: Label, r: float, p: float, norm: Literal["unit", "best"] = "unit") -> float:
    """Exact expected loss of a candidate at its best bias (and best norms with norm="best"); see the module
    docstring for the method. Closed form for the one-feature candidates: r Var[x] / 2 and Var[x] / 2.

    >>> expected_loss("superposition", 1.0, 1.0) > expected_loss("dedicated", 1.0, 1.0)  # dense: no superposition
    True
    """
    return best_solution(candidate, r, p, norm).loss


def _check(r: float, p: float) -> None:
    if not (r > 0 and math.isfinite(r)):
        raise ValueError(f"relative importance r must be a positive number, got {r}")
    if not 0 < p <= 1:
        raise ValueError(f"feature probability p must lie in (0, 1], got {p}")


# ---------------------------------------------------------------------------------------------------------------
# Diagrams


@dataclass
class PhaseDiagram:
    """A label per (r, p) cell: `labels[i, j]` is the phase at r_values[i], p_values[j].

    Theoretical diagrams carry `losses` [len(candidates), n_r, n_p] in `candidates` order (LABELS here; the
    n = 3 diagram of `analysis.phase3` has its own); empirical ones carry `votes`, the share of seeds that found
    the majority label."""

    r_values: np.ndarray
    p_values: np.ndarray
    labels: np.ndarray
    losses: np.ndarray | None = None
    votes: np.ndarray | None = None
    meta: dict = field(default_factory=dict)
    candidates: tuple[str, ...] = LABELS

    def to_frame(self) -> pd.DataFrame:
        """One row per cell: r, p, label, and the candidate losses or the vote share when present."""
        rr, pp = np.meshgrid(self.r_values, self.p_values, indexing="ij")
        cols: dict[str, np.ndarray] = {"r": rr.ravel(), "p": pp.ravel(), "label": self.labels.ravel()}
        if self.losses is not None:
            for k, name in enumerate(self.candidates):
                cols[f"loss_{name.replace(' ', '_')}"] = self.losses[k].ravel()
        if self.votes is not None:
            cols["votes"] = self.votes.ravel()
        return pd.DataFrame(cols)


def theoretical_diagram(
    r_grid: Grid, p_grid: Grid, norm: Literal["unit", "best"] = "unit"
) -> PhaseDiagram:
    """The phase of lowest exact expected loss in every (r, p) cell (ties go to the earlier label in LABELS)."""
    r_values, p_values = np.asarray(r_grid, dtype=np.float64), np.asarray(p_grid, dtype=np.float64)
    losses = np.empty((len(LABELS), len(r_values), len(p_values)))
    for j, p in enumerate(p_values):
        unit_loss = best_bias(1.0, -1.0, float(p))[0] if norm == "unit" else None  # independent of r
        for i, r in enumerate(r_values):
            _check(float(r), float(p))
            losses[0, i, j] = r * dropped_variance(p) / 2
            losses[1, i, j] = dropped_variance(p) / 2
            losses[2, i, j] = (
                (1 + r) * unit_loss / 2 if unit_loss is not None else expected_loss("superposition", r, p, norm)
            )
    labels = np.asarray(LABELS, dtype=object)[losses.argmin(axis=0)]
    return PhaseDiagram(r_values, p_values, labels, losses=losses, meta={"kind": "theory", "norm": norm})


def agreement(a: PhaseDiagram, b: PhaseDiagram) -> float:
    """The fraction of cells where two diagrams over the same grid give the same label."""
    if a.labels.shape != b.labels.shape:
        raise ValueError(f"diagrams have different grids: {a.labels.shape} vs {b.labels.shape}")
    if not (np.allclose(a.r_values, b.r_values) and np.allclose(a.p_values, b.p_values)):
        raise ValueError("diagrams have different r or p values")
    return float((a.labels == b.labels).mean())
