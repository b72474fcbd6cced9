"""analysis.dynamics on hand-made trajectories: the tidy table, plateaus at known fractions, moves and jumps, swaps,
loss drops and their alignment; each hand-computed or built so that the answer is known."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from superposition import make_config
from superposition.analysis import dynamics as dyn

STEPS = np.unique(np.round(np.geomspace(1, 10_000, 150)).astype(int))


def ramp(steps, a: float, b: float, t0: float, t1: float) -> np.ndarray:
    """a until t0, then linear in log(step) to b at t1, then b."""
    x = np.clip((np.log(steps) - math.log(t0)) / (math.log(t1) - math.log(t0)), 0, 1)
    return a + (b - a) * x


def table(*series: tuple[int, int, np.ndarray]) -> pd.DataFrame:
    """A trajectory table (snapshot, step, instance, feature, dimensionality) from (instance, feature, D) series."""
    rows = [(s, int(step), inst, feat, float(D[s])) for inst, feat, D in series for s, step in enumerate(STEPS)]
    return pd.DataFrame(rows, columns=["snapshot", "step", "instance", "feature", "dimensionality"])


def history(loss_of_step) -> pd.DataFrame:
    steps = np.arange(10, 10_001, 10)
    return pd.DataFrame({"step": steps, "instance": 0, "loss": [loss_of_step(s) for s in steps]})


def test_trajectory_table_holds_every_metric_per_snapshot():
    pentagon = torch.tensor([[math.cos(2 * math.pi * k / 5), math.sin(2 * math.pi * k / 5)] for k in range(5)])
    W = torch.stack([0.5 * pentagon, pentagon])[:, None]  # [snap 2, inst 1, feat 5, hidden 2]
    cfg = make_config(data=dict(n_features=5, feature_probability=[0.05]), model=dict(n_hidden=2))
    t = dyn.trajectory_table(W, None, [10, 100], cfg.data)
    assert len(t) == 2 * 5 and list(t.columns[:4]) == ["snapshot", "step", "instance", "feature"]
    assert {"norm", "superposition", "dimensionality", "dims_per_feature", "structure", "fraction"} <= set(t.columns)
    last = t[t.step == 100]
    assert np.allclose(last.dimensionality, 0.4, atol=1e-5) and set(last.structure) == {"pentagon"}
    assert np.allclose(last.dims_per_feature, 2 / 5, atol=1e-5)
    light = dyn.trajectory_table(W, None, [10, 100], cfg.data, geometry=False)
    assert "structure" not in light.columns and np.allclose(light.dimensionality, t.dimensionality)
    with pytest.raises(ValueError, match="one step per snapshot"):
        dyn.trajectory_table(W, None, [10], cfg.data)


def test_known_fractions_fit_the_hidden_dimensions():
    assert set(dyn.known_fractions(2)) == {"1", "2/3", "1/2", "2/5", "0"}
    assert "3/8" in dyn.known_fractions(3) and dyn.level_of(0.385, dyn.known_fractions(2)) == "2/5"
    assert dyn.level_of(0.385, dyn.known_fractions(3)) == "3/8" and dyn.level_of(0.45, dyn.known_fractions(2)) is None


def test_a_quick_move_between_held_levels_is_a_jump():
    t = table((0, 0, ramp(STEPS, 0.5, 0.4, 1000, 1300)))
    p = dyn.plateaus(t, n_hidden=2)
    assert p.level.tolist() == ["1/2", "2/5"] and p.start.iloc[0] == 1 and p.end.iloc[1] == 10_000
    moves = dyn.transitions(p)
    assert len(moves) == 1 and bool(moves.jump.iloc[0]) and moves.direction.iloc[0] == -1
    assert 1000 <= moves.start.iloc[0] < moves.end.iloc[0] <= 1300  # the band of each level is part of it


def test_a_slow_move_is_not_a_jump_and_a_slow_crossing_is_not_a_level():
    t = table((0, 0, ramp(STEPS, 1.0, 0.0, 10, 5000)))
    p = dyn.plateaus(t, n_hidden=2)
    assert p.level.tolist() == ["1", "0"]  # 2/3, 1/2 and 2/5 are crossed, not held
    moves = dyn.transitions(p)
    assert len(moves) == 1 and not bool(moves.jump.iloc[0])
    share = dyn.level_share(p, t, moves)
    assert share.on_levels.iloc[0] < 0.5


def test_a_level_must_be_held_while_the_steps_double():
    D = ramp(STEPS, 0.5, 0.4, 1000, 1100)
    D[(STEPS > 2000) & (STEPS < 3000)] = 0.9  # a short visit elsewhere breaks the last level into two pieces
    p = dyn.plateaus(table((0, 0, D)), n_hidden=2)
    assert [(r.level, r.start >= 3000) for r in p.itertuples()] == [("1/2", False), ("2/5", True)]


def test_opposite_moves_at_the_same_time_are_swaps():
    down = (0, 0, ramp(STEPS, 0.5, 0.4, 1000, 1300))
    up = (0, 1, ramp(STEPS, 0.0, 0.4, 1100, 1400))
    later = (0, 2, ramp(STEPS, 0.5, 0.4, 5, 8))
    moves = dyn.transitions(dyn.plateaus(table(down, up, later), n_hidden=2))
    assert moves.set_index("feature").swap.to_dict() == {0: True, 1: True, 2: False}
    other = (1, 1, ramp(STEPS, 0.0, 0.4, 1100, 1400))  # the same move in another instance is no partner
    moves = dyn.transitions(dyn.plateaus(table(down, other), n_hidden=2))
    assert not moves.swap.any()


def test_a_sudden_drop_of_the_loss_is_found_and_a_smooth_decline_is_not():
    smooth = history(lambda s: 0.05 * s ** -0.2)
    assert dyn.loss_drops(smooth).empty
    step = history(lambda s: 0.02 * (1 - 0.3 * min(1, max(0, (s - 1000) / 300))))
    drops = dyn.loss_drops(step)
    assert len(drops) == 1 and drops.start.iloc[0] <= 1000 and drops.end.iloc[0] >= 1300
    assert drops.fall.iloc[0] > dyn.MIN_FALL


def test_noise_alone_makes_no_drop():
    rng = np.random.default_rng(0)
    noisy = history(lambda s: 0.02 * math.exp(0.05 * rng.standard_normal()))
    assert dyn.loss_drops(noisy).empty


def test_jumps_meet_the_drops_that_overlap_them():
    moves = dyn.transitions(dyn.plateaus(table((0, 0, ramp(STEPS, 0.5, 0.4, 1000, 1300))), n_hidden=2))
    h = history(lambda s: 0.02 * (1 - 0.3 * min(1, max(0, (s - 1000) / 300))))
    jumps, chance = dyn.align(moves, dyn.loss_drops(h), h)
    assert jumps.loss_drop.tolist() == [True] and 0 < chance < 0.5
    elsewhere = history(lambda s: 0.02 * (1 - 0.3 * min(1, max(0, (s - 100) / 30))))
    jumps, _ = dyn.align(moves, dyn.loss_drops(elsewhere), elsewhere)
    assert jumps.loss_drop.tolist() == [False]


def test_log_binning_averages_more_points_late():
    steps = np.arange(1, 1001, dtype=float)
    edges, means, counts = dyn.log_binned(steps, steps, 4.0)  # bins of width log 2: [1,2), [2,4), ...
    assert np.allclose(edges, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512])
    assert means[1] == 2.5 and means[2] == 5.5 and counts.tolist()[:4] == [1, 2, 4, 8]
