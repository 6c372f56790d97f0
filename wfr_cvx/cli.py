"""The ``wfr-cvx`` command (also ``python -m wfr_cvx``).

::

    wfr-cvx solve FILE [--json OUT [--with-path]] [--csv OUT] [--plot OUT.png] [--verbose]
                  [--progress]
    wfr-cvx regress [DIR] [--verbose] [--progress]
    wfr-cvx frontier PRICES.csv [--points 50] [--assets A,B,...] [--dayfirst | --monthfirst]
                     [--csv OUT] [--plot OUT.png]
    wfr-cvx compare FILE [--verbose] [--progress]
    wfr-cvx batch DIR_OR_FILE... [--workers N | --scheduler ADDRESS] [--out OUT.csv]
                  [--progress]

``FILE`` is a problem file (:mod:`wfr_cvx.problem_files`), ``DIR`` a directory of them
(default ``problems``).  ``--verbose`` passes ``verbose=True`` to the solver, which then
prints its iterations (Clarabel's log, the first-order backend's checks).  Progress bars
(the problems of ``regress`` and ``batch``, the iterations of the first-order backend)
are shown on stderr when it is a terminal, or always with ``--progress``
(:mod:`wfr_cvx._progress`; tqdm, ``pip install 'wfr_cvx[progress]'``).  ``batch``
solves files in parallel (:mod:`wfr_cvx.batch`) on a local process pool or, with
``--scheduler``, on a dask.distributed cluster, and prints one row per problem, its status
``Solved (inaccurate)`` as in ``regress`` when the solve warned that it is inaccurate; each
problem that raised warnings gets one ``WARN name: warnings`` line on stderr.  Its exit status
is 1 when a problem failed (a file that is not a valid problem included: it is a failed row,
a missing path is a usage error), and stays 0 for problems solved with warnings; ``--out``
writes the table (with its ``warnings`` column) and a last column ``file``, the path each
row was read from.

``solve`` prints the file's checks but its exit status does not depend on them; that is
``regress``'s job.  Exit status: 0 on success; 1 when ``regress`` finds a problem that
fails (a figure outside its tolerance, a file it cannot read or a solve that raised, whatever
the exception: the other problems still run); 2 on a usage error, a missing or invalid
file, a failed solve or any other error — reported as one line on stderr, never a
traceback (``--debug``, before the command, shows it instead, with the same status).
Warnings (an inaccurate solve) are one ``wfr-cvx: warning:`` line each.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import warnings
from pathlib import Path

from .errors import InaccurateSolutionWarning, SolverError

__all__ = ["main"]

#: exceptions turned into a one-line message and exit status 2
_USER_ERRORS = (ValueError, TypeError, OSError, SolverError, ImportError)


class _Failure(Exception):
    """A problem the command reports as one line and exit status 2."""


def _add_backend(command) -> None:
    """``--backend``: "auto" and the backend registry's names (ensemble files take the
    ensemble engine's, :data:`wfr_cvx.ensemble.BACKENDS`)."""
    from .backends import AUTO, REGISTRY
    from .ensemble import BACKENDS

    grid_only = [name for name in sorted(REGISTRY) if name not in BACKENDS]
    command.add_argument(
        "--backend", choices=[AUTO, *sorted(REGISTRY)], metavar="NAME",
        help="solve with this backend instead of the file's (its [solver] settings are then "
             f"not used): {AUTO}: the interior point, or dr on large simplex grids; "
             + "; ".join(f"{name}: {b.summary}" for name, b in sorted(REGISTRY.items()))
             + f"; {' and '.join(grid_only)} solve grid files only: ensemble files take "
               f"{', '.join(BACKENDS)}")


