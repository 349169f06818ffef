"""Kernel-side transport: a bounded frame history and a rate-safe sender of comm messages.

Frames travel as buffers of custom comm messages ``{"type": "frames", "seqs": [...]}`` (one
Arrow IPC stream per buffer). A view that appears late says which seqs it holds with
``{"type": "hello", "have": [[first, last], ...]}`` and every kept frame it lacks is replayed.
Sends are paced so the Jupyter server's IOPub rate limit (1000 msgs/s by default; exceeding
it silently drops messages) is never approached: frames that come faster are batched into the
next message, and :meth:`FrameStream.flush` sends the rest.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable

from ..contract import FramesMessage
from ._frames import Frame

MIN_SEND_INTERVAL_S = 0.02  # at most ~50 messages/s from one monitor
MAX_MESSAGE_BYTES = 32 * 1024 * 1024  # replay chunks; keeps each websocket message reasonable

SendFn = Callable[[FramesMessage, list[bytes]], None]


class FrameStream:
    """Bounded history of frames (by count and bytes) plus paced, batched sending."""

    def __init__(
        self,
        send: SendFn,
        *,
        max_frames: int,
        max_bytes: int,
        on_trim: Callable[[Frame], None] | None = None,
    ) -> None:
        self._send = send
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self._on_trim = on_trim
        self.history: deque[Frame] = deque()
        self.history_bytes = 0
        self._pending: list[Frame] = []
        self._last_send = 0.0
        self.sent_frames = 0
        self.trimmed_frames = 0

    def push(self, frames: Iterable[Frame], *, send: bool = True) -> None:
        """Keep ``frames`` in the history and send them (now, or batched with the next send)."""
        for frame in frames:
            self.history.append(frame)
            self.history_bytes += frame.memory
            if send:
                self._pending.append(frame)
        self._trim()
        self.flush_due()

    def flush_due(self) -> bool:
        """Send what is pending if the pacing interval has passed (one clock read otherwise).

        Returns True while frames still wait for their paced send.
        """
        if self._pending and time.monotonic() - self._last_send >= MIN_SEND_INTERVAL_S:
            self.flush()
        return bool(self._pending)

    def flush(self) -> None:
        """Send every frame not yet sent."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        self._send_chunked(pending)
        self._last_send = time.monotonic()
        self.sent_frames += len(pending)

    def replay(self, have: list[list[int]]) -> int:
        """Re-send every kept frame the view lacks; return how many were sent.

        ``have`` is the view's inclusive ``[first, last]`` seq ranges.
        """
        self.flush()
        ranges = [(int(a), int(b)) for a, b in have]
        frames = [f for f in self.history if not any(a <= f.seq <= b for a, b in ranges)]
        self._send_chunked(frames)
        return len(frames)

    def _send_chunked(self, frames: list[Frame]) -> None:
        chunk: list[Frame] = []
        size = 0
        for frame in frames:
            if chunk and size + frame.nbytes > MAX_MESSAGE_BYTES:
                self._send_one(chunk)
                chunk, size = [], 0
            chunk.append(frame)
            size += frame.nbytes
        if chunk:
            self._send_one(chunk)

    def _send_one(self, frames: list[Frame]) -> None:
        content: FramesMessage = {"type": "frames", "seqs": [f.seq for f in frames]}
        self._send(content, [f.ipc for f in frames])

    def _trim(self) -> None:
        while len(self.history) > 1 and (
            len(self.history) > self.max_frames or self.history_bytes > self.max_bytes
        ):
            old = self.history.popleft()
            self.history_bytes -= old.memory
            self.trimmed_frames += 1
            if self._on_trim is not None:
                self._on_trim(old)
