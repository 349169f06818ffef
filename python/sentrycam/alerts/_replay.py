"""Alerts recomputed from recorded frames, as the live run would have raised them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..wire import Frame
from ._alert import Alert
from ._engine import AlertEngine

__all__ = ["AlertReplay"]


class AlertReplay:
    """Feeds recorded frames (in order) to an alert engine, once per metric and scalar step,
    with the task boundaries and group names each frame was captured with (the forgetting
    rule needs them)."""

    def __init__(self, engine: Any = None) -> None:
        self.engine = engine if engine is not None else AlertEngine()
        self._last_scalar_step: int | None = None

    def feed(self, frames: Iterable[Frame]) -> list[Alert]:
        """The new alerts raised by ``frames``."""
        alerts: list[Alert] = []
        for frame in frames:
            if frame.scalars and frame.step != self._last_scalar_step:
                alerts += self.engine.update(frame.step, None, frame.scalars)
                self._last_scalar_step = frame.step
            alerts += self.engine.update(frame.step, frame.layer, frame.metrics, tasks=frame.tasks)
        return alerts
