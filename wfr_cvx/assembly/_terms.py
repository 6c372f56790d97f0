"""The unknowns of the cone program and the affine maps the cones are built from.

:func:`build_terms` lays the unknowns out (:class:`Layout`) and writes every quantity the
cones need -- the levels, the created mass per step, the time and face means -- as an
affine map ``value = M @ x + c`` of the solution vector (:class:`Terms`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..grid import Grid
from ..metric import is_cell_metric
from ..operators import (
    divergence_matrix,
    face_average_matrix,
    face_cells,
    time_average_matrix,
    time_difference_matrix,
)

__all__ = ["DEFAULT_SCHEME", "SCHEMES", "Layout", "Terms", "build_terms", "geometric_mean_cells",
           "interior_level_map", "transport_speed", "cone_metric_scale",
           "smallest_metric_weight"]

#: ``scheme -> (transport time mean, reaction time mean, where transport is charged)``.
#: ``"faces"``: one cone per face over the face average of its two cells' time means (the
#: staggered scheme); ``"cells"``: one cone per cell over the momentum averaged to the cell
#: centre and the cell's time mean (the centred interpolation of Papadakis, Peyré & Oudet
#: 2014, Sec. 4).  See :mod:`wfr_cvx.assembly` for the maths and the measured accuracy.
#: The default scheme: Diracs 10-25x closer to their closed form than "power" at 100 x 32
#: (:mod:`wfr_cvx.assembly`), pure reaction still exact.
DEFAULT_SCHEME = "centred"

SCHEMES = {
    "centred": ("arithmetic", "power", "cells"),
    "power": ("power", "power", "faces"),
    "arithmetic": ("arithmetic", "arithmetic", "faces"),
}


@dataclass(frozen=True)
class Layout:
    """Where each unknown sits in the solution vector ``x``.

    The index arrays say which entries of the full grid arrays the unknowns are (flat, C
    order): ``rho_cells`` in the unknown levels x cells, ``flux_faces`` in
    ``(T, *face_shape)``, ``g_cells`` and ``react_cells`` in ``(T, *shape)``;
    ``transport_at`` where each transport cone sits: faces ``(T, *face_shape)``, or cells
    ``(T, *shape)`` when ``transport_on_cells`` (off-diagonal metric).  Cells outside
    the mask, switched-off mechanisms and closed steps have no unknowns.  The epigraph
    variables ``t_transport`` and ``t_reaction`` come last.
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
class Terms:
    """The affine maps ``x -> M @ x + c`` of one assembly, and its index sets.

    ``levels`` all ``T + 1`` levels (cells per level ``n_cells``), ``zeta`` the mass
    created per step (``zeta * dt``), ``mean`` the time means of adjacent levels in the
    reaction cost, ``transport_mean`` those in the transport cost and ``face_mean`` their
    face averages; ``flux``, ``t_transport``, ``t_reaction`` pick those unknowns;
    ``still_cells`` are (step, cell) pairs whose source is fixed to 0.
    """

    request: object
    layout: Layout
    n_cells: int
    n_faces: int
    levels: tuple
    zeta: tuple
    mean: tuple
    transport_mean: tuple
    face_mean: tuple
    flux: sp.csr_matrix
    place_flux: sp.csr_matrix
    t_transport: sp.csr_matrix
    t_reaction: sp.csr_matrix
    still_cells: np.ndarray
    centre_average: list

    @property
    def grid(self) -> Grid:
        return self.request.grid

    def embed(self, block: sp.spmatrix, where: slice) -> sp.csr_matrix:
        """Place a block acting on one unknown into a map acting on all of ``x``."""
        return embed(block, where, self.layout.n)


def embed(block: sp.spmatrix, where: slice, n: int) -> sp.csr_matrix:
    left = sp.csr_matrix((block.shape[0], where.start))
    right = sp.csr_matrix((block.shape[0], n - where.stop))
    return sp.hstack([left, block, right], format="csr")


def columns(rows: np.ndarray, size: int) -> sp.csr_matrix:
    """``size x rows.size`` matrix putting unknown ``j`` at entry ``rows[j]``."""
    return sp.csr_matrix((np.ones(rows.size), (rows, np.arange(rows.size))),
                         shape=(size, rows.size))


