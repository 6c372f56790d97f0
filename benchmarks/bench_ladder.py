r"""The solve-time ladder: 1-D and 2-D problems of growing size, each setting side by side.

Writes ``benchmarks/ladder_results.json`` and ``benchmarks/LADDER.md``.

Rows

* **1-D** — the demo's two-regime problem (``wfr_cvx.demo.build(n, 32)``, bumps of width
  0.07, ``lam = 0.15``) at 64, 256, 1,024 and 4,096 weights x 2 regimes x 32 steps;
* **2-D** — on ``Grid.simplex(n, steps)`` (three assets, one regime, cells outside the
  simplex inactive), a Gaussian bump of width 0.08 at :math:`(w_A, w_B) = (0.25, 0.25)`
  with mass 1 to one at (0.45, 0.30) with mass 1.2, ``lam = 0.3``, at n = 16, 32, 48, 64
  per side x 16 and 32 steps, and 128 per side x 32 steps.

Settings, in the same run (ratios are to the first): the default call (``backend="auto"``,
the centred scheme); the previous default (the interior point on the staggered power-mean
scheme); the direct Clarabel backend with wfr_cvx's defaults (faer with one thread), with
QDLDL, with faer on 2 threads; the cvxpy backend (small sizes only); the ``"dr"`` backend
(wfr_cvx's own ADMM / Douglas-Rachford splitting) and the ``"scs"`` backend (SCS).

Each row runs in its own subprocess (``python bench_ladder.py --row SPEC``), so its peak
resident memory (``ru_maxrss``) is its own, and under a timeout: a row that runs out of
time is recorded as ``timeout``, one that ``check_size`` refuses
(:class:`~wfr_cvx.errors.ProblemTooLargeError`) or that exceeds ``--max-cells`` as
``skipped``, a failed solve with its error; the ladder goes on.  A tiny warm-up solve in
the subprocess comes first (imports, numba's cache, first sparse calls); the peak
includes it (a few MB).

``rel. diff d²`` compares a row's :math:`d^2` with the finest solve of its family (the same
data-generating function: the 1-D demo, or the 2-D bumps) — the solve with the most
cell-steps that the first setting finished; in 1-D this is the discretisation error
against 4,096 x 32 (the families share the data, so :math:`d^2` converges with n); in 2-D
the 16-step rows also carry the time-discretisation error against 32 steps.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from _common import (  # noqa: E402
    header_lines,
    machine_info,
    markdown_table,
    output_dir,
    peak_memory_mb,
    versions,
    write_outputs,
)

LAM_1D, LAM_2D = 0.15, 0.3
BUMP_WIDTH_2D = 0.08
BUMPS_2D = (((0.25, 0.25), 1.0), ((0.45, 0.30), 1.2))  # (centre (w_A, w_B), mass)

FULL = {
    "cases_1d": [(64, 32), (256, 32), (1_024, 32), (4_096, 32)],
    "cases_2d": [(n, steps) for steps in (16, 32) for n in (16, 32, 48, 64)] + [(128, 32)],
    "cvxpy_max_1d": 256,   # the cvxpy backend only up to this many weights (1-D) ...
    "cvxpy_max_2d": 16,    # ... and this many cells per side (2-D)
}
QUICK = {
    "cases_1d": [(16, 4), (32, 8)],
    "cases_2d": [(8, 4)],  # one 2-D size: every subprocess pays ~2.5 s of imports
    "cvxpy_max_1d": 32,
    "cvxpy_max_2d": 8,
}

#: label -> (backend, options of the geodesic call); the first is the reference of the
#: ratios: the default call.  "previous default" is the code before the centred scheme and
#: backend="auto" (the interior point on the staggered power-mean scheme), run side by side.
SETTINGS = {
    "default (auto, centred)": ("auto", {}),
    "previous default (clarabel, power)": ("clarabel", {"scheme": "power"}),
    "clarabel (faer, 1 thread)": ("clarabel", {}),
    "clarabel qdldl": ("clarabel", {"direct_solve_method": "qdldl"}),
    "clarabel faer 2 threads": ("clarabel", {"direct_solve_method": "faer", "max_threads": 2}),
    "cvxpy backend": ("cvxpy", {}),
    "dr (wfr_cvx ADMM)": ("dr", {}),
    "scs (SCS, Douglas-Rachford)": ("scs", {}),
}

GOAL_OPERATORS = 0.5
#: The assembly-share goal is judged on rows at least this long: below it the share
#: measures fixed per-call costs, not assembly's scaling.
SHARE_MIN_TOTAL_S = 1.0


# ---------------------------------------------------------------- one row (subprocess)
def simplex_bump(grid, centre, mass: float) -> np.ndarray:
    r"""Gaussian :math:`\exp(-|x - c|^2 / (2 \cdot 0.08^2))` at the cell centres, zero
    outside ``grid.mask``, scaled to total ``mass``; shape ``grid.shape``."""
    offset = grid.coords - np.asarray(centre)        # (n, n, 2)
    density = np.exp(-(offset**2).sum(-1) / (2.0 * BUMP_WIDTH_2D**2)) * grid.mask[0]
    return (mass * density / density.sum()).reshape(grid.shape)


def build_case(dims: int, n: int, steps: int):
    """``(grid, rho0, rho1, lam)`` of a ladder row."""
    import wfr_cvx
    from wfr_cvx.demo import build

    if dims == 1:
        grid, rho0, rho1 = build(n, steps)
        return grid, rho0, rho1, LAM_1D
    grid = wfr_cvx.Grid.simplex(n, steps)
    (c0, m0), (c1, m1) = BUMPS_2D
    return grid, simplex_bump(grid, c0, m0), simplex_bump(grid, c1, m1), LAM_2D


def run_row(spec: dict) -> dict:
    """Solve one row in this process; the figures and this process's peak memory."""
    import wfr_cvx
    from wfr_cvx.errors import ProblemTooLargeError

    backend, options = spec["backend"], spec["options"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an inaccurate solve shows in `status`
        # warm-up on a tiny problem of the same kind: imports, numba cache, first calls
        grid, rho0, rho1, lam = build_case(spec["dims"], 8 if spec["dims"] == 2 else 16, 4)
        try:
            wfr_cvx.geodesic(rho0, rho1, grid, lam, backend=backend, **options)
        except Exception:  # the measured solve below reports the failure
            pass
        grid, rho0, rho1, lam = build_case(spec["dims"], spec["n"], spec["steps"])
        start = time.perf_counter()
        try:
            geo = wfr_cvx.geodesic(rho0, rho1, grid, lam, backend=backend, **options)
        except ProblemTooLargeError as exc:
            return {"status": "skipped: too large", "error": str(exc)[:200],
                    "peak_mb": peak_memory_mb()}
        except Exception as exc:  # a failed solve is a row, not the end of the ladder
            return {"status": "error", "error": f"{type(exc).__name__}: {str(exc)[:200]}",
                    "total_s": time.perf_counter() - start, "peak_mb": peak_memory_mb()}
        total = time.perf_counter() - start
    return {
        "status": geo.status,
        "iterations": geo.iterations,
        "assembly_s": geo.assembly_time,
        "setup_s": geo.setup_time,
        "solve_s": geo.solve_time,
        "total_s": total,
        "assembly_share": geo.assembly_time / total,
        "distance2": geo.distance2,
        "peak_mb": peak_memory_mb(),
        "active_cells": int(np.count_nonzero(grid.mask)),
    }


# ------------------------------------------------------------------------- the ladder
def available_settings() -> dict:
    """The settings of backends in the registry."""
    from wfr_cvx.backends import AUTO, REGISTRY

    return {label: s for label, s in SETTINGS.items() if s[0] in (AUTO, *REGISTRY)}


def cases(config: dict) -> list[dict]:
    """Ladder rows' problems: ``{"family", "case", "dims", "n", "steps", "cell_steps"}``."""
    import wfr_cvx

    out = [{"family": "1D demo", "case": f"1D {n:,} x 2 x {steps}", "dims": 1, "n": n,
            "steps": steps, "cell_steps": 2 * n * steps} for n, steps in config["cases_1d"]]
    if hasattr(wfr_cvx.Grid, "simplex"):
        # one family per step count: a timeout at 48^2 x 16 must not skip 16^2 x 32
        out += [{"family": f"2D simplex bumps, {steps} steps",
                 "case": f"2D simplex {n}² x {steps}",
                 "dims": 2, "n": n, "steps": steps, "cell_steps": n * n * steps}
                for n, steps in config["cases_2d"]]
    return out


def wanted(setting: tuple, case: dict, config: dict) -> bool:
    backend, _ = setting
    if backend == "cvxpy":
        limit = config["cvxpy_max_1d"] if case["dims"] == 1 else config["cvxpy_max_2d"]
        return case["n"] <= limit
    return True


def run_subprocess(spec: dict, timeout: float) -> dict:
    """Run one row in a fresh interpreter; a timeout or a crash becomes the row's status."""
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--row",
                               json.dumps(spec)], capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "total_s": None, "wall_s": time.perf_counter() - start,
                "error": f"no result within {timeout:g} s"}
    wall = time.perf_counter() - start
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        # a killed process (e.g. out of memory) has a negative return code
        return {"status": f"crashed (exit {proc.returncode})", "error": tail[0][:200],
                "wall_s": wall}
    return {**json.loads(lines[-1]), "wall_s": wall}


