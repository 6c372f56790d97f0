"""wfr_cvx.markowitz against closed forms, a second solver and the jaxls notebook's figures."""

import re
import warnings

import cvxpy as cp
import numpy as np
import pandas as pd
import pytest
import scipy.optimize
from hypothesis import given, settings
from hypothesis import strategies as st

from wfr_cvx import (
    Grid,
    InaccurateSolutionWarning,
    InfeasibleError,
    SolverError,
    UnitsWarning,
)
from wfr_cvx.finance import markowitz
from wfr_cvx.finance.markowitz import (
    efficient_frontier,
    estimate,
    load_prices,
    mean_variance,
    min_variance,
    potential,
    returns_from_prices,
    simplex_retract,
)

TICKERS = ["IBM", "WMT", "SEHI"]
# the notebook's table, typed in again here so the shipped CSV is checked against it
NOTEBOOK_PRICES = np.array([
    [93.043, 51.826, 1.063], [84.585, 52.823, 0.938], [111.453, 56.477, 1.0],
    [99.525, 49.805, 0.938], [95.819, 50.287, 1.438], [114.708, 51.521, 1.7],
    [111.515, 51.531, 2.54], [113.211, 48.664, 2.39], [104.942, 55.744, 3.12],
    [99.827, 47.916, 2.98], [91.607, 49.438, 1.9], [107.937, 51.336, 1.75],
    [115.59, 55.081, 1.8],
])


@pytest.fixture(scope="module")
def prices():
    return load_prices()


@pytest.fixture(scope="module")
def mu_cov(prices):
    return estimate(prices)


@pytest.fixture(scope="module")
def frontiers(mu_cov):
    mu, cov = mu_cov
    return (efficient_frontier(mu, cov, n_points=50, method="qp"),
            efficient_frontier(mu, cov, n_points=50, method="simplex"))


# -- data and estimates -------------------------------------------------------------------
def test_shipped_csv_is_the_notebook_table(prices):
    assert list(prices.columns) == TICKERS
    assert isinstance(prices.index, pd.DatetimeIndex)
    assert prices.index[0] == pd.Timestamp("2000-11-01")
    assert prices.index[-1] == pd.Timestamp("2001-11-01")
    np.testing.assert_array_equal(prices.to_numpy(), NOTEBOOK_PRICES)


def test_expected_returns_match_notebook(mu_cov):
    mu, _ = mu_cov
    # the notebook prints IBM +2.60%, WMT +0.81%, SEHI +7.37%
    assert [f"{100 * r:+.2f}%" for r in mu] == ["+2.60%", "+0.81%", "+7.37%"]
    assert list(mu.index) == TICKERS


