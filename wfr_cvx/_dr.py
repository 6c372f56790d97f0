r"""Backend ``"dr"``: Douglas-Rachford splitting (ADMM) on the perspective form of the problem.

The cone program of :func:`wfr_cvx.problem.assemble` has one epigraph variable per cost
cone.  Minimising those out gives the problem this backend solves,

.. math::

    \min_x\ q_x^\top x + \sum_j \varphi_j(K_j x + c_j),
    \qquad \varphi_j(u, F) = w_j \frac{|u|^2}{F}\ \ (F > 0),

one perspective term :math:`\varphi_j` per transport face (or cell, for an off-diagonal
metric) and per reaction cell, plus indicator terms: the cones
:math:`g^2 \le \rho^k\rho^{k+1}`, the equalities and the inequalities of the constraints.
:math:`x` holds the levels, the fluxes and the geometric means; continuity holds by
construction (the source is a linear function of them), so the discretisation is exactly
the interior point's and the two backends differ only by solver error.

Iteration (ADMM with a diagonal penalty :math:`\sigma E`, over-relaxation :math:`\alpha`;
Gabay & Mercier 1976, i.e. Douglas-Rachford splitting of the dual, Eckstein & Bertsekas
1992; the scaled form of Boyd et al. 2011, §3.1.1, §3.4.3)

.. math::

    x^{k+1} &= \arg\min_x\ q_x^\top x + \tfrac{\sigma}{2}\|Kx + c - y^k + u^k\|_E^2
              \quad (K^\top E K\,x = K^\top E(y^k - c - u^k) - q_x/\sigma),\\
    z &= \alpha (K x^{k+1} + c) + (1 - \alpha) y^k,\\
    y^{k+1} &= \operatorname{prox}_{\varphi/(\sigma E)}(z + u^k),\qquad
    u^{k+1} = u^k + z - y^{k+1}.

* The proximal map of a perspective is closed form up to one cubic per term (Moreau:
  :math:`\varphi^*` is the indicator of the parabola region
  :math:`\{(\alpha, \beta): \beta + |\alpha|^2 / (4w) \le 0\}`, projected onto by Newton's
  method on :math:`2w s^3 - (\beta_0 + 2w) s^2 - |\alpha_0|^2/(4w) = 0`, :math:`s \ge 1`;
  Papadakis, Peyré & Oudet 2014, Prop. 1).  The indicator terms are projections
  (second-order cone, orthant, zero).  Each term is a numba kernel.
* The penalty is per term, :math:`E_j = w_j / \hat F_j` (and :math:`1/\hat F_j` on the
  geometric-mean cones), with :math:`\hat F` the denominators of the straight-line
  interpolation :math:`(1-s)\rho_0 + s\rho_1`, floored at ``floor`` times their largest
  value, and refitted from the iterate at iterations ``refit_first`` x 3^j: the
  curvature of :math:`w|u|^2/F` is :math:`w/F`, and a penalty matched to it is what
  made the iteration converge (measured: 0.3 % off after 1,000 iterations with a scalar
  penalty, 3e-5 with this one, on the 64 x 2 x 32 demo).  The reaction terms' penalty is
  capped at ``reaction_cap`` times the transport terms' (ratio of their weights
  :math:`\lambda^2/\Delta t` and :math:`G\Delta x^2/\Delta t` over the median, see
  :func:`reaction_scale`): with a large ``lam`` the reaction rows are stiff and swamp the
  transport rows in :math:`K^\top E K`, and five CG steps then move mass too slowly.
* The :math:`x`-update is not factorised: a few conjugate-gradient steps on
  :math:`K^\top E K` (Jacobi preconditioned, warm-started from the previous :math:`x`)
  suffice, since consecutive right-hand sides differ little (inexact ADMM; Eckstein &
  Bertsekas 1992, Thm. 8, need summable errors, which the warm start gives in practice).
  Measured on the 32^2 simplex x 16 steps: 5 CG steps per iteration converged like an
  exact solve, at 1/5 of the time of one back-solve with the sparse Cholesky factor of
  :math:`K^\top E K` (whose fill-in on a space x space x time graph is what makes the
  interior point slow).
* Cost per iteration, measured on the 48^2 simplex x 32 steps (146k unknowns, 2.45 M
  entries in :math:`K^\top E K`): 18.5 ms, of which 5.5 ms in the proximal maps (about six
  Newton steps per term from a cube-root start) and 8.8 ms in eight sparse products; now
  13.5 ms: Newton starts from each term's previous root (two steps), the CG solve starts
  from the product it kept (:func:`pcg`'s ``Ax``: five products, not six) and the vector
  updates are fused numba passes.  The products are a numba loop over unsigned indices
  (:func:`_csr_product`), 25 % faster than scipy's (which it matches to the bit): 32^2 x
  16 solves took 1.64 s against 1.90 s.  From 2 M entries in :math:`K^\top E K` on
  (:data:`PARALLEL_MIN_NNZ`), the products (by row blocks) and the proximal maps (by runs
  of terms) are shared by ``threads`` threads (default 2, at most the machine's cores).
  Results are the same to the bit: each row and term is computed alike.

Start (``coarse_start``): the same problem on the grid with half the cells per weight axis
and half the steps (:mod:`wfr_cvx.multilevel`), solved by this backend to the same
``eps`` (itself started from a coarser grid, down to 16 cells x 4 steps), its path
prolonged to the grid (nested iteration).  ``"auto"`` (default) does so on 2-D grids;
``True`` on 1-D grids too; ``False``, a free end, constraints or a grid that does not halve
evenly start from the straight line :math:`(1-s)\rho_0 + s\rho_1` without flux.
Measured at ``floor`` 1e-4 (the default then; iterations on the grid itself, wall time
including the coarse solves):

* 2-D, the ladder's simplex bumps (``benchmarks/bench_ladder.py``): 32^2 x 16 1,850 ->
  1,350 iterations, 6.95 -> 5.98 s; 64^2 x 32 2,600 -> 1,150, 87.5 -> 46.9 s (the coarse
  levels 6.7 s of it).  Solving the coarse levels to 1e-4 instead cut their time to
  1.4-2.4 s but left 1,650-2,400 iterations on 64^2 x 32 (59-89 s): their accuracy is
  what the start is worth.
* 1-D: two Diracs (32 x 8) 14,150 -> 750 iterations (1.54 -> 0.23 s); two-regime bumps
  (48 x 12) 1,200 -> 450; transport at lam = 1 (64 x 16) 7,500 -> 5,300; but a regime
  switch (32 x 2 x 8) 2,800 -> 2,650 at 0.42 -> 0.57 s, and the 1-D demo (64 x 2 x 32)
  2,150 -> 2,150 iterations at 2.4 -> 4.8 s: its bumps are narrower than a coarse cell,
  where the coarse levels need thousands of iterations and say little.  Hence "auto".

Stopping: every ``check_every`` iterations, when the relative primal residual
:math:`\|E^{1/2}(Kx + c - y)\| / \|E^{1/2} y\|` is below ``eps``, the objective moved by
less than ``eps`` (relative) since the last check, and the objective's remaining error
estimated from that move is below ``eps_cost``.  The estimate assumes the :math:`O(1/k)`
rate of first-order methods: an error :math:`C/k` changes by :math:`C\Delta k/k^2` over
the last :math:`\Delta k` = ``check_every`` iterations, so the error is about the relative
move times :math:`k/\Delta k` (:func:`remaining_cost_error`).  Without it, slow tails passed
as converged: on the 16^2 simplex x 16 steps at lam = 4 the move fell below 3e-6 per 50
iterations at iteration 16,000 while :math:`d^2` was still 2.3e-4 above the interior
point's, and at 32^2 x 16 5e-4 above (the estimate said 1.2e-3 there); on the cases of
:data:`DEFAULTS` the test added 0-18 % iterations (measured) and the estimate was 1-3x
the true error.  The tests ask for 1e-4 relative agreement with the interior point at the
defaults.  With ``eps`` 1e-5 (formerly 3e-6) the residual no longer binds on those
cases, the cost estimate does: iterations 3e-6 -> 1e-5, 2-D ladder 32^2 x 16 1,350 ->
700, 16^2 x 16 2,150 -> 1,850, 16^2 x 32 2,700 -> 2,450, 32^2 x 32 2,150 -> 1,750, 64^2
x 32 1,100 -> 300; 1-D demo 2,100 -> 1,550, transport at lam = 1 9,500 -> 7,400; the
switches and Diracs unchanged.  :math:`d^2` moved by at most 1.2e-5 (32^2 x 16: 3.4e-6
-> 1.5e-5 above the interior point's); the levels, compared with the interior point's,
by at most 1.1 % of the largest level (0.55 % at 3e-6) at 32^2 x 16, 0.084 % (0.073 %)
at 16^2 x 32: pass ``eps=3e-6`` or less for a closer path.

Infeasibility (contradictory constraints): at every check the step of the unscaled dual
since the last check is tested as a Farkas certificate (:func:`infeasibility_certificate`,
tolerance ``eps_infeas``); two certifying checks in a row stop the solve with status
"PrimalInfeasible" (an :class:`~wfr_cvx.errors.InfeasibleError`).

References
----------
D. Gabay, B. Mercier, "A dual algorithm for the solution of nonlinear variational problems
via finite element approximation", Comput. Math. Appl. 2(1):17-40, 1976.
J. Eckstein, D. Bertsekas, "On the Douglas-Rachford splitting method and the proximal
point algorithm for maximal monotone operators", Math. Programming 55:293-318, 1992.
S. Boyd, N. Parikh, E. Chu, B. Peleato, J. Eckstein, "Distributed optimization and
statistical learning via the alternating direction method of multipliers", Found. Trends
Mach. Learn. 3(1):1-122, 2011.
N. Papadakis, G. Peyré, E. Oudet, "Optimal transport with proximal splitting", SIAM J.
Imaging Sci. 7(1):212-238, 2014.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import numba as nb
import numpy as np
import scipy.sparse as sp

from . import multilevel
from ._options import check_options, choice, flag, integer, real
from ._threads import thread_budget
from .grid import Grid
from .problem import ConicProblem, RawSolution, solve_assembled

__all__ = ["DEFAULTS", "OPTIONS", "SOLVER_OPTIONS", "Splitting", "coarse_start", "path_point",
           "infeasibility_certificate", "perspective_prox", "pcg", "polar_projection",
           "reaction_scale", "remaining_cost_error",
           "soc_projection", "solve", "solve_conic", "split", "start_point"]

#: wfr_cvx's defaults (see the module docstring).  Measured (relative d^2 error to the
#: interior point / iterations) on the 2-D simplex ladder case (bump 0.08 wide, lam = 0.3)
#: at 32^2 x 16, the 1-D demo at 64 x 2 x 32 and a regime switch of two Diracs (32 x 8),
#: all from the straight-line start (``coarse_start=False``; the coarse start's figures
#: are in the module docstring):
#:
#: * floor 1e-6 (the default since the coarse start; 1e-4 before), iterations against
#:   1e-4's, with the coarse start where "auto" uses it: a 2-D regime switch (a bump
#:   moving to the other regime, 32^2 simplex x 16 steps) 1,650 against 11,600 (13.8 s
#:   against 98 s), 2-D ladder 32^2 x 16 / 32^2 x 32 / 64^2 x 16 1,350 / 2,150 / 950
#:   against 1,400 / 2,200 / 1,050, transport at lam = 1 (32^2 x 16) 4,200 against
#:   4,050, 16^2 x 32 (no coarse level) 2,700 against 1,900; 1-D (straight line): the
#:   switch below 1,850 against 2,800, Diracs (32 x 8) 3,500 against 14,150, the demo
#:   2,100 against 2,150, transport at lam = 1 (64 x 16) 7,950 against 7,500, two-regime
#:   bumps (48 x 12) 1,400 against 1,200; the ladder (benchmarks/LADDER.md) 16^2 x 16
#:   2,150 against 1,400 and 1-D 256 x 2 x 32 5,400 against 3,600.  The slow tails are
#:   where a tiny denominator's penalty sat on the floor: the worst case gains 7x; the
#:   losses reach 1.5x, on grids the coarse start does not reach.
#: * the former defaults (floor 1e-4, penalty refitted at iterations 100, 300, 900, ...):
#:   2-D 1.4e-6 / 1,850, 1-D -7.3e-7 / 2,150, switch -1.8e-5 / 2,800.
#: * floor 1e-3: the switch did not converge in 20,000 iterations (the start's
#:   denominators are 16x off where the path decays as (1 - s)^2); floor 1e-5 or 1e-6
#:   (straight-line start): 2-D 2,150 iterations.  Without refits, floor 1e-3: 2-D
#:   1,300, 1-D -6.8e-5 / 4,700.
#: * eps = 1e-5 (floor 1e-3, no refit): 1-D -1.3e-4 at 2,450, above the 1e-4 the backends
#:   must agree to.  alpha = 1.8 no better; sigma = 0.3: 2.9e-4 / 4,300 (1-D); sigma = 0.01
#:   or 1: 10x slower (2-D); but sigma = 1 made the switch converge at floor 1e-3.
#: * 2 CG steps per iteration stalled at 4e-4 (2-D); 3 and 5 converged like an exact solve.
#: * with the coarse start, sigma 0.05 / 0.03: 2-D 32^2 x 16 1,050 / 900 iterations
#:   (against 1,400), 32^2 x 32 1,900 / 1,600 (2,200), transport at lam = 1 on the 32^2 x 16
#:   simplex 3,600 / 3,100 (4,050), 1-D transport (64 x 16) 3,000 / 1,850 (5,300); but a
#:   2-D regime switch (32^2 x 16 x 2 regimes) did not converge in 20,000 iterations at
#:   either (11,600 at 0.1), the 1-D switch took 5,300 / 8,800 (2,650) and the 1-D demo
#:   1,900 / 2,600 (2,150): no value is best everywhere, 0.1 kept.
#: * tried and dropped (stop 15): the reaction terms' penalty scaled by 0.25 took 1-D
#:   transport at lam = 1 from 9,000 to 3,850 iterations and the 2-D ladder's 16^2 /
#:   32^2 x 32 from 2,150 to 1,550 / 1,450, but the 1-D switch from 1,850 to 5,950 and the
#:   2-D switch from 1,650 to 5,050 (1/16: lam = 2 in 5,100, lam = 1 not at all); the
#:   F-row penalty matched to the curvature w |u|^2 / F^3 helped little (9,000 -> 6,550);
#:   CG run to a 10x residual drop (mean 4-15 steps) or an exact x-update (splu) made the
#:   Diracs below fail to converge, and the splu solves made 2-D solves 6-15x slower.
#: * tried and dropped (stop 16): sigma adapted by residual balancing every 50 iterations
#:   (sigma x sqrt(primal / dual residual) when that moves it 5x; Boyd et al. §3.4.1, as in
#:   OSQP): the 1-D / 2-D switches 2,150 / 1,950 -> 400 / 350 iterations (sigma rose to
#:   ~3.5), but the 1-D demo 2,100 -> 18,900, the two-regime bumps 1,400 -> 9,600, 16^2 x
#:   32 2,700 -> 17,400 and both transport cases "MaxIterations": the residuals' balance
#:   pushed sigma up (0.1 -> 0.56) where smaller is faster.  The reaction penalty alone x10:
#:   the switches 2,150 / 1,950 -> 1,250 / 800, but the 2-D ladder's 32^2 x 16 700 -> 1,250
#:   and 16^2 x 32 2,450 -> 9,400, at the 2-D switch's weight ratio (92).
#: * eps_cost 3e-5 (the remaining-error estimate, added after the above), iterations
#:   against the move test alone: 1-D switch 2,150 / 1,850, Diracs 3,750 / 3,500,
#:   transport at lam = 1 9,500 / 9,000, 2-D switch 1,950 / 1,650, 2-D transport at lam = 1
#:   (bumps 0.06 wide) 7,100 / 6,300, the 1-D demo and the 2-D ladder's 16^2 / 32^2 x 16 /
#:   32 unchanged; the largest d^2 difference from the interior point 2.1e-5 (16^2 x 32).
#: * reaction_cap 300 (uncapped before), iterations (d^2 against the interior point):
#:   transport at lam = 1 (weight ratio 4,100) 7,400 -> 3,250 (1-D), 2-D at lam = 1 / 2 /
#:   4 (ratio 1,020 / 4,100 / 16,400) 7,200 -> 2,550 / 2,550 / 2,550, the last two from
#:   "MaxIterations" at 20,000; 1-D 64 x 16 at lam = 2 / 4 from "MaxIterations" to 3,000 /
#:   3,150 (+7.9e-6 / +7.7e-6); 64^2 x 16 400 -> 350; but 1-D 32 x 8 at lam = 2 4,700 ->
#:   8,950 and the 1-D demo at 256 x 2 x 32 (ratio 1,480) 2,850 -> 3,050.  Cases with a
#:   ratio below 300 (the switches, Diracs, the 2-D ladder up to 32 per side) unchanged.
#:   Cap 100: 2-D transport at lam = 1 / 2 / 4 1,050 / 1,300 / 2,350, but the 1-D switch
#:   2,150 -> 3,450 and 1-D transport 5,050; cap 1,000: 2-D transport 7,000 at every lam.
#:   (At lam = 4 on the 16^2 simplex x 16 steps dr's d^2 lay 1.3e-4 above the interior
#:   point's: the interior point's was low.  With tolerances 1e-9 / 1e-10 / 1e-11 instead
#:   of 1e-8 Clarabel gave 0.0440865 -> 0.0440915 / 0.0440920 / 0.0440920, dr 0.0440921.)
DEFAULTS = {
    "eps": 1e-5,
    "eps_cost": 3e-5,
    "max_iter": 20_000,
    "time_limit": math.inf,
    "sigma": 0.1,
    "alpha": 1.6,
    "cg_iters": 5,
    "floor": 1e-6,
    "reaction_cap": 300.0,
    "check_every": 50,
    "refit_first": 100,
    "coarse_start": "auto",
    "threads": 2,
    "verbose": False,
    "eps_infeas": 1e-2,
}

#: The settings of this backend, with their types and admissible values (checked before
#: any work).
OPTIONS = {option.name: option for option in (
    real("eps", doc="relative primal residual and objective move"),
    real("eps_cost", doc="estimated remaining relative error of the objective"),
    integer("max_iter", 1), real("time_limit", doc="seconds (inf: none)"),
    real("sigma", doc="penalty scale"), real("alpha", 0.0, 2.0, high_open=True),
    integer("cg_iters", 1), real("floor"), real("reaction_cap"), integer("check_every", 1),
    integer("refit_first", 0, doc="0: never refit the penalty"),
    choice("coarse_start", ("auto",), or_bool=True), integer("threads", 1), flag("verbose"),
    real("eps_infeas", 0.0, 1.0, doc="tolerance of the infeasibility certificate"),
)}

SOLVER_OPTIONS = frozenset(OPTIONS)


def _check_options(options: dict) -> dict:
    """The defaults updated with the checked ``options``."""
    return {**DEFAULTS, **check_options(options, OPTIONS, "dr", "wfr_cvx's ADMM")}


# ------------------------------------------------------------------- numba kernels
@nb.njit(cache=True, nogil=True)
def _parabola_root(a2, beta0, w, guess):
    """Root ``s >= 1`` of ``f(s) = 2w s^3 - (beta0 + 2w) s^2 - a2 / (4w)``, for a point
    outside the parabola region (``beta0 + a2 / (4w) > 0``), by Newton's method from
    ``guess`` (``<= 0``: none).

    The root lies above ``low = max(1, (beta0 + 2w) / (2w))``, where ``f <= 0``, and ``f`` is
    increasing and convex there: from any start ``>= low`` one Newton step lands above the
    root, and from above Newton decreases monotonically to it.
    """
    c2 = beta0 + 2.0 * w
    c0 = a2 / (4.0 * w)
    low = max(1.0, c2 / (2.0 * w))
    if guess > 0.0:
        s = max(guess, low)
    else:  # above the root: f(low + (c0 / 2w)^(1/3)) >= 0
        s = low + (c0 / (2.0 * w)) ** (1.0 / 3.0)
    for _ in range(100):
        f = (2.0 * w * s - c2) * s * s - c0
        df = (6.0 * w * s - 2.0 * c2) * s
        if df <= 0.0:
            break
        step = f / df
        s_new = max(s - step, 1.0)
        # quadratic convergence: the error after a step of 1e-9 s is ~1e-18 s
        if abs(s_new - s) <= 1e-9 * s:
            return s_new
        s = s_new
    return s


@nb.njit(cache=True, nogil=True)
def perspective_prox(v, weight, ncomp, out, guess):
    r"""``out = prox_phi(v)`` per term, ``phi(u, F) = weight |u|^2 / F`` (+inf for F < 0).

    ``v`` and ``out`` are flat, ``ncomp + 1`` entries per term (``u`` then ``F``);
    ``weight`` one entry per term (the penalty folded in: ``w / (sigma E)``).  Moreau:
    ``prox_phi(v) = v - P_C(v)`` with ``C = {(a, b): b + |a|^2 / (4 weight) <= 0}``.
    ``guess`` (one entry per term, read and written) holds each term's cubic root ``s``:
    the previous call's is the start of Newton's method (0: none), which in the ADMM loop
    cut the Newton steps per term from ~6 to ~2.
    """
    d = ncomp + 1
    for i in range(weight.size):
        w = weight[i]
        base = i * d
        a2 = 0.0
        for j in range(ncomp):
            a2 += v[base + j] * v[base + j]
        beta0 = v[base + ncomp]
        if beta0 + a2 / (4.0 * w) <= 0.0:  # v in C: the prox is the apex
            for j in range(d):
                out[base + j] = 0.0
            continue
        s = _parabola_root(a2, beta0, w, guess[i])
        guess[i] = s
        for j in range(ncomp):
            out[base + j] = v[base + j] * (1.0 - 1.0 / s)
        out[base + ncomp] = 2.0 * w * (s - 1.0)


@nb.njit(cache=True)
def soc_projection(v, dim, out):
    """Projection onto second-order cones ``{(t, x): |x| <= t}``, ``dim`` entries each."""
    for i in range(v.size // dim):
        base = i * dim
        t = v[base]
        nx = 0.0
        for j in range(1, dim):
            nx += v[base + j] * v[base + j]
        nx = math.sqrt(nx)
        if nx <= t:
            for j in range(dim):
                out[base + j] = v[base + j]
        elif nx <= -t:
            for j in range(dim):
                out[base + j] = 0.0
        else:
            a = 0.5 * (t + nx)
            out[base] = a
            for j in range(1, dim):
                out[base + j] = a * v[base + j] / nx


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """``a . b`` without BLAS: OpenBLAS threads its dot product, and on a 2-core machine
    shared with another process that made each CG step 3x slower (measured)."""
    return float(np.einsum("i,i->", a, b))


@nb.njit(cache=True)
def _cg_update(step, p, Ap, x, r, Ax, inv_diag):
    """One CG step's vector updates in one pass: ``x += step p``, ``r -= step Ap``,
    ``Ax += step Ap``; returns the new ``r . (inv_diag r)``."""
    rz = 0.0
    for i in range(x.size):
        x[i] += step * p[i]
        r[i] -= step * Ap[i]
        Ax[i] += step * Ap[i]
        rz += r[i] * r[i] * inv_diag[i]
    return rz


@nb.njit(cache=True)
def _cg_direction(beta, r, inv_diag, p):
    """``p = inv_diag r + beta p`` in place."""
    for i in range(p.size):
        p[i] = inv_diag[i] * r[i] + beta * p[i]


@nb.njit(cache=True)
def _penalised_gap(E, y, c, u, out):
    """``out = E (y - c - u)``: the ADMM x-update's right-hand side before ``K^T``."""
    for i in range(out.size):
        out[i] = E[i] * (y[i] - c[i] - u[i])


