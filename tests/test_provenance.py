"""Provenance (provenance.json: versions, device, git commit) and format versions (older read, newer refused)."""

import json
import platform
import shutil
import subprocess

import pytest
import torch
from typer.testing import CliRunner

import superposition
from superposition import RunDirError, load_run, make_config, save_run, train_run
from superposition import provenance as prov
from superposition.cli import app
from superposition.config import FORMAT_VERSION, parse_run_config
from superposition.errors import ConfigError
from superposition.runs import is_run_directory

runner = CliRunner()
GIT = shutil.which("git")
needs_git = pytest.mark.skipif(GIT is None, reason="git is not installed")
FAKE_GIT = {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": True}


def tiny_config():
    return make_config(data=dict(n_features=4, feature_probability=[1.0, 0.1]), model=dict(n_hidden=2),
                       train=dict(steps=20, batch_size=32, log_every=10))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A run trained while the process's git state reads as a known commit with changes."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(prov, "_process_git_state", lambda: dict(FAKE_GIT))
        out = tmp_path_factory.mktemp("prov") / "run"
        train_run(tiny_config(), out, progress=False)
    return out


def copy_of(run_dir, tmp_path, name="copy"):
    return shutil.copytree(run_dir, tmp_path / name)


def edit_config(run_dir, **changes):
    config = json.loads((run_dir / "config.json").read_text())
    for key, value in changes.items():
        if value is None:
            config.pop(key)
        else:
            config[key] = value
    (run_dir / "config.json").write_text(json.dumps(config))


# ---- provenance.json written and read back


def test_a_saved_run_records_the_versions_device_and_commit(saved):
    written = json.loads((saved / "provenance.json").read_text())
    assert written["superposition"] == superposition.__version__
    assert written["torch"] == torch.__version__
    assert written["python"] == platform.python_version()
    assert written["device"] == "cpu" and written["device_name"] == platform.machine()
    assert written["git"] == FAKE_GIT
    assert written["created"].endswith("+00:00")  # UTC


def test_load_run_gives_the_provenance_back(saved):
    assert load_run(saved).provenance == json.loads((saved / "provenance.json").read_text())


def test_saving_a_loaded_run_again_keeps_its_provenance(saved, tmp_path):
    run = load_run(saved)
    save_run(run, tmp_path / "again")
    assert load_run(tmp_path / "again").provenance == run.provenance


def test_a_run_saved_before_provenance_still_loads(saved, tmp_path):
    old = copy_of(saved, tmp_path)
    (old / "provenance.json").unlink()
    run = load_run(old)
    assert run.provenance is None and run.W.shape == (2, 4, 2)
    # saved again, it gets the provenance of the process that saved it
    save_run(run, tmp_path / "resaved")
    assert json.loads((tmp_path / "resaved" / "provenance.json").read_text())["torch"] == torch.__version__


@pytest.mark.parametrize("content", ["{", "[1, 2]", "null"])
def test_a_corrupt_provenance_file_is_one_line(saved, tmp_path, content):
    bad = copy_of(saved, tmp_path)
    (bad / "provenance.json").write_text(content)
    with pytest.raises(RunDirError, match="provenance.json is corrupt"):
        load_run(bad)
    result = runner.invoke(app, ["analyze", str(bad)])
    assert result.exit_code == 2 and "provenance.json is corrupt" in result.output
    assert len(result.output.strip().splitlines()) == 1


# ---- shown by analyze


def test_analyze_json_shows_the_provenance(saved):
    result = runner.invoke(app, ["analyze", str(saved), "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["provenance"] == json.loads((saved / "provenance.json").read_text())
    assert shown["instances"]  # the analysis is still there


def test_analyze_table_ends_with_a_provenance_line(saved):
    result = runner.invoke(app, ["analyze", str(saved)])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == (
        f"made by superposition {superposition.__version__} (torch {torch.__version__}, Python "
        f"{platform.python_version()}) on cpu, commit 0123456789ab (with uncommitted changes)")


def test_analyze_json_of_an_old_run_shows_null(saved, tmp_path):
    old = copy_of(saved, tmp_path)
    (old / "provenance.json").unlink()
    result = runner.invoke(app, ["analyze", str(old), "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["provenance"] is None
    assert "no provenance.json" in runner.invoke(app, ["analyze", str(old)]).output


def test_modadd_analyze_json_shows_the_provenance(tmp_path):
    out = tmp_path / "modadd"
    assert runner.invoke(app, ["modadd", "train", "--p", "7", "--steps", "20", "--quiet", "--out", str(out)]).exit_code == 0
    result = runner.invoke(app, ["modadd", "analyze", str(out), "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)["provenance"]
    assert shown["superposition"] == superposition.__version__ and shown["device"] == "cpu"


def test_describe_says_when_the_changes_are_unknown_or_there_is_no_checkout():
    base = {"superposition": "9.9", "torch": "2.13.0", "python": "3.12.1", "device": "cuda:1"}
    assert prov.describe({**base, "git": None}) == "made by superposition 9.9 (torch 2.13.0, Python 3.12.1) on cuda:1"
    assert prov.describe({**base, "git": {"commit": "ab" * 20, "dirty": None}}).endswith(
        "commit abababababab (changes unknown)")
    assert prov.describe({**base, "git": {"commit": "ab" * 20, "dirty": False}}).endswith("commit abababababab")


# ---- the git state


def git(cwd, *args):
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false",
                           *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def make_checkout(repo):
    """A git repository laid out like this project: the package at src/superposition, one commit."""
    package = repo / "src" / "superposition"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("__version__ = '0'\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "first")
    return repo


@pytest.fixture
def checkout(tmp_path):
    return make_checkout(tmp_path / "repo")


@needs_git
def test_git_state_of_a_clean_checkout(checkout):
    state = prov.git_state(checkout / "src" / "superposition")
    assert state == {"commit": git(checkout, "rev-parse", "HEAD"), "dirty": False}


@needs_git
def test_git_state_counts_changed_tracked_files_but_not_untracked_ones(checkout):
    package = checkout / "src" / "superposition"
    (checkout / "runs").mkdir()
    (checkout / "runs" / "new.txt").write_text("a run directory inside the tree\n")
    assert prov.git_state(package)["dirty"] is False
    (package / "__init__.py").write_text("__version__ = '1'\n")
    assert prov.git_state(package) == {"commit": git(checkout, "rev-parse", "HEAD"), "dirty": True}


@needs_git
def test_git_state_ignores_git_variables_that_point_elsewhere(checkout, tmp_path, monkeypatch):
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q")
    head = git(checkout, "rev-parse", "HEAD")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    assert prov.git_state(checkout / "src" / "superposition")["commit"] == head


@needs_git
def test_no_git_state_outside_a_checkout_of_this_layout(checkout, tmp_path):
    elsewhere = tmp_path / "site-packages" / "superposition"
    elsewhere.mkdir(parents=True)
    assert prov.git_state(elsewhere) is None  # not in a repository at all
    inside_other = checkout / "venv" / "lib" / "superposition"  # an environment inside someone else's repository
    inside_other.mkdir(parents=True)
    assert prov.git_state(inside_other) is None


@needs_git
def test_no_git_state_before_the_first_commit(tmp_path):
    package = tmp_path / "fresh" / "src" / "superposition"
    package.mkdir(parents=True)
    git(tmp_path / "fresh", "init", "-q")
    assert prov.git_state(package) is None


def test_no_git_state_when_git_is_missing(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    if GIT is None:
        (repo / "src" / "superposition").mkdir(parents=True)
    else:
        make_checkout(repo)  # a real checkout: None must come from the missing git, not from the layout
    monkeypatch.setenv("PATH", str(tmp_path / "no-programs-here"))
    assert prov.git_state(repo / "src" / "superposition") is None


@needs_git
def test_this_package_records_its_own_checkout_commit():
    """Imported from a checkout of this project (an editable install, as in CI), the commit is HEAD's."""
    top = prov.PACKAGE_DIR.parent.parent
    if not (top / ".git").exists() or prov.PACKAGE_DIR.parent.name != "src":
        pytest.skip("superposition is not imported from a git checkout here")
    state = prov.git_state()
    assert state is not None and state["commit"] == git(top, "rev-parse", "HEAD")


# ---- format versions


def test_a_config_of_a_newer_format_is_refused_naming_both_versions(saved, tmp_path):
    newer = copy_of(saved, tmp_path)
    edit_config(newer, format_version=FORMAT_VERSION + 1)
    with pytest.raises(RunDirError, match="newer superposition"):
        load_run(newer)
    result = runner.invoke(app, ["analyze", str(newer)])
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"error: {newer / 'config.json'}: format_version {FORMAT_VERSION + 1} was made by a newer superposition; "
        f"this one ({superposition.__version__}) reads format_version {FORMAT_VERSION} and older: upgrade superposition")


def test_a_newer_format_is_named_before_a_family_this_version_does_not_know():
    with pytest.raises(ConfigError, match="format_version 2 was made by a newer superposition"):
        parse_run_config({"family": "from-the-future", "format_version": 2})


def test_a_newer_format_is_not_replaced_by_overwrite(saved, tmp_path):
    newer = copy_of(saved, tmp_path)
    edit_config(newer, format_version=FORMAT_VERSION + 1)
    assert not is_run_directory(newer)
    result = runner.invoke(app, ["train", "--n-features", "4", "--n-hidden", "2", "--steps", "5", "--quiet",
                                 "--out", str(newer), "--overwrite"])
    assert result.exit_code == 2 and "not a run directory" in result.output
    assert json.loads((newer / "config.json").read_text())["format_version"] == FORMAT_VERSION + 1


@pytest.mark.parametrize("version", [0, None], ids=["version-0", "absent"])
def test_an_older_or_unversioned_config_is_read_and_saved_in_the_current_format(saved, tmp_path, version):
    older = copy_of(saved, tmp_path)
    edit_config(older, format_version=version)
    assert is_run_directory(older)
    run = load_run(older)
    assert run.config.format_version == (FORMAT_VERSION if version is None else version)
    assert torch.equal(run.W, load_run(saved).W)
    assert runner.invoke(app, ["analyze", str(older), "--json"]).exit_code == 0
    save_run(run, tmp_path / "upgraded")
    assert json.loads((tmp_path / "upgraded" / "config.json").read_text())["format_version"] == FORMAT_VERSION


def test_a_negative_format_version_is_refused(saved, tmp_path):
    bad = copy_of(saved, tmp_path)
    edit_config(bad, format_version=-1)
    with pytest.raises(RunDirError, match="format_version"):
        load_run(bad)
