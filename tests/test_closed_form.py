"""The closed forms checked against each other and against the static solver."""

from decimal import Decimal
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from wfr_cvx import Grid, SolverError
from wfr_cvx.closed_form import (
    dirac_wfr2,
    hellinger2,
    static_wfr2,
    static_wfr2_bounds,
    w2_squared_1d,
    wfr_cost_matrix,
)
from wfr_cvx.ensemble import Ensemble
from wfr_cvx.ensemble import geodesic as ensemble_geodesic


def test_dirac_formula_limits():
    lam = 0.7
    # small moves: W2^2 = |dx|^2 for equal unit masses
    assert dirac_wfr2(1, 1, 0.0, 1e-3, lam) == pytest.approx(1e-6, rel=1e-6)
    # beyond pi*lam: teleport, 4 lam^2 (a + b)
    assert dirac_wfr2(2, 3, 0.0, np.pi * lam + 0.1, lam) == pytest.approx(4 * lam**2 * 5)
    # same point: Hellinger
    assert dirac_wfr2(1, 4, 0.3, 0.3, lam) == pytest.approx(hellinger2([1], [4], lam))


@pytest.mark.parametrize("lam", [0.05, 0.2, 0.5])
@pytest.mark.parametrize(("a", "b"), [(1.0, 1.0), (0.5, 2.0)])
def test_static_equals_dirac_formula(lam, a, b):
    g = Grid(16, 1)
    x0, x1 = g.weights[3], g.weights[9]
    got = static_wfr2(g.dirac(x0, mass=a), g.dirac(x1, mass=b), g, lam)
    assert got == pytest.approx(dirac_wfr2(a, b, x0, x1, lam), rel=1e-5)


def test_static_equals_hellinger_across_regimes():
    g = Grid(12, 1, regimes=2)
    rho0 = g.bump(0.4, 0.1, 0) + g.bump(0.6, 0.1, 1, mass=0.3)
    rho1 = g.bump(0.4, 0.1, 1, mass=2.0)
    lam = 0.01  # cells 1/12 apart are beyond pi*lam: no transport possible
    assert static_wfr2(rho0, rho1, g, lam) == pytest.approx(
        hellinger2(rho0, rho1, lam), rel=1e-5)


def test_static_bounds_bracket():
    g = Grid(32, 1)
    lo, up = static_wfr2_bounds(g.bump(0.3, 0.05), g.bump(0.5, 0.05, mass=1.3), g, 0.2)
    assert lo <= up and (up - lo) <= 1e-5 * up


def test_static_refuses_an_uncertified_answer():
    g = Grid(128, 1)
    with pytest.raises(SolverError, match="not certified"):
        static_wfr2(g.bump(0.3, 0.03), g.bump(0.5, 0.03), g, lam=20.0, rtol=1e-9)


def test_w2_on_translations_and_diracs():
    g = Grid(64, 1, regimes=2)
    a = g.bump(0.3, 0.05, 0) + g.dirac(0.2, 1, mass=2.0)
    shift = 10 * g.dx
    b = np.zeros_like(a)
    b[0, 10:] = a[0, :-10]  # bump translated by 10 cells (its tail beyond is < 1e-30)
    b[1] = g.dirac(0.7, 1, mass=2.0)[1]
    expected = a[0].sum() * shift**2 + 2.0 * (g.weights[44] - g.weights[12]) ** 2
    assert w2_squared_1d(a, b, g) == pytest.approx(expected, rel=1e-9)
    with pytest.raises(ValueError, match="equal masses"):
        w2_squared_1d(a, 2 * b, g)


def test_cost_matrix():
    c = wfr_cost_matrix([0.0, 1.0], [0.0, 0.5, 10.0], lam=0.5)
    assert c[0, 0] == 0.0
    assert c[0, 1] == pytest.approx(-2 * np.log(np.cos(0.5)))
    assert np.isinf(c[0, 2]) and np.isinf(c[1, 2])


@pytest.mark.parametrize("lam", [0.0, -1.0, np.nan, np.inf])
def test_bad_lam(lam):
    with pytest.raises(ValueError, match="lam"):
        dirac_wfr2(1, 1, 0, 1, lam)


