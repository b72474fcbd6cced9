import itertools
import math

import pandas as pd
import pytest
import torch

from superposition.analysis.dictionary import (
    dead_fraction,
    dead_latents,
    evaluate,
    explained_variance,
    l0,
    matched_score,
    matching,
    mcc,
    mmcs,
    shrinkage,
    uniqueness,
)
from superposition.config import DataConfig, TrainConfig, validate
from superposition.data import FeatureData
from superposition.data.sphere import HiddenActivations, SphereFeatures
from superposition.errors import ConfigError
from superposition.models.sae import SAEConfig, SparseAutoencoder, sae_hooks
from superposition.train import train


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class Orthogonal:
    """`n` orthonormal features in R^d (a random rotation), each active with probability p, magnitude U[0, 1)."""

    def __init__(self, n=3, d=4, p=0.2, seed=0):
        q, _ = torch.linalg.qr(torch.randn(d, d, generator=gen(seed)))
        self.true_features = q[:n][None]  # [1, n, d]
        self.p = p

    def sample(self, batch_size, generator):
        u = torch.rand(1, batch_size, self.true_features.shape[1], generator=generator)
        c = torch.where(u < self.p, u / self.p, 0.0)
        return c @ self.true_features


# -- metrics on hand-made cases -----------------------------------------------------------------------------------


def test_recovery_scores_of_hand_made_dictionaries():
    true = torch.eye(3)[None]
    perm = true[:, [2, 0, 1]]
    assert mmcs(true, true).item() == pytest.approx(1.0)
    assert matched_score(perm, true).item() == pytest.approx(1.0)
    assert matching(perm, true).tolist() == [[1, 2, 0]]
    # Two copies of e0 and a latent between e1 and e2: max-cosine lets e0 count twice, matching does not.
    s = 2**-0.5
    learned = torch.tensor([[[1.0, 0, 0], [1.0, 0, 0], [0, s, s]]])
    assert mmcs(learned, true).item() == pytest.approx((1 + s + s) / 3, abs=1e-6)
    assert matched_score(learned, true).item() == pytest.approx((1 + s + 0) / 3, abs=1e-6)
    # Fewer latents than features: the unmatched features count 0.
    assert matched_score(torch.tensor([[[0.0, 2.0, 0.0]]]), true).item() == pytest.approx(1 / 3)
    # The sign matters: an antipodal latent is the worst possible.
    assert mmcs(-true[:, :1], true[:, :1]).item() == pytest.approx(-1.0)


def test_saelens_mcc_and_uniqueness_by_hand():
    true = torch.eye(3)[None]
    s = 2**-0.5
    # Antipodal latents: |cos| calls them perfect; the signed one-to-one score prefers orthogonal pairs (0).
    assert mcc(-true, true).item() == pytest.approx(1.0)
    assert matched_score(-true, true).item() == pytest.approx(0.0)
    # e0 twice and a latent between e1 and e2. |cos| (features x latents) = [[1, 1, 0], [0, 0, s], [0, 0, s]]: the
    # best pairing takes 1 + s + 0. Each latent's best feature: e0, e0, e1 (a tie, the first wins): 2 of 3 distinct.
    learned = torch.tensor([[[1.0, 0, 0], [1.0, 0, 0], [0, s, s]]])
    assert mcc(learned, true).item() == pytest.approx((1 + s) / 3, abs=1e-6)
    assert uniqueness(learned, true).item() == pytest.approx(2 / 3)
    # One latent for three features: SAELens averages over the one matched pair, we count the other two as 0.
    one = torch.tensor([[[0.0, -3.0, 4.0]]])  # cos -0.6 with e1, 0.8 with e2
    assert mcc(one, true).item() == pytest.approx(0.8)
    assert matched_score(one, true).item() == pytest.approx(0.8 / 3)
    assert uniqueness(one, true).item() == 1.0
    # Twice as many latents as features: each feature found twice gives mcc 1 but uniqueness only 1/2.
    assert mcc(torch.cat([true, -true], dim=1), true).item() == pytest.approx(1.0)
    assert uniqueness(torch.cat([true, 2 * true], dim=1), true).item() == 0.5
    # Instances are scored apart, against a broadcast truth.
    assert mcc(torch.cat([true, -true]), true).tolist() == pytest.approx([1.0, 1.0])
    assert uniqueness(torch.cat([true, learned]), true).tolist() == pytest.approx([1.0, 2 / 3])


