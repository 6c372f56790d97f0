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

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ._labels import data_array_labelled, integer_regime, is_data_array
from ._validate import (
    check_total_mass,
    nonnegative_scalar,
    real_array,
    real_scalar,
    refuse_bools,
)

__all__ = ["Grid", "as_allocation", "axis_assets", "cell_values", "labelled_allocation",
           "labelled_faces", "regime_masses", "regime_values"]


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
        refused.  An array is read by position; pandas (or a labelled xarray DataArray)
        by label, as an allocation is (:func:`as_allocation`: a DataFrame indexed by cell
        centre with one column per regime, or a Series with a (regime, cell centre)
        MultiIndex), every cell of every regime listed once, with bool values.
        Read-only attribute ``grid.mask``.
    dims : {1, 2}
        Number of weight axes; ``2`` makes ``n_weights x n_weights`` cells over
        ``[0, 1]^2`` (see :meth:`simplex` for the three-asset simplex).
    assets : sequence of str, optional
        Labels of the assets the weight axes stand for (``dims + 1`` of them: the last
        asset's weight is ``1 - sum``).  On a 2-D grid they name the weight axes in tables,
        datasets and plots (``w_IBM``, ``A``, ``B`` when not given) and in labelled input:
        the named levels of a (w_A, w_B) index of cell centres and a DataFrame ``metric``
        are read by these names (``"IBM"`` or ``"w_IBM"``), never by position
        (:func:`labelled_allocation`, :mod:`wfr_cvx.metric`).  On a 1-D grid the weight
        axis is the first asset's: the plots label it ``weight of IBM`` and ``to_xarray``
        has the labels as its coordinate ``asset``, while tables and datasets keep the
        column and dimension ``weight`` (saved files and code rely on it).  Shown in
        ``repr`` when given; grids with other assets compare unequal.

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
        counted = isinstance(regimes, (int, np.integer)) and not isinstance(regimes, bool)
        if counted:
            n_regimes = _positive_int(regimes, "regimes", 1)
        elif isinstance(regimes, str) or not isinstance(regimes, Sequence):
            raise TypeError(
                "`regimes` must be an int or a sequence of labels, "
                f"got {type(regimes).__name__}"
            )
        else:
            n_regimes = len(regimes)
        # before the labels are built: a count of 1e9 regimes would build 1e9 strings
        _check_grid_size(n_regimes, self.n_weights, self.dims, self.n_steps)
        if counted:
            labels = tuple(str(k) for k in range(n_regimes))
        else:
            labels = tuple(str(k) for k in regimes)
            if not labels:
                raise ValueError("`regimes` must name at least one regime")
            if len(set(labels)) != len(labels):
                raise ValueError(f"`regimes` labels must be unique, got {labels}")
        self.regimes = labels
        # labelled masks are read against the grid's regimes and cell centres, already set
        self.mask = _check_mask(mask, self, np.ones(self.shape, dtype=bool))

    @classmethod
    def simplex(cls, n: int, n_steps: int, assets: Sequence[str] = ("A", "B", "C"),
                regimes: int | Sequence[str] = 1, mask=None) -> Grid:
        """Three-asset simplex: ``n x n`` cells over ``(w_A, w_B)``, ``w_C = 1 - w_A - w_B``.

        A cell is active when its centre lies in the simplex, ``w_A + w_B <= 1`` (its
        ``n (n + 1) / 2`` cells); faces between an active and an inactive cell carry no
        flux, so no mass crosses the simplex edges.  ``mask`` (shape ``(n_regimes, n,
        n)`` or ``(n, n)``) adds position limits, per regime, on top of the simplex; a
        labelled one (pandas or xarray, bools) is read by label as an allocation is, its
        cells outside the simplex free to be left out.

        >>> g = Grid.simplex(4, 2, regimes=("on", "off"))
        >>> g.shape, g.coords.shape, int(g.mask[0].sum())
        ((2, 4, 4), (4, 4, 2), 10)
        >>> g.assets
        ('A', 'B', 'C')
        """
        n = _positive_int(n, "n", 2)
        assets = _check_assets(assets, 2)
        # the probe checks the grid's size before anything of n x n cells is allocated
        probe = cls(n, n_steps, regimes, dims=2, assets=assets)
        # centres (i + 1/2) / n and (j + 1/2) / n sum to at most 1 exactly when i + j <= n - 1:
        # compared in integers, with no n x n array of sums
        cells = np.arange(n)
        inside = cells[:, None] <= (n - 1 - cells)[None, :]
        limits = np.broadcast_to(inside, probe.shape)
        if mask is not None:
            if _is_labelled(mask):
                # cells outside the simplex are inactive whatever the mask says: they may
                # be left out
                extra = _check_mask(mask, probe, limits)
            else:
                extra = np.asarray(mask)
                if extra.dtype != bool:
                    raise TypeError(f"`mask` must be an array of bools, got dtype "
                                    f"{extra.dtype}")
                if extra.shape == (n, n):
                    extra = np.broadcast_to(extra, probe.shape)
                if extra.shape != probe.shape:
                    raise ValueError(f"`mask` must have shape {probe.shape} or {(n, n)}, got "
                                     f"{extra.shape}")
            limits = limits & extra
        return cls(n, n_steps, regimes, mask=limits, dims=2, assets=assets)

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
        """Time levels ``k / n_steps``, ``0, dt, ..., 1``, shape ``(n_steps + 1,)``: each
        the float nearest ``k / n_steps`` (``linspace``'s ``0.30000000000000004`` at ten
        steps missed a look-up by ``0.3``)."""
        return np.arange(self.n_steps + 1) / self.n_steps

    def regime_index(self, regime) -> int:
        """Index of a regime given by label or integer position.

        An integer is a label when the grid has a regime of that name (``Grid(...,
        regimes=(2008, 2020))``: ``2020`` is the second regime, as a column labelled 2020
        of pandas input is), else a position.  An integer that is a label of one regime
        and the position of another is ambiguous: a ValueError asking for the label as a
        string.

        >>> g = Grid(4, 1, regimes=("calm", "stress"))
        >>> g.regime_index("stress"), g.regime_index(1)
        (1, 1)
        >>> Grid(4, 1, regimes=(2008, 2020)).regime_index(2020)
        1
        """
        if isinstance(regime, (int, np.integer)) and not isinstance(regime, bool):
            return integer_regime(int(regime), self.regimes)
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

        Cell ``i`` holds the weights in ``[i dx, (i + 1) dx)``: a weight on a face between
        two cells goes to the upper one (1.0 to the last cell).

        >>> Grid(4, 1).dirac(0.3)
        array([[0., 1., 0., 0.]])
        >>> int(Grid(100, 1).dirac(0.57).argmax()), int(Grid(4, 1).dirac(0.25).argmax())
        (57, 1)
        """
        point = self._point(weight, "weight")
        mass = nonnegative_scalar(mass, "mass")
        k = self.regime_index(regime)
        cell = self._active_cell(point, k, "weight", weight)
        out = self.zeros()
        out[(k, *cell)] = mass
        return out

    def _active_cell(self, point, k: int, name: str, given) -> tuple[int, ...]:
        """The cell holding ``point`` in regime ``k``; ValueError when it is inactive."""
        # cells are [i dx, (i + 1) dx): a weight on a face goes to the upper cell, also
        # when w * n rounds just below the integer (0.57 * 100 = 56.99999999999999) --
        # unless that cell is inactive and the one below it is not (a point on the
        # simplex's edge, w_A + w_B = 1, lies on the faces of its last active cell)
        cell = tuple(min(int(np.floor(w * self.n_weights + FACE_TOLERANCE)),
                         self.n_weights - 1) for w in point)
        if not self.mask[(k, *cell)]:
            n = self.n_weights
            faces = [a for a, (w, c) in enumerate(zip(point, cell, strict=True))
                     if c > 0 and abs(w * n - round(w * n)) <= FACE_TOLERANCE]
            # the cells below across those faces: one axis lowered, then both
            lower = [tuple(c - (a in axes) for a, c in enumerate(cell))
                     for r in range(1, len(faces) + 1)
                     for axes in itertools.combinations(faces, r)]
            cell = next((c for c in lower if self.mask[(k, *c)]), cell)
        if not self.mask[(k, *cell)]:
            where = "outside the simplex (w_A + w_B > 1)" if self.dims == 2 and sum(
                (i + 0.5) * self.dx for i in cell) > 1.0 + 1e-12 else "outside grid.mask"
            raise ValueError(f"`{name}` {given} falls in cell {cell} of regime "
                             f"{self.regimes[k]!r}, {where}")
        return cell

    def bump(self, center, width: float, regime=0, mass: float = 1.0) -> np.ndarray:
        """Discretised Gaussian of standard deviation ``width`` with total ``mass``.

        Cell masses are the Gaussian's integrals over each cell (a product over the axes
        in 2-D, ``center`` a pair), kept on the active cells of ``regime`` and
        renormalised, so narrow bumps stay exact in mass.  ``center`` must lie in an
        active cell (as for :meth:`dirac`).  Truncation moves the mean: a bump closer
        than about ``2 * width`` to an end of the axis (or a simplex edge) has its mean
        weight shifted inwards (``Grid(128, 1).bump(0.05, 0.07)`` has mean 0.078), so read
        the mean off the allocation, not off ``center``.

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
        k = self.regime_index(regime)
        self._active_cell(point, k, "center", center)
        edges = np.arange(self.n_weights + 1) * self.dx
        cell = np.ones(())
        for c in point:
            cdf = 0.5 * (1.0 + erf((edges - c) / (np.sqrt(2.0) * width)))
            cell = np.multiply.outer(cell, np.diff(cdf))
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
        dims = f", dims={self.dims}" if self.dims != 1 else ""
        # the assets take part in ==: grids that differ by them must not print alike
        assets = f", assets={self.assets!r}" if self.assets is not None else ""
        return (
            f"Grid(n_weights={self.n_weights}, n_steps={self.n_steps}, "
            f"regimes={self.regimes!r}{dims}{assets}{limits})"
        )

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, Grid)
            and (self.n_weights, self.n_steps, self.regimes, self.dims, self.assets)
            == (other.n_weights, other.n_steps, other.regimes, other.dims, other.assets)
            and bool(np.array_equal(self.mask, other.mask))
        )

    __hash__ = None


