"""Reliability: extreme scales, fuzzed entry points, solver-failure paths, determinism."""

import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import wfr_cvx
from wfr_cvx import (
    Grid,
    InaccurateSolutionWarning,
    InfeasibleError,
    ProblemTooLargeError,
    SolverError,
    closed_form,
    markowitz,
)
from wfr_cvx.geodesic import _check_status


# ------------------------------------------------------------------ extreme scales
@pytest.mark.parametrize("mass", [1e-9, 1.0, 1e6])
@pytest.mark.parametrize("lam", [1e-3, 1e-1, 10.0, 1e3])
def test_regime_switch_at_extreme_scales(mass, lam):
    g = Grid(16, 8, regimes=2)
    geo = wfr_cvx.geodesic(g.dirac(0.3, 0, mass), g.dirac(0.3, 1, 2 * mass), g, lam)
    assert geo.distance2 == pytest.approx(4 * lam**2 * 3 * mass, rel=1e-5)


@pytest.mark.parametrize("mass", [1e-9, 1.0, 1e6])
@pytest.mark.parametrize("lam", [1e-3, 1e-1, 10.0])
def test_transport_at_extreme_scales(mass, lam):
    """Figures in user units do not depend on the mass scale (d2 is 1-homogeneous)."""
    g = Grid(16, 8)
    r0, r1 = g.bump(0.3, 0.08, mass=mass), g.bump(0.6, 0.08, mass=mass)
    d2 = wfr_cvx.geodesic(r0, r1, g, lam).distance2
    reference = wfr_cvx.geodesic(r0 / mass, r1 / mass, g, lam).distance2
    assert d2 == pytest.approx(mass * reference, rel=1e-6)
    assert d2 <= closed_form.hellinger2(r0, r1, lam) * (1 + 1e-6)


def test_transport_with_huge_lam_is_a_clear_error_or_w2():
    """lam = 1e3 on [0, 1]: reaction ~1e6 times dearer than transport; either the W2
    limit comes back or a SolverError says what happened, never a wrong number."""
    g = Grid(16, 8)
    r0, r1 = g.bump(0.3, 0.08), g.bump(0.6, 0.08)
    try:
        d2 = wfr_cvx.geodesic(r0, r1, g, 1e3).distance2
    except SolverError as exc:
        assert "lam" in str(exc)
    else:
        assert d2 == pytest.approx(closed_form.w2_squared_1d(r0, r1, g), rel=0.05)


def test_too_large_is_refused_up_front():
    g = Grid(1_000_000, 10_000, regimes=2)
    rho = np.zeros(g.shape)
    rho[0, 0] = 1.0
    with pytest.raises(ProblemTooLargeError, match=r"`grid`.*would need about .* GiB"):
        wfr_cvx.geodesic(rho, rho, g, 1.0)


# ------------------------------------------------------------------ solver failures
@pytest.mark.parametrize(
    ("status", "outcome"),
    [("Solved", None), ("AlmostSolved", InaccurateSolutionWarning),
     ("PrimalInfeasible", InfeasibleError), ("DualInfeasible", InfeasibleError),
     ("MaxIterations", SolverError), ("MaxTime", SolverError),
     ("NumericalError", SolverError), ("InsufficientProgress", SolverError)],
)
def test_status_policy(status, outcome):
    if outcome is None:
        _check_status(status, "clarabel")
    elif outcome is InaccurateSolutionWarning:
        with pytest.warns(InaccurateSolutionWarning):
            _check_status(status, "clarabel")
    else:
        with pytest.raises(outcome) as info:
            _check_status(status, "clarabel")
        assert info.value.status == status


@pytest.mark.parametrize("backend", ["clarabel", "cvxpy"])
def test_time_limit_is_reported(backend):
    g = Grid(64, 16, regimes=2)
    with pytest.raises(SolverError) as info:
        wfr_cvx.geodesic(g.bump(0.3, 0.05, 0), g.bump(0.6, 0.05, 1), g, 0.2,
                         backend=backend, time_limit=1e-6)
    assert info.value.status == "MaxTime"


