r"""The WFR geodesic against the traditional two-phase rebalancing paths.

The WFR path rebalances and switches regimes at once; the traditional paths do one after
the other.  :func:`compare` scores, with the same discrete action on the same grid:

* ``wfr_geodesic`` — the optimal path (transport and reaction together);
* ``rebalance_then_switch`` — first move each regime's allocation, keeping its mass, onto
  the target's weight profile :math:`p_1(w) = \sum_k\rho_1(w,k) / \sum\rho_1` by transport
  only, then switch regimes cell by cell by reaction only;
* ``switch_then_rebalance`` — first re-weight the regimes in place (reaction only, each
  regime taking its target mass on :math:`\rho_0`'s weight profile), then move inside each
  regime (transport only).

Each phase is itself the cheapest path of its kind (a geodesic with the other mechanism
switched off), and the two phases share the unit time interval in the best split
:math:`t_A = d_A/(d_A + d_B)`, for which the action of the concatenation is
:math:`(d_A + d_B)^2` (a path run in time ``t`` costs ``1/t`` times its unit-time action).
So the traditional paths get every advantage; the geodesic still costs no more
(triangle inequality, and a restricted path is never cheaper).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .assembly import DEFAULT_SCHEME
from .backends import AUTO
from .engine import make_request, solve
from .grid import Grid
from .result import Geodesic

__all__ = ["compare", "PATHS"]

PATHS = ("wfr_geodesic", "rebalance_then_switch", "switch_then_rebalance")


def _profile(rho: np.ndarray) -> np.ndarray:
    """Distribution over weight cells, all regimes pooled (shape of one regime)."""
    per_cell = rho.sum(axis=0)
    return per_cell / per_cell.sum()


def _spread(regime_mass: np.ndarray, profile: np.ndarray) -> np.ndarray:
    """Each regime's mass laid out along one profile, shape ``(K, *profile.shape)``."""
    return regime_mass.reshape(-1, *([1] * profile.ndim)) * profile[None]


def compare(rho0, rho1, grid: Grid | None = None, lam: float | None = None, *, metric=None,
            markowitz=None, risk_aversion: float = 1.0, backend: str = AUTO,
            scheme: str = DEFAULT_SCHEME, geodesic=None, **solver_options) -> pd.DataFrame:
    """Compare the WFR geodesic with the two traditional paths (see the module docstring).

    ``compare(rho0, rho1, grid, lam)`` on a grid; ``compare(e0, e1, lam)`` between two
    :class:`~wfr_cvx.Ensemble` (no grid: :func:`wfr_cvx.ensemble.compare`, the same table).

    Parameters
    ----------
    rho0, rho1 : array_like, shape ``grid.shape``, labelled (pandas), or Ensemble
        Allocations with positive total mass.
    grid, lam, metric, backend, scheme, **solver_options
        As for :func:`wfr_cvx.geodesic`.
    markowitz : (mu, cov) or sequence of one (mu, cov) per regime, optional
        When given, ``result.attrs["markowitz"]`` holds the long-only mean-variance weights
        of each regime (a DataFrame, one row per regime) for ``risk_aversion``.
    geodesic : Geodesic, optional
        The geodesic of these inputs, already solved (e.g. by the caller, who also wants
        its path): used instead of solving it again.  It must have been solved on the same
        grid, ``lam``, ends, backend and scheme, without constraints (ValueError
        otherwise).

    Returns
    -------
    DataFrame
        Index ``PATHS``; columns ``distance2`` (the action), ``transport_cost``,
        ``reaction_cost``, ``excess_over_geodesic`` (relative extra cost; 0 for the
        geodesic) and ``phase_a``, ``phase_b`` (each phase's unit-time squared distance).
    """
    if _is_ensemble(rho0) or _is_ensemble(rho1):
        return _compare_ensembles(rho0, rho1, grid, lam, metric=metric, backend=backend,
                                  geodesic=geodesic, markowitz=markowitz,
                                  options=solver_options)
    if lam is None:
        raise TypeError("compare() needs `lam` (and a `grid` for array allocations)")
    request = make_request(rho0, rho1, grid, lam, metric=metric, backend=backend,
                           scheme=scheme, options=solver_options)
    r0, r1 = request.rho0, request.rho1
    for name, r in (("rho0", r0), ("rho1", r1)):
        if r.sum() <= 0:
            raise ValueError(f"`{name}` must hold positive total mass")
    pairs = None if markowitz is None else _per_regime(markowitz, grid)
    if geodesic is None:
        geo = solve(request)
    else:
        geo = _check_same_problem(geodesic, request)

    def phase(a, b, **mechanisms):
        return solve(request.with_ends(a, b, **mechanisms))

    rows = {"wfr_geodesic": (geo.distance2, geo.transport_cost, geo.reaction_cost,
                             np.nan, np.nan)}
    # rebalance then switch: transport to the target profile, keeping regime masses
    moved = _spread(r0.reshape(grid.n_regimes, -1).sum(axis=1), _profile(r1))
    rows["rebalance_then_switch"] = _concatenate(phase(r0, moved, reaction=False),
                                                 phase(moved, r1, transport=False))
    # switch then rebalance: re-weight regimes in place, then transport
    switched = _spread(r1.reshape(grid.n_regimes, -1).sum(axis=1), _profile(r0))
    rows["switch_then_rebalance"] = _concatenate(phase(r0, switched, transport=False),
                                                 phase(switched, r1, reaction=False))
    table = pd.DataFrame.from_dict(
        rows, orient="index",
        columns=["distance2", "transport_cost", "reaction_cost", "phase_a", "phase_b"])
    table.insert(3, "excess_over_geodesic", table["distance2"] / geo.distance2 - 1.0)
    table.index.name = "path"
    if pairs is not None:
        table.attrs["markowitz"] = _markowitz_weights(pairs, grid, risk_aversion)
    return table


