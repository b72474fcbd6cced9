"""D* "sticky" at 1 and the paper's n = 400, m = 30 geometry sweep, under the report's settings and the source's own
(the experiment feature-geometry-large).

Where D* leaves 1 the model has to break the dense solution's symmetry, which takes many samples; a run that is
too short keeps D* at 1 for longer than the source's, which would fake a stay at 1. The report's n = 200 sweep
(feature-geometry's schedule) matches the Colab's D* there; its n = 400 sweep, at about a thirteenth of the Colab's
samples, does not. This script trains

- `report`: the experiment's two runs, read with its own analysis (D* per density, every verdict);
- `dense-source`: n = 200, m = 20 on the report's dense-end grid under the Colab's setting (10,000 steps of batch
  1024 at lr 1e-3, AdamW, xavier-normal over the whole [instances, features, hidden] tensor, as
  geometry_source_setting.py trains it), read with the sticky-at-one measure;
- `paper-source`: the same at n = 400, m = 30 on a finer dense end (1/(1-S) = 1.05^j up to 1.8, then 1 - S =
  0.05): the stay at 1 at the paper's size under its own setting (the measure reads only the stretch at the dense
  end and D* at the sweep's two ends, its mean rate, so a grid without the middle gives the same measure), and the
  features on the 3/4 and 2/3 lines, which live between 1/(1-S) = 1.4 and 1.8, where the report's n = 400 grid
  has no instance.

The Colab's own n = 400 sweep on its 20 densities (D* 0.978, 0.888, 0.618, 0.523 at 1/(1-S) = 1.37, 1.6, 1.88, 2.2,
where the report's n = 400 run has 0.995, -, 0.835, 0.599) is geometry_source_setting.py's `paper` mode.

Usage: python investigations/geometry_large_setting.py [report|dense-source|paper-source ...]
(one thread; `dense-source` takes about 5 times the report's dense-end run, `paper-source` about 15 times its
n = 400 run). Prints D* per density and the verdicts.
"""

from __future__ import annotations

import sys
import time
from collections import Counter

import numpy as np
from geometry_source_setting import notebook_init_run

from superposition import make_config, train_run
from superposition.experiments.geometry import DENSE_TOL, LOWEST_DENSITY
from superposition.experiments.geometry_large import (
    GEOMETRY_LARGE, SOURCE_LARGE, dense_end_densities, large_configs, sticky_claim,
)
from superposition.experiments.geometry_sweep import OnFractions, Sweep

SOURCE_200 = dict(SOURCE_LARGE, n=200, m=20)
FINE_STEP, FINE_END = 1.05, 1.8  # paper-source's dense end: the stay at 1 and the 3/4 and 2/3 lines


def config(s: dict, probs: list[float]):
    return make_config(
        data=dict(n_features=s["n"], feature_probability=probs), model=dict(kind="relu", n_hidden=s["m"]),
        train=dict(steps=s["steps"], batch_size=s["batch"], lr=s["lr"], seed=0, threads=1),
    )


def show(name: str, sw: Sweep, seconds: float) -> None:
    print(f"== {name}: trained in {seconds:.0f} s")
    print("1/(1-S): " + " ".join(f"{v:.3g}" for v in sw.x))
    print("D*:      " + " ".join(f"{v:.3f}" for v in sw.d_star), flush=True)


def interpolated_stay(sw: Sweep) -> float:
    """The sticky-at-one measure with the stretch's end placed where D* crosses 1 - DENSE_TOL (linear in log x)
    instead of at the last grid point on it: its span over the band a smooth fall at the mean rate takes."""
    log_x, d = np.log(sw.x), sw.d_star
    rate = (d[0] - d[-1]) / (log_x[-1] - log_x[0])
    out = int(np.argmax(d < 1 - DENSE_TOL))  # the first instance below the band
    t = (d[out - 1] - (1 - DENSE_TOL)) / (d[out - 1] - d[out])
    return float((log_x[out - 1] + t * (log_x[out] - log_x[out - 1])) / (DENSE_TOL / rate))


def report() -> None:
    runs = {}
    for name, cfg in large_configs(False).items():
        start = time.time()
        runs[name] = train_run(cfg, progress=False)
        show(f"report {name}", Sweep.of(runs[name]), time.time() - start)
    print(f"  dense end, the stretch's end interpolated to where D* crosses {1 - DENSE_TOL:g}: "
          f"{interpolated_stay(Sweep.of(runs['dense-end'])):.2f}x")
    for claim in GEOMETRY_LARGE.analyze(runs, False).claims:
        print(f"  {claim.id}: {claim.verdict} -- {claim.measured}")
    print(flush=True)


def source(name: str, s: dict, probs: list[float]) -> None:
    start = time.time()
    sw = Sweep.of(notebook_init_run(config(s, probs)))
    show(f"{name}: n = {s['n']}, m = {s['m']}, the Colab's setting and init", sw, time.time() - start)
    claim = sticky_claim(sw)
    print(f"  {claim.id}: {claim.verdict} -- {claim.measured}\n  {claim.note}")
    print(f"  with the stretch's end interpolated to where D* crosses {1 - DENSE_TOL:g}: {interpolated_stay(sw):.2f}x")
    on = OnFractions.of(sw)
    for k, fracs in on.fracs.items():
        counts = Counter(fracs)
        print(f"  1/(1-S) = {sw.x[k]:.3f}: D* = {sw.d_star[k]:.3f}, {len(fracs)} represented; "
              + ", ".join(f"{label or 'none'}: {n}" for label, n in sorted(counts.items())))
    print("  all superposing instances: " + ", ".join(f"{label}: {n}" for label, n in sorted(on.counts.items()))
          + f" of {len(on.pooled)} represented features\n", flush=True)


def main(modes: list[str]) -> None:
    fine = [FINE_STEP ** -j for j in range(100) if FINE_STEP ** j <= FINE_END] + [LOWEST_DENSITY]
    for mode in modes:
        if mode == "report":
            report()
        elif mode == "dense-source":
            source(mode, SOURCE_200, dense_end_densities())
        elif mode == "paper-source":
            source(mode, SOURCE_LARGE, fine)
        else:
            raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:] or ["report"])
