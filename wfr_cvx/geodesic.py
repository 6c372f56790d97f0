r"""Public entry points: :func:`geodesic` and :func:`distance`.

Validation happens here, once.  The solver sees scaled data and results come back in user
units:

* masses are scaled to a mean cell mass of 1 (Clarabel's feasibility tolerance is absolute
  below unit data norms; with unit total mass the objective was measured 1.5e-4 low at
  "Solved", with a mean cell mass of 1 it agrees with a 1e-11-tolerance solve to 1e-6);
  :math:`d^2` is positively homogeneous of degree 1 in the masses, so figures are
  identical from total mass 1e-9 to 1e6;
* the objective is divided by an a-priori bound of :math:`d^2` per unit mass
  (:func:`wfr_cvx.problem.cost_scale_for`), so it stays O(mass) whatever ``lam``: a
  regime switch solves to 1e-7 from ``lam = 1e-3`` to ``1e3``.  Transport with
  ``lam >~ 100`` (reaction ~1e4 times dearer than moving across the whole axis) is still
  too badly conditioned and stops with a :class:`SolverError` rather than a wrong number;
  use :func:`~wfr_cvx.closed_form.w2_squared_1d`, its limit, there.

Observed accuracy of the default ``scheme="power"`` (measured by the test-suite):

* pure reaction (regime switch, same-cell mass change): exact at every ``n_steps``
  (relative error < 1e-6 at 8 steps), the discrete path is
  :math:`((1-s)\sqrt{\rho_0}+s\sqrt{\rho_1})^2` at the levels;
* narrow bumps (3 cells wide, 128 cells, 32 steps): within 0.5 % of the exact static
  distance of the discrete measures (transport-dominated, mixed and teleporting cases);
* one-cell Diracs: the error to :func:`~wfr_cvx.closed_form.dirac_wfr2` falls with
  refinement of both axes (numerical diffusion of the staggered scheme), about first
  order in ``dx``.

On the simplex grid (two weight axes, :meth:`Grid.simplex`), measured by
``tests/test_simplex.py`` at 32^2 cells x 16 steps: a bump translated at large ``lam``
costs within 0.7 % of :math:`m\,\Delta w^\top G\Delta w` (identity and off-diagonal
``G``), mixed transport and reaction within 1.6 % of the static form (first order: 4-6 %
at 16^2 x 8), and mass on one grid line reproduces the 1-D engine to 1e-5.  Narrow bumps
there can end "AlmostSolved" (Clarabel stalls at a relative gap ~3e-8 against its 1e-8
target): a warning, not an error.

``scheme="arithmetic"`` is the plain Papadakis-Peyré-Oudet mean; it is first order in
``dt`` wherever mass is born or dies (3.4 % low on a regime switch at 32 steps).
"""

from __future__ import annotations

import warnings

import numpy as np

from . import _clarabel, _cvxpy, _dr, _scs
from ._memory import memory_budget
from ._options import check_options
from ._validate import check_lam, check_lam_units
from .closed_form import hellinger2
from .constraints import compile_constraints
from .errors import (
    InaccurateSolutionWarning,
    InfeasibleError,
    ProblemTooLargeError,
    SolverError,
)
from .grid import Grid, as_allocation
from .metric import check_metric, metric_reach
from .operators import make_face_average
from .problem import TIME_MEANS, cost_scale_for
from .result import Geodesic

__all__ = ["geodesic", "distance", "solve_path", "check_common", "check_grid", "BACKENDS"]

BACKENDS = {"clarabel": _clarabel.solve, "cvxpy": _cvxpy.solve, "dr": _dr.solve,
            "scs": _scs.solve}

_INACCURATE = {"AlmostSolved"}
_INFEASIBLE = {"PrimalInfeasible", "DualInfeasible", "AlmostPrimalInfeasible",
               "AlmostDualInfeasible"}


def solver_settings(backend: str) -> tuple[str, dict]:
    """The solver behind ``backend`` and its settings (name -> :class:`~wfr_cvx._options.Option`).

    The cvxpy backend also solves with Clarabel; "scs" with SCS; "dr" is wfr_cvx's own.
    """
    return {"scs": ("SCS", _scs.OPTIONS),
            "dr": ("wfr_cvx's ADMM", _dr.OPTIONS)}.get(
                backend, ("Clarabel", _clarabel.OPTIONS))


def _check_options(backend, options: dict) -> None:
    """Check the backend's name and every option's name, type and range (in place:
    values normalised, e.g. numpy integers to int)."""
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(f"`backend` must be one of {sorted(BACKENDS)}, got {backend!r}")
    solver, specs = solver_settings(backend)
    options.update(check_options(options, specs, backend, solver))


