"""Two weight axes: the three-asset simplex grid, matrix metrics, and the 2-D solves
against independent truths (translation cost, static form, 1-D engine)."""

import warnings

import numpy as np
import pandas as pd
import pytest

import wfr_cvx
from wfr_cvx import Grid
from wfr_cvx.closed_form import _metric_points, static_wfr2_bounds
from wfr_cvx.constraints import MaxVelocity, TotalMass
from wfr_cvx.metric import check_metric, trade_variance_metric

G_OFF = np.array([[2.0, 0.8], [0.8, 1.0]])  # non-diagonal SPD (e.g. an inverse covariance)
#: An anisotropic diagonal metric: read on the faces, one weight per axis (a swap of the
#: axes made d^2 4x low with no test failing)
G_DIAG = np.diag([4.0, 1.0])


def _centre(rho, grid):
    return (rho.reshape(-1)[:, None] * np.tile(grid.coords.reshape(-1, 2),
                                              (grid.n_regimes, 1))).sum(0) / rho.sum()


# ------------------------------------------------------------------------------- grid
def test_simplex_grid_attributes():
    g = Grid.simplex(8, 4, assets=("eq", "bd", "cash"), regimes=("on", "off"))
    assert g.shape == (2, 8, 8) and g.coords.shape == (8, 8, 2) and g.dims == 2
    assert g.assets == ("eq", "bd", "cash")
    assert g.mask.shape == g.shape and int(g.mask[0].sum()) == 8 * 9 // 2
    centres = g.coords[..., 0] + g.coords[..., 1]
    np.testing.assert_array_equal(g.mask[0], centres <= 1.0)
    # faces only between active cells: nothing crosses the simplex edge
    fm = g.face_mask
    assert fm.shape == g.face_shape == (2, 2, 8, 8)
    assert not fm[:, 0, -1].any() and not fm[:, 1, :, -1].any()
    i, j = 7, 0  # last active cell of the first column: its +A face leaves the simplex
    assert g.mask[0, i, j] and not fm[0, 0, i, j]


def test_simplex_allocations_and_mask_errors():
    g = Grid.simplex(10, 2)
    b = g.bump((0.3, 0.2), 0.05, mass=2.0)
    assert b.sum() == pytest.approx(2.0, rel=1e-14) and not b[~g.mask].any()
    np.testing.assert_allclose(_centre(b, g), [0.3, 0.2], atol=2e-3)
    d = g.dirac((0.31, 0.52), mass=3.0)
    assert d[0, 3, 5] == 3.0
    with pytest.raises(ValueError, match="outside the simplex"):
        g.dirac((0.9, 0.9))
    bad = g.zeros()
    bad[0, 9, 9] = 1.0
    bad[0, 8, 9] = 1.0
    with pytest.raises(ValueError, match=r"`rho1` has mass on 2 inactive cell"):
        wfr_cvx.geodesic(b, bad, g, lam=0.5)
    with pytest.raises(ValueError, match="2 weights"):
        g.bump(0.3, 0.05)
    # extra position limits on top of the simplex, per regime
    limited = Grid.simplex(10, 2, regimes=2,
                           mask=[np.ones((10, 10), bool), g.coords[..., 0] <= 0.5])
    assert limited.mask[1].sum() < limited.mask[0].sum() == g.mask[0].sum()


