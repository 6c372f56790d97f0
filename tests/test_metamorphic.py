"""Metamorphic properties (hypothesis): relations between solves that need no reference value.

Each property transforms a problem in a way whose effect on d^2 is known exactly (relabelling,
mirroring, units) or to discretisation accuracy (refinement), and checks the engine agrees.
They hunt for silent wrong answers: a labelled input read by position, a regime or an axis
treated asymmetrically, a scale that leaks into the figures.  Example counts: a few per
property in ``make test`` (the "default" profile), 200 each in ``make test-all``
(``HYPOTHESIS_PROFILE=thorough``).
"""

import cvxpy as cp
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import wfr_cvx
from wfr_cvx import Grid

N, T = 16, 8
SOLVER_RTOL = 1e-5  # interior-point figures agree to ~1e-7

bump = st.tuples(st.floats(0.2, 0.8), st.floats(0.08, 0.2), st.floats(0.1, 1.0))


@st.composite
def problems(draw, regimes=None):
    """A grid size factor-free description: per regime, the bumps of rho0 and rho1."""
    k = draw(st.integers(1, 3)) if regimes is None else regimes
    ends = [[draw(st.lists(bump, min_size=1, max_size=2)) for _ in range(k)]
            for _ in range(2)]
    lam = draw(st.sampled_from([0.05, 0.1, 0.2, 0.4, 1.0]))
    return k, ends, lam


def _allocations(grid, ends):
    out = []
    for bumps in ends:
        rho = grid.zeros()
        for regime, parts in enumerate(bumps):
            for center, width, mass in parts:
                rho += grid.bump(center, width, regime, mass)
        out.append(rho)
    return out


def _d2(r0, r1, grid, lam, **kw):
    return wfr_cvx.geodesic(r0, r1, grid, lam, **kw).distance2


def _labelled(rho, grid, seed):
    """rho as pandas, rows shuffled: a Series (one regime) or a DataFrame (several)."""
    if grid.n_regimes == 1:
        labelled = pd.Series(rho[0], index=pd.Index(grid.weights, name="weight"))
    else:
        labelled = pd.DataFrame(rho.T, index=pd.Index(grid.weights, name="weight"),
                                columns=list(grid.regimes))
    return labelled.sample(frac=1.0, random_state=seed)


# -- relabelling: exact ---------------------------------------------------------------------
@given(problems(), st.integers(0, 2**16))
def test_a_shuffled_labelled_allocation_gives_the_same_distance(problem, seed):
    k, ends, lam = problem
    g = Grid(N, T, regimes=k)
    r0, r1 = _allocations(g, ends)
    assert _d2(_labelled(r0, g, seed), _labelled(r1, g, seed + 1), g, lam) == _d2(r0, r1, g,
                                                                                  lam)


ASSETS = ("IBM", "WMT", "SEHI")


@st.composite
def simplex_problems(draw):
    """A simplex bump per end (centres inside the simplex), lam and an SPD metric G."""
    ends = []
    for _ in range(2):
        x = draw(st.floats(0.15, 0.6))
        y = 0.15 + (0.65 - x) * draw(st.floats(0.0, 1.0))
        ends.append(((x, y), draw(st.floats(0.08, 0.2)), draw(st.floats(0.3, 1.5))))
    a, b = draw(st.floats(0.3, 3.0)), draw(st.floats(0.3, 3.0))
    c = draw(st.floats(-0.9, 0.9)) * np.sqrt(a * b)
    return ends, draw(st.sampled_from([0.1, 0.3, 1.0])), np.array([[a, c], [c, b]])


def _simplex_labelled(rho, grid, swap, prefixed, seed):
    """rho as a Series over the active cells' centres: levels in either order, named after
    the assets or as w_<asset>, rows shuffled."""
    i, j = np.nonzero(grid.mask[0])
    order = [1, 0] if swap else [0, 1]
    centres = [grid.weights[i], grid.weights[j]]
    names = [("w_" if prefixed else "") + ASSETS[axis] for axis in order]
    index = pd.MultiIndex.from_arrays([centres[axis] for axis in order], names=names)
    return pd.Series(rho[0, i, j], index=index).sample(frac=1.0, random_state=seed)


@given(simplex_problems(), st.booleans(), st.booleans(), st.integers(0, 2**16))
def test_a_shuffled_labelled_simplex_book_and_metric_give_the_same_distance(
        problem, swap, prefixed, seed):
    """Relabelling on the simplex: the allocations as Series with their levels named and
    in any order, the metric as a DataFrame over the axis assets in any order."""
    ends, lam, G = problem
    g = Grid.simplex(8, 4, assets=ASSETS)
    r0, r1 = (g.bump(centre, width, mass=mass) for centre, width, mass in ends)
    order = [1, 0] if swap else [0, 1]
    labels = [("w_" if prefixed else "") + ASSETS[axis] for axis in order]
    frame = pd.DataFrame(G[np.ix_(order, order)], index=labels, columns=labels)
    labelled = _d2(_simplex_labelled(r0, g, swap, prefixed, seed),
                   _simplex_labelled(r1, g, not swap, not prefixed, seed + 1), g, lam,
                   metric=frame)
    assert labelled == _d2(r0, r1, g, lam, metric=G)


