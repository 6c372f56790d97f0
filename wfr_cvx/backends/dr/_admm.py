"""The ADMM iteration of backend "dr" and its stopping rules (see :mod:`wfr_cvx.backends.dr`)."""

from __future__ import annotations

import math
import time

import numpy as np
import scipy.sparse as sp

from ..._progress import progress_bar
from ..._threads import thread_budget
from .._conic import ConicProblem, ConicResult, Start
from .._options import check_options
from .._settings import DR_DEFAULTS as DEFAULTS
from .._settings import DR_OPTIONS as OPTIONS
from .._status import Status
from ._kernels import (
    PARALLEL_MIN_NNZ,
    RowBlocks,
    Workers,
    _dot,
    _penalised_gap,
    _relax,
    pcg,
)
from ._splitting import (
    POLISH_NEAR,
    _certifies,
    _farkas_margins,
    _penalty,
    _prox,
    _prox_weights,
    may_be_infeasible,
    polar_projection,
    polished_certificate,
    split,
)

__all__ = ["remaining_cost_error", "solve_conic"]


def _check_options(options: dict) -> dict:
    """The defaults updated with the checked ``options``."""
    return {**DEFAULTS, **check_options(options, OPTIONS, "dr", "wfr_cvx's ADMM")}


def remaining_cost_error(moved: float, iteration: int, interval: int) -> float:
    """The objective's remaining relative error, estimated from its relative ``moved``
    over the last ``interval`` iterations at ``iteration``, for an error decaying as
    ``C / k``: ``moved * iteration / interval`` (see the module docstring)."""
    return moved * iteration / interval


