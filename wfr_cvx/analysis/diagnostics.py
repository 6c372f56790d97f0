r"""Diagnostics of a solved path: the WFR consistency gate, its certificate, the
stress-energy tensor and the transport / reaction split per step.

These are the WFR consistency check of a rebalancing path (the continuity equation in
cone space, "Gate41", with its certificate) and the WFR stress-energy tensor, computed on
the staggered grid of :mod:`wfr_cvx.grid` in the engine's units: ``rho`` are cell
**masses** on the time levels, ``m`` (momentum, mass x velocity) lives on the interior
faces and ``zeta = rho_mean * r`` (source, mass per unit time) on the cells, one of each
per step, and

.. math::  (\rho_{t+1} - \rho_t)/\Delta t + (\operatorname{div} m)_t = \zeta_t,
           \qquad (\operatorname{div} m)_i = (m_i - m_{i-1})/\Delta x

with no flux through the two boundary faces (:func:`wfr_cvx.operators.make_divergence`).

Consistency loss (cone space).  With :math:`u = \sqrt\rho`, the unbalanced continuity
equation reads :math:`\partial_s u = (\zeta - \operatorname{div} m) / (2u)`.  Its explicit
discretisation divides by :math:`\sqrt{\rho_t}`.  That form is only first-order
consistent: on a path that satisfies the discrete continuity equation *exactly* its residual
is :math:`-(\sqrt{\rho_{t+1}} - \sqrt{\rho_t})^2 / (2\sqrt{\rho_t})` (O(step^2) per step),
and it is undefined wherever mass is created in an empty cell (a regime that starts empty).
On the test problem of ``tests/test_diagnostics.py`` (32 cells, 8 steps, a regime switch)
the explicit form (``form="forward"``) gives 4.3e-3 of the total mass on the solver's own
path, so a gate at 1e-8 would reject the engine's exact solutions.  We use the
**time-centred** form

.. math::

    e_t = \sqrt{\rho_{t+1}} - \sqrt{\rho_t}
          - \frac{\Delta t}{2\bar u_t}\,(\zeta_t - \operatorname{div} m_t),
    \qquad \bar u_t = \tfrac12(\sqrt{\rho_t} + \sqrt{\rho_{t+1}}),

    \mathcal L_{\mathrm{WFR}} = \sum_{t, k, i} e_{t,k,i}^2 .

Because :math:`(\sqrt b - \sqrt a)(\sqrt a + \sqrt b) = b - a`,

.. math::  e_t = \frac{\rho_{t+1} - \rho_t - \Delta t\,(\zeta_t - \operatorname{div} m_t)}
                      {\sqrt{\rho_t} + \sqrt{\rho_{t+1}}}
               = -\frac{\Delta t\, R_t}{2\bar u_t},

with :math:`R_t` the continuity residual: the loss vanishes exactly on paths that satisfy the
discrete continuity equation (the solver's own paths give ~1e-32), and any violation is
weighed in cone space, i.e. relative to :math:`\sqrt\rho`.  Its denominator is the reaction time
mean of the schemes ``"centred"`` (the default) and ``"power"``: :math:`\bar u_t^2 =
M_{1/2}(\rho_t, \rho_{t+1})` (:mod:`wfr_cvx.assembly`).  With cell masses, a sum over
cells of squared :math:`\sqrt{\text{mass}}` differences is the :math:`L^2` norm of
:math:`\sqrt{\text{density}}` over the weight axis, so :math:`\mathcal L` is in mass units;
it is summed (not averaged) over steps and regimes.

Empty cells.  The quotient form is evaluated, not the difference of square roots, so a cell
with :math:`\rho_t = 0` but :math:`\rho_{t+1} > 0` (mass born in an empty cell) needs no
care.  Where both levels are (nearly) empty the cone-space derivative is singular: a
mismatch :math:`\delta = \Delta t R_t` of mass in an empty cell is a jump of
:math:`\sqrt{|\delta|}` in cone space, not a small slope.  The denominator is therefore
bounded below by :math:`\sqrt{|\delta|}`,

.. math::  e_t = \frac{\delta_t}{\max\big(\sqrt{\rho_t} + \sqrt{\rho_{t+1}},\
                                          \sqrt{|\delta_t|}\big)},
           \qquad e_t^2 = \min\Big(\frac{\delta_t^2}{(\sqrt{\rho_t}+\sqrt{\rho_{t+1}})^2},\
                                   |\delta_t|\Big),

which is the formula above whenever :math:`|\delta_t| \le (\sqrt{\rho_t} +
\sqrt{\rho_{t+1}})^2` (in particular whenever the mismatch is at most the cell's mass:
every cell where the residual is a perturbation), and in an empty cell is
:math:`|\delta_t|`: the squared cone distance between the empty level and the mass the
momentum and source claim to move in or out.  Nothing is dropped, no floor parameter
enters, the term is continuous in the data and never exceeds :math:`|\delta_t|` — so
round-off in the solver's clipped (zero) masses counts for no more than its size in mass.

References
----------
Chizat, Peyré, Schmitzer & Vialard, "An interpolating distance between optimal transport
and Fisher-Rao metrics", Found. Comput. Math. 18 (2018) — the cone-space (u = sqrt(rho))
representation.  Liero, Mielke & Savaré, "Optimal entropy-transport problems and a new
Hellinger-Kantorovich distance", Invent. Math. 211 (2018).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..grid import Grid
from ..metric import face_weights, is_cell_metric
from ..operators import make_divergence, make_face_average
from ..result import Geodesic

__all__ = [
    "FORMS",
    "RATE_FLOOR",
    "Certificate",
    "StressEnergy",
    "certificate",
    "consistency_loss",
    "consistency_loss_terms",
    "cost_per_step",
    "stress_energy",
]

FORMS = ("centred", "forward")

#: Cells whose mean level is at most this times the mean cell mass of the heavier end
#: have no rate in :attr:`Certificate.mass_error` (see there).
RATE_FLOOR = 1e-6


# ------------------------------------------------------------------------- validation
def _check_geodesic(geodesic) -> Geodesic:
    if not isinstance(geodesic, Geodesic):
        raise TypeError(f"`geodesic` must be a wfr_cvx.Geodesic, got {type(geodesic).__name__}")
    return geodesic


def _finite_array(value, name: str, shape: tuple) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be an array of numbers, got {type(value).__name__}"
                        ) from None
    if arr.shape != shape:
        raise ValueError(f"`{name}` must have shape {shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` has {int(arr.size - np.count_nonzero(np.isfinite(arr)))} "
                         "non-finite (NaN or inf) value(s)")
    return np.ascontiguousarray(arr)


def _nonnegative(arr: np.ndarray, name: str) -> np.ndarray:
    if np.any(arr < 0):
        raise ValueError(f"`{name}` has {int(np.count_nonzero(arr < 0))} negative mass(es); "
                         f"minimum {arr.min():.3g}")
    return arr


def _heavier_end(geodesic: Geodesic) -> float:
    """Total mass of the heavier end allocation (the scale of every relative figure)."""
    return float(max(geodesic.rho[0].sum(), geodesic.rho[-1].sum()))


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den``; ``inf`` where only ``den`` is 0, ``nan`` where both are."""
    num, den = np.broadcast_arrays(np.asarray(num, dtype=float), np.asarray(den, dtype=float))
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    out[(den <= 0) & (num > 0)] = np.inf
    return out


