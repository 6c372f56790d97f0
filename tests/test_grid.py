import numpy as np
import pandas as pd
import pytest

import wfr_cvx
from wfr_cvx import Grid
from wfr_cvx.grid import as_allocation


def test_attributes():
    g = Grid(8, 4, regimes=("on", "off"))
    assert g.shape == (2, 8)
    assert g.face_shape == (2, 7)
    assert g.coords.shape == (8, 1)
    np.testing.assert_allclose(g.weights, (np.arange(8) + 0.5) / 8)
    np.testing.assert_allclose(g.faces, np.arange(1, 8) / 8)
    assert g.dx == 0.125 and g.dt == 0.25
    assert g.regimes == ("on", "off")
    assert Grid(4, 1, regimes=3).regimes == ("0", "1", "2")


def test_dirac_and_bump_masses():
    g = Grid(50, 2, regimes=2)
    d = g.dirac(0.51, regime=1, mass=3.0)
    assert d.sum() == 3.0 and d[1, 25] == 3.0
    assert g.dirac(1.0)[0, -1] == 1.0
    b = g.bump(0.4, 0.05, regime="1", mass=2.5)
    assert b[0].sum() == 0
    assert b[1].sum() == pytest.approx(2.5, rel=1e-14)
    mean = (b[1] * g.weights).sum() / b[1].sum()
    assert mean == pytest.approx(0.4, abs=1e-6)


def test_dataframe_allocation_round_trip():
    g = Grid(5, 1, regimes=("a", "b"))
    arr = np.arange(10.0).reshape(2, 5)
    frame = pd.DataFrame({"b": arr[1], "a": arr[0]}, index=g.weights)
    np.testing.assert_array_equal(as_allocation(frame, g, "rho0"), arr)


@pytest.mark.parametrize(
    ("args", "match"),
    [((1, 4), "n_weights"), ((4, 0), "n_steps"), ((4, 2, 0), "regimes"),
     ((4, 2, ("x", "x")), "unique")],
)
def test_bad_grid(args, match):
    with pytest.raises(ValueError, match=match):
        Grid(*args)


def test_bad_helpers():
    g = Grid(8, 2)
    with pytest.raises(ValueError, match="weight"):
        g.dirac(1.5)
    with pytest.raises(ValueError, match="width"):
        g.bump(0.5, 0.0)
    with pytest.raises(ValueError, match="regime"):
        g.dirac(0.5, regime="nope")
    with pytest.raises(ValueError, match="mass"):
        g.dirac(0.5, mass=-1)


@pytest.mark.parametrize(
    ("value", "match"),
    [(np.ones(7), r"shape \(1, 8\)"), (np.full(8, np.nan), "non-finite"),
     (-np.ones(8), "negative")],
)
def test_bad_allocation(value, match):
    with pytest.raises(ValueError, match=match):
        as_allocation(value, Grid(8, 2), "rho0")


@pytest.mark.parametrize(("value", "what"), [
    (np.ones(8) * (1 + 0j), "dtype complex128"), (np.array(["1"] * 8), "dtype <U1"),
    ([None] * 8, r"None \(NoneType\) at index 0"),
    (np.array([1.0] * 7 + ["1"], dtype=object), r"'1' \(str\) at index 7")],
    ids=["complex", "strings", "objects", "mixed"])
def test_allocations_of_non_real_numbers_are_refused(value, what):
    """numpy would drop the imaginary part (with only a warning) or parse the strings."""
    with pytest.raises(TypeError, match=r"`rho0` must hold real numbers.*" + what):
        as_allocation(value, Grid(8, 2), "rho0")


