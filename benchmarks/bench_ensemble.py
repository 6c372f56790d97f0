r"""Mesh-free ensemble geodesics (wfr_cvx.ensemble): a size ladder, the cvxpy backend, POT.

Writes ``benchmarks/ensemble_results.json`` and ``benchmarks/ENSEMBLE.md``.

Problems: ``N = M`` random portfolios on the simplex (Dirichlet(1) weights) in ``n`` assets,
masses uniform in [0.5, 1.5], each atom in one of two regimes at random; the metric is the
identity.  ``lam`` is chosen from the quantiles of the same-regime pairwise distances so
that about 10 %, 30 % or all of the pairs an atom could form are within ``pi lam`` (the
candidate pairs of the SOCP).

Methods, each row in its own subprocess (peak memory ``VmHWM`` from ``/proc/self/status``;
a row that runs longer than ``ROW_TIMEOUT`` is stopped and recorded as skipped):

* ``clarabel``: :func:`wfr_cvx.ensemble.geodesic`, the default backend (working set,
  certificate, polish); its squared distance is the reference of the other rows;
* ``cvxpy``: the same SOCP over all candidate pairs at once, written with cvxpy and solved
  by Clarabel through it (``N <= 1,000``);
* POT's ``ot.unbalanced.mm_unbalanced`` (``reg_m = 1``, ``div = "kl"``, no entropy) and
  ``ot.unbalanced.sinkhorn_unbalanced`` (entropic ``reg = 0.01``) on the static
  entropy-transport form

  .. math::

      d^2 = 4\lambda^2\min_\gamma\Big[\sum\gamma c + \mathrm{KL}(\gamma\mathbf 1|a)
            + \mathrm{KL}(\gamma^\top\mathbf 1|b)\Big],\qquad c = -\log\cos^2\theta,

  with the infinite costs (pairs beyond ``pi lam`` or across regimes) replaced by
  ``BIG_COST``.  Their value is evaluated here from the returned plan (``BIG_COST`` on the
  forbidden pairs, whose mass is reported), never taken from POT.  POT is not a dependency
  of the shared environment: run with ``--pot-python`` pointing at an interpreter that has
  ``pot`` and wfr_cvx installed (or set ``WFR_CVX_POT_PYTHON``); without one the POT rows
  are recorded as skipped.

A last part measures the grid engine (:func:`wfr_cvx.geodesic`) against the ensemble on
the grid's own measures (atoms at the cell centres), as the grid is refined: the grid's
discretisation error on one axis, mostly the atoms' on the simplex (the small sizes are
tests, ``tests/test_ensemble_grid.py``).

``python benchmarks/bench_ensemble.py [--quick] [--pot-python PATH]``; ``--quick`` runs
tiny sizes into a scratch directory.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from _common import (  # noqa: E402
    header_lines,
    machine_info,
    markdown_table,
    output_dir,
    versions,
    write_outputs,
)

#: Seconds a row may run before it is stopped (and recorded as skipped).
ROW_TIMEOUT = 300
#: Why a method is not run beyond its largest size (the machine's two cores are shared).
SKIP_REASONS = {
    "cvxpy": "all candidate pairs in one cvxpy problem: 100 s and 2.5 GB at N = 1,000 with "
             "all pairs (the pairs grow 9-fold)",
    "pot_mm_1000": "dense N x M iterations: ~22 s per row at N = 1,000, ~9 times that here",
    "pot_mm_10000": "10 times the 1,000-iteration time (~20 s per row at N = 300)",
    "pot_sinkhorn": "dense N x M, and far from the optimum at these regularisations anyway",
}
#: Finite stand-in for the infinite costs in POT's dense cost matrix: a pair at that cost
#: carries a factor e^-1000 of the mass a free pair would.
BIG_COST = 1e3

FULL = {
    "sizes": (100, 300, 1000, 3000),
    "assets": (10, 50),
    "fractions": (0.1, 0.3, 1.0),
    # method -> largest N it runs on (beyond: a row recorded as skipped, see SKIP_REASONS)
    "methods": {"clarabel": 3000, "cvxpy": 1000, "pot_mm_1000": 1000, "pot_mm_10000": 300,
                "pot_sinkhorn": 1000},
    # (cells, time steps) of the grid cross-check, one weight axis and the simplex
    "grid_1d": ((64, 16), (128, 32), (256, 64)),
    "grid_simplex": ((16, 8), (24, 12), (32, 16)),
}
QUICK = {
    "sizes": (30, 60),
    "assets": (5,),
    "fractions": (0.3, 1.0),
    "methods": {"clarabel": 60, "cvxpy": 60, "pot_mm_1000": 60, "pot_mm_10000": 30,
                "pot_sinkhorn": 60},
    "grid_1d": ((32, 8),),
    "grid_simplex": ((8, 4),),
}

#: The grid cross-check's covariance (three assets) and the scale of its metric.
GRID_COV = np.array([[0.04, 0.01, 0.0], [0.01, 0.09, 0.02], [0.0, 0.02, 0.16]])
GRID_METRIC_SCALE = 50.0


# ----------------------------------------------------------------------------- problems
def problem(n_atoms: int, n_assets: int, fraction: float) -> dict:
    """The deterministic problem of a row: weights, masses, regimes and ``lam``."""
    rng = np.random.default_rng(1000 * n_atoms + n_assets)
    x = rng.dirichlet(np.ones(n_assets), n_atoms)
    y = rng.dirichlet(np.ones(n_assets), n_atoms)
    a, b = rng.uniform(0.5, 1.5, n_atoms), rng.uniform(0.5, 1.5, n_atoms)
    k, l = rng.integers(0, 2, n_atoms), rng.integers(0, 2, n_atoms)
    distances = np.concatenate([_distances(x[k == r], y[l == r]).ravel() for r in (0, 1)])
    if fraction >= 1.0:   # every same-regime pair strictly within pi lam
        lam = distances.max() * (1.0 + 1e-6) / np.pi
    else:
        lam = float(np.quantile(distances, fraction)) / np.pi
    return {"x": x, "y": y, "a": a, "b": b, "k": k, "l": l, "lam": float(lam)}


def _distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    squared = (x**2).sum(1)[:, None] + (y**2).sum(1)[None, :] - 2.0 * x @ y.T
    return np.sqrt(np.maximum(squared, 0.0))


def _peak_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# ----------------------------------------------------------------------------- one row
def run_row(spec: dict) -> dict:
    """Run one (problem, method) in this process and return its figures."""
    p = problem(spec["n_atoms"], spec["n_assets"], spec["fraction"])
    method = spec["method"]
    out = {"lam": p["lam"]}
    if method in ("clarabel", "cvxpy"):
        from wfr_cvx.ensemble import Ensemble, geodesic

        e0 = Ensemble(p["x"], p["a"], p["k"], regimes=("0", "1"))
        e1 = Ensemble(p["y"], p["b"], p["l"], regimes=("0", "1"))
        begin = time.perf_counter()
        geo = geodesic(e0, e1, p["lam"], backend=method)
        total = time.perf_counter() - begin
        out.update(distance2=geo.distance2, lower_bound=geo.lower_bound, gap=geo.gap,
                   status=geo.status, solver_status=geo.solver_status,
                   pairs_kept=geo.n_pairs_kept, pairs_solved=geo.n_pairs_solved,
                   plan_pairs=len(geo.plan), rounds=geo.rounds, iterations=geo.iterations,
                   assembly=geo.assembly_time, setup=geo.setup_time, solve=geo.solve_time,
                   certify=geo.certify_time, total=total)
    else:
        out.update(_run_pot(p, method))
    out["peak_mb"] = _peak_mb()
    return out


def _run_pot(p: dict, method: str) -> dict:
    import ot

    begin = time.perf_counter()
    distance = _distances(p["x"], p["y"])
    theta = distance / (2.0 * p["lam"])
    reachable = (theta < np.pi / 2) & (p["k"][:, None] == p["l"][None, :])
    cost = np.full(distance.shape, BIG_COST)
    cost[reachable] = -2.0 * np.log(np.cos(theta[reachable]))
    build = time.perf_counter() - begin
    begin = time.perf_counter()
    if method.startswith("pot_mm_"):
        plan = ot.unbalanced.mm_unbalanced(p["a"], p["b"], cost, reg_m=1.0, div="kl",
                                           numItermax=int(method.rsplit("_", 1)[1]))
    else:
        plan = ot.unbalanced.sinkhorn_unbalanced(p["a"], p["b"], cost, reg=0.01, reg_m=1.0,
                                                 numItermax=10_000)
    solve = time.perf_counter() - begin
    plan = np.asarray(plan)
    value = (float(np.sum(plan * cost)) + _kl(plan.sum(1), p["a"])
             + _kl(plan.sum(0), p["b"]))
    return {"distance2": 4.0 * p["lam"] ** 2 * value,
            "forbidden_mass": float(plan[~reachable].sum()), "build": build, "solve": solve,
            "total": build + solve, "finite": bool(np.isfinite(value))}


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    """Generalised KL(p | q) = sum p log(p / q) - p + q (0 log 0 = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p / q), 0.0) - p + q
    return float(terms.sum())


