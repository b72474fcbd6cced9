"""Analysis of trained runs: measures of superposition and the geometry of feature arrangements."""

from .geometry import (
    FRACTIONS,
    SHAPES,
    Structure,
    classify,
    classify_instance,
    describe,
    geometry_table,
    nearest_fraction,
)
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
    "FRACTIONS",
    "SHAPES",
    "Structure",
    "classify",
    "classify_instance",
    "describe",
    "geometry_table",
    "nearest_fraction",
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
