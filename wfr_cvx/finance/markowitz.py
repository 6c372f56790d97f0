r"""Mean-variance tools: estimates, Markowitz portfolios, the efficient frontier, potentials.

With expected returns :math:`\mu \in \mathbb R^n` and a covariance :math:`\Sigma` of ``n``
assets, a portfolio :math:`w` has return :math:`\mu^\top w` and variance
:math:`w^\top\Sigma w`.  This module computes

* the sample estimates :math:`(\mu, \Sigma)` from a table of prices (:func:`estimate`);
* the mean-variance portfolio
  :math:`\min_w \tfrac12\gamma\, w^\top\Sigma w - \mu^\top w` (:func:`mean_variance`);
* the minimum-variance portfolio, optionally with a return floor (:func:`min_variance`);
* the long-only efficient frontier, either as one parametrised QP re-solved by Clarabel or
  by an independent first-order solver on the probability simplex that uses the
  multiplicative retraction :func:`simplex_retract` (:func:`efficient_frontier`);
* the mean-variance potential :math:`V(w)` on the cells of a :class:`~wfr_cvx.Grid`, a
  drift for allocation flows (:func:`potential`).

The data and figures follow the "Manifold allocation" example of jaxls (monthly prices of
IBM, WMT and SEHI, Nov 2000 - Nov 2001), shipped as package data
``wfr_cvx/finance/data/ibm_wmt_sehi_monthly.csv`` (:func:`load_prices`).

Labels, shared by every function: ``mu`` and ``cov`` are both labelled (a Series and a
DataFrame, matched by label in any order), both arrays (matched by position), or ``mu`` a
Series with ``cov`` an array in ``mu``'s order.  An array ``mu`` with a DataFrame ``cov`` is
refused (ValueError): its order cannot be told (the DataFrame's rows and columns may
differ); pass ``pd.Series(mu, index=cov.columns)``.  An xarray DataArray with coordinates
counts as its Series or DataFrame (rows its first dimension), one without as an array.

Covariance validation, shared by every function: ``cov`` is square with labels matching
``mu``'s, finite, symmetric to ``1e-10`` times its largest absolute entry (then replaced by
:math:`(\Sigma + \Sigma^\top)/2`), and positive semi-definite up to round-off: its smallest
eigenvalue must be at least ``-1e-12`` times the largest.  Eigenvalues in
:math:`[-10^{-12}\lambda_{\max}, 0)` are sample-covariance round-off (a covariance of
fewer observations than assets is singular) and are set to zero.

References
----------
* Markowitz, "Portfolio selection", J. Finance 7(1), 77-91 (1952).
* Merton, "An analytic derivation of the efficient portfolio frontier", J. Financ. Quant.
  Anal. 7(4), 1851-1872 (1972).
* Kivinen & Warmuth, "Exponentiated gradient versus gradient descent for linear
  predictors", Inform. and Comput. 132(1), 1-63 (1997).
* Beck & Teboulle, "Mirror descent and nonlinear projected subgradient methods for convex
  optimization", Oper. Res. Lett. 31(3), 167-175 (2003).
* Nocedal & Wright, *Numerical Optimization*, 2nd ed., Springer (2006), ch. 17
  (augmented Lagrangian).
* jaxls documentation, "Manifold allocation" example (the simplex retraction and data).
"""

from __future__ import annotations

import csv
import importlib.resources
import io
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import cvxpy as cp
import numpy as np
import pandas as pd
import scipy.linalg
from scipy.optimize import linprog

from .._labels import as_pandas, is_data_array
from .._validate import real_scalar
from .._warnings import silenced, suppressed, warn
from ..errors import InaccurateSolutionWarning, InfeasibleError, SolverError, UnitsWarning

__all__ = [
    "PRICES_FILE",
    "load_prices",
    "returns_from_prices",
    "estimate",
    "mean_variance",
    "min_variance",
    "efficient_frontier",
    "resampled_portfolios",
    "simplex_retract",
    "potential",
]

#: The shipped prices: package data, read with :mod:`importlib.resources` (so it works
#: from an installed wheel as well as from a checkout).
PRICES_FILE = "ibm_wmt_sehi_monthly.csv"

_SYMMETRY_RTOL = 1e-10
_PSD_RTOL = 1e-12
# Clarabel's default gap/feasibility tolerances (1e-8) left the min-variance weights of the
# shipped data 8e-7 from the closed form; 1e-10 on a unit-scaled objective gives ~1e-10
# (a tiny minimum variance is solved again as a volatility, see _MinVariance).
_CLARABEL_SETTINGS = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10}
_FRONTIER_COLUMNS = ("target_return", "return", "variance", "volatility")
#: At most this many frontier points or resamples: each is one QP solve (milliseconds),
#: so 100 000 already take minutes, and a count near 2**63 is a typing error.
MAX_PORTFOLIOS = 100_000
_METHODS = ("qp", "simplex")
#: resampled_portfolios warns that its `returns` look like prices when every value is
#: positive and every column's mean exceeds this: simple returns averaging over 50 % a
#: period, without a single loss, are not a market's; prices (and gross returns) are.
_PRICE_LIKE_MEAN = 0.5

# Exponentiated-gradient frontier solver: stop at a relative KKT residual of _EG_TOL, warn
# after _EG_MAX_ITER steps per point; one multiplier update every _EG_INNER steps.
_EG_TOL = 1e-10
_EG_MAX_ITER = 100_000
_EG_INNER = 10
# Warm starts are floored at this weight so an asset that left the support can re-enter
# (an exact zero is a fixed point of the multiplicative update).
_EG_FLOOR = 1e-12


# -- data --------------------------------------------------------------------------------
def load_prices(path=None, *, dayfirst=None) -> pd.DataFrame:
    """Read a price table: a ``date`` column and one column of prices per ticker.

    Dates written year first (ISO ``2000-11-01``, as the shipped file) are read as such.
    Dates written day or month first (``01/11/2000``, ``01.11.2000``, ``01-11-2000``) are
    read in the one order that makes every date valid (a day above 12 somewhere settles
    it); when both orders do, and they differ, the file is refused rather than guessed:
    pass ``dayfirst``.  Dates of three one- or two-digit numbers (``98-11-30``,
    ``30/11/98``) are read likewise in the one order -- year, day or month first -- that
    makes every date valid (years 69-99 are 19xx, 00-68 20xx), or refused.  Dates written
    as eight digits are read YYYYMMDD.  A date may be followed by a time of day, on some
    rows only (``2001-01-01``, ``2001-01-02 16:00``, ``02.01.2001 9:30``, ``98-11-30 4:00
    PM``): the form of a date is that of the date alone, which is read as above.  ISO 8601
    times may carry UTC offsets that differ between rows (daylight saving time:
    ``-05:00``, ``-04:00``); such offsets are converted to UTC (a ``DatetimeIndex`` in
    UTC), which keeps the times' order.  Dates written in several forms (``2001-03-01``
    beside ``01/02/2001``), or with a UTC offset on some rows only, are refused, naming the
    rows of each form.

    Rows whose every field is empty (``,,`` -- often trailing a file a spreadsheet wrote)
    are dropped, as blank lines are.  A row with prices but no date, a date repeated, or a
    date with a missing price is refused, naming the row, date or column.  A delimiter
    ending every row (one empty field beyond the header's) is ignored, and so is one
    ending the header as well (a last column without a name and without a value); a row
    with more fields than the header otherwise is refused, naming it.  A column without a
    name in the header (an empty field) that is not so dropped is refused, naming its
    position: name it in the header.

    Parameters
    ----------
    path : str or path-like, optional
        CSV file; by default the shipped :data:`PRICES_FILE` (13 monthly
        prices of IBM, WMT and SEHI dated the first of each month, 2000-11-01 to
        2001-11-01, from the jaxls "Manifold allocation" example).
    dayfirst : bool, optional
        How dates written day or month first are read: ``True`` DD/MM/YYYY, ``False``
        MM/DD/YYYY; by default from the dates themselves, as above.  Year-first dates
        ignore it.

    Returns
    -------
    pandas.DataFrame
        Prices indexed by a ``DatetimeIndex`` named ``date``, one column per ticker.

    Examples
    --------
    >>> prices = load_prices()
    >>> prices.shape, list(prices.columns)
    ((13, 3), ['IBM', 'WMT', 'SEHI'])
    >>> str(prices.index[0].date()), float(prices.loc["2001-11-01", "IBM"])
    ('2000-11-01', 115.59)
    """
    if dayfirst is not None and not isinstance(dayfirst, (bool, np.bool_)):
        raise TypeError(f"`dayfirst` must be True, False or None, got {dayfirst!r}")
    if path is None:
        source = importlib.resources.files("wfr_cvx.finance").joinpath("data", PRICES_FILE)
        path = Path(f"<wfr_cvx>/finance/data/{PRICES_FILE}")
    else:
        source = path = Path(path)
        if path.is_dir():
            raise IsADirectoryError(f"{path}: is a directory, not a price file (CSV)")
    try:
        with source.open("rb") as handle, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            # index_col=False: rows one field longer than the header (a trailing
            # delimiter) are its columns, not an index column followed by shifted prices
            frame = pd.read_csv(handle, index_col=False)
        with source.open("rb") as handle:  # read_csv renames a repeated "IBM" to "IBM.1"
            # keep_default_na=False: an empty field stays "", and a ticker "NA" its name
            header = pd.read_csv(handle, header=None, nrows=1,
                                 keep_default_na=False).iloc[0].astype(str)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"price file {str(path)!r} is not a CSV price table (a `date` "
                         f"column and one column per ticker): {' '.join(str(exc).split())}"
                         ) from None
    if any(issubclass(w.category, pd.errors.ParserWarning) for w in caught):
        # pandas drops what lies beyond the header's columns, but for one trailing empty field
        row = _first_long_row(source, len(header))
        raise ValueError(
            f"price file {str(path)!r}: "
            + (f"row {row} below the header has" if row else "rows have")
            + f" more fields than the header's {len(header)} ({','.join(header)}), which "
              f"would be lost: name every column in the header, or delete the extra fields "
              f"(one trailing delimiter on every row is read as none)")
    unnamed = f"Unnamed: {len(frame.columns) - 1}"  # read_csv's name for an empty field
    if len(frame.columns) > 1 and frame.columns[-1] == unnamed and (
            frame[unnamed].isna().all()):
        # the header ends with a delimiter too (`date,IBM,WMT,`): its empty column holds
        # nothing, as the empty field ending each row
        frame, header = frame.iloc[:, :-1], header.iloc[:-1]
    nameless = [k for k, name in enumerate(header) if not name.strip()]
    if nameless:
        # read_csv would call it "Unnamed: k" and load it as a ticker of that name
        k = nameless[0]
        held = frame.iloc[:, k].dropna()
        where = ("the first" if k == 0 else "the last" if k == len(header) - 1
                 else f"between {header.iloc[k - 1]!r} and {header.iloc[k + 1]!r}")
        holds = (f", but it holds values ({held.iloc[0]} on {_data_rows(held.index[:1])} "
                 "below the header)") if len(held) else ""
        raise ValueError(f"price file {str(path)!r}: column {k + 1} of the header "
                         f"({','.join(header)}; {where}) has no name{holds}: name it in the "
                         "header (its ticker), or delete the column")
    if header.duplicated().any():
        raise ValueError(f"price file {str(path)!r}: columns must be unique tickers, got "
                         f"duplicates {sorted(set(header[header.duplicated()]))}")
    if "date" not in frame.columns:
        raise ValueError(
            f"price file {str(path)!r} must have a 'date' column, got columns "
            f"{list(frame.columns)}"
        )
    # a row of empty fields (",,") holds nothing: dropped as a blank line is.  The index
    # keeps the rows' numbers below the header for the messages.
    frame = frame.dropna(how="all")
    if frame.empty:
        raise ValueError(f"price file {str(path)!r} has no rows of prices (only the header "
                         f"{','.join(header)}): add one row per date")
    undated = frame["date"].isna()
    if undated.any():
        raise ValueError(f"price file {str(path)!r}: the date is missing on "
                         f"{_data_rows(frame.index[undated])} below the header (prices "
                         f"without a date): write the date, or delete the row")
    try:
        frame["date"] = _read_dates(frame["date"], dayfirst, f"price file {str(path)!r}")
    except _AmbiguousDates:
        raise
    except _MixedDates as exc:
        raise ValueError(f"price file {str(path)!r}: the `date` column mixes forms of date: "
                         f"{exc}") from None
    except (ValueError, TypeError) as exc:
        raise ValueError(f"price file {str(path)!r}: the `date` column does not hold dates: "
                         f"{' '.join(str(exc).split())}") from None
    repeated = frame["date"].duplicated(keep=False)
    if repeated.any():
        first = frame["date"][repeated].iloc[0]
        rows = frame.index[(frame["date"] == first).to_numpy()]
        raise ValueError(f"price file {str(path)!r}: the date {_show_label(first)} is on "
                         f"{_data_rows(rows)} below the header"
                         + (f", and {frame['date'][repeated].nunique() - 1} other date(s) on "
                            f"several rows" if frame["date"][repeated].nunique() > 1 else "")
                         + ": keep one row per date")
    frame = frame.set_index("date")
    try:
        _check_prices(frame, "prices", min_rows=2)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"price file {str(path)!r}: {exc}") from None
    return frame