# ----------------------------------------------------------------------------- the ladder
def _pot_python(explicit: str | None) -> str | None:
    candidate = explicit or os.environ.get("WFR_CVX_POT_PYTHON")
    if candidate:
        return candidate
    try:
        import ot  # noqa: F401

        return sys.executable
    except ImportError:
        return None


def _spawn(spec: dict, python: str) -> dict:
    command = [python, str(Path(__file__).resolve()), "--row", json.dumps(spec)]
    begin = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=ROW_TIMEOUT,
                              cwd=str(HERE.parent))
    except subprocess.TimeoutExpired:
        return {"skipped": f"stopped after {ROW_TIMEOUT} s"}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": last[:300]}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall"] = time.perf_counter() - begin
    return result


def run(config: dict, pot_python: str | None) -> dict:
    machine = machine_info()  # taken first: its load average is the one before the rows
    rows = []
    for n_atoms in config["sizes"]:
        for n_assets in config["assets"]:
            for fraction in config["fractions"]:
                for method, largest in config["methods"].items():
                    spec = {"n_atoms": n_atoms, "n_assets": n_assets, "fraction": fraction,
                            "method": method}
                    if n_atoms > largest:
                        rows.append({**spec, "skipped": f"not run above N = {largest:,}: "
                                                        f"{SKIP_REASONS[method]}"})
                        continue
                    python = sys.executable
                    if method.startswith("pot"):
                        python = pot_python
                    if python is None:
                        result = {"skipped": "POT not installed (see --pot-python)"}
                    else:
                        result = _spawn(spec, python)
                    rows.append({**spec, **result})
                    print(json.dumps(rows[-1]), flush=True)
    reference = {_key(r): r["distance2"] for r in rows
                 if r["method"] == "clarabel" and "distance2" in r}
    for r in rows:
        if r["method"] != "clarabel" and "distance2" in r and _key(r) in reference:
            r["rel_diff"] = r["distance2"] / reference[_key(r)] - 1.0
    return {"machine": machine,
            "versions": versions("wfr_cvx", "clarabel", "cvxpy", "numpy", "scipy"),
            "pot_python": pot_python, "row_timeout_s": ROW_TIMEOUT, "rows": rows,
            "grid": grid_crosscheck(config)}


