"""Backend "scs" (SCS, Douglas-Rachford splitting) on the same discretisation as "clarabel".

Both backends solve the identical assembled cone program, so their agreement measures the
first-order solver's error only; 1e-4 relative is what the default tolerances are tuned
for (see wfr_cvx._scs.DEFAULTS).
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import wfr_cvx
from wfr_cvx import Grid, SolverError
from wfr_cvx.backends import ConeBlock
from wfr_cvx.backends._scs import _permute_rows, scs_cones
from wfr_cvx.closed_form import w2_squared_1d
from wfr_cvx.constraints import MaxVelocity, TotalMass

AGREE = 1e-4  # scs against clarabel, relative on d^2
# The Dirac and regime-switch closed forms are checked for both first-order backends in
# tests/test_dr.py.


def _both(r0, r1, g, lam, **kw):
    return (wfr_cvx.geodesic(r0, r1, g, lam, **kw),
            wfr_cvx.geodesic(r0, r1, g, lam, backend="scs", **kw))


def test_rows_go_to_scs_cone_order():
    """Blocks in any order -> zero, nonneg, then the SOCs in their row order (q in kind)."""
    cones = [ConeBlock.soc(3, 2), ConeBlock.nonneg(3), ConeBlock.zero(1), ConeBlock.soc(4, 1),
             ConeBlock.nonneg(2), ConeBlock.zero(0), ConeBlock.soc(3, 1)]
    perm, cone = scs_cones(cones)
    expected = [9, 6, 7, 8, 14, 15, *range(6), 10, 11, 12, 13, 16, 17, 18]
    np.testing.assert_array_equal(perm, expected)
    assert cone == {"z": 1, "l": 5, "q": [3, 3, 4, 3]}
    A = sp.random(19, 7, density=0.4, format="csc", random_state=0)
    np.testing.assert_array_equal(_permute_rows(A, perm).toarray(), A.toarray()[perm])
    with pytest.raises(ValueError, match="cone kind must be one of"):
        ConeBlock("psd", 3, 1)


def test_large_lam_is_w2():
    """lam = 20 (reaction 6,400 times dearer per unit than transport per step)."""
    g = Grid(64, 16)
    r0, r1 = g.bump(0.3, 0.05), g.bump(0.6, 0.05)
    geo = wfr_cvx.geodesic(r0, r1, g, 20.0, backend="scs")
    assert geo.distance2 == pytest.approx(w2_squared_1d(r0, r1, g), rel=0.01)


def test_large_lam_solved_is_within_the_agreement():
    """Before: "Solved" 2.0e-4 above the interior point's d^2 (32 x 8: 1.6e-4), no
    warning.  At lam = 20 the reaction epigraphs (worth lam^2 / dt each) meet their cones
    to SCS's tolerance, so steps where reaction costs ~0 summed to +-1e-4 of d^2, and the
    negative ones, clipped at 0, were added to d^2; SCS's objective is 3.3e-5 off."""
    g = Grid(16, 6)
    r0, r1 = g.bump(0.35, 0.08), g.bump(0.6, 0.08)
    with warnings.catch_warnings():  # tolerances this tight end "AlmostSolved"
        warnings.simplefilter("ignore", wfr_cvx.InaccurateSolutionWarning)
        ref = wfr_cvx.geodesic(r0, r1, g, 20.0, tol_gap_rel=1e-10, tol_gap_abs=1e-10,
                               tol_feas=1e-10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        geo = wfr_cvx.geodesic(r0, r1, g, 20.0, backend="scs")
    assert geo.status == "Solved"
    assert not [w for w in caught if issubclass(w.category, wfr_cvx.InaccurateSolutionWarning)]
    assert geo.distance2 == pytest.approx(ref.distance2, rel=AGREE)
    assert geo.transport_per_step.min() >= 0 and geo.reaction_per_step.min() >= 0


def _masked():
    """test_constraints' binding band: the mass cannot cross it, so it teleports.

    Each bump is cut to its own side of the band.  With the Gaussian tails of 1e-16 to
    1e-10 of the peak left on the far side, the interior point does not mind but SCS
    stopped at 100,000 iterations ("AlmostSolved", d^2 3e-5 off; 1.5e-4 with width 0.06).
    """
    mask = np.ones(32, dtype=bool)
    mask[14:18] = False
    g = Grid(32, 8, mask=mask)
    r0, r1 = g.bump(0.3, 0.04), g.bump(0.7, 0.04)
    r0[0, 14:], r1[0, :18] = 0.0, 0.0
    return g, r0, r1, 0.5, {}


def _two_regimes():
    g = Grid(32, 8, regimes=2)
    r0 = g.bump(0.3, 0.08, 0) + g.bump(0.6, 0.05, 1, mass=0.5)
    r1 = g.bump(0.5, 0.06, 0, mass=0.7) + g.bump(0.4, 0.08, 1)
    return g, r0, r1, 0.3, {}


def _bumps(mass=1.5, **kw):
    g = Grid(48, 12)
    return g, g.bump(0.3, 0.05), g.bump(0.5, 0.05, mass=mass), 0.2, kw


def _simplex():
    """Two weight axes: transport cones are 4-dimensional ("soc4")."""
    g = Grid.simplex(12, 6)
    return g, g.bump((0.2, 0.3), 0.08), g.bump((0.4, 0.2), 0.08, mass=1.3), 0.3, {}


CASES = {
    "transport+reaction": _bumps,
    "two regimes": _two_regimes,
    "mask": _masked,
    "max velocity": lambda: _bumps(constraints=[MaxVelocity(0.1)]),
    "total mass": lambda: _bumps(mass=1.0, constraints=[TotalMass()]),
    "simplex": _simplex,
}


@pytest.mark.parametrize("case", list(CASES))
def test_agrees_with_clarabel(case):
    g, r0, r1, lam, kw = CASES[case]()
    ref, dr = _both(r0, r1, g, lam, **kw)
    assert dr.status == "Solved"
    assert dr.distance2 == pytest.approx(ref.distance2, rel=AGREE)
    # the path itself: mass per level agrees to the solver tolerance
    levels = dr.rho.shape[0]
    np.testing.assert_allclose(dr.rho.reshape(levels, -1).sum(1),
                               ref.rho.reshape(levels, -1).sum(1), rtol=1e-4)
    # continuity holds by construction up to the clipping of negative round-off levels
    scale = r0.sum() / g.dt
    assert np.abs(dr.continuity_residual()).max() <= 1e-5 * scale


def test_unknown_option_names_the_valid_ones():
    g = Grid(16, 4)
    with pytest.raises(ValueError, match=r"\['max_iter'\] for backend 'scs'.*SCS.*max_iters"):
        wfr_cvx.geodesic(g.bump(0.3, 0.1), g.bump(0.6, 0.1), g, 0.3, backend="scs",
                         max_iter=10)  # Clarabel's name, not SCS's


def test_refused_value_is_a_value_error():
    g = Grid(16, 4)
    with pytest.raises(ValueError, match="alpha"):
        wfr_cvx.geodesic(g.bump(0.3, 0.1), g.bump(0.6, 0.1), g, 0.3, backend="scs",
                         alpha=3.0)


def test_iteration_limit_is_a_solver_error():
    g = Grid(16, 4)
    with pytest.raises(SolverError) as info:
        wfr_cvx.geodesic(g.bump(0.3, 0.1), g.bump(0.6, 0.1), g, 0.3, backend="scs",
                         max_iters=2)
    assert info.value.status == "MaxIterations" and info.value.backend == "scs"
    # the advice names SCS's own options, which the backend accepts
    assert "raise `max_iters` / `time_limit_secs`" in str(info.value)




@pytest.mark.parametrize("reported", ["DualInfeasible", "PrimalInfeasible",
                                      "AlmostDualInfeasible"])
def test_an_impossible_infeasibility_report_is_a_solver_failure(monkeypatch, reported):
    """Before: SCS's "DualInfeasible" on a near-identical pair raised InfeasibleError for a
    problem that is always feasible and bounded (the pure-reaction path; the action is
    >= 0).  Those ends are now answered in closed form, without SCS, so its report is
    forced here on ends that need a solve."""
    from wfr_cvx.backends import ConicResult, _scs

    def reports_infeasible(problem, options, start=None):
        return ConicResult(x=np.full(problem.A.shape[1], np.nan), status=reported,
                           iterations=7, setup_time=0.0, solve_time=0.0)

    monkeypatch.setattr(_scs, "solve_conic", reports_infeasible)
    g = wfr_cvx.Grid(32, 8)
    with pytest.raises(wfr_cvx.SolverError) as info:
        wfr_cvx.geodesic(g.bump(0.5, 0.05), 1.001 * g.bump(0.502, 0.05), g, 0.5,
                         backend="scs")
    assert not isinstance(info.value, wfr_cvx.InfeasibleError)
    assert info.value.status == reported and "which it cannot be" in str(info.value)


def test_an_unbounded_report_under_constraints_says_they_may_be_infeasible():
    """SCS reports "DualInfeasible" on a growth beyond a rate cap's reach; the message said
    a path is feasible, "which it cannot be".  With constraints it may not be: the error
    says so and points to clarabel, which certifies it (a SolverError, not an
    InfeasibleError, as SCS certified nothing)."""
    from wfr_cvx.constraints import MaxReactionRate

    s = Grid.simplex(10, 6)
    a = s.bump((0.3, 0.3), 0.1)
    with pytest.raises(SolverError) as info:
        wfr_cvx.geodesic(a, 1.002 * a, s, 0.3, constraints=[MaxReactionRate(0.0014)],
                         backend="scs")
    if info.value.status == "DualInfeasible":
        assert "may be infeasible" in str(info.value)
        assert "a path is feasible" not in str(info.value)
    assert not isinstance(info.value, wfr_cvx.InfeasibleError)
