r"""Learned WFR portfolio dynamics: a policy network trained on solved geodesics.

The model amortises the solver.  A small network maps the state of a book — its asset
weights :math:`w`, the regime probabilities :math:`p` of the allocation, a risk budget
:math:`b`, the path time :math:`s` and the crossover scale :math:`\lambda` — to a
generalised velocity: one transport velocity :math:`v_k \in \mathbb R^{n}` and one
regime rate :math:`r_k` per regime :math:`k`.  Evaluated at the faces and cells of a
:class:`~wfr_cvx.Grid` it is a velocity field and a rate field, and rolling them forward
with the transport and reaction schemes of :mod:`wfr_cvx.analysis.dynamics` produces a
rebalancing path in milliseconds; :func:`audit` then says how far that path is from the
geodesic the engine would have solved.

Architecture (:class:`PolicyModel`): a shared trunk of two SiLU layers of width
``hidden``, a velocity head (``n_regimes x n_assets`` outputs) and a rate head
(``n_regimes`` outputs), each bounded by a ``tanh`` at a scale read off the training
data (so a training rollout knows its Courant number in advance).  The velocity head
has one velocity per regime, not one per book: in the geodesics a regime's book moves
towards its own target (the risk-on book towards the risk-on Markowitz weight, the
risk-off book towards its own), so two regimes can cross the same weight in opposite
directions.

Inputs (one feature row per point):

* ``weights`` — the asset weights of the point, ``n_assets`` of them.  On a 1-D grid the
  axis is the first asset's weight and the second asset holds the rest
  (``(w, 1 - w)``); on a simplex grid ``(w_A, w_B, 1 - w_A - w_B)``; in an ensemble the
  atom's weights as they are;
* ``regime probabilities`` — the allocation's mass per regime over its total mass (the
  belief over regimes), the same for every point of one allocation;
* ``risk budget`` — a scalar the user attaches to each geodesic: what the target was
  built from.  In the learn demo it is the Markowitz risk aversion that made the target
  books; any scalar that tells targets apart will do (0 when there is one family);
* ``time`` — the path time :math:`s \in [0, 1]`;
* ``log lam`` — the fields depend on :math:`\lambda` (the larger it is, the more a move is
  made by transport rather than by switching regimes), so the model sees it.

Targets and weights (:func:`policy_samples`).  From a grid geodesic, step ``k`` at its
midpoint time gives the velocity on every face (target of the velocity head's component
along the face's axis) and the rate of every cell: the rate whose exponential over the
step does what the engine's reaction step does, :math:`\tilde r = (4/\Delta t)
\operatorname{artanh}(r\Delta t/4)` on the power mean, :math:`(2/\Delta t)
\operatorname{artanh}(r\Delta t/2)` on the arithmetic one
(:func:`wfr_cvx.analysis.rollout`; a cell born from nothing has no finite rate and is left
out).  The weights are the ones the action gives the fields: :math:`G\,\bar\rho_{face}`
for a face's velocity and :math:`\lambda^2\bar\rho` for a cell's rate, so the fit's error

.. math::  E = \frac{\sum G\bar\rho_{face}(\hat v - v)^2 + \lambda^2\sum\bar\rho\,
                     (\hat r - r)^2}{\sum G\bar\rho_{face} v^2 + \lambda^2\sum\bar\rho\,r^2}

is the action of the error field relative to the action of the exact fields.  From an
ensemble geodesic, every piece at each sample time gives its velocity (all assets,
weight :math:`m\,G_{aa}`: the diagonal of the metric) and rate (weight
:math:`\lambda^2 m`), :math:`m` its mass.

Training (:meth:`PolicyModel.fit`) minimises :math:`E` over mini-batches plus
``consistency_weight`` times the WFR consistency loss (the Gate41 loss of
:mod:`wfr_cvx.analysis.diagnostics`, relative to the mass) of the model's own path,
rolled out from the :math:`\rho_0` of training geodesics on grids: at every step the
path's two levels against the momentum :math:`\bar\rho_{face}\hat v` and source
:math:`\bar\rho\,\hat r` of the model's fields averaged over the step's substeps.  It
penalises fields the path cannot follow (rough in space or time, or moving mass the
scheme has to clip).  Gradients by JAX, Adam updates.

Limits.  The model's reaction is multiplicative, as in the world model it implements
(:math:`p \leftarrow p\,e^{r\Delta t}`, renormalised): a regime that holds no mass stays
empty, unlike :func:`wfr_cvx.analysis.rollout`, which adds the engine's source there.
Train and use it on allocations whose regimes all hold some mass.

References
----------
Kingma & Ba, "Adam: a method for stochastic optimization", ICLR (2015).  Elfwing, Uchibe
& Doya, "Sigmoid-weighted linear units for neural network function approximation in
reinforcement learning", Neural Networks 107 (2018) — SiLU.
"""

from __future__ import annotations

import functools
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

try:
    import jax
    import jax.numpy as jnp
except ImportError as exc:  # the optional extra
    raise ImportError("wfr_cvx.learn needs JAX, which is not installed: "
                      "pip install 'wfr_cvx[learn]'") from exc

from .._labels import as_pandas, rows_by_position
from .._validate import check_lam, nonnegative_scalar, positive_scalar, real_scalar
from ..engine import level_means
from ..grid import Grid, as_allocation
from ..io import ROLLED_OUT, ROLLED_OUT_BACKEND
from ..metric import face_weights
from ..result import Geodesic
from .diagnostics import Certificate, certificate
from .dynamics import (
    _check_scheme,
    _exponential_rate,
    _react,
    _substeps_needed,
    make_transport,
    outflow_courant,
    path_fields,
)

__all__ = ["PolicySamples", "policy_samples", "PolicyModel", "GeodesicPolicy", "RolledPath",
           "rollout_policy", "Audit", "audit"]

#: Extra features after the weights and regime probabilities: risk budget, time, log lam.
_EXTRA = ("risk_budget", "time", "log_lam")


# ------------------------------------------------------------------------ the samples
@dataclass(frozen=True)
class PolicySamples:
    r"""Training data: feature rows, exact fields and the weights the action gives them.

    Attributes
    ----------
    features : ndarray, shape ``(N, n_assets + n_regimes + 3)``
        Per row: asset weights, regime probabilities, risk budget, path time, ``log lam``
        (module docstring).
    velocity : ndarray, shape ``(N, n_regimes, n_assets)``
        Exact velocity per regime and asset (weight / time); 0 where unknown.
    rate : ndarray, shape ``(N, n_regimes)``
        Exact rate per regime (1 / time); 0 where unknown.
    velocity_weight, rate_weight : ndarray, shapes like ``velocity`` and ``rate``
        :math:`G\bar\rho_{face}` resp. :math:`\lambda^2\bar\rho` (0 where there is no
        target: a cell row has no velocity, a face row no rate, a face carries one axis).
        ``dt`` times the weighted squares summed is the path's action on the faces.  Its
        transport part is the engine's transport cost for ``scheme="power"`` (to the
        solver's tolerance), 0.17 % above it for the default centred scheme on
        ``Grid(32, 8)`` and 8.6 % on ``Grid.simplex(8, 3)``; its reaction part, priced
        with the exponential rate, lies above the engine's reaction cost by the rate's
        conversion, :math:`O(\Delta t^2)`: +0.29 % on ``Grid(16, 4)``, +0.07 % on
        ``Grid(32, 8)`` (the two-regime problem of ``tests/test_learn.py``).
    source : ndarray of int, shape ``(N,)``
        Index of the geodesic each row comes from.
    geodesics : tuple
        The geodesics, in input order.
    risk_budgets : ndarray, shape ``(n_geodesics,)``
    n_assets, n_regimes : int
    regimes : tuple of str
        The regimes' labels, in the order of the columns of ``velocity`` and ``rate`` and
        of the regime probabilities in ``features``.
    assets : tuple of str or None
        The assets' labels in the order of the weights and velocities (None when no
        geodesic names them: a 1-D grid that names none).
    """

    features: np.ndarray
    velocity: np.ndarray
    rate: np.ndarray
    velocity_weight: np.ndarray
    rate_weight: np.ndarray
    source: np.ndarray
    geodesics: tuple
    risk_budgets: np.ndarray
    n_assets: int
    n_regimes: int
    regimes: tuple | None = None
    assets: tuple | None = None

    def __len__(self) -> int:
        return int(self.features.shape[0])

    def subset(self, geodesics) -> PolicySamples:
        """The rows of some geodesics (indices into :attr:`geodesics`), renumbered."""
        keep = np.asarray(sorted({int(i) for i in geodesics}), dtype=np.int64)
        if keep.size == 0 or keep.min() < 0 or keep.max() >= len(self.geodesics):
            raise ValueError(f"`geodesics` must be indices in [0, {len(self.geodesics)}), "
                             f"got {list(keep)}")
        rows = np.isin(self.source, keep)
        renumber = np.full(len(self.geodesics), -1)
        renumber[keep] = np.arange(keep.size)
        return PolicySamples(
            features=self.features[rows], velocity=self.velocity[rows],
            rate=self.rate[rows], velocity_weight=self.velocity_weight[rows],
            rate_weight=self.rate_weight[rows], source=renumber[self.source[rows]],
            geodesics=tuple(self.geodesics[i] for i in keep),
            risk_budgets=self.risk_budgets[keep], n_assets=self.n_assets,
            n_regimes=self.n_regimes, regimes=self.regimes, assets=self.assets)

    def __repr__(self) -> str:
        return (f"PolicySamples(rows={len(self)}, geodesics={len(self.geodesics)}, "
                f"n_assets={self.n_assets}, n_regimes={self.n_regimes})")


def _asset_weights(points: np.ndarray) -> np.ndarray:
    """Grid coordinates ``(..., d)`` to asset weights ``(..., d + 1)``."""
    return np.concatenate([points, 1.0 - points.sum(axis=-1, keepdims=True)], axis=-1)


