"""The crossover scale in dollars and its conversion to weight units."""

import math
import warnings

import numpy as np
import pytest

import wfr_cvx
from wfr_cvx.engine import make_request
from wfr_cvx.errors import UnitsWarning
from wfr_cvx.finance.units import crossover_scale, lam_to_dollars, lam_to_weights

# (ADV $/day, spread fraction, impact 1/$): mid cap, small cap, micro cap
MARKETS = [(10e6, 10e-4, 5e-8), (2e6, 30e-4, 5e-7), (1e6, 50e-4, 1e-6)]


@pytest.mark.parametrize(("adv", "spread", "impact"), MARKETS)
def test_realistic_inputs_land_in_the_reference_band(adv, spread, impact):
    lam = crossover_scale(adv, spread, impact)
    assert 50e3 <= lam <= 500e3
    assert lam == pytest.approx(math.sqrt(adv * spread / impact), rel=1e-15)
    # the geometric mean of one day's volume and the spread/impact break-even size
    assert lam == pytest.approx(math.sqrt(adv * (spread / impact)), rel=1e-15)


def test_scaling():
    lam = crossover_scale(10e6, 10e-4, 5e-8)
    assert crossover_scale(40e6, 10e-4, 5e-8) == pytest.approx(2 * lam)  # sqrt of ADV
    assert crossover_scale(10e6, 10e-4, 20e-8) == pytest.approx(lam / 2)  # 1/sqrt impact
    assert isinstance(lam, float)


def test_conversions_are_inverse():
    lam = crossover_scale(10e6, 10e-4, 5e-8)
    w = lam_to_weights(lam, 5e6)
    assert w == pytest.approx(lam / 5e6)
    assert lam_to_dollars(w, 5e6) == pytest.approx(lam, rel=1e-15)
    assert lam_to_dollars(0.05, 2e6) == 100_000.0


def test_weight_lam_feeds_the_engine():
    lam = lam_to_weights(crossover_scale(10e6, 10e-4, 5e-8), portfolio_value=5e6)
    g = wfr_cvx.Grid(16, 4)
    geo = wfr_cvx.geodesic(g.bump(0.3, 0.1), g.bump(0.6, 0.1), g, lam=lam)
    assert geo.lam == pytest.approx(0.0894, abs=1e-4)


@pytest.mark.parametrize("bad", [0.0, -1.0, np.nan, np.inf, -np.inf])
def test_bad_inputs_raise_naming_the_argument(bad):
    good = dict(adv=10e6, spread=10e-4, impact=5e-8)
    for name in good:
        with pytest.raises(ValueError, match=f"`{name}` must be finite and > 0"):
            crossover_scale(**{**good, name: bad})
    with pytest.raises(ValueError, match="`lam_dollars`"):
        lam_to_weights(bad, 1e6)
    with pytest.raises(ValueError, match="`portfolio_value`"):
        lam_to_weights(1e5, bad)
    with pytest.raises(ValueError, match="`lam_weights`"):
        lam_to_dollars(bad, 1e6)
    with pytest.raises(ValueError, match="`portfolio_value`"):
        lam_to_dollars(0.1, bad)


def test_extreme_inputs_do_not_overflow_on_the_way():
    """Before: adv * spread = 1e297, divided by impact = 1e-300, overflowed to inf although
    the root, 3.2e298, is a float."""
    assert crossover_scale(1e300, 1e-3, 1e-300) == pytest.approx(math.sqrt(1e-3) * 1e300,
                                                                  rel=1e-15)
    assert crossover_scale(1e-300, 1e-3, 1e300) == pytest.approx(math.sqrt(1e-3) * 1e-300,
                                                                  rel=1e-15)
    with pytest.raises(ValueError, match=r"adv=1.7e\+308, spread=0.001, impact=4.94066e-324 "
                                         r"is beyond the floating-point range: check the units"):
        crossover_scale(1.7e308, 1e-3, 5e-324)


