"""The LLC through devinterp: one instance wrapped as a plain module (its loss is our instance's loss), our call
against devinterp's own estimator on the same module and seed, llc.json, and the message without the extra."""

import json
import subprocess
import sys

import pytest
import torch

from superposition import make_config, train_run
from superposition.cli import main
from superposition.data import FeatureData
from superposition.families.toy import build_model
from superposition.llc import IndexedSamples, MissingExtra, instance_module, require_devinterp, run_samples
from superposition.llc_cli import Settings
from superposition.train import thread_count

# Small enough for a test: 2 chains of 20 steps on 64 samples.
TINY = Settings(lr=1e-3, localization=1.0, chains=2, draws=20, batch_size=16, samples=64, seed=3)
FLAGS = ["--chains", "2", "--draws", "20", "--batch-size", "16", "--samples", "64", "--seed", "3"]


def config(kind="relu", tied=True, target="identity", steps=60, **train):
    data = dict(n_features=4, feature_probability=[0.3, 0.1, 0.05], importance_decay=0.8, target=target)
    if kind in ("neuron", "abs"):
        data.update(magnitude="uniform_signed" if kind == "abs" else "uniform")
    return make_config(data=data, model=dict(kind=kind, n_hidden=2, tied=tied),
                       train=dict(steps=steps, batch_size=32, log_every=20, **train))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return train_run(config(), tmp_path_factory.mktemp("llc") / "run", progress=False)


@pytest.mark.parametrize("kind,tied,target", [("relu", True, "identity"), ("linear", False, "identity"),
                                              ("neuron", True, "identity"), ("abs", True, "abs")])
def test_wrapped_instance_has_the_instance_output_and_loss(kind, tied, target):
    cfg = config(kind, tied, target)
    model = build_model(cfg, torch.Generator().manual_seed(0))
    batch = FeatureData(cfg.data).sample(128, torch.Generator().manual_seed(1))
    losses = model.loss(batch)
    for k in range(cfg.data.n_instances):
        one = instance_module(model.weights(), cfg, k)
        assert torch.allclose(one(batch.x[k]), model(batch.x)[k], atol=1e-6)
        assert torch.allclose(one.loss(batch.x[k]).mean(), losses[k], rtol=1e-5, atol=1e-8)
        assert sum(p.numel() for p in one.parameters()) * cfg.data.n_instances == sum(
            p.numel() for p in model.parameters())


def test_wrapped_instance_is_a_copy():
    cfg = config()
    model = build_model(cfg, torch.Generator().manual_seed(0))
    one = instance_module(model.weights(), cfg, 1)
    with torch.no_grad():
        next(one.parameters()).add_(1.0)  # SGLD moves the copy, never the run's weights
    assert not torch.equal(model.weights()["W"][1], next(one.parameters())[0])


def test_indexed_samples_give_each_samples_loss():
    cfg = config()
    one = instance_module(build_model(cfg, torch.Generator().manual_seed(0)).weights(), cfg, 0)
    x = run_samples(cfg.data, 0, 10, seed=5)
    data = IndexedSamples(x)
    ids = torch.stack([data[i]["input_ids"] for i in (7, 2)])
    assert ids.tolist() == [[7, 7], [2, 2]]
    assert torch.equal(data.loss_fn(one, ids)[:, 0], one.loss(x[[7, 2]]))


def test_instance_out_of_range_is_one_line(tiny_run):
    with pytest.raises(Exception, match="out of range: the run has 3 instances"):
        instance_module(tiny_run.model.weights(), tiny_run.config, 3)


def test_settings_refuse_nonsense():
    for bad in (dict(lr=0.0), dict(n_beta=-1.0), dict(chains=0), dict(batch_size=300, samples=200)):
        with pytest.raises(Exception):
            Settings(**bad)
    assert Settings(samples=200).beta_n == pytest.approx(200 / torch.log(torch.tensor(200.0)).item())


