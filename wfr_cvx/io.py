"""Outputs of a solved path: an xarray Dataset, a JSON-ready dict (and back), files.

Saving and loading (:func:`save`, :func:`load`): a result is one ``.npz`` archive (numpy's
zip of ``.npy`` arrays, read with ``allow_pickle=False``) holding

* ``header``: a 0-d unicode array, a JSON object with ``format = "wfr_cvx.result"``, the
  ``format_version`` (:data:`FORMAT_VERSION`; a reader refuses a newer one), the ``kind``
  of result (``"geodesic"``; ``"ensemble"`` below), the grid (``n_weights``, ``n_steps``, ``dims``,
  ``regimes``, ``assets``), ``lam``, ``backend``, ``scheme``, the ``constraints`` it was
  solved under as their problem-file tables (a list, empty when none:
  :func:`wfr_cvx.problem_files.constraint_tables`, read back by
  :func:`wfr_cvx.constraints.from_table`), ``status``, ``iterations``, the timings in
  seconds and ``version`` (the wfr_cvx that solved it); floats are written by ``repr``
  and read back bit for bit;
* the arrays ``mask`` (``grid.mask``), ``rho``, ``momentum``, ``source``, ``rho_mean``,
  ``rho_face``, ``transport_per_step``, ``reaction_per_step`` and ``metric``, as they are.

``velocity``, ``rate`` and ``mass_floor`` are recomputed from them, as a solve computes
them, so the loaded result equals the saved one in every array.  The ``constraints`` entry
was added within format version 1: a file written before it has none and loads as a
result without constraints (which is what such a file can say; it may have been solved
under some).  A constraint that has no problem-file table (not one of
:data:`wfr_cvx.constraints.CONSTRAINT_TYPES`) makes :func:`save` raise TypeError naming it;
it is never left out.

An ensemble result (:class:`~wfr_cvx.EnsembleGeodesic`) is kind ``"ensemble"``: the same
``format`` and ``format_version``, and what a solve hands the result, nothing derived:

* in the header: ``lam``, ``backend``, ``metric`` (``{"kind": "none"}``, ``{"kind":
  "scalar", "value": g}``, ``{"kind": "matrix"}`` or ``{"kind": "per_regime", "regimes":
  [...]}``; the matrices in the array ``metric``, shape ``(n, n)`` or ``(K, n, n)``), the
  ``constraints`` as their tables (as for a geodesic; whether TotalMass applies is read
  from them), the endpoints ``e0`` and ``e1`` (``assets``, ``regimes``, ``domain`` --
  ``null``, ``"simplex"`` or ``"box"`` -- and the atom labels:
  ``{"range": [start, stop, step], "name": ...}`` or ``{"dtype": ..., "name": ...}`` with
  the labels in the array ``<e>_atoms``) and the solver's ``coupling`` scalars
  (``lower_bound``, ``n_pairs_kept``, ``n_pairs_solved``, ``rounds``, ``status``,
  ``solver_status``, ``iterations``, ``assembly_time``, ``setup_time``, ``solve_time``,
  ``certify_time``) and ``written_by``;
* the arrays ``e0_weights``, ``e0_mass``, ``e0_regime`` (codes into the ensemble's
  regimes), the same for ``e1``, ``e0_lower`` and ``e0_upper`` (likewise ``e1``) for a
  box domain, and the coupling's ``pair_src``, ``pair_dst``, ``pair_distance``,
  ``pair_regime``, ``one_minus_cos``, ``mass_out``, ``mass_in``, ``destroyed`` and
  ``created``.

:func:`load` rebuilds the ensembles, aligns them and builds the result from the coupling
with the code a solve runs, so the plan, the pieces, the figures and the path (``at``,
``to_frame``, ``mass``, ``plot``) come back identical.  The ensemble kind added no field to
the geodesic kind, so ``format_version`` stays 1: a reader of version 1 that predates it
refuses the file by its kind, with a message, rather than misreading it.

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

The asset labels are the coordinate ``asset`` (dimension ``asset``, all of them, the
remainder asset last: ``("A", "B", "C")`` on a grid with two weight axes that names none;
on a 1-D grid only when ``grid.assets`` is given).  Every attribute is a number or a
string, so the Dataset writes with ``to_netcdf`` (netCDF3 too, whose attributes cannot
hold a list of strings) and reads back with ``xarray.open_dataset`` unchanged.

xarray is an optional extra (``pip install wfr_cvx[xarray]``), imported only here.
"""

from __future__ import annotations

import json
import math
import zipfile
import zlib
from pathlib import Path

import numpy as np

__all__ = ["geodesic_to_xarray", "geodesic_to_dict", "geodesic_from_dict", "solve_from_dict",
           "rebalance_to_dict", "write_json", "to_jsonable", "save", "load", "FORMAT",
           "FORMAT_VERSION"]

#: The ``format`` field of a saved result's header: what marks a file as wfr_cvx's.
FORMAT = "wfr_cvx.result"
#: The layout of saved results this reader writes and reads; files of a newer layout are
#: refused rather than misread.
FORMAT_VERSION = 1
#: The arrays of a saved Geodesic (besides the grid's ``mask``).
_GEODESIC_ARRAYS = ("rho", "momentum", "source", "rho_mean", "rho_face",
                    "transport_per_step", "reaction_per_step", "metric")
#: The arrays of a saved EnsembleGeodesic's coupling: its own attribute names, and the
#: saved names of its pairs' fields.
_COUPLING_ARRAYS = ("one_minus_cos", "mass_out", "mass_in", "destroyed", "created")
_PAIR_ARRAYS = ("src", "dst", "distance", "regime")
#: The scalars of a saved EnsembleGeodesic's coupling (in the header).
_COUPLING_SCALARS = ("lower_bound", "n_pairs_kept", "n_pairs_solved", "rounds", "status",
                     "solver_status", "iterations", "assembly_time", "setup_time",
                     "solve_time", "certify_time")
#: The path arrays that ``to_dict(include_path=True)`` adds (``rho`` among them).
_PATH_KEYS = ("rho", "momentum", "source", "rho_mean", "rho_face")


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
        centres) and ``face``.  Variables ``mass (time, regime, weight)`` (``geo.rho``),
        ``source`` and ``rate (step, regime, weight)``, ``momentum``
        and ``velocity (step, regime, face)``, ``metric (regime, face)``,
        ``transport_cost`` and ``reaction_cost (step)``; the coordinate ``asset`` when
        ``grid.assets`` is given.

        Simplex grid (see the module docstring): dimensions ``time``, ``step``,
        ``regime``, ``w_<A>``, ``w_<B>``, ``face_<A>``, ``face_<B>``.  Variables ``mass
        (time, regime, w_<A>, w_<B>)`` (``geo.rho``, NaN on inactive cells), ``source``
        and ``rate (step, regime, w_<A>, w_<B>)``, ``momentum_<A>`` and ``velocity_<A>
        (step, regime, face_<A>, w_<B>)``, ``momentum_<B>`` and ``velocity_<B> (step,
        regime, w_<A>, face_<B>)``, ``active (regime, w_<A>, w_<B>)`` (``grid.mask``), the
        metric (``metric_<A>``, ``metric_<B>`` on the faces of a diagonal G, or ``metric
        (regime, w_<A>, w_<B>, row, column)`` per cell), the per-step costs and the
        coordinate ``asset`` (``<A>, <B>, <C>``).

        The figures, status, timings (seconds), ``lam``, backend, scheme and the version
        of wfr_cvx that solved it are in ``attrs``, numbers and strings only: the Dataset
        writes with ``to_netcdf`` and reads back with ``xarray.open_dataset``.

        Every array is a copy: editing the Dataset leaves ``geo`` as it was.

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
    # copied: the variables would otherwise be views of the result's own arrays
    return _dataset(xr, geo).copy(deep=True)


def _dataset(xr, geo):
    """:func:`geodesic_to_xarray`, its variables possibly sharing the path's arrays."""
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
    if grid.assets is not None:
        coords["asset"] = _asset_coordinate(grid.assets)
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


def _asset_coordinate(assets) -> tuple:
    """The asset labels as a coordinate: netCDF attributes cannot hold a list of strings
    (the scipy engine's netCDF3 refuses it), a string coordinate writes in any format."""
    return ("asset", list(assets), {"long_name": "asset (the last one holds the remainder "
                                                 "1 - the weights)"})


def _dataset_attrs(geo) -> dict:
    """The figures, status, timings and inputs of a path, as netCDF-friendly attributes
    (numbers and strings only)."""
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
        "asset": _asset_coordinate((a, b, c)),
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
    return xr.Dataset(data, coords=coords, attrs=_dataset_attrs(geo))


def _version() -> str:
    from . import __version__

    return __version__


def _metric_summary(metric) -> float | list:
    arr = np.asarray(metric, dtype=float)
    if arr.size and np.all(arr == arr.flat[0]):
        return float(arr.flat[0])
    return arr.tolist()


def _grid_spec(grid) -> dict:
    """The arguments that rebuild ``grid`` (:func:`_grid_from_spec`), JSON-ready; the mask
    only when a cell is inactive."""
    spec = {"n_weights": grid.n_weights, "n_steps": grid.n_steps, "dims": grid.dims,
            "regimes": list(grid.regimes)}
    if grid.assets is not None:
        spec["assets"] = list(grid.assets)
    if grid.n_inactive:  # without it the summary would not say which cells were closed
        spec["mask"] = grid.mask.tolist()
    return spec