def test_estimate_matches_numpy(prices, mu_cov):
    mu, cov = mu_cov
    r = np.diff(NOTEBOOK_PRICES, axis=0) / NOTEBOOK_PRICES[:-1]
    np.testing.assert_allclose(mu.to_numpy(), r.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(cov.to_numpy(), np.cov(r, rowvar=False, ddof=1), rtol=1e-13)
    returns = returns_from_prices(prices)
    assert returns.shape == (12, 3)
    assert returns.index[0] == prices.index[1]
    np.testing.assert_allclose(returns.to_numpy(), r, rtol=1e-14)


# -- the frontier -------------------------------------------------------------------------
def test_long_only_frontier_is_on_the_simplex(frontiers, mu_cov):
    mu, cov = mu_cov
    for frame in frontiers:
        assert list(frame.columns) == ["target_return", "return", "variance", "volatility",
                                       *TICKERS]
        assert len(frame) == 50
        # the efficient branch: from the minimum-variance return to the best asset's
        start = frame["target_return"].iloc[0]
        np.testing.assert_array_equal(frame["target_return"], np.linspace(start, mu.max(), 50))
        assert start == pytest.approx(frame["return"].iloc[0], rel=1e-14)
        assert start == pytest.approx(min_variance(mu, cov) @ mu, rel=1e-8)
        w = frame[TICKERS].to_numpy()
        assert np.abs(w.sum(axis=1) - 1).max() <= 1e-9
        assert w.min() >= -1e-9
        # the return floor is met (to the solvers' tolerances)
        assert (frame["return"] >= frame["target_return"] - 1e-9).all()
        np.testing.assert_allclose(frame["variance"],
                                   np.einsum("ki,ij,kj->k", w, cov.to_numpy(), w), rtol=1e-12)
        np.testing.assert_allclose(frame["volatility"] ** 2, frame["variance"], rtol=1e-12)


def test_frontier_ends(frontiers, mu_cov):
    mu, cov = mu_cov
    qp, _ = frontiers
    # the top target is max(mu): only the all-SEHI portfolio reaches it
    np.testing.assert_allclose(qp[TICKERS].iloc[-1], [0, 0, 1], atol=1e-8)
    # the first row is the minimum-variance portfolio, and no row repeats it: targets
    # below its return were dropped
    mv = min_variance(mu, cov)
    np.testing.assert_allclose(qp[TICKERS].iloc[0], mv, atol=1e-8)
    assert (qp["return"] >= mv @ mu - 1e-9).all()
    # along the branch the variance rises with the target, every row a new portfolio
    assert np.all(np.diff(qp["variance"]) > 0)
    assert np.all(np.diff(qp["return"]) > 0)
    assert qp.attrs["asset_return"] == pytest.approx(mu.to_dict(), rel=1e-15)
    assert qp.attrs["asset_volatility"] == pytest.approx(
        dict(zip(TICKERS, np.sqrt(np.diag(cov)), strict=True)), rel=1e-15)


def test_frontier_of_one_point(mu_cov):
    """When the minimum-variance portfolio already has the best return the branch is that
    portfolio alone: one row, not n_points copies."""
    mu, cov = mu_cov
    one = efficient_frontier(mu[["IBM"]], cov.loc[["IBM"], ["IBM"]], n_points=5)
    assert len(one) == 1 and one["IBM"].iloc[0] == pytest.approx(1.0)
    flat = efficient_frontier(pd.Series([0.01, 0.01], index=["a", "b"]),
                              pd.DataFrame(np.diag([0.04, 0.01]), index=["a", "b"],
                                           columns=["a", "b"]), n_points=4)
    assert len(flat) == 1 and flat[["a", "b"]].iloc[0].tolist() == pytest.approx([0.2, 0.8])


@pytest.mark.parametrize("method", ["qp", "simplex"])
def test_a_dominant_asset_is_a_frontier_of_one_point(method):
    """The asset of highest return is also of minimum variance (every covariance with it at
    least its own variance): the branch is that asset alone.  Before: the solver's residue
    (weights of 1e-11 on the others) left r_mv 1e-12 below max(mu), and the frame held 4
    copies of (1, 1e-11, 1e-12), targets 0.0999999999987 .. 0.1.  A frontier whose top
    asset has a slightly smaller covariance with another keeps its points."""
    mu = np.array([0.10, 0.05, 0.02])
    cov = np.array([[0.01, 0.015, 0.02], [0.015, 0.04, 0.03], [0.02, 0.03, 0.09]])
    one = efficient_frontier(mu, cov, n_points=4, method=method)
    assert len(one) == 1
    assert one[[0, 1, 2]].iloc[0].tolist() == [1.0, 0.0, 0.0]
    assert one[["target_return", "return", "variance"]].iloc[0].tolist() == pytest.approx(
        [0.1, 0.1, 0.01], rel=1e-15)
    near = cov.copy()
    near[0, 1] = near[1, 0] = 0.009   # asset 1 now lowers asset 0's variance
    short = efficient_frontier(mu, near, n_points=4, method=method)
    assert len(short) == 4 and short["return"].iloc[0] < 0.0985
    assert np.all(np.diff(short["return"]) > 0)


def test_long_short_frontier_starts_at_its_minimum_variance_point(mu_cov):
    mu, cov = mu_cov
    frame = efficient_frontier(mu, cov, n_points=6, long_only=False)
    mv = min_variance(mu, cov, long_only=False)
    np.testing.assert_allclose(frame[TICKERS].iloc[0], mv, atol=1e-8)
    assert np.all(np.diff(frame["variance"]) > 0)
    # independent truth, every row: the two-fund closed form of the long-short frontier,
    # variance (A r^2 - 2 B r + C) / (A C - B^2) and weights Sigma^-1 (l 1 + g mu)
    S, m, one = cov.to_numpy(), mu.to_numpy(), np.ones(3)
    A, B, C = one @ np.linalg.solve(S, one), one @ np.linalg.solve(S, m), \
        m @ np.linalg.solve(S, m)
    r = frame["return"].to_numpy()
    np.testing.assert_allclose(frame["variance"], (A * r**2 - 2 * B * r + C) / (A * C - B**2),
                               rtol=1e-7)
    for row, target in zip(frame[TICKERS].to_numpy(), r, strict=True):
        l, g = np.linalg.solve([[A, B], [B, C]], [1.0, target])
        np.testing.assert_allclose(row, np.linalg.solve(S, l * one + g * m), atol=1e-7)
    assert frame[TICKERS].to_numpy().min() < -0.5   # it shorts (WMT -0.66 at the top)


def test_qp_and_simplex_frontiers_agree(frontiers):
    qp, simplex = frontiers
    diff = np.abs(qp[TICKERS].to_numpy() - simplex[TICKERS].to_numpy())
    assert diff.max() < 1e-4
    assert max(simplex.attrs["kkt_residual"]) <= 1e-10
    assert simplex.attrs["method"] == "simplex"


def test_qp_frontier_compiles_one_problem(mu_cov, monkeypatch):
    mu, cov = mu_cov
    solves = []
    solve = cp.Problem.solve

    def counting_solve(self, *args, **kwargs):
        solves.append((id(self), kwargs.get("warm_start")))
        return solve(self, *args, **kwargs)

    monkeypatch.setattr(cp.Problem, "solve", counting_solve)
    efficient_frontier(mu, cov, n_points=7)
    # one problem (the target is a cp.Parameter), re-solved once per point
    assert len(solves) == 7
    assert len({problem for problem, _ in solves}) == 1
    assert all(warm for _, warm in solves)


@pytest.mark.parametrize("scale", [1e-200, 1e20, 1e30, 1e150])
def test_the_frontier_does_not_depend_on_the_scale_of_the_returns(mu_cov, scale):
    """Before: returns scaled by 1e20 or 1e30 made the long-only minimum-variance point
    "infeasible" (InfeasibleError) and by 1e150 failed the solver (SolverError): the
    return row went to the solver unscaled."""
    mu, cov = mu_cov
    scaled = efficient_frontier(scale * mu, cov, n_points=5)
    reference = efficient_frontier(mu, cov, n_points=5)
    np.testing.assert_allclose(scaled[TICKERS], reference[TICKERS], atol=1e-9)
    np.testing.assert_allclose(scaled["return"] / scale, reference["return"], rtol=1e-9)


def test_an_infeasible_report_on_a_frontier_point_is_a_numerical_failure(mu_cov,
                                                                         monkeypatch):
    """Every point of the frontier is feasible: the solver's "infeasible" there is not the
    problem's, and was reported as "minimum-variance point is infeasible"."""
    mu, cov = mu_cov

    def failing(problem, what, *, warm_start=False):
        raise InfeasibleError(f"{what} is infeasible", status="infeasible", backend="cvxpy")

    monkeypatch.setattr(markowitz, "_solve", failing)
    for long_only in (True, False):
        with pytest.raises(SolverError) as info:
            efficient_frontier(mu, cov, n_points=3, long_only=long_only)
        assert not isinstance(info.value, InfeasibleError)
        message = str(info.value)
        assert message.startswith("efficient_frontier minimum-variance point: the solver "
                                  "reported the QP infeasible, but it is feasible")
        assert "numerical failure" in message and "returns span [0.0081, 0.0737]" in message


@pytest.mark.parametrize("count", [2**63, markowitz.MAX_PORTFOLIOS + 1])
def test_a_count_of_portfolios_beyond_the_bound_is_refused(mu_cov, count):
    """Before: n_points = 2**63 raised a bare IndexError from numpy's linspace."""
    mu, cov = mu_cov
    with pytest.raises(ValueError, match=r"`n_points` must be >= 2 and <= 100,000 \(one "
                                         rf"QP solve per point\), got {count}"):
        efficient_frontier(mu, cov, n_points=count)
    returns = returns_from_prices(load_prices())
    with pytest.raises(ValueError, match=r"`n_samples` must be an integer >= 1 and <= "
                                         rf"100,000 \(one QP solve per sample\), got {count}"):
        markowitz.resampled_portfolios(returns, count)


def test_simplex_frontier_does_not_use_cvxpy(mu_cov, monkeypatch):
    mu, cov = mu_cov

    def refuse(self, *args, **kwargs):
        raise AssertionError("method='simplex' must not call cvxpy")

    monkeypatch.setattr(cp.Problem, "solve", refuse)
    frame = efficient_frontier(mu, cov, n_points=4, method="simplex")
    assert frame.shape == (4, 7)


def test_simplex_frontier_warns_when_stopped_short(mu_cov, monkeypatch):
    mu, cov = mu_cov
    monkeypatch.setattr(markowitz, "_EG_MAX_ITER", 20)
    with pytest.warns(InaccurateSolutionWarning, match="KKT residual"):
        frame = efficient_frontier(mu, cov, n_points=3, method="simplex")
    assert max(frame.attrs["kkt_residual"]) > 1e-10


def test_unbounded_problem_raises_solver_error():
    # no risk at all and shorting allowed: return grows without bound
    with pytest.raises(SolverError) as info:
        mean_variance([0.01, 0.02], np.zeros((2, 2)), long_only=False)
    assert not isinstance(info.value, InfeasibleError)
    assert info.value.backend == "cvxpy"


# -- closed forms -------------------------------------------------------------------------
def test_long_only_min_variance_is_the_closed_form(mu_cov):
    mu, cov = mu_cov
    inv_one = np.linalg.solve(cov.to_numpy(), np.ones(3))
    closed = inv_one / inv_one.sum()
    assert closed.min() > 0  # interior on this data, so the sign constraint is inactive
    w = min_variance(mu, cov)
    assert list(w.index) == TICKERS
    np.testing.assert_allclose(w.to_numpy(), closed, atol=1e-6)


@pytest.mark.parametrize(("gamma", "budget"), [(1.0, 1.0), (3.0, 1.0), (5.0, 2.5),
                                               (10.0, -0.5)])
def test_unconstrained_mean_variance_is_the_closed_form(mu_cov, gamma, budget):
    mu, cov = mu_cov
    sigma, m, one = cov.to_numpy(), mu.to_numpy(), np.ones(3)
    inv_mu, inv_one = np.linalg.solve(sigma, m), np.linalg.solve(sigma, one)
    # 1ᵀw = b with w = Σ⁻¹(μ - ν1)/γ
    nu = (one @ inv_mu - gamma * budget) / (one @ inv_one)
    closed = (inv_mu - nu * inv_one) / gamma
    w = mean_variance(mu, cov, risk_aversion=gamma, long_only=False, budget=budget)
    np.testing.assert_allclose(w.to_numpy(), closed, atol=1e-6)


def test_long_only_mean_variance_limits(mu_cov):
    mu, cov = mu_cov
    # tiny risk aversion: all in the best asset; huge: the minimum-variance portfolio
    np.testing.assert_allclose(mean_variance(mu, cov, risk_aversion=1e-4), [0, 0, 1],
                               atol=1e-6)
    np.testing.assert_allclose(mean_variance(mu, cov, risk_aversion=1e6),
                               min_variance(mu, cov), atol=1e-5)
    w = mean_variance(mu, cov, risk_aversion=2.0, budget=3.0)
    assert w.sum() == pytest.approx(3.0, abs=1e-12)
    assert w.min() >= 0


def test_min_variance_target_on_the_frontier(mu_cov, frontiers):
    mu, cov = mu_cov
    qp, _ = frontiers
    row = qp.iloc[30]
    w = min_variance(mu, cov, target_return=row["target_return"])
    np.testing.assert_allclose(w, row[TICKERS].to_numpy(dtype=float), atol=1e-7)


def test_labels_are_matched_not_positional(mu_cov):
    mu, cov = mu_cov
    shuffled = cov.loc[["SEHI", "IBM", "WMT"], ["WMT", "SEHI", "IBM"]]
    pd.testing.assert_series_equal(min_variance(mu, shuffled), min_variance(mu, cov),
                                   atol=1e-9)
    w = min_variance(mu.to_numpy(), cov.to_numpy())
    assert list(w.index) == [0, 1, 2]


def test_labelled_data_arrays_are_matched_as_their_pandas_forms(mu_cov):
    """Before: DataArrays were read by position -- a covariance listing its assets in another
    order than mu's was paired with the wrong returns, with no error."""
    xr = pytest.importorskip("xarray")
    mu, cov = mu_cov
    order = ["SEHI", "IBM", "WMT"]
    mu_da = xr.DataArray(mu.to_numpy(), dims="asset", coords={"asset": list(mu.index)})
    cov_da = xr.DataArray(cov.loc[order, order].to_numpy(), dims=("row", "column"),
                          coords={"row": order, "column": order})
    w, expected = min_variance(mu_da, cov_da), min_variance(mu, cov)
    np.testing.assert_allclose(w.to_numpy(), expected.to_numpy(), atol=1e-9)
    assert list(w.index) == list(expected.index)
    g = Grid(8, 2, assets=("IBM", "WMT"))
    pair = ["WMT", "IBM"]
    pair_da = xr.DataArray(cov.loc[pair, pair].to_numpy(), dims=("row", "column"),
                           coords={"row": pair, "column": pair})
    np.testing.assert_allclose(potential(g, mu[pair], pair_da),
                               potential(g, mu[pair], cov.loc[pair, pair]), rtol=1e-14)
    with pytest.raises(ValueError, match=r"`cov` is an xarray DataArray with coordinates on "
                                         r"some dimensions only"):
        min_variance(mu, xr.DataArray(cov.to_numpy(), dims=("row", "column"),
                                      coords={"row": list(cov.index)}))


def test_a_2d_data_array_passed_as_mu_is_named_as_such(mu_cov):
    """Before: the message said "got a DataFrame" for a DataArray."""
    xr = pytest.importorskip("xarray")
    mu, cov = mu_cov
    stacked = xr.DataArray(mu.rename_axis("asset")).expand_dims(t=[0])
    with pytest.raises(TypeError) as info:
        mean_variance(stacked, xr.DataArray(cov))
    assert str(info.value) == ("`mu` must be a Series or 1-D array, got a 2-D xarray "
                               "DataArray (dimensions ['t', 'asset']): pass the one vector "
                               "of expected returns")
    with pytest.raises(TypeError, match=r"`mu` must be a Series or 1-D array, got a "
                                        r"DataFrame: pass"):
        mean_variance(mu.to_frame().T, cov)


# -- bad input ----------------------------------------------------------------------------
def _bad_cases(mu, cov, prices):
    nan_prices = prices.copy()
    nan_prices.iloc[3, 1] = np.nan
    not_psd = cov.copy()
    not_psd.iloc[0, 1] = not_psd.iloc[1, 0] = 0.05
    relabelled = cov.rename(index={"SEHI": "AAPL"}, columns={"SEHI": "AAPL"})
    asym = cov.copy()
    asym.iloc[0, 2] += 1e-4
    return {
        "not_psd": (lambda: min_variance(mu, not_psd), "not positive semi-definite"),
        "nan_prices": (lambda: estimate(nan_prices), "'WMT' \\(1\\)"),
        "negative_price": (lambda: estimate(prices - 2.0), "must be > 0"),
        "two_rows": (lambda: estimate(prices.iloc[:2]), "at least 3 rows"),
        "labels": (lambda: mean_variance(mu, relabelled), "AAPL.*SEHI|SEHI.*AAPL"),
        "shape": (lambda: min_variance(mu, cov.iloc[:2, :2]), "square|shape"),
        "asymmetric": (lambda: min_variance(mu, asym), "symmetric"),
        "nan_cov": (lambda: min_variance(mu, cov * np.nan), "non-finite"),
        "target": (lambda: min_variance(mu, cov, target_return=0.08),
                   "not reachable.*0.0081.*0.0737"),
        "risk_aversion_zero": (lambda: mean_variance(mu, cov, risk_aversion=0.0),
                               "risk_aversion"),
        "risk_aversion_negative": (lambda: mean_variance(mu, cov, risk_aversion=-1),
                                   "risk_aversion"),
        "negative_budget": (lambda: mean_variance(mu, cov, budget=-1.0), "budget"),
        "n_points": (lambda: efficient_frontier(mu, cov, n_points=1), "n_points"),
        "method": (lambda: efficient_frontier(mu, cov, method="newton"), "method"),
        "simplex_short": (lambda: efficient_frontier(mu, cov, long_only=False,
                                                     method="simplex"), "long_only"),
    }


@pytest.mark.parametrize("case", [
    "not_psd", "nan_prices", "negative_price", "two_rows", "labels", "shape", "asymmetric",
    "nan_cov", "target", "risk_aversion_zero", "risk_aversion_negative", "negative_budget",
    "n_points", "method", "simplex_short",
])
def test_bad_input_raises_value_error(mu_cov, prices, case):
    mu, cov = mu_cov
    call, message = _bad_cases(mu, cov, prices)[case]
    with pytest.raises(ValueError, match=message):
        call()


def _as_read_csv_leaves_it(prices):
    """The shipped table with its dates as strings, the index ``read_csv(index_col=...)``
    gives without ``parse_dates``."""
    return prices.set_axis(prices.index.strftime("%Y-%m-%d"))


@pytest.mark.parametrize("order", ["newest first", "shuffled"])
@pytest.mark.parametrize("index", ["dates", "strings", "periods"])
def test_prices_out_of_time_order_are_refused(prices, order, index):
    """Before: only a DatetimeIndex was checked -- the shipped prices newest first, with
    the dates as strings, gave mu = -1.09 / -0.20 / -1.61 % for +2.60 / +0.81 / +7.37 %."""
    table = {"dates": prices, "strings": _as_read_csv_leaves_it(prices),
             "periods": prices.to_period("D")}[index]
    if order == "newest first":
        bad = table.iloc[::-1]
        # without labels: a default index running down says the rows were reversed, not
        # which way they now run (it passed, mu's signs flipped when they ran newest first)
        with pytest.raises(ValueError, match=r"no dates and its default index runs down"):
            estimate(bad.reset_index(drop=True).iloc[::-1])
    else:
        bad = table.iloc[np.random.default_rng(0).permutation(len(table))]
    with pytest.raises(ValueError, match=r"`prices` dates must be strictly increasing"):
        estimate(bad)
    with pytest.raises(ValueError, match=r"`prices` dates must be strictly increasing"):
        returns_from_prices(bad)


def test_prices_with_dates_as_strings_in_order_give_the_same_estimate(prices):
    mu, cov = estimate(_as_read_csv_leaves_it(prices))
    mu_ref, cov_ref = estimate(prices)
    np.testing.assert_array_equal(mu.to_numpy(), mu_ref.to_numpy())
    np.testing.assert_array_equal(cov.to_numpy(), cov_ref.to_numpy())
    # the rows' own order (no labels) and increasing numbers are taken as they are
    np.testing.assert_array_equal(estimate(prices.reset_index(drop=True))[0].to_numpy(),
                                  mu_ref.to_numpy())
    numbered = prices.set_axis(np.arange(len(prices)) * 7)
    np.testing.assert_array_equal(estimate(numbered)[0].to_numpy(), mu_ref.to_numpy())
    as_text = prices.set_axis(prices.index.strftime("%Y%m%d"))  # 20170131 ... as strings
    np.testing.assert_array_equal(estimate(as_text)[0].to_numpy(), mu_ref.to_numpy())
    with pytest.raises(ValueError, match="strictly increasing"):
        estimate(as_text.iloc[::-1])


def test_day_first_string_dates_in_order_are_read(prices):
    """dd/mm/yyyy strings: pandas reads month first from the first label; the rows are in
    order in the day-first reading, and that is enough."""
    day_first = prices.set_axis(prices.index.strftime("%d/%m/%Y"))
    np.testing.assert_array_equal(estimate(day_first)[0].to_numpy(),
                                  estimate(prices)[0].to_numpy())
    with pytest.raises(ValueError, match="strictly increasing"):
        estimate(day_first.iloc[::-1])


def test_string_dates_whose_two_readings_disagree_on_the_order_are_refused(prices):
    """Before: read month first these rows run forward (Feb 3, Mar 2, Apr 1) and that was
    enough -- but read day first (2 Mar, 3 Feb, 4 Jan) they run newest first, and the
    returns came out A = -9.1 %, -5 % where they are +5.3 %, +10 %.  An ISO index newest
    first was likewise accepted because pandas' day-first reading took it year-day-month."""
    frame = pd.DataFrame({"A": [110.0, 100.0, 95.0], "B": [50.0, 52.0, 51.0]},
                         index=["02/03/2001", "03/02/2001", "04/01/2001"])
    message = (r"`prices` dates read validly both month first \(MM/DD/YYYY\) and day first "
               r"\(DD/MM/YYYY\), and the rows run forward in time only read month first "
               r"\(MM/DD/YYYY\): rows 1 and 2 \(counting from 1\), '02/03/2001' and "
               r"'03/02/2001', run backward read day first .*pd.to_datetime\(prices.index, "
               r"dayfirst=True\)")
    for call in (returns_from_prices, estimate):
        with pytest.raises(ValueError, match=message):
            call(frame)
    told = frame.set_axis(pd.to_datetime(frame.index, dayfirst=True)).sort_index()
    assert returns_from_prices(told)["A"].tolist() == pytest.approx([100 / 95 - 1, 0.1])
    with pytest.raises(ValueError, match="strictly increasing, got decreasing"):
        returns_from_prices(pd.DataFrame({"A": [1.0, 2.0]}, index=["2001-02-01",
                                                                   "2001-01-02"]))
    # readings that agree on the order give the same returns: taken
    both = prices.set_axis(prices.index.strftime("%d/%m/%Y"))
    np.testing.assert_array_equal(estimate(both)[0], estimate(prices)[0])


def test_prices_labelled_by_other_than_times_are_refused(prices):
    named = prices.set_axis([f"row {i}" for i in range(len(prices))])
    with pytest.raises(ValueError, match=r"`prices` index must be dates .*'row 0'.*"
                                         r"reset_index\(drop=True\)"):
        estimate(named)


def test_wrong_types_raise_type_error(mu_cov, prices):
    mu, cov = mu_cov
    with pytest.raises(TypeError, match="DataFrame"):
        estimate(prices.to_numpy())
    with pytest.raises(TypeError, match="n_points"):
        efficient_frontier(mu, cov, n_points=5.0)


def test_round_off_negative_eigenvalue_is_accepted():
    # rank-1 covariance whose smallest eigenvalue rounds slightly below zero
    v = np.array([0.3, 0.1, 0.2])
    cov = np.outer(v, v)
    assert np.linalg.eigvalsh(cov)[0] > -1e-12 * np.linalg.eigvalsh(cov)[-1]
    w = min_variance(np.array([0.01, 0.02, 0.03]), cov)
    assert w.sum() == pytest.approx(1.0)


# -- potential ----------------------------------------------------------------------------
def test_potential_two_assets_by_hand():
    g = Grid(8, 1)
    mu = [0.03, 0.01]
    cov = [[0.04, 0.01], [0.01, 0.02]]
    gamma = 2.0
    x = (np.arange(8) + 0.5) / 8
    # ½γ(x²σ₁² + 2x(1-x)σ₁₂ + (1-x)²σ₂²) - (x μ₁ + (1-x) μ₂)
    by_hand = (0.5 * gamma * (0.04 * x**2 + 2 * 0.01 * x * (1 - x) + 0.02 * (1 - x) ** 2)
               - (0.03 * x + 0.01 * (1 - x)))
    v = potential(g, mu, cov, risk_aversion=gamma)
    assert v.shape == g.shape == (1, 8)
    np.testing.assert_allclose(v[0], by_hand, rtol=1e-14, atol=1e-16)


def test_potential_per_regime():
    g = Grid(8, 1, regimes=("calm", "stress"))
    cov_calm = np.array([[0.04, 0.01], [0.01, 0.02]])
    cov_stress = 4 * cov_calm
    v = potential(g, [[0.03, 0.01], [-0.02, 0.00]], [cov_calm, cov_stress])
    assert v.shape == (2, 8)
    assert not np.allclose(v[0], v[1])
    np.testing.assert_allclose(v[0], potential(Grid(8, 1), [0.03, 0.01], cov_calm)[0])
    np.testing.assert_allclose(v[1], potential(Grid(8, 1), [-0.02, 0.0], cov_stress)[0])
    # a single covariance is shared by the regimes
    shared = potential(g, [[0.03, 0.01], [-0.02, 0.00]], cov_calm)
    np.testing.assert_allclose(shared[0], v[0])


def test_potential_bad_input():
    g = Grid(8, 1, regimes=2)
    cov = np.eye(2) * 0.01
    with pytest.raises(ValueError, match="2 entries"):
        potential(g, [0.01, 0.02, 0.03], np.eye(3) * 0.01)
    with pytest.raises(ValueError, match="one entry per regime"):
        potential(g, [[0.01, 0.02]] * 3, cov)
    with pytest.raises(ValueError, match="risk_aversion"):
        potential(g, [0.01, 0.02], cov, risk_aversion=0)


class _TriangleGrid:
    """Stand-in for a future 3-asset simplex grid: coords (n, n, 2), labelled assets."""

    assets = ("A", "B", "C")
    n_regimes = 1

    def __init__(self, n):
        c = (np.arange(n) + 0.5) / n
        self.coords = np.stack(np.meshgrid(c, c, indexing="ij"), axis=-1)
        self.shape = (1, n, n)


def test_potential_simplex_grid():
    g = _TriangleGrid(4)
    mu = pd.Series([0.01, 0.02, 0.03], index=["C", "A", "B"])  # reordered to grid.assets
    cov = pd.DataFrame(np.diag([0.03, 0.01, 0.02]), index=mu.index, columns=mu.index)
    v = potential(g, mu, cov, risk_aversion=2.0)
    xa, xb = g.coords[..., 0], g.coords[..., 1]
    xc = 1 - xa - xb
    by_hand = (0.01 * xa**2 + 0.02 * xb**2 + 0.03 * xc**2) - (0.02 * xa + 0.03 * xb + 0.01 * xc)
    np.testing.assert_allclose(v[0], by_hand, rtol=1e-13, atol=1e-16)
    with pytest.raises(ValueError, match="3 entries"):
        potential(g, [0.01, 0.02], np.eye(2))


# -- the retraction -----------------------------------------------------------------------
def test_simplex_retract_notebook_example():
    # the notebook (float32) prints [0.5669196 0.20631248 0.22676787]
    got = simplex_retract([0.5, 0.3, 0.2], [0.1, -0.4, 0.1])
    np.testing.assert_allclose(got, [0.5669196, 0.20631248, 0.22676787], atol=1e-7)


def test_simplex_retract_large_delta_and_zeros():
    got = simplex_retract([0.0, 0.5, 0.5], [1e4, 800.0, 0.0])
    np.testing.assert_allclose(got, [0.0, 1.0, 0.0], atol=1e-300)
    with pytest.raises(ValueError, match="non-negative"):
        simplex_retract([-0.1, 1.1], [0.0, 0.0])
    with pytest.raises(ValueError, match="shape"):
        simplex_retract([0.5, 0.5], [0.0])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0.01, 1.0), min_size=2, max_size=6).flatmap(
    lambda w: st.tuples(st.just(w), st.lists(st.floats(-50, 50), min_size=len(w),
                                             max_size=len(w)))))