def run(config: dict, timeout: float, max_cells: int | None, skip: tuple = ()) -> dict:
    machine = machine_info()  # taken first: its load average is the one before the rows
    settings = available_settings()
    unknown = set(skip) - set(settings)
    if unknown:
        raise SystemExit(f"--skip: unknown setting(s) {sorted(unknown)}; "
                         f"the settings are {list(settings)}")
    settings = {k: v for k, v in settings.items() if k not in skip}
    rows = []
    timed_out: set[tuple[str, str]] = set()  # (family, setting): larger sizes not tried
    for case in cases(config):
        for label, (backend, options) in settings.items():
            if not wanted((backend, options), case, config):
                continue
            row = {**case, "setting": label, "backend": backend, "options": options}
            if (case["family"], label) in timed_out:
                row.update(status="skipped: timed out at a smaller size")
            elif max_cells is not None and case["cell_steps"] > max_cells:
                row.update(status=f"skipped: over --max-cells {max_cells:,}")
            else:
                spec = {k: case[k] for k in ("dims", "n", "steps")}
                row.update(run_subprocess({**spec, "backend": backend, "options": options},
                                          timeout))
                if row["status"] == "timeout":
                    timed_out.add((case["family"], label))
            rows.append(row)
            total = row.get("total_s")
            print(f"{case['case']:<22} {label:<28} {row['status']:<12} "
                  + (f"{total:8.2f} s" if total is not None else "") + (
                      f"  peak {row['peak_mb']:.0f} MB" if "peak_mb" in row else ""),
                  flush=True)
    _compare(rows, list(settings))
    return {
        "machine": machine,
        "versions": versions("wfr_cvx", "clarabel", "cvxpy", "scs", "numpy", "scipy",
                             "numba"),
        "config": {**config, "timeout_s": timeout, "max_cells": max_cells,
                   "skipped_settings": list(skip),
                   "lam_1d": LAM_1D, "lam_2d": LAM_2D, "bumps_2d": BUMPS_2D,
                   "bump_width_2d": BUMP_WIDTH_2D,
                   "settings": {k: list(v) for k, v in settings.items()}},
        "rows": rows,
        "goals": goals(rows, list(settings)[0]),
    }