# a date written day or month first, year last: the first two numbers are day and month
# in some order (a time may follow)
_DAY_MONTH_YEAR = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-]\d{2,4}(?!\d)")


class _AmbiguousDates(ValueError):
    """Dates that read validly, and differently, both day first and month first."""


def _first_long_row(source, width: int) -> int | None:
    """The number (from 1 below the header, blank lines not counted, as :func:`_data_rows`
    counts) of the first row of a CSV file with more than ``width`` fields, not counting
    one trailing empty field; None when there is none so (pandas also counts a trailing
    ``NA`` as empty)."""
    with source.open("rb") as handle:
        lines = io.TextIOWrapper(handle, encoding="utf-8-sig", errors="replace", newline="")
        rows = (row for row in csv.reader(lines) if row)
        next(rows, None)
        for number, row in enumerate(rows, 1):
            if len(row) > width + 1 or (len(row) == width + 1 and row[-1].strip()):
                return number
    return None


def _data_rows(labels: pd.Index, shown: int = 5) -> str:
    """``read_csv``'s row labels (0 for the first row below the header) as the rows'
    numbers counted from 1 below the header (blank lines not counted): "row 3", "rows 3,
    5"."""
    numbers = [str(int(label) + 1) for label in labels[:shown]]
    more = f" ... ({len(labels)} in all)" if len(labels) > shown else ""
    return f"row{'s' if len(labels) > 1 else ''} {', '.join(numbers)}{more}"


def _show_label(label) -> str:
    """An index label as a person writes it: a date without its midnight time."""
    if isinstance(label, pd.Timestamp) and label == label.normalize():
        return label.strftime("%Y-%m-%d")
    return str(label) if isinstance(label, (pd.Timestamp, pd.Period)) else repr(label)


# three numbers of one or two digits (98-11-30, 30/11/98, 11.30.98): a two-digit year
# first or last, and the whole date (a time may follow, split off by _split_times)
_TWO_DIGIT_YEAR = re.compile(r"^\s*(\d{1,2})([/.-])(\d{1,2})\2(\d{1,2})\s*$")

# a date followed by a time of day (16:00, 9:30:15.5, 4:00 PM; after a space or T) and a
# UTC offset (Z, -04:00), the time optional: the date is the label's form, the time not
_DATED_TIME = re.compile(r"^(.*?\S)(?:(?:[Tt]|\s+)(\d{1,2}):(\d{2})(?::(\d{2})(\.\d+)?)?"
                         r"(?:\s*([AaPp][Mm]))?\s*(Z|[+-]\d{2}(?::?\d{2})?)?)?\s*$")


