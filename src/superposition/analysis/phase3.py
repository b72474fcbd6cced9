"""The second phase diagram of Elhage et al. 2022 ("Superposition as a Phase Change"): n = 3 features in m = 2
hidden dimensions, with the triangle the paper leaves out.

Features 1 and 2 have importance 1, the "extra" feature 3 importance r; every feature is active with probability
p (sparsity S = 1 - p) and then uniform on [0, 1). The paper names each solution of the ReLU-output model by the
direction W ignores, W⊥ (W W⊥ = 0 with W [m, n] in its notation), and compares four; we add the fifth:

| label             | W⊥        | W (feature rows, unit norms) | what happens                                      |
|-------------------|-----------|------------------------------|---------------------------------------------------|
| "not represented" | [0, 0, 1] | e1, e2, 0                    | the extra feature is dropped (output b_3 = p/2)    |
| "dedicated"       | [1, 0, 0] | 0, e1, e2                    | feature 1 is dropped so the extra one gets a dim   |
| "extra in pair"   | [0, 1, 1] | e1, e2, -e2                  | the extra feature is antipodal to feature 2        |
| "others in pair"  | [1, 1, 0] | e1, -e1, e2                  | features 1 and 2 share a dim, the extra has its own|
| "triangle"        | [1, 1, 1] | 120 degrees apart            | all three in joint superposition (not in the paper)|

("dedicated" and "extra in pair" stand for their mirror images too: dropping feature 2, pairing with feature 1.)

How the exact loss is computed. Output i is ReLU(u x_i + g_j x_j + g_k x_k + b) with u = ||W_i||^2 and g = W_i . W_j.
A given x_k = v only shifts the bias to b + g_k v, so E[error | x_k = v] is the n = 2 model's exact
`phase.output_loss(u, g_j, b + g_k v, p)`, and E[error] = (1 - p) output_loss(u, g_j, b, p) + p ∫_0^1 output_loss(u,
g_j, b + g_k v, p) dv. As a function of its bias, output_loss is a polynomial between the kinks b' in {0, -u, -g_j,
-u - g_j}, so Gauss-Legendre quadrature (8 nodes) on the pieces of v between them is exact up to rounding.
`tests/test_phase3.py` checks it against Monte Carlo draws of the package's data and model.

Loss convention, as in training: the mean over the 3 features of I_i E[(x_i - x'_i)^2]. Each candidate's bias is
the best one (one per output; with unit norms the outputs of a pair, or of the triangle, share it); the norms are
unit, as in the n = 2 diagram's theory. The trained side (`seeds3`) reads each trained instance as one of the five,
or OTHER. At r = 1 the extra feature is a copy of the others, so dropping feature 1 is dropping feature 3 renamed
("dedicated" is "not represented") and pairing features 1 and 2 is pairing 2 and 3 ("others in pair" is "extra in
pair"): the theory's ties go to the first label and trained labels at r = 1 are renamed to match (`canonical`).

>>> d = theoretical_diagram3([0.1, 1.0, 10.0], [1.0, 0.6, 0.01])
>>> d.labels.tolist()
[['not represented', 'not represented', 'extra in pair'], ['not represented', 'triangle', 'extra in pair'], \
['dedicated', 'others in pair', 'others in pair']]
"""

from __future__ import annotations

import math
from typing import Any, Literal, Sequence

import numpy as np
from jaxtyping import Float
from scipy.optimize import minimize
from torch import Tensor

from .geometry import NORM_THRESHOLD
from .phase import (
    _GL_W,
    _GL_X,
    OTHER,
    Grid,
    PhaseDiagram,
    Solution,
    _check,
    _numpy,
    best_bias,
    best_solution,
    dropped_variance,
    output_loss,
)
from .phase_trained import Seeds

LABELS3: tuple[str, ...] = ("not represented", "dedicated", "extra in pair", "others in pair", "triangle")
# The four solutions the paper compares ("We do not consider a last solution of putting all the features in joint
# superposition, W⊥ = [1, 1, 1]").
PAPER_LABELS: tuple[str, ...] = LABELS3[:4]
W_PERP: dict[str, tuple[int, int, int]] = dict(zip(LABELS3, [(0, 0, 1), (1, 0, 0), (0, 1, 1), (1, 1, 0), (1, 1, 1)]))
# At r = 1 the extra feature is indistinguishable from the others: these labels name the same solution.
SAME_AT_R1: dict[str, str] = {"dedicated": "not represented", "others in pair": "extra in pair"}

# How far (in cosine) a trained instance may sit from a candidate's ideal angles: half the smallest gap between two
# candidates' ideal cosines (the triangle's -1/2 against a pair's -1 or a dedicated dimension's 0).
COS_TOLERANCE = 0.25