def _add_progress(command) -> None:
    command.add_argument("--progress", action="store_true",
                         help="show progress bars on stderr even when it is not a terminal "
                              "(they are shown at a terminal anyway; needs tqdm)")


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="wfr-cvx",
        description="Wasserstein-Fisher-Rao geodesics of allocation distributions: "
                    "solve problem files, run the regression problems, Markowitz "
                    "frontiers.")
    parser.add_argument("--version", action="version", version=f"wfr_cvx {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error instead of one line")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    solve = commands.add_parser("solve", help="solve one problem file and report its figures")
    solve.add_argument("file", type=Path, metavar="FILE")
    solve.add_argument("--json", type=Path, metavar="OUT",
                       help="write the problem (with its constraints), inputs (the grid and "
                            "the allocations: enough to solve again), figures, status, "
                            "timings and checks as JSON; for an ensemble file a summary: "
                            "the ensembles' sizes, assets and regimes, the figures and the "
                            "plan's pairs (EnsembleGeodesic.save keeps a whole result)")
    solve.add_argument("--with-path", action="store_true",
                       help="with --json: also write the path (masses, momentum, source), "
                            "so that Geodesic.from_dict rebuilds the result (grid files)")
    solve.add_argument("--csv", type=Path, metavar="OUT",
                       help="write the path as a tidy table (Geodesic.to_frame)")
    solve.add_argument("--plot", type=Path, metavar="OUT.png", help="write the path's figure")
    solve.add_argument("--verbose", action="store_true", help="print the solver's iterations")
    _add_progress(solve)
    _add_backend(solve)

    regress = commands.add_parser(
        "regress", help="solve every problem of a directory and check the expected figures")
    regress.add_argument("dir", type=Path, nargs="?", default=Path("problems"), metavar="DIR")
    regress.add_argument("--verbose", action="store_true",
                         help="print the solver's iterations")
    _add_progress(regress)

    frontier = commands.add_parser("frontier",
                                   help="long-only Markowitz frontier of a price file")
    frontier.add_argument("prices", type=Path, metavar="PRICES.csv",
                          help="a `date` column and one column of prices per asset")
    frontier.add_argument("--points", type=int, default=50,
                          help="number of points (>= 2; more than 1,000 warns)")
    frontier.add_argument("--assets", metavar="A,B,...",
                          help="comma-separated subset of the columns (default: all)")
    order = frontier.add_mutually_exclusive_group()
    order.add_argument("--dayfirst", dest="dayfirst", action="store_const", const=True,
                       help="read dates such as 01/02/2001 as DD/MM/YYYY (refused as "
                            "ambiguous otherwise, unless a day above 12 settles it)")
    order.add_argument("--monthfirst", dest="dayfirst", action="store_const", const=False,
                       help="read such dates as MM/DD/YYYY")
    frontier.add_argument("--csv", type=Path, metavar="OUT", help="write the frontier table")
    frontier.add_argument("--plot", type=Path, metavar="OUT.png", help="write the figure")

    compare = commands.add_parser(
        "compare", help="the geodesic of a problem file against the two-phase paths "
                        "(files without constraints)")
    compare.add_argument("file", type=Path, metavar="FILE")
    _add_backend(compare)
    compare.add_argument("--verbose", action="store_true",
                         help="print the solver's iterations")
    _add_progress(compare)

    batch = commands.add_parser(
        "batch", help="solve many problem files in parallel (process pool or Dask cluster)")
    batch.add_argument("paths", type=Path, nargs="+", metavar="DIR_OR_FILE",
                       help="problem files, or directories of *.toml problem files")
    batch.add_argument("--workers", type=int, metavar="N",
                       help="processes of the local pool (default: the number of cores)")
    batch.add_argument("--scheduler", metavar="ADDRESS",
                       help="solve on this dask.distributed scheduler (tcp://host:8786) "
                            "instead of the local pool")
    batch.add_argument("--out", type=Path, metavar="OUT.csv", help="write the results table")
    _add_progress(batch)
    return parser


def main(argv=None) -> int:
    """Run the command line; returns the exit status (see the module docstring)."""
    args = _parser().parse_args(argv)
    handler = {"solve": _solve, "regress": _regress, "frontier": _frontier,
               "compare": _compare, "batch": _batch}[args.command]
    try:
        with warnings.catch_warnings(), _progress_setting(args):
            warnings.showwarning = _show_warning
            return handler(args)
    except KeyboardInterrupt:
        print("wfr-cvx: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`wfr-cvx ... | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:  # one line, never a traceback (unless --debug)
        if args.debug:  # the traceback instead, with the same exit status
            import traceback

            traceback.print_exception(exc, file=sys.stderr)
        else:
            _error(exc, expected=isinstance(exc, (_Failure, *_USER_ERRORS)))
        return 2


def _progress_setting(args):
    """``--progress``: progress bars for the solves of this command even off a terminal."""
    import contextlib

    from ._progress import progress_default

    return progress_default(True) if getattr(args, "progress", False) else (
        contextlib.nullcontext())


def _error(exc: BaseException, *, expected: bool = True) -> None:
    message = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, FileNotFoundError) and exc.filename and str(exc.filename) not in message:
        message = f"{exc.filename}: {message}"
    if not expected:  # a defect of wfr_cvx or of a library: say what it was
        message = (f"unexpected {type(exc).__name__}: {message} (run `wfr-cvx --debug ...` "
                   "for the traceback)")
    print(f"wfr-cvx: error: {message}", file=sys.stderr)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    text = " ".join(str(message).split())
    print(f"wfr-cvx: warning: {category.__name__}: {text}", file=sys.stderr)


