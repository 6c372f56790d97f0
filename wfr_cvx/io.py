"""Outputs of a solved path: an xarray Dataset, a JSON-ready dict (and back), files.

The staggered layout of a :class:`~wfr_cvx.Geodesic` is kept as it is, nothing is
interpolated:

* ``mass`` lives on the ``n_steps + 1`` time **levels** (dimension ``time``);
* ``source``, ``rate`` and the per-step costs live on the ``n_steps`` **steps** (dimension
  ``step``, coordinate the step midpoints ``(k + 1/2) dt``);
* ``momentum`` and ``velocity`` live on steps and the ``n_weights - 1`` interior **faces**
  of the weight axis (dimension ``face``, coordinate the face positions ``i dx``).

On the three-asset simplex grid (two weight axes, assets ``A, B, C`` of ``grid.assets``)
the cells are the dimensions ``w_<A>`` and ``w_<B>`` (cell centres; ``w_<C> = 1 - w_<A> -
w_<B>`` is a coordinate on both), and the faces of each axis their own dimension:
``momentum_<A>`` lies on ``(step, regime, face_<A>, w_<B>)``, the faces between cells
``i`` and ``i + 1`` of axis A at ``w_<A> = (i + 1) dx``, ``momentum_<B>`` on ``(step,
regime, w_<A>, face_<B>)``.  Inactive cells (outside the simplex or ``grid.mask``) and the
faces beside them are NaN.

xarray is an optional extra (``pip install wfr_cvx[xarray]``), imported only here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

__all__ = ["geodesic_to_xarray", "geodesic_to_dict", "rebalance_to_dict", "write_json",
           "to_jsonable"]


def _require_xarray():
    try:
        import xarray
    except ImportError:
        raise ImportError(
            "Geodesic.to_xarray needs xarray, an optional extra: "
            "pip install 'wfr_cvx[xarray]'") from None
    return xarray


def geodesic_to_xarray(geo):
    """The path as an ``xarray.Dataset`` (layout in the module docstring).

    Parameters
    ----------
    geo : Geodesic

    Returns
    -------
    xarray.Dataset
        1-D grid: dimensions ``time`` (levels), ``step``, ``regime``, ``weight`` (cell
        centres) and ``face``.  Variables ``mass (time, regime, weight)`` — the exact
        array ``geo.rho`` —, ``source`` and ``rate (step, regime, weight)``, ``momentum``
        and ``velocity (step, regime, face)``, ``metric (regime, face)``,
        ``transport_cost`` and ``reaction_cost (step)``.

        Simplex grid (see the module docstring): dimensions ``time``, ``step``,
        ``regime``, ``w_<A>``, ``w_<B>``, ``face_<A>``, ``face_<B>``.  Variables ``mass
        (time, regime, w_<A>, w_<B>)`` (``geo.rho``, NaN on inactive cells), ``source``
        and ``rate (step, regime, w_<A>, w_<B>)``, ``momentum_<A>`` and ``velocity_<A>
        (step, regime, face_<A>, w_<B>)``, ``momentum_<B>`` and ``velocity_<B> (step,
        regime, w_<A>, face_<B>)``, ``active (regime, w_<A>, w_<B>)`` (``grid.mask``), the
        metric (``metric_<A>``, ``metric_<B>`` on the faces of a diagonal G, or ``metric
        (regime, w_<A>, w_<B>, row, column)`` per cell) and the per-step costs.

        The figures, status, timings (seconds), ``lam``, backend, scheme and the version
        of wfr_cvx that solved it are in ``attrs``.

    Raises
    ------
    ImportError
        xarray is not installed (the message names the extra).

    >>> import wfr_cvx
    >>> g = wfr_cvx.Grid(8, 2, regimes=("a", "b"))
    >>> ds = wfr_cvx.geodesic(g.dirac(0.5, "a"), g.dirac(0.5, "b"), g, 0.5).to_xarray()
    >>> dict(ds["mass"].sizes), dict(ds["velocity"].sizes)
    ({'time': 3, 'regime': 2, 'weight': 8}, {'step': 2, 'regime': 2, 'face': 7})
    >>> s = wfr_cvx.Grid.simplex(4, 2, assets=("eq", "bd", "cash"))
    >>> ds = wfr_cvx.geodesic(s.dirac((0.1, 0.1)), s.dirac((0.4, 0.1)), s, 0.5).to_xarray()
    >>> dict(ds["mass"].sizes)
    {'time': 3, 'regime': 1, 'w_eq': 4, 'w_bd': 4}
    >>> dict(ds["momentum_eq"].sizes)
    {'step': 2, 'regime': 1, 'face_eq': 3, 'w_bd': 4}
    """
    xr = _require_xarray()
    grid = geo.grid
    if grid.dims == 2:
        return _simplex_dataset(xr, geo)
    steps = (np.arange(grid.n_steps) + 0.5) * grid.dt
    coords = {
        "time": ("time", geo.times, {"long_name": "path time s (levels)"}),
        "step": ("step", steps, {"long_name": "path time s (step midpoints)"}),
        "regime": ("regime", list(grid.regimes)),
        "weight": ("weight", grid.weights, {"long_name": "weight (cell centres)"}),
        "face": ("face", grid.faces, {"long_name": "weight (interior faces)"}),
    }
    cell_step, face_step = ("step", "regime", "weight"), ("step", "regime", "face")
    data = {
        "mass": (("time", "regime", "weight"), geo.rho, {"long_name": "cell mass"}),
        "source": (cell_step, geo.source, {"long_name": "mass created per unit time"}),
        "rate": (cell_step, geo.rate, {"long_name": "reaction rate r = source / mass"}),
        "momentum": (face_step, geo.momentum, {"long_name": "momentum m = mass x velocity"}),
        "velocity": (face_step, geo.velocity, {"long_name": "rebalancing velocity"}),
        "metric": (("regime", "face"), np.asarray(geo.metric, dtype=float),
                   {"long_name": "transport-cost factor G"}),
        "transport_cost": (("step",), geo.transport_per_step,
                           {"long_name": "transport cost per step"}),
        "reaction_cost": (("step",), geo.reaction_per_step,
                          {"long_name": "reaction cost per step"}),
    }
    return xr.Dataset(data, coords=coords, attrs=_dataset_attrs(geo))


def _dataset_attrs(geo) -> dict:
    """The figures, status, timings and inputs of a path, as netCDF-friendly attributes."""
    return {
        "lam": geo.lam, "backend": geo.backend, "scheme": geo.scheme,
        "status": str(geo.status), "iterations": geo.iterations,
        "distance2": geo.distance2, "transport_cost": geo.transport_cost,
        "reaction_cost": geo.reaction_cost, "assembly_time": geo.assembly_time,
        "setup_time": geo.setup_time, "solve_time": geo.solve_time,
        "wfr_cvx_version": geo.version,
    }


def _simplex_dataset(xr, geo):
    """:func:`geodesic_to_xarray` on a grid with two weight axes (module docstring)."""
    grid = geo.grid
    a, b, c = grid.assets or ("A", "B", "C")
    wa, wb, fa, fb = f"w_{a}", f"w_{b}", f"face_{a}", f"face_{b}"
    steps = (np.arange(grid.n_steps) + 0.5) * grid.dt
    centres = grid.weights
    coords = {
        "time": ("time", geo.times, {"long_name": "path time s (levels)"}),
        "step": ("step", steps, {"long_name": "path time s (step midpoints)"}),
        "regime": ("regime", list(grid.regimes)),
        wa: (wa, centres, {"long_name": f"weight of {a} (cell centres)"}),
        wb: (wb, centres, {"long_name": f"weight of {b} (cell centres)"}),
        fa: (fa, grid.faces, {"long_name": f"weight of {a} (interior faces)"}),
        fb: (fb, grid.faces, {"long_name": f"weight of {b} (interior faces)"}),
        f"w_{c}": ((wa, wb), 1.0 - centres[:, None] - centres[None, :],
                   {"long_name": f"weight of {c} = 1 - w_{a} - w_{b}"}),
    }
    active = grid.mask
    cells = np.where(active, 1.0, np.nan)  # NaN on inactive cells, shape grid.shape
    faces = np.where(grid.face_mask, 1.0, np.nan)  # (K, 2, n, n), padded
    along_a, along_b = (slice(None), 0, slice(None, -1), slice(None)), (
        slice(None), 1, slice(None), slice(None, -1))
    cell_step = ("step", "regime", wa, wb)
    face_a, face_b = ("step", "regime", fa, wb), ("step", "regime", wa, fb)

    def on_faces(values, axis_index):
        return values[(slice(None), *axis_index)] * faces[axis_index]

    data = {
        "mass": (("time", "regime", wa, wb), geo.rho * cells, {"long_name": "cell mass"}),
        "source": (cell_step, geo.source * cells,
                   {"long_name": "mass created per unit time"}),
        "rate": (cell_step, geo.rate * cells,
                 {"long_name": "reaction rate r = source / mass"}),
        f"momentum_{a}": (face_a, on_faces(geo.momentum, along_a),
                          {"long_name": f"momentum along w_{a}"}),
        f"momentum_{b}": (face_b, on_faces(geo.momentum, along_b),
                          {"long_name": f"momentum along w_{b}"}),
        f"velocity_{a}": (face_a, on_faces(geo.velocity, along_a),
                          {"long_name": f"rebalancing velocity along w_{a}"}),
        f"velocity_{b}": (face_b, on_faces(geo.velocity, along_b),
                          {"long_name": f"rebalancing velocity along w_{b}"}),
        "active": (("regime", wa, wb), active,
                   {"long_name": "active cell (in the simplex and grid.mask)"}),
        "transport_cost": (("step",), geo.transport_per_step,
                           {"long_name": "transport cost per step"}),
        "reaction_cost": (("step",), geo.reaction_per_step,
                          {"long_name": "reaction cost per step"}),
    }
    metric = np.asarray(geo.metric, dtype=float)
    if metric.ndim == 5:  # one SPD matrix per cell (off-diagonal G)
        coords["row"] = ("row", [a, b])
        coords["column"] = ("column", [a, b])
        data["metric"] = (("regime", wa, wb, "row", "column"),
                          metric * cells[..., None, None],
                          {"long_name": "metric G per cell"})
    else:  # face weights G_aa of a diagonal G
        data[f"metric_{a}"] = (("regime", fa, wb), metric[along_a] * faces[along_a],
                               {"long_name": f"transport-cost factor G along w_{a}"})
        data[f"metric_{b}"] = (("regime", wa, fb), metric[along_b] * faces[along_b],
                               {"long_name": f"transport-cost factor G along w_{b}"})
    attrs = {**_dataset_attrs(geo), "assets": [a, b, c]}
    return xr.Dataset(data, coords=coords, attrs=attrs)


def _version() -> str:
    from . import __version__

    return __version__


def _metric_summary(metric) -> float | list:
    arr = np.asarray(metric, dtype=float)
    if arr.size and np.all(arr == arr.flat[0]):
        return float(arr.flat[0])
    return arr.tolist()


def geodesic_to_dict(geo, *, include_path: bool = False) -> dict:
    """A JSON-ready summary of a solve: inputs, figures, status, timings, version.

    Parameters
    ----------
    geo : Geodesic
    include_path : bool, default False
        Also include the masses on the levels (``"rho"``, nested lists of shape
        ``(n_steps + 1, *grid.shape)``).

    Returns
    -------
    dict
        Keys ``wfr_cvx_version``, ``inputs`` (the grid: sizes, ``dims``, regimes, assets
        when named, and ``mask`` -- nested lists of bools, shape ``grid.shape`` -- when a
        cell is inactive; ``lam``, ``metric`` — a number when constant —, ``backend``,
        ``scheme``), ``figures`` (``distance2``,
        ``distance``, ``transport_cost``, ``reaction_cost``, the per-step costs and the
        mass per regime at both ends), ``status``, ``iterations`` and ``timings``
        (seconds).  Only str, int, float, list and dict values.

    >>> import json, wfr_cvx
    >>> g = wfr_cvx.Grid(8, 2)
    >>> d = wfr_cvx.geodesic(g.dirac(0.5), g.dirac(0.5, mass=4.0), g, 0.5).to_dict()
    >>> round(d["figures"]["distance2"], 6), d["inputs"]["grid"]["n_weights"]
    (1.0, 8)
    >>> isinstance(json.dumps(d), str)
    True
    """
    grid = geo.grid
    regimes = list(grid.regimes)
    masses = geo.mass()  # per regime and level
    grid_inputs = {"n_weights": grid.n_weights, "n_steps": grid.n_steps, "dims": grid.dims,
                   "regimes": regimes}
    if grid.assets is not None:
        grid_inputs["assets"] = list(grid.assets)
    if grid.n_inactive:  # without it the summary would not say which cells were closed
        grid_inputs["mask"] = grid.mask.tolist()
    out = {
        "wfr_cvx_version": geo.version,
        "inputs": {
            "grid": grid_inputs,
            "lam": geo.lam,
            "metric": _metric_summary(geo.metric),
            "backend": geo.backend,
            "scheme": geo.scheme,
        },
        "figures": {
            "distance2": geo.distance2,
            "distance": geo.distance,
            "transport_cost": geo.transport_cost,
            "reaction_cost": geo.reaction_cost,
            "transport_per_step": np.asarray(geo.transport_per_step, dtype=float).tolist(),
            "reaction_per_step": np.asarray(geo.reaction_per_step, dtype=float).tolist(),
            "mass_start": masses.iloc[0].to_dict(),
            "mass_end": masses.iloc[-1].to_dict(),
        },
        "status": geo.status,
        "iterations": geo.iterations,
        "timings": {"assembly": geo.assembly_time, "setup": geo.setup_time,
                    "solve": geo.solve_time},
    }
    if include_path:
        out["rho"] = np.asarray(geo.rho, dtype=float).tolist()
    return to_jsonable(out)


def rebalance_to_dict(step, *, include_path: bool = False) -> dict:
    """JSON-ready summary of a :class:`~wfr_cvx.Rebalance`: the path's, plus the step's.

    Adds ``inputs.tau`` and, under ``figures``, ``objective``, ``potential_energy``, the
    target's ``mean_weight`` and ``target_mass`` per regime.
    """
    out = geodesic_to_dict(step.path, include_path=include_path)
    regimes = list(step.grid.regimes)
    out["inputs"]["tau"] = float(step.tau)
    out["figures"].update({
        "objective": float(step.objective),
        "potential_energy": float(step.potential_energy),
        "mean_weight": np.asarray(step.mean_weight(), dtype=float).tolist(),
        "target_mass": dict(zip(regimes, step.regime_mass().tolist(), strict=True)),
    })
    return to_jsonable(out)


def ensemble_geodesic_to_dict(geo) -> dict:
    """A JSON-ready summary of an ensemble solve (:class:`~wfr_cvx.EnsembleGeodesic`):
    inputs (the ensembles' sizes, assets, regimes, ``lam``, ``metric``, ``backend``),
    figures (with the certified ``lower_bound`` and ``gap`` and the plan's pairs), status,
    iterations and timings."""
    plan = geo.plan
    out = {
        "wfr_cvx_version": _version(),
        "inputs": {
            "atoms": [int(geo.n_atoms[0]), int(geo.n_atoms[1])],
            "assets": list(geo.assets),
            "regimes": list(geo.regimes),
            "lam": geo.lam,
            "metric": None if geo.metric is None else (
                {key: np.asarray(value, dtype=float).tolist()
                 for key, value in geo.metric.items()} if isinstance(geo.metric, dict)
                else _metric_summary(geo.metric)),
            "backend": geo.backend,
        },
        "figures": {
            "distance2": geo.distance2,
            "distance": geo.distance,
            "transport_cost": geo.transport_cost,
            "reaction_cost": geo.reaction_cost,
            "lower_bound": geo.lower_bound,
            "gap": geo.gap,
            "destroyed": float(geo.destroyed.sum()),
            "created": float(geo.created.sum()),
            "plan": plan.to_dict("records"),
        },
        "status": geo.status,
        "iterations": geo.iterations,
        "timings": {"assembly": geo.assembly_time, "setup": geo.setup_time,
                    "solve": geo.solve_time, "certify": geo.certify_time},
    }
    return to_jsonable(out)


def to_jsonable(value):
    """Recursively turn numpy scalars and arrays into plain Python; non-finite -> None.

    JSON has no NaN or infinity; they become ``null``.

    >>> to_jsonable({"a": np.float64(1.5), "b": np.array([1, 2]), "c": float("nan")})
    {'a': 1.5, 'b': [1, 2], 'c': None}
    """
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(data: dict, path) -> Path:
    """Write ``data`` (made JSON-ready by :func:`to_jsonable`) to ``path``, indented."""
    path = Path(path)
    path.write_text(json.dumps(to_jsonable(data), indent=2, allow_nan=False) + "\n")
    return path