# ------------------------------------------------------------------------- metric
def test_metric_matrices_validated_by_cholesky():
    g = Grid.simplex(6, 2)
    r0, r1 = g.bump((0.3, 0.3), 0.1), g.bump((0.4, 0.3), 0.1)
    with pytest.raises(ValueError, match="positive definite.*Cholesky"):
        wfr_cvx.geodesic(r0, r1, g, 1.0, metric=[[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match="symmetric"):
        wfr_cvx.geodesic(r0, r1, g, 1.0, metric=[[1.0, 0.2], [0.1, 1.0]])
    field = np.broadcast_to(np.eye(2), (6, 6, 2, 2)).copy()
    field[2, 3] = [[1.0, 0.0], [0.0, -1.0]]
    with pytest.raises(ValueError, match=r"cell \(2, 3\)"):
        wfr_cvx.geodesic(r0, r1, g, 1.0, metric=field)
    with pytest.raises(ValueError, match="shape"):
        wfr_cvx.geodesic(r0, r1, g, 1.0, metric=np.eye(3))
    with pytest.raises(ValueError, match="> 0"):
        wfr_cvx.geodesic(r0, r1, g, 1.0, metric=-1.0)


def test_a_metric_field_is_read_on_the_active_cells_only():
    """Before: a field NaN or not SPD only outside the simplex was refused, naming an
    inactive cell, while face weights were read only where faces exist."""
    g = Grid.simplex(4, 1)
    r0, r1 = g.bump((0.3, 0.3), 0.15), g.bump((0.4, 0.2), 0.15)
    outside = ~g.mask[0]
    fields = {}
    for name, value in [("identity", np.eye(2)), ("nan", np.nan),
                        ("indefinite", [[1.0, 2.0], [2.0, 1.0]])]:
        field = np.broadcast_to(G_OFF, (4, 4, 2, 2)).copy()
        field[outside] = value
        fields[name] = field
    checked = check_metric(fields["identity"], g)
    for field in fields.values():
        np.testing.assert_array_equal(check_metric(field, g), checked)
    assert np.isfinite(checked).all()
    assert wfr_cvx.distance(r0, r1, g, 0.5, metric=fields["nan"]) == wfr_cvx.distance(
        r0, r1, g, 0.5, metric=fields["identity"])
    # a diagonal field becomes face weights: what lies beyond the faces (padding, inactive
    # cells) stays within the faces' range, where the solver's scale reads it
    diagonal = np.broadcast_to(G_DIAG, (4, 4, 2, 2)).copy()
    diagonal[..., 0, 0] += g.coords[..., 0]
    reference = check_metric(diagonal, g)
    diagonal[outside] = np.nan
    np.testing.assert_array_equal(check_metric(diagonal, g), reference)
    assert reference.max() == reference[g.face_mask].max()
    # an active cell is still checked, and named
    active = fields["nan"].copy()
    active[1, 2] = [[1.0, 2.0], [2.0, 1.0]]
    with pytest.raises(ValueError, match=r"positive definite.*regime 0, cell \(1, 2\)"):
        check_metric(active, g)
    active[1, 2] = [[np.nan, 0.0], [0.0, 1.0]]
    with pytest.raises(ValueError, match=r"finite on every active cell.*regime 0, cell "
                                         r"\(1, 2\)"):
        check_metric(active, g)


def test_metric_forms_agree():
    """A constant field equals the constant matrix; a diagonal G uses the face scheme,
    which a per-cell diagonal field reproduces; backends agree on a varying field."""
    g = Grid.simplex(8, 4)
    r0, r1 = g.bump((0.25, 0.25), 0.08), 1.3 * g.bump((0.45, 0.3), 0.08)
    lam = 0.4
    const = wfr_cvx.geodesic(r0, r1, g, lam, metric=G_OFF).distance2
    field = np.broadcast_to(G_OFF, (8, 8, 2, 2))
    assert wfr_cvx.geodesic(r0, r1, g, lam, metric=field).distance2 == pytest.approx(
        const, rel=1e-6)
    diag = np.diag([2.0, 0.5])
    d_const = wfr_cvx.geodesic(r0, r1, g, lam, metric=diag).distance2
    d_field = wfr_cvx.geodesic(r0, r1, g, lam,
                               metric=np.broadcast_to(diag, (8, 8, 2, 2))).distance2
    assert d_field == pytest.approx(d_const, rel=1e-6)
    # G = s * I scales transport: at large lam d^2 is s times larger
    w = g.coords[..., 0]
    varying = (1.0 + w)[..., None, None] * G_OFF
    a = wfr_cvx.geodesic(r0, r1, g, lam, metric=varying)
    b = wfr_cvx.geodesic(r0, r1, g, lam, metric=varying, backend="cvxpy")
    assert a.distance2 == pytest.approx(b.distance2, rel=1e-6)
    assert a.distance2 > const  # G grew everywhere


def _labelled_metric(G, labels):
    """G over (IBM, WMT) as a DataFrame labelled ``labels`` (in that order) on both axes."""
    return pd.DataFrame(G, index=labels, columns=labels)


@pytest.mark.parametrize("labels", [["IBM", "WMT"], ["WMT", "IBM"], ["w_WMT", "w_IBM"]])
def test_a_labelled_metric_is_aligned_by_asset_name(labels):
    """Before: a DataFrame metric was read by position -- the same G with its rows and
    columns reordered gave d^2 = 0.0910 instead of 0.0712."""
    g = Grid.simplex(8, 4, assets=("IBM", "WMT", "SEHI"))
    r0, r1 = g.bump((0.2, 0.4), 0.15), g.bump((0.5, 0.2), 0.15)
    G = np.array([[1.0, 0.5], [0.5, 2.0]])
    order = [0, 1] if labels[0].removeprefix("w_") == "IBM" else [1, 0]
    frame = _labelled_metric(G[np.ix_(order, order)], labels)
    np.testing.assert_array_equal(check_metric(frame, g), check_metric(G, g))
    assert wfr_cvx.distance(r0, r1, g, 0.3, metric=frame) == wfr_cvx.distance(
        r0, r1, g, 0.3, metric=G)
    # the static form reads the same metric the same way
    np.testing.assert_array_equal(_metric_points(g, frame), _metric_points(g, G))


def test_a_labelled_data_array_metric_is_aligned_by_asset_name():
    """A DataArray with coordinates is read as its DataFrame, and the per-cell matrices of
    ``Geodesic.to_xarray()`` by their labels.  Before: all were read by position -- a 2 x 2
    G labelled (B, A) gave d^2 0.08637 for 0.04995, with no error."""
    xr = pytest.importorskip("xarray")
    g = Grid.simplex(8, 4)
    r0, r1 = g.bump((0.2, 0.4), 0.15), g.bump((0.5, 0.2), 0.15)
    G = np.array([[1.0, 0.5], [0.5, 2.0]])
    turned = xr.DataArray(G[::-1, ::-1], dims=("r", "c"),
                          coords={"r": ["w_B", "w_A"], "c": ["w_B", "w_A"]})
    np.testing.assert_array_equal(check_metric(turned, g), check_metric(G, g))
    np.testing.assert_array_equal(_metric_points(g, turned), _metric_points(g, G))
    # per cell: the metric of a solve's dataset, its dimensions and labels in any order
    cells = np.broadcast_to(G, (1, 8, 8, 2, 2)) * (1.0 + g.coords.sum(-1))[None, ..., None,
                                                                           None]
    field = wfr_cvx.geodesic(r0, r1, g, 0.3, metric=cells).to_xarray()["metric"]
    shuffled = field.transpose("w_B", "column", "regime", "row", "w_A").sortby(
        "w_A", ascending=False).sortby("row", ascending=False)
    np.testing.assert_array_equal(check_metric(shuffled, g), check_metric(cells, g))
    # without coordinates: by position, as an array
    np.testing.assert_array_equal(check_metric(xr.DataArray(G), g), check_metric(G, g))
    with pytest.raises(ValueError, match=r"`metric` row label 'C' is not one of the weight "
                                         r"axes' assets .*'C' is the remainder asset"):
        check_metric(field.assign_coords(row=["A", "C"]), g)
    with pytest.raises(ValueError, match=r"`metric` is an xarray DataArray with dimensions "
                                         r"\['regime', 'w_A', 'w_B', 'axis'\]"):
        check_metric(field.isel(column=0).rename(row="axis"), g)
    with pytest.raises(ValueError, match=r"coordinates on some dimensions only.*\['c'\]"):
        check_metric(xr.DataArray(G, dims=("r", "c"), coords={"r": ["A", "B"]}), g)


def test_a_labelled_data_array_metric_on_a_1d_grid_is_read_per_face():
    """The ``metric`` of ``Geodesic.to_xarray()`` (regime, face) in any order of its faces
    and dimensions.  Before: read by position, its faces reversed."""
    xr = pytest.importorskip("xarray")
    g = Grid(8, 2, regimes=("x", "y"))
    faces = np.linspace(1.0, 2.0, 7)
    field = wfr_cvx.geodesic(g.dirac(0.3, "x"), g.dirac(0.6, "y"), g, 0.3,
                             metric=faces).to_xarray()["metric"]
    turned = field.sortby("face", ascending=False).transpose("face", "regime")
    np.testing.assert_array_equal(check_metric(turned, g), check_metric(faces, g))
    shared = xr.DataArray(faces[::-1], dims="face", coords={"face": g.faces[::-1]})
    np.testing.assert_array_equal(check_metric(shared, g), check_metric(faces, g))


def test_a_labelled_metric_on_a_grid_without_assets_names_a_and_b():
    g = Grid(4, 2, dims=2)
    frame = _labelled_metric(G_OFF[::-1, ::-1], ["B", "A"])
    np.testing.assert_array_equal(check_metric(frame, g), check_metric(G_OFF, g))


G_LABELLED = _labelled_metric(G_OFF, ["IBM", "WMT"])


@pytest.mark.parametrize(
    ("metric", "match"),
    [
        (G_LABELLED.set_axis(["X", "Y"]).set_axis(["X", "Y"], axis=1),
         r"`metric` index must be the weight axes' assets \['IBM', 'WMT'\] .*label 'X' is "
         r"not one"),
        (_labelled_metric(np.eye(3), ["SEHI", "IBM", "WMT"]),
         r"`metric` is labelled by all three assets .*trade_variance_metric"),
        (_labelled_metric(np.eye(2), ["w_IBM", "w_SEHI"]),
         r"label 'w_SEHI' is not one .*'SEHI' is the remainder asset"),
        (_labelled_metric(G_OFF, ["IBM", "SEHI"]), r"label 'SEHI' is not one"),
        (_labelled_metric(G_OFF, ["WMT", "WMT"]), r"`metric` index .* each exactly once, got "
                                                  r"\['WMT', 'WMT'\]"),
        (G_LABELLED.set_axis(["w_IBM", "w_WMT"], axis=1),
         r"`metric` index and columns must carry the same labels"),
        (G_LABELLED.set_axis(["WMT", "IBM"], axis=1).set_axis(["IBM", "X"]),
         r"`metric` index .*label 'X'"),
        (pd.Series([1.0, 2.0], index=["IBM", "WMT"]), r"`metric` on a 2-D grid cannot be a "
                                                      r"Series"),
    ],
)
def test_metric_labels_that_are_not_weight_axes_are_refused(metric, match):
    """Before: every one of these was read by position (or refused for its shape only)."""
    g = Grid.simplex(6, 2, assets=("IBM", "WMT", "SEHI"))
    r0, r1 = g.bump((0.3, 0.3), 0.1), g.bump((0.4, 0.3), 0.1)
    with pytest.raises(ValueError, match=match):
        wfr_cvx.geodesic(r0, r1, g, 1.0, metric=metric)
    with pytest.raises(ValueError, match=match):
        _metric_points(g, metric)


COV3 = pd.DataFrame([[4.0, 1.0, 0.5], [1.0, 2.0, 0.3], [0.5, 0.3, 3.0]],
                    index=["IBM", "WMT", "SEHI"], columns=["IBM", "WMT", "SEHI"])


@pytest.mark.parametrize("order", [["IBM", "WMT", "SEHI"], ["SEHI", "WMT", "IBM"],
                                   ["WMT", "SEHI", "IBM"]])
def test_trade_variance_metric_reads_a_labelled_covariance_by_name(order):
    """Before: the DataFrame was read by position, its last column taken as the funding
    asset -- the shipped prices' covariance with columns (SEHI, WMT, IBM) gave d^2 0.0898
    instead of 0.0458 on a small simplex problem."""
    g = Grid.simplex(6, 2, assets=("IBM", "WMT", "SEHI"))
    r0, r1 = g.bump((0.3, 0.3), 0.15), g.bump((0.45, 0.2), 0.15)
    P = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])  # dw_SEHI = -dw_IBM - dw_WMT
    expected = P.T @ COV3.to_numpy() @ P
    shuffled = COV3.loc[order, order]
    G = trade_variance_metric(shuffled, assets=g.assets)
    assert list(G.index) == list(G.columns) == ["IBM", "WMT"]
    np.testing.assert_allclose(G.to_numpy(), expected, rtol=1e-15)
    assert wfr_cvx.distance(r0, r1, g, 0.3, metric=G) == wfr_cvx.distance(
        r0, r1, g, 0.3, metric=expected)
    # without `assets` the DataFrame's own order decides the funding asset, and a grid
    # funded by another asset refuses the result instead of reading it by position
    unordered = trade_variance_metric(shuffled)
    assert list(unordered.index) == order[:2]
    if order[-1] == "SEHI":
        np.testing.assert_array_equal(check_metric(unordered, g), check_metric(expected, g))
    else:
        with pytest.raises(ValueError, match=r"'SEHI' is the remainder asset.*"
                                             r"trade_variance_metric\(cov, assets=grid"):
            check_metric(unordered, g)


