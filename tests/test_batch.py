"""Batch solving: a Dask cluster against a serial run, failures per row, sweeps, the CLI."""

import concurrent.futures
import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wfr_cvx import cli
from wfr_cvx import problem_files as problems
from wfr_cvx._warnings import _InSilencedThread, warn
from wfr_cvx.batch import COLUMNS, SerialExecutor, solve_many, sweep
from wfr_cvx.closed_form import dirac_wfr2
from wfr_cvx.errors import InaccurateSolutionWarning

ROOT = Path(__file__).resolve().parent.parent
PROBLEMS = ROOT / "problems"
FILES = sorted(PROBLEMS.glob("*.toml"))  # every shipped problem, a few seconds in all

#: a regime switch, pure reaction: d^2 = 4 lam^2 (m0 + m1) = lam^2 * 4 * 1.5 (closed form)
SWITCH = {"name": "switch", "lam": 0.25, "grid": {"n_weights": 16, "n_steps": 4, "regimes": 2},
          "rho0": {"diracs": [{"weight": 0.5, "regime": 0, "mass": 1.0}]},
          "rho1": {"diracs": [{"weight": 0.5, "regime": 1, "mass": 0.5}]}}

#: two bumps on a small 1-D grid: the first-order backend says "Solved" but warns that it
#: is inaccurate there (InaccurateSolutionWarning)
BUMPS = {"lam": 0.3, "grid": {"n_weights": 8, "n_steps": 2},
         "rho0": {"bumps": [{"center": 0.3, "width": 0.1}]},
         "rho1": {"bumps": [{"center": 0.6, "width": 0.1}]}}

#: lam of 2,000 weight units: a UnitsWarning (a dollar figure?), solved all the same
DOLLARS = {"lam": 2000.0, "grid": {"n_weights": 8, "n_steps": 2},
           "rho0": {"diracs": [{"weight": 0.5}]},
           "rho1": {"diracs": [{"weight": 0.5, "mass": 4.0}]}}


class LosingExecutor(SerialExecutor):
    """Loses the jobs named in ``lost`` (as a dead worker would) and refuses ``refused``."""

    def __init__(self, lost=(), refused=()):
        self.lost, self.refused = set(lost), set(refused)

    def submit(self, fn, /, *args, **kwargs):
        name = args[0].name
        if name in self.refused:
            raise RuntimeError("cannot schedule new futures after shutdown")
        if name in self.lost:
            future = concurrent.futures.Future()
            future.set_exception(OSError(f"worker running {name} died"))
            return future
        return super().submit(fn, *args, **kwargs)


def _serial(jobs):
    return solve_many(jobs, executor=SerialExecutor(), progress=False)


# -- acceptance 2: a failing job is reported in its row, the others finish ---------------
def test_failures_stay_in_their_rows_on_the_process_pool(tmp_path):
    # a move: a switch alone is solved in closed form, with no solver to stop
    stuck = {**SWITCH, "name": "stuck", "solver": {"max_iter": 1},
             "rho1": {"diracs": [{"weight": 0.7, "regime": 0, "mass": 0.5}]}}
    bad_lam = dataclasses.replace(problems.from_dict(SWITCH, name="x"), name="bad_lam",
                                  lam=-1.0)  # bypasses the file checks: raises in the worker
    unnamed = {key: value for key, value in SWITCH.items() if key != "name"}
    jobs = [PROBLEMS / "teleport.toml", stuck, {**unnamed, "lam": 0.0},
            tmp_path / "absent.toml", bad_lam, SWITCH]
    table = solve_many(jobs, workers=2, progress=False)
    rows = table.set_index("name")
    assert table["name"].tolist() == ["teleport", "stuck", "job2", "absent", "bad_lam",
                                      "switch"]
    assert rows.loc["teleport", "distance2"] == pytest.approx(0.48, rel=1e-5)
    assert rows.loc["switch", "distance2"] == pytest.approx(0.375, rel=1e-6)
    assert (rows.loc[["teleport", "switch"], "error"] == "").all()

    assert rows.loc["stuck", "status"] == "MaxIterations"
    assert rows.loc["stuck", "error"].startswith("SolverError: the WFR solve did not converge")
    assert rows.loc["stuck", "time"] > 0
    assert rows.loc["job2", "status"] == "invalid"
    assert rows.loc["job2", "error"] == "ProblemFileError: <job2>: `lam`: must be > 0, got 0"
    assert rows.loc["absent", "status"] == "invalid"
    assert "absent.toml: no such problem file" in rows.loc["absent", "error"]
    assert rows.loc["bad_lam", "status"] == "error"
    assert rows.loc["bad_lam", "error"].startswith("ValueError: `lam` must be finite and > 0")
    failed = rows.loc[["stuck", "job2", "absent", "bad_lam"]]
    assert failed[["distance2", "transport_cost", "reaction_cost"]].isna().all().all()
    assert failed["iterations"].isna().all()
    assert str(table["iterations"].dtype) == "Int64"


