"""Outputs of a solve: tidy frame, xarray, JSON dict, figures, and the demo."""

import json
import sys

import numpy as np
import pandas as pd
import pytest

import wfr_cvx
from wfr_cvx import Grid, demo, io
from wfr_cvx import plots as plotting
from wfr_cvx.finance.markowitz import efficient_frontier, estimate, load_prices, min_variance

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def geo():
    g = Grid(16, 4, regimes=("risk_on", "risk_off"))
    rho0 = g.bump(0.6, 0.08, "risk_on", mass=0.7) + g.bump(0.35, 0.08, "risk_off", mass=0.3)
    rho1 = g.bump(0.5, 0.08, "risk_on", mass=0.3) + g.bump(0.3, 0.08, "risk_off", mass=0.7)
    return wfr_cvx.geodesic(rho0, rho1, g, lam=0.2)


def test_to_frame_round_trips_the_masses_exactly(geo):
    frame = geo.to_frame()
    grid = geo.grid
    assert len(frame) == geo.rho.size
    t = np.searchsorted(geo.times, frame["time"].to_numpy())
    k = frame["regime"].map({label: i for i, label in enumerate(grid.regimes)}).to_numpy()
    i = np.searchsorted(grid.weights, frame["weight"].to_numpy())
    # every label is exactly a grid value, and every cell appears once
    assert np.array_equal(geo.times[t], frame["time"].to_numpy())
    assert np.array_equal(grid.weights[i], frame["weight"].to_numpy())
    rebuilt = np.full(geo.rho.shape, np.nan)
    rebuilt[t, k, i] = frame["mass"].to_numpy()
    assert np.array_equal(rebuilt, geo.rho)


def _at_level(per_step, t):
    """The documented move of a per-step field to time level ``t``: the one step at an end
    level, the mean of the two adjacent steps inside."""
    T = len(per_step)
    if t == 0:
        return per_step[0]
    if t == T:
        return per_step[T - 1]
    return 0.5 * (per_step[t - 1] + per_step[t])


def test_to_frame_velocity_and_rate_are_the_documented_means(geo):
    """Rebuilt cell by cell from geo.velocity (faces) and geo.rate (cells): the mean of
    the two faces beside a cell (a boundary face carries 0), then of the adjacent steps;
    the columns were never checked (a mutation taking the later step moved the rate by
    0.62 of its 2.65)."""
    frame = geo.to_frame()
    grid = geo.grid
    T, K, n = len(geo.times) - 1, grid.n_regimes, grid.n_weights
    rows = iter(frame[["velocity", "rate"]].to_numpy())
    for t in range(T + 1):
        for k in range(K):
            for i in range(n):
                faces = [geo.velocity[:, k, f] for f in (i - 1, i) if 0 <= f < n - 1]
                per_step = 0.5 * sum(faces)
                velocity, rate = next(rows)
                assert velocity == pytest.approx(_at_level(per_step, t), abs=1e-14)
                assert rate == pytest.approx(_at_level(geo.rate[:, k, i], t), abs=1e-14)


def test_simplex_to_frame_velocity_and_rate_are_the_documented_means():
    g = Grid.simplex(6, 3)
    geo2 = wfr_cvx.geodesic(g.bump((0.3, 0.3), 0.15), g.bump((0.45, 0.2), 0.15, mass=1.3),
                            g, lam=0.3)
    frame = geo2.to_frame().set_index(["time", "regime", "w_A", "w_B"])
    T, n = len(geo2.times) - 1, g.n_weights
    for t in range(T + 1):
        for i in range(n):
            for j in range(n):
                if not g.mask[0, i, j]:
                    continue
                row = frame.loc[(geo2.times[t], g.regimes[0], g.weights[i], g.weights[j])]
                v = geo2.velocity[:, 0]  # (T, 2, n, n): the +axis face of each cell
                along_a = 0.5 * (v[:, 0, i, j] + (v[:, 0, i - 1, j] if i else 0.0))
                along_b = 0.5 * (v[:, 1, i, j] + (v[:, 1, i, j - 1] if j else 0.0))
                assert row["velocity_A"] == pytest.approx(_at_level(along_a, t), abs=1e-14)
                assert row["velocity_B"] == pytest.approx(_at_level(along_b, t), abs=1e-14)
                assert row["rate"] == pytest.approx(_at_level(geo2.rate[:, 0, i, j], t),
                                                    abs=1e-14)


