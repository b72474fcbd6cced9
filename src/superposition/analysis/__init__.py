"""Analysis of trained runs: measures of superposition and the geometry of feature arrangements."""

from .metrics import (
    angles,
    cosines,
    dimensionality,
    dimensions_per_feature,
    feature_norms,
    interference,
    metrics_table,
    positive_interference,
    superposition,
    wtw,
)

__all__ = [
    "angles",
    "cosines",
    "dimensionality",
    "dimensions_per_feature",
    "feature_norms",
    "interference",
    "metrics_table",
    "positive_interference",
    "superposition",
    "wtw",
]