def test_mcc_is_the_best_one_to_one_pairing():
    # Against every injective pairing of 3 features into 4 latents, enumerated (no Hungarian algorithm).
    learned = torch.randn(1, 4, 5, generator=gen(0))
    true = torch.randn(1, 3, 5, generator=gen(1))
    cos = torch.nn.functional.normalize(true[0], dim=-1) @ torch.nn.functional.normalize(learned[0], dim=-1).T
    best = max(sum(cos[i, j].abs() for i, j in enumerate(p)) for p in itertools.permutations(range(4), 3))
    assert mcc(learned, true).item() == pytest.approx(best.item() / 3, abs=1e-6)
    signed = max(sum(cos[i, j] for i, j in enumerate(p)) for p in itertools.permutations(range(4), 3))
    assert matched_score(learned, true).item() == pytest.approx(signed.item() / 3, abs=1e-6)


def test_random_dictionary_scores_low_and_true_one_broadcasts():
    true = torch.nn.functional.normalize(torch.randn(1, 32, 64, generator=gen(0)), dim=-1)
    learned = torch.randn(3, 32, 64, generator=gen(1))
    assert (mmcs(learned, true) < 0.6).all()
    assert (matched_score(learned, true) < mmcs(learned, true)).all()
    scaled = torch.cat([true * 3.0, learned[:1]], dim=1)  # norms do not matter, extra latents do not hurt
    assert mmcs(scaled, true).item() == pytest.approx(1.0)
    assert matched_score(scaled, true).item() == pytest.approx(1.0)


def test_reconstruction_metrics_by_hand():
    x = torch.tensor([[[1.0, 0.0], [3.0, 2.0], [2.0, 4.0]]])
    assert explained_variance(x, x).item() == pytest.approx(1.0)
    mean = x.mean(dim=1, keepdim=True).expand_as(x)
    assert explained_variance(x, mean).item() == pytest.approx(0.0, abs=1e-6)
    # sum ||x - mean||^2 = (1 + 1 + 0) + (4 + 0 + 4) = 10; error 0.5^2 on each of 6 entries = 1.5.
    assert explained_variance(x, x + 0.5).item() == pytest.approx(1 - 1.5 / 10)
    assert shrinkage(x, 0.5 * x).item() == pytest.approx(0.5)
    with_zero = torch.cat([x, torch.zeros(1, 1, 2)], dim=1)
    assert shrinkage(with_zero, torch.cat([x, torch.ones(1, 1, 2)], dim=1)).item() == pytest.approx(1.0)
    f = torch.tensor([[[0.0, 1.0, 0.0, 2.0], [0.0, 0.0, 0.0, 5.0], [3.0, 1.0, 0.0, 1.0]]])
    assert l0(f).item() == pytest.approx(2.0)  # 2 + 1 + 3 nonzero over 3 samples
    assert dead_latents(f).tolist() == [[False, False, True, False]]
    assert dead_fraction(f).item() == pytest.approx(0.25)


# -- the model ----------------------------------------------------------------------------------------------------


def hand_sae(**cfg) -> SparseAutoencoder:
    """d_in = d_sae = 2 with the identity as encoder and decoder."""
    config = SAEConfig(d_sae=2, **cfg)
    eye = torch.eye(2)[None]
    return SparseAutoencoder.from_weights(
        W_enc=eye, b_enc=torch.tensor([[-0.25, -0.25]]), b_dec=torch.zeros(1, 2),
        W_dec=None if config.tied else eye, config=config,
    )


