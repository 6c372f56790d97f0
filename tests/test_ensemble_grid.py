r"""The ensemble engine against the grid engine (wfr_cvx.geodesic) on the same measures.

Atoms sit at the cell centres of a grid with the cells' masses, so the ensemble distance is
the exact distance of those point measures; the grid engine discretises the dynamic
problem.  Both converge to the distance of the continuous allocations as the grid is
refined, and the differences below carry both errors: on one weight axis the grid's (the
ensemble distances move by 5e-5 from 64 to 256 cells), on the simplex mostly the atoms'
(pinned to the cell centres; the same Gaussians give 0.14645, 0.13864, 0.13728 and 0.13792
at 16^2, 24^2, 32^2 and 48^2 atoms, while the grid's d^2 moves smoothly, at second order).
Measured (relative difference ``grid / ensemble - 1``; grid solves at Clarabel's
tolerances):

=======================================  =====  =====  ==========  ===========
case                                     cells  steps  "centred"   "power"
=======================================  =====  =====  ==========  ===========
1-D, bumps 0.3 -> 0.62 (mass 1 -> 1.5),  32     8      -3.11e-3    +1.79e-2
lam = 0.2                                64     16     -7.77e-4    +4.35e-3
                                         128    32     -1.95e-4    +1.07e-3
                                         256    64     -4.96e-5    +2.66e-4
simplex, bumps (0.3, 0.3) -> (0.5, 0.2)  8 x 8  4      -1.26e-1    -1.15e-1
(mass 1 -> 1.3), lam = 0.3,              16^2   8      -7.20e-2    -6.89e-2
trade-variance metric 50 P^T cov P       24^2   12     -1.60e-2    -1.46e-2
                                         32^2   16     -4.94e-3    -4.13e-3
=======================================  =====  =====  ==========  ===========

Second order on one weight axis (cells and steps refined together); on the simplex the
coarse grids also lose the bumps' mass near the edges (the ensemble distances themselves
move from 0.1535 at 8 x 8 to 0.1373 at 32 x 32 as the point measures change).  The
grid sizes here are the small ones; the larger come from ``benchmarks/bench_ensemble.py``.
On the simplex the ensemble uses the three weights :math:`(w_A, w_B, 1 - w_A - w_B)` and
the covariance itself: :math:`|\Delta|_{cov} = |\Delta_2|_{P^\top cov P}` for
:math:`\Delta = P\Delta_2` (:func:`wfr_cvx.metric.trade_variance_metric`).
"""

import numpy as np
import pytest

import wfr_cvx
from wfr_cvx.ensemble import Ensemble, geodesic
from wfr_cvx.metric import trade_variance_metric

COV = np.array([[0.04, 0.01, 0.0], [0.01, 0.09, 0.02], [0.0, 0.02, 0.16]])


def _atoms_1d(rho, grid):
    keep = rho[0] > 0
    return Ensemble(grid.weights[keep][:, None], rho[0][keep])


def _atoms_simplex(rho, grid, assets=3):
    centres = grid.coords.reshape(-1, 2)
    weights = np.column_stack([centres, 1.0 - centres.sum(axis=1)])[:, :assets]
    mass = rho[0].reshape(-1)
    keep = mass > 0
    return Ensemble(weights[keep], mass[keep])


def test_trade_variance_identity_between_three_weights_and_two():
    grid = wfr_cvx.Grid.simplex(8, 1)
    start, end = grid.bump((0.3, 0.3), 0.1), 1.3 * grid.bump((0.5, 0.2), 0.1)
    three = geodesic(_atoms_simplex(start, grid), _atoms_simplex(end, grid), 0.3,
                     metric=50 * COV)
    two = geodesic(_atoms_simplex(start, grid, 2), _atoms_simplex(end, grid, 2), 0.3,
                   metric=50 * trade_variance_metric(COV))
    assert three.distance2 == pytest.approx(two.distance2, rel=1e-9)


def test_one_axis_grid_converges_to_the_ensemble_distance():
    differences = []
    for cells in (32, 64):
        grid = wfr_cvx.Grid(cells, cells // 4)
        rho0, rho1 = grid.bump(0.3, 0.06), grid.bump(0.62, 0.05, mass=1.5)
        on_grid = wfr_cvx.geodesic(rho0, rho1, grid, lam=0.2).distance2
        exact = geodesic(_atoms_1d(rho0, grid), _atoms_1d(rho1, grid), 0.2).distance2
        differences.append(on_grid / exact - 1.0)
    assert differences[0] == pytest.approx(-3.11e-3, rel=0.02)
    assert differences[1] == pytest.approx(-7.77e-4, rel=0.02)


def test_simplex_grid_against_the_ensemble():
    grid = wfr_cvx.Grid.simplex(8, 4)
    start, end = grid.bump((0.3, 0.3), 0.1), 1.3 * grid.bump((0.5, 0.2), 0.1)
    on_grid = wfr_cvx.geodesic(start, end, grid, lam=0.3,
                               metric=50 * trade_variance_metric(COV)).distance2
    exact = geodesic(_atoms_simplex(start, grid), _atoms_simplex(end, grid), 0.3,
                     metric=50 * COV).distance2
    assert on_grid / exact - 1.0 == pytest.approx(-0.1260, abs=2e-3)


@pytest.mark.slow
def test_simplex_grid_refined():
    differences = []
    for cells, steps in ((16, 8), (24, 12)):
        grid = wfr_cvx.Grid.simplex(cells, steps)
        start, end = grid.bump((0.3, 0.3), 0.1), 1.3 * grid.bump((0.5, 0.2), 0.1)
        on_grid = wfr_cvx.geodesic(start, end, grid, lam=0.3,
                                   metric=50 * trade_variance_metric(COV)).distance2
        exact = geodesic(_atoms_simplex(start, grid), _atoms_simplex(end, grid), 0.3,
                         metric=50 * COV).distance2
        differences.append(on_grid / exact - 1.0)
    assert differences == pytest.approx([-7.20e-2, -1.60e-2], rel=0.02)
