"""Learning dynamics of superposition (Elhage et al. 2022, "Superposition and Learning Dynamics", phenomenon 1:
discrete "energy level" jumps): how each feature's dimensionality D_i moves over training.

From a run's weight snapshots (`superposition.snapshots`):

- `trajectory_table`: every per-feature measure we compute for a trained toy model (`analysis.table.feature_table`:
  norms, superposition, D_i, D* = `dims_per_feature`, geometry class and nearest fraction) at each snapshot, as one
  tidy table (snapshot, step, instance, feature, ...);
- `plateaus` and `level_share`: the stretches where a feature's D_i sits on one known fraction (1, 2/3, 1/2, 2/5, ...
  of those that fit in m dimensions) for at least `min_snapshots` snapshots in a row while the step count at least
  doubles (`hold`), and for features that move between levels the share of that stretch spent on them;
- `transitions`: moves from one plateau to the next at another fraction, each marked a *jump* when it completes
  within a short window: the step count grows by at most `ratio` (t_end <= ratio x t_start; log time, the clock of
  log-spaced snapshots), and a *swap* when another feature of the same model makes an opposite move in an overlapping
  window (the paper: features "jump between different values and swap places");
- `loss_drops`: sudden drops of the loss from the run's history: windows [t, ratio x t] in which the log loss (averaged
  in log-spaced bins) falls by at least `min_fall`, by more than `excess` times the fall in each neighbouring window
  of the same length (a kink, not the steady decline of training), and by more than the noise allows;
- `align`: whether each jump coincides with a loss drop (their windows overlap), and the share expected by chance
  (the share of log time that drop windows cover).

>>> plateaus(pd.DataFrame({"step": [1, 2, 3, 4, 5, 8, 12, 16], "instance": 0, "feature": 0,
...                        "dimensionality": [1, 1, 1, .75, .5, .5, .5, .51]}), n_hidden=2)[["level", "start", "end"]]
  level  start  end
0     1      1    3
1   1/2      5   16
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from jaxtyping import Float
from torch import Tensor

from ..config import DataConfig
from .geometry import FRACTION_TOL, FRACTIONS
from .metrics import metrics_table
from .table import feature_table

# A level must be held this many snapshots in a row to count as a plateau (one snapshot can be a crossing) ...
MIN_SNAPSHOTS = 3
# ... while the step count grows by this factor: as long as a jump may take, so a slow drift through a fraction's
# band is not a level, and a jump is short next to the levels it joins.
HOLD_RATIO = 2.0
# A jump completes within a doubling of the step count; loss drops are looked for in windows of the same length.
JUMP_RATIO = 2.0
# A loss drop: the log loss falls by at least this much in its window (about 2%) ...
MIN_FALL = 0.02
# ... and by more than this many times the fall in the windows just before and just after (a kink, not a slope) ...
EXCESS = 1.5
# ... and by more than this many standard errors of the binned means it compares (noise makes no drop).
NOISE_Z = 3.0

TRANSITION_COLUMNS = ["instance", "feature", "from_level", "to_level", "from_value", "to_value", "start", "end",
                      "direction", "jump", "swap"]
DROP_COLUMNS = ["instance", "start", "end", "fall"]


def trajectory_table(
    W: Float[Tensor, "snap inst feat hidden"], b: Float[Tensor, "snap inst feat"] | None, steps: Sequence[int],
    data: DataConfig, geometry: bool = True,
) -> pd.DataFrame:
    """One row per snapshot x instance x feature: `snapshot`, `step`, then every column of `feature_table` at that
    snapshot (norm, superposition, dimensionality, dims_per_feature, structure, fraction, ...); `geometry=False`
    leaves out the geometry columns (`metrics_table` only: much faster for wide models and many snapshots)."""
    if W.ndim != 4 or len(steps) != W.shape[0]:
        raise ValueError(f"W must be [snapshots, instances, features, hidden] with one step per snapshot, got "
                         f"{tuple(W.shape)} and {len(steps)} steps")
    frames = []
    for s, step in enumerate(steps):
        bs = None if b is None else b[s]
        t = feature_table(W[s], bs, data) if geometry else metrics_table(
            W[s], bs, importance=data.importance_table(), probability=data.probability())
        t.insert(0, "step", int(step))
        t.insert(0, "snapshot", s)
        frames.append(t)
    return pd.concat(frames, ignore_index=True)


def known_fractions(n_hidden: int | None = None) -> dict[str, float]:
    """The known fractions (`geometry.FRACTIONS`) that fit in `n_hidden` dimensions: "3/8" needs 3 (a square antiprism),
    so in 2 dimensions D = 0.39 reads as 2/5 (a pentagon), not 3/8. All of them when `n_hidden` is None."""
    return {label: v for label, v in FRACTIONS.items() if n_hidden is None or int(label.split("/")[0]) <= n_hidden}


def level_of(D: float, fractions: Mapping[str, float], tol: float = FRACTION_TOL) -> str | None:
    """The label of the fraction nearest `D` among `fractions`, or None when none lies within `tol`."""
    label, value = min(fractions.items(), key=lambda kv: abs(kv[1] - D))
    return label if abs(value - D) <= tol else None


def plateaus(
    table: pd.DataFrame, n_hidden: int | None = None, min_snapshots: int = MIN_SNAPSHOTS,
    hold: float = HOLD_RATIO, tol: float = FRACTION_TOL,
) -> pd.DataFrame:
    """Per instance and feature, the runs of consecutive snapshots whose D_i (`dimensionality`) lies within `tol` of
    one known fraction, at least `min_snapshots` of them, from a step t to a step >= hold x t: columns instance,
    feature, level, value, start, end (the first and last step of the run), snapshots."""
    fractions = known_fractions(n_hidden)
    rows = []

    def keep(run: list) -> bool:
        return run[0] is not None and run[3] >= min_snapshots and run[2] >= hold * run[1]

    for (inst, feat), g in table.sort_values("step").groupby(["instance", "feature"], sort=True):
        run: list = []  # [level, start, end, count]
        for step, D in zip(g.step.tolist(), g.dimensionality.tolist()):
            level = level_of(float(D), fractions, tol)
            if run and run[0] == level:
                run[2], run[3] = step, run[3] + 1
                continue
            if run and keep(run):
                rows.append((inst, feat, run[0], fractions[run[0]], run[1], run[2], run[3]))
            run = [level, step, step, 1]
        if run and keep(run):
            rows.append((inst, feat, run[0], fractions[run[0]], run[1], run[2], run[3]))
    return pd.DataFrame(rows, columns=["instance", "feature", "level", "value", "start", "end", "snapshots"])


def level_share(plateau_table: pd.DataFrame, table: pd.DataFrame, moves: pd.DataFrame) -> pd.DataFrame:
    """For every feature that moves between levels (a row of `moves`), the share of its snapshots from its first
    plateau's start to its last plateau's end that lie on plateaus: how much of that stretch the feature rests on
    levels rather than drifting between them (log time for log-spaced snapshots). Columns instance, feature,
    on_levels, snapshots."""
    rows = []
    for inst, feat in sorted(set(zip(moves.instance, moves.feature))):
        p = plateau_table[(plateau_table.instance == inst) & (plateau_table.feature == feat)]
        steps = table[(table.instance == inst) & (table.feature == feat)].step
        span = int(((steps >= p.start.min()) & (steps <= p.end.max())).sum())
        rows.append((inst, feat, float(p.snapshots.sum()) / span, span))
    return pd.DataFrame(rows, columns=["instance", "feature", "on_levels", "snapshots"])


def transitions(plateau_table: pd.DataFrame, ratio: float = JUMP_RATIO) -> pd.DataFrame:
    """Moves between consecutive plateaus of a feature at different levels: from/to level and value, `start` (the
    old plateau's last step), `end` (the new one's first step), `direction` (+1 up, -1 down), `jump` (end <= ratio x
    start) and `swap` (another feature of the instance moves the other way in an overlapping window)."""
    rows = []
    for (inst, feat), g in plateau_table.sort_values("start").groupby(["instance", "feature"], sort=True):
        recs = g.to_dict("records")
        for a, c in zip(recs, recs[1:]):
            if a["level"] == c["level"]:  # left a level and came back: no move between levels
                continue
            rows.append({"instance": inst, "feature": feat, "from_level": a["level"], "to_level": c["level"],
                         "from_value": a["value"], "to_value": c["value"], "start": int(a["end"]),
                         "end": int(c["start"]), "direction": 1 if c["value"] > a["value"] else -1,
                         "jump": c["start"] <= ratio * a["end"]})
    out = pd.DataFrame(rows, columns=TRANSITION_COLUMNS[:-1])
    out["swap"] = [_has_opposite(out, r) for r in out.itertuples()]
    return out[TRANSITION_COLUMNS]


def _has_opposite(moves: pd.DataFrame, r) -> bool:
    """Whether another feature of r's instance moves the opposite way in a window overlapping r's."""
    other = moves[(moves.instance == r.instance) & (moves.feature != r.feature) & (moves.direction == -r.direction)]
    return bool(((other.start <= r.end) & (other.end >= r.start)).any())


def log_binned(steps: np.ndarray, values: np.ndarray, ratio: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean of `values` in bins of log-width sqrt(ratio) (two bins a window), from the first step; empty bins are
    dropped. Returns each bin's lower edge, mean and count. Late bins average many logged windows, so noise shrinks
    where a fixed-size window would see only one point."""
    width = math.log(ratio) / 2
    index = np.floor((np.log(steps) - math.log(steps[0])) / width + 1e-9).astype(int)
    bins = np.unique(index)
    edges = steps[0] * np.exp(bins * width)
    means = np.array([values[index == j].mean() for j in bins])
    counts = np.array([(index == j).sum() for j in bins])
    return edges, means, counts


