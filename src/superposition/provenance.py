"""Provenance: which code made a run. Every run directory keeps a `provenance.json` beside its config: the versions of
superposition, torch and Python, the platform, the device the run trained on, and, when the package was imported from
a git checkout of this project, the commit and whether tracked files had changed from it ("dirty").

>>> describe({"superposition": "0.3.0", "torch": "2.13.0", "python": "3.11.9", "device": "cpu",
...           "git": {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": True}})
'made by superposition 0.3.0 (torch 2.13.0, Python 3.11.9) on cpu, commit 0123456789ab (with uncommitted changes)'

Run directories saved before provenance was recorded have no `provenance.json`; they load with `run.provenance` None.
This module imports neither torch nor anything heavy at import time (the command line reads it).
"""

from __future__ import annotations

import datetime
import functools
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from .errors import RunDirError

FILE = "provenance.json"
PACKAGE_DIR = Path(__file__).resolve().parent
# A git that hangs (a network file system, a huge tree) must not hold up saving a run.
GIT_TIMEOUT_S = 5.0
# Variables that would point git at another repository than the one holding the package.
_GIT_REDIRECTS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_CEILING_DIRECTORIES")


def _git(package_dir: Path, *args: str) -> str | None:
    """git's output, stripped; None when git is missing, fails or times out."""
    env = {k: v for k, v in os.environ.items() if k not in _GIT_REDIRECTS}
    env["GIT_OPTIONAL_LOCKS"] = "0"  # `git status` must not write the index (another process may be committing)
    try:
        done = subprocess.run(["git", "-C", str(package_dir), *args], capture_output=True, text=True, env=env,
                              stdin=subprocess.DEVNULL, timeout=GIT_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_state(package_dir: Path = PACKAGE_DIR) -> dict[str, Any] | None:
    """`{"commit": <sha>, "dirty": bool | None}` of the git checkout the package at `package_dir` was imported from;
    None when git is absent or fails, when the package does not lie at `src/<package>` of the checkout's top level
    (an installed wheel, or an environment inside some other repository), or when the checkout has no commit yet.
    `dirty` says whether tracked files differ from the commit (untracked files are not counted: run directories and
    reports often live inside the tree); None if `git status` failed."""
    package_dir = package_dir.resolve()
    top = _git(package_dir, "rev-parse", "--show-toplevel")
    if not top or Path(top).resolve() / "src" / package_dir.name != package_dir:
        return None
    commit = _git(package_dir, "rev-parse", "--verify", "--quiet", "HEAD")
    if not commit:
        return None
    status = _git(package_dir, "status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


@functools.lru_cache(maxsize=1)
def _process_git_state() -> dict[str, Any] | None:
    # Taken once per process: the code a process runs is the code it imported, and a report saves hundreds of runs.
    return git_state()


def device_name(device: str) -> str:
    """The GPU's name for a CUDA device; the processor's architecture for the CPU."""
    if device.startswith("cuda"):
        import torch

        try:
            return torch.cuda.get_device_name(torch.device(device))
        except (RuntimeError, AssertionError, ValueError):
            return "unknown GPU"
    return platform.machine() or "unknown CPU"


def collect(device: str) -> dict[str, Any]:
    """The provenance of a run trained now, in this process, on `device`."""
    import torch

    from . import __version__

    return {
        "superposition": __version__,
        "torch": str(torch.__version__),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": device,
        "device_name": device_name(device),
        "git": _process_git_state(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def write(provenance: dict[str, Any], directory: Path) -> None:
    (directory / FILE).write_text(json.dumps(provenance, indent=1) + "\n")


def read(directory: Path) -> dict[str, Any] | None:
    """A run directory's provenance; None for a run saved before provenance was recorded. Keys a newer superposition
    adds are kept as they are."""
    file = directory / FILE
    if not file.exists():
        return None
    try:
        data = json.loads(file.read_text())
    except (OSError, ValueError, RecursionError) as e:
        raise RunDirError(f"{file} is corrupt: {e}") from None
    if not isinstance(data, dict):
        raise RunDirError(f"{file} is corrupt: expected a JSON object, got {type(data).__name__}")
    return data


def describe(provenance: dict[str, Any] | None) -> str:
    """One line for people: which versions made the run, on which device, from which commit."""
    if provenance is None:
        return "made by a superposition before 0.2.0 (no provenance.json)"
    line = (f"made by superposition {provenance.get('superposition', '?')} (torch {provenance.get('torch', '?')}, "
            f"Python {provenance.get('python', '?')}) on {provenance.get('device', '?')}")
    git = provenance.get("git")
    if isinstance(git, dict) and isinstance(git.get("commit"), str):
        dirty = git.get("dirty")
        changes = " (with uncommitted changes)" if dirty is True else "" if dirty is False else " (changes unknown)"
        line += f", commit {git['commit'][:12]}{changes}"
    return line
