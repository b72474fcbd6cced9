"""How often the llc-kgons claims hold under other seeds (experiments/llc.py).

The report runs devinterp's sampler once, with seed 0 (the one-hot samples and the chains). This repeats the whole
estimate with other seeds and prints each seed's λ̂ per k-gon and the verdict of every LLC claim, to show how much
of a verdict is chain noise.

    python investigations/llc_kgons_seeds.py [--seeds 1,2,3] [--chains 4] [--draws 1000]
"""

import argparse
from dataclasses import replace

from superposition.experiments.llc import LABELS, PAPER_LOSS, SAMPLER, kgon_run, llc_claims, llc_estimates


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument("--chains", type=int, default=SAMPLER.chains)
    parser.add_argument("--draws", type=int, default=SAMPLER.draws)
    args = parser.parse_args()
    run = kgon_run()
    for seed in map(int, args.seeds.split(",")):
        settings = replace(SAMPLER, seed=seed, chains=args.chains, draws=args.draws)
        estimates = llc_estimates(run, settings)
        llc = {p: (e.llc_mean, e.llc_std) for p, e in estimates.items()}
        verdicts = " ".join(f"{c.id.removeprefix('llc.')}={'yes' if c.reproduced else 'NO'}"
                            for c in llc_claims(llc, PAPER_LOSS))
        values = ", ".join(f"{LABELS[p]} {m:.2f}±{s:.2f}" for p, (m, s) in llc.items())
        print(f"seed {seed} ({settings.chains}x{settings.draws}): {values} | {verdicts}", flush=True)


if __name__ == "__main__":
    main()
