r"""The perspective form of an assembled cone program, and the proximal maps of its terms.

:func:`split` reads :math:`\min_x q_x^\top x + \sum_j \varphi_j(K_j x + c_j)` off the cone
program: one perspective term :math:`w|u|^2/F` per cost cone, indicator terms for the
other cones.  The penalty :math:`E` of the ADMM is per term (:func:`_penalty`); the
infeasibility certificate (:func:`infeasibility_certificate`) reads the same segments.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import scipy.sparse as sp

from .._conic import ConicProblem
from ._kernels import Workers, perspective_prox, soc_projection

__all__ = ["Splitting", "infeasibility_certificate", "may_be_infeasible", "polar_projection",
           "polished_certificate", "reaction_scale", "split"]


# ------------------------------------------------------------------- the splitting
@dataclass
class Splitting:
    """``min q_x' x + sum_j phi_j(K_j x + c_j)`` read off an assembled cone program.

    ``K`` stacks the terms' rows, ``segments`` says which rows are which term:
    ``(kind, start, stop, extra)`` with kind ``"perspective"`` (extra: ``(weights, ncomp,
    t_columns)``, rows ``u_1 .. u_ncomp, F`` per term), ``"soc"`` (extra: cone dimension),
    ``"nonneg"`` or ``"zero"`` (extra: the cone block's label, e.g. ``"max_velocity"``).
    ``n_x`` unknowns: the cone program's columns before its epigraph variables.
    ``reaction_start``: the first row of the reaction terms' segment (None without
    reaction terms).
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

    A cost cone has rows ``(F + t, 2u, F - t)`` (3-dimensional; 4-dimensional: ``(F + t,
    2u_1, 2u_2, F - t)``) with cost ``w t``, ``t`` one of ``problem.epigraph``'s columns:
    minimised over ``t`` it is ``w |u|^2 / F``.  So ``F`` is the half-sum of the first and
    last rows, ``u`` half the middle ones; cones without an epigraph variable stay cones.
    The block labelled ``"reaction"`` holds the reaction terms.
    """
    n_x = problem.epigraph.start
    rows = (-problem.A).tocsr()  # s = b - A x = M x + c
    M, Mt = rows[:, :n_x], rows[:, n_x:]
    b = problem.b
    blocks, consts, segments = [], [], []
    reaction_start = None
    start = 0
    for cone, row, _ in problem.row_ranges():
        count = cone.count
        if cone.kind in ("zero", "nonneg"):
            # rows scaled to unit norm (the cones are unchanged): a cap's row has
            # coefficients vmax dt/dx, and at vmax = 1,000 its weight in K^T E K swamped the
            # cost terms' (a cap that did not bind ended "Solved" 15 % above the optimum)
            block = M[row:row + count]
            norm = np.sqrt(np.asarray(block.multiply(block).sum(axis=1)).ravel())
            scale = np.divide(1.0, norm, out=np.ones(count), where=norm > 0)
            blocks.append(sp.diags(scale) @ block)
            consts.append(scale * b[row:row + count])
            segments.append((cone.kind, start, start + count, cone.label))
            start += count
            continue
        dim = cone.dim
        top = row + dim * np.arange(count)
        t_entries = Mt[top]
        if t_entries.nnz == 0:
            blocks.append(M[row:row + dim * count])
            consts.append(b[row:row + dim * count])
            segments.append(("soc", start, start + dim * count, dim))
            start += dim * count
            continue
        if not np.array_equal(t_entries.getnnz(axis=1), np.ones(count)):
            raise ValueError("every cost cone must hold exactly one epigraph variable")
        t_columns = t_entries.indices.copy()
        if cone.label == "reaction":
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


#: The cap rows (:mod:`wfr_cvx.assembly`), whose penalty :func:`_penalty` sets from the
#: cap's value.
CAP_ROWS = ("max_velocity", "max_reaction_rate")


def _penalty(s: Splitting, z: np.ndarray, floor: float, reaction_cap: float) -> np.ndarray:
    """Per-row penalty ``E``: ``w / F`` on perspective terms, ``1 / t`` on the other cones,
    ``1 / a`` on the rows of a cap (:data:`CAP_ROWS`) and 1 on the other constraint rows,
    with ``F``, ``t`` and ``a`` read off ``z`` and floored at ``floor`` times their largest
    value in the segment; the reaction terms' ``w`` times :func:`reaction_scale`
    (``reaction_cap``).

    A cap's rows come in pairs ``a -+ b >= 0`` (``|b| <= a``, stacked: all the ``-`` rows,
    then the ``+`` rows), so ``a`` is their half-sum: a cap's residual is weighed against
    the amount it allows, as a cost term's against its ``F``.  A penalty of 1 on these
    rows (of unit norm) weighs a cap that binds on a small part of the book -- a small
    move, a small position -- as little as that part against the residual over the whole
    iterate: the iteration stopped with speeds 1.85 times the cap (``benchmarks/TUNING.md``
    has the measurements).
    """
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
        elif kind == "nonneg" and extra in CAP_ROWS:
            pairs = z[start:stop].reshape(2, -1)
            F = np.tile(0.5 * (pairs[0] + pairs[1]), 2)
            scale, per = 1.0, 1
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


def _farkas_margins(s: Splitting, KT: sp.csr_matrix, p: np.ndarray
                    ) -> tuple[float, float] | None:
    r"""For ``p`` in :math:`D^\circ`: :math:`\|K^\top p\|_\infty / (\|p\|_\infty\max|K|)`
    and :math:`\langle p, c\rangle / (\|p\|_\infty\max|c|)`, the two ratios the certificate
    tests (None when ``p`` is 0 or not finite, or ``c`` is 0: nothing to certify)."""
    size = float(np.max(np.abs(p))) if p.size else 0.0
    if size == 0.0 or not np.isfinite(size):
        return None
    k_max = float(np.max(np.abs(KT.data))) if KT.nnz else 0.0
    c_max = float(np.max(np.abs(s.c))) if s.c.size else 0.0
    if c_max == 0.0 or k_max == 0.0:
        return None
    return (float(np.max(np.abs(KT @ p))) / (size * k_max),
            float(s.c @ p) / (size * c_max))


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
    return _certifies(_farkas_margins(s, KT, polar_projection(s, w)), eps)


def _certifies(margins: tuple[float, float] | None, eps: float) -> bool:
    """The tests of :func:`infeasibility_certificate` on :func:`_farkas_margins`."""
    return margins is not None and margins[0] <= eps and margins[1] >= eps


def may_be_infeasible(s: Splitting) -> bool:
    """Whether the problem has constraint rows (zero or orthant cones): without them the
    pure-reaction path is feasible, and no certificate can exist."""
    return any(kind in ("zero", "nonneg") for kind, *_ in s.segments)


#: The polish's dense system (equations x generators) is solved up to this many entries
#: (8 MB; its non-negative least squares measured 0.2 to 0.7 s at 1e6 entries, 50 to 85 s
#: at 1.5e7); a larger one is not polished.
POLISH_MAX_ENTRIES = 1_000_000

#: A polished certificate ``p`` is accepted when :math:`\|K^\top p\|_1 \le`
#: ``POLISH_TOL`` :math:`\langle p, c\rangle`: a point with :math:`Kx + c \in D` would
#: need :math:`\max|x| \ge 1/` ``POLISH_TOL`` in the solver's units (cell masses of
#: mean 1), so the certificate is exact up to round-off.
POLISH_TOL = 1e-9

#: A step is polished once its :math:`K^\top p` test is within this factor of passing
#: (``eps_infeas``): certificates were found from 0.085 (against 1e-2), while the steps of
#: feasible problems measured 0.15 to 0.7.
POLISH_NEAR = 10.0

#: Rows where the projected step is below this fraction of its largest entry are left out
#: of the polish's generators.
POLISH_SUPPORT = 1e-6


def _generators(s: Splitting, p: np.ndarray) -> sp.csc_matrix:
    r"""Generators of :math:`D^\circ` on the support of ``p`` (in :math:`D^\circ`, largest
    entry 1), one per column (see :func:`polished_certificate`)."""
    rows, columns, values = [], [], []
    count = 0

    def add(index: np.ndarray, value: np.ndarray, per: int = 1) -> None:
        nonlocal count
        n = index.size // per
        rows.append(index)
        columns.append(count + np.repeat(np.arange(n), per))
        values.append(value)
        count += n

    for kind, start, stop, extra in s.segments:
        block = p[start:stop]
        if kind == "zero":
            index = start + np.flatnonzero(np.abs(block) > POLISH_SUPPORT)
            add(index, np.ones(index.size))
            add(index, -np.ones(index.size))
        elif kind in ("nonneg", "perspective"):
            first, every = (0, 1) if kind == "nonneg" else (extra[1], extra[1] + 1)
            index = start + first + every * np.flatnonzero(
                block[first::every] < -POLISH_SUPPORT)
            add(index, -np.ones(index.size))
        else:  # second-order cones of dimension `extra`: the step's ray, and -e_t
            cones = block.reshape(-1, extra)
            kept = np.flatnonzero(-cones[:, 0] > POLISH_SUPPORT)
            rays = cones[kept] / np.linalg.norm(cones[kept], axis=1, keepdims=True)
            add((start + extra * kept[:, None] + np.arange(extra)).ravel(), rays.ravel(),
                per=extra)
            add(start + extra * kept, -np.ones(kept.size))
    if not rows:
        return sp.csc_matrix((p.size, 0))
    return sp.csc_matrix((np.concatenate(values), (np.concatenate(rows),
                                                   np.concatenate(columns))),
                         shape=(p.size, count))


def polished_certificate(s: Splitting, KT: sp.csr_matrix, w: np.ndarray) -> bool:
    r"""Whether an exact Farkas certificate lies on the support of the dual step ``w``.

    The ADMM's dual step finds the rows and cones of a certificate long before its
    :math:`K^\top p` is small enough for :func:`infeasibility_certificate` (the step
    converges like the slowest mode of the iteration).  On that support, ``p`` is sought
    as a non-negative combination of generators of :math:`D^\circ` -- :math:`\pm e_i` on a
    zero row, :math:`-e_i` on an orthant row or a perspective term's ``F`` row, the step's
    own ray and :math:`-e_t` on a second-order cone -- with :math:`K^\top p = 0` and
    :math:`\langle p, c\rangle = 1`, by non-negative least squares (Lawson & Hanson 1974).
    Every such ``p`` lies in :math:`D^\circ` by construction, so a ``p`` found is a proof
    (up to :data:`POLISH_TOL`), not a tolerance test: a feasible problem has none.  False
    when the support holds no certificate, or its system has more than
    :data:`POLISH_MAX_ENTRIES` entries.
    """
    from scipy.optimize import nnls

    p = polar_projection(s, w)
    size = float(np.max(np.abs(p))) if p.size else 0.0
    if size == 0.0 or not np.isfinite(size):
        return False
    generators = _generators(s, p / size)
    coupled = (KT @ generators).tocsr()
    touched = np.flatnonzero(np.diff(coupled.indptr))  # columns of K the support meets
    n_rows, n_generators = touched.size + 1, generators.shape[1]
    if n_generators == 0 or n_rows * n_generators > POLISH_MAX_ENTRIES:
        return False
    system = np.vstack([coupled[touched].toarray(), s.c @ generators])
    target = np.zeros(n_rows)
    target[-1] = 1.0
    try:
        theta, _ = nnls(system, target, maxiter=10 * n_generators)
    except RuntimeError:  # the active set did not settle: no answer
        return False
    q = polar_projection(s, generators @ theta)  # in D° already, up to round-off
    value = float(s.c @ q)
    return value > 0.0 and float(np.abs(KT @ q).sum()) <= POLISH_TOL * value