def _split_times(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Each label's date (the label without a trailing time of day) and its time written
    as ISO 8601 writes it (" 16:00:00-04:00", hour of two digits, 4:00 PM as 16:00; ""
    without a time)."""
    fields = text.str.extract(_DATED_TIME)
    dates = fields[0].where(fields[0].notna(), text)
    timed = fields[1].notna()
    if not timed.any():
        return dates, pd.Series("", index=text.index)
    hour = fields[1].where(timed, "0").astype(int)
    half = fields[5].fillna("").str.upper()
    hour = hour.where(~((half == "PM") & (hour < 12)), hour + 12)
    hour = hour.where(~((half == "AM") & (hour == 12)), 0)
    times = (" " + hour.map("{:02d}".format) + ":" + fields[2].fillna("")
             + (":" + fields[3]).fillna("") + fields[4].fillna("") + fields[6].fillna(""))
    return dates, times.where(timed, "")


def _two_digit_readings(values: pd.Series, dayfirst) -> dict | None:
    """The distinct readings (DatetimeIndex) of ``values`` when every one is three numbers
    of one or two digits (a time of day may follow), by the name of their order -- year
    first, day first or month first (``dayfirst`` rules out one of the last two) -- that
    makes every date valid; None when the labels are of another form.  Raises ValueError
    when no order does."""
    days, times = _split_times(values.astype(str))
    fields = days.str.extract(_TWO_DIGIT_YEAR)
    if fields.isna().any().any():
        return None
    a, b, c = (fields[i].astype(int) for i in (0, 2, 3))
    orders = {"year first (YY-MM-DD)": (a, b, c), "day first (DD-MM-YY)": (c, b, a),
              "month first (MM-DD-YY)": (c, a, b)}
    if dayfirst is not None:
        del orders["month first (MM-DD-YY)" if dayfirst else "day first (DD-MM-YY)"]
    readings = {}
    for name, (year, month, day) in orders.items():
        # two-digit years as pandas and strptime read them: 69-99 -> 19xx, 00-68 -> 20xx
        full = np.where(year >= 69, 1900 + year, 2000 + year)
        dates = pd.to_datetime(pd.DataFrame({"year": full, "month": month, "day": day}),
                               errors="coerce")
        if dates.notna().all():
            readings[name] = pd.DatetimeIndex(dates)
    distinct: dict = {}
    for name, dates in readings.items():  # orders that agree on every date are one reading
        if not any(dates.equals(kept) for kept in distinct.values()):
            distinct[name] = dates
    if not distinct:
        raise ValueError(f"its two-digit-year dates read as no valid date in any order "
                         f"({', '.join(orders)})")
    if (times != "").any():
        text = values.astype(str)
        return {name: pd.DatetimeIndex(_read_iso(_iso_days(pd.Series(dates, index=text.index))
                                                 + times, text))
                for name, dates in distinct.items()}
    return distinct


def _read_two_digit_years(values: pd.Series, dayfirst, where: str) -> pd.Series | None:
    """``values`` as dates when every one is three numbers of one or two digits, read in
    the one order that makes every date valid (:func:`_two_digit_readings`); refused when
    several do and differ.  None when the labels are of another form."""
    distinct = _two_digit_readings(values, dayfirst)
    if distinct is None:
        return None
    if len(distinct) == 1:
        return pd.Series(next(iter(distinct.values())), index=values.index)
    raise _AmbiguousDates(
        f"{where}: the `date` column's dates have two-digit years and read validly, and "
        f"differently, {' and '.join(distinct)}, e.g. {values.iloc[0]!r}.  Write the dates "
        f"year first with four digits (ISO, YYYY-MM-DD)"
        + ("" if dayfirst is not None else ", or pass dayfirst=True or dayfirst=False if "
           "the year is last"))


class _MixedDates(ValueError):
    """Dates written in several forms (``2001-03-01`` beside ``01/02/2001``), or some with a
    UTC offset and some without: no one reading is known to be meant."""


# an ISO-8601 date, a time and a UTC offset optional: 2021-03-15, 2021-03-15 16:00,
# 2021-03-15T16:00:00.5-04:00
_ISO_DATE = re.compile(r"\s*\d{4}-\d{2}-\d{2}(?:[Tt ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
                       r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?\s*")


def _shapes(text: pd.Series) -> pd.Series:
    """Each label's form: that of its date (a time of day following it is no other form),
    digits as 9, letters as a (``2001-03-01 16:00`` -> ``9999-99-99``)."""
    return (_split_times(text)[0].str.strip().str.replace(r"\d", "9", regex=True)
            .str.replace(r"[^\W\d_]", "a", regex=True))


def _each_form_reads(text: pd.Series) -> bool:
    """Whether ``text`` holds several forms (:func:`_shapes`) and the dates of each read
    as dates on their own: dates written in mixed forms, rather than labels that are not
    dates."""
    days = _split_times(text)[0]
    groups = days.groupby(_shapes(text), sort=False)
    if groups.ngroups < 2:
        return False
    for _, group in groups:
        try:
            with silenced(UserWarning):
                pd.to_datetime(group)
        except (TypeError, ValueError, OverflowError):
            return False
    return True


def _date_forms(text: pd.Series, shown: int = 3) -> str:
    """The rows of each form of date in ``text`` ("rows 1, 3 like '2001-03-01' and row 2
    like '01/02/2001'"; rows numbered as :func:`_data_rows` numbers them), a form being
    the pattern of digits, letters and separators of the date."""
    groups = list(text.groupby(_shapes(text), sort=False).groups.values())
    parts = [f"{_data_rows(rows)} like {text[rows[0]]!r}" for rows in groups[:shown]]
    more = f" (and {len(groups) - shown} other forms)" if len(groups) > shown else ""
    return ", ".join(parts[:-1]) + f" and {parts[-1]}{more}" if len(parts) > 1 else parts[0]


def _mixed_forms(text: pd.Series) -> _MixedDates:
    return _MixedDates(f"{_date_forms(text)}: write every date in one form, e.g. year first "
                       f"(ISO 8601: YYYY-MM-DD, a time and UTC offset optional)")


def _iso_days(dates: pd.Series) -> pd.Series:
    """Dates (midnight) as ISO 8601 writes them: ``2001-03-01``."""
    return dates.dt.strftime("%Y-%m-%d")


def _read_iso(text: pd.Series, written: pd.Series) -> pd.Series:
    """ISO 8601 dates, a time on some rows only, UTC offsets converted to UTC (which keeps
    the order of times); UTC offsets on some rows only raise :class:`_MixedDates`, which
    shows the labels as ``written``."""
    offset = text.str.extract(_ISO_DATE)[0].notna()
    if offset.any() and not offset.all():
        one, other = offset.sum() == 1, (~offset).sum() == 1
        raise _MixedDates(
            f"{_data_rows(text.index[offset])} {'carries' if one else 'carry'} a UTC "
            f"offset and {_data_rows(text.index[~offset])} "
            f"{'does' if other else 'do'} not (e.g. {written[offset].iloc[0]!r} and "
            f"{written[~offset].iloc[0]!r}), so the order of their times is not known: "
            f"write the offset on every date, or on none")
    return pd.to_datetime(text, format="ISO8601", utc=bool(offset.any()))


def _read_other_dates(values: pd.Series) -> pd.Series:
    """Dates neither of digits alone nor day or month first: what pandas reads of one form
    (ISO, ``Jan 2 2001``, ...), also with a time of day on some rows only, and with
    several UTC offsets (daylight saving time: converted to UTC, which keeps their order).
    Several forms of date, or UTC offsets on some rows only, raise :class:`_MixedDates`."""
    text = values.astype(str)
    try:
        with silenced(UserWarning):  # pandas' "could not infer format": one by one
            return pd.to_datetime(values)
    except (TypeError, ValueError, OverflowError) as exc:
        failure = exc
    if _each_form_reads(text):
        raise _mixed_forms(text)
    days, times = _split_times(text)
    if _shapes(text).nunique() == 1:
        # one form of date, a time on some rows only: the dates read in that one form
        # (as pandas reads a column of one form), then their times
        try:
            with silenced(UserWarning):
                read = pd.to_datetime(days)
            if (read == read.dt.normalize()).all():
                return _read_iso(_iso_days(read) + times, text)
        except _MixedDates:
            raise
        except (TypeError, ValueError, OverflowError) as exc:
            failure = exc  # pandas' reason for the dates ("month must be in 1..12: ...")
    # pandas' advice (format=, format='mixed') is for its own callers: left off
    raise ValueError(str(failure).split(" You might want to try")[0]) from None


def _read_dates(values: pd.Series, dayfirst, where: str) -> pd.Series:
    """``values`` as dates; see :func:`load_prices` for the day-first rule."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        # read as numbers by the CSV reader: 20001101 (YYYYMMDD), which pandas would take
        # for nanoseconds since 1970
        whole = values.notna() & (values % 1 == 0)
        text = values.where(whole, 0).astype("int64").astype(str)
        bad = ~whole | ~text.str.fullmatch(r"\d{8}")
        if bad.any():
            raise ValueError(f"it holds numbers that are not dates written YYYYMMDD, e.g. "
                             f"{float(values[bad].iloc[0]):.15g} "
                             f"({_data_rows(values.index[bad][:1])})")
        return pd.to_datetime(text, format="%Y%m%d")
    two_digit = _read_two_digit_years(values, dayfirst, where)
    if two_digit is not None:
        return two_digit
    fields = values.astype(str).str.extract(_DAY_MONTH_YEAR)
    written = fields[0].notna()
    if not written.any():  # year first (ISO) or another form: pandas' dayfirst would misread it
        return _read_other_dates(values)
    if not written.all():  # 01/02/2001 beside 2001-03-01: dayfirst would not read both
        if _each_form_reads(values.astype(str)):
            raise _mixed_forms(values.astype(str))
        other = values[~written]
        raise ValueError(f"{other.iloc[0]!r} ({_data_rows(other.index[:1])}) is not a date "
                         f"of the form of {values[written].iloc[0]!r} nor of another")
    first, second = fields[0].astype(int), fields[1].astype(int)
    valid = {False: (first <= 12) & (second <= 31), True: (second <= 12) & (first <= 31)}
    if dayfirst is None:
        if valid[False].all() and valid[True].all():
            differ = first != second
            if differ.any():
                at = differ.idxmax()
                raise _AmbiguousDates(
                    f"{where}: the `date` column's dates read validly both day first and "
                    f"month first (no day above 12), e.g. {values[at]!r} is day {first[at]} "
                    f"of month {second[at]} or day {second[at]} of month {first[at]}.  Write "
                    f"the dates year first (ISO, YYYY-MM-DD), or pass dayfirst=True "
                    f"(DD/MM/YYYY) or dayfirst=False (MM/DD/YYYY)")
        if not (valid[False].all() or valid[True].all()):
            raise ValueError(f"neither day first ({values[(~valid[True]).idxmax()]!r} is no "
                             f"date so) nor month first ({values[(~valid[False]).idxmax()]!r} "
                             f"is no date so) reads every date")
        dayfirst = not valid[False].all()
    elif not valid[bool(dayfirst)].all():
        # pandas would quietly read such a date the other way round
        bad = values[(~valid[bool(dayfirst)]).idxmax()]
        order = "day first (DD/MM/YYYY)" if dayfirst else "month first (MM/DD/YYYY)"
        raise ValueError(f"{bad!r} is not a valid date read {order}, as dayfirst={dayfirst} "
                         f"says")
    try:
        return pd.to_datetime(values, dayfirst=bool(dayfirst))
    except ValueError:
        # a time on some rows only (01/02/2001, 02/02/2001 16:00): read one by one, in the
        # order every date was checked valid in just above
        with silenced(UserWarning):
            return pd.to_datetime(values, dayfirst=bool(dayfirst), format="mixed")


#: The readings of string dates, by name, as :func:`_time_orders` gives them.
_MONTH_FIRST, _DAY_FIRST = "month first (MM/DD/YYYY)", "day first (DD/MM/YYYY)"


def _time_orders(index: pd.Index) -> dict:
    """The index read as times, in every way its labels allow, by the name of the
    reading (empty when they are not times): dates and periods as they are, numbers as
    they are, strings as numbers or as dates as :func:`load_prices` reads them -- in
    each order that makes every date valid where that is open (``01/02/2020``: month
    first and day first; two-digit years).  Strings in several forms of date raise
    :class:`_MixedDates`."""
    if isinstance(index, (pd.DatetimeIndex, pd.PeriodIndex, pd.TimedeltaIndex)):
        return {"as given": index}
    if pd.api.types.is_numeric_dtype(index) and not pd.api.types.is_bool_dtype(index):
        return {"as given": index}
    try:
        return {"as numbers": pd.Index(pd.to_numeric(index))}  # numbers written as strings
    except (TypeError, ValueError):
        pass
    values = pd.Series(index.astype(str))  # labels 0, 1, ...: rows counted from 1
    try:
        two_digit = _two_digit_readings(values, None)
        if two_digit is not None:
            return two_digit
        try:
            return {"as written": pd.DatetimeIndex(_read_dates(values, None, ""))}
        except _AmbiguousDates:  # day first or month first
            return {name: pd.DatetimeIndex(_read_dates(values, flag, ""))
                    for name, flag in ((_MONTH_FIRST, False), (_DAY_FIRST, True))}
    except _MixedDates:
        raise
    except (TypeError, ValueError, OverflowError):
        return {}


def _check_time_order(index: pd.Index, name: str) -> None:
    """Returns are taken between consecutive rows, so the rows must run forward in time:
    an index of dates (also as strings, as ``read_csv`` leaves them, read as
    :func:`load_prices` reads them), periods or numbers must be strictly increasing.
    String dates that read validly both month first and day first (``01/02/2001``) must
    run forward in both readings (then the returns are the same); other labels cannot
    be checked and are refused."""
    if isinstance(index, pd.RangeIndex):
        if index.step > 0 or len(index) < 2:
            return  # the rows' own order (no labels)
        # a default index running down: the rows were reversed, and nothing says whether
        # they now run oldest first (a vendor's newest-first table put right) or not
        raise ValueError(
            f"`{name}` has no dates and its default index runs down ({index[0]} .. "
            f"{index[-1]}): the rows were reversed, and their order cannot be checked.  "
            f"Pass the dates as the index, or `{name}.reset_index(drop=True)` once the rows "
            f"run oldest first")
    missing = None if isinstance(index, pd.MultiIndex) else np.flatnonzero(pd.isna(index))
    if missing is not None and missing.size:
        at = ", ".join(str(i) for i in missing[:5]) + (" ..." if missing.size > 5 else "")
        raise ValueError(f"`{name}` has {missing.size} row(s) without a date (NaT or NaN in "
                         f"the index) at position(s) {at} (counting from 0): give them their "
                         f"dates, or drop them")
    try:
        readings = _time_orders(index)
    except _MixedDates as exc:
        raise ValueError(f"`{name}` index mixes forms of date (rows counted from 1): "
                         f"{exc}") from None
    if not readings:
        raise ValueError(
            f"`{name}` index must be dates (or increasing numbers), so that the order of "
            f"the rows can be checked; got labels such as {index[0]!r}.  Pass "
            f"`{name}.reset_index(drop=True)` if the rows are already in time order")
    times = list(readings.values())
    if all(not t.is_unique for t in times):
        repeated = list(dict.fromkeys(index[times[0].duplicated(keep=False)]))
        shown = ", ".join(_show_label(label) for label in repeated[:5])
        raise ValueError(f"`{name}` dates must be strictly increasing, got {len(repeated)} "
                         f"date(s) on more than one row: {shown}"
                         + (" ..." if len(repeated) > 5 else "")
                         + f"; keep one row per date (e.g. `{name}[~{name}.index.duplicated()]`"
                           f" keeps the first)")
    forward = {reading: bool(t.is_monotonic_increasing and t.is_unique)
               for reading, t in readings.items()}
    if all(forward.values()):
        return
    if any(forward.values()):
        # string dates that read validly in two orders, forward in one and not in the
        # other: which is meant decides the sign of every return, so neither is guessed
        good = next(reading for reading, ok in forward.items() if ok)
        bad = next(reading for reading, ok in forward.items() if not ok)
        times = readings[bad]
        at = int(np.flatnonzero(times[1:] <= times[:-1])[0])
        raise ValueError(
            f"`{name}` dates read validly both {good} and {bad}, and the rows run forward "
            f"in time only read {good}: rows {at + 1} and {at + 2} (counting from 1), "
            f"{index[at]!r} and {index[at + 1]!r}, run backward read {bad}.  Pass the index "
            f"as dates read as they are written, e.g. `{name}.set_axis(pd.to_datetime("
            f"{name}.index, dayfirst=True))` for day first, then sort the rows by date "
            f"(sort_index())")
    # shuffled or newest-first rows give wrong returns without any other sign
    newest_first = all(t.is_monotonic_decreasing for t in times)
    order = "decreasing (newest first?)" if newest_first else "unsorted"
    raise ValueError(f"`{name}` dates must be strictly increasing, got {order} dates "
                     f"from {index[0]!r} to {index[-1]!r}; sort the rows by date "
                     f"(pd.to_datetime the index, then sort_index())")


def _check_numeric(frame: pd.DataFrame, name: str, what: str) -> None:
    """Refuse columns that are not numbers (strings, objects, booleans), by name."""
    not_numeric = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])
                   or pd.api.types.is_bool_dtype(frame[c])]
    if not_numeric:
        raise TypeError(
            f"`{name}` must hold numeric {what}; column(s) {not_numeric} have dtype(s) "
            f"{[str(frame[c].dtype) for c in not_numeric]}"
        )


#: Column names (case and spaces aside) that say the column may hold the dates of the rows,
#: not a ticker's prices or returns.
_DATE_COLUMNS = ("date", "dates", "time", "timestamp", "datetime")


def _holds_dates(values) -> bool:
    """Whether ``values`` (a column or an index) are dates: of a date or period dtype,
    whole numbers written YYYYMMDD that are valid dates, or strings, not numbers, that
    read as dates."""
    values = pd.Series(values).dropna()
    if pd.api.types.is_datetime64_any_dtype(values) or isinstance(values.dtype,
                                                                   pd.PeriodDtype):
        return True
    if values.empty or pd.api.types.is_bool_dtype(values):
        return False
    if pd.api.types.is_numeric_dtype(values):
        if pd.api.types.is_complex_dtype(values) or not (
                values.between(10_000_101, 99_991_231) & (values % 1 == 0)).all():
            return False
        text = values.astype("int64").astype(str)
        return bool(pd.to_datetime(text, format="%Y%m%d", errors="coerce").notna().all())
    text = values.astype(str)
    if pd.to_numeric(text, errors="coerce").notna().any():  # numbers written as strings
        return False
    try:
        with silenced(UserWarning):  # pandas' "could not infer format"
            pd.to_datetime(text, format="mixed")
    except (TypeError, ValueError, OverflowError):
        return False
    return True


def _check_no_date_column(frame: pd.DataFrame, name: str) -> None:
    """Refuse a column named like a date column (:data:`_DATE_COLUMNS`) that holds dates
    (20000131, a date dtype, date strings) while the index does not (a default index): the
    dates were left among the tickers and would be taken for an asset's prices.  A column
    so named beside dates in the index is a ticker (Time Inc. traded as TIME)."""
    if not isinstance(frame.index, pd.RangeIndex) and _holds_dates(frame.index):
        return
    dated = [c for c in frame.columns
             if isinstance(c, str) and c.strip().lower() in _DATE_COLUMNS
             and _holds_dates(frame[c])]
    if dated:
        raise ValueError(f"`{name}` has a column named {dated[0]!r} holding dates, which "
                         f"would be read as an asset: the dates belong in the index, one "
                         f"column per ticker.  Pass `{name}.set_index({dated[0]!r})` "
                         f"(load_prices reads a CSV so)")


