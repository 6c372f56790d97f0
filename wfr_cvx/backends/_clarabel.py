"""Backend ``"clarabel"``: the assembled cone program handed to ``clarabel.DefaultSolver``.

Independent blocks of the problem (:mod:`._blocks`: e.g. the regimes of a 1-D grid when
no constraint ties them) are solved by one Clarabel solver each, side by side in threads.
"""

from __future__ import annotations

import time

import clarabel
import numpy as np
import scipy.sparse as sp

from ._blocks import combine_status, solve_in_blocks
from ._conic import ConicProblem, ConicResult, Start
from ._settings import CLARABEL_DEFAULTS as DEFAULTS
from ._settings import CLARABEL_OPTIONS as OPTIONS
from ._status import Status

__all__ = ["DEFAULTS", "OPTIONS", "cone_objects", "settings_from_options", "solve_conic",
           "whole_status"]


def cone_objects(cones) -> list:
    """Clarabel's cone objects for :class:`~wfr_cvx.backends.ConeBlock` records."""
    out = []
    for block in cones:
        if block.kind == "zero":
            out.append(clarabel.ZeroConeT(block.count))
        elif block.kind == "nonneg":
            out.append(clarabel.NonnegativeConeT(block.count))
        else:
            out.extend([clarabel.SecondOrderConeT(block.dim)] * block.count)
    return out


def settings_from_options(options: dict, defaults: dict = DEFAULTS) -> clarabel.DefaultSettings:
    """Clarabel settings: ``defaults``, then the given (already checked) options."""
    settings = clarabel.DefaultSettings()
    for name, value in {**defaults, **options}.items():
        try:
            setattr(settings, name, value)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValueError(f"solver option `{name}`={value!r} was refused: {exc}") from None
    return settings


def solve_conic(problem: ConicProblem, options: dict, start: Start | None = None
                ) -> ConicResult:
    """Solve ``problem`` with Clarabel (``start`` is not used: an interior point starts
    from its own central point).

    ``setup_time`` is the split into blocks plus the longest block set-up.  With
    ``verbose`` the blocks run one after the other, so that the logs stay readable.
    """
    begin = time.perf_counter()
    settings = settings_from_options(options)
    setups = []

    def solve_block(q, A, b, cones) -> dict:
        started = time.perf_counter()
        n = A.shape[1]
        solver = clarabel.DefaultSolver(sp.csc_matrix((n, n)), q, A, b, cone_objects(cones),
                                        settings)
        setups.append(time.perf_counter() - started)
        solution = solver.solve()
        return {"x": np.asarray(solution.x), "z": np.asarray(solution.z),
                "status": Status.parse(str(solution.status)),
                "iterations": int(solution.iterations), "objective": float(solution.obj_val),
                "objective_dual": float(solution.obj_val_dual),
                "r_prim": float(solution.r_prim), "r_dual": float(solution.r_dual)}

    out = solve_in_blocks(problem.q, problem.A, problem.b, problem.cones, solve_block,
                          parallel=not settings.verbose)
    parts = out["parts"]
    total = time.perf_counter() - begin
    setup = min(total, out["split_time"] + max(setups, default=0.0))
    return ConicResult(
        x=out["x"], z=out["z"], status=whole_status(parts, settings),
        iterations=out["iterations"],
        setup_time=setup, solve_time=total - setup, objective=out["objective"],
        objective_dual=float(sum(part["objective_dual"] for part in parts)),
        r_prim=max(part["r_prim"] for part in parts),
        r_dual=max(part["r_dual"] for part in parts), blocks=out["blocks"])


def whole_status(parts: list[dict], settings: clarabel.DefaultSettings) -> Status:
    """The status of a problem solved in independent blocks, by Clarabel's own test.

    Clarabel calls a point solved when its primal and dual residuals are below
    ``tol_feas`` and the duality gap below ``tol_gap_abs`` or ``tol_gap_rel`` times
    ``max(1, min(|primal|, |dual|))``.  A block can stop "AlmostSolved" just above its own
    relative gap (seen: 1.01e-8 against 1e-8 on one regime of a 16^2 simplex) while the
    whole problem -- objectives and absolute gaps summed, residuals the blocks' (each no
    larger than the whole's) -- passes; the whole is then "Solved".  Otherwise the worst
    block status.
    """
    statuses = [part["status"] for part in parts]
    if Status.ALMOST_SOLVED in statuses and set(statuses) <= {Status.SOLVED,
                                                              Status.ALMOST_SOLVED}:
        primal = sum(part["objective"] for part in parts)
        dual = sum(part["objective_dual"] for part in parts)
        gap = sum(abs(part["objective"] - part["objective_dual"]) for part in parts)
        feasible = all(max(part["r_prim"], part["r_dual"]) <= settings.tol_feas
                       for part in parts)
        if feasible and (gap <= settings.tol_gap_abs or
                         gap <= settings.tol_gap_rel * max(1.0, min(abs(primal), abs(dual)))):
            return Status.SOLVED
    return combine_status(statuses)