def test_trade_variance_metric_reads_a_labelled_data_array_by_name():
    """Before: a DataArray covariance was read by position, its last row the funding asset."""
    xr = pytest.importorskip("xarray")
    order = ["SEHI", "WMT", "IBM"]
    shuffled = xr.DataArray(COV3.loc[order, order].to_numpy(), dims=("a", "b"),
                            coords={"a": order, "b": order})
    assets = ("IBM", "WMT", "SEHI")
    pd.testing.assert_frame_equal(trade_variance_metric(shuffled, assets=assets),
                                  trade_variance_metric(COV3, assets=assets))


@pytest.mark.parametrize(
    ("cov", "assets", "match"),
    [
        (COV3, ["IBM", "WMT", "X"], r"`cov` index must be the assets \['IBM', 'WMT', 'X'\] "
                                    r".*label 'SEHI'"),
        (COV3, ["IBM", "WMT"], r"`cov` index must be the assets"),
        (COV3, ["IBM", "IBM", "SEHI"], r"`assets` must name each asset once"),
        (COV3.set_axis(["a", "b", "c"], axis=1), None,
         r"`cov` index must be the assets \['a', 'b', 'c'\] .*label 'IBM'"),
        (COV3.to_numpy(), ["IBM", "WMT"], r"`assets` must name the 3 assets of `cov`"),
        (COV3["IBM"], None, r"`cov` must be a square matrix .*Series"),
    ],
)
def test_trade_variance_metric_refuses_labels_that_do_not_match(cov, assets, match):
    with pytest.raises((ValueError, TypeError), match=match):
        trade_variance_metric(cov, assets=assets)


