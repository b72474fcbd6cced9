"""How devinterp's LLC estimates of the k-gons (experiments/llc.py) depend on the chain length and on the data.

The report's sampler (SAMPLER: 4 chains of 1200 SGLD steps, step 1.5e-4, nβ for n = 5000 on the paper's loss,
localization 0.1, the population loss through quadrature points) is limited by the report's time. This runs the same
sampler with other chain lengths, or (--one-hot) on 5000 random one-hot samples as the paper's n = 5000 suggests,
and prints devinterp's estimate (the mean over every step), the same estimate over the second half of each chain
only, and each chain's estimate.

    python investigations/llc_kgons_chains.py [--draws 1200,4800] [--points 5,6,5+] [--one-hot]
"""

import argparse
from dataclasses import replace

import torch

from superposition.experiments.llc import LABELS, N_SAMPLES, SAMPLER, kgon_run, llc_estimates, one_hot_samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--draws", default="1200,4800")
    parser.add_argument("--points", default="5,6,5+")
    parser.add_argument("--chains", type=int, default=SAMPLER.chains)
    parser.add_argument("--seed", type=int, default=SAMPLER.seed)
    parser.add_argument("--one-hot", action="store_true", help=f"{N_SAMPLES} random one-hot samples as the data")
    args = parser.parse_args()
    run = kgon_run()
    for draws in map(int, args.draws.split(",")):
        settings = replace(SAMPLER, draws=draws, chains=args.chains, seed=args.seed)
        samples = None
        if args.one_hot:
            settings = replace(settings, samples=N_SAMPLES)
            samples = one_hot_samples(N_SAMPLES, args.seed)
        estimates = llc_estimates(run, settings, samples, only=args.points.split(","))
        for p, e in estimates.items():
            trace = torch.tensor(e.loss_trace)
            late = settings.beta_n * float(trace[:, trace.shape[1] // 2:].mean() - e.init_loss)
            print(f"{'one-hot' if args.one_hot else 'quadrature'} draws {draws} {LABELS[p]:7s} "
                  f"λ̂ {e.llc_mean:5.2f} ± {e.llc_std:4.2f} second half {late:5.2f} "
                  f"chains {[round(v, 2) for v in e.llc_per_chain]}", flush=True)


if __name__ == "__main__":
    main()
