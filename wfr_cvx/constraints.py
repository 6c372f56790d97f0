r"""Execution and position constraints on a geodesic (``constraints=`` of ``geodesic``).

Each class is a plain frozen record, validated when built, with a problem-file ``kind``
(its ``[[constraints]]`` table holds the record's fields, :meth:`Constraint.table`).
:func:`compile_constraints` turns a list of them and the grid's mask into a :class:`Plan`:
each constraint's :meth:`~Constraint.apply` says which unknowns it removes and which rows
it asks for; the assembly (:mod:`wfr_cvx.assembly`) and the cvxpy backend each build
those rows their own way.

* :class:`MaxVelocity` ``(vmax, steps=None)``: :math:`|m| \le v_{max}\,\bar\rho_{face}`
  on every face (a trade-rate / turnover cap; per weight axis on a two-axis grid, and
  tighter than ``vmax`` on books concentrated in single cells: see the class).  In the
  scaled unknowns ``mu = m dt / dx`` of :mod:`wfr_cvx.assembly`: ``vmax dt/dx F -+ mu >=
  0``, two non-negative rows per face and step.  ``vmax = 0`` drops the flux unknowns instead.
* :class:`TradingWindow` ``(closed_steps, reaction=True)``: no transport during the
  listed steps.  The flux unknowns of those steps are *dropped* (rows pinning them to
  zero would leave their cones at the apex, which stalls the interior point); with
  ``reaction=False`` the source is zero there too (zero rows on the created mass, no
  reaction cones).
* :class:`MaxReactionRate` ``(rmax)``: :math:`|\zeta| \le r_{max}\,\bar\rho`, i.e.
  ``rmax dt R -+ z >= 0`` on every cell and step (``z = zeta dt``).  ``rmax = 0``
  forbids reaction (zero rows instead of cones).
* :class:`TotalMass` ``()``: the total mass is the same at every time level (probability
  paths: the spherical Hellinger-Kantorovich geometry, Laschos & Mielke 2019).  One zero
  row per interior level.

Inactive cells of ``grid.mask`` have no unknowns at all; faces beside them carry no flux.

Examples
--------
The cap holds up to the solver's absolute tolerance (~1e-11 of the mass here): on faces
with almost no mass the *ratio* ``velocity`` of two round-off numbers may exceed it, so
check ``|momentum| <= vmax * rho_face`` or the velocity where mass sits.

>>> import numpy as np
>>> import wfr_cvx
>>> from wfr_cvx.constraints import MaxVelocity
>>> g = wfr_cvx.Grid(32, 8)
>>> r0, r1 = g.bump(0.3, 0.05), g.bump(0.5, 0.05)
>>> free = wfr_cvx.geodesic(r0, r1, g, lam=0.5)
>>> capped = wfr_cvx.geodesic(r0, r1, g, lam=0.5, constraints=[MaxVelocity(0.1)])
>>> bool(capped.distance2 > free.distance2)
True
>>> bool(np.all(np.abs(capped.momentum) <= 0.1 * capped.rho_face + 1e-9))
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import MISSING as _NO_DEFAULT
from dataclasses import dataclass, field, fields, replace
from typing import ClassVar

import numpy as np

from .errors import InfeasibleError
from .grid import Grid

__all__ = ["Constraint", "MaxVelocity", "TradingWindow", "MaxReactionRate", "TotalMass",
           "MaxTravel", "Plan", "CONSTRAINT_TYPES", "TOTAL_MASS_RTOL", "check_masses_reachable",
           "check_rate_caps_reachable", "transport_components", "path_excesses",
           "plan_violation",
           "compile_constraints", "from_table"]


def _rate(value, name: str, owner: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{owner}: `{name}` must be a real number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{owner}: `{name}` must be finite and >= 0, got {value}")
    return value


def _steps(value, name: str, owner: str) -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray, range)):
        raise TypeError(f"{owner}: `{name}` must be a sequence of step indices, "
                        f"got {type(value).__name__}")
    out = []
    for step in value:
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)):
            raise TypeError(f"{owner}: `{name}` must hold integer step indices, got "
                            f"{step!r} ({type(step).__name__})")
        if step < 0:
            raise ValueError(f"{owner}: `{name}` must hold step indices >= 0, got {step}")
        out.append(int(step))
    return tuple(sorted(set(out)))


class Constraint:
    """Base of the constraint records: a problem-file ``kind`` and the plan it makes.

    Subclasses are frozen dataclasses; :meth:`apply` edits a :class:`Plan` being built
    (switching unknowns off, or asking for rows) and is the only place a constraint's
    meaning on the grid is decided.
    """

    kind: ClassVar[str] = ""
    #: The fields that take ``inf``: JSON has no infinity, so a summary writes it as
    #: ``null`` (:func:`wfr_cvx.io.to_jsonable`), and :func:`from_table` reads ``None``
    #: there back as ``inf``.
    unbounded: ClassVar[tuple[str, ...]] = ()

    def apply(self, plan: _Draft, grid: Grid) -> None:
        """Record this constraint's effect on the unknowns and rows of ``plan``."""
        raise TypeError(f"{type(self).__name__} does not say what it constrains")

    def table(self) -> dict:
        """Its ``[[constraints]]`` table: ``kind`` and every field that is not None (tuples
        as lists).

        >>> MaxVelocity(0.2).table(), TradingWindow([3, 4], False).table()
        ({'kind': 'max_velocity', 'vmax': 0.2}, {'kind': 'trading_window', \
'closed_steps': [3, 4], 'reaction': False})
        """
        out = {"kind": self.kind}
        for item in fields(self):
            value = getattr(self, item.name)
            if value is not None:
                out[item.name] = list(value) if isinstance(value, tuple) else value
        return out




