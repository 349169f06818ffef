"""Frames: one capture of one layer, validated and encoded as an Arrow IPC stream.

Wire and disk format (public contract, see the design doc): one Arrow IPC *stream* per layer per
capture, with columns ``id: int32``, ``label: int32`` (nullable), ``pred: int32`` (nullable) and
``x: FixedSizeList<float32 | float16>[D]``. The schema metadata key ``sentrycam`` holds JSON with
``seq``, ``step``, ``layer``, ``scalars``, ``metrics`` and ``nonfinite`` (count of NaN/Inf values);
``seq``, ``step``, ``layer``, ``scalars`` and ``metrics`` (JSON) also stand under keys of their own.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

META_KEY = b"sentrycam"
FORMAT_VERSION = 1


@dataclass
class Frame:
    """A captured frame of one layer: activations ``x`` of shape (n, d) plus ids/labels/preds."""

    seq: int
    step: int
    layer: str
    x: np.ndarray
    ids: np.ndarray
    labels: np.ndarray | None = None
    preds: np.ndarray | None = None
    scalars: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    nonfinite: int = 0
    ipc: bytes = field(default=b"", repr=False)

    @property
    def n(self) -> int:
        """Number of points."""
        return int(self.x.shape[0])

    @property
    def d(self) -> int:
        """Dimension of each activation vector."""
        return int(self.x.shape[1])

    @property
    def nbytes(self) -> int:
        """Size of the encoded frame in bytes."""
        return len(self.ipc)

    @property
    def memory(self) -> int:
        """Bytes held: the encoded frame, plus ``x`` when it is a widened copy (float16 frames)."""
        return len(self.ipc) + (self.x.nbytes if self.x.base is None else 0)

    def __repr__(self) -> str:
        return (
            f"Frame(seq={self.seq}, step={self.step}, layer={self.layer!r}, "
            f"n={self.n}, d={self.d}, "
            f"nonfinite={self.nonfinite}, scalars={self.scalars})"
        )


def as_matrix(values: Any, name: str) -> np.ndarray:
    """Convert an array-like (NumPy, PyTorch, JAX, list) to a C-contiguous float32 (n, d) matrix.

    A 1-D array is taken as n points of dimension 1; more than two dimensions are flattened per row.
    Raises ``TypeError`` / ``ValueError`` with a plain message when that is not possible.
    """
    arr = _to_numpy(values, name)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(
            f"activations for {name!r} must be numeric, got dtype {arr.dtype}; "
            "pass a float or integer array of shape (n, d)"
        )
    if arr.ndim == 0:
        raise ValueError(f"activations for {name!r} must have a row per sample, got a scalar")
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    elif arr.ndim > 2:
        arr = arr.reshape(arr.shape[0], -1)
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"activations for {name!r} are empty (shape {tuple(arr.shape)})")
    return np.ascontiguousarray(arr, dtype=np.float32)


def as_int_vector(values: Any, name: str, n: int) -> np.ndarray | None:
    """Convert labels/preds/ids to an int32 vector of length ``n`` (``None`` stays ``None``).

    Negative values mean "missing" and travel as Arrow nulls.
    """
    if values is None:
        return None
    arr = _to_numpy(values, name)
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
    return np.ascontiguousarray(arr, dtype=np.int32)


def _to_numpy(values: Any, name: str) -> np.ndarray:
    if isinstance(values, np.ndarray):
        return values
    detach = getattr(values, "detach", None)
    if callable(detach):  # torch.Tensor
        t = detach()
        if getattr(t, "dtype", None) is not None and "bfloat16" in str(t.dtype):
            t = t.float()
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


def count_nonfinite(x: np.ndarray) -> int:
    """Number of NaN or infinite values in ``x``."""
    return int(x.size - np.count_nonzero(np.isfinite(x)))


def _clean_numbers(values: dict[str, Any]) -> dict[str, float | None]:
    """JSON-safe copy: non-finite floats become ``None`` (JSON has no NaN)."""
    out: dict[str, float | None] = {}
    for key, value in values.items():
        v = float(value)
        out[str(key)] = v if math.isfinite(v) else None
    return out


def encode_frame(
    *,
    seq: int,
    step: int,
    layer: str,
    x: np.ndarray,
    ids: np.ndarray,
    labels: np.ndarray | None = None,
    preds: np.ndarray | None = None,
    scalars: dict[str, float] | None = None,
    metrics: dict[str, float] | None = None,
    nonfinite: int | None = None,
    dtype: str = "float32",
) -> bytes:
    """Encode one frame as a complete Arrow IPC stream (schema, one record batch, end marker)."""
    n, d = x.shape
    with np.errstate(over="ignore"):  # overflow to ±Inf is counted and reported by the caller
        values = x.astype(np.float16) if dtype == "float16" else x
    x_col = pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), d)
    cols = [
        pa.array(ids, type=pa.int32()),
        _nullable_int(labels, n),
        _nullable_int(preds, n),
        x_col,
    ]
    meta = {
        "version": FORMAT_VERSION,
        "seq": int(seq),
        "step": int(step),
        "layer": layer,
        "n": int(n),
        "d": int(d),
        "scalars": _clean_numbers(scalars or {}),
        "metrics": _clean_numbers(metrics or {}),
        "nonfinite": int(count_nonfinite(x) if nonfinite is None else nonfinite),
    }
    schema = pa.schema(
        [
            pa.field("id", pa.int32(), nullable=False),
            pa.field("label", pa.int32()),
            pa.field("pred", pa.int32()),
            pa.field("x", x_col.type, nullable=False),
        ],
        metadata={
            META_KEY: json.dumps(meta).encode(),
            # The same facts under their own keys, for readers that look for them directly.
            b"seq": str(meta["seq"]).encode(),
            b"step": str(meta["step"]).encode(),
            b"layer": layer.encode(),
            b"scalars": json.dumps(meta["scalars"]).encode(),
            b"metrics": json.dumps(meta["metrics"]).encode(),
        },
    )
    batch = pa.RecordBatch.from_arrays(cols, schema=schema)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def _nullable_int(values: np.ndarray | None, n: int) -> pa.Array:
    if values is None:
        return pa.nulls(n, type=pa.int32())
    return pa.array(values, type=pa.int32(), mask=values < 0)


def decode_frame(data: bytes | pa.Buffer) -> Frame:
    """Decode one frame written by :func:`encode_frame`; arrays are views on ``data``."""
    reader = pa.ipc.open_stream(pa.py_buffer(data) if isinstance(data, bytes) else data)
    return _frame_from_table(reader.read_all(), data)


def _frame_from_table(table: pa.Table, data: bytes | pa.Buffer) -> Frame:
    raw = (table.schema.metadata or {}).get(META_KEY)
    if raw is None:
        raise ValueError("not a sentrycam frame: the schema has no 'sentrycam' metadata")
    meta = json.loads(raw)
    batch = table.combine_chunks().to_batches()[0]
    x_arr = batch.column("x")
    d = x_arr.type.list_size
    x = x_arr.values.to_numpy(zero_copy_only=False).reshape(-1, d)
    if x.dtype != np.float32:
        x = x.astype(np.float32)
    return Frame(
        seq=int(meta["seq"]),
        step=int(meta["step"]),
        layer=str(meta["layer"]),
        x=x,
        ids=batch.column("id").to_numpy(zero_copy_only=False),
        labels=_int_or_none(batch.column("label")),
        preds=_int_or_none(batch.column("pred")),
        scalars=_floats(meta.get("scalars", {})),
        metrics=_floats(meta.get("metrics", {})),
        nonfinite=int(meta.get("nonfinite", 0)),
        ipc=data if isinstance(data, bytes) else data.to_pybytes(),
    )


def _floats(values: dict[str, Any]) -> dict[str, float]:
    return {k: (float("nan") if v is None else float(v)) for k, v in values.items()}


def _int_or_none(col: pa.Array) -> np.ndarray | None:
    if col.null_count == len(col):
        return None
    return col.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
