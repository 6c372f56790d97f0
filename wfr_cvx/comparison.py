r"""The WFR geodesic against the traditional two-phase rebalancing paths.

The WFR path rebalances and switches regimes at once; the traditional paths do one after
the other.  :func:`compare` scores, with the same discrete action on the same grid:

* ``wfr_geodesic`` — the optimal path (transport and reaction together);
* ``rebalance_then_switch`` — first move each regime's allocation, keeping its mass, by
  transport only onto a target weight profile, then switch regimes cell by cell by
  reaction only;
* ``switch_then_rebalance`` — first re-weight the regimes in place (reaction only, each
  regime taking its target mass on a source weight profile), then move inside each regime
  (transport only).

The intermediate allocation is the cheaper of two: **per regime** (regime :math:`k` moves
onto its own target profile :math:`\rho_1(\cdot, k) / m_1(k)`, or re-weights its own
source profile :math:`\rho_0(\cdot, k) / m_0(k)`; a regime empty at that end keeps its
profile at the other end: it is then removed or created by the reaction phase alone, whose
Hellinger cost :math:`4\lambda^2 m(k)` does not depend on where the mass sits, so not
moving it is cheapest), or **pooled** (every regime on the pooled profile
:math:`p_1(w) = \sum_k\rho_1(w,k) / \sum\rho_1`, or on :math:`\rho_0`'s pooled profile);
which one is in ``table.attrs["intermediate"]``.  On a grid with a ``mask`` regime
:math:`k` may only hold mass on its active cells :math:`A_k`, so the pooled intermediate
lays it out on the pooled profile conditioned on them, :math:`p(w)\,1_{A_k}(w) /
\sum_{A_k} p` (without a mask, :math:`p` itself); when :math:`p` has no mass on the
active cells of a regime that holds mass, there is no pooled intermediate and the
per-regime one is taken.  The per-regime profiles are the ends' own, on the active cells
already.  Each phase is itself the cheapest path of its kind (a geodesic with the other
mechanism switched off), and the two phases share the unit time
interval in the best split :math:`t_A = d_A/(d_A + d_B)`, for which the action of the
concatenation is :math:`(d_A + d_B)^2` (a path run in time ``t`` costs ``1/t`` times its
unit-time action).  Transport alone cannot cross an inactive cell, so an intermediate
whose transport phase would have to (a regime's active cells split into pieces holding
other shares of its mass at the two ends of that phase) is reported infeasible by the
solver; it is left out, and when every intermediate of a path is,
:class:`~wfr_cvx.InfeasibleError` names the path and its intermediates (the geodesic,
which may create mass on the far side by reaction, is feasible).  The intermediate is
not optimised beyond these two, so the figures are what a manager doing one phase after
the other would pay with the better of the two natural targets; the geodesic costs no
more than any two-phase path (triangle inequality, and a restricted path is never
cheaper).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from ._two_phase import (
    cheaper_intermediate,
    concatenate_phases,
    refuse_constraints,
    two_phase_table,
)
from ._validate import is_ensemble
from .assembly import DEFAULT_SCHEME, SCHEMES
from .backends import AUTO
from .closed_form import hellinger2, solver_resolution2
from .engine import make_request, solve
from .grid import Grid, regime_masses
from .result import Geodesic

__all__ = ["compare", "PATHS"]

PATHS = ("wfr_geodesic", "rebalance_then_switch", "switch_then_rebalance")


class _Phase(NamedTuple):
    """The figures of a phase computed in closed form."""

    distance: float
    distance2: float
    transport_cost: float
    reaction_cost: float


def _own_profiles(regime_mass: np.ndarray, rho: np.ndarray, other: np.ndarray
                  ) -> np.ndarray:
    """Each regime's mass laid out along that regime's own profile in ``rho``, or in
    ``other`` for a regime empty in ``rho`` (shape of ``rho``).  Both ends lie on the
    grid's active cells, so the result does."""
    out = np.zeros_like(rho)
    own = rho.reshape(rho.shape[0], -1).sum(axis=1)
    for k in np.flatnonzero(regime_mass > 0):
        profile = rho[k] if own[k] > 0 else other[k]
        out[k] = regime_mass[k] * profile / profile.sum()
    return out


