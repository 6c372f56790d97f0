"""Bad input names the argument; a failed solve raises with its status."""

import numpy as np
import pytest

import wfr_cvx
from wfr_cvx import Grid, InaccurateSolutionWarning, SolverError


@pytest.fixture
def problem():
    # a move and a switch (a switch alone is the closed-form reaction path: no solve)
    g = Grid(16, 4, regimes=2)
    return g, g.bump(0.3, 0.05, 0), g.bump(0.6, 0.05, 0, mass=0.5) + g.bump(0.6, 0.05, 1,
                                                                             mass=0.5)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (dict(rho0=np.ones((16,))), r"`rho0` must have shape \(2, 16\)"),
        (dict(rho1=-np.ones((2, 16))), "`rho1` has 32 negative"),
        (dict(rho0=np.full((2, 16), np.nan)), "`rho0` has 32 non-finite"),
        (dict(lam=0.0), "`lam` must be finite and > 0"),
        (dict(lam=-1.0), "`lam`"),
        (dict(lam=np.inf), "`lam`"),
        (dict(metric=-1.0), "`metric` must be finite and > 0"),
        (dict(metric=np.ones(3)), "`metric` must be a scalar or have shape"),
        (dict(backend="gurobi"), r"`backend` must be one of \['auto', 'clarabel', 'cvxpy', "
                                 r"'dr', 'scs'\], got 'gurobi'"),
        (dict(scheme="geometric"), "`scheme`"),
        (dict(max_iters=5), r"unknown solver option\(s\) \['max_iters'\]"),
    ],
)
def test_bad_input(problem, change, match):
    g, r0, r1 = problem
    kwargs = dict(rho0=r0, rho1=r1, grid=g, lam=0.3)
    kwargs.update(change)
    with pytest.raises(ValueError, match=match):
        wfr_cvx.geodesic(**kwargs)


def test_wrong_types(problem):
    g, r0, r1 = problem
    with pytest.raises(TypeError, match="`grid`"):
        wfr_cvx.geodesic(r0, r1, (16, 4), 0.3)
    with pytest.raises(TypeError, match="`lam`"):
        wfr_cvx.geodesic(r0, r1, g, "big")


@pytest.mark.parametrize("backend", ["clarabel", "cvxpy"])
def test_failed_solve_raises_with_status(problem, backend):
    g, r0, r1 = problem
    with pytest.raises(SolverError) as info:
        wfr_cvx.geodesic(r0, r1, g, 0.3, backend=backend, max_iter=1)
    assert info.value.status == "MaxIterations"
    assert info.value.backend == backend
    # before: "the WFR solve did not converge" and nothing to do about it
    assert f"; {backend!r} used up its `max_iter`: raise it, and if its default ran out, " \
           "check lam" in str(info.value)


def test_inaccurate_warns(problem):
    g, r0, r1 = problem
    # reduced tolerances met but not the full ones: "AlmostSolved" -> warning, which says
    # how to check the figures (before: "figures may be less precise", and no more)
    with pytest.warns(InaccurateSolutionWarning, match=r"less precise: to check them, solve "
                      r"again with another backend or other tolerances \(`tol_gap_rel` / "
                      r"`tol_feas`\) and compare \(the README's 'Scheme and accuracy'\)"):
        geo = wfr_cvx.geodesic(r0, r1, g, 0.3, tol_gap_rel=1e-16, tol_gap_abs=1e-16,
                               tol_feas=1e-16, reduced_tol_gap_rel=1e-2,
                               reduced_tol_gap_abs=1e-2, reduced_tol_feas=1e-2,
                               max_iter=15)
    assert geo.status == "AlmostSolved"


def test_the_status_policy_knows_what_a_geodesic_cannot_be():
    from wfr_cvx.engine import check_status

    for status in ("PrimalInfeasible", "DualInfeasible"):
        with pytest.raises(wfr_cvx.InfeasibleError):
            check_status(status, "scs")  # nothing known: the solver's word
    with pytest.raises(wfr_cvx.SolverError, match="reported the problem unbounded") as info:
        check_status("DualInfeasible", "scs", bounded=True)
    assert not isinstance(info.value, wfr_cvx.InfeasibleError)
    with pytest.raises(wfr_cvx.SolverError, match="reported the problem infeasible") as info:
        check_status("AlmostPrimalInfeasible", "scs", feasible=True)
    assert not isinstance(info.value, wfr_cvx.InfeasibleError)
    with pytest.raises(wfr_cvx.InfeasibleError):  # constrained: it can be infeasible
        check_status("PrimalInfeasible", "clarabel", bounded=True)


def test_the_package_errors_survive_pickle_and_copy():
    """Before (a review): their keyword-only constructors made pickle.loads raise
    TypeError, so a process pool raising one broke (BrokenProcessPool) instead."""
    import copy
    import pickle

    from wfr_cvx.errors import ProblemTooLargeError, SolverError
    from wfr_cvx.problem_files import ProblemFileError, from_dict

    errors = [SolverError("stopped", status="MaxIterations", backend="dr"),
              wfr_cvx.InfeasibleError("none", status="PrimalInfeasible", backend="clarabel"),
              ProblemTooLargeError("big", needed_bytes=10, available_bytes=5),
              ProblemFileError("f.toml", "grid", "bad")]
    with pytest.raises(ProblemTooLargeError) as info:
        from_dict({"lam": 0.5, "grid": {"n_weights": 10**6, "n_steps": 10**4},
                   "rho0": {"diracs": [{"weight": 0.5}]},
                   "rho1": {"diracs": [{"weight": 0.5}]}}, name="big")
    errors.append(info.value)
    for error in errors:
        for back in (pickle.loads(pickle.dumps(error)), copy.copy(error)):
            assert type(back) is type(error) and str(back) == str(error)
            assert back.__dict__ == error.__dict__


def test_the_large_lam_hint_names_w2_squared_1d_only_where_it_computes_the_limit():
    """Before: every failed large-lam solve was pointed to w2_squared_1d, which is 1-D only
    and knows no metric (100x off under metric=100)."""
    from wfr_cvx.engine import _conditioning_hint
    from wfr_cvx.metric import check_metric

    line, simplex = Grid(32, 8), Grid.simplex(8, 4)

    def hint(grid, metric, lam=1e4):
        return _conditioning_hint(lam, check_metric(metric, grid), grid, grid.dx)

    assert hint(line, None).endswith("d^2 -> W2^2 for equal masses per regime "
                                     "(wfr_cvx.closed_form.w2_squared_1d)")
    assert hint(line, 100.0).endswith("(wfr_cvx.closed_form.w2_squared_1d times G = 100)")
    varying = hint(line, np.linspace(1.0, 2.0, 31))
    assert "in the metric G" in varying and "w2_squared_1d" not in varying
    assert hint(simplex, None, lam=1e3).endswith("d^2 -> W2^2 for equal masses per regime")
    assert hint(simplex, 4.0).endswith(", G = 4 times the Euclidean W2^2")
    for G in (np.diag([2.0, 1.0]), np.array([[2.0, 0.5], [0.5, 1.0]])):
        text = hint(simplex, G)
        assert "in the metric G" in text and "w2_squared_1d" not in text
    assert hint(line, None, lam=0.3) == ""
