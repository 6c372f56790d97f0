r"""The static WFR distance: POT's unbalanced solvers against wfr_cvx's certified value.

Writes ``benchmarks/static_results.json`` and ``benchmarks/STATIC.md``.

The static (logarithmic entropy-transport) form of the squared distance is

.. math::

    d^2 = 4\lambda^2 \min_{\gamma \ge 0} \Big[\sum_{ij} \gamma_{ij} c_{ij}
          + \mathrm{KL}(\gamma\mathbf 1 \,|\, a) + \mathrm{KL}(\gamma^\top\mathbf 1 \,|\, b)\Big],
    \qquad c_{ij} = -\log\cos^2\big(\min(|x_i - x_j| / (2\lambda), \pi/2)\big),

with the generalised :math:`\mathrm{KL}(p|q) = \sum p\log(p/q) - p + q` (Liero, Mielke &
Savaré 2018, Thm 7.20); :math:`c = +\infty` for :math:`|x - y| \ge \pi\lambda`.  This is
POT's unbalanced problem with ``reg_m = 1`` and ``div = "kl"``, so on the same discrete
measures (two Gaussian bumps on 1-D grids) the run compares

* ``wfr_cvx.closed_form.static_wfr2`` — exponential cones by Clarabel, certified by a
  primal/dual bracket (the reference; the bracket is shown, and an uncertified case says
  so instead of stopping the run);
* ``ot.unbalanced.mm_unbalanced`` (majorisation-minimisation, ``reg = 0``) at
  several iteration budgets;
* ``ot.unbalanced.lbfgsb_unbalanced`` (``reg = 0``) at several budgets;
* ``ot.unbalanced.sinkhorn_unbalanced`` with a small entropic ``reg`` (a biased
  reference: entropy changes the problem);
* one column: the dynamic engine ``wfr_cvx.distance(...)**2`` on ``Grid(n, 32)``.

POT needs finite costs: the infinite entries become ``BIG_COST = 1e3`` (a pair at that
cost carries a factor :math:`e^{-1000}` of the mass a free pair would).  Every value is
**evaluated here from the returned plan**, never taken from POT's own ``cost``:
:math:`4\lambda^2 [\sum\gamma c + \mathrm{KL}(\gamma\mathbf 1|a) +
\mathrm{KL}(\gamma^\top\mathbf 1|b)]` with ``BIG_COST`` on forbidden pairs; their mass is
reported too (with the true cost any positive mass there makes the value infinite).

The POT solvers are given the supports of the bumps: cells lighter than 1e-12 of the
heavier total mass are dropped, as ``static_wfr2`` does.  On the full grid the bumps'
far tails are exact zeros (``erf`` differences round to 0), ``KL(p | 0)`` is infinite and
``lbfgsb_unbalanced`` / ``sinkhorn_unbalanced`` return NaN or diverge; the run measures
that once, on the first case, in a separate table.

A method that is 5 % off is a row, not an exception: every outcome is recorded.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import ot  # noqa: E402
from _common import (  # noqa: E402
    header_lines,
    machine_info,
    main_quick_or_full,
    markdown_table,
    versions,
)

import wfr_cvx  # noqa: E402
from wfr_cvx.closed_form import static_wfr2, static_wfr2_bounds, wfr_cost_matrix  # noqa: E402
from wfr_cvx.errors import SolverError  # noqa: E402

BIG_COST = 1e3
#: Cells lighter than this fraction of the heavier total mass are left out (as static_wfr2).
NEGLIGIBLE = 1e-12
BUMPS = ((0.3, 0.05, 1.0), (0.6, 0.05, 1.5))  # (centre, width, mass) of rho0 and rho1
N_STEPS_DYNAMIC = 32

FULL = {
    "sizes": (64, 128),
    "lams": (0.05, 0.1, 0.2, 0.5, 1.0),
    "mm_budgets": (1_000, 10_000, 100_000),
    "lbfgsb_budgets": (1_000, 10_000),
    "sinkhorn_regs": (1e-2, 1e-3),
    "n_steps": N_STEPS_DYNAMIC,
}
QUICK = {
    "sizes": (32,),
    "lams": (0.1, 0.5),
    "mm_budgets": (100, 1_000),
    "lbfgsb_budgets": (100,),
    "sinkhorn_regs": (1e-2,),
    "n_steps": 8,
}


def generalised_kl(p: np.ndarray, q: np.ndarray) -> float:
    r""":math:`\mathrm{KL}(p|q) = \sum p \log(p/q) - p + q` (``0 log 0 = 0``; inf if q = 0 < p)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p / q), 0.0) - p + q
    return float(terms.sum())


