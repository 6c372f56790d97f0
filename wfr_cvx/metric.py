r"""The risk metric :math:`G`: validation and the two forms the assembly uses.

The transport cost of a velocity :math:`v` is :math:`|v|_G^2 = v^\top G v` with :math:`G`
symmetric positive definite (Σ⁻¹ of a risk model, a transaction-cost matrix, the
reference's Ruppeiner metric ...).  Accepted ``metric=`` values:

* ``None`` (identity) or a positive scalar;
* 1-D grids: one positive value per interior face, shape ``(n - 1,)`` or
  ``grid.face_shape``;
* 2-D grids: a constant SPD ``2 x 2`` matrix, or a field of them per cell, shape
  ``(n, n, 2, 2)`` or ``(n_regimes, n, n, 2, 2)``; or the face weights of a diagonal
  :math:`G`, shape ``grid.face_shape`` -- the form a solve returns in ``geo.metric``, so
  that a result's metric solves again.  Only the faces that exist (``grid.face_mask``)
  are read; the other entries are set within the range of those (they never carry flux,
  but the solver's scale reads every entry).  With two cells per side and two regimes the
  shape ``(2, 2, 2, 2)`` is read as cell matrices.  Likewise only the active cells'
  matrices are read (``grid.mask``): the inactive ones may hold anything, NaN included,
  and are replaced by the mean of the active ones.

Two discrete forms (:func:`check_metric` returns one):

* **face weights** (shape ``grid.face_shape``) when :math:`G` is diagonal: the staggered
  cost :math:`G_{aa}\, m_f^2 / \bar\rho_f` on each face ``f`` of axis ``a`` (the value at a
  face is the mean of its two cells'; the entries that are no face are set within the
  range of the faces', as for face weights given);
* **cell matrices** (shape ``(n_regimes, n, n, 2, 2)``) when :math:`G` has off-diagonal
  entries (beyond :data:`DIAGONAL_TOLERANCE` of :math:`\sqrt{G_{00}G_{11}}`; the two forms
  are different discretisations, O(h) apart where :math:`G` varies by cell): the momentum
  is averaged to cell centres, :math:`\bar m_a = (m_{a,-} + m_{a,+})/2` over the two faces
  of axis ``a``, and the cost is :math:`|L^\top \bar m|^2 / \bar\rho`
  per cell with :math:`G = L L^\top` (Cholesky) — one 4-dimensional rotated cone per cell
  (Papadakis, Peyré & Oudet 2014 interpolate staggered momenta to centres the same way).

A matrix of an active cell that is not finite, not symmetric, or whose Cholesky
factorisation fails (not positive definite), is a ValueError naming the first offending
cell.

Labelled (pandas or xarray) metrics are read **by label**, never by position, by the rules
of the allocations (:func:`wfr_cvx.grid.labelled_allocation`):

* 2-D grids: a ``2 x 2`` DataFrame whose index and columns both name the two weight axes,
  by asset (``"IBM"``) or as ``w_<asset>`` (``"w_IBM"``), after ``grid.assets[:2]`` (``A``,
  ``B`` for a grid without assets), in any order, is reordered to the axes' order -- the
  rule of the ensemble engine's DataFrame metric (:mod:`wfr_cvx.ensemble`).  A label that
  names no weight axis (the remainder asset included; for a covariance of all three
  assets pass ``trade_variance_metric(cov, assets=grid.assets)``), a
  duplicate, or index and columns with different labels are a ValueError naming
  ``metric`` and the label.  Per-cell matrices have no labelled form: pass an array;
* 1-D grids: a Series indexed by face position (``grid.faces``; one value per face for
  every regime), a DataFrame indexed by face position with one column per regime, or a
  Series with a (regime, face position) MultiIndex, rows in any order, every interior
  face of every regime exactly once (:func:`wfr_cvx.grid.labelled_faces`).

An xarray DataArray with coordinates on every dimension is read by label the same way,
through its pandas form: on a 2-D grid a 2 x 2 one as the DataFrame (rows its first
dimension, columns its second), and one matrix per cell with the dimensions of an
allocation and ``row``, ``column`` (the ``metric`` of ``Geodesic.to_xarray()``) cell by
cell as an allocation is; on a 1-D grid as the Series over its dimensions (``regime`` and
the face positions, e.g. the ``metric`` of ``Geodesic.to_xarray()``).  One without
coordinates is read by position, as an array; one with coordinates on some dimensions
only is refused.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._labels import align_square_frame, as_pandas, data_array_labelled, is_data_array
from ._validate import holds_bools
from .grid import (
    Grid,
    _axes_description,
    _axis_hint,
    _axis_lookup,
    _data_array_values,
    _labelled,
    _Layout,
    axis_assets,
    labelled_faces,
)

__all__ = ["check_metric", "unlabel_metric", "is_cell_metric", "metric_reach", "cholesky_factors",
           "face_weights", "trade_variance_metric"]


#: Off-diagonal entries at most this fraction of sqrt(G_00 G_11) (a correlation of 1e-10)
#: count as zero: the two forms are different discretisations, O(h) apart where G varies
#: by cell (1.5 % of d^2 on a 10^2 x 6 simplex grid for a field varying 6-fold), and a
#: field diagonal up to round-off must not switch form on its round-off.
DIAGONAL_TOLERANCE = 1e-10


def is_cell_metric(metric: np.ndarray) -> bool:
    """Whether a checked metric is the per-cell matrix form (2-D, off-diagonal G)."""
    return np.ndim(metric) == 5


def metric_reach(metric: np.ndarray) -> float:
    """Square root of the largest eigenvalue of G: the metric length of a unit step."""
    if is_cell_metric(metric):
        return float(np.sqrt(np.max(np.linalg.eigvalsh(metric))))
    return float(np.sqrt(np.max(metric)))


def cholesky_factors(metric: np.ndarray) -> np.ndarray:
    """Lower-triangular ``L`` with ``G = L L^T`` for each cell, shape like ``metric``."""
    return np.linalg.cholesky(metric)


def _refuse_bools(metric) -> None:
    """TypeError when ``metric`` is a bool or holds bools (``True`` is no metric of 1, as
    no scalar argument takes a bool for a number)."""
    if isinstance(metric, (bool, np.bool_)):
        raise TypeError(f"`metric` must be None, a positive number or an array of numbers, "
                        f"got the bool {metric!r}")
    if holds_bools(metric):
        raise TypeError("`metric` must be None, a positive number or an array of numbers, "
                        "got an array of bools")


def _as_float_array(metric) -> np.ndarray:
    """``metric`` as a new float array: never a view of the caller's array, which the
    checked metric (and the result that reports it) would change with."""
    try:
        return np.array(metric, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(
            "`metric` must be None, a positive number, an array over faces (1-D) or SPD "
            f"matrices (2-D), got {type(metric).__name__}"
        ) from None


def _check_face_weights(arr: np.ndarray, grid: Grid) -> np.ndarray:
    n_faces = grid.n_weights - 1
    if arr.ndim == 0:
        arr = np.full(grid.face_shape, float(arr))
    elif arr.shape == (n_faces,):
        arr = np.broadcast_to(arr, grid.face_shape).copy()
    elif arr.shape != grid.face_shape:
        raise ValueError(
            f"`metric` must be a scalar or have shape ({n_faces},) or {grid.face_shape} "
            f"(one value per interior face), got {arr.shape}"
        )
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError("`metric` must be finite and > 0 on every face")
    return arr


def _check_face_weights_2d(arr: np.ndarray, grid: Grid) -> np.ndarray:
    """Face weights ``(K, 2, n, n)`` of a diagonal G on a 2-D grid: finite and > 0 on the
    faces that exist; every other entry clipped into their range, so that the largest
    entry (:func:`metric_reach`) is a face's."""
    exists = grid.face_mask
    if not exists.any():
        return np.ones(grid.face_shape)
    values = arr[exists]
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError("`metric` given as face weights must be finite and > 0 on every "
                         "face of the grid (grid.face_mask)")
    filler = np.clip(np.nan_to_num(arr, nan=values.max(), posinf=values.max(),
                                   neginf=values.min()), values.min(), values.max())
    return np.where(exists, arr, filler)