def test_a_job_lost_by_the_executor_is_reported_in_its_row():
    jobs = sweep(SWITCH, lam=[0.1, 0.2, 0.3, 0.4])
    table = solve_many(jobs, executor=LosingExecutor(lost={"switch[lam=0.2]"},
                                                     refused={"switch[lam=0.4]"}),
                       progress=False)
    assert table["status"].tolist() == ["Solved", "error", "Solved", "error"]
    assert table.loc[1, "error"] == "OSError: worker running switch[lam=0.2] died"
    assert table.loc[3, "error"].startswith("RuntimeError: cannot schedule")
    assert table.loc[2, "distance2"] == pytest.approx(6 * 0.3**2, rel=1e-6)


# -- warnings: each job's own, in its row ------------------------------------------------
class MemoizingExecutor(SerialExecutor):
    """Answers identical submissions with the same Future (as a caching executor does)."""

    def __init__(self):
        self.futures = {}

    def submit(self, fn, /, *args, **kwargs):
        import pickle

        key = pickle.dumps((fn, args, kwargs))
        if key not in self.futures:
            self.futures[key] = super().submit(fn, *args, **kwargs)
        return self.futures[key]


def test_identical_jobs_answered_by_one_future_keep_every_row():
    """Before: the second job's future replaced the first's index, a row stayed empty and
    building the table raised a pandas shape error: every row was lost."""
    dollars = {**DOLLARS, "name": "dollars"}  # warned while read: once in each row
    jobs = [SWITCH, dollars, SWITCH, dollars, {**SWITCH, "lam": 0.5}]
    executor = MemoizingExecutor()
    table = solve_many(jobs, executor=executor, progress=False)
    assert len(executor.futures) == 3
    assert table["name"].tolist() == ["switch", "dollars", "switch", "dollars", "switch"]
    assert (table["status"] == "Solved").all()
    np.testing.assert_allclose(table["distance2"].iloc[[0, 2, 4]],
                               6 * np.array([0.25, 0.25, 0.5]) ** 2, rtol=1e-6)
    assert table.loc[1, "warnings"].startswith("UnitsWarning")
    assert table.loc[1, "warnings"] == table.loc[3, "warnings"]
    serial = _serial(jobs)
    pd.testing.assert_frame_equal(table.drop(columns="time"), serial.drop(columns="time"))


def test_warned_jobs_say_so_in_their_rows_on_the_process_pool():
    """Before: an inaccurate solve was a row "Solved" with nothing else to tell it from an
    accurate one, and other warnings went to the worker's stderr without the job's name."""
    jobs = [{**BUMPS, "name": "drifts", "backend": "dr"}, {**DOLLARS, "name": "dollars"},
            {**BUMPS, "name": "stuck", "lam": 1500.0, "solver": {"max_iter": 2}}, SWITCH]
    table = solve_many(jobs, workers=2, progress=False).set_index("name")
    assert table.loc["drifts", "status"] == "Solved" and table.loc["drifts", "error"] == ""
    assert table.loc["drifts", "warnings"].startswith(
        "InaccurateSolutionWarning: backend='dr' on a 1-D grid")
    assert table.loc["dollars", "status"] == "Solved"
    assert table.loc["dollars", "warnings"].startswith(
        "UnitsWarning: `lam` = 2000 is 2e+03 times the length of the weight axis")
    assert "\n" not in table.loc["dollars", "warnings"]
    # a failed job keeps the warnings it raised before failing
    assert table.loc["stuck", "error"].startswith("SolverError")
    assert table.loc["stuck", "warnings"].startswith("UnitsWarning: `lam` = 1500")
    assert table.loc["switch", "warnings"] == ""


def _unrefined():
    """The same warning, from the same line, wherever it is called from (as wfr_cvx
    raises its own)."""
    warn("a step was left unrefined", InaccurateSolutionWarning)


_BOTH_RUNNING = threading.Barrier(2)


class WarnsAlongside(problems.Problem):
    """Warns with its name and with the warning every job raises, while the other job of a
    pair runs; "second" finishes last, after warning from a thread outside any job."""

    def solve(self, **options):
        warn(f"{self.name} was here", UserWarning)
        _BOTH_RUNNING.wait(timeout=60)
        _unrefined()
        if self.name == "second":
            time.sleep(0.3)  # "first" is done by now (an order, not a timing, is tested)
            for text in ("outside the jobs", "ignored outside the jobs"):
                outside = threading.Thread(target=warnings.warn, args=(text, RuntimeWarning))
                outside.start()
                outside.join()
        return super().solve(**options)