def test_to_xarray_round_trips_the_masses_exactly(geo):
    ds = geo.to_xarray()
    grid = geo.grid
    assert dict(ds["mass"].sizes) == {"time": grid.n_steps + 1, "regime": 2,
                                      "weight": grid.n_weights}
    assert np.array_equal(ds["mass"].values, geo.rho)
    assert list(ds["regime"].values) == list(grid.regimes)
    assert np.array_equal(ds["weight"].values, grid.weights)
    assert np.array_equal(ds["time"].values, geo.times)
    # step variables on their own coordinates, unchanged
    np.testing.assert_allclose(ds["step"].values, (np.arange(grid.n_steps) + 0.5) * grid.dt)
    assert np.array_equal(ds["velocity"].values, geo.velocity)
    assert np.array_equal(ds["source"].values, geo.source)
    assert np.array_equal(ds["face"].values, grid.faces)
    assert float(ds["transport_cost"].sum() + ds["reaction_cost"].sum()) == pytest.approx(
        geo.distance2, rel=1e-12)
    assert ds.attrs["distance2"] == geo.distance2 and ds.attrs["lam"] == 0.2
    assert ds.attrs["solve_time"] == geo.solve_time and ds.attrs["status"] == "Solved"
    # selecting by label gives the same numbers
    assert np.array_equal(ds["mass"].sel(regime="risk_off").values, geo.rho[:, 1])


@pytest.mark.parametrize("grid", [Grid(8, 2, regimes=2), Grid.simplex(4, 2)],
                         ids=["1-D", "simplex"])
def test_editing_the_dataset_leaves_the_path_alone(grid):
    """Before: the 1-D Dataset's variables were the path's own arrays, so ``ds["mass"] *=
    1e6`` multiplied ``geo.rho`` (and the later figures and plots) as well."""
    pytest.importorskip("xarray")
    if grid.dims == 2:
        geo = wfr_cvx.geodesic(grid.dirac((0.1, 0.1)), grid.dirac((0.4, 0.1)), grid, 0.5)
    else:
        geo = wfr_cvx.geodesic(grid.dirac(0.3, 0), grid.dirac(0.6, 1), grid, 0.5)
    names = ("rho", "source", "rate", "momentum", "velocity", "metric", "times",
             "transport_per_step", "reaction_per_step")
    before = {name: np.array(getattr(geo, name), dtype=float) for name in names}
    ds = geo.to_xarray()
    for name in ds.data_vars:
        if ds[name].dtype.kind == "f":
            ds[name].values[...] = -7.0
    for name in names:
        assert np.array_equal(np.asarray(getattr(geo, name), dtype=float), before[name],
                              equal_nan=True), name