def _grid_from_spec(spec, mask=None, *, where: str):
    """The :class:`~wfr_cvx.Grid` of a spec written by :func:`_grid_spec` (``mask``, when
    given, overrides the spec's).  Errors name ``where`` the spec came from."""
    from .grid import Grid

    if not isinstance(spec, dict):
        raise ValueError(f"{where}: the grid must be a table of its sizes, got "
                         f"{type(spec).__name__}")
    missing = [key for key in ("n_weights", "n_steps", "regimes") if key not in spec]
    if missing:
        raise ValueError(f"{where}: the grid has no {missing[0]!r}")
    # a list of labels, as written; tuple() of a str would make one label per character
    assets = spec.get("assets")
    for key, labels in (("regimes", spec["regimes"]), ("assets", assets)):
        if not (isinstance(labels, list) or (key == "assets" and labels is None)):
            raise ValueError(f"{where}: the grid's `{key}` must be a list of labels, got "
                             f"{labels!r}")
    try:
        if mask is None and spec.get("mask") is not None:
            mask = np.asarray(spec["mask"], dtype=bool)
        return Grid(spec["n_weights"], spec["n_steps"], regimes=tuple(spec["regimes"]),
                    mask=mask, dims=spec.get("dims", 1),
                    assets=None if assets is None else tuple(assets))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: the grid does not rebuild: {exc}") from None