def test_a_labelled_metric_on_a_grid_without_assets_is_refused_for_other_names():
    with pytest.raises(ValueError, match=r"label 'IBM' is not one .*this grid names no "
                                         r"assets"):
        check_metric(G_LABELLED, Grid(4, 2, dims=2))


# ------------------------------------------------------------------- acceptance 1
@pytest.mark.parametrize("metric", [None, G_OFF, G_DIAG],
                         ids=["identity", "off-diagonal", "diagonal"])
def test_translation_at_large_lam_costs_mass_times_dw_G_dw(metric):
    """n = 32, n_steps = 16, within 2 % of m dw^T G dw."""
    g = Grid.simplex(32, 16)
    mass = 1.7
    r0 = g.bump((0.25, 0.25), 0.06, mass=mass)
    r1 = g.bump((0.45, 0.30), 0.06, mass=mass)
    dw = _centre(r1, g) - _centre(r0, g)
    G = np.eye(2) if metric is None else metric
    geo = wfr_cvx.geodesic(r0, r1, g, lam=5.0, metric=metric)
    assert geo.distance2 == pytest.approx(mass * dw @ G @ dw, rel=0.02)
    assert geo.reaction_cost < 1e-3 * geo.distance2
    assert np.abs(geo.continuity_residual()).max() < 1e-7 * mass
    # the path stays in the simplex; at finite lam the mass dips slightly on the way
    # (by ~(|dw| / 4 lam)^2 / 2 ~ 1e-4 here, the cone geometry of WFR)
    assert not geo.rho[:, ~g.mask].any()
    np.testing.assert_allclose(geo.mass()["0"], mass, rtol=1e-3)


