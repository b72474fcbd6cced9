"""Time `superposition reproduce` per experiment (the full report must finish in under 30 minutes on 2 cores).

    python benchmarks/bench_reproduce.py [--quick] [--out DIR]

Trains into a fresh directory (nothing cached), then prints seconds per experiment from claims.json.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="report directory (default: a fresh temporary one)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="superposition-bench-"))
    command = [sys.executable, "-m", "superposition.cli", "reproduce", "--quiet", "--out", str(out)]
    subprocess.run(command + (["--quick"] if args.quick else []), check=True)
    doc = json.loads((out / "claims.json").read_text())
    print(f"{'experiment':<20} {'seconds':>8} {'claims':>7} {'reproduced':>11}")
    for exp in doc["experiments"]:
        claims = [c for c in doc["claims"] if c["experiment"] == exp["name"]]
        print(f"{exp['name']:<20} {exp['seconds']:>8.1f} {len(claims):>7} {sum(c['reproduced'] for c in claims):>11}")
    s = doc["summary"]
    print(f"{'total':<20} {doc['seconds']:>8.1f} {s['claims']:>7} {s['reproduced']:>11}   (report: {out / 'index.html'})")
