r"""The two backends of the semi-coupling SOCP, and the validation of solver options.

* ``"clarabel"``: the assembled conic data (:class:`~._coupling.ConicData`) handed to
  ``clarabel.DefaultSolver`` (no quadratic term, one sparse CSC constraint matrix).
* ``"cvxpy"``: the same problem written as cvxpy expressions from the same ingredients
  (pairs, masses, cosines, objective scale), solved by Clarabel through cvxpy: a second,
  independently assembled solver for agreement tests.

Both take Clarabel's settings as keyword options.  They are checked before any work: an
unknown name, a value of the wrong type or out of range (``max_iter`` an integer >= 1,
tolerances and regularisation constants > 0, step fractions in (0, 1], ...) raises
``ValueError`` naming the option.
"""

from __future__ import annotations

import math
import numbers
import os
import sys
import time
import warnings
from dataclasses import dataclass

import clarabel
import numpy as np
import scipy.sparse as sp

from ..errors import InaccurateSolutionWarning, SolverError

__all__ = ["BACKENDS", "DEFAULTS", "RawSolution", "check_options", "check_status",
           "solve_clarabel", "solve_cvxpy", "solve_method"]

#: wfr_cvx's Clarabel defaults for ensembles, applied before the user's options: quiet, one
#: thread, and the KKT factorisation by :func:`solve_method`.
DEFAULTS = {"verbose": False, "max_threads": 1}

#: From this many atoms (both ensembles) on, faer's supernodal factorisation replaces QDLDL.
#: The transport rows couple every pair's atoms, so the KKT factor fills in like a dense
#: matrix over the atoms.  Measured (random simplex portfolios, 50 assets, two regimes, the
#: whole solve): 3,000 x 3,000 atoms, 10 % of the pairs, 41 s with faer against 99 s with
#: QDLDL; 1,000 x 1,000, all pairs, 18 s against 12 s; on all candidate pairs at once at
#: 1,000 x 1,000 (30 %), 2.5 s per iteration against 0.82 s, at 300 x 300 0.048 s against
#: 0.069 s.
FAER_FROM_ATOMS = 4000


def solve_method(n_atoms: int) -> str:
    """Clarabel's ``direct_solve_method`` for a problem over ``n_atoms`` atoms."""
    return "faer" if n_atoms >= FAER_FROM_ATOMS else "qdldl"

_DEFAULT_SETTINGS = clarabel.DefaultSettings()
SOLVER_OPTIONS = frozenset(name for name in dir(_DEFAULT_SETTINGS)
                           if not name.startswith("_") and name != "default")

#: Options whose value must lie in (0, 1].
_FRACTIONS = frozenset({"max_step_fraction", "linesearch_backtrack_step",
                        "min_switch_step_length", "min_terminate_step_length"})
#: Integer options that must be >= 1 (the others must be >= 0).
_AT_LEAST_ONE = frozenset({"max_iter", "equilibrate_max_iter"})
#: Real options that may be 0 (the others must be > 0).
_MAY_BE_ZERO = frozenset({"static_regularization_proportional"})
#: Real options that may be +inf.
_MAY_BE_INFINITE = frozenset({"time_limit", "equilibrate_max_scaling"})


def _check_option(name: str, value) -> None:
    default = getattr(_DEFAULT_SETTINGS, name)
    if isinstance(default, bool):
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"solver option `{name}` must be a bool, got {value!r}")
    elif isinstance(default, int):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral,)):
            raise ValueError(f"solver option `{name}` must be an integer, got {value!r}")
        minimum = 1 if name in _AT_LEAST_ONE else 0
        if value < minimum:
            raise ValueError(f"solver option `{name}` must be >= {minimum}, got {value}")
    elif isinstance(default, float):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise ValueError(f"solver option `{name}` must be a real number, got {value!r}")
        value = float(value)
        if math.isnan(value) or (math.isinf(value) and name not in _MAY_BE_INFINITE):
            raise ValueError(f"solver option `{name}` must be finite, got {value}")
        if name in _FRACTIONS and not 0.0 < value <= 1.0:
            raise ValueError(f"solver option `{name}` must lie in (0, 1], got {value}")
        if value < 0 or (value == 0 and name not in _MAY_BE_ZERO):
            bound = ">= 0" if name in _MAY_BE_ZERO else "> 0"
            raise ValueError(f"solver option `{name}` must be {bound}, got {value}")
    elif isinstance(default, str):
        if not isinstance(value, str):
            raise ValueError(f"solver option `{name}` must be a string, got {value!r}")
    else:  # a list (pardiso_iparm): Clarabel checks its entries
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"solver option `{name}` must be a list, got {value!r}")