def test_simplex_retract_properties(args):
    w, delta = np.array(args[0]), np.array(args[1])
    out = simplex_retract(w, delta)
    assert out.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(out >= 0)
    # additive in log-weights: retracting twice is retracting by the sum
    twice = simplex_retract(simplex_retract(w, 0.5 * delta), 0.5 * delta)
    np.testing.assert_allclose(twice, out, rtol=1e-9, atol=1e-300)
    np.testing.assert_allclose(simplex_retract(w, np.zeros_like(w)), w / w.sum(), rtol=1e-14)


def test_resampled_portfolios_are_the_markowitz_portfolios_of_their_resamples(monkeypatch):
    """A resample that draws every month once is the full sample: its portfolio is
    mean_variance of estimate()'s moments (same estimator, ddof=1); the others lie on the
    simplex and are reproducible from the seed."""
    returns = markowitz.returns_from_prices(markowitz.load_prices())
    books = markowitz.resampled_portfolios(returns, 6, risk_aversion=4.0, seed=3)
    assert books.shape == (6, 3) and list(books.columns) == list(returns.columns)
    np.testing.assert_allclose(books.sum(axis=1), 1.0, atol=1e-9)
    assert (books.to_numpy() >= 0).all()
    pd.testing.assert_frame_equal(books, markowitz.resampled_portfolios(
        returns, 6, risk_aversion=4.0, seed=3))

    class EveryMonthOnce:
        def integers(self, low, high, size):
            return np.arange(size)

    monkeypatch.setattr(np.random, "default_rng", lambda seed=None: EveryMonthOnce())
    whole = markowitz.resampled_portfolios(returns, 1, risk_aversion=4.0)
    mu, cov = markowitz.estimate(markowitz.load_prices())
    expected = markowitz.mean_variance(mu, cov, risk_aversion=4.0)
    np.testing.assert_allclose(whole.iloc[0].to_numpy(), expected.to_numpy(), atol=1e-7)
    with pytest.raises(ValueError, match="`n_samples` must be an integer >= 1"):
        markowitz.resampled_portfolios(returns, 0)
    with pytest.raises(TypeError, match="`returns` must be a pandas DataFrame"):
        markowitz.resampled_portfolios(returns.to_numpy())


