"""The discretisation grid: weight cells x regimes, and time steps.

A :class:`Grid` splits the weight axis ``[0, 1]`` into ``n_weights`` cells of width
``dx = 1 / n_weights`` with centres ``(i + 1/2) * dx`` and the time interval ``[0, 1]``
into ``n_steps`` steps of length ``dt = 1 / n_steps``.  An *allocation* is an array of
non-negative cell **masses** of shape ``grid.shape = (n_regimes, n_weights)``.

Two weight dimensions (``dims=2``, e.g. :meth:`Grid.simplex`, three assets with
``w_C = 1 - w_A - w_B``): ``n_weights x n_weights`` square cells of side ``dx`` over
``(w_A, w_B)``, allocations of shape ``(n_regimes, n, n)``.

Staggered layout (Benamou & Brenier 2000; Papadakis, Peyré & Oudet 2014):

* masses ``rho`` live on cell centres at the ``n_steps + 1`` time levels;
* momenta live on the interior faces, one per step (the boundary faces carry no flux).
  In 1-D they are the ``n_weights - 1`` faces between cells ``j`` and ``j + 1``
  (``face_shape = (n_regimes, n - 1)``).  In 2-D they are stored *padded*,
  ``face_shape = (n_regimes, 2, n, n)``: entry ``[a, i, j]`` is the face on the ``+a``
  side of cell ``(i, j)`` (between it and cell ``(i+1, j)`` for ``a = 0``, ``(i, j+1)``
  for ``a = 1``); the entries at the last index of axis ``a`` are not faces and stay 0.
  ``grid.face_mask`` says which faces exist and can carry flux (both cells active);
* sources live on cell centres, one per step.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ._validate import nonnegative_scalar, real_scalar

__all__ = ["Grid", "as_allocation"]


def _positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}, got {value}")
    return int(value)


class Grid:
    """Cells of the weight axis [0, 1] x discrete regimes, and a uniform time grid.

    Parameters
    ----------
    n_weights : int
        Number of weight cells (>= 2); centres at ``(i + 1/2) / n_weights``.
    n_steps : int
        Number of time steps (>= 1); the path has ``n_steps + 1`` levels.
    regimes : int or sequence of str, default 1
        Number of regimes (labelled ``"0", "1", ...``) or their labels.
    mask : array of bool, shape ``grid.shape``, optional
        Active cells (position limits, per regime); all active when None.  Inactive cells
        hold no mass and faces beside them carry no flux; allocations with mass there are
        refused.  Read-only attribute ``grid.mask``.
    dims : {1, 2}
        Number of weight axes; ``2`` makes ``n_weights x n_weights`` cells over
        ``[0, 1]^2`` (see :meth:`simplex` for the three-asset simplex).
    assets : sequence of str, optional
        Labels of the assets the weight axes stand for (``dims + 1`` of them: the last
        asset's weight is ``1 - sum``).  Informational (tables, plots).

    Examples
    --------
    >>> g = Grid(4, 2, regimes=("risk_on", "risk_off"))
    >>> g.shape, g.dx, g.dt
    ((2, 4), 0.25, 0.5)
    >>> g.weights
    array([0.125, 0.375, 0.625, 0.875])
    >>> risk_off_cap = g.weights <= 0.8          # equity weight <= 0.8 in risk-off
    >>> Grid(4, 2, regimes=("risk_on", "risk_off"), mask=[[True] * 4, risk_off_cap])
    Grid(n_weights=4, n_steps=2, regimes=('risk_on', 'risk_off'), inactive_cells=1)
    """

    def __init__(self, n_weights: int, n_steps: int, regimes: int | Sequence[str] = 1,
                 mask=None, *, dims: int = 1, assets: Sequence[str] | None = None):
        self.n_weights = _positive_int(n_weights, "n_weights", 2)
        if isinstance(dims, bool) or dims not in (1, 2):
            raise ValueError(f"`dims` must be 1 or 2 (weight axes), got {dims!r}")
        self.dims = int(dims)
        self.assets = _check_assets(assets, self.dims)
        self.n_steps = _positive_int(n_steps, "n_steps", 1)
        if isinstance(regimes, (int, np.integer)) and not isinstance(regimes, bool):
            labels = tuple(str(k) for k in range(_positive_int(regimes, "regimes", 1)))
        elif isinstance(regimes, str) or not isinstance(regimes, Sequence):
            raise TypeError(
                "`regimes` must be an int or a sequence of labels, "
                f"got {type(regimes).__name__}"
            )
        else:
            labels = tuple(str(k) for k in regimes)
            if not labels:
                raise ValueError("`regimes` must name at least one regime")
            if len(set(labels)) != len(labels):
                raise ValueError(f"`regimes` labels must be unique, got {labels}")
        self.regimes = labels
        self.mask = _check_mask(mask, self.shape)

    @classmethod
    def simplex(cls, n: int, n_steps: int, assets: Sequence[str] = ("A", "B", "C"),
                regimes: int | Sequence[str] = 1, mask=None) -> Grid:
        """Three-asset simplex: ``n x n`` cells over ``(w_A, w_B)``, ``w_C = 1 - w_A - w_B``.

        A cell is active when its centre lies in the simplex, ``w_A + w_B <= 1`` (its
        ``n (n + 1) / 2`` cells); faces between an active and an inactive cell carry no
        flux, so no mass crosses the simplex edges.  ``mask`` (shape ``(n_regimes, n,
        n)`` or ``(n, n)``) adds position limits, per regime, on top of the simplex.

        >>> g = Grid.simplex(4, 2, regimes=("on", "off"))
        >>> g.shape, g.coords.shape, int(g.mask[0].sum())
        ((2, 4, 4), (4, 4, 2), 10)
        >>> g.assets
        ('A', 'B', 'C')
        """
        n = _positive_int(n, "n", 2)
        assets = _check_assets(assets, 2)
        centres = (np.arange(n) + 0.5) / n
        inside = centres[:, None] + centres[None, :] <= 1.0 + 1e-12
        probe = cls(n, n_steps, regimes, dims=2, assets=assets)
        limits = np.broadcast_to(inside, probe.shape)
        if mask is not None:
            extra = np.asarray(mask)
            if extra.dtype != bool:
                raise TypeError(f"`mask` must be an array of bools, got dtype {extra.dtype}")
            if extra.shape == (n, n):
                extra = np.broadcast_to(extra, probe.shape)
            if extra.shape != probe.shape:
                raise ValueError(f"`mask` must have shape {probe.shape} or {(n, n)}, got "
                                 f"{extra.shape}")
            limits = limits & extra
        return cls(n, n_steps, regimes, mask=np.array(limits), dims=2, assets=assets)

    # -- sizes -------------------------------------------------------------------------
    @property
    def n_regimes(self) -> int:
        return len(self.regimes)

    @property
    def cell_shape(self) -> tuple[int, ...]:
        """Shape of one regime's cells: ``(n,)`` or ``(n, n)``."""
        return (self.n_weights,) * self.dims

    @property
    def n_cells(self) -> int:
        """Cells per regime."""
        return self.n_weights**self.dims

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one allocation: ``(n_regimes, n_weights)`` or ``(n_regimes, n, n)``."""
        return (self.n_regimes, *self.cell_shape)

    @property
    def face_shape(self) -> tuple[int, ...]:
        """Shape of one step's momentum: ``(n_regimes, n - 1)`` or ``(n_regimes, 2, n, n)``."""
        if self.dims == 1:
            return (self.n_regimes, self.n_weights - 1)
        return (self.n_regimes, 2, self.n_weights, self.n_weights)

    @property
    def n_faces(self) -> int:
        """Face entries per regime (2-D: padded, including the non-faces)."""
        return int(np.prod(self.face_shape[1:]))

    @property
    def face_mask(self) -> np.ndarray:
        """Faces that exist and may carry flux (both cells active), shape ``face_shape``."""
        mask = self.mask
        if self.dims == 1:
            return mask[:, :-1] & mask[:, 1:]
        out = np.zeros(self.face_shape, dtype=bool)
        out[:, 0, :-1, :] = mask[:, :-1, :] & mask[:, 1:, :]
        out[:, 1, :, :-1] = mask[:, :, :-1] & mask[:, :, 1:]
        return out

    @property
    def dx(self) -> float:
        return 1.0 / self.n_weights

    @property
    def dt(self) -> float:
        return 1.0 / self.n_steps

    @property
    def weights(self) -> np.ndarray:
        """Cell centres, shape ``(n_weights,)``."""
        return (np.arange(self.n_weights) + 0.5) * self.dx

    @property
    def coords(self) -> np.ndarray:
        """Cell centres as points, shape ``(n_weights, 1)`` or ``(n, n, 2)``."""
        if self.dims == 1:
            return self.weights[:, None]
        w = self.weights
        return np.stack(np.meshgrid(w, w, indexing="ij"), axis=-1)

    @property
    def faces(self) -> np.ndarray:
        """Interior face positions ``i * dx``, ``i = 1 .. n_weights - 1`` (per axis)."""
        return np.arange(1, self.n_weights) * self.dx

    def require_1d(self, what: str) -> None:
        """ValueError unless the grid has one weight axis (for 1-D-only tools)."""
        if self.dims != 1:
            raise ValueError(f"{what} works on 1-D grids (one weight axis); this grid has "
                             f"{self.dims} weight axes")

    @property
    def times(self) -> np.ndarray:
        """Time levels ``0, dt, ..., 1``, shape ``(n_steps + 1,)``."""
        return np.linspace(0.0, 1.0, self.n_steps + 1)

    def regime_index(self, regime) -> int:
        """Index of a regime given by label or integer position."""
        if isinstance(regime, (int, np.integer)) and not isinstance(regime, bool):
            if not 0 <= regime < self.n_regimes:
                raise ValueError(
                    f"`regime` index {regime} out of range for {self.n_regimes} regime(s)"
                )
            return int(regime)
        label = str(regime)
        if label not in self.regimes:
            raise ValueError(f"`regime` {regime!r} is not one of {self.regimes}")
        return self.regimes.index(label)

    # -- allocations -------------------------------------------------------------------
    def zeros(self) -> np.ndarray:
        return np.zeros(self.shape)

    def _point(self, value, name: str) -> tuple[float, ...]:
        """A weight (1-D) or a pair of weights (2-D), each in [0, 1]."""
        values = (value,) if self.dims == 1 else tuple(np.ravel(np.asarray(value, dtype=float)))
        if len(values) != self.dims:
            raise ValueError(f"`{name}` must hold {self.dims} weights, got {value!r}")
        out = tuple(real_scalar(v, name) for v in values)
        if not all(0.0 <= v <= 1.0 for v in out):
            raise ValueError(f"`{name}` must lie in [0, 1], got {value}")
        return out

    def dirac(self, weight, regime=0, mass: float = 1.0) -> np.ndarray:
        """All ``mass`` in the cell containing ``weight`` (a pair in 2-D) of ``regime``.

        >>> Grid(4, 1).dirac(0.3)
        array([[0., 1., 0., 0.]])
        """
        point = self._point(weight, "weight")
        mass = nonnegative_scalar(mass, "mass")
        out = self.zeros()
        cell = tuple(min(int(w * self.n_weights), self.n_weights - 1) for w in point)
        k = self.regime_index(regime)
        if mass and not self.mask[(k, *cell)]:
            raise ValueError(f"`weight` {weight} falls in cell {cell}, outside grid.mask")
        out[(k, *cell)] = mass
        return out

    def bump(self, center, width: float, regime=0, mass: float = 1.0) -> np.ndarray:
        """Discretised Gaussian of standard deviation ``width`` with total ``mass``.

        Cell masses are the Gaussian's integrals over each cell (a product over the axes
        in 2-D, ``center`` a pair), kept on the active cells of ``regime`` and
        renormalised, so narrow bumps stay exact in mass.

        >>> b = Grid(64, 1).bump(0.5, 0.05, mass=2.0)
        >>> round(float(b.sum()), 12)
        2.0
        """
        from scipy.special import erf

        point = self._point(center, "center")
        width = real_scalar(width, "width")
        if width <= 0:
            raise ValueError(f"`width` must be > 0, got {width}")
        mass = nonnegative_scalar(mass, "mass")
        edges = np.arange(self.n_weights + 1) * self.dx
        cell = np.ones(())
        for c in point:
            cdf = 0.5 * (1.0 + erf((edges - c) / (np.sqrt(2.0) * width)))
            cell = np.multiply.outer(cell, np.diff(cdf))
        k = self.regime_index(regime)
        cell = np.where(self.mask[k], cell, 0.0)
        total = cell.sum()
        if total <= 0:
            raise ValueError(f"`width`={width} and `center`={center} put no mass on the "
                             "grid's active cells")
        out = self.zeros()
        out[k] = mass * cell / total
        return out

    @property
    def n_inactive(self) -> int:
        """Number of cells outside the mask."""
        return int(self.mask.size - np.count_nonzero(self.mask))

    def __repr__(self) -> str:
        limits = f", inactive_cells={self.n_inactive}" if self.n_inactive else ""
        dims = f", dims={self.dims}, assets={self.assets!r}" if self.dims != 1 else ""
        return (
            f"Grid(n_weights={self.n_weights}, n_steps={self.n_steps}, "
            f"regimes={self.regimes!r}{dims}{limits})"
        )

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, Grid)
            and (self.n_weights, self.n_steps, self.regimes, self.dims)
            == (other.n_weights, other.n_steps, other.regimes, other.dims)
            and bool(np.array_equal(self.mask, other.mask))
        )

    __hash__ = None


