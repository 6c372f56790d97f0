r"""Figures of a solved path, of an ensemble path and of the efficient frontier.

matplotlib is an optional extra (``pip install wfr_cvx[plot]``), imported lazily.  The
functions build :class:`matplotlib.figure.Figure` objects directly, without pyplot: no
global state, no display needed, and ``figure.savefig("out.png")`` works anywhere.

* :func:`plot_geodesic` -- a grid geodesic: heat maps over (path time, weight) on a 1-D
  grid; on the three-asset simplex grid it draws :func:`plot_simplex`, on any other grid
  with two weight axes the same panels as square maps over ``(w_A, w_B)``.
* :func:`plot_simplex` -- a simplex geodesic on ternary panels.
* :func:`plot_ensemble` -- an ensemble geodesic: atoms as points sized by mass.
* :func:`plot_frontier` -- the Markowitz frontier, its assets and its minimum-variance point.

Ternary panels are drawn by hand through the affine map of the weights of three assets
:math:`(w_A, w_B, w_C = 1 - w_A - w_B)` to the plane,

.. math::  x = w_A + \tfrac12 w_B, \qquad y = \tfrac{\sqrt3}{2} w_B,

which sends the corners :math:`A, B, C` (all weight in one asset) to :math:`(1, 0)`,
:math:`(\tfrac12, \tfrac{\sqrt3}{2})` and :math:`(0, 0)`: an equilateral triangle on which
a point's distance to the side opposite a corner is that asset's weight.  A square cell
of the simplex grid is a parallelogram there; cells whose centre lies in the simplex are
drawn and clipped to the triangle.  A grid with two weight axes is on the simplex when
none of its active cells has its centre beyond it (``w_A + w_B > 1``), as
:meth:`~wfr_cvx.Grid.simplex` builds it; any other (e.g. ``Grid(n, T, dims=2)``, the
square of weights) is drawn on the square, where no mass is hidden.
"""

from __future__ import annotations

import numbers

import numpy as np

from .grid import _on_simplex

__all__ = ["plot_geodesic", "plot_simplex", "plot_ensemble", "plot_frontier",
           "DEFAULT_TIMES", "ternary_xy", "on_simplex"]

#: Path times of the panels of :func:`plot_simplex` and :func:`plot_ensemble` by default.
DEFAULT_TIMES = (0.0, 0.25, 0.5, 0.75, 1.0)

_HEIGHT = np.sqrt(3.0) / 2.0
_CORNERS = np.array([[1.0, 0.0], [0.5, _HEIGHT], [0.0, 0.0]])  # A, B, C


def _new_figure(figsize):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            "plotting needs matplotlib, an optional extra: pip install 'wfr_cvx[plot]'"
        ) from None
    return Figure(figsize=figsize, layout="constrained")


def ternary_xy(w_a, w_b) -> tuple[np.ndarray, np.ndarray]:
    r"""Plane coordinates of the weights ``(w_A, w_B)`` of three assets (module docstring):
    ``x = w_A + w_B / 2``, ``y = w_B sqrt(3) / 2``.

    >>> x, y = ternary_xy([1.0, 0.0, 0.0], [0.0, 1.0, 0.0])   # the corners A, B, C
    >>> x.tolist(), y.round(4).tolist()
    ([1.0, 0.5, 0.0], [0.0, 0.866, 0.0])
    """
    w_a, w_b = np.asarray(w_a, dtype=float), np.asarray(w_b, dtype=float)
    return w_a + 0.5 * w_b, _HEIGHT * w_b


def _path_times(times) -> np.ndarray:
    """``times`` validated: a non-empty sequence of path times in [0, 1]."""
    if times is None:
        return np.array(DEFAULT_TIMES)
    values = np.atleast_1d(np.asarray(times, dtype=object))
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"`times` must be a non-empty sequence of path times in [0, 1], "
                         f"got {times!r}")
    out = []
    for value in values.tolist():
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
                0.0 <= float(value) <= 1.0):
            raise ValueError(f"`times` must hold path times in [0, 1], got {value!r}")
        out.append(float(value))
    return np.array(out)