def test_allocations_of_bools_are_refused_in_every_form():
    """Before: a mask passed for an allocation was read as masses 0 and 1 (a geodesic from
    g.mask gave d^2 = 8.30), labelled or not."""
    g = Grid(8, 2)
    flags = g.weights < 0.5
    series = pd.Series(flags, index=g.weights)
    values = [g.mask, flags, flags.tolist(), series, series.astype("boolean"),
              series.to_frame("0")]
    try:
        import xarray as xr  # an optional extra
    except ImportError:
        pass
    else:
        values.append(xr.DataArray(g.mask))
    for value in values:
        with pytest.raises(TypeError, match=r"`rho0` holds booleans \(a mask\?\); pass "
                                            "cell masses as numbers"):
            as_allocation(value, g, "rho0")
    with pytest.raises(TypeError, match="`rho1` holds booleans"):
        wfr_cvx.geodesic(g.bump(0.5, 0.1), g.mask, g, lam=0.3)
    assert Grid(8, 2, mask=flags[None]).n_inactive == 4  # a mask is still a mask


# -- labelled (pandas) allocations are read by label, never by position ----------------
def test_a_series_is_aligned_by_its_index():
    """Before: a reversed or shuffled Series gave another d^2 (0.00999 against 0.09156)."""
    g = Grid(64, 8)
    arr = g.bump(0.3, 0.05)[0]
    s = pd.Series(arr, index=g.weights)
    expected = as_allocation(arr, g, "rho0")
    rng = np.random.default_rng(0)
    for labelled in (s, s[::-1], s.sample(frac=1.0, random_state=1),
                     pd.Series(arr, index=np.round(g.weights, 6))):  # rounded labels
        np.testing.assert_array_equal(as_allocation(labelled, g, "rho0"), expected)
    shuffled = s.iloc[rng.permutation(64)]
    np.testing.assert_array_equal(as_allocation(shuffled, g, "rho0"), expected)


def test_frames_and_multiindex_series_are_aligned_by_label():
    g = Grid(5, 1, regimes=("a", "b"))
    arr = np.arange(10.0).reshape(2, 5)
    frame = pd.DataFrame({"b": arr[1], "a": arr[0]}, index=g.weights)
    np.testing.assert_array_equal(as_allocation(frame.iloc[::-1], g, "rho0"), arr)
    tidy = frame.stack()  # (weight, regime) MultiIndex, regime level not named
    np.testing.assert_array_equal(as_allocation(tidy.sample(frac=1.0, random_state=0), g,
                                                "rho0"), arr)
    named = pd.Series(arr.ravel(), index=pd.MultiIndex.from_product(
        [["a", "b"], g.weights], names=["regime", "weight"]))
    np.testing.assert_array_equal(as_allocation(named.iloc[::-1], g, "rho0"), arr)


def test_a_simplex_allocation_is_aligned_by_its_cell_centres():
    g = Grid.simplex(4, 2, assets=("IBM", "WMT", "SEHI"))
    arr = g.bump((0.3, 0.2), 0.1)[0]
    keep = g.mask[0]
    i, j = np.nonzero(keep)
    index = pd.MultiIndex.from_arrays([g.weights[i], g.weights[j]], names=["w_IBM", "w_WMT"])
    s = pd.Series(arr[keep], index=index)
    np.testing.assert_array_equal(as_allocation(s.iloc[::-1], g, "rho0")[0], arr)
    swapped = s.reorder_levels(["w_WMT", "w_IBM"])  # levels named: read by name
    np.testing.assert_array_equal(as_allocation(swapped, g, "rho0")[0], arr)


def _simplex_book(regimes=1):
    """A simplex grid over IBM / WMT (SEHI the rest), its allocation and the active cells'
    centres (w_IBM, w_WMT)."""
    g = Grid.simplex(8, 2, assets=("IBM", "WMT", "SEHI"), regimes=regimes)
    arr = g.bump((0.2, 0.4), 0.15)
    if g.n_regimes > 1:
        arr += g.bump((0.5, 0.2), 0.1, regime=1, mass=0.5)
    i, j = np.nonzero(g.mask[0])
    return g, arr, g.weights[i], g.weights[j], (i, j)


@pytest.mark.parametrize("names", [["WMT", "IBM"], ["IBM", "WMT"], ["w_WMT", "IBM"],
                                   ["WMT", "w_IBM"]])
