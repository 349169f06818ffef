"""Recordings as data: one Arrow table of every captured row, and one of every metric.

``read_table(path)`` has one row per sample per frame; ``read_metrics(path)`` one row per metric
per frame (and per scalar per step, with a null layer), so pandas (``.to_pandas()``), polars
(``pl.from_arrow``) and DuckDB (``duckdb.sql("select ... from tbl")``) can query a run.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pyarrow as pa

from ..wire import Frame, nullable_int32
from ._readback import read_recording

TABLE_SCHEMA = pa.schema(
    [
        pa.field("step", pa.int64(), nullable=False),
        pa.field("layer", pa.string(), nullable=False),
        pa.field("seq", pa.int64(), nullable=False),
        pa.field("id", pa.int32(), nullable=False),
        pa.field("label", pa.int32()),
        pa.field("pred", pa.int32()),
        # Layers differ in width, so x is a variable-size list (float32, whatever was sent).
        pa.field("x", pa.list_(pa.float32()), nullable=False),
        pa.field("group", pa.string()),  # the sample's group name; null where it has none
    ]
)
METRICS_SCHEMA = pa.schema(
    [
        pa.field("step", pa.int64(), nullable=False),
        pa.field("layer", pa.string()),  # null for a scalar of the step (loss, lr, ...)
        pa.field("metric", pa.string(), nullable=False),
        pa.field("value", pa.float64()),  # null where the value was not finite
    ]
)


def read_table(path: str | os.PathLike[str]) -> pa.Table:
    """Every row of a recording: columns ``step, layer, seq, id, label, pred, x, group``."""
    return frames_table(read_recording(path))


def read_metrics(path: str | os.PathLike[str]) -> pa.Table:
    """Every metric of a recording: columns ``step, layer, metric, value``."""
    return metrics_table(read_recording(path))


def frames_table(frames: list[Frame]) -> pa.Table:
    """The rows of ``frames`` as one table (see :data:`TABLE_SCHEMA`)."""
    batches = [_frame_batch(frame) for frame in frames]
    return pa.Table.from_batches(batches, schema=TABLE_SCHEMA)


def metrics_table(frames: list[Frame]) -> pa.Table:
    """The metrics of ``frames`` (and their scalars, once per step) as one table."""
    steps: list[int] = []
    layers: list[str | None] = []
    names: list[str] = []
    values: list[float | None] = []

    def add(step: int, layer: str | None, name: str, value: float) -> None:
        steps.append(step)
        layers.append(layer)
        names.append(name)
        values.append(value if math.isfinite(value) else None)

    scalar_steps: set[int] = set()
    for frame in frames:
        if frame.scalars and frame.step not in scalar_steps:
            scalar_steps.add(frame.step)
            for name, value in frame.scalars.items():
                add(frame.step, None, name, value)
        for name, value in frame.metrics.items():
            add(frame.step, frame.layer, name, value)
    arrays = [
        pa.array(steps, pa.int64()),
        pa.array(layers, pa.string()),
        pa.array(names, pa.string()),
        pa.array(values, pa.float64()),
    ]
    return pa.Table.from_arrays(arrays, schema=METRICS_SCHEMA)


def _frame_batch(frame: Frame) -> pa.RecordBatch:
    n, d = frame.n, frame.d
    x = np.ascontiguousarray(frame.x, dtype=np.float32).reshape(-1)
    offsets = pa.array(np.arange(0, n * d + 1, d, dtype=np.int32))
    columns = [
        pa.array(np.full(n, frame.step, dtype=np.int64)),
        pa.array([frame.layer] * n, pa.string()),
        pa.array(np.full(n, frame.seq, dtype=np.int64)),
        pa.array(frame.ids, pa.int32()),
        nullable_int32(frame.labels, n),
        nullable_int32(frame.preds, n),
        pa.ListArray.from_arrays(offsets, pa.array(x)),
        _group_column(frame),
    ]
    return pa.RecordBatch.from_arrays(columns, schema=TABLE_SCHEMA)


def _group_column(frame: Frame) -> pa.Array:
    """Each sample's group name (null where it has none, or its code has no name)."""
    if frame.groups is None or not frame.group_names:
        return pa.nulls(frame.n, type=pa.string())
    names = pa.array(frame.group_names, pa.string())
    codes = np.asarray(frame.groups, dtype=np.int32)
    known = (codes >= 0) & (codes < len(names))
    return names.take(pa.array(np.where(known, codes, 0), mask=~known))
