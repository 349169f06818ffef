"""The capture pipeline: everything that happens to a capture after the training thread took it.

A :class:`Capture` goes to the background :class:`CaptureWorker` (or is processed at once with
``sync=True``): the :class:`FrameBuilder` makes frames, metrics and alerts; frames are recorded and
pushed to the views; alerts are sent to the views and wait for the training thread, which runs the
``on_alert`` callbacks (and gives the warnings of background problems) in :meth:`deliver`.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from ..base import ProblemLog
from ..capture import Cadence, Capture
from ..recording import Recorder
from ..wire import ViewChannel
from ._builder import FrameBuilder
from ._worker import CaptureWorker

WORKER_COST_WINDOW = 8  # captures in the running median of the background thread's CPU time


class CapturePipeline:
    """Turns captures into recorded, sent frames and alerts; the numbers behind ``cam.stats``."""

    def __init__(
        self,
        *,
        builder: FrameBuilder,
        channel: ViewChannel,
        recorder: Recorder | None,
        log: ProblemLog,
        cadence: Cadence,
        sync: bool,
        callbacks: list[Callable[[Any], Any]],
    ) -> None:
        self.builder = builder
        self.channel = channel
        self.recorder = recorder
        self.log = log
        self.cadence = cadence
        self.sync = sync
        self.callbacks = callbacks  # on_alert functions, run by ``deliver``
        self.closed = False
        self.undelivered: list[Any] = []  # alerts whose callbacks have not run yet
        self._capture_bytes: deque[int] = deque(maxlen=64)
        self._lock = threading.Lock()
        self.worker: CaptureWorker | None = None  # started by the first capture

    def submit(self, capture: Capture, t0: float) -> None:
        """Hand over a capture begun at ``t0`` (``perf_counter``); waits while the queue is full."""
        if self.closed:
            self.log.report(
                f"step {capture.step}: this monitor is closed; the capture was not kept"
            )
            return
        waited = 0.0
        try:
            if self.sync:
                try:
                    self._process(capture)
                except Exception as exc:  # as on the background thread: training goes on
                    self._worker_failed(exc)
            else:
                if self.worker is None:
                    self.worker = CaptureWorker(
                        self._process, self.channel.flush_due, on_error=self._worker_failed
                    )
                waited = self.worker.submit(capture)
        finally:  # counted even when an interrupt ends the wait: the capture was handed over
            busy = self.worker.busy_s[-WORKER_COST_WINDOW:] if self.worker is not None else []
            worker_s = statistics.median(busy) if busy else 0.0
            train_s = time.perf_counter() - t0
            probe = capture.every is not None  # log() captures do not move the probe's cadence
            self.cadence.captured(capture.step, t0, train_s, waited, worker_s, probe=probe)
        if self.sync:
            self.deliver()  # the alert inside the same step

    def _process(self, capture: Capture) -> None:
        """Metrics, alerts, encoding, recording and sending of one capture."""
        frames, alerts = self.builder.build(capture)
        if self.recorder is not None:
            for frame in frames:
                try:
                    self.recorder.write(frame)
                except Exception as exc:  # disk full etc. must not stop training
                    self.log.report(f"recording to {self.recorder.path} failed: {exc}")
        self.channel.push(frames)
        with self._lock:
            self._capture_bytes.append(sum(f.nbytes for f in frames))
            self.undelivered.extend(alerts)
        self.channel.send_alerts(alerts + self.builder.updated_alerts())

    def deliver(self) -> None:
        """On the training thread: warnings of background problems, then the alert callbacks."""
        self.log.warn_pending()
        while self.undelivered:
            with self._lock:  # one at a time: a callback that raises leaves the rest queued
                alert = self.undelivered.pop(0)
            for fn in list(self.callbacks):
                fn(alert)

    def call_back_now(self, alerts: list[Any]) -> None:
        """Run the ``on_alert`` functions on ``alerts`` now, on this thread (a followed run: no
        training loop calls in); their exceptions are reported as problems."""
        for alert in alerts:
            for fn in list(self.callbacks):
                try:
                    fn(alert)
                except Exception as exc:
                    self.log.report(f"on_alert function {fn!r} raised {type(exc).__name__}: {exc}")

    def settle(self) -> None:
        """Wait for the background thread to finish what it was given (a no-op inside it)."""
        if self.worker is not None:
            self.worker.join()

    def flush(self) -> None:
        """Finish every capture handed over and send every frame not yet sent."""
        self.settle()
        self.channel.flush()

    def close(self, timeout: float) -> None:
        """Finish what was handed over (up to ``timeout`` s), send it, close the recording.

        Marked closed only once done, so a close interrupted by Ctrl-C can be called again.
        """
        finished = self.worker is None or self.worker.stop(timeout)
        self.channel.flush()
        if not finished:
            self.log.report(
                f"closing: the background thread did not finish within {timeout:.0f} s; the "
                "captures it still holds are not recorded"
            )
        elif self.recorder is not None:
            try:
                self.recorder.close()
            except Exception as exc:  # the network is down at the end: say so, never raise
                self.log.report(f"closing the recording {self.recorder.path} failed: {exc}")
        self.closed = True

    def stats(self) -> dict[str, Any]:
        """Captures, cadence, training-thread and background time, backpressure, bytes."""
        c = self.cadence
        busy = self.worker.busy_s if self.worker is not None else []
        with self._lock:
            sizes = list(self._capture_bytes)
        return {
            "captures": c.captures,
            "every": c.every,
            "effective_every": c.effective_every,
            "budget": c.budget,
            "sync": self.sync,
            "train_thread_ms": _median_ms(c.train_thread_s),
            "waited_ms": c.waited_s * 1e3,
            "worker_ms": _median_ms(busy),
            "queued": self.worker.pending if self.worker is not None else 0,
            "bytes_per_capture": int(statistics.median(sizes)) if sizes else 0,
            "frames_sent": self.channel.stream.sent_frames,
        }

    def _worker_failed(self, exc: BaseException) -> None:
        self.log.report(
            f"the background thread hit a bug and went on ({type(exc).__name__}: {exc})"
        )


def _median_ms(values: Any) -> float:
    values = list(values)
    return statistics.median(values) * 1e3 if values else 0.0
