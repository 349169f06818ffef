"""Monitor: the public widget that captures activations during training and streams them live."""

from __future__ import annotations

import contextlib
import math
import os
import re
import sys
import uuid
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets

from . import notices
from .capture import LayerHooks, Probe, device_of, first_tensor, resolve_layers
from .frames import Frame, as_int_vector, as_matrix, count_nonfinite, decode_frame, encode_frame
from .html import write_html
from .record import Recorder
from .snapshot import Snapshot, snapshot_format, write_snapshot
from .stream import FrameStream

STATIC = Path(__file__).parent / "static"
REDUCERS = ("umap", "pca")
PROBLEM_REPEATS = 3  # a recurring problem is told this many times, then every 100th


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


class SentrycamWarning(UserWarning):
    """A problem sentrycam worked around without stopping training."""


class Monitor(anywidget.AnyWidget):
    """Watch the hidden layers of a model (or any arrays) while it trains.

    ``Monitor(model, layers=["fc1"], probe=(x, y), every=50)`` registers forward hooks on the named
    modules; ``cam.step(step, loss=...)`` runs the probe every ``every`` steps and sends one frame
    per layer to every displayed view. ``cam.log(step, {"name": array})`` does the same without a
    model.
    """

    _esm = _static_or(STATIC / "widget.js", _MISSING_BUNDLE_ESM)
    _css = _static_or(STATIC / "widget.css", "")

    layers = traitlets.List(traitlets.Unicode()).tag(sync=True)
    reducer = traitlets.Unicode("umap").tag(sync=True)
    every = traitlets.Int(50).tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)
    _uid = traitlets.Unicode("").tag(sync=True)  # keys the browser-side state shared by views

    def __init__(
        self,
        model: Any = None,
        layers: Any = (),
        probe: Any = None,
        every: int = 50,
        *,
        record: str | os.PathLike[str] | None = None,
        max_frames: int = 1000,
        max_bytes: int = 1 << 30,
        reducer: str = "umap",
        dtype: str = "float32",
        title: str = "",
        strict: bool = False,
        metrics: bool = True,
    ) -> None:
        layer_names = [layers] if isinstance(layers, str) else list(layers)
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}")
        if reducer not in REDUCERS:
            raise ValueError(f"reducer must be one of {REDUCERS}, got {reducer!r}")
        if dtype not in ("float32", "float16"):
            raise ValueError(f"dtype must be 'float32' or 'float16', got {dtype!r}")
        if max_frames < 1:
            raise ValueError(f"max_frames must be at least 1, got {max_frames!r}")
        self._model = model
        self._probe: Probe | None = None
        self._hooks: LayerHooks | None = None
        if model is not None:
            modules = resolve_layers(model, layer_names)
            if probe is None:
                raise ValueError(
                    "a model needs a fixed probe set: pass probe=(x, y) with x a tensor of inputs "
                    "and y integer labels (or probe=x)"
                )
            self._probe = Probe(probe, needs_model_input=True)
            self._probe.to(device_of(model))
        elif probe is not None:
            self._probe = Probe(probe, needs_model_input=False)
        super().__init__(
            layers=layer_names, reducer=reducer, every=every, title=title, _uid=uuid.uuid4().hex
        )
        self._dtype = dtype
        self._strict = strict
        self._next_seq = 0  # taken only by frames that were encoded: no gaps for views to miss
        self._displayed = False
        self._views: set[str] = set()
        self._views_closed = False  # True once every view that said hello has said bye
        self._snapshots: dict[int, Snapshot] = {}
        self._alert_callbacks: list[Callable[[Any], Any]] = []
        self.alerts: list[Any] = []
        self.problems: list[str] = []
        self._problem_counts: dict[str, int] = {}
        self._auditor = _make_auditor() if metrics else None
        self._stream = FrameStream(
            self._send_frames, max_frames=max_frames, max_bytes=max_bytes, on_trim=self._on_trim
        )
        self._recorder = Recorder(record) if record is not None else None
        if model is not None:
            self._hooks = LayerHooks(modules, self._hook_failed)
        self.on_msg(self._handle_message)
        self._ipython_events = notices.register(self)
        if not self._esm_path_ok():
            self._problem(
                "the frontend bundle python/sentrycam/static/widget.js is missing, so no view can "
                "be shown (capture, metrics and recording still work); run `npm run build`"
            )

    # ---- public API -------------------------------------------------------------------------

    @property
    def frames(self) -> list[Frame]:
        """Frames still held in memory (oldest first), bounded by ``max_frames``/``max_bytes``."""
        return list(self._stream.history)

    def step(self, step: int, **scalars: Any) -> list[Frame]:
        """Call once per training step; every ``every`` steps capture the probe and send frames."""
        if self._model is None or self._hooks is None or self._probe is None:
            raise RuntimeError(
                "step() needs a model and a probe: Monitor(model, layers=[...], probe=(x, y)); "
                "without a model use cam.log(step, {name: array})"
            )
        if int(step) % self.every != 0:
            self._stream.flush_due()  # frames batched during a burst leave within ~20 ms
            return []
        try:
            self._probe.to(device_of(self._model))  # the model may have moved since
            outputs, model_output = self._hooks.run(self._model, self._probe)
        except Exception as exc:  # the training loop must go on
            self._problem(f"step {step}: running the probe failed ({type(exc).__name__}: {exc})")
            return []
        preds = _predictions(model_output, self._probe.n)
        missing = [name for name in self.layers if name not in outputs]
        if missing:
            self._problem(f"step {step}: no output was captured for layer(s) {missing}")
        return self._emit(int(step), outputs, self._probe.labels, preds, None, scalars)

    def log(
        self,
        step: int,
        activations: Mapping[str, Any],
        labels: Any = None,
        preds: Any = None,
        *,
        ids: Any = None,
        **scalars: Any,
    ) -> list[Frame]:
        """Send one frame per entry of ``activations`` ({layer name: array-like (n, d)})."""
        if not isinstance(activations, Mapping):
            raise TypeError(
                f"log() takes a dict of {{layer name: array}}, got {type(activations).__name__}"
            )
        if labels is None and self._probe is not None:
            labels = self._probe.labels
        for name in activations:
            if name not in self.layers:
                self.layers = [*self.layers, str(name)]
        return self._emit(int(step), dict(activations), labels, preds, ids, scalars)

    def on_alert(self, fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """Call ``fn(alert)`` synchronously inside ``step``/``log`` for every new alert."""
        self._alert_callbacks.append(fn)
        return fn

    def snapshot(self, path: str | os.PathLike[str], format: str | None = None) -> Snapshot:
        """Ask the displayed view for a PNG/SVG of what it shows and write it to ``path``.

        Never blocks: the file is written when the view's reply reaches the kernel, which happens
        once the current cell has finished. See the README for the exact semantics.
        """
        snap = Snapshot(path=Path(path), format=snapshot_format(path, format))
        if not self._displayed:
            snap.state = "failed"
            snap.error = (
                "no view of this monitor is displayed, so there is nothing to render. Display it "
                "first (make the monitor the last expression of a cell), then call snapshot again."
            )
            self._problem(f"snapshot {snap.path}: {snap.error}")
            return snap
        if self._views_closed:
            snap.state = "failed"
            snap.error = "every view of this monitor was closed; display it again first"
            self._problem(f"snapshot {snap.path}: {snap.error}")
            return snap
        self._snapshots[snap.id] = snap
        self.send({"type": "snapshot", "id": snap.id, "format": snap.format})
        return snap

    def save_html(self, path: str | os.PathLike[str], title: str | None = None) -> Path:
        """Write a standalone HTML page of the frames held in memory (works offline, no kernel)."""
        return write_html(
            path,
            self._stream.history,
            alerts=self.alerts,
            layers=list(self.layers),
            reducer=self.reducer,
            title=title or self.title or "sentrycam",
        )

    @classmethod
    def replay(cls, path: str | os.PathLike[str], **kwargs: Any) -> Monitor:
        """A monitor showing a recording: every frame, with alerts recomputed from its metrics.

        ``kwargs`` go to ``Monitor`` (e.g. ``reducer="pca"``, ``max_frames``). The frames keep the
        metrics they were recorded with; the alert engine is run over them (and their scalars) in
        order, so ``cam.alerts`` is what the live run would have raised.
        """
        from .alerts import AlertEngine
        from .record import iter_recording

        cam = cls(metrics=False, **kwargs)
        engine = AlertEngine()
        layers: list[str] = []
        last_scalar_step = None
        for frame in iter_recording(path):
            if frame.layer not in layers:
                layers.append(frame.layer)
            new = []
            if frame.scalars and frame.step != last_scalar_step:
                new += engine.update(frame.step, None, frame.scalars)
                last_scalar_step = frame.step
            new += engine.update(frame.step, frame.layer, frame.metrics)
            cam.alerts.extend(new)
            cam._next_seq = max(cam._next_seq, frame.seq + 1)
            cam._stream.push([frame], send=False)
        cam.layers = layers
        return cam

    def flush(self) -> None:
        """Send every frame not yet sent (called automatically after each cell)."""
        self._stream.flush()

    def close(self) -> None:
        """Remove the hooks, send what is pending and close the recording; views stay usable."""
        hooks = getattr(self, "_hooks", None)  # also safe on a half-constructed monitor
        if hooks is not None:
            hooks.remove()
            self._hooks = None
        self._model = None
        if hasattr(self, "_stream"):
            self._stream.flush()
        if getattr(self, "_recorder", None) is not None:
            self._recorder.close()
        notices.unregister(getattr(self, "_ipython_events", None))
        self._ipython_events = None

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        self._displayed = True
        self._views_closed = False  # a new view is on its way
        return super()._repr_mimebundle_(**kwargs)

    # ---- capture → frames -------------------------------------------------------------------

    def _emit(
        self,
        step: int,
        arrays: dict[str, Any],
        labels: Any,
        preds: Any,
        ids: Any,
        scalars: dict[str, Any],
    ) -> list[Frame]:
        clean_scalars = self._clean_scalars(step, scalars)
        frames: list[Frame] = []
        new_alerts: list[Any] = []
        if self._auditor is not None and clean_scalars:
            new_alerts += self._audit_scalars(step, clean_scalars)
        for layer, values in arrays.items():
            made = self._make_frame(step, str(layer), values, labels, preds, ids, clean_scalars)
            if made is not None:
                frames.append(made[0])
                new_alerts += made[1]
        for frame in frames:
            if self._recorder is not None:
                try:
                    self._recorder.write(frame)
                except Exception as exc:  # disk full etc. must not stop training
                    self._problem(f"recording to {self._recorder.path} failed: {exc}")
        self._stream.push(frames)
        self._publish_alerts(new_alerts)
        return frames

    def _make_frame(
        self,
        step: int,
        layer: str,
        values: Any,
        labels: Any,
        preds: Any,
        ids: Any,
        scalars: dict[str, float],
    ) -> tuple[Frame, list[Any]] | None:
        try:
            x = as_matrix(values, layer)
        except Exception as exc:  # bad input must not stop training
            self._problem(f"step {step}: {exc}; this layer's frame was not sent", exc)
            return None
        n = x.shape[0]
        label_vec = self._int_vector(labels, "labels", n, step, layer)
        pred_vec = self._int_vector(preds, "preds", n, step, layer)
        id_vec = self._int_vector(ids, "ids", n, step, layer)
        if id_vec is None:
            id_vec = np.arange(n, dtype=np.int32)
        nonfinite = count_nonfinite(x)
        hint = ""
        if self._dtype == "float16":  # values beyond ±65504 become ±Inf on the wire
            with np.errstate(over="ignore"):
                wire = count_nonfinite(x.astype(np.float16))
            if wire > nonfinite:
                hint = " (beyond float16's range of ±65504: use dtype='float32')"
            nonfinite = wire
        if nonfinite:
            self._problem(
                f"step {step}, layer {layer!r}: {nonfinite} non-finite activation value(s) "
                f"(NaN/Inf){hint}; the frame is sent and those points are flagged in the view"
            )
        metrics: dict[str, float] = {}
        alerts: list[Any] = []
        if self._auditor is not None:
            metrics, alerts = self._audit(step, layer, values, x, label_vec, pred_vec)
        try:
            data = encode_frame(
                seq=self._next_seq,
                step=step,
                layer=layer,
                x=x,
                ids=id_vec,
                labels=label_vec,
                preds=pred_vec,
                scalars=scalars,
                metrics=metrics,
                nonfinite=nonfinite,
                dtype=self._dtype,
            )
            frame = decode_frame(data)
            self._next_seq += 1
        except Exception as exc:  # an encoding bug must not stop training
            self._problem(f"step {step}, layer {layer!r}: encoding the frame failed: {exc}", exc)
            return None
        frame.metrics = metrics
        return frame, alerts

    def _int_vector(self, values: Any, name: str, n: int, step: int, layer: str) -> Any:
        try:
            return as_int_vector(values, name, n)
        except Exception as exc:  # bad input must not stop training
            self._problem(f"step {step}, layer {layer!r}: {exc}; sent without {name}", exc)
            return None

    def _clean_scalars(self, step: int, scalars: dict[str, Any]) -> dict[str, float]:
        clean: dict[str, float] = {}
        for key, value in scalars.items():
            try:
                clean[key] = float(value.item() if hasattr(value, "item") else value)
            except Exception as exc:  # bad input must not stop training
                self._problem(f"step {step}: scalar {key}={value!r} is not a number ({exc})")
        return clean

    # ---- metrics and alerts -----------------------------------------------------------------

    def _audit(self, step: int, layer: str, raw: Any, x: np.ndarray, labels: Any, preds: Any):
        assert self._auditor is not None
        source = raw if _is_torch(raw) else x
        torch = sys.modules.get("torch")
        if torch is not None and not _is_torch(source):
            # In a PyTorch process, NumPy's BLAS threads spin against torch's and slow every
            # training step several-fold; torch on the same (CPU) memory avoids that.
            source = torch.from_numpy(x)
        if _is_torch(source) and source.dim() != 2:
            source = source.reshape(source.shape[0], -1)
        try:
            return self._auditor.observe(step, layer, source, labels=labels, preds=preds)
        except Exception as exc:  # metrics must never stop training
            self._problem(f"step {step}, layer {layer!r}: computing metrics failed: {exc}")
            return {}, []

    def _audit_scalars(self, step: int, scalars: dict[str, float]) -> list[Any]:
        assert self._auditor is not None
        try:
            return list(self._auditor.observe_scalars(step, scalars))
        except Exception as exc:
            self._problem(f"step {step}: checking scalars failed: {exc}")
            return []

    def _publish_alerts(self, new_alerts: list[Any]) -> None:
        if not new_alerts:
            return
        self.alerts.extend(new_alerts)
        self.send({"type": "alerts", "alerts": [_alert_dict(a) for a in new_alerts]})
        for alert in new_alerts:
            for fn in list(self._alert_callbacks):
                fn(alert)

    # ---- messages ---------------------------------------------------------------------------

    def _send_frames(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        self.send(content, buffers)

    def _handle_message(self, _widget: Any, content: Any, buffers: list[Any]) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "hello":
            self._views.add(str(content.get("view", "")))
            self._views_closed = False
            self._displayed = True
            have = content.get("have", -1)
            self._stream.replay(have if isinstance(have, list) else int(have))
            if self.alerts:
                self.send({"type": "alerts", "alerts": [_alert_dict(a) for a in self.alerts]})
        elif kind == "bye":
            self._views.discard(str(content.get("view", "")))
            self._views_closed = not self._views
        elif kind == "snapshot":
            self._receive_snapshot(content, buffers)

    def _receive_snapshot(self, content: dict[str, Any], buffers: list[Any]) -> None:
        snap = self._snapshots.get(int(content.get("id", -1)))
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
        del self._snapshots[snap.id]

    def pending_snapshots(self) -> list[Snapshot]:
        """Snapshots requested from a view and not yet answered."""
        return list(self._snapshots.values())

    # ---- problems -----------------------------------------------------------------------------

    def _problem(self, message: str, exc: BaseException | None = None) -> None:
        """Tell the user in plain words, keep a record, and keep training going (unless strict)."""
        if self._strict and exc is not None:
            raise exc
        # A problem that recurs every capture (NaN after divergence, say) is told the first few
        # times and then every 100th, with a count: no flood of warnings or messages.
        kind = re.sub(r"\d+", "#", message)
        seen = self._problem_counts[kind] = self._problem_counts.get(kind, 0) + 1
        if seen > PROBLEM_REPEATS and seen % 100:
            return
        if seen > PROBLEM_REPEATS:
            message = f"{message} (seen {seen} times)"
        self.problems.append(message)
        warnings.warn(f"sentrycam: {message}", SentrycamWarning, stacklevel=3)
        with contextlib.suppress(Exception):  # no comm (closed widget): the warning was given
            self.send({"type": "notice", "level": "warning", "text": message})

    def _hook_failed(self, layer: str, exc: BaseException) -> None:
        self._problem(f"the hook on layer {layer!r} failed ({type(exc).__name__}: {exc})")

    def _on_trim(self, frame: Frame) -> None:
        if self._stream.trimmed_frames == 1:
            where = (
                f"all frames are kept in {self._recorder.path}"
                if self._recorder is not None
                else "pass record='run.arrows' to keep every frame on disk"
            )
            self._problem(
                f"the in-memory history is full (max_frames/max_bytes); frames older than step "
                f"{frame.step} are no longer held in cam.frames or replayed to new views ({where})"
            )

    def _esm_path_ok(self) -> bool:
        return (STATIC / "widget.js").exists()


def _make_auditor() -> Any:
    try:
        from .audit import Auditor
    except ImportError:
        return None
    return Auditor()


def _alert_dict(alert: Any) -> dict[str, Any]:
    if hasattr(alert, "to_dict"):
        d = dict(alert.to_dict())
    else:
        d = {k: getattr(alert, k, None) for k in ("step", "layer", "metric", "message", "severity")}
    for key, value in list(d.items()):
        if isinstance(value, float) and not math.isfinite(value):
            d[key] = None
    return d


def _is_torch(value: Any) -> bool:
    return hasattr(value, "detach") and hasattr(value, "dim")


def _predictions(output: Any, n: int) -> Any:
    """Class predictions from a model output of shape (n, classes), else ``None``."""
    tensor = first_tensor(output)
    if tensor is None or tensor.dim() != 2 or tensor.shape[0] != n or tensor.shape[1] < 2:
        return None
    return tensor.argmax(dim=1)