def test_dirac_formula_keeps_its_digits_at_small_angles():
    """Before: a + b - 2 sqrt(ab) cos(angle) cancelled -- dirac_wfr2(1, 1, 0, 0.3, 1e8)
    was 0 (truth 0.09), at lam = 1e6 -2.3 % low."""
    from wfr_cvx.closed_form import dirac_wfr2

    for gap, lam in ((0.3, 1e8), (0.1, 1e6), (1e-7, 3.0)):
        angle = gap / (2 * lam)
        truth = 4 * lam**2 * 4 * np.sin(angle / 2) ** 2  # equal masses
        assert dirac_wfr2(1.0, 1.0, 0.0, gap, lam) == pytest.approx(truth, rel=1e-12)
        assert dirac_wfr2(1.0, 1.0, 0.0, gap, lam) == pytest.approx(gap**2, rel=1e-9)
    # unequal masses: the mass term is exact too
    assert dirac_wfr2(4.0, 1.0, 0.5, 0.5, 2.0) == pytest.approx(16.0, rel=1e-15)


def test_w2_between_gaussians_of_different_widths():
    """W2^2 between N(m0, s0^2) and N(m1, s1^2) is (m0 - m1)^2 + (s0 - s1)^2: the
    quantile difference is not constant here (translations and Diracs have it constant,
    and a formula squaring the mean gap passed them)."""
    g = Grid(2000, 1)
    got = w2_squared_1d(g.bump(0.3, 0.05), g.bump(0.5, 0.08), g)
    assert got == pytest.approx(0.2**2 + 0.03**2, rel=1e-5)


def test_a_bump_has_the_mean_and_standard_deviation_it_is_given():
    """The cell-integrated Gaussian: mean c, variance width^2 + dx^2 / 12 (Sheppard)."""
    g = Grid(2000, 1)
    rho = g.bump(0.5, 0.05)[0]
    mean = rho @ g.weights / rho.sum()
    variance = rho @ (g.weights - mean) ** 2 / rho.sum()
    assert mean == pytest.approx(0.5, abs=1e-12)
    assert variance == pytest.approx(0.05**2 + g.dx**2 / 12, rel=1e-6)


def test_a_static_solve_whose_cost_matrix_does_not_fit_is_refused_up_front(monkeypatch):
    """Before: static_wfr2 on Grid(30000, 1) built its 6.7 GiB cost matrix and died with a
    bare MemoryError; here the budget is made small instead."""
    import tracemalloc

    from wfr_cvx import _memory
    from wfr_cvx.errors import ProblemTooLargeError

    monkeypatch.setattr(_memory, "memory_budget",
                        lambda: _memory.MemoryBudget(2**20, "test budget"))
    g = Grid(1000, 1)  # 32 MB with its temporaries
    tracemalloc.start()
    try:
        with pytest.raises(ProblemTooLargeError, match=r"static WFR form on 1,000 cells .* "
                                                       r"1,000 x 1,000 cost matrix needs "
                                                       r"about 0.0 GiB .*\(test budget\)"
                           ) as info:
            static_wfr2(g.bump(0.3, 0.05), g.bump(0.6, 0.05), g, lam=0.3)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.needed_bytes == 32 * 1000**2 > info.value.available_bytes
    assert peak < 8 * 1000**2  # refused before the matrix was built
    # a grid whose matrix fits is solved as before
    small = Grid(16, 1)
    assert static_wfr2(small.dirac(0.3), small.dirac(0.6), small, lam=0.5) == pytest.approx(
        dirac_wfr2(1, 1, small.weights[4], small.weights[9], 0.5), rel=1e-5)


def test_w2_refuses_a_2d_grid_and_names_what_computes_it_there():
    """Before: the 2-D cells were flattened against the 1-D cell centres, 0.00611 where the
    discrete W2^2 is 0.05117."""
    from wfr_cvx.ensemble import balanced_transport2

    s = Grid.simplex(12, 6)
    a, b = s.bump((0.3, 0.3), 0.1), s.bump((0.5, 0.2), 0.1)
    b *= a.sum() / b.sum()
    with pytest.raises(ValueError, match=r"1-D grids only, and `grid` is 2-D.*"
                                         r"balanced_transport2"):
        w2_squared_1d(a, b, s)
    m = s.mask[0]  # the call the message names gives the exact discrete value
    assert balanced_transport2(s.coords[m], a[0][m], s.coords[m], b[0][m], np.eye(2)) \
        == pytest.approx(0.0511734, rel=1e-5)


def test_w2_equal_masses_are_judged_relative_to_the_masses():
    """Before: an absolute 1e-12 let 1e-13 against 2e-13 through (5.6e-14) while 1e-6
    against 2e-6 raised."""
    g = Grid(4, 1)
    a, b = g.dirac(0.1), g.dirac(0.9)
    for scale in (1e-13, 1e-6, 1e6):
        with pytest.raises(ValueError, match=r"equal masses.*`rho0`.*`rho1`"):
            w2_squared_1d(scale * a, 2 * scale * b, g)
        assert w2_squared_1d(scale * a, scale * b * (1 + 1e-12), g) == pytest.approx(
            scale * 0.5625, rel=1e-9)


