"""The warnings wfr_cvx raises, their collection by the calling thread, and other
packages' warnings silenced in the calling thread.

:func:`warn` raises a warning as :func:`warnings.warn` does, unless the calling thread is
collecting them (:func:`collected`: a batch job, :mod:`wfr_cvx.batch`); the warning is then
appended to that thread's collection, and no warnings filter or handler sees it.
:func:`suppressed` drops the calling thread's warnings of a category inside a block.
:func:`silenced` ignores a category of warnings, other packages' too (cvxpy's "solution may
be inaccurate", which wfr_cvx's status policy reports in its own words), in the calling
thread only.

Why not :class:`warnings.catch_warnings`: the warnings filters and handler are one state
shared by every thread of the process (before Python 3.14).  Jobs solved side by side in
threads that swap them put them back in the wrong order, lose each other's warnings, and
can leave a filter behind for the rest of the session.  Collection and suppression here are
per thread and touch no process-wide state.  Warnings raised by other packages (numpy,
cvxpy, pandas) are not collected: they go through the filters as usual.  :func:`silenced`
needs a filter, but one that stays: its entry, put first in the filters when a block
starts, ignores the category only in threads inside such a block (its message pattern is
an object whose ``match`` asks the thread), and is inert elsewhere.  Another thread that
replaces the filters while a block runs (leaving a ``catch_warnings``, ``resetwarnings``)
can drop the entry until the next block starts: the block's warnings are then shown, as
they were with ``catch_warnings``; nothing is hidden.
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from contextlib import contextmanager

__all__ = ["warn", "collected", "suppressed", "silenced"]

_thread = threading.local()
_filters_lock = threading.Lock()
# a process forked while another thread held the lock would wait for it forever
os.register_at_fork(before=_filters_lock.acquire, after_in_parent=_filters_lock.release,
                    after_in_child=_filters_lock.release)


def warn(message, category: type[Warning] = UserWarning, stacklevel: int | None = 1
         ) -> None:
    """:func:`warnings.warn` (``stacklevel`` as there, counted from the caller; None: the
    first frame outside wfr_cvx, the user's call, however deep the library's calls), or,
    in a thread collecting its warnings, append ``(category, message)`` to its collection;
    nothing in a block that suppresses ``category``.  A Warning instance as ``message`` is
    of its own class, as in :func:`warnings.warn`."""
    if isinstance(message, Warning):
        category = type(message)
    if any(issubclass(category, quiet) for quiet in getattr(_thread, "suppressed", ())):
        return
    caught = getattr(_thread, "caught", None)
    if caught is not None:
        caught.append((category, str(message)))
        return
    if stacklevel is None:
        stacklevel = _outside_level()
    warnings.warn(message, category, stacklevel=stacklevel + 1)


_PACKAGE = os.path.dirname(os.path.abspath(__file__))


def _outside_level() -> int:
    """The ``stacklevel`` (counted from :func:`warn`'s caller) of the first frame whose
    code lies outside the wfr_cvx package."""
    frame, level = sys._getframe(2), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(
            _PACKAGE + os.sep):
        frame, level = frame.f_back, level + 1
    return level


@contextmanager
def collected():
    """Collect the warnings the calling thread raises through :func:`warn` inside the block
    into the list yielded, as ``(category, message)`` pairs, instead of raising them."""
    outer = getattr(_thread, "caught", None)
    _thread.caught = caught = []
    try:
        yield caught
    finally:
        _thread.caught = outer


@contextmanager
def suppressed(category: type[Warning]):
    """Drop the calling thread's warnings of ``category`` (subclasses included) raised
    through :func:`warn` inside the block."""
    outer = getattr(_thread, "suppressed", ())
    _thread.suppressed = (*outer, category)
    try:
        yield
    finally:
        _thread.suppressed = outer


class _InSilencedThread:
    """The message pattern of a :func:`silenced` filter: matches in a thread inside a
    block that silences its category."""

    def __init__(self, category: type[Warning]):
        self.category = category

    def match(self, text) -> bool:
        return getattr(_thread, "silenced", {}).get(self.category, 0) > 0

    def __eq__(self, other) -> bool:  # a copy of the filters equals them
        return isinstance(other, _InSilencedThread) and other.category is self.category

    def __hash__(self) -> int:
        return hash((_InSilencedThread, self.category))

    def __repr__(self) -> str:
        return f"<{self.category.__name__} silenced in wfr_cvx threads>"


class _Swapped(Warning):
    """Never raised: the category of the entry that :func:`_first_filter` replaces."""


_ENTRIES: dict[type, tuple] = {}


def _first_filter(category: type[Warning]) -> None:
    """Put the filter of ``category`` first in the process's warnings filters (at each
    block: a filter added since would stand before it otherwise)."""
    with _filters_lock:
        entry = _ENTRIES.get(category)
        if entry is None:
            entry = _ENTRIES[category] = ("ignore", _InSilencedThread(category), category,
                                          None, 0)
        filters = warnings.filters
        if filters and filters[0] is entry:
            return
        for i in reversed(range(len(filters))):
            if filters[i] is entry:
                del filters[i]
        # the public call marks the filters changed (what the cached decisions key on);
        # its entry of a category of its own, first, is then swapped for this one
        warnings.filterwarnings("ignore", category=_Swapped)
        filters = warnings.filters
        filters[filters.index(("ignore", None, _Swapped, None, 0))] = entry


@contextmanager
def silenced(category: type[Warning] = UserWarning):
    """Ignore the warnings of ``category`` (subclasses included) that the calling thread
    raises inside the block, wfr_cvx's or another package's (cvxpy's "solution may be
    inaccurate"); other threads see theirs as their filters say."""
    _first_filter(category)
    counts = getattr(_thread, "silenced", None)
    if counts is None:
        counts = _thread.silenced = {}
    counts[category] = counts.get(category, 0) + 1
    try:
        with suppressed(category):  # wfr_cvx's own, collected or not
            yield
    finally:
        counts[category] -= 1
