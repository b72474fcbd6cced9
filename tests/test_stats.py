"""The rank correlation the verdicts use: ties get their average rank, as scipy's spearmanr gives them."""

import math

import pytest
from scipy import stats

from superposition.experiments.stats import spearman

# The intro experiment's represented counts from one run, densest first: argsort-of-argsort ranks broke these ties by
# index and gave 0.891; with ties averaged the correlation is 0.788, under the claim's 0.8.
INTRO_COUNTS = [2, 2, 3, 4, 3, 5, 5, 4, 4, 5]


def test_ties_get_their_average_rank():
    x = [float(20 ** (k / 9)) for k in range(10)]  # 1/(1-S), rising
    rho = spearman(x, INTRO_COUNTS)
    assert rho == pytest.approx(stats.spearmanr(x, INTRO_COUNTS).statistic, abs=1e-12)
    assert rho == pytest.approx(0.788, abs=5e-4)
    assert rho < 0.8


def test_without_ties_it_is_the_rank_correlation():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)


def test_a_constant_side_has_no_correlation():
    assert math.isnan(spearman([1, 2, 3], [5, 5, 5]))
