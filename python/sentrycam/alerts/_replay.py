"""Alerts recomputed from recorded frames, as the live run would have raised them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..wire import Frame
from ._alert import Alert
from ._engine import AlertEngine, takes_averaged

__all__ = ["AlertReplay"]


class AlertReplay:
    """Feeds recorded frames (in order) to an alert engine, once per metric and scalar step,
    with the task boundaries and group names each frame was captured with (the forgetting
    rule needs them)."""

    def __init__(self, engine: Any = None) -> None:
        self.engine = engine if engine is not None else AlertEngine()
        self._last_scalar_step: int | None = None

    def feed(self, frames: Iterable[Frame]) -> list[Alert]:
        """The new alerts raised by ``frames``: a step's scalars previewed, its layers, then its
        scalars, as the live monitor fed them."""
        alerts: list[Alert] = []
        pending: Frame | None = None  # the frame whose step's scalars are fed after it
        for frame in frames:
            if pending is not None and frame.step != pending.step:
                alerts += self._scalars(pending)
                pending = None
            if frame.scalars and frame.step != self._last_scalar_step:
                pending = frame
                self._last_scalar_step = frame.step
                self.engine.preview(frame.step, frame.scalars)
            alerts += self.engine.update(frame.step, frame.layer, frame.metrics, tasks=frame.tasks)
        if pending is not None:
            alerts += self._scalars(pending)
        return alerts

    def _scalars(self, frame: Frame) -> list[Alert]:
        if frame.scalar_steps and takes_averaged(self.engine):
            return self.engine.update(frame.step, None, frame.scalars, averaged=frame.scalar_steps)
        return self.engine.update(frame.step, None, frame.scalars)
