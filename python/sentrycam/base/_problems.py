"""The problem log: what sentrycam worked around, told in plain words without flooding anyone.

Every problem becomes a :class:`SentrycamWarning`, an entry in ``cam.problems`` and a notice in the
view. A problem that recurs (NaN after divergence, say) is told :data:`PROBLEM_REPEATS` times and
then every :data:`PROBLEM_RETELL` th time with a count. Problems found on the background thread
are sent to the view at once; their warnings are given on the training thread at its next call
into the monitor, so that they appear in the cell that runs the training loop.
"""

from __future__ import annotations

import contextlib
import re
import threading
import warnings
from collections.abc import Callable

PROBLEM_REPEATS = 3  # a recurring problem is told this many times, then every PROBLEM_RETELL th
PROBLEM_RETELL = 100

_thread = threading.local()


class SentrycamWarning(UserWarning):
    """A problem sentrycam worked around without stopping training."""


def defer_warnings_on_this_thread() -> None:
    """Mark the calling (background) thread: its warnings wait for ``ProblemLog.warn_pending``."""
    _thread.defer = True


_QUOTED = re.compile(r"('[^']*'|\"[^\"]*\")")


def problem_kind(message: str) -> str:
    """What makes a problem the same problem again: its text with numbers masked (the step, a
    count, a value), except inside quotes, where the names are (layers 'blocks.10' and
    'blocks.11' are two problems, each told)."""
    parts = _QUOTED.split(message)
    return "".join(p if i % 2 else re.sub(r"\d+", "#", p) for i, p in enumerate(parts))


class ProblemLog:
    """Rate-limited problems: recorded in ``messages``, sent as notices, warned as warnings."""

    def __init__(self, notify: Callable[[str], None], *, strict: bool = False) -> None:
        self._notify = notify
        self.strict = strict
        self.messages: list[str] = []
        self._counts: dict[str, int] = {}
        self.pending: list[str] = []
        self._lock = threading.Lock()

    def report(self, message: str, exc: BaseException | None = None) -> None:
        """Tell the user about a problem (or raise ``exc`` when strict and called on the caller's
        own thread)."""
        deferred = getattr(_thread, "defer", False)
        if self.strict and exc is not None and not deferred:
            raise exc
        kind = problem_kind(message)
        with self._lock:
            seen = self._counts[kind] = self._counts.get(kind, 0) + 1
            if seen > PROBLEM_REPEATS and seen % PROBLEM_RETELL:
                return
            if seen > PROBLEM_REPEATS:
                message = f"{message} (seen {seen} times)"
            self.messages.append(message)
            if deferred:
                self.pending.append(message)
        if not deferred:
            warnings.warn(f"sentrycam: {message}", SentrycamWarning, stacklevel=4)
        with contextlib.suppress(Exception):  # no comm (a closed widget): the warning was given
            self._notify(message)

    def warn_pending(self) -> None:
        """Give the warnings of problems found on the background thread (training thread)."""
        while self.pending:
            with self._lock:  # one at a time: a warning turned into an error leaves the rest
                message = self.pending.pop(0)
            warnings.warn(f"sentrycam: {message}", SentrycamWarning, stacklevel=4)
