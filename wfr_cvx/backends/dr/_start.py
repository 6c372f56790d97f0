r"""Where the ADMM starts: the straight line, or the solve on a grid half as fine.

``coarse_start``: the same problem on the grid with half the cells per weight axis and
half the steps (:mod:`wfr_cvx.backends._multilevel`), solved by this backend to the same
tolerance (itself started from a coarser grid, down to
:data:`~wfr_cvx.backends._multilevel.MIN_CELLS` cells x
:data:`~wfr_cvx.backends._multilevel.MIN_STEPS` steps), its path prolonged to the grid
(nested iteration).
``"auto"`` (default) does so on 2-D grids, where it cuts the iterations on the fine grid
by 1.5-2x; ``True`` on 1-D grids too (there narrow bumps, narrower than a coarse cell,
gain nothing); ``False``, a free end, constraints or a grid that does not halve evenly
start from the straight line :math:`(1-s)\rho_0 + s\rho_1` without flux.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from ...assembly import Assembly
from ...constraints import compile_constraints
from .. import _multilevel
from .._conic import Start
from .._settings import DR_DEFAULTS as DEFAULTS
from .._status import LIMIT, Status

__all__ = ["path_point", "start", "start_point"]


def path_point(assembly: Assembly, levels: np.ndarray, flux: np.ndarray | None = None,
               free_end: bool = False) -> np.ndarray:
    """A path -- ``levels`` ``(T + 1, *shape)``, ``flux`` ``(T, *face_shape)`` (None: no
    flux) -- in the unknowns of ``assembly`` (epigraph columns excluded), with
    ``g = sqrt(rho^k rho^{k+1})``; ``free_end``: level ``T`` is an unknown too."""
    L = assembly.layout
    T = levels.shape[0] - 1
    levels = levels.reshape(T + 1, -1)
    x = np.zeros(L.t_transport.start)
    x[L.rho] = (levels[1:] if free_end else levels[1:-1]).ravel()[L.rho_cells]
    if flux is not None:
        x[L.flux] = np.ravel(flux)[L.flux_faces]
    x[L.g] = np.sqrt(np.maximum(levels[:-1] * levels[1:], 0.0)).ravel()[L.g_cells]
    return x


def start_point(assembly: Assembly, rho0: np.ndarray, rho1: np.ndarray | None,
                n_steps: int) -> np.ndarray:
    """The straight line ``(1 - s) rho0 + s rho1``, no flux, ``g = sqrt(rho^k rho^{k+1})``,
    in the unknowns of ``assembly`` (epigraph columns excluded)."""
    end = rho0 if rho1 is None else rho1
    s = np.arange(n_steps + 1)[:, None] / n_steps
    levels = (1.0 - s) * rho0.ravel()[None, :] + s * end.ravel()[None, :]
    return path_point(assembly, levels, free_end=rho1 is None)


def start(assembly: Assembly, request, solve_raw) -> Start:
    """The start of the ADMM on ``assembly`` (module docstring): the coarse solve's path
    prolonged, or the straight line.  ``solve_raw(request)`` solves a request in the
    solver's units (the engine's); the time spent here counts in the solve's time."""
    begin = time.perf_counter()
    options = {**DEFAULTS, **request.options}
    wanted = options["coarse_start"]
    grid = request.grid
    x0 = coarse = None
    if grid.dims == 2 if isinstance(wanted, str) else bool(wanted):  # "auto": 2-D
        x0, coarse = _coarse_start(assembly, request, solve_raw)
    if x0 is None:
        x0 = start_point(assembly, request.rho0, request.rho1, grid.n_steps)
    seconds = time.perf_counter() - begin
    if options["verbose"] and coarse is not None:
        print(f"dr coarse start {coarse.status} after {coarse.iterations} iterations on "
              f"{grid.n_weights // 2} cells x {grid.n_steps // 2} steps ({seconds:.2f} s)")
    return Start(x=x0, seconds=seconds)


def _coarse_start(assembly: Assembly, request, solve_raw):
    """The prolonged coarse path and the coarse solve, or ``(None, ...)`` where it does
    not apply: a free end, constraints, a grid that does not halve, or a coarse solve
    that failed numerically."""
    grid, plan = request.grid, request.plan
    if request.rho1 is None or plan.constraints or not _multilevel.can_coarsen(grid):
        return None, None
    coarse_grid = _multilevel.coarsen_grid(grid)
    coarse_plan = compile_constraints((), coarse_grid).switched(
        transport=bool(plan.faces.any()), reaction=bool(plan.reaction.any()))
    coarse = solve_raw(dataclasses.replace(
        request, grid=coarse_grid, plan=coarse_plan,
        rho0=_multilevel.restrict_allocation(request.rho0, grid),
        rho1=_multilevel.restrict_allocation(request.rho1, grid),
        metric=_multilevel.coarsen_metric(request.metric, grid)))
    if coarse.status not in (Status.SOLVED, *LIMIT):
        return None, coarse
    levels = _multilevel.prolong_levels(coarse.levels, grid)
    levels[0], levels[-1] = request.rho0, request.rho1
    return path_point(assembly, levels, _multilevel.prolong_flux(coarse.flux, grid)), coarse