def check_grid(grid) -> None:
    if not isinstance(grid, Grid):
        raise TypeError(f"`grid` must be a wfr_cvx.Grid, got {type(grid).__name__}")


def check_common(grid: Grid, lam, metric, backend, scheme, options: dict):
    """Validate the arguments every entry point shares; returns ``(lam, metric)``."""
    lam = check_lam(lam)
    metric = check_metric(metric, grid)
    check_lam_units(lam, metric_reach(metric) * np.sqrt(grid.dims),
                    "the weight axis" if grid.dims == 1 else "the simplex")
    _check_options(backend, options)
    if scheme not in TIME_MEANS:
        raise ValueError(f"`scheme` must be one of {TIME_MEANS}, got {scheme!r}")
    # here, once per call and before any per-face array (constraint plans) is allocated
    check_size(grid, backend)
    return lam, metric


#: Peak memory per *active* cell-step (regime x cell inside ``grid.mask`` x step) on one
#: weight axis, in bytes: ru_maxrss less the interpreter's ~255 MB, measured by the ladder
#: (benchmarks/LADDER.md) at 256, 1,024 and 4,096 weights x 2 regimes x 32 steps: 13.0-13.7
#: kB for a direct Clarabel solve (the KKT factor dominates), hence 15.5 kB.  The cvxpy
#: backend keeps its own copies: x3.  SCS ("scs") factorises the same pattern once, plus
#: its Anderson memory (10 past iterates, touched after ~100 iterations): 17.2-17.8 kB on
#: the demo at 128, 256 and 1,024 weights after 300 iterations.  "dr" factorises nothing
#: (CG on K'EK): 3.5 kB in 1-D and 4.6-5.1 kB on the 32^2 ... 64^2 simplex x 16 and 32
#: steps, hence 6 kB.  Two weight axes: see :func:`fill_growth`.
BYTES_PER_CELL_STEP = {"clarabel": 15_500, "cvxpy": 46_500, "dr": 6_000, "scs": 18_000}

#: The backends whose memory is a sparse factor, which grows faster than the grid on two
#: weight axes (:func:`fill_growth`).
FACTORISING_BACKENDS = frozenset({"clarabel", "cvxpy", "scs"})


def fill_growth(grid: Grid, backend: str) -> float:
    r"""How much more memory per active cell-step a factorising backend needs on ``grid``
    than on one weight axis.

    A 1-D problem is a space x time graph, whose sparse factor holds about
    :math:`N \log N` entries: the memory per cell-step stayed flat from 256 to 4,096
    weights.  Two weight axes make a space x space x time graph, whose fill grows like
    :math:`N^{4/3}` (nested dissection), mostly with the shorter axes.  Fitted to the
    ladder's Clarabel peaks on the simplex (n per side x T steps, per active cell-step):
    21.6 / 26.4 / 29.5 / 29.9 kB at n = 16 / 32 / 48 / 64 x 16 steps, 27.3 / 40.7 kB at
    16 / 32 x 32 steps, i.e. about :math:`(T/16)^{0.62} (n/32)^{0.18}` times 26.4 kB;
    with a 15 % margin, against the 15.5 kB of 1-D, this is
    :math:`2.0\,(T/16)^{0.62}(n/32)^{0.18}` (at least 1), over every measured point.
    SCS is assumed to grow alike (not measured in 2-D); "dr" has no factor (1).
    """
    if grid.dims == 1 or backend not in FACTORISING_BACKENDS:
        return 1.0
    return max(1.0, 2.0 * (grid.n_steps / 16) ** 0.62 * (grid.n_weights / 32) ** 0.18)


def _bytes_per_active_cell_step(grid: Grid, backend: str) -> float:
    return BYTES_PER_CELL_STEP[backend] * fill_growth(grid, backend)


def estimated_bytes(grid: Grid, backend: str) -> int:
    """Peak memory of a solve on ``grid`` with ``backend``, estimated from measurements
    (:data:`BYTES_PER_CELL_STEP`, :func:`fill_growth`); cells outside ``grid.mask`` have no
    unknowns and count nothing."""
    active_cell_steps = int(np.count_nonzero(grid.mask)) * grid.n_steps
    return int(active_cell_steps * _bytes_per_active_cell_step(grid, backend))


