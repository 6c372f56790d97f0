r"""Staggered-grid operators: numba kernels and their scipy.sparse twins.

Layout (C order throughout; leading axes are batches, e.g. ``(n_steps, n_regimes)``):

* cell arrays have last axis ``n_weights`` (centres ``(i + 1/2) dx``);
* face arrays have last axis ``n_weights - 1`` (interior faces ``i dx``, ``i = 1..n-1``;
  the two boundary faces carry no flux and are not stored);
* level arrays have first axis ``n_steps + 1``, step arrays ``n_steps``.

Operators (``j`` indexes the interior face between cells ``j`` and ``j + 1``)

.. math::

    (\operatorname{div} m)_i = (m_i - m_{i-1}) / \Delta x, \quad m_{-1} = m_{n-1} = 0

    (\mathrm{face\ average}\ c)_j = (c_j + c_{j+1}) / 2

    (\mathrm{time\ difference}\ \rho)^k = (\rho^{k+1} - \rho^k) / \Delta t

    (\mathrm{time\ average}\ \rho)^k = (\rho^{k+1} + \rho^k) / 2

with adjoints ``div^T c = (c_j - c_{j+1}) / dx`` (minus the gradient) and so on.

Two weight axes (``grid.dims == 2``): cells ``(..., n, n)``, faces stored padded as
``(..., 2, n, n)`` (entry ``[a, i, j]``: the face on the ``+a`` side of cell ``(i, j)``;
the entries at index ``n - 1`` of axis ``a`` are not faces, are read as 0 and written as
0), and

.. math::

    (\operatorname{div} m)_{ij} = (m^0_{ij} - m^0_{i-1,j} + m^1_{ij} - m^1_{i,j-1}) / \Delta x,

    (\mathrm{face\ average}\ c)^0_{ij} = (c_{ij} + c_{i+1,j}) / 2, \quad
    (\mathrm{face\ average}\ c)^1_{ij} = (c_{ij} + c_{i,j+1}) / 2.

Each
kernel factory ``make_*(grid)`` returns ``apply(x, out)`` writing into a preallocated
``out``; each has a sparse twin ``*_matrix(grid, ...)`` acting on the C-order
flattening, built from ``scipy.sparse.diags`` and ``kron`` (no Python loop over cells).
The kernels are tested against the twins, and each pair with a dot test
``<D x, y> = <x, D^T y>``.

References
----------
Papadakis, Peyré & Oudet, "Optimal transport with proximal splitting", SIAM J. Imaging
Sci. 7 (2014) — the staggered grid.
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp

from .grid import Grid

__all__ = [
    "make_divergence",
    "make_divergence_adjoint",
    "make_face_average",
    "make_face_average_adjoint",
    "make_time_difference",
    "make_time_difference_adjoint",
    "make_time_average",
    "make_time_average_adjoint",
    "divergence_matrix",
    "face_average_matrix",
    "face_cells",
    "time_difference_matrix",
    "time_average_matrix",
]

#: Kernels compile on their first call (and load from numba's cache after that).
_JIT = dict(cache=True, nogil=True)


# --------------------------------------------------------------------------- kernels
@numba.njit(**_JIT)
def _divergence(faces, out, inv_dx):
    n_batch, n_faces = faces.shape
    for b in range(n_batch):
        out[b, 0] = faces[b, 0] * inv_dx
        for i in range(1, n_faces):
            out[b, i] = (faces[b, i] - faces[b, i - 1]) * inv_dx
        out[b, n_faces] = -faces[b, n_faces - 1] * inv_dx


@numba.njit(**_JIT)
def _divergence_adjoint(cells, out, inv_dx):
    n_batch, n_faces = out.shape
    for b in range(n_batch):
        for j in range(n_faces):
            out[b, j] = (cells[b, j] - cells[b, j + 1]) * inv_dx


@numba.njit(**_JIT)
def _face_average(cells, out):
    n_batch, n_faces = out.shape
    for b in range(n_batch):
        for j in range(n_faces):
            out[b, j] = 0.5 * (cells[b, j] + cells[b, j + 1])


@numba.njit(**_JIT)
def _face_average_adjoint(faces, out):
    n_batch, n_faces = faces.shape
    for b in range(n_batch):
        out[b, 0] = 0.5 * faces[b, 0]
        for i in range(1, n_faces):
            out[b, i] = 0.5 * (faces[b, i - 1] + faces[b, i])
        out[b, n_faces] = 0.5 * faces[b, n_faces - 1]


@numba.njit(**_JIT)
def _time_combination(levels, out, a, b):
    # out[k] = a * levels[k] + b * levels[k + 1]: difference (a=-1/dt, b=1/dt), average.
    n_steps, size = out.shape
    for k in range(n_steps):
        for s in range(size):
            out[k, s] = a * levels[k, s] + b * levels[k + 1, s]


@numba.njit(**_JIT)
def _time_combination_adjoint(steps, out, a, b):
    n_steps, size = steps.shape
    for s in range(size):
        out[0, s] = a * steps[0, s]
        out[n_steps, s] = b * steps[n_steps - 1, s]
    for k in range(1, n_steps):
        for s in range(size):
            out[k, s] = b * steps[k - 1, s] + a * steps[k, s]


# ------------------------------------------------------------------- kernels in 2-D
@numba.njit(**_JIT)
def _faces_to_cells_2d(faces, out, scale, lower_sign):
    # out[i, j] = scale * (f0[i, j] + s f0[i-1, j] + f1[i, j] + s f1[i, j-1]), non-faces
    # skipped: the divergence (scale 1/dx, s = -1) and the face average's adjoint (1/2, +1)
    n_batch, _, n, _ = faces.shape
    for b in range(n_batch):
        for i in range(n):
            for j in range(n):
                acc = 0.0
                if i < n - 1:
                    acc += faces[b, 0, i, j]
                if i > 0:
                    acc += lower_sign * faces[b, 0, i - 1, j]
                if j < n - 1:
                    acc += faces[b, 1, i, j]
                if j > 0:
                    acc += lower_sign * faces[b, 1, i, j - 1]
                out[b, i, j] = scale * acc


@numba.njit(**_JIT)
def _divergence_adjoint_2d(cells, out, inv_dx):
    n_batch, n, _ = cells.shape
    for b in range(n_batch):
        for i in range(n):
            for j in range(n):
                out[b, 0, i, j] = ((cells[b, i, j] - cells[b, i + 1, j]) * inv_dx
                                   if i < n - 1 else 0.0)
                out[b, 1, i, j] = ((cells[b, i, j] - cells[b, i, j + 1]) * inv_dx
                                   if j < n - 1 else 0.0)


@numba.njit(**_JIT)
def _face_average_2d(cells, out):
    n_batch, n, _ = cells.shape
    for b in range(n_batch):
        for i in range(n):
            for j in range(n):
                out[b, 0, i, j] = 0.5 * (cells[b, i, j] + cells[b, i + 1, j]) if i < n - 1 else 0.0
                out[b, 1, i, j] = 0.5 * (cells[b, i, j] + cells[b, i, j + 1]) if j < n - 1 else 0.0


# ------------------------------------------------------------------------- factories
def _as_rows(x: np.ndarray, trailing: tuple, name: str) -> np.ndarray:
    if x.shape[x.ndim - len(trailing):] != trailing or x.ndim < len(trailing):
        raise ValueError(f"`{name}` trailing axes must be {trailing}, got {x.shape}")
    if not x.flags.c_contiguous or x.dtype != np.float64:
        raise ValueError(f"`{name}` must be a C-contiguous float64 array")
    return x.reshape(-1, *trailing)


def _batch_kernel(kernel, trailing_in, trailing_out, *args):
    trailing_in, trailing_out = tuple(trailing_in), tuple(trailing_out)

    def apply(x: np.ndarray, out: np.ndarray) -> np.ndarray:
        rows_in = _as_rows(x, trailing_in, "x")
        rows_out = _as_rows(out, trailing_out, "out")
        if rows_in.shape[0] != rows_out.shape[0]:
            raise ValueError(f"batch sizes differ: x {x.shape}, out {out.shape}")
        kernel(rows_in, rows_out, *args)
        return out

    return apply


def _cells_faces(grid: Grid) -> tuple[tuple, tuple]:
    """Trailing shapes of one regime's cells and faces."""
    return grid.cell_shape, grid.face_shape[1:]


