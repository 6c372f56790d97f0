r"""The geodesic problem as a cvxpy model that users can extend: :func:`model`.

The model is the cvxpy backend's own formulation (:func:`wfr_cvx.backends._cvxpy.build`),
written in user units (no mass or cost scaling), so its optimal value is :math:`d^2`
itself.
Add constraints with plain cvxpy and solve::

    m = wfr_cvx.model(rho0, rho1, grid, lam)
    extra = [m.rho[4, 10] <= 0.2]          # level 5, cell 10: at most 0.2 mass
    problem = cp.Problem(m.problem.objective, m.problem.constraints + extra)
    problem.solve(solver=cp.CLARABEL)     # problem.value is the constrained d^2

Figures of a hand-built model are the solver's own: the scaling that
:func:`wfr_cvx.geodesic` applies (unit mean cell mass, the cost scaled to O(1), the cones
balanced for near-equal ends) is not done, and the solver stops at its absolute gap
(Clarabel's ``tol_gap_abs``, 1e-8), so keep masses O(1) per cell, and expect ``d^2`` near
that gap to be wrong: ends a small move apart (a bump of mass 16 on ``Grid(16, 8)`` moved
by 1e-3 at ``lam = 2``: 2.8 % low; by 1e-4: -4.7e-7, below 0) or a large ``lam`` (bumps
moved 0.3 on ``Grid(32, 8)``, mass 1, ``lam = 20``: 1.0e-4 below :func:`wfr_cvx.geodesic`'s
figure), all "optimal".  :func:`wfr_cvx.geodesic` solves those to its stated accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

import cvxpy as cp

from .assembly import DEFAULT_SCHEME
from .backends._cvxpy import build
from .engine import make_request
from .grid import Grid

__all__ = ["Model", "model"]


@dataclass
class Model:
    """A WFR geodesic problem as cvxpy objects (see :func:`model`).

    Attributes
    ----------
    problem : cvxpy.Problem
        ``minimise d^2`` subject to the discrete continuity equation's cones and the
        ``constraints``; ``problem.value`` is :math:`d^2` once solved.
    rho : cvxpy Expression, shape ``(n_steps - 1, n_regimes * grid.n_cells)``
        Cell masses on the interior levels ``1 .. n_steps - 1`` (row ``k - 1`` is level
        ``k``); column ``regime * grid.n_cells + cell`` (the cell's flat index).  Built from
        the variable named ``"rho"`` (only active cells of ``grid.mask`` have entries in
        it).
    levels : cvxpy Expression, shape ``(n_steps + 1, n_regimes * grid.n_cells)``
        All levels, the data ``rho0`` and ``rho1`` included.
    momentum : cvxpy Expression, shape ``(n_steps * n_regimes, n_weights - 1)``
        Momentum on the interior faces, row ``step * n_regimes + regime``, in the units of
        :attr:`wfr_cvx.Geodesic.momentum` (face mass x velocity, not a density).  On a simplex
        grid ``(n_steps * n_regimes, 2 n^2)``: a regime's padded faces of both axes,
        ``grid.face_shape[1:]`` = ``(2, n, n)`` flattened (axis, i, j); faces that
        ``grid.face_mask`` closes hold 0.
    source : cvxpy Expression, shape ``(n_steps, n_regimes * grid.n_cells)``
        Mass created per unit time in each cell and step.
    """

    problem: cp.Problem
    rho: cp.Expression
    levels: cp.Expression
    momentum: cp.Expression
    source: cp.Expression


def model(rho0, rho1, grid: Grid, lam: float, *, metric=None, constraints=(),
          scheme: str = DEFAULT_SCHEME) -> Model:
    """The discrete geodesic problem of :func:`wfr_cvx.geodesic` as an extensible cvxpy model.

    Parameters are those of :func:`wfr_cvx.geodesic` (validated the same way).

    Returns
    -------
    Model
        ``problem`` plus the named expressions ``rho``, ``momentum``, ``source``.

    Notes
    -----
    The model is the problem alone: none of :func:`wfr_cvx.geodesic`'s checks of the
    answer runs on it.  In particular, a book held in lots coarser than the cells can move
    mass in an odd-even pattern that the default ``scheme="centred"`` does not price (a
    book on every other cell shifted by one cell: 1.7e-5 against dx^2 = 9.8e-4), which
    :func:`wfr_cvx.geodesic` flags ("AlmostSolved", :func:`wfr_cvx.engine.odd_even_excess`)
    and a solved model does not; build it with ``scheme="power"`` for such books.

    Examples
    --------
    Cap the mass of one cell at mid-path: a bump moving from 0.3 to 0.7 must then route
    less mass through the middle cell, and pays for it.

    >>> import cvxpy as cp
    >>> import wfr_cvx
    >>> g = wfr_cvx.Grid(16, 8)
    >>> r0, r1 = g.bump(0.3, 0.05), g.bump(0.7, 0.05)
    >>> m = wfr_cvx.model(r0, r1, g, lam=0.5)
    >>> _ = m.problem.solve(solver=cp.CLARABEL)
    >>> middle = m.rho.value[3, 8]                   # level 4 (s = 0.5), w = 0.53: 0.35
    >>> capped = cp.Problem(m.problem.objective,
    ...                     m.problem.constraints + [m.rho[3, 8] <= 0.1])
    >>> _ = capped.solve(solver=cp.CLARABEL)
    >>> bool(middle > 0.25), bool(m.rho.value[3, 8] <= 0.1 + 1e-6)
    (True, True)
    >>> bool(capped.value > m.problem.value)
    True
    """
    form = build(make_request(rho0, rho1, grid, lam, metric=metric, constraints=constraints,
                              backend="cvxpy", scheme=scheme))
    return Model(problem=form.problem, rho=form.interior, levels=form.levels,
                 momentum=form.flux * (grid.dx / grid.dt), source=form.created / grid.dt)