def test_jobs_in_threads_keep_their_own_warnings_and_leave_the_filters_alone():
    """Before: each job swapped the process-wide warnings filters with catch_warnings; two
    jobs in threads put them back in the wrong order and left an "ignore" of
    InaccurateSolutionWarning in force for the rest of the session.  Now each thread
    collects its own job's warnings and the user's filters are left as they were."""
    jobs = [WarnsAlongside(**{f.name: getattr(_switch(name), f.name)
                              for f in dataclasses.fields(problems.Problem)})
            for name in ("first", "second")]
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("default")
        warnings.filterwarnings("ignore", "ignored outside")
        _unrefined()  # shown once here: the jobs' own are not taken for repeats of it
        filters, showwarning = list(warnings.filters), warnings.showwarning
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            table = solve_many(jobs, executor=pool, progress=False)
        assert _users(warnings.filters) == _users(filters)
        assert warnings.showwarning is showwarning
    assert table["status"].tolist() == ["Solved", "Solved"], table["error"].tolist()
    assert table["warnings"].tolist() == [
        f"UserWarning: {name} was here | InaccurateSolutionWarning: a step was left unrefined"
        for name in ("first", "second")]
    # a thread outside the jobs warned as usual, under its own filters
    assert [str(w.message) for w in shown] == ["a step was left unrefined",
                                               "outside the jobs"]


def test_a_cvxpy_job_in_a_thread_adds_only_its_inert_filter():
    """The module docstring said the warnings filters were never touched; a cvxpy job adds
    the one entry it documents: first, UserWarning, matching only in a silencing thread."""
    pytest.importorskip("cvxpy")
    with warnings.catch_warnings():
        warnings.resetwarnings()
        warnings.filterwarnings("ignore", "a user's own")
        before = list(warnings.filters)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            table = solve_many([{**BUMPS, "backend": "cvxpy"}], executor=pool,
                               progress=False)
        after = list(warnings.filters)
    assert table["status"].tolist() == ["Solved"], table["error"].tolist()
    added = [f for f in after if f not in before]
    assert [f for f in after if f in before] == before
    assert len(added) == 1 and after[0] is added[0]
    action, pattern, category, _, _ = added[0]
    assert (action, category) == ("ignore", UserWarning)
    assert not pattern.match("anything")  # inert in this thread, outside any solve


def _users(filters) -> list:
    """The warnings filters but wfr_cvx's inert per-thread entries (wfr_cvx._warnings)."""
    return [f for f in filters if not isinstance(f[1], _InSilencedThread)]


def test_a_solver_that_silences_its_own_warnings_hides_no_other_jobs_in_threads():
    """Before (a first fix that captured warnings through the process-wide filters): the
    cvxpy backend's catch_warnings + ignore of UserWarning around its solve, in one thread,
    dropped every other job's InaccurateSolutionWarning (a subclass), and a stale copy of
    the filters it put back kept dropping them for the rest of the batch: all rows said
    "Solved" with no warning.  Now every dr row carries its warning."""
    jobs = [{**BUMPS, "name": "small", "backend": "cvxpy", "grid": {"n_weights": 12,
                                                                      "n_steps": 4}},
            {**BUMPS, "name": "big", "backend": "cvxpy", "grid": {"n_weights": 60,
                                                                  "n_steps": 10}},
            *({**BUMPS, "name": f"dr{i}", "backend": "dr"} for i in range(8))]
    filters = _users(warnings.filters)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        table = solve_many(jobs, executor=pool, progress=False).set_index("name")
    assert _users(warnings.filters) == filters  # no "ignore" of UserWarning left behind
    assert (table["status"] == "Solved").all(), table["error"].tolist()
    for i in range(8):
        assert table.loc[f"dr{i}", "warnings"].startswith(
            "InaccurateSolutionWarning: backend='dr' on a 1-D grid")


# -- worker faults: a dead worker costs only its own job ---------------------------------
@dataclasses.dataclass(eq=False)
class KillsItsWorker(problems.Problem):
    """A problem whose solve kills the process solving it: always, or only on the first
    attempt (``marker``: a file created by the first attempt)."""

    marker: str | None = None
    delay: float = 0.0

    def solve(self, **options):
        time.sleep(self.delay)
        if self.marker is None or not os.path.exists(self.marker):
            if self.marker is not None:
                Path(self.marker).touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return super().solve(**options)


def _switch(name, lam=0.25):
    return dataclasses.replace(problems.from_dict(SWITCH, name=name), name=name, lam=lam)


