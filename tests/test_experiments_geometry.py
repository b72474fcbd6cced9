"""The feature-geometry experiment's analysis, on hand-made solutions whose D* and D_i are known exactly:
orthonormal directions (D* = 1), antipodal pairs (1/2), pentagons in orthogonal planes (2/5), and scaled frames
whose D* falls smoothly with no plateau. The verdicts, both ways, are in test_claims_geometry.py; this module keeps
the builders and what is not a verdict (ordering, figures, configs)."""

import math

import pandas as pd
import pytest
import torch

from superposition import make_config, train_run
from superposition.analysis.metrics import dimensions_per_feature
from superposition.experiments.geometry import GEOMETRY, densities, longest_run
from superposition.models import ToyModel
from superposition.runs import Run

N, M = 20, 4


def frame(scale: float = 1.0) -> torch.Tensor:
    """N features along M orthonormal columns (W^T W = scale^2 I): D* = 1 / scale^2, no feature stands alone."""
    q, _ = torch.linalg.qr(torch.randn(N, M, generator=torch.Generator().manual_seed(0)))
    return scale * q


def antipodal_pairs() -> torch.Tensor:
    """Features 2j and 2j+1 at +-e_j for every hidden dimension j; the rest ignored. D* = D_i = 1/2."""
    W = torch.zeros(N, M)
    for j in range(M):
        W[2 * j, j], W[2 * j + 1, j] = 1.0, -1.0
    return W


def pentagons() -> torch.Tensor:
    """Two pentagons in the orthogonal planes (0, 1) and (2, 3); the rest ignored. D* = D_i = 2/5."""
    W = torch.zeros(N, M)
    for plane in range(2):
        for k in range(5):
            angle = 2 * math.pi * k / 5
            W[5 * plane + k, 2 * plane], W[5 * plane + k, 2 * plane + 1] = math.cos(angle), math.sin(angle)
    return W


def make_run(Ws: list[torch.Tensor], probs: list[float]) -> Run:
    config = make_config(data=dict(n_features=N, feature_probability=probs), model=dict(kind="relu", n_hidden=M))
    W = torch.stack(Ws)
    history = pd.DataFrame([(100, k, 0.1) for k in range(len(Ws))], columns=["step", "instance", "loss"])
    return Run(config=config, model=ToyModel.from_weights(W, torch.zeros(len(Ws), N)), history=history)


def claims_of(run: Run, quick: bool = False) -> dict:
    findings = GEOMETRY.analyze({"uniform": run}, quick)
    return {c.id: c for c in findings.claims}


PLATEAU_PROBS = [1.0, 0.5, 0.4, 0.3, 0.2, 0.1]


def plateau_run(order=None) -> Run:
    Ws = [frame(), antipodal_pairs(), antipodal_pairs(), antipodal_pairs(), antipodal_pairs(), pentagons()]
    probs = list(PLATEAU_PROBS)
    if order is not None:
        Ws, probs = [Ws[k] for k in order], [probs[k] for k in order]
    return make_run(Ws, probs)


def test_the_hand_made_solutions_have_the_dimensions_per_feature_they_are_built_for():
    d = dimensions_per_feature(torch.stack([frame(), antipodal_pairs(), pentagons(), frame(2**-0.5)]))
    assert torch.allclose(d, torch.tensor([1.0, 0.5, 0.4, 2.0]), atol=1e-5)


def test_the_analysis_orders_instances_by_density_whatever_order_the_run_stores_them_in():
    shuffled = claims_of(plateau_run(order=[3, 0, 5, 1, 4, 2]))
    ordered = claims_of(plateau_run())
    for key in ordered:
        assert shuffled[key].reproduced == ordered[key].reproduced
        assert shuffled[key].measured == ordered[key].measured


def test_figures_are_the_dimensionality_scatter_and_wtw_of_three_instances():
    findings = GEOMETRY.analyze({"uniform": plateau_run()}, False)
    scatter, wtw = findings.figures
    assert "Feature dimensionality" in scatter.layout.title.text
    assert "W<sup>T</sup>W" in wtw.layout.title.text
    # Densest, middle of the plateau (1/(1-S) = 2.5: instance 2) and sparsest.
    titles = [a.text for a in wtw.layout.annotations if a.text]
    assert titles == ["1−S = 1", "1−S = 0.4", "1−S = 0.1"]
    assert any("10,000 steps of batch 1024 at lr 0.001" in note for note in findings.notes)


def test_configs_follow_the_colab_sweep_and_quick_mode_is_smaller():
    full, quick = GEOMETRY.configs(False)["uniform"], GEOMETRY.configs(True)["uniform"]
    assert (full.data.n_features, full.model.n_hidden, full.data.n_instances) == (200, 20, 20)
    assert full.data.feature_probability == pytest.approx([20 ** (-k / 19) for k in range(20)])
    assert bool((full.data.importance_table() == 1).all())
    assert densities(10)[0] == 1.0 and densities(10)[-1] == pytest.approx(0.05)

    def work(c):
        return c.data.n_instances * c.data.n_features * c.train.batch_size * c.train.steps

    assert work(quick) * 10 < work(full)


def test_longest_run_picks_the_first_of_equal_runs_and_handles_none():
    assert longest_run([True, True, False, True, True]) == (0, 1)
    assert longest_run([False, False]) == (0, -1)
    assert longest_run([]) == (0, -1)


def test_analysis_runs_on_a_briefly_trained_sweep():
    config = make_config(
        data=dict(n_features=N, feature_probability=densities(5)), model=dict(kind="relu", n_hidden=M),
        train=dict(steps=200, batch_size=128, lr=1e-2, seed=0),
    )
    findings = GEOMETRY.analyze({"uniform": train_run(config, progress=False)}, True)
    assert len(findings.claims) == 5 and all(c.measured for c in findings.claims)
    assert any("Quick mode" in note for note in findings.notes)
