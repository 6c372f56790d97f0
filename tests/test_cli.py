"""The ``wfr-cvx`` command: every subcommand end to end in a subprocess, errors in-process."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from wfr_cvx import cli

ROOT = Path(__file__).resolve().parent.parent
PROBLEMS = ROOT / "problems"
PRICES = ROOT / "data" / "ibm_wmt_sehi_monthly.csv"
PNG = b"\x89PNG\r\n\x1a\n"


def _run(*args, cwd):
    """``python -m wfr_cvx ARGS`` (the console script runs the same ``cli.main``)."""
    return subprocess.run([sys.executable, "-m", "wfr_cvx", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def _assert_clean_error(proc, status, *fragments):
    assert proc.returncode == status, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.startswith("wfr-cvx: error")]
    assert len(lines) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in lines[0]


# -- subprocess: one per subcommand, plus the acceptance cases --------------------------
def test_solve_writes_json_csv_and_plot(tmp_path):
    proc = _run("solve", PROBLEMS / "regime_switch.toml", "--json", "out.json", "--csv",
                "out.csv", "--plot", "out.png", "--verbose", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "distance2" in proc.stdout and "pass" in proc.stdout
    data = json.loads((tmp_path / "out.json").read_text())
    assert data["problem"]["name"] == "regime_switch"
    assert data["problem"]["constraints"] == []
    assert data["inputs"]["grid"] == {"n_weights": 32, "n_steps": 8, "dims": 1,
                                      "regimes": ["risk_on", "risk_off"]}
    assert data["figures"]["distance2"] == pytest.approx(0.375, rel=1e-5)
    assert all(check["passed"] for check in data["checks"])
    assert (tmp_path / "out.csv").read_text().startswith("time,regime,weight,mass")
    assert (tmp_path / "out.png").read_bytes().startswith(PNG)
    # --verbose: the solver's own iteration log (a switch alone is solved in closed form)
    proc = _run("solve", PROBLEMS / "dirac_transport.toml", "--verbose", cwd=tmp_path)
    assert proc.returncode == 0 and "Clarabel" in proc.stdout, proc.stderr


def test_solve_json_echoes_the_constraints(tmp_path):
    proc = _run("solve", PROBLEMS / "velocity_cap.toml", "--json", "out.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "out.json").read_text())
    assert data["problem"]["constraints"] == [{"kind": "max_velocity", "vmax": 0.2}]


def test_solve_json_reproduces_the_solve(tmp_path):
    """The JSON carries the grid, the allocations and the constraints: solving them again
    gives the same d^2; with --with-path it rebuilds the result itself."""
    from wfr_cvx import Geodesic, io

    proc = _run("solve", PROBLEMS / "velocity_cap.toml", "--json", "out.json", "--with-path",
                cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "out.json").read_text())
    assert len(data["inputs"]["rho0"]) == 1 and len(data["inputs"]["rho0"][0]) == 64
    again = io.solve_from_dict(data)
    assert again.distance2 == pytest.approx(data["figures"]["distance2"], rel=1e-9)
    rebuilt = Geodesic.from_dict(data)
    assert rebuilt.distance2 == data["figures"]["distance2"]
    assert rebuilt.grid == again.grid and rebuilt.backend == again.backend
    assert rebuilt.rho.shape == (17, 1, 64)


def test_solve_json_of_a_rebalance_file_takes_the_step_again(tmp_path):
    """The help promises inputs "enough to solve again": a rebalance file's JSON records
    the potential's values (it used to be refused as code the summary cannot carry)."""
    from wfr_cvx import io

    proc = _run("solve", PROBLEMS / "markowitz_limit.toml", "--json", "out.json",
                cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "out.json").read_text())
    again = io.solve_from_dict(data)
    assert again.objective == pytest.approx(data["figures"]["objective"], rel=1e-7)