def _solved(row: dict) -> bool:
    return row.get("status") in ("Solved", "AlmostSolved") and row.get("distance2") is not None


def _compare(rows: list[dict], labels: list[str]) -> None:
    """Ratios to the first setting of the same case; d² against the family's finest."""
    first = labels[0]
    previous = next((label for label in labels if label.startswith("previous")), None)
    for row in rows:
        base = next((r for r in rows if r["case"] == row["case"] and r["setting"] == first
                     and _solved(r)), None)
        row["time_vs_first"] = (row["total_s"] / base["total_s"]
                                if base and _solved(row) else None)
        before = next((r for r in rows if r["case"] == row["case"]
                       and r["setting"] == previous and _solved(r)), None)
        row["d2_vs_previous"] = (row["distance2"] / before["distance2"] - 1.0
                                 if before and _solved(row) else None)
    for family in {r["family"] for r in rows}:
        finished = [r for r in rows if r["family"] == family and r["setting"] == first
                    and _solved(r)]
        if not finished:
            continue
        finest = max(finished, key=lambda r: (r["cell_steps"], r["steps"]))
        for row in rows:
            if row["family"] == family:
                row["finest_case"] = finest["case"]
                row["rel_diff_d2"] = (row["distance2"] / finest["distance2"] - 1.0
                                      if _solved(row) else None)


