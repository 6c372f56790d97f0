r"""Accuracy of the discretisation schemes against closed forms and the static distance.

Writes ``benchmarks/scheme_accuracy_results.json`` and ``benchmarks/SCHEME_ACCURACY.md``
(``--quick``: a few small cases, to a scratch directory).

Rows are scheme x case x resolution; columns d², the reference, the relative error, the
solver's status, iterations and times, and the size of the SOCP.  Every solve is the
interior point (``backend="clarabel"``), so the error is the scheme's.  Cases:

* ``dirac``: one-cell Diracs of unit mass at cell ``0.3 n`` moved by ``gap`` (cells
  ``round(gap n)``) at ``lam``, against :func:`~wfr_cvx.closed_form.dirac_wfr2` at the
  two cell centres (the data are those point masses).  The Courant number of the motion
  is ``gap * n_weights / n_steps`` cells per step (0.31 ... 1.25 at 100 x 32); refining
  both axes together keeps it;
* ``refine``: Dirac cases at 100 x 32, 200 x 64 and 400 x 128, with the observed order
  ``log2(e_h / e_{h/2})``;
* ``reaction``: a regime switch (``Grid(32, T, regimes=2)``, lam 0.4, exact
  ``4 lam^2 (1 + 0.5)``) and a same-cell mass change (a bump x3 in place on
  ``Grid(64, T)``, lam 0.3, exact :func:`~wfr_cvx.closed_form.hellinger2`) at 8 and 32
  steps;
* ``bump``: smooth bumps of width 0.05 on ``Grid(128, 32)`` against the certified static
  distance (:func:`~wfr_cvx.closed_form.static_wfr2_bounds`: the upper bound; 'bracket'
  its relative width) between the same Gaussians sampled on 400 cells, where every shift
  is a whole number of cells.  The static value of the 128 cells themselves is recorded
  beside it (``same_cells``): its atoms cannot move by a fraction of a cell, so where the
  shift is not whole (12.8 cells in "transport") it sits above the continuum; the
  ``bump reference`` table shows both converging (100, 200, 400 cells);
* ``simplex``: one-cell Diracs on ``Grid.simplex(32, 16)`` moved by a weight vector
  ``dw`` under a metric ``G``, against the closed form at distance
  :math:`\sqrt{\Delta w^\top G \Delta w}`.

Run: ``python benchmarks/bench_scheme_accuracy.py [--quick] [--schemes a,b]
[--no-finest]`` (the 400 x 128 solves take 1-5 minutes each).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # this checkout's wfr_cvx
sys.path.insert(0, str(HERE))

from _common import (  # noqa: E402
    header_lines,
    machine_info,
    markdown_table,
    output_dir,
    versions,
    write_outputs,
)

import wfr_cvx  # noqa: E402
from wfr_cvx import Grid  # noqa: E402
from wfr_cvx.assembly import SCHEMES, assemble  # noqa: E402
from wfr_cvx.closed_form import dirac_wfr2, hellinger2, static_wfr2_bounds  # noqa: E402
from wfr_cvx.engine import make_request  # noqa: E402

ALL_SCHEMES = tuple(SCHEMES)
GAPS = (0.1, 0.2, 0.3, 0.4)
LAMS = (0.1, 0.5, 2.0)
RESOLUTIONS = ((100, 32), (200, 64), (400, 128))
#: (lam, gap) of the refined Dirac cases: the reported case, the slowest motion, and the
#: near-teleport case (gap 0.3 ~ 0.95 pi lam)
REFINED = ((0.5, 0.3), (0.5, 0.1), (0.1, 0.3))
BUMPS = (  # name, centre 0, centre 1, mass 1, lam
    ("transport", 0.3, 0.4, 1.0, 0.3),
    ("mixed", 0.3, 0.5, 1.5, 0.1),
    ("teleport", 0.2, 0.7, 1.0, 0.05),
    ("long", 0.3, 0.6, 1.0, 0.5),
)
SIMPLEX = (  # name, start (w_A, w_B), move, metric, lam
    ("identity", (0.2, 0.2), (0.25, 0.125), None, 0.5),
    ("off-diagonal G", (0.2, 0.2), (0.25, 0.125), ((2.0, 0.5), (0.5, 1.0)), 0.5),
    ("diagonal move", (0.2, 0.2), (0.25, 0.25), None, 1.0),
)


def dirac_case(n: int, steps: int, gap: float, lam: float):
    g = Grid(n, steps)
    i0 = int(round(0.3 * n))
    i1 = i0 + int(round(gap * n))
    r0, r1 = g.zeros(), g.zeros()
    r0[0, i0] = r1[0, i1] = 1.0
    return g, r0, r1, dirac_wfr2(1.0, 1.0, g.weights[i0], g.weights[i1], lam)


def simplex_case(n: int, steps: int, start, move, metric, lam: float):
    g = Grid.simplex(n, steps)
    r0, r1 = g.dirac(start), g.dirac(np.add(start, move))
    c0 = (np.argwhere(r0[0] > 0)[0] + 0.5) * g.dx
    c1 = (np.argwhere(r1[0] > 0)[0] + 0.5) * g.dx
    G = np.eye(2) if metric is None else np.asarray(metric)
    dw = c1 - c0
    return g, r0, r1, dirac_wfr2(1.0, 1.0, 0.0, float(np.sqrt(dw @ G @ dw)), lam)


def problem_size(r0, r1, g: Grid, lam: float, scheme: str, metric=None) -> dict:
    """Variables, rows and non-zeros of the assembled SOCP."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = assemble(make_request(r0, r1, g, lam, metric=metric, backend="clarabel",
                                  scheme=scheme)).problem
    return {"variables": p.A.shape[1], "rows": p.A.shape[0], "nnz": int(p.A.nnz)}


