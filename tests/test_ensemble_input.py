"""Ensemble construction and the validation of every argument of the ensemble geodesic:
each bad input raises the promised error, naming the argument and what was expected."""

from decimal import Decimal
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from wfr_cvx.constraints import MaxVelocity
from wfr_cvx.ensemble import Ensemble, MaxTravel, distance, geodesic
from wfr_cvx.finance.markowitz import efficient_frontier, estimate, load_prices

W = np.array([[0.2, 0.3, 0.5], [0.6, 0.4, 0.0]])


# ------------------------------------------------------------------ construction
def test_defaults_and_attributes():
    e = Ensemble(W)
    assert e.assets == ("0", "1", "2") and e.regimes == ("0",)
    assert e.n_atoms == len(e) == 2 and e.n_assets == 3 and e.total_mass == 2.0
    assert e.regime.tolist() == [0, 0] and e.mass.tolist() == [1.0, 1.0]
    assert e.domain is None and list(e.atoms) == [0, 1]
    with pytest.raises(ValueError):
        e.weights[0, 0] = 1.0   # read-only
    assert repr(e) == "Ensemble(n_atoms=2, assets=('0', '1', '2'), regimes=('0',), total_mass=2)"


def test_an_ensemble_keeps_its_own_copy_of_the_callers_data():
    """Changing the caller's frame, Series or array after construction changes neither the
    ensemble nor its distance (a float DataFrame's weights were a view of the frame)."""
    books = pd.DataFrame([[0.2, 0.8], [0.5, 0.5]], columns=["IBM", "WMT"])
    target = Ensemble.from_portfolios(pd.DataFrame([[0.3, 0.7], [0.6, 0.4]],
                                                   columns=["IBM", "WMT"]))
    e = Ensemble.from_portfolios(books)
    before = geodesic(e, target, lam=0.3).distance2
    books.iloc[0, 0], books.iloc[0, 1] = 0.9, 0.1
    assert e.weights.tolist() == [[0.2, 0.8], [0.5, 0.5]]
    assert geodesic(e, target, lam=0.3).distance2 == before
    frame, mass, lower = (pd.DataFrame([[0.2, 0.8], [0.5, 0.5]]), pd.Series([1.0, 2.0]),
                          pd.Series([-1.0, -1.0], index=["0", "1"]))
    array, masses, upper = np.array([[0.2, 0.8], [0.5, 0.5]]), np.array([1.0, 2.0]), \
        np.array([2.0, 2.0])
    made = [Ensemble(frame, mass=mass, domain=(lower, 2.0)),
            Ensemble(array, mass=masses, domain=(-1.0, upper))]
    frame.iloc[0, 0] = array[0, 0] = 7.0
    mass.iloc[0] = masses[0] = 9.0
    lower.iloc[0] = upper[0] = 0.5
    for e in made:
        assert e.weights.tolist() == [[0.2, 0.8], [0.5, 0.5]]
        assert e.mass.tolist() == [1.0, 2.0]
        assert e.domain[0].tolist() == [-1.0, -1.0] and e.domain[1].tolist() == [2.0, 2.0]


def test_regimes_from_labels_codes_and_a_fixed_order():
    e = Ensemble(W, regime=["on", "off"])
    assert e.regimes == ("off", "on") and e.regime.tolist() == [1, 0]
    fixed = Ensemble(W, regime=["on", "off"], regimes=("on", "off", "crisis"))
    assert fixed.regime.tolist() == [0, 1]
    assert fixed.regime_mass().to_dict() == {"on": 1.0, "off": 1.0, "crisis": 0.0}
    codes = Ensemble(W, regime=[2, 0])
    assert codes.regimes == ("0", "1", "2") and codes.regime.tolist() == [2, 0]
    one = Ensemble(W, regime="crisis")
    assert one.regimes == ("crisis",) and one.regime_labels.tolist() == ["crisis"] * 2