# ------------------------------------------------------------------- acceptance 2
@pytest.mark.parametrize("metric", [None, G_OFF, G_DIAG],
                         ids=["identity", "off-diagonal", "diagonal"])
def test_2d_bumps_match_the_static_form(metric):
    """Mixed transport and reaction, n = 32, n_steps = 16."""
    g = Grid.simplex(32, 16)
    r0 = g.bump((0.3, 0.3), 0.05)
    r1 = g.bump((0.45, 0.25), 0.05, mass=1.5)
    lam = 0.1
    lower, upper = static_wfr2_bounds(r0, r1, g, lam, metric=metric)
    assert upper - lower < 1e-4 * upper  # the static truth is certified
    with warnings.catch_warnings():
        # Measured: Clarabel stalls here at a relative gap of ~3e-8 (just above its 1e-8
        # target) and reports "AlmostSolved" (qdldl and faer alike): a warning, the value
        # is far more accurate than the 2 % discretisation tolerance checked here.
        warnings.simplefilter("ignore", wfr_cvx.InaccurateSolutionWarning)
        geo = wfr_cvx.geodesic(r0, r1, g, lam, metric=metric)
    assert geo.status in ("Solved", "AlmostSolved")
    assert geo.distance2 == pytest.approx(upper, rel=0.02)
    assert geo.reaction_cost > 0.1 * geo.distance2 and geo.transport_cost > 0.1 * geo.distance2


