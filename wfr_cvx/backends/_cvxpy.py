"""Backend ``"cvxpy"``: the same discrete problem written as cvxpy expressions.

This is the modelling / reference backend.  It does not reuse the sparse matrices of
:mod:`wfr_cvx.assembly`: time differences, divergence and averages are written with
cvxpy slicing, so agreement between the two backends checks the hand assembly.  The
perspective terms are vectorised second-order cones ``SOC(y + t, [2x; y - t], axis=0)``
(``quad_over_lin`` cannot take a vector denominator), solved by Clarabel.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from .._warnings import silenced
from ..assembly import (
    SCHEMES,
    RawSolution,
    cone_metric_scale,
    geometric_mean_cells,
    transport_speed,
)
from ..grid import Grid
from ..metric import is_cell_metric
from ._settings import CLARABEL_DEFAULTS
from ._status import Status, cvxpy_limit

__all__ = ["Formulation", "build", "solve"]

#: cvxpy's statuses in the engine's words.
_STATUS = {
    cp.OPTIMAL: Status.SOLVED,
    cp.OPTIMAL_INACCURATE: Status.ALMOST_SOLVED,
    cp.INFEASIBLE: Status.PRIMAL_INFEASIBLE,
    cp.INFEASIBLE_INACCURATE: Status.ALMOST_PRIMAL_INFEASIBLE,
    cp.UNBOUNDED: Status.DUAL_INFEASIBLE,
    cp.UNBOUNDED_INACCURATE: Status.ALMOST_DUAL_INFEASIBLE,
}


def _rotated_cones(x, y, t):
    """``|x|^2 <= y t`` elementwise as cones ||(2x, y - t)|| <= y + t.

    ``x`` is one expression (3-dimensional cones) or a list of them (the components of a
    vector ``x``: ``len(x) + 2``-dimensional cones).
    """
    parts = x if isinstance(x, list) else [x]
    parts = [cp.vec(e, order="C") for e in parts]
    y, t = (cp.vec(e, order="C") for e in (y, t))
    return cp.SOC(y + t, cp.vstack([2 * e for e in parts] + [y - t]), axis=0)


def _shift(x, by: int):
    """Columns moved right by ``by``: ``out[:, c] = x[:, c - by]``, zeros coming in."""
    return cp.hstack([np.zeros((x.shape[0], by)), x[:, :-by]])


def _outflow(flux, grid: Grid):
    """Mass leaving each cell per step, (T*K, cells), from the face fluxes (T*K, faces).

    1-D: ``f_j - f_{j-1}`` with no flux through the ends.  2-D (padded faces, the
    non-faces hold no variable, so read 0): ``f0_c - f0_{c-n} + f1_c - f1_{c-1}`` on the
    flattened ``(i, j)`` cells.
    """
    if grid.dims == 1:
        zero_col = np.zeros((flux.shape[0], 1))
        return cp.hstack([flux, zero_col]) - cp.hstack([zero_col, flux])
    n, nc = grid.n_weights, grid.n_cells
    f0, f1 = flux[:, :nc], flux[:, nc:]
    return f0 - _shift(f0, n) + f1 - _shift(f1, 1)


def _face_mean(mean_cells, grid: Grid):
    """Mean of the two cells beside each face, (T*K, faces); 0 on the 2-D non-faces."""
    if grid.dims == 1:
        return (mean_cells[:, :-1] + mean_cells[:, 1:]) / 2
    n, nc = grid.n_weights, grid.n_cells
    zeros = np.zeros((mean_cells.shape[0], n))
    along0 = cp.hstack([(mean_cells[:, : nc - n] + mean_cells[:, n:]) / 2, zeros])
    along1 = cp.hstack([(mean_cells[:, :-1] + mean_cells[:, 1:]) / 2, zeros[:, :1]])
    exists = np.zeros((2, n, n))
    exists[0, :-1, :] = exists[1, :, :-1] = 1.0
    return cp.multiply(exists.reshape(1, -1), cp.hstack([along0, along1]))


def _centre_momentum(flux, grid: Grid) -> list:
    """Per axis, the mean of each cell's two faces of that axis, (T*K, cells) each."""
    if grid.dims == 1:
        zero_col = np.zeros((flux.shape[0], 1))
        return [(cp.hstack([zero_col, flux]) + cp.hstack([flux, zero_col])) / 2]
    n, nc = grid.n_weights, grid.n_cells
    f0, f1 = flux[:, :nc], flux[:, nc:]
    return [(f0 + _shift(f0, n)) / 2, (f1 + _shift(f1, 1)) / 2]


def _touched_cells(open_faces: np.ndarray, grid: Grid) -> np.ndarray:
    """Flat (step, regime, cell) indices of cells beside at least one open face."""
    n = grid.n_weights
    if grid.dims == 1:
        o = open_faces.reshape(-1, n - 1)
        touched = np.zeros((o.shape[0], n), dtype=bool)
        touched[:, :-1] |= o
        touched[:, 1:] |= o
        return np.flatnonzero(touched)
    o = open_faces.reshape(-1, 2, n, n)
    touched = o[:, 0] | o[:, 1]
    touched[:, 1:, :] |= o[:, 0, :-1, :]
    touched[:, :, 1:] |= o[:, 1, :, :-1]
    return np.flatnonzero(touched)


