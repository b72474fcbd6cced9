"""The geometry of superposition (Elhage et al. 2022, "The Geometry of Superposition"): which arrangement each
group of features takes.

Features that interfere share a subspace; features that do not (|cos| about 0) live in orthogonal subspaces that
the paper shows split into independent "tegum factors". Within each group the model picks a uniform polytope, and
every feature of a regular polytope gets the same fraction of a dimension, D_i = (dims of the group) / (features):

| features | dims | arrangement        | D_i  |
|---------:|-----:|--------------------|------|
| 1        | 1    | dedicated dimension| 1    |
| 2        | 1    | antipodal pair     | 1/2  |
| 3        | 2    | triangle           | 2/3  |
| 4        | 3    | tetrahedron        | 3/4  |
| 5        | 2    | pentagon           | 2/5  |
| 8        | 3    | square antiprism   | 3/8  |

A group is named after its (features, dims) and called regular when every feature's D_i is near dims/features
*and* its angles to the rest of the group match the ideal polytope's (a D check alone also accepts, say, an
orthogonal pair plus a triangle in 2D, whose five features all have D = 2/5). Shape right but D off (unequal
norms, as under varying importance) gives "irregular <name>"; anything else is "other (k features in r dims)".

D_i here is metrics.dimensionality computed among the represented features only: a feature the model ignores
(norm below the threshold) is treated as absent, so its leftover weight does not blur the fractions.

>>> import math, torch
>>> pentagon = torch.tensor([[math.cos(2 * math.pi * k / 5), math.sin(2 * math.pi * k / 5)] for k in range(5)])
>>> describe(classify_instance(pentagon))
'pentagon [0 1 2 3 4]'
>>> W = torch.tensor([[1., 0.], [0., 1.], [0., -1.], [-1., 0.], [0., 0.]])
>>> describe(classify_instance(W))
'antipodal pair [0 3]; antipodal pair [1 2]; not represented [4]'
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor

from .metrics import REPRESENTED_NORM, angles, cosines, dimensionality, feature_norms

# The fractions of a dimension the paper finds features sitting on, largest first.
FRACTIONS: dict[str, float] = {
    "1": 1.0,
    "3/4": 3 / 4,
    "2/3": 2 / 3,
    "1/2": 1 / 2,
    "2/5": 2 / 5,
    "3/8": 3 / 8,
    "0": 0.0,
}

# (features in the group, dims they span) -> the uniform polytope the paper reports for it.
SHAPES: dict[tuple[int, int], str] = {
    (1, 1): "dedicated dimension",
    (2, 1): "antipodal pair",
    (3, 2): "triangle",
    (4, 3): "tetrahedron",
    (5, 2): "pentagon",
    (8, 3): "square antiprism",
}

NOT_REPRESENTED = "not represented"

# Represented features (metrics.REPRESENTED_NORM) are the ones that get a structure.
NORM_THRESHOLD = REPRESENTED_NORM
# Features with |cos| at most this barely interfere, so they sit in separate (tegum) factors.
COS_TOL = 0.1
# Singular values below this share of the largest are noise, not a dimension the group spans.
RANK_TOL = 0.1
# How far a feature's D may sit from dims/features for the group to count as regular (the brief's 0.08).
DIM_TOL = 0.08
# Degrees a feature's angles may miss the ideal polytope's by: covers trained noise and both common square
# antiprisms (equal edges vs. the tight frame with D = 3/8 exactly, up to 9 degrees apart), while keeping the
# pentagon's 72/144 degrees and the tetrahedron's 109.5 degrees apart from their look-alikes.
ANGLE_TOL = 12.0
# Known fractions 2/5 and 3/8 are only 0.025 apart, so "on a fraction" must be tighter than DIM_TOL.
FRACTION_TOL = 0.03


@dataclass
class Structure:
    """One group of features in one instance: its arrangement, members, the dims it spans and its mean D."""

    kind: str
    features: list[int]
    n_dims: int
    dimensionality: float


def _polytope(name: str) -> Tensor:
    """Unit vectors of the ideal arrangement, one row per vertex."""
    if name == "dedicated dimension":
        return torch.ones(1, 1, dtype=torch.float64)
    if name == "antipodal pair":
        return torch.tensor([[1.0], [-1.0]], dtype=torch.float64)
    if name in ("triangle", "pentagon"):
        n = 3 if name == "triangle" else 5
        t = torch.arange(n, dtype=torch.float64) * 2 * math.pi / n
        return torch.stack([t.cos(), t.sin()], dim=-1)
    if name == "tetrahedron":
        v = torch.tensor([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=torch.float64)
        return v / math.sqrt(3)
    if name == "square antiprism":
        # Two squares 45 degrees apart at z = +-1/sqrt(3): the tight frame, where every D is exactly 3/8.
        t = torch.arange(8, dtype=torch.float64) * math.pi / 4
        z = torch.where(torch.arange(8) % 2 == 0, 1.0, -1.0).double() / math.sqrt(3)
        r = math.sqrt(2 / 3)
        return torch.stack([r * t.cos(), r * t.sin(), z], dim=-1)
    raise KeyError(name)


def _template_angles(name: str) -> Tensor:
    """Sorted angles (degrees) from one vertex to the others; the same for every vertex of these polytopes."""
    a = angles(_polytope(name)[None])[0, 0]
    return a[1:].sort().values


_TEMPLATES: dict[str, Tensor] = {name: _template_angles(name) for name in SHAPES.values()}


def nearest_fraction(D: float, tol: float = FRACTION_TOL) -> str | None:
    """The label of the known fraction nearest D ("2/5", "1/2", ...), or None if none lies within tol.

    >>> nearest_fraction(0.41), nearest_fraction(0.45)
    ('2/5', None)
    """
    label, value = min(FRACTIONS.items(), key=lambda kv: abs(kv[1] - D))
    return label if abs(value - D) <= tol else None


def _components(adj: Tensor) -> list[list[int]]:
    """Connected components of a boolean adjacency matrix, each sorted, ordered by smallest member."""
    n = adj.shape[0]
    seen = [False] * n
    comps = []
    for start in range(n):
        if seen[start]:
            continue
        seen[start], stack, comp = True, [start], []
        while stack:
            i = stack.pop()
            comp.append(i)
            for j in adj[i].nonzero().flatten().tolist():
                if not seen[j]:
                    seen[j] = True
                    stack.append(j)
        comps.append(sorted(comp))
    return comps


def _name(rows: Tensor, D: Tensor, n_dims: int, dim_tol: float, angle_tol: float) -> str:
    """Name a group of feature rows that span n_dims dimensions (D: their dimensionalities)."""
    k = rows.shape[0]
    other = f"other ({k} features in {n_dims} dims)"
    name = SHAPES.get((k, n_dims))
    if name is None:
        return other
    if k > 1:
        a = angles(rows[None])[0]
        off = ~torch.eye(k, dtype=torch.bool)
        per_feature = a[off].reshape(k, k - 1).sort(dim=-1).values
        if (per_feature - _TEMPLATES[name]).abs().max() > angle_tol:
            return other
    if (D - n_dims / k).abs().max() > dim_tol:
        return f"irregular {name}"
    return name


def _represented_dimensionality(
    W_k: Float[Tensor, "feat hidden"], norm_threshold: float
) -> tuple[Float[Tensor, "feat hidden"], Float[Tensor, " feat"]]:
    """W_k with ignored features zeroed, and each feature's D among the represented ones (0 for the ignored)."""
    W_k = W_k.detach().cpu().double()  # double: classification should not hinge on float32 rounding
    represented = feature_norms(W_k[None])[0] >= norm_threshold
    # Ignored features are treated as absent, so their leftover weight does not shift anyone's D.
    W_rep = torch.where(represented[:, None], W_k, torch.zeros_like(W_k))
    return W_rep, dimensionality(W_rep[None])[0]