#: Bytes per cell and step of the leanest solve (the first-order backend's, measured; see
#: :data:`wfr_cvx.backends.REGISTRY`), for the message of an absurd grid.
_LEANEST_SOLVE_BYTES = 6_000


def _check_grid_size(n_regimes: int, n_weights: int, dims: int, n_steps: int) -> None:
    """Refuse a grid whose path alone -- ``n_steps + 1`` levels of cell masses, the least
    any computation on it allocates -- exceeds the memory this process may use; from the
    sizes alone, before anything of the grid is built."""
    from ._memory import memory_budget
    from .errors import ProblemTooLargeError

    per_regime = n_weights**dims
    cells = n_regimes * per_regime
    path = (n_steps + 1) * cells * 8
    budget = memory_budget()
    if path > budget.bytes:
        raise ProblemTooLargeError(
            f"Grid of {n_regimes:,} regime(s) x {per_regime:,} weight cells x "
            f"{n_steps:,} steps is too large: one path alone ({n_steps + 1:,} levels "
            f"of cell masses) needs {path / 2**30:,.1f} GiB and a solve about "
            f"{cells * n_steps * _LEANEST_SOLVE_BYTES / 2**30:,.0f} GiB or more; "
            f"{budget.describe()}", needed_bytes=path, available_bytes=budget.bytes)


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


