r"""Backend ``"dr"``: Douglas-Rachford splitting (ADMM) on the perspective form of the problem.

The cone program of :func:`wfr_cvx.assembly.assemble` has one epigraph variable per cost
cone.  Minimising those out gives the problem this backend solves,

.. math::

    \min_x\ q_x^\top x + \sum_j \varphi_j(K_j x + c_j),
    \qquad \varphi_j(u, F) = w_j \frac{|u|^2}{F}\ \ (F > 0),

one perspective term :math:`\varphi_j` per transport face (or cell, for an off-diagonal
metric) and per reaction cell, plus indicator terms: the cones
:math:`g^2 \le \rho^k\rho^{k+1}`, the equalities and the inequalities of the constraints
(:mod:`._splitting`).  :math:`x` holds the levels, the fluxes and the geometric means;
continuity holds by construction, so the discretisation is exactly the interior point's
and the backends differ only by solver error (the tests ask for 1e-4 relative).

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
  Papadakis, Peyré & Oudet 2014, Prop. 1).  The indicator terms are projections.  Each
  term is a numba kernel (:mod:`._kernels`).
* The penalty is per term, :math:`E_j = w_j / \hat F_j` (and :math:`1/\hat F_j` on the
  geometric-mean cones), :math:`\hat F` the denominators of the start, floored at
  ``floor`` times their largest value and refitted from the iterate at iterations
  ``refit_first`` x 3^j: the curvature of :math:`w|u|^2/F` is :math:`w/F`.  The reaction
  terms' penalty is capped at ``reaction_cap`` times the transport terms' (ratio of the
  median weights): with a large ``lam`` the reaction rows would swamp :math:`K^\top E K`.
* The :math:`x`-update is inexact: ``cg_iters`` Jacobi-preconditioned conjugate-gradient
  steps on :math:`K^\top E K`, warm-started (Eckstein & Bertsekas 1992, Thm. 8, need
  summable errors, which the warm start gives in practice); no factorisation, so the
  memory is linear in the grid.  From 2 M entries in :math:`K^\top E K` on, products and
  proximal maps are shared by ``threads`` threads (same iterates to the bit).
* Start: the straight line, or on 2-D grids the solve on a grid half as fine
  (``coarse_start``, :mod:`._start`).

Stopping: every ``check_every`` iterations, when the relative primal residual
:math:`\|E^{1/2}(Kx + c - y)\| / \|E^{1/2} y\|` is below ``eps``, the objective moved by
less than ``eps`` (relative) since the last check, and the objective's remaining error,
estimated from that move for the :math:`O(1/k)` rate of first-order methods
(:func:`remaining_cost_error`, from the move over the last two checks: one noisy move
over one let a slowly drifting objective pass, 1.15e-4 off), is below ``eps_cost``.  At
the defaults :math:`d^2` agrees with the interior point's to about 2e-5 on the benchmark
cases and the levels to about 1 % of the largest level; pass ``eps=3e-6`` or less for a
closer path.

Infeasibility (contradictory constraints): at every check the step of the unscaled dual
since the last check is tested as a Farkas certificate (:func:`infeasibility_certificate`,
tolerance ``eps_infeas``); two certifying checks in a row stop the solve with status
"PrimalInfeasible" (an :class:`~wfr_cvx.errors.InfeasibleError`).  The step's
:math:`K^\top p` converges slowly: on ``Grid(8, 8)``, growth 1.5 times beyond what a
reaction-rate cap allows, its test read 0.07 at 2,000 iterations and still 0.012 at
20,000, while its ``<p, c>`` test passed with 0.074 from 2,000 on.  So a step within
``POLISH_NEAR`` times the tolerance is also polished into an exact certificate on its
support (:func:`polished_certificate`, a dense non-negative least squares, on problems up
to ``POLISH_MAX_ENTRIES``), which stops the solve at once: there at iteration 1,500.  A
barely infeasible problem (growth 5 % beyond the cap's) still exhausts ``max_iter``; its
:class:`~wfr_cvx.errors.SolverError` says that the constraints may be infeasible and that
backend "clarabel" decides.

Options (:data:`OPTIONS`, defaults :data:`DEFAULTS`): ``eps``, ``eps_cost``, ``max_iter``,
``time_limit``, ``sigma``, ``alpha``, ``cg_iters``, ``floor``, ``reaction_cap``,
``check_every``, ``refit_first``, ``coarse_start``, ``threads``, ``verbose``,
``eps_infeas``, ``progress``.  The measurements behind the defaults are in
``benchmarks/TUNING.md``.

Progress: ``progress=True`` shows a tqdm bar on standard error (the iterations, and at
every check the primal residual and the objective's estimated remaining error against
their targets); ``"auto"`` (default) only when standard error is a terminal, so logs,
pipes and tests stay clean (:mod:`wfr_cvx._progress`; the command line's ``--progress``
turns it on).  A coarse start shows its own bar first.

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
G. Banjac, P. Goulart, B. Stellato, S. Boyd, "Infeasibility detection in the alternating
direction method of multipliers for convex optimization", J. Optim. Theory Appl.
183:490-519, 2019.
"""

from .._settings import DR_DEFAULTS as DEFAULTS
from .._settings import DR_OPTIONS as OPTIONS
from ._admm import remaining_cost_error, solve_conic
from ._kernels import PARALLEL_MIN_NNZ, RowBlocks, Workers, pcg, perspective_prox, soc_projection
from ._splitting import (
    Splitting,
    infeasibility_certificate,
    may_be_infeasible,
    polar_projection,
    polished_certificate,
    reaction_scale,
    split,
)
from ._start import path_point, start, start_point

__all__ = ["DEFAULTS", "OPTIONS", "PARALLEL_MIN_NNZ", "RowBlocks", "Splitting", "Workers",
           "infeasibility_certificate", "may_be_infeasible", "path_point", "pcg",
           "perspective_prox", "polar_projection", "polished_certificate", "reaction_scale",
           "remaining_cost_error", "soc_projection", "solve_conic", "split", "start",
           "start_point"]
