"""wfr_cvx: Wasserstein-Fisher-Rao geodesics of allocation distributions as sparse SOCPs.

An allocation is a measure over portfolio weights x market regimes; the WFR distance
prices rebalancing (transport along the weights) against regime switches (reaction).
"""

from . import closed_form, operators
from .errors import InaccurateSolutionWarning, InfeasibleError, SolverError
from .geodesic import distance, geodesic
from .grid import Grid
from .result import Geodesic

__version__ = "0.1.0"

__all__ = [
    "Grid",
    "Geodesic",
    "geodesic",
    "distance",
    "closed_form",
    "operators",
    "SolverError",
    "InfeasibleError",
    "InaccurateSolutionWarning",
    "__version__",
]
