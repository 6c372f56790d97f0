r"""One proximal (JKO) rebalancing step in the WFR geometry.

.. math::

    \rho_1^\star = \operatorname*{argmin}_{\rho_1 \ge 0,\ \sum\rho_1 = \sum\rho_0}
        \frac{d^2_{\mathrm{WFR}}(\rho_0, \rho_1)}{2\tau} + \sum_{k, w} V_k(w)\,\rho_1(w, k)

(Jordan, Kinderlehrer & Otto 1998; Gallouët & Monsaingeon 2017 for WFR).  ``V`` is a
potential on the grid — for portfolios the mean-variance objective
:math:`\tfrac12\gamma w^\top\Sigma w - \mu^\top w` of each regime
(:func:`wfr_cvx.finance.markowitz.potential`) — and ``tau`` the step: transaction costs (the WFR
action) shrink the move toward the potential's minimum.  Markowitz is the degenerate
limit: one regime, a point allocation and ``tau -> inf`` put all the mass on the
mean-variance optimum.

The target is one SOCP in the same assembly as :func:`wfr_cvx.geodesic`: the end level
becomes an unknown, the potential a linear term, the budget one equality.  The path to it,
and so :math:`d^2`, is a second solve, between the fixed ends :math:`\rho_0` and the
target (:func:`rebalance`, Notes).
"""

from __future__ import annotations

import dataclasses
import inspect

import numpy as np

from ._validate import positive_scalar
from ._warnings import warn
from .assembly import DEFAULT_SCHEME
from .backends import AUTO, severity
from .closed_form import hellinger2, solver_resolution2
from .engine import Request, check_grid, make_request, solve
from .errors import InaccurateSolutionWarning, SolverError
from .grid import Grid, as_allocation, cell_values, regime_values
from .result import Geodesic

__all__ = ["Rebalance", "rebalance"]


class Rebalance:
    """Result of :func:`rebalance`.

    Attributes
    ----------
    target : ndarray, shape ``grid.shape``
        The new allocation :math:`\\rho_1^\\star` (cell masses).
    path : Geodesic
        The geodesic from ``rho0`` to ``target``, solved between these fixed ends
        (:func:`rebalance`, Notes); its iterations and times count every solve of the
        step, its status is the worst of theirs.
    potential : ndarray, shape ``grid.shape``
    tau : float
    distance2 : float
        :math:`d^2(\\rho_0, \\rho_1^\\star)`, the path's.
    potential_energy : float
        :math:`\\sum V \\rho_1^\\star`.
    objective : float
        ``distance2 / (2 tau) + potential_energy``.
    status : str
    """

    def __init__(self, path: Geodesic, potential: np.ndarray, tau: float):
        self.path = path
        self.target = path.rho[-1].copy()
        self.potential = potential
        self.tau = tau
        self.distance2 = path.distance2
        self.potential_energy = float(np.sum(potential * self.target))
        self.objective = self.distance2 / (2.0 * tau) + self.potential_energy
        self.status = path.status

    @property
    def grid(self) -> Grid:
        return self.path.grid

    def regime_mass(self) -> np.ndarray:
        """Mass per regime of the target, shape ``(n_regimes,)``."""
        return self.target.reshape(self.grid.n_regimes, -1).sum(axis=1)

    def mean_weight(self, regime=None) -> np.ndarray:
        """Mean weight coordinates of the target (of one regime, or of all together).

        Shape ``(d,)`` with ``d`` the number of weight coordinates (1 on a 1-D grid).
        """
        grid = self.grid
        mass = self.target if regime is None else self.target[[grid.regime_index(regime)]]
        per_cell = mass.sum(axis=0).ravel()  # one regime's cells, flattened
        total = per_cell.sum()
        if total <= 0:
            raise ValueError("the target holds no mass in that regime")
        return (per_cell @ grid.coords.reshape(-1, grid.dims)) / total

    def __repr__(self) -> str:
        return (f"Rebalance(objective={self.objective:.6g}, distance2={self.distance2:.6g}, "
                f"potential_energy={self.potential_energy:.6g}, tau={self.tau:g}, "
                f"status={str(self.status)!r})")