@nb.njit(cache=True)
def _relax(alpha, c, y, u, z, v):
    """``z += c`` (``z`` holds ``K x`` on entry), then the over-relaxed point plus the
    scaled dual, ``v = alpha z + (1 - alpha) y + u``."""
    for i in range(z.size):
        z[i] += c[i]
        v[i] = alpha * z[i] + (1.0 - alpha) * y[i] + u[i]


#: Work is split over threads only from this many entries in the normal matrix
#: :math:`K^\top E K` on (~45 us to hand a product to a thread).  Whole solves of the
#: ladder's simplex cases, one thread -> two on 2 cores, with :func:`_csr_product`: 32^2 x
#: 16 (0.52 M entries) 1.65 -> 2.1 s, 32^2 x 32 (1.08 M) 9.4 -> 9.6 s, 48^2 x 16 (1.19 M)
#: 2.35 -> 2.35 s, 48^2 x 32 (2.45 M) 7.7 -> 7.4 s, 64^2 x 32 8.7 -> 7.9 s.  (With
#: scipy's products, per iteration: 2.52 -> 3.07 ms at 32^2 x 16, 14.2 -> 10.2-11.8 ms at
#: 48^2 x 32.)
PARALLEL_MIN_NNZ = 2_000_000


class Workers:
    """Runs a list of tasks at once: the first on the calling thread, the others on a pool
    of ``threads - 1`` threads.  What they run releases the GIL: the ``nogil`` numba
    kernels of this module."""

    def __init__(self, threads: int):
        self.threads = threads
        self._pool = ThreadPoolExecutor(threads - 1) if threads > 1 else None

    def run(self, tasks: list) -> None:
        """Run the tasks (which write their results in place) and wait for them all."""
        if self._pool is None:
            for task in tasks:
                task()
            return
        futures = [self._pool.submit(task) for task in tasks[1:]]
        tasks[0]()
        for future in futures:
            future.result()  # re-raises a task's exception

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()


