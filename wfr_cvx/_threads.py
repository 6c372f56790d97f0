"""How many threads one solve may use.

A solve uses threads in two places: independent blocks of the cone program (the regimes of
a 1-D grid) are solved side by side (:mod:`wfr_cvx.backends._blocks`), and the first-order backend
shares its products on large problems (``threads`` option of ``backend="dr"``).  By
default a solve may use every core.  When many solves run at once -- the workers of
:func:`wfr_cvx.batch.solve_many` -- each is held to its share with :func:`thread_limit`,
so that workers x threads does not exceed the cores (oversubscribed, a 4-job sweep was
slower on 2 workers than serially).
"""

from __future__ import annotations

import contextvars
import os
from contextlib import contextmanager

__all__ = ["thread_budget", "thread_limit"]

_LIMIT: contextvars.ContextVar[int | None] = contextvars.ContextVar("wfr_cvx_threads",
                                                                     default=None)


def thread_budget() -> int:
    """Threads the current solve may use: the :func:`thread_limit` in force, else the
    number of cores."""
    cores = os.cpu_count() or 1
    limit = _LIMIT.get()
    return cores if limit is None else max(1, min(limit, cores))


@contextmanager
def thread_limit(threads: int):
    """Hold the solves run inside the block (in this thread or context) to ``threads``."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"`threads` must be an integer >= 1, got {threads!r}")
    token = _LIMIT.set(threads)
    try:
        yield
    finally:
        _LIMIT.reset(token)