@given(problems())
def test_mirroring_the_weight_axis_gives_the_same_distance(problem):
    k, ends, lam = problem
    g = Grid(N, T, regimes=k)
    r0, r1 = _allocations(g, ends)
    mirrored = _d2(r0[:, ::-1], r1[:, ::-1], g, lam)
    assert mirrored == pytest.approx(_d2(r0, r1, g, lam), rel=SOLVER_RTOL)


@given(problems(regimes=2))
def test_swapping_the_regimes_gives_the_same_distance(problem):
    _, ends, lam = problem
    g, swapped = Grid(N, T, regimes=("on", "off")), Grid(N, T, regimes=("off", "on"))
    r0, r1 = _allocations(g, ends)
    assert _d2(r0[::-1], r1[::-1], swapped, lam) == pytest.approx(_d2(r0, r1, g, lam),
                                                                 rel=SOLVER_RTOL)


# -- refinement: to discretisation accuracy -------------------------------------------------
@given(problems())
def test_a_grid_twice_as_fine_gives_the_same_distance_to_discretisation_accuracy(problem):
    """Bumps >= 1.3 cells wide: 16 x 8 against 32 x 16 differ by at most 1.8 % over 30 random
    cases (second order: 0.5 % between 32 x 16 and 64 x 32), hence 4 %."""
    k, ends, lam = problem
    coarse, fine = Grid(N, T, regimes=k), Grid(2 * N, 2 * T, regimes=k)
    d2 = [_d2(*_allocations(g, ends), g, lam) for g in (coarse, fine)]
    assert d2[0] == pytest.approx(d2[1], rel=0.04, abs=1e-6)


# -- units: exact ---------------------------------------------------------------------------
@given(problems(), st.floats(0.01, 100.0))
def test_scaling_the_masses_scales_the_distance(problem, c):
    k, ends, lam = problem
    g = Grid(N, T, regimes=k)
    r0, r1 = _allocations(g, ends)
    assert _d2(c * r0, c * r1, g, lam) == pytest.approx(c * _d2(r0, r1, g, lam),
                                                       rel=SOLVER_RTOL)


@given(problems(), st.floats(-1.3, 13.0))
def test_a_metric_scaled_by_c_with_lam_scaled_by_sqrt_c_scales_the_distance(problem, log_c):
    """|v|^2_{cG} + (lam sqrt(c))^2 r^2 = c (|v|^2_G + lam^2 r^2): d^2 scales by c, from
    c = 0.05 to 1e13 (a book in dollars: G = V^2)."""
    c = 10.0**log_c
    k, ends, lam = problem
    g = Grid(N, T, regimes=k)
    r0, r1 = _allocations(g, ends)
    scaled = _d2(r0, r1, g, lam * np.sqrt(c), metric=c)
    # The interior point's feasibility tolerance (1e-8) binds here, more as c grows: on
    # the near-teleport case hypothesis found (bumps 0.5 apart, lam = 0.1) the two solves
    # differ by 1.1e-5 at c = 8 and 2.0e-5 at c = 20; tol_feas = 1e-10 brings both to
    # 2.6e-7 of the exact-arithmetic figure.
    assert scaled == pytest.approx(c * _d2(r0, r1, g, lam), rel=3 * SOLVER_RTOL)


# -- every entry point reads labelled input by label ----------------------------------------
@given(problems(), st.integers(0, 2**16))
def test_every_entry_point_takes_labelled_input_as_the_array(problem, seed):
    k, ends, lam = problem
    g = Grid(N, T, regimes=k)
    r0, r1 = _allocations(g, ends)
    l0, l1 = _labelled(r0, g, seed), _labelled(r1, g, seed + 1)
    assert wfr_cvx.distance(l0, l1, g, lam) == wfr_cvx.distance(r0, r1, g, lam)
    potential = np.tile((g.weights - 0.5) ** 2, (k, 1))
    step = wfr_cvx.rebalance(l0, g, lam, potential=potential, tau=2.0)
    np.testing.assert_array_equal(step.target,
                                  wfr_cvx.rebalance(r0, g, lam, potential=potential,
                                                    tau=2.0).target)
    pd.testing.assert_frame_equal(wfr_cvx.compare(l0, l1, g, lam),
                                  wfr_cvx.compare(r0, r1, g, lam))
    values = []
    for a, b in ((l0, l1), (r0, r1)):
        model = wfr_cvx.model(a, b, g, lam)
        model.problem.solve(solver=cp.CLARABEL)
        values.append(model.problem.value)
    assert values[0] == values[1]
