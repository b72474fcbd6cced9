"""Why the walk-through's sign-based readings do not reproduce in its own setting (Gaussian inputs, cosine schedule).

With inputs whose every feature is symmetric (x_j and -x_j have the same law), replacing W_j by -W_j leaves the
expected loss unchanged: each feature's error term keeps its law under a sign change of x_j (or of all x_k, k != j).
So the sign of a dot product W_i . W_j is not chosen by the loss but by the initialisation. This script trains the
experiment's ReLU setting (n = 5, m = 2, importance 0.9^i, N(0, 1) magnitudes, AdamW lr 1e-3, cosine schedule,
10,000 steps of batch 1024) with SEEDS instances at S = 0.5 and at S = 0.9 and prints:

1. the loss of each S = 0.5 instance and of the same weights with feature 0's partner flipped, on one large sample
   (the paired difference and its standard error);
2. at S = 0.5, the sign of feature 0's interference sum_{j != 0} W_0 . W_j against the sign of b_0;
3. at S = 0.5, how the weak features group with features 0 and 1, the top two norms of each grouping (the order
   ||W_0|| > ||W_1|| depends on it) and its mean loss;
4. at S = 0.9, how often W_2 . W_0 and W_2 . W_1 are both below -0.1 (the walk-through's feature 2).

    python investigations/walkthrough_sign_symmetry.py [--seeds 24] [--chunks 64]

The experiment's notes quote the defaults (on a loaded machine the script took 13 minutes; the trained run is
kept under --cache, so later calls only evaluate).
"""

import argparse
from collections import Counter
from pathlib import Path

import torch

from superposition import load_run, train_run
from superposition.analysis.metrics import cosines, feature_norms, interference, wtw
from superposition.data import FeatureData
from superposition.experiments.walkthrough import HALF, NOTABLE, SPARSE, _cfg, groups
from superposition.models import ToyModel

parser = argparse.ArgumentParser()
parser.add_argument("--seeds", type=int, default=24)
parser.add_argument("--samples", type=int, default=1 << 18)
parser.add_argument("--chunks", type=int, default=64, help="samples x chunks inputs for the losses of part 3")
parser.add_argument("--cache", default="/tmp/walkthrough-sign-symmetry", help="where the trained run is kept")
args = parser.parse_args()
S = args.seeds

config = _cfg("relu", [1 - s for s in (HALF, SPARSE) for _ in range(S)], quick=False)
cache = Path(args.cache) / f"seeds{S}"
run = load_run(cache) if cache.exists() else train_run(config, cache, progress=False)
W, b = run.W.detach(), run.b.detach()
half, sparse = list(range(S)), list(range(S, 2 * S))

# 1. The loss is blind to the sign of feature 0's partner: flip it and evaluate on the same inputs.
C = cosines(W)
flipped = W.clone()
for k in half:
    partners = [j for j in range(1, 5) if C[k, 0, j].abs() > 0.99]
    if partners:
        flipped[k, partners[0]] *= -1
batch = FeatureData(config.data).sample(args.samples, torch.Generator().manual_seed(123))
# One draw of S = 0.5 inputs shared by every S = 0.5 instance: losses compare across instances too.
x, weight = batch.x[:1].expand(S, -1, -1), batch.weight[:S]
per_sample = []
for weights in (W[half], flipped[half]):
    model = ToyModel.from_weights(weights, b[half])
    with torch.no_grad():
        per_sample.append((weight * (model(x) - x).square()).mean(-1))  # [inst, samples]
diff = per_sample[1] - per_sample[0]
print(f"1. loss at S = {HALF} with feature 0's partner flipped (one sample of {args.samples} inputs for all):")
worst = 0.0
for k in half:
    se = float(diff[k].std() / args.samples**0.5)
    z = float(diff[k].mean()) / se if se > 0 else 0.0
    worst = max(worst, abs(z))
    print(f"   instance {k}: loss {float(per_sample[0][k].mean()):.5f} -> {float(per_sample[1][k].mean()):.5f}, "
          f"difference {float(diff[k].mean()):+.2e} ± {se:.1e} ({z:+.1f} se)")
print(f"   largest |difference| / se: {worst:.1f}")

# 2. The sign of the interference is a coin flip; b_0 is negative regardless.
interf, b0 = interference(W)[half, 0], b[half, 0]
print(f"2. S = {HALF}: feature 0's interference > 0 in {int((interf > 0).sum())} of {S}, < 0 in "
      f"{int((interf < 0).sum())}; b_0 < 0 in {int((b0 < 0).sum())} of {S} "
      f"({int(((interf < 0) & (b0 < 0)).sum())} of them with negative interference)")

# 3. Which weak features ride with features 0 and 1, and the top two norms for each arrangement.
norms = feature_norms(W)
by_grouping: dict[str, list[int]] = {}
for k in half:
    by_grouping.setdefault("; ".join(map(str, groups(W[k]))), []).append(k)
# Each arrangement's loss, on common inputs (chunks of fresh samples): per chunk, the mean over the arrangement's
# instances minus that of the walk-through's arrangement; the spread over chunks gives the standard error.
model = ToyModel.from_weights(W[half], b[half])
data, gen = FeatureData(config.data), torch.Generator().manual_seed(7)
chunk_losses = []
for _ in range(args.chunks):
    batch = data.sample(args.samples, gen)
    xc = batch.x[:1].expand(S, -1, -1)
    with torch.no_grad():
        chunk_losses.append((batch.weight[:S] * (model(xc) - xc).square()).mean((-1, -2)))  # [inst]
L = torch.stack(chunk_losses)  # [chunks, inst]
ref = by_grouping.get("[0, 3]; [1, 2, 4]")
print(f"3. S = {HALF}: groupings (features sharing a direction), ||W_0||, ||W_1||, and each one's loss on "
      f"{args.chunks} x {args.samples} common inputs, against the walk-through's [0, 3]; [1, 2, 4]:")
for key, ks in sorted(by_grouping.items(), key=lambda kv: -len(kv[1])):
    order = sum(bool(norms[k, 0] > norms[k, 1]) for k in ks)
    vs = ""
    if ref:
        d = L[:, ks].mean(1) - L[:, ref].mean(1)
        vs = f" ({float(d.mean()):+.1e} ± {float(d.std() / args.chunks**0.5):.0e})"
    print(f"   {key}: {len(ks)} instances, ||W_0|| > ||W_1|| in {order}, loss {float(L[:, ks].mean()):.5f}{vs}; "
          f"{[(round(float(norms[k, 0]), 4), round(float(norms[k, 1]), 4)) for k in ks]}")
weak = (norms[half, 2] > norms[half, 3]) & (norms[half, 3] > norms[half, 4])
print(f"   ||W_2|| > ||W_3|| > ||W_4|| in {int(weak.sum())} of {S}")

# 4. Feature 2 at S = 0.9: signs of its dot products with features 0 and 1.
G = wtw(W)
signs = Counter((("-" if G[k, 2, 0] < -NOTABLE else "+" if G[k, 2, 0] > NOTABLE else "0")
                 + ("-" if G[k, 2, 1] < -NOTABLE else "+" if G[k, 2, 1] > NOTABLE else "0")) for k in sparse)
print(f"4. S = {SPARSE}: signs of (W_2 . W_0, W_2 . W_1) beyond ±{NOTABLE:g}: {dict(sorted(signs.items()))} "
      f"(both negative: {signs['--']} of {S})")
