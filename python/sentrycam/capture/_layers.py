"""The watched layers: names as a user types them, resolved to modules inside the model's wrappers.

A name is one of the unwrapped model's ``named_modules()`` (with or without the wrappers'
prefixes), optionally followed by ``#k`` to pick one call of a module that runs several times in
one forward pass (``#0`` the first, ``#-1`` the last: the default). Containers that are never
called themselves (``ModuleList``, ``ModuleDict``) are refused with the names to watch instead;
an unknown name gets the closest names and the model's top-level stages.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CALL_SEPARATOR",
    "WatchedLayer",
    "container_refusal",
    "entries_refusal",
    "resolve_layers",
    "split_call",
    "stages",
    "unwrap",
]

WRAPPER_ATTRIBUTES = {"OptimizedModule": "_orig_mod", "DataParallel": "module"}
WRAPPER_ATTRIBUTES["DistributedDataParallel"] = "module"
# Wrappers that stay in the probe's path (FSDP must run its own forward) but not in layer names.
INNER_WRAPPER_SEGMENTS = {"_fsdp_wrapped_module", "_checkpoint_wrapped_module", "_orig_mod"}
CALL_SEPARATOR = "#"  # "layer1.0.relu#0": the first call of a module that runs several times
_CALL = re.compile(rf"^(.*){re.escape(CALL_SEPARATOR)}(-?\d+)$")
CONTAINER_TYPES = ("ModuleList", "ModuleDict")  # no forward of their own: never called
MAX_CLOSE_NAMES = 5  # an unknown name gets at most this many suggestions
MAX_STAGES = 12  # ... and the model's first top-level stages


@dataclass(frozen=True)
class WatchedLayer:
    """A watched name's module and which of its calls in one forward pass is kept."""

    module: Any
    call: int = -1  # index into the calls of one forward pass (negative: from the end)
    call_given: bool = False  # the name chose the call (``#k``): several calls are expected


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


def resolve_layers(model: Any, layers: Sequence[str]) -> dict[str, WatchedLayer]:
    """Map each requested name to its module (and call) inside the model's wrappers.

    Names are those of the unwrapped model's ``named_modules()``; the same names with the
    wrappers' prefixes (``_orig_mod.``, ``module.``) are accepted too, and names inside FSDP
    (``FullyShardedDataParallel``) or activation-checkpointing wrappers are those of the wrapped
    model (without ``_fsdp_wrapped_module.`` segments). Raises ``ValueError`` naming the unknown
    layers with the closest names, or a container with the names to watch instead.
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
            "name at least one layer to watch, e.g. layers=['fc1']; "
            + _stages_sentence(inner, available)
        )
    found: dict[str, WatchedLayer] = {}
    missing = []
    for name in layers:
        base, call, given = split_call(name)
        plain = _strip_wrappers(base, path)
        if plain in modules and plain:
            refusal = container_refusal(name, modules[plain], plain, available)
            if refusal:
                raise ValueError(refusal)
            found[name] = WatchedLayer(modules[plain], call, given)
        else:
            missing.append(name)
    if missing:
        raise ValueError(unknown_names_message(missing, inner, available, path))
    return found


def split_call(name: str) -> tuple[str, int, bool]:
    """``("layer1.0.relu", 0, True)`` for ``"layer1.0.relu#0"``; ``(name, -1, False)`` else."""
    match = _CALL.match(name)
    if match is None:
        return name, -1, False
    return match.group(1), int(match.group(2)), True


def container_refusal(name: str, module: Any, plain: str, available: list[str]) -> str | None:
    """Why ``module`` cannot be watched (a container never called itself), or ``None``."""
    kind = type(module).__name__
    if kind not in CONTAINER_TYPES:
        return None
    entries = [n for n in available if n.startswith(plain + ".") and "." not in n[len(plain) + 1 :]]
    return entries_refusal(name, f"{kind}, a container whose forward is never called", entries)


def entries_refusal(name: str, what: str, entries: list[str]) -> str:
    """A watched container refused (``what`` it is), with the entries to watch instead."""
    shown = _names(entries[:3]) + (f" ... {entries[-1]!r}" if len(entries) > 3 else "")
    return (
        f"layer {name!r} is a {what} (its parent calls its entries one by one): watch its "
        f"entries instead, {shown} ({len(entries)} entries)"
    )


def unknown_names_message(
    missing: list[str], inner: Any, available: list[str], path: list[str] | None = None
) -> str:
    """One short paragraph: the unknown names, the closest known ones, the top-level stages."""
    parts = []
    for name in missing:
        base = _strip_wrappers(split_call(name)[0], path or [])
        close = difflib.get_close_matches(base, available, n=MAX_CLOSE_NAMES, cutoff=0.6)
        hint = f"closest: {_names(close)}" if close else "no close name"
        parts.append(f"{name!r} ({hint})")
    return (
        f"unknown layer name{'s' if len(missing) > 1 else ''} {'; '.join(parts)}. "
        + _stages_sentence(inner, available)
    )


def stages(inner: Any) -> list[str]:
    """The model's top-level stages: its direct children (through wrappers inside the model,
    such as FSDP's), as ``name (Type)``."""
    found = []
    for name, child in inner.named_children():
        if name in INNER_WRAPPER_SEGMENTS:
            found.extend(stages(child))
        else:
            found.append(f"{name} ({type(child).__name__})")
    return found


def _stages_sentence(inner: Any, available: list[str]) -> str:
    top = stages(inner)
    more = f", ... ({len(top)} in all)" if len(top) > MAX_STAGES else ""
    shown = ", ".join(top[:MAX_STAGES]) + more
    return (
        f"The model's top-level stages: {shown or 'none'}; it has {len(available)} named modules "
        "(list them with [n for n, _ in model.named_modules()])."
    )


def _names(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names)


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
