"""Progress bars: at a terminal or when asked, silent in tests, pipes and logs."""

import sys

import pytest

import wfr_cvx
from wfr_cvx import Grid, _progress
from wfr_cvx.batch import SerialExecutor, solve_many

pytest.importorskip("tqdm")

JOB = {"lam": 0.5, "grid": {"n_weights": 8, "n_steps": 2},
       "rho0": {"diracs": [{"weight": 0.5}]}, "rho1": {"diracs": [{"weight": 0.5, "mass": 4.0}]}}


class _Terminal:
    """A stand-in stderr that says it is a terminal and keeps what is written."""

    def __init__(self):
        self.text = []

    def isatty(self):
        return True

    def write(self, text):
        self.text.append(text)

    def flush(self):
        pass


def _dr_case():
    g = Grid(16, 4)
    return g.bump(0.3, 0.08), g.bump(0.6, 0.08), g


def test_auto_follows_the_terminal_and_the_command_line(monkeypatch):
    assert _progress.wants_progress(True) and not _progress.wants_progress(False)
    assert not _progress.wants_progress("auto")  # pytest captures stderr: not a terminal
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert _progress.wants_progress("auto")
    with _progress.progress_default(False):
        assert not _progress.wants_progress("auto") and _progress.wants_progress(True)
    monkeypatch.undo()
    with _progress.progress_default(True):
        assert _progress.wants_progress("auto")
    with pytest.raises(TypeError, match="`progress` must be True, False or 'auto'"):
        _progress.wants_progress("yes")


def test_dr_shows_a_bar_when_asked_and_is_silent_by_default(capsys):
    r0, r1, g = _dr_case()
    quiet = wfr_cvx.geodesic(r0, r1, g, 0.3, backend="dr", scheme="power")
    assert capsys.readouterr().err == ""
    shown = wfr_cvx.geodesic(r0, r1, g, 0.3, backend="dr", scheme="power", progress=True)
    err = capsys.readouterr().err
    assert "dr (" in err and "unknowns" in err
    # the bar changes nothing in the solve
    assert shown.distance2 == quiet.distance2 and shown.iterations == quiet.iterations


def test_dr_progress_option_is_checked():
    r0, r1, g = _dr_case()
    with pytest.raises(ValueError, match="`progress` must be a bool or one of \\['auto'\\]"):
        wfr_cvx.geodesic(r0, r1, g, 0.3, backend="dr", progress="loud")
    assert wfr_cvx.backends.dr.DEFAULTS["progress"] == "auto"


def test_solve_many_bar(capsys):
    solve_many([JOB], executor=SerialExecutor())
    assert capsys.readouterr().err == ""  # "auto", not a terminal
    solve_many([JOB, JOB], executor=SerialExecutor(), progress=True)
    assert "batch" in capsys.readouterr().err
    with pytest.raises(TypeError, match="`progress`"):
        solve_many([JOB], executor=SerialExecutor(), progress=1)


def test_a_batch_job_shows_no_bar_of_its_own(capsys):
    """The batch's bar is the only one: a job's first-order solve stays silent even when
    the command line asked for bars."""
    job = {**JOB, "backend": "dr", "scheme": "power", "grid": {"n_weights": 16, "n_steps": 4},
           "rho1": {"diracs": [{"weight": 0.5, "mass": 2.0}]}}
    with _progress.progress_default(True):
        table = solve_many([job], executor=SerialExecutor(), progress=False)
    assert table["status"].tolist() == ["Solved"]
    assert capsys.readouterr().err == ""


def test_without_tqdm_nothing_fails(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    bar = _progress.progress_bar(True, desc="x", unit="it")
    bar.update(3)
    bar.set_postfix_str("y")
    bar.close()
    solve_many([JOB], executor=SerialExecutor(), progress=True)
    assert capsys.readouterr().err == ""