@dataclass(frozen=True)
class MaxVelocity(Constraint):
    r"""Cap ``|velocity| <= vmax`` on every face, on all steps or on ``steps`` only.

    The cap is staggered, :math:`|m| \le v_{max}\,\bar\rho_{face}` on each face, with
    :math:`\bar\rho_{face}` the mean of the two cells beside it (:class:`Geodesic.rho_face
    <wfr_cvx.Geodesic>`).  Two consequences:

    * **Per axis.**  On a grid with two weight axes (the simplex, ``dims=2``) each face
      caps the component of the velocity along its own axis: every weight coordinate
      moves at most ``vmax``, and the Euclidean speed reaches :math:`\sqrt2\,v_{max}`
      (a bump moved by (0.2, 0.2) under ``MaxVelocity(0.22)`` costs what it does free; on
      the simplex the remainder asset, :math:`1 - w_A - w_B`, then trades up to
      ``2 vmax``).
    * **Concentrated books need headroom.**  Mass that hops one cell per step leaves one
      of the two cells beside the face empty, so the face average halves it and the cap
      reads the hop as twice its speed: the path must spread the mass over more cells,
      or replace it by reaction, at a cost.  A smooth bump (several cells wide) moves at
      the cap.  Measured with one-cell Diracs moved at speed 0.2 (``Grid(40, 8)``, from
      ``weights[8]`` to ``weights[16]``, ``lam = 0.5``): free :math:`d^2` 0.0399;
      ``MaxVelocity(0.24)`` 0.0691 (clarabel and cvxpy alike: the cap forces reaction);
      with ``MaxReactionRate(0)`` as well, InfeasibleError below a cap of 1.254 times the
      speed, though the constant-speed translation keeps the cap in continuous time.  More
      steps on the same cells lower that factor little (1.22 at 16 steps, 1.21 at 32);
      finer cells and steps together do (one cell per step: 1.155 on ``Grid(80, 16)``,
      1.096 on ``Grid(160, 32)``).  Give caps on point allocations about 25 % headroom,
      or refine the cells and the steps together.

    A solved path keeps the cap to 0.1 % of itself on every face and step (plus a floor
    per backend, :data:`wfr_cvx.engine.CONSTRAINT_ATOL`); one that does not is a
    :class:`~wfr_cvx.SolverError`.

    Parameters
    ----------
    vmax : float
        Largest speed along each weight axis (weight per unit time), >= 0; 0 forbids
        transport.
    steps : sequence of int, optional
        Step indices ``0 .. n_steps - 1`` where the cap applies (all when None).
    """

    kind: ClassVar[str] = "max_velocity"
    vmax: float
    steps: tuple[int, ...] | None = None

    def __post_init__(self):
        object.__setattr__(self, "vmax", _rate(self.vmax, "vmax", "MaxVelocity"))
        if self.steps is not None:
            object.__setattr__(self, "steps", _steps(self.steps, "steps", "MaxVelocity"))

    def apply(self, plan: _Draft, grid: Grid) -> None:
        steps = _step_mask(self.steps, grid, self, "steps")
        if self.vmax == 0:
            plan.faces[steps] = False  # no flux unknowns rather than rows pinning them
        else:
            plan.velocity_caps.append((self.vmax, steps))


