r"""Regression problems: a solve and its expected figures, described in a TOML file.

A problem file names the grid, the two allocations (or the start and a potential), the
parameters of the solve and the figures it must reproduce, each with its **source**::

    name = "teleport"                      # optional, default: the file's stem
    description = "..."                    # optional
    kind = "geodesic"                      # or "rebalance" (one proximal step)
    lam = 0.2                              # crossover scale, > 0
    backend = "auto"                       # optional: "auto" (default), "clarabel", "cvxpy",
                                           # "dr", "scs"
    scheme = "centred"                     # optional: "centred" (default), "power" or
                                           # "arithmetic"
    metric = 2.0                           # optional: a number, one value per interior
                                           # face, or { kind = "linear", at_0 = 1.0,
                                           # at_1 = 4.0 }: G(w) = at_0 + (at_1 - at_0) w

    [grid]
    n_weights = 64
    n_steps = 16
    regimes = ["risk_on", "risk_off"]      # or a count (default 1)
    kind = "interval"                      # or "simplex": n_weights x n_weights cells
    assets = ["IBM", "WMT", "SEHI"]        # simplex only (default A, B, C); weights,
                                           # centres are then pairs [w_A, w_B] and
                                           # metric a 2 x 2 SPD matrix or { kind =
                                           # "trade_variance", prices, assets, scale }

    [rho0]                                 # an allocation: the sum of its parts
    diracs = [{ weight = 0.1, regime = "risk_on", mass = 1.0 }]
    bumps = [{ center = 0.5, width = 0.05, regime = "risk_off", mass = 0.5 }]
                                           # regime: optional, default the first regime;
                                           # mass: optional, default 1
    masses = [[...], [...]]                # cell masses, shape (n_regimes, n_weights)
    csv = "data/rho0.csv"                  # a `weight` column (simplex: `w_<A>`, `w_<B>`)
                                           # + one column per regime, read by label

    [rho1]                                 # geodesic only
    ...

    [[constraints]]                        # optional, any number, see
    kind = "trading_window"                # wfr_cvx.constraints
    closed_steps = [0, 1, 2, 3]            # step indices 0 .. n_steps - 1
    reaction = true                        # optional (default true): re-weighting
                                           # stays open on the closed steps
    [[constraints]]
    kind = "max_velocity"                  # |velocity| <= vmax (>= 0; 0: no transport)
    vmax = 0.2
    steps = [4, 5]                         # optional, default: every step
    [[constraints]]
    kind = "max_reaction_rate"             # |source / mean mass| <= rmax (>= 0)
    rmax = 1.0
    [[constraints]]
    kind = "total_mass"                    # a probability path: the total mass stays
                                           # that of rho0 (= rho1's) at every level

    [expected]
    rtol = 1e-4                            # defaults for the figures below
    atol = 0.0
    source = "closed form"                 # closed form | static solver | markowitz qp
                                           # | earlier run
    note = "4 lam^2 (a + b)"               # how the value was obtained
    distance2 = 0.48                       # a number, a table { value, rtol, atol,
    transport_cost = { value = 0.0, atol = 1e-5 }    # source, note }, or an array of
                                                     # such tables (several references)

A ``kind = "ensemble"`` problem moves a weighted set of portfolios in any number of assets
(:mod:`wfr_cvx.ensemble`), without a grid::

    kind = "ensemble"
    lam = 0.3
    assets = ["IBM", "WMT", "SEHI"]        # the weight columns, by name
    regimes = ["on", "off"]                # optional: the regimes' labels (see below)
    backend = "clarabel"                   # or "cvxpy"
    metric = { kind = "covariance", prices = "../data/prices.csv", scale = 1.0 }
                                           # or a number, or an n x n SPD matrix
    [e0]                                   # an ensemble: the union of its parts
    atoms = [{ weights = [0.3, 0.3, 0.4], mass = 1.0, regime = "on" }]
    csv = "books.csv"                      # the asset columns, optional `mass`, `regime`
    frontier = [{ prices = "...", points = 10, regime = "on", mass = 1.0,
                  mu_scale = 1.0, cov_scale = 1.0 }]       # the efficient frontier
    resampled = [{ prices = "...", samples = 20, risk_aversion = 4.0, seed = 0,
                   regime = "off", mass = 1.0 }]   # bootstrap mean-variance portfolios
    [e1]
    ...
    [[constraints]]                        # total_mass, or max_travel (distance >= 0)

An ensemble's atoms are in the regime their part names (``regime``, or a csv's
``regime`` column); mass moves within a regime and switches regimes only by reaction.
With ``regimes`` declared, every label must be one of them and a part without one is in
the first, as on grids.  Without it, a part without a regime is in the regime ``"0"``
(every atom is, when no part names one); beside parts naming regimes, none of them
``"0"``, such a part is an error of the file, since it would be a regime of its own (its
mass destroyed and created, not moved).

In an ensemble's ``frontier`` and ``resampled`` parts ``mass`` is the part's total,
shared equally by its books (default 1); an ``atoms`` entry's ``mass`` is that atom's.
``points`` and ``samples`` are at most
:data:`~wfr_cvx.finance.markowitz.MAX_PORTFOLIOS` (100 000: one QP solve each).
:meth:`Ensemble.from_portfolios <wfr_cvx.ensemble.Ensemble.from_portfolios>` instead
gives each book mass 1 unless told otherwise: a 5-point frontier of ``mass = 5.0`` here
is ``from_portfolios(frontier)`` there.  Both parts take ``mu_scale`` / ``cov_scale`` (a
stress scenario): a frontier scales the estimates :math:`(\mu, \Sigma)`, a resampled part
the returns themselves, :math:`\bar r\,s_\mu + (r - \bar r)\sqrt{s_\Sigma}`, so there
a scale that takes a return below -1 (a price below 0) is refused, naming the key and,
for ``cov_scale``, the largest the returns allow.

A ``kind = "rebalance"`` problem has ``tau`` (> 0) and a ``[potential]`` instead of
``[rho1]``: either ``kind = "mean_variance"`` with ``prices`` (a CSV path, see
:func:`wfr_cvx.finance.markowitz.load_prices`), the two ``assets`` of the 1-D grid (the weight is
the first asset's), ``risk_aversion`` and optional per-regime ``mu_scale`` / ``cov_scale``
lists, or ``kind = "values"`` with an array of shape ``(n_regimes, n_weights)``.
``[solver]`` holds Clarabel settings (SCS settings with ``backend = "scs"``, the options of
:mod:`wfr_cvx.backends.dr` with ``backend = "dr"``).  Relative
paths are relative to the problem file.
``constraints`` (:data:`wfr_cvx.constraints.CONSTRAINT_TYPES`) become the objects of
:mod:`wfr_cvx.constraints` and are passed to the solve; steps outside the grid, an
unknown kind or key, and ``total_mass`` between endpoints of different total mass are
errors of the file.

Figures: ``distance2``, ``distance``, ``transport_cost``, ``reaction_cost`` (every kind); a
rebalance also has ``objective``, ``potential_energy``, ``mean_weight`` (of the target, all
regimes together; on a simplex grid ``mean_weight_2`` is its second coordinate) and
``target_mass``.  A figure passes when
:math:`|got - expected| \le atol + rtol\,|expected|`; every expected value needs a
tolerance (``rtol`` or ``atol`` > 0, on the value or for the whole ``[expected]`` table;
an expected 0 needs ``atol`` > 0, since ``rtol`` times 0 is 0): one without is an error of
the file, never an exact match.

:func:`load` validates everything once: an unknown key, a wrong type or an impossible
value raises :class:`ProblemFileError` naming the file, the key and the reason.
"""

from __future__ import annotations

