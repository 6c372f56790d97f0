"""The ensemble geodesic against the two-phase paths (wfr_cvx.ensemble.compare)."""

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

import wfr_cvx
from wfr_cvx import Ensemble
from wfr_cvx.ensemble import balanced_transport2
from wfr_cvx.ensemble import compare as compare_ensembles

ASSETS = ("A", "B", "C")


def _random(seed, n0=12, n1=15):
    rng = np.random.default_rng(seed)
    e0 = Ensemble(rng.dirichlet(np.ones(3), n0), mass=rng.uniform(0.5, 1.5, n0),
                  regime=rng.choice(["on", "off"], n0), regimes=("on", "off"), assets=ASSETS)
    e1 = Ensemble(rng.dirichlet(np.ones(3), n1), mass=rng.uniform(0.5, 1.5, n1),
                  regime=rng.choice(["on", "off"], n1), regimes=("on", "off"), assets=ASSETS)
    return e0, e1


def _two_books(mass0, regime0, mass1, regime1):
    """The same two portfolios at both ends, with the given masses and regimes."""
    x = np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    return tuple(Ensemble(x, mass=mass, regime=regime, regimes=("on", "off"), assets=ASSETS)
                 for mass, regime in ((mass0, regime0), (mass1, regime1)))


def test_balanced_transport_is_the_assignment_for_uniform_masses():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(9, 4)), rng.normal(size=(9, 4))
    G = np.cov(rng.normal(size=(4, 20))) + np.eye(4)
    L = np.linalg.cholesky(G)
    cost = np.einsum("ijk,kl,ijl->ij", x[:, None] - y[None], G, x[:, None] - y[None])
    rows, cols = linear_sum_assignment(cost)
    w2 = cost[rows, cols].sum() / 9
    assert balanced_transport2(x, np.full(9, 1 / 9), y, np.full(9, 1 / 9), L) \
        == pytest.approx(w2, rel=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_geodesic_costs_no_more_than_either_two_phase_path(seed):
    e0, e1 = _random(seed)
    table = wfr_cvx.compare(e0, e1, 0.3)  # dispatches on the ensembles
    assert list(table.index) == ["wfr_geodesic", "rebalance_then_switch",
                                 "switch_then_rebalance"]
    geo = table.loc["wfr_geodesic", "distance2"]
    assert (table["distance2"].iloc[1:] >= geo * (1 - 1e-7)).all()
    assert table.loc["wfr_geodesic", "excess_over_geodesic"] == 0.0
    np.testing.assert_allclose(table["transport_cost"] + table["reaction_cost"],
                               table["distance2"], rtol=1e-9)
    same = compare_ensembles(e0, e1, 0.3, geodesic_result=wfr_cvx.ensemble.geodesic(e0, e1,
                                                                                    0.3))
    np.testing.assert_allclose(same["distance2"], table["distance2"], rtol=1e-12)


def test_one_regime_of_equal_mass_rebalances_by_w2_alone():
    """rebalance_then_switch moves e0 onto e1 itself (no switch left): W2^2, which bounds
    the WFR distance from above."""
    rng = np.random.default_rng(5)
    x, y = rng.dirichlet(np.ones(3), 10), rng.dirichlet(np.ones(3), 10)
    e0, e1 = Ensemble(x, assets=ASSETS), Ensemble(y, assets=ASSETS)
    table = compare_ensembles(e0, e1, 2.0)
    cost = ((x[:, None] - y[None]) ** 2).sum(-1)
    rows, cols = linear_sum_assignment(cost)
    w2 = cost[rows, cols].sum()
    assert table.loc["rebalance_then_switch", "phase_b"] == pytest.approx(0.0, abs=1e-12)
    assert table.loc["rebalance_then_switch", "distance2"] == pytest.approx(w2, rel=1e-7)
    assert table.loc["wfr_geodesic", "distance2"] <= w2 * (1 + 1e-7)


def test_a_pure_switch_in_place_is_the_hellinger_cost():
    """Same portfolios, regime masses change: switching in place is the geodesic itself."""
    e0, e1 = _two_books([1.0, 1.0], ["on", "on"], [1.0, 1.0], ["off", "off"])
    lam = 0.2
    table = compare_ensembles(e0, e1, lam)
    hellinger = 4 * lam**2 * 4.0  # 2 atoms destroyed (1 each) and created (1 each)
    assert table.loc["wfr_geodesic", "distance2"] == pytest.approx(hellinger, rel=1e-7)
    assert table.loc["switch_then_rebalance", "distance2"] == pytest.approx(hellinger,
                                                                            rel=1e-7)


def test_compare_arguments_are_checked():
    e0, e1 = _random(0)
    with pytest.raises(TypeError, match="ensembles have no grid"):
        wfr_cvx.compare(e0, e1, wfr_cvx.Grid(8, 2), 0.3)
    with pytest.raises(TypeError, match="`markowitz` applies to grid allocations"):
        wfr_cvx.compare(e0, e1, 0.3, markowitz=(None, None))
    with pytest.raises(ValueError, match="`lam`"):
        wfr_cvx.compare(e0, e1, -1.0)


def test_compare_names_an_array_mixed_with_an_ensemble():
    """Before: "ensembles have no grid: call compare(e0, e1, lam)", with a grid given for
    the array end."""
    e0, _ = _random(0)
    g = wfr_cvx.Grid(8, 2)
    with pytest.raises(TypeError, match=r"two Ensembles or two allocations on a grid, got "
                                        r"`rho0` of type ndarray and `rho1` of type Ensemble"):
        wfr_cvx.compare(g.bump(0.3, 0.1), e0, g, 0.3)
    with pytest.raises(TypeError, match=r"`rho0` of type Ensemble and `rho1` of type ndarray"):
        wfr_cvx.compare(e0, g.bump(0.3, 0.1), 0.3)


def test_compare_refuses_what_ensembles_do_not_use():
    """Before: a grid's `scheme` (even "bogus") and `risk_aversion` without `markowitz`
    were ignored between ensembles, and `lam` given twice was said to be a grid."""
    e0, e1 = _random(0)
    with pytest.raises(TypeError, match="`scheme` .* mesh-free"):
        wfr_cvx.compare(e0, e1, 0.3, scheme="bogus")
    with pytest.raises(TypeError, match="`risk_aversion` .* no effect"):
        wfr_cvx.compare(e0, e1, 0.3, risk_aversion=-5)
    with pytest.raises(TypeError, match="takes `lam` once"):
        wfr_cvx.compare(e0, e1, 0.3, lam=0.5)
    g = wfr_cvx.Grid(8, 2)
    with pytest.raises(TypeError, match="`risk_aversion` .* no effect"):
        wfr_cvx.compare(g.bump(0.3, 0.1), g.bump(0.6, 0.1), g, 0.3, risk_aversion=2.0)


@pytest.mark.parametrize("entry", [wfr_cvx.compare, compare_ensembles])
def test_compare_refuses_constraints(entry):
    """Before: constraints reached the geodesic only -- under MaxTravel(0.1) the geodesic
    row said 6.0 and the unconstrained two-phase rows 1.74 (excess -0.71)."""
    e0, e1 = _random(0)
    with pytest.raises(TypeError, match=r"compare\(\) does not take `constraints`"):
        entry(e0, e1, 0.5, constraints=[wfr_cvx.MaxTravel(0.1)])


def test_rebalancing_each_regime_onto_its_own_target_is_taken():
    """Each regime keeps its portfolio and only its mass changes: rebalancing each regime
    onto its own target moves nothing and the switch is the Hellinger cost (the geodesic
    itself); pooling the targets would move the regimes' books into each other."""
    e0, e1 = _two_books([1.0, 1.0], ["on", "off"], [2.0, 0.5], ["on", "off"])
    lam = 0.2
    table = compare_ensembles(e0, e1, lam)
    hellinger = 4 * lam**2 * ((np.sqrt(2.0) - 1) ** 2 + (np.sqrt(0.5) - 1) ** 2)
    assert table.attrs["intermediate"] == {"rebalance_then_switch": "per regime",
                                           "switch_then_rebalance": "per regime"}
    for path in ("rebalance_then_switch", "switch_then_rebalance"):
        assert table.loc[path, "distance2"] == pytest.approx(hellinger, rel=1e-9)
        assert table.loc[path, "transport_cost"] == pytest.approx(0.0, abs=1e-12)
    assert table.loc["wfr_geodesic", "distance2"] == pytest.approx(hellinger, rel=1e-6)


@pytest.mark.parametrize("forward", [True, False])
def test_a_regime_empty_at_one_end_is_not_moved_before_its_reaction(forward):
    """Regime 'off' holds 0.5 at the start and nothing at the target: rebalancing 'on' alone
    (0.5 moved 0.3 in each of two assets) and then switching, 'off' destroyed where it
    sits, is (sqrt(move) + sqrt(switch))^2; switching first makes 'on' 1.0, which then
    moves.  Reversed, the paths trade places ('off' created on its own target atom).
    Before: 'off' was first moved onto the pooled target portfolios (0.780544 for
    0.576415), the destroying costing 4 lam^2 m wherever the mass sits."""
    lam = 0.3
    e0 = Ensemble(np.array([[0.2, 0.8], [0.8, 0.2]]), mass=[0.5, 0.5], regime=["on", "off"],
                  regimes=("on", "off"), assets=("A", "B"))
    e1 = Ensemble(np.array([[0.5, 0.5]]), mass=[1.0], regime=["on"], regimes=("on", "off"),
                  assets=("A", "B"))
    switch = 4 * lam**2 * ((1 - np.sqrt(0.5)) ** 2 + 0.5)
    in_place = (np.sqrt(0.5 * (0.3**2 + 0.3**2)) + np.sqrt(switch)) ** 2
    moved_whole = (np.sqrt(0.3**2 + 0.3**2) + np.sqrt(switch)) ** 2
    paths = ["rebalance_then_switch", "switch_then_rebalance"]
    if not forward:
        e0, e1 = e1, e0
        paths.reverse()
    table = compare_ensembles(e0, e1, lam)
    assert table.loc[paths[0], "distance2"] == pytest.approx(in_place, rel=1e-9)
    assert table.loc[paths[1], "distance2"] == pytest.approx(moved_whole, rel=1e-9)
    assert table.attrs["intermediate"][paths[0]] == "per regime"


def test_a_given_geodesic_must_be_that_of_the_inputs():
    e0, e1 = _random(0)
    geo = wfr_cvx.ensemble.geodesic(e0, e1, 0.3)
    table = compare_ensembles(e0, e1, 0.3, geodesic_result=geo)
    assert table.loc["wfr_geodesic", "distance2"] == geo.distance2
    for kwargs, what in (({"lam": 0.5}, "lam"), ({"metric": 2.0}, "metric")):
        with pytest.raises(ValueError, match=f"its {what} differ"):
            compare_ensembles(e0, e1, **{"lam": 0.3, **kwargs}, geodesic_result=geo)
    with pytest.raises(ValueError, match="its e0, e1 differ"):
        compare_ensembles(e1, e0, 0.3, geodesic_result=geo)
    capped = wfr_cvx.ensemble.geodesic(e0, e1, 0.3, constraints=[wfr_cvx.ensemble.MaxTravel(0.2)])
    with pytest.raises(ValueError, match="its constraints differ"):
        compare_ensembles(e0, e1, 0.3, geodesic_result=capped)


def test_a_pooled_middle_merges_regimes_at_one_portfolio():
    """Both regimes hold the same two books: the pooled middle of switch_then_rebalance is
    e1 itself, so that path is pure reaction, 4 lam^2 sum (sqrt b - sqrt a)^2 = 0.42229.
    Priced atom by atom, a regime's pooled mass on the other regime's atom counted as
    created from nothing: 0.512 ('per regime' won, the excess was 0.367 for 0.127)."""
    x = [[0.1], [0.9], [0.1], [0.9]]
    regime = ["on", "on", "off", "off"]
    e0 = Ensemble(x, mass=[0.9, 0.1, 0.1, 0.9], regime=regime, regimes=("on", "off"))
    e1 = Ensemble(x, mass=[0.5] * 4, regime=regime, regimes=("on", "off"))
    table = wfr_cvx.compare(e0, e1, 0.5)
    exact = 4 * 0.5**2 * 2 * ((np.sqrt(0.5) - np.sqrt(0.9)) ** 2
                              + (np.sqrt(0.5) - np.sqrt(0.1)) ** 2)
    assert table.loc["switch_then_rebalance", "distance2"] == pytest.approx(exact, rel=1e-9)
    assert table.attrs["intermediate"]["switch_then_rebalance"] == "pooled"


def test_masses_over_many_orders_of_magnitude_are_compared():
    """Gaussian tails down to 1e-9 of the peak: HiGHS's presolve called the balanced
    transport LP infeasible (SolverError).  Truth: the same books with the tails below
    1e-6 dropped, which move d^2 by ~1e-6."""
    x = (np.arange(128) + 0.5) / 128

    def bump(centre, width, mass):
        profile = np.exp(-0.5 * ((x - centre) / width) ** 2)
        return mass * profile / profile.sum()

    a, b = bump(0.3, 0.06, 1.0), bump(0.62, 0.05, 1.5)
    tables = [wfr_cvx.compare(Ensemble(x[a > floor, None], a[a > floor]),
                              Ensemble(x[b > floor, None], b[b > floor]), 0.2)
              for floor in (1e-9, 1e-6)]
    np.testing.assert_allclose(tables[0]["distance2"], tables[1]["distance2"], rtol=1e-4)


def test_balanced_transport_refuses_unequal_totals():
    """Normalising both marginals must not turn a misuse into a number (it returned 0.5)."""
    with pytest.raises(ValueError, match="balanced transport needs equal total masses"):
        balanced_transport2(np.array([[0.0], [1.0]]), np.array([1.0, 1.0]),
                            np.array([[0.0], [1.0]]), np.array([1.0, 3.0]), np.eye(1))