def test_integer_regimes_are_labels_when_the_regimes_name_them():
    """``regimes=(1, 2)`` are the labels "1" and "2": the integer 2 is the label "2", as
    Grid.regime_index reads it, and 1 (the label "1" and the position of "2") is refused as
    ambiguous.  Before: integers were positions, so ``regime=[1]`` was "2" and the distance
    to the same book in regime "2" was 0 instead of the regime switch 4 lam^2 (1 + 1)."""
    x = [[0.2, 0.8]]
    two = Ensemble(x, regime=["2"], regimes=(1, 2))
    for regime in ([2], 2, np.array([2]), pd.Series([2])):
        assert Ensemble(x, regime=regime, regimes=(1, 2)).regime_labels.tolist() == ["2"]
    assert Ensemble(x, regime=[0], regimes=(1, 2)).regime_labels.tolist() == ["1"]
    with pytest.raises(ValueError, match=r"`regime` 1 \(atom 0\) is ambiguous: it names "
                                         r"regime '1' \(position 0\) and is the position of "
                                         r"regime '2'; pass the label as a string"):
        Ensemble(x, regime=[1], regimes=(1, 2))
    one = Ensemble(x, regime=["1"], regimes=(1, 2))
    assert geodesic(one, two, 0.3).distance2 == pytest.approx(4 * 0.3**2 * 2, rel=1e-9)
    # positions into labels that are no integers are read as before
    assert Ensemble(W, regime=[1, 0], regimes=("x", "y")).regime_labels.tolist() == ["y", "x"]


def test_data_frames_and_series_align_by_label():
    frame = pd.DataFrame(W, columns=["eq", "bd", "cash"], index=["p", "q"])
    mass = pd.Series({"q": 3.0, "p": 1.0})
    regime = pd.Series({"q": "off", "p": "on"})
    e = Ensemble(frame, mass, regime)
    assert e.assets == ("eq", "bd", "cash") and list(e.atoms) == ["p", "q"]
    assert e.mass.tolist() == [1.0, 3.0] and e.regime_labels.tolist() == ["on", "off"]
    picked = Ensemble(frame, assets=("cash", "eq"))
    assert picked.assets == ("cash", "eq") and picked.weights[0].tolist() == [0.5, 0.2]
    table = frame.assign(m=[1.0, 3.0], state=["on", "off"])
    from_table = Ensemble.from_frame(table, mass="m", regime="state")
    np.testing.assert_array_equal(from_table.weights, e.weights)
    assert from_table.to_frame()["regime"].tolist() == ["on", "off"]


def test_from_portfolios_takes_a_frontier_as_is():
    mu, cov = estimate(load_prices())
    frontier = efficient_frontier(mu, cov, n_points=5)
    e = Ensemble.from_portfolios(frontier, domain="simplex")
    assert e.assets == tuple(mu.index) and e.n_atoms == 5
    with pytest.raises(TypeError, match="`portfolios` must be a pandas DataFrame"):
        Ensemble.from_portfolios(frontier.to_numpy())


def test_domains():
    assert Ensemble(W, domain="simplex").domain == "simplex"
    box = Ensemble(W, domain=(0.0, pd.Series({"2": 0.5, "0": 0.6, "1": 0.4})))
    assert box.domain[1].tolist() == [0.6, 0.4, 0.5]
    Ensemble(W + 1e-10, domain=(0.0, 1.0))   # round-off is tolerated
    long_short = Ensemble([[1.5, -0.5]], domain=(-1.0, 2.0))
    assert long_short.weights[0, 1] == -0.5


def test_box_domains_are_compared_asset_by_asset():
    """Before: the bounds were compared by position -- e1 listing its assets (B, A) with
    lower bounds (0, 0.1) counted as e0's box (A >= 0, B >= 0.1), and the path's end was
    refused: "asset 'B' is 0.05, expected within [0.1, 1]"."""
    e0 = Ensemble([[0.5, 0.5]], assets=("A", "B"), domain=([0.0, 0.1], 1.0))
    other_box = Ensemble([[0.05, 0.5]], assets=("B", "A"), domain=([0.0, 0.1], 1.0))
    geo = geodesic(e0, other_box, 0.5)
    np.testing.assert_allclose(geo.at(1.0).weights[0], [0.5, 0.05])  # e0's asset order
    assert len(geo.to_frame()) > 0
    same_box = Ensemble([[0.5, 0.2]], assets=("B", "A"), domain=([0.1, 0.0], 1.0))
    kept = geodesic(e0, same_box, 0.5).at(0.5)
    assert kept.domain[0].tolist() == [0.0, 0.1]


