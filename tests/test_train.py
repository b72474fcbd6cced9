import math

import pytest
import torch

from superposition import DivergenceError, make_config, train_run
from superposition.data import FeatureData
from superposition.lab import build_model
from superposition.models import ToyModel
from superposition.models.toy import square_route
from superposition.train import FunctionalAdam, Hook, assign_grad, lr_factor, make_optimizer, set_lr, train


def tiny(**train_kw):
    return make_config(
        data=dict(n_features=5, feature_probability=[1.0, 0.1], importance_decay=0.9),
        model=dict(kind="relu", n_hidden=2),
        train=dict(steps=200, batch_size=256, log_every=50, **train_kw),
    )


@pytest.mark.parametrize("kind", ["relu", "linear"])
@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("n_hidden, square", [(2, True), (1, False)], ids=["square-route", "rectangular-route"])
def test_hand_written_gradients_equal_autograd(kind, tied, bias, n_hidden, square):
    """Both of ToyModel.loss_and_grads' routes ([feat, feat] products for 5 features in 2 dimensions, [feat, hidden]
    ones in 1) against autograd."""
    assert square_route(5, n_hidden) is square
    cfg = make_config(
        data=dict(n_features=5, feature_probability=[1, 0.3, 0.05], importance_decay=0.8),
        model=dict(kind=kind, n_hidden=n_hidden, tied=tied, bias=bias),
    )
    model = build_model(cfg, torch.Generator().manual_seed(1))
    if bias:
        with torch.no_grad():
            model.b.normal_(generator=torch.Generator().manual_seed(2))
    batch = FeatureData(cfg.data).sample(64, torch.Generator().manual_seed(0))
    loss, grads = model.loss_and_grads(batch)
    auto = model.loss(batch)
    auto.sum().backward()
    assert torch.allclose(loss, auto.detach(), rtol=1e-5, atol=1e-7)
    for g, p in zip(grads, model.parameters(), strict=True):
        assert torch.allclose(g, p.grad, rtol=1e-4, atol=1e-6)


def test_hand_written_gradients_follow_an_importance_changed_in_place():
    """The square route keeps its loss weights while the batch's importance tensor is the same; changing that tensor
    in place (or passing another batch size) must give new ones, equal to autograd's."""
    cfg = make_config(data=dict(n_features=5, feature_probability=[1, 0.3], importance_decay=0.8),
                      model=dict(kind="relu", n_hidden=2))
    model = build_model(cfg, torch.Generator().manual_seed(1))
    data = FeatureData(cfg.data)
    batch = data.sample(64, torch.Generator().manual_seed(0))
    model.loss_and_grads(batch)
    batch.weight.mul_(torch.linspace(0.5, 2.0, 5))  # the importance changes in place
    for b in (batch, data.sample(32, torch.Generator().manual_seed(1))):
        loss, grads = model.loss_and_grads(b)
        model.zero_grad()
        auto = model.loss(b)
        auto.sum().backward()
        assert torch.allclose(loss, auto.detach(), rtol=1e-5, atol=1e-7)
        assert all(torch.allclose(g, p.grad, rtol=1e-4, atol=1e-6) for g, p in zip(grads, model.parameters()))


@pytest.mark.parametrize("name, cls", [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)])
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_the_trainers_optimizer_matches_torch_optim_reference(name, cls, layout):
    """The trainer's optimizer (fused where available) against torch's plain for-loop implementation, with the
    learning rate changed every step as the schedules do, for parameters stored contiguously and transposed."""
    cfg = make_config(train=dict(optimizer=name, weight_decay=0.1)).train
    start = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    if layout == "transposed":
        start = start.t().contiguous().t()  # a [3, 4] parameter with column-major strides
    ours = torch.nn.Parameter(start.clone())
    ref = torch.nn.Parameter(start.clone())
    opt, ref_opt = make_optimizer([ours], cfg), cls([ref], lr=1e-3, weight_decay=0.1, foreach=False)
    gen = torch.Generator().manual_seed(1)
    for step in range(10):
        g = torch.randn(3, 4, generator=gen)
        assign_grad(ours, g.clone())  # as the trainer hands over hand-written gradients
        ref.grad = g.clone()
        lr = 1e-3 * (step + 1)
        set_lr(opt, lr)
        opt.step()
        ref_opt.param_groups[0]["lr"] = lr
        ref_opt.step()
    assert torch.allclose(ours, ref, atol=1e-6)
    assert not torch.allclose(ours, start, atol=1e-3)


