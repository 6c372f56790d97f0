r"""``backend="auto"``: the interior point or the first-order splitting, by the problem.

The rule (:func:`choose_backend`), in order:

1. **Settings name a backend.**  Solver settings passed with ``"auto"`` pick the backend
   whose settings they are: Clarabel's (``tol_gap_rel``, ``direct_solve_method``, ...)
   select ``"clarabel"``, those of :mod:`wfr_cvx.backends.dr` (``eps``, ``coarse_start``,
   ...) select ``"dr"``; settings both take (``max_iter``, ``time_limit``, ``verbose``)
   leave the choice to the rest of the rule; settings of neither are an error.  Asking
   for an accuracy is asking for a backend: the interior point's tolerances reach 1e-8.
2. **"dr" on large two-axis grids.**  On the simplex (``grid.dims == 2``), between fixed
   ends, without constraints, on a grid that halves into one of at least 16 cells per
   side and 4 steps (where the splitting starts from the coarse grid's solve,
   :mod:`wfr_cvx.backends._multilevel`): the interior point's sparse factor grows like
   :math:`N^{4/3}` there while the splitting needs no factorisation.
3. **"clarabel" everywhere else**: every 1-D grid, constraints (the interior point
   certifies infeasibility; the splitting only stops at its iteration limit on some
   binding constraints), a free end, grids too small or too odd to coarsen.
4. **Memory.**  When the choice would not fit in memory
   (:meth:`~wfr_cvx.backends.Backend.estimated_bytes` against the process's budget) and
   the other backend would, the other one.

Measured (``benchmarks/LADDER.md``, one run, the centred scheme; seconds of the
``geodesic`` call):

======================  ===========  ===========  ====================================
problem                 clarabel     dr           d² difference (dr vs clarabel)
======================  ===========  ===========  ====================================
1-D 256 x 2 x 32        2.9          23.1         5e-5 (3,650 iterations)
1-D 1,024 x 2 x 32      11.6         > 240
simplex 16² x 16        6.3          3.5          2e-5 (no coarse start)
simplex 16² x 32        19.1         25.1         2e-5 (no coarse start)
simplex 32² x 16        30.1         4.1          2e-5
simplex 32² x 32        188.5        26.5         2e-5
simplex 48² x 16        116.9        6.0          1.5e-5
simplex 64² x 16        > 240        9.1
======================  ===========  ===========  ====================================

Below 32 cells per side the two are within 2x either way (an earlier run: 24² x 16,
15 s against 21 s), and the interior point's figures are the more accurate; from 32 per
side the coarse start makes the splitting 7x faster and more.

On 1-D grids the splitting converges slowly (the reaction's dual moves little per
iteration) and one near-teleport Dirac did not converge in 50,000 iterations: "auto" never
picks it there.  What "auto" promises: the interior point's :math:`d^2` to its
tolerances (gap and feasibility 1e-8: two equivalent formulations of one problem agree to
1e-7, and to 2e-5 on near-teleport problems where the feasibility tolerance binds), or,
where it picks ``"dr"``, the same discrete problem's :math:`d^2` within 1e-4
(relative; the conformance tests of both backends check it), far below the
discretisation error at the sizes it picks it for (3e-3 at 32² x 16 against 64² x 16).
The choice is in the result's ``backend``.
"""

from __future__ import annotations

from collections.abc import Mapping

from ._multilevel import can_coarsen
from ._registry import REGISTRY, Backend

__all__ = ["AUTO", "choose_backend"]

#: The ``backend=`` value that lets the engine choose.
AUTO = "auto"

#: The backends "auto" chooses between.
_CANDIDATES = ("clarabel", "dr")


def _by_rule(grid, *, constrained: bool, free_end: bool) -> str:
    if grid.dims == 2 and not constrained and not free_end and can_coarsen(grid):
        return "dr"
    return "clarabel"


def choose_backend(grid, *, constrained: bool = False, free_end: bool = False,
                   options: Mapping | None = None, budget_bytes: int | None = None
                   ) -> Backend:
    """The backend ``"auto"`` runs for a solve on ``grid`` (module docstring).

    Parameters
    ----------
    grid : Grid
    constrained : bool
        Whether the solve has constraints (:mod:`wfr_cvx.constraints`).
    free_end : bool
        Whether the end allocation is free (:func:`wfr_cvx.rebalance`).
    options : mapping, optional
        The solver settings passed with ``backend="auto"``.
    budget_bytes : int, optional
        The memory the solve may use (None: no limit).

    >>> from wfr_cvx import Grid
    >>> choose_backend(Grid(256, 32, regimes=2)).name
    'clarabel'
    >>> choose_backend(Grid.simplex(32, 16)).name, choose_backend(Grid.simplex(24, 16)).name
    ('dr', 'clarabel')
    >>> choose_backend(Grid.simplex(32, 16), options={"tol_gap_rel": 1e-9}).name
    'clarabel'
    """
    names = set(options or {})
    fits = [name for name in _CANDIDATES if names <= set(REGISTRY[name].options)]
    if not fits:
        unknown = sorted(names - set(REGISTRY["clarabel"].options)
                         - set(REGISTRY["dr"].options))
        if unknown:
            raise ValueError(
                f"unknown solver option(s) {unknown} for backend='auto', which runs "
                f"{' or '.join(map(repr, _CANDIDATES))} and takes the settings of one of "
                "them; name the backend for another's (backend='scs', 'cvxpy', ...)")
        raise ValueError(
            f"the solver options {sorted(names)} mix settings of 'clarabel' and 'dr'; "
            "backend='auto' runs one of them: name the backend")
    preferred = _by_rule(grid, constrained=constrained, free_end=free_end)
    order = [preferred] + [name for name in _CANDIDATES if name != preferred]
    order = [name for name in order if name in fits]
    if budget_bytes is not None and len(order) > 1:
        first, second = (REGISTRY[name] for name in order)
        if first.estimated_bytes(grid) > budget_bytes >= second.estimated_bytes(grid):
            return second
    return REGISTRY[order[0]]
