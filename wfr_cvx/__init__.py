"""wfr_cvx: Wasserstein-Fisher-Rao geodesics of allocation distributions as sparse SOCPs.

An allocation is a measure over portfolio weights x market regimes; the WFR distance
prices rebalancing (transport along the weights) against regime switches (reaction).

The public names below are imported on first use (Scientific Python SPEC 1): ``import
wfr_cvx`` loads no solver, numba or pandas until something needs them.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: public name -> the module that defines it
_OBJECTS = {
    "Grid": "grid",
    "Geodesic": "result",
    "geodesic": "engine",
    "distance": "engine",
    "rebalance": "proximal",
    "Rebalance": "proximal",
    "model": "modelling",
    "Model": "modelling",
    "compare": "comparison",
    "load": "io",
    "MaxVelocity": "constraints",
    "TradingWindow": "constraints",
    "MaxReactionRate": "constraints",
    "TotalMass": "constraints",
    "MaxTravel": "constraints",
    "Ensemble": "ensemble",
    "EnsembleGeodesic": "ensemble",
    "crossover_scale": "finance.units",
    "lam_to_weights": "finance.units",
    "lam_to_dollars": "finance.units",
    "SolverError": "errors",
    "InfeasibleError": "errors",
    "ProblemTooLargeError": "errors",
    "InaccurateSolutionWarning": "errors",
    "InconsistentFileWarning": "errors",
    "UnitsWarning": "errors",
}

#: public sub-packages and modules
_MODULES = ("analysis", "assembly", "backends", "batch", "closed_form", "comparison",
            "constraints", "engine", "ensemble", "errors", "finance", "grid", "io", "learn",
            "metric", "modelling", "operators", "plots", "problem_files", "proximal", "result")

__all__ = sorted([*_OBJECTS, *_MODULES, "__version__"])


def __getattr__(name: str):
    if name in _OBJECTS:
        value = getattr(importlib.import_module(f".{_OBJECTS[name]}", __name__), name)
    elif name in _MODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later look-ups do not come here
    return value


def __dir__():
    return __all__
