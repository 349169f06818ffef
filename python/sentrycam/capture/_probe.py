"""Capture: run the fixed probe set through a model and keep each watched layer's pooled output.

Hooks exist only while the probe runs: ordinary training forward passes (compiled or not) never
see them. The probe runs through the model *inside* its wrappers (``torch.compile``'s
``OptimizedModule``, ``DataParallel``, ``DistributedDataParallel``), eagerly, in eval mode and
without gradients, in chunks of ``probe_batch`` samples; each chunk's outputs are pooled on the
model's device as they are produced, so only rows are kept, never whole activation maps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..base import GroupNames, as_int_vector, is_tensor
from ._pool import PoolChoice, Pooled, first_tensor, pool_output

DEFAULT_PROBE_BATCH = 256  # probes up to this many samples run in one pass; larger ones in chunks
WRAPPER_ATTRIBUTES = {"OptimizedModule": "_orig_mod", "DataParallel": "module"}
WRAPPER_ATTRIBUTES["DistributedDataParallel"] = "module"
# Wrappers that stay in the probe's path (FSDP must run its own forward) but not in layer names.
INNER_WRAPPER_SEGMENTS = {"_fsdp_wrapped_module", "_checkpoint_wrapped_module", "_orig_mod"}


class Probe:
    """A fixed probe set: inputs ``x`` (a tensor, or tuple/dict of tensors), optional labels and
    optional groups: ``probe=x``, ``(x, y)`` or ``(x, y, groups)`` (a model taking three inputs
    is given ``((a, b, c), y)``). ``groups`` are encoded into ``group_names`` (a fresh list by
    default); a wrong length or type raises ``ValueError`` / ``TypeError``."""

    def __init__(
        self, probe: Any, *, needs_model_input: bool, group_names: GroupNames | None = None
    ) -> None:
        x, y, groups = _split_probe(probe)
        self.n = _batch_size(x)
        if needs_model_input and not _is_model_input(x):
            raise ValueError(
                "probe inputs must be a torch.Tensor (or a tuple/list/dict of tensors) with "
                f"one row per sample, got {type(x).__name__}; pass probe=(x, y) with x a tensor"
            )
        self.x = x
        self._given = x  # moved copies are made from these, so casts never compound
        self._placement: tuple[Any, Any] = (None, None)
        self.labels: np.ndarray | None = as_int_vector(y, "probe labels", self.n)
        self.groups: np.ndarray | None = None  # int32 codes into group_names (-1: no group)
        if groups is not None:
            names = group_names if group_names is not None else GroupNames()
            try:
                self.groups = names.encode(groups, self.n)
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"probe groups: {exc}") from None

    def follow(self, model: Any) -> None:
        """Keep the inputs on the model's device, floating inputs in its floating dtype.

        Moved only when the model's device or dtype changed, not per capture.
        """
        placement = (device_of(model), float_dtype_of(model))
        if placement != self._placement:
            self.x = _move(self._given, *placement)
            self._placement = placement

    def rows(self, start: int, stop: int, size: int) -> Probe:
        """A probe of the inputs' rows ``[start, stop)`` (without labels), its last row repeated
        until it has ``size`` rows."""
        index = list(range(start, stop)) + [stop - 1] * (size - (stop - start))
        return Probe(_take(self._given, index), needs_model_input=True)

    def chunks(self, size: int) -> Iterator[Any]:
        """The inputs in consecutive chunks of at most ``size`` samples."""
        for start in range(0, self.n, size):
            yield _slice(self.x, start, start + size)


def _split_probe(probe: Any) -> tuple[Any, Any, Any]:
    """``(x, y, groups)`` of a probe given as ``x``, ``(x, y)`` or ``(x, y, groups)``."""
    if isinstance(probe, tuple | list) and len(probe) in (2, 3) and not is_tensor(probe):
        return probe[0], probe[1], probe[2] if len(probe) == 3 else None
    return probe, None, None


def _is_model_input(x: Any) -> bool:
    if is_tensor(x):
        return True
    if isinstance(x, tuple | list) and x:
        return all(is_tensor(v) for v in x)
    if isinstance(x, dict) and x:
        return all(is_tensor(v) for v in x.values())
    return False


def _batch_size(x: Any) -> int:
    if isinstance(x, dict) and x:
        x = next(iter(x.values()))
    elif isinstance(x, tuple | list) and x and is_tensor(x[0]):
        x = x[0]
    shape = getattr(x, "shape", None)
    if shape is None:
        try:
            return len(x)
        except TypeError:
            raise ValueError(
                f"probe must be (x, y) with x an array or tensor, got {type(x).__name__}"
            ) from None
    if len(shape) == 0:
        raise ValueError("probe inputs must have a row per sample, got a scalar")
    return int(shape[0])


def _move(x: Any, device: Any, dtype: Any) -> Any:
    if is_tensor(x):
        if dtype is not None and x.dtype.is_floating_point:
            return x.to(device=device, dtype=dtype)
        return x.to(device)
    if isinstance(x, dict):
        return {k: _move(v, device, dtype) for k, v in x.items()}
    if isinstance(x, tuple | list):
        return type(x)(_move(v, device, dtype) for v in x)
    return x


def _slice(x: Any, start: int, stop: int) -> Any:
    if is_tensor(x):
        return x[start:stop]
    if isinstance(x, dict):
        return {k: _slice(v, start, stop) for k, v in x.items()}
    return type(x)(_slice(v, start, stop) for v in x)


def _take(x: Any, index: list[int]) -> Any:
    if is_tensor(x):
        import torch

        return x[torch.tensor(index, device=x.device)]
    if isinstance(x, dict):
        return {k: _take(v, index) for k, v in x.items()}
    return type(x)(_take(v, index) for v in x)


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


def unwrap(model: Any) -> tuple[Any, list[str]]:
    """The module inside ``torch.compile`` / ``DataParallel`` / ``DistributedDataParallel``
    wrappers, and the attribute names that lead to it (outermost first)."""
    path: list[str] = []
    while type(model).__name__ in WRAPPER_ATTRIBUTES:
        attr = WRAPPER_ATTRIBUTES[type(model).__name__]
        inner = getattr(model, attr, None)
        if inner is None:
            break
        path.append(attr)
        model = inner
    return model, path


def resolve_layers(model: Any, layers: Sequence[str]) -> dict[str, Any]:
    """Map each requested name to its module inside the model's wrappers.

    Names are those of the unwrapped model's ``named_modules()``; the same names with the
    wrappers' prefixes (``_orig_mod.``, ``module.``) are accepted too, and names inside FSDP
    (``FullyShardedDataParallel``) or activation-checkpointing wrappers are those of the wrapped
    model (without ``_fsdp_wrapped_module.`` segments). Raises ``ValueError``
    naming the unknown layers and listing the names a user would type.
    """
    if isinstance(layers, str):
        layers = [layers]
    inner, path = unwrap(model)
    modules = dict(inner.named_modules())
    for name, module in list(modules.items()):  # FSDP, checkpoint wrappers inside the model
        modules.setdefault(_without_wrapper_segments(name), module)
    available = [name for name in modules if name and name == _without_wrapper_segments(name)]
    if not layers:
        raise ValueError(
            f"name at least one layer to watch, e.g. layers=['fc1']; available layers: {available}"
        )
    found: dict[str, Any] = {}
    missing = []
    for name in layers:
        plain = _strip_wrappers(name, path)
        if plain in modules and plain:
            found[name] = modules[plain]
        else:
            missing.append(name)
    if missing:
        raise ValueError(f"unknown layer name(s) {missing}; available layers: {available}")
    return found


def _without_wrapper_segments(name: str) -> str:
    """``name`` without the segments that wrappers inside a model insert (FSDP's
    ``_fsdp_wrapped_module``, activation checkpointing's, ``torch.compile``'s)."""
    return ".".join(part for part in name.split(".") if part not in INNER_WRAPPER_SEGMENTS)


def _strip_wrappers(name: str, path: list[str]) -> str:
    """``name`` without leading wrapper segments (each of ``path``, in order, optional)."""
    parts = name.split(".")
    for attr in path:
        if parts and parts[0] == attr and len(parts) > 1:
            parts = parts[1:]
    return ".".join(parts)


@dataclass
class ProbeRun:
    """What one probe pass produced: pooled rows per layer (on the CPU), predictions, problems."""

    layers: dict[str, Pooled] = field(default_factory=dict)
    preds: Any = None  # (n,) int64 tensor or None
    logits: Any = None  # (2,) float64 tensor: the output's largest |logit|, mean entropy; or None
    problems: list[str] = field(default_factory=list)
    ready: list[Any] = field(default_factory=list)  # CUDA events: the copies are done once they are


class ProbeRunner:
    """Runs the probe through a model with temporary hooks on the watched modules."""

    def __init__(self, model: Any, modules: Mapping[str, Any], pool: Callable[[str], PoolChoice]):
        self.model = model
        self.inner, _ = unwrap(model)
        self.modules = dict(modules)
        self.pool = pool

    def run(self, probe: Probe, batch: int) -> ProbeRun:
        """Run ``probe`` in chunks of ``batch`` in eval mode without gradients; restore modes."""
        import torch

        result = ProbeRun()
        parts: dict[str, list[Any]] = {name: [] for name in self.modules}
        pred_parts: list[Any] = []
        logit_parts: list[Any] = []
        calls: dict[str, int] = {}
        failed: set[str] = set()
        current: dict[str, Any] = {}

        def make_hook(name: str) -> Callable[..., None]:
            def hook(module: Any, _inputs: Any, output: Any) -> None:
                calls[name] = calls.get(name, 0) + 1
                if name in failed:
                    return
                try:
                    current[name] = _own(pool_output(output, self.pool(name), module), output)
                except Exception as exc:  # a hook must never break the forward pass
                    failed.add(name)
                    result.problems.append(
                        f"layer {name!r}: {exc}; this layer's frame was not sent"
                    )

            return hook

        modes = [(module, module.training) for module in self.model.modules()]
        handles = [m.register_forward_hook(make_hook(name)) for name, m in self.modules.items()]
        try:
            self.model.eval()
            with torch.no_grad():
                for chunk in probe.chunks(batch):
                    calls.clear()
                    current.clear()
                    output = _call(self.inner, chunk)
                    n_chunk = _batch_size(chunk)
                    for name, pooled in current.items():
                        if pooled.rows.shape[0] != n_chunk:
                            failed.add(name)
                            result.problems.append(
                                f"layer {name!r} returned {pooled.rows.shape[0]} rows for a probe "
                                f"batch of {n_chunk} (output shape {pooled.shape}): its output is "
                                "not batch-first; pass pool={layer: fn} with fn(output) -> (N, d)"
                            )
                        elif name not in failed:
                            parts[name].append(pooled)
                    pred_parts.append(_predictions(output, n_chunk))
                    logit_parts.append(_logit_summary(output, n_chunk))
                    for name, count in calls.items():
                        if count > 1 and len(pred_parts) == 1:
                            result.problems.append(
                                f"layer {name!r} ran {count} times in one forward pass (shared "
                                "weights or a loop); the output of its last call is kept"
                            )
        finally:
            for handle in handles:
                handle.remove()
            for module, training in modes:  # per module: a user may freeze e.g. BatchNorm alone
                module.training = training
        for name in self.modules:
            chunks = parts[name]
            if name in failed or not chunks:
                if name not in failed:
                    result.problems.append(f"layer {name!r} was not called by the probe pass")
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


def _call(model: Any, x: Any) -> Any:
    if isinstance(x, dict):
        return model(**x)
    if isinstance(x, tuple | list):
        return model(*x)
    return model(x)


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


def _predictions(output: Any, n: int) -> Any:
    """Class predictions from a model output of shape (n, classes), else ``None``."""
    tensor = first_tensor(output)
    if tensor is None or tensor.dim() != 2 or tensor.shape[0] != n or tensor.shape[1] < 2:
        return None
    return tensor.argmax(dim=1)


def _logit_summary(output: Any, n: int) -> Any:
    """The largest |logit| and the summed softmax entropy of an (n, classes) output, as a (2,)
    float64 tensor on its device (no sync: read on the background thread); else ``None``."""
    tensor = first_tensor(output)
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