def _check_matrices(arr: np.ndarray, grid: Grid) -> np.ndarray:
    """SPD check of a (..., 2, 2) field broadcast to ``(K, n, n, 2, 2)``, on the active
    cells only; each inactive cell gets the mean of the active cells' matrices.

    An inactive cell holds no mass and carries no flux, so its matrix is never read by the
    cost; the mean keeps what the solver reads everywhere (the largest eigenvalue,
    :func:`metric_reach`, and the diagonal form) within the range of the active cells'
    values -- SPD, with eigenvalues between theirs, diagonal when they all are."""
    K, n = grid.n_regimes, grid.n_weights
    full = (K, n, n, 2, 2)
    if arr.shape not in ((2, 2), (n, n, 2, 2), full):
        raise ValueError(
            f"`metric` on a 2-D grid must be a scalar, a 2 x 2 SPD matrix or one per cell "
            f"(shape {(n, n, 2, 2)} or {full}), got shape {arr.shape}"
        )
    arr = np.broadcast_to(arr, full).copy()
    active = grid.mask
    if not active.any():
        return np.broadcast_to(np.eye(2), full).copy()
    cells = np.argwhere(active)  # the active cells in order, for the messages
    values = arr[active]
    unfinite = ~np.isfinite(values).all(axis=(-1, -2))
    if unfinite.any():
        k, i, j = cells[np.argmax(unfinite)]
        raise ValueError(f"`metric` must be finite on every active cell; it is not at regime "
                         f"{k}, cell ({i}, {j}): {arr[k, i, j].tolist()}")
    asym = np.abs(values - np.swapaxes(values, -1, -2)).max(axis=(-1, -2))
    scale = np.abs(values).max(axis=(-1, -2))
    bad = np.flatnonzero(asym > 1e-12 * np.maximum(scale, 1e-300))
    if bad.size:
        k, i, j = cells[bad[0]]
        raise ValueError(f"`metric` must be symmetric; it is not at regime {k}, cell "
                         f"({i}, {j}): {arr[k, i, j].tolist()}")
    # Cholesky per cell: the test of positive definiteness
    try:
        np.linalg.cholesky(values)
    except np.linalg.LinAlgError:
        for (k, i, j), matrix in zip(cells, values, strict=True):
            try:
                np.linalg.cholesky(matrix)
            except np.linalg.LinAlgError:
                raise ValueError(
                    f"`metric` must be positive definite; its Cholesky factorisation fails "
                    f"at regime {k}, cell ({i}, {j}): {matrix.tolist()} (eigenvalues "
                    f"{np.linalg.eigvalsh(matrix).round(12).tolist()})") from None
    arr[~active] = values.mean(axis=0)
    return arr


