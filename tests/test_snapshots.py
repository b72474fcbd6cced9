"""Weight snapshots (`train.snapshots`): taken at the chosen steps, the last equal to the final weights bit for bit,
saved as snapshots.safetensors and validated on loading; runs without them unchanged; the size limit refused in one
line before training."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from superposition import make_config, train_run
from superposition.cli import app
from superposition.config import ModAddRunConfig, validate
from superposition.errors import ConfigError, RunDirError
from superposition.memory import check_memory, snapshot_size
from superposition.runs import load_run
from superposition.snapshots import MAX_SNAPSHOT_BYTES, snapshot_steps

STEPS = 300


def config(snapshots: int = 20, spacing: str = "log", steps: int = STEPS):
    return make_config(data=dict(n_features=5, feature_probability=[1.0, 0.1], importance_decay=0.9),
                       model=dict(kind="relu", n_hidden=2),
                       train=dict(steps=steps, batch_size=128, snapshots=snapshots, snapshot_spacing=spacing))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    out = tmp_path_factory.mktemp("snapshots") / "run"
    train_run(config(20), out, progress=False)
    return out


def test_twenty_snapshots_the_last_equal_to_the_final_weights_bit_for_bit(saved):
    run = load_run(saved)
    assert run.snapshots is not None and len(run.snapshots) == 20
    final = load_file(str(saved / "weights.safetensors"))
    assert set(run.snapshots.tensors) == set(final) == {"W", "b"}
    for name, value in final.items():
        assert run.snapshots.tensors[name].shape == (20, *value.shape)
        assert torch.equal(run.snapshots.tensors[name][-1], value)
    assert run.snapshots.steps.dtype == torch.int64 and run.snapshots.steps.tolist() == snapshot_steps(STEPS, 20, "log")


def test_the_file_holds_each_weight_with_a_snapshot_axis_and_the_steps(saved):
    raw = load_file(str(saved / "snapshots.safetensors"))
    assert sorted(raw) == ["W", "b", "steps"]
    assert raw["W"].shape == (20, 2, 5, 2) and raw["W"].dtype == torch.float32
    assert raw["steps"][-1] == STEPS


def test_snapshots_do_not_change_training():
    with_snaps = train_run(config(20), progress=False)
    without = train_run(config(0), progress=False)
    assert without.snapshots is None
    for name, value in without.model.weights().items():
        assert torch.equal(with_snaps.model.weights()[name], value)


def test_an_early_snapshot_is_the_model_at_that_step():
    short = train_run(config(0, steps=snapshot_steps(STEPS, 20, "log")[10]), progress=False)
    run = train_run(config(20), progress=False)
    assert run.snapshots is not None
    assert torch.equal(run.snapshots.at(10)["W"], short.model.weights()["W"])
    rebuilt = run.snapshots.model(run.config, 10)
    assert torch.equal(rebuilt.weights()["W"], short.model.weights()["W"])


@pytest.mark.parametrize("total,n", [(300, 20), (10_000, 150), (20, 20), (30, 20), (5, 1)])
@pytest.mark.parametrize("spacing", ["log", "linear"])
def test_snapshot_steps_are_distinct_and_end_at_the_last_step(total, n, spacing):
    steps = snapshot_steps(total, n, spacing)
    assert len(steps) == n and steps[-1] == total and steps[0] >= 1
    assert all(a < b for a, b in zip(steps, steps[1:]))


def test_log_spacing_is_dense_early_and_linear_spacing_even():
    log = snapshot_steps(10_000, 5, "log")
    assert log == [1, 10, 100, 1000, 10_000]
    assert snapshot_steps(1000, 4, "linear") == [250, 500, 750, 1000]


def test_linear_spacing_is_saved_and_read_back(tmp_path):
    train_run(config(4, "linear"), tmp_path / "run", progress=False)
    run = load_run(tmp_path / "run")
    assert run.snapshots is not None and run.snapshots.steps.tolist() == [75, 150, 225, 300]
    assert run.snapshots.spacing == "linear"


def test_a_run_without_snapshots_loads(tmp_path):
    train_run(config(0), tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "snapshots.safetensors").exists()
    assert load_run(tmp_path / "run").snapshots is None


def test_more_snapshots_than_steps_is_refused_in_one_line():
    with pytest.raises(ConfigError, match="snapshots") as err:
        config(STEPS + 1)
    assert "\n" not in str(err.value)


def test_the_size_formula_is_snapshots_times_the_saved_bytes():
    cfg = config(20)
    per = (2 * 5 * 2 + 2 * 5) * 4  # W [2, 5, 2] and b [2, 5], float32
    assert snapshot_size(cfg) == 20 * (per + 8)
    assert snapshot_size(config(0)) == 0


def test_snapshots_above_the_limit_are_refused_in_one_line_before_training(tmp_path):
    big = make_config(data=dict(n_features=2000, feature_probability=[0.1] * 4), model=dict(n_hidden=100),
                      train=dict(steps=1000, snapshots=1000))
    assert snapshot_size(big) > MAX_SNAPSHOT_BYTES
    with pytest.raises(ConfigError, match="limit of 1 GiB") as err:
        check_memory(big, available=2**50)
    assert "\n" not in str(err.value)
    result = CliRunner().invoke(app, ["train", "--n-features", "2000", "--n-hidden", "100", "--feature-probability",
                                      "0.1,0.1,0.1,0.1", "--steps", "1000", "--snapshots", "1000", "--quiet",
                                      "--out", str(tmp_path / "big")])
    assert result.exit_code == 2 and "limit of 1 GiB" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "big").exists()


def test_the_cli_flags_save_snapshots(tmp_path):
    out = tmp_path / "cli"
    result = CliRunner().invoke(app, ["train", "--n-features", "4", "--n-hidden", "2", "--steps", "50", "--snapshots",
                                      "5", "--snapshot-spacing", "linear", "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["train"]["snapshots"] == 5
    assert load_file(str(out / "snapshots.safetensors"))["steps"].tolist() == [10, 20, 30, 40, 50]


def test_other_families_keep_snapshots_too(tmp_path):
    cfg = validate(ModAddRunConfig, dict(data=dict(p=11), model=dict(n_instances=1, d_embed=4, n_hidden=8),
                                         train=dict(steps=30, threads=1, snapshots=3)))
    train_run(cfg, tmp_path / "modadd", progress=False)
    run = load_run(tmp_path / "modadd")
    assert run.snapshots is not None
    for name, value in load_file(str(tmp_path / "modadd" / "weights.safetensors")).items():
        assert torch.equal(run.snapshots.tensors[name][-1], value)


# ------------------------------------------------------------------------------------ corrupt snapshot files


def _rewrite(path, **changes):
    tensors = load_file(str(path / "snapshots.safetensors"))
    tensors.update(changes)
    save_file({k: v for k, v in tensors.items() if v is not None}, str(path / "snapshots.safetensors"))


@pytest.fixture
def copy(saved, tmp_path):
    import shutil

    shutil.copytree(saved, tmp_path / "run")
    return tmp_path / "run"


@pytest.mark.parametrize("damage,message", [
    (lambda p: (p / "snapshots.safetensors").write_bytes(b"not a safetensors file"), "is corrupt"),
    (lambda p: (p / "snapshots.safetensors").unlink(), "snapshots.safetensors is missing"),
    (lambda p: _rewrite(p, W=torch.zeros(20, 2, 5, 3)), "does not match weights.safetensors"),
    (lambda p: _rewrite(p, W=torch.zeros(19, 2, 5, 2)), "does not match weights.safetensors"),
    (lambda p: _rewrite(p, b=torch.zeros(20, 2, 5, dtype=torch.float64)), "expected float32"),
    (lambda p: _rewrite(p, b=torch.full((20, 2, 5), float("nan"))), "NaN"),
    (lambda p: _rewrite(p, steps=torch.arange(20, dtype=torch.int32)), "expected int64"),
    (lambda p: _rewrite(p, steps=torch.arange(20, dtype=torch.int64)), "steps must increase"),
    (lambda p: _rewrite(p, steps=None), "'steps' is missing"),
])
def test_a_corrupt_snapshot_file_is_refused_in_one_line(copy, damage, message):
    damage(copy)
    with pytest.raises(RunDirError, match=message) as err:
        load_run(copy)
    assert "\n" not in str(err.value)


def test_a_snapshot_file_the_config_does_not_ask_for_is_refused(copy):
    data = json.loads((copy / "config.json").read_text())
    data["train"]["snapshots"] = 0
    (copy / "config.json").write_text(json.dumps(data))
    with pytest.raises(RunDirError, match="asks for no snapshots"):
        load_run(copy)


# ----------------------------------------------------------------------------------------------- the animation


@pytest.mark.parametrize("hidden", [2, 3])
def test_a_toy_run_with_snapshots_gets_an_animated_figure(hidden):
    from superposition.families import family_of

    cfg = make_config(data=dict(n_features=5, feature_probability=[0.1] * 6), model=dict(n_hidden=hidden),
                      train=dict(steps=100, batch_size=64, snapshots=8))
    run = train_run(cfg, progress=False)
    figures = family_of(run).figures(run)
    without = train_run(cfg.model_copy(update={"train": cfg.train.model_copy(update={"snapshots": 0})}),
                        progress=False)
    assert len(figures) == len(family_of(without).figures(without)) + 1
    animation = figures[-1]
    assert len(animation.frames) == 8 and [f.name for f in animation.frames][-1] == "100"
    assert [s.label for s in animation.layout.sliders[0].steps] == [str(s) for s in run.snapshots.steps.tolist()]
    panel = "heatmap" if hidden != 2 else "scatter"
    assert animation.frames[0].data[0].type == panel  # the features in 2-D, or W^T W otherwise
    assert len({t.xaxis for t in animation.data}) == 2 * 4  # the first four of six instances, two rows