@pytest.mark.parametrize("masked", [False, True], ids=["simplex", "masked"])
def test_simplex_to_xarray_keeps_every_active_value_and_nans_the_rest(masked):
    """2-D: dims time, regime, w_<A>, w_<B>; faces of each axis a dimension of their own;
    inactive cells (outside the simplex, or a position limit) and their faces NaN."""
    base = Grid.simplex(8, 4, assets=("eq", "bd", "cash"), regimes=("on", "off"))
    limit = base.coords[..., 0] <= 0.6 if masked else None  # w_eq <= 0.6
    g = Grid.simplex(8, 4, assets=("eq", "bd", "cash"), regimes=("on", "off"), mask=limit)
    r0 = g.bump((0.3, 0.3), 0.1, "on", 0.7) + g.bump((0.2, 0.2), 0.1, "off", 0.3)
    r1 = g.bump((0.5, 0.2), 0.1, "on", 0.3) + g.bump((0.1, 0.6), 0.1, "off", 0.7)
    geo = wfr_cvx.geodesic(r0, r1, g, 0.3, metric=np.array([[2.0, 0.5], [0.5, 1.0]]))
    ds = geo.to_xarray()
    assert ds["mass"].dims == ("time", "regime", "w_eq", "w_bd")
    assert ds["momentum_eq"].dims == ("step", "regime", "face_eq", "w_bd")
    assert ds["velocity_bd"].dims == ("step", "regime", "w_eq", "face_bd")
    assert np.array_equal(ds["w_eq"].values, g.weights) and np.array_equal(
        ds["face_bd"].values, g.faces)
    np.testing.assert_allclose(ds["w_cash"].values, 1 - g.weights[:, None] - g.weights)
    active = ds["active"].values
    assert np.array_equal(active, g.mask)
    for name, values in (("mass", geo.rho), ("source", geo.source), ("rate", geo.rate)):
        got = ds[name].values
        assert np.array_equal(got[:, active], values[:, active])  # the same numbers
        assert np.isnan(got[:, ~active]).all()
    faces = g.face_mask
    for name, values in (("momentum", geo.momentum), ("velocity", geo.velocity)):
        along_a, along_b = ds[f"{name}_eq"].values, ds[f"{name}_bd"].values
        open_a, open_b = faces[:, 0, :-1, :], faces[:, 1, :, :-1]
        assert np.array_equal(along_a[:, open_a], values[:, :, 0, :-1, :][:, open_a])
        assert np.array_equal(along_b[:, open_b], values[:, :, 1, :, :-1][:, open_b])
        assert np.isnan(along_a[:, ~open_a]).all() and np.isnan(along_b[:, ~open_b]).all()
    # an off-diagonal G: one matrix per active cell, rows and columns named by asset
    assert ds["metric"].dims == ("regime", "w_eq", "w_bd", "row", "column")
    assert list(ds["row"].values) == ["eq", "bd"]
    assert ds["metric"].sel(regime="on", row="eq", column="bd").values[0, 0] == 0.5
    assert float(ds["transport_cost"].sum() + ds["reaction_cost"].sum()) == pytest.approx(
        geo.distance2, rel=1e-12)
    attrs = ds.attrs
    assert attrs["lam"] == 0.3 and attrs["status"] == "Solved"
    assert ds["asset"].values.tolist() == ["eq", "bd", "cash"]
    assert attrs["distance2"] == geo.distance2
    assert attrs["solve_time"] == geo.solve_time and attrs["setup_time"] == geo.setup_time
    assert attrs["wfr_cvx_version"] == wfr_cvx.__version__ == geo.version
    # selection by label
    cell = ds["mass"].sel(regime="off", w_eq=g.weights[1], w_bd=g.weights[2])
    assert cell.values.tolist() == geo.rho[:, 1, 1, 2].tolist()


def test_simplex_to_xarray_with_a_diagonal_metric_has_face_weights():
    g = Grid.simplex(4, 2)
    geo = wfr_cvx.geodesic(g.dirac((0.1, 0.1)), g.dirac((0.4, 0.1)), g, 0.5, metric=3.0)
    ds = geo.to_xarray()
    assert ds["metric_A"].dims == ("regime", "face_A", "w_B")
    assert np.nanmax(ds["metric_A"].values) == np.nanmin(ds["metric_B"].values) == 3.0
    assert "metric" not in ds


@pytest.mark.parametrize("kind", ["1-D", "1-D with assets", "simplex", "2-D box",
                                  "simplex, matrix metric"])
