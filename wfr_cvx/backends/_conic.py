r"""The conic problem every conic backend solves, and what it returns.

.. math::  \min_x\ \tfrac12 x^\top P x + q^\top x \quad\text{s.t.}\quad Ax + s = b,\
           s \in \mathcal K = \mathcal K_1 \times \dots \times \mathcal K_m,

Clarabel's standard form: ``P`` upper-triangular CSC (``None``: zero), the cones listed in
row order as :class:`ConeBlock` records.  A conic backend is one function
``solve(problem: ConicProblem, options: dict, start=None) -> ConicResult``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ._status import Status

if TYPE_CHECKING:
    import numpy as np
    import scipy.sparse as sp

__all__ = ["CONE_KINDS", "ConeBlock", "ConicProblem", "ConicResult", "Start"]

#: ``"zero"``: rows equal to 0; ``"nonneg"``: rows >= 0; ``"soc"``: second-order cones
#: :math:`\{(t, x): \|x\|_2 \le t\}`.
CONE_KINDS = ("zero", "nonneg", "soc")


@dataclass(frozen=True)
class ConeBlock:
    """``count`` consecutive cones of one kind, ``dim`` rows each.

    Zero and non-negative rows are cones of dimension 1 (a block of ``n`` of them is one
    ``n``-dimensional zero cone or orthant).  ``label`` says what the rows model (e.g.
    ``"transport"``, ``"reaction"``, ``"geometric_mean"``, ``"max_velocity"``); backends
    that treat kinds of terms differently read it.
    """

    kind: str
    dim: int
    count: int
    label: str = ""

    def __post_init__(self):
        if self.kind not in CONE_KINDS:
            raise ValueError(f"cone kind must be one of {CONE_KINDS}, got {self.kind!r}")
        if self.kind != "soc" and self.dim != 1:
            raise ValueError(f"a {self.kind} block has cones of dimension 1, got {self.dim}")
        if self.kind == "soc" and self.dim < 2:
            raise ValueError(f"a second-order cone has dimension >= 2, got {self.dim}")

    @property
    def rows(self) -> int:
        return self.dim * self.count

    @classmethod
    def zero(cls, rows: int, label: str = "") -> ConeBlock:
        return cls("zero", 1, int(rows), label)

    @classmethod
    def nonneg(cls, rows: int, label: str = "") -> ConeBlock:
        return cls("nonneg", 1, int(rows), label)

    @classmethod
    def soc(cls, dim: int, count: int, label: str = "") -> ConeBlock:
        return cls("soc", int(dim), int(count), label)


@dataclass
class ConicProblem:
    """``min 1/2 x'Px + q'x  s.t.  Ax + s = b, s in cones`` (see the module docstring).

    ``epigraph`` are the columns of epigraph variables: each appears in exactly one
    second-order cone and only with a cost (first-order backends minimise them out).
    """

    q: np.ndarray
    A: sp.csc_matrix
    b: np.ndarray
    cones: tuple[ConeBlock, ...]
    P: sp.csc_matrix | None = None
    epigraph: slice = field(default_factory=lambda: slice(0, 0))

    def __post_init__(self):
        self.cones = tuple(block for block in self.cones if block.count)
        rows = sum(block.rows for block in self.cones)
        if rows != self.A.shape[0]:
            raise ValueError(f"the cones cover {rows} rows, A has {self.A.shape[0]}")
        if self.b.shape != (self.A.shape[0],) or self.q.shape != (self.A.shape[1],):
            raise ValueError(f"q {self.q.shape} / b {self.b.shape} do not fit A {self.A.shape}")

    @property
    def n_variables(self) -> int:
        return self.A.shape[1]

    @property
    def n_constraints(self) -> int:
        return self.A.shape[0]

    def row_ranges(self):
        """``(block, first row, stop row)`` for every cone block, in row order."""
        row = 0
        for block in self.cones:
            yield block, row, row + block.rows
            row += block.rows


@dataclass
class ConicResult:
    """A conic backend's answer.

    ``x`` the primal point, ``z`` the dual of ``Ax + s = b`` (None when the backend has
    none to give), ``status`` a :class:`~wfr_cvx.backends.Status`, ``objective``
    and ``objective_dual`` the primal and dual objectives (NaN when the solver has none),
    ``r_prim`` / ``r_dual`` its residuals, ``blocks`` how many independent blocks were
    solved, ``message`` the solver's own words when it failed.
    """

    x: np.ndarray
    status: Status
    iterations: int
    setup_time: float
    solve_time: float
    objective: float = float("nan")
    objective_dual: float = float("nan")
    r_prim: float = float("nan")
    r_dual: float = float("nan")
    blocks: int = 1
    message: str = ""
    z: np.ndarray | None = None


@dataclass
class Start:
    """A start point for an iterative backend: ``x`` (the unknowns before the epigraph
    columns) and the ``seconds`` spent finding it (they count in the solve's time)."""

    x: np.ndarray
    seconds: float = 0.0