def check_size(grid: Grid, backend: str) -> None:
    """Refuse, before any allocation, a problem that would not fit in memory
    (:func:`estimated_bytes` against :func:`wfr_cvx._memory.memory_budget`: the smallest
    of the available RAM, ``ulimit -v`` / ``-d`` and the cgroup's memory limit)."""
    needed = estimated_bytes(grid, backend)
    budget = memory_budget()
    if needed > budget.bytes:
        active = int(np.count_nonzero(grid.mask))
        per = _bytes_per_active_cell_step(grid, backend)
        raise ProblemTooLargeError(
            f"`grid` {grid.n_regimes} regime(s) x {grid.n_cells} weight cells "
            f"({active} active over the regimes) x {grid.n_steps} steps would need about "
            f"{needed / 2**30:.1f} GiB with the {backend} backend ({per / 1e3:.1f} kB per "
            f"active cell-step, measured); {budget.describe()}",
            needed_bytes=needed, available_bytes=budget.bytes)


def _reaction_path(r0: np.ndarray, r1: np.ndarray, grid: Grid, lam: float, metric,
                   backend: str, scheme: str) -> Geodesic:
    """The explicit pure-reaction path ``((1 - s) sqrt(r0) + s sqrt(r1))^2``, no transport.

    Its cost is the Hellinger bound ``4 lam^2 sum (sqrt(r1) - sqrt(r0))^2`` (exact for the
    power-mean scheme), an upper bound of ``d^2``; constant when ``r0 == r1``.
    """
    T = grid.n_steps
    s = grid.times.reshape(-1, *([1] * len(grid.shape)))
    roots = (1.0 - s) * np.sqrt(r0) + s * np.sqrt(r1)
    rho = roots**2
    rho[0], rho[-1] = r0, r1
    if scheme == "power":
        mean = (0.5 * (roots[1:] + roots[:-1])) ** 2
    else:
        mean = 0.5 * (rho[1:] + rho[:-1])
    source = np.diff(rho, axis=0) / grid.dt
    per_step = np.full(T, hellinger2(r0, r1, lam) * grid.dt)
    rho_face = make_face_average(grid)(np.ascontiguousarray(mean),
                                       np.empty((T, *grid.face_shape)))
    return Geodesic(
        grid=grid, lam=lam, metric=metric, rho=rho,
        momentum=np.zeros((T, *grid.face_shape)), source=source,
        rho_mean=mean, rho_face=rho_face,
        transport_per_step=np.zeros(T), reaction_per_step=per_step, status="Solved",
        iterations=0, setup_time=0.0, solve_time=0.0, assembly_time=0.0, backend=backend,
        scheme=scheme,
    )