# ------------------------------------------------------------------ bad ensembles
@pytest.mark.parametrize("weights, error, match", [
    ([[0.1, np.nan]], ValueError, r"`weights` must be finite; atom 0, asset '1' is nan"),
    ([[0.1, 0.2], [0.3, np.inf]], ValueError, r"atom 1, asset '1' is inf"),
    ([0.1, 0.2], ValueError, r"`weights` must have shape \(N atoms, n assets\), got \(2,\)"),
    (np.zeros((2, 2, 2)), ValueError, r"shape \(N atoms, n assets\), got \(2, 2, 2\)"),
    (np.zeros((2, 0)), ValueError, "at least one asset"),
    ([["a", "b"]], TypeError, "`weights` must hold real numbers"),
    ([[True, False]], TypeError, "`weights` must hold real numbers"),
])
def test_bad_weights(weights, error, match):
    with pytest.raises(error, match=match):
        Ensemble(weights)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"mass": [1.0, -0.5]}, ValueError, r"`mass` must be finite and >= 0; atom 1 has -0.5"),
    ({"mass": [1.0, np.nan]}, ValueError, "`mass` must be finite"),
    ({"mass": [1.0]}, ValueError, r"`mass` must have shape \(2,\)"),
    ({"assets": ("a", "a", "b")}, ValueError, r"`assets` labels must be unique.*\['a'\]"),
    ({"assets": ("a", "b")}, ValueError, "`assets` has 2 labels but `weights` has 3 columns"),
    ({"regime": ["on", "bear"], "regimes": ("on", "off")}, ValueError,
     r"`regime` labels \['bear'\] are not in `regimes`"),
    ({"regime": [0, 3], "regimes": ("on", "off")}, ValueError,
     r"`regime` 3 \(atom 1\) is neither a regime of \('on', 'off'\) nor a position below 2"),
    ({"regime": [0.5, 1.0]}, TypeError, "`regime` must hold labels .* or integer codes"),
    ({"regime": ["on"]}, ValueError, r"`regime` must have shape \(2,\)"),
    ({"regimes": ("on", "on")}, ValueError, "`regimes` labels must be unique"),
    ({"domain": "simplex"}, ValueError, r"atom 0 sums to 1.0|`domain`"),
])
def test_bad_ensemble_arguments(kwargs, error, match):
    weights = W if kwargs.get("domain") != "simplex" else W * 0.9
    with pytest.raises(error, match=match):
        Ensemble(weights, **kwargs)


def test_domain_violations_name_the_atom_and_asset():
    with pytest.raises(ValueError, match=r"atom 1 sums to 0.9.*expected 1 within 3e-09"):
        Ensemble([[0.5, 0.5, 0.0], [0.5, 0.4, 0.0]], domain="simplex")
    with pytest.raises(ValueError, match=r"atom 0, asset '1' is -0.1.*\[0, inf\]"):
        Ensemble([[1.1, -0.1]], domain="simplex")
    with pytest.raises(ValueError, match=r"atom 1 \('q'\), asset 'bd' is 0.8, expected within "
                                         r"\[0, 0.7\]"):
        Ensemble(pd.DataFrame({"eq": [0.5, 0.2], "bd": [0.5, 0.8]}, index=["p", "q"]),
                 domain=(0.0, pd.Series({"eq": 1.0, "bd": 0.7})))
    with pytest.raises(ValueError, match="lower bound 0.5 exceeds the upper bound 0.2"):
        Ensemble(W, domain=(0.5, 0.2))
    with pytest.raises(ValueError, match=r"`domain` upper bound has no entry for assets \['2'\]"):
        Ensemble(W, domain=(0.0, pd.Series({"0": 1.0, "1": 1.0})))
    with pytest.raises(ValueError, match="`domain` must be None, 'simplex' or"):
        Ensemble(W, domain="box")
    with pytest.raises(TypeError, match="`domain` must be None, 'simplex' or a pair"):
        Ensemble(W, domain=(0.0, 1.0, 2.0))