@dataclass(frozen=True)
class TradingWindow(Constraint):
    """No transport during ``closed_steps``; no reaction either when ``reaction=False``.

    Parameters
    ----------
    closed_steps : sequence of int
        Step indices ``0 .. n_steps - 1`` during which the market is closed.
    reaction : bool
        Whether regime re-weighting (reaction) stays open on those steps.
    """

    kind: ClassVar[str] = "trading_window"
    closed_steps: tuple[int, ...]
    reaction: bool = True

    def __post_init__(self):
        object.__setattr__(self, "closed_steps",
                           _steps(self.closed_steps, "closed_steps", "TradingWindow"))
        if not isinstance(self.reaction, (bool, np.bool_)):
            raise TypeError(f"TradingWindow: `reaction` must be a boolean, got "
                            f"{type(self.reaction).__name__}")
        object.__setattr__(self, "reaction", bool(self.reaction))

    def apply(self, plan: _Draft, grid: Grid) -> None:
        steps = _step_mask(self.closed_steps, grid, self, "closed_steps")
        plan.faces[steps] = False
        if not self.reaction:
            plan.reaction[steps] = False


@dataclass(frozen=True)
class MaxReactionRate(Constraint):
    r"""Cap ``|rate| <= rmax`` (rate = source / mean mass) on every cell and step; >= 0.

    Under a finite cap the mass :math:`M` of a regime -- or of any set of cells that
    transport cannot leave or enter (the cells a :class:`TradingWindow` or a
    ``MaxVelocity(0)`` cuts off) -- obeys :math:`|M'| \le r_{max} M`: it can be neither
    emptied nor born from nothing.  Ends where such a set holds mass at one end and none
    at the other are therefore refused (:func:`check_rate_caps_reachable`), whatever
    ``rmax``: the discrete scheme could still empty a cell in one step at rate
    :math:`4/\Delta t` (:math:`2/\Delta t` on the arithmetic mean), which would make the
    answer depend on ``n_steps``.
    """

    kind: ClassVar[str] = "max_reaction_rate"
    rmax: float

    def __post_init__(self):
        object.__setattr__(self, "rmax", _rate(self.rmax, "rmax", "MaxReactionRate"))

    def apply(self, plan: _Draft, grid: Grid) -> None:
        if self.rmax == 0:
            plan.reaction[:] = False
        else:
            plan.rate_caps.append(self.rmax)


@dataclass(frozen=True)
class TotalMass(Constraint):
    """Same total mass at every time level (the endpoints must have equal mass)."""

    kind: ClassVar[str] = "total_mass"

    def apply(self, plan: _Draft, grid: Grid) -> None:
        plan.total_mass = True


@dataclass(frozen=True)
class MaxTravel(Constraint):
    """No atom of an ensemble travels farther than ``distance`` (in the metric :math:`G`)
    per rebalance: a turnover limit (:func:`wfr_cvx.ensemble.geodesic`).

    Pairs of atoms farther apart than the cap cannot be transported: their mass is
    destroyed and re-created.  A pair up to 1e-9 (relative) beyond it counts as at the cap,
    the rounding of a distance computed from the weights.  On a grid, cap the speed
    instead (:class:`MaxVelocity`).

    Parameters
    ----------
    distance : float
        Largest :math:`G`-distance an atom may be transported, ``>= 0`` (``0``: no
        transport at all, only destruction and creation; ``inf``: no cap).

    >>> MaxTravel(0.25)
    MaxTravel(distance=0.25)
    """

    kind: ClassVar[str] = "max_travel"
    unbounded: ClassVar[tuple[str, ...]] = ("distance",)
    distance: float

    def __post_init__(self):
        value = self.distance
        if isinstance(value, (bool, np.bool_)) or not isinstance(
                value, (int, float, np.integer, np.floating)):
            raise TypeError(f"MaxTravel: `distance` must be a real number, got {value!r}")
        value = float(value)
        if np.isnan(value) or value < 0:
            raise ValueError(f"MaxTravel: `distance` must be >= 0 (inf for no cap), got "
                             f"{value}")
        object.__setattr__(self, "distance", value)

    def apply(self, plan: _Draft, grid: Grid) -> None:
        raise TypeError("MaxTravel caps how far an atom of an ensemble travels "
                        "(wfr_cvx.ensemble.geodesic); on a grid, cap the speed with "
                        "MaxVelocity")