def test_resampled_portfolios_of_one_asset_hold_it():
    """np.cov of one column is 0-d: a single asset raised a pandas error."""
    returns = markowitz.returns_from_prices(markowitz.load_prices())[["IBM"]]
    books = markowitz.resampled_portfolios(returns, 3, seed=0)
    assert books.shape == (3, 1) and np.all(books.to_numpy() == 1.0)


def test_resampled_portfolios_refuse_what_is_not_returns_and_say_which_resample_failed():
    returns = markowitz.returns_from_prices(markowitz.load_prices())
    with pytest.raises(TypeError, match=r"`returns` must hold numeric returns; column\(s\) "
                                        r"\['X'\]"):
        markowitz.resampled_portfolios(returns.assign(X="a"), 3, seed=0)
    with pytest.raises(ValueError, match=r"`returns` must be simple returns, >= -1"):
        markowitz.resampled_portfolios(returns - 2.0, 3, seed=0)
    # four months in three assets, shorting allowed: a draw of two distinct months has a
    # covariance of rank 1, whose long-short problem is unbounded
    with pytest.raises(SolverError, match=r"resample \d+: mean_variance found no optimum: "
                                          r"its covariance, from 2 distinct row\(s\) of 4 "
                                          r"in 3 assets, has rank at most 1 \(more rows of "
                                          r"returns avoid that, and so does long_only=True"):
        markowitz.resampled_portfolios(returns.iloc[:4], 10, risk_aversion=4, long_only=False,
                                       seed=0)


def test_a_price_file_with_a_repeated_ticker_is_refused(tmp_path):
    """read_csv renames a repeated column ("IBM.1"), which passed as another ticker."""
    path = tmp_path / "prices.csv"
    path.write_text("date,IBM,IBM,WMT\n2001-01-01,1,2,3\n2001-02-01,1,2,3\n")
    with pytest.raises(ValueError, match=r"columns must be unique tickers, got duplicates "
                                         r"\['IBM'\]"):
        markowitz.load_prices(path)