def check_options(backend, options: dict) -> None:
    """Validate ``backend`` and the Clarabel ``options`` (see the module docstring)."""
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(f"`backend` must be one of {sorted(BACKENDS)}, got {backend!r}")
    unknown = sorted(set(options) - SOLVER_OPTIONS)
    if unknown:
        raise ValueError(f"unknown solver option(s) {unknown} for backend {backend!r}; "
                         f"Clarabel's settings are {sorted(SOLVER_OPTIONS)}")
    for name, value in options.items():
        _check_option(name, value)


@dataclass
class RawSolution:
    """A backend's answer in the solver's (scaled) units.

    ``x`` stacks ``[A (P), B (P), u (P), sigma (N), tau (M)]``; ``y`` are the multipliers
    of the ``N + M`` equality rows, signed as potentials (the dual objective is
    ``a y_src + b y_dst``); ``setup_time`` is the solver's set-up (for cvxpy: its
    canonicalisation), ``solve_time`` its iterations.
    """

    x: np.ndarray | None
    y: np.ndarray | None
    status: str
    iterations: int
    setup_time: float
    solve_time: float


def _settings(options: dict) -> clarabel.DefaultSettings:
    settings = clarabel.DefaultSettings()
    for name, value in options.items():
        try:
            setattr(settings, name, value)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValueError(f"solver option `{name}`={value!r} was refused: {exc}") from None
    return settings


def solve_clarabel(data, options: dict) -> RawSolution:
    """Solve the assembled :class:`~._coupling.ConicData` with ``clarabel.DefaultSolver``."""
    n_atoms = data.cones[0][1]
    settings = _settings({**DEFAULTS, "direct_solve_method": solve_method(n_atoms), **options})
    cones = []
    for kind, count in data.cones:
        if count == 0:
            continue
        if kind == "zero":
            cones.append(clarabel.ZeroConeT(count))
        elif kind == "nonneg":
            cones.append(clarabel.NonnegativeConeT(count))
        else:  # "soc3": one three-dimensional second-order cone per pair
            cones.extend([clarabel.SecondOrderConeT(3)] * count)
    n = data.A.shape[1]
    begin = time.perf_counter()
    solver = clarabel.DefaultSolver(sp.csc_matrix((n, n)), data.q, data.A, data.b, cones,
                                    settings)
    setup = time.perf_counter() - begin
    begin = time.perf_counter()
    solution = solver.solve()
    elapsed = time.perf_counter() - begin
    n_equal = data.cones[0][1]
    # Clarabel's dual z of "A x + s = b, s in K" enters as -z: potentials are -z
    return RawSolution(np.asarray(solution.x), -np.asarray(solution.z)[:n_equal],
                       str(solution.status), int(solution.iterations), setup, elapsed)


#: cvxpy's status names, back to Clarabel's (``user_limit`` stands for MaxIterations and
#: MaxTime, which cvxpy does not tell apart).
_FROM_CVXPY = {"optimal": "Solved", "optimal_inaccurate": "AlmostSolved"}


