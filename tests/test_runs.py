import json
import multiprocessing
import os
import shutil
import time

import pytest
import safetensors.torch
import torch

from superposition import RunDirError, load_run, make_config, save_run, train_run
from superposition.errors import OutputError
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
        save_run(trained, path, overwrite=True)
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


# ------------------------------------------------------------------ overwrite, concurrency, recovery, permissions


def test_overwrite_replaces_a_run_directory(trained, tmp_path):
    path = save_run(trained, tmp_path / "run")
    (path / "history.csv").write_text("step,instance,loss\n1,0,9\n1,1,9\n")
    with pytest.raises(OutputError, match="already exists; pass --overwrite"):
        save_run(trained, path)
    save_run(trained, path, overwrite=True)
    assert load_run(path).history.equals(trained.history)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"], "no backup or temporary directory is left"


def test_overwrite_never_replaces_a_directory_that_is_not_a_run(trained, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    for target in (mine, tmp_path / "empty"):
        target.mkdir(exist_ok=True)
        with pytest.raises(OutputError, match="not a run directory"):
            save_run(trained, target, overwrite=True)
        with pytest.raises(OutputError, match="not a run directory"):
            train_run(trained.config, target, overwrite=True, progress=False)
    assert (mine / "notes.txt").read_text() == "my notes" and os.listdir(mine) == ["notes.txt"]
    assert os.listdir(tmp_path / "empty") == []


def test_the_working_directory_and_its_parents_are_refused(trained, tmp_path, monkeypatch):
    save_run(trained, tmp_path / "run")
    monkeypatch.chdir(tmp_path / "run")  # even a run directory: never the one we stand in
    for target in (".", "..", str(tmp_path), str(tmp_path / "run")):
        with pytest.raises(OutputError, match="working directory"):
            save_run(trained, target, overwrite=True)


def test_links_files_and_file_parents_are_refused_before_training(trained, tmp_path, monkeypatch):
    (tmp_path / "f.txt").write_text("mine")
    real = save_run(trained, tmp_path / "real")
    (tmp_path / "link").symlink_to(real)
    trained_at_all = []
    monkeypatch.setattr("superposition.lab.train", lambda *a, **k: trained_at_all.append(1))
    for target, message in ((tmp_path / "f.txt", "not a directory"), (tmp_path / "f.txt" / "run", "not a directory"),
                            (tmp_path / "link", "symbolic link")):
        with pytest.raises(OutputError, match=message):
            train_run(trained.config, target, overwrite=True, progress=False)
    assert not trained_at_all, "the output is checked before any training"
    assert (tmp_path / "f.txt").read_text() == "mine"


def test_of_two_concurrent_writers_exactly_one_wins(trained, tmp_path):
    ctx = multiprocessing.get_context("fork")  # the children inherit the trained run

    def writer(path, start, results):
        start.wait()
        try:
            save_run(trained, path)
            results.put("ok")
        except OutputError as e:
            results.put(str(e))

    for trial in range(20):
        path = tmp_path / f"run{trial}"
        start, results = ctx.Event(), ctx.Queue()
        writers = [ctx.Process(target=writer, args=(path, start, results)) for _ in range(2)]
        for w in writers:
            w.start()
        start.set()
        outcomes = sorted(results.get(timeout=60) for _ in writers)
        for w in writers:
            w.join(timeout=60)
        assert outcomes.count("ok") == 1, outcomes
        assert "already exists" in [o for o in outcomes if o != "ok"][0]
        assert load_run(path).history.equals(trained.history)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary directory is left"


def test_a_save_killed_between_the_renames_then_a_plain_save_keeps_the_old_run(trained, tmp_path):
    path = save_run(trained, tmp_path / "run")
    before = {p.name: p.read_bytes() for p in path.iterdir()}
    # The state a kill -9 between the two renames leaves: the old run moved aside, the new one complete beside it.
    path.rename(tmp_path / ".run.old")
    shutil.copytree(tmp_path / ".run.old", tmp_path / ".run.tmp-killed")
    other = train_run(trained.config.model_copy(update={"train": trained.config.train.model_copy(update={"seed": 1})}),
                      progress=False)
    with pytest.raises(OutputError, match="already exists"):
        save_run(other, path)  # without overwrite: the recovered old run is there, and stays
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before


def test_stale_temporary_directories_are_cleaned_and_live_ones_kept(trained, tmp_path):
    from superposition.files import dir_lock

    stale, live = tmp_path / ".run.tmp-stale", tmp_path / ".run.tmp-live"
    for d in (stale, live):
        d.mkdir()
        (d / "config.json").write_text("{}")
        os.utime(d, (time.time() - 3600, time.time() - 3600))
    with dir_lock(live):  # a writer still busy in it
        save_run(trained, tmp_path / "run")
    assert not stale.exists() and live.exists()


def test_run_directories_follow_the_umask(trained, tmp_path):
    before = os.umask(0o022)
    try:
        path = save_run(trained, tmp_path / "shared")
        os.umask(0o077)
        private = save_run(trained, tmp_path / "private")
    finally:
        os.umask(before)
    assert path.stat().st_mode & 0o777 == 0o755
    assert {(f.stat().st_mode & 0o777) for f in path.iterdir()} == {0o644}
    assert private.stat().st_mode & 0o777 == 0o700
    assert {(f.stat().st_mode & 0o777) for f in private.iterdir()} == {0o600}


def test_an_error_while_saving_is_one_line_and_saves_nothing(trained, tmp_path, monkeypatch):
    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runs_module, "save_file", disk_full)
    with pytest.raises(RunDirError, match="No space left on device; the trained run was not saved"):
        save_run(trained, tmp_path / "run")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present: the run loads onto it")
def test_a_run_saved_on_cuda_loads_onto_the_cpu(trained, tmp_path):
    path = save_run(trained, tmp_path / "run")
    config = json.loads((path / "config.json").read_text())
    config["train"]["device"] = "cuda"
    (path / "config.json").write_text(json.dumps(config))
    loaded = load_run(path)
    assert loaded.config.train.device == "cpu" and loaded.model.W.device.type == "cpu"
    assert torch.equal(loaded.W, trained.W)


def test_weights_of_another_dtype_or_not_finite_are_refused(trained, tmp_path):
    for name, bad, message in (("W", lambda t: t.double(), "float64"), ("b", lambda t: t.int(), "int32"),
                               ("W", lambda t: t.fill_(float("nan")), "NaN or infinity")):
        path = save_run(trained, tmp_path / f"run-{name}-{message[:3]}")
        tensors = safetensors.torch.load_file(path / "weights.safetensors")
        tensors[name] = bad(tensors[name])
        safetensors.torch.save_file(tensors, path / "weights.safetensors")
        with pytest.raises(RunDirError, match=message):
            load_run(path)