def grid_crosscheck(config: dict) -> list[dict]:
    """Grid engine against the ensemble on the grid's discrete measures (module docstring):
    one weight axis (bumps 0.3 -> 0.62, mass 1 -> 1.5, lam 0.2) and the simplex (bumps
    (0.3, 0.3) -> (0.5, 0.2), mass 1 -> 1.3, lam 0.3, metric 50 P^T cov P on the grid, 50 cov
    on the atoms' three weights)."""
    import wfr_cvx
    from wfr_cvx.ensemble import Ensemble, geodesic
    from wfr_cvx.metric import trade_variance_metric

    out = []
    for cells, steps in config["grid_1d"]:
        grid = wfr_cvx.Grid(cells, steps)
        rho0, rho1 = grid.bump(0.3, 0.06), grid.bump(0.62, 0.05, mass=1.5)
        atoms = [Ensemble(grid.weights[r[0] > 0][:, None], r[0][r[0] > 0])
                 for r in (rho0, rho1)]
        out.append(_compare(partial(wfr_cvx.geodesic, rho0, rho1, grid, lam=0.2),
                            partial(geodesic, *atoms, 0.2), "one axis", cells, steps))
    for cells, steps in config["grid_simplex"]:
        grid = wfr_cvx.Grid.simplex(cells, steps)
        rho0, rho1 = grid.bump((0.3, 0.3), 0.1), 1.3 * grid.bump((0.5, 0.2), 0.1)
        centres = grid.coords.reshape(-1, 2)
        weights = np.column_stack([centres, 1.0 - centres.sum(axis=1)])
        atoms = []
        for rho in (rho0, rho1):
            mass = rho[0].reshape(-1)
            atoms.append(Ensemble(weights[mass > 0], mass[mass > 0]))
        out.append(_compare(
            partial(wfr_cvx.geodesic, rho0, rho1, grid, lam=0.3,
                    metric=GRID_METRIC_SCALE * trade_variance_metric(GRID_COV)),
            partial(geodesic, *atoms, 0.3, metric=GRID_METRIC_SCALE * GRID_COV),
            "simplex", cells, steps))
    return out