def test_every_dataset_writes_to_netcdf_and_reads_back(kind, tmp_path):
    """Before: the simplex and 2-D datasets held ``attrs["assets"]``, a list of strings,
    and ``to_netcdf`` (scipy's netCDF3) raised KeyError ('U', 16).  The labels are now the
    coordinate ``asset``; every dataset reads back identical, attributes included."""
    xr = pytest.importorskip("xarray")
    if kind.startswith("1-D"):
        g = Grid(8, 2, regimes=("a", "b"),
                 assets=("IBM", "cash") if kind.endswith("assets") else None)
        geo = wfr_cvx.geodesic(g.dirac(0.3, "a"), g.dirac(0.6, "b"), g, 0.5)
    else:
        g = (Grid(4, 2, dims=2, regimes=("on", "off")) if kind == "2-D box" else
             Grid.simplex(4, 2, assets=("eq", "bd", "cash"), regimes=("on", "off")))
        metric = ([[1.0, 0.5], [0.5, 2.0]] if kind.endswith("matrix metric") else None)
        geo = wfr_cvx.geodesic(g.dirac((0.1, 0.1), "on"), g.dirac((0.4, 0.1), "off"), g,
                               0.5, metric=metric)
    ds = geo.to_xarray()
    path = tmp_path / "path.nc"
    ds.to_netcdf(path)
    with xr.open_dataset(path) as back:
        back.load()
    xr.testing.assert_identical(back, ds)
    assets = {"1-D": None, "1-D with assets": ["IBM", "cash"], "2-D box": ["A", "B", "C"]}
    expected = assets.get(kind, ["eq", "bd", "cash"])
    assert (back["asset"].values.tolist() if "asset" in back.coords else None) == expected
    assert back.attrs["distance2"] == geo.distance2
    assert back.attrs["wfr_cvx_version"] == geo.version


def test_an_xarray_level_is_read_back_by_label(geo):
    """``to_xarray``'s levels as the ends of a new solve, in any order of dimensions or
    labels.  Before: a DataArray was read by position -- the end level with its regimes
    sorted ("risk_off" first) gave d^2 0.0202 for 0.0955 without an error, and a simplex
    level (NaN outside the simplex) was refused as non-finite."""
    pytest.importorskip("xarray")
    g = geo.grid
    mass = geo.to_xarray()["mass"]
    first, last = mass.isel(time=0), mass.isel(time=-1)
    expected = wfr_cvx.geodesic(geo.rho[0], geo.rho[-1], g, geo.lam)
    for a, b in ((first, last), (first.transpose("weight", "regime"), last.sortby("regime")),
                 (first.isel(weight=slice(None, None, -1)), last)):
        again = wfr_cvx.geodesic(a, b, g, geo.lam)
        assert again.distance2 == expected.distance2
        np.testing.assert_array_equal(again.rho[0], geo.rho[0])
    # without coordinates: by position, as an array
    import xarray as xr

    plain = wfr_cvx.geodesic(xr.DataArray(geo.rho[0]), xr.DataArray(geo.rho[-1]), g, geo.lam)
    assert plain.distance2 == expected.distance2
    # a label that is no cell is refused as with pandas input
    with pytest.raises(ValueError, match=r"`rho0` label 0.3 is not a cell centre"):
        wfr_cvx.geodesic(first.assign_coords(weight=first["weight"] + 0.3 - 0.03125), last,
                         g, geo.lam)


def test_a_half_labelled_data_array_is_refused():
    """Coordinates on the regimes only: read by position, "stress" would be read as calm."""
    xr = pytest.importorskip("xarray")
    g = Grid(4, 2, regimes=("calm", "stress"))
    half = xr.DataArray([[1.0, 1, 1, 1], [0, 0, 0, 5]], dims=("regime", "weight"),
                        coords={"regime": ["stress", "calm"]})
    with pytest.raises(ValueError, match=r"coordinates on every dimension or on none; "
                                         r"\['weight'\] have none"):
        wfr_cvx.geodesic(half, g.dirac(0.5, "calm"), g, 0.3)


def test_a_simplex_xarray_level_is_read_back_by_label():
    pytest.importorskip("xarray")
    g = Grid.simplex(6, 2, assets=("eq", "bd", "cash"))
    geo = wfr_cvx.geodesic(g.bump((0.3, 0.3), 0.15), g.bump((0.45, 0.2), 0.15), g, 0.3)
    mass = geo.to_xarray()["mass"]
    again = wfr_cvx.geodesic(mass.isel(time=0), mass.isel(time=-1).transpose(
        "w_bd", "regime", "w_eq"), g, 0.3)
    assert again.distance2 == geo.distance2
    # NaN on an active cell is a missing cell, not a zero
    hole = mass.isel(time=0).copy()
    hole[0, 1, 1] = np.nan
    with pytest.raises(ValueError, match=r"`rho0` has no entry for 1 active cell"):
        wfr_cvx.geodesic(hole, mass.isel(time=-1), g, 0.3)


