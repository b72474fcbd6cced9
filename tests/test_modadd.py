"""Modular addition: data split, the bilinear model, Fourier shares, the sparse construction and Hadamard mixing."""

from __future__ import annotations

import math

import pytest
import torch

from superposition.analysis.fourier import (
    excluded_loss,
    fourier_basis,
    frequency_share,
    key_frequencies,
    restricted_loss,
)
from superposition.analysis.mixing import (
    embedding_mixer,
    hadamard,
    involution_between,
    involutory_unmixer,
    mix,
    random_orthogonal,
    round_weights,
    sparse_construction,
    unmixing_matrix,
)
from superposition.config import ModAddModelConfig, TrainConfig
from superposition.data.modadd import ModAddData, all_pairs, train_test_split
from superposition.errors import ConfigError
from superposition.models.bilinear import BilinearModAdd
from superposition.train import train


def test_split_sizes_match_the_grokking_setup():
    train_set, test_set = train_test_split(113, 0.3, torch.Generator().manual_seed(0))
    assert len(train_set) == 3830 and len(test_set) == 113**2 - 3830
    pairs = set(zip(train_set.a.tolist(), train_set.b.tolist())) | set(zip(test_set.a.tolist(), test_set.b.tolist()))
    assert len(pairs) == 113**2  # disjoint and covering
    for batch in (train_set, test_set):
        assert torch.equal(batch.labels, (batch.a + batch.b) % 113)


def test_split_is_seeded():
    a1, _ = train_test_split(23, 0.3, torch.Generator().manual_seed(1))
    a2, _ = train_test_split(23, 0.3, torch.Generator().manual_seed(1))
    a3, _ = train_test_split(23, 0.3, torch.Generator().manual_seed(2))
    assert torch.equal(a1.a, a2.a) and not torch.equal(a1.a, a3.a)


def test_bad_fraction_is_refused():
    with pytest.raises(ConfigError, match="train_fraction"):
        train_test_split(7, 1.5)