def _grid_points(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Asset weights of the cells ``(n_cells, n_assets)`` and of the faces
    ``(n_faces, n_assets)`` of one regime, in the C order of ``grid.shape[1:]`` and
    ``grid.face_shape[1:]`` (2-D: padded, the non-faces included)."""
    if grid.dims == 1:
        return _asset_weights(grid.weights[:, None]), _asset_weights(grid.faces[:, None])
    centres = grid.coords.reshape(-1, 2)
    shift = 0.5 * grid.dx * np.eye(2)
    faces = np.concatenate([centres + shift[0], centres + shift[1]])
    return _asset_weights(centres), _asset_weights(faces)


def _face_axis(grid: Grid) -> np.ndarray:
    """The axis of each face of one regime, in the order of :func:`_grid_points`."""
    if grid.dims == 1:
        return np.zeros(grid.n_weights - 1, dtype=np.int64)
    return np.repeat(np.arange(2), grid.n_cells)


def _belief(rho: np.ndarray, n_regimes: int) -> np.ndarray:
    """Mass per regime over the total of one allocation ``(K, ...)`` (uniform if empty)."""
    totals = rho.reshape(n_regimes, -1).sum(axis=1)
    total = totals.sum()
    return totals / total if total > 0 else np.full(n_regimes, 1.0 / n_regimes)


def _features(weights: np.ndarray, belief: np.ndarray, risk_budget: float, s: float,
              lam: float) -> np.ndarray:
    n = weights.shape[0]
    extra = np.array([risk_budget, s, math.log(lam)])
    return np.concatenate([weights, np.broadcast_to(belief, (n, belief.size)),
                           np.broadcast_to(extra, (n, 3))], axis=1)


def _grid_samples(geo: Geodesic, risk_budget: float, min_weight: float):
    grid = geo.grid
    K, T = grid.n_regimes, grid.n_steps
    cells, faces = _grid_points(grid)
    n_assets = grid.dims + 1
    axis = _face_axis(grid)
    G = np.broadcast_to(face_weights(geo.metric, grid), grid.face_shape).reshape(K, -1)
    exists = grid.face_mask.reshape(K, -1)
    rows = []
    for k in range(T):
        s = (k + 0.5) * grid.dt
        belief = _belief(geo.rho_mean[k], K)
        rate, born = _exponential_rate(geo, k)
        # faces: the velocity along the face's axis
        v = path_fields(geo)[0][k].reshape(K, -1).T  # (n_faces, K)
        w_v = np.where(exists, G * geo.rho_face[k].reshape(K, -1), 0.0).T
        velocity = np.zeros((faces.shape[0], K, n_assets))
        velocity_weight = np.zeros_like(velocity)
        index = np.arange(faces.shape[0])
        velocity[index, :, axis] = v
        velocity_weight[index, :, axis] = w_v
        rows.append((_features(faces, belief, risk_budget, s, geo.lam), velocity,
                     np.zeros((faces.shape[0], K)), velocity_weight,
                     np.zeros((faces.shape[0], K))))
        # cells: the rate (not where mass is born from nothing: no finite rate)
        valid = np.isfinite(rate) if born is None else (born == 0) & np.isfinite(rate)
        r = np.where(valid, rate, 0.0).reshape(K, -1).T
        w_r = np.where(valid & grid.mask, geo.lam**2 * geo.rho_mean[k], 0.0).reshape(K, -1).T
        rows.append((_features(cells, belief, risk_budget, s, geo.lam),
                     np.zeros((cells.shape[0], K, n_assets)), r,
                     np.zeros((cells.shape[0], K, n_assets)), w_r))
    return _prune([np.concatenate(column) for column in zip(*rows, strict=True)], min_weight)


def _ensemble_samples(geo, risk_budget: float, times: np.ndarray, min_weight: float):
    from ..ensemble._metric import check_metric
    from ..ensemble._path import state

    if geo._sphere is not None:
        raise ValueError("`geodesics`: an ensemble geodesic under TotalMass (a spherical "
                         "path) is not supported; solve it without TotalMass")
    pieces = geo._pieces
    K, n_assets = len(geo.regimes), len(geo.assets)
    diagonal = np.array([np.diag(G) for G in check_metric(geo.metric, geo.assets,
                                                          geo.regimes).matrices])
    rows = []
    for s in times:
        mass, position = state(pieces, s)
        z = (1.0 - s) * pieces.alpha + s * pieces.beta * np.exp(1j * pieces.theta)
        dz = pieces.beta * np.exp(1j * pieces.theta) - pieces.alpha
        keep = mass > 0
        # mass |z|^2 and angle arg z: rate 2 Re(conj(z) z') / |z|^2, angular speed
        # Im(conj(z) z') / |z|^2, the position moving theta-proportionally along its segment
        product = np.conj(z[keep]) * dz[keep]
        rate = 2.0 * product.real / mass[keep]
        spin = product.imag / mass[keep]
        theta = pieces.theta[keep]
        fraction = np.divide(spin, theta, out=np.zeros_like(spin), where=theta > 0)
        speed = fraction[:, None] * (pieces.end[keep] - pieces.start[keep])
        regime = pieces.regime[keep]
        m = mass[keep]
        belief = np.bincount(pieces.regime, mass, minlength=K)
        belief = belief / belief.sum() if belief.sum() > 0 else np.full(K, 1.0 / K)
        n = m.size
        velocity = np.zeros((n, K, n_assets))
        velocity_weight = np.zeros_like(velocity)
        r = np.zeros((n, K))
        w_r = np.zeros((n, K))
        index = np.arange(n)
        velocity[index, regime] = speed
        velocity_weight[index, regime] = m[:, None] * diagonal[regime]
        r[index, regime] = rate
        w_r[index, regime] = geo.lam**2 * m
        rows.append((_features(position[keep], belief, risk_budget, s, geo.lam), velocity, r,
                     velocity_weight, w_r))
    return _prune([np.concatenate(column) for column in zip(*rows, strict=True)], min_weight)


def _prune(columns: list[np.ndarray], min_weight: float) -> list[np.ndarray]:
    """Drop rows whose every weight is below ``min_weight`` times the largest weight."""
    features, velocity, rate, velocity_weight, rate_weight = columns
    largest = max(velocity_weight.max(initial=0.0), rate_weight.max(initial=0.0))
    heaviest = np.maximum(velocity_weight.max(axis=(1, 2)), rate_weight.max(axis=1))
    keep = heaviest > min_weight * largest if largest > 0 else np.zeros(len(features), bool)
    return [c[keep] for c in columns]


def _check_same_labels(labels: list) -> None:
    """Refuse geodesics that list their regimes, or their assets (where named), in
    different orders: the features and targets are columns by position, so they would
    mix one regime's (asset's) fields with another's."""
    assets0, regimes0 = labels[0]
    for i, (assets, regimes) in enumerate(labels[1:], start=1):
        if regimes != regimes0:
            raise ValueError(f"`geodesics` must list the same regimes in the same order: "
                             f"geodesics[0] has {list(regimes0)}, geodesics[{i}] "
                             f"{list(regimes)} (the samples are columns by position)")
        if assets is not None and assets0 is not None and assets != assets0:
            raise ValueError(f"`geodesics` must list the same assets in the same order: "
                             f"geodesics[0] has {list(assets0)}, geodesics[{i}] "
                             f"{list(assets)} (the samples are columns by position)")


def policy_samples(geodesics, *, risk_budget=0.0, times=None,
                   min_weight: float = 1e-6) -> PolicySamples:
    r"""The dataset of the exact policy: features -> (velocity, rate), with their weights.

    Parameters
    ----------
    geodesics : sequence of Geodesic or EnsembleGeodesic
        Solved geodesics: on 1-D grids, simplex grids, or ensembles (mesh-free).  All
        must have the same regimes and assets (where named), in the same order.
    risk_budget : float or sequence of floats
        The risk budget of each geodesic (one value for all, or one per geodesic; module
        docstring).
    times : sequence of floats, optional
        Sample times of ensemble geodesics (default: 16 midpoints ``(j + 1/2) / 16``);
        grid geodesics are sampled at their step midpoints.
    min_weight : float
        Rows whose every weight is below this fraction of the geodesic's largest weight
        (the nearly empty tails) are dropped.

    Returns
    -------
    PolicySamples

    Raises
    ------
    TypeError
        A geodesic that is neither kind.
    ValueError
        An empty list, geodesics that disagree on assets or regimes, a ``risk_budget`` of
        the wrong length or not finite, bad ``times`` or ``min_weight``.

    Examples
    --------
    >>> import wfr_cvx
    >>> g = wfr_cvx.Grid(16, 4, regimes=2)
    >>> geo = wfr_cvx.geodesic(g.bump(0.3, 0.1, 0) + g.bump(0.5, 0.1, 1, mass=0.5),
    ...                        g.bump(0.5, 0.1, 0, mass=0.5) + g.bump(0.6, 0.1, 1), g, 0.3)
    >>> data = policy_samples([geo], risk_budget=4.0)
    >>> data.features.shape[1], data.velocity.shape[1:], data.n_assets
    (7, (2, 2), 2)
    """
    from ..ensemble import EnsembleGeodesic

    geodesics = list(geodesics) if not isinstance(geodesics, (Geodesic, EnsembleGeodesic)) \
        else [geodesics]
    if not geodesics:
        raise ValueError("`geodesics` must hold at least one solved geodesic")
    budgets = np.broadcast_to(np.asarray(risk_budget, dtype=float), (len(geodesics),)) \
        if np.ndim(risk_budget) == 0 else np.asarray(risk_budget, dtype=float)
    if budgets.shape != (len(geodesics),):
        raise ValueError(f"`risk_budget` must be one number or one per geodesic "
                         f"({len(geodesics)}), got shape {budgets.shape}")
    if not np.all(np.isfinite(budgets)):
        raise ValueError("`risk_budget` must be finite")
    min_weight = nonnegative_scalar(min_weight, "min_weight")
    if times is None:
        times = (np.arange(16) + 0.5) / 16
    times = np.atleast_1d(np.asarray(times, dtype=float))
    if times.ndim != 1 or times.size == 0 or np.any((times < 0) | (times > 1)):
        raise ValueError("`times` must be path times in [0, 1]")
    shapes, labels, columns = set(), [], []
    for i, geo in enumerate(geodesics):
        if isinstance(geo, Geodesic):
            shapes.add((geo.grid.dims + 1, geo.grid.n_regimes))
            labels.append((geo.grid.assets, tuple(geo.grid.regimes)))
            part = _grid_samples(geo, float(budgets[i]), min_weight)
        elif isinstance(geo, EnsembleGeodesic):
            shapes.add((len(geo.assets), len(geo.regimes)))
            labels.append((tuple(geo.assets), tuple(geo.regimes)))
            part = _ensemble_samples(geo, float(budgets[i]), times, min_weight)
        else:
            raise TypeError(f"`geodesics[{i}]` must be a Geodesic or an EnsembleGeodesic, "
                            f"got {type(geo).__name__}")
        columns.append([*part, np.full(len(part[0]), i, dtype=np.int64)])
    if len(shapes) != 1:
        raise ValueError(f"`geodesics` must share their numbers of assets and regimes, got "
                         f"(assets, regimes) {sorted(shapes)}")
    _check_same_labels(labels)
    n_assets, n_regimes = shapes.pop()
    named = [assets for assets, _ in labels if assets is not None]
    stacked = [np.concatenate(column) for column in zip(*columns, strict=True)]
    return PolicySamples(*stacked, geodesics=tuple(geodesics),
                         risk_budgets=np.array(budgets, dtype=float), n_assets=n_assets,
                         n_regimes=n_regimes, regimes=tuple(str(r) for r in labels[0][1]),
                         assets=tuple(str(a) for a in named[0]) if named else None)