import math
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .assembly import DEFAULT_SCHEME, TIME_MEANS
from .backends import AUTO, REGISTRY, choose_backend
from .constraints import CONSTRAINT_TYPES, compile_constraints
from .errors import ProblemTooLargeError, SolverError, _Picklable
from .grid import Grid, as_allocation

__all__ = ["ProblemFileError", "ProblemFileTooLargeError", "Reference", "Problem",
           "EnsembleProblem", "Outcome", "load", "load_dir", "from_dict", "constraint_tables",
           "SOURCES", "KINDS", "FIGURES"]

KINDS = ("geodesic", "rebalance", "ensemble")
SOURCES = ("closed form", "static solver", "markowitz qp", "earlier run")
FIGURES = {
    "geodesic": ("distance2", "distance", "transport_cost", "reaction_cost"),
    "rebalance": ("distance2", "distance", "transport_cost", "reaction_cost", "objective",
                  "potential_energy", "mean_weight", "mean_weight_2", "target_mass"),
    "ensemble": ("distance2", "distance", "transport_cost", "reaction_cost"),
}
_MISSING = object()


def constraint_tables(constraints) -> list[dict]:
    """The ``[[constraints]]`` tables of a problem file for constraint objects of
    :mod:`wfr_cvx.constraints` (:meth:`~wfr_cvx.constraints.Constraint.table`; the inverse
    of reading them), e.g. to echo a solve's constraints in its JSON output or to write a
    result's (:meth:`wfr_cvx.Geodesic.to_dict`, :func:`wfr_cvx.io.save`).

    Every table is checked to read back (:func:`wfr_cvx.constraints.from_table`) as an
    object equal to the one written: a constraint of another class (a user's own
    :class:`~wfr_cvx.constraints.Constraint`, or a subclass of one of
    :data:`~wfr_cvx.constraints.CONSTRAINT_TYPES`) is a TypeError naming it, never a table
    that would silently stand for another problem.

    >>> from wfr_cvx.constraints import MaxVelocity, TradingWindow
    >>> for table in constraint_tables([MaxVelocity(0.2), TradingWindow([3, 4], False)]):
    ...     print(table)
    {'kind': 'max_velocity', 'vmax': 0.2}
    {'kind': 'trading_window', 'closed_steps': [3, 4], 'reaction': False}
    """
    from .constraints import Constraint, from_table

    tables = []
    for item in constraints:
        if not isinstance(item, Constraint):
            raise TypeError(f"not a wfr_cvx constraint: {type(item).__name__}")
        try:
            table = item.table()
            same = from_table(table) == item
        except (TypeError, ValueError):  # no fields to write, or a kind it cannot read
            same = False
        if not same:
            raise TypeError(
                f"the constraint {item!r} ({type(item).__name__}) cannot be written as a "
                f"[[constraints]] table: only the classes of "
                f"wfr_cvx.constraints.CONSTRAINT_TYPES ({', '.join(CONSTRAINT_TYPES)}) "
                f"read back as themselves")
        tables.append(table)
    return tables


class ProblemFileError(_Picklable, ValueError):
    """A problem file that cannot be used: malformed TOML, an unknown key, a wrong type or
    an impossible value.

    Attributes
    ----------
    path : str
        The file.
    key : str or None
        The offending key as a dotted path (``"rho0.bumps[1].width"``); None for a file
        that is not valid TOML.
    reason : str
    """

    def __init__(self, path, key: str | None, reason: str):
        self.path = str(path)
        self.key = key
        self.reason = reason
        where = f"{self.path}: " if key is None else f"{self.path}: `{key}`: "
        super().__init__(where + reason)


class ProblemFileTooLargeError(ProblemFileError, ProblemTooLargeError):
    """A problem file whose grid would need more memory than the machine has: both a
    :class:`ProblemFileError` (``path``, ``key`` = ``"grid"``, ``reason``) and a
    :class:`~wfr_cvx.errors.ProblemTooLargeError` (``needed_bytes``, ``available_bytes``)."""

    def __init__(self, path, key: str, error: ProblemTooLargeError):
        # the two parents' constructors take different arguments: set both sets here
        self.path = str(path)
        self.key = key
        self.reason = str(error)
        self.needed_bytes = error.needed_bytes
        self.available_bytes = error.available_bytes
        ValueError.__init__(self, f"{self.path}: `{key}`: {self.reason}")


@dataclass(frozen=True)
class Reference:
    """One expected value of one figure, with its tolerance and where it comes from."""

    figure: str
    value: float
    rtol: float
    atol: float
    source: str
    note: str = ""

    def passes(self, got: float) -> bool:
        return bool(np.isfinite(got)) and abs(got - self.value) <= (
            self.atol + self.rtol * abs(self.value))


class _Checked:
    """What every problem kind shares: its figures checked against the expected ones."""

    def check(self, result) -> pd.DataFrame:
        """Compare a result with the expected figures.

        Returns
        -------
        pandas.DataFrame
            One row per reference: ``figure, source, expected, got, abs_error,
            rel_error`` (NaN when the expected value is 0), ``rtol, atol, passed``.
        """
        figures = self.figures(result)
        rows = []
        for ref in self.expected:
            got = figures[ref.figure]
            error = abs(got - ref.value)
            rows.append({
                "figure": ref.figure, "source": ref.source, "expected": ref.value,
                "got": got, "abs_error": error,
                "rel_error": error / abs(ref.value) if ref.value != 0 else np.nan,
                "rtol": ref.rtol, "atol": ref.atol, "passed": ref.passes(got),
            })
        columns = ["figure", "source", "expected", "got", "abs_error", "rel_error", "rtol",
                   "atol", "passed"]
        return pd.DataFrame(rows, columns=columns)

    def run(self, **solver_options) -> Outcome:
        """Solve, time the solve and check it (solver errors propagate)."""
        start = time.perf_counter()
        result = self.solve(**solver_options)
        seconds = time.perf_counter() - start
        return Outcome(self, result, self.check(result), seconds)



@dataclass(eq=False)
class Problem(_Checked):
    """A validated problem file (see the module docstring); :func:`load` builds it."""

    name: str
    kind: str
    grid: Grid
    rho0: np.ndarray = field(repr=False)
    rho1: np.ndarray | None = field(repr=False)
    lam: float
    metric: float | np.ndarray | None = field(repr=False)
    backend: str = AUTO
    scheme: str = DEFAULT_SCHEME
    tau: float | None = None
    potential: np.ndarray | None = field(default=None, repr=False)
    constraints: tuple = ()
    solver_options: dict = field(default_factory=dict)
    expected: tuple[Reference, ...] = ()
    description: str = ""
    path: Path | None = None

    def solve(self, **solver_options):
        """Solve: a :class:`~wfr_cvx.Geodesic`, or a :class:`~wfr_cvx.Rebalance` for
        ``kind = "rebalance"``.  ``solver_options`` override the file's ``[solver]``."""
        from .engine import geodesic
        from .proximal import rebalance

        options = {**self.solver_options, **solver_options}
        common = dict(metric=self.metric, backend=self.backend, scheme=self.scheme,
                      constraints=self.constraints, **options)
        if self.kind == "rebalance":
            return rebalance(self.rho0, self.grid, self.lam, potential=self.potential,
                             tau=self.tau, **common)
        return geodesic(self.rho0, self.rho1, self.grid, self.lam, **common)

    def figures(self, result) -> dict[str, float]:
        """The figures of a result of :meth:`solve`, by name (see :data:`FIGURES`)."""
        path = result.path if self.kind == "rebalance" else result
        out = {"distance2": float(result.distance2), "distance": float(path.distance),
               "transport_cost": path.transport_cost, "reaction_cost": path.reaction_cost}
        if self.kind == "rebalance":
            out.update(objective=float(result.objective),
                       potential_energy=float(result.potential_energy),
                       mean_weight=float(result.mean_weight()[0]),
                       target_mass=float(result.target.sum()))
            if self.grid.dims == 2:  # the second weight axis
                out["mean_weight_2"] = float(result.mean_weight()[1])
        return out

