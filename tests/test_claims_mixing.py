"""Both ways for the mixing experiment (bilinear modular addition): hand-made models whose structure is known exactly
(the sparse angle-addition construction, its Hadamard-mixed and skewed-mixed twins, a dense twin with every L, R
entry at ±1/λ, one that computes in the mixed basis, noisy copies, random weights) fed to the experiment's analysis,
and hand-made budget tables fed to `budget_claims`."""

from __future__ import annotations

import math

import pandas as pd
import torch
from claim_cases import BothWays

from superposition.analysis.mixing import hadamard, mix, sparse_construction
from superposition.analysis.modadd import summarize
from superposition.data.modadd import ModAddData
from superposition.experiments.mixing import MIXING, mixing_configs
from superposition.experiments.mixing_budget import budget_claims, budget_table
from superposition.models.bilinear import BilinearModAdd
from superposition.runs import Run

CASES = BothWays()
CONFIGS = mixing_configs(True)  # p = 31: small enough to analyse in a test
P = CONFIGS["main"].data.p
FREQS = [3, 8]
WD = CONFIGS["main"].train.resolved_weight_decay


# ---------------------------------------------------------------- hand-made models


def stack(*models: BilinearModAdd) -> BilinearModAdd:
    """One model whose instances are the given single-instance models (same shapes, same loss)."""
    weights = {k: torch.cat([m.weights()[k] for m in models]) for k in models[0].weights()}
    return BilinearModAdd.from_weights(weights, loss_kind=models[0].loss_kind)


def scaled(model: BilinearModAdd, *, hidden: float, out: float) -> BilinearModAdd:
    """L and R times `hidden`, U times `out`."""
    w = model.weights()
    return BilinearModAdd.from_weights({**w, "L": w["L"] * hidden, "R": w["R"] * hidden, "U": w["U"] * out})


def sparse(alpha: float = 3.0) -> BilinearModAdd:
    """The exact sparse solution: every column one frequency, one-hot rows of L and R (accuracy 1)."""
    return sparse_construction(P, FREQS, alpha=alpha)


def hadamard_mixed(alpha: float = 3.0) -> BilinearModAdd:
    """The same function with both frequencies in every column (the note's mixed solution)."""
    return mix(sparse(alpha), hadamard(4))


def dense(alpha: float = 3.0, wd: float = WD) -> BilinearModAdd:
    """A solved model whose L and R entries are all ±1/λ: each product x·y of the construction written as
    ((x + y)² − (x − y)²) / 4 on two hidden units (16 in all), then Hadamard-mixed, which spreads every row of L
    and R over all 8 inputs at ±1/2, then scaled to ±1/λ (U scaled back, so the logits are the construction's)."""
    w = sparse(alpha).weights()
    plus_minus = torch.cat([w["L"] + w["R"], w["L"] - w["R"]], dim=1)
    polarized = BilinearModAdd.from_weights(embed=w["embed"], L=plus_minus, R=plus_minus.clone(),
                                            U=torch.cat([w["U"], -w["U"]], dim=2) / 4)
    k = 2 / wd
    return scaled(mix(polarized, hadamard(4)), hidden=k, out=1 / k**2)


def noisy(model: BilinearModAdd, size: float, seed: int = 0) -> BilinearModAdd:
    """L and R with Gaussian noise of standard deviation `size` times their largest entry."""
    g = torch.Generator().manual_seed(seed)
    w = model.weights()
    top = float(w["L"].abs().max())
    noise = {k: w[k] + size * top * torch.randn(w[k].shape, generator=g, dtype=w[k].dtype) for k in ("L", "R")}
    return BilinearModAdd.from_weights({**w, **noise}, loss_kind=model.loss_kind)


def skewed() -> BilinearModAdd:
    """The construction mixed by an invertible matrix far from orthogonal (an involution still unmixes it)."""
    A = torch.tensor([[1.0, 0.9, 0.0, 0.3], [0.0, 1.0, 0.8, 0.0], [0.7, 0.0, 1.0, 0.5], [0.0, 0.6, 0.0, 1.0]],
                     dtype=torch.float64)
    return mix(sparse(), A)