def geodesic(rho0, rho1, grid: Grid, lam: float, *, metric=None, constraints=(),
             backend: str = "clarabel", scheme: str = "power", **solver_options) -> Geodesic:
    r"""Solve for the WFR geodesic between two allocations on ``grid``.

    .. math::

        d^2 = \inf \int_0^1 \sum_k \int (G(w)\,v^2 + \lambda^2 r^2)\, d\rho_s\, ds,
        \qquad \partial_s \rho + \partial_w(\rho v) = \rho r

    per regime ``k`` with no flux through ``w = 0`` and ``w = 1``; regimes exchange mass
    only through reaction.  The discretisation (staggered grid, one rotated cone per face
    and cell) is described in :mod:`wfr_cvx.problem`.

    Parameters
    ----------
    rho0, rho1 : array_like, shape ``grid.shape``, or pandas Series / DataFrame
        Non-negative cell masses.  Arrays are read by position; pandas input by label
        (:func:`wfr_cvx.grid.labelled_allocation`): a Series indexed by cell centre, a
        DataFrame indexed by cell centre with one column per regime, or a Series with a
        (regime, cell centre) MultiIndex -- rows in any order, every active cell once.
    grid : Grid
    lam : float
        Crossover scale :math:`\lambda > 0`: moves longer than :math:`\pi\lambda` are
        cheaper to "teleport" by reaction than to transport.
    metric : None, float or array, optional
        Risk metric :math:`G` of the transport cost :math:`|v|_G^2`.  1-D: a scalar or
        one positive value per interior face (shape ``(n_weights - 1,)`` or
        ``grid.face_shape``).  2-D: a scalar, a symmetric positive-definite ``2 x 2``
        matrix (e.g. Σ⁻¹) or one per cell (``(n, n, 2, 2)`` or ``(n_regimes, n, n, 2,
        2)``); see :mod:`wfr_cvx.metric`.  ``None`` means the identity.
    constraints : sequence
        Execution and position constraints from :mod:`wfr_cvx.constraints`
        (:class:`~wfr_cvx.constraints.MaxVelocity`, ``TradingWindow``,
        ``MaxReactionRate``, ``TotalMass``); position limits are ``grid.mask``.
    backend : {"clarabel", "cvxpy", "dr", "scs"}
        ``"clarabel"`` assembles the SOCP directly (fast); ``"cvxpy"`` writes it as cvxpy
        expressions (reference).  Both solve with Clarabel's interior point (to 1e-8);
        ``"clarabel"`` solves independent blocks (regimes that no constraint ties) apart,
        side by side in threads (:mod:`wfr_cvx.blocks`).
        ``"dr"`` is wfr_cvx's first-order solver of the same discrete problem (ADMM with a
        closed-form proximal map per cost term, :mod:`wfr_cvx._dr`; options ``eps``,
        ``eps_cost``, ``max_iter``, ``time_limit``, ``sigma``, ``alpha``, ``cg_iters``,
        ``floor``, ``reaction_cap``, ``refit_first``, ``check_every``, ``coarse_start``,
        ``threads``, ``verbose``; 2-D grids start from the solve on a grid half as fine,
        :mod:`wfr_cvx.multilevel`): faster than the interior point on large 2-D grids,
        agreeing to ~1e-5; thousands of iterations on 1-D grids, where the interior point
        is faster; a solve that stops at ``max_iter`` raises SolverError.
        ``"scs"`` solves the same SOCP with SCS (first-order, SCS settings).
    scheme : {"power", "arithmetic"}
        Time mean of adjacent levels in the cost (see :mod:`wfr_cvx.problem`).
    **solver_options
        Clarabel settings (``max_iter``, ``tol_gap_rel``, ``direct_solve_method``,
        ``verbose``, ``time_limit`` ...), SCS settings for ``"scs"``, the options above
        for ``"dr"``; an unknown name raises ValueError.

    Returns
    -------
    Geodesic

    Raises
    ------
    ValueError
        Bad input, naming the argument; a bad solver option, naming it.
    ProblemTooLargeError
        The solve would need more memory than this process may use (free RAM, ``ulimit
        -v`` and the cgroup limit).
    SolverError, InfeasibleError
        The solver failed; ``.status`` carries its status.  An infeasible problem (only
        possible with constraints) names the constraints in its message.

    Warns
    -----
    InaccurateSolutionWarning
        The solver stopped at reduced accuracy ("AlmostSolved").
    UnitsWarning
        ``lam`` more than 1,000 times the (metric) length of the weight axis: a crossover
        scale in dollars (convert with :func:`wfr_cvx.lam_to_weights`).

    Examples
    --------
    >>> import wfr_cvx
    >>> g = wfr_cvx.Grid(32, 8, regimes=2)
    >>> geo = wfr_cvx.geodesic(g.dirac(0.5, 0), g.dirac(0.5, 1), g, lam=0.5)
    >>> round(geo.distance2, 4)      # regime switch: 4 lam^2 (m0 + m1) = 2
    2.0
    """
    check_grid(grid)
    r0 = as_allocation(rho0, grid, "rho0")
    r1 = as_allocation(rho1, grid, "rho1")
    lam, metric = check_common(grid, lam, metric, backend, scheme, solver_options)
    plan = compile_constraints(constraints, grid, r0, r1)

    return solve_path(r0, r1, grid, lam, metric, backend, scheme, solver_options,
                      constraints=plan)