def test_simplex_levels_named_after_the_axis_assets_are_read_by_name(names):
    """Before: levels named after the assets (not ``w_<asset>``) were read by position,
    (w_IBM, w_WMT) whatever their names -- ``["WMT", "IBM"]`` transposed the book and
    moved d^2 by -0.20 with no error."""
    g, arr, w_ibm, w_wmt, (i, j) = _simplex_book()
    by_name = {"IBM": w_ibm, "WMT": w_wmt}
    levels = [by_name[n.removeprefix("w_")] for n in names]
    s = pd.Series(arr[0, i, j], index=pd.MultiIndex.from_arrays(levels, names=names))
    np.testing.assert_array_equal(as_allocation(s.sample(frac=1.0, random_state=0), g,
                                                "rho0"), arr)


def test_simplex_frames_and_regime_multiindex_read_named_levels_by_name():
    g, arr, w_ibm, w_wmt, (i, j) = _simplex_book(regimes=("on", "off"))
    index = pd.MultiIndex.from_arrays([w_wmt, w_ibm], names=["WMT", "IBM"])
    frame = pd.DataFrame({"off": arr[1, i, j], "on": arr[0, i, j]}, index=index)
    np.testing.assert_array_equal(as_allocation(frame.iloc[::-1], g, "rho0"), arr)
    tidy = pd.Series(np.concatenate([arr[0, i, j], arr[1, i, j]]),
                     index=pd.MultiIndex.from_arrays(
                         [["on"] * i.size + ["off"] * i.size, np.tile(w_wmt, 2),
                          np.tile(w_ibm, 2)], names=["regime", "w_WMT", "IBM"]))
    np.testing.assert_array_equal(as_allocation(tidy.sample(frac=1.0, random_state=1), g,
                                                "rho1"), arr)


def test_simplex_unnamed_levels_are_read_in_the_order_of_the_axes():
    """The documented rule: without names, the first level is w_IBM, the second w_WMT."""
    g, arr, w_ibm, w_wmt, (i, j) = _simplex_book()
    s = pd.Series(arr[0, i, j], index=pd.MultiIndex.from_arrays([w_ibm, w_wmt]))
    np.testing.assert_array_equal(as_allocation(s.iloc[::-1], g, "rho0"), arr)
    wrong_way = pd.Series(arr[0, i, j], index=pd.MultiIndex.from_arrays([w_wmt, w_ibm]))
    assert not np.array_equal(as_allocation(wrong_way, g, "rho0"), arr)


@pytest.mark.parametrize(
    ("names", "match"),
    [
        (["w_WMT", "w_SEHI"], r"`rho0` index level 'w_SEHI' is not a weight axis .*"
                              r"'SEHI' is the remainder asset"),
        (["SEHI", "IBM"], r"`rho0` index level 'SEHI' is not a weight axis"),
        (["weight_a", "weight_b"], r"`rho0` index level 'weight_a' is not a weight axis .*"
                                   r"\['IBM', 'WMT'\]"),
        (["WMT", None], r"`rho0` index levels must all be named .* got names \['WMT', None\]"),
        (["IBM", "w_IBM"], r"`rho0` index levels \['IBM', 'w_IBM'\] both name the weight "
                           r"axis of 'IBM'"),
    ],
)
def test_simplex_levels_named_after_no_weight_axis_are_refused(names, match):
    """Before: all of these were read as (w_IBM, w_WMT), by position, with no error."""
    g, arr, w_ibm, w_wmt, (i, j) = _simplex_book()
    s = pd.Series(arr[0, i, j], index=pd.MultiIndex.from_arrays([w_wmt, w_ibm],
                                                                names=names))
    with pytest.raises(ValueError, match=match):
        as_allocation(s, g, "rho0")
    frame = pd.DataFrame({"0": s})
    with pytest.raises(ValueError, match=match.replace("rho0", "rho1")):
        as_allocation(frame, g, "rho1")