def test_bad_frames():
    frame = pd.DataFrame(W, columns=["a", "b", "c"], index=["p", "p"])
    with pytest.raises(ValueError, match="`weights` index .* duplicate"):
        Ensemble(frame)
    frame.index = ["p", "q"]
    with pytest.raises(ValueError, match=r"`mass` index must match.*missing \['q'\], extra "
                                         r"\['r'\]"):
        Ensemble(frame, pd.Series({"p": 1.0, "r": 2.0}))
    with pytest.raises(ValueError, match=r"`assets` \['z'\] are not columns of `weights`"):
        Ensemble(frame, assets=("a", "z"))
    with pytest.raises(ValueError, match="`mass` column 'm' is not in `frame`"):
        Ensemble.from_frame(frame, mass="m")


# ------------------------------------------------------------------ bad geodesic arguments
E0 = Ensemble(W, regime=["on", "off"], assets=("eq", "bd", "cash"))
E1 = Ensemble(W[::-1], regime=["on", "off"], assets=("eq", "bd", "cash"))


def test_mismatched_assets_list_the_difference():
    other = Ensemble(W, assets=("eq", "bd", "gold"))
    with pytest.raises(ValueError, match=r"`e1` misses \['cash'\] and has extra \['gold'\]"):
        geodesic(E0, other, 0.5)
    with pytest.raises(TypeError, match="`e1` must be a wfr_cvx.ensemble.Ensemble"):
        geodesic(E0, W, 0.5)


@pytest.mark.parametrize("lam, error", [(0.0, ValueError), (-1.0, ValueError),
                                        (np.nan, ValueError), ("1", TypeError),
                                        (1e9, ValueError)])
def test_bad_lam(lam, error):
    with pytest.raises(error, match="`lam`"):
        geodesic(E0, E1, lam)


@pytest.mark.parametrize("metric, match", [
    (np.array([[1.0, 0.5, 0.0], [0.4, 1.0, 0.0], [0.0, 0.0, 1.0]]), "must be symmetric"),
    (np.diag([1.0, -1.0, 1.0]), r"must be positive definite; Cholesky failed \(smallest "
                                r"eigenvalue -1\)"),
    (np.eye(2), r"must be a scalar or an 3 x 3 matrix .*got shape \(2, 2\)"),
    (-2.0, "`metric` scalar must be finite and > 0"),
    (np.full((3, 3), np.nan), "`metric` must be finite"),
    ({"on": np.eye(3)}, r"`metric` dict must give one metric per regime .*missing \['off'\]"),
    ({"on": 1.0, "off": 1.0, "bull": 1.0}, r"unknown \['bull'\]"),
    ({"on": 1.0, "off": np.diag([1.0, 0.0, 1.0])},
     "`metric` for regime 'off' must be positive definite"),
    (pd.DataFrame(np.eye(3), index=["eq", "bd", "gold"], columns=["eq", "bd", "cash"]),
     r"`metric` index must be the assets"),
])
def test_bad_metric(metric, match):
    with pytest.raises(ValueError, match=match):
        geodesic(E0, E1, 0.5, metric=metric)


def test_metric_frames_and_dicts_align():
    G = np.array([[2.0, 0.3, 0.1], [0.3, 1.0, 0.2], [0.1, 0.2, 0.5]])
    order = ["cash", "eq", "bd"]
    frame = pd.DataFrame(G, index=["eq", "bd", "cash"], columns=["eq", "bd", "cash"])
    frame = frame.loc[order, order]
    d = distance(E0, E1, 0.5, metric=G)
    assert distance(E0, E1, 0.5, metric=frame) == pytest.approx(d, rel=1e-12)
    assert distance(E0, E1, 0.5, metric={"on": G, "off": frame}) == pytest.approx(d, rel=1e-12)
    assert distance(E0, E1, 0.5, metric=4.0) == pytest.approx(
        distance(E0, E1, 0.5, metric=4.0 * np.eye(3)), rel=1e-12)


