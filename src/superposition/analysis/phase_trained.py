"""The trained side of the n = 2, m = 1 phase diagram: one toy run per seed with an instance per (r, p) cell
(`phase_configs`), what each seed found in each cell (`classify_solution`, `Seeds`), and the empirical diagrams read
from the seeds: the best seed, the majority, and the paper's reading (the majority once the highest-loss seed is
discarded; the paper trains ten models per point).

`phase_configs` and `Seeds` also serve the n = 3, m = 2 diagram (`analysis.phase3`), which passes its own feature
count, classifier, exact loss and label order.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Literal, Sequence

import numpy as np
from jaxtyping import Float
from torch import Tensor

from ..config import RunConfig, make_config
from .geometry import NORM_THRESHOLD
from .phase import LABELS, OTHER, Grid, PhaseDiagram, _check, _numpy, solution_losses


def classify_solution(W: Float[Tensor, "2 1"] | np.ndarray, norm_threshold: float = NORM_THRESHOLD) -> str:
    """Label a trained n=2, m=1 instance W (feature rows): feature i counts as represented when ||W_i|| >=
    norm_threshold (0.5, halfway between the dropped ~0 and kept ~1 norms); both represented with W_1 . W_2 < 0 is
    "superposition". Returns OTHER for W outside the three phases (both dropped, or both kept with W_1 . W_2 >= 0).

    >>> classify_solution(np.array([[0.98], [-1.02]])), classify_solution(np.array([[0.03], [1.0]]))
    ('superposition', 'dedicated')
    """
    W = np.asarray(W.detach().cpu() if isinstance(W, Tensor) else W, dtype=np.float64)
    if W.ndim != 2 or W.shape[0] != 2:
        raise ValueError(f"classify_solution expects W of shape [2, n_hidden], got {tuple(W.shape)}")
    kept = np.linalg.norm(W, axis=1) >= norm_threshold
    if kept[0] and kept[1]:
        return "superposition" if float(W[0] @ W[1]) < 0 else OTHER
    if kept[0]:
        return "not represented"
    if kept[1]:
        return "dedicated"
    return OTHER


def cell_instance(i: int, j: int, n_p: int) -> int:
    """The instance that holds cell (r_values[i], p_values[j]) in phase_configs' layout (r-major)."""
    return i * n_p + j


def phase_configs(
    r_values: Grid,
    p_values: Grid,
    seeds: Sequence[int] = (0, 1, 2),
    steps: int = 3000,
    lr: float = 3e-3,
    batch_size: int = 1024,
    n_features: int = 2,
    n_hidden: int = 1,
    **train: object,
) -> list[RunConfig]:
    """One RunConfig per seed for the empirical diagram: n ReLU features in m dimensions (n=2, m=1 by default),
    one instance per (r, p) cell (instance cell_instance(i, j, n_p)), importance 1 for every feature but the last,
    r for the last ("extra") one, and probability p. Extra keyword arguments go to TrainConfig (e.g. optimizer,
    device)."""
    cells = [(float(r), float(p)) for r in r_values for p in p_values]
    for r, p in cells:
        _check(r, p)
    data = dict(n_features=n_features, importance=[[1.0] * (n_features - 1) + [r] for r, _ in cells],
                feature_probability=[p for _, p in cells])
    return [
        make_config(data=data, model=dict(kind="relu", n_hidden=n_hidden),
                    train=dict(steps=steps, lr=lr, batch_size=batch_size, seed=int(seed), **train))
        for seed in seeds
    ]


Rule = Literal["majority", "lowest_loss", "drop_worst"]
RULES: tuple[Rule, ...] = ("majority", "lowest_loss", "drop_worst")


