"""The probe's inputs as models take them: a tensor, a tuple/list of inputs, or any ``Mapping`` of
keyword arguments (a ``dict``, a tokenizer's ``BatchEncoding``), with the samples along one
dimension (the *batch dimension*: 0, or 1 for a time-major model's ``(T, N, ...)`` inputs).

A value is sliced into chunks (and moved to the model's device) only when it is a tensor whose
batch dimension has the probe's sample count; anything else (a flag such as
``output_hidden_states=True``, a tensor shared by every sample) goes to every chunk unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..base import is_tensor
from ._pool import first_tensor

#: Key of a probe mapping's labels (the Hugging Face habit): taken out, not passed to the model.
LABELS_KEY = "labels"
#: Key of a probe mapping's padding mask ``(N, T)``: token pooling uses unmasked positions only.
MASK_KEY = "attention_mask"

__all__ = [
    "LABELS_KEY",
    "MASK_KEY",
    "attention_mask",
    "batch_size",
    "call_model",
    "describe",
    "is_model_input",
    "move",
    "slice_rows",
    "split_probe",
    "take_rows",
]


def split_probe(probe: Any) -> tuple[Any, Any, Any]:
    """``(x, y, groups)`` of a probe given as ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, groups)``.

    A mapping ``x`` holding ``labels`` while no ``y`` is given gives its labels as ``y`` and is
    passed to the model without them.
    """
    x, y, groups = probe, None, None
    if isinstance(probe, tuple | list) and len(probe) in (1, 2, 3) and not is_tensor(probe):
        x = probe[0]
        y = probe[1] if len(probe) > 1 else None
        groups = probe[2] if len(probe) == 3 else None
    if isinstance(x, Mapping) and y is None and LABELS_KEY in x:
        y = x[LABELS_KEY]
        x = {key: value for key, value in x.items() if key != LABELS_KEY}
    return x, y, groups


def is_model_input(x: Any) -> bool:
    """A tensor, or a non-empty tuple/list/mapping holding at least one tensor."""
    if is_tensor(x):
        return True
    if isinstance(x, Mapping):
        return any(is_tensor(v) for v in x.values())
    if isinstance(x, tuple | list):
        return any(is_tensor(v) for v in x)
    return False


def batch_size(x: Any, batch_dim: int = 0) -> int:
    """The number of samples: the size of the first tensor's batch dimension (the length of a
    plain sequence without tensors, for ``log()``'s labels-only probe)."""
    if isinstance(x, Mapping | tuple | list) and not is_tensor(x):
        found = first_tensor(x)
        if found is None:  # log()'s probe: arrays, or a plain list of rows
            values = x.values() if isinstance(x, Mapping) else x
            found = next((v for v in values if hasattr(v, "shape")), None)
        if found is not None:
            x = found
        elif isinstance(x, Mapping):
            raise ValueError("probe inputs hold no array: nothing can be passed to the model")
    shape = getattr(x, "shape", None)
    if shape is None:
        try:
            return len(x)
        except TypeError:
            raise ValueError(
                f"probe must be (x, y) with x an array or tensor, got {type(x).__name__}"
            ) from None
    if len(shape) <= batch_dim:
        if len(shape) == 0:
            raise ValueError("probe inputs must have a row per sample, got a scalar")
        raise ValueError(
            f"with batch_first=False the probe's inputs are (T, N, ...), got shape {tuple(shape)}"
        )
    return int(shape[batch_dim])


def _batched(value: Any, n: int, batch_dim: int) -> bool:
    return is_tensor(value) and value.dim() > batch_dim and int(value.shape[batch_dim]) == n


def _map(x: Any, fn: Any, n: int, batch_dim: int) -> Any:
    """``x`` with ``fn`` applied to each tensor that has ``n`` samples along ``batch_dim``."""
    if is_tensor(x):
        return fn(x)
    if isinstance(x, Mapping):
        return {k: fn(v) if _batched(v, n, batch_dim) else v for k, v in x.items()}
    return type(x)(fn(v) if _batched(v, n, batch_dim) else v for v in x)


def slice_rows(x: Any, start: int, stop: int, n: int, batch_dim: int = 0) -> Any:
    """Samples ``[start, stop)`` of the inputs (``n``: the probe's sample count)."""
    index = (slice(None),) * batch_dim + (slice(start, stop),)
    return _map(x, lambda t: t[index], n, batch_dim)


def take_rows(x: Any, index: list[int], n: int, batch_dim: int = 0) -> Any:
    """The samples at ``index`` of the inputs."""
    import torch

    return _map(
        x,
        lambda t: t.index_select(batch_dim, torch.tensor(index, device=t.device)),
        n,
        batch_dim,
    )


def move(x: Any, device: Any, dtype: Any) -> Any:
    """Every tensor of the inputs on ``device``; floating ones in ``dtype`` (when not ``None``)."""
    if is_tensor(x):
        if dtype is not None and x.dtype.is_floating_point:
            return x.to(device=device, dtype=dtype)
        return x.to(device)
    if isinstance(x, Mapping):
        return {k: move(v, device, dtype) for k, v in x.items()}
    if isinstance(x, tuple | list):
        return type(x)(move(v, device, dtype) for v in x)
    return x


def call_model(model: Any, x: Any) -> Any:
    """``model`` called on the inputs as they are given: keyword arguments of a mapping, the
    positional arguments of a tuple/list, or the one tensor."""
    if isinstance(x, Mapping):
        return model(**x)
    if isinstance(x, tuple | list):
        return model(*x)
    return model(x)


def attention_mask(x: Any) -> Any:
    """The inputs' padding mask ``(N, T)`` as booleans (``True``: a real token), or ``None``."""
    if not isinstance(x, Mapping):
        return None
    mask = x.get(MASK_KEY)
    if not is_tensor(mask) or mask.dim() != 2:
        return None
    return mask != 0


def describe(x: Any) -> str:
    """The inputs' structure in a few words, for messages: ``tensor (24, 200, 8)``."""
    if is_tensor(x) or hasattr(x, "shape"):
        return f"{type(x).__name__} {tuple(int(s) for s in x.shape)}"
    if isinstance(x, Mapping):
        parts = [f"{k}: {describe(v)}" for k, v in list(x.items())[:4]]
        return "{" + ", ".join(parts) + (", ..." if len(x) > 4 else "") + "}"
    if isinstance(x, tuple | list):
        return "(" + ", ".join(describe(v) for v in list(x)[:4]) + (", ...)" if len(x) > 4 else ")")
    return type(x).__name__
