"""Backend ``"clarabel"``: our sparse assembly handed to ``clarabel.DefaultSolver``."""

from __future__ import annotations

import time

import clarabel
import numpy as np
import scipy.sparse as sp

from ._options import choice, flag, int_list, integer, real
from .blocks import combine_status, solve_in_blocks
from .grid import Grid
from .problem import ConicProblem, RawSolution, solve_assembled

__all__ = ["OPTIONS", "SOLVER_OPTIONS", "solve", "solve_conic", "whole_status"]

#: Clarabel's settings (``clarabel.DefaultSettings``) with their types and admissible
#: values; the "clarabel" and "cvxpy" backends validate user options against them before
#: any work (Clarabel's own wrapper raises OverflowError on a negative ``max_iter`` and
#: accepts a negative tolerance).
OPTIONS = {option.name: option for option in (
    integer("max_iter", 1, doc="interior-point iterations"),
    real("time_limit", doc="seconds (inf: none)"),
    flag("verbose"),
    real("max_step_fraction", 0.0, 1.0),
    real("tol_gap_abs"), real("tol_gap_rel"), real("tol_feas"), real("tol_infeas_abs"),
    real("tol_infeas_rel"), real("tol_ktratio"),
    real("reduced_tol_gap_abs"), real("reduced_tol_gap_rel"), real("reduced_tol_feas"),
    real("reduced_tol_infeas_abs"), real("reduced_tol_infeas_rel"),
    real("reduced_tol_ktratio"),
    flag("equilibrate_enable"), integer("equilibrate_max_iter", 0),
    real("equilibrate_min_scaling"), real("equilibrate_max_scaling"),
    real("linesearch_backtrack_step", 0.0, 1.0, high_open=True),
    real("min_switch_step_length", 0.0, 1.0), real("min_terminate_step_length", 0.0, 1.0),
    integer("max_threads", 0, doc="0: Clarabel chooses"),
    flag("direct_kkt_solver"),
    choice("direct_solve_method", ("auto", "qdldl", "faer", "mkl", "panua")),
    flag("static_regularization_enable"), real("static_regularization_constant"),
    real("static_regularization_proportional", 0.0, low_open=False),
    flag("dynamic_regularization_enable"), real("dynamic_regularization_eps"),
    real("dynamic_regularization_delta"),
    flag("iterative_refinement_enable"), real("iterative_refinement_reltol"),
    real("iterative_refinement_abstol"), integer("iterative_refinement_max_iter", 0),
    real("iterative_refinement_stop_ratio"),
    flag("presolve_enable"), flag("input_sparse_dropzeros"),
    flag("chordal_decomposition_enable"),
    choice("chordal_decomposition_merge_method", ("clique_graph", "parent_child", "none")),
    flag("chordal_decomposition_compact"), flag("chordal_decomposition_complete_dual"),
    int_list("pardiso_iparm"), flag("pardiso_verbose"),
)}

#: Option names Clarabel's DefaultSettings accepts (both backends validate against it).
SOLVER_OPTIONS = frozenset(OPTIONS)


def _cone_objects(cones):
    out = []
    for kind, dim in cones:
        if dim == 0:
            continue
        if kind == "zero":
            out.append(clarabel.ZeroConeT(dim))
        elif kind == "nonneg":
            out.append(clarabel.NonnegativeConeT(dim))
        elif kind in ("soc3", "soc4"):
            out.extend([clarabel.SecondOrderConeT(int(kind[-1]))] * dim)
        else:  # pragma: no cover - assembly only emits the kinds above
            raise AssertionError(f"unknown cone kind {kind!r}")
    return out


#: wfr_cvx's defaults, applied before the user's options: faer (supernodal) on one thread.
#: On 2-D grids (space x space x time) the KKT factor fills in far more and faer wins by
#: far: 32^2 simplex x 16 steps, 28 iterations, 20 s against 112 s with QDLDL (1 or 2
#: threads alike).  On 1-D grids, with the independent blocks (wfr_cvx.blocks) solved side
#: by side, the ladder's demo took 0.97-1.01 of QDLDL's time at 64 weights x 2 x 32 and
#: 0.79-0.89 at 256, 1,024 and 4,096 (two ladder runs; benchmarks/LADDER.md), and two
#: other 1,024 x 2 x 32 problems 0.90 and 0.87.  (Before the blocks, on an earlier data set,
#: faer had been 3x slower than QDLDL at 1,024 x 2 x 32: 72 s against 23 s.)
DEFAULTS = {"verbose": False, "direct_solve_method": "faer", "max_threads": 1}


