r"""Batch solving: many independent problems on a process pool or a Dask cluster.

A desk does not solve one geodesic: it sweeps :math:`\lambda`, re-solves every rebalancing
date and compares regimes.  :func:`solve_many` runs such jobs on any
:class:`concurrent.futures.Executor` (by default a local process pool; a dask.distributed
cluster through ``client.get_executor()``) and returns one row per job, in job order;
:func:`sweep` builds the jobs of a parameter sweep.

Where the work happens:

* in the calling process, each job is read and validated (a file or a dict by the code of
  :func:`wfr_cvx.problem_files.load`); files a problem refers to (CSV allocations, prices) are
  read there, so the workers of a remote cluster need wfr_cvx installed but not the files;
* the :class:`~wfr_cvx.problem_files.Problem` (grid, allocations, parameters: a few kB on a 1-D
  grid) is pickled to a worker, solved there, and the worker returns plain figures, never
  the path;
* a job that fails (invalid file, solver failure, lost worker) is a row with its status and
  message; the other jobs are unaffected.  On the default local pool each worker process
  solves one job at a time; a worker that dies (killed, out of memory, a crash in native
  code) costs only the job it was running, which is retried once on a fresh worker and
  then reported failed (``"WorkerLost: ..."``).  A Dask cluster reschedules the tasks of a
  lost worker itself.

Start method: the default pool starts its workers by the platform's start method, except
that it never forks a process in which other threads are running (``fork``, the default on
Linux before Python 3.14, while threads other than the caller's run; tqdm's monitor thread
aside, and this package's bars start none): a forked child inherits every lock as it was at
the fork, and one held by another thread then (a module being imported, a JIT compiler's
lock) is held in the child for ever, which would wait on it.  Such workers are started by
``spawn`` instead: a fresh interpreter that imports wfr_cvx (seconds more per call), and, as
with any ``spawn`` pool, re-imports the main script, whose top-level code must then be
guarded by ``if __name__ == "__main__":`` (a job lost to a spawned worker says so).

Threads: a solve uses threads for independent blocks and in the first-order backend
(:mod:`wfr_cvx._threads`).  Each job is held to ``threads_per_worker`` threads (default 1),
so the default ``workers`` = cores keeps workers x threads at the number of cores.

Names: a row is named by its problem's name -- a file's ``name =`` (default: the file's
stem), a dict's ``"name"`` (default ``"job<i>"``), a :class:`Problem`'s ``name`` -- while
a file that cannot be read is named by its stem.  Names need not be unique: a failing
``b.toml`` and a valid ``a.toml`` with ``name = "b"`` both give a row ``"b"``.  Rows are in
job order, and ``wfr-cvx batch --out`` writes each row's ``file`` as well.

Statuses: the solver's (``"Solved"``, ``"AlmostSolved"``), the solver's status of a
:class:`~wfr_cvx.SolverError` (``"MaxIterations"``, ``"PrimalInfeasible"`` ...),
``"invalid"`` for a job that is not a valid problem (a ValueError, TypeError or OSError
while reading it: a :class:`~wfr_cvx.problem_files.ProblemFileError`, a missing file),
``"error"`` for any other exception, while reading, in the worker or in the executor; the
``error`` of a job that could not be read names its file (a dict: ``<name>``).
KeyboardInterrupt and SystemExit still stop the batch.

Warnings: every warning wfr_cvx raises for a job, while it is read or solved, is in its
row's ``warnings`` column (``"Category: message"``, several joined by ``" | "``), never
shown on stderr nor raised by an ``"error"`` warnings filter, on every executor alike.  A
solve can be inaccurate and still say ``"Solved"`` -- its
:class:`~wfr_cvx.errors.InaccurateSolutionWarning` says so (the first-order backend on a
1-D grid, a path priced above its objective, a small rebalance step left unrefined ...):
read ``status`` together with ``warnings``.  Each thread collects its own job's warnings
(:mod:`wfr_cvx._warnings`), so jobs running side by side in the threads of one process (a
ThreadPoolExecutor, a Dask worker with several threads) keep theirs apart, without
swapping the process's warnings filters.  Warnings of other packages (numpy, cvxpy,
pandas) go through the filters as usual, but for one: a solve that silences another
package's warnings (the ``cvxpy`` backend, cvxpy's "solution may be inaccurate", which the
status reports) puts one entry first in ``warnings.filters`` and leaves it there; it
ignores that category (UserWarning) only in a thread inside such a solve, and is inert in
every other thread (:func:`wfr_cvx._warnings.silenced`).  The other filters are left as
they were.
"""

