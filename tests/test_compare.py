"""The geodesic against the traditional two-phase paths."""

import numpy as np
import pandas as pd
import pytest

import wfr_cvx
from wfr_cvx import Grid
from wfr_cvx.closed_form import hellinger2, w2_squared_1d
from wfr_cvx.demo import build


def _random_problem(seed):
    rng = np.random.default_rng(seed)
    g = Grid(48, 16, regimes=3)

    def allocation():
        rho = g.zeros()
        for k in range(3):
            rho += g.bump(rng.uniform(0.2, 0.8), rng.uniform(0.04, 0.1), k,
                          rng.uniform(0.1, 1.0))
        return rho

    return g, allocation(), allocation()


@pytest.mark.parametrize("lam", [0.05, 0.15, 0.5])
def test_geodesic_beats_both_traditional_paths_on_the_demo(lam):
    g, r0, r1 = build(48, 16)
    table = wfr_cvx.compare(r0, r1, g, lam)
    assert list(table.index) == list(wfr_cvx.compare.__globals__["PATHS"])
    geo = table.loc["wfr_geodesic", "distance2"]
    assert table["distance2"].min() == geo
    assert (table["excess_over_geodesic"].iloc[1:] > 0).all()
    np.testing.assert_allclose(table["transport_cost"] + table["reaction_cost"],
                               table["distance2"], rtol=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_geodesic_beats_traditional_paths_on_random_problems(seed):
    g, r0, r1 = _random_problem(seed)
    table = wfr_cvx.compare(r0, r1, g, 0.2)
    assert (table["distance2"].iloc[1:] >= table.loc["wfr_geodesic", "distance2"]).all()


def test_phases_match_closed_forms():
    """A reaction-only phase is the Hellinger distance; a transport-only phase is W2; on the
    demo both two-phase paths take the per-regime intermediate."""
    g, r0, r1 = build(64, 16)
    lam = 0.15
    table = wfr_cvx.compare(r0, r1, g, lam)
    assert table.attrs["intermediate"] == {"rebalance_then_switch": "per regime",
                                           "switch_then_rebalance": "per regime"}
    m0, m1 = r0.sum(axis=1), r1.sum(axis=1)
    moved = r1 * (m0 / m1)[:, None]  # each regime on its own target profile
    assert table.loc["rebalance_then_switch", "phase_b"] == pytest.approx(
        hellinger2(moved, r1, lam), rel=1e-9)
    assert table.loc["rebalance_then_switch", "phase_a"] == pytest.approx(
        w2_squared_1d(r0, moved, g), rel=0.02)
    switched = r0 * (m1 / m0)[:, None]  # each regime re-weighted on its own profile
    assert table.loc["switch_then_rebalance", "phase_a"] == pytest.approx(
        hellinger2(r0, switched, lam), rel=1e-9)
    assert table.loc["switch_then_rebalance", "phase_b"] == pytest.approx(
        w2_squared_1d(switched, r1, g), rel=0.02)


def test_the_cheaper_intermediate_is_taken():
    """Rebalancing each regime onto its own target profile beats rebalancing every regime
    onto the pooled profile (which then needs a large switch) on the README's problem: the
    table gives the cheaper, and it is (d_A + d_B)^2 of its two phases."""
    g = Grid(64, 16, regimes=("risk_on", "risk_off"))
    r0 = g.bump(0.60, 0.05, "risk_on", mass=0.7) + g.bump(0.35, 0.06, "risk_off", mass=0.3)
    r1 = g.bump(0.55, 0.05, "risk_on", mass=0.3) + g.bump(0.25, 0.06, "risk_off", mass=0.7)
    lam = 0.15
    table = wfr_cvx.compare(r0, r1, g, lam)
    m0 = r0.sum(axis=1)
    profile = r1.sum(axis=0) / r1.sum()
    pooled = m0[:, None] * profile[None, :]
    pooled_action = (np.sqrt(w2_squared_1d(r0, pooled, g))
                     + np.sqrt(hellinger2(pooled, r1, lam))) ** 2
    row = table.loc["rebalance_then_switch"]
    assert table.attrs["intermediate"]["rebalance_then_switch"] == "per regime"
    assert row["distance2"] == pytest.approx(
        (np.sqrt(row["phase_a"]) + np.sqrt(row["phase_b"])) ** 2, rel=1e-12)
    assert row["distance2"] < pooled_action / 3
    assert row["distance2"] > table.loc["wfr_geodesic", "distance2"]


def test_markowitz_weights_per_regime():
    import pandas as pd

    g, r0, r1 = build(32, 8)
    mu = pd.Series([0.02, 0.01], index=["equity", "bonds"])
    cov = pd.DataFrame([[0.01, 0.002], [0.002, 0.004]], index=mu.index, columns=mu.index)
    table = wfr_cvx.compare(r0, r1, g, 0.15, markowitz=[(mu, cov), (mu * 0.2, cov * 3)],
                            risk_aversion=4.0)
    weights = table.attrs["markowitz"]
    assert list(weights.index) == list(g.regimes)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-9)
    assert weights.loc["risk_on", "equity"] > weights.loc["risk_off", "equity"]


