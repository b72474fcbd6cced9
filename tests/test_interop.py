"""Moving models to and from the layouts other tools use (ARENA's superposition exercises)."""

import pytest
import torch

from superposition import ConfigError
from superposition.config import ToyModelConfig
from superposition.models import ToyModel


def arena_forward(W, b_final, x):
    """ARENA's toy model, written from its documented layout: x [batch, inst, feats], W [inst, d_hidden, feats]."""
    h = torch.einsum("bif,ihf->bih", x, W)
    return torch.relu(torch.einsum("bih,ihf->bif", h, W) + b_final)


@pytest.mark.parametrize("bias", [True, False])
def test_a_model_moved_to_arena_and_back_gives_the_same_outputs(bias):
    g = torch.Generator().manual_seed(0)
    ours = ToyModel(ToyModelConfig(kind="relu", n_hidden=2, bias=bias), n_features=5, n_instances=3, generator=g)
    if bias:
        with torch.no_grad():
            ours.b.normal_(generator=g)
    arena = ours.to_arena()
    assert arena["W"].shape == (3, 2, 5) and arena["b_final"].shape == (3, 5)
    x = torch.rand(64, 3, 5, generator=g)
    expected = ours(x.transpose(0, 1)).transpose(0, 1)
    assert torch.allclose(arena_forward(arena["W"], arena["b_final"], x), expected, atol=1e-6)
    back = ToyModel.from_arena(arena["W"], arena["b_final"])
    assert torch.equal(back.W, ours.W) and torch.allclose(back(x.transpose(0, 1)), ours(x.transpose(0, 1)))


def test_arena_weights_load_with_their_own_forward():
    g = torch.Generator().manual_seed(1)
    W, b = torch.randn(4, 3, 7, generator=g), torch.randn(4, 7, generator=g)
    ours = ToyModel.from_arena(W, b)
    assert ours.W.shape == (4, 7, 3), "ours stores a feature's direction as a row"
    x = torch.rand(32, 4, 7, generator=g)
    assert torch.allclose(ours(x.transpose(0, 1)).transpose(0, 1), arena_forward(W, b, x), atol=1e-6)


def test_arena_interop_refuses_what_arena_cannot_hold():
    untied = ToyModel(ToyModelConfig(kind="relu", n_hidden=2, tied=False), n_features=5, n_instances=1)
    with pytest.raises(ConfigError, match="untied"):
        untied.to_arena()
    with pytest.raises(ConfigError, match="d_hidden"):
        ToyModel.from_arena(torch.zeros(3, 5))