# ---------------------------------------------------------------------------------------------------------------
# Exact expected loss


def output_loss3(
    u: float | np.ndarray, g1: float | np.ndarray, g2: float | np.ndarray, b: float | np.ndarray,
    p: float | np.ndarray,
) -> np.ndarray:
    """Exact E[(x_i - ReLU(u x_i + g1 x_j + g2 x_k + b))^2] for independent x_i, x_j, x_k, each active with
    probability p and then uniform on [0, 1) (0 otherwise); arrays broadcast (p included).

    >>> round(float(output_loss3(1.0, 0.0, 0.0, 0.0, 0.5)), 12)  # no interference: exact reconstruction
    0.0
    """
    u, g1, g2, b, p = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (u, g1, g2, b, p)))
    safe = np.where(g2 != 0, g2, 1.0)
    # The v where the shifted bias b + g2 v crosses a kink of output_loss in its bias (none matter when g2 = 0).
    kinks = [np.clip(np.where(g2 != 0, (k - b) / safe, 0.0), 0.0, 1.0) for k in (0.0 * u, -u, -g1, -u - g1)]
    edges = [np.zeros_like(u), *np.sort(np.stack(kinks), axis=0), np.ones_like(u)]
    shifted = np.zeros_like(u)
    for a0, a1 in zip(edges[:-1], edges[1:]):
        half, mid = (a1 - a0) / 2, (a1 + a0) / 2
        for x, w in zip(_GL_X, _GL_W):
            shifted = shifted + w * half * output_loss(u, g1, b + g2 * (mid + half * x), p)  # type: ignore[arg-type]
    return (1 - p) * output_loss(u, g1, b, p) + p * shifted  # type: ignore[arg-type]


def solution_losses3(
    W: Float[np.ndarray, "k 3 h"], b: Float[np.ndarray, "k 3"], r: float | np.ndarray, p: float | np.ndarray
) -> np.ndarray:
    """Exact expected loss (mean over features of I_i E[(x_i - x'_i)^2], I = [1, 1, r]) of k models at once, e.g.
    every seed's instance of one cell; r and p may be arrays [k] (one cell per model)."""
    W, b = _numpy(W), _numpy(b)
    if W.ndim != 3 or W.shape[1] != 3 or b.shape != W.shape[:2]:
        raise ValueError(f"expected W [k, 3, m] and b [k, 3], got {W.shape} and {b.shape}")
    G = W @ W.transpose(0, 2, 1)
    total = np.zeros(len(W))
    for i, (j, k) in enumerate([(1, 2), (0, 2), (0, 1)]):
        weight = r if i == 2 else 1.0
        total = total + weight * output_loss3(G[:, i, i], G[:, i, j], G[:, i, k], b[:, i], p)
    return total / 3


def solution_loss3(W: Float[Tensor, "3 m"] | np.ndarray, b: Float[Tensor, " 3"] | np.ndarray, r: float,
                   p: float) -> float:
    """solution_losses3 of one model (W [3, m], b [3]): usable on trained weights."""
    return float(solution_losses3(_numpy(W)[None], _numpy(b)[None], r, p)[0])


