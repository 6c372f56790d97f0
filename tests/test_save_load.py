"""Saving and loading a result (Geodesic.save, EnsembleGeodesic.save, wfr_cvx.load) and the
JSON round trip (Geodesic.to_dict / from_dict): every array and field comes back bit for
bit."""

import json
import subprocess
import sys
import warnings
import zipfile
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

import wfr_cvx
from wfr_cvx import Geodesic, Grid, io
from wfr_cvx.constraints import Constraint, MaxReactionRate, MaxVelocity, TradingWindow
from wfr_cvx.ensemble import Ensemble, EnsembleGeodesic, MaxTravel, TotalMass
from wfr_cvx.ensemble import geodesic as ensemble_geodesic
from wfr_cvx.errors import InconsistentFileWarning

#: The arrays of a result, the derived ones (velocity, rate) included.
ARRAYS = ("rho", "momentum", "source", "rho_mean", "rho_face", "transport_per_step",
          "reaction_per_step", "metric", "velocity", "rate")
#: Its other fields.
FIELDS = ("lam", "status", "iterations", "setup_time", "solve_time", "assembly_time",
          "backend", "scheme", "version", "mass_floor", "distance2", "transport_cost",
          "reaction_cost", "constraints")


def _two_regimes(scheme="centred"):
    g = Grid(16, 4, regimes=("risk_on", "risk_off"))
    r0 = g.bump(0.6, 0.08, "risk_on", mass=0.7) + g.bump(0.35, 0.08, "risk_off", mass=0.3)
    r1 = g.bump(0.5, 0.08, "risk_on", mass=0.3) + g.bump(0.3, 0.08, "risk_off", mass=0.7)
    return wfr_cvx.geodesic(r0, r1, g, lam=0.2, metric=np.linspace(1.0, 2.0, 15),
                            scheme=scheme)


def _masked():
    cap = Grid(16, 4).weights <= 0.7  # risk-off equity weight <= 0.7
    g = Grid(16, 4, regimes=("on", "off"), mask=[[True] * 16, list(cap)])
    r0 = g.bump(0.6, 0.08, "on", mass=0.7) + g.bump(0.4, 0.08, "off", mass=0.3)
    r1 = g.bump(0.8, 0.08, "on", mass=0.3) + g.bump(0.2, 0.08, "off", mass=0.7)
    return wfr_cvx.geodesic(r0, r1, g, lam=0.3)


def _simplex():
    g = Grid.simplex(8, 4, assets=("eq", "bd", "cash"), regimes=2)
    r0 = g.bump((0.3, 0.3), 0.1, 0, 0.7) + g.bump((0.2, 0.2), 0.1, 1, 0.3)
    r1 = g.bump((0.5, 0.2), 0.1, 0, 0.3) + g.bump((0.1, 0.6), 0.1, 1, 0.7)
    return wfr_cvx.geodesic(r0, r1, g, 0.3, metric=np.array([[2.0, 0.5], [0.5, 1.0]]))


CASES = {"two_regimes": _two_regimes, "masked": _masked, "simplex": _simplex}


@pytest.fixture(scope="module", params=list(CASES))
def geo(request):
    return CASES[request.param]()


def assert_same(back, geo):
    """Equal in every array (values, shape and dtype) and field; the same grid."""
    assert type(back) is Geodesic
    for name in ARRAYS:
        got, want = getattr(back, name), getattr(geo, name)
        np.testing.assert_array_equal(got, want, err_msg=name)
        assert np.asarray(got).dtype == np.asarray(want).dtype, name
    for name in FIELDS:
        assert getattr(back, name) == getattr(geo, name), name
        assert type(getattr(back, name)) is type(getattr(geo, name)), name
    assert type(back.grid) is type(geo.grid) and back.grid == geo.grid
    for name in ("n_weights", "n_steps", "dims", "regimes", "assets"):
        assert getattr(back.grid, name) == getattr(geo.grid, name), name
    np.testing.assert_array_equal(back.grid.mask, geo.grid.mask)
    assert back.grid.mask.dtype == bool


def test_save_then_load_gives_the_same_result(geo, tmp_path):
    path = geo.save(tmp_path / "result.npz")
    assert path == tmp_path / "result.npz"
    assert_same(wfr_cvx.load(path), geo)
    assert_same(wfr_cvx.load(str(path)), geo)


def test_the_file_is_written_where_named(tmp_path):
    """No suffix is added (np.savez would add ".npz" to a bare name)."""
    geo = _two_regimes()
    path = geo.save(tmp_path / "result")
    assert path.is_file() and not (tmp_path / "result.npz").exists()
    assert_same(wfr_cvx.load(path), geo)


def test_the_header_is_documented_json(tmp_path):
    geo = _simplex()
    with np.load(geo.save(tmp_path / "r.npz"), allow_pickle=False) as archive:
        header = json.loads(str(archive["header"][()]))
        assert set(archive.files) == {"header", "mask", "rho", "momentum", "source",
                                      "rho_mean", "rho_face", "transport_per_step",
                                      "reaction_per_step", "metric"}
    assert header["format"] == "wfr_cvx.result" and header["kind"] == "geodesic"
    assert header["format_version"] == io.FORMAT_VERSION
    assert header["grid"] == {"n_weights": 8, "n_steps": 4, "dims": 2,
                              "regimes": ["0", "1"], "assets": ["eq", "bd", "cash"]}
    assert header["version"] == wfr_cvx.__version__ and header["lam"] == 0.3


