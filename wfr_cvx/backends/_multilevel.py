r"""Grid hierarchy for a coarse-to-fine start: a grid at half resolution in space and
time, allocations restricted to it, and a coarse path prolonged back.

A first-order solver started from the straight line spends most of its iterations
finding the path's shape; the same problem on a grid with half the cells per axis and
half the steps costs ~1/8 (1-D: ~1/4) as much per iteration, and its solution,
prolonged, is a start close to the fine optimum (used by the ``"dr"`` backend,
:mod:`wfr_cvx.backends.dr`).  This is the nested-iteration ("full multigrid") idea of
Brandt 1977, used here for the start only.

Coarse grid (:func:`coarsen_grid`): cells ``2i, 2i+1`` of each weight axis merge into
cell ``i``, steps ``2k, 2k+1`` into step ``k``; a coarse cell is active when any of its
children is.  Allocations are summed over the children (:func:`restrict_allocation`);
a metric is averaged (:func:`coarsen_metric`).

Prolongation (a coarse path to a start on the fine grid):

* levels (:func:`prolong_levels`): cell-centred linear interpolation along each weight
  axis (:math:`\tfrac34 c_i + \tfrac14 c_{i\pm1}`, clamped at the ends), zero on
  inactive cells, then rescaled so that the children of every coarse cell hold its
  mass exactly; fine level ``2k`` is coarse level ``k``, level ``2k + 1`` the mean of
  coarse levels ``k`` and ``k + 1``.
* fluxes (:func:`prolong_flux`): each of the two fine steps of a coarse step moves half
  of its flux.  A coarse face's flux goes to the fine face(s) on it (2-D: shared by the
  open fine faces, linear along the face, corrected so that they sum to the coarse
  flux); a fine face inside a coarse cell gets the mean of the two coarse faces beside
  it (a wall counts 0).

So coarse continuity carries over: summed over the children of a coarse cell and the
two fine steps of a coarse step, the prolonged path creates exactly the mass the coarse
path creates there (tested), wherever each open coarse face has an open fine face on it
(2-D: the open one of a pair carries all of the flux; a mask that closes every fine face
on an open coarse face loses that flux from the start).  Inside a coarse cell the split
is only approximate; the fine solve corrects it.

References
----------
A. Brandt, "Multi-level adaptive solutions to boundary-value problems", Math. Comp.
31(138):333-390, 1977.
"""

from __future__ import annotations

import numpy as np

from ..grid import Grid

__all__ = ["can_coarsen", "coarsen_grid", "coarsen_metric", "prolong_flux",
           "prolong_levels", "restrict_allocation"]

#: Smallest coarse grid worth solving: fewer cells per axis or steps than this and the
#: coarse path says little about the fine one (benchmarks/TUNING.md).
MIN_CELLS = 16
MIN_STEPS = 4