from __future__ import annotations

import collections
import collections.abc
import concurrent.futures
import dataclasses
import itertools
import os
import signal
import time
from pathlib import Path

import numpy as np
import pandas as pd

from . import problem_files
from ._progress import AUTO, check_progress, progress_bar, progress_default
from ._threads import thread_limit
from ._warnings import collected
from .errors import SolverError
from .problem_files import EnsembleProblem, Problem

#: The validated problems a job may be (besides a path or a dict).
PROBLEMS = (Problem, EnsembleProblem)

__all__ = ["SerialExecutor", "COLUMNS", "WorkerLost", "solve_many", "sweep"]


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
           "time", "error", "warnings")


def solve_many(jobs, *, executor=None, workers: int | None = None,
               threads_per_worker: int = 1, progress: bool | str = AUTO) -> pd.DataFrame:
    """Solve independent problems in parallel; one row per job, in job order.

    Parameters
    ----------
    jobs : iterable
        A list (or any iterable) of jobs, each a problem file path (str or path-like), a
        :class:`~wfr_cvx.problem_files.Problem` or
        :class:`~wfr_cvx.problem_files.EnsembleProblem` (e.g. from :func:`sweep`), or a
        dict with the structure of a problem file (read by
        :func:`wfr_cvx.problem_files.from_dict`; relative paths are relative to the current
        directory; the name defaults to ``"job<i>"``, ``i`` the job's position).  A single
        job (a str, path, dict or problem) is refused: pass ``[job]``.
    executor : concurrent.futures.Executor, optional
        Where to solve: any executor whose ``submit`` returns
        :class:`concurrent.futures.Future` objects, e.g. a dask.distributed client's
        ``client.get_executor()`` (which hashes the jobs: identical jobs are solved once
        while their results are held; ``client.get_executor(pure=False)`` solves each).
        It is used, not shut down.  Default: a local pool of worker processes (the
        platform's start method), created for this call and shut down at its end, in
        which a dying worker costs only its own job; a process running other threads is
        not forked but its workers spawned (module docstring).
    workers : int, optional
        Processes of the default pool (default ``os.cpu_count()``, never more than the
        number of jobs); only without ``executor``.
    threads_per_worker : int
        Threads each job may use (default 1: ``workers`` x threads = cores).
    progress : bool or "auto"
        A tqdm progress bar of the jobs on stderr (when tqdm is installed); ``"auto"``
        (default) only when stderr is a terminal (:mod:`wfr_cvx._progress`).  The solves
        themselves show no bar.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`: ``name``, ``status``, ``distance2``, ``transport_cost``,
        ``reaction_cost`` (NaN for a failed job), ``iterations`` (nullable integer),
        ``time`` (seconds of the solve in the worker; NaN for a job that could not be
        read), ``error`` (``"ExceptionType: message"`` for a failed job, ``""``
        otherwise), ``warnings`` (each distinct warning the job raised, in order, as
        ``"Category: message"`` with its whitespace collapsed, joined by ``" | "``;
        ``""`` when none -- an ``InaccurateSolutionWarning`` marks an inaccurate solve whose
        status may still be ``"Solved"``).  Statuses and warnings are described in the
        module docstring.

    Raises
    ------
    TypeError
        ``jobs`` a single job or not iterable, a job that is not a path, a Problem, an
        EnsembleProblem or a dict, or an executor without ``submit``.
    ValueError
        ``workers`` or ``threads_per_worker`` < 1, or ``workers`` together with
        ``executor``.

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
    if isinstance(jobs, (str, os.PathLike, collections.abc.Mapping, *PROBLEMS)):
        # iterating one would solve its characters or keys as jobs
        raise TypeError(f"`jobs` must be a list of jobs, got a single "
                        f"{type(jobs).__name__}: pass a list, e.g. [job]")
    try:
        jobs = list(jobs)
    except TypeError:
        raise TypeError(f"`jobs` must be a list of jobs (problem file paths, Problems, "
                        f"EnsembleProblems or dicts), got {type(jobs).__name__}") from None
    for i, job in enumerate(jobs):
        if not isinstance(job, (str, os.PathLike, *PROBLEMS, dict)):
            raise TypeError(f"`jobs[{i}]` must be a problem file path, a Problem, an "
                            f"EnsembleProblem or a dict, got {type(job).__name__}")
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
    if (isinstance(threads_per_worker, bool) or not isinstance(threads_per_worker, int)
            or threads_per_worker < 1):
        raise ValueError(f"`threads_per_worker` must be an integer >= 1, got "
                         f"{threads_per_worker!r}")
    check_progress(progress)

    rows: list[dict | None] = [None] * len(jobs)
    names: list[str] = []
    read_warnings: dict[int, list] = {}  # raised while reading a job, here
    todo: list[tuple[int, Problem]] = []
    for i, job in enumerate(jobs):
        with collected() as caught:
            problem, row = _read(job, i)
        if caught:
            read_warnings[i] = caught
        names.append(problem.name if problem is not None else row["name"])
        if problem is None:
            rows[i] = row
        else:
            todo.append((i, problem))

    bar = progress_bar(progress if jobs else False, desc="batch", unit="job",
                       total=len(jobs))
    bar.update(len(jobs) - len(todo))
    try:
        if todo and executor is None:
            n = min(workers or os.cpu_count() or 1, len(todo))
            with _WorkerPool(n, threads_per_worker) as pool:
                pool.run(todo, rows, bar)
        elif todo:
            _run(executor, todo, rows, names, bar, threads_per_worker)
    finally:
        bar.close()
    for i, caught in read_warnings.items():
        rows[i]["warnings"] = " | ".join(
            filter(None, [_warnings_text(caught), rows[i]["warnings"]]))
    return _table(rows)


def sweep(problem, *, lam=None, tau=None) -> list[Problem]:
    """The jobs of a parameter sweep: one problem per point of the cartesian product.

    Parameters
    ----------
    problem : Problem, EnsembleProblem, path or dict
        The base problem (a file or a dict is read as by :func:`solve_many`).
    lam : number or sequence of numbers, optional
        Crossover scales (each finite and > 0).
    tau : number or sequence of numbers, optional
        Proximal steps (each finite and > 0); only for a ``kind = "rebalance"`` problem.

    Returns
    -------
    list of Problem (or EnsembleProblem)
        ``lam`` varies slowest; each is named ``"<name>[lam=0.1]"``,
        ``"<name>[tau=5]"`` or ``"<name>[lam=0.1,tau=5]"``, each value as the shortest
        decimal that reads back as the same number (``0.1000001``, ``12345678``,
        ``1e-07``): distinct values give distinct names.
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
        problem = problem_files.from_dict(problem, name="problem")
    elif isinstance(problem, (str, os.PathLike)):
        problem = problem_files.load(problem)
    elif not isinstance(problem, PROBLEMS):
        raise TypeError(f"`problem` must be a Problem, an EnsembleProblem, a problem file "
                        f"path or a dict, got {type(problem).__name__}")
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
        label = ",".join(f"{key}={_label(value)}" for key, value in point)
        out.append(dataclasses.replace(problem, name=f"{problem.name}[{label}]",
                                       expected=(), **dict(point)))
    return out