# ------------------------------------------------------------------- acceptance 3
@pytest.mark.parametrize("scheme, path_atol", [("centred", 5e-4), ("power", 1e-5)])
@pytest.mark.parametrize("lam", [0.1, 0.5])
def test_mass_on_one_grid_line_agrees_with_the_1d_engine(lam, scheme, path_atol):
    """The simplex's first column (w_A = 1 / 2n) is a full 1-D grid.

    Summing a 2-D path over w_A gives an admissible 1-D path that costs no more (the
    perspective cost is subadditive, the time means super-additive), and the 1-D path
    embeds, so the discrete values agree up to the solver's tolerance.  The paths agree to
    1e-5 of the peak with "power"; the centred scheme's optimum is not a single path (its
    cost is flat along some odd-even modes of the momentum), and the two interior-point
    solves end 1.7e-4 of the peak apart at lam = 0.1 with d^2 equal to 1e-7, stable under
    tighter tolerances.
    """
    n, steps = 16, 8
    g1, g2 = Grid(n, steps, regimes=2), Grid.simplex(n, steps, regimes=2)
    r0 = g1.bump(0.3, 0.08, regime=0) + 0.4 * g1.bump(0.6, 0.1, regime=1)
    r1 = 1.4 * g1.bump(0.6, 0.08, regime=0) + 0.2 * g1.bump(0.3, 0.1, regime=1)

    def lift(r):
        out = g2.zeros()
        out[:, 0, :] = r
        return out

    one = wfr_cvx.geodesic(r0, r1, g1, lam, scheme=scheme)
    two = wfr_cvx.geodesic(lift(r0), lift(r1), g2, lam, scheme=scheme)
    assert two.distance2 == pytest.approx(one.distance2, rel=1e-5)
    np.testing.assert_allclose(two.rho[:, :, 0, :], one.rho, atol=path_atol * r0.max())
    assert np.abs(two.momentum[:, :, 0]).max() < 1e-5 * np.abs(one.momentum).max()


# ------------------------------------------------------------ backends, constraints
def test_backends_agree_in_2d_with_constraints():
    g = Grid.simplex(8, 4, regimes=2)
    r0 = g.bump((0.25, 0.25), 0.1, regime=0) + 0.5 * g.bump((0.5, 0.2), 0.1, regime=1)
    r1 = 1.2 * g.bump((0.4, 0.3), 0.1, regime=0) + 0.3 * g.bump((0.2, 0.5), 0.1, regime=1)
    for metric in (None, G_OFF):
        for constraints in ((), (MaxVelocity(0.3),)):
            a = wfr_cvx.geodesic(r0, r1, g, 0.3, metric=metric, constraints=constraints)
            b = wfr_cvx.geodesic(r0, r1, g, 0.3, metric=metric, constraints=constraints,
                                 backend="cvxpy")
            assert b.distance2 == pytest.approx(a.distance2, rel=1e-6)
            np.testing.assert_allclose(b.rho, a.rho, atol=1e-6)
            np.testing.assert_allclose(b.momentum, a.momentum, atol=1e-6)
            if constraints:
                assert np.all(np.abs(a.momentum) <= 0.3 * a.rho_face + 1e-9)


