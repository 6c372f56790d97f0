"""The policy of a geodesic, the upwind step (kernel vs numpy) and the rollout."""

import numpy as np
import pytest

import wfr_cvx
from wfr_cvx import Grid
from wfr_cvx.analysis.dynamics import (
    make_upwind_transport,
    outflow_courant,
    policy,
    rollout,
    step,
)


def upwind_reference(rho, velocity, dt, dx):
    """Plain numpy: face fluxes m = v * rho_upwind, then rho - dt * div(m)."""
    upwind = np.where(velocity > 0, rho[..., :-1], rho[..., 1:])
    m = velocity * upwind
    div = np.zeros_like(rho)
    div[..., :-1] += m / dx
    div[..., 1:] -= m / dx
    return rho - dt * div


def _regime_shift(n, T):
    """Bumps move 0.15 and 0.1 while 0.4 of the mass switches regime; both regimes hold
    mass at both ends."""
    g = Grid(n, T, regimes=2)
    r0 = g.bump(0.3, 0.08, 0, mass=0.8) + g.bump(0.5, 0.08, 1, mass=0.2)
    r1 = g.bump(0.45, 0.08, 0, mass=0.4) + g.bump(0.6, 0.08, 1, mass=0.6)
    return wfr_cvx.geodesic(r0, r1, g, lam=0.3)


@pytest.fixture(scope="module")
def coarse():
    return _regime_shift(32, 8)


# ------------------------------------------------------------------- kernel & step
@pytest.mark.parametrize("shape", [(1, 2), (2, 7), (3, 4, 33)])
def test_kernel_matches_numpy_reference(shape):
    rng = np.random.default_rng(sum(shape))
    g = Grid(shape[-1], 1)
    dt = 0.01
    rho = rng.uniform(0.0, 1.0, shape)
    v = rng.normal(0.0, 1.0, (*shape[:-1], shape[-1] - 1))
    v *= 0.99 / outflow_courant(v, g, dt)  # outflow Courant number just below 1
    out = make_upwind_transport(g, dt)(rho, v, np.empty(shape))
    np.testing.assert_allclose(out, upwind_reference(rho, v, dt, g.dx), rtol=1e-13,
                               atol=1e-15)
    np.testing.assert_allclose(out.sum(axis=-1), rho.sum(axis=-1), rtol=1e-13)
    assert out.min() >= 0.0
    with pytest.raises(ValueError, match="`out` must be a C-contiguous"):
        make_upwind_transport(g, dt)(rho, v, np.empty((*shape[:-1], 2 * shape[-1]))[..., ::2])


def test_courant_one_on_diverging_faces_empties_the_cell_exactly():
    g = Grid(3, 1)
    dt = 0.1
    v = np.array([[-0.5, 0.5]]) * g.dx / dt  # half leaves each way: c = 1 in cell 1
    out = step([1.0, 2.0, 3.0], v, np.zeros(3), g, dt)
    np.testing.assert_array_equal(out, [[2.0, 0.0, 4.0]])
    assert outflow_courant(v, g, dt) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="`dt`.*Courant"):
        step([1.0, 2.0, 3.0], v, np.zeros(3), g, 1.01 * dt)


def test_step_reaction_is_multiplicative():
    g = Grid(5, 1, regimes=2)
    rng = np.random.default_rng(7)
    rho = rng.uniform(0.0, 1.0, g.shape)
    rate = rng.normal(0.0, 2.0, g.shape)
    out = step(rho, np.zeros(g.face_shape), rate, g, 0.3)
    np.testing.assert_allclose(out, rho * np.exp(0.3 * rate), rtol=1e-14)
    # transport then reaction (Lie splitting)
    v = rng.normal(0.0, 0.2, g.face_shape)
    out = step(rho, v, rate, g, 0.1)
    np.testing.assert_allclose(out, upwind_reference(rho, v, 0.1, g.dx) * np.exp(0.1 * rate),
                               rtol=1e-13)


