"""A monitor's training-thread side: ``step()`` and ``log()`` turned into hand-offs.

Everything here runs inside the training loop, so it does as little as it can: decide whether
this step captures, run the probe (or take ``log()``'s arrays), and hand the capture to the
pipeline. The task boundaries marked so far ride along with every capture.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from ._parts import MonitorParts
from ._settings import step_number
from .base import GroupNames, task_boundary
from .capture import Capture, Distributed, ProbeSession, ScalarMeans, pool_for

__all__ = ["Capturer", "StepClock"]


class StepClock:
    """Steps as given, kept moving forward.

    A loop that passes a per-epoch batch index gives steps that go back to 0 every epoch; the
    windows of the alert rules and the cadence count steps, so such a run would restart its
    streams every epoch and never leave the warm-up. Instead the clock counts on: a step lower
    than the one before continues from it by the last gap seen between given steps (1 for a
    ``step()`` per training step), and later steps keep that offset. It is said once, in plain
    words; frames and alerts carry the clock's steps.
    """

    def __init__(self, report: Callable[[str], Any]) -> None:
        self._report = report
        self.offset = 0
        self._last_given: int | None = None
        self._gap = 1
        self._told = False

    def read(self, given: int) -> int:
        """The clock's step for the step ``given``."""
        last = self._last_given
        if last is not None:
            if given < last:
                self.offset += last - given + self._gap
                if not self._told:
                    self._told = True
                    self._report(
                        f"the step went back from {last} to {given} (a loop that passes a "
                        f"per-epoch batch index?): sentrycam counts on, from {given + self.offset}"
                        ", so frames, the cadence and the alerts keep one clock; pass a global "
                        "step (e.g. epoch * batches_per_epoch + batch_idx) to keep your numbers"
                    )
            elif given > last:
                self._gap = given - last
        self._last_given = given
        return given + self.offset


class Capturer:
    """Turns ``step()``/``log()`` calls into captures handed to the pipeline."""

    def __init__(
        self, session: ProbeSession, parts: MonitorParts, dist: Distributed, groups: GroupNames
    ) -> None:
        self.session = session
        self.parts = parts
        self.dist = dist
        self.groups = groups  # the group-name list every frame's codes index into
        self.idle = not dist.active  # step() returns at once: another rank does the work
        self.tasks: tuple[dict[str, Any], ...] = ()  # task boundaries (cam.task), in order
        self.last_step = 0  # the last step (on sentrycam's clock) of step()/log(): task() marks
        self.clock = StepClock(parts.log.report)
        self.means = ScalarMeans()  # scalars given between captures, averaged into the next

    def step(self, step: int, scalars: dict[str, Any]) -> None:
        """One training step (see ``Monitor.step``)."""
        # This runs on every training step: a few microseconds matter on a fast model, so the
        # common case is checked inline and the clock is read once at most.
        if self.idle:
            return
        if type(step) is not int:
            step = step_number(step)
        step = self.clock.read(step)
        self.last_step = step
        pipeline, cadence = self.parts.pipeline, self.parts.cadence
        if pipeline.undelivered or pipeline.log.pending:
            pipeline.deliver()
        if not self.session.ready:
            if pipeline.closed:
                raise RuntimeError("step() was called on a closed monitor: make a new Monitor")
            raise RuntimeError(
                "step() needs a model and a probe: Monitor(model, layers=[...], probe=(x, y)); "
                "without a model use cam.log(step, {name: array})"
            )
        worker = pipeline.worker
        idle_since = worker.idle_since if worker is not None and cadence.budget else None
        if not cadence.due(step, idle_since):
            if scalars:
                self.means.add(scalars)
            if pipeline.sync:
                self.parts.channel.flush_due()  # frames batched in a burst leave within ~20 ms
            return
        try:
            self._capture(step, scalars)
        finally:
            cadence.captured_until_now()

    def _capture(self, step: int, scalars: dict[str, Any]) -> None:
        parts = self.parts
        t0 = time.perf_counter()
        try:
            run = self.session.run()
        except Exception as exc:  # the training loop must go on
            parts.log.report(f"step {step}: running the probe failed ({type(exc).__name__}: {exc})")
            self.means.add(scalars)  # not lost: averaged into the next capture
            return
        if run is None:  # this rank's part of a sharded pass is with rank 0, which makes frames
            self.means.clear()  # rank 0 reports the scalars
            parts.cadence.captured(step, t0, time.perf_counter() - t0, 0.0, 0.0)
            return
        for problem in run.problems:
            parts.log.report(f"step {step}: {problem}")
        self.means.add(parts.inputs.scalars(step, scalars))  # what is not a number is told
        means, steps = self.means.take()
        capture = Capture(
            step,
            self.session.layers(run),
            means,
            parts.cadence.effective_every,
            run.ready,
            group_names=self.groups.names,
            tasks=self.tasks,
            logits=run.logits,
            scalar_steps=steps,
        )
        parts.pipeline.submit(capture, t0)

    def log(
        self,
        step: int,
        activations: Mapping[str, Any],
        scalars: dict[str, Any],
        *,
        labels: Any,
        preds: Any,
        groups: Any,
        ids: Any,
    ) -> None:
        """Capture ``activations`` (see ``Monitor.log``); the caller has named the layers."""
        parts = self.parts
        parts.pipeline.deliver()
        t0 = time.perf_counter()
        probe = self.session.probe
        if probe is not None and labels is None:
            labels = probe.labels
        pool = self.session.pool
        layers = parts.inputs.layers(
            step,
            activations,
            lambda name: pool_for(pool, name),
            labels=labels,
            preds=preds,
            ids=ids,
            groups=groups,
            default_groups=probe.groups if probe is not None else None,
        )
        clean = parts.inputs.scalars(step, scalars)
        capture = Capture(step, layers, clean, group_names=self.groups.names, tasks=self.tasks)
        parts.pipeline.submit(capture, t0)

    def log_step(self, step: Any) -> int:
        """The step of a ``log()`` call on sentrycam's clock (remembered for ``task()``)."""
        self.last_step = self.clock.read(step_number(step))
        return self.last_step

    def mark_task(self, name: str) -> None:
        """A task boundary at the last step given."""
        self.tasks = (*self.tasks, task_boundary(name, self.last_step))
