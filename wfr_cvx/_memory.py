"""How much memory this process may still use: the smallest of the machine's available
RAM, the process's address-space and data limits (``ulimit -v`` / ``-d``) and its control
group's memory limit.

A solve that needs more than the machine's free RAM fails slowly (swap) or with a
``MemoryError``; one that needs more than ``RLIMIT_AS`` or the cgroup's ``memory.max`` is
killed or aborts inside a solver's native code (Clarabel's allocator aborts the
interpreter: SIGABRT, no Python exception).  The size guards of :class:`~wfr_cvx.Grid`
and :func:`wfr_cvx.geodesic` compare their estimates with :func:`available_memory`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MemoryBudget", "available_memory", "memory_budget"]

_UNKNOWN = 2**63 - 1


@dataclass(frozen=True)
class MemoryBudget:
    """The bytes this process may still allocate and the limit that sets it.

    ``limit`` is one of ``"available RAM"``, ``"RLIMIT_AS (ulimit -v)"``, ``"RLIMIT_DATA
    (ulimit -d)"``, ``"cgroup memory limit"`` or ``"unknown"``.
    """

    bytes: int
    limit: str

    def describe(self) -> str:
        if self.bytes >= _UNKNOWN:
            return "the memory available is unknown"
        if self.bytes >= 2**30:
            return f"{self.bytes / 2**30:.1f} GiB are available ({self.limit})"
        return f"{self.bytes / 2**20:.1f} MiB are available ({self.limit})"


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _status_bytes(field: str) -> int | None:
    """A ``kB`` field of ``/proc/self/status`` (``VmSize``, ``VmData``) in bytes."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _rlimit_headroom(name: str, used_field: str) -> int | None:
    """The soft resource limit ``name`` less what the process already uses of it."""
    try:
        import resource
    except ImportError:  # not on this platform
        return None
    try:
        soft, _ = resource.getrlimit(getattr(resource, name))
    except (AttributeError, OSError, ValueError):
        return None
    if soft == resource.RLIM_INFINITY or soft < 0:
        return None
    used = _status_bytes(used_field) or 0
    return max(int(soft) - used, 0)


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _cgroup_headroom(proc_cgroup: Path = Path("/proc/self/cgroup"),
                     root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """The tightest memory limit of this process's control group (v2, or v1) less its
    current usage, over the group and its ancestors (None when there is no limit)."""
    try:
        lines = Path(proc_cgroup).read_text().splitlines()
    except OSError:
        return None
    root = Path(root)
    best = None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, group = parts
        if controllers == "":  # v2 unified hierarchy
            base, limit_name, usage_name = root, "memory.max", "memory.current"
        elif "memory" in controllers.split(","):  # v1
            base, limit_name, usage_name = (root / "memory", "memory.limit_in_bytes",
                                            "memory.usage_in_bytes")
        else:
            continue
        here = base / group.lstrip("/")
        while True:
            limit = _read_int(here / limit_name)
            # v1 reports "no limit" as a huge number (PAGE_COUNTER_MAX pages)
            if limit is not None and limit < 2**60:
                usage = _read_int(here / usage_name) or 0
                headroom = max(limit - usage, 0)
                best = headroom if best is None else min(best, headroom)
            if here == base or here.parent == here:
                break
            here = here.parent
    return best


def memory_budget() -> MemoryBudget:
    """The memory this process may still use and the limit that sets it."""
    candidates = [
        (_meminfo_available(), "available RAM"),
        (_rlimit_headroom("RLIMIT_AS", "VmSize"), "RLIMIT_AS (ulimit -v)"),
        (_rlimit_headroom("RLIMIT_DATA", "VmData"), "RLIMIT_DATA (ulimit -d)"),
        (_cgroup_headroom(), "cgroup memory limit"),
    ]
    known = [(value, name) for value, name in candidates if value is not None]
    if not known:
        return MemoryBudget(_UNKNOWN, "unknown")
    value, name = min(known, key=lambda item: item[0])
    return MemoryBudget(int(value), name)


def available_memory() -> int:
    """Bytes this process may still allocate (:func:`memory_budget`)."""
    return memory_budget().bytes