def _diagonal_to_faces(matrices: np.ndarray, grid: Grid) -> np.ndarray:
    """Face weights ``G_aa`` as the mean of the two cells beside each face of axis ``a``;
    the padding face after the last cell of an axis (never open) takes that cell's value,
    so that every entry is a value of ``G`` (:func:`metric_reach` reads them all: a
    padding of 1 beside a metric of 1e-6 set the solver's scale a million times off)."""
    g0, g1 = matrices[..., 0, 0], matrices[..., 1, 1]
    faces = np.empty(grid.face_shape)
    faces[:, 0, :-1, :] = 0.5 * (g0[:, :-1, :] + g0[:, 1:, :])
    faces[:, 0, -1, :] = g0[:, -1, :]
    faces[:, 1, :, :-1] = 0.5 * (g1[:, :, :-1] + g1[:, :, 1:])
    faces[:, 1, :, -1] = g1[:, :, -1]
    return faces


def trade_variance_metric(cov, assets=None):
    r"""The metric of trade variance on the simplex coordinates.

    A move :math:`\Delta x` of the first ``d`` weights is funded by the last asset, so the
    trade is :math:`P\Delta x` with :math:`P = \binom{I_d}{-\mathbf 1^\top}` and its variance
    :math:`\Delta x^\top (P^\top\Sigma P)\Delta x`: ``G = P^T cov P`` (``cov`` of all
    ``d + 1`` assets), SPD when ``cov`` is.  Which asset funds the trade changes ``G``
    (not only its order), so it must be the grid's remainder asset (``grid.assets[-1]``).

    Parameters
    ----------
    cov : array or DataFrame, ``(d + 1, d + 1)``
        Covariance of all the assets.  An array is read by position, its last asset
        funding the trade.  A DataFrame is read by label (index and columns the same
        labels, each once): in the order of ``assets``, else of its columns.  An xarray
        DataArray is read as its DataFrame (rows its first dimension) when it has
        coordinates, as an array when it has none.
    assets : sequence of ``d + 1`` names, optional
        The order to read a DataFrame ``cov`` in, the funding asset last -- pass
        ``grid.assets``; with an array, the names of its rows in order.

    Returns
    -------
    G : ndarray or DataFrame, ``(d, d)``
        An array for an unlabelled ``cov`` without ``assets``; otherwise a DataFrame over
        the ``d`` weight assets, which a grid reads by name and refuses when its remainder
        asset is another one (:func:`unlabel_metric`).

    >>> trade_variance_metric(np.diag([1.0, 2.0, 3.0]))
    array([[4., 3.],
           [3., 5.]])
    >>> cov = pd.DataFrame(np.diag([3.0, 1.0, 2.0]), index=["SEHI", "IBM", "WMT"],
    ...                    columns=["SEHI", "IBM", "WMT"])
    >>> trade_variance_metric(cov, assets=["IBM", "WMT", "SEHI"])
         IBM  WMT
    IBM  4.0  3.0
    WMT  3.0  5.0
    """
    labels = None
    cov = as_pandas(cov, "`cov`")
    if isinstance(cov, pd.DataFrame):
        labels = [str(label) for label in cov.columns]
        order = labels if assets is None else [str(asset) for asset in assets]
        lookup = {label: i for i, label in enumerate(order)}
        if len(lookup) != len(order):
            raise ValueError(f"`assets` must name each asset once, got {order}")
        values = align_square_frame(cov, order, lookup.get, "`cov`")
        labels = order
    elif isinstance(cov, pd.Series):
        raise TypeError("`cov` must be a square matrix (array or DataFrame), got a Series")
    else:
        values = cov
        if assets is not None:
            labels = [str(asset) for asset in assets]
    try:
        cov = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError("`cov` must hold numbers") from None
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1] or cov.shape[0] < 2:
        raise ValueError(f"`cov` must be a square matrix of >= 2 assets, got {cov.shape}")
    if labels is not None and len(labels) != cov.shape[0]:
        raise ValueError(f"`assets` must name the {cov.shape[0]} assets of `cov`, got "
                         f"{len(labels)}: {labels}")
    d = cov.shape[0] - 1
    P = np.vstack([np.eye(d), -np.ones((1, d))])
    G = P.T @ cov @ P
    if labels is None:
        return G
    return pd.DataFrame(G, index=labels[:d], columns=labels[:d])


