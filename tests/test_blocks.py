"""Independent blocks of a conic problem (wfr_cvx.backends._blocks) against the unsplit solve."""

import clarabel
import numpy as np
import pytest
import scipy.sparse as sp

import wfr_cvx
from wfr_cvx.backends import ConeBlock, _clarabel
from wfr_cvx.backends._blocks import (
    combine_status,
    cone_of_rows,
    independent_blocks,
    solve_in_blocks,
)
from wfr_cvx.constraints import TotalMass

from helpers import assembled


def two_regime_problem(n=12, steps=4, **kw):
    grid = wfr_cvx.Grid(n, steps, regimes=2)
    rho0 = grid.bump(0.3, 0.1, regime=0, mass=1.0) + grid.bump(0.6, 0.1, regime=1, mass=0.5)
    rho1 = grid.bump(0.5, 0.1, regime=0, mass=0.8) + grid.bump(0.4, 0.1, regime=1, mass=0.7)
    return grid, rho0, rho1, assembled(rho0, rho1, grid, 0.3, **kw).problem


def whole(q, A, b, cones):
    """Clarabel on the problem as it is, no split (the reference)."""
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    n = A.shape[1]
    solution = clarabel.DefaultSolver(sp.csc_matrix((n, n)), q, sp.csc_matrix(A), b,
                                      _clarabel.cone_objects(cones), settings).solve()
    return {"x": np.asarray(solution.x), "status": str(solution.status),
            "iterations": int(solution.iterations), "objective": float(solution.obj_val)}


def test_cone_ids_group_the_rows_of_each_second_order_cone():
    cones = [ConeBlock.zero(2), ConeBlock.soc(3, 2), ConeBlock.nonneg(1), ConeBlock.soc(4, 1)]
    ids = cone_of_rows(cones, 2 + 6 + 1 + 4)
    assert ids.tolist() == [0, 1, 2, 2, 2, 3, 3, 3, 4, 5, 5, 5, 5]
    with pytest.raises(ValueError, match="cover 3 rows"):
        cone_of_rows([ConeBlock.zero(3)], 4)


def test_two_free_regimes_are_two_blocks_and_their_union_is_the_whole_solution():
    grid, _, _, problem = two_regime_problem()
    blocks = independent_blocks(problem.q, problem.A, problem.b, problem.cones)
    assert len(blocks) == 2
    # a partition of the unknowns and rows, each block's rows touching only its columns
    columns = np.sort(np.concatenate([blk.columns for blk in blocks]))
    rows = np.sort(np.concatenate([blk.rows for blk in blocks]))
    assert np.array_equal(columns, np.arange(problem.n_variables))
    assert np.array_equal(rows, np.arange(problem.n_constraints))
    for blk in blocks:
        others = np.setdiff1d(np.arange(problem.n_variables), blk.columns)
        assert sp.csr_matrix(problem.A)[blk.rows][:, others].nnz == 0
        assert sum(block.rows for block in blk.cones) == blk.rows.size
    reference = whole(problem.q, problem.A, problem.b, problem.cones)
    for parallel in (True, False):
        out = solve_in_blocks(problem.q, problem.A, problem.b, problem.cones, whole,
                              parallel=parallel)
        assert out["blocks"] == 2 and out["status"] == "Solved"
        assert out["objective"] == pytest.approx(reference["objective"], rel=1e-7)
        assert problem.q @ out["x"] == pytest.approx(reference["objective"], rel=1e-7)
        assert out["x"] == pytest.approx(reference["x"], abs=1e-5 * np.abs(reference["x"]).max())


def test_a_constraint_tying_the_regimes_keeps_one_block():
    grid, rho0, rho1, _ = two_regime_problem()
    rho1 = rho1 * (rho0.sum() / rho1.sum())
    tied = assembled(rho0, rho1, grid, 0.3, constraints=[TotalMass()]).problem
    assert len(independent_blocks(tied.q, tied.A, tied.b, tied.cones)) == 1


def test_lone_unknowns_and_constant_cones_join_the_largest_block():
    # x0 + x1 = 1; x2 >= 0.5; x3 <= 2; a constant row 0 <= 1; x0, x1 >= 0; x4 in no row
    A = sp.csc_matrix(np.array([[1.0, 1.0, 0, 0, 0],
                                [0, 0, -1.0, 0, 0],
                                [0, 0, 0, 1.0, 0],
                                [0, 0, 0, 0, 0],
                                [-1.0, 0, 0, 0, 0],
                                [0, -1.0, 0, 0, 0]]))
    b = np.array([1.0, -0.5, 2.0, 1.0, 0.0, 0.0])
    cones = [ConeBlock.zero(1), ConeBlock.nonneg(5)]
    blocks = independent_blocks(np.ones(5), A, b, cones)
    assert len(blocks) == 3
    assert blocks[0].columns.tolist() == [0, 1, 4] and blocks[0].rows.tolist() == [0, 3, 4, 5]
    assert blocks[0].cones == (ConeBlock.zero(1), ConeBlock.nonneg(3))
    out = solve_in_blocks(np.array([1.0, 2.0, 1.0, -1.0, 0.0]), A, b, cones, whole)
    assert out["status"] == "Solved"
    assert out["x"][[0, 1, 2, 3]] == pytest.approx([1.0, 0.0, 0.5, 2.0], abs=1e-6)


def test_the_worst_block_status_is_the_status():
    assert combine_status(["Solved", "Solved"]) == "Solved"
    assert combine_status(["Solved", "AlmostSolved"]) == "AlmostSolved"
    assert combine_status(["AlmostSolved", "MaxIterations", "Solved"]) == "MaxIterations"
    assert combine_status(["MaxIterations", "PrimalInfeasible"]) == "PrimalInfeasible"


def test_geodesic_on_split_regimes_matches_the_unsplit_solve():
    grid, rho0, rho1, _ = two_regime_problem(16, 8)
    geo = wfr_cvx.geodesic(rho0, rho1, grid, 0.3)
    assert geo.status == "Solved"
    # the regimes solved one at a time, as one-regime problems
    singles = [wfr_cvx.geodesic(rho0[k:k + 1], rho1[k:k + 1], wfr_cvx.Grid(16, 8), 0.3)
               for k in range(2)]
    assert geo.distance2 == pytest.approx(sum(s.distance2 for s in singles), rel=1e-6)


def test_blocks_just_short_of_their_gap_are_solved_as_a_whole():
    settings = clarabel.DefaultSettings()  # tol_feas, tol_gap_rel = 1e-8

    def part(status, primal, dual, residual=1e-9):
        return {"status": status, "objective": primal, "objective_dual": dual,
                "r_prim": residual, "r_dual": residual}

    # the measured case: one block stopped at gap 1.01e-8 relative to its own objective 16
    nearly = part("AlmostSolved", 16.0, 16.0 - 16 * 1.01e-8)
    assert _clarabel.whole_status([part("Solved", 3.6, 3.6 - 2.2e-8), nearly], settings) \
        == "Solved"
    # the summed gap too large, a residual too large, or a failed block: not solved
    assert _clarabel.whole_status([part("Solved", 3.6, 3.6), part("AlmostSolved", 16.0, 15.99)],
                                  settings) == "AlmostSolved"
    assert _clarabel.whole_status([part("Solved", 3.6, 3.6),
                                   part("AlmostSolved", 16.0, 16.0, residual=1e-6)],
                                  settings) == "AlmostSolved"
    assert _clarabel.whole_status([nearly, part("MaxIterations", 1.0, 0.0)], settings) \
        == "MaxIterations"