def even_cuts(weights: np.ndarray, parts: int) -> np.ndarray:
    """``parts + 1`` boundaries splitting ``range(len(weights))`` into runs of about equal
    total weight (first 0, last ``len(weights)``)."""
    total = np.concatenate([[0.0], np.cumsum(weights, dtype=float)])
    inner = np.searchsorted(total, total[-1] * np.arange(1, parts) / parts)
    return np.concatenate([[0], np.clip(inner, 0, len(weights)), [len(weights)]])


@nb.njit(cache=True, nogil=True)
def _csr_product(indptr, indices, data, x, out, lo, hi):
    """Rows ``lo:hi`` of ``A @ x`` for ``A = (data, indices, indptr)`` in CSR form, into
    ``out[lo:hi]``, summed in storage order (scipy's order: the same result to the bit).

    ``indptr`` and ``indices`` must be *unsigned* views: numba wraps a negative index
    around, and the sign test on every signed index read made this loop 2.3x slower than
    scipy's (0.56 against 0.24 ms on the 523k entries of the 32^2 x 16 normal matrix);
    with unsigned indices it takes 0.18 ms.
    """
    for i in range(lo, hi):
        total = 0.0
        for j in range(indptr[i], indptr[i + 1]):
            total += data[j] * x[indices[j]]
        out[i] = total


