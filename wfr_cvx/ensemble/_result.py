"""The :class:`EnsembleGeodesic` result: a solved semi-coupling and its explicit path."""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from ._coupling import Coupling, pair_cost
from ._ensemble import Aligned, Ensemble
from ._path import (
    CREATED,
    DESTROYED,
    TRANSPORT,
    Pieces,
    Spherical,
    hk_transport_reaction,
    spherical,
    state,
)

__all__ = ["EnsembleGeodesic", "DEFAULT_TIMES"]

#: Times of :meth:`EnsembleGeodesic.to_frame` and :meth:`~EnsembleGeodesic.mass` by default.
DEFAULT_TIMES = np.arange(11) / 10  # each the float nearest k / 10, so .loc[0.3] finds it

_KINDS = np.array(["transport", "destroyed", "created"], dtype=object)


def _time(value, name: str = "s") -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number in [0, 1], got {value!r}")
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"`{name}` must lie in [0, 1], got {value}")
    return value


def _times(times) -> np.ndarray:
    if times is None:
        return DEFAULT_TIMES
    values = np.atleast_1d(np.asarray(times))
    if values.ndim != 1:
        raise ValueError(f"`times` must be a sequence of path times, got shape {values.shape}")
    return np.array([_time(t, "times") for t in values.tolist()])


