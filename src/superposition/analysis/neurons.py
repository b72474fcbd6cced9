"""Neurons of models with a ReLU hidden layer (Elhage et al. 2022, "Superposition in a privileged basis" and
"Computation in superposition"): which features each neuron carries, and the asymmetric-superposition motif.

A hidden ReLU privileges the neuron basis, so features tend to align with neurons. With dense features every neuron
is monosemantic (one feature); as features get sparser some neurons become polysemantic, typically a "primary"
feature with a large weight plus "secondary" ones with smaller weights. In the abs task the paper finds one motif
beyond the plain |x| = ReLU(x) + ReLU(-x) neurons: *asymmetric superposition with inhibition* (see
`find_asymmetric_inhibition`).

Every function takes the stored input weights `W1` `[n_instances, n_features, n_hidden]` (hidden = ReLU(x @ W1[k]);
the neuron model's `W` works the same way) and, where outputs matter, `W2` `[n_instances, n_hidden, n_features]`.

>>> import torch
>>> W1 = torch.tensor([[[1.0, 0.7, 0.0], [0.0, 0.7, 0.0]]])  # neuron 0: feature 0 only; 1: both; 2: no weight
>>> classify_neurons(W1)
[['monosemantic', 'polysemantic', 'dead']]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

# A weight vector lies along one basis direction when max|w| / ||w|| is at or above this: the largest entry carries
# >= 96% of the squared weight (a single other entry is then below 0.2 of it). One notion, read both ways, because
# the paper's "dedicated neuron" is one picture of W: a neuron is monosemantic when its input weights lie along one
# feature, and a feature aligns with a neuron when its hidden direction lies along one neuron. The value comes from
# the paper's own example: the asymmetric-superposition neuron (weights 2 and -1/2, ratio 0.97) "stores" two
# features, so a second weight a quarter of the first must count; two equal weights give 0.71.
ALIGNED = 0.98
# A neuron whose input weight norm is below this is dead: inputs are O(1), so its activation stays under 1% of a
# feature's value (and exactly 0 for a neuron the optimiser has zeroed).
DEAD_NORM = 0.01
# A neuron carries feature i through to its output when its gain |W1[i, n]| * W2[n, i] (the share of |x_i| it passes
# to output i) reaches this. The construction has gain 1 per neuron, as do both features of the paper's asymmetric
# pair (2 x 1/2); leftover noise weights give gains near 0. Invariant to scaling a neuron's input by c, output by 1/c.
CARRY_GAIN = 0.25
# A feature is computed when, on at least one side of 0, the gains of the neurons firing there sum to this: at least
# half of |x_i| reaches output i. Summed because dense models split important features over several neurons.
COMPUTED_GAIN = 0.5
# Asymmetric superposition: the weak feature's input weight is at most this fraction of the strong one's, and the
# strong feature's output weight at most this fraction of the weak one's (sizes flipped). The paper's example has
# 1/4 both ways; equal weights (plain symmetric superposition) are excluded.
ASYMMETRY_RATIO = 0.5
# Inhibition: another neuron, firing on the same side of the strong feature, writes negatively onto the weak
# feature's output and cancels at least this fraction of the shared neuron's leak there.
INHIBITION_FRACTION = 0.5

MONOSEMANTIC, POLYSEMANTIC, DEAD = "monosemantic", "polysemantic", "dead"


def neuron_weights(W1: Float[Tensor, "inst feat hidden"]) -> Float[Tensor, "inst hidden feat"]:
    """Each neuron's input weights per feature (row n = the weights feature i -> neuron n), detached."""
    return W1.detach().transpose(-1, -2)


def dead_neurons(
    W1: Float[Tensor, "inst feat hidden"], dead_norm: float = DEAD_NORM, nonnegative_inputs: bool = False
) -> Bool[Tensor, "inst hidden"]:
    """Neurons with (almost) no input weight. With `nonnegative_inputs` (the neuron model's x in [0, 1]) a neuron
    with no positive weight never fires, so only the positive part of its weights counts."""
    w = neuron_weights(W1)
    return (w.clamp_min(0) if nonnegative_inputs else w).norm(dim=-1) < dead_norm


def primary_feature(W1: Float[Tensor, "inst feat hidden"]) -> Int[Tensor, "inst hidden"]:
    """The feature with the largest |weight| into each neuron (the neuron's "primary" feature)."""
    return neuron_weights(W1).abs().argmax(dim=-1)


