"""Data generators: sparse synthetic features."""

from .features import Batch, FeatureData

__all__ = ["Batch", "FeatureData"]
