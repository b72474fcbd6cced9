"""Non-uniform superposition (Elhage et al. 2022, "Non-Uniform Superposition: perturbing a single feature").

Five equally important features at density 1 - S = 0.05 form a pentagon in two dimensions. Change one feature's
density (or importance) and the paper sees the pentagon deform smoothly, then, past a critical value, snap to
another arrangement (two antipodal pairs with the sparser feature dropped), and reads the snap as a first-order
phase change: the loss curves of the two geometries cross.

What this module measures, for ReLU-output toy models with uniform [0, 1) magnitudes and few features:

- `LossModel`: the expected loss, computed per set of active features (the 2^n active sets have exact
  probabilities; the error given a set is a midpoint-rule integral over the active magnitudes). Being deterministic,
  it ranks fits and draws loss curves without sampling noise.
- Its slope against one feature's density or importance, at the fitted weights. For fixed weights the
  loss is linear in p_f and in I_f, so the best loss over weights is a lower envelope of lines, and its slope is
  this partial derivative (the envelope theorem). Where the optimum switches geometry, two lines cross and the slope
  jumps: the kink of a first-order change.
- `neighbour_gaps`: the angles between neighbouring features around the origin (2D), starting at one feature.
- `arrangement`: an instance's structure class from `geometry.classify_instance`, coarsened to which features group
  together in how many dimensions (the pentagon's deformations keep the class; a snap changes it).
- `stretch`, `snap_points` and `kink`: the range around a reference value where the class holds, where it changes,
  and the slope jump there against the slope changes beside it.

>>> import math, torch
>>> t = torch.arange(5) * 2 * math.pi / 5
>>> pentagon = torch.stack([t.cos(), t.sin()], dim=-1)
>>> arrangement(classify_instance(pentagon)), [round(g) for g in neighbour_gaps(pentagon, 0)]
('pentagon', [72, 72, 72, 72, 72])
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor

from .geometry import NOT_REPRESENTED, SHAPES, Structure, classify_instance
from .metrics import REPRESENTED_NORM, feature_norms

# Midpoint-rule points per active magnitude, by the number of active features: the error of one active feature is
# a 1-D integral done finely; sets of several active features are rare at the sparsities studied and get coarser
# grids (relative error about 1e-4 for pairs), the same nodes for every instance so that loss curves stay smooth.
POINTS = {1: 512, 2: 48, 3: 12, 4: 6, 5: 4}
MAX_FEATURES = 8  # 2^n active sets: the exact enumeration is for small models
CHUNK = 16  # instances evaluated at once (bounds memory at about 50k nodes x features x CHUNK)


def _nodes(n: int) -> list[tuple[Tensor, Tensor]]:
    """Quadrature nodes by the number k of active features: for each k, the active sets as booleans `[sets, n]`
    and the inputs `[sets, points, n]` (a midpoint grid over the set's active magnitudes, zeros elsewhere)."""
    out = []
    for k in range(n + 1):
        sets = list(itertools.combinations(range(n), k))
        g = POINTS.get(k, 3)
        axis = (torch.arange(g, dtype=torch.float64) + 0.5) / g
        grid = torch.cartesian_prod(*([axis] * k)).reshape(-1, k) if k else torch.zeros(1, 0, dtype=torch.float64)
        X = torch.zeros(len(sets), grid.shape[0], n, dtype=torch.float64)
        mask = torch.zeros(len(sets), n, dtype=torch.bool)
        for s, active in enumerate(sets):
            X[s][:, list(active)] = grid
            mask[s, list(active)] = True
        out.append((mask, X))
    return out


@dataclass
class LossModel:
    """The expected loss of ReLU-output toy models x' = ReLU(W^T W x + b) on uniform [0, 1) magnitudes, split by
    active set: `errors[k, s, i]` is E[(x_i - x'_i)^2 | the active features are set s] for instance k, and `sets`
    `[sets, n]` says which features each set holds. The loss is (1/n) sum_s P(s) sum_i I_i errors[k, s, i], the
    model's importance-weighted mean squared error."""

    errors: Float[Tensor, "inst sets feat"]
    sets: Tensor

    @classmethod
    def of(cls, W: Float[Tensor, "inst feat hidden"], b: Float[Tensor, "inst feat"] | None = None) -> "LossModel":
        n = W.shape[1]
        if n > MAX_FEATURES:
            raise ValueError(f"LossModel enumerates the 2^n active sets; n = {n} exceeds {MAX_FEATURES}")
        W = W.detach().cpu().double()
        b = torch.zeros(W.shape[:2], dtype=torch.float64) if b is None else b.detach().cpu().double()
        nodes = _nodes(n)
        X = torch.cat([x.reshape(-1, n) for _, x in nodes])  # every node, set by set
        out = []
        for lo in range(0, W.shape[0], CHUNK):
            Wc, bc = W[lo:lo + CHUNK], b[lo:lo + CHUNK]
            gram = Wc @ Wc.transpose(1, 2)  # the paper's W^T W, [k, n, n]
            err = (X - torch.relu(torch.matmul(X, gram) + bc[:, None, :])).square()
            per_k, at = [], 0
            for _, x in nodes:  # mean over each set's nodes
                sets, points = x.shape[:2]
                per_k.append(err[:, at:at + sets * points].reshape(len(Wc), sets, points, n).mean(2))
                at += sets * points
            out.append(torch.cat(per_k, 1))
        return cls(torch.cat(out), torch.cat([mask for mask, _ in nodes]))

    def _set_probability(self, p: Tensor, skip: int | None = None) -> Tensor:
        """P(active set s) `[inst, sets]` for feature probabilities p `[inst, feat]`; with `skip`, that feature's
        factor is left out (its derivative's building block)."""
        p = p.detach().cpu().double()
        factors = torch.where(self.sets[None], p[:, None, :], 1 - p[:, None, :])
        if skip is not None:
            factors[..., skip] = 1.0
        return factors.prod(-1)

    def loss(self, p: Float[Tensor, "inst feat"], importance: Float[Tensor, "inst feat"]) -> Float[Tensor, " inst"]:
        """Expected loss per instance."""
        I = importance.detach().cpu().double()
        per_set = (self.errors * I[:, None, :]).sum(-1)
        return (self._set_probability(p) * per_set).sum(-1) / self.errors.shape[-1]

    def cross(self, p: Float[Tensor, "setting feat"], importance: Float[Tensor, "setting feat"]) -> Tensor:
        """Expected loss of every instance's weights under every setting (rows of p and importance), `[inst,
        setting]`: how a fit trained at one swept value does at another (each geometry's loss curve)."""
        P = self._set_probability(p)  # [setting, sets]
        per_set = torch.einsum("ksf,tf->kts", self.errors, importance.detach().cpu().double())
        return (per_set * P[None]).sum(-1) / self.errors.shape[-1]

    def slope_density(self, p: Tensor, importance: Tensor, feature: int) -> Float[Tensor, " inst"]:
        """d loss / d p_f at the fitted weights: the loss of the sets holding f minus that of the sets without it, each
        weighted by the other features' probabilities."""
        I = importance.detach().cpu().double()
        sign = torch.where(self.sets[:, feature], 1.0, -1.0).double()
        per_set = (self.errors * I[:, None, :]).sum(-1)
        return (self._set_probability(p, skip=feature) * sign * per_set).sum(-1) / self.errors.shape[-1]

    def slope_importance(self, p: Tensor, importance: Tensor, feature: int) -> Float[Tensor, " inst"]:
        """d loss / d I_f at the fitted weights: feature f's expected squared error over n."""
        return (self._set_probability(p) * self.errors[..., feature]).sum(-1) / self.errors.shape[-1]


def neighbour_gaps(W_k: Float[Tensor, "feat 2"], start: int, norm_threshold: float = REPRESENTED_NORM) -> list[float]:
    """Angles in degrees between neighbouring represented features going round the origin, beginning at feature
    `start` (its two neighbours' gaps are the first and the last); they sum to 360. Empty when fewer than two
    features are represented or `start` is not.

    >>> W = torch.tensor([[1., 0.], [0., 1.], [-1., 0.], [0., -1.]])
    >>> neighbour_gaps(W, 0)
    [90.0, 90.0, 90.0, 90.0]
    """
    if W_k.ndim != 2 or W_k.shape[1] != 2:
        raise ValueError(f"neighbour_gaps needs W_k of shape [n_features, 2], got {tuple(W_k.shape)}")
    W_k = W_k.detach().cpu().double()
    kept = (feature_norms(W_k[None])[0] > norm_threshold).nonzero().flatten().tolist()
    if start not in kept or len(kept) < 2:
        return []
    theta = {i: math.degrees(math.atan2(float(W_k[i, 1]), float(W_k[i, 0]))) for i in kept}
    around = sorted(kept, key=lambda i: (theta[i] - theta[start]) % 360)
    rel = [(theta[i] - theta[start]) % 360 for i in around] + [360.0]
    return [round(b - a, 9) for a, b in zip(rel, rel[1:])]


def group_name(st: Structure) -> str:
    """A group's polytope by its (features, dims) alone, regular or not (the paper's names where it has one)."""
    return SHAPES.get((len(st.features), st.n_dims), f"{len(st.features)} features in {st.n_dims} dims")


def arrangement(structures: list[Structure]) -> str:
    """The structure class of one instance: its groups' polytopes (regularity ignored, so a deformed pentagon stays a
    pentagon) and which features are dropped, e.g. 'antipodal pair + antipodal pair; feature 0 dropped'."""
    groups = sorted(group_name(st) for st in structures if st.kind != NOT_REPRESENTED)
    dropped = [f for st in structures if st.kind == NOT_REPRESENTED for f in st.features]
    text = " + ".join(groups) or "nothing represented"
    if dropped:
        text += f"; feature{'s' if len(dropped) > 1 else ''} {', '.join(map(str, dropped))} dropped"
    return text


def classes_of(W: Float[Tensor, "inst feat hidden"]) -> list[str]:
    """`arrangement` of every instance."""
    return [arrangement(classify_instance(W_k)) for W_k in W]


def stretch(classes: Sequence[str], reference: int) -> tuple[int, int]:
    """(first, last) index of the consecutive values around `reference` that share its class.

    >>> stretch(["a", "b", "b", "b", "c"], 2)
    (1, 3)
    """
    lo = hi = reference
    while lo > 0 and classes[lo - 1] == classes[reference]:
        lo -= 1
    while hi < len(classes) - 1 and classes[hi + 1] == classes[reference]:
        hi += 1
    return lo, hi


def snap_points(classes: Sequence[str], reference: int) -> list[tuple[int, int]]:
    """Where the class first changes going out from `reference`: (last index in the reference's class, first index
    past it) on the low side and on the high side, where the class does change within the sweep.

    >>> snap_points(["a", "b", "b", "b", "c"], 2)
    [(1, 0), (3, 4)]
    """
    lo, hi = stretch(classes, reference)
    return ([(lo, lo - 1)] if lo > 0 else []) + ([(hi, hi + 1)] if hi < len(classes) - 1 else [])


@dataclass
class Kink:
    """The slope of the loss across a snap: `jump` is (slope past the snap) - (slope before it), read toward the
    snap's side; `beside` the largest change of the slope over one step within either class next to the snap
    (NaN when neither class holds two values there); `ratio` = |jump| / beside."""

    jump: float
    beside: float
    step: int = 1

    @property
    def drops(self) -> bool:
        """Whether the slope falls as the swept value rises across the snap: a lower envelope of crossing curves
        is concave (the loss is linear in p_f and I_f for fixed weights, and the optimum takes the lowest)."""
        return self.jump * self.step < 0

    @property
    def ratio(self) -> float:
        if math.isnan(self.beside):
            return math.nan
        return math.inf if self.beside == 0 else abs(self.jump) / self.beside


def kink(slopes: Sequence[float], classes: Sequence[str], snap: tuple[int, int]) -> Kink:
    """The slope jump across `snap` (from `snap_points`), against the one-step slope changes beside it: one step
    further into the reference's class, and one step further into the new class, where that class still holds.

    >>> kink([1.0, 1.1, 1.2, 3.0, 3.1], ["a", "a", "a", "b", "b"], (2, 3))
    Kink(jump=1.8, beside=0.10000000000000009, step=1)
    """
    before, past = snap
    step = past - before  # +1 going up the sweep, -1 going down
    jump = float(slopes[past] - slopes[before])
    changes = []
    inner = before - step
    if 0 <= inner < len(slopes) and classes[inner] == classes[before]:
        changes.append(abs(float(slopes[before] - slopes[inner])))
    outer = past + step
    if 0 <= outer < len(slopes) and classes[outer] == classes[past]:
        changes.append(abs(float(slopes[outer] - slopes[past])))
    return Kink(jump, max(changes) if changes else math.nan, step)