def _alignment(w: Float[Tensor, "inst row col"]) -> Float[Tensor, "inst row"]:
    """max |w| / ||w|| of each row: 1 along one basis direction, 1/sqrt(k) for k equal entries, 0 with no weight."""
    norm = w.norm(dim=-1)
    return torch.where(norm > 0, w.abs().amax(dim=-1) / norm.clamp_min(1e-30), torch.zeros_like(norm))


def monosemanticity(W1: Float[Tensor, "inst feat hidden"]) -> Float[Tensor, "inst hidden"]:
    """max_i |w_i| / ||w|| per neuron: 1 when one feature drives it, 1/sqrt(k) for k equal weights, 0 with no weight."""
    return _alignment(neuron_weights(W1))


def feature_alignment(W1: Float[Tensor, "inst feat hidden"]) -> Float[Tensor, "inst feat"]:
    """max_n |W1[i, n]| / ||W1[i]|| per feature: 1 when the feature reads a single neuron, 0 with no weight."""
    return _alignment(W1.detach())


def classify_neurons(
    W1: Float[Tensor, "inst feat hidden"],
    threshold: float = ALIGNED,
    dead_norm: float = DEAD_NORM,
    nonnegative_inputs: bool = False,
) -> list[list[str]]:
    """A label per instance and neuron: "monosemantic" (monosemanticity >= threshold), "polysemantic", or "dead"."""
    mono = monosemanticity(W1) >= threshold
    dead = dead_neurons(W1, dead_norm, nonnegative_inputs)
    return [
        [DEAD if d else MONOSEMANTIC if m else POLYSEMANTIC for d, m in zip(dead_k, mono_k)]
        for dead_k, mono_k in zip(dead.tolist(), mono.tolist())
    ]


def polysemantic_count(
    W1: Float[Tensor, "inst feat hidden"],
    threshold: float = ALIGNED,
    dead_norm: float = DEAD_NORM,
    nonnegative_inputs: bool = False,
) -> Int[Tensor, "inst"]:
    """How many live neurons of each instance are polysemantic."""
    poly = (monosemanticity(W1) < threshold) & ~dead_neurons(W1, dead_norm, nonnegative_inputs)
    return poly.sum(dim=-1)


def neuron_order(
    W1: Float[Tensor, "inst feat hidden"],
    importance: Float[Tensor, "inst feat"] | Float[Tensor, " feat"],
    dead_norm: float = DEAD_NORM,
    nonnegative_inputs: bool = False,
) -> Int[Tensor, "inst hidden"]:
    """Neuron indices per instance in the paper's figure order: by the importance of each neuron's primary feature,
    most important first; ties by feature index (keeping a feature's neurons together), then neuron index; dead
    neurons last."""
    n_inst = W1.shape[0]
    imp = importance.expand(n_inst, -1) if importance.ndim == 1 else importance
    primary = primary_feature(W1)
    dead = dead_neurons(W1, dead_norm, nonnegative_inputs)
    key_imp = torch.gather(imp.to(W1.device), 1, primary)
    rows = []
    for k in range(n_inst):
        d, p, i = dead[k].tolist(), primary[k].tolist(), key_imp[k].tolist()
        rows.append(sorted(range(W1.shape[2]), key=lambda n: (d[n], -i[n], p[n], n)))
    return torch.tensor(rows, dtype=torch.long, device=W1.device).reshape(n_inst, W1.shape[2])


def _decoder(W1: Tensor, W2: Tensor | None) -> Tensor:
    # The neuron model is tied: its decoder is W^T.
    return W1.transpose(-1, -2) if W2 is None else W2


def feature_gains(
    W1: Float[Tensor, "inst feat hidden"], W2: Float[Tensor, "inst hidden feat"] | None = None
) -> Float[Tensor, "inst hidden feat"]:
    """|W1[i, n]| * W2[n, i]: the share of |x_i| neuron n passes to output i, on the side of x_i it fires for.
    `W2=None` means the tied neuron model (decoder W^T)."""
    return neuron_weights(W1).abs() * _decoder(W1, W2).detach()