def _check_mask(mask, grid: Grid, required: np.ndarray) -> np.ndarray:
    """The mask as a read-only bool array of ``grid.shape`` (all True when None).

    An array is read by position.  Pandas input and a labelled xarray DataArray are read
    by label against ``grid.regimes`` and the cell centres, as :func:`labelled_allocation`
    reads an allocation; ``required`` marks the cells that must be listed (the others
    are False when left out).  ``grid.mask`` is not used (it is being built).
    """
    shape = grid.shape
    if mask is None:
        out = np.ones(shape, dtype=bool)
    elif _is_labelled(mask):
        out = _labelled_mask(mask, grid, required)
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


def _is_labelled(value) -> bool:
    """Pandas input or an xarray DataArray: read by label where it has labels."""
    return isinstance(value, (pd.Series, pd.DataFrame)) or is_data_array(value)


def _labelled_mask(mask, grid: Grid, required: np.ndarray) -> np.ndarray:
    """A labelled mask (pandas, or an xarray DataArray) as a bool array of ``grid.shape``.

    Its values must be bools (no missing values); a DataArray without coordinates is
    read by position, as :func:`_check_mask` reads an array.
    """
    if is_data_array(mask):
        if mask.dtype != bool:
            raise TypeError(f"`mask` must hold bools (True where a cell is active), got "
                            f"dtype {mask.dtype}")
        mask = _data_array_values(mask, grid, "mask")
        if not isinstance(mask, pd.Series):
            return _check_mask(mask, grid, required)
    columns = [mask[c] for c in mask.columns] if isinstance(mask, pd.DataFrame) else [mask]
    for column in columns:
        # 0/1 or floats would be read as masses, and a NaN as a left-out cell: refuse them
        if not pd.api.types.is_bool_dtype(column.dtype):
            raise TypeError(f"`mask` must hold bools (True where a cell is active), got "
                            f"dtype {column.dtype}")
        if column.isna().any():
            raise ValueError("`mask` has missing values; give True or False for every cell")
    layout = _Layout(grid, required=required)
    return _labelled(mask, layout, "mask") > 0.5


