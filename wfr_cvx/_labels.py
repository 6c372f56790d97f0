"""One rule for a matrix given as a labelled DataFrame: aligned by name, never by position.

Used by the grid's metric (the two weight axes of a simplex grid) and the ensemble's (the
assets): the labels of the index and of the columns (compared as strings) must each name
every axis exactly once, the index and the columns must carry the same labels, and the
matrix is reordered to the axes' order.  Anything else is a ValueError naming the argument
and the first label at fault.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

__all__ = ["align_square_frame"]


def align_square_frame(frame: pd.DataFrame, axes: Sequence[str],
                       lookup: Callable[[str], int | None], name: str,
                       describe: str | None = None,
                       hint: Callable[[str], str] | None = None) -> np.ndarray:
    """The values of ``frame`` with rows and columns in the order of ``axes``.

    ``lookup(label)`` is the position in ``axes`` a label names (None when it names none;
    it may raise a ValueError of its own, e.g. for an ambiguous label); ``name`` the
    argument as messages should name it (e.g. ``"`metric`"``); ``describe`` what the
    labels must be (default: ``"the assets [...]"``); ``hint(label)`` an addition to the
    message about a label that names no axis.  The values are returned as they are (the
    caller checks their dtype).

    >>> frame = pd.DataFrame([[2.0, 0.5], [0.5, 1.0]], index=["b", "a"], columns=["b", "a"])
    >>> align_square_frame(frame, ("a", "b"), {"a": 0, "b": 1}.get, "`metric`")
    array([[1. , 0.5],
           [0.5, 2. ]])
    """
    n = len(axes)
    describe = describe or f"the assets {list(axes)}"
    found = {}
    for axis, raw in (("index", frame.index), ("columns", frame.columns)):
        labels = [str(label) for label in raw]
        positions = []
        for label in labels:
            position = lookup(label)
            if position is None:
                extra = hint(label) if hint is not None else ""
                raise ValueError(f"{name} {axis} must be {describe} (aligned by name): label "
                                 f"{label!r} is not one of them{extra}")
            positions.append(position)
        if sorted(positions) != list(range(n)):
            raise ValueError(f"{name} {axis} must be {describe} (aligned by name), each "
                             f"exactly once, got {labels}")
        found[axis] = (labels, positions)
    (rows, row_pos), (cols, col_pos) = found["index"], found["columns"]
    if set(rows) != set(cols):
        raise ValueError(f"{name} index and columns must carry the same labels, got index "
                         f"{rows} and columns {cols}")
    values = frame.to_numpy()
    return values[np.ix_(np.argsort(row_pos), np.argsort(col_pos))]
