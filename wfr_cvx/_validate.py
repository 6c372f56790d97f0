"""Scalar argument checks shared by every public entry point.

Each raises ``TypeError`` for something that is not a real number (``bool`` and strings
included) and ``ValueError`` for a number out of range, naming the argument.
"""

from __future__ import annotations

import math

__all__ = ["MAX_LAM", "check_lam", "nonnegative_scalar", "positive_scalar", "real_scalar"]

#: lam^2 is a solver coefficient; far beyond the axis length (1) only W2 remains.
MAX_LAM = 1e8


def _as_float(value, name: str) -> float:
    if isinstance(value, (bool, str, bytes)):
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


def check_lam(lam) -> float:
    """The crossover scale: finite, > 0 and at most :data:`MAX_LAM`."""
    value = positive_scalar(lam, "lam")
    if value > MAX_LAM:
        raise ValueError(f"`lam` must be <= {MAX_LAM:g} (lam^2 enters the solver's data; "
                         f"beyond the weight axis' length d^2 is W2^2 anyway), got {lam}")
    return value
