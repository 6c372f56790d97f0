"""Figures of a solved path and of the efficient frontier (matplotlib, optional).

matplotlib is an optional extra (``pip install wfr_cvx[plot]``), imported lazily.  The
functions build :class:`matplotlib.figure.Figure` objects directly, without pyplot: no
global state, no display needed, and ``figure.savefig("out.png")`` works anywhere.
"""

from __future__ import annotations

import numpy as np

__all__ = ["plot_geodesic", "plot_frontier"]


def _new_figure(figsize):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            "plotting needs matplotlib, an optional extra: pip install 'wfr_cvx[plot]'"
        ) from None
    return Figure(figsize=figsize, layout="constrained")


def plot_geodesic(geo, *, title: str | None = None, cmap: str = "viridis", figsize=None):
    """A figure of a geodesic: where the mass is, which regime holds it, what it costs.

    * top row, one panel per regime: a heat map of the mass density ``rho / dx`` over
      (path time ``s``, weight ``w``), on the time levels and cell centres;
    * bottom left: the mass of each regime over ``s``;
    * bottom right: the transport and reaction cost of each step (they sum to
      ``distance2``).

    Parameters
    ----------
    geo : Geodesic
    title : str, optional
        Figure title; by default the squared distance and its split.
    cmap : str
        Colour map of the heat maps (one colour scale shared by all regimes).
    figsize : (float, float), optional

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ImportError
        matplotlib is not installed (the message names the extra).
    """
    grid = geo.grid
    grid.require_1d("plot_geodesic")
    K = grid.n_regimes
    fig = _new_figure(figsize or (max(8.0, 3.6 * K), 6.5))
    grid_spec = fig.add_gridspec(2, 2 * K)
    density = np.asarray(geo.rho) / grid.dx
    vmax = float(density.max()) if density.size and density.max() > 0 else 1.0
    edges_t = np.concatenate([[0.0], 0.5 * (geo.times[:-1] + geo.times[1:]), [1.0]])
    edges_w = np.arange(grid.n_weights + 1) * grid.dx
    image = None
    for k, label in enumerate(grid.regimes):
        ax = fig.add_subplot(grid_spec[0, 2 * k:2 * k + 2])
        image = ax.pcolormesh(edges_t, edges_w, density[:, k, :].T, cmap=cmap, vmin=0.0,
                              vmax=vmax, shading="flat")
        ax.set_title(f"regime {label}")
        ax.set_xlabel("path time s")
        ax.set_ylabel("weight w")
    if image is not None:
        fig.colorbar(image, ax=fig.axes[:K], label="mass density rho / dx")

    ax_mass = fig.add_subplot(grid_spec[1, :K])
    mass = np.asarray(geo.rho).sum(axis=2)
    for k, label in enumerate(grid.regimes):
        ax_mass.plot(geo.times, mass[:, k], marker=".", label=str(label))
    ax_mass.plot(geo.times, mass.sum(axis=1), color="0.4", linestyle="--", label="total")
    ax_mass.set_title("mass per regime")
    ax_mass.set_xlabel("path time s")
    ax_mass.set_ylabel("mass")
    ax_mass.legend(loc="best", fontsize="small")

    ax_cost = fig.add_subplot(grid_spec[1, K:])
    steps = (np.arange(grid.n_steps) + 0.5) * grid.dt
    ax_cost.step(steps, geo.transport_per_step, where="mid",
                 label=f"transport ({geo.transport_cost:.4g})")
    ax_cost.step(steps, geo.reaction_per_step, where="mid",
                 label=f"reaction ({geo.reaction_cost:.4g})")
    ax_cost.set_title("cost per step")
    ax_cost.set_xlabel("path time s")
    ax_cost.set_ylabel("cost")
    ax_cost.set_xlim(0.0, 1.0)
    ax_cost.legend(loc="best", fontsize="small")

    fig.suptitle(title if title is not None else
                 f"WFR geodesic: d² = {geo.distance2:.5g} (lam = {geo.lam:g}, "
                 f"{grid.n_weights} cells x {grid.n_steps} steps)")
    return fig