# ------------------------------------------------------------------- consistency gate
def consistency_loss_terms(rho_t, rho_t1, momentum, source, grid: Grid, *,
                           form: str = "centred") -> np.ndarray:
    r"""Per-cell terms :math:`e^2` of the cone-space WFR consistency loss.

    With :math:`\delta = \rho_{t+1} - \rho_t - \Delta t\,(\zeta_t - \operatorname{div} m_t)`
    (``dt`` times the continuity residual), ``form="centred"`` (default) evaluates, per
    cell, regime and step (derivation and empty cells: see the module docstring)

    .. math::

        e^2 = \Big(\frac{\delta}{\max(\sqrt{\rho_t} + \sqrt{\rho_{t+1}},\ \sqrt{|\delta|})}
              \Big)^2,

    equal to :math:`(\sqrt{\rho_{t+1}} - \sqrt{\rho_t} - \tfrac{\Delta t}{2\bar u}
    (\zeta - \operatorname{div} m))^2` with :math:`\bar u = (\sqrt{\rho_t} +
    \sqrt{\rho_{t+1}})/2` whenever :math:`|\delta| \le (2\bar u)^2`, and 0 on any path that
    satisfies the discrete continuity equation.  ``form="forward"`` is the reference's
    explicit form, kept to compare with it:
    :math:`(\sqrt{\rho_{t+1}} - \sqrt{\rho_t} - p / \max(2\sqrt{\rho_t}, \sqrt{|p|}))^2` with
    :math:`p = \Delta t(\zeta - \operatorname{div} m)` the predicted change (the same lower
    bound on the denominator); it is only first-order consistent.

    Parameters
    ----------
    rho_t, rho_t1 : array_like, shape ``(..., n_regimes, n_weights)``
        Cell masses at the start and the end of each step (non-negative); any leading
        batch shape, e.g. ``(n_steps,)`` for ``geodesic.rho[:-1]`` and ``geodesic.rho[1:]``.
    momentum : array_like, shape ``(..., n_regimes, n_weights - 1)``
        Mass x velocity on the interior faces, one per step.
    source : array_like, shape like ``rho_t``
        Mass created per unit time in each cell, one per step.
    grid : Grid
        Gives ``dt`` and ``dx``; the divergence is :func:`wfr_cvx.operators.make_divergence`.
    form : {"centred", "forward"}

    Returns
    -------
    ndarray, shape like ``source``
        The non-negative terms, in mass units; :func:`consistency_loss` is their sum.

    Raises
    ------
    ValueError
        Shapes unlike the grid, negative or non-finite masses, or a bad ``form``, naming
        the argument.

    Examples
    --------
    One cell pair, one step: 0.3 of mass flows right at momentum 0.3 / (dt / dx).

    >>> import numpy as np
    >>> from wfr_cvx import Grid
    >>> g = Grid(2, 1)
    >>> rho_t, rho_t1 = np.array([[1.0, 0.0]]), np.array([[0.7, 0.3]])
    >>> m = np.array([[0.3 * g.dx / g.dt]])
    >>> bool(consistency_loss_terms(rho_t, rho_t1, m, np.zeros((1, 2)), g).max() < 1e-30)
    True
    >>> bad = consistency_loss_terms(rho_t, rho_t1, 2 * m, np.zeros((1, 2)), g)
    >>> np.round(bad, 4)                  # 0.3 of mass unaccounted for in each cell
    array([[0.0267, 0.3   ]])
    """
    if not isinstance(grid, Grid):
        raise TypeError(f"`grid` must be a wfr_cvx.Grid, got {type(grid).__name__}")
    if form not in FORMS:
        raise ValueError(f"`form` must be one of {FORMS}, got {form!r}")
    cells, nd = np.shape(rho_t), len(grid.shape)
    if len(cells) < nd or cells[len(cells) - nd:] != grid.shape:
        raise ValueError(f"`rho_t` must have shape (..., {', '.join(map(str, grid.shape))}) "
                         f"like the grid, got {cells}")
    faces = (*cells[:len(cells) - nd], *grid.face_shape)
    a = _nonnegative(_finite_array(rho_t, "rho_t", cells), "rho_t")
    b = _nonnegative(_finite_array(rho_t1, "rho_t1", cells), "rho_t1")
    m = _finite_array(momentum, "momentum", faces)
    zeta = _finite_array(source, "source", cells)

    div = make_divergence(grid)(m, np.empty(cells))
    predicted = grid.dt * (zeta - div)  # the change the continuity equation predicts
    if form == "forward":
        den = np.maximum(2.0 * np.sqrt(a), np.sqrt(np.abs(predicted)))
        slope = np.divide(predicted, den, out=np.zeros(cells), where=den > 0)
        return (np.sqrt(b) - np.sqrt(a) - slope) ** 2
    mismatch = b - a - predicted  # dt times the continuity residual
    den = np.maximum(np.sqrt(a) + np.sqrt(b), np.sqrt(np.abs(mismatch)))
    return np.divide(mismatch, den, out=np.zeros(cells), where=den > 0) ** 2