def _killer(name, **kwargs):
    return KillsItsWorker(**{f.name: getattr(_switch(name), f.name)
                             for f in dataclasses.fields(problems.Problem)}, **kwargs)


def test_a_killed_worker_costs_only_its_job_which_is_retried(tmp_path):
    """Before: one worker killed by SIGKILL turned every row into BrokenProcessPool."""
    jobs = [_switch("a", 0.1), _killer("flaky", marker=str(tmp_path / "once")),
            _switch("b", 0.2), _killer("doomed"), _switch("c", 0.3), _switch("d", 0.4)]
    table = solve_many(jobs, workers=2, progress=False).set_index("name")
    solved = ["a", "flaky", "b", "c", "d"]
    assert (table.loc[solved, "status"] == "Solved").all()
    np.testing.assert_allclose(table.loc[["a", "b", "c", "d"], "distance2"],
                               6 * np.array([0.1, 0.2, 0.3, 0.4]) ** 2, rtol=1e-6)
    assert table.loc["flaky", "distance2"] == pytest.approx(6 * 0.25**2, rel=1e-6)
    assert table.loc["doomed", "status"] == "error"
    assert table.loc["doomed", "error"].startswith(
        "WorkerLost: the worker process solving this job died on each of 2 attempts (last "
        "exit code -9, killed by SIGKILL)")


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds workers in /proc")
def test_killing_a_worker_while_jobs_run_loses_no_job():
    jobs = [dataclasses.replace(_killer(f"slow{i}", marker=os.devnull), delay=1.5)
            for i in range(4)]  # os.devnull exists: they never kill themselves

    def kill_a_worker():
        time.sleep(0.8)  # both workers are inside their first job's delay
        children = []
        for task in Path(f"/proc/{os.getpid()}/task").iterdir():
            children += (task / "children").read_text().split()
        # this thread makes the pool spawn its workers, beside spawn's resource tracker
        workers = [pid for pid in children
                   if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()]
        os.kill(int(workers[0]), signal.SIGKILL)

    killer = threading.Thread(target=kill_a_worker)
    killer.start()
    table = solve_many(jobs, workers=2, progress=False)
    killer.join()
    assert (table["status"] == "Solved").all(), table
    np.testing.assert_allclose(table["distance2"], 6 * 0.25**2, rtol=1e-6)


#: a module whose import, in the process that runs the batch only, lasts until ``release``
#: exists: a thread importing it holds its import lock meanwhile
HELD_MODULE = """
import os, time
from pathlib import Path
if os.environ.get("HOLDER") == str(os.getpid()):
    here = Path(__file__).parent
    (here / "importing").touch()
    while not (here / "release").exists():
        time.sleep(0.01)
"""

#: a batch run while another thread holds an import lock that the job needs
BATCH_BESIDE_A_THREAD = """
import dataclasses, os, threading, time
from pathlib import Path
from wfr_cvx import problem_files
from wfr_cvx.batch import solve_many

class ImportsLate(problem_files.Problem):
    def solve(self, **options):
        import held  # a child forked while the other thread imports it waits for ever
        return super().solve(**options)

if __name__ == "__main__":
    here = Path(__file__).parent
    os.environ["HOLDER"] = str(os.getpid())
    threading.Thread(target=__import__, args=("held",), daemon=True).start()
    while not (here / "importing").exists():
        time.sleep(0.01)
    base = problem_files.from_dict(%r, name="x")
    job = ImportsLate(**{f.name: getattr(base, f.name)
                         for f in dataclasses.fields(problem_files.Problem)})
    print(solve_many([job], workers=1, progress=False)["status"].tolist())
    (here / "release").touch()
"""


def test_a_batch_beside_a_busy_thread_does_not_hang(tmp_path):
    """A worker forked while another thread held a lock (here an import's) waited on it for
    ever, and the batch with it; a process running threads spawns its workers."""
    (tmp_path / "held.py").write_text(HELD_MODULE)
    script = tmp_path / "batch_job.py"
    script.write_text(BATCH_BESIDE_A_THREAD % (SWITCH,))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    # a session of its own: a hung run's workers are killed with it
    run = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
    try:
        out, err = run.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(run.pid, signal.SIGKILL)
        run.communicate()
        pytest.fail("the batch hung: a worker forked beside a thread holding a lock")
    assert run.returncode == 0, err
    assert out.split() == ["['Solved']"], (out, err)


