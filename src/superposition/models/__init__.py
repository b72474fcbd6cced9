"""Models, each with a leading instance dimension so a whole sweep trains as one batch."""

from __future__ import annotations

import torch
from torch import nn

from ..config import ModAddRunConfig, RunConfig, SAERunConfig
from .bilinear import BilinearModAdd
from .neuron import ComputationModel, NeuronModel, abs_construction
from .sae import SparseAutoencoder
from .toy import ToyModel

MODEL_KINDS = ("linear", "relu", "neuron", "abs")


def build_model(
    config: RunConfig | ModAddRunConfig | SAERunConfig, generator: torch.Generator | None = None
) -> nn.Module:
    """The model a run config describes, initialised from `generator`, on the config's device."""
    if isinstance(config, SAERunConfig):
        m = config.model
        return SparseAutoencoder(m, config.source.d_in, m.n_instances, generator=generator, device=config.train.device)
    m, d, device = config.model, config.data, config.train.device
    if isinstance(config, ModAddRunConfig):
        return BilinearModAdd(
            d.p, m.d_embed, m.n_hidden, m.n_instances, generator=generator, device=device, bias=m.bias,
            layer_norm=m.layer_norm, activation=m.kind, loss_kind=m.loss,
        )
    if m.kind in ("linear", "relu"):
        return ToyModel(m, n_features=d.n_features, n_instances=d.n_instances, generator=generator, device=device)
    cls = NeuronModel if m.kind == "neuron" else ComputationModel
    start = {"init": m.init} if m.kind == "abs" and m.init != "zeros" else {}
    model = cls(d.n_features, m.n_hidden, d.n_instances, generator=generator, device=device, bias=m.bias, **start)
    if m.init == "zeros":
        with torch.no_grad():
            for p in model.parameters():
                p.zero_()
    return model


__all__ = ["MODEL_KINDS", "BilinearModAdd", "ComputationModel", "NeuronModel", "SparseAutoencoder", "ToyModel", "abs_construction", "build_model"]