def test_2d_constraints_and_position_limits():
    g = Grid.simplex(10, 6)
    r0, r1 = g.bump((0.2, 0.2), 0.08), g.bump((0.5, 0.3), 0.08)
    lam = 0.5
    free = wfr_cvx.geodesic(r0, r1, g, lam)
    capped = wfr_cvx.geodesic(r0, r1, g, lam, constraints=[MaxVelocity(0.2)])
    assert capped.distance2 > free.distance2
    where = capped.rho_face > 1e-3 * capped.rho_face.max()
    assert np.abs(capped.velocity[where]).max() <= 0.2 + 1e-6
    # a position limit w_B <= 0.25 in the middle of the move: no mass ever there
    limited = Grid.simplex(10, 6, mask=(g.coords[..., 1] <= 0.25) | (g.coords[..., 0] >= 0.45))
    geo = wfr_cvx.geodesic(r0 * limited.mask, r1 * limited.mask, limited, lam)
    assert not geo.rho[:, ~limited.mask].any()
    # TotalMass on probability measures (Laschos-Mielke cone relation)
    r1b = g.bump((0.5, 0.3), 0.08)
    spherical = wfr_cvx.geodesic(r0, r1b, g, lam, constraints=[TotalMass()])
    np.testing.assert_allclose(spherical.mass()["0"], 1.0, rtol=1e-7)
    d2_free = wfr_cvx.geodesic(r0, r1b, g, lam).distance2
    theta = np.arccos(1 - d2_free / (8 * lam**2))
    assert spherical.distance2 == pytest.approx(4 * lam**2 * theta**2, rel=2e-3)


def test_2d_outputs():
    g = Grid.simplex(6, 3, regimes=("on", "off"))
    r0 = g.bump((0.3, 0.3), 0.1, regime="on")
    r1 = g.bump((0.4, 0.2), 0.1, regime="off")
    geo = wfr_cvx.geodesic(r0, r1, g, 0.5)
    assert geo.momentum.shape == (3, 2, 2, 6, 6) and geo.rho.shape == (4, 2, 6, 6)
    assert not geo.momentum[:, :, 0, -1].any() and not geo.momentum[:, :, 1, :, -1].any()
    frame = geo.to_frame()
    assert list(frame.columns) == ["time", "regime", "w_A", "w_B", "w_C", "mass",
                                   "velocity_A", "velocity_B", "rate"]
    assert len(frame) == 4 * int(g.mask.sum())
    np.testing.assert_allclose(frame.w_A + frame.w_B + frame.w_C, 1.0)
    assert frame.mass.sum() == pytest.approx(geo.rho.sum())
    assert geo.mass().shape == (4, 2)


@pytest.mark.parametrize("metric", [None, G_OFF], ids=["identity", "off-diagonal"])
def test_first_order_backend_on_the_simplex(metric):
    """The "scs" and "dr" backends read the same 2-D cone program (4-dimensional cones included)."""
    g = Grid.simplex(8, 4)
    r0, r1 = g.bump((0.25, 0.25), 0.1), 1.2 * g.bump((0.45, 0.3), 0.1)
    a = wfr_cvx.geodesic(r0, r1, g, 0.3, metric=metric)
    b = wfr_cvx.geodesic(r0, r1, g, 0.3, metric=metric, backend="scs")
    assert b.distance2 == pytest.approx(a.distance2, rel=1e-4)
    c = wfr_cvx.geodesic(r0, r1, g, 0.3, metric=metric, backend="dr")
    assert c.distance2 == pytest.approx(a.distance2, rel=1e-4)
    assert np.abs(c.continuity_residual()).max() < 1e-6
    # continuity holds by construction; the residual left is the round-off negatives of
    # the first-order levels, clipped to 0 (SCS's feasibility tolerance, ~1e-8 of mass)
    assert np.abs(b.continuity_residual()).max() < 1e-6


@pytest.mark.parametrize("c", [1e-5, 1e-6])
def test_a_diagonal_metric_matrix_is_the_scalar_metric(c):
    """Before: the padding face after each axis's last cell held G = 1, which metric_reach
    read -- c * I gave d^2 1.064x (c = 1e-5) and 2.95x (1e-6) the scalar c's, at Solved."""
    from wfr_cvx.metric import metric_reach

    g = Grid.simplex(16, 8)
    a, b = g.bump((0.25, 0.25), 0.06), g.bump((0.375, 0.25), 0.06)
    assert metric_reach(check_metric(c * np.eye(2), g)) == pytest.approx(np.sqrt(c))
    with warnings.catch_warnings():
        # transport this cheap beside the masses is the interior point's hard case: the
        # path check warns (0.5 % / 5 %), the same for both forms of the metric
        warnings.simplefilter("ignore", wfr_cvx.InaccurateSolutionWarning)
        matrix = wfr_cvx.distance(a, b, g, 0.3, metric=c * np.eye(2))
        scalar = wfr_cvx.distance(a, b, g, 0.3, metric=c)
    assert matrix == pytest.approx(scalar, rel=1e-6)