def _unsigned(index: np.ndarray) -> np.ndarray:
    """The same index array viewed as unsigned integers of its width (no copy)."""
    return index.view(np.dtype(f"u{index.itemsize}"))


class RowBlocks:
    """``A @ x`` for a CSR matrix ``A`` by :func:`_csr_product`, in row blocks of about
    equal numbers of entries, one per worker (one block on one thread)."""

    def __init__(self, A: sp.csr_matrix, workers: Workers):
        self.A, self.workers, self.shape = A, workers, A.shape
        self._indptr, self._indices = _unsigned(A.indptr), _unsigned(A.indices)
        cuts = even_cuts(np.diff(A.indptr), workers.threads)
        self.cuts = list(zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True))

    def __matmul__(self, x: np.ndarray) -> np.ndarray:
        out = np.empty(self.shape[0])
        if len(self.cuts) == 1:
            _csr_product(self._indptr, self._indices, self.A.data, x, out, 0, self.shape[0])
            return out
        self.workers.run([partial(_csr_product, self._indptr, self._indices, self.A.data,
                                  x, out, lo, hi) for lo, hi in self.cuts])
        return out


def pcg(A: sp.csr_matrix, inv_diag: np.ndarray, rhs: np.ndarray, x: np.ndarray,
        iters: int, Ax: np.ndarray | None = None) -> float:
    """``iters`` Jacobi-preconditioned conjugate-gradient steps on ``A x = rhs`` (``A``
    symmetric positive definite, a CSR matrix or :class:`RowBlocks`), from and into ``x``;
    returns the residual norm.

    ``Ax``, when given, holds ``A @ x`` on entry and is kept equal to it (up to rounding)
    on exit: the caller's next solve then starts without a product (in the ADMM loop one
    of six products per iteration).  The vector updates are fused numba passes.
    """
    if Ax is None:
        Ax = A @ x
    r = rhs - Ax
    p = inv_diag * r
    rz = _dot(r, p)
    for _ in range(iters):
        if rz == 0.0:
            break
        Ap = A @ p
        step = rz / _dot(p, Ap)
        rz_new = _cg_update(step, p, Ap, x, r, Ax, inv_diag)
        _cg_direction(rz_new / rz, r, inv_diag, p)
        rz = rz_new
    return math.sqrt(_dot(r, r))


