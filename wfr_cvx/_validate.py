"""Scalar argument checks shared by every public entry point.

Each raises ``TypeError`` for something that is not a real number (``bool``, numpy's
``bool_`` and strings included) and ``ValueError`` for a number out of range, naming the argument.
:func:`real_array` reads arrays by the same rule.
"""

from __future__ import annotations

import math
import numbers
from decimal import Decimal

import numpy as np

from ._warnings import warn
from .errors import UnitsWarning

__all__ = ["MAX_LAM", "LAM_UNITS_FACTOR", "as_array", "check_lam", "check_lam_units",
           "holds_bools", "nonnegative_scalar", "is_ensemble", "positive_scalar", "ragged_detail",
           "real_array", "real_scalar", "refuse_bools"]

#: lam^2 is a solver coefficient; far beyond the axis length (1) only W2 remains.
MAX_LAM = 1e8

#: ``lam`` beyond this many lengths of the allocation space looks like dollars, not weights.
LAM_UNITS_FACTOR = 1e3


#: What an array of objects may hold: the real numbers float() reads exactly as meant
#: (Decimal is not registered as a numbers.Real, but is one).
_REAL_TYPES = (numbers.Real, Decimal)


def _as_float(value, name: str) -> float:
    if isinstance(value, (bool, np.bool_, str, bytes)):
        raise TypeError(f"`{name}` must be a real number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a real number, got {value!r}") from None


def real_scalar(value, name: str) -> float:
    """A finite real number.

    >>> real_scalar(2, "x")
    2.0
    """
    x = _as_float(value, name)
    if not math.isfinite(x):
        raise ValueError(f"`{name}` must be finite, got {value!r}")
    return x


def positive_scalar(value, name: str) -> float:
    """A finite number > 0."""
    x = _as_float(value, name)
    if not math.isfinite(x) or x <= 0:
        raise ValueError(f"`{name}` must be finite and > 0, got {value!r}")
    return x


def nonnegative_scalar(value, name: str) -> float:
    """A finite number >= 0."""
    x = _as_float(value, name)
    if not math.isfinite(x) or x < 0:
        raise ValueError(f"`{name}` must be finite and >= 0, got {value!r}")
    return x


def holds_bools(value) -> bool:
    """Whether ``value`` is a bool or an array (numpy, pandas -- nullable ``boolean``
    included --, xarray, nested lists) of bools: a mask or a comparison's result, never a
    number however numpy would cast it.

    >>> holds_bools([True, False]), holds_bools([1.0, 0.0])
    (True, False)
    """
    if isinstance(value, (bool, np.bool_)):
        return True
    if hasattr(value, "dtypes") and not hasattr(value, "dtype"):  # a DataFrame
        return any(getattr(dtype, "kind", "") == "b" for dtype in value.dtypes)
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        try:
            dtype = np.asarray(value).dtype
        except (TypeError, ValueError):
            return False  # not an array at all: the conversion to numbers says so
    return getattr(dtype, "kind", "") == "b"


def refuse_bools(value, name: str, what: str = "numbers") -> None:
    """TypeError naming ``name`` when ``value`` holds bools (:func:`holds_bools`) where
    ``what`` are expected."""
    if holds_bools(value):
        raise TypeError(f"`{name}` holds booleans (a mask?); pass {what} as numbers")


def _shape_text(shape: tuple) -> str:
    return "a number" if shape == () else f"of shape {shape}"


def ragged_detail(value) -> str:
    """Why numpy cannot make an array of the nested sequence ``value``: the first element
    whose shape differs from the first element's (looked for inside a ragged element).

    >>> ragged_detail([[0.5, 0.5], [1.0]])
    'element 1 is of shape (1,) but element 0 of shape (2,)'
    >>> ragged_detail([1.0, [2.0, 3.0]])
    'element 1 is of shape (2,) but element 0 a number'
    """
    try:
        items = list(value)
    except TypeError:
        return f"a {type(value).__name__} is not an array"
    first = None
    for index, item in enumerate(items):
        try:
            shape = np.shape(item)
        except ValueError:
            return f"element {index} is ragged: {ragged_detail(item)}"
        if first is None:
            first = shape
        elif shape != first:
            return f"element {index} is {_shape_text(shape)} but element 0 {_shape_text(first)}"
    return "its elements have different shapes"


def as_array(value, name: str, where: str = "") -> np.ndarray:
    """``np.asarray(value)``; a ragged nesting (rows of different lengths, a list among
    numbers) is a ValueError naming ``name`` (shown as ```name`` `` followed by ``where``)
    and the element out of shape, where numpy's own message names neither.

    >>> as_array([[0.5, 0.5], [1.0]], "weights")
    Traceback (most recent call last):
    ...
    ValueError: `weights` is ragged (element 1 is of shape (1,) but element 0 of shape (2,)): \
it must be a rectangular array of numbers, every row as long as the others
    """
    try:
        return np.asarray(value)
    except ValueError:
        raise ValueError(f"`{name}`{where} is ragged ({ragged_detail(value)}): it must be a "
                         "rectangular array of numbers, every row as long as the others"
                         ) from None