def side_gains(
    W1: Float[Tensor, "inst feat hidden"], W2: Float[Tensor, "inst hidden feat"] | None = None
) -> Float[Tensor, "inst 2 feat"]:
    """Output i per unit |x_i| with only feature i active, before the output bias and ReLU: index 0 for x_i > 0 (the
    neurons with positive weight from i fire), 1 for x_i < 0. The construction gives 1 on both sides."""
    w = neuron_weights(W1)
    gains = feature_gains(W1, W2)
    return torch.stack([(gains * (w > 0)).sum(dim=1), (gains * (w < 0)).sum(dim=1)], dim=1)


def computed_features(
    W1: Float[Tensor, "inst feat hidden"],
    W2: Float[Tensor, "inst hidden feat"] | None = None,
    min_gain: float = COMPUTED_GAIN,
) -> Bool[Tensor, "inst feat"]:
    """Features whose neurons pass at least `min_gain` of |x_i| to output i on at least one side of 0."""
    return (side_gains(W1, W2) >= min_gain).any(dim=1)


@dataclass(frozen=True)
class AsymmetricMotif:
    """One instance of asymmetric superposition with inhibition (see `find_asymmetric_inhibition`).

    Feature `strong` enters the shared neuron with a large weight and leaves it with a small one; feature `weak`
    the other way round. `leak` is what the shared neuron writes onto the weak feature's output per unit of the
    strong feature; `inhibition` (negative) is what the inhibiting neuron writes there; `residual` is output
    `weak`'s value when the strong feature alone is 1 (on the shared neuron's side), all neurons and the bias
    included: about 0 when the inhibition works.
    """

    instance: int
    neuron: int
    strong: int
    weak: int
    inhibitor: int
    w_in_strong: float  # W1[strong, neuron]
    w_in_weak: float  # W1[weak, neuron]
    w_out_strong: float  # W2[neuron, strong]
    w_out_weak: float  # W2[neuron, weak]
    inhibitor_in: float  # W1[strong, inhibitor]
    inhibitor_out: float  # W2[inhibitor, weak]
    leak: float
    inhibition: float
    residual: float

    @property
    def features(self) -> tuple[int, int]:
        return (self.strong, self.weak)


def find_asymmetric_inhibition(
    W1: Float[Tensor, "inst feat hidden"],
    W2: Float[Tensor, "inst hidden feat"],
    b: Float[Tensor, "inst feat"] | None = None,
    asymmetry: float = ASYMMETRY_RATIO,
    min_gain: float = CARRY_GAIN,
    inhibition: float = INHIBITION_FRACTION,
    dead_norm: float = DEAD_NORM,
) -> list[AsymmetricMotif]:
    """Find the paper's "asymmetric superposition with inhibition" motif.

    In the paper a neuron stores two features with unequal weights (e.g. W1 = [2, -1/2]) and reads them out with
    reciprocal weights (W2 = [1/2, 2]): each feature alone is computed correctly, the weak feature barely
    interferes with the strong one's output, but the strong one leaks heavily into the weak one's output (2 x 2 = 4).
    A second neuron, active when the strong feature is, has a large negative weight onto the weak feature's output,
    turning that positive interference into negative interference, which the output ReLU removes.

    Rule, per instance, live neuron n and ordered pair of features (a = strong, b = weak):
      1. n carries both: |W1[a, n]| W2[n, a] >= min_gain and |W1[b, n]| W2[n, b] >= min_gain;
      2. asymmetric inputs: |W1[b, n]| <= asymmetry * |W1[a, n]|;
      3. sizes flipped on the output: W2[n, a] <= asymmetry * W2[n, b];
      4. inhibition: among live neurons n' != n with W1[a, n'] of the same sign as W1[a, n] (so n' fires whenever
         a drives n), the one with the most negative c = |W1[a, n']| W2[n', b] has
         -c >= inhibition * leak, where leak = |W1[a, n]| W2[n, b].
    The signs of the two input weights are free (the paper's example has opposite signs; each neuron serves one side
    of |x| per feature, so either pairing works). `b` only enters the reported `residual`.
    One record per (instance, n, a, b) that passes, naming the strongest inhibitor.
    """
    W1, W2 = W1.detach(), W2.detach()
    bias = torch.zeros(W1.shape[0], W1.shape[1], device=W1.device) if b is None else b.detach()
    w_in = neuron_weights(W1)  # [inst, hidden, feat]
    a_in = w_in.abs()
    gain = a_in * W2
    live = ~dead_neurons(W1, dead_norm)
    carries = (gain >= min_gain) & live[:, :, None]  # [inst, hidden, feat]
    # cand[k, n, a, b]: conditions 1-3; a == b fails condition 2 automatically (asymmetry < 1, weights nonzero).
    cand = (
        carries[:, :, :, None]
        & carries[:, :, None, :]
        & (a_in[:, :, None, :] <= asymmetry * a_in[:, :, :, None])
        & (W2[:, :, :, None] <= asymmetry * W2[:, :, None, :])
    )
    motifs = []
    for k, n, a, bf in cand.nonzero().tolist():
        side = torch.sign(w_in[k, n, a])
        leak = float(a_in[k, n, a] * W2[k, n, bf])
        # Contribution of every neuron to output b per unit of feature a on the side that drives n.
        contrib = a_in[k, :, a] * W2[k, :, bf]
        fires = torch.sign(w_in[k, :, a]) == side
        others = fires & live[k]
        others[n] = False
        if not others.any():
            continue
        c = torch.where(others, contrib, torch.full_like(contrib, float("inf")))
        m = int(c.argmin())
        if -float(c[m]) < inhibition * leak:
            continue
        residual = float(torch.relu((contrib * fires).sum() + bias[k, bf]))
        motifs.append(
            AsymmetricMotif(
                instance=k,
                neuron=n,
                strong=a,
                weak=bf,
                inhibitor=m,
                w_in_strong=float(w_in[k, n, a]),
                w_in_weak=float(w_in[k, n, bf]),
                w_out_strong=float(W2[k, n, a]),
                w_out_weak=float(W2[k, n, bf]),
                inhibitor_in=float(w_in[k, m, a]),
                inhibitor_out=float(W2[k, m, bf]),
                leak=leak,
                inhibition=float(c[m]),
                residual=residual,
            )
        )
    return motifs