def _check_prices(prices, name: str, *, min_rows: int) -> np.ndarray:
    """Validate a price table and return its values as a float array."""
    if not isinstance(prices, pd.DataFrame):
        raise TypeError(
            f"`{name}` must be a pandas DataFrame (dates x tickers), got "
            f"{type(prices).__name__}"
        )
    if prices.shape[1] == 0:
        raise ValueError(f"`{name}` must have at least one column (ticker), got none")
    if not prices.columns.is_unique:
        dupes = list(prices.columns[prices.columns.duplicated()])
        raise ValueError(f"`{name}` columns must be unique tickers, got duplicates {dupes}")
    _check_no_date_column(prices, name)
    # before the dtypes: a table without rows has columns of dtype object
    if len(prices) < min_rows:
        raise ValueError(
            f"`{name}` must have at least {min_rows} rows (dates), got {len(prices)}"
        )
    _check_numeric(prices, name, "prices")
    _check_time_order(prices.index, name)
    values = prices.to_numpy(dtype=float)
    finite = np.isfinite(values)
    if not finite.all():
        bad = (~finite).sum(axis=0)
        detail = ", ".join(f"{c!r} ({k})" for c, k in zip(prices.columns, bad, strict=True) if k)
        first = _show_label(prices.index[np.flatnonzero(~finite.all(axis=1))[0]])
        raise ValueError(
            f"`{name}` has {int(bad.sum())} missing or non-finite (NaN or inf) value(s) in "
            f"column(s) {detail}, the first on the row of {first}"
        )
    if np.any(values <= 0):
        bad = (values <= 0).sum(axis=0)
        detail = ", ".join(f"{c!r} ({k})" for c, k in zip(prices.columns, bad, strict=True) if k)
        raise ValueError(
            f"`{name}` must be > 0 (simple returns divide by the previous price); got "
            f"{int(bad.sum())} value(s) <= 0 in column(s) {detail}, minimum {values.min():g}"
        )
    return values


def _returns(prices: pd.DataFrame, values: np.ndarray) -> pd.DataFrame:
    # by hand rather than DataFrame.pct_change, whose NaN-filling default changed across
    # pandas versions; (p1 - p0) / p0 rather than p1 / p0 - 1, which cancels for small
    # returns (and is the notebook's formula).  Prices are already checked finite and > 0.
    out = np.diff(values, axis=0) / values[:-1]
    return pd.DataFrame(out, index=prices.index[1:], columns=prices.columns)


def returns_from_prices(prices) -> pd.DataFrame:
    r"""Simple returns :math:`r_t = p_t / p_{t-1} - 1` of a price table.

    Parameters
    ----------
    prices : pandas.DataFrame
        Positive finite prices, shape ``(T, n)`` (dates x tickers), ``T >= 2``.

    Returns
    -------
    pandas.DataFrame
        Shape ``(T - 1, n)``: the first date has no return and is dropped.

    Examples
    --------
    >>> prices = pd.DataFrame({"A": [100.0, 110.0, 99.0]})
    >>> returns_from_prices(prices)["A"].round(12).tolist()
    [0.1, -0.1]
    """
    values = _check_prices(prices, "prices", min_rows=2)
    return _returns(prices, values)


def estimate(prices) -> tuple[pd.Series, pd.DataFrame]:
    r"""Sample mean and covariance of the simple returns of a price table.

    .. math::

        \hat\mu = \frac1{T-1}\sum_{t=1}^{T-1} r_t, \qquad
        \hat\Sigma = \frac1{T-2}\sum_{t=1}^{T-1} (r_t - \hat\mu)(r_t - \hat\mu)^\top

    (``ddof=1`` over the ``T - 1`` returns of ``T`` prices).

    Parameters
    ----------
    prices : pandas.DataFrame
        Positive finite prices, shape ``(T, n)``, ``T >= 3`` (dates x tickers).

    Returns
    -------
    mu : pandas.Series
        Expected returns per period, indexed by ticker.
    cov : pandas.DataFrame
        Covariance, ``(n, n)``, indexed by ticker on both axes.

    Examples
    --------
    >>> mu, cov = estimate(load_prices())
    >>> (100 * mu).round(2).tolist()      # % per month, as in the jaxls notebook
    [2.6, 0.81, 7.37]
    >>> cov.shape
    (3, 3)
    """
    values = _check_prices(prices, "prices", min_rows=3)
    returns = _returns(prices, values)
    r = returns.to_numpy()
    with np.errstate(over="ignore", invalid="ignore"):  # checked just below
        mu = r.mean(axis=0)
        centred = r - mu
        cov = centred.T @ centred / (r.shape[0] - 1)
    if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(cov))):
        raise ValueError("`prices` give returns too large to estimate moments from "
                         "(their mean or covariance overflows)")
    labels = prices.columns
    return (pd.Series(mu, index=labels, name="mu"),
            pd.DataFrame(cov, index=labels, columns=labels))


# -- validation of mu and cov ------------------------------------------------------------
def _numeric_array(value, name: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be numeric, got {type(value).__name__}") from None
    if not np.all(np.isfinite(arr)):
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"`{name}` has {bad} non-finite (NaN or inf) value(s)")
    return arr


def _check_mu_cov(mu, cov, mu_name: str = "mu", cov_name: str = "cov"):
    """Validate ``(mu, cov)``; return ``(labels, mu, cov, labelled)`` with float arrays.

    ``cov`` is reordered to ``mu``'s labels when both carry labels, checked symmetric and
    positive semi-definite (see the module docstring), and symmetrised.  ``labelled`` says
    whether the labels came from the caller (a Series or DataFrame) or are positions.  An
    unlabelled ``mu`` with a labelled ``cov`` is refused; a labelled ``mu`` with an array
    ``cov`` takes the array's rows and columns in ``mu``'s order.
    """
    given = mu
    mu, cov = as_pandas(mu, f"`{mu_name}`"), as_pandas(cov, f"`{cov_name}`")
    if isinstance(mu, pd.DataFrame):
        passed = (f"a 2-D xarray DataArray (dimensions {[str(d) for d in given.dims]})"
                  if is_data_array(given) else "a DataFrame")
        raise TypeError(f"`{mu_name}` must be a Series or 1-D array, got {passed}: pass the "
                        f"one vector of expected returns")
    mu_labels = mu.index if isinstance(mu, pd.Series) else None
    mu_arr = _numeric_array(mu, mu_name)
    if mu_arr.ndim != 1 or mu_arr.size == 0:
        raise ValueError(
            f"`{mu_name}` must be a non-empty 1-D vector of expected returns, got shape "
            f"{mu_arr.shape}"
        )
    n = mu_arr.size
    if mu_labels is not None and not mu_labels.is_unique:
        raise ValueError(f"`{mu_name}` labels must be unique, got {list(mu_labels)}")

    cov_labels = None
    if isinstance(cov, pd.DataFrame):
        if not cov.columns.is_unique or set(cov.index) != set(cov.columns) or (
            len(cov.index) != len(cov.columns)
        ):
            raise ValueError(
                f"`{cov_name}` must be square with the same labels on rows and columns, got "
                f"rows {list(cov.index)} and columns {list(cov.columns)}"
            )
        if mu_labels is None:
            # a DataFrame's rows and columns may run in different orders, and nothing says
            # which (if either) an array of returns follows
            raise ValueError(
                f"`{mu_name}` has no labels but `{cov_name}` has ({list(cov.columns)}), so "
                f"which return belongs to which asset is not known.  Pass `{mu_name}` as a "
                f"pandas Series indexed by those labels (pd.Series({mu_name}, "
                f"index={cov_name}.columns) if it follows the columns' order), or "
                f"`{cov_name}` as an array in `{mu_name}`'s order")
        cov = cov.loc[cov.columns]
        cov_labels = cov.columns
    cov_arr = _numeric_array(cov, cov_name)
    if cov_arr.shape != (n, n):
        raise ValueError(
            f"`{cov_name}` must have shape ({n}, {n}) to match `{mu_name}` ({n} assets), "
            f"got {cov_arr.shape}"
        )

    if mu_labels is not None and cov_labels is not None:
        if set(mu_labels) != set(cov_labels):
            raise ValueError(
                f"`{mu_name}` and `{cov_name}` must label the same assets, got "
                f"{mu_name} {list(mu_labels)} and {cov_name} {list(cov_labels)}"
            )
        order = cov_labels.get_indexer(mu_labels)
        cov_arr = cov_arr[np.ix_(order, order)]
    labels = mu_labels if mu_labels is not None else cov_labels
    labelled = labels is not None
    if labels is None:
        labels = pd.RangeIndex(n)

    scale = float(np.abs(cov_arr).max())
    asym = float(np.abs(cov_arr - cov_arr.T).max())
    if asym > _SYMMETRY_RTOL * scale:
        raise ValueError(
            f"`{cov_name}` must be symmetric: max |cov - cov.T| = {asym:.3g} exceeds "
            f"{_SYMMETRY_RTOL:g} x max |cov| = {_SYMMETRY_RTOL * scale:.3g}"
        )
    cov_arr = 0.5 * (cov_arr + cov_arr.T)
    eig, vec = np.linalg.eigh(cov_arr)
    if eig[0] < -_PSD_RTOL * max(eig[-1], 0.0):
        raise ValueError(
            f"`{cov_name}` is not positive semi-definite: smallest eigenvalue {eig[0]:.6g} "
            f"is below the round-off tolerance -{_PSD_RTOL:g} x largest ({eig[-1]:.6g})"
        )
    if eig[0] < 0:
        # round-off negatives: the solvers below take Sigma as PSD (cp.psd_wrap)
        cov_arr = (vec * np.maximum(eig, 0.0)) @ vec.T
        cov_arr = 0.5 * (cov_arr + cov_arr.T)
    return labels, mu_arr, cov_arr, labelled


def _risk_aversion(value) -> float:
    gamma = real_scalar(value, "risk_aversion")
    if gamma <= 0:
        raise ValueError(f"`risk_aversion` must be > 0, got {gamma}")
    return gamma


