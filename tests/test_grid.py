import numpy as np
import pandas as pd
import pytest

from wfr_cvx import Grid
from wfr_cvx.grid import as_allocation


def test_attributes():
    g = Grid(8, 4, regimes=("on", "off"))
    assert g.shape == (2, 8)
    assert g.face_shape == (2, 7)
    assert g.coords.shape == (8, 1)
    np.testing.assert_allclose(g.weights, (np.arange(8) + 0.5) / 8)
    np.testing.assert_allclose(g.faces, np.arange(1, 8) / 8)
    assert g.dx == 0.125 and g.dt == 0.25
    assert g.regimes == ("on", "off")
    assert Grid(4, 1, regimes=3).regimes == ("0", "1", "2")


def test_dirac_and_bump_masses():
    g = Grid(50, 2, regimes=2)
    d = g.dirac(0.51, regime=1, mass=3.0)
    assert d.sum() == 3.0 and d[1, 25] == 3.0
    assert g.dirac(1.0)[0, -1] == 1.0
    b = g.bump(0.4, 0.05, regime="1", mass=2.5)
    assert b[0].sum() == 0
    assert b[1].sum() == pytest.approx(2.5, rel=1e-14)
    mean = (b[1] * g.weights).sum() / b[1].sum()
    assert mean == pytest.approx(0.4, abs=1e-6)


def test_dataframe_allocation_round_trip():
    g = Grid(5, 1, regimes=("a", "b"))
    arr = np.arange(10.0).reshape(2, 5)
    frame = pd.DataFrame({"b": arr[1], "a": arr[0]}, index=g.weights)
    np.testing.assert_array_equal(as_allocation(frame, g, "rho0"), arr)


@pytest.mark.parametrize(
    ("args", "match"),
    [((1, 4), "n_weights"), ((4, 0), "n_steps"), ((4, 2, 0), "regimes"),
     ((4, 2, ("x", "x")), "unique")],
)
def test_bad_grid(args, match):
    with pytest.raises(ValueError, match=match):
        Grid(*args)


def test_bad_helpers():
    g = Grid(8, 2)
    with pytest.raises(ValueError, match="weight"):
        g.dirac(1.5)
    with pytest.raises(ValueError, match="width"):
        g.bump(0.5, 0.0)
    with pytest.raises(ValueError, match="regime"):
        g.dirac(0.5, regime="nope")
    with pytest.raises(ValueError, match="mass"):
        g.dirac(0.5, mass=-1)


@pytest.mark.parametrize(
    ("value", "match"),
    [(np.ones(7), r"shape \(1, 8\)"), (np.full(8, np.nan), "non-finite"),
     (-np.ones(8), "negative")],
)
def test_bad_allocation(value, match):
    with pytest.raises(ValueError, match=match):
        as_allocation(value, Grid(8, 2), "rho0")