def _compare(on_grid, on_atoms, kind: str, cells: int, steps: int) -> dict:
    import warnings

    begin = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        grid_result = on_grid()
    grid_time = time.perf_counter() - begin
    begin = time.perf_counter()
    exact = on_atoms()
    atoms_time = time.perf_counter() - begin
    row = {"kind": kind, "cells": cells, "steps": steps, "grid_distance2": grid_result.distance2,
           "grid_status": grid_result.status, "grid_warnings": len(caught),
           "grid_time": grid_time, "ensemble_distance2": exact.distance2,
           "ensemble_gap": exact.gap, "ensemble_time": atoms_time,
           "rel_diff": grid_result.distance2 / exact.distance2 - 1.0}
    print(json.dumps(row), flush=True)
    return row


def _key(row: dict) -> tuple:
    return row["n_atoms"], row["n_assets"], row["fraction"]


# ----------------------------------------------------------------------------- report
def _fmt(value, spec: str = ".2f") -> str:
    return "–" if value is None else format(value, spec)


def _outcome(row: dict) -> str:
    return row.get("skipped") or row.get("error") or ""


def markdown(results: dict) -> list[str]:
    rows = results["rows"]
    lines = header_lines("Ensemble geodesics: size ladder, cvxpy backend, POT", results,
                         "python benchmarks/bench_ensemble.py --pot-python PATH")
    lines[2] = lines[2].replace("(part of `make bench`, never of `make test`)",
                                "(never part of `make test`)")
    lines += [
        "Problems: `N = M` random portfolios on the simplex (Dirichlet(1)) in `n` assets, "
        "masses uniform in [0.5, 1.5], two regimes at random, identity metric; `lam` from "
        "the quantiles of the same-regime distances so that the given fraction of the "
        "same-regime pairs lies within πλ (the candidate pairs). Each row ran in its own "
        f"process (peak memory = VmHWM), stopped after {results['row_timeout_s']} s.",
        "",
        "## wfr_cvx.ensemble.geodesic (backend clarabel)",
        "",
        "`kept`: candidate pairs; `solved`: pairs of the last working set; `plan`: pairs "
        "carrying mass; times in seconds (`assembly`: pair search, greedy point, matrix "
        "assembly; `setup`: that plus Clarabel's set-up; `certify`: dual bounds and the "
        "dual check); `gap`: certified relative gap (plan value against the dual bound).",
        "",
    ]
    table = []
    for r in rows:
        if r["method"] != "clarabel":
            continue
        if "total" not in r:
            table.append([r["n_atoms"], r["n_assets"], r["fraction"], "", "", "", "", "", "",
                          "", "", "", "", "", "", _outcome(r)])
            continue
        table.append([
            f"{r['n_atoms']:,}", r["n_assets"], f"{r['fraction']:.0%}", f"{r['lam']:.4g}",
            f"{r['pairs_kept']:,}", f"{r['pairs_solved']:,}", f"{r['plan_pairs']:,}",
            f"{r['rounds']} / {r['iterations']}", _fmt(r["assembly"]), _fmt(r["setup"]),
            _fmt(r["solve"]), _fmt(r["certify"]), _fmt(r["total"]),
            f"{100 * r['assembly'] / r['total']:.1f} %", f"{r['peak_mb']:,.0f}",
            f"{r['status']} ({r['solver_status']}), gap {r['gap']:.0e}"])
    lines += markdown_table(["N", "n", "pairs within πλ", "lam", "kept", "solved", "plan",
                             "rounds / it.", "assembly", "setup", "solve", "certify",
                             "total", "assembly share", "peak MB", "status"], table)
    lines += ["", "## Goals (measured, not asserted by the tests)", ""]
    lines += _goals(rows)
    lines += ["", "## The same SOCP through cvxpy (all candidate pairs, one solve)", "",
              "`setup` is cvxpy's canonicalisation; `rel. diff` is d² against the clarabel "
              "row.", ""]
    table = []
    for r in rows:
        if r["method"] != "cvxpy":
            continue
        if "total" not in r:
            table.append([f"{r['n_atoms']:,}", r["n_assets"], f"{r['fraction']:.0%}", "", "",
                          "", "", "", _outcome(r)])
            continue
        table.append([f"{r['n_atoms']:,}", r["n_assets"], f"{r['fraction']:.0%}",
                      f"{r['pairs_kept']:,}", _fmt(r["setup"]), _fmt(r["solve"]),
                      _fmt(r["total"]), f"{r['peak_mb']:,.0f}",
                      f"{r['status']}, rel. diff {r.get('rel_diff', float('nan')):+.1e}"])
    lines += markdown_table(["N", "n", "pairs within πλ", "pairs", "setup", "solve", "total",
                             "peak MB", "status"], table)
    lines += ["", "## POT on the static entropy-transport form", "",
              f"Dense cost matrix `c = -log cos²θ`, {BIG_COST:g} on forbidden pairs; d² "
              "evaluated from each plan; `rel. diff` against the clarabel row (POT's plans "
              "are feasible, so their values lie above the optimum).", ""]
    table = []
    names = {"pot_mm_1000": "mm_unbalanced, 1,000 it.",
             "pot_mm_10000": "mm_unbalanced, 10,000 it.",
             "pot_sinkhorn": "sinkhorn_unbalanced, reg 0.01"}
    for r in rows:
        if not r["method"].startswith("pot"):
            continue
        if "total" not in r:
            table.append([names[r["method"]], f"{r['n_atoms']:,}", r["n_assets"],
                          f"{r['fraction']:.0%}", "", "", "", "", _outcome(r)])
            continue
        table.append([names[r["method"]], f"{r['n_atoms']:,}", r["n_assets"],
                      f"{r['fraction']:.0%}", _fmt(r["total"]), f"{r['peak_mb']:,.0f}",
                      f"{r.get('rel_diff', float('nan')):+.1e}",
                      f"{r['forbidden_mass']:.1e}", ""])
    lines += markdown_table(["method", "N", "n", "pairs within πλ", "total s", "peak MB",
                             "rel. diff", "forbidden mass", "note"], table)
    lines += ["", "## The grid engine against the ensemble on the grid's own measures", "",
              "Atoms at the cell centres with the cells' masses: the ensemble distance is exact "
              "for those point measures, the grid discretises the dynamic problem, and `rel. "
              "diff` (grid / ensemble - 1) carries both errors: on one axis the grid's (the "
              "ensemble column moves by 5e-5), on the simplex mostly the atoms' (pinned to the "
              "cell centres: the ensemble column moves by 7 % from 16 to 32 cells per side, the "
              "grid's by 0.5 %). One axis: bumps 0.3 -> 0.62 (mass 1 -> 1.5), "
              "lam 0.2. Simplex: bumps (0.3, 0.3) -> (0.5, 0.2) (mass 1 -> 1.3), lam 0.3, "
              f"metric {GRID_METRIC_SCALE:g} PᵀΣP on the grid and {GRID_METRIC_SCALE:g} Σ on "
              "the atoms' three weights; the grid's default scheme.", ""]
    if "grid_run" in results:
        run = results["grid_run"]
        lines[-1:-1] = ["", f"These rows were rerun alone (`--grid`) on {run['date']} (1-minute "
                        f"load average {run['machine']['load_average_1min']}; wfr_cvx "
                        f"{run['versions'].get('wfr_cvx')}); the sections above keep their "
                        "own run."]
    table = [[g["kind"], g["cells"], g["steps"], f"{g['grid_distance2']:.8f}",
              f"{g['ensemble_distance2']:.8f}", f"{g['rel_diff']:+.3e}",
              f"{g['grid_status']}" + (f" ({g['grid_warnings']} warning)"
                                       if g["grid_warnings"] else ""),
              f"{g['grid_time']:.1f}", f"{g['ensemble_time']:.1f}", f"{g['ensemble_gap']:.0e}"]
             for g in results["grid"]]
    lines += markdown_table(["weights", "cells per axis", "time steps", "grid d²",
                             "ensemble d²", "rel. diff", "grid status", "grid s", "ensemble s",
                             "ensemble gap"], table)
    return lines