@dataclass
class Formulation:
    """The discrete problem as cvxpy objects (built by :func:`build`).

    ``levels`` (T+1, K*cells) masses on all levels and ``interior`` the unknown ones;
    ``flux`` (T*K, faces) mass moved across each face per step; ``created`` (T, K*cells)
    mass created per step; ``mean`` (T, K*cells), ``face_mean`` (T*K, faces) the cost
    denominators (cells, faces: ``grid.n_cells``, ``grid.n_faces`` per regime);
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


def build(request) -> Formulation:
    """Write the problem of a validated request (:class:`wfr_cvx.engine.Request`) with cvxpy.

    Which unknowns exist comes from the same :class:`~wfr_cvx.constraints.Plan` as the
    direct assembly; every operator and constraint is written here with cvxpy slicing.
    """
    grid, plan, metric, lam, scheme = (request.grid, request.plan, request.metric,
                                       request.lam, request.scheme)
    rho0, rho1 = request.rho0, request.rho1
    end_potential, end_weight = request.end_potential, request.end_weight
    T, K = grid.n_steps, grid.n_regimes
    C, nf = K * grid.n_cells, grid.n_faces
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
    flux_var, flux = _placed("flux", flux_rows, T * K * nf, (T * K, nf))

    outflow = _outflow(flux, grid)
    created = (levels[1:] - levels[:-1]) + cp.reshape(outflow, (T, C), order="C")

    arithmetic = (levels[1:] + levels[:-1]) / 2
    transport_mean, reaction_mean, charged_at = SCHEMES[scheme]
    means = {"arithmetic": arithmetic}
    constraints = []
    if "power" in (transport_mean, reaction_mean):
        # g^2 <= rho^k rho^{k+1}; g = 0 where a data level is zero (that cone has no
        # interior) or the cell is inactive, so only the other cells get a variable.
        cells = geometric_mean_cells(active, rho0, rho1, T)
        g, g_grid = _placed("g", cells, T * C, (T, C))
        means["power"] = arithmetic / 2 + g_grid / 2
        if g is not None:  # none when every step has a zero data level (disjoint ends)
            lower = cp.vec(levels[:-1], order="C")[cells]
            upper = cp.vec(levels[1:], order="C")[cells]
            constraints.append(_rotated_cones(g, lower, upper))
    elif rho_rows.size:
        constraints.append(cp.vec(interior, order="C")[rho_rows] >= 0)
    mean = means[reaction_mean]
    mean_cells = cp.reshape(means[transport_mean], (T * K, grid.n_cells), order="C")
    face_mean = _face_mean(mean_cells, grid)
    face_mean_open = cp.vec(face_mean, order="C")[flux_rows]

    # G dx^2/dt mu^2 / F as (G dx^2/dt / speed^2) (speed mu)^2 / F: the epigraph stays
    # O(F) on fine grids (wfr_cvx.assembly.transport_speed), and a free end's small step
    # balanced as in the direct assembly (Request.balance)
    speed = transport_speed(grid) * request.balance
    unit = grid.dx**2 / grid.dt / speed**2
    if flux_var is None:
        transport = cp.Constant(np.zeros(T * K))
    elif is_cell_metric(metric) or charged_at == "cells":
        # |u|^2 <= rho_mean t per cell: u = L^T mu_bar (G = L L^T, mu_bar the centred
        # momentum), or with G on the faces u_a = the centre mean of sqrt(G_a) mu_a
        at = _touched_cells(plan.faces, grid)
        # G / g in the cones, g on the epigraphs (wfr_cvx.assembly.cone_metric_scale)
        g = cone_metric_scale(metric, grid)
        if is_cell_metric(metric):
            L = np.broadcast_to(np.linalg.cholesky(metric / g), (T, *metric.shape))
            L = L.reshape(T * K, grid.n_cells, 2, 2)
            mu_bar = _centre_momentum(flux, grid)
            u = [cp.multiply(L[..., 0, r], mu_bar[0]) + cp.multiply(L[..., 1, r], mu_bar[1])
                 for r in (0, 1)]
        else:
            root = np.sqrt(np.broadcast_to(metric / g, (T, *grid.face_shape)).reshape(T * K, nf))
            u = _centre_momentum(cp.multiply(root, flux), grid)
        t_transport, t_grid = _placed("t_transport", at, T * C, (T * K, grid.n_cells))
        constraints.append(_rotated_cones([speed * cp.vec(e, order="C")[at] for e in u],
                                          cp.vec(mean_cells, order="C")[at], t_transport))
        transport = (unit * g) * cp.sum(t_grid, axis=1)
    else:
        weight = np.broadcast_to(metric, (T, *grid.face_shape)).reshape(T * K, nf) * unit
        t_transport, t_grid = _placed("t_transport", flux_rows, T * K * nf, (T * K, nf))
        constraints.append(_rotated_cones(speed * flux_var, face_mean_open, t_transport))
        transport = cp.sum(cp.multiply(weight, t_grid), axis=1)
    reacting = plan.reaction[:, None] & active[None, :]
    react_rows, still_rows = np.flatnonzero(reacting), np.flatnonzero(~reacting & active)
    created_vec, mean_vec = cp.vec(created, order="C"), cp.vec(mean, order="C")
    if react_rows.size:
        t_reaction = cp.Variable(react_rows.size, name="t_reaction")
        constraints.append(_rotated_cones(request.balance * created_vec[react_rows],
                                          mean_vec[react_rows], t_reaction))
        per_step = sp.csr_matrix((np.ones(react_rows.size), (react_rows // C,
                                                             np.arange(react_rows.size))),
                                 shape=(T, react_rows.size))
        reaction = (lam**2 / grid.dt / request.balance**2) * (per_step @ t_reaction)
    else:
        reaction = cp.Constant(np.zeros(T))
    if still_rows.size:
        constraints.append(created_vec[still_rows] == 0)
    # constraints of wfr_cvx.constraints, in these units: |flux| dx/dt <= vmax face_mean,
    # |created| / dt <= rmax mean, equal sums of the interior levels
    # (both sides divided by the larger of 1 and the cap's coefficient, as the assembly's
    # rows: a loose cap's large coefficients otherwise dwarf the other rows)
    for vmax, steps in plan.velocity_caps:
        on = np.flatnonzero(steps[flux_rows // (K * nf)])
        if on.size:
            k = max(1.0, vmax * grid.dt / grid.dx)
            constraints.append(cp.abs(flux_var[on]) / k
                               <= (vmax * grid.dt / grid.dx / k) * face_mean_open[on])
    for rmax in plan.rate_caps:
        if react_rows.size:
            k = max(1.0, rmax * grid.dt)
            constraints.append(cp.abs(created_vec[react_rows]) / k
                               <= (rmax * grid.dt / k) * mean_vec[react_rows])
    if plan.total_mass and T > 1:
        constraints.append(cp.sum(levels[1:T], axis=1) == rho0.sum())
    objective = cp.sum(transport) + cp.sum(reaction)
    if free_end:
        end = levels[T]
        constraints.append(cp.sum(end) == rho0.sum())
        objective = end_weight * objective + np.asarray(end_potential).ravel() @ end
    # divided by the a-priori cost size, as in the direct assembly
    problem = cp.Problem(cp.Minimize(objective / request.cost_scale), constraints)
    return Formulation(problem=problem, levels=levels, interior=interior, flux=flux,
                       created=created, mean=mean, face_mean=face_mean,
                       transport=transport, reaction=reaction)


def solve(request) -> RawSolution:
    """Build (:func:`build`) and solve with cvxpy and Clarabel."""
    start = time.perf_counter()
    grid = request.grid
    T, K = grid.n_steps, grid.n_regimes
    cells, faces = grid.shape, grid.face_shape
    form = build(request)
    problem, levels = form.problem, form.levels
    settings = {**CLARABEL_DEFAULTS, **request.options}
    try:
        # cvxpy's "may be inaccurate" warning: the status policy of wfr_cvx.engine reports
        # it (InaccurateSolutionWarning), once
        with silenced(UserWarning):
            problem.solve(solver=cp.CLARABEL, **settings)
        status = _STATUS.get(problem.status, Status.SOLVER_ERROR)
        if problem.status == cp.USER_LIMIT:
            status = cvxpy_limit(_iterations(problem.solver_stats),
                                 settings.get("max_iter"))
        message = ""
    except cp.error.SolverError as exc:
        status, message = Status.SOLVER_ERROR, " ".join(str(exc).split())
    stats = problem.solver_stats
    elapsed = time.perf_counter() - start
    solve_time = float(stats.solve_time or 0.0) if stats is not None else 0.0
    # every expression read below must have a value (with one step the levels are all
    # data and have one even when the solve failed)
    if problem.value is None or any(e.value is None for e in (
            levels, form.flux, form.created, form.mean, form.face_mean)):
        nan = np.full
        return RawSolution(
            levels=nan((T + 1, *cells), np.nan), flux=nan((T, *faces), np.nan),
            created=nan((T, *cells), np.nan), transport=nan(T, np.nan),
            reaction=nan(T, np.nan), status=status, iterations=_iterations(stats),
            setup_time=elapsed - solve_time, solve_time=solve_time, message=message,
        )
    return RawSolution(
        levels=np.asarray(levels.value).reshape(T + 1, *cells),
        flux=np.asarray(form.flux.value).reshape(T, *faces),
        created=np.asarray(form.created.value).reshape(T, *cells),
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
