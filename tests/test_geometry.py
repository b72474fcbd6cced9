"""The geometry classifier on hand-built arrangements whose shape and fractions the paper states."""

import math

import pytest
import torch

from superposition.analysis import (
    FRACTIONS,
    Structure,
    classify,
    classify_instance,
    describe,
    geometry_table,
    nearest_fraction,
)


def polygon(n: int, degrees: list[float] | None = None) -> torch.Tensor:
    """Unit vectors in 2D at the given angles (default: a regular n-gon)."""
    t = torch.tensor(degrees if degrees is not None else [360 * k / n for k in range(n)]).deg2rad()
    return torch.stack([t.cos(), t.sin()], dim=-1)


def square_antiprism() -> torch.Tensor:
    """Two unit-circle squares 45 degrees apart at z = +-h, h chosen so that every edge has the same length."""
    # Square edge^2 = 2 r^2, slanted edge^2 = (2 - sqrt2) r^2 + 4 h^2, and r^2 + h^2 = 1.
    r2 = 1 / (1 + math.sqrt(2) / 4)
    r, h = math.sqrt(r2), math.sqrt(1 - r2)
    t = torch.arange(8, dtype=torch.float64) * math.pi / 4
    z = torch.tensor([h if k % 2 == 0 else -h for k in range(8)], dtype=torch.float64)
    V = torch.stack([r * t.cos(), r * t.sin(), z], dim=-1)
    d = torch.cdist(V, V)
    shortest = d[d > 1e-9].min()
    assert (d - shortest).abs().lt(1e-9).sum() == 2 * 16  # all 16 edges (8 square, 8 slanted) equally long
    return V.float()


def only(structures: list[Structure]) -> Structure:
    assert len(structures) == 1, describe(structures)
    return structures[0]


def test_regular_pentagon_is_one_group_at_two_fifths():
    st = only(classify_instance(polygon(5)))
    assert st.kind == "pentagon"
    assert st.features == [0, 1, 2, 3, 4]
    assert st.n_dims == 2
    assert st.dimensionality == pytest.approx(2 / 5, abs=1e-5)


def test_pentagon_in_a_rotated_plane_of_a_larger_space_is_still_a_pentagon():
    Q, _ = torch.linalg.qr(torch.randn(4, 4, generator=torch.Generator().manual_seed(0)))
    W = torch.cat([polygon(5), torch.zeros(5, 2)], dim=1) @ Q.T
    assert describe(classify_instance(W)) == "pentagon [0 1 2 3 4]"


def test_two_orthogonal_antipodal_pairs_and_an_ignored_feature():
    W = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, -1.0], [-1.0, 0.0], [0.0, 0.0]])
    structures = classify_instance(W)
    # Orthogonal pairs do not interfere, so they are two pairs, not one square.
    assert [(s.kind, s.features, s.n_dims) for s in structures] == [
        ("antipodal pair", [0, 3], 1),
        ("antipodal pair", [1, 2], 1),
        ("not represented", [4], 0),
    ]
    assert structures[0].dimensionality == pytest.approx(0.5)
    assert describe(structures) == "antipodal pair [0 3]; antipodal pair [1 2]; not represented [4]"


def test_norm_threshold_decides_what_is_represented():
    W = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.4, 0.0], [0.0, 0.0, 0.6]])
    assert describe(classify_instance(W)) == "dedicated dimension [0]; not represented [1]; dedicated dimension [2]"
    assert describe(classify_instance(W, norm_threshold=0.7)) == "dedicated dimension [0]; not represented [1 2]"
    assert describe(classify_instance(W, norm_threshold=0.1)).count("dedicated dimension") == 3


def test_a_weak_ignored_feature_does_not_blur_the_fraction_of_a_represented_one():
    # Feature 1 points along feature 0 with norm 0.45: raw D_0 would be 1 / (1 + 0.2), but it is ignored.
    W = torch.tensor([[1.0, 0.0], [0.45, 0.0]])
    structures = classify_instance(W)
    assert describe(structures) == "dedicated dimension [0]; not represented [1]"
    assert structures[0].dimensionality == pytest.approx(1.0)


def test_identity_rows_are_dedicated_dimensions():
    structures = classify_instance(torch.eye(3))
    assert [s.kind for s in structures] == ["dedicated dimension"] * 3
    assert [s.features for s in structures] == [[0], [1], [2]]
    assert all(s.n_dims == 1 and s.dimensionality == pytest.approx(1.0) for s in structures)


def test_regular_triangle():
    st = only(classify_instance(2.0 * polygon(3)))  # a common scale changes neither angles nor D
    assert (st.kind, st.n_dims) == ("triangle", 2)
    assert st.dimensionality == pytest.approx(2 / 3, abs=1e-5)