def regime_masses(rho: np.ndarray) -> np.ndarray:
    """The total mass of each regime of an allocation of shape ``grid.shape``."""
    rho = np.asarray(rho)
    return rho.reshape(rho.shape[0], -1).sum(axis=1)


def cell_values(value, grid: Grid, name: str, what: str = "cell masses") -> np.ndarray:
    """One real number per cell, as a float array of shape ``grid.shape``, read as
    :func:`as_allocation` reads an allocation (by position, or by label for pandas and
    labelled xarray input) but with no check on the values themselves; ``what`` names them
    in the messages.  Bools (a mask passed for masses), complex numbers, strings and other
    objects are a TypeError (:func:`~wfr_cvx._validate.real_array`), labelled input
    included."""
    refuse_bools(value, name, what)  # before the labelled reading makes them 0.0 and 1.0
    if is_data_array(value):
        value = _data_array_values(value, grid, name)
    if isinstance(value, (pd.Series, pd.DataFrame)):
        value = labelled_allocation(value, grid, name)
    arr = real_array(value, name, what)
    if arr.ndim == grid.dims and grid.n_regimes == 1:
        arr = arr[None]
    if arr.shape != grid.shape:
        raise ValueError(
            f"`{name}` must have shape {grid.shape} like the grid, got {arr.shape}"
        )
    return arr


def as_allocation(value, grid: Grid, name: str) -> np.ndarray:
    """Validate an allocation and return it as a float array of shape ``grid.shape``.

    Accepts an array of cell masses of shape ``grid.shape`` (a 1-D array of length
    ``n_weights``, or ``(n, n)`` on a simplex grid, when the grid has one regime), read by
    position, or labelled pandas input, read **by label** (:func:`labelled_allocation`):
    a Series indexed by cell centre, a DataFrame indexed by cell centre with one column
    per regime, or a Series with a (regime, cell centre) MultiIndex (on a simplex grid a
    cell centre is two levels, read by their names, ``w_<asset>`` or the asset, when
    named).  An xarray DataArray whose dimensions all have coordinates (as
    :meth:`Geodesic.to_xarray` writes them: ``regime`` and ``weight``, or ``w_<asset>``
    on a simplex grid) is read by label too, through its pandas form, in any order of its
    dimensions; NaN entries count as left out (``to_xarray``'s cells outside the mask).
    One without coordinates is read by position, as an array; one with coordinates on
    some dimensions only is refused.  Mass on a cell outside
    ``grid.mask`` is a ValueError naming the number of such cells.
    """
    arr = cell_values(value, grid, name)
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
    check_total_mass(float(total), f"`{name}` total mass")
    return np.array(arr, dtype=float, copy=True)


def _data_array_values(value, grid: Grid, name: str):
    """A DataArray as :func:`as_allocation` reads it: its pandas Series (one level per
    dimension, named after it; NaN entries dropped) when every dimension has coordinates,
    its values by position when none has; a ValueError when only some have, or when it
    has more dimensions than an allocation (naming the extra ones)."""
    if not any(dim in value.coords for dim in value.dims):
        return value.values
    dims = [str(dim) for dim in value.dims]
    extra = _extra_levels(dims, grid)
    if extra:
        # read on, its pandas form would have the extra level taken for regimes or cells
        raise ValueError(
            f"`{name}` is an xarray DataArray with dimensions {dims}; an allocation has at "
            f"most {_allocation_levels(grid)}: {extra} {_are(extra)} extra.  Select one "
            f"value first, e.g. `{name}.sel({extra[0]}=...)` (a path of "
            f"Geodesic.to_xarray() has a time dimension)")
    data_array_labelled(value, f"`{name}`")  # refuses coordinates on some dimensions only
    series = value.to_series()
    return series[series.notna()]


def _allocation_levels(grid: Grid) -> list[str]:
    """The dimensions of an allocation by name: ``regime`` and the weight axes."""
    if grid.dims == 1:
        return ["regime", "weight"]
    return ["regime", *[f"w_{asset}" for asset in axis_assets(grid)]]


def _extra_levels(names: list, grid: Grid) -> list[str]:
    """The levels (or dimensions) beyond an allocation's when there are more than
    ``grid.dims + 1`` of them: those named after neither the regime nor a weight axis (all
    of them when none can be told apart); empty when there are not too many."""
    if len(names) <= grid.dims + 1:
        return []
    names = [str(level) for level in names]
    known = {"regime", "weight"} | {label for asset in axis_assets(grid)
                                    for label in (asset, f"w_{asset}")}
    extra = [level for level in names if level not in known]
    return extra or names


def _are(levels: list) -> str:
    return "is" if len(levels) == 1 else "are"


