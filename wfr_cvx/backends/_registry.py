"""The backends: one :class:`Backend` record each, all in :data:`REGISTRY`.

A record says what the rest of the package needs to know about a backend -- the settings it
takes, whether it factorises (memory) and certifies infeasibility, how closely it agrees
with the reference interior point -- and where its solve function lives (imported on first
use, so that reading the registry loads no solver).  Entry points, problem files, the size
guard, the CLI's ``--backend`` choices and the conformance tests read it; adding a backend
is adding a record.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ._options import Option, check_options
from ._settings import CLARABEL_OPTIONS, DR_OPTIONS, SCS_OPTIONS

__all__ = ["Backend", "REGISTRY", "get_backend"]


@dataclass(frozen=True)
class Backend:
    """One way of solving the discrete geodesic problem.

    Attributes
    ----------
    name : str
        The ``backend=`` value.
    solver : str
        The solver behind it, for messages.
    summary : str
        One line for listings (``wfr-cvx --help``, the README).
    options : mapping of str to Option
        The settings it accepts, typed and range-checked.
    kind : {"conic", "model"}
        ``"conic"``: ``entry(problem: ConicProblem, options, start) -> ConicResult`` on the
        assembled cone program (:func:`wfr_cvx.assembly.assemble`); ``"model"``:
        ``entry(request) -> RawSolution``, building its own formulation.
    entry : str
        ``"module:function"`` of the solve, imported on first use.
    start : str or None
        ``"module:function"`` giving a conic backend its start point,
        ``start(assembly, request, solve_raw) -> Start``; None: the solver's own.
    factorises : bool
        Whether its memory is a sparse factor (grows faster than the grid on two weight
        axes, :meth:`bytes_per_active_cell_step`).
    certifies_infeasibility : bool
        Whether contradictory constraints end with an infeasibility status (else they end
        at an iteration limit).
    first_order : bool
        Iterative splitting method (moderate accuracy, no factorisation per iteration).
    bytes_per_cell_step : int
        Peak memory per active cell-step on one weight axis, measured
        (``benchmarks/LADDER.md``).
    agreement_rtol : float
        Relative agreement of its ``distance2`` with the interior point's at its defaults,
        as the conformance tests check.
    """

    name: str
    solver: str
    summary: str
    options: Mapping[str, Option]
    kind: str
    entry: str
    factorises: bool
    certifies_infeasibility: bool
    first_order: bool
    bytes_per_cell_step: int
    agreement_rtol: float
    start: str | None = None

    def function(self) -> Callable:
        """The solve function (imports its module)."""
        return _load(self.entry)

    def start_function(self) -> Callable | None:
        return None if self.start is None else _load(self.start)

    def check_options(self, options: Mapping) -> dict:
        """``options`` checked against :attr:`options` (names, types, ranges)."""
        return check_options(dict(options), self.options, self.name, self.solver)

    def bytes_per_active_cell_step(self, grid) -> float:
        r"""Peak memory per active cell-step on ``grid``.

        A 1-D problem is a space x time graph whose sparse factor holds about
        :math:`N \log N` entries (the memory per cell-step stayed flat from 256 to 4,096
        weights).  Two weight axes make a space x space x time graph, whose fill grows like
        :math:`N^{4/3}`, mostly with the shorter axes: fitted to the ladder's Clarabel peaks
        on the simplex with a 15 % margin, :math:`2.0\,(T/16)^{0.62}(n/32)^{0.18}` times the
        1-D figure (at least 1).  A backend that factorises nothing keeps the 1-D figure.
        """
        growth = 1.0
        if grid.dims == 2 and self.factorises:
            growth = max(1.0, 2.0 * (grid.n_steps / 16) ** 0.62 * (grid.n_weights / 32) ** 0.18)
        return self.bytes_per_cell_step * growth

    def estimated_bytes(self, grid) -> int:
        """Peak memory of a solve on ``grid``; cells outside ``grid.mask`` count nothing."""
        active_cell_steps = int(grid.mask.sum()) * grid.n_steps
        return int(active_cell_steps * self.bytes_per_active_cell_step(grid))


def _load(where: str) -> Callable:
    module, _, name = where.partition(":")
    return getattr(importlib.import_module(module), name)


#: Every backend, by name.  Memory figures: ru_maxrss less the interpreter's, measured by
#: the ladder at 256, 1,024 and 4,096 weights x 2 regimes x 32 steps (Clarabel 13.0-13.7 kB
#: per active cell-step, the KKT factor dominating; cvxpy keeps its own copies; SCS
#: factorises once and keeps 10 past iterates; "dr" factorises nothing: 3.5-5.1 kB).
REGISTRY: dict[str, Backend] = {backend.name: backend for backend in (
    Backend(
        name="clarabel", solver="Clarabel",
        summary="interior point on the directly assembled SOCP (to 1e-8)",
        options=CLARABEL_OPTIONS, kind="conic",
        entry="wfr_cvx.backends._clarabel:solve_conic",
        factorises=True, certifies_infeasibility=True, first_order=False,
        bytes_per_cell_step=15_500, agreement_rtol=1e-6),
    Backend(
        name="cvxpy", solver="Clarabel",
        summary="the same problem written as cvxpy expressions (the reference model)",
        options=CLARABEL_OPTIONS, kind="model", entry="wfr_cvx.backends._cvxpy:solve",
        factorises=True, certifies_infeasibility=True, first_order=False,
        bytes_per_cell_step=46_500, agreement_rtol=1e-6),
    Backend(
        name="dr", solver="wfr_cvx's ADMM",
        summary="first-order ADMM on the perspective form (large 2-D grids; to ~1e-5)",
        options=DR_OPTIONS, kind="conic", entry="wfr_cvx.backends.dr:solve_conic",
        start="wfr_cvx.backends.dr:start",
        factorises=False, certifies_infeasibility=True, first_order=True,
        bytes_per_cell_step=6_000, agreement_rtol=1e-4),
    Backend(
        name="scs", solver="SCS",
        summary="SCS's operator splitting on the assembled SOCP (to ~1e-4)",
        options=SCS_OPTIONS, kind="conic", entry="wfr_cvx.backends._scs:solve_conic",
        factorises=True, certifies_infeasibility=True, first_order=True,
        bytes_per_cell_step=18_000, agreement_rtol=1e-4),
)}


def get_backend(name) -> Backend:
    """The record of backend ``name``; ValueError listing the backends otherwise."""
    if isinstance(name, Backend):
        return name
    if not isinstance(name, str) or name not in REGISTRY:
        # "auto" (the default of every solve) picks one of these per problem
        raise ValueError(f"`backend` must be one of {['auto', *sorted(REGISTRY)]}, got "
                         f"{name!r}")
    return REGISTRY[name]
