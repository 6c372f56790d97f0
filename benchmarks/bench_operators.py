r"""Staggered-grid operators in GB/s: numba kernels vs numpy vs scipy.sparse vs a copy.

Writes ``benchmarks/operators_results.json`` and ``benchmarks/OPERATORS.md``.

Every operator of :mod:`wfr_cvx.operators` reads one array and writes another, so its
speed is bounded by memory traffic; the yardstick is ``np.copyto(out, x)`` on an array of
the operator's larger size.  For each operator and size the run measures

* the numba kernel ``make_*(grid)`` → ``apply(x, out)``;
* the same operator as plain numpy with ``out=`` (no temporaries: the best numpy does),
  e.g. the divergence
  :math:`(\operatorname{div} m)_i = (m_i - m_{i-1}) / \Delta x` as
  ``np.subtract(m[:, 1:], m[:, :-1], out=out[:, 1:-1]); out[:, 1:-1] *= inv_dx`` plus the
  two boundary cells;
* the matvec ``A @ x.ravel()`` of the scipy.sparse twin (CSR; adjoints use ``A.T``
  converted to CSR once, outside the timing);
* ``np.copyto`` of an array as large as the operator's larger side.

Bandwidth = (bytes read + bytes written) / best-of-N wall time, counting each input and
output element once (8 bytes, float64); caches may make small sizes faster than memory.
The issue's goal is an operator at >= 50 % of the copy bandwidth.  Before any timing each
kernel's result must equal (``np.allclose``) the sparse twin's and the numpy expression's.

2-D rows (``wfr_cvx.Grid.simplex``, 2 regimes; cells ``(n, n)``, faces stored padded as
``(2, n, n)``, the padding counted as traffic because it is moved) are added when the
package has that grid; a factory that refuses it is reported under "Not measured"
instead of stopping the run.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import numba  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from _common import (  # noqa: E402
    best_of,
    header_lines,
    machine_info,
    main_quick_or_full,
    markdown_table,
    versions,
)

import wfr_cvx  # noqa: E402
from wfr_cvx import operators as ops  # noqa: E402

N_REGIMES = 2
FULL = {"sizes_1d": ((4_096, 32), (65_536, 32)), "sizes_2d": ((64, 32), (256, 32)),
        "repeats": 20, "min_time": 0.3}
QUICK = {"sizes_1d": ((256, 8), (1_024, 8)), "sizes_2d": ((16, 8),),
         "repeats": 5, "min_time": 0.02}
GOAL = 0.5  # fraction of the copy bandwidth


@dataclass
class Operator:
    """One operator on one grid: shapes, kernel, sparse twin, numpy expression."""

    name: str
    in_shape: tuple
    out_shape: tuple
    kernel: object           # apply(x, out)
    matrix: sp.csr_matrix    # acts on x.ravel()
    numpy: object            # f(x, out), the same operator in numpy


# ------------------------------------------------------------------ numpy references
def _np_divergence(inv_dx):
    def f(m, out):
        out[:, 0] = m[:, 0] * inv_dx
        np.subtract(m[:, 1:], m[:, :-1], out=out[:, 1:-1])
        out[:, 1:-1] *= inv_dx
        out[:, -1] = m[:, -1] * -inv_dx
    return f


def _np_divergence_adjoint(inv_dx):
    def f(c, out):
        np.subtract(c[:, :-1], c[:, 1:], out=out)
        out *= inv_dx
    return f


def _np_face_average(c, out):
    np.add(c[:, :-1], c[:, 1:], out=out)
    out *= 0.5


def _np_face_average_adjoint(m, out):
    out[:, 0] = 0.5 * m[:, 0]
    np.add(m[:, :-1], m[:, 1:], out=out[:, 1:-1])
    out[:, 1:-1] *= 0.5
    out[:, -1] = 0.5 * m[:, -1]


def _np_time(a, b):
    """``out[k] = a * levels[k] + b * levels[k + 1]`` (a = -b: scaled difference)."""
    def f(levels, out):
        if a == -b:
            np.subtract(levels[1:], levels[:-1], out=out)
            out *= b
        else:
            np.add(levels[1:], levels[:-1], out=out)
            out *= a
    return f


def _np_time_adjoint(a, b):
    """``out[0] = a s[0]``, ``out[k] = b s[k-1] + a s[k]``, ``out[T] = b s[T-1]`` (a = ±b)."""
    def f(steps, out):
        np.multiply(steps[0], a, out=out[0])
        np.multiply(steps[-1], b, out=out[-1])
        if a == -b:
            np.subtract(steps[:-1], steps[1:], out=out[1:-1])
            out[1:-1] *= b
        else:
            np.add(steps[:-1], steps[1:], out=out[1:-1])
            out[1:-1] *= a
    return f


def _np_divergence_2d(inv_dx):
    """Cells ``(b, n, n)`` from padded faces ``(b, 2, n, n)`` (the padding is not read)."""
    def f(m, out):
        out.fill(0.0)
        along0, along1 = m[:, 0, :-1, :], m[:, 1, :, :-1]
        out[:, :-1, :] += along0
        out[:, 1:, :] -= along0
        out[:, :, :-1] += along1
        out[:, :, 1:] -= along1
        out *= inv_dx
    return f


def _np_face_average_adjoint_2d(m, out):
    out.fill(0.0)
    along0, along1 = m[:, 0, :-1, :], m[:, 1, :, :-1]
    out[:, :-1, :] += along0
    out[:, 1:, :] += along0
    out[:, :, :-1] += along1
    out[:, :, 1:] += along1
    out *= 0.5


def _np_cell_pairs_2d(combine, factor):
    """Padded faces ``(b, 2, n, n)`` from cells: ``factor * combine(lower, upper)``, 0 pad."""
    def f(c, out):
        combine(c[:, :-1, :], c[:, 1:, :], out=out[:, 0, :-1, :])
        combine(c[:, :, :-1], c[:, :, 1:], out=out[:, 1, :, :-1])
        out[:, 0, -1, :] = 0.0
        out[:, 1, :, -1] = 0.0
        out *= factor
    return f


# ------------------------------------------------------------------------- operators
def build_operators(grid) -> list[Operator]:
    """The eight operators on ``grid`` (1-D or 2-D), batch = steps x regimes.

    Weight-axis operators act on ``(steps x regimes, *cell)`` and ``(steps x regimes,
    *face)`` arrays, time operators on ``(levels or steps, regimes, *cell)``; ``cell``
    and ``face`` are one regime's trailing shapes (``(n,)``, ``(n - 1,)`` in 1-D;
    ``(n, n)``, padded ``(2, n, n)`` in 2-D).
    """
    dims = getattr(grid, "dims", 1)  # the 1-D-only package has no `dims`
    cell = tuple(getattr(grid, "cell_shape", (grid.n_weights,)))
    face = tuple(grid.face_shape[1:])
    n_steps, n_regimes = grid.n_steps, grid.n_regimes
    batch = n_steps * n_regimes
    cells, faces = (batch, *cell), (batch, *face)
    levels, steps = (n_steps + 1, n_regimes, *cell), (n_steps, n_regimes, *cell)
    inv_dx, inv_dt = 1.0 / grid.dx, 1.0 / grid.dt
    if dims == 1:
        numpy_ops = (_np_divergence(inv_dx), _np_divergence_adjoint(inv_dx),
                     _np_face_average, _np_face_average_adjoint)
    else:
        numpy_ops = (_np_divergence_2d(inv_dx), _np_cell_pairs_2d(np.subtract, inv_dx),
                     _np_cell_pairs_2d(np.add, 0.5), _np_face_average_adjoint_2d)
    np_div, np_div_adj, np_avg, np_avg_adj = numpy_ops
    div = ops.divergence_matrix(grid, batch)
    avg = ops.face_average_matrix(grid, batch)
    tdiff = ops.time_difference_matrix(grid)
    tavg = ops.time_average_matrix(grid)
    return [
        Operator("divergence", faces, cells, ops.make_divergence(grid), div, np_div),
        Operator("divergence adjoint", cells, faces, ops.make_divergence_adjoint(grid),
                 div.T.tocsr(), np_div_adj),
        Operator("face average", cells, faces, ops.make_face_average(grid), avg, np_avg),
        Operator("face average adjoint", faces, cells, ops.make_face_average_adjoint(grid),
                 avg.T.tocsr(), np_avg_adj),
        Operator("time difference", levels, steps, ops.make_time_difference(grid), tdiff,
                 _np_time(-inv_dt, inv_dt)),
        Operator("time difference adjoint", steps, levels,
                 ops.make_time_difference_adjoint(grid), tdiff.T.tocsr(),
                 _np_time_adjoint(-inv_dt, inv_dt)),
        Operator("time average", levels, steps, ops.make_time_average(grid), tavg,
                 _np_time(0.5, 0.5)),
        Operator("time average adjoint", steps, levels, ops.make_time_average_adjoint(grid),
                 tavg.T.tocsr(), _np_time_adjoint(0.5, 0.5)),
    ]


# --------------------------------------------------------------------------- timing
def measure(op: Operator, label: str, config: dict, copy_cache: dict) -> dict:
    """Check the three implementations agree, then time each and the copy reference."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(op.in_shape)
    out = np.empty(op.out_shape)
    op.kernel(x, out)
    reference = op.matrix @ x.ravel()
    agree = bool(np.allclose(out.ravel(), reference, rtol=1e-12, atol=1e-9))
    out_np = np.empty(op.out_shape)
    op.numpy(x, out_np)
    agree = agree and bool(np.allclose(out_np.ravel(), reference, rtol=1e-12, atol=1e-9))
    if not agree:
        raise AssertionError(f"{label} {op.name}: kernel, numpy and sparse twin differ")

    traffic = x.nbytes + out.nbytes
    larger = max(x.size, out.size)
    if larger not in copy_cache:
        src, dst = rng.standard_normal(larger), np.empty(larger)
        t_copy = best_of(lambda: np.copyto(dst, src), config["repeats"], config["min_time"])
        copy_cache[larger] = 2 * src.nbytes / t_copy / 1e9
    copy_gbs = copy_cache[larger]

    times = {"numba": best_of(lambda: op.kernel(x, out), config["repeats"], config["min_time"]),
             "scipy.sparse": best_of(lambda: op.matrix @ x.ravel(), config["repeats"],
                                     config["min_time"]),
             "numpy": best_of(lambda: op.numpy(x, out), config["repeats"], config["min_time"])}
    row = {"grid": label, "operator": op.name, "in_shape": list(op.in_shape),
           "out_shape": list(op.out_shape), "bytes": traffic, "copy_gb_s": copy_gbs,
           "agree": agree}
    for impl in ("numba", "numpy", "scipy.sparse"):
        row[f"{impl}_s"] = times[impl]
        row[f"{impl}_gb_s"] = traffic / times[impl] / 1e9
        row[f"{impl}_vs_copy"] = row[f"{impl}_gb_s"] / copy_gbs
    print(f"{label:<22} {op.name:<24} numba {row['numba_gb_s']:6.2f} GB/s "
          f"({100 * row['numba_vs_copy']:5.1f} % of copy {copy_gbs:.2f})", flush=True)
    return row