class EnsembleGeodesic:
    r"""The WFR geodesic between two ensembles (scipy-style result object).

    Attributes
    ----------
    distance2 : float
        Squared distance: the action of the explicit path, ``transport_cost +
        reaction_cost``; with :class:`~wfr_cvx.constraints.TotalMass`, the spherical
        :math:`d_{SHK}^2`.
    distance : float
    transport_cost, reaction_cost : float
        :math:`\int\sum m|\dot x|_G^2\,ds` and :math:`\lambda^2\int\sum\dot m^2/m\,ds` of
        the explicit path (:mod:`wfr_cvx.ensemble._path`).
    hk_distance2 : float
        The unconstrained (Hellinger-Kantorovich) squared distance of the same plan; equal
        to ``distance2`` without TotalMass.
    plan : pandas.DataFrame
        One row per pair carrying mass: ``i``, ``j`` (atom positions in ``e0``, ``e1``),
        ``regime``, ``mass_out`` (:math:`A`), ``mass_in`` (:math:`B`), ``distance``
        (:math:`|x_i - y_j|_G`), ``cost`` (:math:`4\lambda^2(A + B - 2\sqrt{AB}\cos\theta)`).
    destroyed, created : pandas.Series
        :math:`\sigma` per atom of ``e0``, :math:`\tau` per atom of ``e1`` (indexed by their
        ``atoms``).  ``plan.cost.sum() + 4 lam^2 (destroyed.sum() + created.sum())`` is
        ``hk_distance2``.
    pieces : pandas.DataFrame
        The atoms of the path (index ``piece``, the atom labels of :meth:`at`): ``kind``
        (transport, destroyed, created), ``i``, ``j`` (-1 where none), ``regime``.
    n_pairs_kept : int
        Candidate pairs in the SOCP: same regime, closer than :math:`\pi\lambda` (and
        within a MaxTravel cap).
    lower_bound, gap : float
        A certified lower bound of ``distance2`` -- the larger of the dual bound (the
        solver's multipliers made feasible for every pair,
        :mod:`wfr_cvx.ensemble._coupling`) and the total-mass bound
        ``4 lam^2 (sqrt(m0) - sqrt(m1))^2`` summed over the regimes -- and the relative gap
        ``(distance2 - lower_bound) / distance2``: how far from optimal the plan can be.
        Without a solve the bound is exact when nothing is in reach (pure reaction) or a
        feasible point attains the total-mass bound (a book resized in place); for a
        feasible point costing at most 1e-12 of ``4 lam^2`` times the mass it is the dual
        bound of that point made exact on its support, or the total-mass bound, and the
        status "Solved" when it certifies the point, else "AlmostSolved" (gap 1 between
        equal total masses).
    status : str
        "Solved" (by the solver, or certified by the gap), or "AlmostSolved" after a
        warning (also when the solver said "Solved" but the gap exceeds 1e-6); failures
        raise SolverError, as does a "Solved" whose gap exceeds 1e-2.
    solver_status : str
        The solver's own status for the last working-set solve.
    n_pairs_solved, rounds : int
        Pairs in the last working set, and the number of working-set solves.
    iterations : int
    assembly_time, setup_time, solve_time, certify_time : float
        Seconds: pair search and assembly; that plus the solver's set-up (cvxpy: its
        canonicalisation); the solver's iterations; the dual bounds and the working set's
        dual check.
    lam, metric, backend, constraints
        The inputs that defined the problem (``metric`` validated: None, a float, an
        ``(n, n)`` array or a dict per regime).
    e0, e1 : Ensemble
        The endpoints, as given.
    assets, regimes : tuple of str
        ``e0``'s asset order and the union of the regime labels.
    n_atoms : tuple of int
        The atoms of ``e0`` and ``e1``.
    """

    def __init__(self, *, e0: Ensemble, e1: Ensemble, aligned: Aligned, coupling: Coupling,
                 lam: float, metric, backend: str, constraints: tuple, total_mass: bool):
        self.lam = float(lam)
        self.metric = metric
        self.backend = backend
        self.constraints = tuple(constraints)
        self.e0, self.e1 = e0, e1
        self._coupling = coupling  # what the solver found: all that save() writes of it
        self.assets, self.regimes = aligned.assets, aligned.regimes
        self.n_atoms = (e0.n_atoms, e1.n_atoms)
        self.status = coupling.status
        self.solver_status = str(coupling.solver_status)
        self.rounds = int(coupling.rounds)
        self.n_pairs_solved = int(coupling.n_pairs_solved)
        self.iterations = int(coupling.iterations)
        self.assembly_time = float(coupling.assembly_time)
        self.setup_time = float(coupling.setup_time)
        self.solve_time = float(coupling.solve_time)
        self.certify_time = float(coupling.certify_time)
        self.n_pairs_kept = int(coupling.n_pairs_kept)
        self._domain = e0.domain if _same_domain(e0, e1) else None
        self._pieces = _pieces(coupling, aligned, self.lam)
        transport, reaction = hk_transport_reaction(self._pieces, self.lam)
        hk_transport, hk_reaction = float(transport.sum()), float(reaction.sum())
        self.hk_distance2 = hk_transport + hk_reaction
        scale = 4.0 * self.lam**2
        if total_mass:
            mass = float(aligned.a.sum())
            self._sphere = Spherical.from_hk(coupling.reduced_cost(), mass)
            self.distance2 = self._sphere.distance2(self.lam)
            self.lower_bound = Spherical.from_hk(coupling.lower_bound, mass).distance2(
                self.lam)
            self.transport_cost = min(self._sphere.transport_factor() * hk_transport,
                                      self.distance2)
            self.reaction_cost = self.distance2 - self.transport_cost
        else:
            self._sphere = None
            self.transport_cost, self.reaction_cost = hk_transport, hk_reaction
            self.distance2 = hk_transport + hk_reaction
            self.lower_bound = scale * coupling.lower_bound
        self.lower_bound = float(min(self.lower_bound, self.distance2))
        pairs = coupling.pairs
        self.plan = pd.DataFrame({
            "i": pairs.src,
            "j": pairs.dst,
            "regime": np.asarray(self.regimes, dtype=object)[pairs.regime],
            "mass_out": coupling.mass_out,
            "mass_in": coupling.mass_in,
            "distance": pairs.distance,
            "cost": scale * pair_cost(coupling.mass_out, coupling.mass_in,
                                      coupling.one_minus_cos),
        })
        self.destroyed = pd.Series(coupling.destroyed, index=e0.atoms, name="destroyed")
        self.created = pd.Series(coupling.created, index=e1.atoms, name="created")
        pieces = self._pieces
        self.pieces = pd.DataFrame({
            "kind": _KINDS[pieces.kind],
            "i": pieces.source,
            "j": pieces.target,
            "regime": np.asarray(self.regimes, dtype=object)[pieces.regime],
        }, index=pd.RangeIndex(pieces.kind.size, name="piece"))

    # -- figures -----------------------------------------------------------------------
    @property
    def distance(self) -> float:
        return float(np.sqrt(max(self.distance2, 0.0)))

    @property
    def gap(self) -> float:
        """Certified relative gap ``(distance2 - lower_bound) / distance2`` (0 when
        ``distance2`` is 0)."""
        if self.distance2 <= 0:
            return 0.0
        return max(0.0, (self.distance2 - self.lower_bound) / self.distance2)

    @property
    def success(self) -> bool:
        return self.status == "Solved"

    def _state(self, s: float):
        if self._sphere is None:
            return state(self._pieces, s)
        return spherical(self._pieces, self._sphere, s)

    # -- the path ----------------------------------------------------------------------
    def at(self, s) -> Ensemble:
        """The ensemble at path time ``s`` in [0, 1]: one atom per piece of positive mass
        (atom labels: the ``piece`` ids of :attr:`pieces`, stable along the path).

        ``at(0)`` and ``at(1)`` are ``e0`` and ``e1`` as measures (atoms split into pieces:
        aggregate by ``pieces.i`` or ``pieces.j`` to recover them).
        """
        mass, position = self._state(_time(s))
        keep = np.flatnonzero(mass > 0)
        frame = pd.DataFrame(position[keep], columns=list(self.assets),
                             index=pd.Index(keep, name="piece"))
        # the regimes by label: an integer code could also be read as a label ("1")
        labels = np.asarray(self.regimes, dtype=object)[self._pieces.regime[keep]]
        return Ensemble(frame, mass[keep], labels, regimes=self.regimes,
                        domain=_domain_argument(self._domain))

    def path(self, times) -> list[Ensemble]:
        """:meth:`at` for each of ``times``."""
        return [self.at(t) for t in _times(times)]

    def to_frame(self, times=None) -> pd.DataFrame:
        """Tidy table of the path: one row per (time, piece of positive mass).

        Columns ``time, atom, regime, mass`` and one per asset; ``times`` default to
        0, 0.1, ..., 1.
        """
        frames = []
        for t in _times(times):
            e = self.at(t)
            frame = pd.DataFrame(e.weights, columns=list(self.assets))
            frame.insert(0, "mass", e.mass)
            frame.insert(0, "regime", e.regime_labels)
            frame.insert(0, "atom", np.asarray(e.atoms))
            frame.insert(0, "time", t)
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    def mass(self, times=None) -> pd.DataFrame:
        """Total mass per regime along the path (index ``time``, one column per regime)."""
        times = _times(times)
        rows = [np.bincount(self._pieces.regime, self._state(t)[0],
                            minlength=len(self.regimes)) for t in times]
        return pd.DataFrame(np.array(rows).reshape(len(times), len(self.regimes)),
                            index=pd.Index(times, name="time"), columns=list(self.regimes))

    # -- outputs -----------------------------------------------------------------------
    def plot(self, **kwargs):
        """A matplotlib Figure of the path: the atoms as points sized by mass, on the
        simplex of three assets or in the first two principal directions (see
        :func:`wfr_cvx.plots.plot_ensemble`; keywords ``times``, ``assets``)."""
        from ..plots import plot_ensemble

        return plot_ensemble(self, **kwargs)

    def save(self, path):
        """Write the result to ``path`` (an ``.npz`` archive with a JSON header, kind
        ``"ensemble"``, see :func:`wfr_cvx.io.save`); :func:`wfr_cvx.load` reads it back
        equal in every field.  Returns the path.

        The atoms' labels (each ensemble's index) are saved as a range, as numbers (integer,
        unsigned or float) or as strings, under an index name that is a string, a number or
        None; other labels (dates, mixed types, a MultiIndex) raise TypeError: label the
        portfolios by text first (``weights.index = weights.index.astype(str)`` before
        building the :class:`Ensemble`)."""
        from ..io import save

        return save(self, path)

    def __repr__(self) -> str:
        return (f"EnsembleGeodesic(distance2={self.distance2:.6g}, "
                f"transport={self.transport_cost:.6g}, reaction={self.reaction_cost:.6g}, "
                f"pairs={len(self.plan)}/{self.n_pairs_kept} kept, status={self.status!r}, "
                f"iterations={self.iterations}, lam={self.lam:g}, backend={self.backend!r})")


