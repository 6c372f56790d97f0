"""Figures of every result: 1-D and simplex geodesics, ensembles; the CLI's --plot on every
shipped problem.  Checked by their axes, titles and labels (no pixel comparison)."""

from pathlib import Path

import numpy as np
import pytest

import wfr_cvx
from wfr_cvx import Grid, cli
from wfr_cvx import plots as plotting
from wfr_cvx.ensemble import Ensemble
from wfr_cvx.ensemble import geodesic as ensemble_geodesic

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "problems").glob("*.toml"))
PNG = b"\x89PNG\r\n\x1a\n"
ASSETS = ("IBM", "WMT", "SEHI")


@pytest.fixture(scope="module")
def simplex_geo():
    s = Grid.simplex(8, 4, assets=ASSETS, regimes=("on", "off"))
    r0 = s.bump((0.3, 0.3), 0.1, "on", 0.7) + s.bump((0.2, 0.2), 0.1, "off", 0.3)
    r1 = s.bump((0.5, 0.2), 0.1, "on", 0.3) + s.bump((0.1, 0.6), 0.1, "off", 0.7)
    return wfr_cvx.geodesic(r0, r1, s, 0.3)


@pytest.fixture(scope="module")
def books():
    rng = np.random.default_rng(1)
    e0 = Ensemble(rng.dirichlet(np.ones(3), 6), assets=ASSETS, regime=["on"] * 3 + ["off"] * 3,
                  regimes=("on", "off"), domain="simplex")
    e1 = Ensemble(rng.dirichlet(np.ones(3), 5), mass=np.full(5, 1.2), assets=ASSETS,
                  regime="on", regimes=("on", "off"), domain="simplex")
    return ensemble_geodesic(e0, e1, lam=0.3)


def _title(fig) -> str:
    return fig.get_suptitle() if hasattr(fig, "get_suptitle") else fig._suptitle.get_text()


def _corner_labels(ax) -> set:
    return {t.get_text() for t in ax.texts}


# -- simplex geodesics -------------------------------------------------------------------
def test_simplex_figure_axes_and_labels(simplex_geo):
    fig = simplex_geo.plot()
    assert isinstance(fig, Figure)
    axes = fig.get_axes()
    heat = [ax for ax in axes if ax.get_title().startswith("regime ")]
    # one ternary panel per regime and default time: start, 1/4, 1/2, 3/4, end
    assert [ax.get_title() for ax in heat] == [
        f"regime {k}, s = {s}" for k in ("on", "off") for s in ("0", "0.25", "0.5", "0.75",
                                                                  "1")]
    for ax in heat:
        assert _corner_labels(ax) == set(ASSETS)  # each corner names its asset
        assert len(ax.collections) == 1  # the density, clipped to the triangle
    path, mass, cost = (next(ax for ax in axes if ax.get_title().startswith(prefix))
                        for prefix in ("mean weight", "mass per regime", "cost per step"))
    assert _corner_labels(path) == set(ASSETS)
    assert [t.get_text() for t in path.get_legend().get_texts()] == ["on", "off"]
    assert [t.get_text() for t in mass.get_legend().get_texts()] == ["on", "off", "total"]
    assert mass.get_xlabel() == cost.get_xlabel() == "path time s"
    assert len(axes) == 10 + 1 + 3  # heat maps, the colour bar, the bottom row
    assert "simplex of IBM, WMT, SEHI" in _title(fig)
    # the mean-weight path starts at the allocation's mean (plane coordinates)
    on = simplex_geo.rho[0, 0].ravel()
    mean = on @ simplex_geo.grid.coords.reshape(-1, 2) / on.sum()
    x, y = plotting.ternary_xy(*mean)
    line = path.get_lines()[-6]  # per regime: the path, its start, its end; "on" first
    assert (line.get_xdata()[0], line.get_ydata()[0]) == pytest.approx((x, y))


