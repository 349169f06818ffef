"""Pooling: how a layer output with more than two dimensions becomes one row per sample.

``pool`` (a ``Monitor`` argument) is one of :data:`POOL_METHODS`, a callable
``fn(output) -> (N, d)`` or a dict ``{layer: one of these}`` (layers not in the dict use
``"auto"``).

How positions are found (the *layout* of the output), for every method but ``"flatten"``:

- 4-D and 5-D outputs are channels-first maps ``(N, C, *spatial)``: the positions are the
  spatial axes and a row has ``C`` values. A 4-D output is channels-last ``(N, H, W, C)``
  (Swin, ConvNeXt blocks) when its module acts on the last dimension (``LayerNorm``, ``Linear``)
  or, from a module that is not a convolution, pooling or normalisation over channels, when its
  shape is ``(N, a, a, c)`` with ``c != a`` (maps are square as a rule).
- 3-D outputs of 1-D convolution, pooling and normalisation modules (``Conv1d``, ``MaxPool1d``,
  ``BatchNorm1d``, ``GroupNorm``, ...) are ``(N, C, L)``: the positions are ``L``.
- Other 3-D outputs are batch-first token sequences ``(N, T, D)``: the positions are ``T``. A
  recurrent or attention module built with ``batch_first=False`` returns ``(T, N, D)``; it is
  transposed first.
- 1-D and 2-D outputs are already one row per sample and pass through unchanged.

``"auto"`` and ``"mean"`` average over the positions, ``"max"`` takes the maximum, ``"first"`` the
first position (a CLS token), ``"last"`` the last one (decoder language models), ``"flatten"``
keeps every value (``N, prod(rest)``). When the probe has a padding mask (``attention_mask``) token
sequences as long as the mask are pooled over its real tokens only (``"last"``: the last real
token). A callable gets the module's raw output (a tensor, tuple, dict or model-output object),
and the chunk's mask too when it takes two arguments, and must return ``(N, d)``; other methods
take the first tensor in it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..base import as_rows, check_numeric, is_tensor, to_numpy

POOL_METHODS = ("auto", "mean", "max", "first", "last", "flatten")
PoolFn = Callable[[Any], Any]
PoolChoice = str | PoolFn


class PoolError(ValueError):
    """A pooling that cannot be applied to an output (or a callable that failed)."""


@dataclass(frozen=True)
class Pooled:
    """One row per sample, and how it was made (recorded in the frame's metadata)."""

    rows: Any  # (n, d) float32 tensor or ndarray
    method: (
        str  # "none" (already rows), a POOL_METHODS entry ("auto" resolved to "mean"), "callable"
    )
    layout: str  # "rows", "channels" or "tokens": where the positions were
    shape: tuple[int, ...]  # the output's shape (batch first)


def check_pool(pool: Any, layers: list[str] | None = None) -> None:
    """Raise ``ValueError`` for a ``pool`` argument that is not a method, callable or dict."""
    if isinstance(pool, Mapping):
        unknown = [k for k in pool if layers is not None and k not in layers]
        if unknown:
            raise ValueError(
                f"pool names layer(s) {unknown} that are not watched; watched: {layers}"
            )
        for value in pool.values():
            if isinstance(value, Mapping):
                raise ValueError("pool={layer: ...} takes a method or a callable per layer")
            check_pool(value)
        return
    if callable(pool):
        return
    if pool not in POOL_METHODS:
        raise ValueError(
            f"pool must be one of {POOL_METHODS}, a callable fn(output) -> (N, d) or a dict "
            f"{{layer: one of these}}; got {pool!r}"
        )


def pool_for(pool: Any, layer: str) -> PoolChoice:
    """The pooling chosen for ``layer``."""
    if isinstance(pool, Mapping):
        return pool.get(layer, "auto")
    return pool


def first_tensor(output: Any) -> Any:
    """The first tensor in a module output (a tensor, tuple/list, dict, or model-output object)."""
    if is_tensor(output):
        return output
    if isinstance(output, Mapping):
        output = list(output.values())
    elif hasattr(output, "to_tuple"):  # Hugging Face ModelOutput
        output = output.to_tuple()
    if isinstance(output, tuple | list):
        for item in output:
            found = first_tensor(item)
            if found is not None:
                return found
    return None


def pool_output(
    output: Any,
    choice: PoolChoice,
    module: Any = None,
    *,
    mask: Any = None,
    batch_first: bool = True,
) -> Pooled:
    """Rows ``(n, d)`` of one module output (or array given to ``log()``), pooled by ``choice``.

    ``mask``: the probe chunk's padding mask ``(n, T)`` (booleans): token sequences of ``T``
    positions are pooled over the unmasked positions only, and a pool callable that takes two
    arguments gets it. ``batch_first=False``: 3-D outputs of modules that do not say otherwise
    are time-major ``(T, n, D)``. Raises :class:`PoolError` (a ``ValueError``) with a plain
    message when pooling is impossible.
    """
    if callable(choice):
        try:
            rows = choice(output, mask) if takes_mask(choice) else choice(output)
        except Exception as exc:
            raise PoolError(f"the pool callable raised {type(exc).__name__}: {exc}") from exc
        if not (is_tensor(rows) or isinstance(rows, np.ndarray)) or rows.ndim != 2:
            shape = getattr(rows, "shape", type(rows).__name__)
            raise PoolError(f"the pool callable must return an (N, d) array, got {shape}")
        source = first_tensor(output) if not isinstance(output, np.ndarray) else output
        shape = tuple(source.shape) if source is not None else tuple(rows.shape)
        return Pooled(as_rows(rows, "pool output"), "callable", "rows", shape)
    x = output if isinstance(output, np.ndarray) else first_tensor(output)
    if x is None:
        if not is_tensor(output) and hasattr(output, "__array__"):
            x = np.asarray(output)
        else:
            raise PoolError(f"output of type {type(output).__name__} holds no tensor")
    if x.ndim == 3 and not _channels_first_1d(module) and not _batch_first(module, batch_first):
        x = x.transpose(0, 1) if is_tensor(x) else x.swapaxes(0, 1)  # (T, N, D) → (N, T, D)
    shape = tuple(int(s) for s in x.shape)
    if x.ndim <= 2:
        return Pooled(as_rows(x, "output"), "none", "rows", shape)
    if choice == "flatten":
        return Pooled(as_rows(x, "output"), "flatten", "rows", shape)
    layout = _layout(x, module)
    method = "mean" if choice == "auto" else choice
    if layout == "channels_last":  # (N, H, W, C) → (N, C, H, W): one row of C values
        x = x.permute(0, 3, 1, 2) if is_tensor(x) else np.moveaxis(x, 3, 1)
        layout = "channels"
    positions = tuple(range(2, x.ndim)) if layout == "channels" else (1,)
    if layout == "tokens" and _fits(mask, x):
        return Pooled(_reduce_masked(x, method, mask), method, layout, shape)
    return Pooled(_reduce(x, method, positions, layout), method, layout, shape)


def _fits(mask: Any, x: Any) -> bool:
    """A padding mask that lines up with the (n, T, D) token sequence ``x``."""
    return mask is not None and is_tensor(x) and tuple(mask.shape) == tuple(x.shape[:2])


def _reduce_masked(x: Any, method: str, mask: Any) -> Any:
    """Rows of the token sequences ``x`` (n, T, D) over the positions ``mask`` (n, T) keeps:
    their mean or maximum, the first or the last unmasked token (a row without any: position 0
    or T-1)."""
    import torch

    x = x.detach()
    keep = mask.to(device=x.device, dtype=torch.bool)
    if method == "mean":
        weights = keep.to(torch.float32).unsqueeze(-1)
        total = (x.to(torch.float32) * weights).sum(dim=1)
        return total / weights.sum(dim=1).clamp(min=1.0)
    if method == "max":
        low = torch.finfo(x.dtype).min if x.dtype.is_floating_point else torch.iinfo(x.dtype).min
        filled = x.masked_fill(~keep.unsqueeze(-1), low).amax(dim=1)
        return torch.where(keep.any(dim=1, keepdim=True), filled, x.amax(dim=1)).float()
    steps = x.shape[1]
    if method == "first":
        index = keep.to(torch.int8).argmax(dim=1)
    else:  # the last unmasked token: the first one seen from the end
        index = steps - 1 - keep.flip(1).to(torch.int8).argmax(dim=1)
    rows = torch.arange(x.shape[0], device=x.device)
    return x[rows, index].float()


@functools.lru_cache(maxsize=64)
def _arity(fn: Any) -> int:
    import inspect

    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return 2
    return sum(1 for p in params if p.kind in kinds)


def takes_mask(fn: Any) -> bool:
    """Whether a pool callable takes ``(output, mask)``: two positional parameters or more."""
    try:
        return _arity(fn) >= 2
    except TypeError:  # unhashable callable
        return False


def pool_array(values: Any, name: str, choice: PoolChoice) -> Pooled:
    """Rows of an array given to ``log()``, pooled like a layer output, on the CPU, and private:
    copied when they would share memory with ``values`` (a buffer the loop may reuse)."""
    return _private_rows(pool_output(_array(values, name), choice), values)


def _array(values: Any, name: str) -> Any:
    """A tensor or NumPy array for ``log()`` (lists, JAX arrays ... become NumPy), numeric."""
    arr = values if is_tensor(values) or isinstance(values, np.ndarray) else to_numpy(values, name)
    check_numeric(arr.dtype, name)
    return arr


def _private_rows(pooled: Pooled, given: Any) -> Pooled:
    """``pooled`` with rows the caller cannot change any more (``log()`` may get a buffer that the
    training loop reuses): copied when they share memory with ``given``; moved to the CPU."""
    rows = pooled.rows
    if is_tensor(rows):
        if rows.device.type != "cpu":
            rows = rows.cpu()
        elif (
            is_tensor(given)
            and rows.untyped_storage().data_ptr() == given.untyped_storage().data_ptr()
        ):
            rows = rows.clone()
    elif isinstance(given, np.ndarray) and np.shares_memory(rows, given):
        rows = rows.copy()
    return Pooled(rows, pooled.method, pooled.layout, pooled.shape)


def _reduce(x: Any, method: str, positions: tuple[int, ...], layout: str) -> Any:
    """Rows of ``x`` by ``method`` over ``positions``, in float32 (half-precision maps are
    reduced without a float32 copy of the whole map)."""
    if is_tensor(x):
        import torch

        x = x.detach()
        if method == "mean":
            return x.mean(dim=positions, dtype=torch.float32)
        if method == "max":
            return x.amax(dim=positions).float()
        return _position(x, method, layout).float()
    if method == "mean":
        return x.mean(axis=positions, dtype=np.float32)
    if method == "max":
        return x.max(axis=positions).astype(np.float32)
    return _position(x, method, layout).astype(np.float32)


def _position(x: Any, method: str, layout: str) -> Any:
    """The first or last position: a token, or (for maps) the first or last pixel."""
    index = 0 if method == "first" else -1
    if layout == "tokens":
        return x[:, index, :]
    return x.reshape(x.shape[0], x.shape[1], -1)[:, :, index]


def _layout(x: Any, module: Any) -> str:
    """Where the positions of an output with more than two dimensions are: ``"channels"``
    (channels-first maps), ``"channels_last"`` (4-D maps ``(N, H, W, C)``) or ``"tokens"``."""
    if x.ndim == 4 and _channels_last(tuple(x.shape), module):
        return "channels_last"
    return "channels" if x.ndim >= 4 or _channels_first_1d(module) else "tokens"


#: Modules that act on an input's last dimension: a 4-D output of theirs is (N, H, W, C).
LAST_DIM_MODULES = ("LayerNorm", "Linear", "LazyLinear", "RMSNorm")
#: Modules whose 4-D output is channels-first (N, C, H, W) whatever its shape.
CHANNELS_FIRST_PREFIXES = (
    "Conv",
    "LazyConv",
    "BatchNorm",
    "SyncBatchNorm",
    "InstanceNorm",
    "GroupNorm",
    "MaxPool",
    "AvgPool",
    "AdaptiveMaxPool",
    "AdaptiveAvgPool",
)


def _channels_last(shape: tuple[int, ...], module: Any) -> bool:
    """A 4-D output laid out ``(N, H, W, C)`` (Swin, ConvNeXt blocks, MambaOut...): told by the
    module (one that acts on the last dimension), else by the shape: square maps are the rule,
    so ``(N, a, a, c)`` with ``c != a`` is channels-last and everything else channels-first."""
    kind = type(module).__name__ if module is not None else ""
    if kind in LAST_DIM_MODULES:
        return True
    if kind.startswith(CHANNELS_FIRST_PREFIXES):
        return False
    return shape[1] == shape[2] and shape[3] != shape[2]


def _batch_first(module: Any, default: bool = True) -> bool:
    """False for a recurrent, attention or transformer module built with ``batch_first=False``;
    ``default`` (the probe's layout) for a module that does not say.

    ``nn.Transformer*`` layers keep the setting on their attention modules only.
    """
    if module is None:
        return default
    flag = getattr(module, "batch_first", None)
    if flag is None and type(module).__name__ in _TRANSFORMER_TYPES:
        flag = next((m.batch_first for m in module.modules() if hasattr(m, "batch_first")), None)
    return default if flag is None else bool(flag)


_TRANSFORMER_TYPES = (
    "Transformer",
    "TransformerEncoder",
    "TransformerDecoder",
    "TransformerEncoderLayer",
    "TransformerDecoderLayer",
)


def _channels_first_1d(module: Any) -> bool:
    return module is not None and isinstance(module, _channel_first_1d_types())


@functools.cache
def _channel_first_1d_types() -> tuple[type, ...]:
    """Modules whose 3-D output is (N, C, L): 1-D convolution, pooling and normalisation."""
    try:
        from torch import nn
    except ImportError:
        return ()
    names = (
        "Conv1d",
        "ConvTranspose1d",
        "LazyConv1d",
        "LazyConvTranspose1d",
        "MaxPool1d",
        "AvgPool1d",
        "LPPool1d",
        "AdaptiveMaxPool1d",
        "AdaptiveAvgPool1d",
        "MaxUnpool1d",
        "BatchNorm1d",
        "LazyBatchNorm1d",
        "SyncBatchNorm",
        "InstanceNorm1d",
        "LazyInstanceNorm1d",
        "GroupNorm",
        "LocalResponseNorm",
        "Dropout1d",
    )
    return tuple(getattr(nn, n) for n in names if hasattr(nn, n))