def test_missing_optional_packages_name_the_extra(geo, monkeypatch):
    monkeypatch.setitem(sys.modules, "xarray", None)
    with pytest.raises(ImportError, match=r"wfr_cvx\[xarray\]"):
        geo.to_xarray()
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"wfr_cvx\[plot\]"):
        geo.plot()


def test_to_dict_is_json_ready(geo):
    data = geo.to_dict()
    text = json.dumps(data, allow_nan=False)
    back = json.loads(text)
    assert back["wfr_cvx_version"] == wfr_cvx.__version__
    inputs = dict(back["inputs"])
    # the allocations, bit for bit (JSON floats are written by repr)
    assert np.array_equal(np.asarray(inputs.pop("rho0")), geo.rho[0])
    assert np.array_equal(np.asarray(inputs.pop("rho1")), geo.rho[-1])
    assert inputs == {
        "grid": {"n_weights": 16, "n_steps": 4, "dims": 1,
                 "regimes": ["risk_on", "risk_off"]},
        "lam": 0.2, "metric": 1.0, "backend": "clarabel", "scheme": "centred",
        "constraints": []}
    figures = back["figures"]
    assert figures["distance2"] == geo.distance2
    assert figures["transport_cost"] + figures["reaction_cost"] == pytest.approx(
        figures["distance2"], rel=1e-12)
    assert len(figures["transport_per_step"]) == 4
    assert figures["mass_end"] == pytest.approx({"risk_on": 0.3, "risk_off": 0.7})
    assert back["status"] == "Solved" and back["iterations"] > 0
    assert set(back["timings"]) == {"assembly", "setup", "solve"}
    with_path = io.geodesic_to_dict(geo, include_path=True)
    assert np.array_equal(np.asarray(with_path["rho"]), geo.rho)


def test_to_dict_of_a_simplex_geodesic_names_its_grid():
    """2-D: dims, assets and the simplex mask are in the summary; masses per regime are
    numbers (the cells of both axes summed)."""
    g = Grid.simplex(4, 2, assets=("eq", "bd", "cash"))
    r0, r1 = g.dirac((0.125, 0.125)), g.dirac((0.375, 0.125), mass=2.0)
    geo = wfr_cvx.geodesic(r0, r1, g, 0.5)
    back = json.loads(json.dumps(geo.to_dict(include_path=True), allow_nan=False))
    grid = back["inputs"]["grid"]
    assert (grid["dims"], grid["assets"]) == (2, ["eq", "bd", "cash"])
    np.testing.assert_array_equal(np.asarray(grid["mask"]), g.mask)
    assert back["figures"]["mass_start"] == pytest.approx({"0": 1.0})
    assert back["figures"]["mass_end"] == pytest.approx({"0": 2.0})
    assert np.asarray(back["rho"]).shape == (g.n_steps + 1, *g.shape)


def test_rebalance_dict_and_write_json(tmp_path):
    g = Grid(16, 4)
    step = wfr_cvx.rebalance(g.bump(0.3, 0.05), g, 0.5, tau=10.0,
                             potential=lambda w: (w[:, 0] - 0.7) ** 2)
    data = io.rebalance_to_dict(step)
    assert data["inputs"]["tau"] == 10.0
    assert data["figures"]["objective"] == pytest.approx(step.objective)
    path = io.write_json({**data, "nan": float("nan")}, tmp_path / "step.json")
    back = json.loads(path.read_text())
    assert back["nan"] is None and back["figures"]["target_mass"] == pytest.approx({"0": 1.0})


