"""Dense features along neurons in the privileged-basis model (Elhage et al. 2022, "Superposition in a privileged
basis"), trained with the sources' own settings.

The paper trains n = 10, m = 5, I_i = 0.75^i and shows, for each sparsity, the lowest-loss of 1,000 trained models:
"All Monosemantic Neurons (approximately 0.5 <= 1-S)", every feature given a dedicated neuron. ARENA's exercise
trains one model per sparsity (1-S in 0.75, 0.35, ...), 10,000 steps of Adam at lr 1e-3, batch 1024, features
uniform on [0, 1), xavier-normal W initialised on the [instances, hidden, features] tensor as torch does (fans of
hidden x features and instances x features).

This script trains SEEDS instances at 1-S = 1 and 0.75 with those settings (and with ours: AdamW, our per-matrix
xavier scale) and prints, per density, the share of represented features lying along one neuron
(max_n |W_in| / ||W_i|| >= analysis.neurons.ALIGNED) in each instance, and the loss of the aligned and the other
instances, all evaluated on one common sample (so that their small differences are not sampling noise).

    python investigations/neurons_privileged_source.py [SEEDS]
"""

from __future__ import annotations

import sys

import torch

from superposition.analysis.metrics import represented
from superposition.analysis.neurons import ALIGNED, feature_alignment
from superposition.config import DataConfig, TrainConfig
from superposition.data import FeatureData
from superposition.models import NeuronModel
from superposition.train import train

N, M, STEPS = 10, 5, 10_000


ARENA_INSTANCES = 7  # ARENA trains its seven sparsities as the instances of one model


def arena_std() -> float:
    """torch's xavier_normal_ on ARENA's [inst, hidden, feat] tensor: fan_in = hidden*feat, fan_out = inst*feat."""
    return (2.0 / (M * N + ARENA_INSTANCES * N)) ** 0.5


def run(densities: list[float], seeds: int, optimizer: str, std: float | None, seed: int = 0) -> None:
    probs = [p for p in densities for _ in range(seeds)]
    data = FeatureData(DataConfig(n_features=N, feature_probability=probs, importance_decay=0.75))
    gen = torch.Generator().manual_seed(seed)
    model = NeuronModel(N, M, len(probs), generator=gen)
    if std is not None:
        with torch.no_grad():
            model.W.normal_(0.0, std, generator=gen)
    hist = train(model, data, TrainConfig(steps=STEPS, lr=1e-3, batch_size=1024, optimizer=optimizer, seed=seed,
                                          log_every=500), progress=False)
    W = model.W.detach()
    rep, al = represented(W), feature_alignment(W)
    label = f"{optimizer}, init std {'ours' if std is None else f'{std:.3f}'}"
    loss = common_loss(model, data, probs)
    for p in densities:
        idx = [k for k, q in enumerate(probs) if q == p]
        shares = [float((al[k][rep[k]] >= ALIGNED).float().mean()) for k in idx]
        best = idx[int(loss[idx].argmin())]
        full = [k for k, s in zip(idx, shares) if s == 1.0]
        rest = [k for k in idx if k not in full]
        print(f"{label} | 1-S = {p}: aligned share per instance {[round(s, 2) for s in shares]}; "
              f"{len(full)}/{len(idx)} instances with every represented feature aligned, loss "
              f"{fmt(loss[full])} (others {fmt(loss[rest])}); lowest-loss instance: share "
              f"{shares[idx.index(best)]:.2f}")


def fmt(values: torch.Tensor) -> str:
    return "n/a" if not len(values) else f"{float(values.min()):.6f}..{float(values.max()):.6f}"


def common_loss(model: NeuronModel, data: FeatureData, probs: list[float], batches: int = 64) -> torch.Tensor:
    """Each instance's loss on the same inputs as every other instance of its density (one fixed sample)."""
    gen = torch.Generator().manual_seed(1234)
    total = torch.zeros(len(probs))
    with torch.no_grad():
        for _ in range(batches):
            batch = data.sample(1024, gen)
            first = {p: probs.index(p) for p in probs}  # the instance whose draw its density shares
            x = torch.stack([batch.x[first[p]] for p in probs])
            total += ((model(x) - x).square() * batch.weight).mean(dim=(1, 2)) / batches
    return total


if __name__ == "__main__":
    torch.set_num_threads(1)
    seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    run([1.0, 0.75], seeds, "adam", arena_std())  # ARENA's setting
    run([1.0, 0.75], seeds, "adamw", None)  # ours
