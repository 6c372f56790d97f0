"""The memory budget: free RAM, ulimit -v / -d and the cgroup limit, whichever is smallest."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from wfr_cvx import _memory

LINUX = Path("/proc/self/status").exists()


def test_the_budget_is_the_smallest_known_limit(monkeypatch):
    monkeypatch.setattr(_memory, "_meminfo_available", lambda: 8 * 2**30)
    monkeypatch.setattr(_memory, "_cgroup_headroom", lambda: 3 * 2**30)
    monkeypatch.setattr(_memory, "_rlimit_headroom",
                        lambda name, used: 2 * 2**30 if name == "RLIMIT_AS" else None)
    budget = _memory.memory_budget()
    assert budget.bytes == 2 * 2**30 and budget.limit == "RLIMIT_AS (ulimit -v)"
    monkeypatch.setattr(_memory, "_rlimit_headroom", lambda name, used: None)
    assert _memory.memory_budget().limit == "cgroup memory limit"
    assert "3.0 GiB are available (cgroup memory limit)" in _memory.memory_budget().describe()


def test_a_small_or_unknown_budget_is_described_in_words_that_fit():
    """Before: 40 MB left read "0.0 GiB are available"; an unknown budget 8589934592 GiB."""
    small = _memory.MemoryBudget(40 * 2**20, "RLIMIT_AS (ulimit -v)")
    assert small.describe() == "40.0 MiB are available (RLIMIT_AS (ulimit -v))"
    assert _memory.MemoryBudget(2**63 - 1, "unknown").describe() == \
        "the memory available is unknown"


def test_cgroup_limits_v1_and_v2_are_read_with_their_ancestors(tmp_path):
    v2 = tmp_path / "v2"
    (v2 / "jobs" / "mine").mkdir(parents=True)
    (v2 / "jobs" / "memory.max").write_text("1000000000\n")
    (v2 / "jobs" / "memory.current").write_text("400000000\n")
    (v2 / "jobs" / "mine" / "memory.max").write_text("max\n")
    (v2 / "jobs" / "mine" / "memory.current").write_text("100000000\n")
    proc = tmp_path / "cgroup_v2"
    proc.write_text("0::/jobs/mine\n")
    assert _memory._cgroup_headroom(proc, v2) == 600_000_000  # the parent's limit binds

    v1 = tmp_path / "v1"
    group = v1 / "memory" / "box"
    group.mkdir(parents=True)
    (group / "memory.limit_in_bytes").write_text("500000000\n")
    (group / "memory.usage_in_bytes").write_text("200000000\n")
    (v1 / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")  # none
    proc = tmp_path / "cgroup_v1"
    proc.write_text("5:cpu:/\n4:memory:/box\n")
    assert _memory._cgroup_headroom(proc, v1) == 300_000_000
    proc.write_text("4:memory:/\n")
    assert _memory._cgroup_headroom(proc, v1) is None  # no limit anywhere


@pytest.mark.skipif(not LINUX, reason="RLIMIT_AS and /proc are Linux's")
def test_a_solve_above_ulimit_v_is_refused_not_aborted():
    """Before: a grid estimated below the free RAM but above ``ulimit -v`` made Clarabel
    abort the interpreter (SIGABRT, exit status 134, no Python exception)."""
    script = textwrap.dedent("""
        import resource
        import wfr_cvx
        from wfr_cvx._memory import _status_bytes
        size = _status_bytes("VmSize")
        resource.setrlimit(resource.RLIMIT_AS, (size + 600 * 2**20, resource.RLIM_INFINITY))
        g = wfr_cvx.Grid(4096, 16)   # about 0.9 GiB with the interior point
        try:
            wfr_cvx.geodesic(g.bump(0.3, 0.05), g.bump(0.6, 0.05), g, lam=0.5)
            print("solved")
        except wfr_cvx.ProblemTooLargeError as exc:
            print("refused:", exc)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("refused:") and "RLIMIT_AS (ulimit -v)" in proc.stdout