def test_minimum_variance_is_exact_when_the_minimum_is_tiny():
    """Independent truths: a cash asset of zero variance is the whole minimum-variance
    portfolio; a covariance of rank 3 (+ 1e-9 I) in 8 assets has the long-short minimum
    Sigma^-1 1 / 1' Sigma^-1 1.  Solved as variances these were 7e-6 and 1.3e-2 off (the
    solver's absolute tolerance against a minimum of 2e-10); as volatilities ~1e-9, 1e-7."""
    mu = pd.Series([0.002, 0.01, 0.02], index=["cash", "bond", "stock"])
    cov = pd.DataFrame(np.diag([0.0, 4e-4, 2.5e-3]), index=mu.index, columns=mu.index)
    np.testing.assert_allclose(min_variance(mu, cov).to_numpy(), [1.0, 0.0, 0.0], atol=1e-8)
    frontier = efficient_frontier(mu, cov, 3)
    np.testing.assert_allclose(frontier.loc[0, ["cash", "bond", "stock"]].to_numpy(float),
                               [1.0, 0.0, 0.0], atol=1e-8)
    B = np.random.default_rng(0).normal(size=(8, 3))
    sigma = B @ B.T + 1e-9 * np.eye(8)
    exact = np.linalg.solve(sigma, np.ones(8))
    exact /= exact.sum()
    weights = min_variance(np.zeros(8), sigma, long_only=False).to_numpy()
    np.testing.assert_allclose(weights, exact, atol=1e-6)
    assert weights @ sigma @ weights <= exact @ sigma @ exact * (1 + 1e-6)


def test_the_volatility_re_solve_gives_no_false_warning():
    """A rank-1 covariance: the re-solve as a volatility ends "optimal_inaccurate" at a
    volatility of ~0 with exact weights; it warned although the variance form's solve
    was optimal (a review of the re-solve).  Truth: the long-short minimum of a rank-1
    covariance is 0, met by any budget-1 portfolio orthogonal to b."""
    b = np.array([0.05, 0.10, 0.15])
    with warnings.catch_warnings():
        warnings.simplefilter("error", InaccurateSolutionWarning)
        w = min_variance(np.zeros(3), np.outer(b, b), long_only=False).to_numpy()
    assert w.sum() == pytest.approx(1.0, abs=1e-12) and abs(b @ w) < 1e-9


def _few_observations(seed):
    """Five monthly prices of six assets: four returns, a covariance of rank 3."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(100 * np.exp(np.cumsum(rng.normal(0.01, 0.08, (5, 6)), 0)),
                        columns=[f"A{i}" for i in range(6)],
                        index=pd.date_range("2020-01-01", periods=5, freq="MS"))


def test_frontier_starts_at_the_efficient_one_of_tied_minimisers():
    """Before: with two riskless assets row 0 was 39/61 % (qp) or 50/50 % (simplex)
    T-bill / money market at return 0.0016 / 0.0015, dominated by all money market
    (0.002, also variance 0); min_variance gave 50/50."""
    mu = pd.Series({"TBILL": 0.001, "MMF": 0.002, "STOCK": 0.01})
    cov = pd.DataFrame(np.diag([0.0, 0.0, 0.0025]), index=mu.index, columns=mu.index)
    qp = efficient_frontier(mu, cov, 4)
    np.testing.assert_allclose(qp.loc[0, list(mu.index)].to_numpy(float), [0, 1, 0],
                               atol=1e-9)
    assert qp["target_return"].iloc[0] == pytest.approx(0.002, rel=1e-9)
    np.testing.assert_allclose(qp["target_return"], np.linspace(0.002, 0.01, 4), rtol=1e-9)
    np.testing.assert_allclose(min_variance(mu, cov).to_numpy(), [0, 1, 0], atol=1e-9)
    # exponentiated gradient reaches the zero-variance face only at rate 1/t (the stock's
    # weight is 2e-5 after 100 000 steps, and it says so); the tie is then broken the same
    with pytest.warns(InaccurateSolutionWarning, match="point 0"):
        simplex = efficient_frontier(mu, cov, 4, method="simplex")
    np.testing.assert_allclose(simplex.loc[0, list(mu.index)].to_numpy(float), [0, 1, 0],
                               atol=1e-4)
    assert simplex.loc[0, "TBILL"] == 0.0


def test_frontier_of_fewer_observations_than_assets_starts_at_the_efficient_end():
    """Before: row 0 returned -0.03159 (qp) / -0.02891 (simplex) at variance ~0, where
    the portfolios of zero variance reach -0.02242; a variance rounded to -1.4e-20 was
    printed as is.  Truth, independent of the frontier's solvers: a zero-variance
    portfolio has constant returns, so max mu'w s.t. (R - Rbar) w = 0, 1'w = 1, w >= 0."""
    prices = _few_observations(4)
    mu, cov = estimate(prices)
    r = returns_from_prices(prices).to_numpy()
    truth = scipy.optimize.linprog(-mu.to_numpy(), A_eq=np.vstack([r - r.mean(0), np.ones(6)]),
                                   b_eq=np.r_[np.zeros(4), 1.0], bounds=(0, None),
                                   method="highs")
    qp = efficient_frontier(mu, cov, 5)
    simplex = efficient_frontier(mu, cov, 5, method="simplex")
    # to the minimum-variance solve's accuracy (the tie-break keeps its component in the
    # range of the covariance): 2e-9 measured
    for frame in (qp, simplex):
        assert frame["return"].iloc[0] == pytest.approx(-truth.fun, abs=1e-8)
        assert frame["target_return"].iloc[0] == pytest.approx(frame["return"].iloc[0], rel=1e-14)
        assert frame["variance"].iloc[0] <= 1e-15
    assert (min_variance(mu, cov) @ mu) == pytest.approx(-truth.fun, abs=1e-8)
    diff = np.abs(qp[list(mu.index)].to_numpy() - simplex[list(mu.index)].to_numpy())
    assert diff.max() < 1e-6
    # wᵀΣw at a zero minimum rounds either side of 0: never below it in the table
    mu5, cov5 = estimate(_few_observations(5))
    assert (efficient_frontier(mu5, cov5, 3)["variance"] >= 0).all()


def test_a_unique_minimiser_is_not_touched_by_the_tie_break(mu_cov, monkeypatch):
    """A covariance of full rank (also beside a riskless asset) has one minimiser: the
    linear programme of the tie-break is never built, so row 0 is the solver's, as
    before."""
    def refuse(*args, **kwargs):
        raise AssertionError("no tie to break")

    monkeypatch.setattr(markowitz, "linprog", refuse, raising=False)
    mu, cov = mu_cov
    inv_one = np.linalg.solve(cov.to_numpy(), np.ones(3))
    for method in ("qp", "simplex"):
        frame = efficient_frontier(mu, cov, 3, method=method)
        np.testing.assert_allclose(frame[TICKERS].iloc[0], inv_one / inv_one.sum(),
                                   atol=1e-8)
    cash = pd.Series([0.002, 0.01, 0.02], index=["cash", "bond", "stock"])
    cov_cash = pd.DataFrame(np.diag([0.0, 4e-4, 2.5e-3]), index=cash.index,
                            columns=cash.index)
    np.testing.assert_allclose(efficient_frontier(cash, cov_cash, 3).iloc[0, 4:].to_numpy(
        float), [1.0, 0.0, 0.0], atol=1e-8)


def test_long_short_frontier_with_a_zero_variance_arbitrage_is_refused():
    """Long-short, long money market and short T-bills has variance 0 and return 0.001
    per unit: the return at minimum variance is unbounded.  Before: row 0 was a 50/50
    mix (return 0.0015), and the rows after it held 10 to 16 times the budget in money
    market, short T-bills, at variance 0."""
    mu = pd.Series({"TBILL": 0.001, "MMF": 0.002, "STOCK": 0.01})
    cov = pd.DataFrame(np.diag([0.0, 0.0, 0.0025]), index=mu.index, columns=mu.index)
    with pytest.raises(ValueError, match=r"`cov` is singular.*long 'MMF' 1, short 'TBILL' 1: "
                                         r"return 0\.001\).*long_only=True"):
        efficient_frontier(mu, cov, 4, long_only=False)
    # min_variance still gives a portfolio of minimum variance (any is one)
    w = min_variance(mu, cov, long_only=False).to_numpy()
    assert w.sum() == pytest.approx(1.0) and w @ cov.to_numpy() @ w <= 1e-15
    # riskless assets of one return: no arbitrage, the frontier is that of a full rank
    same = mu.copy()
    same["TBILL"] = 0.002
    frame = efficient_frontier(same, cov, 3, long_only=False)
    assert frame["return"].iloc[0] == pytest.approx(0.002)


def test_price_file_dates_that_read_both_day_and_month_first_are_refused(prices, tmp_path):
    """Before: the shipped table written day first (01/11/2000, 01/12/2000, 01/01/2001,
    ...) loaded dated 2000-01-11, 2000-01-12, 2001-01-01, ... (month first), without a
    word: those dates happen to increase too."""
    def write(name, dates):
        path = tmp_path / f"{name}.csv"
        prices.set_axis(pd.Index(dates, name="date")).to_csv(path)
        return path

    for name, form in (("slash", "%d/%m/%Y"), ("dot", "%d.%m.%Y")):
        path = write(name, prices.index.strftime(form))
        first = re.escape(prices.index[0].strftime(form))
        with pytest.raises(ValueError, match=rf"price file '.*{name}\.csv': the `date` column's "
                                             r"dates read validly both day first and month "
                                             rf"first .*'{first}' is day 1 of month 11 or "
                                             r"day 11 of month 1.*ISO.*dayfirst=True"):
            load_prices(path)
        pd.testing.assert_frame_equal(load_prices(path, dayfirst=True), prices,
                                      check_index_type=False)
        assert load_prices(path, dayfirst=False).index[0] == pd.Timestamp("2000-01-11")
    # a day above 12 settles the order, either way round; ISO dates ignore dayfirst
    fifteenth = prices.index + pd.Timedelta(days=14)
    for form in ("%d/%m/%Y", "%m/%d/%Y"):
        loaded = load_prices(write("fifteenth", fifteenth.strftime(form)))
        assert (loaded.index == fifteenth).all()
    iso = write("iso", prices.index.strftime("%Y-%m-%d"))
    assert (load_prices(iso, dayfirst=True).index == prices.index).all()
    # a dayfirst that a date contradicts is refused, not overruled date by date
    with pytest.raises(ValueError, match=r"'15/11/2000' is not a valid date read month first "
                                         r"\(MM/DD/YYYY\), as dayfirst=False says"):
        load_prices(write("fifteenth", fifteenth.strftime("%d/%m/%Y")), dayfirst=False)
    with pytest.raises(TypeError, match="`dayfirst` must be True, False or None"):
        load_prices(iso, dayfirst="yes")


def test_resampled_portfolios_name_the_columns_of_non_finite_returns():
    """Before: "`returns` must hold at least 3 rows of finite returns, got shape (12, 3)"
    for one NaN, naming neither the column nor the count."""
    returns = markowitz.returns_from_prices(markowitz.load_prices())
    holed = returns.copy()
    holed.iloc[4, 1] = np.nan
    holed.iloc[7, 2] = np.inf
    holed.iloc[9, 2] = np.nan
    with pytest.raises(ValueError, match=r"`returns` has 3 missing or non-finite \(NaN or "
                                         r"inf\) value\(s\) in column\(s\) 'WMT' \(1\), "
                                         r"'SEHI' \(2\)$"):
        markowitz.resampled_portfolios(holed, 2, seed=0)
    with pytest.raises(ValueError, match=r"`returns` must hold at least 3 rows \(dates\), "
                                         r"got shape \(2, 3\)"):
        markowitz.resampled_portfolios(returns.iloc[:2], 2, seed=0)


def test_an_unlabelled_mu_with_a_labelled_cov_is_refused(mu_cov):
    """Before: an array ``mu`` was paired with the DataFrame's column order, silently --
    with the rows and columns in different orders, IBM's return went to WMT."""
    mu, cov = mu_cov
    shuffled = cov.loc[["SEHI", "IBM", "WMT"], ["WMT", "SEHI", "IBM"]]
    for call in (lambda: min_variance(mu.to_numpy(), shuffled),
                 lambda: mean_variance(list(mu), cov),
                 lambda: efficient_frontier(mu.to_numpy(), cov, 3),
                 lambda: potential(Grid(4, 1), mu.to_numpy()[:2], cov.iloc[:2, :2])):
        with pytest.raises(ValueError, match=r"`mu` has no labels but `cov` has \(\[.*\]\).*"
                                             r"pd.Series\(mu, index=cov.columns\)"):
            call()
    # the documented forms: labels on both (in any order), none, or a Series with an array
    expected = min_variance(mu, cov)
    pd.testing.assert_series_equal(min_variance(mu, shuffled), expected, atol=1e-9)
    pd.testing.assert_series_equal(min_variance(pd.Series(mu.to_numpy(), index=cov.columns),
                                                cov), expected, atol=1e-9)
    pd.testing.assert_series_equal(min_variance(mu, cov.to_numpy()), expected, atol=1e-9)
    np.testing.assert_allclose(min_variance(mu.to_numpy(), cov.to_numpy()), expected,
                               atol=1e-9)


