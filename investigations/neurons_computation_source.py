"""Computation in superposition (Elhage et al. 2022): the abs model (n = 100, m = 40, I_i = 0.8^i) trained with the
sources' own settings, measured the way the report's claims measure it.

The paper gives the architecture, data and importance but no optimiser settings. ARENA's neuron-computation
exercise trains it with Adam at lr 1e-3 (constant), batch 1024, its default 5,000 steps, features uniform on [-1, 1)
where active, importance 0.8^(i+1), one instance per sparsity, and W1, W2 from torch's kaiming_uniform_ on the
[inst, hidden, feat] and [inst, feat, hidden] tensors: fan_in = hidden x feat = 4,000, so weights uniform within
+-sqrt(6 / 4000) = +-0.039, five times smaller than the per-matrix xavier-normal start (std 0.12) the report used
before it took ARENA's start (models.neuron.kaiming_uniform).

Setups (pick with the first argument, a comma-separated list; SEEDS instances per density, default 2):
  arena       ARENA's setting: kaiming-uniform start, Adam, 5,000 steps
  arena30k    ARENA's start and optimiser for the report's 30,000 steps
  arena90k    the same for 90,000 steps, at 1-S = 1 and 0.3 only (does the dense model reach the construction?)
  ours        the report's former setting: xavier-normal start, AdamW (weight decay 0.01), 30,000 steps
  motif-arena, motif-ours   the small model (n = 20, m = 10, 1-S = 0.1, 0.03, 0.01, 10,000 steps) with either
              start: instances showing asymmetric superposition with inhibition

For each instance: the polysemantic neuron count (analysis.neurons.ALIGNED), the loss over the construction's
(experiments.neurons.construction_loss: the m/2 most important features computed exactly, the rest a constant), and
the features computed on both sides of 0 / on one side only.

    python investigations/neurons_computation_source.py arena,ours 2
"""

from __future__ import annotations

import sys
import time

import torch

from superposition import make_config
from superposition.analysis.neurons import COMPUTED_GAIN, classify_neurons, find_asymmetric_inhibition, side_gains
from superposition.data import FeatureData
from superposition.experiments.neurons import construction_loss
from superposition.models import ComputationModel
from superposition.models.neuron import kaiming_uniform
from superposition.runs import Run
from superposition.train import train

N, M = 100, 40
DENSITIES = [1.0, 0.3, 0.1, 0.03, 0.01]

SETUPS = {
    "arena": dict(init="kaiming", optimizer="adam", steps=5_000),
    "arena30k": dict(init="kaiming", optimizer="adam", steps=30_000),
    "arena90k": dict(init="kaiming", optimizer="adam", steps=90_000, densities=[1.0, 0.3]),
    "ours": dict(init="xavier", optimizer="adamw", steps=30_000),
    "motif-arena": dict(init="kaiming", optimizer="adam", steps=10_000, n=20, m=10, densities=[0.1, 0.03, 0.01]),
    "motif-ours": dict(init="xavier", optimizer="adamw", steps=10_000, n=20, m=10, densities=[0.1, 0.03, 0.01]),
}


def train_setup(name: str, seeds: int, seed: int = 0) -> Run:
    s = SETUPS[name]
    n, m = s.get("n", N), s.get("m", M)
    probs = [p for p in s.get("densities", DENSITIES) for _ in range(seeds)]
    cfg = make_config(
        data=dict(n_features=n, feature_probability=probs, importance=[0.8 ** (i + 1) for i in range(n)],
                  magnitude="uniform_signed", target="abs"),
        model=dict(kind="abs", n_hidden=m),
        train=dict(steps=s["steps"], lr=1e-3, batch_size=1024, optimizer=s["optimizer"], seed=seed, log_every=1000),
    )
    gen = torch.Generator().manual_seed(seed)
    model = ComputationModel(n, m, len(probs), generator=gen)
    if s["init"] == "kaiming":
        # Redrawn after the xavier draws (the order the numbers in the report's notes came from).
        with torch.no_grad():
            model.W1.copy_(kaiming_uniform(tuple(model.W1.shape), gen, "cpu"))
            model.W2.copy_(kaiming_uniform(tuple(model.W2.shape), gen, "cpu"))
    train(model, FeatureData(cfg.data), cfg.train, progress=False)
    return Run(config=cfg, model=model, history=None)


def report(name: str, run: Run) -> None:
    if name.startswith("motif"):
        motifs = find_asymmetric_inhibition(run.W, run.model.W2.detach(), run.b)
        probs = run.config.data.probability()[:, 0].tolist()
        found = sorted({mo.instance for mo in motifs})
        print(f"{name}: instances with the motif {len(found)} of {len(probs)} "
              f"(at 1-S = {', '.join(f'{probs[k]:g}' for k in found)}); motifs found {len(motifs)}")
        return
    probs = run.config.data.probability()[:, 0].tolist()
    poly = [row.count("polysemantic") for row in classify_neurons(run.W)]
    dead = [row.count("dead") for row in classify_neurons(run.W)]
    trained, built = construction_loss(run)
    sides = side_gains(run.W, run.model.W2.detach()) >= COMPUTED_GAIN
    both, one = sides.all(dim=1).sum(-1).tolist(), (sides.sum(dim=1) == 1).sum(-1).tolist()
    for k, p in enumerate(probs):
        print(f"{name:9s} 1-S = {p:<5g} polysemantic {poly[k]:2d} dead {dead[k]:2d}  "
              f"loss/construction {trained[k] / built[k]:7.3f}  computed both sides {both[k]:3d}, one side {one[k]:3d}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    names = sys.argv[1].split(",") if len(sys.argv) > 1 else ["arena", "ours"]
    seeds = int(sys.argv[2]) if len(sys.argv) > 2 else 2  # the motif setups take 3
    for name in names:
        start = time.time()
        run = train_setup(name, seeds)
        report(name, run)
        print(f"# {name}: {time.time() - start:.0f} s", flush=True)