def _bool(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be True or False, got {value!r}")
    return bool(value)


# -- cvxpy solves ------------------------------------------------------------------------
#: Below this minimum variance, relative to the largest asset's, the variance form's absolute
#: tolerance (1e-10) is a visible share of the optimum: re-solved as a volatility.
#: Measured (cash of variance eps beside 4e-4 and 2.5e-3, weights against 1/variance): at a
#: relative minimum of 4e-4 variance / volatility form 1.5e-9 / 1.5e-8 off, at 4e-5
#: 8.2e-7 / 1.1e-8, at 4e-8 7.2e-6 / 3.7e-10.
_TINY_VARIANCE = 1e-4


def _volatility(w: cp.Variable, cov: np.ndarray):
    r"""The portfolio's volatility :math:`\|L^\top w\|_2` over the largest asset's
    (:math:`\Sigma = L L^\top` from the eigendecomposition; round-off negative eigenvalues
    count 0): the variance's minimisers, with the solver's absolute tolerance bounding an
    error in volatility rather than in variance."""
    values, vectors = np.linalg.eigh(cov)
    top = float(np.diag(cov).max())
    factor = vectors * np.sqrt(np.clip(values, 0.0, None) / (top if top > 0 else 1.0))
    return cp.norm(factor.T @ w, 2)


class _MinVariance:
    r""":math:`\min w^\top\Sigma w` s.t. :math:`\mathbf 1^\top w = 1`, :math:`\mu^\top w \ge`
    ``target`` (a parameter, when ``with_target``), :math:`w \ge 0` (long only); compiled
    once and solved per target.  Where the minimum is below :data:`_TINY_VARIANCE` of the
    largest variance it is solved again as a volatility (:func:`_volatility`): the variance
    form left a cash asset's weights 7e-6 off and, with :math:`BB^\top + 10^{-9}I` (``B``
    of shape 8 x 3: full rank, ill-conditioned), weights 1.3e-2 off (a 1e-10 gap on a
    minimum variance of 1.4e-10)."""

    def __init__(self, mu: np.ndarray, cov: np.ndarray, long_only: bool, with_target: bool):
        self.mu, self.cov, self.long_only = mu, cov, long_only
        self.w = cp.Variable(mu.size, name="w")
        self.target = cp.Parameter(name="target_return") if with_target else None
        self.constraints = [cp.sum(self.w) == 1]
        # the return row and its target in units of a power of two near max|mu| (an exact
        # rescaling: the same minimisers): the solver's feasibility tolerances are
        # absolute, and unscaled returns of 1e20 made the long-only minimum-variance
        # point "infeasible", of 1e150 failed the solver outright
        self.mu_unit = _power_of_two(float(np.abs(mu).max()))
        if with_target:
            self.constraints.append((mu / self.mu_unit) @ self.w >= self.target)
        if long_only:
            self.constraints.append(self.w >= 0)
        scale = _objective_scale(float(np.diag(cov).max()))
        self.variance = cp.Problem(cp.Minimize(
            cp.quad_form(self.w, cp.psd_wrap(cov / scale))), self.constraints)
        self.volatility = None

    def solve(self, target, what: str, warm_start: bool = False) -> np.ndarray:
        if self.target is not None:
            self.target.value = target / self.mu_unit
        _solve(self.variance, what, warm_start=warm_start)
        weights = np.asarray(self.w.value, dtype=float)
        if self.variance.value >= _TINY_VARIANCE:
            return weights
        if self.volatility is None:
            self.volatility = cp.Problem(cp.Minimize(_volatility(self.w, self.cov)),
                                         self.constraints)
        try:
            # at a volatility of ~0 Clarabel often ends "optimal_inaccurate" with weights
            # 5e-15 from the closed form: judged below, not by its status
            with suppressed(InaccurateSolutionWarning):
                _solve(self.volatility, what, warm_start=warm_start)
        except SolverError:
            return weights  # the variance form's answer stands, with its own status
        again = np.asarray(self.w.value, dtype=float)
        if self.volatility.status == cp.OPTIMAL or self._better(again, weights, target):
            return again
        return weights

    def _better(self, again: np.ndarray, first: np.ndarray, target) -> bool:
        """Whether ``again`` meets the constraints (to 1e-9) at no more variance."""
        feasible = (abs(again.sum() - 1.0) <= 1e-9
                    and (not self.long_only or again.min() >= -1e-9)
                    and (target is None
                         or self.mu @ again >= target - 1e-9 * max(1.0, abs(target))))
        return bool(feasible and again @ self.cov @ again <= first @ self.cov @ first)


def _power_of_two(magnitude: float) -> float:
    """The power of two in (``magnitude``/2, ``magnitude``] (1 for 0): dividing by it is
    exact in floating point."""
    return float(2.0 ** (np.frexp(magnitude)[1] - 1)) if magnitude > 0 else 1.0


def _objective_scale(*magnitudes: float) -> float:
    # Clarabel's gap tolerances are absolute below unit objective: monthly variances are
    # ~1e-2, so the objective is divided by its largest coefficient before solving
    scale = max(magnitudes)
    return scale if scale > 0 else 1.0


def _solve(problem: cp.Problem, what: str, *, warm_start: bool = False) -> None:
    """Solve with Clarabel and apply the solver-status policy of :mod:`wfr_cvx.errors`."""
    try:
        # cvxpy's own "solution may be inaccurate" UserWarning: the policy below reports it
        # once as an InaccurateSolutionWarning
        with silenced(UserWarning):
            problem.solve(solver=cp.CLARABEL, warm_start=warm_start, **_CLARABEL_SETTINGS)
    except cp.error.SolverError as exc:
        raise SolverError(f"{what}: the solver failed ({exc})", status="solver_error",
                          backend="cvxpy") from exc
    status = problem.status
    if status == cp.OPTIMAL:
        return
    if status == cp.OPTIMAL_INACCURATE:
        warn(
            InaccurateSolutionWarning(f"{what}: solved to reduced accuracy (status {status!r})"),
            stacklevel=None,
        )
        return
    if status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
        raise InfeasibleError(f"{what} is infeasible", status=status, backend="cvxpy")
    raise SolverError(f"{what} was not solved", status=str(status), backend="cvxpy")


def _clip_long_only(w: np.ndarray, budget: float) -> np.ndarray:
    # Clarabel meets w >= 0 to its feasibility tolerance (~1e-12 here, at most 1e-10), not
    # exactly: tiny negatives are set to 0 and the budget restored by rescaling
    w = np.maximum(w, 0.0)
    total = w.sum()
    return w * (budget / total) if total > 0 else w


# -- ties among the minimisers ----------------------------------------------------------
#: Eigenvalues of the covariance at most this many machine epsilons times n (assets) of the
#: largest count as zero when the minimisers of the variance are told apart: the round-off
#: of ``eigh``, below which a full-rank covariance cannot be told from a singular one.  A
#: budget-1 move along them changes the variance by at most ~2 n eps of the largest
#: eigenvalue (3.5e-15 at 8 assets).  With 1e-12 (the level the PSD check calls round-off),
#: a full-rank covariance BB' + 1e-13 lam_max I in 8 assets had its one minimiser moved to
#: a portfolio of 2.4x its variance, and its long-short frontier refused as unbounded.
_NULL_EPS = 4.0
#: A fully hedged zero-variance move gaining less than this share of max|mu| per unit of
#: weight counts as gaining nothing (round-off of mu and of the null eigenvectors).
_GAIN_RTOL = 1e-9
_HIGHS_OPTIONS = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}


class _UnboundedTie(Exception):
    """Long-short: the minimisers' returns have no maximum (see _efficient_minimiser);
    ``hedge`` is a fully hedged zero-variance position with positive return."""

    def __init__(self, hedge: np.ndarray):
        super().__init__(hedge)
        self.hedge = hedge


def _efficient_minimiser(w: np.ndarray, mu: np.ndarray, cov: np.ndarray, long_only: bool,
                         what: str) -> np.ndarray:
    r"""The minimiser of the variance with the highest return, given any minimiser ``w``.

    Two minimisers of :math:`w^\top\Sigma w` on a convex set differ by a null vector of
    :math:`\Sigma` (else their midpoint would have less variance), so the minimisers are
    the feasible :math:`v` with :math:`U^\top v = U^\top w`, :math:`U` the eigenvectors of
    the non-zero eigenvalues (those above :data:`_NULL_EPS` n machine epsilons of the
    largest).  Long only, the best of them solves the linear programme
    :math:`\max\mu^\top v` s.t. :math:`U^\top v = U^\top w`, :math:`\mathbf 1^\top v = 1`,
    :math:`v \ge 0` (HiGHS, a vertex: exact zeros).  A non-singular covariance, or one whose
    fully hedged null moves (:math:`d = Nz`, :math:`\mathbf 1^\top d = 0`) do not change
    the return, returns ``w`` itself.  Long-short, such a move that does change the return
    can be scaled without limit: raises :class:`_UnboundedTie` with one (long side 1).
    """
    eig, vec = np.linalg.eigh(cov)
    largest = max(float(eig[-1]), 0.0)
    null = eig <= _NULL_EPS * mu.size * np.finfo(float).eps * largest
    if not null.any():
        return w
    basis = vec[:, null]
    # the null moves that keep the budget: basis @ z with (basis.T @ 1) . z = 0
    hedges = basis @ scipy.linalg.null_space((basis.T @ np.ones(mu.size))[None, :])
    gain = float(np.linalg.norm(hedges.T @ mu)) if hedges.size else 0.0
    if gain <= _GAIN_RTOL * float(np.abs(mu).max()):
        return w
    if not long_only:
        hedge = hedges @ (hedges.T @ mu)  # the steepest gain
        raise _UnboundedTie(hedge / hedge[hedge > 0].sum())
    kept = vec[:, ~null]
    result = linprog(-mu / float(np.abs(mu).max()),
                     A_eq=np.vstack([kept.T, np.ones(mu.size)]),
                     b_eq=np.append(kept.T @ w, 1.0), bounds=(0, None), method="highs",
                     options=_HIGHS_OPTIONS)
    if result.status != 0:
        raise SolverError(f"{what}: the linear programme for the highest-return minimiser "
                          f"failed ({result.message})", status=str(result.status),
                          backend="highs")
    best = _clip_long_only(np.asarray(result.x, dtype=float), 1.0)
    # a safety net: a tie keeps the variance, to the null eigenvalues' size
    rise = float(best @ cov @ best) - float(w @ cov @ w)
    if rise > 1e-9 * float(w @ cov @ w) + 2 * mu.size * np.finfo(float).eps * largest:
        return w
    return best if best @ mu > w @ mu else w


# -- portfolios --------------------------------------------------------------------------
def mean_variance(mu, cov, *, risk_aversion=1.0, long_only=True, budget=1.0) -> pd.Series:
    r"""Mean-variance portfolio of Markowitz (1952).

    .. math::

        \min_w\ \tfrac12\gamma\, w^\top\Sigma w - \mu^\top w
        \quad\text{s.t.}\quad \mathbf 1^\top w = b,\ (w \ge 0 \text{ if long only}).

    Without the sign constraint the solution is
    :math:`w = \Sigma^{-1}(\mu - \nu\mathbf 1)/\gamma` with :math:`\nu` set by the budget.
    Solved by Clarabel through cvxpy; long-only weights are clipped at 0 (round-off of
    the solver's feasibility tolerance) and rescaled to the budget.

    Parameters
    ----------
    mu : pandas.Series or array_like, shape (n,)
        Expected returns.
    cov : pandas.DataFrame or array_like, shape (n, n)
        Covariance, labels matching ``mu``'s; a DataFrame needs a Series ``mu`` (see the
        module docstring).
    risk_aversion : float, default 1.0
        :math:`\gamma > 0`.
    long_only : bool, default True
        Add :math:`w \ge 0`.
    budget : float, default 1.0
        :math:`b`, the total weight (``>= 0`` when long only).

    Returns
    -------
    pandas.Series
        Weights indexed by asset.

    Raises
    ------
    SolverError
        The solver failed, e.g. an unbounded problem (``long_only=False`` with a singular
        ``cov`` whose null space trades return for free).

    Examples
    --------
    >>> mu = pd.Series([0.05, 0.10], index=["bond", "stock"])
    >>> cov = pd.DataFrame([[0.01, 0.0], [0.0, 0.04]], index=mu.index, columns=mu.index)
    >>> mean_variance(mu, cov, risk_aversion=2.0).round(6).to_dict()
    {'bond': 0.3, 'stock': 0.7}
    """
    labels, mu_arr, cov_arr, _ = _check_mu_cov(mu, cov)
    gamma = _risk_aversion(risk_aversion)
    long_only = _bool(long_only, "long_only")
    budget = real_scalar(budget, "budget")
    if long_only and budget < 0:
        raise ValueError(f"`budget` must be >= 0 when long_only=True, got {budget}")

    n = mu_arr.size
    scale = _objective_scale(gamma * float(np.diag(cov_arr).max()), float(np.abs(mu_arr).max()))
    w = cp.Variable(n, name="w")
    objective = cp.Minimize(
        (0.5 * gamma / scale) * cp.quad_form(w, cp.psd_wrap(cov_arr)) - (mu_arr / scale) @ w
    )
    constraints = [cp.sum(w) == budget]
    if long_only:
        constraints.append(w >= 0)
    problem = cp.Problem(objective, constraints)
    _solve(problem, "mean_variance")
    weights = np.asarray(w.value, dtype=float)
    if long_only:
        weights = _clip_long_only(weights, budget)
    return pd.Series(weights, index=labels, name="weight")