def face_weights(metric: np.ndarray, grid: Grid) -> np.ndarray:
    """The metric along each face's axis, ``G_aa`` (shape ``grid.face_shape``).

    For face weights that is the metric itself; for cell matrices, the diagonal entries
    averaged to the faces (the cost of a velocity along one axis).
    """
    return _diagonal_to_faces(metric, grid) if is_cell_metric(metric) else metric


def _metric_hint(grid: Grid):
    """The allocations' hint about a label that names no weight axis, and for the
    remainder asset how to build a trade-variance metric the grid reads."""
    hint = _axis_hint(grid)

    def metric_hint(label: str) -> str:
        extra = hint(label)
        if grid.assets is not None and label in (grid.assets[-1], f"w_{grid.assets[-1]}"):
            extra += ("; a trade-variance metric must be funded by it: "
                      "trade_variance_metric(cov, assets=grid.assets)")
        return extra

    return metric_hint


def _is_face_label(label) -> bool:
    """Whether ``label`` reads as a face position of a 1-D grid (a number)."""
    try:
        float(label)
    except (TypeError, ValueError):
        return False
    return True


def _one_asset_metric(metric: pd.DataFrame, grid: Grid) -> np.ndarray:
    """A 1 x 1 DataFrame labelled by an asset on both axes (``trade_variance_metric`` of
    two assets) on a 1-D grid: G of the weight axis, which must be that asset when the
    grid names its assets."""
    label = str(metric.index[0])
    if grid.assets is not None and label not in (grid.assets[0], f"w_{grid.assets[0]}"):
        raise ValueError(
            f"`metric` is labelled {label!r}, but the grid's weight axis is "
            f"{grid.assets[0]!r} (funded by {grid.assets[-1]!r}); for a covariance of the "
            "two assets pass trade_variance_metric(cov, assets=grid.assets)")
    try:
        return np.asarray(metric.to_numpy(dtype=float)).reshape(())
    except (TypeError, ValueError):
        raise TypeError("`metric` must hold numbers") from None