def test_geodesic_figure_has_labelled_axes_and_saves_png(geo, tmp_path):
    fig = geo.plot(title="test path")
    axes = fig.get_axes()
    heat_maps = [ax for ax in axes if ax.get_title().startswith("regime ")]
    assert [ax.get_title() for ax in heat_maps] == ["regime risk_on", "regime risk_off"]
    titles = {ax.get_title() for ax in axes}
    assert {"mass per regime", "cost per step"} <= titles
    plots = [ax for ax in axes if ax.get_title()]  # the colour bar has no title
    assert len(plots) == 4 and len(axes) == 5
    for ax in plots:
        assert ax.get_xlabel() == "path time s" and ax.get_ylabel()
    assert axes[-1].get_legend() is not None
    title = fig.get_suptitle() if hasattr(fig, "get_suptitle") else fig._suptitle.get_text()
    assert title == "test path"
    out = tmp_path / "geodesic.png"
    fig.savefig(out)
    assert out.read_bytes().startswith(PNG)


def test_frontier_figure(tmp_path):
    mu, cov = estimate(load_prices())
    fig = plotting.plot_frontier(efficient_frontier(mu, cov, n_points=6))
    left, right = fig.get_axes()
    assert left.get_xlabel().startswith("volatility") and left.get_ylabel()
    # each asset alone and the minimum-variance point are marked
    assert [t.get_text() for t in left.get_legend().get_texts()] == [
        "frontier", "minimum variance", "assets"]
    assert {t.get_text() for t in left.texts} == {"IBM", "WMT", "SEHI"}
    star = left.get_lines()[1]
    assert star.get_ydata()[0] == pytest.approx(min_variance(mu, cov) @ mu, rel=1e-6)
    assert right.get_ylabel() == "weight"
    assert [t.get_text() for t in right.get_legend().get_texts()] == ["IBM", "WMT", "SEHI"]
    fig.savefig(tmp_path / "frontier.png")
    assert (tmp_path / "frontier.png").read_bytes().startswith(PNG)
    with pytest.raises(ValueError, match="volatility"):
        plotting.plot_frontier(efficient_frontier(mu, cov, n_points=3)[["return"]])
    # a frontier read back from CSV has no attrs: the assets come from mu and cov
    bare = efficient_frontier(mu, cov, n_points=3)
    bare.attrs.clear()
    assert len(plotting.plot_frontier(bare).get_axes()[0].texts) == 0
    marked = plotting.plot_frontier(bare, mu=mu, cov=cov).get_axes()[0]
    assert {t.get_text() for t in marked.texts} == {"IBM", "WMT", "SEHI"}
    with pytest.raises(ValueError, match="both `mu` and `cov`"):
        plotting.plot_frontier(bare, mu=mu)


def test_frontier_figure_pairs_mu_and_cov_by_label():
    """Before: the variances of `cov` were paired with the labels of `mu` by position --
    with cov ordered (SEHI, WMT, IBM) IBM was drawn at SEHI's volatility 0.262."""
    mu, cov = estimate(load_prices())
    bare = efficient_frontier(mu, cov, n_points=3)
    bare.attrs.clear()
    order = ["SEHI", "WMT", "IBM"]
    ax = plotting.plot_frontier(bare, mu=mu, cov=cov.loc[order, order]).get_axes()[0]
    drawn = {t.get_text(): t.xy for t in ax.texts}
    for name in ("IBM", "WMT", "SEHI"):
        assert drawn[name] == pytest.approx((np.sqrt(cov.loc[name, name]), mu[name]),
                                            rel=1e-12)
    with pytest.raises(ValueError, match="must label the same assets"):
        plotting.plot_frontier(bare, mu=mu, cov=cov.rename(index={"IBM": "X"},
                                                           columns={"IBM": "X"}))


def test_demo_build_and_main(tmp_path, capsys):
    grid, rho0, rho1 = demo.build(32, 8)
    assert grid.regimes == ("risk_on", "risk_off") and grid.shape == (2, 32)
    assert (rho0.sum(axis=1) > 0).all() and (rho1.sum(axis=1) > 0).all()
    out, ternary = tmp_path / "demo.png", tmp_path / "docs" / "simplex.png"
    assert demo.main(["--n-weights", "32", "--n-steps", "8", "--plot", str(out),
                      "--simplex-plot", str(ternary)]) == 0
    text = capsys.readouterr().out
    assert "risk_on" in text and "wfr_geodesic" in text and "d^2 =" in text
    assert "three assets on the simplex" in text
    assert out.read_bytes().startswith(PNG)
    assert ternary.read_bytes().startswith(PNG)  # its folder created