def resampled_portfolios(returns, n_samples: int = 100, *, risk_aversion=1.0,
                         long_only=True, seed=None) -> pd.DataFrame:
    r"""Mean-variance portfolios of bootstrap resamples of a table of returns.

    Each sample draws ``T`` rows of ``returns`` with replacement, estimates
    :math:`(\hat\mu, \hat\Sigma)` from them (as :func:`estimate`, from returns) and solves
    :func:`mean_variance`: the spread of the portfolios is the estimation error of the
    optimum (Michaud's resampled efficiency; Jorion 1992).  An ensemble of these
    portfolios (:meth:`wfr_cvx.Ensemble.from_portfolios`) is an allocation distribution
    over the weights.

    Parameters
    ----------
    returns : pandas.DataFrame
        Simple returns, shape ``(T, n)``, ``T >= 3`` (e.g. :func:`returns_from_prices`).
    n_samples : int
        Number of resamples, from 1 to :data:`MAX_PORTFOLIOS`.
    risk_aversion, long_only
        As for :func:`mean_variance`.
    seed : int or numpy Generator, optional
        The resampling's random seed (reproducible portfolios).

    Returns
    -------
    pandas.DataFrame
        One row per resample (index ``sample``), one column per asset.

    Warns
    -----
    UnitsWarning
        When ``returns`` look like prices: every value positive and every column's mean
        above 0.5 -- a simple return averaging over 50 % a period without a single loss.
        Prices are not refused, as gross returns :math:`1 + r` look the same and give the
        same portfolios (the budget makes the objective blind to a common shift of
        :math:`\mu`); pass ``returns - 1`` for those.

    Examples
    --------
    >>> books = resampled_portfolios(returns_from_prices(load_prices()), 5, risk_aversion=4.0,
    ...                              seed=0)
    >>> books.shape, bool(np.allclose(books.sum(axis=1), 1.0))
    ((5, 3), True)
    """
    if not isinstance(returns, pd.DataFrame):
        raise TypeError(f"`returns` must be a pandas DataFrame (dates x assets), got "
                        f"{type(returns).__name__}")
    _check_no_date_column(returns, "returns")
    _check_numeric(returns, "returns", "returns")
    values = returns.to_numpy(dtype=float)
    if values.shape[0] < 3:
        raise ValueError(f"`returns` must hold at least 3 rows (dates), got shape "
                         f"{values.shape}")
    finite = np.isfinite(values)
    if not finite.all():
        bad = (~finite).sum(axis=0)
        detail = ", ".join(f"{c!r} ({k})" for c, k in zip(returns.columns, bad, strict=True)
                           if k)
        raise ValueError(f"`returns` has {int(bad.sum())} missing or non-finite (NaN or inf) "
                         f"value(s) in column(s) {detail}")
    if values.min() < -1.0:
        raise ValueError(f"`returns` must be simple returns, >= -1 (a price cannot fall "
                         f"below 0), got {values.min():g}; pass returns_from_prices(prices)")
    means = values.mean(axis=0)
    if values.min() > 0 and means.min() > _PRICE_LIKE_MEAN:
        warn(f"`returns` look like prices, not simple returns: every value is positive and "
             f"every column's mean is above {_PRICE_LIKE_MEAN:g} (the lowest is "
             f"{means.min():.4g}; as returns: over {100 * _PRICE_LIKE_MEAN:g} % a period, "
             f"never a loss).  Pass "
             f"returns_from_prices(prices); for gross returns (1 + r) pass returns - 1",
             UnitsWarning, stacklevel=None)
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) \
            or not 1 <= n_samples <= MAX_PORTFOLIOS:
        raise ValueError(f"`n_samples` must be an integer >= 1 and <= {MAX_PORTFOLIOS:,} "
                         f"(one QP solve per sample), got {n_samples!r}")
    rng = np.random.default_rng(seed)
    rows = []
    for sample in range(int(n_samples)):
        draw = values[rng.integers(0, values.shape[0], values.shape[0])]
        mu = pd.Series(draw.mean(axis=0), index=returns.columns)
        cov = pd.DataFrame(np.atleast_2d(np.cov(draw, rowvar=False, ddof=1)),
                           index=returns.columns, columns=returns.columns)
        try:
            rows.append(mean_variance(mu, cov, risk_aversion=risk_aversion,
                                      long_only=long_only))
        except SolverError as exc:
            distinct = len(np.unique(draw, axis=0))
            why = ""
            if distinct - 1 < values.shape[1]:
                why = (f": its covariance, from {distinct} distinct row(s) of "
                       f"{values.shape[0]} in {values.shape[1]} assets, has rank at most "
                       f"{distinct - 1} (more rows of returns avoid that"
                       + ("" if long_only else ", and so does long_only=True") + ")")
            raise type(exc)(f"resample {sample}: mean_variance found no optimum{why}",
                            status=exc.status, backend=exc.backend) from exc
    return pd.DataFrame(rows, index=pd.RangeIndex(len(rows), name="sample"))


def _check_target(target: float, mu: np.ndarray, long_only: bool) -> None:
    top = float(mu.max())
    if long_only and target > top:
        raise ValueError(
            f"`target_return` {target:.6g} is not reachable by a long-only portfolio: "
            f"reachable returns are [{float(mu.min()):.6g}, {top:.6g}] (min and max of `mu`)"
        )
    if not long_only and np.ptp(mu) == 0 and target > top:
        raise ValueError(
            f"`target_return` {target:.6g} is not reachable: every asset returns {top:.6g}, "
            "so every fully invested portfolio does"
        )


def min_variance(mu, cov, *, target_return=None, long_only=True) -> pd.Series:
    r"""Minimum-variance portfolio, optionally with a floor on the expected return.

    .. math::

        \min_w\ w^\top\Sigma w \quad\text{s.t.}\quad \mathbf 1^\top w = 1,\
        \mu^\top w \ge r^\star \text{ (if given)},\ w \ge 0 \text{ (if long only)}.

    Without the return floor and sign constraint the solution is
    :math:`\Sigma^{-1}\mathbf 1 / \mathbf 1^\top\Sigma^{-1}\mathbf 1`.  Long-only returns
    span :math:`[\min\mu, \max\mu]`: a target above :math:`\max\mu` raises; a target below
    :math:`\min\mu` is met by every portfolio and leaves the minimum-variance one.
    Where the minimum variance is below 1e-4 of the largest asset's, the problem is solved
    again in its volatility form :math:`\min\|L^\top w\|` (:math:`\Sigma = LL^\top`,
    the same minimisers), whose error the solver bounds in volatility: with a cash asset of
    zero variance the weights are then exact to ~1e-9 (the variance form alone: 7e-6);
    with :math:`\Sigma = BB^\top + 10^{-9}I` (``B`` a standard normal 8 x 3 matrix: full
    rank, eigenvalues 1e-9 to 12.6, minimum variance 1.4e-10), long-short, to 1.2e-7 of
    :math:`\Sigma^{-1}\mathbf 1 / \mathbf 1^\top\Sigma^{-1}\mathbf 1` (alone: 1.3e-2).

    A singular :math:`\Sigma` (riskless assets, fewer observations than assets) can have
    many minimisers, all of the same variance; any two differ by a null vector of
    :math:`\Sigma`.  The one returned is then the minimiser of highest return -- the others
    are dominated -- found by a linear programme over the minimisers (HiGHS).  Eigenvalues
    up to 4 n machine epsilons of the largest (7e-15 at 8 assets: the round-off of the
    eigen-decomposition) count as zero, so a full-rank :math:`\Sigma` within that of
    singular is treated as singular: its minimisers are tied to that precision, and the
    one returned may exceed the exact minimum by up to ~2 n epsilons of the largest
    eigenvalue (3.5e-15 at 8 assets) -- several times that minimum when it is itself that
    small.  E.g. with :math:`BB^\top` (rank 3, no ridge)
    the long-only minimum is 0 (to 2e-17) and the returned portfolio has the highest return
    among the zero-variance portfolios.  Long-short, the minimisers either share one
    return, or a fully hedged zero-variance position with positive return scales without
    limit and no minimiser has the highest return: then the solver's minimiser is returned
    (:func:`efficient_frontier` raises).

    Parameters
    ----------
    mu : pandas.Series or array_like, shape (n,)
        Expected returns.
    cov : pandas.DataFrame or array_like, shape (n, n)
        Covariance, labels matching ``mu``'s; a DataFrame needs a Series ``mu``.
    target_return : float, optional
        :math:`r^\star`, the return floor.
    long_only : bool, default True
        Add :math:`w \ge 0` (weights clipped at 0 after the solve, see
        :func:`mean_variance`).

    Returns
    -------
    pandas.Series
        Weights indexed by asset, summing to 1.

    Examples
    --------
    >>> mu = pd.Series([0.05, 0.10], index=["bond", "stock"])
    >>> cov = pd.DataFrame([[0.01, 0.0], [0.0, 0.04]], index=mu.index, columns=mu.index)
    >>> min_variance(mu, cov).round(6).to_dict()          # 1/var weighting
    {'bond': 0.8, 'stock': 0.2}
    >>> min_variance(mu, cov, target_return=0.08).round(6).to_dict()
    {'bond': 0.4, 'stock': 0.6}
    """
    labels, mu_arr, cov_arr, _ = _check_mu_cov(mu, cov)
    long_only = _bool(long_only, "long_only")
    if target_return is not None:
        target_return = real_scalar(target_return, "target_return")
        _check_target(target_return, mu_arr, long_only)

    weights = _MinVariance(mu_arr, cov_arr, long_only, target_return is not None).solve(
        target_return, "min_variance")
    if long_only:
        weights = _clip_long_only(weights, 1.0)
    try:
        weights = _efficient_minimiser(weights, mu_arr, cov_arr, long_only, "min_variance")
    except _UnboundedTie:
        pass  # long-short: no minimiser has the highest return; the solver's one stands
    return pd.Series(weights, index=labels, name="weight")


# -- the efficient frontier --------------------------------------------------------------
def _check_frontier_args(n_points, long_only, method):
    if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)):
        raise TypeError(f"`n_points` must be an integer, got {type(n_points).__name__}")
    if not 2 <= n_points <= MAX_PORTFOLIOS:
        raise ValueError(f"`n_points` must be >= 2 and <= {MAX_PORTFOLIOS:,} (one QP solve "
                         f"per point), got {n_points}")
    long_only = _bool(long_only, "long_only")
    if method not in _METHODS:
        raise ValueError(f"`method` must be one of {_METHODS}, got {method!r}")
    if method == "simplex" and not long_only:
        raise ValueError(
            "`method='simplex'` optimises on the probability simplex, i.e. long-only "
            "portfolios; got long_only=False (use method='qp')"
        )
    return int(n_points), long_only


