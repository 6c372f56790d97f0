"""Assembly of the cone program from its builders, and reading its solution back."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ..backends import ConeBlock, ConicProblem, ConicResult, Status
from ..metric import metric_reach
from . import _cones
from ._terms import (
    SCHEMES,
    Layout,
    build_terms,
    geometric_mean_cells,
    interior_level_map,
    transport_speed,
)

__all__ = ["TIME_MEANS", "Assembly", "RawSolution", "assemble", "cost_scale_for",
           "geometric_mean_cells", "interior_level_map", "pack_path", "transport_speed",
           "unpack"]

#: The schemes (``scheme=``): the time means of the cost denominators and where transport
#: is charged (:data:`SCHEMES`).
TIME_MEANS = tuple(SCHEMES)


@dataclass
class Assembly:
    """An assembled geodesic problem: the cone program, where its unknowns sit, and the
    affine map ``x -> (M @ x + c)`` of the created mass (``maps["zeta"]``) that
    :func:`unpack` reads; ``transport_weight`` the cost of one unit of
    each transport epigraph variable (before the cost scale); ``seconds`` the time spent.
    """

    problem: ConicProblem
    layout: Layout
    maps: dict = field(default_factory=dict)
    transport_weight: np.ndarray = field(default_factory=lambda: np.zeros(0))
    seconds: float = 0.0


def assemble(request) -> Assembly:
    """Build the SOCP of a validated request (:class:`wfr_cvx.engine.Request`, masses in
    the solver's units).

    Rows in order: the equalities (no reaction where it is switched off, ``TotalMass``,
    the free end's mass) as one zero cone, then the transport, reaction and
    geometric-mean cones (or, in the arithmetic scheme, non-negative levels), then the
    rows of the velocity and rate caps.  With ``request.rho1`` None the end level is free:
    the objective becomes ``end_weight * d^2 + sum(end_potential * rho[T])`` (one
    proximal step, :func:`wfr_cvx.rebalance`).  The objective is divided by
    ``request.cost_scale`` so the solver sees O(1) figures whatever ``lam``.
    """
    started = time.perf_counter()
    t = build_terms(request)
    plan, layout = request.plan, t.layout
    equalities = [_cones.no_reaction(t)]
    if plan.total_mass:
        equalities.append(_cones.total_mass(t))
    if request.rho1 is None:
        equalities.append(_cones.end_mass(t))
    equalities = [rows for rows in equalities if rows is not None]
    power = "power" in SCHEMES[request.scheme][:2]
    cones = [_cones.transport(t), _cones.reaction(t),
             _cones.geometric_mean(t) if power else _cones.nonnegative_levels(t)]
    cones += [_cones.velocity_cap(t, vmax, steps) for vmax, steps in plan.velocity_caps]
    cones += [_cones.rate_cap(t, rmax) for rmax in plan.rate_caps]
    cones = [rows for rows in cones if rows is not None]
    blocks, consts, kinds = [], [], []
    if equalities:  # one zero cone, first
        blocks.append(sp.vstack([rows.M for rows in equalities], format="csr"))
        consts.append(np.concatenate([rows.c for rows in equalities]))
        kinds.append(ConeBlock.zero(blocks[0].shape[0], "equalities"))
    for rows in cones:
        blocks.append(rows.M)
        consts.append(rows.c)
        kinds.append(rows.cone)
    # A x + s = b with s = M x + c  =>  A = -M, b = c
    A = -sp.vstack(blocks, format="csc")
    A.sum_duplicates()
    A.eliminate_zeros()
    q = np.zeros(layout.n)
    w_tr = _cones.transport_weights(t)
    q[layout.t_transport] = w_tr / request.cost_scale
    q[layout.t_reaction] = _cones.reaction_weight(t) / request.cost_scale
    if request.rho1 is None:
        q *= request.end_weight
        active = plan.cells.ravel()
        n_active = int(np.count_nonzero(active))
        q[layout.rho][(request.grid.n_steps - 1) * n_active:] = (
            np.asarray(request.end_potential, dtype=float).ravel()[active]
            / request.cost_scale)
    problem = ConicProblem(q=q, A=A, b=np.concatenate(consts), cones=tuple(kinds),
                           epigraph=slice(layout.t_transport.start, layout.n))
    return Assembly(problem=problem, layout=layout,
                    maps={"zeta": t.zeta},
                    transport_weight=w_tr, seconds=time.perf_counter() - started)


@dataclass
class RawSolution:
    """A backend's answer in the scaled unknowns, reshaped on the grid.

    ``levels`` (T+1, *shape) masses; ``flux`` (T, *face_shape) mass moved across each face
    per step; ``created`` (T, *shape) mass created per step (``zeta * dt``) (shapes of
    ``grid``); ``transport`` and ``reaction`` the cost of each step (T,) in the scaled
    units (the cost's denominators are the levels' means, :func:`wfr_cvx.engine.level_means`,
    not the solver's unknowns); ``message`` the solver's
    own words when it failed; ``path_excess`` how much the returned path's own action
    exceeds the solver's objective, relative (None where not checked; see
    :func:`wfr_cvx.engine.solve_raw`).
    """

    levels: np.ndarray
    flux: np.ndarray
    created: np.ndarray
    transport: np.ndarray
    reaction: np.ndarray
    status: Status
    iterations: int
    setup_time: float
    solve_time: float
    assembly_time: float = 0.0
    message: str = ""
    path_excess: float | None = None


def unpack(assembly: Assembly, result: ConicResult, request) -> RawSolution:
    """Read the unknowns of :func:`assemble`'s problem out of a backend's ``result``; the
    setup time reported includes the assembly."""
    grid, x, L = request.grid, result.x, assembly.layout
    T = grid.n_steps
    cells, faces = grid.shape, grid.face_shape

    def scatter(where: slice, at: np.ndarray, shape) -> np.ndarray:
        """Unknowns placed on the full grid arrays, zeros where there are none."""
        out = np.zeros(int(np.prod(shape)))
        out[at] = x[where]
        return out.reshape(shape)

    levels = np.zeros((T + 1, *cells))
    levels[0] = request.rho0
    if request.rho1 is None:  # free end (proximal step)
        levels[1:] = scatter(L.rho, L.rho_cells, (T, *cells))
    else:
        levels[T] = request.rho1
        levels[1:T] = scatter(L.rho, L.rho_cells, (T - 1, *cells))

    def value(name, shape):
        M, c = assembly.maps[name]
        return (M @ x + c).reshape(shape)

    per_step = grid.n_regimes * (grid.n_cells if L.transport_on_cells else grid.n_faces)
    transport = np.bincount(L.transport_at // per_step,
                            weights=assembly.transport_weight * x[L.t_transport], minlength=T)
    reaction = np.bincount(L.react_cells // (grid.n_regimes * grid.n_cells),
                           weights=x[L.t_reaction], minlength=T) * (
                               request.lam**2 / grid.dt / request.balance**2)
    return RawSolution(
        levels=levels,
        flux=scatter(L.flux, L.flux_faces, (T, *faces)),
        created=value("zeta", (T, *cells)),
        transport=transport,
        reaction=reaction,
        status=Status.parse(result.status),
        iterations=result.iterations,
        setup_time=assembly.seconds + result.setup_time,
        solve_time=result.solve_time,
        assembly_time=assembly.seconds,
        message=result.message,
    )


def pack_path(assembly: Assembly, levels: np.ndarray, flux: np.ndarray,
              request) -> np.ndarray:
    r"""The inverse of :func:`unpack` for a path: ``x`` of :func:`assemble`'s problem with
    the unknown ``levels`` and ``flux`` (grid arrays, as a :class:`RawSolution` holds them),
    each ``g`` at its largest value :math:`\sqrt{\rho^k\rho^{k+1}}` (negative round-off
    levels count 0) and the epigraph variables 0.  So a path another formulation returned
    (the cvxpy backend's) is priced by the cone program's own terms."""
    L, T = assembly.layout, request.grid.n_steps
    x = np.zeros(L.n)
    x[L.rho] = np.asarray(levels, dtype=float)[1:].reshape(-1)[L.rho_cells]
    x[L.flux] = np.asarray(flux, dtype=float).reshape(-1)[L.flux_faces]
    if L.g.stop > L.g.start:
        level = np.maximum(np.asarray(levels, dtype=float).reshape(T + 1, -1), 0.0)
        x[L.g] = np.sqrt(level[:-1] * level[1:]).reshape(-1)[L.g_cells]
    return x


def cost_scale_for(rho0: np.ndarray, rho1: np.ndarray | None, lam: float, metric: np.ndarray,
                   diameter: float = 1.0, *, reaction: bool = True) -> float:
    r"""An a-priori size of :math:`d^2` per unit mass, used to scale the objective.

    Upper bound from the coupling :math:`\gamma \propto \rho_0\otimes\rho_1` in the
    static form (each regime's masses ``a, b`` at most ``D`` apart):
    :math:`d^2 \le \sum_k 4\lambda^2(a + b - 2\sqrt{ab}\cos(\min(D/2\lambda, \pi/2)))`
    with :math:`D = \sqrt{\max G}\cdot` ``diameter``, and the pure-reaction bound
    :math:`4\lambda^2 H^2`.  Their minimum over the total mass is ~``lam^2`` for regime
    switches and ~``D^2`` for transport at large ``lam``; dividing the objective by it
    keeps Clarabel's figures O(1) from ``lam = 1e-3`` to ``1e3``; within [1e-2, 1e2]
    the scale is left at 1, where Clarabel's own equilibration does better
    (benchmarks/TUNING.md).  For a free end (``rho1`` None) the mass of ``rho0`` is used
    for both ends.  With ``reaction`` False (no step creates mass) neither path is
    admissible, and the bound is that of balanced transport, :math:`D^2` per unit mass.
    """
    rho1 = rho0 if rho1 is None else rho1
    a, b = rho0.reshape(rho0.shape[0], -1).sum(axis=1), rho1.reshape(rho1.shape[0], -1).sum(axis=1)
    reach = metric_reach(metric) * diameter
    if not reaction:
        scale = reach**2
        return 1.0 if not 0.0 < scale < np.inf or 1e-2 <= scale <= 1e2 else scale
    cosine = np.cos(min(reach / (2.0 * lam), np.pi / 2))
    coupling = 4.0 * lam**2 * float(np.sum(a + b - 2.0 * np.sqrt(a * b) * cosine))
    hellinger = 4.0 * lam**2 * float(np.sum((np.sqrt(rho1) - np.sqrt(rho0)) ** 2))
    bound = min(coupling, hellinger) if hellinger > 0 else coupling
    total = max(a.sum(), b.sum())
    scale = bound / total if total > 0 else 1.0
    if not 0.0 < scale < np.inf or 1e-2 <= scale <= 1e2:
        return 1.0
    return scale
