"""The capture worker: one background thread that turns captures into frames, in order.

The training thread hands over each capture (rows already on the CPU) and goes on; the worker
computes metrics and alerts, encodes, records and sends. The queue is small and bounded: when it
is full the training thread waits (backpressure), so a capture is never dropped and memory stays
bounded; the time it waited is counted. A ``KeyboardInterrupt`` that arrives while the training
thread waits still hands the capture over before it propagates.
"""

from __future__ import annotations

import contextlib
import math
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from ..base import defer_warnings_on_this_thread

QUEUE_CAPTURES = 2  # captures in flight (one being processed, one waiting) before backpressure
IDLE_WAKE_S = 0.02  # how soon ``idle`` runs again when it asks to (paced sends of batched frames)


class CaptureWorker:
    """Runs ``process(item)`` for each submitted item on one daemon thread, in submission order.

    Between items it calls ``idle()``, again after :data:`IDLE_WAKE_S` for as long as ``idle``
    returns True; otherwise the thread sleeps until the next item (an idle monitor costs nothing).
    """

    def __init__(
        self,
        process: Callable[[Any], None],
        idle: Callable[[], bool],
        *,
        on_error: Callable[[BaseException], None],
        maxsize: int = QUEUE_CAPTURES,
        name: str = "sentrycam-capture",
    ) -> None:
        self._process = process
        self._idle = idle
        self._on_error = on_error
        self._maxsize = maxsize
        self._items: deque[Any] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self.busy_s: list[float] = []  # CPU seconds of the worker per processed item
        self.idle_since: float | None = (
            None  # perf_counter() when the queue last emptied; inf: busy
        )
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        threads = torch_threads()
        self._thread.start()
        self._ready.wait(5.0)  # the thread has set its own torch threads: restore the default
        restore_torch_threads(threads)

    @property
    def pending(self) -> int:
        """Items submitted and not yet processed (including the one in progress)."""
        return len(self._items)

    def submit(self, item: Any) -> float:
        """Queue ``item``; wait while the queue is full. Returns the seconds spent waiting."""
        t0 = time.perf_counter()
        with self._cond:
            try:
                while len(self._items) >= self._maxsize and self._thread.is_alive():
                    self._cond.wait(0.1)
            finally:  # an interrupt while waiting must not lose the capture
                self._items.append(item)
                self.idle_since = math.inf
                self._cond.notify_all()
        return time.perf_counter() - t0

    def join(self, timeout: float | None = None) -> bool:
        """Wait until every submitted item is processed; False if ``timeout`` ran out first."""
        if threading.current_thread() is self._thread:
            return False  # called from inside ``process``: waiting on itself would deadlock
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._items and self._thread.is_alive():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(0.1 if left is None else min(left, 0.1))
        return not self._items

    def stop(self, timeout: float | None = None) -> bool:
        """Process what is queued, then end the thread; True once it ended within ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self.join(timeout)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            self._thread.join(left)
        return not self._thread.is_alive()

    def _run(self) -> None:
        defer_warnings_on_this_thread()
        _one_torch_thread()
        self._ready.set()
        again = False  # whether ``idle`` asked to be called again soon (frames await a paced send)
        while True:
            with self._cond:
                if not self._items and not self._stopping:
                    self._cond.wait(IDLE_WAKE_S if again else None)
                if not self._items:
                    if self._stopping:
                        return
                    item = None
                else:
                    item = self._items[0]  # stays queued (and counted) until processed
            if item is None:
                again = bool(self._safely(self._idle))
                continue
            cpu0 = time.thread_time()
            self._safely(lambda item=item: self._process(item))
            self.busy_s.append(time.thread_time() - cpu0)
            del self.busy_s[:-64]
            again = True
            with self._cond:
                self._items.popleft()
                if not self._items:
                    self.idle_since = time.perf_counter()
                self._cond.notify_all()

    def _safely(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except BaseException as exc:  # the worker must outlive any bug in one item
            with contextlib.suppress(BaseException):
                self._on_error(exc)
            return None


def _one_torch_thread() -> None:
    """Run this thread's torch operations on one core.

    With OpenMP, every thread that runs a parallel torch operation keeps a team of its own; while a
    second team exists, libgomp sees more threads than cores and throttles its spinning, which made
    every small training step ~3x slower in a measurement. One thread here avoids a second team.
    The OpenMP and MKL settings are per thread, but torch also keeps the number as the default for
    threads that start later: the caller restores that (:func:`restore_torch_threads`).
    """
    torch = sys.modules.get("torch")
    if torch is not None:
        with contextlib.suppress(Exception):
            torch.get_num_threads()  # this thread's lazy set-up first: it would undo the next line
            torch.set_num_threads(1)


def torch_threads() -> int | None:
    """The calling thread's torch thread count (``None`` when torch is not loaded)."""
    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else None


def restore_torch_threads(count: int | None) -> None:
    """Make ``count`` the default for later threads again (the caller's own setting unchanged)."""
    torch = sys.modules.get("torch")
    if torch is not None and count is not None and torch.get_num_threads() == count:
        with contextlib.suppress(Exception):
            torch.set_num_threads(count)
