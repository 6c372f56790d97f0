r"""Backend ``"scs"``: the assembled cone program solved by SCS (Douglas-Rachford splitting).

The problem is the one :func:`wfr_cvx.assembly.assemble` builds for ``"clarabel"``,

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
(the discretisation error is common to both).

Accuracy promised at the defaults (:data:`DEFAULTS`, ``eps_abs = eps_rel = 1e-6``): an
answer "Solved" is within 1e-4 relative of the interior point's :math:`d^2` (Clarabel at
1e-10 tolerances), which the tests ask for.  Measured on 15 cases (two bumps on 16 x 4
to 48 x 12 grids at ``lam`` 0.2 to 25, two regimes, ``MaxVelocity``, ``TotalMass``, the
simplex): -1.2e-5 to +7.8e-5, 11 of them beyond 1e-5 (+7.8e-5 at ``lam = 5`` on 32 x 8,
in 36,000 iterations).  SCS's own duality gap does not measure this error: there its
primal and dual objectives agree to 7e-8, both 7.8e-5 above the optimum (the dual
residual, 2e-6 per column in the infinity norm, adds up over the columns).  Some
solves do not reach the tolerance within ``max_iters``: 64 x 16 at ``lam = 1`` ended
"AlmostSolved" (warned) 1.1e-4 above; at ``lam = 30`` on 32 x 8 the iterations ran out
(an error).  Where a cost term is ~0 (reaction at ``lam = 20``) its epigraphs meet their
cones to SCS's tolerance and a step's sum can fall below zero; the result keeps the
objective's total (:func:`wfr_cvx.engine._nonnegative_steps`), where clipping the steps
alone would raise :math:`d^2` by up to 5e-4 (16 x 8).  The path SCS returns meets its
cones only to SCS's tolerance: its fields (levels, momentum, source) price 0.2 %
(``lam = 20``) to 0.3-0.8 % (1-D bumps at ``lam = 0.2``) above the reported
:math:`d^2`, which is the accurate figure; take the path from ``"clarabel"``.

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

from ._conic import ConicProblem, ConicResult, Start
from ._settings import SCS_DEFAULTS as DEFAULTS
from ._settings import SCS_OPTIONS as OPTIONS
from ._status import Status

__all__ = ["DEFAULTS", "OPTIONS", "cost_columns", "scs_cones", "solve_conic"]

#: SCS's own defaults for the tolerances the status mapping needs when the user sets none.
_SCS_DEFAULTS = {"eps_abs": 1e-4, "eps_rel": 1e-4, "eps_infeas": 1e-7, "max_iters": 100_000,
                 "time_limit_secs": 0.0}

#: At a limit, SCS returns its best guess without checking it ("solved_inaccurate").  Like
#: Clarabel's reduced-accuracy check, the guess counts as "AlmostSolved" (or almost
#: infeasible) only when its residuals meet the tolerances relaxed by this factor;
#: otherwise the status is the limit hit.
_REDUCED = 100.0

# SCS wants the cone rows in this order
_ORDER = ("zero", "nonneg", "soc")


def scs_cones(cones) -> tuple[np.ndarray, dict]:
    """Row permutation and SCS cone dictionary for :class:`~wfr_cvx.backends.ConeBlock`
    records (in row order, kinds in any order).

    SCS wants the zero-cone rows first, then the non-negative ones, then the second-order
    cones (``q`` lists their dimensions).  Returns ``perm`` with ``A[perm]`` in SCS's
    order, and the ``cone`` argument of SCS.
    """
    rows = [block.rows for block in cones]
    starts = np.concatenate([[0], np.cumsum(rows, dtype=np.int64)])
    # a stable sort of the blocks by kind keeps the SOC blocks (and so `q`) in row order
    blocks = sorted(range(len(cones)), key=lambda i: _ORDER.index(cones[i].kind))
    lengths = np.array([rows[i] for i in blocks], dtype=np.int64)
    first = np.array([starts[i] for i in blocks], dtype=np.int64)
    # perm = concatenated aranges of the reordered blocks, without a loop over rows
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    perm = np.arange(offsets[-1]) - np.repeat(offsets[:-1] - first, lengths)
    totals = dict.fromkeys(_ORDER, 0)
    for block in cones:
        totals[block.kind] += block.rows
    cone = {}
    if totals["zero"]:
        cone["z"] = totals["zero"]
    if totals["nonneg"]:
        cone["l"] = totals["nonneg"]
    socs = [(block.dim, block.count) for block in cones if block.kind == "soc" and block.count]
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


def _status(sol: dict, A, b, c, settings: dict) -> Status:
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
    exact = {scs.SOLVED: Status.SOLVED, scs.INFEASIBLE: Status.PRIMAL_INFEASIBLE,
             scs.UNBOUNDED: Status.DUAL_INFEASIBLE}
    if code in exact:
        return exact[code]
    opts = {**_SCS_DEFAULTS, **settings}
    loose_infeas = _REDUCED * opts["eps_infeas"]
    if code == scs.SOLVED_INACCURATE and _residuals_within(
            sol, A, b, c, _REDUCED * opts["eps_abs"], _REDUCED * opts["eps_rel"]):
        return Status.ALMOST_SOLVED
    if code == scs.INFEASIBLE_INACCURATE and info["res_infeas"] <= loose_infeas:
        return Status.ALMOST_PRIMAL_INFEASIBLE
    if code == scs.UNBOUNDED_INACCURATE and max(info["res_unbdd_a"],
                                                info["res_unbdd_p"]) <= loose_infeas:
        return Status.ALMOST_DUAL_INFEASIBLE
    if code in (scs.SOLVED_INACCURATE, scs.INFEASIBLE_INACCURATE, scs.UNBOUNDED_INACCURATE):
        if info["iter"] >= opts["max_iters"]:
            return Status.MAX_ITERATIONS
        if opts["time_limit_secs"] > 0:
            return Status.MAX_TIME
        return Status.INTERRUPTED  # a best guess before either limit: Ctrl-C
    if code == scs.SIGINT:
        return Status.INTERRUPTED
    return Status.NUMERICAL_ERROR  # scs.FAILED, scs.INDETERMINATE: no usable answer


def cost_columns(problem: ConicProblem) -> np.ndarray:
    """Column scaling ``d`` giving every epigraph variable unit cost: ``x = d * x'``.

    SCS stops when ``|A'y + c| <= eps_abs + eps_rel max(|A'y|, |c|)`` in the infinity
    norm, so one large cost sets the dual tolerance of every column.  The costs span
    ``lam^2 / dt`` (reaction) to ``G dx^2 / dt`` (transport): at ``lam = 20`` on 64 cells x
    16 steps, 6,400 against 0.004, where SCS stopped at "solved" 62 % above the optimum.
    In ``x' = x / d`` with ``d = 1 / q`` on the epigraph columns the test is per unit of
    cost (the same solve then runs out of iterations instead: an error, not a wrong
    number).  SCS's own equilibration (``normalize``) rescales the columns again
    internally, so this changes chiefly the stopping test.
    """
    d = np.ones(problem.n_variables)
    cost = problem.q[problem.epigraph]
    d[problem.epigraph] = np.where(cost > 0, 1.0 / np.where(cost > 0, cost, 1.0), 1.0)
    return d


def solve_conic(problem: ConicProblem, options: dict, start: Start | None = None
                ) -> ConicResult:
    """Solve ``problem`` with SCS (``start`` is not used).

    ``setup_time`` covers the row permutation, the column scaling and SCS's setup (data
    normalisation and the one factorisation); ``solve_time`` the iterations.
    """
    begin = time.perf_counter()
    settings = {**DEFAULTS, **options}
    perm, cone = scs_cones(problem.cones)
    d = cost_columns(problem)
    A = _permute_rows(problem.A, perm) @ sp.diags(d, format="csc")
    b, c = problem.b[perm], d * problem.q
    try:
        solver = scs.SCS({"A": sp.csc_matrix(A), "b": b, "c": c}, cone, **settings)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"SCS refused the solver options {options}: {exc}") from None
    setup = time.perf_counter() - begin
    sol = solver.solve()
    solve_time = time.perf_counter() - begin - setup
    info = sol["info"]
    return ConicResult(x=d * np.asarray(sol["x"]), status=_status(sol, A, b, c, settings),
                       iterations=int(info["iter"]), setup_time=setup, solve_time=solve_time,
                       objective=float(info["pobj"]), objective_dual=float(info["dobj"]),
                       r_prim=float(info["res_pri"]), r_dual=float(info["res_dual"]))