def _goals(rows: list[dict]) -> list[str]:
    def find(n_atoms, n_assets, fraction):
        for r in rows:
            if (r["method"], r["n_atoms"], r["n_assets"], r["fraction"]) == (
                    "clarabel", n_atoms, n_assets, fraction) and "total" in r:
                return r
        return None

    out = []
    r = find(300, 50, 0.3)
    if r:
        verdict = "met" if r["total"] < 3 else "missed"
        out.append(f"* N = M = 300, 50 assets, 30 % of the pairs: {r['total']:.2f} s "
                   f"(goal < 3 s: {verdict}).")
    thousand = [r for r in rows if r["method"] == "clarabel" and r["n_atoms"] == 1000
                and "total" in r]
    if thousand:
        slowest = max(r["total"] for r in thousand)
        largest = max(r["peak_mb"] for r in thousand)
        verdict = "met" if slowest < 60 and largest < 4096 else "missed"
        out.append(f"* N = M = 1,000: slowest row {slowest:.1f} s, largest peak "
                   f"{largest:,.0f} MB (goal < 60 s and < 4 GB: {verdict}).")
    solved = [r for r in rows if r["method"] == "clarabel" and "total" in r]
    if solved:
        shares = [r["assembly"] / r["total"] for r in solved]
        worst = max(solved, key=lambda r: r["assembly"] / r["total"])
        verdict = "met" if max(shares) < 0.05 else "missed"
        out.append(f"* Assembly share of the total: median {100 * np.median(shares):.1f} %, "
                   f"largest {100 * max(shares):.1f} % (N = {worst['n_atoms']:,}, "
                   f"n = {worst['n_assets']}, {worst['fraction']:.0%}) (goal < 5 %: "
                   f"{verdict}).")
        long = [r["assembly"] / r["total"] for r in solved if r["total"] >= 1.0]
        if long:
            out.append(f"  Over the rows of at least 1 s: {100 * min(long):.1f} % to "
                       f"{100 * max(long):.1f} % (the shorter rows spend tens of "
                       "milliseconds in fixed costs).")
    baseline = min((r["peak_mb"] for r in solved), default=None)
    if baseline is not None:
        out.append(f"* Peak memory includes the interpreter and wfr_cvx's imports (the "
                   f"smallest clarabel row peaked at {baseline:,.0f} MB; a solve loads "
                   "Clarabel, scipy and pandas); the POT rows load none of them.")
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes (writes to a scratch directory, not benchmarks/)")
    parser.add_argument("--pot-python", default=None,
                        help="an interpreter with pot and wfr_cvx installed, for the POT rows")
    parser.add_argument("--report", action="store_true",
                        help="rewrite ENSEMBLE.md from ensemble_results.json, running nothing")
    parser.add_argument("--grid", action="store_true",
                        help="rerun only the grid cross-check into ensemble_results.json and "
                             "rewrite ENSEMBLE.md (the other sections keep their run)")
    parser.add_argument("--row", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.row:
        print(json.dumps(run_row(json.loads(args.row))), flush=True)
        return
    if args.grid:
        machine = machine_info()  # taken first: its load average is the one before the run
        out = output_dir(args.quick)
        results = json.loads((out / "ensemble_results.json").read_text())
        results["grid_run"] = {"machine": machine, "date": time.strftime("%Y-%m-%d"),
                               "versions": versions("wfr_cvx", "clarabel", "numpy", "scipy")}
        results["grid"] = grid_crosscheck(QUICK if args.quick else FULL)
        write_outputs(results, out, "ensemble_results.json", "ENSEMBLE.md",
                      markdown(results))
        return
    if args.report:
        out = output_dir(args.quick)
        results = json.loads((out / "ensemble_results.json").read_text())
        (out / "ENSEMBLE.md").write_text("\n".join(markdown(results)) + "\n")
        return
    results = run(QUICK if args.quick else FULL, _pot_python(args.pot_python))
    write_outputs(results, output_dir(args.quick), "ensemble_results.json", "ENSEMBLE.md",
                  markdown(results))


if __name__ == "__main__":
    main()
