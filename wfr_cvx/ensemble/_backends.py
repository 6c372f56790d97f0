r"""The two backends of the semi-coupling SOCP, and its status policy.

* ``"clarabel"``: the assembled :class:`~wfr_cvx.backends.ConicProblem` solved by the
  package's Clarabel backend (:data:`wfr_cvx.backends.REGISTRY`); the regimes, which share
  no pair, are independent blocks solved side by side.
* ``"cvxpy"``: the same problem written as cvxpy expressions from the same ingredients
  (pairs, masses, cosines, objective scale), solved by Clarabel through cvxpy: a second,
  independently assembled solver for agreement tests.

Both take Clarabel's settings as keyword options, checked before any work by the
registry's specs (name, type, range).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .._warnings import silenced, warn
from ..backends import INACCURATE, REGISTRY, SOLVED, Status
from ..backends._status import cvxpy_limit
from ..errors import InaccurateSolutionWarning, SolverError

__all__ = ["BACKENDS", "RawSolution", "check_options", "check_status", "solve_clarabel",
           "solve_cvxpy", "solve_method"]

#: From this many atoms (both ensembles) on, faer's supernodal factorisation replaces QDLDL.
#: The transport rows couple every pair's atoms, so the KKT factor fills in like a dense
#: matrix over the atoms: faer wins on the largest problems (3,000 x 3,000 atoms, 10 % of
#: the pairs: 41 s against 99 s), QDLDL below (benchmarks/ENSEMBLE.md).
FAER_FROM_ATOMS = 4000

#: The backends of the ensemble engine (the grid registry's records: the same options);
#: ``"auto"``, the package-wide default, is the direct assembly.
BACKENDS = ("auto", "clarabel", "cvxpy")


def solve_method(n_atoms: int) -> str:
    """Clarabel's ``direct_solve_method`` for a problem over ``n_atoms`` atoms."""
    return "faer" if n_atoms >= FAER_FROM_ATOMS else "qdldl"


def check_options(backend, options: dict) -> tuple[str, dict]:
    """Validate ``backend`` and its Clarabel ``options``: the backend that runs
    (``"auto"`` is ``"clarabel"``) and the checked options."""
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(f"`backend` must be one of {sorted(BACKENDS)}, got {backend!r}")
    backend = "clarabel" if backend == "auto" else backend
    return backend, REGISTRY[backend].check_options(options)


@dataclass
class RawSolution:
    """A backend's answer in the solver's (scaled) units.

    ``x`` stacks ``[A (P), B (P), u / eps (P), sigma, tau]``, the slacks only of the atoms
    without a pair (as :func:`~._coupling.assemble` orders them); ``y`` are the multipliers
    of the ``N + M`` equality rows, signed as potentials (the dual objective is
    ``a y_src + b y_dst``); ``setup_time`` is the solver's set-up (for cvxpy: its
    canonicalisation), ``solve_time`` its iterations.
    """

    x: np.ndarray | None
    y: np.ndarray | None
    status: Status
    iterations: int
    setup_time: float
    solve_time: float


def solve_clarabel(problem, options: dict) -> RawSolution:
    """Solve the assembled semi-coupling :class:`~wfr_cvx.backends.ConicProblem` with the
    package's Clarabel backend (QDLDL below :data:`FAER_FROM_ATOMS` atoms, faer above,
    unless ``options`` say otherwise)."""
    n_equal = problem.cones[0].rows  # the N + M marginal rows
    options = {"direct_solve_method": solve_method(n_equal), **options}
    result = REGISTRY["clarabel"].function()(problem, options)
    # Clarabel's dual z of "A x + s = b, s in K" enters as -z: potentials are -z
    return RawSolution(result.x, -result.z[:n_equal], result.status, result.iterations,
                       result.setup_time, result.solve_time)


#: cvxpy's statuses in the engine's words (``user_limit``: :func:`cvxpy_limit`).
_FROM_CVXPY = {"optimal": Status.SOLVED, "optimal_inaccurate": Status.ALMOST_SOLVED}