@dataclass(eq=False)
class EnsembleProblem(_Checked):
    """A validated ``kind = "ensemble"`` problem file: two ensembles of portfolios
    (:class:`wfr_cvx.Ensemble`), solved by :func:`wfr_cvx.ensemble.geodesic`."""

    name: str
    e0: object = field(repr=False)
    e1: object = field(repr=False)
    lam: float
    metric: object = field(default=None, repr=False)
    backend: str = AUTO
    constraints: tuple = ()
    solver_options: dict = field(default_factory=dict)
    expected: tuple[Reference, ...] = ()
    description: str = ""
    path: Path | None = None
    kind: str = "ensemble"

    def solve(self, **solver_options):
        """Solve: an :class:`~wfr_cvx.EnsembleGeodesic`.  ``solver_options`` override the
        file's ``[solver]``."""
        from .ensemble import geodesic

        return geodesic(self.e0, self.e1, self.lam, metric=self.metric,
                        constraints=self.constraints, backend=self.backend,
                        **{**self.solver_options, **solver_options})

    def figures(self, result) -> dict[str, float]:
        """The figures of a result of :meth:`solve`, by name (see :data:`FIGURES`)."""
        return {"distance2": float(result.distance2), "distance": float(result.distance),
                "transport_cost": float(result.transport_cost),
                "reaction_cost": float(result.reaction_cost)}


@dataclass(eq=False)
class Outcome:
    """A solved problem: the result, its checks and the wall time of the solve."""

    problem: Problem
    result: object = field(repr=False)
    checks: pd.DataFrame = field(repr=False)
    seconds: float

    @property
    def passed(self) -> bool:
        """Every reference passes (and there is at least one)."""
        return bool(len(self.checks)) and bool(self.checks["passed"].all())


# -- reading -----------------------------------------------------------------------------
def load(path) -> Problem:
    """Read and validate a problem file.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    Problem

    Raises
    ------
    FileNotFoundError
        No such file.
    ProblemFileError
        Malformed TOML, an unknown key, a wrong type or an impossible value, or a solver
        failure in the Markowitz QPs of an ensemble's ``frontier`` or ``resampled`` part
        (the message names the file, the key and the reason).

    >>> import tempfile, pathlib
    >>> text = '''
    ... lam = 0.5
    ... [grid]
    ... n_weights = 8
    ... n_steps = 2
    ... [rho0]
    ... diracs = [{ weight = 0.5 }]
    ... [rho1]
    ... diracs = [{ weight = 0.5, mass = 4.0 }]
    ... [expected]
    ... distance2 = { value = 1.0, rtol = 1e-6, source = "closed form" }
    ... '''
    >>> file = pathlib.Path(tempfile.mkdtemp()) / "grow.toml"
    >>> _ = file.write_text(text)
    >>> problem = load(file)
    >>> problem.check(problem.solve())[["figure", "expected", "passed"]].to_dict("records")
    [{'figure': 'distance2', 'expected': 1.0, 'passed': True}]
    >>> _ = file.write_text(text.replace("n_steps = 2", "n_step = 2"))
    >>> load(file)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    wfr_cvx.problem_files.ProblemFileError: ...grow.toml: `grid.n_step`: unknown key; expected ...
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a directory, not a problem file (solve every "
                                "file of a directory with `wfr-cvx regress DIR` or "
                                "`wfr-cvx batch DIR`, or wfr_cvx.problem_files.load_dir)")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such problem file")
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ProblemFileError(path, None, f"malformed TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ProblemFileError(path, None, f"not UTF-8 text: {exc}") from None
    return _Reader(path).problem(data)


def from_dict(data: dict, *, name: str, base_dir=None) -> Problem:
    """Validate a problem given as a dict with the structure of a problem file.

    ``data`` is what :mod:`tomllib` would parse from the file (lists, not tuples or
    arrays); it is checked by the same code as :func:`load`.  ``name`` is the problem's
    name unless ``data`` has one, and labels the errors (``<name>: `lam`: ...``).
    Relative paths in ``data`` are relative to ``base_dir`` (default: the current
    directory).  The problem's ``path`` is None.

    >>> problem = from_dict({"lam": 0.5, "grid": {"n_weights": 8, "n_steps": 2},
    ...                      "rho0": {"diracs": [{"weight": 0.5}]},
    ...                      "rho1": {"diracs": [{"weight": 0.5, "mass": 4.0}]}}, name="grow")
    >>> problem.name, problem.lam, problem.path
    ('grow', 0.5, None)
    >>> from_dict({"lam": -1.0}, name="bad")
    Traceback (most recent call last):
    ...
    wfr_cvx.problem_files.ProblemFileError: <bad>: `lam`: must be > 0, got -1
    """
    if not isinstance(data, dict):
        raise TypeError(f"`data` must be a dict like a parsed problem file, got "
                        f"{type(data).__name__}")
    if not isinstance(name, str) or not name:
        raise TypeError(f"`name` must be a non-empty string, got {name!r}")
    label = Path("." if base_dir is None else base_dir) / f"<{name}>"
    problem = _Reader(label).problem({"name": name, **data})
    problem.path = None
    return problem


def load_dir(directory) -> list[Problem]:
    """Every ``*.toml`` problem of a directory, sorted by file name.

    Raises
    ------
    FileNotFoundError
        ``directory`` does not exist or is not a directory.
    ProblemFileError
        The first invalid file.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: no such directory")
    return [load(file) for file in sorted(directory.glob("*.toml"))]


def _floor_digits(value: float, digits: int) -> float:
    """``value`` > 0 rounded down to ``digits`` significant digits: a bound shown so, and
    copied, still holds."""
    unit = 10.0 ** (math.floor(math.log10(value)) - digits + 1)
    return math.floor(value / unit) * unit


def _is_real(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _type_name(value) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "an array", dict: "a table"}.get(type(value), type(value).__name__)


