"""The view channel: everything between a monitor and its views in the browser.

Kernel → views: frames (paced, batched, replayed to late views), alerts, notices, task
boundaries, snapshot requests. Views → kernel: ``hello`` (with the seq ranges a view holds),
``bye``, snapshot replies. Every message is one of :mod:`.protocol`'s types. Sends may come from
the training thread or the background worker; the history is locked.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from ..contract import (
    PROTOCOL_VERSION,
    AlertsMessage,
    KernelMessage,
    NoticeMessage,
    SnapshotRequest,
    TaskBoundary,
    TasksMessage,
)
from ._frames import Frame
from ._snapshot import Snapshot, snapshot_format, write_snapshot
from ._stream import FrameStream


class SendFn(Protocol):
    """Sends one message to every view (``Monitor.send``)."""

    def __call__(self, content: KernelMessage, buffers: list[bytes] | None = None) -> None: ...


class ViewChannel:
    """Sends to the views of one monitor and handles what they send back."""

    def __init__(
        self,
        send: SendFn,
        *,
        max_frames: int,
        max_bytes: int,
        on_problem: Callable[[str], None],
        on_trim: Callable[[Frame], None],
    ) -> None:
        self._send = send
        self._problem = on_problem
        self._lock = threading.RLock()
        self.stream = FrameStream(
            lambda content, buffers: self._send(content, buffers),
            max_frames=max_frames,
            max_bytes=max_bytes,
            on_trim=on_trim,
        )
        self.displayed = False
        self.views: set[str] = set()
        self.views_closed = False  # True once every view that said hello has said bye
        self.snapshots: dict[int, Snapshot] = {}
        self.last_status: str | None = None
        self.tasks: list[TaskBoundary] = []
        self._told_version = False

    # ---- frames -----------------------------------------------------------------------------

    def history(self) -> list[Frame]:
        """Frames held in memory, oldest first."""
        with self._lock:
            return list(self.stream.history)

    def push(self, frames: Iterable[Frame], *, send: bool = True) -> None:
        """Keep ``frames`` and send them (now, or batched with the next paced send)."""
        with self._lock:
            self.stream.push(frames, send=send)

    def flush_due(self) -> bool:
        """Send batched frames whose pacing interval has passed; True while some still wait."""
        with self._lock:
            return self.stream.flush_due()

    def flush(self) -> None:
        """Send every frame not yet sent."""
        with self._lock:
            self.stream.flush()

    # ---- alerts and notices -----------------------------------------------------------------

    def send_alerts(self, alerts: list[Any]) -> None:
        """Send alerts to the views (a view de-duplicates what it already has)."""
        if alerts:
            message: AlertsMessage = {"type": "alerts", "alerts": [alert_dict(a) for a in alerts]}
            self._send(message)

    def notice(self, text: str) -> None:
        """Show a problem in the views."""
        message: NoticeMessage = {"type": "notice", "level": "warning", "text": text}
        self._send(message)

    def status(self, text: str) -> None:
        """Show where things stand (a followed run ended ...); also to views that come later."""
        self.last_status = text
        self._send(self._status_message(text))

    def set_tasks(self, tasks: list[TaskBoundary]) -> None:
        """Tell the views every task boundary marked so far (kept: later views are told too)."""
        self.tasks = [TaskBoundary(step=int(t["step"]), name=str(t["name"])) for t in tasks]
        self._send(self._tasks_message())

    def _tasks_message(self) -> TasksMessage:
        return {"type": "tasks", "tasks": list(self.tasks)}

    @staticmethod
    def _status_message(text: str) -> NoticeMessage:
        return {"type": "notice", "level": "info", "text": text}

    # ---- snapshots --------------------------------------------------------------------------

    def request_snapshot(self, path: str | os.PathLike[str], fmt: str | None) -> Snapshot:
        """Ask the displayed views for an image; fail at once when none can answer."""
        snap = Snapshot(path=Path(path), format=snapshot_format(path, fmt))
        if not self.displayed:
            snap.state = "failed"
            snap.error = (
                "no view of this monitor is displayed, so there is nothing to render. Display it "
                "first (make the monitor the last expression of a cell), then call snapshot again."
            )
        elif self.views_closed:
            snap.state = "failed"
            snap.error = "every view of this monitor was closed; display it again first"
        if snap.state == "failed":
            self._problem(f"snapshot {snap.path}: {snap.error}")
            return snap
        self.snapshots[snap.id] = snap
        request: SnapshotRequest = {"type": "snapshot", "id": snap.id, "format": snap.format}
        self._send(request)
        return snap

    # ---- messages from the views ------------------------------------------------------------

    def handle(self, content: Any, buffers: list[Any], alerts: list[Any]) -> None:
        """Handle one message from a view (``alerts``: every alert raised so far)."""
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "hello":
            self.views.add(str(content.get("view", "")))
            self.views_closed = False
            self.displayed = True
            self._check_protocol(content.get("protocol"))
            have = content.get("have")
            with self._lock:
                self.stream.replay(have if isinstance(have, list) else [])
            self.send_alerts(alerts)
            if self.tasks:
                self._send(self._tasks_message())
            if self.last_status is not None:
                self._send(self._status_message(self.last_status))
        elif kind == "bye":
            self.views.discard(str(content.get("view", "")))
            self.views_closed = not self.views
        elif kind == "snapshot":
            self._receive_snapshot(content, buffers)

    def _check_protocol(self, version: Any) -> None:
        """Say once, in plain words, when the view's bundle speaks another protocol."""
        if version == PROTOCOL_VERSION or self._told_version:
            return
        self._told_version = True
        self._problem(
            f"the view speaks message protocol {version!r} but this kernel's sentrycam speaks "
            f"{PROTOCOL_VERSION}: the frontend bundle and the Python package are from different "
            "versions (reinstall sentrycam, or run `npm run build`, then restart the kernel and "
            "reload the page)"
        )

    def _receive_snapshot(self, content: dict[str, Any], buffers: list[Any]) -> None:
        snap = self.snapshots.get(int(content.get("id", -1)))
        if snap is None or snap.done:
            return  # a second view answered the same request
        if content.get("ok") and buffers:
            try:
                write_snapshot(snap, bytes(buffers[0]))
            except Exception as exc:
                snap.state, snap.error = "failed", str(exc)
        else:
            snap.state = "failed"
            snap.error = str(content.get("error") or "the view could not render an image")
        if snap.state == "failed":
            self._problem(f"snapshot {snap.path}: {snap.error}")
        del self.snapshots[snap.id]


def alert_dict(alert: Any) -> dict[str, Any]:
    """An alert as plain JSON (non-finite numbers become ``None``)."""
    if hasattr(alert, "to_dict"):
        d = dict(alert.to_dict())
    else:
        d = {k: getattr(alert, k, None) for k in ("step", "layer", "metric", "message", "severity")}
    for key, value in list(d.items()):
        if isinstance(value, float) and not math.isfinite(value):
            d[key] = None
    return d