def classify_instance(
    W_k: Float[Tensor, "feat hidden"],
    norm_threshold: float = NORM_THRESHOLD,
    cos_tol: float = COS_TOL,
    rank_tol: float = RANK_TOL,
    dim_tol: float = DIM_TOL,
    angle_tol: float = ANGLE_TOL,
) -> list[Structure]:
    """Split one instance's features into groups and name each group's arrangement.

    Represented features (norm >= norm_threshold) are joined when |cos| > cos_tol; each connected group spans the
    dims counted by its singular values above rank_tol x the largest. The features the model ignores form one
    "not represented" Structure. Structures are ordered by their smallest feature index.
    """
    if W_k.ndim != 2:
        raise ValueError(f"classify_instance expects W_k of shape [n_features, n_hidden], got {tuple(W_k.shape)}")
    W_rep, D = _represented_dimensionality(W_k, norm_threshold)
    represented = feature_norms(W_rep[None])[0] > 0
    adj = (cosines(W_rep[None])[0].abs() > cos_tol) & represented[:, None] & represented[None, :]

    structures = []
    for comp in _components(adj):
        if not represented[comp[0]]:
            continue
        rows = W_rep[comp]
        s = torch.linalg.svdvals(rows)
        n_dims = int((s > rank_tol * s[0]).sum())
        kind = _name(rows, D[comp], n_dims, dim_tol, angle_tol)
        structures.append(Structure(kind, comp, n_dims, float(D[comp].mean())))
    ignored = (~represented).nonzero().flatten().tolist()
    if ignored:
        structures.append(Structure(NOT_REPRESENTED, ignored, 0, float(D[ignored].mean())))
    return sorted(structures, key=lambda st: st.features[0])


def classify(W: Float[Tensor, "inst feat hidden"], **kw) -> list[list[Structure]]:
    """classify_instance for every instance; keyword arguments are passed on."""
    if W.ndim != 3:
        raise ValueError(f"classify expects W of shape [n_instances, n_features, n_hidden], got {tuple(W.shape)}")
    return [classify_instance(W_k, **kw) for W_k in W]


def geometry_table(W: Float[Tensor, "inst feat hidden"], fraction_tol: float = FRACTION_TOL, **kw) -> pd.DataFrame:
    """One row per instance x feature: its structure's kind, group id (-1 when not represented), the group's size
    and dims, and the known fraction nearest its D ("" when none lies within fraction_tol)."""
    norm_threshold = kw.get("norm_threshold", NORM_THRESHOLD)
    rows = []
    for inst, structures in enumerate(classify(W, **kw)):
        _, D = _represented_dimensionality(W[inst], norm_threshold)  # the D the classification used
        group = 0
        for st in structures:
            gid = -1 if st.kind == NOT_REPRESENTED else group
            if gid >= 0:
                group += 1
            for f in st.features:
                rows.append(
                    {
                        "instance": inst,
                        "feature": f,
                        "structure": st.kind,
                        "group": gid,
                        "group_size": len(st.features),
                        "group_dims": st.n_dims,
                        "fraction": nearest_fraction(float(D[f]), fraction_tol) or "",
                    }
                )
    columns = ["instance", "feature", "structure", "group", "group_size", "group_dims", "fraction"]
    return pd.DataFrame(rows, columns=columns).sort_values(["instance", "feature"], ignore_index=True)


def describe(structures: list[Structure]) -> str:
    """One line per instance, e.g. "antipodal pair [0 3]; antipodal pair [1 2]; not represented [4]"."""
    return "; ".join(f"{st.kind} [{' '.join(map(str, st.features))}]" for st in structures)
