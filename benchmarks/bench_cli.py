"""How fast the command line answers `--help`, against `python -c pass` and against the command line as it was
before it was made lazy (commit 56cbe45, which imported torch, pandas and every family before parsing), side by side
in one run.

    python benchmarks/bench_cli.py [--repeats 10] [--before COMMIT]

The earlier version is taken from this checkout's git history (`git archive`) into a temporary directory and run
with the same interpreter; without git history that column is left out. Medians of `--repeats` runs, interleaved so
that a busy machine slows each column alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEFORE = "56cbe45"  # the last commit whose command line imported torch and pandas before parsing


def checkout(commit: str, into: Path) -> Path | None:
    """The package's sources at `commit`, extracted under `into`; None where this is not a git checkout."""
    try:
        data = subprocess.run(["git", "archive", commit, "src"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def seconds(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--before", default=BEFORE, help="the commit to compare with")
    args = parser.parse_args()
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        old_src = checkout(args.before, Path(tmp))
        cases = {
            "python -c pass": ([sys.executable, "-c", "pass"], env),
            "superposition --help": ([sys.executable, "-m", "superposition.cli", "--help"], env),
            "superposition train --help": ([sys.executable, "-m", "superposition.cli", "train", "--help"], env),
        }
        if old_src is not None:
            old_env = {**env, "PYTHONPATH": str(old_src)}
            cases[f"--help at {args.before}"] = ([sys.executable, "-m", "superposition.cli", "--help"], old_env)
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.repeats):
            for name, (command, case_env) in cases.items():
                times[name].append(seconds(command, case_env))
    median = {name: statistics.median(t) for name, t in times.items()}
    base = median["python -c pass"]
    print(f"{'command':<32} {'median s':>9} {'vs python -c pass':>18}")
    for name, m in median.items():
        print(f"{name:<32} {m:>9.3f} {m / base:>17.1f}x")
    old = median.get(f"--help at {args.before}")
    if old is not None:
        print(f"--help is {old / median['superposition --help']:.1f}x faster than at {args.before}")


if __name__ == "__main__":
    main()
