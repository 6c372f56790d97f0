"""Speed-up of :func:`wfr_cvx.batch.solve_many` over a serial run, measured side by side.

Writes ``benchmarks/batch_results.json``.  The batch is a lam sweep of the README's
two-regime problem (``problems/risk_on_risk_off.toml``, 64 weights x 16 steps), 16 jobs,
solved

* serially, in this process, one job after the other (the reference),
* on the default local process pool (2 workers; the pool's start-up is included, as a
  caller pays it),
* on a dask.distributed LocalCluster of 2 single-threaded worker processes, when dask is
  installed (cluster start-up reported separately; one warm-up batch first, so the
  workers have imported wfr_cvx; ``client.get_executor(pure=False)``, else Dask would
  return the warm-up's results for the same jobs without solving them again).

``*_solve_s_sum`` is the sum of the jobs' solve times in the workers: close to the
serial sum when every worker had a core to itself, about twice it when another process
held one of the two cores (then no speed-up is possible; see ``load_average_before``).

Each timing is the best of ``REPEATS`` runs; the figures of every run must equal the serial
ones.  Ratios are taken within this run (same machine, same load), never asserted by tests.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import clarabel  # noqa: E402

import wfr_cvx  # noqa: E402
from wfr_cvx.batch import SerialExecutor, solve_many, sweep  # noqa: E402

PROBLEM = HERE.parent / "problems" / "risk_on_risk_off.toml"
LAMS = np.geomspace(0.05, 1.6, 16)
WORKERS = 2
REPEATS = 3




def _best(run) -> tuple[float, list[float], object]:
    times, table = [], None
    for _ in range(REPEATS):
        start = time.perf_counter()
        table = run()
        times.append(time.perf_counter() - start)
    return min(times), [round(t, 4) for t in times], table


def _same(table, reference) -> float:
    if (table["error"] != "").any():
        raise RuntimeError(f"a job failed:\n{table[table['error'] != '']}")
    return float(np.max(np.abs(table["distance2"] - reference["distance2"])
                        / reference["distance2"]))


def run() -> dict:
    jobs = sweep(PROBLEM, lam=LAMS)
    solve_many(jobs[:2], executor=SerialExecutor(), progress=False)  # warm-up: first calls
    serial_s, serial_runs, serial = _best(
        lambda: solve_many(jobs, executor=SerialExecutor(), progress=False))
    pool_s, pool_runs, pool = _best(
        lambda: solve_many(jobs, workers=WORKERS, progress=False))
    out = {
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(),
                    "load_average_before": list(os.getloadavg())},
        "versions": {"wfr_cvx": wfr_cvx.__version__, "clarabel": clarabel.__version__,
                     "numpy": np.__version__},
        "batch": {"problem": PROBLEM.name, "grid": "64 weights x 2 regimes x 16 steps",
                  "jobs": len(jobs), "lam": [round(float(v), 6) for v in LAMS],
                  "solve_s_sum": round(float(serial["time"].sum()), 4),
                  "iterations_sum": int(serial["iterations"].sum())},
        "repeats": REPEATS,
        "serial_s": round(serial_s, 4), "serial_runs_s": serial_runs,
        "pool_workers": WORKERS, "pool_s": round(pool_s, 4), "pool_runs_s": pool_runs,
        "pool_speedup": round(serial_s / pool_s, 3),
        "pool_solve_s_sum": round(float(pool["time"].sum()), 4),
        "pool_max_rel_diff_distance2": _same(pool, serial),
    }
    try:
        import dask
        from dask.distributed import Client, LocalCluster
    except ImportError:
        out["dask"] = "not installed (pip install 'wfr_cvx[dask]')"
        return out
    out["versions"]["dask"] = dask.__version__
    start = time.perf_counter()
    with LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        cluster_start_s = time.perf_counter() - start
        executor = client.get_executor(pure=False)
        start = time.perf_counter()
        solve_many(jobs, executor=executor, progress=False)  # warm-up: workers import
        warm_up_s = time.perf_counter() - start
        dask_s, dask_runs, on_dask = _best(
            lambda: solve_many(jobs, executor=executor, progress=False))
    out.update({
        "dask_workers": WORKERS, "dask_cluster_start_s": round(cluster_start_s, 4),
        "dask_first_batch_s": round(warm_up_s, 4), "dask_s": round(dask_s, 4),
        "dask_runs_s": dask_runs, "dask_speedup": round(serial_s / dask_s, 3),
        "dask_solve_s_sum": round(float(on_dask["time"].sum()), 4),
        "dask_max_rel_diff_distance2": _same(on_dask, serial),
    })
    return out


if __name__ == "__main__":
    results = run()
    (HERE / "batch_results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
