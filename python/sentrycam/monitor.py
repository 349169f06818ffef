"""Monitor: the public widget that captures activations during training and streams them live.

A thin façade over the data flow: :mod:`.capture` on the training thread (a
:class:`~.capture.ProbeSession`: probe pass, hooks, pooling; the cadence), then on the background
thread :mod:`.pipeline` (metrics and alerts, width cap, encoding), :mod:`.recording` and
:mod:`.wire` (frames to the views). Its pieces are made in :mod:`._parts` from settings checked
once in :mod:`._settings`.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import uuid
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from ._capturer import Capturer
from ._notices import register, unregister
from ._parts import assemble
from ._settings import MonitorSettings
from .alerts import Alert
from .base import GroupNames, SentrycamWarning
from .capture import Distributed, ProbeSession
from .contract import DEFAULT_MAX_FRAMES, REDUCERS
from .pipeline import DEFAULT_MAX_DIM, DEFAULT_MAX_FRAME_BYTES
from .wire import CSS, ESM, Frame, Snapshot, bundle_missing, write_html

__all__ = ["Monitor", "SentrycamWarning"]

CLOSE_TIMEOUT_S = 60.0  # close() and interpreter exit wait this long for queued captures


class Monitor(anywidget.AnyWidget):
    """Watch the hidden layers of a model (or any arrays) while it trains.

    ``Monitor(model, layers=["fc1"], probe=(x, y), every=50)`` watches the named modules;
    ``cam.step(step, loss=...)`` runs the probe every ``every`` steps and sends one frame per layer
    to every displayed view. ``cam.log(step, {"name": array})`` does the same without a model.
    By default only the probe pass, pooling and the copy to the CPU happen on the training thread;
    metrics, alerts, encoding, recording and sending run on a background thread (``sync=True``
    does everything inside the step). In a ``torch.distributed`` job only rank 0 captures
    (``distributed="rank0"``); ``distributed="shard"`` splits the probe pass over every rank (FSDP);
    see :mod:`.distributed`. ``cam.task(name)`` marks a task boundary and ``probe=(x, y, groups)``
    (or ``log(..., groups=...)``) puts samples in groups: per-group metrics and forgetting alerts
    (:mod:`.groups`, :mod:`.group_metrics`, :mod:`.forgetting`).
    """

    _esm = ESM
    _css = CSS

    layers = traitlets.List(traitlets.Unicode()).tag(sync=True)
    reducer = traitlets.Unicode(REDUCERS[0]).tag(sync=True)
    # Kernel-side only (the views read the cadence from each frame; the title is the page's).
    every = traitlets.Int(50)
    title = traitlets.Unicode("")
    #: A name per class id (``class_names[3]`` names label 3): the views' hover text and legend.
    class_names = traitlets.List(traitlets.Unicode()).tag(sync=True)
    #: The ids of the samples selected in a view; the view writes it, so it is current in Python
    #: once the running cell has finished (ipykernel handles view messages between cells).
    selection = traitlets.List(traitlets.Int()).tag(sync=True)
    _uid = traitlets.Unicode("").tag(sync=True)  # keys the browser-side state shared by views

    def __init__(
        self,
        model: Any = None,
        layers: Any = (),
        probe: Any = None,
        every: int = 50,
        *,
        record: str | os.PathLike[str] | None = None,
        max_frames: int = DEFAULT_MAX_FRAMES,
        max_bytes: int = 1 << 30,
        reducer: str = REDUCERS[0],
        dtype: str = "float32",
        title: str = "",
        strict: bool = False,
        metrics: bool = True,
        pool: Any = "auto",
        max_dim: int = DEFAULT_MAX_DIM,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        probe_batch: int | None = None,
        sync: bool = False,
        budget: float | None = None,
        alerts: Any = None,
        distributed: str = "rank0",
        class_names: Any = None,
        batch_first: bool = True,
        probe_mode: str = "eval",
    ) -> None:
        settings = MonitorSettings.check(
            layers=layers,
            has_model=model is not None,
            every=every,
            record=record,
            max_frames=max_frames,
            max_bytes=max_bytes,
            reducer=reducer,
            dtype=dtype,
            title=title,
            strict=strict,
            metrics=metrics,
            pool=pool,
            max_dim=max_dim,
            max_frame_bytes=max_frame_bytes,
            probe_batch=probe_batch,
            sync=sync,
            budget=budget,
            distributed=distributed,
            class_names=class_names,
            batch_first=batch_first,
            probe_mode=probe_mode,
        )
        self._settings = settings
        dist = Distributed.for_process(distributed, model=model, budget=budget, record=record)
        self._dist = dist
        groups = GroupNames()
        self._extra_stats: dict[str, Callable[[], dict[str, Any]]] = {}
        self._session = ProbeSession(
            dist,
            groups,
            pool=pool,
            probe_batch=settings.probe_chunk,
            agreed=settings.agreed(),
            batch_first=batch_first,
            probe_mode=probe_mode,
        )
        if model is not None:
            self._session.bind(model, probe, settings.layers, pool_checked=True)
        elif probe is not None:
            self._session.set_probe(probe)
        super().__init__(
            layers=settings.layers,
            reducer=reducer,
            every=every,
            title=title,
            class_names=settings.class_names,
            _uid=uuid.uuid4().hex,
        )
        parts = assemble(
            settings,
            dist,
            groups,
            send=lambda content, buffers=None: self.send(content, buffers),
            engine=alerts,
        )
        self._parts = parts
        self._log, self._channel, self._pipeline = parts.log, parts.channel, parts.pipeline
        self._capturer = Capturer(self._session, parts, dist, groups)
        self.on_msg(self._handle_message)
        self._ipython_events = register(self)
        _LIVE.add(self)
        if bundle_missing() and dist.makes_frames:
            self._log.report(bundle_missing())

    # ---- what was captured ------------------------------------------------------------------

    @property
    def frames(self) -> list[Frame]:
        """Frames held in memory (oldest first), bounded by ``max_frames``/``max_bytes``.

        Waits for the background thread to finish the captures handed to it.
        """
        self._pipeline.settle()
        return self._channel.history()

    @property
    def alerts(self) -> list[Alert]:
        """Every alert raised so far (waits for the background thread, like ``frames``); the
        newest 10,000 are kept."""
        self._pipeline.settle()
        return self._parts.alerts.list()

    @property
    def problems(self) -> list[str]:
        """The problems sentrycam worked around, in plain words (waits like ``frames``)."""
        self._pipeline.settle()
        return self._log.messages

    @property
    def tasks(self) -> list[dict[str, Any]]:
        """The task boundaries marked so far (:meth:`task`), in order: ``{"step", "name"}``."""
        return [dict(t) for t in self._capturer.tasks]

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has finished (nothing more is captured or followed)."""
        return self._pipeline.closed

    @property
    def stats(self) -> dict[str, Any]:
        """How monitoring runs: captures, cadence, time on the training thread, backpressure,
        and this process's rank (``distributed``, ``rank``, ``world_size``)."""
        stats = {**self._pipeline.stats(), **self._dist.stats()}
        for key, source in self._extra_stats.items():
            stats[key] = source()
        return stats

    def report_stats(self, key: str, source: Callable[[], dict[str, Any]]) -> None:
        """Show ``source()`` under ``key`` in :attr:`stats` (``sentrycam.watch`` tells how it
        follows its recording this way)."""
        self._extra_stats[key] = source

    # ---- capture ----------------------------------------------------------------------------

    def step(self, step: int, **scalars: Any) -> None:
        """Call once per training step; every ``every`` steps capture the probe and send frames."""
        self._capturer.step(step, scalars)

    def bind(self, model: Any, *, probe: Any, layers: Any = None, pool: Any = None) -> None:
        """Watch ``layers`` (default: the monitor's) of ``model`` with ``probe`` from now on.

        For a monitor made before its model exists (the framework callbacks bind the trained
        model when training starts). Unknown layer names raise ``ValueError``; ``pool``
        (default: the monitor's) is checked against the layers.
        """
        names = list(self.layers) if layers is None else [str(n) for n in layers]
        if pool is not None:
            self._session.pool = pool
        self._session.bind(model, probe, names, pool_checked=False)
        if names != list(self.layers):
            self.layers = names

    # ---- for followers of a recording (recording.FollowedMonitor) --------------------------

    def show(self, frames: list[Frame], alerts: list[Alert], *, send: bool = True) -> None:
        """Show frames and alerts made elsewhere (a recording being replayed or followed): kept,
        listed, and sent to the views (``send=False``: sent when a view says hello)."""
        new = [frame.layer for frame in frames if frame.layer not in self.layers]
        if new:
            self.layers = [*self.layers, *dict.fromkeys(new)]
        if frames and tuple(frames[-1].tasks) != self._capturer.tasks:  # the run's so far
            self._capturer.tasks = tuple(dict(t) for t in frames[-1].tasks)
            self._channel.set_tasks(self.tasks)
        self._parts.show(frames, alerts, send=send)

    def report_problem(self, text: str) -> None:
        """Report a problem: a ``SentrycamWarning``, listed in ``cam.problems``, shown in views."""
        self._log.report(text)

    def show_status(self, text: str) -> None:
        """Tell the views where a followed run stands (kept: a later view is told too)."""
        self._channel.status(text)

    def run_alert_callbacks(self, alerts: list[Alert]) -> None:
        """Run the ``on_alert`` functions now, on this thread (a followed run: no training loop
        calls in); their exceptions are reported as problems."""
        self._pipeline.call_back_now(alerts)

    # ---- capture without a model ------------------------------------------------------------

    def log(
        self,
        step: int,
        activations: Mapping[str, Any],
        labels: Any = None,
        preds: Any = None,
        *,
        groups: Any = None,
        ids: Any = None,
        **scalars: Any,
    ) -> None:
        """Capture one frame per entry of ``activations`` ({layer name: array-like, one row per
        sample; more dimensions are pooled like a layer output}). ``groups``: one group per
        sample (integers or strings; the probe's groups by default). In a multi-process job
        only the ranks that make frames keep them (rank 0 unless ``distributed="all"``)."""
        if not self._dist.makes_frames:
            return
        step = self._capturer.log_step(step)
        if not isinstance(activations, Mapping):
            raise TypeError(
                f"log() takes a dict of {{layer name: array}}, got {type(activations).__name__}"
            )
        new = [str(key) for key in activations if str(key) not in self.layers]
        if new:
            self.layers = [*self.layers, *dict.fromkeys(new)]
        self._capturer.log(
            step, activations, scalars, labels=labels, preds=preds, groups=groups, ids=ids
        )

    def task(self, name: str) -> None:
        """Mark a task boundary: training on task ``name`` starts at the current step (the last
        step given to ``step()``/``log()``; 0 before any). Every frame captured from now on
        carries every boundary marked so far; the views mark them on the timeline; a group
        whose task has ended is watched for forgetting (:mod:`.forgetting`)."""
        self._capturer.mark_task(name)
        self._channel.set_tasks(self.tasks)

    # ---- alerts, exports, lifecycle ---------------------------------------------------------

    def on_alert(self, fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """Call ``fn(alert)`` on the training thread for every new alert: at the next
        ``step()``/``log()`` after the alert was computed, or in ``flush()``/``close()``
        (inside the same step with ``sync=True``). Its exceptions propagate to that call."""
        self._parts.callbacks.append(fn)
        return fn

    def snapshot(self, path: str | os.PathLike[str], format: str | None = None) -> Snapshot:
        """Ask the displayed view for a PNG/SVG of what it shows and write it to ``path``.

        Never blocks: the file is written when the view's reply reaches the kernel, which happens
        once the current cell has finished. See the README for the exact semantics.
        """
        self.flush()
        return self._channel.request_snapshot(path, format)

    def pending_snapshots(self) -> list[Snapshot]:
        """Snapshots requested from a view and not yet answered."""
        return list(self._channel.snapshots.values())

    def save_html(self, path: str | os.PathLike[str], title: str | None = None) -> Path:
        """Write a standalone HTML page of the frames held in memory (works offline, no kernel)."""
        return write_html(
            path,
            self.frames,
            alerts=self.alerts,
            layers=list(self.layers),
            reducer=self.reducer,
            title=title or self.title or "sentrycam",
            class_names=list(self.class_names),
            tasks=self.tasks,
        )

    @classmethod
    def replay(cls, path: str | os.PathLike[str], **kwargs: Any) -> Monitor:
        """A monitor showing a recording: every frame, with alerts recomputed from its metrics.

        ``kwargs`` go to ``Monitor`` (e.g. ``reducer="pca"``, ``max_frames``). The frames keep the
        metrics they were recorded with; the alert engine is run over them (and their scalars) in
        order, so ``cam.alerts`` is what the live run would have raised.
        """
        from .alerts import AlertReplay
        from .recording import iter_recording

        replay = AlertReplay(kwargs.pop("alerts", None))
        cam = cls(metrics=False, **kwargs)
        frames = list(iter_recording(path))
        cam.show(frames, replay.feed(frames), send=False)
        return cam

    def flush(self) -> None:
        """Return once everything captured so far is encoded, recorded and sent; then run the
        ``on_alert`` callbacks of new alerts (called automatically after each cell)."""
        self._pipeline.flush()
        self._pipeline.deliver()

    def close(self) -> None:
        """Finish what was captured (recorded, sent), close the recording; views stay usable."""
        pipeline = getattr(self, "_pipeline", None)
        if pipeline is None or pipeline.closed:
            return  # closed already, or a half-constructed monitor
        self._session.close()
        pipeline.close(CLOSE_TIMEOUT_S)
        unregister(self._ipython_events)
        self._ipython_events = None
        _LIVE.discard(self)
        self._pipeline.deliver()

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        self._channel.displayed = True
        self._channel.views_closed = False  # a new view is on its way
        return super()._repr_mimebundle_(**kwargs)

    # ---- helpers ----------------------------------------------------------------------------

    def _handle_message(self, _widget: Any, content: Any, buffers: list[Any]) -> None:
        self._channel.handle(content, buffers, self._parts.alerts.list())


_LIVE: weakref.WeakSet[Monitor] = weakref.WeakSet()


@atexit.register
def _close_live_monitors() -> None:
    """At interpreter exit, finish what live monitors captured (recordings complete)."""
    for cam in list(_LIVE):
        with contextlib.suppress(Exception):
            cam.close()
