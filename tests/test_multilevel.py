"""The grid hierarchy of the coarse start (wfr_cvx.multilevel) against plain numpy truths:
masses kept per coarse cell, linear fields reproduced, coarse continuity carried over,
and the "dr" backend's coarse start against the interior point."""

import numpy as np
import pytest

import wfr_cvx
from wfr_cvx import Grid
from wfr_cvx.backends import ConicResult, Status
from wfr_cvx.backends import dr as _dr
from wfr_cvx.backends._multilevel import (
    can_coarsen,
    coarsen_grid,
    coarsen_metric,
    prolong_flux,
    prolong_levels,
    restrict_allocation,
)
from wfr_cvx.metric import check_metric

GRIDS = {
    "1-D, two regimes": Grid(16, 8, regimes=2),
    "1-D, masked": Grid(16, 8, regimes=2,
                        mask=np.arange(32).reshape(2, 16) % 16 < np.array([[16], [11]])),
    "simplex": Grid.simplex(16, 8),
    "2-D square, two regimes": Grid(8, 8, regimes=2, dims=2),
    # cell (2, 1) closed: of the two fine faces on the coarse face between coarse cells
    # (0, 0) and (1, 0), only one is open
    "2-D, one hole": Grid(8, 8, dims=2, mask=np.arange(64).reshape(1, 8, 8) != 17),
}


def _children_sum(fine: np.ndarray, dims: int, lead: int) -> np.ndarray:
    """Sum over the 2 (2 x 2) children of each coarse cell, by explicit slicing."""
    if dims == 1:
        return fine[..., 0::2] + fine[..., 1::2]
    return (fine[..., 0::2, 0::2] + fine[..., 1::2, 0::2] + fine[..., 0::2, 1::2]
            + fine[..., 1::2, 1::2])


def _net_outflow(flux: np.ndarray, dims: int) -> np.ndarray:
    """Mass leaving each cell per step through its faces (fluxes per face and step;
    2-D faces padded as in wfr_cvx.grid)."""
    if dims == 1:
        padded = np.concatenate([np.zeros_like(flux[..., :1]), flux,
                                 np.zeros_like(flux[..., :1])], axis=-1)
        return padded[..., 1:] - padded[..., :-1]
    a, b = flux[..., 0, :, :], flux[..., 1, :, :]
    out = a + b
    out[..., 1:, :] -= a[..., :-1, :]
    out[..., :, 1:] -= b[..., :, :-1]
    return out


def _random_path(grid: Grid, rng) -> tuple[np.ndarray, np.ndarray]:
    levels = rng.uniform(0.5, 2.0, size=(grid.n_steps + 1, *grid.shape)) * grid.mask
    flux = rng.normal(size=(grid.n_steps, *grid.face_shape)) * grid.face_mask
    return levels, flux


def test_can_coarsen_and_coarse_grid():
    assert can_coarsen(Grid(32, 8)) and not can_coarsen(Grid(30, 8))
    assert not can_coarsen(Grid(32, 6)) and not can_coarsen(Grid(32, 7))
    assert can_coarsen(Grid(16, 8), min_cells=8) and not can_coarsen(Grid(16, 8))
    coarse = coarsen_grid(Grid.simplex(16, 8, regimes=("on", "off")))
    assert (coarse.n_weights, coarse.n_steps, coarse.dims) == (8, 4, 2)
    assert coarse.regimes == ("on", "off") and coarse.assets == ("A", "B", "C")
    fine = Grid.simplex(16, 8).mask[0]
    expected = fine[0::2, 0::2] | fine[1::2, 0::2] | fine[0::2, 1::2] | fine[1::2, 1::2]
    np.testing.assert_array_equal(coarse.mask[0], expected)
    with pytest.raises(ValueError, match="does not halve"):
        coarsen_grid(Grid(15, 8))


@pytest.mark.parametrize("name", GRIDS)
def test_restriction_sums_the_children(name):
    grid = GRIDS[name]
    rho = np.random.default_rng(0).uniform(size=grid.shape) * grid.mask
    coarse = restrict_allocation(rho, grid)
    np.testing.assert_allclose(coarse, _children_sum(rho, grid.dims, 1))
    np.testing.assert_allclose(coarse.sum(), rho.sum())


