"""The :class:`Geodesic` result: a solved rebalancing path and its figures."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .grid import Grid
from .operators import make_divergence, make_time_difference

__all__ = ["Geodesic"]


def continuity_source(rho: np.ndarray, momentum: np.ndarray, grid) -> np.ndarray:
    """``(rho[k+1] - rho[k]) / dt + div(momentum[k])``: the source with which a path meets
    the continuity equation (the numba operators, independently of the assembly)."""
    shape = (grid.n_steps, *grid.shape)
    dtime, div = np.empty(shape), np.empty(shape)
    make_time_difference(grid)(np.ascontiguousarray(rho), dtime)
    make_divergence(grid)(np.ascontiguousarray(momentum), div)
    return dtime + div


#: Per backend, the share of the mean cell mass (of the heavier end) at and below which a
#: result's ``velocity`` and ``rate`` are 0: its tolerance leaves the velocity of mass
#: ``m`` determined to about ``sqrt(tol / m)`` only.  Measured at the default tolerances
#: against a solve at 1e-11 (two regimes' bumps in 1-D, under a velocity cap, a bump on
#: the simplex), the largest velocity error over the faces above the floor, relative to
#: the largest velocity: interior point (clarabel, cvxpy) 1.5x above 1e-9 of the mean
#: cell mass, 0.2-0.9x above 1e-8, 0.02-0.25x above 1e-6 (the cap's 0.3 read 0.41 on
#: cvxpy's path at 1e-9, 0.14 above 1e-6); the first-order backends, which leave
#: round-off mass in the cells the optimum empties, 20-9,500x above 1e-9, 0.3-1.3x above
#: 1e-6 and 1.5e-3-5.8e-2 above 1e-4; the rates alike.
RESOLVED_MASS = {"clarabel": 1e-6, "cvxpy": 1e-6, "scs": 1e-4, "dr": 1e-4}
#: The same share for paths without a solver's tolerance (closed forms, rollouts).
EXACT_MASS = 1e-9


class Geodesic:
    r"""A discrete WFR geodesic between two allocations (scipy-style result object).

    Attributes
    ----------
    distance2 : float
        Squared WFR distance, ``transport_cost + reaction_cost``.
    distance : float
        Its square root.
    transport_cost, reaction_cost : float
        :math:`\int\!\!\int |v|^2_G\,d\rho\,ds` and :math:`\lambda^2\int\!\!\int r^2\,d\rho\,ds`.
    transport_per_step, reaction_per_step : ndarray, shape (n_steps,)
        The same costs step by step (they sum to the totals).
    rho : ndarray, shape (n_steps + 1, *grid.shape)
        Cell masses on the time levels ``s = k / n_steps``; ``rho[0]`` and ``rho[-1]`` are
        the inputs.  Round-off negatives of the interior-point solution are set to 0.
        ``grid.shape`` is ``(n_regimes, n_weights)`` (1-D) or ``(n_regimes, n, n)`` (2-D).
    momentum : ndarray, shape (n_steps, *grid.face_shape)
        ``m = rho_face * v`` on interior faces for each step (mass x weight / time): 1-D
        ``(n_steps, n_regimes, n_weights - 1)``; 2-D ``(n_steps, n_regimes, 2, n, n)``, the
        component along axis ``a`` on the face on the ``+a`` side of each cell (padded
        layout of :mod:`wfr_cvx.grid`; 0 where there is no face).
    source : ndarray, shape (n_steps, *grid.shape)
        ``zeta = rho_mean * r``: mass created per unit time in each cell and step.  The
        path satisfies ``(rho[k+1] - rho[k]) / dt + div(momentum[k]) = source[k]``.
    rho_mean : ndarray, shape like ``source``
        The time mean of levels ``k`` and ``k + 1`` in each cell that the reaction term
        divides by: the power mean :math:`M_{1/2} = ((\sqrt{\rho^k} +
        \sqrt{\rho^{k+1}}) / 2)^2` in the ``"centred"`` and ``"power"`` schemes, the
        arithmetic mean :math:`M_1 = (\rho^k + \rho^{k+1}) / 2` in ``"arithmetic"``
        (:mod:`wfr_cvx.assembly`).  ``reaction_per_step[k] = lam^2 dt sum(source[k]^2 /
        rho_mean[k])`` over the cells where ``rho_mean > mass_floor``.
    rho_face : ndarray, shape like ``momentum``
        The face average (mean of the two cells beside a face) of the transport term's
        time mean: of :math:`M_{1/2}` in ``"power"``, of :math:`M_1` in ``"centred"`` and
        ``"arithmetic"``.  The staggered schemes ``"power"`` and ``"arithmetic"`` charge
        transport per face over it: with the face weights ``G`` of a diagonal ``metric``,
        ``transport_per_step[k] = dt sum(G momentum[k]^2 / rho_face[k]) = dt
        sum(rho_face[k] G velocity[k]^2)``.  The default ``"centred"`` scheme charges it
        per cell, ``dt sum(|u|^2 / M_1)`` with ``u_a`` the mean of ``sqrt(G) momentum``
        on the two faces of the cell along axis ``a`` (0 for a boundary side); there
        ``rho_face`` only defines ``velocity``, and the face sum above is not the
        transport cost (measured: 0.5 % above it for two moving bumps at 32 x 8, 8 % for
        a bump crossing an 8 x 8 simplex in 4 steps).  An off-diagonal 2-D metric is
        charged per cell in every scheme (:mod:`wfr_cvx.assembly`).  Over the faces above
        ``mass_floor`` these sums match the reported costs to the solver's accuracy (the
        costs are the solver's, the means are recomputed from the levels; measured on two
        regimes' bumps, ``Grid(48, 12)``: 4e-7 relative on the interior point, 7e-6 on
        scs and dr).  Not over every face: a first-order solver leaves round-off mass in
        the cells the optimum empties, whose ratios are noise (37 times the transport
        cost on scs's path).
    velocity : ndarray, shape like ``momentum``
        ``momentum / rho_face`` where ``rho_face > mass_floor``; **0 elsewhere**: a
        solver meets its cost to an absolute tolerance, which leaves the velocity and
        rate of so little mass undetermined.
    rate : ndarray, shape like ``source``
        ``source / rho_mean`` where ``rho_mean > mass_floor``; **0 elsewhere**.
    mass_floor : float
        A mass: the backend's share (:data:`RESOLVED_MASS`) of the mean cell mass of the
        heavier end, times that mean; the share is ``1e-9`` (:data:`EXACT_MASS`) for paths
        no solver iterated on: closed forms (``iterations`` 0: a regime switch, a book
        rescaled in place) and rollouts.
    status : str
        The solver's status (``"Solved"``, ``"AlmostSolved"``; failures raise instead).
    iterations : int
    setup_time, solve_time, assembly_time : float
        Seconds: setup (our assembly + the solver's setup), the solver's iterations, and our
        assembly alone.
    grid, lam, metric, backend, scheme
        The inputs that defined the problem (``metric`` checked: face weights or cell
        matrices, :func:`wfr_cvx.metric.check_metric`).
    constraints : tuple
        The constraint objects of :mod:`wfr_cvx.constraints` it was solved under, in the
        order given (``()`` when none); read-only.  :meth:`to_dict`, :meth:`save` and
        :func:`wfr_cvx.load` keep them, so a summary solved again
        (:func:`wfr_cvx.io.solve_from_dict`) is the same constrained problem.
    version : str
        The version of wfr_cvx that solved it (kept by :meth:`save` and :func:`wfr_cvx.load`).
    """

    def __init__(self, *, grid: Grid, lam: float, metric: np.ndarray, rho, momentum, source,
                 rho_mean, rho_face, transport_per_step, reaction_per_step, status: str,
                 iterations: int, setup_time: float, solve_time: float,
                 assembly_time: float, backend: str, scheme: str, version: str | None = None,
                 constraints: tuple = ()):
        self.grid = grid
        self._constraints = tuple(constraints)
        self.lam = float(lam)
        self.metric = metric
        self.rho = rho
        self.momentum = momentum
        self.source = source
        self.rho_mean = rho_mean
        self.rho_face = rho_face
        self.transport_per_step = transport_per_step
        self.reaction_per_step = reaction_per_step
        self.status = status
        self.iterations = int(iterations)
        self.setup_time = float(setup_time)
        self.solve_time = float(solve_time)
        self.assembly_time = float(assembly_time)
        self.backend = backend
        self.scheme = scheme
        if version is None:
            from . import __version__ as version
        self.version = str(version)
        # a path no solver iterated on (a closed form, iterations 0) has no solver noise
        share = EXACT_MASS if self.iterations == 0 else RESOLVED_MASS.get(backend, EXACT_MASS)
        self.mass_floor = share * mean_cell_mass(rho)
        self.velocity = _safe_ratio(momentum, rho_face, self.mass_floor)
        self.rate = _safe_ratio(source, rho_mean, self.mass_floor)

    @property
    def constraints(self) -> tuple:
        """The constraints it was solved under (``()`` when none), as a tuple."""
        return self._constraints

    # -- figures -----------------------------------------------------------------------
    @property
    def transport_cost(self) -> float:
        return float(np.sum(self.transport_per_step))

    @property
    def reaction_cost(self) -> float:
        return float(np.sum(self.reaction_per_step))

    @property
    def distance2(self) -> float:
        return self.transport_cost + self.reaction_cost

    @property
    def distance(self) -> float:
        return float(np.sqrt(max(self.distance2, 0.0)))

    @property
    def success(self) -> bool:
        return self.status == "Solved"

    @property
    def times(self) -> np.ndarray:
        """Time levels ``s`` of :attr:`rho`, shape ``(n_steps + 1,)``."""
        return self.grid.times

    def mass(self) -> pd.DataFrame:
        """Total mass per regime at every time level (index ``time``, one column per regime)."""
        totals = self.rho.reshape(self.rho.shape[0], self.grid.n_regimes, -1).sum(axis=2)
        return pd.DataFrame(totals, index=pd.Index(self.times, name="time"),
                            columns=list(self.grid.regimes))

    def continuity_residual(self) -> np.ndarray:
        """``(rho[k+1] - rho[k]) / dt + div(momentum[k]) - source[k]``, shape of ``source``.

        Computed with the numba operators, independently of the assembly.
        """
        return continuity_source(self.rho, self.momentum, self.grid) - self.source

    # -- tables ------------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """Tidy table: one row per (time level, regime, weight cell).

        Columns ``time, regime, weight, mass, velocity, rate``.  ``velocity`` and ``rate``
        live on faces and steps; here they are moved to cell centres and time levels by
        averaging the two adjacent faces (boundary faces carry 0) and the adjacent steps
        (one step at the end levels).  On a 2-D grid: one row per *active* cell, columns
        ``time, regime, w_<A>, w_<B>, w_<C>, mass, velocity_<A>, velocity_<B>, rate``
        (asset labels of ``grid.assets``, default A, B, C).
        """
        grid = self.grid
        if grid.dims == 2:
            return self._frame_2d()
        T, K, n = self.rho.shape[0] - 1, grid.n_regimes, grid.n_weights
        padded = np.zeros((T, K, n + 1))
        padded[:, :, 1:n] = self.velocity
        v_cells = 0.5 * (padded[:, :, :-1] + padded[:, :, 1:])
        v_levels = _steps_to_levels(v_cells)
        r_levels = _steps_to_levels(self.rate)
        times = np.repeat(self.times, K * n)
        regimes = np.tile(np.repeat(np.asarray(grid.regimes, dtype=object), n), T + 1)
        weights = np.tile(grid.weights, (T + 1) * K)
        return pd.DataFrame({
            "time": times,
            "regime": regimes,
            "weight": weights,
            "mass": self.rho.ravel(),
            "velocity": v_levels.ravel(),
            "rate": r_levels.ravel(),
        })

    def _frame_2d(self) -> pd.DataFrame:
        grid = self.grid
        T1, K, n = self.rho.shape[0], grid.n_regimes, grid.n_weights
        a, b, c = grid.assets or ("A", "B", "C")
        v = self.velocity  # (T, K, 2, n, n): the +a face of each cell
        below = np.zeros_like(v)  # the -a face of each cell
        below[:, :, 0, 1:, :] = v[:, :, 0, :-1, :]
        below[:, :, 1, :, 1:] = v[:, :, 1, :, :-1]
        v_levels = _steps_to_levels(0.5 * (v + below))
        r_levels = _steps_to_levels(self.rate)
        t, k, i, j = np.meshgrid(np.arange(T1), np.arange(K), np.arange(n), np.arange(n),
                                 indexing="ij")
        keep = np.broadcast_to(grid.mask, self.rho.shape).ravel()
        wa, wb = grid.weights[i.ravel()], grid.weights[j.ravel()]
        frame = pd.DataFrame({
            "time": self.times[t.ravel()],
            "regime": np.asarray(grid.regimes, dtype=object)[k.ravel()],
            f"w_{a}": wa,
            f"w_{b}": wb,
            f"w_{c}": 1.0 - wa - wb,
            "mass": self.rho.ravel(),
            f"velocity_{a}": v_levels[:, :, 0].ravel(),
            f"velocity_{b}": v_levels[:, :, 1].ravel(),
            "rate": r_levels.ravel(),
        })
        return frame[keep].reset_index(drop=True)

    def to_xarray(self):
        """The path as an ``xarray.Dataset`` (see :func:`wfr_cvx.io.geodesic_to_xarray`)."""
        from .io import geodesic_to_xarray

        return geodesic_to_xarray(self)

    def to_dict(self, *, include_path: bool = False) -> dict:
        """JSON-ready summary: inputs (the grid, the allocations and the constraints as
        problem-file tables), figures, status, timings, package version (and the path with
        ``include_path``, for :meth:`from_dict`; :func:`wfr_cvx.io.geodesic_to_dict`).

        Raises TypeError naming a constraint that has no problem-file table (one not of
        :data:`wfr_cvx.constraints.CONSTRAINT_TYPES`) rather than leaving it out."""
        from .io import geodesic_to_dict

        return geodesic_to_dict(self, include_path=include_path)

    @classmethod
    def from_dict(cls, d: dict) -> Geodesic:
        """The result :meth:`to_dict` with ``include_path=True`` (or ``wfr-cvx solve --json
        OUT --with-path``) wrote, bit for bit (:func:`wfr_cvx.io.geodesic_from_dict`); a
        summary without the path can be solved again with
        :func:`wfr_cvx.io.solve_from_dict`."""
        from .io import geodesic_from_dict

        return geodesic_from_dict(d)

    def save(self, path):
        """Write the result to ``path`` (an ``.npz`` archive with a JSON header, see
        :func:`wfr_cvx.io.save`); :func:`wfr_cvx.load` reads it back equal in every field,
        its :attr:`constraints` included.  Returns the path; TypeError, before anything is
        written, for a constraint that has no problem-file table."""
        from .io import save

        return save(self, path)

    def plot(self, **kwargs):
        """A matplotlib Figure of the path: heat maps over (time, weight) on a 1-D grid
        (:func:`wfr_cvx.plots.plot_geodesic`), ternary panels on the simplex grid
        (:func:`wfr_cvx.plots.plot_simplex`, keyword ``times``), square maps over
        ``(w_A, w_B)`` on another grid with two weight axes (keyword ``times``)."""
        from .plots import plot_geodesic

        return plot_geodesic(self, **kwargs)

    # -- diagnostics -------------------------------------------------------------------
    def certificate(self, tol: float = 1e-8):
        """Consistency certificate (see :func:`wfr_cvx.analysis.certificate`)."""
        from .analysis.diagnostics import certificate

        return certificate(self, tol=tol)

    def policy(self, s: float):
        """(velocity, rate) fields at time ``s`` (see :func:`wfr_cvx.analysis.policy`)."""
        from .analysis.dynamics import policy

        return policy(self, s)

    def __repr__(self) -> str:
        return (
            f"Geodesic(distance2={self.distance2:.6g}, transport={self.transport_cost:.6g}, "
            f"reaction={self.reaction_cost:.6g}, status={str(self.status)!r}, "
            f"iterations={self.iterations}, grid={self.grid!r}, lam={self.lam:g})"
        )


def mean_cell_mass(rho: np.ndarray) -> float:
    """The mean cell mass of the heavier end of the levels ``rho`` (the unit of the
    results' mass floors)."""
    return float(max(rho[0].sum(), rho[-1].sum())) / rho[0].size


def _safe_ratio(num: np.ndarray, den: np.ndarray, floor: float) -> np.ndarray:
    out = np.zeros_like(num)
    ok = den > floor
    out[ok] = num[ok] / den[ok]
    return out


def _steps_to_levels(steps: np.ndarray) -> np.ndarray:
    levels = np.empty((steps.shape[0] + 1, *steps.shape[1:]))
    levels[0] = steps[0]
    levels[-1] = steps[-1]
    levels[1:-1] = 0.5 * (steps[:-1] + steps[1:])
    return levels