def solve_cvxpy(g, options: dict) -> RawSolution:
    r"""Write the SOCP of the :class:`~._coupling.Ingredients` ``g`` with cvxpy; solve it
    with Clarabel.

    .. math::

        \min\ \frac{1}{s}\Big[\sum_p (1 - c_p)(A_p + B_p) + c_p u_p
        + \sum_i \sigma_i + \sum_j \tau_j\Big]
        \ \text{s.t.}\ \sum_{p \ni i} A_p + \sigma_i = a_i,\
        \sum_{p \ni j} B_p + \tau_j = b_j,\ \sigma, \tau \ge 0,\
        \|(A_p + B_p - u_p, A_p - B_p)\|_2 \le A_p + B_p.
    """
    import cvxpy as cp

    n_pairs, n_src, n_dst = g.src.size, g.a.size, g.b.size
    begin = time.perf_counter()
    A, B, u = cp.Variable(n_pairs), cp.Variable(n_pairs), cp.Variable(n_pairs)
    sigma, tau = cp.Variable(n_src, nonneg=True), cp.Variable(n_dst, nonneg=True)
    out_of = sp.csr_matrix((np.ones(n_pairs), (g.src, np.arange(n_pairs))),
                           shape=(n_src, n_pairs))
    into = sp.csr_matrix((np.ones(n_pairs), (g.dst, np.arange(n_pairs))),
                         shape=(n_dst, n_pairs))
    constraints = [out_of @ A + sigma == g.a, into @ B + tau == g.b,
                   cp.SOC(A + B, cp.vstack([A + B - u, A - B]), axis=0)]
    objective = ((g.one_minus_cos / g.cost_unit) @ (A + B) + (g.cos / g.cost_unit) @ u
                 + (cp.sum(sigma) + cp.sum(tau)) / g.cost_unit)
    problem = cp.Problem(cp.Minimize(objective), constraints)
    settings = {**DEFAULTS, "direct_solve_method": solve_method(n_src + n_dst), **options}
    verbose = bool(settings.pop("verbose"))
    try:
        with warnings.catch_warnings():
            # cvxpy's "may be inaccurate": the status policy and the certificate judge
            warnings.simplefilter("ignore", UserWarning)
            problem.solve(solver=cp.CLARABEL, verbose=verbose, **settings)
    except cp.error.SolverError as exc:
        return RawSolution(None, None, f"solver_error: {exc}", 0, time.perf_counter() - begin,
                           0.0)
    stats = problem.solver_stats
    solve_time = float(stats.solve_time or 0.0)
    setup = time.perf_counter() - begin - solve_time
    status = _FROM_CVXPY.get(problem.status, problem.status)
    if A.value is None:
        return RawSolution(None, None, status, int(stats.num_iters or 0), setup, solve_time)
    x = np.concatenate([A.value, B.value, u.value, sigma.value, tau.value])
    # cvxpy's multiplier of "expr == b" has the opposite sign of a potential
    y = -np.concatenate([constraints[0].dual_value, constraints[1].dual_value])
    return RawSolution(x, y, status, int(stats.num_iters or 0), setup, solve_time)


BACKENDS = ("clarabel", "cvxpy")

_HERE = os.path.dirname(os.path.abspath(__file__))


def _caller_stacklevel() -> int:
    """The ``stacklevel`` of the first frame outside this sub-package (the user's call)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.dirname(
            os.path.abspath(frame.f_code.co_filename)) == _HERE:
        frame, level = frame.f_back, level + 1
    return level


def check_status(status: str, backend: str, hint: str = "") -> None:
    """The status policy of wfr_cvx (as :func:`wfr_cvx.geodesic.geodesic`).

    "Solved" returns; "AlmostSolved" warns with
    :class:`~wfr_cvx.errors.InaccurateSolutionWarning`; anything else raises
    :class:`~wfr_cvx.errors.SolverError` carrying the status -- never a silent number.
    The problem is always feasible (destroying all mass and creating the target is): a
    reported infeasibility is numerical trouble and raises SolverError too.
    """
    if status == "Solved":
        return
    if status == "AlmostSolved":
        warnings.warn(f"the {backend} solve of the ensemble coupling stopped at reduced "
                      f"accuracy (status {status!r}); figures may be less precise{hint}",
                      InaccurateSolutionWarning, stacklevel=_caller_stacklevel())
        return
    raise SolverError(f"the ensemble coupling solve did not converge{hint}", status=status,
                      backend=backend)
