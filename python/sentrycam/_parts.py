"""The collaborators behind one ``Monitor``, made and wired together in one place."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._settings import MonitorSettings
from .alerts import Alert, AlertEngine, AlertLog, Auditor
from .base import GroupNames, ProblemLog
from .capture import Cadence, Distributed, Inputs
from .pipeline import CapturePipeline, FrameBuilder
from .recording import Recorder
from .wire import Frame, ViewChannel

__all__ = ["MonitorParts", "assemble"]


@dataclass
class MonitorParts:
    """A monitor's pieces of the data flow after the training thread, and its alerts."""

    log: ProblemLog  # problems worked around: warnings, notices, cam.problems
    inputs: Inputs  # log()'s arrays and every step's scalars, checked
    channel: ViewChannel  # the views: frames, alerts, notices, tasks, snapshots
    builder: FrameBuilder  # capture → metrics, alerts, frames
    cadence: Cadence  # which steps capture; the timings behind cam.stats
    pipeline: CapturePipeline  # the background thread, recording and sending
    recorder: Recorder | None
    alerts: AlertLog  # every alert, bounded: the one place they are kept
    callbacks: list[Callable[[Any], Any]] = field(default_factory=list)  # on_alert functions

    def show(self, frames: list[Frame], alerts: list[Alert], *, send: bool) -> None:
        """Keep and send frames and alerts made elsewhere (a recording replayed or followed;
        ``send=False``: sent when a view says hello)."""
        for frame in frames:
            self.builder.next_seq = max(self.builder.next_seq, frame.seq + 1)
        self.channel.push(frames, send=send)
        if send:
            self.channel.flush()
        self.alerts.extend(alerts)
        if send:
            self.channel.send_alerts(alerts)


def assemble(
    settings: MonitorSettings,
    dist: Distributed,
    groups: GroupNames,
    *,
    send: Callable[..., Any],
    engine: AlertEngine | None,
) -> MonitorParts:
    """Make and wire the pieces for ``settings``; ``send(content, buffers)`` reaches the views."""
    channel: ViewChannel | None = None

    def notice(text: str) -> None:
        if channel is not None:
            channel.notice(text)

    log = ProblemLog(notice, strict=settings.strict)
    record = dist.record_path(settings.record)  # None on a rank that makes no frames
    recorder = Recorder(record) if record is not None else None

    def on_trim(frame: Frame) -> None:
        if channel is not None and channel.stream.trimmed_frames == 1:
            where = (
                f"all frames are kept in {recorder.path}"
                if recorder is not None
                else "pass record='run.arrows' to keep every frame on disk"
            )
            log.report(
                f"the in-memory history is full (max_frames/max_bytes); frames older than step "
                f"{frame.step} are no longer held in cam.frames or replayed to new views ({where})"
            )

    channel = ViewChannel(
        send,
        max_frames=settings.max_frames,
        max_bytes=settings.max_bytes,
        on_problem=log.report,
        on_trim=on_trim,
    )
    alerts = AlertLog()
    auditor = Auditor(engine, on_problem=log.report, log=alerts) if settings.metrics else None
    builder = FrameBuilder(
        dtype=settings.dtype,
        max_dim=settings.max_dim,
        max_frame_bytes=settings.max_frame_bytes,
        auditor=auditor,
        problem=log.report,
    )
    cadence = Cadence(settings.every, settings.budget, lockstep=dist.shards)
    callbacks: list[Callable[[Any], Any]] = []
    pipeline = CapturePipeline(
        builder=builder,
        channel=channel,
        recorder=recorder,
        log=log,
        cadence=cadence,
        sync=settings.sync,
        callbacks=callbacks,
    )
    return MonitorParts(
        log=log,
        inputs=Inputs(log.report, groups),
        channel=channel,
        builder=builder,
        cadence=cadence,
        pipeline=pipeline,
        recorder=recorder,
        alerts=alerts,
        callbacks=callbacks,
    )