def _triangle(ax, assets, *, grid_lines: bool = True) -> None:
    """A ternary frame on ``ax``: the triangle, faint lines of constant weight at 1/4,
    1/2 and 3/4, each corner labelled with its asset."""
    ax.set_aspect("equal")
    ax.set_xlim(-0.12, 1.12)
    ax.set_ylim(-0.1, _HEIGHT + 0.1)
    ax.axis("off")
    if grid_lines:
        for level in (0.25, 0.5, 0.75):
            for corner in range(3):  # the line where asset `corner` weighs `level`
                others = [c for c in range(3) if c != corner]
                ends = [level * _CORNERS[corner] + (1.0 - level) * _CORNERS[o] for o in others]
                ax.plot(*np.array(ends).T, color="0.85", linewidth=0.5, zorder=0)
    ax.plot(*np.vstack([_CORNERS, _CORNERS[:1]]).T, color="0.2", linewidth=0.8)
    offsets = [(0.0, -0.055, "center", "top"), (0.0, 0.03, "center", "bottom"),
               (0.0, -0.055, "center", "top")]
    for (x, y), label, (dx, dy, ha, va) in zip(_CORNERS, assets, offsets, strict=True):
        ax.text(x + dx, y + dy, str(label), ha=ha, va=va, fontsize="small")


def _clip_to_triangle(ax, artist) -> None:
    from matplotlib.patches import Polygon

    patch = Polygon(_CORNERS, closed=True, transform=ax.transData, facecolor="none",
                    edgecolor="none")
    artist.set_clip_path(patch)


def _mass_panel(ax, times, mass, regimes) -> None:
    """Mass per regime (columns of ``mass``) over the path, and the total."""
    for k, label in enumerate(regimes):
        ax.plot(times, mass[:, k], marker=".", label=str(label))
    ax.plot(times, mass.sum(axis=1), color="0.4", linestyle="--", label="total")
    ax.set_title("mass per regime")
    ax.set_xlabel("path time s")
    ax.set_ylabel("mass")
    ax.legend(loc="best", fontsize="small")


def _cost_panel(ax, geo) -> None:
    """Transport and reaction cost of each step (they sum to ``distance2``)."""
    # one flat segment per step, over the whole step [k dt, (k + 1) dt]
    edges = np.linspace(0.0, 1.0, geo.grid.n_steps + 1)
    ax.stairs(geo.transport_per_step, edges, label=f"transport ({geo.transport_cost:.4g})")
    ax.stairs(geo.reaction_per_step, edges, label=f"reaction ({geo.reaction_cost:.4g})")
    ax.set_title("cost per step")
    ax.set_xlabel("path time s")
    ax.set_ylabel("cost")
    ax.set_xlim(0.0, 1.0)
    ax.legend(loc="best", fontsize="small")


def _check_geodesic(geo, name: str = "geo"):
    from .result import Geodesic

    if not isinstance(geo, Geodesic):
        raise TypeError(f"`{name}` must be a wfr_cvx.Geodesic, got {type(geo).__name__}")


def plot_geodesic(geo, *, title: str | None = None, cmap: str = "viridis", figsize=None,
                  times=None):
    """A figure of a geodesic: where the mass is, which regime holds it, what it costs.

    On a 1-D grid:

    * top row, one panel per regime: a heat map of the mass density ``rho / dx`` over
      (path time ``s``, weight ``w``), on the time levels and cell centres; the weight
      axis reads ``weight of <asset>`` with the first of ``grid.assets`` when given;
    * bottom left: the mass of each regime over ``s``;
    * bottom right: the transport and reaction cost of each step (they sum to
      ``distance2``).

    On the three-asset simplex grid (``grid.dims == 2``, active cells inside the simplex)
    the figure of :func:`plot_simplex`, at ``times``.  On any other grid with two weight
    axes the same layout on the square of weights: one row per regime, one panel per time
    of ``times``, each a map of the mass density ``rho / dx^2`` over ``(w_A, w_B)`` in
    ``[0, 1]^2`` (axes named by the first two of ``grid.assets``; inactive cells left
    blank), and a bottom row with the path of each regime's mean ``(w_A, w_B)`` in the
    square, the mass of each regime and the cost of each step.

    Parameters
    ----------
    geo : Geodesic
    title : str, optional
        Figure title; by default the squared distance and its split.
    cmap : str
        Colour map of the heat maps (one colour scale shared by all regimes).
    figsize : (float, float), optional
    times : sequence of float, optional
        Grids with two weight axes only: the path times of the panels
        (:data:`DEFAULT_TIMES` by default).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ImportError
        matplotlib is not installed (the message names the extra).
    """
    _check_geodesic(geo)
    grid = geo.grid
    if grid.dims == 2:
        return _plot_two_axes(geo, times=times, title=title, cmap=cmap, figsize=figsize,
                              ternary=on_simplex(grid))
    if times is not None:
        raise ValueError("`times` chooses the panels of a figure on two weight axes; a 1-D "
                         "figure shows every time level")
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
        ax.set_ylabel(f"weight of {grid.assets[0]}" if grid.assets else "weight w")
    if image is not None:
        fig.colorbar(image, ax=fig.axes[:K], label="mass density rho / dx")
    _mass_panel(fig.add_subplot(grid_spec[1, :K]), geo.times,
                np.asarray(geo.rho).sum(axis=2), grid.regimes)
    _cost_panel(fig.add_subplot(grid_spec[1, K:]), geo)
    fig.suptitle(title if title is not None else
                 f"WFR geodesic: d² = {geo.distance2:.5g} (lam = {geo.lam:g}, "
                 f"{grid.n_weights} cells x {grid.n_steps} steps)")
    return fig


