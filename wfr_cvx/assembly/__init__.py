r"""Assembly of the discrete WFR geodesic problem as a sparse second-order cone program.

Unknowns (all in *mass* units, after the mass scaling done by :mod:`wfr_cvx.engine`)

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
Observed orders are stated in :mod:`wfr_cvx.engine`.

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

The result is Clarabel's standard form, a :class:`~wfr_cvx.backends.ConicProblem`:
minimise ``q^T x`` subject to ``A x + s = b``, ``s`` in a product of cones (``P = 0``).

Code.  :func:`assemble` lays out the unknowns and the affine maps they enter
(:mod:`._terms`), then asks one builder per cone family for its rows (:mod:`._cones`: the
transport, reaction and geometric-mean cones, the non-negative levels, and one builder per
kind of constraint row), the way cvxpy's canonicalizers each return their constraints.
"""

from ._assemble import (
    TIME_MEANS,
    Assembly,
    RawSolution,
    assemble,
    cost_scale_for,
    geometric_mean_cells,
    interior_level_map,
    transport_speed,
    unpack,
)
from ._terms import Layout, Terms

__all__ = ["TIME_MEANS", "Assembly", "Layout", "RawSolution", "Terms", "assemble",
           "cost_scale_for", "geometric_mean_cells", "interior_level_map", "transport_speed",
           "unpack"]