def _loaded_in_a_fresh_process(path, body: str):
    """Run ``body`` in a new interpreter after ``geo = wfr_cvx.load(path)``; ``body`` saves
    arrays to ``out`` and prints one JSON line.  Returns the arrays and the printed dict."""
    out = path.with_name(path.stem + "_read_back.npz")
    script = ("import json, sys, numpy as np, wfr_cvx\n"
              "geo = wfr_cvx.load(sys.argv[1])\n"
              "out = sys.argv[2]\n" + body)
    proc = subprocess.run([sys.executable, "-c", script, str(path), str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with np.load(out) as arrays:
        return dict(arrays), json.loads(proc.stdout)


def test_a_fresh_process_reads_the_same_arrays(tmp_path):
    geo = _masked()
    arrays, printed = _loaded_in_a_fresh_process(
        geo.save(tmp_path / "result.npz"),
        f"np.savez(out, mask=geo.grid.mask, **{{k: getattr(geo, k) for k in {ARRAYS!r}}})\n"
        "print(json.dumps({'lam': geo.lam, 'status': str(geo.status), "
        "'iterations': geo.iterations, 'solve_time': geo.solve_time, "
        "'regimes': list(geo.grid.regimes), 'distance2': geo.distance2}))\n")
    for name in ARRAYS:
        np.testing.assert_array_equal(arrays[name], getattr(geo, name), err_msg=name)
    np.testing.assert_array_equal(arrays["mask"], geo.grid.mask)
    assert printed == {
        "lam": geo.lam, "status": "Solved", "iterations": geo.iterations,
        "solve_time": geo.solve_time, "regimes": ["on", "off"], "distance2": geo.distance2}



def _describe(figure):
    """What a figure shows, axis by axis: title, labels, line data, images, and each
    collection's values, positions and sizes; the figure is closed."""
    from matplotlib import pyplot as plt

    rows = []
    for ax in figure.get_axes():
        rows.append((ax.get_title(), ax.get_xlabel(), ax.get_ylabel(),
                     [line.get_ydata().tolist() for line in ax.get_lines()],
                     [image.get_array().tolist() for image in ax.get_images()],
                     [(None if c.get_array() is None else np.asarray(c.get_array()).tolist(),
                       np.asarray(c.get_offsets()).tolist(),
                       np.asarray(getattr(c, "get_sizes", list)()).tolist())
                      for c in ax.collections]))
    plt.close(figure)
    return rows


def test_figures_of_a_loaded_result_are_the_same(geo, tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    back = wfr_cvx.load(geo.save(tmp_path / "result.npz"))
    want = _describe(geo.plot(title="t"))
    assert any(title for title, *_ in want) and any(row[3] or row[4] or row[5] for row in want)
    assert _describe(back.plot(title="t")) == want


def test_json_round_trip(geo):
    d = geo.to_dict(include_path=True)
    assert_same(Geodesic.from_dict(d), geo)
    text = json.dumps(d, allow_nan=False)
    assert_same(Geodesic.from_dict(json.loads(text)), geo)
    assert_same(io.geodesic_from_dict(json.loads(text)), geo)


def test_a_summary_without_the_path_solves_again():
    geo = _two_regimes()
    d = json.loads(json.dumps(geo.to_dict()))
    with pytest.raises(ValueError, match="include_path=True"):
        Geodesic.from_dict(d)
    again = io.solve_from_dict(d)
    assert again.grid == geo.grid
    assert again.distance2 == pytest.approx(geo.distance2, rel=1e-9)
    np.testing.assert_array_equal(again.rho[0], geo.rho[0])
    np.testing.assert_array_equal(again.metric, geo.metric)


@pytest.mark.parametrize("metric", [None, 2.0, np.diag([2.0, 3.0]), "field",
                                    np.array([[2.0, 0.5], [0.5, 3.0]])])
def test_a_simplex_summary_solves_again_whatever_its_metric(metric):
    """Before: on a simplex grid the summary's metric came back as face weights, which
    `geodesic` refused ("must be a scalar, a 2 x 2 SPD matrix or one per cell"), for no
    metric, a scalar and a diagonal one alike; `metric=geo.metric` was refused too."""
    s = Grid.simplex(4, 2)
    if isinstance(metric, str):  # a diagonal field varying by cell
        metric = np.zeros((4, 4, 2, 2))
        metric[..., 0, 0] = 1.0 + np.arange(16).reshape(4, 4) / 8
        metric[..., 1, 1] = 2.0 - np.arange(16).reshape(4, 4).T / 16
    a, b = s.dirac((0.125, 0.125)), s.dirac((0.375, 0.125))
    geo = wfr_cvx.geodesic(a, b, s, 0.5, metric=metric)
    again = io.solve_from_dict(json.loads(json.dumps(geo.to_dict())))
    assert again.distance2 == pytest.approx(geo.distance2, rel=1e-9)
    # the same weights on every face (entries that are no face are clipped to the range)
    faces = s.face_mask if geo.metric.shape == s.face_shape else ...
    np.testing.assert_array_equal(again.metric[faces], geo.metric[faces])
    same = wfr_cvx.geodesic(a, b, s, 0.5, metric=geo.metric)
    assert same.distance2 == pytest.approx(geo.distance2, rel=1e-9)


def test_face_weights_on_a_simplex_grid_are_checked_on_its_faces():
    s = Grid.simplex(4, 2)
    faces = np.full(s.face_shape, 1e-4)
    faces[~s.face_mask] = 1.0        # entries that are no face: clipped into the faces' range
    checked = wfr_cvx.metric.check_metric(faces, s)
    assert checked.max() == 1e-4 and checked.min() == 1e-4
    faces[~s.face_mask] = np.nan
    assert np.all(wfr_cvx.metric.check_metric(faces, s) == 1e-4)
    faces[0, 0, 0, 0] = -1.0
    with pytest.raises(ValueError, match="face weights must be finite and > 0 on every face"):
        wfr_cvx.metric.check_metric(faces, s)


def test_from_dict_refuses_what_is_not_a_geodesic_summary():
    with pytest.raises(TypeError, match="`d` must be a dict"):
        Geodesic.from_dict("{}")
    with pytest.raises(ValueError, match="has no 'inputs'"):
        Geodesic.from_dict({"figures": {}})
    d = _two_regimes().to_dict(include_path=True)
    d["rho"] = d["rho"][:-1]
    with pytest.raises(ValueError, match=r"`d\['rho'\]` must have shape \(5, 2, 16\)"):
        Geodesic.from_dict(d)


def _rewrite_header(path, **changes):
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    header = {**json.loads(str(arrays.pop("header")[()])), **changes}
    with open(path, "wb") as handle:
        np.savez(handle, header=np.array(json.dumps(header)), **arrays)


def test_a_damaged_or_inconsistent_file_is_a_clear_error(tmp_path):
    """Before: a damaged member raised zlib.error without the file's name; arrays of the
    wrong shape for the header's grid, a negative lam or an unknown status loaded and
    failed later (or never)."""
    g = Grid(8, 2, regimes=("on", "off"))
    geo = wfr_cvx.geodesic(g.dirac(0.25, "on"), g.dirac(0.5, "off"), g, 0.5)
    path = geo.save(tmp_path / "x.npz")
    info = zipfile.ZipFile(path).getinfo("rho.npy")
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for i in range(start + 10, start + 40):
        data[i] ^= 0xFF
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"damaged.npz' is damaged"):
        wfr_cvx.load(damaged)

    def rewritten(name, **arrays_or_header):
        target = tmp_path / name
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
        header = json.loads(str(arrays.pop("header")[()]))
        header.update(arrays_or_header.pop("header", {}))
        arrays.update(arrays_or_header)
        with open(target, "wb") as handle:
            np.savez(handle, header=np.array(json.dumps(header)), **arrays)
        return target

    with pytest.raises(ValueError, match=r"array 'rho' has shape \(2, 2, 8\).* needs "
                                         r"\(3, 2, 8\)"):
        wfr_cvx.load(rewritten("short.npz", rho=geo.rho[:2]))
    with pytest.raises(ValueError, match=r"array 'rho' has shape \(3, 2, 8\)"):
        wfr_cvx.load(rewritten("wide.npz", header={"grid": {
            "n_weights": 16, "n_steps": 2, "dims": 1, "regimes": ["on", "off"],
            "assets": None}}, mask=np.ones((2, 16), bool)))
    with pytest.raises(ValueError, match="array 'metric'"):
        wfr_cvx.load(rewritten("metric.npz", metric=np.ones(3)))
    for header, message in (({"iterations": "many"}, "`iterations` must be a whole number"),
                            ({"lam": -1.0}, "`lam` must be a number > 0"),
                            ({"status": "Great"}, "`status` 'Great' is not a status"),
                            ({"solve_time": "slow"}, "the time `solve_time`")):
        with pytest.raises(ValueError, match=message):
            wfr_cvx.load(rewritten("header.npz", header=header))


def _rewritten(path, target, header=None, **arrays):
    """A copy of the saved result ``path`` at ``target`` with header fields and arrays
    replaced."""
    with np.load(path, allow_pickle=False) as archive:
        stored = {name: archive[name] for name in archive.files}
    stored["header"] = np.array(json.dumps({**json.loads(str(stored["header"][()])),
                                            **(header or {})}))
    stored.update(arrays)
    with open(target, "wb") as handle:
        np.savez(handle, **stored)
    return target


@pytest.fixture(scope="module")
def two_regimes_file(tmp_path_factory):
    geo = _two_regimes()
    return geo, geo.save(tmp_path_factory.mktemp("geodesic") / "two.npz")


def _mask_off_a_held_cell(geo):
    mask = geo.grid.mask.copy()
    mask[0, int(np.argmax(geo.rho[0, 0]))] = False
    return mask


def _swapped(values, i=0, j=-1):
    out = values.copy()
    out[[i, j]] = out[[j, i]]
    return out


#: Edits of a saved two-regime path (the header's fields, or arrays made from the
#: result) and the message that refuses each, naming the field.
GEODESIC_EDITS = {
    "negative_cost": ({}, lambda g: {"transport_per_step": np.r_[-1.0, g.transport_per_step[1:]]},
                      r"array 'transport_per_step' holds negative values, down to -1\.0"),
    "nan_level": ({}, lambda g: {"rho": np.where(np.arange(g.rho.size).reshape(g.rho.shape)
                                                 == 40, np.nan, g.rho)},
                  r"array 'rho' holds 1 value\(s\) that are not finite"),
    "lam": ({"lam": 0.5}, lambda g: {},
            r"array 'transport_per_step' and array 'reaction_per_step' .* are not the cost "
            r"of the path: .* at the header's `lam` 0\.5"),
    "swapped_costs": ({}, lambda g: {"transport_per_step": _swapped(g.transport_per_step),
                                     "reaction_per_step": _swapped(g.reaction_per_step)},
                      r"array 'transport_per_step' and array 'reaction_per_step' .* are not "
                      r"the cost of the path"),
    "metric": ({}, lambda g: {"metric": 3.0 * g.metric},
               r"array 'transport_per_step' and array 'reaction_per_step' .* are not the "
               r"cost of the path"),
    "scheme": ({"scheme": "power"}, lambda g: {},
               r"array 'rho_(mean|face)' is not the time mean of the levels array 'rho' that "
               r"the scheme 'power' \(the header's `scheme`\)"),
    "source": ({}, lambda g: {"source": 1.1 * g.source},
               r"array 'source' is not the source with which array 'rho' and array "
               r"'momentum' meet the continuity equation"),
    "mask": ({}, lambda g: {"mask": _mask_off_a_held_cell(g)},
             r"array 'mask' switches off 1 cell\(s\) where the path holds or creates mass"),
    "status_max_iterations": ({"status": "MaxIterations"}, lambda g: {},
                              r"`status` 'MaxIterations' is not a status a result holds "
                              r"\(AlmostSolved, Solved; RolledOut"),
    "status_infeasible": ({"status": "PrimalInfeasible"}, lambda g: {},
                          r"`status` 'PrimalInfeasible' is not a status a result holds"),
    "trading_window": ({"constraints": [{"kind": "trading_window", "closed_steps": [0, 1]}]},
                       lambda g: {}, r"the path does not keep the header's `constraints` "
                                     r"\[TradingWindow.*\]: transport across faces closed "
                                     r"on step\(s\) \[0, 1\]"),
    "max_velocity": ({"constraints": [{"kind": "max_velocity", "vmax": 0.01}]}, lambda g: {},
                     r"the path does not keep the header's `constraints` \[MaxVelocity.*\]: "
                     r"a speed above the cap 0\.01"),
    "max_reaction_rate": ({"constraints": [{"kind": "max_reaction_rate", "rmax": 0.01}]},
                          lambda g: {}, r"the path does not keep the header's `constraints` "
                                        r"\[MaxReactionRate.*\]: a rate above the cap 0\.01"),
    "max_travel": ({"constraints": [{"kind": "max_travel", "distance": 0.5}]}, lambda g: {},
                   r"the header's `constraints`: MaxTravel caps how far an atom of an "
                   r"ensemble travels"),
}


@pytest.mark.parametrize("edit", list(GEODESIC_EDITS))
def test_an_edited_geodesic_file_is_refused_by_field(two_regimes_file, tmp_path, edit):
    """Before: each loaded as "Solved": costs of -1 (d^2 negative), a NaN level, a lam
    that the saved reaction costs contradict, costs swapped between steps, a metric or
    scheme they were not solved with, a source that breaks continuity, a mask that
    switches off a cell holding mass (mass() and to_frame() then disagreed), statuses no
    result holds, and constraints the path breaks or that only ensembles take."""
    geo, path = two_regimes_file
    header, arrays, message = GEODESIC_EDITS[edit]
    edited = _rewritten(path, tmp_path / "edited.npz", header, **arrays(geo))
    if edit in WARNED_EDITS:
        with pytest.warns(InconsistentFileWarning, match=r"edited\.npz': " + message):
            wfr_cvx.load(edited)
    else:
        with pytest.raises(ValueError, match=r"edited\.npz': " + message):
            wfr_cvx.load(edited)


#: Edits that only the figures' consistency with the arrays shows: warned about, not
#: refused, since some files a solve wrote disagree as much (loosened tolerances, a
#: position entering an empty regime at a large lam, files from before rho_mean was
#: recomputed from the levels).
WARNED_EDITS = {"lam", "swapped_costs", "metric", "scheme", "source", "trading_window",
                "max_velocity", "max_reaction_rate"}


@pytest.mark.parametrize("edit", ["negative_cost", "nan_level", "lam", "swapped_costs",
                                  "status_max_iterations", "trading_window"])
def test_an_edited_summary_is_refused_by_field(edit):
    """The same edits of a summary (Geodesic.from_dict), named by their key."""
    geo = _two_regimes()
    header, arrays, _ = GEODESIC_EDITS[edit]
    d = json.loads(json.dumps(geo.to_dict(include_path=True)))
    keys = {"lam": ("inputs", "lam"), "status": ("d", "status"),
            "constraints": ("inputs", "constraints")}
    for field, value in header.items():
        section, key = keys[field]
        (d if section == "d" else d[section])[key] = value
    for name, value in arrays(geo).items():
        target = d["figures"] if name.endswith("_per_step") else d
        target[name] = json.loads(json.dumps(io.to_jsonable(value)))
    where = {"negative_cost": r"`d\['figures'\]\['transport_per_step'\]` holds negative",
             "nan_level": r"`d\['rho'\]` holds 1 value\(s\) that are not finite numbers "
                          r"\(NaN, inf, or null in JSON\)",
             "lam": r"are not the cost of the path: .* at `d\['inputs'\]\['lam'\]` 0\.5",
             "swapped_costs": r"`d\['figures'\]\['transport_per_step'\]` and .* are not the "
                              r"cost of the path",
             "status_max_iterations": r"`d`: `status` 'MaxIterations' is not a status a "
                                      r"result holds",
             "trading_window": r"the path does not keep `d\['inputs'\]\['constraints'\]`"}
    if edit in WARNED_EDITS:
        with pytest.warns(InconsistentFileWarning, match=where[edit]):
            Geodesic.from_dict(d)
    else:
        with pytest.raises(ValueError, match=where[edit]):
            Geodesic.from_dict(d)


def test_total_mass_between_ends_of_unequal_mass_is_refused(tmp_path):
    """Before: a TotalMass added to the header of a path between ends of mass 1 and 1.3
    loaded, a constraint its ends cannot meet."""
    geo, _ = _constrained([MaxVelocity(0.1)])
    path = _rewritten(geo.save(tmp_path / "x.npz"), tmp_path / "edited.npz",
                      {"constraints": [{"kind": "total_mass"}]})
    with pytest.warns(InconsistentFileWarning, match=r"edited\.npz': the header's "
                                                     r"`constraints` hold TotalMass, but"):
        wfr_cvx.load(path)


def test_files_a_solve_wrote_load_whatever_their_consistency(tmp_path):
    """A small position entering an empty regime at lam = 1 (its cost lies in cells the
    cost check leaves out), and a TotalMass rebalance step on scs (its free end holds the
    mass to 1e-8): both were refused as edited files."""
    g = Grid(64, 16, regimes=("on", "off"))
    rho1 = g.bump(0.6, 0.05, "on", 0.99) + g.bump(0.5, 0.1, "off", 0.01)
    entering = wfr_cvx.geodesic(g.bump(0.3, 0.05, "on", 1.0), rho1, g, lam=1.0)
    g1 = Grid(32, 8)
    step = wfr_cvx.rebalance(g1.bump(0.6, 0.06), g1, 0.3, potential=(g1.weights - 0.4) ** 2,
                             tau=5.0, backend="scs", constraints=[wfr_cvx.TotalMass()])
    for geo in (entering, step.path):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InconsistentFileWarning)
            back = wfr_cvx.load(geo.save(tmp_path / "x.npz"))
        assert back.distance2 == geo.distance2


def test_a_summary_whose_ends_are_not_its_path_is_refused():
    """Before: inputs.rho0 other than the path's first level loaded; solve_from_dict then
    solved another problem than the path's."""
    d = json.loads(json.dumps(_two_regimes().to_dict(include_path=True)))
    d["inputs"]["rho0"][0][3] += 0.5
    with pytest.raises(ValueError, match=r"`d\['inputs'\]\['rho0'\]` is not the path's "
                                         r"first level `d\['rho'\]\[0\]`"):
        Geodesic.from_dict(d)


def _square():
    g = Grid(6, 4, dims=2)
    return wfr_cvx.geodesic(g.bump((0.3, 0.3), 0.15), g.bump((0.7, 0.6), 0.15, mass=1.3),
                            g, 0.3)


def _on(backend, scheme, **options):
    g = Grid(16, 4, regimes=("on", "off"))
    r0 = g.bump(0.6, 0.08, "on", mass=0.7) + g.bump(0.35, 0.08, "off", mass=0.3)
    r1 = g.bump(0.5, 0.08, "on", mass=0.3) + g.bump(0.3, 0.08, "off", mass=0.7)
    return wfr_cvx.geodesic(r0, r1, g, 0.3, backend=backend, scheme=scheme, **options)


def _near_ends():
    g = Grid(64, 16)
    return wfr_cvx.geodesic(g.bump(0.5, 0.05), g.bump(0.51, 0.05), g, 0.3)


def _switch(scheme):
    g = Grid(16, 4, regimes=("on", "off"))
    return wfr_cvx.geodesic(g.bump(0.5, 0.08, "on"), g.bump(0.5, 0.08, "off"), g, 0.5,
                            scheme=scheme)


def _rebalanced():
    g = Grid(16, 4)
    return wfr_cvx.rebalance(g.bump(0.3, 0.05), g, 0.5, tau=10.0,
                             potential=lambda w: (w[:, 0] - 0.7) ** 2).path


#: Fresh results of the kinds the checks of load and from_dict must pass: grids with two
#: axes, the first-order backends (whose path meets its figures least closely; scs also
#: at its own looser default tolerance), near-equal ends, the closed-form reaction path
#: on each scheme (exact on the power means, the Hellinger figure on the arithmetic
#: one), nothing at all, a rebalance step's path.
FRESH = {
    "square": _square,
    "scs_arithmetic": lambda: _on("scs", "arithmetic"),
    "scs_loose_power": lambda: _on("scs", "power", eps_abs=1e-4, eps_rel=1e-4),
    "dr_power": lambda: _on("dr", "power"),
    "near_ends": _near_ends,
    "switch_centred": lambda: _switch("centred"),
    "switch_arithmetic": lambda: _switch("arithmetic"),
    "nothing": lambda: wfr_cvx.geodesic(Grid(8, 2).zeros(), Grid(8, 2).zeros(), Grid(8, 2),
                                        0.5),
    "rebalance": _rebalanced,
}


@pytest.mark.parametrize("kind", list(FRESH))
def test_fresh_results_of_every_kind_still_load(kind, tmp_path):
    geo = FRESH[kind]()
    assert_same(wfr_cvx.load(geo.save(tmp_path / "fresh.npz")), geo)
    assert_same(Geodesic.from_dict(json.loads(json.dumps(geo.to_dict(include_path=True)))),
                geo)


def _damaged_member(path, target, name, data):
    """A copy of the archive ``path`` at ``target`` with member ``name.npy`` replaced by
    the bytes ``data``."""
    with zipfile.ZipFile(path) as archive:
        members = {member: archive.read(member) for member in archive.namelist()}
    with zipfile.ZipFile(target, "w") as archive:
        for member, content in members.items():
            archive.writestr(member, data if member == f"{name}.npy" else content)
    return target


@pytest.mark.parametrize("damage", ["truncated", "not_npy", "objects"])
def test_a_damaged_member_is_named_with_its_file(tmp_path, damage):
    """Before: numpy's own errors came through: "EOF: reading array data", an
    AttributeError on 'bytes', or the advice to load with allow_pickle."""
    import io as bytes_io

    geo = _two_regimes()
    ens = _ensemble_plain()
    for result, name in ((geo, "rho"), (ens, "mass_out")):
        path = result.save(tmp_path / "whole.npz")
        with zipfile.ZipFile(path) as archive:
            good = archive.read(f"{name}.npy")
        if damage == "truncated":
            data = good[:len(good) // 2]
        elif damage == "not_npy":
            data = b"not an array"
        else:
            buffer = bytes_io.BytesIO()
            np.save(buffer, np.array([{"x": 1}], dtype=object), allow_pickle=True)
            data = buffer.getvalue()
        broken = _damaged_member(path, tmp_path / "broken.npz", name, data)
        with pytest.raises(ValueError, match=rf"broken\.npz' is damaged: array '{name}'") as info:
            wfr_cvx.load(broken)
        assert "allow_pickle" not in str(info.value)


@pytest.mark.parametrize("section, key", [("inputs", "lam"), ("inputs", "backend"),
                                          ("inputs", "metric"), ("inputs", "scheme"),
                                          ("timings", "setup")])
def test_a_summary_missing_a_key_is_a_value_error(section, key):
    """Before: a bare KeyError."""
    d = _two_regimes().to_dict(include_path=True)
    del d[section][key]
    with pytest.raises(ValueError, match=rf"`d\['{section}'\]` has no '{key}'"):
        Geodesic.from_dict(d)
    if section == "inputs":
        with pytest.raises(ValueError, match=rf"`d\['{section}'\]` has no '{key}'"):
            io.solve_from_dict(d)


def test_a_summary_with_no_metric_or_a_bad_status_is_refused():
    """Before: `metric: None` gave a result whose metric was NaN everywhere."""
    d = _two_regimes().to_dict(include_path=True)
    d["inputs"]["metric"] = None
    with pytest.raises(ValueError, match=r"`d\['inputs'\]\['metric'\]` must be a number"):
        Geodesic.from_dict(d)
    d = _two_regimes().to_dict(include_path=True)
    d["inputs"]["metric"] = [1.0, 2.0]
    with pytest.raises(ValueError, match=r"the metric must be finite numbers of shape"):
        Geodesic.from_dict(d)
    d = _two_regimes().to_dict(include_path=True)
    d["status"] = "optimal"
    with pytest.raises(ValueError, match="`status` 'optimal' is not a status"):
        Geodesic.from_dict(d)


def test_a_newer_format_version_is_refused(tmp_path):
    path = _two_regimes().save(tmp_path / "future.npz")
    _rewrite_header(path, format_version=io.FORMAT_VERSION + 1)
    with pytest.raises(ValueError) as info:
        wfr_cvx.load(path)
    message = str(info.value)
    assert "future.npz" in message
    assert f"version {io.FORMAT_VERSION + 1}" in message
    assert f"version {io.FORMAT_VERSION} " in message


def test_an_unknown_kind_is_refused(tmp_path):
    path = _two_regimes().save(tmp_path / "other.npz")
    _rewrite_header(path, kind="hologram")
    with pytest.raises(ValueError, match="kind 'hologram'"):
        wfr_cvx.load(path)


def test_bad_paths_and_foreign_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        wfr_cvx.load(tmp_path / "missing.npz")
    text = tmp_path / "notes.npz"
    text.write_text("not a result")
    with pytest.raises(ValueError, match="notes.npz.*not a wfr_cvx result file"):
        wfr_cvx.load(text)
    plain = tmp_path / "plain.npz"
    np.savez(plain, rho=np.zeros(3))
    with pytest.raises(ValueError, match="plain.npz.*without the wfr_cvx header"):
        wfr_cvx.load(plain)
    npy = tmp_path / "array.npy"
    np.save(npy, np.zeros(3))
    with pytest.raises(ValueError, match="not an .npz archive"):
        wfr_cvx.load(npy)
    foreign = tmp_path / "foreign.npz"
    with open(foreign, "wb") as handle:
        np.savez(handle, header=np.array(json.dumps({"format": "something else"})))
    with pytest.raises(ValueError, match="does not say format 'wfr_cvx.result'"):
        wfr_cvx.load(foreign)
    with zipfile.ZipFile(tmp_path / "empty.zip", "w"):
        pass
    with pytest.raises(ValueError, match="not a wfr_cvx result file"):
        wfr_cvx.load(tmp_path / "empty.zip")


def test_save_refuses_other_objects(tmp_path):
    with pytest.raises(TypeError, match="`result` must be a wfr_cvx Geodesic"):
        io.save({"rho": [1.0]}, tmp_path / "x.npz")


def test_load_is_exported_lazily():
    script = ("import sys, wfr_cvx\n"
              "assert 'load' in dir(wfr_cvx) and 'wfr_cvx.io' not in sys.modules\n"
              "wfr_cvx.load\n"
              "heavy = [m for m in ('matplotlib', 'xarray', 'tqdm', 'clarabel') "
              "if m in sys.modules]\n"
              "assert not heavy, heavy\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("grid", [Grid(16, 4), Grid.simplex(8, 4)], ids=["1d", "simplex"])
def test_a_rebalance_step_round_trips_its_path_and_is_solved_again(grid):
    """The summary records the potential's values, so the step can be taken again (it
    used to say its potential was code the summary cannot carry)."""
    rho0 = grid.bump(0.3, 0.05) if grid.dims == 1 else grid.bump((0.3, 0.3), 0.1)
    step = wfr_cvx.rebalance(rho0, grid, 0.5, tau=10.0,
                             potential=lambda w: (w[..., 0] - 0.7) ** 2)
    d = json.loads(json.dumps(io.rebalance_to_dict(step, include_path=True)))
    assert "rho1" not in d["inputs"]  # the path's end is the step's answer
    np.testing.assert_array_equal(np.asarray(d["figures"]["target"]), step.path.rho[-1])
    assert_same(Geodesic.from_dict(d), step.path)
    again = io.solve_from_dict(d)
    assert isinstance(again, wfr_cvx.Rebalance)
    np.testing.assert_array_equal(again.potential, step.potential)
    assert again.objective == pytest.approx(step.objective, rel=1e-7)
    np.testing.assert_allclose(again.target, step.target, atol=1e-6 * step.target.sum())
    del d["inputs"]["potential"]  # a summary written before the potential was recorded
    with pytest.raises(ValueError, match="records no potential"):
        io.solve_from_dict(d)


# -- constrained results -------------------------------------------------------------------

#: One list per kind of grid constraint (and a cap on some steps only), each binding on
#: the ends of :func:`_constrained`: its d^2 is above the free one.
CONSTRAINED = {
    "max_velocity": [MaxVelocity(0.1)],
    "max_velocity_on_steps": [MaxVelocity(0.05, steps=[1, 2])],
    "trading_window": [TradingWindow([0, 1], reaction=False)],
    "max_reaction_rate": [MaxReactionRate(1.0)],
    "total_mass": [TotalMass()],
}


def _constrained(constraints):
    """The geodesic under ``constraints`` on a small two-regime grid, and the free d^2."""
    g = Grid(16, 4, regimes=("on", "off"))
    r0 = g.bump(0.3, 0.08, "on", mass=0.7) + g.bump(0.4, 0.08, "off", mass=0.3)
    balanced = any(isinstance(c, TotalMass) for c in constraints)  # equal masses
    r1 = (g.bump(0.6, 0.08, "on", mass=0.4 if balanced else 0.5)
          + g.bump(0.5, 0.08, "off", mass=0.6 if balanced else 0.8))
    free = wfr_cvx.geodesic(r0, r1, g, 0.3).distance2
    return wfr_cvx.geodesic(r0, r1, g, 0.3, constraints=constraints), free


@pytest.fixture(scope="module", params=list(CONSTRAINED))
def constrained(request):
    """(geodesic, free d^2) for each list of :data:`CONSTRAINED`."""
    return _constrained(CONSTRAINED[request.param])


def test_a_constrained_result_keeps_its_constraints(constrained, request):
    geo, free = constrained
    want = tuple(CONSTRAINED[request.node.callspec.params["constrained"]])
    assert type(geo.constraints) is tuple and geo.constraints == want
    assert geo.distance2 > free * (1 + 1e-3)  # binding: another problem than the free one
    with pytest.raises(AttributeError):
        geo.constraints = ()
    assert _two_regimes().constraints == ()


def test_a_constrained_summary_solves_the_same_problem_again(constrained):
    geo, free = constrained
    d = json.loads(json.dumps(geo.to_dict(), allow_nan=False))
    again = io.solve_from_dict(d)
    assert again.distance2 == pytest.approx(geo.distance2, rel=1e-6)
    assert not again.distance2 == pytest.approx(free, rel=1e-3)
    assert again.constraints == geo.constraints
    assert d["inputs"]["constraints"] == [c.table() for c in geo.constraints]


def test_a_saved_constrained_result_keeps_its_constraints(constrained, tmp_path):
    geo, _ = constrained
    path = geo.save(tmp_path / "capped.npz")
    back = wfr_cvx.load(path)
    again = io.solve_from_dict(back.to_dict())
    assert again.distance2 == pytest.approx(geo.distance2, rel=1e-6)
    assert_same(back, geo)
    with np.load(path, allow_pickle=False) as archive:
        header = json.loads(str(archive["header"][()]))
    assert header["constraints"] == [c.table() for c in geo.constraints]


def test_a_constrained_json_round_trip_keeps_its_constraints(constrained):
    geo, _ = constrained
    d = json.loads(json.dumps(geo.to_dict(include_path=True), allow_nan=False))
    assert_same(Geodesic.from_dict(d), geo)


def test_a_file_written_without_constraints_loads_unconstrained(tmp_path):
    """Files written before results kept their constraints have no such header entry."""
    geo = _two_regimes()
    path = geo.save(tmp_path / "old.npz")
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    header = json.loads(str(arrays.pop("header")[()]))
    header.pop("constraints", None)
    with open(path, "wb") as handle:
        np.savez(handle, header=np.array(json.dumps(header)), **arrays)
    back = wfr_cvx.load(path)
    assert back.constraints == ()
    assert_same(back, geo)


def test_a_summary_without_constraints_means_none_and_a_cli_echo_is_read():
    geo, free = _constrained([MaxVelocity(0.1)])
    d = json.loads(json.dumps(geo.to_dict(include_path=True)))
    del d["inputs"]["constraints"]  # as written before results kept their constraints
    assert Geodesic.from_dict(d).constraints == ()
    assert io.solve_from_dict(d).distance2 == pytest.approx(free, rel=1e-6)
    # `wfr-cvx solve --json` of an earlier wfr_cvx: the constraints in problem.constraints
    d["problem"] = {"constraints": [{"kind": "max_velocity", "vmax": 0.1}]}
    assert Geodesic.from_dict(d).constraints == (MaxVelocity(0.1),)
    assert io.solve_from_dict(d).distance2 == pytest.approx(geo.distance2, rel=1e-6)
    d["inputs"]["constraints"] = []  # and a summary that contradicts its echo
    with pytest.raises(ValueError, match="constraints.*differ"):
        io.solve_from_dict(d)
    with pytest.raises(ValueError, match="constraints.*differ"):
        Geodesic.from_dict(d)


def test_malformed_constraint_tables_are_clear_errors(tmp_path):
    geo, _ = _constrained([MaxVelocity(0.1)])
    d = geo.to_dict(include_path=True)
    d["inputs"]["constraints"] = [{"kind": "warp_speed"}]
    with pytest.raises(ValueError, match=r"constraints.*\[0\].*warp_speed"):
        io.solve_from_dict(d)
    d["inputs"]["constraints"] = {"kind": "max_velocity", "vmax": 0.1}
    with pytest.raises(ValueError, match="constraints.*list"):
        Geodesic.from_dict(d)
    path = geo.save(tmp_path / "bad.npz")
    _rewrite_header(path, constraints=[{"kind": "max_velocity", "vmax": -1.0}])
    with pytest.raises(ValueError, match=r"bad.npz.*constraints.*\[0\].*vmax"):
        wfr_cvx.load(path)


@dataclass(frozen=True)
class _ClosedFirstStep(Constraint):
    """A user's own constraint: no problem-file kind wfr_cvx can read back."""

    kind: ClassVar[str] = "closed_first_step"

    def apply(self, plan, grid):
        plan.faces[0] = False


class _NoFields(Constraint):
    """A user's own constraint that is not even a dataclass."""

    kind = "no_fields"

    def apply(self, plan, grid):
        plan.reaction[-1] = False


class _SlowerOnStepOne(MaxVelocity):
    """A built-in kind with another meaning: its table would read back as MaxVelocity."""

    def apply(self, plan, grid):
        plan.velocity_caps.append((self.vmax, np.arange(grid.n_steps) == 1))


@pytest.mark.parametrize("constraint", [_ClosedFirstStep(), _NoFields(),
                                        _SlowerOnStepOne(0.1)],
                         ids=["own_kind", "not_a_dataclass", "subclass"])
def test_a_constraint_without_a_table_is_refused_not_dropped(constraint, tmp_path):
    geo, _ = _constrained([MaxVelocity(0.5), constraint])
    name = type(constraint).__name__
    for write in (geo.to_dict, lambda: geo.to_dict(include_path=True),
                  lambda: geo.save(tmp_path / "own.npz")):
        with pytest.raises(TypeError, match=name):
            write()
    assert not (tmp_path / "own.npz").exists()


# -- ensemble results ----------------------------------------------------------------------

#: The scalar fields of an EnsembleGeodesic, compared with == and by type.
ENSEMBLE_FIELDS = ("distance2", "distance", "transport_cost", "reaction_cost", "hk_distance2",
                   "n_pairs_kept", "lower_bound", "gap", "status", "solver_status",
                   "n_pairs_solved", "rounds", "iterations", "assembly_time", "setup_time",
                   "solve_time", "certify_time", "backend", "lam", "assets", "regimes",
                   "n_atoms", "constraints", "success")
#: The fields of its endpoints (arrays compared by value and dtype).
ENSEMBLE_INPUTS = ("weights", "mass", "regime", "assets", "regimes", "n_atoms", "n_assets",
                   "total_mass")


def _ensembles(rng, *, equal_mass=False):
    """5 and 6 atoms in 3 assets and 2 regimes: labelled atoms on the simplex, and an
    unlabelled box-domain ensemble with its assets in another order."""
    assets = ("eq", "bd", "cash")
    atoms = pd.Index([f"p{i}" for i in range(5)], name="portfolio")
    e0 = Ensemble(pd.DataFrame(rng.dirichlet(np.ones(3), 5), index=atoms, columns=assets),
                  rng.uniform(0.5, 2.0, 5), ["on", "off", "on", "on", "off"],
                  regimes=("on", "off"), domain="simplex")
    mass = rng.uniform(0.5, 2.0, 6)
    if equal_mass:
        mass *= e0.total_mass / mass.sum()
    e1 = Ensemble(rng.dirichlet(np.ones(3), 6)[:, [2, 0, 1]], mass, [0, 1, 1, 0, 1, 0],
                  assets=("cash", "eq", "bd"), regimes=("off", "on"),
                  domain=(0.0, np.array([1.0, 1.0, np.inf])))
    return e0, e1


def _by_asset(matrix):
    """A metric over ("eq", "bd", "cash") labelled by asset: the two ensembles list their
    assets in different orders, so an unlabelled matrix would be refused."""
    assets = ["eq", "bd", "cash"]
    return pd.DataFrame(matrix, index=assets, columns=assets)


def _ensemble_capped():
    e0, e1 = _ensembles(np.random.default_rng(7))
    metric = {"on": 2.0, "off": _by_asset([[1.0, 0.2, 0.0], [0.2, 1.5, 0.0],
                                           [0.0, 0.0, 0.5]])}
    return ensemble_geodesic(e0, e1, lam=0.3, metric=metric, constraints=[MaxTravel(0.5)])


def _ensemble_total_mass():
    e0, e1 = _ensembles(np.random.default_rng(11), equal_mass=True)
    return ensemble_geodesic(e0, e1, lam=0.4, metric=1.5, constraints=[TotalMass()])


def _ensemble_plain():
    e0, e1 = _ensembles(np.random.default_rng(5))
    return ensemble_geodesic(e0, e1, lam=0.5, metric=_by_asset(np.diag([1.0, 2.0, 3.0])))


ENSEMBLE_CASES = {"capped": _ensemble_capped, "total_mass": _ensemble_total_mass,
                  "plain": _ensemble_plain}


@pytest.fixture(scope="module", params=list(ENSEMBLE_CASES))
def ens(request):
    return ENSEMBLE_CASES[request.param]()


def _same_metric(got, want):
    assert type(got) is type(want)
    if isinstance(want, dict):
        assert list(got) == list(want)
        for key in want:
            np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    elif isinstance(want, np.ndarray):
        np.testing.assert_array_equal(got, want)
        assert got.dtype == want.dtype
    else:
        assert got == want


def assert_same_ensemble(back, geo):
    """Equal in every field, table, endpoint and path output."""
    assert type(back) is EnsembleGeodesic
    for name in ENSEMBLE_FIELDS:
        assert getattr(back, name) == getattr(geo, name), name
        assert type(getattr(back, name)) is type(getattr(geo, name)), name
    _same_metric(back.metric, geo.metric)
    pd.testing.assert_frame_equal(back.plan, geo.plan)
    pd.testing.assert_frame_equal(back.pieces, geo.pieces)
    pd.testing.assert_series_equal(back.destroyed, geo.destroyed)
    pd.testing.assert_series_equal(back.created, geo.created)
    for key in ("e0", "e1"):
        got, want = getattr(back, key), getattr(geo, key)
        for name in ENSEMBLE_INPUTS:
            g, w = getattr(got, name), getattr(want, name)
            if isinstance(w, np.ndarray):
                np.testing.assert_array_equal(g, w, err_msg=f"{key}.{name}")
                assert g.dtype == w.dtype, f"{key}.{name}"
            else:
                assert g == w, f"{key}.{name}"
        pd.testing.assert_index_equal(got.atoms, want.atoms, exact=True)
        pd.testing.assert_frame_equal(got.to_frame(), want.to_frame())
        if isinstance(want.domain, tuple):
            for g, w in zip(got.domain, want.domain, strict=True):
                np.testing.assert_array_equal(g, w)
        else:
            assert got.domain == want.domain
    times = [0.0, 0.25, 0.5, 0.8, 1.0]
    for s in times:
        pd.testing.assert_frame_equal(back.at(s).to_frame(), geo.at(s).to_frame())
    pd.testing.assert_frame_equal(back.to_frame(), geo.to_frame())
    pd.testing.assert_frame_equal(back.to_frame(times), geo.to_frame(times))
    pd.testing.assert_frame_equal(back.mass(), geo.mass())
    assert repr(back) == repr(geo)


def test_an_ensemble_result_saves_and_loads_the_same(ens, tmp_path):
    path = ens.save(tmp_path / "ensemble.npz")
    assert path == tmp_path / "ensemble.npz"
    back = wfr_cvx.load(path)
    assert_same_ensemble(back, ens)
    assert_same_ensemble(wfr_cvx.load(back.save(tmp_path / "again")), ens)


def test_the_total_mass_constraint_comes_back_and_shapes_the_path(tmp_path):
    geo = _ensemble_total_mass()
    back = wfr_cvx.load(geo.save(tmp_path / "sphere.npz"))
    assert back.constraints == (TotalMass(),)
    assert back.distance2 != back.hk_distance2  # the spherical distance, not HK's
    totals = back.mass(np.linspace(0.0, 1.0, 9)).sum(axis=1).to_numpy()
    np.testing.assert_allclose(totals, geo.e0.total_mass, rtol=1e-12)
    assert_same_ensemble(back, geo)


def test_date_labelled_portfolios_are_refused_with_the_relabelling_advice(tmp_path):
    dates = pd.date_range("2020-01-31", periods=3, freq="ME")
    weights = pd.DataFrame([[0.2, 0.8], [0.5, 0.5], [0.7, 0.3]], index=dates,
                           columns=["eq", "bd"])
    e1 = Ensemble(pd.DataFrame([[0.3, 0.7], [0.6, 0.4]], columns=["eq", "bd"]), [1.5, 1.5])
    geo = ensemble_geodesic(Ensemble(weights, [1.0, 1.0, 1.0]), e1, lam=0.5)
    with pytest.raises(TypeError, match=r"datetime64.*weights\.index\.astype\(str\)"):
        geo.save(tmp_path / "dated.npz")
    weights.index = weights.index.astype(str)  # the advice
    relabelled = ensemble_geodesic(Ensemble(weights, [1.0, 1.0, 1.0]), e1, lam=0.5)
    back = wfr_cvx.load(relabelled.save(tmp_path / "text.npz"))
    assert list(back.e0.atoms) == ["2020-01-31", "2020-02-29", "2020-03-31"]
    assert back.distance2 == geo.distance2


def test_the_ensemble_header_is_documented_json(tmp_path):
    geo = _ensemble_capped()
    with np.load(geo.save(tmp_path / "r.npz"), allow_pickle=False) as archive:
        header = json.loads(str(archive["header"][()]))
        files = set(archive.files)
    assert header["format"] == "wfr_cvx.result" and header["kind"] == "ensemble"
    assert header["format_version"] == io.FORMAT_VERSION
    assert header["constraints"] == [{"kind": "max_travel", "distance": 0.5}]
    assert header["metric"] == {"kind": "per_regime", "regimes": ["on", "off"]}
    assert header["e0"] == {"assets": ["eq", "bd", "cash"], "regimes": ["on", "off"],
                            "atoms": {"dtype": "str", "name": "portfolio"} if (
                                str(geo.e0.atoms.dtype) == "str") else {
                                "dtype": "object", "name": "portfolio"},
                            "domain": "simplex"}
    assert header["e1"]["atoms"] == {"range": [0, 6, 1], "name": None}
    assert header["e1"]["domain"] == "box" and header["lam"] == 0.3
    assert files == {"header", "metric", "e0_weights", "e0_mass", "e0_regime", "e0_atoms",
                     "e1_weights", "e1_mass", "e1_regime", "e1_lower", "e1_upper",
                     "pair_src", "pair_dst", "pair_distance", "pair_regime", "one_minus_cos",
                     "mass_out", "mass_in", "destroyed", "created"}


def test_a_fresh_process_reads_the_same_ensemble_result(tmp_path):
    geo = _ensemble_total_mass()
    arrays, printed = _loaded_in_a_fresh_process(
        geo.save(tmp_path / "ensemble.npz"),
        "path = geo.to_frame()\n"
        "np.savez(out, mass_out=geo.plan['mass_out'].to_numpy(),\n"
        "         destroyed=geo.destroyed.to_numpy(), created=geo.created.to_numpy(),\n"
        "         path=path[list(geo.assets) + ['mass']].to_numpy(),\n"
        "         regime_mass=geo.mass().to_numpy())\n"
        "print(json.dumps({'type': type(geo).__name__, 'distance2': geo.distance2,\n"
        "                  'lower_bound': geo.lower_bound, 'status': geo.status,\n"
        "                  'iterations': geo.iterations, 'solve_time': geo.solve_time,\n"
        "                  'atoms': [str(a) for a in geo.e0.atoms],\n"
        "                  'constraints': [c.table() for c in geo.constraints]}))\n")
    frame = geo.to_frame()
    np.testing.assert_array_equal(arrays["mass_out"], geo.plan["mass_out"].to_numpy())
    np.testing.assert_array_equal(arrays["destroyed"], geo.destroyed.to_numpy())
    np.testing.assert_array_equal(arrays["created"], geo.created.to_numpy())
    np.testing.assert_array_equal(arrays["path"], frame[list(geo.assets) + ["mass"]].to_numpy())
    np.testing.assert_array_equal(arrays["regime_mass"], geo.mass().to_numpy())
    assert printed == {
        "type": "EnsembleGeodesic", "distance2": geo.distance2,
        "lower_bound": geo.lower_bound, "status": geo.status, "iterations": geo.iterations,
        "solve_time": geo.solve_time, "atoms": [f"p{i}" for i in range(5)],
        "constraints": [{"kind": "total_mass"}]}


def test_figures_of_a_loaded_ensemble_result_are_the_same(ens, tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    back = wfr_cvx.load(ens.save(tmp_path / "ensemble.npz"))
    want = _describe(ens.plot())
    assert any(title for title, *_ in want) and any(row[3] or row[5] for row in want)
    assert _describe(back.plot()) == want


def test_an_ensemble_file_missing_an_array_is_a_clear_error(tmp_path):
    path = _ensemble_plain().save(tmp_path / "broken.npz")
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files if name != "mass_in"}
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
    with pytest.raises(ValueError, match="broken.npz.*no 'mass_in'"):
        wfr_cvx.load(path)


def test_an_ensemble_summary_names_its_constraints():
    d = json.loads(json.dumps(io.ensemble_geodesic_to_dict(_ensemble_capped())))
    assert d["inputs"]["constraints"] == [{"kind": "max_travel", "distance": 0.5}]
    assert io.ensemble_geodesic_to_dict(_ensemble_plain())["inputs"]["constraints"] == []


class _Travel(MaxTravel):
    """A subclass: its table would read back as a plain MaxTravel, another object."""


def test_an_ensemble_constraint_without_a_table_is_refused_not_dropped(tmp_path):
    e0, e1 = _ensembles(np.random.default_rng(7))
    geo = ensemble_geodesic(e0, e1, lam=0.3, constraints=[_Travel(0.5)])
    with pytest.raises(TypeError, match="_Travel"):
        geo.save(tmp_path / "own.npz")
    with pytest.raises(TypeError, match="_Travel"):
        io.ensemble_geodesic_to_dict(geo)
    assert not (tmp_path / "own.npz").exists()


def _edited_ensemble_file(path, target, *, field=None, value=None, **arrays):
    """A copy of the saved ensemble result ``path`` at ``target`` with one header field
    (dotted: ``"coupling.status"``) set to ``value``, or arrays replaced."""
    with np.load(path, allow_pickle=False) as archive:
        stored = {name: archive[name] for name in archive.files}
    header = json.loads(str(stored.pop("header")[()]))
    if field is not None:
        *parents, last = field.split(".")
        table = header
        for key in parents:
            table = table[key]
        table[last] = value
    stored.update(arrays)
    with open(target, "wb") as handle:
        np.savez(handle, header=np.array(json.dumps(header)), **stored)
    return target


@pytest.fixture(scope="module")
def plain_ensemble_file(tmp_path_factory):
    geo = _ensemble_plain()
    return geo, geo.save(tmp_path_factory.mktemp("ensemble") / "plain.npz")


@pytest.mark.parametrize("field, value, message", [
    ("lam", -1, r"`lam` must be a number > 0, got -1"),
    ("lam", "0.2", r"`lam` must be a number > 0, got '0.2'"),
    ("lam", 0.7, r"`lam` 0.7 and the arrays `pair_distance`, `one_minus_cos` disagree"),
    ("backend", 5, r"`backend` 5 is not an ensemble backend"),
    ("coupling.status", "Bogus", r"`coupling.status` 'Bogus' is not the status"),
    ("coupling.status", 3, r"`coupling.status` 3 is not the status"),
    ("coupling.solver_status", None, r"`coupling.solver_status` None is not a status"),
    ("coupling.solve_time", -5, r"the time `coupling.solve_time` must be a number"),
    ("coupling.lower_bound", "x", r"`coupling.lower_bound` must be a number >= 0"),
    ("coupling.iterations", 1.5, r"`coupling.iterations` must be a whole number"),
    ("coupling", [], r"the header's `coupling` must be a table"),
    ("e0", "x", r"`e0` must be a table of the ensemble's"),
    ("e1.domain", "moon", r"`e1.domain` must be null, 'simplex' or 'box'"),
    ("e0.assets", "abc", r"`e0.assets` must be a list of str"),
    ("e1.atoms", {"range": [0, "6", 1], "name": None}, r"`e1.atoms.range` must be"),
    ("e0.atoms.dtype", "bogus", r"`e0.atoms.dtype` 'bogus' does not hold"),
    ("metric", "none", r"the header's `metric` must be a table"),
    ("metric", {"kind": "scalar", "value": -2.0}, r"`metric.value` must be a number > 0"),
])
def test_an_edited_ensemble_header_is_refused_by_field(plain_ensemble_file, tmp_path, field,
                                                       value, message):
    """Before: on this file (d^2 1.565) lam = -1 loaded with d^2 3.565 and lam = 0.7 with
    2.209, both "Solved"; lam = "0.2", a status "Bogus" or 3 and solve_time = -5 loaded
    as given; e0 = "x", metric = "none" or a non-numeric lower_bound raised a bare
    TypeError not naming the file."""
    geo, path = plain_ensemble_file
    edited = _edited_ensemble_file(path, tmp_path / "edited.npz", field=field, value=value)
    with pytest.raises(ValueError, match=r"edited\.npz'?: " + message):
        wfr_cvx.load(edited)


def test_edited_ensemble_arrays_are_refused_by_name(plain_ensemble_file, tmp_path):
    """Before: a 2 x 2 metric for 3 assets loaded (and was reported), a negative mass_out
    gave d^2 NaN with status "Solved", and an out-of-range pair_src raised a bare
    IndexError."""
    geo, path = plain_ensemble_file
    with np.load(path, allow_pickle=False) as archive:
        src, regime = archive["pair_src"], archive["pair_regime"]
        mass_out = archive["mass_out"]
    cases = [({"metric": np.eye(2)}, r"the array `metric` \(matrix\) is not a metric of the "
                                     r"ensembles: `metric` must be a scalar or an 3 x 3"),
             ({"metric": -np.eye(3)}, r"the array `metric` .* must be positive definite"),
             ({"mass_out": -mass_out}, r"the array `mass_out` must hold finite floats >= 0"),
             ({"destroyed": np.zeros(2)}, r"the array `destroyed` must hold .* shape \(5,\)"),
             ({"pair_src": src + 5}, r"the array `pair_src` must hold one whole number in "
                                     r"\[0, 5\)"),
             ({"pair_regime": 1 - regime}, r"pair 0 .* joins atoms outside its regime"),
             ({"e0_mass": -geo.e0.mass}, r"the ensemble `e0` does not rebuild .* `mass`")]
    for arrays, message in cases:
        edited = _edited_ensemble_file(path, tmp_path / "edited.npz", **arrays)
        with pytest.raises(ValueError, match=r"edited\.npz'?: " + message):
            wfr_cvx.load(edited)
    # unedited, it still loads the same
    assert_same_ensemble(wfr_cvx.load(_edited_ensemble_file(path, tmp_path / "same.npz")),
                         geo)


def test_an_ensemble_result_with_regimes_labelled_by_integers_rebuilds_by_label(tmp_path):
    """Regimes "1" and "2": the path's and the file's codes are positions, passed on to the
    Ensemble as labels (the integer 1 would name regime "1", and is refused as ambiguous)."""
    e0 = Ensemble([[0.2, 0.8], [0.6, 0.4]], regime=["2", "1"], regimes=(1, 2))
    e1 = Ensemble([[0.5, 0.5]], mass=[2.0], regime=["2"], regimes=(1, 2))
    geo = ensemble_geodesic(e0, e1, lam=0.5)
    assert geo.at(0.0).regime_mass().to_dict() == {"1": 1.0, "2": 1.0}
    assert geo.at(1.0).regime_mass().to_dict() == pytest.approx({"1": 0.0, "2": 2.0})
    path = geo.save(tmp_path / "digits.npz")
    assert_same_ensemble(wfr_cvx.load(path), geo)
    edited = _edited_ensemble_file(path, tmp_path / "edited.npz", e0_regime=np.array([0, 5]))
    with pytest.raises(ValueError, match=r"edited\.npz'?: the ensemble `e0` does not rebuild "
                                         r".*`e0_regime` must hold integer codes into the "
                                         r"regimes \['1', '2'\], got \[0, 5\]"):
        wfr_cvx.load(edited)


@pytest.mark.parametrize("edit", ["mass_out", "metric", "e1_weights", "e0_mass",
                                  "total_mass", "max_travel"])
def test_a_coupling_that_its_ensembles_metric_or_constraints_contradict_is_refused(
        plain_ensemble_file, tmp_path, edit):
    """Before: each loaded "Solved": half the pair masses (at(0) then held half of e0's
    mass), the metric times 4 or e1's weight columns permuted (d^2 unchanged, another
    problem's), e0's masses doubled, TotalMass between ensembles of unequal mass, and
    MaxTravel(0.01) over pairs 0.9 apart."""
    geo, path = plain_ensemble_file
    with np.load(path, allow_pickle=False) as archive:
        stored = {name: archive[name] for name in archive.files}
    edits = {
        "mass_out": ({"mass_out": 0.5 * stored["mass_out"]},
                     r"atom \d+ of `e0` has mass .* \(`e0_mass`\), but the coupling moves and "
                     r"destroyed .* \(the arrays `mass_out` and `destroyed`\)"),
        "metric": ({"metric": 4.0 * stored["metric"]},
                   r"pair 0 \(`pair_distance` .*\) is not its atoms' distance .* in the metric"),
        "e1_weights": ({"e1_weights": stored["e1_weights"][:, [2, 1, 0]]},
                       r"pair \d+ \(`pair_distance` .*\) is not its atoms' distance"),
        "e0_mass": ({"e0_mass": 2.0 * stored["e0_mass"]},
                    r"atom 0 of `e0` has mass .* but the coupling moves and destroyed"),
        "total_mass": ({"field": "constraints", "value": [{"kind": "total_mass"}]},
                       r"the header's constraints: `constraints` holds TotalMass\(\) but the "
                       r"endpoints have different total mass"),
        "max_travel": ({"field": "constraints",
                        "value": [{"kind": "max_travel", "distance": 0.01}]},
                       r"pair \d+ moves mass .* far \(`pair_distance`\), beyond the cap of the "
                       r"header's constraints \[MaxTravel\(distance=0\.01\)\]"),
    }
    change, message = edits[edit]
    edited = _edited_ensemble_file(path, tmp_path / "edited.npz", **change)
    with pytest.raises(ValueError, match=r"edited\.npz': " + message):
        wfr_cvx.load(edited)


def test_atom_labels_ending_in_nul_are_refused_at_save(tmp_path):
    """Before: 'a\x00' loaded as 'a', and labels ['a', 'a\x00'] saved but did not load
    ("duplicate labels"): numpy's text arrays drop trailing NULs."""
    weights = pd.DataFrame([[0.2, 0.8], [0.5, 0.5]], index=["a", "a\x00"],
                           columns=["eq", "bd"])
    e1 = Ensemble(pd.DataFrame([[0.3, 0.7]], columns=["eq", "bd"]), [2.0])
    geo = ensemble_geodesic(Ensemble(weights, [1.0, 1.0]), e1, lam=0.5)
    with pytest.raises(ValueError, match=r"the atom label 'a\\x00' cannot be saved: it ends "
                                         r"in a NUL character"):
        geo.save(tmp_path / "nul.npz")
    assert not (tmp_path / "nul.npz").exists()
    weights.index = ["a", "a\x00b"]  # a NUL inside a label is kept
    inside = ensemble_geodesic(Ensemble(weights, [1.0, 1.0]), e1, lam=0.5)
    back = wfr_cvx.load(inside.save(tmp_path / "inside.npz"))
    assert list(back.e0.atoms) == ["a", "a\x00b"]


def test_an_uncapped_max_travel_reads_back_from_the_json_summary():
    """Before: JSON has no infinity, so MaxTravel(inf)'s distance was written as null and
    from_table refused it ("got None"): the summary's tables did not read back."""
    from wfr_cvx.constraints import from_table

    e0, e1 = _ensembles(np.random.default_rng(7))
    geo = ensemble_geodesic(e0, e1, lam=0.3, constraints=[MaxTravel(np.inf)])
    d = json.loads(json.dumps(io.ensemble_geodesic_to_dict(geo), allow_nan=False))
    assert d["inputs"]["constraints"] == [{"kind": "max_travel", "distance": None}]
    assert tuple(from_table(t) for t in d["inputs"]["constraints"]) == geo.constraints


def _set(table, dotted, value):
    *parents, last = dotted.split(".")
    for key in parents:
        table = table[key]
    table[last] = value


@pytest.mark.parametrize("field, value, message", [
    ("grid.regimes", "xy", r"the grid's `regimes` must be a list of labels, got 'xy'"),
    ("grid.assets", "abc", r"the grid's `assets` must be a list of labels, got 'abc'"),
    ("grid.n_weights", "16", r"the grid does not rebuild: `n_weights` must be an integer"),
    ("grid.n_weights", 16.0, r"the grid does not rebuild: `n_weights` must be an integer"),
    ("grid.n_steps", None, r"the grid does not rebuild: `n_steps` must be an integer"),
    ("backend", 5, r"`backend` 5 is not a backend wfr_cvx"),
    ("backend", "nonexistent", r"`backend` 'nonexistent' is not a backend wfr_cvx"),
    ("scheme", "bogus", r"`scheme` 'bogus' is not a scheme of wfr_cvx \(centred, power, "
                        r"arithmetic\)"),
    ("scheme", None, r"`scheme` None is not a scheme"),
])
def test_a_stored_geodesic_of_the_wrong_type_is_refused_by_field(tmp_path, field, value,
                                                                message):
    """Before: regimes "xy" loaded as the two regimes 'x' and 'y' (tuple() of the str;
    assets "abc" would have named a simplex grid's assets 'a', 'b', 'c', and was refused
    here without naming the file); backend 5 or "nonexistent" and scheme "bogus" or None
    loaded as given; n_weights "16" or 16.0 raised a bare TypeError naming neither the
    file nor `d`."""
    geo = _two_regimes()
    path = geo.save(tmp_path / "x.npz")
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    header = json.loads(str(arrays.pop("header")[()]))
    _set(header, field, value)
    with open(path, "wb") as handle:
        np.savez(handle, header=np.array(json.dumps(header)), **arrays)
    with pytest.raises(ValueError, match=r"x\.npz': " + message):
        wfr_cvx.load(path)
    d = geo.to_dict(include_path=True)
    _set(d["inputs"], field, value)
    with pytest.raises(ValueError, match=r"`d\['inputs'\](\['grid'\])?`: " + message):
        Geodesic.from_dict(d)
    with pytest.raises(ValueError, match=r"`d\['inputs'\](\['grid'\])?`: " + message):
        io.solve_from_dict(d)


def test_a_summary_without_iterations_is_refused_and_every_backend_is_read():
    """Before: a summary without `iterations` loaded with iterations 0, a figure it does
    not hold."""
    d = _two_regimes().to_dict(include_path=True)
    del d["iterations"]
    with pytest.raises(ValueError, match=r"`d` has no 'iterations'"):
        Geodesic.from_dict(d)
    for scheme in ("centred", "power", "arithmetic"):  # the arrays are the scheme's
        d = _two_regimes(scheme).to_dict(include_path=True)
        for backend in ("clarabel", "cvxpy", "dr", "scs"):
            d["inputs"]["backend"] = backend
            back = Geodesic.from_dict(d)
            assert (back.backend, back.scheme) == (backend, scheme)
    # "auto" solves (it is resolved to a backend), but no result records it
    d["inputs"]["backend"], d["inputs"]["scheme"] = "auto", "centred"
    assert io.solve_from_dict(d).backend in ("clarabel", "dr")
    with pytest.raises(ValueError, match="`backend` 'auto' is not a backend wfr_cvx records"):
        Geodesic.from_dict(d)
