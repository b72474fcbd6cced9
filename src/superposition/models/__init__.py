"""Models, each with a leading instance dimension so a whole sweep trains as one batch. Every model follows
`base.InstanceModel`: built as `Model(config, *, <sizes>, generator, device)`, rebuilt with `from_weights`."""

from .base import AnalyticModel, InstanceModel
from .bilinear import BilinearModAdd
from .neuron import ComputationModel, NeuronModel, abs_construction
from .sae import SparseAutoencoder
from .toy import ToyModel

__all__ = ["AnalyticModel", "BilinearModAdd", "ComputationModel", "InstanceModel", "NeuronModel",
           "SparseAutoencoder", "ToyModel", "abs_construction"]
