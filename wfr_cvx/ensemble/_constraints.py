r"""Constraints of an ensemble geodesic (``constraints=`` of :func:`geodesic`).

* :class:`~wfr_cvx.constraints.TotalMass` ``()``: probability paths.  The total mass stays
  that of the (equal-mass) endpoints and the distance is the spherical
  Hellinger-Kantorovich distance (Laschos & Mielke 2019), see :mod:`._path`.
* :class:`~wfr_cvx.constraints.MaxTravel` ``(distance)``: a turnover limit per rebalance.
  No atom is transported farther than ``distance`` in the metric :math:`G`; pairs beyond it are
  pruned, so their mass can only be destroyed and re-created.  The static problem
  restricted to the pairs within the cap is a lower bound of every capped path (a
  particle that travels along a curve of length :math:`\ell` pays at least the two-point
  cost at angle :math:`\ell / 2\lambda`) and the explicit path attains it, each atom
  moving along a segment no longer than the cap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..constraints import MaxTravel, TotalMass, constraint_items

__all__ = ["MaxTravel", "TotalMass", "EnsembleConstraints", "check_endpoints",
           "compile_constraints"]

#: The relative difference of the endpoints' total masses that TotalMass accepts as
#: rounding.
TOTAL_MASS_RTOL = 1e-9


@dataclass(frozen=True)
class EnsembleConstraints:
    """What the solver needs from a constraint list.

    Attributes
    ----------
    max_travel : float
        The smallest :class:`MaxTravel` cap (``inf`` when none).
    total_mass : bool
        Whether :class:`~wfr_cvx.constraints.TotalMass` was given.
    constraints : tuple
        The constraint objects, for messages and the result.
    """

    max_travel: float = math.inf
    total_mass: bool = False
    constraints: tuple = ()


def compile_constraints(constraints) -> EnsembleConstraints:
    """Validate ``constraints=``: a sequence of :class:`MaxTravel` and
    :class:`~wfr_cvx.constraints.TotalMass` objects.

    Raises TypeError for anything else, naming the object (the grid constraints
    ``MaxVelocity``, ``TradingWindow`` and ``MaxReactionRate`` have no meaning between
    atoms: the message says so).
    """
    items = constraint_items(constraints)
    max_travel, total_mass = math.inf, False
    for item in items:
        if isinstance(item, MaxTravel):
            max_travel = min(max_travel, item.distance)
        elif isinstance(item, TotalMass):
            total_mass = True
        else:
            raise TypeError(
                f"`constraints` holds {item!r} ({type(item).__name__}); ensemble geodesics "
                f"take MaxTravel and TotalMass (the grid constraints of wfr_cvx.constraints "
                f"act on faces and time steps, which atoms do not have)")
    return EnsembleConstraints(max_travel, total_mass, items)


def check_endpoints(plan: EnsembleConstraints, aligned) -> None:
    """Refuse endpoints the constraints cannot join: under TotalMass, ensembles whose
    total masses differ by more than :data:`TOTAL_MASS_RTOL` (ValueError naming both)."""
    if plan.total_mass:
        m0, m1 = float(aligned.a.sum()), float(aligned.b.sum())
        if abs(m0 - m1) > TOTAL_MASS_RTOL * max(m0, m1):
            raise ValueError(f"`constraints` holds TotalMass() but the endpoints have "
                             f"different total mass: e0 {m0:.12g}, e1 {m1:.12g}")