def geodesic_to_dict(geo, *, include_path: bool = False) -> dict:
    """A JSON-ready summary of a solve: inputs, figures, status, timings, version.

    Parameters
    ----------
    geo : Geodesic
    include_path : bool, default False
        Also include the path: ``"rho"`` (the masses on the levels, nested lists of shape
        ``(n_steps + 1, *grid.shape)``), ``"momentum"``, ``"source"``, ``"rho_mean"`` and
        ``"rho_face"`` (shapes as the attributes of :class:`~wfr_cvx.Geodesic`), enough for
        :func:`geodesic_from_dict` to rebuild the result.

    Returns
    -------
    dict
        Keys ``wfr_cvx_version``, ``inputs`` (the grid: sizes, ``dims``, regimes, assets
        when named, and ``mask`` -- nested lists of bools, shape ``grid.shape`` -- when a
        cell is inactive; the allocations ``rho0`` and ``rho1``, nested lists of shape
        ``grid.shape``; ``lam``, ``metric`` — a number when constant, else the checked
        array —, ``backend``, ``scheme``, ``constraints`` -- the constraints it was solved
        under as problem-file tables, ``[]`` when none), ``figures`` (``distance2``,
        ``distance``, ``transport_cost``, ``reaction_cost``, the per-step costs and the
        mass per regime at both ends), ``status``, ``iterations`` and ``timings``
        (seconds).  Only str, int, float, list, bool and dict values; the inputs suffice
        to solve the same problem again (:func:`solve_from_dict`).

    Raises
    ------
    TypeError
        A constraint of the result has no problem-file table (it is not one of
        :data:`wfr_cvx.constraints.CONSTRAINT_TYPES`): the message names it.

    >>> import json, wfr_cvx
    >>> g = wfr_cvx.Grid(8, 2)
    >>> d = wfr_cvx.geodesic(g.dirac(0.5), g.dirac(0.5, mass=4.0), g, 0.5).to_dict()
    >>> round(d["figures"]["distance2"], 6), d["inputs"]["grid"]["n_weights"]
    (1.0, 8)
    >>> d["inputs"]["rho1"]
    [[0.0, 0.0, 0.0, 0.0, 4.0, 0.0, 0.0, 0.0]]
    >>> isinstance(json.dumps(d), str), d["inputs"]["constraints"]
    (True, [])
    """
    from .problem_files import constraint_tables

    masses = geo.mass()  # per regime and level
    out = {
        "wfr_cvx_version": geo.version,
        "inputs": {
            "grid": _grid_spec(geo.grid),
            "lam": geo.lam,
            "metric": _metric_summary(geo.metric),
            "backend": geo.backend,
            "scheme": geo.scheme,
            "constraints": constraint_tables(geo.constraints),
            "rho0": np.asarray(geo.rho[0], dtype=float).tolist(),
            "rho1": np.asarray(geo.rho[-1], dtype=float).tolist(),
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
        for key in _PATH_KEYS:
            out[key] = np.asarray(getattr(geo, key), dtype=float).tolist()
    return to_jsonable(out)


def _require(section: dict, keys: tuple, where: str) -> None:
    """ValueError naming the first of ``keys`` that ``section`` lacks."""
    for key in keys:
        if key not in section:
            raise ValueError(f"{where} has no {key!r}: not a geodesic written by "
                             "Geodesic.to_dict or `wfr-cvx solve --json`")


def _section(d: dict, key: str, kind: type, where: str):
    if key not in d:
        raise ValueError(f"{where} has no {key!r}: not a geodesic written by "
                         "Geodesic.to_dict or `wfr-cvx solve --json`")
    value = d[key]
    if not isinstance(value, kind):
        raise ValueError(f"{where}[{key!r}] must be a {kind.__name__}, got "
                         f"{type(value).__name__}")
    return value


def _float_array(value, shape: tuple[int, ...], name: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"`d[{name!r}]` must be nested lists of numbers (None stands for "
                         "a non-finite value, which a solved path does not hold)") from None
    if arr.shape != shape:
        raise ValueError(f"`d[{name!r}]` must have shape {shape} for the grid, got "
                         f"{arr.shape}")
    return arr


def _path_shapes(grid) -> dict:
    """The shape of each array of a grid geodesic on ``grid``."""
    T = grid.n_steps
    cells, faces = (T, *grid.shape), (T, *grid.face_shape)
    return {"rho": (T + 1, *grid.shape), "momentum": faces, "source": cells,
            "rho_mean": cells, "rho_face": faces, "transport_per_step": (T,),
            "reaction_per_step": (T,)}


#: The status of a path a learned policy rolled out (:meth:`RolledPath.as_geodesic
#: <wfr_cvx.analysis.learn.RolledPath.as_geodesic>`), whose ``backend`` is ``"rollout"``.
ROLLED_OUT = "RolledOut"
ROLLED_OUT_BACKEND = "rollout"


def _is_number(value) -> bool:
    """A JSON number (bool is an int in Python, not a number here)."""
    return not isinstance(value, bool) and isinstance(value, (int, float))


def _checked_lam(where: str, lam) -> float:
    if not _is_number(lam) or not 0 < lam < np.inf:
        raise ValueError(f"{where}: `lam` must be a number > 0, got {lam!r}")
    return float(lam)


def _checked_count(where: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{where}: `{name}` must be a whole number >= 0, got {value!r}")
    return value


def _checked_seconds(where: str, name: str, value) -> float:
    if not _is_number(value) or not 0 <= value < np.inf:
        raise ValueError(f"{where}: the time `{name}` must be a number of seconds >= 0, "
                         f"got {value!r}")
    return float(value)


def _checked_method(where: str, backend, scheme, *, solving: bool = False) -> None:
    """The backend and scheme of a stored geodesic, checked: a backend of the registry
    (what a result records: ``"auto"`` is resolved before the solve), or the rolled-out
    path's ``"rollout"``; to solve again (``solving``), a backend :func:`wfr_cvx.geodesic`
    takes, ``"auto"`` among them; a scheme of :data:`wfr_cvx.assembly.SCHEMES`."""
    from .assembly import SCHEMES
    from .backends import AUTO, REGISTRY

    known = (*REGISTRY, AUTO) if solving else (*REGISTRY, ROLLED_OUT_BACKEND)
    if not isinstance(backend, str) or backend not in known:
        raise ValueError(f"{where}: `backend` {backend!r} is not a backend wfr_cvx "
                         f"{'solves with' if solving else 'records'} ({', '.join(known)})")
    if not isinstance(scheme, str) or scheme not in SCHEMES:
        raise ValueError(f"{where}: `scheme` {scheme!r} is not a scheme of wfr_cvx "
                         f"({', '.join(SCHEMES)})")


def _checked_scalars(where: str, *, lam, status, backend, iterations,
                     timings: dict) -> dict:
    """The scalar fields of a stored geodesic, checked: ``lam`` > 0, the status of a
    result (a solve's "Solved" or "AlmostSolved": any other outcome raises instead of
    making one; ``"RolledOut"`` with the backend ``"rollout"`` and only there), a whole
    number of iterations >= 0, timings that are numbers >= 0."""
    from .backends import INACCURATE, SOLVED, Status

    lam = _checked_lam(where, lam)
    rolled_out = backend == ROLLED_OUT_BACKEND
    if rolled_out and status != ROLLED_OUT:
        raise ValueError(f"{where}: a path of the backend {ROLLED_OUT_BACKEND!r} (rolled out "
                         f"by a learned policy) has the status {ROLLED_OUT!r}, got {status!r}")
    held = sorted(s.value for s in SOLVED | INACCURATE)
    if isinstance(status, str) and status in held:
        status = Status(status)
    elif status != ROLLED_OUT:
        raise ValueError(f"{where}: `status` {status!r} is not a status a result holds "
                         f"({', '.join(held)}; {ROLLED_OUT} for a rolled-out path): a solve "
                         "that ends otherwise raises instead of returning one")
    elif not rolled_out:
        # a solver's answer marked as rolled out would hide whether the solve converged
        raise ValueError(f"{where}: the status {ROLLED_OUT!r} belongs to a path a learned "
                         f"policy rolled out (backend {ROLLED_OUT_BACKEND!r}), not to the "
                         f"backend {backend!r}")
    iterations = _checked_count(where, "iterations", iterations)
    timings = {key: _checked_seconds(where, key, value) for key, value in timings.items()}
    return {"lam": lam, "status": status, "iterations": iterations, **timings}


def _checked_summary_metric(value, grid) -> np.ndarray:
    """The metric a summary records, as a result holds it, checked for ``grid``."""
    where = "`d['inputs']['metric']`"
    if value is None or isinstance(value, (bool, str)):
        raise ValueError(f"{where} must be a number or nested lists of numbers, got "
                         f"{value!r}")
    try:
        arr = _metric_from_summary(value, grid)
    except (TypeError, ValueError):
        raise ValueError(f"{where} must be a number or nested lists of numbers") from None
    return _check_stored_metric(arr, grid, where)


def _check_stored_metric(arr: np.ndarray, grid, where: str) -> np.ndarray:
    """A stored result's metric as it was held (face weights, or cell matrices on a 2-D
    grid), its shape and values checked against ``grid`` but not changed."""
    K, n = grid.n_regimes, grid.n_weights
    shapes = [grid.face_shape] + ([(K, n, n, 2, 2)] if grid.dims == 2 else [])
    if arr.shape not in shapes or arr.dtype.kind != "f" or not np.all(np.isfinite(arr)):
        raise ValueError(f"{where}: the metric must be finite numbers of shape "
                         f"{' or '.join(map(str, shapes))} for its grid, got shape "
                         f"{arr.shape}")
    return arr


def _metric_from_summary(value, grid) -> np.ndarray:
    """The checked metric from :func:`_metric_summary`: a number is constant face weights
    (a constant cell-matrix field cannot be all one number and SPD)."""
    arr = np.asarray(value, dtype=float)
    return np.full(grid.face_shape, float(arr)) if arr.ndim == 0 else arr


def _constraints_from_tables(tables, where: str) -> tuple:
    """The constraint objects of the problem-file tables a result was written with
    (:func:`wfr_cvx.problem_files.constraint_tables`); ValueError naming ``where``."""
    from .constraints import from_table

    if not isinstance(tables, list):
        raise ValueError(f"{where} must be a list of constraint tables, got "
                         f"{type(tables).__name__}")
    out = []
    for i, table in enumerate(tables):
        if not isinstance(table, dict):
            raise ValueError(f"{where}[{i}] must be a constraint table (a dict with a "
                             f"`kind`), got {type(table).__name__}")
        try:
            out.append(from_table(table))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}[{i}]: {exc}") from None
    return tuple(out)


def _summary_constraints(d: dict, inputs: dict) -> tuple:
    """The constraints a summary records: ``inputs.constraints`` (:func:`geodesic_to_dict`)
    and/or ``problem.constraints`` (the echo of ``wfr-cvx solve --json``, which is all that
    one written before the inputs carried them has).  Neither: none.  Both, and they
    differ: ValueError, as the summary does not say which problem was solved."""
    found = {}
    if "constraints" in inputs:
        where = "`d['inputs']['constraints']`"
        found[where] = _constraints_from_tables(inputs["constraints"], where)
    problem = d.get("problem")
    if isinstance(problem, dict) and problem.get("constraints") is not None:
        where = "`d['problem']['constraints']`"
        found[where] = _constraints_from_tables(problem["constraints"], where)
    if len(set(found.values())) > 1:
        (first, a), (second, b) = found.items()
        raise ValueError(f"{first} {list(a)} and {second} {list(b)} differ: the summary "
                         "does not say which constrained problem was solved")
    return next(iter(found.values()), ())


def geodesic_from_dict(d: dict):
    r"""The :class:`~wfr_cvx.Geodesic` that :func:`geodesic_to_dict` (with
    ``include_path=True``) or ``wfr-cvx solve --json OUT --with-path`` wrote, read back
    from the dict (or its ``json.loads``).

    JSON floats are written by ``repr``, so every array and figure comes back bit for bit;
    ``velocity`` and ``rate`` are recomputed from them as a solve computes them.

    Parameters
    ----------
    d : dict
        Keys ``inputs`` (grid, ``lam``, ``metric``, ``backend``, ``scheme`` and
        ``constraints``), ``figures`` (the per-step costs), ``status``, ``iterations``,
        ``timings``, ``wfr_cvx_version`` and the path: ``rho``, ``momentum``, ``source``,
        ``rho_mean``, ``rho_face``.  The constraints come from ``inputs.constraints`` or
        the ``problem.constraints`` of a ``--json`` output; a summary with neither (written
        before they were recorded) gives a result without constraints.

    Returns
    -------
    Geodesic

    Raises
    ------
    ValueError
        ``d`` is not such a summary (a key is missing, ``status`` and ``iterations``
        among them, or a field has the wrong type or value: a grid that does not rebuild
        -- its ``regimes`` and ``assets`` are lists --, a ``backend`` that is not one of
        :data:`wfr_cvx.backends.REGISTRY` or a rolled-out path's ``"rollout"``, a
        ``scheme`` not in :data:`wfr_cvx.assembly.SCHEMES`), or has no path (a summary
        without it records the inputs only: :func:`solve_from_dict` solves them again),
        or an array has the wrong shape for the grid, or a constraint table is not one of
        :data:`wfr_cvx.constraints.CONSTRAINT_TYPES` (or ``inputs.constraints`` and
        ``problem.constraints`` differ), or the path is not one wfr_cvx returns: a value
        that is not finite (``null`` among the numbers), ``inputs.rho0`` / ``rho1`` (a
        rebalance's ``figures.target``) other than its end levels, or an array out of
        range or inconsistent with the rest, checked as :func:`load` checks a file.

    >>> import wfr_cvx
    >>> g = wfr_cvx.Grid(8, 2)
    >>> geo = wfr_cvx.geodesic(g.dirac(0.25), g.dirac(0.5, mass=2.0), g, 0.5)
    >>> back = wfr_cvx.Geodesic.from_dict(geo.to_dict(include_path=True))
    >>> bool((back.momentum == geo.momentum).all()), back.distance2 == geo.distance2
    (True, True)
    """
    from .result import Geodesic

    if not isinstance(d, dict):
        raise TypeError(f"`d` must be a dict (a geodesic's to_dict), got {type(d).__name__}")
    inputs = _section(d, "inputs", dict, "`d`")
    figures = _section(d, "figures", dict, "`d`")
    timings = _section(d, "timings", dict, "`d`")
    missing = [key for key in _PATH_KEYS if key not in d]
    if missing:
        raise ValueError(
            f"`d` has no path ({', '.join(map(repr, missing))} missing): it was written "
            "without include_path=True (or `wfr-cvx solve --json` without --with-path); "
            "wfr_cvx.io.solve_from_dict(d) solves its inputs again")
    _require(inputs, ("grid", "lam", "metric", "backend", "scheme"), "`d['inputs']`")
    _require(timings, ("setup", "solve", "assembly"), "`d['timings']`")
    grid = _grid_from_spec(_section(inputs, "grid", dict, "`d['inputs']`"),
                           where="`d['inputs']['grid']`")
    shapes = _path_shapes(grid)
    path = {key: _float_array(d[key], shapes[key], key) for key in _PATH_KEYS}
    per_step = {key: _float_array(figures.get(key), shapes[key], f"figures.{key}")
                for key in ("transport_per_step", "reaction_per_step")}
    constraints = _summary_constraints(d, inputs)
    # geodesic_to_dict has always written both; a default would invent a figure
    _require(d, ("status", "iterations"), "`d`")
    _checked_method("`d['inputs']`", inputs["backend"], inputs["scheme"])
    scalars = _checked_scalars(
        "`d`", lam=inputs["lam"], status=d["status"], backend=inputs["backend"],
        iterations=d["iterations"],
        timings={"setup_time": timings["setup"], "solve_time": timings["solve"],
                 "assembly_time": timings["assembly"]})
    geo = Geodesic(
        grid=grid, metric=_checked_summary_metric(inputs["metric"], grid), **path,
        **per_step, **scalars, backend=inputs["backend"], scheme=inputs["scheme"],
        version=d.get("wfr_cvx_version"), constraints=constraints)
    names = {"mask": "`d['inputs']['grid']['mask']`", "status": "`d['status']`",
             **{key: f"`d['figures'][{key!r}]`" for key in per_step},
             **{key: f"`d['inputs'][{key!r}]`" for key in ("lam", "scheme", "constraints")}}
    _check_path(geo, None, lambda name: names.get(name, f"`d[{name!r}]`"))
    # the summary's copies of the end levels must be the path's
    for key, level, where in (("rho0", 0, "inputs"), ("rho1", -1, "inputs"),
                              ("target", -1, "figures")):
        section = inputs if where == "inputs" else figures
        if key in section and not np.array_equal(
                _float_array(section[key], grid.shape, f"{where}.{key}"), path["rho"][level]):
            raise ValueError(f"`d[{where!r}][{key!r}]` is not the path's "
                             f"{'first' if level == 0 else 'last'} level `d['rho'][{level}]`: "
                             "the summary was changed after it was written")
    return geo


def solve_from_dict(d: dict, **solver_options):
    """Solve again the geodesic problem a summary records (:func:`geodesic_to_dict`, or
    the JSON of ``wfr-cvx solve --json``): its grid, allocations ``rho0`` and ``rho1``,
    ``lam``, metric, backend, scheme and constraints (``inputs.constraints``, or a
    ``--json`` output's ``problem.constraints``; a summary with neither, written before
    they were recorded, is solved without constraints).  A rebalance step's summary
    (:func:`rebalance_to_dict`: ``inputs.tau`` and ``inputs.potential`` in place of
    ``rho1``) takes the step again with :func:`wfr_cvx.rebalance`.

    Parameters
    ----------
    d : dict
    **solver_options
        Passed to :func:`wfr_cvx.geodesic` (the summary does not record them).

    Returns
    -------
    Geodesic or Rebalance
        A new solve (a :class:`~wfr_cvx.Rebalance` for a rebalance step's summary): its
        ``distance2`` equals the recorded one to the solver's tolerance (with the same
        backend and options, exactly on the same machine).

    Raises
    ------
    ValueError
        ``d`` is not a summary of a grid geodesic (its grid does not rebuild, its
        ``backend`` is not one :func:`wfr_cvx.geodesic` takes -- ``"auto"`` or a name of
        :data:`wfr_cvx.backends.REGISTRY` --, its ``scheme`` not one of
        :data:`wfr_cvx.assembly.SCHEMES`), or records no allocations (written by a
        wfr_cvx before they were recorded; a rebalance step's without its potential),
        or its constraint tables are not valid (or ``inputs.constraints``
        and ``problem.constraints`` differ).

    >>> import wfr_cvx
    >>> g = wfr_cvx.Grid(16, 4)
    >>> geo = wfr_cvx.geodesic(g.bump(0.3, 0.08), g.bump(0.6, 0.08), g, 0.5,
    ...                        constraints=[wfr_cvx.MaxVelocity(0.1)])
    >>> again = solve_from_dict(geo.to_dict())
    >>> again.constraints, abs(again.distance2 / geo.distance2 - 1) < 1e-6
    ((MaxVelocity(vmax=0.1, steps=None),), True)
    """
    from .engine import geodesic

    if not isinstance(d, dict):
        raise TypeError(f"`d` must be a dict (a geodesic's to_dict), got {type(d).__name__}")
    inputs = _section(d, "inputs", dict, "`d`")
    step = "tau" in inputs
    if step and "potential" not in inputs:
        raise ValueError("`d` is a rebalance step whose summary records no potential "
                         "(written by a wfr_cvx that did not record it), so it cannot be "
                         "solved again from `d`")
    grid = _grid_from_spec(_section(inputs, "grid", dict, "`d['inputs']`"),
                           where="`d['inputs']['grid']`")
    for key in ("rho0",) if step else ("rho0", "rho1"):
        if key not in inputs:
            raise ValueError(f"`d['inputs']` has no allocation {key!r}: the summary was "
                             "written by a wfr_cvx that did not record them")
    _require(inputs, ("lam", "metric", "backend", "scheme"), "`d['inputs']`")
    if inputs["backend"] == ROLLED_OUT_BACKEND:
        raise ValueError("`d` records a path a learned policy rolled out (backend "
                         "'rollout'), not a solve: solve its ends with wfr_cvx.geodesic "
                         "(d['inputs']['rho0'] and ['rho1'])")
    _checked_method("`d['inputs']`", inputs["backend"], inputs["scheme"], solving=True)
    constraints = _summary_constraints(d, inputs)
    if step:
        from .proximal import rebalance

        return rebalance(_float_array(inputs["rho0"], grid.shape, "inputs.rho0"), grid,
                         inputs["lam"],
                         potential=_float_array(inputs["potential"], grid.shape,
                                                "inputs.potential"),
                         tau=inputs["tau"],
                         metric=_checked_summary_metric(inputs["metric"], grid),
                         constraints=constraints, backend=inputs["backend"],
                         scheme=inputs["scheme"], **solver_options)
    return geodesic(_float_array(inputs["rho0"], grid.shape, "inputs.rho0"),
                    _float_array(inputs["rho1"], grid.shape, "inputs.rho1"), grid,
                    inputs["lam"], metric=_checked_summary_metric(inputs["metric"], grid),
                    constraints=constraints,
                    backend=inputs["backend"], scheme=inputs["scheme"], **solver_options)


def rebalance_to_dict(step, *, include_path: bool = False) -> dict:
    """JSON-ready summary of a :class:`~wfr_cvx.Rebalance`: the path's, plus the step's.

    Adds ``inputs.tau`` and ``inputs.potential`` (its values on the grid: enough for
    :func:`solve_from_dict` to take the step again) and, under ``figures``,
    ``objective``, ``potential_energy``, the ``target`` allocation (in place of
    ``inputs.rho1``: it is the step's answer), its ``mean_weight`` and ``target_mass`` per
    regime.
    """
    out = geodesic_to_dict(step.path, include_path=include_path)
    regimes = list(step.grid.regimes)
    out["inputs"]["tau"] = float(step.tau)
    out["inputs"]["potential"] = np.asarray(step.potential, dtype=float).tolist()
    # the path's end is the step's answer, not an input
    out["figures"]["target"] = out["inputs"].pop("rho1")
    out["figures"].update({
        "objective": float(step.objective),
        "potential_energy": float(step.potential_energy),
        "mean_weight": np.asarray(step.mean_weight(), dtype=float).tolist(),
        "target_mass": dict(zip(regimes, step.regime_mass().tolist(), strict=True)),
    })
    return to_jsonable(out)


def ensemble_geodesic_to_dict(geo) -> dict:
    """A JSON-ready summary of an ensemble solve (:class:`~wfr_cvx.EnsembleGeodesic`):
    inputs (the ensembles' sizes, assets, regimes, ``lam``, ``metric``, ``backend`` and the
    ``constraints`` as problem-file tables), figures (with the certified ``lower_bound``
    and ``gap`` and the plan's pairs), status, iterations and timings.  TypeError naming a
    constraint that has no problem-file table.  JSON has no infinity: ``MaxTravel(inf)``'s
    table says ``"distance": null``, which :func:`wfr_cvx.constraints.from_table` reads
    back as ``inf``."""
    from .problem_files import constraint_tables

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
            "constraints": constraint_tables(geo.constraints),
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

    JSON has no NaN or infinity; they become ``null``.  A constraint table's infinite
    field (``MaxTravel(inf)``'s ``distance``) so becomes ``null``, which
    :func:`wfr_cvx.constraints.from_table` reads back as ``inf``.

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


def save(result, path) -> Path:
    """Write a solved :class:`~wfr_cvx.Geodesic` or :class:`~wfr_cvx.EnsembleGeodesic` to
    ``path`` (the ``.npz`` layout of the module docstring); :func:`load` reads it back
    equal in every field.

    The file is written at ``path`` as given (no suffix is added; ``.npz`` is the
    convention).

    Parameters
    ----------
    result : Geodesic or EnsembleGeodesic
    path : str or os.PathLike

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    TypeError
        ``result`` is neither, or one of its constraints has no problem-file table (it is
        not one of :data:`wfr_cvx.constraints.CONSTRAINT_TYPES`; the message names it),
        or an ensemble's atoms are labelled by other than numbers or text.  Nothing is
        written then.
    ValueError
        An atom label ends in a NUL character (``"a\x00"``), which the file's text
        array cannot hold; nothing is written.

    >>> import tempfile, wfr_cvx
    >>> g = wfr_cvx.Grid(8, 2, regimes=("on", "off"))
    >>> geo = wfr_cvx.geodesic(g.dirac(0.25, "on"), g.dirac(0.5, "off"), g, 0.5)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     back = wfr_cvx.load(geo.save(f"{tmp}/path.npz"))
    >>> back.grid == geo.grid, bool((back.rho == geo.rho).all()), back.status == "Solved"
    (True, True, True)
    """
    from .problem_files import constraint_tables
    from .result import Geodesic

    if not isinstance(result, Geodesic):
        from .ensemble import EnsembleGeodesic

        if isinstance(result, EnsembleGeodesic):
            return _write(path, *_ensemble_contents(result))
        raise TypeError(f"`result` must be a wfr_cvx Geodesic or EnsembleGeodesic, got "
                        f"{type(result).__name__}")
    grid = result.grid
    spec = {"n_weights": grid.n_weights, "n_steps": grid.n_steps, "dims": grid.dims,
            "regimes": list(grid.regimes),
            "assets": None if grid.assets is None else list(grid.assets)}
    header = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "kind": "geodesic",
        "written_by": _version(), "grid": spec, "lam": result.lam,
        "backend": str(result.backend), "scheme": str(result.scheme),
        "constraints": constraint_tables(result.constraints),
        "status": str(result.status), "iterations": result.iterations,
        "setup_time": result.setup_time, "solve_time": result.solve_time,
        "assembly_time": result.assembly_time, "version": result.version,
    }
    arrays = {name: np.asarray(getattr(result, name)) for name in _GEODESIC_ARRAYS}
    return _write(path, header, {"mask": grid.mask, **arrays})


def _write(path, header: dict, arrays: dict) -> Path:
    path = Path(path)
    # an open file, not a name: np.savez would append ".npz" to a name without it
    with open(path, "wb") as handle:
        np.savez_compressed(handle, header=np.array(json.dumps(header)), **arrays)
    return path


def _atoms_spec(atoms) -> tuple[dict, np.ndarray | None]:
    """The atom labels of an ensemble as a header entry and (unless a range) an array."""
    import pandas as pd

    name = atoms.name
    if name is not None and not isinstance(name, (str, int, float)):
        raise TypeError(f"the atoms' index name {name!r} cannot be saved (a str or number "
                        "can)")
    if isinstance(atoms, pd.RangeIndex):
        return {"range": [atoms.start, atoms.stop, atoms.step], "name": name}, None
    if isinstance(atoms, pd.MultiIndex):
        raise TypeError("atoms labelled by a MultiIndex cannot be saved (one level can)")
    values = atoms.to_numpy()
    if values.dtype == object or pd.api.types.is_string_dtype(atoms.dtype):
        if not all(isinstance(label, str) for label in values):
            raise TypeError(f"the atom labels cannot be saved: they must be numbers or "
                            f"all str, got dtype {atoms.dtype}")
        # numpy's text arrays cannot hold a trailing NUL: 'a\x00' would load as 'a'
        cut = [label for label in values if label.endswith("\x00")]
        if cut:
            raise ValueError(f"the atom label {cut[0]!r} cannot be saved: it ends in a NUL "
                             "character, which the file's text array drops (it would load "
                             "as another label); rename it")
        values = values.astype(str)
    elif values.dtype.kind not in "biuf":
        raise TypeError(f"the atom labels cannot be saved: they must be numbers or all "
                        f"str, got dtype {atoms.dtype}; label the portfolios by text first "
                        "(weights.index = weights.index.astype(str))")
    return {"dtype": str(atoms.dtype), "name": name}, values


def _ensemble_contents(result) -> tuple[dict, dict]:
    """The header and arrays of a saved EnsembleGeodesic (module docstring)."""
    from .problem_files import constraint_tables

    arrays, ensembles = {}, {}
    for key, e in (("e0", result.e0), ("e1", result.e1)):
        atoms, labels = _atoms_spec(e.atoms)
        spec = {"assets": list(e.assets), "regimes": list(e.regimes), "atoms": atoms,
                "domain": e.domain if e.domain is None or isinstance(e.domain, str)
                else "box"}
        arrays.update({f"{key}_weights": e.weights, f"{key}_mass": e.mass,
                       f"{key}_regime": e.regime})
        if labels is not None:
            arrays[f"{key}_atoms"] = labels
        if spec["domain"] == "box":
            arrays[f"{key}_lower"], arrays[f"{key}_upper"] = e.domain
        ensembles[key] = spec
    metric = result.metric
    if metric is None:
        metric_spec = {"kind": "none"}
    elif isinstance(metric, dict):
        metric_spec = {"kind": "per_regime", "regimes": list(metric)}
        arrays["metric"] = np.stack([np.asarray(metric[r], dtype=float) for r in metric])
    elif np.ndim(metric) == 0:
        metric_spec = {"kind": "scalar", "value": float(metric)}
    else:
        metric_spec = {"kind": "matrix"}
        arrays["metric"] = np.asarray(metric, dtype=float)
    coupling = result._coupling
    arrays.update({f"pair_{name}": getattr(coupling.pairs, name) for name in _PAIR_ARRAYS})
    arrays.update({name: getattr(coupling, name) for name in _COUPLING_ARRAYS})
    scalars = {name: getattr(coupling, name) for name in _COUPLING_SCALARS}
    header = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "kind": "ensemble",
        "written_by": _version(), "lam": result.lam, "backend": str(result.backend),
        "metric": metric_spec, "constraints": constraint_tables(result.constraints),
        **ensembles, "coupling": _plain(scalars),
    }
    return header, arrays


def _plain(scalars: dict) -> dict:
    """numpy scalars as Python ones (floats by value, so ``repr`` round-trips them)."""
    return {key: value.item() if isinstance(value, np.generic) else value
            for key, value in scalars.items()}


def _open_npz(path: Path, what: str, writer: str):
    """The archive at ``path`` opened by numpy (``allow_pickle=False``), to be closed by
    the caller: FileNotFoundError when there is no file, ValueError naming the file when
    it is not a readable ``.npz`` archive (``what`` it should be, written by ``writer``).
    """
    if not path.is_file():
        raise FileNotFoundError(f"`path` {str(path)!r}: no such file (a {what} written by "
                                f"{writer})")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{str(path)!r} is not a {what}: not an .npz archive (write one "
                         f"with {writer})")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{str(path)!r} is not a readable {what}: {exc}") from None


def _npz_member(archive, name: str, where: str) -> np.ndarray:
    """The array ``name`` of an open archive (:func:`_open_npz`), read: ValueError "``where``
    is damaged" naming the array when its member cannot be read as a plain ``.npy`` array
    (truncated or corrupt, not ``.npy`` bytes at all, or Python objects, which wfr_cvx
    never writes and numpy would have to unpickle)."""
    try:
        value = archive[name]
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise ValueError(f"{where} is damaged: array {name!r} holds Python objects "
                             "(dtype object), which wfr_cvx never writes; it is not read, "
                             "as that would run code from the file") from None
        raise ValueError(f"{where} is damaged: array {name!r} cannot be read ({exc})"
                         ) from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        # zipfile still opened the archive; this member's bytes are what fails
        raise ValueError(f"{where} is damaged: array {name!r} cannot be read ({exc})"
                         ) from None
    if not isinstance(value, np.ndarray):  # numpy hands back a member's raw bytes
        raise ValueError(f"{where} is damaged: array {name!r} is not an .npy array (its "
                         f"member holds {len(value)} byte(s) of something else)")
    return value


#: A stored path's per-step costs may differ from the action its own arrays price
#: (:func:`wfr_cvx.analysis.diagnostics.action_per_step`) by this share of the larger of
#: the two totals plus :data:`COST_ATOL` of its a-priori size (:func:`_action_size`),
#: summed over the steps.  Measured on fresh solves of every scheme, 1-D, simplex
#: (diagonal and off-diagonal G) and square grids, with constraints, lam 0.01 .. 5: at
#: most 6e-7 (interior point, cvxpy) and 4e-4 (the first-order scs and dr) of d^2, 8e-5
#: (interior point) where the ends are 1 % of the axis apart; with tolerances loosened
#: a hundred- to a thousandfold, 2e-3 of d^2 and 4e-2 between such near ends (below
#: 3e-5 of the a-priori size).
COST_RTOL = 1e-2
#: See :data:`COST_RTOL`.
COST_ATOL = 1e-3
#: Terms of the action whose time mean lies below this share of the mean cell mass are
#: left out of the comparison: a first-order solver leaves its round-off in the cells
#: the optimum empties (scs at its own default tolerance put 1e-4 of the mean cell mass
#: there, and its figures, the accurate ones, do not price it).
COST_FLOOR = 1e-4
#: A rolled-out path (:meth:`RolledPath.as_geodesic
#: <wfr_cvx.analysis.learn.RolledPath.as_geodesic>`) is priced by the action itself: its
#: costs agree to rounding.
ROLLED_OUT_RTOL = 1e-9
#: A stored path may break its constraints by this share of the heavier end's mass per
#: cell, face and step (:func:`wfr_cvx.constraints.path_excesses`); measured at most
#: 1e-5 (dr) and 2e-5 (scs with tolerances loosened a hundredfold).
PATH_ATOL = 1e-3
#: A solve's ``source`` is its levels' and momentum's continuity source
#: (:func:`wfr_cvx.result.continuity_source`); a stored one may differ by this share of
#: the heavier end's mass per cell and step (times ``dt``).
CONTINUITY_ATOL = 1e-6


def _action_size(geo, mass: float) -> float:
    """The a-priori size of d^2 that :data:`COST_ATOL` scales: the cheaper of replacing
    the mass (``4 lam^2`` per unit) and moving it across the grid (its metric diameter
    squared per unit)."""
    from .metric import metric_reach

    return mass * min(4.0 * geo.lam**2, metric_reach(geo.metric) ** 2 * geo.grid.dims)


def _check_path(geo, where: str | None, field) -> None:
    r"""Check a stored grid geodesic (built from a file or a summary) against what
    wfr_cvx returns.

    Refused (ValueError naming ``where`` it came from, None: say nothing, and by
    ``field(name)`` the field): an array that is not finite; negative masses or costs;
    mass, source or momentum on what ``grid.mask`` switches off; constraints that do not
    apply to a grid (:func:`wfr_cvx.constraints.compile_constraints`).

    Warned about (:class:`~wfr_cvx.errors.InconsistentFileWarning`; the result is
    returned): figures that disagree with the arrays beyond what a solve leaves --
    TotalMass between ends of unequal mass (:data:`PATH_ATOL`); ``rho_mean`` and
    ``rho_face`` not the time means of the levels that the scheme takes
    (:func:`wfr_cvx.engine.level_means`, to 1e-9); ``source`` not the continuity source
    of the levels and momentum (:data:`CONTINUITY_ATOL`; not for a rolled-out path,
    which meets the equation only to its rollout's accuracy); per-step costs that are not
    the action of the arrays (:data:`COST_RTOL`, :data:`COST_ATOL`, :data:`COST_FLOOR`;
    :data:`ROLLED_OUT_RTOL` for a rolled-out path); a path that breaks its constraints
    (:data:`PATH_ATOL`).  These tolerances cannot tell every edit from every solve: a
    solve at loosened tolerances, a small position entering an empty regime at a large
    ``lam`` (whose cost lies in cells below :data:`COST_FLOOR`), or a file written
    before ``rho_mean`` was recomputed from the levels also disagree, so they warn rather
    than refuse.
    """
    from .constraints import compile_constraints

    prefix = f"{where}: " if where else ""
    grid = geo.grid
    arrays = {name: getattr(geo, name) for name in (*_PATH_KEYS, "transport_per_step",
                                                    "reaction_per_step")}
    for name, array in arrays.items():
        bad = int(np.count_nonzero(~np.isfinite(array)))
        if bad:
            raise ValueError(f"{prefix}{field(name)} holds {bad} value(s) that are not "
                             "finite numbers (NaN, inf, or null in JSON): a solved path "
                             "holds none")
    for name in ("rho", "transport_per_step", "reaction_per_step"):
        low = float(arrays[name].min(initial=0.0))
        if low < 0:
            raise ValueError(f"{prefix}{field(name)} holds negative values, down to "
                             f"{low!r}: masses and costs are >= 0")
    inactive, closed = ~grid.mask, ~grid.face_mask
    used = np.any(geo.rho[:, inactive] != 0, axis=0) | np.any(geo.source[:, inactive] != 0,
                                                              axis=0)
    if used.any() or np.any(geo.momentum[:, closed] != 0):
        raise ValueError(f"{prefix}{field('mask')} switches off {int(used.sum())} cell(s) "
                         f"where the path holds or creates mass (up to "
                         f"{float(np.abs(geo.rho[:, inactive]).max(initial=0.0))!r}), or "
                         "faces it moves mass across: its arrays were solved on another "
                         "grid")
    try:
        plan = compile_constraints(geo.constraints, grid)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{prefix}{field('constraints')}: {exc}") from None
    problem = _inconsistency(geo, plan, prefix, field)
    if problem is not None:
        from ._warnings import warn
        from .errors import InconsistentFileWarning

        warn(f"{problem}; the result is returned as stored, but its figures are not to be "
             "trusted: an edited or damaged file, a solve at loosened tolerances, or a file "
             "an earlier wfr_cvx wrote", InconsistentFileWarning, stacklevel=None)


def _inconsistency(geo, plan, prefix: str, field) -> str | None:
    """The first way a stored path's figures disagree with its arrays beyond what a solve
    leaves (:func:`_check_path`), or None."""
    from .analysis.diagnostics import action_per_step
    from .constraints import plan_violation
    from .engine import level_means

    grid = geo.grid
    heavier = float(max(geo.rho[0].sum(), geo.rho[-1].sum()))
    if plan.total_mass and abs(float(geo.rho[-1].sum() - geo.rho[0].sum())) > (
            PATH_ATOL * heavier):
        return (f"{prefix}{field('constraints')} hold TotalMass, but the path's ends hold "
                f"{float(geo.rho[0].sum())!r} and {float(geo.rho[-1].sum())!r}")
    mean, face = level_means(geo.rho, grid, geo.scheme)
    for name, stored, want in (("rho_mean", geo.rho_mean, mean),
                               ("rho_face", geo.rho_face[:, grid.face_mask],
                                face[:, grid.face_mask])):
        off = np.abs(stored - want) - 1e-9 * np.abs(want) - 1e-15 * heavier
        if np.any(off > 0):
            return (f"{prefix}{field(name)} is not the time mean of the levels "
                    f"{field('rho')} that the scheme {geo.scheme!r} ({field('scheme')}) "
                    f"divides by: {float(np.max(np.abs(stored - want)))!r} off")
    rolled = geo.status == ROLLED_OUT
    if not rolled:
        residual = float(np.abs(geo.continuity_residual()).max(initial=0.0)) * grid.dt
        if residual > CONTINUITY_ATOL * heavier:
            return (f"{prefix}{field('source')} is not the source with which "
                    f"{field('rho')} and {field('momentum')} meet the continuity equation: "
                    f"a step creates {residual:.3g} of mass more or less than they say "
                    f"(a solve leaves {CONTINUITY_ATOL * heavier:.3g})")
    floor = 0.0 if rolled else COST_FLOOR * heavier / geo.rho[0].size
    transport, reaction = action_per_step(geo.rho, geo.momentum, geo.source, grid,
                                          lam=geo.lam, metric=geo.metric, scheme=geo.scheme,
                                          floor=floor)
    stored_total, action_total = geo.distance2, float(transport.sum() + reaction.sum())
    error = float(np.abs(transport - geo.transport_per_step).sum()
                  + np.abs(reaction - geo.reaction_per_step).sum())
    rtol, atol = (ROLLED_OUT_RTOL, 0.0) if rolled else (COST_RTOL, COST_ATOL)
    allowed = rtol * max(stored_total, action_total) + atol * _action_size(geo, heavier)
    if error > allowed:
        return (f"{prefix}{field('transport_per_step')} and {field('reaction_per_step')} "
                f"(d^2 {stored_total!r}) are not the cost of the path: its levels, momentum "
                f"and source at {field('lam')} {geo.lam!r} with the scheme {geo.scheme!r} "
                f"cost {action_total!r} (cells below {COST_FLOOR:g} of the mean cell mass "
                f"left out), {error:.3g} apart over the steps where a solve leaves at most "
                f"{allowed:.3g}")
    violation = plan_violation(plan, geo, PATH_ATOL * heavier)
    if violation is not None:
        return f"{prefix}the path does not keep {field('constraints')} " \
               f"{list(geo.constraints)}: {violation}"
    return None

def load(path):
    """Read a result written by :meth:`Geodesic.save <wfr_cvx.Geodesic.save>` or
    :meth:`EnsembleGeodesic.save <wfr_cvx.EnsembleGeodesic.save>` (:func:`save`).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    Geodesic or EnsembleGeodesic
        As the file's ``kind`` says.  A Geodesic equal to the saved one in every array
        (``grid`` with its mask and labels, the path, ``metric``, the per-step costs) and
        field (``lam``, ``constraints``, ``status``, ``iterations``, timings, ``backend``,
        ``scheme``, ``version``; a file written before results kept their constraints
        loads with ``constraints == ()``); an EnsembleGeodesic with the same endpoints
        ``e0`` and ``e1``, constraints, figures, plan, pieces, status, timings and path.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        The file is not a wfr_cvx result (not an ``.npz`` archive, or one without the
        header), is damaged (an array that does not read as a plain ``.npy`` array), was
        written in a newer format version than this wfr_cvx reads (the message names
        both), or holds a kind of result, an array or a constraint table this reader does
        not know, or a header field or array of the wrong type, out of range or
        inconsistent with the rest of the file: the message names the file and the field.

        A geodesic's arrays must be finite, its masses and costs >= 0, nothing on the
        cells ``mask`` switches off, its status one a result holds ("Solved",
        "AlmostSolved", a rolled-out path's "RolledOut"), its constraints ones that
        apply to a grid.  An ensemble's coupling
        must account for every atom's mass (pair masses plus the destroyed or created
        mass, to 1e-9), its pairs' distances must be those of their atoms' weights in
        the metric (to 1e-9), within reach (``pi lam``) and within a MaxTravel cap, its
        ``lam`` must give its ``1 - cos``, and TotalMass needs ensembles of equal mass,
        as a solve checks them.

    Warns
    -----
    InconsistentFileWarning
        A geodesic whose figures disagree with its arrays beyond what a solve leaves:
        ``rho_mean`` and ``rho_face`` not the levels' time means of its ``scheme``;
        ``source`` not their continuity source; the per-step costs not the action of
        the arrays at its ``lam`` (:func:`wfr_cvx.analysis.diagnostics.action_per_step`)
        to :data:`COST_RTOL` (1 %) of d^2 plus :data:`COST_ATOL` (1e-3) of its a-priori
        size (a fresh solve agrees to 6e-7 of d^2 on the interior point, 8e-5 between
        ends 1 % of the axis apart, 4e-4 on the first-order backends; a rolled-out path
        to rounding); a path that breaks its constraints by more than :data:`PATH_ATOL`
        (1e-3) of its mass.  An edited file warns, and so do some a solve wrote (at
        loosened tolerances; a small position entering an empty regime at a large
        ``lam``; a file written before ``rho_mean`` was recomputed from the levels):
        the result is returned as stored.
    """
    from .result import Geodesic

    path = Path(path)
    where = repr(str(path))
    with _open_npz(path, "wfr_cvx result file", "Geodesic.save") as archive:
        header = _read_header(archive, path)
        kind = header.get("kind")
        if kind == "ensemble":
            arrays = {name: _npz_member(archive, name, where) for name in archive.files
                      if name != "header"}
            return _load_ensemble(header, arrays, path)
        if kind != "geodesic":
            raise ValueError(f"{where} holds a result of kind {kind!r}; this wfr_cvx "
                             "reads kinds 'geodesic' and 'ensemble'")
        missing = [name for name in ("mask", *_GEODESIC_ARRAYS)
                   if name not in archive.files]
        if missing:
            raise ValueError(f"{where} is not a complete wfr_cvx result: array "
                             f"{missing[0]!r} is missing")
        arrays = {name: _npz_member(archive, name, where) for name in _GEODESIC_ARRAYS}
        mask = _npz_member(archive, "mask", where)
    try:
        grid = _grid_from_spec(header.get("grid"), mask, where=where)
        shapes = _path_shapes(grid)
        for name, array in arrays.items():
            if name == "metric":
                continue
            if array.shape != shapes[name] or array.dtype.kind != "f":
                raise ValueError(f"{where} is not a consistent wfr_cvx result: array "
                                 f"{name!r} has shape {array.shape} (dtype {array.dtype}), "
                                 f"its grid needs {shapes[name]} (float)")
        _check_stored_metric(arrays["metric"], grid, f"{where}, array 'metric'")
        constraints = _constraints_from_tables(header.get("constraints", []),
                                               f"{where}: the header's constraints")
        _checked_method(where, header["backend"], header["scheme"])
        scalars = _checked_scalars(
            where, lam=header["lam"], status=header["status"], backend=header["backend"],
            iterations=header["iterations"],
            timings={key: header[key] for key in ("setup_time", "solve_time",
                                                  "assembly_time")})
        geo = Geodesic(grid=grid, **arrays, **scalars, backend=header["backend"],
                       scheme=header["scheme"], version=header["version"],
                       constraints=constraints)
    except KeyError as exc:
        raise ValueError(f"{where} is not a complete wfr_cvx result: the header has "
                         f"no {exc.args[0]!r}") from None
    _check_path(geo, where, lambda name: (f"array {name!r}" if name in arrays or
                                          name == "mask" else f"the header's `{name}`"))
    return geo


def _load_ensemble(header: dict, arrays: dict, path: Path):
    """The EnsembleGeodesic of a file of kind "ensemble", built as a solve builds it, every
    field checked first: the result's figures are computed from them, so a field out of
    range would not fail but give a wrong number (a negative ``lam`` a larger d^2, a
    negative mass NaN)."""
    from .ensemble import EnsembleGeodesic
    from .ensemble._backends import BACKENDS
    from .ensemble._constraints import check_endpoints, compile_constraints
    from .ensemble._ensemble import align

    where = repr(str(path))
    try:
        lam = _checked_lam(where, header["lam"])
        backend = header["backend"]
        if not isinstance(backend, str) or backend not in BACKENDS:
            raise ValueError(f"{where}: `backend` {backend!r} is not an ensemble backend "
                             f"({', '.join(BACKENDS)})")
        ensembles = {key: _ensemble_from_spec(header[key], arrays, key, where)
                     for key in ("e0", "e1")}
        try:
            aligned = align(ensembles["e0"], ensembles["e1"])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: the ensembles `e0` and `e1` do not go together: "
                             f"{exc}") from None
        metric, metrics = _metric_from_spec(header["metric"], arrays, aligned, where)
        tables = _constraints_from_tables(header["constraints"],
                                          f"{where}: the header's constraints")
        try:
            plan = compile_constraints(tables)
            check_endpoints(plan, aligned)
        except (TypeError, ValueError) as exc:  # a grid constraint's, unequal TotalMass ends
            raise ValueError(f"{where}: the header's constraints: {exc}") from None
        coupling = _coupling_from(header["coupling"], arrays, aligned, lam, where)
        _check_coupling(coupling, aligned, lam, metrics, plan, where)
        return EnsembleGeodesic(e0=ensembles["e0"], e1=ensembles["e1"], aligned=aligned,
                                coupling=coupling, lam=lam, metric=metric, backend=backend,
                                constraints=plan.constraints, total_mass=plan.total_mass)
    except KeyError as exc:
        raise ValueError(f"{where} is not a complete wfr_cvx ensemble result: it has no "
                         f"{exc.args[0]!r}") from None