def plot_simplex(geo, *, times=None, title: str | None = None, cmap: str = "viridis",
                 figsize=None):
    r"""A figure of a geodesic on the three-asset simplex grid (:meth:`Grid.simplex`).

    * one row per regime, one ternary panel per path time of ``times``: the mass density
      ``rho / dx^2`` over the triangle of weights, each corner labelled with its asset
      (``grid.assets``), one colour scale for all panels; a time is shown at the nearest
      level ``round(s * n_steps)``;
    * bottom row: the path of each regime's mean weight on the triangle (from ``o`` at
      ``s = 0`` to ``x`` at ``s = 1``), the mass of each regime over ``s`` and the
      transport and reaction cost of each step.

    Parameters
    ----------
    geo : Geodesic
        Solved on a grid with two weight axes.
    times : sequence of float in [0, 1], optional
        Default start, 1/4, 1/2, 3/4 and end (:data:`DEFAULT_TIMES`).
    title : str, optional
    cmap : str
    figsize : (float, float), optional

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        ``geo`` is on a 1-D grid or on a 2-D grid with active cells beyond the simplex
        (:func:`plot_geodesic` draws it on the square), or a time outside [0, 1].
    ImportError
        matplotlib is not installed (the message names the extra).

    >>> import matplotlib; matplotlib.use("Agg")
    >>> import wfr_cvx
    >>> s = wfr_cvx.Grid.simplex(8, 4, assets=("IBM", "WMT", "SEHI"))
    >>> geo = wfr_cvx.geodesic(s.bump((0.2, 0.3), 0.1), s.bump((0.5, 0.2), 0.1), s, 0.3)
    >>> fig = plot_simplex(geo, times=[0, 0.5, 1])
    >>> [ax.get_title() for ax in fig.axes[:3]]
    ['regime 0, s = 0', 'regime 0, s = 0.5', 'regime 0, s = 1']
    """
    _check_geodesic(geo)
    grid = geo.grid
    if grid.dims != 2:
        raise ValueError(f"plot_simplex draws grids with two weight axes (Grid.simplex); "
                         f"this grid has {grid.dims} (plot_geodesic draws it)")
    if not on_simplex(grid):
        raise ValueError("plot_simplex draws the simplex grid (Grid.simplex); this grid has "
                         "active cells beyond the simplex (w_A + w_B > 1), which ternary "
                         "panels would hide: plot_geodesic draws it on the square")
    return _plot_two_axes(geo, times=times, title=title, cmap=cmap, figsize=figsize,
                          ternary=True)


def on_simplex(grid) -> bool:
    """Whether ``grid`` has two weight axes and no active cell with its centre beyond the
    simplex (``w_A + w_B > 1``), as :meth:`~wfr_cvx.Grid.simplex` builds it.

    >>> import wfr_cvx
    >>> on_simplex(wfr_cvx.Grid.simplex(4, 1)), on_simplex(wfr_cvx.Grid(4, 1, dims=2))
    (True, False)
    """
    return _on_simplex(grid)


def _square(ax, assets) -> None:
    """A frame of the square of weights ``(w_A, w_B)`` on ``ax``, axes named by asset."""
    ax.set_aspect("equal")
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel(f"weight of {assets[0]}", fontsize="small")
    ax.set_ylabel(f"weight of {assets[1]}", fontsize="small")


