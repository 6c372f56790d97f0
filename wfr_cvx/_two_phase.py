"""What the grid's and the ensembles' comparisons with the two-phase paths share: the
refusal of constraints, the price of two phases in sequence, the choice of the cheaper
intermediate allocation, and the table."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from .errors import InfeasibleError

__all__ = ["cheaper_intermediate", "concatenate_phases", "refuse_constraints",
           "two_phase_table"]


def refuse_constraints(options: dict, geodesic: str) -> None:
    """Drop an empty ``constraints`` from a comparison's ``options`` and refuse any other
    (TypeError): the two-phase paths are solved without constraints, so a constrained
    geodesic would not be comparable with them; ``geodesic`` names the function that
    solves one alone."""
    if "constraints" in options and not len(options["constraints"] or ()):
        options.pop("constraints")
    if "constraints" in options:
        raise TypeError(
            "compare() does not take `constraints`: it prices the geodesic against the "
            "two-phase paths, which are solved without constraints, so a constrained "
            f"geodesic would not be comparable with them (solve it alone with "
            f"{geodesic}(..., constraints=...))")


def concatenate_phases(first: tuple, second: tuple) -> tuple:
    """The two-phase row ``(d^2, transport, reaction, phase_a, phase_b)`` of two phases
    ``(d^2, transport, reaction)`` sharing [0, 1] in the best split: a phase run in time
    ``t = d / (d_a + d_b)`` costs ``1 / t`` times its unit-time action, so the path costs
    :math:`(d_a + d_b)^2`."""
    d_a, d_b = np.sqrt(max(first[0], 0.0)), np.sqrt(max(second[0], 0.0))
    total = d_a + d_b
    if total == 0:
        return 0.0, 0.0, 0.0, 0.0, 0.0
    scale_a = total / d_a if d_a > 0 else 0.0
    scale_b = total / d_b if d_b > 0 else 0.0
    return (total**2, scale_a * first[1] + scale_b * second[1],
            scale_a * first[2] + scale_b * second[2], first[0], second[0])


def cheaper_intermediate(middles: Mapping[str, np.ndarray | None],
                         build: Callable[[np.ndarray], tuple],
                         path: str = "") -> tuple[str, tuple]:
    """The label of the intermediate whose two-phase row ``build(middle)`` (action first)
    is the cheapest, and that row; an intermediate equal to one already built (one regime,
    or profiles that agree) is the same path and is not built again.

    An intermediate that does not exist (None: the pooled profile has no mass on the
    active cells of a regime that holds mass) or whose phase the solver reports infeasible
    (transport alone cannot cross an inactive cell) is left out; when none is left,
    :class:`~wfr_cvx.InfeasibleError` names the two-phase ``path`` and why each
    intermediate was left out."""
    best, why_not, failure = None, {}, None
    for label, middle in middles.items():
        if middle is None:
            why_not[label] = ("the pooled profile has no mass on the active cells of a "
                              "regime that holds mass")
            continue
        if best is not None and np.array_equal(middle, best[1]):
            continue
        try:
            row = build(middle)
        except InfeasibleError as exc:
            why_not[label] = f"a phase reported infeasible (status {exc.status!r})"
            failure = exc
            continue
        if best is None or row[0] < best[2][0]:
            best = (label, middle, row)
    if best is None:
        reasons = "; ".join(f"{label!r}: {why}" for label, why in why_not.items())
        raise InfeasibleError(
            f"compare(): the two-phase path {path!r} cannot be built on this grid, under "
            f"no intermediate allocation ({reasons}): transport alone cannot cross an "
            "inactive cell, so a regime whose active cells the mask splits into pieces "
            "holding other shares of its mass has no such path; the geodesic, which may "
            "move mass across by reaction, is not concerned",
            status=None if failure is None else failure.status,
            backend=None if failure is None else failure.backend)
    return best[0], best[2]


def two_phase_table(geodesic_row: tuple, rows: Mapping[str, tuple],
                    intermediate: Mapping[str, str], negligible: float = 0.0) -> pd.DataFrame:
    """The comparison table: the geodesic's row ``(d^2, transport, reaction, nan, nan)``
    and the two-phase ``rows`` by path, ``excess_over_geodesic`` and
    ``attrs["intermediate"]``.  A ``d^2`` at most ``negligible`` (the solvers' resolution,
    4 lam^2 1e-12 times the mass) counts as 0: between equal ends every row's excess is 0,
    not 0/0."""
    table = pd.DataFrame.from_dict(
        {"wfr_geodesic": geodesic_row, **rows}, orient="index",
        columns=["distance2", "transport_cost", "reaction_cost", "phase_a", "phase_b"])
    d2, geo = table["distance2"].to_numpy(), geodesic_row[0]
    if geo > negligible:
        excess = d2 / geo - 1.0
    else:
        excess = np.where(d2 <= negligible, 0.0, np.inf)
    table.insert(3, "excess_over_geodesic", excess)
    table.index.name = "path"
    table.attrs["intermediate"] = dict(intermediate)
    return table