def _best_bias_grid(loss_of_b: Any, lo: np.ndarray, hi: np.ndarray, rounds: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """(loss, b) minimising loss_of_b(b [..., n]) -> [..., n] over b in [lo, hi] (arrays [...]), by a grid of 241
    then `rounds - 1` zooms of 21 points around the best (vectorised: every p of a diagram at once)."""
    n = 241
    for _ in range(rounds):
        grid = lo[..., None] + (hi - lo)[..., None] * np.linspace(0.0, 1.0, n)
        losses = loss_of_b(grid)
        k = np.argmin(losses, axis=-1)[..., None]
        step = (hi - lo) / (n - 1)
        best, loss = np.take_along_axis(grid, k, -1)[..., 0], np.take_along_axis(losses, k, -1)[..., 0]
        lo, hi, n = best - step, best + step, 21
    return loss, best


def triangle_output_loss(p: Grid) -> tuple[np.ndarray, np.ndarray]:
    """(loss, b) per p: the unit triangle's output loss (u = 1, g = -1/2 from each other feature) at its best bias,
    shared by the three outputs by symmetry."""
    p = np.asarray(p, dtype=np.float64)
    # The output can switch on only for b in [-(u + |g1| + |g2|), 1] = [-2, 1]; pad a little, as phase.best_bias does.
    return _best_bias_grid(lambda B: output_loss3(1.0, -0.5, -0.5, B, p[:, None]), np.full(p.shape, -2.1),
                           np.ones(p.shape))


def candidate_losses(r_grid: Grid, p_grid: Grid) -> np.ndarray:
    """[5, n_r, n_p]: each candidate's exact expected loss (unit norms, best biases) in LABELS3 order."""
    r, p = np.asarray(r_grid, dtype=np.float64), np.asarray(p_grid, dtype=np.float64)
    for rr in r:
        for pp in p:
            _check(float(rr), float(pp))
    var = np.asarray(dropped_variance(p))[None]  # type: ignore[arg-type]  # elementwise on arrays
    pair = np.array([best_bias(1.0, -1.0, float(q))[0] for q in p])[None]  # the n = 2 pair's output, both ends
    tri = triangle_output_loss(p)[0][None]
    r = r[:, None]
    ones = np.ones_like(r)
    return np.stack([r * var, ones * var, (1 + r) * pair, 2 * ones * pair, (2 + r) * tri]) / 3


def best_solution3(candidate: str, r: float, p: float, norm: Literal["unit", "best"] = "unit",
                   norm_threshold: float = NORM_THRESHOLD) -> Solution:
    """The candidate with its best biases: weights W [3, 2], b [3] and the exact loss. With norm="best" the norms
    are optimised too, each represented feature's kept >= norm_threshold (as `phase.best_solution` does for the
    pair): the pair's two norms by `phase.best_solution`, the triangle's three at fixed 120-degree directions."""
    _check(r, p)
    if candidate not in LABELS3:
        raise ValueError(f"candidate must be one of {LABELS3}, got {candidate!r}")
    if norm not in ("unit", "best"):
        raise ValueError(f"norm must be 'unit' or 'best', got {norm!r}")
    e1, e2, zero = [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]
    half = p / 2  # a dropped feature's best constant output, E[x]; kept features are exact at unit norm
    var = dropped_variance(p)
    if candidate == "not represented":
        return Solution(candidate, np.array([e1, e2, zero]), np.array([0.0, 0.0, half]), r * var / 3)
    if candidate == "dedicated":
        return Solution(candidate, np.array([zero, e1, e2]), np.array([half, 0.0, 0.0]), var / 3)
    if candidate == "triangle":
        loss, bias = (float(x[0]) for x in triangle_output_loss([p]))
        W = np.array([[math.cos(2 * math.pi * k / 3), math.sin(2 * math.pi * k / 3)] for k in range(3)])
        unit = Solution(candidate, W, np.full(3, bias), (2 + r) * loss / 3)
        return unit if norm == "unit" else _free_triangle(unit, r, p, norm_threshold)
    # A pair, from the n = 2 diagram's own solution: features (2, 3) with importances (1, r), or (1, 2) with (1, 1).
    extra = candidate == "extra in pair"
    pair = best_solution("superposition", r if extra else 1.0, p, norm, norm_threshold)
    (a,), (c,) = pair.W
    if extra:
        W, b = np.array([e1, [0.0, a], [0.0, c]]), np.array([0.0, *pair.b])
    else:
        W, b = np.array([[a, 0.0], [c, 0.0], e2]), np.array([*pair.b, 0.0])
    return Solution(candidate, W, b, 2 * pair.loss / 3)  # the pair's mean over 2 features, the dedicated one exact


def _free_triangle(unit: Solution, r: float, p: float, norm_threshold: float) -> Solution:
    """The triangle with its three norms and biases optimised (L-BFGS-B from the unit solution)."""
    directions = unit.W

    def total(v: np.ndarray) -> float:
        W = directions * v[:3, None]
        # Relative to the unit loss, so the optimiser's tolerance means the same at every p.
        return float(solution_losses3(W[None], v[None, 3:], r, p)[0]) / unit.loss

    res = minimize(total, np.array([1.0, 1.0, 1.0, *unit.b]), method="L-BFGS-B",
                   bounds=[(norm_threshold, 3.0)] * 3 + [(-4.0, 1.0)] * 3)
    if res.fun >= 1.0:
        return unit
    return Solution(unit.label, directions * res.x[:3, None], res.x[3:], float(res.fun) * unit.loss)


# ---------------------------------------------------------------------------------------------------------------
# Diagrams


def theoretical_diagram3(r_grid: Grid, p_grid: Grid, candidates: Sequence[str] = LABELS3,
                         losses: np.ndarray | None = None) -> PhaseDiagram:
    """The candidate of lowest exact expected loss in every (r, p) cell among `candidates` (all five, or the
    paper's four: PAPER_LABELS); ties go to the earlier one in LABELS3. `losses` holds all five (pass another
    diagram's, on the same grid, to draw a second reading without computing them again)."""
    r_values, p_values = np.asarray(r_grid, dtype=np.float64), np.asarray(p_grid, dtype=np.float64)
    if losses is None:
        losses = candidate_losses(r_values, p_values)
    elif losses.shape != (len(LABELS3), len(r_values), len(p_values)):
        raise ValueError(f"losses must be [{len(LABELS3)}, {len(r_values)}, {len(p_values)}], got {losses.shape}")
    allowed = [LABELS3.index(c) for c in LABELS3 if c in candidates]
    if len(allowed) != len(set(candidates)):
        raise ValueError(f"candidates must be among {LABELS3}, got {list(candidates)}")
    labels = np.asarray(LABELS3, dtype=object)[np.asarray(allowed)[losses[allowed].argmin(axis=0)]]
    return PhaseDiagram(r_values, p_values, labels, losses=losses, candidates=LABELS3,
                        meta={"kind": "theory", "norm": "unit", "candidates": list(candidates)})


def classify_solution3(W: Float[Tensor, "3 m"] | np.ndarray, norm_threshold: float = NORM_THRESHOLD,
                       tolerance: float = COS_TOLERANCE) -> str:
    """Label a trained n=3 instance W (feature rows) as one of LABELS3, or OTHER.

    A feature counts as represented when ||W_i|| >= norm_threshold. Two represented features must be orthogonal
    (|cos| <= tolerance): features 1 and 2 kept is "not represented", the extra feature and another "dedicated". All
    three represented must match one candidate's cosines (cos_12, cos_13, cos_23) within `tolerance` each: (-1/2,
    -1/2, -1/2) the triangle, (-1, 0, 0) the others' pair, (0, -1, 0) or (0, 0, -1) the extra feature's pair.

    >>> classify_solution3(np.array([[1.0, 0.0], [-0.5, 0.87], [-0.5, -0.87]]))
    'triangle'
    >>> classify_solution3(np.array([[0.9, 0.1], [0.0, 1.0], [0.05, -0.97]]))
    'extra in pair'
    """
    W = _numpy(W)
    if W.ndim != 2 or W.shape[0] != 3:
        raise ValueError(f"classify_solution3 expects W of shape [3, n_hidden], got {tuple(W.shape)}")
    norms = np.linalg.norm(W, axis=1)
    kept = norms >= norm_threshold
    unit = W / np.maximum(norms, 1e-12)[:, None]
    cos = unit @ unit.T
    if kept.sum() == 2:
        i, j = np.flatnonzero(kept)
        if abs(cos[i, j]) > tolerance:
            return OTHER
        return "not represented" if not kept[2] else "dedicated"
    if kept.sum() < 3:
        return OTHER
    found = np.array([cos[0, 1], cos[0, 2], cos[1, 2]])
    ideals = [("triangle", (-0.5, -0.5, -0.5)), ("others in pair", (-1, 0, 0)), ("extra in pair", (0, -1, 0)),
              ("extra in pair", (0, 0, -1))]
    for label, ideal in ideals:
        if np.abs(found - np.asarray(ideal)).max() <= tolerance:
            return label
    return OTHER


def canonical(labels: np.ndarray, r_values: np.ndarray) -> np.ndarray:
    """Labels [..., n_r, n_p] with the rows at r = 1 renamed by SAME_AT_R1 (the same solution, features renamed)."""
    out = labels.copy()
    rows = np.flatnonzero(np.isclose(r_values, 1.0))
    for old, new in SAME_AT_R1.items():
        sub = out[..., rows, :]
        sub[sub == old] = new
        out[..., rows, :] = sub
    return out


def seeds3(runs: Sequence[Any], r_grid: Grid, p_grid: Grid, norm_threshold: float = NORM_THRESHOLD,
           with_losses: bool = True) -> Seeds:
    """What every trained seed found in every cell (`phase_trained.Seeds`, read with the n = 3 classifier and exact
    loss): `runs` hold one trained Run per seed (or W tensors [n_cells, 3, m]) in phase_configs' layout."""
    seeds = Seeds.of(runs, r_grid, p_grid, norm_threshold, with_losses=False, n_features=3,
                     classify=classify_solution3, order=(*LABELS3, OTHER))
    seeds.labels = canonical(seeds.labels, seeds.r_values)
    bs = [getattr(run, "b", None) for run in runs]
    if with_losses and all(b is not None for b in bs):
        # Every (seed, cell) in one vectorised evaluation, rather than Seeds.of's one call per cell.
        W = np.stack([_numpy(run.W) for run in runs])  # [seeds, cells, 3, m]
        b = np.stack([_numpy(bb) for bb in bs if bb is not None])
        rr, pp = np.meshgrid(seeds.r_values, seeds.p_values, indexing="ij")  # r-major, as phase_configs lays cells out
        n = len(runs)
        losses = solution_losses3(W.reshape(-1, *W.shape[2:]), b.reshape(-1, 3), np.tile(rr.ravel(), n),
                                  np.tile(pp.ravel(), n))
        seeds.losses = losses.reshape(seeds.labels.shape)
    return seeds