def remaining_cost_error(moved: float, iteration: int, interval: int) -> float:
    """The objective's remaining relative error, estimated from its relative ``moved``
    over the last ``interval`` iterations at ``iteration``, for an error decaying as
    ``C / k``: ``moved * iteration / interval`` (see the module docstring)."""
    return moved * iteration / interval


# ------------------------------------------------------------------- the splitting
@dataclass
class Splitting:
    """``min q_x' x + sum_j phi_j(K_j x + c_j)`` read off an assembled cone program.

    ``K`` stacks the terms' rows, ``segments`` says which rows are which term:
    ``(kind, start, stop, extra)`` with kind ``"perspective"`` (extra: ``(weights, ncomp,
    t_columns)``, rows ``u_1 .. u_ncomp, F`` per term), ``"soc"`` (extra: cone dimension),
    ``"nonneg"`` or ``"zero"``.  ``n_x`` unknowns: the cone program's columns before its
    epigraph variables.  ``reaction_start``: the first row of the reaction terms' segment
    (None without reaction terms).
    """

    K: sp.csr_matrix
    c: np.ndarray
    q_x: np.ndarray
    segments: list
    n_x: int
    reaction_start: int | None = None

    def perspective(self) -> list:
        """The perspective segments, in row order."""
        return [seg for seg in self.segments if seg[0] == "perspective"]

    def cost(self, y: np.ndarray) -> float:
        """``sum_j phi_j(y_j)`` for ``y`` with every ``F >= 0`` (0/0 counts 0)."""
        return float(sum((extra[0] * values).sum() for (_, _, _, extra), values
                         in zip(self.perspective(), self.term_values(y), strict=True)))

    def term_values(self, y: np.ndarray) -> list[np.ndarray]:
        """Per perspective segment, ``|u|^2 / F`` of every term (no weight)."""
        out = []
        for _, start, stop, (_, ncomp, _) in self.perspective():
            block = y[start:stop].reshape(-1, ncomp + 1)
            u2 = (block[:, :ncomp] ** 2).sum(axis=1)
            F = block[:, ncomp]
            out.append(np.where(u2 > 0, u2 / np.where(F > 0, F, np.inf), 0.0))
        return out