def _pooled(regime_mass: np.ndarray, rho: np.ndarray, mask: np.ndarray
            ) -> np.ndarray | None:
    """Each regime's mass laid out along the pooled profile of ``rho`` (all regimes
    summed) restricted to that regime's active cells in ``mask`` and renormalised there;
    None when that profile has no mass on the active cells of a regime that holds mass."""
    pooled = rho.sum(axis=0)
    out = np.zeros_like(rho)
    for k in np.flatnonzero(regime_mass > 0):
        profile = np.where(mask[k], pooled, 0.0)
        total = profile.sum()
        if total <= 0:
            return None
        out[k] = regime_mass[k] * profile / total
    return out


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
        As for :func:`wfr_cvx.geodesic`; not ``constraints`` (TypeError: the two-phase
        paths are unconstrained, so a constrained geodesic is not comparable with them).
    markowitz : (mu, cov) or sequence of one (mu, cov) per regime, optional
        When given, ``result.attrs["markowitz"]`` holds the long-only mean-variance weights
        of each regime (a DataFrame, one row per regime) for ``risk_aversion``.  ``mu`` and
        ``cov`` may be pandas, arrays or nested lists: a two-item ``markowitz`` whose
        second item is a matrix of numbers is one pair.  Checked (and the weights
        computed) before the geodesic is solved.
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
        geodesic) and ``phase_a``, ``phase_b`` (each phase's unit-time squared distance);
        ``attrs["intermediate"]``: per two-phase path, ``"per regime"`` or ``"pooled"``
        (module docstring).
    """
    refuse_constraints(solver_options, "wfr_cvx.geodesic")
    if markowitz is None and risk_aversion != 1.0:
        raise TypeError(f"`risk_aversion` ({risk_aversion!r}) sets the mean-variance weights "
                        "of `markowitz=`, which is not given: it would have no effect")
    if is_ensemble(rho0) != is_ensemble(rho1):
        raise TypeError(
            f"compare() takes two Ensembles or two allocations on a grid, got `rho0` of type "
            f"{type(rho0).__name__} and `rho1` of type {type(rho1).__name__}: build the "
            f"other end the same way (Ensemble.from_portfolios, or an array of shape "
            f"grid.shape)")
    if is_ensemble(rho0):
        return _compare_ensembles(rho0, rho1, grid, lam, metric=metric, backend=backend,
                                  scheme=scheme, geodesic=geodesic, markowitz=markowitz,
                                  options=solver_options)
    if lam is None:
        raise TypeError("compare() needs `lam` (and a `grid` for array allocations)")
    request = make_request(rho0, rho1, grid, lam, metric=metric, backend=backend,
                           scheme=scheme, options=solver_options)
    r0, r1 = request.rho0, request.rho1
    for name, r in (("rho0", r0), ("rho1", r1)):
        if r.sum() <= 0:
            raise ValueError(f"`{name}` must hold positive total mass")
    # the portfolios are a few small QPs: computed first, so that a bad `markowitz` fails
    # before the geodesic is solved
    portfolios = (None if markowitz is None
                  else _markowitz_weights(_per_regime(markowitz, grid), grid, risk_aversion))
    exact_reaction = SCHEMES[request.scheme][1] == "power"
    if geodesic is None:
        geo = solve(request)
    else:
        geo = _check_same_problem(geodesic, request)

    def phase(a, b, **mechanisms):
        if mechanisms == {"transport": False} and exact_reaction:
            # reaction only, on the power mean: the discrete action is the Hellinger
            # distance itself, at any number of steps (wfr_cvx.assembly), so no solve --
            # whose degenerate cones (a rescaling in place) could stop at AlmostSolved
            h = hellinger2(a, b, request.lam)
            return _Phase(distance=float(np.sqrt(h)), distance2=h, transport_cost=0.0,
                          reaction_cost=h)
        return solve(request.with_ends(a, b, **mechanisms))

    m0, m1 = regime_masses(r0), regime_masses(r1)
    rows, intermediate = {}, {}
    # rebalance then switch: transport onto a target profile keeping regime masses, then
    # reaction in place; switch then rebalance: reaction in place onto the target masses,
    # then transport
    candidates = {
        "rebalance_then_switch": ({"per regime": _own_profiles(m0, r1, r0),
                                   "pooled": _pooled(m0, r1, request.grid.mask)},
                                  {"reaction": False}, {"transport": False}),
        "switch_then_rebalance": ({"per regime": _own_profiles(m1, r0, r1),
                                   "pooled": _pooled(m1, r0, request.grid.mask)},
                                  {"transport": False}, {"reaction": False}),
    }
    for path, (middles, first, second) in candidates.items():
        def build(middle, first=first, second=second):
            return concatenate_phases(_row(phase(r0, middle, **first)),
                                      _row(phase(middle, r1, **second)))

        intermediate[path], rows[path] = cheaper_intermediate(middles, build, path)
    table = two_phase_table((geo.distance2, geo.transport_cost, geo.reaction_cost,
                             np.nan, np.nan), rows, intermediate,
                            negligible=solver_resolution2(request.lam, r0.sum() + r1.sum()))
    if portfolios is not None:
        table.attrs["markowitz"] = portfolios
    return table


def _compare_ensembles(e0, e1, grid, lam, *, metric, backend, scheme, geodesic, markowitz,
                       options):
    """:func:`wfr_cvx.ensemble.compare` called as ``compare(e0, e1, lam)``."""
    from .ensemble import compare as compare_ensembles

    if grid is not None and not isinstance(grid, Grid):
        if lam is not None:
            raise TypeError(f"compare(e0, e1, lam) takes `lam` once: got {grid!r} as the "
                            f"third argument and lam={lam!r}")
        grid, lam = None, grid  # compare(e0, e1, lam): the third argument is lam
    if grid is not None:
        raise TypeError("ensembles have no grid: call compare(e0, e1, lam)")
    if scheme != DEFAULT_SCHEME:
        raise TypeError(f"`scheme` ({scheme!r}) is a grid's discretisation; ensembles are "
                        "mesh-free and have none")
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
        # "auto" may have run its fallback (the interior point past the splitting's budget)
        "backend": geo.backend in (request.backend.name, getattr(request.fallback, "name",
                                                                   None)),
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


def _row(geo: Geodesic) -> tuple:
    return geo.distance2, geo.transport_cost, geo.reaction_cost


def _markowitz_weights(pairs, grid: Grid, risk_aversion: float) -> pd.DataFrame:
    from .finance.markowitz import mean_variance

    rows = []
    for regime, pair in zip(grid.regimes, pairs, strict=True):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(f"`markowitz` for regime {regime!r} must be a pair (mu, cov), "
                             f"got {type(pair).__name__}")
        try:
            rows.append(mean_variance(*pair, risk_aversion=risk_aversion))
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"`markowitz` for regime {regime!r}: {exc}") from None
    return pd.DataFrame(rows, index=pd.Index(grid.regimes, name="regime"))


def _ndim(value) -> int | None:
    """Dimensions of ``value`` read as an array of numbers (None: not one)."""
    if isinstance(value, (np.ndarray, pd.Series, pd.DataFrame)):
        return value.ndim
    try:
        return np.asarray(value, dtype=float).ndim
    except (TypeError, ValueError):
        return None


def _per_regime(markowitz, grid: Grid):
    """One ``(mu, cov)`` per regime.  A single pair is told from a sequence of pairs by
    its second item, a matrix of numbers (``cov``, array or nested lists); a second pair
    ``(mu, cov)`` never is one (its items have different shapes)."""
    if (isinstance(markowitz, (tuple, list)) and len(markowitz) == 2
            and _ndim(markowitz[1]) == 2):
        return [tuple(markowitz)] * grid.n_regimes
    pairs = list(markowitz)
    if len(pairs) != grid.n_regimes:
        raise ValueError(f"`markowitz` must be one (mu, cov) or {grid.n_regimes} of them "
                         f"(one per regime), got {len(pairs)}")
    return pairs