def computing_in_the_mixed_basis() -> BilinearModAdd:
    """The mixed twin's function on 16 hidden units, unit (i, j) multiplying mixed column i of E[a] by mixed column
    j of E[b] (one-hot rows of L and R) with U holding the twin's bilinear form: sparse as trained, dense once
    unmixed."""
    twin = hadamard_mixed().weights()
    form = torch.einsum("ch,hi,hj->cij", twin["U"][0], twin["L"][0, :, :4], twin["R"][0, :, 4:])  # [p, 4, 4]
    eye = torch.eye(4, dtype=form.dtype)
    L = torch.cat([eye.repeat_interleave(4, 0), torch.zeros(16, 4, dtype=form.dtype)], 1)  # unit 4i + j reads i
    R = torch.cat([torch.zeros(16, 4, dtype=form.dtype), eye.repeat(4, 1)], 1)  # ... and j of E[b]
    return BilinearModAdd.from_weights(embed=twin["embed"], L=L[None], R=R[None], U=form.reshape(1, P, 16))


def random_weights(n: int = 2, n_hidden: int = 8) -> BilinearModAdd:
    """Untrained: Gaussian weights of the usual scale (the task is not solved)."""
    g = torch.Generator().manual_seed(1)
    shapes = dict(embed=(n, P, 4), L=(n, n_hidden, 8), R=(n, n_hidden, 8), U=(n, P, n_hidden))
    return BilinearModAdd.from_weights(
        {k: torch.randn(shape, generator=g, dtype=torch.float64) / math.sqrt(shape[-1]) for k, shape in shapes.items()})


def run_of(name: str, model: BilinearModAdd) -> Run:
    """A run of the experiment's config `name`, holding `model` (its instances and hidden size) and its summary."""
    cfg = CONFIGS[name]
    cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={
        "n_instances": model.n_instances, "n_hidden": model.n_hidden})})
    data = ModAddData(P, cfg.data.train_fraction, seed=cfg.data.split_seed)
    metrics = summarize(model, data, cfg.train.resolved_weight_decay)
    history = pd.DataFrame([(cfg.train.steps, k, loss) for k, loss in enumerate(metrics.train_loss)],
                           columns=["step", "instance", "loss"])
    return Run(config=cfg, model=model, history=history, metrics=metrics)


def sweep(suspected: BilinearModAdd, control: BilinearModAdd) -> dict[str, Run]:
    """A condition sweep: cross-entropy with λ > 0 holds `suspected`; squared error and unregularised cross-entropy
    (the controls) hold `control`."""
    def as_mse(m: BilinearModAdd) -> BilinearModAdd:
        return BilinearModAdd.from_weights(m.weights(), loss_kind="mse")

    return {"sweep-ce-wd1-noln": run_of("sweep-ce-wd1-noln", suspected),
            "sweep-ce-wd0-noln": run_of("sweep-ce-wd0-noln", control),
            "sweep-mse-wd1-noln": run_of("sweep-mse-wd1-noln", as_mse(control))}


def analyze(main: BilinearModAdd, sweep_runs: dict[str, Run] | None = None):
    runs = {"main": run_of("main", main), **(sweep_runs or sweep(stack(sparse(), sparse()), stack(sparse(), sparse())))}
    return MIXING.analyze(runs, True)


# ---------------------------------------------------------------- the measured claims


@CASES.case("mixing.reaches-full-accuracy", holds=True)
def every_init_solves():
    return analyze(stack(sparse(), hadamard_mixed()))


@CASES.case("mixing.reaches-full-accuracy", holds=False)
def random_inits_do_not_solve():
    return analyze(random_weights())


@CASES.case("mixing.two-frequencies-per-column", holds=True)
def hadamard_mixed_inits_carry_two_frequencies_in_every_column():
    return analyze(stack(hadamard_mixed(), hadamard_mixed(2.0)))


@CASES.case("mixing.two-frequencies-per-column", holds=False)
def pure_inits_carry_one():
    return analyze(stack(sparse(), sparse(2.0)))


@CASES.case("mixing.involution-unmixes", holds=True)
def the_involution_unmixes_a_hadamard_and_a_skewed_mixing():
    return analyze(stack(hadamard_mixed(), skewed()))


