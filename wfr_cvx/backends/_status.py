"""Solver statuses: one enumeration for every backend, and the sets the status policy reads.

Every backend maps its solver's own words into :class:`Status` (Clarabel's names are used
as they are; SCS, cvxpy and the first-order backend have a map each).  The policy of
:func:`wfr_cvx.engine.check_status` is cvxpy's three levels: a status in :data:`SOLVED`
returns the result, one in :data:`INACCURATE` returns it with a warning, any other raises
(:class:`~wfr_cvx.errors.InfeasibleError` for :data:`INFEASIBLE`).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Status", "SOLVED", "INACCURATE", "INFEASIBLE", "LIMIT", "cvxpy_limit",
           "severity"]


class Status(StrEnum):
    """The outcome of a solve.  A ``str`` subclass: ``Status.SOLVED == "Solved"``."""

    SOLVED = "Solved"
    ALMOST_SOLVED = "AlmostSolved"
    PRIMAL_INFEASIBLE = "PrimalInfeasible"
    DUAL_INFEASIBLE = "DualInfeasible"
    ALMOST_PRIMAL_INFEASIBLE = "AlmostPrimalInfeasible"
    ALMOST_DUAL_INFEASIBLE = "AlmostDualInfeasible"
    MAX_ITERATIONS = "MaxIterations"
    MAX_TIME = "MaxTime"
    NUMERICAL_ERROR = "NumericalError"
    INSUFFICIENT_PROGRESS = "InsufficientProgress"
    INTERRUPTED = "Interrupted"
    UNSOLVED = "Unsolved"
    SOLVER_ERROR = "SolverError"

    @classmethod
    def parse(cls, value) -> Status:
        """The status named ``value`` (a Status or its string, e.g. Clarabel's); a name
        that is none of them is :attr:`SOLVER_ERROR` (never mistaken for a success)."""
        if isinstance(value, cls):
            return value
        try:
            return cls(str(value))
        except ValueError:
            return cls.SOLVER_ERROR


SOLVED = frozenset({Status.SOLVED})
INACCURATE = frozenset({Status.ALMOST_SOLVED})
INFEASIBLE = frozenset({Status.PRIMAL_INFEASIBLE, Status.DUAL_INFEASIBLE,
                        Status.ALMOST_PRIMAL_INFEASIBLE, Status.ALMOST_DUAL_INFEASIBLE})
LIMIT = frozenset({Status.MAX_ITERATIONS, Status.MAX_TIME})

_SEVERITY = {**dict.fromkeys(SOLVED, 0), **dict.fromkeys(INACCURATE, 1),
             **dict.fromkeys(INFEASIBLE, 3)}


def severity(status: Status) -> int:
    """How bad a status is when the statuses of independent blocks are combined: solved
    0, inaccurate 1, a failure 2, infeasible 3 (one infeasible block makes the whole)."""
    return _SEVERITY.get(Status.parse(status), 2)


def cvxpy_limit(iterations: int, max_iter: int | None) -> Status:
    """The Clarabel limit behind cvxpy's ``user_limit``, which folds both into one word:
    :attr:`Status.MAX_ITERATIONS` when the solve used its ``max_iter`` iterations
    (None: Clarabel's default), else :attr:`Status.MAX_TIME`."""
    if max_iter is None:
        import clarabel

        max_iter = clarabel.DefaultSettings().max_iter
    return Status.MAX_ITERATIONS if iterations >= max_iter else Status.MAX_TIME
