"""Monitor: the public widget that captures activations during training and streams them live.

A thin façade over the pieces of the data flow: :mod:`.capture` (probe pass, hooks, pooling) and
:mod:`.cadence` on the training thread; :mod:`.builder` (metrics, alerts, projection, encoding),
the recording and :mod:`.channel` (sends to the views) on the background :mod:`.worker`.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import time
import uuid
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from . import notices
from .builder import Capture, FrameBuilder, LayerCapture
from .cadence import Cadence
from .capture import DEFAULT_PROBE_BATCH, Probe, ProbeRun, ProbeRunner, resolve_layers
from .channel import ViewChannel
from .distributed import Distributed
from .frames import Frame
from .groups import GroupNames, task_boundary
from .html import write_html
from .inputs import Inputs
from .pipeline import CapturePipeline
from .pool import check_pool, pool_for
from .problems import ProblemLog, SentrycamWarning
from .project import DEFAULT_MAX_DIM, DEFAULT_MAX_FRAME_BYTES
from .protocol import DEFAULT_MAX_FRAMES, REDUCERS
from .record import Recorder
from .settings import check_class_names, check_settings, step_number
from .snapshot import Snapshot

__all__ = ["Monitor", "SentrycamWarning"]

STATIC = Path(__file__).parent / "static"
CLOSE_TIMEOUT_S = 60.0  # close() and interpreter exit wait this long for queued captures

# Shown instead of the view when the package was installed without its frontend bundle.
_MISSING_BUNDLE_ESM = """
export default { render({ el }) {
  el.textContent = "sentrycam: the frontend bundle (static/widget.js) is missing, so the view "
    + "cannot be shown. Capture, metrics, alerts and recording still work. Run npm run build.";
} };
"""


def _static_or(path: Path, fallback: str) -> Path | str:
    """``path`` when it exists (anywidget reads it), else inline ``fallback`` source."""
    return path if path.exists() else fallback


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

    _esm = _static_or(STATIC / "widget.js", _MISSING_BUNDLE_ESM)
    _css = _static_or(STATIC / "widget.css", "")

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
    ) -> None:
        layer_names = [layers] if isinstance(layers, str) else [str(name) for name in layers]
        check_settings(
            every, reducer, dtype, max_frames, max_dim, max_frame_bytes, probe_batch, budget
        )
        names = check_class_names(class_names)
        self._groups = GroupNames()  # the group-name list every frame's codes index into
        self._tasks: tuple[dict[str, Any], ...] = ()  # task boundaries (cam.task), in order
        self._last_step = 0  # the last step given to step()/log(): where task() marks
        check_pool(pool, layer_names if model is not None else None)
        dist = Distributed.for_process(distributed, model=model, budget=budget, record=record)
        self._dist = dist
        self._follower: Any = None  # set by sentrycam.watch: the thread following a recording
        self._idle = not dist.active  # step() returns at once: another rank does the work
        self._probe: Probe | None = None
        self._runner: ProbeRunner | None = None
        self._run_probe: Probe | None = None  # what this process runs: the probe or its part
        self._run_probe_of: Probe | None = None  # ... of this probe (bound later by integrations)
        self._agreed = {"layers": layer_names, "every": every, "probe_batch": probe_batch}
        if model is not None:
            self._attach(model, probe, layer_names, pool)
        elif probe is not None:
            self._probe = Probe(probe, needs_model_input=False, group_names=self._groups)
        record = dist.record_path(record)  # None on a rank that makes no frames
        recorder = Recorder(record) if record is not None else None
        super().__init__(
            layers=layer_names,
            reducer=reducer,
            every=every,
            title=title,
            class_names=names,
            _uid=uuid.uuid4().hex,
        )
        self._pool = pool
        self._probe_batch = probe_batch or DEFAULT_PROBE_BATCH
        self._sync = sync
        self._recorder = recorder
        self._alert_callbacks: list[Callable[[Any], Any]] = []
        self._log = ProblemLog(lambda text: self._channel.notice(text), strict=strict)
        self._inputs = Inputs(self._log.report, self._groups)
        self._channel = ViewChannel(
            lambda content, buffers=None: self.send(content, buffers),
            max_frames=max_frames,
            max_bytes=max_bytes,
            on_problem=self._log.report,
            on_trim=self._on_trim,
        )
        self._builder = FrameBuilder(
            dtype=dtype,
            max_dim=max_dim,
            max_frame_bytes=max_frame_bytes,
            auditor=_make_auditor(self._log.report, alerts) if metrics else None,
            problem=self._log.report,
        )
        self._cadence = Cadence(every, budget, lockstep=dist.shards)
        self._pipeline = CapturePipeline(
            builder=self._builder,
            channel=self._channel,
            recorder=recorder,
            log=self._log,
            cadence=self._cadence,
            sync=sync,
            callbacks=self._alert_callbacks,
        )
        self.on_msg(self._handle_message)
        self._ipython_events = notices.register(self)
        _LIVE.add(self)
        if not (STATIC / "widget.js").exists() and dist.makes_frames:
            self._log.report(
                "the frontend bundle python/sentrycam/static/widget.js is missing, so no view can "
                "be shown (capture, metrics and recording still work); run `npm run build`"
            )

    # ---- what was captured ------------------------------------------------------------------

    @property
    def frames(self) -> list[Frame]:
        """Frames held in memory (oldest first), bounded by ``max_frames``/``max_bytes``.

        Waits for the background thread to finish the captures handed to it.
        """
        self._pipeline.settle()
        return self._channel.history()

    @property
    def alerts(self) -> list[Any]:
        """Every alert raised so far (waits for the background thread, like ``frames``)."""
        self._pipeline.settle()
        return self._pipeline.alerts

    @property
    def problems(self) -> list[str]:
        """The problems sentrycam worked around, in plain words (waits like ``frames``)."""
        self._pipeline.settle()
        return self._log.messages

    @property
    def tasks(self) -> list[dict[str, Any]]:
        """The task boundaries marked so far (:meth:`task`), in order: ``{"step", "name"}``."""
        return [dict(t) for t in self._tasks]

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has finished (nothing more is captured or followed)."""
        return self._pipeline.closed

    @property
    def stats(self) -> dict[str, Any]:
        """How monitoring runs: captures, cadence, time on the training thread, backpressure,
        and this process's rank (``distributed``, ``rank``, ``world_size``)."""
        stats = {**self._pipeline.stats(), **self._dist.stats()}
        if self._follower is not None:
            stats["watch"] = self._follower.stats()
        return stats

    # ---- capture ----------------------------------------------------------------------------

    def step(self, step: int, **scalars: Any) -> None:
        """Call once per training step; every ``every`` steps capture the probe and send frames."""
        # This runs on every training step: a few microseconds matter on a fast model, so the
        # common case is checked inline and the clock is read once at most.
        if self._idle:
            return
        if type(step) is not int:
            step = step_number(step)
        self._last_step = step
        pipeline, cadence = self._pipeline, self._cadence
        if pipeline.undelivered or pipeline.log.pending:
            pipeline.deliver()
        if self._runner is None:
            raise RuntimeError(
                "step() needs a model and a probe: Monitor(model, layers=[...], probe=(x, y)); "
                "without a model use cam.log(step, {name: array})"
            )
        worker = pipeline.worker
        idle_since = worker.idle_since if worker is not None and cadence.budget else None
        if not cadence.due(step, idle_since):
            if self._sync:
                self._channel.flush_due()  # frames batched during a burst leave within ~20 ms
            return
        try:
            self._capture_step(step, scalars)
        finally:
            cadence.captured_until_now()

    def _capture_step(self, step: int, scalars: dict[str, Any]) -> None:
        assert self._runner is not None and self._probe is not None  # set together
        t0 = time.perf_counter()
        try:
            if self._run_probe_of is not self._probe:  # bound after construction
                self._bind_probe()
            run = (
                self._dist.run_shard(self._probe_pass) if self._dist.shards else self._probe_pass()
            )
        except Exception as exc:  # the training loop must go on
            self._log.report(f"step {step}: running the probe failed ({type(exc).__name__}: {exc})")
            return
        if run is None:  # this rank's part of a sharded pass is with rank 0, which makes frames
            self._cadence.captured(step, t0, time.perf_counter() - t0, 0.0, 0.0)
            return
        for problem in run.problems:
            self._log.report(f"step {step}: {problem}")
        probe = self._probe
        layers = {
            name: LayerCapture(pooled, labels=probe.labels, preds=run.preds, groups=probe.groups)
            for name, pooled in run.layers.items()
        }
        capture = Capture(
            step,
            layers,
            self._inputs.scalars(step, scalars),
            self._cadence.effective_every,
            run.ready,
            group_names=self._groups.names,
            tasks=self._tasks,
        )
        self._pipeline.submit(capture, t0)

    def _attach(self, model: Any, probe: Any, layer_names: list[str], pool: Any) -> None:
        """Watch ``layer_names`` of ``model`` with ``probe``: at construction, or when a framework
        callback learns the model at the start of training. Unknown names raise ``ValueError``."""
        modules = resolve_layers(model, layer_names)
        if probe is None:
            raise ValueError(
                "a model needs a fixed probe set: pass probe=(x, y) with x a tensor of inputs "
                "and y integer labels (or probe=x)"
            )
        check_pool(pool, layer_names)
        self._probe = Probe(probe, needs_model_input=True, group_names=self._groups)
        if self._dist.active:  # no runner (no hooks, no probe on the device) on an idle rank
            self._runner = ProbeRunner(model, modules, lambda name: pool_for(pool, name))
            self._bind_probe()

    def _show(self, frames: list[Frame], alerts: list[Any], *, send: bool = True) -> None:
        """Frames and alerts made elsewhere (a recording being replayed or followed): kept,
        listed, and sent to the views (``send=False``: sent when a view says hello)."""
        known = list(self.layers)
        for frame in frames:
            if frame.layer not in known:
                known.append(frame.layer)
            self._builder.next_seq = max(self._builder.next_seq, frame.seq + 1)
        if known != list(self.layers):
            self.layers = known
        if frames and tuple(frames[-1].tasks) != self._tasks:  # the run's boundaries so far
            self._tasks = tuple(dict(t) for t in frames[-1].tasks)
            self._channel.set_tasks(self.tasks)
        self._channel.push(frames, send=send)
        if send:
            self._channel.flush()
        self._pipeline.alerts.extend(alerts)
        if send:
            self._channel.send_alerts(alerts)

    def _problem(self, text: str) -> None:
        """Report a problem: a ``SentrycamWarning``, listed in ``cam.problems``, shown in views."""
        self._log.report(text)

    def _status(self, text: str) -> None:
        """Tell the views where a followed run stands (kept: a later view is told too)."""
        self._channel.status(text)

    def _call_back(self, alerts: list[Any]) -> None:
        """Run the ``on_alert`` functions now, on this thread (a followed run: no training loop
        calls in); their exceptions are reported as problems."""
        for alert in alerts:
            for fn in list(self._alert_callbacks):
                try:
                    fn(alert)
                except Exception as exc:
                    self._log.report(f"on_alert function {fn!r} raised {type(exc).__name__}: {exc}")

    def _bind_probe(self) -> None:
        """Run ``_probe`` from now on: all of it, or this rank's part when sharded (then a
        collective that checks that every rank agrees)."""
        assert self._runner is not None and self._probe is not None
        self._run_probe = self._dist.bind(self._probe, self._runner.model, self._agreed)
        self._run_probe_of = self._probe
        self._run_probe.follow(self._runner.inner)

    def _probe_pass(self) -> ProbeRun:
        """Run this process's probe (the whole probe, or its part in a sharded pass)."""
        assert self._runner is not None and self._run_probe is not None
        self._run_probe.follow(self._runner.inner)  # the model may have moved since
        return self._runner.run(self._run_probe, self._probe_batch)

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
        step = step_number(step)
        self._last_step = step
        if not isinstance(activations, Mapping):
            raise TypeError(
                f"log() takes a dict of {{layer name: array}}, got {type(activations).__name__}"
            )
        self._pipeline.deliver()
        t0 = time.perf_counter()
        probe = self._probe
        if probe is not None and labels is None:
            labels = probe.labels
        layers: dict[str, LayerCapture] = {}
        for key, values in activations.items():
            name = str(key)
            if name not in self.layers:
                self.layers = [*self.layers, name]
            layer = self._inputs.layer(
                step,
                name,
                values,
                pool_for(self._pool, name),
                labels=labels,
                preds=preds,
                ids=ids,
                groups=groups,
                default_groups=probe.groups if probe is not None else None,
            )
            if layer is not None:
                layers[name] = layer
        scalars = self._inputs.scalars(step, scalars)
        capture = Capture(step, layers, scalars, group_names=self._groups.names, tasks=self._tasks)
        self._pipeline.submit(capture, t0)

    def task(self, name: str) -> None:
        """Mark a task boundary: training on task ``name`` starts at the current step (the last
        step given to ``step()``/``log()``; 0 before any). Every frame captured from now on
        carries every boundary marked so far; the views mark them on the timeline; a group
        whose task has ended is watched for forgetting (:mod:`.forgetting`)."""
        self._tasks = (*self._tasks, task_boundary(name, self._last_step))
        self._channel.set_tasks(self.tasks)

    # ---- alerts, exports, lifecycle ---------------------------------------------------------

    def on_alert(self, fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """Call ``fn(alert)`` on the training thread for every new alert: at the next
        ``step()``/``log()`` after the alert was computed, or in ``flush()``/``close()``
        (inside the same step with ``sync=True``). Its exceptions propagate to that call."""
        self._alert_callbacks.append(fn)
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
        from .follow import AlertReplay
        from .readback import iter_recording

        replay = AlertReplay(kwargs.pop("alerts", None))
        cam = cls(metrics=False, **kwargs)
        frames = list(iter_recording(path))
        cam._show(frames, replay.feed(frames), send=False)
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
        self._runner = None
        pipeline.close(CLOSE_TIMEOUT_S)
        notices.unregister(self._ipython_events)
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
        self._channel.handle(content, buffers, self._pipeline.alerts)

    def _on_trim(self, frame: Frame) -> None:
        if self._channel.stream.trimmed_frames == 1:
            where = (
                f"all frames are kept in {self._recorder.path}"
                if self._recorder is not None
                else "pass record='run.arrows' to keep every frame on disk"
            )
            self._log.report(
                f"the in-memory history is full (max_frames/max_bytes); frames older than step "
                f"{frame.step} are no longer held in cam.frames or replayed to new views ({where})"
            )


def _make_auditor(on_problem: Callable[[str], Any], engine: Any = None) -> Any:
    try:
        from .audit import Auditor
    except ImportError:
        return None
    return Auditor(engine, on_problem=on_problem)


_LIVE: weakref.WeakSet[Monitor] = weakref.WeakSet()


@atexit.register
def _close_live_monitors() -> None:
    """At interpreter exit, finish what live monitors captured (recordings complete)."""
    for cam in list(_LIVE):
        with contextlib.suppress(Exception):
            cam.close()