def test_simplex_figure_times_and_title(simplex_geo, tmp_path):
    fig = plotting.plot_geodesic(simplex_geo, times=[1.0, 0.4], title="chosen")
    titles = [ax.get_title() for ax in fig.get_axes()]
    assert "regime on, s = 1" in titles and "regime off, s = 0.5" in titles  # nearest level
    assert _title(fig) == "chosen"
    fig.savefig(tmp_path / "simplex.png")
    assert (tmp_path / "simplex.png").read_bytes().startswith(PNG)
    with pytest.raises(ValueError, match="`times` must hold path times in \\[0, 1\\]"):
        simplex_geo.plot(times=[0.5, 1.5])
    with pytest.raises(ValueError, match="`times` must be a non-empty sequence"):
        simplex_geo.plot(times=[])


def test_simplex_figure_on_a_masked_grid_leaves_closed_cells_out():
    s = Grid.simplex(8, 2, mask=Grid.simplex(8, 2).mask[0] & (
        Grid.simplex(8, 2).coords[..., 0] <= 0.6))  # a position limit w_A <= 0.6
    geo = wfr_cvx.geodesic(s.bump((0.3, 0.3), 0.1), s.bump((0.5, 0.2), 0.1), s, 0.3)
    fig = geo.plot(times=[0.5])
    mesh = fig.get_axes()[0].collections[0]
    values = mesh.get_array()
    assert np.ma.count_masked(values) == s.n_inactive  # outside the simplex or the limit
    assert "regime 0, s = 0.5" in [ax.get_title() for ax in fig.get_axes()]


def test_plot_functions_refuse_the_wrong_result(simplex_geo, books):
    g = Grid(8, 2)
    one_d = wfr_cvx.geodesic(g.dirac(0.2), g.dirac(0.7), g, 0.5)
    with pytest.raises(ValueError, match="plot_simplex draws grids with two weight axes"):
        plotting.plot_simplex(one_d)
    with pytest.raises(ValueError, match="`times` chooses the panels of a figure on two"):
        one_d.plot(times=[0.5])
    with pytest.raises(TypeError, match="`geo` must be a wfr_cvx.Geodesic"):
        plotting.plot_geodesic(books)
    with pytest.raises(TypeError, match="`geo` must be a wfr_cvx.EnsembleGeodesic"):
        plotting.plot_ensemble(simplex_geo)


def test_a_square_grid_is_drawn_on_the_square():
    """Before: every grid with two weight axes went to the ternary panels, clipped to the
    triangle: a geodesic near (0.8, 0.7) drew empty panels under a title "on the
    simplex".  The square maps hold rho / dx^2 at each chosen level, inactive cells
    blank, and the mean-weight path in (w_A, w_B) itself."""
    mask = np.ones((1, 8, 8), dtype=bool)
    mask[0, 0, 0] = False
    g = Grid(8, 4, dims=2, assets=("X", "Y", "Z"), mask=mask)
    assert not plotting.on_simplex(g) and plotting.on_simplex(Grid.simplex(8, 4))
    geo = wfr_cvx.geodesic(g.bump((0.8, 0.7), 0.08), g.bump((0.7, 0.8), 0.08), g, lam=0.5)
    fig = geo.plot(times=[0, 1])
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes[:2]] == ["regime 0, s = 0", "regime 0, s = 1"]
    for ax, level in zip(axes[:2], (0, -1), strict=True):
        values = ax.collections[0].get_array()
        assert np.ma.count_masked(values) == 1  # the inactive cell
        # cell (i, j) drawn over [i dx, (i + 1) dx] x [j dx, (j + 1) dx], not sheared
        edges = np.arange(9) * g.dx
        np.testing.assert_allclose(ax.collections[0].get_coordinates(),
                                   np.stack(np.meshgrid(edges, edges, indexing="ij"), -1))
        expected = np.ma.masked_where(~g.mask[0], geo.rho[level, 0] / g.dx**2)
        np.testing.assert_allclose(np.ma.filled(values, -1.0).reshape(8, 8),
                                   np.ma.filled(expected, -1.0), rtol=1e-12)
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("weight of X", "weight of Y")
        assert ax.get_xlim() == (0.0, 1.0) and ax.get_ylim() == (0.0, 1.0)
        assert not ax.texts  # no ternary corners
    path = next(ax for ax in axes if ax.get_title().startswith("mean weight"))
    line = path.get_lines()[0]
    for level in (0, -1):
        rho = geo.rho[level, 0].ravel()
        mean = rho @ g.coords.reshape(-1, 2) / rho.sum()
        assert (line.get_xdata()[level], line.get_ydata()[level]) == pytest.approx(mean)
    title = _title(fig)
    assert "on the weights of X and Y (Z the rest)" in title and "simplex" not in title
    with pytest.raises(ValueError, match="active cells beyond the simplex"):
        plotting.plot_simplex(geo)


