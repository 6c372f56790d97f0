"""wfr_cvx's warnings: raised as warnings.warn does, collected and silenced per thread."""

import threading
import warnings

import pytest

from wfr_cvx._warnings import collected, silenced, suppressed, warn
from wfr_cvx.errors import InaccurateSolutionWarning


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