def consistency_loss(geodesic: Geodesic, *, relative: bool = False,
                     form: str = "centred") -> float:
    r"""The WFR consistency loss :math:`\mathcal L_{\mathrm{WFR}}` of a path (mass units).

    The sum of :func:`consistency_loss_terms` over steps, regimes and cells, evaluated on
    ``geodesic.rho``, ``momentum`` and ``source``.  ``relative=True`` divides by the total
    mass of the heavier end allocation (0 for an empty path).

    On the solver's own paths the centred loss is round-off (about 1e-32 relative on the
    test problems): the discrete continuity equation holds by construction.  Adding
    Gaussian noise of 1e-3 of the largest momentum to the momentum gives 1.9e-2 relative,
    mostly from mass pushed into empty cells; multiplying the momentum by
    :math:`1 + 10^{-3}\xi` (the same :math:`\xi`) gives 3.3e-7 (see
    ``tests/test_diagnostics.py``).

    Examples
    --------
    >>> import wfr_cvx
    >>> g = wfr_cvx.Grid(16, 4, regimes=2)
    >>> geo = wfr_cvx.geodesic(g.bump(0.3, 0.1, 0), g.bump(0.6, 0.1, 1), g, lam=0.3)
    >>> consistency_loss(geo, relative=True) < 1e-8
    True
    """
    geo = _check_geodesic(geodesic)
    # named here: the terms' own checks would name their arguments rho_t and rho_t1
    _nonnegative(_finite_array(geo.rho, "geodesic.rho", np.shape(geo.rho)), "geodesic.rho")
    terms = consistency_loss_terms(geo.rho[:-1], geo.rho[1:], geo.momentum, geo.source,
                                   geo.grid, form=form)
    loss = float(terms.sum())
    if not relative:
        return loss
    return float(_ratio(loss, _heavier_end(geo))) if loss > 0 else 0.0