@pytest.mark.parametrize("tied", [False, True])
def test_loss_by_hand(tied):
    sae = hand_sae(l1=0.1, tied=tied)
    x = torch.tensor([[[1.0, 0.5], [0.0, 0.0]]])
    # f = relu(x - 0.25) = [0.75, 0.25]; x_hat = f; error 2 * 0.25^2 = 0.125; L1 0.1 * 1.0. The zero sample costs
    # nothing, and halves the batch mean.
    assert sae.encode(x).tolist() == [[[0.75, 0.25], [0.0, 0.0]]]
    assert sae.loss(x).item() == pytest.approx((0.125 + 0.1) / 2)
    topk = hand_sae(activation="topk", k=1, tied=tied)
    # Only the larger latent survives: x_hat = [0.75, 0]; error 0.25^2 + 0.5^2, and no L1 term.
    assert topk.encode(x).tolist() == [[[0.75, 0.0], [0.0, 0.0]]]
    assert topk.loss(x).item() == pytest.approx((0.0625 + 0.25) / 2)


def test_per_instance_l1_and_a_shared_input_stream():
    sae = SparseAutoencoder(SAEConfig(d_sae=6, l1=[0.0, 0.5]), d_in=3, n_instances=2, generator=gen(0))
    with torch.no_grad():
        sae.W_enc[1] = sae.W_enc[0]
        sae.W_dec[1] = sae.W_dec[0]
    x = torch.rand(1, 32, 3, generator=gen(1))  # one stream for both instances
    loss = sae.loss(x)
    l1_norm = sae.encode(x)[0].sum(dim=-1).mean()
    assert l1_norm > 0
    assert (loss[1] - loss[0]).item() == pytest.approx(0.5 * l1_norm.item(), rel=1e-5)
    with pytest.raises(ConfigError, match="l1 has 2 values but the autoencoder has 3 instances"):
        SparseAutoencoder(SAEConfig(d_sae=6, l1=[0.0, 0.5]), d_in=3, n_instances=3)


def test_topk_keeps_exactly_the_k_largest():
    sae = SparseAutoencoder(SAEConfig(d_sae=16, activation="topk", k=3), d_in=8, n_instances=2, generator=gen(0))
    with torch.no_grad():
        sae.b_enc.fill_(10.0)  # every pre-activation positive: exactly k survive
    x = torch.randn(2, 50, 8, generator=gen(1))
    f, pre = sae.encode(x), sae.pre_activations(x)
    assert ((f != 0).sum(dim=-1) == 3).all()
    kept = torch.where(f != 0, pre, torch.inf).amin(dim=-1)
    dropped = torch.where(f == 0, pre, -torch.inf).amax(dim=-1)
    assert (kept > dropped).all()
    assert torch.equal(f[f != 0], pre[f != 0])
    with torch.no_grad():
        sae.b_enc.fill_(0.0)
    assert ((sae.encode(x) != 0).sum(dim=-1) <= 3).all()  # ReLU first: never more than k


@pytest.mark.parametrize("tied", [False, True])
def test_decoder_rows_are_unit_and_their_gradient_is_tangent(tied):
    sae = SparseAutoencoder(SAEConfig(d_sae=5, tied=tied), d_in=3, n_instances=2, generator=gen(0))
    raw = sae.W_enc if tied else sae.W_dec  # tied: the encoder's columns are the decoder's rows
    rows = (lambda t: t.transpose(1, 2)) if tied else (lambda t: t)
    x = torch.rand(2, 64, 3, generator=gen(1))
    before = sae(x)
    with torch.no_grad():
        rows(raw).mul_(torch.linspace(0.5, 3.0, 5)[:, None])
    assert torch.allclose(sae(x), before, atol=1e-6)  # only the rows' directions count
    assert torch.allclose(sae.decoder.norm(dim=-1), torch.ones(2, 5))
    assert not torch.allclose(rows(raw).norm(dim=-1), torch.ones(2, 5))
    sae.normalize_decoder()
    assert torch.allclose(rows(raw).norm(dim=-1), torch.ones(2, 5))
    assert torch.allclose(sae(x), before, atol=1e-6)
    sae.loss(x).sum().backward()
    # The norm cannot trade against the L1 term: no gradient along the rows themselves.
    grad = rows(raw.grad)
    assert grad.abs().max() > 1e-3
    assert (grad * rows(raw)).sum(dim=-1).abs().max() < 1e-5


