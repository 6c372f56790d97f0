"""Accuracy of :func:`wfr_cvx.analysis.rollout`: the table in its docstring.

Rolls each geodesic's own policy forward from ``rho0`` with every transport scheme and
prints, per grid, the relative L1 error at ``s = 1``, the largest relative error of a
regime's mass, the smallest mass on the path and the observed order between consecutive
refinements (both ``dx`` and ``dt`` halved).  Not part of ``make bench`` (a few minutes:
the 2-D solves dominate); run ``python benchmarks/bench_rollout.py [--no-2d]``.

Problem (as ``tests/test_dynamics.py``): two regimes, bumps of width ``w`` moving 0.15
and 0.1 while 0.4 of the mass switches regime, ``lam = 0.3``; on the simplex the same
with centres ``(0.25, 0.3) -> (0.4, 0.35)`` and ``(0.4, 0.2) -> (0.5, 0.3)``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import wfr_cvx  # noqa: E402
from wfr_cvx import Grid  # noqa: E402
from wfr_cvx.analysis.dynamics import SCHEMES, rollout  # noqa: E402

LINE = [((32, 8), 0.08), ((64, 16), 0.08), ((128, 32), 0.08), ((32, 16), 0.06),
        ((64, 32), 0.06), ((128, 64), 0.06), ((128, 32), 0.06), ((256, 64), 0.06)]
SIMPLEX = [((16, 8), 0.08), ((32, 16), 0.08)]


def regime_shift(n: int, steps: int, width: float):
    g = Grid(n, steps, regimes=2)
    r0 = g.bump(0.3, width, 0, mass=0.8) + g.bump(0.5, width, 1, mass=0.2)
    r1 = g.bump(0.45, width, 0, mass=0.4) + g.bump(0.6, width, 1, mass=0.6)
    return wfr_cvx.geodesic(r0, r1, g, lam=0.3)


def simplex_shift(n: int, steps: int, width: float):
    s = Grid.simplex(n, steps, regimes=2)
    r0 = s.bump((0.25, 0.3), width, 0, mass=0.8) + s.bump((0.4, 0.2), width, 1, mass=0.2)
    r1 = s.bump((0.4, 0.35), width, 0, mass=0.4) + s.bump((0.5, 0.3), width, 1, mass=0.6)
    return wfr_cvx.geodesic(r0, r1, s, lam=0.3)


def errors(geo) -> dict:
    target = geo.rho[-1]
    axes = tuple(range(1, target.ndim))
    out = {}
    for scheme in SCHEMES:
        path = rollout(geo, scheme=scheme)
        regime = path[-1].sum(axis=axes)
        out[scheme] = (float(np.abs(path[-1] - target).sum() / target.sum()),
                       float(np.max(np.abs(regime - target.sum(axis=axes))
                                    / target.sum(axis=axes))),
                       float(path.min()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-2d", action="store_true", help="skip the simplex grids")
    args = parser.parse_args()
    cases = [("1-D", LINE, regime_shift)]
    if not args.no_2d:
        cases.append(("simplex", SIMPLEX, simplex_shift))
    print("| grid | w | " + " | ".join(SCHEMES) + " | regime mass (lax-wendroff) | solve s |")
    print("|---|---|" + "---|" * len(SCHEMES) + "---|---|")
    for label, table, solve in cases:
        previous = {}
        for (n, steps), width in table:
            start = time.perf_counter()
            geo = solve(n, steps, width)
            seconds = time.perf_counter() - start
            result = errors(geo)
            cells = []
            for scheme in SCHEMES:
                error = result[scheme][0]
                order = ""
                before = previous.get((width, scheme))
                if before is not None and before[0] == (n // 2, steps // 2):
                    order = f" (order {math.log2(before[1] / error):.2f})"
                previous[(width, scheme)] = ((n, steps), error)
                cells.append(f"{error:.2e}{order}")
            print(f"| {label} {n} x {steps} | {width} | " + " | ".join(cells)
                  + f" | {result['lax-wendroff'][1]:.1e} | {seconds:.1f} |", flush=True)


if __name__ == "__main__":
    main()
