r"""Backend ``"scs"``: the assembled cone program solved by SCS (Douglas-Rachford splitting).

The problem is the one :func:`wfr_cvx.problem.assemble` builds for ``"clarabel"``,

.. math::  \min_x\ q^\top x \quad\text{s.t.}\quad Ax + s = b,\ s \in \mathcal K,

with only its rows reordered to SCS's cone order (zero, non-negative, second-order).
SCS (O'Donoghue, Chu, Parikh & Boyd 2016) writes the primal-dual optimality conditions as
the homogeneous self-dual embedding: find :math:`u = (x, y, \tau)`,
:math:`v = (0, s, \kappa)` with :math:`v = Qu`, :math:`(u, v) \in \mathcal C \times
\mathcal C^*`, :math:`Q` skew-symmetric; a solution has either :math:`\tau > 0` (then
:math:`(x, s, y) / \tau` is optimal) or :math:`\kappa > 0` (a certificate of primal or
dual infeasibility).  It solves the embedding by ADMM, i.e. Douglas-Rachford splitting of
the monotone inclusion :math:`0 \in Qu + N_{\mathcal C}(u)` (Eckstein & Bertsekas 1992):
every iteration is one back-solve with the quasi-definite matrix
:math:`\begin{bmatrix} \rho_x I & A^\top \\ A & -D \end{bmatrix}`, factorised once, plus
one projection onto :math:`\mathcal K` (a closed form per 3- or 4-dimensional cone),
safeguarded by type-I Anderson acceleration (Zhang, O'Donoghue & Boyd 2020).  SCS 3
(O'Donoghue 2021) adds the quadratic term and the adaptive dual scale used here.

Why a first-order backend on the *same* discretisation: the interior point of
``"clarabel"`` refactorises the KKT matrix at each of its ~30-60 iterations and converges
to 1e-8; Douglas-Rachford factorises once and takes hundreds to thousands of cheap
iterations to a moderate tolerance, converging at rate :math:`O(1/k)`.  Since both solve
the identical cone program, their agreement on :math:`d^2` measures solver error only
(the discretisation error is common to both): the tests ask for 1e-4 relative.

References
----------
B. O'Donoghue, E. Chu, N. Parikh, S. Boyd, "Conic optimization via operator splitting and
homogeneous self-dual embedding", J. Optim. Theory Appl. 169(3):1042-1068, 2016.
B. O'Donoghue, "Operator splitting for a homogeneous embedding of the linear
complementarity problem", SIAM J. Optim. 31(3):1999-2023, 2021.
J. Eckstein, D. Bertsekas, "On the Douglas-Rachford splitting method and the proximal
point algorithm for maximal monotone operators", Math. Programming 55:293-318, 1992.
J. Zhang, B. O'Donoghue, S. Boyd, "Globally convergent type-I Anderson acceleration for
nonsmooth fixed-point iterations", SIAM J. Optim. 30(4):3170-3197, 2020.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
import scs

from ._options import choice, flag, integer, real, text
from .grid import Grid
from .problem import ConicProblem, RawSolution, solve_assembled

__all__ = ["DEFAULTS", "OPTIONS", "SOLVER_OPTIONS", "cost_columns", "scs_cones", "solve",
           "solve_conic"]

#: Anderson memory bound (a negative lookback selects type-I acceleration).
_ANDERSON_MAX = 1000

#: Keyword settings of ``scs.SCS`` (SCS 3.3.1) with their types and admissible values,
#: checked before any work.  ``linear_solver`` is the Python wrapper's choice of
#: linear-system backend; SCS 2's ``use_indirect`` and ``warm_start`` are not settings of
#: SCS 3.
OPTIONS = {option.name: option for option in (
    flag("verbose"), flag("normalize"), real("scale"), flag("adaptive_scale"),
    flag("adaptive_diag_scale"), real("rho_x"), real("alpha", 0.0, 2.0, high_open=True),
    integer("max_iters", 1), real("time_limit_secs", 0.0, low_open=False),
    real("eps_abs", 0.0, low_open=False), real("eps_rel", 0.0, low_open=False),
    real("eps_infeas"), integer("acceleration_lookback", -_ANDERSON_MAX, _ANDERSON_MAX),
    integer("acceleration_interval", 1), flag("acceleration_type_1"),
    real("acceleration_regularization", 0.0, low_open=False),
    real("acceleration_relaxation", 0.0, 1.0, low_open=False),
    choice("linear_solver", ("auto", "qdldl", "cpu_indirect", "mkl", "accelerate",
                             "cpu_dense", "gpu_indirect", "cudss")),
    text("write_data_filename"), text("log_csv_filename"),
)}

SOLVER_OPTIONS = frozenset(OPTIONS)

#: wfr_cvx's defaults, applied before the user's options.  Measured (single runs on a
#: busy 2-core machine) on five small cases (bumps 64 x 16, two regimes 32 x 8, TotalMass
#: 32 x 8, lam = 2 and lam = 20 on 64 x 16) and on the demo (64 x 16, 128 x 32):
#:
#: * ``eps_abs = eps_rel = 1e-6``: worst relative d^2 error to Clarabel 1.6e-5 over all
#:   settings tried; at 1e-5 up to 2e-4, and 6e-2 at "solved" for lam = 20 (SCS's
#:   infinity-norm tests scale with the number of unknowns); at 1e-7 several cases ran
#:   out of 30,000 iterations.
#: * ``alpha = 1.8, scale = 1e-3`` (SCS: 1.5, 0.1): 19,525 iterations on the five cases
#:   against 58,950, 6,375 against 10,250 on the demo at 64 x 16, 14,350 against 20,375
#:   at 128 x 32 (the counts are erratic: scale = 1e-3 alone took 9,500 there, 13,625 at
#:   64 x 16).  Anderson lookback 0 or 20 and interval 10 did no better than SCS's 10/5.
#: * ``linear_solver = "qdldl"``: "auto" picks MKL Pardiso where installed, 0.75 against
#:   0.50 ms per iteration at 64 x 16 and no faster at 128 x 32 (4.9 against 4.5 ms);
#:   the indirect solver took 19 ms.
DEFAULTS = {
    "verbose": False,  # SCS prints by default
    "eps_abs": 1e-6,
    "eps_rel": 1e-6,
    "alpha": 1.8,
    "scale": 1e-3,
    "max_iters": 100_000,
    "linear_solver": "qdldl",
}

#: SCS's own defaults for the tolerances the status mapping needs when the user sets none.
_SCS_DEFAULTS = {"eps_abs": 1e-4, "eps_rel": 1e-4, "eps_infeas": 1e-7, "max_iters": 100_000,
                 "time_limit_secs": 0.0}

#: At a limit, SCS returns its best guess without checking it ("solved_inaccurate").  Like
#: Clarabel's reduced-accuracy check, the guess counts as "AlmostSolved" (or almost
#: infeasible) only when its residuals meet the tolerances relaxed by this factor;
#: otherwise the status is the limit hit.
_REDUCED = 100.0

# SCS cone rows must come in this order; our cone kinds and the SCS field they go to.
_ORDER = ("zero", "nonneg", "soc")
_SOC_DIMS = {"soc3": 3, "soc4": 4}


def scs_cones(cones) -> tuple[np.ndarray, dict]:
    """Row permutation and SCS cone dictionary for ``ConicProblem.cones``.

    ``cones`` lists ``(kind, dim)`` blocks in row order, in any order of kinds; SCS wants
    the zero-cone rows first, then the non-negative ones, then the second-order cones
    (``("soc3", count)`` is ``count`` consecutive 3-dimensional cones, ``q = [3] * count``).
    Returns ``perm`` with ``A[perm]`` in SCS's order, and the ``cone`` argument of SCS.
    """
    kinds, rows = [], []
    for kind, dim in cones:  # a handful of blocks, not rows
        if kind == "zero" or kind == "nonneg":
            kinds.append(kind)
            rows.append(dim)
        elif kind in _SOC_DIMS:
            kinds.append("soc")
            rows.append(dim * _SOC_DIMS[kind])
        else:
            raise ValueError(f"the scs backend has no SCS cone for kind {kind!r}")
    starts = np.concatenate([[0], np.cumsum(rows, dtype=np.int64)])
    # a stable sort of the blocks by class keeps the SOC blocks (and so `q`) in row order
    blocks = sorted(range(len(kinds)), key=lambda i: _ORDER.index(kinds[i]))
    lengths = np.array([rows[i] for i in blocks], dtype=np.int64)
    first = np.array([starts[i] for i in blocks], dtype=np.int64)
    # perm = concatenated aranges of the reordered blocks, without a loop over rows
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    perm = np.arange(offsets[-1]) - np.repeat(offsets[:-1] - first, lengths)
    dims = dict.fromkeys(_ORDER, 0)
    for kind, n in zip(kinds, rows, strict=True):
        dims[kind] += n
    cone = {}
    if dims["zero"]:
        cone["z"] = dims["zero"]
    if dims["nonneg"]:
        cone["l"] = dims["nonneg"]
    socs = [(_SOC_DIMS[kind], dim) for kind, dim in cones if kind in _SOC_DIMS and dim]
    if socs:
        cone["q"] = np.repeat([d for d, _ in socs], [c for _, c in socs]).tolist()
    return perm, cone


def _permute_rows(A: sp.csc_matrix, perm: np.ndarray) -> sp.csc_matrix:
    """``A[perm]`` for a CSC matrix by relabelling row indices (no CSR round trip)."""
    new_row = np.empty_like(perm)
    new_row[perm] = np.arange(perm.size)
    # copies: sort_indices() below reorders `data` in place, which must not reach `A`
    out = sp.csc_matrix((A.data.copy(), new_row[A.indices], A.indptr.copy()), shape=A.shape)
    out.sort_indices()  # SCS wants sorted row indices per column
    return out


def _residuals_within(sol: dict, A, b, c, eps_abs: float, eps_rel: float) -> bool:
    """SCS's optimality test (SCS 3 docs, "Termination criteria") at the given tolerances.

    ``|Ax + s - b| <= eps_abs + eps_rel max(|Ax|, |s|, |b|)``,
    ``|A'y + c| <= eps_abs + eps_rel max(|A'y|, |c|)`` (infinity norms) and
    ``|c'x + b'y| <= eps_abs + eps_rel max(|c'x|, |b'y|)``.
    """
    x, y, s = sol["x"], sol["y"], sol["s"]
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y)) and np.all(np.isfinite(s))):
        return False
    Ax, Aty = A @ x, A.T @ y
    cx, by = float(c @ x), float(b @ y)

    def inf(v):
        return float(np.max(np.abs(v))) if v.size else 0.0

    primal = inf(Ax + s - b) <= eps_abs + eps_rel * max(inf(Ax), inf(s), inf(b))
    dual = inf(Aty + c) <= eps_abs + eps_rel * max(inf(Aty), inf(c))
    gap = abs(cx + by) <= eps_abs + eps_rel * max(abs(cx), abs(by))
    return primal and dual and gap


def _status(sol: dict, A, b, c, settings: dict) -> str:
    """SCS's status in the engine's (Clarabel's) words.

    "solved" -> "Solved"; "infeasible"/"unbounded" -> "PrimalInfeasible"/"DualInfeasible"
    (SCS's "unbounded" is primal unbounded, i.e. dual infeasible).  The inaccurate
    statuses only come at a limit (iterations, time, interrupt) and are SCS's unchecked
    best guess: they become "AlmostSolved"/"Almost*Infeasible" when the guess passes the
    tolerances relaxed by :data:`_REDUCED`, else the limit ("MaxIterations", "MaxTime").
    The status *integer* is read: SCS's strings carry the limit in free text.
    """
    info = sol["info"]
    code = info["status_val"]
    exact = {scs.SOLVED: "Solved", scs.INFEASIBLE: "PrimalInfeasible",
             scs.UNBOUNDED: "DualInfeasible"}
    if code in exact:
        return exact[code]
    opts = {**_SCS_DEFAULTS, **settings}
    loose_infeas = _REDUCED * opts["eps_infeas"]
    if code == scs.SOLVED_INACCURATE and _residuals_within(
            sol, A, b, c, _REDUCED * opts["eps_abs"], _REDUCED * opts["eps_rel"]):
        return "AlmostSolved"
    if code == scs.INFEASIBLE_INACCURATE and info["res_infeas"] <= loose_infeas:
        return "AlmostPrimalInfeasible"
    if code == scs.UNBOUNDED_INACCURATE and max(info["res_unbdd_a"],
                                                info["res_unbdd_p"]) <= loose_infeas:
        return "AlmostDualInfeasible"
    if code in (scs.SOLVED_INACCURATE, scs.INFEASIBLE_INACCURATE, scs.UNBOUNDED_INACCURATE):
        if info["iter"] >= opts["max_iters"]:
            return "MaxIterations"
        if opts["time_limit_secs"] > 0:
            return "MaxTime"
        return "Interrupted"  # a best guess before either limit: Ctrl-C
    if code == scs.SIGINT:
        return "Interrupted"
    return "NumericalError"  # scs.FAILED, scs.INDETERMINATE: no usable answer


def cost_columns(problem: ConicProblem) -> np.ndarray:
    """Column scaling ``d`` giving every epigraph variable unit cost: ``x = d * x'``.

    SCS stops when ``|A'y + c| <= eps_abs + eps_rel max(|A'y|, |c|)`` in the infinity
    norm, so one large cost sets the dual tolerance of every column.  Our costs span
    ``lam^2 / dt`` (reaction) to ``G dx^2 / dt`` (transport): at ``lam = 20`` on 64 cells x
    16 steps, 6,400 against 0.004, and SCS stopped at "solved" 62 % above the optimum.  In
    ``x' = x / d`` with ``d = 1 / q`` on the epigraph columns the test is per unit of cost
    (the same solve then runs out of iterations instead: an error, not a wrong number).
    SCS's own equilibration (``normalize``) rescales the columns again internally, so this
    changes chiefly the stopping test.
    """
    d = np.ones(problem.n_variables)
    L = problem.layout
    for where in (L.t_transport, L.t_reaction):
        cost = problem.q[where]
        d[where] = np.where(cost > 0, 1.0 / np.where(cost > 0, cost, 1.0), 1.0)
    return d


def solve_conic(problem: ConicProblem, options: dict) -> dict:
    """Solve ``problem`` with SCS: x, status, iterations, timings, objective.

    ``setup_time`` covers the row permutation, the column scaling and SCS's setup (data
    normalisation and the one factorisation); ``solve_time`` the iterations.
    """
    start = time.perf_counter()
    settings = {**DEFAULTS, **options}
    perm, cone = scs_cones(problem.cones)
    d = cost_columns(problem)
    A = _permute_rows(problem.A, perm) @ sp.diags(d, format="csc")
    b, c = problem.b[perm], d * problem.q
    try:
        solver = scs.SCS({"A": sp.csc_matrix(A), "b": b, "c": c}, cone, **settings)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"SCS refused the solver options {options}: {exc}") from None
    setup = time.perf_counter() - start
    sol = solver.solve()
    solve_time = time.perf_counter() - start - setup
    info = sol["info"]
    return {
        "x": d * np.asarray(sol["x"]),
        "status": _status(sol, A, b, c, settings),
        "iterations": int(info["iter"]),
        "setup_time": setup,
        "solve_time": solve_time,
        "objective": float(info["pobj"]),
    }


def solve(rho0, rho1, grid: Grid, lam: float, metric, *, scheme: str, options: dict,
          **assembly) -> RawSolution:
    """Assemble and solve the scaled problem; timings include our assembly in setup.

    ``assembly`` keywords (``transport``, ``reaction``, ``end_potential``, ``end_weight``,
    ``cost_scale``, ``constraints``) go to :func:`~wfr_cvx.problem.assemble`.
    """
    return solve_assembled(lambda problem: solve_conic(problem, options),
                           rho0, rho1, grid, lam, metric, scheme=scheme, **assembly)