def test_a_near_singular_full_rank_covariance_keeps_its_one_minimiser():
    """Before: eigenvalues up to 1e-12 of the largest counted as zero, so with
    Sigma = BB' + 1e-13 lam_max I (8 assets, full rank) the tie-break moved the one
    long-only minimiser to a portfolio of 2.4x its variance (|dw|_1 = 1.1), and the
    long-short frontier was refused as an unbounded zero-variance hedge."""

    rng = np.random.default_rng(0)
    n = 8
    B = rng.normal(size=(n, 3))
    mu = rng.normal(0.01, 0.02, n)
    delta = 1e-13 * np.linalg.eigvalsh(B @ B.T)[-1]
    cov = B @ B.T + delta * np.eye(n)
    w = cp.Variable(n)
    cp.Problem(cp.Minimize(cp.norm(cp.hstack([B.T @ w, np.sqrt(delta) * w]))),
               [cp.sum(w) == 1, w >= 0]).solve(solver=cp.CLARABEL, tol_gap_abs=1e-14,
                                               tol_gap_rel=1e-12, tol_feas=1e-12)
    least = float(w.value @ cov @ w.value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InaccurateSolutionWarning)
        found = markowitz.min_variance(mu, cov).to_numpy()
        row0 = markowitz.efficient_frontier(mu, cov, n_points=3).iloc[0]
    assert float(found @ cov @ found) <= least * (1 + 1e-3)
    assert float(row0["variance"]) <= least * (1 + 1e-3)
    inverse = np.linalg.solve(cov, np.ones(n))
    closed = inverse / inverse.sum()  # the long-short minimiser
    frontier = markowitz.efficient_frontier(mu, cov, n_points=3, long_only=False)
    assert float(frontier.iloc[0]["variance"]) == pytest.approx(
        float(closed @ cov @ closed), rel=1e-3)


@pytest.mark.parametrize(("dates", "read"), [
    (["98-11-30", "98-12-31", "99-01-29"], ["1998-11-30", "1998-12-31", "1999-01-29"]),
    (["99-12-31", "00-01-31", "00-02-29"], ["1999-12-31", "2000-01-31", "2000-02-29"]),
    (["30/11/98", "31/12/98", "29/01/99"], ["1998-11-30", "1998-12-31", "1999-01-29"]),
    (["15-11-27", "15-11-30", "15-12-31"], None),  # 2015-11-27 or 27 Nov 2015 .. 2031?
])
def test_two_digit_years_are_read_in_the_one_valid_order_or_refused(tmp_path, dates, read):
    """Before: 98-11-30 was taken for a day- or month-first date and refused, 00-01-31
    raised "month must be in 1..12", and 15-11-27 .. 15-12-31 were read day first (2027 ..
    2031) although year first reads them too."""
    path = tmp_path / "prices.csv"
    path.write_text("date,A,B\n" + "".join(f"{d},1,2\n" for d in dates))
    if read is None:
        with pytest.raises(ValueError, match="two-digit years .* year first .* and day first"):
            markowitz.load_prices(path)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        index = markowitz.load_prices(path).index
    assert [str(d.date()) for d in index] == read


def test_dates_written_as_eight_digits_are_read_yyyymmdd(tmp_path):
    """Before: the CSV reader took 20001101 for a number and pandas for nanoseconds since
    1970: every date was 1970-01-01 (and the order check passed on the equal dates)."""
    path = tmp_path / "prices.csv"
    path.write_text("date,A,B\n20001101,1,2\n20001201,1.1,2.1\n20010102,1.2,2.0\n")
    index = markowitz.load_prices(path).index
    assert [str(d.date()) for d in index] == ["2000-11-01", "2000-12-01", "2001-01-02"]
    path.write_text("date,A,B\n1,1,2\n2,1.1,2.1\n3,1.2,2.0\n")
    with pytest.raises(ValueError, match="numbers that are not dates written YYYYMMDD"):
        markowitz.load_prices(path)