# ------------------------------------------------------------------------ certificate
class Certificate:
    r"""The Gate41 certificate :math:`K^+_{41} = (\mathcal L, \|v\|_{avg}, |r|_{avg},
    \text{mass error})` of a path, with the transport/reaction ratio and the verdict.

    Attributes
    ----------
    loss : float
        :math:`\mathcal L_{\mathrm{WFR}}` (mass units), :func:`consistency_loss`.
    relative_loss : float
        ``loss / total_mass`` (0 for an empty path with zero loss).
    tol : float
        Tolerance on ``relative_loss``.
    passed : bool
        ``loss <= tol * total_mass`` (predicate :math:`P_{41}`) and ``off_mask <= tol *
        total_mass``.
    off_mask : float
        Mass outside ``grid.mask``: the most any level holds on inactive cells plus the
        mass carried through faces that cannot carry flux (``grid.face_mask`` False),
        :math:`\sum \Delta t\,|m| / \Delta x`.  0 on the solvers' paths, whose unknowns
        live on the active cells and open faces only.
    mean_speed : float
        Mass-weighted mean of :math:`\|v\|_G = \sqrt{G}\,|v|` over the faces that can carry
        flux (``grid.face_mask``) and the steps, weights ``rho_face`` (the transport
        cost's mass):
        :math:`\sum \rho_f \sqrt G |v| / \sum \rho_f` (0 without mass).  On a 2-D grid
        each face carries one axis's component :math:`\sqrt{G_{aa}}|v_a|`, so this is the
        mean of the components (a diagonal move :math:`v = (u, u)` with :math:`G = I`
        reads :math:`u`; its speed is :math:`\sqrt 2\,u`), not of the 2-D speed.
    mean_rate : float
        Mass-weighted mean of :math:`|r|` over cells and steps, weights ``rho_mean``.
    mass_error : float
        The reference's :math:`|\sum\rho_{t+1} - \sum\rho_t e^{r\Delta t}|` summed over
        the steps (a bound on the drift of the end mass), with ``r`` each cell's rate of
        that step: :math:`\sum_t |\sum_{k,i}\rho_{t+1,k,i} - \sum_{k,i}\rho_{t,k,i}
        e^{r_{t,k,i}\Delta t}|`.  It measures the multiplicative reaction model of the
        reference, not the engine's scheme: it is O(step^2) where mass grows or shrinks
        smoothly, and it contains all mass created in cells that start a step empty
        (:math:`0 \cdot e^{r\Delta t} = 0`).  Cells whose mean level ``rho_mean`` is at
        most :data:`RATE_FLOOR` times the mean cell mass of the heavier end count as empty
        there: their rate is the ratio of two numbers at the solvers' resolution (on
        SCS's and dr's paths it reached :math:`r\Delta t = 90`, and :math:`e^{r\Delta
        t}` overflowed), and together they hold at most ``RATE_FLOOR * total_mass``.
    mass_error_per_step : ndarray, shape (n_steps,)
    transport_reaction_ratio : float
        :math:`\int\!\!\int\|v\|_G^2 d\rho\,ds / \int\!\!\int\lambda^2 r^2 d\rho\,ds`
        = ``transport_cost / reaction_cost``; ``inf`` without reaction, ``nan`` for a path
        with neither.
    total_mass : float
        Total mass of the heavier end allocation.
    """

    def __init__(self, *, loss: float, tol: float, total_mass: float, off_mask: float,
                 mean_speed: float,
                 mean_rate: float, mass_error_per_step: np.ndarray,
                 transport_reaction_ratio: float):
        self.loss = float(loss)
        self.tol = float(tol)
        self.total_mass = float(total_mass)
        self.relative_loss = float(_ratio(self.loss, self.total_mass)) if self.loss > 0 else 0.0
        self.off_mask = float(off_mask)
        self.passed = bool(self.loss <= self.tol * self.total_mass
                           and self.off_mask <= self.tol * self.total_mass)
        self.mean_speed = float(mean_speed)
        self.mean_rate = float(mean_rate)
        self.mass_error_per_step = mass_error_per_step
        self.mass_error = float(np.sum(mass_error_per_step))
        self.transport_reaction_ratio = float(transport_reaction_ratio)

    def __repr__(self) -> str:
        return (
            f"Certificate(passed={self.passed}, loss={self.loss:.3g}, "
            f"relative_loss={self.relative_loss:.3g}, tol={self.tol:g}, "
            f"off_mask={self.off_mask:.3g}, "
            f"mean_speed={self.mean_speed:.6g}, mean_rate={self.mean_rate:.6g}, "
            f"mass_error={self.mass_error:.3g}, "
            f"transport_reaction_ratio={self.transport_reaction_ratio:.6g})"
        )


