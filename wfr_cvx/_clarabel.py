"""Backend ``"clarabel"``: our sparse assembly handed to ``clarabel.DefaultSolver``."""

from __future__ import annotations

import time

import clarabel
import numpy as np
import scipy.sparse as sp

from .grid import Grid
from .problem import ConicProblem, RawSolution, solve_assembled

__all__ = ["SOLVER_OPTIONS", "solve", "solve_conic"]

#: Option names Clarabel's DefaultSettings accepts (both backends validate against it).
SOLVER_OPTIONS = frozenset(
    name for name in dir(clarabel.DefaultSettings())
    if not name.startswith("_") and name != "default"
)


def _cone_objects(cones):
    out = []
    for kind, dim in cones:
        if dim == 0:
            continue
        if kind == "zero":
            out.append(clarabel.ZeroConeT(dim))
        elif kind == "nonneg":
            out.append(clarabel.NonnegativeConeT(dim))
        elif kind in ("soc3", "soc4"):
            out.extend([clarabel.SecondOrderConeT(int(kind[-1]))] * dim)
        else:  # pragma: no cover - assembly only emits the kinds above
            raise AssertionError(f"unknown cone kind {kind!r}")
    return out


#: wfr_cvx's defaults, applied before the user's options.  ``qdldl`` against Clarabel's
#: "auto" choice (faer), measured by `make bench` on the 1-D staggered problems: on one
#: data set faer was 3x slower at 1,024 x 2 x 32 (72 s vs 23 s), on the current demo data
#: faer with one thread is 14-23 % faster at 256 and 1,024 weights.  qdldl is the default
#: because it was never far off; pass ``direct_solve_method="faer", max_threads=1`` to try.
DEFAULTS = {"verbose": False, "direct_solve_method": "qdldl"}

#: On 2-D grids (space x space x time) the KKT factor fills in far more, and faer's
#: supernodal factorisation wins: 32^2 simplex x 16 steps, 28 iterations, 20 s with faer
#: against 112 s with qdldl (measured on a loaded 2-core machine; 1 or 2 threads alike).
DEFAULTS_2D = {"verbose": False, "direct_solve_method": "faer", "max_threads": 1}


def defaults_for(grid: Grid) -> dict:
    """wfr_cvx's Clarabel defaults for this grid's shape (chosen by measurement)."""
    return DEFAULTS_2D if grid.dims == 2 else DEFAULTS


def settings_from_options(options: dict, defaults: dict = DEFAULTS) -> clarabel.DefaultSettings:
    """Clarabel settings: ``defaults``, then the given options."""
    settings = clarabel.DefaultSettings()
    options = {**defaults, **options}
    for name, value in options.items():
        try:
            setattr(settings, name, value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"solver option `{name}`={value!r} was refused: {exc}") from None
    return settings


def solve_conic(problem: ConicProblem, options: dict, defaults: dict = DEFAULTS) -> dict:
    """Solve ``problem`` with Clarabel: x, status, iterations, timings, residuals."""
    start = time.perf_counter()
    n = problem.n_variables
    settings = settings_from_options(options, defaults)
    solver = clarabel.DefaultSolver(sp.csc_matrix((n, n)), problem.q, problem.A, problem.b,
                                    _cone_objects(problem.cones), settings)
    setup = time.perf_counter() - start
    solution = solver.solve()
    return {
        "x": np.asarray(solution.x),
        "status": str(solution.status),
        "iterations": int(solution.iterations),
        "setup_time": setup,
        "solve_time": time.perf_counter() - start - setup,
        "objective": float(solution.obj_val),
    }


def solve(rho0, rho1, grid: Grid, lam: float, metric, *, scheme: str, options: dict,
          **assembly) -> RawSolution:
    """Assemble and solve the scaled problem; timings include our assembly in setup.

    ``assembly`` keywords (``transport``, ``reaction``, ``end_potential``, ``end_weight``)
    go to :func:`~wfr_cvx.problem.assemble`.
    """
    defaults = defaults_for(grid)
    return solve_assembled(lambda problem: solve_conic(problem, options, defaults),
                           rho0, rho1, grid, lam, metric, scheme=scheme, **assembly)