def _plot_two_axes(geo, *, times, title, cmap, figsize, ternary: bool):
    """The figure of :func:`plot_simplex` (``ternary``) or of a geodesic on the square of
    weights (:func:`plot_geodesic`)."""
    grid = geo.grid
    times = _path_times(times)
    levels = np.rint(times * grid.n_steps).astype(int)
    assets = grid.assets or ("A", "B", "C")
    K, n_panels = grid.n_regimes, len(times)
    fig = _new_figure(figsize or (max(9.0, 2.5 * n_panels + 1.2), 2.6 * (K + 1) + 0.6))
    grid_spec = fig.add_gridspec(K + 1, 3 * n_panels)

    def to_plane(w_a, w_b):
        return ternary_xy(w_a, w_b) if ternary else (np.asarray(w_a), np.asarray(w_b))

    def frame(ax, grid_lines: bool):
        if ternary:
            _triangle(ax, assets, grid_lines=grid_lines)
        else:
            _square(ax, assets)

    density = np.asarray(geo.rho) / grid.dx**2
    vmax = float(density.max()) if density.size and density.max() > 0 else 1.0
    edges = np.arange(grid.n_weights + 1) * grid.dx
    x, y = to_plane(*np.meshgrid(edges, edges, indexing="ij"))
    heat_axes, mesh = [], None
    for k, label in enumerate(grid.regimes):
        for j, level in enumerate(levels):
            ax = fig.add_subplot(grid_spec[k, 3 * j:3 * j + 3])
            values = np.ma.masked_where(~grid.mask[k], density[level, k])
            mesh = ax.pcolormesh(x, y, values, cmap=cmap, vmin=0.0, vmax=vmax,
                                 shading="flat")
            if ternary:
                _clip_to_triangle(ax, mesh)
            frame(ax, grid_lines=False)
            ax.set_title(f"regime {label}, s = {geo.times[level]:.3g}", fontsize="medium")
            heat_axes.append(ax)
    if mesh is not None:
        fig.colorbar(mesh, ax=heat_axes, label="mass density rho / dx²", shrink=0.8)

    ax_path = fig.add_subplot(grid_spec[K, :n_panels])
    frame(ax_path, grid_lines=True)
    coords = grid.coords.reshape(-1, 2)
    rho = np.asarray(geo.rho).reshape(geo.rho.shape[0], K, -1)
    totals = rho.sum(axis=2)
    for k, label in enumerate(grid.regimes):
        held = totals[:, k] > 0
        if not held.any():
            continue
        mean = (rho[held, k] @ coords) / totals[held, k, None]
        px, py = to_plane(mean[:, 0], mean[:, 1])
        (line,) = ax_path.plot(px, py, marker=".", markersize=3, label=str(label))
        ax_path.plot(px[0], py[0], "o", color=line.get_color(), markersize=6)
        ax_path.plot(px[-1], py[-1], "x", color=line.get_color(), markersize=7)
    ax_path.set_title("mean weight per regime (o start, x end)", fontsize="medium")
    if ax_path.get_legend_handles_labels()[0]:
        ax_path.legend(loc="upper right", fontsize="small")
    _mass_panel(fig.add_subplot(grid_spec[K, n_panels:2 * n_panels]), geo.times,
                totals, grid.regimes)
    _cost_panel(fig.add_subplot(grid_spec[K, 2 * n_panels:]), geo)
    where = (f"on the simplex of {', '.join(assets)}" if ternary else
             f"on the weights of {assets[0]} and {assets[1]} ({assets[2]} the rest)")
    fig.suptitle(title if title is not None else
                 f"WFR geodesic {where}: d² = {geo.distance2:.5g} (lam = {geo.lam:g}, "
                 f"{grid.n_weights}² cells x {grid.n_steps} steps)")
    return fig