def _ensemble_from_spec(spec, arrays: dict, key: str, where: str):
    """Ensemble ``key`` (``"e0"`` or ``"e1"``) of a saved EnsembleGeodesic; its arrays are
    checked by the Ensemble they rebuild."""
    import pandas as pd

    from .ensemble import Ensemble

    field = f"`{key}`"
    if not isinstance(spec, dict):
        raise ValueError(f"{where}: {field} must be a table of the ensemble's assets, "
                         f"regimes, atoms and domain, got {spec!r}")
    for name in ("assets", "regimes"):
        labels = spec[name]
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise ValueError(f"{where}: `{key}.{name}` must be a list of str, got "
                             f"{labels!r}")
    domain = spec["domain"]
    if domain not in (None, "simplex", "box"):
        raise ValueError(f"{where}: `{key}.domain` must be null, 'simplex' or 'box', got "
                         f"{domain!r}")
    if domain == "box":
        domain = (arrays[f"{key}_lower"], arrays[f"{key}_upper"])
    atoms = _atoms_from_spec(spec["atoms"], arrays, key, where)
    try:
        weights = pd.DataFrame(arrays[f"{key}_weights"], index=atoms, columns=spec["assets"])
        return Ensemble(weights, arrays[f"{key}_mass"],
                        _regime_labels(arrays[f"{key}_regime"], spec["regimes"], key),
                        regimes=spec["regimes"], domain=domain)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: the ensemble {field} does not rebuild from its arrays "
                         f"({key}_weights, {key}_mass, {key}_regime): {exc}") from None