def test_regular_tetrahedron():
    W = torch.tensor([[1.0, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / math.sqrt(3)
    st = only(classify_instance(W))
    assert (st.kind, st.n_dims) == ("tetrahedron", 3)
    assert st.dimensionality == pytest.approx(3 / 4, abs=1e-5)


def test_tetrahedron_with_a_flipped_vertex_is_not_a_tetrahedron():
    # Same |cos| = 1/3 everywhere and D = 3/4 for all, but three angles become 70.5 degrees.
    W = torch.tensor([[-1.0, -1, -1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / math.sqrt(3)
    st = only(classify_instance(W))
    assert st.dimensionality == pytest.approx(3 / 4, abs=1e-5)
    assert st.kind == "other (4 features in 3 dims)"


def test_square_antiprism_has_three_eighths():
    st = only(classify_instance(square_antiprism()))
    assert (st.kind, st.n_dims, len(st.features)) == ("square antiprism", 3, 8)
    # The equal-edge antiprism is not quite a tight frame: D = 0.366, near the paper's 3/8.
    assert st.dimensionality == pytest.approx(3 / 8, abs=0.015)


def test_irregular_five_directions_in_a_plane_are_not_a_pentagon():
    st = only(classify_instance(polygon(5, [0, 50, 130, 200, 290])))
    assert st.kind == "other (5 features in 2 dims)"
    assert st.n_dims == 2


def test_a_tight_frame_of_five_that_is_no_pentagon_is_caught_by_its_angles():
    # An orthogonal pair plus a 60-degree fan: every D is exactly 2/5, yet the angles are not 72/144 degrees.
    W = polygon(5, [0, 90, 10, 70, 130])
    st = only(classify_instance(W))
    assert st.dimensionality == pytest.approx(2 / 5, abs=1e-5)
    assert "pentagon" not in st.kind


def test_antipodal_pair_with_unequal_norms_is_irregular():
    st = only(classify_instance(torch.tensor([[1.0], [-0.7]])))
    assert st.kind == "irregular antipodal pair"


def test_two_features_pointing_the_same_way_are_not_an_antipodal_pair():
    st = only(classify_instance(torch.tensor([[1.0, 0.0], [1.0, 0.0]])))
    assert (st.kind, st.n_dims) == ("other (2 features in 1 dims)", 1)


def test_nearest_fraction():
    assert nearest_fraction(0.41) == "2/5"
    assert nearest_fraction(0.37) == "3/8"
    assert nearest_fraction(0.66) == "2/3"
    assert nearest_fraction(0.98) == "1"
    assert nearest_fraction(0.01) == "0"
    assert nearest_fraction(0.45) is None  # between 2/5 and 1/2, on neither
    assert nearest_fraction(0.45, tol=0.06) == "1/2"
    assert FRACTIONS["3/8"] == pytest.approx(0.375)


def test_geometry_table_columns_and_rows():
    W = torch.stack(
        [
            polygon(5),
            torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, -1.0], [-1.0, 0.0], [0.0, 0.1]]),
        ]
    )
    df = geometry_table(W)
    assert list(df.columns) == ["instance", "feature", "structure", "group", "group_size", "group_dims", "fraction"]
    assert len(df) == 2 * 5
    pent = df[df.instance == 0]
    assert set(pent.structure) == {"pentagon"} and set(pent.fraction) == {"2/5"} and set(pent.group) == {0}
    pairs = df[df.instance == 1].set_index("feature")
    assert list(pairs.group) == [0, 1, 1, 0, -1]
    assert list(pairs.structure) == ["antipodal pair"] * 4 + ["not represented"]
    assert list(pairs.fraction) == ["1/2"] * 4 + ["0"]
    assert list(pairs.group_size) == [2, 2, 2, 2, 1] and list(pairs.group_dims) == [1, 1, 1, 1, 0]


def test_multi_instance_classify_and_keywords_pass_through():
    W = torch.stack([polygon(5), 0.4 * polygon(5)])
    assert [describe(s) for s in classify(W)] == ["pentagon [0 1 2 3 4]", "not represented [0 1 2 3 4]"]
    assert [describe(s) for s in classify(W, norm_threshold=0.3)] == ["pentagon [0 1 2 3 4]"] * 2


def test_wrong_shapes_are_rejected():
    with pytest.raises(ValueError, match="n_instances"):
        classify(torch.zeros(5, 2))
    with pytest.raises(ValueError, match="n_features"):
        classify_instance(torch.zeros(1, 5, 2))