def _takes_regime(signature: inspect.Signature) -> bool:
    """Whether a potential's signature takes the regime as its second argument (see
    :func:`_potential_array`)."""
    parameters = list(signature.parameters.values())
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return True
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY,
                                                       p.POSITIONAL_OR_KEYWORD)]
    if len(positional) < 2:
        return False
    second = positional[1]
    return second.default is second.empty or second.name == "regime"


def _potential_array(potential, grid: Grid) -> np.ndarray:
    """A potential given as an array on the grid, or a callable of the coordinates.

    A callable ``f(coords)`` (one potential for every regime) or ``f(coords, regime)``
    (``regime`` the label, a string of ``grid.regimes``) returning one value per cell, or
    a Series read by label (:func:`~wfr_cvx.grid.regime_values`): it is given the regime
    when its second positional parameter is required or named ``regime`` (``f(w,
    regime=None)``), or it takes ``*args``; a second parameter with a default and another
    name (``f(w, scale=1.0)``) keeps its default.
    """
    if callable(potential):
        try:
            with_regime = _takes_regime(inspect.signature(potential))
        except (TypeError, ValueError):  # no signature to read (some builtins)
            with_regime = False
        values = []
        name = "potential (the callable's values)"
        for label in grid.regimes:
            out = potential(grid.coords, label) if with_regime else potential(grid.coords)
            # labelled values by label, as a potential given directly is read
            out = regime_values(out, grid, name, "potential values")
            if out.size != grid.n_cells:
                raise ValueError(f"`{name}` must hold one value per cell ({grid.n_cells} "
                                 f"for a regime), got shape {out.shape}")
            values.append(out.reshape(grid.shape[1:]))  # flat or on the cells' layout
        arr = np.stack(values)
        if with_regime:
            _warn_if_regimes_look_alike(arr, grid)
    else:
        # an array by position, labelled input by label, as allocations are read (but the
        # values may be negative, and need only be finite on the active cells)
        name = "potential"
        arr = cell_values(potential, grid, name, what="potential values")
    if not np.all(np.isfinite(arr[grid.mask])):
        raise ValueError(f"`{name}` must be finite on every active cell")
    # inactive cells hold no mass: their values (a barrier's inf, a label left out) unused
    return np.where(grid.mask, arr, 0.0)


def _warn_if_regimes_look_alike(values: np.ndarray, grid: Grid) -> None:
    """Warn when a callable that takes the regime returned the same potential for every
    regime of a grid whose labels are numbers: it was given them as strings (as
    ``grid.regimes`` holds them), and a test such as ``regime == 2008`` is never true."""
    if grid.n_regimes < 2 or not all(np.array_equal(v, values[0]) for v in values[1:]):
        return
    numeric = [label for label in grid.regimes if _is_number(label)]
    if numeric:
        warn(f"`potential` takes the regime but returned the same values for every regime "
             f"{list(grid.regimes)}: it is passed each regime's label as a string, as "
             f"grid.regimes holds it, so a test such as regime == {numeric[0]} is never true; "
             f"compare with {numeric[0]!r}, or drop the regime argument if the potential "
             f"is the same for all", UserWarning, stacklevel=None)


def _is_number(label: str) -> bool:
    try:
        float(label)
    except ValueError:
        return False
    return True