def test_forward_equals_the_tensor_form():
    p, d, nh = 11, 3, 5
    model = BilinearModAdd(ModAddModelConfig(d_embed=d, n_hidden=nh, n_instances=2), p=p,
                           generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    batch = all_pairs(p)
    E, L, R, U = model.embed, model.L, model.R, model.U
    x = torch.cat([E[:, batch.a], E[:, batch.b]], dim=-1)  # [inst, n, 2d]
    expected = torch.einsum("ich,ihx,ihy,inx,iny->inc", U, L, R, x, x)
    assert torch.allclose(model.logits(batch.a, batch.b), expected, atol=1e-12)


def test_loss_is_cross_entropy_per_instance():
    model = BilinearModAdd(ModAddModelConfig(d_embed=2, n_hidden=4, n_instances=3), p=7, generator=torch.Generator().manual_seed(0))
    batch = all_pairs(7)
    logits = model.logits(batch.a, batch.b)
    expected = torch.stack([torch.nn.functional.cross_entropy(logits[i], batch.labels) for i in range(3)])
    assert torch.allclose(model.loss(batch), expected, atol=1e-6)


def test_weights_round_trip_with_biases_and_relu():
    for kwargs in ({"bias": True}, {"kind": "relu", "bias": True}):
        config = ModAddModelConfig(d_embed=2, n_hidden=4, n_instances=2, **kwargs)
        model = BilinearModAdd(config, p=7, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            for prm in model.parameters():
                prm.add_(0.1)  # biases non-zero so a dropped bias would show
        again = BilinearModAdd.from_weights(model.weights())
        batch = all_pairs(7)
        assert torch.equal(again.logits(batch.a, batch.b), model.logits(batch.a, batch.b))


@pytest.mark.parametrize("freqs", [[1], [2, 5], [3, 7, 11]])
def test_construction_is_exact(freqs):
    p, alpha = 23, 2.5
    model = sparse_construction(p, freqs, alpha=alpha)
    batch = all_pairs(p)
    c = torch.arange(p, dtype=torch.float64)
    m = (batch.a + batch.b)[:, None].double() - c[None, :]
    expected = alpha * sum(torch.cos(2 * math.pi * k * m / p) for k in freqs)
    assert torch.allclose(model.logits(batch.a, batch.b)[0], expected, atol=1e-12)
    assert model.accuracy(batch).item() == 1.0
    # L and R are one-hot rows: the solution is sparse
    assert torch.equal(model.L.abs().sum(-1), torch.ones_like(model.L[..., 0]))


def test_larger_alpha_lowers_the_loss_of_the_construction():
    batch = all_pairs(23)
    losses = [sparse_construction(23, [2, 5], alpha=a).loss(batch).item() for a in (1.0, 2.0, 4.0)]
    assert losses[0] > losses[1] > losses[2]  # cross-entropy rewards bigger margins: no optimum at finite scale


@pytest.mark.parametrize("n", [1, 2, 4, 8])
def test_hadamard_is_orthogonal_and_involutory(n):
    M = hadamard(n)
    eye = torch.eye(n, dtype=M.dtype)
    assert torch.allclose(M @ M, eye, atol=1e-12) and torch.allclose(M @ M.T, eye, atol=1e-12)
    assert torch.allclose(M.abs(), torch.full_like(M, 1 / math.sqrt(n)))


def test_hadamard_rejects_other_sizes():
    with pytest.raises(ConfigError, match="powers of 2"):
        hadamard(6)


@pytest.mark.parametrize("freqs", [[2, 5], [1, 4, 6, 9]])  # d = 4 and d = 8
def test_mixing_keeps_the_function_and_densifies_the_weights(freqs):
    p = 23
    model = sparse_construction(p, freqs, alpha=1.5)
    d = model.d_embed
    mixed = mix(model, hadamard(d))
    batch = all_pairs(p)
    diff = (mixed.logits(batch.a, batch.b) - model.logits(batch.a, batch.b)).abs().max()
    assert diff < 1e-10
    # every mixed embedding column now superposes all K frequencies, equally (each was pure before)
    K = len(freqs)
    assert torch.allclose(frequency_share(model.embed).amax(-1), torch.ones(1, d, dtype=torch.float64))
    assert torch.allclose(frequency_share(mixed.embed).amax(-1), torch.full((1, d), 1 / K, dtype=torch.float64))
    # one-hot rows of L become dense rows over one d-block: d nonzeros of equal size per row
    assert int((mixed.L.abs() > 1e-9).sum()) == d * int((model.L.abs() > 1e-9).sum())
    assert torch.allclose(mixed.L.abs()[mixed.L.abs() > 1e-9], torch.tensor(1 / math.sqrt(d), dtype=torch.float64))
    # unmixing with the same involutory matrix gives back the sparse weights
    back = mix(mixed, hadamard(d))
    assert torch.allclose(back.L, model.L, atol=1e-12) and torch.allclose(back.embed, model.embed, atol=1e-12)


def test_mixing_a_trained_float32_model_and_a_partial_block():
    model = BilinearModAdd(ModAddModelConfig(d_embed=4, n_hidden=6, n_instances=2), p=13, generator=torch.Generator().manual_seed(3))
    batch = all_pairs(13)
    for M in (hadamard(4, dtype=torch.float32), embedding_mixer(4, [hadamard(2)])):
        mixed = mix(model, M)
        assert (mixed.logits(batch.a, batch.b) - model.logits(batch.a, batch.b)).abs().max() < 1e-5


def test_rounding_the_construction_changes_nothing_and_rounding_noise_is_measured():
    p = 23
    model = sparse_construction(p, [2, 5])
    batch = all_pairs(p)
    rounded, delta = round_weights(model, batch, levels="ternary")
    assert torch.equal(rounded.L, model.L) and abs(delta.item()) < 1e-12
    noisy = BilinearModAdd.from_weights({**model.weights(), "L": model.L + 0.01 * torch.randn(
        model.L.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)})
    rounded, delta = round_weights(noisy, batch, levels="ternary")
    assert torch.allclose(rounded.L, model.L, atol=0.02)
    expected = rounded.loss(batch) - noisy.loss(batch)
    assert torch.allclose(delta, expected) and delta.abs().item() > 0


def test_fourier_basis_is_orthonormal_and_shares_find_pure_frequencies():
    p = 23
    F = fourier_basis(p)
    assert torch.allclose(F @ F.T, torch.eye(p, dtype=F.dtype), atol=1e-12)
    a = torch.arange(p, dtype=torch.float64)
    cols = torch.stack([torch.cos(2 * math.pi * 4 * a / p), torch.sin(2 * math.pi * 9 * a / p + 0.3),
                        torch.cos(2 * math.pi * 4 * a / p) + torch.cos(2 * math.pi * 7 * a / p)], dim=1)
    share = frequency_share(cols)  # [d, n_freq]
    assert share.shape == (3, 12)
    assert share[0, 4].item() == pytest.approx(1.0) and share[1, 9].item() == pytest.approx(1.0)
    assert share[2, 4].item() == pytest.approx(0.5) and share[2, 7].item() == pytest.approx(0.5)
    assert torch.allclose(share.sum(-1), torch.ones(3, dtype=share.dtype))


def test_key_frequencies_survive_mixing_and_carry_the_loss():
    p, freqs = 23, [2, 5]
    model = mix(sparse_construction(p, freqs, alpha=3.0), hadamard(4))
    assert key_frequencies(model.embed) == [freqs]
    batch = all_pairs(p)
    full = model.loss(batch)
    assert torch.allclose(restricted_loss(model, batch, freqs), full, atol=1e-10)  # nothing outside the key freqs
    assert excluded_loss(model, batch, freqs).item() == pytest.approx(math.log(p))  # logits left: uniform
    assert restricted_loss(model, batch, [1]).item() == pytest.approx(math.log(p))


def test_short_training_lowers_the_loss():
    data = ModAddData(p=13, train_fraction=0.5, seed=0)
    model = BilinearModAdd(ModAddModelConfig(d_embed=4, n_hidden=16, n_instances=2), p=13, generator=torch.Generator().manual_seed(0))
    before = model.loss(data.train).detach()
    config = TrainConfig(optimizer="adamw", betas=(0.9, 0.98), weight_decay=0.1, lr=1e-2, steps=200, batch_size=1,
                         log_every=50)
    history = train(model, data, config, progress=False)
    after = model.loss(data.train).detach()
    assert (after < 0.5 * before).all()
    assert history.loss[-1][0] < history.loss[0][0]
    assert (model.accuracy(data.train) > 0.5).all()


def test_unmixing_matrix_recovers_the_sparse_solution_from_a_mixed_one():
    p, freqs = 23, [3, 8]
    sparse = sparse_construction(p, freqs, alpha=2.0, n_instances=2)
    # instance 0 mixed by the Hadamard, instance 1 by a random orthogonal matrix: both must come back
    Q, _ = torch.linalg.qr(torch.randn(4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    mixed = mix(sparse, torch.stack([hadamard(4), Q]))
    assert not torch.allclose(mixed.L, sparse.L, atol=1e-3)
    unmixed = mix(mixed, unmixing_matrix(mixed.embed.detach(), [freqs, freqs]))
    assert torch.allclose(unmixed.L, sparse.L, atol=1e-10) and torch.allclose(unmixed.R, sparse.R, atol=1e-10)
    assert torch.allclose(unmixed.embed, sparse.embed, atol=1e-10)


def test_the_involution_between_two_reflections_swaps_their_eigenspaces():
    g = torch.Generator().manual_seed(1)
    A = torch.diag(torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=torch.float64))
    S = torch.eye(4, dtype=torch.float64) + 0.5 * torch.randn(4, 4, generator=g, dtype=torch.float64)
    B = S @ A @ torch.linalg.inv(S)  # +1 eigenspace: columns 0 and 2 of S, not orthogonal to the rest
    M = involution_between(A, B)
    eye = torch.eye(4, dtype=M.dtype)
    assert torch.allclose(M @ M, eye, atol=1e-10) and torch.allclose(M @ A @ M, B, atol=1e-10)
    # A's +1 eigenvectors (axes 0 and 2) land in B's +1 eigenspace
    coords = torch.linalg.solve(S, M[:, [0, 2]])
    assert torch.allclose(coords[[1, 3]], torch.zeros(2, 2, dtype=M.dtype), atol=1e-10)
    with pytest.raises(ConfigError, match="negative real axis"):
        involution_between(eye, -eye)


@pytest.mark.parametrize("mixer", ["hadamard", "orthogonal", "skewed"])
def test_the_constructed_unmixer_is_involutory_and_makes_every_column_pure(mixer):
    p, freqs = 23, [3, 8]
    sparse = sparse_construction(p, freqs, alpha=2.0)
    A = {"hadamard": hadamard(4), "orthogonal": random_orthogonal(4, torch.Generator().manual_seed(0)),
         "skewed": torch.tensor([[1.0, 0.9, 0.0, 0.3], [0.0, 1.0, 0.8, 0.0], [0.7, 0.0, 1.0, 0.5],
                                 [0.0, 0.6, 0.0, 1.0]], dtype=torch.float64)}[mixer]
    mixed = mix(sparse, A)
    assert (frequency_share(mixed.embed)[0].amax(-1) < 0.99).any()
    M = involutory_unmixer(mixed.embed.detach(), [freqs])
    eye = torch.eye(4, dtype=M.dtype)
    assert torch.allclose(M[0] @ M[0], eye, atol=1e-10) and not torch.allclose(M[0], eye, atol=1e-3)
    unmixed = mix(mixed, M)
    assert torch.allclose(frequency_share(unmixed.embed).amax(-1), torch.ones(1, 4, dtype=torch.float64))
    batch = all_pairs(p)
    assert torch.allclose(unmixed.logits(batch.a, batch.b), mixed.logits(batch.a, batch.b), atol=1e-9)


def test_a_third_frequency_stays_mixed_after_unmixing():
    p, freqs = 23, [3, 8]
    mixed = mix(sparse_construction(p, freqs), hadamard(4))
    E = mixed.embed.detach().clone()
    E[0, :, 0] += 0.7 * torch.cos(2 * math.pi * 5 * torch.arange(p, dtype=torch.float64) / p)
    M = involutory_unmixer(E, [freqs])
    assert ((frequency_share(E @ M)[0] > 0.1).sum(-1) == 2).any()  # no change of basis removes frequency 5
    with pytest.raises(ConfigError, match="d_embed = 6"):
        involutory_unmixer(torch.zeros(1, p, 6, dtype=torch.float64), [[1, 2]])


def test_a_degenerate_embedding_cannot_be_unmixed():
    flat = torch.zeros(1, 23, 4, dtype=torch.float64)
    flat[0, :, 0] = torch.cos(2 * math.pi * 3 * torch.arange(23, dtype=torch.float64) / 23)  # one column, one freq
    for unmixer in (unmixing_matrix, involutory_unmixer):
        with pytest.raises(ConfigError, match="degenerate"):
            unmixer(flat, [[3, 8]])


def test_bad_weights_and_frequencies_get_named_errors():
    model = sparse_construction(11, [1, 2])
    with pytest.raises(ConfigError, match="U must be"):
        BilinearModAdd.from_weights({**model.weights(), "U": model.U[:, :5]})
    with pytest.raises(ConfigError, match="mixing matrix"):
        mix(model, hadamard(2))
    with pytest.raises(ConfigError, match="frequencies must lie"):
        restricted_loss(model, all_pairs(11), [6])


def test_restricting_to_every_frequency_keeps_the_loss_and_excluding_all_gives_chance():
    p = 13
    model = BilinearModAdd(ModAddModelConfig(d_embed=3, n_hidden=6, n_instances=2, bias=True), p=p,
                           generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    batch = all_pairs(p)
    every = list(range(1, (p - 1) // 2 + 1))
    # only the constant direction is dropped, which softmax ignores
    assert torch.allclose(restricted_loss(model, batch, every), model.loss(batch), atol=1e-10)
    assert torch.allclose(excluded_loss(model, batch, [every, every]), torch.full((2,), math.log(p),
                          dtype=torch.float64), atol=1e-10)
    # per-instance lists: the split of frequencies into kept and removed adds up
    part = restricted_loss(model, batch, [[1, 2], [3]])
    assert part.shape == (2,) and not torch.allclose(part[0], part[1])