# ---------------------------------------------------------------------- the network
def _init(key, n_inputs: int, hidden: int, n_velocity: int, n_rate: int) -> dict:
    """LeCun-normal trunk; heads started small (the first rollouts stay near rest)."""
    keys = jax.random.split(key, 4)

    def dense(k, fan_in, fan_out, scale=1.0):
        return scale * jax.random.normal(k, (fan_in, fan_out)) / math.sqrt(fan_in)

    return {
        "trunk_1": dense(keys[0], n_inputs, hidden), "trunk_1_bias": jnp.zeros(hidden),
        "trunk_2": dense(keys[1], hidden, hidden), "trunk_2_bias": jnp.zeros(hidden),
        "velocity": dense(keys[2], hidden, n_velocity, 0.1),
        "velocity_bias": jnp.zeros(n_velocity),
        "rate": dense(keys[3], hidden, n_rate, 0.1), "rate_bias": jnp.zeros(n_rate),
    }


def _forward(params: dict, scales: dict, x):
    """Fields ``(velocity (N, K, n_assets), rate (N, K))`` at feature rows ``x``."""
    h = (x - scales["feature_mean"]) / scales["feature_scale"]
    h = jax.nn.silu(h @ params["trunk_1"] + params["trunk_1_bias"])
    h = jax.nn.silu(h @ params["trunk_2"] + params["trunk_2_bias"])
    velocity = scales["velocity_bound"] * jnp.tanh(h @ params["velocity"]
                                                   + params["velocity_bias"])
    rate = scales["rate_bound"] * jnp.tanh(h @ params["rate"] + params["rate_bias"])
    n_regimes = rate.shape[-1]
    return velocity.reshape(*velocity.shape[:-1], n_regimes, -1), rate


# ---------------------------------------------------------------- rollouts in JAX
def _jax_transport_lines(rho, velocity, exists, courant):
    """The Lax-Wendroff flux with the positivity limiter of
    :mod:`wfr_cvx.analysis.dynamics`, on lines ``(..., n)``, differentiable."""
    velocity = jnp.where(exists, velocity, 0.0)
    forward = velocity > 0
    up = jnp.where(forward, rho[..., :-1], rho[..., 1:])
    down = jnp.where(forward, rho[..., 1:], rho[..., :-1])
    c = jnp.abs(velocity) * courant
    carried = jnp.maximum(up + 0.5 * (1.0 - c) * (down - up), 0.0)
    flux = jnp.sign(velocity) * c * carried
    zero = jnp.zeros_like(rho[..., :1])
    leaving = (jnp.concatenate([jnp.maximum(flux, 0.0), zero], axis=-1)
               + jnp.concatenate([zero, jnp.maximum(-flux, 0.0)], axis=-1))
    over = leaving > rho
    # the division only where it is used (a where() still differentiates the branch it
    # discards), by at least 1e-12 (rho / leaving^2 in the gradient stays a float32):
    # below that the scale only errs low, which keeps the mass non-negative
    scale = jnp.where(over, rho / jnp.where(over, jnp.maximum(leaving, 1e-12), 1.0), 1.0)
    flux = flux * jnp.where(forward, scale[..., :-1], scale[..., 1:])
    out = (rho - jnp.concatenate([flux, zero], axis=-1)
           + jnp.concatenate([zero, flux], axis=-1))
    return jnp.maximum(out, 0.0)


def _jax_outflow_courant(velocity, courant, dims: int):
    """The largest outflow Courant number of each face field of a batch ``(P, *faces)``:
    :func:`wfr_cvx.analysis.outflow_courant` in JAX, shape ``(P,)``."""
    if dims == 1:
        lines = [velocity]
    else:  # the faces along each axis, as lines (the padding faces dropped)
        lines = [jnp.swapaxes(velocity[..., 0, :-1, :], -1, -2), velocity[..., 1, :, :-1]]
    worst = []
    for v in lines:
        zero = jnp.zeros_like(v[..., :1])
        out = (jnp.concatenate([jnp.maximum(v, 0.0), zero], axis=-1)
               + jnp.concatenate([zero, jnp.maximum(-v, 0.0)], axis=-1))
        worst.append(out.reshape(out.shape[0], -1).max(axis=1))
    return functools.reduce(jnp.maximum, worst) * courant


def _jax_transport(rho, velocity, exists, courant, dims: int, first_axis: int):
    """One substep on a batch of allocations ``(P, K, *cells)``, faces ``(P, *faces)``."""
    if dims == 1:
        return _jax_transport_lines(rho, velocity, exists, courant)
    for axis in (first_axis, 1 - first_axis):
        if axis == 0:
            lines = jnp.swapaxes(rho, -1, -2)
            v = jnp.swapaxes(velocity[..., 0, :-1, :], -1, -2)
            e = jnp.swapaxes(exists[..., 0, :-1, :], -1, -2)
            rho = jnp.swapaxes(_jax_transport_lines(lines, v, e, courant), -1, -2)
        else:
            rho = _jax_transport_lines(rho, velocity[..., 1, :, :-1],
                                       exists[..., 1, :, :-1], courant)
    return rho


class _GridConstants:
    """What a rollout on one grid needs, as arrays: points, axes, masks, steps."""

    def __init__(self, grid: Grid, n_assets: int, n_regimes: int):
        if grid.dims + 1 != n_assets or grid.n_regimes != n_regimes:
            raise ValueError(f"`grid` has {grid.dims + 1} assets and {grid.n_regimes} "
                             f"regimes; the model was built for {n_assets} and {n_regimes}")
        self.grid = grid
        self.cells, self.faces = _grid_points(grid)
        self.axis = _face_axis(grid)
        self.exists = grid.face_mask
        self.mask = grid.mask


def _model_fields(params, scales, constants: _GridConstants, rho, risk_budget, s, log_lam):
    """The model's grid fields for a batch ``rho (P, K, *cells)``: velocity ``(P,
    *face_shape)``, rate ``(P, *grid.shape)`` (jnp)."""
    grid = constants.grid
    K = grid.n_regimes
    P = rho.shape[0]
    totals = rho.reshape(P, K, -1).sum(axis=2)
    total = totals.sum(axis=1, keepdims=True)
    belief = jnp.where(total > 0, totals / jnp.maximum(total, 1e-30), 1.0 / K)
    extra = jnp.stack([risk_budget, jnp.full((P,), s), log_lam], axis=1)
    context = jnp.concatenate([belief, extra], axis=1)  # (P, K + 3)

    def at(points):
        n = points.shape[0]
        x = jnp.concatenate([jnp.broadcast_to(points, (P, n, points.shape[1])),
                             jnp.broadcast_to(context[:, None, :], (P, n, K + 3))], axis=2)
        return _forward(params, scales, x)

    v_faces, _ = at(constants.faces)  # (P, n_faces, K, n_assets)
    _, r_cells = at(constants.cells)  # (P, n_cells, K)
    along = jnp.take_along_axis(v_faces, constants.axis[None, :, None, None], axis=3)[..., 0]
    velocity = jnp.moveaxis(along, 1, 2).reshape(P, *grid.face_shape)
    rate = jnp.moveaxis(r_cells, 1, 2).reshape(P, *grid.shape)
    return jnp.where(constants.exists, velocity, 0.0), jnp.where(constants.mask, rate, 0.0)


def _consistency_terms(a, b, velocity, rate, grid: Grid):
    """Centred Gate41 terms of one step (jnp; :func:`consistency_loss_terms`)."""
    root = lambda x: jnp.sqrt(jnp.maximum(x, 1e-20))  # noqa: E731  (finite gradient)
    mean = (0.5 * (root(a) + root(b))) ** 2
    inv_dx = 1.0 / grid.dx
    if grid.dims == 1:
        face = 0.5 * (mean[..., :-1] + mean[..., 1:])
        m = face * velocity
        zero = jnp.zeros_like(m[..., :1])
        div = (jnp.concatenate([m, zero], -1) - jnp.concatenate([zero, m], -1)) * inv_dx
    else:
        f0 = 0.5 * (mean[..., :-1, :] + mean[..., 1:, :])
        f1 = 0.5 * (mean[..., :, :-1] + mean[..., :, 1:])
        m0 = f0 * velocity[..., 0, :-1, :]
        m1 = f1 * velocity[..., 1, :, :-1]
        z0 = jnp.zeros_like(m0[..., :1, :])
        z1 = jnp.zeros_like(m1[..., :, :1])
        div = ((jnp.concatenate([m0, z0], -2) - jnp.concatenate([z0, m0], -2))
               + (jnp.concatenate([m1, z1], -1) - jnp.concatenate([z1, m1], -1))) * inv_dx
    mismatch = b - a - grid.dt * (mean * rate - div)
    den2 = jnp.maximum((root(a) + root(b)) ** 2, jnp.abs(mismatch))
    # the floor keeps den2^2 (in the gradient) a float32 normal number
    return mismatch**2 / jnp.maximum(den2, 1e-15)


