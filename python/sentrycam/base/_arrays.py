"""Array helpers shared by capture, frames and metrics: the one place that knows what a tensor is.

Everything that accepts "any array-like" (NumPy, PyTorch, JAX, nested lists) goes through
:func:`to_numpy`; everything that needs one row per sample goes through :func:`as_rows`.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def is_tensor(value: Any) -> bool:
    """True for a PyTorch tensor (duck-typed, so torch need not be imported)."""
    return hasattr(value, "detach") and hasattr(value, "dim") and hasattr(value, "shape")


def to_numpy(values: Any, name: str) -> np.ndarray:
    """Any array-like as a NumPy array (a tensor is detached and brought to the CPU).

    Raises ``TypeError`` with a plain message when the value cannot be converted.
    """
    if isinstance(values, np.ndarray):
        return values
    if is_tensor(values):
        t = values.detach()
        if t.dtype.is_floating_point and t.dtype.itemsize < 4:
            t = t.float()  # bfloat16 has no NumPy dtype; float16 is widened for the same path
        for resolve in ("resolve_conj", "resolve_neg"):  # lazily conjugated/negated views
            if hasattr(t, resolve):
                t = getattr(t, resolve)()
        return t.cpu().numpy()
    try:
        return np.asarray(values)
    except Exception as exc:  # any conversion failure becomes one clear message
        raise TypeError(
            f"{name}: cannot convert {type(values).__name__} to an array: {exc}"
        ) from exc


def check_numeric(dtype: Any, name: str) -> None:
    """Raise ``TypeError`` unless ``dtype`` (NumPy or torch) holds numbers."""
    if hasattr(dtype, "is_floating_point"):  # torch.dtype
        if dtype.is_complex or dtype == _torch_bool():
            raise TypeError(f"activations for {name!r} must be real numbers, got dtype {dtype}")
        return
    if np.dtype(dtype) == object or np.dtype(dtype).kind not in "biuf":
        raise TypeError(
            f"activations for {name!r} must be numeric, got dtype {dtype}; "
            "pass a float or integer array of shape (n, d)"
        )


def _torch_bool() -> Any:
    import torch

    return torch.bool


def as_rows(values: Any, name: str, *, allow_empty: bool = False) -> Any:
    """One float32 row per sample: ``(n,)`` → ``(n, 1)``, ``(n, ...)`` → ``(n, prod(...))``.

    A tensor stays a tensor on its device; anything else becomes a NumPy array. Raises
    ``TypeError`` / ``ValueError`` with a plain message for non-numeric, scalar or (unless
    ``allow_empty``) empty input.
    """
    arr = values if is_tensor(values) else to_numpy(values, name)
    check_numeric(arr.dtype, name)
    if arr.ndim == 0:
        raise ValueError(f"activations for {name!r} must have a row per sample, got a scalar")
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    elif arr.ndim > 2:
        arr = arr.reshape(arr.shape[0], int(np.prod(arr.shape[1:])))
    if (arr.shape[0] == 0 or arr.shape[1] == 0) and not allow_empty:
        raise ValueError(f"activations for {name!r} are empty (shape {tuple(arr.shape)})")
    if is_tensor(arr):
        return arr.detach().float()
    return np.ascontiguousarray(arr, dtype=np.float32)


def as_int_vector(values: Any, name: str, n: int) -> np.ndarray | None:
    """Labels/preds/ids as an int32 vector of length ``n`` (``None`` stays ``None``).

    Logits or probabilities ``(n, classes)`` become their argmax. Negative values mean "missing"
    and travel as Arrow nulls. Always a copy.
    """
    if values is None:
        return None
    arr = to_numpy(values, name)
    if arr.ndim == 2 and arr.shape[1] > 1 and arr.dtype.kind == "f":
        arr = arr.argmax(axis=1)  # logits or probabilities: take the class
    arr = arr.reshape(-1)
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} entries but there are {n} samples")
    if arr.dtype.kind == "f":
        finite = np.isfinite(arr)
        if not np.all(np.equal(np.mod(arr[finite], 1), 0)):
            raise ValueError(f"{name} must be integer class ids, got non-integer values")
        arr = np.where(finite, arr, -1)
    elif arr.dtype.kind not in "biu":
        raise TypeError(f"{name} must be integer class ids, got dtype {arr.dtype}")
    return np.array(arr, dtype=np.int32, order="C")  # a copy: the caller may reuse its buffer


def count_nonfinite(x: np.ndarray) -> int:
    """Number of NaN or infinite values in ``x``."""
    return int(x.size - np.count_nonzero(np.isfinite(x)))
