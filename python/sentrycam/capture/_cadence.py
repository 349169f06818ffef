"""Capture cadence: every ``every`` steps, stretched when a time budget asks for it.

With ``budget=b`` the cadence is stretched (to a multiple of ``every``, never below it) so that
monitoring takes at most the share ``b`` of the training thread's wall time. The cost of a
capture is measured as what it really costs the training loop: the wall time from one capture to
the next, less the time the steps in between take without monitoring (measured on steps during
which the background thread was idle). That counts the probe pass, any wait for the background
thread, and the slowdown the background thread causes by competing for the same cores; it is
never taken below the directly measured training-thread time plus the background thread's CPU
time. The cost is a running median over recent captures, the training time a running average that
leaves pauses out, so the cadence follows a model that speeds up or slows down.
"""

from __future__ import annotations

import math
import statistics
import time
from collections import deque

COST_WINDOW = 5  # captures in the running median of the monitoring cost
# The cadence aims at this share of the budget. Measured on a 2-core machine, a capture slowed the
# loop by up to about twice what can be timed from inside it (the training steps themselves run
# slower around it: caches, the allocator, the background thread on the same cores), and calling
# step() at all costs microseconds a step that no clock inside the loop can tell from training
# (about 3% of the quick-start MLP's 0.4 ms step). Aiming at the budget itself overshot it (+6% to
# +13% for budget=0.05); at half of it the MLP still came to +8%, at 0.3 to +7%.
BUDGET_AIM = 0.25
CALL_EMA = 0.05  # weight of the newest interval in the running average between step() calls
PAUSE_FACTOR = 10.0  # an interval this many times the average is a pause (a validation loop,
# a checkpoint, the time between two cells): neither training nor monitoring, left out of both


class Cadence:
    """Decides which steps capture; keeps the measurements behind ``cam.stats``.

    Time is measured per call of ``step()`` (a loop that calls it several times per step number,
    as gradient accumulation does, is measured per call and converted to steps).
    """

    def __init__(self, every: int, budget: float | None, *, lockstep: bool = False) -> None:
        self.every = every
        self.budget = budget
        # Several processes take the same decisions (distributed="shard"): a step that is due
        # counts as captured whatever happens to its capture, on every process alike.
        self.lockstep = lockstep
        self.effective_every = every
        self.captures = 0
        self.train_thread_s: deque[float] = deque(maxlen=64)
        self.waited_s = 0.0
        self._costs: deque[float] = deque(maxlen=COST_WINDOW)
        self._call_s: float | None = None  # training time between calls, background thread idle
        self._any_call_s: float | None = None  # the same over every interval (until a clean one)
        self._last_exit: float | None = None
        self._last_capture: int | None = None  # the step of the latest probe capture
        self._last_capture_at = 0.0
        self._calls = 0  # step() calls since the latest probe capture
        self._paused_s = 0.0  # pauses since the latest probe capture
        self._direct_cost = 0.0  # training-thread + worker CPU seconds of the latest capture
        # The first capture pays once for what later ones do not (the first probe pass's lazy
        # initialisation, the background thread's start, imports): ~250-300 ms against ~1 ms on
        # the quick-start MLP. Its cost is never taken as the cost of a capture, and the next
        # capture comes at the base cadence, to measure one.
        self._first_pending = True

    def due(self, step: int, worker_idle_since: float | None = None) -> bool:
        """Called on entry to ``step()``: whether this step captures.

        ``worker_idle_since``: when the background thread last became idle (``None``: there is
        none, or it is idle since it started); ``math.inf`` while it is busy. Without a budget
        this is one modulo (no clock is read): it runs on every training step.
        """
        if self.budget is not None:
            self._time_call(time.perf_counter(), worker_idle_since)
        if step % self.every:
            return False
        if self._last_capture is not None:
            steps = abs(step - self._last_capture)
            if self.budget is not None and not self._first_pending:
                cost = self._open_cost(time.perf_counter())
                self.effective_every = self._stretched(self._costs_with(cost), steps)
            if steps < self.effective_every:
                return False
        if self.lockstep:
            self._last_capture = step
        return True

    def _time_call(self, now: float, worker_idle_since: float | None) -> None:
        """The training time since the previous call (which, unless it captured, returned within
        microseconds of its start: its start stands for its end)."""
        last, self._last_exit = self._last_exit, now
        self._calls += 1
        if last is None:
            return
        interval = now - last
        usual = self._call_s if self._call_s is not None else self._any_call_s
        if usual is not None and interval > PAUSE_FACTOR * usual:
            self._paused_s += interval
            return
        self._any_call_s = _ema(self._any_call_s, interval)
        if worker_idle_since is None or worker_idle_since <= last:
            self._call_s = _ema(self._call_s, interval)

    def captured_until_now(self) -> None:
        """Called when a capturing ``step()`` returns: training time is measured from here."""
        if self.budget is not None:
            self._last_exit = time.perf_counter()

    def captured(
        self,
        step: int,
        start: float,
        train_s: float,
        waited_s: float,
        worker_s: float,
        *,
        probe: bool = True,
    ) -> None:
        """Record one capture that started at ``start`` (``perf_counter``): its training-thread
        seconds (waiting included), and the background thread's CPU seconds per capture.
        ``probe=False`` (``log()``): counted in the statistics only; the cadence of the probe
        captures is not moved by it."""
        self.captures += 1
        self.train_thread_s.append(train_s)
        self.waited_s += waited_s
        if not probe:
            return
        if self._last_capture is not None and self.budget is not None:
            if self._first_pending:  # the previous capture was the first: its cost is one-time
                self._first_pending = False
            else:
                self._costs.append(self._open_cost(start))
        self._last_capture = step
        self._last_capture_at = start
        self._calls = 0
        self._paused_s = 0.0
        self._direct_cost = train_s + worker_s

    @property
    def call_s(self) -> float | None:
        """Training seconds between two calls of ``step()`` without monitoring (until measured:
        between any two)."""
        return self._call_s if self._call_s is not None else self._any_call_s

    def _open_cost(self, now: float) -> float:
        """What the latest capture has cost the loop so far (wall time beyond plain training)."""
        excess = 0.0
        if self.call_s is not None:
            wall = now - self._last_capture_at - self._paused_s
            excess = wall - self._calls * self.call_s
        return max(excess, self._direct_cost)

    def _costs_with(self, latest: float) -> float:
        return statistics.median([*self._costs, latest])

    def _stretched(self, cost: float, steps: int) -> int:
        call_s = self.call_s
        if self.budget is None or not call_s:
            return self.every
        share = BUDGET_AIM * self.budget
        calls = cost * (1 - share) / (share * call_s)
        calls_per_step = self._calls / steps if steps and self._calls else 1.0
        needed = calls / max(calls_per_step, 1.0)
        return max(self.every, math.ceil(needed / self.every) * self.every)


def _ema(average: float | None, value: float) -> float:
    return value if average is None else (1 - CALL_EMA) * average + CALL_EMA * value