def test_demo_comparison_prints_the_weights_its_geodesic_targets():
    """Before: ``--compare`` printed Markowitz weights of another scenario (risk_on 0.409,
    risk_off 0.190) than the regimes build()'s target books sit around (0.716, 0.050)."""
    text = demo.comparison_report(16, 4, lams=(0.15,))
    table = text.split("Markowitz weights per regime", 1)[1].splitlines()
    printed = {line.split()[0]: float(line.split()[1]) for line in table[3:]}
    expected = demo.regime_weights()
    assert printed == pytest.approx({r: expected[r] for r in demo.REGIMES}, abs=1e-4)


def test_time_labels_are_the_nearest_floats_of_k_over_n():
    """Before: linspace's 0.30000000000000004 and 0.7000000000000001 labelled the levels
    of ten steps and the ensemble's default times, so .loc[0.3] raised KeyError."""
    from wfr_cvx import Grid
    from wfr_cvx.ensemble import Ensemble, geodesic

    g = Grid(16, 10)
    assert g.times.tolist() == [k / 10 for k in range(11)]
    geo = wfr_cvx.geodesic(g.bump(0.3, 0.1), g.bump(0.5, 0.1), g, 0.5)
    assert geo.mass().loc[0.3, "0"] == pytest.approx(geo.rho[3].sum())
    books = geodesic(Ensemble([[0.1], [0.5]]), Ensemble([[0.3], [0.6]]), 0.5)
    table = books.mass()
    assert table.loc[0.3].equals(table.iloc[3])
    assert (books.to_frame().time == 0.7).sum() == 2


def test_a_whole_path_passed_as_an_allocation_names_its_extra_time_dimension(geo):
    """Before: geo.to_xarray()["mass"] (time, regime, weight) on a 2-regime grid was said to
    be "a Series indexed by cell centre" missing its regimes; the fault is the time."""
    pytest.importorskip("xarray")
    from wfr_cvx.grid import as_allocation

    mass = geo.to_xarray()["mass"]
    for value in (mass, mass.transpose("regime", "weight", "time")):
        with pytest.raises(ValueError, match=r"`rho0` is an xarray DataArray with dimensions "
                                             r"\[.*'time'.*\]; an allocation has at most "
                                             r"\['regime', 'weight'\]: \['time'\] is extra.*"
                                             r"`rho0.sel\(time=...\)`"):
            as_allocation(value, geo.grid, "rho0")
    with pytest.raises(ValueError, match=r"`rho0` is a Series with index levels \['time', "
                                         r"'regime', 'weight'\]; .* \['time'\] is extra.*"
                                         r"`rho0.xs\(..., level='time'\)`"):
        as_allocation(mass.to_series(), geo.grid, "rho0")
    # one time selected, it is read by label
    np.testing.assert_array_equal(as_allocation(mass.sel(time=geo.times[2]), geo.grid, "rho0"),
                                  geo.rho[2])


def test_an_unnamed_extra_level_is_selected_by_position_in_the_advice(geo):
    """Before (a review): unnamed levels were advised as `xs(..., level='None')`, which
    pandas cannot find, and all three were called extra."""
    from wfr_cvx.grid import as_allocation

    series = pd.Series(geo.rho[0].ravel(), index=pd.MultiIndex.from_product(
        [list(geo.grid.regimes), geo.grid.weights], names=["regime", "weight"]))
    stacked = pd.concat({0: series, 1: 2 * series})
    with pytest.raises(ValueError, match=r"\['None'\] is extra.*`rho0.xs\(..., level=0\)`"):
        as_allocation(stacked, geo.grid, "rho0")
    np.testing.assert_array_equal(as_allocation(stacked.xs(1, level=0), geo.grid, "rho0"),
                                  2 * geo.rho[0])
    unnamed = stacked.rename_axis([None, None, None])
    with pytest.raises(ValueError, match=r"3 unnamed index levels; it can have at most 2 .*"
                                         r"`rho0.xs\(..., level=0\)`"):
        as_allocation(unnamed, geo.grid, "rho0")
