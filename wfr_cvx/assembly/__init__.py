r"""Assembly of the discrete WFR geodesic problem as a sparse second-order cone program.

Unknowns (all in *mass* units, after the mass scaling done by :mod:`wfr_cvx.engine`)

* ``rho[k]``, ``k = 1 .. T-1``: cell masses on the interior time levels (``rho[0]`` and
  ``rho[T]`` are the data);
* ``flux[k]`` on interior faces: the mass moved across the face in step ``k``,
  ``mu = m dt / dx`` with ``m = rho_face v`` the momentum (mass x velocity);
* ``g[k]`` on cells: the geometric mean ``sqrt(rho[k] rho[k+1])`` (where a power mean
  enters);
* epigraph variables ``t_transport[k]`` (faces, or cells in the centred scheme) and
  ``t_reaction[k]`` (cells).

Scheme.  For each step ``k`` the source is *defined* by the discrete continuity equation

.. math::  \zeta^k = (\rho^{k+1} - \rho^k) / \Delta t + (\operatorname{div} m)^k,

so the path satisfies it exactly (``div`` is :func:`~wfr_cvx.operators.divergence_matrix`).
The cost is

.. math::

    d^2_h = \Delta t \sum_k \Big[ T^k(m, \rho) + \lambda^2 \sum_{cells}
            \frac{(\zeta^k)^2}{M_r(\rho^k, \rho^{k+1})} \Big],

i.e. ``dt * dx * (|m|^2_G / rho + lam^2 zeta^2 / rho)`` in densities ``rho / dx`` — the
cell volume cancels in masses.  The schemes (``scheme=``, :data:`SCHEMES`) differ in the
time means :math:`M` of the levels ``k`` and ``k+1`` and in where transport is charged:

* ``"centred"`` (default): per cell, on the momentum averaged to the cell centre and the
  arithmetic time mean, :math:`T^k = \sum_{cells} |\bar u|^2 / M_1`,
  :math:`\bar u_a = \tfrac12(\sqrt{G}m_{a,-} + \sqrt{G}m_{a,+})` (the centred
  interpolation of Papadakis, Peyré & Oudet 2014, Sec. 4); reaction on the power mean
  :math:`M_{1/2}`;
* ``"power"``: per face, :math:`T^k = \sum_{faces} G m^2 / \bar M_{1/2}`, the face average
  of the two cells' power means; reaction on :math:`M_{1/2}`;
* ``"arithmetic"``: per face on :math:`\bar M_1`, reaction on :math:`M_1` (the plain
  staggered scheme).

with :math:`M_1 = (\rho^k + \rho^{k+1})/2` and the power mean of order 1/2
:math:`M_{1/2} = \big((\sqrt{\rho^k} + \sqrt{\rho^{k+1}}) / 2\big)^2
= (\rho^k + \rho^{k+1} + 2\sqrt{\rho^k\rho^{k+1}}) / 4`.

Why the power mean in the reaction: for pure reaction in a cell, :math:`\zeta =
\Delta\rho/\Delta t` and :math:`\Delta t\,(\Delta\rho/\Delta t)^2 / M_{1/2} = 4
(\sqrt{\rho^{k+1}} - \sqrt{\rho^k})^2 / \Delta t`, the exact Fisher-Rao cost of one step,
so the discrete reaction geodesic is exact at every ``n_steps``
(``((1-s)\sqrt{\rho_0}+s\sqrt{\rho_1})^2`` at the levels).  The arithmetic mean
under-estimates a step that ends at zero mass by a factor 2, which makes the plain scheme
first order (a few % low at 32 steps) wherever mass is born or dies.  :math:`M_{1/2}` is
concave, so the problem stays convex: :math:`\bar\rho \le (\rho^k + \rho^{k+1} + 2g)/4`
with :math:`g^2 \le \rho^k\rho^{k+1}`.

Why the centred transport: a Dirac moving one cell per step is the pair (full, empty) ->
(empty, full).  Charged per face, the face's mean of two half-full time means is 1/2
(arithmetic) or 1/4 (power), so the hop costs 2x or 4x its exact :math:`\Delta x^2/\Delta
t`; charged per cell on the centred momentum (1/2 in each cell over a time mean of 1/2) it
costs exactly that.  Moves slower than one cell per step (Courant number :math:`C =
|v|\Delta t/\Delta x < 1`) still spread the Dirac over two cells and cost more, about
:math:`0.3/(C^2 T)` relative.  The price: the centred momentum does not see an odd-even
pattern of face fluxes, so the optimum is a face rather than a point -- two solvers'
paths can differ by ~1e-4 of the peak at equal :math:`d^2`.

Why no local convex scheme removes that overcharge at :math:`C < 1`: a Dirac split as masses
:math:`(1-a, a)` over two cells moves through the one face between them; if the two cells
see that flux :math:`\mu` with weights :math:`\alpha + \beta = 1` (needed for smooth
translation), the charge is :math:`\mu^2(\alpha^2/(1-a) + \beta^2/a) \ge \mu^2`, exact
only at :math:`a = \beta`; per face, a mean :math:`M(1-a, a)` would have to be the Dirac's
whole mass 1, and :math:`M(\rho, \rho) = \rho` for smooth data, which contradict each
other at :math:`a = 1/2`.  A wider stencil does not help: the mean must be concave and
1-homogeneous for the problem to stay a cone program, hence superadditive, so
:math:`M(\tfrac12, \tfrac12, \tfrac12, \tfrac12) \ge M(0, \tfrac12, \tfrac12, 0) +
M(\tfrac12, 0, 0, \tfrac12) \ge 1` where consistency asks for :math:`\tfrac12`.  A Dirac
moving :math:`C < 1` cells per step passes through every split.

Accuracy (relative error of :math:`d^2`, the interior point at its defaults;
``benchmarks/SCHEME_ACCURACY.md`` has every row and the refinement orders):

================================================  ================  ================  ==============
case (1-D unless noted)                           ``centred``       ``power``         arithmetic
================================================  ================  ================  ==============
Dirac gap 0.3, lam 0.5, 100 x 32 (C = 0.94)       +0.38 %           +8.6 %            +5.4 %
Dirac gap 0.4, lam 0.5 / 2, 100 x 32              +1.0 / +0.84 %    +8.4 / 8.8 %      +4.5 / 4.7 %
Dirac gap 0.2, lam 0.1 / 0.5 / 2 (C = 0.63)       +2.2 / 2.4 %      +6 to 10 %        +4 to 7 %
Dirac gap 0.1, lam 0.1 / 0.5 / 2 (C = 0.31)       +8.7 to 9.5 %     +13 to 14 %       +12 to 13 %
Dirac gap 0.3, lam 0.1 (near teleport)            +0.07 %           +0.26 %           -1.8 %
gap 0.95-1.2 pi lam, lam 1-5 cells (20 x 5..)     -0.1 to -11 %     -4 to -15 %       --
Dirac gap 0.3, lam 0.5 at 200 x 64 / 400 x 128    +0.25 / 0.17 %    +4.7 / 2.6 %      +2.9 % / --
Dirac gap 0.1, 100 x 10 (C = 1), lam 0.1 / 0.5    +0.55 / 0.03 %    --                --
Dirac gap 0.2, 100 x 20 (C = 1), lam 0.1 / 0.5    +1.35 / 0.13 %    --                --
regime switch, same-cell growth, 8 steps          < 1e-8            < 1e-8            -12 %
bumps 128 x 32 vs static: transport / mixed       -0.014/-0.056 %   +0.012/-0.005 %   -0.014/-0.16 %
bumps 128 x 32 vs static: teleport / long         -0.014/-0.004 %   -0.009/+0.20 %    -3.4/-0.004 %
bumps 64 x 16 vs static (mixed_bump problem)      -0.27 %           +0.04 %           --
bumps vs ensemble, 1-D 32 x 8 / 256 x 64          -0.31/-0.005 %    +1.8/+0.027 %     --
simplex 32^2 x 16, translation at large lam       +0.06 %           +0.63 %           --
================================================  ================  ================  ==============

Near :math:`\pi\lambda`, with :math:`\lambda` of 1-5 cells, two Diracs 0.95-1.2
:math:`\pi\lambda` apart come out *below* the closed form, "Solved" (``Grid(20, 5)``,
``Grid(40, 10)``, ``Grid(40, 40)``, ``Grid(60, 15)``: centred -11 / -4.3 / -0.14 / -2.1 to
-3.4 %, power -15 / -8 / -14 / -4 to -5 %); with 10 cells (100 x 32): +0.07 / +0.26 %.  The
centred error shrinks with the steps (lam of one cell on 20 cells: -11 / -4.5 / -1.8 % at
5 / 16 / 40 steps), the power error does not (-15 / -19 / -20 %).

The bumps' static reference samples the same Gaussians on 400 cells (whole-cell shifts;
see :func:`~wfr_cvx.closed_form.static_wfr2` on why not the solve's own cells).
Diracs converge slowly under refinement of both axes together (order 0.5-0.9: the
Courant number stays).  On the grid, point allocations are best solved with about one
step per cell they move (C = 1, rows above); the exact engine for them is
:mod:`wfr_cvx.ensemble` (mesh-free).  Smooth allocations converge at second order
on one weight axis.

Cones.  A perspective :math:`x^2/y \le t` (``y, t >= 0``) is a rotated cone; Clarabel has
only the standard one, so (as in cvxpy's ``quad_over_lin_canon``)

.. math::  x^2 \le y t,\ y, t \ge 0 \iff \|(2x,\ y - t)\|_2 \le y + t,

one 3-dimensional second-order cone per face (transport in the staggered schemes, with
``x = sqrt(G) m``) or per cell (the centred scheme, ``x = u``; ``2 + d`` dimensions on
``d`` weight axes), per cell (reaction, ``x = lam zeta``) and per cell (``g^2 <= rho^k
rho^{k+1}``; it also implies ``rho >= 0``).  ``g`` is fixed to 0, and its cone dropped,
where a data level is zero: there the cone has no interior.

Two weight axes.  The same rows with cells ``(n, n)`` and the padded faces of both axes
(:mod:`wfr_cvx.grid`); ``div`` sums the fluxes of both axes.  In the staggered schemes a
diagonal metric keeps one cone per face (weight ``G_aa``); the centred scheme has one
4-dimensional cone per cell and step that touches an open face.  An off-diagonal SPD metric
:math:`G = L L^\top` (:mod:`wfr_cvx.metric`) is charged per cell in every scheme, on the
momentum averaged to the centre, :math:`\bar\mu_a = (\mu_{a,-} + \mu_{a,+}) / 2`:
:math:`\|(2 L^\top\bar\mu,\ \bar\rho - t)\| \le \bar\rho + t`, with the scheme's
transport time mean :math:`\bar\rho`.

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
    pack_path,
    transport_speed,
    unpack,
)
from ._terms import (
    DEFAULT_SCHEME,
    SCHEMES,
    Layout,
    Terms,
    cone_metric_scale,
    smallest_metric_weight,
)

__all__ = ["DEFAULT_SCHEME", "SCHEMES", "TIME_MEANS", "Assembly", "Layout", "RawSolution",
           "Terms", "assemble", "cone_metric_scale", "cost_scale_for", "geometric_mean_cells",
           "interior_level_map", "pack_path", "smallest_metric_weight", "transport_speed",
           "unpack"]