def _regime_labels(codes, regimes: list, key: str):
    """The regime labels of the codes ``{key}_regime`` holds: passed by label, as an
    integer could be read as a label of ``regimes`` (``"1"``) rather than a position."""
    codes = np.asarray(codes)
    if codes.dtype.kind not in "iu" or (codes.size and (
            codes.min() < 0 or codes.max() >= len(regimes))):
        more = " ..." if codes.size > 5 else ""
        raise ValueError(f"`{key}_regime` must hold integer codes into the regimes "
                         f"{regimes}, got {codes.ravel()[:5].tolist()}{more}")
    return np.asarray(regimes, dtype=object)[codes]


def _atoms_from_spec(spec, arrays: dict, key: str, where: str):
    """The atom labels :func:`_atoms_spec` wrote for ensemble ``key``."""
    import pandas as pd

    field = f"`{key}.atoms`"
    if not isinstance(spec, dict) or ("range" in spec) == ("dtype" in spec):
        raise ValueError(f"{where}: {field} must be a table with a `range` or a `dtype`, "
                         f"got {spec!r}")
    name = spec["name"]
    if name is not None and not isinstance(name, (str, int, float)):
        raise ValueError(f"{where}: `{key}.atoms.name` must be null, a str or a number, "
                         f"got {name!r}")
    if "range" in spec:
        bounds = spec["range"]
        if (not isinstance(bounds, list) or len(bounds) != 3 or bounds[2] == 0
                or not all(isinstance(b, int) and not isinstance(b, bool) for b in bounds)):
            raise ValueError(f"{where}: `{key}.atoms.range` must be [start, stop, step], "
                             f"whole numbers with step != 0, got {bounds!r}")
        return pd.RangeIndex(*bounds, name=name)
    values = arrays[f"{key}_atoms"]
    if values.dtype.kind == "U":
        values = values.astype(object)
    try:
        return pd.Index(values, dtype=spec["dtype"], name=name)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: `{key}.atoms.dtype` {spec['dtype']!r} does not hold the "
                         f"labels of the array {key}_atoms: {exc}") from None


