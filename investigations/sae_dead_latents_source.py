"""Do the extra latents die past the number of true features at every L1, in the source's own setting?

The claim `sae.dead-latents-past-dictionary-size` comes from Sharkey, Braun & Millidge (2022), "[Interim research
report] Taking features out of superposition with sparse autoencoders", which reads the number of dead neurons over
a grid of L1 coefficient x dictionary size as one sign of the right dictionary size. Its toy-data settings, taken
from the report's replication script (github HoagyC/sparse_coding, replicate_toy_models.py, first frozen version
9e8fc38; facts only, no code copied):

- data: 512 random unit features in 256 dimensions; feature i is active with probability proportional to
  0.99^i times the normal CDF of one correlated Gaussian draw per batch (covariance: a symmetrised U[0, 1) matrix
  shifted to be positive definite), rescaled so that 5 features are active on average; magnitudes U[0, 1); a sample
  with no active feature gets one random feature at 1.0;
- autoencoder: ReLU encoder with bias (PyTorch Linear init), decoder without bias, orthogonally initialised, columns
  kept at unit norm; Adam, lr 1e-3, batch 256, 20,000 steps;
- loss: MSE (mean over the 256 dimensions) + alpha * mean over the batch of ||c||_1 / d_sae, alpha on the grid
  10^(k/4); dictionary ratios 2^k;
- dead: a neuron whose mean activation over 10 batches (2,560 samples) is exactly 0.

Our SAE trains with loss sum_d (x - x_hat)^2 + l1 * ||f||_1 (batch means). Adam does not see a constant factor on the
loss, so multiplying the source's loss by d gives ours with l1 = d * alpha / d_sae. Our SAE also learns a decoder
bias b_dec (subtracted before the encoder); the source's has none. Everything else follows the source.

Run:  python investigations/sae_dead_latents_source.py [--alphas 0.056,0.32] [--sizes 512,1024] [--steps 20000]
Prints, at each checkpoint, per alpha and dictionary size: the dead share on 2,560 held-out samples (the source's
count) and on 8,192 (the report's), MMCS, L0, and our equivalent l1. One CPU thread; about 20 ms per step per 512
latents on these machines.
"""

from __future__ import annotations

import argparse
import time

import torch

from superposition.analysis.dictionary import evaluate
from superposition.config import SAEConfig, TrainConfig
from superposition.data.sphere import SphereFeatures
from superposition.hooks import Hook
from superposition.models.sae import SparseAutoencoder, sae_hooks
from superposition.train import train

D, N_FEATURES, N_ACTIVE, DECAY = 256, 512, 5, 0.99


class SourceData:
    """The replication script's correlated toy data (see the module docstring), one instance."""

    def __init__(self, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.true_features = SphereFeatures(D, N_FEATURES, seed=seed).true_features  # random unit rows
        self.decay = DECAY ** torch.arange(N_FEATURES, dtype=torch.float64)
        u = torch.rand(N_FEATURES, N_FEATURES, generator=g, dtype=torch.float64)
        cov = (u + u.T) / 2
        low = torch.linalg.eigvalsh(cov).min()
        if low < 0:
            cov -= 1.001 * low * torch.eye(N_FEATURES, dtype=torch.float64)
        self.chol = torch.linalg.cholesky(cov)

    def sample(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        z = self.chol @ torch.randn(N_FEATURES, generator=generator, dtype=torch.float64)
        probs = torch.special.ndtr(z) * self.decay
        probs = (probs * (N_ACTIVE / N_FEATURES) / probs.mean()).float()
        strength = torch.rand(batch_size, N_FEATURES, generator=generator)
        codes = torch.where(torch.rand(batch_size, N_FEATURES, generator=generator) <= probs, strength, 0.0)
        empty = (codes != 0).sum(dim=1) == 0
        picks = torch.randint(N_FEATURES, (int(empty.sum()),), generator=generator)
        codes[empty.nonzero()[:, 0], picks] = 1.0
        return (codes @ self.true_features[0])[None]


def source_init(d_sae: int, alphas: list[float], seed: int) -> SparseAutoencoder:
    """Our SAE with the source's initialisation: Linear-default encoder and bias, orthogonal decoder, b_dec = 0."""
    g = torch.Generator().manual_seed(seed)
    n = len(alphas)
    bound = D**-0.5  # PyTorch's Linear init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias
    W_enc = (torch.rand(n, D, d_sae, generator=g) * 2 - 1) * bound
    b_enc = (torch.rand(n, d_sae, generator=g) * 2 - 1) * bound
    W_dec = torch.stack([torch.nn.init.orthogonal_(torch.empty(D, d_sae), generator=g).T for _ in range(n)])
    config = SAEConfig(d_sae=d_sae, l1=[D * a / d_sae for a in alphas])
    return SparseAutoencoder.from_weights(W_enc, b_enc, torch.zeros(n, D), W_dec.contiguous(), config=config)


def report(step: int, d_sae: int, alphas: list[float], sae: SparseAutoencoder, data: SourceData, t0: float) -> None:
    # 10 batches of 256 with their own probability draws, as the source counts; and our 8,192 samples
    source = evaluate(sae, data, 2560, seed=12345, batch_size=256)
    ours = evaluate(sae, data, 8192, seed=54321, batch_size=256)
    for k, a in enumerate(alphas):
        print(f"step {step:>6}  d_sae {d_sae:>5}  alpha {a:<6g} (l1 {D * a / d_sae:.4g})  "
              f"dead {source.dead_fraction[k]:6.1%} (2,560) {ours.dead_fraction[k]:6.1%} (8,192)  "
              f"MMCS {ours.mmcs[k]:.3f}  L0 {ours.l0[k]:6.2f}  [{time.perf_counter() - t0:.0f} s]", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alphas", default="0.056,0.32")
    parser.add_argument("--sizes", default="512,1024")
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--every", type=int, default=5_000, help="checkpoint interval")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    alphas = [float(a) for a in args.alphas.split(",")]
    data = SourceData(args.seed)
    for d_sae in (int(s) for s in args.sizes.split(",")):
        sae = source_init(d_sae, alphas, args.seed + 1)
        t0 = time.perf_counter()
        hooks = [*sae_hooks(sae), Hook(args.every, lambda step, m, loss: report(step, d_sae, alphas, sae, data, t0))]
        train(sae, data, TrainConfig(steps=args.steps, batch_size=256, lr=1e-3, optimizer="adam", seed=args.seed,
                                     log_every=1000), hooks=hooks, progress=False)


if __name__ == "__main__":
    main()