def _jax_rollout(params, scales, constants: _GridConstants, rho0, risk_budget, log_lam,
                 n_substeps: int, with_courant: bool = False):
    """Roll the model out on a batch: ``levels (T+1, P, *cells)``, the consistency loss
    ``(P,)``, and the step-mean fields ``(T, P, *faces)``, ``(T, P, *cells)``; with
    ``with_courant``, also the largest outflow Courant number of a substep, ``(T, P)``
    (the velocity exists only inside the scan; training does not need it)."""
    grid = constants.grid
    T, h = grid.n_steps, grid.dt / n_substeps
    courant = h / grid.dx

    def substep(carry, j):
        rho, k, v_sum, r_sum, c_max = carry
        s = (k + (j + 0.5) / n_substeps) * grid.dt
        velocity, rate = _model_fields(params, scales, constants, rho, risk_budget, s,
                                       log_lam)
        half = jnp.exp(rate * (0.5 * h))
        if grid.dims == 1:
            moved = _jax_transport(rho * half, velocity, constants.exists, courant, 1, 0)
        else:  # the sweep order alternates, as in the numpy rollout
            moved = jax.lax.cond(
                (k * n_substeps + j) % 2 == 0,
                lambda x: _jax_transport(x, velocity, constants.exists, courant, 2, 0),
                lambda x: _jax_transport(x, velocity, constants.exists, courant, 2, 1),
                rho * half)
        if with_courant:
            c_max = jnp.maximum(c_max, _jax_outflow_courant(velocity, courant, grid.dims))
        return (moved * half, k, v_sum + velocity, r_sum + rate, c_max), None

    def one_step(rho, k):
        zeros_v = jnp.zeros((rho.shape[0], *grid.face_shape))
        (after, _, v_sum, r_sum, c_max), _ = jax.lax.scan(
            substep, (rho, k, zeros_v, jnp.zeros_like(rho), jnp.zeros(rho.shape[0])),
            jnp.arange(n_substeps))
        v_mean, r_mean = v_sum / n_substeps, r_sum / n_substeps
        terms = _consistency_terms(rho, after, v_mean, r_mean, grid)
        return after, (after, terms.reshape(rho.shape[0], -1).sum(axis=1), v_mean, r_mean,
                       c_max)

    _, (levels, loss, v_mean, r_mean, c_max) = jax.lax.scan(one_step, rho0, jnp.arange(T))
    out = jnp.concatenate([rho0[None], levels]), loss.sum(axis=0), v_mean, r_mean
    return (*out, c_max) if with_courant else out


# ------------------------------------------------------------------------- the model
def _label_tuple(labels, count: int, name: str) -> tuple | None:
    """``labels`` as a tuple of ``count`` distinct strings (None stays None)."""
    if labels is None:
        return None
    if isinstance(labels, str) or not hasattr(labels, "__iter__"):
        raise TypeError(f"`{name}` must be a sequence of labels, got {labels!r}")
    labels = tuple(str(label) for label in labels)
    if len(labels) != count or len(set(labels)) != count:
        raise ValueError(f"`{name}` must be {count} distinct labels, got {list(labels)}")
    return labels


def _by_label(values, labels: tuple | None, name: str, kind: str):
    """A pandas Series (or a DataFrame's rows, or an xarray DataArray with coordinates read
    as its Series) or a dict keyed by ``labels``, put in their order; anything else is
    returned as it is (read by position)."""
    if labels is not None:
        values = as_pandas(values, f"`{name}`")
    if labels is None or not isinstance(values, (dict, pd.Series, pd.DataFrame)):
        return values
    if isinstance(values, dict):
        keys = [str(k) for k in values]
        values = np.array([values[k] for k in values], dtype=float)
    else:
        keys = [str(k) for k in values.index]
    if sorted(keys) != sorted(labels) or len(set(keys)) != len(keys):
        raise ValueError(f"`{name}` is labelled by {keys}; the model's {kind} are "
                         f"{list(labels)}")
    order = [keys.index(label) for label in labels]
    return np.asarray(values)[order]


def _by_columns(values, labels: tuple | None, name: str):
    """A DataFrame of books (or an xarray DataArray with coordinates, its dimension
    ``asset`` the columns), or a Series of one book indexed by asset, put in the order of
    the model's assets (``"X"`` or ``"w_X"``); anything else as it is."""
    if labels is not None:
        values = as_pandas(values, f"`{name}`", columns="asset")
    if labels is not None and isinstance(values, pd.Series):
        return _by_columns(values.to_frame().T, labels, name).iloc[0]
    if labels is None or not isinstance(values, pd.DataFrame):
        return values
    columns = [str(c)[2:] if str(c).startswith("w_") and str(c)[2:] in labels else str(c)
               for c in values.columns]
    if sorted(columns) != sorted(labels) or len(set(columns)) != len(columns):
        raise ValueError(f"`{name}` has the columns {list(map(str, values.columns))}; the "
                         f"model's assets are {list(labels)}")
    return values.iloc[:, [columns.index(label) for label in labels]]


