"""Metric properties of the ensemble distance (hypothesis; a few derandomised examples by
default, 200 with HYPOTHESIS_PROFILE=thorough): symmetry, identity, the triangle
inequality, invariance under relabelling the atoms, 1-homogeneity in the masses, and the
certificate's lower bound."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wfr_cvx.ensemble import Ensemble, geodesic

RTOL = 1e-7


@st.composite
def ensembles(draw, count=1):
    """``count`` ensembles over the same 2 assets and regimes, and a lam."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    spread = draw(st.sampled_from([0.05, 0.5, 2.0]))   # against lam in [0.1, 1]
    out = []
    for _ in range(count):
        n = draw(st.integers(1, 6))
        out.append(Ensemble(rng.normal(scale=spread, size=(n, 2)), rng.uniform(0.1, 3.0, n),
                            rng.integers(0, 2, n), regimes=("on", "off")))
    lam = draw(st.floats(0.1, 1.0))
    return (*out, lam)


def _d(e0, e1, lam):
    geo = geodesic(e0, e1, lam)
    # the certificate before the result clips it at distance2 (which made this a tautology)
    assert 4 * lam**2 * geo._coupling.lower_bound <= geo.distance2 * (1 + 1e-9)
    return geo.distance


def _scale(e0, e1):
    """A natural size of d: 2 lam sqrt(total mass) is the teleport bound at lam = 1/2."""
    return np.sqrt(e0.total_mass + e1.total_mass)


@given(ensembles(count=2))
def test_symmetry(case):
    e0, e1, lam = case
    assert _d(e0, e1, lam) == pytest.approx(_d(e1, e0, lam), rel=RTOL,
                                            abs=RTOL * _scale(e0, e1))


@given(ensembles(count=1))
def test_identity(case):
    e0, lam = case
    assert _d(e0, e0, lam) <= 1e-6 * _scale(e0, e0)


@given(ensembles(count=3))
def test_triangle_inequality(case):
    e0, e1, e2, lam = case
    assert _d(e0, e2, lam) <= _d(e0, e1, lam) + _d(e1, e2, lam) + RTOL * _scale(e0, e2)


@given(ensembles(count=2), st.integers(0, 2**32 - 1))
def test_relabelling_the_atoms_changes_nothing(case, seed):
    e0, e1, lam = case
    order = np.random.default_rng(seed).permutation(e0.n_atoms)
    shuffled = Ensemble(e0.weights[order], e0.mass[order], e0.regime[order],
                        regimes=e0.regimes)
    assert _d(shuffled, e1, lam) == pytest.approx(_d(e0, e1, lam), rel=RTOL,
                                                  abs=RTOL * _scale(e0, e1))


@given(ensembles(count=2), st.floats(1e-3, 1e3))
def test_squared_distance_is_one_homogeneous_in_mass(case, factor):
    e0, e1, lam = case
    scaled = [Ensemble(e.weights, factor * e.mass, e.regime, regimes=e.regimes)
              for e in (e0, e1)]
    assert geodesic(*scaled, lam).distance2 == pytest.approx(
        factor * geodesic(e0, e1, lam).distance2, rel=1e-6,
        abs=1e-12 * factor * _scale(e0, e1) ** 2)