def test_gradients_match_finite_differences():
    cfg = SAEConfig(d_sae=4, l1=0.3)
    sae = SparseAutoencoder(cfg, d_in=3, n_instances=2, generator=gen(0)).double()
    with torch.no_grad():
        sae.b_enc.copy_(torch.randn(2, 4, generator=gen(2), dtype=torch.float64) * 0.1)
        sae.b_dec.copy_(torch.randn(2, 3, generator=gen(3), dtype=torch.float64) * 0.1)
    x = torch.randn(2, 16, 3, generator=gen(1), dtype=torch.float64)
    names = [n for n, _ in sae.named_parameters()]

    def loss(*params):
        return torch.func.functional_call(sae, dict(zip(names, params)), (x,)).sum()

    sae.eval()  # no dead-latent bookkeeping while probing
    params = tuple(p.detach().clone().requires_grad_(True) for p in sae.parameters())
    assert torch.autograd.gradcheck(loss, params)


def test_sae_learns_sparse_orthogonal_features():
    data = Orthogonal(n=3, d=4, p=0.2, seed=0)
    sae = SparseAutoencoder(SAEConfig(d_sae=3, l1=0.05), d_in=4, generator=gen(1))
    start = mmcs(sae.decoder.detach(), data.true_features).item()
    train(sae, data, TrainConfig(steps=2000, batch_size=256, lr=3e-3, optimizer="adam"), hooks=sae_hooks(sae),
          progress=False)
    table = evaluate(sae, data, 4096)
    assert start < 0.9
    assert table.mmcs[0] >= 0.95
    assert table.matched_score[0] >= 0.95
    assert table.explained_variance[0] > 0.9
    assert torch.allclose(sae.W_dec.norm(dim=-1), torch.ones(1, 3), atol=1e-6)  # the hook renormalised the raw rows


def test_training_is_deterministic_and_weights_round_trip():
    data = SphereFeatures(d=8, n_features=12, n_active=2, n_instances=2)
    cfg = SAEConfig(d_sae=12, l1=0.1)
    runs = []
    for _ in range(2):
        sae = SparseAutoencoder(cfg, d_in=8, n_instances=2, generator=gen(0))
        train(sae, data, TrainConfig(steps=30, batch_size=64, seed=3), hooks=sae_hooks(sae), progress=False)
        runs.append(sae)
    a, b = (r.weights() for r in runs)
    assert a.keys() == {"W_enc", "b_enc", "b_dec", "W_dec"}
    assert all(torch.equal(a[k], b[k]) for k in a)
    loaded = SparseAutoencoder.from_weights(**a, config=cfg)
    x = data.sample(32, gen(5))
    assert torch.allclose(loaded(x), runs[0](x), atol=1e-6)
    assert not torch.allclose(runs[0](x), SparseAutoencoder(cfg, d_in=8, n_instances=2, generator=gen(0))(x))
    with pytest.raises(ConfigError, match=r"^b_dec must be \[2, 8\] to match W_enc"):
        SparseAutoencoder.from_weights(a["W_enc"], a["b_enc"], a["b_dec"][:, :3], a["W_dec"], config=cfg)
    with pytest.raises(ConfigError, match="tied"):
        SparseAutoencoder.from_weights(a["W_enc"], a["b_enc"], a["b_dec"], config=cfg)
    with pytest.raises(ConfigError, match=r"input must be \[2 \(or 1\), batch, 8\]"):
        runs[0].loss(torch.zeros(3, 4, 8))


