r"""``make demo``: a risk-on -> risk-off rebalancing estimated from the shipped prices.

The grid is the IBM weight ``w`` of a two-asset IBM/WMT portfolio (WMT holds ``1 - w``)
and two market regimes.  Regime parameters come from ``data/ibm_wmt_sehi_monthly.csv``
(12 monthly returns, Dec 2000 - Nov 2001):

* **regimes** — a month is ``risk_on`` when the equal-weight IBM/WMT portfolio gained and
  ``risk_off`` when it lost (5 and 7 months).  This is an in-sample, sign-based
  classification chosen for the demo, not a fitted regime model; with so few months the
  estimates are illustrations, not forecasts;
* **per regime** — the sample mean and covariance of that regime's months and the
  long-only Markowitz weight :math:`w_k` at risk aversion 4
  (:func:`wfr_cvx.finance.markowitz.mean_variance`): about 0.72 IBM risk-on, 0.05 risk-off;
* **today** (``rho0``) — the book sits around the unconditional Markowitz weight of the
  whole sample (about 0.41 IBM) in both regimes, with belief 70 % risk-on / 30 % risk-off;
* **target** (``rho1``) — after a shock the belief is 30 % / 70 %, and each regime's book
  sits around its own :math:`w_k`.

Allocations are Gaussian bumps of width 0.07 in weight (the spread of the books),
truncated to [0, 1] (so the risk-off target's mean weight is 0.08, not 0.05).  The
geodesic splits the move into rebalancing along the weights (transport) and a regime
switch (reaction), and the comparison prices the two traditional two-phase paths
(:func:`wfr_cvx.compare`).

The three-asset section (:func:`build_simplex`) does the same on the simplex of IBM, WMT
and SEHI weights (:meth:`Grid.simplex <wfr_cvx.Grid.simplex>`, 16 x 16 cells, 8 steps):
bumps around the three-asset Markowitz portfolios (unconditional today, per regime in the
target) under the trade-variance metric of annualised returns, drawn as ternary panels
(:func:`wfr_cvx.plots.plot_simplex`) to ``docs/simplex.png``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .comparison import compare
from .engine import geodesic
from .finance.markowitz import estimate, load_prices, mean_variance, returns_from_prices
from .grid import Grid

__all__ = ["build", "build_ensembles", "build_simplex", "comparison_report",
           "ensemble_summary", "regime_weights", "main"]

REGIMES = ("risk_on", "risk_off")
ASSETS = ("IBM", "WMT")
RISK_AVERSION = 4.0
WIDTH = 0.07
BELIEF_BEFORE = (0.7, 0.3)
BELIEF_AFTER = (0.3, 0.7)


def _estimates(prices: pd.DataFrame | None = None) -> dict:
    """The IBM/WMT return estimates ``(mu, cov)``: of the whole sample (``"all"``) and of
    each regime's months (module docstring)."""
    prices = (load_prices() if prices is None else prices)[list(ASSETS)]
    returns = returns_from_prices(prices)
    risk_on = returns.mean(axis=1) > 0
    out = {"all": estimate(prices)}
    for label, months in zip(REGIMES, (returns[risk_on], returns[~risk_on]), strict=True):
        out[label] = (months.mean(), months.cov())
    return out


def regime_weights(prices: pd.DataFrame | None = None,
                   risk_aversion: float = RISK_AVERSION) -> pd.Series:
    """Markowitz IBM weights: unconditional (``"all"``) and per regime (module docstring).

    Parameters
    ----------
    prices : DataFrame, optional
        Prices with ``IBM`` and ``WMT`` columns; the shipped CSV by default.
    risk_aversion : float

    Returns
    -------
    pandas.Series
        Index ``("all", "risk_on", "risk_off")``: the long-only mean-variance weight of IBM.

    >>> regime_weights().round(2).to_dict()
    {'all': 0.41, 'risk_on': 0.72, 'risk_off': 0.05}
    """
    out = {label: mean_variance(mu, cov, risk_aversion=risk_aversion).iloc[0]
           for label, (mu, cov) in _estimates(prices).items()}
    return pd.Series(out, name="IBM weight", dtype=float)


def build(n_weights: int = 128, n_steps: int = 32):
    """The demo's grid and allocations: ``(grid, rho0, rho1)`` (module docstring).

    >>> grid, rho0, rho1 = build(64, 16)
    >>> grid.regimes, rho0.sum(axis=1).round(6).tolist(), rho1.sum(axis=1).round(6).tolist()
    (('risk_on', 'risk_off'), [0.7, 0.3], [0.3, 0.7])
    """
    grid = Grid(n_weights, n_steps, regimes=REGIMES)
    w = regime_weights()
    rho0 = sum(grid.bump(w["all"], WIDTH, label, mass=m)
               for label, m in zip(REGIMES, BELIEF_BEFORE, strict=True))
    rho1 = sum(grid.bump(w[label], WIDTH, label, mass=m)
               for label, m in zip(REGIMES, BELIEF_AFTER, strict=True))
    return grid, rho0, rho1