def _options(args) -> dict:
    return {"verbose": True} if getattr(args, "verbose", False) else {}


def _fmt(value: float) -> str:
    return "nan" if not math.isfinite(value) else f"{value:.6g}"


# -- solve -------------------------------------------------------------------------------
def _with_backend(problem, args):
    """The problem with the backend of ``--backend`` (and none of the file's settings)."""
    name = getattr(args, "backend", None)
    if name is None or name == problem.backend:
        return problem
    import dataclasses

    from .ensemble import BACKENDS

    if problem.kind == "ensemble" and name not in BACKENDS:
        raise _Failure(f"{args.file}: --backend {name} solves grid files only: ensembles "
                       f"take {', '.join(BACKENDS)}")

    return dataclasses.replace(problem, backend=name, solver_options={})


def _backend_used(problem, result) -> str:
    """The backend that ran, and whether "auto" chose it."""
    chosen = " (auto)" if problem.backend == "auto" else ""
    return f"{result.backend}{chosen}"


def _solve(args) -> int:
    from . import problem_files

    if args.with_path and args.json is None:
        raise _Failure("--with-path adds the path to the --json output: give --json OUT")
    problem = _with_backend(problem_files.load(args.file), args)
    if args.with_path and problem.kind == "ensemble":
        raise _Failure(f"{args.file}: --with-path writes a grid path; an ensemble's path is "
                       "explicit, kept whole by EnsembleGeodesic.save")
    outcome = problem.run(**_options(args))
    result = outcome.result
    path = result.path if problem.kind == "rebalance" else result
    figures = problem.figures(result)
    print(f"problem   {problem.name} ({args.file})")
    if problem.description:
        print(f"          {problem.description}")
    if problem.kind == "ensemble":
        print(f"ensembles {problem.e0.n_atoms} -> {problem.e1.n_atoms} portfolios in "
              f"{problem.e0.n_assets} assets, regimes {', '.join(result.regimes)}; lam "
              f"{problem.lam:g}, backend {_backend_used(problem, result)}; "
              f"{result.n_pairs_kept} pairs in "
              f"reach, certified gap {result.gap:.1e}")
    else:
        grid = problem.grid
        print(f"grid      {grid.n_weights} weights x {grid.n_steps} steps, regimes "
              f"{', '.join(grid.regimes)}; lam {problem.lam:g}, backend "
              f"{_backend_used(problem, path)}, "
              f"scheme {problem.scheme}" + (f", tau {problem.tau:g}" if problem.tau else ""))
    print(f"status    {path.status}, {path.iterations} iterations, {outcome.seconds:.2f} s "
          f"(setup {path.setup_time:.2f} s, solve {path.solve_time:.2f} s)")
    for name, value in figures.items():
        print(f"{name:<18}{_fmt(value)}")
    if len(outcome.checks):
        print()
        print(_checks_table(outcome.checks))
    if args.json is not None:
        from .io import (
            ensemble_geodesic_to_dict,
            geodesic_to_dict,
            rebalance_to_dict,
            write_json,
        )

        if problem.kind == "ensemble":
            data = ensemble_geodesic_to_dict(result)
        else:
            data = (rebalance_to_dict if problem.kind == "rebalance" else geodesic_to_dict)(
                result, include_path=args.with_path)
        data = {"problem": {"name": problem.name, "file": str(args.file),
                            "kind": problem.kind, "description": problem.description,
                            "constraints": problem_files.constraint_tables(problem.constraints)},
                **data, "checks": outcome.checks.to_dict("records")}
        write_json(data, args.json)
        print(f"wrote {args.json}")
    if args.csv is not None:
        path.to_frame().to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")
    if args.plot is not None:
        figure = path.plot(title=f"{problem.name}: d² = {path.distance2:.5g}")
        figure.savefig(args.plot, dpi=110)
        print(f"wrote {args.plot}")
    return 0


