import json

import pytest
from typer.testing import CliRunner

import superposition.experiments as registry
from superposition import make_config, plots
from superposition.analysis.metrics import feature_norms
from superposition.cli import app
from superposition.experiments import Claim, Experiment, Findings
from superposition.experiments.runner import config_hash, run_experiment, select

runner = CliRunner()


def tiny_configs(quick: bool):
    steps = 40 if quick else 80
    return {
        "relu": make_config(
            data=dict(n_features=3, feature_probability=[1.0, 0.1]), model=dict(n_hidden=2),
            train=dict(steps=steps, batch_size=64, log_every=20),
        )
    }


def tiny_analyze(runs, quick):
    run = runs["relu"]
    n = int((feature_norms(run.W) > 0.5).sum())
    return Findings(
        figures=[plots.features_2d(run)],
        claims=[
            Claim("tiny.some", "Some features are represented.", "> 0", "test", str(n), n > 0),
            Claim("tiny.impossible", "More features than exist are represented.", "> 6", "test", str(n), n > 6),
        ],
        notes=["a note for the reader"],
    )


TINY = Experiment("tiny", "A tiny experiment", "First paragraph.\n\nSecond paragraph.", tiny_configs, tiny_analyze)


@pytest.fixture
def only_tiny(monkeypatch):
    monkeypatch.setattr(registry, "EXPERIMENTS", [TINY])


def test_runs_are_cached_by_config_hash(tmp_path):
    first = run_experiment(TINY, tmp_path, quick=True, progress=False)
    assert (first.trained, first.reused) == (1, 0)
    again = run_experiment(TINY, tmp_path, quick=True, progress=False)
    assert (again.trained, again.reused) == (0, 1)
    # A changed config (here: the full schedule) is another run.
    full = run_experiment(TINY, tmp_path, quick=False, progress=False)
    assert (full.trained, full.reused) == (1, 0)
    names = sorted(p.name for p in (tmp_path / "runs" / "tiny").iterdir())
    assert names == sorted(f"relu-{config_hash(c['relu'])}" for c in (tiny_configs(True), tiny_configs(False)))


def test_a_corrupt_cached_run_is_trained_again(tmp_path):
    run_experiment(TINY, tmp_path, quick=True, progress=False)
    (run_dir,) = (tmp_path / "runs" / "tiny").iterdir()
    (run_dir / "weights.safetensors").write_bytes(b"broken")
    again = run_experiment(TINY, tmp_path, quick=True, progress=False)
    assert again.trained == 1


def test_select_rejects_unknown_names():
    assert select([TINY], None) == [TINY]
    with pytest.raises(ValueError, match="unknown experiment 'nope'; choose from tiny"):
        select([TINY], ["nope"])


def test_reproduce_writes_report_and_claims(tmp_path, only_tiny):
    out = tmp_path / "report"
    result = runner.invoke(app, ["reproduce", "--quick", "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "1 of 2 claims reproduced" in result.output
    doc = json.loads((out / "claims.json").read_text())
    assert doc["quick"] is True and doc["summary"] == {"claims": 2, "reproduced": 1, "not_reproduced": 1}
    verdicts = {c["id"]: c["verdict"] for c in doc["claims"]}
    assert verdicts == {"tiny.some": "reproduced", "tiny.impossible": "not reproduced"}
    assert {"experiment", "sentence", "expected", "source", "measured"} <= set(doc["claims"][0])
    page = (out / "index.html").read_text()
    assert page.count("* plotly.js v") == 1  # the bundle's banner: embedded exactly once
    assert 'src="http' not in page and "Quick mode" in page
    assert page.count('class="claim"') == 4  # the summary table and the section's table
    assert '<section class="experiment" id="tiny">' in page and "Second paragraph." in page
    assert "a note for the reader" in page


def test_json_prints_the_claims_document(tmp_path, only_tiny):
    result = runner.invoke(app, ["reproduce", "--quick", "--json", "--out", str(tmp_path / "r")])
    assert result.exit_code == 0
    doc = json.loads(result.output)
    assert doc == json.loads((tmp_path / "r" / "claims.json").read_text())


def test_strict_exits_1_when_a_claim_is_not_reproduced(tmp_path, only_tiny):
    result = runner.invoke(app, ["reproduce", "--quick", "--quiet", "--strict", "--out", str(tmp_path / "r")])
    assert result.exit_code == 1
    assert (tmp_path / "r" / "index.html").exists(), "the report is written whatever the verdicts"


def test_unknown_experiment_is_a_one_line_error(tmp_path, only_tiny):
    result = runner.invoke(app, ["reproduce", "--only", "tiny,nope", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and result.output.strip().count("\n") == 0
    assert "unknown experiment 'nope'" in result.output
    assert not (tmp_path / "r").exists()