# -- ensembles ---------------------------------------------------------------------------
def _ensemble_projection(geo, assets):
    """``(project, axis labels, corner labels or None)``: ``project(points (m, n)) ->
    (x, y, shown)`` onto the simplex of three assets or the first two principal
    directions (see :func:`plot_ensemble`)."""
    names = list(geo.assets)
    starts, ends, weights = _piece_ends(geo)
    points = np.vstack([starts, ends])
    if assets is not None:
        if isinstance(assets, str) or len(assets) != 3:
            raise ValueError(f"`assets` must name three of the ensembles' assets {names}, "
                             f"got {assets!r}")
        unknown = [a for a in assets if str(a) not in names]
        if unknown or len(set(map(str, assets))) != 3:
            raise ValueError(f"`assets` must name three distinct assets of {names}, got "
                             f"{list(assets)}")
        chosen = [names.index(str(a)) for a in assets]
    elif len(names) == 3 and points.size and points.min() >= -1e-9:
        chosen = [0, 1, 2]
    else:
        chosen = None
    if chosen is not None:
        def project(p):
            part = p[:, chosen]
            total = part.sum(axis=1)
            shown = total > 1e-12
            share = np.where(shown[:, None], part / np.where(shown, total, 1.0)[:, None],
                             np.nan)
            x, y = ternary_xy(share[:, 0], share[:, 1])
            return x, y, shown
        return project, None, [names[c] for c in chosen]

    if weights.sum() > 0:
        mean = (weights @ points) / weights.sum()
    else:  # a path without mass: its pieces (if any) unweighted, else the origin
        mean = points.mean(axis=0) if len(points) else np.zeros(len(names))
    centred = (points - mean) * np.sqrt(weights / max(weights.sum(), 1e-300))[:, None]
    directions = np.zeros((len(names), 2))
    share = [0.0, 0.0]
    if len(names) >= 2 and np.any(centred):
        _, singular, vt = np.linalg.svd(centred, full_matrices=False)
        spread = (singular**2).sum()
        for d in range(min(2, vt.shape[0])):
            directions[:, d] = vt[d]
            share[d] = float(singular[d] ** 2 / spread) if spread > 0 else 0.0
    elif len(names) == 1:
        directions[0, 0] = 1.0
        share[0] = 1.0

    def project(p):
        coords = (p - mean) @ directions
        return coords[:, 0], coords[:, 1], np.ones(len(p), dtype=bool)

    labels = [f"direction {d + 1} ({100 * share[d]:.0f} % of the spread)" for d in range(2)]
    return project, labels, None


def _piece_ends(geo):
    """Start and end points of every piece of the path, and their masses."""
    m0, start = geo._state(0.0)
    m1, end = geo._state(1.0)
    return start, end, np.concatenate([m0, m1])