def test_bad_input():
    g, r0, r1 = build(16, 4)
    with pytest.raises(ValueError, match="positive total mass"):
        wfr_cvx.compare(g.zeros(), r1, g, 0.1)
    with pytest.raises(ValueError, match="one per regime"):
        wfr_cvx.compare(r0, r1, g, 0.1, markowitz=[(1, 2), (3, 4), (5, 6)])
    # before: "unknown solver option(s) ['constraints']"
    with pytest.raises(TypeError, match=r"compare\(\) does not take `constraints`: .*"
                                        r"two-phase paths"):
        wfr_cvx.compare(r0, r1, g, 0.1, constraints=[wfr_cvx.MaxVelocity(0.5)])
    # none given is no constraint
    pd.testing.assert_frame_equal(wfr_cvx.compare(r0, r1, g, 0.1, constraints=()),
                                  wfr_cvx.compare(r0, r1, g, 0.1), check_exact=False)


def test_a_given_geodesic_of_other_inputs_is_refused():
    """compare() takes no constraints: a constrained geodesic is another problem's."""
    g, r0, r1 = build(16, 4)
    geo = wfr_cvx.geodesic(r0, r1, g, 0.1)
    table = wfr_cvx.compare(r0, r1, g, 0.1, geodesic=geo)
    assert table.loc["wfr_geodesic", "distance2"] == geo.distance2
    capped = wfr_cvx.geodesic(r0, r1, g, 0.1, constraints=[wfr_cvx.MaxVelocity(0.05)])
    with pytest.raises(ValueError, match="its constraints differ"):
        wfr_cvx.compare(r0, r1, g, 0.1, geodesic=capped)
    with pytest.raises(ValueError, match="its lam differ"):
        wfr_cvx.compare(r0, r1, g, 0.2, geodesic=geo)


def test_equal_ends_have_no_excess():
    """Before: NaN for the geodesic and inf for the two-phase rows (0/0 and 3e-38/0)."""
    from wfr_cvx.ensemble import Ensemble

    g = Grid(32, 8, regimes=2)
    a = g.bump(0.4, 0.08, 0, 0.6) + g.bump(0.5, 0.08, 1, 0.4)
    e = Ensemble([[0.2, 0.8], [0.5, 0.5]], [1.0, 2.0])
    for table in (wfr_cvx.compare(a, a.copy(), g, 0.2), wfr_cvx.compare(e, e, 0.2)):
        assert (table["excess_over_geodesic"] == 0.0).all()


def test_markowitz_pair_of_plain_lists_is_one_pair(monkeypatch):
    """Before: (mu, cov) as Python lists was read as two (mu, cov) pairs ("got 2"), on a
    2-regime grid only after the geodesic was solved."""
    from wfr_cvx import comparison
    from wfr_cvx.finance import mean_variance

    mu, cov = [0.01, 0.02], [[0.04, 0.0], [0.0, 0.01]]
    g = Grid(16, 4)
    table = wfr_cvx.compare(g.bump(0.4, 0.1), g.bump(0.6, 0.1), g, 0.3, markowitz=(mu, cov))
    expected = mean_variance(np.array(mu), np.array(cov))
    np.testing.assert_allclose(table.attrs["markowitz"].to_numpy(), [expected], atol=1e-12)
    g2 = Grid(16, 4, regimes=2)
    r0, r1 = g2.bump(0.4, 0.1), g2.bump(0.6, 0.1)
    two = wfr_cvx.compare(r0, r1, g2, 0.3, markowitz=[mu, cov])
    np.testing.assert_allclose(two.attrs["markowitz"].to_numpy(), [expected] * 2,
                               atol=1e-12)
    per_regime = wfr_cvx.compare(r0, r1, g2, 0.3, markowitz=[(mu, cov), [mu[::-1], cov]])
    np.testing.assert_allclose(per_regime.attrs["markowitz"].iloc[0], expected, atol=1e-12)

    # a bad pair is refused before the geodesic is solved, naming the regime
    def refuse(*args, **kwargs):
        raise AssertionError("solved before `markowitz` was checked")

    monkeypatch.setattr(comparison, "solve", refuse)
    with pytest.raises(ValueError, match=r"`markowitz` for regime '1': `cov` must have "
                                         r"shape \(2, 2\)"):
        wfr_cvx.compare(r0, r1, g2, 0.3, markowitz=[(mu, cov), (mu, [[0.04, 0.0]])])
    with pytest.raises(ValueError, match=r"`markowitz` for regime '1' must be a pair"):
        wfr_cvx.compare(r0, r1, g2, 0.3, markowitz=[(mu, cov), 5])


