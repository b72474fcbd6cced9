import math

import pytest
import torch

from superposition.analysis import metrics as M

# The slides' example: 4 features in 2 dimensions as two antipodal pairs (paper's W is m x n; ours stores rows).
W_PAIRS = torch.tensor([[1.0, 0, -1, 0], [0, 1, 0, -1]]).T[None]


def test_hand_computed_two_by_four_matrix():
    expected_wtw = torch.tensor([[1.0, 0, -1, 0], [0, 1, 0, -1], [-1, 0, 1, 0], [0, -1, 0, 1]])
    assert torch.equal(M.wtw(W_PAIRS)[0], expected_wtw)
    assert torch.allclose(M.feature_norms(W_PAIRS), torch.ones(1, 4))
    assert torch.allclose(M.superposition(W_PAIRS), torch.ones(1, 4))  # each feature has one antipode
    assert torch.allclose(M.dimensionality(W_PAIRS), torch.full((1, 4), 0.5))
    assert torch.allclose(M.dimensions_per_feature(W_PAIRS), torch.tensor([0.5]))
    ang = M.angles(W_PAIRS)[0]
    assert ang[0, 2] == pytest.approx(180) and ang[0, 1] == pytest.approx(90) and ang[0, 0] == pytest.approx(0, abs=1e-3)
    assert torch.allclose(M.interference(W_PAIRS), torch.full((1, 4), -1.0))
    assert torch.allclose(M.positive_interference(W_PAIRS), torch.zeros(1, 4))


def test_dedicated_and_unrepresented_features():
    W = torch.tensor([[[1.0, 0], [0, 2.0], [0, 0]]])
    assert torch.allclose(M.dimensionality(W), torch.tensor([[1.0, 1.0, 0.0]]))
    assert torch.allclose(M.superposition(W), torch.zeros(1, 3))
    assert torch.isnan(M.angles(W)[0, 0, 2])
    # m / ||W||_F^2 = 2 / (1 + 4)
    assert M.dimensions_per_feature(W).item() == pytest.approx(0.4)


def test_pentagon_has_dimensionality_two_fifths_and_72_degree_neighbours():
    t = torch.arange(5) * 2 * math.pi / 5
    W = torch.stack([t.cos(), t.sin()], -1)[None]
    assert torch.allclose(M.dimensionality(W), torch.full((1, 5), 0.4), atol=1e-5)
    assert M.angles(W)[0, 0, 1].item() == pytest.approx(72, abs=1e-3)
    # sum_{j != i} cos^2: 2 cos^2(72) + 2 cos^2(144) = 1.5
    assert torch.allclose(M.superposition(W), torch.full((1, 5), 1.5), atol=1e-5)


def test_unequal_norms_and_positive_interference():
    W = torch.tensor([[[2.0, 0], [1.0, 1.0]]])
    # D_0 = 4 / (4 + (W^_0 . W_1)^2) = 4 / (4 + 1)
    assert M.dimensionality(W)[0, 0].item() == pytest.approx(0.8)
    assert M.superposition(W)[0, 0].item() == pytest.approx(1.0)
    assert M.superposition(W)[0, 1].item() == pytest.approx(2.0)  # (W^_1 . W_0)^2 = (2/sqrt 2)^2
    assert torch.allclose(M.positive_interference(W), torch.tensor([[2.0, 2.0]]))


def test_metrics_table_is_tidy():
    W = torch.cat([W_PAIRS, torch.eye(4, 2)[None]])
    table = M.metrics_table(W, torch.zeros(2, 4), importance=torch.ones(2, 4), probability=torch.rand(2, 4))
    assert len(table) == 8
    assert table.groupby("instance").feature.apply(list).tolist() == [[0, 1, 2, 3]] * 2
    assert table.dimensionality.tolist() == pytest.approx([0.5] * 4 + [1, 1, 0, 0])
    assert {"norm", "superposition", "bias", "importance", "probability", "dims_per_feature"} <= set(table.columns)
