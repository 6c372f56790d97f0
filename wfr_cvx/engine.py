r"""The solve: one validated :class:`Request`, scaled for the solver, run by a backend.

Every public entry point (:func:`geodesic`, :func:`distance`, :func:`wfr_cvx.rebalance`,
:func:`wfr_cvx.compare`, :func:`wfr_cvx.model`) builds its :class:`Request` with
:func:`make_request`, which validates every argument once.  :func:`solve` scales the data,
hands it to the backend (:data:`wfr_cvx.backends.REGISTRY`), applies the status policy and
returns the :class:`~wfr_cvx.Geodesic` in user units:

* masses are scaled to a mean cell mass of 1 (the solvers' feasibility tolerances are
  absolute below unit data norms); :math:`d^2` is positively homogeneous of degree 1 in
  the masses, so figures are identical from total mass 1e-9 to 1e6;
* the objective is divided by an a-priori bound of :math:`d^2` per unit mass
  (:func:`wfr_cvx.assembly.cost_scale_for`), so it stays O(mass) whatever ``lam``.
  Beyond ``lam`` = :data:`LARGE_LAM` times the domain's metric length, between equal
  regime masses, the transport-only problem is solved as well and the cheaper path
  returned (:func:`_with_transport_only`): the full problem is badly conditioned there
  (reaction ~``lam^2`` times dearer than crossing the axis), and nearly equal ends came
  back up to 250 times too dear.  Measured on a bump moved by 2e-5 .. 0.3 of the axis
  (``Grid(64, 16)``, Clarabel and cvxpy): within 6e-5 of the discrete optimum at ``lam``
  = 30 .. 500 where the solve ends (1.2e-4 below it at a move of 1e-6).  Fixed ends
  with reaction closed everywhere are solved again, sized by the first answer, where it
  lies below 1e-3 of the a-priori scale (:func:`_transport_only`).  Where the full solve
  fails (``lam = 500`` moved by 0.3; moves of 1e-5 at ``lam >= 70``), the transport-only
  path is returned "AlmostSolved" with a warning when it is solved, else the
  :class:`~wfr_cvx.SolverError` is raised; the limit there is :math:`W_2^2` for equal
  masses (:func:`~wfr_cvx.closed_form.w2_squared_1d` on a 1-D grid).

Status policy (cvxpy's three levels): "Solved" returns; "AlmostSolved" returns with an
:class:`~wfr_cvx.InaccurateSolutionWarning`; an infeasibility status raises
:class:`~wfr_cvx.InfeasibleError` naming the constraints (a problem that cannot be
infeasible or unbounded -- no constraints, fixed ends -- raises SolverError instead);
anything else raises :class:`~wfr_cvx.SolverError` carrying the status.  The interior
point's answer (direct or through cvxpy) is also checked against the action of the path
it returns (:func:`path_excess`): more than 0.1 % above its objective warns (ends nearly
equal, where the cost is tiny beside the masses, are where this was seen).  Not a free
end's: :func:`wfr_cvx.rebalance` keeps only its target and solves the path to it again.
Under constraints, every backend's path is checked against them
(:func:`_check_constraints`): caps to :data:`CAP_RTOL` of themselves on every face or cell
and step, closed steps and TotalMass to a floor per backend; a path that breaks them is
a SolverError, "Solved" or not (a first-order backend meets its rows only relative to
the whole problem; an interior point's "AlmostSolved" path beyond a cap means the
constraints may be infeasible).  An "unbounded" report under constraints says they may
be infeasible.

Accuracy of the default ``scheme="centred"`` (the table of every scheme is in
:mod:`wfr_cvx.assembly`; each line is a test):

* pure reaction: exact at every ``n_steps``, the discrete path is
  :math:`((1-s)\sqrt{\rho_0}+s\sqrt{\rho_1})^2` at the levels.  It is returned in closed
  form, with no solve, where it is provably optimal (:func:`_reaction_path_is_enough`: a
  regime switch between disjoint supports, a book rescaled in place, no transport
  allowed) or its :math:`d^2` is below what the solvers resolve, :math:`4\lambda^2
  10^{-12} M` (:func:`~wfr_cvx.closed_form.solver_resolution2`: ends nearly equal; there
  it is an upper bound, not the optimum -- a bump moved by 1e-7 of the axis gives 2.5e-13
  where transport costs 1e-14 -- so figures that small mean only "no measurable
  distance": "AlmostSolved" with a warning, unless the ends differ by rounding alone),
  and in place of a solve's answer that costs more (a teleport at ``lam = 3e-3`` stopped
  "Solved" 3e-5 above it);
* one-cell Diracs against :func:`~wfr_cvx.closed_form.dirac_wfr2` at 100 x 32: +0.38 %
  moved by 0.3 at ``lam = 0.5`` (+8.6 % with ``"power"``), exact when they teleport;
  moves slower than a cell per step cost more (+2.4 % for 0.2, +9 % for 0.1), and so do
  faster ones, less (+1.7 % at 1.5 and +2.5 % at 2 cells per step);
* smooth bumps at 128 x 32: within 0.06 % of the static distance of the same Gaussians
  (sampled on 400 cells; transport, mixed, teleporting, long moves);
* on the simplex grid (two weight axes, :meth:`Grid.simplex`) at 32^2 x 16 a bump
  translated at large ``lam`` costs within 2 % of :math:`m\,\Delta w^\top G\Delta w`
  (identity and off-diagonal ``G``), and mass on one grid line reproduces the 1-D
  engine's :math:`d^2` to 1e-5.  Narrow bumps there can end "AlmostSolved" (Clarabel
  stalls at a relative gap ~3e-8 against its 1e-8 target): a warning, not an error;
* mass moved in an odd-even pattern -- fluxes of alternating sign on neighbouring faces,
  which average to zero in every cell -- is not priced by a transport term charged per
  cell on the averaged momentum (this scheme, and every scheme under an off-diagonal
  metric): a book on every other cell shifted by one cell came out 60 times too low,
  weights rounded to twice the cell width 2 times.  Such a path is measured, regime by
  regime (:func:`odd_even_excess`), and returned "AlmostSolved" with a warning;
  ``scheme="power"`` charges every face.  Smooth motion or growth in the same regime can
  hide it: half a book on every other cell shifted by one cell, beside the other half's
  bump moved by 0.02 / 0.05 / 0.1 on ``Grid(64, 8)``, came out 42 / 10 / 3 % low, and the
  book grown by 20 / 30 % as it shifts (``Grid(32, 8)``) 23 / 12 % low, not flagged.  Books
  held in lots of 2-4 cells moved by part of a lot are point allocations on the grid's
  scale, off in both schemes (-36 % to +5 % measured, not flagged): :mod:`wfr_cvx.ensemble`
  prices them exactly.

``scheme="arithmetic"`` is the plain Papadakis-Peyré-Oudet staggered scheme; it is first
order in ``dt`` wherever mass is born or dies (3.4 % low on a regime switch at 32 steps).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ._memory import memory_budget
from ._validate import check_lam, check_lam_units, is_ensemble
from ._warnings import collected, warn
from .assembly import (
    DEFAULT_SCHEME,
    SCHEMES,
    TIME_MEANS,
    RawSolution,
    assemble,
    cost_scale_for,
    pack_path,
    smallest_metric_weight,
    unpack,
)
from .backends import (
    AUTO,
    DR_ITERATIONS_UNDER_AUTO,
    INACCURATE,
    INFEASIBLE,
    LIMIT,
    POINT_CELLS,
    SOLVED,
    Backend,
    Status,
    auto_fallback,
    cells_holding,
    choose_backend,
    displayable,
    get_backend,
    severity,
)
from .backends._settings import DR_DEFAULTS
from .closed_form import hellinger2, solver_resolution2
from .constraints import (
    Plan,
    check_masses_reachable,
    check_rate_caps_reachable,
    compile_constraints,
    constraint_items,
    plan_violation,
)
from .errors import (
    InaccurateSolutionWarning,
    InfeasibleError,
    ProblemTooLargeError,
    SolverError,
)
from .grid import Grid, _domain_name, as_allocation, regime_masses
from .metric import check_metric, face_weights, is_cell_metric, metric_reach
from .operators import make_face_average
from .result import Geodesic, continuity_source, mean_cell_mass

__all__ = ["Request", "check_size", "check_status", "distance", "geodesic", "make_request",
           "odd_even_excess", "solve", "solve_raw"]


@dataclass(frozen=True)
class Request:
    """A validated solve (built by :func:`make_request`).

    ``rho1`` None is a free end (a proximal step: ``end_potential`` and ``end_weight``
    then set the objective, see :func:`wfr_cvx.assembly.assemble`).  ``metric`` is the
    checked form of :func:`wfr_cvx.metric.check_metric`, ``plan`` the compiled
    constraints (with the mechanisms a comparison switches off), ``options`` the
    backend's checked settings.  :func:`solve` rescales ``rho0``, ``rho1`` and sets
    ``cost_scale`` (and, for a free end's small step, ``balance``: the factor on the
    created mass and the flux in the cost cones, :func:`_refined_small_step`) before the
    backend sees the request.  ``fallback``: the backend run
    instead when ``backend`` ("dr", chosen by ``"auto"`` within an iteration budget) stops
    at its iteration limit (:func:`wfr_cvx.backends.auto_fallback`).
    """

    grid: Grid
    rho0: np.ndarray
    rho1: np.ndarray | None
    lam: float
    metric: np.ndarray
    backend: Backend
    scheme: str
    options: dict
    plan: Plan
    end_potential: np.ndarray | None = None
    end_weight: float = 1.0
    cost_scale: float = 1.0
    balance: float = 1.0
    fallback: Backend | None = None

    def with_ends(self, rho0, rho1, *, transport: bool = True, reaction: bool = True
                  ) -> Request:
        """The same solve between other (validated) ends, with transport and/or reaction
        switched off everywhere when asked."""
        return dataclasses.replace(self, rho0=rho0, rho1=rho1, plan=self.plan.switched(
            transport=transport, reaction=reaction))


def check_grid(grid) -> None:
    if not isinstance(grid, Grid):
        raise TypeError(f"`grid` must be a wfr_cvx.Grid, got {type(grid).__name__}")


def make_request(rho0, rho1, grid: Grid, lam, *, metric=None, constraints=(),
                 backend=AUTO, scheme: str = DEFAULT_SCHEME, options: dict | None = None,
                 end_potential=None, end_weight: float = 1.0) -> Request:
    """Validate every argument of a solve, once, into a :class:`Request`.

    An ``end_potential`` (already checked by the caller) makes the end free: ``rho1`` must
    then be None.  Raises TypeError/ValueError naming the argument,
    :class:`~wfr_cvx.ProblemTooLargeError` when the solve would not fit in memory, and
    warns :class:`~wfr_cvx.UnitsWarning` for a ``lam`` that looks like dollars.
    """
    check_grid(grid)
    r0 = as_allocation(rho0, grid, "rho0")
    if end_potential is None:
        r1 = as_allocation(rho1, grid, "rho1")
    elif rho1 is None:
        r1 = None  # a free end: the solve finds it
    else:
        raise ValueError("`rho1` must be None when an `end_potential` makes the end free")
    lam = check_lam(lam)
    metric = check_metric(metric, grid)
    reach = metric_reach(metric)
    # sqrt(dims): the diameter of the weight axis, the square and the simplex alike
    check_lam_units(lam, reach * np.sqrt(grid.dims), _domain_name(grid), reach)
    constraints = constraint_items(constraints)
    fallback = None
    if isinstance(backend, str) and backend == AUTO:
        budget = memory_budget().bytes
        record = choose_backend(grid, constrained=bool(constraints), free_end=r1 is None,
                                allocations=(r0, r1),
                                options=options, budget_bytes=budget)
        options = displayable(record, options)
        fallback = auto_fallback(record, grid, options, budget)
        if fallback is not None:
            options = {**(options or {}), "max_iter": DR_ITERATIONS_UNDER_AUTO}
    else:
        record = get_backend(backend)
    options = record.check_options(options or {})
    if scheme not in TIME_MEANS:
        raise ValueError(f"`scheme` must be one of {TIME_MEANS}, got {scheme!r}")
    # here, once per call and before any per-face array (constraint plans) is allocated
    check_size(grid, record)
    plan = compile_constraints(constraints, grid, r0, r1)
    check_rate_caps_reachable(plan, grid, r0, r1, record.name)
    if r1 is not None:
        check_masses_reachable(plan, grid, r0, r1, record.name)
    return Request(grid=grid, rho0=r0, rho1=r1, lam=lam, metric=metric, backend=record,
                   scheme=scheme, options=options, plan=plan, end_potential=end_potential,
                   end_weight=float(end_weight), fallback=fallback)


def check_size(grid: Grid, backend) -> None:
    """Refuse, before any allocation, a problem that would not fit in memory (the
    backend's :meth:`~wfr_cvx.backends.Backend.estimated_bytes` against
    :func:`wfr_cvx._memory.memory_budget`: the smallest of the available RAM, ``ulimit
    -v`` / ``-d`` and the cgroup's memory limit)."""
    backend = get_backend(backend)
    needed = backend.estimated_bytes(grid)
    budget = memory_budget()
    if needed > budget.bytes:
        active = int(np.count_nonzero(grid.mask))
        per = backend.bytes_per_active_cell_step(grid)
        raise ProblemTooLargeError(
            f"`grid` {grid.n_regimes} regime(s) x {grid.n_cells} weight cells "
            f"({active} active over the regimes) x {grid.n_steps} steps would need about "
            f"{needed / 2**30:.1f} GiB with the {backend.name} backend ({per / 1e3:.1f} kB "
            f"per active cell-step, measured); {budget.describe()}",
            needed_bytes=needed, available_bytes=budget.bytes)


def _reaction_path(request: Request, r0: np.ndarray, r1: np.ndarray) -> Geodesic | None:
    """The explicit pure-reaction path ``((1 - tau) sqrt(r0) + tau sqrt(r1))^2``, no
    transport, ``tau`` rising evenly over the steps whose reaction the constraints allow
    (all, without constraints); None when they allow none and ``r0`` and ``r1`` differ by
    more than rounding (1e-12 relative).  Under :class:`~wfr_cvx.constraints.TotalMass`
    the square roots follow the great circle instead (the spherical Hellinger path),
    ``sqrt(rho) = (sin((1 - tau) T) sqrt(r0) + sin(tau T) sqrt(r1)) / sin T`` with
    ``cos T = sum sqrt(r0 r1) / M``, which keeps the mass ``M`` on every level.

    Its cost is the Hellinger bound ``4 lam^2 sum (sqrt(r1) - sqrt(r0))^2`` times ``T / n``
    for ``n`` allowed steps (on the great circle ``16 lam^2 M T n sin^2(T / 2n)``): the
    discrete action exactly for the schemes whose reaction term takes the power mean,
    where a step costs ``4 lam^2 |d sqrt(rho)|^2 / dt``; an upper bound of ``d^2``; exactly
    constant where ``r0 == r1``.
    """
    grid, lam, scheme = request.grid, request.lam, request.scheme
    T = grid.n_steps
    allowed = np.asarray(request.plan.reaction, dtype=bool)
    n = int(allowed.sum())
    if n == 0:
        if not np.allclose(r0, r1, rtol=1e-12, atol=0.0):
            return None
        allowed, n = np.ones(T, dtype=bool), T  # nothing moves but rounding
    tau = np.concatenate([[0.0], np.cumsum(allowed)]) / n
    s = tau.reshape(-1, *([1] * len(grid.shape)))
    a, b = np.sqrt(r0), np.sqrt(r1)
    mass = float(r0.sum())
    angle = 0.0
    if request.plan.total_mass and mass > 0:
        # from the chord of the unit vectors: arccos of a cosine near 1 loses the digits
        chord = np.sqrt(np.sum((a / np.sqrt(mass) - b / np.sqrt(r1.sum())) ** 2))
        angle = 2.0 * float(np.arcsin(min(0.5 * chord, 1.0)))
    if angle > 1e-6:  # the great circle (below, the chord: the same to 1e-12)
        roots = (np.sin((1.0 - s) * angle) * a
                 + np.sin(s * angle) * b * np.sqrt(mass / r1.sum())) / np.sin(angle)
        step_cost = 16.0 * lam**2 * mass * np.sin(angle / (2 * n)) ** 2 / grid.dt
        rho = roots**2  # every cell moves on the circle, an unchanged one too
    else:
        roots = (1.0 - s) * a + s * b
        step_cost = hellinger2(r0, r1, lam) * grid.dt * (T / n) ** 2
        rho = np.where(r0 == r1, r0, roots**2)
    # the ends exactly on the levels before the first open step and after the last: no
    # rounding source on a closed step
    rho[tau == 0.0], rho[tau == 1.0] = r0, r1
    mean, rho_face = level_means(rho, grid, scheme)
    source = np.diff(rho, axis=0) / grid.dt
    per_step = np.where(allowed, step_cost, 0.0)
    return Geodesic(
        grid=grid, lam=lam, metric=request.metric, rho=rho,
        momentum=np.zeros((T, *grid.face_shape)), source=source,
        rho_mean=mean, rho_face=rho_face,
        transport_per_step=np.zeros(T), reaction_per_step=per_step, status=Status.SOLVED,
        iterations=0, setup_time=0.0, solve_time=0.0, assembly_time=0.0,
        backend=request.backend.name, scheme=scheme, constraints=request.plan.constraints,
    )


def level_means(rho: np.ndarray, grid: Grid, scheme: str) -> tuple[np.ndarray, np.ndarray]:
    """The time means of adjacent levels of ``rho`` (shape ``(T + 1, *grid.shape)``) that
    ``scheme`` divides by: the reaction term's on cells, shape ``(T, *grid.shape)``, and
    the face averages of the transport term's, ``(T, *grid.face_shape)``.

    Computed from the levels, not read from the solver: a mean enters the problem only
    through a cone bounding it from above, which binds where its term costs something.
    Where a cell has no reaction the solver may leave its power mean anywhere below the
    levels' (measured: 39 % low next to a moving bump's peak).
    """
    means = time_means(rho)
    transport_mean, reaction_mean, _ = SCHEMES[scheme]
    face = make_face_average(grid)(np.ascontiguousarray(means[transport_mean]),
                                   np.empty((rho.shape[0] - 1, *grid.face_shape)))
    return means[reaction_mean], face


def time_means(rho: np.ndarray) -> dict[str, np.ndarray]:
    """The time means of adjacent levels of ``rho`` (``(T + 1, ...)`` -> ``(T, ...)``) by
    name: ``"power"`` :math:`M_{1/2}` (negative round-off levels count 0) and
    ``"arithmetic"`` :math:`M_1` (:mod:`wfr_cvx.assembly`)."""
    roots = np.sqrt(np.maximum(rho, 0.0))
    return {"power": (0.5 * (roots[1:] + roots[:-1])) ** 2,
            "arithmetic": 0.5 * (rho[1:] + rho[:-1])}


def _reaction_path_is_enough(request: Request, heavier: float) -> bool:
    """Whether the pure-reaction path (:func:`_reaction_path`) answers ``request``:

    * the ends are nearly equal: d^2 lies between 0 and the Hellinger bound
      4 lam^2 H^2 <= 4e-12 lam^2 * mass, below the interior point's resolution (the
      degenerate solve returned -1e-9 or stopped with NumericalError);
    * no transport anywhere, on a scheme whose reaction term takes the power mean: each
      cell's cost per step is then 4 lam^2 (d sqrt(rho))^2 / dt, and the path spread
      evenly over the allowed steps is the optimum;
    * the Hellinger bound meets the total-mass bound sum_k 4 lam^2 (sqrt(M1_k) -
      sqrt(M0_k))^2 (to 1e-9; each regime's profile kept, only its mass changed), below
      which no path of the power-mean schemes costs (by Cauchy-Schwarz over the cells,
      then over the steps whose reaction is open: bound and path both scale by T / n;
      under TotalMass both lie on the sphere of the regimes' root masses, whose great
      circle the path follows): a book scaled as a whole, or mass moved between regimes,
      where the solve stalled ("InsufficientProgress" for a 0.1 % rescale, and under a
      window or TotalMass "Solved" 1e-4 below the optimum or SolverError).

    Whether the path keeps the constraints is checked after (:func:`_within_plan`)."""
    r0, r1, lam = request.rho0, request.rho1, request.lam
    return (hellinger2(r0, r1, lam) <= solver_resolution2(lam, heavier)
            or _reaction_path_is_optimal(request))


def _reaction_path_is_optimal(request: Request) -> bool:
    """The second and third cases of :func:`_reaction_path_is_enough`: no transport
    anywhere, or the Hellinger bound meets the total-mass bound (power-mean schemes)."""
    if SCHEMES[request.scheme][1] != "power":
        return False
    if not request.plan.faces.any():
        return True
    r0, r1, lam = request.rho0, request.rho1, request.lam
    total = 4.0 * lam**2 * float(np.sum(
        (np.sqrt(regime_masses(r1)) - np.sqrt(regime_masses(r0))) ** 2))
    hellinger = hellinger2(r0, r1, lam)
    # both are sums of squared differences of square roots, each root rounded by ~eps of
    # itself: a sum h of squares of differences d_i carries at most 2 eps sum |d_i|
    # sqrt(r_i) + eps^2 M <= 2 eps sqrt(h M) + eps^2 M (Cauchy-Schwarz), which is all that
    # separates them for a book rescaled by 1 + 1e-10 (1e-5 of them apart).  A fixed
    # allowance of 1e-14 of the mass took a bump moved by 1e-8 of the axis (H^2 ~ 3e-14
    # of it) for pure reaction, "Solved" at 25 times its transport cost.
    mass = max(float(r0.sum()), float(r1.sum()))
    eps = 1e-15
    largest = max(hellinger, total) / (4.0 * lam**2)
    rounding = 4.0 * lam**2 * (4.0 * eps * np.sqrt(largest * mass) + 2.0 * eps**2 * mass)
    return hellinger <= total * (1.0 + 1e-9) + rounding


#: Ends whose Hellinger distance squared is at most this share of
#: :func:`~wfr_cvx.closed_form.solver_resolution2` differ by rounding: their
#: pure-reaction figure is returned as "Solved" (:func:`_unresolved_ends`).
ROUNDING_SHARE = 1e-12


def _unresolved_ends(request: Request, heavier: float) -> bool:
    """Whether the pure-reaction path answers ``request`` only because its ends are closer
    than the solvers resolve (:func:`_reaction_path_is_enough`'s first case), and not by
    rounding alone: its d^2 is then an upper bound that can lie far above the optimum
    where transport is cheap, and it is returned "AlmostSolved" with a warning."""
    r0, r1, lam = request.rho0, request.rho1, request.lam
    resolution = solver_resolution2(lam, heavier)
    if not ROUNDING_SHARE * resolution < hellinger2(r0, r1, lam) <= resolution:
        return False
    return not _reaction_path_is_optimal(request)


def _stays_put(request: Request) -> bool:
    """Whether staying put is a free end's exact answer, known without a solve: all of
    ``rho0``'s mass lies where the potential is least over the active cells (a constant
    potential included: no end keeping the mass scores a lower potential term, and
    staying put costs nothing), or the constraints let nothing move (no face open and no
    reaction on any step).  A solve returns ``rho0`` off by its tolerance (2e-12 of the
    mass for ``V = 0``), and its path is priced far above an objective of ~0."""
    plan, r0 = request.plan, request.rho0
    V = np.asarray(request.end_potential, dtype=float)
    if not (plan.faces.any() or plan.reaction.any()):
        return True
    return bool(np.all(V[r0 > 0] == V[plan.cells].min()))


def _scaled_free_end(request: Request) -> Request:
    """A free end's objective ``end_weight d^2 + sum V rho1``, sized for the solver.

    The mass is kept, so ``V`` is shifted to its minimum 0 over the active cells (the
    objective moves by a constant).  The optimum then lies between 0 and ``sum V rho0``
    (staying put).  The objective's size per unit mass is the larger of that value and the
    action's a-priori size times ``end_weight``; divided by it when it is far from 1
    (outside [1e-2, 1e2], as :func:`~wfr_cvx.assembly.cost_scale_for`), the objective is
    O(mass) however small ``V`` and ``1 / tau`` are together.  Measured: ``V`` times 1e-4
    and ``tau`` times 1e4 (the same minimiser) left an objective of ~3e-6, at Clarabel's
    absolute tolerance, and a target 26 % of the mass away at "Solved"; dividing by the
    potential's size alone failed where it is tiny beside ``1 / tau`` (``V`` ~ 1e-7 at
    ``tau = 1``: the action's weights became 3e6, "InsufficientProgress")."""
    active = request.plan.cells
    V = np.asarray(request.end_potential, dtype=float)
    shifted = np.where(active, V - V[active].min(), 0.0)
    r0 = request.rho0
    per_mass = float(np.sum(shifted * r0)) / float(r0.sum())
    size = max(per_mass, request.end_weight * request.cost_scale)
    out = dataclasses.replace(request, end_potential=shifted)
    if not 1e-2 <= size <= 1e2:
        out = dataclasses.replace(out, cost_scale=size)
    return out


#: A free end whose solved step moves less than this share of the mass (L1) is solved
#: again centred and balanced on it (:func:`_refined_small_step`): the first answer's
#: move between the regimes was 2.3e-3 off at "Solved" at a move of 3.9e-3, 25 % at
#: 1.3e-4 and 41 % at 1.3e-5 (a potential constant per regime, whose step is known in
#: closed form).
SMALL_STEP = 0.1
#: The interior point's free ends are solved again up to this larger move: the first
#: answer's target was still 3e-6 .. 1.6e-3 (L1, of a unit mass) from a solve at 1e-10
#: tolerances at moves of 0.10 .. 0.48, the second's 1e-7 .. 4e-6 (benchmarks/TUNING.md).
INTERIOR_SMALL_STEP = 0.5
#: Fixed ends closer than this (relative Hellinger distance) are solved with balanced
#: cost cones (:func:`_near_ends_balanced`).
NEAR_ENDS_APART = 0.5
#: The largest balance of the cost cones: a move of 1e-6 of the levels is at the limit
#: of what double precision resolves in them anyway.
MAX_BALANCE = 1e6


def _near_ends_balanced(request: Request) -> Request:
    r"""``request`` with its cost cones balanced (``Request.balance``) when its ends are
    :math:`\epsilon = 2H/\sqrt{M}` apart with :math:`\epsilon <`
    :data:`NEAR_ENDS_APART` (:math:`H` their Hellinger distance, :math:`M` the
    heavier end's mass): by
    :math:`1/\epsilon` (at most :data:`MAX_BALANCE`), on the interior point backends
    (:data:`NEAR_ENDS_BALANCED`).

    Between nearly equal ends every cone :math:`x^2 \le y t` holds a flux or created mass
    :math:`x \sim \epsilon y` and a cost :math:`t \sim \epsilon^2 y`, which the interior
    point resolves only to its absolute tolerance.  Measured with Clarabel on two regimes'
    bumps on ``Grid(64, 16)`` -- a bump moved by :math:`\delta`, widened by a factor
    :math:`1 + \delta`, a book mixed with a share :math:`\delta` of another, or moving that
    share between regimes, :math:`\delta` = 1e-2 .. 1e-5 -- unbalanced: "Solved" with the
    path 3 % to 19x dearer than its objective (a warning) from :math:`\delta` = 1e-3, and
    "InsufficientProgress" (an error) or "AlmostSolved" 2.5 % off below; balanced: every
    case "Solved", :math:`d^2/\delta^2` the same to 1e-5 from 1e-2 to 1e-5.  On
    ``Grid.simplex(16, 8)``, errors from 1e-4 before; now "Solved" to 1e-4 (a bump moved by
    1e-4: :math:`d^2/\delta^2` = 0.830912, as ``dr``'s) and "AlmostSolved" at 1e-5.
    Unbalanced, ends 0.1 .. 0.36 apart were 1e-4 .. 8.4e-4 off at "Solved" (two regimes'
    bumps moved by 0.01 .. 0.02 at ``lam = 2``: +3.5e-4, -2.0e-4), balanced within 5e-5;
    a balance beyond :math:`1/\epsilon` went wrong silently (+43 % at 300 where
    :math:`1/\epsilon` was 3).

    :math:`\epsilon` is at most the share of the mass that changes,
    :math:`\|\rho_1 - \rho_0\|_1 / M`, and equals it for a book rescaled as a whole; where
    the change is mass born in nearly empty cells (:math:`d^2 \propto \delta`, not
    :math:`\delta^2`) it is far smaller, as those cones' :math:`x/y` are not small (balanced
    by the share of the mass instead, they stalled).  The splitting backends
    keep their scaling: ``dr`` balanced needed 47x the iterations, or ran out of them, on
    a book mixed with 1e-3 .. 1e-5 of another."""
    if request.rho1 is None or request.backend.name not in NEAR_ENDS_BALANCED:
        return request
    r0, r1 = request.rho0, request.rho1
    apart = float(np.sqrt(hellinger2(r0, r1, 1.0) / max(r0.sum(), r1.sum())))  # 2H/sqrt(M)
    if not 0.0 < apart < NEAR_ENDS_APART:
        return request
    return dataclasses.replace(request, balance=min(1.0 / apart, MAX_BALANCE))


#: The backends whose cost cones :func:`_near_ends_balanced` balances between nearly
#: equal ends.
NEAR_ENDS_BALANCED = ("clarabel", "cvxpy")


def _refined_small_step(request: Request, raw: RawSolution) -> RawSolution:
    r"""A free end's step solved again when ``raw`` moved less than :data:`SMALL_STEP` of
    the mass (:data:`INTERIOR_SMALL_STEP` on the interior point backends, whose first
    target is still 3e-6 .. 1.6e-3 of the mass off at moves of 0.1 .. 0.48; ``request`` as
    :func:`_scaled_free_end` sized it).  Only the target is kept from a free end
    (:func:`wfr_cvx.rebalance` solves the path to it again between fixed ends).

    A small step leaves the interior point levels of O(1) whose differences are 1e-4 of
    them, beside a potential term that dwarfs the action: measured on three regimes with
    ``V`` constant per regime (the answer in closed form), ``tau = 1e-3`` returned a move
    25 % off at "Solved" and ``tau = 1e-4`` 40-56 % off; a step at ``tau = 1e-6`` scored
    above staying put.  The first solve tells the step's size,
    which no a-priori estimate at ``rho0`` can (a gain reached by creating mass where
    ``rho0`` has none is invisible to the gradient flow there).  The second solve shifts
    ``V`` by its mean :math:`c` under that end (the mass is kept: the objective at the
    optimum is then about the action, not the potential), divides the objective by that
    size (the action found, or half the potential's gain, whichever is larger; not at
    all within [1e-2, 1e2], as :func:`~wfr_cvx.assembly.cost_scale_for`), and balances
    the cost cones by the inverse move (``Request.balance``: the created mass and the
    flux in each cone multiplied by it, their epigraph's cost divided by its square).

    Of the two answers the one whose path, priced by the cones at its own levels and
    fluxes, scores lower is kept (near a creation threshold the second scored worse); a
    first answer kept warns below a move of :data:`SMALL_STEP` (above it, such a first
    answer scored within 2e-8 of the gain of a solve at 1e-10 tolerances: ``V`` x 1e3 at
    a move of 0.40), as does a small step of a splitting backend other than "dr" (SCS),
    which is not solved again: SCS's second solve ran 38,000-100,000 iterations and came
    back no better.  Iterations and times count both solves.
    """
    if raw.status not in SOLVED | INACCURATE:
        return raw
    r0 = request.rho0
    mass = float(r0.sum())
    end = np.maximum(raw.levels[-1], 0.0)
    move = float(np.abs(end - r0).sum()) / mass
    interior = not request.backend.first_order
    if not (0.0 < move < (INTERIOR_SMALL_STEP if interior else SMALL_STEP)
            and end.sum() > 0.0):
        return raw
    if request.backend.name not in REFINED:
        _warn_unrefined(move, f"backend {request.backend.name!r} does not solve it again; "
                              "backend='clarabel' does")
        return raw
    active = request.plan.cells
    V = np.where(active, np.asarray(request.end_potential, dtype=float), 0.0)
    # the objective's size at the optimum, end_weight d^2 per unit mass: the action found,
    # or (its epigraphs can sit below 0 at this resolution) half the potential's gain,
    # which it equals for a small step (the objective is then quadratic in the move)
    action = float(raw.transport.sum() + raw.reaction.sum()) / mass
    gain = float(np.sum(V * (r0 - end))) / mass
    size = max(request.end_weight * action, 0.5 * gain)
    if size <= 0.0:
        return raw
    centre = float(np.sum(V * end)) / float(end.sum())
    refined = dataclasses.replace(
        request, end_potential=np.where(active, V - centre, 0.0),
        cost_scale=1.0 if 1e-2 <= size <= 1e2 else size,
        balance=min(1.0 / move, MAX_BALANCE))
    again = solve_raw(refined)
    spent = {"iterations": raw.iterations + again.iterations,
             "setup_time": raw.setup_time + again.setup_time,
             "solve_time": raw.solve_time + again.solve_time,
             "assembly_time": raw.assembly_time + again.assembly_time}
    if again.status in SOLVED | INACCURATE:
        assembly = assemble(refined)
        first, second = (_priced(assembly.problem, pack_path(assembly, r.levels, r.flux,
                                                                refined))[0]
                         for r in (raw, again))
        if second <= first:
            return dataclasses.replace(again, **spent)
        if move >= SMALL_STEP:
            # from a move of 0.1 on, a first answer that prices lower is as good (V x 1e3
            # at a move of 0.40: within 2e-8 of the gain of a solve at 1e-10 tolerances)
            return dataclasses.replace(raw, **spent)
        why = (f"a second solve, centred on it, priced worse ({second:.6g} against "
               f"{first:.6g}, status {str(again.status)!r})")
    else:
        why = f"a second solve, centred on it, ended {str(again.status)!r}"
    _warn_unrefined(move, why)
    return dataclasses.replace(raw, **spent)


def _warn_unrefined(move: float, why: str) -> None:
    off = ("up to tens of % of the move (measured: 0.2-56 % between regimes)"
           if move < SMALL_STEP else
           "up to a few tenths of a % of the move (measured: 2e-5 .. 4e-3 at moves of "
           "0.1 .. 0.48)")
    warn(
        f"a small step (it moves {move:.1e} of the mass) is resolved only to the solver's "
        f"tolerance against the potential, and was not refined: {why}; its target may be "
        f"off by {off}", InaccurateSolutionWarning, stacklevel=None)


#: The backends whose small steps :func:`_refined_small_step` solves again.
REFINED = ("clarabel", "cvxpy", "dr")


def _admissible_reaction_path(request: Request) -> Geodesic | None:
    """The pure-reaction path between the request's fixed ends when it keeps the
    constraints, else None."""
    path = _reaction_path(request, request.rho0, request.rho1)
    return path if path is not None and _within_plan(path, request.plan) else None


def _within_plan(path: Geodesic, plan) -> bool:
    """Whether a pure-reaction ``path`` keeps the constraints of ``plan``
    (:func:`~wfr_cvx.constraints.plan_violation`) to rounding, 1e-12 of its largest
    level: no mass created where reaction is off, rates within the caps, the total mass
    kept when asked (to the tolerance TotalMass allows between the ends)."""
    return plan_violation(plan, path, 1e-12 * path.rho.max(initial=0.0)) is None


def geodesic(rho0, rho1, grid: Grid = None, lam: float = None, *, metric=None, constraints=(),
             backend: str = AUTO, scheme: str = DEFAULT_SCHEME, **solver_options) -> Geodesic:
    r"""Solve for the WFR geodesic between two allocations on ``grid``.

    .. math::

        d^2 = \inf \int_0^1 \sum_k \int (G(w)\,v^2 + \lambda^2 r^2)\, d\rho_s\, ds,
        \qquad \partial_s \rho + \partial_w(\rho v) = \rho r

    per regime ``k`` with no flux through ``w = 0`` and ``w = 1``; regimes exchange mass
    only through reaction.  The discretisation (staggered grid, one rotated cone per face
    and cell) is described in :mod:`wfr_cvx.assembly`.

    Parameters
    ----------
    rho0, rho1 : array_like, shape ``grid.shape``, or pandas Series / DataFrame
        Non-negative cell masses.  Arrays are read by position; pandas input by label
        (:func:`wfr_cvx.grid.labelled_allocation`): a Series indexed by cell centre, a
        DataFrame indexed by cell centre with one column per regime, or a Series with a
        (regime, cell centre) MultiIndex -- rows in any order, every active cell once.  On
        a simplex grid a cell centre is a (w_A, w_B) pair of index levels, read by name
        when named (``"IBM"`` or ``"w_IBM"`` after ``grid.assets``, in either order; any
        other name is refused), in the order of the axes when unnamed.
    grid : Grid
    lam : float
        Crossover scale :math:`\lambda > 0`: moves longer than :math:`\pi\lambda` are
        cheaper to "teleport" by reaction than to transport.
    metric : None, float, array, or pandas Series / DataFrame, optional
        Risk metric :math:`G` of the transport cost :math:`|v|_G^2`.  1-D: a scalar or
        one positive value per interior face (shape ``(n_weights - 1,)`` or
        ``grid.face_shape``).  2-D: a scalar, a symmetric positive-definite ``2 x 2``
        matrix (e.g. Σ⁻¹) or one per cell (``(n, n, 2, 2)`` or ``(n_regimes, n, n, 2,
        2)``); see :mod:`wfr_cvx.metric`.  ``None`` means the identity.  Arrays are read
        by position; pandas input by label, never by position: 2-D, a ``2 x 2``
        DataFrame whose index and columns both name the two weight axes (``"IBM"`` or
        ``"w_IBM"`` after ``grid.assets``, any order); 1-D, a Series indexed by face
        position (``grid.faces``), a DataFrame with one column per regime or a (regime,
        face) MultiIndex.  Labels that match no axis, face or regime are a ValueError
        naming ``metric`` and the label.
    constraints : sequence
        Execution and position constraints from :mod:`wfr_cvx.constraints`
        (:class:`~wfr_cvx.constraints.MaxVelocity`, ``TradingWindow``,
        ``MaxReactionRate``, ``TotalMass``); position limits are ``grid.mask``.
    backend : {"auto", "clarabel", "cvxpy", "dr", "scs"}
        ``"auto"`` (default) runs the interior point, or ``"dr"`` on two-axis grids that
        halve evenly into at least 16 cells per side and 4 steps, where it is faster
        (:mod:`wfr_cvx.backends._auto`: the rule, its
        measurements and the accuracy it promises); the choice is in the result's
        ``backend``.  Otherwise a name of :data:`wfr_cvx.backends.REGISTRY`:
        ``"clarabel"`` assembles the SOCP directly and solves it with Clarabel's interior
        point (to 1e-8), independent blocks (regimes that no constraint ties) side by side
        in threads; ``"cvxpy"`` writes the same problem as cvxpy expressions (the
        reference); ``"dr"`` is wfr_cvx's first-order ADMM on the same discrete problem
        (:mod:`wfr_cvx.backends.dr`): faster than the interior point on large 2-D grids,
        agreeing to ~1e-5, slower on 1-D grids; ``"scs"`` solves the same SOCP with SCS.
    scheme : {"centred", "power", "arithmetic"}
        The discretisation of the cost (:data:`wfr_cvx.assembly.SCHEMES`; accuracy tables
        in :mod:`wfr_cvx.assembly`).  ``"centred"`` (default) charges transport per cell
        on the momentum averaged to the centre and reaction on the power mean of
        adjacent levels; ``"power"`` and ``"arithmetic"`` charge transport per face.
    **solver_options
        The backend's settings (``REGISTRY[backend].options``: Clarabel's for "clarabel"
        and "cvxpy", SCS's for "scs", those of :mod:`wfr_cvx.backends.dr` for "dr"),
        checked by name, type and range before any work; with ``"auto"`` they pick the
        backend whose settings they are.

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
        scale in dollars (convert with :func:`wfr_cvx.lam_to_weights`), or a ``metric``
        on a smaller scale than ``lam``.

    Examples
    --------
    >>> import wfr_cvx
    >>> g = wfr_cvx.Grid(32, 8, regimes=2)
    >>> geo = wfr_cvx.geodesic(g.dirac(0.5, 0), g.dirac(0.5, 1), g, lam=0.5)
    >>> round(geo.distance2, 4)      # regime switch: 4 lam^2 (m0 + m1) = 2
    2.0
    """
    _refuse_ensembles(rho0, rho1, "geodesic")
    return solve(make_request(rho0, rho1, grid, lam, metric=metric, constraints=constraints,
                              backend=backend, scheme=scheme, options=solver_options))


def distance(rho0, rho1, grid: Grid = None, lam: float = None, **kw) -> float:
    """WFR distance ``d`` (not squared); keywords as for :func:`geodesic`.

    >>> import wfr_cvx
    >>> g = wfr_cvx.Grid(16, 4)
    >>> wfr_cvx.distance(g.zeros(), g.zeros(), g, lam=1.0)
    0.0
    """
    _refuse_ensembles(rho0, rho1, "distance")
    return geodesic(rho0, rho1, grid, lam, **kw).distance


def _refuse_ensembles(rho0, rho1, function: str) -> None:
    """Ensembles have no grid: point to their own engine instead of a missing argument."""
    if is_ensemble(rho0) or is_ensemble(rho1):
        raise TypeError(f"wfr_cvx.{function}() solves allocations on a grid; for two "
                        f"Ensembles call wfr_cvx.ensemble.{function}(e0, e1, lam)")


def solve(request: Request) -> Geodesic:
    """Scale, solve with the request's backend, apply the status policy and build the
    :class:`~wfr_cvx.Geodesic` in user units (module docstring); between fixed ends with
    reaction closed everywhere, sized by its own answer (:func:`_transport_only`); at a
    large ``lam``, the cheaper of that and the transport-only path
    (:func:`_with_transport_only`)."""
    try:
        if _transport_alone(request):
            path = _transport_only(request)
        elif not _transport_only_applies(request):
            path = _solve_once(request)
        else:
            path = _with_transport_only(request)
    except InfeasibleError:
        raise
    except SolverError as failure:
        path = _teleport_answer(request, failure)
        if path is None:
            raise
        warn(f"{failure} -- lam = {request.lam:g} is below 1/{DEEP_TELEPORT:g} of one "
             "cell's metric length: returned the pure-reaction path, whose d^2 (the "
             "Hellinger cost) is the static form's for the cells' masses as points and "
             "within ~3 (lam/dx)^2 of the grid's optimum (measured)",
             InaccurateSolutionWarning, stacklevel=None)
        return path
    if request.rho1 is not None:
        _warn_if_odd_even(path, request)
    return path


#: Above this share of a regime's cost (its transport and reaction, :math:`d^2` with one
#: regime) the motion a path hides from a cell-charged transport term in that regime
#: (:func:`odd_even_excess`) makes the result "AlmostSolved" with a warning.  Measured,
#: as a share of d^2 (and the centred d^2 against ``scheme="power"``'s, which charges
#: every face, or against the mesh-free :mod:`wfr_cvx.ensemble`): books on every other
#: cell shifted by one cell 117 (-98 %, 1-D) and 19-25 (simplex, with and without an
#: off-diagonal metric); weights rounded to twice the cell width against the unrounded
#: ones 6.5 (-49 %), on the simplex 3.8 (-46 %); rounded to four and to two cells' width
#: 3.5 (-26 %).  Below it, where the centred d^2 is accurate: Diracs spreading to a bump
#: on the simplex 0.06-1.06 (-0.9 to +0.3 % against the mesh-free engine, where
#: ``"power"`` is 7-15 % high), books on every third cell shifted by one 0.73 (+0.2 %),
#: weights rounded to four cells' width 0.06, a per-cell diagonal metric varying 6x
#: between cells 0.086, smooth bumps, translations, Diracs and noisy histograms 0 to 4e-7.
#: Not caught: books in lots of 2-4 cells shifted by part of a lot, where both schemes
#: are off (measured -36 % and -17 % centred, -16 % and +5 % power): a point allocation
#: on the grid's scale, for the mesh-free engine.
ODD_EVEN_WARN = 2.0
#: ... and above this share of d^2: a regime whose own cost is round-off (books equal
#: there) is not flagged for round-off fluxes.
ODD_EVEN_SHARE = 0.01
#: The share of the mean cell mass below which a cell is left out of
#: :func:`odd_even_excess`.
ODD_EVEN_FLOOR = 1e-3


def odd_even_excess(geo: Geodesic, *, per_regime: bool = False) -> float | np.ndarray:
    r"""The transport a path's momentum carries that a cell-centred charge does not see:
    :math:`\Delta t \sum_{k,\,cells,\,a} G_{aa} \max(0, w_a^2 - \bar u_a^2) / M_1`,
    with :math:`\bar u_a = (\mu_{a,-} + \mu_{a,+})/2` and :math:`w_a = (\mu_{a,+} -
    \mu_{a,-})/2` the mean and half-difference of the momentum on the cell's two faces
    along axis ``a``, and :math:`M_1` the arithmetic time mean of the cell's levels (over
    the cells above :data:`ODD_EVEN_FLOOR` of the mean cell mass).

    Fluxes of alternating sign on neighbouring faces (:math:`+\mu, -\mu, +\mu, ...`)
    average to zero in every cell yet move mass between neighbours: the centred scheme,
    and any scheme under an off-diagonal metric (both charge transport per cell on the
    averaged momentum, :mod:`wfr_cvx.assembly`), moves that mass for free.  The excess
    prices each cell by :math:`\max(|\bar u|, |w|) = (|\mu_-| + |\mu_+|)/2`, which is the
    averaged momentum wherever both faces move the same way (smooth flows, a Dirac
    hopping one cell), so it is 0 there, and of the order of the cost of the odd-even
    motion where that is the path (twice it for a book on every other cell shifted by one
    cell).  It is a warning sign, not a correction: :data:`ODD_EVEN_WARN` has the
    figures.  It counts the cells whose two faces' fluxes differ in sign beside a
    neighbour's that do too (alternation over three faces): where flows meet in, or part
    from, a single cell the averaged momentum undercharges one cell, a local error of the
    scheme, not the pattern.  ``per_regime=True`` gives the sum of each regime, shape
    ``(n_regimes,)``."""
    grid, dt = geo.grid, geo.grid.dt
    M1 = 0.5 * (geo.rho[:-1] + geo.rho[1:])
    weights = np.broadcast_to(face_weights(geo.metric, grid), geo.momentum.shape)
    if grid.dims == 1:
        axes = [(geo.momentum, weights, -1)]
    else:
        axes = [(geo.momentum[:, :, a], weights[:, :, a], 2 + a) for a in range(2)]
    excess = np.zeros_like(M1)
    for plus, weight, axis in axes:
        if grid.dims == 1:
            padded = np.pad(plus, [(0, 0)] * (plus.ndim - 1) + [(1, 1)])
            minus, plus = padded[..., :-1], padded[..., 1:]
            padded = np.pad(weight, [(0, 0)] * (weight.ndim - 1) + [(1, 1)])
            weight = np.maximum(padded[..., :-1], padded[..., 1:])
        else:
            minus = np.roll(plus, 1, axis=axis)
            np.moveaxis(minus, axis, 0)[0] = 0.0  # the first row has no face behind it
        # (|a| + |b|)^2 - (a + b)^2 = 4 |ab| where the two faces' fluxes differ in sign;
        # counted where a neighbour along the axis flips too (three faces +, -, +): one
        # cell alone is where flows meet or part (a target one cell wide), not the pattern
        flips = minus * plus < 0.0
        run = np.zeros_like(flips)
        ahead, behind = [slice(None)] * flips.ndim, [slice(None)] * flips.ndim
        ahead[axis], behind[axis] = slice(1, None), slice(None, -1)
        run[tuple(behind)] |= flips[tuple(ahead)]
        run[tuple(ahead)] |= flips[tuple(behind)]
        excess += np.where(flips & run, weight * np.abs(minus * plus), 0.0)
    # cells above ODD_EVEN_FLOOR of the mean cell mass: the solvers' round-off fluxes in
    # nearly empty cells alternate too, and divided by their masses they dominated the
    # sum (1e7 times d^2 on dr's path of a translation; 70-1,450 on the interior point's
    # of Diracs spreading to a bump, over cells above 1e-6 of the mean)
    held = M1 > ODD_EVEN_FLOOR * mean_cell_mass(geo.rho)
    per_cell = np.divide(excess, M1, out=np.zeros_like(M1), where=held)
    by_regime = dt * per_cell.reshape(M1.shape[0], M1.shape[1], -1).sum(axis=(0, 2))
    return by_regime if per_regime else float(by_regime.sum())


def _warn_if_odd_even(path: Geodesic, request: Request) -> None:
    """Mark "AlmostSolved", with a warning, a path whose transport a cell-centred charge
    misses, in some regime, by more than :data:`ODD_EVEN_WARN` of that regime's cost and
    :data:`ODD_EVEN_SHARE` of d^2 (:func:`odd_even_excess`).  Regime by regime, since the
    cost of the others' motion would hide it (a book on every other cell shifted by one
    cell beside a bump moved in a second regime: 41 % low against the sum of the two
    regimes' solves, where the first alone is flagged)."""
    from .analysis.diagnostics import action_per_step

    per_cell = is_cell_metric(request.metric)
    if not (per_cell or SCHEMES[request.scheme][2] == "cells"):
        return
    excess = odd_even_excess(path, per_regime=True)
    transport, reaction = action_per_step(
        path.rho, path.momentum, path.source, path.grid, lam=path.lam, metric=path.metric,
        scheme=path.scheme, floor=path.mass_floor, per_regime=True)
    cost = (transport + reaction).sum(axis=0)
    hidden = (excess > ODD_EVEN_WARN * cost) & (excess > ODD_EVEN_SHARE * path.distance2)
    if not hidden.any():
        return
    worst = int(np.argmax(np.where(hidden, excess, -np.inf)))
    regime = (f" in regime {path.grid.regimes[worst]!r}, beside its cost {cost[worst]:.3g}"
              if path.grid.n_regimes > 1 else "")
    path.status = max(path.status, Status.ALMOST_SOLVED, key=severity)
    ensemble = ("a book held in lots coarser than the cells is a point allocation on "
                "this grid's scale: wfr_cvx.ensemble prices it exactly, mesh-free")
    advice = (f"{ensemble}, or use cells as wide as the lots (an off-diagonal metric is "
              "charged per cell in every scheme)" if per_cell else
              f"scheme='power' charges every face; {ensemble}")
    warn(f"the path moves mass back and forth across neighbouring faces (momentum of "
         f"alternating sign, {excess[worst]:.3g} of transport{regime}; d^2 = "
         f"{path.distance2:.3g}), "
         "which the transport term, charged per cell on the momentum averaged to the cell "
         "centre, does not price: d^2 can be far too low (measured: a book on every other "
         "cell shifted by one cell, 60 times; weights rounded to twice the cell width, "
         f"2 times); {advice}", InaccurateSolutionWarning, stacklevel=None)


#: ``lam`` below one cell's metric length over this makes a failed solve between fixed
#: ends answer with the pure-reaction path (:func:`_teleport_answer`).
DEEP_TELEPORT = 200.0


def _teleport_answer(request: Request, failure: SolverError) -> Geodesic | None:
    r"""The pure-reaction path between fixed ends, "AlmostSolved", when ``lam`` is below
    1/:data:`DEEP_TELEPORT` of the metric distance between two cells (:func:`_cell_step`)
    and the solve failed other than by its iteration or time budget.  The static form's
    cost :math:`-\log\cos^2(\min(|x-y|/2\lambda, \pi/2))` is infinite between cells
    farther apart than :math:`\pi\lambda`, so its :math:`d^2` for the cells' masses as
    points is the Hellinger cost; the grid's discrete optimum moves a little mass between
    neighbours, measured below it by 36 % at :math:`\lambda = dx/\pi`, 8 % at half that,
    0.1 % at :math:`dx/60` (two neighbouring Diracs), about :math:`3(\lambda/dx)^2`.
    None when that does not hold, the path breaks the constraints or the scheme's
    reaction term is not the power mean.  Used where solves fail (a teleport at ``lam =
    1e-4`` on ``Grid(16, 16)``: "InsufficientProgress"; SCS "unbounded")."""
    if (request.rho1 is None or SCHEMES[request.scheme][1] != "power"
            or failure.status in {s.value for s in LIMIT}
            or DEEP_TELEPORT * request.lam > _cell_step(request.metric, request.grid)):
        return None
    path = _admissible_reaction_path(request)
    if path is not None:
        path.status = Status.ALMOST_SOLVED
        for name, spent in (failure.counts or {}).items():
            setattr(path, name, spent)  # the failed solve's: the answer's own cost nothing
    return path


def _cell_step(metric: np.ndarray, grid: Grid) -> float:
    """A lower bound of the metric distance between two distinct cells: ``dx`` times the
    square root of ``G``'s smallest eigenvalue over the faces that carry flux (cell
    matrices: over the active cells)."""
    return grid.dx * float(np.sqrt(max(smallest_metric_weight(metric, grid), 0.0)))


#: ``lam`` beyond this many times the metric length of the domain makes a fixed-end solve
#: between equal regime masses also solve the transport-only problem
#: (:func:`_with_transport_only`).
LARGE_LAM = 10.0


#: A transport-only solve is solved again at a smaller objective scale
#: (:func:`_transport_only`) down to this share of its a-priori scale: below it the
#: answers came out low ("Solved" 1.2e-4 under the optimum at 1e-6 of it, 2e-3 at 1e-8,
#: 30 % at 1e-12).
SCALE_FLOOR = 1e-6


def _transport_alone(request: Request) -> bool:
    """Fixed ends, transport open and reaction closed on every step."""
    return (request.rho1 is not None and not request.plan.reaction.any()
            and bool(request.plan.faces.any()))


def _transport_only_applies(request: Request) -> bool:
    """Whether :func:`_with_transport_only` may improve ``request``: fixed ends with equal
    masses in every regime (to 1e-9), reaction open somewhere, an interior point backend
    (a splitting one ran the transport-only problem to its iteration limit: 4x the time,
    nothing gained), and ``lam`` above :data:`LARGE_LAM` times the metric length of the
    domain."""
    r0, r1 = request.rho0, request.rho1
    if (r1 is None or not request.plan.reaction.any() or not request.plan.faces.any()
            or request.backend.first_order):
        return False
    reach = metric_reach(request.metric) * np.sqrt(request.grid.dims)
    if request.lam <= LARGE_LAM * reach:
        return False
    if hellinger2(r0, r1, request.lam) <= solver_resolution2(request.lam, max(r0.sum(),
                                                                            r1.sum())):
        return False  # below the solvers' resolution: the pure-reaction bound, warned
    m0, m1 = regime_masses(r0), regime_masses(r1)
    return bool(np.all(np.abs(m0 - m1) <= 1e-9 * max(m0.sum(), m1.sum())))


_COUNTS = ("iterations", "setup_time", "solve_time", "assembly_time")


def _with_counts(result: Geodesic, *others: Geodesic) -> Geodesic:
    """``result`` with the iterations and times of ``others`` (solves that led to it) added."""
    for other in others:
        for name in _COUNTS:
            setattr(result, name, getattr(result, name) + getattr(other, name))
    return result


def _transport_only(request: Request) -> Geodesic:
    r"""A solve between fixed ends with reaction closed on every step, sized by its answer.

    Its objective is divided by balanced transport's a-priori bound, :math:`D^2` per unit
    mass (1 inside [1e-2, 1e2]; :func:`~wfr_cvx.assembly.cost_scale_for`), far above
    :math:`d^2` for nearly equal ends: a bump moved by 1e-4 of the axis came back
    "Solved" 13-16 % high.  Where
    the answer lies below 1e-3 of that scale it is solved again at 100 times the answer,
    not below :data:`SCALE_FLOOR` of it (measured best; at the answer itself the solve
    stalls), and the second answer is kept when "Solved" without a warning.  Iterations
    and times count both solves."""
    with collected() as first_warnings:
        try:
            first = _solve_once(request)
        except SolverError:
            _replay(first_warnings)
            raise
    scale, heavier = _cost_scale(request), max(request.rho0.sum(), request.rho1.sum())
    if heavier == 0 or first.distance2 / heavier >= 1e-3 * scale:
        _replay(first_warnings)
        return first
    with collected() as second_warnings:
        try:
            second = _solve_once(request, cost_scale=max(100.0 * first.distance2 / heavier,
                                                         SCALE_FLOOR * scale))
        except SolverError:
            second = None
    if second is None or second.status != Status.SOLVED or second_warnings:
        _replay(first_warnings)
        return first if second is None else _with_counts(first, second)
    _replay(second_warnings)
    return _with_counts(second, first)


def _with_transport_only(request: Request) -> Geodesic:
    r"""The cheaper of the solve and the transport-only solve (reaction switched off) of
    ``request``, both paths admissible, and the warnings of the one returned.

    With ``lam`` far beyond the domain's metric length, reaction costs ~``lam^2`` times
    more than moving across it, and the full problem is badly conditioned: a bump moved by
    1e-4 of the axis at ``lam = 100`` came back "Solved" 138 times above its cost (cvxpy),
    "AlmostSolved" 250 times above (Clarabel), and 1.5 times above at a move of 1e-3.
    Between equal masses the transport-only problem (:func:`_transport_only`) is well
    conditioned and its optimum lies within :math:`O((D/\lambda)^2)` above :math:`d^2`
    (two Diracs :math:`D` apart: relative :math:`D^2/48\lambda^2`).  Where the full
    solve fails (not as infeasible, nor by its iteration or time budget) and the
    transport-only one is "Solved", that path is
    returned "AlmostSolved" with a warning; else the full solve's error is raised.
    Iterations and times count every solve that returned."""
    failure = None
    with collected() as full_warnings:
        try:
            full = _solve_once(request)
        except InfeasibleError:
            _replay(full_warnings)
            raise
        except SolverError as exc:
            full, failure = None, exc
    alone = request.with_ends(request.rho0, request.rho1, reaction=False)
    with collected() as caught:
        try:
            candidate = _transport_only(alone)
        except SolverError:
            candidate = None  # e.g. InfeasibleError: a mask leaves unequal components
    usable = candidate is not None and candidate.status == Status.SOLVED and not caught
    if full is None:
        _replay(full_warnings)
        if not usable or failure.status in {status.value for status in LIMIT}:
            raise failure  # a spent iteration or time budget is reported, not answered
        reach = metric_reach(request.metric) * np.sqrt(request.grid.dims)
        candidate.status = Status.ALMOST_SOLVED
        warn(f"{failure} -- returned the transport-only path (reaction switched off), "
             "admissible and above d^2 by O((D/lam)^2) relative: for two Diracs D apart, "
             f"D^2/(48 lam^2), here at most {reach**2 / (48.0 * request.lam**2):.1e}",
             InaccurateSolutionWarning, stacklevel=None)
        return candidate
    if not usable or candidate.distance2 >= full.distance2:
        _replay(full_warnings)
        return full if candidate is None else _with_counts(full, candidate)
    _replay(caught)
    return _with_counts(candidate, full)


def _replay(caught: list) -> None:
    """Raise again the warnings :func:`~wfr_cvx._warnings.collected` held back."""
    for category, message in caught:
        warn(message, category, stacklevel=None)


def _solve_once(request: Request, cost_scale: float | None = None) -> Geodesic:
    """One solve of ``request`` (:func:`solve`), its objective divided by ``cost_scale``
    (in d^2 per unit mass) when given, else by :func:`_cost_scale` of the ends as the
    solver sees them."""
    r0, r1 = request.rho0, request.rho1
    heavier = max(r0.sum(), 0.0 if r1 is None else r1.sum())
    if heavier == 0 or (r1 is None and _stays_put(request)):
        return _reaction_path(request, r0, r0)
    if r1 is not None and _reaction_path_is_enough(request, heavier):
        path = _admissible_reaction_path(request)
        if path is not None:
            if _unresolved_ends(request, heavier):
                apart = np.sqrt(hellinger2(r0, r1, 1.0) / heavier)
                path.status = Status.ALMOST_SOLVED
                warn(f"the ends differ by {apart:.1e} of their mass (relative Hellinger "
                     "distance), below what the solvers resolve: d^2 is the pure-reaction "
                     "cost, an upper bound that can lie far above the optimum where moving "
                     "the mass is cheap (a bump 0.06 wide moved by 1e-7 of the axis: 25 "
                     "times at lam = 0.3); read it as no measurable distance",
                     InaccurateSolutionWarning, stacklevel=None)
            return path
    factor = r0.size / heavier  # mean cell mass 1 in the solver's units
    s0, s1 = r0 * factor, None if r1 is None else r1 * factor
    # Cells lighter than 1e-12 of the heaviest cell (Gaussian tails down to 1e-300) are
    # below the solver's resolution and only leave degenerate cones: the solver sees them
    # empty.  Dropping mass eps moves d by at most 2 lam sqrt(eps) (the reaction path).
    # The returned end levels are the inputs as given.
    cut = 1e-12 * max(s0.max(), 0.0 if s1 is None else s1.max())
    s0 = np.where(s0 > cut, s0, 0.0)
    s1 = None if s1 is None else np.where(s1 > cut, s1, 0.0)
    if cost_scale is None:
        cost_scale = _cost_scale(request, s0, s1)
    scaled = dataclasses.replace(request, rho0=s0, rho1=s1, cost_scale=cost_scale)
    if s1 is None:
        scaled = _scaled_free_end(scaled)
    raw = solve_raw(_near_ends_balanced(scaled))
    if raw.status == Status.MAX_ITERATIONS and request.fallback is not None:
        # "auto" gave the splitting a budget it did not meet: the interior point solves
        # (with the display settings it takes)
        shown = {name: value for name, value in request.options.items()
                 if name != "max_iter" and name in request.fallback.options}
        switch = {"backend": request.fallback, "options": shown, "fallback": None}
        request = dataclasses.replace(request, **switch)
        scaled = dataclasses.replace(scaled, **switch)
        spent = raw.setup_time + raw.solve_time
        raw = solve_raw(_near_ends_balanced(scaled))
        raw = dataclasses.replace(raw, solve_time=raw.solve_time + spent)
    if s1 is None:
        raw = _refined_small_step(scaled, raw)
    said = f"; the solver said: {raw.message}" if raw.message else ""
    # the warnings wait for the check of the path against the constraints, which may
    # turn an inaccurate answer into an error
    with collected() as held:
        try:
            check_status(raw.status, request.backend.name,
                         said + _conditioning_hint(request.lam, request.metric, request.grid,
                                                   _cell_step(request.metric, request.grid)),
                         # bounded: the action is >= 0, and a free end's potential is
                         # finite on a kept mass; feasible: the reaction path without
                         # constraints, and for a free end staying put, which keeps every
                         # constraint
                         _limits(request.plan, request.grid), bounded=True,
                         feasible=r1 is None or (not request.plan.constraints
                                                 and bool(np.all(request.plan.reaction))))
        except SolverError as failure:
            failure.counts = {name: getattr(raw, name) for name in _COUNTS}
            raise
        if r1 is not None:
            # these warn about the path and d^2, which wfr_cvx.rebalance takes from a
            # second solve between fixed ends, not from a free end's (only its target is
            # kept)
            _check_path(raw, request.backend.name)
            _check_clipped(raw, request.backend.name)
            _warn_if_known_inaccurate(request)
    grid, unit = request.grid, 1.0 / factor
    rho = np.maximum(raw.levels, 0.0) * unit
    rho[0] = r0
    if r1 is not None:
        rho[-1] = r1
    rho_mean, rho_face = level_means(rho, grid, request.scheme)
    momentum = raw.flux * (grid.dx / grid.dt) * unit
    solved = Geodesic(
        grid=grid, lam=request.lam, metric=request.metric, rho=rho,
        momentum=momentum,
        # the levels were clipped at 0 (a splitting solver's round-off negatives) and the
        # end levels are the inputs as given (the solver saw tails below 1e-12 as empty):
        # the source is that of the returned levels and momentum, so continuity holds to
        # round-off (a dr path failed its certificate at 2e-8 with residuals of 1.4e-10
        # in clipped cells)
        source=continuity_source(rho, momentum, grid),
        rho_mean=rho_mean, rho_face=rho_face,
        transport_per_step=_nonnegative_steps(raw.transport) * unit,
        reaction_per_step=_nonnegative_steps(raw.reaction) * unit,
        status=raw.status, iterations=raw.iterations, setup_time=raw.setup_time,
        solve_time=raw.solve_time, assembly_time=raw.assembly_time,
        backend=request.backend.name, scheme=request.scheme,
        constraints=request.plan.constraints,
    )
    _check_constraints(solved, request, heavier)
    _replay(held)
    return _cheaper_of(solved, request)


#: A solved path may exceed a cap (:class:`~wfr_cvx.constraints.MaxVelocity`,
#: :class:`~wfr_cvx.constraints.MaxReactionRate`) by this share of the cap on every face
#: or cell and step, plus the backend's :data:`CONSTRAINT_ATOL` (:func:`_check_constraints`).
CAP_RTOL = 1e-3
#: Per backend, the mass, as a share of the heavier end's, by which a path solved to
#: "Solved" may break its constraints on one face or cell and step beyond
#: :data:`CAP_RTOL`: ``(caps, the rest)``, the rest being mass moved or created on closed
#: steps and a change of the total mass under TotalMass.  Scaled up with the backend's
#: feasibility tolerance (:data:`TOLERANCE_OPTIONS`) when it is loosened, never down.
#: Measured at the defaults on the constrained solves of the tests and on binding caps,
#: windows and TotalMass on 1-D, square and simplex grids, largest excess: clarabel 5e-9 /
#: 2e-13, cvxpy 3e-8 / 4e-13, scs 2e-7 / 4e-8, dr 9e-8 / 8.5e-6 (dr meets the rows that
#: close reaction to its ``eps`` relative to the whole iterate).
CONSTRAINT_ATOL = {"clarabel": (1e-7, 1e-7), "cvxpy": (3e-7, 1e-7), "scs": (1e-6, 1e-6),
                   "dr": (1e-6, 3e-5)}
#: The same share for a path that ended "AlmostSolved", on every backend: the solver
#: already says it is inaccurate, and a path that also breaks the constraints measurably
#: is refused (SCS out of iterations broke a cap by 3 % where a position of 1e-4 of the
#: book moved, its d^2 a tenth of the interior point's; 9.9e-7 of the book).
INACCURATE_ATOL = 1e-7
#: The option holding each backend's feasibility tolerance, and its default.
TOLERANCE_OPTIONS = {"clarabel": ("tol_feas", 1e-8), "cvxpy": ("tol_feas", 1e-8),
                     "scs": ("eps_abs", 1e-6), "dr": ("eps", 1e-5)}


def _check_constraints(path: Geodesic, request: Request, heavier: float) -> None:
    """Raise :class:`~wfr_cvx.SolverError` when a solved ``path`` breaks the constraints
    (:func:`~wfr_cvx.constraints.plan_violation`): a cap exceeded on some face or cell and
    step by more than :data:`CAP_RTOL` of itself plus the backend's floor
    (:data:`CONSTRAINT_ATOL`, :data:`INACCURATE_ATOL` after "AlmostSolved") times the
    heavier end's mass ``heavier``; mass moved or created on a closed step, or the total
    mass changed under TotalMass, by more than the other floor.

    Caps are checked relative to themselves, face by face: the solvers' tolerances are
    relative to the whole problem, so a constraint that binds on a small part of the book
    can go unresolved at "Solved" (dr: rates 43 % above the cap on an infeasible growth,
    1.2e-5 of the book).  What the floors leave unchecked: breaches below them, e.g. a cap
    that allows 1e-4 of the book per step exceeded by 1 % (dr, growth just beyond the
    reach of a rate cap); backend="clarabel" resolves those.  The message says what to
    do: for a first-order backend, lower its tolerance or use the interior point; for an
    interior point (which meets its rows to 1e-8), that the constraints may be infeasible
    (cvxpy ended "AlmostSolved" with rates 66 times the cap on a growth 2e-4 beyond its
    reach).  :class:`~wfr_cvx.InfeasibleError` stays for certified infeasibility.
    """
    plan = request.plan
    if not plan.constraints:
        return
    name = request.backend.name
    option, default = TOLERANCE_OPTIONS.get(name, (None, 1.0))
    loosened = max(1.0, float(request.options.get(option, default)) / default)
    cap_share, share = CONSTRAINT_ATOL.get(name, CONSTRAINT_ATOL["dr"])
    if path.status in INACCURATE:
        cap_share, share = min(cap_share, INACCURATE_ATOL), min(share, INACCURATE_ATOL)
    violation = plan_violation(plan, path, share * loosened * heavier, cap_rtol=CAP_RTOL,
                               cap_atol=cap_share * loosened * heavier)
    if violation is None:
        return
    if request.backend.first_order:
        knob = ("`eps` (and raise `max_iter`)" if name == "dr"
                else "`eps_abs` / `eps_rel` (and raise `max_iters`)")
        advice = (f"a first-order backend meets its constraint rows to its tolerance relative "
                  f"to the whole problem, coarse for a constraint that binds on a small part "
                  f"of the book (a small move, a small position): lower {knob}, or use "
                  f"backend='clarabel', which also decides whether the constraints are "
                  f"feasible")
    else:
        advice = ("an interior point meets its rows to ~1e-8, so the constraints may be "
                  "infeasible, or nearly so (loosen them)" + (
                      "; backend='clarabel' certifies infeasibility" if name != "clarabel"
                      else ""))
    raise SolverError(f"the {name} solve ended {str(path.status)!r} with a path that breaks "
                      f"its constraints [{plan.describe()}]: {violation}; {advice}",
                      status=str(path.status), backend=name)


def _cost_scale(request: Request, rho0: np.ndarray | None = None,
                rho1: np.ndarray | None = None) -> float:
    """The a-priori size of d^2 per unit mass that divides the objective
    (:func:`~wfr_cvx.assembly.cost_scale_for`; it does not depend on the masses' units),
    between ``rho0`` and ``rho1`` (the solver's scaled ends) or the request's own."""
    if rho0 is None:
        rho0, rho1 = request.rho0, request.rho1
    return cost_scale_for(rho0, rho1, request.lam, request.metric,
                          diameter=np.sqrt(request.grid.dims),
                          reaction=bool(request.plan.reaction.any()))


def _cheaper_of(solved: Geodesic, request: Request) -> Geodesic:
    """``solved``, or the pure-reaction path between its ends when that keeps the
    constraints and costs less (on the power-mean schemes, where its cost is exact): an
    interior point stopped "Solved" 3e-5 above it for a teleport at ``lam = 3e-3`` (64 x
    16), whose optimum it is.  The solve's status and counts are kept."""
    if request.rho1 is None or SCHEMES[request.scheme][1] != "power":
        return solved
    path = _admissible_reaction_path(request)
    if path is None or path.distance2 >= solved.distance2:
        return solved
    for name in ("status", "iterations", "setup_time", "solve_time", "assembly_time"):
        setattr(path, name, getattr(solved, name))
    return path


def _warn_if_known_inaccurate(request: Request) -> None:
    """Warn where a backend is known to stop short of its stated agreement at "Solved"."""
    ends = (request.rho0, request.rho1)
    # a share of the grid's cells on small grids: bumps 0.1 wide on Grid.simplex(8, 4), 10
    # of its 36 cells, meet the backends' 1e-4 agreement (tests/test_simplex.py)
    fewest = min(POINT_CELLS, np.count_nonzero(request.grid.mask[0]) / 8)
    if (request.backend.name == "dr" and request.grid.dims == 2 and any(
            rho is not None and 0 < cells_holding(rho) < fewest for rho in ends)):
        warn(
            f"backend='dr' on point allocations (fewer than {fewest:g} cells hold 90 % of "
            "a regime's mass) can stop short of the interior point's d^2 at 'Solved' "
            "(measured 1.1e-4 to 5.6e-4 relative on 2 to 12 Diracs on Grid.simplex(16, 8)) "
            "and converges slowly there: backend='clarabel' (what 'auto' runs here) is exact "
            "to 1e-8",
            InaccurateSolutionWarning, stacklevel=None)
    if (request.backend.name == "dr" and request.grid.dims == 1
            and SCHEMES[request.scheme][2] == "cells"
            # eps <= 1e-6 closes the gap to the backends' 1e-4 (1-D demo 64 x 2 x 16: 3.6e-5
            # at 1e-5, 2.7e-6 at 1e-6, 1.5e-9 at 1e-7; a bump moved at lam = 1, 32 x 8 and
            # 64 x 16: 1.2e-5 and 1.8e-5 at 1e-6)
            and request.options.get("eps", DR_DEFAULTS["eps"]) > 1e-6):
        warn(
            "backend='dr' on a 1-D grid with scheme='centred' converges slowly, its objective "
            "drifting where its stopping rule assumes a 1/k decay: at its default tolerances "
            "measured 2.8e-5 to 1.7e-4 (relative) from the interior point's d^2 after 6,150 "
            "to 24,500 iterations (the last above the default max_iter): "
            "backend='clarabel' is faster on 1-D grids and exact to 1e-8, or use "
            "scheme='power' with 'dr' (5e-6 in 3,300 iterations), or eps <= 1e-6 with a "
            "max_iter of ~1e5", InaccurateSolutionWarning, stacklevel=None)


def solve_raw(request: Request) -> RawSolution:
    """Run ``request`` (already in the solver's units) on its backend, no status policy:
    a model backend builds its own formulation; a conic backend gets the assembled cone
    program (:func:`wfr_cvx.assembly.assemble`) and its start point, if it takes one."""
    backend = request.backend
    if backend.kind == "model":
        raw = backend.function()(request)
        if backend.name in PATH_CHECKED and np.all(np.isfinite(raw.levels)):
            raw = dataclasses.replace(raw, path_excess=_model_path_excess(request, raw))
        return raw
    assembly = assemble(request)
    start_function = backend.start_function()
    start = None if start_function is None else start_function(assembly, request, solve_raw)
    result = backend.function()(assembly.problem, request.options, start)
    raw = unpack(assembly, result, request)
    if backend.name in PATH_CHECKED and result.x is not None and np.all(np.isfinite(result.x)):
        raw = dataclasses.replace(raw, path_excess=path_excess(assembly.problem, result.x,
                                                               _ends_mass(request)))
    return raw


#: Backends whose figures (their epigraph variables) are checked against the action of the
#: path they return (:func:`path_excess`): the interior point, directly or through cvxpy,
#: whose tolerance (1e-8) makes an excess above PATH_WARN a sign of trouble.  SCS meets
#: its cones to ~1e-6 relative (excess 0.2 % at lam = 20 and 0.3-0.8 % on 1-D bumps at
#: lam = 0.2, with d^2 within its stated 1e-4; its module says so); "dr" prices its own
#: point.
PATH_CHECKED = ("clarabel", "cvxpy")
#: Above this relative excess of the path's action over the solver's objective a solve
#: warns.  Measured (clarabel, default tolerances): 1e-9 .. 7e-5 on the demo, Diracs,
#: bumps, regime switches, the simplex and lam = 20; 6 % and 3x on ends 10 % and 6 % of a
#: small move apart (Grid(64, 16)), which "Solved" reported 1.1 % below and above the
#: optimum; 0.5-30 % on a book scaled by 1.005-1.02 (d^2 within 3e-4 of Hellinger's).
PATH_WARN = 1e-3


def path_excess(problem, x: np.ndarray, mass: float, epigraphs: float | None = None
                ) -> float:
    """How much the action of the path in ``x`` -- each cost cone's :math:`|u|^2/F` at the
    solver's levels and fluxes, whatever its epigraph variable says -- exceeds the solver's
    objective ``q^T x``, relative to it (floored at 1e-8 of the total ``mass``, the
    solvers' absolute tolerance).  An interior point meets its cones to an absolute
    tolerance; where the cost is tiny against the masses (near-identical ends) the
    epigraphs can then sit far below what the path costs, and "Solved" means little.
    ``epigraphs``: the epigraph part of the objective, when another formulation solved
    the problem and ``x`` holds only its path (:func:`~wfr_cvx.assembly.pack_path`)."""
    action, linear = _priced(problem, x)
    objective = float(problem.q @ x) if epigraphs is None else epigraphs + linear
    # a free end's objective is the action plus a potential term (linear), which can
    # cancel it: relative to the larger of the two
    return (action - objective) / max(abs(objective), abs(objective - linear), 1e-8 * mass)


def _priced(problem, x: np.ndarray) -> tuple[float, float]:
    """``problem``'s objective at ``x`` with each cost cone priced at its levels and
    fluxes (not at its epigraph variable), and the linear part of it (a free end's
    potential term)."""
    from .backends.dr._splitting import split

    s = split(problem)
    own = x[:s.n_x]
    linear = float(s.q_x @ own)
    return float(s.cost(s.K @ own + s.c)) + linear, linear


def _model_path_excess(request: Request, raw: RawSolution) -> float:
    """:func:`path_excess` of a path a model backend (cvxpy) returned: priced by the
    assembled cone program of the same request, against the cost its epigraphs report."""
    assembly = assemble(request)
    x = pack_path(assembly, raw.levels, raw.flux, request)
    weight = request.end_weight if request.rho1 is None else 1.0
    epigraphs = weight * float(raw.transport.sum() + raw.reaction.sum()) / request.cost_scale
    return path_excess(assembly.problem, x, _ends_mass(request), epigraphs=epigraphs)


def _ends_mass(request: Request) -> float:
    """The mass of both ends (a free end's counts 0), the floor of :func:`path_excess`."""
    return float(request.rho0.sum()) + float(
        0.0 if request.rho1 is None else request.rho1.sum())


def _check_path(raw: RawSolution, backend: str) -> None:
    """Warn on a path whose action exceeds the solver's objective by more than
    :data:`PATH_WARN`: its fields are not what the figures say, and d^2 may be off."""
    excess = raw.path_excess
    if excess is None or excess <= PATH_WARN:
        return
    warn(
        f"the path the {backend} solve returned costs {excess:.1%} more than its objective: "
        "its cones are met only to the solver's absolute tolerance, coarse against a cost "
        "this small beside the masses (nearly equal ends, or a metric or lam that makes "
        "moving nearly free); d^2 may be off (seen: up to 1.1 %), and the path's velocity "
        "and rate are not reliable; the dr backend (backend='dr', eps=1e-8) prices its own "
        "path", InaccurateSolutionWarning, stacklevel=None)


def _nonnegative_steps(costs: np.ndarray) -> np.ndarray:
    """A cost term's per-step sums of epigraph values made >= 0 with their total kept.

    Epigraph values meet their cones only to the solver's tolerance, so where a term
    costs ~0 a step's sum can come out below zero (SCS at ``lam = 20``: reaction steps of
    -1.5e-4 beside +1e-4, on a d^2 of 2 in the solver's units).  Clipping them at 0 alone
    adds what was clipped to d^2, a bias that grows with the number of steps (measured
    +1.4e-4 to +5e-4 relative at "Solved" where SCS's objective was 2e-5 off).  The
    negative steps are set to 0 and the positive ones scaled down by what that added, so
    the total stays the solver's objective (0 where the whole term sums below 0).
    """
    costs = np.asarray(costs, dtype=float)
    kept = np.maximum(costs, 0.0)
    raised = float(kept.sum())
    total = float(costs.sum())
    if raised <= 0.0 or total == raised:
        return kept
    return kept * (max(total, 0.0) / raised)


#: Above this share of a level's mass below zero, the solver's levels are not round-off
#: off the cone of non-negative masses (dr's are ~1e-10 of a cell), and clipping them
#: changes the path beyond what its d^2 prices.
CLIPPED_WARN = 1e-6


def _check_clipped(raw: RawSolution, backend: str) -> None:
    """Warn when the levels the solver returned hold negative mass beyond round-off: the
    result clips them at 0 and gives the source that matches (continuity holds), but d^2
    is the solver's, priced on the unclipped path."""
    levels = raw.levels[1:-1]
    if levels.size == 0:
        return
    per_level = tuple(range(1, levels.ndim))
    below = -np.minimum(levels, 0.0).sum(axis=per_level)
    share = float(np.max(below / np.maximum(np.abs(levels).sum(axis=per_level), 1e-300)))
    if share > CLIPPED_WARN:
        warn(f"the {backend} solve returned levels with {share:.1e} of a level's mass below "
             "zero; they are clipped at 0, and the source and rates follow the clipped path, "
             "while d^2 is the solver's: it may be off by about as much",
             InaccurateSolutionWarning, stacklevel=None)


def _conditioning_hint(lam: float, metric: np.ndarray, grid: Grid, cell_step: float) -> str:
    """Why a solve may fail for this ``lam`` (empty when nothing is known), and the limit
    that holds there: :math:`W_2^2` for large ``lam``, named as
    :func:`~wfr_cvx.closed_form.w2_squared_1d` only where that function computes it (a
    1-D grid; times ``G`` under a constant scalar metric ``G``)."""
    reach = metric_reach(metric)  # metric length of the weight axis
    if lam > 30.0 * reach:
        scalar = _scalar_metric(metric, grid)
        if scalar is None:  # G varies, or is no multiple of the identity
            limit = "the balanced W2^2 in the metric G for equal masses per regime"
        elif grid.dims == 1:
            times = "" if scalar == 1.0 else f" times G = {scalar:g}"
            limit = ("W2^2 for equal masses per regime (wfr_cvx.closed_form.w2_squared_1d"
                     f"{times})")
        else:
            times = "" if scalar == 1.0 else f", G = {scalar:g} times the Euclidean W2^2"
            limit = f"W2^2 for equal masses per regime{times}"
        return (f"; lam = {lam:g} is {lam / reach:.0f} times the (metric) length of the "
                "weight axis: reaction costs ~lam^2 times more than crossing it, which "
                f"leaves the problem badly conditioned; in this limit d^2 -> {limit}")
    if lam < 1e-4 * reach or DEEP_TELEPORT * lam <= cell_step:
        below = (f" (below 1/{DEEP_TELEPORT:g} of a cell's metric length)"
                 if DEEP_TELEPORT * lam <= cell_step else "")
        return (f"; lam = {lam:g} is tiny against the weight axis{below}: moving mass "
                "between cells saves ~3 (lam/dx)^2 of d^2 at most, which is the Hellinger "
                "cost to that accuracy (wfr_cvx.closed_form.hellinger2; with "
                "scheme='arithmetic' the scheme's own error in dt adds to it)")
    return ""


def _scalar_metric(metric: np.ndarray, grid: Grid) -> float | None:
    """``G`` when a checked metric is ``G`` times the identity on every face that can carry
    flux (the other entries are filler), else None."""
    if is_cell_metric(metric):  # off-diagonal entries somewhere
        return None
    values = metric[grid.face_mask] if grid.face_mask.any() else np.ravel(metric)
    first = float(values[0])
    return first if np.allclose(values, first, rtol=1e-12, atol=0.0) else None


def _limits(plan, grid: Grid) -> str:
    """The constraints and position limits of a solve, for an infeasibility message."""
    parts = []
    if plan is not None and plan.constraints:
        parts.append(f"constraints [{plan.describe()}]")
    if grid.n_inactive:
        parts.append(f"grid.mask ({grid.n_inactive} inactive cell(s))")
    return " and ".join(parts)


def check_status(status, backend: str, hint: str = "", limits: str = "",
                 bounded: bool = False, feasible: bool = False) -> None:
    """The status policy (module docstring): return, warn or raise.

    ``bounded``: the objective is bounded below (a geodesic between fixed ends: the action
    is >= 0); ``feasible``: the problem has a feasible point (no constraints: the
    pure-reaction path always is one).  A report of what such a problem cannot be --
    unbounded, infeasible -- is the solver's numerical failure: a SolverError, never an
    :class:`~wfr_cvx.errors.InfeasibleError`.
    """
    status = Status.parse(status)
    if status in SOLVED:
        return
    impossible = ((bounded and status in (Status.DUAL_INFEASIBLE,
                                          Status.ALMOST_DUAL_INFEASIBLE))
                  or (feasible and status in (Status.PRIMAL_INFEASIBLE,
                                              Status.ALMOST_PRIMAL_INFEASIBLE)))
    if impossible:
        what = "unbounded" if "Dual" in status.value else "infeasible"
        if feasible:
            why = ("the objective is bounded below, and a path is feasible: the pure-reaction "
                   "path without constraints, staying put for a free end")
        else:
            # a splitting solver's unboundedness test can fire on an infeasible problem
            # (SCS on a growth beyond a rate cap's reach) or fail numerically (SCS on a cap
            # that binds on a small move): which, only an interior point tells
            under = f" under the {limits}" if limits else ""
            why = (f"the objective is bounded below; the problem may be infeasible{under}, "
                   f"or the solver failed numerically: use backend='clarabel', which "
                   f"certifies infeasibility")
        raise SolverError(
            f"the WFR solve failed: the solver reported the problem {what}, which it cannot "
            f"be ({why}){hint}", status=status.value, backend=backend)
    if status in INACCURATE:
        warn(
            f"the {backend} solve stopped at reduced accuracy (status {status.value!r}); "
            f"figures may be less precise{_inaccurate_advice(backend)}",
            InaccurateSolutionWarning, stacklevel=None,
        )
        return
    if status in INFEASIBLE:
        under = f" under the {limits}" if limits else ""
        raise InfeasibleError(f"the WFR problem was reported infeasible{under}",
                              status=status.value, backend=backend)
    record = get_backend(backend)
    if record.first_order and status in LIMIT:
        limit_options = _option_names(backend, "max_iters", "time_limit_secs", "max_iter",
                                      "time_limit")
        hint += (f"; the first-order backend {backend!r} stopped before its tolerance: raise "
                 f"{limit_options}, or use backend='clarabel' (interior point)")
        if limits and not feasible:
            # a first-order method's certificate of infeasibility waits for its dual
            # iterates to converge: a slightly infeasible problem runs out of iterations
            hint += (f"; the problem may be infeasible under the {limits}: {backend!r} "
                     "certifies infeasibility only slowly, so use backend='clarabel' to "
                     "decide whether it is")
    elif status in LIMIT:
        hint += _interior_limit_advice(status, backend)
    raise SolverError(f"the WFR solve did not converge{hint}", status=status.value,
                      backend=backend)


def _option_names(backend: str, *names: str) -> str:
    """Those of ``names`` that ``backend`` takes, as ```a` / `b``` (each backend its own
    spelling: SCS's ``max_iters``, Clarabel's and dr's ``max_iter``)."""
    try:
        options = get_backend(backend).options
    except ValueError:  # a name no record has: no option to name
        return ""
    return " / ".join(f"`{name}`" for name in names if name in options)


def _inaccurate_advice(backend: str) -> str:
    """What to do about a solve stopped at reduced accuracy, in ``backend``'s options."""
    tolerances = _option_names(backend, "tol_gap_rel", "tol_feas", "eps_abs", "eps_rel", "eps")
    other = f" or other tolerances ({tolerances})" if tolerances else ""
    return (f": to check them, solve again with another backend{other} and compare (the "
            f"README's 'Scheme and accuracy')")


def _interior_limit_advice(status, backend: str) -> str:
    """The hint for an interior-point solve stopped by its iteration or time budget."""
    if status == Status.MAX_TIME:
        option = _option_names(backend, "time_limit")
        return f"; {backend!r} used up its {option}: raise it" if option else ""
    option = _option_names(backend, "max_iter")
    return (f"; {backend!r} used up its {option}: raise it, and if its default ran out, "
            f"check lam (one far above or below the distances moved conditions the problem "
            f"badly)") if option else ""