def split(problem: ConicProblem) -> Splitting:
    """Eliminate the epigraph variables of ``problem``: its :class:`Splitting`.

    A cost cone of :func:`~wfr_cvx.problem.assemble` has rows ``(F + t, 2u, F - t)``
    (``soc3``; ``soc4``: ``(F + t, 2u_1, 2u_2, F - t)``) with cost ``w t``: minimised over
    ``t`` it is ``w |u|^2 / F``.  So ``F`` is the half-sum of the first and last rows,
    ``u`` half the middle ones; cones without an epigraph variable stay cones.
    """
    n_x = problem.layout.t_transport.start
    rows = (-problem.A).tocsr()  # s = b - A x = M x + c
    M, Mt = rows[:, :n_x], rows[:, n_x:]
    b = problem.b
    blocks, consts, segments = [], [], []
    reaction_start = None
    t_reaction = problem.layout.t_reaction
    start = row = 0
    for kind, count in problem.cones:
        if count == 0:
            continue
        if kind in ("zero", "nonneg"):
            blocks.append(M[row:row + count])
            consts.append(b[row:row + count])
            segments.append((kind, start, start + count, None))
            row += count
            start += count
            continue
        dim = int(kind[-1])
        top = row + dim * np.arange(count)
        t_entries = Mt[top]
        if t_entries.nnz == 0:
            blocks.append(M[row:row + dim * count])
            consts.append(b[row:row + dim * count])
            segments.append(("soc", start, start + dim * count, dim))
            start += dim * count
        else:
            if not np.array_equal(t_entries.getnnz(axis=1), np.ones(count)):
                raise ValueError("every cost cone must hold exactly one epigraph variable")
            t_columns = t_entries.indices.copy()
            if t_reaction.start <= n_x + t_columns[0] < t_reaction.stop:
                reaction_start = start
            weights = problem.q[n_x + t_columns]
            bottom = top + dim - 1
            parts = [0.5 * M[top + j] for j in range(1, dim - 1)]
            parts.append(0.5 * (M[top] + M[bottom]))
            part_c = [0.5 * b[top + j] for j in range(1, dim - 1)]
            part_c.append(0.5 * (b[top] + b[bottom]))
            ncomp = dim - 2
            # term-major order: (u_1 .. u_ncomp, F) of term 0, then term 1, ...
            order = np.arange((ncomp + 1) * count).reshape(ncomp + 1, count).T.ravel()
            blocks.append(sp.vstack(parts, format="csr")[order])
            consts.append(np.concatenate(part_c)[order])
            segments.append(("perspective", start, start + (ncomp + 1) * count,
                             (weights, ncomp, t_columns)))
            start += (ncomp + 1) * count
        row += dim * count
    K = sp.vstack(blocks, format="csr") if blocks else sp.csr_matrix((0, n_x))
    c = np.concatenate(consts) if consts else np.zeros(0)
    return Splitting(K=K, c=c, q_x=problem.q[:n_x].copy(), segments=segments, n_x=n_x,
                     reaction_start=reaction_start)


def reaction_scale(s: Splitting, cap: float) -> float:
    """The factor on the reaction terms' penalty: ``min(1, cap / ratio)``, ``ratio`` the
    reaction weight over the transport terms' median weight (1 without either kind)."""
    weights = {start: extra[0] for _, start, _, extra in s.perspective()}
    if s.reaction_start is None or len(weights) == 1:
        return 1.0
    reaction = weights.pop(s.reaction_start)  # split() leaves out empty segments
    ratio = float(np.median(reaction) / np.median(np.concatenate(list(weights.values()))))
    return min(1.0, cap / ratio)


def _penalty(s: Splitting, z: np.ndarray, floor: float, reaction_cap: float) -> np.ndarray:
    """Per-row penalty ``E``: ``w / F`` on perspective terms, ``1 / t`` on the other cones,
    with ``F``, ``t`` read off ``z`` and floored at ``floor`` times their largest value; the
    reaction terms' ``w`` times :func:`reaction_scale` (``reaction_cap``)."""
    E = np.ones(z.size)
    for kind, start, stop, extra in s.segments:
        if kind == "perspective":
            weights, ncomp, _ = extra
            F = z[start:stop].reshape(-1, ncomp + 1)[:, ncomp]
            scale = weights
            if start == s.reaction_start:
                scale = weights * reaction_scale(s, reaction_cap)
            per = ncomp + 1
        elif kind == "soc":
            F = z[start:stop].reshape(-1, extra)[:, 0]
            scale = 1.0
            per = extra
        else:
            continue
        top = F.max() if F.size else 0.0
        F = np.maximum(F, floor * top) if top > 0 else np.ones_like(F)
        E[start:stop] = np.repeat(scale / F, per)
    return E


def _prox_weights(s: Splitting, E: np.ndarray, sigma: float) -> list:
    """Per perspective segment, the weights ``w / (sigma E)`` of ``prox_{phi / (sigma E)}``
    (``E`` is constant within a term: its first row's value)."""
    return [weights / (sigma * E[start:stop:ncomp + 1])
            for _, start, stop, (weights, ncomp, _) in s.perspective()]


def _prox(s: Splitting, v: np.ndarray, prox_weights: list, out: np.ndarray,
          roots: list | None = None, workers: Workers | None = None) -> None:
    """``out = prox_{phi / (sigma E)}(v)`` term by term; ``prox_weights`` from
    :func:`_prox_weights`; ``roots`` (one array per perspective segment, see
    :func:`perspective_prox`) carry Newton's starts from call to call (None: cold);
    ``workers`` share the perspective terms out in runs of equal length."""
    weights = iter(prox_weights)
    if roots is None:
        roots = [np.zeros(w.size) for w in prox_weights]
    starts = iter(roots)
    for kind, start, stop, extra in s.segments:
        if kind == "zero":
            out[start:stop] = 0.0
        elif kind == "nonneg":
            np.maximum(v[start:stop], 0.0, out=out[start:stop])
        elif kind == "soc":
            soc_projection(v[start:stop], extra, out[start:stop])
        else:
            w, root, d = next(weights), next(starts), extra[1] + 1
            if workers is None or workers.threads == 1:
                perspective_prox(v[start:stop], w, extra[1], out[start:stop], root)
                continue
            cuts = w.size * np.arange(workers.threads + 1) // workers.threads

            def terms(lo, hi, start=start, w=w, root=root, d=d, ncomp=extra[1]):
                rows = slice(start + d * lo, start + d * hi)
                perspective_prox(v[rows], w[lo:hi], ncomp, out[rows], root[lo:hi])

            workers.run([partial(terms, lo, hi) for lo, hi in zip(cuts[:-1], cuts[1:],
                                                                  strict=True)])


