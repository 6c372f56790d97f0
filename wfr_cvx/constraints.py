r"""Execution and position constraints on a geodesic (``constraints=`` of ``geodesic``).

Each class is a plain frozen record, validated when built; :func:`compile_constraints`
turns a list of them, the grid's mask and the backend switches into a :class:`Plan`
that both backends read: which unknowns exist, and which extra rows to add.

* :class:`MaxVelocity` ``(vmax, steps=None)``: :math:`|m| \le v_{max}\,\bar\rho_{face}`
  on every face (a trade-rate / turnover cap).  In the scaled unknowns
  ``mu = m dt / dx`` of :mod:`wfr_cvx.problem`: ``vmax dt/dx F -+ mu >= 0``, two
  non-negative rows per face and step.  ``vmax = 0`` drops the flux unknowns instead.
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
from dataclasses import dataclass, replace

import numpy as np

from .grid import Grid

__all__ = ["MaxVelocity", "TradingWindow", "MaxReactionRate", "TotalMass", "Plan",
           "compile_constraints"]


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


@dataclass(frozen=True)
class MaxVelocity:
    """Cap ``|velocity| <= vmax`` on every face, on all steps or on ``steps`` only.

    Parameters
    ----------
    vmax : float
        Largest speed (weight per unit time), >= 0; 0 forbids transport.
    steps : sequence of int, optional
        Step indices ``0 .. n_steps - 1`` where the cap applies (all when None).
    """

    vmax: float
    steps: tuple[int, ...] | None = None

    def __post_init__(self):
        object.__setattr__(self, "vmax", _rate(self.vmax, "vmax", "MaxVelocity"))
        if self.steps is not None:
            object.__setattr__(self, "steps", _steps(self.steps, "steps", "MaxVelocity"))


@dataclass(frozen=True)
class TradingWindow:
    """No transport during ``closed_steps``; no reaction either when ``reaction=False``.

    Parameters
    ----------
    closed_steps : sequence of int
        Step indices ``0 .. n_steps - 1`` during which the market is closed.
    reaction : bool
        Whether regime re-weighting (reaction) stays open on those steps.
    """

    closed_steps: tuple[int, ...]
    reaction: bool = True

    def __post_init__(self):
        object.__setattr__(self, "closed_steps",
                           _steps(self.closed_steps, "closed_steps", "TradingWindow"))
        if not isinstance(self.reaction, (bool, np.bool_)):
            raise TypeError(f"TradingWindow: `reaction` must be a bool, got "
                            f"{type(self.reaction).__name__}")
        object.__setattr__(self, "reaction", bool(self.reaction))


@dataclass(frozen=True)
class MaxReactionRate:
    """Cap ``|rate| <= rmax`` (rate = source / mean mass) on every cell and step; >= 0."""

    rmax: float

    def __post_init__(self):
        object.__setattr__(self, "rmax", _rate(self.rmax, "rmax", "MaxReactionRate"))


@dataclass(frozen=True)
class TotalMass:
    """Same total mass at every time level (the endpoints must have equal mass)."""


CONSTRAINT_TYPES = (MaxVelocity, TradingWindow, MaxReactionRate, TotalMass)


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


def _step_mask(steps, grid: Grid, owner) -> np.ndarray:
    out = np.zeros(grid.n_steps, dtype=bool)
    if steps is None:
        out[:] = True
        return out
    bad = [s for s in steps if s >= grid.n_steps]
    if bad:
        raise ValueError(f"`constraints`: {owner!r} lists step(s) {bad} out of range; the "
                         f"grid has steps 0 .. {grid.n_steps - 1}")
    out[list(steps)] = True
    return out


def compile_constraints(constraints, grid: Grid, rho0: np.ndarray | None = None,
                        rho1: np.ndarray | None = None, *, transport: bool = True,
                        reaction: bool = True) -> Plan:
    """Validate ``constraints`` against ``grid`` (and the endpoints) into a :class:`Plan`.

    ``transport`` / ``reaction`` False switch a mechanism off everywhere (as in
    :func:`wfr_cvx.problem.assemble`).  Raises TypeError for an object that is not one
    of the constraint classes, ValueError for steps outside the grid or, with
    :class:`TotalMass`, endpoints of different total mass.  A :class:`Plan` (already
    compiled) is returned with the switches applied.
    """
    if isinstance(constraints, Plan):
        return replace(constraints, faces=constraints.faces & bool(transport),
                       reaction=constraints.reaction & bool(reaction))
    if constraints is None or isinstance(constraints, (str, bytes)):
        raise TypeError(f"`constraints` must be a sequence of constraint objects, "
                        f"got {type(constraints).__name__}")
    try:
        items = tuple(constraints)
    except TypeError:
        raise TypeError(f"`constraints` must be a sequence of constraint objects, "
                        f"got {type(constraints).__name__}") from None
    for item in items:
        if not isinstance(item, CONSTRAINT_TYPES):
            raise TypeError(
                f"`constraints` holds {item!r} ({type(item).__name__}); expected objects of "
                f"wfr_cvx.constraints: {[t.__name__ for t in CONSTRAINT_TYPES]}")
    T = grid.n_steps
    cells = np.array(grid.mask, dtype=bool)
    faces = np.broadcast_to(grid.face_mask, (T, *grid.face_shape)).copy()
    if not transport:
        faces[:] = False
    reacting = np.full(T, bool(reaction))
    velocity_caps, rate_caps, total_mass = [], [], False
    for item in items:
        if isinstance(item, MaxVelocity):
            steps = _step_mask(item.steps, grid, item)
            if item.vmax == 0:
                faces[steps] = False
            else:
                velocity_caps.append((item.vmax, steps))
        elif isinstance(item, TradingWindow):
            steps = _step_mask(item.closed_steps, grid, item)
            faces[steps] = False
            if not item.reaction:
                reacting[steps] = False
        elif isinstance(item, MaxReactionRate):
            if item.rmax == 0:
                reacting[:] = False
            else:
                rate_caps.append(item.rmax)
        else:  # TotalMass
            total_mass = True
    if total_mass and rho0 is not None and rho1 is not None:
        m0, m1 = float(np.sum(rho0)), float(np.sum(rho1))
        if abs(m0 - m1) > 1e-9 * max(m0, m1):
            raise ValueError(f"`constraints` holds TotalMass() but the endpoints have "
                             f"different total mass: rho0 {m0:.12g}, rho1 {m1:.12g}")
    return Plan(cells=cells, faces=faces, reaction=reacting,
                velocity_caps=tuple(velocity_caps), rate_caps=tuple(rate_caps),
                total_mass=total_mass, constraints=items)
