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
from dataclasses import dataclass

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from ._clarabel import DEFAULTS
from .constraints import compile_constraints
from .grid import Grid
from .problem import RawSolution, geometric_mean_cells

__all__ = ["Formulation", "build", "solve"]

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


@dataclass
class Formulation:
    """The discrete problem as cvxpy objects (built by :func:`build`).

    ``levels`` (T+1, K*n) masses on all levels and ``interior`` the unknown ones;
    ``flux`` (T*K, n-1) mass moved across each face per step; ``created`` (T, K*n) mass
    created per step; ``mean`` (T, K*n), ``face_mean`` (T*K, n-1) the cost denominators;
    ``transport`` (T*K,) and ``reaction`` (T,) the cost per step (in ``cost_scale``
    units' numerator); columns run over (regime, weight) in C order.
    """

    problem: cp.Problem
    levels: cp.Expression
    interior: cp.Expression
    flux: cp.Expression
    created: cp.Expression
    mean: cp.Expression
    face_mean: cp.Expression
    transport: cp.Expression
    reaction: cp.Expression


def _placed(name: str, rows: np.ndarray, size: int, shape) -> tuple:
    """A variable holding only the entries ``rows`` of a ``shape`` array (zeros elsewhere).

    Returns ``(variable, expression of shape)``; no variable when ``rows`` is empty.
    """
    if rows.size == 0:
        return None, cp.Constant(np.zeros(shape))
    var = cp.Variable(rows.size, name=name)
    place = sp.csr_matrix((np.ones(rows.size), (rows, np.arange(rows.size))),
                          shape=(size, rows.size))
    return var, cp.reshape(place @ var, shape, order="C")


