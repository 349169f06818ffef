"""Capture: run the fixed probe set through a model and keep each watched layer's pooled output.

Hooks exist only while the probe runs: ordinary training forward passes (compiled or not) never
see them. The probe runs through the model *inside* its wrappers (``torch.compile``'s
``OptimizedModule``, ``DataParallel``, ``DistributedDataParallel``), eagerly, in the probe mode
(:mod:`._modes`: eval by default) and without gradients, in chunks of ``probe_batch`` samples;
each chunk's outputs are pooled on the model's device as they are produced, so only rows are
kept, never whole activation maps.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..base import GroupNames, as_int_vector, is_tensor
from ._batch import (
    attention_mask,
    batch_size,
    call_model,
    describe,
    is_model_input,
    move,
    slice_rows,
    split_probe,
    take_rows,
)
from ._layers import CALL_SEPARATOR, WatchedLayer, split_call, stages, unwrap
from ._modes import ProbeModes
from ._pool import PoolChoice, Pooled, first_tensor, pool_output

DEFAULT_PROBE_BATCH = 256  # probes up to this many samples run in one pass; larger ones in chunks


class Probe:
    """A fixed probe set: inputs ``x`` (a tensor, a tuple/list of inputs or a mapping of keyword
    arguments such as a tokenizer's ``BatchEncoding``), optional labels and optional groups:
    ``probe=x``, ``(x,)``, ``(x, y)`` or ``(x, y, groups)`` (a model taking three inputs is
    given ``((a, b, c), y)``); a mapping's ``labels`` are the labels when no ``y`` is given.
    ``batch_first=False``: the inputs are time-major, ``(T, N, ...)``. ``groups`` are encoded
    into ``group_names`` (a fresh list by default); a wrong length or type raises ``ValueError``
    / ``TypeError``."""

    def __init__(
        self,
        probe: Any,
        *,
        needs_model_input: bool,
        group_names: GroupNames | None = None,
        batch_first: bool = True,
    ) -> None:
        x, y, groups = split_probe(probe)
        self.batch_dim = 0 if batch_first else 1
        if needs_model_input and not is_model_input(x):
            raise ValueError(
                "probe inputs must be a torch.Tensor, a tuple/list of inputs or a mapping of "
                f"keyword arguments holding tensors, with one row per sample; got {describe(x)}"
                "; pass probe=(x, y) with x a tensor"
            )
        self.n = batch_size(x, self.batch_dim)
        self.x = x
        self._given = x  # moved copies are made from these, so casts never compound
        self._placement: tuple[Any, Any] = (None, None)
        self.labels: np.ndarray | None = self._labels(y)
        self.groups: np.ndarray | None = None  # int32 codes into group_names (-1: no group)
        if groups is not None:
            names = group_names if group_names is not None else GroupNames()
            try:
                self.groups = names.encode(groups, self.n)
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"probe groups: {exc}") from None

    def _labels(self, y: Any) -> np.ndarray | None:
        try:
            return as_int_vector(y, "probe labels", self.n)
        except ValueError as exc:
            raise ValueError(f"{exc}; {self.layout()}") from None

    def layout(self) -> str:
        """The probe's layout in words, for messages that may stem from it."""
        if self.batch_dim:
            return (
                "with batch_first=False the probe's inputs are (T, N, ...): "
                f"{describe(self._given)}, so N = {self.n} samples along dimension 1"
            )
        return (
            f"the probe's inputs are {describe(self._given)}, with the {self.n} samples along "
            "dimension 0; for a time-major model (inputs (T, N, ...)) pass "
            "Monitor(..., batch_first=False)"
        )

    def follow(self, model: Any) -> None:
        """Keep the inputs on the model's device, floating inputs in its floating dtype.

        Moved only when the model's device or dtype changed, not per capture.
        """
        placement = (device_of(model), float_dtype_of(model))
        if placement != self._placement:
            self.x = move(self._given, *placement)
            self._placement = placement

    def rows(self, start: int, stop: int, size: int) -> Probe:
        """A probe of the inputs' samples ``[start, stop)`` (without labels), its last sample
        repeated until it has ``size`` samples."""
        index = list(range(start, stop)) + [stop - 1] * (size - (stop - start))
        taken = take_rows(self._given, index, self.n, self.batch_dim)
        return Probe((taken,), needs_model_input=True, batch_first=self.batch_dim == 0)

    def chunks(self, size: int) -> Iterator[Any]:
        """The inputs in consecutive chunks of at most ``size`` samples."""
        for start in range(0, self.n, size):
            yield slice_rows(self.x, start, start + size, self.n, self.batch_dim)


def device_of(model: Any) -> Any:
    """The device of the model's first parameter (or buffer); ``"cpu"`` for a model without any."""
    for param in model.parameters():
        return param.device
    for buf in model.buffers():
        return buf.device
    return "cpu"


def float_dtype_of(model: Any) -> Any:
    """The dtype of the model's first floating-point parameter (``None`` if it has none)."""
    for param in model.parameters():
        if param.dtype.is_floating_point:
            return param.dtype
    return None


@dataclass
class ProbeRun:
    """What one probe pass produced: pooled rows per layer (on the CPU), predictions, problems."""

    layers: dict[str, Pooled] = field(default_factory=dict)
    preds: Any = None  # (n,) int64 tensor or None
    logits: Any = None  # (2,) float64 tensor: the output's largest |logit|, mean entropy; or None
    problems: list[str] = field(default_factory=list)
    ready: list[Any] = field(default_factory=list)  # CUDA events: the copies are done once they are


class ProbeRunner:
    """Runs the probe through a model with temporary hooks on the watched modules.

    ``probe_mode``: ``"eval"`` (every module in eval mode) or ``"train"`` (normalisation layers
    use the probe's batch statistics; dropout stays off; their buffers are restored after).
    """

    def __init__(
        self,
        model: Any,
        layers: Mapping[str, WatchedLayer],
        pool: Callable[[str], PoolChoice],
        probe_mode: str = "eval",
    ):
        self.model = model
        self.inner, _ = unwrap(model)
        self.layers = dict(layers)
        self.pool = pool
        self.modes = ProbeModes(model, self.inner, probe_mode)
        self._told_calls: set[str] = set()

    def run(self, probe: Probe, batch: int, mode: str | None = None) -> ProbeRun:
        """Run ``probe`` in chunks of ``batch`` without gradients, in the probe mode (or
        ``mode``); restore every module's mode (and, in ``"train"`` mode, the normalisation
        buffers)."""
        import torch

        result = ProbeRun()
        parts: dict[str, list[Any]] = {name: [] for name in self.layers}
        pred_parts: list[Any] = []
        logit_parts: list[Any] = []
        calls: dict[str, int] = {}
        failed: set[str] = set()
        kept: dict[str, deque[Pooled]] = {}
        chunk_mask: list[Any] = [None]
        batch_first = probe.batch_dim == 0

        def make_hook(name: str, layer: WatchedLayer) -> Callable[..., None]:
            def hook(module: Any, _inputs: Any, output: Any) -> None:
                call = calls.get(name, 0)
                calls[name] = call + 1
                if name in failed or (layer.call >= 0 and call != layer.call):
                    return
                try:
                    pooled = pool_output(
                        output, self.pool(name), module, mask=chunk_mask[0], batch_first=batch_first
                    )
                    kept.setdefault(name, deque(maxlen=max(1, -layer.call))).append(
                        _own(pooled, output)
                    )
                except Exception as exc:  # a hook must never break the forward pass
                    failed.add(name)
                    result.problems.append(
                        f"layer {name!r}: {exc}; this layer's frame was not sent"
                    )

            return hook

        handles = [
            layer.module.register_forward_hook(make_hook(name, layer))
            for name, layer in self.layers.items()
        ]
        try:
            with self.modes.applied(mode), torch.no_grad():
                for chunk in probe.chunks(batch):
                    calls.clear()
                    kept.clear()
                    chunk_mask[0] = attention_mask(chunk) if batch_first else None
                    output = call_model(self.inner, chunk)
                    n_chunk = batch_size(chunk, probe.batch_dim)
                    for name, layer in self.layers.items():
                        pooled = self._chosen(name, layer, calls, kept, failed, result, probe)
                        if pooled is None:
                            continue
                        if pooled.rows.shape[0] != n_chunk:
                            failed.add(name)
                            result.problems.append(_rows_problem(name, pooled, n_chunk, probe))
                        else:
                            parts[name].append(pooled)
                    logits = model_logits(output)
                    pred_parts.append(_predictions(logits, n_chunk))
                    logit_parts.append(_logit_summary(logits, n_chunk))
        finally:
            for handle in handles:
                handle.remove()
        for name in self.layers:
            chunks = parts[name]
            if name in failed or not chunks:
                if name not in failed:
                    result.problems.append(
                        f"layer {name!r} was not called by the probe pass; "
                        + _stages_hint(self.inner)
                    )
                continue
            try:
                rows = chunks[0].rows if len(chunks) == 1 else torch.cat([c.rows for c in chunks])
            except RuntimeError as exc:  # e.g. widths that differ from chunk to chunk
                result.problems.append(f"layer {name!r}: the probe's chunks do not fit ({exc})")
                continue
            shape = (probe.n, *chunks[0].shape[1:])
            result.layers[name] = Pooled(rows, chunks[0].method, chunks[0].layout, shape)
        if pred_parts and all(p is not None for p in pred_parts):
            result.preds = pred_parts[0] if len(pred_parts) == 1 else torch.cat(pred_parts)
        if logit_parts and all(p is not None for p in logit_parts):
            stats = torch.stack(logit_parts)  # per chunk: max |logit|, summed entropy
            result.logits = torch.stack([stats[:, 0].max(), stats[:, 1].sum() / probe.n])
        _copy_off_device(result)
        return result

    def uncalled(self, probe: Probe, names: list[str]) -> list[str]:
        """Which of the watched ``names`` one sample's forward pass (eval mode, no gradients)
        never calls."""
        import torch

        called: set[str] = set()
        handles = [
            self.layers[name].module.register_forward_hook(
                lambda *_args, name=name: called.add(name)
            )
            for name in names
        ]
        try:
            one = probe if probe.n == 1 else probe.rows(0, 1, 1)
            one.follow(self.inner)
            with self.modes.applied("eval"), torch.no_grad():
                call_model(self.inner, next(one.chunks(1)))
        except Exception:  # the probe's first capture will say what is wrong
            return []
        finally:
            for handle in handles:
                handle.remove()
        return [name for name in names if name not in called]

    def _chosen(
        self,
        name: str,
        layer: WatchedLayer,
        calls: dict[str, int],
        kept: dict[str, deque[Pooled]],
        failed: set[str],
        result: ProbeRun,
        probe: Probe,
    ) -> Pooled | None:
        """The pooled output of the call ``name`` watches in this chunk (``None``: none, told)."""
        count = calls.get(name, 0)
        if name in failed or count == 0:
            return None
        if count > 1 and not layer.call_given and name not in self._told_calls:
            self._told_calls.add(name)
            result.problems.append(repeated_calls_message(name, layer.module, count))
        wanted = layer.call if layer.call >= 0 else count + layer.call
        if not 0 <= wanted < count:
            failed.add(name)
            result.problems.append(
                f"layer {name!r} asks for call {layer.call} of its module, which ran {count} "
                f"time(s) in one forward pass: name one of {_call_names(name, count)}; this "
                "layer's frame was not sent"
            )
            return None
        return kept[name][0]


def repeated_calls_message(name: str, module: Any, count: int) -> str:
    """What a module called ``count`` times in one forward pass means, and how to pick a call."""
    shared = any(True for _ in module.parameters())
    why = " (its weights are shared by every call)" if shared else ""
    return (
        f"layer {name!r} ran {count} times in one forward pass{why}; the output of its last call "
        f"is kept: name {_call_names(name, count)} to watch one call"
    )


def _call_names(name: str, count: int) -> str:
    base = split_call(name)[0]
    shown = [f"{base}{CALL_SEPARATOR}{k}" for k in range(min(count, 3))]
    more = f" ... {f'{base}{CALL_SEPARATOR}{count - 1}'!r}" if count > 3 else ""
    return ", ".join(repr(n) for n in shown) + more + " (#-1: the last)"


def _rows_problem(name: str, pooled: Pooled, n_chunk: int, probe: Probe) -> str:
    """A layer output whose rows do not match the probe's samples, with what its shape says."""
    shape, rows = pooled.shape, int(pooled.rows.shape[0])
    text = (
        f"layer {name!r} returned {rows} rows for a probe batch of {n_chunk} (output shape "
        f"{shape}); this layer's frame was not sent: "
    )
    if probe.batch_dim == 0 and len(shape) == 3 and shape[1] == n_chunk:
        return text + probe.layout()  # (T, N, D): a time-major model probed batch-first
    if n_chunk in shape[1:]:
        return text + (
            f"its samples are along dimension {shape.index(n_chunk)}; pass pool={{layer: fn}} "
            "with fn(output) -> (N, d)"
        )
    if rows % n_chunk == 0:
        return text + (
            f"{rows} = {n_chunk} x {rows // n_chunk}: the samples look merged with positions "
            f"into one axis; pass pool={{layer: fn}} with fn(output) -> (N, d), or watch a "
            "module whose output keeps the samples apart"
        )
    return text + (
        f"no dimension of its output has the probe's {n_chunk} samples: it does not depend on "
        "the input sample (a table shared by every sample, such as a position bias?); watch "
        "another module"
    )


def _stages_hint(inner: Any) -> str:
    top = stages(inner)[:8]
    return (
        "the probe runs in eval mode, where training-only branches (auxiliary heads) are "
        "skipped, and a parent may call a module's entries, or its forward(), directly; the "
        "model's top-level " + (f"stages: {', '.join(top)}" if top else "stages: none")
    )


def model_logits(output: Any) -> Any:
    """The logits of a model output: its ``logits`` (a Hugging Face output, a dict), else its
    first tensor."""
    logits = output.get("logits") if isinstance(output, Mapping) else None
    if logits is None and not is_tensor(output):
        logits = getattr(output, "logits", None)
    return logits if is_tensor(logits) else first_tensor(output)


def _own(pooled: Pooled, output: Any) -> Pooled:
    """``pooled`` with rows that share no memory with the module's output (which a later
    in-place operation, such as ``ReLU(inplace=True)``, may overwrite)."""
    rows = pooled.rows
    source = first_tensor(output)
    if is_tensor(rows) and source is not None and _same_memory(rows, source):
        return Pooled(rows.clone(), pooled.method, pooled.layout, pooled.shape)
    return pooled


def _same_memory(a: Any, b: Any) -> bool:
    return bool(a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr())


def _predictions(logits: Any, n: int) -> Any:
    """Class predictions from logits of shape (n, classes), else ``None``."""
    tensor = logits
    if tensor is None or tensor.dim() != 2 or tensor.shape[0] != n or tensor.shape[1] < 2:
        return None
    return tensor.argmax(dim=1)


def _logit_summary(logits: Any, n: int) -> Any:
    """The largest |logit| and the summed softmax entropy of (n, classes) logits, as a (2,)
    float64 tensor on its device (no sync: read on the background thread); else ``None``."""
    tensor = logits
    if tensor is None or tensor.dim() != 2 or tensor.shape[0] != n or tensor.shape[1] < 2:
        return None
    import torch

    t = tensor.detach().double()
    logp = torch.log_softmax(t, dim=1)
    entropy = -(logp.exp() * logp).sum(dim=1)
    return torch.stack([t.abs().amax(), entropy.sum()])


def _copy_off_device(run: ProbeRun) -> None:
    """Bring rows and predictions to the CPU; from CUDA without blocking.

    Each copy is queued on its GPU's current stream; one event per GPU involved (layers may live
    on several) marks the end of its copies. The events block when waited on, so the background
    thread sleeps instead of spinning a core while the GPU works.
    """
    import torch

    gpus = set()

    def to_cpu(t: Any) -> Any:
        if t.device.type == "cuda":
            gpus.add(t.device)
            return t.to("cpu", non_blocking=True)
        return t.cpu()

    for name, pooled in run.layers.items():
        if pooled.rows.device.type != "cpu":
            rows = to_cpu(pooled.rows)
            run.layers[name] = Pooled(rows, pooled.method, pooled.layout, pooled.shape)
    if run.preds is not None and run.preds.device.type != "cpu":
        run.preds = to_cpu(run.preds)
    if run.logits is not None and run.logits.device.type != "cpu":
        run.logits = to_cpu(run.logits)
    for gpu in gpus:
        event = torch.cuda.Event(blocking=True)
        event.record(torch.cuda.current_stream(gpu))
        run.ready.append(event)
