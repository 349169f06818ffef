"""Following a recording written elsewhere: ``sentrycam.watch`` and the alerts recomputed from it.

A :class:`RunFollower` turns polls of a :class:`~.readback.RecordingTail` into frames and the
alerts an :class:`~.alerts.AlertEngine` raises on them, in order, as the live run would have.
:func:`watch` runs one on a background thread and feeds a :class:`~.monitor.Monitor`, so the
kernel stays free while the view follows the run.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from .alerts import AlertEngine
from .frames import Frame, encode
from .readback import Poll, RecordingTail

POLL_S = 0.5  # how often a follower looks for new frames (the view lags the writer by ~this)
ENDED_POLL_S = 2.0  # once the run has ended: only a restart can bring more
CLOSED_CHECK_S = 0.1  # a closed monitor's follower stops within this long
MAX_BACKOFF_S = 30.0  # longest wait between polls after read errors (network down, ...)


class AlertReplay:
    """Feeds recorded frames (in order) to an alert engine, once per metric and scalar step,
    with the task boundaries and group names each frame was captured with (the forgetting
    rule needs them)."""

    def __init__(self, engine: Any = None) -> None:
        self.engine = engine if engine is not None else AlertEngine()
        self._last_scalar_step: int | None = None

    def feed(self, frames: Iterable[Frame]) -> list[Any]:
        """The new alerts raised by ``frames``."""
        alerts: list[Any] = []
        for frame in frames:
            if frame.scalars and frame.step != self._last_scalar_step:
                alerts += self.engine.update(frame.step, None, frame.scalars)
                self._last_scalar_step = frame.step
            alerts += self.engine.update(frame.step, frame.layer, frame.metrics, tasks=frame.tasks)
        return alerts


@dataclass
class Update:
    """What one follower poll brought."""

    frames: list[Frame] = field(default_factory=list)
    alerts: list[Any] = field(default_factory=list)
    restarted: bool = False
    ended: dict[str, Any] | None = None
    exists: bool = True


class RunFollower:
    """Reads a recording as it grows; frames of a restarted run get fresh, later ``seq`` numbers
    (so views that hold the old run take them as new) and the alert engine starts over."""

    def __init__(self, target: str | os.PathLike[str], engine: Any = None) -> None:
        self.tail = RecordingTail(target)
        self.replay = AlertReplay(engine)
        self.restarts = 0
        self.frames = 0
        self._seq_base = 0  # added to a restarted run's seqs
        self._next_seq = 0

    def poll(self) -> Update:
        """New frames and alerts since the last poll."""
        got: Poll = self.tail.poll()
        update = Update(restarted=got.restarted, ended=got.ended, exists=got.exists)
        if got.restarted and self.frames:
            self.restarts += 1
            self._seq_base = self._next_seq
            self.replay = AlertReplay(self.replay.engine)  # which resets itself: steps went back
        frames = [self._renumbered(f) for f in got.frames]
        self.frames += len(frames)
        update.frames = frames
        update.alerts = self.replay.feed(frames)
        return update

    def _renumbered(self, frame: Frame) -> Frame:
        if self._seq_base:
            frame.seq += self._seq_base
            frame.ipc = encode(frame, "float16" if _is_half(frame) else "float32")
        self._next_seq = max(self._next_seq, frame.seq + 1)
        return frame


def _is_half(frame: Frame) -> bool:
    schema = pa.ipc.open_stream(frame.ipc).schema
    return schema.field("x").type.value_type == pa.float16()


def watch(
    path_or_url: str | os.PathLike[str], *, poll: float = POLL_S, **monitor_kwargs: Any
) -> Any:
    """A :class:`~.monitor.Monitor` that follows a recording written by another process or
    machine: new frames reach its views within about ``poll`` seconds, alerts are recomputed
    (``alerts=`` an :class:`~.alerts.AlertEngine` of your own; ``on_alert`` functions run on the
    polling thread), a run that ends or restarts is told in the view. It polls on a background
    thread; ``cam.close()`` stops following.
    """
    from .monitor import Monitor

    if poll <= 0:
        raise ValueError(f"poll must be a positive number of seconds, got {poll!r}")
    engine = monitor_kwargs.pop("alerts", None)
    follower = RunFollower(path_or_url, engine)  # a bad URL fails here, in the user's cell
    cam = Monitor(metrics=False, **monitor_kwargs)
    cam.title = cam.title or f"watching {follower.tail.location.given}"
    thread = _FollowThread(cam, follower, poll)
    cam._follower = thread  # its state is in cam.stats["watch"]
    thread.start()
    return cam


class _FollowThread(threading.Thread):
    """Polls a follower and hands what it brings to a monitor, until the monitor is closed."""

    def __init__(self, cam: Any, follower: RunFollower, poll: float) -> None:
        super().__init__(name="sentrycam-watch", daemon=True)
        self._cam = weakref.ref(cam)
        self.follower = follower
        self.poll = poll
        self.state = "waiting"  # waiting | following | ended
        self.last_error: str | None = None
        self.polls = 0
        self.shown: list[tuple[int, float]] = []  # (frames so far, time.time()) per hand-over

    def stats(self) -> dict[str, Any]:
        """What ``cam.stats["watch"]`` tells: state, frames read, restarts seen, polls."""
        return {
            "state": self.state,
            "frames": self.follower.frames,
            "restarts": self.follower.restarts,
            "polls": self.polls,
            "error": self.last_error,
        }

    def run(self) -> None:
        wait = self.poll
        told_missing = False
        while (cam := self._cam()) is not None and not cam.closed:
            try:
                update = self.follower.poll()
                self.polls += 1
                self.last_error = None
            except Exception as exc:  # network down, a damaged file: tell once, keep trying
                message = f"reading {self.follower.tail.location.given} failed: {exc}"
                if message != self.last_error:
                    cam._problem(message + "; retrying")
                self.last_error = message
                wait = min(wait * 2, MAX_BACKOFF_S)
            else:
                if not update.exists and not told_missing:
                    told_missing = True
                    cam._status(f"waiting for {self.follower.tail.location.given} to appear")
                self._hand_over(cam, update)
                wait = ENDED_POLL_S if self.state == "ended" else self.poll
            del cam  # hold the monitor only while handing over
            self._sleep(wait)

    def _sleep(self, seconds: float) -> None:
        """Sleep, waking early once the monitor is closed (or gone)."""
        until = time.monotonic() + seconds
        while (left := until - time.monotonic()) > 0:
            cam = self._cam()
            if cam is None or cam.closed:
                return
            del cam
            time.sleep(min(left, CLOSED_CHECK_S))

    def _hand_over(self, cam: Any, update: Update) -> None:
        given = self.follower.tail.location.given
        if update.restarted and self.follower.restarts:
            cam._status(f"{given} was rewritten: a new run started; its frames follow the old")
        if update.frames or update.alerts:
            cam._show(update.frames, update.alerts)
            cam._call_back(update.alerts)  # on_alert functions, on this thread
        if update.frames:
            self.state = "following"
            self.shown.append((self.follower.frames, time.time()))
        if update.ended is not None and self.state != "ended":
            self.state = "ended"
            frames = update.ended.get("frames", self.follower.frames)
            cam._status(f"the run ended: {frames} frames were recorded in {given}")
        elif update.ended is None and self.state == "ended":
            self.state = "following"