@dataclass
class Seeds:
    """What every trained seed found in every cell: `labels[s, i, j]` is seed s's solution at (r_values[i],
    p_values[j]) and `losses[s, i, j]` its exact expected loss (None when the seeds came without a bias).

    The empirical diagrams are readings of this table (`diagram(rule)`), and `share_in(theory)` says, cell by cell,
    how many seeds land in the theory's solution."""

    r_values: np.ndarray
    p_values: np.ndarray
    labels: np.ndarray
    losses: np.ndarray | None = None
    order: tuple[str, ...] = (*LABELS, OTHER)  # the majority's tie-break, earliest first

    @classmethod
    def of(
        cls,
        runs: Sequence[Any],
        r_grid: Grid,
        p_grid: Grid,
        norm_threshold: float = NORM_THRESHOLD,
        with_losses: bool = True,
        *,
        n_features: int = 2,
        classify: Callable[[np.ndarray, float], str] = classify_solution,
        score: Callable[[np.ndarray, np.ndarray, float, float], np.ndarray] = solution_losses,
        order: tuple[str, ...] = (*LABELS, OTHER),
    ) -> "Seeds":
        """The table of `runs` (one trained Run per seed, or W tensors [n_cells, n_features, n_hidden]) in
        phase_configs' layout. Losses are computed when `with_losses` and every run has a bias b.

        The defaults read the n = 2 diagram; another diagram passes its feature count, its classifier (W, norm
        threshold) -> label, its exact loss (W [k, n, m], b [k, n], r, p) -> [k] and its labels in tie-break order."""
        r_values, p_values = np.asarray(r_grid, dtype=np.float64), np.asarray(p_grid, dtype=np.float64)
        n_r, n_p = len(r_values), len(p_values)
        if not runs:
            raise ValueError("empirical_diagram needs at least one run")
        Ws = [run.W if hasattr(run, "W") else run for run in runs]
        for W in Ws:
            if tuple(W.shape)[:2] != (n_r * n_p, n_features):
                raise ValueError(f"each W must be [{n_r * n_p}, {n_features}, n_hidden] for a {n_r} x {n_p} grid, "
                                 f"got {tuple(W.shape)}")
        bs: list[Any] = [getattr(run, "b", None) for run in runs]
        scored = with_losses and all(b is not None for b in bs)
        labels = np.empty((len(Ws), n_r, n_p), dtype=object)
        losses = np.full((len(Ws), n_r, n_p), np.nan) if scored else None
        for i, r in enumerate(r_values):
            for j, p in enumerate(p_values):
                k = cell_instance(i, j, n_p)
                labels[:, i, j] = [classify(W[k], norm_threshold) for W in Ws]
                if losses is not None:  # every seed's instance of the cell in one evaluation
                    losses[:, i, j] = score(np.stack([_numpy(W[k]) for W in Ws]),
                                            np.stack([_numpy(b[k]) for b in bs]), float(r), float(p))
        return cls(r_values, p_values, labels, losses, order)

    @property
    def n_seeds(self) -> int:
        return self.labels.shape[0]

    def share_in(self, diagram: PhaseDiagram) -> np.ndarray:
        """Per cell, the share of seeds whose solution is `diagram`'s label there (e.g. the theory's)."""
        if diagram.labels.shape != self.labels.shape[1:]:
            raise ValueError(f"diagram grid {diagram.labels.shape} differs from the seeds' {self.labels.shape[1:]}")
        return (self.labels == diagram.labels[None]).mean(axis=0)

    def diagram(self, rule: Rule = "majority") -> PhaseDiagram:
        """The label the seeds give each cell under `rule`; `votes` is the share of the seeds read that found it.

        - "majority": the label most seeds found (ties go to the earliest in `order`): which solution
          training usually reaches.
        - "lowest_loss": the label of the seed with the lowest exact expected loss: an estimate of the global
          optimum, which is what the theory predicts (seeds can stay in a one-feature local minimum).
        - "drop_worst": the majority after the seed with the highest loss is discarded: the paper's reading ("we
          train ten models for each point and average over the results, discarding the model with the highest
          loss").
        """
        if rule not in RULES:
            raise ValueError(f"rule must be one of {', '.join(RULES)}, got {rule!r}")
        if rule != "majority" and self.losses is None:
            raise ValueError(f"rule={rule!r} needs trained Runs with a bias (it scores each seed's W and b)")
        n_r, n_p = self.labels.shape[1:]
        losses = self.losses if self.losses is not None else np.zeros(self.labels.shape)  # majority reads no loss
        labels = np.empty((n_r, n_p), dtype=object)
        votes = np.empty((n_r, n_p))
        for i in range(n_r):
            for j in range(n_p):
                found = list(self.labels[:, i, j])
                if rule == "lowest_loss":
                    labels[i, j] = found[int(np.argmin(losses[:, i, j]))]
                else:
                    if rule == "drop_worst" and len(found) > 1:
                        found.pop(int(np.argmax(losses[:, i, j])))
                    labels[i, j] = _most_found(found, self.order)
                votes[i, j] = found.count(labels[i, j]) / len(found)
        return PhaseDiagram(self.r_values, self.p_values, labels, votes=votes,
                            meta={"kind": "empirical", "rule": rule, "seeds": self.n_seeds})


def _most_found(found: list[str], order: Sequence[str]) -> str:
    """The label found most often; ties go to the earliest in `order`."""
    counts = Counter(found)
    top = max(counts.values())
    rank = {name: k for k, name in enumerate(order)}
    return min((name for name, c in counts.items() if c == top), key=rank.__getitem__)


def empirical_diagram(
    runs: Sequence[object],
    r_values: Grid,
    p_values: Grid,
    rule: Rule = "majority",
    norm_threshold: float = NORM_THRESHOLD,
) -> PhaseDiagram:
    """The label trained models give each cell: `Seeds.of(runs, ...).diagram(rule)` (see `Seeds.diagram` for the
    rules). `runs` holds one trained Run per seed (or, for the majority rule, W tensors [n_cells, 2, n_hidden]) in
    phase_configs' layout."""
    if rule not in RULES:
        raise ValueError(f"rule must be one of {', '.join(RULES)}, got {rule!r}")
    seeds = Seeds.of(runs, r_values, p_values, norm_threshold, with_losses=rule != "majority")
    return seeds.diagram(rule)