def test_a_price_file_names_its_repeated_and_missing_dates(tmp_path):
    """Before: a repeated date and an empty trailing row (",", read as a NaT date) were both
    "dates must be strictly increasing, got unsorted dates ... sort the rows by date"; a
    missing YYYYMMDD date cited the valid first one as np.float64(20001101.0), the file
    named twice; a header alone raised a TypeError about dtype object."""
    path = tmp_path / "prices.csv"

    def load(text):
        path.write_text(text)
        return markowitz.load_prices(path)

    with pytest.raises(ValueError, match=r"the date 2000-11-01 is on rows 1, 2 below the "
                                         r"header: keep one row per date"):
        load("date,A\n2000-11-01,1\n2000-11-01,2\n2001-01-01,3\n")
    # rows of empty fields are dropped, as blank lines are, wherever they are
    loaded = load("date,A,B\n2000-11-01,1,2\n,,\n2000-12-01,2,3\n2001-01-01,3,4\n,,\n")
    assert loaded.shape == (3, 2) and loaded.index[-1] == pd.Timestamp("2001-01-01")
    assert load("date,A\n20001101,1\n20001201,2\n20010101,3\n,\n").shape == (3, 1)
    for text in ("date,A\n20001101,1\n,2\n20010101,3\n",
                 "date,A\n2000-11-01,1\n,2\n2001-01-01,3\n"):
        with pytest.raises(ValueError) as info:
            load(text)
        assert str(info.value) == (f"price file {str(path)!r}: the date is missing on row 2 "
                                   "below the header (prices without a date): write the "
                                   "date, or delete the row")
    with pytest.raises(ValueError) as info:
        load("date,A\n20001101,1\n2000110.5,2\n")
    assert str(info.value) == (f"price file {str(path)!r}: the `date` column does not hold "
                               "dates: it holds numbers that are not dates written YYYYMMDD, "
                               "e.g. 2000110.5 (row 2)")
    with pytest.raises(ValueError, match=r"'B' \(1\), the first on the row of 2000-12-01$"):
        load("date,A,B\n2000-11-01,1,2\n2000-12-01,2,\n2001-01-01,3,4\n")
    with pytest.raises(ValueError, match=r"has no rows of prices \(only the header date,A,B\)"):
        load("date,A,B\n")


def test_a_price_file_with_a_trailing_delimiter_is_read_and_longer_rows_refused(tmp_path):
    """Rows one empty field longer than the header (a trailing delimiter) are read as their
    columns; before, pandas took the dates for an index and the file was refused as "the
    `date` column does not hold dates: invalid literal for int()".  Rows whose extra fields
    hold values are refused, naming the row, rather than losing the values."""
    path = tmp_path / "prices.csv"

    def load(text):
        path.write_text(text)
        return markowitz.load_prices(path)

    rows = "2000-01-31,100,50,\n2000-02-29,101,51,\n2000-03-31,102,49,\n"
    expected = pd.DataFrame({"IBM": [100, 101, 102], "WMT": [50, 51, 49]},
                            index=pd.DatetimeIndex(["2000-01-31", "2000-02-29",
                                                    "2000-03-31"], name="date"))
    pd.testing.assert_frame_equal(load("date,IBM,WMT\n" + rows), expected)
    pd.testing.assert_frame_equal(load("date,IBM,WMT\n" + rows.replace("\n2000-02", "\n,,,\n"
                                                                        "2000-02", 1)),
                                  expected.astype(float))
    with pytest.raises(ValueError, match="the date is missing on row 2 below the header"):
        load("date,IBM,WMT\n2000-01-31,100,50,\n,101,51,\n2000-03-31,102,49,\n")
    for text, row in (("date,IBM,WMT\n2000-01-31,100,50,\n2000-02-29,101,51,7\n", 2),
                      ("date,IBM,WMT\n2000-01-31,100,50,,\n2000-02-29,101,51,,\n", 1)):
        with pytest.raises(ValueError) as info:
            load(text)
        assert str(info.value).startswith(
            f"price file {str(path)!r}: row {row} below the header has more fields than the "
            f"header's 3 (date,IBM,WMT), which would be lost: name every column")


def test_iso_dates_with_daylight_saving_offsets_or_some_times_are_read(tmp_path):
    """Before: valid ISO 8601 dates were refused with pandas' advice, which load_prices
    cannot take: offsets changing with daylight saving time ("pass utc=True"), a time on
    some rows only ("pass format='mixed'")."""
    path = tmp_path / "prices.csv"

    def load(*dates):
        path.write_text("date,A,B\n" + "".join(f"{d},{1 + k / 10},2\n"
                                               for k, d in enumerate(dates)))
        return markowitz.load_prices(path)

    dst = load("2021-03-12 16:00:00-05:00", "2021-03-15 16:00:00-04:00",
               "2021-03-16 16:00:00-04:00")
    assert list(dst.index) == [pd.Timestamp(t, tz="UTC") for t in (
        "2021-03-12 21:00", "2021-03-15 20:00", "2021-03-16 20:00")]
    assert estimate(dst)[0]["A"] == pytest.approx((0.1 + 0.1 / 1.1) / 2, rel=1e-12)
    timed = load("2001-01-01", "2001-01-02 16:00", "2001-01-03")
    assert list(timed.index) == [pd.Timestamp(t) for t in (
        "2001-01-01", "2001-01-02 16:00", "2001-01-03")]
    # the same labels as a table's index of strings are read so too
    as_text = pd.read_csv(path, index_col="date")  # the file of `timed`
    np.testing.assert_array_equal(estimate(as_text)[0], estimate(timed)[0])
    as_text = dst.set_axis(["2021-03-12 16:00:00-05:00", "2021-03-15 16:00:00-04:00",
                            "2021-03-16 16:00:00-04:00"])
    np.testing.assert_array_equal(estimate(as_text)[0], estimate(dst)[0])
    with pytest.raises(ValueError, match=r"the `date` column mixes forms of date: row 2 "
                                         r"carries a UTC offset and rows 1, 3 do not .*write "
                                         r"the offset on every date, or on none"):
        load("2021-03-12 16:00", "2021-03-15 16:00:00-04:00", "2021-03-16 16:00")


@pytest.mark.parametrize("dayfirst", [None, True, False])
def test_dates_in_several_forms_are_refused_naming_the_rows(tmp_path, dayfirst):
    """Before: ISO dates beside 01/02/2001 said "pass dayfirst=True", which then failed on
    the ISO rows with pandas' "format='mixed'" advice."""
    path = tmp_path / "prices.csv"
    path.write_text("date,A,B\n01/02/2001,1,2\n2001-03-01,1.1,2.1\n2001-04-01,1.2,2\n")
    with pytest.raises(ValueError) as info:
        markowitz.load_prices(path, dayfirst=dayfirst)
    assert str(info.value) == (
        f"price file {str(path)!r}: the `date` column mixes forms of date: row 1 like "
        "'01/02/2001' and rows 2, 3 like '2001-03-01': write every date in one form, e.g. "
        "year first (ISO 8601: YYYY-MM-DD, a time and UTC offset optional)")
    frame = pd.DataFrame({"A": [1.0, 1.1, 1.2]}, index=["Jan 1 2001", "02/03/2001",
                                                         "2001-04-01"])
    with pytest.raises(ValueError, match=r"`prices` index mixes forms of date \(rows counted "
                                         r"from 1\): row 1 like 'Jan 1 2001', row 2 like "
                                         r"'02/03/2001' and row 3 like '2001-04-01'"):
        returns_from_prices(frame)


def test_two_digit_year_dates_with_a_time_are_read_in_the_one_valid_order(tmp_path):
    """Before: a time after 21-01-05 sent such dates past the year-first reading, so a
    newest-first file YY-MM-DD was read day first (2005-01-21, 2010-06-20, ...) and the
    returns came out -17.5 %, +11.1 %, -9.1 % where they are +10 %, -10 %, +21.2 %."""
    path = tmp_path / "prices.csv"

    def write(dates, prices):
        rows = zip(dates, prices, strict=True)
        path.write_text("date,A\n" + "".join(f"{d},{p}\n" for d, p in rows))

    newest_first = ["21-01-05 16:00", "20-06-10 16:00", "19-12-20 16:00", "18-03-22 16:00"]
    write(newest_first, [120, 99, 110, 100])
    # both year first and day first make every date valid: refused, as without the times
    with pytest.raises(ValueError, match=r"read validly, and differently, year first "
                                         r"\(YY-MM-DD\) and day first \(DD-MM-YY\), e.g. "
                                         r"'21-01-05 16:00'"):
        markowitz.load_prices(path)
    frame = pd.DataFrame({"A": [120.0, 99.0, 110.0, 100.0]}, index=newest_first)
    with pytest.raises(ValueError, match=r"read validly both day first \(DD-MM-YY\) and year "
                                         r"first \(YY-MM-DD\), and the rows run forward in "
                                         r"time only read day first"):
        returns_from_prices(frame)
    # a day above 31 leaves year first alone: read so, with the times
    oldest_first = ["98-11-30 16:00", "99-01-05", "99-02-07 9:30", "99-03-01 4:00 PM"]
    write(oldest_first, [100, 110, 99, 120])
    read = markowitz.load_prices(path)
    assert list(read.index) == [pd.Timestamp(t) for t in (
        "1998-11-30 16:00", "1999-01-05", "1999-02-07 09:30", "1999-03-01 16:00")]
    expected = [0.1, -0.1, 120 / 99 - 1]
    assert returns_from_prices(read)["A"].tolist() == pytest.approx(expected, rel=1e-12)
    frame = pd.DataFrame({"A": [100.0, 110.0, 99.0, 120.0]}, index=oldest_first)
    assert returns_from_prices(frame)["A"].tolist() == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="strictly increasing, got decreasing"):
        returns_from_prices(frame.iloc[::-1])