def defaults_for(grid: Grid) -> dict:
    """wfr_cvx's Clarabel defaults for this grid (chosen by measurement; at present the
    same for 1-D and 2-D grids, see :data:`DEFAULTS`)."""
    return DEFAULTS


def settings_from_options(options: dict, defaults: dict = DEFAULTS) -> clarabel.DefaultSettings:
    """Clarabel settings: ``defaults``, then the given options."""
    settings = clarabel.DefaultSettings()
    options = {**defaults, **options}
    for name, value in options.items():
        try:
            setattr(settings, name, value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"solver option `{name}`={value!r} was refused: {exc}") from None
    return settings


def solve_conic(problem: ConicProblem, options: dict, defaults: dict = DEFAULTS) -> dict:
    """Solve ``problem`` with Clarabel: x, status, iterations, timings, objective.

    Independent blocks of the problem (:mod:`wfr_cvx.blocks`: e.g. the regimes of a 1-D
    grid when no constraint ties them) are solved by one Clarabel solver each, side by
    side in threads (one after the other with ``verbose``, so the logs stay readable).
    ``setup_time`` is the split plus the longest block set-up; ``blocks`` their number.
    """
    start = time.perf_counter()
    settings = settings_from_options(options, defaults)
    setups = []

    def solve_block(q, A, b, cones) -> dict:
        begin = time.perf_counter()
        n = A.shape[1]
        solver = clarabel.DefaultSolver(sp.csc_matrix((n, n)), q, A, b, _cone_objects(cones),
                                        settings)
        setups.append(time.perf_counter() - begin)
        solution = solver.solve()
        return {"x": np.asarray(solution.x), "status": str(solution.status),
                "iterations": int(solution.iterations), "objective": float(solution.obj_val),
                "objective_dual": float(solution.obj_val_dual),
                "r_prim": float(solution.r_prim), "r_dual": float(solution.r_dual)}

    out = solve_in_blocks(problem.q, problem.A, problem.b, problem.cones, solve_block,
                          parallel=not settings.verbose)
    out["status"] = whole_status(out.pop("parts"), settings)
    total = time.perf_counter() - start
    setup = min(total, out.pop("split_time") + max(setups, default=0.0))
    return {**out, "setup_time": setup, "solve_time": total - setup}


def whole_status(parts: list[dict], settings: clarabel.DefaultSettings) -> str:
    """The status of a problem solved in independent blocks, by Clarabel's own test.

    Clarabel calls a point solved when its primal and dual residuals are below
    ``tol_feas`` and the duality gap below ``tol_gap_abs`` or ``tol_gap_rel`` times
    ``max(1, min(|primal|, |dual|))``.  A block can stop "AlmostSolved" just above its own
    relative gap (measured: 1.01e-8 against 1e-8 on one regime of a 16^2 simplex) while
    the whole problem -- objectives and absolute gaps summed, residuals the blocks' (each
    no larger than the whole's) -- passes; the whole is then "Solved".  Otherwise the worst
    block status.
    """
    statuses = [part["status"] for part in parts]
    if "AlmostSolved" in statuses and set(statuses) <= {"Solved", "AlmostSolved"}:
        primal = sum(part["objective"] for part in parts)
        dual = sum(part["objective_dual"] for part in parts)
        gap = sum(abs(part["objective"] - part["objective_dual"]) for part in parts)
        feasible = all(max(part["r_prim"], part["r_dual"]) <= settings.tol_feas
                       for part in parts)
        if feasible and (gap <= settings.tol_gap_abs or
                         gap <= settings.tol_gap_rel * max(1.0, min(abs(primal), abs(dual)))):
            return "Solved"
    return combine_status(statuses)


def solve(rho0, rho1, grid: Grid, lam: float, metric, *, scheme: str, options: dict,
          **assembly) -> RawSolution:
    """Assemble and solve the scaled problem; timings include our assembly in setup.

    ``assembly`` keywords (``transport``, ``reaction``, ``end_potential``, ``end_weight``)
    go to :func:`~wfr_cvx.problem.assemble`.
    """
    defaults = defaults_for(grid)
    return solve_assembled(lambda problem: solve_conic(problem, options, defaults),
                           rho0, rho1, grid, lam, metric, scheme=scheme, **assembly)