def build(rho0, rho1, grid: Grid, lam: float, metric, *, scheme: str,
          transport: bool = True, reaction: bool = True, end_potential=None,
          end_weight: float = 1.0, cost_scale: float = 1.0, constraints=()) -> Formulation:
    """Write the problem with cvxpy; keywords as for :func:`wfr_cvx.problem.assemble`.

    Which unknowns exist comes from the same :class:`~wfr_cvx.constraints.Plan` as the
    direct assembly; every operator and constraint is written here with cvxpy slicing.
    """
    plan = compile_constraints(constraints, grid, rho0, rho1, transport=transport,
                               reaction=reaction)
    T, K, n = grid.n_steps, grid.n_regimes, grid.n_weights
    C = K * n
    free_end = rho1 is None
    n_free = T if free_end else T - 1
    active = plan.cells.ravel()
    rho_rows = np.flatnonzero(np.broadcast_to(active, (n_free, C)))
    _, interior = _placed("rho", rho_rows, n_free * C, (n_free, C))
    if free_end:
        levels = cp.vstack([rho0.reshape(1, C), interior])
    else:
        levels = cp.vstack([rho0.reshape(1, C), interior, rho1.reshape(1, C)])
    # mass moved across a face per step, only on the open faces
    flux_rows = np.flatnonzero(plan.faces.ravel())
    flux_var, flux = _placed("flux", flux_rows, T * K * (n - 1), (T * K, n - 1))

    zero_col = np.zeros((T * K, 1))
    outflow = cp.hstack([flux, zero_col]) - cp.hstack([zero_col, flux])
    created = (levels[1:] - levels[:-1]) + cp.reshape(outflow, (T, C), order="C")

    arithmetic = (levels[1:] + levels[:-1]) / 2
    constraints = []
    if scheme == "power":
        # g^2 <= rho^k rho^{k+1}; g = 0 where a data level is zero (that cone has no
        # interior) or the cell is inactive, so only the other cells get a variable.
        cells = geometric_mean_cells(active, rho0, rho1, T)
        g, g_grid = _placed("g", cells, T * C, (T, C))
        mean = arithmetic / 2 + g_grid / 2
        lower = cp.vec(levels[:-1], order="C")[cells]
        upper = cp.vec(levels[1:], order="C")[cells]
        constraints.append(_rotated_cones(g, lower, upper))
    else:
        mean = arithmetic
        if rho_rows.size:
            constraints.append(cp.vec(interior, order="C")[rho_rows] >= 0)
    mean_cells = cp.reshape(mean, (T * K, n), order="C")
    face_mean = (mean_cells[:, :-1] + mean_cells[:, 1:]) / 2
    face_mean_open = cp.vec(face_mean, order="C")[flux_rows]

    weight = np.tile(np.broadcast_to(metric, (K, n - 1)), (T, 1)) * grid.dx**2 / grid.dt
    if flux_var is not None:
        t_transport, t_grid = _placed("t_transport", flux_rows, T * K * (n - 1),
                                      (T * K, n - 1))
        constraints.append(_rotated_cones(flux_var, face_mean_open, t_transport))
        transport = cp.sum(cp.multiply(weight, t_grid), axis=1)
    else:
        transport = cp.Constant(np.zeros(T * K))
    reacting = plan.reaction[:, None] & active[None, :]
    react_rows, still_rows = np.flatnonzero(reacting), np.flatnonzero(~reacting & active)
    created_vec, mean_vec = cp.vec(created, order="C"), cp.vec(mean, order="C")
    if react_rows.size:
        t_reaction = cp.Variable(react_rows.size, name="t_reaction")
        constraints.append(_rotated_cones(created_vec[react_rows], mean_vec[react_rows],
                                          t_reaction))
        per_step = sp.csr_matrix((np.ones(react_rows.size), (react_rows // C,
                                                             np.arange(react_rows.size))),
                                 shape=(T, react_rows.size))
        reaction = (lam**2 / grid.dt) * (per_step @ t_reaction)
    else:
        reaction = cp.Constant(np.zeros(T))
    if still_rows.size:
        constraints.append(created_vec[still_rows] == 0)
    # constraints of wfr_cvx.constraints, in these units: |flux| dx/dt <= vmax face_mean,
    # |created| / dt <= rmax mean, equal sums of the interior levels
    for vmax, steps in plan.velocity_caps:
        on = np.flatnonzero(steps[flux_rows // (K * (n - 1))])
        if on.size:
            constraints.append(cp.abs(flux_var[on]) * (grid.dx / grid.dt)
                               <= vmax * face_mean_open[on])
    for rmax in plan.rate_caps:
        if react_rows.size:
            constraints.append(cp.abs(created_vec[react_rows]) / grid.dt
                               <= rmax * mean_vec[react_rows])
    if plan.total_mass and T > 1:
        constraints.append(cp.sum(levels[1:T], axis=1) == rho0.sum())
    objective = cp.sum(transport) + cp.sum(reaction)
    if free_end:
        end = levels[T]
        constraints.append(cp.sum(end) == rho0.sum())
        objective = end_weight * objective + np.asarray(end_potential).ravel() @ end
    # divided by the a-priori cost size, as in the direct assembly
    problem = cp.Problem(cp.Minimize(objective / cost_scale), constraints)
    return Formulation(problem=problem, levels=levels, interior=interior, flux=flux,
                       created=created, mean=mean, face_mean=face_mean,
                       transport=transport, reaction=reaction)


def solve(rho0, rho1, grid: Grid, lam: float, metric, *, scheme: str, options: dict,
          **assembly) -> RawSolution:
    """Build (:func:`build`) and solve with cvxpy; keywords as for :func:`build`."""
    start = time.perf_counter()
    T, K, n = grid.n_steps, grid.n_regimes, grid.n_weights
    form = build(rho0, rho1, grid, lam, metric, scheme=scheme, **assembly)
    problem, levels = form.problem, form.levels
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
    if problem.value is None or levels.value is None:
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
        flux=np.asarray(form.flux.value).reshape(T, K, n - 1),
        created=np.asarray(form.created.value).reshape(T, K, n),
        mean=np.asarray(form.mean.value).reshape(T, K, n),
        face_mean=np.asarray(form.face_mean.value).reshape(T, K, n - 1),
        transport=np.asarray(form.transport.value).reshape(T, K).sum(axis=1),
        reaction=np.asarray(form.reaction.value).reshape(T),
        status=status,
        iterations=_iterations(stats),
        setup_time=elapsed - solve_time,
        solve_time=solve_time,
    )


def _iterations(stats) -> int:
    if stats is None or stats.num_iters is None:
        return 0
    return int(stats.num_iters)