def test_dead_latent_is_detected_and_resampling_revives_it():
    data = Orthogonal(n=3, d=4, p=0.1, seed=0)
    F = data.true_features[0]
    cfg = SAEConfig(d_sae=3, l1=0.01, dead_window=50, resample_every=100)
    # Latents 0 and 1 sit on features 0 and 1; latent 2 points at feature 0 too and never fires.
    D = torch.stack([F[0], F[1], F[0]])[None]
    sae = SparseAutoencoder.from_weights(D.transpose(1, 2).clone(), torch.tensor([[0.0, 0.0, -100.0]]),
                                         torch.zeros(1, 4), D.clone(), config=cfg)
    log = []
    train(sae, data, TrainConfig(steps=60, batch_size=128, lr=1e-4), hooks=sae_hooks(sae, data, log=log),
          progress=False)
    assert sae.dead_latents().tolist() == [[False, False, True]]
    assert sae.dead_latents(window=1000).tolist() == [[False, False, False]]
    assert sae.steps_since_fired[0, 2] == 60
    # Inputs carrying feature 2 are the ones reconstructed badly: the new direction is along feature 2.
    assert sae.resample_dead(data.sample(2048, gen(1)), generator=gen(2)) == 1
    assert sae.steps_since_fired[0, 2] == 0 and sae.b_enc[0, 2] == 0
    assert (sae.decoder[0, 2] @ F[2]).item() > 0.9
    assert sae.encode(data.sample(256, gen(3)))[0, :, 2].gt(0).any()
    assert sae.resample_dead(data.sample(64, gen(1))) == 0  # nothing dead any more
    # Inside training: the hook resamples at step 100 (latent dead again after the manual kill below).
    with torch.no_grad():
        sae.b_enc[0, 2] = -100.0
    train(sae, data, TrainConfig(steps=100, batch_size=128, lr=1e-4), hooks=sae_hooks(sae, data, log=log),
          progress=False)
    assert log == [(100, [1])]
    assert sae.b_enc[0, 2].item() > -1


def test_hooks_need_data_to_resample():
    sae = SparseAutoencoder(SAEConfig(d_sae=3, resample_every=10), d_in=2)
    with pytest.raises(ConfigError, match="resample_every > 0 needs the data source"):
        sae_hooks(sae)
    assert len(sae_hooks(SparseAutoencoder(SAEConfig(d_sae=3), d_in=2))) == 1


@pytest.mark.parametrize(
    "values, field",
    [
        (dict(d_sae=8, activation="topk"), "k is required"),
        (dict(d_sae=8, k=2), "k applies to activation='topk' only"),
        (dict(d_sae=8, activation="topk", k=9), r"k \(9\) must not exceed d_sae \(8\)"),
        (dict(d_sae=8, activation="topk", k=2, l1=0.1), "l1 applies to activation='relu' only"),
        (dict(d_sae=0), "d_sae"),
        (dict(d_sae=8, l1=-0.1), "l1 must be >= 0"),
        (dict(d_sae=8, l1=[]), "l1 is an empty list"),
        (dict(d_sae=8, activation="gelu"), "activation"),
        (dict(d_sae=8, dead_window=0), "dead_window"),
        (dict(d_sae=8, resample_every=-1), "resample_every"),
        (dict(d_sae=8, l2=0.1), "l2"),
    ],
)
def test_bad_config_is_a_one_line_error(values, field):
    with pytest.raises(ConfigError, match=field) as err:
        validate(SAEConfig, values)
    assert "\n" not in str(err.value)


def test_config_round_trips_and_defaults():
    cfg = SAEConfig(d_sae=4)
    assert cfg.resolved_l1(2) == [0.2, 0.2]
    assert SAEConfig(d_sae=4, activation="topk", k=2).resolved_l1(1) == [0.0]
    assert validate(SAEConfig, cfg.model_dump(mode="json")) == cfg


# -- data ---------------------------------------------------------------------------------------------------------


