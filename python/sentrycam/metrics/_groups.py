"""Per-group metrics of one layer's frame, on the full-dimensional rows (see :mod:`.groups`).

For every group with samples in the frame, four values under ``f"{metric}@{group}"``:
``separation`` and ``intra_var`` (the class geometry of :mod:`.metrics`, on the group's labelled
rows: Fisher ratio tr(S_B)/tr(S_W) with class means weighted equally, NaN with fewer than two
classes; mean squared distance to the class centroid), ``accuracy`` (share of the group's rows
with a label and a prediction whose prediction is right; NaN without either) and ``cka_task_end``
(linear CKA of the group's rows now against the same samples, matched by id, in the last frame of
this layer captured while the group's task was the current one; NaN until that task has ended).

Rows with a non-finite value are left out of the geometry, as in :func:`.metrics.layer_metrics`.
A group whose task is the current one costs a copy of its rows per frame (the candidate
task-end snapshot); without task boundaries nothing is kept.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..base import group_metric_name, task_of
from ..contract import GROUP_METRICS
from ._ops import Ops, class_metrics, quietly

__all__ = ["GroupTracker", "group_metrics", "linear_cka"]

_NAN = float("nan")
MIN_CKA_ROWS = 3  # fewer samples in common with the task-end snapshot: cka_task_end is NaN


@dataclass
class _Rows:
    """A group's valid rows in one frame: for the CKA against the end of its task."""

    task: int  # the index of the group's task when these rows were taken
    ids: np.ndarray
    rows: Any  # (n, d) backend array (a copy)


@dataclass
class GroupTracker:
    """Per layer: each group's task-end snapshot (``reference``) and the candidate for it (its
    rows in the latest frame while its task is the current one)."""

    candidate: dict[str, _Rows] = field(default_factory=dict)
    reference: dict[str, _Rows] = field(default_factory=dict)

    def reset(self) -> None:
        """Forget every snapshot (the run restarted)."""
        self.candidate.clear()
        self.reference.clear()


@quietly
def group_metrics(
    x: Any,
    *,
    codes: np.ndarray,
    names: Sequence[str],
    labels: np.ndarray | None = None,
    preds: np.ndarray | None = None,
    ids: np.ndarray | None = None,
    tasks: Sequence[Any] = (),
    tracker: GroupTracker | None = None,
    projection: Any = None,
) -> dict[str, float]:
    """The per-group metrics of one frame (``x``: its ``(n, d)`` rows, NumPy or torch; ``codes``:
    each row's group, an index into ``names`` or ``-1``). ``tracker`` carries the task-end
    snapshots between frames (``None``: ``cka_task_end`` is NaN). ``projection``: the rows under
    the random projection, used for the geometry when the full width is too large."""
    ops = Ops(x)
    xa = ops.prepare(x if projection is None else projection)
    finite, _ = ops.finite_rows(xa)
    valid = ops.take(xa, finite)
    scale = ops.pow2_scale(valid) if int(valid.shape[0]) else 1.0
    if scale != 1.0:  # exact; spreads are scaled back below, ratios and CKA need nothing
        xa = xa * (1.0 / scale)
    n = int(xa.shape[0])
    ids = np.arange(n, dtype=np.int64) if ids is None else np.asarray(ids).reshape(-1)
    current = len(tasks) - 1
    out: dict[str, float] = {}
    for code in np.unique(codes[codes >= 0]).tolist():
        name = str(names[code])
        member = codes == code
        rows = member & finite
        values = dict.fromkeys(GROUP_METRICS, _NAN)
        values.update(_geometry(ops, xa, rows, labels))
        values["intra_var"] *= scale * scale
        values["accuracy"] = _accuracy(member, labels, preds)
        task = task_of(name, tasks)
        if tracker is not None and task is not None and rows.sum() > 0:
            values["cka_task_end"] = _task_end_cka(
                ops, tracker, name, task, current, ids[rows], ops.take(xa, rows)
            )
        for metric, value in values.items():
            out[group_metric_name(metric, name)] = value
    return out


