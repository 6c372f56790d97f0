"""The proximal step against Markowitz (its degenerate limit) and the crossover scale."""

import numpy as np
import pandas as pd
import pytest

import wfr_cvx
from wfr_cvx import Grid
from wfr_cvx.finance.markowitz import estimate, load_prices, mean_variance, potential

GAMMA = 4.0
MU = pd.Series([0.03, 0.01], index=["equity", "bonds"])
COV = pd.DataFrame([[0.010, 0.002], [0.002, 0.004]], index=MU.index, columns=MU.index)


def _two_asset_optimum(mu, cov):
    return float(mean_variance(mu, cov, risk_aversion=GAMMA).iloc[0])


@pytest.mark.parametrize("data", ["synthetic", "ibm_wmt"])
def test_large_tau_reaches_the_markowitz_optimum(data):
    if data == "synthetic":
        mu, cov = MU, COV
    else:
        mu, cov = estimate(load_prices()[["IBM", "WMT"]])
    g = Grid(64, 16)
    V = potential(g, mu, cov, risk_aversion=GAMMA)
    step = wfr_cvx.rebalance(g.bump(0.3, 0.05), g, 0.3, potential=V, tau=1e4)
    assert abs(step.mean_weight()[0] - _two_asset_optimum(mu, cov)) <= g.dx
    assert step.target.sum() == pytest.approx(1.0, rel=1e-7)


def test_tau_ladder_moves_monotonically_toward_markowitz():
    g = Grid(64, 16)
    V = potential(g, MU, COV, risk_aversion=GAMMA)
    rho0 = g.bump(0.3, 0.05)
    start = float(rho0[0] @ g.weights)
    optimum = _two_asset_optimum(MU, COV)
    means = [wfr_cvx.rebalance(rho0, g, 0.3, potential=V, tau=tau).mean_weight()[0]
             for tau in (0.1, 1.0, 10.0, 100.0, 1e4)]
    assert start < means[0] < means[1] < means[2] < means[3] < means[4]
    assert abs(means[-1] - optimum) <= g.dx


def test_backends_agree_on_a_step():
    g = Grid(32, 8)
    V = potential(g, MU, COV, risk_aversion=GAMMA)
    a = wfr_cvx.rebalance(g.bump(0.3, 0.05), g, 0.3, potential=V, tau=10.0)
    b = wfr_cvx.rebalance(g.bump(0.3, 0.05), g, 0.3, potential=V, tau=10.0,
                          backend="cvxpy")
    assert a.objective == pytest.approx(b.objective, rel=1e-6)
    # the centred scheme's optimum is a face, not a point (test_simplex: one grid line):
    # the two solves' targets end 2.3e-4 of the peak apart with equal objectives
    np.testing.assert_allclose(a.target, b.target, atol=5e-4 * a.target.max())


def test_mass_flows_to_the_better_regime_less_so_as_lam_grows():
    """Small lam: switching regime is cheap; large lam: it costs more than it gains."""
    g = Grid(48, 16, regimes=("calm", "stress"))
    mu_stress = pd.Series([0.0, 0.005], index=MU.index)
    cov_stress = pd.DataFrame([[0.04, 0.004], [0.004, 0.006]], index=MU.index,
                              columns=MU.index)
    V = potential(g, [MU, mu_stress], [COV, cov_stress], risk_aversion=GAMMA)
    assert V[0].min() < V[1].min()
    rho0 = g.bump(0.5, 0.06, "calm", 0.5) + g.bump(0.5, 0.06, "stress", 0.5)
    switched, reaction_share = [], []
    for lam in (0.02, 0.1, 0.3, 1.0):
        step = wfr_cvx.rebalance(rho0, g, lam, potential=V, tau=2.0)
        switched.append(step.regime_mass()[0] - 0.5)
        reaction_share.append(step.path.reaction_cost / step.path.distance2)
    assert all(s > 0 for s in switched)
    assert switched[0] > switched[1] > switched[2] > switched[3]
    assert reaction_share[0] > 0.9 and reaction_share[-1] < 0.5


def test_a_callable_potential_gets_the_regime_only_as_a_second_required_argument():
    """Before: every parameter counted, so ``V(w, scale=1.0)`` was called as ``V(w,
    "calm")`` and failed inside numpy."""
    import functools

    g = Grid(16, 4, regimes=("calm", "stress"))
    rho0 = g.bump(0.3, 0.08, "calm") + g.bump(0.6, 0.08, "stress")
    centred = (g.coords[:, 0] - 0.5) ** 2
    expected = np.stack([centred, 2.0 * centred])

    def scaled(w, scale=1.0):
        return scale * (w[:, 0] - 0.5) ** 2

    def per_regime(w, regime, scale=1.0):
        return scale * (1.0 if regime == "calm" else 2.0) * (w[:, 0] - 0.5) ** 2

    def defaulted(w, regime=None):
        return per_regime(w, regime)

    def variadic(w, *args):
        return per_regime(w, *args)

    one = wfr_cvx.rebalance(rho0, g, 0.3, potential=np.stack([centred, centred]), tau=1.0)
    two = wfr_cvx.rebalance(rho0, g, 0.3, potential=expected, tau=1.0)
    for V, reference in ((scaled, one), (per_regime, two), (defaulted, two), (variadic, two),
                         (functools.partial(per_regime, scale=1.0), two)):
        step = wfr_cvx.rebalance(rho0, g, 0.3, potential=V, tau=1.0)
        np.testing.assert_array_equal(step.target, reference.target)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(tau=0.0), ValueError, "`tau`"),
        (dict(tau=np.nan), ValueError, "`tau`"),
        (dict(potential=np.ones(5)), ValueError, "`potential` must have shape"),
        (dict(potential=lambda w: np.full(len(w), np.inf)), ValueError, "finite"),
        (dict(constraints=["cap"]), TypeError, "`constraints`"),
        (dict(rho0=np.zeros(16)), ValueError, "positive total mass"),
    ],
)
def test_bad_input(kwargs, error, match):
    g = Grid(16, 4)
    args = dict(rho0=g.bump(0.3, 0.05), grid=g, lam=0.3, potential=np.zeros(16), tau=1.0)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        wfr_cvx.rebalance(**args)
