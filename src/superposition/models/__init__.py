"""Models, each with a leading instance dimension so a whole sweep trains as one batch."""

from __future__ import annotations

import torch

from ..config import RunConfig
from .toy import ToyModel

MODEL_KINDS = ("linear", "relu")


def build_model(config: RunConfig, generator: torch.Generator | None = None) -> ToyModel:
    """The model a run config describes, initialised from `generator`, on the config's device."""
    return ToyModel(
        config.model,
        n_features=config.data.n_features,
        n_instances=config.data.n_instances,
        generator=generator,
        device=config.train.device,
    )


__all__ = ["MODEL_KINDS", "ToyModel", "build_model"]
