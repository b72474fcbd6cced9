"""Statistics the experiments' verdicts use, from scipy where it has them."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

from scipy import stats


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation, ties given their average rank (scipy's `spearmanr`); NaN when either side is
    constant.

    >>> round(spearman([1, 2, 3, 4], [2, 2, 3, 5]), 4)
    0.9487
    """
    if len(set(a)) < 2 or len(set(b)) < 2:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(stats.spearmanr(a, b).statistic)