#: A position within this fraction of a cell below a face counts as on it (the upper
#: cell's) in :meth:`Grid.dirac` and :meth:`Grid.bump`: decimal weights such as 0.57 on
#: 100 cells land a rounding error below the face.
FACE_TOLERANCE = 1e-9

#: A label matches a cell centre (or a face position) when it lies within this fraction of
#: a cell width of it (labels rounded for printing or CSV still match; a label between
#: centres does not).
LABEL_TOLERANCE = 0.01


def axis_assets(grid: Grid) -> tuple[str, ...]:
    """The assets the weight axes of ``grid`` stand for, one per axis: the first ``dims``
    of ``grid.assets`` (``"A"``, ``"B"`` on a 2-D grid that names none, as in its tables).

    >>> axis_assets(Grid.simplex(4, 1, assets=("IBM", "WMT", "SEHI")))
    ('IBM', 'WMT')
    """
    return (grid.assets or ("A", "B", "C"))[:grid.dims]


def _on_simplex(grid: Grid) -> bool:
    """Whether ``grid`` has two weight axes and no active cell with its centre beyond the
    simplex (``w_A + w_B > 1``), as :meth:`Grid.simplex` builds it."""
    if grid.dims != 2:
        return False
    beyond = grid.coords.sum(axis=-1) > 1.0 + 1e-12  # the tolerance of Grid.simplex
    return not bool((grid.mask & beyond[None]).any())


def _domain_name(grid: Grid) -> str:
    """The allocation space of ``grid`` in words, for messages: the weight axis (1-D),
    the simplex (2-D, no active cell beyond it) or the square of weights.

    >>> _domain_name(Grid(4, 1)), _domain_name(Grid.simplex(4, 1))
    ('the weight axis', 'the simplex')
    >>> _domain_name(Grid(4, 1, dims=2))
    'the square of weights [0, 1]^2'
    """
    if grid.dims == 1:
        return "the weight axis"
    return "the simplex" if _on_simplex(grid) else "the square of weights [0, 1]^2"


def _axes_description(grid: Grid) -> str:
    assets = axis_assets(grid)
    return f"the weight axes' assets {list(assets)} (or {[f'w_{a}' for a in assets]})"


def _axis_lookup(grid: Grid, name: str):
    """``label -> axis``: the weight axis a label names, by an axis asset's name (``IBM``)
    or ``w_<asset>`` (``w_IBM``, the name of the axis in tables and files); None when it
    names none, a ValueError when it names two (assets such as ``("X", "w_X", ...)``)."""
    assets = axis_assets(grid)

    def lookup(label: str) -> int | None:
        hits = [axis for axis, asset in enumerate(assets) if label in (asset, f"w_{asset}")]
        if len(hits) > 1:
            raise ValueError(f"`{name}` label {label!r} is ambiguous: it names the weight "
                             f"axes of both {[assets[a] for a in hits]}")
        return hits[0] if hits else None

    return lookup


def _axis_hint(grid: Grid):
    """What to add to the message about a label that names no weight axis."""
    remainder = grid.assets[-1] if grid.assets is not None else None

    def hint(label: str) -> str:
        if grid.assets is None:
            return (" (this grid names no assets: its axes are A and B; build it with "
                    "assets=... to use your labels)")
        if label in (remainder, f"w_{remainder}"):
            return (f" ({remainder!r} is the remainder asset, weight 1 - the others, not a "
                    "weight axis)")
        return ""

    return hint


def _level_axes(index: pd.MultiIndex, grid: Grid, name: str) -> list[int]:
    """The weight axis of each level of a two-level index of cell centres on a 2-D grid.

    Levels named after the axes (an axis asset or ``w_<asset>``) are read by name, in any
    order; unnamed levels are read in the order of the axes (``w_A``, then ``w_B``).  A
    level named after no axis, one named level beside an unnamed one, or two levels
    naming the same axis are refused.
    """
    names = list(index.names)
    if all(level is None for level in names):
        return [0, 1]
    describe = _axes_description(grid)
    if any(level is None for level in names):
        raise ValueError(f"`{name}` index levels must all be named after {describe}, or "
                         f"none (then read in that order), got names {names}")
    lookup, hint = _axis_lookup(grid, name), _axis_hint(grid)
    axes = []
    for level in names:
        axis = lookup(str(level))
        if axis is None:
            raise ValueError(f"`{name}` index level {level!r} is not a weight axis of the "
                             f"grid: levels are read by name, after {describe}"
                             f"{hint(str(level))}")
        axes.append(axis)
    if axes[0] == axes[1]:
        raise ValueError(f"`{name}` index levels {names} both name the weight axis of "
                         f"{axis_assets(grid)[axes[0]]!r}")
    return axes


