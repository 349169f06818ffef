"""The frame builder: one capture (rows on the CPU) → metrics, alerts and encoded frames.

This is the work the background thread does for each capture. Rows wider than ``max_dim`` (or too
many bytes for ``max_frame_bytes``) travel as a fixed random projection (:mod:`.project`); the
metrics are computed on the full width when that is affordable (``n x d`` up to
:data:`EXACT_METRICS_MAX_VALUES`), otherwise on the projection.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from ..base import as_int_vector, count_nonfinite, is_tensor
from ..capture import Capture, LayerCapture
from ..wire import Frame, encode
from ._project import MIN_PROJECTED_DIM, Projector, plan_width

EXACT_METRICS_MAX_VALUES = 1 << 24  # n x d up to this (64 MiB of float32): metrics on full width


class FrameBuilder:
    """Turns captures into frames; owns the sequence numbers and the random projections."""

    def __init__(
        self,
        *,
        dtype: str,
        max_dim: int,
        max_frame_bytes: int,
        auditor: Any,
        problem: Callable[..., None],
    ) -> None:
        self.dtype = dtype
        self.max_dim = max_dim
        self.max_frame_bytes = max_frame_bytes
        self.auditor = auditor
        self._problem = problem
        self.projector = Projector()
        self.next_seq = 0  # taken only by frames that were encoded: no gaps for views to miss
        self._told: set[tuple[str, str]] = set()

    def updated_alerts(self) -> list[Any]:
        """Alerts raised earlier whose incident grew while building (to send to the views)."""
        if self.auditor is None:
            return []
        return self._guard(-1, "listing updated alerts", self.auditor.take_updated, [])

    def build(self, capture: Capture) -> tuple[list[Frame], list[Any]]:
        """The frames of ``capture`` (one per layer that could be encoded) and new alerts."""
        for event in capture.ready:
            event.synchronize()
        if capture.logits is not None:  # the model output's streams ride as run scalars
            largest, entropy = (float(v) for v in capture.logits)
            capture.scalars = {**capture.scalars, "logit_max": largest, "logit_entropy": entropy}
        alerts: list[Any] = []
        frames = []
        if self.auditor is not None and capture.scalars:
            self._guard(
                capture.step,
                "checking scalars",
                lambda: self.auditor.preview_scalars(capture.step, capture.scalars),
                None,
            )
        for layer, lc in capture.layers.items():
            frame, new = self._frame(capture, layer, lc)
            alerts += new
            if frame is not None:
                frames.append(frame)
        # The scalars after the layers: when both go wrong at one capture, the first alert of
        # the incident names the layer (the scalars join it).
        if self.auditor is not None and capture.scalars:
            alerts += self._guard(
                capture.step,
                "checking scalars",
                lambda: self.auditor.observe_scalars(
                    capture.step, capture.scalars, capture.scalar_steps
                ),
                [],
            )
        return frames, alerts

    def _frame(
        self, capture: Capture, layer: str, lc: LayerCapture
    ) -> tuple[Frame | None, list[Any]]:
        step = capture.step
        rows = lc.pooled.rows
        n, d = (int(s) for s in rows.shape)
        source = rows.numpy() if is_tensor(rows) else rows
        preds = self._guard(
            step, f"layer {layer!r}: predictions", lambda: as_int_vector(lc.preds, "preds", n), None
        )
        plan = plan_width(
            n,
            d,
            max_dim=self.max_dim,
            max_frame_bytes=self.max_frame_bytes,
            bytes_per_value=self._value_bytes,
        )
        wire_dim = plan.dim if plan.dim is not None else min(d, self.max_dim)
        wire = source if wire_dim == d else self._project(layer, rows, wire_dim)
        exact = n * d <= EXACT_METRICS_MAX_VALUES
        self._tell_width(layer, n, d, plan.dim, plan.reason, exact)
        ids = lc.ids if lc.ids is not None else np.arange(n, dtype=np.int32)
        metrics, alerts = self._metrics(
            capture, layer, source, None if exact else wire, lc, preds, ids
        )
        if plan.dim is None:
            return None, alerts
        x, nonfinite = self._wire_values(step, layer, wire, count_nonfinite(source))
        frame = Frame(
            seq=self.next_seq,
            step=step,
            layer=layer,
            x=x,
            ids=ids,
            labels=lc.labels,
            preds=preds,
            scalars=capture.scalars,
            metrics=metrics,
            nonfinite=nonfinite,
            pool=lc.pooled.method,
            shape=lc.pooled.shape,
            projected_from=d if wire_dim != d else None,
            every=capture.every,
            groups=lc.groups,
            group_names=list(capture.group_names) if lc.groups is not None else [],
            tasks=list(capture.tasks),
            scalar_steps=capture.scalar_steps,
        )
        try:
            frame.ipc = encode(frame, self.dtype)
        except Exception as exc:  # an encoding bug must not stop training
            self._problem(f"step {step}, layer {layer!r}: encoding the frame failed: {exc}", exc)
            return None, alerts
        self.next_seq += 1
        return frame, alerts

    @property
    def _value_bytes(self) -> int:
        return 2 if self.dtype == "float16" else 4

    def _project(self, layer: str, rows: Any, k: int) -> np.ndarray:
        out = self.projector.project(layer, _torch_if_loaded(rows), k)
        return out.numpy() if is_tensor(out) else np.ascontiguousarray(out, dtype=np.float32)

    def _wire_values(
        self, step: int, layer: str, wire: np.ndarray, source_bad: int
    ) -> tuple[np.ndarray, int]:
        """The values as they travel (float16-rounded when asked) and their non-finite count."""
        # An owned copy: the rows may be a view on a tensor (in pinned memory, from a GPU) that
        # the history would otherwise keep alive, and Frame.memory counts what it holds.
        x = np.array(wire, dtype=np.float32, order="C")
        nonfinite = count_nonfinite(x)
        hint = ""
        if self.dtype == "float16":  # values beyond ±65504 become ±Inf on the wire
            with np.errstate(over="ignore"):
                x = x.astype(np.float16).astype(np.float32)
            wire_bad = count_nonfinite(x)
            if wire_bad > nonfinite:
                hint = " (beyond float16's range of ±65504: use dtype='float32')"
            nonfinite = wire_bad
        if nonfinite or source_bad:
            self._problem(
                f"step {step}, layer {layer!r}: {source_bad or nonfinite} non-finite activation "
                f"value(s) (NaN/Inf){hint}; the frame is sent and those points are flagged in the "
                "view"
            )
        return x, nonfinite

    def _tell_width(
        self, layer: str, n: int, d: int, dim: int | None, reason: str, exact: bool
    ) -> None:
        """Say once per layer (and cause) when the frame is projected for a bound, or refused."""
        if not reason or (reason == "max_dim" and exact) or (layer, reason) in self._told:
            return
        self._told.add((layer, reason))
        mib = n * d * self._value_bytes / 2**20
        metrics = (
            ""
            if exact
            else "; its metrics are computed on the projection (the full width is too large)"
        )
        if dim is None:
            self._problem(
                f"layer {layer!r}: frames of {n:,} points are refused: even at {MIN_PROJECTED_DIM} "
                f"values per point they exceed max_frame_bytes={self.max_frame_bytes:,}; use a "
                "smaller probe or raise max_frame_bytes (metrics and alerts still run)"
            )
        elif reason == "max_frame_bytes":
            self._problem(
                f"layer {layer!r}: {n:,} x {d:,} values ({mib:,.1f} MiB) exceed max_frame_bytes="
                f"{self.max_frame_bytes:,}; frames travel as a fixed random projection to {dim} "
                f"dimensions{metrics}. Raise max_frame_bytes, pass dtype='float16' or use a "
                "smaller probe to send more"
            )
        else:
            self._problem(
                f"layer {layer!r}: {d:,} values per point exceed max_dim={self.max_dim}; frames "
                f"travel as a fixed random projection to {dim} dimensions{metrics}"
            )

    def _metrics(
        self,
        capture: Capture,
        layer: str,
        x: np.ndarray,
        projection: Any,
        lc: LayerCapture,
        preds: Any,
        ids: np.ndarray,
    ) -> tuple[dict[str, float], list[Any]]:
        """Metrics of ``x`` (on its ``projection`` where the full width is too large), the
        per-group ones included, and the alerts they raise."""
        if self.auditor is None:
            return {}, []
        source, projected = _torch_if_loaded(x), _torch_if_loaded(projection)
        return self._guard(
            capture.step,
            f"layer {layer!r}: computing metrics",
            lambda: self.auditor.observe(
                capture.step,
                layer,
                source,
                labels=lc.labels,
                preds=preds,
                projection=projected,
                groups=lc.groups,
                group_names=capture.group_names,
                ids=ids,
                tasks=capture.tasks,
            ),
            ({}, []),
        )

    def _guard(self, step: int, what: str, fn: Callable[[], Any], fallback: Any) -> Any:
        try:
            return fn()
        except Exception as exc:  # metrics and alerts must never stop training
            self._problem(f"step {step}: {what} failed: {exc}")
            return fallback


def _torch_if_loaded(x: Any) -> Any:
    """``x`` as a CPU tensor (sharing memory) when torch is loaded, else as it is.

    In a PyTorch process, NumPy's BLAS threads spin against torch's and slowed every training
    step several-fold in a measurement; torch on the same memory avoids that.
    """
    torch = sys.modules.get("torch")
    if torch is None or x is None or is_tensor(x):
        return x
    return torch.from_numpy(np.ascontiguousarray(x))
