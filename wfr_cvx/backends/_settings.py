"""The settings each backend accepts (typed, range-checked) and wfr_cvx's defaults for them.

Kept apart from the solver modules so that the registry (:mod:`wfr_cvx.backends`) can
validate options without importing a solver.  The measurements behind the defaults are in
``benchmarks/TUNING.md``.
"""

from __future__ import annotations

import math

from ._options import choice, flag, int_list, integer, real, text

__all__ = ["CLARABEL_OPTIONS", "CLARABEL_DEFAULTS", "SCS_OPTIONS", "SCS_DEFAULTS",
           "DR_OPTIONS", "DR_DEFAULTS"]


def _table(*options):
    return {option.name: option for option in options}


#: Clarabel's settings (``clarabel.DefaultSettings``; the "clarabel" and "cvxpy" backends).
#: Clarabel's own wrapper raises OverflowError on a negative ``max_iter`` and accepts a
#: negative tolerance, hence the ranges.
CLARABEL_OPTIONS = _table(
    integer("max_iter", 1, doc="interior-point iterations"),
    real("time_limit", allow_inf=True, doc="seconds (inf: none)"),
    flag("verbose"),
    real("max_step_fraction", 0.0, 1.0),
    real("tol_gap_abs"), real("tol_gap_rel"), real("tol_feas"), real("tol_infeas_abs"),
    real("tol_infeas_rel"), real("tol_ktratio"),
    real("reduced_tol_gap_abs"), real("reduced_tol_gap_rel"), real("reduced_tol_feas"),
    real("reduced_tol_infeas_abs"), real("reduced_tol_infeas_rel"),
    real("reduced_tol_ktratio"),
    flag("equilibrate_enable"), integer("equilibrate_max_iter", 0),
    real("equilibrate_min_scaling"), real("equilibrate_max_scaling", allow_inf=True),
    real("linesearch_backtrack_step", 0.0, 1.0, high_open=True),
    real("min_switch_step_length", 0.0, 1.0), real("min_terminate_step_length", 0.0, 1.0),
    integer("max_threads", 0, doc="0: Clarabel chooses"),
    flag("direct_kkt_solver"),
    choice("direct_solve_method", ("auto", "qdldl", "faer", "mkl", "panua")),
    flag("static_regularization_enable"), real("static_regularization_constant"),
    real("static_regularization_proportional", 0.0, low_open=False),
    flag("dynamic_regularization_enable"), real("dynamic_regularization_eps"),
    real("dynamic_regularization_delta"),
    flag("iterative_refinement_enable"), real("iterative_refinement_reltol"),
    real("iterative_refinement_abstol"), integer("iterative_refinement_max_iter", 0),
    real("iterative_refinement_stop_ratio"),
    flag("presolve_enable"), flag("input_sparse_dropzeros"),
    flag("chordal_decomposition_enable"),
    choice("chordal_decomposition_merge_method", ("clique_graph", "parent_child", "none")),
    flag("chordal_decomposition_compact"), flag("chordal_decomposition_complete_dual"),
    int_list("pardiso_iparm"), flag("pardiso_verbose"),
)

#: wfr_cvx's Clarabel defaults, applied before the user's options: the supernodal faer
#: factorisation on one thread (the regimes' independent blocks run side by side instead).
CLARABEL_DEFAULTS = {"verbose": False, "direct_solve_method": "faer", "max_threads": 1}

#: Anderson memory bound (a negative lookback selects type-I acceleration).
_ANDERSON_MAX = 1000

#: Keyword settings of ``scs.SCS`` (SCS 3).  ``linear_solver`` is the Python wrapper's
#: choice of linear-system backend.
SCS_OPTIONS = _table(
    flag("verbose"), flag("normalize"), real("scale"), flag("adaptive_scale"),
    flag("adaptive_diag_scale"), real("rho_x"), real("alpha", 0.0, 2.0, high_open=True),
    integer("max_iters", 1), real("time_limit_secs", 0.0, low_open=False),
    real("eps_abs", 0.0, low_open=False), real("eps_rel", 0.0, low_open=False),
    real("eps_infeas"), integer("acceleration_lookback", -_ANDERSON_MAX, _ANDERSON_MAX),
    integer("acceleration_interval", 1), flag("acceleration_type_1"),
    real("acceleration_regularization", 0.0, low_open=False),
    real("acceleration_relaxation", 0.0, 1.0, low_open=False),
    choice("linear_solver", ("auto", "qdldl", "cpu_indirect", "mkl", "accelerate",
                             "cpu_dense", "gpu_indirect", "cudss")),
    text("write_data_filename"), text("log_csv_filename"),
)

#: wfr_cvx's SCS defaults: tolerances 1e-6 (SCS's infinity-norm tests scale with the
#: number of unknowns; at 1e-5 a solve stopped "solved" 6 % off), over-relaxation 1.8 and
#: a small dual scale (fewer iterations on the test cases), the bundled QDLDL.
SCS_DEFAULTS = {
    "verbose": False,  # SCS prints by default
    "eps_abs": 1e-6,
    "eps_rel": 1e-6,
    "alpha": 1.8,
    "scale": 1e-3,
    "max_iters": 100_000,
    "linear_solver": "qdldl",
}

#: The settings of the first-order backend "dr" (:mod:`wfr_cvx.backends.dr`).
DR_OPTIONS = _table(
    real("eps", 0.0, 1.0, high_open=True,
         doc="relative primal residual and objective move (1 or more accepts any iterate)"),
    real("eps_cost", 0.0, 1.0, high_open=True,
         doc="estimated remaining relative error of the objective"),
    integer("max_iter", 1), real("time_limit", allow_inf=True, doc="seconds (inf: none)"),
    real("sigma", doc="penalty scale"), real("alpha", 0.0, 2.0, high_open=True),
    integer("cg_iters", 1), real("floor"), real("reaction_cap"), integer("check_every", 1),
    integer("refit_first", 0, doc="0: never refit the penalty"),
    choice("coarse_start", ("auto",), or_bool=True), integer("threads", 1), flag("verbose"),
    real("eps_infeas", 0.0, 1.0, doc="tolerance of the infeasibility certificate"),
    choice("progress", ("auto",), or_bool=True,
           doc="a progress bar on stderr; auto: when stderr is a terminal"),
)

#: Defaults of "dr"; what each does is in :mod:`wfr_cvx.backends.dr`.
DR_DEFAULTS = {
    "eps": 1e-5,
    "eps_cost": 3e-5,
    "max_iter": 20_000,
    "time_limit": math.inf,
    "sigma": 0.1,
    "alpha": 1.6,
    "cg_iters": 5,
    "floor": 1e-6,
    "reaction_cap": 300.0,
    "check_every": 50,
    "refit_first": 100,
    "coarse_start": "auto",
    "threads": 2,
    "verbose": False,
    "eps_infeas": 1e-2,
    "progress": "auto",
}
