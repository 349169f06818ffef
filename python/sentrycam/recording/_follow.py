"""Following a recording written elsewhere, with the alerts recomputed from it.

A :class:`RunFollower` turns polls of a :class:`RecordingTail` into frames and the alerts an
alert engine raises on them, in order, as the live run would have. A :class:`FollowThread` runs
one on a background thread and hands what it brings to anything that is a
:class:`FollowedMonitor` (``sentrycam.watch`` gives it a ``Monitor``), so the kernel stays free
while the view follows the run.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa

from ..alerts import Alert, AlertReplay
from ..wire import Frame, encode
from ._readback import Poll, RecordingTail

POLL_S = 0.5  # how often a follower looks for new frames (the view lags the writer by ~this)
ENDED_POLL_S = 2.0  # once the run has ended: only a restart can bring more
CLOSED_CHECK_S = 0.1  # a closed monitor's follower stops within this long
MAX_BACKOFF_S = 30.0  # longest wait between polls after read errors (network down, ...)


@dataclass
class Update:
    """What one follower poll brought."""

    frames: list[Frame] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
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


class FollowedMonitor(Protocol):
    """What a follower needs from the monitor it feeds (``Monitor`` has these, public)."""

    @property
    def closed(self) -> bool: ...

    def show(self, frames: list[Frame], alerts: list[Alert], *, send: bool = True) -> None: ...

    def report_problem(self, text: str) -> None: ...

    def show_status(self, text: str) -> None: ...

    def run_alert_callbacks(self, alerts: list[Alert]) -> None: ...


class FollowThread(threading.Thread):
    """Polls a follower and hands what it brings to a monitor, until the monitor is closed."""

    def __init__(self, cam: FollowedMonitor, follower: RunFollower, poll: float) -> None:
        super().__init__(name="sentrycam-watch", daemon=True)
        self._cam = weakref.ref(cam)
        self.follower = follower
        self.poll = poll
        self.state = "waiting"  # waiting | following | ended
        self.last_error: str | None = None
        self.polls = 0
        self.shown: list[tuple[int, float]] = []  # (frames so far, time.time()) per hand-over

    def stats(self) -> dict[str, Any]:
        """What ``cam.stats["watch"]`` tells: state, frames read, restarts seen, polls, whether
        it still runs."""
        return {
            "state": self.state,
            "running": self.is_alive(),
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
                    cam.report_problem(message + "; retrying")
                self.last_error = message
                wait = min(wait * 2, MAX_BACKOFF_S)
            else:
                if not update.exists and not told_missing:
                    told_missing = True
                    cam.show_status(f"waiting for {self.follower.tail.location.given} to appear")
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

    def _hand_over(self, cam: FollowedMonitor, update: Update) -> None:
        given = self.follower.tail.location.given
        if update.restarted and self.follower.restarts:
            cam.show_status(f"{given} was rewritten: a new run started; its frames follow the old")
        if update.frames or update.alerts:
            cam.show(update.frames, update.alerts)
            cam.run_alert_callbacks(update.alerts)  # on_alert functions, on this thread
        if update.frames:
            self.state = "following"
            self.shown.append((self.follower.frames, time.time()))
        if update.ended is not None and self.state != "ended":
            self.state = "ended"
            frames = update.ended.get("frames", self.follower.frames)
            cam.show_status(f"the run ended: {frames} frames were recorded in {given}")
        elif update.ended is None and self.state == "ended":
            self.state = "following"