def run(config: dict) -> dict:
    rows, failures = [], []
    machine = machine_info()  # taken first: its load average is the one before the rows
    for n, n_steps in config["sizes_1d"]:
        label = f"1D {n:,} x {N_REGIMES} x {n_steps}"
        copy_cache: dict = {}
        grid = wfr_cvx.Grid(n, n_steps, regimes=N_REGIMES)
        rows += [measure(op, label, config, copy_cache) for op in build_operators(grid)]
    if hasattr(wfr_cvx.Grid, "simplex"):
        for n, n_steps in config["sizes_2d"]:
            label = f"2D simplex {n}² x {n_steps}"
            copy_cache = {}
            try:
                built = build_operators(wfr_cvx.Grid.simplex(n, n_steps, regimes=N_REGIMES))
            except Exception as exc:  # the 2-D API is new: report a mismatch, do not stop
                built = []
                failures.append({"grid": label, "operator": "all",
                                 "error": f"{type(exc).__name__}: {str(exc)[:100]}"})
            for op in built:
                try:
                    rows.append(measure(op, label, config, copy_cache))
                except Exception as exc:  # shapes guessed wrong, or a wrong kernel
                    failures.append({"grid": label, "operator": op.name,
                                     "error": f"{type(exc).__name__}: {str(exc)[:100]}"})
    else:
        failures.append({"grid": "2D simplex", "operator": "all",
                         "error": "wfr_cvx.Grid has no `simplex` yet"})
    numba_ratios = [r["numba_vs_copy"] for r in rows]
    return {
        "machine": machine,
        "versions": versions("wfr_cvx", "numba", "numpy", "scipy"),
        "config": {**config, "n_regimes": N_REGIMES, "goal_fraction_of_copy": GOAL,
                   "numba_threading_layer": "serial kernels (njit, no parallel)",
                   "numba_num_threads": numba.config.NUMBA_NUM_THREADS},
        "rows": rows,
        "skipped": failures,
        "summary": {"min_numba_vs_copy": min(numba_ratios),
                    "median_numba_vs_copy": float(np.median(numba_ratios)),
                    "goal_met": bool(min(numba_ratios) >= GOAL)},
    }