def test_an_unlabelled_metric_with_two_asset_orders_is_refused():
    """e0 on (A, B), e1 on (B, A): a plain matrix would follow e0's order one way round and
    e1's the other (d(e0, e1) 0.254 against d(e1, e0) 0.371 before); a DataFrame is
    aligned by name and gives one symmetric answer."""
    e0 = Ensemble([[0.2, 0.8], [0.6, 0.4]], assets=("A", "B"))
    e1 = Ensemble([[0.5, 0.5], [0.9, 0.1]], assets=("B", "A"))
    G = np.diag([2.0, 1.0])
    with pytest.raises(ValueError, match=r"unlabelled matrix.*\['A', 'B'\].*\['B', 'A'\]"):
        distance(e0, e1, 0.3, metric=G)
    with pytest.raises(ValueError, match="unlabelled matrix"):
        distance(e0, e1, 0.3, metric={"0": G})
    frame = pd.DataFrame(G, index=["A", "B"], columns=["A", "B"])
    assert distance(e0, e1, 0.3, metric=frame) == pytest.approx(
        distance(e1, e0, 0.3, metric=frame), rel=1e-7)
    assert distance(e0, e1, 0.3, metric=2.0) == pytest.approx(
        distance(e1, e0, 0.3, metric=2.0), rel=1e-7)


def test_a_mass_series_on_array_weights_is_aligned_to_the_atom_numbers():
    x = [[0.2, 0.8], [0.7, 0.3]]
    e = Ensemble(x, mass=pd.Series([2.0, 1.0], index=[1, 0]),
                 regime=pd.Series(["b", "a"], index=[1, 0]))
    np.testing.assert_array_equal(e.mass, [1.0, 2.0])
    assert [e.regimes[k] for k in e.regime] == ["a", "b"]
    with pytest.raises(ValueError, match="`mass` index must match the atoms"):
        Ensemble(x, mass=pd.Series([2.0, 1.0], index=["p", "q"]))


@pytest.mark.parametrize("options, error, match", [
    ({"backend": "mosek"}, ValueError,
     r"`backend` must be one of \['auto', 'clarabel', 'cvxpy'\], got 'mosek'"),
    ({"max_itr": 10}, ValueError, r"unknown solver option\(s\) \['max_itr'\]"),
    ({"max_iter": 0}, ValueError, "solver option `max_iter` must be an integer >= 1 and "
                                  "<= 2,147,483,647 for backend 'clarabel', got 0"),
    ({"max_iter": 2.5}, TypeError, "solver option `max_iter` must be an integer"),
    ({"tol_gap_rel": -1e-8}, ValueError, "solver option `tol_gap_rel` must be a finite number "
                                         "> 0"),
    ({"tol_feas": np.inf}, ValueError, "solver option `tol_feas` must be a finite number"),
    ({"max_step_fraction": 1.5}, ValueError, r"solver option `max_step_fraction` must be a "
                                             r"finite number > 0 and <= 1"),
    ({"verbose": "yes"}, TypeError, "solver option `verbose` must be a bool"),
    ({"direct_solve_method": 3}, TypeError, r"solver option `direct_solve_method` must be one "
                                            r"of \['auto'"),
])
def test_bad_backend_and_solver_options(options, error, match):
    with pytest.raises(error, match=match):
        geodesic(E0, E1, 0.5, **options)


@pytest.mark.parametrize("constraints, error, match", [
    ([MaxVelocity(0.5)], TypeError, r"`constraints` holds MaxVelocity\(.*ensemble geodesics "
                                    r"take MaxTravel and TotalMass"),
    (["total"], TypeError, r"`constraints` holds 'total' \(str\)"),
    ("TotalMass", TypeError, "`constraints` must be a sequence of constraint objects"),
    (None, TypeError, "`constraints` must be a sequence"),
])
def test_bad_constraints(constraints, error, match):
    with pytest.raises(error, match=match):
        geodesic(E0, E1, 0.5, constraints=constraints)


def test_bad_max_travel():
    with pytest.raises(ValueError, match="MaxTravel: `distance` must be >= 0"):
        MaxTravel(-0.1)
    with pytest.raises(ValueError, match="MaxTravel: `distance` must be >= 0"):
        MaxTravel(np.nan)
    with pytest.raises(TypeError, match="MaxTravel: `distance` must be a real number"):
        MaxTravel("far")
    assert MaxTravel(np.inf).distance == np.inf