def geometric_mean_cells(active: np.ndarray, rho0: np.ndarray, rho1: np.ndarray | None,
                         n_steps: int) -> np.ndarray:
    """Flat ``(step, cell)`` indices that get a ``g`` unknown (``g^2 <= rho^k rho^{k+1}``).

    Every active cell of every step, except where an adjacent level is data equal to zero
    (first step: ``rho0``; last step: ``rho1`` unless the end is free): there ``g = 0`` and
    its cone would have no interior.  Shared by the assembly and the cvxpy backend.
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


def transport_speed(grid: Grid) -> float:
    r"""Factor ``s`` of the flux in the transport cones: :math:`(s\mu)^2 \le F t`, cost
    :math:`G\,\Delta x^2/(\Delta t\, s^2)\, t`.

    The flux :math:`\mu` is the mass moved across a face per step, about
    :math:`F |v| \Delta t/\Delta x`, so the epigraph :math:`t = \mu^2/F \approx F (|v|
    \Delta t/\Delta x)^2` outgrows its cone's :math:`F` as the grid is refined at a fixed
    number of steps (at 4,096 cells x 32 steps Clarabel then stopped 1 % off at
    "Solved").  ``s = min(1, 8\Delta x/\Delta t)`` caps the growth at :math:`64 |v|^2 F`
    and leaves coarser grids (:math:`\Delta t/\Delta x \le 8`) unscaled.
    """
    return min(1.0, 8.0 * grid.dx / grid.dt)


def cone_metric_scale(metric: np.ndarray, grid: Grid) -> float:
    r"""The scalar ``g`` factored out of the metric where it sits inside the transport
    cones (the centred scheme, an off-diagonal metric): the cones hold :math:`G/g` and
    the epigraph costs ``g`` times more.  ``g`` is the smallest eigenvalue of ``G`` over
    the faces that carry flux (cell matrices: over the active cells) when that is above
    1, else 1: every direction in the cones keeps at least its weight for :math:`G = I`.

    A large isotropic part of ``G`` inside the cones made the epigraphs ``G`` times their
    objective's other terms, and the objective's a-priori scale then divided them by as
    much: with :math:`G = cI` and :math:`\lambda\sqrt c` (the same problem, ``d^2`` times
    ``c``) Clarabel stopped "Solved" 0.5 % above the optimum at ``c = 1e4`` (a
    :math:`\Sigma^{-1}` metric) and 61 % above at ``c = 1e12`` (weights in dollars),
    transport ignored; factored, ``c`` from 300 to 1e13 gives ``c`` times the same
    ``d^2`` to 2e-8 (1e-6 from 10 to 100, at the solver's tolerance).  Factoring the
    largest eigenvalue instead made the weak direction of an anisotropic ``G`` (1e6 : 1)
    small in the cones: ``transport_cost`` 4 % off the path's own.  A ``G`` below 1 is
    left in the cones, as it was (``G = 1e-6 I`` at :math:`\lambda` = 0.3 on
    ``Grid.simplex(16, 8)``: within 1e-5 of a tight solve, where the factored form, like
    ``G = I`` at :math:`\lambda` = 300, stops at "InsufficientProgress").
    """
    return max(1.0, smallest_metric_weight(metric, grid))


def smallest_metric_weight(metric: np.ndarray, grid: Grid) -> float:
    """The smallest eigenvalue of the (checked) metric over the faces that carry flux
    (cell matrices: over the active cells); 1 where none does."""
    if is_cell_metric(metric):
        active = np.broadcast_to(grid.mask, metric.shape[:-2])
        values = np.linalg.eigvalsh(metric[active]) if active.any() else np.ones(1)
    else:
        open_faces = np.broadcast_to(grid.face_mask, np.shape(metric))
        values = np.asarray(metric)[open_faces] if open_faces.any() else np.ones(1)
    return float(np.min(values))


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


def build_terms(request) -> Terms:
    """Lay out the unknowns of ``request`` and write the affine maps of the scheme.

    Unknowns exist only where they can be non-zero: a switched-off mechanism, a closed
    step or an inactive cell has no unknowns and no cones (fixing them to zero instead
    would leave cones pinned at their apex, which interior-point methods dislike).
    """
    grid, plan = request.grid, request.plan
    rho0, rho1 = request.rho0, request.rho1
    T, K = grid.n_steps, grid.n_regimes
    n_cells = K * grid.n_cells  # per level / step
    n_faces = K * grid.n_faces  # per step (2-D: padded layout)
    n_levels_free = T if rho1 is None else T - 1
    active = plan.cells.ravel()
    n_active = int(np.count_nonzero(active))
    n_flux = T * n_faces
    flux_faces = np.flatnonzero(plan.faces.ravel())
    react_cells = np.flatnonzero(plan.reaction[:, None] & active[None, :])
    still_cells = np.flatnonzero(~plan.reaction[:, None] & active[None, :])
    rho_cells = np.flatnonzero(np.broadcast_to(active, (n_levels_free, n_cells)))
    transport_mean, reaction_mean, charged_at = SCHEMES[request.scheme]
    power = "power" in (transport_mean, reaction_mean)
    g_cells = (geometric_mean_cells(active, rho0, rho1, T) if power
               else np.zeros(0, dtype=np.int64))
    on_cells = is_cell_metric(request.metric) or charged_at == "cells"
    centre_average = []
    if on_cells:
        # off-diagonal G or the centred scheme: one cone per (step, cell) beside at least
        # one open face
        centre_average = [sp.kron(sp.identity(T * K, format="csr"), block, format="csr")
                          for block in _centre_average_blocks(grid)]
        touched = sum(centre_average) @ plan.faces.ravel().astype(float)
        transport_at = np.flatnonzero(touched > 0)
    else:
        transport_at = flux_faces

    offsets = np.cumsum([0, n_levels_free * n_active, flux_faces.size, g_cells.size,
                         transport_at.size, react_cells.size])
    layout = Layout(
        rho=slice(offsets[0], offsets[1]), flux=slice(offsets[1], offsets[2]),
        g=slice(offsets[2], offsets[3]), g_cells=g_cells,
        t_transport=slice(offsets[3], offsets[4]), t_reaction=slice(offsets[4], offsets[5]),
        n=int(offsets[5]), rho_cells=rho_cells, flux_faces=flux_faces,
        react_cells=react_cells, transport_at=transport_at, transport_on_cells=on_cells)
    N = layout.n

    E, e = interior_level_map(grid, rho0, rho1, active)
    levels_x = embed(E, layout.rho, N)
    # mass created in a step, zeta * dt = (rho^{k+1} - rho^k) + dt * div(m): continuity
    # holds by construction.  In the scaled unknowns mu = m * dt / dx (mass moved across a
    # face in one step) every coefficient below is +-1.
    place_flux = columns(flux_faces, n_flux)
    TD = time_difference_matrix(grid, n_cells)
    zeta = grid.dt * (TD @ levels_x) + grid.dx * embed(
        divergence_matrix(grid, T * K) @ place_flux, layout.flux, N)
    zeta_c = grid.dt * (TD @ e)
    TA = time_average_matrix(grid, n_cells)
    means = {"arithmetic": (TA @ levels_x, TA @ e)}
    if power:
        arith, arith_c = means["arithmetic"]
        means["power"] = (0.5 * arith + embed(0.5 * columns(g_cells, T * n_cells), layout.g, N),
                          0.5 * arith_c)
    transport_M, transport_c = means[transport_mean]
    FA = face_average_matrix(grid, T * K)
    return Terms(
        request=request, layout=layout, n_cells=n_cells, n_faces=n_faces,
        levels=(levels_x, e), zeta=(zeta, zeta_c), mean=means[reaction_mean],
        transport_mean=means[transport_mean], face_mean=(FA @ transport_M, FA @ transport_c),
        flux=embed(sp.identity(flux_faces.size, format="csr"), layout.flux, N),
        place_flux=place_flux,
        t_transport=embed(sp.identity(transport_at.size, format="csr"), layout.t_transport,
                          N),
        t_reaction=embed(sp.identity(react_cells.size, format="csr"), layout.t_reaction, N),
        still_cells=still_cells, centre_average=centre_average)