def path_point(problem: ConicProblem, levels: np.ndarray, flux: np.ndarray | None = None,
               free_end: bool = False) -> np.ndarray:
    """A path -- ``levels`` ``(T + 1, *shape)``, ``flux`` ``(T, *face_shape)`` (None: no
    flux) -- in the unknowns of ``problem`` (epigraph columns excluded), with
    ``g = sqrt(rho^k rho^{k+1})``; ``free_end``: level ``T`` is an unknown too."""
    L = problem.layout
    T = levels.shape[0] - 1
    levels = levels.reshape(T + 1, -1)
    x = np.zeros(L.t_transport.start)
    x[L.rho] = (levels[1:] if free_end else levels[1:-1]).ravel()[L.rho_cells]
    if flux is not None:
        x[L.flux] = np.ravel(flux)[L.flux_faces]
    x[L.g] = np.sqrt(np.maximum(levels[:-1] * levels[1:], 0.0)).ravel()[L.g_cells]
    return x


def start_point(problem: ConicProblem, rho0: np.ndarray, rho1: np.ndarray | None,
                n_steps: int) -> np.ndarray:
    """The straight line ``(1 - s) rho0 + s rho1``, no flux, ``g = sqrt(rho^k rho^{k+1})``,
    in the unknowns of ``problem`` (epigraph columns excluded)."""
    end = rho0 if rho1 is None else rho1
    s = np.arange(n_steps + 1)[:, None] / n_steps
    levels = (1.0 - s) * rho0.ravel()[None, :] + s * end.ravel()[None, :]
    return path_point(problem, levels, free_end=rho1 is None)


def coarse_start(problem: ConicProblem, rho0: np.ndarray, rho1: np.ndarray, grid: Grid,
                 lam: float, metric, *, scheme: str, options: dict, **assembly):
    """The start prolonged from this backend's solve on :func:`~wfr_cvx.multilevel.coarsen_grid`
    (see the module docstring), or None where it does not apply: a free end (``rho1``
    None), constraints, a grid that does not halve, or a coarse solve that failed
    numerically.  Returns ``(x0, coarse RawSolution or None)``."""
    plan = assembly.get("constraints", ())
    constrained = bool(getattr(plan, "constraints", plan))
    if rho1 is None or constrained or not multilevel.can_coarsen(grid):
        return None, None
    coarse = multilevel.coarsen_grid(grid)
    mechanisms = {k: v for k, v in assembly.items() if k != "constraints"}
    raw = solve(multilevel.restrict_allocation(rho0, grid),
                multilevel.restrict_allocation(rho1, grid), coarse, lam,
                multilevel.coarsen_metric(metric, grid), scheme=scheme, options=options,
                **mechanisms)
    if raw.status not in ("Solved", "MaxIterations", "MaxTime"):
        return None, raw
    levels = multilevel.prolong_levels(raw.levels, grid)
    levels[0], levels[-1] = rho0, rho1
    return path_point(problem, levels, multilevel.prolong_flux(raw.flux, grid)), raw


def polar_projection(s: Splitting, w: np.ndarray) -> np.ndarray:
    r"""Projection of ``w`` onto the polar cone :math:`D^\circ` of the terms' domains.

    Per segment: the zero cone's polar is everything, the orthant's the negative orthant,
    a second-order cone's its negative, and a perspective term's domain (closure
    :math:`\{(u, F): F \ge 0\}`) has polar :math:`\{u = 0, F \le 0\}`.
    """
    p = w.copy()
    for kind, start, stop, extra in s.segments:
        block = p[start:stop]
        if kind == "nonneg":
            np.minimum(block, 0.0, out=block)
        elif kind == "soc":
            projected = np.empty_like(block)
            soc_projection(-block, extra, projected)
            block[:] = -projected
        elif kind == "perspective":
            ncomp = extra[1]
            terms = block.reshape(-1, ncomp + 1)
            terms[:, :ncomp] = 0.0
            np.minimum(terms[:, ncomp], 0.0, out=terms[:, ncomp])
    return p


def infeasibility_certificate(s: Splitting, KT: sp.csr_matrix, w: np.ndarray,
                              eps: float) -> bool:
    r"""Whether the dual displacement ``w`` certifies that no ``x`` has :math:`Kx + c \in D`.

    Farkas: :math:`p \in D^\circ`, :math:`K^\top p = 0` and :math:`\langle p, c\rangle > 0`
    exclude every such ``x`` (:math:`\langle p, Kx + c\rangle = \langle p, c\rangle > 0
    \ge \sup_{d \in D}\langle p, d\rangle`).  For an infeasible problem the ADMM's
    unscaled dual grows by a constant step whose limit is such a ``p`` (Banjac, Goulart,
    Stellato & Boyd 2019); the step is projected on :math:`D^\circ`
    (:func:`polar_projection`) and accepted when :math:`\|K^\top p\|_\infty \le
    \varepsilon\|p\|_\infty\max|K|` and :math:`\langle p, c\rangle \ge
    \varepsilon\|p\|_\infty\max|c|` (the tests of OSQP, at tolerance ``eps``).
    """
    p = polar_projection(s, w)
    size = float(np.max(np.abs(p))) if p.size else 0.0
    if size == 0.0 or not np.isfinite(size):
        return False
    k_max = float(np.max(np.abs(KT.data))) if KT.nnz else 0.0
    c_max = float(np.max(np.abs(s.c))) if s.c.size else 0.0
    if c_max == 0.0:
        return False
    return (float(np.max(np.abs(KT @ p))) <= eps * size * k_max
            and float(s.c @ p) >= eps * size * c_max)


