"""The discretisation grid: weight cells x regimes, and time steps.

A :class:`Grid` splits the weight axis ``[0, 1]`` into ``n_weights`` cells of width
``dx = 1 / n_weights`` with centres ``(i + 1/2) * dx`` and the time interval ``[0, 1]``
into ``n_steps`` steps of length ``dt = 1 / n_steps``.  An *allocation* is an array of
non-negative cell **masses** of shape ``grid.shape = (n_regimes, n_weights)``.

Staggered layout (Benamou & Brenier 2000; Papadakis, Peyré & Oudet 2014):

* masses ``rho`` live on cell centres at the ``n_steps + 1`` time levels;
* momenta live on the ``n_weights - 1`` interior faces of the weight axis, one per step
  (the two boundary faces carry no flux);
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
    mask : array of bool, shape ``(n_regimes, n_weights)``, optional
        Active cells (position limits, per regime); all active when None.  Inactive cells
        hold no mass and faces beside them carry no flux; allocations with mass there are
        refused.  Read-only attribute ``grid.mask``.

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
                 mask=None):
        self.n_weights = _positive_int(n_weights, "n_weights", 2)
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

    # -- sizes -------------------------------------------------------------------------
    @property
    def n_regimes(self) -> int:
        return len(self.regimes)

    @property
    def shape(self) -> tuple[int, int]:
        """Shape of one allocation: ``(n_regimes, n_weights)``."""
        return (self.n_regimes, self.n_weights)

    @property
    def face_shape(self) -> tuple[int, int]:
        """Shape of one step's momentum: ``(n_regimes, n_weights - 1)`` interior faces."""
        return (self.n_regimes, self.n_weights - 1)

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
        """Cell centres as points, shape ``(n_weights, 1)``."""
        return self.weights[:, None]

    @property
    def faces(self) -> np.ndarray:
        """Interior face positions ``i * dx``, ``i = 1 .. n_weights - 1``."""
        return np.arange(1, self.n_weights) * self.dx

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

    def dirac(self, weight: float, regime=0, mass: float = 1.0) -> np.ndarray:
        """All ``mass`` in the cell nearest to ``weight`` of ``regime``.

        >>> Grid(4, 1).dirac(0.3)
        array([[0., 1., 0., 0.]])
        """
        weight = real_scalar(weight, "weight")
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"`weight` must lie in [0, 1], got {weight}")
        mass = nonnegative_scalar(mass, "mass")
        out = self.zeros()
        cell = min(int(weight * self.n_weights), self.n_weights - 1)
        out[self.regime_index(regime), cell] = mass
        return out

    def bump(self, center: float, width: float, regime=0, mass: float = 1.0) -> np.ndarray:
        """Discretised Gaussian of standard deviation ``width`` with total ``mass``.

        Cell masses are the Gaussian's integrals over each cell (truncated to [0, 1] and
        renormalised), so narrow bumps stay exact in mass.

        >>> b = Grid(64, 1).bump(0.5, 0.05, mass=2.0)
        >>> round(float(b.sum()), 12)
        2.0
        """
        from scipy.special import erf

        center = real_scalar(center, "center")
        width = real_scalar(width, "width")
        if width <= 0:
            raise ValueError(f"`width` must be > 0, got {width}")
        mass = nonnegative_scalar(mass, "mass")
        edges = np.arange(self.n_weights + 1) * self.dx
        cdf = 0.5 * (1.0 + erf((edges - center) / (np.sqrt(2.0) * width)))
        cell = np.diff(cdf)
        total = cell.sum()
        if total <= 0:
            raise ValueError(f"`width`={width} and `center`={center} put no mass on [0, 1]")
        out = self.zeros()
        out[self.regime_index(regime)] = mass * cell / total
        return out

    @property
    def n_inactive(self) -> int:
        """Number of cells outside the mask."""
        return int(self.mask.size - np.count_nonzero(self.mask))

    def __repr__(self) -> str:
        limits = f", inactive_cells={self.n_inactive}" if self.n_inactive else ""
        return (
            f"Grid(n_weights={self.n_weights}, n_steps={self.n_steps}, "
            f"regimes={self.regimes!r}{limits})"
        )

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, Grid)
            and (self.n_weights, self.n_steps, self.regimes)
            == (other.n_weights, other.n_steps, other.regimes)
            and bool(np.array_equal(self.mask, other.mask))
        )

    __hash__ = None


def _check_mask(mask, shape: tuple[int, int]) -> np.ndarray:
    """The mask as a read-only bool array of ``shape`` (all True when None)."""
    if mask is None:
        out = np.ones(shape, dtype=bool)
    else:
        arr = np.asarray(mask)
        if arr.dtype != bool:
            raise TypeError(f"`mask` must be an array of bools, got dtype {arr.dtype}")
        if arr.ndim == 1 and shape[0] == 1:
            arr = arr[None, :]
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
    if arr.ndim == 1 and grid.n_regimes == 1:
        arr = arr[None, :]
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
