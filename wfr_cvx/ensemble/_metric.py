r"""The risk metric :math:`G` of the transport cost :math:`|v|_G^2 = v^\top G v`, per regime.

Accepted forms of ``metric=``: ``None`` (the identity), a positive scalar ``g``
(:math:`G = gI`), a symmetric positive-definite ``n x n`` matrix (an array, or a DataFrame
labelled by the assets on both axes, aligned by name -- the rule a simplex grid's metric
follows too, :func:`wfr_cvx._labels.align_square_frame`; an xarray DataArray with
coordinates is read as its DataFrame, one without as an array), or a dict ``{regime label:
one of those}`` giving every regime its own metric.

Distances are computed on mapped points: with the Cholesky factor :math:`G = LL^\top`,
:math:`|L^\top(x - y)|^2 = (x - y)^\top G (x - y)`, so the rows ``x L`` are points whose
Euclidean distances are the :math:`G`-distances.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .._labels import align_square_frame, as_pandas
from .._validate import as_array, real_array

__all__ = ["RegimeMetrics", "check_metric", "check_lengths", "MAX_LENGTH2"]

#: The largest squared metric length :math:`|x|_G^2` of an atom: the pair search's
#: :math:`|p|^2 + |q|^2 - 2p\cdot q` and the spread's squared distances reach four times
#: it, which must not overflow (beyond, identical books at 1e155 came out 2.16 apart,
#: "Solved": inf - inf is NaN, and no pair was kept).
MAX_LENGTH2 = float(np.finfo(float).max) / 8.0

#: Relative asymmetry ``max|G - G^T| / max|G|`` tolerated (round-off of an estimated
#: covariance); the symmetric part is used.
SYMMETRY_TOLERANCE = 1e-10


class RegimeMetrics:
    r"""Validated metric: one SPD matrix and its Cholesky factor per regime.

    Attributes
    ----------
    matrices, factors : tuple of ndarray, shape ``(n, n)`` each
        :math:`G_k` and lower-triangular :math:`L_k` with :math:`G_k = L_k L_k^\top`, in
        the order of ``regimes``.
    regimes : tuple of str
    given : object
        The metric as it should be reported: None, a float, an ``(n, n)`` array, or a
        dict ``{label: (n, n) array}``.
    """

    def __init__(self, matrices, factors, regimes, given):
        self.matrices = tuple(matrices)
        self.factors = tuple(factors)
        self.regimes = tuple(regimes)
        self.given = given

    def map_points(self, points: np.ndarray, regime: int) -> np.ndarray:
        """Rows ``points @ L_k``: Euclidean distances of the result are ``G_k``-distances."""
        return points @ self.factors[regime]


def _one_matrix(value, assets: tuple[str, ...], where: str,
                other_order: tuple[str, ...] | None = None) -> np.ndarray:
    n = len(assets)
    value = as_pandas(value, f"`metric`{where}")
    labelled = isinstance(value, pd.DataFrame)
    if labelled:
        positions = {asset: i for i, asset in enumerate(assets)}
        value = align_square_frame(value, assets, positions.get, f"`metric`{where}")
    array = as_array(value, "metric", where)  # a ragged nesting named, not numpy's message
    if (not labelled and array.ndim == 2 and other_order is not None
            and tuple(other_order) != tuple(assets)):
        raise ValueError(
            f"`metric`{where} is an unlabelled matrix, but `e0` lists its assets as "
            f"{list(assets)} and `e1` as {list(other_order)}: which order its rows follow "
            "is ambiguous (and d(e0, e1) would differ from d(e1, e0)); pass a DataFrame "
            "labelled by asset, or give both ensembles the same asset order")
    if array.dtype == object:  # Fractions, Decimals, Python numbers: read one by one
        array = real_array(array, "metric", f"metric entries{where}")
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer)
                                   or np.issubdtype(array.dtype, np.floating)):
        raise TypeError(f"`metric`{where} must be a number or a real matrix, got "
                        f"{type(value).__name__} of dtype {array.dtype}")
    array = np.array(array, dtype=float)
    if array.ndim == 0:
        scale = float(array)
        if not np.isfinite(scale) or scale <= 0:
            raise ValueError(f"`metric`{where} scalar must be finite and > 0, got {scale}")
        return scale * np.eye(n)
    if array.shape != (n, n):
        raise ValueError(f"`metric`{where} must be a scalar or an {n} x {n} matrix (one row "
                         f"and column per asset), got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"`metric`{where} must be finite, got NaN or infinite entries")
    size = np.abs(array).max()
    if np.abs(array - array.T).max() > SYMMETRY_TOLERANCE * size:
        raise ValueError(f"`metric`{where} must be symmetric; max |G - G^T| = "
                         f"{np.abs(array - array.T).max():.3g} against max |G| = {size:.3g}")
    return 0.5 * (array + array.T)


def _factor(matrix: np.ndarray, where: str) -> np.ndarray:
    try:
        return np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        smallest = float(np.linalg.eigvalsh(matrix).min())
        raise ValueError(f"`metric`{where} must be positive definite; Cholesky failed "
                         f"(smallest eigenvalue {smallest:.3g})") from None


def check_metric(metric, assets: tuple[str, ...], regimes: tuple[str, ...], *,
                 other_order: tuple[str, ...] | None = None) -> RegimeMetrics:
    """Validate ``metric=`` against the assets and regimes of two aligned ensembles.

    A DataFrame is aligned by asset name; an unlabelled matrix follows ``assets`` (``e0``'s
    order), and is refused when ``other_order`` (``e1``'s) lists the assets differently.

    Raises TypeError / ValueError naming ``metric`` (and the regime for a dict): wrong
    shape or labels, not finite, not symmetric, not positive definite, a regime missing
    from the dict or a key that is not a regime.

    >>> m = check_metric({"on": 2.0, "off": [[1.0, 0.5], [0.5, 1.0]]}, ("a", "b"),
    ...                  ("on", "off"))
    >>> m.matrices[0]
    array([[2., 0.],
           [0., 2.]])
    """
    n = len(assets)
    if metric is None:
        identity = np.eye(n)
        return RegimeMetrics([identity] * len(regimes), [identity] * len(regimes), regimes,
                             None)
    if isinstance(metric, Mapping):
        keys = {str(key): key for key in metric}
        missing = [r for r in regimes if r not in keys]
        unknown = [key for key in keys if key not in regimes]
        if missing or unknown:
            raise ValueError(f"`metric` dict must give one metric per regime {list(regimes)}:"
                             f" missing {missing}, unknown {unknown}")
        matrices = [_one_matrix(metric[keys[r]], assets, f" for regime {r!r}", other_order)
                    for r in regimes]
        factors = [_factor(G, f" for regime {r!r}") for G, r in zip(matrices, regimes,
                                                                      strict=True)]
        given = {r: G for r, G in zip(regimes, matrices, strict=True)}
        return RegimeMetrics(matrices, factors, regimes, given)
    matrix = _one_matrix(metric, assets, "", other_order)
    factor = _factor(matrix, "")
    given = float(matrix[0, 0]) if np.ndim(metric) == 0 and not isinstance(
        metric, pd.DataFrame) else matrix
    return RegimeMetrics([matrix] * len(regimes), [factor] * len(regimes), regimes, given)


def check_lengths(x: np.ndarray, y: np.ndarray, k: np.ndarray, l: np.ndarray,
                  metrics: RegimeMetrics) -> None:
    """ValueError naming ``weights`` (of ``e0`` or ``e1``, and the atom) when an atom's
    squared metric length exceeds :data:`MAX_LENGTH2`: the squared distances would
    overflow.  ``x``, ``y`` are the aligned weights, ``k``, ``l`` their regime codes.

    >>> m = check_metric(None, ("a",), ("0",))
    >>> check_lengths(np.array([[1e155]]), np.zeros((1, 1)), np.zeros(1, int),
    ...               np.zeros(1, int), m)
    Traceback (most recent call last):
    ...
    ValueError: `weights` of `e0` are too large: atom 0 has squared metric length |x|_G^2 = \
inf, above 2.25e+307, where the squared distances overflow; rescale the weights by a \
factor c, and lam and any MaxTravel cap by c: d^2 then scales by c^2
    """
    for side, points, regimes in (("e0", x, k), ("e1", y, l)):
        length2 = np.zeros(points.shape[0])
        with np.errstate(over="ignore", invalid="ignore"):
            for regime in np.unique(regimes):
                rows = np.flatnonzero(regimes == regime)
                mapped = metrics.map_points(points[rows], int(regime))
                length2[rows] = np.einsum("ij,ij->i", mapped, mapped)
        bad = np.flatnonzero(~(length2 <= MAX_LENGTH2))
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"`weights` of `{side}` are too large: atom {i} has squared metric length "
                f"|x|_G^2 = {length2[i]:.3g}, above {MAX_LENGTH2:.3g}, where the squared "
                "distances overflow; rescale the weights by a factor c"
                + ("" if metrics.given is None else " (or `metric` by c^2)")
                + ", and lam and any MaxTravel cap by c: d^2 then scales by c^2")