def rebalance(rho0, grid: Grid, lam: float, *, potential, tau: float, metric=None,
              constraints=(), backend: str = AUTO, scheme: str = DEFAULT_SCHEME,
              **solver_options) -> Rebalance:
    r"""One proximal step: the allocation that best trades the potential against the WFR cost.

    Parameters
    ----------
    rho0 : array_like, shape ``grid.shape``
        Current allocation (cell masses, total > 0).
    grid : Grid
    lam : float
        Crossover scale.
    potential : array of shape ``grid.shape``, labelled input, or callable
        ``V`` per cell; pandas or xarray input is read by label as allocations are
        (:func:`wfr_cvx.grid.as_allocation`; values may be negative); or ``f(coords)`` /
        ``f(coords, regime)`` returning one regime's values: an array, one value per cell,
        flat or in the cells' layout (by position), or a Series indexed by cell centre (by
        label, :func:`wfr_cvx.grid.regime_values`).  ``coords`` is ``grid.coords``; the
        regime is passed when ``f``'s second positional parameter is required or named
        ``regime``, **as its label in** ``grid.regimes``, **a string**: ``'2008'`` for
        ``Grid(..., regimes=(2008, 2020))`` (a callable that returns the same values for
        every regime of a grid whose labels are numbers warns).  Only active cells are
        read: outside ``grid.mask`` a value may be anything, ``inf`` included.
    tau : float
        Step (> 0): the larger, the closer the target gets to the potential's minimum.
    metric, backend, scheme, **solver_options
        As for :func:`wfr_cvx.geodesic`.
    constraints : sequence
        Execution constraints from :mod:`wfr_cvx.constraints`, as for
        :func:`wfr_cvx.geodesic`, on the path to the target (position limits are
        ``grid.mask``: the target stays inside it).

    Notes
    -----
    The free-end problem above chooses the target.  Its objective weighs :math:`d^2` by
    :math:`1/(2\tau)` beside the potential term and resolves it only to the solver's
    tolerance times :math:`2\tau`, so the path to the target -- and with it
    ``distance2``, the costs, the velocity and rate, the objective -- is solved again
    between the fixed ends ``rho0`` and the target, with the same backend, metric,
    scheme, constraints and options.  Not where staying put is known to be the answer
    (``rho0``'s mass all where ``V`` is least, or constraints that let nothing move: no
    solve, ``distance2 = 0``), nor where the target is closer to ``rho0`` than the
    solvers resolve (:func:`~wfr_cvx.closed_form.solver_resolution2`; the free end's
    figures are kept).  Where that solve fails the free end's figures are kept with an
    :class:`~wfr_cvx.InaccurateSolutionWarning`.

    Accuracy (Clarabel at its defaults), ``distance2`` against the least action to the
    target at 1e-10 tolerances: within 5e-5 relative on 34 steps (``tau`` 1e-4 to 1e12;
    one and two regimes, Markowitz potentials, the simplex), half of them within 1e-6,
    whatever the potential's units (``V`` times 100 and ``tau`` / 100 alike).  A step
    that moves less than half of the mass (interior point) or 10 % of it ("dr") is
    solved a second time for its target (SCS keeps its first answer, with a warning below
    10 %), centred on the first answer, and the one whose path prices lower kept.  For
    small ``tau`` the step follows the gradient flow, :math:`d^2 \approx \tau^2
    \sum\rho_0(|\nabla V|^2_{G^{-1}} + (V - \bar V)^2/\lambda^2)`: on two regimes'
    bumps (``Grid(32, 8)``) :math:`d^2/\tau^2` = 0.5740 at ``tau = 1e-4``, 0.5742 from
    1e-6 to 3e-8 and 0.5729 at 1e-8, where the step moves 1e-7 of the mass; below that
    move it is beyond what the solvers resolve (a warning: 2x at ``tau = 1e-9``).
    Against the closed form of a potential constant in each of three regimes (pure
    reaction), relative error of :math:`d^2`:

    ==============  =========  =========  ==========  ==========  ==========
    lam, tau        1, 1e-1    1, 3e-2    1, 1e-3     1, 1e-4     0.3, 1e-4
    ==============  =========  =========  ==========  ==========  ==========
    clarabel        -1e-7      -3e-7      1.1e-6 (*)  2.5e-6 (*)  -1.0e-6 (*)
    ==============  =========  =========  ==========  ==========  ==========

    (*) "AlmostSolved", with an :class:`~wfr_cvx.InaccurateSolutionWarning`.  A first
    answer kept, a step scoring above staying put (the trivial feasible point) and one
    moving less than 1e-7 of the mass warn likewise.

    Examples
    --------
    >>> import wfr_cvx
    >>> g = wfr_cvx.Grid(16, 4)
    >>> step = wfr_cvx.rebalance(g.bump(0.3, 0.05), g, 0.5, tau=10.0,
    ...                          potential=lambda w: (w[:, 0] - 0.7) ** 2)
    >>> bool(step.mean_weight()[0] > 0.6)
    True
    """
    check_grid(grid)
    r0 = as_allocation(rho0, grid, "rho0")
    if r0.sum() <= 0:
        raise ValueError("`rho0` must hold positive total mass")
    tau = positive_scalar(tau, "tau")
    V = _potential_array(potential, grid)
    request = make_request(r0, None, grid, lam, metric=metric, constraints=constraints,
                           backend=backend, scheme=scheme, options=solver_options,
                           end_potential=V, end_weight=1.0 / (2.0 * tau))
    step = Rebalance(_fixed_end_path(solve(request), request), V, tau)
    _warn_if_tiny(step, r0)
    _warn_if_worse_than_staying_put(step, r0, request.lam)
    return step


