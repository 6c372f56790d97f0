r"""``backend="auto"``: the interior point or the first-order splitting, by the problem.

The rule (:func:`choose_backend`), in order:

1. **Settings name a backend.**  Solver settings passed with ``"auto"`` pick the backend
   whose settings they are: Clarabel's (``tol_gap_rel``, ``direct_solve_method``, ...)
   select ``"clarabel"``, those of :mod:`wfr_cvx.backends.dr` (``eps``, ``coarse_start``,
   ...) select ``"dr"``; settings both take (``max_iter``, ``time_limit``, ``verbose``)
   leave the choice to the rest of the rule; settings of neither are an error.  Asking
   for an accuracy is asking for a backend: the interior point's tolerances reach 1e-8.
   Display settings (:data:`DISPLAY_OPTIONS`) never choose: a progress bar asked for on a
   1-D grid ran the splitting there, 8x slower.  One the chosen backend does not show
   (``progress`` and ``threads`` are the splitting's) is left out with a warning.
2. **"dr" on large two-axis grids with spread-out allocations.**  On the simplex
   (``grid.dims == 2``), between fixed ends, without constraints, on a grid that halves
   into one of at least 16 cells per side and 4 steps (where the splitting starts from
   the coarse grid's solve, :mod:`wfr_cvx.backends._multilevel`), and when, at both ends,
   every regime with mass needs at least :data:`DR_MIN_CELLS` cells to hold 90 % of it
   (:func:`cells_holding`): the interior point's sparse factor grows like
   :math:`N^{4/3}` there while the splitting needs no factorisation, but the splitting
   slows down as the mass concentrates (table below) and did not converge on Diracs.
3. **"clarabel" everywhere else**: every 1-D grid, constraints (the interior point
   certifies infeasibility; the splitting only stops at its iteration limit on some
   binding constraints), a free end, grids too small or too odd to coarsen, concentrated
   allocations (point masses, narrow bumps).
4. **Memory.**  When the choice would not fit in memory
   (:meth:`~wfr_cvx.backends.Backend.estimated_bytes` against the process's budget) and
   the other backend would, the other one.
5. **A budget for the splitting.**  Where rule 2 chose ``"dr"`` and no setting was
   passed, it runs at most :data:`DR_ITERATIONS_UNDER_AUTO` iterations; past them the
   interior point solves the problem instead (when it fits in memory), and the result's
   ``backend`` says ``"clarabel"`` (its ``iterations`` are the interior point's, its
   ``solve_time`` includes the splitting's).  The allocations rule 2 cannot see -- small
   or large ``lam``, a mass ratio of 10, a mask the coarse grid erases -- made the
   splitting run out of iterations (55-126 s) where the interior point took 6-16 s.
   Display settings (``verbose``, ``progress``, ``threads``) keep the budget; any other
   setting is a request for the splitting as set.

Measured (``benchmarks/LADDER.md``, one run at a 1-minute load of 2.5, the centred
scheme; seconds of the ``geodesic`` call):

======================  ===========  ===========  ====================================
problem                 clarabel     dr           d² difference (dr vs clarabel)
======================  ===========  ===========  ====================================
1-D 256 x 2 x 32        3.8          40.7         6e-5 (3,350 iterations)
1-D 1,024 x 2 x 32      17.6         > 240
simplex 16² x 16        8.7          5.8          2e-5 (no coarse start)
simplex 16² x 32        20.9         36.2         2e-5 (no coarse start)
simplex 32² x 16        41.6         5.8          2e-5
simplex 32² x 32        160.7        23.0         2e-5
simplex 48² x 16        202.9        17.2         1.5e-5
simplex 64² x 16        > 240        12.4
======================  ===========  ===========  ====================================

Concentration, on ``Grid.simplex(32, 8)`` at ``lam = 1`` (one run; cells holding 90 %
of the mass at each end; seconds; dr's d² against the interior point's):

==================  ===========  ==========  ====================  ================
allocations         cells (90%)  clarabel    dr                    d² difference
==================  ===========  ==========  ====================  ================
Diracs              1            13.9        MaxIterations, 87 s   --
Diracs, lam 0.3     1            23.7        81.8 (13,500 it.)     2.6e-5
bumps 0.02 wide     8            19.0        107.4 (19,350 it.)    2.8e-5
bumps 0.03 wide     15-16        21.9        29.1 (4,450 it.)      5.5e-5
bumps 0.045 wide    32           15.7        9.8 (1,950 it.)       3.7e-5
bumps 0.08 wide     93-96        13.3        6.5 (850 it.)         1.3e-5
==================  ===========  ==========  ====================  ================

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

import numpy as np

from .._warnings import warn
from ._multilevel import can_coarsen
from ._registry import REGISTRY, Backend

__all__ = ["AUTO", "DR_ITERATIONS_UNDER_AUTO", "DR_MIN_CELLS", "POINT_CELLS",
           "auto_fallback", "cells_holding", "choose_backend", "displayable"]

#: The ``backend=`` value that lets the engine choose.
AUTO = "auto"

#: The backends "auto" chooses between.
_CANDIDATES = ("clarabel", "dr")

#: "dr" only where every regime with mass needs at least this many cells to hold 90 % of
#: it, at both ends: from 32 such cells it was 1.6x faster than the interior point on
#: ``Grid.simplex(32, 8)``, at 16 1.3x slower, at 8 5.6x slower (module docstring).
DR_MIN_CELLS = 24

#: The splitting's iteration budget when "auto" chose it and no setting was passed: past
#: it the interior point solves instead (:func:`auto_fallback`).  The ladder's simplex
#: rows take 300-1,750 iterations on the fine grid; allocations the rule sends to "dr"
#: but where it is slow took 5,000-18,250 (77 s against the interior point's 10 s on
#: ``Grid.simplex(32, 8)``) or ran out of iterations (small or large ``lam``, a mass
#: ratio of 10, a mask the coarse grid erases: 55-126 s against 6-16 s).
DR_ITERATIONS_UNDER_AUTO = 5_000
#: Settings that change what a solve shows, or how fast, never its answer: they leave the
#: budget and the fallback in place (``wfr-cvx solve --verbose`` solved otherwise).
DISPLAY_OPTIONS = frozenset({"verbose", "progress", "threads"})

#: Allocations held (90 %) by fewer cells (and fewer than 1/8 of a regime's active cells)
#: are point masses: "dr" warns on them in 2-D (its
#: stopping rule passed at "Solved", on ``Grid.simplex(16, 8)``: two Diracs at lam = 1
#: 5.6e-4 off; 4, 5, 6 and 12 scattered Diracs at lam 0.3-1 1.2e-4, 1.1e-4, 2.4e-4 and
#: 1.8e-4 off; 8 Diracs 6.4e-5; bumps held by 8 and 15-16 cells 2.8e-5 and 5.5e-5).
POINT_CELLS = 16


def cells_holding(rho, share: float = 0.9) -> int:
    """The fewest cells holding ``share`` of a regime's mass, over the regimes with mass
    (``rho`` of shape ``(n_regimes, ...)``); 0 when no regime has mass.

    >>> import numpy as np
    >>> cells_holding(np.array([[0.0, 1.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25]]))
    1
    """
    rho = np.asarray(rho, dtype=float)
    fewest = None
    for regime in rho.reshape(rho.shape[0], -1):
        total = regime.sum()
        if total <= 0:
            continue
        heaviest_first = np.cumsum(np.sort(regime)[::-1])
        count = int(np.searchsorted(heaviest_first, share * total * (1 - 1e-12))) + 1
        fewest = count if fewest is None else min(fewest, count)
    return 0 if fewest is None else fewest


def _by_rule(grid, *, constrained: bool, free_end: bool, allocations) -> str:
    if grid.dims == 2 and not constrained and not free_end and can_coarsen(grid) and all(
            cells_holding(rho) >= DR_MIN_CELLS for rho in allocations if rho is not None):
        return "dr"
    return "clarabel"


def auto_fallback(chosen: Backend, grid, options: Mapping | None,
                  budget_bytes: int | None) -> Backend | None:
    """The interior point, to run when the splitting that ``"auto"`` chose stops at
    :data:`DR_ITERATIONS_UNDER_AUTO` iterations; None when ``chosen`` is not ``"dr"``,
    settings other than :data:`DISPLAY_OPTIONS` were passed (a limit or tolerance asked
    for is kept), or the interior point would not fit in ``budget_bytes``.

    >>> from wfr_cvx import Grid
    >>> auto_fallback(REGISTRY["dr"], Grid.simplex(32, 16), {}, None).name
    'clarabel'
    >>> auto_fallback(REGISTRY["dr"], Grid.simplex(32, 16), {"eps": 1e-6}, None) is None
    True
    """
    if chosen.name != "dr" or set(options or {}) - DISPLAY_OPTIONS:
        return None
    fallback = REGISTRY["clarabel"]
    if budget_bytes is not None and fallback.estimated_bytes(grid) > budget_bytes:
        return None
    return fallback


def choose_backend(grid, *, constrained: bool = False, free_end: bool = False,
                   options: Mapping | None = None, budget_bytes: int | None = None,
                   allocations: tuple = ()) -> Backend:
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
    allocations : tuple of arrays, optional
        The ends (``grid.shape``; None for a free end): concentrated ones go to the
        interior point (rule 2).  Without them the rule judges by the grid alone.

    >>> from wfr_cvx import Grid
    >>> choose_backend(Grid(256, 32, regimes=2)).name
    'clarabel'
    >>> choose_backend(Grid.simplex(32, 16)).name, choose_backend(Grid.simplex(24, 16)).name
    ('dr', 'clarabel')
    >>> choose_backend(Grid.simplex(32, 16), options={"tol_gap_rel": 1e-9}).name
    'clarabel'
    >>> choose_backend(Grid(256, 32), options={"progress": True}).name
    'clarabel'
    """
    names = set(options or {}) - DISPLAY_OPTIONS
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
    preferred = _by_rule(grid, constrained=constrained, free_end=free_end,
                         allocations=allocations)
    order = [preferred] + [name for name in _CANDIDATES if name != preferred]
    order = [name for name in order if name in fits]
    if budget_bytes is not None and len(order) > 1:
        first, second = (REGISTRY[name] for name in order)
        if first.estimated_bytes(grid) > budget_bytes >= second.estimated_bytes(grid):
            return second
    return REGISTRY[order[0]]


def displayable(chosen: Backend, options: Mapping | None) -> dict | None:
    """``options`` without the display settings (:data:`DISPLAY_OPTIONS`) that ``chosen``,
    the backend "auto" chose, does not take; they never choose it (rule 1), and leaving
    one out warns, naming it.

    >>> displayable(REGISTRY["dr"], {"progress": False})
    {'progress': False}
    """
    dropped = sorted((set(options or {}) & DISPLAY_OPTIONS) - set(chosen.options))
    if not dropped:
        return None if options is None else dict(options)
    warn(f"backend='auto' chose {chosen.name!r} for this problem, which does not "
                  f"take the display setting(s) {dropped}: left out (name the backend to "
                  "have them)", UserWarning, stacklevel=None)
    return {name: value for name, value in options.items() if name not in dropped}