def noise_level(values: np.ndarray) -> float:
    """The point-to-point noise of a series (robust: the median absolute difference of neighbours, scaled to a
    standard deviation; differences cancel the slow trend)."""
    if len(values) < 3:
        return 0.0
    return float(1.4826 * np.median(np.abs(np.diff(values))) / math.sqrt(2))


def loss_drops(
    history: pd.DataFrame, ratio: float = JUMP_RATIO, min_fall: float = MIN_FALL, excess: float = EXCESS,
    z: float = NOISE_Z,
) -> pd.DataFrame:
    """Sudden drops of each instance's loss (history: step, instance, loss). The log loss is averaged in bins of
    log-width sqrt(ratio) (`log_binned`); a window of two bins [t, ~ratio x t] is a drop when its fall is >= `min_fall`,
    > `excess` x the fall of each neighbouring window (two bins before, two after), and > `z` standard errors of the
    two bin means it compares (from the series' `noise_level`), so a noisy single point is no drop. Overlapping drop
    windows merge. Columns instance, start, end (steps), fall (the largest window fall; 0.1: a loss 10% lower in
    log terms)."""
    rows = []
    for inst, g in history.sort_values("step").groupby("instance", sort=True):
        steps = g.step.to_numpy(dtype=float)
        logs = np.log(np.clip(g.loss.to_numpy(dtype=float), 1e-30, None))
        edges, y, count = log_binned(steps, logs, ratio)
        sigma = noise_level(logs)
        if len(y) < 7:
            continue
        intervals: list[list[float]] = []
        for j in range(2, len(y) - 4):
            now, before, after = y[j] - y[j + 2], y[j - 2] - y[j], y[j + 2] - y[j + 4]
            noise = z * sigma * math.sqrt(1 / count[j] + 1 / count[j + 2])
            if now >= max(min_fall, noise) and now > excess * max(before, 0.0) and now > excess * max(after, 0.0):
                lo, hi = edges[j], edges[j + 3] if j + 3 < len(edges) else steps[-1]
                if intervals and lo <= intervals[-1][1]:
                    intervals[-1][1], intervals[-1][2] = hi, max(intervals[-1][2], now)
                else:
                    intervals.append([lo, hi, now])
        rows += [(inst, int(round(lo)), int(round(hi)), float(f)) for lo, hi, f in intervals]
    return pd.DataFrame(rows, columns=DROP_COLUMNS)