#: The constraint classes, by problem-file kind.
CONSTRAINT_TYPES = {cls.kind: cls for cls in (MaxVelocity, TradingWindow, MaxReactionRate,
                                              TotalMass, MaxTravel)}


def from_table(table: dict) -> Constraint:
    """The constraint of a ``[[constraints]]`` table (the inverse of
    :meth:`Constraint.table`, and of the table's JSON: ``None`` in a field that takes
    ``inf``, :attr:`Constraint.unbounded`, is ``inf``, which JSON writes as ``null``);
    TypeError/ValueError name the key that is wrong.

    >>> from_table({"kind": "max_velocity", "vmax": 0.2, "steps": [4, 5]})
    MaxVelocity(vmax=0.2, steps=(4, 5))
    >>> from_table({"kind": "max_travel", "distance": None})
    MaxTravel(distance=inf)
    """
    kind = table.get("kind")
    if kind not in CONSTRAINT_TYPES:
        raise ValueError(f"`kind` must be one of {list(CONSTRAINT_TYPES)}, got {kind!r}")
    cls = CONSTRAINT_TYPES[kind]
    names = [item.name for item in fields(cls)]
    unknown = sorted(set(table) - {"kind", *names})
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} for kind {kind!r}; expected {names}")
    missing = [item.name for item in fields(cls)
               if item.name not in table and item.default is _NO_DEFAULT]
    if missing:
        raise ValueError(f"required key(s) {missing} missing for kind {kind!r}")
    values = {name: table[name] for name in names if name in table}
    for name in cls.unbounded:
        if name in values and values[name] is None:
            values[name] = float("inf")
    return cls(**values)


@dataclass
class _Draft:
    """A :class:`Plan` being built by the constraints' :meth:`~Constraint.apply`."""

    faces: np.ndarray
    reaction: np.ndarray
    velocity_caps: list = field(default_factory=list)
    rate_caps: list = field(default_factory=list)
    total_mass: bool = False


@dataclass(frozen=True)
class Plan:
    """What the backends build, per grid and constraint list.

    Attributes
    ----------
    cells : ndarray of bool, shape ``grid.shape``
        Active cells (``grid.mask``): only they have level, mean and source unknowns.
    faces : ndarray of bool, shape ``(T, *grid.face_shape)``
        Faces and steps that carry a flux unknown.
    reaction : ndarray of bool, shape ``(T,)``
        Steps with a free source; on the others the created mass is zero.
    velocity_caps : tuple of (float, ndarray of bool (T,))
        ``(vmax, steps)`` for each positive cap.
    rate_caps : tuple of float
        Positive rate caps.
    total_mass : bool
    constraints : tuple
        The constraint objects, for messages.
    """

    cells: np.ndarray
    faces: np.ndarray
    reaction: np.ndarray
    velocity_caps: tuple = ()
    rate_caps: tuple = ()
    total_mass: bool = False
    constraints: tuple = ()

    def describe(self) -> str:
        """The constraints as a readable list (for error messages)."""
        return ", ".join(repr(c) for c in self.constraints)

    def switched(self, *, transport: bool = True, reaction: bool = True) -> Plan:
        """The same plan with transport and/or reaction switched off everywhere."""
        return replace(self, faces=self.faces & bool(transport),
                       reaction=self.reaction & bool(reaction))


def _step_mask(steps, grid: Grid, owner, field_name: str) -> np.ndarray:
    out = np.zeros(grid.n_steps, dtype=bool)
    if steps is None:
        out[:] = True
        return out
    bad = [s for s in steps if s >= grid.n_steps]
    if bad:
        raise ValueError(f"{type(owner).__name__}: `{field_name}` lists step(s) {bad} out of "
                         f"range; the grid has steps 0 .. {grid.n_steps - 1}")
    out[list(steps)] = True
    return out