def can_coarsen(grid: Grid, min_cells: int | None = None, min_steps: int | None = None) -> bool:
    """Whether ``grid`` halves evenly into a grid of at least ``min_cells`` cells per
    axis and ``min_steps`` steps (default :data:`MIN_CELLS`, :data:`MIN_STEPS`).

    >>> can_coarsen(Grid(64, 32)), can_coarsen(Grid(64, 6)), can_coarsen(Grid(30, 8))
    (True, False, False)
    """
    min_cells = MIN_CELLS if min_cells is None else min_cells
    min_steps = MIN_STEPS if min_steps is None else min_steps
    n, steps = grid.n_weights, grid.n_steps
    return (n % 2 == 0 and steps % 2 == 0 and n // 2 >= min_cells
            and steps // 2 >= min_steps)


def _blocks(a: np.ndarray, dims: int, lead: int) -> np.ndarray:
    """View ``a`` (``lead`` leading axes, then ``dims`` axes of even length ``n``) with
    each weight axis split into ``(n / 2, 2)``: children on axes ``lead + 1`` (and
    ``lead + 3``); trailing axes are kept."""
    shape = list(a.shape[:lead])
    for size in a.shape[lead:lead + dims]:
        shape += [size // 2, 2]
    return a.reshape(shape + list(a.shape[lead + dims:]))


def _child_axes(dims: int, lead: int) -> tuple[int, ...]:
    return tuple(lead + 1 + 2 * a for a in range(dims))


def coarsen_grid(grid: Grid) -> Grid:
    """The grid with half the cells per weight axis and half the steps (see the module
    docstring); the regimes, assets and dims are kept.

    >>> coarsen_grid(Grid.simplex(8, 4)).mask[0].astype(int)
    array([[1, 1, 1, 1],
           [1, 1, 1, 0],
           [1, 1, 0, 0],
           [1, 0, 0, 0]])
    """
    if not can_coarsen(grid, 1, 1):
        raise ValueError(f"the grid ({grid.n_weights} weights, {grid.n_steps} steps) does "
                         "not halve: both must be even")
    mask = _blocks(grid.mask, grid.dims, 1).any(axis=_child_axes(grid.dims, 1))
    return Grid(grid.n_weights // 2, grid.n_steps // 2, grid.regimes, mask=mask,
                dims=grid.dims, assets=grid.assets)


def restrict_allocation(rho: np.ndarray, grid: Grid) -> np.ndarray:
    """Cell masses of ``rho`` (shape ``grid.shape``) summed onto :func:`coarsen_grid`'s
    cells.

    >>> restrict_allocation(np.arange(8.0).reshape(2, 4), Grid(4, 2, regimes=2))
    array([[ 1.,  5.],
           [ 9., 13.]])
    """
    return _blocks(np.asarray(rho, dtype=float), grid.dims, 1).sum(
        axis=_child_axes(grid.dims, 1))


def coarsen_metric(metric: np.ndarray, grid: Grid) -> np.ndarray:
    """A checked metric (:func:`wfr_cvx.metric.check_metric`) of ``grid`` on the coarse
    grid: face weights of the fine faces lying on each coarse face (2-D: the mean of the
    two), cell matrices averaged over the children."""
    metric = np.asarray(metric, dtype=float)
    R, n = grid.n_regimes, grid.n_weights
    if metric.ndim == 5:  # cell matrices (R, n, n, 2, 2)
        return _blocks(metric, 2, 1).mean(axis=(2, 4))
    if grid.dims == 1:  # faces (R, n - 1): coarse face j is fine face 2j + 1
        return metric[:, 1::2].copy()
    out = np.zeros((R, 2, n // 2, n // 2))
    out[:, 0] = 0.5 * (metric[:, 0, 1::2, 0::2] + metric[:, 0, 1::2, 1::2])
    out[:, 1] = 0.5 * (metric[:, 1, 0::2, 1::2] + metric[:, 1, 1::2, 1::2])
    return out


def _double_cells(a: np.ndarray, axis: int) -> np.ndarray:
    """Cell-centred linear interpolation to twice the cells along ``axis`` (clamped)."""
    a = np.moveaxis(a, axis, -1)
    before = np.concatenate([a[..., :1], a[..., :-1]], axis=-1)
    after = np.concatenate([a[..., 1:], a[..., -1:]], axis=-1)
    out = np.empty((*a.shape[:-1], 2 * a.shape[-1]))
    out[..., 0::2] = 0.75 * a + 0.25 * before
    out[..., 1::2] = 0.75 * a + 0.25 * after
    return np.moveaxis(out, -1, axis)


def _double_faces(a: np.ndarray, axis: int) -> np.ndarray:
    """Interior-face values along ``axis`` (``n_c - 1`` of them, walls 0) onto the
    ``2 n_c - 1`` fine interior faces: odd faces lie on coarse faces, even ones inside
    a coarse cell get the mean of the coarse faces beside it."""
    a = np.moveaxis(a, axis, -1)
    zero = np.zeros_like(a[..., :1])
    padded = np.concatenate([zero, a, zero], axis=-1)
    out = np.empty((*a.shape[:-1], 2 * a.shape[-1] + 1))
    out[..., 1::2] = a
    out[..., 0::2] = 0.5 * (padded[..., :-1] + padded[..., 1:])
    return np.moveaxis(out, -1, axis)


def prolong_levels(levels: np.ndarray, grid: Grid) -> np.ndarray:
    """Coarse levels ``(T_c + 1, *coarse shape)`` onto ``grid`` (the fine grid): shape
    ``(2 T_c + 1, *grid.shape)``; every coarse cell's mass is kept among its active
    children (see the module docstring)."""
    dims, mask = grid.dims, grid.mask
    fine = np.asarray(levels, dtype=float)
    for axis in range(2, 2 + dims):
        fine = _double_cells(fine, axis)
    fine = np.maximum(fine, 0.0) * mask
    children = _blocks(fine, dims, 2)
    held = children.sum(axis=_child_axes(dims, 2), keepdims=True)
    wanted = np.expand_dims(levels, _child_axes(dims, 2))
    children = np.where(held > 0, children * (wanted / np.where(held > 0, held, 1.0)), 0.0)
    fine = children.reshape(fine.shape)
    out = np.empty((2 * fine.shape[0] - 1, *fine.shape[1:]))
    out[0::2] = fine
    out[1::2] = 0.5 * (fine[:-1] + fine[1:])
    return out


def prolong_flux(flux: np.ndarray, grid: Grid) -> np.ndarray:
    """Coarse fluxes ``(T_c, *coarse face_shape)`` (mass moved across each face per
    step) onto ``grid`` (the fine grid): shape ``(2 T_c, *grid.face_shape)``, zero on
    faces ``grid.face_mask`` closes (see the module docstring)."""
    per_step = 0.5 * np.repeat(np.asarray(flux, dtype=float), 2, axis=0)
    if grid.dims == 1:
        return _double_faces(per_step, 2) * grid.face_mask
    n = grid.n_weights
    out = np.zeros((per_step.shape[0], per_step.shape[1], 2, n, n))
    for axis in (0, 1):
        along = 3 - axis  # the axis of ``coarse`` along the face
        if axis == 0:
            coarse = per_step[:, :, 0, :-1, :]
            on_face = grid.face_mask[:, 0, 1:-1:2, :]  # fine faces lying on coarse faces
        else:
            coarse = per_step[:, :, 1, :, :-1]
            on_face = grid.face_mask[:, 1, :, 1:-1:2]
        # along the face: the two fine faces share the coarse flux, linear in position,
        # then corrected so that the open ones of each pair carry all of it
        shared = 0.5 * _double_cells(coarse, along) * on_face
        pairs = _blocks(np.moveaxis(shared, along, -1), 1, shared.ndim - 1)
        is_open = _blocks(np.moveaxis(np.broadcast_to(on_face, shared.shape), along, -1), 1,
                          shared.ndim - 1)
        n_open = is_open.sum(axis=-1, keepdims=True)
        missing = np.moveaxis(coarse, along, -1)[..., None] - pairs.sum(axis=-1, keepdims=True)
        pairs += np.where(n_open > 0, missing / np.maximum(n_open, 1), 0.0) * is_open
        shared = np.moveaxis(pairs.reshape(pairs.shape[:-2] + (-1,)), -1, along)
        fine = _double_faces(shared, 2 + axis)  # across the face: faces doubled
        if axis == 0:
            out[:, :, 0, :-1, :] = fine
        else:
            out[:, :, 1, :, :-1] = fine
    return out * grid.face_mask