def test_a_one_d_weight_axis_is_named_after_the_first_asset():
    """Before: "weight w" whatever ``assets`` said; the grid's first asset is the one whose
    weight the axis is (the second holds the rest)."""
    g = Grid(16, 4, regimes=("a", "b"), assets=("IBM", "cash"))
    geo = wfr_cvx.geodesic(g.bump(0.3, 0.08, "a"), g.bump(0.6, 0.08, "b"), g, 0.3)
    heat = [ax for ax in geo.plot().get_axes() if ax.get_title().startswith("regime ")]
    assert [ax.get_ylabel() for ax in heat] == ["weight of IBM"] * 2
    plain = Grid(16, 4)
    geo = wfr_cvx.geodesic(plain.bump(0.3, 0.08), plain.bump(0.6, 0.08), plain, 0.3)
    assert geo.plot().get_axes()[0].get_ylabel() == "weight w"


def test_one_d_figure_is_unchanged_by_the_dispatch():
    g = Grid(16, 4, regimes=("a", "b"))
    geo = wfr_cvx.geodesic(g.bump(0.3, 0.08, "a"), g.bump(0.6, 0.08, "b"), g, 0.3)
    titles = [ax.get_title() for ax in geo.plot().get_axes()]
    assert titles[:2] == ["regime a", "regime b"]
    assert {"mass per regime", "cost per step"} <= set(titles)


# -- ensembles ---------------------------------------------------------------------------
def test_ensemble_figure_on_the_simplex(books, tmp_path):
    fig = books.plot()
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ["s = 0", "s = 0.25", "s = 0.5", "s = 0.75",
                                               "s = 1", "paths of the atoms",
                                               "mass per regime"]
    for ax in axes[:6]:
        assert _corner_labels(ax) == set(ASSETS)
    # points sized by mass: at s = 0 one point per atom of e0, areas in their mass ratio
    points = axes[0].collections
    sizes = np.concatenate([p.get_sizes() for p in points])
    masses = np.concatenate([books.at(0.0).mass[books.at(0.0).regime == k]
                             for k in range(2)])
    assert sizes.size == masses.size and sizes / sizes.max() == pytest.approx(
        masses / masses.max())
    assert [t.get_text() for t in axes[0].get_legend().get_texts()] == ["on", "off"]
    assert "on the simplex of IBM, WMT, SEHI" in _title(fig)
    fig.savefig(tmp_path / "books.png")
    assert (tmp_path / "books.png").read_bytes().startswith(PNG)