def _off_mask(geo: Geodesic) -> float:
    """Mass outside ``grid.mask``: the most any level holds on inactive cells, plus the
    mass carried through faces that cannot carry flux (``dt |m| / dx`` per face and
    step)."""
    grid = geo.grid
    inactive = ~grid.mask
    held = float(geo.rho[:, inactive].sum(axis=-1).max()) if inactive.any() else 0.0
    closed = ~grid.face_mask
    carried = grid.dt / grid.dx * float(np.abs(geo.momentum[:, closed]).sum())
    return held + carried


def _weighted_mean(values: np.ndarray, weights: np.ndarray) -> float:
    total = float(weights.sum())
    return float(np.sum(weights * values) / total) if total > 0 else 0.0


def certificate(geodesic: Geodesic, tol: float = 1e-8) -> Certificate:
    r"""Run the WFR consistency gate (Gate41) on a path and return its certificate.

    Parameters
    ----------
    geodesic : Geodesic
    tol : float, default 1e-8
        Tolerance on the loss *relative to the total mass* of the heavier end allocation:
        the gate passes when ``loss <= tol * total_mass`` (so the verdict does not depend on
        the unit of mass; ``loss`` is in mass units).

    Returns
    -------
    Certificate

    Examples
    --------
    >>> import wfr_cvx
    >>> g = wfr_cvx.Grid(16, 4, regimes=2)
    >>> geo = wfr_cvx.geodesic(g.bump(0.3, 0.1, 0), g.bump(0.6, 0.1, 1), g, lam=0.3)
    >>> cert = certificate(geo)
    >>> cert.passed, cert.transport_reaction_ratio < 1   # a regime switch: mostly reaction
    (True, True)
    """
    geo = _check_geodesic(geodesic)
    if isinstance(tol, (bool, str, bytes)):
        raise TypeError(f"`tol` must be a real number, got {tol!r}")
    try:
        tol = float(tol)
    except (TypeError, ValueError):
        raise TypeError(f"`tol` must be a real number, got {tol!r}") from None
    if not np.isfinite(tol) or tol < 0:
        raise ValueError(f"`tol` must be finite and >= 0, got {tol}")
    grid = geo.grid
    along_faces = face_weights(geo.metric, grid)
    speed = np.sqrt(np.broadcast_to(along_faces, geo.velocity.shape)) * np.abs(geo.velocity)
    # faces beside an inactive cell carry no flux, though the scheme's rho_face is not 0
    # there: they are not part of the transport cost, so not of its mean
    open_faces = np.where(grid.face_mask, geo.rho_face, 0.0)
    T = grid.n_steps
    total_mass = _heavier_end(geo)
    rate_floor = RATE_FLOOR * total_mass / geo.rho[0].size
    rated = geo.rho_mean > rate_floor
    grown = np.where(rated, geo.rho[:-1] * np.exp(np.where(rated, geo.rate, 0.0) * grid.dt),
                     0.0)
    mass_error = np.abs(geo.rho[1:].reshape(T, -1).sum(1) - grown.reshape(T, -1).sum(1))
    return Certificate(
        loss=consistency_loss(geo),
        tol=tol,
        total_mass=total_mass,
        off_mask=_off_mask(geo),
        mean_speed=_weighted_mean(speed, open_faces),
        mean_rate=_weighted_mean(np.abs(geo.rate), geo.rho_mean),
        mass_error_per_step=mass_error,
        transport_reaction_ratio=float(_ratio(geo.transport_cost, geo.reaction_cost)),
    )


