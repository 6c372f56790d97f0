r"""The ensemble geodesic against the traditional two-phase rebalancing paths.

The same comparison as :func:`wfr_cvx.compare` on a grid, between ensembles:

* ``wfr_geodesic`` — the exact geodesic (:func:`~wfr_cvx.ensemble.geodesic`);
* ``rebalance_then_switch`` — first move each regime's atoms, keeping the regime's mass,
  onto target portfolios by transport only, then switch regimes atom by atom by reaction
  only;
* ``switch_then_rebalance`` — first re-weight the regimes in place, then move inside each
  regime by transport only.

The intermediate is the cheaper of two, as on the grid: **per regime** (regime ``r``'s
atoms move onto ``e1``'s regime-``r`` atoms, rescaled to regime ``r``'s mass; or each
regime's source atoms are rescaled in place to its target mass; a regime empty at that end
keeps its atoms at the other end: it is then removed or created by the reaction phase
alone, whose Hellinger cost :math:`4\lambda^2 m` does not depend on where the mass sits,
so not moving it is cheapest) or **pooled** (every regime onto the atoms of ``e1`` of all
regimes, in proportion to their masses; or each source portfolio split over the regimes in
the target's regime proportions); which one is in ``table.attrs["intermediate"]``.

Transport only, between equal masses, is balanced optimal transport with the cost
:math:`|x - y|_G^2` of the regime's metric (a linear program, HiGHS);
reaction only in place is the Hellinger cost :math:`4\lambda^2\sum(\sqrt{b} -
\sqrt{a})^2` of the measures (atoms at one portfolio summed first; atoms apart by any
distance, however small, are different places for a phase that cannot move mass: weights
computed as ``1 - sum`` of the others should be rounded alike if they are meant to
coincide).  The two phases share the unit time in the best split, for which the action
of the concatenation is :math:`(d_A + d_B)^2`, so the traditional paths get every
advantage; the geodesic still costs no more.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import linprog

from .._two_phase import (
    cheaper_intermediate,
    concatenate_phases,
    refuse_constraints,
    two_phase_table,
)
from .._validate import check_lam
from ..closed_form import EQUAL_MASS_RTOL, solver_resolution2
from ..errors import SolverError
from ._coupling import _distinct
from ._ensemble import Ensemble, align
from ._geodesic import geodesic
from ._metric import check_metric

__all__ = ["compare", "balanced_transport2"]

PATHS = ("wfr_geodesic", "rebalance_then_switch", "switch_then_rebalance")


def balanced_transport2(x: np.ndarray, a: np.ndarray, y: np.ndarray, b: np.ndarray,
                        factor: np.ndarray) -> float:
    r"""Balanced optimal transport :math:`\min_\gamma \sum_{ij}\gamma_{ij}|x_i - y_j|_G^2`
    over couplings with marginals ``a`` and ``b`` (equal totals), :math:`G = LL^\top` given
    by its Cholesky factor ``factor``: the squared :math:`W_2` distance of the regime.

    A linear program over every pair, solved by HiGHS; SolverError when it fails.

    >>> balanced_transport2(np.array([[0.0], [1.0]]), np.array([1.0, 1.0]),
    ...                     np.array([[0.5], [2.0]]), np.array([1.0, 1.0]), np.eye(1))
    1.25
    """
    if a.size == 0 or b.size == 0:
        return 0.0
    total_a, total_b = float(a.sum()), float(b.sum())
    if abs(total_a - total_b) > EQUAL_MASS_RTOL * max(total_a, total_b):
        raise ValueError(f"balanced transport needs equal total masses, got `a` {total_a:g} "
                         f"and `b` {total_b:g}")
    px, py = x @ factor, y @ factor
    cost = ((px[:, None, :] - py[None, :, :]) ** 2).sum(axis=-1).ravel()
    n, m = a.size, b.size
    rows = np.concatenate([np.repeat(np.arange(n), m), n + np.tile(np.arange(m), n)])
    cols = np.concatenate([np.arange(n * m), np.arange(n * m)])
    A_eq = sp.csr_matrix((np.ones(2 * n * m), (rows, cols)), shape=(n + m, n * m))
    scale = max(float(a.sum()), 1e-300)
    # both marginals of total 1 exactly as far as the rounding allows
    b_eq = np.concatenate([a / scale, b / max(float(b.sum()), 1e-300)])
    result = linprog(cost, A_eq=A_eq, b_eq=b_eq, bounds=(0, None), method="highs")
    if result.status == 2:
        # HiGHS's presolve called feasible problems with masses over 6 or more orders of
        # magnitude infeasible (Gaussian tails); without it they solve
        result = linprog(cost, A_eq=A_eq, b_eq=b_eq, bounds=(0, None), method="highs",
                         options={"presolve": False})
    if result.status != 0:
        raise SolverError(f"balanced transport LP failed: {result.message}",
                          status=f"highs_{result.status}", backend="highs")
    return float(result.fun * scale)


def _hellinger2(before: np.ndarray, after: np.ndarray, lam: float,
                points: np.ndarray) -> float:
    """Reaction in place between two mass arrays (one row per regime) over atoms at
    ``points``: the Hellinger cost of the measures, atoms at one position summed first
    (a pooled middle puts a regime's mass on the atoms of the others, and priced atom by
    atom a regime's mass beside its own atom at the same portfolio counted as created
    from nothing: 0.512 where the path costs 0.422)."""
    first, where = _distinct(points, np.zeros(len(points)))
    size = first.size

    def merged(masses):
        return np.stack([np.bincount(where, row, minlength=size) for row in masses])

    return float(4.0 * lam**2 * np.sum((np.sqrt(merged(after))
                                        - np.sqrt(merged(before))) ** 2))


def compare(e0: Ensemble, e1: Ensemble, lam: float, *, metric=None,
            geodesic_result=None, **geodesic_options) -> pd.DataFrame:
    """Compare the ensemble geodesic with the two traditional paths (module docstring).

    Parameters
    ----------
    e0, e1 : Ensemble
        Endpoints with positive total mass (aligned by asset name and regime label).
    lam, metric, **geodesic_options
        As for :func:`~wfr_cvx.ensemble.geodesic` (``backend``, solver settings; not
        ``constraints``, TypeError: the two-phase paths are unconstrained).
    geodesic_result : EnsembleGeodesic, optional
        The geodesic of these inputs, already solved: used instead of solving again.  It
        must have been solved for the same ``e0``, ``e1``, ``lam`` and metric, without
        constraints (ValueError naming what differs).

    Returns
    -------
    DataFrame
        Index ``PATHS``; columns ``distance2``, ``transport_cost``, ``reaction_cost``,
        ``excess_over_geodesic``, ``phase_a``, ``phase_b`` (as :func:`wfr_cvx.compare`);
        ``attrs["intermediate"]`` as there.
    """
    refuse_constraints(geodesic_options, "wfr_cvx.ensemble.geodesic")
    lam = check_lam(lam)
    aligned = align(e0, e1)
    for name, mass in (("e0", aligned.a), ("e1", aligned.b)):
        if mass.sum() <= 0:
            raise ValueError(f"`{name}` must hold positive total mass")
    metrics = check_metric(metric, aligned.assets, aligned.regimes, other_order=e1.assets)
    if geodesic_result is None:
        geo = geodesic(e0, e1, lam, metric=metric, **geodesic_options)
    else:
        geo = _check_same_problem(geodesic_result, e0, e1, lam, metrics)
    regimes = range(len(aligned.regimes))
    m0 = np.array([aligned.a[aligned.k == r].sum() for r in regimes])
    m1 = np.array([aligned.b[aligned.l == r].sum() for r in regimes])
    p0, p1 = aligned.a / aligned.a.sum(), aligned.b / aligned.b.sum()

    def transport(r, x, a, y, b):
        # a middle laid over both ends' atoms is zero on most of them: those are left out
        # of the linear program, whose size is the product of the two counts
        from_, to = a > 0, b > 0
        return balanced_transport2(x[from_], a[from_], y[to], b[to], metrics.factors[r])

    # A regime empty at one end is removed (or created) by the reaction phase alone, whose
    # Hellinger cost 4 lam^2 m does not depend on where the mass sits: moving it is wasted,
    # so the per-regime middle keeps it on its atoms at the other end.  The middles are
    # laid over both ends' atoms (one row per regime, one column per atom).
    rows_of = np.arange(len(aligned.regimes))[:, None]
    target = np.where(aligned.l == rows_of, aligned.b, 0.0)
    source = np.where(aligned.k == rows_of, aligned.a, 0.0)
    none_x, none_y = np.zeros_like(source), np.zeros_like(target)
    # rebalance then switch: regime r's atoms -> target portfolios, transport only; then
    # reaction in place onto e1.  Columns: e1's atoms, then e0's.
    after_points = np.concatenate([aligned.y, aligned.x])
    target_after = np.hstack([target, none_x])
    pooled_after = np.hstack([m0[:, None] * p1, none_x])
    per_regime_after = np.array([
        np.concatenate([target[r] * (m0[r] / m1[r]), none_x[r]]) if m1[r] > 0
        else np.concatenate([none_y[r], source[r]]) for r in regimes])
    # switch then rebalance: reaction in place onto the target regime masses, then
    # transport inside each regime.  Columns: e0's atoms, then e1's.
    before_points = np.concatenate([aligned.x, aligned.y])
    source_before = np.hstack([source, none_y])
    pooled_before = np.hstack([m1[:, None] * p0, none_y])
    per_regime_before = np.array([
        np.concatenate([source[r] * (m1[r] / m0[r]), none_y[r]]) if m0[r] > 0
        else np.concatenate([none_x[r], target[r]]) for r in regimes])

    def rebalance_then_switch(middle):
        move = sum(transport(r, aligned.x[aligned.k == r], aligned.a[aligned.k == r],
                             after_points, middle[r]) for r in regimes if m0[r] > 0)
        switch = _hellinger2(middle, target_after, lam, after_points)
        return concatenate_phases((move, move, 0.0), (switch, 0.0, switch))

    def switch_then_rebalance(middle):
        switch = _hellinger2(source_before, middle, lam, before_points)
        move = sum(transport(r, before_points, middle[r], aligned.y[aligned.l == r],
                             aligned.b[aligned.l == r]) for r in regimes if m1[r] > 0)
        return concatenate_phases((switch, 0.0, switch), (move, move, 0.0))

    intermediate, rows = {}, {}
    for path, build, middles in (
            ("rebalance_then_switch", rebalance_then_switch,
             {"per regime": per_regime_after, "pooled": pooled_after}),
            ("switch_then_rebalance", switch_then_rebalance,
             {"per regime": per_regime_before, "pooled": pooled_before})):
        intermediate[path], rows[path] = cheaper_intermediate(middles, build)
    return two_phase_table((geo.distance2, geo.transport_cost, geo.reaction_cost,
                            np.nan, np.nan), rows, intermediate,
                           negligible=solver_resolution2(lam, m0.sum() + m1.sum()))


def _same_ensemble(a: Ensemble, b: Ensemble) -> bool:
    return a is b or (a.assets == b.assets and a.regimes == b.regimes
                      and np.array_equal(a.weights, b.weights)
                      and np.array_equal(a.mass, b.mass)
                      and np.array_equal(a.regime, b.regime))


def _check_same_problem(geo, e0: Ensemble, e1: Ensemble, lam: float, metrics):
    """``geo`` if it is the unconstrained geodesic of these inputs; ValueError naming what
    differs (TypeError for another type)."""
    from ._result import EnsembleGeodesic

    if not isinstance(geo, EnsembleGeodesic):
        raise TypeError(f"`geodesic_result` must be a wfr_cvx.ensemble.EnsembleGeodesic, got "
                        f"{type(geo).__name__}")
    aligned = align(geo.e0, geo.e1)
    theirs = check_metric(geo.metric, aligned.assets, aligned.regimes)
    checks = {
        "e0": _same_ensemble(geo.e0, e0),
        "e1": _same_ensemble(geo.e1, e1),
        "lam": geo.lam == lam,
        "metric": len(theirs.matrices) == len(metrics.matrices) and all(
            np.array_equal(a, b) for a, b in zip(theirs.matrices, metrics.matrices,
                                                  strict=True)),
        "constraints": not geo.constraints,
    }
    differ = [name for name, same in checks.items() if not same]
    if differ:
        raise ValueError(f"`geodesic_result` was solved for other inputs (its "
                         f"{', '.join(differ)} differ): pass the unconstrained geodesic of "
                         "these inputs, or None")
    return geo