def describe_motif(motif: AsymmetricMotif) -> str:
    """One line, e.g. "instance 0: neuron 3 stores feature 1 (in 2.00, out 0.50) and feature 4 (in -0.50,
    out 2.00); neuron 7 inhibits output 4 when feature 1 is on (in 1.00, out -4.00): leak 4.00, inhibition -4.00"."""
    m = motif
    return (
        f"instance {m.instance}: neuron {m.neuron} stores feature {m.strong} (in {m.w_in_strong:.2f}, "
        f"out {m.w_out_strong:.2f}) and feature {m.weak} (in {m.w_in_weak:.2f}, out {m.w_out_weak:.2f}); "
        f"neuron {m.inhibitor} inhibits output {m.weak} when feature {m.strong} is on (in {m.inhibitor_in:.2f}, "
        f"out {m.inhibitor_out:.2f}): leak {m.leak:.2f}, inhibition {m.inhibition:.2f}, residual {m.residual:.2f}"
    )


@dataclass
class NeuronSummary:
    """Per instance: neuron counts by label, the features some neuron computes, and the motifs found."""

    instance: int
    monosemantic: int
    polysemantic: int
    dead: int
    features_computed: list[int]
    motifs: list[AsymmetricMotif] = field(default_factory=list)

    def as_dict(self) -> dict:
        """Plain types only, for JSON."""
        out = asdict(self)
        out["n_features_computed"] = len(self.features_computed)
        return out


def summarize_neurons(
    W1: Float[Tensor, "inst feat hidden"],
    W2: Float[Tensor, "inst hidden feat"] | None = None,
    b: Float[Tensor, "inst feat"] | None = None,
    threshold: float = ALIGNED,
    nonnegative_inputs: bool = False,
) -> list[NeuronSummary]:
    """One summary per instance. `W2=None` is the tied neuron model (no motif search: it has no separate output
    weights); pass `nonnegative_inputs=True` for its x in [0, 1]."""
    W1 = W1.detach()
    labels = classify_neurons(W1, threshold, nonnegative_inputs=nonnegative_inputs)
    computed = computed_features(W1, W2)
    motifs = find_asymmetric_inhibition(W1, W2, b) if W2 is not None else []
    return [
        NeuronSummary(
            instance=k,
            monosemantic=row.count(MONOSEMANTIC),
            polysemantic=row.count(POLYSEMANTIC),
            dead=row.count(DEAD),
            features_computed=computed[k].nonzero().flatten().tolist(),
            motifs=[m for m in motifs if m.instance == k],
        )
        for k, row in enumerate(labels)
    ]