def efficient_frontier(mu, cov, n_points=50, long_only=True, method="qp") -> pd.DataFrame:
    r"""The efficient frontier: minimum variance for each of ``n_points`` return targets.

    .. math::

        w(r) = \arg\min_{w \in \Delta}\ w^\top\Sigma w \quad\text{s.t.}\quad
        \mu^\top w \ge r, \qquad r \in \operatorname{linspace}(r_{mv}, \max\mu, n),

    with :math:`\Delta = \{w \ge 0,\ \mathbf 1^\top w = 1\}` (or only
    :math:`\mathbf 1^\top w = 1` when ``long_only=False``) and :math:`r_{mv}` the return of
    the minimum-variance portfolio, which is the first row.  When several portfolios share
    the minimum variance (a singular covariance: two riskless assets, fewer observations
    than assets) the first row is the one of highest return among them, the only efficient
    one, as :func:`min_variance` returns it; both methods find it by the same linear
    programme over the minimisers.  Long-short, a singular covariance whose null space
    holds a fully hedged position with positive return (an arbitrage of zero variance)
    leaves the return at minimum variance unbounded: ValueError.

    The frontier is the efficient (upper) branch only: a target below :math:`r_{mv}` leaves
    the return constraint inactive and would repeat the minimum-variance portfolio, so the
    targets start at :math:`r_{mv}`; above it the constraint is active, where ``>=`` and
    ``=`` give the same portfolio.  When :math:`r_{mv} \ge \max\mu` (one asset, equal
    returns, a long-short minimum-variance portfolio already beyond the best asset, or,
    long only, a best asset that is itself of minimum variance: no asset has a smaller
    marginal variance :math:`(\Sigma w)_i` there, checked to 1e-9 of
    :math:`\max_i\Sigma_{ii}` where the solved :math:`r_{mv}` is within 1e-6 of the
    returns' range below :math:`\max\mu`) the branch is that one portfolio and the frame
    has one row.  ``return`` says what each row
    achieves.

    ``method="qp"``: one cvxpy problem with the target as a ``cp.Parameter``, compiled
    once and re-solved per target by Clarabel (cvxpy's ``warm_start`` reuses the Clarabel
    solver object and only updates its data; as an interior-point method Clarabel itself
    restarts from its own initial point); where the variance is tiny (a cash asset, a
    singular covariance) again as a volatility, see :func:`min_variance`.  Long-only
    weights are clipped at 0, see :func:`mean_variance`.

    ``method="simplex"`` (long only): an independent first-order solver that never calls
    cvxpy.  Exponentiated gradient (mirror descent with the entropy; Kivinen & Warmuth
    1997, Beck & Teboulle 2003) on the augmented Lagrangian of the return constraint
    (Nocedal & Wright 2006, ch. 17),

    .. math::

        L_\rho(w, \lambda) = w^\top\Sigma w + \tfrac1{2\rho}\big(\max(0, \lambda +
        \rho(r - \mu^\top w))^2 - \lambda^2\big),\qquad
        w \leftarrow \operatorname{retract}(w, -\eta\nabla_w L_\rho),

    with the retraction :func:`simplex_retract`, step :math:`\eta = 1/\max_{ij}|H_{ij}|`
    (:math:`H = 2\Sigma + \rho\tilde\mu\tilde\mu^\top` bounds the change of the gradient
    in :math:`\ell_\infty` per unit :math:`\ell_1` move, which makes :math:`1/\max|H|` a
    descent step relative to the entropy), :math:`\tilde\mu` the returns centred on the
    middle of their range (the constant part does nothing on the simplex),
    :math:`\rho = 2\max_i\Sigma_{ii} / \max_i\tilde\mu_i^2`, and a multiplier update
    :math:`\lambda \leftarrow \max(0, \lambda + \rho(r - \mu^\top w))` every 10 steps.  It
    stops when the relative KKT residual, the largest of

    .. math::

        \frac{\sum_i w_i|g_i - \bar g|}{s},\quad \frac{\max_i(\bar g - g_i)_+}{s},\quad
        \frac{\lambda|\mu^\top w - r|}{s},\quad \frac{(r - \mu^\top w)_+}{\max_i|\tilde\mu_i|}

    (stationarity on the support, no asset wanting to enter, complementarity, the target
    met; :math:`g = 2\Sigma w - \lambda\mu`, :math:`\bar g = w^\top g`,
    :math:`s = 2\max_i\Sigma_{ii}`), is at most 1e-10, and warns with
    :class:`InaccurateSolutionWarning`, giving
    the residual, after 100 000 steps.  Each target is warm-started from the previous
    solution (floored at 1e-12 so an asset can re-enter) and multiplier.  Weights that
    should be 0 come out tiny and positive: the multiplicative update never reaches 0.

    Parameters
    ----------
    mu : pandas.Series or array_like, shape (n,)
        Expected returns.
    cov : pandas.DataFrame or array_like, shape (n, n)
        Covariance, labels matching ``mu``'s; a DataFrame needs a Series ``mu``.
    n_points : int, default 50
        Number of targets, from 2 to :data:`MAX_PORTFOLIOS`.
    long_only : bool, default True
        Long-only frontier (required by ``method="simplex"``).
    method : {"qp", "simplex"}, default "qp"
        Solver, see above.

    Returns
    -------
    pandas.DataFrame
        One row per target (``n_points`` rows, or one, see above): columns
        ``target_return``, ``return`` (:math:`\mu^\top w`), ``variance``
        (:math:`w^\top\Sigma w`; a round-off negative at a zero minimum is set to 0),
        ``volatility`` (its square root), then one column of weights per asset; row 0 is
        the minimum-variance portfolio (of highest return among ties).  ``frame.attrs`` holds
        ``method``, ``asset_return`` and ``asset_volatility`` (each asset alone, by label:
        the points :func:`wfr_cvx.plots.plot_frontier` marks) and, for ``"simplex"``, the
        ``iterations`` and final ``kkt_residual`` of each point.

    Raises
    ------
    ValueError
        Invalid inputs, or the long-short return at minimum variance unbounded (above).
    SolverError
        The solver failed on a point (``method="qp"``).  Every point is feasible, so a
        solver's "infeasible" is reported as this numerical failure, never as
        :class:`~wfr_cvx.errors.InfeasibleError`.  The return constraint is solved in
        units of a power of two near :math:`\max|\mu|`, so the scale of ``mu`` (1e-200
        or 1e150) does not change the weights.

    Examples
    --------
    >>> mu, cov = estimate(load_prices())
    >>> frontier = efficient_frontier(mu, cov, n_points=5)
    >>> frontier[["return", "IBM", "WMT", "SEHI"]].round(4)   # row 0: minimum variance
       return     IBM     WMT    SEHI
    0  0.0126  0.1598  0.8147  0.0255
    1  0.0279  0.3465  0.4462  0.2073
    2  0.0432  0.5331  0.0778  0.3891
    3  0.0584  0.3200  0.0000  0.6800
    4  0.0737  0.0000  0.0000  1.0000
    >>> simplex = efficient_frontier(mu, cov, n_points=5, method="simplex")
    >>> bool(np.abs(simplex[list(mu.index)] - frontier[list(mu.index)]).max().max() < 1e-6)
    True
    """
    labels, mu_arr, cov_arr, _ = _check_mu_cov(mu, cov)
    n_points, long_only = _check_frontier_args(n_points, long_only, method)
    reserved = [c for c in labels if c in _FRONTIER_COLUMNS]
    if reserved:
        raise ValueError(
            f"asset labels {reserved} clash with the frontier's columns {_FRONTIER_COLUMNS}"
        )
    attrs: dict = {"method": method,
                   "asset_return": dict(zip(labels, mu_arr.tolist(), strict=True)),
                   "asset_volatility": dict(zip(labels, np.sqrt(np.maximum(
                       np.diag(cov_arr), 0.0)).tolist(), strict=True))}
    if method == "qp":
        try:
            weights, targets = _frontier_qp(mu_arr, cov_arr, n_points, long_only)
        except _UnboundedTie as tie:
            raise ValueError(_unbounded_message(tie, labels, mu_arr)) from None
    else:
        weights, targets, iterations, residuals = _frontier_simplex(mu_arr, cov_arr,
                                                                    n_points)
        attrs["iterations"] = iterations
        attrs["kkt_residual"] = residuals

    # wᵀΣw of a PSD Σ may round to -1e-20 at a zero minimum: it is 0
    variance = np.maximum(np.einsum("ki,ij,kj->k", weights, cov_arr, weights), 0.0)
    frame = pd.DataFrame(
        {
            "target_return": targets,
            "return": weights @ mu_arr,
            "variance": variance,
            "volatility": np.sqrt(variance),
        }
    )
    frame = pd.concat([frame, pd.DataFrame(weights, columns=labels)], axis=1)
    frame.attrs.update(attrs)
    return frame


#: Long only, a minimum-variance point whose return is within this share of the returns'
#: range (max - min of mu) below max(mu) may be the best asset itself, missed by the
#: solver's residue (weights of ~1e-11 left on the other assets): :func:`_frontier_start`
#: then decides by the optimality conditions.
_TOP_GAP_RTOL = 1e-6
#: ... which must hold at the top portfolio to this share of 2 max_i Sigma_ii (the scale
#: of the marginal variances 2 Sigma w): below it no asset lowers the variance enough to
#: move the frontier by more than the solver can tell.
_TOP_KKT_RTOL = 1e-9


def _top_portfolio(w_mv: np.ndarray, mu: np.ndarray, cov: np.ndarray) -> np.ndarray | None:
    r"""The long-only portfolio of highest return, when it is the minimum-variance one.

    The candidate is ``w_mv`` restricted to the assets of return ``max(mu)`` and rescaled
    to sum 1 (the best asset alone when it is the only one).  It minimises the variance
    on the simplex iff no asset has a smaller marginal variance than the portfolio
    (KKT: :math:`g_i \ge \bar g` for every asset, with equality on the support, for
    :math:`g = 2\Sigma w`, :math:`\bar g = w^\top g`), checked to :data:`_TOP_KKT_RTOL`
    of :math:`2\max_i\Sigma_{ii}`.  None when it does not, or ``w_mv`` holds none of them.
    """
    best = mu == mu.max()
    mass = float(w_mv[best].sum())
    if not mass > 0:
        return None
    w = np.where(best, w_mv, 0.0) / mass
    g = 2.0 * cov @ w
    g_bar = float(w @ g)
    scale = 2.0 * float(np.diag(cov).max())
    residual = max(float(w @ np.abs(g - g_bar)), g_bar - float(g.min()))
    return w if residual <= _TOP_KKT_RTOL * scale else None


def _frontier_start(w_mv: np.ndarray, mu: np.ndarray, cov: np.ndarray, n_points: int,
                    long_only: bool) -> tuple[np.ndarray, np.ndarray]:
    """Row 0 and the return targets of the efficient branch: ``n_points`` targets from the
    minimum-variance return ``r_mv`` to ``max(mu)``, or one when the branch is one point --
    ``r_mv`` at ``max(mu)`` to round-off, or (long only) ``r_mv`` within
    :data:`_TOP_GAP_RTOL` of the returns' range below it and the portfolio of highest
    return a minimiser of the variance (:func:`_top_portfolio`), which is then row 0."""
    r_mv, top = float(w_mv @ mu), float(mu.max())
    if top - r_mv <= 1e-12 * max(abs(top), abs(r_mv), 1e-300):
        return w_mv, np.array([r_mv])
    if long_only and top - r_mv <= _TOP_GAP_RTOL * float(np.ptp(mu)):
        best = _top_portfolio(w_mv, mu, cov)
        if best is not None:
            return best, np.array([float(best @ mu)])
    return w_mv, np.linspace(r_mv, top, n_points)


def _not_infeasible(exc: InfeasibleError, what: str, mu: np.ndarray,
                    cov: np.ndarray) -> SolverError:
    """The solver's "infeasible" on a frontier QP, told as what it is: every such QP is
    feasible (the portfolio wholly in the asset of highest return meets every target up to
    max(mu), and any fully invested one the minimum-variance point's), so the solver failed
    numerically."""
    return SolverError(
        f"{what}: the solver reported the QP infeasible, but it is feasible (the portfolio "
        f"wholly in the asset of highest return meets every target of the frontier): a "
        f"numerical failure of the solver; the returns span [{mu.min():.3g}, "
        f"{mu.max():.3g}] and the variances [{np.diag(cov).min():.3g}, "
        f"{np.diag(cov).max():.3g}]", status=exc.status, backend=exc.backend)


def _efficient_end(w: np.ndarray, mu: np.ndarray, cov: np.ndarray, long_only: bool):
    """Row 0 of the frontier: the minimiser of highest return (a tie among minimisers of a
    singular covariance would otherwise start the frontier at a dominated portfolio)."""
    return _efficient_minimiser(w, mu, cov, long_only,
                                "efficient_frontier minimum-variance point")


def _unbounded_message(tie: _UnboundedTie, labels, mu: np.ndarray) -> str:
    order = np.argsort(-np.abs(tie.hedge))[:4]
    legs = ", ".join(f"{'long' if tie.hedge[i] > 0 else 'short'} {labels[i]!r} "
                     f"{abs(tie.hedge[i]):.3g}" for i in order if abs(tie.hedge[i]) > 1e-6)
    return (f"`cov` is singular and, with long_only=False, its null space holds a fully "
            f"hedged position of zero variance and positive return ({legs}: return "
            f"{float(tie.hedge @ mu):.3g}), which scales without limit: no "
            f"minimum-variance portfolio has the highest return, so the frontier has no "
            f"efficient end.  Pass long_only=True, or a covariance of full rank")