def test_each_job_is_held_to_its_threads(monkeypatch):
    from wfr_cvx import _threads

    seen = []

    class Recording(problems.Problem):
        def solve(self, **options):
            seen.append(_threads.thread_budget())
            return super().solve(**options)

    job = Recording(**{f.name: getattr(_switch("x"), f.name)
                       for f in dataclasses.fields(problems.Problem)})
    solve_many([job], executor=SerialExecutor(), progress=False)
    solve_many([job], executor=SerialExecutor(), threads_per_worker=2, progress=False)
    assert seen == [1, min(2, os.cpu_count() or 1)]
    assert _threads.thread_budget() == (os.cpu_count() or 1)  # restored after each job
    with pytest.raises(ValueError, match="`threads_per_worker` must be an integer >= 1"):
        solve_many([job], threads_per_worker=0)


# -- sweep -------------------------------------------------------------------------------
def test_sweep_of_a_geodesic_matches_the_closed_form():
    jobs = sweep(SWITCH, lam=[0.1, 0.25, 1.0])
    assert [job.name for job in jobs] == ["switch[lam=0.1]", "switch[lam=0.25]",
                                          "switch[lam=1]"]
    assert [job.lam for job in jobs] == [0.1, 0.25, 1.0]
    assert all(job.expected == () and job.kind == "geodesic" for job in jobs)
    table = _serial(jobs)
    np.testing.assert_allclose(table["distance2"], 6 * np.array([0.1, 0.25, 1.0]) ** 2,
                               rtol=1e-6)


def test_sweep_names_distinct_values_distinctly():
    """Before: values were named with ``:g``: 0.1 and 0.1000001 both "lam=0.1", and
    12345678 "lam=1.23457e+07"."""
    jobs = sweep(SWITCH, lam=[0.1, 0.1000001, 12345678, 1e-7, 2.0])
    assert [job.name for job in jobs] == [
        "switch[lam=0.1]", "switch[lam=0.1000001]", "switch[lam=12345678]",
        "switch[lam=1e-07]", "switch[lam=2]"]
    assert [float(job.name[len("switch[lam="):-1]) for job in jobs] == [job.lam for job in jobs]


def test_ensemble_problems_are_jobs_and_sweep(tmp_path):
    """An EnsembleProblem (as read from a kind = "ensemble" file, or made by sweep) is a
    job like any other; each row is the two-Dirac closed form at its lam."""
    path = ROOT / "problems" / "ensemble_dirac_pair.toml"
    base = problems.load(path)
    jobs = [base, *sweep(path, lam=[0.1, 0.4])]
    table = solve_many(jobs, executor=SerialExecutor(), progress=False)
    assert table["status"].tolist() == ["Solved"] * 3
    gap = np.sqrt(0.08475)  # |x - y|_G of the file's two books
    for lam, got in zip([0.2, 0.1, 0.4], table["distance2"], strict=True):
        assert got == pytest.approx(dirac_wfr2(1.0, 1.5, 0.0, gap, lam), rel=1e-6)
    assert table["name"].tolist()[1:] == [f"{base.name}[lam=0.1]", f"{base.name}[lam=0.4]"]


