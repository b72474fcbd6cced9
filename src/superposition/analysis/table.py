"""The per-feature table of a trained toy model: every measure of superposition and each feature's structure."""

from __future__ import annotations

import pandas as pd
from jaxtyping import Float
from torch import Tensor

from ..config import DataConfig
from .geometry import geometry_table
from .metrics import metrics_table


def feature_table(
    W: Float[Tensor, "inst feat hidden"], b: Float[Tensor, "inst feat"] | None, data: DataConfig
) -> pd.DataFrame:
    """One row per instance x feature: metrics (norm, superposition, dimensionality, interference, bias,
    importance, probability) and geometry (structure, group, fraction)."""
    W = W.detach().cpu()
    table = metrics_table(W, b, importance=data.importance_table(), probability=data.probability())
    return table.merge(geometry_table(W), on=["instance", "feature"], how="left")
