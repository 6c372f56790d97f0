"""Conformance of every backend of the registry: the same small cases, each within the
tolerance its record declares.  A new backend is tested by adding its record."""

import numpy as np
import pytest

import wfr_cvx
from wfr_cvx import Grid, InfeasibleError
from wfr_cvx.assembly import DEFAULT_SCHEME
from wfr_cvx.backends import REGISTRY, Status, get_backend
from wfr_cvx.closed_form import hellinger2
from wfr_cvx.constraints import MaxReactionRate, MaxVelocity, TotalMass, TradingWindow

BACKENDS = sorted(REGISTRY)

#: The scheme each backend's 1-D cases run: "dr" with the centred default stops up to 3e-4
#: off on 1-D grids and says so (test_dr.test_centred_scheme_on_1d_warns)
SCHEME = {"dr": "power"}


def _scheme(name: str) -> str:
    return SCHEME.get(name, DEFAULT_SCHEME)


@pytest.fixture(scope="module")
def references():
    """The interior point's figures on the cases below (computed once)."""
    return {}


def _dirac_case():
    g = Grid(32, 8)
    return g, g.dirac(g.weights[9]), g.dirac(g.weights[19], mass=2.0), 0.5


def _reference(references, name, build, scheme):
    if (name, scheme) not in references:
        g, r0, r1, lam, kw = build()
        references[name, scheme] = wfr_cvx.geodesic(r0, r1, g, lam, backend="clarabel",
                                                     scheme=scheme, **kw).distance2
    return references[name, scheme]


@pytest.mark.parametrize("name", BACKENDS)
def test_the_record_is_complete(name):
    backend = REGISTRY[name]
    assert backend.name == name and backend.kind in ("conic", "model")
    assert callable(backend.function())
    assert backend.start is None or callable(backend.start_function())
    assert 0 < backend.agreement_rtol <= 1e-4 and backend.bytes_per_cell_step > 0
    assert get_backend(name) is backend
    with pytest.raises(ValueError, match="unknown solver option"):
        backend.check_options({"no_such_option": 1})


@pytest.mark.parametrize("name", BACKENDS)
def test_a_regime_switch_is_exact(name):
    """Pure reaction: 4 lam^2 (m0 + m1) at any number of steps (the power mean)."""
    g = Grid(16, 4, regimes=2)
    geo = wfr_cvx.geodesic(g.dirac(0.5, 0), g.dirac(0.5, 1, mass=0.5), g, 0.25, backend=name,
                           scheme=_scheme(name))
    assert geo.status == Status.SOLVED and geo.backend == name
    assert geo.distance2 == pytest.approx(4 * 0.25**2 * 1.5,
                                          rel=REGISTRY[name].agreement_rtol)


@pytest.mark.parametrize("name", BACKENDS)
def test_diracs_agree_with_the_interior_point(name, references):
    def build():
        g, r0, r1, lam = _dirac_case()
        return g, r0, r1, lam, {}

    g, r0, r1, lam = _dirac_case()
    geo = wfr_cvx.geodesic(r0, r1, g, lam, backend=name, scheme=_scheme(name))
    reference = _reference(references, "diracs", build, _scheme(name))
    assert geo.distance2 == pytest.approx(reference, rel=REGISTRY[name].agreement_rtol)
    assert 0 < geo.distance2 <= hellinger2(r0, r1, lam)


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("constraints", [[TradingWindow([2, 3], reaction=False)],
                                         [TotalMass()], [MaxReactionRate(0.5)]],
                         ids=["trading_window", "total_mass", "max_reaction_rate"])
def test_a_constrained_case_agrees(name, constraints, references):
    def build():
        g = Grid(24, 8)
        return g, g.bump(0.3, 0.06), g.bump(0.6, 0.06), 0.4, {"constraints": constraints}

    g, r0, r1, lam, kw = build()
    geo = wfr_cvx.geodesic(r0, r1, g, lam, backend=name, scheme=_scheme(name), **kw)
    reference = _reference(references, repr(constraints), build, _scheme(name))
    assert geo.distance2 == pytest.approx(reference, rel=REGISTRY[name].agreement_rtol)
    if isinstance(constraints[0], TotalMass):
        np.testing.assert_allclose(geo.mass().sum(axis=1), 1.0, rtol=1e-4)


@pytest.mark.parametrize("name", [n for n in BACKENDS if REGISTRY[n].certifies_infeasibility])
@pytest.mark.parametrize("constraints", [[TradingWindow(range(8), reaction=False)],
                                         [MaxVelocity(1e-3), MaxReactionRate(0)]],
                         ids=["market_closed", "too_slow_no_reaction"])
def test_contradictory_constraints_are_certified_infeasible(name, constraints):
    """Different places, no reaction and no (or too little) transport."""
    g = Grid(24, 8)
    with pytest.raises(InfeasibleError) as info:
        wfr_cvx.geodesic(g.bump(0.3, 0.06), g.bump(0.6, 0.06), g, 0.4, backend=name,
                         constraints=constraints)
    assert info.value.backend == name
    assert info.value.status in ("PrimalInfeasible", "AlmostPrimalInfeasible")


def test_one_step_between_disjoint_ends_on_the_cvxpy_backend():
    """Before: no cell has a geometric-mean cone (every step has a zero data level), and
    the cvxpy formulation stacked an empty list (cvxpy's ValueError from vstack)."""
    g = wfr_cvx.Grid(8, 1)
    a, b = g.dirac(0.25), g.dirac(0.75)
    direct = wfr_cvx.geodesic(a, b, g, 0.3, backend="clarabel").distance2
    assert wfr_cvx.geodesic(a, b, g, 0.3, backend="cvxpy").distance2 == pytest.approx(
        direct, rel=1e-6)
    m = wfr_cvx.model(a, b, g, 0.3)
    m.problem.solve()
    assert m.problem.value == pytest.approx(direct, rel=1e-6)