def test_sphere_features():
    data = SphereFeatures(d=16, n_features=64, n_active=4, n_instances=2, seed=1)
    assert torch.allclose(data.true_features.norm(dim=-1), torch.ones(2, 64))
    assert not torch.allclose(data.true_features[0], data.true_features[1])
    c = data.coefficients(4000, gen(0))
    assert (c >= 0).all() and (c < 1).all()
    assert (c != 0).sum(dim=-1).float().mean().item() == pytest.approx(4.0, rel=0.05)
    x = data.sample(4000, gen(0))
    assert torch.allclose(x, c @ data.true_features, atol=1e-5)
    # The features do not depend on the sampling generator, and an SAE seeded alike does not start at the answer.
    assert torch.equal(SphereFeatures(d=16, n_features=64, n_instances=2, seed=1).true_features, data.true_features)
    sae = SparseAutoencoder(SAEConfig(d_sae=64), d_in=16, n_instances=2, generator=gen(0))
    assert (mmcs(sae.decoder, SphereFeatures(d=16, n_features=64, n_instances=2, seed=0).true_features) < 0.8).all()
    with pytest.raises(ConfigError, match="n_active"):
        SphereFeatures(d=4, n_features=8, n_active=9)


def test_correlated_sphere_features_co_occur_within_groups_only():
    data = SphereFeatures(d=8, n_features=32, n_active=4, correlation=0.8, group_size=4)
    active = (data.coefficients(20000, gen(0))[0] != 0).float()
    p = active.mean(dim=0)
    assert torch.allclose(p, torch.full((32,), 4 / 32), atol=0.015)  # the marginals are kept
    both = (active.T @ active) / len(active)
    same_group, other_group = both[0, 1].item(), both[0, 4].item()
    assert same_group > 3 * other_group
    assert other_group == pytest.approx((4 / 32) ** 2, abs=0.005)


def test_hidden_activations_of_a_toy_model():
    cfg = DataConfig(n_features=5, feature_probability=[0.1, 0.5])
    W = torch.randn(2, 5, 2, generator=gen(0))
    W[1, 3] = 0.0  # a dropped feature stays a zero row of the truth
    data = HiddenActivations(W, FeatureData(cfg))
    h = data.sample(64, gen(1))
    assert torch.allclose(h, FeatureData(cfg).features(64, gen(1)) @ W)
    norms = data.true_features.norm(dim=-1)
    assert torch.allclose(norms[0], torch.ones(5)) and norms[1, 3] == 0
    with pytest.raises(ConfigError, match=r"W must be \[2, 5, n_hidden\]"):
        HiddenActivations(W[:1], FeatureData(cfg))


def test_evaluate_table():
    data = SphereFeatures(d=8, n_features=8, n_active=1, n_instances=3)
    sae = SparseAutoencoder(SAEConfig(d_sae=8), d_in=8, n_instances=3, generator=gen(0))
    with torch.no_grad():  # instance 0 holds the true dictionary, which reconstructs exactly without L1 bias
        sae.W_dec[0] = data.true_features[0]
        sae.W_enc[0] = torch.linalg.pinv(data.true_features[0])
        sae.b_enc[0] = -1e-4  # cut the float noise of the inverse
    table = evaluate(sae, data, 1000)
    assert isinstance(table, pd.DataFrame) and len(table) == 3
    assert list(table.columns) == [
        "instance", "l0", "explained_variance", "mse", "shrinkage", "dead_fraction", "mmcs", "matched_score", "mcc",
        "uniqueness",
    ]
    row = table.iloc[0]
    assert row.mmcs == pytest.approx(1.0) and row.matched_score == pytest.approx(1.0)
    assert row.mcc == pytest.approx(1.0) and row.uniqueness == 1.0
    assert row.explained_variance == pytest.approx(1.0, abs=1e-3)
    assert row.l0 == pytest.approx(1.0, rel=0.1)
    assert (table.mmcs[1:] < 0.9).all()
    assert not math.isnan(row.shrinkage)
