"""Each numba kernel against its scipy.sparse twin, and each pair by a dot test."""

import numpy as np
import pytest

from wfr_cvx import Grid
from wfr_cvx import operators as ops

GRIDS = [Grid(2, 1), Grid(7, 3, regimes=2), Grid(33, 5, regimes=3),
         Grid(2, 1, dims=2), Grid(5, 3, regimes=2, dims=2), Grid.simplex(9, 2)]

PAIRS = [
    # (kernel, adjoint, sparse twin, input shape, output shape)
    ("divergence", lambda g: (g.n_steps, *g.face_shape), lambda g: (g.n_steps, *g.shape),
     lambda g: ops.divergence_matrix(g, g.n_steps * g.n_regimes)),
    ("face_average", lambda g: (g.n_steps, *g.shape), lambda g: (g.n_steps, *g.face_shape),
     lambda g: ops.face_average_matrix(g, g.n_steps * g.n_regimes)),
    ("time_difference", lambda g: (g.n_steps + 1, *g.shape), lambda g: (g.n_steps, *g.shape),
     lambda g: ops.time_difference_matrix(g)),
    ("time_average", lambda g: (g.n_steps + 1, *g.shape), lambda g: (g.n_steps, *g.shape),
     lambda g: ops.time_average_matrix(g)),
]


@pytest.mark.parametrize("grid", GRIDS, ids=repr)
@pytest.mark.parametrize(("name", "in_shape", "out_shape", "matrix"), PAIRS,
                         ids=[p[0] for p in PAIRS])
def test_kernel_matches_sparse_twin_and_adjoint(grid, name, in_shape, out_shape, matrix):
    rng = np.random.default_rng(0)
    forward = getattr(ops, f"make_{name}")(grid)
    adjoint = getattr(ops, f"make_{name}_adjoint")(grid)
    M = matrix(grid)
    x = rng.standard_normal(in_shape(grid))
    y = rng.standard_normal(out_shape(grid))
    Dx = forward(x, np.empty(out_shape(grid)))
    Dty = adjoint(y, np.empty(in_shape(grid)))
    np.testing.assert_allclose(Dx.ravel(), M @ x.ravel(), rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(Dty.ravel(), M.T @ y.ravel(), rtol=1e-13, atol=1e-12)
    assert np.vdot(Dx, y) == pytest.approx(np.vdot(x, Dty), rel=1e-12)


def test_divergence_sums_to_zero_and_is_exact_on_linear_fields():
    g = Grid(16, 2, regimes=2)
    rng = np.random.default_rng(1)
    m = rng.standard_normal((g.n_steps, *g.face_shape))
    div = ops.make_divergence(g)(m, np.empty((g.n_steps, *g.shape)))
    np.testing.assert_allclose(div.sum(axis=-1), 0.0, atol=1e-10)  # no-flux: mass kept
    # linear flux a*x + b on interior faces: divergence a in the interior cells
    linear = np.broadcast_to(3.0 * g.faces - 1.0, (1, 1, g.n_weights - 1)).copy()
    out = ops.make_divergence(g)(linear, np.empty((1, 1, g.n_weights)))
    np.testing.assert_allclose(out[0, 0, 1:-1], 3.0, rtol=1e-12)
    const = np.full((1, 1, g.n_weights - 1), 2.0)
    out = ops.make_divergence(g)(const, np.empty((1, 1, g.n_weights)))
    np.testing.assert_allclose(out[0, 0, 1:-1], 0.0, atol=1e-12)


def test_averages_and_differences_exact_on_linear_fields():
    g = Grid(10, 4)
    cells = 2.0 * g.weights + 1.0
    faces = ops.make_face_average(g)(cells[None, :].copy(), np.empty((1, 9)))
    np.testing.assert_allclose(faces[0], 2.0 * g.faces + 1.0, rtol=1e-13)
    levels = np.outer(5.0 * g.times - 2.0, np.ones(10))
    diff = ops.make_time_difference(g)(levels, np.empty((4, 10)))
    np.testing.assert_allclose(diff, 5.0, rtol=1e-12)
    mean = ops.make_time_average(g)(levels, np.empty((4, 10)))
    mid = 0.5 * (g.times[1:] + g.times[:-1])
    np.testing.assert_allclose(mean[:, 0], 5.0 * mid - 2.0, rtol=1e-12)


def test_kernels_refuse_wrong_shapes():
    g = Grid(8, 2)
    with pytest.raises(ValueError, match="trailing axes"):
        ops.make_divergence(g)(np.zeros((2, 8)), np.zeros((2, 8)))
    with pytest.raises(ValueError, match="time entries"):
        ops.make_time_difference(g)(np.zeros((2, 8)), np.zeros((2, 8)))


def test_2d_kernels_against_plain_numpy():
    """2-D divergence and face average written with numpy slicing (independent reference)."""
    g = Grid(6, 2, regimes=2, dims=2)
    rng = np.random.default_rng(3)
    m = rng.standard_normal((g.n_steps, *g.face_shape))
    m[:, :, 0, -1, :] = 0.0  # the padded non-faces
    m[:, :, 1, :, -1] = 0.0
    div = ops.make_divergence(g)(m, np.empty((g.n_steps, *g.shape)))
    ref = np.zeros((g.n_steps, *g.shape))
    ref += m[:, :, 0]
    ref[..., 1:, :] -= m[:, :, 0, :-1, :]
    ref += m[:, :, 1]
    ref[..., :, 1:] -= m[:, :, 1, :, :-1]
    np.testing.assert_allclose(div, ref / g.dx, rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(div.sum(axis=(-1, -2)), 0.0, atol=1e-9)  # no flux out
    c = rng.standard_normal(g.shape)
    avg = ops.make_face_average(g)(c, np.empty(g.face_shape))
    np.testing.assert_allclose(avg[:, 0, :-1], 0.5 * (c[:, :-1] + c[:, 1:]), rtol=1e-14)
    np.testing.assert_allclose(avg[:, 1, :, :-1], 0.5 * (c[:, :, :-1] + c[:, :, 1:]),
                               rtol=1e-14)
    assert not avg[:, 0, -1].any() and not avg[:, 1, :, -1].any()


def test_face_cells_join_neighbours():
    g = Grid(4, 1, dims=2)
    face, lower, upper = ops.face_cells(g)
    assert face.size == 2 * 4 * 3
    axis = face // 16
    step = np.where(axis == 0, 4, 1)
    np.testing.assert_array_equal(upper - lower, step)
