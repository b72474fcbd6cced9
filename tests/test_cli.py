import json

import pytest
from typer.testing import CliRunner

from superposition.cli import app

runner = CliRunner()
TRAIN = ["train", "--model", "relu", "--n-features", "5", "--n-hidden", "2", "--feature-probability", "1,0.2,0.03",
         "--importance-decay", "0.9", "--steps", "300", "--batch-size", "256", "--seed", "0", "--quiet"]


def run(args):
    return runner.invoke(app, args)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "intro"
    result = run([*TRAIN, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_train_writes_a_run_directory(run_dir):
    assert sorted(p.name for p in run_dir.iterdir()) == ["config.json", "history.csv", "metrics.csv", "provenance.json",
                                                         "weights.safetensors"]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["data"]["feature_probability"] == [1.0, 0.2, 0.03]
    assert config["data"]["importance_decay"] == 0.9 and config["train"]["steps"] == 300


def test_analyze_json_reports_each_instance(run_dir):
    result = run(["analyze", str(run_dir), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [i["instance"] for i in data["instances"]] == [0, 1, 2]
    first = data["instances"][0]
    assert len(first["features"]) == 5 and {"norm", "dimensionality", "structure"} <= set(first["features"][0])
    assert first["structures"] and first["dims_per_feature"] > 0


def test_analyze_table_and_plot(run_dir, tmp_path):
    result = run(["analyze", str(run_dir)])
    assert result.exit_code == 0 and "geometry" in result.output
    out = tmp_path / "figs.html"
    result = run(["plot", str(run_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 1_000_000 and 'src="http' not in out.read_text()


def test_config_file_with_flags_overriding(run_dir, tmp_path):
    out = tmp_path / "again"
    result = run(["train", "--config", str(run_dir / "config.json"), "--steps", "50", "--quiet", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)["final_loss"]) == 3
    saved = json.loads((out / "config.json").read_text())
    assert saved["train"]["steps"] == 50 and saved["data"]["feature_probability"] == [1.0, 0.2, 0.03]


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--feature-probability", "1,1.5"], "outside [0, 1]"),
        (["--feature-probability", "1,abc"], "comma-separated numbers"),
        (["--model", "quadratic"], "model.kind"),
        (["--n-features", "0"], "n_features"),
        (["--importance", "1,1,-1,1,1"], "not both"),
        (["--importance-decay", "-2"], "importance_decay"),
        (["--device", "tpu"], "device"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, args, needle):
    out = tmp_path / "bad"
    base = [a for a in TRAIN if a != "--quiet"]
    result = run([*base, *args, "--quiet", "--out", str(out)])
    assert result.exit_code == 2
    lines = [l for l in result.output.splitlines() if l.strip()]
    assert len(lines) == 1 and needle in lines[0] and lines[0].startswith("error:")
    assert not out.exists()


def test_explicit_importance_replaces_the_decay_of_a_config_file(run_dir, tmp_path):
    result = run(["train", "--config", str(run_dir / "config.json"), "--importance", "1,2", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "importance has 2 values but n_features is 5" in result.output
    result = run(["train", "--config", str(run_dir / "config.json"), "--importance", "5,4,3,2,1", "--steps", "10",
                  "--quiet", "--out", str(tmp_path / "y")])
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "y" / "config.json").read_text())["data"]
    assert saved["importance"] == [5, 4, 3, 2, 1] and saved["importance_decay"] is None


def test_existing_output_is_not_replaced_without_overwrite(run_dir):
    before = (run_dir / "weights.safetensors").read_bytes()
    result = run([*TRAIN, "--out", str(run_dir)])
    assert result.exit_code == 2 and "--overwrite" in result.output
    assert (run_dir / "weights.safetensors").read_bytes() == before


def test_missing_or_corrupt_run_directory(tmp_path):
    result = run(["analyze", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "run directory not found" in result.output
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{}")
    result = run(["plot", str(tmp_path / "broken"), "--out", str(tmp_path / "x.html")])
    assert result.exit_code == 2 and "weights.safetensors is missing" in result.output
    assert not (tmp_path / "x.html").exists()


def test_bench_prints_both_loops_and_their_ratio():
    result = run(["bench", "--steps", "20", "--repeats", "1", "--loss-steps", "100", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    ms = data["ms_per_step"]
    assert ms["reference"] > 0 and ms["ours"] > 0
    assert len(data["final_loss_ours"]) == len(data["final_loss_reference"]) == 10
    # Both loops train the same objective: after 100 steps their mean losses agree within a factor of 2 (a wrong
    # importance weighting or data law in either would not).
    means = data["final_loss_mean"]
    assert 0.5 < means["ours"] / means["reference"] < 2.0, means


def test_two_concurrent_train_commands_on_one_out_exactly_one_succeeds(tmp_path):
    """Both pass the check made before training; the check taken again at the swap lets exactly one save."""
    import multiprocessing

    from superposition.cli import main

    ctx = multiprocessing.get_context("fork")

    def train_into(out, start, codes):
        start.wait()
        try:
            main(["train", "--n-features", "3", "--n-hidden", "2", "--steps", "30", "--batch-size", "32", "--quiet",
                  "--out", str(out)])
        except SystemExit as e:
            codes.put(e.code)

    for trial in range(20):
        out = tmp_path / f"run{trial}"
        start, codes = ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=train_into, args=(out, start, codes)) for _ in range(2)]
        for proc in procs:
            proc.start()
        start.set()
        results = sorted(codes.get(timeout=120) for _ in procs)
        for proc in procs:
            proc.join(timeout=60)
        assert results == [0, 2], f"trial {trial}: exit codes {results}"
        assert (out / "weights.safetensors").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("args", [["--help"], ["train", "--help"], ["sae", "train", "--help"], ["reproduce", "--help"],
                                  ["modadd", "analyze", "--help"], ["plot", "--help"], ["sweep", "--help"],
                                  ["llc", "--help"], ["sae", "export", "--help"], ["sae", "import", "--help"],
                                  ["--version"]])
def test_help_and_version_import_neither_torch_nor_pandas(args):
    """The command line is built from the config classes alone: `--help` answers without the heavy imports."""
    import subprocess
    import sys

    code = ("import sys; from superposition.cli import main\n"
            f"try:\n    main({args!r})\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
            "heavy = [m for m in ('torch', 'pandas', 'plotly', 'scipy', 'ray', 'sae_lens') if m in sys.modules]\n"
            "assert not heavy, heavy")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert ("superposition " if args == ["--version"] else "Usage:") in done.stdout


def test_version_is_the_package_version():
    import superposition

    result = run(["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"superposition {superposition.__version__}"
