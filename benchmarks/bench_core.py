"""``make bench``: speed of the core engine, measured side by side in one run.

Writes ``benchmarks/results.json`` and the table in ``benchmarks/README.md``.  Ratios are
taken within this run (same machine, same load), never asserted by tests.

Rows: the demo's two-regime problem (bumps, lam = 0.15) on 1-D grids, solved by
* the direct Clarabel backend with each factorisation setting,
* the cvxpy backend (same discrete problem, built by cvxpy, solved by Clarabel);
each with assembly / setup / solve time, iterations, and d^2's relative difference from
the finest setting of the same case.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import clarabel  # noqa: E402
import cvxpy  # noqa: E402

import wfr_cvx  # noqa: E402
from wfr_cvx.demo import build  # noqa: E402

SETTINGS = {
    "clarabel (defaults of wfr_cvx)": ("clarabel", {}),
    "clarabel auto (Clarabel's default)": ("clarabel", {"direct_solve_method": "auto"}),
    "clarabel qdldl": ("clarabel", {"direct_solve_method": "qdldl"}),
    "clarabel faer 2 threads": ("clarabel", {"direct_solve_method": "faer", "max_threads": 2}),
    "cvxpy backend": ("cvxpy", {}),
}
CASES = [(64, 32), (256, 32), (1024, 32)]
LAM = 0.15


def _memory_gb() -> float:
    try:
        with open("/proc/meminfo") as fh:
            return int(fh.readline().split()[1]) / 2**20
    except OSError:
        return float("nan")


def run() -> dict:
    rows = []
    # warm-up: imports, numba, first scipy.sparse calls
    grid, r0, r1 = build(16, 4)
    wfr_cvx.geodesic(r0, r1, grid, LAM)
    for n, steps in CASES:
        grid, r0, r1 = build(n, steps)
        case_rows = []
        for label, (backend, options) in SETTINGS.items():
            if n > 256 and (backend == "cvxpy" or "2 threads" in label):
                continue  # the slowest settings at this size: measured once, ~70 s each
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                geo = wfr_cvx.geodesic(r0, r1, grid, LAM, backend=backend, **options)
            total = time.perf_counter() - start
            case_rows.append({
                "case": f"1D {n} x {grid.n_regimes} x {steps}",
                "setting": label,
                "status": geo.status,
                "iterations": geo.iterations,
                "assembly_s": round(geo.assembly_time, 4),
                "setup_s": round(geo.setup_time, 4),
                "solve_s": round(geo.solve_time, 4),
                "total_s": round(total, 4),
                "assembly_share": round(geo.assembly_time / total, 4),
                "distance2": geo.distance2,
            })
            print(f"{case_rows[-1]['case']:<18} {label:<32} {total:7.3f} s", flush=True)
        best = min(case_rows, key=lambda r: r["total_s"])
        default = case_rows[0]
        for row in case_rows:
            row["rel_diff_d2"] = float(row["distance2"] / default["distance2"] - 1)
            row["time_vs_default"] = round(row["total_s"] / default["total_s"], 3)
        print(f"  fastest: {best['setting']}", flush=True)
        rows.extend(case_rows)
    return {
        "machine": {
            "cores": os.cpu_count(),
            "memory_gb": round(_memory_gb(), 1),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "versions": {
            "wfr_cvx": wfr_cvx.__version__,
            "clarabel": clarabel.__version__,
            "cvxpy": cvxpy.__version__,
            "numpy": np.__version__,
        },
        "rows": rows,
    }


def write(results: dict) -> None:
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    m, v = results["machine"], results["versions"]
    lines = [
        "# Benchmarks",
        "",
        "Run `make bench` (never part of `make test`). Figures below are from the last run;",
        "ratios (`time_vs_default`) are within that run.",
        "",
        "Other tables of the same `make bench`: [LADDER.md](LADDER.md) (the solve-time ladder,",
        "1-D 64 ... 4,096 weights and 2-D simplex 16² ... 64² and their goals),",
        "[STATIC.md](STATIC.md) (the static distance from POT against wfr_cvx's certified",
        "solver), [OPERATORS.md](OPERATORS.md) (staggered operators in GB/s against a numpy",
        "copy), and `batch_results.json` (batch / Dask).",
        "",
        f"Machine: {m['cores']} cores, {m['memory_gb']} GB, Python {m['python']}, "
        f"{m['platform']}.",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".",
        "",
        "| case | setting | status | iter | assembly s | setup s | solve s | total s "
        "| assembly share | time vs default | rel. diff d² |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["rows"]:
        lines.append(
            f"| {r['case']} | {r['setting']} | {r['status']} | {r['iterations']} "
            f"| {r['assembly_s']:.3f} | {r['setup_s']:.3f} | {r['solve_s']:.3f} "
            f"| {r['total_s']:.3f} | {100 * r['assembly_share']:.1f} % "
            f"| {r['time_vs_default']:.2f} | {r['rel_diff_d2']:.1e} |"
        )
    (HERE / "README.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    write(run())