def _mean_weight(rho: np.ndarray, grid: Grid) -> float:
    mass = rho.sum()
    return float(rho @ grid.weights / mass) if mass > 0 else float("nan")


def summary(geo, table: pd.DataFrame, weights: pd.Series) -> str:
    """The demo's printed report: figures, the path's regimes over time, the comparison."""
    grid = geo.grid
    lines = [
        f"wfr_cvx demo: risk-on -> risk-off on IBM/WMT, {grid!r}, lam = {geo.lam:g}",
        "Markowitz IBM weight (risk aversion 4): "
        + ", ".join(f"{k} {v:.3f}" for k, v in weights.items()),
        f"target books (bumps {WIDTH:g} wide, truncated to [0, 1], which moves their "
        "means inwards): mean IBM weight "
        + ", ".join(f"{label} {_mean_weight(geo.rho[-1, k], grid):.3f}"
                    for k, label in enumerate(grid.regimes)),
        f"status {geo.status}, {geo.iterations} iterations, setup {geo.setup_time:.2f} s, "
        f"solve {geo.solve_time:.2f} s",
        f"d^2 = {geo.distance2:.6f}: transport (rebalancing) {geo.transport_cost:.6f}, "
        f"reaction (regime switch) {geo.reaction_cost:.6f}",
        "",
    ]
    rows = []
    for k in sorted({0, grid.n_steps // 4, grid.n_steps // 2, 3 * grid.n_steps // 4,
                     grid.n_steps}):
        row = {"s": grid.times[k]}
        for j, label in enumerate(grid.regimes):
            row[f"mass {label}"] = geo.rho[k, j].sum()
            row[f"w {label}"] = _mean_weight(geo.rho[k, j], grid)
        rows.append(row)
    lines.append(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    lines += ["", "against the traditional two-phase paths (same discrete action):",
              table[["distance2", "transport_cost", "reaction_cost", "excess_over_geodesic"]]
              .to_string(float_format=lambda v: f"{v:.6f}")]
    return "\n".join(lines)


def comparison_report(n_weights: int = 128, n_steps: int = 32, lams=(0.05, 0.15, 0.5)) -> str:
    """The comparison of the geodesic with the two-phase paths on the demo's problem at
    several ``lam``, with the Markowitz weights of each regime: those the target books of
    :func:`build` sit around (:func:`regime_weights`), from each regime's own months."""
    grid, rho0, rho1 = build(n_weights, n_steps)
    estimates = _estimates()
    lines = [f"WFR geodesic vs traditional paths on {grid!r}"]
    for lam in lams:
        table = compare(rho0, rho1, grid, lam, markowitz=[estimates[r] for r in REGIMES],
                        risk_aversion=RISK_AVERSION)
        saving = 1.0 - table.loc["wfr_geodesic", "distance2"] / table["distance2"].iloc[1:]
        lines += ["", f"lam = {lam:g}", table.to_string(float_format=lambda v: f"{v:.6f}"),
                  "saving of the geodesic: " + ", ".join(
                      f"{path} {100 * value:.1f} %" for path, value in saving.items())]
    lines += ["", "Markowitz weights per regime (risk aversion 4, long only), the target "
                  "books' centres:",
              table.attrs["markowitz"].to_string(float_format=lambda v: f"{v:.4f}")]
    return "\n".join(lines)


ENSEMBLE_ASSETS = ("IBM", "WMT", "SEHI")
SIMPLEX_LAM = 0.15
SIMPLEX_WIDTH = 0.1
#: Months per year: the simplex metric is the trade variance of annualised returns.
MONTHS = 12


def build_simplex(n: int = 16, n_steps: int = 8):
    r"""The three-asset case on the simplex grid: ``(grid, rho0, rho1, G)``.

    Regimes, beliefs and risk aversion as in :func:`build`, with the long-only Markowitz
    portfolio of IBM, WMT and SEHI: today the whole sample's (about 0.42 / 0.30 / 0.28) in
    both regimes, the target each regime's own (risk-on about 0.64 / 0 / 0.36, risk-off
    0 / 0.78 / 0.22, on edges of the triangle, so their bumps are truncated there).  Bumps
    are ``SIMPLEX_WIDTH`` wide.  ``G = 12 P^T \Sigma P``: the variance of the trade's
    annualised return (:func:`wfr_cvx.metric.trade_variance_metric`, ``\Sigma`` the
    monthly covariance).

    >>> grid, rho0, rho1, G = build_simplex(8, 2)
    >>> grid.assets, grid.regimes, rho1.sum(axis=(1, 2)).round(6).tolist()
    (('IBM', 'WMT', 'SEHI'), ('risk_on', 'risk_off'), [0.3, 0.7])
    """
    from .metric import trade_variance_metric

    prices = load_prices()[list(ENSEMBLE_ASSETS)]
    returns = returns_from_prices(prices)
    risk_on = returns[list(ASSETS)].mean(axis=1) > 0  # the regimes of regime_weights
    mu, cov = estimate(prices)
    today = mean_variance(mu, cov, risk_aversion=RISK_AVERSION).to_numpy()
    grid = Grid.simplex(n, n_steps, assets=ENSEMBLE_ASSETS, regimes=REGIMES)
    rho0 = sum(grid.bump(today[:2], SIMPLEX_WIDTH, label, mass=m)
               for label, m in zip(REGIMES, BELIEF_BEFORE, strict=True))
    rho1 = grid.zeros()
    for label, months, m in zip(REGIMES, (returns[risk_on], returns[~risk_on]), BELIEF_AFTER,
                                strict=True):
        target = mean_variance(months.mean(), months.cov(),
                               risk_aversion=RISK_AVERSION).to_numpy()
        rho1 += grid.bump(target[:2], SIMPLEX_WIDTH, label, mass=m)
    return grid, rho0, rho1, MONTHS * trade_variance_metric(cov.to_numpy())


def simplex_summary(geo, seconds: float) -> str:
    """The three-asset section of the demo: the grid and the figures of the solve."""
    return (f"wfr_cvx demo, three assets on the simplex: {geo.grid!r}, lam = {geo.lam:g} "
            f"(trade-variance metric)\n"
            f"status {geo.status}, backend {geo.backend}, {seconds:.2f} s; d^2 = "
            f"{geo.distance2:.6f}: transport {geo.transport_cost:.6f}, reaction "
            f"{geo.reaction_cost:.6f}")
ENSEMBLE_SAMPLES = 16
ENSEMBLE_LAM = 0.05


def build_ensembles(n_samples: int = ENSEMBLE_SAMPLES, seed: int = 0):
    """The demo's books as ensembles of portfolios in IBM, WMT and SEHI: ``(e0, e1, G)``.

    Each regime's book is the set of mean-variance portfolios (risk aversion 4) of
    ``n_samples`` bootstrap resamples of returns (:func:`~wfr_cvx.finance.markowitz.
    resampled_portfolios`): today the whole sample's (belief 70 % risk-on, 30 % risk-off),
    the target each regime's own months (belief 30 % / 70 %), regimes classified by the sign
    of the equal-weight book's return as in :func:`regime_weights`.  ``G`` is the trade
    variance, the covariance of the monthly returns.

    >>> e0, e1, G = build_ensembles(4)
    >>> e0.n_atoms, e1.n_atoms, e0.regime_mass().round(6).to_dict()
    (8, 8, {'risk_on': 0.7, 'risk_off': 0.3})
    """
    from .ensemble import Ensemble
    from .finance.markowitz import resampled_portfolios

    returns = returns_from_prices(load_prices()[list(ENSEMBLE_ASSETS)])
    risk_on = returns.mean(axis=1) > 0
    pooled = resampled_portfolios(returns, n_samples, risk_aversion=RISK_AVERSION, seed=seed)
    by_regime = {label: resampled_portfolios(months, n_samples, risk_aversion=RISK_AVERSION,
                                             seed=seed + 1 + k)
                 for k, (label, months) in enumerate(zip(
                     REGIMES, (returns[risk_on], returns[~risk_on]), strict=True))}

    def ensemble(books, belief):
        frames = [books[label] if isinstance(books, dict) else books for label in REGIMES]
        masses = [np.full(len(frame), m / len(frame)) for frame, m in zip(frames, belief,
                                                                           strict=True)]
        regimes = np.concatenate([[label] * len(frame)
                                  for label, frame in zip(REGIMES, frames, strict=True)])
        return Ensemble(pd.concat(frames, ignore_index=True), np.concatenate(masses), regimes,
                        regimes=REGIMES, domain="simplex")

    return (ensemble(pooled, BELIEF_BEFORE), ensemble(by_regime, BELIEF_AFTER),
            returns.cov().to_numpy())


def ensemble_summary(geo, table) -> str:
    """The ensemble section of the demo: figures, the books' mean weights over the path,
    the comparison with the two-phase paths."""
    lines = [
        f"wfr_cvx demo, ensembles: {geo.n_atoms[0]} -> {geo.n_atoms[1]} resampled Markowitz "
        f"books in {', '.join(geo.assets)}, lam = {geo.lam:g} (trade-variance metric)",
        f"status {geo.status} (certified gap {geo.gap:.1e}), {geo.n_pairs_kept} pairs in "
        f"reach, {geo.iterations} iterations, {geo.solve_time:.2f} s",
        f"d^2 = {geo.distance2:.6g}: transport (rebalancing) {geo.transport_cost:.6g}, "
        f"reaction (regime switch) {geo.reaction_cost:.6g}",
        "",
    ]
    rows = []
    for s in (0.0, 0.25, 0.5, 0.75, 1.0):
        state = geo.at(s)
        row = {"s": s}
        for k, label in enumerate(geo.regimes):
            keep = np.asarray(state.regime) == k
            mass = state.mass[keep]
            row[f"mass {label}"] = mass.sum()
            mean = (mass @ state.weights[keep]) / mass.sum() if mass.sum() > 0 else [np.nan] * 3
            row[f"w_IBM {label}"] = mean[0]
        rows.append(row)
    lines.append(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    lines += ["", "against the traditional two-phase paths (the same exact action):",
              table[["distance2", "transport_cost", "reaction_cost", "excess_over_geodesic"]]
              .to_string(float_format=lambda v: f"{v:.6g}")]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wfr_cvx.demo",
                                     description="risk-on -> risk-off rebalancing on "
                                                 "IBM/WMT (see the module docstring)")
    parser.add_argument("--n-weights", type=int, default=128)
    parser.add_argument("--n-steps", type=int, default=32)
    parser.add_argument("--lam", type=float, default=0.15,
                        help="crossover scale (moves beyond pi*lam teleport)")
    parser.add_argument("--plot", type=Path, default=Path("demo.png"),
                        help="where to write the figure (default ./demo.png)")
    parser.add_argument("--simplex-plot", type=Path, default=Path("docs/simplex.png"),
                        help="where to write the three-asset ternary figure (default "
                             "./docs/simplex.png; its folder is created)")
    parser.add_argument("--no-plot", action="store_true", help="do not write the figures")
    parser.add_argument("--compare", action="store_true",
                        help="print only the comparison with the two-phase paths at lam = "
                             "0.05, 0.15 and 0.5, with each regime's Markowitz weights")
    args = parser.parse_args(argv)
    if args.compare:
        print(comparison_report(args.n_weights, args.n_steps))
        return 0
    start = time.perf_counter()
    grid, rho0, rho1 = build(args.n_weights, args.n_steps)
    geo = geodesic(rho0, rho1, grid, args.lam)
    table = compare(rho0, rho1, grid, args.lam, geodesic=geo)  # reuses the geodesic
    print(summary(geo, table, regime_weights()))
    from .ensemble import compare as compare_ensembles
    from .ensemble import geodesic as ensemble_geodesic

    e0, e1, G = build_ensembles()
    books = ensemble_geodesic(e0, e1, ENSEMBLE_LAM, metric=G)
    print("\n" + ensemble_summary(books, compare_ensembles(
        e0, e1, ENSEMBLE_LAM, metric=G, geodesic_result=books)))
    simplex_start = time.perf_counter()
    s_grid, s0, s1, s_metric = build_simplex()
    three = geodesic(s0, s1, s_grid, SIMPLEX_LAM, metric=s_metric)
    print("\n" + simplex_summary(three, time.perf_counter() - simplex_start))
    if not args.no_plot:
        try:
            from .plots import plot_geodesic

            figure = plot_geodesic(geo, title="risk-on -> risk-off, IBM/WMT "
                                              f"(lam = {args.lam:g})")
            ternary = plot_geodesic(three, figsize=(15, 9),
                                    title="risk-on -> risk-off, IBM/WMT/SEHI on the simplex "
                                          f"(lam = {SIMPLEX_LAM:g})")
        except ImportError as exc:
            print(f"no figure: {exc}", file=sys.stderr)
        else:
            figure.savefig(args.plot, dpi=110)
            print(f"\nfigure written to {args.plot}")
            args.simplex_plot.parent.mkdir(parents=True, exist_ok=True)
            ternary.savefig(args.simplex_plot, dpi=90)
            print(f"ternary figure written to {args.simplex_plot}")
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
