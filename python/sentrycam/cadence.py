"""Capture cadence: every ``every`` steps, stretched when a time budget asks for it.

With ``budget=b`` the cadence is stretched (to a multiple of ``every``, never below it) so that
monitoring takes at most the share ``b`` of the training thread's time. Monitoring time per
capture is what the training thread spent inside the capture plus the background thread's CPU
time for it (which competes with training for the same cores); training time per step is the
time between calls to ``step()``, less the time spent inside them. Both are measured as the run
goes, with robust running estimates, so the cadence follows a model that speeds up or slows down.
"""

from __future__ import annotations

import math
import statistics
import time
from collections import deque

COST_WINDOW = 8  # captures in the running median of the monitoring cost
STEP_EMA = 0.1  # weight of the newest training-step time in its running average


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
        self._step_s: float | None = None
        self._last_step: int | None = None
        self._last_exit: float | None = None
        self._last_capture: int | None = None

    def due(self, step: int) -> bool:
        """Called on entry to ``step()``: whether this step captures."""
        now = time.perf_counter()
        if self._last_exit is not None and self._last_step is not None and step > self._last_step:
            per_step = (now - self._last_exit) / (step - self._last_step)
            self._step_s = (
                per_step
                if self._step_s is None
                else (1 - STEP_EMA) * self._step_s + STEP_EMA * per_step
            )
        self._last_step = step
        if step % self.every:
            return False
        return self._last_capture is None or abs(step - self._last_capture) >= self.effective_every

    def left(self) -> None:
        """Called when ``step()`` returns: training time is measured from here."""
        self._last_exit = time.perf_counter()

    def captured(self, step: int, train_s: float, waited_s: float, worker_s: float | None) -> None:
        """Record one capture: training-thread seconds (incl. waiting) and the worker's CPU time."""
        self.captures += 1
        self._last_capture = step
        self.train_thread_s.append(train_s)
        self.waited_s += waited_s
        self._costs.append(train_s + (worker_s or 0.0))
        if self.budget is not None and self._step_s and self._step_s > 0:
            cost = statistics.median(self._costs)
            steps = cost * (1 - self.budget) / (self.budget * self._step_s)
            self.effective_every = max(self.every, math.ceil(steps / self.every) * self.every)