def _metric_from_spec(spec, arrays: dict, aligned, where: str):
    """The ``metric`` of a saved EnsembleGeodesic, as the result reports it, and as the
    solver holds it (:class:`~wfr_cvx.ensemble._metric.RegimeMetrics`), checked as
    :func:`wfr_cvx.ensemble.geodesic` checks its argument (against the ensembles' assets
    and regimes)."""
    from .ensemble._metric import check_metric

    kinds = ("none", "scalar", "matrix", "per_regime")
    kind = spec.get("kind") if isinstance(spec, dict) else None
    if kind not in kinds:
        raise ValueError(f"{where}: the header's `metric` must be a table whose kind is one "
                         f"of {', '.join(map(repr, kinds))}, got {spec!r}")
    if kind == "none":
        return None, check_metric(None, aligned.assets, aligned.regimes)
    if kind == "scalar":
        value = spec["value"]
        if not _is_number(value) or not 0 < value < np.inf:
            raise ValueError(f"{where}: `metric.value` must be a number > 0, got {value!r}")
        return float(value), check_metric(float(value), aligned.assets, aligned.regimes)
    matrices = arrays["metric"]
    if matrices.dtype.kind != "f":
        raise ValueError(f"{where}: the array `metric` must hold floats, got dtype "
                         f"{matrices.dtype}")
    if kind == "matrix":
        metric = matrices
    else:
        regimes = spec["regimes"]
        if not isinstance(regimes, list) or not all(isinstance(r, str) for r in regimes):
            raise ValueError(f"{where}: `metric.regimes` must be a list of str, got "
                             f"{regimes!r}")
        if matrices.ndim != 3 or matrices.shape[0] != len(regimes):
            raise ValueError(f"{where}: the array `metric` must hold one matrix per regime "
                             f"of `metric.regimes` ({len(regimes)}), got shape "
                             f"{matrices.shape}")
        metric = dict(zip(regimes, matrices, strict=True))
    try:
        metrics = check_metric(metric, aligned.assets, aligned.regimes)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: the array `metric` ({kind}) is not a metric of the "
                         f"ensembles: {exc}") from None
    return metric, metrics