def _checks_table(checks) -> str:
    import numpy as np
    import pandas as pd

    table = pd.DataFrame({
        "figure": checks["figure"],
        "source": checks["source"],
        "expected": checks["expected"].map(_fmt),
        "got": checks["got"].map(_fmt),
        "error": [_error_text(row) for row in checks.itertuples()],
        "tolerance": [_tolerance_text(row) for row in checks.itertuples()],
        "check": np.where(checks["passed"], "pass", "FAIL"),
    })
    return table.to_string(index=False)


def _error_text(row) -> str:
    """A check's error in the terms of the tolerance that decides it, the larger term of
    ``atol + rtol |expected|``: relative (``1.23e-02``) when it is ``rtol``'s, absolute
    (``abs 5.04e-03``) when it is ``atol``'s or the expected value is 0."""
    if row.rtol * abs(row.expected) >= row.atol and math.isfinite(row.rel_error):
        return f"{row.rel_error:.2e}"
    return f"abs {row.abs_error:.2e}"


def _tolerance_text(row) -> str:
    """The tolerance a check used, in the terms of its error: ``rtol=1e-05``,
    ``atol=1e-06`` or both (a figure passes within ``atol + rtol |expected|``)."""
    parts = [f"{name}={value:.2g}" for name, value in (("rtol", row.rtol), ("atol", row.atol))
             if value > 0]
    return ",".join(parts) or "exact"


# -- regress -----------------------------------------------------------------------------
def _progress(items, label: str):
    """``items`` one by one, with a bar on stderr (:mod:`wfr_cvx._progress`)."""
    from ._progress import AUTO, progress_bar

    bar = progress_bar(AUTO, desc=label, unit="problem", total=len(items))
    try:
        for item in items:
            yield item
            bar.update()
    finally:
        bar.close()


def _regress(args) -> int:
    from . import problem_files

    if args.dir.is_file():
        raise _Failure(f"{args.dir}: is a file; regress takes a directory of problem files "
                       "(`wfr-cvx solve FILE` solves one)")
    if not args.dir.is_dir():
        raise _Failure(f"{args.dir}: no such directory")
    files = sorted(args.dir.glob("*.toml"))
    if not files:
        raise _Failure(f"{args.dir}: no *.toml problem files")
    rows, failures = [], []  # failures: (file, problem name, reason)

    def row(name, solver, status, time_s="-", **figure):
        rows.append({"problem": name, "figure": "-", "source": "-", "expected": "-",
                     "got": "-", "error": "-", "tolerance": "-", **figure,
                     "time_s": time_s, "solver": solver, "status": status, "file": file.name})

    for file in _progress(files, "regress"):
        # any failure of one problem is its failed row; the others still run
        try:
            problem = problem_files.load(file)
        except Exception as exc:
            row(file.stem, "invalid file", "ERROR")
            failures.append((file, file.stem, _reason(exc)))
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", InaccurateSolutionWarning)
            try:
                outcome = problem.run(**_options(args))
            except Exception as exc:
                row(problem.name, getattr(exc, "status", type(exc).__name__), "ERROR")
                failures.append((file, problem.name, _reason(exc)))
                continue
        for w in caught:
            _show_warning(f"{problem.name}: {w.message}", w.category, w.filename, w.lineno)
        path = outcome.result.path if problem.kind == "rebalance" else outcome.result
        inaccurate = any(issubclass(w.category, InaccurateSolutionWarning) for w in caught)
        solver = path.status + (" (inaccurate)" if inaccurate else "")
        time_s = f"{outcome.seconds:.2f}"
        if not len(outcome.checks):
            row(problem.name, solver, "FAIL", time_s)
            failures.append((file, problem.name, "no [expected] figures to check"))
        for check in outcome.checks.itertuples():
            row(problem.name, solver, "pass" if check.passed else "FAIL", time_s,
                figure=check.figure, source=check.source, expected=_fmt(check.expected),
                got=_fmt(check.got), error=_error_text(check),
                tolerance=_tolerance_text(check))
            if not check.passed:
                failures.append((file, problem.name, (
                    f"{check.figure} = {_fmt(check.got)}, expected {_fmt(check.expected)} "
                    f"({check.source}) within rtol {check.rtol:g}, atol {check.atol:g}")))
    import pandas as pd

    print(pd.DataFrame(rows).to_string(index=False))
    # counted by file: two files may give their problems one name
    n_failed = len({file for file, _, _ in failures})
    print(f"\n{len(files) - n_failed} of {len(files)} problems pass")
    for file, name, reason in failures:
        named = name if name == file.stem else f"{name} ({file.name})"
        print(f"FAIL {named}: {reason}", file=sys.stderr)
    return 1 if failures else 0


