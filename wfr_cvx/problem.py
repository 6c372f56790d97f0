r"""Assembly of the discrete WFR geodesic problem as a sparse second-order cone program.

Unknowns (all in *mass* units, after the mass scaling done by :func:`wfr_cvx.geodesic`)

* ``rho[k]``, ``k = 1 .. T-1``: cell masses on the interior time levels (``rho[0]`` and
  ``rho[T]`` are the data);
* ``flux[k]`` on interior faces: the mass moved across the face in step ``k``,
  ``mu = m dt / dx`` with ``m = rho_face v`` the momentum (mass x velocity);
* ``g[k]`` on cells: the geometric mean ``sqrt(rho[k] rho[k+1])`` (power-mean scheme only);
* epigraph variables ``t_transport[k]`` (faces) and ``t_reaction[k]`` (cells).

Scheme.  For each step ``k`` the source is *defined* by the discrete continuity equation

.. math::  \zeta^k = (\rho^{k+1} - \rho^k) / \Delta t + (\operatorname{div} m)^k,

so the path satisfies it exactly (``div`` is :func:`~wfr_cvx.operators.divergence_matrix`).
The cost is

.. math::

    d^2_h = \Delta t \sum_k \Big[ \sum_{faces} G\, \frac{(m^k)^2}{\bar\rho^k_{face}}
            + \lambda^2 \sum_{cells} \frac{(\zeta^k)^2}{\bar\rho^k} \Big],

i.e. ``dt * dx * (|m|^2_G / rho + lam^2 zeta^2 / rho)`` in densities ``rho / dx`` — the
cell volume cancels in masses.  ``rho_face`` is the mean of the two cells beside a face.
The time mean :math:`\bar\rho^k` of the levels ``k`` and ``k+1`` is

* ``"arithmetic"``: :math:`(\rho^k + \rho^{k+1}) / 2` (Papadakis-Peyré-Oudet);
* ``"power"`` (default): the power mean of order 1/2,
  :math:`M_{1/2} = \big((\sqrt{\rho^k} + \sqrt{\rho^{k+1}}) / 2\big)^2
  = (\rho^k + \rho^{k+1} + 2\sqrt{\rho^k\rho^{k+1}}) / 4`.

Why the power mean: for pure reaction in a cell, :math:`\zeta = \Delta\rho/\Delta t` and
:math:`\Delta t\,(\Delta\rho/\Delta t)^2 / M_{1/2} = 4 (\sqrt{\rho^{k+1}} -
\sqrt{\rho^k})^2 / \Delta t`, the exact Fisher-Rao cost of one step, so the discrete
reaction geodesic is exact at every ``n_steps`` (``((1-s)\sqrt{\rho_0}+s\sqrt{\rho_1})^2``
at the levels).  The arithmetic mean under-estimates a step that ends at zero mass by a
factor 2, which makes the plain scheme first order (a few % low at 32 steps) wherever
mass is born or dies.  :math:`M_{1/2}` is concave, so the problem stays convex:
:math:`\bar\rho \le (\rho^k + \rho^{k+1} + 2g)/4` with :math:`g^2 \le \rho^k\rho^{k+1}`.
Observed orders are stated in :func:`wfr_cvx.geodesic`.

Cones.  A perspective :math:`x^2/y \le t` (``y, t >= 0``) is a rotated cone; Clarabel has
only the standard one, so (as in cvxpy's ``quad_over_lin_canon``)

.. math::  x^2 \le y t,\ y, t \ge 0 \iff \|(2x,\ y - t)\|_2 \le y + t,

one 3-dimensional second-order cone per face (transport, with ``x = sqrt(G) m``), per
cell (reaction, ``x = lam zeta``) and per cell (``g^2 <= rho^k rho^{k+1}``; it also
implies ``rho >= 0``).  ``g`` is fixed to 0, and its cone dropped, where a data level is
zero: there the cone has no interior.

Two weight axes.  The same rows with cells ``(n, n)`` and the padded faces of both axes
(:mod:`wfr_cvx.grid`); ``div`` sums the fluxes of both axes.  A diagonal metric keeps one
cone per face (weight ``G_aa``).  An off-diagonal SPD metric :math:`G = L L^\top`
(:mod:`wfr_cvx.metric`) is charged per cell on the momentum averaged to the centre,
:math:`\bar\mu_a = (\mu_{a,-} + \mu_{a,+}) / 2`: one 4-dimensional cone
:math:`\|(2 L^\top\bar\mu,\ \bar\rho - t)\| \le \bar\rho + t` per cell and step that
touches an open face.

The result is Clarabel's standard form: minimise ``q^T x`` subject to ``A x + s = b``,
``s`` in a product of cones (``P = 0``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from .constraints import compile_constraints
from .grid import Grid
from .metric import cholesky_factors, is_cell_metric, metric_reach
from .operators import (
    divergence_matrix,
    face_average_matrix,
    face_cells,
    time_average_matrix,
    time_difference_matrix,
)

__all__ = [
    "TIME_MEANS", "ConicProblem", "Layout", "RawSolution", "assemble", "cost_scale_for",
    "geometric_mean_cells", "interior_level_map", "solve_assembled", "transport_speed",
    "unpack",
]

TIME_MEANS = ("power", "arithmetic")


@dataclass(frozen=True)
class Layout:
    """Where each unknown sits in the solution vector ``x``.

    The index arrays say which entries of the full grid arrays the unknowns are (flat, C
    order): ``rho_cells`` in the unknown levels x cells, ``flux_faces`` in
    ``(T, *face_shape)``, ``g_cells`` and ``react_cells`` in ``(T, *shape)``;
    ``transport_at`` where each transport cone sits: faces ``(T, *face_shape)``, or cells
    ``(T, *shape)`` when ``transport_on_cells`` (off-diagonal metric).  Cells outside
    the mask, switched-off mechanisms and closed steps have no unknowns.
    """

    rho: slice
    flux: slice
    g: slice
    g_cells: np.ndarray
    t_transport: slice
    t_reaction: slice
    n: int
    rho_cells: np.ndarray
    flux_faces: np.ndarray
    react_cells: np.ndarray
    transport_at: np.ndarray
    transport_on_cells: bool = False


@dataclass
class ConicProblem:
    """``min q^T x  s.t.  A x + s = b, s in cones`` (Clarabel's standard form, P = 0).

    ``cones`` is a list of ``(kind, dim)`` with kind in ``{"zero", "nonneg", "soc3",
    "soc4"}``, in row order; ``("soc3", count)`` stands for ``count`` consecutive
    3-dimensional second-order cones (``"soc4"``: 4-dimensional).
    ``transport_weight`` is the cost of one unit of each transport epigraph variable
    (user units, before ``cost_scale``).
    """

    q: np.ndarray
    A: sp.csc_matrix
    b: np.ndarray
    cones: list
    layout: Layout
    transport_weight: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # affine maps x -> value, used to read the solution and by the cvxpy backend tests
    maps: dict = field(default_factory=dict)

    @property
    def n_variables(self) -> int:
        return self.A.shape[1]

    @property
    def n_constraints(self) -> int:
        return self.A.shape[0]


def geometric_mean_cells(active: np.ndarray, rho0: np.ndarray, rho1: np.ndarray | None,
                         n_steps: int) -> np.ndarray:
    """Flat ``(step, cell)`` indices that get a ``g`` unknown (``g^2 <= rho^k rho^{k+1}``).

    Every active cell of every step, except where an adjacent level is data equal to zero
    (first step: ``rho0``; last step: ``rho1`` unless the end is free): there ``g = 0`` and
    its cone would have no interior.  Shared by both backends.
    """
    has_g = np.broadcast_to(np.asarray(active, dtype=bool).ravel(),
                            (n_steps, rho0.size)).copy()
    has_g[0] &= rho0.ravel() > 0
    if rho1 is not None:
        has_g[n_steps - 1] &= rho1.ravel() > 0
    return np.flatnonzero(has_g)


def interior_level_map(grid: Grid, rho0: np.ndarray, rho1: np.ndarray | None,
                       cells: np.ndarray | None = None):
    """Levels as an affine map of the unknown levels: ``levels = E @ x_rho + e``.

    The unknown levels are ``1 .. T-1``, and ``T`` too when ``rho1`` is None (a free end,
    as in a proximal step); on each, only the ``cells`` (flat bool mask, default all)
    have an unknown.  ``E`` has shape ``((T+1) * size, n_free * n_active)``.
    """
    T = grid.n_steps
    size = rho0.size
    cells = np.ones(size, dtype=bool) if cells is None else np.asarray(cells).ravel()
    active = np.flatnonzero(cells)
    n_free = T if rho1 is None else T - 1
    select = sp.csr_matrix((np.ones(active.size), (active, np.arange(active.size))),
                           shape=(size, active.size))
    shift = sp.eye(T + 1, n_free, -1, format="csr")  # unknown level j is level j + 1
    E = sp.kron(shift, select, format="csr")
    e = np.zeros((T + 1) * size)
    e[:size] = rho0.ravel()
    if rho1 is not None:
        e[T * size:] = rho1.ravel()
    return E, e


def _interleave(rows, consts):
    """Rows ``[rows[0]_i; rows[1]_i; ...]`` for every cone ``i`` (as ``-A``, ``b``)."""
    n, dim = rows[0].shape[0], len(rows)
    M = sp.vstack(rows, format="csr")
    c = np.concatenate(consts)
    order = np.arange(dim * n).reshape(dim, n).T.ravel()
    return M[order], c[order]


def _interleave3(top, mid, bottom, top_c, mid_c, bottom_c):
    """Rows ``[top_i; mid_i; bottom_i]`` for every 3-dimensional cone ``i``."""
    return _interleave([top, mid, bottom], [top_c, mid_c, bottom_c])


def assemble(
    rho0: np.ndarray,
    rho1: np.ndarray,
    grid: Grid,
    lam: float,
    metric: np.ndarray,
    *,
    time_mean: str = "power",
    transport: bool = True,
    reaction: bool = True,
    end_potential: np.ndarray | None = None,
    end_weight: float = 1.0,
    cost_scale: float = 1.0,
    constraints=(),
) -> ConicProblem:
    """Build the SOCP for the geodesic between the (validated, scaled) allocations.

    Parameters
    ----------
    rho0, rho1 : ndarray, shape ``grid.shape``
        End allocations (cell masses).
    grid : Grid
        Its ``mask`` decides which cells have unknowns.
    lam : float
        Crossover scale, > 0.
    metric : ndarray
        Checked by :func:`wfr_cvx.metric.check_metric`: face weights (shape
        ``grid.face_shape``) or, in 2-D with off-diagonal G, cell matrices.
    time_mean : {"power", "arithmetic"}
        Time mean of adjacent levels used as the denominator (see module docstring).
    transport, reaction : bool
        ``False`` fixes the momentum (resp. the source) to zero: paths that only
        react (resp. only move mass inside each regime).
    end_potential : ndarray, shape ``grid.shape``, optional
        With ``rho1 = None`` the end level is free: the objective becomes
        ``end_weight * d^2 + sum(end_potential * rho[T])`` subject to
        ``sum(rho[T]) = sum(rho0)`` (one proximal step; see :func:`wfr_cvx.rebalance`).
    cost_scale : float
        The objective is divided by it (epigraph variables hold cost / cost_scale), so
        the solver sees O(1) figures whatever ``lam``; see :func:`cost_scale_for`.
    constraints : sequence or Plan
        Objects of :mod:`wfr_cvx.constraints` (or their compiled
        :class:`~wfr_cvx.constraints.Plan`); the rows they add are described there.
    """
    free_end = rho1 is None
    if free_end != (end_potential is not None):
        raise ValueError("`end_potential` is given exactly when `rho1` is None")
    if time_mean not in TIME_MEANS:
        raise ValueError(f"`time_mean` must be one of {TIME_MEANS}, got {time_mean!r}")
    plan = compile_constraints(constraints, grid, rho0, rho1, transport=transport,
                               reaction=reaction)
    T, K = grid.n_steps, grid.n_regimes
    n_cells = K * grid.n_cells  # per level / step
    n_faces = K * grid.n_faces  # per step (2-D: padded layout)
    n_levels_free = T if free_end else T - 1
    active = plan.cells.ravel()
    n_active = int(np.count_nonzero(active))
    n_rho = n_levels_free * n_active
    n_flux = T * n_faces
    # Unknowns exist only where they can be non-zero: a switched-off mechanism, a closed
    # step or an inactive cell has no unknowns and no cones (fixing them to zero instead
    # would leave cones pinned at their apex, which interior-point methods dislike).
    flux_faces = np.flatnonzero(plan.faces.ravel())
    n_flux_var = flux_faces.size
    reacting = plan.reaction[:, None] & active[None, :]
    react_cells = np.flatnonzero(reacting)
    still_cells = np.flatnonzero(~plan.reaction[:, None] & active[None, :])
    n_react_var = react_cells.size
    rho_cells = np.flatnonzero(np.broadcast_to(active, (n_levels_free, n_cells)))

    g_cells = (geometric_mean_cells(active, rho0, rho1, T) if time_mean == "power"
               else np.zeros(0, dtype=np.int64))
    n_g = g_cells.size
    on_cells = is_cell_metric(metric)
    if on_cells:
        # off-diagonal G: one cone per (step, cell) beside at least one open face
        centre_avg = [sp.kron(sp.identity(T * K, format="csr"), block, format="csr")
                      for block in _centre_average_blocks(grid)]
        touched = (centre_avg[0] + centre_avg[1]) @ plan.faces.ravel().astype(float)
        transport_at = np.flatnonzero(touched > 0)
    else:
        transport_at = flux_faces
    n_tr = transport_at.size

    offsets = np.cumsum([0, n_rho, n_flux_var, n_g, n_tr, n_react_var])
    layout = Layout(
        rho=slice(offsets[0], offsets[1]),
        flux=slice(offsets[1], offsets[2]),
        g=slice(offsets[2], offsets[3]),
        g_cells=g_cells,
        t_transport=slice(offsets[3], offsets[4]),
        t_reaction=slice(offsets[4], offsets[5]),
        n=int(offsets[5]),
        rho_cells=rho_cells,
        flux_faces=flux_faces,
        react_cells=react_cells,
        transport_at=transport_at,
        transport_on_cells=on_cells,
    )
    N = layout.n

    def embed(block: sp.spmatrix, where: slice) -> sp.csr_matrix:
        """Place a block acting on one unknown into a map acting on all of ``x``."""
        left = sp.csr_matrix((block.shape[0], where.start))
        right = sp.csr_matrix((block.shape[0], N - where.stop))
        return sp.hstack([left, block, right], format="csr")

    def columns(rows: np.ndarray, size: int) -> sp.csr_matrix:
        """``size x rows.size`` matrix putting unknown ``j`` at entry ``rows[j]``."""
        return sp.csr_matrix((np.ones(rows.size), (rows, np.arange(rows.size))),
                             shape=(size, rows.size))

    E, e = interior_level_map(grid, rho0, rho1, active)
    TD = time_difference_matrix(grid, n_cells)
    TA = time_average_matrix(grid, n_cells)
    DIV = divergence_matrix(grid, T * K)
    FA = face_average_matrix(grid, T * K)

    levels_x = embed(E, layout.rho)
    # mass created in a step, zeta * dt = (rho^{k+1} - rho^k) + dt * div(m): continuity
    # holds by construction.  In the scaled unknowns mu = m * dt / dx (mass moved across a
    # face in one step) every coefficient below is +-1.
    place_flux = columns(flux_faces, n_flux)
    zeta = grid.dt * (TD @ levels_x) + grid.dx * embed(DIV @ place_flux, layout.flux)
    zeta_c = grid.dt * (TD @ e)
    # time mean of levels
    arith = TA @ levels_x
    arith_c = TA @ e
    if time_mean == "power":
        mean = 0.5 * arith + embed(0.5 * columns(g_cells, T * n_cells), layout.g)
        mean_c = 0.5 * arith_c
    else:
        mean, mean_c = arith, arith_c
    face_mean = FA @ mean
    face_mean_c = FA @ mean_c

    flux = embed(sp.identity(n_flux_var, format="csr"), layout.flux)
    t_tr = embed(sp.identity(n_tr, format="csr"), layout.t_transport)
    t_re = embed(sp.identity(n_react_var, format="csr"), layout.t_reaction)

    blocks, consts, cones = [], [], []

    def add(rows, const, cone):
        blocks.append(rows)
        consts.append(const)
        cones.append(cone)

    # Cone rows keep coefficients of order 1 (good for Clarabel's equilibration); the cost
    # weights G dx^2/dt / speed^2 (transport) and lam^2/dt go to the objective, divided
    # by `cost_scale` so that the objective is O(mass) whatever lam.
    w_re = lam**2 / grid.dt
    F, F_c = face_mean[flux_faces], face_mean_c[flux_faces]
    speed = transport_speed(grid)
    if on_cells:
        w_tr = np.full(n_tr, grid.dx**2 / grid.dt / speed**2)
        if n_tr:
            # transport per cell: |L^T mu_bar|^2 <= rho_mean * t   (cost w_tr * t)
            L = np.broadcast_to(cholesky_factors(metric), (T, *metric.shape)).reshape(-1, 2, 2)
            L = L[transport_at]
            mu_bar = [(avg @ place_flux)[transport_at] for avg in centre_avg]
            # u_r = sum_a L[a, r] mu_bar_a   (L^T mu_bar)
            u = [embed(sp.diags(L[:, 0, r]) @ mu_bar[0] + sp.diags(L[:, 1, r]) @ mu_bar[1],
                       layout.flux) for r in (0, 1)]
            R, R_c = mean[transport_at], mean_c[transport_at]
            zero = np.zeros(n_tr)
            M, c = _interleave([R + t_tr, 2.0 * speed * u[0], 2.0 * speed * u[1], R - t_tr],
                               [R_c, zero, zero, R_c])
            add(M, c, ("soc4", n_tr))
    else:
        w_tr = np.broadcast_to(metric, (T, *grid.face_shape)).ravel()[flux_faces] * (
            grid.dx**2 / grid.dt / speed**2)
        if n_flux_var:
            # transport: (speed mu)^2 <= rho_face * t   (cost w_tr * t)
            M, c = _interleave3(F + t_tr, 2.0 * speed * flux, F - t_tr, F_c,
                                np.zeros(n_flux_var), F_c)
            add(M, c, ("soc3", n_flux_var))
    R, R_c = mean[react_cells], mean_c[react_cells]
    Z, Z_c = zeta[react_cells], zeta_c[react_cells]
    if n_react_var:
        # reaction: (zeta dt)^2 <= rho_mean * t   (cost w_re * t)
        M, c = _interleave3(R + t_re, 2.0 * Z, R - t_re, R_c, 2.0 * Z_c, R_c)
        add(M, c, ("soc3", n_react_var))
    if time_mean == "power":
        # g^2 <= rho^k rho^{k+1}  (also implies rho >= 0)
        lower = sp.kron(sp.eye(T, T + 1, 0), sp.identity(n_cells), format="csr") @ levels_x
        upper = sp.kron(sp.eye(T, T + 1, 1), sp.identity(n_cells), format="csr") @ levels_x
        lo_c = e[: T * n_cells]
        up_c = e[n_cells:]
        g_full = embed(2.0 * columns(g_cells, T * n_cells), layout.g)
        keep = g_cells
        M, c = _interleave3((lower + upper)[keep], g_full[keep], (lower - upper)[keep],
                            (lo_c + up_c)[keep], np.zeros(n_g), (lo_c - up_c)[keep])
        add(M, c, ("soc3", n_g))
    else:
        # rho >= 0 on the interior levels
        add(embed(sp.identity(n_rho), layout.rho), np.zeros(n_rho), ("nonneg", n_rho))
    # constraints: |mu| dx/dt <= vmax F  ->  vmax dt/dx F -+ mu >= 0
    for vmax, steps in plan.velocity_caps:
        on = np.flatnonzero(steps[flux_faces // n_faces])
        scaled = vmax * grid.dt / grid.dx
        M = sp.vstack([scaled * F[on] - flux[on], scaled * F[on] + flux[on]], format="csr")
        add(M, np.concatenate([scaled * F_c[on]] * 2), ("nonneg", 2 * on.size))
    # |z| / dt <= rmax R  ->  rmax dt R -+ z >= 0
    for rmax in plan.rate_caps:
        scaled = rmax * grid.dt
        M = sp.vstack([scaled * R - Z, scaled * R + Z], format="csr")
        add(M, np.concatenate([scaled * R_c - Z_c, scaled * R_c + Z_c]),
            ("nonneg", 2 * n_react_var))

    # Equalities go first (Clarabel's zero cone): no reaction, total mass, end mass.
    equalities, eq_consts = [], []
    if still_cells.size:
        equalities.append(zeta[still_cells])
        eq_consts.append(zeta_c[still_cells])
    if plan.total_mass:
        # sum over cells of levels 1 .. T-1 equals sum(rho0)
        sums = sp.kron(sp.eye(T - 1, T + 1, 1), sp.csr_matrix(np.ones((1, n_cells))),
                       format="csr")
        equalities.append(sums @ levels_x)
        eq_consts.append(sums @ e - rho0.sum())
    if free_end:
        last = sp.hstack([sp.csr_matrix((1, T * n_cells)), sp.csr_matrix(np.ones((1, n_cells)))])
        equalities.append(last @ levels_x)
        eq_consts.append(np.array([-rho0.sum()]))
    if equalities:
        M = sp.vstack(equalities, format="csr")
        c = np.concatenate(eq_consts)
        blocks.insert(0, M)
        consts.insert(0, c)
        cones.insert(0, ("zero", M.shape[0]))

    # A x + s = b with s = M x + c  =>  A = -M, b = c
    A = -sp.vstack(blocks, format="csc")
    A.sum_duplicates()
    A.eliminate_zeros()
    b = np.concatenate(consts)
    q = np.zeros(N)
    q[layout.t_transport] = w_tr / cost_scale
    q[layout.t_reaction] = w_re / cost_scale
    if free_end:
        q *= end_weight
        q[layout.rho][(T - 1) * n_active:] = (
            np.asarray(end_potential, dtype=float).ravel()[active] / cost_scale)
    maps = {
        "zeta": (zeta, zeta_c),
        "mean": (mean, mean_c),
        "face_mean": (face_mean, face_mean_c),
    }
    return ConicProblem(q=q, A=A, b=b, cones=cones, layout=layout, maps=maps,
                        transport_weight=w_tr)


def transport_speed(grid: Grid) -> float:
    r"""Factor ``s`` of the flux in the transport cones: :math:`(s\mu)^2 \le F t`, cost
    :math:`G\,\Delta x^2/(\Delta t\, s^2)\, t`.

    The flux :math:`\mu` is the mass moved across a face per step, about
    :math:`F |v| \Delta t/\Delta x`, so the epigraph :math:`t = \mu^2/F \approx F (|v|
    \Delta t/\Delta x)^2` outgrows its cone's :math:`F` as the grid is refined at a fixed
    number of steps.  Measured on the 1-D demo (32 steps): unscaled (``s = 1``) Clarabel
    agreed to 1e-5 with the next finer grid up to 2,048 cells (:math:`\Delta t/\Delta x
    = 64`), but at 4,096 cells it stopped 1 % above the optimum with status "Solved" on
    one regime and 2.5 % off ("AlmostSolved") on the other; with ``s = 8\Delta x/\Delta
    t`` the 4,096-cell solve ends "Solved" within 4e-6 of the 1,024-cell value.
    ``s = min(1, 8\Delta x/\Delta t)`` caps the growth at :math:`64 |v|^2 F` and leaves
    the problems of coarser grids (:math:`\Delta t/\Delta x \le 8`, every test's) exactly
    as they were measured; whether scaling them too would help or hurt was not measured.
    """
    return min(1.0, 8.0 * grid.dx / grid.dt)


def _centre_average_blocks(grid: Grid) -> list[sp.csr_matrix]:
    """Per axis ``a``, the (cells, faces) matrix averaging a cell's two faces of axis ``a``.

    ``(B_a mu)_c = (mu_{a,-} + mu_{a,+}) / 2``; a face that does not exist counts as 0.
    """
    face, lower, upper = face_cells(grid)
    axis = face // grid.n_cells
    out = []
    for a in range(grid.dims):
        f, lo, up = face[axis == a], lower[axis == a], upper[axis == a]
        out.append(sp.csr_matrix(
            (np.full(2 * f.size, 0.5), (np.concatenate([lo, up]), np.concatenate([f, f]))),
            shape=(grid.n_cells, grid.n_faces)))
    return out


@dataclass
class RawSolution:
    """A backend's answer in the scaled unknowns, reshaped on the grid.

    ``levels`` (T+1, *shape) masses; ``flux`` (T, *face_shape) mass moved across each face
    per step; ``created`` (T, *shape) mass created per step (``zeta * dt``); ``mean``
    (T, *shape) and ``face_mean`` (T, *face_shape) the denominators of the cost (shapes of
    ``grid``); ``transport`` and
    ``reaction`` the cost of each step (T,) in the scaled units.
    """

    levels: np.ndarray
    flux: np.ndarray
    created: np.ndarray
    mean: np.ndarray
    face_mean: np.ndarray
    transport: np.ndarray
    reaction: np.ndarray
    status: str
    iterations: int
    setup_time: float
    solve_time: float
    assembly_time: float = 0.0


def unpack(problem: ConicProblem, x: np.ndarray, grid: Grid, lam: float, metric: np.ndarray,
           rho0: np.ndarray, rho1: np.ndarray | None, info: dict) -> RawSolution:
    """Read the unknowns of :func:`assemble`'s problem out of a solution vector ``x``."""
    T = grid.n_steps
    cells, faces = grid.shape, grid.face_shape
    L = problem.layout

    def scatter(where: slice, at: np.ndarray, shape) -> np.ndarray:
        """Unknowns placed on the full grid arrays, zeros where there are none."""
        out = np.zeros(int(np.prod(shape)))
        out[at] = x[where]
        return out.reshape(shape)

    levels = np.zeros((T + 1, *cells))
    levels[0] = rho0
    if rho1 is None:  # free end (proximal step)
        levels[1:] = scatter(L.rho, L.rho_cells, (T, *cells))
    else:
        levels[T] = rho1
        levels[1:T] = scatter(L.rho, L.rho_cells, (T - 1, *cells))

    def value(name, shape):
        M, c = problem.maps[name]
        return (M @ x + c).reshape(shape)

    per_step = grid.n_regimes * (grid.n_cells if L.transport_on_cells else grid.n_faces)
    transport = np.bincount(L.transport_at // per_step,
                            weights=problem.transport_weight * x[L.t_transport], minlength=T)
    reaction = np.bincount(L.react_cells // (grid.n_regimes * grid.n_cells),
                           weights=x[L.t_reaction], minlength=T) * (lam**2 / grid.dt)
    return RawSolution(
        levels=levels,
        flux=scatter(L.flux, L.flux_faces, (T, *faces)),
        created=value("zeta", (T, *cells)),
        mean=value("mean", (T, *cells)),
        face_mean=value("face_mean", (T, *faces)),
        transport=transport,
        reaction=reaction,
        **info,
    )


def solve_assembled(conic_solve, rho0, rho1, grid: Grid, lam: float, metric, *,
                    scheme: str, **assembly) -> RawSolution:
    """Assemble, solve with ``conic_solve(problem) -> dict`` and unpack (direct backends).

    ``conic_solve`` returns ``x``, ``status``, ``iterations``, ``setup_time`` and
    ``solve_time``; the setup time reported includes our assembly.  ``assembly`` keywords
    go to :func:`assemble`.
    """
    import time

    start = time.perf_counter()
    problem = assemble(rho0, rho1, grid, lam, metric, time_mean=scheme, **assembly)
    assembly_time = time.perf_counter() - start
    out = conic_solve(problem)
    info = {
        "assembly_time": assembly_time,
        "status": out["status"],
        "iterations": out["iterations"],
        "setup_time": assembly_time + out["setup_time"],
        "solve_time": out["solve_time"],
    }
    return unpack(problem, out["x"], grid, lam, metric, rho0, rho1, info)


def cost_scale_for(rho0: np.ndarray, rho1: np.ndarray | None, lam: float, metric: np.ndarray,
                   diameter: float = 1.0) -> float:
    r"""An a-priori size of :math:`d^2` per unit mass, used to scale the objective.

    Upper bound from the coupling :math:`\gamma \propto \rho_0\otimes\rho_1` in the
    static form (each regime's masses ``a, b`` at most ``D`` apart):
    :math:`d^2 \le \sum_k 4\lambda^2(a + b - 2\sqrt{ab}\cos(\min(D/2\lambda, \pi/2)))`
    with :math:`D = \sqrt{\max G}\cdot` ``diameter``, and the pure-reaction bound
    :math:`4\lambda^2 H^2`.  Their minimum over the total mass is ~``lam^2`` for regime
    switches and ~``D^2`` for transport at large ``lam``; dividing the objective by it
    keeps Clarabel's figures O(1) from ``lam = 1e-3`` to ``1e3``; within [1e-2, 1e2]
    the scale is left at 1 (measured, see the code).  For a free end
    (``rho1`` None) the mass of ``rho0`` is used for both ends.
    """
    rho1 = rho0 if rho1 is None else rho1
    a, b = rho0.reshape(rho0.shape[0], -1).sum(axis=1), rho1.reshape(rho1.shape[0], -1).sum(axis=1)
    reach = metric_reach(metric) * diameter
    cosine = np.cos(min(reach / (2.0 * lam), np.pi / 2))
    coupling = 4.0 * lam**2 * float(np.sum(a + b - 2.0 * np.sqrt(a * b) * cosine))
    hellinger = 4.0 * lam**2 * float(np.sum((np.sqrt(rho1) - np.sqrt(rho0)) ** 2))
    bound = min(coupling, hellinger) if hellinger > 0 else coupling
    total = max(a.sum(), b.sum())
    scale = bound / total if total > 0 else 1.0
    # Rescale only far from 1.  Measured: at lam = 1e-3 (scale ~1e-5) it turns a regime
    # switch's 2e-4 error into 2e-8 and at lam = 1e3 (~1e6) it makes the solve succeed;
    # but a moderate rescaling (0.05 on the demo at 1,024 x 2 x 32) turned "Solved" into
    # "AlmostSolved" -- Clarabel's own equilibration handles that range better.
    if not 0.0 < scale < np.inf or 1e-2 <= scale <= 1e2:
        return 1.0
    return scale