def solve_conic(problem: ConicProblem, options: dict, start: Start | None = None
                ) -> ConicResult:
    """Solve ``problem`` by ADMM on its :class:`~._splitting.Splitting`.

    ``start.x`` (the non-epigraph unknowns; zeros when None) starts the iteration and sets
    the penalty; ``start.seconds``, the time spent finding it, counts against
    ``time_limit`` and in ``solve_time``.  The epigraph variables of the returned ``x`` are
    ``|u|^2 / F`` of the last proximal point (so ``q^T x`` is the cost of a point in the
    cones); the other unknowns are the last ``x``-update, whose path satisfies continuity
    exactly.
    """
    opts = _check_options(options)
    spent = 0.0 if start is None else start.seconds
    opts["time_limit"] = max(opts["time_limit"] - spent, 1e-9)
    begin = time.perf_counter()
    s = split(problem)
    K = s.K
    KT = K.T.tocsr()
    x = np.zeros(s.n_x) if start is None else np.asarray(start.x, dtype=float).copy()
    z = K @ x + s.c

    sigma, alpha = opts["sigma"], opts["alpha"]

    def penalised(E):
        """What the penalty fixes until the next refit: the normal matrix, its Jacobi
        preconditioner, sqrt(E) for the residual and the proximal maps' weights."""
        normal = (KT @ sp.diags(E) @ K).tocsr()
        diag = normal.diagonal()
        inv_diag = np.where(diag > 0, 1.0 / np.where(diag > 0, diag, 1.0), 0.0)
        return normal, inv_diag, np.sqrt(E), _prox_weights(s, E, sigma)

    E = _penalty(s, z, opts["floor"], opts["reaction_cap"])
    normal, inv_diag, sqrtE, prox_weights = penalised(E)
    threads = min(opts["threads"], thread_budget())
    workers = Workers(threads if normal.nnz >= PARALLEL_MIN_NNZ else 1)
    K_rows, KT_rows = RowBlocks(K, workers), RowBlocks(KT, workers)
    next_refit = opts["refit_first"]
    y = np.empty_like(z)
    roots = [np.zeros(w.size) for w in prox_weights]
    _prox(s, z, prox_weights, y, roots, workers)
    u = np.zeros_like(z)
    v = np.empty_like(z)
    setup = time.perf_counter() - begin
    status, last_cost, iteration = Status.MAX_ITERATIONS, np.inf, 0
    cost_before_last = np.inf
    normal_rows = RowBlocks(normal, workers)
    Ax = normal_rows @ x  # kept equal to normal @ x by pcg (recomputed at refits, checks)
    q_sigma = s.q_x / sigma if np.any(s.q_x) else None
    work = np.empty_like(z)
    # the unscaled dual sigma E u at the last check, and how many checks in a row its step
    # certified infeasibility (two are asked, so one step's noise cannot decide)
    dual_before, certified = None, 0
    # the checks at which a step near a certificate (POLISH_NEAR, <p, c> > 0) is polished
    # into an exact one: after each polish that finds none, twice as many checks later, so
    # that polishing costs a few dense solves per run
    polish = may_be_infeasible(s)
    polish_at, polish_wait, checks = 0, 1, 0
    bar = progress_bar(opts["progress"], desc=f"dr ({problem.n_variables:,} unknowns)",
                       unit="it")
    try:
        for iteration in range(1, opts["max_iter"] + 1):
            _penalised_gap(E, y, s.c, u, work)
            rhs = KT_rows @ work
            if q_sigma is not None:
                rhs -= q_sigma
            pcg(normal_rows, inv_diag, rhs, x, opts["cg_iters"], Ax)
            z = K_rows @ x
            _relax(alpha, s.c, y, u, z, v)
            _prox(s, v, prox_weights, y, roots, workers)
            np.subtract(v, y, out=u)
            if opts["refit_first"] and iteration == next_refit:
                # the penalty from the current denominators (the start's can be far off,
                # e.g. (1 - s) rho0 where the path decays as (1 - s)^2 rho0); the
                # unscaled dual sigma E u is kept
                E_new = _penalty(s, z, opts["floor"], opts["reaction_cap"])
                u *= E / E_new
                E = E_new
                normal, inv_diag, sqrtE, prox_weights = penalised(E)
                normal_rows = RowBlocks(normal, workers)
                Ax = normal_rows @ x
                next_refit *= 3
            if iteration % opts["check_every"] == 0 or iteration == opts["max_iter"]:
                if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
                    status = Status.NUMERICAL_ERROR
                    break
                Ax = normal_rows @ x  # rounding in pcg's running product stays bounded
                cost = s.cost(y) + float(s.q_x @ x)
                gap = sqrtE * (z - y)
                scale = sqrtE * y
                primal = math.sqrt(_dot(gap, gap) / max(_dot(scale, scale), 1e-300))
                moved = abs(cost - last_cost) / max(abs(cost), 1e-300)
                # the rate from the move over the last two checks: one noisy move over one
                # let a slowly drifting objective pass (Grid.simplex(32, 8), three bumps:
                # 1.15e-4 off at "Solved")
                remaining = remaining_cost_error(
                    abs(cost - cost_before_last) / max(abs(cost), 1e-300), iteration,
                    2 * opts["check_every"])
                if opts["verbose"]:
                    print(f"dr {iteration:6d}  cost {cost:.10g}  primal {primal:.2e}  "
                          f"moved {moved:.2e}  remaining ~{remaining:.1e}")
                bar.update(iteration - bar.n)
                bar.set_postfix_str(f"primal {primal:.1e}/{opts['eps']:.0e}, remaining "
                                    f"~{remaining:.1e}/{opts['eps_cost']:.0e}", refresh=False)
                if (primal <= opts["eps"] and moved <= opts["eps"]
                        and remaining <= opts["eps_cost"]):
                    status = Status.SOLVED
                    break
                dual = sigma * E * u  # unchanged by refits (they rescale u by E / E_new)
                checks += 1
                if dual_before is not None and primal > opts["eps"]:
                    step = dual - dual_before
                    margins = _farkas_margins(s, KT, polar_projection(s, step))
                    certified = certified + 1 if _certifies(margins, opts["eps_infeas"]) else 0
                    if certified >= 2:
                        status = Status.PRIMAL_INFEASIBLE
                        break
                    if (polish and checks >= polish_at and margins is not None
                            and margins[0] <= POLISH_NEAR * opts["eps_infeas"]
                            and margins[1] > 0.0):
                        if polished_certificate(s, KT, step):
                            status = Status.PRIMAL_INFEASIBLE  # a proof: no second look
                            break
                        polish_wait *= 2
                        polish_at = checks + polish_wait
                dual_before = dual
                cost_before_last, last_cost = last_cost, cost
            if time.perf_counter() - begin > opts["time_limit"]:  # every iteration
                status = Status.MAX_TIME
                break
    finally:
        bar.close()
        workers.close()
    x_full = np.zeros(problem.n_variables)
    x_full[:s.n_x] = x
    for (_, _, _, (_, _, t_columns)), values in zip(s.perspective(), s.term_values(y),
                                                    strict=True):
        x_full[s.n_x + t_columns] = values
    return ConicResult(x=x_full, status=status, iterations=iteration, setup_time=setup,
                       solve_time=time.perf_counter() - begin - setup + spent,
                       objective=float(problem.q @ x_full))
