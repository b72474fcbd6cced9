"""Sparse autoencoders in the laboratory: their run family (config, truth file, round trip), the CLI, and figures."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from superposition.cli import app
from superposition.config import SAERunConfig, make_config, parse_run_config, validate
from superposition.errors import ConfigError
from superposition.lab import train_run
from superposition.families.sae import figure_inputs
from superposition.plots.dictionary import CURVES, decoder_directions, recovery_curves, recovery_heatmap
from superposition.runs import load_run

runner = CliRunner()
TOY = make_config(data=dict(n_features=5, feature_probability=[1.0, 0.05]), model=dict(kind="relu", n_hidden=2),
                  train=dict(steps=400, lr=3e-3))


def test_sae_config_defaults_and_errors():
    cfg = parse_run_config({"family": "sae", "train": {"steps": 5}})
    assert cfg.train.optimizer == "adam" and cfg.train.resolved_weight_decay == 0.0 and cfg.train.batch_size == 1024
    assert cfg.source.kind == "sphere" and cfg.source.d_in == 256
    assert validate(SAERunConfig, {"model": {"d_sae": 8, "l1": [0.1, 0.2, 0.3]}}).model.n_instances == 3
    with pytest.raises(ConfigError, match="needs the toy run's config"):
        validate(SAERunConfig, {"source": {"kind": "toy"}})
    with pytest.raises(ConfigError, match="instance 2 does not exist"):
        validate(SAERunConfig, {"source": {"kind": "toy", "toy": TOY.model_dump(), "instance": 2}})
    with pytest.raises(ConfigError, match="n_active"):
        validate(SAERunConfig, {"source": {"d": 8, "n_features": 4, "n_active": 5}})


def test_sae_on_a_toy_instance_round_trips_with_its_truth(tmp_path):
    toy_run = train_run(TOY, tmp_path / "toy", progress=False)
    cfg = validate(SAERunConfig, dict(
        source=dict(kind="toy", toy=TOY.model_dump(), run=str(tmp_path / "toy"), instance=1),
        model=dict(d_sae=5, l1=[0.1, 0.3]), train=dict(steps=200, log_every=50),
    ))
    run = train_run(cfg, tmp_path / "sae", progress=False)
    # the truth is the chosen toy instance's W, and its unit rows
    assert torch.equal(run.truth["W"], toy_run.W[1:2])
    norms = toy_run.W[1].norm(dim=-1, keepdim=True)
    assert torch.allclose(run.truth["true_features"][0], toy_run.W[1] / norms)
    back = load_run(tmp_path / "sae")
    assert back.config == cfg and set(back.truth) == {"W", "true_features"}
    for name, value in run.model.weights().items():
        assert torch.equal(back.model.weights()[name], value)
    assert list(run.metrics.l1) == [0.1, 0.3]
    assert {"mmcs", "matched_score", "l0", "explained_variance"} <= set(back.metrics.columns)
    # what only training saw is kept apart from the measurements, in training.json
    assert set(back.facts) == {"dead_in_training", "resampled"} and len(back.facts["resampled"]) == 2
    assert (tmp_path / "sae" / "training.json").is_file()
    # the toy run directory is no longer needed: the analysis reads the stored truth
    import shutil

    shutil.rmtree(tmp_path / "toy")
    from superposition.lab import analyze

    assert list(analyze(back).mmcs) == pytest.approx(list(run.metrics.mmcs))


def test_toy_source_must_match_its_run(tmp_path):
    train_run(TOY, tmp_path / "toy", progress=False)
    other = TOY.model_copy(update={"train": TOY.train.model_copy(update={"seed": 5})})
    cfg = validate(SAERunConfig, dict(source=dict(kind="toy", toy=other.model_dump(), run=str(tmp_path / "toy")),
                                      model=dict(d_sae=5), train=dict(steps=10)))
    with pytest.raises(ConfigError, match="does not hold the toy run"):
        train_run(cfg, progress=False)


def test_missing_truth_is_named(tmp_path):
    cfg = validate(SAERunConfig, dict(source=dict(d=8, n_features=16, n_active=2), model=dict(d_sae=16),
                                      train=dict(steps=10)))
    train_run(cfg, tmp_path / "sae", progress=False)
    (tmp_path / "sae" / "truth.safetensors").unlink()
    with pytest.raises(Exception, match="truth.safetensors is missing"):
        load_run(tmp_path / "sae")


def test_cli_trains_on_a_toy_run_and_on_sphere_data(tmp_path):
    toy = tmp_path / "toy"
    assert runner.invoke(app, ["train", "--feature-probability", "0.05", "--steps", "300", "--out", str(toy),
                               "--quiet"]).exit_code == 0
    out = tmp_path / "sae"
    r = runner.invoke(app, ["sae", "train", str(toy), "--d-sae", "5", "--l1", "0.2", "--steps", "200", "--seed", "0",
                            "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["family"] == "sae" and cfg["model"]["l1"] == 0.2 and cfg["source"]["run"] == str(toy)
    r = runner.invoke(app, ["sae", "analyze", str(out), "--json"])
    assert r.exit_code == 0, r.output
    row = json.loads(r.output)["instances"][0]
    assert 0 <= row["matched_score"] <= row["mmcs"] <= 1
    r = runner.invoke(app, ["sae", "train", "--sphere", "--d", "8", "--n-features", "16", "--n-active", "2",
                            "--d-sae", "16", "--l1", "0.03,0.3", "--steps", "100", "--out", str(tmp_path / "s"),
                            "--json"])
    assert r.exit_code == 0, r.output
    assert [row["l1"] for row in json.loads(r.output)["instances"]] == [0.03, 0.3]
    assert runner.invoke(app, ["sae", "analyze", str(tmp_path / "s")]).exit_code == 0


@pytest.mark.parametrize("args, message", [
    (["--d-sae", "5"], "give a toy RUN_DIR or --sphere"),
    (["--sphere", "--d-sae", "0"], "model.d_sae"),
    (["--sphere", "--d-sae", "4", "--activation", "topk"], "k is required"),
    (["--sphere", "--d-sae", "4", "--l1", "x"], "--l1 must be comma-separated numbers"),
    (["missing-dir", "--d-sae", "4"], "run directory not found"),
])
def test_cli_errors_are_one_line(tmp_path, args, message):
    r = runner.invoke(app, ["sae", "train", *args, "--out", str(tmp_path / "x")])
    assert r.exit_code == 2, r.output
    assert message in r.output and r.output.strip().count("\n") == 0
    assert not (tmp_path / "x").exists()


def test_a_toy_source_is_a_saved_run_of_its_own(tmp_path):
    cfg = validate(SAERunConfig, dict(source=dict(kind="toy", toy=TOY.model_dump()), model=dict(d_sae=5)))
    with pytest.raises(ConfigError, match="reads a trained toy run: set source.run"):
        train_run(cfg, progress=False)


def test_figures_draw_the_dictionary_and_the_sweep(tmp_path):
    train_run(TOY, tmp_path / "toy", progress=False)
    cfg = validate(SAERunConfig, dict(source=dict(kind="toy", toy=TOY.model_dump(), run=str(tmp_path / "toy"),
                                                  instance=1),
                                      model=dict(d_sae=5, l1=[0.1, 0.3]), train=dict(steps=100)))
    run = train_run(cfg, progress=False)
    f = figure_inputs(run)
    fig = decoder_directions(f.true_features, f.decoder, f.labels, f.title, mmcs=f.mmcs)
    learned = [t for t in fig.data if t.name == "learned latent"]
    assert len(learned) == 2 * 5  # five latents in each of the two panels
    assert "L1 = 0.3" in " ".join(a.text for a in fig.layout.annotations)
    heat = recovery_heatmap(run.metrics, title="t")
    assert heat.data[0].z.shape == (2, 1)
    curves = recovery_curves(run.metrics, title="t", n_true=5)  # a panel per recovery measure, a line per L1
    assert [a.text for a in curves.layout.annotations] == [name for _, name in CURVES]
    assert len(curves.data) == 2 * len(CURVES)
