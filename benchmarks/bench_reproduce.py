"""Time `superposition reproduce` per experiment, with one and with two worker processes in the same run.

    python benchmarks/bench_reproduce.py [--quick] [--workers 1,2] [--only a,b] [--out DIR]

Each worker count trains into a fresh directory (nothing cached), then the seconds per experiment are read from
its claims.json and printed side by side, with the wall time of each and their ratio. The verdicts must agree
(each run is seeded by its config alone): a difference is printed and ends the script with status 1.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def report(out: Path, workers: int, quick: bool, only: str | None) -> tuple[dict, float]:
    command = [sys.executable, "-m", "superposition.cli", "reproduce", "--quiet", "--out", str(out),
               "--workers", str(workers)] + (["--quick"] if quick else []) + (["--only", only] if only else [])
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return json.loads((out / "claims.json").read_text()), time.perf_counter() - start


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts, each a fresh report")
    parser.add_argument("--only", default=None, help="comma-separated experiments (default: all)")
    parser.add_argument("--out", type=Path, default=None, help="parent of the report directories (default: temporary)")
    args = parser.parse_args()
    parent = args.out or Path(tempfile.mkdtemp(prefix="superposition-bench-"))
    counts = [int(w) for w in args.workers.split(",")]
    docs, walls = {}, {}
    for w in counts:
        docs[w], walls[w] = report(parent / f"workers-{w}", w, args.quick, args.only)
    first = docs[counts[0]]
    print(f"{'experiment':<24}" + "".join(f"{f'{w} worker(s) s':>16}" for w in counts) + f"{'claims':>8}{'reproduced':>12}")
    for exp in first["experiments"]:
        claims = [c for c in first["claims"] if c["experiment"] == exp["name"]]
        seconds = [next(e["seconds"] for e in docs[w]["experiments"] if e["name"] == exp["name"]) for w in counts]
        print(f"{exp['name']:<24}" + "".join(f"{s:>16.1f}" for s in seconds)
              + f"{len(claims):>8}{sum(c['reproduced'] for c in claims):>12}")
    print(f"{'wall':<24}" + "".join(f"{walls[w]:>16.1f}" for w in counts)
          + f"{first['summary']['claims']:>8}{first['summary']['reproduced']:>12}")
    if len(counts) > 1:
        print(f"speed-up of {counts[-1]} workers over {counts[0]}: {walls[counts[0]] / walls[counts[-1]]:.2f}x")
    verdicts = {w: {c["id"]: c["reproduced"] for c in docs[w]["claims"]} for w in counts}
    differ = [i for i in verdicts[counts[0]] if any(verdicts[w].get(i) != verdicts[counts[0]][i] for w in counts)]
    if differ:
        print("verdicts differ between worker counts: " + ", ".join(differ))
        sys.exit(1)
    print(f"reports: {parent}")
