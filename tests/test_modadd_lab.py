"""Modular addition in the laboratory: its run family, the hand-written gradients, the analysis summary, the weight
budgets of the construction, the CLI, and the experiment's claims."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from superposition.analysis.mixing import (
    hadamard,
    logit_margin,
    mix,
    random_orthogonal,
    rescale,
    sparse_construction,
    weight_sizes,
)
from superposition.analysis.modadd import hoyer, mixing_count, summarize, top_frequencies, unmix
from superposition.cli import app
from superposition.config import ModAddModelConfig, ModAddRunConfig, TrainConfig, parse_run_config, validate
from superposition.data.modadd import ModAddData, all_pairs
from superposition.errors import ConfigError
from superposition.lab import train_run
from superposition.models.bilinear import BilinearModAdd
from superposition.runs import load_run
from superposition.train import train

runner = CliRunner()


# ---------------------------------------------------------------- config and run directories


def test_partial_train_section_keeps_the_modadd_defaults():
    cfg = validate(ModAddRunConfig, dict(train=dict(steps=7)))
    assert cfg.train.steps == 7
    assert cfg.train.betas == (0.9, 0.98) and cfg.train.resolved_weight_decay == 0.1 and cfg.train.lr == 3e-3


def test_family_dispatch_and_errors():
    assert parse_run_config({}).family == "toy"  # config.json written before families existed
    assert parse_run_config({"family": "modadd"}).data.p == 113
    with pytest.raises(ConfigError, match="family must be one of"):
        parse_run_config({"family": "vae"})
    with pytest.raises(ConfigError, match="p must be odd"):
        parse_run_config({"family": "modadd", "data": {"p": 12}})
    with pytest.raises(ConfigError, match="model.n_hidden"):
        parse_run_config({"family": "modadd", "model": {"n_hidden": 0}})


def test_modadd_run_round_trips(tmp_path):
    cfg = validate(ModAddRunConfig, dict(data=dict(p=11), model=dict(n_instances=2, bias=True),
                                         train=dict(steps=30, log_every=10)))
    run = train_run(cfg, tmp_path / "run", progress=False)
    back = load_run(tmp_path / "run")
    assert back.config == cfg
    for name, value in run.model.weights().items():
        assert torch.equal(back.model.weights()[name], value), name
    assert list(back.metrics.test_accuracy) == pytest.approx(list(run.metrics.test_accuracy))
    assert len(back.history) == 3 * 2
    with pytest.raises(Exception, match="no feature matrix W"):
        back.W


# ---------------------------------------------------------------- the trainer on bilinear models


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("loss_kind", ["ce", "mse"])
def test_hand_written_gradients_match_autograd(bias, loss_kind):
    config = ModAddModelConfig(d_embed=4, n_hidden=6, n_instances=3, bias=bias, loss=loss_kind)
    model = BilinearModAdd(config, p=13, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    if bias:
        with torch.no_grad():
            for b in (model.bL, model.bR, model.bU):
                b.normal_(generator=torch.Generator().manual_seed(2))
    batch = ModAddData(13, 0.5, seed=0).train
    loss, grads = model.loss_and_grads(batch)
    reference = model.loss(batch)
    expected = torch.autograd.grad(reference.sum(), list(model.parameters()))
    assert torch.allclose(loss, reference.detach(), rtol=1e-10, atol=1e-12)
    for g, e in zip(grads, expected):
        assert torch.allclose(g, e, rtol=1e-9, atol=1e-12)


def test_cross_entropy_keeps_tiny_losses():
    """Near a perfect fit, 1 - p_label rounds to 0 in float32; the loss is taken from the other probabilities."""
    model = sparse_construction(23, [3, 7], alpha=50.0, dtype=torch.float32)
    batch = all_pairs(23)
    loss, _ = model.loss_and_grads(batch)
    with torch.no_grad():
        exact = sparse_construction(23, [3, 7], alpha=50.0).loss(batch)
    assert 0 < float(exact) < 1e-6
    assert float(loss) == pytest.approx(float(exact), rel=1e-3)


def test_layer_norm_model_trains_like_torch_adamw():
    """Layer-norm models take autograd.grad's gradients, some of them transposed views: the trainer must lay them
    out like their parameters before the fused kernel (it once diverged here)."""
    data = ModAddData(23, 0.5, seed=0)
    cfg = TrainConfig(steps=40, batch_size=1, lr=3e-3, betas=(0.9, 0.98), weight_decay=0.1, log_every=40)

    def fresh():
        return BilinearModAdd(ModAddModelConfig(d_embed=4, n_hidden=8, layer_norm=True), p=23,
                              generator=torch.Generator().manual_seed(0))

    ours = fresh()
    train(ours, data, cfg, progress=False)
    reference = fresh()
    opt = torch.optim.AdamW(reference.parameters(), lr=3e-3, betas=(0.9, 0.98), weight_decay=0.1)
    for _ in range(40):
        opt.zero_grad()
        reference.loss(data.train).sum().backward()
        opt.step()
    for a, b in zip(ours.parameters(), reference.parameters()):
        assert torch.allclose(a, b, atol=1e-5)


# ---------------------------------------------------------------- analysis


def test_summary_of_the_construction_and_its_mixed_twin():
    p = 23
    data = ModAddData(p, 0.3, seed=0)
    sparse = sparse_construction(p, [3, 7], alpha=2.0)
    mixed = mix(sparse, hadamard(4))
    s, m = summarize(sparse, data).iloc[0], summarize(mixed, data).iloc[0]
    assert s.test_accuracy == 1.0 and m.test_accuracy == 1.0
    assert s.freqs_per_column == 1.0 and m.freqs_per_column == 2.0  # Hadamard spreads both over every column
    assert s.key_frequencies == "3 7"
    assert m.hidden_hoyer < s.hidden_hoyer
    assert m.unmixed_hidden_hoyer == pytest.approx(s.hidden_hoyer, abs=1e-9)  # unmixing finds the sparse solution
    assert m.unmixed_freqs_per_column == 1.0
    assert m.unmixed_train_loss == pytest.approx(m.train_loss, rel=1e-9)


def test_hoyer_and_mixing_count_by_hand():
    assert hoyer(torch.tensor([[0.0, 3.0, 0.0, 0.0]])).item() == pytest.approx(1.0)
    assert hoyer(torch.tensor([[2.0, -2.0, 2.0, 2.0]])).item() == pytest.approx(0.0)
    a = torch.arange(11, dtype=torch.float64)
    col = lambda k: torch.cos(2 * torch.pi * k * a / 11)  # noqa: E731
    embed = torch.stack([col(1), col(1) + 0.5 * col(4)], dim=1)[None]  # shares 1.0 | 0.8, 0.2
    assert mixing_count(embed).item() == pytest.approx(1.5)
    assert top_frequencies(embed, 2) == [[1, 4]]


def test_unmix_refuses_odd_embeddings():
    model = BilinearModAdd(ModAddModelConfig(d_embed=3, n_hidden=4), p=11, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ConfigError, match="d_embed must be even"):
        unmix(model)


def test_mixing_gains_under_a_max_budget_and_not_at_fixed_l2():
    """The issue's budget comparison: same L2 norms, same loss; same largest |weight|, the mixed construction has
    the larger logit margin (and a random orthogonal mixing does worse than Hadamard)."""
    p = 31
    batch = all_pairs(p)
    sparse = sparse_construction(p, [4, 11])
    mixed = mix(sparse, hadamard(4))
    l2 = {k: float(v[0]) for k, v in weight_sizes(sparse, "l2").items()}
    with torch.no_grad():
        same_l2 = [float(rescale(m, "l2", l2).loss(batch)) for m in (sparse, mixed)]
        capped = [rescale(m, "max", 1.0) for m in (sparse, mixed)]
        margins = [float(logit_margin(m, batch)) for m in capped]
        losses = [float(m.loss(batch)) for m in capped]
        random = rescale(mix(sparse, random_orthogonal(4, torch.Generator().manual_seed(0))), "max", 1.0)
        random_margin = float(logit_margin(random, batch))
    assert same_l2[0] == pytest.approx(same_l2[1], abs=1e-12)
    assert margins[1] > 1.5 * margins[0] and losses[1] < losses[0]
    assert random_margin < margins[1]
    for m in capped:
        assert all(float(v.max()) == pytest.approx(1.0) for v in weight_sizes(m, "max").values())


def test_random_orthogonal_is_orthogonal():
    Q = random_orthogonal(6, torch.Generator().manual_seed(3))
    assert torch.allclose(Q @ Q.T, torch.eye(6, dtype=Q.dtype), atol=1e-12)


# ---------------------------------------------------------------- CLI


def test_cli_trains_and_analyzes(tmp_path):
    out = tmp_path / "m"
    r = runner.invoke(app, ["modadd", "train", "--p", "11", "--d-embed", "4", "--n-hidden", "8", "--steps", "20",
                            "--weight-decay", "0.3", "--seed", "1", "--instances", "2", "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    assert "2 instances" in r.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["family"] == "modadd" and cfg["train"]["weight_decay"] == 0.3 and cfg["train"]["seed"] == 1
    r = runner.invoke(app, ["modadd", "analyze", str(out), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert len(doc["instances"]) == 2
    assert {"test_accuracy", "column_frequencies", "hidden_hoyer", "unmixed_hidden_hoyer"} <= set(doc["instances"][0])
    r = runner.invoke(app, ["modadd", "analyze", str(out)])
    assert r.exit_code == 0 and "freqs/col" in r.output


def test_cli_errors_are_one_line(tmp_path):
    r = runner.invoke(app, ["modadd", "train", "--p", "12", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and r.output.strip().count("\n") == 0 and "p must be odd" in r.output
    assert not (tmp_path / "x").exists()
    toy = tmp_path / "toy"
    assert runner.invoke(app, ["train", "--steps", "10", "--out", str(toy), "--quiet"]).exit_code == 0
    r = runner.invoke(app, ["modadd", "analyze", str(toy)])
    assert r.exit_code == 2 and "toy run" in r.output
    (tmp_path / "m.json").write_text(json.dumps({"family": "modadd"}))
    r = runner.invoke(app, ["train", "--config", str(tmp_path / "m.json"), "--out", str(tmp_path / "y")])
    assert r.exit_code == 2 and "modadd train" in r.output


def test_hand_written_loss_is_exact_far_from_a_fit():
    """A confidently wrong model: the per-pair loss is large and must match autograd's cross-entropy."""
    model = sparse_construction(23, [3, 7], alpha=5.0, dtype=torch.float32)
    batch = all_pairs(23)
    wrong = type(batch)(batch.a, batch.b, (batch.labels + 1) % 23)
    loss, _ = model.loss_and_grads(wrong)
    with torch.no_grad():
        reference = model.loss(wrong)
    assert float(reference) > 5
    assert float(loss) == pytest.approx(float(reference), rel=1e-5)