def _fixed_end_path(free: Geodesic, request: Request) -> Geodesic:
    """The geodesic from ``rho0`` to the target of ``free`` (a free end's answer), solved
    with the request's backend, metric, scheme, constraints and options; ``free`` itself
    where that cannot help, and, with a warning, where it fails.

    The free-end solve weighs ``d^2`` by ``1 / (2 tau)`` beside the potential term: its
    tolerance on that objective leaves the target right but ``d^2`` off by about the
    tolerance times ``2 tau`` times the objective (26 where the least action to the
    target is 0.29, at ``tau = 1e12``).  Between fixed ends ``d^2`` is solved on its own
    scale, the cost cones balanced up to a separation of
    :data:`~wfr_cvx.engine.NEAR_ENDS_APART`.  The status is
    the worse of the two solves', the iterations and times their sums."""
    r0, target = request.rho0, free.rho[-1]
    mass = max(float(r0.sum()), float(target.sum()))
    if hellinger2(r0, target, request.lam) <= solver_resolution2(request.lam, mass):
        # equal ends (staying put, d^2 = 0), or ends closer than a solve between them
        # resolves: it would return their Hellinger cost, an upper bound of d^2 (4e-14
        # where the step's d^2 is 6e-17, at tau = 1e-8), where the free end, balanced by
        # its move (engine._refined_small_step), resolved it
        return free
    fixed = dataclasses.replace(request, rho1=target, end_potential=None, end_weight=1.0)
    try:
        path = solve(fixed)
    except SolverError as exc:
        warn(f"the step's d^2 could not be confirmed by a solve between rho0 and its target "
             f"({exc}): its d^2, costs and path are the free-end solve's, which resolves "
             f"them only to its tolerance times 2 tau against the potential",
             InaccurateSolutionWarning, stacklevel=None)
        return free
    path.status = max(free.status, path.status, key=severity)
    for name in ("iterations", "setup_time", "solve_time", "assembly_time"):
        setattr(path, name, getattr(free, name) + getattr(path, name))
    return path


#: A step moving less than this share of the mass (L1) is below what the solvers resolve.
#: Measured against the gradient flow (two regimes, ``Grid(32, 8)``) and a closed form
#: (a potential constant per regime): at moves of 1e-7 and above, d^2 within 0.2 % and
#: 2e-6; 1.3e-8: the move 2.5 % off; 1e-8 .. 1e-9: d^2 2x to 24x, the move 28 % off.
TINY_STEP = 1e-7


def _warn_if_tiny(step: Rebalance, r0: np.ndarray) -> None:
    """Warn where the step moves less than :data:`TINY_STEP` of the mass, but moves: a
    target equal to ``rho0`` is staying put known to be exact (no solve)."""
    move = float(np.abs(step.target - r0).sum()) / float(r0.sum())
    if 0.0 < move < TINY_STEP:
        warn(f"the step moves {move:.1e} of the mass, below the {TINY_STEP:g} the solvers "
             f"resolve (tau = {step.tau:g} is this small against the potential): its target "
             f"is rho0 to {TINY_STEP:g} of the mass, but the move and d^2 may be off by "
             f"factors (measured: d^2 2x at a move of 1e-8, 24x at 1e-9; the move 28 % at "
             f"1.4e-9)", InaccurateSolutionWarning, stacklevel=None)


def _warn_if_worse_than_staying_put(step: Rebalance, r0: np.ndarray, lam: float) -> None:
    """Staying put is feasible and scores ``sum V rho0``: a step scoring above it (beyond
    the solvers' resolution) is not the minimiser, whatever its status says."""
    stay = float(np.sum(step.potential * r0))
    slack = (1e-6 * float(np.sum(np.abs(step.potential) * r0))
             + solver_resolution2(lam, float(r0.sum())) / (2.0 * step.tau))
    if step.objective > stay + slack:
        warn(
            f"the step's objective {step.objective:.8g} is above staying put's "
            f"{stay:.8g}: the solve did not resolve a step this small against the "
            "potential, and its target and d^2 are not reliable", InaccurateSolutionWarning,
            stacklevel=None)