def _frontier_qp(mu, cov, n_points, long_only):
    """The frontier's weights and targets by one parametrised QP (the minimum-variance
    point first: long only, it is the solution at target ``min(mu)``, which every
    portfolio meets, made the one of highest return among ties)."""
    n = mu.size
    problem = _MinVariance(mu, cov, long_only, with_target=True)

    def solve(r, what, qp=problem):
        try:
            weights = qp.solve(r, what, warm_start=True)
        except InfeasibleError as exc:
            raise _not_infeasible(exc, what, mu, cov) from exc
        return _clip_long_only(weights, 1.0) if long_only else weights

    what = "efficient_frontier minimum-variance point"
    if long_only:
        w_mv = solve(float(mu.min()), what)
    else:  # shorting can reach returns below min(mu): no target leaves the floor inactive
        w_mv = solve(None, what, _MinVariance(mu, cov, False, with_target=False))
    w_mv, targets = _frontier_start(_efficient_end(w_mv, mu, cov, long_only), mu, cov,
                                    n_points, long_only)
    out = np.empty((targets.size, n))
    out[0] = w_mv
    for k in range(1, targets.size):
        out[k] = solve(targets[k], f"efficient_frontier point {k} (target {targets[k]:.6g})")
    return out, targets


# -- the simplex retraction and the first-order solver -----------------------------------
def _retract(w: np.ndarray, delta: np.ndarray) -> np.ndarray:
    # exp is shifted by the largest exponent among the held assets: the ratio is
    # unchanged, nothing overflows, and the sum keeps one term equal to its weight
    held = w > 0
    z = np.where(held, delta, 0.0)
    z = z - z[held].max()
    z = np.where(held, z, 0.0)  # zero weights stay zero whatever their delta
    v = w * np.exp(z)
    return v / v.sum()


def simplex_retract(w, delta) -> np.ndarray:
    r"""Multiplicative retraction onto the probability simplex.

    .. math::

        R_w(\delta) = \frac{w \odot e^{\delta}}{\sum_i w_i e^{\delta_i}}

    It is the identity at :math:`\delta = 0` (for :math:`\sum w = 1`), keeps weights
    positive and summing to one, and is additive in log-weights: one step of exponentiated
    gradient is :math:`R_w(-\eta\nabla f(w))`.  Computed with the exponent shifted by its
    maximum, so large ``delta`` does not overflow.

    Parameters
    ----------
    w : array_like, shape (n,)
        Non-negative weights with a positive sum (not necessarily 1).
    delta : array_like, shape (n,)
        Tangent update (log-weight increments).

    Returns
    -------
    numpy.ndarray, shape (n,)
        The retracted weights, summing to 1; zero weights stay zero.

    Examples
    --------
    The jaxls notebook's example (it prints ``[0.5669196 0.20631248 0.22676787]`` in
    float32): adding ``delta`` would make the middle weight negative, retracting does not.

    >>> simplex_retract([0.5, 0.3, 0.2], [0.1, -0.4, 0.1]).round(6).tolist()
    [0.56692, 0.206312, 0.226768]
    >>> simplex_retract([0.5, 0.3, 0.2], [0.0, 0.0, 0.0]).tolist()
    [0.5, 0.3, 0.2]
    """
    w_arr = _numeric_array(w, "w")
    delta_arr = _numeric_array(delta, "delta")
    if w_arr.ndim != 1 or w_arr.size == 0:
        raise ValueError(f"`w` must be a non-empty 1-D vector of weights, got shape {w_arr.shape}")
    if delta_arr.shape != w_arr.shape:
        raise ValueError(
            f"`delta` must have the shape of `w` {w_arr.shape}, got {delta_arr.shape}"
        )
    if np.any(w_arr < 0) or not w_arr.sum() > 0:
        raise ValueError(
            f"`w` must be non-negative with a positive sum, got min {w_arr.min():g} and "
            f"sum {w_arr.sum():g}"
        )
    return _retract(w_arr, delta_arr)


def _frontier_simplex(mu, cov, n_points):
    """The frontier's weights, targets, iterations and KKT residuals by exponentiated
    gradient; the minimum-variance point is the solution at target ``min(mu)``, made the
    one of highest return among ties (:func:`_efficient_minimiser`, HiGHS: no cvxpy)."""
    n = mu.size
    w = np.full(n, 1.0 / n)
    lam = 0.0
    iterations, residuals = [], []
    targets = np.array([float(mu.min())])
    rows = []
    k = 0
    while k < targets.size:
        r = targets[k]
        w = np.maximum(w, _EG_FLOOR)
        w /= w.sum()
        w, lam, it, res = _eg_min_variance(cov, mu, r, w, lam)
        if res > _EG_TOL:
            warn(
                InaccurateSolutionWarning(
                    f"efficient_frontier(method='simplex') point {k} (target {r:.6g}) "
                    f"stopped after {it} steps with KKT residual {res:.3g} > {_EG_TOL:g}"
                ),
                stacklevel=None,
            )
        rows.append(w)
        iterations.append(it)
        residuals.append(res)
        if k == 0:  # the minimum-variance point: now the targets of the branch
            w, targets = _frontier_start(_efficient_end(w, mu, cov, True), mu, cov,
                                         n_points, True)
            rows[0] = w
        k += 1
    return np.array(rows), targets, iterations, residuals


def _eg_min_variance(cov, mu, target, w, lam):
    """Exponentiated gradient on the augmented Lagrangian; see :func:`efficient_frontier`.

    Returns ``(w, lam, iterations, kkt_residual)``.
    """
    centre = 0.5 * (mu.max() + mu.min())
    m = mu - centre
    r = target - centre
    m_scale = float(np.abs(m).max())
    g_scale = 2.0 * float(np.diag(cov).max())
    g_scale = g_scale if g_scale > 0 else 1.0
    # rho makes the penalty's curvature rho * m_i^2 at most that of the variance term, so
    # neither dominates the step; with equal returns the constraint is constant and unused
    rho = g_scale / m_scale**2 if m_scale > 0 else 0.0
    m_scale = m_scale if m_scale > 0 else 1.0
    two_cov = 2.0 * cov
    eta = 1.0 / float(np.abs(two_cov + rho * np.outer(m, m)).max())

    it = 0
    res = np.inf
    while it < _EG_MAX_ITER:
        for _ in range(_EG_INNER):
            slack = m @ w - r
            grad = two_cov @ w - max(0.0, lam - rho * slack) * m
            w = _retract(w, -eta * grad)
        it += _EG_INNER
        slack = m @ w - r
        lam = max(0.0, lam - rho * slack)
        g = two_cov @ w - lam * m
        g_bar = w @ g
        res = max(
            float(w @ np.abs(g - g_bar)) / g_scale,  # stationarity on the support
            max(0.0, g_bar - float(g.min())) / g_scale,  # no asset should want to enter
            abs(lam * slack) / g_scale,  # complementarity
            max(0.0, -slack) / m_scale,  # return target met
        )
        if res <= _EG_TOL:
            break
    return w, lam, it, res


# -- potential on a grid -----------------------------------------------------------------
def _is_stack(value, single_ndim: int) -> bool:
    """Whether ``value`` is one item per regime rather than a single ``mu`` or ``cov``."""
    if isinstance(value, (pd.Series, pd.DataFrame)):
        return False
    if isinstance(value, np.ndarray):
        return value.ndim == single_ndim + 1
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) > 0:
        return all(np.ndim(item) == single_ndim for item in value)
    return False


def potential(grid, mu, cov, risk_aversion=1.0) -> np.ndarray:
    r"""Mean-variance potential :math:`V(w) = \tfrac12\gamma\, w^\top\Sigma_k w - \mu_k^\top w`
    at every cell of a grid.

    A cell's point :math:`x` (``grid.coords``, last axis of length ``d``) is the weight of
    the first ``d`` assets; the last asset holds the rest:
    :math:`w = (x_1, \dots, x_d, 1 - \sum_j x_j)`, so ``mu`` has ``d + 1`` entries.  On the
    1-D :class:`~wfr_cvx.Grid` (``d = 1``) a cell at weight ``x`` is the two-asset
    portfolio :math:`(x, 1 - x)`.  Cells are evaluated as given, wherever they lie.

    Parameters
    ----------
    grid : Grid
        Any grid with ``coords`` (shape ``(*cells, d)``), ``shape``
        (``(n_regimes, *cells)``) and ``n_regimes``.  Labelled ``mu`` / ``cov`` (pandas)
        are read by label: matched to ``grid.assets`` (weight axes first, the remainder
        last), in any order; on a grid that names no assets they are refused (build it
        with ``assets=...``).  Arrays are read by position, in the order of the axes.
    mu : array_like, shape (d + 1,), or a sequence of them
        Expected returns, one vector for all regimes or one per regime.
    cov : array_like, shape (d + 1, d + 1), or a sequence of them
        Covariance, one for all regimes or one per regime.
    risk_aversion : float, default 1.0
        :math:`\gamma > 0`.

    Returns
    -------
    numpy.ndarray, shape ``grid.shape``

    Examples
    --------
    >>> from wfr_cvx import Grid
    >>> g = Grid(4, 1)                       # cells at x = 0.125, 0.375, 0.625, 0.875
    >>> potential(g, [0.5, 0.0], [[1.0, 0.0], [0.0, 0.0]]).tolist()   # x²/2 - x/2
    [[-0.0546875, -0.1171875, -0.1171875, -0.0546875]]
    """
    gamma = _risk_aversion(risk_aversion)
    coords = _numeric_array(grid.coords, "grid.coords")
    if coords.ndim < 2:
        raise ValueError(f"`grid.coords` must have shape (*cells, d), got {coords.shape}")
    n_regimes = int(grid.n_regimes)
    n_assets = coords.shape[-1] + 1
    expected = (n_regimes, *coords.shape[:-1])
    if tuple(grid.shape) != expected:
        raise ValueError(
            f"`grid.shape` {tuple(grid.shape)} does not match its coords: expected {expected}"
        )

    stacks = {}
    for name, value, ndim in (("mu", mu, 1), ("cov", cov, 2)):
        if _is_stack(value, ndim):
            items = list(value)
            if len(items) != n_regimes:
                raise ValueError(
                    f"`{name}` must give one entry per regime ({n_regimes}), got {len(items)}"
                )
            stacks[name] = items
        else:
            stacks[name] = [value] * n_regimes

    assets = getattr(grid, "assets", None)
    weights = np.concatenate([coords, 1.0 - coords.sum(axis=-1, keepdims=True)], axis=-1)
    out = np.empty(expected)
    for k in range(n_regimes):
        mu_name = f"mu[{k}]" if _is_stack(mu, 1) else "mu"
        cov_name = f"cov[{k}]" if _is_stack(cov, 2) else "cov"
        labels, mu_k, cov_k, labelled = _check_mu_cov(
            stacks["mu"][k], stacks["cov"][k], mu_name, cov_name
        )
        if mu_k.size != n_assets:
            raise ValueError(
                f"`{mu_name}` must have {n_assets} entries (the grid's {n_assets - 1} weight "
                f"coordinate(s) + 1), got {mu_k.size}"
            )
        if labelled and assets is None:
            # read by position, whichever label came first would silently be the weight axis
            axes = list(labels)
            raise ValueError(
                f"`{mu_name}` is labelled {axes} but the grid names no assets, so which "
                f"label is which weight axis is not known: build the grid with them, e.g. "
                f"Grid(..., assets={tuple(axes)!r}) (weight axes first, the remainder "
                f"asset last), or pass `{mu_name}` and `{cov_name}` as arrays in the order "
                f"of the axes")
        if labelled:
            if set(labels) != set(assets):
                raise ValueError(
                    f"`{mu_name}` labels {list(labels)} must be the grid's assets {list(assets)}"
                )
            order = labels.get_indexer(list(assets))
            mu_k, cov_k = mu_k[order], cov_k[np.ix_(order, order)]
        quad = np.einsum("...i,ij,...j->...", weights, cov_k, weights)
        out[k] = 0.5 * gamma * quad - weights @ mu_k
    return out