def test_sweep_of_a_rebalance_is_the_cartesian_product():
    base = problems.load(PROBLEMS / "markowitz_limit.toml")
    jobs = sweep(base, lam=[0.2, 0.4], tau=[1.0, 50.0, 1e3])
    assert [(job.lam, job.tau) for job in jobs] == [
        (0.2, 1.0), (0.2, 50.0), (0.2, 1000.0), (0.4, 1.0), (0.4, 50.0), (0.4, 1000.0)]
    assert jobs[1].name == "markowitz_limit[lam=0.2,tau=50]"
    assert [job.name for job in sweep(base, tau=2.5)] == ["markowitz_limit[tau=2.5]"]
    assert base.lam == 0.3 and base.expected  # the base problem is untouched


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"tau": [1.0]}, "`tau` only applies"),
        ({}, "give `lam`, `tau`"),
        ({"lam": []}, "`lam` must hold at least one value"),
        ({"lam": [0.1, -0.2]}, "`lam` values must be finite and > 0"),
        ({"lam": [float("nan")]}, "`lam` values must be finite"),
        ({"lam": ["0.1"]}, "`lam` must hold numbers"),
    ],
)
def test_sweep_rejects_bad_values(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        sweep(SWITCH, **kwargs)


def test_bad_arguments_raise_before_any_solve():
    with pytest.raises(TypeError, match=r"`jobs\[1\]` must be a problem file path"):
        solve_many([SWITCH, 3])
    with pytest.raises(ValueError, match="`workers`"):
        solve_many([SWITCH], executor=SerialExecutor(), workers=2)
    with pytest.raises(ValueError, match="`workers` must be an integer >= 1, got 0"):
        solve_many([SWITCH], workers=0)
    with pytest.raises(TypeError, match="`executor`"):
        solve_many([SWITCH], executor=object())
    with pytest.raises(TypeError, match="`problem`"):
        sweep(3, lam=[0.1])
    empty = solve_many([], progress=False)
    assert list(empty.columns) == list(COLUMNS) and empty.empty


# -- CLI ---------------------------------------------------------------------------------
def _run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "wfr_cvx", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_cli_batch_writes_the_table_and_reports_a_failure(tmp_path):
    folder = tmp_path / "more"
    folder.mkdir()
    text = (PROBLEMS / "dirac_transport.toml").read_text() + "\n[solver]\nmax_iter = 1\n"
    (folder / "stuck.toml").write_text(text)
    proc = _run("batch", PROBLEMS / "teleport.toml", PROBLEMS / "cvxpy_mass_growth.toml",
                folder, "--workers", "2", "--out", "results.csv", cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[0].split() == [
        "name", "status", "distance2", "transport_cost", "reaction_cost", "iterations",
        "time_s"]
    assert "2 of 3 problems solved" in proc.stdout and "2 local processes" in proc.stdout
    assert "FAIL stuck: SolverError" in proc.stderr and "Traceback" not in proc.stderr
    table = pd.read_csv(tmp_path / "results.csv", keep_default_na=False)
    assert list(table.columns) == [*COLUMNS, "file"]
    assert table["name"].tolist() == ["teleport", "cvxpy_mass_growth", "stuck"]
    assert table["file"].tolist() == [str(PROBLEMS / "teleport.toml"),
                                      str(PROBLEMS / "cvxpy_mass_growth.toml"),
                                      str(folder / "stuck.toml")]
    assert table["status"].tolist() == ["Solved", "Solved", "MaxIterations"]
    assert float(table.loc[0, "distance2"]) == pytest.approx(0.48, rel=1e-5)
    assert table.loc[0, "error"] == "" and "MaxIterations" in table.loc[2, "error"]


def test_cli_batch_reports_warned_solves_and_still_exits_0(tmp_path):
    """Before: a solve the first-order backend warned was inaccurate printed "Solved" with
    no word of it (regress says "Solved (inaccurate)"), and a UnitsWarning went to stderr
    from the worker without the problem's name."""
    (tmp_path / "drifts.toml").write_text(
        'backend = "dr"\nlam = 0.3\n[grid]\nn_weights = 8\nn_steps = 2\n'
        '[rho0]\nbumps = [{ center = 0.3, width = 0.1 }]\n'
        '[rho1]\nbumps = [{ center = 0.6, width = 0.1 }]\n')
    (tmp_path / "dollars.toml").write_text(
        'lam = 2000.0\n[grid]\nn_weights = 8\nn_steps = 2\n'
        '[rho0]\ndiracs = [{ weight = 0.5 }]\n[rho1]\ndiracs = [{ weight = 0.5, mass = 4.0 }]\n')
    proc = _run("batch", "drifts.toml", "dollars.toml", PROBLEMS / "teleport.toml",
                "--workers", "2", "--out", "results.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    shown = {line.split()[0]: line.split()[1:] for line in proc.stdout.splitlines()[1:4]}
    assert shown["drifts"][:2] == ["Solved", "(inaccurate)"]
    assert shown["dollars"][1] != "(inaccurate)" and shown["teleport"][1] == "0.48"
    assert "3 of 3 problems solved" in proc.stdout
    err = proc.stderr.splitlines()
    assert [line.split(":")[0] for line in err] == ["WARN drifts", "WARN dollars"], err
    assert err[0].startswith("WARN drifts: InaccurateSolutionWarning: backend='dr' on a 1-D")
    assert err[1].startswith("WARN dollars: UnitsWarning: `lam` = 2000 is 2e+03 times")
    table = pd.read_csv(tmp_path / "results.csv", keep_default_na=False)
    assert list(table.columns) == [*COLUMNS, "file"] and COLUMNS[-2:] == ("error", "warnings")
    assert table["status"].tolist() == ["Solved"] * 3  # the solver's own
    assert table["warnings"].tolist() == [err[0].split(": ", 1)[1], err[1].split(": ", 1)[1],
                                          ""]


def test_cli_batch_missing_file_is_one_line(tmp_path):
    proc = _run("batch", PROBLEMS / "teleport.toml", "absent.toml", cwd=tmp_path)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.startswith("wfr-cvx: error")]
    assert lines == ["wfr-cvx: error: absent.toml: no such problem file or directory"]
    assert "Traceback" not in proc.stderr and proc.stdout == ""


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--scheduler", "tcp://127.0.0.1:1"], "pip install 'wfr_cvx[dask]'"),
        (["--workers", "0"], "--workers must be >= 1, got 0"),
        (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "--workers sizes the local"),
    ],
)
def test_cli_batch_usage_errors_without_dask(extra, fragment, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # import fails: not installed
    assert cli.main(["batch", str(PROBLEMS / "teleport.toml"), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("wfr-cvx: error: ") and fragment in err[0]


def test_cli_batch_empty_directory(capsys, tmp_path):
    assert cli.main(["batch", str(tmp_path)]) == 2
    assert "no *.toml problem files" in capsys.readouterr().err


# -- acceptance 1: a Dask cluster gives the serial results (last: the pool tests above
#    fork this process, better before the cluster's threads exist) ---------------------
@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as local, \
            distributed.Client(local) as client:
        yield local, client


def test_local_cluster_matches_a_serial_run(cluster):
    _, client = cluster
    assert len(client.scheduler_info()["workers"]) == 2
    jobs = [*FILES, *sweep(SWITCH, lam=[0.1, 0.5, 2.0])]
    on_dask = solve_many(jobs, executor=client.get_executor(), progress=False)
    serial = _serial(jobs)
    assert list(on_dask.columns) == list(COLUMNS)
    assert len(on_dask) == len(jobs) == len(FILES) + 3
    assert on_dask["name"].tolist() == serial["name"].tolist()
    assert on_dask["name"].tolist()[:len(FILES)] == [f.stem for f in FILES]
    assert (on_dask["status"] == "Solved").all() and (on_dask["error"] == "").all()
    for column in ("distance2", "transport_cost", "reaction_cost"):
        np.testing.assert_allclose(on_dask[column], serial[column], rtol=1e-9, atol=1e-15)
    assert on_dask["iterations"].tolist() == serial["iterations"].tolist()
    assert on_dask["warnings"].tolist() == serial["warnings"].tolist()
    assert (on_dask["time"] > 0).all()
    # and the shipped figures themselves: every file still passes its own checks
    for problem, d2 in zip(map(problems.load, FILES), on_dask["distance2"][:len(FILES)],
                            strict=True):
        refs = [r for r in problem.expected if r.figure == "distance2"]
        assert all(r.passes(d2) for r in refs), problem.name


def test_a_dask_job_keeps_its_warnings(cluster):
    """Before: a warning raised on a Dask worker was lost to the worker's log."""
    _, client = cluster
    table = solve_many([{**DOLLARS, "name": "dollars"}, SWITCH],
                       executor=client.get_executor(), progress=False)
    assert table["status"].tolist() == ["Solved", "Solved"]
    assert table.loc[0, "warnings"].startswith("UnitsWarning: `lam` = 2000")
    assert table.loc[1, "warnings"] == ""


def test_a_dask_worker_lost_mid_job_is_rescheduled(cluster, tmp_path):
    """Dask reschedules the task of a dead worker on another one."""
    _, client = cluster
    jobs = [_switch("a", 0.1), _killer("flaky", marker=str(tmp_path / "once")),
            _switch("b", 0.2)]
    table = solve_many(jobs, executor=client.get_executor(), progress=False)
    assert (table["status"] == "Solved").all(), table
    np.testing.assert_allclose(table["distance2"], 6 * np.array([0.1, 0.25, 0.2]) ** 2,
                               rtol=1e-6)


def test_cli_batch_on_a_scheduler(cluster, tmp_path, capsys):
    local, _ = cluster
    out = tmp_path / "results.csv"
    argv = ["batch", str(PROBLEMS / "teleport.toml"), str(PROBLEMS / "regime_switch.toml"),
            "--scheduler", local.scheduler_address, "--out", str(out)]
    assert cli.main(argv) == 0
    stdout = capsys.readouterr().out
    assert "2 of 2 problems solved" in stdout and "Dask scheduler" in stdout
    table = pd.read_csv(out)
    assert table["distance2"].tolist() == pytest.approx([0.48, 0.375], rel=1e-5)


def test_an_invalid_named_job_is_reported_under_its_name():
    """Before: the row said "bad" but its error "<job0>: `lam`: ..."."""
    job = {**SWITCH, "name": "bad", "lam": -1.0}
    table = _serial([job])
    assert table.loc[0, "name"] == "bad"
    assert table.loc[0, "error"].startswith("ProblemFileError: <bad>: `lam`")


def test_any_exception_while_reading_a_job_is_its_own_row(monkeypatch, tmp_path):
    """Before: only a ValueError, TypeError or OSError from reading became a row; anything
    else (a SolverError of an ensemble's frontier QPs, an IndexError) ended the batch
    with no table."""
    from wfr_cvx.errors import SolverError

    bad = tmp_path / "bad.toml"
    bad.write_text((PROBLEMS / "regime_switch.toml").read_text())
    load = problems.load

    def reading(path):
        if Path(path).name == "bad.toml":
            raise SolverError("efficient_frontier point 1 was not solved",
                              status="solver_error", backend="cvxpy")
        return load(path)

    def dict_reading(data, *, name, base_dir=None):
        raise IndexError("index -1 is out of bounds for axis 0 with size 0")

    monkeypatch.setattr(problems, "load", reading)
    monkeypatch.setattr(problems, "from_dict", dict_reading)
    table = _serial([PROBLEMS / "regime_switch.toml", bad, {"name": "odd"}])
    assert table["name"].tolist() == ["regime_switch", "bad", "odd"]
    assert table["status"].tolist() == ["Solved", "error", "error"]
    assert table.loc[0, "distance2"] == pytest.approx(0.375, rel=1e-5)
    # each message names the job it belongs to
    assert table.loc[1, "error"].startswith(f"SolverError: {bad}: efficient_frontier point")
    assert table.loc[2, "error"] == ("IndexError: <odd>: index -1 is out of bounds for "
                                     "axis 0 with size 0")
    assert np.isnan(table.loc[1, "time"]) and pd.isna(table.loc[1, "iterations"])


def test_an_interrupt_while_reading_still_stops_the_batch(monkeypatch):
    def interrupted(data, *, name, base_dir=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(problems, "from_dict", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _serial([SWITCH])


def test_a_frontier_of_huge_returns_is_solved_in_a_batch(tmp_path):
    """Before: mu_scale = 1e150 raised SolverError out of solve_many (and 1e30 an
    InfeasibleError): the frontier QP's return row was left unscaled."""
    prices = str(ROOT / "data" / "ibm_wmt_sehi_monthly.csv")
    job = {"kind": "ensemble", "lam": 0.05, "assets": ["IBM", "WMT", "SEHI"],
           "e0": {"frontier": [{"prices": prices, "points": 3, "mu_scale": 1e150}]},
           "e1": {"atoms": [{"weights": [0.3, 0.3, 0.4]}]}}
    table = _serial([job, {**job, "e0": {"frontier": [{"prices": prices,
                                                       "points": 2**63}]}}, SWITCH])
    assert table["status"].tolist() == ["Solved", "invalid", "Solved"], table
    assert table.loc[1, "error"] == ("ProblemFileError: <job1>: `e0.frontier[0].points`: "
                                     "must be <= 100,000, got 9,223,372,036,854,775,808")


@pytest.mark.parametrize("single", [
    "problems/teleport.toml", PROBLEMS / "teleport.toml", SWITCH,
    problems.from_dict(SWITCH, name="one")], ids=["str", "path", "dict", "problem"])
def test_a_single_job_instead_of_a_list_is_refused(single):
    """Before: a path was solved letter by letter ('p', 'r', 'o', ...), a dict key by key,
    and a Problem raised "'Problem' object is not iterable"."""
    with pytest.raises(TypeError, match=r"`jobs` must be a list of jobs, got a single "
                                        r"\w+: pass a list, e\.g\. \[job\]"):
        solve_many(single, progress=False)
    with pytest.raises(TypeError, match="`jobs` must be a list of jobs .*got int"):
        solve_many(3, progress=False)
    # any other iterable of jobs is still one
    table = _serial(iter([SWITCH]))
    assert table["name"].tolist() == ["switch"]


def test_the_packages_own_progress_bar_does_not_make_the_pool_spawn():
    """Before: the batch's own tqdm bar started tqdm's monitor thread, so a plain script
    at a terminal spawned its workers (threads running): without a ``__main__`` guard
    every job came back "WorkerLost", and with one the call took 3x as long."""
    import multiprocessing

    pytest.importorskip("tqdm")
    from tqdm import tqdm

    from wfr_cvx._progress import progress_bar
    from wfr_cvx.batch import _spawn_hint, _start_context

    before = threading.active_count()
    bar = progress_bar(True, desc="batch", unit="job", total=2)
    bar.update()
    assert threading.active_count() == before  # no monitor thread of ours
    bar.close()
    _, running = _start_context()  # threads other tests left (a Dask cluster's)
    own = tqdm(total=2, disable=False, file=open(os.devnull, "w"))  # a caller's own bar
    try:
        context, threads = _start_context()
        assert threads == running  # tqdm's monitor thread is not counted
        if not running:
            assert context.get_start_method() == multiprocessing.get_start_method()
        stop = threading.Event()
        desk = threading.Thread(target=stop.wait, name="desk", daemon=True)
        desk.start()
        try:
            context, threads = _start_context()
        finally:
            stop.set()
            desk.join()
        if multiprocessing.get_start_method() == "fork":
            assert context.get_start_method() == "spawn" and "desk" in threads
            assert "__main__" in _spawn_hint(["desk"]) and "desk" in _spawn_hint(["desk"])
    finally:
        own.close()
    assert _spawn_hint([]) == ""
