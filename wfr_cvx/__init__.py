"""wfr_cvx: Wasserstein-Fisher-Rao geodesics of allocation distributions as sparse SOCPs.

An allocation is a measure over portfolio weights x market regimes; the WFR distance
prices rebalancing (transport along the weights) against regime switches (reaction).
"""

from . import (
    batch,
    closed_form,
    constraints,
    diagnostics,
    dynamics,
    markowitz,
    metric,
    operators,
)
from .compare import compare
from .constraints import MaxReactionRate, MaxVelocity, TotalMass, TradingWindow
from .errors import (
    InaccurateSolutionWarning,
    InfeasibleError,
    ProblemTooLargeError,
    SolverError,
    UnitsWarning,
)
from .geodesic import distance, geodesic
from .grid import Grid
from .modelling import Model, model
from .rebalance import Rebalance, rebalance
from .result import Geodesic
from .units import crossover_scale, lam_to_dollars, lam_to_weights

__version__ = "0.1.0"

__all__ = [
    "Grid",
    "Geodesic",
    "geodesic",
    "distance",
    "rebalance",
    "model",
    "Model",
    "MaxVelocity",
    "TradingWindow",
    "MaxReactionRate",
    "TotalMass",
    "constraints",
    "metric",
    "compare",
    "Rebalance",
    "crossover_scale",
    "lam_to_weights",
    "lam_to_dollars",
    "batch",
    "closed_form",
    "diagnostics",
    "dynamics",
    "markowitz",
    "operators",
    "SolverError",
    "InfeasibleError",
    "ProblemTooLargeError",
    "InaccurateSolutionWarning",
    "UnitsWarning",
    "__version__",
]