@CASES.case("mixing.involution-unmixes", holds=False)
def unmixing_a_model_that_computes_in_the_mixed_basis_makes_it_dense():
    return analyze(stack(computing_in_the_mixed_basis(), computing_in_the_mixed_basis()))


@CASES.case("mixing.weights-near-inverse-decay", holds=True)
def dense_weights_at_the_bound():
    return analyze(stack(dense(), dense(2.0)))


@CASES.case("mixing.weights-near-inverse-decay", holds=False)
def sparse_weights_far_from_the_bound():
    return analyze(stack(hadamard_mixed(), hadamard_mixed(2.0)))  # half the entries 0, the rest ±1/2, not ±1/λ


@CASES.case("mixing.rounding-improves-loss", holds=True)
def rounding_removes_noise_around_two_values():
    return analyze(stack(noisy(dense(), 0.15), noisy(dense(2.0), 0.15, seed=1)))


@CASES.case("mixing.rounding-improves-loss", holds=False)
def rounding_a_sparse_solution_fills_its_zeros():
    return analyze(stack(noisy(sparse(), 0.02), noisy(sparse(2.0), 0.02, seed=1)))


@CASES.case("mixing.conditions", holds=True)
def cross_entropy_with_decay_mixes_and_the_controls_do_not():
    return analyze(stack(sparse(), sparse()), sweep(stack(hadamard_mixed(), hadamard_mixed(2.0)),
                                                    stack(sparse(), sparse(2.0))))


@CASES.case("mixing.conditions", holds=False)
def every_condition_mixes_alike():
    return analyze(stack(sparse(), sparse()), sweep(stack(hadamard_mixed(), hadamard_mixed(2.0)),
                                                    stack(hadamard_mixed(), hadamard_mixed(2.0))))


# ---------------------------------------------------------------- the exact claims (budget_claims)


def budget(loss_l2=(3.2, 3.2), max_rows=((0.05, 3.2), (0.10, 2.4)), random_margins=(0.06, 0.07),
           invertible_l2=(3.5, 3.9)):
    """A hand-made budget table: (sparse, mixed) loss at the same L2 norms and (margin, loss) under max |w| = 1."""
    rows = [dict(model="sparse construction", budget="same L2 norms", loss=loss_l2[0], margin=0.0),
            dict(model="Hadamard-mixed", budget="same L2 norms", loss=loss_l2[1], margin=0.0),
            dict(model="sparse construction", budget="max |w| = 1", loss=max_rows[0][1], margin=max_rows[0][0]),
            dict(model="Hadamard-mixed", budget="max |w| = 1", loss=max_rows[1][1], margin=max_rows[1][0])]
    return budget_claims(pd.DataFrame(rows), list(random_margins), list(invertible_l2), FREQS)


for _id in ("mixing.no-gain-at-fixed-l2", "mixing.gain-under-max-budget", "mixing.hadamard-best-mixer"):
    CASES.case(_id, holds=True)(lambda: budget_claims(*budget_table(P, FREQS), FREQS))


@CASES.case("mixing.no-gain-at-fixed-l2", holds=False)
def an_invertible_mixing_below_the_sparse_loss():
    return budget(invertible_l2=(3.5, 3.1, 3.9))


@CASES.case("mixing.gain-under-max-budget", holds=False)
def mixing_with_a_smaller_margin_under_the_cap():
    return budget(max_rows=((0.10, 2.4), (0.05, 3.2)))


@CASES.case("mixing.hadamard-best-mixer", holds=False)
def a_random_orthogonal_mixer_beats_hadamard():
    return budget(random_margins=(0.06, 0.12))


test_verdict = CASES.test()


# ---------------------------------------------------------------- the claims without their inputs


def test_every_claim_is_present_and_not_reproduced_when_no_init_solves():
    findings = analyze(random_weights())
    claims = findings.by_id()
    assert [c.id for c in findings.claims] == [spec.id for spec in MIXING.claims]
    measured = ("mixing.reaches-full-accuracy", "mixing.two-frequencies-per-column",
                "mixing.involution-unmixes", "mixing.weights-near-inverse-decay",
                "mixing.rounding-improves-loss")
    for claim_id in measured:
        assert not claims[claim_id].reproduced, claim_id
    for claim_id in measured[1:]:
        assert "no solved init" in claims[claim_id].measured, claim_id