# ------------------------------------------------------------------------------ goals
def goals(rows: list[dict], first: str) -> list[dict]:
    """The issue's goals: measured value and met / not met, from this run's rows."""
    def best(case: str, peak_mb: float | None = None, setting: str | None = None):
        """Fastest solved row of ``case`` (within ``peak_mb`` when given, of ``setting``
        when given), and the default."""
        found = [r for r in rows if r["case"] == case and _solved(r)
                 and (peak_mb is None or r["peak_mb"] < peak_mb)
                 and (setting is None or r["setting"] == setting)]
        default = next((r for r in rows if r["case"] == case and r["setting"] == first), None)
        return min(found, key=lambda r: r["total_s"]) if found else None, default

    def time_goal(goal: str, case: str, limit: float, peak_mb: float | None = None,
                  setting: str | None = None) -> dict:
        fastest, default = best(case, peak_mb, setting)
        if default is None:
            return {"goal": goal, "measured": "not run", "met": None}
        parts = []
        if _solved(default):
            parts.append(f"{default['total_s']:.2f} s, {default['peak_mb']:.0f} MB (default)")
        else:
            parts.append(f"default: {default['status']}")
        if fastest is not None and fastest is not default:
            parts.append(f"fastest {fastest['total_s']:.2f} s, {fastest['peak_mb']:.0f} MB "
                         f"({fastest['setting']})")
        if fastest is not None:
            met = fastest["total_s"] < limit
        elif any(r["case"] == case and r["status"] == "timeout" for r in rows):
            met = False  # ran out of the (longer) per-row timeout
        elif any(r["case"] == case and _solved(r) for r in rows):
            met = False  # solved, but none within the memory limit
        else:
            met = None  # skipped or failed: not measured
        return {"goal": goal, "measured": "; ".join(parts), "met": met}

    out = [
        time_goal("1D 256 x 2 x 32 < 0.5 s", "1D 256 x 2 x 32", 0.5),
        time_goal("1D 4,096 x 2 x 32 < 10 s and peak < 2 GB", "1D 4,096 x 2 x 32", 10.0,
                  peak_mb=2 * 1024.0),
        time_goal("the default call on 2D simplex 32² x 16 < 2 s", "2D simplex 32² x 16", 2.0,
                  setting=first),
        time_goal("2D simplex 128² x 32 < 60 s and peak < 4 GB", "2D simplex 128² x 32", 60.0,
                  peak_mb=4 * 1024.0),
    ]
    # Assembly is the same code for every Clarabel setting (and for "dr", "scs"): judged on the
    # first setting's rows, so one noisy timing on the shared cores is not counted thrice.
    shares = [r for r in rows if _solved(r) and r["setting"] == first
              and r["total_s"] >= SHARE_MIN_TOTAL_S]
    goal = f"assembly share < 5 % ({first} rows of ≥ {SHARE_MIN_TOTAL_S:g} s)"
    if shares:
        worst = max(shares, key=lambda r: r["assembly_share"])
        out.append({"goal": goal, "measured": f"max {100 * worst['assembly_share']:.1f} % "
                                              f"({worst['case']}, {worst['setting']})",
                    "met": worst["assembly_share"] < 0.05})
    else:
        out.append({"goal": goal, "measured": "no such row", "met": None})
    path = HERE / "operators_results.json"
    if path.exists():
        ops = json.loads(path.read_text())
        low = ops["summary"]["min_numba_vs_copy"]
        out.append({"goal": "operators ≥ 50 % of copy bandwidth",
                    "measured": f"min {100 * low:.0f} %, median "
                                f"{100 * ops['summary']['median_numba_vs_copy']:.0f} % "
                                "(benchmarks/operators_results.json)",
                    "met": low >= GOAL_OPERATORS})
    else:
        out.append({"goal": "operators ≥ 50 % of copy bandwidth",
                    "measured": "no operators_results.json (run bench_operators.py)",
                    "met": None})
    return out


# --------------------------------------------------------------------------- markdown
def _fmt(value, spec: str, missing: str = "—") -> str:
    return missing if value is None else format(value, spec)