# -- the frontier ------------------------------------------------------------------------
def plot_frontier(frontier, *, title: str | None = None, figsize=None, mu=None, cov=None):
    """The efficient frontier and its weights (output of
    :func:`wfr_cvx.finance.markowitz.efficient_frontier`).

    Left: expected return against volatility, with each asset alone and the
    minimum-variance portfolio (the frontier's point of least variance) marked.  Right:
    the weight of each asset along the frontier (stacked), against the achieved return.

    Parameters
    ----------
    frontier : pandas.DataFrame
        Columns ``return``, ``volatility`` and one column of weights per asset (any
        column that is not ``target_return``, ``return``, ``variance`` or
        ``volatility``).
    title : str, optional
    figsize : (float, float), optional
    mu, cov : pandas.Series and DataFrame, optional
        The expected returns and covariance of the assets, for their points; by default
        ``frontier.attrs["asset_return"]`` and ``["asset_volatility"]`` (which
        :func:`~wfr_cvx.finance.markowitz.efficient_frontier` writes).  Without either
        the assets are not marked.

    Returns
    -------
    matplotlib.figure.Figure
    """
    missing = [c for c in ("return", "volatility") if c not in frontier.columns]
    if missing:
        raise ValueError(f"`frontier` needs the columns {missing} "
                         "(output of markowitz.efficient_frontier)")
    assets = [c for c in frontier.columns
              if c not in ("target_return", "return", "variance", "volatility")]
    points = _asset_points(frontier, mu, cov)
    fig = _new_figure(figsize or (10.0, 4.2))
    ax_front, ax_weights = fig.subplots(1, 2)
    ax_front.plot(frontier["volatility"], frontier["return"], marker=".", label="frontier")
    if len(frontier):
        least = int(np.argmin(frontier["volatility"].to_numpy(dtype=float)))
        ax_front.plot(frontier["volatility"].iloc[least], frontier["return"].iloc[least],
                      "*", markersize=12, color="C3", label="minimum variance")
    if points:
        vol, ret = zip(*points.values(), strict=True)
        ax_front.plot(vol, ret, "o", color="0.3", label="assets")
        for name, (v, r) in points.items():
            ax_front.annotate(str(name), (v, r), textcoords="offset points", xytext=(5, 3),
                              fontsize="small")
    ax_front.set_xlabel("volatility (per period)")
    ax_front.set_ylabel("expected return (per period)")
    ax_front.set_title("efficient frontier")
    ax_front.legend(loc="lower right", fontsize="small")
    if assets:
        ret = frontier["return"].to_numpy(dtype=float)
        order = np.argsort(ret, kind="stable")
        ax_weights.stackplot(ret[order], frontier[assets].to_numpy(dtype=float)[order].T,
                             labels=[str(a) for a in assets])
        ax_weights.legend(loc="best", fontsize="small")
    ax_weights.set_xlabel("expected return (per period)")
    ax_weights.set_ylabel("weight")
    ax_weights.set_title("weights along the frontier")
    fig.suptitle(title if title is not None else
                 f"Markowitz frontier, {len(frontier)} points")
    return fig


def _asset_points(frontier, mu, cov) -> dict:
    """``{asset: (volatility, expected return)}`` of each asset alone."""
    if (mu is None) != (cov is None):
        raise ValueError("give both `mu` and `cov` (the assets' points), or neither")
    if mu is not None:
        import pandas as pd

        mu = pd.Series(mu)
        variances = np.diag(np.asarray(cov, dtype=float))
        if variances.size != mu.size:
            raise ValueError(f"`cov` must be {mu.size} x {mu.size} like `mu`, got "
                             f"{np.shape(cov)}")
        return {name: (float(np.sqrt(max(var, 0.0))), float(r))
                for name, var, r in zip(mu.index, variances, mu.to_numpy(dtype=float),
                                        strict=True)}
    returns = frontier.attrs.get("asset_return")
    volatility = frontier.attrs.get("asset_volatility")
    if not returns or not volatility:
        return {}
    return {name: (float(volatility[name]), float(returns[name])) for name in returns
            if name in volatility}