def solve_row(kind: str, case: str, scheme: str, g: Grid, r0, r1, lam: float,
              reference: float, ref_kind: str, extra: dict | None = None,
              metric=None) -> dict:
    row = {"kind": kind, "case": case, "scheme": scheme, "n": g.n_weights,
           "steps": g.n_steps, "lam": lam, "reference": reference, "ref_kind": ref_kind}
    row.update(extra or {})
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            geo = wfr_cvx.geodesic(r0, r1, g, lam, metric=metric, scheme=scheme,
                                   backend="clarabel")
        row.update(d2=geo.distance2, status=str(geo.status), iterations=geo.iterations,
                   solve_s=geo.solve_time, transport=geo.transport_cost,
                   reaction=geo.reaction_cost)
    except wfr_cvx.SolverError as exc:  # reported, not fatal
        row.update(d2=float("nan"), status=f"SolverError {exc.status}", iterations=0,
                   solve_s=float("nan"), transport=float("nan"), reaction=float("nan"))
    row["total_s"] = time.perf_counter() - start
    row["rel_err"] = row["d2"] / reference - 1.0
    row.update(problem_size(r0, r1, g, lam, scheme, metric))
    print(f"{kind:9s} {case:22s} {scheme:11s} {g.n_weights:4d}x{g.n_steps:<4d} "
          f"d2 {row['d2']:.7g} ref {reference:.7g} err {row['rel_err']:+.2e} "
          f"{row['status']} it {row['iterations']} {row['total_s']:.1f}s", flush=True)
    return row


