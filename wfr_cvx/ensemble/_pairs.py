r"""Candidate pairs: the atoms close enough in the metric :math:`G` to exchange mass.

A pair :math:`(i, j)` at :math:`G`-distance :math:`|x_i - y_j|_G \ge \pi\lambda` has
:math:`\cos\theta_{ij} = 0` and contributes nothing to the semi-coupling objective
(:mod:`wfr_cvx.ensemble._coupling`): pruning it is exact.  Atoms of different regimes
never pair.  Only pairs strictly within ``reach`` (and within ``max_travel``, the
:class:`~wfr_cvx.ensemble.MaxTravel` cap, when given) are returned.

Distances are computed blockwise by the expansion
:math:`|p|^2 + |q|^2 - 2p\cdot q` on the mapped points (:mod:`._metric`), so the memory
is bounded by :data:`BLOCK_FLOATS` whatever the number of atoms; the expansion errs by
about :math:`10^{-16}(|p|^2 + |q|^2)`, so the distances of the pairs where that could
exceed 1e-10 of :math:`|p - q|^2` are recomputed from the differences.  The pairs kept
are not bounded so: up to :math:`NM` of them (every pair within reach at a large
:math:`\lambda`), and the coupling holds :data:`PAIR_BYTES` per pair before its first
solve.  Given a memory budget, the search stops with
:class:`~wfr_cvx.ProblemTooLargeError` as soon as the pairs found would exceed it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._memory import MemoryBudget
from ..errors import ProblemTooLargeError
from ._metric import RegimeMetrics

__all__ = ["Pairs", "pairs_within", "pair_distances", "BLOCK_FLOATS", "PAIR_BYTES"]

#: A pair up to this much (relative) beyond the ``max_travel`` cap counts as at it: a
#: trade whose length is the cap came out 1 ulp above it (0.30000000000000004 for 0.3)
#: and was pruned, turning d^2 from 0.089 into 2.0 (destroyed and re-created).
TRAVEL_RTOL = 1e-9

#: Floats per screening block (64 MiB of float64): the rows of a block times the targets
#: of the regime times the number of assets stays below this.
BLOCK_FLOATS = 2**23

#: Bytes the coupling holds per candidate pair before its first solve (the pairs, their
#: angles, ranks and the greedy plan; measured 137 at 10^6 and 4 * 10^6 pairs): the least
#: a coupling with that many pairs needs, the solve coming on top.
PAIR_BYTES = 137


@dataclass(frozen=True)
class Pairs:
    """Candidate pairs, sorted by regime then source atom.

    Attributes
    ----------
    src, dst : ndarray of int, shape ``(P,)``
        Atom positions in the source and target ensembles.
    distance : ndarray, shape ``(P,)``
        :math:`|x_{src} - y_{dst}|_G` in the regime's metric.
    regime : ndarray of int, shape ``(P,)``
    """

    src: np.ndarray
    dst: np.ndarray
    distance: np.ndarray
    regime: np.ndarray

    @property
    def size(self) -> int:
        return int(self.src.size)


def pairs_within(x: np.ndarray, y: np.ndarray, src_regime: np.ndarray,
                 dst_regime: np.ndarray, metrics: RegimeMetrics, reach: float,
                 max_travel: float = np.inf, *, block_floats: int = BLOCK_FLOATS,
                 budget: MemoryBudget | None = None) -> Pairs:
    """Pairs of the same regime with ``distance < reach`` and ``distance <= max_travel``.

    ``x`` (N, n) and ``y`` (M, n) are the atoms taking part; ``src_regime`` (N,) and
    ``dst_regime`` (M,) their regime codes (negative: left out).  With a ``budget``, a
    :class:`~wfr_cvx.ProblemTooLargeError` as soon as the pairs found need more than it
    at :data:`PAIR_BYTES` each (never when all ``N M`` pairs would fit).

    >>> from wfr_cvx.ensemble._metric import check_metric
    >>> m = check_metric(None, ("a",), ("0",))
    >>> p = pairs_within(np.array([[0.0], [1.0]]), np.array([[0.1], [5.0]]),
    ...                  np.zeros(2, int), np.zeros(2, int), m, reach=2.0)
    >>> p.src.tolist(), p.dst.tolist(), p.distance.round(3).tolist()
    ([0, 1], [0, 0], [0.1, 0.9])
    """
    parts = []
    n_assets = x.shape[1]
    # the pairs are counted only when all N M of them might not fit
    limit = None
    if budget is not None and x.shape[0] * y.shape[0] * PAIR_BYTES > budget.bytes:
        limit = budget.bytes // PAIR_BYTES
    found = 0
    for regime in range(len(metrics.regimes)):
        sources = np.flatnonzero(src_regime == regime)
        targets = np.flatnonzero(dst_regime == regime)
        if sources.size == 0 or targets.size == 0:
            continue
        p = metrics.map_points(x[sources], regime)
        q = metrics.map_points(y[targets], regime)
        p_norm2 = np.einsum("ij,ij->i", p, p)
        q_norm2 = np.einsum("ij,ij->i", q, q)
        rows = max(1, block_floats // (targets.size * max(n_assets, 1)))
        for start in range(0, sources.size, rows):
            stop = min(start + rows, sources.size)
            scale = p_norm2[start:stop, None] + q_norm2[None, :]
            screened = scale - 2.0 * (p[start:stop] @ q.T)
            # the expansion errs by ~eps * (|p|^2 + |q|^2): widen the screen by far more
            near = screened <= reach**2 + 1e-10 * scale
            ii, jj = np.nonzero(near)
            distance2 = np.maximum(screened[ii, jj], 0.0)
            # where the expansion cancels (|x - y|^2 below 1e-6 of |p|^2 + |q|^2, so its
            # relative error could exceed 1e-10), the differences themselves
            close = np.flatnonzero(distance2 < 1e-6 * scale[ii, jj])
            ii += start
            difference = p[ii[close]] - q[jj[close]]
            distance2[close] = np.einsum("ij,ij->i", difference, difference)
            distance = np.sqrt(distance2)
            keep = (distance < reach) & (distance <= max_travel * (1.0 + TRAVEL_RTOL))
            parts.append((sources[ii[keep]], targets[jj[keep]], distance[keep],
                          np.full(int(keep.sum()), regime, dtype=np.intp)))
            found += parts[-1][0].size
            if limit is not None and found > limit:
                _too_many(found, x.shape[0], y.shape[0], reach, max_travel, budget)
    if not parts:
        empty = np.zeros(0, dtype=np.intp)
        return Pairs(empty, empty, np.zeros(0), empty)
    src, dst, distance, regime = (np.concatenate(column) for column in zip(*parts,
                                                                              strict=True))
    return Pairs(src.astype(np.intp), dst.astype(np.intp), distance, regime)


def pair_distances(x: np.ndarray, y: np.ndarray, src: np.ndarray, dst: np.ndarray,
                   regime: np.ndarray, metrics: RegimeMetrics) -> tuple[np.ndarray, np.ndarray]:
    """The :math:`G`-distances :math:`|x_{src} - y_{dst}|_G` of given pairs in their
    regime's metric, from the differences of the mapped points (exact to rounding), and
    the scale ``sqrt(|p|^2 + |q|^2)`` of the mapped points, below which
    :func:`pairs_within`'s expansion errs by ~1e-16 of it."""
    distance, scale = np.zeros(src.size), np.zeros(src.size)
    for k in range(len(metrics.regimes)):
        sel = np.flatnonzero(regime == k)
        if sel.size:
            p, q = metrics.map_points(x[src[sel]], k), metrics.map_points(y[dst[sel]], k)
            distance[sel] = np.sqrt(np.einsum("ij,ij->i", p - q, p - q))
            scale[sel] = np.sqrt(np.einsum("ij,ij->i", p, p) + np.einsum("ij,ij->i", q, q))
    return distance, scale


def _too_many(found: int, n: int, m: int, reach: float, max_travel: float,
              budget: MemoryBudget) -> None:
    """Refuse a coupling whose pairs in reach, counted so far, already exceed ``budget``."""
    needed = found * PAIR_BYTES
    within = f"pi lam = {reach:.4g}" + (f" and MaxTravel({max_travel:g})"
                                         if np.isfinite(max_travel) else "")
    raise ProblemTooLargeError(
        f"the ensemble coupling of {n:,} x {m:,} portfolios is too large: at least "
        f"{found:,} pairs (the search stopped there, of {n * m:,}) lie within {within}, "
        f"and the coupling holds about {PAIR_BYTES} bytes per pair before any solve, "
        f"{needed / 2**30:,.1f} GiB or more; {budget.describe()}.  A smaller lam, a "
        f"MaxTravel cap or fewer portfolios leave fewer pairs",
        needed_bytes=needed, available_bytes=budget.bytes)