def test_empty_and_massless_ensembles():
    empty = Ensemble(np.zeros((0, 3)), assets=("eq", "bd", "cash"))
    geo = geodesic(empty, E1, 0.5)
    assert geo.distance2 == pytest.approx(4 * 0.25 * 2.0, rel=1e-15)
    assert geodesic(empty, empty, 0.5).distance2 == 0.0
    massless = Ensemble(W, mass=[0.0, 0.0], assets=("eq", "bd", "cash"))
    assert geodesic(massless, E1, 0.5).distance2 == pytest.approx(2.0, rel=1e-15)


def test_the_grid_entry_points_point_ensembles_to_their_own():
    """Not "missing argument 'grid'": the message names the ensemble engine's function."""
    import wfr_cvx

    for function in ("geodesic", "distance"):
        with pytest.raises(TypeError, match=rf"wfr_cvx\.ensemble\.{function}\(e0, e1, lam\)"):
            getattr(wfr_cvx, function)(E0, E1, 0.5)
        with pytest.raises(TypeError, match=rf"wfr_cvx\.ensemble\.{function}"):
            getattr(wfr_cvx, function)(E0, E1, lam=0.5)


def test_labelled_data_arrays_are_read_by_label():
    """A DataArray with coordinates counts as its pandas form: weights by asset label (its
    dimension ``asset``), masses and regimes by atom label, a metric by the labels of both
    axes.  Before: all were read by position -- the same books with the assets listed C, B,
    A gave d^2 0.0199 for 0.1355, a metric labelled C, B, A 0.2180 for its DataFrame's
    0.3055, and masses labelled atoms (1, 0) were not swapped."""
    xr = pytest.importorskip("xarray")
    assets = ["A", "B", "C"]

    def book(values, order=assets, dims=("atom", "asset")):
        return xr.DataArray([values], dims=dims, coords={dims[1]: order})

    e0, e1 = Ensemble(book([0.2, 0.3, 0.5])), Ensemble(book([0.5, 0.2, 0.3]))
    plain = (Ensemble([[0.2, 0.3, 0.5]], assets=assets),
             Ensemble([[0.5, 0.2, 0.3]], assets=assets))
    assert e0.assets == tuple(assets) and list(e0.atoms) == [0]
    expected = geodesic(*plain, 0.3).distance2
    assert geodesic(e0, e1, 0.3).distance2 == pytest.approx(expected, rel=1e-9)
    reordered = Ensemble(book([0.3, 0.2, 0.5], ["C", "B", "A"]))
    assert geodesic(e0, reordered, 0.3).distance2 == pytest.approx(expected, rel=1e-9)
    # the assets' dimension first, and atoms named by the other dimension
    turned = Ensemble(book([0.5, 0.2, 0.3]).transpose("asset", "atom"))
    np.testing.assert_array_equal(turned.weights, [[0.5, 0.2, 0.3]])
    named = xr.DataArray([[0.5, 0.2, 0.3]], dims=("atom", "ticker"),
                         coords={"ticker": assets})
    assert Ensemble(named).assets == tuple(assets)
    # a metric labelled on both axes, as its DataFrame
    G = xr.DataArray(np.diag([1.0, 2.0, 3.0]), dims=("r", "c"),
                     coords={"r": ["C", "B", "A"], "c": ["C", "B", "A"]})
    by_frame = geodesic(*plain, 0.3, metric=G.to_pandas()).distance2
    assert by_frame == pytest.approx(geodesic(*plain, 0.3, metric=np.diag([3.0, 2, 1]))
                                     .distance2, rel=1e-9)
    assert geodesic(*plain, 0.3, metric=G).distance2 == pytest.approx(by_frame, rel=1e-9)
    assert geodesic(*plain, 0.3, metric={"0": G}).distance2 == pytest.approx(by_frame,
                                                                               rel=1e-9)
    # masses, regimes and box bounds by label
    mass = xr.DataArray([1.0, 3.0], dims="atom", coords={"atom": [1, 0]})
    regime = xr.DataArray(["b", "a"], dims="atom", coords={"atom": [1, 0]})
    e = Ensemble([[0.2, 0.8], [0.5, 0.5]], mass, regime)
    assert e.mass.tolist() == [3.0, 1.0] and e.regime_labels.tolist() == ["a", "b"]
    lower = xr.DataArray([0.3, 0.0], dims="asset", coords={"asset": ["B", "A"]})
    with pytest.raises(ValueError, match=r"asset 'B' is 0.2, expected within \[0.3, 1\]"):
        Ensemble([[0.8, 0.2]], assets=("A", "B"), domain=(lower, 1.0))
    # without coordinates: by position, as an array
    assert Ensemble(xr.DataArray([[0.2, 0.8]])).assets == ("0", "1")
    assert Ensemble([[0.2, 0.8], [0.5, 0.5]], xr.DataArray([1.0, 3.0])).mass.tolist() == [
        1.0, 3.0]


