import json

import pytest
import safetensors.torch
import torch

from superposition import RunDirError, load_run, make_config, save_run, train_run
from superposition import runs as runs_module


@pytest.fixture(scope="module")
def trained():
    cfg = make_config(
        data=dict(n_features=4, feature_probability=[1.0, 0.05], importance_decay=0.9),
        model=dict(kind="relu", n_hidden=2, tied=False),
        train=dict(steps=100, batch_size=128, log_every=25),
    )
    return train_run(cfg, progress=False)


def test_round_trip_gives_back_the_same_model(trained, tmp_path):
    save_run(trained, tmp_path / "run")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == sorted(runs_module.FILES)
    loaded = load_run(tmp_path / "run")
    assert loaded.config == trained.config
    for name, value in trained.model.weights().items():
        assert torch.equal(loaded.model.weights()[name], value)
    x = torch.rand(2, 16, 4)
    assert torch.equal(loaded.model(x), trained.model(x))
    assert loaded.history.equals(trained.history)
    assert loaded.metrics.shape == trained.metrics.shape


def test_documented_tensor_names_and_shapes(trained, tmp_path):
    save_run(trained, tmp_path / "run")
    tensors = safetensors.torch.load_file(tmp_path / "run" / "weights.safetensors")
    assert {k: tuple(v.shape) for k, v in tensors.items()} == {"W": (2, 4, 2), "b": (2, 4), "W_dec": (2, 2, 4)}
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["format_version"] == 1 and config["data"]["n_features"] == 4


def test_a_save_killed_midway_leaves_the_previous_run_intact(trained, tmp_path, monkeypatch):
    path = save_run(trained, tmp_path / "run")
    before = {p.name: p.read_bytes() for p in path.iterdir()}

    def dies(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runs_module, "save_file", dies)
    with pytest.raises(KeyboardInterrupt):
        save_run(trained, path)
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["run"], "no temporary directory is left behind"


def test_a_save_killed_between_the_two_renames_is_recovered(trained, tmp_path):
    path = save_run(trained, tmp_path / "run")
    path.rename(tmp_path / ".run.old")  # the state right after the old directory was moved aside
    assert torch.equal(load_run(path).W, trained.W)


def test_missing_and_corrupt_run_directories(trained, tmp_path):
    with pytest.raises(RunDirError, match="not found"):
        load_run(tmp_path / "nope")
    path = save_run(trained, tmp_path / "run")
    (path / "config.json").write_text("{")
    with pytest.raises(RunDirError, match="config.json is corrupt"):
        load_run(path)
    path = save_run(trained, tmp_path / "run2")
    (path / "weights.safetensors").write_bytes(b"garbage")
    with pytest.raises(RunDirError, match="weights.safetensors is corrupt"):
        load_run(path)
    path = save_run(trained, tmp_path / "run3")
    (path / "history.csv").unlink()
    with pytest.raises(RunDirError, match="history.csv is missing"):
        load_run(path)
    path = save_run(trained, tmp_path / "run4")
    safetensors.torch.save_file({"W": torch.zeros(3, 3, 3)}, path / "weights.safetensors")
    with pytest.raises(RunDirError, match="does not match config.json"):
        load_run(path)
