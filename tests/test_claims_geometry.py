"""Both ways for feature geometry (feature-geometry, and feature-geometry-large at the paper's n = 400, m = 30):
hand-made sweeps whose D* and D_i are known exactly (orthonormal frames, antipodal pairs, triangles, tetrahedra,
pentagons, square antiprisms, scaled frames with no plateau), fed to the experiments' analyses."""

import math

import numpy as np
import pytest
import torch
from claim_cases import BothWays
from superposition.experiments.geometry_large import GEOMETRY_LARGE
from test_experiments_geometry import (
    M, N, PLATEAU_PROBS, antipodal_pairs, claims_of, frame, make_run, pentagons, plateau_run,
)

CASES = BothWays()
# D* = 1, 0.82, 0.64, 0.46, 0.28, 0.1: a smooth fall that crosses 1/2 at a single instance, on no fraction.
SMOOTH = [1.0, 0.82, 0.64, 0.46, 0.28, 0.1]


def polytope(name: str) -> torch.Tensor:
    """Unit vertices of a uniform polytope, one row per feature, in as many dims as it spans."""
    if name in ("triangle", "pentagon"):
        t = torch.arange(3 if name == "triangle" else 5) * 2 * math.pi / (3 if name == "triangle" else 5)
        return torch.stack([t.cos(), t.sin()], dim=-1)
    if name == "tetrahedron":
        return torch.tensor([[1.0, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / math.sqrt(3)
    # square antiprism: two squares 45 degrees apart at z = +-1/sqrt(3), where every feature's D is exactly 3/8
    t = torch.arange(8) * math.pi / 4
    z = torch.where(torch.arange(8) % 2 == 0, 1.0, -1.0) / math.sqrt(3)
    return torch.stack([math.sqrt(2 / 3) * t.cos(), math.sqrt(2 / 3) * t.sin(), z], dim=-1)


def tegum(*blocks: torch.Tensor) -> torch.Tensor:
    """Polytopes in orthogonal subspaces (the paper's tegum product), features in order, the rest not represented."""
    W = torch.zeros(N, M)
    f = d = 0
    for block in blocks:
        W[f:f + block.shape[0], d:d + block.shape[1]] = block
        f, d = f + block.shape[0], d + block.shape[1]
    assert d <= M
    return W


PAIR = torch.tensor([[1.0], [-1.0]])
EVERY_LINE = [  # D* = 1, 0.8, 2/3, 1/2, 2/5, 2/5, each fraction line populated
    frame(),
    tegum(polytope("tetrahedron"), torch.ones(1, 1)),
    tegum(polytope("triangle"), polytope("triangle")),
    antipodal_pairs(),
    pentagons(),
    tegum(polytope("square antiprism"), PAIR),
]


@CASES.case("geometry.dense-one", holds=True)
def dense_features_get_a_dimension_each():
    return claims_of(plateau_run())


@CASES.case("geometry.dense-one", holds=False)
def dense_features_in_antipodal_pairs():
    return claims_of(make_run([antipodal_pairs(), *[pentagons()] * 5], PLATEAU_PROBS))


@CASES.case("geometry.half-plateau", holds=True)
def four_instances_of_antipodal_pairs():
    return claims_of(plateau_run())


@CASES.case("geometry.half-plateau", holds=False)
def a_smooth_fall_through_one_half():
    return claims_of(make_run([frame(t**-0.5) for t in SMOOTH], PLATEAU_PROBS))


@CASES.case("geometry.falls-with-sparsity", holds=True)
def from_one_to_two_fifths():
    return claims_of(plateau_run())


@CASES.case("geometry.falls-with-sparsity", holds=False)
def dimensions_per_feature_that_rise_again():
    return claims_of(make_run([frame(), antipodal_pairs(), frame(0.7**-0.5), pentagons(), pentagons(), pentagons()],
                              PLATEAU_PROBS))


@CASES.case("geometry.on-fractions", holds=True)
def pairs_and_pentagons():
    return claims_of(plateau_run())


@CASES.case("geometry.on-fractions", holds=False)
def spread_frames_sit_on_no_fraction():
    return claims_of(make_run([frame(t**-0.5) for t in SMOOTH], PLATEAU_PROBS))


@CASES.case("geometry.fraction-lines", holds=True)
def every_polytope_of_the_paper():
    return claims_of(make_run(EVERY_LINE, PLATEAU_PROBS))


@CASES.case("geometry.fraction-lines", holds=False)
def only_pairs_and_pentagons():
    return claims_of(plateau_run())


def large_claims_of(run, name="paper"):
    """feature-geometry-large's findings with `run` as its n = 400 sweep ("paper") or its dense end ("dense-end")."""
    return GEOMETRY_LARGE.analyze({name: run}, False)


def dense_end_claims_of(run):
    return large_claims_of(run, "dense-end")


# D* = 1 from 1/(1-S) = 1 to 1.67, then pairs (1/2) and pentagons (2/5) down to 1/(1-S) = 10: the stay at 1 spans
# ln(1.67) = 0.51 e-folds, where a fall at the mean rate (0.6 / ln 10 per e-fold) leaves the band after 0.19.
STAY_PROBS = [1.0, 0.85, 0.7, 0.6, 0.4, 0.25, 0.1]


def stay_then_fall(stay: int = 4):
    rest = [antipodal_pairs()] * (len(STAY_PROBS) - 1 - stay) + [pentagons()]
    return make_run([frame()] * stay + rest, STAY_PROBS)


@CASES.case("geometry.sticky-at-one", holds=True)
def one_dimension_per_feature_until_one_over_one_minus_s_is_5_over_3():
    return dense_end_claims_of(stay_then_fall())


@CASES.case("geometry.sticky-at-one", holds=False)
def a_smooth_fall_from_the_dense_end():
    return dense_end_claims_of(make_run([frame(t**-0.5) for t in SMOOTH], PLATEAU_PROBS))


@CASES.case("geometry.n400.half-plateau", holds=True)
def four_instances_of_antipodal_pairs_at_the_papers_size():
    return large_claims_of(plateau_run())


@CASES.case("geometry.n400.half-plateau", holds=False)
def a_smooth_fall_through_one_half_at_the_papers_size():
    return large_claims_of(make_run([frame(t**-0.5) for t in SMOOTH], PLATEAU_PROBS))


@CASES.case("geometry.n400.falls-with-sparsity", holds=True)
def from_one_to_two_fifths_at_the_papers_size():
    return large_claims_of(plateau_run())


@CASES.case("geometry.n400.falls-with-sparsity", holds=False)
def dimensions_per_feature_that_never_fall_below_one_half():
    return large_claims_of(make_run([frame()] * 2 + [antipodal_pairs()] * 4, PLATEAU_PROBS))


@CASES.case("geometry.n400.on-fractions", holds=True)
def pairs_and_pentagons_at_the_papers_size():
    return large_claims_of(plateau_run())


@CASES.case("geometry.n400.on-fractions", holds=False)
def spread_frames_at_the_papers_size():
    return large_claims_of(make_run([frame(t**-0.5) for t in SMOOTH], PLATEAU_PROBS))


@CASES.case("geometry.n400.fraction-lines", holds=True)
def every_polytope_at_the_papers_size():
    return large_claims_of(make_run(EVERY_LINE, PLATEAU_PROBS))


@CASES.case("geometry.n400.fraction-lines", holds=False)
def no_tetrahedra_triangles_or_antiprisms():
    return large_claims_of(plateau_run())


@CASES.case("geometry.n400.pair-and-pentagon-lines", holds=True)
def pairs_then_pentagons():
    return large_claims_of(plateau_run())


@CASES.case("geometry.n400.pair-and-pentagon-lines", holds=False)
def pairs_then_square_antiprisms_and_no_pentagon():
    return large_claims_of(make_run([frame(), *[antipodal_pairs()] * 4, tegum(polytope("square antiprism"), PAIR)],
                                    PLATEAU_PROBS))


test_verdict = CASES.test()


def test_the_plateau_sweep_reports_where_the_plateau_is_and_which_lines_are_missing():
    claims = claims_of(plateau_run())
    # Four instances at 1/(1-S) = 2 ... 5, all antipodal pairs.
    assert "4 consecutive instances at 1/(1-S) = 2-5" in claims["geometry.half-plateau"].measured
    assert "32 of 32 represented features there are in antipodal pairs" in claims["geometry.half-plateau"].measured
    # Every represented feature of the five superposing instances sits on 1/2 or 2/5.
    assert claims["geometry.on-fractions"].measured.startswith("42 of 42 features (100%) in 5 instances")
    lines = claims["geometry.fraction-lines"]
    assert "1/2: 76%" in lines.measured and "2/5: 24%" in lines.measured and "3/4: 0%" in lines.measured
    assert lines.note.startswith("Missing or thin: 3/4, 2/3, 3/8.")


def test_every_line_sweep_counts_each_polytope_on_its_fraction():
    claims = claims_of(make_run(EVERY_LINE, PLATEAU_PROBS))
    # 4 + 6 + 8 + 2 at 1/2 ... : 5 instances superpose, 39 features, every one on a fraction (the dedicated one on 1)
    assert claims["geometry.on-fractions"].measured.startswith("39 of 39 features (100%) in 5 instances")
    assert claims["geometry.fraction-lines"].measured == "3/4: 10%; 2/3: 15%; 1/2: 26%; 2/5: 26%; 3/8: 21%"
    assert not claims["geometry.fraction-lines"].note


def test_a_smooth_fall_is_reported_as_a_crossing_with_the_share_on_a_fraction_per_instance():
    claims = claims_of(make_run([frame(t**-0.5) for t in SMOOTH], PLATEAU_PROBS))
    plateau = claims["geometry.half-plateau"]
    assert plateau.measured.startswith("1 consecutive instance at")
    assert "Only one instance" in plateau.note
    assert claims["geometry.falls-with-sparsity"].reproduced
    assert "Share on a fraction by instance" in claims["geometry.on-fractions"].note


def test_a_plateau_too_short_for_the_threshold_is_reported_with_its_slope():
    # Two instances near 1/2 on a wide grid: the curve flattens, but over too short a range.
    run = make_run([frame(), frame(0.6**-0.5), antipodal_pairs(), frame(0.48**-0.5), frame(5.0)],
                   [1.0, 0.5, 0.3, 0.2, 0.01])
    plateau = claims_of(run)["geometry.half-plateau"]
    assert not plateau.reproduced
    assert plateau.measured.startswith("2 consecutive instances at 1/(1-S) = 3.33-5")
    assert "per e-fold" in plateau.note and "grid step" in plateau.note


def test_a_rise_is_measured_as_the_largest_step_up():
    run = make_run([frame(), antipodal_pairs(), frame(0.7**-0.5), pentagons(), pentagons(), pentagons()],
                   PLATEAU_PROBS)
    assert "largest rise 0.2" in claims_of(run)["geometry.falls-with-sparsity"].measured


def test_the_stay_at_one_is_measured_from_the_densest_instance_against_the_lower_half_of_the_band():
    claim = dense_end_claims_of(stay_then_fall()).by_id()["geometry.sticky-at-one"]
    assert claim.measured.startswith("4 consecutive instances at 1/(1-S) = 1-1.67 (D* = 1, 1, 1, 1)")
    assert "then D* = 0.5 at 1/(1-S) = 2.5" in claim.measured
    # band = 0.05 / (0.6 / ln 10) = 0.19 e-folds; span ln(1/0.6) = 0.51: 2.66 times as long
    assert "2.7x the 0.19" in claim.measured
    assert "0.05-wide band" in claim.expected


def test_a_stay_that_ends_one_instance_early_falls_short_and_says_by_how_much_the_grid_can_miss():
    claim = dense_end_claims_of(stay_then_fall(stay=3)).by_id()["geometry.sticky-at-one"]
    # ln(1/0.7) = 0.36 e-folds: 1.86 times the band, under the factor 2
    assert not claim.reproduced and claim.measured.startswith("3 consecutive instances")
    assert "the curve does flatten at 1" in claim.note and "(0 and 0.15 e-folds)" in claim.note


def test_a_stay_near_one_that_does_not_start_at_the_densest_instance_is_not_the_papers_stay():
    # D* = 1.2 at 1 - S = 1 (too little weight for one dimension per feature), then 1 for three instances
    run = make_run([frame(1.2**-0.5), frame(), frame(), frame(), antipodal_pairs(), antipodal_pairs(), pentagons()],
                   STAY_PROBS)
    claim = dense_end_claims_of(run).by_id()["geometry.sticky-at-one"]
    assert [c.holds for c in claim.checks] == [False, True, True]


def test_the_large_experiment_draws_both_sweeps_and_its_dense_end_is_finer_than_the_notebooks_grid():
    findings = GEOMETRY_LARGE.analyze({"dense-end": stay_then_fall(), "paper": plateau_run()}, False)
    assert ["Feature dimensionality" in fig.layout.title.text for fig in findings.figures] == [True, True]
    dense = GEOMETRY_LARGE.configs(False)["dense-end"]
    probs = dense.data.feature_probability
    steps = np.diff(np.log(1 / np.array(probs)))
    assert probs[0] == 1.0 and probs[-1] == pytest.approx(0.05) and (steps > 0).all()
    assert (steps[1:-1] < 0.158 / 2).all()  # at most half the notebook's step (ln 20 / 19) between 1.15 and 1.55
    paper, quick = GEOMETRY_LARGE.configs(False)["paper"], GEOMETRY_LARGE.configs(True)["paper"]
    assert (paper.data.n_features, paper.model.n_hidden) == (400, 30)
    assert quick.data.n_features * quick.model.n_hidden < 400 * 30 / 10


def test_a_missing_sweep_leaves_its_claims_failing_with_the_reason():
    claims = large_claims_of(plateau_run()).by_id()
    assert not claims["geometry.sticky-at-one"].reproduced
    assert "no dense-end run" in claims["geometry.sticky-at-one"].measured
    n400 = [c for c in dense_end_claims_of(stay_then_fall()).claims if c.id.startswith("geometry.n400")]
    assert len(n400) == 5 and not any(c.reproduced for c in n400)
