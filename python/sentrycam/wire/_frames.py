"""Frames: one capture of one layer, validated and encoded as an Arrow IPC stream.

Wire and disk format (public contract, see the design doc): one Arrow IPC *stream* per layer per
capture, with columns ``id: int32``, ``label: int32`` (nullable), ``pred: int32`` (nullable),
``x: FixedSizeList<float32 | float16>[D]`` and ``group: int32`` (nullable: each sample's group as
an index into the ``groups`` name list, null where it has none; last, and absent from recordings
made before groups existed: read columns by name). The schema metadata has one key,
``sentrycam``: JSON with ``version``, ``seq``, ``step``, ``layer``, ``n``, ``d``, ``scalars``,
``metrics``, ``nonfinite`` (count of NaN/Inf values), ``pool`` (how the output became rows),
``shape`` (the output's shape before pooling), ``projected_from`` (the width before the random
projection, or null), ``every`` (the capture cadence, or null for ``log()``), ``groups`` (the group
names, in code order; ``[]`` without groups), ``tasks`` (every task boundary marked before the
capture, ``[{"step": s, "name": n}, ...]``; ``[]`` without) and ``scalar_steps`` (for each scalar,
how many training steps its value is the mean of; absent from recordings made before scalars
were averaged between captures: read as 1). Non-finite numbers are JSON nulls.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from ..base import count_nonfinite

META_KEY = b"sentrycam"
FORMAT_VERSION = 1


@dataclass
class Frame:
    """A captured frame of one layer: activations ``x`` of shape (n, d) plus ids/labels/preds.

    ``x`` holds the values as they travel (float16-rounded when ``dtype="float16"``; the random
    projection when the layer was wider than ``max_dim``). ``shape`` is the layer output's shape
    before pooling, ``pool`` how it became rows, ``projected_from`` the width before the random
    projection (``None`` when there was none), ``every`` the capture cadence at the time.
    ``groups``: each sample's group as an index into ``group_names`` (``-1``: none; ``None``
    when no sample has a group); ``tasks``: the task boundaries marked before the capture.
    """

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
    pool: str = "none"
    shape: tuple[int, ...] = ()
    projected_from: int | None = None
    every: int | None = None
    groups: np.ndarray | None = None
    group_names: list[str] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    scalar_steps: dict[str, int] = field(default_factory=dict)
    ipc: bytes = field(default=b"", repr=False)

    @property
    def n(self) -> int:
        """Number of points."""
        return int(self.x.shape[0])

    @property
    def d(self) -> int:
        """Dimension of each activation vector (as sent)."""
        return int(self.x.shape[1])

    @property
    def nbytes(self) -> int:
        """Size of the encoded frame in bytes."""
        return len(self.ipc)

    @property
    def memory(self) -> int:
        """Bytes held: the encoded frame, plus ``x`` unless it is a view on it (decoded frames)."""
        return len(self.ipc) + (self.x.nbytes if self.x.base is None else 0)

    def __repr__(self) -> str:
        return (
            f"Frame(seq={self.seq}, step={self.step}, layer={self.layer!r}, "
            f"n={self.n}, d={self.d}, "
            f"nonfinite={self.nonfinite}, scalars={self.scalars})"
        )


def _clean_numbers(values: dict[str, Any]) -> dict[str, float | None]:
    """JSON-safe copy: non-finite floats become ``None`` (JSON has no NaN)."""
    out: dict[str, float | None] = {}
    for key, value in values.items():
        v = float(value)
        out[str(key)] = v if math.isfinite(v) else None
    return out


def encode(frame: Frame, dtype: str = "float32") -> bytes:
    """``frame`` as one complete Arrow IPC stream (schema, one record batch, end marker)."""
    n, d = frame.x.shape
    with np.errstate(over="ignore"):  # overflow to ±Inf is counted and reported by the caller
        values = frame.x.astype(np.float16) if dtype == "float16" else frame.x
    x_col = pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), d)
    cols = [
        pa.array(frame.ids, type=pa.int32()),
        nullable_int32(frame.labels, n),
        nullable_int32(frame.preds, n),
        x_col,
        nullable_int32(frame.groups, n),
    ]
    meta = {
        "version": FORMAT_VERSION,
        "seq": int(frame.seq),
        "step": int(frame.step),
        "layer": frame.layer,
        "n": int(n),
        "d": int(d),
        "scalars": _clean_numbers(frame.scalars),
        "metrics": _clean_numbers(frame.metrics),
        "nonfinite": int(frame.nonfinite),
        "pool": frame.pool,
        "shape": [int(s) for s in frame.shape] or [int(n), int(d)],
        "projected_from": frame.projected_from,
        "every": frame.every,
        "groups": [str(g) for g in frame.group_names] if frame.groups is not None else [],
        "tasks": [{"step": int(t["step"]), "name": str(t["name"])} for t in frame.tasks],
        "scalar_steps": {str(k): int(v) for k, v in frame.scalar_steps.items()},
    }
    schema = pa.schema(
        [
            pa.field("id", pa.int32(), nullable=False),
            pa.field("label", pa.int32()),
            pa.field("pred", pa.int32()),
            pa.field("x", x_col.type, nullable=False),
            pa.field("group", pa.int32()),
        ],
        metadata={META_KEY: json.dumps(meta).encode()},
    )
    batch = pa.RecordBatch.from_arrays(cols, schema=schema)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


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
    groups: np.ndarray | None = None,
    group_names: list[str] | None = None,
    tasks: list[dict[str, Any]] | None = None,
) -> bytes:
    """Encode one frame given as arrays (see :func:`encode`); ``groups`` are codes into
    ``group_names`` (``-1``: no group)."""
    frame = Frame(
        seq=seq,
        step=step,
        layer=layer,
        x=x,
        ids=ids,
        labels=labels,
        preds=preds,
        scalars=dict(scalars or {}),
        metrics=dict(metrics or {}),
        nonfinite=count_nonfinite(x) if nonfinite is None else int(nonfinite),
        groups=None if groups is None else np.asarray(groups, dtype=np.int32),
        group_names=list(group_names or []),
        tasks=list(tasks or []),
    )
    return encode(frame, dtype)


def nullable_int32(values: np.ndarray | None, n: int) -> pa.Array:
    """Labels, predictions or group codes as an int32 column: null where absent (``None``) or
    negative."""
    if values is None:
        return pa.nulls(n, type=pa.int32())
    return pa.array(values, type=pa.int32(), mask=values < 0)


def decode_frame(data: bytes | pa.Buffer) -> Frame:
    """Decode one frame written by :func:`encode_frame`; arrays are views on ``data``."""
    reader = pa.ipc.open_stream(pa.py_buffer(data) if isinstance(data, bytes) else data)
    return frame_from_table(reader.read_all(), data)


def frame_from_table(table: pa.Table, data: bytes | pa.Buffer) -> Frame:
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
        pool=str(meta.get("pool", "none")),
        shape=tuple(int(s) for s in meta.get("shape", (x.shape[0], d))),
        projected_from=meta.get("projected_from"),
        every=meta.get("every"),
        groups=_int_or_none(batch.column("group")) if "group" in batch.schema.names else None,
        group_names=[str(g) for g in meta.get("groups", [])],
        tasks=[{"step": int(t["step"]), "name": str(t["name"])} for t in meta.get("tasks", [])],
        scalar_steps={str(k): int(v) for k, v in (meta.get("scalar_steps") or {}).items()},
        ipc=data if isinstance(data, bytes) else data.to_pybytes(),
    )


def _floats(values: dict[str, Any]) -> dict[str, float]:
    return {k: (float("nan") if v is None else float(v)) for k, v in values.items()}


def _int_or_none(col: pa.Array) -> np.ndarray | None:
    if col.null_count == len(col):
        return None
    return col.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