def markdown(results: dict) -> list[str]:
    cfg = results["config"]
    labels = list(cfg["settings"])
    lines = header_lines("Solve-time ladder", results, "python benchmarks/bench_ladder.py")
    lines += [
        f"1-D: the demo (`wfr_cvx.demo.build(n, steps)`, 2 regimes, lam = {cfg['lam_1d']}). "
        f"2-D: `Grid.simplex(n, steps)`, a Gaussian bump (width {cfg['bump_width_2d']}) at "
        f"(w_A, w_B) = {cfg['bumps_2d'][0][0]} with mass {cfg['bumps_2d'][0][1]} to one at "
        f"{cfg['bumps_2d'][1][0]} with mass {cfg['bumps_2d'][1][1]}, zero outside the "
        f"simplex, lam = {cfg['lam_2d']}.",
        "",
        "Each row is its own subprocess: `peak MB` is that process's `ru_maxrss` (a tiny "
        "warm-up solve included). `setup s` includes `assembly s`; `total s` is the wall "
        "time of the `geodesic` call. `vs first` is the row's total over the first "
        f"setting's ({labels[0]}) for the same case. `rel. diff d²` is relative to the "
        "finest solve of the same family — the same problem at the largest size the first "
        "setting solved (named in the table's column `finest`): in 1-D the discretisation "
        "error against that size; in 2-D the 16-step rows also carry the time-step error. "
        "`d² vs previous` is the row's d² against the previous default's (the interior "
        "point on the staggered power-mean scheme) for the same case, in the same run. "
        f"Timeout per row: {cfg['timeout_s']:g} s; the cvxpy backend only up to "
        f"{cfg['cvxpy_max_1d']} weights (1-D) and {cfg['cvxpy_max_2d']} per side (2-D)."
        + (f" Settings left out of this run (`--skip`): {', '.join(cfg['skipped_settings'])}."
           if cfg.get("skipped_settings") else ""),
        "",
        "## Goals of the issue",
        "",
    ]
    lines += markdown_table(
        ["goal", "measured", "met"],
        [[g["goal"], g["measured"],
          "—" if g["met"] is None else ("**met**" if g["met"] else "**not met**")]
         for g in results["goals"]])
    lines += ["", "Where a goal is not met, the measured reasons and the levers tried are in "
              "[TUNING.md](TUNING.md) (\"The ladder's speed goals\").", "", "## Rows", ""]
    table = []
    for r in results["rows"]:
        table.append([
            r["case"], r["setting"], r["status"], _fmt(r.get("iterations"), "d"),
            _fmt(r.get("assembly_s"), ".3f"), _fmt(r.get("setup_s"), ".3f"),
            _fmt(r.get("solve_s"), ".3f"), _fmt(r.get("total_s"), ".3f"),
            _fmt(None if r.get("time_vs_first") is None else r["time_vs_first"], ".2f"),
            _fmt(None if r.get("assembly_share") is None else 100 * r["assembly_share"],
                 ".1f") + ("" if r.get("assembly_share") is None else " %"),
            _fmt(r.get("peak_mb"), ".0f"), _fmt(r.get("distance2"), ".6g"),
            _fmt(r.get("rel_diff_d2"), "+.1e"), r.get("finest_case", "—"),
            _fmt(r.get("d2_vs_previous"), "+.1e"),
        ])
    lines += markdown_table(
        ["case", "setting", "status", "iter", "assembly s", "setup s", "solve s", "total s",
         "vs first", "assembly share", "peak MB", "d²", "rel. diff d²", "finest (ref.)",
         "d² vs previous"],
        table)
    errors = [r for r in results["rows"] if r.get("error")]
    if errors:
        lines += ["", "Rows that did not finish:", ""]
        lines += [f"- {r['case']}, {r['setting']}: {r['status']} — "
                  f"{r['error'].replace('|', '/')}" for r in errors]
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes (checks that the script works; writes to a "
                             "scratch directory, not benchmarks/)")
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="seconds per row (subprocess) before it is recorded as a "
                             "timeout (default 900)")
    parser.add_argument("--max-cells", type=int, default=None,
                        help="skip rows with more cell-steps (regimes x cells x steps) "
                             "than this; rows the memory check refuses are skipped anyway")
    parser.add_argument("--out", type=Path, default=None,
                        help="directory for the JSON and markdown (default benchmarks/, "
                             "or a scratch directory with --quick); for partial runs")
    parser.add_argument("--skip", action="append", default=[], metavar="SETTING",
                        help="leave out the setting with this label (repeatable; the first "
                             "setting, the reference of the ratios, cannot be left out)")
    parser.add_argument("--row", help=argparse.SUPPRESS)  # internal: one row, JSON spec
    parser.add_argument("--rewrite", action="store_true",
                        help="re-read ladder_results.json and rewrite LADDER.md (no solves)")
    args = parser.parse_args(argv)
    if args.row:
        print(json.dumps(run_row(json.loads(args.row))), flush=True)
        return
    if list(SETTINGS)[0] in args.skip:
        parser.error("--skip: the first setting is the reference of the ratios")
    out_dir = args.out if args.out is not None else output_dir(args.quick)
    if args.rewrite:
        results = json.loads((out_dir / "ladder_results.json").read_text())
        results["goals"] = goals(results["rows"], list(results["config"]["settings"])[0])
    else:
        results = run(QUICK if args.quick else FULL, args.timeout, args.max_cells,
                      tuple(args.skip))
    out_dir.mkdir(parents=True, exist_ok=True)
    write_outputs(results, out_dir, "ladder_results.json", "LADDER.md", markdown(results))


if __name__ == "__main__":
    main()
