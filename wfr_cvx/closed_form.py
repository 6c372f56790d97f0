r"""Closed forms and the static formulation: independent truths for the dynamic solver.

Convention (fixed across wfr_cvx):

.. math::

    d^2(\rho_0, \rho_1) = \inf \int_0^1 \sum_k \int (|v|^2 + \lambda^2 r^2)\, d\rho_s\, ds,
    \quad \partial_s\rho + \nabla\cdot(\rho v) = \rho r.

With this convention the Hellinger (pure reaction) part is
:math:`4\lambda^2\sum(\sqrt{\rho_1}-\sqrt{\rho_0})^2` and the cone angle is
:math:`|x - y| / (2\lambda)`.

References
----------
* Liero, Mielke & Savaré, "Optimal entropy-transport problems and a new
  Hellinger-Kantorovich distance between positive measures", Invent. Math. 211 (2018).
* Chizat, Peyré, Schmitzer & Vialard, "An interpolating distance between optimal
  transport and Fisher-Rao metrics", Found. Comput. Math. 18 (2018).
* Kondratyev, Monsaingeon & Vorotnikov, "A new optimal transport distance on the space of
  finite Radon measures", Adv. Differential Equations 21 (2016).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from . import _memory
from ._labels import as_pandas
from ._validate import check_lam, nonnegative_scalar, real_array, real_scalar
from ._warnings import silenced
from .errors import ProblemTooLargeError, SolverError
from .grid import Grid, as_allocation
from .metric import _refuse_bools, unlabel_metric

__all__ = [
    "dirac_wfr2", "hellinger2", "w2_squared_1d", "static_wfr2", "static_wfr2_bounds",
    "wfr_cost_matrix",
]


def dirac_wfr2(a: float, b: float, x0: float, x1: float, lam: float) -> float:
    r"""Squared WFR distance between two Diracs :math:`a\delta_{x_0}` and :math:`b\delta_{x_1}`.

    .. math::

        d^2 = 4\lambda^2\big(a + b - 2\sqrt{ab}\,\cos(\min(|x_0 - x_1| / (2\lambda), \pi/2))\big)

    (Liero-Mielke-Savaré 2018, Thm 7.20; Chizat et al. 2018, Thm 4.1.)  Beyond
    :math:`|x_0 - x_1| \ge \pi\lambda` transport never pays: the mass is destroyed and
    re-created ("teleported"), :math:`d^2 = 4\lambda^2(a + b)`.  ``a``, ``b``: masses,
    finite and >= 0; ``x0``, ``x1``: positions on the line, finite real numbers (anything
    else is a TypeError or ValueError naming the argument).

    >>> round(dirac_wfr2(1.0, 1.0, 0.0, 0.1, 1.0), 6)   # ~ |x0 - x1|^2 for small moves
    0.009998
    >>> abs(dirac_wfr2(1.0, 2.0, 0.0, 5.0, 1.0) - 4 * (1.0 + 2.0)) < 1e-14
    True
    >>> round(dirac_wfr2(1.0, 1.0, 0.0, 0.3, 1e8), 12)   # |x0 - x1|^2 as lam -> inf
    0.09
    """
    lam = check_lam(lam)
    a = nonnegative_scalar(a, "a")
    b = nonnegative_scalar(b, "b")
    gap = abs(real_scalar(x0, "x0") - real_scalar(x1, "x1"))
    angle = min(gap / (2.0 * lam), np.pi / 2)
    # a + b - 2 sqrt(ab) cos(angle), written without the cancellation: at small angles
    # the direct form loses every digit (lam = 1e8, |x0 - x1| = 0.3 gave 0, not 0.09)
    return float(4.0 * lam**2 * ((np.sqrt(a) - np.sqrt(b)) ** 2
                                 + 4.0 * np.sqrt(a * b) * np.sin(0.5 * angle) ** 2))


def solver_resolution2(lam: float, mass: float) -> float:
    r"""The :math:`d^2` below which the solvers cannot tell two allocations of total
    ``mass`` apart: :math:`4\lambda^2 \cdot 10^{-12} \cdot` ``mass``, the Hellinger cost of
    changing the square root of the mass by one part in a million.  Used to call a
    distance zero, never to round a result."""
    return 4.0 * lam**2 * 1e-12 * mass


def hellinger2(rho0, rho1, lam: float, *, grid: Grid | None = None) -> float:
    r"""Pure-reaction cost :math:`4\lambda^2 \sum (\sqrt{\rho_1} - \sqrt{\rho_0})^2`.

    This is the WFR distance when no transport is possible (disjoint regimes, or one cell),
    and an upper bound of :math:`d^2` in general (the path
    :math:`((1-s)\sqrt{\rho_0} + s\sqrt{\rho_1})^2` is admissible).

    Arrays of one shape are compared entry by entry.  Labelled input is read by label,
    never by position: with ``grid``, both allocations are read as
    :func:`~wfr_cvx.grid.as_allocation` reads them (every form :func:`static_wfr2`
    takes, arrays of ``grid.shape`` included); without, two Series (or two DataFrames, or
    xarray DataArrays with coordinates) must carry the same labels -- ``rho1`` is put in
    the order of ``rho0``'s index (and columns) --, and a labelled input compared with an
    array must be labelled by the positions ``0 .. n-1``.  Other labels are a ValueError
    naming the argument.

    >>> hellinger2([1.0, 0.0], [0.0, 4.0], lam=0.5)
    5.0
    >>> import pandas as pd
    >>> hellinger2(pd.Series([1.0, 4.0], index=["a", "b"]),
    ...            pd.Series([4.0, 1.0], index=["b", "a"]), lam=0.5)   # the same book
    0.0
    """
    lam = check_lam(lam)
    if grid is not None:
        if not isinstance(grid, Grid):
            raise TypeError(f"`grid` must be a wfr_cvx.Grid or None, got "
                            f"{type(grid).__name__}")
        r0 = as_allocation(rho0, grid, "rho0")
        r1 = as_allocation(rho1, grid, "rho1")
    else:
        rho0, rho1 = _aligned_by_label(
            rho0, rho1, ("rho0", "rho1"),
            " (pass `grid=` to read them by their cell centres and regimes)")
        r0 = real_array(rho0, "rho0", "masses")
        r1 = real_array(rho1, "rho1", "masses")
    if r0.shape != r1.shape:
        raise ValueError(f"`rho0` shape {r0.shape} and `rho1` shape {r1.shape} differ")
    for name, r in (("rho0", r0), ("rho1", r1)):
        if not np.all(np.isfinite(r)) or np.any(r < 0):
            raise ValueError(f"`{name}` must hold finite non-negative masses")
    return float(4.0 * lam**2 * np.sum((np.sqrt(r1) - np.sqrt(r0)) ** 2))


def _aligned_by_label(first, second, names: tuple[str, str], hint: str = "", *,
                      rows: bool = True):
    """``first`` and ``second`` with ``second``'s labels put in ``first``'s order, when
    they are labelled (pandas, or an xarray DataArray with coordinates); arrays pass
    through.  The labelled axes are the index and columns, or the columns only when not
    ``rows`` (a Series then has none).  A labelled input beside an array must be labelled
    by the positions ``0 .. n-1`` on every axis longer than one entry.

    Raises ValueError naming the arguments (``names``; ``hint`` ends the messages):
    duplicate labels, label sets that differ (missing and extra labels listed), a Series
    beside a DataFrame, or labels that are no positions beside an array.
    """
    first, second = (as_pandas(value, f"`{name}`")
                     for value, name in zip((first, second), names, strict=True))

    def axes(value) -> list[pd.Index] | None:
        if isinstance(value, pd.DataFrame):
            return [value.index, value.columns] if rows else [value.columns]
        if isinstance(value, pd.Series) and rows:
            return [value.index]
        return None

    labels = (axes(first), axes(second))
    if labels == (None, None):
        return first, second
    if None in labels:
        known = 0 if labels[0] is not None else 1
        if all(len(axis) <= 1 or axis.equals(pd.RangeIndex(len(axis)))
               for axis in labels[known]):
            return first, second  # labelled by their positions: the same reading
        raise ValueError(
            f"`{names[known]}` is labelled ({type((first, second)[known]).__name__}) but "
            f"`{names[1 - known]}` is not: which entries match by label is unknown; pass "
            f"both labelled alike, or both as arrays{hint}")
    if len(labels[0]) != len(labels[1]):
        raise ValueError(f"`{names[0]}` is a {type(first).__name__} and `{names[1]}` a "
                         f"{type(second).__name__}: pass both as one kind, labelled "
                         f"alike{hint}")
    what = ("index", "columns")[:len(labels[0])] if rows else ("columns",)
    for axis0, axis1, axis_name in zip(*labels, what, strict=True):
        for axis, name in ((axis0, names[0]), (axis1, names[1])):
            if not axis.is_unique:
                raise ValueError(f"`{name}` {axis_name} has duplicate labels "
                                 f"{list(axis[axis.duplicated()].unique())[:5]}")
        missing = axis0.difference(axis1, sort=False)
        extra = axis1.difference(axis0, sort=False)
        if len(missing) or len(extra):
            raise ValueError(
                f"`{names[1]}` must have the {axis_name} labels of `{names[0]}` (read by "
                f"label): missing {list(missing)[:5]}, extra {list(extra)[:5]}{hint}")
    if isinstance(second, pd.Series):
        return first, second.reindex(first.index)
    if rows:
        return first, second.reindex(index=first.index, columns=first.columns)
    return first, second.reindex(columns=first.columns)


#: Relative tolerance of "equal masses" for balanced transport (as
#: :func:`wfr_cvx.ensemble.balanced_transport2`): round-off of summed masses, not a
#: difference of units.
EQUAL_MASS_RTOL = 1e-9


def w2_squared_1d(rho0, rho1, grid: Grid) -> float:
    r"""Balanced :math:`W_2^2` of two equal-mass allocations on a 1-D grid, per regime.

    Each cell's mass sits at its centre; the distance is computed exactly from the
    quantile functions, :math:`W_2^2 = m\int_0^1 (F_0^{-1}(t) - F_1^{-1}(t))^2 dt`, merging
    the break points of both step functions, and summed over regimes (each regime must
    carry equal masses at both ends, to :data:`EQUAL_MASS_RTOL` of the larger total mass
    of all regimes -- the round-off of summed masses: the test does not depend on the
    units of the masses, and a regime empty at one end may hold round-off at the other).
    The Euclidean distance on the weight
    axis: under a constant metric ``G`` (a scalar) :math:`W_2^2` is ``G`` times this.

    Only 1-D grids (the quantile formula holds on a line): a 2-D ``grid`` is a ValueError.
    There, :math:`W_2^2` of regime ``k`` is the balanced transport between the active
    cells' centres, ``m = grid.mask[k]``:
    ``wfr_cvx.ensemble.balanced_transport2(grid.coords[m], rho0[k][m], grid.coords[m],
    rho1[k][m], np.eye(2))`` (a linear program over every pair of cells; a constant
    ``metric`` ``G`` enters as its Cholesky factor in place of ``np.eye(2)``).

    >>> g = Grid(4, 1)
    >>> round(w2_squared_1d(g.dirac(0.1), g.dirac(0.9), g), 12)   # centres 0.125 -> 0.875
    0.5625
    """
    if not isinstance(grid, Grid):
        raise TypeError(f"`grid` must be a wfr_cvx.Grid, got {type(grid).__name__}")
    if grid.dims != 1:
        raise ValueError(
            f"w2_squared_1d takes 1-D grids only, and `grid` is {grid.dims}-D (cells "
            f"{' x '.join(map(str, grid.shape[1:]))} per regime); for W2^2 on it solve each "
            "regime's balanced transport between the active cells' centres, m = "
            "grid.mask[k]: wfr_cvx.ensemble.balanced_transport2(grid.coords[m], rho0[k][m], "
            "grid.coords[m], rho1[k][m], np.eye(2))")
    r0 = as_allocation(rho0, grid, "rho0")
    r1 = as_allocation(rho1, grid, "rho1")
    x = grid.weights
    tolerance = EQUAL_MASS_RTOL * max(r0.sum(), r1.sum())
    total = 0.0
    for k in range(grid.n_regimes):
        m0, m1 = r0[k].sum(), r1[k].sum()
        if abs(m0 - m1) > tolerance:
            empty = "`rho0`" if m0 == 0 else "`rho1`" if m1 == 0 else None
            fix = (f"balanced transport moves no mass into a regime empty in {empty}" if empty
                   else "rescale one")
            raise ValueError(
                f"w2_squared_1d needs equal masses per regime (to {EQUAL_MASS_RTOL:g} of the "
                f"larger total mass, {tolerance / EQUAL_MASS_RTOL:.12g}); regime "
                f"{grid.regimes[k]!r} has {m0:.12g} in `rho0` and {m1:.12g} in `rho1`: "
                f"{fix} (static_wfr2 compares unequal masses)")
        if m0 == 0 or m1 == 0:  # round-off against nothing: no quantiles to compare
            continue
        c0 = np.cumsum(r0[k]) / m0
        c1 = np.cumsum(r1[k]) / m1
        c0[-1] = c1[-1] = 1.0
        breaks = np.union1d(c0, c1)
        breaks = breaks[breaks > 0]
        lengths = np.diff(np.concatenate([[0.0], breaks]))
        mids = breaks - 0.5 * lengths
        q0 = x[np.minimum(np.searchsorted(c0, mids), x.size - 1)]
        q1 = x[np.minimum(np.searchsorted(c1, mids), x.size - 1)]
        total += m0 * float(np.sum(lengths * (q0 - q1) ** 2))
    return float(total)


def wfr_cost_matrix(x, y, lam: float) -> np.ndarray:
    r"""Static WFR cost :math:`c(x, y) = -\log\cos^2(\min(|x - y| / (2\lambda), \pi/2))`.

    ``+inf`` where :math:`|x - y| \ge \pi\lambda`.  ``x``, ``y``: finite points of shape
    ``(n,)`` and ``(m,)`` (on a line) or ``(n, d)`` and ``(m, d)`` (Euclidean distance);
    the matrix has shape ``(n, m)``, rows in the order of ``x``, columns of ``y``.  Any
    other shape, points of different dimensions or a non-finite coordinate is a ValueError
    naming the argument.  Coordinates given as DataFrame columns are read by label: two
    DataFrames must name the same coordinates (``y``'s are put in ``x``'s order), and a
    DataFrame beside an array of more than one coordinate must name them ``0 .. d-1``.

    >>> wfr_cost_matrix([0.0, 1.0], [[0.0]], lam=1.0).shape
    (2, 1)
    """
    lam = check_lam(lam)
    x, y = _aligned_by_label(x, y, ("x", "y"), rows=False)
    x = _points(x, "x")
    y = _points(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"`x` and `y` must be points of one dimension, got {x.shape[1]} "
                         f"and {y.shape[1]} coordinates per point")
    dist = np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1))
    angle = dist / (2.0 * lam)
    with np.errstate(divide="ignore"):
        cost = -2.0 * np.log(np.cos(np.minimum(angle, np.pi / 2)))
    cost[angle >= np.pi / 2] = np.inf
    return cost


def _points(value, name: str) -> np.ndarray:
    """Points of shape ``(n,)`` or ``(n, d)`` as an ``(n, d)`` float array, finite."""
    arr = real_array(value, name, "point coordinates")
    if arr.ndim not in (1, 2):
        raise ValueError(f"`{name}` must be points of shape (n,) or (n, d), got shape "
                         f"{arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` has {int(arr.size - np.count_nonzero(np.isfinite(arr)))} "
                         "non-finite (NaN or inf) coordinate(s)")
    return arr[:, None] if arr.ndim == 1 else arr


def static_wfr2(rho0, rho1, grid: Grid, lam: float, *, metric=None, rtol: float = 1e-4,
                solver_options: dict | None = None) -> float:
    r"""Squared WFR distance from the static (logarithmic entropy-transport) form.

    .. math::

        d^2 = 4\lambda^2 \min_{\gamma \ge 0} \Big[\sum_{ij}\gamma_{ij} c_{ij}
              + \mathrm{KL}(\gamma\mathbf 1 \,|\, \rho_0)
              + \mathrm{KL}(\gamma^\top\mathbf 1 \,|\, \rho_1)\Big],

    with :math:`c` from :func:`wfr_cost_matrix` and the generalised
    :math:`\mathrm{KL}(p|q) = \sum p\log(p/q) - p + q`, coupling only cells of the same
    regime (Liero-Mielke-Savaré 2018, Thm 7.20).  It is exact for the discrete measures
    (cell masses as atoms at the cell centres), which is not the distance between the smooth
    allocations the cells sample: atoms cannot move by a fraction of a cell, so where the
    mass moves a non-whole number of cells they must split and the value sits above the
    continuum's, by an amount that shrinks with the cells. Gaussian bumps of width 0.05
    moved by 0.1 at ``lam = 0.3``: 0.0097246 / 0.0097116 / 0.0097063 on 100 / 200 / 400
    cells (whole shifts), 0.0097203 on 128 cells (12.8 cells, +0.14 % over the 400-cell
    value), where the grid geodesic gives 0.0097050 at 128 x 32 (0.16 % below it). To judge
    a grid solve against it, sample the same densities more finely, with whole-cell shifts
    where possible.  Works on 1-D and 2-D grids; ``metric`` (a positive scalar, or on 2-D
    grids a constant SPD ``2 x 2`` matrix :math:`G`, an array or a DataFrame over the weight
    axes read by name as for :func:`wfr_cvx.geodesic`) makes the ground distance
    :math:`\sqrt{\Delta w^\top G\, \Delta w}` (default: Euclidean).

    Solved with cvxpy (exponential cones) by Clarabel, then **certified**: the value
    returned is the primal objective of the coupling found (an upper bound), and a lower
    bound comes from the dual

    .. math::  \max_{\varphi_i + \psi_j \le c_{ij}} \sum_i \rho_{0,i}(1 - e^{-\varphi_i})
               + \sum_j \rho_{1,j}(1 - e^{-\psi_j})

    at the potentials :math:`\varphi = \log(\rho_0 / \gamma\mathbf 1)`,
    :math:`\psi = \log(\rho_1 / \gamma^\top\mathbf 1)` made feasible by lowering
    :math:`\psi` (the best of several starts: the estimates as they are, and capped at
    :data:`POTENTIAL_CAPS`, since a cell whose mass is destroyed has a marginal at
    round-off and an estimate near 690 that would drive :math:`\psi` as far below zero;
    any feasible pair bounds :math:`d^2` from below).  If the two differ by more than
    ``rtol`` (relative; plus ``1e-8 * 4 lam^2 * mass`` absolute, for near-identical
    allocations) a :class:`SolverError` says so; the exponential-cone solve often stops at
    "almost solved" with a relative gap ~1e-6, which the certificate then accepts or refuses
    on its own figures.  The certificate needs potentials accurate to ``rtol`` times
    :math:`d^2 / (4\lambda^2 m)`; for large ``lam`` (roughly ``lam >~ 1`` on grids of a
    hundred cells) that is below round-off and the call raises: use the ``lam -> inf``
    limit there, :math:`W_2^2` for equal masses (:func:`w2_squared_1d` on a 1-D grid times
    a scalar ``metric``; on 2-D grids see that function's note), or a looser ``rtol``.
    Cells lighter than 1e-12 of the heavier total mass are left out (it
    moves ``d`` by at most :math:`2\lambda\sqrt{\text{dropped mass}}`).  The cost matrix
    is dense over the cells of one regime (``n^2`` floats, ``n`` cells; with its
    temporaries :data:`COST_MATRIX_FLOATS` times that): a grid whose matrix does not fit
    in the memory this process may use raises :class:`~wfr_cvx.ProblemTooLargeError`
    up front (30,000 cells need 27 GiB).

    >>> g = Grid(8, 1)
    >>> round(static_wfr2(g.dirac(0.3), g.dirac(0.6), g, lam=0.5), 6)   # == dirac_wfr2
    0.062175
    >>> round(dirac_wfr2(1, 1, g.weights[2], g.weights[4], 0.5), 6)
    0.062175
    """
    lower, upper = static_wfr2_bounds(rho0, rho1, grid, lam, metric=metric,
                                      solver_options=solver_options)
    # relative to the answer, with a floor for near-identical allocations (d2 ~ 0)
    floor = 1e-8 * 4.0 * check_lam(lam) ** 2 * float(
        max(np.sum(rho0), np.sum(rho1)))
    if upper - lower > rtol * abs(upper) + floor:
        raise SolverError(
            f"static WFR solve not certified: primal {upper:.10g} and dual {lower:.10g} "
            f"differ by more than rtol={rtol:g}", status="gap_too_large", backend="cvxpy")
    return upper


def static_wfr2_bounds(rho0, rho1, grid: Grid, lam: float, *, metric=None,
                       solver_options: dict | None = None) -> tuple[float, float]:
    """Certified ``(lower, upper)`` bounds of the static squared distance.

    See :func:`static_wfr2`; both bounds are in user units (``4 lam^2`` included).
    """
    import cvxpy as cp

    lam = check_lam(lam)
    r0 = as_allocation(rho0, grid, "rho0")
    r1 = as_allocation(rho1, grid, "rho1")
    heavier = max(r0.sum(), r1.sum())
    if heavier == 0:
        return 0.0, 0.0
    # mean cell mass 1 in the solver's units (the feasibility tolerance is absolute
    # below unit data norms); d^2 is homogeneous of degree 1 in the masses.
    scale = heavier / r0.size
    r0, r1 = r0 / scale, r1 / scale
    points = _metric_points(grid, metric)
    _check_cost_matrix_size(points.shape[0])
    cost = wfr_cost_matrix(points, points, lam)
    r0 = r0.reshape(grid.n_regimes, -1)
    r1 = r1.reshape(grid.n_regimes, -1)
    negligible = 1e-12 * r0.size
    blocks = []  # per regime: (a, b, sub-cost, gamma variable, pairs)
    objective_terms, constraints = [], []
    for k in range(grid.n_regimes):
        src = np.flatnonzero(r0[k] > negligible)
        dst = np.flatnonzero(r1[k] > negligible)
        a, b = r0[k, src], r1[k, dst]
        sub = cost[np.ix_(src, dst)]
        ii, jj = np.nonzero(np.isfinite(sub))
        if ii.size == 0:
            blocks.append((a, b, sub, None, (ii, jj)))
            continue
        gamma = cp.Variable(ii.size, nonneg=True)
        row = _incidence(ii, src.size) @ gamma
        col = _incidence(jj, dst.size) @ gamma
        # Each KL term a * phi(p / a), phi(u) = u log u - u + 1 >= 0, gets its own
        # epigraph variable: written as sum(kl_div) the solver's objective would be
        # ~ -2 * mass plus a constant, its relative gap ~ mass / value times too loose.
        kl_row = cp.Variable(src.size, nonneg=True)
        kl_col = cp.Variable(dst.size, nonneg=True)
        constraints += [
            cp.rel_entr(row, a) <= kl_row + row - a,
            cp.rel_entr(col, b) <= kl_col + col - b,
        ]
        objective_terms += [sub[ii, jj] @ gamma, cp.sum(kl_row), cp.sum(kl_col)]
        blocks.append((a, b, sub, gamma, (ii, jj)))
    if objective_terms:
        problem = cp.Problem(cp.Minimize(cp.sum(objective_terms)), constraints)
        options = dict(solver_options or {})
        # an inaccurate status is judged by the certificate below instead
        with silenced(UserWarning):
            try:
                problem.solve(solver=cp.CLARABEL, **options)
            except cp.error.SolverError as exc:
                raise SolverError(f"static WFR solve failed: {exc}", status="solver_error",
                                  backend="cvxpy") from None
        if problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
            raise SolverError("static WFR solve failed", status=problem.status,
                              backend="cvxpy")
    lower = upper = 0.0
    for a, b, sub, gamma, (ii, jj) in blocks:
        lo, up = _certify_block(a, b, sub, None if gamma is None else gamma.value, ii, jj)
        lower += lo
        upper += up
    factor = 4.0 * lam**2 * scale
    return float(lower * factor), float(upper * factor)


#: Peak floats of :func:`wfr_cost_matrix` per entry of the matrix (the differences, their
#: squares and the matrix; measured 4.0 on 1-D and 2-D points).
COST_MATRIX_FLOATS = 4


def _check_cost_matrix_size(n_cells: int) -> None:
    """Refuse a static solve whose dense ``n_cells x n_cells`` cost matrix cannot be built
    in the memory this process may use."""
    needed = COST_MATRIX_FLOATS * 8 * n_cells**2
    budget = _memory.memory_budget()
    if needed > budget.bytes:
        raise ProblemTooLargeError(
            f"the static WFR form on {n_cells:,} cells per regime is too large: its "
            f"{n_cells:,} x {n_cells:,} cost matrix needs about {needed / 2**30:,.1f} GiB "
            f"while it is built (the solve more); {budget.describe()}.  Compare on a "
            f"coarser grid", needed_bytes=needed, available_bytes=budget.bytes)


def _metric_points(grid: Grid, metric) -> np.ndarray:
    """Cell centres mapped so that Euclidean distances are ``sqrt(dw^T G dw)``.

    With ``G = L L^T`` (Cholesky), ``|L^T dw|^2 = dw^T G dw``: the points are ``w L``.
    """
    points = grid.coords.reshape(-1, grid.dims)
    if metric is None:
        return points
    _refuse_bools(metric)
    metric = unlabel_metric(metric, grid)
    G = np.asarray(metric, dtype=float)
    if G.ndim == 0:
        G = G * np.eye(grid.dims)
    if G.shape != (grid.dims, grid.dims) or not np.all(np.isfinite(G)) or not np.allclose(
            G, G.T, rtol=1e-12, atol=0.0):
        raise ValueError(f"`metric` must be a positive scalar or a symmetric "
                         f"{grid.dims} x {grid.dims} matrix, got {np.asarray(metric).tolist()}")
    try:
        L = np.linalg.cholesky(G)
    except np.linalg.LinAlgError:
        raise ValueError(f"`metric` must be positive definite (Cholesky failed), got "
                         f"{G.tolist()}") from None
    return points @ L


def _generalised_kl(p: np.ndarray, q: np.ndarray) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p / q), 0.0) - p + q
    return float(terms.sum())


#: Caps on the dual potentials' estimates tried by the certificate (besides none): a
#: cell's dual term a (1 - e^{-phi}) loses at most a e^{-cap} by the cap.
POTENTIAL_CAPS = (30.0, 20.0, 10.0, 5.0)


def _certify_block(a, b, sub, gamma, ii, jj) -> tuple[float, float]:
    """Primal value of a coupling and a dual lower bound for one regime."""
    if gamma is None:  # nothing can be transported: only the KL terms of zero marginals
        value = float(a.sum() + b.sum())
        return value, value
    gamma = np.maximum(np.asarray(gamma, dtype=float), 0.0)
    row = np.bincount(ii, gamma, minlength=a.size)
    col = np.bincount(jj, gamma, minlength=b.size)
    upper = float(sub[ii, jj] @ gamma) + _generalised_kl(row, a) + _generalised_kl(col, b)
    # Potentials from the optimality conditions r = a exp(-phi), then c-transforms: the
    # dual objective increases in each potential, and phi = psi^c makes every pair
    # feasible (phi_i + psi_j <= c_ij).  Only cells holding >= 1e-9 (1e-6, 1e-3) of the
    # largest mass seed the transform: in light cells the solver's marginals are noise,
    # and one bad potential there would lower psi everywhere within reach.  Both orders
    # and the three seed levels are tried and the best bound kept.
    # A cell whose mass is destroyed has a marginal at round-off (or clipped to 0): its
    # estimate log(a / r) is huge (~690), and the transform would push psi as far below
    # zero, where 1 - e^{-psi} is astronomically negative.  Capping the estimates at
    # POTENTIAL_CAPS costs at most a e^{-cap} of such a cell's term and lets psi stay near
    # its optimum; every capped start is still made feasible by the transforms, so each
    # bound is valid and the best is kept.
    tiny = 1e-300
    lower = -np.inf
    orders = ((a, b, row, col, sub), (b, a, col, row, sub.T))
    for first, second, m_first, m_second, cost in orders:
        estimate = np.log(first / np.maximum(m_first, tiny))
        own = np.log(second / np.maximum(m_second, tiny))
        largest = max(estimate.max(initial=-np.inf), own.max(initial=-np.inf))
        caps = [np.inf] + [cap for cap in POTENTIAL_CAPS if cap < largest]
        for level, cap in itertools.product((1e-9, 1e-6, 1e-3), caps):
            # each seed set and cap gives a valid bound: keep the best
            seed = first >= level * first.max()
            start = np.where(seed, np.minimum(estimate, cap), -np.inf)
            finite = np.isfinite(cost) & seed[:, None]
            with np.errstate(invalid="ignore"):  # inf - inf where no finite cost: masked
                other = np.where(finite, cost - start[:, None], np.inf).min(axis=0)
                # a column no seed reaches keeps its own estimate instead of +inf
                other = np.where(np.isinf(other), np.minimum(own, cap), other)
                back = np.where(np.isfinite(cost), cost - other[None, :], np.inf).min(axis=1)
            with np.errstate(over="ignore"):  # a hopeless start gives -inf: others win
                bound = float(np.sum(first * -np.expm1(-back))
                              + np.sum(second * -np.expm1(-other)))
            lower = max(lower, bound)
    return lower, upper


def _incidence(index: np.ndarray, size: int):
    import scipy.sparse as sp

    return sp.csr_matrix((np.ones(index.size), (index, np.arange(index.size))),
                         shape=(size, index.size))