class _Layout:
    """Where labelled values live: the cell centres (allocations; a mask when ``required``
    is given) or, on a 1-D grid, the interior faces (a metric given per face).

    ``required`` marks the entries that must be listed (default: the active cells,
    ``grid.mask``, or every face); giving it reads flags of a mask, and keeps the layout
    off ``grid.mask`` while the grid is being built.
    """

    def __init__(self, grid: Grid, faces: bool = False, required: np.ndarray | None = None):
        self.grid, self.faces, self.dims, self.dx = grid, faces, grid.dims, grid.dx
        self.count = grid.n_weights - 1 if faces else grid.n_weights
        self.first = 1.0 if faces else 0.5  # position of index 0, in cells
        self.noun = "face" if faces else "cell"
        self.values = "values" if faces else "masses" if required is None else "flags"
        self.label = "face position" if faces else "cell centre"
        self.attribute = "grid.faces" if faces else "grid.weights"
        if required is not None:
            self.required = required
            self.missing = ("cell(s)", "list every cell, False where inactive")
        elif faces:
            self.required = np.ones(grid.face_shape, dtype=bool)
            self.missing = ("interior face(s)", "list every interior face")
        else:
            self.required = grid.mask
            self.missing = ("active cell(s)", "list every cell, 0 where empty")
        self.formula = (f"interior faces i * {grid.dx:g}, i = 1 .. {grid.n_weights - 1}"
                        if faces else f"centres (i + 1/2) * {grid.dx:g}")

    def position(self, index) -> float | tuple[float, ...]:
        positions = tuple(float((i + self.first) * self.dx) for i in index)
        return positions[0] if self.dims == 1 else positions


def labelled_allocation(value, grid: Grid, name: str) -> np.ndarray:
    """Cell masses of shape ``grid.shape`` from pandas input, aligned **by label**.

    Row labels are cell centres (``grid.weights``; on a simplex grid pairs ``(w_A, w_B)``
    as a two-level MultiIndex), matched within :data:`LABEL_TOLERANCE` of a cell width;
    regimes are labels of ``grid.regimes`` (DataFrame columns, or a MultiIndex level named
    ``"regime"`` or holding the regime labels).  Order does not matter.  Every active cell
    of every regime must appear exactly once; cells outside ``grid.mask`` may be left out.
    A label that matches no cell, a duplicate, a missing active cell or an unknown regime
    is a ValueError naming ``name`` and the first such label.

    The two levels of cell centres on a simplex grid are read by their names when they
    have names: each must name a weight axis, by its asset (``"IBM"``) or as ``w_<asset>``
    (``"w_IBM"``, the column names of :meth:`Geodesic.to_frame` and of problem-file CSVs),
    after :func:`axis_assets` (``A``, ``B`` for a grid without assets), in any order.  A
    level named after anything else (the remainder asset included), or named beside an
    unnamed one, is a ValueError naming the level.  Unnamed levels are read in the order
    of the axes: first ``w_A``, then ``w_B``.

    >>> g = Grid(4, 1, regimes=("on", "off"))
    >>> s = pd.Series([1.0, 2.0], index=pd.MultiIndex.from_tuples(
    ...     [("off", 0.375), ("on", 0.875)], names=["regime", "weight"]))
    >>> labelled_allocation(s.reindex(pd.MultiIndex.from_product(
    ...     [["on", "off"], g.weights], names=["regime", "weight"]), fill_value=0.0), g, "rho")
    array([[0., 0., 0., 2.],
           [0., 1., 0., 0.]])
    """
    return _labelled(value, _Layout(grid), name)


def regime_values(value, grid: Grid, name: str, what: str = "cell values") -> np.ndarray:
    """One regime's values per cell as a float array, read as :func:`cell_values` reads
    a whole grid's: by position, or by label for a pandas Series (or an xarray DataArray
    with coordinates) indexed by cell centre -- on a simplex grid two levels ``(w_A,
    w_B)``, read by name as in :func:`labelled_allocation` -- which lists every cell
    active in some regime exactly once (returned with shape ``grid.shape[1:]``; an array
    keeps its shape, for the caller to check).  A DataFrame, or a Series with a regime
    level, is a ValueError naming ``name``: it holds more than one regime; bools, complex
    numbers, strings and other objects are a TypeError.

    >>> g = Grid(4, 1)
    >>> regime_values(pd.Series([4.0, 3.0, 2.0, 1.0], index=g.weights[::-1]), g, "V")
    array([1., 2., 3., 4.])
    """
    refuse_bools(value, name, what)  # before the labelled reading makes them 0.0 and 1.0
    if is_data_array(value):
        value = _data_array_values(value, grid, name)
    if isinstance(value, pd.DataFrame) or (isinstance(value, pd.Series) and _regime_level(
            value.index, grid) is not None):
        kind = "DataFrame" if isinstance(value, pd.DataFrame) else "Series with a regime level"
        raise ValueError(f"`{name}` must hold one regime's values (a Series indexed by cell "
                         f"centre, or an array), got a {kind}")
    if isinstance(value, pd.Series):
        value = _labelled(value, _Layout(grid), name, broadcast=True)
    return real_array(value, name, what)