def _coupling_from(scalars, arrays: dict, aligned, lam: float, where: str):
    """The solver's :class:`~wfr_cvx.ensemble._coupling.Coupling` of a saved result, each
    scalar and array checked against the ensembles it couples."""
    from .ensemble._coupling import Coupling
    from .ensemble._pairs import Pairs

    if not isinstance(scalars, dict):
        raise ValueError(f"{where}: the header's `coupling` must be a table of the "
                         f"solver's figures, got {scalars!r}")
    fields = {name: scalars[name] for name in _COUPLING_SCALARS}
    field = "coupling.{}".format
    bound = fields["lower_bound"]
    if not _is_number(bound) or not 0 <= bound < np.inf:
        raise ValueError(f"{where}: `coupling.lower_bound` must be a number >= 0, got "
                         f"{bound!r}")
    fields["lower_bound"] = float(bound)
    for name in ("n_pairs_kept", "n_pairs_solved", "rounds", "iterations"):
        _checked_count(where, field(name), fields[name])
    for name in ("assembly_time", "setup_time", "solve_time", "certify_time"):
        fields[name] = _checked_seconds(where, field(name), fields[name])
    fields["status"], fields["solver_status"] = _ensemble_statuses(
        where, fields["status"], fields["solver_status"])
    N, M, K = aligned.a.size, aligned.b.size, len(aligned.regimes)
    pairs = {name: arrays[f"pair_{name}"] for name in _PAIR_ARRAYS}
    if pairs["src"].ndim != 1:
        raise ValueError(f"{where}: the array `pair_src` must be 1-D (one source atom per "
                         f"pair), got shape {pairs['src'].shape}")
    size = pairs["src"].size
    for name, count in (("src", N), ("dst", M), ("regime", K)):
        values = pairs[name]
        if (values.shape != (size,) or values.dtype.kind not in "iu"
                or np.any(values < 0) or np.any(values >= count)):
            raise ValueError(f"{where}: the array `pair_{name}` must hold one whole number "
                             f"in [0, {count}) per pair, shape ({size},); got shape "
                             f"{values.shape}, dtype {values.dtype}{_range_of(values)}")
    same = (aligned.k[pairs["src"]] == pairs["regime"]) & (
        aligned.l[pairs["dst"]] == pairs["regime"])
    if not same.all():
        p = int(np.flatnonzero(~same)[0])
        raise ValueError(f"{where}: pair {p} (`pair_src`, `pair_dst`, `pair_regime`) joins "
                         f"atoms outside its regime: only atoms of one regime exchange mass")
    values = {"pair_distance": pairs["distance"],
              **{name: arrays[name] for name in _COUPLING_ARRAYS}}
    shapes = {"destroyed": (N,), "created": (M,)}
    for name, array in values.items():
        shape = shapes.get(name, (size,))
        if (array.shape != shape or array.dtype.kind != "f"
                or not np.all(np.isfinite(array)) or np.any(array < 0)):
            raise ValueError(f"{where}: the array `{name}` must hold finite floats >= 0 of "
                             f"shape {shape}; got shape {array.shape}, dtype {array.dtype}"
                             f"{_range_of(array)}")
    # the solve's own formula (1 - cos(d / 2 lam), without cancellation): a pair whose
    # figure disagrees was solved at another lam, or its arrays were changed
    expected = 2.0 * np.sin(0.5 * (pairs["distance"] / (2.0 * lam))) ** 2
    off = np.flatnonzero(~np.isclose(values["one_minus_cos"], expected, rtol=1e-9,
                                     atol=1e-300))
    if off.size:
        p = int(off[0])
        raise ValueError(f"{where}: `lam` {lam!r} and the arrays `pair_distance`, "
                         f"`one_minus_cos` disagree: pair {p} has 1 - cos "
                         f"{float(values['one_minus_cos'][p])!r}, its distance "
                         f"{float(pairs['distance'][p])!r} at lam gives "
                         f"{float(expected[p])!r}")
    return Coupling(pairs=Pairs(**pairs), **{name: arrays[name] for name in _COUPLING_ARRAYS},
                    **fields)


