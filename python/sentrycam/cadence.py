"""Capture cadence: every ``every`` steps, stretched when a time budget asks for it.

With ``budget=b`` the cadence is stretched (to a multiple of ``every``, never below it) so that
monitoring takes at most the share ``b`` of the training thread's wall time. The cost of a
capture is measured as what it really costs the training loop: the wall time from one capture to
the next, less the time the steps in between take without monitoring (measured on steps during
which the background thread was idle). That counts the probe pass, any wait for the background
thread, and the slowdown the background thread causes by competing for the same cores; it is
never taken below the directly measured training-thread time plus the background thread's CPU
time. Estimates are running medians, so the cadence follows a model that speeds up or slows down.
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
# step() at all costs a few microseconds a step (about 2% of a 0.4 ms step). Aiming at the budget
# itself overshot it (+6% to +13% for budget=0.05); at half of it the quick-start MLP still came
# to +8%.
BUDGET_AIM = 0.3
STEP_EMA = 0.05  # weight of the newest step time in the running average of a training step


class Cadence:
    """Decides which steps capture; keeps the measurements behind ``cam.stats``."""

    def __init__(self, every: int, budget: float | None) -> None:
        self.every = every
        self.budget = budget
        self.effective_every = every
        self.captures = 0
        self.train_thread_s: deque[float] = deque(maxlen=64)
        self.waited_s = 0.0
        self._costs: deque[float] = deque(maxlen=COST_WINDOW)
        self._step_s: float | None = None  # a training step without monitoring, seconds
        self._any_step_s: float | None = None  # the same over every step (until a clean one)
        self._last_step: int | None = None
        self._last_exit: float | None = None
        self._last_capture: int | None = None
        self._last_capture_at = 0.0
        self._direct_cost = 0.0  # training-thread + worker CPU seconds of the latest capture

    def due(self, step: int, worker_idle_since: float | None = None) -> bool:
        """Called on entry to ``step()``: whether this step captures.

        ``worker_idle_since``: when the background thread last became idle (``None``: there is
        none, or it is idle since it started); ``math.inf`` while it is busy. Without a budget
        this is one modulo (no clock is read): it runs on every training step.
        """
        if self.budget is not None:
            self._time_step(step, worker_idle_since)
        if step % self.every:
            return False
        if self._last_capture is None:
            return True
        steps = abs(step - self._last_capture)
        if self.budget is not None:
            cost = self._open_cost(time.perf_counter(), steps)
            self.effective_every = self._stretched(self._costs_with(cost))
        return steps >= self.effective_every

    def _time_step(self, step: int, worker_idle_since: float | None) -> None:
        now = time.perf_counter()
        last_exit, last_step = self._last_exit, self._last_step
        if last_exit is not None and last_step is not None and step > last_step:
            per_step = (now - last_exit) / (step - last_step)
            self._any_step_s = _ema(self._any_step_s, per_step)
            if worker_idle_since is None or worker_idle_since <= last_exit:
                self._step_s = _ema(self._step_s, per_step)
        self._last_step = step

    def left(self) -> None:
        """Called when ``step()`` returns: with a budget, training time is measured from here."""
        if self.budget is not None:
            self._last_exit = time.perf_counter()

    def captured(
        self, step: int, start: float, train_s: float, waited_s: float, worker_s: float
    ) -> None:
        """Record one capture that started at ``start`` (``perf_counter``): its training-thread
        seconds (waiting included), and the background thread's CPU seconds per capture."""
        if self._last_capture is not None and self.budget is not None:
            self._costs.append(self._open_cost(start, abs(step - self._last_capture)))
        self.captures += 1
        self._last_capture = step
        self._last_capture_at = start
        self._direct_cost = train_s + worker_s
        self.train_thread_s.append(train_s)
        self.waited_s += waited_s

    @property
    def step_s(self) -> float | None:
        """Seconds of a training step without monitoring (until measured: of any step)."""
        return self._step_s if self._step_s is not None else self._any_step_s

    def _open_cost(self, now: float, steps: int) -> float:
        """What the latest capture has cost the loop so far (wall time beyond plain training)."""
        excess = 0.0
        if self.step_s is not None:
            excess = (now - self._last_capture_at) - steps * self.step_s
        return max(excess, self._direct_cost)

    def _costs_with(self, latest: float) -> float:
        return statistics.median([*self._costs, latest])

    def _stretched(self, cost: float) -> int:
        step_s = self.step_s
        if self.budget is None or not step_s:
            return self.every
        share = BUDGET_AIM * self.budget
        steps = cost * (1 - share) / (share * step_s)
        return max(self.every, math.ceil(steps / self.every) * self.every)


def _ema(average: float | None, value: float) -> float:
    return value if average is None else (1 - STEP_EMA) * average + STEP_EMA * value