def labelled_faces(value, grid: Grid, name: str) -> np.ndarray:
    """Values per interior face of a 1-D grid from pandas input, aligned **by label**.

    The rule of :func:`labelled_allocation` with face positions (``grid.faces``) for cell
    centres, and every interior face of every regime listed exactly once: a Series
    indexed by face position (one value per face for every regime; returns shape
    ``(n_weights - 1,)``), a DataFrame indexed by face position with one column per
    regime, or a Series with a (regime, face position) MultiIndex (both return
    ``grid.face_shape``).

    >>> g = Grid(4, 1)
    >>> labelled_faces(pd.Series([3.0, 1.0, 2.0], index=[0.75, 0.25, 0.5]), g, "metric")
    array([1., 2., 3.])
    """
    grid.require_1d(f"`{name}` given per face")
    return _labelled(value, _Layout(grid, faces=True), name, broadcast=True)


def _labelled(value, layout: _Layout, name: str, broadcast: bool = False) -> np.ndarray:
    """Values placed by label; ``broadcast``: a Series without regimes is one per position,
    shared by every regime (shape of one regime, no leading axis)."""
    grid = layout.grid
    if isinstance(value, pd.DataFrame):
        columns = [str(c) for c in value.columns]
        unknown = [c for c in columns if c not in grid.regimes]
        if unknown:
            rows = [str(r) for r in value.index]
            # a frame laid out like the array, regimes down and cells across
            turned = (f"; its rows are regimes, so pass `{name}.T`" if rows
                      and all(r in grid.regimes for r in rows) else "")
            raise ValueError(f"`{name}` column {unknown[0]!r} is not a regime of the grid "
                             f"{list(grid.regimes)} (columns are regimes, rows "
                             f"{layout.label}s){turned}")
        if len(set(columns)) != len(columns):
            raise ValueError(f"`{name}` names a regime twice in its columns: {columns}")
        missing = [r for r in grid.regimes if r not in columns]
        if missing:
            raise ValueError(f"`{name}` has no column for regime {missing[0]!r} (columns "
                             f"must be the grid's regimes {list(grid.regimes)})")
        try:
            values = value.to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"`{name}` must hold numeric {layout.values}") from None
        cells = _cell_indices(value.index, layout, name)
        # row-major: row i, column j is entry i * n_columns + j
        regimes = np.array([grid.regimes.index(c) for c in columns], dtype=np.int64)
        k = np.tile(regimes, len(value.index))
        return _scatter(values.ravel(), k, np.repeat(cells, len(columns), axis=0), layout,
                        name)
    index = value.index
    try:
        values = value.to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must hold numeric {layout.values}") from None
    extra = _extra_levels(list(index.names), grid) if isinstance(index, pd.MultiIndex) else []
    if extra:
        # read on, the extra level would be taken for the regimes or the cells
        cells = f"{layout.label}s" if grid.dims == 2 else layout.label
        if all(level is None for level in index.names):
            # no names to tell the extra level by: count them, and select by position
            raise ValueError(
                f"`{name}` is a Series with {index.nlevels} unnamed index levels; it can "
                f"have at most {grid.dims + 1} (the regime and the {cells}).  Select one "
                f"value of the extra level first, e.g. `{name}.xs(..., level=0)` if it is "
                "the first")
        first = [str(level) for level in index.names].index(extra[0])
        # an unnamed level is selected by its position
        level = first if index.names[first] is None else repr(index.names[first])
        raise ValueError(
            f"`{name}` is a Series with index levels {[str(n) for n in index.names]}; it "
            f"can have at most the regime and the {cells}: {extra} {_are(extra)} extra.  "
            f"Select one value first, e.g. `{name}.xs(..., level={level})`")
    level = _regime_level(index, grid)
    if level is None:
        if broadcast:
            cells = _cell_indices(index, layout, name)
            return _scatter(values, np.zeros(values.size, dtype=np.int64), cells, layout,
                            name, shared=True)[0]
        if grid.n_regimes != 1:
            raise ValueError(
                f"`{name}` is a Series indexed by {layout.label} but the grid has "
                f"{grid.n_regimes} regimes: pass a DataFrame with one column per regime "
                f"{list(grid.regimes)} or a Series with a (regime, weight) MultiIndex")
        k = np.zeros(values.size, dtype=np.int64)
        cells = _cell_indices(index, layout, name)
    else:
        labels = [str(r) for r in index.get_level_values(level)]
        unknown = [r for r in labels if r not in grid.regimes]
        if unknown:
            raise ValueError(f"`{name}` regime label {unknown[0]!r} is not one of the "
                             f"grid's regimes {list(grid.regimes)}")
        k = np.array([grid.regimes.index(r) for r in labels], dtype=np.int64)
        cells = _cell_indices(index.droplevel(level), layout, name)
    return _scatter(values, k, cells, layout, name)