def test_ensemble_figure_in_principal_directions_and_on_chosen_assets():
    rng = np.random.default_rng(2)
    names = ("a", "b", "c", "d", "e")
    e0 = Ensemble(rng.normal(0.2, 0.3, (6, 5)), assets=names)  # long-short, five assets
    e1 = Ensemble(rng.normal(0.3, 0.3, (4, 5)), mass=np.full(4, 2.0), assets=names)
    geo = ensemble_geodesic(e0, e1, lam=0.5)
    fig = geo.plot(times=[0.0, 1.0])
    first = fig.get_axes()[0]
    assert first.get_xlabel().startswith("direction 1 (") and "% of the spread" in (
        first.get_xlabel())
    assert first.get_ylabel().startswith("direction 2 (")
    assert "principal directions" in _title(fig)
    chosen = geo.plot(assets=["e", "a", "c"], times=[0.5])
    assert _corner_labels(chosen.get_axes()[0]) == {"e", "a", "c"}
    with pytest.raises(ValueError, match="`assets` must name three distinct assets"):
        geo.plot(assets=["a", "b", "x"])
    with pytest.raises(ValueError, match="`assets` must name three"):
        geo.plot(assets=["a", "b"])


@pytest.mark.parametrize("e0, e1", [
    (Ensemble(np.zeros((0, 3)), assets=("a", "b", "c")),
     Ensemble(np.zeros((0, 3)), assets=("a", "b", "c"))),
    (Ensemble([[0.2, 0.3, 0.5]], mass=[0.0], assets=("a", "b", "c")),
     Ensemble([[0.5, 0.3, 0.2]], mass=[0.0], assets=("a", "b", "c"))),
    (Ensemble([[0.2, -0.3, 1.1]], mass=[0.0]), Ensemble(np.zeros((0, 3)))),
], ids=["empty", "zero mass", "long-short, zero mass"])
def test_an_ensemble_path_without_mass_draws_empty_panels(e0, e1, tmp_path):
    """As a grid geodesic of zero mass does, with the title saying so.  Before: "zero-size
    array to reduction operation minimum which has no identity"."""
    geo = ensemble_geodesic(e0, e1, lam=0.3)
    for fig in (geo.plot(), geo.plot(assets=list(geo.assets))):
        assert [ax.get_title() for ax in fig.get_axes()][-2:] == ["paths of the atoms",
                                                                  "mass per regime"]
        assert _title(fig).endswith("; the path holds no mass")
        assert all(p.get_offsets().size == 0 for ax in fig.get_axes()[:5]
                   for p in ax.collections)
        fig.savefig(tmp_path / "empty.png")
    assert "holds no mass" not in _title(ensemble_geodesic(e0, Ensemble(
        [[0.2, 0.3, 0.5]], assets=geo.assets), lam=0.3).plot())


# -- the command line --------------------------------------------------------------------
#: The slowest solves (over 3 s here: cvxpy's compilation, a simplex rebalance) run with
#: `make test-all`; the other simplex and ensemble problems run every time.
SLOW = {"cvxpy_mass_growth", "markowitz_simplex"}


@pytest.mark.parametrize("path", [pytest.param(p, marks=pytest.mark.slow) if p.stem in SLOW
                                  else p for p in SHIPPED], ids=[p.stem for p in SHIPPED])
def test_solve_plot_works_on_every_shipped_problem(path, tmp_path, capsys):
    out = tmp_path / "figure.png"
    assert cli.main(["solve", str(path), "--plot", str(out)]) == 0, capsys.readouterr().err
    assert out.read_bytes().startswith(PNG)
    assert f"wrote {out}" in capsys.readouterr().out


def test_the_cost_panel_draws_every_step_over_its_whole_length(simplex_geo):
    """Before: ``step(where="mid")`` at the midpoints drew the first and last steps at half
    width; each step's cost now covers [k dt, (k + 1) dt]."""
    fig = simplex_geo.plot()
    ax = next(a for a in fig.get_axes() if a.get_title() == "cost per step")
    for patch, costs in zip(ax.patches, (simplex_geo.transport_per_step,
                                         simplex_geo.reaction_per_step), strict=True):
        values, edges = patch.get_data()[:2]
        np.testing.assert_array_equal(edges, np.linspace(0.0, 1.0, 5))
        np.testing.assert_array_equal(values, costs)
