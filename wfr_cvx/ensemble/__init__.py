r"""Mesh-free WFR geodesics between ensembles of portfolios (atoms), exact.

An :class:`Ensemble` is a finite measure :math:`\sum_i a_i\delta_{(x_i, k_i)}`: portfolio
weights :math:`x_i \in \mathbb R^n` (any number of assets, long-short allowed), masses
and market regimes.  Between two ensembles the squared Wasserstein-Fisher-Rao
(Hellinger-Kantorovich) distance, in wfr_cvx's convention

.. math::  d^2 = \inf\int_0^1\sum_k\int\big(|v|_G^2 + \lambda^2 r^2\big)\,d\rho_s\,ds,

is the value of a static semi-coupling problem, solved exactly as a sparse second-order
cone program (one three-dimensional cone per pair of atoms closer than
:math:`\pi\lambda`), and its geodesic is explicit: every pair's mass moves along a
straight segment while growing or shrinking, in closed form.

Layout (implementation in private modules, POT style)::

    _ensemble.py     Ensemble: validation, alignment by asset name and regime label
    _metric.py       the metric G per regime (validation, Cholesky)
    _pairs.py        candidate pairs within reach, blockwise
    _coupling.py     the semi-coupling SOCP: maths, scaling, assembly, cleaning
    _backends.py     Clarabel direct / through cvxpy, solver options, status policy
    _constraints.py  the constraint list (MaxTravel, TotalMass of wfr_cvx.constraints)
    _compare.py      compare(): the geodesic against the two-phase paths
    _path.py         the explicit path, its action split, the spherical projection
    _result.py       EnsembleGeodesic
    _geodesic.py     geodesic(), distance()

References
----------
* Chizat, Peyré, Schmitzer & Vialard, "Unbalanced optimal transport: dynamic and
  Kantorovich formulations", J. Funct. Anal. 274 (2018); "An interpolating distance
  between optimal transport and Fisher-Rao metrics", Found. Comput. Math. 18 (2018).
* Liero, Mielke & Savaré, "Optimal entropy-transport problems and a new
  Hellinger-Kantorovich distance between positive measures", Invent. Math. 211 (2018).
* Laschos & Mielke, "Geometric properties of cones with applications on the
  Hellinger-Kantorovich space, and a new distance on the space of probability
  measures", J. Funct. Anal. 276 (2019).

Examples
--------
>>> import numpy as np
>>> from wfr_cvx.ensemble import Ensemble, geodesic
>>> rng = np.random.default_rng(0)
>>> today = Ensemble(rng.dirichlet(np.ones(3), 20), assets=("IBM", "WMT", "SEHI"),
...                  regime=["on"] * 12 + ["off"] * 8, regimes=("on", "off"),
...                  domain="simplex")
>>> target = Ensemble(rng.dirichlet(np.ones(3), 30), assets=("IBM", "WMT", "SEHI"),
...                   regime="on", regimes=("on", "off"), domain="simplex")
>>> geo = geodesic(today, target, lam=0.3)
>>> geo.status, round(geo.transport_cost + geo.reaction_cost - geo.distance2, 12)
('Solved', 0.0)
>>> geo.mass(times=[0.0, 0.5, 1.0]).round(3).to_dict("list")   # the off regime dies out
{'on': [12.0, 19.535, 30.0], 'off': [8.0, 2.0, 0.0]}
"""

from ..constraints import MaxTravel, TotalMass
from ._backends import BACKENDS
from ._compare import balanced_transport2, compare
from ._ensemble import Ensemble
from ._geodesic import distance, geodesic
from ._result import EnsembleGeodesic

__all__ = ["BACKENDS", "Ensemble", "EnsembleGeodesic", "geodesic", "distance", "compare",
           "balanced_transport2", "MaxTravel", "TotalMass"]