@pytest.mark.parametrize("dates", [
    ["2020-01-02", "2020-01-02 16:00", "2020-01-03 9:30", "2020-01-03 16:00"],
    ["2020-01-02", "2020-01-02t16:00", "2020-01-03", "2020-01-06"],
    ["2020/01/02", "2020/01/02 16:00", "2020/01/03", "2020/01/06"],
    ["Jan 2 2020", "Jan 2 2020 16:00", "Jan 3 2020", "Jan 6 2020"],
    ["2020-1-2", "2020-1-2 16:00", "2020-1-3", "2020-1-6"],
    ["20200102", "20200102 16:00:00", "20200103", "20200106"],
    ["02.01.2020", "02.01.2020 16:00", "03.01.2020", "06.01.2020"],
])
def test_dates_of_one_form_with_a_time_on_some_rows_are_read(tmp_path, dates):
    """Before: a time on some rows only was taken for another form of date, and such an
    index was refused as "mixes forms of date" unless the dates were strict ISO 8601."""
    expected = [0.1, -0.1, 120 / 99 - 1]
    frame = pd.DataFrame({"A": [100.0, 110.0, 99.0, 120.0]}, index=dates)
    assert returns_from_prices(frame)["A"].tolist() == pytest.approx(expected, rel=1e-12)
    path = tmp_path / "prices.csv"
    rows = zip(dates, frame["A"], strict=True)
    path.write_text("date,A\n" + "".join(f"{d},{p}\n" for d, p in rows))
    read = markowitz.load_prices(path, dayfirst=True)
    assert read.index[1] == pd.Timestamp("2020-01-02 16:00")
    assert returns_from_prices(read)["A"].tolist() == pytest.approx(expected, rel=1e-12)
    # another form of date on a row is still refused, naming it
    other = "Jan 3 2020" if dates[0][0] != "J" else "2020-01-03"
    path.write_text(path.read_text().replace(dates[2], other))
    with pytest.raises(ValueError, match=f"mixes forms of date: rows 1, 2, 4 like "
                                         f"'{dates[0]}' and row 3 like '{other}'"):
        markowitz.load_prices(path)


def test_a_header_ending_with_a_delimiter_too_is_read(tmp_path):
    """Before: `date,IBM,WMT,` above rows ending with `,` was refused as "3 missing values
    in column 'Unnamed: 3'".  Only an unnamed, empty last column is dropped."""
    path = tmp_path / "prices.csv"
    path.write_text("date,IBM,WMT,\n2001-01-01,1,2,\n2001-02-01,1.1,2.1,\n"
                    "2001-03-01,1.2,2,\n")
    loaded = markowitz.load_prices(path)
    assert list(loaded.columns) == ["IBM", "WMT"] and loaded.shape == (3, 2)
    assert loaded.loc["2001-02-01", "WMT"] == 2.1
    path.write_text("date,IBM,WMT,\n2001-01-01,1,2,\n2001-02-01,1.1,2.1,7\n")
    with pytest.raises(ValueError, match=r"column 4 of the header \(date,IBM,WMT,; the last\) "
                                         r"has no name, but it holds values \(7.0 on row 2 "):
        markowitz.load_prices(path)


def test_a_column_without_a_name_in_the_header_is_refused(tmp_path):
    """Before: `date,A,B,` above rows with a value in every last field loaded that column
    as a ticker named 'Unnamed: 3' (an empty field inside the header likewise)."""
    path = tmp_path / "prices.csv"
    path.write_text("date,A,B,\n2020-01-01,1,2,5\n2020-02-01,1.1,2.1,6\n")
    with pytest.raises(ValueError) as info:
        markowitz.load_prices(path)
    assert str(info.value) == (f"price file {str(path)!r}: column 4 of the header (date,A,B,; "
                               "the last) has no name, but it holds values (5 on row 1 below "
                               "the header): name it in the header (its ticker), or delete "
                               "the column")
    path.write_text("date,A,,B\n2020-01-01,1,,5\n2020-02-01,1.1,,6\n")
    with pytest.raises(ValueError, match=r"column 3 of the header \(date,A,,B; between 'A' and "
                                         r"'B'\) has no name: name it in the header"):
        markowitz.load_prices(path)
    # named, the column is a ticker; tickers read as missing values by default are names
    path.write_text("date,NA,B,C\n2020-01-01,1,2,5\n2020-02-01,1.1,2.1,6\n")
    assert list(markowitz.load_prices(path).columns) == ["NA", "B", "C"]


def test_a_price_table_names_its_repeated_and_missing_dates(prices):
    """Before: both were "dates must be strictly increasing, got unsorted dates"."""
    repeated = prices.set_axis(prices.index[[0, 1, 1, *range(3, len(prices))]])
    with pytest.raises(ValueError, match=r"`prices` dates must be strictly increasing, got 1 "
                                         r"date\(s\) on more than one row: 2000-12-01; keep "
                                         r"one row per date"):
        returns_from_prices(repeated)
    with pytest.raises(ValueError, match=r"1 date\(s\) on more than one row: '2000-12-01'"):
        estimate(_as_read_csv_leaves_it(repeated))
    holed = prices.set_axis(prices.index.where(np.arange(len(prices)) != 4))
    with pytest.raises(ValueError, match=r"`prices` has 1 row\(s\) without a date \(NaT or "
                                         r"NaN in the index\) at position\(s\) 4 "):
        returns_from_prices(holed)
    with pytest.raises(ValueError, match=r"must have at least 2 rows \(dates\), got 0"):
        returns_from_prices(pd.DataFrame(columns=["A", "B"]))


def test_a_date_column_among_prices_is_refused_and_prices_as_returns_warn(prices):
    """Before: a YYYYMMDD `date` column was estimated as an asset, and prices passed as
    returns gave resampled portfolios without a word."""
    table = pd.DataFrame({"Date": [20000101, 20000201, 20000301], "A": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match=r"`prices` has a column named 'Date' holding dates, "
                                         r"which would be read as an asset.*"
                                         r"prices.set_index\('Date'\)"):
        estimate(table)
    returns = returns_from_prices(prices)
    with pytest.raises(ValueError, match=r"`returns` has a column named 'date' holding dates"):
        markowitz.resampled_portfolios(returns.reset_index(), 2, seed=0)
    with pytest.warns(UnitsWarning, match=r"`returns` look like prices.*the lowest is 1\.812"
                                          r".*returns_from_prices\(prices\)"):
        markowitz.resampled_portfolios(prices, 2, risk_aversion=4, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnitsWarning)
        markowitz.resampled_portfolios(returns, 2, risk_aversion=4, seed=0)
        markowitz.resampled_portfolios(returns.abs(), 2, risk_aversion=4, seed=0)


def test_a_ticker_named_like_a_date_column_is_read_beside_dates(prices, tmp_path):
    """A column named Time, Date, ... holding prices beside dates in the index is a ticker
    (Time Inc. traded as TIME); before, every such name was refused, even by load_prices.
    Dates left in such a column beside a default index are still refused."""
    expected = estimate(prices)
    for name in ("Time", "TIME", "Date", "Dates", "Timestamp", "Datetime"):
        renamed = prices.rename(columns={"IBM": name})
        mu, cov = estimate(renamed)
        np.testing.assert_array_equal(mu.to_numpy(), expected[0].to_numpy())
        assert list(mu.index) == [name, "WMT", "SEHI"]
        path = tmp_path / "prices.csv"
        renamed.to_csv(path)
        pd.testing.assert_frame_equal(markowitz.load_prices(path), renamed)
    estimate(pd.DataFrame({"Time": [1.0, 2.0, 3.0], "A": [1.0, 2.0, 3.0]}))  # no dates
    for table in (pd.DataFrame({"date": [20000101, 20000201, 20000301], "A": [1.0, 2, 3]}),
                  prices.reset_index(), prices.reset_index().astype({"date": str}),
                  prices.reset_index().rename(columns={"date": "Time"})):
        column = table.columns[0]
        with pytest.raises(ValueError, match=f"`prices` has a column named '{column}' "
                                             f"holding dates"):
            estimate(table)


def test_potential_reads_labelled_input_on_a_1d_grid_by_its_assets(mu_cov):
    """Before: on a 1-D grid naming no assets, labelled mu/cov were read by position
    (whichever label came first became the weight axis: two orders differed by 0.0103)."""
    mu, cov = mu_cov
    pair = ["IBM", "WMT"]
    arrays = potential(Grid(8, 2), mu[pair].to_numpy(), cov.loc[pair, pair].to_numpy())
    g = Grid(8, 2, assets=("IBM", "WMT"))
    for order in (pair, pair[::-1]):
        labelled = potential(g, mu[order], cov.loc[order, order])
        np.testing.assert_allclose(labelled, arrays, rtol=1e-14, atol=1e-16)
    with pytest.raises(ValueError, match=r"`mu` labels \['IBM', 'SEHI'\] must be the grid's "
                                         r"assets \['IBM', 'WMT'\]"):
        potential(g, mu[["IBM", "SEHI"]], cov.loc[["IBM", "SEHI"], ["IBM", "SEHI"]])
    for order in (pair, pair[::-1]):
        with pytest.raises(ValueError, match=r"`mu` is labelled .* the grid names no assets"
                                             r".* Grid\(\.\.\., assets="):
            potential(Grid(8, 2), mu[order], cov.loc[order, order])