def solve_path(r0: np.ndarray, r1: np.ndarray | None, grid: Grid, lam: float,
               metric: np.ndarray, backend: str, scheme: str, options: dict,
               **assembly) -> Geodesic:
    """Scale, solve, apply the status policy and build the :class:`Geodesic`.

    Inputs are already validated (:func:`check_common`, which also checks the size).
    ``r1 = None`` is a free end (``assembly`` then carries
    ``end_potential`` and ``end_weight``, see :func:`wfr_cvx.problem.assemble`);
    ``assembly["constraints"]`` is a compiled :class:`~wfr_cvx.constraints.Plan`.
    """
    heavier = max(r0.sum(), 0.0 if r1 is None else r1.sum())
    if heavier == 0:
        return _reaction_path(r0, r0, grid, lam, metric, backend, scheme)
    if r1 is not None and hellinger2(r0, r1, lam) <= 4.0 * lam**2 * 1e-12 * heavier:
        # Equal or nearly equal allocations: d^2 lies between 0 and the Hellinger bound
        # 4 lam^2 H^2 <= 4e-12 lam^2 * mass, below the interior point's resolution, and the
        # degenerate solve returned -1e-9 or stopped with NumericalError (found by the
        # property tests).  The explicit reaction path attains the bound.
        return _reaction_path(r0, r1, grid, lam, metric, backend, scheme)
    factor = r0.size / heavier  # mean cell mass 1 in the solver's units
    s0, s1 = r0 * factor, None if r1 is None else r1 * factor
    # Cells lighter than 1e-12 of the heaviest cell (Gaussian tails down to 1e-300) are
    # below the interior point's resolution and only leave degenerate cones: the solver
    # sees them empty.  Dropping mass eps moves d by at most 2 lam sqrt(eps) (the reaction
    # path); on a teleport between two bumps it turned a 6e-6 error at "Solved" into 8e-7
    # and the backends' agreement from 4e-6 into 3e-8.  The returned end levels are the
    # inputs as given.
    cut = 1e-12 * max(s0.max(), 0.0 if s1 is None else s1.max())
    s0 = np.where(s0 > cut, s0, 0.0)
    s1 = None if s1 is None else np.where(s1 > cut, s1, 0.0)
    scale = cost_scale_for(s0, s1, lam, metric, diameter=np.sqrt(grid.dims))
    raw = BACKENDS[backend](s0, s1, grid, lam, metric, scheme=scheme, options=options,
                            cost_scale=scale, **assembly)
    _check_status(raw.status, backend, _conditioning_hint(lam, metric),
                  _limits(assembly.get("constraints"), grid))

    unit = 1.0 / factor
    rho = np.maximum(raw.levels, 0.0) * unit
    rho[0] = r0
    if r1 is not None:
        rho[-1] = r1
    return Geodesic(
        grid=grid, lam=lam, metric=metric, rho=rho,
        momentum=raw.flux * (grid.dx / grid.dt) * unit,
        source=raw.created / grid.dt * unit,
        rho_mean=raw.mean * unit, rho_face=raw.face_mean * unit,
        # epigraph values are >= 0 up to the solver's tolerance: round-off negatives -> 0
        transport_per_step=np.maximum(raw.transport, 0.0) * unit,
        reaction_per_step=np.maximum(raw.reaction, 0.0) * unit,
        status=raw.status, iterations=raw.iterations, setup_time=raw.setup_time,
        solve_time=raw.solve_time, assembly_time=raw.assembly_time, backend=backend,
        scheme=scheme,
    )


def _conditioning_hint(lam: float, metric: np.ndarray) -> str:
    """Why a solve may fail for this ``lam`` (empty when nothing is known)."""
    reach = metric_reach(metric)  # metric length of the weight axis
    if lam > 30.0 * reach:
        return (f"; lam = {lam:g} is {lam / reach:.0f} times the (metric) length of the "
                "weight axis: reaction costs ~lam^2 times more than crossing it, which "
                "leaves the problem badly conditioned; in this limit d^2 -> W2^2 for equal "
                "masses (wfr_cvx.closed_form.w2_squared_1d)")
    if lam < 1e-4 * reach:
        return (f"; lam = {lam:g} is tiny against the weight axis: transport is useless "
                "and d^2 is the Hellinger cost (wfr_cvx.closed_form.hellinger2)")
    return ""


def _limits(plan, grid: Grid) -> str:
    """The constraints and position limits of a solve, for an infeasibility message."""
    parts = []
    if plan is not None and plan.constraints:
        parts.append(f"constraints [{plan.describe()}]")
    if grid.n_inactive:
        parts.append(f"grid.mask ({grid.n_inactive} inactive cell(s))")
    return " and ".join(parts)


def _check_status(status: str, backend: str, hint: str = "", limits: str = "") -> None:
    if status == "Solved":
        return
    if status in _INACCURATE:
        warnings.warn(
            f"the {backend} solve stopped at reduced accuracy (status {status!r}); "
            "figures may be less precise",
            InaccurateSolutionWarning, stacklevel=3,
        )
        return
    if status in _INFEASIBLE:
        under = f" under the {limits}" if limits else ""
        raise InfeasibleError(f"the WFR problem was reported infeasible{under}",
                              status=status, backend=backend)
    if backend in ("dr", "scs") and status in ("MaxIterations", "MaxTime"):
        hint += (f"; the first-order backend {backend!r} stopped before its tolerance: raise "
                 "`max_iter` / `time_limit`, or use backend='clarabel' (interior point)")
    raise SolverError(f"the WFR solve did not converge{hint}", status=status,
                      backend=backend)


def distance(rho0, rho1, grid: Grid, lam: float, **kw) -> float:
    """WFR distance ``d`` (not squared); keywords as for :func:`geodesic`.

    >>> import wfr_cvx
    >>> g = wfr_cvx.Grid(16, 4)
    >>> wfr_cvx.distance(g.zeros(), g.zeros(), g, lam=1.0)
    0.0
    """
    return geodesic(rho0, rho1, grid, lam, **kw).distance