def test_a_simplex_grid_without_assets_reads_levels_named_after_a_and_b():
    g = Grid(4, 2, dims=2)
    arr = np.arange(16.0).reshape(1, 4, 4)
    i, j = np.indices((4, 4)).reshape(2, -1)
    s = pd.Series(arr[0, i, j], index=pd.MultiIndex.from_arrays(
        [g.weights[j], g.weights[i]], names=["B", "w_A"]))
    np.testing.assert_array_equal(as_allocation(s, g, "rho0"), arr)
    with pytest.raises(ValueError, match=r"index level 'IBM' .*this grid names no assets"):
        as_allocation(s.rename_axis(["IBM", "WMT"]), g, "rho0")


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda g, s: s.set_axis(g.weights + 0.3 * g.dx), r"`rho0` label 0\.1 is not a "
                                                          r"cell centre"),
        (lambda g, s: s.iloc[1:], r"no entry for 1 active cell.*0\.0625"),
        (lambda g, s: pd.concat([s, s.iloc[:1]]), "lists a cell twice"),
        (lambda g, s: s.set_axis([f"w{i}" for i in range(8)]), "cell centres \\(numbers\\)"),
        (lambda g, s: pd.DataFrame({"x": s}), "column 'x' is not a regime"),
    ],
)
def test_labels_that_do_not_match_the_grid_are_refused(make, match):
    g = Grid(8, 2)
    s = pd.Series(np.ones(8), index=g.weights)
    with pytest.raises(ValueError, match=match):
        as_allocation(make(g, s), g, "rho0")


def test_a_plain_series_on_a_grid_with_regimes_is_refused():
    g = Grid(4, 2, regimes=2)
    with pytest.raises(ValueError, match="grid has 2 regimes: pass a DataFrame"):
        as_allocation(pd.Series(np.ones(4), index=g.weights), g, "rho1")


def test_a_bump_centred_outside_the_active_cells_is_refused():
    """Before: Grid.simplex(8, 4).bump((0.8, 0.8), 0.1) put its mass at (0.498, 0.498)."""
    with pytest.raises(ValueError, match=r"`center` \(0.8, 0.8\) .* outside the simplex"):
        Grid.simplex(8, 4).bump((0.8, 0.8), 0.1)
    capped = Grid(4, 2, regimes=2, mask=[[True] * 4, [True, True, True, False]])
    with pytest.raises(ValueError, match="`center` 0.9 .* regime '1', outside grid.mask"):
        capped.bump(0.9, 0.1, regime=1)
    assert capped.bump(0.9, 0.1, regime=0).sum() == pytest.approx(1.0)


def test_an_integer_regime_is_its_label_when_the_grid_has_one():
    """Before: Grid(8, 2, regimes=(1, 0)).dirac(0.5, regime=1) put the mass in regime '0'
    (the integer read as a position) while a pandas column labelled 1 is regime '1'."""
    years = Grid(8, 2, regimes=(2008, 2020))
    assert years.dirac(0.5, regime=2020)[1].sum() == 1.0
    assert years.dirac(0.5, regime=1)[1].sum() == 1.0  # no regime named 1: a position
    same = Grid(8, 2, regimes=2)  # labels "0", "1": label and position agree
    assert same.regime_index(1) == same.regime_index("1") == 1
    swapped = Grid(8, 2, regimes=(1, 0))
    with pytest.raises(ValueError, match=r"`regime` 1 is ambiguous: it names regime '1' "
                                         r"\(position 0\) and is the position of regime '0'"):
        swapped.dirac(0.5, regime=1)
    assert swapped.dirac(0.5, regime="1")[0].sum() == 1.0
    with pytest.raises(ValueError, match=r"`regime` 5 is neither a regime"):
        years.dirac(0.5, regime=5)


def test_a_weight_on_a_face_goes_to_the_upper_cell():
    """Before: rounding decided -- 0.57 * 100 = 56.99999999999999 put Grid(100, 1).dirac(0.57)
    in cell 56 while Grid(4, 1).dirac(0.25) went to cell 1."""
    for n, w in ((100, 0.57), (100, 0.29), (10, 0.3), (4, 0.25), (3, 1 / 3)):
        assert int(Grid(n, 1).dirac(w).argmax()) == round(w * n), (n, w)
    assert int(Grid(4, 1).dirac(1.0).argmax()) == 3
    assert int(Grid(100, 1).dirac(0.57 - 1e-6).argmax()) == 56


