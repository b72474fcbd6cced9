"""Both ways for the learning-dynamics claims: hand-made trajectory tables (D_i of each feature at log-spaced
snapshots) and loss histories, fed to the experiment's `measure` and `dynamics_claims`; and the experiment's analysis
on a run whose snapshots are missing (every claim still reported, not reproduced)."""

import math

import numpy as np
import pandas as pd
from claim_cases import BothWays

from superposition import make_config
from superposition.experiments.dynamics import DYNAMICS, dynamics_claims, measure
from superposition.models import ToyModel
from superposition.runs import Run

CASES = BothWays()
STEPS = np.unique(np.round(np.geomspace(1, 10_000, 150)).astype(int))
M = 2


def ramp(a: float, b: float, t0: float, t1: float) -> np.ndarray:
    """D = a until step t0, then linear in log(step) to b at t1, then b."""
    x = np.clip((np.log(STEPS) - math.log(t0)) / (math.log(t1) - math.log(t0)), 0, 1)
    return a + (b - a) * x


def table(series: dict[tuple[int, int], np.ndarray]) -> pd.DataFrame:
    rows = [(s, int(step), inst, feat, float(D[s])) for (inst, feat), D in series.items() for s, step in enumerate(STEPS)]
    return pd.DataFrame(rows, columns=["snapshot", "step", "instance", "feature", "dimensionality"])


def loss(instances: int, drop_at: float | None, length: float = 300, depth: float = 0.3) -> pd.DataFrame:
    """A slowly declining loss per instance, with a sudden fall by `depth` over [drop_at, drop_at + length]."""
    steps = np.arange(10, 10_001, 10)
    base = 0.03 * steps ** -0.05
    if drop_at is not None:
        base = base * (1 - depth * np.clip((steps - drop_at) / length, 0, 1))
    return pd.DataFrame([(int(s), k, float(v)) for k in range(instances) for s, v in zip(steps, base)],
                        columns=["step", "instance", "loss"])


def swapping(k: int, at: float = 1000, over: float = 300, start: float = 0.5) -> dict[tuple[int, int], np.ndarray]:
    """Instance k: two features leave a digon for a pentagon (1/2 -> 2/5) as a third joins (0 -> 2/5), quickly."""
    return {(k, 0): ramp(start, 0.4, at, at + over), (k, 1): ramp(start, 0.4, at, at + over),
            (k, 2): ramp(0.0, 0.4, at, at + over), (k, 3): np.full(len(STEPS), 0.4)}


def claims(series: dict, history: pd.DataFrame):
    return dynamics_claims(measure(table(series), history, M))


def three_models(**kw) -> dict:
    return {key: D for k in range(3) for key, D in swapping(k, **kw).items()}


# ----------------------------------------------------------------------------------------------- levels


@CASES.case("dynamics.levels", holds=True)
def features_rest_on_levels_between_quick_moves():
    return claims(three_models(), loss(3, 1000))


@CASES.case("dynamics.levels", holds=False)
def features_drift_between_levels():
    # From a dedicated dimension (D = 1) to dropped (D = 0) across most of training: 2/3, 1/2, 2/5 only crossed.
    series = {(k, f): ramp(1.0, 0.0, 10, 5000) for k in range(3) for f in range(3)}
    return claims(series, loss(3, 1000))


# ------------------------------------------------------------------------------------------------ jumps


@CASES.case("dynamics.jumps", holds=True)
def moves_between_levels_are_quick():
    return claims(three_models(), loss(3, 1000))


@CASES.case("dynamics.jumps", holds=False)
def moves_between_levels_are_slow():
    # Features move from a dedicated dimension (1) and from 0 to 2/5, each move taking the step count from 100 to
    # 5000 (far more than a doubling).
    return claims(three_models(at=100, over=4900, start=1.0), loss(3, 1000))


# ------------------------------------------------------------------------------------------- loss drops


@CASES.case("dynamics.loss-drops", holds=True)
def jumps_meet_loss_drops():
    return claims(three_models(), loss(3, 1000))


@CASES.case("dynamics.loss-drops", holds=False)
def loss_drops_elsewhere():
    # The loss drops suddenly, but at step 100, long before the jumps at step 1000.
    return claims(three_models(), loss(3, 100, length=30))


# ------------------------------------------------------------------------------------------------ swaps


@CASES.case("dynamics.swaps", holds=True)
def a_feature_rises_as_others_fall():
    return claims(three_models(), loss(3, 1000))


@CASES.case("dynamics.swaps", holds=False)
def features_only_fall_together():
    # Two features leave a digon (1/2 -> 2/5) but nothing rises to meet them.
    series = {(k, f): ramp(0.5, 0.4, 1000, 1300) for k in range(3) for f in range(2)}
    return claims(series, loss(3, 1000))


test_verdict = CASES.test()


def test_missing_snapshots_give_every_claim_not_reproduced():
    cfg = DYNAMICS.configs(True)["uniform"]
    cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"snapshots": 0})})
    model = ToyModel(cfg.model, n_features=cfg.data.n_features, n_instances=cfg.data.n_instances)
    history = pd.DataFrame([(10, k, 0.1) for k in range(cfg.data.n_instances)], columns=["step", "instance", "loss"])
    findings = DYNAMICS.analyze({"uniform": Run(config=cfg, model=model, history=history)}, True)
    assert [c.id for c in findings.claims] == [s.id for s in DYNAMICS.claims]
    assert not any(c.reproduced for c in findings.claims)
    assert all("snapshots" in c.measured for c in findings.claims)


def test_the_quick_configuration_asks_for_snapshots():
    cfg = DYNAMICS.configs(True)["uniform"]
    assert cfg.train.snapshots > 0 and cfg.model.n_hidden == 2 and cfg.data.n_features >= 5
    assert make_config(data=cfg.data.model_dump()).data.n_features == cfg.data.n_features