def test_w2_a_regime_empty_at_one_end_may_hold_round_off_at_the_other():
    """Equal masses are judged to the round-off of the whole allocation: a regime empty in
    `rho0` and holding 1e-17 (or 1e-300) in `rho1` is empty at both ends; before, it was
    refused ("rescale one", impossible for 0).  Unequal masses stay refused at any scale."""
    g = Grid(4, 2, regimes=("a", "b"))
    b0, b1 = [0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]
    for dust in (1e-17, 1e-300):
        for r0, r1 in (([[0, 0, 0, 0], b0], [[0, 0, 0, dust], b1]),
                       ([[0, 0, 0, dust], b0], [[0, 0, 0, 0], b1])):
            assert w2_squared_1d(np.array(r0), np.array(r1), g) == pytest.approx(0.0875,
                                                                                   rel=1e-12)
    with pytest.raises(ValueError, match=r"regime 'a' has 0 in `rho0` and 0.1 in `rho1`: "
                                         r"balanced transport moves no mass into a regime "
                                         r"empty in `rho0`"):
        w2_squared_1d(np.array([[0, 0, 0, 0], b0]), np.array([[0, 0, 0, 0.1], b1]), g)
    one = Grid(4, 1)
    with pytest.raises(ValueError, match=r"1e-13 in `rho0` and 2e-13 in `rho1`: rescale one"):
        w2_squared_1d(1e-13 * one.dirac(0.1), 2e-13 * one.dirac(0.9), one)


@pytest.mark.parametrize(("x0", "error", "match"), [
    (np.nan, ValueError, "`x0` must be finite"), (np.inf, ValueError, "`x0` must be finite"),
    ("0.1", TypeError, "`x0` must be a real number"), (True, TypeError, "`x0`"),
    (1 + 0j, TypeError, "`x0`")])
def test_dirac_positions_are_checked_like_the_masses(x0, error, match):
    """Before: a NaN position returned nan and a string position was parsed."""
    with pytest.raises(error, match=match):
        dirac_wfr2(1, 1, x0, 0.3, 1.0)
    with pytest.raises(error, match=match.replace("x0", "x1")):
        dirac_wfr2(1, 1, 0.3, x0, 1.0)


@pytest.mark.parametrize(("value", "match"), [
    (["1", "0"], r"`rho0` must hold real numbers.*dtype <U1"),
    ([1 + 0j, 0], r"`rho0` must hold real numbers.*complex"),
    ([True, False], r"`rho0` holds booleans")])
def test_hellinger_refuses_what_is_not_real_masses(value, match):
    """Before: strings were parsed (2.0) and complex numbers lost their imaginary part with
    only a ComplexWarning."""
    with pytest.raises(TypeError, match=match):
        hellinger2(value, [0, 1], 0.5)
    with pytest.raises(TypeError, match=match.replace("rho0", "rho1")):
        hellinger2([0, 1], value, 0.5)


def test_real_numbers_held_as_objects_are_read_and_other_objects_named():
    """Object arrays of real numbers (Fractions, Decimals, an object DataFrame) are read
    as dirac_wfr2 reads such scalars; before, any object array was refused ("got an array
    of dtype object").  Other objects are refused, naming the argument and the entry."""
    for r0, r1 in ((np.array([1.0, 4.0], dtype=object), np.array([4.0, 1.0], dtype=object)),
                   ([Fraction(1), Fraction(4)], [Decimal(4), Decimal(1)]),
                   (pd.DataFrame([[1.0, 4.0]], dtype=object), [[4, 1]])):
        assert hellinger2(r0, r1, 1.0) == 8.0
    np.testing.assert_array_equal(
        wfr_cost_matrix(np.array([0.0, 0.1], dtype=object), [Fraction(3, 10)], 1.0),
        wfr_cost_matrix([0.0, 0.1], [0.3], 1.0))
    for item, shown in (("4", "'4' (str)"), (1j, "1j (complex)"), (None, "None (NoneType)"),
                        (True, "True (bool)")):
        with pytest.raises(TypeError) as info:
            hellinger2(np.array([1.0, item], dtype=object), [1.0, 1.0], 1.0)
        assert str(info.value) == f"`rho0` must hold real numbers (masses), got {shown} at " \
                                  f"index 1"
    with pytest.raises(TypeError, match=r"`y` must hold real numbers \(point coordinates\), "
                                        r"got 'x' \(str\) at index \[0, 1\]"):
        wfr_cost_matrix([[0.0, 0.0]], np.array([[0.0, "x"]], dtype=object), 1.0)


