import json

import pytest
from typer.testing import CliRunner

import superposition.experiments as registry
from superposition import make_config, plots
from superposition.analysis.metrics import feature_norms
from superposition.cli import app
from superposition.experiments import ClaimSpec, Experiment, Findings, check
from superposition.experiments.runner import config_hash, run_experiment, select
from superposition.families.toy import figure_inputs

runner = CliRunner()


def tiny_configs(quick: bool):
    steps = 40 if quick else 80
    return {
        "relu": make_config(
            data=dict(n_features=3, feature_probability=[1.0, 0.1]), model=dict(n_hidden=2),
            train=dict(steps=steps, batch_size=64, log_every=20),
        )
    }


SOME = ClaimSpec("tiny.some", "Some features are represented.", "test")
IMPOSSIBLE = ClaimSpec("tiny.impossible", "More features than exist are represented.", "test", kind="exact")


def tiny_analyze(runs, quick):
    run = runs["relu"]
    n = int((feature_norms(run.W) > 0.5).sum())
    f = figure_inputs(run)
    return Findings(
        figures=[plots.features_2d(f.W, f.table, f.labels, f.title)],
        claims=[SOME([check("represented", n, ">", 0)], str(n)), IMPOSSIBLE([check("represented", n, ">", 6)], str(n))],
        notes=["a note for the reader"],
    )


TINY = Experiment("tiny", "A tiny experiment", "First paragraph.\n\nSecond paragraph.", tiny_configs, tiny_analyze,
                  claims=(SOME, IMPOSSIBLE))


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
    assert doc["quick"] is True and doc["summary"] == {
        "claims": 2, "reproduced": 1, "not_reproduced": 1,
        "by_kind": {"measured": {"claims": 1, "reproduced": 1}, "exact": {"claims": 1, "reproduced": 0}}}
    verdicts = {c["id"]: (c["kind"], c["verdict"], c["expected"]) for c in doc["claims"]}
    assert verdicts == {"tiny.some": ("measured", "reproduced", "represented > 0"),
                        "tiny.impossible": ("exact", "not reproduced", "represented > 6")}
    assert {"experiment", "sentence", "expected", "source", "measured", "kind", "checks"} <= set(doc["claims"][0])
    assert {"superposition", "torch", "python", "git"} <= set(doc["provenance"])  # which code made the report
    page = (out / "index.html").read_text()
    commit = (doc["provenance"]["git"] or {}).get("commit")
    assert commit is None or f"commit {commit[:12]}" in page
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


def test_a_declared_claim_the_analysis_does_not_produce_is_reported_not_reproduced(tmp_path):
    def silent(runs, quick):
        return Findings(claims=[SOME([check("represented", 1, ">", 0)], "1")])

    exp = Experiment("tiny", "t", "x", tiny_configs, silent, claims=(SOME, IMPOSSIBLE))
    section = run_experiment(exp, tmp_path, quick=True, progress=False)
    claims = section.findings.by_id()
    assert list(claims) == ["tiny.some", "tiny.impossible"]  # declaration order, nothing dropped
    assert claims["tiny.some"].reproduced
    missing = claims["tiny.impossible"]
    assert not missing.reproduced and missing.kind == "exact" and missing.measured.startswith("not measured:")


def test_an_undeclared_claim_is_a_programming_error(tmp_path):
    exp = Experiment("tiny", "t", "x", tiny_configs, tiny_analyze, claims=(SOME,))
    with pytest.raises(ValueError, match="undeclared claim.*tiny.impossible"):
        run_experiment(exp, tmp_path, quick=True, progress=False)


def test_check_and_within_write_the_text_and_decide_from_one_threshold():
    assert check("rho", 0.8, ">=", 0.8) == check("rho", 0.8, ">=", 0.8)
    assert check("rho", 0.8, ">=", 0.8).holds and not check("rho", 0.79, ">=", 0.8).holds
    assert check("n", 3, "==", 3).text == "n == 3"
    assert not check("x", float("nan"), "<", 1.0).holds and not check("x", None, ">", 0).holds
    from superposition.experiments import within

    assert within("D", 0.44, 0.4, 0.05).holds and not within("D", 0.46, 0.4, 0.05).holds
    with pytest.raises(ValueError, match="unknown comparison"):
        check("x", 1, "=>", 0)
    with pytest.raises(ValueError, match="at least one check"):
        SOME([], "nothing")
    with pytest.raises(ValueError, match="kind must be one of"):
        ClaimSpec("x.y", "s", "src", kind="guessed")


def _weights(out):
    return {p.parent.name: p.read_bytes() for p in sorted((out / "runs").rglob("weights.safetensors"))}


def test_workers_train_the_same_runs_bit_for_bit_and_the_report_counts_them(tmp_path, only_tiny):
    one = runner.invoke(app, ["reproduce", "--quiet", "--workers", "1", "--out", str(tmp_path / "one")])
    two = runner.invoke(app, ["reproduce", "--quiet", "--workers", "2", "--out", str(tmp_path / "two")])
    assert one.exit_code == 0 and two.exit_code == 0, two.output
    assert _weights(tmp_path / "one") == _weights(tmp_path / "two") != {}
    docs = [json.loads((tmp_path / d / "claims.json").read_text()) for d in ("one", "two")]
    assert docs[0]["claims"] == docs[1]["claims"]
    (section,) = docs[1]["experiments"]
    assert (section["trained"], section["reused"]) == (1, 0), "a run trained by a worker counts as trained"
    again = runner.invoke(app, ["reproduce", "--quiet", "--workers", "2", "--out", str(tmp_path / "two")])
    (section,) = json.loads((tmp_path / "two" / "claims.json").read_text())["experiments"]
    assert again.exit_code == 0 and (section["trained"], section["reused"]) == (0, 1)


def test_a_worker_never_takes_more_threads_than_it_was_given(monkeypatch):
    from superposition.config import TrainConfig
    from superposition.train import MAX_THREADS_ENV, choose_threads

    assert choose_threads(TrainConfig(threads=2)) == 2
    monkeypatch.setenv(MAX_THREADS_ENV, "1")
    assert choose_threads(TrainConfig(threads=2)) == 1 and choose_threads(TrainConfig()) == 1