def make_divergence(grid: Grid):
    """``apply(faces (..., *face), out (..., *cell))``: divergence of face fluxes.

    1-D: faces ``(n-1,)``, cells ``(n,)``; 2-D: faces ``(2, n, n)``, cells ``(n, n)``.
    """
    cells, faces = _cells_faces(grid)
    if grid.dims == 1:
        return _batch_kernel(_divergence, faces, cells, 1.0 / grid.dx)
    return _batch_kernel(_faces_to_cells_2d, faces, cells, 1.0 / grid.dx, -1.0)


def make_divergence_adjoint(grid: Grid):
    """``apply(cells (..., *cell), out (..., *face))``: adjoint of the divergence."""
    cells, faces = _cells_faces(grid)
    kernel = _divergence_adjoint if grid.dims == 1 else _divergence_adjoint_2d
    return _batch_kernel(kernel, cells, faces, 1.0 / grid.dx)


def make_face_average(grid: Grid):
    """``apply(cells (..., *cell), out (..., *face))``: mean of the two cells beside a face."""
    cells, faces = _cells_faces(grid)
    kernel = _face_average if grid.dims == 1 else _face_average_2d
    return _batch_kernel(kernel, cells, faces)


def make_face_average_adjoint(grid: Grid):
    """``apply(faces (..., *face), out (..., *cell))``: adjoint of the face average."""
    cells, faces = _cells_faces(grid)
    if grid.dims == 1:
        return _batch_kernel(_face_average_adjoint, faces, cells)
    return _batch_kernel(_faces_to_cells_2d, faces, cells, 0.5, 1.0)


