"""Solver options: one typed, range-checked record per setting a backend accepts.

Every backend lists its settings as :class:`Option` records; :func:`check_options`
validates a user's options against them before any work is done, so a bad value is a
``ValueError``/``TypeError`` naming the option (never an ``OverflowError`` from inside a
solver's wrapper, never silently accepted).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Option", "check_options", "flag", "integer", "real", "choice", "text",
           "int_list"]

#: Integer settings are passed to solvers as unsigned 32-bit integers (Clarabel's u32).
_INT_MAX = 2**31 - 1


@dataclass(frozen=True)
class Option:
    """One solver setting: its name, kind and admissible values.

    ``kind`` is ``"bool"``, ``"int"``, ``"real"``, ``"choice"``, ``"str"`` or
    ``"int_list"``; numbers lie in ``[low, high]`` (open ends with ``low_open`` /
    ``high_open``; ``None`` for no bound); ``"choice"`` takes one of ``choices``
    (``"bool_or_choice"`` a bool or one of them).  ``doc`` is a short description
    shown in error messages.
    """

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple = ()
    doc: str = ""
    allow_inf: bool = False

    def expected(self) -> str:
        """What the option takes, in words (for messages)."""
        if self.kind == "bool":
            return "a bool"
        if self.kind == "choice":
            return f"one of {list(self.choices)}"
        if self.kind == "bool_or_choice":
            return f"a bool or one of {list(self.choices)}"
        if self.kind == "str":
            return "a string"
        if self.kind == "int_list":
            return "a list of integers"
        noun = "an integer" if self.kind == "int" else (
            "a real number" if self.allow_inf or self.kind != "real" else "a finite number")
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '>='} {self.low:g}")
        if self.high is not None:
            parts.append(f"{'<' if self.high_open else '<='} {self.high:g}")
        elif self.kind == "int":  # the solvers' 32-bit integers
            parts.append(f"<= {_INT_MAX:,}")
        return noun + (" " + " and ".join(parts) if parts else "")

    def check(self, value, backend: str):
        """The validated value (ints as int, reals as float); raises naming the option."""
        def fail(kind=ValueError):
            raise kind(f"solver option `{self.name}` must be {self.expected()} for backend "
                       f"{backend!r}, got {value!r}")

        if self.kind == "bool":
            if not isinstance(value, (bool, np.bool_)):
                fail(TypeError)
            return bool(value)
        if self.kind in ("choice", "bool_or_choice"):
            if self.kind == "bool_or_choice" and isinstance(value, (bool, np.bool_)):
                return bool(value)
            if not isinstance(value, str):
                fail(TypeError)
            if value not in self.choices:
                fail()
            return value
        if self.kind == "str":
            if not isinstance(value, str):
                fail(TypeError)
            return value
        if self.kind == "int_list":
            if isinstance(value, (str, bytes)) or not all(
                    isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                    for v in np.ravel(np.asarray(value, dtype=object))):
                fail(TypeError)
            return [int(v) for v in np.ravel(np.asarray(value, dtype=object))]
        if self.kind == "int":
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                fail(TypeError)
            number = int(value)
            if abs(number) > _INT_MAX:
                fail()
        else:
            if isinstance(value, (bool, np.bool_, str, bytes)) or not isinstance(
                    value, (int, float, np.integer, np.floating)):
                fail(TypeError)
            number = float(value)
            if math.isnan(number):
                fail()
        if self.low is not None and (number < self.low or (self.low_open and number == self.low)):
            fail()
        if self.high is not None and (number > self.high
                                      or (self.high_open and number == self.high)):
            fail()
        if self.kind == "real" and math.isinf(number) and not self.allow_inf:
            fail()
        return number


def flag(name: str, doc: str = "") -> Option:
    return Option(name, "bool", doc=doc)


def integer(name: str, low: int = 0, high: int | None = None, doc: str = "") -> Option:
    return Option(name, "int", low=low, high=high, doc=doc)


def real(name: str, low: float | None = 0.0, high: float | None = None, *,
         low_open: bool = True, high_open: bool = False, allow_inf: bool = False,
         doc: str = "") -> Option:
    """A real setting, by default finite and ``> 0``."""
    return Option(name, "real", low=low, high=high, low_open=low_open, high_open=high_open,
                  doc=doc, allow_inf=allow_inf)


def choice(name: str, choices, doc: str = "", *, or_bool: bool = False) -> Option:
    return Option(name, "bool_or_choice" if or_bool else "choice", choices=tuple(choices),
                  doc=doc)


def text(name: str, doc: str = "") -> Option:
    return Option(name, "str", doc=doc)


def int_list(name: str, doc: str = "") -> Option:
    return Option(name, "int_list", doc=doc)


def check_options(options: dict, specs: dict[str, Option], backend: str,
                  solver: str) -> dict:
    """Validate ``options`` against ``specs`` (name -> :class:`Option`).

    Returns the options with normalised values.  An unknown name is a ValueError listing
    the settings ``solver`` (the solver behind ``backend``) takes; a bad value a
    ValueError or TypeError naming the option and what it takes.
    """
    unknown = sorted(set(options) - set(specs))
    if unknown:
        raise ValueError(f"unknown solver option(s) {unknown} for backend {backend!r}; "
                         f"{solver}'s settings are {sorted(specs)}")
    return {name: specs[name].check(value, backend) for name, value in options.items()}
