"""Labelled input, read by label and never by position.

:func:`align_square_frame` is the one rule for a matrix given as a labelled DataFrame,
used by the grid's metric (the two weight axes of a simplex grid), the ensemble's (the
assets) and the covariance of :func:`wfr_cvx.metric.trade_variance_metric`: the labels of
the index and of the columns (compared as strings) must each name every axis exactly
once, the index and the columns must carry the same labels, and the matrix is reordered
to the axes' order.
Anything else is a ValueError naming the argument and the first label at fault.

An xarray DataArray (xarray is an optional extra, recognised here without being imported)
is read as the pandas object it stands for (:func:`as_pandas`), so that it follows the
same rules: one with coordinates by label, one without by position, as an array.

A regime given as an integer is a label when a regime is named so, else a position
(:func:`integer_regime`, the rule of the grid and of the ensembles).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

__all__ = ["align_square_frame", "as_pandas", "is_data_array", "data_array_labelled",
           "integer_regime", "rows_by_position"]


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


def is_data_array(value) -> bool:
    """Whether ``value`` is an xarray DataArray (told by its module and methods: xarray,
    an optional extra, is not imported)."""
    return (type(value).__module__.split(".")[0] == "xarray"
            and hasattr(value, "to_series") and hasattr(value, "dims"))


def data_array_labelled(value, name: str) -> bool:
    """Whether a DataArray is read by label: True when every dimension has coordinates,
    False when none has (it is then read by position, as an array).  Coordinates on some
    dimensions only are a ValueError naming ``name`` (as messages show it, e.g.
    ``"`rho0`"``) and the dimensions without: read by position, the unlabelled axis could
    stand where a labelled one is expected."""
    labelled = [dim in value.coords for dim in value.dims]
    if all(labelled):
        return bool(labelled)
    if not any(labelled):
        return False
    missing = [str(dim) for dim, has in zip(value.dims, labelled, strict=True) if not has]
    raise ValueError(f"{name} is an xarray DataArray with coordinates on some dimensions "
                     f"only: it must have coordinates on every dimension or on none; "
                     f"{missing} have none")


def as_pandas(value, name: str, *, columns: str | None = None, rows: str | None = None):
    """``value`` with an xarray DataArray replaced by the pandas object it stands for;
    anything else is returned as it is.

    A DataArray without coordinates gives its values (read by position, as an array).  One
    with coordinates on every dimension gives its value (0 dimensions), a Series indexed
    by its coordinate (1) or a DataFrame (2): rows along its first dimension and columns
    along its second -- a square matrix is read by the labels of both, whichever is
    first.  With ``columns`` (a table whose columns are labels, e.g. ``"asset"``) the
    dimension named so holds the columns, or else the dimension other than the one named
    ``rows``; the rows need no coordinates then (they are numbered 0, 1, ... as an
    array's: :func:`rows_by_position` tells them from labels).  ``name`` is the argument as
    messages show it (e.g. ``"`metric`"``).

    Raises ValueError naming ``name`` and the dimensions: coordinates on some dimensions
    only, more than two dimensions with coordinates, or ``columns`` given and no
    dimension named ``columns`` or ``rows``.
    """
    if not is_data_array(value):
        return value
    dims = [str(dim) for dim in value.dims]
    table = _table_dims(value, name, columns, rows)
    if table is not None:
        row, column = table
        if column not in value.coords:
            raise ValueError(f"{name} is an xarray DataArray whose dimension {column!r} has "
                             f"no coordinates: give it the labels, or pass its values to "
                             f"read it by position")
        frame = value.transpose(row, column).to_pandas()
        if row not in value.coords:
            frame.index = pd.RangeIndex(len(frame))  # numbered as an array's rows are
        return frame
    if not data_array_labelled(value, name):
        return value.values
    if len(dims) > 2:
        raise ValueError(f"{name} is an xarray DataArray with dimensions {dims}: a labelled "
                         f"one has at most two (a Series or a DataFrame); select the others "
                         f"first, or pass its values to read it by position")
    return value.to_pandas()


def _table_dims(value, name: str, columns: str | None, rows: str | None):
    """The dimensions (rows, columns) :func:`as_pandas` reads a DataArray ``value`` along
    when ``columns`` is given: None unless it has two dimensions, one with coordinates."""
    dims = [str(dim) for dim in value.dims]
    if columns is None or len(dims) != 2 or not any(dim in value.coords for dim in dims):
        return None
    if columns in dims:
        column = columns
    elif rows in dims:
        column = dims[1 - dims.index(rows)]
    else:
        named = f"{columns!r}" + (f" (or that of its rows {rows!r})" if rows else "")
        raise ValueError(
            f"{name} is an xarray DataArray with dimensions {dims}, which do not say "
            f"which holds what: name the dimension of its columns {named}, e.g. with "
            f".rename({dims[1]}={columns!r}) if that is the one")
    return dims[1 - dims.index(column)], column


def rows_by_position(value, name: str, *, columns: str, rows: str | None = None) -> bool:
    """Whether the rows of ``as_pandas(value, name, columns=columns, rows=rows)`` stand for
    positions: True for a 2-D DataArray whose rows' dimension has no coordinates (its
    frame's index ``0, 1, ...`` numbers them as an array's rows are, it labels nothing),
    False for anything else (a pandas object's index is its labels).

    >>> import xarray as xr
    >>> da = xr.DataArray([[0.2, 0.8]], dims=("regime", "asset"), coords={"asset": ["a", "b"]})
    >>> rows_by_position(da, "`w`", columns="asset")
    True
    """
    if not is_data_array(value):
        return False
    table = _table_dims(value, name, columns, rows)
    return table is not None and table[0] not in value.coords


def integer_regime(position: int, regimes: Sequence[str], name: str = "`regime`",
                   where: str = "") -> int:
    """The index into ``regimes`` (labels, strings) of a regime given as an integer.

    An integer is a label when a regime is named so (``regimes=("2008", "2020")``: ``2020``
    is the second regime, as a column labelled 2020 of pandas input is), else a position.
    An integer that names one regime and is the position of another is ambiguous: a
    ValueError asking for the label as a string.  ``name`` is the argument as messages
    show it, ``where`` what they add after the value (e.g. ``" (atom 3)"``).

    >>> integer_regime(2020, ("2008", "2020")), integer_regime(1, ("calm", "stress"))
    (1, 1)
    """
    label = str(position)
    if label in regimes:
        named = list(regimes).index(label)
        if named != position and 0 <= position < len(regimes):
            raise ValueError(
                f"{name} {position}{where} is ambiguous: it names regime {label!r} (position "
                f"{named}) and is the position of regime {regimes[position]!r}; pass the "
                f"label as a string, {label!r} or {regimes[position]!r}")
        return named
    if not 0 <= position < len(regimes):
        raise ValueError(f"{name} {position}{where} is neither a regime of {tuple(regimes)} "
                         f"nor a position below {len(regimes)}")
    return position
