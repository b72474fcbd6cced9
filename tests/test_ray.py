"""The Ray executor (`--ray`) on a real local Ray cluster: the same weights as the local worker processes, bit for
bit, and failures reported per item. Ray starts once for the module (several seconds)."""

import json
import logging
import os
import sys

import pytest
from typer.testing import CliRunner

import superposition.experiments as registry
from superposition import make_config
from superposition.analysis.metrics import feature_norms
from superposition.cli import app
from superposition.experiments import ClaimSpec, Experiment, Findings, check
from superposition.executors import run_all

runner = CliRunner()


@pytest.fixture(scope="module")
def cluster():
    ray = pytest.importorskip("ray")
    # Two CPUs as on CI's machines; run_all(ray="local") and `--ray local` join this Ray instead of starting one.
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    yield
    ray.shutdown()


# Six runs: three seeds by two learning rates, each a tiny toy model of two instances.
SWEEP = {"base": {"data": {"n_features": 3, "feature_probability": [1.0, 0.1]}, "model": {"n_hidden": 2},
                  "train": {"steps": 30, "batch_size": 64, "log_every": 10}},
         "grid": {"train.seed": [0, 1, 2], "train.lr": [0.001, 0.003]}}


def _weights(root):
    return {p.parent.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("weights.safetensors"))}


def test_a_sweep_on_ray_gives_the_local_workers_results_bit_for_bit(tmp_path, cluster):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SWEEP))
    for name, option in {"workers": ["--workers", "2"], "ray": ["--ray", "local"]}.items():
        result = runner.invoke(app, ["sweep", str(spec), "--out", str(tmp_path / name), "--quiet", *option])
        assert result.exit_code == 0, result.output
    weights = {name: _weights(tmp_path / name / "points") for name in ("workers", "ray")}
    assert len(weights["ray"]) == 6 and weights["ray"] == weights["workers"]
    tables = [(tmp_path / name / "results.csv").read_text() for name in ("workers", "ray")]
    assert tables[0] == tables[1] and tables[0].count("\n") == 1 + 6 * 2 * 3  # header; point x instance x feature


def test_an_exception_is_its_items_outcome_and_the_others_finish(cluster):
    outcomes = {o.item: o for o in run_all(int, ["1", "x", "3"], ray="local")}
    assert {k: (o.result, o.error) for k, o in outcomes.items()} == {
        "1": (1, None), "x": (None, "ValueError: invalid literal for int() with base 10: 'x'"), "3": (3, None)}
    assert outcomes["x"].attempts == 1, "an exception raised by fn is not retried"


def test_a_worker_that_dies_is_retried_then_reported(cluster):
    (outcome,) = run_all(os._exit, [3], ray="local", retries=1)
    assert outcome.result is None and outcome.error.startswith("worker died (")
    assert outcome.attempts == 2


def test_a_task_whose_worker_died_is_tried_again(tmp_path, cluster):
    def die_the_first_time(marker):  # nested: pickled by value, as Ray workers cannot import this test module
        if not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(3)
        return "second try"

    (outcome,) = run_all(die_the_first_time, [str(tmp_path / "died-once")], ray="local", retries=1)
    assert (outcome.result, outcome.error, outcome.attempts) == ("second try", None, 2)


def _tiny_configs(quick, lr=1e-3):
    return {f"seed{seed}": make_config(data=dict(n_features=3, feature_probability=[1.0, 0.1]), model=dict(n_hidden=2),
                                       train=dict(steps=40, batch_size=64, log_every=20, seed=seed, lr=lr))
            for seed in (0, 1)}


NORMS = ClaimSpec("tiny.norms", "Features are represented.", "test")


def _tiny_analyze(runs, quick):
    norms = [float(feature_norms(run.W).sum()) for run in runs.values()]  # read from the weights, to full precision
    return Findings(figures=[], claims=[NORMS([check("summed norms", sum(norms), ">", 0)], repr(norms))])


def test_reproduce_on_ray_matches_the_worker_processes(tmp_path, cluster, monkeypatch):
    # A two-run experiment in place of the registry's (first-look alone takes about a minute of CPU for both); the
    # Ray workers train from the jobs' configs and never read the registry.
    monkeypatch.setattr(registry, "EXPERIMENTS", [Experiment("tiny", "Tiny", "Two runs.", _tiny_configs,
                                                             _tiny_analyze, claims=(NORMS,))])
    docs, weights = {}, {}
    for name, option in {"workers": ["--workers", "2"], "ray": ["--ray", "local"]}.items():
        out = tmp_path / name
        result = runner.invoke(app, ["reproduce", "--quick", "--quiet", "--out", str(out), *option])
        assert result.exit_code == 0, result.output
        docs[name] = json.loads((out / "claims.json").read_text())
        weights[name] = _weights(out / "runs")
    assert len(weights["ray"]) == 2 and weights["ray"] == weights["workers"]
    assert docs["ray"]["claims"] == docs["workers"]["claims"] and docs["ray"]["summary"]["reproduced"] == 1
    (section,) = docs["ray"]["experiments"]
    assert (section["trained"], section["reused"]) == (2, 0), "a run trained on Ray counts as trained"


def test_a_run_that_fails_on_ray_fails_the_report_with_its_error(tmp_path, cluster, monkeypatch):
    diverging = Experiment("tiny", "Tiny", "Two runs.", lambda quick: _tiny_configs(quick, lr=1e30), _tiny_analyze,
                           claims=(NORMS,))
    monkeypatch.setattr(registry, "EXPERIMENTS", [diverging])
    result = runner.invoke(app, ["reproduce", "--quick", "--ray", "local", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "training tiny/seed" in result.output
    assert "failed: DivergenceError: training diverged" in result.output
    assert not (tmp_path / "r" / "claims.json").exists()


def test_without_ray_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    result = runner.invoke(app, ["reproduce", "--quick", "--ray", "auto", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and 'pip install -e ".[ray]"' in result.output
    assert not (tmp_path / "r" / "runs").exists(), "nothing was trained"


def test_reproduce_refuses_ray_with_workers(tmp_path):
    result = runner.invoke(app, ["reproduce", "--ray", "local", "--workers", "2", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "--ray and --workers exclude each other" in result.output