def test_grids_with_other_assets_are_not_equal():
    assert Grid.simplex(4, 2, assets=("IBM", "WMT", "SEHI")) != Grid.simplex(4, 2)
    assert Grid.simplex(4, 2) == Grid.simplex(4, 2, assets=("A", "B", "C"))


def test_repr_shows_the_assets_when_given():
    """Before: Grid(16, 4, assets=("IBM", "cash")) printed as Grid(16, 4), to which it
    compares unequal.  An unmasked grid's repr builds it again."""
    named, plain = Grid(16, 4, assets=("IBM", "cash")), Grid(16, 4)
    assert named != plain and repr(named) != repr(plain)
    assert repr(named) == ("Grid(n_weights=16, n_steps=4, regimes=('0',), "
                           "assets=('IBM', 'cash'))")
    assert "assets" not in repr(plain) and "assets" not in repr(Grid(4, 2, dims=2))
    for grid in (named, plain, Grid(4, 2, regimes=("a", "b"), dims=2),
                 Grid(4, 2, dims=2, assets=("X", "Y", "Z"))):
        assert eval(repr(grid), {"Grid": Grid}) == grid
    assert repr(Grid.simplex(4, 2)).endswith("dims=2, assets=('A', 'B', 'C'), "
                                             "inactive_cells=6)")


@pytest.mark.parametrize("scale", [1e-301, 1e-310])
def test_masses_too_small_to_scale_are_refused(scale):
    """Before: the solvers' mass scaling overflowed and both engines returned d^2 = 0 at
    "Solved" for masses of 1e-310 (1e-299 still scales exactly)."""
    from wfr_cvx.ensemble import Ensemble

    g = Grid(8, 2)
    with pytest.raises(ValueError, match=r"`rho0` total mass .* too small to solve with"):
        wfr_cvx.geodesic(g.bump(0.3, 0.1) * scale, g.bump(0.5, 0.1), g, 0.3)
    with pytest.raises(ValueError, match=r"`mass` total .* too small to solve with"):
        Ensemble([[0.3, 0.7]], mass=[scale])
    tiny = wfr_cvx.geodesic(g.bump(0.3, 0.1) * 1e-299, g.bump(0.5, 0.1) * 1e-299, g, 0.3)
    unit = wfr_cvx.geodesic(g.bump(0.3, 0.1), g.bump(0.5, 0.1), g, 0.3)
    assert tiny.distance2 == pytest.approx(1e-299 * unit.distance2, rel=1e-9)


def test_a_point_on_the_simplex_edge_goes_to_its_last_active_cell():
    """A weight on a face goes to the upper cell -- unless that one is outside the simplex:
    (k / 100, 1 - k / 100) has no remainder asset and lies on the faces of its last active
    cell.  Before the face rule 17 of 99 such points were accepted, after it none."""
    g = Grid.simplex(100, 2)
    for k in range(1, 100):
        cell = np.argwhere(g.dirac((k / 100, 1 - k / 100))[0])[0]
        assert abs((cell + 0.5) / 100 - [k / 100, 1 - k / 100]).max() <= 0.5 / 100 + 1e-12
    with pytest.raises(ValueError, match="outside the simplex"):
        Grid.simplex(10, 2).dirac((0.6, 0.6))


# -- labelled masks ------------------------------------------------------------------------
def _capped_frame(w):
    """Risk-off capped at 0.5, risk-on free: rows cell centres, columns regimes (listed
    risk_off first, the grid's second regime)."""
    return pd.DataFrame({"risk_off": w <= 0.5, "risk_on": np.ones(w.size, bool)}, index=w)