def plot_ensemble(geo, *, times=None, assets=None, title: str | None = None, figsize=None):
    """A figure of an ensemble geodesic (:class:`~wfr_cvx.EnsembleGeodesic`).

    * top row, one panel per path time of ``times``: the atoms of the path, as points
      sized by mass and coloured by regime;
    * bottom left: the path of every atom (lines: transported mass; ``x``: destroyed where
      it was, ``+``: created where it appears);
    * bottom right: the mass of each regime over the path.

    Where the points go: three assets (``assets``, or the ensembles' own when they hold
    exactly three, long only) on their simplex, each atom at its weights in them
    renormalised to sum to 1 (atoms holding none of the three are left out and counted in
    the title); otherwise the plane of the first two principal directions of the atoms'
    positions at both ends, weighted by mass (long-short books, any number of assets).
    A path without mass (both ensembles empty, or of zero mass) draws empty panels, as a
    grid geodesic of zero mass does, and its title says so.

    Parameters
    ----------
    geo : EnsembleGeodesic
    times : sequence of float in [0, 1], optional
        Default start, 1/4, 1/2, 3/4 and end.
    assets : sequence of three str, optional
        The assets of the ternary panels.
    title : str, optional
    figsize : (float, float), optional

    Returns
    -------
    matplotlib.figure.Figure

    >>> import matplotlib; matplotlib.use("Agg")
    >>> import numpy as np
    >>> from wfr_cvx.ensemble import Ensemble, geodesic
    >>> e0 = Ensemble([[0.2, 0.3, 0.5], [0.6, 0.2, 0.2]], assets=("IBM", "WMT", "SEHI"))
    >>> e1 = Ensemble([[0.4, 0.4, 0.2]], mass=[1.5], assets=("IBM", "WMT", "SEHI"))
    >>> fig = plot_ensemble(geodesic(e0, e1, lam=0.3), times=[0, 1])
    >>> [ax.get_title() for ax in fig.axes]
    ['s = 0', 's = 1', 'paths of the atoms', 'mass per regime']
    """
    from .ensemble import EnsembleGeodesic

    if not isinstance(geo, EnsembleGeodesic):
        raise TypeError(f"`geo` must be a wfr_cvx.EnsembleGeodesic, got "
                        f"{type(geo).__name__}")
    times = _path_times(times)
    project, axis_labels, corners = _ensemble_projection(geo, assets)
    n_panels = len(times)
    fig = _new_figure(figsize or (max(9.0, 2.6 * n_panels), 6.2))
    grid_spec = fig.add_gridspec(2, 2 * n_panels)
    colours = [f"C{k % 10}" for k in range(len(geo.regimes))]
    states = [geo._state(float(s)) for s in times]
    heaviest = max((float(mass.max()) for mass, _ in states if mass.size), default=0.0)
    scale = 250.0 / heaviest if heaviest > 0 else 0.0
    regime = geo._pieces.regime
    hidden = 0

    starts, ends, end_mass = _piece_ends(geo)
    if corners is None:  # one window for every panel: the projected ends, with a margin
        px, py, _ = project(np.vstack([starts, ends]))
        if px.size:
            low, high = np.array([px.min(), py.min()]), np.array([px.max(), py.max()])
            margin = 0.08 * max(float((high - low).max()), 1e-12)
            low, high = low - margin, high + margin
        else:  # no piece at all: an empty window around the origin
            low, high = np.array([-1.0, -1.0]), np.array([1.0, 1.0])

    def frame(ax, ylabel: bool = True):
        if corners is not None:
            _triangle(ax, corners)
            return
        ax.set_xlim(low[0], high[0])
        ax.set_ylim(low[1], high[1])
        ax.set_xlabel(axis_labels[0], fontsize="small")
        if ylabel:
            ax.set_ylabel(axis_labels[1], fontsize="small")

    for j, (s, (mass, position)) in enumerate(zip(times, states, strict=True)):
        ax = fig.add_subplot(grid_spec[0, 2 * j:2 * j + 2])
        frame(ax, ylabel=j == 0)
        x, y, shown = project(position)
        held = mass > 0
        hidden = max(hidden, int(np.count_nonzero(held & ~shown)))
        for k, label in enumerate(geo.regimes):
            keep = held & shown & (regime == k)
            ax.scatter(x[keep], y[keep], s=scale * mass[keep], color=colours[k], alpha=0.6,
                       edgecolors="none", label=str(label))
        ax.set_title(f"s = {s:g}", fontsize="medium")
    if len(geo.regimes) > 1 and fig.axes:
        fig.axes[0].legend(loc="upper left", fontsize="small", markerscale=0.5)

    ax_paths = fig.add_subplot(grid_spec[1, :n_panels])
    frame(ax_paths)
    samples = np.linspace(0.0, 1.0, 11)
    track = np.array([project(geo._state(float(s))[1])[:2] for s in samples])  # (S, 2, Q)
    kind = geo._pieces.kind
    for k in range(len(geo.regimes)):
        moving = np.flatnonzero((kind == 0) & (regime == k))
        if moving.size:
            ax_paths.plot(track[:, 0, moving], track[:, 1, moving], color=colours[k],
                          linewidth=0.8, alpha=0.7)
        for code, marker in ((1, "x"), (2, "+")):
            where = np.flatnonzero((kind == code) & (regime == k))
            if where.size:
                ax_paths.plot(track[0, 0, where], track[0, 1, where], marker,
                              color=colours[k], markersize=5, linestyle="none")
    ax_paths.set_title("paths of the atoms", fontsize="medium")

    mass_times = np.linspace(0.0, 1.0, 21)
    _mass_panel(fig.add_subplot(grid_spec[1, n_panels:]), mass_times,
                geo.mass(times=mass_times).to_numpy(), geo.regimes)
    where = (f"on the simplex of {', '.join(corners)}" if corners is not None
             else "in the first two principal directions of the weights")
    note = f"; {hidden} atom(s) holding none of these assets not shown" if hidden else ""
    if not np.any(end_mass > 0):  # both ensembles empty or of zero mass: empty panels
        note += "; the path holds no mass"
    fig.suptitle(title if title is not None else
                 f"WFR geodesic of ensembles {where}: d² = {geo.distance2:.5g} "
                 f"(lam = {geo.lam:g}, {geo.n_atoms[0]} -> {geo.n_atoms[1]} atoms){note}")
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
        :func:`~wfr_cvx.finance.markowitz.efficient_frontier` writes).  Labelled ones are
        paired by label, as the Markowitz functions pair them.  Without either the assets
        are not marked.

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
        from .finance.markowitz import _check_mu_cov

        # labelled mu and cov are paired by label (the Markowitz functions' rule)
        labels, mu, cov, _ = _check_mu_cov(mu, cov)
        return {name: (float(np.sqrt(max(var, 0.0))), float(r))
                for name, var, r in zip(labels, np.diag(cov), mu, strict=True)}
    returns = frontier.attrs.get("asset_return")
    volatility = frontier.attrs.get("asset_volatility")
    if not returns or not volatility:
        return {}
    return {name: (float(volatility[name]), float(returns[name])) for name in returns
            if name in volatility}