# -- internals ---------------------------------------------------------------------------
def _label(value: float) -> str:
    """``value`` in a job's name: the shortest text that reads back as the same float
    (``0.1000001``, not ``:g``'s ``0.1``), without a trailing ``.0``."""
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text


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
    if isinstance(job, PROBLEMS):
        return job, None
    name = f"job{index}"
    if isinstance(job, dict):
        label = job.get("name")
        name = label if isinstance(label, str) and label else name
    source = f"<{name}>" if isinstance(job, dict) else str(Path(job))
    try:
        if isinstance(job, dict):
            return problem_files.from_dict(job, name=name), None
        return problem_files.load(job), None
    except Exception as exc:  # a batch never loses its other jobs to one failure
        status = "invalid" if isinstance(exc, (ValueError, TypeError, OSError)) else "error"
        row = _failed(name if isinstance(job, dict) else Path(job).stem, status, exc, np.nan)
        if source not in str(exc):  # the message names the job it belongs to
            row["error"] = _one_line(type(exc), f"{source}: {exc}")
        return None, row


def _solve(problem: Problem, threads: int = 1) -> dict:
    """Solve one problem (in a worker) on at most ``threads`` threads: its row of figures,
    or its failure, with the warnings it raised."""
    start = time.perf_counter()
    with collected() as caught:
        try:
            # no bar of the solve's own: the batch shows one for the jobs
            with thread_limit(threads), progress_default(False):
                result = problem.solve()
        except SolverError as exc:
            row = _failed(problem.name, exc.status, exc, time.perf_counter() - start)
        except Exception as exc:  # a batch never loses its other jobs to one failure
            row = _failed(problem.name, "error", exc, time.perf_counter() - start)
        else:
            seconds = time.perf_counter() - start
            path = result.path if problem.kind == "rebalance" else result
            row = {"name": problem.name, "status": str(path.status),
                   "distance2": float(result.distance2),
                   "transport_cost": path.transport_cost,
                   "reaction_cost": path.reaction_cost, "iterations": path.iterations,
                   "time": seconds, "error": ""}
    # formatted here, in the worker: text crosses to the caller from a process or a cluster
    row["warnings"] = _warnings_text(caught)
    return row