class _Reader:
    """Validation of the parsed TOML of one file; every error names the file and key."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str, reason: str):
        raise ProblemFileError(self.path, key, reason)

    # -- primitives --------------------------------------------------------------------
    def keys(self, table: dict, allowed, where: str) -> None:
        for key in table:
            name = f"{where}.{key}" if where else key
            if key not in allowed:
                self.fail(name, f"unknown key; expected one of {sorted(allowed)}")

    def get(self, table: dict, key: str, where: str, default=_MISSING):
        if key in table:
            return table[key]
        if default is _MISSING:
            self.fail(f"{where}.{key}" if where else key, "required key is missing")
        return default

    def real(self, table, key, where, default=_MISSING, *, positive=False,
             nonnegative=False, low=None, high=None):
        name = f"{where}.{key}" if where else key
        value = self.get(table, key, where, default)
        if value is default and default is not _MISSING:
            return value
        if not _is_real(value):
            self.fail(name, f"must be a number, got {_type_name(value)} ({value!r})")
        value = float(value)
        if not np.isfinite(value):
            self.fail(name, f"must be finite, got {value}")
        if positive and value <= 0:
            self.fail(name, f"must be > 0, got {value:g}")
        if nonnegative and value < 0:
            self.fail(name, f"must be >= 0, got {value:g}")
        if low is not None and not low <= value <= high:
            self.fail(name, f"must lie in [{low:g}, {high:g}], got {value:g}")
        return value

    def integer(self, table, key, where, minimum: int, default=_MISSING,
                maximum: int | None = None) -> int:
        name = f"{where}.{key}" if where else key
        value = self.get(table, key, where, default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(name, f"must be an integer, got {_type_name(value)} ({value!r})")
        if value < minimum:
            self.fail(name, f"must be >= {minimum}, got {value}")
        if maximum is not None and value > maximum:
            self.fail(name, f"must be <= {maximum:,}, got {value:,}")
        return value

    def string(self, table, key, where, default=_MISSING, choices=None) -> str:
        name = f"{where}.{key}" if where else key
        value = self.get(table, key, where, default)
        if not isinstance(value, str):
            self.fail(name, f"must be a string, got {_type_name(value)} ({value!r})")
        if choices is not None and value not in choices:
            self.fail(name, f"must be one of {list(choices)}, got {value!r}")
        return value

    def name(self, data) -> str:
        """The problem's ``name`` (default: the file's stem); never blank, since reports
        list problems by it."""
        name = self.string(data, "name", "", self.path.stem)
        if not name.strip():
            self.fail("name", "must not be blank (leave it out to use the file's name)")
        return name

    def table(self, data, key, where, default=_MISSING) -> dict:
        name = f"{where}.{key}" if where else key
        value = self.get(data, key, where, default)
        if not isinstance(value, dict):
            self.fail(name, f"must be a table, got {_type_name(value)}")
        return value

    def tables(self, data, key, where, example="[{ weight = 0.5 }]",
               nonempty: str | None = None) -> list[dict]:
        """An array of tables; ``nonempty`` (what an empty array would leave without its
        items) refuses an empty one."""
        name = f"{where}.{key}" if where else key
        value = data[key]
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.fail(name, f"must be an array of tables, e.g. {example}")
        if nonempty is not None and not value:
            self.fail(name, f"is empty: {nonempty}; leave the key out or give at least one "
                            f"item, e.g. {example}")
        return value

    def numbers(self, value, name: str) -> np.ndarray:
        """A (nested) array of numbers as a float array."""
        def flat(v):
            if isinstance(v, list):
                for item in v:
                    yield from flat(item)
            else:
                yield v

        if not isinstance(value, list) or not value:
            self.fail(name, f"must be a non-empty array of numbers, got {_type_name(value)}")
        bad = [v for v in flat(value) if not _is_real(v)]
        if bad:
            self.fail(name, f"must hold only numbers, got {_type_name(bad[0])} ({bad[0]!r})")
        try:
            arr = np.asarray(value, dtype=float)
        except ValueError:
            self.fail(name, "must be a rectangular array (rows of equal length)")
        if not np.all(np.isfinite(arr)):
            self.fail(name, "must hold finite numbers")
        return arr

    def file(self, value, name: str) -> Path:
        if not isinstance(value, str):
            self.fail(name, f"must be a file path (a string), got {_type_name(value)}")
        path = Path(value)
        if not path.is_absolute():
            path = self.path.parent / path
        if not path.is_file():
            self.fail(name, f"no such file: {path}")
        return path

    # -- sections ----------------------------------------------------------------------
    def problem(self, data: dict) -> Problem:
        allowed = {"name", "description", "kind", "lam", "tau", "backend", "scheme",
                   "metric", "grid", "rho0", "rho1", "potential", "solver", "expected",
                   "constraints"}
        kind = self.string(data, "kind", "", "geodesic", KINDS)
        if kind == "ensemble":
            return self.ensemble_problem(data)
        self.keys(data, allowed, "")
        name = self.name(data)
        description = self.string(data, "description", "", "")
        lam = self.real(data, "lam", "", positive=True)
        backend = self.string(data, "backend", "", AUTO, (AUTO, *REGISTRY))
        scheme = self.string(data, "scheme", "", DEFAULT_SCHEME, TIME_MEANS)
        grid = self.grid(self.table(data, "grid", ""))
        metric = self.metric(data.get("metric"), grid)
        rho0 = self.allocation(self.table(data, "rho0", ""), "rho0", grid)
        if kind == "geodesic":
            for key in ("tau", "potential"):
                if key in data:
                    self.fail(key, 'only a kind = "rebalance" problem has it')
            rho1 = self.allocation(self.table(data, "rho1", ""), "rho1", grid)
            tau = potential = None
        else:
            if "rho1" in data:
                self.fail("rho1", 'a kind = "rebalance" problem has no end allocation: '
                          "the step finds it")
            if rho0.sum() <= 0:
                self.fail("rho0", "a rebalance needs a start with positive total mass")
            rho1 = None
            tau = self.real(data, "tau", "", positive=True)
            potential = self.potential(self.table(data, "potential", ""), grid)
        constraints = self.constraints(
            data, tuple(k for k in CONSTRAINT_TYPES if k != "max_travel"),
            lambda constraint: compile_constraints([constraint], grid, rho0, rho1))
        solver = self.table(data, "solver", "", {})
        chosen = backend
        if backend == AUTO:
            # the [solver] settings are those of the backend "auto" will run
            try:
                chosen = choose_backend(grid, constrained=bool(constraints),
                                        free_end=rho1 is None, options=solver,
                                        allocations=(rho0, rho1)).name
            except ValueError as exc:
                if not set(solver) <= set(REGISTRY["clarabel"].options) | set(
                        REGISTRY["dr"].options):
                    chosen = "clarabel"  # names the unknown key below
                else:
                    self.fail("solver", str(exc))
        options = self.solver(solver, chosen)
        expected = self.expected(self.table(data, "expected", "", {}), kind)
        if grid.dims == 1 and any(ref.figure == "mean_weight_2" for ref in expected):
            self.fail("expected.mean_weight_2", "only a simplex grid has a second weight "
                                                "axis")
        return Problem(name=name, kind=kind, grid=grid, rho0=rho0, rho1=rho1, lam=lam,
                       metric=metric, backend=backend, scheme=scheme, tau=tau,
                       potential=potential, constraints=constraints,
                       solver_options=options, expected=expected,
                       description=description, path=self.path)

    # -- ensembles ---------------------------------------------------------------------
    def ensemble_problem(self, data: dict) -> EnsembleProblem:
        """A ``kind = "ensemble"`` file (module docstring)."""
        from .ensemble import BACKENDS

        allowed = {"name", "description", "kind", "lam", "backend", "assets", "regimes",
                   "metric", "e0", "e1", "solver", "expected", "constraints"}
        self.keys(data, allowed, "")
        assets = self.get(data, "assets", "")
        if (not isinstance(assets, list) or not assets
                or not all(isinstance(a, str) and a for a in assets)
                or len(set(assets)) != len(assets)):
            self.fail("assets", f"must be a non-empty array of distinct asset labels, got "
                                f"{assets!r}")
        backend = self.string(data, "backend", "", "auto", BACKENDS)
        regimes = self.ensemble_regimes(data)
        parts = []
        e0 = self.ensemble(self.table(data, "e0", ""), "e0", assets, regimes, parts)
        e1 = self.ensemble(self.table(data, "e1", ""), "e1", assets, regimes, parts)
        if regimes is None:
            self.labelled_alike(parts)
        constraints = self.ensemble_constraints(data, e0, e1)
        return EnsembleProblem(
            name=self.name(data), e0=e0, e1=e1,
            lam=self.real(data, "lam", "", positive=True),
            metric=self.ensemble_metric(data.get("metric"), assets), backend=backend,
            constraints=constraints,
            # "auto" is the direct assembly for ensembles
            solver_options=self.solver(self.table(data, "solver", "", {}),
                                       "clarabel" if backend == AUTO else backend),
            expected=self.expected(self.table(data, "expected", "", {}), "ensemble"),
            description=self.string(data, "description", "", ""), path=self.path)

    def ensemble_regimes(self, data: dict) -> tuple[str, ...] | None:
        """The file's declared ``regimes`` (labels), or None."""
        if "regimes" not in data:
            return None
        regimes = data["regimes"]
        if (not isinstance(regimes, list) or not regimes
                or not all(isinstance(r, str) and r.strip() for r in regimes)):
            self.fail("regimes", f"must be a non-empty array of non-blank labels, got "
                                 f"{regimes!r}")
        labels = [r.strip() for r in regimes]  # as the parts' labels are read
        if len(set(labels)) != len(labels):
            self.fail("regimes", f"labels must be unique, got {regimes}")
        return tuple(labels)

    def part_regime(self, item: dict, name: str, regimes) -> str | None:
        """A part's ``regime`` label (stripped, as the csv's column), None if it has none;
        with declared ``regimes``, one of them."""
        if "regime" not in item:
            return None
        regime = self.string(item, "regime", name).strip()
        if not regime:
            self.fail(f"{name}.regime", "must be a non-blank label")
        if regimes is not None and regime not in regimes:
            self.fail(f"{name}.regime", f"{regime!r} is not one of the file's `regimes` "
                                        f"{list(regimes)}")
        return regime

    def labelled_alike(self, parts: list) -> None:
        """Without declared ``regimes``, an ensemble part without a regime is in regime
        ``"0"``: beside parts naming regimes, none of them ``"0"``, it would be a regime of
        its own, its mass destroyed and created instead of moved.  ``parts``: (key, label
        or None)."""
        named = [(key, label) for key, label in parts if label is not None]
        bare = [key for key, label in parts if label is None]
        if named and bare and all(label != "0" for _, label in named):
            key, label = named[0]
            missing = "no `regime` column" if bare[0].endswith(".csv") else "missing"
            self.fail(bare[0], f"{missing}, while {key.removesuffix('.regime')} is in regime "
                               f"{label!r}: this part would be a regime '0' of its own (its "
                               f"mass destroyed and created, not moved); give it a `regime`, "
                               f"or declare the file's regimes (top-level `regimes = [...]`: "
                               f"a part without one is then in the first)")

    def ensemble(self, table: dict, where: str, assets: list, regimes, parts: list):
        """An ensemble: the union of its ``atoms``, ``csv``, ``frontier`` and ``resampled``
        parts (each an array of tables but ``csv``, a path).  ``regimes``: the file's
        declared labels (a part without a regime is in the first) or None (then in
        ``"0"``); each part's (regime key, label or None) is appended to ``parts``."""
        from .ensemble import Ensemble

        self.keys(table, {"atoms", "csv", "frontier", "resampled"}, where)
        if not table:
            self.fail(where, "an ensemble needs at least one of atoms, csv, frontier, "
                             "resampled")
        default = "0" if regimes is None else regimes[0]
        weights, masses, labels = [], [], []

        def add(frame, mass, regime, name):
            if list(frame.columns) != list(assets):
                missing = [a for a in assets if a not in frame.columns]
                if missing:
                    self.fail(name, f"has no column for asset(s) {missing}")
                frame = frame[assets]
            weights.append(frame.to_numpy(dtype=float))
            masses.append(np.broadcast_to(np.asarray(mass, dtype=float), len(frame)))
            labels.append(np.broadcast_to(np.asarray(regime, dtype=object), len(frame)))

        if "atoms" in table:
            for i, item in enumerate(self.tables(table, "atoms", where,
                                                 "[{ weights = [0.5, 0.5] }]",
                                                 nonempty="an ensemble part needs atoms")):
                name = f"{where}.atoms[{i}]"
                self.keys(item, {"weights", "mass", "regime"}, name)
                w = self.numbers(self.get(item, "weights", name), f"{name}.weights")
                if w.shape != (len(assets),):
                    self.fail(f"{name}.weights", f"must hold one weight per asset "
                                                 f"({len(assets)}), got shape {w.shape}")
                regime = self.part_regime(item, name, regimes)
                parts.append((f"{name}.regime", regime))
                add(pd.DataFrame([w], columns=assets),
                    self.real(item, "mass", name, 1.0, nonnegative=True),
                    default if regime is None else regime, name)
        if "csv" in table:
            path = self.file(table["csv"], f"{where}.csv")
            try:
                frame = pd.read_csv(path)
            except (ValueError, OSError) as exc:
                self.fail(f"{where}.csv", f"cannot read {path}: {exc}")
            if frame.empty:
                self.fail(f"{where}.csv", f"{path} has no data rows: an ensemble part needs "
                                          f"atoms")
            if len(frame.columns) and str(frame.columns[0]).startswith("Unnamed:"):
                # the row labels to_csv writes by default (Ensemble.to_frame().to_csv(p))
                frame = frame.drop(columns=frame.columns[0])
            mass = frame.pop("mass").to_numpy() if "mass" in frame else 1.0
            regime = default
            if "regime" in frame:
                frame.pop("regime")
                # the labels as written ("NA" is a label, not a missing value), and " on"
                # after a comma the regime "on", not a regime of its own
                column = pd.read_csv(path, usecols=["regime"], dtype=str,
                                     keep_default_na=False)["regime"].str.strip()
                blank = np.flatnonzero(column.to_numpy() == "")
                if blank.size:
                    rows = (blank + 1).tolist()
                    self.fail(f"{where}.csv", f"{path} has no `regime` in data row(s) "
                                              f"{rows[:5]}{' ...' if len(rows) > 5 else ''}")
                regime = column.to_numpy()
                unknown = [] if regimes is None else sorted(set(regime) - set(regimes))
                if unknown:
                    self.fail(f"{where}.csv", f"{path} has regime(s) {unknown} that are not "
                                              f"among the file's `regimes` {list(regimes)}")
                parts.extend((f"{where}.csv", str(label)) for label in dict.fromkeys(regime))
            else:
                parts.append((f"{where}.csv", None))
            unknown = [str(c) for c in frame.columns if c not in assets]
            if unknown:
                # a misspelt `mass` or `regime` column would be dropped with its meaning
                self.fail(f"{where}.csv", f"{path} has column(s) {unknown} that are neither "
                                          f"assets {list(assets)} nor `mass` or `regime`")
            add(frame, mass, regime, f"{where}.csv")
        for part in ("frontier", "resampled"):
            if part not in table:
                continue
            for i, item in enumerate(self.tables(table, part, where,
                                                 '[{ prices = "prices.csv" }]',
                                                 nonempty="an ensemble part needs books")):
                name = f"{where}.{part}[{i}]"
                books = self.portfolio_source(item, name, part, assets)
                mass = self.real(item, "mass", name, 1.0, nonnegative=True)
                regime = self.part_regime(item, name, regimes)
                parts.append((f"{name}.regime", regime))
                add(books, mass / len(books), default if regime is None else regime, name)
        try:
            return Ensemble(np.vstack(weights), np.concatenate(masses),
                            np.concatenate(labels).astype(str), assets=tuple(assets),
                            regimes=regimes)
        except (TypeError, ValueError) as exc:
            self.fail(where, str(exc))

    def portfolio_source(self, item: dict, name: str, part: str, assets: list):
        """Portfolios from a price file: the long-only efficient frontier (``points``
        portfolios) or the mean-variance portfolios of bootstrap resamples of the returns
        (``samples``, ``risk_aversion``, ``seed``); ``mu_scale`` / ``cov_scale`` scale the
        estimates (a stress scenario)."""
        from .finance.markowitz import (
            MAX_PORTFOLIOS,
            efficient_frontier,
            estimate,
            resampled_portfolios,
            returns_from_prices,
        )

        keys = {"prices", "regime", "mass", "mu_scale", "cov_scale"}
        keys |= {"points"} if part == "frontier" else {"samples", "risk_aversion", "seed"}
        self.keys(item, keys, name)
        prices = self.price_file(item, name)
        unknown = [a for a in assets if a not in prices.columns]
        if unknown:
            self.fail(f"{name}.prices", f"{unknown} not in the price file's columns "
                                        f"{list(prices.columns)}")
        mu_scale = self.real(item, "mu_scale", name, 1.0)
        cov_scale = self.real(item, "cov_scale", name, 1.0, positive=True)
        try:
            if part == "frontier":
                points = self.integer(item, "points", name, 2, 10, MAX_PORTFOLIOS)
                mu, cov = estimate(prices[assets])
                books = efficient_frontier(mu_scale * mu, cov_scale * cov, n_points=points)
                return books[assets]
            samples = self.integer(item, "samples", name, 1, 20, MAX_PORTFOLIOS)
            returns = returns_from_prices(prices[assets])
            mean = returns.mean()
            stressed = mean * mu_scale + (returns - mean) * np.sqrt(cov_scale)
            self.stress_within_range(stressed, returns, mu_scale, cov_scale, name)
            returns = stressed
            return resampled_portfolios(
                returns, samples,
                risk_aversion=self.real(item, "risk_aversion", name, 1.0, positive=True),
                seed=self.integer(item, "seed", name, 0, 0))
        except ProblemFileError:
            raise  # a key of this part, already named
        except (ValueError, TypeError) as exc:
            self.fail(name, str(exc))
        except SolverError as exc:  # the Markowitz QPs that compute the books
            self.fail(name, f"the portfolios of this part could not be computed: {exc}")

    def stress_within_range(self, stressed, returns, mu_scale: float, cov_scale: float,
                            name: str) -> None:
        r"""Refuse a resampled part whose ``mu_scale`` / ``cov_scale`` take a return
        :math:`\bar r\,s_\mu + (r - \bar r)\sqrt{s_\Sigma}` below -1 (a price below 0),
        naming the key to change and the largest ``cov_scale`` the returns allow."""
        low = stressed.min()
        if not (low < -1.0).any():
            return
        from .finance.markowitz import _show_label

        column = low.idxmin()
        date = _show_label(stressed[column].idxmin())
        floor = 1.0 + returns.mean() * mu_scale  # each scaled mean's height above -1
        if (floor <= 0).any():
            bad = floor.idxmin()
            self.fail(f"{name}.mu_scale",
                      f"mu_scale = {mu_scale:g} takes the mean return of {bad!r} to "
                      f"{returns[bad].mean() * mu_scale:.4g}, below -1 (a price below 0): "
                      f"use a mu_scale that keeps every mean return above -1")
        drop = (returns - returns.mean()).min()  # the largest fall below each mean
        bound = (floor / -drop[drop < 0]) ** 2
        allowed = float(bound.min())
        shown = _floor_digits(allowed, 3)
        self.fail(f"{name}.cov_scale",
                  f"cov_scale = {cov_scale:g} widens this part's returns about their mean "
                  f"by sqrt({cov_scale:g}) = {np.sqrt(cov_scale):.4g}"
                  + (f" (with mu_scale = {mu_scale:g})" if mu_scale != 1.0 else "")
                  + f", which takes {column!r} to {low[column]:.4g} on {date}, below -1 (a "
                    f"price below 0): use cov_scale <= {shown:.3g}, the most its returns "
                    f"allow, or a `frontier` part, which scales the covariance with no such "
                    f"limit")

    def ensemble_metric(self, value, assets: list):
        """None, a positive number, an n x n SPD matrix, or the covariance of a price file
        (``{ kind = "covariance", prices, scale }``, the trade-variance metric)."""
        if value is None or _is_real(value):
            return None if value is None else self.real({"metric": value}, "metric", "",
                                                        positive=True)
        if isinstance(value, dict):
            from .finance.markowitz import estimate

            self.keys(value, {"kind", "prices", "scale"}, "metric")
            self.string(value, "kind", "metric", choices=("covariance",))
            prices = self.price_file(value, "metric")
            unknown = [a for a in assets if a not in prices.columns]
            if unknown:
                self.fail("metric.prices", f"{unknown} not in the price file's columns")
            scale = self.real(value, "scale", "metric", 1.0, positive=True)
            try:
                _, cov = estimate(prices[assets])
            except ValueError as exc:
                self.fail("metric.prices", str(exc))
            return scale * cov.to_numpy()
        arr = self.numbers(value, "metric")
        if arr.shape != (len(assets), len(assets)):
            self.fail("metric", f"must be a number or a {len(assets)} x {len(assets)} "
                                f"matrix, got shape {arr.shape}")
        from .ensemble._metric import check_metric

        try:  # symmetric positive definite: checked here, where the file can be named
            check_metric(arr, tuple(assets), ("0",))
        except (TypeError, ValueError) as exc:
            self.fail("metric", str(exc))
        return arr

    def ensemble_constraints(self, data: dict, e0, e1) -> tuple:
        """``total_mass`` (ensembles of equal total mass) and ``max_travel`` tables."""
        from .constraints import TotalMass

        def check(constraint):
            m0, m1 = e0.total_mass, e1.total_mass
            if isinstance(constraint, TotalMass) and abs(m0 - m1) > 1e-9 * max(m0, m1):
                raise ValueError(f"TotalMass() needs ensembles of equal total mass, got e0 "
                                 f"{m0:.12g} and e1 {m1:.12g}")

        return self.constraints(data, ("total_mass", "max_travel"), check)

    def grid(self, table: dict) -> Grid:
        self.keys(table, {"n_weights", "n_steps", "regimes", "kind", "assets"}, "grid")
        kind = self.string(table, "kind", "grid", "interval", choices=("interval", "simplex"))
        assets = self.get(table, "assets", "grid", None)
        if assets is not None and kind != "simplex":
            self.fail("grid.assets", "only a kind = 'simplex' grid names its assets")
        if assets is not None and (not isinstance(assets, list) or len(assets) != 3
                                   or not all(isinstance(a, str) and a for a in assets)
                                   or len(set(assets)) != 3):
            self.fail("grid.assets", f"must be three distinct labels, got {assets!r}")
        n_weights = self.integer(table, "n_weights", "grid", 2)
        n_steps = self.integer(table, "n_steps", "grid", 1)
        regimes = self.get(table, "regimes", "grid", 1)
        if isinstance(regimes, list):
            if not regimes or not all(isinstance(r, str) and r.strip() for r in regimes):
                self.fail("grid.regimes", f"must be a count or a non-empty array of "
                                          f"non-blank strings, got {regimes!r}")
            if len(set(regimes)) != len(regimes):
                self.fail("grid.regimes", f"labels must be unique, got {regimes}")
        elif isinstance(regimes, bool) or not isinstance(regimes, int):
            self.fail("grid.regimes", f"must be a count or an array of labels, got "
                                      f"{_type_name(regimes)}")
        elif regimes < 1:
            self.fail("grid.regimes", f"must be >= 1, got {regimes}")
        try:
            if kind == "simplex":
                return Grid.simplex(n_weights, n_steps,
                                    assets=tuple(assets or ("A", "B", "C")), regimes=regimes)
            return Grid(n_weights, n_steps, regimes=regimes)
        except ProblemTooLargeError as exc:
            raise ProblemFileTooLargeError(self.path, "grid", exc) from None
        except (TypeError, ValueError) as exc:
            self.fail("grid", str(exc))

    def point(self, item: dict, key: str, where: str, grid: Grid):
        """A weight in [0, 1] (1-D grid) or a pair of them (simplex grid)."""
        if grid.dims == 1:
            return self.real(item, key, where, low=0.0, high=1.0)
        name = f"{where}.{key}"
        value = self.get(item, key, where)
        if (not isinstance(value, list) or len(value) != 2
                or not all(_is_real(v) and 0.0 <= v <= 1.0 for v in value)):
            self.fail(name, f"must be a pair [w_A, w_B] of weights in [0, 1] on a simplex "
                            f"grid, got {value!r}")
        return tuple(float(v) for v in value)

    def regime(self, item: dict, name: str, grid: Grid) -> str:
        """The item's regime as the grid's label (a string: passed on, it cannot be read
        again as a position); written as a label or a position, and without a `regime`
        key the first regime (a default, not an integer the user wrote, so never
        ambiguous)."""
        if "regime" not in item:
            return grid.regimes[0]
        value = item["regime"]
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            self.fail(f"{name}.regime", f"must be a label or an index, got "
                                        f"{_type_name(value)}")
        try:
            return grid.regimes[grid.regime_index(value)]
        except ValueError as exc:
            self.fail(f"{name}.regime", str(exc).replace("`regime` ", ""))

    def allocation(self, table: dict, where: str, grid: Grid) -> np.ndarray:
        self.keys(table, {"diracs", "bumps", "masses", "csv"}, where)
        if not table:
            self.fail(where, "an allocation needs at least one of diracs, bumps, masses, "
                             "csv")
        total = grid.zeros()
        for part in ("diracs", "bumps"):
            if part not in table:
                continue
            example = ("[{ weight = 0.5 }]" if part == "diracs"
                       else "[{ center = 0.5, width = 0.05 }]")
            for i, item in enumerate(self.tables(
                    table, part, where, example,
                    nonempty="it would add nothing to the allocation (an all-zero "
                             "allocation is written as `masses`)")):
                name = f"{where}.{part}[{i}]"
                if part == "diracs":
                    self.keys(item, {"weight", "regime", "mass"}, name)
                    weight = self.point(item, "weight", name, grid)
                    mass = self.real(item, "mass", name, 1.0, nonnegative=True)
                    regime = self.regime(item, name, grid)  # names its own key
                    try:
                        total += grid.dirac(weight, regime, mass)
                    except ValueError as exc:
                        self.fail(name, str(exc))
                else:
                    self.keys(item, {"center", "width", "regime", "mass"}, name)
                    center = self.point(item, "center", name, grid)
                    width = self.real(item, "width", name, positive=True)
                    mass = self.real(item, "mass", name, 1.0, nonnegative=True)
                    regime = self.regime(item, name, grid)
                    try:
                        total += grid.bump(center, width, regime, mass)
                    except ValueError as exc:
                        self.fail(name, str(exc))
        if "masses" in table:
            name = f"{where}.masses"
            arr = self.numbers(table["masses"], name)
            try:
                total += as_allocation(arr, grid, "masses")
            except ValueError as exc:
                self.fail(name, str(exc).replace("`masses` ", ""))
        if "csv" in table:
            total += self.csv_allocation(self.file(table["csv"], f"{where}.csv"),
                                         f"{where}.csv", grid)
        return total

    def csv_allocation(self, path: Path, name: str, grid: Grid) -> np.ndarray:
        """Cell masses from a CSV file, read by label: the cell centre in a ``weight``
        column (simplex grids: ``w_<A>`` and ``w_<B>`` columns after the grid's assets)
        and one column of masses per regime, rows in any order."""
        try:
            frame = pd.read_csv(path)
        except (ValueError, OSError) as exc:
            self.fail(name, f"cannot read {path}: {exc}")
        if grid.dims == 1:
            keys = ["weight"]
        else:
            keys = [f"w_{asset}" for asset in (grid.assets or ("A", "B", "C"))[:2]]
        missing = [key for key in keys if key not in frame.columns]
        if missing:
            self.fail(name, f"{path} must have column(s) {keys} (the cell centres), got "
                            f"{list(frame.columns)}")
        try:
            return as_allocation(frame.set_index(keys), grid, "csv")
        except (ValueError, TypeError) as exc:
            self.fail(name, f"{path}: " + str(exc).replace("`csv` ", ""))

    def metric(self, value, grid: Grid):
        if value is None:
            return None
        n_faces = grid.n_weights - 1
        if _is_real(value):
            return self.real({"metric": value}, "metric", "", positive=True)
        if grid.dims == 2:
            return self.matrix_metric(value, grid)
        if isinstance(value, dict):
            self.metric_kind(value, grid, {"kind", "at_0", "at_1"})
            at_0 = self.real(value, "at_0", "metric", positive=True)
            at_1 = self.real(value, "at_1", "metric", positive=True)
            return at_0 + (at_1 - at_0) * grid.faces
        arr = self.numbers(value, "metric")
        if arr.shape not in ((n_faces,), grid.face_shape):
            self.fail("metric", f"must have {n_faces} values (one per interior face) or "
                                f"shape {grid.face_shape}, got shape {arr.shape}")
        if np.any(arr <= 0):
            self.fail("metric", "must be > 0 on every face")
        return arr

    def metric_kind(self, value: dict, grid: Grid, keys: set) -> None:
        """A metric table's ``kind``, checked against the grid before the table's other
        keys: a kind for the other grid is named as such, not as unknown keys."""
        grids = {"linear": "1-D", "trade_variance": "simplex"}
        here = "1-D" if grid.dims == 1 else "simplex"
        kinds = [k for k, g in grids.items() if g == here]
        kind = self.string(value, "kind", "metric")
        if kind not in kinds:
            known = (f"is for {grids[kind]} grids; this file's grid is {here}"
                     if kind in grids else "is unknown")
            plain = ("one value per interior face" if grid.dims == 1
                     else "a 2 x 2 SPD matrix")
            self.fail("metric.kind", f"metric kind {kind!r} {known} (kinds here: {kinds}; "
                                     f"or give the metric as a number or {plain})")
        self.keys(value, keys, "metric")

    def matrix_metric(self, value, grid: Grid) -> np.ndarray:
        """2-D: a 2 x 2 SPD matrix, or the trade-variance metric of a price file."""
        if isinstance(value, dict):
            from .finance.markowitz import estimate
            from .metric import trade_variance_metric

            self.metric_kind(value, grid, {"kind", "prices", "assets", "scale"})
            prices = self.price_file(value, "metric")
            assets = self.asset_list(value, "metric", grid, prices)
            if set(assets) != set(grid.assets):
                self.fail("metric.assets", f"must be the grid's assets {list(grid.assets)} "
                                           f"(read by name, in any order), got {assets}")
            scale = self.real(value, "scale", "metric", 1.0, positive=True)
            try:
                # by name: G's axes are the grid's first two assets, whatever the order given
                _, cov = estimate(prices[list(grid.assets)])
            except ValueError as exc:
                self.fail("metric.prices", str(exc))
            return scale * trade_variance_metric(cov.to_numpy())
        arr = self.numbers(value, "metric")
        try:
            from .metric import check_metric

            check_metric(arr, grid)
        except (ValueError, TypeError) as exc:
            self.fail("metric", str(exc).replace("`metric` ", ""))
        return arr

    def price_file(self, table: dict, where: str):
        from .finance.markowitz import load_prices

        path = self.file(self.get(table, "prices", where), f"{where}.prices")
        try:
            return load_prices(path)
        except (ValueError, TypeError, OSError) as exc:
            self.fail(f"{where}.prices", str(exc))

    def asset_list(self, table: dict, where: str, grid: Grid, prices) -> list:
        assets = self.get(table, "assets", where)
        n = grid.dims + 1
        if (not isinstance(assets, list) or len(assets) != n
                or not all(isinstance(a, str) for a in assets)):
            count = {2: "two", 3: "three"}[n]
            self.fail(f"{where}.assets", f"must name the {count} assets of the grid (the "
                                         f"weight axes' and the remainder), e.g. "
                                         f"{['IBM', 'WMT', 'SEHI'][:n]}")
        unknown = [a for a in assets if a not in prices.columns]
        if unknown:
            self.fail(f"{where}.assets", f"{unknown} not in the price file's columns "
                                         f"{list(prices.columns)}")
        return assets

    def potential(self, table: dict, grid: Grid) -> np.ndarray:
        kind = self.string(table, "kind", "potential", choices=("mean_variance", "values"))
        if kind == "values":
            self.keys(table, {"kind", "values"}, "potential")
            arr = self.numbers(self.get(table, "values", "potential"), "potential.values")
            if arr.ndim == 1 and grid.n_regimes == 1:
                arr = arr[None, :]
            if arr.shape != grid.shape:
                self.fail("potential.values", f"must have shape {grid.shape} like the "
                                              f"grid, got {arr.shape}")
            return arr
        from .finance.markowitz import estimate, potential

        self.keys(table, {"kind", "prices", "assets", "risk_aversion", "mu_scale",
                          "cov_scale"}, "potential")
        prices = self.price_file(table, "potential")
        assets = self.asset_list(table, "potential", grid, prices)
        if grid.assets is not None:
            if set(assets) != set(grid.assets):
                self.fail("potential.assets", f"must be the grid's assets "
                                              f"{list(grid.assets)} (read by name, in any "
                                              f"order), got {assets}")
            assets = list(grid.assets)  # by name: the grid's axes, whatever the order given
        gamma = self.real(table, "risk_aversion", "potential", 1.0, positive=True)
        scales = {}
        for key in ("mu_scale", "cov_scale"):
            name = f"potential.{key}"
            if key not in table:
                scales[key] = np.ones(grid.n_regimes)
                continue
            arr = self.numbers(table[key], name)
            if arr.shape != (grid.n_regimes,):
                self.fail(name, f"must have one value per regime ({grid.n_regimes}), got "
                                f"shape {arr.shape}")
            if key == "cov_scale" and np.any(arr <= 0):
                self.fail(name, "must be > 0")
            scales[key] = arr
        try:
            mu, cov = estimate(prices[assets])
        except ValueError as exc:
            self.fail("potential.prices", str(exc))
        # `assets` is in the order of the axes (the grid's, or the file's on a grid that
        # names none, whose first asset is the weight axis): arrays in that order
        mu, cov = mu[assets].to_numpy(), cov.loc[assets, assets].to_numpy()
        mus = [s * mu for s in scales["mu_scale"]]
        covs = [s * cov for s in scales["cov_scale"]]
        return potential(grid, mus, covs, risk_aversion=gamma)

    def constraints(self, data: dict, kinds: tuple, check) -> tuple:
        """The ``[[constraints]]`` tables as constraint objects: ``kind`` (one of ``kinds``)
        names the class (:data:`wfr_cvx.constraints.CONSTRAINT_TYPES`), the other keys are
        its fields; the class validates the values and ``check(constraint)`` them against
        the problem (the grid and the endpoints), raising TypeError or ValueError."""
        from dataclasses import MISSING, fields

        from .constraints import CONSTRAINT_TYPES

        if "constraints" not in data:
            return ()
        out = []
        for i, item in enumerate(self.tables(data, "constraints", "",
                                                 '[{ kind = "total_mass" }]')):
            name = f"constraints[{i}]"
            kind = self.string(item, "kind", name, choices=kinds)
            cls = CONSTRAINT_TYPES[kind]
            names = [f.name for f in fields(cls)]
            self.keys(item, {"kind", *names}, name)
            for f in fields(cls):
                if f.default is MISSING:
                    self.get(item, f.name, name)  # required
            try:
                constraint = cls(**{key: item[key] for key in names if key in item})
                check(constraint)
            except (TypeError, ValueError) as exc:
                message = str(exc)
                named = [key for key in names if f"`{key}`" in message]
                self.fail(f"{name}.{named[0]}" if named else name,
                          message.removeprefix(f"{cls.__name__}: "))
            out.append(constraint)
        return tuple(out)

    def solver(self, table: dict, backend: str) -> dict:
        from .backends import get_backend

        specs = get_backend(backend).options
        self.keys(table, specs, "solver")
        out = {}
        for key, value in table.items():
            try:
                out[key] = specs[key].check(value, backend)
            except (TypeError, ValueError) as exc:
                self.fail(f"solver.{key}", str(exc).replace(f"solver option `{key}` ", ""))
        return out

    def expected(self, table: dict, kind: str) -> tuple[Reference, ...]:
        figures = FIGURES[kind]
        defaults = {"rtol", "atol", "source", "note"}
        self.keys(table, set(figures) | defaults, "expected")
        rtol = self.real(table, "rtol", "expected", 0.0, nonnegative=True)
        atol = self.real(table, "atol", "expected", 0.0, nonnegative=True)
        source = self.source(table, "expected", None)
        note = self.string(table, "note", "expected", "")
        out = []
        for figure in figures:
            if figure not in table:
                continue
            value = table[figure]
            name = f"expected.{figure}"
            if _is_real(value):
                items = [({"value": value}, name)]
            elif isinstance(value, dict):
                items = [(value, name)]
            elif isinstance(value, list) and value and all(isinstance(v, dict)
                                                          for v in value):
                items = [(v, f"{name}[{i}]") for i, v in enumerate(value)]
            else:
                self.fail(name, "must be a number, a table { value, rtol, atol, source, "
                                "note } or an array of such tables")
            for item, where in items:
                self.keys(item, {"value", "rtol", "atol", "source", "note"}, where)
                self.tolerance_given(table, item, where)
                ref = Reference(
                    figure=figure, value=self.real(item, "value", where),
                    rtol=self.real(item, "rtol", where, rtol, nonnegative=True),
                    atol=self.real(item, "atol", where, atol, nonnegative=True),
                    source=self.source(item, where, source),
                    note=self.string(item, "note", where, note))
                if ref.source is None:
                    self.fail(f"{where}.source", f"required: one of {list(SOURCES)}, here "
                                                 "or in [expected]")
                if ref.value == 0 and ref.atol == 0:
                    # atol + rtol |0| = 0: a relative tolerance of zero is an exact match
                    self.fail(where, f"is 0 with only a relative tolerance (rtol = "
                                     f"{ref.rtol:g}), which is no tolerance at 0: give an "
                                     "`atol` > 0 (here or in [expected]; an `atol` = 0 here "
                                     "overrides the table's); figures are never matched "
                                     "exactly")
                out.append(ref)
        return tuple(out)

    def tolerance_given(self, table: dict, item: dict, where: str) -> None:
        """Refuse an expected value without a tolerance: a figure computed in floating
        point is never matched exactly, and a silent exact match fails by round-off."""
        given = {key: item.get(key, table.get(key)) for key in ("rtol", "atol")}
        if all(value is None for value in given.values()):
            self.fail(where, "has no tolerance: give `rtol` or `atol` (here or in "
                             "[expected]); figures are never matched exactly")
        if not any(_is_real(value) and value > 0 for value in given.values()):
            zero = ", ".join(f"{key} = {value!r}" for key, value in given.items()
                             if value is not None)
            self.fail(where, f"has no tolerance > 0 ({zero}): that asks for an exact match "
                             "of a floating-point figure; give `rtol` or `atol` > 0")

    def source(self, table: dict, where: str, default):
        if "source" not in table:
            return default
        value = self.string(table, "source", where)
        normal = " ".join(value.lower().split())
        if normal not in SOURCES:
            self.fail(f"{where}.source", f"must be one of {list(SOURCES)}, got {value!r}")
        return normal