@pytest.mark.parametrize("name, cls", [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)])
def test_functional_adam_gives_torch_optims_fused_weights_bit_for_bit(name, cls):
    """FunctionalAdam (the trainer's optimizer where torch has a fused kernel) against the optimizer object with the
    same kernel, two parameters, the learning rate changed every step: the same weights, bit for bit."""
    cfg = make_config(train=dict(optimizer=name, weight_decay=0.1)).train
    gen = torch.Generator().manual_seed(0)
    starts = [torch.randn(3, 4, generator=gen), torch.randn(5, generator=gen)]
    ours, ref = [torch.nn.Parameter(t.clone()) for t in starts], [torch.nn.Parameter(t.clone()) for t in starts]
    opt, ref_opt = make_optimizer(ours, cfg), cls(ref, lr=1e-3, weight_decay=0.1, fused=True)
    assert isinstance(opt, FunctionalAdam)
    for step in range(10):
        for p, q in zip(ours, ref):
            p.grad = torch.randn(p.shape, generator=gen)
            q.grad = p.grad.clone()
        set_lr(opt, 1e-3 * (step + 1))
        ref_opt.param_groups[0]["lr"] = 1e-3 * (step + 1)
        opt.step(), ref_opt.step()
    assert all(torch.equal(p, q) for p, q in zip(ours, ref))
    assert not torch.equal(ours[0], starts[0])


def test_schedules():
    assert lr_factor("constant", 50, 100) == 1
    assert lr_factor("linear", 50, 100) == pytest.approx(0.5)
    assert lr_factor("cosine", 0, 100) == 1 and lr_factor("cosine", 50, 100) == pytest.approx(0.5)
    assert lr_factor("warmup_cosine", 0, 100, 10) == pytest.approx(0.1)
    assert lr_factor("warmup_cosine", 10, 100, 10) == 1
    assert lr_factor("warmup_cosine", 99, 100, 10) < 0.01


def test_same_config_and_seed_give_identical_weights_and_another_seed_does_not():
    a, b = train_run(tiny(seed=3), progress=False), train_run(tiny(seed=3), progress=False)
    c = train_run(tiny(seed=4), progress=False)
    assert torch.equal(a.W, b.W) and torch.equal(a.b, b.b)
    assert not torch.equal(a.W, c.W)


def test_history_hooks_and_loss_decreases():
    cfg = tiny(schedule="warmup_cosine", warmup_steps=20, lr=1e-2)
    calls = []
    run = train_run(cfg, progress=False, hooks=[Hook(every=40, fn=lambda s, m, loss: calls.append((s, loss.shape)))])
    assert calls == [(s, (2,)) for s in (40, 80, 120, 160, 200)]
    steps = sorted(run.history.step.unique().tolist())
    assert steps == [50, 100, 150, 200]
    first, last = run.history[run.history.step == 50], run.history[run.history.step == 200]
    assert (last.loss.values < first.loss.values).all()


def test_divergence_guard_names_instance_and_step():
    cfg = tiny()
    W = torch.randn(2, 5, 2)
    W[1, 3, 0] = math.nan
    model = ToyModel.from_weights(W, torch.zeros(2, 5))
    with pytest.raises(DivergenceError) as e:
        train(model, FeatureData(cfg.data), cfg.train, progress=False)
    assert e.value.instance == 1 and e.value.step == 50
    assert "instance 1" in str(e.value) and "\n" not in str(e.value)


def test_a_model_without_hand_written_gradients_trains_through_autograd():
    class Plain(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = build_model(tiny(), torch.Generator().manual_seed(0))

        def loss(self, batch):
            return self.inner.loss(batch)

    cfg = tiny(lr=1e-2)
    plain, fast = Plain(), build_model(cfg, torch.Generator().manual_seed(0))
    h_plain = train(plain, FeatureData(cfg.data), cfg.train, progress=False)
    h_fast = train(fast, FeatureData(cfg.data), cfg.train, progress=False)
    # same data, init and optimiser: the two gradient paths agree to float precision
    assert torch.allclose(plain.inner.W, fast.W, atol=1e-4)
    assert h_plain.final == pytest.approx(h_fast.final, rel=1e-3)