@pytest.mark.parametrize("make, match", [
    (lambda xr: xr.DataArray([[0.2, 0.8]], dims=("x", "y"), coords={"y": ["A", "B"]}),
     r"`weights` is an xarray DataArray with dimensions \['x', 'y'\], which do not say "
     r"which holds what: name the dimension of its columns 'asset'"),
    (lambda xr: xr.DataArray([[0.2, 0.8]], dims=("atom", "asset"), coords={"atom": ["p"]}),
     r"`weights` is an xarray DataArray whose dimension 'asset' has no coordinates"),
])
def test_data_array_weights_that_cannot_be_read_by_label_are_refused(make, match):
    xr = pytest.importorskip("xarray")
    with pytest.raises(ValueError, match=match):
        Ensemble(make(xr))


def test_a_half_labelled_data_array_metric_is_refused():
    xr = pytest.importorskip("xarray")
    G = xr.DataArray(np.eye(3), dims=("r", "c"), coords={"r": ["eq", "bd", "cash"]})
    with pytest.raises(ValueError, match=r"`metric` is an xarray DataArray with coordinates "
                                         r"on some dimensions only.*\['c'\] have none"):
        geodesic(E0, E1, 0.5, metric=G)


def test_nullable_pandas_dtypes_are_read_as_numbers():
    """Before: a Float64 DataFrame (pandas' nullable dtype) was refused as "dtype object"."""
    frame = pd.DataFrame({"a": [0.2, 0.5], "b": [0.8, 0.5]})
    nullable = Ensemble(frame.astype("Float64"), mass=pd.Series([1, 2]).astype("Int64"))
    plain = Ensemble(frame, mass=pd.Series([1.0, 2.0]))
    np.testing.assert_array_equal(nullable.weights, plain.weights)
    np.testing.assert_array_equal(nullable.mass, plain.mass)
    with pytest.raises(ValueError, match="`weights` must be finite; atom 1, asset 'a' is nan"):
        Ensemble(pd.DataFrame({"a": [0.2, None], "b": [0.8, 0.5]}).astype("Float64"))
    with pytest.raises(TypeError, match="must hold real numbers, got dtype bool"):
        Ensemble(pd.DataFrame({"a": [True, False]}))


def test_object_arrays_of_real_numbers_are_read_as_numbers():
    """Before: object arrays (and an object DataFrame) were refused as "dtype object" for
    `weights`, `mass` and `metric`, though real numbers; entries are now read one by one,
    and a string, None or bool among them is refused by name and position."""
    plain = Ensemble(W, mass=[1.0, 0.5])
    objects = Ensemble(W.astype(object), mass=np.array([1, Fraction(1, 2)], dtype=object))
    np.testing.assert_array_equal(objects.weights, plain.weights)
    np.testing.assert_array_equal(objects.mass, plain.mass)
    assert objects.weights.dtype == objects.mass.dtype == float
    frame = pd.DataFrame(W, columns=["eq", "bd", "cash"])
    from_frame = Ensemble(frame.astype(object), mass=[Decimal("1"), np.float32(0.5)])
    np.testing.assert_array_equal(from_frame.weights, plain.weights)
    assert from_frame.assets == ("eq", "bd", "cash")
    G = np.diag([2.0, 1.0, 3.0])
    d = distance(E0, E1, 0.5, metric=G)
    assert distance(E0, E1, 0.5, metric=G.astype(object)) == pytest.approx(d, rel=1e-12)
    assert distance(E0, E1, 0.5, metric={"on": G.astype(object), "off": G}
                    ) == pytest.approx(d, rel=1e-12)
    assert distance(E0, E1, 0.5, metric=Fraction(2)) == pytest.approx(
        distance(E0, E1, 0.5, metric=2.0), rel=1e-12)
    with pytest.raises(TypeError, match=r"`weights` must hold real numbers \(portfolio "
                                        r"weights\), got 'a' \(str\) at index \[1, 0\]"):
        Ensemble(np.array([[0.5, 0.5], ["a", 0.5]], dtype=object))
    with pytest.raises(TypeError, match=r"`weights` .* got None \(NoneType\) at index"):
        Ensemble(pd.DataFrame({"a": [0.5, None], "b": [0.5, 0.5]}, dtype=object))
    with pytest.raises(TypeError, match=r"`mass` must hold real numbers \(masses\), got "
                                        r"True \(bool\) at index 1"):
        Ensemble(W, mass=np.array([1.0, True], dtype=object))
    bad = G.astype(object)
    bad[0, 1] = "x"
    with pytest.raises(TypeError, match=r"`metric` must hold real numbers \(metric entries "
                                        r"for regime 'off'\), got 'x' \(str\) at index "
                                        r"\[0, 1\]"):
        distance(E0, E1, 0.5, metric={"on": G, "off": bad})


