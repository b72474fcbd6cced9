"""The trainer's batch draws: a data source's `sampler` (reused buffers) must give the batches of one SFC64 stream
seeded by the generator (its first batch is `sample`'s), be fixed by the seed, and be what the trainer draws from."""

import numpy as np
import pytest
import torch

from superposition import make_config
from superposition.config import DataConfig
from superposition.data import FeatureData
from superposition.lab import build_model
from superposition.train import Hook, batch_sampler, train


def gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("options", [dict(), dict(magnitude="uniform_signed", target="abs"),
                                     dict(correlated_pairs=1, anticorrelated_pairs=1)])
def test_sampler_draws_the_batches_of_one_sfc64_stream_seeded_by_the_generator(options):
    """Batch k is made from the k-th block of numpy's SFC64 words (seeded by one draw of the torch generator), 23 bits
    each as the mantissa of a uniform on [1, 2), bit for bit: reused buffers change where a batch lives, not what it
    is. The first batch is `sample`'s."""
    data = FeatureData(DataConfig(n_features=5, feature_probability=[0.5, 0.05, 0.3], **options))
    draw, first = data.sampler(255, gen(0)), data.sample(255, gen(0))  # 3 x 5 x 255 values: odd, a word is split
    stream = np.random.SFC64(int(torch.randint(2**63 - 1, (), generator=gen(0))))
    for k in range(3):
        ours = draw()
        bits = stream.random_raw(1913).view(np.uint32)[:3825] & 0x7FFFFF | 0x3F800000  # mantissas of [1, 2)
        theirs = data._batch(torch.from_numpy(bits.view(np.float32).reshape(3, 5, 255)))
        assert torch.equal(ours.x, theirs.x) and torch.equal(ours.target, theirs.target)
        assert torch.equal(ours.weight, theirs.weight)
        if k == 0:
            assert torch.equal(ours.x, first.x) and torch.equal(ours.target, first.target)
    assert not torch.equal(data.sample(256, gen(1)).x, first.x)


def test_sampler_is_fixed_by_the_seed_and_moves_on_at_each_draw():
    data = FeatureData(DataConfig(n_features=5, feature_probability=[1.0, 0.1]))
    a, b, c = data.sampler(64, gen(3)), data.sampler(64, gen(3)), data.sampler(64, gen(4))
    first = a().x.clone()
    assert torch.equal(first, b().x) and not torch.equal(first, c().x)
    assert not torch.equal(first, a().x)


def test_sampler_reuses_its_buffer_for_plain_uniform_features():
    data = FeatureData(DataConfig(n_features=5, feature_probability=[0.3]))
    draw = data.sampler(32, gen(0))
    one, two = draw(), draw()
    assert one.x.data_ptr() == two.x.data_ptr()  # the trainer holds one batch at a time


def test_the_trainer_draws_from_the_sampler_and_falls_back_to_sample():
    class Counting(FeatureData):
        calls = {"sample": 0, "sampler": 0}

        def sample(self, batch_size, generator):
            self.calls["sample"] += 1
            return super().sample(batch_size, generator)

        def sampler(self, batch_size, generator):
            self.calls["sampler"] += 1
            return super().sampler(batch_size, generator)

    cfg = make_config(data=dict(n_features=5, feature_probability=[0.3]), model=dict(n_hidden=2),
                      train=dict(steps=20, batch_size=16))
    data = Counting(cfg.data)
    train(build_model(cfg, gen(0)), data, cfg.train, progress=False)
    assert data.calls == {"sample": 0, "sampler": 1}

    class SampleOnly:
        def sample(self, batch_size, generator):
            return ("batch", batch_size)

    draw = batch_sampler(SampleOnly(), 7, gen(0))
    assert draw() == ("batch", 7)


def test_losses_handed_to_hooks_are_not_overwritten_by_later_steps():
    cfg = make_config(data=dict(n_features=5, feature_probability=[0.3]), model=dict(n_hidden=2),
                      train=dict(steps=30, batch_size=64, lr=0.05))
    seen = []
    train(build_model(cfg, gen(0)), FeatureData(cfg.data), cfg.train, progress=False,
          hooks=[Hook(every=10, fn=lambda step, model, loss: seen.append(loss))])
    assert len(seen) == 3 and not torch.equal(seen[0], seen[2])


@pytest.mark.slow
def test_training_on_the_sampler_reaches_the_loss_of_training_on_sample():
    """The same run trained on `sample`'s batches (torch's generator) and on the sampler's (numpy's): the final
    loss agrees within the spread of seeds."""
    cfg = make_config(data=dict(n_features=5, feature_probability=[1.0, 0.3, 0.1], importance_decay=0.9),
                      model=dict(n_hidden=2), train=dict(steps=1500, batch_size=256, lr=0.01, log_every=100))

    class SampleOnly:
        def __init__(self, data):
            self.sample = data.sample

    def final(data, seed):
        history = train(build_model(cfg, gen(seed)), data, cfg.train.model_copy(update=dict(seed=seed)),
                        progress=False)
        return torch.tensor(history.loss[-5:]).mean(dim=0)

    data = FeatureData(cfg.data)
    ours = torch.stack([final(data, s) for s in range(3)]).mean(dim=0)
    theirs = torch.stack([final(SampleOnly(data), s) for s in range(3)]).mean(dim=0)
    assert torch.allclose(ours, theirs, rtol=0.15, atol=2e-3)
