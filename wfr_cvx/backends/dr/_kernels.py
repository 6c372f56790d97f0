"""Numba kernels and threaded sparse products of the ADMM iteration.

Each kernel works in place on flat arrays (no allocation in its loop) and is tested against
a plain numpy/scipy reference (``tests/test_dr.py``).  The proximal map of a perspective
term is closed form up to one cubic per term (Papadakis, Peyré & Oudet 2014, Prop. 1).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numba as nb
import numpy as np
import scipy.sparse as sp

__all__ = ["PARALLEL_MIN_NNZ", "RowBlocks", "Workers", "even_cuts", "pcg", "perspective_prox",
           "soc_projection"]


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
    the previous call's is the start of Newton's method (0: none), about two Newton steps
    per term in the ADMM loop.
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
    """``a . b`` without BLAS, whose threaded dot product slows every CG step on a shared
    machine (benchmarks/TUNING.md)."""
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
#: :math:`K^\top E K` on: handing a product to a thread costs ~45 us, which below this size
#: the second thread does not win back (measurements in benchmarks/TUNING.md).
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

    ``indptr`` and ``indices`` must be *unsigned* views: numba checks every signed index
    for wrap-around, which made the loop slower than scipy's (benchmarks/TUNING.md).
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