def run(config: dict) -> dict:
    machine = machine_info()  # taken first: its load average is the one before the rows
    rows = []
    schemes = config["schemes"]
    n, steps = config["base"]
    for scheme in schemes:
        for lam in config["lams"]:
            for gap in config["gaps"]:
                g, r0, r1, ref = dirac_case(n, steps, gap, lam)
                rows.append(solve_row("dirac", f"gap {gap} lam {lam}", scheme, g, r0, r1,
                                      lam, ref, "dirac_wfr2",
                                      {"gap": gap, "courant": gap * n / steps}))
    for lam, gap in config["refined"]:
        for scheme in schemes:
            for level, (n_, steps_) in enumerate(config["resolutions"][1:], start=1):
                finest = level == len(config["resolutions"]) - 1 and level > 1
                if finest and (lam, gap) not in config["finest_cases"]:
                    continue
                g, r0, r1, ref = dirac_case(n_, steps_, gap, lam)
                rows.append(solve_row("refine", f"gap {gap} lam {lam}", scheme, g, r0, r1,
                                      lam, ref, "dirac_wfr2",
                                      {"gap": gap, "courant": gap * n_ / steps_}))
    for steps_ in config["reaction_steps"]:
        for scheme in schemes:
            g = Grid(32, steps_, regimes=2)
            r0, r1 = g.dirac(0.3, 0), g.dirac(0.8, 1, mass=0.5)
            rows.append(solve_row("reaction", "regime switch", scheme, g, r0, r1, 0.4,
                                  4 * 0.4**2 * 1.5, "4 lam^2 (a + b)"))
            g = Grid(64, steps_)
            r0, r1 = g.bump(0.5, 0.1), g.bump(0.5, 0.1, mass=3.0)
            rows.append(solve_row("reaction", "same-cell mass x3", scheme, g, r0, r1, 0.3,
                                  hellinger2(r0, r1, 0.3), "hellinger2"))
    n_b, steps_b = config["bump_grid"]
    g = Grid(n_b, steps_b)
    references = []
    for name, c0, c1, m1, lam in config["bumps"]:
        r0, r1 = g.bump(c0, 0.05), g.bump(c1, 0.05, mass=m1)
        same_lower, same_upper = static_wfr2_bounds(r0, r1, g, lam)
        statics = {n_: static_on(n_, c0, c1, m1, lam) for n_ in config["bump_reference_cells"]}
        references.append({"case": f"{name} lam {lam}", "same_cells": n_b,
                           "same_cells_bounds": [same_lower, same_upper],
                           "bounds": {str(k): v for k, v in statics.items()}})
        lower, upper = statics[max(statics)]
        for scheme in schemes:
            row = solve_row("bump", f"{name} lam {lam}", scheme, g, r0, r1, lam, upper,
                            f"static_wfr2 on {max(statics)} cells (upper)",
                            {"bracket": (upper - lower) / upper,
                             "same_cells_static": same_upper})
            row["same_cells_rel_err"] = row["d2"] / same_upper - 1.0
            rows.append(row)
    n_s, steps_s = config["simplex_grid"]
    for name, start, move, metric, lam in config["simplex"]:
        g, r0, r1, ref = simplex_case(n_s, steps_s, start, move, metric, lam)
        G = None if metric is None else np.asarray(metric)
        for scheme in schemes:
            rows.append(solve_row("simplex", f"{name} lam {lam}", scheme, g, r0, r1, lam,
                                  ref, "dirac_wfr2 (metric distance)", metric=G))
    return {"machine": machine,
            "versions": versions("wfr_cvx", "clarabel", "cvxpy", "numpy"),
            "config": dict(config), "rows": rows, "orders": orders(rows),
            "bump_references": references}


def static_on(n: int, c0: float, c1: float, m1: float, lam: float) -> list[float]:
    """Certified bounds of the static distance between the bumps sampled on ``n`` cells;
    ``n`` must make the shift a whole number of cells (then the atoms translate exactly)."""
    shift = (c1 - c0) * n
    if abs(shift - round(shift)) > 1e-9:
        raise ValueError(f"{n} cells do not shift the bumps by a whole number of cells")
    fine = Grid(n, 1)
    return list(static_wfr2_bounds(fine.bump(c0, 0.05), fine.bump(c1, 0.05, mass=m1),
                                   fine, lam))


def orders(rows: list) -> list:
    """Observed orders ``log2(e_h / e_{h/2})`` along each refined (case, scheme)."""
    out = []
    by = {}
    for r in rows:
        if r["kind"] in ("dirac", "refine"):
            by.setdefault((r["case"], r["scheme"]), []).append(r)
    for (case, scheme), rs in by.items():
        rs = sorted(rs, key=lambda r: r["n"])
        if len(rs) < 2:
            continue
        errs = [abs(r["rel_err"]) for r in rs]
        ords = [math.log2(a / b) if a > 0 and b > 0 else float("nan")
                for a, b in zip(errs, errs[1:], strict=False)]
        out.append({"case": case, "scheme": scheme,
                    "resolutions": [f"{r['n']}x{r['steps']}" for r in rs],
                    "errors": [r["rel_err"] for r in rs], "orders": ords})
    return out