@pytest.mark.parametrize("bad", ["1e6", None, True, [1e6]])
def test_non_numbers_raise_type_error(bad):
    with pytest.raises(TypeError, match="`adv`"):
        crossover_scale(bad, 10e-4, 5e-8)


def test_a_spread_in_basis_points_is_caught():
    """Before: crossover_scale(spread=10) (1,000 % of the price) returned a number."""
    with pytest.raises(ValueError, match="`spread`.*looks like basis points.*10e-4"):
        crossover_scale(adv=10e6, spread=10, impact=5e-8)
    with pytest.warns(UnitsWarning, match=r"`spread` = 0.3 is 30 % of the price"):
        crossover_scale(adv=10e6, spread=0.3, impact=5e-8)


def test_a_dollar_lam_passed_as_weights_warns():
    """Before: lam = crossover_scale(...) (~4.5e5, dollars) solved to d^2 ~ 1.3e11 silently."""
    lam = crossover_scale(adv=10e6, spread=1e-3, impact=5e-8)
    g = wfr_cvx.Grid(16, 2, regimes=2)
    r0, r1 = g.bump(0.4, 0.1, 0, 0.7), g.bump(0.4, 0.1, 0, 0.3) + g.bump(0.4, 0.1, 1, 0.4)
    with pytest.warns(UnitsWarning, match=r"`lam` = 447214 .*wfr_cvx.lam_to_weights"):
        geo = wfr_cvx.geodesic(r0, r1, g, lam=lam)
    assert geo.distance2 > 1e10  # the number is right for that lam; the units were wrong
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnitsWarning)
        wfr_cvx.geodesic(r0, r1, g, lam=lam_to_weights(lam, portfolio_value=5e6))


@pytest.mark.parametrize("backend", ["clarabel", "cvxpy"])
def test_the_same_problem_in_dollars_gives_the_same_distance(backend):
    """Weights times a book of V dollars: G = V^2 and lam in dollars.  The metric sat
    inside the centred scheme's cones, where V^2 = 2.5e13 drowned the transport: d^2 came
    out 61 % high (the pure-reaction value), "Solved"."""
    g = wfr_cvx.Grid(32, 8, regimes=2)
    a = g.bump(0.3, 0.05, 0, 0.7) + g.bump(0.6, 0.05, 1, 0.3)
    b = g.bump(0.55, 0.05, 0, 0.4) + g.bump(0.35, 0.05, 1, 0.6)
    value = 5e6
    lam_usd = crossover_scale(adv=10e6, spread=1e-3, impact=5e-8)
    in_weights = wfr_cvx.geodesic(a, b, g, lam_to_weights(lam_usd, value), backend=backend)
    in_dollars = wfr_cvx.geodesic(a, b, g, lam_usd, metric=value**2, backend=backend)
    assert in_dollars.distance2 / value**2 == pytest.approx(in_weights.distance2, rel=1e-6)
    assert in_dollars.transport_cost / value**2 == pytest.approx(in_weights.transport_cost,
                                                                 rel=1e-5)


@pytest.mark.parametrize("scheme", ["centred", "power"])
def test_an_off_diagonal_metric_in_any_unit_gives_the_same_distance(scheme):
    """An off-diagonal G sits inside the cones in every scheme: 1e4 G (a Sigma^-1 metric)
    gave 0.2-0.7 % high, 1e6 G 23 % high."""
    s = wfr_cvx.Grid.simplex(12, 4)
    a, b = s.bump((0.25, 0.3), 0.1), 1.2 * s.bump((0.45, 0.25), 0.1)
    G = np.array([[2.0, 0.5], [0.5, 1.0]])
    base = wfr_cvx.geodesic(a, b, s, 0.2, metric=G, scheme=scheme).distance2
    for c in (1e4, 1e12):
        scaled = wfr_cvx.geodesic(a, b, s, 0.2 * math.sqrt(c), metric=c * G, scheme=scheme)
        assert scaled.distance2 / c == pytest.approx(base, rel=1e-6)


