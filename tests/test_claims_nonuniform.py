"""Both ways for the non-uniform superposition experiment: hand-made sweeps (a pentagon whose angles beside feature 0
open with its density or importance, digons with feature 0 dropped, a feature that fades instead of snapping) fed
to the experiment's analysis; and the expected loss it reads checked against sampled batches."""

import math

import pandas as pd
import pytest
import torch
from claim_cases import BothWays

from superposition.analysis.nonuniform import LossModel, neighbour_gaps
from superposition.data import FeatureData
from superposition.experiments.nonuniform import NONUNIFORM, RATIOS, nonuniform_configs
from superposition.models import ToyModel
from superposition.runs import Run

CASES = BothWays()
UNIFORM = RATIOS.index(1.0)


def at_angles(degrees: list[float], norms: list[float] | None = None) -> torch.Tensor:
    """Features 0..4 as vectors at the given angles (degrees) and norms (1 by default)."""
    norms = norms or [1.0] * len(degrees)
    t = torch.tensor(degrees, dtype=torch.float64) * math.pi / 180
    return (torch.stack([t.cos(), t.sin()], dim=-1) * torch.tensor(norms, dtype=torch.float64)[:, None]).float()


def pentagon(beside: float = 72.0, norm0: float = 1.0) -> torch.Tensor:
    """Feature 0 at 0 degrees, its neighbours `beside` degrees away on either side, the other gaps equal."""
    rest = (360 - 2 * beside) / 3
    return at_angles([0.0, beside, beside + rest, beside + 2 * rest, 360 - beside], [norm0, 1, 1, 1, 1])


def digons() -> torch.Tensor:
    """Feature 0 dropped; 1 and 3, 2 and 4 antipodal, the pairs orthogonal."""
    return at_angles([0.0, 0.0, 90.0, 180.0, 270.0], [0.0, 1, 1, 1, 1])


def opening(k: int) -> torch.Tensor:
    """The pentagon as the paper describes it: 4 degrees more room beside feature 0 per doubling of its value."""
    return pentagon(72.0 + 4.0 * math.log2(RATIOS[k]))


def sweep(name: str, make) -> Run:
    """The experiment's run `name` (one fit per value) with W = make(k) at the k-th value, bias -0.05."""
    config = nonuniform_configs(False, fits=1)[name]
    W = torch.stack([make(k) for k in range(len(RATIOS))])
    history = pd.DataFrame([(100, k, 0.1) for k in range(len(RATIOS))], columns=["step", "instance", "loss"])
    return Run(config=config, model=ToyModel.from_weights(W, torch.full(W.shape[:2], -0.05)), history=history)


def analyze(density=None, importance=None):
    """The analysis of both runs; each defaults to the paper's picture (digons below 0.3, an opening pentagon above)."""
    paper = sweep_paper()
    return NONUNIFORM.analyze({"density": density or paper["density"],
                               "importance": importance or paper["importance"]}, False)


def snap_at(first_pentagon: int):
    return lambda k: digons() if k < first_pentagon else opening(k)


def sweep_paper() -> dict[str, Run]:
    return {name: sweep(name, snap_at(3)) for name in ("density", "importance")}


def fading(k: int) -> torch.Tensor:
    """Feature 0's norm grows smoothly with the value (0.32 + 0.05 k), crossing the represented threshold between the
    3rd and 4th values: a class change with no jump in the geometry or the loss's slope."""
    return pentagon(72.0, norm0=0.32 + 0.05 * k)


for sweep_name in ("density", "importance"):
    @CASES.case(f"nonuniform.{sweep_name}.deforms", holds=True)
    def pentagon_that_opens_beside_the_varied_feature(name=sweep_name):
        return analyze(**{name: sweep(name, snap_at(3))})

    @CASES.case(f"nonuniform.{sweep_name}.deforms", holds=False)
    def rigid_pentagon_that_never_deforms(name=sweep_name):
        return analyze(**{name: sweep(name, lambda k: digons() if k < 3 else pentagon())})

    @CASES.case(f"nonuniform.{sweep_name}.loss-kink", holds=True)
    def pentagon_then_digons_with_a_slope_jump(name=sweep_name):
        return analyze(**{name: sweep(name, snap_at(3))})

    @CASES.case(f"nonuniform.{sweep_name}.loss-kink", holds=False)
    def feature_that_fades_out_smoothly(name=sweep_name):
        return analyze(**{name: sweep(name, fading)})


@CASES.case("nonuniform.density.snaps", holds=True)
def sparse_feature_dropped_into_two_digons():
    return analyze(density=sweep("density", snap_at(3)))


@CASES.case("nonuniform.density.snaps", holds=False)
def sparse_feature_that_fades_instead_of_snapping():
    return analyze(density=sweep("density", fading))


@CASES.case("nonuniform.density.snap-location", holds=True)
def snap_three_times_sparser():
    return analyze(density=sweep("density", snap_at(3)))


@CASES.case("nonuniform.density.snap-location", holds=False)
def snap_just_below_the_uniform_point():
    return analyze(density=sweep("density", snap_at(UNIFORM)))


@CASES.case("nonuniform.importance.snaps", holds=True)
def unimportant_feature_dropped_into_two_digons():
    return analyze(importance=sweep("importance", snap_at(3)))


@CASES.case("nonuniform.importance.snaps", holds=False)
def snap_to_an_arrangement_that_is_no_polytope():
    lopsided = at_angles([0.0, 10.0, 100.0, 200.0, 250.0], [0.0, 1, 1, 1, 1])
    return analyze(importance=sweep("importance", lambda k: lopsided if k < 3 else opening(k)))


test_verdict = CASES.test()


def test_expected_loss_matches_sampled_batches():
    """The loss computed over active sets agrees with the model's loss on sampled batches (uniform magnitudes)."""
    config = nonuniform_configs(False, fits=1)["density"]
    torch.manual_seed(0)
    W, b = 0.7 * torch.randn(len(RATIOS), 5, 2), -0.1 * torch.rand(len(RATIOS), 5)
    exact = LossModel.of(W, b).loss(config.data.probability(), config.data.importance_table())
    model, data = ToyModel.from_weights(W, b), FeatureData(config.data)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        sampled = torch.stack([model.loss(data.sample(20_000, g)).double() for _ in range(40)]).mean(0)
    # 800k samples at density 0.05: about 1% standard error on each instance's loss.
    assert torch.allclose(exact, sampled, rtol=0.04)


@pytest.mark.parametrize("wrt", ["density", "importance"])
def test_slopes_are_the_derivatives_of_the_expected_loss(wrt):
    torch.manual_seed(2)
    W, b = torch.randn(4, 5, 2), -0.1 * torch.rand(4, 5)
    p, I = torch.full((4, 5), 0.05).double(), torch.ones(4, 5).double()
    lm, h = LossModel.of(W, b), 1e-6
    if wrt == "density":
        step = p.clone()
        step[:, 0] += h
        numeric, slope = (lm.loss(step, I) - lm.loss(p, I)) / h, lm.slope_density(p, I, 0)
    else:
        step = I.clone()
        step[:, 0] += h
        numeric, slope = (lm.loss(p, step) - lm.loss(p, I)) / h, lm.slope_importance(p, I, 0)
    assert torch.allclose(numeric, slope, rtol=1e-4, atol=1e-12)


def test_neighbour_gaps_go_round_from_the_given_feature():
    gaps = neighbour_gaps(pentagon(80.0), 0)
    assert gaps[0] == pytest.approx(80.0) and gaps[-1] == pytest.approx(80.0) and sum(gaps) == pytest.approx(360.0)
    assert neighbour_gaps(digons(), 0) == []
