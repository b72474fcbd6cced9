"""Figures (plotly), grouped by run family, plus what they share.

- `common`: colour scales, the template, panel grids, figure titles, the no-data figure and `loss_history`.
- `toy`: the toy models' features in 2D, W^T W and norms, bias, interference, feature dimensionality.
- `neurons`: the neuron models' input weights per neuron and the count of polysemantic neurons.
- `phase`: phase diagrams, theory beside trained models.
- `modadd`: modular addition's frequencies, bilinear weights, weight magnitudes, budgets and condition sweep.
- `dictionary`: sparse autoencoders' decoder directions and recovery sweeps.
- `decomposition`: each feature's benefit against the interference it causes, and both across sparsity.
- `nonuniform`: the features along a sweep of one feature's density or importance, and the loss and angles.
- `walkthrough`: each feature's bias against its interference (seed 004's reading).
- `adversarial`: vulnerability against features per dimension, and each feature's silencing distance.
- `dynamics`: a run's features over training (an animation with a step slider) and D_i against the loss.
- `sweep`: a sweep's results over its axes (heatmaps over two axes, lines over one).

Every figure takes tensors or tables, the instance labels and the run's one-line title (as ARENA's plotting helpers
do); none reads a run or a config. The families (`superposition.families`) build those from a run, titles and labels
included, and list each run's figures. This package only re-exports its modules' figures.
"""

from .adversarial import robustness_scatter, vulnerability_curves
from .common import DIVERGING_SCALE, IMPORTANCE_SCALE, PANEL, SUPERPOSITION_SCALE, TEMPLATE, loss_history
from .decomposition import benefit_and_interference, interference_across_sparsity
from .dictionary import decoder_directions, recovery_curves, recovery_heatmap
from .dynamics import dimensionality_over_training, training_animation
from .modadd import bilinear_weights, budget_comparison, condition_sweep, frequency_shares, weight_magnitudes
from .neurons import neurons, polysemantic_neurons
from .nonuniform import sweep_curves, sweep_features
from .phase import PHASE_COLOURS, phase_diagrams
from .sweep import sweep_heatmaps, sweep_lines
from .toy import bias, dimensionality_scatter, features_2d, interference, wtw_and_norms
from .walkthrough import bias_against_interference

__all__ = [
    "DIVERGING_SCALE",
    "IMPORTANCE_SCALE",
    "PANEL",
    "PHASE_COLOURS",
    "SUPERPOSITION_SCALE",
    "TEMPLATE",
    "benefit_and_interference",
    "bias",
    "bias_against_interference",
    "bilinear_weights",
    "budget_comparison",
    "condition_sweep",
    "decoder_directions",
    "dimensionality_over_training",
    "dimensionality_scatter",
    "features_2d",
    "frequency_shares",
    "interference",
    "interference_across_sparsity",
    "loss_history",
    "neurons",
    "phase_diagrams",
    "polysemantic_neurons",
    "recovery_curves",
    "recovery_heatmap",
    "robustness_scatter",
    "sweep_curves",
    "sweep_features",
    "sweep_heatmaps",
    "sweep_lines",
    "training_animation",
    "vulnerability_curves",
    "weight_magnitudes",
    "wtw_and_norms",
]