def _check_coupling(coupling, aligned, lam: float, metrics, plan, where: str) -> None:
    """Refuse a saved coupling that is not one the solve returns for its ensembles, metric
    and constraints: each pair's ``pair_distance`` must be its atoms' distance in the
    regime's metric (:func:`~wfr_cvx.ensemble._pairs.pair_distances`, to 1e-9 relative
    and 1e-12 of the points' size), within reach (``pi lam``) and within the
    :class:`~wfr_cvx.constraints.MaxTravel` cap (to
    :data:`~wfr_cvx.ensemble._pairs.TRAVEL_RTOL`, as the solve prunes); every atom's pair
    masses and its destroyed (created) mass must add up to its mass (to 1e-9 of it and
    1e-12 of the ensembles' mass; the solve makes them add up exactly)."""
    from .ensemble._pairs import TRAVEL_RTOL, pair_distances

    pairs = coupling.pairs
    distance, scale = pair_distances(aligned.x, aligned.y, pairs.src, pairs.dst,
                                     pairs.regime, metrics)
    # the distance comes from |p|^2 + |q|^2 - 2 p.q, whose rounding grows as
    # eps scale^2 / distance (1,000 equal-weight books 5e-5 apart: 1.4x the old 1e-12)
    rounding = 1e3 * np.finfo(float).eps * scale**2 / np.maximum(distance, 1e-300)
    off = np.flatnonzero(np.abs(pairs.distance - distance)
                         > 1e-9 * distance + 1e-12 * scale + rounding)
    if off.size:
        p = int(off[0])
        raise ValueError(f"{where}: pair {p} (`pair_distance` {float(pairs.distance[p])!r}) "
                         f"is not its atoms' distance {float(distance[p])!r} in the metric: "
                         "the arrays `e0_weights`, `e1_weights`, `metric` or `pair_distance` "
                         "were changed")
    # the solve keeps pairs strictly within reach and up to the cap (pairs_within)
    reach, cap = np.pi * lam, plan.max_travel * (1.0 + TRAVEL_RTOL)
    beyond = (pairs.distance >= reach) | (pairs.distance > cap)
    if beyond.any():
        p = int(np.flatnonzero(beyond)[0])
        what = (f"the reach pi lam = {reach!r} (`lam`)" if pairs.distance[p] >= reach
                else f"the cap of the header's constraints {list(plan.constraints)}")
        raise ValueError(f"{where}: pair {p} moves mass {float(pairs.distance[p])!r} far "
                         f"(`pair_distance`), beyond {what}: the solve never transports "
                         "so far")
    total = float(aligned.a.sum() + aligned.b.sum())
    for key, atoms, moved, left, mass, slack in (
            ("e0", pairs.src, coupling.mass_out, coupling.destroyed, aligned.a, "destroyed"),
            ("e1", pairs.dst, coupling.mass_in, coupling.created, aligned.b, "created")):
        accounted = np.bincount(atoms, moved, minlength=mass.size) + left
        wrong = np.flatnonzero(np.abs(accounted - mass) > 1e-9 * mass + 1e-12 * total)
        if wrong.size:
            i = int(wrong[0])
            raise ValueError(
                f"{where}: atom {i} of `{key}` has mass {float(mass[i])!r} (`{key}_mass`), "
                f"but the coupling moves and {slack} {float(accounted[i])!r} of it (the "
                f"arrays `{'mass_out' if key == 'e0' else 'mass_in'}` and `{slack}`): a "
                "solved coupling accounts for every atom's mass")


def _range_of(values: np.ndarray) -> str:
    if values.size and values.dtype.kind in "iuf":
        return f", from {values.min().item()!r} to {values.max().item()!r}"
    return ""


#: The statuses an EnsembleGeodesic holds: any other outcome of its solve raises
#: SolverError instead of making a result.
_ENSEMBLE_STATUSES = ("Solved", "AlmostSolved")


def _ensemble_statuses(where: str, status, solver_status) -> tuple[str, str]:
    """The coupling's ``status`` (after the certificate) and ``solver_status`` (the
    solver's own: any status wfr_cvx knows), checked."""
    from .backends import Status

    if not isinstance(status, str) or status not in _ENSEMBLE_STATUSES:
        raise ValueError(f"{where}: `coupling.status` {status!r} is not the status of an "
                         f"ensemble result ({', '.join(_ENSEMBLE_STATUSES)})")
    known = {s.value for s in Status}
    if not isinstance(solver_status, str) or solver_status not in known:
        raise ValueError(f"{where}: `coupling.solver_status` {solver_status!r} is not a "
                         f"status wfr_cvx writes ({', '.join(sorted(known))})")
    return status, solver_status


def _read_header(archive, path: Path) -> dict:
    """The JSON header of a saved result, its format and version checked."""
    if "header" not in archive.files:
        raise ValueError(f"{str(path)!r} is not a wfr_cvx result file: an .npz archive "
                         "without the wfr_cvx header")
    stored = _npz_member(archive, "header", repr(str(path)))
    try:
        header = json.loads(str(stored[()]))
    except (ValueError, IndexError) as exc:
        raise ValueError(f"{str(path)!r} is not a wfr_cvx result file: its header is not "
                         f"JSON ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not a wfr_cvx result file: its header does not "
                         f"say format {FORMAT!r}")
    version = header.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"{str(path)!r}: the header's format_version must be a positive "
                         f"integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{str(path)!r} was written in wfr_cvx result format version {version}, newer "
            f"than version {FORMAT_VERSION} that this wfr_cvx ({_version()}) reads; "
            "upgrade wfr_cvx to read it")
    return header
