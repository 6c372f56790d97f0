r"""The :class:`Ensemble`: a finite weighted set of portfolios (atoms) in regimes.

An ensemble is the discrete measure :math:`\mu = \sum_i a_i\,\delta_{(x_i, k_i)}` with
:math:`x_i \in \mathbb R^n` the weights of atom ``i`` over ``n`` assets, :math:`a_i \ge 0`
its mass and :math:`k_i` its regime.  No grid: the atoms sit where they are, long-short
books included.  Two ensembles are compared asset by asset *by name* and regime by regime
*by label* (:func:`align`).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .._labels import as_pandas, integer_regime
from .._validate import as_array, check_total_mass, real_array

__all__ = ["Ensemble", "Aligned", "align"]

#: Tolerance of the domain checks: a weight may leave its box, and a simplex row its sum,
#: by this much (times the number of assets for the sum) -- round-off of a solver's
#: portfolio, not a position.
DOMAIN_TOLERANCE = 1e-9


def _is_integer(value) -> bool:
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(
        value, (bool, np.bool_))


def _atom_name(index: pd.Index, position: int) -> str:
    label = index[position]
    return f"atom {position}" if label == position else f"atom {position} ({label!r})"


#: Columns of an ensemble's tables besides its assets (:meth:`Ensemble.to_frame`,
#: :meth:`~wfr_cvx.ensemble.EnsembleGeodesic.to_frame`): no asset may be named so (an
#: asset "mass" was overwritten by the masses without an error).
RESERVED_COLUMNS = ("mass", "regime", "time", "atom")


def _unique_labels(labels, name: str) -> tuple[str, ...]:
    if isinstance(labels, (str, bytes)) or not isinstance(labels, (Sequence, np.ndarray,
                                                                    pd.Index)):
        raise TypeError(f"`{name}` must be a sequence of labels, got {type(labels).__name__}")
    out = tuple(str(label) for label in labels)
    seen, duplicates = set(), []
    for label in out:
        if label in seen and label not in duplicates:
            duplicates.append(label)
        seen.add(label)
    if duplicates:
        raise ValueError(f"`{name}` labels must be unique, got duplicates {duplicates} "
                         f"in {list(out)}")
    return out


def _numeric_matrix(values, name: str, what: str) -> np.ndarray:
    """``values`` as a float array of real numbers (``what`` names them in the messages):
    bools, strings and complex numbers are a TypeError naming ``name``; an array (or
    frame) of objects is read entry by entry, real numbers (Fractions, Decimals, Python
    and numpy scalars) accepted (:func:`~wfr_cvx._validate.real_array`).  Always a new
    array, never a view of ``values``: an ensemble keeps what it was given even when the
    caller changes the frame or array afterwards."""
    if isinstance(values, (pd.DataFrame, pd.Series)):
        # pandas' nullable dtypes (Float64, Int64) become object arrays under np.asarray
        frame = values.to_frame() if isinstance(values, pd.Series) else values
        if all(pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t)
               for t in frame.dtypes):
            # copy: a float frame's to_numpy is a view of the caller's data
            return values.to_numpy(dtype=float, na_value=np.nan, copy=True)
    array = as_array(values, name)
    if array.dtype == object:
        return real_array(array, name, what)
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer)
                                   or np.issubdtype(array.dtype, np.floating)):
        raise TypeError(f"`{name}` must hold real numbers, got dtype {array.dtype}")
    return np.array(array, dtype=float)


def _aligned_series(values, index: pd.Index | None, n_atoms: int, name: str):
    """A per-atom Series (or xarray DataArray with coordinates) aligned to the weights'
    index (plain weights: the atoms are labelled 0 .. N-1); other inputs pass through."""
    values = as_pandas(values, f"`{name}`")
    if isinstance(values, pd.Series) and index is None:
        index = pd.RangeIndex(n_atoms)
    if isinstance(values, pd.Series):
        if not values.index.is_unique:
            raise ValueError(f"`{name}` index has duplicate labels")
        missing = index.difference(values.index)
        extra = values.index.difference(index)
        if len(missing) or len(extra):
            raise ValueError(f"`{name}` index must match the atoms of `weights`: missing "
                             f"{list(missing)[:5]}, extra {list(extra)[:5]}")
        return values.reindex(index)
    return values


class Ensemble:
    r"""A discrete allocation distribution :math:`\sum_i a_i\,\delta_{(x_i, k_i)}`.

    Parameters
    ----------
    weights : array_like, shape ``(N, n)``, DataFrame or xarray DataArray
        Portfolio weights of the ``N`` atoms over ``n`` assets.  A DataFrame has one
        column per asset (``assets`` are then its column labels, or the columns selected
        by ``assets``) and one row per atom (its index labels the atoms).  A DataArray
        with coordinates is read as that DataFrame: its dimension ``asset`` (with the
        asset labels as coordinates) holds the assets, the other one the atoms (labelled
        by its coordinates, or numbered ``0 .. N-1`` without); with neither dimension
        named ``asset`` the atoms' must be named ``atom``, and anything else is refused.  A
        DataArray without coordinates is read by position, as an array.  Entries must be
        real numbers (an array or frame of objects -- Fractions, Decimals, Python or numpy
        scalars -- is read entry by entry); bools, strings and None are refused.
    mass : array_like, shape ``(N,)``, Series or xarray DataArray, optional
        Non-negative atom masses; ones by default.  A Series (or a DataArray with
        coordinates, read as its Series) is aligned by label to the atoms of ``weights``
        (to the atom numbers ``0 .. N-1`` for array weights); labels that do not match
        are an error.
    regime : array_like of str or int, scalar, or Series, optional
        Each atom's regime, as labels (strings) or integers; one for all atoms; all atoms
        in one regime ``"0"`` by default.  A Series (or DataArray with coordinates) is
        aligned like ``mass``.  An integer is read as :meth:`wfr_cvx.Grid.regime_index`
        reads one: the label of the regime named so when ``regimes`` has one
        (``regimes=(2008, 2020)``: ``2020`` is the second regime), else a position
        (code) into ``regimes``; one that names a regime and is the position of another
        (``1`` with ``regimes=(1, 2)``) is ambiguous, a ValueError asking for the label
        as a string (``"1"``).
    assets : sequence of str, optional
        Asset labels (default ``"0", "1", ...`` for an array).
    regimes : sequence of str, optional
        The regime labels in a fixed order, converted to strings (default: the sorted
        labels given, or ``"0" .. "K-1"`` for integers).  A label not in it is an
        error.
    domain : None, "simplex" or (lower, upper)
        Where the weights must lie: anywhere finite (None, long-short books), on the
        simplex (weights >= 0 within 1e-9, summing to 1 within 1e-9 times the number of
        assets),
        or in a box ``lower <= w <= upper`` (scalars or per-asset arrays, or Series and
        DataArrays with coordinates read by asset label, within 1e-9).  Checked at construction.

    Attributes
    ----------
    weights : ndarray, shape ``(N, n)`` (read-only)
    mass : ndarray, shape ``(N,)`` (read-only)
    regime : ndarray of int, shape ``(N,)``
        Codes into ``regimes``.
    assets, regimes : tuple of str
    atoms : pandas.Index
        Atom labels (the DataFrame's index, or ``0 .. N-1``).
    domain : None, "simplex" or (ndarray, ndarray)
    n_atoms, n_assets : int
    total_mass : float

    Raises
    ------
    TypeError, ValueError
        Naming the argument and what was expected: shapes, NaN or infinite entries,
        negative masses, weights outside ``domain`` (the first offending atom and
        asset), duplicate asset labels, unknown regime labels or codes, ambiguous
        integer regimes.

    Examples
    --------
    >>> e = Ensemble([[0.6, 0.4], [0.3, 0.7]], mass=[2.0, 1.0], regime=["on", "off"],
    ...              assets=("eq", "bd"), domain="simplex")
    >>> e
    Ensemble(n_atoms=2, assets=('eq', 'bd'), regimes=('off', 'on'), total_mass=3, domain='simplex')
    >>> e.regime_mass()
    regime
    off    1.0
    on     2.0
    Name: mass, dtype: float64
    """

    def __init__(self, weights, mass=None, regime=None, *, assets=None, regimes=None,
                 domain=None):
        weights = as_pandas(weights, "`weights`", columns="asset", rows="atom")
        if isinstance(weights, pd.DataFrame):
            frame = weights
            if assets is not None:
                labels = _unique_labels(assets, "assets")
                columns = [str(c) for c in frame.columns]
                missing = [a for a in labels if a not in columns]
                if missing:
                    raise ValueError(f"`assets` {missing} are not columns of `weights` "
                                     f"(columns {columns})")
                frame = frame.iloc[:, [columns.index(a) for a in labels]]
            self.assets = _unique_labels(list(frame.columns), "weights columns (assets)")
            index = frame.index
            if not index.is_unique:
                raise ValueError("`weights` index (the atom labels) has duplicate labels")
            values = _numeric_matrix(frame, "weights", "portfolio weights")
        else:
            index = None
            values = _numeric_matrix(weights, "weights", "portfolio weights")
            if values.ndim != 2:
                hint = " (for one asset pass a column, weights[:, None])" if (
                    values.ndim == 1) else ""
                raise ValueError(f"`weights` must have shape (N atoms, n assets), got "
                                 f"{values.shape}{hint}")
            self.assets = (tuple(str(k) for k in range(values.shape[1])) if assets is None
                           else _unique_labels(assets, "assets"))
            if len(self.assets) != values.shape[1]:
                raise ValueError(f"`assets` has {len(self.assets)} labels but `weights` has "
                                 f"{values.shape[1]} columns")
        reserved = [a for a in self.assets if a in RESERVED_COLUMNS]
        if reserved:
            raise ValueError(f"asset label(s) {reserved} are the names of the tables' own "
                             f"columns {list(RESERVED_COLUMNS)} (to_frame, CSV books): "
                             "rename them, or pass a `mass` or `regime` column as "
                             "Ensemble.from_frame(frame, mass=..., regime=...)")
        n_atoms, n_assets = values.shape
        if n_assets == 0:
            raise ValueError("`weights` must have at least one asset column, got shape "
                             f"{values.shape}")
        self.atoms = pd.RangeIndex(n_atoms) if index is None else index
        bad = np.argwhere(~np.isfinite(values))
        if bad.size:
            i, k = bad[0]
            raise ValueError(f"`weights` must be finite; {_atom_name(self.atoms, i)}, asset "
                             f"{self.assets[k]!r} is {values[i, k]}")
        self.weights = values
        self.mass = self._check_mass(mass, index, n_atoms)
        self.regimes, self.regime = self._check_regime(regime, regimes, index, n_atoms)
        self.domain = self._check_domain(domain)
        for array in (self.weights, self.mass, self.regime):
            array.flags.writeable = False

    # -- validation --------------------------------------------------------------------
    def _check_mass(self, mass, index, n_atoms: int) -> np.ndarray:
        if mass is None:
            return np.ones(n_atoms)
        values = _numeric_matrix(_aligned_series(mass, index, n_atoms, "mass"), "mass",
                                 "masses")
        if values.shape != (n_atoms,):
            raise ValueError(f"`mass` must have shape ({n_atoms},) like the atoms of "
                             f"`weights`, got {values.shape}")
        bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
        if bad.size:
            i = bad[0]
            raise ValueError(f"`mass` must be finite and >= 0; {_atom_name(self.atoms, i)} "
                             f"has {values[i]}")
        check_total_mass(float(values.sum()), "`mass` total")
        return values

    def _check_regime(self, regime, regimes, index, n_atoms: int):
        fixed = None if regimes is None else _unique_labels(regimes, "regimes")
        if fixed is not None and not fixed:
            raise ValueError("`regimes` must name at least one regime")
        if regime is None:
            return fixed or ("0",), np.zeros(n_atoms, dtype=np.intp)
        if isinstance(regime, str) or _is_integer(regime):
            regime = [regime] * n_atoms
        values = np.asarray(_aligned_series(regime, index, n_atoms, "regime"), dtype=object)
        if values.shape != (n_atoms,):
            raise ValueError(f"`regime` must have shape ({n_atoms},) like the atoms of "
                             f"`weights`, got {values.shape}")
        if n_atoms and all(_is_integer(v) for v in values):
            given = values.astype(np.int64)
            labels = fixed or tuple(str(k) for k in range(int(given.max(initial=0)) + 1))
            # each integer once, as Grid.regime_index reads one: a label when a regime is
            # named so, else a position
            distinct, first, inverse = np.unique(given, return_index=True,
                                                 return_inverse=True)
            codes = np.array([integer_regime(int(v), labels, "`regime`",
                                             f" ({_atom_name(self.atoms, int(i))})")
                              for v, i in zip(distinct, first, strict=True)], dtype=np.intp)
            return labels, codes[inverse.ravel()]
        if not all(isinstance(v, str) for v in values):
            odd = next(v for v in values if not isinstance(v, str))
            raise TypeError(f"`regime` must hold labels (str) or integer codes, got "
                            f"{odd!r} ({type(odd).__name__})")
        labels = fixed or tuple(sorted(set(values)))
        lookup = {label: code for code, label in enumerate(labels)}
        unknown = [v for v in dict.fromkeys(values) if v not in lookup]
        if unknown:
            raise ValueError(f"`regime` labels {unknown} are not in `regimes` {labels}")
        return labels, np.array([lookup[v] for v in values], dtype=np.intp)

    def _bound(self, value, name: str) -> np.ndarray:
        value = as_pandas(value, f"`domain` {name} bound")
        if isinstance(value, pd.Series):
            missing = [a for a in self.assets if a not in map(str, value.index)]
            if missing:
                raise ValueError(f"`domain` {name} bound has no entry for assets {missing}")
            value = value.set_axis([str(k) for k in value.index]).reindex(list(self.assets))
        array = _numeric_matrix(value, f"domain {name} bound", "bounds")
        if array.ndim == 0:
            array = np.full(self.n_assets, float(array))
        if array.shape != (self.n_assets,) or np.isnan(array).any():
            raise ValueError(f"`domain` {name} bound must be a number or one per asset "
                             f"(shape ({self.n_assets},)), not NaN; got {value!r}")
        return array

    def _check_domain(self, domain):
        if domain is None:
            return None
        if isinstance(domain, str):
            if domain != "simplex":
                raise ValueError(f"`domain` must be None, 'simplex' or (lower, upper), got "
                                 f"{domain!r}")
            self._check_box(np.zeros(self.n_assets), np.full(self.n_assets, np.inf),
                            "'simplex'")
            sums = self.weights.sum(axis=1)
            tolerance = DOMAIN_TOLERANCE * self.n_assets
            bad = np.flatnonzero(np.abs(sums - 1.0) > tolerance)
            if bad.size:
                i = bad[0]
                raise ValueError(f"`weights` must lie on the simplex (`domain`='simplex'); "
                                 f"{_atom_name(self.atoms, i)} sums to {float(sums[i])!r}, "
                                 f"expected 1 within {tolerance:g}")
            return "simplex"
        if isinstance(domain, Mapping) or not isinstance(domain, (tuple, list)) or len(
                domain) != 2:
            raise TypeError(f"`domain` must be None, 'simplex' or a pair (lower, upper), "
                            f"got {domain!r}")
        lower, upper = self._bound(domain[0], "lower"), self._bound(domain[1], "upper")
        crossed = np.flatnonzero(lower > upper)
        if crossed.size:
            k = crossed[0]
            raise ValueError(f"`domain` lower bound {lower[k]} exceeds the upper bound "
                             f"{upper[k]} for asset {self.assets[k]!r}")
        self._check_box(lower, upper, f"box [{domain[0]!r}, {domain[1]!r}]")
        lower.flags.writeable = upper.flags.writeable = False
        return lower, upper

    def _check_box(self, lower, upper, what: str) -> None:
        slack_low = DOMAIN_TOLERANCE * np.maximum(1.0, np.abs(np.where(np.isfinite(lower),
                                                                        lower, 0.0)))
        slack_up = DOMAIN_TOLERANCE * np.maximum(1.0, np.abs(np.where(np.isfinite(upper),
                                                                       upper, 0.0)))
        outside = (self.weights < lower - slack_low) | (self.weights > upper + slack_up)
        bad = np.argwhere(outside)
        if bad.size:
            i, k = bad[0]
            raise ValueError(
                f"`weights` must lie in `domain` {what}; {_atom_name(self.atoms, i)}, asset "
                f"{self.assets[k]!r} is {float(self.weights[i, k])!r}, expected within "
                f"[{lower[k]:g}, {upper[k]:g}]")

    # -- constructors ------------------------------------------------------------------
    @classmethod
    def from_frame(cls, frame: pd.DataFrame, *, mass: str | None = None,
                   regime: str | None = None, regimes=None, domain=None) -> Ensemble:
        """An ensemble from one table: one row per atom, a column per asset, plus the
        columns named by ``mass`` and ``regime`` (both optional).

        >>> frame = pd.DataFrame({"eq": [0.6, 0.2], "bd": [0.4, 0.8], "m": [1.0, 3.0],
        ...                       "state": ["on", "off"]})
        >>> Ensemble.from_frame(frame, mass="m", regime="state").regime_mass().to_dict()
        {'off': 3.0, 'on': 1.0}
        """
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"`frame` must be a pandas DataFrame, got {type(frame).__name__}")
        named = {}
        for argument, column in (("mass", mass), ("regime", regime)):
            if column is None:
                continue
            if column not in frame.columns:
                raise ValueError(f"`{argument}` column {column!r} is not in `frame` (columns "
                                 f"{list(frame.columns)})")
            named[argument] = frame[column]
        assets = frame.drop(columns=[c for c in (mass, regime) if c is not None])
        return cls(assets, named.get("mass"), named.get("regime"), regimes=regimes,
                   domain=domain)

    @classmethod
    def from_portfolios(cls, portfolios: pd.DataFrame, *, assets=None, mass=None,
                        regime=None, regimes=None, domain=None) -> Ensemble:
        """An ensemble with one atom per portfolio (row) of ``portfolios``.

        ``assets`` selects the weight columns; by default every column except the
        statistics of :func:`wfr_cvx.markowitz.efficient_frontier` (``target_return``,
        ``return``, ``variance``, ``volatility``), so a frontier can be passed as is.
        ``mass`` (default: equal masses 1), ``regime``, ``regimes`` and ``domain`` as for
        :class:`Ensemble`.

        >>> frontier = pd.DataFrame({"return": [0.01, 0.02], "volatility": [0.1, 0.2],
        ...                          "IBM": [0.2, 0.7], "WMT": [0.8, 0.3]})
        >>> Ensemble.from_portfolios(frontier, domain="simplex").assets
        ('IBM', 'WMT')
        """
        from ..finance.markowitz import _FRONTIER_COLUMNS

        if not isinstance(portfolios, pd.DataFrame):
            raise TypeError(f"`portfolios` must be a pandas DataFrame (rows = portfolios), "
                            f"got {type(portfolios).__name__}")
        if assets is None:
            assets = [str(c) for c in portfolios.columns if c not in _FRONTIER_COLUMNS]
        return cls(portfolios, mass, regime, assets=assets, regimes=regimes, domain=domain)

    # -- figures -----------------------------------------------------------------------
    @property
    def n_atoms(self) -> int:
        return int(self.weights.shape[0])

    @property
    def n_assets(self) -> int:
        return int(self.weights.shape[1])

    @property
    def total_mass(self) -> float:
        return float(self.mass.sum())

    @property
    def regime_labels(self) -> np.ndarray:
        """Each atom's regime label, shape ``(N,)`` (object array of str)."""
        return np.asarray(self.regimes, dtype=object)[self.regime]

    def regime_mass(self) -> pd.Series:
        """Total mass per regime (index ``regimes``)."""
        totals = np.bincount(self.regime, self.mass, minlength=len(self.regimes))
        return pd.Series(totals, index=pd.Index(self.regimes, name="regime"), name="mass")

    def to_frame(self) -> pd.DataFrame:
        """One row per atom (index ``atoms``): a column per asset, ``mass``, ``regime``."""
        frame = pd.DataFrame(self.weights, index=self.atoms, columns=list(self.assets))
        frame["mass"] = self.mass
        frame["regime"] = self.regime_labels
        return frame

    def __len__(self) -> int:
        return self.n_atoms

    def __repr__(self) -> str:
        domain = "" if self.domain in (None, "simplex") else ", domain=box"
        if self.domain == "simplex":
            domain = ", domain='simplex'"
        shown = self.assets if self.n_assets <= 6 else (*self.assets[:5], "...")
        return (f"Ensemble(n_atoms={self.n_atoms}, assets={shown!r}, regimes={self.regimes!r}, "
                f"total_mass={self.total_mass:.6g}{domain})")


class Aligned:
    """Two ensembles on common coordinates: the assets of ``e0`` in its order, and the
    union of both regime labels (``e0``'s first, then ``e1``'s new ones).

    Attributes
    ----------
    x, y : ndarray, shapes ``(N, n)``, ``(M, n)``
    a, b : ndarray, shapes ``(N,)``, ``(M,)``
    k, l : ndarray of int
        Regime codes of the atoms into ``regimes``.
    assets, regimes : tuple of str
    """

    def __init__(self, x, y, a, b, k, l, assets, regimes):
        self.x, self.y, self.a, self.b, self.k, self.l = x, y, a, b, k, l
        self.assets, self.regimes = assets, regimes


def align(e0: Ensemble, e1: Ensemble) -> Aligned:
    """Put ``e1`` on ``e0``'s asset order and both on the union of their regime labels.

    Raises TypeError unless both are :class:`Ensemble`, ValueError when their asset sets
    differ (listing the missing and extra assets).
    """
    for name, e in (("e0", e0), ("e1", e1)):
        if not isinstance(e, Ensemble):
            raise TypeError(f"`{name}` must be a wfr_cvx.ensemble.Ensemble, got "
                            f"{type(e).__name__}")
    if set(e0.assets) != set(e1.assets):
        missing = [a for a in e0.assets if a not in e1.assets]
        extra = [a for a in e1.assets if a not in e0.assets]
        raise ValueError(f"`e0` and `e1` must hold the same assets (aligned by name): `e1` "
                         f"misses {missing} and has extra {extra}")
    order = [e1.assets.index(a) for a in e0.assets]
    regimes = e0.regimes + tuple(r for r in e1.regimes if r not in e0.regimes)
    recode = np.array([regimes.index(r) for r in e1.regimes], dtype=np.intp)
    return Aligned(np.asarray(e0.weights), np.asarray(e1.weights)[:, order],
                   np.asarray(e0.mass), np.asarray(e1.mass), np.asarray(e0.regime),
                   recode[e1.regime], e0.assets, regimes)