def _failed(name: str, status: str, exc: BaseException, seconds: float) -> dict:
    return {"name": name, "status": status, "distance2": np.nan, "transport_cost": np.nan,
            "reaction_cost": np.nan, "iterations": None, "time": seconds,
            "error": _one_line(type(exc), exc), "warnings": ""}


def _one_line(kind: type, message) -> str:
    """``"Type: message"``, the message's whitespace collapsed (``"Type"`` without one)."""
    text = " ".join(str(message).split())
    return f"{kind.__name__}: {text}" if text else kind.__name__


def _warnings_text(caught) -> str:
    """The ``warnings`` cell: each distinct warning once, in the order raised."""
    return " | ".join(dict.fromkeys(_one_line(category, message)
                                    for category, message in caught))


def _run(executor, todo, rows, names, bar, threads: int) -> None:
    """Submit every job, then collect each future; a failure fills its own row only."""
    # future -> its rows: an executor may answer identical jobs with one future
    futures: dict[concurrent.futures.Future, list[int]] = {}
    for i, problem in todo:
        try:
            future = executor.submit(_solve, problem, threads)
        except Exception as exc:  # e.g. a broken pool or an unpicklable job
            rows[i] = _failed(names[i], "error", exc, np.nan)
            bar.update()
        else:
            futures.setdefault(future, []).append(i)
    for future in concurrent.futures.as_completed(futures):
        try:
            row, lost = future.result(), None
        except Exception as exc:  # the executor lost the job (worker died, ...)
            row, lost = None, exc
        for i in futures[future]:
            # a row of its own each: the read warnings are added to it later
            rows[i] = dict(row) if lost is None else _failed(names[i], "error", lost, np.nan)
            bar.update()


class WorkerLost(RuntimeError):
    """The worker process solving a job died (it was killed, ran out of memory or crashed
    in native code) on every attempt."""


def _worker_main(connection, threads: int) -> None:
    """A worker process: solve the jobs that arrive on ``connection``, one at a time."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                 "NUMBA_NUM_THREADS"):
        os.environ[name] = str(threads)
    while True:
        try:
            job = connection.recv()
        except (EOFError, OSError):  # the parent went away
            return
        if job is None:
            return
        index, problem = job
        connection.send((index, _solve(problem, threads)))


def _start_context():
    """The multiprocessing context a worker is started by, and the names of the threads
    that made it ``spawn`` (empty when it is the platform's): ``spawn`` instead of
    ``fork`` while other threads run (a lock one of them holds at the fork would be held
    for ever in the child).  tqdm's monitor thread (a caller's own bars) is not counted:
    it holds no lock a worker takes, since workers show no bars."""
    import multiprocessing
    import sys
    import threading

    context = multiprocessing.get_context()
    monitor = getattr(sys.modules.get("tqdm._monitor"), "TMonitor", ())
    others = [t.name for t in threading.enumerate()
              if t is not threading.current_thread() and not isinstance(t, monitor)]
    if context.get_start_method() == "fork" and others:
        return multiprocessing.get_context("spawn"), others
    return context, []


def _spawn_hint(threads: list[str]) -> str:
    """What a lost job's error adds when its worker was spawned, not forked."""
    if not threads:
        return ""
    return (f"; the workers were spawned, not forked, since other threads were running "
            f"({', '.join(threads[:3])}): a spawned worker re-imports the main script, "
            "whose top-level code must be guarded by `if __name__ == \"__main__\":` (a "
            "worker that exits with code 1 at once is that), or pass `executor=`")