def _check_assets(assets, dims: int) -> tuple[str, ...] | None:
    if assets is None:
        return None
    if isinstance(assets, str) or not isinstance(assets, Sequence):
        raise TypeError(f"`assets` must be a sequence of labels, got {type(assets).__name__}")
    labels = tuple(str(a) for a in assets)
    if len(labels) != dims + 1 or len(set(labels)) != len(labels):
        raise ValueError(f"`assets` must be {dims + 1} distinct labels (one per weight axis "
                         f"and the remainder asset), got {labels}")
    return labels


def _check_mask(mask, shape: tuple[int, ...]) -> np.ndarray:
    """The mask as a read-only bool array of ``shape`` (all True when None)."""
    if mask is None:
        out = np.ones(shape, dtype=bool)
    else:
        arr = np.asarray(mask)
        if arr.dtype != bool:
            raise TypeError(f"`mask` must be an array of bools, got dtype {arr.dtype}")
        if arr.ndim == len(shape) - 1 and shape[0] == 1:
            arr = arr[None]
        if arr.shape != shape:
            raise ValueError(f"`mask` must have shape {shape} like the grid, got {arr.shape}")
        out = arr.copy()
    out.setflags(write=False)
    return out


def as_allocation(value, grid: Grid, name: str) -> np.ndarray:
    """Validate an allocation and return it as a float array of shape ``grid.shape``.

    Accepts an array of cell masses of shape ``grid.shape`` (a 1-D array of length
    ``n_weights`` when the grid has one regime), or a pandas DataFrame indexed by weight
    (cell centres, in order) with one column per regime label.  Mass on a cell outside
    ``grid.mask`` is a ValueError naming the number of such cells.
    """
    if isinstance(value, pd.DataFrame):
        value = _frame_to_array(value, grid, name)
    elif isinstance(value, pd.Series):
        value = value.to_numpy()
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(
            f"`{name}` must be an array of cell masses, got {type(value).__name__}"
        ) from None
    if arr.ndim == grid.dims and grid.n_regimes == 1:
        arr = arr[None]
    if arr.shape != grid.shape:
        raise ValueError(
            f"`{name}` must have shape {grid.shape} like the grid, got {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"`{name}` has {bad} non-finite (NaN or inf) value(s)")
    if np.any(arr < 0):
        raise ValueError(
            f"`{name}` has {int(np.count_nonzero(arr < 0))} negative mass(es); "
            f"minimum {arr.min():.3g}"
        )
    outside = int(np.count_nonzero(arr[~grid.mask]))
    if outside:
        raise ValueError(f"`{name}` has mass on {outside} inactive cell(s) (outside "
                         f"grid.mask, {grid.n_inactive} inactive in all)")
    with np.errstate(over="ignore"):
        total = arr.sum()
    if not np.isfinite(total) or total > 1e150:
        raise ValueError(f"`{name}` total mass {total:.3g} is too large to solve with "
                         "(rescale it; the distance is 1-homogeneous in the masses)")
    return np.array(arr, dtype=float, copy=True)


def _frame_to_array(frame: pd.DataFrame, grid: Grid, name: str) -> np.ndarray:
    grid.require_1d(f"`{name}` as a DataFrame")
    columns = [str(c) for c in frame.columns]
    if sorted(columns) != sorted(grid.regimes):
        raise ValueError(
            f"`{name}` columns {columns} must be the grid's regimes {list(grid.regimes)}"
        )
    if len(frame.index) != grid.n_weights:
        raise ValueError(
            f"`{name}` must have {grid.n_weights} rows (one per weight cell), "
            f"got {len(frame.index)}"
        )
    try:
        index = np.asarray(frame.index, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be indexed by weight (numbers)") from None
    if not np.allclose(index, grid.weights, atol=0.5 * grid.dx):
        raise ValueError(f"`{name}` index must be the grid's cell centres grid.weights")
    frame = frame.copy()
    frame.columns = columns
    try:
        values = frame[list(grid.regimes)].to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must hold numeric masses") from None
    return values.T