# ------------------------------------------------------------------ fuzzing
junk = st.one_of(
    st.none(), st.text(max_size=5), st.booleans(), st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=5),
    st.just(np.zeros((0,))), st.just(np.full((2, 8), np.nan)), st.just(-np.ones((1, 8))),
    st.just(np.ones((3, 3, 3))), st.just({"a": 1}),
)


def _assert_clean(call):
    """Only wfr_cvx's documented errors, with a message naming the argument."""
    try:
        call()
    except (ValueError, TypeError, SolverError) as exc:
        assert "`" in str(exc), f"{type(exc).__name__} without an argument name: {exc}"


@given(junk, junk, junk)
def test_fuzz_geodesic(rho0, rho1, lam):
    g = Grid(8, 2)
    for a, b, c in ((rho0, g.bump(0.5, 0.1), 0.3), (g.bump(0.5, 0.1), rho1, 0.3),
                    (g.bump(0.5, 0.1), g.bump(0.4, 0.1), lam)):
        _assert_clean(lambda a=a, b=b, c=c: wfr_cvx.geodesic(a, b, g, c))
    _assert_clean(lambda: wfr_cvx.geodesic(g.bump(0.5, 0.1), g.bump(0.4, 0.1), g, 0.3,
                                           metric=rho0))


@given(junk, junk)
def test_fuzz_rebalance_and_compare(potential, tau):
    g = Grid(8, 2)
    rho = g.bump(0.5, 0.1)
    _assert_clean(lambda: wfr_cvx.rebalance(rho, g, 0.3, potential=potential, tau=1.0))
    _assert_clean(lambda: wfr_cvx.rebalance(rho, g, 0.3, potential=np.zeros(8), tau=tau))
    _assert_clean(lambda: wfr_cvx.compare(rho, potential, g, 0.3))


@given(junk, junk)
def test_fuzz_closed_forms_and_grid(a, b):
    g = Grid(8, 2)
    _assert_clean(lambda: closed_form.dirac_wfr2(a, 1.0, 0.0, 0.5, 0.3))
    _assert_clean(lambda: closed_form.hellinger2(a, b, 0.3))
    _assert_clean(lambda: closed_form.w2_squared_1d(a, g.bump(0.5, 0.1), g))
    _assert_clean(lambda: closed_form.static_wfr2(a, g.bump(0.5, 0.1), g, 0.3))
    _assert_clean(lambda: Grid(a, 2))
    _assert_clean(lambda: Grid(8, 2, regimes=a))
    _assert_clean(lambda: g.dirac(a))
    _assert_clean(lambda: g.bump(0.5, a))


@given(junk, junk)
def test_fuzz_markowitz(mu, cov):
    prices = markowitz.load_prices()
    good_mu, good_cov = markowitz.estimate(prices)
    _assert_clean(lambda: markowitz.mean_variance(mu, good_cov))
    _assert_clean(lambda: markowitz.mean_variance(good_mu, cov))
    _assert_clean(lambda: markowitz.min_variance(good_mu, good_cov, target_return=mu))
    _assert_clean(lambda: markowitz.efficient_frontier(good_mu, good_cov, n_points=mu))
    _assert_clean(lambda: markowitz.estimate(pd.DataFrame({"A": [mu, cov, 1.0]})))


# ------------------------------------------------------------------ determinism
def test_bit_identical_in_fresh_processes():
    script = textwrap.dedent("""
        import hashlib, wfr_cvx
        g = wfr_cvx.Grid(32, 8, regimes=2)
        geo = wfr_cvx.geodesic(g.bump(0.3, 0.05, 0), g.bump(0.6, 0.07, 1, mass=0.8)
                               + g.bump(0.4, 0.05, 0, mass=0.3), g, 0.2)
        print(repr(geo.distance2), hashlib.sha256(geo.rho.tobytes()).hexdigest())
    """)
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           check=True).stdout for _ in range(2)]
    assert runs[0] == runs[1] and runs[0].strip()
