"""The literature's experiments, as declarative entries checked by `superposition reproduce`."""

from .adversarial import ADVERSARIAL
from .base import Check, Claim, ClaimSpec, Experiment, Findings, check, within
from .correlated import CORRELATED
from .decomposition import DECOMPOSITION
from .dynamics import DYNAMICS
from .geometry import GEOMETRY
from .geometry_large import GEOMETRY_LARGE
from .llc import LLC_KGONS
from .mixing import MIXING
from .neurons import NEURONS
from .nonuniform import NONUNIFORM
from .phase import PHASE
from .phase3 import PHASE3
from .sparse_coding import SPARSE_CODING
from .toy import FIRST_LOOK, INTRO, SWEEP
from .walkthrough import WALKTHROUGH

EXPERIMENTS: list[Experiment] = [
    FIRST_LOOK, INTRO, SWEEP, GEOMETRY, GEOMETRY_LARGE, NONUNIFORM, PHASE, PHASE3, CORRELATED, WALKTHROUGH,
    ADVERSARIAL, NEURONS, DYNAMICS, LLC_KGONS, MIXING, SPARSE_CODING, DECOMPOSITION,
]

__all__ = ["EXPERIMENTS", "Check", "Claim", "ClaimSpec", "Experiment", "Findings", "check", "within"]