def _geometry(ops: Ops, xa: Any, rows: np.ndarray, labels: Any) -> dict[str, float]:
    """``separation`` and ``intra_var`` of the labelled rows among ``rows``."""
    if labels is None:
        return {}
    lab = np.asarray(labels).reshape(-1)
    keep = rows & (lab >= 0)
    if not keep.any():
        return {}
    geometry = class_metrics(ops, ops.take(xa, keep), lab[keep].astype(np.int64))
    return {"separation": geometry["fisher"], "intra_var": geometry["intra_var"]}


def _accuracy(member: np.ndarray, labels: Any, preds: Any) -> float:
    """Share of the group's rows with a label and a prediction whose prediction is right."""
    if labels is None or preds is None:
        return _NAN
    lab = np.asarray(labels).reshape(-1)[member]
    pred = np.asarray(preds).reshape(-1)[member]
    known = (lab >= 0) & (pred >= 0)
    if not known.any():
        return _NAN
    return float(np.mean(lab[known] == pred[known]))


def _task_end_cka(
    ops: Ops, tracker: GroupTracker, name: str, task: int, current: int, ids: np.ndarray, rows: Any
) -> float:
    """Keep the group's rows while its task is current; once it has ended, their CKA against
    the last rows kept during it (NaN when none were)."""
    if task == current:
        tracker.candidate[name] = _Rows(task, ids.copy(), _copy(rows))
        return _NAN
    ref = tracker.reference.get(name)
    if ref is None or ref.task != task:
        cand = tracker.candidate.pop(name, None)
        if cand is None or cand.task != task:
            return _NAN
        ref = tracker.reference[name] = cand
    if np.array_equal(ref.ids, ids):
        a, b = rows, ref.rows
    else:
        _, mine, theirs = np.intersect1d(ids, ref.ids, assume_unique=False, return_indices=True)
        if mine.size < MIN_CKA_ROWS:
            return _NAN
        a, b = _rows_at(rows, mine), _rows_at(ref.rows, theirs)
    if int(a.shape[0]) < MIN_CKA_ROWS:
        return _NAN
    return linear_cka(ops, a, _like(b, a))


def linear_cka(ops: Ops, a: Any, b: Any) -> float:
    """Linear CKA of two representations of the same samples (rows), any widths:
    ||A^T B||_F^2 / (||A^T A||_F ||B^T B||_F) after centring each column; NaN when undefined."""
    a = a - ops.colmean(a)
    b = b - ops.colmean(b)
    n = int(a.shape[0])
    if int(a.shape[1]) * int(b.shape[1]) <= n * n:
        num = ops.fro2(a.T @ b)
        den = math.sqrt(ops.fro2(a.T @ a) * ops.fro2(b.T @ b))
    else:  # sample space: never a D x D matrix
        ka, kb = a @ a.T, b @ b.T
        num = ops.inner(ka, kb)
        den = math.sqrt(ops.inner(ka, ka) * ops.inner(kb, kb))
    if not (den > 0 and math.isfinite(num)):
        return _NAN
    return float(min(max(num / den, 0.0), 1.0))


def _copy(rows: Any) -> Any:
    return rows.clone() if hasattr(rows, "clone") else np.array(rows, copy=True)


def _rows_at(rows: Any, index: np.ndarray) -> Any:
    if hasattr(rows, "clone"):
        import torch

        return rows[torch.as_tensor(index, device=rows.device)]
    return rows[index]


def _like(b: Any, a: Any) -> Any:
    """``b`` on the same backend (and device) as ``a``."""
    a_torch, b_torch = hasattr(a, "clone"), hasattr(b, "clone")
    if a_torch and not b_torch:
        import torch

        return torch.as_tensor(b, device=a.device)
    if b_torch and not a_torch:
        return b.detach().cpu().numpy()
    if a_torch and b.device != a.device:
        return b.to(a.device)
    return b