def _capped_problem():
    """The README's risk-off cap (no risk-off weight above 0.8) on a coarser grid."""
    g = Grid(32, 8, regimes=("risk_on", "risk_off"),
             mask=[[True] * 32, list(Grid(32, 8).weights <= 0.8)])
    a = g.bump(0.6, 0.05, "risk_on", 0.7) + g.bump(0.3, 0.05, "risk_off", 0.3)
    b = g.bump(0.5, 0.05, "risk_on", 0.3) + g.bump(0.2, 0.05, "risk_off", 0.7)
    return g, a, b


def test_compare_on_a_masked_grid():
    """Before: InfeasibleError "...under the grid.mask" -- the pooled intermediate spread
    risk-off mass over the capped cells.  Every two-phase path is priced, dearer than the
    geodesic, and the reaction phases are the Hellinger distance in closed form."""
    g, a, b = _capped_problem()
    lam = 0.15
    table = wfr_cvx.compare(a, b, g, lam)
    geo = table.loc["wfr_geodesic", "distance2"]
    assert geo == pytest.approx(wfr_cvx.geodesic(a, b, g, lam).distance2, rel=1e-9)
    assert (table["distance2"].iloc[1:] > geo).all()
    assert table.attrs["intermediate"] == {"rebalance_then_switch": "per regime",
                                           "switch_then_rebalance": "per regime"}
    m0, m1 = a.sum(axis=1), b.sum(axis=1)
    moved, switched = b * (m0 / m1)[:, None], a * (m1 / m0)[:, None]
    assert table.loc["rebalance_then_switch", "phase_b"] == pytest.approx(
        hellinger2(moved, b, lam), rel=1e-9)
    assert table.loc["switch_then_rebalance", "phase_a"] == pytest.approx(
        hellinger2(a, switched, lam), rel=1e-9)
    for path in ("rebalance_then_switch", "switch_then_rebalance"):
        row = table.loc[path]
        assert row["distance2"] == pytest.approx(
            (np.sqrt(row["phase_a"]) + np.sqrt(row["phase_b"])) ** 2, rel=1e-12)


def test_the_pooled_intermediate_keeps_to_each_regimes_active_cells():
    """Each regime's mass on the pooled profile conditioned on its active cells; none when
    that profile has no mass there."""
    from wfr_cvx.comparison import _pooled

    g, a, b = _capped_problem()
    m0 = a.sum(axis=1)
    middle = _pooled(m0, b, g.mask)
    assert not middle[~g.mask].any()
    np.testing.assert_allclose(middle.sum(axis=1), m0, rtol=1e-12)
    pooled = b.sum(axis=0)
    np.testing.assert_allclose(middle[0], m0[0] * pooled / pooled.sum(), rtol=1e-12)
    active = g.mask[1]
    np.testing.assert_allclose(middle[1][active],
                               m0[1] * pooled[active] / pooled[active].sum(), rtol=1e-12)
    # the target wholly risk-on above the cap: no pooled place for the risk-off mass
    high = g.zeros()
    high[0, -1] = 1.0
    assert _pooled(m0, high, g.mask) is None


def test_a_regime_empty_at_one_end_keeps_its_other_profile():
    """Its mass is removed (or created) by reaction alone, at 4 lam^2 m whatever its
    profile: the per-regime intermediate leaves it where it is.  On the capped grid with
    the target wholly risk-on above the cap, neither intermediate could otherwise place
    the risk-off mass."""
    g, a, _ = _capped_problem()
    b = g.zeros()
    b[0, -1] = 1.0
    lam = 0.15
    table = wfr_cvx.compare(a, b, g, lam)
    row = table.loc["rebalance_then_switch"]
    middle = a.copy()
    middle[0] = a[0].sum() * b[0] / b[0].sum()
    assert row["phase_b"] == pytest.approx(hellinger2(middle, b, lam), rel=1e-9)
    assert table.attrs["intermediate"]["rebalance_then_switch"] == "per regime"


def test_a_two_phase_path_the_mask_cuts_is_named():
    """Transport alone cannot cross inactive cells: the error names the path and its
    intermediates, not the user's (feasible) problem."""
    g = Grid(16, 4, mask=[i not in (7, 8) for i in range(16)])
    a, b = g.bump(0.2, 0.05), g.bump(0.8, 0.05)
    assert wfr_cvx.geodesic(a, b, g, 0.3).distance2 > 0
    with pytest.raises(wfr_cvx.InfeasibleError,
                       match=r"two-phase path 'rebalance_then_switch' cannot be built .*"
                             r"'per regime': a phase reported infeasible"):
        wfr_cvx.compare(a, b, g, 0.3)