def test_without_the_extra_the_command_says_how_to_install_it(monkeypatch, capsys, tmp_path):
    tiny_run = train_run(config(steps=20), tmp_path / "run", progress=False)
    monkeypatch.setitem(sys.modules, "devinterp", None)  # as if it were not installed
    with pytest.raises(MissingExtra, match=r'pip install -e "\.\[devinterp\]"'):
        require_devinterp()
    with pytest.raises(SystemExit) as exit_:
        main(["llc", str(tiny_run.path)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and 'pip install -e ".[devinterp]"' in err
    assert not (tiny_run.path / "llc.json").exists()


def test_importing_the_package_does_not_import_devinterp():
    code = ("import sys, superposition, superposition.cli, superposition.llc, superposition.experiments; "
            "assert 'devinterp' not in sys.modules and 'transformers' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def devinterp_direct(run, k, settings, store):
    """devinterp's own estimator called by hand on the same module, samples and seed."""
    from devinterp.slt.llc import llc

    data = IndexedSamples(run_samples(run.config.data, k, settings.samples, settings.seed))
    module = instance_module(run.model.weights(), run.config, k)
    with thread_count(1):
        result = llc(module, data, {}, lr=settings.lr, n_beta=settings.beta_n, localization=settings.localization,
                     num_chains=settings.chains, num_draws=settings.draws, num_burnin_steps=settings.burnin,
                     batch_size=settings.batch_size, num_init_loss_batches=settings.init_batches,
                     init_seed=settings.seed, device="cpu", loss_fn=data.loss_fn,
                     output_path=str(store / "samples.zarr"))
    return float(result.llc_mean), float(result.llc_std), result.llc_per_chain.values.tolist()


def test_our_call_is_devinterps_estimator(tiny_run, capsys, tmp_path):
    pytest.importorskip("devinterp")
    with pytest.raises(SystemExit) as exit_:
        main(["llc", str(tiny_run.path), "--instance", "1", *FLAGS])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "instance 1, step 60: LLC = " in out and "wrote " in out
    doc = json.loads((tiny_run.path / "llc.json").read_text())
    assert doc["settings"] == TINY.to_dict()
    (entry,) = doc["estimates"]
    mean, std, per_chain = devinterp_direct(tiny_run, 1, TINY, tmp_path)
    assert (entry["instance"], entry["step"]) == (1, 60)
    assert entry["llc_mean"] == pytest.approx(mean, rel=1e-6, abs=1e-9)
    assert entry["llc_std"] == pytest.approx(std, rel=1e-6, abs=1e-9)
    assert entry["llc_per_chain"] == pytest.approx(per_chain, rel=1e-6, abs=1e-9)
    assert len(entry["loss_trace"]) == 2 and len(entry["loss_trace"][0]) == 20

    # Another instance with the same settings is added beside it; other settings start the file afresh.
    assert main_json(capsys, tiny_run, "--instance", "0", *FLAGS)["estimates"][0]["instance"] == 0
    assert [e["instance"] for e in json.loads((tiny_run.path / "llc.json").read_text())["estimates"]] == [0, 1]
    main_json(capsys, tiny_run, "--instance", "2", *FLAGS[:-1], "4")
    assert [e["instance"] for e in json.loads((tiny_run.path / "llc.json").read_text())["estimates"]] == [2]


def main_json(capsys, run, *args):
    with pytest.raises(SystemExit) as exit_:
        main(["llc", str(run.path), "--json", *args])
    assert exit_.value.code == 0
    return json.loads(capsys.readouterr().out)


def test_a_foreign_llc_json_is_not_replaced(capsys, tmp_path):
    pytest.importorskip("devinterp")
    run = train_run(config(steps=20), tmp_path / "run", progress=False)
    (run.path / "llc.json").write_text("my notes\n")
    with pytest.raises(SystemExit) as exit_:
        main(["llc", str(run.path), "--instance", "0", *FLAGS])
    assert exit_.value.code == 2 and "not written by superposition llc" in capsys.readouterr().err
    assert (run.path / "llc.json").read_text() == "my notes\n"


def test_an_estimate_leaves_the_global_random_state_alone(tiny_run):
    pytest.importorskip("devinterp")
    from superposition.llc import estimate

    before = torch.get_rng_state()
    one = instance_module(tiny_run.model.weights(), tiny_run.config, 0)
    estimate(one, run_samples(tiny_run.config.data, 0, TINY.samples, TINY.seed), TINY)
    assert torch.equal(torch.get_rng_state(), before)  # devinterp reseeds torch; training elsewhere must not see it


def test_snapshots_each_get_an_estimate(tmp_path):
    pytest.importorskip("devinterp")
    from superposition.llc import estimate_run

    run = train_run(config(steps=40, snapshots=3), tmp_path / "run", progress=False)
    entries = estimate_run(run, [0], TINY, snapshots=True)
    assert [e["step"] for e in entries] == run.snapshots.steps.tolist()
    (final,) = estimate_run(run, [0], TINY)
    assert entries[-1]["llc_mean"] == final["llc_mean"]  # the last snapshot is the final weights
