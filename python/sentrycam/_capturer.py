"""A monitor's training-thread side: ``step()`` and ``log()`` turned into hand-offs.

Everything here runs inside the training loop, so it does as little as it can: decide whether
this step captures, run the probe (or take ``log()``'s arrays), and hand the capture to the
pipeline. The task boundaries marked so far ride along with every capture.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ._parts import MonitorParts
from ._settings import step_number
from .base import GroupNames, task_boundary
from .capture import Capture, Distributed, ProbeSession, pool_for

__all__ = ["Capturer"]


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
        self.last_step = 0  # the last step given to step()/log(): where task() marks

    def step(self, step: int, scalars: dict[str, Any]) -> None:
        """One training step (see ``Monitor.step``)."""
        # This runs on every training step: a few microseconds matter on a fast model, so the
        # common case is checked inline and the clock is read once at most.
        if self.idle:
            return
        if type(step) is not int:
            step = step_number(step)
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
            return
        if run is None:  # this rank's part of a sharded pass is with rank 0, which makes frames
            parts.cadence.captured(step, t0, time.perf_counter() - t0, 0.0, 0.0)
            return
        for problem in run.problems:
            parts.log.report(f"step {step}: {problem}")
        capture = Capture(
            step,
            self.session.layers(run),
            parts.inputs.scalars(step, scalars),
            parts.cadence.effective_every,
            run.ready,
            group_names=self.groups.names,
            tasks=self.tasks,
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

    def mark_task(self, name: str) -> None:
        """A task boundary at the last step given."""
        self.tasks = (*self.tasks, task_boundary(name, self.last_step))