def test_a_labelled_mask_is_read_by_label():
    """Before: a DataFrame or Series mask was read by position, its labels ignored (the
    cap landed on risk_on; a reversed Series reversed the active cells)."""
    w = Grid(8, 2).weights
    intended = np.array([np.ones(8, bool), w <= 0.5])
    frame = _capped_frame(w).iloc[::-1]
    g = Grid(8, 2, regimes=("risk_on", "risk_off"), mask=frame)
    assert np.array_equal(g.mask, intended)
    stacked = frame.stack()
    stacked.index.names = ["weight", "regime"]
    shuffled = stacked.sample(frac=1.0, random_state=0)
    assert np.array_equal(Grid(8, 2, regimes=("risk_on", "risk_off"), mask=shuffled).mask,
                          intended)
    reversed_series = pd.Series(w <= 0.5, index=w).iloc[::-1]
    assert np.array_equal(Grid(8, 2, mask=reversed_series).mask, [w <= 0.5])
    # positional masks are read as before
    assert np.array_equal(Grid(8, 2, regimes=("risk_on", "risk_off"), mask=intended).mask,
                          intended)


def test_a_labelled_xarray_mask_is_read_by_label():
    xr = pytest.importorskip("xarray")
    w = Grid(8, 2).weights
    da = xr.DataArray(np.array([w <= 0.5, np.ones(8, bool)]), dims=("regime", "weight"),
                      coords={"regime": ["risk_off", "risk_on"], "weight": w})
    intended = np.array([np.ones(8, bool), w <= 0.5])
    for value in (da, da.T, da.isel(weight=slice(None, None, -1))):
        g = Grid(8, 2, regimes=("risk_on", "risk_off"), mask=value)
        assert np.array_equal(g.mask, intended)
    with pytest.raises(TypeError, match="`mask` must hold bools"):
        Grid(8, 2, regimes=("risk_on", "risk_off"), mask=da.astype(float))


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda f: f.T, ValueError, r"`mask` column '0.0625' is not a regime .* pass `mask.T`"),
        (lambda f: f.iloc[1:], ValueError, r"`mask` has no entry for 2 cell\(s\), the first "
                                           r"regime 'risk_on', cell centre 0.0625 \(list every"
                                           r" cell, False where inactive\)"),
        (lambda f: pd.concat([f, f.iloc[:1]]), ValueError, "`mask` lists a cell twice"),
        (lambda f: f.set_axis(f.index + 0.03), ValueError, "`mask` label 0.0925 is not a cell"),
        (lambda f: f.rename(columns={"risk_on": "calm"}), ValueError,
         "`mask` column 'calm' is not a regime"),
        (lambda f: f.astype(int), TypeError, "`mask` must hold bools .* got dtype int64"),
        (lambda f: f.astype(float), TypeError, "`mask` must hold bools .* got dtype float64"),
        (lambda f: f.astype("boolean").mask(f.index.to_numpy()[:, None] < [0.1, 0.0]),
         ValueError,
         "`mask` has missing values"),
    ],
)
def test_labelled_masks_that_do_not_match_the_grid_are_refused(make, error, match):
    frame = _capped_frame(Grid(8, 2).weights)
    with pytest.raises(error, match=match):
        Grid(8, 2, regimes=("risk_on", "risk_off"), mask=make(frame))


def test_a_labelled_mask_series_on_a_grid_with_regimes_is_refused():
    w = Grid(8, 2).weights
    with pytest.raises(ValueError, match="`mask` is a Series indexed by cell centre but the "
                                         "grid has 2 regimes"):
        Grid(8, 2, regimes=2, mask=pd.Series(w <= 0.5, index=w))


@pytest.mark.parametrize("build", [
    lambda regimes: Grid(8, 2, regimes=regimes),
    lambda regimes: Grid.simplex(8, 2, regimes=regimes),
], ids=["interval", "simplex"])
def test_too_many_regimes_are_refused_before_their_labels_are_built(build):
    """Before: the labels "0", "1", ... were built before the size check, so
    ``regimes=10**9`` ended in a MemoryError or the process being killed."""
    from wfr_cvx.errors import ProblemTooLargeError

    for count in (10**12, np.int64(10**15)):
        with pytest.raises(ProblemTooLargeError, match=r"Grid of [\d,]+ regime\(s\)") as info:
            build(count)
        assert info.value.needed_bytes > info.value.available_bytes
    # a sequence of labels that is too long is measured by its length, never read
    with pytest.raises(ProblemTooLargeError):
        build(range(10**15))
    assert build(["calm", "stress"]).regimes == ("calm", "stress")
