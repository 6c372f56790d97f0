"""Backend ``"cvxpy"``: the same discrete problem written as cvxpy expressions.

This is the modelling / reference backend.  It does not reuse the sparse matrices of
:mod:`wfr_cvx.problem`: time differences, divergence and averages are written with
cvxpy slicing, so agreement between the two backends checks the hand assembly.  The
perspective terms are vectorised second-order cones ``SOC(y + t, [2x; y - t], axis=0)``
(``quad_over_lin`` cannot take a vector denominator), solved by Clarabel.
"""

from __future__ import annotations

import time
import warnings

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from ._clarabel import DEFAULTS
from .grid import Grid
from .problem import RawSolution

__all__ = ["solve"]

_STATUS = {
    cp.OPTIMAL: "Solved",
    cp.OPTIMAL_INACCURATE: "AlmostSolved",
    cp.INFEASIBLE: "PrimalInfeasible",
    cp.INFEASIBLE_INACCURATE: "AlmostPrimalInfeasible",
    cp.UNBOUNDED: "DualInfeasible",
    cp.UNBOUNDED_INACCURATE: "AlmostDualInfeasible",
}


def _rotated_cones(x, y, t):
    """``x^2 <= y t`` elementwise as 3-dimensional cones: ||(2x, y - t)|| <= y + t."""
    x, y, t = (cp.vec(e, order="C") for e in (x, y, t))
    return cp.SOC(y + t, cp.vstack([2 * x, y - t]), axis=0)


def solve(rho0, rho1, grid: Grid, lam: float, metric, *, scheme: str, options: dict,
          transport: bool = True, reaction: bool = True, end_potential=None,
          end_weight: float = 1.0, cost_scale: float = 1.0) -> RawSolution:
    """Build and solve with cvxpy; keywords as for :func:`wfr_cvx.problem.assemble`."""
    start = time.perf_counter()
    transport_on, reaction_on = transport, reaction
    T, K, n = grid.n_steps, grid.n_regimes, grid.n_weights
    C = K * n
    free_end = rho1 is None
    interior = cp.Variable((T if free_end else T - 1, C), name="rho")
    if free_end:
        levels = cp.vstack([rho0.reshape(1, C), interior])
    else:
        levels = cp.vstack([rho0.reshape(1, C), interior, rho1.reshape(1, C)])
    # mass moved across a face per step (a constant 0 when transport is switched off)
    flux = (cp.Variable((T * K, n - 1), name="flux") if transport_on
            else cp.Constant(np.zeros((T * K, n - 1))))

    zero_col = np.zeros((T * K, 1))
    outflow = cp.hstack([flux, zero_col]) - cp.hstack([zero_col, flux])
    created = (levels[1:] - levels[:-1]) + cp.reshape(outflow, (T, C), order="C")

    arithmetic = (levels[1:] + levels[:-1]) / 2
    constraints = []
    if scheme == "power":
        # g^2 <= rho^k rho^{k+1}; g = 0 where a data level is zero (that cone has no
        # interior), so only the other cells get a variable.
        active = np.ones((T, C), dtype=bool)
        active[0] &= rho0.ravel() > 0
        if not free_end:
            active[T - 1] &= rho1.ravel() > 0
        cells = np.flatnonzero(active)
        g = cp.Variable(cells.size, name="g")
        place = sp.csr_matrix((np.ones(cells.size), (cells, np.arange(cells.size))),
                              shape=(T * C, cells.size))
        g_grid = cp.reshape(place @ g, (T, C), order="C")
        mean = arithmetic / 2 + g_grid / 2
        lower = cp.vec(levels[:-1], order="C")[cells]
        upper = cp.vec(levels[1:], order="C")[cells]
        constraints.append(_rotated_cones(g, lower, upper))
    else:
        mean = arithmetic
        constraints.append(interior >= 0)
    mean_cells = cp.reshape(mean, (T * K, n), order="C")
    face_mean = (mean_cells[:, :-1] + mean_cells[:, 1:]) / 2

    weight = np.tile(np.broadcast_to(metric, (K, n - 1)), (T, 1)) * grid.dx**2 / grid.dt
    if transport_on:
        t_transport = cp.Variable((T * K, n - 1), name="t_transport")
        constraints.append(_rotated_cones(flux, face_mean, t_transport))
        transport = cp.sum(cp.multiply(weight, t_transport), axis=1)
    else:
        transport = cp.Constant(np.zeros(T * K))
    if reaction_on:
        t_reaction = cp.Variable((T, C), name="t_reaction")
        constraints.append(_rotated_cones(created, mean, t_reaction))
        reaction = (lam**2 / grid.dt) * cp.sum(t_reaction, axis=1)
    else:
        constraints.append(created == 0)
        reaction = cp.Constant(np.zeros(T))
    objective = cp.sum(transport) + cp.sum(reaction)
    if free_end:
        end = levels[T]
        constraints.append(cp.sum(end) == rho0.sum())
        objective = end_weight * objective + np.asarray(end_potential).ravel() @ end
    # divided by the a-priori cost size, as in the direct assembly
    problem = cp.Problem(cp.Minimize(objective / cost_scale), constraints)
    settings = {**DEFAULTS, **options}
    try:
        with warnings.catch_warnings():
            # cvxpy's "may be inaccurate" warning: the status policy of wfr_cvx.geodesic
            # reports it (InaccurateSolutionWarning), once
            warnings.simplefilter("ignore", UserWarning)
            problem.solve(solver=cp.CLARABEL, **settings)
        status = _STATUS.get(problem.status, str(problem.status))
        if problem.status == cp.USER_LIMIT:
            # cvxpy folds both of Clarabel's limits into user_limit; the count tells them
            # apart (the default max_iter is 200)
            used = _iterations(problem.solver_stats)
            status = "MaxIterations" if used >= settings.get("max_iter", 200) else "MaxTime"
    except cp.error.SolverError as exc:
        status = f"SolverError: {exc}"
    stats = problem.solver_stats
    elapsed = time.perf_counter() - start
    solve_time = float(stats.solve_time or 0.0) if stats is not None else 0.0
    if interior.value is None:
        nan = np.full
        return RawSolution(
            levels=nan((T + 1, K, n), np.nan), flux=nan((T, K, n - 1), np.nan),
            created=nan((T, K, n), np.nan), mean=nan((T, K, n), np.nan),
            face_mean=nan((T, K, n - 1), np.nan), transport=nan(T, np.nan),
            reaction=nan(T, np.nan), status=status, iterations=_iterations(stats),
            setup_time=elapsed - solve_time, solve_time=solve_time,
        )
    return RawSolution(
        levels=np.asarray(levels.value).reshape(T + 1, K, n),
        flux=np.asarray(flux.value).reshape(T, K, n - 1),
        created=np.asarray(created.value).reshape(T, K, n),
        mean=np.asarray(mean.value).reshape(T, K, n),
        face_mean=np.asarray(face_mean.value).reshape(T, K, n - 1),
        transport=np.asarray(transport.value).reshape(T, K).sum(axis=1),
        reaction=np.asarray(reaction.value),
        status=status,
        iterations=_iterations(stats),
        setup_time=elapsed - solve_time,
        solve_time=solve_time,
    )


def _iterations(stats) -> int:
    if stats is None or stats.num_iters is None:
        return 0
    return int(stats.num_iters)