def _time_kernel(kernel, grid: Grid, a: float, b: float, levels_in: bool):
    n_steps = grid.n_steps

    def apply(x: np.ndarray, out: np.ndarray) -> np.ndarray:
        first_in, first_out = (n_steps + 1, n_steps) if levels_in else (n_steps, n_steps + 1)
        if x.shape[0] != first_in or out.shape[0] != first_out or x.shape[1:] != out.shape[1:]:
            raise ValueError(
                f"expected x with {first_in} and out with {first_out} time entries and "
                f"equal trailing shapes, got {x.shape} and {out.shape}"
            )
        size = int(np.prod(x.shape[1:], dtype=np.int64))
        kernel(_as_rows(x.reshape(first_in, size), (size,), "x"),
               _as_rows(out.reshape(first_out, size), (size,), "out"), a, b)
        return out

    return apply


def make_time_difference(grid: Grid):
    """``apply(levels (T+1, ...), out (T, ...))``: ``(rho[k+1] - rho[k]) / dt``."""
    inv_dt = 1.0 / grid.dt
    return _time_kernel(_time_combination, grid, -inv_dt, inv_dt, True)


def make_time_difference_adjoint(grid: Grid):
    """``apply(steps (T, ...), out (T+1, ...))``: adjoint of the time difference."""
    inv_dt = 1.0 / grid.dt
    return _time_kernel(_time_combination_adjoint, grid, -inv_dt, inv_dt, False)


def make_time_average(grid: Grid):
    """``apply(levels (T+1, ...), out (T, ...))``: ``(rho[k] + rho[k+1]) / 2``."""
    return _time_kernel(_time_combination, grid, 0.5, 0.5, True)


def make_time_average_adjoint(grid: Grid):
    """``apply(steps (T, ...), out (T+1, ...))``: adjoint of the time average."""
    return _time_kernel(_time_combination_adjoint, grid, 0.5, 0.5, False)


# ---------------------------------------------------------------------- sparse twins
def face_cells(grid: Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(face, lower, upper)``: flat index of each face of one regime (in the face
    layout) and of the cells before and after it (in the cell layout), vectorised.

    1-D: face ``j`` joins cells ``j`` and ``j + 1``; 2-D: face ``[a, i, j]`` joins cell
    ``(i, j)`` and its ``+a`` neighbour.  Non-faces of the padded 2-D layout are left out.
    """
    n = grid.n_weights
    if grid.dims == 1:
        face = np.arange(n - 1)
        return face, face, face + 1
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    cell = (i * n + j).ravel()
    along0, along1 = (i < n - 1).ravel(), (j < n - 1).ravel()
    face = np.concatenate([cell[along0], n * n + cell[along1]])
    lower = np.concatenate([cell[along0], cell[along1]])
    upper = np.concatenate([cell[along0] + n, cell[along1] + 1])
    return face, lower, upper


def _face_cell_matrix(grid: Grid, at_lower: float, at_upper: float) -> sp.csr_matrix:
    """(cells, faces) matrix: ``at_lower`` (``at_upper``) joins a face to its lower (upper) cell."""
    face, lower, upper = face_cells(grid)
    rows = np.concatenate([lower, upper])
    cols = np.concatenate([face, face])
    vals = np.concatenate([np.full(face.size, at_lower), np.full(face.size, at_upper)])
    return sp.csr_matrix((vals, (rows, cols)), shape=(grid.n_cells, grid.n_faces))


def divergence_matrix(grid: Grid, n_batch: int = 1) -> sp.csr_matrix:
    """Sparse divergence, shape ``(n_batch * n_cells, n_batch * n_faces)`` (per regime)."""
    inv_dx = 1.0 / grid.dx
    block = _face_cell_matrix(grid, inv_dx, -inv_dx)
    return sp.kron(sp.identity(n_batch, format="csr"), block, format="csr")


def face_average_matrix(grid: Grid, n_batch: int = 1) -> sp.csr_matrix:
    """Sparse face average, shape ``(n_batch * n_faces, n_batch * n_cells)``."""
    block = _face_cell_matrix(grid, 0.5, 0.5).T
    return sp.kron(sp.identity(n_batch, format="csr"), block, format="csr")


def _time_matrix(n_steps: int, size: int, a: float, b: float) -> sp.csr_matrix:
    block = sp.diags([a * np.ones(n_steps), b * np.ones(n_steps)], [0, 1],
                     shape=(n_steps, n_steps + 1), format="csr")
    return sp.kron(block, sp.identity(size, format="csr"), format="csr")


def time_difference_matrix(grid: Grid, size: int | None = None) -> sp.csr_matrix:
    """Sparse time difference, shape ``(T * size, (T + 1) * size)``.

    ``size`` is the number of entries per level (default: ``n_regimes * n_cells``).
    """
    size = grid.n_regimes * grid.n_cells if size is None else size
    return _time_matrix(grid.n_steps, size, -1.0 / grid.dt, 1.0 / grid.dt)


def time_average_matrix(grid: Grid, size: int | None = None) -> sp.csr_matrix:
    """Sparse time average, shape ``(T * size, (T + 1) * size)``."""
    size = grid.n_regimes * grid.n_cells if size is None else size
    return _time_matrix(grid.n_steps, size, 0.5, 0.5)
