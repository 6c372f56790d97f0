r"""One builder per cone family: each returns its rows (``s = M @ x + c``) and cone block.

A perspective :math:`x^2/y \le t` (``y, t >= 0``) is a rotated cone; Clarabel has only the
standard one, so (as in cvxpy's ``quad_over_lin_canon``)

.. math::  x^2 \le y t,\ y, t \ge 0 \iff \|(2x,\ y - t)\|_2 \le y + t,

written row by row ``(y + t, 2x, y - t)`` for every cone (:func:`interleave`).  The cost of
the epigraph variables is set by :func:`~wfr_cvx.assembly.assemble` from
:func:`transport_weights` and :func:`reaction_weight`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..backends import ConeBlock
from ..metric import cholesky_factors
from ._terms import Terms, columns, cone_metric_scale, transport_speed

__all__ = ["Rows", "end_mass", "geometric_mean", "interleave", "nonnegative_levels",
           "no_reaction", "rate_cap", "reaction", "reaction_weight", "total_mass",
           "transport", "transport_weights", "velocity_cap"]


@dataclass
class Rows:
    """Constraint rows ``s = M @ x + c`` with ``s`` in the cones of ``cone``."""

    M: sp.csr_matrix
    c: np.ndarray
    cone: ConeBlock


def interleave(rows, consts):
    """Rows ``[rows[0]_i; rows[1]_i; ...]`` for every cone ``i``."""
    n, dim = rows[0].shape[0], len(rows)
    M = sp.vstack(rows, format="csr")
    c = np.concatenate(consts)
    order = np.arange(dim * n).reshape(dim, n).T.ravel()
    return M[order], c[order]


def _face_denominators(t: Terms):
    """The face means of the open faces and their constants."""
    F, F_c = t.face_mean
    faces = t.layout.flux_faces
    return F[faces], F_c[faces]


def transport_weights(t: Terms) -> np.ndarray:
    """Cost of one unit of each transport epigraph variable: ``G dx^2 / (dt s^2)`` (one
    per face with the metric's face weight; one per cell, ``g dx^2 / (dt s^2)``, where
    ``G / g`` is inside the cone: the centred scheme or an off-diagonal metric,
    :func:`~._terms.cone_metric_scale`)."""
    grid = t.grid
    unit = grid.dx**2 / grid.dt / (transport_speed(grid) * t.request.balance)**2
    if t.layout.transport_on_cells:
        return np.full(t.layout.transport_at.size,
                       unit * cone_metric_scale(t.request.metric, grid))
    metric = np.broadcast_to(t.request.metric, (grid.n_steps, *grid.face_shape))
    return metric.ravel()[t.layout.flux_faces] * unit


def reaction_weight(t: Terms) -> float:
    """Cost of one unit of each reaction epigraph variable: ``lam^2 / dt``."""
    return t.request.lam**2 / t.grid.dt / t.request.balance**2


def transport(t: Terms) -> Rows | None:
    r"""Transport, :math:`(s\mu)^2 \le \bar\rho_{face}\, t` per open face and step; or per
    cell beside an open face (the centred scheme, or an off-diagonal metric),
    :math:`|u|^2 \le \bar\rho\, t` with :math:`u = L^\top\bar\mu` (:math:`G/g = LL^\top`) or
    :math:`u_a = \overline{\sqrt{G_a/g}\mu_a}` (diagonal :math:`G` on the faces),
    :math:`\bar\mu` the momentum averaged to the centre: a :math:`(2 + d)`-dimensional cone
    (``g``: :func:`~._terms.cone_metric_scale`, charged in :func:`transport_weights`)."""
    layout, speed = t.layout, transport_speed(t.grid) * t.request.balance
    if layout.transport_on_cells:
        n = layout.transport_at.size
        if not n:
            return None
        metric = t.request.metric / cone_metric_scale(t.request.metric, t.grid)
        if metric.ndim == 5:  # cell matrices G = L L^T (off-diagonal)
            L = np.broadcast_to(cholesky_factors(metric),
                                (t.grid.n_steps, *metric.shape)).reshape(-1, 2, 2)
            L = L[layout.transport_at]
            mu_bar = [(average @ t.place_flux)[layout.transport_at]
                      for average in t.centre_average]
            # u_r = sum_a L[a, r] mu_bar_a   (L^T mu_bar)
            u = [t.embed(sp.diags(L[:, 0, r]) @ mu_bar[0] + sp.diags(L[:, 1, r]) @ mu_bar[1],
                         layout.flux) for r in (0, 1)]
        else:  # face weights G_a: each face's sqrt(G_a) mu averaged to the centre
            root = sp.diags(np.sqrt(np.broadcast_to(
                metric, (t.grid.n_steps, *t.grid.face_shape)).ravel()))
            u = [t.embed((average @ root @ t.place_flux)[layout.transport_at], layout.flux)
                 for average in t.centre_average]
        mean, mean_c = t.transport_mean
        R, R_c = mean[layout.transport_at], mean_c[layout.transport_at]
        zero = np.zeros(n)
        M, c = interleave([R + t.t_transport, *(2.0 * speed * ua for ua in u),
                           R - t.t_transport], [R_c, *([zero] * len(u)), R_c])
        return Rows(M, c, ConeBlock.soc(2 + len(u), n, "transport"))
    n = layout.flux_faces.size
    if not n:
        return None
    F, F_c = _face_denominators(t)
    M, c = interleave([F + t.t_transport, 2.0 * speed * t.flux, F - t.t_transport],
                      [F_c, np.zeros(n), F_c])
    return Rows(M, c, ConeBlock.soc(3, n, "transport"))


def _reacting(t: Terms):
    """The time means and created masses of the reacting (step, cell) pairs."""
    cells = t.layout.react_cells
    (mean, mean_c), (zeta, zeta_c) = t.mean, t.zeta
    return mean[cells], mean_c[cells], zeta[cells], zeta_c[cells]


def reaction(t: Terms) -> Rows | None:
    r"""Reaction, :math:`(\zeta\Delta t)^2 \le \bar\rho\, t` per reacting cell and step."""
    n = t.layout.react_cells.size
    if not n:
        return None
    R, R_c, Z, Z_c = _reacting(t)
    k = 2.0 * t.request.balance
    M, c = interleave([R + t.t_reaction, k * Z, R - t.t_reaction], [R_c, k * Z_c, R_c])
    return Rows(M, c, ConeBlock.soc(3, n, "reaction"))


def geometric_mean(t: Terms) -> Rows:
    r"""The power mean's geometric means, :math:`g^2 \le \rho^k\rho^{k+1}` (this also
    keeps the levels non-negative)."""
    T, n_cells, layout = t.grid.n_steps, t.n_cells, t.layout
    levels_x, e = t.levels
    lower = sp.kron(sp.eye(T, T + 1, 0), sp.identity(n_cells), format="csr") @ levels_x
    upper = sp.kron(sp.eye(T, T + 1, 1), sp.identity(n_cells), format="csr") @ levels_x
    lo_c, up_c = e[: T * n_cells], e[n_cells:]
    g_full = t.embed(2.0 * columns(layout.g_cells, T * n_cells), layout.g)
    keep = layout.g_cells
    M, c = interleave([(lower + upper)[keep], g_full[keep], (lower - upper)[keep]],
                      [(lo_c + up_c)[keep], np.zeros(keep.size), (lo_c - up_c)[keep]])
    return Rows(M, c, ConeBlock.soc(3, keep.size, "geometric_mean"))


def nonnegative_levels(t: Terms) -> Rows:
    """``rho >= 0`` on the unknown levels (the arithmetic scheme, which has no ``g``)."""
    n = t.layout.rho.stop - t.layout.rho.start
    return Rows(t.embed(sp.identity(n), t.layout.rho), np.zeros(n),
                ConeBlock.nonneg(n, "levels"))


def velocity_cap(t: Terms, vmax: float, steps: np.ndarray) -> Rows:
    r""":class:`~wfr_cvx.constraints.MaxVelocity`: :math:`|m| \le v_{max}\bar\rho_{face}`,
    in the scaled flux ``vmax dt/dx F -+ mu >= 0`` on the open faces of ``steps``, divided
    by :func:`_row_scale`."""
    grid = t.grid
    on = np.flatnonzero(steps[t.layout.flux_faces // t.n_faces])
    F, F_c = _face_denominators(t)
    scaled = vmax * grid.dt / grid.dx
    k = _row_scale(scaled)
    M = sp.vstack([scaled * F[on] - t.flux[on], scaled * F[on] + t.flux[on]], format="csr")
    return Rows(M / k, np.concatenate([scaled * F_c[on]] * 2) / k,
                ConeBlock.nonneg(2 * on.size, "max_velocity"))


def rate_cap(t: Terms, rmax: float) -> Rows:
    r""":class:`~wfr_cvx.constraints.MaxReactionRate`: :math:`|\zeta| \le r_{max}\bar\rho`,
    i.e. ``rmax dt R -+ z >= 0`` on every reacting cell and step, divided by
    :func:`_row_scale`."""
    R, R_c, Z, Z_c = _reacting(t)
    scaled = rmax * t.grid.dt
    k = _row_scale(scaled)
    M = sp.vstack([scaled * R - Z, scaled * R + Z], format="csr")
    return Rows(M / k, np.concatenate([scaled * R_c - Z_c, scaled * R_c + Z_c]) / k,
                ConeBlock.nonneg(2 * R.shape[0], "max_reaction_rate"))


def _row_scale(cap_coefficient: float) -> float:
    """Divisor of a cap's rows, ``max(1, cap coefficient)``: a loose cap (coefficient
    1.25e5 for ``MaxReactionRate(1e6)`` at 8 steps) otherwise dwarfs the solver's other
    rows, and Clarabel ended 8 % above the unconstrained optimum, which satisfies it."""
    return max(1.0, float(cap_coefficient))


def no_reaction(t: Terms) -> Rows | None:
    """No mass created on the (step, cell) pairs whose reaction is switched off."""
    if not t.still_cells.size:
        return None
    zeta, zeta_c = t.zeta
    return Rows(zeta[t.still_cells], zeta_c[t.still_cells],
                ConeBlock.zero(t.still_cells.size, "no_reaction"))


def total_mass(t: Terms) -> Rows:
    """:class:`~wfr_cvx.constraints.TotalMass`: every interior level holds ``sum(rho0)``."""
    T, n_cells = t.grid.n_steps, t.n_cells
    levels_x, e = t.levels
    sums = sp.kron(sp.eye(T - 1, T + 1, 1), sp.csr_matrix(np.ones((1, n_cells))),
                   format="csr")
    return Rows(sums @ levels_x, sums @ e - t.request.rho0.sum(),
                ConeBlock.zero(T - 1, "total_mass"))


def end_mass(t: Terms) -> Rows:
    """A free end (proximal step) keeps the total mass: ``sum(rho[T]) = sum(rho0)``."""
    T, n_cells = t.grid.n_steps, t.n_cells
    levels_x, _ = t.levels
    last = sp.hstack([sp.csr_matrix((1, T * n_cells)), sp.csr_matrix(np.ones((1, n_cells)))])
    return Rows(last @ levels_x, np.array([-t.request.rho0.sum()]),
                ConeBlock.zero(1, "end_mass"))