def action_per_step(rho, momentum, source, grid: Grid, *, lam: float, metric,
                    scheme: str, floor: float = 0.0,
                    per_regime: bool = False) -> tuple[np.ndarray, np.ndarray]:
    r"""The discrete action of a path step by step, as ``scheme`` charges it
    (:mod:`wfr_cvx.assembly`), evaluated on its arrays: ``(transport, reaction)``, each of
    shape ``(n_steps,)``, or ``(n_steps, n_regimes)`` with ``per_regime=True``.

    With :math:`M_1` and :math:`M_{1/2}` the arithmetic and power time means of each step's
    two levels of ``rho`` (:func:`wfr_cvx.engine.level_means`): reaction
    :math:`\Delta t\,\lambda^2\sum_{cells}\zeta^2/M_r`; transport per face
    :math:`\Delta t\sum_{faces} G m^2/\bar M_t` on the staggered schemes with face weights
    ``G``, or per cell :math:`\Delta t\sum_{cells}|\bar u|^2/M_t` on the momentum averaged
    to the centre (the ``"centred"`` scheme, :math:`\bar u_a` the mean of
    :math:`\sqrt{G}m` on the cell's two faces of axis ``a``; an off-diagonal metric,
    :math:`\bar m^\top G\bar m`), with :math:`M_r, M_t` the scheme's reaction and
    transport means and :math:`\bar M_t` its face average.  A term whose mean is 0
    counts 0 (the cones hold nothing to move there).

    A solve's ``transport_per_step`` and ``reaction_per_step`` are its epigraph variables,
    which meet these sums to the solver's accuracy; a rolled-out path
    (:meth:`~wfr_cvx.analysis.learn.RolledPath.as_geodesic`) is priced by them.
    """
    from ..assembly import SCHEMES
    from ..engine import time_means

    transport_mean, reaction_mean, charged_at = SCHEMES[scheme]
    means = time_means(rho)
    first = 2 if per_regime else 1  # axis 1 is the regime's
    cell_axes = tuple(range(first, means[reaction_mean].ndim))
    reaction = grid.dt * lam**2 * np.sum(_quotient(np.square(source), means[reaction_mean], floor),
                                         axis=cell_axes)
    momentum = np.asarray(momentum, dtype=float)
    if is_cell_metric(metric) or charged_at == "cells":
        if is_cell_metric(metric):
            centred = np.moveaxis(0.5 * (momentum + _lower_faces(momentum)), 2, -1)
            quadratic = np.einsum("t...i,...ij,t...j->t...", centred, metric, centred)
        else:
            weighted = np.sqrt(np.broadcast_to(metric, momentum.shape[1:])) * momentum
            if grid.dims == 1:
                quadratic = _faces_to_cells(weighted, "zero") ** 2
            else:
                quadratic = np.sum((0.5 * (weighted + _lower_faces(weighted))) ** 2, axis=2)
        transport = grid.dt * np.sum(_quotient(quadratic, means[transport_mean], floor),
                                     axis=cell_axes)
    else:
        face = make_face_average(grid)(np.ascontiguousarray(means[transport_mean]),
                                       np.empty(momentum.shape))
        transport = grid.dt * np.sum(_quotient(metric * np.square(momentum), face, floor),
                                     axis=tuple(range(first, momentum.ndim)))
    return transport, reaction


def _quotient(num: np.ndarray, den: np.ndarray, floor: float) -> np.ndarray:
    """``num / den`` where ``den > floor``, 0 elsewhere."""
    return np.divide(num, den, out=np.zeros(np.broadcast_shapes(num.shape, den.shape)),
                     where=den > floor)


def cost_per_step(geodesic: Geodesic) -> pd.DataFrame:
    r"""Transport and reaction cost of each step, and their ratio.

    Returns
    -------
    DataFrame
        Index ``time``: the step midpoints :math:`(k + 1/2)\,\Delta t`; columns
        ``transport`` (the scheme's transport charge of the step: :math:`\Delta t\sum
        G m^2/\rho_{face}` per face on the staggered schemes, :math:`\Delta t\sum
        |\bar u|^2/\bar\rho` per cell on the momentum averaged to the centre on
        ``"centred"`` and with an off-diagonal metric; :mod:`wfr_cvx.assembly`),
        ``reaction`` (:math:`\Delta t\,\lambda^2\sum\zeta^2/\bar\rho`) and ``ratio``
        (``transport / reaction``; ``inf`` without reaction, ``nan`` with neither).  The
        columns sum to ``geodesic.transport_cost`` and ``geodesic.reaction_cost``.

    Examples
    --------
    >>> import wfr_cvx
    >>> g = wfr_cvx.Grid(16, 4)
    >>> geo = wfr_cvx.geodesic(g.bump(0.3, 0.1), g.bump(0.6, 0.1), g, lam=1.0)
    >>> table = cost_per_step(geo)
    >>> list(table.columns), table.index.name, len(table)
    (['transport', 'reaction', 'ratio'], 'time', 4)
    >>> bool(abs(table["transport"].sum() - geo.transport_cost) < 1e-12)
    True
    """
    geo = _check_geodesic(geodesic)
    grid = geo.grid
    transport = np.asarray(geo.transport_per_step, dtype=float)
    reaction = np.asarray(geo.reaction_per_step, dtype=float)
    midpoints = (np.arange(grid.n_steps) + 0.5) * grid.dt
    return pd.DataFrame(
        {"transport": transport, "reaction": reaction, "ratio": _ratio(transport, reaction)},
        index=pd.Index(midpoints, name="time"),
    )