def _reason(exc: Exception) -> str:
    """A failure as one line: the message, after its type unless a ValueError, TypeError,
    OSError or SolverError (whose messages say what was wrong)."""
    text = " ".join(str(exc).split())
    if isinstance(exc, _USER_ERRORS):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# -- frontier ----------------------------------------------------------------------------
#: More frontier points than this earn a warning (each is a QP solve).
_MAX_FRONTIER_POINTS = 1000


def _frontier(args) -> int:
    from .finance.markowitz import MAX_PORTFOLIOS, efficient_frontier, estimate, load_prices

    if not args.prices.exists():
        raise _Failure(f"{args.prices}: no such price file")
    try:
        prices = load_prices(args.prices, dayfirst=args.dayfirst)
    except ValueError as exc:
        # the advice on the date order names load_prices' argument; here it is an option
        text = re.sub(r"\bdayfirst=(True|False)\b",
                      lambda m: "--dayfirst" if m[1] == "True" else "--monthfirst", str(exc))
        if text == str(exc):
            raise
        raise ValueError(text) from exc
    if args.assets:
        assets = [a.strip() for a in args.assets.split(",") if a.strip()]
        unknown = [a for a in assets if a not in prices.columns]
        if unknown:
            raise _Failure(f"--assets {unknown} not in {args.prices}'s columns "
                           f"{list(prices.columns)}")
        duplicated = sorted({a for a in assets if assets.count(a) > 1})
        if duplicated:
            raise _Failure(f"--assets names {duplicated} more than once")
        prices = prices[assets]
    if prices.shape[1] < 2:
        raise _Failure(f"a frontier needs at least two assets (with one the frontier is "
                       f"that asset alone): got {list(prices.columns)}"
                       + (" from --assets" if args.assets else f" in {args.prices}"))
    if args.points < 2:
        raise _Failure(f"--points must be >= 2 (the frontier's two ends at least), got "
                       f"{args.points}")
    if args.points > MAX_PORTFOLIOS:
        raise _Failure(f"--points must be <= {MAX_PORTFOLIOS:,} (one QP solve per point), "
                       f"got {args.points:,}")
    if args.points > _MAX_FRONTIER_POINTS:
        warnings.warn(f"--points {args.points} is more than {_MAX_FRONTIER_POINTS:,}: one "
                      f"QP per point, and a table and figure no finer to read",
                      RuntimeWarning, stacklevel=1)
    if len(prices) < 3:
        raise _Failure(f"{args.prices}: a frontier needs at least 3 rows of prices (dates), "
                       f"whose 2 or more returns give a covariance; got {len(prices)}: add "
                       f"rows")
    try:
        mu, cov = estimate(prices)
    except ValueError as exc:
        raise ValueError(f"price file {str(args.prices)!r}: {exc}") from None
    frontier = efficient_frontier(mu, cov, n_points=args.points)
    print(f"long-only efficient frontier of {', '.join(map(str, mu.index))} "
          f"({len(prices)} prices, {len(frontier)} point{'s' if len(frontier) > 1 else ''} "
          f"from the minimum-variance "
          "portfolio; per-period returns)")
    # returns and risks in significant digits (a daily variance of 4e-5 would print as
    # 0.0000 to 4 decimals), weights -- fractions of 1 -- to 4 decimals (the solver's
    # 1e-12 residue as 0.0000); the CSV keeps every digit
    figures = dict.fromkeys(frontier.columns[:4], lambda v: f"{v:.4g}")
    print(frontier.to_string(index=False, formatters=figures,
                             float_format=lambda v: f"{v:.4f}"))
    if args.csv is not None:
        frontier.to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")
    if args.plot is not None:
        from .plots import plot_frontier

        plot_frontier(frontier, title=f"Markowitz frontier: {args.prices.name}",
                      mu=mu, cov=cov).savefig(args.plot, dpi=110)
        print(f"wrote {args.plot}")
    return 0


