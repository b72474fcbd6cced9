import math

import pytest
import torch

from superposition.config import DataConfig
from superposition.data import FeatureData

N = 20_000


def draw(batch=N, seed=0, **kw):
    cfg = DataConfig(**kw)
    return FeatureData(cfg).sample(batch, torch.Generator().manual_seed(seed))


def within(value, target, sigma):
    return abs(value - target) < 5 * sigma


def test_shapes_and_importance():
    b = draw(batch=7, n_features=3, feature_probability=[1.0, 0.5], importance_decay=0.5)
    assert b.x.shape == (2, 7, 3) and b.target.shape == (2, 7, 3)
    assert torch.allclose(b.weight, torch.tensor([1.0, 0.5, 0.25]).expand(2, 1, 3))


def test_same_seed_same_batch_other_seed_other_batch():
    kw = dict(n_features=5, feature_probability=[0.3, 0.05])
    assert torch.equal(draw(batch=64, seed=3, **kw).x, draw(batch=64, seed=3, **kw).x)
    assert not torch.equal(draw(batch=64, seed=3, **kw).x, draw(batch=64, seed=4, **kw).x)


@pytest.mark.parametrize("p", [1.0, 0.5, 0.1, 0.01, 0.0])
def test_each_feature_is_active_with_its_probability_and_uniform_magnitude(p):
    x = draw(n_features=4, feature_probability=[p]).x
    active = x != 0
    frac = active.float().mean().item()
    assert within(frac, p, math.sqrt(p * (1 - p) / x.numel()) + 1e-9)
    if p > 0:
        mags = x[active]
        assert mags.min() >= 0 and mags.max() < 1
        assert within(mags.mean().item(), 0.5, math.sqrt(1 / 12 / mags.numel()))


def test_per_feature_probabilities():
    x = draw(n_features=3, feature_probability=[[0.9, 0.5, 0.05]]).x
    frac = (x != 0).float().mean(dim=(0, 1))
    for f, p in zip(frac.tolist(), [0.9, 0.5, 0.05]):
        assert within(f, p, math.sqrt(p * (1 - p) / N))


def test_magnitude_distributions():
    normal = draw(n_features=4, feature_probability=[0.5], magnitude="normal").x
    vals = normal[normal != 0]
    assert abs(vals.mean().item()) < 0.03 and abs(vals.std().item() - 1) < 0.03
    const = draw(n_features=4, feature_probability=[0.5], magnitude="constant").x
    assert set(const.unique().tolist()) == {0.0, 1.0}
    signed = draw(n_features=4, feature_probability=[0.5], magnitude="uniform_signed").x
    vals = signed[signed != 0]
    assert vals.min() >= -1 and vals.max() < 1 and (vals < 0).any()
    assert abs(vals.mean().item()) < 0.02


def test_correlated_pairs_are_active_together_with_the_stated_marginal():
    x = draw(n_features=5, feature_probability=[0.2], correlated_pairs=2).x[0]
    on = x != 0
    assert torch.equal(on[:, 0], on[:, 1]) and torch.equal(on[:, 2], on[:, 3])
    assert within(on[:, 1].float().mean().item(), 0.2, math.sqrt(0.16 / N))
    # the partner's magnitude is its own uniform draw, not a copy
    assert not torch.allclose(x[:, 0], x[:, 1])
    assert within(x[on[:, 1], 1].mean().item(), 0.5, math.sqrt(1 / 12 / on[:, 1].sum().item()))


def test_anticorrelated_pairs_are_never_active_together():
    x = draw(n_features=4, feature_probability=[0.3], anticorrelated_pairs=2).x[0]
    on = x != 0
    assert not (on[:, 0] & on[:, 1]).any() and not (on[:, 2] & on[:, 3]).any()
    for f in range(4):
        assert within(on[:, f].float().mean().item(), 0.3, math.sqrt(0.21 / N))
        assert within(x[on[:, f], f].mean().item(), 0.5, math.sqrt(1 / 12 / on[:, f].sum().item()))