# ----------------------------------------------------------------- stress-energy tensor
class StressEnergy:
    r"""The WFR stress-energy tensor of a path, per step and cell.

    ``cells`` below is ``(n_weights,)`` on a 1-D grid and ``(n, n)`` on a simplex grid;
    ``d`` is the number of weight axes (1 or 2).

    Attributes
    ----------
    tensor : ndarray, shape ``(n_steps, n_regimes, *cells, d, d)``
        :math:`T_{ij} = \rho\,v_i v_j + P\,G_{ij}` with :math:`v_i = G_{ij}v^j` the
        velocity with its index lowered by the metric.
    pressure : ndarray, shape ``(n_steps, n_regimes, *cells)``
        :math:`P = \tfrac12\rho(\|v\|_G^2 + \lambda^2 r^2)`.
    reaction_pressure : ndarray, shape like ``pressure``
        :math:`P_{react} = \tfrac12\lambda^2\rho r^2`.
    density : ndarray, shape like ``pressure``
        The mass :math:`\rho` used: ``geodesic.rho_mean``, the step's time mean.
    velocity : ndarray, shape ``(n_steps, n_regimes, *cells, d)``
        :math:`v^i` at the cell centres.
    metric : ndarray, shape ``(n_regimes, *cells, d, d)``
        :math:`G_{ij}` at the cell centres.
    """

    def __init__(self, *, tensor, pressure, reaction_pressure, density, velocity, metric):
        self.tensor = tensor
        self.pressure = pressure
        self.reaction_pressure = reaction_pressure
        self.density = density
        self.velocity = velocity
        self.metric = metric

    @property
    def kinetic_pressure(self) -> np.ndarray:
        r""":math:`\tfrac12\rho\|v\|_G^2 = P - P_{react}`."""
        return self.pressure - self.reaction_pressure

    def __repr__(self) -> str:
        return (f"StressEnergy(shape={self.tensor.shape}, "
                f"max_pressure={float(self.pressure.max(initial=0.0)):.6g}, "
                f"max_reaction_pressure={float(self.reaction_pressure.max(initial=0.0)):.6g})")


def _faces_to_cells(faces: np.ndarray, boundary: str) -> np.ndarray:
    """Mean of the two faces beside each cell; at the two end cells either ``"zero"``
    (the boundary face carries 0, as velocities do) or ``"one-sided"`` (the single
    interior face's value, as for the metric)."""
    n = faces.shape[-1] + 1
    padded = np.zeros((*faces.shape[:-1], n + 1))
    padded[..., 1:n] = faces
    if boundary == "one-sided":
        padded[..., 0] = faces[..., 0]
        padded[..., n] = faces[..., -1]
    return 0.5 * (padded[..., :-1] + padded[..., 1:])


def _lower_faces(faces: np.ndarray) -> np.ndarray:
    """The padded 2-D face array ``(..., 2, n, n)`` read at each cell's ``-a`` face (the
    ``+a`` face of the previous cell along axis ``a``; 0 before the first cell)."""
    out = np.zeros_like(faces)
    out[..., 0, 1:, :] = faces[..., 0, :-1, :]
    out[..., 1, :, 1:] = faces[..., 1, :, :-1]
    return out


def _cells_2d(geo: Geodesic) -> tuple[np.ndarray, np.ndarray]:
    """Velocity ``(T, K, n, n, 2)`` and metric ``(K, n, n, 2, 2)`` at the cell centres of a
    simplex grid: per axis the mean of the cell's two faces, faces that cannot carry flux
    (``grid.face_mask``: the axis' ends, inactive neighbours) counting as 0 for the
    velocity; for diagonal (face) metrics the mean of the cell's existing faces (one
    face where there is one, the stored value where there is none)."""
    grid = geo.grid
    exists = grid.face_mask  # (K, 2, n, n)
    v_up = np.where(exists, geo.velocity, 0.0)
    velocity = np.moveaxis(0.5 * (v_up + _lower_faces(v_up)), 2, -1)
    if is_cell_metric(geo.metric):
        return velocity, np.asarray(geo.metric, dtype=float)
    faces = np.broadcast_to(np.asarray(geo.metric, dtype=float), grid.face_shape)
    count = exists.astype(float) + _lower_faces(exists.astype(float))
    total = np.where(exists, faces, 0.0) + _lower_faces(np.where(exists, faces, 0.0))
    diagonal = np.divide(total, count, out=faces.copy(), where=count > 0)
    metric = np.moveaxis(diagonal, 1, -1)[..., None] * np.eye(2)  # (K, n, n, 2, 2)
    return velocity, metric