def markdown(results: dict) -> list[str]:
    s = results["summary"]
    lines = header_lines("Staggered operators: bandwidth", results,
                         "python benchmarks/bench_operators.py")
    lines += [
        "GB/s = (bytes read + bytes written) / best-of-N time (each float64 element of the "
        "input and of the output counted once); `% copy` is that over `np.copyto`'s "
        "bandwidth on an array as large as the operator's larger side, measured in the "
        "same run. numpy is the same operator written with `out=` (no temporaries); "
        "scipy.sparse is the CSR twin's matvec (it allocates its result). All three "
        "agreed (`np.allclose`) before timing. Batches: 1-D arrays are "
        "(steps x regimes, weights) for the weight-axis operators and "
        "(levels, regimes, weights) for the time operators.",
        "",
        f"Goal (issue): every operator ≥ {100 * GOAL:.0f} % of copy bandwidth — "
        f"numba minimum {100 * s['min_numba_vs_copy']:.0f} %, median "
        f"{100 * s['median_numba_vs_copy']:.0f} %: "
        f"**{'met' if s['goal_met'] else 'not met'}**.",
        "",
    ]

    def cell(r, impl):
        return f"{r[f'{impl}_gb_s']:.2f} ({100 * r[f'{impl}_vs_copy']:.0f} %)"

    lines += markdown_table(
        ["grid", "operator", "numba GB/s (% copy)", "numpy GB/s (% copy)",
         "scipy.sparse GB/s (% copy)", "copy GB/s", "numba µs"],
        [[r["grid"], r["operator"], cell(r, "numba"), cell(r, "numpy"),
          cell(r, "scipy.sparse"), f"{r['copy_gb_s']:.2f}", f"{1e6 * r['numba_s']:.0f}"]
         for r in results["rows"]])
    if results["skipped"]:
        lines += ["", "Not measured:", ""]
        lines += [f"- {f['grid']}, {f['operator']}: {f['error']}" for f in results["skipped"]]
    return lines


def main(argv=None) -> None:
    main_quick_or_full(__doc__, run, QUICK, FULL, "operators_results.json", "OPERATORS.md",
                       markdown, argv)


if __name__ == "__main__":
    main()
