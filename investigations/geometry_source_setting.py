"""Feature geometry (Toy Models of Superposition, "The Geometry of Superposition") under the source's own settings.

The report's feature-geometry experiment trains n = 200 features in m = 20 dimensions with a quarter of the
original notebook's samples at 3x its learning rate. This script trains the same 20-density sweep under the
notebook's setting and reads it with the experiment's own analysis, so the verdicts can be compared claim by claim:

- `ours`: the report's FULL setting (5,000 steps, batch 512, lr 3e-3), our per-instance xavier init;
- `source`: the notebook's optimize() defaults (10,000 steps, batch 1024, lr 1e-3, constant rate, AdamW with
  weight decay 0.01), still our init;
- `source-init`: the same, initialised as the notebook does: `nn.init.xavier_normal_` on the whole
  [instances, features, hidden] tensor, whose fans torch counts as features x hidden and instances x hidden, so the
  std is sqrt(2 / (hidden (features + instances))) = 0.021 here, against sqrt(2 / (features + hidden)) = 0.095 for
  our per-instance init;
- `paper`: the paper's text, n = 400 features in m = 30 dimensions, with the notebook's schedule and init;
- `fine`: where the 3/4 (tetrahedron) line should be, between the dense end and the 1/2 plateau: 20 densities with
  1/(1-S) from 1.3 to 2.2 (the 20-density sweep has 4 there), the report's schedule; prints, per instance, D* and
  how many features sit on each fraction.

Usage: python investigations/geometry_source_setting.py [ours|source|source-init|paper|fine ...]   (one thread;
`source` takes about 4x the report's time, `paper` about 10x). Prints D* per density and every claim's verdict.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np
import torch

from superposition import make_config
from superposition.analysis.geometry import FRACTIONS, geometry_table
from superposition.analysis.metrics import represented
from superposition.experiments.geometry import FULL, GEOMETRY, HALF_TOL, SOURCE, densities
from superposition.lab import build_data
from superposition.lab import build_model
from superposition.runs import Run, history_frame
from superposition.train import train

SETTINGS = {
    "ours": dict(FULL, init="ours"),
    "source": dict(SOURCE, init="ours"),
    "source-init": dict(SOURCE, init="notebook"),
    "paper": dict(SOURCE, n=400, m=30, init="notebook"),
}


def notebook_init_run(config) -> Run:
    """Train `config` from the notebook's init: xavier-normal over the stacked [instances, features, hidden] tensor."""
    generator = torch.Generator().manual_seed(config.train.seed)
    model = build_model(config, generator=generator)
    n_inst, n_feat, n_hidden = model.W.shape
    with torch.no_grad():
        model.W.normal_(0.0, (2.0 / (n_hidden * (n_feat + n_inst))) ** 0.5, generator=generator)
    history = train(model, build_data(config), config.train, progress=False)
    return Run(config=config, model=model, history=history_frame(history))


def sweep_config(s: dict):
    return make_config(
        data=dict(n_features=s["n"], feature_probability=densities(s["instances"])),
        model=dict(kind="relu", n_hidden=s["m"]),
        train=dict(steps=s["steps"], batch_size=s["batch"], lr=s["lr"], seed=0, threads=1),
    )


def fine_grid() -> None:
    """Fraction counts per instance on a fine grid across the fall from D* = 1 to 1/2."""
    probs = [float(v) for v in 1 / torch.logspace(math.log10(1.3), math.log10(2.2), 20)]
    config = make_config(
        data=dict(n_features=FULL["n"], feature_probability=probs), model=dict(kind="relu", n_hidden=FULL["m"]),
        train=dict(steps=FULL["steps"], batch_size=FULL["batch"], lr=FULL["lr"], seed=0, threads=1),
    )
    from superposition import train_run

    run = train_run(config, progress=False)
    W = run.W.float()
    table, rep = geometry_table(W), represented(W)
    d_star = FULL["m"] / W.square().sum((1, 2))
    print(f"== fine: n = {FULL['n']}, m = {FULL['m']}, 1/(1-S) from 1.3 to 2.2, the report's schedule")
    total = {label: 0 for label in FRACTIONS}
    for k, p in enumerate(probs):
        rows = table[(table.instance == k) & rep[k][table.feature].numpy()]
        counts = rows.fraction.value_counts()
        for label in FRACTIONS:
            total[label] += int(counts.get(label, 0))
        print(f"  1/(1-S) = {1 / p:.3f}: D* = {float(d_star[k]):.3f}, {len(rows)} represented; "
              + ", ".join(f"{label}: {int(counts.get(label, 0))}" for label in FRACTIONS if counts.get(label, 0))
              + f", none: {int((rows.fraction == '').sum())}")
    print("  all instances: " + ", ".join(f"{label}: {n}" for label, n in total.items()), flush=True)


def interpolated_stickiness(x: np.ndarray, d: np.ndarray) -> float:
    """The half-plateau measure with the stretch's ends placed where D* crosses 1/2 +- HALF_TOL (linear in log x)
    instead of at the outermost grid points on it: span over the band a smooth fall at the mean rate takes."""
    log_x = np.log(x)
    rate = (d[0] - d[-1]) / (log_x[-1] - log_x[0])
    enter, leave = (float(np.interp(-(0.5 + sign * HALF_TOL), -d, log_x)) for sign in (1, -1))  # d falls with x
    return (leave - enter) / (2 * HALF_TOL / rate)


def main(names: list[str]) -> None:
    for name in names:
        if name == "fine":
            fine_grid()
            continue
        s = SETTINGS[name]
        config = sweep_config(s)
        start = time.time()
        if s["init"] == "notebook":
            run = notebook_init_run(config)
        else:
            from superposition import train_run

            run = train_run(config, progress=False)
        seconds = time.time() - start
        findings = GEOMETRY.analyze({"uniform": run}, False)
        d_star = s["m"] / run.W.float().square().sum((1, 2))
        print(f"== {name}: n = {s['n']}, m = {s['m']}, {s['steps']} steps, batch {s['batch']}, lr {s['lr']:g}, "
              f"{s['init']} init; trained in {seconds:.0f} s")
        print("1/(1-S): " + " ".join(f"{1 / p:.3g}" for p in densities(s["instances"])))
        print("D*:      " + " ".join(f"{float(v):.3f}" for v in d_star))
        x = 1 / np.array(densities(s["instances"]))
        print(f"half-plateau span interpolated at the band's edges: {interpolated_stickiness(x, d_star.numpy()):.2f}x "
              "a smooth fall's band")
        for claim in findings.claims:
            print(f"  {claim.id}: {claim.verdict} -- {claim.measured}")
        print(flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or ["ours", "source", "source-init"])