def stress_energy(geodesic: Geodesic) -> StressEnergy:
    r"""The stress-energy tensor :math:`T_{ij} = \rho v_i v_j + P G_{ij}` of a path.

    From the reference ("WFR Stress-Energy Tensor"): varying the Lagrangian
    :math:`\mathcal L = \tfrac12\rho(G_{ij}v^iv^j + \lambda^2 r^2)` with respect to the
    inverse metric at fixed :math:`(\rho, v, r)`, with :math:`\delta G_{ab}/\delta G^{ij}
    = -G_{ai}G_{bj}` and :math:`\delta\sqrt{|G|}/\delta G^{ij} = -\tfrac12\sqrt{|G|}G_{ij}`,

    .. math::

        T_{ij} = -\frac{2}{\sqrt{|G|}}\frac{\delta(\sqrt{|G|}\mathcal L)}{\delta G^{ij}}
               = \rho\,v_i v_j + P\,G_{ij},\qquad
        P = \tfrac12\rho\,(\|v\|_G^2 + \lambda^2 r^2),\quad v_i = G_{ij}v^j,

    so :math:`G^{ij}T_{ij} = \rho\|v\|_G^2 + d\,P`, and
    :math:`P_{react} = \tfrac12\lambda^2\rho r^2` is the part of :math:`P` due to regime
    switching.  In 1-D, :math:`T = \rho G^2 v^2 + P G` and :math:`\|v\|_G^2 = G v^2`; on a
    simplex grid :math:`T` is a symmetric 2 x 2 tensor per cell.

    Discretisation, per step and cell: :math:`\rho` is ``geodesic.rho_mean`` (the step's
    time mean, the reaction cost's denominator); :math:`v` is moved from the faces to the
    cell centres as the mean of the two adjacent faces of each axis, faces that carry no
    flux (the ends of an axis; in 2-D also faces beside an inactive cell) counting as 0;
    :math:`r` is ``geodesic.rate``; :math:`G` per cell is the mean of the metric on the
    two adjacent faces (the single face where a cell has one: the two end cells in 1-D,
    cells beside an edge of the simplex in 2-D), or the per-cell SPD matrix of an
    off-diagonal 2-D metric (:mod:`wfr_cvx.metric`).  ``T`` is zero wherever
    :math:`\rho = 0`.  Figures are in mass x (weight / time)^2 per cell.

    Returns
    -------
    StressEnergy

    Examples
    --------
    >>> import numpy as np, wfr_cvx
    >>> g = wfr_cvx.Grid(16, 4)
    >>> geo = wfr_cvx.geodesic(g.bump(0.3, 0.1), g.bump(0.6, 0.1, mass=0.5), g, lam=0.5)
    >>> se = stress_energy(geo)
    >>> se.tensor.shape
    (4, 1, 16, 1, 1)
    >>> bool(np.allclose(se.tensor[..., 0, 0],     # G = 1: T = rho v^2 + P
    ...                  se.density * se.velocity[..., 0] ** 2 + se.pressure))
    True
    """
    geo = _check_geodesic(geodesic)
    grid = geo.grid
    if grid.dims == 1:
        G_faces = np.broadcast_to(np.asarray(geo.metric, dtype=float), grid.face_shape)
        G = _faces_to_cells(G_faces, "one-sided")[..., None, None]  # (K, n, 1, 1)
        v = _faces_to_cells(geo.velocity, "zero")[..., None]  # (T, K, n, 1)
    else:
        v, G = _cells_2d(geo)
    rho = np.asarray(geo.rho_mean, dtype=float)
    v_low = np.einsum("...ij,t...j->t...i", G, v)
    speed2 = np.einsum("...i,...i->...", v, v_low)  # |v|_G^2
    reaction_pressure = 0.5 * geo.lam**2 * rho * geo.rate**2
    pressure = 0.5 * rho * speed2 + reaction_pressure
    tensor = (rho[..., None, None] * v_low[..., :, None] * v_low[..., None, :]
              + pressure[..., None, None] * G[None])
    return StressEnergy(tensor=tensor, pressure=pressure, reaction_pressure=reaction_pressure,
                        density=rho, velocity=v, metric=G)