def align(moves: pd.DataFrame, drops: pd.DataFrame, history: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """The jumps of `moves` with a column `loss_drop` (a loss drop of the same instance overlaps the jump's window), and
    the share expected by chance: the mean over jumps of the share of its instance's logged log-time that drop
    windows (widened by the jump's own length) cover."""
    jumps = moves[moves.jump].copy()
    hits, chance = [], []
    for r in jumps.itertuples():
        d = drops[drops.instance == r.instance]
        hits.append(bool(((d.start <= r.end) & (d.end >= r.start)).any()))
        steps = history[history.instance == r.instance].step
        lo, hi = math.log(max(1, steps.min())), math.log(steps.max())
        span = max(math.log(max(r.end, 1) / max(r.start, 1)), 0.0)
        covered = sum(min(hi, math.log(e) + span) - max(lo, math.log(s)) for s, e in zip(d.start, d.end)
                      if math.log(e) + span > lo and math.log(s) < hi)
        chance.append(min(1.0, covered / (hi - lo)) if hi > lo else 0.0)
    jumps["loss_drop"] = hits
    return jumps, float(np.mean(chance)) if chance else math.nan


__all__ = ["align", "known_fractions", "level_of", "level_share", "log_binned", "loss_drops",
           "noise_level", "plateaus", "trajectory_table", "transitions"]