def solve_cvxpy(g, options: dict) -> RawSolution:
    r"""Write the SOCP of the :class:`~._coupling.Ingredients` ``g`` with cvxpy; solve it
    with Clarabel.  As :func:`~._coupling.assemble`: with :math:`\varepsilon` =
    ``g.u_scale``, :math:`\hat u = u / \varepsilon` and slacks only on the atoms without
    a pair,

    .. math::

        \min\ \frac{1}{s}\Big[\sum_p (1 - c_p)(A_p + B_p) + \varepsilon c_p\hat u_p
        + \sum_i \sigma_i + \sum_j \tau_j\Big]
        \ \text{s.t.}\ \sum_{p \ni i} A_p + \sigma_i = a_i,\
        \sum_{p \ni j} B_p + \tau_j = b_j,\ \sigma, \tau \ge 0,\
        \big\|\big(A_p + B_p - \tfrac{1 + \varepsilon}{2}\hat u_p,
        (A_p - B_p)/\sqrt\varepsilon\big)\big\|_2
        \le A_p + B_p + \tfrac{1 - \varepsilon}{2}\hat u_p.
    """
    import cvxpy as cp

    n_pairs, n_src, n_dst = g.src.size, g.a.size, g.b.size
    begin = time.perf_counter()
    A, B, u = cp.Variable(n_pairs), cp.Variable(n_pairs), cp.Variable(n_pairs)
    out_of = sp.csr_matrix((np.ones(n_pairs), (g.src, np.arange(n_pairs))),
                           shape=(n_src, n_pairs))
    into = sp.csr_matrix((np.ones(n_pairs), (g.dst, np.arange(n_pairs))),
                         shape=(n_dst, n_pairs))
    marginals, slack_sum, slacks = [out_of @ A, into @ B], 0.0, []
    for side, (free, size) in enumerate(zip(g.unpaired(), (n_src, n_dst), strict=True)):
        if free.size:
            slack = cp.Variable(free.size, nonneg=True)
            place = sp.csr_matrix((np.ones(free.size), (free, np.arange(free.size))),
                                  shape=(size, free.size))
            marginals[side] = marginals[side] + place @ slack
            slack_sum = slack_sum + cp.sum(slack)
            slacks.append(slack)
    eps = g.u_scale
    total = A + B
    constraints = [marginals[0] == g.a, marginals[1] == g.b,
                   cp.SOC(total + 0.5 * (1.0 - eps) * u,
                          cp.vstack([total - 0.5 * (1.0 + eps) * u, (A - B) / np.sqrt(eps)]),
                          axis=0)]
    objective = ((g.one_minus_cos / g.cost_unit) @ total + (eps * g.cos / g.cost_unit) @ u
                 + slack_sum / g.cost_unit)
    problem = cp.Problem(cp.Minimize(objective), constraints)
    settings = {"verbose": False, "max_threads": 1,
                "direct_solve_method": solve_method(n_src + n_dst), **options}
    verbose = bool(settings.pop("verbose"))
    try:
        # cvxpy's "may be inaccurate": the status policy and the certificate judge
        with silenced(UserWarning):
            problem.solve(solver=cp.CLARABEL, verbose=verbose, **settings)
    except cp.error.SolverError:
        return RawSolution(None, None, Status.SOLVER_ERROR, 0, time.perf_counter() - begin,
                           0.0)
    stats = problem.solver_stats
    solve_time = float(stats.solve_time or 0.0)
    setup = time.perf_counter() - begin - solve_time
    status = _FROM_CVXPY.get(problem.status, Status.parse(problem.status))
    if problem.status == cp.USER_LIMIT:
        status = cvxpy_limit(int(stats.num_iters or 0), settings.get("max_iter"))
    if A.value is None:
        return RawSolution(None, None, status, int(stats.num_iters or 0), setup, solve_time)
    x = np.concatenate([A.value, B.value, u.value] + [slack.value for slack in slacks])
    # cvxpy's multiplier of "expr == b" has the opposite sign of a potential
    y = -np.concatenate([constraints[0].dual_value, constraints[1].dual_value])
    return RawSolution(x, y, status, int(stats.num_iters or 0), setup, solve_time)


def check_status(status, backend: str, hint: str = "") -> None:
    """The status policy of wfr_cvx (as :func:`wfr_cvx.engine.check_status`).

    "Solved" returns; "AlmostSolved" warns with
    :class:`~wfr_cvx.errors.InaccurateSolutionWarning`; anything else raises
    :class:`~wfr_cvx.errors.SolverError` carrying the status -- never a silent number.
    The problem is always feasible (destroying all mass and creating the target is): a
    reported infeasibility is numerical trouble and raises SolverError too.
    """
    status = Status.parse(status)
    if status in SOLVED:
        return
    if status in INACCURATE:
        warn(f"the {backend} solve of the ensemble coupling stopped at reduced "
                      f"accuracy (status {status.value!r}); figures may be less precise"
                      f"{hint}", InaccurateSolutionWarning, stacklevel=None)
        return
    raise SolverError(f"the ensemble coupling solve did not converge{hint}",
                      status=status.value, backend=backend)