class PolicyModel:
    r"""The learned WFR portfolio dynamics (module docstring).

    Parameters
    ----------
    n_assets : int
        Assets of a book (>= 2): 2 on a 1-D grid, 3 on a simplex grid.
    n_regimes : int
        Market regimes (>= 1).
    hidden : int
        Width of the two trunk layers.
    seed : int
        Seed of the initial weights.
    regimes, assets : sequence of str, optional
        The labels of the regimes and of the assets, in the order of the model's inputs
        and outputs.  When not given, :meth:`fit` takes them from its dataset.  Once
        known, a dataset, a grid or labelled input (a pandas Series of regime
        probabilities, a DataFrame of books with one column per asset or a Series of one
        book indexed by asset; an xarray DataArray with coordinates as that Series or
        DataFrame, its dimension ``asset`` the columns) that names them differently or in
        another order is refused or aligned by label: the model's
        inputs and outputs are positions, and a grid listing its regimes in another order
        would silently swap their fields.

    Attributes
    ----------
    history : dict of lists
        Per epoch of :meth:`fit`: ``"fields"`` (the relative action error :math:`E` of
        the module docstring, mean over the epoch's mini-batches), ``"consistency"`` (the
        relative Gate41 loss of the rolled-out paths) and ``"loss"`` (their weighted sum).
    velocity_bound, rate_bound : float
        The bounds of the heads: 1.5 times the magnitude below which 99.9 % of the
        training weight lies (the tails' larger values are clipped smoothly); 1 before
        :meth:`fit`.

    Examples
    --------
    >>> model = PolicyModel(2, 2, hidden=8)
    >>> v, r = model.predict([[0.4, 0.6]], [0.7, 0.3], risk_budget=4.0, time=0.5, lam=0.3)
    >>> v.shape, r.shape
    ((1, 2, 2), (1, 2))
    """

    def __init__(self, n_assets: int, n_regimes: int, hidden: int = 128, *, seed: int = 0,
                 regimes=None, assets=None):
        for name, value, minimum in (("n_assets", n_assets, 2), ("n_regimes", n_regimes, 1),
                                     ("hidden", hidden, 1), ("seed", seed, 0)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"`{name}` must be an integer, got {value!r}")
            if value < minimum:
                raise ValueError(f"`{name}` must be >= {minimum}, got {value}")
        self.n_assets, self.n_regimes, self.hidden = int(n_assets), int(n_regimes), int(hidden)
        self.regimes = _label_tuple(regimes, self.n_regimes, "regimes")
        self.assets = _label_tuple(assets, self.n_assets, "assets")
        self.n_features = self.n_assets + self.n_regimes + len(_EXTRA)
        self.params = _init(jax.random.PRNGKey(int(seed)), self.n_features, self.hidden,
                            self.n_regimes * self.n_assets, self.n_regimes)
        self.scales = {"feature_mean": jnp.zeros(self.n_features),
                       "feature_scale": jnp.ones(self.n_features),
                       "velocity_bound": jnp.asarray(1.0), "rate_bound": jnp.asarray(1.0)}
        self.history: dict[str, list[float]] = {"loss": [], "fields": [], "consistency": []}
        self._predict = jax.jit(_forward)
        self._field_functions: dict = {}
        self._rollout_functions: dict = {}

    @property
    def velocity_bound(self) -> float:
        return float(self.scales["velocity_bound"])

    @property
    def rate_bound(self) -> float:
        return float(self.scales["rate_bound"])

    def __repr__(self) -> str:
        labels = "".join(f", {name}={list(value)}" for name, value in
                         (("regimes", self.regimes), ("assets", self.assets))
                         if value is not None)
        return (f"PolicyModel(n_assets={self.n_assets}, n_regimes={self.n_regimes}, "
                f"hidden={self.hidden}, epochs_trained={len(self.history['loss'])}{labels})")

    # -- labels ------------------------------------------------------------------------
    def _check_labels(self, regimes, assets, what: str) -> None:
        """Refuse ``what`` when it names the regimes or the assets other than the model
        (labels the model or ``what`` does not know are not compared)."""
        for kind, mine, theirs in (("regimes", self.regimes, regimes),
                                   ("assets", self.assets, assets)):
            if mine is None or theirs is None:
                continue
            theirs = tuple(str(label) for label in theirs)
            if theirs != mine:
                how = "in another order" if sorted(theirs) == sorted(mine) else "differently"
                raise ValueError(f"{what} lists its {kind} {list(theirs)} {how} than the "
                                 f"model, which was trained on {list(mine)}: its inputs and "
                                 f"outputs are by position")

    def _check_grid(self, grid: Grid) -> None:
        if not isinstance(grid, Grid):
            raise TypeError(f"`grid` must be a wfr_cvx.Grid, got {type(grid).__name__}")
        self._check_labels(grid.regimes, grid.assets, "`grid`")

    # -- prediction --------------------------------------------------------------------
    def predict(self, weights, regime_probabilities, *, risk_budget: float, time: float,
                lam: float) -> tuple[np.ndarray, np.ndarray]:
        """Velocity ``(N, n_regimes, n_assets)`` and rate ``(N, n_regimes)`` at ``N``
        books ``weights (N, n_assets)`` of one allocation whose regime probabilities
        are ``regime_probabilities (n_regimes,)``, at path time ``time`` (in [0, 1]).
        Non-finite weights or a time outside [0, 1] raise ValueError."""
        weights = np.atleast_2d(np.asarray(_by_columns(weights, self.assets, "weights"),
                                           dtype=float))
        if weights.ndim != 2 or weights.shape[1] != self.n_assets:
            raise ValueError(f"`weights` must have shape (N, {self.n_assets}), got "
                             f"{weights.shape}")
        if not np.all(np.isfinite(weights)):
            raise ValueError(f"`weights` must be finite, got {int(np.sum(~np.isfinite(weights)))}"
                             " NaN or infinite entries")
        time = real_scalar(time, "time")
        if not 0.0 <= time <= 1.0:
            raise ValueError(f"`time` is a path time and must lie in [0, 1], got {time!r}")
        belief = self._belief(regime_probabilities)
        x = _features(weights, belief, real_scalar(risk_budget, "risk_budget"), time,
                      check_lam(lam))
        velocity, rate = self._predict(self.params, self.scales, jnp.asarray(x, jnp.float32))
        return np.asarray(velocity, dtype=float), np.asarray(rate, dtype=float)

    def _belief(self, regime_probabilities) -> np.ndarray:
        p = np.asarray(_by_label(regime_probabilities, self.regimes, "regime_probabilities",
                                 "regimes"), dtype=float)
        if p.shape != (self.n_regimes,) or not np.all(np.isfinite(p)) or np.any(p < 0) \
                or p.sum() <= 0:
            raise ValueError(f"`regime_probabilities` must be {self.n_regimes} non-negative "
                             f"numbers with a positive sum, got {regime_probabilities!r}")
        return p / p.sum()

    def step(self, weights, regime_probabilities, *, risk_budget: float, time: float,
             lam: float, dt: float):
        r"""The world model's update of a book held in each regime.

        With ``weights`` :math:`W` of shape ``(n_regimes, n_assets)`` (row ``k``: the book
        in regime ``k``; one row is used for every regime) and the regime probabilities
        :math:`p`, the model is evaluated at each regime's book and
        (a DataFrame's rows are read by regime label, the rows of an xarray DataArray
        whose regime dimension has no coordinates by position)

        .. math::  W_k \leftarrow W_k + v_k(W_k)\,\Delta t, \qquad
                   p_k \leftarrow \frac{p_k\,e^{r_k(W_k)\Delta t}}
                                       {\sum_j p_j\,e^{r_j(W_j)\Delta t}}.

        The velocities of a grid-trained model move the grid's axes and the last asset
        funds them, so a budget (weights summing to 1) is kept when the last column is
        set to one minus the others, as done here for every model.

        Returns
        -------
        weights : ndarray, shape ``(n_regimes, n_assets)``
        regime_probabilities : ndarray, shape ``(n_regimes,)``
        velocity : ndarray, shape ``(n_regimes, n_assets)``
        rate : ndarray, shape ``(n_regimes,)``
        """
        W = _by_columns(weights, self.assets, "weights")
        # a DataArray's regime rows without coordinates are positions, not labels 0, 1, ...
        if isinstance(W, pd.DataFrame) and not rows_by_position(weights, "`weights`",
                                                                 columns="asset"):
            W = _by_label(W, self.regimes, "weights", "regimes")
        W = np.asarray(W, dtype=float)
        if W.shape == (self.n_assets,):
            W = np.broadcast_to(W, (self.n_regimes, self.n_assets))
        if W.shape != (self.n_regimes, self.n_assets) or not np.all(np.isfinite(W)):
            raise ValueError(f"`weights` must have shape ({self.n_regimes}, {self.n_assets}) "
                             f"or ({self.n_assets},) and be finite, got {np.shape(weights)}")
        dt = positive_scalar(dt, "dt")
        p = self._belief(regime_probabilities)
        velocity, rate = self.predict(W, p, risk_budget=risk_budget, time=time, lam=lam)
        own = np.arange(self.n_regimes)
        v, r = velocity[own, own], rate[own, own]
        moved = W + v * dt
        moved[:, -1] = 1.0 - moved[:, :-1].sum(axis=1)
        grown = p * np.exp(r * dt)
        return moved, grown / grown.sum(), v, r

    def fields(self, rho, s: float, grid: Grid, *, lam: float, risk_budget: float):
        """The model's velocity (``grid.face_shape``) and rate (``grid.shape``) on the
        faces and cells of ``grid`` for the allocation ``rho`` at path time ``s``
        (in [0, 1])."""
        self._check_grid(grid)
        rho = as_allocation(rho, grid, "rho")
        s = real_scalar(s, "s")
        if not 0.0 <= s <= 1.0:
            raise ValueError(f"`s` is a path time and must lie in [0, 1], got {s!r}")
        lam, risk_budget = check_lam(lam), real_scalar(risk_budget, "risk_budget")
        key = _grid_key(grid)
        if key not in self._field_functions:  # compiled once per grid
            constants = _GridConstants(grid, self.n_assets, self.n_regimes)
            self._field_functions[key] = jax.jit(
                lambda params, scales, rho, budget, s, log_lam: _model_fields(
                    params, scales, constants, rho, budget, s, log_lam))
        velocity, rate = self._field_functions[key](
            self.params, self.scales, jnp.asarray(np.asarray(rho)[None], jnp.float32),
            jnp.asarray([risk_budget], jnp.float32), jnp.asarray(s, jnp.float32),
            jnp.asarray([math.log(lam)], jnp.float32))
        return np.asarray(velocity[0], dtype=float), np.asarray(rate[0], dtype=float)

    def rollout(self, rho0, grid: Grid, *, lam: float, risk_budget: float = 0.0,
                scheme: str = "lax-wendroff", n_substeps: int | None = None) -> RolledPath:
        r"""The model's path from ``rho0`` on ``grid``.

        With the default scheme the whole rollout is one compiled JAX function (float32;
        compiled once per grid and number of substeps, then a few milliseconds): the
        Lax-Wendroff flux with the positivity limiter and the exact half reactions of
        :func:`rollout_policy`, ``n_substeps`` per step (default: enough for a Courant
        number of 1/4 at the velocity head's bound).  Other schemes go through
        :func:`rollout_policy` (numpy, fields evaluated substep by substep).

        The fields are known only as the model runs, so the rollout records the largest
        outflow Courant number (:func:`wfr_cvx.analysis.outflow_courant`) of the
        velocity each substep applied, and a given ``n_substeps`` that puts one above 1
        (the limit of :func:`wfr_cvx.analysis.rollout`; beyond it the positivity limiter
        clips the flux and the path is no longer accurate) raises ValueError naming the
        count that velocity needs.  The check is on the velocity the path used, not on
        the head's bound: a cell's outflow can reach twice the bound, so the bound alone
        would refuse counts whose actual fields are well inside the limit.  The default
        never trips it: the bound caps every face at 1/4, an outflow at 1/2.
        """
        scheme = _check_scheme(scheme)
        self._check_grid(grid)
        if scheme != "lax-wendroff":
            return rollout_policy(self, rho0, grid, lam=lam, risk_budget=risk_budget,
                                  scheme=scheme, n_substeps=n_substeps)
        lam = check_lam(lam)
        risk_budget = real_scalar(risk_budget, "risk_budget")
        rho = as_allocation(rho0, grid, "rho0")
        if n_substeps is None:
            n_substeps = max(1, math.ceil(4.0 * self.velocity_bound * grid.dt / grid.dx))
        elif isinstance(n_substeps, bool) or not isinstance(n_substeps, (int, np.integer)) \
                or n_substeps < 1:
            raise ValueError(f"`n_substeps` must be an integer >= 1, got {n_substeps!r}")
        key = (_grid_key(grid), int(n_substeps))
        if key not in self._rollout_functions:
            constants = _GridConstants(grid, self.n_assets, self.n_regimes)
            self._rollout_functions[key] = jax.jit(
                lambda params, scales, rho0, budget, log_lam: _jax_rollout(
                    params, scales, constants, rho0, budget, log_lam, int(n_substeps),
                    with_courant=True))
        start = time.perf_counter()
        levels, _, velocity, rate, courant = self._rollout_functions[key](
            self.params, self.scales, jnp.asarray(rho[None], jnp.float32),
            jnp.asarray([risk_budget], jnp.float32), jnp.asarray([math.log(lam)], jnp.float32))
        levels = np.asarray(levels, dtype=float)[:, 0]
        seconds = time.perf_counter() - start
        courant = np.asarray(courant, dtype=float)[:, 0]
        # the velocity is float32: a Courant number within its rounding of an integer
        # counts as the integer
        needed = np.maximum(1, np.ceil(courant * int(n_substeps) - 1e-6)).astype(int)
        over = np.flatnonzero(needed > n_substeps)
        if over.size:  # the first such step, where rollout_policy would stop
            k = int(over[0])
            raise _courant_error("model", n_substeps, int(n_substeps), k, float(courant[k]),
                                 int(needed[k]))
        return RolledPath(rho=levels, velocity=np.asarray(velocity, dtype=float)[:, 0],
                          rate=np.asarray(rate, dtype=float)[:, 0], grid=grid, lam=lam,
                          n_substeps=np.full(grid.n_steps, int(n_substeps)),
                          seconds=seconds)

    # -- training ----------------------------------------------------------------------
    def _calibrate(self, data: PolicySamples) -> None:
        """Feature standardisation and head bounds from the training data."""
        mean = data.features.mean(axis=0)
        scale = data.features.std(axis=0)
        scale = np.where(scale > 1e-12, scale, 1.0)

        def bound(values, weights):
            # the nearly empty tails have the largest velocities and rates, and bounds
            # set by them would cost substeps in every rollout: 1.5 times the magnitude
            # below which 99.9 % of the weight lies
            size, weight = np.abs(values).ravel(), weights.ravel()
            order = np.argsort(size)
            cumulative = np.cumsum(weight[order])
            if cumulative.size == 0 or cumulative[-1] <= 0:
                return 1.0
            at = np.searchsorted(cumulative, 0.999 * cumulative[-1])
            return 1.5 * float(size[order][min(at, size.size - 1)]) or 1.0

        self.scales = {
            "feature_mean": jnp.asarray(mean, jnp.float32),
            "feature_scale": jnp.asarray(scale, jnp.float32),
            "velocity_bound": jnp.asarray(bound(data.velocity, data.velocity_weight),
                                          jnp.float32),
            "rate_bound": jnp.asarray(bound(data.rate, data.rate_weight), jnp.float32),
        }

    def fit(self, dataset: PolicySamples, *, consistency_weight: float = 0.1,
            epochs: int = 100, seed: int = 0, learning_rate: float = 3e-3,
            batch_size: int = 1024, consistency_paths: int = 4,
            consistency_every: int = 1) -> PolicyModel:
        r"""Fit the fields to the exact ones and the rolled-out paths to their fields.

        Minimises :math:`E + w_c\,\mathcal L_{41}` (module docstring) with Adam, the
        learning rate decayed on a cosine from ``learning_rate`` to 1/20 of it.  Each
        update takes ``batch_size`` random rows for :math:`E` and ``consistency_paths``
        random grid geodesics of one grid (all of one grid kind are tried in turn) for
        :math:`\mathcal L_{41}`, each rolled out from its :math:`\rho_0` over its own
        grid; an epoch is ``ceil(N / batch_size)`` updates.  The first call also sets
        the feature standardisation and the head bounds from ``dataset``; a second
        call continues from the current weights.

        Parameters
        ----------
        dataset : PolicySamples
        consistency_weight : float
            :math:`w_c \ge 0`; 0 skips the rollouts (faster).
        epochs : int
        seed : int
            Seed of the mini-batch draws.
        learning_rate : float
        batch_size : int
        consistency_paths : int
        consistency_every : int
            The rollouts' term enters every ``consistency_every``-th update, with that
            many times its weight (the same weight on average, a fraction of the cost:
            on ``Grid(64, 16)`` a rollout update took 8 times a 4,096-row field update).

        Returns
        -------
        PolicyModel
            ``self``, with :attr:`history` extended.
        """
        if not isinstance(dataset, PolicySamples):
            raise TypeError(f"`dataset` must be PolicySamples (from policy_samples), got "
                            f"{type(dataset).__name__}")
        if (dataset.n_assets, dataset.n_regimes) != (self.n_assets, self.n_regimes):
            raise ValueError(f"`dataset` has {dataset.n_assets} assets and "
                             f"{dataset.n_regimes} regimes; the model was built for "
                             f"{self.n_assets} and {self.n_regimes}")
        if len(dataset) == 0:
            raise ValueError("`dataset` has no rows")
        self._check_labels(dataset.regimes, dataset.assets, "`dataset`")
        consistency_weight = nonnegative_scalar(consistency_weight, "consistency_weight")
        learning_rate = positive_scalar(learning_rate, "learning_rate")
        for name, value, minimum in (("epochs", epochs, 1), ("seed", seed, 0),
                                     ("batch_size", batch_size, 1),
                                     ("consistency_paths", consistency_paths, 1),
                                     ("consistency_every", consistency_every, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"`{name}` must be an integer, got {value!r}")
            if value < minimum:
                raise ValueError(f"`{name}` must be >= {minimum}, got {value}")
        if not self.history["loss"]:
            self._calibrate(dataset)
        if self.regimes is None and dataset.regimes is not None:
            self.regimes = tuple(dataset.regimes)
        if self.assets is None and dataset.assets is not None:
            self.assets = tuple(dataset.assets)
        rng = np.random.default_rng(int(seed))
        groups = _path_groups(dataset) if consistency_weight > 0 else []
        for group in groups:  # the heads' bound keeps every face's Courant number <= 1
            group.n_substeps = max(1, math.ceil(self.velocity_bound * group.constants.grid.dt
                                                / group.constants.grid.dx))
        arrays = [jnp.asarray(a, jnp.float32) for a in (
            dataset.features, dataset.velocity, dataset.rate, dataset.velocity_weight,
            dataset.rate_weight)]
        n = len(dataset)
        batch = min(int(batch_size), n)
        updates_per_epoch = math.ceil(n / batch)
        total = int(epochs) * updates_per_epoch
        state = _adam_state(self.params)
        fields_only = _make_update(self.scales, None, consistency_weight)
        every = int(consistency_every)
        with_paths = [_make_update(self.scales, g, consistency_weight * every)
                      for g in groups]
        for epoch in range(int(epochs)):
            sums = np.zeros(3)
            for u in range(updates_per_epoch):
                number = epoch * updates_per_epoch + u
                rows = jnp.asarray(rng.choice(n, batch, replace=False))
                # cosine decay from learning_rate to learning_rate / 20
                rate = jnp.asarray(learning_rate * (0.05 + 0.475 * (1 + math.cos(
                    math.pi * number / max(total - 1, 1)))), jnp.float32)
                if groups and number % every == 0:
                    g = groups[(number // every) % len(groups)]
                    chosen = rng.choice(len(g.rho0), min(consistency_paths, len(g.rho0)),
                                        replace=False)
                    paths = (jnp.asarray(g.rho0[chosen]), jnp.asarray(g.risk_budget[chosen]),
                             jnp.asarray(g.log_lam[chosen]), jnp.asarray(g.mass[chosen]))
                    self.params, state, parts = with_paths[(number // every) % len(groups)](
                        self.params, state, rows, paths, rate, *arrays)
                    parts = np.asarray(parts, dtype=float) * [1.0, 1.0, every]
                else:
                    self.params, state, parts = fields_only(self.params, state, rows, (),
                                                            rate, *arrays)
                sums += np.asarray(parts, dtype=float)
            sums /= updates_per_epoch
            self.history["loss"].append(float(sums[0]))
            self.history["fields"].append(float(sums[1]))
            self.history["consistency"].append(float(sums[2]))
        return self

    # -- persistence -------------------------------------------------------------------
    def save(self, path) -> Path:
        """Write the weights, scales, configuration and history to ``path``, with
        ``.npz`` appended unless it ends so (as :func:`numpy.savez`: ``policy.v1`` is
        written to ``policy.v1.npz``, never over ``policy.npz``); returns the path
        written.  :meth:`load` takes either name."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        config = {"n_assets": self.n_assets, "n_regimes": self.n_regimes,
                  "hidden": self.hidden, "history": self.history, "format": 2,
                  "regimes": None if self.regimes is None else list(self.regimes),
                  "assets": None if self.assets is None else list(self.assets)}
        arrays = {f"params/{k}": np.asarray(v) for k, v in self.params.items()}
        arrays.update({f"scales/{k}": np.asarray(v) for k, v in self.scales.items()})
        np.savez_compressed(path, config=np.array(json.dumps(config)), **arrays)
        return path

    @classmethod
    def load(cls, path) -> PolicyModel:
        """A model written by :meth:`save` (``path`` as given to it, or as it returned).

        Raises FileNotFoundError when there is no such file, and ValueError naming the
        file and the field when it is not one :meth:`save` writes: not an ``.npz``
        archive (a damaged member included), no ``config`` (a result of
        :func:`wfr_cvx.save` is named as such), a configuration that is not JSON or of a
        format other than :data:`POLICY_FORMATS`, or weights and scales that are missing,
        extra, of another shape than the configuration's network or not finite.
        """
        from ..io import FORMAT, _npz_member, _open_npz

        path = Path(path)
        if not path.exists() and path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        where = repr(str(path))
        with _open_npz(path, "PolicyModel file", "PolicyModel.save") as data:
            if "config" not in data.files:
                header = (_npz_member(data, "header", where) if "header" in data.files
                          else None)
                what = ("a wfr_cvx result (read it with wfr_cvx.load)"
                        if header is not None and FORMAT in str(header) else
                        "an .npz archive without the model's configuration")
                raise ValueError(f"{where} is not a PolicyModel file (written by "
                                 f"PolicyModel.save): it is {what}")
            config = _policy_config(_npz_member(data, "config", where), where)
            arrays = {name: _npz_member(data, name, where) for name in data.files
                      if name != "config"}
        try:
            # format 1 (no labels) loads with regimes and assets unknown
            model = cls(config["n_assets"], config["n_regimes"], config["hidden"],
                        regimes=config.get("regimes"), assets=config.get("assets"))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: the configuration does not make a model: {exc}"
                             ) from None
        # the network of that configuration says which weights and scales the file holds
        for group in ("params", "scales"):
            fresh = getattr(model, group)
            stored = {name.split("/", 1)[1]: value for name, value in arrays.items()
                      if name.startswith(f"{group}/")}
            missing, extra = sorted(set(fresh) - set(stored)), sorted(set(stored) - set(fresh))
            if missing or extra:
                parts = [f"{label} {[f'{group}/{n}' for n in names]}" for label, names in
                         (("missing", missing), ("unknown", extra)) if names]
                raise ValueError(f"{where} does not hold the {group} of the network its "
                                 f"configuration describes: {', '.join(parts)}")
            for name, value in stored.items():
                want = tuple(fresh[name].shape)
                if (value.shape != want or value.dtype.kind != "f"
                        or not np.all(np.isfinite(value))):
                    bad = (f", {int(np.sum(~np.isfinite(value)))} NaN or infinite entries"
                           if value.dtype.kind == "f" else "")
                    raise ValueError(f"{where}: the array '{group}/{name}' must hold finite "
                                     f"floats of shape {want} for the configuration's "
                                     f"network, got shape {value.shape}, dtype {value.dtype}"
                                     f"{bad}")
            setattr(model, group, {name: jnp.asarray(value) for name, value in stored.items()})
        unknown = sorted(name for name in arrays if not name.startswith(("params/", "scales/")))
        if unknown:
            raise ValueError(f"{where} holds arrays a PolicyModel file does not: {unknown}")
        model.history = {k: list(v) for k, v in config["history"].items()}
        return model


#: The layouts of :meth:`PolicyModel.save` that :meth:`PolicyModel.load` reads: 1 (no
#: labels) and 2.
POLICY_FORMATS = (1, 2)


def _policy_config(stored: np.ndarray, where: str) -> dict:
    """The configuration of a saved :class:`PolicyModel`, its format and fields checked
    (the sizes are checked by the model they build)."""
    try:
        config = json.loads(str(stored[()]))
    except (ValueError, IndexError) as exc:
        raise ValueError(f"{where}: the model's `config` is not JSON ({exc})") from None
    if not isinstance(config, dict):
        raise ValueError(f"{where}: the model's `config` must be a JSON object, got "
                         f"{type(config).__name__}")
    version = config.get("format")
    if version not in POLICY_FORMATS or isinstance(version, bool):
        newer = (isinstance(version, int) and not isinstance(version, bool)
                 and version > max(POLICY_FORMATS))
        raise ValueError(f"{where}: the model's `config.format` is {version!r}; this wfr_cvx "
                         f"reads PolicyModel formats {list(POLICY_FORMATS)}"
                         + ("; upgrade wfr_cvx to read it" if newer else ""))
    for key in ("n_assets", "n_regimes", "hidden", "history"):
        if key not in config:
            raise ValueError(f"{where}: the model's `config` has no {key!r}")
    history = config["history"]
    if not isinstance(history, dict) or not all(
            isinstance(v, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                        for x in v) for v in history.values()):
        raise ValueError(f"{where}: the model's `config.history` must map names to lists of "
                         f"numbers, got {type(history).__name__}")
    return config


@dataclass
class _PathGroup:
    """Training geodesics on one grid, stacked for a batched rollout."""

    index: int
    constants: _GridConstants
    n_substeps: int
    rho0: np.ndarray
    risk_budget: np.ndarray
    log_lam: np.ndarray
    mass: np.ndarray


def _grid_key(grid: Grid) -> tuple:
    return (grid.n_weights, grid.n_steps, grid.dims, grid.regimes, grid.mask.tobytes())


def _path_groups(data: PolicySamples) -> list[_PathGroup]:
    """Grid geodesics of ``data`` grouped by grid (a rollout compiles once per grid)."""
    by_grid: dict = {}
    for i, geo in enumerate(data.geodesics):
        if isinstance(geo, Geodesic):
            by_grid.setdefault(_grid_key(geo.grid), []).append(i)
    groups = []
    for index, members in enumerate(by_grid.values()):
        geos = [data.geodesics[i] for i in members]
        grid = geos[0].grid
        constants = _GridConstants(grid, data.n_assets, data.n_regimes)
        groups.append(_PathGroup(
            index=index, constants=constants, n_substeps=0,
            rho0=np.stack([geo.rho[0] for geo in geos]).astype(np.float32),
            risk_budget=data.risk_budgets[members].astype(np.float32),
            log_lam=np.log([geo.lam for geo in geos]).astype(np.float32),
            mass=np.array([max(geo.rho[0].sum(), geo.rho[-1].sum()) for geo in geos],
                          dtype=np.float32)))
    return groups


def _make_update(scales: dict, group: _PathGroup | None, consistency_weight: float):
    """The jitted Adam update of :meth:`PolicyModel.fit`: field error on the rows, plus
    the consistency of the rolled-out paths of ``group`` (none: fields only)."""

    def loss(params, rows, paths, features, velocity, rate, velocity_weight, rate_weight):
        v_hat, r_hat = _forward(params, scales, features[rows])
        w_v, w_r = velocity_weight[rows], rate_weight[rows]
        error = (jnp.sum(w_v * (v_hat - velocity[rows]) ** 2)
                 + jnp.sum(w_r * (r_hat - rate[rows]) ** 2))
        exact = jnp.sum(w_v * velocity[rows] ** 2) + jnp.sum(w_r * rate[rows] ** 2)
        fields = error / jnp.maximum(exact, 1e-30)
        consistency = jnp.asarray(0.0)
        if group is not None:
            rho0, budget, log_lam, mass = paths
            _, terms, _, _ = _jax_rollout(params, scales, group.constants, rho0, budget,
                                          log_lam, group.n_substeps)
            consistency = jnp.mean(terms / mass)
        return fields + consistency_weight * consistency, (fields, consistency)

    def update(params, state, rows, paths, learning_rate, *arrays):
        (total, (fields, consistency)), grads = jax.value_and_grad(loss, has_aux=True)(
            params, rows, paths, *arrays)
        params, state = _adam(params, grads, state, learning_rate)
        return params, state, jnp.stack([total, fields, consistency])

    return jax.jit(update)


def _adam_state(params: dict) -> dict:
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    return {"m": zeros, "v": zeros, "t": jnp.asarray(0.0)}


def _adam(params, grads, state, learning_rate, beta1=0.9, beta2=0.999, eps=1e-8):
    """One Adam update (Kingma & Ba 2015), bias-corrected."""
    t = state["t"] + 1.0
    m = jax.tree_util.tree_map(lambda a, g: beta1 * a + (1 - beta1) * g, state["m"], grads)
    v = jax.tree_util.tree_map(lambda a, g: beta2 * a + (1 - beta2) * g * g, state["v"],
                               grads)
    correction = jnp.sqrt(1 - beta2**t) / (1 - beta1**t)
    params = jax.tree_util.tree_map(
        lambda p, a, b: p - learning_rate * correction * a / (jnp.sqrt(b) + eps), params, m, v)
    return params, {"m": m, "v": v, "t": t}


# --------------------------------------------------------------- rollouts and audit
class GeodesicPolicy:
    """The exact policy of a solved geodesic, in the interface of :class:`PolicyModel`.

    :meth:`fields` returns step ``k``'s velocity and the rate whose exponential does the
    engine's reaction step (:func:`wfr_cvx.analysis.rollout`) whatever the allocation it
    is given: an oracle, to check that :func:`audit` passes the exact policy and to
    compare learned fields with.  Births (mass created in a cell the geodesic holds
    empty) get rate 0, as a learned model's would.
    """

    def __init__(self, geodesic: Geodesic):
        if not isinstance(geodesic, Geodesic):
            raise TypeError(f"`geodesic` must be a wfr_cvx.Geodesic, got "
                            f"{type(geodesic).__name__}")
        self.geodesic = geodesic
        self._steps = [_exponential_rate(geodesic, k)[0]
                       for k in range(geodesic.grid.n_steps)]

    def fields(self, rho, s: float, grid: Grid, *, lam: float = None,
               risk_budget: float = None) -> tuple[np.ndarray, np.ndarray]:
        geo = self.geodesic
        if grid != geo.grid:
            raise ValueError(f"`grid` must be the geodesic's grid {geo.grid!r}, got {grid!r}")
        k = min(int(real_scalar(s, "s") * grid.n_steps), grid.n_steps - 1)
        return np.where(grid.face_mask, path_fields(geo)[0][k], 0.0), self._steps[k]


class RolledPath:
    r"""A path rolled out from a policy's fields.

    Attributes
    ----------
    rho : ndarray, shape ``(n_steps + 1, *grid.shape)``
        The masses at the grid's time levels; ``rho[0]`` is the start.
    velocity : ndarray, shape ``(n_steps, *grid.face_shape)``
        The policy's velocity, averaged over each step's substeps.
    rate : ndarray, shape ``(n_steps, *grid.shape)``
        The policy's rate, averaged likewise.
    grid : Grid
    lam : float
    n_substeps : ndarray of int, shape ``(n_steps,)``
    seconds : float
        Wall time of the rollout.
    """

    def __init__(self, *, rho, velocity, rate, grid, lam, n_substeps, seconds):
        self.rho, self.velocity, self.rate = rho, velocity, rate
        self.grid, self.lam = grid, float(lam)
        self.n_substeps, self.seconds = n_substeps, float(seconds)

    def as_geodesic(self, metric=None) -> Geodesic:
        r"""The path as a :class:`~wfr_cvx.Geodesic`, priced by the engine's discrete action.

        With :math:`\bar\rho` the power mean of each step's two levels and
        :math:`\bar\rho_{face}` its face average (the engine's denominators,
        :mod:`wfr_cvx.assembly`), the momentum is :math:`m = \bar\rho_{face}\hat v` and the
        source :math:`\zeta = \bar\rho\,\hat r` (the step's fields), and

        .. math::  A = \Delta t\sum_k\Big[\sum_{faces} G\,\bar\rho_{face}\hat v^2
                       + \lambda^2\sum_{cells}\bar\rho\,\hat r^2\Big]

        (``transport_per_step``, ``reaction_per_step``; with an off-diagonal 2-D metric
        the momentum averaged to the cells, :math:`\bar m^\top G\bar m / \bar\rho`:
        :func:`~wfr_cvx.analysis.diagnostics.action_per_step` on the ``"power"`` scheme).  The
        engine's geodesic minimises the same sum over paths that satisfy the discrete
        continuity equation exactly; this path satisfies it up to the rollout's
        discretisation, which :func:`wfr_cvx.analysis.certificate` measures.  The sum is
        the engine's own cost on the ``"power"`` scheme; the default ``"centred"`` scheme
        prices transport on the cells, another quadrature of the same integral (on the
        two-regime problem of ``tests/test_learn.py``, ``Grid(32, 8)``, the face sum of
        the engine's own path is 0.4 % below its cell sum).
        """
        from ..metric import check_metric
        from .diagnostics import action_per_step

        grid = self.grid
        G = check_metric(metric, grid)
        mean, face = level_means(self.rho, grid, "power")
        face = np.where(grid.face_mask, face, 0.0)
        momentum = face * self.velocity
        source = mean * self.rate
        transport, reaction = action_per_step(self.rho, momentum, source, grid, lam=self.lam,
                                              metric=G, scheme="power")
        return Geodesic(grid=grid, lam=self.lam, metric=G, rho=self.rho, momentum=momentum,
                        source=source, rho_mean=mean, rho_face=face,
                        transport_per_step=transport, reaction_per_step=reaction,
                        status=ROLLED_OUT, iterations=0, setup_time=0.0,
                        solve_time=self.seconds, assembly_time=0.0, backend=ROLLED_OUT_BACKEND,
                        scheme="power")

    def __repr__(self) -> str:
        return (f"RolledPath(grid={self.grid!r}, lam={self.lam:g}, "
                f"substeps={int(self.n_substeps.sum())}, seconds={self.seconds:.3g})")


def rollout_policy(policy, rho0, grid: Grid, *, lam: float, risk_budget: float = 0.0,
                   scheme: str = "lax-wendroff", n_substeps: int | None = None) -> RolledPath:
    r"""Roll a policy's fields forward from ``rho0`` over ``grid``'s steps.

    ``policy.fields(rho, s, grid, lam=, risk_budget=)`` gives the velocity (faces) and
    rate (cells) for the allocation ``rho`` at time ``s`` (:class:`PolicyModel`,
    :class:`GeodesicPolicy`).  Each step is split into substeps; each substep evaluates
    the fields at its midpoint time on the current allocation and applies the transport
    of ``scheme`` between two exact half reactions, as :func:`wfr_cvx.analysis.step`
    (sweep order alternating on a simplex grid).  By default a step has the smallest
    number of substeps that keeps the outflow Courant number of its fields, evaluated at
    the step's midpoint time on the allocation it starts from, at most 1/4: the
    Lax-Wendroff flux comes closer to the engine's time-centred one as the Courant number
    falls (the exact policy of the two-regime geodesic on ``Grid(32, 8)`` of
    ``tests/test_learn.py`` ends 2.82 %, 2.63 %, 2.59 % and 2.58 % from :math:`\rho_1` at
    4, 8, 16 and 32 substeps per step, 2.71 % at the default 38 substeps in all; its
    outflow Courant number at one substep is 2.5, so 1 and 2 are refused; solved with
    ``scheme="power"``: 1.38 %, 1.33 %, 1.31 % at 8, 16, 32, 1.41 % by default).

    Every substep's velocity is checked before it is applied: when the substeps of a step
    (given ``n_substeps``, or the default count should the fields grow fourfold within
    the step) put its outflow Courant number (:func:`wfr_cvx.analysis.outflow_courant`)
    above 1, ValueError names the count that velocity needs, as
    :func:`wfr_cvx.analysis.rollout` does for a geodesic's fields: beyond 1 the positivity
    limiter clips the flux and the path is no longer accurate.

    Returns
    -------
    RolledPath
    """
    scheme = _check_scheme(scheme)
    if not isinstance(grid, Grid):
        raise TypeError(f"`grid` must be a wfr_cvx.Grid, got {type(grid).__name__}")
    if not callable(getattr(policy, "fields", None)):
        raise TypeError(f"`policy` must have a fields(rho, s, grid, lam=, risk_budget=) "
                        f"method (PolicyModel, GeodesicPolicy), got {type(policy).__name__}")
    lam = check_lam(lam)
    risk_budget = real_scalar(risk_budget, "risk_budget")
    if n_substeps is not None and (isinstance(n_substeps, bool) or not isinstance(
            n_substeps, (int, np.integer)) or n_substeps < 1):
        raise ValueError(f"`n_substeps` must be an integer >= 1, got {n_substeps!r}")
    rho = as_allocation(rho0, grid, "rho0")
    start = time.perf_counter()
    T, dt = grid.n_steps, grid.dt
    levels = np.empty((T + 1, *grid.shape))
    levels[0] = rho
    mean_velocity = np.zeros((T, *grid.face_shape))
    mean_rate = np.zeros((T, *grid.shape))
    counts = np.zeros(T, dtype=np.int64)
    moved = np.empty(grid.shape)
    substep = 0
    for k in range(T):
        if n_substeps is None:
            v, _ = policy.fields(rho, (k + 0.5) * dt, grid, lam=lam, risk_budget=risk_budget)
            count = max(1, math.ceil(4.0 * outflow_courant(v, grid, dt)))
        else:
            count = int(n_substeps)
        h = dt / count
        transport = make_transport(grid, h, scheme)
        for j in range(count):
            velocity, rate = policy.fields(rho, (k + (j + 0.5) / count) * dt, grid, lam=lam,
                                           risk_budget=risk_budget)
            needed = _substeps_needed(velocity, grid, dt)
            if needed > count:
                raise _courant_error("policy", n_substeps, count, k,
                                     outflow_courant(velocity, grid, h), needed)
            if np.max(rate, initial=0.0) * h > 700.0:
                raise ValueError(f"the policy's rate {np.max(rate):.3g} overflows exp(rate *"
                                 f" dt) at step {k}; pass a larger `n_substeps`")
            transport(_react(rho, rate, None, 0.5 * h), velocity, moved, substep % 2)
            rho = _react(moved, rate, None, 0.5 * h)
            mean_velocity[k] += velocity / count
            mean_rate[k] += rate / count
            substep += 1
        levels[k + 1] = rho
        counts[k] = count
    return RolledPath(rho=levels, velocity=mean_velocity, rate=mean_rate, grid=grid, lam=lam,
                      n_substeps=counts, seconds=time.perf_counter() - start)


def _courant_error(what: str, n_substeps, count: int, k: int, courant: float,
                   needed: int) -> ValueError:
    """The error of a rollout whose ``count`` substeps per step put the velocity of step
    ``k`` above the outflow Courant number 1 (``n_substeps`` as given: None for the
    default count)."""
    given = (f"`n_substeps` = {n_substeps}" if n_substeps is not None else
             f"the default `n_substeps` ({count} at step {k}, chosen at the step's midpoint)")
    return ValueError(
        f"{given} puts the {what}'s velocity at step {k} at an outflow Courant number of "
        f"{courant:.3g} per substep, above 1 (the limit of wfr_cvx.analysis.rollout: beyond "
        f"it the transport is clipped, not accurate); `n_substeps` must be >= {needed} for "
        "that velocity")


class Audit:
    r"""How far a policy's rolled-out path is from the geodesic (scipy-style result).

    Attributes
    ----------
    endpoint_error : float
        :math:`\sum|\rho_{roll}(1) - \rho_1| / \sum\rho_1`.
    regime_mass_error : float
        Largest relative error of a regime's mass at the end.
    action : float
        The engine's discrete action of the rolled-out path
        (:meth:`RolledPath.as_geodesic`).
    distance2 : float
        The exact :math:`d^2` of the engine's geodesic.
    excess_action : float
        ``action / distance2 - 1`` (a fraction; 0.01 is 1 % above the optimum).
    consistency_loss : float
        The Gate41 loss of the rolled-out path relative to its mass
        (:func:`wfr_cvx.analysis.certificate`).
    certificate : Certificate
        The full certificate, at tolerance ``consistency_tol``.
    passed : bool
        Every check below passed.
    failures : tuple of str
        The checks that failed: ``"endpoint"`` (``endpoint_error > endpoint_tol``),
        ``"action"`` (``excess_action > action_tol``), ``"consistency"`` (the
        certificate failed).
    rollout_time, solve_time : float
        Seconds of the rollout and of the exact solve (its setup and iterations).
    path : RolledPath
    exact : Geodesic
    """

    def __init__(self, *, path: RolledPath, rolled: Geodesic, exact: Geodesic, rho1,
                 cert: Certificate, endpoint_tol: float, action_tol: float):
        self.path, self.exact, self.certificate = path, exact, cert
        axes = tuple(range(1, rho1.ndim))
        end = path.rho[-1]
        self.endpoint_error = float(np.abs(end - rho1).sum() / rho1.sum())
        target = rho1.sum(axis=axes)
        self.regime_mass_error = float(np.max(np.abs(end.sum(axis=axes) - target)
                                              / np.where(target > 0, target, 1.0)))
        self.action = float(rolled.distance2)
        self.distance2 = float(exact.distance2)
        self.excess_action = (self.action / self.distance2 - 1.0 if self.distance2 > 0
                              else float("inf") if self.action > 0 else 0.0)
        self.consistency_loss = float(cert.relative_loss)
        self.rollout_time = float(path.seconds)
        self.solve_time = float(exact.setup_time + exact.solve_time)
        failures = []
        if self.endpoint_error > endpoint_tol:
            failures.append("endpoint")
        if self.excess_action > action_tol:
            failures.append("action")
        if not cert.passed:
            failures.append("consistency")
        self.failures = tuple(failures)
        self.passed = not failures

    def __repr__(self) -> str:
        return (f"Audit(passed={self.passed}, endpoint_error={self.endpoint_error:.3g}, "
                f"excess_action={self.excess_action:.3g}, "
                f"consistency_loss={self.consistency_loss:.3g}, failures={self.failures}, "
                f"rollout_time={self.rollout_time:.3g}, solve_time={self.solve_time:.3g})")


def audit(model, rho0, rho1, grid: Grid, lam: float, *, risk_budget: float = 0.0,
          exact: Geodesic | None = None, metric=None, endpoint_tol: float = 0.05,
          action_tol: float = 0.02, consistency_tol: float = 1e-4,
          scheme: str = "lax-wendroff") -> Audit:
    r"""Roll a policy out from ``rho0`` and hold its path to the geodesic to ``rho1``.

    Reports the endpoint error against ``rho1``, the engine's discrete action of the
    rolled-out path (:meth:`RolledPath.as_geodesic`: the path's levels with the policy's
    fields averaged over each step) against the exact :math:`d^2` (the excess, a fraction),
    and the Gate41 certificate of the path (:func:`wfr_cvx.analysis.certificate` at
    ``consistency_tol``).  The audit passes when the endpoint error is at most
    ``endpoint_tol``, the excess action at most ``action_tol`` and the certificate passes.

    The defaults are set by the exact policy (:class:`GeodesicPolicy`), rolled out by the
    same scheme: on ``Grid(32, 8)`` (``tests/test_learn.py``) it ends 2.7 % from
    ``rho1`` with an action 0.1 % above :math:`d^2` and a consistency loss of 1e-5 of the
    mass (1.4 % and 0.4 % for a geodesic solved with ``scheme="power"``); on the learn
    demo's 12 held-out problems (``Grid(64, 16)``, bumps 0.07 wide,
    ``benchmarks/LEARN.md``) 0.6 % from ``rho1`` at the median and 8.0 % at worst, the
    action within 0.6 %: the two cases beyond the endpoint tolerance (7.5 % and 8.0 %)
    are the two whose target bump is cut by the end of the axis (3.6 % at worst on
    geodesics of the ``"power"`` scheme, whose faces the rollout shares).  A
    rate 20 % too high (and 0.1 added) fails by far (21 % off ``rho1`` on ``Grid(32, 8)``).

    Parameters
    ----------
    model : PolicyModel or any object with ``fields`` (:func:`rollout_policy`)
    rho0, rho1 : array_like, shape ``grid.shape``
        The start and the target allocation.
    grid : Grid
    lam : float
    risk_budget : float
        The model's risk-budget input.
    exact : Geodesic, optional
        The solved geodesic from ``rho0`` to ``rho1`` (solved here with ``metric`` when
        not given).
    metric : optional
        The risk metric (:func:`wfr_cvx.geodesic`); ``exact``'s when it is given.
    endpoint_tol, action_tol, consistency_tol : float
    scheme : {"lax-wendroff", "tvd", "upwind"}

    Returns
    -------
    Audit
    """
    from ..engine import geodesic as solve

    if not isinstance(grid, Grid):
        raise TypeError(f"`grid` must be a wfr_cvx.Grid, got {type(grid).__name__}")
    lam = check_lam(lam)
    rho1 = as_allocation(rho1, grid, "rho1")
    endpoint_tol = nonnegative_scalar(endpoint_tol, "endpoint_tol")
    action_tol = real_scalar(action_tol, "action_tol")
    consistency_tol = nonnegative_scalar(consistency_tol, "consistency_tol")
    if rho1.sum() <= 0:
        raise ValueError("`rho1` must hold some mass")
    if exact is None:
        exact = solve(rho0, rho1, grid, lam, metric=metric)
    elif not isinstance(exact, Geodesic) or exact.grid != grid:
        raise ValueError("`exact` must be the Geodesic solved on `grid` from `rho0` to `rho1`")
    elif not (np.allclose(exact.rho[0], as_allocation(rho0, grid, "rho0"))
              and np.allclose(exact.rho[-1], rho1) and math.isclose(exact.lam, lam)):
        raise ValueError("`exact` does not join `rho0` to `rho1` at `lam`")
    if isinstance(model, PolicyModel):
        path = model.rollout(rho0, grid, lam=lam, risk_budget=risk_budget, scheme=scheme)
    else:
        path = rollout_policy(model, rho0, grid, lam=lam, risk_budget=risk_budget,
                              scheme=scheme)
    rolled = path.as_geodesic(exact.metric)
    cert = certificate(rolled, tol=consistency_tol)
    return Audit(path=path, rolled=rolled, exact=exact, rho1=rho1, cert=cert,
                 endpoint_tol=endpoint_tol, action_tol=action_tol)