def _regime_level(index, grid: Grid):
    """The position of the regime level of a MultiIndex (None when there is none)."""
    if not isinstance(index, pd.MultiIndex) or index.nlevels != grid.dims + 1:
        return None
    names = list(index.names)
    if "regime" in names:
        return names.index("regime")
    for position in range(index.nlevels):
        values = index.get_level_values(position)
        if values.dtype == object or pd.api.types.is_string_dtype(values):
            return position
    return None


def _cell_indices(index, layout: _Layout, name: str) -> np.ndarray:
    """Position index per label (1-D: ``(m,)``; 2-D: ``(m, 2)``), refusing labels off-grid."""
    if layout.dims == 1:
        if isinstance(index, pd.MultiIndex):
            raise ValueError(f"`{name}` must be indexed by {layout.label} "
                             f"({layout.attribute}), got a {index.nlevels}-level MultiIndex "
                             f"{list(index.names)}")
        levels = [index]
    else:
        if not isinstance(index, pd.MultiIndex) or index.nlevels != 2:
            a, b = axis_assets(layout.grid)
            raise ValueError(f"`{name}` on a simplex grid must be indexed by cell centres "
                             f"(w_{a}, w_{b}): a two-level MultiIndex, got "
                             f"{type(index).__name__}")
        axes = _level_axes(index, layout.grid, name)
        levels = [index.get_level_values(axes.index(axis)) for axis in range(2)]
    columns = []
    for level in levels:
        try:
            labels = np.asarray(level, dtype=float)
        except (TypeError, ValueError):
            example = level[0].item() if isinstance(level[0], np.generic) else level[0]
            raise ValueError(f"`{name}` must be indexed by {layout.label}s (numbers), got "
                             f"labels such as {example!r}") from None
        cell = np.rint(labels / layout.dx - layout.first)
        off = ~np.isfinite(labels) | (cell < 0) | (cell >= layout.count)
        cell = np.where(off, 0, cell)
        off |= np.abs(labels - (cell + layout.first) * layout.dx) > LABEL_TOLERANCE * layout.dx
        if np.any(off):
            first = labels[int(np.argmax(off))]
            raise ValueError(f"`{name}` label {first:.10g} is not a {layout.label} of the "
                             f"grid ({layout.formula}, matched within {LABEL_TOLERANCE:g} "
                             f"of a cell)")
        columns.append(cell.astype(np.int64))
    return columns[0] if layout.dims == 1 else np.stack(columns, axis=1)


def _scatter(values: np.ndarray, regime: np.ndarray, cells: np.ndarray, layout: _Layout,
             name: str, shared: bool = False) -> np.ndarray:
    """Place labelled values; every required entry exactly once.  ``shared``: one set of
    values for every regime (shape ``(1, ...)``; required where any regime requires)."""
    grid, count = layout.grid, layout.count
    required = layout.required.any(axis=0, keepdims=True) if shared else layout.required
    shape = required.shape
    flat = regime * count**layout.dims + (cells if layout.dims == 1
                                          else cells[:, 0] * count + cells[:, 1])
    counts = np.bincount(flat, minlength=int(np.prod(shape)))

    def where(entry) -> str:
        at = f"{layout.label} {layout.position(entry[1:])}"
        return at if shared else f"regime {grid.regimes[entry[0]]!r}, {at}"

    if np.any(counts > 1):
        entry = np.unravel_index(int(np.argmax(counts > 1)), shape)
        raise ValueError(f"`{name}` lists a {layout.noun} twice: {where(entry)}")
    missing = (counts == 0) & required.ravel()
    if np.any(missing):
        entry = np.unravel_index(int(np.argmax(missing)), shape)
        what, advice = layout.missing
        raise ValueError(f"`{name}` has no entry for {int(missing.sum())} {what}, the first "
                         f"{where(entry)} ({advice})")
    out = np.zeros(int(np.prod(shape)))
    out[flat] = values
    return out.reshape(shape)
