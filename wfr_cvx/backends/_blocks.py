r"""Independent blocks of a conic problem, solved apart and side by side.

On a 1-D grid the regimes exchange mass only by reaction inside each cell, never by
transport, so unless a constraint ties them (:class:`~wfr_cvx.constraints.TotalMass`, a
coupled metric ...) the discrete problem of :func:`~wfr_cvx.assembly.assemble` is block
diagonal: one SOCP per regime, sharing no unknown and no cone.  Splitting does not
change the total factorisation work of an interior point, but each block's KKT system
is factorised by its own solver, on its own core: Clarabel releases the GIL while it
solves, so on two cores the demo's two regimes take about half the wall time.

The blocks are the connected components of the bipartite graph *unknowns -- cones* (a
zero or non-negative row is a cone of its own; a second-order cone couples all the
unknowns of its rows).  The union of the blocks' solutions is a solution of the whole
problem; its objective is the sum of theirs.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from .._threads import thread_budget
from ._status import Status, severity

__all__ = ["Block", "combine_status", "cone_of_rows", "independent_blocks", "solve_in_blocks"]


@dataclass(frozen=True)
class Block:
    """One independent block: its unknowns ``columns`` and constraint ``rows`` (sorted
    indices into the whole problem) and its own ``q, A, b, cones``."""

    columns: np.ndarray
    rows: np.ndarray
    q: np.ndarray
    A: sp.csc_matrix
    b: np.ndarray
    cones: tuple


def cone_of_rows(cones, n_rows: int) -> np.ndarray:
    """An id per constraint row: rows of one second-order cone share it; every zero or
    non-negative row has its own.  ``cones``: :class:`~wfr_cvx.backends.ConeBlock` records."""
    ids = np.empty(n_rows, dtype=np.int64)
    row = next_id = 0
    for block in cones:
        n = block.rows
        ids[row:row + n] = next_id + np.arange(n) // block.dim
        row += n
        next_id += block.count
    if row != n_rows:
        raise ValueError(f"`cones` cover {row} rows, the matrix has {n_rows}")
    return ids


def _cones_of(cones, keep: np.ndarray) -> tuple:
    """The cone blocks restricted to the rows where ``keep`` (whole cones) is True."""
    out, row = [], 0
    for block in cones:
        kept = int(np.count_nonzero(keep[row:row + block.rows]))
        if kept:
            out.append(replace(block, count=kept // block.dim))
        row += block.rows
    return tuple(out)


def independent_blocks(q: np.ndarray, A: sp.spmatrix, b: np.ndarray, cones: list) -> list[Block]:
    """Split ``min q^T x, A x + s = b, s in cones`` into blocks sharing no unknown or cone.

    Returns a list of one :class:`Block` per component, largest first; a single-element
    list when the problem does not split.  Unknowns in no row and cones with no unknown
    (constant rows) join the largest block, so the solver still sees them.
    """
    A = sp.coo_matrix(A)
    n_rows, n_cols = A.shape
    nonzero = A.data != 0
    ids = cone_of_rows(cones, n_rows)
    n_ids = int(ids[-1]) + 1 if n_rows else 0
    # bipartite graph: nodes 0..n_cols-1 are unknowns, n_cols.. are cones
    edges = sp.coo_matrix((np.ones(int(nonzero.sum())),
                           (A.col[nonzero], n_cols + ids[A.row[nonzero]])),
                          shape=(n_cols + n_ids,) * 2)
    n_labels, labels = connected_components(edges, directed=False)
    column_label, row_label = labels[:n_cols], labels[n_cols:][ids]
    columns_per = np.bincount(column_label, minlength=n_labels)
    rows_per = np.bincount(row_label, minlength=n_labels)
    real = np.flatnonzero((columns_per > 0) & (rows_per > 0))
    if real.size <= 1:
        return [Block(np.arange(n_cols), np.arange(n_rows), q, sp.csc_matrix(A), b, cones)]
    real = real[np.argsort(-(columns_per[real] + rows_per[real]), kind="stable")]
    # leftovers (lone unknowns, constant cones) go with the largest block
    target = np.full(n_labels, real[0])
    target[real] = real
    column_label, row_label = target[column_label], target[row_label]
    A = sp.csr_matrix(A)
    blocks = []
    for label in real:
        columns = np.flatnonzero(column_label == label)
        keep = row_label == label
        rows = np.flatnonzero(keep)
        blocks.append(Block(columns, rows, q[columns], sp.csc_matrix(A[rows][:, columns]),
                            b[rows], _cones_of(cones, keep)))
    return blocks


def combine_status(statuses: list) -> Status:
    """The status of the whole from its blocks': the worst one (the first among equals)."""
    return Status.parse(max(statuses, key=severity))


def solve_in_blocks(q, A, b, cones, solve_block, *, parallel: bool = True) -> dict:
    """Solve block by block with ``solve_block(q, A, b, cones) -> dict`` and put together
    ``x``, ``z`` (the duals, when every block gives ``z``), ``status`` (worst),
    ``iterations`` (most), ``objective`` (sum), ``blocks`` (their number), ``parts`` (the
    blocks' own outputs) and ``split_time`` (seconds spent finding and cutting the blocks).

    ``solve_block`` returns at least ``x``, ``status``, ``iterations`` and ``objective``.
    The blocks run in a thread pool of ``min(blocks, thread_budget())`` workers (largest first)
    when ``parallel``.
    """
    start = time.perf_counter()
    blocks = independent_blocks(q, A, b, cones)
    split_time = time.perf_counter() - start
    if len(blocks) == 1:
        out = solve_block(q, A, b, cones)
        return {**out, "blocks": 1, "parts": [out], "split_time": split_time}
    workers = min(len(blocks), thread_budget()) if parallel else 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        outs = list(pool.map(lambda blk: solve_block(blk.q, blk.A, blk.b, blk.cones), blocks))
    x = np.zeros(A.shape[1])
    z = np.zeros(A.shape[0]) if all("z" in out for out in outs) else None
    for blk, out in zip(blocks, outs, strict=True):
        x[blk.columns] = out["x"]
        if z is not None:
            z[blk.rows] = out["z"]
    return {
        "x": x,
        "z": z,
        "status": combine_status([out["status"] for out in outs]),
        "iterations": max(out["iterations"] for out in outs),
        "objective": float(sum(out["objective"] for out in outs)),
        "blocks": len(blocks),
        "parts": outs,
        "split_time": split_time,
    }