def _is_ensemble(value) -> bool:
    return type(value).__name__ == "Ensemble" and type(value).__module__.startswith(
        "wfr_cvx.ensemble")


def _compare_ensembles(e0, e1, grid, lam, *, metric, backend, geodesic, markowitz, options):
    """:func:`wfr_cvx.ensemble.compare` called as ``compare(e0, e1, lam)``."""
    from .ensemble import compare as compare_ensembles

    if lam is None and grid is not None and not isinstance(grid, Grid):
        grid, lam = None, grid  # compare(e0, e1, lam): the third argument is lam
    if grid is not None:
        raise TypeError("ensembles have no grid: call compare(e0, e1, lam)")
    if markowitz is not None:
        raise TypeError("`markowitz` applies to grid allocations; build the ensembles from "
                        "the frontier instead (Ensemble.from_portfolios)")
    return compare_ensembles(e0, e1, lam, metric=metric, geodesic_result=geodesic,
                             backend=backend, **options)


def _check_same_problem(geo, request) -> Geodesic:
    """``geo`` if it is the geodesic of ``request``; ValueError naming what differs."""
    if not isinstance(geo, Geodesic):
        raise TypeError(f"`geodesic` must be a wfr_cvx.Geodesic, got {type(geo).__name__}")
    checks = {
        "grid": geo.grid == request.grid,
        "lam": geo.lam == request.lam,
        "backend": geo.backend == request.backend.name,
        "scheme": geo.scheme == request.scheme,
        "metric": np.array_equal(geo.metric, request.metric),
        "constraints": geo.constraints == request.plan.constraints,
        "rho0": np.array_equal(geo.rho[0], request.rho0),
        "rho1": np.array_equal(geo.rho[-1], request.rho1),
    }
    differ = [name for name, same in checks.items() if not same]
    if differ:
        raise ValueError(f"`geodesic` was solved for other inputs (its {', '.join(differ)} "
                         "differ): pass the geodesic of these inputs, or None")
    return geo


def _concatenate(first, second):
    """Action of two phases sharing [0, 1] in the best split (module docstring)."""
    d_a, d_b = first.distance, second.distance
    total = d_a + d_b
    if total == 0:
        return 0.0, 0.0, 0.0, 0.0, 0.0
    # a phase run in time t = d / total costs total / d times its unit-time action
    scale_a = total / d_a if d_a > 0 else 0.0
    scale_b = total / d_b if d_b > 0 else 0.0
    transport = scale_a * first.transport_cost + scale_b * second.transport_cost
    reaction = scale_a * first.reaction_cost + scale_b * second.reaction_cost
    return total**2, transport, reaction, first.distance2, second.distance2


def _markowitz_weights(pairs, grid: Grid, risk_aversion: float) -> pd.DataFrame:
    from .finance.markowitz import mean_variance

    rows = [mean_variance(mu, cov, risk_aversion=risk_aversion) for mu, cov in pairs]
    return pd.DataFrame(rows, index=pd.Index(grid.regimes, name="regime"))


def _per_regime(markowitz, grid: Grid):
    if (isinstance(markowitz, (tuple, list)) and len(markowitz) == 2
            and not isinstance(markowitz[0], (tuple, list))):
        return [tuple(markowitz)] * grid.n_regimes
    pairs = list(markowitz)
    if len(pairs) != grid.n_regimes:
        raise ValueError(f"`markowitz` must be one (mu, cov) or {grid.n_regimes} of them "
                         f"(one per regime), got {len(pairs)}")
    return pairs