def constraint_items(constraints) -> tuple:
    """``constraints=`` as a tuple; TypeError unless it is a sequence (not a string)."""
    if constraints is None or isinstance(constraints, (str, bytes)):
        raise TypeError(f"`constraints` must be a sequence of constraint objects, "
                        f"got {type(constraints).__name__}")
    try:
        return tuple(constraints)
    except TypeError:
        raise TypeError(f"`constraints` must be a sequence of constraint objects, "
                        f"got {type(constraints).__name__}") from None


def check_rate_caps_reachable(plan: Plan, grid: Grid, rho0: np.ndarray,
                              rho1: np.ndarray | None, backend: str) -> None:
    """Refuse a reaction-rate cap between ends where a regime -- or a set of its cells
    that transport never joins to the rest (:func:`transport_components`) -- holds mass
    at one end and none at the other (:class:`MaxReactionRate`): an
    :class:`~wfr_cvx.errors.InfeasibleError` naming the regime and the masses."""
    if not plan.rate_caps or rho1 is None:
        return
    for regime, where, a, b in _component_masses(plan, grid, rho0, rho1):
        if (a > 0) != (b > 0):
            what = "emptied" if a > 0 else "born from nothing"
            raise InfeasibleError(
                f"MaxReactionRate(rmax={min(plan.rate_caps):g}) cannot be met: regime "
                f"{regime!r}{where()} holds mass {a:.6g} at the start and {b:.6g} at the end, "
                f"and under a finite rate cap the mass M of cells that transport cannot "
                f"reach obeys |dM/ds| <= rmax M, so it is never {what}; leave some mass "
                f"there or drop the cap", status="PrimalInfeasible", backend=backend)


#: The relative difference of the ends' total masses that TotalMass accepts as rounding.
TOTAL_MASS_RTOL = 1e-9


def check_masses_reachable(plan: Plan, grid: Grid, rho0: np.ndarray, rho1: np.ndarray,
                           backend: str) -> None:
    """Refuse ends whose regime masses differ when the constraints allow reaction on no
    step (:class:`MaxReactionRate` of 0, a :class:`TradingWindow` closing reaction on every
    step): transport keeps the mass of each regime, and of each set of its cells that it
    never joins to the rest (:func:`transport_components`), so nothing can join them.  An
    :class:`~wfr_cvx.errors.InfeasibleError` naming the regime and the masses (a relative
    difference up to 1e-12 counts as rounding)."""
    if plan.reaction.any():
        return
    for regime, where, a, b in _component_masses(plan, grid, rho0, rho1):
        if abs(a - b) > 1e-12 * max(a, b):
            raise InfeasibleError(
                f"the constraints ({plan.describe()}) allow no reaction on any step, so "
                f"transport keeps the mass of regime {regime!r}{where()}, but it holds "
                f"{a:.12g} at the start and {b:.12g} at the end", status="PrimalInfeasible",
                backend=backend)