@pytest.mark.parametrize("name", GRIDS)
def test_prolonged_levels_keep_each_coarse_cells_mass(name):
    grid = GRIDS[name]
    coarse_grid = coarsen_grid(grid)
    levels, _ = _random_path(coarse_grid, np.random.default_rng(1))
    fine = prolong_levels(levels, grid)
    assert fine.shape == (grid.n_steps + 1, *grid.shape)
    assert fine.min() >= 0.0 and not fine[:, ~grid.mask].any()
    np.testing.assert_allclose(_children_sum(fine[0::2], grid.dims, 2), levels, rtol=1e-12)
    np.testing.assert_allclose(fine[1::2], 0.5 * (fine[0:-1:2] + fine[2::2]))


def test_prolonged_levels_reproduce_a_linear_density():
    """Restrict a linear-in-space, linear-in-time path and prolong it back: exact away from
    the ends of the axis (the interpolation clamps there)."""
    grid = Grid(32, 8)
    x, s = grid.weights, np.linspace(0.0, 1.0, grid.n_steps + 1)
    fine = (1.0 + 2.0 * x[None, :] + 0.5 * s[:, None])[:, None, :]
    coarse = np.stack([restrict_allocation(level, grid) for level in fine[0::2]])
    out = prolong_levels(coarse, grid)
    np.testing.assert_allclose(out[:, :, 2:-2], fine[:, :, 2:-2], rtol=1e-13)


@pytest.mark.parametrize("name", GRIDS)
def test_prolonged_path_creates_the_coarse_paths_mass(name):
    """Continuity carries over: per coarse cell and coarse step, the mass the prolonged
    path creates (level change + net outflow) is the mass the coarse path creates."""
    grid = GRIDS[name]
    coarse_grid = coarsen_grid(grid)
    levels, flux = _random_path(coarse_grid, np.random.default_rng(2))
    created = np.diff(levels, axis=0) + _net_outflow(flux, grid.dims)
    fine_levels, fine_flux = prolong_levels(levels, grid), prolong_flux(flux, grid)
    assert fine_flux.shape == (grid.n_steps, *grid.face_shape)
    assert not fine_flux[:, ~grid.face_mask].any()
    fine_created = np.diff(fine_levels, axis=0) + _net_outflow(fine_flux, grid.dims)
    per_coarse_step = fine_created[0::2] + fine_created[1::2]
    np.testing.assert_allclose(_children_sum(per_coarse_step, grid.dims, 2), created,
                               atol=1e-12)


def test_prolonged_flux_of_a_uniform_flow():
    """A uniform coarse flow c per face and step: fine faces on and inside coarse cells
    carry c / 2 per fine step, those next to a wall half of that (the mean with 0)."""
    grid = Grid(16, 4)
    coarse = np.full((2, 1, 7), 3.0)
    fine = prolong_flux(coarse, grid)
    np.testing.assert_allclose(fine[:, 0, 1:-1], 1.5)
    np.testing.assert_allclose(fine[:, 0, [0, -1]], 0.75)


@pytest.mark.parametrize("metric", [None, 2.5, [[2.0, 0.0], [0.0, 0.5]],
                                    [[2.0, 0.3], [0.3, 0.5]]])
def test_coarse_metric_of_a_constant_metric_is_the_coarse_grids_own(metric):
    grid = Grid.simplex(16, 8) if np.ndim(metric) == 2 else Grid(16, 8, regimes=2)
    coarse = coarsen_grid(grid)
    np.testing.assert_allclose(coarsen_metric(check_metric(metric, grid), grid),
                               check_metric(metric, coarse))


# ------------------------------------------------------------- the dr backend's start
#: dr on 1-D grids runs the staggered scheme here (with the centred one it warns)
ONE_D = {"scheme": "power"}

