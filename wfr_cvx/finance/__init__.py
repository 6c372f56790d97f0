"""Finance: mean-variance (Markowitz) portfolios, the shipped prices, and the crossover
scale in dollars.

=========================  ============================================================
:mod:`.markowitz`          estimates, the mean-variance QP, the efficient frontier, the
                           simplex retraction, mean-variance potentials on a grid
:mod:`.units`              the crossover scale in dollars and its conversion to weights
``data/``                  the shipped IBM / WMT / SEHI monthly prices (package data)
=========================  ============================================================

The grid engine does not import this package; :func:`wfr_cvx.rebalance` and the problem
files use it when asked for a mean-variance potential.
"""

from . import markowitz, units
from .markowitz import (
    efficient_frontier,
    estimate,
    load_prices,
    mean_variance,
    min_variance,
    potential,
    resampled_portfolios,
    returns_from_prices,
    simplex_retract,
)
from .units import crossover_scale, lam_to_dollars, lam_to_weights

__all__ = ["crossover_scale", "efficient_frontier", "estimate", "lam_to_dollars",
           "lam_to_weights", "load_prices", "markowitz", "mean_variance", "min_variance",
           "potential", "resampled_portfolios", "returns_from_prices", "simplex_retract",
           "units"]