# ------------------------------------------------------------------------- policy
def test_policy_interpolates_between_step_midpoints(coarse):
    g = coarse.grid
    for k in range(g.n_steps):
        v, r = policy(coarse, (k + 0.5) * g.dt)
        np.testing.assert_allclose(v, coarse.velocity[k], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(r, coarse.rate[k], rtol=1e-12, atol=1e-15)
    v, r = policy(coarse, 3.8 * g.dt)  # 0.3 of the way from midpoint 3 to midpoint 4
    np.testing.assert_allclose(v, 0.7 * coarse.velocity[3] + 0.3 * coarse.velocity[4])
    np.testing.assert_allclose(r, 0.7 * coarse.rate[3] + 0.3 * coarse.rate[4])
    assert v.shape == g.face_shape and r.shape == g.shape
    for s, k in [(0.0, 0), (0.25 * g.dt, 0), (1.0, -1), (1.0 - 0.1 * g.dt, -1)]:
        v, r = policy(coarse, s)
        np.testing.assert_array_equal(v, coarse.velocity[k])
        np.testing.assert_array_equal(r, coarse.rate[k])


def test_policy_of_a_one_step_path():
    g = Grid(8, 1)
    geo = wfr_cvx.geodesic(g.bump(0.4, 0.1), g.bump(0.5, 0.1), g, lam=1.0)
    for s in (0.0, 0.3, 1.0):
        np.testing.assert_array_equal(policy(geo, s)[0], geo.velocity[0])


# ------------------------------------------------------------ acceptance 4: rollout
def test_rollout_reproduces_rho1_and_converges(coarse):
    errors = []
    for geo in (coarse, _regime_shift(64, 16), _regime_shift(128, 32)):
        g = geo.grid
        path = rollout(geo)
        assert path.shape == (g.n_steps + 1, *g.shape)
        np.testing.assert_array_equal(path[0], geo.rho[0])
        assert path.min() >= 0.0
        target = geo.rho[-1]
        errors.append(np.abs(path[-1] - target).sum() / target.sum())
        # regime masses arrive within 0.3 %, centres of mass within 2.5e-3 (both shrink)
        np.testing.assert_allclose(path[-1].sum(axis=1), target.sum(axis=1), rtol=5e-3)
        centre = (path[-1] * g.weights).sum(axis=1) / path[-1].sum(axis=1)
        np.testing.assert_allclose(centre, (target * g.weights).sum(axis=1)
                                   / target.sum(axis=1), atol=3e-3)
    # relative L1 error: 0.170, 0.104, 0.058 -- first order in dx (upwind diffusion)
    np.testing.assert_allclose(errors, [0.170, 0.104, 0.058], rtol=0.05)
    assert errors[0] / errors[1] > 1.5 and errors[1] / errors[2] > 1.5


def test_rollout_of_pure_reaction_is_close():
    g = Grid(32, 8, regimes=2)
    r0 = g.bump(0.3, 0.08, 0, mass=0.8) + g.bump(0.5, 0.08, 1, mass=0.2)
    r1 = g.bump(0.3, 0.08, 0, mass=0.3) + g.bump(0.5, 0.08, 1, mass=0.7)
    geo = wfr_cvx.geodesic(r0, r1, g, lam=0.3)
    error = np.abs(rollout(geo)[-1] - r1).sum() / r1.sum()
    assert error < 1e-3, f"rollout error {error:.3g}"


def test_rollout_cannot_fill_an_empty_regime():
    """Documented limit: exp(r dt) keeps an empty cell empty."""
    g = Grid(16, 4, regimes=2)
    geo = wfr_cvx.geodesic(g.bump(0.5, 0.1, 0), g.bump(0.5, 0.1, 1), g, lam=0.3)
    path = rollout(geo)
    assert not np.any(path[:, 1])


def test_rollout_substeps(coarse):
    needed = int(np.ceil(outflow_courant(coarse.velocity, coarse.grid, coarse.grid.dt)))
    np.testing.assert_array_equal(rollout(coarse), rollout(coarse, n_substeps=needed))
    finer = rollout(coarse, n_substeps=4 * needed)
    assert np.abs(finer[-1] - coarse.rho[-1]).sum() < 0.2 * coarse.rho[-1].sum()
    with pytest.raises(ValueError, match=f"`n_substeps` must be >= {needed}"):
        rollout(coarse, n_substeps=needed - 1)
    with pytest.raises(TypeError, match="`n_substeps`"):
        rollout(coarse, n_substeps=2.5)


# -------------------------------------------------------- acceptance 5: bad input
def test_step_bad_input_names_the_argument():
    g = Grid(6, 2, regimes=2)
    other = Grid(5, 2, regimes=2)
    rho, v, r = g.bump(0.5, 0.2, 0), np.zeros(g.face_shape), np.zeros(g.shape)
    with pytest.raises(ValueError, match="`rho` must have shape"):
        step(other.bump(0.5, 0.2, 0), v, r, g, 0.1)
    with pytest.raises(ValueError, match="`velocity` must have shape"):
        step(rho, np.zeros(other.face_shape), r, g, 0.1)
    with pytest.raises(ValueError, match="`rate` must have shape"):
        step(rho, v, np.zeros(other.shape), g, 0.1)
    with pytest.raises(ValueError, match="`velocity` must have shape"):
        step(rho, np.zeros(g.shape), r, g, 0.1)  # cells where faces are expected
    negative = rho.copy()
    negative[0, 2] = -0.1
    with pytest.raises(ValueError, match="`rho` has 1 negative"):
        step(negative, v, r, g, 0.1)
    for dt in (0.0, -0.1):
        with pytest.raises(ValueError, match="`dt` must be > 0"):
            step(rho, v, r, g, dt)
    with pytest.raises(ValueError, match="`dt` must be finite"):
        step(rho, v, r, g, np.nan)
    bad = v.copy()
    bad[1, 1] = np.inf
    with pytest.raises(ValueError, match="`velocity` has 1 non-finite"):
        step(rho, bad, r, g, 0.1)
    with pytest.raises(ValueError, match="`rate`"):
        step(rho, v, np.full(g.shape, 1e4), g, 0.1)  # exp(1000) overflows
    with pytest.raises(TypeError, match="`grid`"):
        step(rho, v, r, (6, 2), 0.1)


def test_policy_bad_input_names_the_argument(coarse):
    for s in (-0.01, 1.01, np.nan, np.inf):
        with pytest.raises(ValueError, match="`s`"):
            policy(coarse, s)
    with pytest.raises(TypeError, match="`s`"):
        policy(coarse, "half")
    with pytest.raises(TypeError, match="`geodesic`"):
        policy(coarse.rho, 0.5)
    with pytest.raises(TypeError, match="`geodesic`"):
        rollout(coarse.rho)