def transport_components(plan: Plan, grid: Grid) -> np.ndarray:
    """A label per cell (``grid.shape``) of the sets of cells of one regime that transport
    joins: cells linked by a face open on some step (``plan.faces``) share a label;
    inactive cells get -1.  Mass moves between two labels only by reaction."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    from .operators import face_cells

    face, lower, upper = face_cells(grid)
    n_cells = grid.n_cells
    open_ever = plan.faces.reshape(plan.faces.shape[0], grid.n_regimes, -1).any(axis=0)
    active = plan.cells.reshape(grid.n_regimes, n_cells)
    labels = np.full((grid.n_regimes, n_cells), -1)
    first = 0
    for k in range(grid.n_regimes):
        joined = open_ever[k, face] & active[k, lower] & active[k, upper]
        links = sp.coo_matrix((np.ones(int(joined.sum())), (lower[joined], upper[joined])),
                              shape=(n_cells, n_cells))
        _, own = connected_components(links, directed=False)
        labels[k, active[k]] = first + own[active[k]]
        first = labels[k].max(initial=first - 1) + 1
    return labels.reshape(grid.shape)


def _component_masses(plan: Plan, grid: Grid, rho0: np.ndarray, rho1: np.ndarray):
    """``(regime, where, mass at start, mass at end)`` per set of cells of
    :func:`transport_components`, in order; ``where()`` describes a set that is not its
    whole regime (empty otherwise), for a message."""
    labels = transport_components(plan, grid)
    used = labels >= 0
    n = int(labels.max(initial=-1)) + 1
    m0 = np.bincount(labels[used], weights=rho0[used], minlength=n)
    m1 = np.bincount(labels[used], weights=rho1[used], minlength=n)
    for k, regime in enumerate(grid.regimes):
        own = np.unique(labels[k][labels[k] >= 0])
        for label in own:
            where = (lambda: "") if own.size == 1 else (  # built only for a message
                lambda k=k, label=label: _cut_off(plan, grid, k, labels[k] == label))
            yield regime, where, float(m0[label]), float(m1[label])


def _cut_off(plan: Plan, grid: Grid, k: int, inside: np.ndarray) -> str:
    """Where the cells ``inside`` of regime ``k`` lie, and what cuts them off: the mask
    when the mask alone makes them a set, else what closes transport (trading windows and
    zero speed caps)."""
    by_mask = transport_components(
        replace(plan, faces=np.broadcast_to(grid.face_mask, plan.faces.shape)), grid)[k]
    mask_labels = np.unique(by_mask[inside])
    if mask_labels.size == 1 and np.array_equal(by_mask == mask_labels[0], inside):
        why = f"grid.mask, {grid.n_inactive} inactive cell(s)"
    else:
        # name what closes transport on every step alone, if anything does; otherwise the
        # closures cut the set off together, each on some of the steps
        closing = [c for c in plan.constraints if isinstance(c, TradingWindow)
                   or (isinstance(c, MaxVelocity) and c.vmax == 0)]
        alone = [c for c in closing if _step_mask(
            c.closed_steps if isinstance(c, TradingWindow) else c.steps, grid, c, "").all()]
        why = "; ".join(map(repr, alone or closing))
    cells = np.argwhere(inside)
    return (f" in the {len(cells)} cell(s) from index {tuple(int(i) for i in cells[0])} "
            f"that transport cannot leave or enter ({why})")


def path_excesses(plan: Plan, path, mass_rtol: float = TOTAL_MASS_RTOL,
                  cap_rtol: float = 0.0):
    """How far a solved ``path`` (a :class:`~wfr_cvx.Geodesic` on the plan's grid) breaks
    each part of ``plan``: pairs ``(excess, what)``, ``excess`` in mass (> 0: broken by
    that much) and ``what`` a description for a message, in the order inactive cells,
    closed faces, closed reaction, velocity caps, rate caps, total mass.

    Each excess is the largest over cells, faces and steps of the mass the path moves or
    creates against the constraint in one step: mass on an inactive cell (any level),
    ``|m| dt/dx`` across a face without a flux unknown (``grid.mask``, a
    :class:`TradingWindow`, a ``MaxVelocity(0)``), ``|source| dt`` on a step without
    reaction, ``(|m| - (1 + cap_rtol) vmax rho_face) dt/dx`` and ``(|source| - (1 +
    cap_rtol) rmax rho_mean) dt`` over the caps (``cap_rtol``: the share of itself by
    which a cap may be exceeded, a tolerance relative to the mass where it applies; a
    broken cap's description names the ratio to the cap where the excess is largest); for
    :class:`TotalMass`, the largest change of the total mass from the first level beyond
    ``mass_rtol`` of it.
    """
    for excess, what, _ in _excesses(plan, path, mass_rtol, cap_rtol):
        yield excess, what


def _excesses(plan: Plan, path, mass_rtol: float, cap_rtol: float):
    """:func:`path_excesses`, each with whether it is a cap's (a velocity or rate cap)."""
    grid = path.grid
    dt, per_face = grid.dt, grid.dt / grid.dx
    inactive = ~np.asarray(plan.cells, dtype=bool)
    if inactive.any():
        held = max(float(np.abs(path.rho[:, inactive]).max()),
                   float(np.abs(path.source[:, inactive]).max()) * dt)
        yield (held, f"mass on the grid's {int(inactive.sum())} inactive cell(s) (grid.mask)",
               False)
    moved = np.abs(path.momentum) * per_face
    closed = ~np.asarray(plan.faces, dtype=bool)
    if closed.any():
        steps = np.flatnonzero(closed.reshape(grid.n_steps, -1).any(axis=1))
        yield (float(moved[closed].max()),
               f"transport across faces closed on step(s) {steps.tolist()} (grid.mask"
               f"{', ' + plan.describe() if plan.constraints else ''})", False)
    created = np.abs(path.source) * dt
    still = ~np.asarray(plan.reaction, dtype=bool)
    if still.any():
        yield (float(created[still].max()),
               f"mass created on step(s) {np.flatnonzero(still).tolist()}, where "
               f"{plan.describe()} allows no reaction", False)
    for vmax, steps in plan.velocity_caps:
        cap = vmax * path.rho_face[steps] * per_face
        over = moved[steps] - (1.0 + cap_rtol) * cap
        yield (float(over.max(initial=-np.inf)), f"a speed above the cap {vmax!r} "
               f"(MaxVelocity){_worst_ratio(moved[steps], cap, over)}", True)
    for rmax in plan.rate_caps:
        cap = rmax * path.rho_mean * dt
        over = created - (1.0 + cap_rtol) * cap
        yield (float(over.max()), f"a rate above the cap {rmax!r} "
               f"(MaxReactionRate){_worst_ratio(created, cap, over)}", True)
    if plan.total_mass:
        totals = path.rho.reshape(path.rho.shape[0], -1).sum(axis=1)
        drift = np.abs(totals - totals[0]) - mass_rtol * abs(totals[0])
        yield float(drift.max()), "a total mass that changes along the path (TotalMass)", False


def _worst_ratio(amount: np.ndarray, cap: np.ndarray, over: np.ndarray) -> str:
    """Where ``over`` is largest, ``amount`` as a multiple of ``cap`` (for a message;
    empty where nothing is over)."""
    if over.size == 0 or over.max() <= 0:
        return ""
    where = np.unravel_index(int(np.argmax(over)), over.shape)
    if cap[where] <= 0:
        return ", where the cap allows nothing"
    return f", {amount[where] / cap[where]:.3g} times the cap where it is broken most"


def plan_violation(plan: Plan, path, atol: float, mass_rtol: float = TOTAL_MASS_RTOL,
                   cap_rtol: float = 0.0, cap_atol: float | None = None) -> str | None:
    """The first part of ``plan`` that ``path`` breaks by more than ``atol`` of mass
    (:func:`path_excesses`; a cap by more than ``cap_rtol`` of itself plus ``cap_atol``,
    ``atol`` when None), described with the excess; None when it keeps them all."""
    for excess, what, is_cap in _excesses(plan, path, mass_rtol, cap_rtol):
        allowed = cap_atol if is_cap and cap_atol is not None else atol
        if excess > allowed:
            beyond = f" beyond {1.0 + cap_rtol:.6g} times the cap" if is_cap and cap_rtol else ""
            return (f"{what}: {excess:.3g} of mass in one step{beyond} (allowed "
                    f"{allowed:.3g})")
    return None


def compile_constraints(constraints, grid: Grid, rho0: np.ndarray | None = None,
                        rho1: np.ndarray | None = None) -> Plan:
    """Validate ``constraints`` against ``grid`` (and the endpoints) into a :class:`Plan`.

    Raises TypeError for an object that is not a :class:`Constraint`, ValueError for steps
    outside the grid or, with :class:`TotalMass`, endpoints of different total mass.
    """
    items = constraint_items(constraints)
    for item in items:
        if not isinstance(item, Constraint):
            raise TypeError(
                f"`constraints` holds {item!r} ({type(item).__name__}); expected objects of "
                f"wfr_cvx.constraints: {[t.__name__ for t in CONSTRAINT_TYPES.values()]}")
    draft = _Draft(faces=np.broadcast_to(grid.face_mask,
                                         (grid.n_steps, *grid.face_shape)).copy(),
                   reaction=np.ones(grid.n_steps, dtype=bool))
    for item in items:
        item.apply(draft, grid)
    if draft.total_mass and rho0 is not None and rho1 is not None:
        m0, m1 = float(np.sum(rho0)), float(np.sum(rho1))
        if abs(m0 - m1) > TOTAL_MASS_RTOL * max(m0, m1):
            raise ValueError(f"TotalMass() needs endpoints of equal total mass, but they have "
                             f"different total mass: rho0 {m0:.12g}, rho1 {m1:.12g}")
    return Plan(cells=np.array(grid.mask, dtype=bool), faces=draft.faces,
                reaction=draft.reaction, velocity_caps=tuple(draft.velocity_caps),
                rate_caps=tuple(draft.rate_caps), total_mass=draft.total_mass,
                constraints=items)