# -- compare -----------------------------------------------------------------------------
def _compare(args) -> int:
    from . import problem_files
    from .comparison import compare

    problem = _with_backend(problem_files.load(args.file), args)
    if problem.constraints:
        names = ", ".join(type(c).__name__ for c in problem.constraints)
        raise _Failure(f"{args.file}: compare prices the geodesic against the two-phase "
                       f"paths, which are unconstrained; this file has constraints ({names}), "
                       "so they would not be comparable: solve it with `wfr-cvx solve`")
    if problem.kind == "ensemble":
        table = compare(problem.e0, problem.e1, problem.lam, metric=problem.metric,
                        backend=problem.backend, **{**problem.solver_options,
                                                    **_options(args)})
        print(f"{problem.name}: the ensemble geodesic against the two-phase paths "
              f"(lam {problem.lam:g}, {problem.e0.n_atoms} -> {problem.e1.n_atoms} "
              "portfolios)")
        print(table.to_string(float_format=lambda v: f"{v:.6g}"))
        return 0
    if problem.kind != "geodesic":
        raise _Failure(f"{args.file}: compare needs a kind = \"geodesic\" or \"ensemble\" "
                       f"problem (two allocations), got kind = {problem.kind!r}")
    table = compare(problem.rho0, problem.rho1, problem.grid, problem.lam,
                    metric=problem.metric, backend=problem.backend, scheme=problem.scheme,
                    **{**problem.solver_options, **_options(args)})
    print(f"{problem.name}: the WFR geodesic against the two-phase paths "
          f"(lam {problem.lam:g}, {problem.grid.n_weights} x {problem.grid.n_steps})")
    print(table.to_string(float_format=lambda v: f"{v:.6g}"))
    return 0


# -- batch -------------------------------------------------------------------------------
def _batch_status(row) -> str:
    """A batch row's status as ``regress`` words it: ``"(inaccurate)"`` after the status of
    a solve that raised an InaccurateSolutionWarning."""
    inaccurate = any(each.split(":", 1)[0] == InaccurateSolutionWarning.__name__
                     for each in row.warnings.split(" | "))
    return row.status + (" (inaccurate)" if inaccurate else "")


def _batch(args) -> int:
    import time

    import pandas as pd

    from .batch import solve_many

    files = []
    for path in args.paths:
        if path.is_dir():
            found = sorted(path.glob("*.toml"))
            if not found:
                raise _Failure(f"{path}: no *.toml problem files")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise _Failure(f"{path}: no such problem file or directory")
    if args.workers is not None and args.workers < 1:
        raise _Failure(f"--workers must be >= 1, got {args.workers}")
    start = time.perf_counter()
    if args.scheduler is None:
        table = solve_many(files, workers=args.workers)
        where = f"{min(args.workers or os.cpu_count() or 1, len(files))} local processes"
    else:
        if args.workers is not None:
            raise _Failure("--workers sizes the local pool; with --scheduler the cluster's "
                           "workers solve the problems")
        try:
            from dask.distributed import Client
        except ImportError:
            raise _Failure("--scheduler needs dask.distributed: "
                           "pip install 'wfr_cvx[dask]'") from None
        with Client(args.scheduler) as client:
            table = solve_many(files, executor=client.get_executor())
        where = f"Dask scheduler {args.scheduler}"
    seconds = time.perf_counter() - start
    failed = table[table["error"] != ""]
    shown = pd.DataFrame({
        "name": table["name"], "status": [_batch_status(row) for row in table.itertuples()],
        **{c: table[c].map(_fmt) for c in ("distance2", "transport_cost", "reaction_cost")},
        "iterations": table["iterations"].map(lambda n: "-" if pd.isna(n) else str(n)),
        "time_s": table["time"].map(lambda t: "-" if math.isnan(t) else f"{t:.2f}"),
    })
    print(shown.to_string(index=False))
    print(f"\n{len(table) - len(failed)} of {len(table)} problems solved in {seconds:.2f} s "
          f"({where})")
    if args.out is not None:
        # two files may share a problem name: the written table says which file each row is
        table.assign(file=[str(f) for f in files]).to_csv(args.out, index=False)
        print(f"wrote {args.out}")
    for row in table.itertuples():  # warned but solved: reported, not failed
        if row.warnings:
            print(f"WARN {row.name}: {row.warnings}", file=sys.stderr)
        if row.error:
            print(f"FAIL {row.name}: {row.error}", file=sys.stderr)
    return 1 if len(failed) else 0