def plan_value(plan: np.ndarray, a: np.ndarray, b: np.ndarray, cost: np.ndarray,
               lam: float) -> tuple[float, float]:
    """``(4 lam^2 * objective of the plan, mass on forbidden pairs)``.

    The objective puts ``BIG_COST`` on the forbidden pairs (``cost = inf``), i.e. it is the
    objective the POT solvers were given.
    """
    plan = np.asarray(plan, dtype=float)
    allowed = np.isfinite(cost)
    forbidden_mass = float(plan[~allowed].sum())
    transport = float(plan[allowed] @ cost[allowed]) + BIG_COST * forbidden_mass
    value = transport + generalised_kl(plan.sum(axis=1), a) + generalised_kl(plan.sum(axis=0), b)
    return 4.0 * lam**2 * value, forbidden_mass


def timed(func, repeat_below: float = 0.5, repeats: int = 3):
    """``(best wall time, result, warnings caught)``; short calls are repeated for the best."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        result = func()
        best = time.perf_counter() - start
        if best < repeat_below:
            for _ in range(repeats - 1):
                start = time.perf_counter()
                func()
                best = min(best, time.perf_counter() - start)
    # scipy's deprecation notice about L-BFGS-B's `disp` (passed by POT) is not a result
    messages = sorted({str(w.message).splitlines()[0][:60] for w in caught
                       if "`disp`" not in str(w.message)})
    return best, result, messages


def pot_methods(config: dict):
    """``[(method label, budget label, solve(a, b, M) -> (plan, note))]``."""
    methods = []
    for budget in config["mm_budgets"]:
        methods.append(("POT mm_unbalanced", f"numItermax {budget:,}", _mm(budget)))
    for budget in config["lbfgsb_budgets"]:
        methods.append(("POT lbfgsb_unbalanced", f"numItermax {budget:,}", _lbfgsb(budget)))
    for reg in config["sinkhorn_regs"]:
        methods.append(("POT sinkhorn_unbalanced", f"reg {reg:g}, 10,000 it",
                        _sinkhorn(reg, "sinkhorn")))
    reg = config["sinkhorn_regs"][-1]
    methods.append(("POT sinkhorn_unbalanced (stabilized)", f"reg {reg:g}, 10,000 it",
                    _sinkhorn(reg, "sinkhorn_stabilized")))
    return methods


def _mm(budget: int):
    def solve(a, b, M):
        # log=True would keep every iterate (budget x plan size): no iteration count here
        return ot.unbalanced.mm_unbalanced(a, b, M, reg_m=1.0, reg=0.0, div="kl",
                                           numItermax=budget), ""
    return solve


def _lbfgsb(budget: int):
    def solve(a, b, M):
        plan, log = ot.unbalanced.lbfgsb_unbalanced(a, b, M, reg=0.0, reg_m=1.0,
                                                    numItermax=budget, log=True)
        res = log["res"]
        return plan, f"{res.nit} it, {str(res.message)[:50]}"
    return solve


def _sinkhorn(reg: float, method: str):
    def solve(a, b, M):
        plan = ot.unbalanced.sinkhorn_unbalanced(a, b, M, reg, 1.0, method=method,
                                                 reg_type="kl", numItermax=10_000)
        return plan, ""
    return solve


def reference(rho0, rho1, grid, lam) -> dict:
    """static_wfr2 (timed) and its bracket; an uncertified case is recorded, not raised."""
    start = time.perf_counter()
    try:
        value, certified, note = static_wfr2(rho0, rho1, grid, lam), True, ""
    except SolverError as exc:
        value, certified, note = float("nan"), False, str(exc)[:120]
    elapsed = time.perf_counter() - start
    lower, upper = static_wfr2_bounds(rho0, rho1, grid, lam)
    if not certified:
        value = upper  # the primal value of the coupling found; the bracket says how good
    return {"value": value, "lower": lower, "upper": upper, "certified": certified,
            "time_s": elapsed, "note": note}


def dynamic(rho0, rho1, n: int, n_steps: int, lam: float) -> tuple[float, float, str]:
    """``(d^2, seconds, status)`` of the dynamic engine on ``Grid(n, n_steps)``."""
    grid = wfr_cvx.Grid(n, n_steps)
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            geo = wfr_cvx.geodesic(rho0, rho1, grid, lam)
        return geo.distance2, time.perf_counter() - start, geo.status
    except SolverError as exc:
        return float("nan"), time.perf_counter() - start, exc.status


def run_case(n: int, lam: float, config: dict) -> list[dict]:
    grid = wfr_cvx.Grid(n, config["n_steps"])
    (c0, w0, m0), (c1, w1, m1) = BUMPS
    rho0, rho1 = grid.bump(c0, w0, mass=m0), grid.bump(c1, w1, mass=m1)
    ref = reference(rho0, rho1, grid, lam)
    d2_dyn, t_dyn, status_dyn = dynamic(rho0, rho1, n, config["n_steps"], lam)
    case = f"1D {n}, lam {lam:g}"
    dyn_diff = d2_dyn / ref["value"] - 1.0
    common = {"case": case, "n": n, "lam": lam, "reference": ref["value"],
              "bracket": [ref["lower"], ref["upper"]], "certified": ref["certified"],
              "dynamic_d2": d2_dyn, "dynamic_time_s": t_dyn, "dynamic_status": status_dyn,
              "dynamic_rel_diff": dyn_diff}
    rows = [{**common, "method": "wfr_cvx static_wfr2", "budget": "Clarabel defaults",
             "time_s": ref["time_s"], "value": ref["value"], "rel_diff": 0.0,
             "forbidden_mass": 0.0, "above_lower": True,
             "note": "certified" if ref["certified"] else "NOT certified: " + ref["note"]}]

    heavier = max(rho0.sum(), rho1.sum())
    src = np.flatnonzero(rho0[0] > NEGLIGIBLE * heavier)
    dst = np.flatnonzero(rho1[0] > NEGLIGIBLE * heavier)
    a, b = rho0[0, src], rho1[0, dst]
    cost = wfr_cost_matrix(grid.coords[src], grid.coords[dst], lam)
    big = np.where(np.isfinite(cost), cost, BIG_COST)
    for method, budget, solve in pot_methods(config):
        elapsed, (plan, note), caught = timed(lambda s=solve: s(a, b, big))
        value, forbidden = plan_value(plan, a, b, cost, lam)
        rows.append({**common, "method": method, "budget": budget, "time_s": elapsed,
                     "value": value, "rel_diff": value / ref["value"] - 1.0,
                     "forbidden_mass": forbidden,
                     # no coupling can beat the certified lower bound (up to round-off)
                     "above_lower": bool(value >= ref["lower"] * (1 - 1e-9)),
                     "note": "; ".join(filter(None, [note, *caught]))})
    for row in rows:
        print(f"{case:<18} {row['method']:<38} {row['budget']:<20} {row['time_s']:8.3f} s "
              f"rel {row['rel_diff']:+.2e}", flush=True)
    return rows


def zero_cell_check(config: dict) -> list[dict]:
    """The POT solvers on the full grid, zero cells included (first size and lam)."""
    n, lam = config["sizes"][0], config["lams"][0]
    grid = wfr_cvx.Grid(n, 1)
    (c0, w0, m0), (c1, w1, m1) = BUMPS
    a, b = grid.bump(c0, w0, mass=m0)[0], grid.bump(c1, w1, mass=m1)[0]
    cost = wfr_cost_matrix(grid.coords, grid.coords, lam)
    big = np.where(np.isfinite(cost), cost, BIG_COST)
    rows = []
    for method, budget, solve in pot_methods(config):
        try:
            elapsed, (plan, note), caught = timed(lambda s=solve: s(a, b, big), repeats=1)
            value, _ = plan_value(plan, a, b, cost, lam)
            outcome = f"value {value:.6g}"
        except Exception as exc:  # a failure is the measurement here
            elapsed, note, caught = float("nan"), "", []
            outcome = f"raised {type(exc).__name__}: {str(exc)[:60]}"
        rows.append({"case": f"1D {n}, lam {lam:g}", "zero_cells": [int((a == 0).sum()),
                     int((b == 0).sum())], "method": method, "budget": budget,
                     "time_s": elapsed, "outcome": outcome,
                     "note": "; ".join(filter(None, [note, *caught]))})
    return rows


def run(config: dict) -> dict:
    machine = machine_info()  # taken first: its load average is the one before the rows
    # warm-up: cvxpy/Clarabel imports and numba compilation are not part of any row
    grid = wfr_cvx.Grid(8, 2)
    static_wfr2(grid.bump(0.3, 0.1), grid.bump(0.6, 0.1), grid, 0.5)
    wfr_cvx.geodesic(grid.bump(0.3, 0.1), grid.bump(0.6, 0.1), grid, 0.5)
    rows = [row for n in config["sizes"] for lam in config["lams"]
            for row in run_case(n, lam, config)]
    return {
        "machine": machine,
        "versions": versions("wfr_cvx", "ot", "clarabel", "cvxpy", "numpy", "scipy"),
        "config": {**config, "bumps": BUMPS, "big_cost": BIG_COST, "negligible": NEGLIGIBLE},
        "rows": rows,
        "zero_cell_check": zero_cell_check(config),
    }


def markdown(results: dict) -> list[str]:
    cfg = results["config"]
    (c0, w0, m0), (c1, w1, m1) = cfg["bumps"]
    lines = header_lines("Static WFR distance: POT vs wfr_cvx", results,
                         "python benchmarks/bench_static.py")
    lines += [
        f"Problem: a Gaussian bump (centre {c0}, width {w0}, mass {m0}) to one at {c1} "
        f"(width {w1}, mass {m1}) on 1-D grids of {', '.join(map(str, cfg['sizes']))} cells, "
        "one regime. `value` is 4λ² [Σ γ c + KL(γ1|a) + KL(γᵀ1|b)] **evaluated here from "
        "each method's plan**; `rel. diff` is relative to `static_wfr2`'s certified value "
        "(its primal value, the bracket's upper end, where it could not certify: "
        "`certified` = no); the bracket [lower, upper] is in the reference table. A value "
        "below the lower bound (`≥ lower` = no) is not a valid coupling's objective.",
        "",
        f"POT is given the cost with the infinite entries (|x − y| ≥ πλ) replaced by "
        f"{cfg['big_cost']:g} and the supports of the bumps (cells above "
        f"{cfg['negligible']:g} of the heavier mass, as `static_wfr2` keeps); "
        "`forbidden mass` is the plan's mass on infinite-cost pairs. Times are the best of "
        "3 calls for calls under 0.5 s. `dynamic` is `wfr_cvx.distance(...)**2` on "
        f"`Grid(n, {cfg['n_steps']})` (one per case), relative to the same reference.",
        "",
    ]
    lines += ["## Summary: worst relative difference per method over the cases", ""]
    summary = {}
    for r in results["rows"]:
        if r["method"] == "wfr_cvx static_wfr2":
            continue
        entry = summary.setdefault((r["method"], r["budget"]), [0.0, 0.0, r["case"]])
        if not abs(r["rel_diff"]) <= entry[0]:  # NaN counts as the worst
            entry[0], entry[2] = abs(r["rel_diff"]), r["case"]
        entry[1] += r["time_s"]
    lines += markdown_table(
        ["method", "budget", "max abs. rel. diff", "at", "total time s"],
        [[method, budget, f"{worst:.1e}", case, f"{total:.2f}"]
         for (method, budget), (worst, total, case) in summary.items()])
    lines += ["", "## The reference per case", ""]
    lines += markdown_table(
        ["case", "static_wfr2 d²", "bracket [lower, upper]", "certified", "time s",
         "dynamic d²", "dynamic rel. diff", "dynamic status, time s"],
        [[r["case"], f"{r['reference']:.7g}", f"[{r['bracket'][0]:.7g}, {r['bracket'][1]:.7g}]",
          "yes" if r["certified"] else "**no**", f"{r['time_s']:.3f}", f"{r['dynamic_d2']:.7g}",
          f"{r['dynamic_rel_diff']:+.1e}", f"{r['dynamic_status']}, {r['dynamic_time_s']:.1f}"]
         for r in results["rows"] if r["method"] == "wfr_cvx static_wfr2"])
    lines += ["", "## The methods", ""]
    lines += markdown_table(
        ["case", "method", "budget", "time s", "value", "rel. diff", "≥ lower",
         "forbidden mass", "note"],
        [[r["case"], r["method"], r["budget"], f"{r['time_s']:.3f}", f"{r['value']:.7g}",
          f"{r['rel_diff']:+.1e}", "yes" if r["above_lower"] else "**no**",
          f"{r['forbidden_mass']:.0e}", r["note"].replace("|", "/")]
         for r in results["rows"] if r["method"] != "wfr_cvx static_wfr2"])
    check = results["zero_cell_check"]
    if check:
        lines += [
            "",
            f"## The POT solvers on the full grid ({check[0]['case']}, zero cells "
            f"{check[0]['zero_cells'][0]} in a, {check[0]['zero_cells'][1]} in b)",
            "",
            "The bumps' far tails are exact zeros; KL(p | 0) is infinite for p > 0.",
            "",
        ]
        lines += markdown_table(
            ["method", "budget", "time s", "outcome", "note"],
            [[r["method"], r["budget"], f"{r['time_s']:.3f}", r["outcome"],
              r["note"].replace("|", "/")] for r in check])
    return lines


def main(argv=None) -> None:
    main_quick_or_full(__doc__, run, QUICK, FULL, "static_results.json", "STATIC.md", markdown,
                       argv)


if __name__ == "__main__":
    main()