def markdown(results: dict) -> list[str]:
    lines = header_lines("Scheme accuracy: closed forms and the static distance", results,
                         "python benchmarks/bench_scheme_accuracy.py")
    lines += ["Relative error = d² / reference - 1.  Dirac references are the closed form "
              "at the cell centres; bump references the certified static distance between the "
              "same Gaussians on a finer sampling (upper bound; its bracket is in the JSON; "
              "the static value of the solve's own cells is in the table below).  All "
              "solves: the "
              "interior point (Clarabel) at its defaults.", ""]
    heads = ["kind", "case", "scheme", "grid", "d²", "reference", "rel. error", "status",
             "iter", "solve s", "total s", "variables", "nnz"]
    body = [[r["kind"], r["case"], r["scheme"], f"{r['n']}x{r['steps']}", f"{r['d2']:.7g}",
             f"{r['reference']:.7g}", f"{r['rel_err']:+.2e}", r["status"], r["iterations"],
             f"{r['solve_s']:.2f}", f"{r['total_s']:.2f}", r["variables"], r["nnz"]]
            for r in results["rows"]]
    lines += markdown_table(heads, body)
    refs = results.get("bump_references", [])
    if refs:
        cells = sorted({int(k) for r in refs for k in r["bounds"]})
        lines += ["", "## Bump references: the static distance on finer samplings", "",
                  "Certified [lower, upper] bounds of the static distance between the same "
                  "Gaussians sampled on n cells (whole-cell shifts), and on the solve's own "
                  "cells (atoms at the centres, which cannot move by a fraction of a cell).",
                  ""]
        lines += markdown_table(
            ["case", f"same {refs[0]['same_cells']} cells", *[f"{n_} cells" for n_ in cells]],
            [[r["case"], "[{:.7g}, {:.7g}]".format(*r["same_cells_bounds"]),
              *["[{:.7g}, {:.7g}]".format(*r["bounds"][str(n_)]) for n_ in cells]]
             for r in refs])
        lines += ["", "The bump rows against both references:", ""]
        lines += markdown_table(
            ["case", "scheme", "d²", "vs the finer sampling", "vs the same cells"],
            [[r["case"], r["scheme"], f"{r['d2']:.7g}", f"{r['rel_err']:+.2e}",
              f"{r['same_cells_rel_err']:+.2e}"]
             for r in results["rows"] if r["kind"] == "bump"])
    lines += ["", "## Observed orders (both axes refined together)", ""]
    lines += markdown_table(
        ["case", "scheme", "grids", "errors", "orders"],
        [[o["case"], o["scheme"], " / ".join(o["resolutions"]),
          " / ".join(f"{e:+.2e}" for e in o["errors"]),
          " / ".join(f"{x:.2f}" for x in o["orders"])] for o in results["orders"]])
    return lines


FULL = {
    "schemes": ALL_SCHEMES, "base": RESOLUTIONS[0], "resolutions": RESOLUTIONS,
    "gaps": GAPS, "lams": LAMS, "refined": REFINED, "finest_cases": REFINED[:2],
    "reaction_steps": (8, 32), "bump_grid": (128, 32), "bumps": BUMPS,
    "bump_reference_cells": (100, 200, 400),
    "simplex_grid": (32, 16), "simplex": SIMPLEX,
}
QUICK = {
    "schemes": ("power", "centred"), "base": (40, 16), "resolutions": ((40, 16), (80, 32)),
    "gaps": (0.2,), "lams": (0.5,), "refined": ((0.5, 0.2),), "finest_cases": (),
    "reaction_steps": (8,), "bump_grid": (64, 16), "bumps": BUMPS[:1],
    "bump_reference_cells": (100,),
    "simplex_grid": (16, 8), "simplex": SIMPLEX[:1],
}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a few small cases (writes to a scratch directory)")
    parser.add_argument("--schemes", help="comma-separated schemes (default: all)")
    parser.add_argument("--no-finest", action="store_true", help="skip 400 x 128")
    args = parser.parse_args(argv)
    config = dict(QUICK if args.quick else FULL)
    if args.schemes:
        config["schemes"] = tuple(args.schemes.split(","))
    if args.no_finest:
        config["resolutions"] = config["resolutions"][:2]
    results = run(config)
    write_outputs(results, output_dir(args.quick), "scheme_accuracy_results.json",
                  "SCHEME_ACCURACY.md", markdown(results))


if __name__ == "__main__":
    main()
