r"""Batch solving: many independent problems on a process pool or a Dask cluster.

A desk does not solve one geodesic: it sweeps :math:`\lambda`, re-solves every rebalancing
date and compares regimes.  :func:`solve_many` runs such jobs on any
:class:`concurrent.futures.Executor` (by default a local process pool; a dask.distributed
cluster through ``client.get_executor()``) and returns one row per job, in job order;
:func:`sweep` builds the jobs of a parameter sweep.

Where the work happens:

* in the calling process, each job is read and validated (a file or a dict by the code of
  :func:`wfr_cvx.problems.load`); files a problem refers to (CSV allocations, prices) are
  read there, so the workers of a remote cluster need wfr_cvx installed but not the files;
* the :class:`~wfr_cvx.problems.Problem` (grid, allocations, parameters: a few kB on a 1-D
  grid) is pickled to a worker, solved there, and the worker returns plain figures, never
  the path;
* a job that fails (invalid file, solver failure, lost worker) is a row with its status and
  message; the other jobs are unaffected.

Statuses: the solver's (``"Solved"``, ``"AlmostSolved"``: an inaccurate solve is reported
by its status, not by a warning), the solver's status of a :class:`~wfr_cvx.SolverError`
(``"MaxIterations"``, ``"PrimalInfeasible"`` ...), ``"invalid"`` for a job that could not
be read, ``"error"`` for any other exception, in the worker or in the executor.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import itertools
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from . import problems
from .errors import InaccurateSolutionWarning, SolverError
from .problems import Problem

__all__ = ["SerialExecutor", "COLUMNS", "solve_many", "sweep"]


class SerialExecutor(concurrent.futures.Executor):
    """Runs each job when it is submitted, in this process.

    The serial reference for :func:`solve_many` (``executor=SerialExecutor()``): same
    rows, no pool, tracebacks and debuggers work as usual.
    """

    def submit(self, fn, /, *args, **kwargs):
        future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # the future carries it, as a pool's would
            future.set_exception(exc)
        return future


#: The columns of :func:`solve_many`'s table, in order.
COLUMNS = ("name", "status", "distance2", "transport_cost", "reaction_cost", "iterations",
           "time", "error")


def solve_many(jobs, *, executor=None, workers: int | None = None,
               progress: bool = True) -> pd.DataFrame:
    """Solve independent problems in parallel; one row per job, in job order.

    Parameters
    ----------
    jobs : iterable
        Problem file paths (str or path-like), :class:`~wfr_cvx.problems.Problem` objects
        (e.g. from :func:`sweep`), or dicts with the structure of a problem file (read by
        :func:`wfr_cvx.problems.from_dict`; relative paths are relative to the current
        directory; the name defaults to ``"job<i>"``, ``i`` the job's position).
    executor : concurrent.futures.Executor, optional
        Where to solve: any executor whose ``submit`` returns
        :class:`concurrent.futures.Future` objects, e.g. a dask.distributed client's
        ``client.get_executor()`` (which hashes the jobs: identical jobs are solved once
        while their results are held; ``client.get_executor(pure=False)`` solves each).
        It is used, not shut down.  Default: a local
        :class:`~concurrent.futures.ProcessPoolExecutor` (the platform's start method),
        created for this call and shut down at its end.
    workers : int, optional
        Processes of the default pool (default ``os.cpu_count()``, never more than the
        number of jobs); only without ``executor``.
    progress : bool
        A tqdm progress bar on stderr when tqdm is installed; nothing otherwise.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`: ``name``, ``status``, ``distance2``, ``transport_cost``,
        ``reaction_cost`` (NaN for a failed job), ``iterations`` (nullable integer),
        ``time`` (seconds of the solve in the worker; NaN for a job that could not be
        read), ``error`` (``"ExceptionType: message"`` for a failed job, ``""``
        otherwise).  Statuses are listed in the module docstring.

    Raises
    ------
    TypeError
        A job that is not a path, a Problem or a dict, or an executor without ``submit``.
    ValueError
        ``workers`` < 1, or ``workers`` together with ``executor``.

    Examples
    --------
    >>> from concurrent.futures import ThreadPoolExecutor
    >>> job = {"lam": 0.5, "grid": {"n_weights": 8, "n_steps": 2},
    ...        "rho0": {"diracs": [{"weight": 0.5}]},
    ...        "rho1": {"diracs": [{"weight": 0.5, "mass": 4.0}]}}
    >>> with ThreadPoolExecutor(1) as pool:
    ...     table = solve_many([job, {**job, "lam": -1.0}], executor=pool, progress=False)
    >>> table["name"].tolist(), table["status"].tolist(), table["distance2"].round(6).tolist()
    (['job0', 'job1'], ['Solved', 'invalid'], [1.0, nan])
    >>> table.loc[1, "error"]
    'ProblemFileError: <job1>: `lam`: must be > 0, got -1'
    """
    jobs = list(jobs)
    for i, job in enumerate(jobs):
        if not isinstance(job, (str, os.PathLike, Problem, dict)):
            raise TypeError(f"`jobs[{i}]` must be a problem file path, a Problem or a dict, "
                            f"got {type(job).__name__}")
    if executor is not None:
        if workers is not None:
            raise ValueError("`workers` sets the size of the default process pool; it "
                             "cannot be combined with `executor`")
        if not callable(getattr(executor, "submit", None)):
            raise TypeError(f"`executor` must be a concurrent.futures.Executor, got "
                            f"{type(executor).__name__}")
    elif workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                  or workers < 1):
        raise ValueError(f"`workers` must be an integer >= 1, got {workers!r}")

    rows: list[dict | None] = [None] * len(jobs)
    names: list[str] = []
    todo: list[tuple[int, Problem]] = []
    for i, job in enumerate(jobs):
        problem, row = _read(job, i)
        names.append(problem.name if problem is not None else row["name"])
        if problem is None:
            rows[i] = row
        else:
            todo.append((i, problem))

    bar = _progress_bar(len(jobs), progress)
    if bar is not None:
        bar.update(len(jobs) - len(todo))
    try:
        if todo and executor is None:
            n = min(workers or os.cpu_count() or 1, len(todo))
            pool = concurrent.futures.ProcessPoolExecutor(max_workers=n)
            try:
                _run(pool, todo, rows, names, bar)
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
        elif todo:
            _run(executor, todo, rows, names, bar)
    finally:
        if bar is not None:
            bar.close()
    return _table(rows)


def sweep(problem, *, lam=None, tau=None) -> list[Problem]:
    """The jobs of a parameter sweep: one problem per point of the cartesian product.

    Parameters
    ----------
    problem : Problem, path or dict
        The base problem (a file or a dict is read as by :func:`solve_many`).
    lam : number or sequence of numbers, optional
        Crossover scales (each finite and > 0).
    tau : number or sequence of numbers, optional
        Proximal steps (each finite and > 0); only for a ``kind = "rebalance"`` problem.

    Returns
    -------
    list of Problem
        ``lam`` varies slowest; each is named ``"<name>[lam=0.1]"``,
        ``"<name>[tau=5]"`` or ``"<name>[lam=0.1,tau=5]"`` (values formatted with ``:g``).
        The base problem's ``[expected]`` figures are dropped: they belong to its own
        parameters.

    Raises
    ------
    ValueError
        Neither ``lam`` nor ``tau``, an empty list, a value that is not finite and > 0,
        or ``tau`` for a problem that is not a rebalance (the message names the argument).

    Examples
    --------
    >>> base = {"name": "grow", "lam": 0.5, "grid": {"n_weights": 8, "n_steps": 2},
    ...         "rho0": {"diracs": [{"weight": 0.5}]},
    ...         "rho1": {"diracs": [{"weight": 0.5, "mass": 4.0}]}}
    >>> [job.name for job in sweep(base, lam=[0.25, 1.0])]
    ['grow[lam=0.25]', 'grow[lam=1]']
    """
    if isinstance(problem, dict):
        problem = problems.from_dict(problem, name="problem")
    elif isinstance(problem, (str, os.PathLike)):
        problem = problems.load(problem)
    elif not isinstance(problem, Problem):
        raise TypeError(f"`problem` must be a Problem, a problem file path or a dict, got "
                        f"{type(problem).__name__}")
    if lam is None and tau is None:
        raise ValueError("give `lam`, `tau` or both: the values to sweep")
    if tau is not None and problem.kind != "rebalance":
        raise ValueError(f"`tau` only applies to a kind = \"rebalance\" problem; "
                         f"{problem.name!r} is kind = {problem.kind!r}")
    axes = []
    for key, values in (("lam", lam), ("tau", tau)):
        if values is not None:
            axes.append([(key, v) for v in _positive_values(values, key)])
    out = []
    for point in itertools.product(*axes):
        label = ",".join(f"{key}={value:g}" for key, value in point)
        out.append(dataclasses.replace(problem, name=f"{problem.name}[{label}]",
                                       expected=(), **dict(point)))
    return out


# -- internals ---------------------------------------------------------------------------
def _positive_values(values, name: str) -> list[float]:
    seq = [values] if np.ndim(values) == 0 else list(np.ravel(values))
    if not seq:
        raise ValueError(f"`{name}` must hold at least one value")
    out = []
    for v in seq:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.number)):
            raise ValueError(f"`{name}` must hold numbers, got {v!r}")
        if not np.isfinite(v) or v <= 0:
            raise ValueError(f"`{name}` values must be finite and > 0, got {v!r}")
        out.append(float(v))
    return out


def _read(job, index: int) -> tuple[Problem | None, dict | None]:
    """The job as a Problem, or None and its failed row."""
    if isinstance(job, Problem):
        return job, None
    try:
        if isinstance(job, dict):
            return problems.from_dict(job, name=f"job{index}"), None
        return problems.load(job), None
    except (ValueError, TypeError, OSError) as exc:
        if isinstance(job, dict):
            label = job.get("name")
            name = label if isinstance(label, str) and label else f"job{index}"
        else:
            name = Path(job).stem
        return None, _failed(name, "invalid", exc, np.nan)


def _solve(problem: Problem) -> dict:
    """Solve one problem (in a worker): its row of figures, or its failure."""
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InaccurateSolutionWarning)
            result = problem.solve()
    except SolverError as exc:
        return _failed(problem.name, exc.status, exc, time.perf_counter() - start)
    except Exception as exc:  # a batch never loses its other jobs to one failure
        return _failed(problem.name, "error", exc, time.perf_counter() - start)
    seconds = time.perf_counter() - start
    path = result.path if problem.kind == "rebalance" else result
    return {"name": problem.name, "status": path.status,
            "distance2": float(result.distance2), "transport_cost": path.transport_cost,
            "reaction_cost": path.reaction_cost, "iterations": path.iterations,
            "time": seconds, "error": ""}


def _failed(name: str, status: str, exc: BaseException, seconds: float) -> dict:
    message = " ".join(str(exc).split())
    return {"name": name, "status": status, "distance2": np.nan, "transport_cost": np.nan,
            "reaction_cost": np.nan, "iterations": None, "time": seconds,
            "error": f"{type(exc).__name__}: {message}" if message else type(exc).__name__}


def _run(executor, todo, rows, names, bar) -> None:
    """Submit every job, then collect each future; a failure fills its own row only."""
    futures = {}
    for i, problem in todo:
        try:
            futures[executor.submit(_solve, problem)] = i
        except Exception as exc:  # e.g. a broken pool or an unpicklable job
            rows[i] = _failed(names[i], "error", exc, np.nan)
            if bar is not None:
                bar.update()
    for future in concurrent.futures.as_completed(futures):
        i = futures[future]
        try:
            rows[i] = future.result()
        except Exception as exc:  # the executor lost the job (worker died, ...)
            rows[i] = _failed(names[i], "error", exc, np.nan)
        if bar is not None:
            bar.update()


def _table(rows: list[dict]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    for column in ("distance2", "transport_cost", "reaction_cost", "time"):
        table[column] = table[column].astype(float)
    table["iterations"] = table["iterations"].astype("Int64")
    table["error"] = table["error"].astype(str)
    return table


def _progress_bar(total: int, enabled: bool):
    if not enabled or total == 0:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="batch", unit="job", file=sys.stderr, leave=False)