def _same_domain(e0, e1) -> bool:
    """Whether the two ensembles' domains are one: a box's bounds compared asset by asset
    (``e1``'s in ``e0``'s asset order), not by position."""
    d0, d1 = e0.domain, e1.domain
    if d0 is None or d1 is None or isinstance(d0, str) or isinstance(d1, str):
        return d0 == d1
    order = [e1.assets.index(asset) for asset in e0.assets]
    return all(np.array_equal(u, np.asarray(v)[order]) for u, v in zip(d0, d1, strict=True))


def _domain_argument(domain):
    return domain if domain is None or isinstance(domain, str) else tuple(domain)


def _pieces(coupling: Coupling, aligned: Aligned, lam: float) -> Pieces:
    """Transport pieces (the plan's pairs), then destroyed and created mass."""
    pairs = coupling.pairs
    gone = np.flatnonzero(coupling.destroyed > 0)
    born = np.flatnonzero(coupling.created > 0)
    start = np.concatenate([aligned.x[pairs.src], aligned.x[gone], aligned.y[born]])
    end = np.concatenate([aligned.y[pairs.dst], aligned.x[gone], aligned.y[born]])
    none = np.full(1, -1, dtype=np.intp)
    return Pieces(
        start=start, end=end,
        alpha=np.sqrt(np.concatenate([coupling.mass_out, coupling.destroyed[gone],
                                      np.zeros(born.size)])),
        beta=np.sqrt(np.concatenate([coupling.mass_in, np.zeros(gone.size),
                                     coupling.created[born]])),
        theta=np.concatenate([pairs.distance / (2.0 * lam), np.zeros(gone.size + born.size)]),
        kind=np.concatenate([np.full(pairs.size, TRANSPORT), np.full(gone.size, DESTROYED),
                             np.full(born.size, CREATED)]).astype(np.intp),
        source=np.concatenate([pairs.src, gone, np.repeat(none, born.size)]),
        target=np.concatenate([pairs.dst, np.repeat(none, gone.size), born]),
        regime=np.concatenate([pairs.regime, aligned.k[gone], aligned.l[born]]).astype(
            np.intp),
    )