def real_array(value, name: str, what: str = "numbers") -> np.ndarray:
    """``value`` as a float array, which must hold real numbers (``what`` names them in
    the messages): bools (a mask passed for numbers), complex numbers -- numpy would drop
    the imaginary part --, strings -- numpy would parse them -- and other objects are a
    TypeError naming ``name``.  An array of objects (Fractions, Decimals, Python numbers)
    is read element by element by the same rule.  The values themselves (NaN, sign) are
    not checked.

    >>> real_array([1, 2.5], "x")
    array([1. , 2.5])
    >>> from fractions import Fraction
    >>> real_array([Fraction(1, 2), Decimal("4")], "x")
    array([0.5, 4. ])
    """
    refuse_bools(value, name, what)
    try:
        arr = np.asarray(value)
    except ValueError:  # ragged nesting
        raise TypeError(f"`{name}` must be an array of {what}, got a ragged "
                        f"{type(value).__name__} ({ragged_detail(value)})") from None
    except TypeError:
        raise TypeError(f"`{name}` must be an array of {what}, got {type(value).__name__}"
                        ) from None
    if arr.dtype == object:
        # Fractions, Decimals, Python numbers of an object array or frame: read as the
        # scalar checks read them, one by one
        for index, item in np.ndenumerate(arr):
            if isinstance(item, (bool, np.bool_)) or not isinstance(item, _REAL_TYPES):
                at = f" at index {index[0] if len(index) == 1 else list(index)}" if (
                    index) else ""
                raise TypeError(f"`{name}` must hold real numbers ({what}), got "
                                f"{item!r} ({type(item).__name__}){at}")
        return arr.astype(float)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"`{name}` must hold real numbers ({what}), got an array of dtype "
                        f"{arr.dtype}")
    return np.array(arr, dtype=float)


def check_lam(lam) -> float:
    """The crossover scale: finite, > 0 and at most :data:`MAX_LAM`."""
    value = positive_scalar(lam, "lam")
    if value > MAX_LAM:
        raise ValueError(f"`lam` must be <= {MAX_LAM:g} (lam^2 enters the solver's data; "
                         f"beyond the weight axis' length d^2 is W2^2 anyway), got {lam}")
    return value


def check_lam_units(lam: float, length: float, what: str = "the weight axis",
                    reach: float = 1.0) -> None:
    """Warn (:class:`~wfr_cvx.errors.UnitsWarning`) when ``lam`` exceeds ``length`` -- the
    metric size of the allocation space ``what``, 1 for the weight axis under ``G = 1``
    -- by more than :data:`LAM_UNITS_FACTOR`: reaction is then priced far above transport
    (d^2 grows like lam^2 wherever a regime's mass changes).  The likely cause is a
    crossover scale in dollars passed where weight units are expected; when the metric is
    small (``reach``, the square root of G's largest eigenvalue, below 1) it may instead be
    a metric on a smaller scale than ``lam``, and the warning names both.  A space of
    length 0 (every atom at one point) has nothing to compare with."""
    if not (length > 0 and lam > LAM_UNITS_FACTOR * length):
        return
    size = "length" if reach == 1.0 else "metric length"
    head = f"`lam` = {lam:g} is {lam / length:.3g} times the {size} of {what}"
    convert = ("convert a dollar crossover scale with wfr_cvx.lam_to_weights(lam_dollars, "
               "portfolio_value)")
    if reach >= 1.0:
        text = (f"{head}: `lam` is in weight units (a fraction of the portfolio), not "
                f"dollars; {convert}")
    else:
        text = (f"{head}, large against the metric's length scale (the square root of G's "
                f"largest eigenvalue is {reach:.3g}): reaction is priced far above "
                "transport.  Either `lam` is a dollar figure (it is in weight units, a "
                f"fraction of the portfolio: {convert}), or `metric` is on a smaller scale "
                "than `lam` (sqrt(G) and `lam` are in the same units: G times c with `lam` "
                "times sqrt(c) is the same problem, d^2 times c)")
    warn(text, UnitsWarning, stacklevel=None)


def is_ensemble(value) -> bool:
    """Whether ``value`` is a :class:`wfr_cvx.ensemble.Ensemble`, told by its type's name
    and module so that the grid's entry points need not import the ensemble engine."""
    return type(value).__name__ == "Ensemble" and type(value).__module__.startswith(
        "wfr_cvx.ensemble")


#: Total masses the solvers take: they scale masses to a mean cell (or atom) mass of 1,
#: which overflows below the smallest -- masses of 1e-310 gave d^2 = 0 at "Solved" -- and
#: leaves no room for squares above the largest.
MIN_TOTAL_MASS, MAX_TOTAL_MASS = 1e-300, 1e150


def check_total_mass(total: float, what: str) -> None:
    """ValueError when a positive ``total`` mass lies outside what the solvers take
    (:data:`MIN_TOTAL_MASS`, :data:`MAX_TOTAL_MASS`); ``what`` names it in the message."""
    if 0 < total < MIN_TOTAL_MASS or not math.isfinite(total) or total > MAX_TOTAL_MASS:
        size = "small" if 0 < total < MIN_TOTAL_MASS else "large"
        raise ValueError(f"{what} {total:.3g} is too {size} to solve with (rescale it; the "
                         "distance is 1-homogeneous in the masses)")
