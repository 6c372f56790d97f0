"""Solver backends: one registry, one conic-problem type, one status enumeration.

====================  ==========================================================
``REGISTRY[name]``    a :class:`Backend` record per backend ("clarabel", "cvxpy",
                      "dr", "scs"): its settings, memory figure, accuracy, entry
``ConicProblem``      ``min 1/2 x'Px + q'x, Ax + s = b, s in cones`` (Clarabel's
                      standard form), cones as :class:`ConeBlock` records
``ConicResult``       what a conic backend returns (``x``, :class:`Status`, ...)
``Status``            every backend's outcome, with the sets of the status policy
``choose_backend``    what ``backend="auto"`` (the default) runs: the interior point,
                      or the splitting on large simplex grids (:mod:`._auto`)
====================  ==========================================================

A conic backend is a function ``solve(problem, options, start=None) -> ConicResult``; the
cvxpy backend builds its own model from the validated request.  The modules holding the
solvers (``_clarabel``, ``_scs``, ``_cvxpy``, ``dr``) are imported on first use.
"""

from ._auto import (
    AUTO,
    DR_ITERATIONS_UNDER_AUTO,
    POINT_CELLS,
    auto_fallback,
    cells_holding,
    choose_backend,
    displayable,
)
from ._conic import CONE_KINDS, ConeBlock, ConicProblem, ConicResult, Start
from ._options import Option, check_options
from ._registry import REGISTRY, Backend, get_backend
from ._status import INACCURATE, INFEASIBLE, LIMIT, SOLVED, Status, severity

__all__ = ["AUTO", "Backend", "CONE_KINDS", "ConeBlock", "ConicProblem", "ConicResult",
           "DR_ITERATIONS_UNDER_AUTO", "INACCURATE", "INFEASIBLE", "LIMIT", "Option",
           "POINT_CELLS", "REGISTRY", "SOLVED", "Start", "Status", "auto_fallback",
           "cells_holding", "check_options", "choose_backend", "displayable", "get_backend",
           "severity"]