def test_coarse_start_agrees_with_the_interior_point_and_saves_iterations():
    """Diracs (32 x 8): from the straight line dr needed 3,500 iterations, from the
    prolonged 16 x 4 path 750 (measured).  Same discrete problem, so both agree with
    clarabel to dr's tolerance.  (On 1-D grids the coarse start is opt-in.)"""
    g, lam = Grid(32, 8), 0.5
    r0, r1 = g.dirac(g.weights[9]), g.dirac(g.weights[19], mass=2.0)
    ref = wfr_cvx.geodesic(r0, r1, g, lam, **ONE_D)
    coarse = wfr_cvx.geodesic(r0, r1, g, lam, backend="dr", coarse_start=True, **ONE_D)
    line = wfr_cvx.geodesic(r0, r1, g, lam, backend="dr", **ONE_D)
    for geo in (coarse, line):
        assert geo.status == "Solved"
        assert geo.distance2 == pytest.approx(ref.distance2, rel=1e-4)
    assert coarse.iterations < line.iterations / 3


def test_coarse_start_is_on_by_default_in_2d_only(capsys):
    """And on the simplex it agrees with the interior point to dr's tolerance."""
    g = Grid.simplex(32, 8)
    r0, r1 = g.bump((0.25, 0.25), 0.08), 1.2 * g.bump((0.45, 0.3), 0.08)
    geo = wfr_cvx.geodesic(r0, r1, g, 0.3, backend="dr", verbose=True)
    assert "dr coarse start Solved after" in capsys.readouterr().out
    ref = wfr_cvx.geodesic(r0, r1, g, 0.3)
    assert geo.status == "Solved"
    assert geo.distance2 == pytest.approx(ref.distance2, rel=1e-4)
    assert geo.rho[:, ~g.mask].max() == 0.0
    wfr_cvx.geodesic(r0, r1, g, 0.3, backend="dr", verbose=True, coarse_start=False)
    assert "coarse start" not in capsys.readouterr().out
    g = Grid(32, 8)
    wfr_cvx.geodesic(g.bump(0.3, 0.1), g.bump(0.6, 0.1), g, 0.3, backend="dr", verbose=True,
                     **ONE_D)
    assert "coarse start" not in capsys.readouterr().out


def test_coarse_start_accepts_numpy_bools_and_skips_constrained_problems(capsys):
    g = Grid(32, 8)
    r0, r1 = g.bump(0.3, 0.1), g.bump(0.6, 0.1)
    wfr_cvx.geodesic(r0, r1, g, 0.3, backend="dr", verbose=True, coarse_start=np.True_,
                     **ONE_D)
    assert "dr coarse start Solved after" in capsys.readouterr().out
    wfr_cvx.geodesic(r0, r1, g, 0.3, backend="dr", verbose=True, coarse_start=True,
                     constraints=[wfr_cvx.MaxVelocity(2.0)], **ONE_D)
    assert "coarse start" not in capsys.readouterr().out


def test_coarse_start_option_is_checked():
    g = Grid(16, 8)
    with pytest.raises(ValueError, match=r"`coarse_start` must be a bool or one of \['auto'\]"):
        wfr_cvx.geodesic(g.bump(0.3, 0.1), g.bump(0.6, 0.1), g, 0.3, backend="dr",
                         coarse_start="yes")


def test_a_failed_coarse_solve_falls_back_to_the_straight_line(monkeypatch, capsys):
    """A coarse solve that ends "NumericalError" is not prolonged: the solve runs from the
    straight line, to the same iterates as with ``coarse_start=False``."""
    g = Grid(32, 8)
    r0, r1 = g.bump(0.3, 0.1), g.bump(0.6, 0.1)
    plain = wfr_cvx.geodesic(r0, r1, g, 0.3, backend="dr", coarse_start=False, **ONE_D)
    real = _dr.solve_conic
    calls = []

    def failing_coarse_solve(problem, options, start=None):
        calls.append(problem.n_variables)
        if len(calls) == 1:  # the coarse grid's solve comes first
            return ConicResult(x=np.full(problem.n_variables, np.nan),
                               status=Status.NUMERICAL_ERROR, iterations=50,
                               setup_time=0.0, solve_time=0.0)
        return real(problem, options, start)

    monkeypatch.setattr(_dr, "solve_conic", failing_coarse_solve)
    geo = wfr_cvx.geodesic(r0, r1, g, 0.3, backend="dr", coarse_start=True, verbose=True,
                           **ONE_D)
    assert "dr coarse start NumericalError after 50 iterations" in capsys.readouterr().out
    assert len(calls) == 2 and calls[0] < calls[1]
    assert geo.iterations == plain.iterations
    np.testing.assert_array_equal(geo.rho, plain.rho)