def test_regress_passes_then_fails_on_a_wrong_expected_value(tmp_path):
    for name in ("regime_switch.toml", "cvxpy_mass_growth.toml", "teleport.toml"):
        shutil.copy(PROBLEMS / name, tmp_path / name)
    proc = _run("regress", tmp_path, "--progress", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    header = proc.stdout.splitlines()[0].split()
    assert header[:7] == ["problem", "figure", "source", "expected", "got", "error",
                          "tolerance"]
    assert "time_s" in header and "status" in header
    assert "3 of 3 problems pass" in proc.stdout
    assert "regress" in proc.stderr  # --progress: a bar on stderr, though not a terminal
    # each figure's tolerance beside its error, in the same terms
    rows = [line.split() for line in proc.stdout.splitlines()[1:] if "teleport" in line]
    assert [next(t for t in row if t.startswith(("rtol=", "atol="))) for row in rows] == [
        "rtol=1e-05", "atol=1e-05", "rtol=1e-05"]

    teleport = tmp_path / "teleport.toml"
    text = teleport.read_text()
    assert "distance2 = 0.48\n" in text
    teleport.write_text(text.replace("distance2 = 0.48\n", "distance2 = 0.50\n"))
    proc = _run("regress", tmp_path, cwd=tmp_path)
    assert proc.returncode == 1
    assert "FAIL" in proc.stdout and "2 of 3 problems pass" in proc.stdout
    assert "FAIL teleport: distance2" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "regress:" not in proc.stderr  # no bar off a terminal without --progress


def test_a_checks_error_is_in_the_terms_of_its_tolerance():
    """Before: `error 1.23e-02, tolerance atol=0.016` for markowitz_limit.toml, whose
    absolute error is 0.0050: the error was relative whatever the tolerance."""
    checks = pd.DataFrame({
        "figure": ["mean_weight", "target_mass", "distance2", "transport_cost"],
        "source": ["markowitz qp", "closed form", "earlier run", "closed form"],
        "expected": [0.409018, 1.0, 0.5, 0.0], "got": [0.414062, 1.0 + 5.82e-12, 0.51, 1e-9],
        "rtol": [0.0, 1e-7, 1e-4, 0.0], "atol": [0.015625, 0.0, 0.02, 1e-6],
        "passed": [True, True, True, True]})
    checks["abs_error"] = (checks["got"] - checks["expected"]).abs()
    checks["rel_error"] = checks["abs_error"] / checks["expected"].abs().where(
        checks["expected"] != 0)
    rows = [line.split() for line in cli._checks_table(checks).splitlines()]
    assert rows[0][4:] == ["error", "tolerance", "check"]
    # atol decides: absolute; rtol decides: relative; both given, atol the larger term
    assert rows[1][-4:] == ["abs", "5.04e-03", "atol=0.016", "pass"]
    assert rows[2][-3:] == ["5.82e-12", "rtol=1e-07", "pass"]
    assert rows[3][-4:] == ["abs", "1.00e-02", "rtol=0.0001,atol=0.02", "pass"]
    assert rows[4][-4:] == ["abs", "1.00e-09", "atol=1e-06", "pass"]
    both = checks.assign(atol=[0.0, 0.0, 1e-6, 1e-6])  # rtol |expected| the larger: relative
    assert cli._checks_table(both).splitlines()[3].split()[-3:] == [
        "2.00e-02", "rtol=0.0001,atol=1e-06", "pass"]


def test_frontier(tmp_path):
    proc = _run("frontier", PRICES, "--points", "5", "--plot", "frontier.png",
                "--csv", "frontier.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "volatility" in proc.stdout and "SEHI" in proc.stdout
    assert len((tmp_path / "frontier.csv").read_text().splitlines()) == 6
    assert (tmp_path / "frontier.png").read_bytes().startswith(PNG)


def test_frontier_warns_beyond_a_sane_number_of_points(capsys, monkeypatch):
    monkeypatch.setattr(cli, "_MAX_FRONTIER_POINTS", 3)
    assert cli.main(["frontier", str(PRICES), "--points", "4"]) == 0
    out, err = capsys.readouterr()
    assert err.startswith("wfr-cvx: warning: RuntimeWarning: --points 4 is more than 3")
    assert "4 points from the minimum-variance portfolio" in out


def test_frontier_prints_small_figures_in_significant_digits(tmp_path, capsys):
    """Before: 4 decimals -- the variances of daily prices (4e-5) printed as 0.0000, and a
    dominant asset (the best return, the least variance) printed 4 identical rows."""
    path = tmp_path / "dom.csv"
    path.write_text("date,A,B\n2001-01-01,1,2\n2001-02-01,1.1,2.1\n2001-03-01,1.2,2\n")
    csv = tmp_path / "out.csv"
    assert cli.main(["frontier", str(path), "--points", "4", "--csv", str(csv)]) == 0
    out = capsys.readouterr().out
    assert "(3 prices, 1 point from the minimum-variance portfolio" in out
    table = out.splitlines()[1:3]
    assert table[0].split() == ["target_return", "return", "variance", "volatility", "A", "B"]
    assert table[1].split() == ["0.09545", "0.09545", "4.132e-05", "0.006428", "1.0000",
                                "0.0000"]
    # the CSV keeps full precision: the variance of the returns 0.1 and 1/11 is 1/24200
    assert pd.read_csv(csv)["variance"].iloc[0] == pytest.approx(1 / 24200, rel=1e-12)


def test_frontier_names_a_price_file_of_too_few_rows(tmp_path, capsys):
    """Before: "`prices` must have at least 3 rows (dates), got 2", naming no file."""
    path = tmp_path / "two.csv"
    path.write_text("date,A,B\n2001-01-01,1,2\n2001-02-01,1.1,2.1\n")
    assert cli.main(["frontier", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"wfr-cvx: error: {path}: a frontier needs at least 3 rows of prices (dates), whose "
        f"2 or more returns give a covariance; got 2: add rows\n")


def test_compare(tmp_path):
    proc = _run("compare", PROBLEMS / "regime_switch.toml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for path in ("wfr_geodesic", "rebalance_then_switch", "switch_then_rebalance"):
        assert path in proc.stdout


@pytest.mark.parametrize("name", ["market_closed", "velocity_cap", "ensemble_total_mass"])
def test_compare_refuses_a_file_with_constraints(tmp_path, name):
    """Before: the constraints were dropped -- market_closed.toml's geodesic was reported
    as 0.1598 where `solve` gives 2.4976 (the window is closed at every step)."""
    _assert_clean_error(_run("compare", PROBLEMS / f"{name}.toml", cwd=tmp_path), 2,
                        f"{name}.toml", "two-phase paths, which are unconstrained",
                        "wfr-cvx solve")


def test_with_path_on_an_ensemble_file_is_refused(tmp_path):
    """Before: accepted and ignored (the JSON of an ensemble solve is a summary)."""
    _assert_clean_error(_run("solve", PROBLEMS / "ensemble_dirac_pair.toml", "--json",
                             "out.json", "--with-path", cwd=tmp_path), 2,
                        "ensemble_dirac_pair.toml", "--with-path writes a grid path")


def test_missing_file_is_one_line_without_traceback(tmp_path):
    _assert_clean_error(_run("solve", "absent.toml", cwd=tmp_path), 2, "absent.toml")


def test_malformed_toml_is_one_line_without_traceback(tmp_path):
    (tmp_path / "broken.toml").write_text("lam = 0.2\n[grid\nn_weights = 8\n")
    _assert_clean_error(_run("compare", "broken.toml", cwd=tmp_path), 2, "broken.toml",
                        "malformed TOML", "line 2")


def test_an_invalid_file_in_a_regress_directory_is_a_failed_row(tmp_path):
    """Before: regress stopped at the first invalid file (exit 2) and ran none after it."""
    text = (PROBLEMS / "teleport.toml").read_text().replace("lam = 0.2", "lam = -0.2")
    (tmp_path / "a_bad.toml").write_text(text)
    shutil.copy(PROBLEMS / "regime_switch.toml", tmp_path / "b_ok.toml")
    proc = _run("regress", tmp_path, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    rows = {line.split()[0]: line for line in proc.stdout.splitlines()[1:] if line.strip()}
    assert "invalid file" in rows["a_bad"] and "ERROR" in rows["a_bad"]
    assert "pass" in rows["b_ok"]  # the file after the invalid one still ran
    assert "1 of 2 problems pass" in proc.stdout
    assert "FAIL a_bad: " in proc.stderr and "`lam`: must be > 0" in proc.stderr


def test_any_exception_of_one_regress_problem_is_its_failed_row(tmp_path, capsys,
                                                                 monkeypatch):
    """Before: regress caught only ValueError, TypeError and OSError while reading and
    SolverError, ValueError and TypeError while solving; any other exception (an
    ensemble's frontier QPs raising InfeasibleError, a RuntimeError) ended it with exit
    status 2 and no table."""
    from wfr_cvx import problem_files as problems

    for name in ("a_unreadable", "b_ok", "c_crashing"):
        shutil.copy(PROBLEMS / "regime_switch.toml", tmp_path / f"{name}.toml")
    load, run = problems.load, problems.Problem.run

    def reading(path):
        if path.stem == "a_unreadable":
            raise IndexError("index -1 is out of bounds")
        return load(path)

    def solving(self, **options):
        if self.name == "c_crashing":
            raise RuntimeError("something inside broke")
        return run(self, **options)

    monkeypatch.setattr(problems, "load", reading)
    monkeypatch.setattr(problems.Problem, "run", solving)
    assert cli.main(["regress", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    rows = {line.split()[0]: line for line in out.splitlines()[1:] if line.strip()}
    assert "invalid file" in rows["a_unreadable"] and "ERROR" in rows["a_unreadable"]
    assert "pass" in rows["b_ok"]
    assert "RuntimeError" in rows["c_crashing"] and "ERROR" in rows["c_crashing"]
    assert "1 of 3 problems pass" in out
    assert "FAIL a_unreadable: IndexError: index -1 is out of bounds" in err
    assert "FAIL c_crashing: RuntimeError: something inside broke" in err


def test_regress_counts_problems_by_file(tmp_path, capsys):
    """Before: failures were counted by problem name, so three copies of one file (one
    name) with two wrong expected values printed "2 of 3 problems pass"."""
    text = (PROBLEMS / "regime_switch.toml").read_text()
    assert "distance2 = 0.375\n" in text
    (tmp_path / "a.toml").write_text('name = "same"\n' + text)
    for stem, value in (("b", "0.5"), ("c", "0.6")):
        (tmp_path / f"{stem}.toml").write_text(
            'name = "same"\n' + text.replace("distance2 = 0.375\n", f"distance2 = {value}\n"))
    assert cli.main(["regress", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert "1 of 3 problems pass" in out
    assert "FAIL same (b.toml): distance2" in err and "FAIL same (c.toml)" in err


def test_console_script_is_installed():
    script = Path(sys.executable).with_name("wfr-cvx")
    if not script.exists():
        pytest.skip("wfr-cvx console script not installed in this environment")
    proc = subprocess.run([str(script), "--version"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("wfr_cvx ")


# -- in-process: the remaining error paths -----------------------------------------------
@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["frontier", "absent.csv"], ["absent.csv", "no such price file"]),
        (["frontier", str(PRICES), "--assets", "IBM,AAPL"], ["AAPL", "not in"]),
        # before: "`n_points` must be >= 2", the function's argument, not the flag
        (["frontier", str(PRICES), "--points", "1"], ["--points must be >= 2", "got 1"]),
        (["frontier", str(PRICES), "--points", str(2**63)],
         ["--points must be <= 100,000", "got 9,223,372,036,854,775,808"]),
        # before: "`backend` must be one of [...]" without the file, though --help lists dr
        (["solve", str(PROBLEMS / "ensemble_dirac_pair.toml"), "--backend", "dr"],
         ["ensemble_dirac_pair.toml", "--backend dr solves grid files only",
          "ensembles take auto, clarabel, cvxpy"]),
        (["compare", str(PROBLEMS / "ensemble_dirac_pair.toml"), "--backend", "scs"],
         ["ensemble_dirac_pair.toml", "--backend scs solves grid files only"]),
        # before: ProblemTooLargeError without the file or the key
        (["solve", "huge.toml"], ["huge.toml: `grid`: Grid of 1 regime(s)", "too large"]),
        # before: a one-asset "frontier" of 50 copies of that asset
        (["frontier", str(PRICES), "--assets", "IBM"], ["at least two assets", "['IBM']",
                                                         "--assets"]),
        (["frontier", str(PRICES), "--assets", "IBM,WMT,IBM"], ["['IBM']", "more than once"]),
        (["regress", "nowhere"], ["nowhere", "no such directory"]),
        (["compare", str(PROBLEMS / "markowitz_limit.toml")], ["geodesic"]),
        # before: "Error tokenizing data" without the file's name
        (["frontier", str(PROBLEMS / "teleport.toml")], ["teleport.toml", "not a CSV price"]),
        (["frontier", str(PROBLEMS)], ["problems", "is a directory"]),
        # before: "no such problem file" for a directory
        (["solve", str(PROBLEMS)], ["problems", "is a directory", "wfr-cvx regress DIR"]),
        (["regress", str(PROBLEMS / "teleport.toml")], ["is a file", "wfr-cvx solve FILE"]),
        # before: accepted and ignored
        (["solve", str(PROBLEMS / "teleport.toml"), "--with-path"], ["--with-path",
                                                                      "--json OUT"]),
        (["solve", str(PROBLEMS / "teleport.toml"), "--plot", "no/such/dir/out.png"],
         ["out.png"]),
    ],
)
def test_errors_exit_2_with_one_line(argv, fragments, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "huge.toml").write_text(
        (PROBLEMS / "teleport.toml").read_text().replace(
            "n_weights = 64\nn_steps = 16", "n_weights = 10000000\nn_steps = 10000"))
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("wfr-cvx: error: ")
    for fragment in fragments:
        assert fragment in err[0]


def test_empty_regress_directory(capsys, tmp_path):
    assert cli.main(["regress", str(tmp_path)]) == 2
    assert "no *.toml problem files" in capsys.readouterr().err


def test_solver_failure_in_solve_and_regress(capsys, tmp_path):
    text = (PROBLEMS / "dirac_transport.toml").read_text() + "\n[solver]\nmax_iter = 1\n"
    (tmp_path / "stuck.toml").write_text(text)
    assert cli.main(["solve", str(tmp_path / "stuck.toml")]) == 2
    assert "MaxIterations" in capsys.readouterr().err
    assert cli.main(["regress", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert "ERROR" in out and "FAIL stuck" in err


def test_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["solve"])
    assert info.value.code == 2
    assert "usage: wfr-cvx" in capsys.readouterr().err


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(capsys, monkeypatch,
                                                                       tmp_path):
    """Every subcommand: any exception becomes one line and exit status 2."""
    from wfr_cvx import problem_files as problems

    def broken(path):
        raise RuntimeError("something inside broke")

    monkeypatch.setattr(problems, "load", broken)
    for argv in (["solve", "x.toml"], ["compare", "x.toml"]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == ["wfr-cvx: error: unexpected RuntimeError: something inside broke (run "
                       "`wfr-cvx --debug ...` for the traceback)"]
    # before: --debug re-raised, and the exit status was Python's 1, not the documented 2
    assert cli.main(["--debug", "solve", "x.toml"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert err.rstrip().endswith("RuntimeError: something inside broke")
    monkeypatch.undo()
    (tmp_path / "bad.toml").write_text("lam = -1.0\n")
    assert cli.main(["--debug", "solve", str(tmp_path / "bad.toml")]) == 2
    assert "ProblemFileError" in capsys.readouterr().err


def test_progress_flag_shows_the_first_order_bar(capsys, tmp_path):
    text = (PROBLEMS / "dirac_transport.toml").read_text().replace(
        "lam = ", 'backend = "dr"\nscheme = "power"\nlam = ', 1).split("[[expected")[0]
    (tmp_path / "dr.toml").write_text(text)
    assert cli.main(["solve", str(tmp_path / "dr.toml")]) == 0
    assert capsys.readouterr().err == ""  # pytest's capture is no terminal
    assert cli.main(["solve", str(tmp_path / "dr.toml"), "--progress"]) == 0
    assert "dr (" in capsys.readouterr().err


def test_backend_flag_takes_auto_and_the_output_names_the_choice(capsys):
    problem = str(PROBLEMS / "teleport.toml")
    assert cli.main(["solve", problem, "--backend", "auto"]) == 0
    assert "backend clarabel (auto)" in capsys.readouterr().out
    assert cli.main(["solve", problem, "--backend", "cvxpy"]) == 0
    assert "backend cvxpy, " in capsys.readouterr().out


def test_frontier_reads_day_first_dates_when_told(tmp_path, capsys):
    """Dates that read both day first and month first are refused, and the command takes
    --dayfirst / --monthfirst (before, the CLI had no way to say which)."""
    prices = pd.read_csv(PRICES)
    prices["date"] = pd.to_datetime(prices["date"]).dt.strftime("%d/%m/%Y")
    path = tmp_path / "uk.csv"
    prices.to_csv(path, index=False)
    assert cli.main(["frontier", str(path), "--points", "3"]) == 2
    # the advice in the command's terms (before: "pass dayfirst=True ... dayfirst=False")
    err = capsys.readouterr().err
    assert "pass --dayfirst (DD/MM/YYYY) or --monthfirst (MM/DD/YYYY)" in err
    assert "=True" not in err and "=False" not in err
    assert cli.main(["frontier", str(path), "--points", "3", "--dayfirst"]) == 0
    capsys.readouterr()
    prices["date"] = prices["date"].str[:6] + prices["date"].str[8:]  # two-digit years
    prices.to_csv(path, index=False)
    assert cli.main(["frontier", str(path), "--points", "3"]) == 2
    err = capsys.readouterr().err
    assert "or pass --dayfirst or --monthfirst if the year is last" in err, err
    prices["date"] = pd.to_datetime(pd.read_csv(PRICES)["date"]).dt.strftime("%d/%m/%Y")
    prices.loc[0, "date"] = "13/01/2001"
    prices.to_csv(path, index=False)
    assert cli.main(["frontier", str(path), "--points", "3", "--monthfirst"]) == 2
    assert "as --monthfirst says" in capsys.readouterr().err


def test_frontier_names_the_rows_of_dates_in_several_forms(tmp_path, capsys):
    """Before: ISO dates beside 01/02/2001 advised --dayfirst, which then failed too with
    pandas' advice (format='mixed') that the command cannot take."""
    path = tmp_path / "mixed.csv"
    path.write_text("date,A,B\n01/02/2001,1,2\n2001-03-01,1.1,2.1\n2001-04-01,1.2,2\n")
    for flags in ([], ["--dayfirst"]):
        assert cli.main(["frontier", str(path), *flags]) == 2
        err = capsys.readouterr().err
        assert "mixes forms of date: row 1 like '01/02/2001' and rows 2, 3 like " in err
        assert "--dayfirst" not in err and "format=" not in err


def test_backend_help_says_which_backends_ensembles_take(capsys):
    with pytest.raises(SystemExit):
        cli.main(["solve", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "dr and scs solve grid files only: ensemble files take auto, clarabel, cvxpy" in (
        help_text)