def solve_conic(problem: ConicProblem, options: dict, x0: np.ndarray | None = None) -> dict:
    """Solve ``problem`` by ADMM on its :class:`Splitting`: x, status, iterations, timings.

    ``x0`` (the non-epigraph unknowns) starts the iteration and sets the penalty; zeros
    when None.  The epigraph variables of the returned ``x`` are ``|u|^2 / F`` of the last
    proximal point (so ``q^T x`` is the cost of a point in the cones); the other unknowns
    are the last ``x``-update, whose path satisfies continuity exactly.
    """
    opts = _check_options(options)
    start = time.perf_counter()
    s = split(problem)
    K = s.K
    KT = K.T.tocsr()
    x = np.zeros(s.n_x) if x0 is None else np.asarray(x0, dtype=float).copy()
    z = K @ x + s.c

    sigma, alpha = opts["sigma"], opts["alpha"]

    def penalised(E):
        """What the penalty fixes until the next refit: the normal matrix, its Jacobi
        preconditioner, sqrt(E) for the residual and the proximal maps' weights."""
        normal = (KT @ sp.diags(E) @ K).tocsr()
        diag = normal.diagonal()
        inv_diag = np.where(diag > 0, 1.0 / np.where(diag > 0, diag, 1.0), 0.0)
        return normal, inv_diag, np.sqrt(E), _prox_weights(s, E, sigma)

    E = _penalty(s, z, opts["floor"], opts["reaction_cap"])
    normal, inv_diag, sqrtE, prox_weights = penalised(E)
    threads = min(opts["threads"], thread_budget())
    workers = Workers(threads if normal.nnz >= PARALLEL_MIN_NNZ else 1)
    K_rows, KT_rows = RowBlocks(K, workers), RowBlocks(KT, workers)
    next_refit = opts["refit_first"]
    y = np.empty_like(z)
    roots = [np.zeros(w.size) for w in prox_weights]
    _prox(s, z, prox_weights, y, roots, workers)
    u = np.zeros_like(z)
    v = np.empty_like(z)
    setup = time.perf_counter() - start
    status, last_cost, iteration = "MaxIterations", np.inf, 0
    normal_rows = RowBlocks(normal, workers)
    Ax = normal_rows @ x  # kept equal to normal @ x by pcg (recomputed at refits, checks)
    q_sigma = s.q_x / sigma if np.any(s.q_x) else None
    work = np.empty_like(z)
    # the unscaled dual sigma E u at the last check, and how many checks in a row its step
    # certified infeasibility (two are asked, so one step's noise cannot decide)
    dual_before, certified = None, 0
    try:
        for iteration in range(1, opts["max_iter"] + 1):
            _penalised_gap(E, y, s.c, u, work)
            rhs = KT_rows @ work
            if q_sigma is not None:
                rhs -= q_sigma
            pcg(normal_rows, inv_diag, rhs, x, opts["cg_iters"], Ax)
            z = K_rows @ x
            _relax(alpha, s.c, y, u, z, v)
            _prox(s, v, prox_weights, y, roots, workers)
            np.subtract(v, y, out=u)
            if opts["refit_first"] and iteration == next_refit:
                # the penalty from the current denominators (the start's can be far off,
                # e.g. (1 - s) rho0 where the path decays as (1 - s)^2 rho0); the
                # unscaled dual sigma E u is kept
                E_new = _penalty(s, z, opts["floor"], opts["reaction_cap"])
                u *= E / E_new
                E = E_new
                normal, inv_diag, sqrtE, prox_weights = penalised(E)
                normal_rows = RowBlocks(normal, workers)
                Ax = normal_rows @ x
                next_refit *= 3
            if iteration % opts["check_every"] == 0 or iteration == opts["max_iter"]:
                if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
                    status = "NumericalError"
                    break
                Ax = normal_rows @ x  # rounding in pcg's running product stays bounded
                cost = s.cost(y) + float(s.q_x @ x)
                gap = sqrtE * (z - y)
                scale = sqrtE * y
                primal = math.sqrt(_dot(gap, gap) / max(_dot(scale, scale), 1e-300))
                moved = abs(cost - last_cost) / max(abs(cost), 1e-300)
                remaining = remaining_cost_error(moved, iteration, opts["check_every"])
                if opts["verbose"]:
                    print(f"dr {iteration:6d}  cost {cost:.10g}  primal {primal:.2e}  "
                          f"moved {moved:.2e}  remaining ~{remaining:.1e}")
                if (primal <= opts["eps"] and moved <= opts["eps"]
                        and remaining <= opts["eps_cost"]):
                    status = "Solved"
                    break
                dual = sigma * E * u  # unchanged by refits (they rescale u by E / E_new)
                if dual_before is not None and primal > opts["eps"]:
                    certified = certified + 1 if infeasibility_certificate(
                        s, KT, dual - dual_before, opts["eps_infeas"]) else 0
                    if certified >= 2:
                        status = "PrimalInfeasible"
                        break
                dual_before = dual
                last_cost = cost
                if time.perf_counter() - start > opts["time_limit"]:
                    status = "MaxTime"
                    break
    finally:
        workers.close()
    x_full = np.zeros(problem.n_variables)
    x_full[:s.n_x] = x
    for (_, _, _, (_, _, t_columns)), values in zip(s.perspective(), s.term_values(y),
                                                    strict=True):
        x_full[s.n_x + t_columns] = values
    return {
        "x": x_full,
        "status": status,
        "iterations": iteration,
        "setup_time": setup,
        "solve_time": time.perf_counter() - start - setup,
        "objective": float(problem.q @ x_full),
    }


def solve(rho0, rho1, grid: Grid, lam: float, metric, *, scheme: str, options: dict,
          **assembly) -> RawSolution:
    """Assemble, solve from the coarse start (or the straight line) and unpack (timings
    as for clarabel; the coarse solves count in ``solve_time``, ``iterations`` are this
    grid's).

    ``assembly`` keywords go to :func:`~wfr_cvx.problem.assemble`.
    """
    opts = _check_options(options)

    def from_start(problem: ConicProblem) -> dict:
        begin = time.perf_counter()
        x0 = raw = None
        wanted = opts["coarse_start"]
        if grid.dims == 2 if isinstance(wanted, str) else bool(wanted):  # "auto": 2-D
            x0, raw = coarse_start(problem, rho0, rho1, grid, lam, metric, scheme=scheme,
                                   options=options, **assembly)
        if x0 is None:
            x0 = start_point(problem, rho0, rho1, grid.n_steps)
        spent = time.perf_counter() - begin
        if opts["verbose"] and raw is not None:
            print(f"dr coarse start {raw.status} after {raw.iterations} iterations on "
                  f"{grid.n_weights // 2} cells x {grid.n_steps // 2} steps ({spent:.2f} s)")
        rest = {**options, "time_limit": max(opts["time_limit"] - spent, 1e-9)}
        out = solve_conic(problem, rest, x0)
        out["solve_time"] += spent
        return out

    return solve_assembled(from_start, rho0, rho1, grid, lam, metric, scheme=scheme,
                           **assembly)