class _Worker:
    """One worker process, its pipe and the job it is solving (None when idle)."""

    def __init__(self, threads: int):
        # at each start: threads may have begun since the last
        context, self.spawned_for = _start_context()
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(child, threads),
                                       daemon=True)
        self.process.start()
        child.close()
        self.job = None  # (index, problem, attempt)


class _WorkerPool:
    """Worker processes that each solve one job at a time; a worker that dies costs only
    its own job, which is retried once on a fresh worker.

    (A :class:`concurrent.futures.ProcessPoolExecutor` marks itself broken when one worker
    dies and fails every job still in it.)
    """

    #: Attempts per job: a job whose worker dies is tried once more.
    ATTEMPTS = 2

    def __init__(self, n_workers: int, threads: int):
        self._threads = threads
        self._workers = [_Worker(threads) for _ in range(n_workers)]

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def run(self, todo, rows, bar) -> None:
        """Solve ``todo`` (``(row index, problem)`` pairs) into ``rows``."""
        from multiprocessing.connection import wait

        queue = collections.deque((i, problem, 1) for i, problem in todo)
        busy = 0
        while queue or busy:
            for worker in self._workers:
                if worker.job is None and queue:
                    busy += self._assign(worker, queue, rows, bar)
            if not busy:
                continue
            waiting = {}
            for worker in self._workers:
                if worker.job is not None:
                    waiting[worker.connection] = worker
                    waiting[worker.process.sentinel] = worker
            for ready in wait(list(waiting)):
                worker = waiting[ready]
                if worker.job is None:  # already handled through its other handle
                    continue
                busy -= 1
                row = self._collect(worker)
                index, problem, attempt = worker.job
                worker.job = None
                if row is not None:
                    rows[index] = row
                else:
                    code = self._replace(worker)
                    if attempt < self.ATTEMPTS:
                        queue.appendleft((index, problem, attempt + 1))
                        continue
                    rows[index] = _failed(problem.name, "error", WorkerLost(
                        f"the worker process solving this job died on each of "
                        f"{self.ATTEMPTS} attempts (last exit code {code}"
                        f"{_signal_name(code)}); the other jobs are unaffected"
                        f"{_spawn_hint(worker.spawned_for)}"), np.nan)
                bar.update()

    def _assign(self, worker, queue, rows, bar) -> int:
        """Send the next job to an idle worker; 1 if it is now busy."""
        index, problem, attempt = queue.popleft()
        try:
            worker.connection.send((index, problem))
        except (OSError, EOFError):  # the worker died while idle: replace it, keep the job
            queue.appendleft((index, problem, attempt))
            self._replace(worker)
            return 0
        except Exception as exc:  # the job cannot be sent (pickling): its own row
            rows[index] = _failed(problem.name, "error", exc, np.nan)
            bar.update()
            return 0
        worker.job = (index, problem, attempt)
        return 1

    @staticmethod
    def _collect(worker) -> dict | None:
        """The row a worker sent, or None when it died before sending one."""
        try:
            if worker.connection.poll():
                _, row = worker.connection.recv()
                return row
        except (EOFError, OSError):
            pass
        return None

    def _replace(self, worker) -> int | None:
        """Start a fresh worker in place of ``worker`` (killed if still alive); returns
        the old one's exit code."""
        worker.connection.close()
        worker.process.join(timeout=5)  # a dead worker may not have been reaped yet
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        fresh = _Worker(self._threads)
        self._workers[self._workers.index(worker)] = fresh
        return worker.process.exitcode

    def close(self) -> None:
        for worker in self._workers:
            try:
                worker.connection.send(None)
            except (OSError, EOFError):
                pass
        for worker in self._workers:
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.connection.close()


def _signal_name(code) -> str:
    if code is None or code >= 0:
        return ""
    try:
        return f", killed by {signal.Signals(-code).name}"
    except ValueError:
        return f", killed by signal {-code}"


def _table(rows: list[dict]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    for column in ("distance2", "transport_cost", "reaction_cost", "time"):
        table[column] = table[column].astype(float)
    table["iterations"] = table["iterations"].astype("Int64")
    table["error"] = table["error"].astype(str)
    table["warnings"] = table["warnings"].astype(str)
    return table
