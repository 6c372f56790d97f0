r"""The static semi-coupling problem between two ensembles, as a sparse SOCP.

Between :math:`\mu = \sum_i a_i\delta_{(x_i, k_i)}` and
:math:`\nu = \sum_j b_j\delta_{(y_j, l_j)}` the squared WFR (Hellinger-Kantorovich)
distance is the static semi-coupling problem (Chizat, Peyré, Schmitzer & Vialard 2018,
Found. Comput. Math. 18, Thm 4.1 and §5; Liero, Mielke & Savaré 2018, Invent. Math. 211,
§7):

.. math::

    d^2 = 4\lambda^2\Big[\sum_i a_i + \sum_j b_j
          - 2\max_{A, B \ge 0}\sum_{ij}\cos\theta_{ij}\sqrt{A_{ij}B_{ij}}\Big],
    \qquad \sum_j A_{ij} \le a_i,\ \ \sum_i B_{ij} \le b_j,

with :math:`\theta_{ij} = \min(|x_i - y_j|_G / 2\lambda, \pi/2)`, and
:math:`\theta_{ij} = \pi/2` when :math:`k_i \ne l_j`.  :math:`A_{ij}` leaves atom
:math:`i`, :math:`B_{ij}` arrives at atom :math:`j`; the slacks
:math:`\sigma_i = a_i - \sum_j A_{ij}` and :math:`\tau_j = b_j - \sum_i B_{ij}` are the
destroyed and created masses.  Pairs with :math:`\theta = \pi/2` contribute nothing and
are pruned exactly (:mod:`._pairs`).

**Without cancellation.**  :math:`d^2` may be 1e-7 of :math:`4\lambda^2` times the mass
(transport at large :math:`\lambda`), so the objective is written as a sum of
non-negative terms with no constant.  With a variable
:math:`u_p \ge (\sqrt{A_p} - \sqrt{B_p})^2` per kept pair, i.e. with
:math:`s = (A + B - u)/2`, :math:`s^2 \le AB`, the three-dimensional second-order cone

.. math::  \|(A_p + B_p - u_p,\ A_p - B_p)\|_2 \le A_p + B_p

(the rotated-cone trick of cvxpy's ``quad_over_lin``; it also gives :math:`A, B \ge 0`),
one has exactly

.. math::

    \frac{d^2}{4\lambda^2} = \min\ \sum_i \sigma_i + \sum_j \tau_j
    + \sum_p \big[(1 - c_p)(A_p + B_p) + c_p u_p\big],
    \qquad c_p = \cos\theta_p,\ \ 1 - c_p = 2\sin^2(\theta_p / 2),

since :math:`(1 - c)(A + B) + c\,u = A + B - 2cs \ge A + B - 2c\sqrt{AB}` with equality
at the optimum.  Equality rows (zero cone) tie the pairs to the masses.  An atom with a
pair is used whole at the optimum (moving its slack :math:`\delta` into a pair whose other
side carries mass lowers the cost by :math:`\cos\theta\sqrt{B/A}\,\delta`, and into an
empty pair by :math:`\sim\sqrt\delta`: the square root's infinite slope at 0), so only
atoms without a pair in the solve have a slack (a non-negative cone); the others' rows
are :math:`\sum_p A_p = a_i`.

**Scaled cones.**  The solver works with :math:`\hat u = u / \varepsilon`,
:math:`\varepsilon` = ``cost_unit`` (below: the a-priori size of :math:`d^2 / 4\lambda^2`
per unit mass), and each pair's cone is written as

.. math::  \big\|\big(A + B - \tfrac{1 + \varepsilon}{2}\hat u,\
           (A - B)/\sqrt\varepsilon\big)\big\|_2 \le A + B + \tfrac{1 - \varepsilon}{2}\hat u,

i.e. :math:`(A - B)^2 \le 2(A + B)u - u^2`, the cone above (:math:`\varepsilon = 1`) under
a linear map of the cone onto itself (a Lorentz boost, then a scaling).  Its entries are
of the order of the masses whatever :math:`\varepsilon`, where the unscaled cone's
:math:`A + B - u` had to resolve :math:`u` ~ :math:`\varepsilon(A + B)` against the
interior point's absolute tolerance: between nearly equal ensembles (:math:`\varepsilon`
~1e-9) its plans cost up to 1000 times the optimum and the solves stalled ("AlmostSolved"
at 200 iterations).

**Dual and certificate.**  With potentials :math:`\varphi_i, \psi_j` on the equality rows
(the pair cost :math:`f(A, B) = A + B - 2c\sqrt{AB}` is 1-homogeneous),

.. math::

    \frac{d^2}{4\lambda^2} = \max\ \sum_i a_i\varphi_i + \sum_j b_j\psi_j
    \quad\text{s.t.}\quad \varphi, \psi \le 1,\ \
    (1 - \varphi_i)(1 - \psi_j) \ge \cos^2\theta_{ij}

(the dual of Liero-Mielke-Savaré 2018, Thm 7.20, in these variables).  The solver's
multipliers are made feasible for *every* candidate pair by double c-transforms
(:func:`dual_bound`), so every solve yields a lower bound of :math:`d^2` beside the upper
bound of its (cleaned) plan.  The total masses bound :math:`d^2 / 4\lambda^2` below by
:math:`\sum_k(\sqrt{\sum_{k_i = k} a_i} - \sqrt{\sum_{l_j = k} b_j})^2` as well, regime by
regime (:func:`mass_bound`; attained when each atom is paired with the other ensemble's at
its position, each regime resized by one factor); every certificate takes the larger of the
two, and a greedy point (below) that attains it is returned, certified, without a solve: a
book resized in place, where the interior point's plan was 3e-5 above the optimum for a book
against itself at 1e-6 of the capital.  When the plan and the bound meet Clarabel's own gap
test (``tol_gap_abs``, ``tol_gap_rel``) the plan is optimal, certified, whatever the
solver's status said: where transport is far cheaper than reaction per unit mass (large
:math:`\lambda`, small :math:`1 - \cos\theta`) an interior point can stop "AlmostSolved" on a
round-off floor of its own gap while the plan and the bound agree to the last digit.  (One
pair of unit Diracs at :math:`1 - \cos\theta` = 1e-5 .. 1e-15 comes back "Solved" with
:math:`d^2` equal to :func:`~wfr_cvx.closed_form.dirac_wfr2` to 1e-10 relative or better.)
When they do not meet, the solver's status stands unless the gap is large
(:data:`UNCERTIFIED_GAP`, :data:`FAILED_GAP`); the gap is reported either way.  The status
is judged once, on the plan and the bound that are returned (after the polish below), and
only then warned about or raised.  What a status guarantees, whatever :math:`d^2` is against
the mass: "Solved" by the certificate means ``distance2 - lower_bound <= max(tol_gap_abs,
tol_gap_rel) * distance2`` (1e-8 with Clarabel's defaults), a "Solved" of the solver's own
that the certificate did not close a relative gap below :data:`UNCERTIFIED_GAP`; the gap is
``gap``, the bound ``lower_bound``.

**Working set.**  The optimal plan uses few of the candidate pairs (about one per atom),
while the interior point's linear algebra grows with all of them (the normal equations of
the transport rows are dense in the atoms they connect).  The SOCP is therefore solved on a
working set -- each atom's :data:`NEIGHBOURS` nearest partners -- and grown by the pairs
whose dual constraint the multipliers violate (at most :data:`NEIGHBOURS` per atom and
round, the most violated), until the certificate closes or no pair is violated; after
:data:`MAX_ROUNDS` rounds all candidates are solved at once.  Such sparse working sets are
classical for transport problems (e.g. Schmitzer 2016, "A sparse multiscale algorithm for
dense optimal transport", J. Math. Imaging Vis. 56); here the dual check runs over every
candidate pair.  Between nearly equal ensembles (below :data:`EXACT_BELOW`) the first
working set is each atom's nearest partner (:data:`NEIGHBOURS_EXACT`).
The ``"cvxpy"`` reference backend solves all candidates in one problem, but between nearly
equal ensembles, where it runs the same working set.

**Scaling.**  Masses are scaled to a mean atom mass of 1 (Clarabel's tolerances are
absolute below unit data) and the objective is divided by an a-priori size of
:math:`d^2 / 4\lambda^2` per unit mass: the value of the best of three feasible points
(pure reaction, and each source -- or each target -- paired with its nearest partner,
:func:`greedy_plan`).  :math:`d^2` is 1-homogeneous in the masses, so the answer is
rescaled exactly.  A feasible point of value (almost) 0, below the solver's resolution
(:data:`NEGLIGIBLE`), or one whose value meets the total-mass bound, is returned without a
solve.

**Cleaning.**  The interior point's solution is made exactly feasible before any figure is
computed: negative round-off is clipped, and each atom's pair masses are rescaled so that
they and its slack add up to its mass exactly (a relative change of the order of the
solver's residual, 1e-9; pushing the residual into the slack instead would cost
:math:`4\lambda^2` per unit mass and spoil the large-:math:`\lambda` figures).  The pairs
the plan uses (:data:`SUPPORT`) are then re-solved alone at tighter tolerances
(:data:`POLISH_TOLERANCES`; kept when at least as good, also when that solve ends
"AlmostSolved": its plan and bound are judged by the certificate like any other), and
parts below :data:`SNAP` of their atom zeroed when that costs nothing.  Figures are
computed from the final plan, so ``distance2`` is the action of the explicit path
(:mod:`._path`) that is returned.
Atoms lighter than 1e-9 of the heaviest atom take part in no solve (their cones would be
degenerate for the interior point) and are simply destroyed or created; they keep their
place in the dual bound, which therefore holds for the whole problem.  When that solve
ends without a point or with anything but a certified "Solved", the problem is solved
again with the pairs of atoms down to :data:`LIGHTEST_ATOM`.

**Exact on a support.**  Between nearly equal ensembles (:math:`d^2 / 4\lambda^2` 1e-9 ..
1e-7 of the mass: a book resized by 0.1 % or traded by 1e-4) the certificate asks for the
plan's cost to 1e-8 of itself, i.e. to ~1e-17 of the mass; the scaled cones, the slacks
kept off the paired atoms and the one-partner first working set let the interior point
reach that (20 books in 2 assets resized, or resized and traded, by 1e-4, lam 0.3 .. 3,
10 seeds each: all certified, where the unscaled SOCP raised in 6-10 of 10).  Where
:math:`d^2` is that small (:data:`EXACT_BELOW`), a plan the certificate does not accept
is moreover made exact on its support (:func:`_refined`: alternating exact
maximisations, potentials without cancellation), and so is the greedy point after the
first solve (and a feasible point below :data:`NEGLIGIBLE`); either is returned when the
dual bound of its own potentials certifies it.  The guarantee is the certificate's, as
above: relative to :math:`d^2`, not to the mass.

**Coincident atoms.**  Atoms of one ensemble at the same position in the same regime are
one Dirac of the measure: they are merged (masses summed) before the pairs are formed, and
each pair of the merged plan is split back over the members in proportion to their masses
(a north-west-corner coupling of the two members' shares; the pair cost is 1-homogeneous,
so the split costs the same).  Books hold such atoms (the corner portfolios of a resampled
frontier), and without the merge the tie left the greedy point far from the optimum:
identical ensembles with coincident atoms, d^2 = 0, ended "NumericalError" or
"PrimalInfeasible".
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from .. import _memory
from .._warnings import warn
from ..backends import ConeBlock, ConicProblem
from ..errors import InaccurateSolutionWarning, SolverError
from ._backends import check_status, solve_clarabel, solve_cvxpy
from ._constraints import EnsembleConstraints
from ._ensemble import Aligned
from ._metric import RegimeMetrics
from ._pairs import Pairs, pairs_within

__all__ = ["Coupling", "Ingredients", "pair_cost", "greedy_plan", "assemble",
           "dual_bound", "mass_bound", "solve_coupling"]

#: Pairs with an atom lighter than this fraction of the heaviest atom are left out of the
#: solves (such atoms are destroyed or created outright); they still count in the bound.
#: Measured on Gaussian bumps at the cell centres of 64 cells (masses down to 1e-300): with
#: 1e-12 the first solve stalled at Clarabel's 200 iterations and the whole took 299, with
#: a certified gap of 6.5e-8; with 1e-9, 92 iterations and 8.1e-10; with 1e-6 the light mass
#: shows, 2.7e-6.
LIGHT_ATOM = 1e-9
#: When the solve with the light atoms left out does not end certified "Solved" (their
#: pairs can change d^2 by ~sqrt(1e-9) of an atom, and the dual bound is weakest there),
#: or ends without a point, the problem is solved again with the pairs of atoms down to
#: this fraction of the heaviest (one unit Dirac moved 1e-3 beside a pair of 1e-9 moved
#: 0.05, lam 0.3: without the light pair, which the plan then destroys, 7e-4 off).
#: Measured on 25 x 25 books in 10 assets whose masses span 1e-12 .. 1 (log-uniform,
#: lam = 0.05): with 1e-9, 2-5 of 12 seeds ended "Uncertified" (an error, gaps 4-25 %);
#: with every pair, all certified within 4e-7 in 22-59 iterations.
LIGHTEST_ATOM = 1e-15
#: A feasible point costing at most this fraction of the total mass (in units of
#: 4 lam^2) is returned as it is: d^2 lies between 0 and 4 lam^2 1e-12 times the mass, below
#: the interior point's resolution (the objective's scale would be ~0, and identical
#: ensembles with atoms sharing a position ended "NumericalError"; found by the property
#: tests).  The pure-reaction case (no pair in reach) is exact; otherwise the point is
#: made exact on its support and returned "Solved" when the dual bound certifies it.
NEGLIGIBLE = 1e-12
#: Such a point is certified only when its cost resolves what rounding leaves of it:
#: a pair's (sqrt A - sqrt B)^2 keeps ~2 eps / delta of its digits (delta = |A - B| / A),
#: a slack made by subtraction eps of its atom, so the cost must exceed this factor
#: (2 eps / 1e-8) times sum |A - B| plus the masses with a slack; else "AlmostSolved" with a
#: warning (books resized in place by 1e-14 came out "Solved", gap 0, 3 % off).
ROUNDOFF_RESOLUTION = 2.0 * np.finfo(float).eps / 1e-8
#: Partners per atom in the first working set, and pairs added per atom and round.
NEIGHBOURS = 8
#: Partners per atom in the first working set between nearly equal ensembles (a-priori
#: size of d^2 / 4 lam^2 below EXACT_BELOW of the mass): each atom's nearest.  There the
#: far pairs' costs, up to 1 / cost_unit (1e9) in the solver's units, loosen Clarabel's
#: residual tests, relative to the largest cost: measured on 20 books in 2 assets resized
#: and traded by 1e-4 (lam 0.3 .. 3, 10 seeds each), with 8 partners 0-3 of 10 ended
#: refused or "AlmostSolved", with 2 the gaps were up to 4e-7, with 1 all were certified
#: (gaps <= 6e-9); the pairs the optimum needs join the working set as violated pairs.
NEIGHBOURS_EXACT = 1
#: Rounds of the working set before all candidates are solved at once.
MAX_ROUNDS = 20
#: A pair outside the working set joins it when its dual constraint is violated by more
#: than this, in the solver's objective units (per unit mass).
VIOLATION = 1e-9
#: When the objective at the plan found is below 1 (the a-priori size of d^2 was far too
#: large) and the certificate does not close, the objective is rescaled by the plan's value
#: and the working set solved again, at most MAX_RESCALES times.  Measured: 7 x 7 atoms at
#: lam = 300 x their largest distance, equal masses, where the greedy point's imbalance made
#: the size 1e5 times d^2: Clarabel said "Solved" 0.7 % above the optimum (above W2^2,
#: impossible); one rescaled solve closed the certificate.
MAX_RESCALES = 2
#: The dual bound's potentials on its second side stay below this (:func:`dual_bound`).
POTENTIAL_CAP = 1.0 - 1e-9
#: Seed levels of the dual bound's transforms (fractions of the largest atom mass).
SEED_LEVELS = (0.0, 1e-8, 1e-4)
#: Caps 1 - e tried on the first side's potentials of the dual bound when one of them is
#: 1 at an atom with partners (an atom the plan destroys outright, such as a light
#: atom's only partner): a potential of 1 leaves its partners no room, and the transform
#: then took almost the whole atom out of the bound (a gap of 0.85 on one unit atom next
#: to a partner of mass 1e-10, whose optimal potentials are 1 - cos(theta) sqrt(b / a) and
#: about -sqrt(a / b)).
FIRST_SIDE_MARGINS = (1e-9, 1e-7, 1e-5, 1e-3)
#: When the certificate does not close, a relative gap between the plan and the dual bound
#: above UNCERTIFIED_GAP makes a "Solved" an "AlmostSolved" (a warning), and one above
#: FAILED_GAP an error.  Measured on one pair of unit Diracs: at 1 - cos(theta) = 1e-13 .. 1e-14
#: (lam = 1e5 x their distance) Clarabel said "Solved" 9e-5 and 3e-3 away from the closed form,
#: with no lower bound above 0.
UNCERTIFIED_GAP = 1e-6
FAILED_GAP = 1e-2
#: Solver statuses whose point is kept when the certificate closes (the solver stalled
#: on its own round-off; a user limit -- MaxIterations, MaxTime -- is never overridden).
CERTIFIABLE = frozenset({"AlmostSolved", "InsufficientProgress", "NumericalError"})
USER_LIMITS = frozenset({"MaxIterations", "MaxTime"})
#: Pairs carrying at least this fraction of one of their atoms' masses form the support
#: re-solved by the polishing step.  The interior point leaves ~1e-12 .. 1e-6 of an atom's
#: mass on pairs the optimum does not use, against >= 1e-3 on the ones it does (measured
#: on random simplex portfolios, 300 x 300 atoms, 10 assets, 30 % and 100 % of the pairs).
SUPPORT = 1e-6
#: Gap (relative and absolute) and feasibility tolerances of the polishing solve.  Measured
#: at 300 x 300 atoms, 10 assets, 30 % of the pairs: with Clarabel's 1e-8 the restricted
#: solve's value was 1.8e-8 above the optimum (from a 1e-12 solve), against 6e-9 for the
#: full solve, so it was refused; with 1e-10, 2e-12 above.
POLISH_TOLERANCES = 1e-10
#: The polished plan replaces the other when its value is at most this much higher
#: (relative): the interior point's own tolerance.
POLISH_TOLERANCE = 1e-8
#: Parts of an atom (slacks, then pair masses) below this fraction of its mass are zeroed
#: when that raises the value by at most SNAP_TOLERANCE (relative).  The optimum destroys
#: mass only of atoms with no partner in reach (the square root's infinite slope at 0), so
#: slacks of 1e-9 next to a partner are the interior point's, not the problem's.
SNAP = 1e-7
SNAP_TOLERANCE = 1e-10
#: Sweeps of the exact maximisation on a plan's support (:func:`_refined`) and the relative
#: change of the pair masses at which it stops.
REFINE_SWEEPS = 500
REFINE_TOLERANCE = 1e-15
#: Pairs below this fraction of both their atoms' masses after the sweeps are dropped and
#: the sweeps run again (the certificate then judges the smaller support).
REFINE_EMPTY = 1e-12
#: A refused plan is made exact on its support only when the a-priori size of d^2 / 4 lam^2
#: per unit mass (``cost_unit``) is below this: the interior point's resolution troubles
#: were seen at 1e-9 .. 1e-7; on ordinary books (0.01 .. 1) the attempt never succeeded
#: and cost 1.7-3.6 s at 1,000 x 1,000 atoms.
EXACT_BELOW = 1e-4


def pair_cost(A: np.ndarray, B: np.ndarray, one_minus_cos: np.ndarray) -> np.ndarray:
    r""":math:`A + B - 2\sqrt{AB}\cos\theta`, as the sum of non-negative terms
    :math:`(\sqrt A - \sqrt B)^2 + 2\sqrt{AB}(1 - \cos\theta)` (no cancellation).

    >>> t = 1e-6          # two unit Diracs: 2 - 2 cos(t) = t^2 (1 - t^2 / 12 + ...)
    >>> cost = pair_cost(np.ones(1), np.ones(1), np.array([2 * np.sin(t / 2) ** 2]))[0]
    >>> float(cost / t**2), float((2 - 2 * np.cos(t)) / t**2)   # with the constant: 1e-4 off
    (0.9999999999999166, 1.000088900582341)
    """
    root_a, root_b = np.sqrt(A), np.sqrt(B)
    return (root_a - root_b) ** 2 + 2.0 * root_a * root_b * one_minus_cos


@dataclass
class Coupling:
    r"""A feasible semi-coupling in user units (every atom's mass accounted exactly).

    Attributes
    ----------
    pairs : Pairs
        The pairs that carry mass (``A + B > 0``).
    one_minus_cos : ndarray, shape ``(P,)``
        :math:`1 - \cos\theta` of those pairs, :math:`\theta = |x - y|_G / 2\lambda < \pi/2`.
    mass_out, mass_in : ndarray, shape ``(P,)``
        :math:`A_p`, :math:`B_p`.
    destroyed, created : ndarray, shapes ``(N,)``, ``(M,)``
        :math:`\sigma`, :math:`\tau`.
    lower_bound : float
        A certified lower bound of :math:`d^2 / 4\lambda^2` (user units of mass).
    n_pairs_kept, n_pairs_solved, rounds : int
        Candidate pairs (within reach, same regime); pairs in the last working set; solves
        of the working set.
    status, solver_status : str
        The status after the certificate, and the solver's own.
    iterations : int
        Interior-point iterations over all solves.
    assembly_time, setup_time, solve_time, certify_time : float
        Seconds: pair search and assembly; that plus the solvers' set-up; their iterations;
        the dual bounds and the working set's dual check.
    """

    pairs: Pairs
    one_minus_cos: np.ndarray
    mass_out: np.ndarray
    mass_in: np.ndarray
    destroyed: np.ndarray
    created: np.ndarray
    lower_bound: float
    n_pairs_kept: int
    n_pairs_solved: int
    rounds: int
    status: str
    solver_status: str
    iterations: int
    assembly_time: float
    setup_time: float
    solve_time: float
    certify_time: float

    def reduced_cost(self) -> float:
        r""":math:`d^2 / 4\lambda^2` of this plan, summed without cancellation."""
        return float(np.sum(pair_cost(self.mass_out, self.mass_in, self.one_minus_cos))
                     + self.destroyed.sum() + self.created.sum())


@dataclass
class Ingredients:
    """The problem in the solver's units, from which both backends build their SOCP.

    ``src``, ``dst`` index the active atoms (masses ``a``, ``b``, mean 1);
    ``one_minus_cos`` and ``cos`` per pair; ``cost_unit`` the objective's divisor.
    """

    src: np.ndarray
    dst: np.ndarray
    a: np.ndarray
    b: np.ndarray
    one_minus_cos: np.ndarray
    cos: np.ndarray
    cost_unit: float

    @property
    def sin2(self) -> np.ndarray:
        r""":math:`\sin^2\theta = (1 - \cos\theta)(1 + \cos\theta)`, without cancellation."""
        return self.one_minus_cos * (1.0 + self.cos)

    @property
    def u_scale(self) -> float:
        """The scale of :math:`u` in the solver's unknowns (module docstring, Scaled cones)."""
        return min(self.cost_unit, 1.0)

    def unpaired(self) -> tuple[np.ndarray, np.ndarray]:
        """The sources and the targets without a pair: the only atoms with a slack in the
        solve (module docstring)."""
        return (np.flatnonzero(np.bincount(self.src, minlength=self.a.size) == 0),
                np.flatnonzero(np.bincount(self.dst, minlength=self.b.size) == 0))

    def restrict(self, keep: np.ndarray) -> Ingredients:
        return Ingredients(self.src[keep], self.dst[keep], self.a, self.b,
                           self.one_minus_cos[keep], self.cos[keep], self.cost_unit)


def assemble(g: Ingredients) -> ConicProblem:
    r"""The cone program of the semi-coupling SOCP, from index arrays (no loop over pairs).

    Unknowns ``x = [A (P), B (P), u / eps (P), sigma (N'), tau (M')]``, ``eps`` =
    :attr:`Ingredients.u_scale`, the slacks only of the ``N'`` sources and ``M'`` targets
    without a pair (:meth:`Ingredients.unpaired`; module docstring).  Rows:

    * ``N`` zero rows ``sum_{p from i} A_p (+ sigma_i) = a_i``, ``M`` zero rows for ``B``;
    * ``N' + M'`` non-negative rows ``s = sigma, tau``;
    * per pair three rows ``s = (A + B + (1 - eps) / 2 u', A + B - (1 + eps) / 2 u',
      (A - B) / sqrt(eps))`` in a second-order cone (``u' = u / eps``).

    >>> g = Ingredients(np.array([0]), np.array([0]), np.ones(1), np.ones(1),
    ...                 np.array([0.1]), np.array([0.9]), 1.0)
    >>> problem = assemble(g)
    >>> problem.A.shape, [(c.kind, c.dim, c.count) for c in problem.cones]
    ((5, 3), [('zero', 1, 2), ('soc', 3, 1)])
    """
    P, N, M = g.src.size, g.a.size, g.b.size
    free_src, free_dst = g.unpaired()
    n_free = free_src.size + free_dst.size
    eps = g.u_scale
    pair = np.arange(P)
    col_A, col_B, col_u = pair, P + pair, 2 * P + pair
    col_sigma = 3 * P + np.arange(free_src.size)
    col_tau = 3 * P + free_src.size + np.arange(free_dst.size)
    soc = N + M + n_free + 3 * pair  # first row of each pair's cone
    rows = np.concatenate([
        g.src, free_src,                                # A_p (+ sigma_i) = a_i
        N + g.dst, N + free_dst,                        # B_p (+ tau_j) = b_j
        N + M + np.arange(n_free),                      # -sigma, -tau + s = 0
        soc, soc, soc, soc + 1, soc + 1, soc + 1, soc + 2, soc + 2,
    ])
    cols = np.concatenate([
        col_A, col_sigma, col_B, col_tau,
        col_sigma, col_tau,
        col_A, col_B, col_u, col_A, col_B, col_u, col_A, col_B,
    ])
    ones_p, root = np.ones(P), np.sqrt(eps)
    values = np.concatenate([
        ones_p, np.ones(free_src.size), ones_p, np.ones(free_dst.size),
        -np.ones(n_free),
        -ones_p, -ones_p, -0.5 * (1.0 - eps) * ones_p,
        -ones_p, -ones_p, 0.5 * (1.0 + eps) * ones_p,
        -ones_p / root, ones_p / root,
    ])
    A = sp.csc_matrix((values, (rows, cols)), shape=(N + M + n_free + 3 * P, 3 * P + n_free))
    b = np.concatenate([g.a, g.b, np.zeros(n_free + 3 * P)])
    q = np.concatenate([g.one_minus_cos, g.one_minus_cos, eps * g.cos,
                        np.ones(n_free)]) / g.cost_unit
    cones = [ConeBlock.zero(N + M, "marginals")]
    if n_free:
        cones.append(ConeBlock.nonneg(n_free, "slacks"))
    cones.append(ConeBlock.soc(3, P, "pairs"))
    return ConicProblem(q=q, A=A, b=b, cones=tuple(cones))


def _rank_within(group: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Each entry's rank by ``key`` among the entries of its ``group`` (0: the smallest).

    One sort of ``group + key'``, ``key`` mapped into [0, 1/2] (the ranks, including the
    rank computation, in 0.07 s against 0.18 s for the sort alone by a two-key ``lexsort``,
    1,000 groups of 500); keys closer than ~1e-12 of their range may tie, which only
    reorders pairs that are equally near.
    """
    if group.size == 0:
        return np.zeros(0, dtype=np.intp)
    low, span = key.min(), key.max() - key.min()
    composite = group + (0.5 / span) * (key - low) if span > 0 else group.astype(float)
    order = np.argsort(composite)
    sorted_group = group[order]
    starts = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])
    rank = np.empty(group.size, dtype=np.intp)
    rank[order] = np.arange(order.size) - np.repeat(starts, np.diff(np.r_[starts, order.size]))
    return rank


def _smallest_per_group(group: np.ndarray, key: np.ndarray, k: int) -> np.ndarray:
    """Mask of the ``k`` entries of smallest ``key`` within each value of ``group``."""
    return _rank_within(group, key) < k


def greedy_plan(src, dst, one_minus_cos, a, b, rank_src=None, rank_dst=None):
    r"""The best of three feasible points and its value :math:`d^2 / 4\lambda^2`.

    Pure reaction (:math:`\sum a + \sum b`); every source sending all its mass to its
    nearest target, each target's mass shared among the sources that chose it in
    proportion to their masses (the rest destroyed or created); and the same with the
    roles swapped.  Returns ``(value, A, B)`` per pair (the slacks follow).  ``rank_src``
    and ``rank_dst`` (:func:`_rank_within` by ``one_minus_cos``) may be given.
    """
    best = (float(a.sum() + b.sum()), np.zeros(src.size), np.zeros(src.size))
    if src.size == 0:
        return best
    if rank_src is None:
        rank_src, rank_dst = (_rank_within(side, one_minus_cos) for side in (src, dst))
    for ours, theirs, m_ours, m_theirs, rank, swap in (
            (src, dst, a, b, rank_src, False), (dst, src, b, a, rank_dst, True)):
        chosen = np.flatnonzero(rank == 0)
        give = m_ours[ours[chosen]]
        claimed = np.bincount(theirs[chosen], give, minlength=m_theirs.size)
        # the fraction first: a partner claimed once gets its whole mass, exactly
        share = m_theirs[theirs[chosen]] * (give / claimed[theirs[chosen]])
        paired = np.zeros(m_ours.size, dtype=bool)
        paired[ours[chosen]] = True
        left = m_ours[~paired].sum()  # atoms of ours with no pair in reach
        unclaimed = m_theirs[claimed == 0].sum()
        value = float(np.sum(pair_cost(give, share, one_minus_cos[chosen])) + left
                      + unclaimed)
        if value < best[0]:
            mine, other = np.zeros(src.size), np.zeros(src.size)
            mine[chosen], other[chosen] = give, share
            best = (value, other, mine) if swap else (value, mine, other)
    return best


def _feasible(A, B, sigma, tau, src, dst, a, b):
    """Clip round-off negatives and rescale each atom's pair masses so that they and its
    slack add up to its mass exactly (see the module docstring, Cleaning)."""
    A, B = np.maximum(A, 0.0), np.maximum(B, 0.0)
    out = []
    for masses, slack, atom, total in ((A, sigma, src, a), (B, tau, dst, b)):
        slack = np.clip(slack, 0.0, total)
        sent = np.bincount(atom, masses, minlength=total.size)
        room = total - slack
        factor = np.divide(room, sent, out=np.zeros_like(room), where=sent > 0)
        slack = np.where(sent > 0, slack, total)
        out.append((masses * factor[atom], slack))
    (A, sigma), (B, tau) = out
    return A, B, sigma, tau


def _snap(plan, g: Ingredients, pairs: bool):
    """Zero the slacks (or, with ``pairs``, the pairs: both sides) below :data:`SNAP` of
    their atom's mass, the atom's other parts rescaled to keep its mass exact."""
    A, B, sigma, tau = plan
    if pairs:
        noise = (A <= SNAP * g.a[g.src]) & (B <= SNAP * g.b[g.dst])
        A, B = np.where(noise, 0.0, A), np.where(noise, 0.0, B)
    out = []
    for masses, slack, atom, total in ((A, sigma, g.src, g.a), (B, tau, g.dst, g.b)):
        if not pairs:
            slack = np.where(slack <= SNAP * total, 0.0, slack)
        held = np.bincount(atom, masses, minlength=total.size) + slack
        factor = np.divide(total, held, out=np.ones_like(total), where=held > 0)
        out.append((masses * factor[atom], np.where(held > 0, slack * factor, total)))
    (A, sigma), (B, tau) = out
    return A, B, sigma, tau


def _refined(plan, g: Ingredients):
    r"""The optimum on ``plan``'s support, in floating point rather than to the interior
    point's tolerance, and its potentials: ``(plan, y)`` (``y`` in objective units, as the
    solver's multipliers), or None when no pair carries mass both ways.

    On a support :math:`S` every atom with a pair is used whole (moving slack into a pair
    of :math:`B > 0` changes the cost by :math:`-\cos\theta\sqrt{B/A} < 0` per unit), so
    the plan maximises :math:`\sum_S \cos\theta_p\sqrt{A_pB_p}` under the atoms' masses.
    For fixed :math:`A`, Cauchy-Schwarz gives :math:`B_p \propto \cos^2\theta_p A_p` within
    each target, and the same for :math:`A` given :math:`B`; the two exact block
    maximisations alternate (a one-pair-per-atom support is exact after one sweep).  The
    potentials are the marginal costs, :math:`1 - \varphi_i = (\sum_{p \ni i}
    \cos^2\theta_p B_p / a_i)^{1/2}` (and alike for :math:`\psi`; 1 for an atom with no
    pair).

    Why: the interior point resolves :math:`u \ge (\sqrt A - \sqrt B)^2` only to its
    tolerance times :math:`A + B`; between nearly equal ensembles (:math:`d^2 / 4\lambda^2`
    1e-9 .. 1e-7 of the mass) that left the plan's ratios :math:`B/A` 1e-4 off and its cost
    4-90 % above the dual bound, refused as uncertified.  Here both bounds are computed
    from exact ratios, and :func:`dual_bound` certifies the support for every pair.
    """
    A, B = plan[0], plan[1]
    on = np.flatnonzero((A > 0) & (B > 0))
    if on.size == 0:
        return None
    A_on, B_on = A[on], B[on]
    N, M = g.a.size, g.b.size
    for _ in range(2):  # again without the pairs the first pass emptied
        src, dst, c2 = g.src[on], g.dst[on], g.cos[on] ** 2
        a_on, b_on = g.a[src], g.b[dst]
        for _ in range(REFINE_SWEEPS):
            weight = c2 * A_on
            B_new = b_on * (weight / np.bincount(dst, weight, minlength=M)[dst])
            weight = c2 * B_new
            A_new = a_on * (weight / np.bincount(src, weight, minlength=N)[src])
            change = max(float(np.max(np.abs(A_new - A_on) / a_on)),
                         float(np.max(np.abs(B_new - B_on) / b_on)))
            A_on, B_on = A_new, B_new
            if change <= REFINE_TOLERANCE:
                break
        # a pair the optimum does not use decays towards 0 but stops at round-off
        # (1e-16 of its atoms), where it still costs ~1e-8 of a d^2 of 1e-9
        kept = (A_on > REFINE_EMPTY * a_on) | (B_on > REFINE_EMPTY * b_on)
        if kept.all():
            break
        on, A_on, B_on = on[kept], A_on[kept], B_on[kept]
    src, dst, c2 = g.src[on], g.dst[on], g.cos[on] ** 2
    A_full, B_full = np.zeros_like(A), np.zeros_like(B)
    A_full[on], B_full[on] = A_on, B_on
    sigma = np.where(np.bincount(src, minlength=N) > 0, 0.0, g.a)
    tau = np.where(np.bincount(dst, minlength=M) > 0, 0.0, g.b)
    refined = _feasible(A_full, B_full, sigma, tau, g.src, g.dst, g.a, g.b)
    # phi = 1 - root = (1 - root^2) / (1 + root) with a - sum c^2 B summed as
    # sum (A - B) + sin^2 B: 1 - root loses the digits of a potential of 1e-5 (a 1e-16
    # error on every atom, where d^2 / 4 lam^2 may be 1e-9 of the mass)
    sin2 = g.sin2[on]
    potentials = []
    for atom, size, mine, theirs, total in ((src, N, A_on, B_on, g.a),
                                            (dst, M, B_on, A_on, g.b)):
        root = np.sqrt(np.bincount(atom, c2 * theirs, minlength=size) / total)
        excess = np.bincount(atom, (mine - theirs) + sin2 * theirs, minlength=size)
        paired = np.bincount(atom, minlength=size) > 0
        potentials.append(np.where(paired, excess / (total * (1.0 + root)), 1.0))
    return refined, np.concatenate(potentials) / g.cost_unit


def _exact_on_support(plan, g: Ingredients, heavy: np.ndarray, transforms, options: dict,
                      floor: float = 0.0):
    """``(plan, upper, lower)`` of :func:`_refined` when the dual bound (or ``floor``, a
    lower bound known otherwise) certifies it (the gap test of :func:`_certified`), else
    None.  The bound is skipped when the potentials
    violate a pair between heavy atoms (the support is not the optimum's: one pass)."""
    refined = _refined(plan, g)
    if refined is None:
        return None
    exact, y = refined
    if np.any(_dual_excess(y, g, heavy) > VIOLATION):
        return None
    upper, lower = _value(exact, g), max(dual_bound(y, g, transforms), floor)
    return (exact, upper, lower) if _certified(upper, lower, g, options) else None


def mass_bound(a: np.ndarray, b: np.ndarray) -> float:
    r"""The total-mass lower bound :math:`(\sqrt{\sum a} - \sqrt{\sum b})^2` of
    :math:`d^2 / 4\lambda^2` (the total mass is 1-Lipschitz for :math:`d`; attained when
    every atom is paired with one at its own position, all resized by one factor; summed
    over the regimes, which exchange no mass, it bounds the whole), written
    :math:`(\sum a - \sum b)^2 / (\sqrt{\sum a} + \sqrt{\sum b})^2` with exactly rounded
    sums: the difference of the roots of two nearly equal masses loses their digits (2e-10
    of the bound of a book resized by 1 ppm).

    >>> mass_bound(np.array([1.0, 3.0]), np.array([0.25, 0.75]))
    1.0
    """
    total_a, total_b = math.fsum(a), math.fsum(b)
    difference = math.fsum(np.concatenate([a, -b]))
    root = math.sqrt(total_a) + math.sqrt(total_b)
    return difference * difference / (root * root) if root > 0 else 0.0


def _value(plan, g: Ingredients) -> float:
    A, B, sigma, tau = plan
    return float(np.sum(pair_cost(A, B, g.one_minus_cos)) + sigma.sum() + tau.sum())


def _grouped_min(values: np.ndarray, order: np.ndarray, starts: np.ndarray,
                 owners: np.ndarray, size: int) -> np.ndarray:
    """Per atom, the minimum of ``values`` over its pairs (``+inf`` for atoms without
    pairs); ``order`` sorts the pairs by atom, ``starts`` and ``owners`` are the runs."""
    out = np.full(size, np.inf)
    if values.size:
        out[owners] = np.minimum.reduceat(values[order], starts)
    return out


class _Transform:
    r"""The largest potentials on one side allowed by given potentials on the other:
    :math:`\psi_j = \min_i (\sin^2\theta_{ij} - \varphi_i) / (1 - \varphi_i)` over the
    pairs ``(i, j)`` (a c-transform; ``+inf`` for an atom without such a pair)."""

    def __init__(self, near: np.ndarray, far: np.ndarray, sin2: np.ndarray, size: int):
        self.near, self.sin2, self.size = near, sin2, size
        self.order = np.argsort(far, kind="stable")
        sorted_far = far[self.order]
        self.starts = np.flatnonzero(np.r_[True, sorted_far[1:] != sorted_far[:-1]])
        self.owners = sorted_far[self.starts] if far.size else far
        self.paired = np.zeros(size, dtype=bool)
        self.paired[self.owners] = True

    def __call__(self, potential: np.ndarray, seeds: np.ndarray | None = None) -> np.ndarray:
        """Over the pairs from ``seeds`` (atoms of potential < 1), or over every pair when
        ``seeds`` is None -- then a partner at potential 1 leaves no room: ``-inf``."""
        p = potential[self.near]
        usable = p < 1.0
        limit = np.full(p.size, np.inf)
        if seeds is None:
            limit[~usable] = -np.inf
        else:
            usable &= seeds[self.near]
        np.divide(self.sin2 - p, 1.0 - p, out=limit, where=usable)
        return _grouped_min(limit, self.order, self.starts, self.owners, self.size)


def _transforms(g: Ingredients) -> tuple[_Transform, _Transform]:
    """The c-transforms of ``g``'s pairs towards the targets and towards the sources."""
    sin2 = g.sin2
    return (_Transform(g.src, g.dst, sin2, g.b.size), _Transform(g.dst, g.src, sin2, g.a.size))


def dual_bound(y: np.ndarray, g: Ingredients, transforms=None) -> float:
    r"""A lower bound of :math:`d^2 / 4\lambda^2` (solver's mass units) from multipliers
    ``y`` of the equality rows (objective units), made feasible for every pair of ``g``.

    Double c-transforms (:class:`_Transform`): potentials on one side, from the atoms
    holding at least a fraction ``level`` of that side's largest mass (the seeds), give the
    other side's best potentials (an atom no seed reaches keeps its own, capped at 1), which
    give the first side's; every pair is then feasible (``transforms``, the pair
    :func:`transforms` of ``g``, may be given).  The multipliers of light atoms are
    the interior point's least accurate, and one bad seed lowers all its partners: both
    orders and the seed levels 0, 1e-8 and 1e-4 are tried, and when a first-side potential
    is 1 at an atom with partners also the caps :data:`FIRST_SIDE_MARGINS` on that side;
    the best bound is kept (as :func:`wfr_cvx.closed_form.static_wfr2_bounds` does for the
    logarithmic form).

    >>> t = np.array([0.3])
    >>> g = Ingredients(np.array([0]), np.array([0]), np.ones(1), np.ones(1),
    ...                 2 * np.sin(t / 2) ** 2, np.cos(t), 1.0)
    >>> exact = 2 * (1 - np.cos(0.3))              # phi = psi = 1 - cos(theta)
    >>> bool(abs(dual_bound(np.full(2, 1 - np.cos(0.3)), g) - exact) < 1e-15)
    True
    """
    N = g.a.size
    phi = np.minimum(y[:N] * g.cost_unit, 1.0)
    psi = np.minimum(y[N:] * g.cost_unit, 1.0)
    to_dst, to_src = transforms or _transforms(g)
    # per atom, the margin e below 1 that costs least against its partners: the atom gives
    # up m e, its partners' potentials fall to about 1 - cos^2 / e, which costs them
    # sum b cos^2 / e; e = sqrt(sum b cos^2 / m).  A heavy atom whose partners are light
    # then stays near 1 and a light atom next to heavy ones goes far below 0, each as at
    # the optimum, where one uniform margin cannot do both
    cos2 = g.cos**2
    margin_src = _own_margins(g.src, g.b[g.dst] * cos2, g.a)
    margin_dst = _own_margins(g.dst, g.a[g.src] * cos2, g.b)
    best = -np.inf
    for unclipped, second, m_first, m_second, forward, backward, own_margin, their_margin in (
            (phi, psi, g.a, g.b, to_dst, to_src, margin_src, margin_dst),
            (psi, phi, g.b, g.a, to_src, to_dst, margin_dst, margin_src)):
        caps = [1.0]
        if np.any(unclipped[forward.near] >= 1.0 - FIRST_SIDE_MARGINS[-1]):
            caps += [1.0 - margin for margin in FIRST_SIDE_MARGINS]
            caps.append(np.where(unclipped >= 1.0 - FIRST_SIDE_MARGINS[-1],
                                 1.0 - own_margin, 1.0))
        for cap, level in ((cap, level) for cap in caps for level in SEED_LEVELS):
            first = np.minimum(unclipped, cap)
            seeds = m_first >= level * m_first.max(initial=0.0)
            other = forward(first, seeds)
            # an atom no seed reaches keeps its own potential, or 0 when that is 1 and it has
            # partners (they would be left without room)
            own = np.where((second < 1.0) | ~forward.paired, second, 0.0)
            # just below 1: a potential of 1 leaves its partners no room (-inf), and one
            # rounded up to 1 where the optimum is 1 - cos(theta) ~ 1e-9 (a pair at the
            # edge of the reach) left no bound at all; the cap costs <= 1e-9 of an atom.
            # Or each atom's own margin below 1, where its partners are light: the fixed
            # cap cost a partner of relative mass 1e-12 1e-3 of its mass
            other = np.where(np.isinf(other), own, other)
            for second_cap in (POTENTIAL_CAP, np.minimum(1.0 - their_margin, POTENTIAL_CAP)):
                capped = np.minimum(other, second_cap)
                back = np.minimum(backward(capped), 1.0)
                if np.isneginf(back).any():
                    continue
                best = max(best, float(m_first @ back + m_second @ capped))
    return best


def _own_margins(atoms: np.ndarray, partner_mass: np.ndarray, mass: np.ndarray
                 ) -> np.ndarray:
    """Per atom, :math:`\\sqrt{\\sum_p b_p\\cos^2\\theta_p / m}` over its pairs ``p``
    (``partner_mass`` holds :math:`b_p\\cos^2\\theta_p`; 0 for an atom without pairs)."""
    total = np.bincount(atoms, partner_mass, minlength=mass.size)
    return np.sqrt(np.divide(total, mass, out=np.zeros_like(total), where=mass > 0))


def _dual_excess(y: np.ndarray, g: Ingredients, pairs=slice(None)) -> np.ndarray:
    r"""How much multipliers ``y`` (objective units) violate the dual constraint of
    ``pairs`` (all by default): :math:`[\cos^2\theta - (1 - \varphi)(1 - \psi)] / s
    = y_i + y_j - s\,y_i y_j - \sin^2\theta / s` with :math:`\varphi = s\,y`."""
    N, unit = g.a.size, g.cost_unit
    y_src, y_dst = y[:N][g.src[pairs]], y[N:][g.dst[pairs]]
    return y_src + y_dst - unit * y_src * y_dst - g.sin2[pairs] / unit


def _violated(y: np.ndarray, g: Ingredients, outside: np.ndarray) -> np.ndarray:
    r"""Pairs outside the working set whose dual constraint ``y`` violates, at most
    :data:`NEIGHBOURS` per atom (the most violated; :func:`_dual_excess`)."""
    excess = _dual_excess(y, g)
    candidates = np.flatnonzero(outside & (excess > VIOLATION))
    if candidates.size == 0:
        return np.zeros(g.src.size, dtype=bool)
    key = -excess[candidates]
    pick = (_smallest_per_group(g.src[candidates], key, NEIGHBOURS)
            | _smallest_per_group(g.dst[candidates], key, NEIGHBOURS))
    added = np.zeros(g.src.size, dtype=bool)
    added[candidates[pick]] = True
    return added


def _certified(upper: float, lower: float, g: Ingredients, options: dict) -> bool:
    """Clarabel's own gap test on the plan's value and the dual bound (objective units),
    its absolute part only where the objective is at least 1: below, the a-priori size
    (``cost_unit``) was too large for an absolute gap to say anything about the plan (a
    plan 70 % above the optimum passed it at an objective of 1e-10); there the relative
    gap must pass, or the objective is rescaled (:func:`_optimal_plan`)."""
    primal, dual = upper / g.cost_unit, lower / g.cost_unit
    gap = primal - dual
    relative = options.get("tol_gap_rel", 1e-8)
    if primal < 1.0:
        return bool(gap <= relative * primal)
    return bool(gap <= options.get("tol_gap_abs", 1e-8)
                or gap <= relative * max(1.0, min(abs(primal), abs(dual))))


@dataclass
class _Clock:
    """Iterations and seconds summed over the solves."""

    iterations: int = 0
    assembly: float = 0.0
    setup: float = 0.0
    solve: float = 0.0
    certify: float = 0.0


def _solve_on(g: Ingredients, subset: np.ndarray, backend: str, options: dict,
              clock: _Clock):
    """Solve the SOCP on the pairs ``subset``: the raw solution and, when it has a point,
    its cleaned plan over all pairs of ``g`` (made feasible, then snapped when that costs
    nothing: a slack of 6e-15 of an atom's mass, teleported, is 1e-6 of d^2 at
    theta = 1e-4)."""
    small = g.restrict(subset)
    if backend == "clarabel":
        begin = time.perf_counter()
        data = assemble(small)
        clock.assembly += time.perf_counter() - begin
        raw = solve_clarabel(data, options)
    else:  # cvxpy builds its own problem: its canonicalisation counts as set-up
        raw = solve_cvxpy(small, options)
    clock.iterations += raw.iterations
    clock.setup += raw.setup_time
    clock.solve += raw.solve_time
    if raw.x is None:
        return raw, None
    P = small.src.size
    A, B = np.zeros(g.src.size), np.zeros(g.src.size)
    A[subset], B[subset] = raw.x[:P], raw.x[P:2 * P]
    free_src, free_dst = small.unpaired()
    sigma, tau = np.zeros(g.a.size), np.zeros(g.b.size)
    sigma[free_src] = raw.x[3 * P:3 * P + free_src.size]
    tau[free_dst] = raw.x[3 * P + free_src.size:]
    plan = _feasible(A, B, sigma, tau, g.src, g.dst, g.a, g.b)
    for pairs in (False, True):
        snapped = _snap(plan, g, pairs)
        if _value(snapped, g) <= _value(plan, g) * (1.0 + SNAP_TOLERANCE):
            plan = snapped
    return raw, plan


def _judged(status: str, upper: float, lower: float) -> tuple[str, str]:
    """The solver's status as the certificate sees it, and why when it differs.

    A relative gap above :data:`UNCERTIFIED_GAP` turns "Solved" into "AlmostSolved" (a
    warning); above :data:`FAILED_GAP` the point is refused ("Uncertified", an error).
    """
    relative = (upper - lower) / upper if upper > 0 else 0.0
    detail = (f"; the solver said {str(status)!r} but its plan and the dual bound differ by "
              f"{relative:.1e} (relative)")
    if status in ("Solved", "AlmostSolved") and relative > FAILED_GAP:
        return "Uncertified", detail
    if status == "Solved" and relative > UNCERTIFIED_GAP:
        return "AlmostSolved", detail
    return status, ""


def _polish_options(options: dict) -> dict:
    """The user's options with the gap and feasibility tolerances tightened to
    :data:`POLISH_TOLERANCES`."""
    tightened = dict(options)
    for name in ("tol_gap_rel", "tol_gap_abs", "tol_feas"):
        tightened[name] = min(options.get(name, POLISH_TOLERANCES), POLISH_TOLERANCES)
    return tightened


class _LightAtomsLeftOut(Exception):
    """The certificate did not close on a solve that left light atoms out
    (:func:`_optimal_plan` with ``light_left_out``): solve again with them."""


def _optimal_plan(g: Ingredients, heavy: np.ndarray, nearest: np.ndarray, start,
                  backend: str, options: dict, hint: str, clock: _Clock,
                  light_left_out: bool = False, floor: float = 0.0):
    """Working set, certificate, polish and snap (module docstring); only the ``heavy``
    pairs (both atoms above :data:`LIGHT_ATOM`) are ever solved, all count in the bound;
    the first working set is ``nearest`` (each atom's nearest heavy partners).  Where
    d^2 is tiny against the masses (:data:`EXACT_BELOW`), a solve whose point the
    certificate does not accept (or that returns none) has its plan made exact on its
    support (:func:`_exact_on_support`), and after the first solve also the greedy
    ``start`` (whose support is the optimum's between nearly equal ensembles, where the
    interior point's own point may be far off or missing: "PrimalInfeasible"); a user
    limit (:data:`USER_LIMITS`) is reported as it is.

    The status is judged once, on the plan and the bound returned (after the polish), and
    the status policy applied to it: "Solved" when the certificate closes, else
    :func:`_judged`.  With ``light_left_out``, a solve that ends without a point or with
    anything but "Solved" (a user limit apart) raises :class:`_LightAtomsLeftOut` instead,
    to be solved again with the light atoms' pairs.  ``floor`` is a lower bound known
    beforehand (:func:`mass_bound`), taken with every dual bound.

    Returns ``(plan, lower, status, solver_status, n_solved, rounds)``.
    """
    begin = time.perf_counter()
    transforms = _transforms(g)
    clock.certify += time.perf_counter() - begin
    # the cvxpy reference solves all candidates at once, but for nearly equal ensembles,
    # where the far pairs' costs (up to 1 / cost_unit) stall the interior point
    if backend == "clarabel" or g.cost_unit < EXACT_BELOW:
        working = nearest.copy()
    else:
        working = heavy.copy()
    rounds = rescales = 0
    exact = status = None
    while True:
        if rounds == MAX_ROUNDS - 1:
            working = heavy.copy()
        raw, plan = _solve_on(g, working, backend, options, clock)
        rounds += 1
        added = None
        if plan is not None:
            begin = time.perf_counter()
            upper, lower = _value(plan, g), max(dual_bound(raw.y, g, transforms), floor)
            certified = _certified(upper, lower, g, options)
            added = None if certified else _violated(raw.y, g, heavy & ~working)
            clock.certify += time.perf_counter() - begin
            if certified and (raw.status == "Solved" or raw.status in CERTIFIABLE):
                status = "Solved"
                break
        if raw.status not in USER_LIMITS and g.cost_unit < EXACT_BELOW:
            begin = time.perf_counter()
            candidates = ([] if plan is None else [plan]) + ([start] if rounds == 1 else [])
            for candidate in candidates:
                exact = _exact_on_support(candidate, g, heavy, transforms, options, floor)
                if exact is not None:
                    break
            clock.certify += time.perf_counter() - begin
            if exact is not None:  # certified on its support, whatever the status said
                plan, upper, lower = exact
                status = "Solved"
                break
        if plan is None:
            if light_left_out and raw.status not in USER_LIMITS:
                raise _LightAtomsLeftOut
            check_status(raw.status, backend, hint)  # raises: no point to certify
        if added is not None and added.any():
            working |= added
            continue
        if rescales < MAX_RESCALES and 0.0 < upper < g.cost_unit:
            # The a-priori size was far too large: the objective is below 1, where
            # Clarabel's gap test is absolute and accepts a point whose relative error is
            # large.  Rescale by the value found.
            g = replace(g, cost_unit=upper / (g.a.sum() + g.b.sum()))
            rescales += 1
            continue
        break
    solver_status = raw.status
    polished = False
    support = (plan[0] >= SUPPORT * g.a[g.src]) | (plan[1] >= SUPPORT * g.b[g.dst])
    if (backend == "clarabel" and exact is None and raw.status not in USER_LIMITS
            and support.sum() < working.sum()):
        again, plan2 = _solve_on(g, support, backend, _polish_options(options), clock)
        # its plan is feasible and its bound valid whatever it stalled on: the certificate
        # judges them below
        if plan2 is not None and (again.status == "Solved" or again.status in CERTIFIABLE):
            value = _value(plan2, g)
            if value <= upper * (1.0 + POLISH_TOLERANCE):
                plan, upper, polished = plan2, value, True
                begin = time.perf_counter()
                lower = max(lower, dual_bound(again.y, g, transforms))
                clock.certify += time.perf_counter() - begin
    if status is None:  # judged here, on the plan and the bound returned
        if _certified(upper, lower, g, options) and (
                polished or raw.status == "Solved" or raw.status in CERTIFIABLE):
            status = "Solved"
        else:
            status, detail = _judged(raw.status, upper, lower)
            if light_left_out and status != "Solved" and status not in USER_LIMITS:
                raise _LightAtomsLeftOut
            if status == "Uncertified":  # its own status: the solver's is in the message
                raise SolverError(f"the ensemble coupling solve was refused{detail}{hint}",
                                  status=status, backend=backend)
            check_status(status, backend, detail + hint)
    return plan, lower, status, solver_status, int(working.sum()), rounds


def solve_coupling(aligned: Aligned, lam: float, metrics: RegimeMetrics,
                   plan: EnsembleConstraints, backend: str, options: dict) -> Coupling:
    """Prune, scale, solve, certify and clean: the optimal semi-coupling in user units
    (module docstring).  Inputs are validated; the status policy
    (:func:`~._backends.check_status`) applies unless the certificate closes.
    """
    begin = time.perf_counter()
    a_all, b_all = aligned.a, aligned.b
    src_atoms, dst_atoms = np.flatnonzero(a_all > 0), np.flatnonzero(b_all > 0)
    # coincident atoms are one Dirac: merged here, split back at the end
    src_first, src_group = _distinct(aligned.x[src_atoms], aligned.k[src_atoms])
    dst_first, dst_group = _distinct(aligned.y[dst_atoms], aligned.l[dst_atoms])
    a_merged = np.bincount(src_group, a_all[src_atoms], minlength=src_first.size)
    b_merged = np.bincount(dst_group, b_all[dst_atoms], minlength=dst_first.size)
    heaviest = max(a_merged.max(initial=0.0), b_merged.max(initial=0.0))
    first_src, first_dst = src_atoms[src_first], dst_atoms[dst_first]
    pairs = pairs_within(aligned.x[first_src], aligned.y[first_dst], aligned.k[first_src],
                         aligned.l[first_dst], metrics, reach=np.pi * lam,
                         max_travel=plan.max_travel, budget=_memory.memory_budget())
    theta = pairs.distance / (2.0 * lam)
    one_minus_cos = 2.0 * np.sin(0.5 * theta) ** 2
    mass = a_merged.sum() + b_merged.sum()
    factor = (a_merged.size + b_merged.size) / mass if mass > 0 else 1.0
    a, b = a_merged * factor, b_merged * factor
    # each regime's total masses bound its part of d^2 below (no pair joins two regimes);
    # from the masses given, which the scaling and the merge round (by ~1e-16 of each atom:
    # 1e-10 of the bound of a book resized by 1 ppm)
    floor = factor * sum(mass_bound(a_all[aligned.k == r], b_all[aligned.l == r])
                         for r in range(len(aligned.regimes)))
    clock = _Clock()
    for fraction in (LIGHT_ATOM, LIGHTEST_ATOM):
        light = fraction * heaviest * factor
        heavy = (a[pairs.src] > light) & (b[pairs.dst] > light)
        # a certificate that does not close with light atoms left out is tried again with them
        lightest = LIGHTEST_ATOM * heaviest * factor
        retry = fraction > LIGHTEST_ATOM and bool(np.any(
            ~heavy & (a[pairs.src] > lightest) & (b[pairs.dst] > lightest)))
        # ranks among the heavy pairs (the others never come first): one sort per side serves
        # the greedy point and the first working set.  By distance, which orders the pairs as
        # 1 - cos(theta) does but keeps atoms 1e-10 apart distinct (1 - cos ~ 1e-21 does not)
        index = np.flatnonzero(heavy)
        ranks = []
        for side in (pairs.src, pairs.dst):
            rank = np.full(pairs.size, np.iinfo(np.intp).max)
            rank[index] = _rank_within(side[index], pairs.distance[index])
            ranks.append(rank)
        bound, A, B = greedy_plan(pairs.src, pairs.dst, one_minus_cos, a, b, *ranks)
        g = Ingredients(pairs.src, pairs.dst, a, b, one_minus_cos, np.cos(theta),
                        bound / (a.sum() + b.sum()) if bound > 0 else 1.0)
        sigma = a - np.bincount(pairs.src, A, minlength=a.size)
        tau = b - np.bincount(pairs.dst, B, minlength=b.size)
        # what rounding leaves of the greedy point's cost (ROUNDOFF_RESOLUTION)
        resolved = bound > ROUNDOFF_RESOLUTION * (np.abs(A - B).sum() + a[sigma > 0].sum()
                                                  + b[tau > 0].sum())
        # the greedy point attains the total-mass bound: optimal, certified without a solve
        # (a book resized in place, each atom paired with itself; the interior point was
        # 3e-5 off for a book against itself at 1e-6 of the capital)
        attained = (heavy.any() and 0 < bound and resolved
                    and _certified(bound, floor, g, options))
        clock.assembly += time.perf_counter() - begin
        if bound > NEGLIGIBLE * (a.sum() + b.sum()) and heavy.any() and not attained:
            near = NEIGHBOURS if g.cost_unit >= EXACT_BELOW else NEIGHBOURS_EXACT
            nearest = (ranks[0] < near) | (ranks[1] < near)
            try:
                chosen, lower, status, solver_status, n_solved, rounds = _optimal_plan(
                    g, heavy, nearest, (A, B), backend, options,
                    _hint(lam, theta, pairs.distance), clock, light_left_out=retry,
                    floor=floor)
            except _LightAtomsLeftOut:
                begin = time.perf_counter()
                continue
            A, B, sigma, tau = chosen
        else:  # nothing to transport, a feasible point of (almost) no cost or an optimal one
            A, B, sigma, tau = _feasible(A, B, sigma, tau, pairs.src, pairs.dst, a, b)
            lower = max(bound if not pairs.size else 0.0, floor)
            status, solver_status, n_solved, rounds = "Solved", "Solved", 0, 0
            if pairs.size and not heavy.any():
                # every pair in reach has a light atom: pure reaction, judged against the dual
                # bound of the potentials 1 (pure reaction's), which the caps below 1 on one
                # side turn into a bound within ~sqrt(e) of the optimum (a light atom of
                # relative mass e changes d^2 by ~sqrt(e)); and the total-mass bound
                lower = max(floor, dual_bound(np.full(a.size + b.size, 1.0 / g.cost_unit), g))
                status = _judged("Solved", bound, lower)[0]
                if retry and status != "Solved":
                    begin = time.perf_counter()
                    continue
                why = (f"every pair in reach has an atom lighter than {fraction:g} of the "
                       f"heaviest, which takes part in no solve: the plan is pure reaction, an "
                       f"upper bound {(bound - lower) / bound:.1e} (relative) above the lower "
                       f"bound")
                if status == "Uncertified":
                    raise SolverError(f"the ensemble coupling was not solved: {why}",
                                      status=status, backend=backend)
                if status == "AlmostSolved":
                    warn(f"the ensemble coupling was not solved (status "
                                  f"'AlmostSolved'): {why}", InaccurateSolutionWarning,
                                  stacklevel=None)
            exact = None
            if resolved and heavy.any() and not attained:
                # negligible: certified on its support, or not
                exact = _exact_on_support((A, B), g, heavy, _transforms(g), options, floor)
                if exact is None and retry:
                    begin = time.perf_counter()
                    continue
            if exact is not None:
                (A, B, sigma, tau), _, lower = exact
            elif bound > 0 and heavy.any() and not attained:
                status = "AlmostSolved"
                warn("the ensemble coupling was not solved (status 'AlmostSolved'): "
                              f"the plan's cost is at most {NEGLIGIBLE:g} of 4 lam^2 times the "
                              "mass, below the interior point's resolution, and is returned as "
                              "a feasible point (an upper bound)"
                              + _hint(lam, theta, pairs.distance), InaccurateSolutionWarning,
                              stacklevel=None)
        break
    carrying = np.flatnonzero((A > 0) | (B > 0))
    src_share = a_all[src_atoms] / a_merged[src_group]
    dst_share = b_all[dst_atoms] / b_merged[dst_group]
    destroyed, created = np.zeros(a_all.size), np.zeros(b_all.size)
    destroyed[src_atoms] = sigma[src_group] * src_share / factor
    created[dst_atoms] = tau[dst_group] * dst_share / factor
    pair, member_src, member_dst, weight = _split_over_members(
        pairs.src[carrying], pairs.dst[carrying], src_group, dst_group, src_share, dst_share)
    carrying = carrying[pair]
    kept = Pairs(src_atoms[member_src], dst_atoms[member_dst], pairs.distance[carrying],
                 pairs.regime[carrying])
    return Coupling(
        pairs=kept, one_minus_cos=one_minus_cos[carrying],
        mass_out=A[carrying] * weight / factor, mass_in=B[carrying] * weight / factor,
        destroyed=destroyed, created=created,
        lower_bound=max(lower, 0.0) / factor, n_pairs_kept=pairs.size,
        n_pairs_solved=n_solved, rounds=rounds, status=status,
        solver_status=solver_status, iterations=clock.iterations,
        assembly_time=clock.assembly, setup_time=clock.assembly + clock.setup,
        solve_time=clock.solve, certify_time=clock.certify)


def _distinct(points: np.ndarray, regimes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first atom of each distinct (regime, position), in order of first appearance,
    and each atom's distinct index (the identity when no two atoms coincide)."""
    if points.shape[0] == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    rows = np.column_stack([regimes.astype(float), points])
    _, first, group = np.unique(rows, axis=0, return_index=True, return_inverse=True)
    by_appearance = np.argsort(first, kind="stable")
    renumber = np.empty_like(by_appearance)
    renumber[by_appearance] = np.arange(by_appearance.size)
    return first[by_appearance], renumber[np.ravel(group)]


def _members(group: np.ndarray, size: int) -> list[np.ndarray]:
    """The atoms of each distinct index, in order."""
    order = np.argsort(group, kind="stable")
    return np.split(order, np.cumsum(np.bincount(group, minlength=size))[:-1])


def _split_over_members(src: np.ndarray, dst: np.ndarray, src_group: np.ndarray,
                        dst_group: np.ndarray, src_share: np.ndarray, dst_share: np.ndarray):
    """Each merged pair ``(src[p], dst[p])`` split over the member atoms: rows ``(p, i, j,
    w)`` with ``i``, ``j`` member atoms and weights ``w`` summing over ``j`` to ``i``'s
    share and over ``i`` to ``j``'s (a north-west-corner coupling of the shares)."""
    if src.size == 0:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty, empty, np.zeros(0)
    if src_group.size == np.max(src_group, initial=-1) + 1 and \
            dst_group.size == np.max(dst_group, initial=-1) + 1:  # no atom coincides
        order_src, order_dst = np.argsort(src_group), np.argsort(dst_group)
        return (np.arange(src.size), order_src[src], order_dst[dst], np.ones(src.size))
    members_src = _members(src_group, int(src_group.max()) + 1)
    members_dst = _members(dst_group, int(dst_group.max()) + 1)
    rows = []
    for p, (i, j) in enumerate(zip(src.tolist(), dst.tolist(), strict=True)):
        mi, mj = members_src[i], members_dst[j]
        if mi.size == 1 and mj.size == 1:
            rows.append((np.array([p]), mi, mj, np.ones(1)))
            continue
        ci, cj = np.cumsum(src_share[mi]), np.cumsum(dst_share[mj])
        ci[-1] = cj[-1] = 1.0
        ends = np.unique(np.concatenate([ci, cj]))
        width = np.diff(np.concatenate([[0.0], ends]))
        keep = width > 0
        ends, width = ends[keep], width[keep]
        middle = ends - 0.5 * width
        rows.append((np.full(width.size, p), mi[np.searchsorted(ci, middle)],
                     mj[np.searchsorted(cj, middle)], width))
    return tuple(np.concatenate(column) for column in zip(*rows, strict=True))


def _hint(lam: float, theta: np.ndarray, distance: np.ndarray) -> str:
    """Why a solve may fail for this ``lam`` (empty when nothing is known)."""
    if theta.size and 0 < theta.max() < 1e-3:
        return (f"; lam = {lam:g} is large against the pair distances (at most "
                f"{distance.max():.3g}): reaction costs ~{1 / theta.max() ** 2:.1e} times more "
                "than transport, which leaves the problem badly conditioned; for equal masses "
                "d^2 -> W2^2 in this limit")
    return ""
