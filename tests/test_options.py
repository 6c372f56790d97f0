"""Solver options are checked up front, for every backend: name, type and range."""

import clarabel
import pytest

import wfr_cvx
from wfr_cvx import Grid
from wfr_cvx import problem_files as problems
from wfr_cvx.backends._clarabel import OPTIONS as CLARABEL
from wfr_cvx.backends._options import check_options
from wfr_cvx.backends._scs import DEFAULTS as SCS_DEFAULTS
from wfr_cvx.backends._scs import OPTIONS as SCS
from wfr_cvx.backends.dr import DEFAULTS as DR_DEFAULTS
from wfr_cvx.backends.dr import OPTIONS as DR


def _case():
    g = Grid(8, 2)
    return g.bump(0.3, 0.1), g.bump(0.6, 0.1), g


def test_every_clarabel_setting_has_a_checked_spec_and_its_default_passes():
    settings = clarabel.DefaultSettings()
    names = {n for n in dir(settings) if not n.startswith("_") and n != "default"}
    assert names == set(CLARABEL)
    for name, option in CLARABEL.items():
        option.check(getattr(settings, name), "clarabel")
    check_options(SCS_DEFAULTS, SCS, "scs", "SCS")
    check_options(DR_DEFAULTS, DR, "dr", "wfr_cvx's ADMM")


@pytest.mark.parametrize(
    ("backend", "options", "error", "match"),
    [
        # before: OverflowError from inside Clarabel's wrapper
        ("clarabel", {"max_iter": -1}, ValueError, "`max_iter` must be an integer >= 1 and <= "
                                                   "2,147,483,647 for backend 'clarabel', got "
                                                   "-1"),
        # the 32-bit bound is said (it read "an integer >= 1 ... got 3000000000")
        ("dr", {"max_iter": 3_000_000_000}, ValueError, "<= 2,147,483,647 for backend 'dr'"),
        # before: accepted
        ("clarabel", {"tol_gap_rel": -1}, ValueError, "`tol_gap_rel` .* finite number > 0"),
        ("clarabel", {"max_iter": 2.5}, TypeError, "`max_iter`"),
        ("clarabel", {"verbose": "yes"}, TypeError, "`verbose` .* a bool"),
        ("clarabel", {"direct_solve_method": "cholmod"}, ValueError, "one of"),
        ("clarabel", {"max_step_fraction": 1.5}, ValueError, "<= 1"),
        ("clarabel", {"time_limit": float("nan")}, ValueError, "`time_limit`"),
        ("clarabel", {"max_iter": 2**40}, ValueError, "`max_iter`"),
        ("cvxpy", {"tol_feas": 0.0}, ValueError, "`tol_feas` .* backend 'cvxpy'"),
        ("scs", {"max_iters": 0}, ValueError, "`max_iters` .* backend 'scs'"),
        ("scs", {"alpha": 2.0}, ValueError, "`alpha` .* < 2"),
        ("scs", {"linear_solver": "umfpack"}, ValueError, "`linear_solver`"),
        ("dr", {"eps": -1e-5}, ValueError,
         "`eps` must be a finite number > 0 and < 1 for backend 'dr'"),
        ("dr", {"threads": 0}, ValueError, "`threads`"),
        ("dr", {"coarse_start": "yes"}, ValueError, "a bool or one of \\['auto'\\]"),
        ("dr", {"eps_infeas": 2.0}, ValueError, "`eps_infeas`"),
        ("dr", {"eps": 10.0}, ValueError, "`eps` must be a finite number > 0 and < 1"),
        ("dr", {"eps_cost": 1.0}, ValueError, "`eps_cost` must be a finite number > 0 and < 1"),
        ("clarabel", {"max_iters": 10}, ValueError,
         "unknown solver option\\(s\\) \\['max_iters'\\]"),
    ],
)
def test_a_bad_option_is_refused_before_any_work(backend, options, error, match):
    r0, r1, g = _case()
    with pytest.raises(error, match=match):
        wfr_cvx.geodesic(r0, r1, g, 0.3, backend=backend, **options)


def test_good_options_are_normalised_and_used():
    import numpy as np

    r0, r1, g = _case()
    geo = wfr_cvx.geodesic(r0, r1, g, 0.3, max_iter=np.int64(60), tol_gap_rel=1e-9)
    assert geo.status == "Solved"
    with pytest.raises(wfr_cvx.SolverError) as info:
        wfr_cvx.geodesic(r0, r1, g, 0.3, max_iter=1)
    assert info.value.status == "MaxIterations"


def test_problem_file_solver_table_is_checked(tmp_path):
    """Before: `[solver] max_iter = -1` made `wfr-cvx solve` print a traceback."""
    text = ("lam = 0.5\n[grid]\nn_weights = 8\nn_steps = 2\n[rho0]\ndiracs = [{ weight = 0.5 "
            "}]\n[rho1]\ndiracs = [{ weight = 0.5, mass = 4.0 }]\n[solver]\nmax_iter = -1\n")
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(problems.ProblemFileError,
                       match=r"`solver.max_iter`: must be an integer >= 1 and <= "
                             r"2,147,483,647 for backend"):
        problems.load(path)