@pytest.mark.parametrize(("x", "y", "match"), [
    (0.5, [0.0, 1.0], r"`x` must be points of shape \(n,\) or \(n, d\), got shape \(\)"),
    (np.zeros((2, 2, 2)), [0.0], r"`x` must be points .* got shape \(2, 2, 2\)"),
    ([0.0], [np.nan, 1.0], r"`y` has 1 non-finite"),
    (np.zeros((2, 2)), [0.0, 1.0], r"`x` and `y` must be points of one dimension"),
])
def test_cost_matrix_checks_its_points(x, y, match):
    """Before: a scalar raised a bare IndexError, NaN passed through, a 3-D array gave a
    matrix of the wrong shape and points of different dimensions were broadcast."""
    with pytest.raises(ValueError, match=match):
        wfr_cost_matrix(x, y, 0.5)


def test_cost_matrix_takes_points_on_a_line_or_in_d_dimensions():
    assert wfr_cost_matrix([0.0, 1.0], [[0.0], [0.5], [2.0]], 0.5).shape == (2, 3)
    c = wfr_cost_matrix([[0.0, 0.0]], [[0.3, 0.4]], 1.0)
    assert c[0, 0] == pytest.approx(-2 * np.log(np.cos(0.25)))
    with pytest.raises(TypeError, match="`x` holds booleans"):
        wfr_cost_matrix([True], [0.0], 0.5)


def test_hellinger_and_the_cost_matrix_read_labelled_input_by_label():
    """Labelled input was read by position: the same book with its regime columns swapped
    was 6.0 from itself, and DataFrame points with their coordinates in another order were
    apart."""
    g = Grid(4, 1, regimes=("on", "off"))
    a = pd.DataFrame({"on": [1.0, 0, 0, 0], "off": [0, 0, 0, 2.0]}, index=g.weights)
    b = a[["off", "on"]].iloc[::-1]
    assert hellinger2(a, b, lam=0.5) == 0.0
    assert hellinger2(a, b, lam=0.5, grid=g) == 0.0
    assert hellinger2(a, a.to_numpy().T, lam=0.5, grid=g) == 0.0   # an array of grid.shape
    assert hellinger2(a["on"], b["on"], lam=0.5) == 0.0
    assert hellinger2(pd.Series([1.0, 4.0]), [4.0, 1.0], lam=1.0) == 8.0   # labels 0, 1
    with pytest.raises(ValueError, match=r"`rho1` must have the columns labels of `rho0`.*"
                                         r"missing \['on'\], extra \['x'\]"):
        hellinger2(a, b.rename(columns={"on": "x"}), lam=0.5)
    with pytest.raises(ValueError, match=r"`rho0` is labelled \(DataFrame\) but `rho1` is "
                                         r"not.*grid="):
        hellinger2(a, b.to_numpy(), lam=0.5)
    with pytest.raises(TypeError, match="`grid` must be a wfr_cvx.Grid"):
        hellinger2(a, b, lam=0.5, grid="g")
    x = pd.DataFrame({"IBM": [0.1, 0.5], "WMT": [0.9, 0.5]})
    swapped = x[["WMT", "IBM"]]
    np.testing.assert_array_equal(wfr_cost_matrix(x, swapped, 1.0),
                                  wfr_cost_matrix(x.to_numpy(), x.to_numpy(), 1.0))
    with pytest.raises(ValueError, match="`x` is labelled"):
        wfr_cost_matrix(x, swapped.to_numpy(), 1.0)


def test_static_certifies_where_mass_is_destroyed_at_small_lam():
    """Cells whose mass is destroyed have a solver marginal at round-off: their potential
    estimate log(a / r) ~ 690 drove the dual bound to -6e272 and the call raised.  The
    value matches the ensemble engine on the cell centres."""
    g = Grid(32, 1)
    r0, r1 = g.bump(0.6, 0.06, 0, 0.7), g.bump(0.5, 0.06, 0, 0.3)
    lower, upper = static_wfr2_bounds(r0, r1, g, 0.02)
    assert upper - lower <= 1e-4 * upper
    value = static_wfr2(r0, r1, g, 0.02)
    atoms = [Ensemble(g.weights[:, None], r[0]) for r in (r0, r1)]
    assert value == pytest.approx(ensemble_geodesic(*atoms, lam=0.02).distance2, rel=1e-6)
    two = Grid(64, 1, regimes=("on", "off"))
    book0 = two.bump(0.6, 0.06, "on", 0.7) + two.bump(0.3, 0.05, "off", 0.5)
    book1 = two.bump(0.5, 0.06, "on", 0.3) + two.bump(0.4, 0.08, "off", 0.9)
    for metric in (None, 4.0):
        lower, upper = static_wfr2_bounds(book0, book1, two, 0.02, metric=metric)
        assert 0 < upper - lower <= 1e-4 * upper
