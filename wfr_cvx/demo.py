"""``make demo``: a two-regime rebalancing solved end to end.

An allocation distribution over the equity weight of a stock/bond portfolio (1-D grid)
and two market regimes.  Today the desk's belief is 70 % risk-on, with allocations spread
around 60 % equity (risk-on) and 35 % equity (risk-off); the target after a shock is 30 %
risk-on around 55 % and 70 % risk-off around 25 %.  The geodesic says how much of the move
is rebalancing along the weights (transport) and how much is a regime switch (reaction).
"""

from __future__ import annotations

import argparse

import numpy as np

from . import Grid, geodesic
from .closed_form import hellinger2


def build(n_weights: int = 128, n_steps: int = 32):
    grid = Grid(n_weights, n_steps, regimes=("risk_on", "risk_off"))
    rho0 = (grid.bump(0.60, 0.05, "risk_on", mass=0.7)
            + grid.bump(0.35, 0.06, "risk_off", mass=0.3))
    rho1 = (grid.bump(0.55, 0.05, "risk_on", mass=0.3)
            + grid.bump(0.25, 0.06, "risk_off", mass=0.7))
    return grid, rho0, rho1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wfr_cvx.demo", description=__doc__)
    parser.add_argument("--n-weights", type=int, default=128)
    parser.add_argument("--n-steps", type=int, default=32)
    parser.add_argument("--lam", type=float, default=0.15,
                        help="crossover scale (moves beyond pi*lam teleport)")
    args = parser.parse_args(argv)
    grid, rho0, rho1 = build(args.n_weights, args.n_steps)
    geo = geodesic(rho0, rho1, grid, args.lam)
    print(f"wfr_cvx demo: {grid!r}, lam = {args.lam:g}")
    print(f"  status {geo.status}, {geo.iterations} iterations, "
          f"setup {geo.setup_time:.2f} s, solve {geo.solve_time:.2f} s")
    print(f"  squared distance  d^2 = {geo.distance2:.6f}   (d = {geo.distance:.6f})")
    print(f"  transport cost        = {geo.transport_cost:.6f}  (rebalancing)")
    print(f"  reaction cost         = {geo.reaction_cost:.6f}  (regime switch)")
    print(f"  pure-reaction bound   = {hellinger2(rho0, rho1, args.lam):.6f}  (4 lam^2 H^2)")
    mass = geo.mass()
    half = grid.n_steps // 2
    print("  mass per regime and mean equity weight:")
    for k in (0, half, grid.n_steps):
        parts = []
        for j, regime in enumerate(grid.regimes):
            m = geo.rho[k, j].sum()
            mean = (geo.rho[k, j] * grid.weights).sum() / m if m > 0 else np.nan
            parts.append(f"{regime} {mass.iloc[k, j]:.4f} (w = {mean:.3f})")
        print(f"    s = {grid.times[k]:.2f}: " + ", ".join(parts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
