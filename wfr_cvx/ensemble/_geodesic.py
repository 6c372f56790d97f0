"""Public entry points :func:`geodesic` and :func:`distance`: validation, once, then the
semi-coupling solve (:mod:`._coupling`) and the result (:mod:`._result`)."""

from __future__ import annotations

import numpy as np

from .._validate import check_lam, check_lam_units
from ._backends import check_options
from ._constraints import check_endpoints, compile_constraints
from ._coupling import solve_coupling
from ._ensemble import Ensemble, align
from ._metric import check_lengths, check_metric
from ._result import EnsembleGeodesic

__all__ = ["geodesic", "distance"]


def geodesic(e0: Ensemble, e1: Ensemble, lam: float, *, metric=None, constraints=(),
             backend: str = "auto", **solver_options) -> EnsembleGeodesic:
    r"""The WFR geodesic between two ensembles, exact and mesh-free.

    .. math::

        d^2 = \inf\int_0^1\sum_k\int\big(|v|_G^2 + \lambda^2 r^2\big)\,d\rho_s\,ds
            = 4\lambda^2\Big[\sum_i a_i + \sum_j b_j
              - 2\max_{A, B}\sum_{ij}\cos\theta_{ij}\sqrt{A_{ij}B_{ij}}\Big]

    over semi-couplings (:mod:`wfr_cvx.ensemble._coupling`), solved as a sparse SOCP;
    the geodesic moves each pair's mass along a straight segment in closed form
    (:mod:`wfr_cvx.ensemble._path`).  Atoms of different regimes never exchange mass by
    transport; the atoms are aligned by asset name and regime label.

    Parameters
    ----------
    e0, e1 : Ensemble
        The endpoints; ``e1`` must hold the same assets as ``e0`` (any order).
    lam : float
        Crossover scale :math:`\lambda > 0`: pairs farther apart than :math:`\pi\lambda`
        (in the metric) are never transported, their mass is destroyed and re-created.
    metric : None, float, (n, n) array or DataFrame, or dict, optional
        :math:`G` of :math:`|v|_G^2 = v^\top G v`: the identity, a positive multiple of
        it, a symmetric positive-definite matrix (a DataFrame is aligned by asset name),
        or ``{regime label: matrix}`` with one metric per regime.
    constraints : sequence
        :class:`~wfr_cvx.ensemble.MaxTravel` (no atom transported farther than a
        distance) and :class:`~wfr_cvx.constraints.TotalMass` (probability paths: the
        spherical HK distance; the endpoints must have equal total mass).
    backend : {"auto", "clarabel", "cvxpy"}
        ``"clarabel"`` (and ``"auto"``, the default) assembles the SOCP directly;
        ``"cvxpy"`` writes it with cvxpy (reference, slower); both solve with Clarabel.
    **solver_options
        Clarabel settings (``max_iter``, ``tol_gap_rel``, ``time_limit``, ``verbose``,
        ``direct_solve_method``, ...), checked before any work.

    Returns
    -------
    EnsembleGeodesic

    Raises
    ------
    TypeError, ValueError
        Bad input, naming the argument.
    SolverError
        The solver did not converge; ``.status`` carries its status.

    Warns
    -----
    InaccurateSolutionWarning
        The solver stopped at reduced accuracy ("AlmostSolved").

    Examples
    --------
    >>> import numpy as np
    >>> from wfr_cvx.ensemble import Ensemble, geodesic
    >>> from wfr_cvx.closed_form import dirac_wfr2
    >>> e0 = Ensemble([[0.2, 0.8]], assets=("eq", "bd"))
    >>> e1 = Ensemble([[0.5, 0.5]], mass=[2.0], assets=("bd", "eq"))   # aligned by name
    >>> geo = geodesic(e0, e1, lam=0.5)
    >>> gap = np.hypot(0.3, 0.3)
    >>> bool(abs(geo.distance2 - dirac_wfr2(1.0, 2.0, 0.0, gap, 0.5)) < 1e-8)
    True
    >>> geo.plan[["i", "j", "mass_out", "mass_in"]].round(6)
       i  j  mass_out  mass_in
    0  0  0       1.0      2.0
    """
    lam = check_lam(lam)
    aligned = align(e0, e1)
    metrics = check_metric(metric, aligned.assets, aligned.regimes, other_order=e1.assets)
    check_lengths(aligned.x, aligned.y, aligned.k, aligned.l, metrics)
    check_lam_units(lam, _spread(aligned, metrics), "the ensembles' spread", _reach(metrics))
    plan = compile_constraints(constraints)
    backend, solver_options = check_options(backend, solver_options)
    check_endpoints(plan, aligned)
    coupling = solve_coupling(aligned, lam, metrics, plan, backend, solver_options)
    return EnsembleGeodesic(e0=e0, e1=e1, aligned=aligned, coupling=coupling, lam=lam,
                            metric=metrics.given, backend=backend,
                            constraints=plan.constraints, total_mass=plan.total_mass)


def distance(e0: Ensemble, e1: Ensemble, lam: float, **kw) -> float:
    """The WFR distance ``d`` (not squared); keywords as for :func:`geodesic`.

    >>> from wfr_cvx.ensemble import Ensemble, distance
    >>> e = Ensemble([[0.1], [0.7]], mass=[1.0, 3.0])
    >>> distance(e, e, lam=1.0)
    0.0
    """
    return geodesic(e0, e1, lam, **kw).distance


def _spread(aligned, metrics) -> float:
    """The size of the space the ensembles occupy, for the units check: twice the largest
    metric distance of an atom from the atoms' mean, and at least the metric length of
    the simplex's diameter (a whole-portfolio trade between two assets, sqrt(2) in
    weights), so that atoms close together -- a small rebalance, a book compared with
    itself -- do not make an ordinary ``lam`` look like dollars."""
    points = np.vstack([aligned.x, aligned.y])
    if not points.size:
        return 0.0
    centred = points - points.mean(axis=0)
    spread = 2.0 * max(float(np.sqrt(((centred @ factor) ** 2).sum(axis=1).max()))
                       for factor in metrics.factors)
    return max(spread, np.sqrt(2.0) * _reach(metrics))


def _reach(metrics) -> float:
    """The metric length of a unit step: the square root of the largest eigenvalue of
    the regimes' metrics."""
    return max(float(np.sqrt(np.linalg.eigvalsh(G).max())) for G in metrics.matrices)
