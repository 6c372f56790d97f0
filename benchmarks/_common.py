"""Helpers shared by the benchmark scripts: machine, versions, peak memory, output files.

Every script records where it ran (cores, memory, load) and with what (package
versions) next to its figures, so a table read later can be judged against its machine.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def memory_gb() -> float:
    """Total physical memory in GiB (psutil, else /proc/meminfo), NaN when unknown."""
    try:
        import psutil  # the `bench` extra; portable beyond Linux

        return psutil.virtual_memory().total / 2**30
    except ImportError:
        pass
    try:
        with open("/proc/meminfo") as fh:
            return int(fh.readline().split()[1]) / 2**20
    except (OSError, ValueError, IndexError):
        return float("nan")


def machine_info() -> dict:
    """Cores, memory, Python, platform and the 1-minute load average before the run.

    The load average tells whether the cores were shared while the figures were taken
    (this machine's two cores often are).
    """
    try:
        load = round(os.getloadavg()[0], 2)
    except OSError:
        load = None
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(memory_gb(), 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_1min": load,
    }


def versions(*modules: str) -> dict:
    """``{name: version}`` for the importable ``modules`` (missing ones are left out)."""
    found = {}
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        found[name] = getattr(module, "__version__", "?")
    return found


def peak_memory_mb() -> float:
    """Peak resident memory of this process in MB (``ru_maxrss``: kB on Linux, B on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def best_of(func: Callable[[], object], repeats: int, min_time: float = 0.0) -> float:
    """Best wall time of ``repeats`` calls (at least until ``min_time`` seconds were spent).

    The minimum is the figure least disturbed by other processes on shared cores.
    """
    best, spent, count = float("inf"), 0.0, 0
    while count < repeats or spent < min_time:
        start = time.perf_counter()
        func()
        elapsed = time.perf_counter() - start
        best = min(best, elapsed)
        spent += elapsed
        count += 1
    return best


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """Lines of a GitHub markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def header_lines(title: str, results: dict, command: str) -> list[str]:
    """Title, how to re-run, and the machine and versions the figures come from."""
    m, v = results["machine"], results["versions"]
    return [
        f"# {title}",
        "",
        f"Written by `{command}` (part of `make bench`, never of `make test`); "
        "figures are from its last run.",
        "",
        f"Machine: {m['cores']} cores, {m['memory_gb']} GB, Python {m['python']}, "
        f"{m['platform']}; 1-minute load average before the run: {m['load_average_1min']}.",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".",
        "",
    ]


def output_dir(quick: bool) -> Path:
    """Where a run writes: benchmarks/, or a scratch directory for ``--quick`` runs.

    A ``--quick`` run only checks that a script works; its tiny-size figures must not
    replace the published ones.
    """
    if not quick:
        return HERE
    scratch = Path(tempfile.gettempdir()) / "wfr_cvx_bench_quick"
    scratch.mkdir(exist_ok=True)
    return scratch


def write_outputs(results: dict, out_dir: Path, json_name: str, markdown_name: str,
                  lines: Sequence[str]) -> None:
    """Write ``results`` as JSON and ``lines`` as the markdown file into ``out_dir``."""
    (out_dir / json_name).write_text(json.dumps(results, indent=2, default=_plain) + "\n")
    (out_dir / markdown_name).write_text("\n".join(lines) + "\n")
    print(f"wrote {out_dir / json_name} and {out_dir / markdown_name}", flush=True)


def _plain(value):
    """JSON fallback for numpy scalars (``float(np.float64)`` etc.)."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def main_quick_or_full(doc: str, run, quick, full, json_name: str, markdown_name: str,
                       markdown, argv=None) -> None:
    """The command line of a benchmark script: ``--quick`` (tiny, to a scratch dir) or full."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes (checks that the script works; writes to a "
                             "scratch directory, not benchmarks/)")
    args = parser.parse_args(argv)
    results = run(quick if args.quick else full)
    write_outputs(results, output_dir(args.quick), json_name, markdown_name,
                  markdown(results))
