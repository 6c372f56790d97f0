"""Exceptions and warnings raised by wfr_cvx.

The solver-status policy follows cvxpy's three levels:

* solved            -> the result is returned;
* almost solved     -> the result is returned with an :class:`InaccurateSolutionWarning`;
* failed/infeasible -> :class:`SolverError` (or :class:`InfeasibleError`) carrying the
  solver's status, never a silent number.
"""

from __future__ import annotations

__all__ = ["SolverError", "InfeasibleError", "InaccurateSolutionWarning",
           "InconsistentFileWarning", "ProblemTooLargeError", "UnitsWarning"]


def _rebuilt(cls, args: tuple, state: dict):
    """An exception of ``cls`` with its message ``args`` and attributes ``state``, made
    without calling its keyword-only constructor (which pickle cannot)."""
    error = cls.__new__(cls, *args)
    BaseException.__init__(error, *args)
    error.__dict__.update(state)
    return error


class _Picklable:
    """Errors whose constructors take keywords still cross process boundaries (pickle,
    ``copy``): a process pool or a dask worker raising one re-raises it in the caller."""

    def __reduce__(self):
        return _rebuilt, (type(self), self.args, dict(self.__dict__))


class SolverError(_Picklable, RuntimeError):
    """The solver did not produce an acceptable solution.

    Attributes
    ----------
    status : str
        The backend's status string (e.g. ``"MaxIterations"``, ``"NumericalError"``).
    backend : str
        The backend that ran the solve (``"clarabel"``, ``"cvxpy"``, ``"dr"``, ``"scs"``).
    counts : dict or None
        What the failed solve spent, where known: its ``iterations``, ``setup_time``,
        ``solve_time`` and ``assembly_time``.
    """

    def __init__(self, message: str, *, status: str, backend: str,
                 counts: dict | None = None):
        super().__init__(f"{message} (backend={backend!r}, status={status!r})")
        self.status = status
        self.backend = backend
        self.counts = counts


class InfeasibleError(SolverError):
    """The solver certified the problem primal or dual infeasible."""


class InaccurateSolutionWarning(UserWarning):
    """The solver stopped at reduced accuracy; figures are returned but less precise."""


class InconsistentFileWarning(UserWarning):
    """A loaded result whose figures disagree with its own arrays beyond what a solve
    leaves (an edited or damaged file, a solve at loosened tolerances, or a file written
    by an earlier wfr_cvx): it is returned, but its figures are not to be trusted."""


class UnitsWarning(UserWarning):
    """An input whose size suggests the wrong units (a crossover scale in dollars passed
    as ``lam`` in weight units, a spread in basis points passed as a fraction, prices
    passed as returns)."""


class ProblemTooLargeError(_Picklable, ValueError):
    """The grid would need more memory than the machine has (estimated before any work).

    Attributes
    ----------
    needed_bytes, available_bytes : int
    """

    def __init__(self, message: str, *, needed_bytes: int, available_bytes: int):
        super().__init__(message)
        self.needed_bytes = needed_bytes
        self.available_bytes = available_bytes
