"""Our trainer vs a plain notebook-style reference loop on the intro configuration, timed in the same run.

    python benchmarks/bench_trainer.py [--steps 2000] [--repeats 3] [--loss-steps 10000] [--json]

Same as `superposition bench`. Prints ms/step for both loops, the ratio, and the final losses.
"""

import sys

from superposition.cli import app

if __name__ == "__main__":
    app(["bench", *sys.argv[1:]])