def _is_one_asset_frame(metric) -> bool:
    """Whether ``metric`` is a 1 x 1 DataFrame labelled by an asset on both axes (not by a
    face position): the form :func:`_one_asset_metric` reads."""
    return (isinstance(metric, pd.DataFrame) and metric.shape == (1, 1)
            and str(metric.index[0]) == str(metric.columns[0])
            and not _is_face_label(metric.index[0]))


def _labelled_cell_matrices(metric, grid: Grid) -> np.ndarray:
    """Per-cell matrices from a DataArray with coordinates on every dimension: ``row`` and
    ``column`` labelled by the weight axes (as a 2 x 2 DataFrame metric is), the others
    those of an allocation (``regime``, ``w_<A>``, ``w_<B>``; without ``regime``, one
    field for every regime), read by label as an allocation is, NaN entries left out
    (``Geodesic.to_xarray()`` writes NaN on inactive cells, whose matrices are never read).
    """
    dims = [str(dim) for dim in metric.dims]
    if "row" not in dims or "column" not in dims:
        raise ValueError(
            f"`metric` is an xarray DataArray with dimensions {dims}: on a grid with two "
            f"weight axes a labelled metric is a 2 x 2 matrix over "
            f"{_axes_description(grid)}, or one matrix per cell with the dimensions of an "
            f"allocation and `row`, `column` (as Geodesic.to_xarray() writes it); pass "
            f"other forms (face weights) as arrays, read by position")
    lookup, hint = _axis_lookup(grid, "metric"), _metric_hint(grid)
    axes = {}
    for dim in ("row", "column"):
        labels = [str(label) for label in metric.coords[dim].values]
        found = [lookup(label) for label in labels]
        for label, axis in zip(labels, found, strict=True):
            if axis is None:
                raise ValueError(f"`metric` {dim} label {label!r} is not one of "
                                 f"{_axes_description(grid)}{hint(label)}")
        if sorted(found) != [0, 1]:
            raise ValueError(f"`metric` {dim} labels must name each weight axis once, got "
                             f"{labels}")
        axes[dim] = found
    out = np.zeros((*grid.shape, 2, 2))
    for r, a in enumerate(axes["row"]):
        for c, b in enumerate(axes["column"]):
            entries = _data_array_values(metric.isel(row=r, column=c, drop=True), grid,
                                         "metric")
            out[..., a, b] = _labelled(entries, _Layout(grid), "metric", broadcast=True)
    return out


