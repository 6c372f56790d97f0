"""wfr_cvx's warnings: raised as warnings.warn does, collected and silenced per thread."""

import sys
import threading
import warnings

import numpy as np
import pytest

import wfr_cvx
from wfr_cvx._warnings import collected, silenced, suppressed, warn
from wfr_cvx.errors import InaccurateSolutionWarning, UnitsWarning


def _raise_here():
    warn("from the library", InaccurateSolutionWarning, stacklevel=2)


def test_warn_is_warnings_warn_outside_a_collection():
    with pytest.warns(InaccurateSolutionWarning, match="from the library") as record:
        _raise_here()  # stacklevel 2: this line, as warnings.warn would point
    assert record[0].filename == __file__


def _in_threads(*targets):
    """Run ``targets`` in threads that all start their work together."""
    barrier = threading.Barrier(len(targets))
    out = [None] * len(targets)

    def run(i, target):
        barrier.wait(timeout=30)
        out[i] = target(barrier)

    threads = [threading.Thread(target=run, args=(i, t)) for i, t in enumerate(targets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def test_each_thread_collects_its_own_warnings_and_nothing_is_shown():
    def job(name):
        def target(barrier):
            with collected() as caught:
                warn(f"{name} first", UserWarning)
                barrier.wait(timeout=30)  # both collections open at once
                warn(f"{name} second", InaccurateSolutionWarning)
            return caught
        return target

    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        a, b = _in_threads(job("a"), job("b"))
    assert a == [(UserWarning, "a first"), (InaccurateSolutionWarning, "a second")]
    assert b == [(UserWarning, "b first"), (InaccurateSolutionWarning, "b second")]
    assert shown == []


def test_silencing_in_one_thread_hides_nothing_in_another():
    """Before: the solvers silenced cvxpy's UserWarning with catch_warnings, which swapped
    the process-wide filters: another thread's warnings were dropped meanwhile, and a stale
    copy put back could keep an "ignore" in force after."""
    def quiet(barrier):
        with silenced(UserWarning):
            barrier.wait(timeout=30)
            warnings.warn("from cvxpy, say", UserWarning, stacklevel=1)
            barrier.wait(timeout=30)

    def loud(barrier):
        barrier.wait(timeout=30)  # the other thread is inside its block
        warnings.warn("the user's", UserWarning, stacklevel=1)
        barrier.wait(timeout=30)

    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        _in_threads(quiet, loud)
        warnings.warn("after", UserWarning, stacklevel=1)
    assert [str(w.message) for w in shown] == ["the user's", "after"]


def test_suppressed_drops_only_its_category_in_its_thread():
    with collected() as caught:
        with suppressed(InaccurateSolutionWarning):
            warn("dropped", InaccurateSolutionWarning)
            warn("kept", UserWarning)
        warn("kept too", InaccurateSolutionWarning)
    assert caught == [(UserWarning, "kept"), (InaccurateSolutionWarning, "kept too")]


def test_a_warning_instance_is_of_its_own_class():
    with collected() as caught:
        with suppressed(InaccurateSolutionWarning):
            warn(InaccurateSolutionWarning("dropped"))
        warn(InaccurateSolutionWarning("kept"))
    assert caught == [(InaccurateSolutionWarning, "kept")]


def test_wfr_cvx_warnings_point_at_the_callers_line():
    """Before: fixed stack levels, right for one entry point each: the UnitsWarning of
    geodesic, compare and rebalance pointed one frame above the user's call (at module
    level: file 'sys', line 1)."""
    g = wfr_cvx.Grid(8, 2)
    a, b = g.dirac(0.5), 4 * g.dirac(0.5)
    e0, e1 = wfr_cvx.Ensemble([[0.5]], [1.0]), wfr_cvx.Ensemble([[0.5]], [4.0])
    lines = []
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        lines.append(sys._getframe().f_lineno + 1)
        wfr_cvx.geodesic(a, b, g, 2000.0)
        lines.append(sys._getframe().f_lineno + 1)
        wfr_cvx.compare(a, b, g, 2000.0)
        lines.append(sys._getframe().f_lineno + 1)
        wfr_cvx.rebalance(a, g, 2000.0, potential=lambda w: np.asarray(w), tau=1.0)
        lines.append(sys._getframe().f_lineno + 1)
        wfr_cvx.ensemble.geodesic(e0, e1, 2000.0)
    units = [(w.filename, w.lineno) for w in record if w.category is UnitsWarning]
    assert units == [(__file__, line) for line in lines]
