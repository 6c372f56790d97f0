"""The package as a user installs it: a wheel, in a fresh virtual environment, run from
outside the checkout (package data, lazy imports, the console script)."""

import os
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _site_packages(python: Path) -> str:
    return subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh environment holding the wheel; the dependencies are this environment's
    (its site-packages as a plain path: none of its .pth files, so not the editable
    install of the checkout)."""
    pytest.importorskip("build")
    work = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
                    str(work), str(ROOT)], check=True, capture_output=True, timeout=300)
    wheel = next(work.glob("wfr_cvx-*.whl"))
    env_dir = work / "env"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    Path(_site_packages(python), "deps.pth").write_text(
        _site_packages(Path(sys.executable)) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                    "--no-deps", "--quiet", str(wheel)], check=True, capture_output=True,
                   timeout=300)
    return env_dir, work


def _run(python: Path, code: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([str(python), "-c", textwrap.dedent(code)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_the_wheel_ships_the_prices_and_solves_outside_the_checkout(installed):
    env_dir, work = installed
    out = _run(env_dir / "bin" / "python", """
        import wfr_cvx
        from wfr_cvx.finance import load_prices
        print(wfr_cvx.__file__)
        prices = load_prices()
        print(prices.shape, list(prices.columns))
        g = wfr_cvx.Grid(16, 4, regimes=2)
        geo = wfr_cvx.geodesic(g.dirac(0.5, 0), g.dirac(0.5, 1, mass=0.5), g, lam=0.25)
        print(geo.status, round(geo.distance2, 6))
    """, work)
    lines = out.splitlines()
    assert str(env_dir) in lines[0] and str(ROOT) not in lines[0]
    assert lines[1] == "(13, 3) ['IBM', 'WMT', 'SEHI']"
    assert lines[2] == "Solved 0.375"  # 4 lam^2 (m0 + m1), the regime switch's closed form


def test_the_console_script_and_import_are_light(installed):
    env_dir, work = installed
    proc = subprocess.run([str(env_dir / "bin" / "wfr-cvx"), "--version"], cwd=work,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("wfr_cvx "), proc.stderr
    loaded = _run(env_dir / "bin" / "python", """
        import sys
        import wfr_cvx
        heavy = ["cvxpy", "numba", "pandas", "scipy", "clarabel", "scs", "dask"]
        print([name for name in heavy if name in sys.modules])
        wfr_cvx.Grid
        print([name for name in heavy if name in sys.modules])
    """, work).splitlines()
    assert loaded[0] == "[]"  # import wfr_cvx loads none of them
    assert "cvxpy" not in loaded[1] and "numba" not in loaded[1]
