"""Sweeps (`superposition sweep`) and the local executor: specs, merging, results, failures, resuming, status, the
figure, and a worker killed mid-run."""

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from superposition.cli import app
from superposition.errors import ConfigError
from superposition.executors import run_all
from superposition.lab import train_run
from superposition.sweeps import expand, load_sweep, run_sweep, sweep_status
from superposition.sweeps.plan import plan_runs
from superposition.sweeps.spec import SweepSpec
from superposition.sweeps.store import read_state, tasks, train_task, write_plan

runner = CliRunner()
TINY = {"data": {"n_features": 2}, "model": {"n_hidden": 1}, "train": {"steps": 30, "batch_size": 32, "log_every": 10}}


def spec_file(tmp_path: Path, spec: dict, name: str = "spec.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(spec))
    return path


def sweep_of(spec: dict, tmp_path: Path, name: str = "s"):
    return expand(SweepSpec.model_validate(spec), tmp_path, name)


def weights_stamp(out: Path) -> dict[str, tuple[int, int]]:
    """(mtime, inode) of every run's weights: a retrained run is saved anew (a new directory swapped in)."""
    stamps = {}
    for run in (out / "points").iterdir():
        try:
            if not run.name.startswith("."):  # not a save in progress (.NAME.tmp-*) or a replaced run (.NAME.old)
                stat = (run / "weights.safetensors").stat()
                stamps[run.name] = (stat.st_mtime_ns, stat.st_ino)
        except FileNotFoundError:
            pass
    return stamps


# --- specs and points ---------------------------------------------------------------------------------------------

def test_grid_axes_cross_and_zip_axes_walk_together():
    s = sweep_of({"base": TINY, "grid": {"train.lr": [0.001, 0.003], "data.feature_probability": [1.0, 0.1]},
                  "zip": {"train.seed": [0, 1], "model.n_hidden": [1, 2]}}, Path("."))
    assert len(s.points) == 8
    got = [(p.config.train.lr, p.config.data.feature_probability, p.config.train.seed, p.config.model.n_hidden)
           for p in s.points]
    assert got[:4] == [(0.001, [1.0], 0, 1), (0.001, [1.0], 1, 2), (0.001, [0.1], 0, 1), (0.001, [0.1], 1, 2)]
    assert got[4][0] == 0.003
    assert s.points[2].values == {"train.lr": 0.001, "data.feature_probability": 0.1, "train.seed": 0,
                                  "model.n_hidden": 1}
    assert s.axes["train.lr"] == [0.001, 0.003]


def test_generated_values_and_list_elements():
    s = sweep_of({"base": {**TINY, "data": {"n_features": 2, "importance": [1.0, 1.0]}},
                  "grid": {"data.importance.1": {"logspace": [-1, 1, 3]}, "train.seed": {"range": [0, 2]}}},
                 Path("."))
    assert [p.config.data.importance for p in s.points[::2]] == [[1.0, 0.1], [1.0, 1.0], [1.0, 10.0]]
    assert [p.config.train.seed for p in s.points[:2]] == [0, 1]


@pytest.mark.parametrize("spec, words", [
    ({"grid": {"train.lr": [0.001, -1.0]}}, ["point 1", "train.lr=-1.0", "greater than 0"]),
    ({"grid": {"train.lrr": [0.1]}}, ["axis 'train.lrr'", "no field"]),
    ({"grid": {"data.importance.3": [0.1]}}, ["data.importance.3"]),
    ({"zip": {"train.lr": [0.1, 0.2], "train.seed": [0]}}, ["equal lengths"]),
    ({"grid": {"train.seed": [0, 0]}}, ["same config"]),
    ({"grid": {}}, ["no axis"]),
    ({"grid": {"train.lr": [0.1]}, "colour": "red"}, ["colour"]),
    ({"family": "nope", "grid": {"train.lr": [0.1]}}, ["unknown family"]),
])
def test_a_bad_spec_is_one_line_before_any_training(tmp_path, spec, words):
    path = spec_file(tmp_path, {"base": TINY, **spec})
    out = tmp_path / "out"
    result = runner.invoke(app, ["sweep", str(path), "--out", str(out)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert all(w in lines[0] for w in words), lines[0]
    assert not out.exists()  # nothing written, nothing trained


def test_yaml_specs_and_the_committed_example_validate():
    example = Path(__file__).parent.parent / "examples" / "sweeps" / "phase_fine.yaml"
    s = load_sweep(example)
    plans = plan_runs(s)
    assert len(s.points) == len(plans) * (len(s.points) // len(plans))
    seeds = s.axes["train.seed"]
    assert len(plans) == len(seeds)  # one multi-instance run per seed
    assert all(p.config.model.n_hidden == 1 and p.config.data.n_features == 2 for p in plans)


# --- merging ------------------------------------------------------------------------------------------------------

def test_points_differing_per_instance_share_one_run_per_seed():
    s = sweep_of({"base": {**TINY, "data": {"n_features": 2, "importance": [1.0, 1.0]}},
                  "grid": {"data.importance.1": [0.5, 2.0], "data.feature_probability": [1.0, 0.1, 0.01],
                           "train.seed": [0, 1]}}, Path("."))
    plans = plan_runs(s)
    assert len(plans) == 2
    for plan in plans:
        assert plan.config.n_instances == 6 and len({m.point for m in plan.members}) == 6
        for m in plan.members:  # instance m.start of the run is the point's config, cell by cell
            point = s.points[m.point]
            assert plan.config.data.feature_probability[m.start] == point.config.data.feature_probability[0]
            assert plan.config.data.importance[m.start] == point.config.data.importance
            assert plan.config.train.seed == point.config.train.seed
    assert plans[0].name.startswith("seed=0-") and plans[1].name.startswith("seed=1-")
    assert len(plan_runs(sweep_of({**s.spec.model_dump(), "merge": False}, Path(".")))) == 12
    chunks = plan_runs(sweep_of({**s.spec.model_dump(), "max_instances": 4}, Path(".")))
    assert [p.config.n_instances for p in chunks] == [4, 2, 4, 2]


def test_points_that_differ_beyond_instances_are_not_merged():
    s = sweep_of({"base": TINY, "grid": {"train.lr": [0.001, 0.003], "data.feature_probability": [1.0, 0.1]}},
                 Path("."))
    plans = plan_runs(s)
    assert [p.config.n_instances for p in plans] == [2, 2]
    assert {p.config.train.lr for p in plans} == {0.001, 0.003}


# --- running, results, failures, resuming -------------------------------------------------------------------------

def test_results_table_one_row_per_point_instance_and_feature(tmp_path):
    s = sweep_of({"base": TINY, "grid": {"data.feature_probability": [1.0, 0.1], "train.seed": [0, 1]}}, tmp_path)
    result = run_sweep(s, tmp_path / "out", workers=1)
    table = pd.read_csv(tmp_path / "out" / "results.csv")
    assert len(table) == 4 * 2  # 4 points x 1 instance x 2 features
    assert (table.status == "done").all() and table.error.isna().all()
    for col in ["point", "run", "run_instance", "instance", "data.feature_probability", "train.seed", "loss",
                "norm", "superposition", "dims_per_feature", "structure"]:
        assert col in table.columns, col
    assert result.trained == 2 and result.reused == 0  # two seeds, each one run of two instances
    row = table[(table["train.seed"] == 1) & (table["data.feature_probability"] == 0.1)].iloc[0]
    merged = plan_runs(s)[1].config
    assert merged.data.feature_probability == [1.0, 0.1] and merged.train.seed == 1
    assert row.run_instance == 1 and row.instance == 0
    run = train_run(merged, progress=False)
    assert row.loss == pytest.approx(run.final_loss()[1], rel=1e-6)  # the merged run, retrained: same numbers
    assert row.norm == pytest.approx(float(run.table.norm[2]), rel=1e-6)  # instance 1, feature 0
    if importlib.util.find_spec("pyarrow") is not None:
        assert pd.read_parquet(tmp_path / "out" / "results.parquet").shape == table.shape


def test_a_failing_point_is_recorded_and_the_others_finish(tmp_path):
    # A batch of 10^10 samples cannot fit: the run raises when it starts; the other points train.
    path = spec_file(tmp_path, {"base": TINY, "grid": {"train.batch_size": [32, 10**10], "train.seed": [0, 1]}})
    out = tmp_path / "out"
    result = runner.invoke(app, ["sweep", str(path), "--out", str(out), "--workers", "1", "--quiet"])
    assert result.exit_code == 1, result.output
    table = pd.read_csv(out / "results.csv")
    failed = table[table.status == "failed"]
    assert set(failed["train.batch_size"]) == {10**10} and failed.point.nunique() == 2
    assert failed.error.str.contains("memory").all() and failed.norm.isna().all()
    assert (table[table["train.batch_size"] == 32].status == "done").all()
    doc = sweep_status(out)
    assert doc["points"]["done"] == 2 and doc["points"]["failed"] == 2 and doc["runs"]["failed"] == 2
    assert "memory" in doc["table"][-1]["error"]


def test_rerunning_resumes_and_retrains_nothing(tmp_path):
    path = spec_file(tmp_path, {"base": TINY, "grid": {"train.seed": [0, 1, 2]}, "merge": False})
    out = tmp_path / "out"
    first = runner.invoke(app, ["sweep", str(path), "--out", str(out), "--workers", "1"])
    assert first.exit_code == 0, first.output
    assert first.output.count("trained 1 point") == 3
    before = weights_stamp(out)
    # A point killed mid-save leaves at most a partial directory: it is trained again, never taken as finished.
    partial = sorted((out / "points").iterdir())[1]
    (partial / "weights.safetensors").unlink()
    again = runner.invoke(app, ["sweep", str(path), "--out", str(out), "--workers", "1", "--json"])
    assert again.exit_code == 0, again.output
    doc = json.loads(again.output)
    assert doc["runs"] == {"trained": 1, "reused": 2, "failed": 0}
    after = weights_stamp(out)
    assert {k: v for k, v in after.items() if k != partial.name} == {k: v for k, v in before.items()
                                                                     if k != partial.name}
    assert partial.name in after


def test_status_counts_done_running_failed_and_pending(tmp_path):
    s = sweep_of({"base": TINY, "grid": {"train.seed": [0, 1, 2, 3]}, "merge": False}, tmp_path)
    out = tmp_path / "out"
    plans = plan_runs(s)
    out.mkdir()
    write_plan(out, s, plans)
    work = tasks(out, plans)
    train_task(work[0])
    host = socket.gethostname()
    (out / "state" / f"{plans[1].name}.running").write_text(json.dumps({"pid": os.getpid(), "host": host}))
    (out / "state" / f"{plans[2].name}.json").write_text(json.dumps({"status": "failed", "error": "ValueError: x"}))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (out / "state" / f"{plans[3].name}.running").write_text(json.dumps({"pid": int(dead.stdout), "host": host}))
    doc = sweep_status(out)
    assert [r["status"] for r in doc["table"]] == ["done", "running", "failed", "pending"]
    assert doc["points"] == {"total": 4, "done": 1, "running": 1, "failed": 1, "pending": 1}
    shown = runner.invoke(app, ["sweep", "status", str(out)])
    assert shown.exit_code == 0 and "1 done, 1 running, 1 failed, 1 pending" in shown.output
    assert runner.invoke(app, ["sweep", "status"]).exit_code == 2
    assert runner.invoke(app, ["sweep", "status", str(tmp_path)]).exit_code == 2  # not a sweep directory


def test_plot_draws_a_heatmap_over_two_axes_and_lines_over_one(tmp_path):
    from superposition.plots.sweep import sweep_heatmaps

    table = pd.DataFrame({"a": [1, 1, 2, 2, 1], "b": ["x", "y", "x", "y", "x"], "m": [1.0, 2.0, 3.0, 4.0, 3.0],
                          "status": ["done"] * 4 + ["done"], "point": [0, 1, 2, 3, 4]})
    fig = sweep_heatmaps(table, "a", "b", ["m"], "t")
    assert np.asarray(fig.data[0].z).tolist() == [[2.0, 3.0], [2.0, 4.0]]  # rows b, columns a; (1, x) averages 1 and 3
    path = spec_file(tmp_path, {"base": TINY, "grid": {"data.feature_probability": [1.0, 0.1]}})
    out = tmp_path / "out"
    assert runner.invoke(app, ["sweep", str(path), "--out", str(out), "--workers", "1", "--quiet"]).exit_code == 0
    drawn = runner.invoke(app, ["plot", str(out), "--out", str(tmp_path / "sweep.html")])
    assert drawn.exit_code == 0, drawn.output
    page = (tmp_path / "sweep.html").read_text()
    assert "sweep spec: 2 points in 1 run" in page and "data.feature_probability" in page


# --- the executor -------------------------------------------------------------------------------------------------

def test_executor_reports_exceptions_and_retries_dead_workers(tmp_path):
    from executor_cases import misbehave  # spawned workers import it by name: tests/ is on their path

    flag = str(tmp_path / "flag")
    items = [("sqrt", 4.0), ("sqrt", -1.0), ("die_once", flag), ("die", None), ("sqrt", 9.0)]
    got = {o.item: o for o in run_all(misbehave, items, workers=2, retries=2)}
    assert got[("sqrt", 4.0)].result == 2.0 and got[("sqrt", 9.0)].result == 3.0
    assert got[("sqrt", -1.0)].error == "ValueError: math domain error" and got[("sqrt", -1.0)].attempts == 1
    assert got[("die_once", flag)].result == flag and got[("die_once", flag)].attempts == 2  # retried in a new worker
    died = got[("die", None)]
    assert died.error == "worker died (killed by SIGKILL) after 3 attempts" and died.result is None
    assert all(got[i].attempts == 1 for i in items if i[0] == "sqrt")  # the others were not disturbed
    with pytest.raises(ConfigError, match="workers"):
        run_all(misbehave, items, workers=0)


def test_local_workers_train_the_same_weights_bit_for_bit_as_one_process(tmp_path):
    s = sweep_of({"base": TINY, "grid": {"train.seed": [0, 1, 2]}, "merge": False}, tmp_path)
    plans = plan_runs(s)
    weights = {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        (out / "state").mkdir(parents=True)
        assert all(o.ok for o in run_all(train_task, tasks(out, plans), workers=workers))
        weights[workers] = {p.name: load_file(str(out / "points" / p.name / "weights.safetensors")) for p in plans}
    direct = {p.name: train_run(p.config, progress=False).model.weights() for p in plans}
    for name in direct:
        for key, value in direct[name].items():
            assert torch.equal(weights[1][name][key], value) and torch.equal(weights[2][name][key], value)


@pytest.mark.slow
def test_a_worker_killed_mid_run_is_retried_and_nothing_finished_is_retrained(tmp_path):
    """THE KILL TEST: a sweep on two local workers in a subprocess; once a run has finished, SIGKILL the worker that
    trains another. The sweep retries that run in a new worker and finishes every point; the finished runs are not
    touched, then or on a re-run."""
    spec = {"base": {"data": {"n_features": 5, "feature_probability": [0.1, 0.05]}, "model": {"n_hidden": 2},
                     "train": {"steps": 4000, "batch_size": 256, "log_every": 1000}},
            "grid": {"train.seed": [0, 1, 2, 3]}}
    path, out = spec_file(tmp_path, spec), tmp_path / "out"
    command = [sys.executable, "-m", "superposition.cli", "sweep", str(path), "--out", str(out), "--workers", "2"]
    sweep = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    victim, before, deadline = None, {}, time.monotonic() + 300
    try:
        while victim is None and sweep.poll() is None and time.monotonic() < deadline:
            finished = weights_stamp(out) if (out / "points").is_dir() else {}
            for marker in (out / "state").glob("*.running") if finished else []:
                try:
                    pid = json.loads(marker.read_text())["pid"]
                except (OSError, ValueError):
                    continue
                if marker.stem not in finished:
                    before = weights_stamp(out)
                    os.kill(pid, signal.SIGKILL)
                    victim = marker.stem
                    break
            time.sleep(0.02)
        saved_before_kill = victim is not None and (out / "points" / victim).exists()
        _, stderr = sweep.communicate(timeout=300)
    finally:
        if sweep.poll() is None:
            sweep.kill()
    assert victim is not None, f"no run was training once another had finished: {stderr}"
    assert sweep.returncode == 0, stderr
    after = weights_stamp(out)
    assert len(after) == 4 and {k: after[k] for k in before} == before  # every run done; none retrained
    if not saved_before_kill:  # (it had not finished in the instant between reading its marker and the kill)
        assert read_state(out, victim)["attempts"] == 2
        assert f"{victim}: trained 1 point after 2 attempts" in stderr
    again = runner.invoke(app, ["sweep", str(path), "--out", str(out), "--workers", "1", "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["runs"] == {"trained": 0, "reused": 4, "failed": 0}
    assert weights_stamp(out) == after
    assert sweep_status(out)["points"]["done"] == 4


@pytest.mark.parametrize("name, text, words", [
    ("bad.yaml", "grid: {train.lr: [0.1\n", ["not valid YAML"]),
    ("bad.json", "{\"grid\": ", ["not valid JSON"]),
    ("spec.toml", "grid = 1\n", ["give a .json file"]),
])
def test_an_unreadable_spec_file_is_one_line(tmp_path, name, text, words):
    path = tmp_path / name
    path.write_text(text)
    result = runner.invoke(app, ["sweep", str(path), "--out", str(tmp_path / "out")])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and all(w in lines[0] for w in words), result.output