@pytest.mark.parametrize("name", ["mass", "regime", "time", "atom"])
def test_an_asset_named_like_a_table_column_is_refused(name):
    """Before: an asset named "mass" or "regime" was overwritten in to_frame by the masses
    or regimes without an error (and the geodesic's table failed in pandas)."""
    weights = pd.DataFrame([[0.7, 0.3], [0.2, 0.8]], columns=[name, "bonds"])
    with pytest.raises(ValueError, match=f"asset label\\(s\\) \\['{name}'\\] are the names"):
        Ensemble(weights)
    with pytest.raises(ValueError, match="are the names"):
        Ensemble([[0.7, 0.3]], assets=(name, "bonds"))
    if name == "mass":  # a mass column is read as one when named
        frame = pd.DataFrame({"a": [0.5, 0.4], "b": [0.5, 0.6], "mass": [1.0, 2.0]})
        assert Ensemble.from_frame(frame, mass="mass").mass.tolist() == [1.0, 2.0]


@pytest.mark.parametrize("make, match", [
    (lambda: Ensemble([[0.5, 0.5], [1.0]]),
     r"`weights` is ragged \(element 1 is of shape \(1,\) but element 0 of shape \(2,\)\)"),
    (lambda: Ensemble([[0.5, 0.5], [0.2, 0.8]], mass=[1.0, [2.0, 3.0]]),
     r"`mass` is ragged \(element 1 is of shape \(2,\) but element 0 a number\)"),
    (lambda: geodesic(Ensemble(W[:, :2]), Ensemble(W[:, :2]), 0.3,
                      metric=[[1.0, 0.0], [0.0]]), r"`metric` is ragged \(element 1"),
    (lambda: geodesic(Ensemble(W[:, :2], regime=["a", "b"]), Ensemble(W[:, :2]), 0.3,
                      metric={"a": 1.0, "b": [[1.0, 0.0], [0.0]], "0": 1.0}),
     r"`metric` for regime 'b' is ragged"),
    (lambda: Ensemble(W, domain=([0.0, [0.0]], 1.0)), r"`domain lower bound` is ragged"),
])
def test_ragged_inputs_name_the_argument(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_weights_whose_squared_lengths_overflow_are_refused():
    """|x|^2 of 1e155 overflows: the pair search's inf - inf kept no pair, and identical
    books came out 2.16 apart, "Solved"."""
    x = np.array([[1.0, 2.0], [3.0, -1.0]])
    with pytest.raises(ValueError, match=r"`weights` of `e0` are too large: atom 0 .*"
                                         r"rescale the weights"):
        geodesic(Ensemble(x * 1e155, [1.0, 2.0]), Ensemble(x, [1.0, 2.0]), 0.3)
    with pytest.raises(ValueError, match=r"`weights` of `e1` are too large: atom 1 .*"
                                         r"\(or `metric` by c\^2\)"):
        geodesic(Ensemble(x), Ensemble(x * [[1.0], [1e154]]), 0.3, metric=np.diag([1.0, 2.0]))
    large = geodesic(Ensemble(x * 1e150, [1.0, 2.0]), Ensemble(x * 1e150, [1.0, 2.0]), 0.3)
    assert large.distance2 == 0.0 and large.status == "Solved"