@pytest.mark.parametrize(("grid", "domain"), [
    (wfr_cvx.Grid(8, 2), "the weight axis"),
    (wfr_cvx.Grid(8, 2, dims=2), r"the square of weights \[0, 1\]\^2"),
    (wfr_cvx.Grid.simplex(8, 2), "the simplex")])
def test_the_units_warning_names_the_grids_domain(grid, domain):
    """Before: a 2-D grid's domain was called the simplex, the square included."""
    rho = grid.bump((0.3,) * grid.dims if grid.dims == 2 else 0.3, 0.1)
    with pytest.warns(UnitsWarning, match=f"`lam` = 2000 is .* times the length of {domain}: "
                                          r"`lam` is in weight units.*lam_to_weights"):
        make_request(rho, rho, grid, 2000.0)


@pytest.mark.parametrize("dims", [1, 2])
def test_a_small_metric_is_named_as_a_cause_of_a_large_lam(dims):
    """Before: lam = 0.5 with G = 1e-8 was said to be in dollars, a plausible weight-unit
    lam: what is large is lam against the metric's length scale."""
    grid = wfr_cvx.Grid(8, 2, dims=dims)
    rho = grid.bump((0.3,) * dims if dims == 2 else 0.3, 0.1)
    with pytest.warns(UnitsWarning) as record:
        make_request(rho, rho, grid, 0.5, metric=1e-8)
    (message,) = [str(w.message) for w in record if w.category is UnitsWarning]
    assert "times the metric length of" in message
    assert "large against the metric's length scale" in message and "is 0.0001" in message
    assert "Either `lam` is a dollar figure" in message and "lam_to_weights" in message
    assert "or `metric` is on a smaller scale than `lam`" in message
    assert "not dollars" not in message
    # the same problem on the metric's own scale warns nothing
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnitsWarning)
        make_request(rho, rho, grid, 0.5e-4, metric=1e-8)


def test_an_anisotropic_metric_keeps_its_weak_direction_in_the_cones():
    """Factoring the largest eigenvalue of G = diag(1e6, 1) out of the cones made its weak
    direction 1e-6 there: transport_cost 4 % off the path's own, d^2 1.3e-5 low.  The
    smallest eigenvalue (here 1) is what is factored."""
    s = wfr_cvx.Grid.simplex(12, 6)
    a, b = s.bump((0.25, 0.3), 0.1), 1.2 * s.bump((0.45, 0.25), 0.1)
    G = np.diag([1e6, 1.0])
    geo = wfr_cvx.geodesic(a, b, s, 1.0, metric=G)
    with warnings.catch_warnings():  # the tight reference stops "AlmostSolved" near 1e-11
        warnings.simplefilter("ignore", wfr_cvx.errors.InaccurateSolutionWarning)
        tight = wfr_cvx.geodesic(a, b, s, 1.0, metric=G, tol_gap_rel=1e-11,
                                 tol_gap_abs=1e-11, tol_feas=1e-11)
    assert geo.distance2 == pytest.approx(tight.distance2, rel=1e-6)


def test_metric_values_where_no_flux_goes_do_not_set_the_cones_scale():
    """Cell matrices on the simplex's inactive cells, 1e12 times the active ones, changed
    d^2 by 74 % when they set the factored scale."""
    s = wfr_cvx.Grid.simplex(12, 6)
    a, b = s.bump((0.25, 0.3), 0.1), 1.2 * s.bump((0.45, 0.25), 0.1)
    G = np.broadcast_to([[2.0, 0.5], [0.5, 1.0]], (12, 12, 2, 2)).copy()
    plain = wfr_cvx.geodesic(a, b, s, 0.3, metric=G).distance2
    G[~s.mask[0]] *= 1e12
    assert wfr_cvx.geodesic(a, b, s, 0.3, metric=G).distance2 == pytest.approx(plain, rel=1e-9)