def _data_array_metric(metric, grid: Grid):
    """A DataArray ``metric=`` as the pandas object (or array) that stands for it: its
    values when it has no coordinates (read by position, as an array); with coordinates, on
    a 1-D grid its Series over (regime, face position), levels named after its dimensions
    (or the 1 x 1 DataFrame of one asset), on a 2-D grid its 2 x 2 DataFrame, or its
    per-cell matrices read by label (:func:`_labelled_cell_matrices`)."""
    if not data_array_labelled(metric, "`metric`"):
        return metric.values
    if grid.dims == 1:
        if metric.ndim == 2 and _is_one_asset_frame(metric.to_pandas()):
            return metric.to_pandas()
        return metric.to_series()
    if metric.ndim <= 2:
        return as_pandas(metric, "`metric`")
    return _labelled_cell_matrices(metric, grid)


def unlabel_metric(metric, grid: Grid):
    """A labelled (pandas, or xarray with coordinates) ``metric=`` as the plain array it
    stands for, aligned by label (see the module docstring); other values are returned as
    they are.

    >>> g = Grid.simplex(4, 1, assets=("IBM", "WMT", "SEHI"))
    >>> G = pd.DataFrame([[2.0, 0.5], [0.5, 1.0]], index=["WMT", "IBM"],
    ...                  columns=["WMT", "IBM"])
    >>> unlabel_metric(G, g)
    array([[1. , 0.5],
           [0.5, 2. ]])
    """
    if is_data_array(metric):
        metric = _data_array_metric(metric, grid)
    if not isinstance(metric, (pd.Series, pd.DataFrame)):
        return metric
    if grid.dims == 1:
        if _is_one_asset_frame(metric):
            return _one_asset_metric(metric, grid)
        return labelled_faces(metric, grid, "metric")
    if isinstance(metric, pd.Series):
        raise ValueError(
            f"`metric` on a 2-D grid cannot be a Series: pass a 2 x 2 DataFrame labelled by "
            f"{_axes_description(grid)} on both axes, or an array")
    if grid.assets is not None and {str(label) for label in metric.index} == set(grid.assets):
        raise ValueError(
            f"`metric` is labelled by all three assets {list(grid.assets)}: a metric is over "
            f"the weight axes {list(axis_assets(grid))} only; for a covariance of the three "
            "assets pass trade_variance_metric(cov, assets=grid.assets)")
    values = align_square_frame(metric, axis_assets(grid), _axis_lookup(grid, "metric"),
                                "`metric`", _axes_description(grid), _metric_hint(grid))
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError("`metric` must hold numbers") from None


def check_metric(metric, grid: Grid) -> np.ndarray:
    """Validate ``metric=`` for ``grid``: face weights, or cell matrices (2-D, off-diagonal).

    See the module docstring for the accepted forms; labelled (pandas or xarray) input is
    read by label (:func:`unlabel_metric`).  Raises TypeError / ValueError naming ``metric`` and
    what was wrong.
    """
    if metric is None:
        return np.ones(grid.face_shape)
    _refuse_bools(metric)
    arr = _as_float_array(unlabel_metric(metric, grid))
    if grid.dims == 1:
        if arr.shape == (1, 1):
            arr = arr.reshape(())
        return _check_face_weights(arr, grid)
    if arr.ndim == 0:
        if not np.isfinite(arr) or arr <= 0:
            raise ValueError(f"`metric` must be finite and > 0, got {float(arr)}")
        return np.full(grid.face_shape, float(arr))
    n = grid.n_weights
    if arr.shape == grid.face_shape and arr.shape != (n, n, 2, 2):
        return _check_face_weights_2d(arr, grid)
    matrices = _check_matrices(arr, grid)
    off = np.abs(matrices[..., 0, 1])
    if np.all(off <= DIAGONAL_TOLERANCE * np.sqrt(matrices[..., 0, 0] * matrices[..., 1, 1])):
        # the entries that are no face (padding, beside an inactive cell) within the faces'
        # range, as for face weights given: the field solves as its result's metric does
        return _check_face_weights_2d(_diagonal_to_faces(matrices, grid), grid)
    return matrices
