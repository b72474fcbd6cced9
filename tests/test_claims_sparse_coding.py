"""Both ways for the sparse-coding experiment: hand-made sparse autoencoders whose dictionaries are known exactly
(the true features themselves, a rotation of them, latents silenced by a very negative encoder bias), measured by
the laboratory's own analysis (`lab.analyze`, i.e. `analysis.dictionary.evaluate` on held-out samples) and fed to
the experiment's analysis. The runs use the quick configs: 64 features in 32 dimensions, 32/64/128 latents."""

import math

import pandas as pd
import pytest
import torch
from claim_cases import BothWays

from superposition.experiments.sparse_coding import SPARSE_CODING, SWEEP_L1, TOY_L1, sparse_coding_configs
from superposition.lab import analyze, build_data
from superposition.models.sae import SparseAutoencoder
from superposition.runs import Run

CASES = BothWays()
CONFIGS = sparse_coding_configs(True)
SILENT = -100.0  # an encoder bias no input of norm ~1 overcomes: the latent never fires


def rotation(d: int, seed: int = 0) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(seed)))
    return q


def sae_run(config, truth, dictionaries, biases, gains=None) -> Run:
    """An SAE run whose instance k has decoder rows `dictionaries[k]`, encoder columns along the same rows (times
    `gains[k]`) and encoder bias `biases[k]` (one number per latent or per instance), measured like a trained run."""
    D = torch.stack([torch.nn.functional.normalize(d, dim=-1) for d in dictionaries])
    n, d_sae, d_in = D.shape
    gains = torch.ones(n) if gains is None else torch.tensor(gains)
    b_enc = torch.stack([torch.as_tensor(b, dtype=torch.float32).expand(d_sae) for b in biases])
    model = SparseAutoencoder.from_weights((D * gains[:, None, None]).transpose(1, 2).contiguous(),
                                           b_enc.contiguous(), torch.zeros(n, d_in), D.clone(), config=config.model)
    history = pd.DataFrame([(100, k, 0.1) for k in range(n)], columns=["step", "instance", "loss"])
    run = Run(config=config, model=model, history=history, truth=truth)
    run.metrics = analyze(run)
    return run


# -- the toy pentagon --------------------------------------------------------------------------------------------


def pentagon(turn: float = 0.0) -> torch.Tensor:
    t = torch.arange(5) * 2 * math.pi / 5 + turn
    return torch.stack([t.cos(), t.sin()], dim=-1)


def toy_run(exact: int | None) -> Run:
    """Six SAEs (one per L1) on a toy model storing five features as a regular pentagon; every dictionary is the
    pentagon turned by 36 degrees (each feature half-way between two latents, and each latent opposite a feature)
    except instance `exact`'s."""
    config = CONFIGS["toy"]
    W = pentagon()[None]
    truth = {"W": W, "true_features": W / W.norm(dim=-1, keepdim=True)}
    dictionaries = [pentagon() if k == exact else pentagon(math.pi / 5) for k in range(len(TOY_L1))]
    return sae_run(config, truth, dictionaries, biases=[-0.05] * len(TOY_L1))


# -- the synthetic sweep -----------------------------------------------------------------------------------------


def sphere_runs(*, rotated: bool = False, extra_fire_at_smallest_l1: bool = False,
                thresholds=(0.05, 0.2, 0.5), gains=(1.0, 1.0, 1.0)) -> dict[str, Run]:
    """The quick sweep (sizes 32, 64, 128 against 64 true features), one instance per L1 of SWEEP_L1.

    Below the feature count the dictionary holds the first d_sae true features; at and above it, all of them
    (turned by a random rotation when `rotated`), and past them copies of the features whose encoder bias is
    SILENT, so they never fire, except at the smallest L1 when `extra_fire_at_smallest_l1`. Instance k fires when
    gain_k * x·F_i exceeds thresholds[k]."""
    runs = {}
    for name, config in CONFIGS.items():
        if not name.startswith("sphere-"):
            continue
        true = build_data(config).true_features
        F = true[0]
        d_sae = config.model.d_sae
        n_true = F.shape[0]
        rows = F[:d_sae] if d_sae < n_true else torch.cat([F @ rotation(F.shape[1]) if rotated else F,
                                                           F[: d_sae - n_true]])
        biases = []
        for k, t in enumerate(thresholds):
            bias = torch.full((d_sae,), -t)
            if not (extra_fire_at_smallest_l1 and k == 0):
                bias[n_true:] = SILENT
            biases.append(bias)
        runs[name] = sae_run(config, {"true_features": true}, [rows] * len(SWEEP_L1), biases, gains=list(gains))
    return runs


def findings(*, exact_toy: int | None = 3, **sphere):
    return SPARSE_CODING.analyze({"toy": toy_run(exact_toy), **sphere_runs(**sphere)}, True)


@CASES.case("sae.toy-recovers-features", holds=True)
def one_dictionary_is_the_pentagon_itself():
    return findings()


@CASES.case("sae.toy-recovers-features", holds=False)
def every_dictionary_is_the_pentagon_turned_half_a_step():
    # each feature's best cosine is cos 36° = 0.809 at every L1
    return findings(exact_toy=None)


@CASES.case("sae.sphere-recovery-once-dictionary-covers", holds=True)
def dictionaries_that_cover_hold_every_true_feature():
    return findings()


@CASES.case("sae.sphere-recovery-once-dictionary-covers", holds=False)
def dictionaries_that_cover_hold_a_rotation_of_the_features():
    return findings(rotated=True)


@CASES.case("sae.dead-latents-past-dictionary-size", holds=True)
def latents_past_the_feature_count_never_fire():
    return findings()


@CASES.case("sae.dead-latents-past-dictionary-size", holds=False)
def at_the_smallest_l1_the_extra_latents_fire():
    return findings(extra_fire_at_smallest_l1=True)


@CASES.case("sae.l1-tradeoff", holds=True)
def a_higher_threshold_at_each_larger_l1():
    return findings()


@CASES.case("sae.l1-tradeoff", holds=False)
def sparser_at_the_largest_l1_but_not_shrunk():
    # instance 2 fires when x·F_i > 0.3 (fewer than instance 1's 0.2) but at 3 (x·F_i - 0.3): longer, not shorter
    return findings(thresholds=(0.05, 0.2, 0.9), gains=(1.0, 1.0, 3.0))


test_verdict = CASES.test()


def test_the_recovery_scores_of_the_hand_made_dictionaries():
    """The both-ways inputs are what they claim: exact dictionaries score 1 on every recovery measure, the turned
    pentagon cos 36° on the signed ones, and SAELens' uniqueness is capped at n_true / d_sae past the feature
    count."""
    toy = toy_run(exact=3).metrics
    assert list(toy.loc[3, ["mmcs", "matched_score", "mcc", "uniqueness"]]) == pytest.approx([1.0] * 4)
    assert list(toy.loc[0, ["mmcs", "matched_score"]]) == pytest.approx([math.cos(math.pi / 5)] * 2)
    # Turned by 36°, a regular pentagon is its own negative: every latent points against a feature. A ReLU code
    # (f >= 0) cannot rebuild the features from it, yet SAELens' |cos| score calls it perfect.
    assert toy.mcc[0] == pytest.approx(1.0)
    sweep = sphere_runs()
    full = sweep["sphere-128"].metrics
    assert list(full.mmcs) == pytest.approx([1.0] * 3) and list(full.mcc) == pytest.approx([1.0] * 3)
    assert (full.uniqueness == 0.5).all() and (full.dead_fraction == 0.5).all()
    assert (sweep["sphere-64"].metrics.dead_fraction == 0).all()