def test_a_labelled_two_asset_trade_variance_metric_on_a_1d_grid():
    """Before: the 1 x 1 DataFrame trade_variance_metric returns for a labelled covariance
    of two assets was read as a per-face table and refused ("column 'eq' is not a
    regime")."""
    cov = pd.DataFrame([[0.04, 0.01], [0.01, 0.02]], index=["eq", "bd"], columns=["eq", "bd"])
    g = Grid(8, 2, assets=("eq", "bd"))
    expected = check_metric(trade_variance_metric(cov.to_numpy()), g)
    np.testing.assert_array_equal(check_metric(trade_variance_metric(cov, assets=g.assets),
                                               g), expected)
    np.testing.assert_array_equal(check_metric(trade_variance_metric(cov), Grid(8, 2)),
                                  expected)
    with pytest.raises(ValueError, match=r"labelled 'bd', but the grid's weight axis is 'eq'"):
        check_metric(trade_variance_metric(cov, assets=["bd", "eq"]), g)


def test_a_metric_diagonal_up_to_round_off_takes_the_diagonal_form():
    """Before: off-diagonal entries of 1e-12 switched a per-cell field to the cell-matrix
    discretisation, 1.5 % away in d^2 (both are O(h) discretisations of the same cost)."""
    s = Grid.simplex(10, 6)
    a, b = s.bump((0.3, 0.2), 0.12), s.bump((0.5, 0.25), 0.12, mass=0.6)
    rng = np.random.default_rng(0)
    diagonal = np.zeros((1, 10, 10, 2, 2))
    diagonal[..., 0, 0] = rng.uniform(0.5, 3, (1, 10, 10))
    diagonal[..., 1, 1] = rng.uniform(0.5, 3, (1, 10, 10))
    nearly = diagonal.copy()
    nearly[..., 0, 1] = nearly[..., 1, 0] = 1e-12
    d0 = wfr_cvx.geodesic(a, b, s, lam=0.3, metric=diagonal).distance2
    assert wfr_cvx.geodesic(a, b, s, lam=0.3, metric=nearly).distance2 == pytest.approx(
        d0, rel=1e-8)


def test_a_labelled_simplex_mask_is_read_by_label():
    """Before: a labelled mask was read by position, its (w_A, w_B) labels ignored."""
    g = Grid.simplex(6, 1, assets=("IBM", "WMT", "SEHI"))
    points = g.coords.reshape(-1, 2)
    index = pd.MultiIndex.from_arrays([points[:, 1], points[:, 0]], names=["w_WMT", "w_IBM"])
    keep = pd.Series(points[:, 0] <= 0.5, index=index)  # IBM capped at 0.5
    intended = g.mask & (g.coords[..., 0] <= 0.5)
    limited = Grid.simplex(6, 1, assets=("IBM", "WMT", "SEHI"), mask=keep.iloc[::-1])
    assert np.array_equal(limited.mask, intended)
    # cells outside the simplex are inactive anyway: they may be left out
    inside = keep[(index.get_level_values(0) + index.get_level_values(1)) <= 1.0]
    assert np.array_equal(Grid.simplex(6, 1, assets=("IBM", "WMT", "SEHI"), mask=inside).mask,
                          intended)
    with pytest.raises(ValueError, match=r"`mask` has no entry for 1 cell\(s\)"):
        Grid.simplex(6, 1, assets=("IBM", "WMT", "SEHI"), mask=inside.iloc[1:])
    with pytest.raises(TypeError, match="`mask` must hold bools"):
        Grid.simplex(6, 1, assets=("IBM", "WMT", "SEHI"), mask=keep.astype(float))


def test_a_simplex_too_large_is_refused_before_its_cells_are_allocated(monkeypatch):
    """Before: Grid.simplex(20000, 4) built an n x n array of centre sums (3 GiB) before the
    size check and died with a bare MemoryError."""
    import tracemalloc

    from wfr_cvx import _memory
    from wfr_cvx.errors import ProblemTooLargeError

    monkeypatch.setattr(_memory, "memory_budget",
                        lambda: _memory.MemoryBudget(2**20, "test budget"))
    n = 1500
    tracemalloc.start()
    try:
        with pytest.raises(ProblemTooLargeError, match=r"Grid of 1 regime\(s\) x 2,250,000 "
                                                       r"weight cells .* \(test budget\)"):
            Grid.simplex(n, 4)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < n * n  # not one byte per cell, let alone a float per cell
