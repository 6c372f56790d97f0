"""Progress bars: shown to a person at a terminal, never in logs, pipes or tests.

A long solve (the first-order backend, :mod:`wfr_cvx.backends.dr`) or a batch
(:func:`wfr_cvx.batch.solve_many`) takes a ``progress`` setting: ``True``, ``False`` or
``"auto"``.  ``"auto"`` (the default) shows a bar when standard error is a terminal, so
that an interactive run shows one and output redirected to a file, a pipe or pytest's
capture stays clean.  The command line's ``--progress`` turns "auto" on for the solves it
runs (:func:`progress_default`), without naming a backend's setting; the workers of a
batch turn it off, so that their bars do not garble the batch's own.

The bars are tqdm's, an optional extra (``pip install 'wfr_cvx[progress]'``): without
tqdm nothing is shown and nothing fails.
"""

from __future__ import annotations

import contextvars
import functools
import sys
from contextlib import contextmanager

__all__ = ["AUTO", "check_progress", "progress_bar", "progress_default", "wants_progress"]

#: The setting that decides by the terminal.
AUTO = "auto"

_DEFAULT: contextvars.ContextVar[bool | None] = contextvars.ContextVar(
    "wfr_cvx_progress", default=None)


def check_progress(value, name: str = "progress") -> bool | str:
    """``value`` if it is a bool or ``"auto"``; TypeError naming ``name`` otherwise."""
    if isinstance(value, bool) or value == AUTO:
        return value
    raise TypeError(f"`{name}` must be True, False or {AUTO!r}, got {value!r}")


def wants_progress(setting) -> bool:
    """Whether a bar is shown for ``setting`` (True, False or ``"auto"``): "auto" follows
    the :func:`progress_default` in force, else whether standard error is a terminal."""
    setting = check_progress(setting)
    if setting != AUTO:
        return setting
    forced = _DEFAULT.get()
    if forced is not None:
        return forced
    isatty = getattr(sys.stderr, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


@contextmanager
def progress_default(show: bool):
    """Decide ``"auto"`` as ``show`` for the solves run inside the block (this thread or
    context): the command line's ``--progress``, or off in a batch's workers."""
    token = _DEFAULT.set(bool(show))
    try:
        yield
    finally:
        _DEFAULT.reset(token)


class _Silent:
    """What :func:`progress_bar` returns when no bar is shown: every call does nothing."""

    n = 0

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str = "", refresh: bool = True) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(setting, *, desc: str, unit: str, total: int | None = None):
    """A tqdm bar on standard error when :func:`wants_progress` (``setting``) and tqdm is
    installed, else an object with the same ``update``, ``set_postfix_str`` and ``close``
    that shows nothing.  The bar disappears when closed (``leave=False``)."""
    if not wants_progress(setting):
        return _Silent()
    try:
        from tqdm import tqdm
    except ImportError:
        return _Silent()
    return _without_monitor(tqdm)(total=total, desc=desc, unit=unit, file=sys.stderr,
                                  leave=False, dynamic_ncols=True)


@functools.cache
def _without_monitor(bar: type) -> type:
    """tqdm's bar class ``bar`` without its monitor thread: a thread running in the
    process would make a batch's pool spawn its workers instead of forking them
    (:mod:`wfr_cvx.batch`), and the bars here are refreshed by their own updates."""
    return type(bar.__name__, (bar,), {"monitor_interval": 0})
